/* The Lua runtime: sandbox allow-list, strict globals, time budget and
 * memory cap. */
#include <lauxlib.h>
#include <lua.h>

#include "script/script.h"
#include "test.h"
#include "util/err.h"
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
  ASSERT_INT_EQ(LUA_ERRRUN, run(L, "while true do end", msg, sizeof(msg)));
  st_script_budget_end(L);
  ASSERT(strstr(msg, "time budget of 0.05 s exceeded") != NULL);
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
  RUN(script_full_state_has_io);
  RUN(script_budget_stops_loop);
  RUN(script_budget_survives_inner_pcall);
  RUN(script_memory_cap_raises);
  RUN(script_new_fails_cleanly_without_memory);
  return TEST_EXIT();
}
