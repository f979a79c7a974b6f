-- HTML templates that escape every value by default.
--
--   local template = require "stratosphere.template"
--   local view = template.compile([[
--     <h1>{{ title }}</h1>
--     {% for _, r in ipairs(results) do %}
--       <a href="{{ r.url }}">{{ r.text }}</a>
--     {% end %}
--   ]], "searches")
--   local html = view { title = "Results", results = rows }
--
-- {{ expr }} writes the value of a Lua expression, HTML-escaped; {% code %}
-- runs Lua statements; {# text #} is a comment. A value is written
-- unescaped only when it is the result of template.raw() or of another
-- template, so `raw(` finds every such place. An expression that is the
-- whole value of an attribute holding a URL (href, src, action, ...)
-- passes through template.url(), which lets only http, https and
-- same-site links through. Expressions inside <script> or <style>, in
-- event handler attributes (onclick=...) or in unquoted attribute values
-- are compile errors. template.must() finds the template's text in the
-- file that calls it, so its errors give that file's lines.
-- Test: tests/lua/template_test.lua


local source_core = require "stratosphere.core.source"

local concat = table.concat
local format = string.format
local gsub = string.gsub
local setmetatable = setmetatable
local tostring = tostring
local type = type


local HTML_MT = {}

local ESCAPES = {
  ["&"] = "&amp;",
  ["<"] = "&lt;",
  [">"] = "&gt;",
  ['"'] = "&quot;",
  ["'"] = "&#39;",
}

-- Attributes whose value is a URL that a browser follows or loads.
local URL_ATTRIBUTES = {
  href = true, src = true, action = true, formaction = true,
  ["xlink:href"] = true, poster = true, cite = true, background = true,
  data = true, srcset = true, ping = true,
}

-- Replacement for a blocked URL: a link to nowhere on the same page.
local BLOCKED_URL = "#blocked-url"


local M = {}


--- Marks a string as HTML to be written as is. Use only for text that
-- this code built, never for recorded values.
-- @param s string
-- @return an HTML object (tostring() gives the text)
function M.raw(s)
  if type(s) == "table" and getmetatable(s) == HTML_MT then
    return s
  end
  return setmetatable({ html = tostring(s) }, HTML_MT)
end


HTML_MT.__tostring = function(h) return h.html end
HTML_MT.__concat = function(a, b)
  return M.raw(M.escape(a) .. M.escape(b))
end


--- Returns true when v is an HTML object from raw() or a template.
function M.is_html(v)
  return type(v) == "table" and getmetatable(v) == HTML_MT
end


--- Escapes a value for HTML text or a quoted attribute value. nil gives
-- "", numbers and booleans their text form, HTML objects their text
-- unchanged. Raises for tables and functions, which are almost always a
-- mistake in the template.
-- @return string
function M.escape(v)
  local t = type(v)
  if t == "string" then
    return (gsub(v, "[&<>\"']", ESCAPES))
  elseif v == nil then
    return ""
  elseif t == "number" or t == "boolean" then
    return tostring(v)
  elseif t == "table" and getmetatable(v) == HTML_MT then
    return v.html
  end
  error(format("template: cannot write a %s value; convert it to a "
               .. "string first", t), 2)
end


--- Returns u when it is safe to put in a link: an http or https URL, or a
-- path on this site ("/x", "?q", "#id", but not "//host"). Anything else
-- (javascript:, data:, schemes hidden behind spaces or control characters)
-- gives "#blocked-url".
-- @param u string or nil
-- @return string
function M.url(u)
  if type(u) ~= "string" or u == "" then
    return BLOCKED_URL
  end
  local lower = u:sub(1, 16):lower()
  if lower:find("^https?://[^/\\]") then
    return u
  end
  local first = u:sub(1, 1)
  if (first == "/" and not u:find("^/[/\\]")) or first == "?" or
      first == "#" then
    return u
  end
  return BLOCKED_URL
end


--- Percent-encodes s for a URL query value or path segment.
-- @return string
function M.urlencode(s)
  s = tostring(s == nil and "" or s)
  return (gsub(s, "[^%w%-%._~]", function(c)
    return format("%%%02X", c:byte())
  end))
end


-- An HTML scanner that follows the template text between expressions,
-- to know where each expression writes: in text, in a quoted attribute
-- value, or somewhere no value may go.
local scanner_mt = {}
scanner_mt.__index = scanner_mt


local function new_scanner()
  return setmetatable({
    state = "text",   -- "text", "tag", "comment" or "rawtext"
    quote = nil,      -- the open quote character inside a tag
    tag = "",         -- text of the current tag so far
    raw_end = nil,    -- "</script" or "</style" in rawtext
  }, scanner_mt)
end


function scanner_mt:feed(html)
  local i, n = 1, #html
  while i <= n do
    local c = html:sub(i, i)
    if self.state == "text" then
      if html:sub(i, i + 3) == "<!--" then
        self.state = "comment"
        i = i + 3
      elseif c == "<" and html:sub(i + 1, i + 1):find("[%a/!?]") then
        self.state = "tag"
        self.tag = "<"
      end
    elseif self.state == "comment" then
      if html:sub(i, i + 2) == "-->" then
        self.state = "text"
        i = i + 2
      end
    elseif self.state == "rawtext" then
      if html:sub(i, i + #self.raw_end - 1):lower() == self.raw_end then
        self.state = "tag"
        self.tag = "<"
      end
    else
      self.tag = self.tag .. c
      if self.quote then
        if c == self.quote then self.quote = nil end
      elseif c == '"' or c == "'" then
        self.quote = c
      elseif c == ">" then
        local name = self.tag:match("^<(%a+)")
        name = name and name:lower()
        if name == "script" or name == "style" then
          self.state = "rawtext"
          self.raw_end = "</" .. name
        else
          self.state = "text"
        end
      end
    end
    i = i + 1
  end
end


-- Returns where an expression at the current position writes: "text",
-- "attribute" or "url", or nil and the reason it may not go there.
function scanner_mt:context()
  if self.state == "text" or self.state == "comment" then
    return "text"
  elseif self.state == "rawtext" then
    return nil, "expressions inside <script> or <style> are not allowed"
  end
  if not self.quote then
    return nil, "expressions inside a tag must be in a quoted attribute "
                .. "value: write name=\"{{ ... }}\""
  end
  local before, value = self.tag:match("^(.*)" .. self.quote .. "([^"
                                       .. self.quote .. "]*)$")
  local name = before and before:match("([%w:_-]+)%s*=%s*$")
  name = name and name:lower()
  if not name then
    return "attribute"
  elseif name:find("^on") then
    return nil, "expressions inside event handler attributes (" .. name
                .. ") are not allowed"
  elseif name == "style" then
    return nil, "expressions inside style attributes are not allowed"
  elseif URL_ATTRIBUTES[name] and value == "" then
    return "url"
  end
  return "attribute"
end


-- Returns true when the body of a tag that opened at one "{{" or "{%"
-- runs into the next tag, as in "{{ a }: {{ b }}", where the first tag
-- takes the second one's "}}". Lua code that merely contains "{{", such
-- as a nested table constructor, still compiles and is not flagged.
local function runs_into_next_tag(kind, body)
  if kind == "{" then
    return body:find("{[{%%]") ~= nil
           and load("return (" .. body .. ")", "=tag", "t", {}) == nil
  end
  return body:find("{%", 1, true) ~= nil
end


-- Returns the Lua source of a template, or nil and an error message. The
-- source keeps the template's line breaks where they were, after
-- first_line - 1 empty lines, so Lua's error messages give the lines of
-- the file the template starts in at first_line.
local function translate(source, name, first_line)
  local code = { string.rep("\n", first_line - 1)
                 .. "local _escape, _url = ... return function(_ENV) "
                 .. "local _out, _n = {}, 0 " }
  local scanner = new_scanner()
  local pos = 1
  local line = first_line

  while true do
    local start, open = source:find("{[{%%#]", pos)
    local text = source:sub(pos, start and start - 1 or -1)
    if text ~= "" then
      -- %q writes a line break as a backslash and a line break.
      code[#code + 1] = format("_n = _n + 1 _out[_n] = %q ", text)
      scanner:feed(text)
      line = line + select(2, text:gsub("\n", ""))
    end
    if not start then
      break
    end
    local kind = source:sub(start + 1, start + 1)
    local closer = kind == "{" and "}}" or kind == "%" and "%}" or "#}"
    local stop = source:find(closer, open + 1, true)
    if not stop then
      return nil, format("%s:%d: '{%s' is never closed with '%s'", name,
                         line, kind, closer)
    end
    local body = source:sub(open + 1, stop - 1)
    if kind ~= "#" and runs_into_next_tag(kind, body) then
      return nil, format("%s:%d: unclosed '{%s': it has no '%s' before "
                         .. "the next tag", name, line, kind, closer)
    end
    if kind == "{" then
      local where, err = scanner:context()
      if not where then
        return nil, format("%s:%d: %s", name, line, err)
      end
      local filter = where == "url" and "_url" or ""
      code[#code + 1] = format("_n = _n + 1 _out[_n] = _escape(%s(%s)) ",
                               filter, body)
      scanner:feed("x")
    elseif kind == "%" then
      -- A line comment in the code would swallow what follows on its line.
      code[#code + 1] = body .. (body:find("%-%-") and "\n" or " ")
    else
      code[#code + 1] = string.rep("\n", select(2, body:gsub("\n", "")))
    end
    line = line + select(2, body:gsub("\n", ""))
    pos = stop + 2
  end
  code[#code + 1] = "return _out end"
  return concat(code)
end


-- Names a template can use besides its variables. A variable that is nil
-- falls through to these, so they avoid names that pages use for data
-- (url, type, name).
local HELPERS = {
  raw = M.raw,
  safe_url = M.url,
  urlencode = M.urlencode,
  ipairs = ipairs,
  pairs = pairs,
  tostring = tostring,
  tonumber = tonumber,
  string = string,
  table = table,
  math = math,
  os = { date = os.date, time = os.time },
  utf8 = utf8,
}


--- Compiles a template.
-- @param source template text
-- @param name name for error messages, such as the page's file name
-- @param helpers optional table of extra names the template can use
-- @param first_line optional line of name where the text starts (1)
-- @return a function(vars) that returns an HTML object, or nil and an
--   error "name:line: message"
function M.compile(source, name, helpers, first_line)
  name = name or "template"
  local lua_source, err = translate(source, name, first_line or 1)
  if not lua_source then
    return nil, err
  end
  local chunk, load_err = load(lua_source, "=" .. name, "t", {})
  if not chunk then
    return nil, load_err
  end
  local render = chunk(M.escape, M.url)
  local extra = helpers or {}

  return function(vars)
    vars = vars or {}
    local env = setmetatable({}, {
      __index = function(_, key)
        local v = vars[key]
        if v ~= nil then return v end
        v = extra[key]
        if v ~= nil then return v end
        return HELPERS[key]
      end,
      __newindex = function(_, key)
        error(format("template %s: assignment to '%s'; declare it local",
                     name, tostring(key)), 2)
      end,
    })
    return M.raw(concat(render(env)))
  end
end


-- Compiles source for the function at level (as error() counts it, from
-- the caller of must_at). When that function's file contains the text,
-- the file names the template and errors give the file's lines.
-- Otherwise errors give the template's own lines and name the call.
local function must_at(level, source, name, helpers)
  local file, line, found = source_core.locate(level + 1, source)
  local view, err
  if found then
    view, err = M.compile(source, file, helpers, line)
  else
    view, err = M.compile(source, name, helpers)
  end
  if not view then
    if not found and line > 0 then
      err = format("%s (template compiled at %s:%d)", err, file, line)
    end
    error(err, 0)
  end
  return view
end


--- Compiles source and raises its error, for templates defined at the top
-- of a file where a mistake should stop the file from loading. When the
-- calling file contains source as written (a long string such as [[...]]),
-- the template is named after that file and its errors, at compile and
-- run time, give that file's lines.
function M.must(source, name, helpers)
  -- Not a tail call, which would drop this function's stack level.
  local view = must_at(2, source, name, helpers)
  return view
end


--- Renders a template once: template.render(source, vars [, name]).
-- @return an HTML object; raises on a compile error
function M.render(source, vars, name)
  return must_at(2, source, name or "template")(vars)
end


return M
