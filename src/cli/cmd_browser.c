#include "cli/cli.h"

#include <errno.h>
#include <arpa/inet.h>
#include <ftw.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tls/ca.h"
#include "util/err.h"

/* The nickname the CA gets in the temporary NSS database. */
#define CA_NICKNAME "stratosphere-ca"

#define MAX_ARGS 64

static const struct st_cli_option options[] = {
  { "firefox", 0, NULL, "start Firefox even when Chromium is installed" },
  { "dry-run", 'n', NULL, "print the commands instead of running them" },
  { "keep-profile", 0, NULL, "keep the temporary profile folder on exit" },
  { NULL, 0, NULL, NULL },
};

enum browser_kind { BROWSER_CHROMIUM, BROWSER_FIREFOX };

struct browser {
  enum browser_kind kind;
  const char *name;     /* "Chromium" */
  char path[4096];
};

/* An argument vector whose strings the struct owns. */
struct argv_buf {
  char *items[MAX_ARGS + 1];
  size_t count;
};


static void argv_add(struct argv_buf *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));


static void argv_add(struct argv_buf *a, const char *fmt, ...) {
  va_list ap;
  char *s = NULL;

  if (a->count == MAX_ARGS)
    return;
  va_start(ap, fmt);
  if (vasprintf(&s, fmt, ap) < 0)
    s = NULL;
  va_end(ap);
  if (s != NULL)
    a->items[a->count++] = s;
  a->items[a->count] = NULL;
}


static void argv_free(struct argv_buf *a) {
  for (size_t i = 0; i < a->count; i++)
    free(a->items[i]);
  a->count = 0;
  a->items[0] = NULL;
}


/* Finds name in PATH, or takes it as is when it contains a slash. */
static int find_executable(const char *name, char *out, size_t outlen) {
  const char *path = getenv("PATH");

  if (strchr(name, '/') != NULL) {
    snprintf(out, outlen, "%s", name);
    return access(out, X_OK) == 0;
  }
  while (path != NULL && *path != '\0') {
    const char *colon = strchr(path, ':');
    size_t len = colon ? (size_t)(colon - path) : strlen(path);

    snprintf(out, outlen, "%.*s/%s", (int)len, path, name);
    if (len > 0 && access(out, X_OK) == 0)
      return 1;
    path = colon ? colon + 1 : NULL;
  }
  return 0;
}


/* Picks the browser: Chromium first (Debian's real binary, not the
 * /usr/bin/chromium wrapper, which adds flags of its own), then Firefox.
 * STRATOSPHERE_CHROMIUM and STRATOSPHERE_FIREFOX override the search. */
static int find_browser(int want_firefox, struct browser *b) {
  static const char *const chromium[] = {
    "/usr/lib/chromium/chromium", "chromium", "chromium-browser",
    "google-chrome", "google-chrome-stable", NULL,
  };
  static const char *const firefox[] = { "firefox", "firefox-esr", NULL };
  const char *env;

  if (!want_firefox) {
    env = getenv("STRATOSPHERE_CHROMIUM");
    for (size_t i = 0; chromium[i] != NULL || env != NULL; i++) {
      const char *name = env ? env : chromium[i];

      if (find_executable(name, b->path, sizeof(b->path))) {
        b->kind = BROWSER_CHROMIUM;
        b->name = "Chromium";
        return 1;
      }
      if (env != NULL)
        return 0;
    }
  }
  env = getenv("STRATOSPHERE_FIREFOX");
  for (size_t i = 0; firefox[i] != NULL || env != NULL; i++) {
    const char *name = env ? env : firefox[i];

    if (find_executable(name, b->path, sizeof(b->path))) {
      b->kind = BROWSER_FIREFOX;
      b->name = "Firefox";
      return 1;
    }
    if (env != NULL)
      return 0;
  }
  return 0;
}


/* Splits "host:port" and maps a wildcard listen address to loopback, since
 * the browser connects to it. */
static int proxy_address(const char *listen, char *host, size_t hostlen,
                         int *port) {
  const char *colon = strrchr(listen, ':');
  char *end;
  long p;

  if (colon == NULL)
    return ST_EINVAL;
  p = strtol(colon + 1, &end, 10);
  if (*end != '\0' || p <= 0 || p > 65535)
    return ST_EINVAL;
  snprintf(host, hostlen, "%.*s", (int)(colon - listen), listen);
  if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 ||
      strcmp(host, "[::]") == 0 || strcmp(host, "::") == 0)
    snprintf(host, hostlen, "127.0.0.1");
  *port = (int)p;
  return 0;
}


/* Returns 1 when something accepts TCP connections at host:port. A
 * blocking connect() on loopback, the usual proxy address, fails or
 * succeeds at once. */
static int proxy_is_listening(const char *host, int port) {
  struct addrinfo hints, *res = NULL;
  char service[16];
  int ok = 0;

  memset(&hints, 0, sizeof(hints));
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST;
  snprintf(service, sizeof(service), "%d", port);
  if (getaddrinfo(host, service, &hints, &res) != 0)
    return 0;
  for (struct addrinfo *a = res; a != NULL && !ok; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);

    if (fd < 0)
      continue;
    ok = connect(fd, a->ai_addr, a->ai_addrlen) == 0;
    close(fd);
  }
  freeaddrinfo(res);
  return ok;
}


static void build_chromium_args(struct argv_buf *a, const char *exe,
                                const char *profile, const char *host,
                                int port, const char *url,
                                const struct st_cli_args *args) {
  argv_add(a, "%s", exe);
  argv_add(a, "--user-data-dir=%s", profile);
  argv_add(a, "--proxy-server=http://%s:%d", host, port);
  /* Chromium never sends localhost and 127.0.0.1 to a proxy unless the
   * bypass list removes that rule, and local test sites are research too. */
  argv_add(a, "--proxy-bypass-list=<-loopback>");
  /* Nothing but the researcher's pages: no sign-in, sync, component or
   * safe-browsing updates, time queries or first-run pages. */
  argv_add(a, "--no-first-run");
  argv_add(a, "--no-default-browser-check");
  argv_add(a, "--disable-background-networking");
  argv_add(a, "--disable-component-update");
  argv_add(a, "--disable-sync");
  argv_add(a, "--disable-default-apps");
  argv_add(a, "--disable-domain-reliability");
  argv_add(a, "--disable-client-side-phishing-detection");
  argv_add(a, "--disable-component-extensions-with-background-pages");
  argv_add(a, "--metrics-recording-only");
  argv_add(a, "--no-pings");
  argv_add(a, "--disable-features=NetworkTimeServiceQuerying,"
              "OptimizationHints,Translate,MediaRouter,"
              "CertificateTransparencyComponentUpdater");
  argv_add(a, "--disable-quic");
  /* Chromium refuses to start as root with its sandbox on. */
  if (geteuid() == 0)
    argv_add(a, "--no-sandbox");
  for (size_t i = 0; i < args->positional_count; i++) {
    if (args->positional[i][0] == '-')
      argv_add(a, "%s", args->positional[i]);
  }
  if (url != NULL)
    argv_add(a, "%s", url);
}


static void build_firefox_args(struct argv_buf *a, const char *exe,
                               const char *profile, const char *url,
                               const struct st_cli_args *args) {
  argv_add(a, "%s", exe);
  argv_add(a, "--no-remote");
  argv_add(a, "--profile");
  argv_add(a, "%s", profile);
  for (size_t i = 0; i < args->positional_count; i++) {
    if (args->positional[i][0] == '-')
      argv_add(a, "%s", args->positional[i]);
  }
  if (url != NULL)
    argv_add(a, "%s", url);
}


/* Preferences for a Firefox profile: the proxy for every scheme, and the
 * background connections (updates, telemetry, safe browsing, captive
 * portal and connectivity checks) off. */
static int write_firefox_prefs(const char *profile, const char *host,
                               int port) {
  char path[4200];
  FILE *f;

  snprintf(path, sizeof(path), "%s/user.js", profile);
  f = fopen(path, "w");
  if (f == NULL)
    return ST_EIO;
  fprintf(f,
          "user_pref(\"network.proxy.type\", 1);\n"
          "user_pref(\"network.proxy.http\", \"%s\");\n"
          "user_pref(\"network.proxy.http_port\", %d);\n"
          "user_pref(\"network.proxy.ssl\", \"%s\");\n"
          "user_pref(\"network.proxy.ssl_port\", %d);\n"
          "user_pref(\"network.proxy.no_proxies_on\", \"\");\n"
          /* Without this, Firefox sends localhost past the proxy. */
          "user_pref(\"network.proxy.allow_hijacking_localhost\", true);\n"
          "user_pref(\"app.update.enabled\", false);\n"
          "user_pref(\"app.update.auto\", false);\n"
          "user_pref(\"browser.shell.checkDefaultBrowser\", false);\n"
          "user_pref(\"browser.safebrowsing.malware.enabled\", false);\n"
          "user_pref(\"browser.safebrowsing.phishing.enabled\", false);\n"
          "user_pref(\"browser.safebrowsing.downloads.enabled\", false);\n"
          "user_pref(\"datareporting.healthreport.uploadEnabled\", false);\n"
          "user_pref(\"datareporting.policy.dataSubmissionEnabled\", "
          "false);\n"
          "user_pref(\"toolkit.telemetry.enabled\", false);\n"
          "user_pref(\"network.captive-portal-service.enabled\", false);\n"
          "user_pref(\"network.connectivity-service.enabled\", false);\n"
          "user_pref(\"extensions.update.enabled\", false);\n"
          "user_pref(\"browser.startup.homepage_override.mstone\", "
          "\"ignore\");\n",
          host, port, host, port);
  return fclose(f) == 0 ? 0 : ST_EIO;
}


/* Runs argv with HOME set to home (NULL: unchanged) and waits. Returns the
 * exit status, or -1 when it could not run or was killed. */
static int run_and_wait(char *const argv[], const char *home, int quiet) {
  pid_t pid = fork();
  int status;

  if (pid < 0)
    return -1;
  if (pid == 0) {
    signal(SIGINT, SIG_DFL);  /* the parent ignores it while waiting */
    if (home != NULL)
      setenv("HOME", home, 1);
    if (quiet && freopen("/dev/null", "w", stdout) == NULL)
      _exit(127);
    execv(argv[0], argv);
    fprintf(stderr, "stratosphere browser: cannot run %s: %s\n", argv[0],
            strerror(errno));
    _exit(127);
  }
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR)
      return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}


/* Creates an NSS database in dir and adds the CA as trusted for TLS
 * servers ("C,,"). Only browsers reading that database trust it. */
static int trust_ca(const char *certutil, const char *dir,
                    const char *ca_path, int dry_run) {
  struct argv_buf create = { { NULL }, 0 }, add = { { NULL }, 0 };
  int rc = 0;

  argv_add(&create, "%s", certutil);
  argv_add(&create, "-d");
  argv_add(&create, "sql:%s", dir);
  argv_add(&create, "-N");
  argv_add(&create, "--empty-password");
  argv_add(&add, "%s", certutil);
  argv_add(&add, "-d");
  argv_add(&add, "sql:%s", dir);
  argv_add(&add, "-A");
  argv_add(&add, "-t");
  argv_add(&add, "C,,");
  argv_add(&add, "-n");
  argv_add(&add, CA_NICKNAME);
  argv_add(&add, "-i");
  argv_add(&add, "%s", ca_path);

  if (dry_run) {
    for (struct argv_buf *a = &create; a != NULL;
         a = a == &create ? &add : NULL) {
      for (size_t i = 0; i < a->count; i++)
        printf("%s%s", i ? " " : "", a->items[i]);
      printf("\n");
    }
  } else if (run_and_wait(create.items, NULL, 1) != 0 ||
             run_and_wait(add.items, NULL, 1) != 0) {
    rc = ST_EIO;
  }
  argv_free(&create);
  argv_free(&add);
  return rc;
}


static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw) {
  return remove(path);
}


/* Makes <tmp>/home/.pki/nssdb (Chromium reads CA trust from
 * $HOME/.pki/nssdb) and <tmp>/profile. */
static int make_dirs(const char *root, char *home, char *nssdb,
                     char *profile, size_t len) {
  char pki[512];

  /* root is the short mkdtemp() name, so no path here is cut. */
  snprintf(home, len, "%.256s/home", root);
  snprintf(pki, sizeof(pki), "%.256s/home/.pki", root);
  snprintf(nssdb, len, "%.256s/home/.pki/nssdb", root);
  snprintf(profile, len, "%.256s/profile", root);
  if (mkdir(home, 0700) != 0 || mkdir(pki, 0700) != 0 ||
      mkdir(nssdb, 0700) != 0 || mkdir(profile, 0700) != 0)
    return ST_EIO;
  return 0;
}


static int cmd_browser(struct st_cli_args *args) {
  int dry_run = st_cli_get(args, "dry-run") != NULL;
  const char *tmpdir = getenv("TMPDIR");
  char root[300];
  char home[4096], nssdb[4096], profile[4096], ca_path[4096];
  char certutil[4096], host[256];
  struct argv_buf argv = { { NULL }, 0 };
  struct browser b;
  struct st_config cfg;
  const char *url = NULL;
  int rc, port, made_root = 0;

  for (size_t i = 0; i < args->positional_count; i++) {
    if (args->positional[i][0] == '-')
      continue;
    if (url != NULL)
      return st_cli_usage_error(args, "give one URL; browser flags start "
                                "with '-' and follow '--'");
    url = args->positional[i];
  }

  rc = st_cli_load_config(args, &cfg);
  if (rc != ST_EXIT_OK)
    goto out;
  rc = ST_EXIT_FAIL;
  if (proxy_address(cfg.proxy_listen, host, sizeof(host), &port) != 0) {
    fprintf(stderr, "stratosphere browser: invalid proxy.listen '%s'; "
                    "expected host:port\n", cfg.proxy_listen);
    goto out;
  }
  if (!find_browser(st_cli_get(args, "firefox") != NULL, &b)) {
    fprintf(stderr, "stratosphere browser: no browser found. Install "
                    "Chromium (apt-get install chromium) or Firefox "
                    "(apt-get install firefox-esr)%s\n",
            getenv("STRATOSPHERE_CHROMIUM") || getenv("STRATOSPHERE_FIREFOX")
                ? ", or fix STRATOSPHERE_CHROMIUM / STRATOSPHERE_FIREFOX"
                : "");
    goto out;
  }
  /* The CA certificate the proxy signs with, <data_dir>/ca/ca.pem. */
  snprintf(ca_path, sizeof(ca_path), "%s/%s/%s", cfg.data_dir, ST_CA_DIR,
           ST_CA_CERT_FILE);
  if (access(ca_path, R_OK) != 0) {
    fprintf(stderr, "stratosphere browser: no CA certificate at %s; run "
                    "'stratosphere ca' to create one\n", ca_path);
    goto out;
  }
  if (!find_executable("certutil", certutil, sizeof(certutil))) {
    fprintf(stderr, "stratosphere browser: certutil not found; install "
                    "it with apt-get install libnss3-tools\n");
    goto out;
  }

  /* The profile goes under $TMPDIR, as other programs' temporary files
   * do, so a test or a user can keep it off the shared /tmp. */
  if (tmpdir == NULL || tmpdir[0] == '\0' || strlen(tmpdir) > 200)
    tmpdir = "/tmp";
  snprintf(root, sizeof(root), "%s/stratosphere-browser-XXXXXX", tmpdir);
  if (dry_run) {
    snprintf(root, sizeof(root), "TMP");
  } else if (mkdtemp(root) == NULL) {
    fprintf(stderr, "stratosphere browser: cannot create a folder in %s: "
                    "%s\n", tmpdir, strerror(errno));
    goto out;
  } else {
    made_root = 1;
  }
  if (!dry_run &&
      make_dirs(root, home, nssdb, profile, sizeof(home)) != 0) {
    fprintf(stderr, "stratosphere browser: cannot create the profile in "
                    "%s: %s\n", root, strerror(errno));
    goto out;
  } else if (dry_run) {
    snprintf(home, sizeof(home), "%s/home", root);
    snprintf(nssdb, sizeof(nssdb), "%s/home/.pki/nssdb", root);
    snprintf(profile, sizeof(profile), "%s/profile", root);
  }

  /* Chromium reads trust from $HOME/.pki/nssdb, Firefox from its profile
   * folder. */
  if (trust_ca(certutil, b.kind == BROWSER_CHROMIUM ? nssdb : profile,
               ca_path, dry_run) != 0) {
    fprintf(stderr, "stratosphere browser: certutil could not add %s to "
                    "the temporary certificate database\n", ca_path);
    goto out;
  }
  if (b.kind == BROWSER_CHROMIUM) {
    build_chromium_args(&argv, b.path, profile, host, port, url, args);
  } else {
    if (!dry_run && write_firefox_prefs(profile, host, port) != 0) {
      fprintf(stderr, "stratosphere browser: cannot write the Firefox "
                      "preferences in %s\n", profile);
      goto out;
    }
    build_firefox_args(&argv, b.path, profile, url, args);
  }

  if (dry_run) {
    printf("HOME=%s", home);
    for (size_t i = 0; i < argv.count; i++)
      printf(" %s", argv.items[i]);
    printf("\n");
    rc = ST_EXIT_OK;
    goto out;
  }

  if (!proxy_is_listening(host, port))
    fprintf(stderr, "stratosphere browser: warning: no proxy listens on "
                    "%s:%d yet, so pages will not load until 'stratosphere "
                    "run' is started\n", host, port);
  fprintf(stderr, "stratosphere browser: started %s (%s) with a temporary "
                  "profile in %s, proxy %s:%d, and the CA %s trusted in "
                  "this profile only\n", b.name, b.path, root, host, port,
          ca_path);
  /* Ctrl-C reaches the browser, which shares the terminal; this process
   * waits for it and then removes the profile. */
  signal(SIGINT, SIG_IGN);
  rc = run_and_wait(argv.items, home, 0) == 0 ? ST_EXIT_OK : ST_EXIT_FAIL;
  signal(SIGINT, SIG_DFL);

out:
  if (made_root && st_cli_get(args, "keep-profile") == NULL)
    nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  else if (made_root)
    fprintf(stderr, "stratosphere browser: kept the profile in %s\n", root);
  argv_free(&argv);
  st_config_cleanup(&cfg);
  return rc;
}


const struct st_cli_command st_cli_cmd_browser = {
  "browser", "[--firefox] [--dry-run] [URL] [-- BROWSER-FLAGS...]",
  "start a separate browser using the proxy, with the CA trusted in it only",
  options, cmd_browser,
  "Every request goes through the proxy, loopback included: Chromium gets\n"
  "--proxy-bypass-list=<-loopback> (Firefox the matching preference), so\n"
  "pages on localhost and 127.0.0.1 are recorded too. Flags after -- go\n"
  "to the browser.\n",
};
