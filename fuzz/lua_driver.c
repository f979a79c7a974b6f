#include "lua_driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "script/script.h"
#include "util/err.h"

/* Calls between two full garbage collections, so that documents and
 * strings from earlier inputs do not pile up to the memory cap. */
#define GC_INTERVAL 256

static lua_State *state;
static int driver_ref = LUA_NOREF;
static long calls;


static void load_driver(const char *name) {
  char path[4096], err[ST_ERRLEN];
  struct st_script_options opts = {
    .libs = ST_SCRIPT_SANDBOX,
    .memory_limit = FUZZ_LUA_MEMORY_MAX,
    .component = "fuzz",
  };

  state = st_script_new(&opts, err, sizeof(err));
  if (state == NULL) {
    fprintf(stderr, "fuzz: cannot create a Lua state: %s\n", err);
    abort();
  }
  snprintf(path, sizeof(path), "%s/fuzz/lua/%s.lua", ST_SOURCE_DIR, name);
  if (luaL_loadfilex(state, path, "t") != LUA_OK ||
      st_script_pcall(state, 0, 1) != LUA_OK ||
      lua_type(state, -1) != LUA_TFUNCTION) {
    fprintf(stderr, "fuzz: %s did not return a function: %s\n", path,
            lua_tostring(state, -1));
    abort();
  }
  driver_ref = luaL_ref(state, LUA_REGISTRYINDEX);
}


lua_State *fuzz_lua_push_driver(const char *name) {
  if (state == NULL)
    load_driver(name);
  lua_rawgeti(state, LUA_REGISTRYINDEX, driver_ref);
  return state;
}


void fuzz_lua_call(const char *name, int nargs) {
  const char *msg;
  int status;

  st_script_budget_begin(state, FUZZ_LUA_BUDGET);
  status = st_script_pcall(state, nargs, 0);
  st_script_budget_end(state);
  if (status != LUA_OK) {
    msg = lua_tostring(state, -1);
    if (msg == NULL || strstr(msg, "not enough memory") == NULL) {
      fprintf(stderr, "fuzz: %s.lua failed: %s\n", name,
              msg ? msg : "(error object is not a string)");
      abort();
    }
    lua_pop(state, 1);
  }
  if (++calls % GC_INTERVAL == 0)
    lua_gc(state, LUA_GCCOLLECT);
}


void fuzz_lua_run(const char *name, const struct fuzz_lua_arg *args,
                  int nargs) {
  lua_State *L = fuzz_lua_push_driver(name);

  for (int i = 0; i < nargs; i++)
    lua_pushlstring(L, args[i].data, args[i].len);
  fuzz_lua_call(name, nargs);
}
