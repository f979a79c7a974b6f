#!/usr/bin/env bash
# The SQL page's form in a real browser: headless Chromium, driven through
# the DevTools protocol by dashboard_forms.py, submits the form and follows
# the JSON link, and both must show the rows. The dashboard's pages send
# Referrer-Policy: no-referrer, so Chromium sends "Origin: null" with the
# form's POST. Pages of another site (evil.test) post the form, link to a
# query and load one as an image, and each must get 403 before the query
# runs. A plain link to the home page still works. Skips without Chromium.
set -u
bin=$(realpath "${1:?usage: dashboard_forms.sh BINARY}")
tmp=$(mktemp -d)
# shellcheck source=tests/e2e/dashboard_lib.bash
. "$(dirname "$0")/dashboard_lib.bash"
trap dashboard_cleanup EXIT

require_chromium

kb_schema "$tmp/kb.db"
sqlite3 "$tmp/kb.db" "INSERT INTO entities VALUES ('a', 'x.com/thing',
  '{\"name\":\"first\"}', NULL, '2024-01-01 00:00:00.0')" ||
  fail "filling $tmp/kb.db failed"
# -v logs one line per request with its status and duration.
start_dashboard --kb "$tmp/kb.db" -v || exit 1

timeout 180 python3 "$(dirname "$0")/dashboard_forms.py" "$CHROMIUM" \
  "$base" "$tmp" || fail "the browser checks failed (see above)"

# Every request that carried the slow query came from another site's page
# and must have been rejected at once.
grep -E "(GET|HEAD) /.*slowmarker" "$tmp/dashboard.log" \
  > "$tmp/slow-requests" || true
[ "$(wc -l < "$tmp/slow-requests")" -ge 3 ] ||
  fail "the log shows fewer than 3 requests with the slow query"
if grep -vE " 403 [0-9] ms$" "$tmp/slow-requests"; then
  fail "a request from another site ran the slow query (lines above)"
fi
