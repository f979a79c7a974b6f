-- stratosphere.html selectors: the one-pass matcher against a plain
-- recursive reference on generated pages, and the time of sibling
-- combinators on pages with many siblings.

package.path = "tests/lua/?.lua;" .. package.path

local t = require "helpers"
local html = require "stratosphere.html"


local TAGS = { "div", "a", "p", "span", "h3", "li" }
local CLASSES = { "c", "d", "" }


-- Builds a random page of nested elements from a fixed seed.
local function random_page(seed, count)
  math.randomseed(seed)
  local out, open = { "<html><body>" }, {}
  for _ = 1, count do
    local r = math.random()
    if r < 0.35 and #open > 0 then
      out[#out + 1] = "</" .. table.remove(open) .. ">"
    else
      local tag = TAGS[math.random(#TAGS)]
      local class = CLASSES[math.random(#CLASSES)]
      out[#out + 1] = string.format('<%s class="%s" href="x%d">', tag, class,
                                    math.random(3))
      if r < 0.8 then
        open[#open + 1] = tag
      else
        out[#out + 1] = "t</" .. tag .. ">"
      end
    end
    if math.random() < 0.2 then
      out[#out + 1] = "text"
    end
  end
  for i = #open, 1, -1 do
    out[#out + 1] = "</" .. open[i] .. ">"
  end
  out[#out + 1] = "</body></html>"
  return table.concat(out)
end


-- Splits "a > b ~ c" into compounds and combinators (spaces around every
-- combinator, as in the cases below).
local function split_selector(selector)
  local compounds, combinators = {}, {}
  for word in selector:gmatch("%S+") do
    if word == ">" or word == "+" or word == "~" then
      combinators[#compounds] = word
    else
      if #compounds > 0 and combinators[#compounds] == nil then
        combinators[#compounds] = " "
      end
      compounds[#compounds + 1] = word
    end
  end
  return compounds, combinators
end


local function is_element(node)
  return node ~= nil and node:type() == "element"
end


local function parent_element(node)
  local parent = node:parent()
  return is_element(parent) and parent or nil
end


-- Returns true when node matches compounds[1..k] with their combinators:
-- the definition of the selector, tried at every candidate element.
local function reference_match(compounds, combinators, k, node)
  if not node:matches(compounds[k]) then
    return false
  end
  if k == 1 then
    return true
  end
  local combinator = combinators[k - 1]
  if combinator == ">" then
    local parent = parent_element(node)
    return parent ~= nil and reference_match(compounds, combinators, k - 1,
                                             parent)
  elseif combinator == "+" then
    local prev = node:prev()
    return prev ~= nil and reference_match(compounds, combinators, k - 1,
                                           prev)
  elseif combinator == "~" then
    local prev = node:prev()
    while prev ~= nil do
      if reference_match(compounds, combinators, k - 1, prev) then
        return true
      end
      prev = prev:prev()
    end
    return false
  end
  local ancestor = parent_element(node)
  while ancestor ~= nil do
    if reference_match(compounds, combinators, k - 1, ancestor) then
      return true
    end
    ancestor = parent_element(ancestor)
  end
  return false
end


local function all_elements(doc)
  return doc:select("*")
end


local SELECTORS = {
  "div a",
  "div > a",
  "h3 ~ a",
  "h3 + a",
  "div.c ~ p span",
  "div a.c[href^=x] ~ a",
  "li > span + a ~ p",
  "div p > a.d ~ span.c",
  "span ~ div > li a + p",
  "a ~ a ~ a",
}


-- Each selector matches the same elements as the reference, in select(),
-- matches() and closest(), from the document and from a subtree.
do
  for seed = 1, 6 do
    local doc = html.parse(random_page(seed, 300))
    local elements = all_elements(doc)
    t.eq(true, #elements > 50, "page " .. seed .. " element count")
    local subtree = elements[math.floor(#elements / 3)]
    for _, selector in ipairs(SELECTORS) do
      local compounds, combinators = split_selector(selector)
      local expected, in_subtree = {}, {}
      for _, node in ipairs(elements) do
        local want = reference_match(compounds, combinators, #compounds, node)
        local what = string.format("seed %d, '%s', %s", seed, selector,
                                   tostring(node))
        t.eq(want, node:matches(selector), what .. " matches")
        if want then
          expected[#expected + 1] = node
        end
      end
      local got = doc:select(selector)
      t.eq(#expected, #got, string.format("seed %d, '%s' count", seed,
                                          selector))
      for i = 1, #expected do
        t.eq(true, expected[i] == got[i],
             string.format("seed %d, '%s' result %d", seed, selector, i))
      end
      -- From a subtree, the matches are those of the document that lie
      -- below the subtree's root.
      for _, node in ipairs(subtree:select(selector)) do
        in_subtree[#in_subtree + 1] = node
        t.eq(true, node:matches(selector), "subtree match " .. selector)
      end
      local below = 0
      for _, node in ipairs(subtree:select("*")) do
        if node:matches(selector) then
          below = below + 1
        end
      end
      t.eq(below, #in_subtree, string.format("seed %d, '%s' subtree count",
                                             seed, selector))
      -- closest() returns the nearest ancestor-or-self that matches.
      for i = 1, #elements, 7 do
        local node, want = elements[i], nil
        local cursor = elements[i]
        while cursor ~= nil and want == nil do
          if is_element(cursor) and cursor:matches(selector) then
            want = cursor
          end
          cursor = cursor:parent()
        end
        local got_closest = node:closest(selector)
        t.eq(true, got_closest == want,
             string.format("seed %d, '%s' closest of %s", seed, selector,
                           tostring(node)))
      end
    end
  end
end


-- A text node matches nothing, and its closest() starts at its parent.
do
  local doc = html.parse("<div class=x><p>hello</p></div>")
  local text_node = doc:select_one("p"):nodes()[1]
  t.eq("text", text_node:type(), "text node")
  t.eq(false, text_node:matches("p"), "text node matches")
  t.eq("p", text_node:closest("p"):tag(), "closest from a text node")
  t.eq("div", text_node:closest(".x"):tag(), "closest ancestor")
  t.eq(nil, doc:closest("p"), "closest from the document")
  t.eq(0, #text_node:select("*"), "select below a text node")
end


-- Sibling combinators over 50,000 siblings take linear time. Comparing at
-- every earlier sibling took 10 s for "h3 ~ a" on this page.
do
  local count = 50000
  local page = "<html><body><div><h3>x</h3>" ..
    string.rep('<a href="x" class="c">y</a>', count) .. "</div></body></html>"
  local doc = html.parse(page)
  local cases = {
    { "h3 ~ a", count },
    { "div a.c[href^=x] ~ a", count - 1 },
    { "h3 + a ~ a ~ a", count - 2 },
    { "div > a ~ a", count - 1 },
  }
  for _, case in ipairs(cases) do
    local start = os.clock()
    local got = #doc:select(case[1])
    local seconds = os.clock() - start
    t.eq(case[2], got, case[1] .. " count")
    t.eq(true, seconds < 1, string.format("%s took %.2f s", case[1],
                                          seconds))
    start = os.clock()
    local last = doc:select("a")[count]
    t.eq(true, last:matches(case[1]), case[1] .. " matches last")
    t.eq(true, os.clock() - start < 1, case[1] .. " matches time")
  end
end


-- A substring test on a long attribute value runs in linear time.
do
  local value = string.rep("ab", 500000)
  local doc = html.parse('<p title="' .. value .. '">x</p>')
  local start = os.clock()
  t.eq(0, #doc:select('[title*="' .. string.rep("ab", 400) .. 'c"]'),
       "substring absent")
  t.eq(0, #doc:select('[title*="' .. string.rep("AB", 400) .. 'c" i]'),
       "substring absent, case-insensitive")
  t.eq(1, #doc:select('[title*="' .. string.rep("AB", 400) .. '" i]'),
       "substring present, case-insensitive")
  t.eq(true, os.clock() - start < 1, "substring time")
end

print("ok")
