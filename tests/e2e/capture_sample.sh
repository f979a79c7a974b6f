#!/bin/bash
# `stratosphere capture` and `stratosphere sample`: a second process
# records flows into a WAL-mode probe.db while capture watches it; the
# files written have the probe.db flows table exactly, the entities and
# relationships tables with their NIL rows, and the flows byte for byte.
# Usage: capture_sample.sh BINARY
set -u
bin=$(realpath "$1")
src_dir=$(pwd)

if ! command -v sqlite3 >/dev/null; then
  echo "SKIP: the sqlite3 shell is not installed (scripts/setup.sh --test)"
  exit 77
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work" || exit 1

failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# The flows table as probe.db files declare it.
sqlite3 probe.db <<'EOF' >/dev/null
PRAGMA journal_mode=WAL;
CREATE TABLE flows (
	flow_id CHAR(32) NOT NULL,
	flow_index INTEGER NOT NULL,
	flow_request_host VARCHAR NOT NULL,
	flow_request_port INTEGER NOT NULL,
	flow_request_method VARCHAR NOT NULL,
	flow_request_pretty_url VARCHAR NOT NULL,
	flow_request_url VARCHAR NOT NULL,
	flow_request_http_version VARCHAR NOT NULL,
	flow_request_headers VARCHAR NOT NULL,
	flow_request_headers_content_type VARCHAR,
	flow_request_content BLOB,
	flow_request_timestamp_start DATETIME NOT NULL,
	flow_response_status_code INTEGER NOT NULL,
	flow_response_http_version VARCHAR NOT NULL,
	flow_response_headers VARCHAR NOT NULL,
	flow_response_headers_content_type VARCHAR,
	flow_response_content BLOB,
	flow_response_timestamp_start DATETIME NOT NULL,
	flow_capture_timestamp DATETIME,
	PRIMARY KEY (flow_id)
);
EOF

# Inserts one flow: id host url captured-at (SQLite time expression).
add_flow() {
  sqlite3 probe.db "PRAGMA busy_timeout=5000; INSERT INTO flows VALUES (
    '$1', 0, '$2', 443, 'GET', '$3', '$3', 'HTTP/1.1',
    '{\"accept\": \"*/*\"}', NULL, x'', strftime('%Y-%m-%d %H:%M:%f000', $4),
    200, 'HTTP/1.1', '{\"content-type\": \"text/html\"}', 'text/html',
    x'3c68313e6869e280943c2f68313e00ff', strftime('%Y-%m-%d %H:%M:%f000', $4),
    strftime('%Y-%m-%d %H:%M:%f000', $4));" >/dev/null
}

add_flow aaaa0000000000000000000000000001 old.example /a "'now', 'localtime', '-2 hours'"
add_flow aaaa0000000000000000000000000002 www.example.org https://www.example.org/search?q=1 "'now', 'localtime', '-5 minutes'"
add_flow aaaa0000000000000000000000000003 other.example https://other.example/ "'now', 'localtime', '-1 minutes'"

same_flows_schema() {  # FILE
  local a b
  a=$(sqlite3 probe.db "SELECT sql FROM sqlite_master WHERE name = 'flows'")
  b=$(sqlite3 "$1" "SELECT sql FROM sqlite_master WHERE name = 'flows'")
  [ "$a" = "$b" ]
}

# --- capture: flows recorded by another process while it runs ---
"$bin" capture --probe probe.db --for 3s cap.db >capture.out 2>capture.err &
pids+=($!)
cap_pid=$!
sleep 1
add_flow bbbb0000000000000000000000000001 www.example.org https://www.example.org/new1 "'now', 'localtime'"
add_flow bbbb0000000000000000000000000002 www.example.org https://www.example.org/new2 "'now', 'localtime'"
wait "$cap_pid"
status=$?
[ "$status" = 0 ] || fail "capture exited with $status: $(cat capture.err)"
grep -q '^saved 2 flows to cap.db$' capture.out ||
  fail "capture output: $(cat capture.out)"
[ "$(sqlite3 cap.db 'SELECT group_concat(flow_id) FROM (SELECT flow_id FROM flows ORDER BY rowid)')" = \
  "bbbb0000000000000000000000000001,bbbb0000000000000000000000000002" ] ||
  fail "capture did not keep exactly the new flows in order"
same_flows_schema cap.db || fail "capture changed the flows table"
[ "$(sqlite3 cap.db "SELECT type FROM entities WHERE id = '00000000000000000000000000000000'")" = null ] ||
  fail "capture file lacks the NIL entity"
[ "$(sqlite3 cap.db "SELECT src || dst FROM relationships WHERE type = 'null'")" = \
  "0000000000000000000000000000000000000000000000000000000000000000" ] ||
  fail "capture file lacks the NIL relationship"
[ "$(sqlite3 cap.db 'PRAGMA journal_mode')" = delete ] ||
  fail "capture file is not a single rollback-journal file"
[ "$(sqlite3 cap.db "SELECT hex(flow_response_content) FROM flows LIMIT 1")" = \
  "3C68313E6869E280943C2F68313E00FF" ] || fail "capture changed a body"
ls cap.db.part-* >/dev/null 2>&1 && fail "capture left a temporary file"

# --- capture stops at Enter ---
(sleep 1
 add_flow cccc0000000000000000000000000001 www.example.org https://www.example.org/enter "'now', 'localtime'"
 sleep 1.2
 echo) | timeout 20 "$bin" capture --probe probe.db enter.db >enter.out 2>&1
[ $? = 0 ] || fail "capture with Enter failed: $(cat enter.out)"
grep -q '^saved 1 flow to enter.db$' enter.out ||
  fail "capture with Enter: $(cat enter.out)"

# --- capture refuses to overwrite, and saves nothing without new flows ---
"$bin" capture --probe probe.db --for 1s cap.db >/dev/null 2>refuse.err
[ $? = 1 ] || fail "capture over an existing file did not fail"
grep -q "already exists" refuse.err || fail "no 'already exists' message"
"$bin" capture --probe probe.db --for 1s empty.db >/dev/null 2>empty.err
[ $? = 1 ] || fail "capture without new flows did not fail"
[ -e empty.db ] && fail "capture without new flows created a file"
grep -q "no new flow was recorded" empty.err ||
  fail "no message for an empty capture: $(cat empty.err)"
"$bin" capture --probe missing.db --for 1s m.db >/dev/null 2>missing.err
grep -q "flows file 'missing.db' not found" missing.err ||
  fail "no message for a missing probe file: $(cat missing.err)"

# --- sample: filters over the flows already held ---
"$bin" sample --probe probe.db --since 10m recent.db >sample.out 2>&1 ||
  fail "sample --since failed: $(cat sample.out)"
[ "$(sqlite3 recent.db 'SELECT count(*) FROM flows')" = 5 ] ||
  fail "sample --since 10m did not keep the 5 recent flows"
same_flows_schema recent.db || fail "sample changed the flows table"
"$bin" sample --probe probe.db --host www.example.org \
  --url-prefix https://www.example.org/new host.db >/dev/null 2>&1
[ "$(sqlite3 host.db 'SELECT count(*) FROM flows')" = 2 ] ||
  fail "sample --host --url-prefix did not keep 2 flows"
"$bin" sample --probe probe.db --since 10m --force recent.db >/dev/null 2>&1 ||
  fail "sample --force did not replace the file"
"$bin" sample --probe probe.db --since 10x bad.db >/dev/null 2>bad.err
[ $? = 2 ] || fail "an invalid --since was not a usage error"
grep -q "invalid --since '10x'" bad.err || fail "no message for --since 10x"
"$bin" sample --probe probe.db nodir/sub/o.db >/dev/null 2>bad.err
[ $? = 1 ] || fail "sample into a missing folder did not fail"
grep -q "folder 'nodir/sub' for 'nodir/sub/o.db' not found" bad.err ||
  fail "sample into a missing folder: $(cat bad.err)"
for bad in 1e300 99999999999999999999d 0x10m " 5m" -5m inf 5mm; do
  "$bin" sample --probe probe.db --since "$bad" bad.db >/dev/null 2>bad.err
  [ $? = 2 ] || fail "--since '$bad' was not a usage error"
  grep -q "invalid --since '$bad'" bad.err || fail "no message for --since '$bad'"
  [ ! -e bad.db ] || fail "--since '$bad' wrote bad.db"
  "$bin" capture --probe probe.db --for "$bad" bad.db >/dev/null 2>bad.err </dev/null
  [ $? = 2 ] || fail "--for '$bad' was not a usage error"
done

# --- the files open in the REPL's environment like probe.db ---
out=$("$bin" repl --probe cap.db -e \
  'local f = probe:flows{}[2] return f.request.url, #f.response.body, f.request.headers["Accept"]')
[ "$out" = "$(printf 'https://www.example.org/new2\n16\n*/*')" ] ||
  fail "REPL reading the capture: $out"

# --- real captures: the columns and their types match ---
sample="$src_dir/../shared/samples/search-google.db"
if [ -f "$sample" ]; then
  "$bin" sample --probe "$sample" --url-prefix https://www.google.com/search \
    google.db >/dev/null 2>&1 || fail "sample from search-google.db failed"
  for table in flows entities relationships; do
    [ "$(sqlite3 "$sample" "PRAGMA table_info($table)")" = \
      "$(sqlite3 google.db "PRAGMA table_info($table)")" ] ||
      fail "columns of $table differ from search-google.db"
  done
  q="SELECT hex(flow_response_content) || flow_request_url || flow_capture_timestamp FROM flows WHERE flow_id = '0796103bc662486f84f8d9e663564222'"
  [ "$(sqlite3 "$sample" "$q" | md5sum)" = "$(sqlite3 google.db "$q" | md5sum)" ] ||
    fail "the results page differs from search-google.db"
else
  echo "note: ../shared/samples/search-google.db absent; skipped the comparison with a real capture"
fi

if [ "$failures" -gt 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "capture_sample: ok"
