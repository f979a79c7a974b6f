-- Entities of one type (or of every type), newest first, with a text
-- filter over their data.


local web = require "stratosphere.web"
local template = require "stratosphere.template"

local PAGE_SIZE = 100
local PAGE_SIZE_MAX = 1000


local VIEW = template.must([[
<form class="filters" method="get" action="/entities">
  <label>Type <select name="type">
    <option value="">every type</option>
    {% for _, t in ipairs(types) do %}<option value="{{ t.type }}"{% if t.type == selected then %} selected{% end %}>{{ t.type }} ({{ count(t.n) }})</option>
    {% end %}</select></label>
  <label>Data contains <input name="q" value="{{ q }}"></label>
  <button type="submit">Show</button>
</form>
<p class="muted">{{ plural(total, "entity", "entities") }}{% if offset > 0 then %}; from number {{ count(offset + 1) }}{% end %}.</p>
<table class="list">
<thead><tr><th>Entity</th><th>Type</th><th>Data</th><th>Last seen</th></tr></thead>
<tbody>
{% for _, e in ipairs(entities) do %}<tr>
  <td><a href="/entity?id={{ urlencode(e.id) }}">{{ shorten(e.label, 70) }}</a></td>
  <td class="nowrap muted">{{ e.type }}</td>
  <td class="mono url">{{ shorten(e.data, 100) }}</td>
  <td class="nowrap">{{ e.ts }}</td>
</tr>
{% end %}</tbody>
</table>
<div class="pager">
{% if offset > 0 then %}<a href="/entities?{{ query }}offset={{ math.max(0, offset - limit) }}">← Newer</a>{% end %}
{% if offset + #entities < total then %}<a href="/entities?{{ query }}offset={{ offset + limit }}">Older →</a>{% end %}
</div>
]], "entities.lua", { count = web.count, plural = web.plural,
                      shorten = web.shorten })


local M = {
  title = "Entities",
  menu = 50,
  description = "Entities of each type with their data; "
                .. "/api/entities?type=TYPE.",
}


function M.data(req)
  local kb = web.db("kb")
  local entity_type = web.param(req, "type")
  local q = web.param(req, "q")
  local limit = web.int_param(req, "limit", PAGE_SIZE, 1, PAGE_SIZE_MAX)
  local offset = web.int_param(req, "offset", 0, 0)
  local filter = "type <> 'null' AND (:type IS NULL OR type = :type) "
                 .. "AND (:q IS NULL OR instr(lower(coalesce(data, '')), "
                 .. "lower(:q)) > 0)"
  local params = { type = entity_type, q = q, limit = limit,
                   offset = offset }

  local rows = web.sql(kb, "SELECT id, type, data, ts FROM entities WHERE "
                       .. filter .. " ORDER BY ts DESC, id "
                       .. "LIMIT :limit OFFSET :offset", params)
  local entities = web.array()
  for _, row in ipairs(rows) do
    entities[#entities + 1] = {
      id = row.id,
      type = row.type,
      label = web.label(row.type, row.data, row.id),
      data = row.data,
      ts = row.ts,
    }
  end

  local types = web.array()
  for _, row in ipairs(web.sql(kb, "SELECT type, count(*) AS n FROM entities "
                               .. "WHERE type <> 'null' GROUP BY type "
                               .. "ORDER BY type")) do
    types[#types + 1] = { type = row.type, n = row.n }
  end

  return {
    type = entity_type,
    q = q,
    offset = offset,
    limit = limit,
    total = web.sql(kb, "SELECT count(*) AS n FROM entities WHERE " .. filter,
                    params)[1].n,
    types = types,
    entities = entities,
  }
end


function M.render(req, data)
  local query = ""
  if data.type then
    query = query .. "type=" .. template.urlencode(data.type) .. "&"
  end
  if data.q then
    query = query .. "q=" .. template.urlencode(data.q) .. "&"
  end
  local view = VIEW {
    types = data.types,
    selected = data.type,
    q = data.q,
    total = data.total,
    offset = data.offset,
    limit = data.limit,
    entities = data.entities,
    query = query,
  }
  return web.layout(req, data.type or "Entities", view)
end


return M
