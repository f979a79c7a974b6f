#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "cli/internal.h"
#include "script/script.h"
#include "util/err.h"

static const struct st_cli_option options[] = {
  { "probe", 'p', "FILE", "flows file for the global probe (default: "
                          "probe.db in the data folder)" },
  { "kb", 'k', "FILE", "knowledge base for the global kb (default: kb.db "
                       "in the data folder)" },
  { NULL, 0, NULL, NULL },
};


/* Sets the global `arg` as the standalone interpreter does: the script at
 * index 0 and its arguments from 1. */
static void push_arg_table(lua_State *L, const struct st_cli_args *args) {
  lua_createtable(L, (int)args->positional_count, 1);
  for (size_t i = 0; i < args->positional_count; i++) {
    lua_pushstring(L, args->positional[i]);
    lua_rawseti(L, -2, (lua_Integer)i);
  }
  lua_setglobal(L, "arg");
}


/* Runs the script in the REPL's environment: the globals probe, kb,
 * overview(), analyze(), show(), search(), try() and run() are set. */
static int cmd_lua(struct st_cli_args *args) {
  struct st_config cfg;
  const char *script;
  lua_State *L = NULL;
  int rc;

  if (args->positional_count == 0)
    return st_cli_usage_error(args, "missing SCRIPT.lua");
  rc = st_cli_load_config(args, &cfg);
  if (rc == ST_EXIT_OK)
    rc = st__cli_check_config_files(args, &cfg);
  if (rc == ST_EXIT_OK)
    rc = st__cmd_repl_open_env(&cfg, st_cli_get(args, "probe"),
                               st_cli_get(args, "kb"), NULL, "lua", &L);
  st_config_cleanup(&cfg);
  if (rc != ST_EXIT_OK)
    return rc;
  push_arg_table(L, args);

  script = args->positional[0];
  if (strcmp(script, "-") == 0)
    script = NULL;  /* luaL_loadfile reads stdin */
  if (luaL_loadfile(L, script) != LUA_OK) {
    fprintf(stderr, "stratosphere lua: %s\n", lua_tostring(L, -1));
    st_script_free(&L);
    return ST_EXIT_FAIL;
  }
  for (size_t i = 1; i < args->positional_count; i++)
    lua_pushstring(L, args->positional[i]);
  rc = ST_EXIT_OK;
  if (st_script_pcall(L, (int)args->positional_count - 1, 0) != LUA_OK) {
    fprintf(stderr, "stratosphere lua: %s\n", lua_tostring(L, -1));
    rc = ST_EXIT_FAIL;
  }
  st_script_free(&L);
  return rc;
}


const struct st_cli_command st_cli_cmd_lua = {
  "lua", "[--probe FILE] [--kb FILE] SCRIPT.lua [ARGS...]",
  "run a Lua script with the REPL's globals (\"-\" reads stdin)",
  options, cmd_lua, NULL,
};
