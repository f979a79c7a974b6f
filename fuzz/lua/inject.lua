-- Fuzz driver for banner injection (fuzz/fuzz_inject.c). Called with the
-- output, the page and "1" when the banner went in; raises when:
--   * the output minus the banner is not the page;
--   * the banner went in, but an HTML parser finds its markup inside text
--     that a browser does not read as markup: the content of script,
--     style, title, textarea or plaintext, a comment, or an attribute
--     value. There the banner would show as text or break the page.
--
-- The injector is a byte scanner, not a tree builder, so in markup that
-- the tree builder repairs (a <body> tag inside <select>, <template> or
-- SVG) the banner may end up inert or dropped; that is not checked.


local core = require "stratosphere.core.html"


local BANNER = '<div id="stratosphere-fuzz-banner">recorded</div>'
local MARKER = "stratosphere-fuzz-banner"
local RAW_TEXT = {
  script = true, style = true, title = true, textarea = true,
  plaintext = true, xmp = true, iframe = true, noembed = true,
  noframes = true, noscript = true,
}


local function check(cond, description)
  if not cond then
    error("invariant failed: " .. description, 2)
  end
end


-- Returns true when removing one copy of the banner from output gives the
-- page.
local function banner_added_once(output, page)
  local from = 1
  while true do
    local at = string.find(output, BANNER, from, true)
    if at == nil then
      return false
    end
    if string.sub(output, 1, at - 1) .. string.sub(output, at + #BANNER) ==
        page then
      return true
    end
    from = at + 1
  end
end


-- Returns a description of where the banner's markup was read as text, or
-- nil.
local function banner_as_text(root)
  local stack = { root }
  while #stack > 0 do
    local node = table.remove(stack)
    local kind = node:type()
    if kind == "text" or kind == "cdata" then
      local parent = node:parent()
      local tag = parent and parent:tag()
      if RAW_TEXT[tag] and string.find(node:text_content(), MARKER, 1,
                                       true) then
        return "the content of <" .. tag .. ">"
      end
    elseif kind == "comment" then
      if string.find(node:html(), MARKER, 1, true) then
        return "a comment"
      end
    elseif kind == "element" then
      for name, value in pairs(node:attrs()) do
        -- The banner's own id is the marker alone.
        if value ~= MARKER and string.find(value, MARKER, 1, true) then
          return "the value of attribute " .. name .. " of <" ..
            tostring(node:tag()) .. ">"
        end
      end
    end
    for _, child in ipairs(node:nodes()) do
      stack[#stack + 1] = child
    end
  end
  return nil
end


return function(output, page, inserted)
  if inserted ~= "1" then
    check(output == page, "the page changed without a banner")
    return
  end
  check(banner_added_once(output, page),
        "the output minus the banner is not the page")

  -- A page that already contains the marker cannot be checked.
  if string.find(page, MARKER, 1, true) then
    return
  end
  local doc <close> = core.parse(output)
  local where = banner_as_text(doc)
  check(where == nil, "the banner is read as " .. tostring(where))
end
