#include "script/sourcelib.h"

#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "util/alloc.h"

/* Stack levels above the requested one that locate() also searches. */
#define LOCATE_LEVELS_UP 4


/* Returns the line (from 1) where text[0..len) starts in the file at path,
 * or 0 when the file cannot be read, is larger than ST_SOURCE_MAX or does
 * not contain it. */
static int find_in_file(const char *path, const char *text, size_t len) {
  FILE *f = fopen(path, "rb");
  char *data;
  const char *at;
  size_t n;
  int line = 0;

  if (f == NULL)
    return 0;
  data = st_malloc(ST_SOURCE_MAX + 1);
  n = data != NULL ? fread(data, 1, ST_SOURCE_MAX + 1, f) : 0;
  fclose(f);
  if (data != NULL && n <= ST_SOURCE_MAX) {
    at = memmem(data, n, text, len);
    if (at != NULL) {
      line = 1;
      for (const char *p = data; p < at; p++)
        line += *p == '\n';
    }
  }
  st_free(data);
  return line;
}


static int source_locate(lua_State *L) {
  lua_Integer level = luaL_checkinteger(L, 1);
  size_t len;
  const char *text = luaL_checklstring(L, 2, &len);
  lua_Debug ar;
  int line = 0;

  luaL_argcheck(L, level >= 1 && level < 1000, 1, "level out of range");
  if (!lua_getstack(L, (int)level, &ar) || !lua_getinfo(L, "Sl", &ar)) {
    lua_pushliteral(L, "?");
    lua_pushinteger(L, 0);
    lua_pushboolean(L, 0);
    return 3;
  }
  /* A tail call leaves no level for the function that made it, so the
   * text may sit in a file further up: look a few levels higher too. */
  for (int up = 0; up <= LOCATE_LEVELS_UP && len > 0; up++) {
    lua_Debug caller;

    if (!lua_getstack(L, (int)level + up, &caller) ||
        !lua_getinfo(L, "Sl", &caller))
      break;
    /* A chunk loaded from a file has the source "@path". */
    if (caller.source != NULL && caller.source[0] == '@')
      line = find_in_file(caller.source + 1, text, len);
    if (line > 0) {
      ar = caller;
      break;
    }
  }
  lua_pushstring(L, ar.short_src);
  lua_pushinteger(L, line > 0 ? line : (ar.currentline > 0 ?
                                        ar.currentline : 0));
  lua_pushboolean(L, line > 0);
  return 3;
}


static const luaL_Reg source_functions[] = {
  { "locate", source_locate },
  { NULL, NULL },
};


int luaopen_stratosphere_core_source(lua_State *L) {
  luaL_newlib(L, source_functions);
  return 1;
}
