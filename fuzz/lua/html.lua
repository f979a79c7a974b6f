-- Fuzz driver for the HTML helpers (src/script/htmllib.c, htmltree.c,
-- htmlselect.c and lua/stratosphere/html.lua). Called with a CSS selector
-- and a page; raises when an invariant breaks:
--   * cutting script and style contents out before parsing gives the same
--     tree as letting gumbo tokenize them (same serialization and text);
--   * every node that select() returns matches the selector, is its own
--     closest() match, and the first of them is what select_one() returns;
--   * walking the tree with children(), nodes(), next() and parent()
--     reaches no node twice and ends;
--   * html.unescape(html.escape(s)) == s when s is valid UTF-8 without the
--     characters that the HTML parser behind unescape() rewrites.


local core = require "stratosphere.core.html"
local html = require "stratosphere.html"


-- Returns true for the characters that gumbo keeps as they are in text:
-- not NUL, CR, the other controls except tab, LF and FF, or the
-- noncharacters.
local function parser_keeps(c)
  return not (c <= 0x8 or c == 0xB or (c >= 0xD and c <= 0x1F) or
              (c >= 0x7F and c <= 0x9F) or (c >= 0xFDD0 and c <= 0xFDEF) or
              c & 0xFFFE == 0xFFFE)
end


local function is_plain_text(s)
  if utf8.len(s) == nil then
    return false
  end
  for _, c in utf8.codes(s) do
    if not parser_keeps(c) then
      return false
    end
  end
  return true
end


local function check(cond, description)
  if not cond then
    error("invariant failed: " .. description, 2)
  end
end


-- Visits every node below root through children() and checks that each
-- child's parent() is the node it came from.
local function walk(root, limit)
  local stack = { root }
  local seen = 0
  while #stack > 0 do
    local node = table.remove(stack)
    seen = seen + 1
    check(seen <= limit, "the walk visits more nodes than the page has")
    node:type()
    node:tag()
    node:attrs()
    local children = node:children()
    for i, child in ipairs(children) do
      check(child:parent() == node, "a child's parent is another node")
      if i > 1 then
        check(child:prev() ~= nil, "a later child has no previous node")
      end
      stack[#stack + 1] = child
    end
  end
  return seen
end


local function check_select(doc, selector)
  local ok, nodes = pcall(doc.select, doc, selector)
  if not ok then
    -- A selector outside the supported subset is an error, not a crash.
    check(type(nodes) == "string", "select raised a non-string error")
    return
  end
  for _, node in ipairs(nodes) do
    check(node:matches(selector), "a selected node does not match")
    check(node:closest(selector) == node, "closest() skips the node")
    node:text()
    node:html()
  end
  local first = doc:select_one(selector)
  check(first == nodes[1], "select_one() differs from select()[1]")
end


return function(selector, body)
  local fast <close> = core.parse(body)
  local full <close> = core.parse(body, { skip_raw_text = false })
  check(fast:html() == full:html(),
        "skipping raw text changes the serialization")
  check(fast:text_content() == full:text_content(),
        "skipping raw text changes the text content")
  check(fast:text() == full:text(), "skipping raw text changes the text")

  -- Each byte of input makes at most a few nodes; the bound only catches
  -- a walk that loops.
  walk(fast, 4 * #body + 16)
  check_select(fast, selector)

  local doc, err = html.parse(body, { content_type = "text/html; charset=" ..
                                        selector })
  if doc ~= nil then
    doc:text()
    doc:close()
  else
    check(type(err) == "string", "html.parse returned nil without a reason")
  end

  if is_plain_text(body) then
    check(html.unescape(html.escape(body)) == body,
          "html.unescape(html.escape(s)) ~= s")
  end
end
