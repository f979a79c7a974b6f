# Many connections at once: 1000 keep-alive clients, 200 clients that send
# their request head one byte a second, and more connections than the
# proxy has file descriptors. The proxy must respond to every keep-alive
# request, close each slow client at the header timeout while fast clients
# keep their latency, survive running out of descriptors, and end with as
# many descriptors as it started with. Peak RSS is printed for each part.
#
# Environment: ST_LOAD_CONNECTIONS (default 1000) and ST_LOAD_SLOW (default
# 200) set the sizes; ST_LATENCY_RATIO_MAX (default 3) bounds the ratio of
# fast clients' latency during the slow clients to that before them.
BIN=${1:?usage: bash load_connections.sh STRATOSPHERE_BINARY}
. "${ST_SOURCE_DIR:-.}/tests/e2e/hardening_lib.bash"
require_tools curl sqlite3 python3 nginx hey unshare ip
enter_netns "$@"
. "${ST_SOURCE_DIR:-.}/tests/fixtures/proxy_env.sh"

CONNECTIONS=${ST_LOAD_CONNECTIONS:-1000}
SLOW=${ST_LOAD_SLOW:-200}
RATIO_MAX=${ST_LATENCY_RATIO_MAX:-3}
HEADER_TIMEOUT=3
CLIENTS="python3 $SRC/tests/e2e/load_clients.py"

# Each keep-alive connection uses a client and an upstream descriptor.
ulimit -n 16384 || { echo "skip: cannot raise the file descriptor limit"; exit 77; }

start_nginx
head -c 2000 /dev/zero | tr '\0' t >"$TMP/nginx/html/page.txt"
URL=http://127.0.0.1:$NGINX_PORT/page.txt

start_service l proxy "proxy = { header_timeout = $HEADER_TIMEOUT },"
PORT=${PROXY_l##*:}
curl -s -o /dev/null -x "http://$PROXY_l" "$URL"
sleep 0.5
FD0=$(fd_count "$PID_l")
echo "start: $FD0 file descriptors, RSS $(rss_kb "$PID_l") KiB"

# json FILE KEY: a value from the clients' JSON summary.
json() {
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
    "$1" "$2"
}

# fast_latency: mean latency in microseconds of 4 clients for 2 s, from
# hey's rate (its latencies have a resolution of 100 us).
fast_latency() {
  hey -cpus 1 -z 2s -c 4 -x "http://$PROXY_l" "$URL" >"$TMP/hey.out" 2>&1
  grep -q "Error distribution" "$TMP/hey.out" &&
    fail "fast clients: errors: $(grep -A3 'Error distribution' "$TMP/hey.out")"
  awk '/Requests\/sec:/ { printf "%d\n", 4 * 1000000 / $2; exit }' "$TMP/hey.out"
}

settled() {
  [ "$(fd_count "$PID_l")" -le "$FD0" ]
}


# ---- 1000 keep-alive connections -------------------------------------------
$CLIENTS keepalive "$PORT" "$URL" "$CONNECTIONS" 3 >"$TMP/keepalive.json"
check_eq "keep-alive: every response is 200 with its body" \
  $((CONNECTIONS * 3)) "$(json "$TMP/keepalive.json" ok)"
check_eq "keep-alive: connections open together" "$CONNECTIONS" \
  "$(json "$TMP/keepalive.json" open_max)"
check_eq "keep-alive: client errors" 0 "$(json "$TMP/keepalive.json" errors)"
echo "keep-alive: $CONNECTIONS connections, slowest response" \
  "$(json "$TMP/keepalive.json" slowest_ms) ms, peak RSS $(peak_rss_kb "$PID_l") KiB"
wait_until 10 settled
check_le "keep-alive: descriptors back to the start" "$FD0" "$(fd_count "$PID_l")"


# ---- 200 slow clients next to fast ones --------------------------------------
BEFORE=$(fast_latency)
$CLIENTS slow "$PORT" "$URL" "$SLOW" 1 >"$TMP/slow.json" &
SLOW_PID=$!
sleep 0.5
DURING=$(fast_latency)
wait "$SLOW_PID"
echo "fast clients: $BEFORE us before, $DURING us during $SLOW slow clients"
check_le "fast clients: latency within ${RATIO_MAX}x during the slow ones" \
  $((BEFORE * RATIO_MAX)) "$DURING"
python3 - "$TMP/slow.json" "$HEADER_TIMEOUT" >"$TMP/slow.summary" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))
limit = float(sys.argv[2])
times = [r["closed_after"] for r in results]
open_ = sum(1 for t in times if t is None)
early = sum(1 for t in times if t is not None and t < limit - 0.5)
late = sum(1 for t in times if t is not None and t > limit + 2)
replies = sorted({r["received"].split("\r\n")[0] for r in results})
print(open_, early, late, max(t for t in times if t is not None), replies)
PY
read -r still_open early late slowest replies <"$TMP/slow.summary"
echo "slow clients: last closed after $slowest s; replies: $replies"
check_eq "slow clients: all closed" 0 "$still_open"
check_eq "slow clients: none closed before the header timeout" 0 "$early"
check_eq "slow clients: none closed 2 s after the header timeout" 0 "$late"
echo "slow clients: peak RSS $(peak_rss_kb "$PID_l") KiB"
wait_until 10 settled
check_le "slow clients: descriptors back to the start" "$FD0" "$(fd_count "$PID_l")"


# ---- More connections than descriptors ----------------------------------------
# prlimit lowers the running proxy's limit; connections beyond it must be
# refused or closed without harm to the ones it holds, and the proxy must
# serve again once they go.
# cpu_ticks PID: user and system time the process used, in clock ticks.
cpu_ticks() {
  awk '{ print $14 + $15 }' "/proc/$1/stat"
}

if command -v prlimit >/dev/null; then
  prlimit --pid "$PID_l" --nofile=256:
  TICKS0=$(cpu_ticks "$PID_l")
  $CLIENTS hold "$PORT" 600 3 >"$TMP/hold.json" &
  HOLD=$!
  sleep 1
  code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' -x "http://$PROXY_l" "$URL")
  echo "out of descriptors: a new request got '$code' (000: refused or closed)"
  wait "$HOLD"
  TICKS=$(( $(cpu_ticks "$PID_l") - TICKS0 ))
  HZ=$(getconf CLK_TCK)
  echo "out of descriptors: $(json "$TMP/hold.json" opened) idle connections" \
    "opened; the proxy used $((TICKS * 1000 / HZ)) ms of CPU in about 3 s"
  check_le "out of descriptors: no busy loop (under 1 s of CPU)" "$HZ" "$TICKS"
  check_eq "out of descriptors: still running" 0 \
    "$(kill -0 "$PID_l" 2>/dev/null; echo $?)"
  wait_until 10 settled
  check_eq "out of descriptors: serves again afterwards" 200 \
    "$(curl -s -o /dev/null -m 5 -w '%{http_code}' -x "http://$PROXY_l" "$URL")"
  prlimit --pid "$PID_l" --nofile=16384:
fi

echo "end: $(fd_count "$PID_l") file descriptors, RSS $(rss_kb "$PID_l") KiB," \
  "peak $(peak_rss_kb "$PID_l") KiB"
stop_proxy l
finish
