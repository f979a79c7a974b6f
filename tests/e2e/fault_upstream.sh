# Upstream faults: connection refused, a name that does not resolve, an
# origin that closes without a response, answers garbage, never answers,
# resets or stalls in the middle of a body, and TLS handshakes that fail.
# Each client must get the right status, or a cleanly closed connection
# once the head was sent, within the upstream timeout; a slow download and
# a load run going through the proxy at the same time must not notice; and
# after the faults, repeated many times, the proxy must hold as many file
# descriptors as before and not much more memory.
#
# Environment: ST_FAULT_REPEAT (default 10) sets how many times the whole
# set of faults runs in the leak check.
BIN=${1:?usage: bash fault_upstream.sh STRATOSPHERE_BINARY}
. "${ST_SOURCE_DIR:-.}/tests/e2e/hardening_lib.bash"
require_tools curl sqlite3 python3 nginx hey openssl unshare ip
enter_netns "$@"
. "${ST_SOURCE_DIR:-.}/tests/fixtures/proxy_env.sh"

REPEAT=${ST_FAULT_REPEAT:-10}
TIMEOUT=2  # proxy.upstream_timeout, seconds

start_nginx
head -c 300000 /dev/zero | tr '\0' a >"$TMP/nginx/html/big.txt"
echo '<!doctype html><html><body>ok</body></html>' >"$TMP/nginx/html/ok.html"

# The faulty origin: one plain port whose path picks the fault, and three
# ports whose TLS handshakes fail in different ways.
make_cert untrusted origin.test "DNS:origin.test,IP:127.0.0.1"
cat >"$TMP/faulty.py" <<'PY'
import socket, ssl, struct, sys, threading, time

HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 100000\r\n\r\n")


def read_head(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        data += chunk
    return data.split(b" ")[1].decode().split("?")[0].rsplit("/", 1)[-1]


def plain(conn):
    path = read_head(conn)
    if path == "reset":
        conn.sendall(HEAD + b"x" * 1000)
        time.sleep(0.2)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
    elif path == "stall":
        conn.sendall(HEAD + b"x" * 1000)
        time.sleep(30)
    elif path == "silent":
        time.sleep(30)
    elif path == "garbage":
        conn.sendall(b"\x00\x01 this is not HTTP\r\n\r\n")
    # "close" and anything else: close without a response.


def tls_alert(conn):
    conn.recv(4096)  # the ClientHello
    conn.sendall(b"\x15\x03\x01\x00\x02\x02\x28")  # fatal handshake_failure


def tls_close(conn):
    conn.recv(4096)


def serve(sock, handler, wrap=None):
    while True:
        conn, _ = sock.accept()

        def run(conn=conn):
            try:
                if wrap is not None:
                    conn = wrap(conn)
                handler(conn)
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()
        threading.Thread(target=run, daemon=True).start()


def listen():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1024)
    return s


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
servers = [(listen(), plain, None), (listen(), tls_alert, None),
           (listen(), tls_close, None),
           (listen(), lambda c: c.recv(4096),
            lambda c: ctx.wrap_socket(c, server_side=True))]
print(" ".join(str(s.getsockname()[1]) for s, _, _ in servers), flush=True)
for s, h, w in servers:
    threading.Thread(target=serve, args=(s, h, w), daemon=True).start()
threading.Event().wait()
PY
python3 "$TMP/faulty.py" "$TMP/untrusted.pem" "$TMP/untrusted.key" \
  >"$TMP/faulty.ports" 2>"$TMP/faulty.log" &
PIDS="$PIDS $!"
wait_for_file "$TMP/faulty.ports" 10 || { echo "faulty origin did not start"; exit 1; }
read -r PLAIN ALERT CLOSE UNTRUSTED <"$TMP/faulty.ports"

start_service u proxy "proxy = { upstream_timeout = $TIMEOUT },"
CA=$TMP/u/ca/ca.pem
P=http://$PROXY_u

# fetch URL: prints "CODE CURL_STATUS BYTES MILLISECONDS" for one request
# through the proxy; CODE is the CONNECT's status when the tunnel failed.
fetch() {
  local out rc
  out=$(curl -s -o /dev/null --cacert "$CA" -x "$P" -m 20 \
    -w '%{http_code} %{http_connect} %{size_download} %{time_total}' "$1")
  rc=$?
  set -- $out
  local code=$1
  [ "$code" = 000 ] && code=$2
  printf '%s %s %s %s\n' "$code" "$rc" "$3" \
    "$(awk -v t="$4" 'BEGIN { printf "%d", t * 1000 }')"
}

# check_fault NAME URL CODE CURL_STATUS BYTES MAX_MS: BYTES '*' is not
# checked (error pages).
check_fault() {
  local got
  got=$(fetch "$2")
  set -- "$1" "$2" "$3" "$4" "$5" "$6" $got
  check_eq "$1: status" "$3" "$7"
  check_eq "$1: curl's result" "$4" "$8"
  [ "$5" = '*' ] || check_eq "$1: bytes received" "$5" "$9"
  check_le "$1: milliseconds" "$6" "${10}"
}

# One round of every fault, in parallel; used for the leak check.
all_faults() {
  local u pids=""
  for u in "http://127.0.0.1:1/" "http://nothing.invalid/" \
      "http://127.0.0.1:$PLAIN/close" "http://127.0.0.1:$PLAIN/garbage" \
      "http://127.0.0.1:$PLAIN/silent" "http://127.0.0.1:$PLAIN/reset" \
      "http://127.0.0.1:$PLAIN/stall" "https://127.0.0.1:$ALERT/" \
      "https://127.0.0.1:$CLOSE/" "https://127.0.0.1:$UNTRUSTED/" \
      "https://127.0.0.1:1/"; do
    curl -s -o /dev/null --cacert "$CA" -x "$P" -m 20 "$u" &
    pids="$pids $!"
  done
  # shellcheck disable=SC2086 # one argument per process
  wait $pids
}

# Warm up, then take the baseline.
for i in $(seq 10); do
  curl -s -o /dev/null -x "$P" "http://127.0.0.1:$NGINX_PORT/ok.html"
done
sleep 0.5
FD0=$(fd_count "$PID_u")
RSS0=$(rss_kb "$PID_u")

# A slow download and a steady load run alongside the faults.
curl -s -x "$P" --limit-rate 50k -o "$TMP/big.out" \
  "http://127.0.0.1:$NGINX_PORT/big.txt" &
SLOW=$!
hey -cpus 1 -z 8s -c 4 -x "$P" "http://127.0.0.1:$NGINX_PORT/ok.html" \
  >"$TMP/hey.log" 2>&1 &
HEY=$!

MAX=$((TIMEOUT * 1000 + 1500))
check_fault "refused" "http://127.0.0.1:1/" 502 0 '*' 1500
check_fault "no such name" "http://nothing.invalid/" 502 0 '*' 1500
check_fault "closed without a response" "http://127.0.0.1:$PLAIN/close" 502 0 '*' 1500
check_fault "garbage response" "http://127.0.0.1:$PLAIN/garbage" 502 0 '*' 1500
check_fault "no response" "http://127.0.0.1:$PLAIN/silent" 504 0 '*' "$MAX"
check_fault "reset during the body" "http://127.0.0.1:$PLAIN/reset" 200 18 1000 1500
check_fault "stalled during the body" "http://127.0.0.1:$PLAIN/stall" 200 18 1000 "$MAX"
check_fault "TLS alert" "https://127.0.0.1:$ALERT/" 502 0 '*' 1500
check_fault "TLS closed during the handshake" "https://127.0.0.1:$CLOSE/" 502 0 '*' 1500
check_fault "TLS untrusted certificate" "https://127.0.0.1:$UNTRUSTED/" 502 0 '*' 1500
check_fault "CONNECT refused" "https://127.0.0.1:1/" 502 56 0 1500

wait "$SLOW"
check_eq "slow download alongside the faults: complete" 300000 \
  "$(wc -c <"$TMP/big.out")"
wait "$HEY"
check_has "load alongside the faults: all 200" "[200]" "$(cat "$TMP/hey.log")"
check_lacks "load alongside the faults: no errors" "Error distribution" \
  "$(cat "$TMP/hey.log")"

# The leak check: every fault REPEAT times after one warm-up round, then
# the proxy settles. Memory is compared with the warm-up, because the
# allocator keeps what the load run above made it take.
all_faults
RSS_WARM=$(rss_kb "$PID_u")
for i in $(seq "$REPEAT"); do
  all_faults
done
settled() {
  [ "$(fd_count "$PID_u")" -le "$FD0" ]
}
wait_until 10 settled
FD1=$(fd_count "$PID_u")
RSS1=$(rss_kb "$PID_u")
echo "file descriptors: $FD0 before, $FD1 after $REPEAT rounds of 11 faults"
echo "RSS: $RSS0 KiB at the start, $RSS_WARM KiB after the load and one" \
  "round, $RSS1 KiB after $REPEAT more; peak $(peak_rss_kb "$PID_u") KiB"
check_le "no file descriptor leaked" "$FD0" "$FD1"
if asan_build; then
  echo "RSS growth not checked under AddressSanitizer"
else
  check_le "RSS grew less than 4 MiB over the rounds" $((RSS_WARM + 4096)) \
    "$RSS1"
fi
check_eq "still serving" "200 0 300000" \
  "$(fetch "http://127.0.0.1:$NGINX_PORT/big.txt" | cut -d' ' -f1-3)"
stop_proxy u
finish
