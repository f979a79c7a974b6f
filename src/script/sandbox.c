/* The sandbox that extractors and dashboard pages run in.
 *
 * Opening a sandboxed state keeps master copies of the allowed base
 * functions and library tables in the registry, where Lua code cannot
 * reach them. Every environment, the state's global table as well as each
 * one from st_script_push_env(), gets its own copy of each library table,
 * its own `log` table, its own module cache and a `require` bound to both.
 * Code in one environment can therefore replace string.format, a helper
 * module's function or a global without changing what code in another
 * environment reads.
 *
 * What stays shared is out of reach: the string metatable and the
 * metatables that C modules register are hidden from getmetatable(), the
 * garbage collector cannot be stopped or retuned, finalizers (__gc) cannot
 * be set, and warn() cannot switch warnings off. Method calls on strings
 * therefore use the master string table, not the environment's copy. */
#include "script/internal.h"

#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "script/script.h"
#include "util/err.h"

/* Registry keys: the master table (allowed functions and library tables
 * by global name) and the original load(). Their addresses are the keys. */
static const char masters_key = 'm';
static const char load_key = 'l';

/* Base functions that environments get unchanged. */
static const char *const base_kept[] = {
  "assert", "error", "ipairs", "next", "pairs", "pcall", "rawequal",
  "rawget", "rawlen", "select", "tonumber", "tostring", "type", "xpcall",
  "_VERSION", NULL,
};

static const char *const os_kept[] = {
  "time", "clock", "date", "difftime", NULL,
};

#define PROJECT_PREFIX "stratosphere."
#define PROJECT_PREFIX_LEN (sizeof(PROJECT_PREFIX) - 1)


/* {====================================================================
 * Read-only views
 * ==================================================================== */

static int readonly_newindex(lua_State *L) {
  if (lua_type(L, 2) == LUA_TSTRING)
    return luaL_error(L, "cannot set field '%s' of a read-only table",
                      lua_tostring(L, 2));
  return luaL_error(L, "cannot set a %s key of a read-only table",
                    luaL_typename(L, 2));
}


/* Returns nonzero when the table at idx is a read-only view. */
static int is_readonly(lua_State *L, int idx) {
  int readonly;

  if (!lua_getmetatable(L, idx))
    return 0;
  lua_pushliteral(L, "__newindex");
  lua_rawget(L, -2);
  readonly = lua_tocfunction(L, -1) == readonly_newindex;
  lua_pop(L, 2);
  return readonly;
}


/* rawset() that also respects read-only views, which would otherwise
 * take new fields that shadow the table behind them. Upvalue 1 is the
 * original rawset. */
static int sandbox_rawset(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  if (is_readonly(L, 1))
    return luaL_error(L, "cannot rawset a field of a read-only table");
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}


/* The iterator of pairs(view): next() over the table behind the view,
 * which it never hands out. */
static int readonly_next(lua_State *L) {
  lua_settop(L, 2);
  lua_getmetatable(L, 1);
  lua_getfield(L, -1, "__index");  /* stack: view, key, mt, table */
  lua_pushvalue(L, 2);
  if (lua_next(L, -2) == 0) {
    lua_pushnil(L);
    return 1;
  }
  return 2;
}


static int readonly_pairs(lua_State *L) {
  lua_pushcfunction(L, readonly_next);
  lua_pushvalue(L, 1);
  lua_pushnil(L);
  return 3;
}


static int push_readonly(lua_State *L) {
  lua_newtable(L);  /* stack: table, view */
  lua_createtable(L, 0, 4);
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, readonly_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pushcfunction(L, readonly_pairs);
  lua_setfield(L, -2, "__pairs");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);
  return 1;
}


int st_script_push_readonly(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  lua_pushcfunction(L, push_readonly);
  lua_pushvalue(L, idx);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    lua_pop(L, 1);
    return ST_ENOMEM;
  }
  return 0;
}


/* }==================================================================== */


/* {====================================================================
 * Replacements for base functions
 * ==================================================================== */

static int undefined_global(lua_State *L) {
  const char *name = lua_tostring(L, 2);

  return luaL_error(L, "undefined global '%s'", name ? name : "?");
}


static int new_global(lua_State *L) {
  const char *name = lua_tostring(L, 2);

  return luaL_error(L,
                    "assignment to undefined global '%s'; declare it "
                    "local", name ? name : "?");
}


/* load() that accepts text chunks only, because binary chunks can break
 * the VM's memory safety. Upvalue 1 is the original load and upvalue 2
 * the environment. A chunk gets that environment when the call passes no
 * env argument, where the standard load would give it the state's global
 * table. */
static int load_text_only(lua_State *L) {
  int has_env = !lua_isnone(L, 4);

  lua_settop(L, 4);
  if (!has_env) {
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_replace(L, 4);
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  lua_pushliteral(L, "t");
  lua_pushvalue(L, 4);
  lua_call(L, 4, LUA_MULTRET);
  return lua_gettop(L) - 4;
}


/* setmetatable() that rejects a metatable with a __gc field: a finalizer
 * runs whenever the collector reaches it, outside the time budget and any
 * pcall of the code that set it. Lua marks a table for finalization only
 * when its metatable has __gc at this call, so a __gc field added later
 * is never called. Upvalue 1 is the original setmetatable. */
static int sandbox_setmetatable(lua_State *L) {
  if (lua_type(L, 2) == LUA_TTABLE) {
    lua_pushliteral(L, "__gc");
    if (lua_rawget(L, 2) != LUA_TNIL)
      return luaL_error(L, "__gc metamethods are not available in the "
                           "sandbox, because finalizers would run outside "
                           "the time budget");
    lua_pop(L, 1);
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}


/* Returns nonzero when the metatable on top of the stack, that of the
 * value at idx, is shared by the whole state. Values other than tables
 * (strings, userdata) get their metatables from C code only. Tables share
 * one when C code registered it under its __name with luaL_newmetatable(),
 * as for flow header tables. */
static int is_host_metatable(lua_State *L, int idx) {
  int registered;

  if (lua_type(L, idx) != LUA_TTABLE)
    return 1;
  lua_pushliteral(L, "__name");
  if (lua_rawget(L, -2) != LUA_TSTRING) {
    lua_pop(L, 1);
    return 0;
  }
  lua_rawget(L, LUA_REGISTRYINDEX);
  registered = lua_rawequal(L, -1, -2);
  lua_pop(L, 1);
  return registered;
}


/* getmetatable() that returns nil for host metatables, so that code in
 * one environment cannot change the methods of strings, HTML nodes or
 * header tables for every other. Otherwise as the standard one. */
static int sandbox_getmetatable(lua_State *L) {
  luaL_checkany(L, 1);
  if (!lua_getmetatable(L, 1) || is_host_metatable(L, 1)) {
    lua_pushnil(L);
    return 1;
  }
  luaL_getmetafield(L, 1, "__metatable");
  return 1;
}


/* collectgarbage() with the "count" option only. The others would let
 * one environment stop or retune the collector that every environment of
 * the state and the memory cap depend on, or spend time in one long C
 * call that the time budget cannot interrupt. */
static int sandbox_collectgarbage(lua_State *L) {
  const char *option = luaL_optstring(L, 1, "collect");

  if (strcmp(option, "count") != 0)
    return luaL_error(L, "collectgarbage option '%s' is not available in "
                         "the sandbox; only \"count\" is", option);
  lua_pushnumber(L, (lua_Number)lua_gc(L, LUA_GCCOUNT) +
                    (lua_Number)lua_gc(L, LUA_GCCOUNTB) / 1024);
  return 1;
}


/* warn() that logs every message as a warning. Control messages ("@on",
 * "@off") are ignored, because they would switch warnings for every
 * environment of the state. */
static int sandbox_warn(lua_State *L) {
  int n = lua_gettop(L);

  luaL_checkstring(L, 1);
  for (int i = 2; i <= n; i++)
    luaL_checkstring(L, i);
  if (n == 1 && lua_tostring(L, 1)[0] == '@')
    return 0;
  lua_concat(L, n);
  st__script_log_line(L, ST_LOG_WARN, lua_tostring(L, -1));
  return 0;
}


/* }==================================================================== */


/* {====================================================================
 * require
 * ==================================================================== */

static int is_word_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_';
}


/* Returns nonzero when name is "stratosphere." and dot-separated words of
 * ASCII letters, digits and '_'. Such a name maps to a file inside the
 * lua/ folder: no '/', no "..", no NUL. */
static int is_project_module(const char *name, size_t len) {
  size_t word = 0;

  if (len <= PROJECT_PREFIX_LEN ||
      memcmp(name, PROJECT_PREFIX, PROJECT_PREFIX_LEN) != 0)
    return 0;
  for (size_t i = PROJECT_PREFIX_LEN; i < len; i++) {
    if (name[i] == '.' && word > 0)
      word = 0;
    else if (is_word_char((unsigned char)name[i]))
      word++;
    else
      return 0;
  }
  return word > 0;
}


static int readable(const char *path) {
  FILE *f = fopen(path, "r");

  if (f == NULL)
    return 0;
  fclose(f);
  return 1;
}


/* Pushes the file of the project module name, <lua dir>/a/b.lua or else
 * <lua dir>/a/b/init.lua for "a.b", and returns it. Raises when neither
 * can be read. */
static const char *push_module_file(lua_State *L, const char *name) {
  const char *dir = st_script_lua_dir();
  const char *relative = luaL_gsub(L, name, ".", "/");
  const char *file = lua_pushfstring(L, "%s/%s.lua", dir, relative);

  if (readable(file)) {
    lua_remove(L, -2);
    return file;
  }
  file = lua_pushfstring(L, "%s/%s/init.lua", dir, relative);
  if (readable(file)) {
    lua_remove(L, -3);
    lua_remove(L, -2);
    return file;
  }
  luaL_error(L, "module '%s' not found: no file '%s/%s.lua' or '%s'", name,
             dir, relative, file);
  return NULL;
}


/* require() of an environment: upvalue 1 is the environment and upvalue 2
 * its module cache. It returns, in order: a module in the cache, a C
 * module that the host registered in the registry's package.preload table,
 * or a project Lua module from the lua/ folder, run with the environment
 * as its _ENV. No other name is reachable, because there is no package
 * table whose path, searchers or cache code could change. */
static int sandbox_require(lua_State *L) {
  size_t len;
  const char *name = luaL_checklstring(L, 1, &len);
  const char *file;

  lua_settop(L, 1);
  lua_pushvalue(L, 1);
  if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL)
    return 1;
  lua_pop(L, 1);

  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushvalue(L, 1);
  if (lua_rawget(L, -2) == LUA_TFUNCTION) {
    lua_pushvalue(L, 1);
    lua_pushliteral(L, ":preload:");
    lua_call(L, 2, 1);  /* stack: name, preload, module */
  } else if (!is_project_module(name, len)) {
    return luaL_error(L, "module '%s' is not available to extractors; "
                         "they can require stratosphere.* modules, cjson, "
                         "string, table, math, utf8 and os (time, clock, "
                         "date and difftime)", name);
  } else {
    lua_settop(L, 1);
    file = push_module_file(L, name);
    if (luaL_loadfilex(L, file, "t") != LUA_OK)
      return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s",
                        name, file, lua_tostring(L, -1));
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_setupvalue(L, -2, 1);  /* a main chunk's only upvalue is _ENV */
    lua_pushvalue(L, 1);
    lua_pushstring(L, file);
    lua_call(L, 2, 1);  /* stack: name, file, module */
  }

  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
  }
  lua_pushvalue(L, 1);
  lua_pushvalue(L, -2);
  lua_rawset(L, lua_upvalueindex(2));
  return 1;
}


/* }==================================================================== */


/* {====================================================================
 * Environments
 * ==================================================================== */

/* Pushes a shallow copy of the table at idx. */
static void push_copy(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  lua_newtable(L);
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {  /* stack: copy, key, value */
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -4);
  }
}


/* Sets field name of the table at idx to the value on top, which it pops,
 * without metamethods. */
static void set_raw(lua_State *L, int idx, const char *name) {
  lua_pushstring(L, name);
  lua_insert(L, -2);
  lua_rawset(L, idx);
}


/* Fills the environment at env with the sandbox's globals and loaded
 * with its library tables, then makes reads and writes of undefined
 * globals in env raise. */
static void fill_env(lua_State *L, int env, int loaded) {
  env = lua_absindex(L, env);
  loaded = lua_absindex(L, loaded);

  lua_rawgetp(L, LUA_REGISTRYINDEX, &masters_key);
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {  /* stack: masters, name, value */
    if (lua_istable(L, -1)) {
      push_copy(L, -1);
      lua_replace(L, -2);
      lua_pushvalue(L, -2);
      lua_pushvalue(L, -2);
      lua_rawset(L, loaded);
    }
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, env);
  }
  lua_pop(L, 1);

  lua_pushvalue(L, env);
  set_raw(L, env, LUA_GNAME);
  lua_pushvalue(L, env);
  set_raw(L, loaded, LUA_GNAME);
  st__script_push_log(L);
  set_raw(L, env, "log");

  lua_rawgetp(L, LUA_REGISTRYINDEX, &load_key);
  lua_pushvalue(L, env);
  lua_pushcclosure(L, load_text_only, 2);
  set_raw(L, env, "load");
  lua_pushvalue(L, env);
  lua_pushvalue(L, loaded);
  lua_pushcclosure(L, sandbox_require, 2);
  set_raw(L, env, "require");

  lua_createtable(L, 0, 2);
  lua_pushcfunction(L, undefined_global);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, new_global);
  lua_setfield(L, -2, "__newindex");
  lua_setmetatable(L, env);
}


/* Moves the base functions that luaopen_base() puts in the global table
 * into the master table on top of the stack, wrapping the ones the
 * sandbox restricts, and empties the global table. */
static void take_base_functions(lua_State *L) {
  static const luaL_Reg replaced[] = {
    { "print", st__script_log_info },  /* stdout is not the log */
    { "warn", sandbox_warn },
    { "getmetatable", sandbox_getmetatable },
    { "collectgarbage", sandbox_collectgarbage },
    { NULL, NULL },
  };
  int masters = lua_absindex(L, -1);

  lua_pushcfunction(L, luaopen_base);
  lua_call(L, 0, 1);  /* stack: masters, globals */
  for (const char *const *name = base_kept; *name != NULL; name++) {
    lua_getfield(L, -1, *name);
    lua_setfield(L, masters, *name);
  }
  lua_getfield(L, -1, "setmetatable");
  lua_pushcclosure(L, sandbox_setmetatable, 1);
  lua_setfield(L, masters, "setmetatable");
  lua_getfield(L, -1, "rawset");
  lua_pushcclosure(L, sandbox_rawset, 1);
  lua_setfield(L, masters, "rawset");
  lua_getfield(L, -1, "load");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &load_key);
  lua_pop(L, 1);
  luaL_setfuncs(L, replaced, 0);

  /* dofile and loadfile are not in the masters, so they go here. Lua
   * allows clearing fields during lua_next. */
  lua_pushglobaltable(L);
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_pushnil(L);
    lua_rawset(L, -4);
  }
  lua_pop(L, 1);
}


void st__sandbox_open(lua_State *L) {
  static const luaL_Reg libs[] = {
    { LUA_STRLIBNAME, luaopen_string },
    { LUA_TABLIBNAME, luaopen_table },
    { LUA_MATHLIBNAME, luaopen_math },
    { LUA_UTF8LIBNAME, luaopen_utf8 },
    { NULL, NULL },
  };

  lua_newtable(L);  /* stack: masters */
  take_base_functions(L);
  /* Called directly rather than with luaL_requiref(), which would put the
   * full libraries in package.loaded. */
  for (const luaL_Reg *lib = libs; lib->func != NULL; lib++) {
    lua_pushcfunction(L, lib->func);
    lua_call(L, 0, 1);
    lua_setfield(L, -2, lib->name);
  }
  lua_pushcfunction(L, luaopen_os);
  lua_call(L, 0, 1);
  lua_newtable(L);
  for (const char *const *name = os_kept; *name != NULL; name++) {
    lua_getfield(L, -2, *name);
    lua_setfield(L, -2, *name);
  }
  lua_setfield(L, -3, LUA_OSLIBNAME);
  lua_pop(L, 1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &masters_key);

  lua_pushglobaltable(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  fill_env(L, -2, -1);
  lua_pop(L, 2);
}


static int push_env(lua_State *L) {
  lua_newtable(L);  /* stack: env */
  lua_newtable(L);
  fill_env(L, 1, 2);
  lua_pop(L, 1);
  return 1;
}


int st_script_push_env(lua_State *L) {
  int sandboxed = lua_rawgetp(L, LUA_REGISTRYINDEX, &masters_key) !=
                  LUA_TNIL;

  lua_pop(L, 1);
  if (!sandboxed)
    return ST_EINVAL;
  lua_pushcfunction(L, push_env);
  if (lua_pcall(L, 0, 1, 0) != LUA_OK) {
    lua_pop(L, 1);
    return ST_ENOMEM;
  }
  return 0;
}


/* }==================================================================== */
