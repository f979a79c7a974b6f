#!/bin/bash
# A researcher's path from a capture to a saved extractor, as the README
# tells it: inspect a sample, find the flow that holds the search results,
# write a small extractor, try it (kb.db untouched), fix an error that try
# reports with file and line, and run it into kb.db.
# Usage: repl_workflow.sh BINARY
set -u
bin=$(realpath "$1")
sample=$(realpath -m "../shared/samples/search-google.db")

if [ ! -f "$sample" ]; then
  echo "SKIP: $sample is absent"
  exit 77
fi
if ! "$bin" repl -e 'require "stratosphere.core.extract"' >/dev/null 2>&1; then
  echo "SKIP: this build has no extractor runner (stratosphere.core.extract)"
  exit 77
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
mkdir extractors

failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# 1. What is in the capture.
out=$("$bin" inspect "$sample")
echo "$out" | grep -q "^www.google.com  *443  GET" ||
  fail "inspect does not list the Google GETs: $out"
echo "$out" | grep -q "66 flows in" || fail "inspect total: $out"

# 2. Which flow holds the result titles seen in the browser.
out=$("$bin" repl --probe "$sample" -e \
  'analyze{"Bellingcat - Wikipedia", "bellingcat.com", method = "GET"}')
echo "$out" | grep -q "every pattern found in flow 47" ||
  fail "analyze did not point to flow 47: $(echo "$out" | tail -2)"

# 3. An extractor, first with a mistake on line 12.
cat > extractors/my_search.lua <<'EOF'
-- Reads Google result pages and records the query.
-- Writes google.com/search_query entities keyed by the query.
local M = {
  match = { method = "GET", url_prefix = "https://www.google.com/search",
            content_type = "text/html" },
}

function M.extract(flow, kb)
  local q = flow.request.url:match("[?&]q=([^&]*)")
  if not q then return nil, "no q parameter" end
  q = q:gsub("+", " ")
  local title = flow.response.body:match("<title>(.-)</title>"):upper(nil + 1)
  kb.upsert({ type = "google.com/search_query", key = q,
              data = { q = q, title = title } })
  return true
end

return M
EOF
out=$("$bin" repl --probe "$sample" --kb kb.db -e 'try "my_search"' 2>&1)
echo "$out" | grep -q "1 matched, 0 declined, 1 errors" ||
  fail "try did not count the failing flow: $out"
echo "$out" | grep -q "my_search.lua:12:" ||
  fail "try did not show the extractor's file and line: $out"

# 4. Fixed, tried: it would add the query, and kb.db stays absent.
sed -i 's/:upper(nil + 1)/:upper()/' extractors/my_search.lua
out=$("$bin" repl --probe "$sample" --kb kb.db -e 'try "my_search"' 2>&1)
echo "$out" | grep -q "entities 1 added" || fail "try counts: $out"
echo "$out" | grep -q "google.com/search_query.*who owns bellingcat" ||
  fail "try did not print the entity: $out"
[ -e kb.db ] && fail "try wrote kb.db"

# A file that does not load is reported with its line.
printf 'local M = {\nreturn M\n' > extractors/broken.lua
out=$("$bin" repl --probe "$sample" --kb kb.db -e 'try "broken"' 2>&1)
[ $? = 1 ] || fail "try of a broken file did not fail"
echo "$out" | grep -q "broken.lua:2:" || fail "load error without line: $out"

# 5. Saved into kb.db with run, and visible through kb.
"$bin" repl --probe "$sample" --kb kb.db -e 'run "extractors/my_search.lua"' \
  >run.out 2>&1 || fail "run failed: $(cat run.out)"
out=$("$bin" repl --probe "$sample" --kb kb.db -e \
  'kb:entities{ type = "google.com/search_query" }[1].data')
echo "$out" | grep -q '"q":"who owns bellingcat"' ||
  fail "kb.db lacks the query after run: $out"

if [ "$failures" -gt 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "repl_workflow: ok"
