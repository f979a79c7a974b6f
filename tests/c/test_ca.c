/* Tests for src/tls/ca.c: creating, reusing and rejecting the CA on disk,
 * leaf certificates verified with OpenSSL's own chain and name checks, the
 * LRU cache, export, and the cost of issuing a leaf. */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>

#include "test.h"
#include "tls/ca.h"
#include "util/err.h"

static char tmp_root[256];


static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw) {
  return remove(path);
}


/* Makes a fresh empty folder under the test's temporary root. */
static const char *fresh_dir(const char *name) {
  static char path[512];

  snprintf(path, sizeof(path), "%s/%s", tmp_root, name);
  nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  mkdir(path, 0700);
  return path;
}


static void path_in(char *out, size_t len, const char *dir,
                    const char *name) {
  snprintf(out, len, "%s/ca/%s", dir, name);
}


static int write_text(const char *path, const char *text, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
  ssize_t n;

  if (fd < 0)
    return -1;
  n = write(fd, text, strlen(text));
  close(fd);
  chmod(path, mode);
  return n == (ssize_t)strlen(text) ? 0 : -1;
}


static int copy_file(const char *from, const char *to) {
  char buf[8192];
  FILE *in = fopen(from, "rb");
  size_t n;

  if (in == NULL)
    return -1;
  n = fread(buf, 1, sizeof(buf) - 1, in);
  fclose(in);
  buf[n] = '\0';
  return write_text(to, buf, 0600);
}


/* Verifies leaf against the CA certificate alone, for TLS server use, with
 * a host name or an IP address check. Returns OpenSSL's X509_V_* code. */
static int verify_leaf(X509 *ca_cert, X509 *leaf, const char *host,
                       const char *ip) {
  X509_STORE *store = X509_STORE_new();
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  X509_VERIFY_PARAM *param;
  int result;

  X509_STORE_add_cert(store, ca_cert);
  X509_STORE_CTX_init(ctx, store, leaf, NULL);
  param = X509_STORE_CTX_get0_param(ctx);
  X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
  if (host != NULL)
    X509_VERIFY_PARAM_set1_host(param, host, 0);
  if (ip != NULL)
    X509_VERIFY_PARAM_set1_ip_asc(param, ip);
  result = X509_verify_cert(ctx) == 1 ? X509_V_OK
                                      : X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return result;
}


/* Returns the subject CN of cert in buf, or "" when it has none. */
static const char *subject_cn(X509 *cert, char *buf, int len) {
  buf[0] = '\0';
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf,
                            len);
  return buf;
}


TEST(ca_create_key_mode_0600) {
  const char *dir = fresh_dir("create");
  struct st_ca *ca = NULL;
  char err[ST_ERRLEN], key[600], cert[600];
  struct stat st;

  ASSERT_INT_EQ(0, st_ca_open(dir, 0, &ca, err, sizeof(err)));
  ASSERT_INT_EQ(1, st_ca_created(ca));
  path_in(key, sizeof(key), dir, ST_CA_KEY_FILE);
  path_in(cert, sizeof(cert), dir, ST_CA_CERT_FILE);
  ASSERT_INT_EQ(0, stat(key, &st));
  ASSERT_INT_EQ(0600, st.st_mode & 0777);
  ASSERT_INT_EQ(0, stat(cert, &st));
  ASSERT_STR_EQ(cert, st_ca_cert_path(ca));
  snprintf(key, sizeof(key), "%s/ca", dir);
  ASSERT_INT_EQ(0, stat(key, &st));
  ASSERT_INT_EQ(0700, st.st_mode & 0777);
  st_ca_free(&ca);
  ASSERT(ca == NULL);
}


TEST(ca_reopen_reuses_files) {
  const char *dir = fresh_dir("reopen");
  struct st_ca *first = NULL, *second = NULL;
  char err[ST_ERRLEN], fingerprint[ST_CA_FINGERPRINT_LEN];

  ASSERT_INT_EQ(0, st_ca_open(dir, 0, &first, err, sizeof(err)));
  snprintf(fingerprint, sizeof(fingerprint), "%s",
           st_ca_fingerprint(first));
  st_ca_free(&first);
  ASSERT_INT_EQ(0, st_ca_open(dir, 0, &second, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_ca_created(second));
  ASSERT_STR_EQ(fingerprint, st_ca_fingerprint(second));
  ASSERT_INT_EQ(95, strlen(fingerprint));  /* 32 bytes as "AB:" */
  st_ca_free(&second);
}


TEST(ca_corrupt_key_rejected) {
  const char *dir = fresh_dir("corrupt_key");
  struct st_ca *ca = NULL;
  char err[ST_ERRLEN], key[600];

  ASSERT_INT_EQ(0, st_ca_open(dir, 0, &ca, err, sizeof(err)));
  st_ca_free(&ca);
  path_in(key, sizeof(key), dir, ST_CA_KEY_FILE);
  ASSERT_INT_EQ(0, write_text(key, "not a key\n", 0600));
  err[0] = '\0';
  ASSERT_INT_EQ(ST_EINVAL, st_ca_open(dir, 0, &ca, err, sizeof(err)));
  ASSERT(ca == NULL);
  printf("  message: %s\n", err);
  ASSERT(strstr(err, key) != NULL);
  ASSERT(strstr(err, "not an unencrypted PEM private key") != NULL);
  ASSERT(strstr(err, "to generate a new CA") != NULL);
  ASSERT(strstr(err, "delete") != NULL);
}


TEST(ca_corrupt_cert_rejected) {
  const char *dir = fresh_dir("corrupt_cert");
  struct st_ca *ca = NULL;
  char err[ST_ERRLEN], cert[600];

  ASSERT_INT_EQ(0, st_ca_open(dir, 0, &ca, err, sizeof(err)));
  st_ca_free(&ca);
  path_in(cert, sizeof(cert), dir, ST_CA_CERT_FILE);
  ASSERT_INT_EQ(0, write_text(cert, "-----BEGIN CERTIFICATE-----\nAAAA\n"
                                    "-----END CERTIFICATE-----\n", 0644));
  ASSERT_INT_EQ(ST_EINVAL, st_ca_open(dir, 0, &ca, err, sizeof(err)));
  printf("  message: %s\n", err);
  ASSERT(strstr(err, cert) != NULL);
  ASSERT(strstr(err, "not a PEM certificate") != NULL);
  ASSERT(strstr(err, "delete") != NULL);
}


TEST(ca_mismatched_key_rejected) {
  const char *dir_b = fresh_dir("mismatch_b");
  char dir_a[512], err[ST_ERRLEN], key_a[600], key_b[600];
  struct st_ca *ca = NULL;

  ASSERT_INT_EQ(0, st_ca_open(dir_b, 0, &ca, err, sizeof(err)));
  st_ca_free(&ca);
  path_in(key_b, sizeof(key_b), dir_b, ST_CA_KEY_FILE);
  snprintf(dir_a, sizeof(dir_a), "%s", fresh_dir("mismatch_a"));
  ASSERT_INT_EQ(0, st_ca_open(dir_a, 0, &ca, err, sizeof(err)));
  st_ca_free(&ca);
  path_in(key_a, sizeof(key_a), dir_a, ST_CA_KEY_FILE);

  ASSERT_INT_EQ(0, copy_file(key_b, key_a));
  ASSERT_INT_EQ(ST_EINVAL, st_ca_open(dir_a, 0, &ca, err, sizeof(err)));
  printf("  message: %s\n", err);
  ASSERT(strstr(err, "does not match") != NULL);
  ASSERT(strstr(err, key_a) != NULL);
}


TEST(ca_missing_cert_rejected) {
  const char *dir = fresh_dir("missing_cert");
  struct st_ca *ca = NULL;
  char err[ST_ERRLEN], cert[600];

  ASSERT_INT_EQ(0, st_ca_open(dir, 0, &ca, err, sizeof(err)));
  st_ca_free(&ca);
  path_in(cert, sizeof(cert), dir, ST_CA_CERT_FILE);
  ASSERT_INT_EQ(0, unlink(cert));
  ASSERT_INT_EQ(ST_EINVAL, st_ca_open(dir, 0, &ca, err, sizeof(err)));
  printf("  message: %s\n", err);
  ASSERT(strstr(err, "missing") != NULL);
  ASSERT(strstr(err, cert) != NULL);
}


TEST(ca_open_key_mode_rejected) {
  const char *dir = fresh_dir("key_mode");
  struct st_ca *ca = NULL;
  char err[ST_ERRLEN], key[600];

  ASSERT_INT_EQ(0, st_ca_open(dir, 0, &ca, err, sizeof(err)));
  st_ca_free(&ca);
  path_in(key, sizeof(key), dir, ST_CA_KEY_FILE);
  ASSERT_INT_EQ(0, chmod(key, 0644));
  ASSERT_INT_EQ(ST_EINVAL, st_ca_open(dir, 0, &ca, err, sizeof(err)));
  printf("  message: %s\n", err);
  ASSERT(strstr(err, "chmod 600") != NULL);
}


TEST(ca_certificate_extensions) {
  const char *dir = fresh_dir("ca_ext");
  struct st_ca *ca = NULL;
  char err[ST_ERRLEN], cn[128];
  ASN1_BIT_STRING *usage;
  BASIC_CONSTRAINTS *bc;
  X509 *cert;
  int crit = 0;

  ASSERT_INT_EQ(0, st_ca_open(dir, 0, &ca, err, sizeof(err)));
  cert = st_ca_cert(ca);
  bc = X509_get_ext_d2i(cert, NID_basic_constraints, &crit, NULL);
  ASSERT(bc != NULL);
  ASSERT(bc->ca);
  ASSERT_INT_EQ(1, crit);
  BASIC_CONSTRAINTS_free(bc);
  ASSERT(X509_get_key_usage(cert) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  usage = X509_get_ext_d2i(cert, NID_key_usage, &crit, NULL);
  ASSERT(usage != NULL);
  ASSERT_INT_EQ(1, crit);
  ASN1_BIT_STRING_free(usage);
  ASSERT(X509_get0_subject_key_id(cert) != NULL);
  ASSERT(strstr(subject_cn(cert, cn, sizeof(cn)), "stratosphere CA") ==
         cn);
  ASSERT_INT_EQ(EVP_PKEY_EC, EVP_PKEY_get_base_id(X509_get0_pubkey(cert)));
  st_ca_free(&ca);
}


TEST(ca_accessors_pem_der_match) {
  const char *dir = fresh_dir("accessors");
  struct st_ca *ca = NULL;
  char err[ST_ERRLEN];
  const unsigned char *der, *p;
  const char *pem;
  size_t der_len, pem_len;
  X509 *from_pem, *from_der;
  BIO *bio;

  ASSERT_INT_EQ(0, st_ca_open(dir, 0, &ca, err, sizeof(err)));
  pem = st_ca_cert_pem(ca, &pem_len);
  der = st_ca_cert_der(ca, &der_len);
  ASSERT(pem_len > 0);
  ASSERT(der_len > 0);
  ASSERT(strstr(pem, "PRIVATE") == NULL);
  bio = BIO_new_mem_buf(pem, (int)pem_len);
  from_pem = PEM_read_bio_X509(bio, NULL, NULL, NULL);
  BIO_free(bio);
  p = der;
  from_der = d2i_X509(NULL, &p, (long)der_len);
  ASSERT(from_pem != NULL);
  ASSERT(from_der != NULL);
  ASSERT_INT_EQ(0, X509_cmp(from_pem, st_ca_cert(ca)));
  ASSERT_INT_EQ(0, X509_cmp(from_der, st_ca_cert(ca)));
  X509_free(from_pem);
  X509_free(from_der);
  st_ca_free(&ca);
}


TEST(leaf_hostname_verifies) {
  const char *dir = fresh_dir("leaf_name");
  struct st_ca *ca = NULL;
  char err[ST_ERRLEN], cn[128];
  X509 *leaf = NULL;

  ASSERT_INT_EQ(0, st_ca_open(dir, 0, &ca, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_ca_leaf(ca, "WWW.Example.ORG.", &leaf, err,
                              sizeof(err)));
  ASSERT_STR_EQ("www.example.org", subject_cn(leaf, cn, sizeof(cn)));
  ASSERT_INT_EQ(X509_V_OK, verify_leaf(st_ca_cert(ca), leaf,
                                       "www.example.org", NULL));
  ASSERT_INT_EQ(X509_V_ERR_HOSTNAME_MISMATCH,
                verify_leaf(st_ca_cert(ca), leaf, "example.org", NULL));
  st_ca_free(&ca);
}


TEST(leaf_long_name_san_only) {
  const char *dir = fresh_dir("leaf_long");
  const char *host = "a-very-long-label-that-goes-on-and-on-and-on.subdomain"
                     "-with-more-text.example.com";
  struct st_ca *ca = NULL;
  char err[ST_ERRLEN], cn[128];
  X509 *leaf = NULL;

  ASSERT(strlen(host) > 64);
  ASSERT_INT_EQ(0, st_ca_open(dir, 0, &ca, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_ca_leaf(ca, host, &leaf, err, sizeof(err)));
  ASSERT_STR_EQ("", subject_cn(leaf, cn, sizeof(cn)));
  ASSERT_INT_EQ(1, X509_check_host(leaf, host, 0, 0, NULL));
  ASSERT_INT_EQ(X509_V_OK, verify_leaf(st_ca_cert(ca), leaf, host, NULL));
  st_ca_free(&ca);
}


TEST(leaf_ipv4_ip_san) {
  const char *dir = fresh_dir("leaf_ipv4");
  struct st_ca *ca = NULL;
  char err[ST_ERRLEN];
  X509 *leaf = NULL;

  ASSERT_INT_EQ(0, st_ca_open(dir, 0, &ca, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_ca_leaf(ca, "127.0.0.1", &leaf, err, sizeof(err)));
  ASSERT_INT_EQ(1, X509_check_ip_asc(leaf, "127.0.0.1", 0));
  ASSERT_INT_EQ(X509_V_OK, verify_leaf(st_ca_cert(ca), leaf, NULL,
                                       "127.0.0.1"));
  ASSERT_INT_EQ(X509_V_ERR_IP_ADDRESS_MISMATCH,
                verify_leaf(st_ca_cert(ca), leaf, NULL, "127.0.0.2"));
  st_ca_free(&ca);
}


TEST(leaf_ipv6_ip_san) {
  const char *dir = fresh_dir("leaf_ipv6");
  struct st_ca *ca = NULL;
  struct st_ca_stats stats;
  char err[ST_ERRLEN];
  X509 *leaf = NULL, *same = NULL;

  ASSERT_INT_EQ(0, st_ca_open(dir, 0, &ca, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_ca_leaf(ca, "[::1]", &leaf, err, sizeof(err)));
  ASSERT_INT_EQ(1, X509_check_ip_asc(leaf, "::1", 0));
  ASSERT_INT_EQ(X509_V_OK, verify_leaf(st_ca_cert(ca), leaf, NULL, "::1"));

  /* Another spelling of the same address hits the same cache entry. */
  ASSERT_INT_EQ(0, st_ca_leaf(ca, "0:0::1", &same, err, sizeof(err)));
  ASSERT(same == leaf);
  st_ca_stats(ca, &stats);
  ASSERT_INT_EQ(1, stats.hits);
  ASSERT_INT_EQ(1, stats.issued);
  st_ca_free(&ca);
}


TEST(leaf_extensions_and_validity) {
  const char *dir = fresh_dir("leaf_ext");
  struct st_ca *ca = NULL;
  char err[ST_ERRLEN];
  BASIC_CONSTRAINTS *bc;
  const ASN1_OCTET_STRING *aki;
  X509 *leaf = NULL;
  time_t now = time(NULL);
  int day, sec;

  ASSERT_INT_EQ(0, st_ca_open(dir, 0, &ca, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_ca_leaf(ca, "ext.example", &leaf, err, sizeof(err)));
  bc = X509_get_ext_d2i(leaf, NID_basic_constraints, NULL, NULL);
  ASSERT(bc != NULL);
  ASSERT(!bc->ca);
  BASIC_CONSTRAINTS_free(bc);
  ASSERT(X509_get_key_usage(leaf) == KU_DIGITAL_SIGNATURE);
  ASSERT(X509_get_extended_key_usage(leaf) == XKU_SSL_SERVER);
  ASSERT(X509_get0_subject_key_id(leaf) != NULL);
  aki = X509_get0_authority_key_id(leaf);
  ASSERT(aki != NULL);
  ASSERT_INT_EQ(0, ASN1_OCTET_STRING_cmp(
                       aki, X509_get0_subject_key_id(st_ca_cert(ca))));
  ASSERT_INT_EQ(EVP_PKEY_EC, EVP_PKEY_get_base_id(X509_get0_pubkey(leaf)));

  /* Backdated by a day, valid for 397 days in all. */
  ASSERT_INT_EQ(1, ASN1_TIME_diff(&day, &sec, X509_get0_notBefore(leaf),
                                  X509_get0_notAfter(leaf)));
  ASSERT_INT_EQ(ST_CA_LEAF_VALID_DAYS, day);
  ASSERT_INT_EQ(0, sec);
  ASSERT(ST_CA_LEAF_VALID_DAYS <= 397);
  ASSERT(X509_cmp_time(X509_get0_notBefore(leaf), &now) < 0);
  now -= 23 * 3600;
  ASSERT(X509_cmp_time(X509_get0_notBefore(leaf), &now) < 0);
  st_ca_free(&ca);
}


TEST(leaf_key_shared_serials_differ) {
  const char *dir = fresh_dir("leaf_key");
  struct st_ca *ca = NULL;
  char err[ST_ERRLEN];
  X509 *a = NULL, *b = NULL;

  ASSERT_INT_EQ(0, st_ca_open(dir, 0, &ca, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_ca_issue(ca, "a.example", &a, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_ca_issue(ca, "b.example", &b, err, sizeof(err)));
  ASSERT_INT_EQ(1, EVP_PKEY_eq(X509_get0_pubkey(a), X509_get0_pubkey(b)));
  ASSERT_INT_EQ(1, EVP_PKEY_eq(X509_get0_pubkey(a), st_ca_leaf_key(ca)));
  ASSERT_INT_EQ(1, X509_check_private_key(a, st_ca_leaf_key(ca)));
  ASSERT(ASN1_INTEGER_cmp(X509_get0_serialNumber(a),
                          X509_get0_serialNumber(b)) != 0);
  ASSERT_INT_EQ(16, ASN1_STRING_length(X509_get0_serialNumber(a)));
  X509_free(a);
  X509_free(b);
  st_ca_free(&ca);
}


TEST(leaf_invalid_host_rejected) {
  static const char *const bad[] = {
    "", "[]", "a b.example", "x\n.example", "evil.example/path",
    "user@host", ".", "..", "*.example",
  };
  const char *dir = fresh_dir("leaf_bad");
  struct st_ca *ca = NULL;
  char err[ST_ERRLEN], longname[300];
  X509 *leaf = NULL;

  ASSERT_INT_EQ(0, st_ca_open(dir, 0, &ca, err, sizeof(err)));
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    err[0] = '\0';
    if (st_ca_leaf(ca, bad[i], &leaf, err, sizeof(err)) != ST_EINVAL)
      FAIL_AT("host \"%s\" was accepted", bad[i]);
    ASSERT(strchr(err, '\n') == NULL);
  }
  memset(longname, 'a', sizeof(longname) - 1);
  longname[sizeof(longname) - 1] = '\0';
  ASSERT_INT_EQ(ST_EINVAL, st_ca_leaf(ca, longname, &leaf, err,
                                      sizeof(err)));
  ASSERT(strstr(err, "longer than 253") != NULL);
  st_ca_free(&ca);
}


TEST(leaf_cache_lru_eviction) {
  const char *dir = fresh_dir("lru");
  struct st_ca *ca = NULL;
  struct st_ca_stats stats;
  char err[ST_ERRLEN];
  X509 *a = NULL, *again = NULL, *any = NULL;

  ASSERT_INT_EQ(0, st_ca_open(dir, 3, &ca, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_ca_leaf(ca, "a.test", &a, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_ca_leaf(ca, "b.test", &any, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_ca_leaf(ca, "c.test", &any, err, sizeof(err)));
  ASSERT_INT_EQ(0, st_ca_leaf(ca, "A.TEST", &again, err, sizeof(err)));
  ASSERT(again == a);

  /* Recency is now a, c, b: d evicts b. */
  ASSERT_INT_EQ(0, st_ca_leaf(ca, "d.test", &any, err, sizeof(err)));
  st_ca_stats(ca, &stats);
  ASSERT_INT_EQ(3, stats.cached);
  ASSERT_INT_EQ(4, stats.issued);
  ASSERT_INT_EQ(1, stats.hits);
  ASSERT_INT_EQ(1, stats.evicted);

  ASSERT_INT_EQ(0, st_ca_leaf(ca, "a.test", &again, err, sizeof(err)));
  ASSERT(again == a);
  ASSERT_INT_EQ(0, st_ca_leaf(ca, "b.test", &any, err, sizeof(err)));
  st_ca_stats(ca, &stats);
  ASSERT_INT_EQ(5, stats.issued);
  ASSERT_INT_EQ(2, stats.hits);
  ASSERT_INT_EQ(2, stats.evicted);
  ASSERT_INT_EQ(3, stats.cached);

  /* Recency is now b, a, d: c was evicted, a was not. */
  ASSERT_INT_EQ(0, st_ca_leaf(ca, "a.test", &again, err, sizeof(err)));
  ASSERT(again == a);
  ASSERT_INT_EQ(0, st_ca_leaf(ca, "c.test", &any, err, sizeof(err)));
  st_ca_stats(ca, &stats);
  ASSERT_INT_EQ(6, stats.issued);
  st_ca_free(&ca);
}


TEST(leaf_cache_default_bound) {
  const char *dir = fresh_dir("lru_bound");
  struct st_ca *ca = NULL;
  struct st_ca_stats stats;
  char err[ST_ERRLEN], host[64];
  X509 *leaf = NULL;

  ASSERT_INT_EQ(0, st_ca_open(dir, 0, &ca, err, sizeof(err)));
  for (int i = 0; i < ST_CA_CACHE_DEFAULT + 76; i++) {
    snprintf(host, sizeof(host), "host%d.bound.test", i);
    ASSERT_INT_EQ(0, st_ca_leaf(ca, host, &leaf, err, sizeof(err)));
  }
  st_ca_stats(ca, &stats);
  ASSERT_INT_EQ(ST_CA_CACHE_DEFAULT, stats.cached);
  ASSERT_INT_EQ(76, stats.evicted);
  ASSERT_INT_EQ(ST_CA_CACHE_DEFAULT + 76, stats.issued);
  st_ca_free(&ca);
}


/* Each fresh host signs one leaf and each repeated host is served from
 * the cache without signing. bench/micro measures what both cost. */
TEST(leaf_cache_serves_repeated_hosts) {
  enum { FRESH = 2000, CACHED = 20000 };
  const char *dir = fresh_dir("repeat");
  struct st_ca *ca = NULL;
  struct st_ca_stats stats;
  char err[ST_ERRLEN], host[64];
  X509 *leaf = NULL;

  ASSERT_INT_EQ(0, st_ca_open(dir, FRESH, &ca, err, sizeof(err)));
  for (int i = 0; i < FRESH; i++) {
    snprintf(host, sizeof(host), "h%d.repeat.example", i);
    ASSERT_INT_EQ(0, st_ca_leaf(ca, host, &leaf, err, sizeof(err)));
  }
  for (int i = 0; i < CACHED; i++) {
    snprintf(host, sizeof(host), "h%d.repeat.example", i % FRESH);
    ASSERT_INT_EQ(0, st_ca_leaf(ca, host, &leaf, err, sizeof(err)));
  }
  st_ca_stats(ca, &stats);
  ASSERT_INT_EQ(FRESH, stats.issued);
  ASSERT_INT_EQ(CACHED, stats.hits);
  ASSERT_INT_EQ(0, stats.evicted);
  ASSERT_INT_EQ(FRESH, stats.cached);
  st_ca_free(&ca);
}


TEST(ca_export_files_parse) {
  const char *dir = fresh_dir("export");
  struct st_ca *ca = NULL;
  char err[ST_ERRLEN], out[600], path[700];
  const unsigned char *der;
  size_t der_len;
  EVP_PKEY *key = NULL;
  X509 *cert = NULL;
  STACK_OF(X509) *extra = NULL;
  PKCS12 *p12;
  FILE *f;

  ASSERT_INT_EQ(0, st_ca_open(dir, 0, &ca, err, sizeof(err)));
  snprintf(out, sizeof(out), "%s/exported/nested", dir);
  ASSERT_INT_EQ(0, st_ca_export(ca, out, err, sizeof(err)));

  snprintf(path, sizeof(path), "%s/%s", out, ST_CA_EXPORT_PEM);
  f = fopen(path, "r");
  ASSERT(f != NULL);
  cert = PEM_read_X509(f, NULL, NULL, NULL);
  fclose(f);
  ASSERT(cert != NULL);
  ASSERT_INT_EQ(0, X509_cmp(cert, st_ca_cert(ca)));
  X509_free(cert);

  snprintf(path, sizeof(path), "%s/%s", out, ST_CA_EXPORT_DER);
  f = fopen(path, "rb");
  ASSERT(f != NULL);
  cert = d2i_X509_fp(f, NULL);
  fclose(f);
  ASSERT(cert != NULL);
  ASSERT_INT_EQ(0, X509_cmp(cert, st_ca_cert(ca)));
  X509_free(cert);
  cert = NULL;
  der = st_ca_cert_der(ca, &der_len);
  ASSERT(der != NULL);

  snprintf(path, sizeof(path), "%s/%s", out, ST_CA_EXPORT_P12);
  f = fopen(path, "rb");
  ASSERT(f != NULL);
  p12 = d2i_PKCS12_fp(f, NULL);
  fclose(f);
  ASSERT(p12 != NULL);
  ASSERT_INT_EQ(1, PKCS12_parse(p12, "", &key, &cert, &extra));
  PKCS12_free(p12);
  ASSERT(key == NULL);  /* the CA key is never exported */
  ASSERT(cert != NULL || sk_X509_num(extra) == 1);
  if (cert == NULL)
    cert = sk_X509_shift(extra);
  ASSERT_INT_EQ(0, X509_cmp(cert, st_ca_cert(ca)));
  X509_free(cert);
  sk_X509_pop_free(extra, X509_free);
  st_ca_free(&ca);
}


int main(void) {
  const char *base = getenv("TMPDIR");

  snprintf(tmp_root, sizeof(tmp_root), "%s/st_test_ca.XXXXXX",
           base != NULL ? base : "/tmp");
  if (mkdtemp(tmp_root) == NULL) {
    perror("mkdtemp");
    return 1;
  }

  RUN(ca_create_key_mode_0600);
  RUN(ca_reopen_reuses_files);
  RUN(ca_corrupt_key_rejected);
  RUN(ca_corrupt_cert_rejected);
  RUN(ca_mismatched_key_rejected);
  RUN(ca_missing_cert_rejected);
  RUN(ca_open_key_mode_rejected);
  RUN(ca_certificate_extensions);
  RUN(ca_accessors_pem_der_match);
  RUN(leaf_hostname_verifies);
  RUN(leaf_long_name_san_only);
  RUN(leaf_ipv4_ip_san);
  RUN(leaf_ipv6_ip_san);
  RUN(leaf_extensions_and_validity);
  RUN(leaf_key_shared_serials_differ);
  RUN(leaf_invalid_host_rejected);
  RUN(leaf_cache_lru_eviction);
  RUN(leaf_cache_default_bound);
  RUN(leaf_cache_serves_repeated_hosts);
  RUN(ca_export_files_parse);

  nftw(tmp_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  ERR_clear_error();
  return TEST_EXIT();
}
