-- stratosphere.json: prefixes, failures as nil, err, integers and null.

package.path = "tests/lua/?.lua;" .. package.path

local t = require "helpers"
local json = require "stratosphere.json"


-- Prefixes.
do
  local cases = {
    { '{"a":1}', "plain" },
    { '\239\187\191{"a":1}', "UTF-8 byte order mark" },
    { ')]}\'\n{"a":1}', "Google prefix" },
    { ')]}\',\n{"a":1}', "Google prefix with a comma" },
    { 'while(1);{"a":1}', "while(1);" },
    { 'for (;;);{"a":1}', "for (;;);" },
    { '  \n)]}\'\n  {"a":1}  ', "white space around" },
    { ')]}\'\n\239\187\191{"a":1}', "byte order mark after the prefix" },
    { '\239\187\191)]}\'\n\239\187\191{"a":1}', "two byte order marks" },
    { '&&&START&&&{"a":1}', "&&&START&&&" },
    { '&&&START&&&{"a":1}&&&END&&&', "&&&START&&& with &&&END&&&" },
    { '&&&START&&&\n{"a":1}\n&&&END&&&\n', "&&&END&&& on its own line" },
  }
  for _, case in ipairs(cases) do
    local value, err = json.decode(case[1])
    t.eq(nil, err, case[2] .. " error")
    t.eq(1, value.a, case[2])
  end
  t.eq("[1]", json.strip_prefix(")]}'\n[1]"), "strip_prefix")
end


-- Failures.
do
  local value, err = json.decode("{bad")
  t.eq(nil, value, "invalid JSON")
  t.eq(true, err:find("^invalid JSON: ") ~= nil, "message: " .. err)
  value, err = json.decode("")
  t.eq(nil, value, "empty text")
  t.eq(true, err ~= nil, "empty text message")
  value, err = json.decode(string.rep("[", 1001) .. string.rep("]", 1001))
  t.eq(nil, value, "too deep")
  t.eq(true, err:find("nested") ~= nil, "too deep message: " .. tostring(err))
  t.check_error("json.decode: s must be a string, got nil", json.decode, nil)
  local text
  text, err = json.encode({ f = print })
  t.eq(nil, text, "function cannot be encoded")
  t.eq(true, err:find("^cannot encode as JSON: ") ~= nil, "encode message")
end


-- Values.
do
  local v = json.decode('{"id": 86696005, "neg": -3, "f": 1.5, "e": 1e3, ' ..
                        '"big": 9007199254740993, "n": null, ' ..
                        '"s": "\\u0416", ' ..
                        '"list": [1, [2, {"x": 3}]]}')
  t.eq("integer", math.type(v.id), "whole number is an integer")
  t.eq("86696005", tostring(v.id), "id prints without .0")
  t.eq(-3, v.neg, "negative integer")
  t.eq("integer", math.type(v.list[2][2].x), "nested integers")
  t.eq("float", math.type(v.f), "fraction stays a float")
  t.eq("integer", math.type(v.e), "1e3 is whole")
  t.eq("float", math.type(v.big), "beyond 2^53 stays a float")
  t.eq(true, json.is_null(v.n), "null")
  t.eq(json.null, v.n, "null value")
  t.eq("Ж", v.s, "unicode escape")
  t.eq(7, json.decode("7"), "top-level number")
  t.eq("integer", math.type(json.decode("7")), "top-level integer")
  t.eq('{"a":[1,2,"x"]}', json.encode({ a = { 1, 2, "x" } }), "encode")
  t.eq("null", json.encode(json.null), "encode null")
end


-- Lone surrogate escapes, the halves of a cut emoji, become U+FFFD; a
-- pair is kept, and an escaped backslash before "u" is no escape.
do
  local FFFD = "\239\191\189"
  local cases = {
    { '"\\ud83d"', FFFD, "lone high surrogate" },
    { '"\\ude00"', FFFD, "lone low surrogate" },
    { '"a\\uD83Db"', "a" .. FFFD .. "b", "upper case hex" },
    { '"\\ud83d\\ude00"', "😀", "surrogate pair" },
    { '"\\ud83d\\ud83d\\ude00"', FFFD .. "😀", "high before a pair" },
    { '"\\ude00\\ud83d"', FFFD .. FFFD, "low before high" },
    { '"x\\\\ud83d"', "x\\ud83d", "escaped backslash" },
    { '"\\\\\\ud83d"', "\\" .. FFFD, "escape after an escaped backslash" },
  }
  for _, case in ipairs(cases) do
    local value, err = json.decode(case[1])
    t.eq(nil, err, case[3] .. " error")
    t.eq(case[2], value, case[3])
  end
  local reply = json.decode('{"title": "Cut \\ud83d", "n": 1}')
  t.eq("Cut " .. FFFD, reply.title, "cut emoji in an object")
  t.eq(1, reply.n, "rest of the object")
end


-- NaN, Infinity, hexadecimal and overflowing numbers make the text
-- invalid: none of them can be stored in the knowledge base.
do
  for _, text in ipairs({ "[NaN]", "[nan]", "[Infinity]", "[-Infinity]",
                          "[0x10]", "0x10", "[1e999]", "-1e999",
                          '{"a": {"b": 1e400}}' }) do
    local value, err = json.decode(text)
    t.eq(nil, value, text)
    t.eq(true, err ~= nil and err:find("^invalid JSON: ") ~= nil,
         text .. " message: " .. tostring(err))
  end
  t.eq(1e308, json.decode("1e308"), "largest double range")
end


-- json.get reads deep fields and stops at the first step that is not a
-- table.
do
  local reply = json.decode('{"payload": [0, [{"all": [[7, "x"]]}]], '
                            .. '"n": null, "s": "text"}')
  t.eq(7, json.get(reply, "payload", 2, 1, "all", 1, 1), "deep field")
  t.eq(nil, json.get(reply, "payload", 3, 1), "missing index")
  t.eq(nil, json.get(reply, "s", "more"), "step into a string")
  t.eq(nil, json.get(reply, "n", "more"), "step into null")
  t.eq(nil, json.get(nil, "a"), "nil value")
  t.eq(reply, json.get(reply), "no keys")
end


-- json.pretty re-indents without decoding: key order and number
-- spelling stay, short flat arrays stay on one line.
do
  local text = '{"b":1.50,"a":[1,2],"c":{"d":"x,y:z","e":[{"f":null}]},"g":{}}'
  t.eq('{\n  "b": 1.50,\n  "a": [1, 2],\n  "c": {\n    "d": "x,y:z",\n'
       .. '    "e": [\n      {"f": null}\n    ]\n  },\n  "g": {}\n}',
       json.pretty(text), "pretty")
  t.eq("[]", json.pretty("[ ]"), "empty array")
  t.eq('"a\\"b"', json.pretty('"a\\"b"'), "escaped quote in a string")
end


-- Stripping "&&&START&&&" and "&&&END&&&" takes linear time in the
-- white space around the JSON.
do
  local spaces = string.rep(" ", 200000)
  local start = os.clock()
  local value = json.decode("&&&START&&&" .. spaces .. '{"a":1}' .. spaces ..
                            "x" .. spaces)
  t.eq(nil, value, "text after the JSON")
  value = json.decode("&&&START&&&" .. spaces .. '{"a":1}' .. spaces ..
                      "&&&END&&&" .. spaces)
  t.eq(1, value.a, "suffix after white space")
  t.eq(true, os.clock() - start < 1, "white space time")
end


-- The Google autocomplete responses carry the ")]}'" prefix.
do
  local path = t.sample_path("search-google.db")
  if path == nil then
    t.skip("../shared/samples/search-google.db is absent")
  end
  local body = assert(t.sample_column(path, 4, "flow_response_content"))
  t.eq(")]}'", body:sub(1, 4), "sample starts with the prefix")
  local value, err = json.decode(body)
  t.eq(nil, err, "autocomplete error")
  t.eq("table", type(value), "autocomplete decodes to a table")
end
