/* The `stratosphere.core.db` Lua module: SQLite connections for the REPL,
 * `stratosphere lua` scripts and the dashboard, read-only unless the caller
 * asks for writes.
 *
 *   local db = require "stratosphere.core.db"
 *   local h = db.open("data/probe.db")            -- read-only
 *   local rows = h:sql("SELECT flow_request_host AS host, count(*) AS n "
 *                      .. "FROM flows WHERE flow_request_method = ? "
 *                      .. "GROUP BY 1", "GET")
 *   rows[1].host, rows[1].n, rows.columns  -- getmetatable(rows).columns
 *
 * A result is a list of rows; each row maps column names to values
 * (INTEGER -> integer, REAL -> float, TEXT and BLOB -> string, NULL -> no
 * key). The list's metatable is named "stratosphere.rows" and its field
 * `columns` lists the column names in order, so a printer can lay the rows
 * out as a table.
 *
 * Connections have a busy timeout (ST_DBLIB_BUSY_MS), so reading a file in
 * WAL mode while another process writes to it waits for a lock instead of
 * failing at once. Use a handle from the thread that owns its lua_State. */
#ifndef ST_DBLIB_H
#define ST_DBLIB_H

#include <lua.h>
#include <sqlite3.h>

#define ST_DBLIB_BUSY_MS 5000

/* Pushes a handle that wraps a connection the caller owns: closing the
 * handle or collecting it leaves db open. db must stay open until the
 * handle is closed or the lua_State is freed. With readonly nonzero the
 * handle raises on any statement that would write. path is copied and
 * only shown in messages. Raises on memory errors, like any lua_push. */
void st_dblib_push_borrowed(lua_State *L, sqlite3 *db, const char *path,
                            int readonly);

/* Opens the module table for require "stratosphere.core.db". */
int luaopen_stratosphere_core_db(lua_State *L);

#endif
