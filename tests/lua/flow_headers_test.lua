-- stratosphere.core.flow header tables built from the JSON text stored
-- in probe.db: values of every JSON type, arrays and repeated names.

package.path = "tests/lua/?.lua;" .. package.path

local t = require "helpers"
local flow = require "stratosphere.core.flow"


-- Array values are joined with ", ". Numbers are written as integers when
-- they are whole; objects, nested arrays and null inside an array are
-- left out.
do
  local h = flow.headers('{"Accept": ["a", "b"], "X-Nums": [1, 2.5, 3], ' ..
                         '"X-Mixed": ["a", {"k": "v"}, 2, null, ["n"], ' ..
                         'true], "X-Objects": [{"k": 1}], "X-Empty": []}')
  t.eq("a, b", h.accept, "strings")
  t.eq("1, 2.5, 3", h["x-nums"], "numbers")
  t.eq("a, 2, true", h["x-mixed"], "mixed array")
  t.eq(nil, h["x-objects"], "array of objects only")
  t.eq(nil, h["x-empty"], "empty array")
  for name, value in pairs(h) do
    t.eq(false, value:find("table: ", 1, true) ~= nil,
         name .. " has no table address")
  end
end


-- Scalar values: whole numbers without ".0", booleans as words; objects
-- and null give no header.
do
  local h = flow.headers('{"Content-Length": 42, "X-Float": 0.5, ' ..
                         '"X-Big": 1e20, "X-Bool": false, "X-Null": null, ' ..
                         '"X-Object": {"a": "b"}}')
  t.eq("42", h["content-length"], "integer")
  t.eq("0.5", h["x-float"], "fraction")
  t.eq("1e+20", h["x-big"], "large number")
  t.eq("false", h["x-bool"], "boolean")
  t.eq(nil, h["x-null"], "null")
  t.eq(nil, h["x-object"], "object")
end


-- Two spellings of one name are joined, arrays included.
do
  local h = flow.headers('{"Set-Cookie": ["a=1", "b=2"], ' ..
                         '"set-cookie": [3]}')
  local value = h["set-cookie"]
  t.eq(true, value == "a=1, b=2, 3" or value == "3, a=1, b=2",
       "joined spellings: " .. tostring(value))
end

print("ok")
