-- Fuzz driver for the flow-to-Lua mapping (src/script/flowlib.c). Called
-- with the flow scanned from probe.db, the same flow pushed straight from
-- its struct, a st_flowlib_copy() of the scanned one, its row for
-- flow.new(), and the request and response header JSON texts. Raises when
-- an invariant breaks:
--   * the store round trip keeps every field the extractor reads;
--   * flow.new(row) builds the same table as the scan;
--   * header names are lowercase, values are strings, and any spelling of
--     a name finds the same value;
--   * flow.headers(text) matches the flow's header tables;
--   * writing to the copy leaves the scanned flow unchanged.


local core = require "stratosphere.core.flow"


local function check(cond, description)
  if not cond then
    error("invariant failed: " .. description, 2)
  end
end


local function check_headers(h, where)
  for name, value in pairs(h) do
    check(type(name) == "string", where .. ": a header name is not a string")
    check(name == string.lower(name), where .. ": a header name has capitals")
    check(type(value) == "string", where .. ": a header value is not a string")
    check(h[string.upper(name)] == value,
          where .. ": an upper-case lookup finds another value")
  end
end


local function same_headers(a, b, where)
  for name, value in pairs(a) do
    check(b[name] == value, where .. ": header '" .. name .. "' differs")
  end
  for name in pairs(b) do
    check(a[name] ~= nil, where .. ": header '" .. name .. "' is extra")
  end
end


local FIELDS = { "method", "url", "host", "port", "http_version",
                 "content_type", "body" }
local RESPONSE_FIELDS = { "status", "http_version", "content_type", "body" }


local function same_flow(a, b, where)
  for _, f in ipairs(FIELDS) do
    check(a.request[f] == b.request[f], where .. ": request." .. f)
  end
  for _, f in ipairs(RESPONSE_FIELDS) do
    check(a.response[f] == b.response[f], where .. ": response." .. f)
  end
  same_headers(a.request.headers, b.request.headers, where .. " request")
  same_headers(a.response.headers, b.response.headers, where .. " response")
end


return function(stored, direct, copy, row, req_json, resp_json)
  same_flow(stored, direct, "scanned and direct")
  -- A NULL pretty_url is stored as the url.
  check(stored.request.pretty_url == stored.request.url, "pretty_url")
  check(#stored.id == 32 and stored.id == direct.id, "id")
  check(stored.rowid > 0, "rowid")

  check_headers(stored.request.headers, "request")
  check_headers(stored.response.headers, "response")
  same_headers(core.headers(req_json), stored.request.headers,
               "flow.headers(request text)")
  same_headers(core.headers(resp_json), stored.response.headers,
               "flow.headers(response text)")

  local rebuilt = core.new(row)
  same_flow(rebuilt, stored, "flow.new and scanned")
  check(rebuilt.id == stored.id and rebuilt.rowid == stored.rowid,
        "flow.new id and rowid")
  check(rebuilt.ts == stored.ts, "flow.new capture time")

  same_flow(copy, stored, "copy and scanned")
  copy.request.url = "changed"
  copy.request.headers["x-fuzz"] = "changed"
  copy.response.body = "changed"
  check(stored.request.url ~= "changed" or direct.request.url == "changed",
        "writing the copy's url changed the original")
  check(stored.request.headers["x-fuzz"] == nil or
        core.headers(req_json)["x-fuzz"] ~= nil,
        "writing the copy's headers changed the original")
  check(stored.response.body == direct.response.body,
        "writing the copy's body changed the original")
end
