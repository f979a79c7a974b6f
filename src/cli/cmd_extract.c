/* stratosphere extract: runs extractors once over every flow of a probe
 * file into a knowledge base, and prints a summary. */
#include "cli/cli.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/internal.h"
#include "pipeline/pipeline.h"
#include "util/err.h"
#include "util/time.h"

static const struct st_cli_option options[] = {
  { "probe", 'p', "FILE", "probe file to read, opened read-only "
                          "(default: probe.db in data_dir)" },
  { "kb", 'k', "FILE", "knowledge base to write, created when missing "
                       "(default: kb.db in data_dir)" },
  { NULL, 0, NULL, NULL },
};

/* Terminal progress: at most one update per PROGRESS_MS. */
#define PROGRESS_MS 100

struct progress {
  uint64_t start_ms;
  uint64_t last_ms;
  int shown;
};


static void show_progress(void *ud, int64_t done, int64_t total) {
  struct progress *pr = ud;
  uint64_t now = st_time_mono_ms();

  /* Short runs print nothing: only a run that lasts shows progress. */
  if (now - pr->start_ms < 500 || now - pr->last_ms < PROGRESS_MS)
    return;
  pr->last_ms = now;
  pr->shown = 1;
  fprintf(stderr, "\rextract: %" PRId64 " of %" PRId64 " flows", done,
          total);
  fflush(stderr);
}


/* Prints the summary and returns the number of runs that raised. */
static uint64_t print_summary(const struct st_pipeline_stats *stats,
                              size_t load_failures, double seconds) {
  uint64_t errors = 0;

  printf("flows seen: %" PRIu64 "\n", stats->flows_seen);
  for (size_t i = 0; i < stats->extractor_count; i++) {
    const struct st_pipeline_extractor_stats *x = &stats->extractors[i];

    errors += x->errors;
    if (!x->loaded) {
      printf("extractor %s: not loaded: %s\n", x->file, x->load_error);
      continue;
    }
    printf("extractor %s (%s): %" PRIu64 " flows matched, %" PRIu64
           " errors, %" PRIu64 " declined\n", x->name, x->file, x->matched,
           x->errors, x->declined);
    if (x->errors > 0)
      printf("  last error: %s\n", x->last_error);
    if (x->declined > 0)
      printf("  last declined: %s\n", x->last_declined);
    if (x->suspended)
      printf("  suspended: it exceeded its time budget or memory cap on %d "
             "flows in a row, so its later flows were skipped\n",
             ST_PIPELINE_SUSPEND_AFTER);
  }
  printf("entities: %" PRId64 " added, %" PRId64 " merged\n",
         stats->entities_added, stats->entities_merged);
  printf("relationships: %" PRId64 " added, %" PRId64 " merged\n",
         stats->relationships_added, stats->relationships_merged);
  printf("extractors that failed to load: %zu\n", load_failures);
  printf("errors: %" PRIu64 "\n", errors);
  printf("time: %.3f s\n", seconds);
  return errors;
}


/* Returns 1 when both paths name one existing file, by any links. */
static int same_file(const char *a, const char *b) {
  struct stat sa, sb;

  return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}


/* The run that SIGINT and SIGTERM interrupt; set only while it runs. */
static struct st_pipeline *volatile interrupt_target;


static void on_interrupt(int signum) {
  (void)signum;
  if (interrupt_target != NULL)
    st_pipeline_interrupt(interrupt_target);
}


/* Makes Ctrl-C stop the run after the flow in progress and keep what was
 * written. SA_RESETHAND restores the default action, so a second Ctrl-C
 * ends the process at once. */
static void catch_interrupts(struct st_pipeline *p) {
  struct sigaction sa;

  interrupt_target = p;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = p != NULL ? on_interrupt : SIG_DFL;
  sa.sa_flags = SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}


/* Returns 1 when file looks like a database rather than an extractor: its
 * name ends in .db, .sqlite or .sqlite3, or it starts with SQLite's
 * header. */
static int looks_like_database(const char *file) {
  static const char *const suffixes[] = { ".db", ".sqlite", ".sqlite3" };
  char header[16];
  size_t len = strlen(file);
  struct stat st;
  FILE *f;
  int is_sqlite;

  for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
    size_t n = strlen(suffixes[i]);

    if (len > n && strcmp(file + len - n, suffixes[i]) == 0)
      return 1;
  }
  /* Only regular files are opened: reading a FIFO could block. */
  if (stat(file, &st) != 0 || !S_ISREG(st.st_mode))
    return 0;
  f = fopen(file, "rb");
  if (f == NULL)
    return 0;
  is_sqlite = fread(header, 1, sizeof(header), f) == sizeof(header) &&
              memcmp(header, "SQLite format 3", sizeof(header)) == 0;
  fclose(f);
  return is_sqlite;
}


static int cmd_extract(struct st_cli_args *args) {
  struct st_pipeline_options opts;
  struct st_pipeline_stats stats;
  struct st_pipeline *p = NULL;
  struct progress pr = { 0, 0, 0 };
  struct st_config cfg;
  char err[ST_ERRLEN];
  const char *probe, *kb;
  uint64_t errors = 0;
  size_t failures;
  int rc;

  /* "extract FILE.db" is a common slip for "extract --probe FILE.db". */
  for (size_t i = 0; i < args->positional_count; i++) {
    if (looks_like_database(args->positional[i]))
      return st_cli_usage_error(args, "'%s' looks like a database, not "
                                "an extractor; to read its flows, give "
                                "--probe %s", args->positional[i],
                                args->positional[i]);
  }

  rc = st_cli_load_config(args, &cfg);
  if (rc != ST_EXIT_OK) {
    st_config_cleanup(&cfg);
    return rc;
  }
  probe = st_cli_get(args, "probe") ? st_cli_get(args, "probe")
                                    : cfg.probe_path;
  kb = st_cli_get(args, "kb") ? st_cli_get(args, "kb") : cfg.kb_path;
  rc = st__cli_check_files(args, probe, kb);
  if (rc == ST_EXIT_OK && same_file(probe, kb))
    rc = st_cli_usage_error(args, "--probe and --kb name the same file, "
                            "%s; the probe is only read, so give the "
                            "knowledge base a file of its own", kb);
  if (rc != ST_EXIT_OK) {
    st_config_cleanup(&cfg);
    return rc;
  }

  /* Checked here so that the message names the option; the store would
   * refuse the file anyway, and never creates one. */
  if (access(probe, R_OK) != 0) {
    fprintf(stderr, "stratosphere extract: probe file %s not found or not "
                    "readable; pass an existing file with --probe FILE\n",
            probe);
    st_config_cleanup(&cfg);
    return ST_EXIT_FAIL;
  }

  /* The probe is read-only here: no pruning, no vacuum, no cursor. */
  st_pipeline_defaults(&opts, &cfg);
  opts.probe_path = probe;
  opts.kb_path = kb;
  opts.probe_readonly = 1;
  opts.retention = 0;
  opts.vacuum_threshold = 0;
  if (args->positional_count > 0) {
    opts.extractor_files = args->positional;
    opts.extractor_file_count = args->positional_count;
  }

  rc = st_pipeline_new(&p, &opts, err, sizeof(err));
  if (rc != 0) {
    fprintf(stderr, "stratosphere extract: %s\n", err);
    st_config_cleanup(&cfg);
    return ST_EXIT_FAIL;
  }
  if (st_pipeline_get_stats(p, &stats) == 0 && stats.extractor_count == 0) {
    fprintf(stderr, "stratosphere extract: no extractors: %s has no .lua "
                    "files; name files as arguments or add them there\n",
            cfg.extractor_dir);
    st_pipeline_stats_cleanup(&stats);
    st_pipeline_free(&p);
    st_config_cleanup(&cfg);
    return ST_EXIT_FAIL;
  }
  st_pipeline_stats_cleanup(&stats);
  failures = st_pipeline_load_failures(p);

  pr.start_ms = st_time_mono_ms();
  catch_interrupts(p);
  rc = st_pipeline_run_all(p, isatty(STDERR_FILENO) ? show_progress : NULL,
                           &pr, err, sizeof(err));
  catch_interrupts(NULL);
  if (pr.shown)
    fprintf(stderr, "\r\033[K");
  if (rc != 0)
    fprintf(stderr, "stratosphere extract: %s\n", err);

  if (st_pipeline_get_stats(p, &stats) == 0) {
    errors = print_summary(&stats, failures,
                           (double)(st_time_mono_ms() - pr.start_ms) /
                               1000.0);
    st_pipeline_stats_cleanup(&stats);
  }
  st_pipeline_free(&p);
  st_config_cleanup(&cfg);
  if (rc == ST_ECLOSED)
    return ST_EXIT_INTERRUPTED;
  /* A declined flow is a normal result of an extractor, not a failure. */
  return rc != 0 || failures > 0 || errors > 0 ? ST_EXIT_FAIL : ST_EXIT_OK;
}


const struct st_cli_command st_cli_cmd_extract = {
  "extract", "[--probe FILE] [--kb FILE] [EXTRACTOR.lua ...]",
  "run extractors once over every flow of a probe file into a knowledge "
  "base (default extractors: every .lua file in the extractor folder)",
  options, cmd_extract,
  "The summary gives, per extractor, the flows it matched, the runs that\n"
  "raised (errors) and the flows it declined with return nil, \"reason\",\n"
  "with the last error and the last reason.\n\n"
  "exit status:\n"
  "  0  every extractor loaded and none raised on any flow\n"
  "  1  an extractor failed to load or raised on a flow (the others still\n"
  "     ran over every flow), or a database could not be used: damaged,\n"
  "     locked, a folder, or a probe file without a flows table\n"
  "  2  invalid option or configuration, or a database (FILE.db) given\n"
  "     where extractors are expected: use --probe FILE.db\n"
  "  130  interrupted by Ctrl-C or SIGTERM after the flow in progress; what\n"
  "     the extractors wrote from the flows before it is saved\n",
};
