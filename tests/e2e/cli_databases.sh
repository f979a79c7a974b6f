#!/usr/bin/env bash
# Every command that opens probe.db or kb.db checks the file first. The
# bad files: not an SQLite database, failing SQLite's quick check, locked
# by another program, a folder, and a probe.db without a flows table.
# Each stops the command with exit status 1 and one line that names the
# file's full path and what to do. The file is never changed, and nothing
# is created beside it. `extract FILE.db` (a database where extractors
# are expected) is a usage error that suggests --probe.
set -u
bin=$(realpath "${1:?usage: cli_databases.sh BINARY}")
tmp=$(mktemp -d)
locker_pid=""
cleanup() {
  if [ -n "$locker_pid" ]; then
    kill "$locker_pid" 2>/dev/null
    wait "$locker_pid" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
failures=0

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

cd "$tmp" || exit 1
mkdir bad
# Listening on port 0 keeps a command that wrongly starts from taking a
# fixed port; timeout bounds it.
cat > config.lua <<'LUA'
return { data_dir = "data", log_level = "warn",
         proxy = { listen = "127.0.0.1:0" },
         dashboard = { listen = "127.0.0.1:0" } }
LUA
echo 'print("script ran")' > script.lua

# A valid, empty flow store to pair with a bad knowledge base. The
# commands create a missing kb.db themselves.
sqlite3 good-probe.db "CREATE TABLE flows (flow_id CHAR(32) NOT NULL,
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
  flow_capture_timestamp DATETIME, PRIMARY KEY (flow_id))" ||
  fail "creating good-probe.db failed"

# The damaged files, each named after what is wrong with it.
head -c 8192 /dev/urandom > bad/random.db
printf 'these are notes, not a database\n' > bad/text.db
mkdir bad/folder.db
sqlite3 bad/noflows.db "CREATE TABLE other (x);"
sqlite3 bad/corrupt.db "PRAGMA page_size = 4096;
  CREATE TABLE flows (id INTEGER PRIMARY KEY, b TEXT);
  CREATE INDEX flows_b ON flows (b);
  WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r
                          WHERE i < 2000)
  INSERT INTO flows SELECT i, hex(randomblob(20)) FROM r;"
# Page 4 gets an invalid b-tree header; page 1, the schema, stays valid.
printf '\377%.0s' $(seq 64) |
  dd of=bad/corrupt.db bs=1 seek=$((4096 * 3)) conv=notrunc status=none
sqlite3 bad/corrupt.db "PRAGMA quick_check" 2>&1 | grep -q "^ok$" &&
  fail "bad/corrupt.db passes quick_check; the test cannot use it"
sqlite3 bad/locked.db "PRAGMA journal_mode = DELETE;
  CREATE TABLE flows (flow_id TEXT); CREATE TABLE entities (id TEXT);" \
  > /dev/null

# Another program holds an exclusive lock on bad/locked.db, so no reader
# gets in, until the test ends or 300 s pass.
python3 - "$tmp/bad/locked.db" "$tmp/locked.ready" <<'PY' &
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
db.execute("INSERT INTO flows VALUES ('held')")
open(sys.argv[2], "w").close()
time.sleep(300)
PY
locker_pid=$!
for _ in $(seq 100); do
  [ -e locked.ready ] && break
  sleep 0.1
done
[ -e locked.ready ] || fail "the lock on bad/locked.db was not taken"

fingerprint() {
  (cd bad && find . ! -name 'locked.db-journal' -printf '%p %s %m\n' | sort &&
   find . -type f ! -name 'locked.db*' -exec sha256sum {} + | sort)
}
before=$(fingerprint)

# expect_stop WHAT FILE CMD...: CMD must exit with status 1 and print one
# line that names FILE's full path and matches WHAT.
expect_stop() {
  local what=$1 file=$2 out rc lines
  shift 2
  out=$(timeout 10 "$bin" "$@" 2>&1)
  rc=$?
  lines=$(printf '%s\n' "$out" | grep -c .)
  [ "$rc" -eq 1 ] || fail "$*: exit status $rc, expected 1: $out"
  [ "$lines" -eq 1 ] || fail "$*: $lines lines of output, expected 1: $out"
  printf '%s' "$out" | grep -qF -- "$tmp/$file" ||
    fail "$*: the message does not name $tmp/$file: $out"
  printf '%s' "$out" | grep -qE -- "$what" ||
    fail "$*: the message does not match '$what': $out"
}

# use_data_dir FILE KIND: a data folder for `run` whose KIND.db (probe or
# kb) is a copy of FILE (a link for the folder and the locked file). The
# probe.db is otherwise valid, and kb.db otherwise missing.
use_data_dir() {
  rm -rf data
  mkdir -p data
  cp good-probe.db data/probe.db
  rm -f "data/$2.db"
  if [ -d "$1" ] || [ "${1##*/}" = locked.db ]; then
    ln -s "$tmp/$1" "data/$2.db"
  else
    cp "$1" "data/$2.db"
  fi
}

c="--config $tmp/config.lua"
for case in "random:is not an SQLite database" \
    "text:is not an SQLite database" \
    "corrupt:is damaged.*quick_check" \
    "folder:is a folder" \
    "locked:is locked by another program" \
    "noflows:has no flows table"; do
  name=${case%%:*}
  what=${case#*:}
  f=bad/$name.db

  # As the flow store.
  expect_stop "$what" "$f" extract $c --probe "$f"
  expect_stop "$what" "$f" repl $c --probe "$f" -e 1
  expect_stop "$what" "$f" inspect $c "$f"
  expect_stop "$what" "$f" sample $c --probe "$f" out.db
  expect_stop "$what" "$f" capture $c --for 1s --probe "$f" out.db
  expect_stop "$what" "$f" lua $c --probe "$f" script.lua
  expect_stop "$what" "$f" dashboard $c --probe "$f"
  use_data_dir "$f" probe
  if [ -L data/probe.db ]; then
    expect_stop "$what" "data/probe.db" run $c
  else
    out=$(timeout 10 "$bin" run $c 2>&1)
    [ "$?" -eq 1 ] || fail "run with a $name probe.db: did not exit 1: $out"
    printf '%s' "$out" | grep -qE -- "$tmp/data/probe.db.*$what" ||
      fail "run with a $name probe.db: wrong message: $out"
  fi
  [ -e out.db ] && fail "sample or capture wrote out.db from $f"

  # As the knowledge base: a kb.db needs no flows table.
  rm -rf data
  [ "$name" = noflows ] && continue
  expect_stop "$what" "$f" extract $c --probe good-probe.db --kb "$f"
  expect_stop "$what" "$f" repl $c --kb "$f" -e 1
  expect_stop "$what" "$f" lua $c --kb "$f" script.lua
  expect_stop "$what" "$f" dashboard $c --kb "$f"
  use_data_dir "$f" kb
  out=$(timeout 10 "$bin" run $c 2>&1)
  [ "$?" -eq 1 ] || fail "run with a $name kb.db: did not exit 1: $out"
  printf '%s' "$out" | grep -qE -- "data/kb.db.*$what" ||
    fail "run with a $name kb.db: wrong message: $out"
done

after=$(fingerprint)
[ "$before" = "$after" ] ||
  fail "the damaged files changed:
$(diff <(printf '%s\n' "$before") <(printf '%s\n' "$after"))"

# Valid files still work, and a missing kb.db is no error.
out=$(timeout 10 "$bin" repl $c --probe good-probe.db --kb missing-kb.db \
      -e 'probe:sql("SELECT count(*) AS n FROM flows")[1].n' 2>&1)
[ "$out" = 0 ] || fail "repl on valid files: $out"

# extract FILE.db: the database given where extractors are expected.
out=$(timeout 10 "$bin" extract $c good-probe.db 2>&1)
rc=$?
[ "$rc" -eq 2 ] || fail "extract good-probe.db: exit status $rc, expected 2"
printf '%s' "$out" | grep -qF -- "--probe good-probe.db" ||
  fail "extract good-probe.db: no --probe suggestion: $out"
[ "$(printf '%s\n' "$out" | grep -c .)" -eq 1 ] ||
  fail "extract good-probe.db: expected one line: $out"
out=$(timeout 10 "$bin" extract $c bad/random.db 2>&1)
[ "$?" -eq 2 ] || fail "extract bad/random.db: exit status not 2: $out"
# An SQLite file is recognized by its header whatever its name.
cp good-probe.db flows.data
out=$(timeout 10 "$bin" extract $c flows.data 2>&1)
[ "$?" -eq 2 ] || fail "extract flows.data: exit status not 2: $out"
printf '%s' "$out" | grep -qF -- "--probe flows.data" ||
  fail "extract flows.data: no --probe suggestion: $out"

# A --kb or --probe path in a missing folder is named with the folder.
for cmd in "extract $c --probe good-probe.db --kb nodir/kb.db" \
    "repl $c --probe nodir/probe.db -e 1"; do
  # shellcheck disable=SC2086 # the command's words
  out=$(timeout 10 "$bin" $cmd 2>&1)
  rc=$?
  [ "$rc" -eq 1 ] || fail "$cmd: exit status $rc, expected 1: $out"
  printf '%s' "$out" | grep -qF -- "folder $tmp/nodir for" ||
    fail "$cmd: the message does not name the missing folder: $out"
done
[ ! -e nodir ] || fail "a command created the missing folder"

# --probe and --kb naming one file, also through a symbolic link: a usage
# error, and the probe is left as it was.
ln -s good-probe.db link-probe.db
sum=$(sha256sum < good-probe.db)
for kb in good-probe.db link-probe.db ./good-probe.db; do
  out=$(timeout 10 "$bin" extract $c --probe good-probe.db --kb "$kb" 2>&1)
  rc=$?
  [ "$rc" -eq 2 ] || fail "extract --kb $kb: exit status $rc, expected 2: $out"
  printf '%s' "$out" | grep -qF -- "--probe and --kb name the same file" ||
    fail "extract --kb $kb: no message: $out"
done
[ "$(sha256sum < good-probe.db)" = "$sum" ] ||
  fail "extract with --kb naming the probe changed the probe"

[ "$failures" -eq 0 ] || exit 1
echo "ok"
