/* Tests for src/script/kblib.c: the kb table that extractors receive,
 * driven from Lua chunks in a plain lua_State over an in-memory kb.db. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua-cjson.h>
#include <lualib.h>
#include <sqlite3.h>

#include "kb/kb.h"
#include "script/kblib.h"
#include "test.h"
#include "util/err.h"

static struct st_kb *kb;
static lua_State *L;


/* A fresh state with the standard libraries, cjson, and a global `kb`
 * over a fresh in-memory knowledge base. */
static int setup(void) {
  char err[ST_ERRLEN];

  if (st_kb_open(&kb, ":memory:", 0, err, sizeof(err)) != 0) {
    fprintf(stderr, "%s\n", err);
    return -1;
  }
  L = luaL_newstate();
  luaL_openlibs(L);
  luaL_requiref(L, "cjson", luaopen_cjson, 0);
  lua_pop(L, 1);
  luaL_requiref(L, "stratosphere.core.kb", luaopen_stratosphere_core_kb, 0);
  lua_pop(L, 1);
  if (st_kblib_push(L, kb) != 0)
    return -1;
  lua_setglobal(L, "kb");
  return 0;
}


static void teardown(void) {
  lua_close(L);
  L = NULL;
  st_kb_close(&kb);
}


/* Runs chunk; returns NULL on success or the error message. */
static const char *run(const char *chunk) {
  static char message[1024];

  if (luaL_dostring(L, chunk) == LUA_OK) {
    lua_settop(L, 0);
    return NULL;
  }
  snprintf(message, sizeof(message), "%s", lua_tostring(L, -1));
  lua_settop(L, 0);
  return message;
}


static char *query_text(const char *sql) {
  sqlite3_stmt *stmt = NULL;
  char *out = NULL;

  if (sqlite3_prepare_v2(st_kb_db(kb), sql, -1, &stmt, NULL) != SQLITE_OK)
    return NULL;
  if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0))
    out = strdup((const char *)sqlite3_column_text(stmt, 0));
  sqlite3_finalize(stmt);
  return out;
}


#define ASSERT_RUNS(chunk)                                              \
  do {                                                                  \
    const char *m_ = run(chunk);                                        \
    if (m_ != NULL)                                                     \
      FAIL_AT("chunk failed: %s", m_);                                  \
  } while (0)

/* The chunk must fail with a message containing pattern. */
#define ASSERT_RAISES(pattern, chunk)                                   \
  do {                                                                  \
    const char *m_ = run(chunk);                                        \
    if (m_ == NULL)                                                     \
      FAIL_AT("chunk did not fail: %s", chunk);                         \
    if (strstr(m_, pattern) == NULL)                                    \
      FAIL_AT("expected an error containing \"%s\", got \"%s\"",       \
              pattern, m_);                                             \
  } while (0)

#define ASSERT_SQL(expected, sql)                                       \
  do {                                                                  \
    char *v_ = query_text(sql);                                         \
    if (v_ == NULL || strcmp(v_, expected) != 0) {                      \
      char copy_[512];                                                  \
      snprintf(copy_, sizeof(copy_), "%s", v_ ? v_ : "(null)");         \
      free(v_);                                                         \
      FAIL_AT("%s: expected \"%s\", got \"%s\"", sql, expected,        \
              copy_);                                                   \
    }                                                                   \
    free(v_);                                                           \
  } while (0)


TEST(kblib_upsert_entity_returns_md5) {
  ASSERT_RUNS(
    "local id = kb.upsert{ type = 'google.com/search_query',\n"
    "  key = 'who owns bellingcat', data = { q = 'who owns bellingcat' },\n"
    "  ts = '2023-04-09 14:15:03.030518' }\n"
    "assert(id == 'a58bd87f985da4bd22052175d76df893', id)\n"
    "assert(id == kb.id('who owns bellingcat'))\n"
    "local e = kb.get(id)\n"
    "assert(e.kind == 'entity')\n"
    "assert(e.type == 'google.com/search_query')\n"
    "assert(e.data.q == 'who owns bellingcat')\n"
    "assert(e.ts == '2023-04-09 14:15:03.030518')\n");
  ASSERT_SQL("{\"q\":\"who owns bellingcat\"}",
             "SELECT data FROM entities WHERE id = "
             "'a58bd87f985da4bd22052175d76df893'");
}


TEST(kblib_relationship_id_is_pair_id) {
  ASSERT_RUNS(
    "local q = kb.upsert{ type = 'g/q', key = 'who owns bellingcat' }\n"
    "local r = kb.upsert{ type = 'g/r',\n"
    "  key = 'https://en.wikipedia.org/wiki/Eliot_Higgins#Bellingcat' }\n"
    "local rid = kb.upsert{ type = 'google.com/search_result', src = q,\n"
    "  dst = r, data = { text = 'Bellingcat' } }\n"
    "assert(rid == '0f993e7a7df02372dd2ab4c1283a423c', rid)\n"
    "assert(rid == kb.pair_id(q, r))\n"
    "local rel = kb.get(rid)\n"
    "assert(rel.kind == 'relationship')\n"
    "assert(rel.src == q and rel.dst == r)\n"
    "assert(rel.data.text == 'Bellingcat')\n"
    "assert(kb.get(kb.id('nothing')) == nil)\n");
}


TEST(kblib_merge_keeps_both_keys) {
  ASSERT_RUNS(
    "local cjson = require 'cjson'\n"
    "local id = kb.upsert{ type = 't', key = 'k',\n"
    "  data = { a = 1, b = 'old', c = 'kept', n = cjson.null } }\n"
    "kb.upsert{ type = 't', key = 'k',\n"
    "  data = { b = 'new', c = cjson.null, d = cjson.null, n = 5 } }\n"
    "local d = kb.get(id).data\n"
    "assert(d.a == 1, 'a')\n"
    "assert(d.b == 'new', 'b')\n"
    "assert(d.c == 'kept', 'null does not replace a value')\n"
    "assert(d.d == cjson.null, 'null is stored for a new key')\n"
    "assert(d.n == 5, 'a value replaces null')\n");
  ASSERT_SQL("{\"a\":1,\"b\":\"new\",\"c\":\"kept\",\"d\":null,\"n\":5}",
             "SELECT data FROM entities WHERE type = 't'");
  ASSERT_SQL("2", "SELECT count(*) FROM entities");
}


TEST(kblib_no_data_keeps_stored) {
  ASSERT_RUNS(
    "local id = kb.upsert{ type = 't', key = 'k', data = { a = 1 } }\n"
    "kb.upsert{ type = 't', key = 'k' }\n"
    "assert(kb.get(id).data.a == 1)\n"
    "local bare = kb.upsert{ type = 't', key = 'bare' }\n"
    "assert(kb.get(bare).data == nil)\n");
}


TEST(kblib_ts_is_latest_seen) {
  ASSERT_RUNS(
    "local id = kb.upsert{ type = 't', key = 'k',\n"
    "  ts = '2023-04-09 14:15:03.030518' }\n"
    "kb.upsert{ type = 't', key = 'k', ts = '2023-01-01 00:00:00.000000' }\n"
    "assert(kb.get(id).ts == '2023-04-09 14:15:03.030518')\n"
    "kb.upsert{ type = 't', key = 'k', ts = '2024-01-01 00:00:00.000001' }\n"
    "assert(kb.get(id).ts == '2024-01-01 00:00:00.000001')\n");
}


TEST(kblib_context_sets_ts_and_observes) {
  struct st_kblib_context ctx = {
    .flow_id = "0796103bc662486f84f8d9e663564222",
    .ts = "2023-04-09 14:15:03.030518",
    .extractor = "google_search",
    .extractor_version = "3",
    .merge_ref = LUA_NOREF,
  };
  char first[ST_TIME_LEN], last[ST_TIME_LEN], err[ST_ERRLEN];
  int64_t count = 0;

  ASSERT_INT_EQ(0, st_kblib_set_context(L, &ctx));
  ASSERT_RUNS("kb.upsert{ type = 't', key = 'k' }\n"
              "kb.upsert{ type = 't', key = 'k' }\n");
  ASSERT_SQL("2023-04-09 14:15:03.030518",
             "SELECT ts FROM entities WHERE type = 't'");
  ASSERT_SQL("1", "SELECT count(*) FROM observations");
  ASSERT_SQL("entity|0796103bc662486f84f8d9e663564222|google_search|3",
             "SELECT kind || '|' || flow_id || '|' || extractor || '|' || "
             "extractor_version FROM observations");

  ctx.flow_id = "19a1fb02013147e1a9b4866961af4283";
  ctx.ts = "2023-04-09 14:14:55.292337";
  ASSERT_INT_EQ(0, st_kblib_set_context(L, &ctx));
  ASSERT_RUNS("kb.upsert{ type = 't', key = 'k' }\n");
  ASSERT_INT_EQ(0, st_kb_seen(kb, "8ce4b16b22b58894aa86c421e8759df3", first,
                              last, &count, err, sizeof(err)));
  ASSERT_INT_EQ(2, count);
  ASSERT_STR_EQ("2023-04-09 14:14:55.292337", first);
  ASSERT_STR_EQ("2023-04-09 14:15:03.030518", last);
  /* The row keeps the later ts. */
  ASSERT_SQL("2023-04-09 14:15:03.030518",
             "SELECT ts FROM entities WHERE type = 't'");

  /* Without an extractor nothing is observed. */
  ctx.extractor = NULL;
  ASSERT_INT_EQ(0, st_kblib_set_context(L, &ctx));
  ASSERT_RUNS("kb.upsert{ type = 't', key = 'other' }\n");
  ASSERT_SQL("2", "SELECT count(*) FROM observations");
}


TEST(kblib_custom_merge_functions) {
  struct st_kblib_context ctx = { .merge_ref = LUA_NOREF };

  /* Per call. */
  ASSERT_RUNS(
    "local function count(old, new)\n"
    "  return { n = (old.n or 0) + new.n }\n"
    "end\n"
    "local id = kb.upsert{ type = 't', key = 'c', data = { n = 1 } }\n"
    "kb.upsert{ type = 't', key = 'c', data = { n = 1 }, merge = count }\n"
    "kb.upsert{ type = 't', key = 'c', data = { n = 1 }, merge = count }\n"
    "assert(kb.get(id).data.n == 3, kb.get(id).data.n)\n");

  /* From the context, as an extractor's `merge` field. */
  ASSERT(luaL_dostring(L, "return function(old, new)\n"
                          "  return { first = old.first or new.first }\n"
                          "end") == LUA_OK);
  ctx.merge_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  ASSERT_INT_EQ(0, st_kblib_set_context(L, &ctx));
  ASSERT_RUNS(
    "local id = kb.upsert{ type = 't', key = 'f', data = { first = 1 } }\n"
    "kb.upsert{ type = 't', key = 'f', data = { first = 2 } }\n"
    "assert(kb.get(id).data.first == 1)\n"
    "kb.upsert{ type = 't', key = 'f', data = { first = 3 },\n"
    "  merge = kb.merge }\n"
    "assert(kb.get(id).data.first == 3, 'the call overrides the context')\n");

  ASSERT_RAISES("merge function returned nil",
    "kb.upsert{ type = 't', key = 'f', data = { x = 1 },\n"
    "  merge = function() end }\n");
  luaL_unref(L, LUA_REGISTRYINDEX, ctx.merge_ref);
}


TEST(kblib_invalid_arguments_name_field) {
  ASSERT_RAISES("field 'type' must be a string, got nil",
                "kb.upsert{ key = 'k' }");
  ASSERT_RAISES("field 'type' must not be empty",
                "kb.upsert{ type = '', key = 'k' }");
  ASSERT_RAISES("field 'key' must be a string, got number",
                "kb.upsert{ type = 't', key = 42 }");
  ASSERT_RAISES("field 'key' (an entity) or fields 'src' and 'dst'",
                "kb.upsert{ type = 't' }");
  ASSERT_RAISES("field 'data' must be a table, got string",
                "kb.upsert{ type = 't', key = 'k', data = 'x' }");
  ASSERT_RAISES("field 'src' must be an id",
                "kb.upsert{ type = 't', src = 'k', dst = kb.id('x') }");
  ASSERT_RAISES("field 'dst' must be an id",
                "kb.upsert{ type = 't', src = kb.id('x'),\n"
                "  dst = string.upper(kb.id('y')) }");
  ASSERT_RAISES("cannot be combined",
                "kb.upsert{ type = 't', key = 'k', src = kb.id('x') }");
  ASSERT_RAISES("unknown field 'keys'",
                "kb.upsert{ type = 't', keys = 'k' }");
  ASSERT_RAISES("field 'ts' must be a valid time",
                "kb.upsert{ type = 't', key = 'k', ts = 'yesterday' }");
  ASSERT_RAISES("field 'merge' must be a function",
                "kb.upsert{ type = 't', key = 'k', merge = 1 }");
  ASSERT_RAISES("table expected", "kb.upsert('k')");
  /* The message points at the caller's line. */
  ASSERT_RAISES("\"]:3: kb.upsert: field 'type'",
                "\n\nkb.upsert{ key = 'k' }");
}


TEST(kblib_invalid_data_names_path) {
  ASSERT_RAISES("field 'data.a.b' contains a cycle",
                "local t = {}\n"
                "t.b = t\n"
                "kb.upsert{ type = 't', key = 'k', data = { a = t } }");
  ASSERT_RAISES("field 'data.f' has a function value",
                "kb.upsert{ type = 't', key = 'k', data = { f = print } }");
  ASSERT_RAISES("field 'data.list[2]' is not a finite number",
                "kb.upsert{ type = 't', key = 'k',\n"
                "  data = { list = { 1, 0/0 } } }");
  ASSERT_RAISES("field 'data.m' mixes keys",
                "kb.upsert{ type = 't', key = 'k',\n"
                "  data = { m = { 1, x = 2 } } }");
  ASSERT_RAISES("field 'data.s' is a sparse array",
                "kb.upsert{ type = 't', key = 'k',\n"
                "  data = { s = { [1] = 1, [3] = 3 } } }");
  ASSERT_RAISES("field 'data' must be a table with string keys",
                "kb.upsert{ type = 't', key = 'k', data = { 1, 2 } }");
  ASSERT_RAISES("nested more than 100 levels deep",
                "local t = {}\n"
                "local top = t\n"
                "for i = 1, 200 do t.x = {}; t = t.x end\n"
                "kb.upsert{ type = 't', key = 'k', data = top }");
  /* Nothing was written by the failed calls. */
  ASSERT_SQL("1", "SELECT count(*) FROM entities");
}


TEST(kblib_json_text_is_canonical) {
  ASSERT_RUNS(
    "kb.upsert{ type = 't', key = 'k', data = {\n"
    "  z = 1, a = { 3, 2, 1 }, m = { y = true, b = false },\n"
    "  s = 'q\"\\\\\\n\\0\\1/\\xd0\\xb9', e = {}, f = 0.1, i = 2^53 } }\n");
  ASSERT_SQL("{\"a\":[3,2,1],\"e\":{},\"f\":0.1,\"i\":9007199254740992,"
             "\"m\":{\"b\":false,\"y\":true},"
             "\"s\":\"q\\\"\\\\\\n\\u0000\\u0001/\xd0\xb9\",\"z\":1}",
             "SELECT data FROM entities WHERE type = 't'");
  /* It reads back through cjson to the same values. */
  ASSERT_RUNS(
    "local d = kb.get(kb.id('k')).data\n"
    "assert(d.s == 'q\"\\\\\\n\\0\\1/\\xd0\\xb9')\n"
    "assert(d.a[1] == 3 and d.a[3] == 1)\n"
    "assert(d.m.b == false)\n"
    "assert(d.f == 0.1)\n");
}


TEST(kblib_stats_count_added_merged) {
  struct st_kblib_stats stats;

  st_kblib_reset_stats(L);
  ASSERT_RUNS(
    "local a = kb.upsert{ type = 't', key = 'a' }\n"
    "local b = kb.upsert{ type = 't', key = 'b' }\n"
    "kb.upsert{ type = 't', key = 'a' }\n"
    "kb.upsert{ type = 'r', src = a, dst = b }\n"
    "kb.upsert{ type = 'r', src = a, dst = b }\n"
    "kb.upsert{ type = 'r', src = b, dst = a }\n");
  st_kblib_get_stats(L, &stats);
  ASSERT_INT_EQ(2, stats.entities_added);
  ASSERT_INT_EQ(1, stats.entities_merged);
  ASSERT_INT_EQ(2, stats.relationships_added);
  ASSERT_INT_EQ(1, stats.relationships_merged);
}


TEST(kblib_merge_function_semantics) {
  ASSERT_RUNS(
    "local cjson = require 'cjson'\n"
    "local old = { a = 1, b = 2 }\n"
    "local new = { b = 3, c = cjson.null, a = cjson.null }\n"
    "local m = kb.merge(old, new)\n"
    "assert(m.a == 1 and m.b == 3 and m.c == cjson.null)\n"
    "assert(old.b == 2 and new.b == 3, 'arguments are not changed')\n"
    "assert(m ~= old and m ~= new)\n"
    "assert(next(kb.merge(nil, nil)) == nil)\n"
    "assert(kb.merge(nil, { x = 1 }).x == 1)\n");
  ASSERT_RAISES("table expected", "kb.merge(1, {})");
}


TEST(kblib_core_module_without_db) {
  ASSERT_RUNS(
    "local core = require 'stratosphere.core.kb'\n"
    "assert(core.id('who owns bellingcat') ==\n"
    "  'a58bd87f985da4bd22052175d76df893')\n"
    "assert(core.pair_id('a58bd87f985da4bd22052175d76df893',\n"
    "  '02dddd9c3477ac2bb7368360bba5795f') ==\n"
    "  '0f993e7a7df02372dd2ab4c1283a423c')\n"
    "assert(core.merge({ a = 1 }, { b = 2 }).a == 1)\n"
    "assert(core.upsert == nil)\n");
  ASSERT_RAISES("bad argument #1 to 'id' (string expected, got number)",
                "require('stratosphere.core.kb').id(5)");
  ASSERT_RAISES("bad argument #2 to 'pair_id' (32 lowercase hex digits",
                "local kb = require 'stratosphere.core.kb'\n"
                "kb.pair_id(kb.id('a'), 'b')");
}


TEST(kblib_stored_non_object_replaced) {
  /* A row written by another tool with data that is not an object. */
  ASSERT_INT_EQ(SQLITE_OK, sqlite3_exec(st_kb_db(kb),
      "INSERT INTO entities (id, type, data, ts) VALUES "
      "('8ce4b16b22b58894aa86c421e8759df3', 't', '[1,2]', "
      "'2020-01-01 00:00:00.000000'), "
      "('7fc56270e7a70fa81a5935b72eacbe29', 't', 'not json', "
      "'2020-01-01 00:00:00.000000')", NULL, NULL, NULL));
  ASSERT_RUNS(
    "assert(kb.get(kb.id('A')).data == 'not json')\n"
    "kb.upsert{ type = 't', key = 'k', data = { x = 1 } }\n"
    "kb.upsert{ type = 't', key = 'A', data = { x = 2 } }\n"
    "assert(kb.get(kb.id('k')).data.x == 1)\n"
    "assert(kb.get(kb.id('A')).data.x == 2)\n");
}


TEST(kblib_type_conflict_raises) {
  /* A Google query and a vk.com person whose keys are both "9985478"
   * have the same id. */
  ASSERT_RUNS(
    "local person = kb.upsert{ type = 'vk.com/person', key = '9985478',\n"
    "  data = { name = 'Ann' } }\n"
    "local friend = kb.upsert{ type = 'vk.com/person', key = '1' }\n"
    "kb.upsert{ type = 'vk.com/friend', src = person, dst = friend }\n"
    "local ok, err = pcall(kb.upsert, { type = 'google.com/search_query',\n"
    "  key = '9985478', data = { q = '9985478' } })\n"
    "assert(not ok, 'a different type must raise')\n"
    "assert(err:find('18231c324ffb9446a1e68c6d9e9570d8', 1, true), err)\n"
    "assert(err:find(\"'vk.com/person'\", 1, true), err)\n"
    "assert(err:find(\"'google.com/search_query'\", 1, true), err)\n"
    "assert(err:find(\"key '9985478'\", 1, true), err)\n"
    "local ok2, err2 = pcall(kb.upsert, { type = 'vk.com/follower',\n"
    "  src = person, dst = friend })\n"
    "assert(not ok2, 'a relationship keeps its type too')\n"
    "assert(err2:find(\"'vk.com/friend'\", 1, true), err2)\n"
    "assert(err2:find(\"'vk.com/follower'\", 1, true), err2)\n"
    "assert(err2:find(kb.pair_id(person, friend), 1, true), err2)\n"
    "assert(err2:find(person, 1, true), err2)\n");
  ASSERT_SQL("vk.com/person|{\"name\":\"Ann\"}",
             "SELECT type || '|' || data FROM entities WHERE id = "
             "'18231c324ffb9446a1e68c6d9e9570d8'");
  ASSERT_SQL("vk.com/friend", "SELECT type FROM relationships WHERE "
                              "type <> 'null'");
}


TEST(kblib_type_nul_and_null_rejected) {
  ASSERT_RAISES("field 'type' must not contain a NUL byte",
                "kb.upsert{ type = 't\\0x', key = 'k' }");
  ASSERT_RAISES("field 'type' must not be 'null'",
                "kb.upsert{ type = 'null', key = 'k' }");
  ASSERT_RAISES("field 'type' must not be 'null'",
                "kb.upsert{ type = 'null', src = kb.id('a'),\n"
                "  dst = kb.id('b') }");
  ASSERT_SQL("1", "SELECT count(*) FROM entities");
  ASSERT_SQL("1", "SELECT count(*) FROM relationships");
}


/* kb.db stores valid UTF-8 only: each invalid sequence in data becomes one
 * U+FFFD, as Python's bytes.decode("utf-8", "replace") does. */
TEST(kblib_invalid_utf8_replaced) {
  static const struct {
    const char *lua;       /* a Lua string literal */
    const char *expected;  /* the JSON text of data = { s = ... } */
  } cases[] = {
    { "'caf\\xE9'", "{\"s\":\"caf\xEF\xBF\xBD\"}" },
    { "'\\xC0\\xAF'", "{\"s\":\"\xEF\xBF\xBD\xEF\xBF\xBD\"}" },
    { "'\\xED\\xA0\\x80'",
      "{\"s\":\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"}" },
    { "'\\xE2\\x82'", "{\"s\":\"\xEF\xBF\xBD\"}" },
    { "'\\xE2\\x82x'", "{\"s\":\"\xEF\xBF\xBDx\"}" },
    { "'\\xF4\\x90\\x80\\x80'",
      "{\"s\":\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"}" },
    { "'\\xF1\\x80\\x80'", "{\"s\":\"\xEF\xBF\xBD\"}" },
    { "'\\xE0\\x80\\x80'",
      "{\"s\":\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"}" },
    { "'\\xFF!'", "{\"s\":\"\xEF\xBF\xBD!\"}" },
    { "'\\xF0\\x9F\\x98\\x80 \\xC3\\xA9 \\xE2\\x82\\xAC'",
      "{\"s\":\"\xF0\x9F\x98\x80 \xC3\xA9 \xE2\x82\xAC\"}" },
  };
  char chunk[256];

  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    snprintf(chunk, sizeof(chunk),
             "kb.upsert{ type = 't', key = 'k', data = { s = %s } }",
             cases[i].lua);
    ASSERT_RUNS(chunk);
    ASSERT_SQL(cases[i].expected, "SELECT data FROM entities WHERE "
                                  "type = 't'");
    ASSERT_RUNS("kb.upsert{ type = 't', key = 'k',\n"
                "  merge = function() return {} end, data = {} }");
  }

  /* Object keys, the type and nested values are cleaned too. The id is
   * the MD5 of the key's exact bytes. */
  ASSERT_RUNS(
    "local id = kb.upsert{ type = 'q\\xE9', key = 'caf\\xE9',\n"
    "  data = { ['k\\xE9'] = { 'v\\xE9' } } }\n"
    "assert(id == '961f50f6282239d09e48f812c1ca7276', id)\n");
  ASSERT_SQL("q\xEF\xBF\xBD|{\"k\xEF\xBF\xBD\":[\"v\xEF\xBF\xBD\"]}",
             "SELECT type || '|' || data FROM entities WHERE id = "
             "'961f50f6282239d09e48f812c1ca7276'");
}


/* Writes from an older capture than the row's ts fill only what the row
 * lacks, and ts stays the newest. */
TEST(kblib_older_write_fills_only) {
  ASSERT_RUNS(
    "local cjson = require 'cjson'\n"
    "local id = kb.upsert{ type = 't', key = 'k',\n"
    "  ts = '2024-05-01 00:00:00.000000',\n"
    "  data = { a = 'new', b = 1, n = cjson.null } }\n"
    "kb.upsert{ type = 't', key = 'k', ts = '2024-01-01 00:00:00.000000',\n"
    "  data = { a = 'old', c = 2, n = 3 } }\n"
    "local row = kb.get(id)\n"
    "assert(row.ts == '2024-05-01 00:00:00.000000', row.ts)\n"
    "assert(row.data.a == 'new', row.data.a)\n"
    "assert(row.data.b == 1)\n"
    "assert(row.data.c == 2, 'an older write fills a missing key')\n"
    "assert(row.data.n == 3, 'an older value fills a null')\n"
    "local seen\n"
    "kb.upsert{ type = 't', key = 'k', ts = '2023-01-01 00:00:00',\n"
    "  data = { a = 'oldest' },\n"
    "  merge = function(old, new) seen = { old = old, new = new }\n"
    "    return new end }\n"
    "assert(seen.old.a == 'oldest', 'old is the older write')\n"
    "assert(seen.new.a == 'new', 'new is the stored, newer row')\n"
    "kb.upsert{ type = 't', key = 'k', ts = '2024-06-01 00:00:00.000000',\n"
    "  data = { a = 'newest' } }\n"
    "row = kb.get(id)\n"
    "assert(row.data.a == 'newest')\n"
    "assert(row.ts == '2024-06-01 00:00:00.000000')\n");
}


TEST(kblib_ts_must_be_valid) {
  static const char *const invalid[] = {
    "9999-99-99 99:99:99", "garbage", "2024-01-01T00:00:16Z",
    "2023-02-29 00:00:00", "2024-04-31 00:00:00", "2024-00-10 00:00:00",
    "2024-13-01 00:00:00", "2024-01-00 00:00:00", "2024-01-01 24:00:00",
    "2024-01-01 00:60:00", "2024-01-01 00:00:60", "2024-01-01 00:00:00.",
    "2024-01-01 00:00:00.1234567", "2024-01-01 00:00:00 ", "",
    "1700000000",
  };
  static const char *const valid[] = {
    "2024-02-29 23:59:59.999999", "2000-02-29 00:00:00",
    "2023-12-31 23:59:59.5", "1970-01-01 00:00:00.000000",
  };
  char chunk[256], pattern[128];

  for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
    snprintf(chunk, sizeof(chunk),
             "kb.upsert{ type = 't', key = 'k', ts = '%s' }", invalid[i]);
    snprintf(pattern, sizeof(pattern), "field 'ts' must be a valid time "
             "'YYYY-MM-DD HH:MM:SS[.ffffff]', got '%s'", invalid[i]);
    ASSERT_RAISES(pattern, chunk);
  }
  for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
    snprintf(chunk, sizeof(chunk),
             "kb.upsert{ type = 't', key = 'k', ts = '%s' }", valid[i]);
    ASSERT_RUNS(chunk);
  }
  ASSERT_RAISES("field 'ts' must be a string, got number",
                "kb.upsert{ type = 't', key = 'k', ts = 1700000000 }");
}


/* A stored ts that is not a valid time (written by another tool) is older
 * than any write, so it cannot pin the row's ts. */
TEST(kblib_invalid_stored_ts_replaced) {
  ASSERT_INT_EQ(SQLITE_OK, sqlite3_exec(st_kb_db(kb),
      "INSERT INTO entities (id, type, data, ts) VALUES "
      "('8ce4b16b22b58894aa86c421e8759df3', 't', '{\"a\":1}', 'garbage')",
      NULL, NULL, NULL));
  ASSERT_RUNS("kb.upsert{ type = 't', key = 'k', data = { a = 2 },\n"
              "  ts = '2023-01-01 00:00:00.000000' }");
  ASSERT_SQL("{\"a\":2}|2023-01-01 00:00:00.000000",
             "SELECT data || '|' || ts FROM entities WHERE type = 't'");
}


/* Python's json.dumps writes NaN and Infinity. Such stored values read
 * back as null, so later upserts of the row still work. */
TEST(kblib_stored_nan_becomes_null) {
  ASSERT_INT_EQ(SQLITE_OK, sqlite3_exec(st_kb_db(kb),
      "INSERT INTO entities (id, type, data, ts) VALUES "
      "('8ce4b16b22b58894aa86c421e8759df3', 't', "
      "'{\"score\": NaN, \"list\": [1, Infinity, {\"x\": -Infinity}], "
      "\"keep\": 1}', '2020-01-01 00:00:00.000000')", NULL, NULL, NULL));
  ASSERT_RUNS("kb.upsert{ type = 't', key = 'k', data = { a = 1 } }");
  ASSERT_SQL("{\"a\":1,\"keep\":1,\"list\":[1,null,{\"x\":null}],"
             "\"score\":null}",
             "SELECT data FROM entities WHERE type = 't'");
  /* A non-finite number that the extractor writes still raises. */
  ASSERT_RAISES("field 'data.score' is not a finite number",
                "kb.upsert{ type = 't', key = 'k', data = { score = 0/0 } }");
}


/* An allocator that refuses to go beyond a cap, as the pipeline's state
 * does. */
static size_t used, cap;


static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  if (nsize == 0) {
    if (ptr != NULL)
      used -= osize;
    free(ptr);
    return NULL;
  }
  if (ptr == NULL)
    osize = 0;
  if (nsize > osize && used + (nsize - osize) > cap)
    return NULL;
  ptr = realloc(ptr, nsize);
  if (ptr != NULL)
    used = used + nsize - osize;
  return ptr;
}


TEST(kblib_memory_cap_raises) {
  lua_State *capped;
  const char *message;

  used = 0;
  cap = 4 * 1024 * 1024;
  capped = lua_newstate(capped_alloc, NULL);
  luaL_openlibs(capped);
  ASSERT_INT_EQ(0, st_kblib_push(capped, kb));
  lua_setglobal(capped, "kb");
  /* 300 strings of 10 KB fit in the state but not when encoded too. */
  ASSERT(luaL_dostring(capped,
    "local big = {}\n"
    "for i = 1, 300 do big[i] = string.rep(string.char(i % 256), 10000)\n"
    "end\n"
    "kb.upsert{ type = 't', key = 'big', data = { list = big } }")
    != LUA_OK);
  message = lua_tostring(capped, -1);
  ASSERT(message != NULL && strstr(message, "not enough memory") != NULL);
  lua_close(capped);
  ASSERT_INT_EQ(0, used);
}


/* Returns the bytes the capped state uses after a full collection. */
static size_t used_after_gc(lua_State *capped) {
  lua_gc(capped, LUA_GCCOLLECT);
  lua_gc(capped, LUA_GCCOLLECT);
  return used;
}


/* The encoder's buffers come from the state's allocator, whose cap all
 * extractors share, so a large upsert must not keep them large. */
TEST(kblib_large_buffer_released) {
  lua_State *capped;
  size_t baseline;

  used = 0;
  cap = 8 * 1024 * 1024;
  capped = lua_newstate(capped_alloc, NULL);
  luaL_openlibs(capped);
  ASSERT_INT_EQ(0, st_kblib_push(capped, kb));
  lua_setglobal(capped, "kb");
  ASSERT(luaL_dostring(capped, "kb.upsert{ type = 't', key = 'small', "
                               "data = { s = 'x' } }") == LUA_OK);
  baseline = used_after_gc(capped);

  /* A successful upsert of 1.5 MiB. */
  ASSERT(luaL_dostring(capped,
    "kb.upsert{ type = 't', key = 'big',\n"
    "  data = { s = string.rep('x', 1536 * 1024) } }") == LUA_OK);
  ASSERT(used_after_gc(capped) < baseline + 128 * 1024);

  /* One that fails after encoding 1.5 MiB. */
  ASSERT(luaL_dostring(capped,
    "kb.upsert{ type = 't', key = 'big2',\n"
    "  data = { a = string.rep('x', 1536 * 1024), z = print } }")
    != LUA_OK);
  lua_settop(capped, 0);
  ASSERT(used_after_gc(capped) < baseline + 128 * 1024);

  /* The memory is there for the next extractor: string.rep needs twice
   * the 3.5 MiB, which fits the cap only without a 2 MiB buffer kept. */
  ASSERT(luaL_dostring(capped, "local s = string.rep('y', 3584 * 1024)\n"
                               "assert(#s > 0)") == LUA_OK);
  lua_close(capped);
  ASSERT_INT_EQ(0, used);
}


#define RUN_FRESH(name)                                                 \
  do {                                                                  \
    if (setup() != 0) {                                                 \
      fprintf(stderr, "setup failed\n");                                \
      return 1;                                                         \
    }                                                                   \
    RUN(name);                                                          \
    teardown();                                                         \
  } while (0)


int main(void) {
  RUN_FRESH(kblib_upsert_entity_returns_md5);
  RUN_FRESH(kblib_relationship_id_is_pair_id);
  RUN_FRESH(kblib_merge_keeps_both_keys);
  RUN_FRESH(kblib_no_data_keeps_stored);
  RUN_FRESH(kblib_ts_is_latest_seen);
  RUN_FRESH(kblib_context_sets_ts_and_observes);
  RUN_FRESH(kblib_custom_merge_functions);
  RUN_FRESH(kblib_invalid_arguments_name_field);
  RUN_FRESH(kblib_invalid_data_names_path);
  RUN_FRESH(kblib_json_text_is_canonical);
  RUN_FRESH(kblib_stats_count_added_merged);
  RUN_FRESH(kblib_merge_function_semantics);
  RUN_FRESH(kblib_core_module_without_db);
  RUN_FRESH(kblib_stored_non_object_replaced);
  RUN_FRESH(kblib_memory_cap_raises);
  RUN_FRESH(kblib_type_conflict_raises);
  RUN_FRESH(kblib_type_nul_and_null_rejected);
  RUN_FRESH(kblib_invalid_utf8_replaced);
  RUN_FRESH(kblib_older_write_fills_only);
  RUN_FRESH(kblib_ts_must_be_valid);
  RUN_FRESH(kblib_invalid_stored_ts_replaced);
  RUN_FRESH(kblib_stored_nan_becomes_null);
  RUN_FRESH(kblib_large_buffer_released);
  return TEST_EXIT();
}
