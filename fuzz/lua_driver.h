/* Runs the Lua half of a fuzz target: fuzz/lua/<name>.lua returns a
 * function that takes the input's pieces as strings, exercises a module
 * and raises an error when an invariant breaks.
 *
 * The driver runs in one sandboxed state per process, the kind extractors
 * get, with a memory cap and a time budget. "not enough memory" is
 * accepted, because the cap is there to stop hostile input. Any other
 * error aborts the process with the message, so that libFuzzer keeps the
 * input. */
#ifndef ST_FUZZ_LUA_DRIVER_H
#define ST_FUZZ_LUA_DRIVER_H

#include <stddef.h>

#include <lua.h>

/* Bytes the driver's state may hold, and seconds one call may take. */
#define FUZZ_LUA_MEMORY_MAX (512u * 1024 * 1024)
#define FUZZ_LUA_BUDGET 5.0

struct fuzz_lua_arg {
  const char *data;  /* any bytes, not NUL-terminated */
  size_t len;
};

/* Calls the function returned by fuzz/lua/<name>.lua with nargs strings.
 * The first call creates the state and loads the file; a missing file
 * aborts. */
void fuzz_lua_run(const char *name, const struct fuzz_lua_arg *args,
                  int nargs);

/* For drivers that take other values: returns the state with the driver
 * function of fuzz/lua/<name>.lua pushed. The caller pushes nargs
 * arguments and calls fuzz_lua_call(), which pops them all. */
lua_State *fuzz_lua_push_driver(const char *name);
void fuzz_lua_call(const char *name, int nargs);

#endif
