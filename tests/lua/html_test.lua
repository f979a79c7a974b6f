-- stratosphere.html: parsing, selectors, text, navigation, serialization,
-- malformed input, closing, and the Google and vk sample pages.

package.path = "tests/lua/?.lua;" .. package.path

local t = require "helpers"
local html = require "stratosphere.html"
local json = require "stratosphere.json"
local text = require "stratosphere.text"


local PAGE = [[
<!DOCTYPE html>
<html><head><title>Results</title>
<style>p { color: red }</style>
<script>var s = "<a href='/fake'>no</a>";</script>
</head>
<body>
<div id="main" class="results  list">
  <div class="g" data-rank="1">
    <a href="https://example.org/one?a=1&amp;b=2" rel="nofollow external">
      <h3>First   result</h3><span>example.org</span>
    </a>
    <p>Snippet&nbsp;one<br>second line</p>
  </div>
  <div class="g" data-rank="2" lang="en-GB">
    <a href="http://example.net/two.pdf"><img alt="Two"><img alt="pages"></a>
  </div>
  <div class="G" data-rank="3"><a href="/relative">Rel<b>ative</b></a></div>
  <!-- a comment -->
  <ul><li>one<li>two</ul>
</div>
<custom-card title=x>Custom</custom-card>
</body></html>
]]


local function tags(nodes)
  local out = {}
  for i, n in ipairs(nodes) do
    out[i] = n:tag()
  end
  return out
end


local function ranks(nodes)
  local out = {}
  for i, n in ipairs(nodes) do
    out[i] = n:attr("data-rank")
  end
  return out
end


-- Parsing and node basics.
do
  local doc = html.parse(PAGE)
  t.eq("document", doc:type(), "document type")
  t.eq(nil, doc:tag(), "document tag")
  t.eq("#document", tostring(doc), "document tostring")
  local root = doc:children()[1]
  t.eq("html", root:tag(), "root element")
  t.eq(doc, root:parent(), "parent of html")
  t.eq(nil, doc:parent(), "parent of the document")

  local main = doc:select_one("#main")
  t.eq("div", main:tag(), "tag")
  t.eq("results  list", main:attr("class"), "attr")
  t.eq(nil, main:attr("missing"), "missing attr")
  t.eq("main", main:attrs().id, "attrs")
  t.eq(true, main:has_class("list"), "has_class")
  t.eq(false, main:has_class("result"), "has_class partial word")
  t.eq('<div id="main" class="results  list">', tostring(main), "tostring")
  t.eq(true, main == doc:select_one("div#main"), "same node compares equal")
end


-- Selectors.
do
  local doc = html.parse(PAGE)
  t.eq_list({ "1", "2" }, ranks(doc:select(".g")), ".class")
  t.eq_list({ "1", "2", "3" }, ranks(doc:select("div[data-rank]")),
            "[attr]")
  t.eq_list({ "2" }, ranks(doc:select("[data-rank='2']")), "[attr=v]")
  t.eq_list({ "1", "2", "3" }, ranks(doc:select("[class=g i]")),
            "case-insensitive value")
  t.eq(2, #doc:select("a[href^=http]"), "^=")
  t.eq(1, #doc:select("a[href$='.pdf']"), "$=")
  t.eq(1, #doc:select("a[href*=example\\.net]"), "*= with an escape")
  t.eq(1, #doc:select("a[rel~=external]"), "~=")
  t.eq(1, #doc:select("[lang|=en]"), "|=")
  t.eq(3, #doc:select("#main a"), "descendant")
  t.eq(0, #doc:select("#main > a"), "child, no match")
  t.eq(3, #doc:select("#main > div > a"), "child chain")
  t.eq_list({ "h3", "span", "img", "img", "b" }, tags(doc:select("a > *")),
            "universal child")
  t.eq_list({ "2", "3" }, ranks(doc:select(".g ~ div")), "later sibling")
  t.eq_list({ "2" }, ranks(doc:select(".g + .g")), "next sibling")
  t.eq_list({ "title", "h3" }, tags(doc:select("h3, title")),
            "list in document order")
  t.eq(1, #doc:select("custom-card"), "unknown tag")
  t.eq(1, #doc:select("CUSTOM-CARD[TITLE]"), "names ignore case")
  t.eq(nil, doc:select_one("video"), "select_one without a match")

  local a = doc:select_one("a")
  t.eq(true, a:matches("div.g > a[href]"), "matches")
  t.eq(false, a:matches("span"), "matches fails")
  t.eq("1", a:closest(".g"):attr("data-rank"), "closest ancestor")
  t.eq(a, a:closest("a"), "closest is inclusive")
  t.eq(nil, a:closest("table"), "closest without a match")
  -- Scoped selection matches ancestors outside the scope too, as
  -- querySelectorAll does.
  t.eq(1, #a:select("div h3"), "ancestors outside the scope count")

  t.check_error("invalid selector 'a%[': expected an attribute name",
                doc.select, doc, "a[")
  t.check_error("pseudo%-classes are not supported", doc.select, doc,
                "a:first-child")
  t.check_error("unexpected character", doc.select, doc, "a!")
  t.check_error("expected a selector", doc.select, doc, "a,")
  t.check_error("string expected", doc.select, doc, nil)
end


-- Text.
do
  local doc = html.parse(PAGE)
  local first = doc:select_one(".g")
  t.eq("First result example.org", first:select_one("a"):text(),
       "whitespace collapsed, block h3 separates")
  t.eq("Snippet one second line", first:select_one("p"):text(),
       "nbsp is a space and br separates")
  t.eq("Relative", doc:select_one("[data-rank='3'] a"):text(),
       "inline elements join")
  t.eq("one two", doc:select_one("ul"):text(), "list items separate")
  t.eq("", doc:select_one("[data-rank='2'] a"):text(), "images give no text")
  t.eq("Two\npages", html.label(doc:select_one("[data-rank='2'] a")),
       "label falls back to alt texts")
  t.eq("First result example.org", html.label(first:select_one("a")),
       "label prefers text")
  t.eq(nil, html.label(html.parse("<a href=x> </a>"):select_one("a")),
       "label of nothing")
  t.eq_list({ "Two", "pages" },
            html.image_alts(doc:select_one("[data-rank='2']")), "image_alts")

  local body_text = doc:select_one("body"):text()
  t.eq(1, select(2, body_text:gsub("First result", "")), "body text")
  t.eq(nil, body_text:find("color", 1, true), "style text left out")
  t.eq(nil, body_text:find("fake", 1, true), "script text left out")
  t.eq(nil, body_text:find("comment", 1, true), "comments left out")
  t.eq(nil, doc:text():find("Results", 1, true), "head left out")
  t.eq("Results", doc:select_one("title"):text(), "title itself")
  t.eq([[var s = "<a href='/fake'>no</a>";]],
       doc:select_one("script"):text_content(), "script text_content")
  t.eq("First   result", doc:select_one("h3"):nodes()[1]:text_content(),
       "text node content")
  t.eq("First result", doc:select_one("h3"):nodes()[1]:text(),
       "text node text")
  t.eq("First   result", doc:select_one("h3"):text_content(),
       "text_content keeps spaces")
end


-- Navigation and serialization.
do
  local doc = html.parse(PAGE)
  local g = doc:select(".g")
  t.eq(g[2], g[1]:next(), "next")
  t.eq(g[1], g[2]:prev(), "prev")
  t.eq(nil, g[1]:prev(), "prev of the first")
  t.eq_list({ "h3", "span" }, tags(g[1]:select_one("a"):children()),
            "children are elements")
  local kinds = {}
  for i, n in ipairs(doc:select_one("ul"):nodes()) do
    kinds[i] = n:type()
  end
  t.eq_list({ "element", "element" }, kinds, "nodes of ul")
  local main_nodes = doc:select_one("#main"):nodes()
  local has_comment = false
  for _, n in ipairs(main_nodes) do
    if n:type() == "comment" then
      has_comment = true
      t.eq('#comment " a comment "', tostring(n), "comment tostring")
    end
  end
  t.eq(true, has_comment, "nodes include comments")

  t.eq('<a href="https://example.org/one?a=1&amp;b=2" rel="nofollow ' ..
       'external">\n      <h3>First   result</h3><span>example.org</span>' ..
       '\n    </a>', doc:select_one("a"):html(), "outer HTML")
  t.eq('<p>Snippet&nbsp;one<br>second line</p>',
       doc:select_one("p"):html(), "void element and nbsp")
  t.eq("https://example.org/one?a=1&b=2", doc:select_one("a"):attr("href"),
       "entities decoded in attributes")
end


-- Malformed input never raises.
do
  local cases = {
    "",
    "plain text",
    "<p>unclosed <b>bold <i>italic",
    "</p></p></div>stray end tags",
    "<table><tr><td>1<td>2</tr><p>misnested</table>",
    "<a href='x'>one<a href='y'>two</a>",
    "a\0b<p\0>c</p>",
    "\255\254<p>\192\128 invalid utf-8</p>",
    "<<<>>><!--<!-- --!>",
    "<script>",
    string.rep("<div>", 2000),
  }
  for i, page in ipairs(cases) do
    local doc = html.parse(page)
    t.eq(true, text.is_utf8(doc:text()), "text is UTF-8 in case " .. i)
    t.eq(true, text.is_utf8(doc:html()), "html is UTF-8 in case " .. i)
  end
  t.eq("onetwo", html.parse("<a href='x'>one<a href='y'>two</a>"):text(),
       "nested links become siblings")
  t.eq(2, #html.parse("<a href='x'>one<a href='y'>two</a>"):select("a"),
       "two links")
end


-- A tag with more than 1,000 attributes rejects the page, because gumbo's
-- time grows with the square of a tag's attribute count: 100,000
-- attributes took 21 s.
do
  local function tag_with(count)
    local names = {}
    for i = 1, count do
      names[i] = "a" .. i
    end
    return "<p " .. table.concat(names, " ") .. ">x</p>"
  end

  local doc = html.parse("<body>" .. tag_with(1000) .. "</body>")
  t.eq("x", doc:select_one("p"):text(), "1,000 attributes parse")
  t.eq("", doc:select_one("p"):attr("a1000"), "last attribute kept")

  local none, err = html.parse("<body>" .. tag_with(1001) .. "</body>")
  t.eq(nil, none, "1,001 attributes")
  t.eq("failed to parse HTML: tag at byte 7 has 1001 attributes, more " ..
       "than the maximum of 1000", err, "attribute limit message")

  for _, skip in ipairs({ true, false }) do
    local start = os.clock()
    none, err = html.parse(tag_with(100000), { skip_raw_text = skip })
    t.eq(nil, none, "100,000 attributes, skip_raw_text " .. tostring(skip))
    t.eq(true, err:find("has 100000 attributes", 1, true) ~= nil,
         "100,000 attributes message")
    t.eq(true, os.clock() - start < 0.5, "100,000 attributes time")
  end

  -- Attribute-like text in comments, scripts and quoted values is not
  -- counted.
  local inert = tag_with(5000)
  doc = html.parse("<!-- " .. inert .. " --><script>" .. inert ..
                   "</script><p title='" .. inert .. "'>y</p>")
  t.eq("y", doc:select_one("p"):text(), "inert attribute-like text")
end


-- Charsets.
do
  local cp1251 = "<p>\207\240\232\226\229\242</p>"  -- "Привет"
  local doc = html.parse(cp1251, { charset = "windows-1251" })
  t.eq("Привет", doc:text(), "explicit charset")
  doc = html.parse(cp1251, { content_type = "text/html; charset=cp1251" })
  t.eq("Привет", doc:text(), "charset from content type")
  doc = html.parse("<meta charset=windows-1251>" .. cp1251)
  t.eq("Привет", doc:text(), "charset from meta")
  doc = html.parse_response({
    body = cp1251,
    content_type = "text/html; charset=windows-1251",
  })
  t.eq("Привет", doc:text(), "parse_response")
  -- A page's own declaration with an unknown or cut label is ignored.
  local padding = string.rep(" ", 1024 - #"<meta charset=windows-")
  doc = html.parse(padding .. "<meta charset=windows-1251>" .. cp1251)
  t.eq("Привет", doc:text(), "meta label crossing byte 1024")
  for _, label in ipairs({ "utf8mb4", "none", "windows-" }) do
    doc = html.parse("<meta charset=" .. label .. "><p>caf\195\169</p>")
    t.eq("café", doc and doc:text(), "meta charset=" .. label)
    doc = html.parse("<p>caf\195\169</p>", {
      content_type = "text/html; charset=" .. label,
    })
    t.eq("café", doc and doc:text(), "content type charset=" .. label)
  end
  doc = html.parse_response({
    body = "<meta charset=windows-1251>" .. cp1251,
    content_type = "text/html; charset=bogus",
  })
  t.eq("Привет", doc:text(), "unknown content type label, then meta")

  local none, err = html.parse(cp1251, { charset = "x-unknown" })
  t.eq(nil, none, "unknown charset")
  t.eq("failed to parse HTML: unknown charset 'x-unknown'", err, "message")
  t.check_error("body must be a string", html.parse, nil)
  t.check_error("options must be a table", html.parse, "", "utf-8")
end


-- Closing.
do
  local a
  do
    local doc <close> = html.parse("<a href=x>y</a>")
    a = doc:select_one("a")
    t.eq("y", a:text(), "usable before close")
  end
  t.check_error("HTML document is closed", a.text, a)
  t.eq("HTML node (document closed)", tostring(a), "tostring after close")

  local doc = html.parse("<p>x</p>")
  local p = doc:select_one("p")
  do
    local closed <close> = p  -- a node that is not the document
    t.eq("x", closed:text(), "usable inside the scope")
  end
  t.eq("x", p:text(), "closing a non-document node keeps the document")
  doc:close()
  t.check_error("HTML document is closed", doc.select, doc, "p")
  doc:close()  -- a second close does nothing
end


-- Escaping.
do
  t.eq("&lt;a href=&quot;x&quot;&gt;&#39;&amp;",
       html.escape([[<a href="x">'&]]), "escape")
  t.eq("a & b <c> $ é ©=2 </textarea> x",
       html.unescape("a &amp; b &lt;c&gt; &#36; &eacute; &copy=2 " ..
                     "</textarea> x"), "unescape")
  t.eq("no entities", html.unescape("no entities"), "unescape fast path")
end


-- The Google results page: 16 result links, whose labels are those of
-- the expected knowledge base (the last label of a repeated URL wins).
do
  local path = t.sample_path("search-google.db")
  if path == nil then
    t.skip("../shared/samples/search-google.db is absent")
  end
  local body = assert(t.sample_column(path, 47, "flow_response_content"))
  local content_type = assert(t.sample_column(path, 47,
                              "flow_response_headers_content_type"))
  local doc = html.parse_response({ body = body, content_type = content_type })

  local links, labels = 0, {}
  for _, a in ipairs(doc:select("a[href^=htt]")) do
    local href = a:attr("href")
    if not href:find("google.com", 1, true) then
      links = links + 1
      local h3 = a:select_one("h3")
      labels[href] = h3 and h3:text() or html.label(a)
    end
  end
  t.eq(16, links, "result links")

  local kb = json.decode(t.read_file(t.sample_path("search-google.kb.json")))
  local results = 0
  for _, entity in ipairs(kb.entities) do
    if entity.type == "google.com/search_result" then
      results = results + 1
      t.eq(entity.data.text, labels[entity.data.url], entity.data.url)
    end
  end
  t.eq(15, results, "expected results")

  local h3s = {}
  for i, h3 in ipairs(doc:select("h3")) do
    h3s[i] = h3:text()
  end
  t.eq(true, #h3s >= 9, "h3 titles")
  t.eq("Bellingcat - Wikipedia", h3s[1], "first h3")
end


-- A vk profile page in windows-1251.
do
  local path = t.sample_path("vk-person_friend.db")
  if path == nil then
    t.skip("../shared/samples/vk-person_friend.db is absent")
  end
  local body = assert(t.sample_column(path, 1, "flow_response_content"))
  local content_type = assert(t.sample_column(path, 1,
                              "flow_response_headers_content_type"))
  t.eq(false, text.is_utf8(body), "raw vk page is not UTF-8")
  local doc = html.parse_response({ body = body, content_type = content_type })
  t.eq("Jovin Example", doc:select_one("title"):text(), "vk title")
  local page_text = doc:select_one("body"):text()
  t.eq(true, text.is_utf8(page_text), "vk text is UTF-8")
  t.eq(true, page_text:find("[\208\209][\128-\191]") ~= nil,
       "vk text holds Cyrillic")
end
