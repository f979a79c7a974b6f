#!/usr/bin/env bash
# The project's own captures in samples/: every extractor in extractors/
# over search.db, vk.db and linkedin.db must write exactly the knowledge
# base in NAME.kb.json, and each extractor must run on the flows listed
# below. Then samples/make_samples.sh records the same browsing again
# through the proxy, and extracting that capture must give the same rows
# (timestamps aside). The example extractor of the README runs over
# search.db, and when README.md shows it, it must be the tested file.
BIN=$(realpath "${1:?usage: samples_project.sh BINARY}")
. "${ST_SOURCE_DIR:-.}/tests/fixtures/samples_env.sh"

# Expected prefilter matches: sample | extractor | flows matched.
# Every run must end in success, so each also has 0 errors, 0 declined.
MATCHES='
search|google_search|1
search|bing_search|1
search|vk_profile|0
vk|vk_profile|2
vk|vk_friends|1
vk|google_search|0
linkedin|linkedin_profile|1
linkedin|linkedin_positions|1
linkedin|linkedin_people|1
linkedin|bing_search|0
'

for name in search vk linkedin; do
  echo "== samples/$name.db"
  extract_all "$SRC/samples/$name.db" "$TMP/$name.kb.db"
  python3 "$SRC/tests/e2e/kb_compare.py" "$TMP/$name.kb.db" \
    "$SRC/samples/$name.kb.json" ||
    fail "samples/$name.db: kb.db differs from samples/$name.kb.json"
  while IFS='|' read -r sample extractor count; do
    [ "$sample" = "$name" ] || continue
    grep -q "^extractor $extractor (.*): $count flows matched, 0 errors, 0 declined$" \
      "$TMP/summary" ||
      fail "samples/$name.db: expected $extractor to match $count flows"
  done <<<"$MATCHES"
done

# The README's example: record page titles with one small file, run it,
# read the rows, then run it again into the same knowledge base.
example=$SRC/tests/fixtures/extractors/page_title.lua
cp "$example" "$TMP/page_title.lua"
out=$(cd "$TMP" && "$BIN" extract --probe "$SRC/samples/search.db" \
  --kb demo.db page_title.lua 2>&1)
printf '%s\n' "$out" | grep -qx "entities: 2 added, 0 merged" ||
  fail "example extractor: expected 2 entities: $out"
titles=$(sqlite3 "$TMP/demo.db" "SELECT type, json_extract(data, '$.title')
  FROM entities WHERE type LIKE '%/page' ORDER BY type")
[ "$titles" = "www.bing.com/page|who owns example corp - Search
www.google.com/page|who owns example corp - Google Search" ] ||
  fail "example extractor: unexpected rows: $titles"
out=$(cd "$TMP" && "$BIN" extract --probe "$SRC/samples/search.db" \
  --kb demo.db page_title.lua 2>&1)
printf '%s\n' "$out" | grep -qx "entities: 0 added, 2 merged" ||
  fail "example extractor, second run: expected 2 merged rows: $out"

# README.md shows the example in a ```lua block right after a line
# <!-- tested by tests/e2e/samples_project.sh -->.
if [ -r "$SRC/README.md" ] &&
    grep -q "<!-- tested by tests/e2e/samples_project.sh -->" "$SRC/README.md"; then
  shown=$(awk '/<!-- tested by tests\/e2e\/samples_project.sh -->/ {m = 1; next}
               m && /^```lua$/ {inside = 1; next}
               inside && /^```$/ {exit}
               inside {print}' "$SRC/README.md")
  [ "$shown" = "$(cat "$example")" ] ||
    fail "README.md shows another extractor than $example"
else
  echo "note: README.md does not show the example extractor yet"
fi

# Recording again through the proxy gives the same knowledge bases.
if ! unshare --user --map-root-user --net --mount true 2>/dev/null; then
  echo "note: cannot create namespaces (unshare), so the samples were not" \
    "recorded again"
else
  bash "$SRC/samples/make_samples.sh" "$BIN" "$TMP/fresh" ||
    fail "samples/make_samples.sh failed"
  for name in search vk linkedin; do
    "$BIN" extract --config "$SRC/stratosphere.lua" \
      --probe "$TMP/fresh/$name.db" --kb "$TMP/fresh/$name.kb.db" \
      >/dev/null 2>&1 || fail "extract over the new $name.db failed"
    python3 "$SRC/tests/e2e/kb_compare.py" --ignore-ts \
      "$TMP/fresh/$name.kb.db" "$SRC/samples/$name.kb.json" ||
      fail "a new recording of $name.db gives another knowledge base"
  done
fi
finish
