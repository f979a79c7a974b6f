-- JSON for extractors: lua-cjson with the prefixes that sites put in front
-- of JSON removed, failures returned as nil, err instead of raised, and
-- whole numbers decoded as Lua integers so that ids print as "86696005"
-- rather than "86696005.0".


local cjson = require "cjson"


local byte = string.byte
local concat = table.concat
local find = string.find
local huge = math.huge
local ipairs = ipairs
local math_type = math.type
local pairs = pairs
local pcall = pcall
local rep = string.rep
local select = select
local sub = string.sub
local tointeger = math.tointeger
local tostring = tostring
local type = type


-- Prefixes that make a JSON response unusable as a <script> source
-- (anti-XSSI guards). Google sends ")]}'" and a newline; Facebook sent
-- "for (;;);". Some services send "&&&START&&&" and put "&&&END&&&"
-- after the JSON. Longer prefixes come first.
local XSSI_PREFIXES = {
  "&&&START&&&",
  ")]}',",
  ")]}'",
  ")]}",
  "while(1);",
  "while (1);",
  "for(;;);",
  "for (;;);",
}

-- Doubles represent every integer up to 2^53 exactly; larger ones were
-- rounded by the decoder already and stay floats.
local MAX_EXACT_INTEGER = 2 ^ 53

-- A private cjson instance, so that settings here do not change the
-- module other code gets from require "cjson".
local codec = cjson.new()

-- NaN, Infinity and hexadecimal numbers are not JSON (RFC 8259), and a
-- NaN stored in the knowledge base raises later, in kb.upsert, far from
-- the reply that carried it. So they make the text invalid.
codec.decode_invalid_numbers(false)

local BOM = "\239\187\191"
local XSSI_SUFFIX = "&&&END&&&"

-- Characters of a JSON array or object that pretty() keeps on one line.
local INLINE_WIDTH = 60


-- Replaces integral floats by integers, in place. Depth is bounded by the
-- decoder's nesting limit (1000). Returns false when a number is not
-- finite: a number such as 1e999 overflows a double.
local function integerize(value)
  for k, v in pairs(value) do
    if type(v) == "table" then
      if not integerize(v) then
        return false
      end
    elseif math_type(v) == "float" then
      if v == huge or v == -huge then
        return false
      end
      if v > -MAX_EXACT_INTEGER and v < MAX_EXACT_INTEGER then
        local i = tointeger(v)
        if i ~= nil then
          value[k] = i
        end
      end
    end
  end
  return true
end


-- Returns s with each \u escape of a UTF-16 surrogate that is not part
-- of a high-low pair replaced by \ufffd, the replacement character, as a
-- browser's TextEncoder does when it writes such a string as UTF-8. A
-- truncated emoji such as "\ud83d" otherwise makes cjson reject the
-- whole text.
local function replace_lone_surrogates(s)
  local out, last, i = {}, 1, 1
  while true do
    local start = find(s, "\\u[dD][89a-fA-F]%x%x", i)
    if start == nil then
      break
    end
    -- The escape is real only after an even number of backslashes.
    local backslashes = 0
    while start - backslashes - 1 >= 1 and
        byte(s, start - backslashes - 1) == 92 do
      backslashes = backslashes + 1
    end
    local stop = start + 5
    if backslashes % 2 == 1 then
      i = start + 1
    else
      local high = find(s, "^\\u[dD][89abAB]%x%x", start)
      local low_after = high and find(s, "^\\u[dD][c-fC-F]%x%x", stop + 1)
      if low_after then
        i = stop + 7
      else
        out[#out + 1] = sub(s, last, start - 1)
        out[#out + 1] = "\\ufffd"
        last = stop + 1
        i = stop + 1
      end
    end
  end
  if last == 1 then
    return s
  end
  out[#out + 1] = sub(s, last)
  return concat(out)
end


-- Returns the index of the quote that ends the JSON string starting at i.
local function string_end(text, i)
  local j = i + 1
  while j <= #text do
    local c = text:sub(j, j)
    if c == "\\" then
      j = j + 2
    elseif c == "\"" then
      return j
    else
      j = j + 1
    end
  end
  return #text
end


-- Returns the one-line form of the array or object opening at i when it
-- contains no nested array or object and fits in INLINE_WIDTH characters,
-- and the index of its closing bracket; else nil.
local function inline_form(text, i)
  local close = text:sub(i, i) == "{" and "}" or "]"
  local out, j = {}, i + 1
  local width = 0
  while j <= #text do
    local c = text:sub(j, j)
    if c == "\"" then
      local e = string_end(text, j)
      out[#out + 1] = text:sub(j, e)
      width = width + e - j + 1
      j = e
    elseif c == close then
      return text:sub(i, i) .. concat(out) .. close, j
    elseif c == "{" or c == "[" then
      return nil
    elseif c == "," then
      out[#out + 1] = ", "
      width = width + 2
    elseif c == ":" then
      out[#out + 1] = ": "
      width = width + 2
    elseif not c:match("%s") then
      out[#out + 1] = c
      width = width + 1
    end
    if width > INLINE_WIDTH then
      return nil
    end
    j = j + 1
  end
  return nil
end



local M = {}


--- The value that stands for JSON null inside decoded tables.
M.null = cjson.null


--- Returns value[k1][k2]... for the keys given, or nil as soon as a step
-- is not a table, so that an extractor can read a deep field of a decoded
-- reply without checking every level: json.get(reply, "payload", 2, 1).
function M.get(value, ...)
  for i = 1, select("#", ...) do
    if type(value) ~= "table" then
      return nil
    end
    value = value[(select(i, ...))]
  end
  return value
end


--- Returns s without a UTF-8 byte order mark and an anti-XSSI prefix
-- such as ")]}'", "while(1);" or "&&&START&&&" (with its "&&&END&&&"
-- suffix), and without the white space and byte order marks around
-- them.
function M.strip_prefix(s)
  if type(s) ~= "string" then
    error("json.strip_prefix: s must be a string, got " .. type(s), 2)
  end
  local function trim_start(text)
    text = text:match("^%s*(.*)$")
    while sub(text, 1, 3) == BOM do
      text = sub(text, 4):match("^%s*(.*)$")
    end
    return text
  end
  s = trim_start(s)
  for _, prefix in ipairs(XSSI_PREFIXES) do
    if sub(s, 1, #prefix) == prefix then
      s = trim_start(sub(s, #prefix + 1))
      if prefix == "&&&START&&&" then
        -- A loop, not a pattern such as "%s*$", whose matcher would retry
        -- at every white space character and take quadratic time.
        local last = #s
        while last > 0 and find(sub(s, last, last), "^%s") do
          last = last - 1
        end
        if sub(s, last - #XSSI_SUFFIX + 1, last) == XSSI_SUFFIX then
          s = sub(s, 1, last - #XSSI_SUFFIX)
        end
      end
      return s
    end
  end
  return s
end


--- Decodes JSON text, after json.strip_prefix.
-- Objects and arrays become tables, null becomes json.null, whole numbers
-- below 2^53 become integers. A \u escape of a lone UTF-16 surrogate
-- (half of a cut emoji) becomes U+FFFD. NOTE: numbers of 2^53 and above
-- lose precision, because lua-cjson 2.1 parses every number as a double.
-- Returns the value, or nil, err for invalid JSON, which includes NaN,
-- Infinity, hexadecimal numbers and numbers beyond a double's range.
function M.decode(s)
  if type(s) ~= "string" then
    error("json.decode: s must be a string, got " .. type(s), 2)
  end
  s = M.strip_prefix(s)
  local ok, value = pcall(codec.decode, s)
  if not ok and find(tostring(value), "invalid unicode escape", 1, true) then
    ok, value = pcall(codec.decode, replace_lone_surrogates(s))
  end
  if not ok then
    return nil, "invalid JSON: " .. tostring(value)
  end
  if type(value) == "table" then
    if not integerize(value) then
      return nil, "invalid JSON: a number is beyond the range of a double"
    end
  elseif math_type(value) == "float" then
    if value == huge or value == -huge then
      return nil, "invalid JSON: a number is beyond the range of a double"
    end
    if value > -MAX_EXACT_INTEGER and value < MAX_EXACT_INTEGER then
      value = tointeger(value) or value
    end
  end
  return value
end


--- Encodes a Lua value as JSON text.
-- Returns the text, or nil, err when the value cannot be encoded (a
-- function, a sparse array, a table nested too deep).
function M.encode(value)
  local ok, text = pcall(codec.encode, value)
  if not ok then
    return nil, "cannot encode as JSON: " .. tostring(text)
  end
  return text
end


--- Re-indents JSON text two spaces a level without decoding it, so keys
-- keep their order and numbers their spelling. Arrays and objects without
-- nested ones stay on one line when they fit in INLINE_WIDTH characters.
-- The text should be valid JSON; other text comes back re-spaced.
function M.pretty(text)
  local out, depth, i, n = {}, 0, 1, #text
  local function newline()
    out[#out + 1] = "\n" .. rep("  ", depth)
  end
  while i <= n do
    local c = text:sub(i, i)
    if c == "\"" then
      local j = string_end(text, i)
      out[#out + 1] = text:sub(i, j)
      i = j
    elseif c == "{" or c == "[" then
      local inline, stop = inline_form(text, i)
      if inline then
        out[#out + 1] = inline
        i = stop
      else
        out[#out + 1] = c
        depth = depth + 1
        newline()
      end
    elseif c == "}" or c == "]" then
      depth = depth - 1
      newline()
      out[#out + 1] = c
    elseif c == "," then
      out[#out + 1] = ","
      newline()
    elseif c == ":" then
      out[#out + 1] = ": "
    elseif not c:match("%s") then
      out[#out + 1] = c
    end
    i = i + 1
  end
  return concat(out)
end


--- Returns true when v is JSON null as decoded (json.null).
function M.is_null(v)
  return v == cjson.null
end


return M
