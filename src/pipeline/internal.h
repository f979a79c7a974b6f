/* Shared by the files of src/pipeline: loading and validating extractor
 * files, the prefilter evaluated in C, and the thread that reads flows
 * ahead of the extractors. Loading runs on the pipeline thread only. */
#ifndef ST_PIPELINE_INTERNAL_H
#define ST_PIPELINE_INTERNAL_H

#include <regex.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "script/htmllib.h"
#include "store/flow.h"
#include "store/store.h"
#include "util/err.h"

/* The `match` table of an extractor. Each list that is non-empty must
 * match (any of its items); an absent field matches every flow. */
struct st__match {
  char **methods;          /* exact, case-sensitive */
  size_t method_count;
  char **url_prefixes;
  size_t url_prefix_count;
  char **url_pattern_texts;  /* as written in the file */
  size_t url_pattern_text_count;
  regex_t *url_patterns;   /* compiled, POSIX extended, searched in the
                            * URL */
  size_t url_pattern_count;
  char **content_types;    /* substrings of the response content type,
                            * case-insensitive */
  size_t content_type_count;
};

/* Size and modification time of a file, to notice edits. */
struct st__file_sig {
  int64_t size;
  int64_t mtime_ns;
};

/* One loaded version of an extractor file. */
struct st__extractor_code {
  char *name;
  char *version;           /* NULL when the file gives none */
  int extract_ref;         /* registry refs, LUA_NOREF when unset */
  int merge_ref;
  struct st__match match;
};

/* Loads path into L, a sandboxed state, with an environment of its own
 * (st_script_push_env()). It compiles the file as text, then runs the
 * chunk and validates the table it returns, both within budget_s seconds
 * (0: no budget). On success fills code (the caller releases it with
 * st__extractor_code_cleanup()) and returns 0; otherwise returns ST_ELUA
 * or ST_EINVAL with one line in err that names the file and the bad
 * field, and code holds nothing. */
int st__extractor_load(lua_State *L, const char *path, double budget_s,
                       struct st__extractor_code *code, char *err,
                       size_t errlen);

void st__extractor_code_cleanup(lua_State *L,
                                struct st__extractor_code *code);

/* Whether flow passes the prefilter: 1 or 0. Pure, so the reader thread
 * may call it while the pipeline thread does. */
int st__match_flow(const struct st__match *m, const struct st_flow *flow);

/* Reads the size and mtime of path; returns 0 or a negative errno. */
int st__file_sig_read(const char *path, struct st__file_sig *sig);

/* ---- reading flows ahead (ahead.c) ---- */

/* An extractor as the reader thread sees it during one scan. */
struct st__ahead_extractor {
  const struct st__match *match;  /* unchanged until the scan ends */
  int new_only;                   /* runs only on flows above the cursor */
  atomic_int *parse_ahead;        /* nonzero: parse its HTML pages ahead;
                                   * the pipeline thread may clear it */
};

/* A flow read ahead. */
struct st__ahead_item {
  struct st_flow flow;          /* owns its strings, which follow the item */
  struct st_htmllib_page page;  /* the response body parsed as HTML, for
                                 * st_htmllib_offer(); page.tree.output is
                                 * NULL when it was not parsed */
  size_t bytes;                 /* size of the flow copy and the tree */
};

struct st__ahead;

/* Starts a thread that scans store with filter in rowid order and queues
 * a copy of each flow. It parses the response body of a flow when one of
 * the extractors that will run on it (new_only ones only above cursor)
 * passes its prefilter and has parse_ahead set, with memory_limit bytes
 * at most (0: no limit). The queue is bounded, so the thread waits for
 * st__ahead_next(). store belongs to the thread until st__ahead_finish().
 * Returns 0 and sets *out, or a negative code with a message in err. */
int st__ahead_start(struct st__ahead **out, struct st_store *store,
                    const struct st_store_filter *filter,
                    const struct st__ahead_extractor *extractors,
                    size_t extractor_count, int64_t cursor,
                    size_t memory_limit, char *err, size_t errlen);

/* Waits for the next flow, in rowid order. Returns it (the caller frees
 * it with st__ahead_item_free()), or NULL when the scan has ended. */
struct st__ahead_item *st__ahead_next(struct st__ahead *a);

void st__ahead_item_free(struct st__ahead_item *item);

/* Stops the thread if it still runs, waits for it, frees what it queued
 * and the reader, and sets *a to NULL. Returns 0, or the negative code of
 * a failed scan with its message in err. */
int st__ahead_finish(struct st__ahead **a, char *err, size_t errlen);

#endif
