/* Shared by the files of src/script that build lua_States: script.c
 * (allocator, logging, budget) and sandbox.c (the extractor sandbox). */
#ifndef ST_SCRIPT_INTERNAL_H
#define ST_SCRIPT_INTERNAL_H

#include <lua.h>

#include "util/log.h"

/* Logs message at level, if that level is enabled, with the state's log
 * component and context. */
void st__script_log_line(lua_State *L, enum st_log_level level,
                         const char *message);

/* print() and log.info(): joins the arguments with spaces through
 * tostring(), as print does, and logs them at info level. */
int st__script_log_info(lua_State *L);

/* Pushes a new `log` table: error, warn, info and debug. */
void st__script_push_log(lua_State *L);

/* Opens the sandbox in a new state: keeps master copies of the allowed
 * functions and libraries in the registry and fills the global table as
 * st_script_push_env() fills a new environment, with the registry's
 * package.loaded table as its module cache. Raises on a memory error, so
 * call it inside a protected call. */
void st__sandbox_open(lua_State *L);

#endif
