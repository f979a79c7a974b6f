/* `stratosphere dashboard`: serves the dashboard alone, without the proxy
 * and the pipeline, to browse a knowledge base and a flow store. */
#include "cli/cli.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/internal.h"
#include "tls/ca.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "web/web.h"

/* Bytes of the CA certificate file read at most. */
#define CA_CERT_MAX (64 * 1024)

static const struct st_cli_option options[] = {
  { "listen", 'l', "ADDR", "address to listen on, IP:PORT (default: "
                           "dashboard.listen, 127.0.0.1:8082)" },
  { "pages", 0, "DIR", "folder of page files (default: lua/webapps)" },
  { "kb", 'k', "FILE", "knowledge base to show (default: DATA_DIR/kb.db)" },
  { "probe", 'p', "FILE", "flow store to show (default: DATA_DIR/probe.db)" },
  { NULL, 0, NULL, NULL },
};


/* Reads the CA certificate (never the key) when the data folder has one,
 * for the CA page. Returns the PEM text (the caller frees it) or NULL. */
static char *read_ca_cert(const char *data_dir, size_t *len) {
  char path[4096];
  char *pem;
  FILE *f;

  snprintf(path, sizeof(path), "%s/%s/%s", data_dir, ST_CA_DIR,
           ST_CA_CERT_FILE);
  f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  pem = st_malloc(CA_CERT_MAX);
  *len = pem ? fread(pem, 1, CA_CERT_MAX, f) : 0;
  fclose(f);
  if (pem != NULL && *len == 0) {
    st_free(pem);
    pem = NULL;
  }
  return pem;
}


static int cmd_dashboard(struct st_cli_args *args) {
  struct st_web_options opts;
  struct st_config cfg;
  struct st_web *web = NULL;
  char err[ST_ERRLEN];
  sigset_t stop_signals;
  char *ca_pem;
  size_t ca_len = 0;
  int rc, signal_number = 0;

  if (args->positional_count > 0)
    return st_cli_usage_error(args, "unexpected argument '%s'",
                              args->positional[0]);
  rc = st_cli_load_config(args, &cfg);
  if (rc != ST_EXIT_OK) {
    st_config_cleanup(&cfg);
    return rc;
  }

  memset(&opts, 0, sizeof(opts));
  opts.listen = st_cli_get(args, "listen");
  if (opts.listen != NULL &&
      st_config_set_listen(&cfg, "dashboard", opts.listen, err,
                           sizeof(err)) != 0) {
    fprintf(stderr, "stratosphere dashboard: %s\n", err);
    st_config_cleanup(&cfg);
    return ST_EXIT_USAGE;
  }
  opts.listen = cfg.dashboard_listen;
  opts.pages_dir = st_cli_get(args, "pages");
  opts.kb_path = st_cli_get(args, "kb");
  if (opts.kb_path == NULL)
    opts.kb_path = cfg.kb_path;
  opts.probe_path = st_cli_get(args, "probe");
  if (opts.probe_path == NULL)
    opts.probe_path = cfg.probe_path;
  if (st__cli_check_files(args, opts.probe_path, opts.kb_path) !=
      ST_EXIT_OK) {
    st_config_cleanup(&cfg);
    return ST_EXIT_FAIL;
  }
  ca_pem = read_ca_cert(cfg.data_dir, &ca_len);
  opts.ca_pem = ca_pem;
  opts.ca_pem_len = ca_len;

  /* Block the stop signals before the dashboard's thread starts, so that
   * they stay pending for sigwait() below. */
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

  rc = st_web_start(&web, &opts, err, sizeof(err));
  st_free(ca_pem);
  if (rc != 0) {
    fprintf(stderr, "stratosphere dashboard: %s\n", err);
    st_config_cleanup(&cfg);
    return rc == ST_EINVAL ? ST_EXIT_USAGE : ST_EXIT_FAIL;
  }
  printf("dashboard: http://%s/\n", st_web_address(web));
  fflush(stdout);

  while (sigwait(&stop_signals, &signal_number) != 0 && errno == EINTR)
    ;
  st_log_info("web", "stopping on signal %d", signal_number);
  st_web_stop(&web);
  st_config_cleanup(&cfg);
  return ST_EXIT_OK;
}


const struct st_cli_command st_cli_cmd_dashboard = {
  "dashboard", "",
  "serve the dashboard without the proxy, to browse kb.db and probe.db",
  options, cmd_dashboard, NULL,
};
