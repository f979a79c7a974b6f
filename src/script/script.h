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

/* The libraries a state opens. */
enum st_script_libs {
  /* Every standard library, for the REPL and `stratosphere lua`. */
  ST_SCRIPT_FULL = 0,

  /* The allow-list for extractors and dashboard pages. It has the base
   * functions without dofile and loadfile, and string, table, math, utf8
   * and os with time, clock, date and difftime only. It has no io, debug,
   * coroutine or package. load accepts text chunks only, and require
   * finds only the project's stratosphere.* modules, cjson and those
   * libraries. setmetatable rejects __gc, collectgarbage accepts "count"
   * only, getmetatable hides the metatables the host set (strings,
   * userdata, flow headers), and undefined globals raise. */
  ST_SCRIPT_SANDBOX = 1,

  /* No library at all, not even the base functions, and no `log`, for
   * configuration files, which only build a table. */
  ST_SCRIPT_BARE = 2,
};

struct st_script_options {
  enum st_script_libs libs;

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
 * code cannot catch the error and go on. Lua code is interrupted by a
 * count hook; C functions are interrupted only where they call
 * st_script_budget_check(), and other long calls into C run to their
 * end. */
void st_script_budget_begin(lua_State *L, double seconds);
void st_script_budget_end(lua_State *L);

/* Raises the budget error when a budget runs and has run out, as the
 * hook does for Lua code; returns otherwise. C functions that may run
 * long call it every few thousand steps: it costs one clock read. Does
 * nothing in states that st_script_new() did not create. */
void st_script_budget_check(lua_State *L);

/* Returns nonzero when the budget started last has run out. */
int st_script_budget_expired(lua_State *L);

/* Bytes the state holds now, and the largest number it has held. */
size_t st_script_memory_used(lua_State *L);
size_t st_script_memory_peak(lua_State *L);

/* Counts bytes allocated outside the state's allocator, such as an HTML
 * tree parsed on another thread and handed to the state, against its
 * memory cap, as if the state had allocated them. Returns 0, ST_ENOMEM
 * when the cap would be exceeded (nothing is counted then), or ST_EINVAL
 * for a state that st_script_new() did not create.
 * st_script_uncharge() takes the bytes back when they are freed. */
int st_script_charge(lua_State *L, size_t bytes);
void st_script_uncharge(lua_State *L, size_t bytes);

/* Calls the function below nargs arguments like lua_pcall, with a message
 * handler that appends a traceback to string errors. Returns the lua_pcall
 * status; on error the message is on the stack. */
int st_script_pcall(lua_State *L, int nargs, int nresults);

/* Pushes a new global environment for code loaded into a sandboxed state,
 * such as one extractor file: set it as the chunk's first upvalue
 * (_ENV). It has the same globals as the state's global table, but its
 * own copies of the library tables and of `log`, and its own module
 * cache, so require loads the project's modules again for it. Code in one
 * environment thus cannot change what another reads. Returns 0, ST_EINVAL
 * for a state that is not sandboxed, or ST_ENOMEM; nothing is pushed on
 * failure. */
int st_script_push_env(lua_State *L);

/* Pushes a read-only view of the table at idx: reads and pairs() go to
 * the table, and assignments, rawset() in a sandboxed state and
 * setmetatable() raise. The table itself is never handed out through the
 * view. Returns 0, or ST_ENOMEM with nothing pushed. */
int st_script_push_readonly(lua_State *L, int idx);

/* Returns the folder of the project's Lua modules (lua/): the environment
 * variable STRATOSPHERE_LUA_DIR when set, else lua/ beside the folder that
 * holds the binary, else the source tree's lua/. The string is static. */
const char *st_script_lua_dir(void);

#endif
