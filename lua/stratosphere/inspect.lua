-- Tools for finding the flow that carries the data an extractor needs:
-- `probe` and `kb` objects over the two databases, and the overview(),
-- analyze(), show() and search() helpers that the REPL and
-- `stratosphere inspect` offer. Every database is opened read-only, on
-- first use.


local cjson = require "cjson"
local core_flow = require "stratosphere.core.flow"
local db = require "stratosphere.core.db"
local json = require "stratosphere.json"
local printer = require "stratosphere.printer"
local charsets = require "stratosphere.text"
local url = require "stratosphere.url"

local concat = table.concat
local format = string.format
local lower = string.lower


-- Columns of the flows table in probe.db, in the order flows are built.
local FLOW_COLUMNS = [[rowid, flow_id, flow_request_host,
  flow_request_port, flow_request_method, flow_request_pretty_url,
  flow_request_url, flow_request_http_version, flow_request_headers,
  flow_request_headers_content_type, flow_request_content,
  flow_request_timestamp_start, flow_response_status_code,
  flow_response_http_version, flow_response_headers,
  flow_response_headers_content_type, flow_response_content,
  flow_response_timestamp_start, flow_capture_timestamp]]

-- Prefixes that sites put before JSON to stop it from running as a
-- script (Google's ")]}'", Facebook's "for (;;);", vk.com's "<!--").
local JSON_PREFIXES = { ")]}'", "for (;;);", "for(;;);", "while(1);", "<!--" }

local SHOW_LINES = 60      -- lines of a response body show() prints
local SEARCH_WIDTH = 160   -- characters of a matching line search() prints
local LONG_LINE = 2000     -- bytes past which search() splits HTML lines


local function json_decode(text)
  local ok, value = pcall(cjson.decode, text)
  if ok then
    return value
  end
  return nil
end


local M = {}

-- Where the helpers write; tests replace it to read the output.
function M.output(text)
  io.stdout:write(text, "\n")
  io.stdout:flush()
end


local function say(fmt, ...)
  M.output(select("#", ...) > 0 and format(fmt, ...) or fmt)
end


-- {==================================================================
-- Flows as tables
-- ==================================================================

-- Returns the path and query of a URL, or the URL when it has no host part.
local function path_of(address)
  return address:match("^%a[%w+.-]*://[^/?#]*(.*)$") or address
end


local function body_kind(body, content_type)
  if #body == 0 then
    return "empty"
  end
  if printer.is_binary(body) then
    return "binary"
  end
  local ct = lower(content_type or "")
  if ct:find("json", 1, true) then
    return "json"
  end
  if ct:find("html", 1, true) then
    return "html"
  end
  local start = body:match("^%s*(.)")
  if start == "{" or start == "[" then
    return "json"
  end
  return "text"
end


-- The text form of a flow list: one line per flow.
local function flows_tostring(list)
  local rows = {}
  for i, f in ipairs(list) do
    rows[i] = {
      rowid = f.rowid,
      time = (f.ts or ""):sub(12, 19),
      method = f.request.method,
      host = f.request.host,
      path = path_of(f.request.url),
      status = f.response.status,
      type = (f.response.content_type or ""):match("^[^;]*"),
      bytes = #f.response.body,
    }
  end
  return printer.rows(rows, { "rowid", "time", "method", "host", "path",
                              "status", "type", "bytes" })
end

local flows_mt = { __name = "stratosphere.flows", __tostring = flows_tostring }


-- }==================================================================


-- Parses a duration such as "90s", "10m", "2h" or "1d" into seconds.
-- Returns nil for anything else.
function M.parse_duration(text)
  local n, unit = tostring(text):match("^%s*(%d+%.?%d*)%s*([smhd]?)%s*$")
  if n == nil then
    return nil
  end
  local scale = { [""] = 1, s = 1, m = 60, h = 3600, d = 86400 }
  return tonumber(n) * scale[unit]
end


-- Turns `since` into the text form of a capture timestamp: a duration
-- ("10m") counts back from now in local time; anything else is taken as
-- a timestamp ("2023-04-09 14:15").
local function since_timestamp(since)
  local seconds = M.parse_duration(since)
  if seconds == nil then
    return tostring(since)
  end
  return os.date("%Y-%m-%d %H:%M:%S", os.time() - math.floor(seconds))
end


-- {==================================================================
-- probe: the flow store
-- ==================================================================

local Probe = {}
Probe.__index = Probe


--- Creates a probe object over the flows file at path, opened read-only
-- on first use. hint, optional, is the advice added to the error when the
-- file cannot be opened.
function M.probe(path, hint)
  return setmetatable({ path = path, hint = hint }, Probe)
end


function Probe:__tostring()
  return format("probe %s", self.path)
end


function Probe:handle()
  if self.db == nil then
    local h, err = db.open(self.path)
    if h == nil then
      -- An expected failure: the message, without a Lua position.
      error(format("%s; %s", err, self.hint or "record flows with "
                   .. "'stratosphere run' or give --probe FILE"), 0)
    end
    self.db = h
  end
  return self.db
end


-- Runs h:sql and raises its error at the line that called Probe:sql or
-- Kb:sql (level 3), so that a typo in a query typed at the prompt is not
-- reported as a line of this file. Those two must not tail-call it.
local function checked_sql(h, query, ...)
  local ok, rows = pcall(h.sql, h, query, ...)
  if not ok then
    error(rows, 3)
  end
  return rows
end


--- Runs a read-only SQL query on probe.db with bound parameters.
-- Returns the rows (see stratosphere.core.db), or nil and a message.
function Probe:sql(query, ...)
  local rows = checked_sql(self:handle(), query, ...)
  return rows
end


--- Returns the flows that match, in capture (rowid) order, as the tables
-- extractors receive. filter fields, all optional: host (exact), method
-- (any case), url (substring of the URL), url_prefix, content_type
-- (substring of the response content type, any case), since (a duration
-- such as "10m" or a timestamp), id (a flow id), after (a rowid), limit,
-- last (only the N most recent).
function Probe:flows(filter)
  filter = filter or {}
  if type(filter) ~= "table" then
    error("probe:flows: filter must be a table such as { host = "
          .. "\"www.google.com\" }", 2)
  end
  local where, params = {}, {}
  local function add(clause, value)
    where[#where + 1] = clause
    params[#params + 1] = value
  end
  if filter.host then add("flow_request_host = ?", filter.host) end
  if filter.method then
    add("flow_request_method = ?", filter.method:upper())
  end
  if filter.url then add("instr(flow_request_url, ?) > 0", filter.url) end
  if filter.url_prefix then
    add("substr(flow_request_url, 1, ?) = ?", #filter.url_prefix)
    params[#params + 1] = filter.url_prefix
  end
  if filter.content_type then
    add("instr(lower(flow_response_headers_content_type), lower(?)) > 0",
        filter.content_type)
  end
  if filter.since then
    add("flow_capture_timestamp >= ?", since_timestamp(filter.since))
  end
  if filter.id then add("flow_id = ?", filter.id) end
  if filter.after then add("rowid > ?", filter.after) end

  local query = "SELECT " .. FLOW_COLUMNS .. " FROM flows"
  if #where > 0 then
    query = query .. " WHERE " .. concat(where, " AND ")
  end
  if filter.last then
    query = "SELECT * FROM (" .. query .. " ORDER BY rowid DESC LIMIT "
            .. math.floor(filter.last) .. ") ORDER BY rowid"
  else
    query = query .. " ORDER BY rowid"
    if filter.limit then
      query = query .. " LIMIT " .. math.floor(filter.limit)
    end
  end

  local rows, err = self:sql(query, table.unpack(params))
  if rows == nil then
    return nil, err
  end
  local list = setmetatable({}, flows_mt)
  for i, r in ipairs(rows) do
    list[i] = core_flow.new(r)
  end
  return list
end


--- Returns one flow by rowid (a number) or flow id (32 hex characters),
-- or nil and a message.
function Probe:flow(which)
  local list
  if math.type(which) == "integer" then
    list = self:flows({ after = which - 1, limit = 1 })
    if list and list[1] and list[1].rowid ~= which then
      list = {}
    end
  else
    list = self:flows({ id = tostring(which) })
  end
  if list == nil or list[1] == nil then
    return nil, format("no flow %s in %s", tostring(which), self.path)
  end
  return list[1]
end


-- }==================================================================


-- {==================================================================
-- kb: the knowledge base
-- ==================================================================

local Kb = {}
Kb.__index = Kb


--- Creates a knowledge base object over the file at path, opened
-- read-only on first use.
function M.kb(path)
  return setmetatable({ path = path }, Kb)
end


function Kb:__tostring()
  return format("kb %s", self.path)
end


function Kb:handle()
  if self.db == nil then
    local h, err = db.open(self.path)
    if h == nil then
      error(format("%s; run extractors with 'stratosphere extract' or give "
                   .. "--kb FILE", err), 0)
    end
    self.db = h
  end
  return self.db
end


--- Runs a read-only SQL query on kb.db with bound parameters.
function Kb:sql(query, ...)
  local rows = checked_sql(self:handle(), query, ...)
  return rows
end


local function decode_data(row)
  if type(row.data) == "string" then
    local value = json_decode(row.data)
    if value ~= nil then
      row.data = value
    end
  end
  return row
end


--- Returns the entity with that id, its data decoded, with the lists
-- `outgoing` and `incoming` of its relationships (each with the entity at
-- the other end as `entity`), or nil and a message.
function Kb:entity(id)
  local rows = assert(self:sql("SELECT id, type, data, ts FROM entities "
                               .. "WHERE id = ?", id))
  if rows[1] == nil then
    return nil, format("no entity %s in %s", tostring(id), self.path)
  end
  local entity = decode_data(rows[1])
  local function related(column, other)
    local list = {}
    local rel = assert(self:sql(format(
      "SELECT r.id, r.type, r.src, r.dst, r.data, r.ts, e.type AS "
      .. "other_type, e.data AS other_data FROM relationships r LEFT JOIN "
      .. "entities e ON e.id = r.%s WHERE r.%s = ? ORDER BY r.rowid",
      other, column), id))
    for i, r in ipairs(rel) do
      decode_data(r)
      r.entity = decode_data({ id = r[other], type = r.other_type,
                               data = r.other_data })
      r.other_type, r.other_data = nil, nil
      list[i] = r
    end
    return list
  end
  entity.outgoing = related("src", "dst")
  entity.incoming = related("dst", "src")
  return entity
end


--- Returns entities, newest first, optionally of one type:
-- kb:entities{ type = "google.com/search_query", limit = 20 }.
function Kb:entities(filter)
  filter = filter or {}
  local query = "SELECT id, type, data, ts FROM entities WHERE id <> "
                .. "'00000000000000000000000000000000'"
  local params = {}
  if filter.type then
    query = query .. " AND type = ?"
    params[1] = filter.type
  end
  query = query .. " ORDER BY ts DESC LIMIT " .. math.floor(filter.limit or 100)
  return self:sql(query, table.unpack(params))
end


--- Returns the number of entities and relationships of each type.
function Kb:types()
  return self:sql("SELECT 'entity' AS kind, type, count(*) AS n FROM "
                  .. "entities GROUP BY type UNION ALL SELECT "
                  .. "'relationship', type, count(*) FROM relationships "
                  .. "GROUP BY type ORDER BY 1, 3 DESC")
end


-- }==================================================================


-- {==================================================================
-- Body helpers
-- ==================================================================

-- Strips an anti-script prefix and returns the JSON text, or nil when the
-- body is not JSON.
local function json_text(body)
  local text = body:match("^%s*(.-)%s*$")
  for _, prefix in ipairs(JSON_PREFIXES) do
    if text:sub(1, #prefix) == prefix then
      text = text:sub(#prefix + 1):match("^%s*(.-)$")
      break
    end
  end
  local first = text:sub(1, 1)
  if (first == "{" or first == "[") and json_decode(text) ~= nil then
    return text
  end
  return nil
end


--- Re-indents JSON text (see stratosphere.json's pretty).
M.pretty_json = json.pretty


local function is_form(body, content_type)
  if lower(content_type or ""):find("x-www-form-urlencoded", 1, true) then
    return true
  end
  return #body > 0 and body:match("^[%w%%._~*+-]+=[^%s]*$") ~= nil
end


-- Returns body as UTF-8 text, converted from the charset its content
-- type or HTML declares (vk.com sends windows-1251), or unchanged when it
-- is binary or the charset is unknown.
local function readable(body, content_type)
  if #body == 0 or printer.is_binary(body) then
    return body
  end
  return charsets.decode(body, content_type) or body
end


-- Writes a body: JSON re-indented, a form as name = value lines, text cut
-- to max_lines lines, binary as a summary.
local function show_body(body, content_type, max_lines)
  body = readable(body, content_type)
  if #body == 0 then
    say("  (empty)")
    return
  end
  if printer.is_binary(body) then
    say("  %s", printer.format(body))
    return
  end
  local json_body = json_text(body)
  local text
  if json_body ~= nil then
    text = json.pretty(json_body)
  elseif is_form(body, content_type) then
    local lines = {}
    for i, p in ipairs(url.parse_query_list(body)) do
      lines[i] = format("%s = %s", p[1], p[2])
    end
    text = concat(lines, "\n")
  else
    text = body
  end
  local count = 0
  for line in (text .. "\n"):gmatch("(.-)\n") do
    count = count + 1
    if count <= max_lines then
      say("  %s", #line > 400 and printer.cut_utf8(line, 400) .. " ..." or line)
    end
  end
  if count > max_lines then
    say("  ... %d more lines (%d bytes in all); search(flow, \"word\") "
        .. "finds lines", count - max_lines, #body)
  end
end


-- Resolves a flow argument: a flow table, a rowid or a flow id.
local function resolve_flow(probe, flow, caller)
  if type(flow) == "table" and flow.request ~= nil then
    return flow
  end
  if flow == nil then
    error(caller .. ": missing flow; pass a flow, its rowid or its id", 3)
  end
  local f, err = probe:flow(flow)
  if f == nil then
    error(caller .. ": " .. err, 3)
  end
  return f
end


-- The forms in which a pattern may appear in a lower-cased body: the
-- pattern lower-cased, and with non-ASCII characters as JSON \uXXXX
-- escapes. string.lower changes ASCII letters only, so the match ignores
-- case for them and not for other scripts.
local function pattern_forms(pattern)
  local forms = { lower(pattern) }
  if pattern:find("[\128-\255]") and utf8.len(pattern) then
    local escaped = {}
    for _, cp in utf8.codes(pattern) do
      if cp < 128 then
        escaped[#escaped + 1] = utf8.char(cp)
      elseif cp < 0x10000 then
        escaped[#escaped + 1] = format("\\u%04x", cp)
      else
        cp = cp - 0x10000
        escaped[#escaped + 1] = format("\\u%04x\\u%04x", 0xD800 + (cp >> 10),
                                       0xDC00 + (cp & 0x3FF))
      end
    end
    forms[#forms + 1] = lower(concat(escaped))
  end
  return forms
end


local function contains(lowered_body, forms)
  for _, form in ipairs(forms) do
    if lowered_body:find(form, 1, true) then
      return true
    end
  end
  return false
end


-- }==================================================================


local HELP = [[
Flows (probe.db, read-only):
  overview()                      flows by host, port and method
  analyze{"Name", "other", host = "x"}
                                  per flow: kind, size, patterns found
  show(47)                        one flow: URL, query, bodies decoded
  search(47, "Name")              body lines containing the patterns
  probe:flows{host=, method=, url=, url_prefix=, content_type=, since=,
              limit=, last=}      flow tables as extractors get them
  probe:flow(47)                  one flow table by rowid or id
  probe:sql("SELECT ... WHERE x = ?", value)
Knowledge base (kb.db; these read it, run below writes into it):
  kb:types()                      counts by entity and relationship type
  kb:entities{type=, limit=}      newest entities
  kb:entity(id)                   one entity with its relationships
  kb:sql("SELECT ...", ...)
Extractors:
  try "extractors/google_search.lua"
                                  run it over the flows into a scratch
                                  knowledge base and print what it adds
  run "extractors/google_search.lua"
                                  the same, writing into kb.db
Values print readably; printer.format(v, {depth = 8}) changes the limits.
Files: probe %s, kb %s]]


-- Returns true when path is a file that can be read. A folder opens on
-- Linux, but reading it fails with an error (EISDIR).
local function file_exists(path)
  local f = io.open(path, "rb")
  if f then
    local data, err = f:read(0)
    f:close()
    return data ~= nil or err == nil
  end
  return false
end


-- Finds an extractor: the path as given, else <dir>/<name>.lua, so that
-- try "google_search" finds extractors/google_search.lua.
local function extractor_path(name, dir)
  if type(name) ~= "string" or name == "" then
    error("give an extractor file, such as \"extractors/site_kind.lua\"", 3)
  end
  if file_exists(name) then
    return name
  end
  local base = name:match("([^/]+)$")
  if base == nil then
    error(string.format("extractor '%s' not found: give a .lua file, such "
                        .. "as \"extractors/site_kind.lua\"", name), 3)
  end
  base = base:gsub("%.lua$", "")
  local candidate = (dir or "extractors") .. "/" .. base .. ".lua"
  if file_exists(candidate) then
    return candidate
  end
  error(string.format("extractor '%s' not found (nor %s)", name, candidate),
        3)
end


local function remove_db(path)
  os.remove(path)
  os.remove(path .. "-wal")
  os.remove(path .. "-shm")
  os.remove(path .. "-journal")
end


-- Runs an extractor file over the probe into kb_path with the pipeline's
-- runner and prints the counts. Raises when the file does not load, with
-- the loader's file:line message.
local function run_extractor(file, probe_path, kb_path, opts)
  local extract = require "stratosphere.core.extract"
  local counts, err = extract.run({ file = file, probe = probe_path,
                                    kb = kb_path, budget = opts.budget,
                                    memory = opts.memory })
  if counts == nil then
    error(err, 0)
  end
  if counts.load_error then
    error(counts.load_error, 0)
  end
  say("%s: %d flows, %d matched, %d declined, %d errors; entities %d "
      .. "added, %d merged; relationships %d added, %d merged",
      file, counts.flows or 0, counts.matched or 0, counts.declined or 0,
      counts.errors or 0, counts.entities_added, counts.entities_merged,
      counts.relationships_added, counts.relationships_merged)
  if counts.last_error then
    say("last error: %s", counts.last_error)
  end
  if counts.last_declined then
    say("last declined: %s", counts.last_declined)
  end
  return counts
end


--- Installs probe, kb and the helpers as globals of env.
-- opts.probe and opts.kb are file paths; opts.extractors is the folder
-- try "name" looks in; opts.budget (seconds) and opts.memory (bytes) limit
-- each extractor run as in the pipeline. opts.probe_hint, optional, is
-- the advice added to the error when opts.probe cannot be opened.
function M.install(env, opts)
  local probe = M.probe(opts.probe, opts.probe_hint)
  local kb = M.kb(opts.kb)
  env.probe = probe
  env.kb = kb
  env.printer = printer

  --- try "file.lua": runs the extractor over every flow of probe into a
  -- scratch knowledge base, prints the counts and what it would add, and
  -- leaves kb.db untouched. Returns nothing; with { quiet = true } as
  -- second argument prints nothing and returns { counts, entities,
  -- relationships }.
  function env.try(name, try_opts)
    local file = extractor_path(name, opts.extractors)
    local quiet = try_opts and try_opts.quiet
    -- NOTE: the scratch knowledge base is a temporary file, deleted after
    -- the run, because the pipeline gives no access to the connection of
    -- an in-memory one.
    local scratch = os.tmpname()
    os.remove(scratch)
    scratch = scratch .. ".kb.db"
    local saved = M.output
    if quiet then
      M.output = function() end
    end
    local ok, counts = pcall(run_extractor, file, probe.path, scratch, opts)
    M.output = saved
    if not ok then
      remove_db(scratch)
      error(counts, 0)
    end
    local result = { counts = counts }
    local h = db.open(scratch)
    if h then
      local nil_id = "00000000000000000000000000000000"
      result.entities = h:sql("SELECT type, id, data, ts FROM entities "
                              .. "WHERE id <> ? ORDER BY rowid", nil_id)
      result.relationships = h:sql("SELECT type, src, dst, data FROM "
                                   .. "relationships WHERE id <> ? ORDER "
                                   .. "BY rowid", nil_id)
      h:close()
    end
    remove_db(scratch)
    if quiet then
      return result
    end
    for _, kind in ipairs({ "entities", "relationships" }) do
      local rows = result[kind]
      if rows and #rows > 0 then
        say("%s:\n%s", kind, printer.format(rows))
      elseif rows then
        say("%s: none", kind)
      end
    end
  end

  --- run "file.lua": runs the extractor over every flow of probe into
  -- kb.db (the only helper that writes) and prints the counts.
  function env.run(name)
    local file = extractor_path(name, opts.extractors)
    run_extractor(file, probe.path, kb.path, opts)
  end

  --- help(): the helpers and what they take.
  function env.help()
    say(HELP, probe.path, kb.path)
  end

  --- overview(): flows grouped by host, port and method with their
  -- content types, counts and time span; returns the rows.
  function env.overview()
    local rows = assert(probe:sql([[
      SELECT flow_request_host AS host, flow_request_port AS port,
        flow_request_method AS method, count(*) AS flows,
        group_concat(DISTINCT lower(trim(substr(
          flow_response_headers_content_type, 1,
          instr(flow_response_headers_content_type || ';', ';') - 1))))
          AS content_types,
        substr(min(flow_capture_timestamp), 12, 8) AS first,
        substr(max(flow_capture_timestamp), 12, 8) AS last
      FROM flows GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1]]))
    local span = assert(probe:sql("SELECT count(*) AS n, "
      .. "min(flow_capture_timestamp) AS first, max(flow_capture_timestamp) "
      .. "AS last FROM flows"))[1]
    local mt = getmetatable(rows)
    if span.n == 0 then
      mt.footer = format("no flows in %s", probe.path)
    else
      mt.footer = format("%d flows in %s, captured %s to %s", span.n,
                         probe.path, span.first, span.last)
    end
    return rows
  end

  --- analyze{ "pattern", ..., host = ..., url = ... }: per flow, the
  -- capture time, method and host, the start of the path, the kind of
  -- response body (converted to UTF-8) and how many of the patterns it
  -- contains, ignoring the case of ASCII letters, with non-ASCII
  -- characters also found as JSON \u escapes. The named fields filter
  -- flows as in probe:flows().
  function env.analyze(spec)
    spec = spec or {}
    if type(spec) == "string" then
      spec = { spec }
    end
    local filter, forms = {}, {}
    for k, v in pairs(spec) do
      if math.type(k) == "integer" then
        forms[#forms + 1] = pattern_forms(tostring(v))
      else
        filter[k] = v
      end
    end
    local rows = setmetatable({}, { __name = "stratosphere.rows",
      __tostring = printer.format,
      columns = { "rowid", "time", "request", "path", "kind", "bytes",
                  "hits" } })
    local best = {}
    for _, f in ipairs(assert(probe:flows(filter))) do
      local body = lower(readable(f.response.body,
                                  f.response.content_type))
      local hits = 0
      for _, form in ipairs(forms) do
        if contains(body, form) then
          hits = hits + 1
        end
      end
      rows[#rows + 1] = {
        rowid = f.rowid,
        time = (f.ts or ""):sub(12, 19),
        request = f.request.method .. " " .. f.request.host,
        path = path_of(f.request.url),
        kind = body_kind(f.response.body, f.response.content_type),
        bytes = #f.response.body,
        hits = format("%d/%d", hits, #forms),
      }
      if #forms > 0 and hits == #forms then
        best[#best + 1] = tostring(f.rowid)
      end
    end
    if #forms > 0 then
      getmetatable(rows).footer = #best > 0
        and "every pattern found in flow " .. concat(best, ", ")
          .. "; show(rowid) prints one"
        or "no flow contains every pattern"
    end
    return rows
  end

  --- show(flow): method, URL, decoded query, request body (JSON or form
  -- decoded), status and the response body as indented JSON or the start
  -- of its text. flow may be a flow table, a rowid or a flow id.
  function env.show(flow, max_lines)
    local f = resolve_flow(probe, flow, "show")
    local req, resp = f.request, f.response
    say("flow %s  rowid %s  captured %s", f.id, tostring(f.rowid), f.ts)
    say("%s %s", req.method, req.url)
    local query = req.url:match("%?([^#]*)")
    if query and #query > 0 then
      say("query:")
      for _, p in ipairs(url.parse_query_list(query)) do
        say("  %s = %s", p[1], p[2])
      end
    end
    if #req.body > 0 then
      say("request body (%s, %d bytes):", req.content_type or "no type",
          #req.body)
      show_body(req.body, req.content_type, max_lines or SHOW_LINES)
    end
    say("response %s (%s, %d bytes):", tostring(resp.status),
        resp.content_type or "no type", #resp.body)
    show_body(resp.body, resp.content_type, max_lines or SHOW_LINES)
  end

  --- search(flow, patterns): numbered lines of the response body (JSON
  -- re-indented, long HTML lines split between tags) that contain any of
  -- the patterns, marked with ">", with one line of context around each,
  -- then "N of M lines match". Returns nothing, so that the REPL prints
  -- nothing after that summary.
  function env.search(flow, patterns, search_opts)
    local f = resolve_flow(probe, flow, "search")
    if type(patterns) == "string" then
      patterns = { patterns }
    end
    if type(patterns) ~= "table" or #patterns == 0 then
      error("search: give a pattern or a list of patterns", 2)
    end
    search_opts = search_opts or {}
    local body = readable(f.response.body, f.response.content_type)
    if search_opts.request then
      body = readable(f.request.body, f.request.content_type)
    end
    if printer.is_binary(body) then
      say("search: the body is binary (%d bytes)", #body)
      return
    end
    local json_body = json_text(body)
    local text = json_body and json.pretty(json_body) or body

    local lines = {}
    for line in (text .. "\n"):gmatch("(.-)\n") do
      if #line > LONG_LINE then
        for piece in (line:gsub("><", ">\n<") .. "\n"):gmatch("(.-)\n") do
          lines[#lines + 1] = piece
        end
      else
        lines[#lines + 1] = line
      end
    end

    local forms = {}
    for _, p in ipairs(patterns) do
      forms[#forms + 1] = pattern_forms(tostring(p))
    end
    local marked = {}
    for i, line in ipairs(lines) do
      local l = lower(line)
      for _, form in ipairs(forms) do
        if contains(l, form) then
          marked[i] = true
          break
        end
      end
    end

    local width = search_opts.width or SEARCH_WIDTH
    local function clip(line)
      if #line <= width then
        return line
      end
      -- Centre the window on the first match so it stays visible.
      local l, at = lower(line), nil
      for _, form in ipairs(forms) do
        for _, s in ipairs(form) do
          at = at or l:find(s, 1, true)
        end
      end
      local start = math.max(1, (at or 1) - width // 3)
      while start > 1 and (line:byte(start) or 0) & 0xC0 == 0x80 do
        start = start - 1
      end
      local piece = printer.cut_utf8(line:sub(start), width)
      return (start > 1 and "..." or "") .. piece .. "..."
    end

    local count, last_printed = 0, 0
    for i = 1, #lines do
      if marked[i] then
        count = count + 1
        for j = math.max(1, i - 1), math.min(#lines, i + 1) do
          if j > last_printed then
            if last_printed > 0 and j > last_printed + 1 then
              say("      ...")
            end
            say("%s%5d  %s", marked[j] and ">" or " ", j, clip(lines[j]))
            last_printed = j
          end
        end
      end
    end
    say("%d of %d lines match", count, #lines)
  end
end


return M
