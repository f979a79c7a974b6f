/* The `kb` Lua module that extractors receive, backed by a struct st_kb:
 *
 *   id = kb.upsert{ type = "google.com/search_query", key = q,
 *                   data = { q = q }, ts = nil, merge = nil }
 *   rid = kb.upsert{ type = "google.com/search_result", src = id,
 *                    dst = result_id, data = { url = u } }
 *   kb.get(id)            -> { id, kind, type, data, ts [, src, dst] } or nil
 *   kb.merge(old, new)    -> the default merge
 *   kb.id(key)            -> md5 hex of key
 *   kb.pair_id(src, dst)  -> md5 hex of src .. dst, the relationship id
 *
 * kb.upsert writes an entity when `key` is given, with the id kb.id(key).
 * It writes a relationship when `src` and `dst` (two ids) are given, with
 * the id kb.pair_id(src, dst), so the type is not part of that id. When no
 * row has the id it inserts one; otherwise it merges:
 *   - type: never changes. A write whose type differs from the stored one
 *     raises an error that names the id, both types and the key (or src
 *     and dst) and writes nothing: keys of two types can give one id.
 *   - ts: the later of the stored ts and the write's, so ts is the last
 *     time the row was seen. The write's ts is the call's `ts`, else the
 *     context's (see st_kblib_flow_ts()), else the current time. A stored
 *     ts that is not a valid time counts as older than any write.
 *   - data: merge(older, newer), where merge is the call's `merge`, else
 *     the context's merge function, else kb.merge. Normally older is the
 *     stored data and newer the call's. When the write's ts is older than
 *     the row's, the call's data is passed as older, so the stored values
 *     win and the write only fills keys the row lacks. The call's data
 *     alone is stored when nothing usable is stored (NULL, not a JSON
 *     object); the stored data is kept when the call gives none. Stored
 *     NaN and infinities (as Python's json.dumps writes them) reach the
 *     merge as cjson.null.
 * kb.merge is shallow: a new table with the keys of both, where a value in
 * new replaces the one in old, except cjson.null, which is stored only
 * where the key has no value yet ("not known" never erases a value).
 *
 * data must be a table with string keys; it is stored as JSON with sorted
 * keys. Nested tables with keys 1..n become arrays and other nested tables
 * objects; an empty table becomes {}. Strings are stored byte for byte,
 * except that each invalid UTF-8 sequence becomes U+FFFD, in data and in
 * the type, so kb.db contains valid UTF-8 only. The id is still the MD5 of
 * the key's exact bytes. The type must not contain a NUL byte or be
 * "null", the type of the NIL rows. An explicit ts must be a valid time
 * (st_kb_valid_ts()). Invalid arguments raise an error that names the
 * field, for example "kb.upsert: field 'type' must be a string, got nil"
 * or "kb.upsert: field 'data.links' contains a cycle (...)".
 *
 * When the context names an extractor, each upsert also records an
 * observation (see st_kb_observe()).
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
  const char *ts;                 /* default ts, a valid time or NULL for
                                   * the current time; the pipeline passes
                                   * st_kblib_flow_ts() */
  const char *extractor;          /* extractor name, for observations; NULL
                                   * records none */
  const char *extractor_version;  /* NULL when the extractor gives none */
  int merge_ref;                  /* registry ref of the extractor's merge
                                   * function, or LUA_NOREF */
};

/* Counts since the first kb table was pushed on the state, or since
 * st_kblib_reset_stats(). "Merged" means the id already had a row. */
struct st_kblib_stats {
  int64_t entities_added;
  int64_t entities_merged;
  int64_t relationships_added;
  int64_t relationships_merged;
};

/* Pushes a `kb` table whose functions write to kb. kb is borrowed and must
 * outlive every call made through the table. Returns 0, or ST_ENOMEM with
 * nothing pushed. */
int st_kblib_push(lua_State *L, struct st_kb *kb);

struct st_flow;

#define ST_KBLIB_FLOW_ID_LEN 32  /* "rowid:", a 64-bit integer and a NUL */

/* Returns the flow id that observations record for flow: its flow_id, or
 * "rowid:N" written into buf when flow_id is empty (NULL in probe.db), N
 * being the flow's rowid, so that such flows stay apart. */
const char *st_kblib_flow_id(const struct st_flow *flow,
                             char buf[ST_KBLIB_FLOW_ID_LEN]);

/* Returns the default ts for writes from flow: the first valid time (see
 * st_kb_valid_ts()) of its capture time, its request start and its
 * response start, else ST_KB_UNKNOWN_TS. The result is borrowed from flow
 * or static, and never depends on the clock, so extracting the same probe
 * twice writes the same rows. */
const char *st_kblib_flow_ts(const struct st_flow *flow);

/* Sets the context for later kb.upsert calls through any kb table on L.
 * Returns 0 or ST_ENOMEM. */
int st_kblib_set_context(lua_State *L, const struct st_kblib_context *ctx);

void st_kblib_get_stats(lua_State *L, struct st_kblib_stats *stats);
void st_kblib_reset_stats(lua_State *L);

/* Opens the module table for require "stratosphere.core.kb": kb.id,
 * kb.pair_id and kb.merge, without a database. */
int luaopen_stratosphere_core_kb(lua_State *L);

#endif
