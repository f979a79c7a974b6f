# Hostile clients against the running proxy: thousands of requests made
# from valid ones (absolute-form, origin-form, CONNECT, chunked, pipelined,
# upgrades, the magic host) by seeded random mutations, each written in
# random pieces on its own connection. This reaches the proxy's code
# around the HTTP parser (request targets, CONNECT authorities, the magic
# host, body relaying) with real sockets. The proxy must stay up, respond to or
# close every connection, end with the file descriptors it started with,
# and still proxy a normal request. In the AddressSanitizer build any
# memory error stops the proxy and fails the test. Everything runs in a
# private network namespace, so a mutated target that names another host
# reaches nothing.
#
# Environment: ST_HOSTILE_COUNT (default 3000) and ST_HOSTILE_SEED
# (default 1) set the number of requests and the mutations.
BIN=${1:?usage: bash fault_hostile_clients.sh STRATOSPHERE_BINARY}
. "${ST_SOURCE_DIR:-.}/tests/e2e/hardening_lib.bash"
require_tools curl sqlite3 python3 nginx unshare ip
enter_netns "$@"
. "${ST_SOURCE_DIR:-.}/tests/fixtures/proxy_env.sh"

COUNT=${ST_HOSTILE_COUNT:-3000}
SEED=${ST_HOSTILE_SEED:-1}

start_nginx
echo ok >"$TMP/nginx/html/ok.txt"
start_service x proxy "proxy = { header_timeout = 1, idle_timeout = 1,
                                 upstream_timeout = 1 },"
FD0=$(fd_count "$PID_x")

python3 "$SRC/tests/e2e/fault_hostile_clients.py" "${PROXY_x##*:}" \
  "$NGINX_PORT" "$COUNT" "$SEED" >"$TMP/hostile.json"
echo "hostile clients (seed $SEED): $(cat "$TMP/hostile.json")"

check_eq "proxy still running" 0 "$(kill -0 "$PID_x" 2>/dev/null; echo $?)"
json() {
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
    "$TMP/hostile.json" "$1"
}
check_eq "every request was sent" "$COUNT" "$(json sent)"
check_ge "most requests got a status line" $((COUNT / 2)) "$(json answered)"
settled() {
  [ "$(fd_count "$PID_x")" -le "$FD0" ]
}
wait_until 10 settled
check_le "file descriptors back to the start" "$FD0" "$(fd_count "$PID_x")"
check_eq "a normal request still works" 200 \
  "$(curl -s -o /dev/null -m 5 -w '%{http_code}' -x "http://$PROXY_x" \
     "http://127.0.0.1:$NGINX_PORT/ok.txt")"
check_lacks "no crash report in the log" "AddressSanitizer" \
  "$(cat "$TMP/x.proxy.log")"
stop_proxy x
finish
