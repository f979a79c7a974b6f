/* Loading extractor files and the C prefilter.
 *
 * An extractor file returns a table:
 *   name     optional string, default: the file name without ".lua"
 *   version  optional string or number, recorded in observations
 *   match    optional table: method, url_prefix, url_pattern, content_type,
 *            each a string or a non-empty list of strings
 *   merge    optional function(old, new), used by every kb.upsert of it
 *   extract  function(flow, kb)
 * Anything else in the table is left alone, so a file may keep helpers
 * there for its tests. */
#include "pipeline/internal.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <lauxlib.h>

#include "script/script.h"
#include "util/alloc.h"

#define NAME_MAX_LEN 63  /* fits struct st_pipeline_extractor_stats */

static const char *const match_fields[] = {
  "method", "url_prefix", "url_pattern", "content_type", NULL,
};


int st__file_sig_read(const char *path, struct st__file_sig *sig) {
  struct stat st;

  if (stat(path, &st) != 0)
    return -errno;
  sig->size = (int64_t)st.st_size;
  sig->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 +
                  st.st_mtim.tv_nsec;
  return 0;
}


static void free_strings(char **items, size_t count) {
  for (size_t i = 0; i < count; i++)
    st_free(items[i]);
  st_free(items);
}


void st__extractor_code_cleanup(lua_State *L,
                                struct st__extractor_code *code) {
  struct st__match *m = &code->match;

  if (L != NULL) {
    luaL_unref(L, LUA_REGISTRYINDEX, code->extract_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, code->merge_ref);
  }
  st_free(code->name);
  st_free(code->version);
  free_strings(m->methods, m->method_count);
  free_strings(m->url_prefixes, m->url_prefix_count);
  free_strings(m->content_types, m->content_type_count);
  free_strings(m->url_pattern_texts, m->url_pattern_text_count);
  for (size_t i = 0; i < m->url_pattern_count; i++)
    regfree(&m->url_patterns[i]);
  st_free(m->url_patterns);
  memset(code, 0, sizeof(*code));
  code->extract_ref = LUA_NOREF;
  code->merge_ref = LUA_NOREF;
}


/* ---- validation, run inside lua_pcall --------------------------------- */

/* Raises message as is, without a position: the caller adds the file. */
static int raise(lua_State *L, const char *fmt, ...) {
  va_list ap;

  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  return lua_error(L);
}


/* Copies the string or list of strings at the top of the stack into a
 * new array, appended to *items one by one so that cleanup after an error
 * frees what was copied. */
static void read_string_list(lua_State *L, const char *field, char ***items,
                             size_t *count) {
  lua_Integer n;
  int value = lua_gettop(L);

  if (lua_type(L, value) == LUA_TSTRING) {
    n = 1;
  } else if (lua_type(L, value) == LUA_TTABLE) {
    n = (lua_Integer)lua_rawlen(L, value);
    if (n == 0)
      raise(L, "field 'match.%s' must not be an empty list", field);
  } else {
    raise(L, "field 'match.%s' must be a string or a list of strings, "
             "got %s", field, luaL_typename(L, value));
    return;
  }

  *items = st_calloc((size_t)n, sizeof(char *));
  if (*items == NULL)
    raise(L, "not enough memory");
  for (lua_Integer i = 1; i <= n; i++) {
    if (lua_type(L, value) == LUA_TTABLE &&
        lua_rawgeti(L, value, i) != LUA_TSTRING)
      raise(L, "field 'match.%s' item %d must be a string, got %s", field,
            (int)i, luaL_typename(L, -1));
    if (lua_type(L, value) == LUA_TSTRING)
      lua_pushvalue(L, value);
    (*items)[i - 1] = st_strdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    if ((*items)[i - 1] == NULL)
      raise(L, "not enough memory");
    (*count)++;
  }
}


static void compile_patterns(lua_State *L, struct st__match *m) {
  char **patterns = m->url_pattern_texts;

  if (m->url_pattern_text_count == 0)
    return;
  m->url_patterns = st_calloc(m->url_pattern_text_count, sizeof(regex_t));
  if (m->url_patterns == NULL)
    raise(L, "not enough memory");
  for (size_t i = 0; i < m->url_pattern_text_count; i++) {
    int rc = regcomp(&m->url_patterns[i], patterns[i],
                     REG_EXTENDED | REG_NOSUB);
    char reason[128];

    if (rc != 0) {
      regerror(rc, &m->url_patterns[i], reason, sizeof(reason));
      raise(L, "field 'match.url_pattern' '%s' is not a valid POSIX "
               "extended regular expression: %s", patterns[i], reason);
    }
    m->url_pattern_count++;
  }
}


/* Reads the match table at index idx into m. */
static void read_match(lua_State *L, int idx, struct st__match *m) {
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    const char *field = lua_type(L, -2) == LUA_TSTRING
                            ? lua_tostring(L, -2) : NULL;
    int i = 0;

    while (field != NULL && match_fields[i] != NULL &&
           strcmp(field, match_fields[i]) != 0)
      i++;
    if (field == NULL || match_fields[i] == NULL)
      raise(L, "field 'match.%s' is unknown (known: method, url_prefix, "
               "url_pattern, content_type)",
            field ? field : luaL_typename(L, -2));
    switch (i) {
    case 0: read_string_list(L, field, &m->methods, &m->method_count); break;
    case 1:
      read_string_list(L, field, &m->url_prefixes, &m->url_prefix_count);
      break;
    case 2:
      read_string_list(L, field, &m->url_pattern_texts,
                       &m->url_pattern_text_count);
      break;
    default:
      read_string_list(L, field, &m->content_types, &m->content_type_count);
      break;
    }
    lua_settop(L, idx + 1);  /* stack: ..., match, key */
  }
}


/* Returns the file name of path without its folder and ".lua". */
static void push_default_name(lua_State *L, const char *path) {
  const char *base = strrchr(path, '/');
  size_t n;

  base = base ? base + 1 : path;
  n = strlen(base);
  if (n > 4 && strcmp(base + n - 4, ".lua") == 0)
    n -= 4;
  lua_pushlstring(L, base, n);
}


static char *check_name(lua_State *L, int idx) {
  size_t n;
  const char *name = lua_tolstring(L, idx, &n);
  char *copy;

  if (n == 0 || n > NAME_MAX_LEN)
    raise(L, "field 'name' must have 1 to %d characters", NAME_MAX_LEN);
  for (size_t i = 0; i < n; i++) {
    if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f || name[i] == ' ')
      raise(L, "field 'name' '%s' must not contain spaces or control "
               "characters", name);
  }
  copy = st_strdup(name);
  if (copy == NULL)
    raise(L, "not enough memory");
  return copy;
}


/* Fills code from the module table; called through lua_pcall with the
 * table, the path and code (a light userdata). After an error, code
 * contains what was filled so far, for st__extractor_code_cleanup(). */
static int validate(lua_State *L) {
  struct st__extractor_code *code = lua_touserdata(L, 3);
  const char *path = lua_tostring(L, 2);
  int type;

  if (!lua_istable(L, 1))
    return raise(L, "the file must return a table, got %s",
                 luaL_typename(L, 1));

  type = lua_getfield(L, 1, "name");
  if (type == LUA_TNIL) {
    lua_pop(L, 1);
    push_default_name(L, path);
  } else if (type != LUA_TSTRING) {
    raise(L, "field 'name' must be a string, got %s", luaL_typename(L, -1));
  }
  code->name = check_name(L, lua_gettop(L));
  lua_pop(L, 1);

  type = lua_getfield(L, 1, "version");
  if (type == LUA_TNUMBER || type == LUA_TSTRING) {
    code->version = st_strdup(luaL_tolstring(L, -1, NULL));
    if (code->version == NULL)
      raise(L, "not enough memory");
    lua_pop(L, 1);
  } else if (type != LUA_TNIL) {
    raise(L, "field 'version' must be a string or a number, got %s",
          luaL_typename(L, -1));
  }
  lua_pop(L, 1);

  if (lua_getfield(L, 1, "extract") != LUA_TFUNCTION)
    raise(L, "field 'extract' must be a function(flow, kb), got %s",
          luaL_typename(L, -1));
  code->extract_ref = luaL_ref(L, LUA_REGISTRYINDEX);

  type = lua_getfield(L, 1, "merge");
  if (type != LUA_TNIL && type != LUA_TFUNCTION)
    raise(L, "field 'merge' must be a function(old, new), got %s",
          luaL_typename(L, -1));
  if (type == LUA_TFUNCTION)
    code->merge_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  else
    lua_pop(L, 1);

  type = lua_getfield(L, 1, "match");
  if (type != LUA_TNIL && type != LUA_TTABLE)
    raise(L, "field 'match' must be a table, got %s", luaL_typename(L, -1));
  if (type == LUA_TTABLE) {
    read_match(L, lua_gettop(L), &code->match);
    compile_patterns(L, &code->match);
  }
  lua_pop(L, 1);
  return 0;
}


/* ---- loading ----------------------------------------------------------- */

/* Sets err to message and returns rc. The message gets "path: " in front
 * unless it starts with the path already, as Lua's messages for errors in
 * the file's own lines do. */
static int load_error(char *err, size_t errlen, int rc, const char *path,
                      const char *message) {
  size_t n = strlen(path);

  if (message == NULL)
    message = "(error object is not a string)";
  if (strncmp(message, path, n) == 0 && message[n] == ':')
    return st_seterr(err, errlen, rc, "%s", message);
  return st_seterr(err, errlen, rc, "%s: %s", path, message);
}


/* Runs the chunk on top of the stack, then validates the table it
 * returns into code. Returns 0 or ST_ELUA / ST_EINVAL, with the message
 * on the stack on failure. */
static int run_and_validate(lua_State *L, const char *path,
                            struct st__extractor_code *code) {
  int module;

  if (st_script_pcall(L, 0, 1) != LUA_OK)
    return ST_ELUA;
  module = lua_gettop(L);  /* stack: module */
  lua_pushcfunction(L, validate);
  lua_pushvalue(L, module);
  lua_pushstring(L, path);
  lua_pushlightuserdata(L, code);
  if (lua_pcall(L, 3, 0, 0) != LUA_OK)
    return ST_EINVAL;
  return 0;
}


int st__extractor_load(lua_State *L, const char *path, double budget_s,
                       struct st__extractor_code *code, char *err,
                       size_t errlen) {
  int top = lua_gettop(L);
  int rc;

  memset(code, 0, sizeof(*code));
  code->extract_ref = LUA_NOREF;
  code->merge_ref = LUA_NOREF;

  /* Each file gets its own globals, library tables and helper modules,
   * so that it cannot change what another extractor reads. */
  rc = st_script_push_env(L);
  if (rc != 0)
    return st_seterr(err, errlen, rc, "%s: %s", path,
                     rc == ST_ENOMEM ? "not enough memory"
                                     : "the Lua state is not sandboxed");

  /* Text only: a precompiled chunk could break the sandbox. The message
   * of a syntax error already starts with "path:line:". */
  if (luaL_loadfilex(L, path, "t") != LUA_OK) {
    load_error(err, errlen, ST_ELUA, path, lua_tostring(L, -1));
    lua_settop(L, top);
    return ST_ELUA;
  }
  lua_pushvalue(L, top + 1);
  lua_setupvalue(L, -2, 1);  /* a main chunk's only upvalue is _ENV */

  /* The budget covers validation too, because reading a field can run
   * an __index metamethod of the returned table. */
  if (budget_s > 0)
    st_script_budget_begin(L, budget_s);
  rc = run_and_validate(L, path, code);
  if (budget_s > 0)
    st_script_budget_end(L);
  if (rc != 0) {
    load_error(err, errlen, rc, path, lua_tostring(L, -1));
    st__extractor_code_cleanup(L, code);
    lua_settop(L, top);
    return rc;
  }

  lua_settop(L, top);
  return 0;
}


/* ---- the prefilter ------------------------------------------------------ */

static int any_equal(char *const *items, size_t n, const char *s) {
  for (size_t i = 0; i < n; i++) {
    if (strcmp(items[i], s) == 0)
      return 1;
  }
  return 0;
}


static int any_prefix(char *const *items, size_t n, const char *s) {
  for (size_t i = 0; i < n; i++) {
    if (strncmp(items[i], s, strlen(items[i])) == 0)
      return 1;
  }
  return 0;
}


static int any_substring_nocase(char *const *items, size_t n,
                                const char *s) {
  for (size_t i = 0; i < n; i++) {
    if (strcasestr(s, items[i]) != NULL)
      return 1;
  }
  return 0;
}


static int any_pattern(const regex_t *patterns, size_t n, const char *s) {
  for (size_t i = 0; i < n; i++) {
    if (regexec(&patterns[i], s, 0, NULL, 0) == 0)
      return 1;
  }
  return 0;
}


int st__match_flow(const struct st__match *m, const struct st_flow *flow) {
  const char *method = flow->method ? flow->method : "";
  const char *url = flow->url ? flow->url : "";

  if (m->method_count > 0 && !any_equal(m->methods, m->method_count, method))
    return 0;
  if (m->url_prefix_count > 0 &&
      !any_prefix(m->url_prefixes, m->url_prefix_count, url))
    return 0;
  if (m->content_type_count > 0 &&
      (flow->resp_content_type == NULL ||
       !any_substring_nocase(m->content_types, m->content_type_count,
                             flow->resp_content_type)))
    return 0;
  /* Last, because a regex costs the most. */
  if (m->url_pattern_count > 0 &&
      !any_pattern(m->url_patterns, m->url_pattern_count, url))
    return 0;
  return 1;
}
