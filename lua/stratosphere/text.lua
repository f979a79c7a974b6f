-- Charsets and strings: finds the charset of a recorded body, converts it
-- to UTF-8 (invalid bytes become U+FFFD), and trims, collapses and splits
-- strings. Conversion runs in C with glibc's iconv; charset labels follow
-- the WHATWG Encoding Standard, as browsers do, so "iso-8859-1" and
-- "us-ascii" decode as windows-1252.


local core = require "stratosphere.core.text"


local byte = string.byte
local find = string.find
local gsub = string.gsub
local lower = string.lower
local match = string.match
local sub = string.sub
local type = type


-- A <meta> charset declaration counts only when its tag starts in the
-- first 1024 bytes, the prescan length of the HTML standard. The tag
-- itself is read up to META_MAX bytes, so a label that crosses byte 1024
-- is read whole.
local SNIFF_BYTES = 1024
local META_MAX = 1024


local function check_string(value, name, fn)
  if type(value) ~= "string" then
    error(fn .. ": " .. name .. " must be a string, got " .. type(value), 3)
  end
end


-- Returns the charset named by a byte order mark and the mark's length.
local function bom_charset(body)
  local b1, b2, b3 = byte(body, 1, 3)
  if b1 == 0xEF and b2 == 0xBB and b3 == 0xBF then
    return "utf-8", 3
  elseif b1 == 0xFF and b2 == 0xFE then
    return "utf-16le", 2
  elseif b1 == 0xFE and b2 == 0xFF then
    return "utf-16be", 2
  end
  return nil, 0
end


local M = {}


--- Returns the charset parameter of a Content-Type value, lowercased.
-- content_type: a string such as "text/html; charset=windows-1251", or nil.
-- Returns the label ("windows-1251"), or nil when there is none.
function M.charset_from_content_type(content_type)
  if content_type == nil then
    return nil
  end
  check_string(content_type, "content_type", "text.charset_from_content_type")
  local label = match(lower(content_type), ";%s*charset%s*=%s*\"?([^;%s\"]+)")
  return label
end


--- Finds the charset that an HTML page declares in a <meta> tag.
-- Looks at the <meta> tags that start in the first 1024 bytes for
-- <meta charset="x"> or <meta http-equiv="content-type"
-- content="...; charset=x">. As in the HTML standard's prescan, a label
-- that names no known charset is skipped and the next tag is tried.
-- Returns the lowercased label, or nil when there is none.
function M.sniff_html_charset(body)
  check_string(body, "body", "text.sniff_html_charset")
  local head = lower(sub(body, 1, SNIFF_BYTES + META_MAX))
  local start = 1
  while true do
    local tag_start = find(head, "<meta", start, true)
    if tag_start == nil or tag_start > SNIFF_BYTES then
      return nil
    end
    local tag = match(head, "^<meta[^>]*", tag_start)
    local label = match(tag, "charset%s*=%s*[\"']?([%w_.:-]+)")
    -- A page cannot declare itself UTF-16 in ASCII bytes: the HTML
    -- standard reads such a declaration as UTF-8.
    if label ~= nil and sub(label, 1, 6) == "utf-16" then
      return "utf-8"
    end
    if label ~= nil and core.known_charset(label) ~= nil then
      return label
    end
    start = tag_start + #tag
  end
end


--- Works out the charset of a body.
-- Order: a byte order mark, then the content type's charset parameter,
-- then, when the content type is HTML or absent, a <meta> declaration.
-- A label that names no known charset is ignored, as browsers do, so the
-- next source decides.
-- Returns the canonical charset name ("windows-1251", "utf-8"), or nil
-- when no source names a known one.
function M.detect_charset(body, content_type)
  check_string(body, "body", "text.detect_charset")
  local label = bom_charset(body)
  if label ~= nil then
    return core.charset_name(label)
  end
  label = M.charset_from_content_type(content_type)
  local name = label and core.known_charset(label)
  if name == nil and (content_type == nil or find(lower(content_type), "html",
                                                  1, true)) then
    label = M.sniff_html_charset(body)
    name = label and core.known_charset(label)
  end
  return name or nil
end


--- Converts a body to UTF-8 using what it declares about its charset.
-- body: the bytes; content_type: the Content-Type value or nil. Without
-- any declaration the body is taken as UTF-8. A byte order mark is
-- removed. Invalid bytes become U+FFFD.
-- A declared charset that is unknown is ignored, as detect_charset does.
-- Returns the UTF-8 text and the charset name used, or nil, err when
-- iconv fails for a reason other than an invalid byte.
function M.decode(body, content_type)
  check_string(body, "body", "text.decode")
  local charset = M.detect_charset(body, content_type) or "utf-8"
  local bom_name, bom_len = bom_charset(body)
  if bom_name == charset then
    body = sub(body, bom_len + 1)
  end
  local s, err = core.to_utf8(body, charset)
  if s == nil then
    return nil, "failed to decode body: " .. err
  end
  return s, charset
end


--- Converts s from the named charset to UTF-8.
-- Returns the text, or nil, err when the charset is unknown.
function M.to_utf8(s, charset)
  check_string(s, "s", "text.to_utf8")
  check_string(charset, "charset", "text.to_utf8")
  return core.to_utf8(s, charset)
end


--- Returns true when s is valid UTF-8, else false and the position of the
-- first invalid byte.
function M.is_utf8(s)
  check_string(s, "s", "text.is_utf8")
  return core.is_utf8(s)
end


--- Returns s with each invalid UTF-8 sequence replaced by U+FFFD.
function M.sanitize_utf8(s)
  check_string(s, "s", "text.sanitize_utf8")
  return core.sanitize_utf8(s)
end


--- Returns s without leading and trailing ASCII white space.
function M.trim(s)
  check_string(s, "s", "text.trim")
  return match(s, "^%s*(.-)%s*$")
end


--- Returns s trimmed, with each run of white space inside it turned into
-- one space. White space here is ASCII and U+00A0 (no-break space).
function M.squish(s)
  check_string(s, "s", "text.squish")
  s = gsub(s, "\194\160", " ")
  s = gsub(s, "%s+", " ")
  return M.trim(s)
end


--- Splits s at every occurrence of sep, a plain string (not a pattern).
-- Empty fields are kept: split("a,,b", ",") is { "a", "", "b" }, and an
-- empty s gives { "" }. Returns the array of fields.
function M.split(s, sep)
  check_string(s, "s", "text.split")
  check_string(sep, "sep", "text.split")
  if sep == "" then
    error("text.split: sep must not be empty", 2)
  end
  local fields, start = {}, 1
  while true do
    local i, j = find(s, sep, start, true)
    if i == nil then
      fields[#fields + 1] = sub(s, start)
      return fields
    end
    fields[#fields + 1] = sub(s, start, i - 1)
    start = j + 1
  end
end


--- Returns true when s begins with prefix.
function M.starts_with(s, prefix)
  check_string(s, "s", "text.starts_with")
  check_string(prefix, "prefix", "text.starts_with")
  return sub(s, 1, #prefix) == prefix
end


--- Returns true when s ends with suffix.
function M.ends_with(s, suffix)
  check_string(s, "s", "text.ends_with")
  check_string(suffix, "suffix", "text.ends_with")
  return suffix == "" or sub(s, -#suffix) == suffix
end


return M
