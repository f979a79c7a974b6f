/* `stratosphere run` (the proxy, the extractor pipeline and the
 * dashboard) and `stratosphere proxy` (the same without the dashboard, for
 * headless machines). Both take the same options. */
#include "cli/cli.h"

#include <stdio.h>

#include "cli/internal.h"
#include "proxy/service.h"
#include "util/err.h"

static const struct st_cli_option options[] = {
  { "listen", 'l', "ADDR:PORT",
    "address to listen on (default: proxy.listen, 127.0.0.1:8080)" },
  { "no-record", 0, NULL, "proxy without storing flows (for benchmarks)" },
  { "no-intercept", 0, NULL,
    "tunnel HTTPS without decrypting it (no CA needed)" },
  { "upstream-insecure", 0, NULL,
    "do not verify origin server certificates (lab use)" },
  { "ca-file", 0, "FILE",
    "also trust the CA certificates in this PEM file for origins" },
  { "no-pipeline", 0, NULL,
    "record without running the extractors (for benchmarks)" },
  { NULL, 0, NULL, NULL },
};


static int run_service(struct st_cli_args *args, int dashboard) {
  struct st_service_options opts;
  struct st_config cfg;
  const char *listen = st_cli_get(args, "listen");
  char err[ST_ERRLEN];
  int rc;

  rc = st_cli_load_config(args, &cfg);
  if (rc == ST_EXIT_OK && args->positional_count > 0)
    rc = st_cli_usage_error(args, "unexpected argument '%s'",
                            args->positional[0]);
  /* Checked here, like proxy.listen, so that a bad address stops the
   * program before the CA and the databases are created. */
  if (rc == ST_EXIT_OK && listen != NULL &&
      st_config_set_listen(&cfg, "proxy", listen, err, sizeof(err)) != 0) {
    fprintf(stderr, "stratosphere %s: %s\n", args->command, err);
    rc = ST_EXIT_USAGE;
  }
  if (rc != ST_EXIT_OK) {
    st_config_cleanup(&cfg);
    return rc;
  }
  st_service_defaults(&opts, &cfg);
  opts.listen = listen;
  if (st_cli_get(args, "no-record") != NULL)
    opts.record = 0;
  if (st_cli_get(args, "no-intercept") != NULL)
    opts.intercept = 0;
  if (st_cli_get(args, "upstream-insecure") != NULL)
    opts.upstream_verify = 0;
  opts.ca_file = st_cli_get(args, "ca-file");
  if (st_cli_get(args, "no-pipeline") != NULL || !opts.record)
    opts.pipeline = 0;
  opts.dashboard = dashboard;

  /* The files each part opens: the writer and the dashboard probe.db,
   * the pipeline and the dashboard kb.db. */
  rc = st__cli_check_files(
      args, opts.record || opts.dashboard ? cfg.probe_path : NULL,
      (opts.record && opts.pipeline) || opts.dashboard ? cfg.kb_path : NULL);
  if (rc != ST_EXIT_OK) {
    st_config_cleanup(&cfg);
    return rc;
  }

  rc = st_service_main(&cfg, &opts) == 0 ? ST_EXIT_OK : ST_EXIT_FAIL;
  st_config_cleanup(&cfg);
  return rc;
}


static int cmd_run(struct st_cli_args *args) {
  return run_service(args, 1);
}


static int cmd_proxy(struct st_cli_args *args) {
  return run_service(args, 0);
}


const struct st_cli_command st_cli_cmd_run = {
  "run", "",
  "run the proxy, the extractor pipeline and the dashboard",
  options, cmd_run, NULL,
};


const struct st_cli_command st_cli_cmd_proxy = {
  "proxy", "",
  "run the recording proxy and the pipeline, without the dashboard",
  options, cmd_proxy, NULL,
};
