/* The `kb` Lua module that extractors receive: kb.upsert, kb.merge, kb.id,
 * kb.pair_id, backed by a struct st_kb.
 *
 * Used from the thread that owns the lua_State (the pipeline's, or the
 * REPL's). */
#ifndef ST_KBLIB_H
#define ST_KBLIB_H

#include <stdint.h>

#include <lua.h>

#include "kb/kb.h"

/* Provenance and defaults for the kb.upsert calls that follow. Strings are
 * borrowed and must stay valid until the next st_kblib_set_context(). */
struct st_kblib_context {
  const char *flow_id;            /* NULL outside the pipeline */
  const char *ts;                 /* default ts: the flow's capture time */
  const char *extractor;          /* extractor name, for observations */
  const char *extractor_version;  /* NULL when the extractor gives none */
  int merge_ref;                  /* registry ref of the extractor's merge
                                   * function, or LUA_NOREF */
};

/* Counts since the kb table was pushed. */
struct st_kblib_stats {
  int64_t entities_added;
  int64_t entities_merged;
  int64_t relationships_added;
  int64_t relationships_merged;
};

/* Pushes a `kb` table whose functions write to kb. kb is borrowed and must
 * outlive every call made through the table. Returns 0 or ST_ENOMEM. */
int st_kblib_push(lua_State *L, struct st_kb *kb);

/* Sets the context for later kb.upsert calls through any kb table on L. */
void st_kblib_set_context(lua_State *L, const struct st_kblib_context *ctx);

void st_kblib_get_stats(lua_State *L, struct st_kblib_stats *stats);

/* Opens the module table for require "stratosphere.core.kb": kb.id,
 * kb.pair_id and kb.merge, without a database. */
int luaopen_stratosphere_core_kb(lua_State *L);

#endif
