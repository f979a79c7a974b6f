/* The pipeline: extractor files in, knowledge base rows out. See
 * pipeline.h for the contract; this file has the cycle, the per-flow
 * error isolation, the reload logic and the thread. */
#include "pipeline/pipeline.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "kb/kb.h"
#include "pipeline/internal.h"
#include "script/flowlib.h"
#include "script/kblib.h"
#include "script/script.h"
#include "store/store.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/time.h"

#define LOG "pipeline"

/* Flows between two progress callbacks of st_pipeline_run_all(). */
#define PROGRESS_EVERY 256

/* st_store_scan() returns the callback's nonzero value: this one means a
 * stop was requested, any negative value is a failure. */
#define SCAN_STOPPED 1

/* An extractor that leaves this many pages parsed ahead for it in a row
 * reads them some other way, or not at all. Its pages are then no longer
 * parsed ahead, until its file changes. */
#define PARSE_AHEAD_MISSES 8

/* kb.db meta key prefix for the file signature of the extractor version
 * that has run over every flow up to the cursor. */
#define META_EXTRACTOR "pipeline.extractor."

struct extractor {
  char *path;
  struct st__extractor_code code;  /* the running version */
  int loaded;                      /* code is valid */
  struct st__file_sig seen;        /* the last version tried */
  int seen_valid;
  int present;                     /* found by the last file scan */
  int rerun;                       /* run over flows <= cursor next cycle */
  char sig_text[48];               /* "size:mtime_ns" of the running code */
  uint64_t cycle_errors;           /* errors in the current cycle */
  int costly_failures;             /* budget or memory failures in a row */
  int suspended;                   /* skipped until its file changes */
  atomic_int parse_ahead;          /* the reader parses its pages ahead */
  int ahead_misses;                /* runs in a row that left the page */
  struct st_pipeline_extractor_stats stats;  /* under p->lock */
};

struct st_pipeline {
  struct st_pipeline_options opts;  /* strings point into the copies below */
  char *probe_path, *kb_path, *extractor_dir;
  char **files;

  lua_State *L;
  struct st_store *store;
  struct st_kb *kb;
  int kb_ref;                       /* registry ref of the kb table */
  int dir_warned;                   /* the missing folder was logged */

  struct extractor *extractors;
  size_t extractor_count;

  pthread_mutex_t lock;             /* guards stats and extractors' stats */
  struct st_pipeline_stats stats;   /* extractors field unused here */

  pthread_t thread;
  int thread_started;
  pthread_cond_t cond;              /* signalled on stop and wake */
  atomic_int stop;
  int wake;                         /* under lock */
};

/* State of one scan over the flows. */
struct scan {
  struct st_pipeline *p;
  int64_t cursor;         /* flows above it are new to every extractor */
  int64_t last_rowid;     /* largest rowid handled */
  int64_t done, total;
  st_pipeline_progress_cb progress;
  void *progress_ud;
  struct st_kblib_stats added;  /* counts of the writes kept */
  struct st_htmllib_page *page;  /* the current flow's page parsed ahead,
                                  * or NULL */
  int rc;                 /* a database failure inside the callback */
  char *err;
  size_t errlen;
};


/* ---- small helpers ---------------------------------------------------- */

/* Copies s into out, truncated to len - 1 bytes; NULL copies "". */
static void copy_text(char *out, size_t len, const char *s) {
  size_t n = s ? strlen(s) : 0;

  if (n >= len)
    n = len - 1;
  if (n > 0)
    memcpy(out, s, n);
  out[n] = '\0';
}


/* Returns the first line of a Lua error message, without the traceback
 * that st_script_pcall() appends. */
static void first_line(char *out, size_t len, const char *message) {
  size_t n = strcspn(message ? message : "", "\n");

  if (n >= len)
    n = len - 1;
  memcpy(out, message ? message : "", n);
  out[n] = '\0';
}


static void add_stats(struct st_kblib_stats *sum,
                      const struct st_kblib_stats *after,
                      const struct st_kblib_stats *before) {
  sum->entities_added += after->entities_added - before->entities_added;
  sum->entities_merged += after->entities_merged - before->entities_merged;
  sum->relationships_added +=
    after->relationships_added - before->relationships_added;
  sum->relationships_merged +=
    after->relationships_merged - before->relationships_merged;
}


static int compare_paths(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}


/* ---- extractor files -------------------------------------------------- */

static void free_list(char **items, size_t n) {
  for (size_t i = 0; i < n; i++)
    st_free(items[i]);
  st_free(items);
}


/* Sets *out to the sorted paths of the *.lua files in dir, or of the
 * files listed in the options. Returns 0, ST_ENOMEM, or -errno when the
 * folder cannot be read. */
static int list_files(struct st_pipeline *p, char ***out, size_t *count) {
  char **paths = NULL;
  size_t n = 0, cap = 0;
  DIR *dir;
  struct dirent *entry;

  *out = NULL;
  *count = 0;
  if (p->files != NULL) {
    paths = st_calloc(p->opts.extractor_file_count + 1, sizeof(char *));
    if (paths == NULL)
      return ST_ENOMEM;
    for (n = 0; n < p->opts.extractor_file_count; n++) {
      paths[n] = st_strdup(p->files[n]);
      if (paths[n] == NULL) {
        free_list(paths, n);
        return ST_ENOMEM;
      }
    }
    *out = paths;
    *count = n;
    return 0;
  }

  dir = opendir(p->extractor_dir);
  if (dir == NULL)
    return -errno;
  while ((entry = readdir(dir)) != NULL) {
    size_t len = strlen(entry->d_name);
    char *path;

    if (len < 5 || strcmp(entry->d_name + len - 4, ".lua") != 0 ||
        entry->d_name[0] == '.')
      continue;
    if (n == cap) {
      char **grown = st_realloc(paths, (cap ? cap * 2 : 16) * sizeof(*paths));
      if (grown == NULL)
        goto nomem;
      paths = grown;
      cap = cap ? cap * 2 : 16;
    }
    path = st_malloc(strlen(p->extractor_dir) + len + 2);
    if (path == NULL)
      goto nomem;
    sprintf(path, "%s/%s", p->extractor_dir, entry->d_name);
    paths[n++] = path;
  }
  closedir(dir);
  if (n > 0)
    qsort(paths, n, sizeof(*paths), compare_paths);
  *out = paths;
  *count = n;
  return 0;

nomem:
  closedir(dir);
  free_list(paths, n);
  return ST_ENOMEM;
}


static struct extractor *find_by_path(struct st_pipeline *p,
                                      const char *path) {
  for (size_t i = 0; i < p->extractor_count; i++) {
    if (strcmp(p->extractors[i].path, path) == 0)
      return &p->extractors[i];
  }
  return NULL;
}


/* Appends an unloaded extractor for path. The array moves, so this holds
 * the lock that st_pipeline_get_stats() reads it under. */
static struct extractor *add_extractor(struct st_pipeline *p,
                                       const char *path) {
  struct extractor *grown, *x = NULL;
  char *copy = st_strdup(path);

  if (copy == NULL)
    return NULL;
  pthread_mutex_lock(&p->lock);
  grown = st_realloc(p->extractors,
                     (p->extractor_count + 1) * sizeof(*grown));
  if (grown != NULL) {
    p->extractors = grown;
    x = &grown[p->extractor_count++];
    memset(x, 0, sizeof(*x));
    x->path = copy;
    x->code.extract_ref = LUA_NOREF;
    x->code.merge_ref = LUA_NOREF;
    copy_text(x->stats.file, sizeof(x->stats.file), path);
  }
  pthread_mutex_unlock(&p->lock);
  if (x == NULL)
    st_free(copy);
  return x;
}


static void remove_absent(struct st_pipeline *p) {
  size_t kept = 0;

  pthread_mutex_lock(&p->lock);
  for (size_t i = 0; i < p->extractor_count; i++) {
    struct extractor *x = &p->extractors[i];

    if (x->present) {
      p->extractors[kept++] = *x;
      continue;
    }
    st_log_info(LOG, "extractor=%s file=%s: file removed, no longer run",
                x->loaded ? x->code.name : "-", x->path);
    st__extractor_code_cleanup(p->L, &x->code);
    st_free(x->path);
  }
  p->extractor_count = kept;
  pthread_mutex_unlock(&p->lock);
}


/* Returns the extractor other than self whose running code is named
 * name, or NULL. */
static struct extractor *find_by_name(struct st_pipeline *p,
                                      const struct extractor *self,
                                      const char *name) {
  for (size_t i = 0; i < p->extractor_count; i++) {
    struct extractor *x = &p->extractors[i];
    if (x != self && x->loaded && strcmp(x->code.name, name) == 0)
      return x;
  }
  return NULL;
}


/* Decides whether a newly loaded version must run over the flows below
 * the cursor: unless kb.db records that this very file version already
 * did. */
static int needs_rerun(struct st_pipeline *p, struct extractor *x) {
  char key[128], err[ST_ERRLEN];
  char *stored = NULL;
  int rerun = 1;

  snprintf(key, sizeof(key), META_EXTRACTOR "%s", x->code.name);
  if (st_kb_meta_get(p->kb, key, &stored, err, sizeof(err)) == 0 &&
      stored != NULL && strcmp(stored, x->sig_text) == 0)
    rerun = 0;
  st_free(stored);
  return rerun;
}


static void load_failed(struct st_pipeline *p, struct extractor *x,
                        const char *message) {
  if (x->loaded)
    st_log_warn(LOG, "extractor=%s file=%s: %s; the previous version keeps "
                "running", x->code.name, x->path, message);
  else
    st_log_warn(LOG, "file=%s: %s; the extractor does not run until the "
                "file is fixed", x->path, message);
  pthread_mutex_lock(&p->lock);
  copy_text(x->stats.load_error, sizeof(x->stats.load_error), message);
  pthread_mutex_unlock(&p->lock);
}


/* Loads x->path, which changed to sig, and swaps it in on success. */
static void load_extractor(struct st_pipeline *p, struct extractor *x,
                           const struct st__file_sig *sig) {
  struct st__extractor_code code;
  struct extractor *other;
  char err[ST_ERRLEN];

  if (st__extractor_load(p->L, x->path, p->opts.budget, &code, err,
                         sizeof(err)) != 0) {
    load_failed(p, x, err);
    return;
  }
  other = find_by_name(p, x, code.name);
  if (other != NULL) {
    snprintf(err, sizeof(err), "%s: name '%s' is already used by %s; set "
             "a different `name` in one of the files", x->path, code.name,
             other->path);
    st__extractor_code_cleanup(p->L, &code);
    load_failed(p, x, err);
    return;
  }

  pthread_mutex_lock(&p->lock);
  st__extractor_code_cleanup(p->L, &x->code);
  x->code = code;
  x->loaded = 1;
  x->costly_failures = 0;
  x->suspended = 0;
  atomic_store(&x->parse_ahead, 1);
  x->ahead_misses = 0;
  x->stats.suspended = 0;
  snprintf(x->sig_text, sizeof(x->sig_text), "%" PRId64 ":%" PRId64,
           sig->size, sig->mtime_ns);
  copy_text(x->stats.name, sizeof(x->stats.name), code.name);
  copy_text(x->stats.version, sizeof(x->stats.version), code.version);
  x->stats.loaded = 1;
  x->stats.load_error[0] = '\0';
  pthread_mutex_unlock(&p->lock);
  x->rerun = needs_rerun(p, x);
  st_log_info(LOG, "extractor=%s file=%s: loaded%s%s", code.name, x->path,
              code.version ? ", version " : "",
              code.version ? code.version : "");
}


/* Loads new files and files whose size or mtime changed, and drops
 * extractors whose file is gone. */
static void reload(struct st_pipeline *p) {
  char **paths = NULL;
  size_t count = 0;
  int rc = list_files(p, &paths, &count);

  if (rc != 0) {
    if (!p->dir_warned)
      st_log_warn(LOG, "extractor folder %s cannot be read: %s; no "
                  "extractor runs until it exists", p->extractor_dir,
                  st_strerror(rc));
    p->dir_warned = 1;
    return;  /* keep what runs; the folder may come back */
  }
  p->dir_warned = 0;

  for (size_t i = 0; i < p->extractor_count; i++)
    p->extractors[i].present = 0;
  for (size_t i = 0; i < count; i++) {
    struct extractor *x = find_by_path(p, paths[i]);
    struct st__file_sig sig;
    char err[ST_ERRLEN];

    if (x == NULL)
      x = add_extractor(p, paths[i]);
    if (x == NULL) {
      st_log_error(LOG, "file=%s: out of memory", paths[i]);
      continue;
    }
    x->present = 1;
    rc = st__file_sig_read(x->path, &sig);
    if (rc != 0) {
      if (!x->seen_valid && x->stats.load_error[0] == '\0') {
        snprintf(err, sizeof(err), "%s: cannot read the file: %s", x->path,
                 st_strerror(rc));
        load_failed(p, x, err);
      }
      continue;
    }
    if (x->seen_valid && sig.size == x->seen.size &&
        sig.mtime_ns == x->seen.mtime_ns)
      continue;
    x->seen = sig;
    x->seen_valid = 1;
    load_extractor(p, x, &sig);
  }
  free_list(paths, count);
  remove_absent(p);
}


/* ---- running one extractor on one flow ------------------------------- */

static void record_error(struct st_pipeline *p, struct extractor *x,
                         const struct st_flow *flow, const char *message) {
  char line[ST_ERRLEN], full[ST_ERRLEN + 64];

  first_line(line, sizeof(line), message);
  x->cycle_errors++;
  /* The first error of an extractor in a cycle is logged in full. The
   * rest go to debug level, and the cycle ends with a count. */
  if (x->cycle_errors == 1)
    st_log_warn(LOG, "extractor=%s file=%s flow=%s rowid=%" PRId64 ": %s; "
                "its writes for this flow were rolled back", x->code.name,
                x->path, flow->id, flow->rowid, line);
  else
    st_log_debug(LOG, "extractor=%s file=%s flow=%s rowid=%" PRId64 ": %s",
                 x->code.name, x->path, flow->id, flow->rowid, line);
  st_log_debug(LOG, "extractor=%s flow=%s: %s", x->code.name, flow->id,
               message);

  snprintf(full, sizeof(full), "flow %s: %s", flow->id, line);
  pthread_mutex_lock(&p->lock);
  x->stats.errors++;
  copy_text(x->stats.last_error, sizeof(x->stats.last_error), full);
  pthread_mutex_unlock(&p->lock);
}


/* Counts a run that ended by exceeding the time budget or the memory cap,
 * or resets the count after any other outcome. Such runs cost the whole
 * budget or an allocation of the whole cap each, so an extractor that
 * fails this way on every flow would hold back every other extractor;
 * after ST_PIPELINE_SUSPEND_AFTER of them in a row it is suspended until
 * its file changes. */
static void note_cost(struct st_pipeline *p, struct extractor *x,
                      int costly) {
  if (!costly) {
    x->costly_failures = 0;
    return;
  }
  if (++x->costly_failures < ST_PIPELINE_SUSPEND_AFTER)
    return;
  x->suspended = 1;
  atomic_store(&x->parse_ahead, 0);
  pthread_mutex_lock(&p->lock);
  x->stats.suspended = 1;
  pthread_mutex_unlock(&p->lock);
  st_log_warn(LOG, "extractor=%s file=%s: exceeded its time budget or "
              "memory cap on %d flows in a row; suspended until the file "
              "changes", x->code.name, x->path, ST_PIPELINE_SUSPEND_AFTER);
}


/* Calls x's extract(flow copy, kb) inside a savepoint. The flow table is
 * at index flow_idx. Returns 0, or a negative code when kb.db failed. */
static int run_extractor(struct scan *s, struct extractor *x,
                         const struct st_flow *flow, int flow_idx) {
  struct st_pipeline *p = s->p;
  lua_State *L = p->L;
  int top = lua_gettop(L);
  char flow_id[ST_KBLIB_FLOW_ID_LEN];
  struct st_kblib_context ctx = {
    .flow_id = st_kblib_flow_id(flow, flow_id),
    .ts = st_kblib_flow_ts(flow),
    .extractor = x->code.name,
    .extractor_version = x->code.version,
    .merge_ref = x->code.merge_ref,
  };
  struct st_kblib_stats before, after;
  char context[96], reason[ST_ERRLEN];
  int rc, status, declined = 0;

  rc = st_kb_savepoint(p->kb, s->err, s->errlen);
  if (rc != 0)
    return rc;

  lua_rawgeti(L, LUA_REGISTRYINDEX, x->code.extract_ref);
  if (st_flowlib_copy(L, flow_idx) != 0 ||
      st_kblib_set_context(L, &ctx) != 0) {
    lua_settop(L, top);
    st_kb_rollback_to(p->kb);
    record_error(p, x, flow, "not enough memory to prepare the flow table");
    lua_gc(L, LUA_GCCOLLECT);
    return 0;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, p->kb_ref);  /* stack: fn, flow, kb */

  snprintf(context, sizeof(context), "extractor=%s flow=%s", x->code.name,
           flow->id);
  st_script_set_context(L, context);
  st_kblib_get_stats(L, &before);
  if (p->opts.budget > 0)
    st_script_budget_begin(L, p->opts.budget);
  status = st_script_pcall(L, 2, LUA_MULTRET);
  if (p->opts.budget > 0)
    st_script_budget_end(L);
  st_script_set_context(L, NULL);
  st_kblib_get_stats(L, &after);

  if (status != LUA_OK) {
    st_kb_rollback_to(p->kb);
    record_error(p, x, flow, lua_tostring(L, -1));
    lua_settop(L, top);
    if (status == LUA_ERRMEM)
      lua_gc(L, LUA_GCCOLLECT);
    note_cost(p, x, status == LUA_ERRMEM ||
                    (p->opts.budget > 0 && st_script_budget_expired(L)));
    return 0;
  }
  note_cost(p, x, 0);

  /* `return nil, "reason"` declines the flow; any other return, or none,
   * is success. Writes made before declining are kept. */
  if (lua_gettop(L) >= top + 2 && !lua_toboolean(L, top + 1) &&
      !lua_isnil(L, top + 2)) {
    declined = 1;
    /* luaL_tolstring would run a __tostring metamethod here, outside
     * pcall and the time budget. */
    if (lua_type(L, top + 2) == LUA_TSTRING ||
        lua_type(L, top + 2) == LUA_TNUMBER)
      snprintf(reason, sizeof(reason), "flow %s: %s", flow->id,
               lua_tostring(L, top + 2));
    else
      snprintf(reason, sizeof(reason), "flow %s: (a %s given as the "
               "reason; return nil and a string)", flow->id,
               luaL_typename(L, top + 2));
    st_log_debug(LOG, "extractor=%s %s: declined", x->code.name, reason);
  }
  lua_settop(L, top);
  rc = st_kb_release(p->kb, s->err, s->errlen);
  if (rc != 0)
    return rc;
  add_stats(&s->added, &after, &before);
  if (declined) {
    pthread_mutex_lock(&p->lock);
    x->stats.declined++;
    copy_text(x->stats.last_declined, sizeof(x->stats.last_declined),
              reason);
    pthread_mutex_unlock(&p->lock);
  }
  return 0;
}


/* Counts whether x took the page parsed ahead for this flow, which was
 * there for it to take. */
static void note_page_use(struct st_pipeline *p, struct extractor *x,
                          const struct st_htmllib_page *page) {
  if (page->taken) {
    x->ahead_misses = 0;
    pthread_mutex_lock(&p->lock);
    x->stats.pages_taken++;
    pthread_mutex_unlock(&p->lock);
    return;
  }
  if (++x->ahead_misses >= PARSE_AHEAD_MISSES)
    atomic_store(&x->parse_ahead, 0);
}


/* Runs every extractor that applies to flow. */
static int on_flow(struct scan *s, const struct st_flow *flow) {
  struct st_pipeline *p = s->p;
  struct st_htmllib_page *page = s->page;
  int is_new = flow->rowid > s->cursor;
  int flow_idx = 0;
  int64_t now = 0;
  int rc = 0;

  if (atomic_load(&p->stop))
    return SCAN_STOPPED;

  st_htmllib_offer(p->L, page);
  for (size_t i = 0; i < p->extractor_count; i++) {
    struct extractor *x = &p->extractors[i];
    int page_available;

    if (!x->loaded || x->suspended || (!is_new && !x->rerun) ||
        !st__match_flow(&x->code.match, flow))
      continue;

    if (now == 0)
      now = st_time_now_us();
    pthread_mutex_lock(&p->lock);
    x->stats.matched++;
    x->stats.last_run_us = now;
    pthread_mutex_unlock(&p->lock);

    /* One flow table per flow, built only when an extractor matches;
     * each extractor gets its own copy of it. */
    if (flow_idx == 0) {
      if (st_flowlib_push(p->L, flow) != 0) {
        record_error(p, x, flow, "not enough memory to build the flow "
                                 "table");
        lua_gc(p->L, LUA_GCCOLLECT);
        continue;
      }
      flow_idx = lua_gettop(p->L);
    }

    page_available = page != NULL && !page->taken;
    rc = run_extractor(s, x, flow, flow_idx);
    if (page_available)
      note_page_use(p, x, page);
    if (rc != 0) {
      s->rc = rc;
      break;
    }
  }
  st_htmllib_offer(p->L, NULL);
  if (flow_idx != 0)
    lua_settop(p->L, flow_idx - 1);
  if (rc != 0)
    return rc;

  s->last_rowid = flow->rowid;
  s->done++;
  pthread_mutex_lock(&p->lock);
  p->stats.flows_seen++;
  pthread_mutex_unlock(&p->lock);
  if (s->progress != NULL && s->done % PROGRESS_EVERY == 0)
    s->progress(s->progress_ud, s->done, s->total);
  return 0;
}


/* Logs how many more errors each extractor had in the cycle. */
static void log_error_counts(struct st_pipeline *p) {
  for (size_t i = 0; i < p->extractor_count; i++) {
    struct extractor *x = &p->extractors[i];

    if (x->cycle_errors > 1)
      st_log_warn(LOG, "extractor=%s file=%s: %" PRIu64 " flows failed in "
                  "this run; the first error is logged above, the others "
                  "at debug level", x->code.name, x->path, x->cycle_errors);
    x->cycle_errors = 0;
  }
}


static void add_totals(struct st_pipeline *p,
                       const struct st_kblib_stats *added) {
  pthread_mutex_lock(&p->lock);
  p->stats.entities_added += added->entities_added;
  p->stats.entities_merged += added->entities_merged;
  p->stats.relationships_added += added->relationships_added;
  p->stats.relationships_merged += added->relationships_merged;
  pthread_mutex_unlock(&p->lock);
}


/* Scans flows with rowid in (after, max_rowid] (max_rowid 0: all). A
 * reader thread reads them from probe.db and parses their pages ahead
 * (ahead.c), and this thread runs the extractors on each in rowid order.
 * Returns 0, SCAN_STOPPED, or a negative code with a message in s->err. */
static int scan_flows(struct scan *s, int64_t after, int64_t max_rowid) {
  struct st_pipeline *p = s->p;
  struct st__ahead_extractor *runnable;
  struct st__ahead_item *item;
  struct st__ahead *ahead = NULL;
  struct st_store_filter filter;
  size_t n = 0;
  int rc = 0;

  memset(&filter, 0, sizeof(filter));
  filter.after_rowid = after;
  filter.max_rowid = max_rowid;

  runnable = st_calloc(p->extractor_count + 1, sizeof(*runnable));
  if (runnable == NULL)
    return st_seterr(s->err, s->errlen, ST_ENOMEM, "out of memory");
  for (size_t i = 0; i < p->extractor_count; i++) {
    struct extractor *x = &p->extractors[i];

    if (!x->loaded || x->suspended)
      continue;
    runnable[n].match = &x->code.match;
    runnable[n].new_only = !x->rerun;
    runnable[n].parse_ahead = &x->parse_ahead;
    n++;
  }
  rc = st__ahead_start(&ahead, p->store, &filter, runnable, n, s->cursor,
                       p->opts.memory_limit, s->err, s->errlen);
  st_free(runnable);
  if (rc != 0)
    return rc;

  while (rc == 0 && (item = st__ahead_next(ahead)) != NULL) {
    s->page = item->page.tree.output != NULL ? &item->page : NULL;
    rc = on_flow(s, &item->flow);
    s->page = NULL;
    st__ahead_item_free(item);
  }
  /* A failure of the extractors' side keeps its own message in s->err. */
  if (rc != 0)
    st__ahead_finish(&ahead, NULL, 0);
  else
    rc = st__ahead_finish(&ahead, s->err, s->errlen);
  return rc;
}


/* ---- construction ---------------------------------------------------- */

void st_pipeline_defaults(struct st_pipeline_options *opts,
                          const struct st_config *cfg) {
  memset(opts, 0, sizeof(*opts));
  opts->probe_path = cfg->probe_path;
  opts->kb_path = cfg->kb_path;
  opts->extractor_dir = cfg->extractor_dir;
  opts->interval = cfg->pipeline_interval;
  opts->budget = cfg->extractor_budget;
  opts->memory_limit = (size_t)cfg->extractor_memory;
  opts->retention = cfg->retention;
  opts->vacuum_threshold = cfg->vacuum_threshold;
  opts->vacuum_interval = cfg->vacuum_interval;
}


static int copy_options(struct st_pipeline *p,
                        const struct st_pipeline_options *opts) {
  p->opts = *opts;
  p->probe_path = st_strdup(opts->probe_path);
  p->kb_path = st_strdup(opts->kb_path);
  p->extractor_dir = st_strdup(opts->extractor_dir ? opts->extractor_dir
                                                   : ".");
  if (p->probe_path == NULL || p->kb_path == NULL ||
      p->extractor_dir == NULL)
    return ST_ENOMEM;
  p->opts.probe_path = p->probe_path;
  p->opts.kb_path = p->kb_path;
  p->opts.extractor_dir = p->extractor_dir;

  if (opts->extractor_files != NULL) {
    p->files = st_calloc(opts->extractor_file_count + 1, sizeof(char *));
    if (p->files == NULL)
      return ST_ENOMEM;
    for (size_t i = 0; i < opts->extractor_file_count; i++) {
      p->files[i] = st_strdup(opts->extractor_files[i]);
      if (p->files[i] == NULL)
        return ST_ENOMEM;
    }
    p->opts.extractor_files = (const char *const *)p->files;
  }
  return 0;
}


static int open_lua(struct st_pipeline *p, char *err, size_t errlen) {
  struct st_script_options sopts = {
    .libs = ST_SCRIPT_SANDBOX,
    .memory_limit = p->opts.memory_limit,
    .component = LOG,
  };

  p->L = st_script_new(&sopts, err, errlen);
  if (p->L == NULL)
    return ST_ENOMEM;
  if (st_kblib_push(p->L, p->kb) != 0)
    return st_seterr(err, errlen, ST_ENOMEM, "out of memory creating the "
                     "kb table");
  /* Extractors share one kb table, so they get a read-only view of it,
   * and none can replace kb.upsert for the others. */
  int rc = st_script_push_readonly(p->L, -1);

  lua_remove(p->L, rc == 0 ? -2 : -1);
  if (rc != 0)
    return st_seterr(err, errlen, ST_ENOMEM, "out of memory creating the "
                     "kb table");
  p->kb_ref = luaL_ref(p->L, LUA_REGISTRYINDEX);
  if (st_htmllib_enable_offers(p->L) != 0)
    return st_seterr(err, errlen, ST_ENOMEM, "out of memory preparing the "
                     "HTML parser");
  return 0;
}


int st_pipeline_new(struct st_pipeline **out,
                    const struct st_pipeline_options *opts, char *err,
                    size_t errlen) {
  struct st_pipeline *p = st_calloc(1, sizeof(*p));
  int rc;

  *out = NULL;
  if (p == NULL)
    return st_seterr(err, errlen, ST_ENOMEM, "out of memory");
  pthread_mutex_init(&p->lock, NULL);
  {
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cond, &attr);
    pthread_condattr_destroy(&attr);
  }
  p->kb_ref = LUA_NOREF;

  rc = copy_options(p, opts);
  if (rc != 0) {
    st_seterr(err, errlen, rc, "out of memory");
    goto fail;
  }
  /* Read-only opening never creates a file, and read-write opening
   * without ST_STORE_CREATE does not either: a mistyped path is an
   * error, never a new empty probe.db. */
  rc = st_store_open(&p->store, p->probe_path,
                     opts->probe_readonly ? ST_STORE_READONLY : 0, err,
                     errlen);
  if (rc != 0)
    goto fail;
  rc = st_kb_open(&p->kb, p->kb_path, 0, err, errlen);
  if (rc != 0)
    goto fail;
  rc = open_lua(p, err, errlen);
  if (rc != 0)
    goto fail;

  reload(p);
  *out = p;
  return 0;

fail:
  st_pipeline_free(&p);
  return rc;
}


void st_pipeline_free(struct st_pipeline **pp) {
  struct st_pipeline *p;

  if (pp == NULL || *pp == NULL)
    return;
  p = *pp;
  for (size_t i = 0; i < p->extractor_count; i++) {
    st__extractor_code_cleanup(p->L, &p->extractors[i].code);
    st_free(p->extractors[i].path);
  }
  st_free(p->extractors);
  st_script_free(&p->L);
  if (p->kb != NULL)
    st_kb_rollback(p->kb);
  st_kb_close(&p->kb);
  st_store_close(&p->store);
  st_free(p->probe_path);
  st_free(p->kb_path);
  st_free(p->extractor_dir);
  if (p->files != NULL)
    free_list(p->files, p->opts.extractor_file_count);
  pthread_cond_destroy(&p->cond);
  pthread_mutex_destroy(&p->lock);
  st_free(p);
  *pp = NULL;
}


size_t st_pipeline_load_failures(struct st_pipeline *p) {
  size_t n = 0;

  pthread_mutex_lock(&p->lock);
  for (size_t i = 0; i < p->extractor_count; i++)
    n += p->extractors[i].stats.load_error[0] != '\0';
  pthread_mutex_unlock(&p->lock);
  return n;
}


/* ---- running ---------------------------------------------------------- */

int st_pipeline_run_all(struct st_pipeline *p, st_pipeline_progress_cb
                        progress, void *ud, char *err, size_t errlen) {
  struct scan s;
  int64_t max_rowid = 0;
  int interrupted;
  int rc;

  memset(&s, 0, sizeof(s));
  s.p = p;
  s.progress = progress;
  s.progress_ud = ud;
  s.err = err;
  s.errlen = errlen;
  rc = st_store_stats(p->store, &s.total, &max_rowid, err, errlen);
  if (rc != 0)
    return rc;

  rc = st_kb_begin(p->kb, err, errlen);
  if (rc != 0)
    return rc;
  rc = scan_flows(&s, 0, max_rowid);
  /* An interrupted scan stops between two flows, after the last one's
   * savepoint was released, so what it wrote is whole and is kept. */
  interrupted = rc == SCAN_STOPPED;
  if (rc == 0 || interrupted)
    rc = st_kb_commit(p->kb, err, errlen);
  if (rc != 0) {
    st_kb_rollback(p->kb);
    log_error_counts(p);
    return rc;
  }
  log_error_counts(p);
  add_totals(p, &s.added);
  if (progress != NULL)
    progress(ud, s.done, s.total);
  if (interrupted)
    return st_seterr(err, errlen, ST_ECLOSED, "interrupted after %lld of "
                     "%lld flows; what the extractors wrote from those is "
                     "saved", (long long)s.done, (long long)s.total);
  return 0;
}


void st_pipeline_interrupt(struct st_pipeline *p) {
  atomic_store(&p->stop, 1);
}


/* Sets *cursor to the stored cursor, or 0 when there is none or it was
 * kept for a probe.db with another identity. */
static int read_cursor(struct st_pipeline *p, const char *identity,
                       int64_t *cursor, char *err, size_t errlen) {
  char *stored_identity = NULL, *stored_cursor = NULL;
  int rc;

  *cursor = 0;
  rc = st_kb_meta_get(p->kb, ST_PIPELINE_META_PROBE, &stored_identity, err,
                      errlen);
  if (rc == 0)
    rc = st_kb_meta_get(p->kb, ST_PIPELINE_META_CURSOR, &stored_cursor,
                        err, errlen);
  if (rc == 0 && stored_identity != NULL && stored_cursor != NULL &&
      strcmp(stored_identity, identity) == 0)
    *cursor = strtoll(stored_cursor, NULL, 10);
  else if (rc == 0 && stored_identity != NULL)
    st_log_info(LOG, "probe.db %s has identity %s, the cursor was kept for "
                "%s: starting from its first flow", p->probe_path, identity,
                stored_identity);
  st_free(stored_identity);
  st_free(stored_cursor);
  return rc;
}


/* Stores the cursor, the probe's identity and, for each extractor that has
 * now run over every flow up to the cursor, its file signature. complete:
 * the scan covered every flow, re-runs included. */
static int write_progress(struct st_pipeline *p, const char *identity,
                          int64_t cursor, int complete, char *err,
                          size_t errlen) {
  char text[32], key[128];
  int rc;

  snprintf(text, sizeof(text), "%" PRId64, cursor);
  rc = st_kb_meta_set(p->kb, ST_PIPELINE_META_CURSOR, text, err, errlen);
  if (rc == 0)
    rc = st_kb_meta_set(p->kb, ST_PIPELINE_META_PROBE, identity, err,
                        errlen);
  for (size_t i = 0; rc == 0 && i < p->extractor_count; i++) {
    struct extractor *x = &p->extractors[i];

    if (!x->loaded || (x->rerun && !complete))
      continue;
    snprintf(key, sizeof(key), META_EXTRACTOR "%s", x->code.name);
    rc = st_kb_meta_set(p->kb, key, x->sig_text, err, errlen);
  }
  return rc;
}


/* Prunes flows older than the retention and applies the vacuum policy.
 * Failures are logged: the next cycle tries again. */
static void maintain_store(struct st_pipeline *p) {
  char err[ST_ERRLEN];
  int64_t deleted = 0;
  int vacuumed = 0;

  if (p->opts.probe_readonly)
    return;
  if (p->opts.retention > 0) {
    if (st_store_prune(p->store, p->opts.retention, &deleted, err,
                       sizeof(err)) != 0)
      st_log_warn(LOG, "pruning flows older than %.0f s failed: %s",
                  p->opts.retention, err);
    else if (deleted > 0)
      st_log_info(LOG, "pruned %" PRId64 " flows older than %.0f s",
                  deleted, p->opts.retention);
    pthread_mutex_lock(&p->lock);
    p->stats.flows_pruned += (uint64_t)deleted;
    pthread_mutex_unlock(&p->lock);
  }
  if (p->opts.vacuum_threshold > 0) {
    if (st_store_maybe_vacuum(p->store, p->opts.vacuum_threshold,
                              p->opts.vacuum_interval, &vacuumed, err,
                              sizeof(err)) != 0)
      st_log_warn(LOG, "vacuuming %s failed: %s", p->probe_path, err);
    else if (vacuumed)
      st_log_info(LOG, "vacuumed %s", p->probe_path);
  }
}


static int any_rerun(struct st_pipeline *p) {
  for (size_t i = 0; i < p->extractor_count; i++) {
    if (p->extractors[i].loaded && p->extractors[i].rerun)
      return 1;
  }
  return 0;
}


static void finish_cycle(struct st_pipeline *p, const struct scan *s,
                         int64_t cursor, uint64_t start_ms,
                         const char *error) {
  double seconds = (double)(st_time_mono_ms() - start_ms) / 1000.0;

  pthread_mutex_lock(&p->lock);
  p->stats.cycles++;
  p->stats.cursor = cursor;
  p->stats.last_cycle_us = st_time_now_us();
  p->stats.last_cycle_s = seconds;
  copy_text(p->stats.last_error, sizeof(p->stats.last_error), error);
  pthread_mutex_unlock(&p->lock);

  if (error == NULL && s->done > 0)
    st_log_info(LOG, "%" PRId64 " flows in %.3f s: entities %" PRId64
                " added, %" PRId64 " merged; relationships %" PRId64
                " added, %" PRId64 " merged; cursor %" PRId64, s->done,
                seconds, s->added.entities_added, s->added.entities_merged,
                s->added.relationships_added,
                s->added.relationships_merged, cursor);
}


/* Runs the scan of one cycle inside the open transaction and stores the
 * new cursor. Sets *cursor_out. Returns 0, SCAN_STOPPED (flows done so
 * far are kept), or a negative code. */
static int cycle_scan(struct scan *s, const char *identity,
                      int64_t *cursor_out) {
  struct st_pipeline *p = s->p;
  int64_t cursor = 0, count = 0, max_rowid = 0, after;
  int rc, stopped = 0;

  rc = read_cursor(p, identity, &cursor, s->err, s->errlen);
  if (rc == 0)
    rc = st_store_stats(p->store, &count, &max_rowid, s->err, s->errlen);
  if (rc != 0)
    return rc;
  *cursor_out = cursor;
  s->cursor = cursor;
  s->total = count;

  /* max_rowid bounds the scan, so flows the writer commits meanwhile wait
   * for the next cycle instead of moving the cursor past unseen rows. */
  after = any_rerun(p) ? 0 : cursor;
  if (max_rowid > after) {
    rc = scan_flows(s, after, max_rowid);
    if (rc < 0)
      return rc;
    stopped = rc == SCAN_STOPPED;
  }

  if (stopped) {
    if (s->last_rowid > cursor)
      cursor = s->last_rowid;
  } else if (max_rowid > cursor) {
    cursor = max_rowid;
  }
  *cursor_out = cursor;
  rc = write_progress(p, identity, cursor, !stopped, s->err, s->errlen);
  return rc != 0 ? rc : (stopped ? SCAN_STOPPED : 0);
}


int st_pipeline_cycle(struct st_pipeline *p, char *err, size_t errlen) {
  uint64_t start_ms = st_time_mono_ms();
  char identity[ST_FLOW_ID_LEN];
  struct scan s;
  int64_t cursor = 0;
  int rc;

  memset(&s, 0, sizeof(s));
  s.p = p;
  s.err = err;
  s.errlen = errlen;

  reload(p);
  rc = st_store_identity(p->store, identity, err, errlen);
  if (rc == 0)
    rc = st_kb_begin(p->kb, err, errlen);
  if (rc != 0) {
    finish_cycle(p, &s, cursor, start_ms, err);
    return rc;
  }

  rc = cycle_scan(&s, identity, &cursor);
  if (rc >= 0)
    rc = st_kb_commit(p->kb, err, errlen) == 0 ? rc : ST_EDB;
  log_error_counts(p);
  if (rc < 0) {
    /* Nothing of the cycle is kept and the cursor did not move, so the
     * next cycle runs the same flows again. */
    st_kb_rollback(p->kb);
    finish_cycle(p, &s, cursor, start_ms, err);
    return rc;
  }

  /* Re-runs are done once a complete scan is committed. */
  if (rc != SCAN_STOPPED) {
    for (size_t i = 0; i < p->extractor_count; i++)
      p->extractors[i].rerun = 0;
  }

  add_totals(p, &s.added);
  finish_cycle(p, &s, cursor, start_ms, NULL);
  if (rc != SCAN_STOPPED)
    maintain_store(p);
  return 0;
}


/* ---- the thread ------------------------------------------------------- */

/* A cycle that keeps failing, as on a full disk, is logged the first time
 * and then summarized at most once a minute, as the writer does. */
#define FAILURE_REPORT_MS (60 * 1000)

struct failure_log {
  uint64_t failed;    /* cycles failed in a row */
  uint64_t unlogged;  /* of those, not in a log line yet */
  uint64_t last_ms;   /* st_time_mono_ms() of the last line */
};


static void note_cycle(struct st_pipeline *p, struct failure_log *f, int rc,
                       const char *err) {
  uint64_t now = st_time_mono_ms();

  if (rc == 0) {
    if (f->failed > 0)
      st_log_info(LOG, "cycles succeed again after %llu failed",
                  (unsigned long long)f->failed);
    memset(f, 0, sizeof(*f));
    return;
  }
  f->failed++;
  if (f->failed == 1) {
    st_log_error(LOG, "cycle failed: %s; retrying every %.1f s, further "
                 "failures are summarized every %d s", err, p->opts.interval,
                 FAILURE_REPORT_MS / 1000);
    f->last_ms = now;
    return;
  }
  f->unlogged++;
  if (now - f->last_ms >= FAILURE_REPORT_MS) {
    st_log_error(LOG, "%llu more cycles failed since the last report: %s",
                 (unsigned long long)f->unlogged, err);
    f->unlogged = 0;
    f->last_ms = now;
  }
}


static void *thread_main(void *arg) {
  struct st_pipeline *p = arg;
  struct failure_log failures = { 0, 0, 0 };

  st_log_info(LOG, "started: every %.1f s, extractors from %s, kb %s",
              p->opts.interval,
              p->files ? "the listed files" : p->extractor_dir, p->kb_path);
  while (!atomic_load(&p->stop)) {
    char err[ST_ERRLEN] = "";
    struct timespec deadline;
    uint64_t wait_ms = (uint64_t)(p->opts.interval * 1000.0);

    note_cycle(p, &failures, st_pipeline_cycle(p, err, sizeof(err)), err);

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += (time_t)(wait_ms / 1000);
    deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
      deadline.tv_sec++;
      deadline.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&p->lock);
    while (!atomic_load(&p->stop) && !p->wake) {
      if (pthread_cond_timedwait(&p->cond, &p->lock, &deadline) ==
          ETIMEDOUT)
        break;
    }
    p->wake = 0;
    pthread_mutex_unlock(&p->lock);
  }
  st_log_info(LOG, "stopped");
  return NULL;
}


int st_pipeline_start(struct st_pipeline **out,
                      const struct st_pipeline_options *opts, char *err,
                      size_t errlen) {
  struct st_pipeline *p;
  int rc = st_pipeline_new(&p, opts, err, errlen);

  *out = NULL;
  if (rc != 0)
    return rc;
  rc = pthread_create(&p->thread, NULL, thread_main, p);
  if (rc != 0) {
    st_pipeline_free(&p);
    return st_seterr(err, errlen, -rc, "starting the pipeline thread "
                     "failed: %s", strerror(rc));
  }
  p->thread_started = 1;
  *out = p;
  return 0;
}


void st_pipeline_wake(struct st_pipeline *p) {
  pthread_mutex_lock(&p->lock);
  p->wake = 1;
  pthread_cond_signal(&p->cond);
  pthread_mutex_unlock(&p->lock);
}


void st_pipeline_stop(struct st_pipeline **pp) {
  struct st_pipeline *p;

  if (pp == NULL || *pp == NULL)
    return;
  p = *pp;
  if (p->thread_started) {
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->stop, 1);
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    p->thread_started = 0;
  }
  st_pipeline_free(pp);
}


/* ---- stats ------------------------------------------------------------ */

int st_pipeline_get_stats(struct st_pipeline *p,
                          struct st_pipeline_stats *stats) {
  int rc = 0;

  pthread_mutex_lock(&p->lock);
  *stats = p->stats;
  stats->extractors = NULL;
  stats->extractor_count = 0;
  if (p->extractor_count > 0) {
    stats->extractors = st_calloc(p->extractor_count,
                                  sizeof(*stats->extractors));
    if (stats->extractors == NULL) {
      rc = ST_ENOMEM;
    } else {
      for (size_t i = 0; i < p->extractor_count; i++)
        stats->extractors[i] = p->extractors[i].stats;
      stats->extractor_count = p->extractor_count;
    }
  }
  pthread_mutex_unlock(&p->lock);
  return rc;
}


void st_pipeline_stats_cleanup(struct st_pipeline_stats *stats) {
  if (stats == NULL)
    return;
  st_free(stats->extractors);
  stats->extractors = NULL;
  stats->extractor_count = 0;
}
