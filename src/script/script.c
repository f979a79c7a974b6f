#include "script/script.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/stat.h>

#include <lauxlib.h>
#include <lua-cjson.h>
#include <lualib.h>

#include "script/dblib.h"
#include "script/extractlib.h"
#include "script/flowlib.h"
#include "script/htmllib.h"
#include "script/internal.h"
#include "script/kblib.h"
#include "script/sourcelib.h"
#include "script/textlib.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/time.h"

/* Instructions between two clock reads while a budget runs. A clock read
 * costs tens of nanoseconds, so this keeps the check far below 1% of the
 * run time while still stopping a loop within a millisecond or so. */
#define BUDGET_CHECK_INSTRUCTIONS 10000

/* C modules that `require` finds in every state, sandboxed or not. */
static const luaL_Reg core_modules[] = {
  { "cjson", luaopen_cjson },
  { "stratosphere.core.kb", luaopen_stratosphere_core_kb },
  { "stratosphere.core.flow", luaopen_stratosphere_core_flow },
  { "stratosphere.core.html", luaopen_stratosphere_core_html },
  { "stratosphere.core.text", luaopen_stratosphere_core_text },
  { "stratosphere.core.source", luaopen_stratosphere_core_source },
  { NULL, NULL },
};

/* C modules that only full states (the REPL, `stratosphere lua`) find,
 * because they reach files beyond what an extractor is given. */
static const luaL_Reg full_modules[] = {
  { "stratosphere.core.db", luaopen_stratosphere_core_db },
  { "stratosphere.core.extract", luaopen_stratosphere_core_extract },
  { NULL, NULL },
};

/* Per-state bookkeeping, reached through the allocator's userdata so that
 * no Lua code can see or change it. */
struct script_state {
  size_t used;            /* bytes allocated by the state now */
  size_t peak;
  size_t limit;           /* 0: no cap */
  uint64_t deadline_ms;   /* st_time_mono_ms() value; 0: no budget */
  double budget_s;
  int expired;
  char component[32];
  char context[96];
  char warning[ST_LOG_LINE_MAX];  /* pieces of a warning being built */
  int warnings_on;
};


static struct script_state *state_of(lua_State *L) {
  void *ud;

  lua_getallocf(L, &ud);
  return ud;
}


/* Lua's allocator contract: nsize 0 frees; ptr NULL means a new block, in
 * which case osize carries the object type, not a size. Frees and
 * shrinks never fail, so the cap only guards growth. */
static void *script_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  struct script_state *s = ud;
  void *block;

  if (ptr == NULL)
    osize = 0;
  if (nsize == 0) {
    st_free(ptr);
    s->used -= osize;
    return NULL;
  }
  if (s->limit != 0 && nsize > osize && s->used + (nsize - osize) > s->limit)
    return NULL;
  block = st_realloc(ptr, nsize);
  if (block == NULL)
    return NULL;
  s->used = s->used - osize + nsize;
  if (s->used > s->peak)
    s->peak = s->used;
  return block;
}


/* {====================================================================
 * log.error / warn / info / debug, print and warn()
 * ==================================================================== */

/* Joins the arguments with spaces through tostring(), as print does. */
static const char *join_args(lua_State *L) {
  int n = lua_gettop(L);
  luaL_Buffer b;

  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; i++) {
    if (i > 1)
      luaL_addchar(&b, ' ');
    luaL_tolstring(L, i, NULL);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  return lua_tostring(L, -1);
}


void st__script_log_line(lua_State *L, enum st_log_level level,
                         const char *message) {
  struct script_state *s = state_of(L);

  if ((int)level > st_log_level)
    return;
  if (s->context[0] != '\0')
    st_log_write(level, s->component, "%s: %s", s->context, message);
  else
    st_log_write(level, s->component, "%s", message);
}


static int log_at(lua_State *L, enum st_log_level level) {
  if ((int)level <= st_log_level)
    st__script_log_line(L, level, join_args(L));
  return 0;
}


static int log_error(lua_State *L) { return log_at(L, ST_LOG_ERROR); }
static int log_warn(lua_State *L) { return log_at(L, ST_LOG_WARN); }
int st__script_log_info(lua_State *L) { return log_at(L, ST_LOG_INFO); }
static int log_debug(lua_State *L) { return log_at(L, ST_LOG_DEBUG); }


static const luaL_Reg log_functions[] = {
  { "error", log_error },
  { "warn", log_warn },
  { "info", st__script_log_info },
  { "debug", log_debug },
  { NULL, NULL },
};


void st__script_push_log(lua_State *L) {
  luaL_newlib(L, log_functions);
}


/* Lua's warning function: pieces arrive with tocont set until the last.
 * "@on" and "@off" switch warnings, as in the standalone interpreter. */
static void warn_to_log(void *ud, const char *piece, int tocont) {
  lua_State *L = ud;
  struct script_state *s = state_of(L);
  size_t have = strlen(s->warning);

  if (have == 0 && !tocont && piece[0] == '@') {
    if (strcmp(piece, "@on") == 0)
      s->warnings_on = 1;
    else if (strcmp(piece, "@off") == 0)
      s->warnings_on = 0;
    return;
  }
  snprintf(s->warning + have, sizeof(s->warning) - have, "%s", piece);
  if (tocont)
    return;
  if (s->warnings_on)
    st__script_log_line(L, ST_LOG_WARN, s->warning);
  s->warning[0] = '\0';
}


/* }==================================================================== */


static pthread_once_t lua_dir_once = PTHREAD_ONCE_INIT;
static char lua_dir[PATH_MAX];


static int is_dir(const char *path) {
  struct stat st;

  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}


static void find_lua_dir(void) {
  const char *env = getenv("STRATOSPHERE_LUA_DIR");
  char exe[PATH_MAX];
  ssize_t n;

  if (env != NULL && env[0] != '\0') {
    snprintf(lua_dir, sizeof(lua_dir), "%s", env);
    return;
  }
  n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    char *slash;

    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if (slash != NULL) {
      *slash = '\0';
      snprintf(lua_dir, sizeof(lua_dir), "%.*s/../lua",
               (int)(sizeof(lua_dir) - 8), exe);
      if (is_dir(lua_dir))
        return;
    }
  }
  snprintf(lua_dir, sizeof(lua_dir), "%s/lua", ST_SOURCE_DIR);
}


const char *st_script_lua_dir(void) {
  pthread_once(&lua_dir_once, find_lua_dir);
  return lua_dir;
}


static void set_package_path(lua_State *L) {
  const char *dir = st_script_lua_dir();

  lua_getglobal(L, LUA_LOADLIBNAME);
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua", dir, dir);
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
}


static void add_preloads(lua_State *L, int sandbox) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (const luaL_Reg *m = core_modules; m->name != NULL; m++) {
    lua_pushcfunction(L, m->func);
    lua_setfield(L, -2, m->name);
  }
  for (const luaL_Reg *m = full_modules; !sandbox && m->name != NULL; m++) {
    lua_pushcfunction(L, m->func);
    lua_setfield(L, -2, m->name);
  }
  lua_pop(L, 1);
}


/* Runs inside a protected call so that running out of memory while the
 * state is being set up becomes an error instead of a panic. Argument 1
 * is the struct st_script_options. */
static int setup_state(lua_State *L) {
  const struct st_script_options *opts = lua_touserdata(L, 1);

  if (opts->libs == ST_SCRIPT_BARE)
    return 0;
  add_preloads(L, opts->libs == ST_SCRIPT_SANDBOX);
  if (opts->libs == ST_SCRIPT_SANDBOX) {
    st__sandbox_open(L);
    return 0;
  }
  luaL_openlibs(L);
  set_package_path(L);
  st__script_push_log(L);
  lua_setglobal(L, "log");
  return 0;
}


lua_State *st_script_new(const struct st_script_options *opts, char *err,
                         size_t errlen) {
  struct script_state *s = st_calloc(1, sizeof(*s));
  lua_State *L;

  if (s == NULL) {
    st_seterr(err, errlen, ST_ENOMEM, "out of memory creating a Lua state");
    return NULL;
  }
  s->limit = opts->memory_limit;
  s->warnings_on = 1;
  snprintf(s->component, sizeof(s->component), "%s",
           opts->component ? opts->component : "lua");

  L = lua_newstate(script_alloc, s);
  if (L == NULL) {
    st_free(s);
    st_seterr(err, errlen, ST_ENOMEM, "out of memory creating a Lua state");
    return NULL;
  }
  lua_setwarnf(L, warn_to_log, L);

  lua_pushcfunction(L, setup_state);
  lua_pushlightuserdata(L, (void *)opts);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    st_seterr(err, errlen, ST_ELUA, "setting up a Lua state failed: %s",
              lua_tostring(L, -1));
    lua_close(L);
    st_free(s);
    return NULL;
  }
  return L;
}


void st_script_free(lua_State **L) {
  struct script_state *s;

  if (L == NULL || *L == NULL)
    return;
  s = state_of(*L);
  lua_close(*L);
  st_free(s);
  *L = NULL;
}


void st_script_set_context(lua_State *L, const char *name) {
  struct script_state *s = state_of(L);

  snprintf(s->context, sizeof(s->context), "%s", name ? name : "");
}


static void budget_hook(lua_State *L, lua_Debug *ar);


/* Pushes "chunk:line: " for the innermost Lua function that is running,
 * or "". A hook runs inside the function it interrupts (level 0), and
 * st_script_budget_check() inside a C function called from Lua (level 1),
 * so luaL_error's position, taken at level 1, would name the caller or
 * nothing. */
static void push_running_line(lua_State *L) {
  lua_Debug ar;

  for (int level = 0; level < 3 && lua_getstack(L, level, &ar); level++) {
    if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
      lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
      return;
    }
  }
  lua_pushliteral(L, "");
}


/* Raises the budget error, first making every later line and count
 * event raise it too, so that code which catches the error with pcall
 * cannot keep running. */
static void raise_budget_exceeded(lua_State *L, struct script_state *s) {
  char seconds[32];

  if (!s->expired) {
    s->expired = 1;
    lua_sethook(L, budget_hook, LUA_MASKLINE | LUA_MASKCOUNT, 1);
  }
  /* lua_pushfstring has no %g, so the number is formatted here. */
  snprintf(seconds, sizeof(seconds), "%g", s->budget_s);
  push_running_line(L);
  lua_pushfstring(L, "time budget of %s s exceeded", seconds);
  lua_concat(L, 2);
  lua_error(L);
}


static void budget_hook(lua_State *L, lua_Debug *ar) {
  struct script_state *s = state_of(L);

  (void)ar;
  if (!s->expired && st_time_mono_ms() < s->deadline_ms)
    return;
  raise_budget_exceeded(L, s);
}


void st_script_budget_check(lua_State *L) {
  void *ud;
  struct script_state *s;

  /* States that st_script_new did not create carry no budget. */
  if (lua_getallocf(L, &ud) != script_alloc)
    return;
  s = ud;
  if (s->deadline_ms == 0)
    return;
  if (!s->expired && st_time_mono_ms() < s->deadline_ms)
    return;
  raise_budget_exceeded(L, s);
}


void st_script_budget_begin(lua_State *L, double seconds) {
  struct script_state *s = state_of(L);

  s->budget_s = seconds;
  s->expired = 0;
  s->deadline_ms = st_time_mono_ms() + (uint64_t)(seconds * 1000.0);
  lua_sethook(L, budget_hook, LUA_MASKCOUNT, BUDGET_CHECK_INSTRUCTIONS);
}


void st_script_budget_end(lua_State *L) {
  struct script_state *s = state_of(L);

  lua_sethook(L, NULL, 0, 0);
  s->deadline_ms = 0;
}


int st_script_budget_expired(lua_State *L) {
  return state_of(L)->expired;
}


size_t st_script_memory_used(lua_State *L) {
  return state_of(L)->used;
}


size_t st_script_memory_peak(lua_State *L) {
  return state_of(L)->peak;
}


int st_script_charge(lua_State *L, size_t bytes) {
  void *ud;
  struct script_state *s;

  if (lua_getallocf(L, &ud) != script_alloc)
    return ST_EINVAL;
  s = ud;
  if (s->limit != 0 && (bytes > s->limit || s->used > s->limit - bytes))
    return ST_ENOMEM;
  s->used += bytes;
  if (s->used > s->peak)
    s->peak = s->used;
  return 0;
}


void st_script_uncharge(lua_State *L, size_t bytes) {
  state_of(L)->used -= bytes;
}


/* Message handler: adds a traceback to string errors and describes other
 * error values, as the standalone interpreter does. */
static int add_traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);

  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") &&
        lua_type(L, -1) == LUA_TSTRING)
      return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)",
                          luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}


int st_script_pcall(lua_State *L, int nargs, int nresults) {
  int base = lua_gettop(L) - nargs;
  int status;

  lua_pushcfunction(L, add_traceback);
  lua_insert(L, base);
  status = lua_pcall(L, nargs, nresults, base);
  lua_remove(L, base);
  return status;
}
