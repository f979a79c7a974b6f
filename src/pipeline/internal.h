/* Shared by the files of src/pipeline: loading and validating extractor
 * files, and the prefilter evaluated in C. Pipeline thread only. */
#ifndef ST_PIPELINE_INTERNAL_H
#define ST_PIPELINE_INTERNAL_H

#include <regex.h>
#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "store/flow.h"
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

/* Whether flow passes the prefilter: 1 or 0. */
int st__match_flow(const struct st__match *m, const struct st_flow *flow);

/* Reads the size and mtime of path; returns 0 or a negative errno. */
int st__file_sig_read(const char *path, struct st__file_sig *sig);

#endif
