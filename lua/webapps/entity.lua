-- One entity: its fields in stored order and its relationships in both
-- directions, each linking to the entity at the other end.


local web = require "stratosphere.web"
local template = require "stratosphere.template"

local RELATIONSHIPS_MAX = 1000  -- per direction


local VIEW = template.must([[
<p><span class="badge">{{ entity.type }}</span> <span class="mono muted">{{ entity.id }}</span></p>
<dl class="fields">
  <dt>Last seen</dt><dd>{{ entity.ts }}</dd>
{% for _, f in ipairs(entity.fields) do %}  <dt>{{ f.key }}</dt><dd>{% if f.link then %}<a href="{{ f.link }}" rel="noopener noreferrer" target="_blank">{{ f.value }}</a>{% elseif f.value == nil then %}<span class="muted">null</span>{% else %}{{ f.value }}{% end %}</dd>
{% end %}</dl>
{% for _, dir in ipairs(directions) do %}
<h2>{{ dir.title }} <span class="muted">{{ count(dir.total) }}</span></h2>
{% if #dir.rows == 0 then %}<p class="muted">None.</p>{% else %}
<table class="list compact">
<thead><tr><th>Relationship</th><th>{{ dir.other }}</th><th>Type</th><th>Data</th><th>Last seen</th></tr></thead>
<tbody>
{% for _, r in ipairs(dir.rows) do %}<tr>
  <td>{{ r.type }}</td>
  <td><a href="/entity?id={{ urlencode(r.other_id) }}">{{ shorten(r.other_label, 80) }}</a></td>
  <td class="muted">{{ r.other_type or "missing entity" }}</td>
  <td class="mono">{{ shorten(r.data, 120) }}</td>
  <td class="nowrap">{{ r.ts }}</td>
</tr>
{% end %}</tbody>
</table>
{% if dir.total > #dir.rows then %}<p class="muted">The first {{ count(#dir.rows) }} are shown.</p>{% end %}
{% end %}
{% end %}
]], "entity.lua", { count = web.count, shorten = web.shorten })


local M = {
  title = "Entity",
  description = "One entity's fields and relationships: /entity?id=ID.",
}


-- Returns the relationships on one side of the entity, with a label for
-- the entity at the other end.
local function relationships(kb, id, near, far)
  local rows = web.sql(kb, "SELECT r.id AS id, r.type AS type, r." .. far
                       .. " AS other_id, r.data AS data, r.ts AS ts, "
                       .. "e.type AS other_type, e.data AS other_data "
                       .. "FROM relationships r LEFT JOIN entities e "
                       .. "ON e.id = r." .. far .. " WHERE r." .. near
                       .. " = ? AND r.type <> 'null' "
                       .. "ORDER BY r.rowid LIMIT ?", id, RELATIONSHIPS_MAX)
  local total = web.sql(kb, "SELECT count(*) AS n FROM relationships WHERE "
                        .. near .. " = ? AND type <> 'null'", id)[1].n
  local out = web.array()
  for _, row in ipairs(rows) do
    out[#out + 1] = {
      id = row.id,
      type = row.type,
      other_id = row.other_id,
      other_type = row.other_type,
      other_label = web.label(row.other_type, row.other_data, row.other_id),
      data = row.data,
      ts = row.ts,
    }
  end
  return out, total
end


function M.data(req)
  local id = web.param(req, "id")
  if not id then
    web.fail(400, "Give an entity id: /entity?id=ID.")
  end
  local kb = web.db("kb")
  local row = web.sql(kb, "SELECT id, type, data, ts FROM entities "
                      .. "WHERE id = ?", id)[1]
  if not row then
    web.fail(404, "No entity with id " .. id .. " in the knowledge base.")
  end

  -- json_each keeps the stored key order, which decoding would lose.
  local fields = web.array()
  if row.data then
    local parts = web.sql(kb, "SELECT j.key AS key, j.value AS value, "
                          .. "j.type AS type FROM entities, json_each("
                          .. "CASE WHEN json_valid(entities.data) THEN "
                          .. "entities.data ELSE '{}' END) AS j "
                          .. "WHERE entities.id = ?", id)
    for _, p in ipairs(parts) do
      fields[#fields + 1] = {
        key = tostring(p.key),
        value = p.value ~= nil and tostring(p.value) or nil,
        json_type = p.type,
      }
    end
  end

  local outgoing, outgoing_total = relationships(kb, id, "src", "dst")
  local incoming, incoming_total = relationships(kb, id, "dst", "src")
  return {
    entity = {
      id = row.id,
      type = row.type,
      ts = row.ts,
      label = web.label(row.type, row.data, row.id),
      data = row.data,
      fields = fields,
    },
    outgoing = outgoing,
    outgoing_total = outgoing_total,
    incoming = incoming,
    incoming_total = incoming_total,
  }
end


function M.render(req, data)
  local entity = data.entity
  for _, f in ipairs(entity.fields) do
    if f.json_type == "text" and template.url(f.value) == f.value and
        f.value:find("^https?://") then
      f.link = f.value
    end
  end
  local view = VIEW {
    entity = entity,
    directions = {
      { title = "Relationships from this entity", other = "To",
        rows = data.outgoing, total = data.outgoing_total },
      { title = "Relationships to this entity", other = "From",
        rows = data.incoming, total = data.incoming_total },
    },
  }
  return web.layout(req, entity.label, view)
end


return M
