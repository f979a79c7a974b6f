/* The Lua runtime: sandbox allow-list, strict globals, time budget and
 * memory cap. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "script/script.h"
#include "test.h"
#include "util/err.h"
#include "util/log.h"
#include "util/time.h"


static lua_State *new_state(int sandbox, size_t memory_limit) {
  struct st_script_options opts = { sandbox, memory_limit, "test" };
  char err[ST_ERRLEN];

  return st_script_new(&opts, err, sizeof(err));
}


/* Runs code and returns the lua status; the message or the first result
 * is left in msg (copied, at most size bytes). */
static int run(lua_State *L, const char *code, char *msg, size_t size) {
  int status = luaL_loadstring(L, code);

  if (status == LUA_OK)
    status = st_script_pcall(L, 0, 1);
  snprintf(msg, size, "%s",
           lua_tostring(L, -1) ? lua_tostring(L, -1) : "(nil)");
  lua_pop(L, 1);
  return status;
}


TEST(script_sandbox_hides_io_and_os) {
  lua_State *L = new_state(1, 0);
  char msg[512];

  ASSERT(L != NULL);
  ASSERT_INT_EQ(LUA_OK, run(L, "return type(rawget(_G, 'io'))", msg,
                            sizeof(msg)));
  ASSERT_STR_EQ("nil", msg);
  ASSERT_INT_EQ(LUA_OK, run(L, "return type(os.execute)", msg, sizeof(msg)));
  ASSERT_STR_EQ("nil", msg);
  ASSERT_INT_EQ(LUA_OK, run(L, "return type(os.time())", msg, sizeof(msg)));
  ASSERT_STR_EQ("number", msg);
  ASSERT_INT_EQ(LUA_OK, run(L, "return type(rawget(_G, 'dofile'))", msg,
                            sizeof(msg)));
  ASSERT_STR_EQ("nil", msg);
  st_script_free(&L);
  ASSERT(L == NULL);
}


TEST(script_sandbox_undefined_global_raises) {
  lua_State *L = new_state(1, 0);
  char msg[512];

  ASSERT_INT_EQ(LUA_ERRRUN, run(L, "return undefined_thing", msg,
                                sizeof(msg)));
  ASSERT(strstr(msg, "undefined global 'undefined_thing'") != NULL);
  ASSERT_INT_EQ(LUA_ERRRUN, run(L, "x = 1", msg, sizeof(msg)));
  ASSERT(strstr(msg, "assignment to undefined global 'x'") != NULL);
  st_script_free(&L);
}


TEST(script_sandbox_load_rejects_binary) {
  lua_State *L = new_state(1, 0);
  char msg[512];

  ASSERT_INT_EQ(LUA_OK, run(L, "return load('return 1 + 1')()", msg,
                            sizeof(msg)));
  ASSERT_STR_EQ("2", msg);
  ASSERT_INT_EQ(LUA_OK,
                run(L,
                    "local f, e = load(string.dump(function() end)) "
                    "return e",
                    msg, sizeof(msg)));
  ASSERT(strstr(msg, "binary chunk") != NULL);
  st_script_free(&L);
}


TEST(script_sandbox_require_limited) {
  lua_State *L = new_state(1, 0);
  char msg[512];

  ASSERT_INT_EQ(LUA_OK, run(L, "return type(require('cjson').encode)", msg,
                            sizeof(msg)));
  ASSERT_STR_EQ("function", msg);
  ASSERT_INT_EQ(LUA_ERRRUN, run(L, "return require('io')", msg,
                                sizeof(msg)));
  ASSERT(strstr(msg, "not available to extractors") != NULL);
  ASSERT_INT_EQ(LUA_ERRRUN, run(L, "return require('stratosphere.nothere')",
                                msg, sizeof(msg)));
  ASSERT(strstr(msg, "module 'stratosphere.nothere' not found") != NULL);
  st_script_free(&L);
}


TEST(script_sandbox_require_gives_trimmed_libs) {
  static const char *const hidden[] = { "io", "debug", "package",
                                        "coroutine", "_G.os" };
  lua_State *L = new_state(1, 0);
  char code[128], msg[512];

  ASSERT_INT_EQ(LUA_OK, run(L, "return type(require('os').execute)", msg,
                            sizeof(msg)));
  ASSERT_STR_EQ("nil", msg);
  ASSERT_INT_EQ(LUA_OK, run(L, "return type(require('os').time)", msg,
                            sizeof(msg)));
  ASSERT_STR_EQ("function", msg);
  ASSERT_INT_EQ(LUA_OK, run(L, "return tostring(require('string') == string)", msg,
                            sizeof(msg)));
  ASSERT_STR_EQ("true", msg);
  for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++) {
    snprintf(code, sizeof(code), "return require('%s')", hidden[i]);
    ASSERT_INT_EQ(LUA_ERRRUN, run(L, code, msg, sizeof(msg)));
    if (strstr(msg, "not available to extractors") == NULL)
      FAIL_AT("require('%s'): %s", hidden[i], msg);
  }
  ASSERT_INT_EQ(LUA_OK, run(L, "return tostring(rawget(_G, 'package') == nil)", msg,
                            sizeof(msg)));
  ASSERT_STR_EQ("true", msg);
  st_script_free(&L);
}


/* A module file outside lua/ must stay out of reach, whatever the state
 * does to package.path or package.loaded. */
TEST(script_sandbox_module_path_fixed) {
  char dir[] = "/tmp/st_test_script_XXXXXX";
  char path[256], code[512], msg[512];
  lua_State *L = new_state(1, 0);
  FILE *f;

  ASSERT(mkdtemp(dir) != NULL);
  snprintf(path, sizeof(path), "%s/stratosphere", dir);
  ASSERT_INT_EQ(0, mkdir(path, 0700));
  snprintf(path, sizeof(path), "%s/stratosphere/evil.lua", dir);
  f = fopen(path, "w");
  ASSERT(f != NULL);
  fputs("return 'escaped'\n", f);
  fclose(f);

  snprintf(code, sizeof(code),
           "local package = rawget(_G, 'package')\n"
           "if package then\n"
           "  package.path = '%s/?.lua'\n"
           "  table.insert(package.searchers, 1, package.searchers[2])\n"
           "end\n"
           "return require('stratosphere.evil')", dir);
  run(L, code, msg, sizeof(msg));
  ASSERT(strcmp(msg, "escaped") != 0);
  ASSERT(strstr(msg, "module 'stratosphere.evil' not found") != NULL);

  ASSERT_INT_EQ(LUA_OK,
                run(L, "local package = rawget(_G, 'package')\n"
                       "if package then\n"
                       "  package.loaded['stratosphere.url'] = 'replaced'\n"
                       "end\n"
                       "return type(require('stratosphere.url'))", msg,
                    sizeof(msg)));
  ASSERT_STR_EQ("table", msg);

  unlink(path);
  snprintf(path, sizeof(path), "%s/stratosphere", dir);
  rmdir(path);
  rmdir(dir);
  st_script_free(&L);
}


TEST(script_sandbox_module_names_checked) {
  static const char *const names[] = {
    "stratosphere.../../x", "stratosphere./tmp/x", "stratosphere.url/",
    "stratosphere.a\\\\b", "stratosphere..url", "stratosphere.",
    "stratosphere", "webapps.home", "stratosphere.url\\0x",
  };
  lua_State *L = new_state(1, 0);
  char code[128], msg[512];

  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    snprintf(code, sizeof(code), "return require('%s')", names[i]);
    ASSERT_INT_EQ(LUA_ERRRUN, run(L, code, msg, sizeof(msg)));
    if (strstr(msg, "not available to extractors") == NULL)
      FAIL_AT("require('%s'): %s", names[i], msg);
  }
  ASSERT_INT_EQ(LUA_OK, run(L, "return type(require('stratosphere.url'))",
                            msg, sizeof(msg)));
  ASSERT_STR_EQ("table", msg);
  st_script_free(&L);
}


TEST(script_sandbox_rejects_finalizers) {
  lua_State *L = new_state(1, 0);
  char msg[512];

  ASSERT_INT_EQ(LUA_ERRRUN,
                run(L, "setmetatable({}, { __gc = function() end })", msg,
                    sizeof(msg)));
  ASSERT(strstr(msg, "__gc") != NULL);
  ASSERT_INT_EQ(LUA_ERRRUN,
                run(L, "setmetatable({}, { __gc = true })", msg,
                    sizeof(msg)));
  ASSERT(strstr(msg, "__gc") != NULL);
  /* A __gc added after setmetatable never marks the table. */
  ASSERT_INT_EQ(LUA_OK,
                run(L, "local mt = {}\n"
                       "setmetatable({}, mt)\n"
                       "mt.__gc = function() error('finalizer ran') end\n"
                       "return 'ok'", msg, sizeof(msg)));
  ASSERT_STR_EQ("ok", msg);
  ASSERT_INT_EQ(LUA_OK,
                run(L, "return getmetatable(setmetatable({}, { __index = "
                       "{ x = 7 } })).__index.x", msg, sizeof(msg)));
  ASSERT_STR_EQ("7", msg);
  st_script_free(&L);
}


TEST(script_sandbox_collectgarbage_count_only) {
  static const char *const options[] = {
    "'stop'", "'restart'", "'collect'", "'step'", "'incremental'",
    "'generational'", "'isrunning'", "",
  };
  lua_State *L = new_state(1, 0);
  char code[128], msg[512];

  ASSERT_INT_EQ(LUA_OK, run(L, "return type(collectgarbage('count'))", msg,
                            sizeof(msg)));
  ASSERT_STR_EQ("number", msg);
  for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
    snprintf(code, sizeof(code), "collectgarbage(%s)", options[i]);
    ASSERT_INT_EQ(LUA_ERRRUN, run(L, code, msg, sizeof(msg)));
    if (strstr(msg, "only \"count\"") == NULL)
      FAIL_AT("collectgarbage(%s): %s", options[i], msg);
  }
  st_script_free(&L);
}


TEST(script_sandbox_hides_host_metatables) {
  lua_State *L = new_state(1, 0);
  char msg[512];

  ASSERT_INT_EQ(LUA_OK,
                run(L, "local mt = getmetatable('')\n"
                       "if mt then\n"
                       "  mt.__index = { upper = function() return 'hijacked'"
                       " end }\n"
                       "end\n"
                       "return ('x'):upper()", msg, sizeof(msg)));
  ASSERT_STR_EQ("X", msg);
  ASSERT_INT_EQ(LUA_OK, run(L, "return tostring(getmetatable('') == nil)", msg,
                            sizeof(msg)));
  ASSERT_STR_EQ("true", msg);
  ASSERT_INT_EQ(LUA_OK,
                run(L, "local doc = require('stratosphere.core.html')"
                       ".parse('<p>x</p>')\n"
                       "return tostring(getmetatable(doc) == nil)", msg,
                    sizeof(msg)));
  ASSERT_STR_EQ("true", msg);
  st_script_free(&L);
}


static int warned;


static void find_warning(void *ud, const char *line) {
  if (strstr(line, (const char *)ud) != NULL)
    warned = 1;
}


/* warn("@off") would silence the warnings of every other extractor in the
 * state, so the sandbox ignores control messages. */
TEST(script_sandbox_warn_cannot_be_silenced) {
  lua_State *L = new_state(1, 0);
  char msg[512];

  ASSERT_INT_EQ(LUA_OK, run(L, "warn('@off') warn('sandbox warning 1') "
                               "return 'ok'", msg, sizeof(msg)));
  warned = 0;
  st_log_recent(find_warning, "sandbox warning 1");
  ASSERT_INT_EQ(1, warned);
  st_script_free(&L);
}


/* Runs code with the table at env_idx as its _ENV, with the same contract
 * as run(). */
static int run_in_env(lua_State *L, int env_idx, const char *code, char *msg,
                      size_t size) {
  int status = luaL_loadstring(L, code);

  if (status == LUA_OK) {
    lua_pushvalue(L, env_idx);
    lua_setupvalue(L, -2, 1);
    status = st_script_pcall(L, 0, 1);
  }
  snprintf(msg, size, "%s",
           lua_tostring(L, -1) ? lua_tostring(L, -1) : "(nil)");
  lua_pop(L, 1);
  return status;
}


TEST(script_envs_are_separate) {
  lua_State *L = new_state(1, 0);
  char msg[512];
  int a, b;

  ASSERT_INT_EQ(0, st_script_push_env(L));
  a = lua_gettop(L);
  ASSERT_INT_EQ(0, st_script_push_env(L));
  b = lua_gettop(L);

  ASSERT_INT_EQ(LUA_OK,
                run_in_env(L, a,
                           "string.format = nil\n"
                           "table.concat = nil\n"
                           "log.info = nil\n"
                           "require('stratosphere.url').split = nil\n"
                           "require('cjson').encode = nil\n"
                           "_G.pairs = nil\n"
                           "return 'changed'", msg, sizeof(msg)));
  ASSERT_STR_EQ("changed", msg);
  ASSERT_INT_EQ(LUA_OK,
                run_in_env(L, b,
                           "return type(string.format) .. type(table.concat)"
                           " .. type(log.info) .. "
                           "type(require('stratosphere.url').split) .. "
                           "type(require('cjson').encode) .. type(pairs)",
                           msg, sizeof(msg)));
  ASSERT_STR_EQ("functionfunctionfunctionfunctionfunctionfunction", msg);
  ASSERT_INT_EQ(LUA_OK, run(L, "return type(string.format)", msg,
                            sizeof(msg)));
  ASSERT_STR_EQ("function", msg);

  /* Each environment has the sandbox's rules. */
  ASSERT_INT_EQ(LUA_ERRRUN, run_in_env(L, b, "undefined_name = 1", msg,
                                       sizeof(msg)));
  ASSERT(strstr(msg, "assignment to undefined global") != NULL);
  ASSERT_INT_EQ(LUA_OK, run_in_env(L, b, "return tostring(_G == _ENV and "
                                         "load('return _ENV')() == _ENV)",
                                   msg, sizeof(msg)));
  ASSERT_STR_EQ("true", msg);
  ASSERT_INT_EQ(LUA_OK, run_in_env(L, b, "return type(require('os').execute)",
                                   msg, sizeof(msg)));
  ASSERT_STR_EQ("nil", msg);
  lua_pop(L, 2);
  st_script_free(&L);
}


TEST(script_readonly_view) {
  lua_State *L = new_state(1, 0);
  char msg[512];
  int view;

  ASSERT_INT_EQ(LUA_OK, luaL_loadstring(L, "return { f = print, n = 1 }"));
  ASSERT_INT_EQ(LUA_OK, st_script_pcall(L, 0, 1));
  ASSERT_INT_EQ(0, st_script_push_readonly(L, -1));
  view = lua_gettop(L);
  ASSERT_INT_EQ(0, st_script_push_env(L));
  lua_pushliteral(L, "view");
  lua_pushvalue(L, view);
  lua_rawset(L, -3);  /* lua_setfield would meet the strict __newindex */

  ASSERT_INT_EQ(LUA_ERRRUN, run_in_env(L, view + 1, "view.f = nil", msg,
                                       sizeof(msg)));
  ASSERT(strstr(msg, "read-only") != NULL);
  ASSERT_INT_EQ(LUA_ERRRUN, run_in_env(L, view + 1, "view.g = 1", msg,
                                       sizeof(msg)));
  ASSERT(strstr(msg, "read-only") != NULL);
  ASSERT_INT_EQ(LUA_OK, run_in_env(L, view + 1,
                                   "local n = 0\n"
                                   "for k in pairs(view) do n = n + 1 end\n"
                                   "return type(view.f) .. view.n .. n .. "
                                   "tostring(getmetatable(view))",
                                   msg, sizeof(msg)));
  ASSERT_STR_EQ("function12false", msg);
  ASSERT_INT_EQ(LUA_ERRRUN, run_in_env(L, view + 1,
                                       "setmetatable(view, nil)", msg,
                                       sizeof(msg)));
  ASSERT(strstr(msg, "protected metatable") != NULL);
  lua_getfield(L, view - 1, "f");  /* the table behind it is unchanged */
  ASSERT(lua_isfunction(L, -1));
  st_script_free(&L);
}


TEST(script_full_state_has_io) {
  lua_State *L = new_state(0, 0);
  char msg[512];

  ASSERT_INT_EQ(LUA_OK, run(L, "return type(io.open)", msg, sizeof(msg)));
  ASSERT_STR_EQ("function", msg);
  ASSERT_INT_EQ(LUA_OK, run(L, "y = 2 return y", msg, sizeof(msg)));
  ASSERT_STR_EQ("2", msg);
  st_script_free(&L);
}


TEST(script_budget_stops_loop) {
  lua_State *L = new_state(1, 0);
  uint64_t start = st_time_mono_ms();
  char msg[512];

  st_script_budget_begin(L, 0.05);
  ASSERT_INT_EQ(LUA_ERRRUN, run(L, "local n = 0\nwhile true do n = n + 1 "
                                "end", msg, sizeof(msg)));
  st_script_budget_end(L);
  ASSERT(strstr(msg, "time budget of 0.05 s exceeded") != NULL);
  /* The message names the line that was running. */
  ASSERT(strstr(msg, ":2: time budget") != NULL);
  ASSERT(st_script_budget_expired(L));
  ASSERT(st_time_mono_ms() - start < 2000);

  /* The state stays usable after the budget ends. */
  ASSERT_INT_EQ(LUA_OK, run(L, "return 40 + 2", msg, sizeof(msg)));
  ASSERT_STR_EQ("42", msg);
  st_script_free(&L);
}


TEST(script_budget_survives_inner_pcall) {
  lua_State *L = new_state(1, 0);
  char msg[512];

  st_script_budget_begin(L, 0.05);
  ASSERT_INT_EQ(LUA_ERRRUN,
                run(L, "while true do pcall(function() while true do end "
                       "end) end", msg, sizeof(msg)));
  st_script_budget_end(L);
  ASSERT(strstr(msg, "time budget") != NULL);
  st_script_free(&L);
}


/* A selector match over 200,000 elements is one long call into C, which
 * the count hook cannot interrupt, so the match checks the budget. */
TEST(script_budget_stops_html_select) {
  lua_State *L = new_state(0, 0);
  char msg[512];

  ASSERT_INT_EQ(LUA_OK,
                run(L, "html = require 'stratosphere.core.html' "
                       "doc = html.parse('<body>' .. "
                       "string.rep('<a>x</a>', 200000) .. '</body>') "
                       "return 'parsed'", msg, sizeof(msg)));
  st_script_budget_begin(L, 0.001);
  usleep(5000);
  /* Without the check, select returns its 200,000 results and the chunk
   * returns "completed" before the count hook fires again. */
  ASSERT_INT_EQ(LUA_ERRRUN,
                run(L, "local ok, err = pcall(doc.select, doc, 'a ~ a') "
                       "return ok and 'completed' or err", msg, sizeof(msg)));
  st_script_budget_end(L);
  ASSERT(strstr(msg, "time budget of 0.001 s exceeded") != NULL);
  ASSERT(st_script_budget_expired(L));
  st_script_free(&L);
}


TEST(script_memory_cap_raises) {
  lua_State *L = new_state(1, 8 * 1024 * 1024);
  char msg[512];

  ASSERT(L != NULL);
  ASSERT_INT_EQ(LUA_ERRMEM,
                run(L, "local t = {} for i = 1, 1e9 do t[i] = "
                       "string.rep('x', 64) .. i end", msg, sizeof(msg)));
  ASSERT(strstr(msg, "not enough memory") != NULL);
  ASSERT(st_script_memory_peak(L) <= 8 * 1024 * 1024);
  lua_gc(L, LUA_GCCOLLECT);
  ASSERT(st_script_memory_used(L) < 1024 * 1024);
  ASSERT_INT_EQ(LUA_OK, run(L, "return 'still alive'", msg, sizeof(msg)));
  ASSERT_STR_EQ("still alive", msg);
  st_script_free(&L);
}


TEST(script_new_fails_cleanly_without_memory) {
  char err[ST_ERRLEN];
  struct st_script_options opts = { 1, 1024, "test" };
  lua_State *L = st_script_new(&opts, err, sizeof(err));

  ASSERT(L == NULL);
  ASSERT(strstr(err, "Lua state") != NULL);
}


int main(void) {
  RUN(script_sandbox_hides_io_and_os);
  RUN(script_sandbox_undefined_global_raises);
  RUN(script_sandbox_load_rejects_binary);
  RUN(script_sandbox_require_limited);
  RUN(script_sandbox_require_gives_trimmed_libs);
  RUN(script_sandbox_module_path_fixed);
  RUN(script_sandbox_module_names_checked);
  RUN(script_sandbox_rejects_finalizers);
  RUN(script_sandbox_collectgarbage_count_only);
  RUN(script_sandbox_hides_host_metatables);
  RUN(script_sandbox_warn_cannot_be_silenced);
  RUN(script_envs_are_separate);
  RUN(script_readonly_view);
  RUN(script_full_state_has_io);
  RUN(script_budget_stops_loop);
  RUN(script_budget_survives_inner_pcall);
  RUN(script_budget_stops_html_select);
  RUN(script_memory_cap_raises);
  RUN(script_new_fails_cleanly_without_memory);
  return TEST_EXIT();
}
