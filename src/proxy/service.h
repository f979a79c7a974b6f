/* The recording service that `stratosphere proxy` and `stratosphere run`
 * start: the CA, the flow store's writer and the proxy on one libuv loop,
 * stopped cleanly by SIGINT or SIGTERM. Other parts (the pipeline thread,
 * the dashboard) attach to svc->loop between st_service_start() and
 * st_service_run(). Main thread only. */
#ifndef ST_SERVICE_H
#define ST_SERVICE_H

#include <uv.h>

#include "cli/config.h"
#include "proxy/proxy.h"
#include "store/writer.h"
#include "tls/ca.h"

struct st_service_options {
  const char *listen;       /* overrides proxy.listen when not NULL */
  int record;               /* 0: proxy without storing flows */
  int intercept;            /* 0: tunnel HTTPS without a CA */
  int upstream_verify;      /* overrides proxy.upstream_verify */
  const char *ca_file;      /* extra CAs trusted for origins, or NULL */
};

struct st_service {
  uv_loop_t loop;
  const struct st_config *cfg;
  struct st_ca *ca;          /* NULL without interception */
  struct st_writer *writer;  /* NULL without recording */
  struct st_proxy *proxy;
  uv_signal_t sigint;
  uv_signal_t sigterm;
  int loop_ready;
  int stopping;
};

/* Fills opts with the configuration's choices: record, intercept, verify
 * as cfg says, no listen override, no extra CA file. */
void st_service_defaults(struct st_service_options *opts,
                         const struct st_config *cfg);

/* Creates data_dir, opens the CA, starts the writer on cfg->probe_path and
 * the proxy on the loop. Returns 0, or a negative code with one line in
 * err; st_service_cleanup() must be called either way. */
int st_service_start(struct st_service *svc, const struct st_config *cfg,
                     const struct st_service_options *opts, char *err,
                     size_t errlen);

/* Runs the loop until SIGINT or SIGTERM, then closes the proxy. */
void st_service_run(struct st_service *svc);

/* Flushes and stops the writer (nothing queued is lost), frees the CA and
 * closes the loop. */
void st_service_cleanup(struct st_service *svc);

/* Starts, runs and cleans up the service, logging a failure to start.
 * Returns 0, or 1 when it could not start. */
int st_service_main(const struct st_config *cfg,
                    const struct st_service_options *opts);

#endif
