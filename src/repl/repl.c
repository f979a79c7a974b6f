#include "repl/repl.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <editline/readline.h>
#include <lauxlib.h>

#include "script/script.h"
#include "util/err.h"

/* Set by the SIGINT handler; the loop reads and clears it. */
static volatile sig_atomic_t interrupted;

/* The state running Lua code right now, so that Ctrl-C can stop it; NULL
 * while the loop waits for input. */
static lua_State *volatile running;

/* The state and stack index of the session that Tab completion asks, set
 * while the interactive loop runs. */
static lua_State *complete_state;
static int complete_session;

/* Characters that end the word being completed: not '.' or ':', so that
 * "probe:fl" completes as one word. */
static char word_breaks[] = " \t\n\"'`@$><=;|&{(,+-*/%^~#[]";


/* Raises in the running Lua code at its next instruction, as the
 * standalone lua does on Ctrl-C. */
static void stop_hook(lua_State *L, lua_Debug *ar) {
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted");
}


static void on_sigint(int sig) {
  lua_State *L = running;

  interrupted = 1;
  /* lua_sethook is safe to call from a signal handler (see lua.c). */
  if (L != NULL)
    lua_sethook(L, stop_hook,
                LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
}


int st_repl_setup(lua_State *L, const struct st_repl_env *env, char *err,
                  size_t errlen) {
  int status;

  lua_getglobal(L, "require");
  lua_pushliteral(L, "stratosphere.inspect");
  status = st_script_pcall(L, 1, 1);
  if (status == LUA_OK) {
    lua_getfield(L, -1, "install");  /* stack: inspect, install */
    lua_pushglobaltable(L);
    lua_createtable(L, 0, 5);
    lua_pushstring(L, env->probe_path);
    lua_setfield(L, -2, "probe");
    lua_pushstring(L, env->kb_path);
    lua_setfield(L, -2, "kb");
    lua_pushstring(L, env->extractor_dir);
    lua_setfield(L, -2, "extractors");
    lua_pushnumber(L, env->extractor_budget);
    lua_setfield(L, -2, "budget");
    lua_pushinteger(L, (lua_Integer)env->extractor_memory);
    lua_setfield(L, -2, "memory");
    if (env->probe_hint != NULL) {
      lua_pushstring(L, env->probe_hint);
      lua_setfield(L, -2, "probe_hint");
    }
    status = st_script_pcall(L, 2, 0);
  }
  if (status != LUA_OK) {
    st_seterr(err, errlen, ST_ELUA, "setting up the REPL failed: %s",
              lua_tostring(L, -1));
    lua_pop(L, 1);
    return ST_ELUA;
  }
  lua_pop(L, 1);
  return 0;
}


/* Pushes a new evaluator session (repl.lua's M.new()). */
static int push_session(lua_State *L, char *err, size_t errlen) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "stratosphere.repl");
  if (st_script_pcall(L, 1, 1) == LUA_OK) {
    lua_getfield(L, -1, "new");
    lua_remove(L, -2);
    if (st_script_pcall(L, 0, 1) == LUA_OK)
      return 0;
  }
  st_seterr(err, errlen, ST_ELUA, "loading the REPL failed: %s",
            lua_tostring(L, -1));
  lua_pop(L, 1);
  return ST_ELUA;
}


/* Calls session:method(arg) with the session at index session and leaves
 * the results on the stack. Ctrl-C during the call stops the Lua code.
 * Returns the pcall status. */
static int call_session(lua_State *L, int session, const char *method,
                        const char *arg, int nresults) {
  int status;

  lua_getfield(L, session, method);
  lua_pushvalue(L, session);
  lua_pushstring(L, arg);
  running = L;
  status = st_script_pcall(L, 2, nresults);
  running = NULL;
  lua_sethook(L, NULL, 0, 0);
  interrupted = 0;
  return status;
}


int st_repl_eval(lua_State *L, const char *code) {
  char err[ST_ERRLEN];
  int ok;

  if (push_session(L, err, sizeof(err)) != 0) {
    fprintf(stderr, "%s\n", err);
    return ST_ELUA;
  }
  if (call_session(L, lua_gettop(L), "run", code, 1) != LUA_OK) {
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
    lua_pop(L, 2);
    return ST_ELUA;
  }
  ok = lua_toboolean(L, -1);
  lua_pop(L, 2);
  return ok ? 0 : ST_ELUA;
}


/* readline's generator: returns the state-th completion of text as a
 * malloc'd string, asking session:complete() when state is 0. */
static char *complete_next(const char *text, int state) {
  static char **names;
  static size_t count, next;
  lua_State *L = complete_state;

  if (state == 0) {
    for (size_t i = next; i < count; i++)
      free(names[i]);
    free(names);
    names = NULL;
    count = next = 0;
    if (L == NULL)
      return NULL;
    lua_getfield(L, complete_session, "complete");
    lua_pushvalue(L, complete_session);
    lua_pushstring(L, text);
    if (lua_pcall(L, 2, 1, 0) == LUA_OK && lua_istable(L, -1)) {
      size_t n = (size_t)luaL_len(L, -1);

      names = calloc(n ? n : 1, sizeof(*names));
      for (size_t i = 1; names != NULL && i <= n; i++) {
        lua_geti(L, -1, (lua_Integer)i);
        if (lua_isstring(L, -1))
          names[count++] = strdup(lua_tostring(L, -1));
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
  }
  if (next >= count)
    return NULL;
  return names[next++];  /* readline frees it */
}


static char **complete(const char *text, int start, int end) {
  rl_attempted_completion_over = 1;  /* no file names as a fallback */
  return rl_completion_matches(text, complete_next);
}


/* Reads one line without a terminal; returns a malloc'd string without
 * the newline, or NULL at end of input. */
static char *read_plain_line(void) {
  char *line = NULL;
  size_t cap = 0;
  ssize_t n = getline(&line, &cap, stdin);

  if (n < 0) {
    free(line);
    return NULL;
  }
  if (n > 0 && line[n - 1] == '\n')
    line[n - 1] = '\0';
  return line;
}


static void load_history(const char *path) {
  using_history();
  stifle_history(ST_REPL_HISTORY_MAX);
  if (path != NULL)
    read_history(path);  /* a missing file is the normal first run */
}


/* Returns 0 when the history file at path can be written, else the errno.
 * Opening it for appending creates a missing file and changes nothing
 * else; a folder at path fails with EISDIR. */
static int check_history(const char *path) {
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

  if (fd < 0)
    return errno;
  close(fd);
  return 0;
}


/* Adds a finished statement to the history and rewrites the file, so a
 * session that is killed keeps what was typed before. A failed write is
 * reported once per session. */
static void save_history(const char *path, const char *statement) {
  static int warned;
  int rc;
  HIST_ENTRY *last;

  if (statement[strspn(statement, " \t\n")] == '\0')
    return;
  last = history_length > 0 ? history_get(history_base + history_length - 1)
                            : NULL;
  if (last == NULL || strcmp(last->line, statement) != 0)
    add_history(statement);
  if (path == NULL)
    return;
  rc = write_history(path);
  if (rc == 0) {
    chmod(path, 0600);
  } else if (!warned) {
    warned = 1;
    fprintf(stderr, "stratosphere repl: cannot write the history to %s "
                    "(%s); history will not be saved\n", path, strerror(rc));
  }
}


/* The loop proper; the session is at the top of the stack. */
static void loop(lua_State *L, const char *history_path, int tty) {
  int session = lua_gettop(L);
  const char *prompt = "> ";

  for (;;) {
    char *line;
    const char *status;

    fflush(stdout);
    interrupted = 0;
    errno = 0;
    line = tty ? readline(prompt) : read_plain_line();
    if (line == NULL) {
      if (interrupted) {  /* Ctrl-C at the prompt: drop the statement */
        fputs("\n", stdout);
        call_session(L, session, "cancel", "", 0);
        prompt = "> ";
        continue;
      }
      if (tty)
        fputs("\n", stdout);
      break;
    }

    if (call_session(L, session, "feed", line, 2) != LUA_OK) {
      /* feed catches errors of the user's code; this is the evaluator's
       * own failure, or Ctrl-C while it compiled. */
      fprintf(stderr, "%s\n", lua_tostring(L, -1));
      lua_pop(L, 1);
      call_session(L, session, "cancel", "", 0);
      free(line);
      prompt = "> ";
      continue;
    }
    status = lua_tostring(L, -2);
    if (status != NULL && strcmp(status, "more") == 0) {
      prompt = ">> ";
    } else {
      if (tty && lua_tostring(L, -1) != NULL)
        save_history(history_path, lua_tostring(L, -1));
      prompt = "> ";
    }
    lua_pop(L, 2);
    free(line);
  }
}


int st_repl_run(lua_State *L, const char *history_path, char *err,
                size_t errlen) {
  struct sigaction sa, old;
  int tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);

  if (push_session(L, err, errlen) != 0)
    return ST_ELUA;

  if (tty) {
    rl_readline_name = "stratosphere";
    rl_attempted_completion_function = complete;
    rl_completer_word_break_characters = word_breaks;
    rl_completion_append_character = '\0';
    complete_state = L;
    complete_session = lua_gettop(L);
    if (history_path != NULL) {
      int rc = check_history(history_path);

      if (rc != 0) {
        fprintf(stderr, "stratosphere repl: cannot write the history to %s "
                        "(%s); history will not be saved\n", history_path,
                strerror(rc));
        history_path = NULL;
      }
    }
    load_history(history_path);
    printf("stratosphere repl, %s: help() lists the helpers, Tab "
           "completes names, Ctrl-D leaves\n", LUA_RELEASE);
  }

  /* Without SA_RESTART, so that Ctrl-C interrupts libedit's read() and
   * readline() returns NULL with interrupted set. */
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old);

  loop(L, history_path, tty);

  sigaction(SIGINT, &old, NULL);
  complete_state = NULL;
  lua_pop(L, 1);
  return 0;
}
