/* The embedded Lua 5.4 runtime: creating a lua_State with the project's
 * allocator and memory cap, the sandbox that extractors run in, the C
 * modules every state can require, the `log` functions, and the time
 * budget that stops an extractor which runs too long.
 *
 * A lua_State made here belongs to the thread that created it: the
 * pipeline thread, the REPL, or the dashboard's loop thread. */
#ifndef ST_SCRIPT_H
#define ST_SCRIPT_H

#include <stddef.h>

#include <lua.h>

struct st_script_options {
  /* Nonzero: the extractor allow-list (no io, no os.execute, no loading of
   * C modules or binary chunks, require limited to stratosphere.* and
   * cjson, undefined globals raise). Zero: every standard library, for the
   * REPL and `stratosphere lua`. */
  int sandbox;

  /* Bytes the state may hold; 0 means no cap. Past the cap an allocation
   * fails and Lua raises "not enough memory". */
  size_t memory_limit;

  /* Log component for log.* and warn(), such as "pipeline"; NULL gives
   * "lua". */
  const char *component;
};

/* Creates a state. Returns it, or NULL with one line in err. The caller
 * frees it with st_script_free(). */
lua_State *st_script_new(const struct st_script_options *opts, char *err,
                         size_t errlen);

/* Closes the state and sets *L to NULL; accepts NULL. */
void st_script_free(lua_State **L);

/* Sets the name that log.* lines carry after the component, such as the
 * extractor being run ("extractor=google_search"). name is copied; NULL
 * clears it. */
void st_script_set_context(lua_State *L, const char *name);

/* Starts a time budget of seconds for the Lua code run until
 * st_script_budget_end(). When it runs out, every following Lua line
 * raises "time budget of N s exceeded", so a pcall inside the running
 * code cannot catch the error and go on. Only Lua code is interrupted: a
 * single long call into C runs to its end. */
void st_script_budget_begin(lua_State *L, double seconds);
void st_script_budget_end(lua_State *L);

/* Returns nonzero when the budget started last has run out. */
int st_script_budget_expired(lua_State *L);

/* Bytes the state holds now, and the largest number it has held. */
size_t st_script_memory_used(lua_State *L);
size_t st_script_memory_peak(lua_State *L);

/* Calls the function below nargs arguments like lua_pcall, with a message
 * handler that appends a traceback to string errors. Returns the lua_pcall
 * status; on error the message is on the stack. */
int st_script_pcall(lua_State *L, int nargs, int nresults);

/* Returns the folder of the project's Lua modules (lua/): the environment
 * variable STRATOSPHERE_LUA_DIR when set, else lua/ beside the folder that
 * holds the binary, else the source tree's lua/. The string is static. */
const char *st_script_lua_dir(void);

#endif
