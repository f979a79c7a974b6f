-- Runs one extractor's extract() on a flow built in the test, so that a
-- test sees its return values and every row it writes.
--
--   local h = require "extractor_harness"
--   local x = h.load("google_search")
--   local kb = h.kb()
--   local ok, err = x.extract(h.flow{ url = ..., body = ... }, kb)
--   kb:entities("google.com/search_query")
--
-- Flows come from the real flow binding (stratosphere.core.flow.new) and
-- ids from the real id functions (stratosphere.core.kb). The kb is kept
-- in memory: it checks the fields of kb.upsert as kb.db's binding does,
-- passes data through a JSON encoding and back as storage does, and
-- merges with kb.merge. tests/e2e/samples_project.sh runs the same
-- extractors through `stratosphere extract` into a real kb.db.


local cjson = require "cjson"
local core_flow = require "stratosphere.core.flow"
local core_kb = require "stratosphere.core.kb"


local ID_PATTERN = "^" .. string.rep("[0-9a-f]", 32) .. "$"
local UPSERT_FIELDS = {
  type = true, key = true, src = true, dst = true, data = true, ts = true,
  merge = true,
}


local function check_upsert(spec)
  assert(type(spec) == "table", "kb.upsert: argument must be a table")
  for field in pairs(spec) do
    if not UPSERT_FIELDS[field] then
      error("kb.upsert: unknown field '" .. tostring(field) .. "'", 3)
    end
  end
  if type(spec.type) ~= "string" or spec.type == "" then
    error("kb.upsert: field 'type' must be a non-empty string", 3)
  end
  if spec.key ~= nil then
    if type(spec.key) ~= "string" then
      error("kb.upsert: field 'key' must be a string", 3)
    end
    if spec.src ~= nil or spec.dst ~= nil then
      error("kb.upsert: field 'key' cannot be combined with 'src', 'dst'",
            3)
    end
  else
    for _, field in ipairs({ "src", "dst" }) do
      if type(spec[field]) ~= "string" or
          not spec[field]:find(ID_PATTERN) then
        error("kb.upsert: field '" .. field .. "' must be an id", 3)
      end
    end
  end
  if spec.data ~= nil and type(spec.data) ~= "table" then
    error("kb.upsert: field 'data' must be a table", 3)
  end
end


local Kb = {}
Kb.__index = Kb


--- Writes or merges one row, as kb.upsert does in the pipeline, and
-- returns its id.
function Kb:upsert(spec)
  check_upsert(spec)
  local id
  if spec.key ~= nil then
    id = core_kb.id(spec.key)
  else
    id = core_kb.pair_id(spec.src, spec.dst)
  end

  local data = spec.data and cjson.decode(cjson.encode(spec.data))
  local row = self.rows[id]
  if row == nil then
    row = { id = id }
    self.rows[id] = row
    self.order[#self.order + 1] = id
  elseif data ~= nil and row.data ~= nil then
    data = (spec.merge or core_kb.merge)(row.data, data)
  end
  row.type = spec.type
  row.src, row.dst = spec.src, spec.dst
  row.data = data or row.data
  row.ts = spec.ts or self.ts
  self.upserts = self.upserts + 1
  return id
end


--- Returns the row with this id, or nil.
function Kb:get(id)
  return self.rows[id]
end


--- Returns the entities of a type, in the order they were first written.
function Kb:entities(type_name)
  local out = {}
  for _, id in ipairs(self.order) do
    local row = self.rows[id]
    if row.src == nil and row.type == type_name then
      out[#out + 1] = row
    end
  end
  return out
end


--- Returns the relationships of a type, in the order they were first
-- written.
function Kb:relationships(type_name)
  local out = {}
  for _, id in ipairs(self.order) do
    local row = self.rows[id]
    if row.src ~= nil and row.type == type_name then
      out[#out + 1] = row
    end
  end
  return out
end


--- Returns the number of rows written.
function Kb:count()
  return #self.order
end


local M = {}


--- Loads extractors/NAME.lua and returns its module table.
function M.load(name)
  local path = "extractors/" .. name .. ".lua"
  local chunk = assert(loadfile(path, "t"))
  local extractor = chunk()
  assert(type(extractor) == "table", path .. " must return a table")
  assert(type(extractor.extract) == "function",
         path .. " must have a function extract")
  return extractor
end


--- Returns a new in-memory kb. Its rows' ts is ts when given.
function M.kb(ts)
  local kb = setmetatable({ rows = {}, order = {}, upserts = 0,
                            ts = ts or "2024-05-01 10:00:00.000000" }, Kb)
  -- Extractors call kb.upsert{...} with a dot, as on the pipeline's kb.
  kb.upsert = function(spec)
    return Kb.upsert(kb, spec)
  end
  kb.id, kb.pair_id, kb.merge = core_kb.id, core_kb.pair_id, core_kb.merge
  return kb
end


--- Builds a flow table from a short description:
-- { method, url, request_body, request_type, status, body, content_type,
--   ts }. Defaults: GET, status 200, text/html; charset=utf-8.
function M.flow(spec)
  local url = assert(spec.url, "flow: url is required")
  local host = url:match("^%a+://([^/:?#]+)") or ""
  local ts = spec.ts or "2024-05-01 10:00:00.000000"
  local content_type = spec.content_type
  if content_type == nil then
    content_type = "text/html; charset=utf-8"
  end
  local response_headers = {}
  if content_type then
    response_headers["content-type"] = content_type
  end
  return core_flow.new({
    flow_id = string.rep("a", 32),
    rowid = 1,
    flow_request_host = host,
    flow_request_port = url:find("^https:") and 443 or 80,
    flow_request_method = spec.method or "GET",
    flow_request_pretty_url = url,
    flow_request_url = url,
    flow_request_http_version = "HTTP/1.1",
    flow_request_headers = cjson.encode({
      ["content-type"] = spec.request_type,
    }),
    flow_request_headers_content_type = spec.request_type,
    flow_request_content = spec.request_body or "",
    flow_request_timestamp_start = ts,
    flow_response_status_code = spec.status or 200,
    flow_response_http_version = "HTTP/1.1",
    flow_response_headers = cjson.encode(response_headers),
    flow_response_headers_content_type = content_type or nil,
    flow_response_content = spec.body or "",
    flow_response_timestamp_start = ts,
    flow_capture_timestamp = ts,
  })
end


--- Returns the bytes of tests/fixtures/PATH.
function M.fixture(path)
  local file = assert(io.open("tests/fixtures/" .. path, "rb"))
  local s = file:read("a")
  file:close()
  return s
end


return M
