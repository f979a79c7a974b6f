-- Assertions and sample access shared by the Lua tests, which run under
-- `stratosphere lua` with the source tree as the working directory.
-- check_error follows the checkerror helper of Lua's own test suite.


local format = string.format


local M = {}


--- Calls f(...) and raises unless it fails with a message matching the
-- Lua pattern. Returns the message.
function M.check_error(pattern, f, ...)
  local ok, err = pcall(f, ...)
  if ok then
    error(format("expected an error matching '%s', but the call succeeded",
                 pattern), 2)
  end
  if not string.find(tostring(err), pattern) then
    error(format("expected an error matching '%s', got '%s'", pattern,
                 tostring(err)), 2)
  end
  return err
end


--- Raises, showing both values, unless expected == actual.
function M.eq(expected, actual, what)
  if expected ~= actual then
    error(format("%s: expected %q, got %q", what or "value",
                 tostring(expected), tostring(actual)), 2)
  end
end


--- Raises unless the two arrays hold equal values in the same order.
function M.eq_list(expected, actual, what)
  what = what or "list"
  if #expected ~= #actual then
    error(format("%s: expected %d items, got %d", what, #expected, #actual),
          2)
  end
  for i = 1, #expected do
    if expected[i] ~= actual[i] then
      error(format("%s[%d]: expected %q, got %q", what, i,
                   tostring(expected[i]), tostring(actual[i])), 2)
    end
  end
end


--- Prints the reason and exits with status 77, which CTest counts as a
-- skipped test.
function M.skip(reason)
  io.stderr:write("skipped: ", reason, "\n")
  os.exit(77)
end


--- Returns the path of a capture in ../shared/samples beside the source
-- tree, or nil when it is absent.
function M.sample_path(name)
  local root = os.getenv("ST_SOURCE_DIR") or "."
  local path = root .. "/../shared/samples/" .. name
  local f = io.open(path, "rb")
  if f == nil then
    return nil
  end
  f:close()
  return path
end


--- Returns one column of one row of a sample's flows table, read with the
-- sqlite3 command-line tool, or nil, err.
function M.sample_column(path, rowid, column)
  if not column:match("^[%w_]+$") then
    error("invalid column name '" .. column .. "'", 2)
  end
  local cmd = format("sqlite3 -readonly '%s' " ..
                     "'SELECT hex(%s) FROM flows WHERE rowid = %d'",
                     path, column, rowid)
  local pipe = io.popen(cmd, "r")
  local hex = pipe:read("a")
  local ok = pipe:close()
  if not ok or hex == "" then
    return nil, "reading " .. column .. " of row " .. rowid .. " of " ..
      path .. " with sqlite3 failed"
  end
  return (hex:gsub("%s", ""):gsub("%x%x", function(h)
    return string.char(tonumber(h, 16))
  end))
end


--- Returns the whole content of a file.
function M.read_file(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end


return M
