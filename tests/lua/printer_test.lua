-- stratosphere.printer: nested tables, depth limit, cut strings, binary
-- bodies and text tables.


local printer = require "stratosphere.printer"
local db = require "stratosphere.core.db"

local format = printer.format


local function expect(expected, actual)
  if expected ~= actual then
    error(string.format("expected:\n%s\ngot:\n%s", expected, actual), 2)
  end
end


local function test_scalars()
  expect("42", format(42))
  expect("1.5", format(1.5))
  expect("nil", format(nil))
  expect("true", format(true))
  expect("plain text", format("plain text"))
  expect("{ \"a\\nb\", <binary, 1 bytes: 00> }", format({ "a\nb", "\0" }))
end


local function test_nested_table_indents()
  local v = {
    request = { method = "GET", url = "https://example.org/" .. ("x"):rep(50) },
    status = 200,
  }
  local text = format(v)
  expect(table.concat({
    "{",
    "  request = {",
    "    method = \"GET\",",
    "    url = \"https://example.org/" .. ("x"):rep(50) .. "\",",
    "  },",
    "  status = 200,",
    "}",
  }, "\n"), text)
  expect("{ 1, 2, three = 3 }", format({ 1, 2, three = 3 }))
  expect("{ [\"a b\"] = 1 }", format({ ["a b"] = 1 }))
end


local function test_depth_limit()
  local deep = { a = { b = { c = { d = { e = 1 } } } } }
  expect("{ a = { b = { c = { d = {... 1 entries} } } } }", format(deep))
  expect("{ a = {... 1 entries} }", format(deep, { depth = 1 }))
end


local function test_cycle_is_marked()
  local t = { name = "loop" }
  t.self = t
  assert(format(t):find("self = <cycle: table: ", 1, true))
end


local function test_long_string_cut_with_length()
  local s = ("é"):rep(300)  -- 600 bytes
  local text = format({ body = s })
  assert(text:find("... (600 bytes)", 1, true), text)
  -- The cut never splits a two-byte character.
  local inner = text:match("\"(.-)\"")
  assert(utf8.len(inner), "cut string is not valid UTF-8")

  local top = format(("a"):rep(5000))
  assert(top:find("... (5000 bytes in all)", 1, true))
  expect(4000, #top:match("^(a+)"))
end


local function test_binary_summary()
  local png = "\137PNG\r\n\26\n\0\0\0\rIHDR"
  expect("<binary, 16 bytes: 89 50 4e 47 0d 0a 1a 0a 00 00 00 0d 49 48 44 52>",
         format(png))
  expect("{ body = <binary, 3 bytes: 00 01 02> }",
         format({ body = "\0\1\2" }))
  -- windows-1251 text is not binary: its bytes show escaped.
  expect("{ \"\\xcf\\xf0\\xe8\" }", format({ "\207\240\232" }))
  assert(not printer.is_binary("\207\240\232 text"))
end


local function test_rows_as_text_table()
  local rows = {
    { host = "www.google.com", n = 12 },
    { host = "example.org", n = 3 },
  }
  expect([[host            n
--------------  --
www.google.com  12
example.org      3
(2 rows)]], format(rows))
end


local function test_sql_result_keeps_column_order_and_nulls()
  local path = os.tmpname()
  local w = assert(db.open(path, { create = true }))
  assert(w:exec("CREATE TABLE t (z TEXT, a INTEGER); "
                .. "INSERT INTO t VALUES ('first', NULL);"
                .. "INSERT INTO t VALUES (NULL, 7);"))
  local rows = w:sql("SELECT z, a FROM t ORDER BY rowid")
  expect([[z      a
-----  ----
first  NULL
NULL      7
(2 rows)]], format(rows))
  expect("z  a\n-  -\n(0 rows)", format(w:sql("SELECT z, a FROM t WHERE 0")))
  w:close()
  os.remove(path)
end


local function test_long_cells_are_cut()
  local rows = { { url = ("u"):rep(100) } }
  local text = format(rows)
  local line = text:match("\n[^\n]*\n([^\n]*)")
  expect(("u"):rep(57) .. "...", line)
end


local function test_many_rows_are_cut()
  local rows = {}
  for i = 1, 150 do
    rows[i] = { i = i }
  end
  local text = format(rows)
  assert(text:find("... 50 more rows\n(150 rows)", 1, true))
end


local function test_mixed_list_is_not_a_table()
  expect("{ 1, { a = 1 } }", format({ 1, { a = 1 } }))
  expect("{ { a = { 1 } } }", format({ { a = { 1 } } }))
end


test_scalars()
test_nested_table_indents()
test_depth_limit()
test_cycle_is_marked()
test_long_string_cut_with_length()
test_binary_summary()
test_rows_as_text_table()
test_sql_result_keeps_column_order_and_nulls()
test_long_cells_are_cut()
test_many_rows_are_cut()
test_mixed_list_is_not_a_table()
print("printer_test: ok")
