#!/usr/bin/env bash
# Runs `stratosphere extract` with the fixture Google extractor over the
# real sample capture search-google.db and checks the printed summary. It
# then compares the whole kb.db with the expected knowledge base
# search-google.kb.json: every id, type, src, dst, data and ts, except the
# NIL rows' ts. It also checks that a missing probe file is an error that
# creates nothing and that an extractor that fails to load gives exit
# status 1.
set -u
bin=$(realpath "${1:?usage: extract_google_sample.sh BINARY}")
src=${ST_SOURCE_DIR:-$(pwd)}
samples=$src/../shared/samples
fixture=$src/tests/fixtures/extractors/google_search.lua
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

if [ ! -r "$samples/search-google.db" ]; then
  echo "skip: $samples is absent"
  exit 77
fi

# A missing probe file: exit 1, the message names it, nothing is created.
out=$("$bin" extract --probe "$tmp/absent.db" --kb "$tmp/kb0.db" \
  "$fixture" 2>&1)
rc=$?
[ "$rc" -eq 1 ] || fail "missing probe: exit status $rc, expected 1"
printf '%s' "$out" | grep -q "probe file $tmp/absent.db not found" ||
  fail "missing probe: message does not name the file: $out"
[ ! -e "$tmp/absent.db" ] || fail "missing probe: $tmp/absent.db created"

# An extractor that does not load: exit 1, the summary names the field.
printf 'return { name = "broken" }\n' > "$tmp/broken.lua"
out=$("$bin" extract --probe "$samples/search-google.db" \
  --kb "$tmp/kb1.db" "$tmp/broken.lua" 2>&1)
rc=$?
[ "$rc" -eq 1 ] || fail "broken extractor: exit status $rc, expected 1"
printf '%s' "$out" | grep -q "broken.lua: field 'extract' must be a function" ||
  fail "broken extractor: no message naming the field: $out"

# The real run.
out=$("$bin" extract --probe "$samples/search-google.db" --kb "$tmp/kb.db" \
  "$fixture" 2>"$tmp/stderr")
rc=$?
[ "$rc" -eq 0 ] || fail "extract: exit status $rc: $out $(cat "$tmp/stderr")"
for line in "flows seen: 66" \
  "extractor google_search ($fixture): 1 flows matched, 0 errors, 0 declined" \
  "entities: 16 added, 1 merged" "relationships: 15 added, 1 merged" \
  "errors: 0"; do
  printf '%s\n' "$out" | grep -qxF -- "$line" ||
    fail "summary has no line '$line': $out"
done
echo "$out"

python3 "$src/tests/e2e/kb_compare.py" "$tmp/kb.db" \
  "$samples/search-google.kb.json" ||
  fail "kb.db differs from search-google.kb.json"

if [ "$failures" -gt 0 ]; then
  echo "$failures failures"
  exit 1
fi
echo "ok"
