#include "cli/cli.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/internal.h"
#include "cli/sample_file.h"
#include "util/err.h"
#include "util/time.h"

/* Milliseconds between two looks at probe.db for new flows. */
#define POLL_MS 500

/* Later than any capture timestamp. It must look like a timestamp: the
 * column has NUMERIC affinity, so a bare "9999" would compare as a number,
 * and any text sorts after every number. */
#define LAST_TIMESTAMP "9999-12-31 23:59:59.999999"

static const struct st_cli_option options[] = {
  { "for", 0, "DURATION", "stop after DURATION (90s, 10m) instead of at "
                          "Enter" },
  { "host", 0, "HOST", "only flows to this host (exact)" },
  { "url-prefix", 0, "PREFIX", "only flows whose URL starts with PREFIX" },
  { "probe", 'p', "FILE", "flows file the recorder writes (default: "
                          "probe.db in the data folder)" },
  { "force", 'f', NULL, "replace OUT.db when it exists" },
  { NULL, 0, NULL, NULL },
};

static volatile sig_atomic_t stop_requested;


static void on_stop_signal(int sig) {
  stop_requested = 1;
}


/* Waits up to ms for Enter (or end of input) on stdin when watch_stdin is
 * set. Returns 1 when the capture should stop. */
static int wait_for_enter(int watch_stdin, int ms) {
  struct pollfd pfd = { STDIN_FILENO, POLLIN, 0 };
  char buf[256];

  if (!watch_stdin) {
    poll(NULL, 0, ms);
    return 0;
  }
  if (poll(&pfd, 1, ms) <= 0)
    return 0;
  /* A line, or end of input when nobody can press Enter. */
  return read(STDIN_FILENO, buf, sizeof(buf)) >= 0 || errno != EINTR;
}


static int capture_loop(struct st_sample_file *sample,
                        struct st_sample_filter *filter, double seconds,
                        int64_t *total, char *err, size_t errlen) {
  uint64_t deadline = seconds > 0
      ? st_time_mono_ms() + (uint64_t)(seconds * 1000.0) : 0;
  int stop = 0;

  while (!stop) {
    int64_t copied = 0, max_rowid = filter->after_rowid;

    stop = wait_for_enter(seconds <= 0, POLL_MS) || stop_requested ||
           (deadline != 0 && st_time_mono_ms() >= deadline);
    /* Copy once more after the stop, so flows recorded until then count. */
    if (st_sample_file_copy(sample, filter, &copied, &max_rowid, err,
                            errlen) != 0)
      return ST_EDB;
    filter->after_rowid = max_rowid;
    *total += copied;
    if (copied > 0 && isatty(STDERR_FILENO))
      fprintf(stderr, "\r%lld flow%s captured", (long long)*total,
              *total == 1 ? "" : "s");
  }
  if (isatty(STDERR_FILENO))
    fputc('\n', stderr);
  return 0;
}


static int cmd_capture(struct st_cli_args *args) {
  const char *for_text = st_cli_get(args, "for");
  struct st_sample_filter filter = { INT64_MAX, LAST_TIMESTAMP, NULL, NULL,
                                     NULL };
  struct st_sample_file *sample = NULL;
  struct sigaction sa, old_int, old_term;
  char start[ST_TIME_LEN], err[ST_ERRLEN];
  const char *probe, *out;
  struct st_config cfg;
  int64_t copied = 0, max_rowid = 0, total = 0;
  double seconds = 0;
  int rc;

  if (args->positional_count != 1)
    return st_cli_usage_error(args, "give one OUT.db file to write");
  out = args->positional[0];
  if (for_text != NULL &&
      (st__cmd_sample_parse_duration(for_text, &seconds) != 0 ||
       seconds <= 0))
    return st_cli_usage_error(args, "invalid --for '%s'; give a duration "
                              "such as 90s or 10m", for_text);

  rc = st_cli_load_config(args, &cfg);
  if (rc != ST_EXIT_OK)
    goto out;
  probe = st_cli_get(args, "probe") ? st_cli_get(args, "probe")
                                    : cfg.probe_path;
  rc = st__cli_check_files(args, probe, NULL);
  if (rc != ST_EXIT_OK)
    goto out;
  rc = ST_EXIT_FAIL;

  /* The first copy matches nothing (rowid > INT64_MAX, captured after
   * LAST_TIMESTAMP) and only reads where the recorder is now. */
  if (st_sample_file_open(&sample, out, probe,
                          st_cli_get(args, "force") != NULL, err,
                          sizeof(err)) != 0 ||
      st_sample_file_copy(sample, &filter, &copied, &max_rowid, err,
                          sizeof(err)) != 0) {
    fprintf(stderr, "stratosphere capture: %s\n", err);
    goto out;
  }
  st_time_format(st_time_now_us(), start);
  filter.after_rowid = max_rowid;
  filter.captured_from = start;
  filter.host = st_cli_get(args, "host");
  filter.url_prefix = st_cli_get(args, "url-prefix");

  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  if (seconds > 0)
    fprintf(stderr, "capturing new flows from %s for %s\n", probe,
            for_text);
  else
    fprintf(stderr, "capturing new flows from %s; press Enter to stop\n",
            probe);
  rc = capture_loop(sample, &filter, seconds, &total, err, sizeof(err));
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);

  if (rc != 0) {
    fprintf(stderr, "stratosphere capture: %s\n", err);
    rc = ST_EXIT_FAIL;
    goto out;
  }
  rc = ST_EXIT_FAIL;
  if (total == 0) {
    fprintf(stderr, "stratosphere capture: no new flow was recorded in %s; "
                    "nothing saved. Is the recorder running and the browser "
                    "using its proxy (%s)?\n", probe, cfg.proxy_listen);
    goto out;
  }
  if (st_sample_file_close(&sample, 1, err, sizeof(err)) != 0) {
    fprintf(stderr, "stratosphere capture: %s\n", err);
    goto out;
  }
  printf("saved %lld flow%s to %s\n", (long long)total,
         total == 1 ? "" : "s", out);
  rc = ST_EXIT_OK;

out:
  st_sample_file_close(&sample, 0, NULL, 0);
  st_config_cleanup(&cfg);
  return rc;
}


const struct st_cli_command st_cli_cmd_capture = {
  "capture", "[--for DURATION] [--host HOST] [--url-prefix PREFIX] OUT.db",
  "save the flows recorded from now until Enter into a sample file",
  options, cmd_capture, NULL,
};
