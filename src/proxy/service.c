#include "proxy/service.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/err.h"
#include "util/log.h"


void st_service_defaults(struct st_service_options *opts,
                         const struct st_config *cfg) {
  memset(opts, 0, sizeof(*opts));
  opts->record = 1;
  opts->intercept = 1;
  opts->pipeline = 1;
  opts->upstream_verify = cfg->upstream_verify;
}


static void on_closed(void *ud) {
  struct st_service *svc = ud;

  uv_stop(&svc->loop);
}


static void on_signal(uv_signal_t *handle, int signum) {
  struct st_service *svc = handle->data;

  if (svc->stopping)
    return;
  svc->stopping = 1;
  st_log_info("proxy", "received %s, stopping", strsignal(signum));
  uv_signal_stop(&svc->sigint);
  uv_signal_stop(&svc->sigterm);
  st_proxy_close(svc->proxy, on_closed, svc);
}


static int make_dir(const char *path, char *err, size_t errlen) {
  if (mkdir(path, 0700) == 0 || errno == EEXIST)
    return 0;
  return st_seterr(err, errlen, ST_EIO, "cannot create %s: %s", path,
                   strerror(errno));
}


/* Takes an exclusive lock on DATA_DIR/recorder.lock, so that a second
 * recorder started on the same data folder stops before it opens probe.db
 * and kb.db, instead of adding a second writer, pipeline and pruner. The
 * lock is released when the descriptor closes, also on a crash; the file
 * stays and holds the owner's pid. */
static int lock_data_dir(struct st_service *svc, const char *data_dir,
                         char *err, size_t errlen) {
  char path[PATH_MAX];
  char pid_text[32];
  ssize_t len;
  int fd;

  if (snprintf(path, sizeof(path), "%s/recorder.lock", data_dir) >=
      (int)sizeof(path))
    return st_seterr(err, errlen, ST_EINVAL, "data folder path too long: %s",
                     data_dir);
  fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return st_seterr(err, errlen, ST_EIO, "cannot open %s: %s", path,
                     strerror(errno));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int saved = errno;

    len = pread(fd, pid_text, sizeof(pid_text) - 1, 0);
    pid_text[len > 0 ? len : 0] = '\0';
    pid_text[strcspn(pid_text, "\n")] = '\0';
    close(fd);
    if (saved != EWOULDBLOCK)
      return st_seterr(err, errlen, ST_EIO, "cannot lock %s: %s", path,
                       strerror(saved));
    return st_seterr(err, errlen, ST_EBUSY, "another stratosphere (pid %s) "
                     "is recording into %s; stop it, or start this one with "
                     "a config file whose data_dir is another folder",
                     pid_text[0] != '\0' ? pid_text : "unknown", data_dir);
  }
  len = snprintf(pid_text, sizeof(pid_text), "%ld\n", (long)getpid());
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid_text, (size_t)len, 0) != len) {
    int saved = errno;

    close(fd);
    return st_seterr(err, errlen, ST_EIO, "cannot write %s: %s", path,
                     strerror(saved));
  }
  svc->lock_fd = fd;
  return 0;
}


/* The dashboard reads what the writer and the pipeline produce, with its
 * own read-only connections, and shows the CA certificate. */
static int start_dashboard(struct st_service *svc,
                           const struct st_config *cfg, char *err,
                           size_t errlen) {
  struct st_web_options web_opts;

  memset(&web_opts, 0, sizeof(web_opts));
  web_opts.listen = cfg->dashboard_listen;
  web_opts.kb_path = cfg->kb_path;
  web_opts.probe_path = cfg->probe_path;
  web_opts.pipeline = svc->pipeline;
  if (svc->ca != NULL)
    web_opts.ca_pem = st_ca_cert_pem(svc->ca, &web_opts.ca_pem_len);
  return st_web_start(&svc->web, &web_opts, err, errlen);
}


int st_service_start(struct st_service *svc, const struct st_config *cfg,
                     const struct st_service_options *opts, char *err,
                     size_t errlen) {
  struct st_proxy_options popts;
  int rc;

  memset(svc, 0, sizeof(*svc));
  svc->cfg = cfg;
  svc->lock_fd = -1;
  /* A client that disconnects must not kill the process mid-write. */
  signal(SIGPIPE, SIG_IGN);

  rc = make_dir(cfg->data_dir, err, errlen);
  if (rc == 0 && opts->record)
    rc = lock_data_dir(svc, cfg->data_dir, err, errlen);
  if (rc != 0)
    return rc;
  if (opts->intercept) {
    rc = st_ca_open(cfg->data_dir, 0, &svc->ca, err, errlen);
    if (rc != 0)
      return rc;
    st_log_info("proxy", "CA certificate %s (%s)", st_ca_cert_path(svc->ca),
                st_ca_created(svc->ca) ? "created" : "loaded");
  }
  if (opts->record) {
    rc = st_writer_start(&svc->writer, cfg->probe_path, err, errlen);
    if (rc != 0)
      return rc;
  }
  /* After the writer, because the writer creates probe.db and the
   * pipeline only opens it. */
  if (opts->record && opts->pipeline) {
    struct st_pipeline_options pipeline_opts;

    st_pipeline_defaults(&pipeline_opts, cfg);
    rc = st_pipeline_start(&svc->pipeline, &pipeline_opts, err, errlen);
    if (rc != 0)
      return rc;
  }

  rc = uv_loop_init(&svc->loop);
  if (rc != 0)
    return st_seterr(err, errlen, rc, "cannot start the event loop: %s",
                     uv_strerror(rc));
  svc->loop_ready = 1;

  memset(&popts, 0, sizeof(popts));
  popts.cfg = cfg;
  popts.listen = opts->listen;
  popts.ca = svc->ca;
  popts.writer = svc->writer;
  popts.upstream_verify = opts->upstream_verify;
  popts.extra_ca_file = opts->ca_file;
  rc = st_proxy_new(&svc->loop, &popts, &svc->proxy, err, errlen);
  if (rc != 0)
    return rc;

  uv_signal_init(&svc->loop, &svc->sigint);
  uv_signal_init(&svc->loop, &svc->sigterm);
  svc->sigint.data = svc;
  svc->sigterm.data = svc;
  uv_signal_start(&svc->sigint, on_signal, SIGINT);
  uv_signal_start(&svc->sigterm, on_signal, SIGTERM);
  if (opts->dashboard) {
    rc = start_dashboard(svc, cfg, err, errlen);
    if (rc == 0)
      rc = st_proxy_set_dashboard(svc->proxy, st_web_address(svc->web), err,
                                  errlen);
    if (rc != 0)
      return rc;
  }
  st_log_info("proxy", "listening on %s (recording %s, HTTPS %s%s)",
              st_proxy_address(svc->proxy),
              svc->writer ? cfg->probe_path : "off",
              svc->ca ? "intercepted" : "tunnelled",
              opts->upstream_verify ? "" : ", upstream certificates not "
              "verified");
  return 0;
}


void st_service_run(struct st_service *svc) {
  struct st_proxy_stats stats;

  uv_run(&svc->loop, UV_RUN_DEFAULT);
  st_proxy_get_stats(svc->proxy, &stats);
  st_log_info("proxy", "stopped: %llu connections, %llu requests, %llu "
              "flows recorded, %llu dropped, %llu error responses",
              (unsigned long long)stats.connections,
              (unsigned long long)stats.requests,
              (unsigned long long)stats.recorded,
              (unsigned long long)stats.dropped,
              (unsigned long long)stats.errors);
}


static void close_handle(uv_handle_t *handle, void *arg) {
  if (!uv_is_closing(handle))
    uv_close(handle, NULL);
}


void st_service_cleanup(struct st_service *svc) {
  struct st_writer_stats ws;

  if (svc->loop_ready) {
    uv_walk(&svc->loop, close_handle, NULL);
    uv_run(&svc->loop, UV_RUN_DEFAULT);
    uv_loop_close(&svc->loop);
    svc->loop_ready = 0;
  }
  st_proxy_free(&svc->proxy);
  /* Before the pipeline, whose counters the dashboard reads. */
  st_web_stop(&svc->web);
  st_pipeline_stop(&svc->pipeline);
  if (svc->writer != NULL) {
    st_writer_flush(svc->writer);
    st_writer_get_stats(svc->writer, &ws);
    st_writer_stop(&svc->writer);
    st_log_info("proxy", "flow store closed: %llu flows committed, %llu "
                "failed", (unsigned long long)ws.committed,
                (unsigned long long)ws.failed);
  }
  st_ca_free(&svc->ca);
  if (svc->lock_fd >= 0) {
    close(svc->lock_fd);
    svc->lock_fd = -1;
  }
}


int st_service_main(const struct st_config *cfg,
                    const struct st_service_options *opts) {
  struct st_service svc;
  char err[ST_ERRLEN];
  int rc;

  rc = st_service_start(&svc, cfg, opts, err, sizeof(err));
  if (rc != 0) {
    st_log_error("proxy", "%s", err);
    st_service_cleanup(&svc);
    return 1;
  }
  st_service_run(&svc);
  st_service_cleanup(&svc);
  return 0;
}
