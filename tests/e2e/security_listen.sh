# What the recorder exposes on the network. With the default configuration
# every socket `stratosphere run` listens on is bound to 127.0.0.1, read
# from /proc/net/tcp, tcp6, udp and udp6 by socket inode. Listening beyond
# loopback without proxy.user and proxy.password is refused at start; with
# them, a missing or wrong credential gets 407 and reaches no origin and
# no record. A request whose target is the proxy's own listener is
# answered at once instead of looping through the proxy.
BIN=${1:?usage: bash security_listen.sh STRATOSPHERE_BINARY}
. "${ST_SOURCE_DIR:-.}/tests/e2e/hardening_lib.bash"
require_tools curl sqlite3 python3 nginx unshare ip
enter_netns "$@"
. "${ST_SOURCE_DIR:-.}/tests/fixtures/proxy_env.sh"

# A second, non-loopback address for this namespace's loopback device:
# a listener on 0.0.0.0 is reachable on it as it would be on a LAN.
LAN=10.77.0.1
ip addr add "$LAN/32" dev lo

NGINX_SERVER_EXTRA="access_log $TMP/access.log;"
start_nginx
echo ok >"$TMP/nginx/html/ok.txt"
ORIGIN=http://127.0.0.1:$NGINX_PORT

# sockets PID: "PROTO ADDRESS:PORT" for each socket PID listens on (TCP)
# or has bound (UDP), with addresses in the kernel's hex notation decoded.
sockets() {
  python3 - "$1" <<'PY'
import os, socket, struct, sys

pid = sys.argv[1]
inodes = set()
for fd in os.listdir(f"/proc/{pid}/fd"):
    try:
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        continue
    if target.startswith("socket:["):
        inodes.add(target[8:-1])


def address(hex_addr):
    host, port = hex_addr.split(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        return "%s:%d" % (socket.inet_ntop(socket.AF_INET, raw[::-1]),
                          int(port, 16))
    words = struct.unpack("<4I", raw)
    raw = struct.pack(">4I", *words)
    return "[%s]:%d" % (socket.inet_ntop(socket.AF_INET6, raw), int(port, 16))


for proto in ("tcp", "tcp6", "udp", "udp6"):
    with open(f"/proc/{pid}/net/{proto}") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            listening = state == "0A" if proto.startswith("tcp") else True
            if inode in inodes and listening:
                print(proto, address(local))
PY
}


# ---- Defaults: loopback only -----------------------------------------------
cat >"$TMP/defaults.lua" <<LUA
return { data_dir = "$TMP/defaults", pipeline = { extractors = "$TMP/none" } }
LUA
"$BIN" run -c "$TMP/defaults.lua" >"$TMP/defaults.log" 2>&1 &
PID_defaults=$!
PIDS="$PIDS $PID_defaults"
started() {
  grep -q "proxy: listening on" "$TMP/defaults.log" &&
    grep -q "dashboard listening on" "$TMP/defaults.log"
}
if ! wait_until 15 started; then
  fail "run with defaults did not start"
  cat "$TMP/defaults.log"
fi
sockets "$PID_defaults" >"$TMP/defaults.sockets"
echo "listening with the default configuration:"
sed 's/^/  /' "$TMP/defaults.sockets"
check_eq "defaults: the proxy and the dashboard listen" 2 \
  "$(wc -l <"$TMP/defaults.sockets")"
check_eq "defaults: every socket is on 127.0.0.1" 0 \
  "$(grep -vc ' 127\.0\.0\.1:' "$TMP/defaults.sockets")"
check_has "defaults: the proxy on 8080" "tcp 127.0.0.1:8080" \
  "$(cat "$TMP/defaults.sockets")"
check_has "defaults: the dashboard on 8082" "tcp 127.0.0.1:8082" \
  "$(cat "$TMP/defaults.sockets")"
kill -TERM "$PID_defaults"
wait "$PID_defaults"
check_eq "defaults: clean stop" 0 "$?"


# ---- Beyond loopback without credentials: refused ---------------------------
for listen in 0.0.0.0:0 "[::]:0" "$LAN:0"; do
  cat >"$TMP/open.lua" <<LUA
return { data_dir = "$TMP/open" }
LUA
  out=$(timeout 10 "$BIN" proxy -c "$TMP/open.lua" --listen "$listen" 2>&1)
  status=$?
  check_ge "listen $listen without credentials: fails to start" 1 "$status"
  check_has "listen $listen without credentials: the error says why" \
    "requires proxy.user and proxy.password" "$out"
done
cat >"$TMP/open.lua" <<LUA
return { data_dir = "$TMP/open", proxy = { listen = "0.0.0.0:0" } }
LUA
out=$(timeout 10 "$BIN" proxy -c "$TMP/open.lua" 2>&1)
check_has "proxy.listen = 0.0.0.0 without credentials: refused" \
  "requires proxy.user and proxy.password" "$out"


# ---- Beyond loopback with credentials ----------------------------------------
PORT=$(free_port)
mkdir -p "$TMP/auth"
cat >"$TMP/auth.lua" <<LUA
return {
  data_dir = "$TMP/auth",
  pipeline = { extractors = "$TMP/none" },
  proxy = { listen = "0.0.0.0:$PORT", user = "researcher",
            password = "s3cret pass" },
}
LUA
"$BIN" proxy -c "$TMP/auth.lua" >"$TMP/auth.proxy.log" 2>&1 &
PID_auth=$!
PIDS="$PIDS $PID_auth"
listening() {
  grep -q "listening on 0.0.0.0:$PORT" "$TMP/auth.proxy.log"
}
if ! wait_until 10 listening; then
  fail "authenticated proxy did not start"
  tail "$TMP/auth.proxy.log"
fi
check_has "credentials: listens on every address" "tcp 0.0.0.0:$PORT" \
  "$(sockets "$PID_auth")"

# code PROXY CREDENTIALS URL: the status a client gets, through the CONNECT
# for https URLs.
code() {
  local auth=()
  [ -n "$2" ] && auth=(--proxy-user "$2")
  curl -s -o /dev/null -m 10 -x "http://$1" "${auth[@]}" \
    -w '%{http_code}%{http_connect}' "$3" | sed 's/^000//; s/000$//'
}

for via in "127.0.0.1:$PORT" "$LAN:$PORT"; do
  check_eq "$via: no credentials get 407" 407 "$(code "$via" "" "$ORIGIN/ok.txt?none")"
  check_eq "$via: a wrong password gets 407" 407 \
    "$(code "$via" "researcher:wrong" "$ORIGIN/ok.txt?wrong")"
  check_eq "$via: a wrong user gets 407" 407 \
    "$(code "$via" "someone:s3cret pass" "$ORIGIN/ok.txt?user")"
  check_eq "$via: CONNECT without credentials gets 407" 407 \
    "$(code "$via" "" "https://127.0.0.1:$NGINX_PORT/?connect")"
  check_eq "$via: the right credentials pass" 200 \
    "$(code "$via" "researcher:s3cret pass" "$ORIGIN/ok.txt?right")"
done
head=$(curl -s -D - -o /dev/null -x "http://$LAN:$PORT" "$ORIGIN/ok.txt?head")
check_has "407 names the scheme" "Proxy-Authenticate: Basic" "$head"
check_eq "the origin saw only the authorized requests" 2 \
  "$(grep -c 'GET /ok.txt' "$TMP/access.log")"
check_eq "the origin saw no rejected one" 0 \
  "$(grep -c 'none\|wrong\|user\|connect\|head' "$TMP/access.log")"


# ---- The proxy's own address as the target -------------------------------------
start_service self proxy ""
SELF=${PROXY_self##*:}
FD0=$(fd_count "$PID_self")
for url in "http://127.0.0.1:$SELF/loop" "http://localhost:$SELF/loop" \
    "https://127.0.0.1:$SELF/loop" "https://localhost:$SELF/loop"; do
  out=$(curl -s -m 5 -o "$TMP/self.body" -x "http://$PROXY_self" \
        -w '%{http_code} %{http_connect} %{time_total}' "$url")
  set -- $out
  echo "self: $url -> $1 (CONNECT $2) in $3 s"
  check_le "self: $url answered within 2 s" 2000 \
    "$(awk -v t="$3" 'BEGIN { printf "%d", t * 1000 }')"
done
check_has "self: refused with a reason" "this proxy's own address" \
  "$(cat "$TMP/self.proxy.log")"
self_settled() {
  [ "$(fd_count "$PID_self")" -le "$FD0" ]
}
wait_until 5 self_settled
check_le "self: no connections left open" "$FD0" "$(fd_count "$PID_self")"
stop_proxy self

stop_proxy auth
check_eq "no flow of a rejected request was recorded" 0 \
  "$(sql "$TMP/auth/probe.db" "SELECT count(*) FROM flows
     WHERE flow_request_url NOT LIKE '%?right'")"
check_eq "the authorized requests were recorded" 2 \
  "$(sql "$TMP/auth/probe.db" "SELECT count(*) FROM flows
     WHERE flow_request_url LIKE '%?right'")"
finish
