/* The recording service that `stratosphere proxy` and `stratosphere run`
 * start: the CA, the flow store's writer and the proxy on one libuv loop,
 * the extractor pipeline on its own thread, stopped cleanly by SIGINT or
 * SIGTERM. Main thread only. */
#ifndef ST_SERVICE_H
#define ST_SERVICE_H

#include <uv.h>

#include "cli/config.h"
#include "pipeline/pipeline.h"
#include "proxy/proxy.h"
#include "store/writer.h"
#include "tls/ca.h"
#include "web/web.h"

struct st_service_options {
  const char *listen;       /* overrides proxy.listen when not NULL */
  int record;               /* 0: proxy without storing flows */
  int intercept;            /* 0: tunnel HTTPS without a CA */
  int upstream_verify;      /* overrides proxy.upstream_verify */
  const char *ca_file;      /* extra CAs trusted for origins, or NULL */
  int pipeline;             /* run the extractors over recorded flows */
  int dashboard;            /* serve the dashboard */
};

struct st_service {
  uv_loop_t loop;
  const struct st_config *cfg;
  struct st_ca *ca;          /* NULL without interception */
  struct st_writer *writer;  /* NULL without recording */
  struct st_pipeline *pipeline;  /* NULL without recording or pipeline */
  struct st_proxy *proxy;
  struct st_web *web;        /* NULL without the dashboard */
  uv_signal_t sigint;
  uv_signal_t sigterm;
  int lock_fd;                /* data folder lock while recording, or -1 */
  int loop_ready;
  int stopping;
};

/* Fills opts with the configuration's choices: record, intercept, run the
 * pipeline, verify as cfg says, no dashboard, no listen override, no extra
 * CA file. */
void st_service_defaults(struct st_service_options *opts,
                         const struct st_config *cfg);

/* Creates data_dir and, when recording, locks it against a second
 * recorder; opens the CA, starts the writer on cfg->probe_path, the
 * pipeline, the proxy on the loop and the dashboard on its own thread. Returns 0, or a negative code with one line in
 * err; st_service_cleanup() must be called either way. */
int st_service_start(struct st_service *svc, const struct st_config *cfg,
                     const struct st_service_options *opts, char *err,
                     size_t errlen);

/* Runs the loop until SIGINT or SIGTERM, then closes the proxy. */
void st_service_run(struct st_service *svc);

/* Stops the dashboard and the pipeline, flushes and stops the writer
 * (nothing queued is lost), frees the CA and closes the loop. */
void st_service_cleanup(struct st_service *svc);

/* Starts, runs and cleans up the service, logging a failure to start.
 * Returns 0, or 1 when it could not start. */
int st_service_main(const struct st_config *cfg,
                    const struct st_service_options *opts);

#endif
