-- Runs luacheck with the repository's .luacheckrc over lua/, extractors/
-- and tests/lua/, and fails on any warning. luacheck comes from the
-- Debian package lua-check (scripts/setup.sh --test installs it).

package.path = "tests/lua/?.lua;" .. package.path

local t = require "helpers"


local function succeeds(command)
  local ok = os.execute(command .. " >/dev/null 2>&1")
  return ok == true
end


if not succeeds("command -v luacheck") then
  t.skip("luacheck is not installed (Debian package lua-check)")
end

local dirs = {}
for _, dir in ipairs({ "lua", "extractors", "tests/lua" }) do
  if succeeds("test -d " .. dir) then
    dirs[#dirs + 1] = dir
  end
end

local pipe = io.popen("luacheck --config .luacheckrc --no-color " ..
                      "--formatter plain " .. table.concat(dirs, " ") ..
                      " 2>&1")
local output = pipe:read("a")
local ok, _, status = pipe:close()
if not ok then
  error("luacheck reported problems (exit status " .. tostring(status) ..
        "):\n" .. output, 0)
end
