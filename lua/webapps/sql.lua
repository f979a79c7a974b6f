-- A read-only SQL box over kb.db and probe.db. The connections are opened
-- read-only and carry an SQLite authorizer that denies everything but
-- reading, so INSERT, DROP, ATTACH or PRAGMA writable_schema fail inside
-- SQLite whatever the text of the query. Rows are capped at a limit and
-- the query at the page's time budget.


local cjson = require "cjson"
local web = require "stratosphere.web"
local template = require "stratosphere.template"

local ROWS_DEFAULT = 200
local ROWS_MAX = 5000
local CELL_MAX = 300   -- characters of a value shown in the table

local EXAMPLES = {
  kb = "SELECT type, count(*) AS n, max(ts) AS newest\n"
       .. "FROM entities GROUP BY type ORDER BY n DESC",
  probe = "SELECT flow_request_host AS host, count(*) AS n\n"
          .. "FROM flows GROUP BY host ORDER BY n DESC",
}


local VIEW = template.must([[
<form method="post" action="/sql">
  <textarea name="sql" spellcheck="false" rows="6">{{ sql }}</textarea>
  <div class="filters">
    <label>Database <select name="db">
      <option value="kb"{% if db == "kb" then %} selected{% end %}>kb.db (entities, relationships)</option>
      <option value="probe"{% if db == "probe" then %} selected{% end %}>probe.db (flows)</option>
    </select></label>
    <label>Row limit <input name="limit" value="{{ limit }}" size="6"></label>
    <button type="submit">Run</button>
  </div>
</form>
<p class="muted">Read-only: statements that write are rejected by SQLite. The same query as JSON:
<a class="mono" href="/api/sql?db={{ db }}&amp;limit={{ limit }}&amp;sql={{ urlencode(sql) }}">/api/sql?db={{ db }}&amp;sql=…</a></p>
{% if error then %}<p class="notice">{{ error }}</p>{% end %}
{% if columns then %}
<p class="muted">{{ plural(#rows, "row") }}{% if truncated then %} (limit reached){% end %} in {{ elapsed_ms }} ms.</p>
<div class="scroll">
<table class="list compact">
<thead><tr>{% for _, c in ipairs(columns) do %}<th>{{ c }}</th>{% end %}</tr></thead>
<tbody>
{% for _, row in ipairs(rows) do %}<tr>{% for i = 1, #columns do %}<td class="mono url">{% if row[i] == null then %}<span class="muted">NULL</span>{% else %}{{ shorten(tostring(row[i]), cell_max) }}{% end %}</td>{% end %}</tr>
{% end %}</tbody>
</table>
</div>
{% end %}
]], "sql.lua", { count = web.count, plural = web.plural, shorten = web.shorten,
                 null = cjson.null, cell_max = CELL_MAX })


local M = {
  title = "SQL",
  menu = 80,
  description = "Read-only SQL over kb.db or probe.db, with a row limit "
                .. "and a time limit.",
}


-- Returns a value as JSON can carry it: BLOBs that are not UTF-8 text are
-- described instead of copied.
local function cell(value)
  if value == nil then
    return cjson.null
  end
  if type(value) == "string" and not utf8.len(value) then
    return string.format("(%d bytes of binary data)", #value)
  end
  return value
end


-- Runs the query with at most limit + 1 rows. A query that cannot be
-- wrapped in a subquery (PRAGMA, EXPLAIN) runs as it is: such statements
-- return few rows.
local function run(h, sql, limit)
  local body = sql:gsub("[%s;]+$", "")
  local wrapped = "SELECT * FROM (\n" .. body .. "\n) LIMIT " .. (limit + 1)
  local ok, rows, err = pcall(h.sql, h, wrapped)
  if not ok then
    ok, rows, err = pcall(h.sql, h, sql)
    if not ok then
      -- The message of a raised error carries "sql: " and no position.
      return nil, tostring(rows):gsub("^.-sql: ", "")
    end
  end
  if not rows then
    return nil, err
  end
  return rows
end


function M.data(req)
  local db = req.params.db == "probe" and "probe" or "kb"
  local sql = web.param(req, "sql")
  local limit = web.int_param(req, "limit", ROWS_DEFAULT, 1, ROWS_MAX)
  local data = { db = db, sql = sql or EXAMPLES[db], limit = limit }
  if not sql then
    return data
  end

  local h = web.db(db)
  local started = web.clock_ms()
  local rows, err = run(h, sql, limit)
  data.elapsed_ms = web.clock_ms() - started
  if not rows then
    if err == "not authorized" then
      err = "not authorized: the SQL page only reads, so SQLite rejects "
            .. "statements that write, attach or change settings"
    elseif err:find("interrupted$") then
      -- Only the page's deadline interrupts these connections.
      err = string.format("timed out after %g s, the time limit of a "
                          .. "page; add a LIMIT or a narrower WHERE",
                          web.status().page_budget_s)
    end
    data.error = err
    return data
  end

  -- NOTE: rows map column names to values, so of two result columns with
  -- the same name only the last one's values are shown.
  local columns = (getmetatable(rows) or {}).columns or {}
  data.columns = web.array({ table.unpack(columns) })
  data.rows = web.array()
  for i, row in ipairs(rows) do
    if i > limit then
      data.truncated = true
      break
    end
    local out = web.array()
    for c, name in ipairs(columns) do
      out[c] = cell(row[name])
    end
    data.rows[#data.rows + 1] = out
  end
  data.truncated = data.truncated or false
  return data
end


function M.render(req, data)
  return web.layout(req, "SQL", VIEW(data))
end


return M
