-- Bing web search: reads result pages (GET https://www.bing.com/search
-- with a q parameter, text/html) and writes
--   bing.com/search_query   key: "bing.com/search_query:" .. q, where q
--                           is the query, form-decoded and trimmed
--                           data: q
--   bing.com/search_result  key: "bing.com/search_result:" .. the URL
--                           data: url, text (the result's title, null
--                           when it is empty)
--   bing.com/search_result  relationship from the query to each result,
--                           with the same data as the result
-- Results are the title links of the organic results (li.b_algo h2 a),
-- so ads and answer boxes are left out. Bing may send a
-- title link through its redirect /ck/a?...&u=a1<URL in base64url>, which
-- is decoded to the URL it leads to. A URL that appears twice keeps its
-- first title. The keys carry the type because the Google extractor
-- uses the bare query and URL: the same search on both engines would
-- otherwise share one row, whose type the last writer would set.
-- Test: tests/lua/bing_search_test.lua


local html = require "stratosphere.html"
local json = require "stratosphere.json"
local text = require "stratosphere.text"
local url = require "stratosphere.url"


local BASE64URL =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


-- Decodes base64 in the URL-safe alphabet (RFC 4648 section 5) without
-- padding. Returns nil for text that is not in that form.
local function base64url_decode(s)
  if s:find("[^%w%-_]") or #s % 4 == 1 then
    return nil
  end
  local out = {}
  for i = 1, #s, 4 do
    local group = s:sub(i, i + 3)
    local n = 0
    for j = 1, 4 do
      local c = group:sub(j, j)
      local digit = c == "" and 0 or BASE64URL:find(c, 1, true) - 1
      n = (n << 6) | digit
    end
    local bytes = string.char((n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)
    out[#out + 1] = bytes:sub(1, #group - 1)
  end
  return table.concat(out)
end


-- Returns the URL a result link leads to, or nil when it leads nowhere
-- outside Bing.
local function result_url(href)
  if url.host_is(href, "bing.com") then
    local target = url.query(href).u or ""
    href = target:sub(1, 2) == "a1" and base64url_decode(target:sub(3)) or ""
  end
  if href:find("^https?://") and not url.host_is(href, "bing.com") then
    return href
  end
  return nil
end


local M = {
  match = {
    method = "GET",
    url_prefix = { "https://www.bing.com/search", "https://bing.com/search" },
    content_type = "text/html",
  },
}


function M.extract(flow, kb)
  local q = text.trim(url.query(flow.request.url).q or "")
  if q == "" then
    return nil, "search URL has no q parameter"
  end
  local query = kb.upsert{
    type = "bing.com/search_query", key = "bing.com/search_query:" .. q,
    data = { q = q },
  }

  local doc, err = html.parse_response(flow.response)
  if doc == nil then
    return nil, err
  end
  local links = doc:select("li.b_algo h2 a[href]")
  if #links == 0 then
    return nil, "no li.b_algo results in the page; has the layout changed?"
  end

  local seen = {}
  for _, a in ipairs(links) do
    local target = result_url(a:attr("href"))
    if target and not seen[target] then
      seen[target] = true
      local data = { url = target, text = html.label(a) or json.null }
      local result = kb.upsert{
        type = "bing.com/search_result",
        key = "bing.com/search_result:" .. target, data = data,
      }
      kb.upsert{
        type = "bing.com/search_result", src = query, dst = result,
        data = data,
      }
    end
  end
  return true
end


return M
