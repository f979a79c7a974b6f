-- stratosphere.core.flow inputs found by fuzzing (fuzz/fuzz_flowlib.c),
-- kept as plain checks.

package.path = "tests/lua/?.lua;" .. package.path

local t = require "helpers"
local flow = require "stratosphere.core.flow"


-- A header name from a JSON text may contain NUL; lookup still ignores
-- case after it.
do
  local h = flow.headers('{"\\u0000Host": "x", "A\\u0000B": "y"}')
  t.eq("x", h["\0host"], "stored name")
  t.eq("x", h["\0HOST"], "upper-case name after NUL")
  t.eq("y", h["a\0b"], "stored name with NUL inside")
  t.eq("y", h["A\0B"], "upper-case name with NUL inside")
  t.eq(nil, h["a"], "the name does not end at NUL")
end
