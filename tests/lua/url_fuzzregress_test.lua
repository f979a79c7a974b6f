-- stratosphere.url inputs found by fuzzing (fuzz/fuzz_url.c), kept as
-- plain checks.

package.path = "tests/lua/?.lua;" .. package.path

local t = require "helpers"
local url = require "stratosphere.url"


-- The userinfo ends at the last "@", as browsers read it, so url.host and
-- url.host_is name the same host.
do
  local u = "http://a@b@c.example/p"
  t.eq("c.example", url.host(u), "host after the last @")
  t.eq(true, url.host_is(u, "c.example"), "host_is uses the last @")
  t.eq(false, url.host_is(u, "b"), "host_is ignores the userinfo")
  t.eq(false, url.host_is("https://google.com@evil.org@x.org/", "google.com"),
       "a name in the userinfo is not the host")
end
