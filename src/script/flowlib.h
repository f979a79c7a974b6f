/* The flow table that extractors and the REPL see, built from a struct
 * st_flow:
 *
 *   flow = {
 *     id = "32 hex", rowid = 47, ts = "2023-04-09 14:15:03.030518",
 *     request = { method, url, pretty_url, host, port, http_version,
 *                 headers, content_type, body, ts },
 *     response = { status, http_version, headers, content_type, body, ts },
 *   }
 *
 * ts is the capture time. headers is a table whose keys are the lowercased
 * header names; looking up any spelling (h["Content-Type"]) finds the
 * same value. Repeated names, which the store already joined with ", ",
 * stay one string. content_type is nil when the column is NULL. Bodies are
 * the stored bytes as Lua strings, NULs included, and "" when absent.
 * Other text fields that are NULL become "".
 *
 * require "stratosphere.core.flow" gives:
 *   flow.headers(json_text) -> header table as above ({} when the text is
 *                              not a JSON object)
 *   flow.new(row)           -> flow table from a row of the flows table
 *                              with its column names (flow_id,
 *                              flow_request_url, ...) and rowid
 *
 * Used from the thread that owns the lua_State. */
#ifndef ST_FLOWLIB_H
#define ST_FLOWLIB_H

#include <lua.h>

#include "store/flow.h"

/* Pushes the flow table of flow, which is borrowed for the call only.
 * Returns 0, or ST_ENOMEM with nothing pushed. */
int st_flowlib_push(lua_State *L, const struct st_flow *flow);

/* Pushes a copy of the flow table at idx: new flow, request, response and
 * header tables that share the strings, so that code given the copy
 * cannot change what the next reader of the original sees. Returns 0, or
 * ST_ENOMEM with nothing pushed. */
int st_flowlib_copy(lua_State *L, int idx);

int luaopen_stratosphere_core_flow(lua_State *L);

#endif
