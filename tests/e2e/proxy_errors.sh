# End-to-end: the responses the proxy sends when the request or the origin
# is wrong (400, 407, 431, 502, 504), its timeouts, and that none of this
# stops it from serving the next client.
BIN=${1:?usage: bash proxy_errors.sh STRATOSPHERE_BINARY}
. "${ST_SOURCE_DIR:-.}/tests/fixtures/proxy_env.sh"

for tool in curl openssl python3; do
  command -v "$tool" >/dev/null || { echo "skip: $tool is not installed"; exit 77; }
done

make_cert origin origin.test "DNS:origin.test,IP:127.0.0.1"
make_cert other other.test "DNS:other.test"
start_origin plain
start_origin tls --tls "$TMP/origin.pem" "$TMP/origin.key"
start_proxy p "proxy = { upstream_timeout = 1, header_timeout = 1,
                         idle_timeout = 2 },"
start_proxy auth "proxy = { user = 'alice', password = 's3cret' },"

# raw ADDR TEXT: sends TEXT (printf escapes) and prints the status line.
raw() {
  python3 - "$1" "$2" <<'PY'
import socket, sys
host, port = sys.argv[1].split(":")
s = socket.create_connection((host, int(port)), timeout=5)
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
data = b""
try:
    while b"\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
except socket.timeout:
    pass
print(data.split(b"\r\n")[0].decode())
PY
}

status() {
  curl -s -m 10 -o /dev/null -w '%{http_code}' "$@"
}

O=http://127.0.0.1:$PORT_plain
check_eq "malformed request: 400" "HTTP/1.1 400 Bad Request" \
  "$(raw "$PROXY_p" 'GARBAGE\r\n\r\n')"
check_eq "smuggling TE+CL: 400" "HTTP/1.1 400 Bad Request" \
  "$(raw "$PROXY_p" "POST $O/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")"
check_eq "smuggling two lengths: 400" "HTTP/1.1 400 Bad Request" \
  "$(raw "$PROXY_p" "POST $O/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")"
big=$(head -c 70000 /dev/zero | tr '\0' a)
check_eq "head over 64 KiB: 431" "431" \
  "$(status -x "http://$PROXY_p" -H "X-Big: $big" "$O/echo")"

# Nothing listens on this port once the socket is closed.
dead=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
body=$(curl -s -m 10 -x "http://$PROXY_p" "http://127.0.0.1:$dead/")
check_has "unreachable: 502 names the host" "cannot connect to 127.0.0.1:$dead" "$body"
check_eq "unresolvable: 502" "502" \
  "$(status -x "http://$PROXY_p" "http://no-such-host.invalid/")"
check_eq "slow origin: 504" "504" \
  "$(status -x "http://$PROXY_p" "$O/slow?s=3")"
self_body=$(curl -s -m 10 -x "http://$PROXY_p" "http://$PROXY_p/x")
check_has "request to itself: refused" "this proxy's own address" "$self_body"
# Other spellings of the same listener: the check compares addresses.
SELF_PORT=${PROXY_p##*:}
for target in "0.0.0.0:$SELF_PORT" "[::ffff:127.0.0.1]:$SELF_PORT" \
    "[::ffff:0.0.0.0]:$SELF_PORT"; do
  self_body=$(curl -s -m 10 -x "http://$PROXY_p" "http://$target/x")
  check_has "request to itself as $target: refused" \
    "this proxy's own address" "$self_body"
  check_eq "CONNECT to itself as $target: 502" 502 \
    "$(curl -s -m 10 -o /dev/null -w '%{http_connect}' -x "http://$PROXY_p" \
       -p "http://$target/x")"
done

# Upstream certificate checks: the origin's CA is not trusted here.
tls_body=$(curl -s -m 10 -x "http://$PROXY_p" --cacert "$TMP/p/ca/ca.pem" \
  "https://127.0.0.1:$PORT_tls/html")
check_has "untrusted origin: 502 with the reason" "certificate verify failed" \
  "$tls_body"
check_has "untrusted origin: 502 says what to do" \
  "; trust its CA with --ca-file FILE, or use --upstream-insecure for lab servers" \
  "$tls_body"
check_has "untrusted origin: log names the host and what to do" \
  "502: TLS with 127.0.0.1 failed: certificate verify failed" "$(cat "$TMP/p.proxy.log")"
check_eq "untrusted origin: logged once" "1" \
  "$(grep -c "certificate verify failed" "$TMP/p.proxy.log")"

# Slowloris: a head that never ends is cut after header_timeout.
cut=$(python3 - "$PROXY_p" <<'PY'
import socket, sys, time
host, port = sys.argv[1].split(":")
s = socket.create_connection((host, int(port)), timeout=5)
s.sendall(b"GET http://127.0.0.1:1/ HTTP/1.1\r\nX-Slow: 1\r\n")
start = time.time()
try:
    while s.recv(4096):
        pass
    print("closed", int(time.time() - start) <= 3)
except socket.timeout:
    print("still open")
PY
)
check_eq "header timeout closes" "closed True" "$cut"

# Proxy authentication: 407 without or with wrong credentials.
check_eq "auth: missing gives 407" "407" \
  "$(status -x "http://$PROXY_auth" "$O/html")"
check_eq "auth: wrong gives 407" "407" \
  "$(status -x "http://$PROXY_auth" -U alice:nope "$O/html")"
check_eq "auth: right passes" "200" \
  "$(status -x "http://$PROXY_auth" -U alice:s3cret "$O/html")"
check_eq "auth: CONNECT without credentials" "407" \
  "$(curl -s -m 10 -o /dev/null -w '%{http_connect}' -x "http://$PROXY_auth" \
     -p "$O/html")"

# Still serving after all of the above.
check_eq "still serving" "200" "$(status -x "http://$PROXY_p" "$O/html")"

# Beyond loopback without credentials, the proxy does not start, and
# stops before it creates anything in the data folder.
printf 'return { data_dir = "%s/x" }\n' "$TMP" >"$TMP/open.lua"
out=$("$BIN" proxy -c "$TMP/open.lua" --listen 0.0.0.0:0 2>&1)
check_eq "open listener without credentials: exit 2" "2" "$?"
check_has "open listener: says why" "requires proxy.user and proxy.password" \
  "$out"
check_eq "open listener: no data folder" "absent" \
  "$([ -e "$TMP/x" ] && echo present || echo absent)"

stop_proxy auth
check_eq "auth: nothing recorded for 407" "0" \
  "$(sqlite3 "$TMP/auth/probe.db" "SELECT count(*) FROM flows
     WHERE flow_response_status_code = 407")"
stop_proxy p
finish
