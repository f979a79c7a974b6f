-- Formats Lua values for people reading a terminal: nested tables
-- indented up to a depth limit, long strings cut with their length shown,
-- binary strings summarised, and lists of rows laid out as aligned text
-- tables. The REPL prints every result through format().


local concat = table.concat
local sort = table.sort
local byte = string.byte
local sub = string.sub


local DEFAULTS = {
  depth = 4,          -- nesting levels shown before "{...}"
  max_string = 200,   -- bytes of a nested string shown
  max_top_string = 4000,  -- bytes of a string printed on its own
  max_items = 50,     -- entries of one table shown
  max_rows = 100,     -- rows of a text table shown
  max_cell = 60,      -- characters of a text table cell
  width = 78,         -- a table fits on one line up to this width
}

-- Bytes sniffed to decide whether a string is binary.
local SNIFF_BYTES = 1024


local function options(opts)
  if opts == nil then
    return DEFAULTS
  end
  local merged = {}
  for k, v in pairs(DEFAULTS) do
    merged[k] = opts[k] == nil and v or opts[k]
  end
  return merged
end


-- Returns true when s holds a NUL byte, or control bytes other than tab,
-- newline, carriage return, form feed and escape make up more than a tenth
-- of its first SNIFF_BYTES bytes. Text in a legacy charset such as
-- windows-1251 is not binary by this test.
local function is_binary(s)
  local n = math.min(#s, SNIFF_BYTES)
  local controls = 0
  for i = 1, n do
    local b = byte(s, i)
    if b == 0 then
      return true
    end
    if b < 32 and b ~= 9 and b ~= 10 and b ~= 13 and b ~= 12 and b ~= 27
        or b == 127 then
      controls = controls + 1
    end
  end
  return n > 0 and controls * 10 > n
end


-- Cuts s to at most max bytes without splitting a UTF-8 sequence.
local function cut_utf8(s, max)
  if #s <= max then
    return s
  end
  local stop = max
  -- Step back over continuation bytes (10xxxxxx) to a sequence start.
  while stop > 0 do
    local b = byte(s, stop + 1)
    if b == nil or b < 0x80 or b >= 0xC0 then
      break
    end
    stop = stop - 1
  end
  return sub(s, 1, stop)
end


local function hex_prefix(s, n)
  local out = {}
  for i = 1, math.min(n, #s) do
    out[#out + 1] = string.format("%02x", byte(s, i))
  end
  return concat(out, " ")
end


local function binary_summary(s)
  return string.format("<binary, %d bytes: %s%s>", #s, hex_prefix(s, 16),
                       #s > 16 and " ..." or "")
end


-- Escapes like %q but keeps valid UTF-8 readable and shows other bytes
-- above 127 as \xNN.
local function escape(s)
  local valid = utf8.len(s) ~= nil
  return (s:gsub("[%c\"\\\128-\255]", function(c)
    if c == "\n" then return "\\n" end
    if c == "\t" then return "\\t" end
    if c == "\r" then return "\\r" end
    if c == "\"" then return "\\\"" end
    if c == "\\" then return "\\\\" end
    local b = byte(c)
    if b >= 128 and valid then
      return c
    end
    return string.format("\\x%02x", b)
  end))
end


-- Escapes what would break a table row: control characters, and bytes
-- above 127 when s is not valid UTF-8. Quotes stay as they are.
local function escape_cell(s)
  local valid = utf8.len(s) ~= nil
  return (s:gsub("[%c\128-\255]", function(c)
    if c == "\n" then return "\\n" end
    if c == "\t" then return "\\t" end
    if c == "\r" then return "\\r" end
    if byte(c) >= 128 and valid then
      return c
    end
    return string.format("\\x%02x", byte(c))
  end))
end


local function quote_string(s, max)
  if is_binary(s) then
    return binary_summary(s)
  end
  if #s <= max then
    return "\"" .. escape(s) .. "\""
  end
  return string.format("\"%s\"... (%d bytes)", escape(cut_utf8(s, max)), #s)
end


local function is_identifier(k)
  return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil
end


local function format_key(k)
  if is_identifier(k) then
    return k
  end
  if type(k) == "string" then
    return "[\"" .. escape(k) .. "\"]"
  end
  return "[" .. tostring(k) .. "]"
end


local function format_scalar(v, opts)
  local t = type(v)
  if t == "string" then
    return quote_string(v, opts.max_string)
  elseif t == "number" then
    if math.type(v) == "float" then
      return string.format("%.14g", v)
    end
    return tostring(v)
  end
  return tostring(v)
end


-- Returns the keys of t: 1..n of the array part in order, then every
-- other key sorted by type name and then value.
local function sorted_keys(t)
  local n = #t
  local keys = {}
  for i = 1, n do
    keys[i] = i
  end
  local rest = {}
  for k in pairs(t) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then
      rest[#rest + 1] = k
    end
  end
  sort(rest, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then
      return ta < tb
    end
    if ta == "string" or ta == "number" then
      return a < b
    end
    return tostring(a) < tostring(b)
  end)
  for _, k in ipairs(rest) do
    keys[#keys + 1] = k
  end
  return keys, n
end


local format_table


local function format_value(v, opts, level, seen)
  if type(v) == "table" then
    return format_table(v, opts, level, seen)
  end
  return format_scalar(v, opts)
end


function format_table(t, opts, level, seen)
  local mt = getmetatable(t)
  -- Rows nested in another value stay a table literal, although their
  -- __tostring gives the text table.
  if mt ~= nil and type(mt) == "table" and mt.__tostring ~= nil and
      mt.__name ~= "stratosphere.rows" then
    return tostring(t)
  end
  if seen[t] then
    return "<cycle: " .. tostring(t) .. ">"
  end
  local keys, n = sorted_keys(t)
  if #keys == 0 then
    return "{}"
  end
  if level >= opts.depth then
    return string.format("{... %d entries}", #keys)
  end

  seen[t] = true
  local parts = {}
  local shown = math.min(#keys, opts.max_items)
  for i = 1, shown do
    local k = keys[i]
    local v = format_value(t[k], opts, level + 1, seen)
    if k == i and i <= n then
      parts[i] = v
    else
      parts[i] = format_key(k) .. " = " .. v
    end
  end
  if #keys > shown then
    parts[#parts + 1] = string.format("... %d more", #keys - shown)
  end
  seen[t] = nil

  local one_line = "{ " .. concat(parts, ", ") .. " }"
  if #one_line + level * 2 <= opts.width and not one_line:find("\n") then
    return one_line
  end
  local pad = string.rep("  ", level + 1)
  return "{\n" .. pad .. concat(parts, ",\n" .. pad) .. ",\n"
         .. string.rep("  ", level) .. "}"
end


-- Returns the column names of a list of rows: the result's own column
-- order when it came from db:sql(), else the union of the rows' keys in
-- sorted order. Returns nil when t is not such a list: every element a
-- table whose values are all scalars.
local function row_columns(t)
  local mt = getmetatable(t)
  if type(mt) == "table" and mt.__name == "stratosphere.rows"
      and type(mt.columns) == "table" then
    return mt.columns
  end
  local n = #t
  if n == 0 then
    return nil
  end
  local seen, columns = {}, {}
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 or k > n then
      return nil
    end
  end
  for i = 1, n do
    local row = t[i]
    if type(row) ~= "table" or getmetatable(row) ~= nil then
      return nil
    end
    for k, v in pairs(row) do
      if type(v) == "table" or type(k) ~= "string" then
        return nil
      end
      if not seen[k] then
        seen[k] = true
        columns[#columns + 1] = k
      end
    end
  end
  sort(columns)
  return #columns > 0 and columns or nil
end


local function cell_text(v, opts)
  local s
  if v == nil then
    s = "NULL"
  elseif type(v) == "string" then
    if is_binary(v) then
      s = string.format("<binary %d B>", #v)
    else
      s = escape_cell(v)
    end
  else
    s = format_scalar(v, opts)
  end
  local len = utf8.len(s) or #s
  if len > opts.max_cell then
    local keep = opts.max_cell - 3
    local stop = utf8.offset(s, keep + 1) or keep + 1
    s = sub(s, 1, stop - 1) .. "..."
    len = keep + 3
  end
  return s, len
end


local M = {}


--- Formats a list of rows as an aligned text table.
-- rows: a list of tables keyed by column name; columns: the names in
-- order (default: the result's own order, else the sorted keys). A
-- `footer` string in the list's metatable is printed below the table.
-- Returns the text, without a final newline.
function M.rows(rows, columns, opts)
  opts = options(opts)
  columns = columns or row_columns(rows) or {}
  local widths, cells = {}, {}
  for c, name in ipairs(columns) do
    widths[c] = utf8.len(name) or #name
  end
  local shown = math.min(#rows, opts.max_rows)
  for r = 1, shown do
    local line = {}
    for c, name in ipairs(columns) do
      local text, len = cell_text(rows[r][name], opts)
      line[c] = { text, len, type(rows[r][name]) == "number" }
      if len > widths[c] then
        widths[c] = len
      end
    end
    cells[r] = line
  end

  local out = {}
  local header, rule = {}, {}
  for c, name in ipairs(columns) do
    local len = utf8.len(name) or #name
    header[c] = name .. string.rep(" ", widths[c] - len)
    rule[c] = string.rep("-", widths[c])
  end
  out[1] = concat(header, "  "):gsub("%s+$", "")
  out[2] = concat(rule, "  ")
  for r = 1, shown do
    local line = {}
    for c in ipairs(columns) do
      local text, len, numeric = cells[r][c][1], cells[r][c][2], cells[r][c][3]
      local pad = string.rep(" ", widths[c] - len)
      line[c] = numeric and pad .. text or text .. pad
    end
    out[#out + 1] = concat(line, "  "):gsub("%s+$", "")
  end
  if #rows > shown then
    out[#out + 1] = string.format("... %d more rows", #rows - shown)
  end
  out[#out + 1] = string.format("(%d row%s)", #rows, #rows == 1 and "" or "s")
  local mt = getmetatable(rows)
  if type(mt) == "table" and type(mt.footer) == "string" then
    out[#out + 1] = mt.footer
  end
  return concat(out, "\n")
end


--- Formats one value for display.
-- A string on its own is shown as is (cut past max_top_string bytes with
-- its length); nested strings are quoted. A list of flat rows becomes a
-- text table. opts overrides the limits in DEFAULTS.
-- Returns the text, without a final newline.
function M.format(v, opts)
  opts = options(opts)
  if type(v) == "string" then
    if is_binary(v) then
      return binary_summary(v)
    end
    if #v > opts.max_top_string then
      return cut_utf8(v, opts.max_top_string)
             .. string.format("\n... (%d bytes in all)", #v)
    end
    return v
  end
  if type(v) == "table" then
    local columns = row_columns(v)
    if columns ~= nil then
      return M.rows(v, columns, opts)
    end
  end
  return format_value(v, opts, 0, {})
end


--- Writes each argument formatted by format() on its own line(s) to
-- io.stdout.
function M.print(...)
  local n = select("#", ...)
  for i = 1, n do
    io.stdout:write(M.format((select(i, ...))), "\n")
  end
end


M.is_binary = is_binary
M.cut_utf8 = cut_utf8
M.DEFAULTS = DEFAULTS


return M
