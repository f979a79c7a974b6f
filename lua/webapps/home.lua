-- The home page: counts of what the recorder contains and a link to every
-- page.


local web = require "stratosphere.web"
local template = require "stratosphere.template"


local VIEW = template.must([[
<p class="lead">stratosphere records the pages you browse through its proxy
and turns them into a knowledge base of entities and the relationships
between them.</p>

<section class="cards">
  <a class="card" href="/entities"><span class="number">{{ count(entities) }}</span>
    <span class="label">entities</span></a>
  <a class="card" href="/system"><span class="number">{{ count(relationships) }}</span>
    <span class="label">relationships</span></a>
  <a class="card" href="/flows"><span class="number">{{ count(flows) }}</span>
    <span class="label">flows held</span></a>
  <div class="card"><span class="number">{{ newest and newest:sub(1, 10) or "–" }}</span>
    <span class="label">newest entity{% if newest then %}, {{ newest:sub(12, 16) }}{% end %}</span></div>
</section>
{% for _, problem in ipairs(problems) do %}<p class="notice">{{ problem }}</p>
{% end %}
<h2>Pages</h2>
<table class="list">
<thead><tr><th>Page</th><th>What it shows</th><th>JSON</th></tr></thead>
<tbody>
{% for _, p in ipairs(pages) do %}<tr>
  <td><a href="{{ p.path }}">{{ p.title }}</a></td>
  <td>{% if p.error then %}<span class="error">failed to load: {{ p.error }}</span>{% else %}{{ p.description }}{% end %}</td>
  <td>{% if p.api then %}<a class="mono" href="{{ p.api }}">{{ p.api }}</a>{% end %}</td>
</tr>
{% end %}</tbody>
</table>

<h2>Entity types</h2>
{% if #types == 0 then %}<p class="muted">The knowledge base is empty.</p>{% end %}
<ul class="tags">
{% for _, t in ipairs(types) do %}<li><a href="/entities?type={{ urlencode(t.type) }}">{{ t.type }}</a> <span class="muted">{{ count(t.n) }}</span></li>
{% end %}</ul>
<p class="muted">A page is a Lua file in {{ pages_dir }}; a new or
changed file is picked up on the next request.</p>
]], "home.lua", { count = web.count })


local M = {
  title = "Home",
  path = "/",
  menu = 0,
  description = "Counts of what is recorded and the list of pages.",
}


function M.data(req)
  local data = {
    entities = 0,
    relationships = 0,
    flows = 0,
    types = web.array(),
    problems = web.array(),
    pages = web.pages(),
    pages_dir = web.status().pages_dir,
  }

  local kb, err = web.try_db("kb")
  if kb then
    local rows = web.sql(kb, "SELECT (SELECT count(*) FROM entities "
                         .. "WHERE type <> 'null') AS e, "
                         .. "(SELECT count(*) FROM relationships "
                         .. "WHERE type <> 'null') AS r, "
                         .. "(SELECT max(ts) FROM entities "
                         .. "WHERE type <> 'null') AS newest")
    data.entities = rows[1].e
    data.relationships = rows[1].r
    data.newest = rows[1].newest
    for _, row in ipairs(web.sql(kb, "SELECT type, count(*) AS n "
                                 .. "FROM entities WHERE type <> 'null' "
                                 .. "GROUP BY type ORDER BY n DESC, type")) do
      data.types[#data.types + 1] = { type = row.type, n = row.n }
    end
  else
    data.problems[#data.problems + 1] = err
  end

  local probe, probe_err = web.try_db("probe")
  if probe then
    data.flows = web.sql(probe, "SELECT count(*) AS n FROM flows")[1].n
  else
    data.problems[#data.problems + 1] = probe_err
  end
  return data
end


function M.render(req, data)
  -- Menu pages in menu order, then the pages that show one item.
  table.sort(data.pages, function(a, b)
    if (a.menu ~= nil) ~= (b.menu ~= nil) then
      return a.menu ~= nil
    end
    if a.menu and a.menu ~= b.menu then
      return a.menu < b.menu
    end
    return a.title < b.title
  end)
  return web.layout(req, "stratosphere", VIEW(data))
end


return M
