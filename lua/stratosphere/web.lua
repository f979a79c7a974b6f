-- Helpers for the dashboard's pages (lua/webapps/*.lua): the page layout,
-- database access, formatting, and labels for entities. Wraps the
-- stratosphere.core.web module, which only the dashboard's Lua state has.
--
--   local web = require "stratosphere.web"
--   local kb = web.db("kb")                      -- read-only, may raise
--   local rows = kb:sql("SELECT type, count(*) AS n FROM entities "
--                       .. "GROUP BY type")
--   return web.layout(req, "Title", body_html)  -- a whole HTML page
--
-- Functions from the core module (src/web/weblib.c): web.pages(),
-- web.array(t), web.json(v), web.fail(status, message), web.log_lines(n),
-- web.status(), web.pipeline(), web.ca(), web.clock_ms(), web.address.
-- Test: tests/c/test_web.c and tests/e2e/dashboard_pages.sh


local cjson = require "cjson"
local core = require "stratosphere.core.web"
local json = require "stratosphere.json"
local source_core = require "stratosphere.core.source"
local template = require "stratosphere.template"

local format = string.format
local floor = math.floor
local tonumber = tonumber
local type = type


local LAYOUT = template.must([[
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ document_title }}</title>
<link rel="stylesheet" href="/static/style.css">
{% for _, s in ipairs(scripts) do %}<script src="{{ s }}" defer></script>
{% end %}</head>
<body>
<header class="top">
  <a class="brand" href="/">stratosphere</a>
  <nav>
  {% for _, p in ipairs(menu) do %}<a href="{{ p.path }}"
    {% if p.active then %} class="active"{% end %}>{{ p.title }}</a>
  {% end %}</nav>
</header>
<main>
<h1>{{ title }}</h1>
{{ body }}
</main>
<footer>stratosphere dashboard at {{ address }} ·
  <a href="/api">JSON API</a></footer>
</body>
</html>
]], "stratosphere/web.lua layout")


local M = {}

for name, f in pairs(core) do
  M[name] = f
end


--- Returns the read-only handle of "kb" or "probe"; raises a 503 page
-- error naming the file when it cannot be opened.
function M.db(name)
  local h, err = core.db(name)
  if not h then
    core.fail(503, err)
  end
  return h
end


--- Returns the handle of "kb" or "probe", or nil and the reason.
function M.try_db(name)
  return core.db(name)
end


-- This file's name as Lua writes it in front of an error's line.
local HERE = source_core.locate(1, "")


--- Runs a query and returns its rows; raises a page error when SQLite
-- reports one. Arguments as for handle:sql(). Errors point at the line
-- of the page that called this.
function M.sql(h, query, ...)
  local ok, rows, err = pcall(h.sql, h, query, ...)
  if not ok then
    -- handle:sql() raised a mistake in the query at this file's line;
    -- the mistake is the caller's.
    local message = rows
    if type(message) ~= "string" then
      error(message, 0)
    end
    if message:sub(1, #HERE + 1) == HERE .. ":" then
      message = message:sub(#HERE + 2):gsub("^%d+: ", "", 1)
    end
    error(message, 2)
  end
  if not rows then
    error(err, 2)
  end
  return rows
end


--- Builds a whole HTML page around body (an HTML object from a template).
-- opts.scripts lists extra script URLs under /static/.
-- @return HTML object
function M.layout(req, title, body, opts)
  opts = opts or {}
  local menu = {}
  for _, p in ipairs(core.pages()) do
    if p.menu and not p.error then
      p.active = p.name == req.page
      menu[#menu + 1] = p
    end
  end
  table.sort(menu, function(a, b)
    if a.menu ~= b.menu then return a.menu < b.menu end
    return a.title < b.title
  end)
  return LAYOUT {
    title = title,
    -- The home page's title is the program's name, which is not repeated.
    document_title = title == "stratosphere" and title
                     or title .. " · stratosphere",
    body = body,
    menu = menu,
    scripts = opts.scripts or {},
    address = core.address,
  }
end


--- Reads an integer parameter, clamped to [min, max]; default when absent
-- or not a number.
function M.int_param(req, name, default, min, max)
  local n = tonumber(req.params[name])
  if not n or n ~= n then
    return default
  end
  n = floor(n)
  if min and n < min then n = min end
  if max and n > max then n = max end
  return n
end


--- Returns the parameter name when it is a non-empty string, else nil.
function M.param(req, name)
  local v = req.params[name]
  if v == nil or v == "" then
    return nil
  end
  return v
end


--- Decodes JSON text; returns the value, or nil when text is nil or not
-- valid JSON.
function M.decode_json(text)
  if type(text) ~= "string" then
    return nil
  end
  local ok, value = pcall(cjson.decode, text)
  if not ok then
    return nil
  end
  return value
end


--- Returns v unless it is cjson.null.
function M.value(v)
  if v == cjson.null then
    return nil
  end
  return v
end


--- Formats a byte count: "812 B", "4.2 KB", "1.3 MB".
function M.bytes(n)
  n = tonumber(n)
  if not n then
    return ""
  end
  local units = { "B", "KB", "MB", "GB", "TB" }
  local i = 1
  while n >= 1000 and i < #units do
    n = n / 1000
    i = i + 1
  end
  if i == 1 then
    return format("%d B", n)
  end
  return format("%.1f %s", n, units[i])
end


--- Formats an integer with thousands separators: 12345 -> "12,345".
function M.count(n)
  n = tonumber(n)
  if not n then
    return ""
  end
  local s = format("%d", floor(n))
  local sign, digits = s:match("^(-?)(%d+)$")
  digits = digits:reverse():gsub("(%d%d%d)", "%1,"):reverse()
  return sign .. digits:gsub("^,", "")
end


--- Formats a count with its noun: plural(1, "query", "queries") gives
-- "1 query", plural(1200, "query", "queries") "1,200 queries". Without
-- the plural form, an "s" is added to the singular.
function M.plural(n, singular, plural)
  local word = tonumber(n) == 1 and singular or (plural or singular .. "s")
  return M.count(n) .. " " .. word
end


--- Formats seconds as "3 d 4 h", "2 h 5 min", "4 min 10 s" or "12 s".
function M.duration(seconds)
  local s = floor(tonumber(seconds) or 0)
  if s >= 86400 then
    return format("%d d %d h", s // 86400, s % 86400 // 3600)
  elseif s >= 3600 then
    return format("%d h %d min", s // 3600, s % 3600 // 60)
  elseif s >= 60 then
    return format("%d min %d s", s // 60, s % 60)
  end
  return format("%d s", s)
end


--- Returns the host part of an http(s) URL without a leading "www.", or
-- nil.
function M.domain(url)
  if type(url) ~= "string" then
    return nil
  end
  local host = url:match("^[%a][%w+.-]*://([^/?#]+)")
  if not host then
    return nil
  end
  host = host:gsub("^[^@]*@", ""):gsub(":%d+$", ""):lower()
  return (host:gsub("^www%.", ""))
end


--- Shortens text to at most max characters (UTF-8 aware when valid),
-- adding "…" when it cut.
function M.shorten(text, max)
  if type(text) ~= "string" then
    return text
  end
  local len = utf8.len(text)
  if len == nil then
    if #text <= max then return text end
    return text:sub(1, max) .. "…"
  end
  if len <= max then
    return text
  end
  return text:sub(1, utf8.offset(text, max + 1) - 1) .. "…"
end


-- Data fields that name an entity, in order of preference.
local LABEL_FIELDS = { "full_name", "name", "title", "q", "text", "domain",
                       "public_identifier", "path", "url" }


--- Returns a short human-readable label for an entity from its decoded
-- data (or its JSON text), falling back to its type and id.
function M.label(entity_type, data, id)
  if type(data) == "string" then
    data = M.decode_json(data)
  end
  if type(data) == "table" then
    local first = M.value(data.first_name)
    local last = M.value(data.last_name)
    for _, field in ipairs(LABEL_FIELDS) do
      local v = M.value(data[field])
      if type(v) == "string" and v ~= "" then
        return v
      end
      if field == "full_name" and first then
        return first .. (last and (" " .. last) or "")
      end
    end
    local ids = M.value(data.user_ids)
    if type(ids) == "string" then
      local n = ids:match("%d+")
      if n then return "id" .. n end
    end
    local number = M.value(data.member_id) or M.value(data.company_id)
    if type(number) == "string" or type(number) == "number" then
      return (entity_type or "entity") .. " " .. tostring(number)
    end
  end
  if id then
    return (entity_type or "entity") .. " " .. id:sub(1, 8)
  end
  return entity_type or "entity"
end


--- Returns a link to a person's profile on the site the entity came from,
-- or nil.
function M.profile_url(entity_type, data)
  if type(data) ~= "table" then
    return nil
  end
  local url = M.value(data.url) or M.value(data.profile_url)
  if type(url) == "string" and url:find("^https?://") then
    return url
  end
  if entity_type == "vk.com/person" then
    local path = M.value(data.path)
    if type(path) == "string" and path:find("^/[%w._-]+$") then
      return "https://vk.com" .. path
    end
    local domain = M.value(data.domain)
    if type(domain) == "string" and domain:find("^[%w._-]+$") then
      return "https://vk.com/" .. domain
    end
    local ids = M.value(data.user_ids)
    local n = type(ids) == "string" and ids:match("%d+")
    if n then
      return "https://vk.com/id" .. n
    end
  elseif entity_type == "linkedin.com/person" then
    local public_id = M.value(data.public_identifier)
    if type(public_id) == "string" and public_id:find("^[%w%%._-]+$") then
      return "https://www.linkedin.com/in/" .. public_id .. "/"
    end
  elseif entity_type == "linkedin.com/company" then
    local company_id = M.value(data.company_id)
    if company_id and tostring(company_id):find("^%d+$") then
      return "https://www.linkedin.com/company/" .. tostring(company_id) .. "/"
    end
  end
  return nil
end


--- Re-indents JSON text (see stratosphere.json's pretty).
M.pretty_json = json.pretty


--- Returns a hex dump of the first max bytes of s: offset, 16 bytes in
-- hex, and their printable ASCII characters.
function M.hexdump(s, max)
  local lines = {}
  local limit = math.min(#s, max or 4096)
  for offset = 0, limit - 1, 16 do
    local chunk = s:sub(offset + 1, math.min(offset + 16, limit))
    local hex = chunk:gsub(".", function(b)
      return format("%02x ", b:byte())
    end)
    local ascii = chunk:gsub("[^\32-\126]", ".")
    lines[#lines + 1] = format("%08x  %-48s |%s|", offset, hex, ascii)
  end
  return table.concat(lines, "\n")
end



return M
