-- One flow: request and response headers and bodies. Bodies are shown as
-- indented JSON, as text, or as a hex dump for binary data.


local cjson = require "cjson"
local template = require "stratosphere.template"
local text = require "stratosphere.text"
local web = require "stratosphere.web"

local BODY_PREVIEW_MAX = 256 * 1024  -- bytes of a body shown as text
local HEX_PREVIEW_MAX = 4096         -- bytes of a binary body shown


local VIEW = template.must([[
<p class="url mono">{{ flow.request.method }} <a href="{{ flow.request.url }}" rel="noopener noreferrer" target="_blank">{{ flow.request.url }}</a></p>
<dl class="fields">
  <dt>Flow id</dt><dd class="mono">{{ flow.id }}</dd>
  <dt>Captured</dt><dd>{{ flow.time }}</dd>
  <dt>Status</dt><dd>{{ flow.response.status }} {{ flow.response.http_version }}</dd>
  <dt>Host</dt><dd><a href="/flows?host={{ urlencode(flow.request.host) }}">{{ flow.request.host }}</a>:{{ flow.request.port }}</dd>
</dl>
{% for _, part in ipairs(parts) do %}
<h2>{{ part.title }}</h2>
<table class="list compact">
<tbody>
{% for _, h in ipairs(part.message.headers) do %}<tr><th>{{ h.name }}</th><td class="url mono">{{ h.value }}</td></tr>
{% end %}{% if #part.message.headers == 0 then %}<tr><td class="muted">no headers</td></tr>{% end %}
</tbody>
</table>
<h3>Body <span class="muted">{{ part.message.body.summary }}</span></h3>
{% if part.message.body.text then %}<pre class="body">{{ part.message.body.text }}</pre>{% end %}
{% end %}
<p><a href="/flows">← All flows</a></p>
]], "flow.lua")


local M = {
  title = "Flow",
  description = "One flow's headers and bodies: /flow?id=FLOW_ID.",
}


-- Content types whose bodies are shown as a hex dump whatever their bytes.
local BINARY_TYPES = { "^image/", "^audio/", "^video/", "^font/",
                       "octet%-stream", "protobuf", "^application/zip" }


-- Returns body converted to UTF-8 text, or nil when it is binary or in an
-- unknown charset. A body that names no charset must be valid UTF-8.
local function as_text(body, content_type)
  if body:find("\0", 1, true) then
    return nil
  end
  local lower = (content_type or ""):lower()
  for _, pattern in ipairs(BINARY_TYPES) do
    if lower:find(pattern) then
      return nil
    end
  end
  if text.detect_charset(body, content_type) then
    return (text.decode(body, content_type))
  end
  if text.is_utf8(body) then
    return body
  end
  return nil
end


-- Describes a body for display: { kind, size, summary, text }.
local function preview(body, content_type)
  body = body or ""
  local size = #body
  local shown = body
  local cut = false
  if size == 0 then
    return { kind = "empty", size = 0, summary = "(empty)" }
  end
  if size > BODY_PREVIEW_MAX then
    shown = body:sub(1, BODY_PREVIEW_MAX)
    cut = true
  end

  -- A cut through a multi-byte character ends in U+FFFD after decoding,
  -- so a body without a declared charset is cut at a character boundary.
  if cut and not text.detect_charset(shown, content_type) then
    local valid = utf8.len(shown)
    for drop = 1, 3 do
      if valid then break end
      shown = body:sub(1, BODY_PREVIEW_MAX - drop)
      valid = utf8.len(shown)
    end
  end
  local decoded = as_text(shown, content_type)
  local suffix = cut and (", first " .. web.bytes(BODY_PREVIEW_MAX)
                          .. " shown") or ""
  if decoded then
    if not cut and decoded:find("^%s*[%[{]") and
        pcall(cjson.decode, decoded) then
      return { kind = "json", size = size, text = web.pretty_json(decoded),
               summary = web.bytes(size) .. ", JSON" }
    end
    return { kind = "text", size = size, text = decoded,
             summary = web.bytes(size) .. ", text" .. suffix }
  end
  return { kind = "binary", size = size,
           text = web.hexdump(body, HEX_PREVIEW_MAX),
           summary = web.bytes(size) .. ", binary"
                     .. (size > HEX_PREVIEW_MAX and (", first "
                         .. web.bytes(HEX_PREVIEW_MAX) .. " shown") or "") }
end


-- Returns the headers in their recorded order as { name, value } pairs,
-- read with SQLite's json_each because decoding into a Lua table would
-- lose the order.
local function headers(probe, rowid, column)
  local rows = web.sql(probe, "SELECT j.key AS name, j.value AS value "
                       .. "FROM flows, json_each(CASE WHEN json_valid("
                       .. column .. ") THEN " .. column .. " ELSE '{}' END) "
                       .. "AS j WHERE flows.rowid = ?", rowid)
  local out = web.array()
  for _, row in ipairs(rows) do
    out[#out + 1] = { name = row.name, value = tostring(row.value or "") }
  end
  return out
end


function M.data(req)
  local id = web.param(req, "id")
  if not id then
    web.fail(400, "Give a flow id: /flow?id=FLOW_ID.")
  end
  local probe = web.db("probe")
  local rows = web.sql(probe, "SELECT rowid AS rowid, * FROM flows "
                       .. "WHERE flow_id = ?", id)
  local row = rows[1]
  if not row then
    web.fail(404, "No flow with id " .. id .. " in the flow store. It may "
             .. "have been removed after the retention window.")
  end
  return {
    id = row.flow_id,
    rowid = row.rowid,
    time = row.flow_capture_timestamp,
    request = {
      method = row.flow_request_method,
      url = row.flow_request_url,
      host = row.flow_request_host,
      port = row.flow_request_port,
      http_version = row.flow_request_http_version,
      time = row.flow_request_timestamp_start,
      content_type = row.flow_request_headers_content_type,
      headers = headers(probe, row.rowid, "flow_request_headers"),
      body = preview(row.flow_request_content,
                     row.flow_request_headers_content_type),
    },
    response = {
      status = row.flow_response_status_code,
      http_version = row.flow_response_http_version,
      time = row.flow_response_timestamp_start,
      content_type = row.flow_response_headers_content_type,
      headers = headers(probe, row.rowid, "flow_response_headers"),
      body = preview(row.flow_response_content,
                     row.flow_response_headers_content_type),
    },
  }
end


function M.render(req, flow)
  local view = VIEW {
    flow = flow,
    parts = {
      { title = "Request", message = flow.request },
      { title = "Response", message = flow.response },
    },
  }
  return web.layout(req, "Flow", view)
end


return M
