#include "script/dblib.h"

#include <string.h>

#include <lauxlib.h>

#define DB_MT "stratosphere.db"
#define STMT_MT "stratosphere.db_statement"
#define ROWS_NAME "stratosphere.rows"

/* The handle's only user value is its path, as a Lua string, so that no
 * C allocation needs freeing when the handle is collected. */
struct dbhandle {
  sqlite3 *db;   /* NULL once closed */
  int owned;     /* the handle opened db and closes it */
  int readonly;
};


static struct dbhandle *check_handle(lua_State *L, int idx) {
  struct dbhandle *h = luaL_checkudata(L, idx, DB_MT);

  if (h->db == NULL)
    luaL_error(L, "attempt to use a closed database");
  return h;
}


static const char *handle_path(lua_State *L, int idx) {
  const char *path;

  lua_getiuservalue(L, idx, 1);
  path = lua_tostring(L, -1);
  lua_pop(L, 1);
  return path ? path : "?";  /* the string stays referenced by the handle */
}


/* Creates a closed handle on the stack whose user value is path. */
static struct dbhandle *new_handle(lua_State *L, const char *path) {
  struct dbhandle *h = lua_newuserdatauv(L, sizeof(*h), 1);

  h->db = NULL;
  h->owned = 0;
  h->readonly = 1;
  luaL_setmetatable(L, DB_MT);
  lua_pushstring(L, path);
  lua_setiuservalue(L, -2, 1);
  return h;
}


void st_dblib_push_borrowed(lua_State *L, sqlite3 *db, const char *path,
                            int readonly) {
  struct dbhandle *h;

  if (luaL_getmetatable(L, DB_MT) == LUA_TNIL) {
    luaL_requiref(L, "stratosphere.core.db", luaopen_stratosphere_core_db,
                  0);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  h = new_handle(L, path ? path : "?");
  h->db = db;
  h->readonly = readonly;
}


/* db.open(path [, {write = bool, create = bool}]) -> handle | nil, err.
 * Without write the file is opened with SQLITE_OPEN_READONLY; create
 * implies write and makes the file when it is missing. */
static int db_open(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int write = 0, create = 0, flags, rc;
  struct dbhandle *h;
  sqlite3 *db = NULL;

  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "write");
    write = lua_toboolean(L, -1);
    lua_getfield(L, 2, "create");
    create = lua_toboolean(L, -1);
    lua_pop(L, 2);
  }
  if (create)
    write = 1;

  h = new_handle(L, path);  /* closed until the open succeeds */
  flags = write ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY;
  if (create)
    flags |= SQLITE_OPEN_CREATE;
  rc = sqlite3_open_v2(path, &db, flags, NULL);
  if (rc != SQLITE_OK) {
    luaL_pushfail(L);
    lua_pushfstring(L, "failed to open database '%s': %s", path,
                    db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close_v2(db);
    return 2;
  }
  sqlite3_busy_timeout(db, ST_DBLIB_BUSY_MS);
  h->db = db;
  h->owned = 1;
  h->readonly = !write;
  return 1;
}


static int stmt_gc(lua_State *L) {
  sqlite3_stmt **box = luaL_checkudata(L, 1, STMT_MT);

  sqlite3_finalize(*box);
  *box = NULL;
  return 0;
}


/* Binds the Lua value at idx to parameter n. Raises for values that have
 * no SQL form; arg is the argument number shown in that message. */
static void bind_value(lua_State *L, sqlite3_stmt *stmt, int n, int idx,
                       int arg) {
  size_t len;
  const char *s;

  switch (lua_type(L, idx)) {
  case LUA_TNIL:
  case LUA_TNONE:
    sqlite3_bind_null(stmt, n);
    break;
  case LUA_TBOOLEAN:
    sqlite3_bind_int(stmt, n, lua_toboolean(L, idx));
    break;
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx))
      sqlite3_bind_int64(stmt, n, lua_tointeger(L, idx));
    else
      sqlite3_bind_double(stmt, n, lua_tonumber(L, idx));
    break;
  case LUA_TSTRING:
    s = lua_tolstring(L, idx, &len);
    sqlite3_bind_text64(stmt, n, s, len, SQLITE_TRANSIENT, SQLITE_UTF8);
    break;
  case LUA_TLIGHTUSERDATA:
    if (lua_touserdata(L, idx) == NULL) {  /* cjson.null */
      sqlite3_bind_null(stmt, n);
      break;
    }
    /* fall through */
  default:
    luaL_error(L, "bad argument #%d to 'sql' (cannot bind a %s to SQL "
               "parameter %d)", arg, luaL_typename(L, idx), n);
  }
}


/* Binds a single table argument at idx: "?" and "?N" parameters take
 * t[N], named ones (":name", "@name", "$name") take t.name. */
static void bind_named(lua_State *L, sqlite3_stmt *stmt, int idx) {
  int count = sqlite3_bind_parameter_count(stmt);

  for (int n = 1; n <= count; n++) {
    const char *name = sqlite3_bind_parameter_name(stmt, n);

    if (name == NULL || name[0] == '?')
      lua_geti(L, idx, n);
    else
      lua_getfield(L, idx, name + 1);
    bind_value(L, stmt, n, -1, idx - 1);
    lua_pop(L, 1);
  }
}


static void bind_args(lua_State *L, sqlite3_stmt *stmt, int first) {
  int given = lua_gettop(L) - first + 1;
  int count = sqlite3_bind_parameter_count(stmt);

  if (given == 1 && lua_type(L, first) == LUA_TTABLE) {
    bind_named(L, stmt, first);
    return;
  }
  if (given != count)
    luaL_error(L, "sql: the statement has %d parameters but %d values "
               "were given", count, given);
  for (int n = 1; n <= count; n++)
    bind_value(L, stmt, n, first + n - 1, first + n - 2);
}


static void push_column(lua_State *L, sqlite3_stmt *stmt, int i) {
  switch (sqlite3_column_type(stmt, i)) {
  case SQLITE_INTEGER:
    lua_pushinteger(L, sqlite3_column_int64(stmt, i));
    break;
  case SQLITE_FLOAT:
    lua_pushnumber(L, sqlite3_column_double(stmt, i));
    break;
  case SQLITE_TEXT:
    lua_pushlstring(L, (const char *)sqlite3_column_text(stmt, i),
                    (size_t)sqlite3_column_bytes(stmt, i));
    break;
  case SQLITE_BLOB: {
    const void *p = sqlite3_column_blob(stmt, i);
    lua_pushlstring(L, p ? p : "", (size_t)sqlite3_column_bytes(stmt, i));
    break;
  }
  default:
    lua_pushnil(L);
  }
}


/* __tostring of a result: the aligned text table that the REPL prints,
 * from stratosphere.printer's format(). */
static int rows_tostring(lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "stratosphere.printer");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "format");
  lua_pushvalue(L, 1);
  lua_call(L, 1, 1);
  return 1;
}


/* Pushes the metatable of a result: {__name = ROWS_NAME, columns = {...},
 * __tostring}. */
static void push_rows_metatable(lua_State *L, sqlite3_stmt *stmt) {
  int ncol = sqlite3_column_count(stmt);

  lua_createtable(L, 0, 3);
  lua_pushliteral(L, ROWS_NAME);
  lua_setfield(L, -2, "__name");
  lua_pushcfunction(L, rows_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_createtable(L, ncol, 0);
  for (int i = 0; i < ncol; i++) {
    lua_pushstring(L, sqlite3_column_name(stmt, i));
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "columns");
}


/* Returns nonzero when the SQL after a statement is only blanks, comments
 * or semicolons, so "SELECT 1;" is accepted but "SELECT 1; SELECT 2" is
 * not. */
static int tail_is_empty(sqlite3 *db, const char *tail) {
  const char *rest = tail;

  while (*rest != '\0') {
    const char *before = rest;
    sqlite3_stmt *next = NULL;

    if (sqlite3_prepare_v2(db, rest, -1, &next, &rest) != SQLITE_OK)
      return 0;
    if (next != NULL) {
      sqlite3_finalize(next);
      return 0;
    }
    if (rest == before)
      break;
  }
  return 1;
}


/* handle:sql(query, ...) -> rows | nil, err. Parameters bind from the
 * further arguments in order, or by name from a single table. A mistake in
 * the query or its parameters raises; a failure while running it (a lock
 * held too long, a corrupt file) returns nil and the SQLite message. */
static int db_sql(lua_State *L) {
  struct dbhandle *h = check_handle(L, 1);
  const char *query = luaL_checkstring(L, 2);
  sqlite3_stmt **box;
  const char *tail = NULL;
  int rc, ncol;
  lua_Integer nrow = 0;

  box = lua_newuserdatauv(L, sizeof(*box), 0);
  *box = NULL;
  luaL_setmetatable(L, STMT_MT);
  lua_insert(L, 3);  /* stack: handle, query, box, params... */

  rc = sqlite3_prepare_v2(h->db, query, -1, box, &tail);
  if (rc != SQLITE_OK)
    return luaL_error(L, "sql: %s", sqlite3_errmsg(h->db));
  if (!tail_is_empty(h->db, tail))
    return luaL_error(L, "sql: the query holds more than one statement; "
                      "run them one at a time");
  if (*box == NULL) {  /* only blanks or comments */
    lua_newtable(L);
    return 1;
  }
  if (h->readonly && !sqlite3_stmt_readonly(*box))
    return luaL_error(L, "sql: database '%s' is open read-only, so this "
                      "statement cannot run", handle_path(L, 1));
  bind_args(L, *box, 4);

  lua_settop(L, 3);
  lua_newtable(L);                 /* stack: handle, query, box, rows */
  push_rows_metatable(L, *box);
  lua_setmetatable(L, -2);
  ncol = sqlite3_column_count(*box);
  while ((rc = sqlite3_step(*box)) == SQLITE_ROW) {
    lua_createtable(L, 0, ncol);
    for (int i = 0; i < ncol; i++) {
      push_column(L, *box, i);
      lua_setfield(L, -2, sqlite3_column_name(*box, i));
    }
    lua_rawseti(L, -2, ++nrow);
  }
  if (rc != SQLITE_DONE) {
    luaL_pushfail(L);
    lua_pushfstring(L, "sql failed on '%s': %s", handle_path(L, 1),
                    sqlite3_errmsg(h->db));
    sqlite3_finalize(*box);
    *box = NULL;
    return 2;
  }
  sqlite3_finalize(*box);
  *box = NULL;
  return 1;
}


/* handle:exec(script) runs one or more statements that return no rows,
 * for handles opened with write = true. Returns true | nil, err. */
static int db_exec(lua_State *L) {
  struct dbhandle *h = check_handle(L, 1);
  const char *script = luaL_checkstring(L, 2);
  char *msg = NULL;

  if (h->readonly)
    return luaL_error(L, "exec: database '%s' is open read-only; open it "
                      "with {write = true}", handle_path(L, 1));
  if (sqlite3_exec(h->db, script, NULL, NULL, &msg) != SQLITE_OK) {
    luaL_pushfail(L);
    lua_pushfstring(L, "exec failed on '%s': %s", handle_path(L, 1),
                    msg ? msg : sqlite3_errmsg(h->db));
    sqlite3_free(msg);
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}


static int db_path(lua_State *L) {
  luaL_checkudata(L, 1, DB_MT);
  lua_getiuservalue(L, 1, 1);
  return 1;
}


static int db_readonly(lua_State *L) {
  struct dbhandle *h = check_handle(L, 1);

  lua_pushboolean(L, h->readonly);
  return 1;
}


static int db_changes(lua_State *L) {
  struct dbhandle *h = check_handle(L, 1);

  lua_pushinteger(L, sqlite3_changes64(h->db));
  return 1;
}


static int db_close(lua_State *L) {
  struct dbhandle *h = luaL_checkudata(L, 1, DB_MT);

  if (h->db != NULL && h->owned)
    sqlite3_close_v2(h->db);
  h->db = NULL;
  return 0;
}


static int db_tostring(lua_State *L) {
  struct dbhandle *h = luaL_checkudata(L, 1, DB_MT);
  const char *path = handle_path(L, 1);

  if (h->db == NULL)
    lua_pushfstring(L, "db (closed) %s", path);
  else
    lua_pushfstring(L, "db %s (%s)", path,
                    h->readonly ? "read-only" : "read-write");
  return 1;
}


static const luaL_Reg db_functions[] = {
  { "open", db_open },
  { NULL, NULL },
};

static const luaL_Reg db_methods[] = {
  { "sql", db_sql },
  { "exec", db_exec },
  { "path", db_path },
  { "readonly", db_readonly },
  { "changes", db_changes },
  { "close", db_close },
  { NULL, NULL },
};

static const luaL_Reg db_metamethods[] = {
  { "__gc", db_close },
  { "__close", db_close },
  { "__tostring", db_tostring },
  { "__index", NULL },  /* set to the method table below */
  { NULL, NULL },
};


int luaopen_stratosphere_core_db(lua_State *L) {
  if (luaL_newmetatable(L, DB_MT)) {
    luaL_setfuncs(L, db_metamethods, 0);
    luaL_newlib(L, db_methods);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
  if (luaL_newmetatable(L, STMT_MT)) {
    lua_pushcfunction(L, stmt_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  luaL_newlib(L, db_functions);
  return 1;
}
