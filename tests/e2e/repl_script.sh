#!/bin/bash
# The REPL's environment without a terminal: `repl -e CODE`, statements
# piped into `repl`, and `lua SCRIPT` with the same globals, on a flows
# file written here; exit statuses and error messages.
# Usage: repl_script.sh BINARY
set -u
bin=$(realpath "$1")

if ! command -v sqlite3 >/dev/null; then
  echo "SKIP: the sqlite3 shell is not installed (scripts/setup.sh --test)"
  exit 77
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
# A configuration file here keeps the notice about built-in defaults out
# of the output checked below.
echo 'return {}' >stratosphere.lua

failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

sqlite3 flows.db <<'EOF'
CREATE TABLE flows (flow_id CHAR(32) NOT NULL, flow_index INTEGER NOT NULL,
  flow_request_host VARCHAR NOT NULL, flow_request_port INTEGER NOT NULL,
  flow_request_method VARCHAR NOT NULL,
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
  flow_capture_timestamp DATETIME, PRIMARY KEY (flow_id));
INSERT INTO flows VALUES ('00000000000000000000000000000001', 0,
  'www.example.org', 443, 'GET', 'https://www.example.org/search?q=owls',
  'https://www.example.org/search?q=owls', 'HTTP/1.1', '{}', NULL, x'',
  '2024-05-01 09:00:00.000000', 200, 'HTTP/1.1',
  '{"content-type": "text/html"}', 'text/html',
  CAST('<h3>Owl facts</h3>' AS BLOB), '2024-05-01 09:00:00.100000',
  '2024-05-01 09:00:00.200000');
EOF

# -e prints the value of an expression.
out=$("$bin" repl --probe flows.db -e '#probe:flows()' 2>&1)
[ "$out" = 1 ] || fail "repl -e printed '$out', expected 1"
out=$("$bin" repl --probe flows.db -e 'probe:sql("SELECT flow_request_host AS host FROM flows")')
[ "$out" = "$(printf 'host\n---------------\nwww.example.org\n(1 row)')" ] ||
  fail "repl -e did not print the rows as a table: $out"

# An error exits with 1 and names the position.
"$bin" repl --probe flows.db -e 'error("bad thing")' >out.txt 2>err.txt
[ $? = 1 ] || fail "repl -e with an error did not exit with 1"
grep -q '(command line):1: bad thing' err.txt ||
  fail "repl -e error message: $(cat err.txt)"
"$bin" repl -e 'for' >/dev/null 2>err.txt
[ $? = 1 ] || fail "repl -e with a syntax error did not exit with 1"
grep -q "expected near <eof>" err.txt || fail "syntax error: $(cat err.txt)"

# Without a terminal, statements are read line by line without prompts.
out=$(printf 'x = 20\nfor i = 1, 2 do\n  x = x + i\nend\n= x\nerror("oops")\n= "after"\n' |
  "$bin" repl --probe flows.db 2>err.txt)
[ "$out" = "$(printf '23\nafter')" ] || fail "piped statements printed '$out'"
grep -q 'stdin:1: oops' err.txt || fail "piped error: $(cat err.txt)"

# `lua SCRIPT` gets the same globals, its arguments, and --probe.
cat > script.lua <<'EOF'
local f = probe:flows{ host = "www.example.org" }[1]
print(arg[1], f.request.url, f.response.body)
local text = {}
local inspect = require "stratosphere.inspect"
inspect.output = function(s) text[#text + 1] = s end
show(f)
print(table.concat(text, "\n"):match("q = owls"))
EOF
out=$("$bin" lua --probe flows.db script.lua first 2>&1)
[ "$out" = "$(printf 'first\thttps://www.example.org/search?q=owls\t<h3>Owl facts</h3>\nq = owls')" ] ||
  fail "lua script output: $out"

# print() of query results shows the text table the REPL prints, not
# the table's address.
out=$(echo 'print(probe:sql("SELECT flow_request_host AS host FROM flows"))' |
  "$bin" lua --probe flows.db - 2>&1)
[ "$out" = "$(printf 'host\n---------------\nwww.example.org\n(1 row)')" ] ||
  fail "print of rows in a script: $out"

# help() says which file is read-only: probe.db. run writes into kb.db.
out=$("$bin" repl --probe flows.db -e 'help()' 2>&1)
case "$out" in
  *"Flows (probe.db, read-only):"*) ;;
  *) fail "help() does not call probe.db read-only: $out" ;;
esac
case "$out" in
  *"kb.db, read-only"*) fail "help() calls kb.db read-only: $out" ;;
  *"Knowledge base (kb.db; these read it, run below writes into it):"*) ;;
  *) fail "help() does not say that run writes into kb.db: $out" ;;
esac

# search() prints its lines and summary and nothing after them.
out=$("$bin" repl --probe flows.db -e 'search(1, "owl")' 2>&1)
[ "$out" = "$(printf '>    1  <h3>Owl facts</h3>\n1 of 1 lines match')" ] ||
  fail "repl -e search printed: $out"

# A missing flows file is named with what to do, on first use only.
"$bin" repl --probe missing.db -e '= 1 + 1' >out.txt 2>&1 ||
  fail "repl failed although it never used the missing file"
"$bin" repl --probe missing.db -e 'overview()' >out.txt 2>&1
[ $? = 1 ] || fail "overview() of a missing file did not fail"
grep -q "failed to open database 'missing.db'.*give --probe FILE" out.txt ||
  fail "missing file message: $(cat out.txt)"
grep -q "\.lua:[0-9]" out.txt && fail "missing file message has a Lua position: $(cat out.txt)"

# inspect takes the file as an argument, and its advice names that form.
"$bin" inspect missing.db >out.txt 2>&1
[ $? = 1 ] || fail "inspect of a missing file did not exit with 1"
grep -q "^failed to open database 'missing.db'.*; give the path of a probe.db or a sample file$" out.txt ||
  fail "inspect missing file message: $(cat out.txt)"
"$bin" inspect >out.txt 2>&1
[ $? = 1 ] || fail "inspect without flows did not exit with 1"
grep -q "record flows with 'stratosphere run' or give a file: stratosphere inspect FILE$" out.txt ||
  fail "inspect without flows message: $(cat out.txt)"
grep -q -- "--probe\|\.lua:[0-9]" out.txt && fail "inspect message names --probe or a Lua position: $(cat out.txt)"

# The databases are opened read-only.
"$bin" repl --probe flows.db -e 'probe:sql("DELETE FROM flows")' >out.txt 2>&1
[ $? = 1 ] || fail "a DELETE through probe:sql did not fail"
grep -q "is open read-only" out.txt || fail "read-only message: $(cat out.txt)"
[ "$(sqlite3 flows.db 'SELECT count(*) FROM flows')" = 1 ] ||
  fail "the flows file changed"

if [ "$failures" -gt 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "repl_script: ok"
