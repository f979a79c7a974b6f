#!/usr/bin/env bash
# `stratosphere extract` over a synthetic probe.db of 20,000 flows (one in
# ten a search result page with 10 result links, the rest small JSON
# responses) with the fixture Google extractor: every flow is seen and
# every search page matched. The time is printed for information only;
# bench/ measures speed. Then the summary and exit status of extractors
# that decline, raise and fail to load, on a small probe.
set -u
bin=$(realpath "${1:?usage: extract_synthetic.sh BINARY}")
src=${ST_SOURCE_DIR:-$(pwd)}
fixture=$src/tests/fixtures/extractors/google_search.lua
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
flows=20000

if ! command -v python3 >/dev/null; then
  echo "skip: python3 is not installed (scripts/setup.sh --test)"
  exit 77
fi

cat >"$tmp/make_probe.py" <<'EOF'
import json
import random
import sqlite3
import sys

path, count = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(path)
db.execute("""CREATE TABLE flows (flow_id CHAR(32) NOT NULL,
  flow_index INTEGER NOT NULL, flow_request_host VARCHAR NOT NULL,
  flow_request_port INTEGER NOT NULL, flow_request_method VARCHAR NOT NULL,
  flow_request_pretty_url VARCHAR NOT NULL, flow_request_url VARCHAR NOT NULL,
  flow_request_http_version VARCHAR NOT NULL,
  flow_request_headers VARCHAR NOT NULL,
  flow_request_headers_content_type VARCHAR, flow_request_content BLOB,
  flow_request_timestamp_start DATETIME NOT NULL,
  flow_response_status_code INTEGER NOT NULL,
  flow_response_http_version VARCHAR NOT NULL,
  flow_response_headers VARCHAR NOT NULL,
  flow_response_headers_content_type VARCHAR, flow_response_content BLOB,
  flow_response_timestamp_start DATETIME NOT NULL,
  flow_capture_timestamp DATETIME, PRIMARY KEY (flow_id))""")
rnd = random.Random(1)
request_headers = json.dumps({"host": "www.google.com", "accept": "*/*",
                              "user-agent": "Mozilla/5.0"})
rows = []
for i in range(1, count + 1):
    ts = "2023-04-09 14:%02d:%02d.%06d" % (i // 6000 % 60, i // 100 % 60,
                                          i % 1000000)
    if i % 10 == 0:
        q = "query %d" % rnd.randrange(count // 4)
        url = "https://www.google.com/search?q=" + q.replace(" ", "+")
        links = "".join(
            '<div><a href="https://site%d.example/p%d"><br><h3>Result %d'
            ' for %s</h3></a></div>' % (rnd.randrange(5000), j, j, q)
            for j in range(10))
        body = ("<html><body>%s%s</body></html>"
                % ("<p>text</p>" * 200, links)).encode()
        ctype = "text/html; charset=UTF-8"
    else:
        url = "https://www.google.com/complete/search?q=%d" % i
        body = json.dumps([str(i), ["suggestion"] * 30]).encode()
        ctype = "application/json; charset=UTF-8"
    response_headers = json.dumps({"content-type": ctype, "server": "gws"})
    rows.append(("%032x" % rnd.getrandbits(128), 0, "www.google.com", 443,
                 "GET", url, url, "HTTP/2.0", request_headers, None, b"", ts,
                 200, "HTTP/2.0", response_headers, ctype, body, ts, ts))
db.executemany("INSERT INTO flows VALUES (%s)" % ",".join("?" * 19), rows)
db.commit()
EOF
python3 "$tmp/make_probe.py" "$tmp/probe.db" "$flows" || exit 1

start=$(date +%s%N)
out=$("$bin" extract -q --probe "$tmp/probe.db" --kb "$tmp/kb.db" \
  "$fixture" 2>&1)
rc=$?
end=$(date +%s%N)
elapsed_ms=$(( (end - start) / 1000000 ))
echo "$out"
echo "extract of $flows flows: $elapsed_ms ms"

failures=0
[ "$rc" -eq 0 ] || { echo "FAIL: exit status $rc"; failures=1; }
printf '%s\n' "$out" | grep -qx "flows seen: $flows" ||
  { echo "FAIL: not every flow was seen"; failures=1; }
printf '%s\n' "$out" | grep -q "2000 flows matched, 0 errors" ||
  { echo "FAIL: expected 2000 matched flows"; failures=1; }

# Exit status and summary on 50 flows (5 search pages, 45 JSON). A
# declined flow is no failure, and its reason is shown. A run that raises
# or a file that does not load makes the status 1, and the other
# extractors still run.
python3 "$tmp/make_probe.py" "$tmp/small.db" 50 || exit 1
cat >"$tmp/decline.lua" <<'EOF'
local M = { match = { content_type = "text/html" } }
function M.extract(flow, kb) return nil, "no results block" end
return M
EOF
cat >"$tmp/raise.lua" <<'EOF'
local M = { match = { content_type = "json" } }
function M.extract(flow, kb) error("boom") end
return M
EOF
printf 'local M = {\n  match = {\nreturn M\n' >"$tmp/broken.lua"

# extract_case NAME STATUS EXTRACTORS...: runs extract over small.db into a
# fresh knowledge base, checks the status and leaves the output in $out.
extract_case() {
  local name=$1 status=$2 rc
  shift 2
  rm -f "$tmp/small.kb.db"
  out=$("$bin" extract -q --probe "$tmp/small.db" --kb "$tmp/small.kb.db" \
    "$@" 2>&1)
  rc=$?
  [ "$rc" -eq "$status" ] ||
    { echo "FAIL: $name: exit status $rc, expected $status: $out"; failures=1; }
}

# has NAME LINE: the output of the last case has the line LINE.
has() {
  printf '%s\n' "$out" | grep -qxF -- "$2" ||
    { echo "FAIL: $1: no line '$2' in: $out"; failures=1; }
}

extract_case declined 0 "$fixture" "$tmp/decline.lua"
has "declined: counts" "extractor decline ($tmp/decline.lua): 5 flows matched, 0 errors, 5 declined"
printf '%s\n' "$out" | grep -qE '^  last declined: flow [0-9a-f]{32}: no results block$' ||
  { echo "FAIL: declined: no reason in: $out"; failures=1; }
has "declined: no load failure" "extractors that failed to load: 0"
has "declined: no error" "errors: 0"

extract_case raised 1 "$fixture" "$tmp/raise.lua"
has "raised: counts" "extractor raise ($tmp/raise.lua): 45 flows matched, 45 errors, 0 declined"
has "raised: errors" "errors: 45"
printf '%s\n' "$out" | grep -q '^  last error: flow [0-9a-f]*: .*raise.lua:2: boom' ||
  { echo "FAIL: raised: no last error in: $out"; failures=1; }

extract_case broken 1 "$fixture" "$tmp/broken.lua"
has "broken: load failures" "extractors that failed to load: 1"
has "broken: no runtime error" "errors: 0"
printf '%s\n' "$out" | grep -q "^extractor $tmp/broken.lua: not loaded: .*broken.lua:3:" ||
  { echo "FAIL: broken: no load error in: $out"; failures=1; }
printf '%s\n' "$out" | grep -q "^extractor google_search (.*): 5 flows matched, 0 errors" ||
  { echo "FAIL: broken: the other extractor did not run: $out"; failures=1; }

# SIGINT (Ctrl-C) stops the run after the flow in progress: status 130,
# a message that reports it, and the rows from the flows done are committed.
# The extractor spends about 2 ms per flow, so 20,000 flows outlast the
# signal sent after 1 s.
cat >"$tmp/slow.lua" <<'EOF'
local M = {}
function M.extract(flow, kb)
  local until_clock = os.clock() + 0.002
  while os.clock() < until_clock do end
  kb.upsert{ type = "test/flow", key = flow.id }
end
return M
EOF
rm -f "$tmp/slow.kb.db"
"$bin" extract -q --probe "$tmp/probe.db" --kb "$tmp/slow.kb.db" \
  "$tmp/slow.lua" >"$tmp/slow.out" 2>&1 &
pid=$!
sleep 1
kill -INT "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 130 ] ||
  { echo "FAIL: interrupted: exit status $rc, expected 130: $(cat "$tmp/slow.out")"; failures=1; }
grep -q "interrupted after [0-9]* of $flows flows" "$tmp/slow.out" ||
  { echo "FAIL: interrupted: no message in: $(cat "$tmp/slow.out")"; failures=1; }
kept=$(sqlite3 "$tmp/slow.kb.db" "SELECT count(*) FROM entities WHERE type = 'test/flow'")
[ "${kept:-0}" -gt 0 ] && [ "${kept:-0}" -lt "$flows" ] ||
  { echo "FAIL: interrupted: $kept rows kept, expected some but not all"; failures=1; }
[ "$(sqlite3 "$tmp/slow.kb.db" "PRAGMA integrity_check")" = ok ] ||
  { echo "FAIL: interrupted: kb.db fails its integrity check"; failures=1; }

# An extractor that runs out of time on 5 flows in a row is suspended, and
# the summary reports it.
cat >"$tmp/spin.lua" <<'EOF'
local M = {}
function M.extract(flow, kb)
  while true do end
end
return M
EOF
printf 'return { pipeline = { budget = 0.05 } }\n' >"$tmp/fast.lua"
rm -f "$tmp/small.kb.db"
out=$("$bin" extract -q -c "$tmp/fast.lua" --probe "$tmp/small.db" \
  --kb "$tmp/small.kb.db" "$tmp/spin.lua" 2>&1)
has "suspended: counts" "extractor spin ($tmp/spin.lua): 5 flows matched, 5 errors, 0 declined"
has "suspended: said" "  suspended: it exceeded its time budget or memory cap on 5 flows in a row, so its later flows were skipped"
printf '%s\n' "$out" | grep -q "spin.lua:3: time budget of 0.05 s exceeded" ||
  { echo "FAIL: suspended: the error does not name the line: $out"; failures=1; }

help=$("$bin" extract --help)
printf '%s\n' "$help" | grep -q "^exit status:" ||
  { echo "FAIL: extract --help gives no exit statuses"; failures=1; }
printf '%s\n' "$help" | grep -q "^  1  an extractor failed to load or raised on a flow" ||
  { echo "FAIL: extract --help does not explain status 1"; failures=1; }

[ "$failures" -eq 0 ] && echo "ok"
exit "$failures"
