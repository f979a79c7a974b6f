-- Google searches: the queries, newest first, and for one query its
-- results with title, link and domain. Reads google.com/search_query
-- entities and google.com/search_result relationships from a query to
-- its results (data { q } and { url, text }).


local web = require "stratosphere.web"
local template = require "stratosphere.template"

local QUERY_TYPE = "google.com/search_query"
local RESULT_TYPE = "google.com/search_result"
local QUERIES_MAX = 500


local VIEW = template.must([[
{% if query then %}
<p><a href="/searches">← All searches</a></p>
<h2>“{{ query.q }}” <span class="muted">{{ plural(#results, "result") }}, last searched {{ query.ts }}</span></h2>
<p><a href="https://www.google.com/search?q={{ urlencode(query.q) }}" rel="noopener noreferrer" target="_blank">Search again on Google</a> · <a href="/entity?id={{ urlencode(query.id) }}">entity</a></p>
<table class="list">
<thead><tr><th class="num">#</th><th>Title</th><th>Domain</th><th>Link</th></tr></thead>
<tbody>
{% for i, r in ipairs(results) do %}<tr>
  <td class="num muted">{{ i }}</td>
  <td><a href="/entity?id={{ urlencode(r.id) }}">{{ r.title or "(no title)" }}</a></td>
  <td class="nowrap">{{ r.domain }}</td>
  <td class="url"><a href="{{ r.url }}" rel="noopener noreferrer" target="_blank">{{ shorten(r.url, 90) }}</a></td>
</tr>
{% end %}</tbody>
</table>
{% else %}
<p class="lead">{{ plural(#queries, "query", "queries") }} typed into Google, newest first.</p>
{% if #queries == 0 then %}<p class="muted">No searches recorded yet. Search on www.google.com through the proxy.</p>{% else %}
<table class="list">
<thead><tr><th>Query</th><th class="num">Results</th><th>Last searched</th></tr></thead>
<tbody>
{% for _, q in ipairs(queries) do %}<tr>
  <td><a href="/searches?id={{ urlencode(q.id) }}">{{ q.q }}</a></td>
  <td class="num">{{ count(q.results) }}</td>
  <td class="nowrap">{{ q.ts }}</td>
</tr>
{% end %}</tbody>
</table>
{% end %}
{% end %}
]], "searches.lua", { count = web.count, plural = web.plural,
                      shorten = web.shorten })


local M = {
  title = "Google searches",
  path = "/searches",
  menu = 30,
  description = "Queries typed into Google and, for each, its results; "
                .. "/api/searches?id=QUERY_ID.",
}


local function query_text(data_text, id)
  local data = web.decode_json(data_text)
  local q = type(data) == "table" and web.value(data.q)
  return type(q) == "string" and q or id
end


function M.data(req)
  local kb = web.db("kb")
  local id = web.param(req, "id")

  if not id then
    local queries = web.array()
    local rows = web.sql(kb, "SELECT e.id AS id, e.data AS data, e.ts AS ts, "
                         .. "(SELECT count(*) FROM relationships r "
                         .. "WHERE r.src = e.id AND r.type = ?) AS results "
                         .. "FROM entities e WHERE e.type = ? "
                         .. "ORDER BY e.ts DESC, e.id LIMIT ?",
                         RESULT_TYPE, QUERY_TYPE, QUERIES_MAX)
    for _, row in ipairs(rows) do
      queries[#queries + 1] = {
        id = row.id,
        q = query_text(row.data, row.id),
        ts = row.ts,
        results = row.results,
      }
    end
    return { queries = queries }
  end

  local row = web.sql(kb, "SELECT id, data, ts FROM entities WHERE id = ? "
                      .. "AND type = ?", id, QUERY_TYPE)[1]
  if not row then
    web.fail(404, "No Google search with id " .. id .. ".")
  end
  -- Relationships are stored in the order the results appeared.
  local results = web.array()
  local rows = web.sql(kb, "SELECT e.id AS id, coalesce(e.data, r.data) "
                       .. "AS data, r.ts AS ts FROM relationships r JOIN "
                       .. "entities e ON e.id = r.dst WHERE r.src = ? AND "
                       .. "r.type = ? ORDER BY r.rowid", id, RESULT_TYPE)
  for _, r in ipairs(rows) do
    local data = web.decode_json(r.data) or {}
    local url = web.value(data.url)
    local text = web.value(data.text)
    results[#results + 1] = {
      id = r.id,
      title = type(text) == "string" and text or nil,
      url = type(url) == "string" and url or nil,
      domain = web.domain(url),
      ts = r.ts,
    }
  end
  return {
    query = { id = row.id, q = query_text(row.data, row.id), ts = row.ts },
    results = results,
  }
end


function M.render(req, data)
  local title = data.query and ("Search: " .. data.query.q)
                or "Google searches"
  return web.layout(req, title, VIEW(data))
end


return M
