-- The flows that probe.db contains now, which the store limits to the last
-- retention window: counts by host, method and content type, and the
-- newest flows, filtered and paged.


local web = require "stratosphere.web"
local template = require "stratosphere.template"

local PAGE_SIZE = 100
local PAGE_SIZE_MAX = 1000
local TOP = 12   -- rows in each count table


local VIEW = template.must([[
<p class="lead">{{ plural(total, "flow") }} held in the flow store{% if filtered then %}, {{ count(matching) }} matching the filter{% end %}.</p>

<div class="columns">
{% for _, group in ipairs(groups) do %}<div>
<h3>By {{ group.title }}</h3>
<table class="list compact">
<tbody>
{% for _, row in ipairs(group.rows) do %}<tr><td><a href="/flows?{{ group.param }}={{ urlencode(row.value) }}">{{ row.value }}</a></td><td class="num">{{ count(row.n) }}</td></tr>
{% end %}{% if #group.rows == 0 then %}<tr><td class="muted">none</td></tr>{% end %}
</tbody>
</table>
</div>
{% end %}</div>

<h2>Flows</h2>
<form class="filters" method="get" action="/flows">
  <label>Host <input name="host" value="{{ host }}" placeholder="www.google.com"></label>
  <label>Method <input name="method" value="{{ method }}" size="7" placeholder="GET"></label>
  <label>Content type <input name="type" value="{{ content_type }}" placeholder="json"></label>
  <label>URL contains <input name="url" value="{{ url }}" placeholder="search"></label>
  <button type="submit">Filter</button>
  {% if filtered then %}<a href="/flows">Clear</a>{% end %}
</form>
<table class="list">
<thead><tr><th>Time</th><th>Method</th><th>Status</th><th>URL</th><th>Type</th><th class="num">Size</th></tr></thead>
<tbody>
{% for _, f in ipairs(flows) do %}<tr>
  <td class="nowrap mono">{{ f.time }}</td>
  <td>{{ f.method }}</td>
  <td>{% if f.status >= 400 then %}<span class="badge bad">{{ f.status }}</span>{% else %}{{ f.status }}{% end %}</td>
  <td class="url"><a href="/flow?id={{ urlencode(f.id) }}">{{ shorten(f.url, 140) }}</a></td>
  <td class="muted">{{ shorten(f.content_type, 30) }}</td>
  <td class="num">{{ bytes(f.size) }}</td>
</tr>
{% end %}</tbody>
</table>
{% if #flows == 0 then %}<p class="muted">No flows.</p>{% end %}
<div class="pager">
{% if next_before then %}<a href="/flows?{{ query }}before={{ next_before }}">Older flows →</a>{% end %}
</div>
]], "flows.lua", { count = web.count, plural = web.plural, bytes = web.bytes,
                   shorten = web.shorten })


local M = {
  title = "Flows",
  menu = 20,
  description = "Recorded requests and responses still held, with counts "
                .. "by host, method and content type.",
}


-- WHERE clause shared by the list and the matching count.
local FILTER = [[
  (:host IS NULL OR flow_request_host = :host)
  AND (:method IS NULL OR flow_request_method = upper(:method))
  AND (:type IS NULL OR instr(lower(coalesce(
         flow_response_headers_content_type, '')), lower(:type)) > 0)
  AND (:url IS NULL OR instr(flow_request_url, :url) > 0)
]]


local function counts(probe, column, filter)
  local rows = web.sql(probe, "SELECT coalesce(" .. column .. ", '') AS value, "
                       .. "count(*) AS n FROM flows WHERE " .. FILTER
                       .. " GROUP BY 1 ORDER BY n DESC, value LIMIT "
                       .. TOP, filter)
  local out = web.array()
  for _, row in ipairs(rows) do
    out[#out + 1] = { value = row.value, n = row.n }
  end
  return out
end


function M.data(req)
  local probe = web.db("probe")
  local filter = {
    host = web.param(req, "host"),
    method = web.param(req, "method"),
    type = web.param(req, "type"),
    url = web.param(req, "url"),
  }
  local limit = web.int_param(req, "limit", PAGE_SIZE, 1, PAGE_SIZE_MAX)
  local before = web.int_param(req, "before", nil, 1)

  local params = { host = filter.host, method = filter.method,
                   type = filter.type, url = filter.url,
                   before = before, limit = limit }
  local rows = web.sql(probe, "SELECT rowid AS rowid, flow_id, "
                       .. "flow_request_method AS method, "
                       .. "flow_response_status_code AS status, "
                       .. "flow_request_url AS url, "
                       .. "flow_request_host AS host, "
                       .. "flow_response_headers_content_type AS ctype, "
                       .. "length(flow_response_content) AS size, "
                       .. "flow_capture_timestamp AS ts FROM flows WHERE "
                       .. FILTER
                       .. " AND (:before IS NULL OR rowid < :before) "
                       .. "ORDER BY rowid DESC LIMIT :limit", params)

  local flows = web.array()
  for _, row in ipairs(rows) do
    flows[#flows + 1] = {
      id = row.flow_id,
      rowid = row.rowid,
      time = row.ts,
      method = row.method,
      status = row.status,
      url = row.url,
      host = row.host,
      content_type = row.ctype,
      size = row.size or 0,
    }
  end

  local total = web.sql(probe, "SELECT count(*) AS n FROM flows")[1].n
  local matching = web.sql(probe, "SELECT count(*) AS n FROM flows WHERE "
                           .. FILTER, filter)[1].n
  return {
    total = total,
    matching = matching,
    filter = filter,
    by_host = counts(probe, "flow_request_host", filter),
    by_method = counts(probe, "flow_request_method", filter),
    by_content_type = counts(probe, "flow_response_headers_content_type",
                             filter),
    flows = flows,
    next_before = #flows == limit and flows[#flows].rowid or nil,
  }
end


function M.render(req, data)
  local f = data.filter
  local query = {}
  for _, key in ipairs({ "host", "method", "type", "url" }) do
    if f[key] then
      query[#query + 1] = key .. "=" .. template.urlencode(f[key]) .. "&"
    end
  end
  local view = VIEW {
    total = data.total,
    matching = data.matching,
    filtered = f.host or f.method or f.type or f.url,
    host = f.host, method = f.method, content_type = f.type, url = f.url,
    groups = {
      { title = "host", param = "host", rows = data.by_host },
      { title = "method", param = "method", rows = data.by_method },
      { title = "content type", param = "type",
        rows = data.by_content_type },
    },
    flows = data.flows,
    next_before = data.next_before,
    query = table.concat(query),
  }
  return web.layout(req, "Flows", view)
end


return M
