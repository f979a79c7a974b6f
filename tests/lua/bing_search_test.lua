-- extractors/bing_search.lua on tests/fixtures/bing/*.html: organic
-- results, ads, Bing's redirect links, repeated URLs and pages without
-- results.

package.path = "tests/lua/?.lua;" .. package.path

local t = require "helpers"
local h = require "extractor_harness"

local x = h.load("bing_search")
local SEARCH = "https://www.bing.com/search?q=who+owns+example+corp&form=QBLH"


local function run(url, body)
  local kb = h.kb()
  local ok, err = x.extract(h.flow{ url = url, body = body }, kb)
  return kb, ok, err
end


-- The fixture page: the query and four organic results in page order.
do
  local kb, ok, err = run(SEARCH, h.fixture("bing/search.html"))
  t.eq(true, ok, "extract result: " .. tostring(err))

  local queries = kb:entities("bing.com/search_query")
  t.eq(1, #queries, "queries")
  t.eq("who owns example corp", queries[1].data.q, "q")
  t.eq(kb.id("bing.com/search_query:who owns example corp"), queries[1].id,
       "query id")

  local expected = {
    { "https://en.wikipedia.org/wiki/Example_Corp",
      "Example Corp - Wikipedia" },
    { "https://news.example.net/2023/owners?id=7&ref=bing",
      "Who owns Example Corp?" },
    { "https://archive.example.org/owners/été", "Owners archive (été)" },
    { "http://en.wikipedia.org/wiki/Example_Corp#History",
      "History of Example Corp" },
  }
  local results = kb:entities("bing.com/search_result")
  t.eq(#expected, #results, "results")
  for i, want in ipairs(expected) do
    t.eq(want[1], results[i].data.url, "url of result " .. i)
    t.eq(want[2], results[i].data.text, "text of " .. want[1])
    t.eq(kb.id("bing.com/search_result:" .. want[1]), results[i].id,
         "id of " .. want[1])
    local rel = kb:get(kb.pair_id(queries[1].id, results[i].id))
    t.eq("bing.com/search_result", rel and rel.type, "link to " .. want[1])
    t.eq(want[1], rel.data.url, "link url")
    t.eq(want[2], rel.data.text, "link text")
  end
  t.eq(#expected, #kb:relationships("bing.com/search_result"),
       "relationships")
  t.eq(nil, kb:get(kb.id("bing.com/search_result:https://shop.example.com")),
       "ads are left out")
  t.eq(1 + 2 * #expected, kb.upserts, "each row is written once")
end


-- A page without results keeps the query and declines. A URL without q
-- writes nothing.
do
  local kb, ok, err = run(SEARCH, h.fixture("bing/no_results.html"))
  t.eq(nil, ok, "no results")
  t.eq("no li.b_algo results in the page; has the layout changed?", err,
       "no results reason")
  t.eq(1, kb:count(), "the query is kept")

  kb, ok, err = run("https://www.bing.com/search?form=QBLH",
                    h.fixture("bing/search.html"))
  t.eq(nil, ok, "no q")
  t.eq("search URL has no q parameter", err, "no q reason")
  t.eq(0, kb:count(), "no q writes nothing")
end

print("ok")
