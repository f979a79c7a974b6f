-- The state of the recorder: entities and relationships by type with
-- their newest timestamps, flows held, database sizes, the extractors and
-- their counts, uptime and the most recent log lines.


local web = require "stratosphere.web"
local template = require "stratosphere.template"

local LOG_LINES = 60


local VIEW = template.must([[
<section class="cards">
  <div class="card"><span class="number">{{ duration(status.uptime_s) }}</span><span class="label">uptime, since {{ status.started:sub(1, 16) }}</span></div>
  <div class="card"><span class="number">{{ count(flows.count) }}</span><span class="label">flows held{% if flows.oldest then %}, {{ flows.oldest:sub(1, 16) }} to {{ flows.newest:sub(1, 16) }}{% end %}</span></div>
  <div class="card"><span class="number">{{ bytes(files.kb.size) }}</span><span class="label">kb.db{% if files.kb.wal_size then %} + {{ bytes(files.kb.wal_size) }} WAL{% end %}</span></div>
  <div class="card"><span class="number">{{ bytes(files.probe.size) }}</span><span class="label">probe.db{% if files.probe.wal_size then %} + {{ bytes(files.probe.wal_size) }} WAL{% end %}</span></div>
</section>
{% for _, problem in ipairs(problems) do %}<p class="notice">{{ problem }}</p>
{% end %}
<div class="columns">
{% for _, group in ipairs(groups) do %}<div>
<h2>{{ group.title }}</h2>
<table class="list compact">
<thead><tr><th>Type</th><th class="num">Count</th><th>Newest</th></tr></thead>
<tbody>
{% for _, t in ipairs(group.rows) do %}<tr><td>{% if group.link then %}<a href="/entities?type={{ urlencode(t.type) }}">{{ t.type }}</a>{% else %}{{ t.type }}{% end %}</td><td class="num">{{ count(t.count) }}</td><td class="nowrap">{{ t.newest }}</td></tr>
{% end %}{% if #group.rows == 0 then %}<tr><td class="muted" colspan="3">none</td></tr>{% end %}
</tbody>
</table>
</div>
{% end %}</div>

<h2>Extractors</h2>
{% if not pipeline then %}<p class="muted">No pipeline runs in this process (the dashboard was started alone), so there are no extractor counts.</p>
{% else %}<p class="muted">{{ plural(pipeline.cycles, "cycle") }}, {{ plural(pipeline.flows_seen, "flow") }} read, {{ plural(pipeline.entities_added, "entity", "entities") }} and {{ plural(pipeline.relationships_added, "relationship") }} added, {{ plural(pipeline.flows_pruned, "flow") }} pruned{% if pipeline.last_cycle then %}; last cycle {{ pipeline.last_cycle:sub(1, 19) }}{% end %}.</p>
{% if pipeline.last_error ~= "" then %}<p class="notice">{{ pipeline.last_error }}</p>{% end %}
<table class="list compact">
<thead><tr><th>Extractor</th><th>Version</th><th class="num">Matched</th><th class="num">Declined</th><th class="num">Errors</th><th>Last error</th><th>Last run</th></tr></thead>
<tbody>
{% for _, e in ipairs(pipeline.extractors) do %}<tr><td title="{{ e.file }}">{{ e.name }}</td><td>{{ e.version }}</td><td class="num">{{ count(e.matched) }}</td><td class="num">{{ count(e.declined) }}</td><td class="num">{% if e.errors > 0 then %}<span class="badge bad">{{ count(e.errors) }}</span>{% else %}0{% end %}</td><td class="mono url">{% if e.load_error ~= "" and e.loaded then %}<span class="error">new version not loaded (previous version running): {{ e.load_error }}</span> {% elseif e.load_error ~= "" then %}<span class="error">not loaded: {{ e.load_error }}</span> {% end %}{% if e.suspended then %}<span class="badge bad">suspended</span> {% end %}{{ e.last_error }}</td><td class="nowrap">{{ e.last_run and e.last_run:sub(1, 19) }}</td></tr>
{% end %}{% if #pipeline.extractors == 0 then %}<tr><td class="muted" colspan="7">no extractors loaded</td></tr>{% end %}
</tbody>
</table>
{% end %}

<h2>Files</h2>
<dl class="fields">
  <dt>Knowledge base</dt><dd class="mono">{{ files.kb.path }}</dd>
  <dt>Flow store</dt><dd class="mono">{{ files.probe.path }}</dd>
  <dt>Pages</dt><dd class="mono">{{ status.pages_dir }}</dd>
  <dt>Dashboard memory</dt><dd>{{ bytes(status.memory_bytes) }} of Lua memory</dd>
  <dt>Log level</dt><dd>{{ status.log_level }}</dd>
</dl>

<h2>Recent log lines</h2>
<pre class="body log">{% for _, line in ipairs(log) do %}{{ line }}
{% end %}</pre>
]], "system.lua", { count = web.count, plural = web.plural, bytes = web.bytes,
                    duration = web.duration })


local M = {
  title = "System",
  menu = 70,
  description = "Counts by type, flows held, database sizes, extractors, "
                .. "uptime and recent log lines.",
}


local function by_type(kb, table_name)
  local out = web.array()
  local rows = web.sql(kb, "SELECT type, count(*) AS n, max(ts) AS newest "
                       .. "FROM " .. table_name .. " WHERE type <> 'null' "
                       .. "GROUP BY type ORDER BY n DESC, type")
  for _, row in ipairs(rows) do
    out[#out + 1] = { type = row.type, count = row.n, newest = row.newest }
  end
  return out
end


function M.data(req)
  local status = web.status()
  local data = {
    status = status,
    files = status.files,
    entities = web.array(),
    relationships = web.array(),
    flows = { count = 0 },
    pipeline = web.pipeline(),
    log = web.log_lines(LOG_LINES),
    problems = web.array(),
  }

  local kb, kb_err = web.try_db("kb")
  if kb then
    data.entities = by_type(kb, "entities")
    data.relationships = by_type(kb, "relationships")
  else
    data.problems[#data.problems + 1] = kb_err
  end

  for _, e in ipairs(data.pipeline and data.pipeline.extractors or {}) do
    if e.suspended then
      data.problems[#data.problems + 1] = string.format(
        "Extractor %s (%s) is suspended: it exceeded its time budget or "
        .. "memory cap on several flows in a row. Fix or edit the file to "
        .. "run it again.", e.name, e.file)
    end
  end

  local probe, probe_err = web.try_db("probe")
  if probe then
    local row = web.sql(probe, "SELECT count(*) AS n, "
                        .. "min(flow_capture_timestamp) AS oldest, "
                        .. "max(flow_capture_timestamp) AS newest "
                        .. "FROM flows")[1]
    data.flows = { count = row.n, oldest = row.oldest, newest = row.newest }
  else
    data.problems[#data.problems + 1] = probe_err
  end
  return data
end


function M.render(req, data)
  data.groups = {
    { title = "Entities", rows = data.entities, link = true },
    { title = "Relationships", rows = data.relationships },
  }
  return web.layout(req, "System", VIEW(data))
end


return M
