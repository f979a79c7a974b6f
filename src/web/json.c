/* Encoding Lua values as JSON for the /api/ endpoints.
 *
 * lua-cjson's encoder cannot tell an empty list from an empty object and
 * copies invalid UTF-8 through, and recorded data is full of both, so the
 * dashboard has its own encoder with an explicit array marker. */
#include "web/internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "util/err.h"

#define JSON_DEPTH_MAX 64

struct encoder {
  lua_State *L;
  struct st__buffer *out;
  char *err;
  size_t errlen;
};


/* Returns the length of the valid UTF-8 sequence at s (at most len bytes
 * available), or 0 when the bytes there are not valid UTF-8: overlong
 * forms, surrogates and code points past U+10FFFF are invalid. */
static size_t utf8_sequence(const unsigned char *s, size_t len) {
  uint32_t cp;
  size_t n;

  if (s[0] < 0x80)
    return 1;
  if (s[0] >= 0xc2 && s[0] <= 0xdf)
    n = 2, cp = s[0] & 0x1f;
  else if (s[0] >= 0xe0 && s[0] <= 0xef)
    n = 3, cp = s[0] & 0x0f;
  else if (s[0] >= 0xf0 && s[0] <= 0xf4)
    n = 4, cp = s[0] & 0x07;
  else
    return 0;
  if (n > len)
    return 0;
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}


/* Writes s as a JSON string. '<', '>' and '&' are escaped as well, so the
 * text stays inert even if a browser sniffs it as HTML. */
static int put_string(struct st__buffer *out, const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;

  if (st__buffer_append(out, "\"", 1) != 0)
    return ST_ENOMEM;
  while (i < len) {
    unsigned char c = p[i];
    char escape[8];
    size_t n;
    int rc;

    if (c >= 0x80) {
      n = utf8_sequence(p + i, len - i);
      if (n == 0) {
        rc = st__buffer_append(out, "\\ufffd", 6);
        n = 1;
      } else {
        rc = st__buffer_append(out, p + i, n);
      }
      i += n;
      if (rc != 0)
        return ST_ENOMEM;
      continue;
    }
    if (c == '"' || c == '\\') {
      escape[0] = '\\';
      escape[1] = (char)c;
      escape[2] = '\0';
    } else if (c == '\n') {
      strcpy(escape, "\\n");
    } else if (c == '\r') {
      strcpy(escape, "\\r");
    } else if (c == '\t') {
      strcpy(escape, "\\t");
    } else if (c < 0x20 || c == '<' || c == '>' || c == '&' || c == 0x7f) {
      snprintf(escape, sizeof(escape), "\\u%04x", c);
    } else {
      if (st__buffer_append(out, &p[i], 1) != 0)
        return ST_ENOMEM;
      i++;
      continue;
    }
    if (st__buffer_append_str(out, escape) != 0)
      return ST_ENOMEM;
    i++;
  }
  return st__buffer_append(out, "\"", 1);
}


static int put_number(struct st__buffer *out, lua_State *L, int idx) {
  if (lua_isinteger(L, idx))
    return st__buffer_printf(out, "%" PRId64, (int64_t)lua_tointeger(L, idx));
  double d = lua_tonumber(L, idx);
  if (isnan(d) || isinf(d))
    return st__buffer_append_str(out, "null");
  return st__buffer_printf(out, "%.17g", d);
}


/* Returns the array length of the table at idx, or -1 when it is to be
 * written as an object. */
static lua_Integer array_length(lua_State *L, int idx) {
  lua_Integer count = 0, max = 0;

  if (luaL_getmetafield(L, idx, "__jsontype") != LUA_TNIL) {
    int is_array = lua_type(L, -1) == LUA_TSTRING &&
                   strcmp(lua_tostring(L, -1), "array") == 0;
    lua_pop(L, 1);
    if (is_array)
      return (lua_Integer)lua_rawlen(L, idx);
  }
  if (lua_rawgeti(L, idx, 1) == LUA_TNIL) {
    lua_pop(L, 1);
    return -1;
  }
  lua_pop(L, 1);
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    lua_pop(L, 1);
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1) {
      lua_pop(L, 1);
      return -1;
    }
    if (lua_tointeger(L, -1) > max)
      max = lua_tointeger(L, -1);
    count++;
  }
  return count == max ? max : -1;
}


static int encode_value(struct encoder *e, int idx, int depth);


static int encode_array(struct encoder *e, int idx, lua_Integer n,
                        int depth) {
  if (st__buffer_append(e->out, "[", 1) != 0)
    return ST_ENOMEM;
  for (lua_Integer i = 1; i <= n; i++) {
    int rc;

    if (i > 1 && st__buffer_append(e->out, ",", 1) != 0)
      return ST_ENOMEM;
    lua_rawgeti(e->L, idx, i);
    rc = encode_value(e, lua_gettop(e->L), depth + 1);
    lua_pop(e->L, 1);
    if (rc != 0)
      return rc;
  }
  return st__buffer_append(e->out, "]", 1);
}


static int compare_keys(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}


/* Writes an object with its keys sorted, so the same data always gives the
 * same text. The key strings stay alive in a table on the stack. The array
 * of pointers to them is a userdata, which the garbage collector frees
 * when a Lua error (out of memory) unwinds the stack. */
static int encode_object(struct encoder *e, int idx, int depth) {
  lua_State *L = e->L;
  const char **keys;
  size_t count = 0, cap = 16;
  int base = lua_gettop(L), rc;

  lua_newtable(L);                                  /* base + 1: strings */
  keys = lua_newuserdatauv(L, cap * sizeof(*keys), 0);  /* base + 2 */
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    lua_pop(L, 1);
    if (count == cap) {
      const char **grown = lua_newuserdatauv(L, 2 * cap * sizeof(*keys), 0);

      memcpy(grown, keys, cap * sizeof(*keys));
      lua_replace(L, base + 2);
      keys = grown;
      cap *= 2;
    }
    lua_pushvalue(L, -1);
    keys[count++] = luaL_tolstring(L, -1, NULL);
    lua_rawseti(L, base + 1, (lua_Integer)count);  /* keeps it alive */
    lua_pop(L, 1);
  }
  qsort(keys, count, sizeof(*keys), compare_keys);

  rc = st__buffer_append(e->out, "{", 1);
  for (size_t i = 0; i < count && rc == 0; i++) {
    if ((i > 0 && st__buffer_append(e->out, ",", 1) != 0) ||
        put_string(e->out, keys[i], strlen(keys[i])) != 0 ||
        st__buffer_append(e->out, ":", 1) != 0) {
      rc = ST_ENOMEM;
      break;
    }
    /* Numeric keys were converted to text for sorting; look the value up
     * under the original key when the text form finds nothing. */
    lua_pushstring(L, keys[i]);
    if (lua_rawget(L, idx) == LUA_TNIL) {
      char *end;
      long long k = strtoll(keys[i], &end, 10);

      lua_pop(L, 1);
      if (*end == '\0' && end != keys[i])
        lua_rawgeti(L, idx, (lua_Integer)k);
      else
        lua_pushnil(L);
    }
    rc = encode_value(e, lua_gettop(L), depth + 1);
    lua_pop(L, 1);
  }
  if (rc == 0)
    rc = st__buffer_append(e->out, "}", 1);
  lua_settop(L, base);
  return rc;
}


static int encode_value(struct encoder *e, int idx, int depth) {
  lua_State *L = e->L;
  const char *s;
  size_t len;

  if (depth > JSON_DEPTH_MAX)
    return st_seterr(e->err, e->errlen, ST_EINVAL,
                     "JSON value nested deeper than %d levels (a cycle?)",
                     JSON_DEPTH_MAX);
  if (!lua_checkstack(L, 8))
    return ST_ENOMEM;
  switch (lua_type(L, idx)) {
  case LUA_TNIL:
    return st__buffer_append_str(e->out, "null");
  case LUA_TBOOLEAN:
    return st__buffer_append_str(e->out,
                                 lua_toboolean(L, idx) ? "true" : "false");
  case LUA_TNUMBER:
    return put_number(e->out, L, idx);
  case LUA_TSTRING:
    s = lua_tolstring(L, idx, &len);
    return put_string(e->out, s, len);
  case LUA_TLIGHTUSERDATA:
    if (lua_touserdata(L, idx) == NULL)  /* cjson.null */
      return st__buffer_append_str(e->out, "null");
    break;
  case LUA_TTABLE: {
    lua_Integer n = array_length(L, idx);

    return n >= 0 ? encode_array(e, idx, n, depth)
                  : encode_object(e, idx, depth);
  }
  default:
    break;
  }
  return st_seterr(e->err, e->errlen, ST_EINVAL,
                   "a %s value cannot be encoded as JSON",
                   luaL_typename(L, idx));
}


int st__json_encode(lua_State *L, int idx, struct st__buffer *out,
                    char *err, size_t errlen) {
  struct encoder e = { L, out, err, errlen };
  int top = lua_gettop(L);
  int rc;

  idx = lua_absindex(L, idx);
  rc = encode_value(&e, idx, 0);
  lua_settop(L, top);
  if (rc == ST_ENOMEM)
    st_seterr(err, errlen, rc, "out of memory encoding JSON");
  return rc;
}
