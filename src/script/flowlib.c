/* Builds flow tables from struct st_flow. Every Lua allocation happens
 * inside lua_pcall, so a memory error leaves the caller's stack as it was
 * and st_flowlib_push() returns ST_ENOMEM. */
#include "script/flowlib.h"

#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua-cjson.h>

#include "util/err.h"

#define HEADERS_MT "stratosphere.headers"

static const char decode_key = 'd';  /* registry key of cjson.decode */


/* Pushes a copy of s with ASCII letters lowercased. */
static void push_lower(lua_State *L, const char *s, size_t n) {
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, n);

  for (size_t i = 0; i < n; i++)
    p[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : s[i];
  luaL_pushresultsize(&b, n);
}


/* __index of header tables: keys are stored lowercased, so a miss retries
 * with the lowercased key. */
static int headers_index(lua_State *L) {
  size_t n;
  const char *key;

  if (lua_type(L, 2) != LUA_TSTRING)
    return 0;
  key = lua_tolstring(L, 2, &n);
  push_lower(L, key, n);
  /* memcmp, not strcmp: a name from a JSON text may contain NUL. */
  if (memcmp(lua_tostring(L, -1), key, n) == 0)
    return 0;
  lua_rawget(L, 1);
  return 1;
}


static void push_headers_mt(lua_State *L) {
  if (luaL_newmetatable(L, HEADERS_MT)) {
    lua_pushcfunction(L, headers_index);
    lua_setfield(L, -2, "__index");
  }
}


static void push_decode(lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &decode_key) != LUA_TNIL)
    return;
  lua_pop(L, 1);
  luaopen_cjson(L);
  lua_getfield(L, -1, "decode");
  lua_remove(L, -2);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &decode_key);
}


/* Converts the scalar on top of the stack to a string in place and
 * returns 1, or pops it and returns 0 when it has no text form (null,
 * tables). */
static int header_scalar_to_string(lua_State *L) {
  switch (lua_type(L, -1)) {
  case LUA_TSTRING:
    return 1;
  case LUA_TNUMBER: {
    /* cjson reads every number as a float: 1 must not become "1.0". */
    int exact = 0;
    lua_Integer i = lua_tointegerx(L, -1, &exact);
    if (exact) {
      lua_pop(L, 1);
      lua_pushinteger(L, i);
    }
  }
  /* fall through */
  case LUA_TBOOLEAN:
    luaL_tolstring(L, -1, NULL);
    lua_remove(L, -2);
    return 1;
  default:
    lua_pop(L, 1);
    return 0;
  }
}


/* Converts the header value on top of the stack to a string in place, or
 * pops it and returns 0 when it has no text form. An array becomes its
 * scalar elements joined with ", ", as repeated header lines join. The
 * objects, arrays and nulls inside it have no header text, so they are
 * left out. */
static int header_value_to_string(lua_State *L) {
  luaL_Buffer b;
  lua_Integer n;
  int t, joined = 0;

  if (lua_type(L, -1) != LUA_TTABLE)
    return header_scalar_to_string(L);

  n = (lua_Integer)lua_rawlen(L, -1);
  t = lua_gettop(L);
  luaL_buffinit(L, &b);
  for (lua_Integer i = 1; i <= n; i++) {
    if (lua_rawgeti(L, t, i) == LUA_TTABLE) {
      lua_pop(L, 1);
      continue;
    }
    if (!header_scalar_to_string(L))
      continue;
    if (joined++ > 0)
      luaL_addstring(&b, ", ");
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  lua_remove(L, t);
  if (joined == 0) {
    lua_pop(L, 1);
    return 0;
  }
  return 1;
}


/* Pushes the header table for JSON object text (may be NULL). */
static void push_headers(lua_State *L, const char *json) {
  int decoded, out;

  lua_newtable(L);
  out = lua_gettop(L);
  push_headers_mt(L);
  lua_setmetatable(L, out);
  if (json == NULL)
    return;

  push_decode(L);
  lua_pushstring(L, json);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_istable(L, -1)) {
    lua_pop(L, 1);  /* not a JSON object: no headers */
    return;
  }
  decoded = lua_gettop(L);

  lua_pushnil(L);
  while (lua_next(L, decoded) != 0) {  /* stack: out, decoded, k, v */
    size_t n;
    const char *name;

    if (lua_type(L, -2) != LUA_TSTRING || !header_value_to_string(L)) {
      if (lua_gettop(L) > decoded + 1)
        lua_pop(L, 1);
      continue;
    }
    name = lua_tolstring(L, -2, &n);
    push_lower(L, name, n);                     /* stack: ..., k, v, name */
    lua_pushvalue(L, -1);
    if (lua_rawget(L, out) == LUA_TSTRING) {    /* a second spelling */
      lua_pushliteral(L, ", ");
      lua_pushvalue(L, -4);
      lua_concat(L, 3);               /* stack: ..., k, v, name, joined */
      lua_remove(L, -3);
    } else {
      lua_pop(L, 1);
      lua_insert(L, -2);                        /* stack: ..., k, name, v */
    }
    lua_rawset(L, out);
  }
  lua_pop(L, 1);
}


static void set_string(lua_State *L, const char *name, const char *value) {
  lua_pushstring(L, value ? value : "");
  lua_setfield(L, -2, name);
}


static void set_body(lua_State *L, const char *body, size_t len) {
  lua_pushlstring(L, body ? body : "", body ? len : 0);
  lua_setfield(L, -2, "body");
}


static void set_content_type(lua_State *L, const char *content_type) {
  if (content_type == NULL)
    return;
  lua_pushstring(L, content_type);
  lua_setfield(L, -2, "content_type");
}


static void push_request(lua_State *L, const struct st_flow *f) {
  lua_createtable(L, 0, 10);
  set_string(L, "method", f->method);
  set_string(L, "url", f->url);
  set_string(L, "pretty_url", f->pretty_url);
  set_string(L, "host", f->host);
  lua_pushinteger(L, f->port);
  lua_setfield(L, -2, "port");
  set_string(L, "http_version", f->http_version);
  push_headers(L, f->req_headers);
  lua_setfield(L, -2, "headers");
  set_content_type(L, f->req_content_type);
  set_body(L, f->req_body, f->req_body_len);
  set_string(L, "ts", f->req_ts);
}


static void push_response(lua_State *L, const struct st_flow *f) {
  lua_createtable(L, 0, 6);
  lua_pushinteger(L, f->status);
  lua_setfield(L, -2, "status");
  set_string(L, "http_version", f->resp_http_version);
  push_headers(L, f->resp_headers);
  lua_setfield(L, -2, "headers");
  set_content_type(L, f->resp_content_type);
  set_body(L, f->resp_body, f->resp_body_len);
  set_string(L, "ts", f->resp_ts);
}


static void push_flow(lua_State *L, const struct st_flow *f) {
  lua_createtable(L, 0, 5);
  set_string(L, "id", f->id);
  lua_pushinteger(L, f->rowid);
  lua_setfield(L, -2, "rowid");
  set_string(L, "ts", f->capture_ts);
  push_request(L, f);
  lua_setfield(L, -2, "request");
  push_response(L, f);
  lua_setfield(L, -2, "response");
}


static int push_flow_protected(lua_State *L) {
  push_flow(L, lua_touserdata(L, 1));
  return 1;
}


int st_flowlib_push(lua_State *L, const struct st_flow *flow) {
  lua_pushcfunction(L, push_flow_protected);
  lua_pushlightuserdata(L, (void *)flow);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    lua_pop(L, 1);
    return ST_ENOMEM;
  }
  return 0;
}


/* Pushes a shallow copy of the table at idx, with its metatable. */
static void copy_table(lua_State *L, int idx) {
  lua_newtable(L);
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {  /* stack: copy, key, value */
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -4);
  }
  if (lua_getmetatable(L, idx))
    lua_setmetatable(L, -2);
}


/* Replaces field name of the table on top with a copy; when deep, also
 * copies that table's headers field. */
static void copy_field(lua_State *L, const char *name, int deep) {
  if (lua_getfield(L, -1, name) != LUA_TTABLE) {
    lua_pop(L, 1);
    return;
  }
  copy_table(L, lua_gettop(L));
  lua_remove(L, -2);
  if (deep)
    copy_field(L, "headers", 0);
  lua_setfield(L, -2, name);
}


static int copy_protected(lua_State *L) {
  copy_table(L, 1);
  copy_field(L, "request", 1);
  copy_field(L, "response", 1);
  return 1;
}


int st_flowlib_copy(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  lua_pushcfunction(L, copy_protected);
  lua_pushvalue(L, idx);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    lua_pop(L, 1);
    return ST_ENOMEM;
  }
  return 0;
}


/* flow.headers(json_text) */
static int flow_headers(lua_State *L) {
  push_headers(L, luaL_checkstring(L, 1));
  return 1;
}


/* Returns the string field name of the row at index 1, or NULL when
 * absent. A number is converted as sqlite3_column_text() converts it for
 * the pipeline, because SQLite lets any column hold any storage class:
 * the converted string stays on the stack until flow.new returns, while
 * a string is kept alive by the row. */
static const char *row_text(lua_State *L, const char *name, size_t *len) {
  const char *s = NULL;
  int type;

  luaL_checkstack(L, 2, "flow.new: too many converted columns");
  type = lua_getfield(L, 1, name);
  if (len != NULL)
    *len = 0;
  if (type == LUA_TNUMBER)
    return lua_tolstring(L, -1, len);  /* converted in place, kept */
  if (type == LUA_TSTRING)
    s = lua_tolstring(L, -1, len);
  else if (type != LUA_TNIL)
    luaL_error(L, "flow.new: column '%s' must be a string, got %s", name,
               luaL_typename(L, -1));
  lua_pop(L, 1);
  return s;
}


/* Returns the integer field name of the row at index 1, read as
 * sqlite3_column_int() reads it for the pipeline: a float is truncated
 * and a string gives the number at its start, or 0. */
static lua_Integer row_integer(lua_State *L, const char *name) {
  int isnum = 0;
  lua_Integer v;
  int type = lua_getfield(L, 1, name);

  v = lua_tointegerx(L, -1, &isnum);
  if (!isnum) {
    double d = 0;

    if (type == LUA_TNUMBER)
      d = lua_tonumber(L, -1);
    else if (type == LUA_TSTRING)
      d = strtod(lua_tostring(L, -1), NULL);
    else if (type != LUA_TNIL)
      luaL_error(L, "flow.new: column '%s' must be an integer, got %s", name,
                 luaL_typename(L, -1));
    v = d > -2147483648.0 && d < 2147483648.0 ? (lua_Integer)d : 0;
  }
  lua_pop(L, 1);
  return v;
}


static void row_ts(lua_State *L, const char *name, char out[ST_TIME_LEN]) {
  const char *s = row_text(L, name, NULL);

  strncpy(out, s ? s : "", ST_TIME_LEN - 1);
  out[ST_TIME_LEN - 1] = '\0';
}


/* flow.new(row): row has the column names of the flows table. The strings
 * are borrowed from the row, which stays on the stack meanwhile, and
 * numbers converted to strings stay on the stack above it. */
static int flow_new(lua_State *L) {
  struct st_flow f;
  const char *id;

  luaL_checktype(L, 1, LUA_TTABLE);
  memset(&f, 0, sizeof(f));
  id = row_text(L, "flow_id", NULL);
  strncpy(f.id, id ? id : "", ST_FLOW_ID_LEN - 1);
  f.rowid = row_integer(L, "rowid");
  f.host = (char *)row_text(L, "flow_request_host", NULL);
  f.port = (int)row_integer(L, "flow_request_port");
  f.method = (char *)row_text(L, "flow_request_method", NULL);
  f.pretty_url = (char *)row_text(L, "flow_request_pretty_url", NULL);
  f.url = (char *)row_text(L, "flow_request_url", NULL);
  f.http_version = (char *)row_text(L, "flow_request_http_version", NULL);
  f.req_headers = (char *)row_text(L, "flow_request_headers", NULL);
  f.req_content_type =
    (char *)row_text(L, "flow_request_headers_content_type", NULL);
  f.req_body = (char *)row_text(L, "flow_request_content", &f.req_body_len);
  row_ts(L, "flow_request_timestamp_start", f.req_ts);
  f.status = (int)row_integer(L, "flow_response_status_code");
  f.resp_http_version =
    (char *)row_text(L, "flow_response_http_version", NULL);
  f.resp_headers = (char *)row_text(L, "flow_response_headers", NULL);
  f.resp_content_type =
    (char *)row_text(L, "flow_response_headers_content_type", NULL);
  f.resp_body =
    (char *)row_text(L, "flow_response_content", &f.resp_body_len);
  row_ts(L, "flow_response_timestamp_start", f.resp_ts);
  row_ts(L, "flow_capture_timestamp", f.capture_ts);
  push_flow(L, &f);
  return 1;
}


static const luaL_Reg flow_functions[] = {
  { "headers", flow_headers },
  { "new", flow_new },
  { NULL, NULL },
};


int luaopen_stratosphere_core_flow(lua_State *L) {
  luaL_newlib(L, flow_functions);
  return 1;
}
