-- People found on vk.com and linkedin.com (vk.com/person and
-- linkedin.com/person entities), with a filter, a table, and a graph of
-- their vk.com/friend relationships and linkedin.com/company
-- relationships to linkedin.com/company entities. The graph is drawn in
-- the browser by static/graph.js from /api/people.


local web = require "stratosphere.web"
local template = require "stratosphere.template"

local PERSON_TYPES = { "vk.com/person", "linkedin.com/person" }
local EDGE_TYPES = { "vk.com/friend", "linkedin.com/company" }
local TABLE_MAX = 1000      -- people listed in the table
local GRAPH_NODES_MAX = 600 -- nodes the browser lays out smoothly

local SITES = {
  ["vk.com/person"] = "vk",
  ["linkedin.com/person"] = "linkedin",
  ["linkedin.com/company"] = "company",
}


local VIEW = template.must([[
<form class="filters" method="get" action="/people">
  <label>Name, place or id contains <input name="q" value="{{ q }}" placeholder="Ivanov" size="28"></label>
  <label>Site <select name="site">
    <option value="">vk.com and linkedin.com</option>
    <option value="vk.com"{% if site == "vk.com" then %} selected{% end %}>vk.com</option>
    <option value="linkedin.com"{% if site == "linkedin.com" then %} selected{% end %}>linkedin.com</option>
  </select></label>
  <button type="submit">Filter</button>
  {% if q or site then %}<a href="/people">Clear</a>{% end %}
</form>
<p class="muted">{{ count(total) }} {% if total == 1 then %}person matches{% elseif q or site then %}people match{% else %}people{% end %}{% if q or site then %} the filter{% end %}; the graph shows them with their friends and companies.</p>
<div class="graph-box" id="graph" data-api="/api/people{{ query }}">
  <canvas></canvas>
  <div class="graph-status">Loading the graph…</div>
</div>
<div class="legend">
  <span><span class="dot vk"></span>vk.com person</span>
  <span><span class="dot linkedin"></span>linkedin.com person</span>
  <span><span class="dot company"></span>linkedin.com company</span>
  <span>Drag to move, scroll to zoom, click a node to open it.</span>
</div>
<h2>People</h2>
<table class="list">
<thead><tr><th>Name</th><th>Site</th><th>Profile</th><th>Headline</th><th>Place</th><th>Born</th><th class="num">Connections</th><th>Last seen</th></tr></thead>
<tbody>
{% for _, p in ipairs(people) do %}<tr>
  <td><a href="/entity?id={{ urlencode(p.id) }}">{{ p.name }}</a></td>
  <td class="muted">{{ p.site }}</td>
  <td class="url">{% if p.profile then %}<a href="{{ p.profile }}" rel="noopener noreferrer" target="_blank">{{ shorten(p.profile, 40) }}</a>{% end %}</td>
  <td>{{ shorten(p.headline, 60) }}</td>
  <td>{{ p.city }}{% if p.city and p.country then %}, {% end %}{{ p.country }}</td>
  <td class="nowrap">{{ p.bdate }}</td>
  <td class="num">{{ count(p.connections) }}</td>
  <td class="nowrap">{{ p.ts }}</td>
</tr>
{% end %}</tbody>
</table>
{% if total > #people then %}<p class="muted">The first {{ count(#people) }} are listed.</p>{% end %}
]], "people.lua", { count = web.count, shorten = web.shorten })


local M = {
  title = "People",
  menu = 40,
  description = "vk.com and linkedin.com people, their friends and "
                .. "companies, as a table and a graph.",
}


local function string_field(data, key)
  local v = type(data) == "table" and web.value(data[key])
  if type(v) == "string" and v ~= "" then
    return v
  end
  return nil
end


-- Builds the graph around the listed people: the people themselves, the
-- friendship and company relationships touching them, and the entities at
-- the other ends, up to GRAPH_NODES_MAX nodes.
local function build_graph(kb, people)
  local nodes = web.array()
  local edges = web.array()
  local index = {}
  local ids = {}
  local truncated = false

  for _, p in ipairs(people) do
    if #nodes >= GRAPH_NODES_MAX then
      truncated = true
      break
    end
    nodes[#nodes + 1] = { id = p.id, label = p.name, kind = p.kind,
                          match = true }
    index[p.id] = #nodes
    ids[#ids + 1] = p.id
  end
  if #ids == 0 then
    return { nodes = nodes, edges = edges, truncated = false }
  end

  local id_list = web.json(web.array(ids))
  local rows = web.sql(kb, "SELECT r.src AS src, r.dst AS dst, r.type AS type, "
                       .. "s.type AS src_type, s.data AS src_data, "
                       .. "d.type AS dst_type, d.data AS dst_data "
                       .. "FROM relationships r "
                       .. "LEFT JOIN entities s ON s.id = r.src "
                       .. "LEFT JOIN entities d ON d.id = r.dst "
                       .. "WHERE r.type IN (?, ?) AND (r.src IN "
                       .. "(SELECT value FROM json_each(?)) OR r.dst IN "
                       .. "(SELECT value FROM json_each(?))) ORDER BY r.rowid",
                       EDGE_TYPES[1], EDGE_TYPES[2], id_list, id_list)
  for _, r in ipairs(rows) do
    local ok = true
    for _, side in ipairs({ "src", "dst" }) do
      local id = r[side]
      if not index[id] then
        if #nodes >= GRAPH_NODES_MAX then
          truncated = true
          ok = false
          break
        end
        local node_type = r[side .. "_type"]
        nodes[#nodes + 1] = {
          id = id,
          label = web.label(node_type, r[side .. "_data"], id),
          kind = SITES[node_type] or "other",
          match = false,
        }
        index[id] = #nodes
      end
    end
    if ok then
      edges[#edges + 1] = { source = r.src, target = r.dst, type = r.type }
    end
  end
  return { nodes = nodes, edges = edges, truncated = truncated }
end


function M.data(req)
  local kb = web.db("kb")
  local q = web.param(req, "q")
  local site = web.param(req, "site")
  local types = web.array()
  for _, t in ipairs(PERSON_TYPES) do
    if not site or t:sub(1, #site + 1) == site .. "/" then
      types[#types + 1] = t
    end
  end

  local params = { types = web.json(types), q = q, limit = TABLE_MAX }
  local filter = "e.type IN (SELECT value FROM json_each(:types)) AND "
                 .. "(:q IS NULL OR e.id = lower(:q) OR "
                 .. "instr(lower(coalesce(e.data, '')), lower(:q)) > 0)"
  local total = web.sql(kb, "SELECT count(*) AS n FROM entities e WHERE "
                        .. filter, params)[1].n
  local rows = web.sql(kb, "SELECT e.id AS id, e.type AS type, e.data AS data, "
                       .. "e.ts AS ts, (SELECT count(*) FROM relationships r "
                       .. "WHERE (r.src = e.id OR r.dst = e.id) AND r.type IN "
                       .. "('vk.com/friend', 'linkedin.com/company')) AS "
                       .. "connections FROM entities e WHERE " .. filter
                       .. " ORDER BY connections DESC, e.ts DESC, e.id "
                       .. "LIMIT :limit", params)

  local people = web.array()
  for _, row in ipairs(rows) do
    local data = web.decode_json(row.data)
    people[#people + 1] = {
      id = row.id,
      type = row.type,
      site = row.type:match("^[^/]+"),
      kind = SITES[row.type],
      name = web.label(row.type, data, row.id),
      profile = web.profile_url(row.type, data),
      headline = string_field(data, "headline"),
      city = string_field(data, "city"),
      country = string_field(data, "country"),
      bdate = string_field(data, "bdate"),
      connections = row.connections,
      ts = row.ts,
    }
  end

  return {
    q = q,
    site = site,
    total = total,
    people = people,
    graph = build_graph(kb, people),
  }
end


function M.render(req, data)
  local query = {}
  if data.q then
    query[#query + 1] = "q=" .. template.urlencode(data.q)
  end
  if data.site then
    query[#query + 1] = "site=" .. template.urlencode(data.site)
  end
  local view = VIEW {
    q = data.q,
    site = data.site,
    total = data.total,
    people = data.people,
    query = #query > 0 and ("?" .. table.concat(query, "&")) or "",
  }
  return web.layout(req, "People", view, { scripts = { "/static/graph.js" } })
end


return M
