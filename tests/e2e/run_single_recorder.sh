# One recorder per data folder. A second `stratosphere proxy` or `run` on
# a folder that a running recorder has locked exits with status 1. It
# names the holder's pid before it opens any database, and the first
# recorder keeps recording.
# The lock goes with the process, so a recorder killed with SIGKILL does
# not block the next start.
BIN=${1:?usage: bash run_single_recorder.sh STRATOSPHERE_BINARY}
. "${ST_SOURCE_DIR:-.}/tests/fixtures/proxy_env.sh"
require() { command -v "$1" >/dev/null || { echo "SKIP: $1 not installed"; exit 77; }; }
require curl
require sqlite3

start_origin web
start_proxy one "pipeline = { extractors = \"$TMP/none\" }"

# ---- A second recorder on the same folder ----------------------------------
for cmd in proxy run; do
  timeout 20 "$BIN" "$cmd" -c "$TMP/one.lua" --listen 127.0.0.1:0 \
    >"$TMP/second.$cmd.log" 2>&1
  rc=$?
  check_eq "second $cmd exits with status 1" 1 "$rc"
  log=$(cat "$TMP/second.$cmd.log")
  check_has "second $cmd names the running pid" "(pid $PID_one)" "$log"
  check_has "second $cmd names the folder" "recording into $TMP/one" "$log"
  check_lacks "second $cmd starts no writer" "writer:" "$log"
done
check_eq "lock file holds the pid" "$PID_one" "$(cat "$TMP/one/recorder.lock")"

# ---- The first one still records -------------------------------------------
body=$(curl -sS --max-time 10 -x "http://$PROXY_one" \
  "http://127.0.0.1:$PORT_web/echo?tag=still-recording")
check_has "first proxy still serves" '"method": "GET"' "$body"
stop_proxy one
flows=$(sqlite3 "$TMP/one/probe.db" \
  "SELECT count(*) FROM flows WHERE flow_request_url LIKE '%still-recording%'")
check_eq "first proxy recorded the flow" 1 "$flows"

# ---- After a clean stop, and after SIGKILL, the folder is free -------------
# start_proxy waits for "listening on" in the log, so each restart starts
# from an empty log.
rm -f "$TMP/one.proxy.log"
start_proxy one "pipeline = { extractors = \"$TMP/none\" }"
check_eq "lock taken again after a clean stop" "$PID_one" \
  "$(cat "$TMP/one/recorder.lock")"
kill -KILL "$PID_one"
wait "$PID_one" 2>/dev/null
rm -f "$TMP/one.proxy.log"
start_proxy one "pipeline = { extractors = \"$TMP/none\" }"
check_eq "lock taken again after SIGKILL" "$PID_one" \
  "$(cat "$TMP/one/recorder.lock")"
stop_proxy one

finish
