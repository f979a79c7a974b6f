-- extractors/google_search.lua on tests/fixtures/google/*.html: results,
-- their texts, Google's own links, redirects, repeated URLs, and pages
-- that are not result pages.

package.path = "tests/lua/?.lua;" .. package.path

local t = require "helpers"
local h = require "extractor_harness"
local json = require "stratosphere.json"

local x = h.load("google_search")
local SEARCH = "https://www.google.com/search?q=who+owns+example+corp+&hl=en"


local function run(url, body)
  local kb = h.kb()
  local ok, err = x.extract(h.flow{ url = url, body = body }, kb)
  return kb, ok, err
end


-- The fixture page: one query and eight results in page order.
do
  local kb, ok, err = run(SEARCH, h.fixture("google/search.html"))
  t.eq(true, ok, "extract result: " .. tostring(err))

  local queries = kb:entities("google.com/search_query")
  t.eq(1, #queries, "queries")
  t.eq("who owns example corp", queries[1].data.q, "q is decoded, trimmed")
  t.eq(kb.id("who owns example corp"), queries[1].id, "query id")

  local expected = {
    { "https://en.wikipedia.org/wiki/Example_Corp#Ownership", "Ownership" },
    { "https://en.wikipedia.org/wiki/Example_Corp",
      "Example Corp - Wikipedia" },
    { "https://en.wikipedia.org/wiki/Example_Corp#History", "History" },
    { "https://news.example.net/2023/owners?id=7&ref=serp",
      "Who really owns Example Corp? & why it matters" },
    { "https://archive.example.org/owners", "Owners archive" },
    { "https://en.wikipedia.org/wiki/Google.com", "Google.com - Wikipedia" },
    { "http://images.example.org/logo", "Example Corp logo\nsquare" },
    { "https://blank.example.org/", json.null },
  }
  local results = kb:entities("google.com/search_result")
  t.eq(#expected, #results, "results")
  for i, want in ipairs(expected) do
    local result = results[i]
    t.eq(want[1], result.data.url, "url of result " .. i)
    t.eq(want[2], result.data.text, "text of " .. want[1])
    t.eq(kb.id(want[1]), result.id, "id of " .. want[1])
    t.eq("2024-05-01 10:00:00.000000", result.ts, "ts of " .. want[1])

    local rel = kb:get(kb.pair_id(queries[1].id, result.id))
    t.eq("google.com/search_result", rel and rel.type, "link to " .. want[1])
    t.eq(queries[1].id, rel.src, "link src")
    t.eq(result.id, rel.dst, "link dst")
    t.eq(want[1], rel.data.url, "link url")
    t.eq(want[2], rel.data.text, "link text")
  end
  t.eq(#expected, #kb:relationships("google.com/search_result"),
       "relationships")
  t.eq(1 + 2 * #expected, kb.upserts, "each row is written once")
end


-- Google's own links are not results, but other links that mention
-- google.com are.
do
  local kb = run(SEARCH, h.fixture("google/search.html"))
  for _, row in ipairs(kb:entities("google.com/search_result")) do
    local host = row.data.url:match("^%a+://([^/]+)")
    t.eq(nil, host:find("google%."), "Google host " .. host)
    t.eq(nil, host:find("googleusercontent", 1, true), "cache " .. host)
  end
  t.eq(true, kb:get(kb.id("https://en.wikipedia.org/wiki/Google.com")) ~= nil,
       "a path that mentions google.com")
  t.eq(nil, kb:get(kb.id("https://in-a-script.example/")), "script text")
end


-- Query parameters.
do
  local body = h.fixture("google/search.html")
  local kb, ok, err = run("https://www.google.com/search?tbm=isch", body)
  t.eq(nil, ok, "no q")
  t.eq("search URL has no q parameter", err, "no q message")
  t.eq(0, kb:count(), "no q writes nothing")

  kb, ok = run("https://www.google.com/search?q=+++&hl=en", body)
  t.eq(nil, ok, "blank q")
  t.eq(0, kb:count(), "blank q writes nothing")

  kb = run("https://www.google.com/search?q=caf%C3%A9+%22a%26b%22", body)
  local q = kb:entities("google.com/search_query")[1].data.q
  t.eq('café "a&b"', q, "percent-decoded query")
end


-- A page without results (a consent page, a changed layout) keeps the
-- query and declines with a reason.
do
  local kb, ok, err = run(SEARCH, h.fixture("google/consent.html"))
  t.eq(nil, ok, "consent page")
  t.eq("no result links in the page; has the layout changed?", err,
       "consent page reason")
  t.eq(1, #kb:entities("google.com/search_query"), "query kept")
  t.eq(0, #kb:entities("google.com/search_result"), "no results")

  for _, body in ipairs({ "", "\0\255\254<a href=", "<html><a href>" }) do
    kb, ok, err = run(SEARCH, body)
    t.eq(nil, ok, "broken page " .. #body)
    t.eq(true, err ~= nil, "broken page reason")
    t.eq(1, kb:count(), "broken page: only the query")
  end
end


-- The shared sample: the results page of search-google.db, row 47.
do
  local path = t.sample_path("search-google.db")
  if path == nil then
    print("note: ../shared/samples/search-google.db is absent, so the " ..
          "checks on the real capture did not run")
  else
    local body = assert(t.sample_column(path, 47, "flow_response_content"))
    local url = assert(t.sample_column(path, 47, "flow_request_url"))
    local kb = h.kb()
    local ok = x.extract(h.flow{ url = url, body = body }, kb)
    t.eq(true, ok, "sample page")
    t.eq("who owns bellingcat",
         kb:entities("google.com/search_query")[1].data.q, "sample query")
    t.eq(15, #kb:entities("google.com/search_result"), "sample results")
    local wiki = kb:get(kb.id("https://en.wikipedia.org/wiki/Bellingcat"))
    t.eq("Bellingcat - Wikipedia", wiki.data.text,
         "the title wins over '3 more rows'")
  end
end

print("ok")
