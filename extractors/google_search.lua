-- Google web search: reads result pages (GET https://www.google.com/search
-- with a q parameter, text/html) and writes
--   google.com/search_query   key: the query (q, form-decoded, trimmed)
--                             data: q
--   google.com/search_result  key: the result's URL as written in the page
--                             (for a /url?q=URL redirect, the URL)
--                             data: url, text
--   google.com/search_result  relationship from the query to each result,
--                             with the same data as the result
-- A result is a link to a site outside Google. Its text is the result's
-- title (the <h3> in the link), else the link text, else the alt texts of
-- its images, else null. When a URL appears more than once, a title wins
-- over other text and, between texts of the same kind, the first does.
-- Test: tests/lua/google_search_test.lua


local html = require "stratosphere.html"
local json = require "stratosphere.json"
local text = require "stratosphere.text"
local url = require "stratosphere.url"


-- Google's hosts besides google.<tld> and its subdomains: cached copies
-- of pages and static files.
local GOOGLE_HOSTS = { "googleusercontent.com", "gstatic.com" }

-- How good a link's text is as the result's name.
local TITLE, LINK_TEXT, IMAGE_ALTS, NONE = 3, 2, 1, 0


-- Returns the absolute URL a result link leads to, or nil for Google's
-- own links and for links that lead nowhere (relative, "#", javascript:).
-- Links of the form /url?q=TARGET are Google's redirects to TARGET.
local function result_url(href)
  if href:sub(1, 5) == "/url?" then
    href = url.query(href).q or ""
  end
  if href:sub(1, 3) ~= "htt" then
    return nil
  end
  local host = url.host(href) or ""
  if host:find("^google%.") or host:find("%.google%.") or
      url.host_is(host, GOOGLE_HOSTS) then
    return nil
  end
  return href
end


-- Returns the text of a result link and its rank.
local function link_text(a)
  local h3 = a:select_one("h3")
  if h3 then
    return h3:text(), TITLE
  end
  local label = html.label(a)
  if label == nil then
    return json.null, NONE
  end
  return label, a:text() ~= "" and LINK_TEXT or IMAGE_ALTS
end


local M = {
  match = {
    method = "GET",
    url_prefix = "https://www.google.com/search",
    content_type = "text/html",
  },
}


function M.extract(flow, kb)
  local q = text.trim(url.query(flow.request.url).q or "")
  if q == "" then
    return nil, "search URL has no q parameter"
  end
  local query = kb.upsert{
    type = "google.com/search_query", key = q, data = { q = q },
  }

  local doc, err = html.parse_response(flow.response)
  if doc == nil then
    return nil, err
  end

  -- Collects the best text of each URL first, so that each result is
  -- written once, in the order of its first appearance.
  local results, best = {}, {}
  for _, a in ipairs(doc:select("a[href]")) do
    local target = result_url(a:attr("href"))
    if target then
      local label, rank = link_text(a)
      if best[target] == nil then
        results[#results + 1] = target
        best[target] = { url = target, text = label, rank = rank }
      elseif rank > best[target].rank then
        best[target].text, best[target].rank = label, rank
      end
    end
  end
  if #results == 0 then
    return nil, "no result links in the page; has the layout changed?"
  end

  for _, target in ipairs(results) do
    local data = { url = target, text = best[target].text }
    local result = kb.upsert{
      type = "google.com/search_result", key = target, data = data,
    }
    kb.upsert{
      type = "google.com/search_result", src = query, dst = result,
      data = data,
    }
  end
  return true
end


return M
