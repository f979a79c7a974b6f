/* `stratosphere ca`: shows the proxy's CA certificate, creating the CA on
 * first use, and exports the certificate for installation in browsers,
 * system stores and phones. The CA key is never exported. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "tls/ca.h"
#include "util/err.h"

static const struct st_cli_option options[] = {
  { "export", 0, "DIR", "write the certificate into DIR as PEM, DER "
    "and PKCS#12 (no key)" },
  { NULL, 0, NULL, NULL },
};


static void format_utc(time_t t, char *buf, size_t len) {
  struct tm tm;

  gmtime_r(&t, &tm);
  strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
}


static void print_certificate(const struct st_ca *ca) {
  char from[32], to[32], subject[256];
  time_t not_before, not_after;

  st_ca_validity(ca, &not_before, &not_after);
  format_utc(not_before, from, sizeof(from));
  format_utc(not_after, to, sizeof(to));
  X509_NAME_oneline(X509_get_subject_name(st_ca_cert(ca)), subject,
                    sizeof(subject));

  printf("CA certificate:      %s%s\n", st_ca_cert_path(ca),
         st_ca_created(ca) ? " (created now)" : "");
  printf("Subject:             %s\n", subject);
  printf("SHA-256 fingerprint: %s\n", st_ca_fingerprint(ca));
  printf("Valid:               %s to %s\n", from, to);
}


/* Prints how to trust the certificate in common clients. pem and der are
 * the files to install; der is NULL when nothing was exported, and the
 * phone steps then explain how to get the DER file. */
static void print_install_hints(const char *pem, const char *der) {
  printf("\nInstall the certificate in every client that uses the proxy:\n"
         "  Firefox: Settings > Privacy & Security > Certificates > View "
         "Certificates >\n"
         "    Authorities > Import, choose %s and tick\n"
         "    \"Trust this CA to identify websites\".\n", pem);
  printf("  Chromium and Chrome on Linux (NSS, package libnss3-tools):\n"
         "    certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n stratosphere "
         "-i %s\n", pem);
  printf("  Debian system store (curl, wget, Python):\n"
         "    sudo cp %s /usr/local/share/ca-certificates/"
         "stratosphere.crt\n"
         "    sudo update-ca-certificates\n", pem);
  if (der == NULL) {
    printf("  Phones take the DER file %s: write it with\n"
           "    'stratosphere ca --export DIR', or open "
           "http://stratosphere/ca.cer on the\n"
           "    phone while it uses the proxy.\n", ST_CA_EXPORT_DER);
    der = ST_CA_EXPORT_DER;
  }
  printf("  Android: copy %s to the phone, then Settings > Security >\n"
         "    Encryption & credentials > Install a certificate > CA "
         "certificate.\n"
         "    Browsers trust it; other apps only if they opt in to user "
         "CAs.\n", der);
  printf("  iOS: open %s in Safari or send it by AirDrop,\n"
         "    install it in Settings > General > VPN & Device Management,\n"
         "    then enable full trust in Settings > General > About >\n"
         "    Certificate Trust Settings.\n", der);
}


static int cmd_run(struct st_cli_args *args) {
  const char *export_dir = st_cli_get(args, "export");
  struct st_config cfg;
  struct st_ca *ca = NULL;
  char err[ST_ERRLEN];
  char pem[4096], der[4096];
  int rc;

  memset(&cfg, 0, sizeof(cfg));
  if (args->positional_count > 0) {
    return st_cli_usage_error(args, "unexpected argument '%s'",
                              args->positional[0]);
  }
  if (export_dir != NULL && export_dir[0] == '\0')
    return st_cli_usage_error(args, "option '--export' needs a folder");

  rc = st_cli_load_config(args, &cfg);
  if (rc != ST_EXIT_OK)
    goto out;
  if (st_ca_open(cfg.data_dir, 1, &ca, err, sizeof(err)) != 0) {
    fprintf(stderr, "stratosphere ca: %s\n", err);
    rc = ST_EXIT_FAIL;
    goto out;
  }
  print_certificate(ca);

  if (export_dir == NULL) {
    print_install_hints(st_ca_cert_path(ca), NULL);
    rc = ST_EXIT_OK;
    goto out;
  }
  if (st_ca_export(ca, export_dir, err, sizeof(err)) != 0) {
    fprintf(stderr, "stratosphere ca: %s\n", err);
    rc = ST_EXIT_FAIL;
    goto out;
  }
  snprintf(pem, sizeof(pem), "%s/%s", export_dir, ST_CA_EXPORT_PEM);
  snprintf(der, sizeof(der), "%s/%s", export_dir, ST_CA_EXPORT_DER);
  printf("\nExported:\n"
         "  %s  PEM\n"
         "  %s  DER\n"
         "  %s/%s  PKCS#12, certificate only, empty password\n",
         pem, der, export_dir, ST_CA_EXPORT_P12);
  print_install_hints(pem, der);
  rc = ST_EXIT_OK;

out:
  st_ca_free(&ca);
  st_config_cleanup(&cfg);
  return rc;
}


const struct st_cli_command st_cli_cmd_ca = {
  "ca", "[--export DIR]",
  "show and export the proxy's CA certificate, creating the CA if needed",
  options, cmd_run, NULL,
};
