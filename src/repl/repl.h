/* The interactive Lua prompt of `stratosphere repl`: line editing and
 * history through libedit, multi-line statements, printed results,
 * Ctrl-C to cancel a line or stop running code, Ctrl-D to leave.
 *
 * The evaluator is lua/stratosphere/repl.lua and the globals it offers
 * (probe, kb, overview(), analyze(), show(), search(), try(), run()) come
 * from lua/stratosphere/inspect.lua; this file is the terminal side.
 * Main thread only: the loop installs a SIGINT handler while it runs. */
#ifndef ST_REPL_H
#define ST_REPL_H

#include <stddef.h>

#include <lua.h>

/* Files the REPL's globals work on. Strings are borrowed for the call. */
struct st_repl_env {
  const char *probe_path;     /* flows, opened read-only on first use */
  const char *kb_path;        /* knowledge base, read-only on first use */
  const char *extractor_dir;  /* where try "name" looks for name.lua */
  double extractor_budget;    /* seconds per flow for try() and run() */
  size_t extractor_memory;    /* bytes the extractor's state may hold */
  const char *probe_hint;     /* what to do when probe_path cannot be
                               * opened; NULL for the REPL's own hint */
};

/* Lines of history kept in the history file. */
#define ST_REPL_HISTORY_MAX 1000

/* Installs the REPL's globals into L, a full (not sandboxed) state.
 * Returns 0, or ST_ELUA with the Lua message in err. */
int st_repl_setup(lua_State *L, const struct st_repl_env *env, char *err,
                  size_t errlen);

/* Runs code as `stratosphere repl -e CODE` does: an expression prints its
 * value, a statement runs. Errors go to stderr. Returns 0, or ST_ELUA
 * when the code failed. */
int st_repl_eval(lua_State *L, const char *code);

/* Reads and runs statements from standard input until end of input (Ctrl-D
 * on a terminal). On a terminal, lines are edited with libedit and each
 * statement is added to the history file at history_path (NULL: no file),
 * which is created with mode 0600. Without a terminal, lines are read
 * plainly and no prompt is printed. Returns 0, or ST_ELUA with a message
 * in err when the evaluator itself could not run. */
int st_repl_run(lua_State *L, const char *history_path, char *err,
                size_t errlen);

#endif
