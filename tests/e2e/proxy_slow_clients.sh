# End-to-end: slow clients. One that uploads a request body slowly, with
# pauses shorter than idle_timeout, gets its response however long the
# whole upload takes, on a fresh origin connection and on one kept alive
# from an earlier request. A body that stops arriving for idle_timeout
# gets 408. One that downloads slowly gets the whole response however long
# it takes, even when the proxy stops reading the origin for longer than
# upstream_timeout to wait for the client.
BIN=${1:?usage: bash proxy_slow_clients.sh STRATOSPHERE_BINARY}
. "${ST_SOURCE_DIR:-.}/tests/fixtures/proxy_env.sh"

command -v python3 >/dev/null || { echo "skip: python3 is not installed"; exit 77; }

start_origin plain
start_proxy p "proxy = { idle_timeout = 2, upstream_timeout = 2 },"

# upload WARM PIECES PAUSE [STALL]: one client connection. With WARM=1 it
# first sends a GET, so the POST reuses the kept-alive origin connection.
# The POST body is PIECES pieces of 10 bytes, each followed by a pause of
# PAUSE seconds. With STALL=1 the head announces one piece more, which
# never comes. Prints the POST's status line and body, or "closed" and the
# seconds it took.
upload() {
  python3 - "$PROXY_p" "$PORT_plain" "$@" <<'PY'
import socket, sys, time
proxy, origin, warm, pieces, pause = sys.argv[1:6]
stall = len(sys.argv) > 6 and sys.argv[6] == "1"
host, port = proxy.split(":")
target = "http://127.0.0.1:%s" % origin
s = socket.create_connection((host, int(port)), timeout=15)
f = s.makefile("rb")

def response():
    status = f.readline().decode().strip()
    length = 0
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return status, f.read(length).decode()

if warm == "1":
    s.sendall(("GET %s/head HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
               % target).encode())
    response()
pieces, pause = int(pieces), float(pause)
s.sendall(("POST %s/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           "Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
           % (target, 10 * (pieces + stall))).encode())
start = time.time()
try:
    for i in range(pieces):
        s.sendall(b"%010d" % i)
        time.sleep(pause)
    status, body = response()
    print(status)
    print(body)
except (BrokenPipeError, ConnectionResetError):
    print("closed after %.0f s" % (time.time() - start))
PY
}

# Eight pieces half a second apart: 4 s, twice both timeouts.
out=$(upload 0 8 0.5)
check_has "fresh origin connection: 200" "HTTP/1.1 200 OK" "$out"
check_has "fresh origin connection: whole body" "0000000007" "$out"
out=$(upload 1 8 0.5)
check_has "reused origin connection: 200" "HTTP/1.1 200 OK" "$out"
check_has "reused origin connection: whole body" "0000000007" "$out"
check_lacks "no 504 logged" " 504: " "$(cat "$TMP/p.proxy.log")"

# One piece, then nothing: the body stalls for more than idle_timeout.
out=$(upload 1 1 4 1 2>&1)
check_has "stalled body: 408" "HTTP/1.1 408 Request Timeout" "$out"

# A client that waits for 100 Continue sends nothing while the origin
# takes longer than idle_timeout to respond, and that is not a stalled
# body.
start_proxy w "proxy = { idle_timeout = 1, upstream_timeout = 4 },"
out=$(python3 - "$PROXY_w" "$PORT_plain" <<'PY'
import socket, sys
host, port = sys.argv[1].split(":")
s = socket.create_connection((host, int(port)), timeout=10)
s.sendall(("POST http://127.0.0.1:%s/continue?delay=2 HTTP/1.1\r\n"
           "Host: 127.0.0.1\r\nContent-Length: 3\r\n"
           "Expect: 100-continue\r\nConnection: close\r\n\r\n"
           % sys.argv[2]).encode())
interim = s.recv(4096).decode().split("\r\n")[0]
s.sendall(b"xyz")
data = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
print(interim)
print(data.decode().split("\r\n")[0])
print(data.decode().split("\r\n\r\n", 1)[-1])
PY
)
check_has "slow 100 Continue: the interim response" "HTTP/1.1 100 Continue" \
  "$out"
check_has "slow 100 Continue: 200" "HTTP/1.1 200 OK" "$out"
check_has "slow 100 Continue: the body arrived" "got 3 bytes: xyz" "$out"
stop_proxy w

# 30 MB at 4 MB/s takes about 7 s, while the origin could send it all in
# well under a second, so the proxy stops reading it for seconds at a time.
for type in text/plain text/html; do
  out=$(curl -s -m 30 --limit-rate 4M -x "http://$PROXY_p" -o /dev/null \
        -w '%{http_code} %{size_download}' \
        "http://127.0.0.1:$PORT_plain/big?n=30000000&type=$type")
  check_eq "slow download $type: 200" 200 "${out% *}"
  # The HTML gets the banner on top of its 30000000 bytes.
  check_eq "slow download $type: whole body" 1 \
    "$([ "${out#* }" -ge 30000000 ] && echo 1 || echo "${out#* }")"
done

stop_proxy p
finish
