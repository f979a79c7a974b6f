/* The pipeline: runs Lua extractors over recorded flows into the knowledge
 * base.
 *
 * A struct st_pipeline owns one sandboxed lua_State, one probe.db
 * connection and one kb.db connection. Each extractor file runs in an
 * environment of its own within that state and gets a read-only kb table,
 * so no extractor can change what another reads. It is used in two
 * ways:
 *
 *  - st_pipeline_start() runs it on its own thread: every interval
 *    seconds it reloads changed extractor files, runs the extractors over
 *    flows newer than a cursor kept in kb.db, then prunes old flows and
 *    applies the vacuum policy. Nothing it does blocks the caller's
 *    thread. st_pipeline_get_stats() is safe from any thread.
 *  - st_pipeline_new() and st_pipeline_run_all() run the extractors once
 *    over every flow in the calling thread (`stratosphere extract`).
 *
 * During a scan a second thread reads the flows from probe.db and parses
 * the HTML pages that extractors will read, a bounded number of flows
 * ahead. An extractor's html.parse() of such a page takes that tree, so
 * the parse runs on another core. The tree is the one its own parse
 * would build.
 *
 * Each cycle is one kb.db transaction, with a savepoint per flow and
 * extractor. An extractor that raises an error, exceeds its time budget
 * or runs out of memory costs only that flow: its writes for the flow are
 * rolled back, and the error is counted and logged. One that exceeds its
 * budget or the memory cap on ST_PIPELINE_SUSPEND_AFTER flows in a row is
 * suspended until its file changes, so that it cannot hold back the
 * others. A file that fails to load, or whose loading exceeds the time
 * budget, is reported and its previous version, if any, keeps running. */
#ifndef ST_PIPELINE_H
#define ST_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "cli/config.h"
#include "util/err.h"

/* kb.db meta keys. The cursor is the largest probe.db rowid processed. It
 * applies only while the probe's identity equals the value stored under
 * ST_PIPELINE_META_PROBE, so a different probe.db starts from its first
 * flow. */
#define ST_PIPELINE_META_CURSOR "pipeline.cursor"
#define ST_PIPELINE_META_PROBE "pipeline.probe_identity"

/* Runs in a row that exceed the time budget or the memory cap after which
 * an extractor is suspended until its file changes. */
#define ST_PIPELINE_SUSPEND_AFTER 5

struct st_pipeline;

struct st_pipeline_options {
  const char *probe_path;
  const char *kb_path;

  /* Extractors: the files listed, or else every *.lua in extractor_dir
   * (rescanned each cycle, so added and removed files are noticed). */
  const char *const *extractor_files;
  size_t extractor_file_count;
  const char *extractor_dir;

  double interval;         /* seconds between cycles (service) */
  double budget;           /* seconds of Lua time per flow and extractor;
                            * 0 means none */
  size_t memory_limit;     /* bytes the Lua state may hold; 0 means none */

  double retention;        /* seconds flows are kept; 0 disables pruning */
  int64_t vacuum_threshold;  /* bytes of free pages that trigger VACUUM;
                              * 0 disables vacuuming */
  double vacuum_interval;  /* seconds between two VACUUMs at least */

  /* Open probe.db read-only and neither prune nor vacuum it. */
  int probe_readonly;
};

/* Counters of one extractor file. */
struct st_pipeline_extractor_stats {
  char name[64];
  char file[1024];
  char version[32];        /* "" when the extractor gives none */
  int loaded;              /* a version of the file is running */
  char load_error[ST_ERRLEN];  /* why the file on disk did not load, or "" */
  uint64_t matched;        /* flows that passed its prefilter */
  uint64_t errors;         /* runs that raised, timed out or ran out of
                            * memory (their writes were rolled back) */
  uint64_t declined;       /* runs that returned nil, "reason" */
  uint64_t pages_taken;    /* runs that took the page the reader thread
                            * had parsed ahead instead of parsing it */
  int suspended;           /* skipped after ST_PIPELINE_SUSPEND_AFTER runs
                            * in a row over budget or memory, until its
                            * file changes */
  char last_declined[ST_ERRLEN];  /* "flow ID: reason" of the last run
                                   * that declined, or "" */
  char last_error[ST_ERRLEN];
  int64_t last_run_us;     /* wall clock of its last run, 0 if none */
};

/* A snapshot; release it with st_pipeline_stats_cleanup(). */
struct st_pipeline_stats {
  uint64_t cycles;
  uint64_t flows_seen;     /* flows scanned, counting re-runs */
  int64_t cursor;          /* largest probe.db rowid processed */
  int64_t entities_added;
  int64_t entities_merged;
  int64_t relationships_added;
  int64_t relationships_merged;
  uint64_t flows_pruned;
  int64_t last_cycle_us;   /* wall clock when the last cycle ended */
  double last_cycle_s;     /* its duration */
  char last_error[ST_ERRLEN];  /* the last cycle-level failure, or "" */
  struct st_pipeline_extractor_stats *extractors;
  size_t extractor_count;
};

/* Fills opts from the configuration: probe.db and kb.db in data_dir, the
 * extractor folder, interval, budget, memory cap, retention and vacuum
 * policy. The strings point into cfg. */
void st_pipeline_defaults(struct st_pipeline_options *opts,
                          const struct st_config *cfg);

/* Progress of st_pipeline_run_all(): done of total flows scanned. */
typedef void (*st_pipeline_progress_cb)(void *ud, int64_t done,
                                        int64_t total);

/* Opens probe.db (which must exist), kb.db (created if missing) and the
 * Lua state, and loads the extractors. A file that fails to load is
 * counted in the stats and logged, not returned as an error. Returns 0
 * and sets *out, or a negative code with a message in err. The caller
 * frees it with st_pipeline_free(). opts and its strings are copied. */
int st_pipeline_new(struct st_pipeline **out,
                    const struct st_pipeline_options *opts, char *err,
                    size_t errlen);

/* Frees the pipeline, rolling back an unfinished cycle, and sets *p to
 * NULL; accepts NULL. Not for a pipeline made by st_pipeline_start(). */
void st_pipeline_free(struct st_pipeline **p);

/* Number of extractor files that failed to load on their last change. */
size_t st_pipeline_load_failures(struct st_pipeline *p);

/* Runs the loaded extractors once over every flow in probe.db, in rowid
 * order, in one kb.db transaction, without reading or moving the cursor.
 * progress may be NULL. Returns 0 or a negative code for a failure of the
 * databases (extractor errors are only counted). */
int st_pipeline_run_all(struct st_pipeline *p, st_pipeline_progress_cb
                        progress, void *ud, char *err, size_t errlen);

/* Makes a running st_pipeline_run_all() stop after the flow in progress,
 * commit what was written and return ST_ECLOSED. Async-signal-safe (one
 * lock-free atomic store), for a SIGINT handler. */
void st_pipeline_interrupt(struct st_pipeline *p);

/* Runs one cycle in the calling thread: reloads changed extractors, runs
 * them over flows newer than the cursor (a reloaded one also over the
 * older flows probe.db still holds), moves the cursor, then prunes and
 * vacuums. Returns 0 or a negative code. */
int st_pipeline_cycle(struct st_pipeline *p, char *err, size_t errlen);

/* st_pipeline_new() and a thread that runs st_pipeline_cycle() now and
 * then every opts->interval seconds. */
int st_pipeline_start(struct st_pipeline **out,
                      const struct st_pipeline_options *opts, char *err,
                      size_t errlen);

/* Makes the thread run a cycle now instead of at the end of its interval.
 * Callable from any thread. */
void st_pipeline_wake(struct st_pipeline *p);

/* Asks the thread to stop, waits for it and frees the pipeline; sets *p to
 * NULL and accepts NULL. A cycle in progress stops after the current flow
 * and commits the flows done so far. Call from the thread that started
 * it. */
void st_pipeline_stop(struct st_pipeline **p);

/* Fills stats with a copy of the counters. Callable from any thread.
 * Returns 0 or ST_ENOMEM. */
int st_pipeline_get_stats(struct st_pipeline *p,
                          struct st_pipeline_stats *stats);

void st_pipeline_stats_cleanup(struct st_pipeline_stats *stats);

#endif
