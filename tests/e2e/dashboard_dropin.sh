#!/usr/bin/env bash
# A researcher adds a page by dropping a Lua file into the pages folder of
# a running `stratosphere dashboard`. The page is served on the next
# request, appears in the menu and the API, and changes when the file
# changes. A mistake in it shows an error page with the file and line, and
# the other pages keep working.
set -u
bin=$(realpath "${1:?usage: dashboard_dropin.sh BINARY}")
tmp=$(mktemp -d)
# shellcheck source=tests/e2e/dashboard_lib.bash
. "$(dirname "$0")/dashboard_lib.bash"
trap dashboard_cleanup EXIT

cp -r "$(dirname "$0")/../../lua/webapps" "$tmp/pages"
kb_schema "$tmp/kb.db"
sqlite3 "$tmp/kb.db" "INSERT INTO entities VALUES ('n1', 'notes/note',
  '{\"text\":\"remember the milk\"}', NULL, '2024-05-01 10:00:00.000000')"
start_dashboard --pages "$tmp/pages" --kb "$tmp/kb.db" \
  --probe "$tmp/probe.db" || exit 1

status() {
  curl -s -o "$tmp/body" -w '%{http_code}' "$base$1"
}

[ "$(status /notes)" = 404 ] || fail "/notes exists before the file"

# The home page's title names the program once; other pages add theirs.
[ "$(status /)" = 200 ] || fail "the home page failed"
grep -q "<title>stratosphere</title>" "$tmp/body" ||
  fail "home page title: $(grep -o '<title>.*</title>' "$tmp/body")"
[ "$(status /entities)" = 200 ] || fail "the entities page failed"
grep -q "<title>Entities · stratosphere</title>" "$tmp/body" ||
  fail "entities page title: $(grep -o '<title>.*</title>' "$tmp/body")"

# Counts agree with their nouns: one of a kind is singular.
grep -q "<p class=\"muted\">1 entity\.</p>" "$tmp/body" ||
  fail "entities page count: $(grep -o '<p class="muted">[^<]*</p>' "$tmp/body")"
sqlite3 "$tmp/kb.db" "INSERT INTO entities VALUES ('q1',
  'google.com/search_query', '{\"q\":\"owls\"}', NULL,
  '2024-05-01 10:00:00.000000')"
[ "$(status /searches)" = 200 ] || fail "the searches page failed"
grep -q "1 query typed into Google" "$tmp/body" ||
  fail "searches page count: $(grep -o '<p class="lead">[^<]*</p>' "$tmp/body")"
[ "$(status /entities)" = 200 ] || fail "the entities page failed"
grep -q "<p class=\"muted\">2 entities\.</p>" "$tmp/body" ||
  fail "entities page count: $(grep -o '<p class="muted">[^<]*</p>' "$tmp/body")"

cat > "$tmp/pages/notes.lua" <<'LUA'
-- Notes: every notes/note entity.
local web = require "stratosphere.web"
local template = require "stratosphere.template"

local VIEW = template.must([[
<ul>{% for _, n in ipairs(notes) do %}<li>{{ n }}</li>{% end %}</ul>
]], "notes.lua")

return {
  title = "Notes",
  menu = 15,
  data = function(req)
    local notes = web.array()
    for _, row in ipairs(web.sql(web.db("kb"), "SELECT data FROM entities "
                                 .. "WHERE type = 'notes/note'")) do
      notes[#notes + 1] = web.decode_json(row.data).text
    end
    return { notes = notes }
  end,
  render = function(req, data)
    return web.layout(req, "Notes", VIEW(data))
  end,
}
LUA

[ "$(status /notes)" = 200 ] || fail "/notes is not served after the drop"
grep -q "<li>remember the milk</li>" "$tmp/body" ||
  fail "/notes does not show the note: $(cat "$tmp/body")"
[ "$(status /)" = 200 ] || fail "the home page failed"
grep -q 'href="/notes">Notes</a>' "$tmp/body" ||
  fail "the menu does not list the new page"
[ "$(status /api/notes)" = 200 ] || fail "/api/notes failed"
grep -qF '{"notes":["remember the milk"]}' "$tmp/body" ||
  fail "/api/notes: $(cat "$tmp/body")"

sed -i 's/<li>/<li class="note">/' "$tmp/pages/notes.lua"
[ "$(status /notes)" = 200 ] || fail "/notes failed after the edit"
grep -q '<li class="note">remember the milk</li>' "$tmp/body" ||
  fail "the edit did not take effect"

# Line 16 now indexes a nil value.
sed -i 's/web.decode_json(row.data).text/web.decode_json(row.data).x.y/' \
  "$tmp/pages/notes.lua"
[ "$(status /notes)" = 500 ] || fail "a broken page did not give 500"
grep -q "notes.lua:16: attempt to index a nil value" "$tmp/body" ||
  fail "the error page does not name the file and line: $(cat "$tmp/body")"
[ "$(status /flows)" = 503 ] || fail "another page changed: /flows"
grep -q "cannot open flow store" "$tmp/body" ||
  fail "/flows without probe.db: $(cat "$tmp/body")"
[ "$(status /entities)" = 200 ] || fail "another page broke: /entities"

rm "$tmp/pages/notes.lua"
[ "$(status /notes)" = 404 ] || fail "/notes is still served after removal"

# A bad column is the page's mistake: the error names the page's line,
# not the line in stratosphere/web.lua that ran the query.
cat > "$tmp/pages/typo.lua" <<'LUA'
local web = require "stratosphere.web"

return {
  title = "Typo",
  data = function(req)
    local kb = web.db("kb")
    return { rows = web.sql(kb, "SELECT typo FROM entities") }
  end,
  render = function(req, data)
    return web.layout(req, "Typo", "")
  end,
}
LUA
[ "$(status /typo)" = 500 ] || fail "a bad column did not give 500"
grep -q "typo.lua:7: sql: no such column: typo" "$tmp/body" ||
  fail "the SQL error does not name the page's line: $(cat "$tmp/body")"
grep -q "web.lua:[0-9]*: sql" "$tmp/body" &&
  fail "the SQL error names web.lua: $(cat "$tmp/body")"

# A template tag left open is reported at its line in the page file (the
# template starts on line 4, the tag is on its line 2) in plain words.
cat > "$tmp/pages/types.lua" <<'LUA'
local web = require "stratosphere.web"
local template = require "stratosphere.template"

local VIEW = template.must([[<ul>{% for _, r in ipairs(rows) do %}
  <li>{{ r.type }: {{ r.n }}</li>{% end %}</ul>]], "types.lua")

return { title = "Types", render = function(req) return VIEW {} end }
LUA
[ "$(status /types)" = 500 ] || fail "a template typo did not give 500"
grep -q "types.lua:5: unclosed &#39;{{&#39;: it has no &#39;}}&#39; before the next tag" "$tmp/body" ||
  fail "the template error does not give the file line: $(cat "$tmp/body")"
grep -q "types.lua:[0-9]*: types.lua" "$tmp/body" &&
  fail "the template error names the file twice: $(cat "$tmp/body")"
grep -q "dashboard listening on http://127.0.0.1:$port/" \
  "$tmp/dashboard.log" || fail "the start is not logged"
grep -q "page=notes: request failed: .*notes.lua:16:" "$tmp/dashboard.log" ||
  fail "the page error is not logged"

[ "$failures" -eq 0 ] || exit 1
echo "ok"
