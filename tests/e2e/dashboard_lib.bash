# Shared by the tests/e2e/dashboard_*.sh tests (sourced, not run): building
# knowledge bases and flow stores, starting `stratosphere dashboard` on a
# free port, and loading pages in headless Chromium.
#
# The sourcing script sets bin (the binary) and tmp (a scratch folder) and
# calls dashboard_cleanup from its EXIT trap.

CHROMIUM=/usr/lib/chromium/chromium
failures=0
dashboard_pid=""

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# Exits with 77 (skipped) when the real captures are absent.
require_samples() {
  samples="${ST_SOURCE_DIR:-$(pwd)}/../shared/samples"
  if [ ! -f "$samples/search-google.db" ]; then
    echo "skipped: sample captures not found in $samples"
    exit 77
  fi
}

require_chromium() {
  if [ ! -x "$CHROMIUM" ]; then
    echo "skipped: $CHROMIUM not installed (scripts/setup.sh --test)"
    exit 77
  fi
}

# kb_schema DB: creates the entities and relationships tables of kb.db.
kb_schema() {
  sqlite3 "$1" "
    CREATE TABLE IF NOT EXISTS entities (id VARCHAR NOT NULL,
      type VARCHAR NOT NULL, data VARCHAR, blob BLOB, ts DATETIME NOT NULL,
      PRIMARY KEY (id));
    CREATE TABLE IF NOT EXISTS relationships (id VARCHAR NOT NULL,
      type VARCHAR NOT NULL, src VARCHAR NOT NULL, dst VARCHAR NOT NULL,
      data VARCHAR, blob BLOB, ts DATETIME NOT NULL, PRIMARY KEY (id));"
}

# kb_load DB FILE.kb.json...: loads knowledge bases in the samples'
# .kb.json form into DB, keeping the JSON text of each data value.
kb_load() {
  local db=$1 file
  shift
  kb_schema "$db"
  for file in "$@"; do
    sqlite3 "$db" "
      INSERT OR REPLACE INTO entities (id, type, data, ts)
        SELECT value->>'id', value->>'type',
               CASE json_type(value, '\$.data') WHEN 'null' THEN NULL
                    ELSE value->'data' END, value->>'ts'
        FROM json_each(readfile('$file'), '\$.entities');
      INSERT OR REPLACE INTO relationships (id, type, src, dst, data, ts)
        SELECT value->>'id', value->>'type', value->>'src', value->>'dst',
               CASE json_type(value, '\$.data') WHEN 'null' THEN NULL
                    ELSE value->'data' END, value->>'ts'
        FROM json_each(readfile('$file'), '\$.relationships');" ||
      fail "loading $file into $db failed"
  done
}

# probe_load DB SAMPLE.db...: copies the flows of sample files into DB.
probe_load() {
  local db=$1 file
  shift
  sqlite3 "$db" "ATTACH '$1' AS s; CREATE TABLE flows AS
                 SELECT * FROM s.flows WHERE 0;" || fail "creating $db failed"
  for file in "$@"; do
    sqlite3 "$db" "ATTACH '$file' AS s; INSERT INTO flows SELECT * FROM
                   s.flows ORDER BY rowid;" || fail "copying $file failed"
  done
}

# start_dashboard ARGS...: starts `stratosphere dashboard` on a free port
# with a configuration whose data folder is $tmp/data, and sets base (the
# URL) and port. Returns 1 when it did not start within 10 seconds.
start_dashboard() {
  mkdir -p "$tmp/data"
  printf 'return { data_dir = "%s/data", log_level = "info" }\n' "$tmp" \
    > "$tmp/config.lua"
  "$bin" dashboard --config "$tmp/config.lua" --listen 127.0.0.1:0 "$@" \
    > "$tmp/dashboard.out" 2> "$tmp/dashboard.log" &
  dashboard_pid=$!
  for _ in $(seq 100); do
    base=$(sed -n 's|^dashboard: \(http://127.0.0.1:[0-9]*\)/$|\1|p' \
           "$tmp/dashboard.out")
    if [ -n "$base" ]; then
      port=${base##*:}
      return 0
    fi
    kill -0 "$dashboard_pid" 2>/dev/null || break
    sleep 0.1
  done
  fail "the dashboard did not start: $(cat "$tmp/dashboard.log")"
  return 1
}

# Stops the dashboard with SIGTERM; it must exit with status 0, which an
# ASan build also withholds when memory leaked.
stop_dashboard() {
  local rc
  if [ -n "$dashboard_pid" ]; then
    kill "$dashboard_pid" 2>/dev/null
    wait "$dashboard_pid" 2>/dev/null
    rc=$?
    dashboard_pid=""
    [ "$rc" -eq 0 ] || fail "the dashboard exited with status $rc on SIGTERM:
$(tail -20 "$tmp/dashboard.log")"
  fi
}

# The EXIT trap: stops the dashboard and turns a failure found while
# stopping it into the script's exit status.
dashboard_cleanup() {
  local status=$?
  stop_dashboard
  rm -rf "$tmp"
  [ "$failures" -eq 0 ] || status=1
  exit "$status"
}

# browse PATH NAME: loads $base$PATH in headless Chromium at 1280x800,
# saves the screenshot as $artifacts/NAME.png and the DOM after scripts
# ran as $tmp/NAME.html. Chromium gets a dead proxy and a resolver that
# finds no name, so nothing but 127.0.0.1 is reachable, and its
# background services are off.
browse() {
  local path=$1 name=$2 home="$tmp/chromium-home"
  mkdir -p "$home" "$artifacts"
  HOME=$home timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu \
    --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync \
    --disable-features=NetworkTimeServiceQuerying \
    --user-data-dir="$home/profile" \
    --proxy-server=http://127.0.0.1:9 \
    --host-resolver-rules="MAP * ~NOTFOUND , EXCLUDE 127.0.0.1" \
    --window-size=1280,800 --hide-scrollbars --virtual-time-budget=8000 \
    --screenshot="$artifacts/$name.png" --dump-dom "$base$path" \
    > "$tmp/$name.html" 2> "$tmp/$name.chromium.log"
  if ! grep -q "</html>" "$tmp/$name.html"; then
    fail "$name: Chromium returned no page for $path: $(grep -E 'ERR_|rror' \
          "$tmp/$name.chromium.log" | grep -v dbus | tail -3)"
  fi
  [ -s "$artifacts/$name.png" ] || fail "$name: no screenshot"
}

# expect_in NAME TEXT: the DOM of page NAME contains TEXT.
expect_in() {
  grep -qF -- "$2" "$tmp/$1.html" || fail "$1: '$2' not found in the page"
}

# expect_not_in NAME TEXT
expect_not_in() {
  if grep -qF -- "$2" "$tmp/$1.html"; then
    fail "$1: '$2' found in the page"
  fi
}
