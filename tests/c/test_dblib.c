/* The stratosphere.core.db binding: reads, parameters, results, the
 * read-only default, and reading a WAL file while another connection
 * writes. */
#include <stdio.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <sqlite3.h>

#include "script/dblib.h"
#include "script/script.h"
#include "test.h"
#include "util/err.h"

static char dir[] = "/tmp/st_dblib_XXXXXX";
static char db_path[256];


static lua_State *new_state(int sandbox) {
  struct st_script_options opts = { sandbox, 0, "test" };
  char err[ST_ERRLEN];

  return st_script_new(&opts, err, sizeof(err));
}


/* Runs code with the database path in the global `path`; returns the Lua
 * status and copies the first result (or the error) into msg. */
static int run(lua_State *L, const char *code, char *msg, size_t size) {
  int status;

  /* rawset, because a sandboxed state raises on new globals. */
  lua_pushglobaltable(L);
  lua_pushliteral(L, "path");
  lua_pushstring(L, db_path);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  status = luaL_loadstring(L, code);
  if (status == LUA_OK)
    status = st_script_pcall(L, 0, 1);
  snprintf(msg, size, "%s", luaL_tolstring(L, -1, NULL));
  lua_pop(L, 2);
  return status;
}


static int make_fixture(void) {
  sqlite3 *db = NULL;
  int rc;

  snprintf(db_path, sizeof(db_path), "%s/t.db", dir);
  if (sqlite3_open(db_path, &db) != SQLITE_OK)
    return -1;
  rc = sqlite3_exec(db,
                    "PRAGMA journal_mode=WAL;"
                    "CREATE TABLE flows (id TEXT, host TEXT, n INTEGER, "
                    "  x REAL, body BLOB);"
                    "INSERT INTO flows VALUES ('a', 'example.org', 1, 0.5, "
                    "  x'00ff41');"
                    "INSERT INTO flows VALUES ('b', 'example.org', 2, NULL, "
                    "  NULL);"
                    "INSERT INTO flows VALUES ('c', 'example.net', 3, 1.5, "
                    "  'text');",
                    NULL, NULL, NULL);
  sqlite3_close(db);
  return rc == SQLITE_OK ? 0 : -1;
}


TEST(dblib_sql_returns_rows_and_columns) {
  lua_State *L = new_state(0);
  char msg[512];

  ASSERT_INT_EQ(LUA_OK, run(L,
      "local h = require('stratosphere.core.db').open(path)\n"
      "local rows = h:sql('SELECT host, count(*) AS n FROM flows "
      "GROUP BY host ORDER BY host')\n"
      "local cols = getmetatable(rows).columns\n"
      "return #rows .. ' ' .. rows[1].host .. '=' .. rows[1].n .. ' ' .."
      " rows[2].host .. '=' .. rows[2].n .. ' ' .. table.concat(cols, ',')",
      msg, sizeof(msg)));
  ASSERT_STR_EQ("2 example.net=1 example.org=2 host,n", msg);
  st_script_free(&L);
}


TEST(dblib_sql_value_types) {
  lua_State *L = new_state(0);
  char msg[512];

  ASSERT_INT_EQ(LUA_OK, run(L,
      "local h = require('stratosphere.core.db').open(path)\n"
      "local r = h:sql('SELECT * FROM flows ORDER BY id')\n"
      "return table.concat({ math.type(r[1].n), math.type(r[1].x),"
      " #r[1].body, r[1].body:byte(2), tostring(r[2].x),"
      " tostring(r[2].body), r[3].body }, ' ')",
      msg, sizeof(msg)));
  ASSERT_STR_EQ("integer float 3 255 nil nil text", msg);
  st_script_free(&L);
}


TEST(dblib_sql_binds_positional_and_named) {
  lua_State *L = new_state(0);
  char msg[512];

  ASSERT_INT_EQ(LUA_OK, run(L,
      "local h = require('stratosphere.core.db').open(path)\n"
      "local a = h:sql('SELECT id FROM flows WHERE host = ? AND n > ?',"
      " 'example.org', 1)\n"
      "local b = h:sql('SELECT id FROM flows WHERE host = :h', "
      "{ h = 'example.net' })\n"
      "local c = h:sql('SELECT ?1 IS NULL AS z, ?2 AS t', nil, true)\n"
      "return a[1].id .. #a .. b[1].id .. #b .. c[1].z .. c[1].t",
      msg, sizeof(msg)));
  ASSERT_STR_EQ("b1c111", msg);
  st_script_free(&L);
}


TEST(dblib_sql_wrong_parameter_count_raises) {
  lua_State *L = new_state(0);
  char msg[512];

  ASSERT_INT_EQ(LUA_ERRRUN, run(L,
      "local h = require('stratosphere.core.db').open(path)\n"
      "return h:sql('SELECT ?', 1, 2)", msg, sizeof(msg)));
  ASSERT(strstr(msg, "has 1 parameters but 2 values") != NULL);
  ASSERT_INT_EQ(LUA_ERRRUN, run(L,
      "local h = require('stratosphere.core.db').open(path)\n"
      "return h:sql('SELECT ?', print)", msg, sizeof(msg)));
  ASSERT(strstr(msg, "cannot bind a function") != NULL);
  st_script_free(&L);
}


TEST(dblib_sql_errors_name_the_problem) {
  lua_State *L = new_state(0);
  char msg[512];

  ASSERT_INT_EQ(LUA_ERRRUN, run(L,
      "local h = require('stratosphere.core.db').open(path)\n"
      "return h:sql('SELEC 1')", msg, sizeof(msg)));
  ASSERT(strstr(msg, "sql: near \"SELEC\": syntax error") != NULL);
  ASSERT_INT_EQ(LUA_ERRRUN, run(L,
      "local h = require('stratosphere.core.db').open(path)\n"
      "return h:sql('SELECT 1; SELECT 2')", msg, sizeof(msg)));
  ASSERT(strstr(msg, "more than one statement") != NULL);
  ASSERT_INT_EQ(LUA_OK, run(L,
      "local h = require('stratosphere.core.db').open(path)\n"
      "return #h:sql('SELECT 1; -- done\\n')", msg, sizeof(msg)));
  ASSERT_STR_EQ("1", msg);
  st_script_free(&L);
}


TEST(dblib_readonly_by_default) {
  lua_State *L = new_state(0);
  char msg[512];

  ASSERT_INT_EQ(LUA_ERRRUN, run(L,
      "local h = require('stratosphere.core.db').open(path)\n"
      "return h:sql('DELETE FROM flows')", msg, sizeof(msg)));
  ASSERT(strstr(msg, "is open read-only") != NULL);
  ASSERT_INT_EQ(LUA_ERRRUN, run(L,
      "local h = require('stratosphere.core.db').open(path)\n"
      "return h:exec('DELETE FROM flows')", msg, sizeof(msg)));
  ASSERT(strstr(msg, "open it with {write = true}") != NULL);
  ASSERT_INT_EQ(LUA_OK, run(L,
      "local h = require('stratosphere.core.db').open(path)\n"
      "return h:sql('SELECT count(*) AS n FROM flows')[1].n", msg,
      sizeof(msg)));
  ASSERT_STR_EQ("3", msg);
  st_script_free(&L);
}


TEST(dblib_write_mode_writes) {
  lua_State *L = new_state(0);
  char msg[512];

  ASSERT_INT_EQ(LUA_OK, run(L,
      "local db = require('stratosphere.core.db')\n"
      "local w <close> = db.open(path, { write = true })\n"
      "assert(w:exec('CREATE TABLE extra (v); INSERT INTO extra VALUES (7)'))\n"
      "w:sql('INSERT INTO extra VALUES (?)', 8)\n"
      "local r = db.open(path)\n"
      "return r:sql('SELECT sum(v) AS s FROM extra')[1].s", msg,
      sizeof(msg)));
  ASSERT_STR_EQ("15", msg);
  st_script_free(&L);
}


TEST(dblib_open_missing_file_fails) {
  lua_State *L = new_state(0);
  char msg[512];

  ASSERT_INT_EQ(LUA_OK, run(L,
      "local h, err = require('stratosphere.core.db').open(path .. '.no')\n"
      "return tostring(h) .. ' ' .. err", msg, sizeof(msg)));
  ASSERT(strncmp(msg, "nil failed to open database '", 29) == 0);
  ASSERT(strstr(msg, "unable to open database file") != NULL);
  st_script_free(&L);
}


TEST(dblib_closed_handle_raises) {
  lua_State *L = new_state(0);
  char msg[512];

  ASSERT_INT_EQ(LUA_ERRRUN, run(L,
      "local h = require('stratosphere.core.db').open(path)\n"
      "h:close()\n"
      "assert(tostring(h):find('closed'))\n"
      "return h:sql('SELECT 1')", msg, sizeof(msg)));
  ASSERT(strstr(msg, "attempt to use a closed database") != NULL);
  st_script_free(&L);
}


TEST(dblib_sandbox_has_no_db_module) {
  lua_State *L = new_state(1);
  char msg[512];

  ASSERT_INT_EQ(LUA_ERRRUN, run(L, "return require('stratosphere.core.db')",
                                msg, sizeof(msg)));
  ASSERT(strstr(msg, "module 'stratosphere.core.db' not found") != NULL);
  st_script_free(&L);
}


TEST(dblib_borrowed_connection_stays_open) {
  lua_State *L = new_state(0);
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  char msg[512];

  ASSERT_INT_EQ(SQLITE_OK, sqlite3_open(db_path, &db));
  st_dblib_push_borrowed(L, db, db_path, 1);
  lua_setglobal(L, "borrowed");
  ASSERT_INT_EQ(LUA_OK, run(L,
      "local n = borrowed:sql('SELECT count(*) AS n FROM flows')[1].n\n"
      "local ok = pcall(borrowed.sql, borrowed, 'DELETE FROM flows')\n"
      "borrowed:close()\n"
      "return n .. tostring(ok)", msg, sizeof(msg)));
  ASSERT_STR_EQ("3false", msg);
  st_script_free(&L);

  /* The connection is still usable by its owner. */
  ASSERT_INT_EQ(SQLITE_OK, sqlite3_prepare_v2(db, "SELECT count(*) FROM "
                                              "flows", -1, &stmt, NULL));
  ASSERT_INT_EQ(SQLITE_ROW, sqlite3_step(stmt));
  ASSERT_INT_EQ(3, sqlite3_column_int(stmt, 0));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}


/* A reader sees the last committed state while another connection holds
 * an open write transaction, as the REPL does while the proxy records. */
TEST(dblib_reads_while_writer_holds_transaction) {
  lua_State *L = new_state(0);
  sqlite3 *writer = NULL;
  char msg[512];

  ASSERT_INT_EQ(SQLITE_OK, sqlite3_open(db_path, &writer));
  ASSERT_INT_EQ(SQLITE_OK, sqlite3_exec(writer,
      "BEGIN IMMEDIATE; INSERT INTO flows VALUES ('d', 'x', 4, 0, NULL);",
      NULL, NULL, NULL));
  ASSERT_INT_EQ(LUA_OK, run(L,
      "local h = require('stratosphere.core.db').open(path)\n"
      "return h:sql('SELECT count(*) AS n FROM flows')[1].n", msg,
      sizeof(msg)));
  ASSERT_STR_EQ("3", msg);
  ASSERT_INT_EQ(SQLITE_OK, sqlite3_exec(writer, "ROLLBACK", NULL, NULL,
                                        NULL));
  sqlite3_close(writer);
  st_script_free(&L);
}


int main(void) {
  char cmd[300];

  if (mkdtemp(dir) == NULL || make_fixture() != 0) {
    fprintf(stderr, "cannot create the fixture database in %s\n", dir);
    return 1;
  }
  RUN(dblib_sql_returns_rows_and_columns);
  RUN(dblib_sql_value_types);
  RUN(dblib_sql_binds_positional_and_named);
  RUN(dblib_sql_wrong_parameter_count_raises);
  RUN(dblib_sql_errors_name_the_problem);
  RUN(dblib_readonly_by_default);
  RUN(dblib_write_mode_writes);
  RUN(dblib_open_missing_file_fails);
  RUN(dblib_closed_handle_raises);
  RUN(dblib_sandbox_has_no_db_module);
  RUN(dblib_borrowed_connection_stays_open);
  RUN(dblib_reads_while_writer_holds_transaction);

  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
  return TEST_EXIT();
}
