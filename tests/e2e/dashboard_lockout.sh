#!/usr/bin/env bash
# Clients that hold connections cannot lock others out of the dashboard,
# which serves one request at a time and keeps at most 64 connections.
# Hundreds of sockets that send nothing, then hundreds that send a request
# one byte at a time, are open while curl loads a page, and curl must get
# it within 3 seconds each time. A request that never completes is closed
# with 408 by the header timeout (10 s).
set -u
bin=$(realpath "${1:?usage: dashboard_lockout.sh BINARY}")
tmp=$(mktemp -d)
# shellcheck source=tests/e2e/dashboard_lib.bash
. "$(dirname "$0")/dashboard_lib.bash"
holder_pid=""
# Stops the socket holder, then hands the script's exit status on to
# dashboard_cleanup, which reads it from $?.
cleanup() {
  local status=$?
  if [ -n "$holder_pid" ]; then
    kill "$holder_pid" 2>/dev/null
    wait "$holder_pid" 2>/dev/null
  fi
  (exit "$status")
  dashboard_cleanup
}
trap cleanup EXIT

kb_schema "$tmp/kb.db"
start_dashboard --kb "$tmp/kb.db" || exit 1

# holder PORT PHASE_FILE: opens IDLE_COUNT silent sockets, writes "idle"
# to PHASE_FILE and waits for PHASE_FILE.idle.done. Then it opens
# SLOW_COUNT sockets that each send a request a byte every half second,
# writes "slow", and keeps everything open until killed or 60 seconds
# pass.
cat > "$tmp/holder.py" <<'PY'
import os, socket, sys, time

port, phase_file = int(sys.argv[1]), sys.argv[2]
IDLE_COUNT, SLOW_COUNT = 200, 200
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"x" * 1000


def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setblocking(False)
    return s


def phase(name):
    with open(phase_file, "w") as f:
        f.write(name)


def wait_done(name):
    deadline = time.monotonic() + 60
    while not os.path.exists(phase_file + "." + name + ".done"):
        if time.monotonic() > deadline:
            sys.exit("no one marked phase %s as done" % name)
        time.sleep(0.05)


idle = [connect() for _ in range(IDLE_COUNT)]
# Give the server time to accept every socket, so that none of them
# arrives after curl's.
time.sleep(1)
phase("idle")
wait_done("idle")
slow = []
for _ in range(SLOW_COUNT):
    s = connect()
    s.send(REQUEST[:1])
    slow.append([s, 1])
time.sleep(1)
phase("slow")
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    time.sleep(0.5)
    for entry in slow:
        s, sent = entry
        try:
            s.send(REQUEST[sent:sent + 1])
            entry[1] = min(sent + 1, len(REQUEST) - 1)
        except OSError:
            pass
PY
python3 "$tmp/holder.py" "$port" "$tmp/phase" &
holder_pid=$!

# fetch NAME: curl loads the home page; fails unless it gets 200 within
# 3 seconds.
fetch() {
  local started code elapsed
  started=$(date +%s%N)
  code=$(curl -s -o /dev/null -m 3 -w '%{http_code}' "$base/")
  elapsed=$((($(date +%s%N) - started) / 1000000))
  [ "$code" = 200 ] || fail "$1: curl got status '$code' after $elapsed ms"
  echo "$1: status $code in $elapsed ms"
}

wait_phase() {
  for _ in $(seq 200); do
    [ "$(cat "$tmp/phase" 2>/dev/null)" = "$1" ] && return 0
    kill -0 "$holder_pid" 2>/dev/null || break
    sleep 0.1
  done
  fail "the socket holder did not reach phase '$1'"
  return 1
}

wait_phase idle && for i in 1 2 3; do fetch "with 200 silent sockets ($i)"; done
touch "$tmp/phase.idle.done"
wait_phase slow && for i in 1 2 3; do fetch "with 200 slow requests ($i)"; done
kill "$holder_pid" 2>/dev/null
wait "$holder_pid" 2>/dev/null
holder_pid=""
fetch "after the clients left"

# The header timeout: a request that stops half way gets 408 and the
# connection closes, after 10 s and well before 15 s.
started=$(date +%s)
reply=$(python3 - "$port" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15)
s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
data = b""
try:
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
except socket.timeout:
    data += b"(timed out)"
print(data.split(b"\r\n")[0].decode(errors="replace"))
PY
)
elapsed=$(($(date +%s) - started))
case "$reply" in
  "HTTP/1.1 408 "*) ;;
  *) fail "an incomplete request got '$reply' instead of 408" ;;
esac
[ "$elapsed" -ge 9 ] && [ "$elapsed" -le 13 ] ||
  fail "an incomplete request was closed after $elapsed s, expected 10"
