-- stratosphere.template: escaping by default, raw(), the URL filter in
-- link attributes, the places where expressions are refused, and error
-- positions.


local template = require "stratosphere.template"


local function check_error(pattern, f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "expected an error matching " .. pattern)
  assert(tostring(err):find(pattern),
         "error '" .. tostring(err) .. "' does not match " .. pattern)
end


local function render(source, vars)
  return tostring(template.must(source, "test")(vars))
end


-- Text and attribute values are escaped.
local hostile = [["><script>alert('x')</script>&]]
local out = render('<p title="{{ v }}">{{ v }}</p>', { v = hostile })
assert(out == '<p title="&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)'
       .. '&lt;/script&gt;&amp;">&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)'
       .. '&lt;/script&gt;&amp;</p>', out)
assert(not out:find("<script", 1, true))

-- nil writes nothing, numbers and booleans their text form.
assert(render("[{{ a }}|{{ b }}|{{ c }}]", { b = 3, c = false })
       == "[|3|false]")

-- raw() and templates nest without double escaping.
local inner = template.must("<b>{{ x }}</b>", "inner")
out = render("<div>{{ inner }}{{ raw('<hr>') }}</div>",
             { inner = inner { x = "<i>" } })
assert(out == "<div><b>&lt;i&gt;</b><hr></div>", out)
assert(template.is_html(inner { x = 1 }))

-- Tables and functions are mistakes, not text.
check_error("cannot write a table value", render, "{{ t }}", { t = {} })
check_error("cannot write a function value", render, "{{ f }}",
            { f = print })

-- URL attributes let only http, https and same-site links through.
local blocked = {
  "javascript:alert(1)",
  "JavaScript:alert(1)",
  " javascript:alert(1)",
  "java\tscript:alert(1)",
  "\njavascript:alert(1)",
  "data:text/html,<script>alert(1)</script>",
  "vbscript:msgbox(1)",
  "//evil.example/x",
  "/\\evil.example/x",
  "ftp://example.org/",
  "https:/evil.example",
  "",
}
for _, u in ipairs(blocked) do
  out = render('<a href="{{ u }}">x</a><img src="{{ u }}">', { u = u })
  assert(out == '<a href="#blocked-url">x</a><img src="#blocked-url">',
         "not blocked: " .. u .. " -> " .. out)
end
local passed = {
  "https://example.org/a?b=1",
  "HTTP://EXAMPLE.ORG/",
  "/entity?id=1",
  "?q=1",
  "#top",
}
for _, u in ipairs(passed) do
  out = render('<a href="{{ u }}">x</a>', { u = u })
  assert(out == '<a href="' .. template.escape(u) .. '">x</a>',
         "blocked: " .. u .. " -> " .. out)
end
-- The filter applies to single quotes, any case and every URL attribute,
-- but not to text that follows a fixed prefix in the value.
assert(render("<A HREF='{{ u }}'>", { u = "javascript:x" })
       == "<A HREF='#blocked-url'>")
assert(render('<form action="{{ u }}">', { u = "javascript:x" })
       == '<form action="#blocked-url">')
assert(render('<a href="/entity?id={{ id }}">', { id = "a&b" })
       == '<a href="/entity?id=a&amp;b">')
-- A '>' inside a quoted value does not end the tag for the scanner.
assert(render('<a title="a>b" href="{{ u }}">', { u = "javascript:x" })
       == '<a title="a>b" href="#blocked-url">')
assert(template.url("javascript:x") == "#blocked-url")
assert(template.url(nil) == "#blocked-url")

-- Places where an escaped value would still be dangerous are refused.
local refused = {
  { '<a href={{ u }}>', "quoted attribute value" },
  { '<a {{ attrs }}>', "quoted attribute value" },
  { '<a onclick="go({{ x }})">', "event handler" },
  { '<div style="color: {{ c }}">', "style attributes" },
  { '<script>var x = "{{ x }}"</script>', "<script>" },
  { '<SCRIPT type="module">{{ x }}', "<script>" },
  { '<style>p { color: {{ c }} }</style>', "<style>" },
  { '<p>{{ x }</p>', "never closed" },
  { '{% if x then %}', "end" },
}
for _, case in ipairs(refused) do
  local view, err = template.compile(case[1], "refused")
  assert(view == nil, "accepted: " .. case[1])
  assert(err:find(case[2], 1, true), case[1] .. ": " .. tostring(err))
end
-- After </script> expressions are allowed again.
assert(render('<script src="/s.js"></script><p>{{ x }}</p>', { x = "<" })
       == '<script src="/s.js"></script><p>&lt;</p>')
-- Inside an HTML comment a value is plain text.
assert(render("<!-- {{ x }} -->", { x = "-->" }) == "<!-- --&gt; -->")

-- Compile errors and run-time errors give the template's line.
local _, err = template.compile("line 1\nline 2\n<a href={{ u }}>", "pos")
assert(err:find("^pos:3:"), err)
local view = template.must("one\n{% local n = 1 %}\n{{ x.y.z }}\n", "runtime")
check_error("^runtime:3:", view, { x = {} })

-- A tag left open is named in plain words at the line where it opens,
-- instead of the Lua error about the code it ran into.
_, err = template.compile("a\n<li>{{ r.type }: {{ r.n }}</li>", "open")
assert(err == "open:2: unclosed '{{': it has no '}}' before the next tag",
       err)
_, err = template.compile("{% if x then {% end %}", "open")
assert(err:find("^open:1: unclosed '{%%': it has no '%%}'"), err)
-- A nested table constructor is Lua, not a tag left open.
assert(render("{{ #{{1}, {2} } }}", {}) == "2")

-- must() finds its text in the calling file, so compile and run-time
-- errors give that file's lines: here, the line of "{{ a b }}" and of
-- "{{ x.y }}". The first call is a tail call, whose caller has no stack
-- level of its own.
local here = debug.getinfo(1, "l").currentline
local ok, located = pcall(function()
  return template.must([[
<p>
{{ a b }}
</p>]], "located")
end)
assert(not ok)
assert(located:find("template_test.lua:" .. (here + 4) .. ": ", 1, true),
       located)
assert(not located:find("located", 1, true), located)
here = debug.getinfo(1, "l").currentline
view = template.must([[<p>
{{ x.y }}</p>]], "located")
check_error("template_test.lua:" .. (here + 2) .. ": attempt to index",
            view, {})

-- Statements and loops.
out = render("{% for i, v in ipairs(list) do %}{{ i }}={{ v }};{% end %}",
             { list = { "a", "<" } })
assert(out == "1=a;2=&lt;;", out)
-- Assigning to a template variable is a mistake.
check_error("declare it local", render, "{% x = 1 %}", {})

-- Extra helpers given to compile.
view = template.must("{{ shout(x) }}", "helpers",
                     { shout = function(s) return s:upper() end })
assert(tostring(view { x = "<a>" }) == "&lt;A&gt;")

-- urlencode leaves unreserved characters alone.
assert(template.urlencode("a b/c?d=é&~") == "a%20b%2Fc%3Fd%3D%C3%A9%26~")

print("ok")
