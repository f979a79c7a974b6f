-- The REPL's evaluator: takes input a line at a time, decides whether a
-- statement is complete as the standalone lua does, runs it, and prints
-- its results through stratosphere.printer. The terminal side (line
-- editing, history, Ctrl-C) is in src/repl/repl.c; this part is plain
-- Lua so that scripts and tests can drive it.


local printer = require "stratosphere.printer"


-- The parser reports an unfinished chunk with this at the end of its
-- message, for example "'end' expected near <eof>".
local EOF_MARK = "<eof>"

local PROMPT = "> "
local PROMPT_MORE = ">> "


-- Keeps the frames of a traceback that point at the user's code: it drops
-- the REPL's own frames below the user's chunk and those of the project's
-- helper modules, and drops the traceback entirely when nothing of the
-- user's is left in it.
local function trim_traceback(tb)
  local keep, user_frames, in_trace = {}, 0, false
  for line in tb:gmatch("[^\n]+") do
    if line:find("[C]: in function 'xpcall'", 1, true)
        or line:find("stratosphere/repl.lua", 1, true) then
      break
    end
    if line == "stack traceback:" then
      in_trace = true
      keep[#keep + 1] = line
    elseif not in_trace then
      keep[#keep + 1] = line
    elseif not line:find("/lua/stratosphere/", 1, true)
        and not line:find("(...tail calls...)", 1, true) then
      keep[#keep + 1] = line
      if not line:match("^%s*%[C%]") then
        user_frames = user_frames + 1
      end
    end
  end
  if user_frames == 0 then
    while #keep > 0 and (keep[#keep] == "stack traceback:"
                         or keep[#keep]:match("^%s*%[C%]")) do
      keep[#keep] = nil
    end
  end
  return table.concat(keep, "\n")
end


local function message_handler(err)
  if type(err) ~= "string" then
    local mt = getmetatable(err)
    if mt and mt.__tostring then
      err = tostring(err)
    else
      err = string.format("(error object is a %s value)", type(err))
    end
  end
  return debug.traceback(err, 2)
end


-- Compiles code as an expression first ("return " .. code), so that
-- "1 + 1" prints 2, and as a statement when that fails. A leading "="
-- forces an expression. Returns the function, or nil, the message and
-- whether the code is only incomplete.
local function compile(code, chunkname, env)
  if code:sub(1, 1) == "=" then
    code = "return " .. code:sub(2)
  end
  local f = load("return " .. code .. ";", chunkname, "t", env)
  if f ~= nil then
    return f
  end
  local err
  f, err = load(code, chunkname, "t", env)
  if f ~= nil then
    return f
  end
  local incomplete = err:sub(-#EOF_MARK) == EOF_MARK
  if not incomplete then
    -- An unfinished expression ("1 +") fails as a statement for another
    -- reason, so the expression form decides.
    local _, expr_err = load("return " .. code .. "\n", chunkname, "t", env)
    incomplete = expr_err ~= nil and expr_err:sub(-#EOF_MARK) == EOF_MARK
  end
  return nil, err, incomplete
end


local Session = {}
Session.__index = Session


local M = {}


--- Creates an evaluator.
-- opts.env: the global table the code runs in (default _G);
-- opts.out and opts.err: files results and errors go to (io.stdout,
-- io.stderr); opts.chunkname: shown in error positions ("=stdin").
-- Returns the session.
function M.new(opts)
  opts = opts or {}
  return setmetatable({
    env = opts.env or _G,
    out = opts.out or io.stdout,
    err = opts.err or io.stderr,
    chunkname = opts.chunkname or "=stdin",
    lines = {},
  }, Session)
end


--- Returns the prompt for the next line: PROMPT, or PROMPT_MORE while a
-- statement continues.
function Session:prompt()
  return #self.lines == 0 and PROMPT or PROMPT_MORE
end


--- Drops the lines of an unfinished statement (Ctrl-C at the prompt).
function Session:cancel()
  self.lines = {}
end


-- Prints every value that a call returned, one per line.
function Session:print_results(n, ...)
  for i = 1, n do
    self.out:write(printer.format((select(i, ...))), "\n")
  end
  self.out:flush()
end


-- Runs f and prints its results or its error. Returns true on success.
function Session:call(f)
  local function report(ok, ...)
    if ok then
      self:print_results(select("#", ...), ...)
      return true
    end
    self.err:write(trim_traceback((...)), "\n")
    self.err:flush()
    return false
  end
  return report(xpcall(f, message_handler))
end


--- Takes one line of input. Returns "more" when the statement continues
-- on the next line, else runs it and returns "ok" or "error", followed by
-- the whole statement's text (for the history).
function Session:feed(line)
  self.lines[#self.lines + 1] = line
  local code = table.concat(self.lines, "\n")
  if code:match("^%s*$") then
    self.lines = {}
    return "ok", code
  end
  local f, err, incomplete = compile(code, self.chunkname, self.env)
  if f == nil and incomplete then
    return "more", code
  end
  self.lines = {}
  if f == nil then
    self.err:write(err, "\n")
    self.err:flush()
    return "error", code
  end
  return self:call(f) and "ok" or "error", code
end


-- Adds the string keys of t that start with partial (and are functions
-- when only_functions) to names, then those of its metatable's __index
-- table, so methods of objects such as probe are found too.
local function collect_keys(t, partial, only_functions, names, depth)
  if type(t) == "table" then
    for k, v in pairs(t) do
      if type(k) == "string" and k:match("^[%a_][%w_]*$")
          and k:sub(1, #partial) == partial
          and (not only_functions or type(v) == "function") then
        names[k] = true
      end
    end
  end
  local mt = getmetatable(t)
  if depth < 3 and type(mt) == "table" and type(mt.__index) == "table" then
    collect_keys(mt.__index, partial, only_functions, names, depth + 1)
  end
end


local KEYWORDS = {
  "and", "break", "do", "else", "elseif", "end", "false", "for",
  "function", "goto", "if", "in", "local", "nil", "not", "or", "repeat",
  "return", "then", "true", "until", "while",
}


--- Returns the completions of word, the text before the cursor: global
-- names and keywords, or the fields after "a.b." and the methods after
-- "a:", sorted.
function Session:complete(word)
  local path, sep, partial = word:match("^([%a_][%w_%.]*)([%.:])([%w_]*)$")
  local names = {}
  if path == nil then
    partial = word:match("[%a_][%w_]*$") or ""
    collect_keys(self.env, partial, false, names, 0)
    for _, k in ipairs(KEYWORDS) do
      if k:sub(1, #partial) == partial then
        names[k] = true
      end
    end
  else
    local value = self.env
    for name in path:gmatch("[^%.]+") do
      local ok, next_value = pcall(function() return value[name] end)
      if not ok or next_value == nil then
        return {}
      end
      value = next_value
    end
    collect_keys(value, partial, sep == ":", names, 0)
  end

  local prefix = word:sub(1, #word - #partial)
  local out = {}
  for k in pairs(names) do
    out[#out + 1] = prefix .. k
  end
  table.sort(out)
  return out
end


--- Runs a whole chunk at once, as `stratosphere repl -e CODE` does: an
-- expression prints its value, a statement runs. Returns true, or false
-- after printing the error.
function Session:run(code)
  local f, err = compile(code, "=(command line)", self.env)
  if f == nil then
    self.err:write(err, "\n")
    self.err:flush()
    return false
  end
  return self:call(f)
end


M.PROMPT = PROMPT
M.PROMPT_MORE = PROMPT_MORE


return M
