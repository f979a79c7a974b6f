-- luacheck settings for the project's Lua: Lua 5.4 plus the globals that
-- the stratosphere runtime defines in every state. tests/lua/luacheck_test.lua
-- runs luacheck with this file over lua/, extractors/ and tests/lua/.

std = "lua54"
max_line_length = 80

-- log.error/warn/info/debug write to the project log (src/script/script.c).
read_globals = { "log" }

-- What the extractor sandbox provides: the base library without dofile
-- and loadfile, string, table, math, utf8, four functions of os, and
-- log. No io, debug, package or coroutine (src/script/sandbox.c).
stds.extractor = {
  read_globals = {
    "_G", "_VERSION", "assert", "collectgarbage", "error", "getmetatable",
    "ipairs", "load", "next", "pairs", "pcall", "print", "rawequal",
    "rawget", "rawlen", "rawset", "require", "select", "setmetatable",
    "tonumber", "tostring", "type", "warn", "xpcall", "log",
    string = { other_fields = true },
    table = { other_fields = true },
    math = { other_fields = true },
    utf8 = { other_fields = true },
    os = { fields = { "time", "clock", "date", "difftime" } },
  },
}

files["extractors"] = { std = "extractor" }

-- Dashboard pages keep their HTML templates in long strings, whose lines
-- are as long as the markup needs, and their functions take the request
-- whether they use it or not.
files["lua/webapps"] = { max_string_line_length = false, unused_args = false }

exclude_files = { "build/**", "build-*/**" }
