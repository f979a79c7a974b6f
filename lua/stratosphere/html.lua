-- HTML pages as a tree of light node objects. Parsing (gumbo, an HTML5
-- parser), CSS selector matching and text extraction run in C; a node is
-- a small handle that keeps its document alive.
--
--   local doc = html.parse_response(flow.response)
--   for _, a in ipairs(doc:select("a[href]")) do
--     local h3 = a:select_one("h3")
--     local label = h3 and h3:text() or html.label(a)
--   end
--
-- Node methods: type(), tag(), attr(name), attrs(), has_class(name),
-- text(), text_content(), html(), parent(), children(), nodes(), next(),
-- prev(), select(css), select_one(css), matches(css), closest(css),
-- close(). Selectors: type, *, #id, .class, [attr], [attr=v] with
-- = ~= |= ^= $= *= and an i flag, the combinators " ", ">", "+", "~",
-- and comma lists.


local core = require "stratosphere.core.html"
local text = require "stratosphere.text"


local concat = table.concat
local find = string.find
local gsub = string.gsub
local ipairs = ipairs
local type = type


local ESCAPES = {
  ["&"] = "&amp;",
  ["<"] = "&lt;",
  [">"] = "&gt;",
  ['"'] = "&quot;",
  ["'"] = "&#39;",
}


local M = {}


--- Parses an HTML page into a document node.
-- body: the page's bytes. options (optional table):
--   charset: the page's charset, e.g. "windows-1251";
--   content_type: the response's Content-Type, used to find the charset
--     when charset is absent (then a <meta> declaration, then UTF-8);
--   skip_raw_text: false makes gumbo tokenize script and style contents
--     itself; slower, same tree (for checking the default).
-- Any bytes are accepted: invalid UTF-8 becomes U+FFFD, malformed markup
-- is repaired as browsers do. The tree is freed when no node of it is
-- referenced, or at once with doc:close() or `local doc <close> = ...`.
-- Returns the document node, or nil, err when the charset option is
-- unknown or a tag has more than 1,000 attributes (gumbo's time grows with
-- the square of a tag's attribute count).
function M.parse(body, options)
  if type(body) ~= "string" then
    error("html.parse: body must be a string, got " .. type(body), 2)
  end
  if options ~= nil and type(options) ~= "table" then
    error("html.parse: options must be a table, got " .. type(options), 2)
  end
  options = options or {}

  local charset = options.charset or
    text.detect_charset(body, options.content_type or "text/html")
  if charset ~= nil and charset ~= "utf-8" then
    local decoded, err = text.to_utf8(body, charset)
    if decoded == nil then
      return nil, "failed to parse HTML: " .. err
    end
    body = decoded
  end
  return core.parse(body, { skip_raw_text = options.skip_raw_text })
end


--- Parses the body of a recorded response (flow.response), using its
-- content type to find the charset. Returns as html.parse.
function M.parse_response(response)
  if type(response) ~= "table" then
    error("html.parse_response: response must be a table, got " ..
          type(response), 2)
  end
  return M.parse(response.body or "", {
    content_type = response.content_type,
  })
end


--- Returns the alt attributes of node and of the img elements below it,
-- in document order, as an array of strings.
function M.image_alts(node)
  local alts = {}
  if node:tag() == "img" and node:attr("alt") ~= nil then
    alts[1] = node:attr("alt")
  end
  for _, img in ipairs(node:select("img[alt]")) do
    alts[#alts + 1] = img:attr("alt")
  end
  return alts
end


--- Returns what a reader would call a node's label: its text, else the
-- non-empty alt texts of its images joined by newlines, else nil.
function M.label(node)
  local s = node:text()
  if s ~= "" then
    return s
  end
  local alts = {}
  for _, alt in ipairs(M.image_alts(node)) do
    if alt ~= "" then
      alts[#alts + 1] = alt
    end
  end
  if #alts > 0 then
    return concat(alts, "\n")
  end
  return nil
end


--- Returns facts about the parse of node's document, for measuring: a
-- table { arena_bytes (memory of the tree), parsed_bytes (bytes given to
-- gumbo), skipped_raw_text (true when script and style contents were cut
-- out before parsing and restored) }.
function M.info(node)
  return core.info(node)
end


--- Escapes & < > " ' so that s can be placed in HTML text or in a quoted
-- attribute value.
function M.escape(s)
  if type(s) ~= "string" then
    error("html.escape: s must be a string, got " .. type(s), 2)
  end
  return (gsub(s, "[&<>\"']", ESCAPES))
end


--- Decodes the character references (&amp;, &#36;, &eacute;, ...) in s as
-- the HTML parser does in text, with the full HTML5 entity table. Line
-- breaks are normalized to "\n" on the way.
function M.unescape(s)
  if type(s) ~= "string" then
    error("html.unescape: s must be a string, got " .. type(s), 2)
  end
  if not find(s, "&", 1, true) then
    return s
  end
  -- In a <textarea> the parser decodes references and reads no tags once
  -- every "<" is escaped; the leading newline is one the parser drops.
  local doc <close> = core.parse("<textarea>\n" .. gsub(s, "<", "&lt;") ..
                                 "</textarea>")
  return doc:select_one("textarea"):text_content()
end


return M
