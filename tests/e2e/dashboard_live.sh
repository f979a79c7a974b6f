#!/usr/bin/env bash
# The whole path a researcher takes. `stratosphere run` starts the proxy,
# the pipeline and the dashboard. Headless Chromium searches Google through
# the proxy, and curl loads a vk.com friend list through it. The project's
# extractors (extractors/) turn those flows into a knowledge base, and the
# dashboard then shows the search, its results, the people and their
# graph. The browsed page carries the banner that links to the dashboard.
#
# www.google.com and vk.com are a local origin that replays the responses
# recorded in the sample captures, reached through a private /etc/hosts.
# Everything runs in its own network namespace, so no byte leaves the
# machine. Skips when ../shared/samples, Chromium or namespaces are absent.
set -u
bin=$(realpath "${1:?usage: dashboard_live.sh BINARY}")
src=$(cd "$(dirname "$0")/../.." && pwd)

for tool in curl sqlite3 openssl python3 certutil unshare ip mount; do
  if ! command -v "$tool" >/dev/null; then
    echo "skipped: $tool is not installed (scripts/setup.sh --test)"
    exit 77
  fi
done

# Own network and mount namespaces: loopback only, and an /etc/hosts that
# maps the two sites to 127.0.0.1 without touching the real file.
if [ -z "${ST_DASHBOARD_NETNS:-}" ]; then
  if ! unshare --net --mount true 2>/dev/null; then
    echo "skipped: cannot create network and mount namespaces (unshare)"
    exit 77
  fi
  ST_DASHBOARD_NETNS=1 exec unshare --net --mount bash "$0" "$@"
fi

tmp=$(mktemp -d)
artifacts="$(dirname "$bin")/artifacts/dashboard-live"
# shellcheck source=tests/e2e/dashboard_lib.bash
. "$src/tests/e2e/dashboard_lib.bash"
origin_pid=""
run_pid=""

cleanup() {
  local status=$?
  for pid in $run_pid $origin_pid; do
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  rm -rf "$tmp"
  [ "$failures" -eq 0 ] || status=1
  exit "$status"
}
trap cleanup EXIT

require_samples
require_chromium

ip link set lo up
# glibc ignores names mapped to 127.0.0.1 with AI_ADDRCONFIG when only
# loopback is configured; a second loopback address avoids that.
ip addr add 127.0.0.2/8 dev lo 2>/dev/null
printf '127.0.0.1 localhost www.google.com vk.com\n' > "$tmp/hosts"
mount --bind "$tmp/hosts" /etc/hosts || { echo "skipped: mount failed"; exit 77; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# A CA for the origin and a certificate for both names, trusted by the
# proxy through --ca-file.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$tmp/origin-ca.key" -out "$tmp/origin-ca.pem" -days 2 \
  -subj "/CN=replay origin CA" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$tmp/origin.key" -out "$tmp/origin.csr" \
  -subj "/CN=www.google.com" 2>/dev/null
printf 'subjectAltName=DNS:www.google.com,DNS:vk.com\n' > "$tmp/san.ext"
openssl x509 -req -in "$tmp/origin.csr" -CA "$tmp/origin-ca.pem" \
  -CAkey "$tmp/origin-ca.key" -CAcreateserial -days 2 \
  -extfile "$tmp/san.ext" -out "$tmp/origin.pem" 2>/dev/null ||
  fail "making the origin certificate failed"

# The origin: replies to each request with the response recorded for the
# same method and URL in the sample captures.
cat > "$tmp/replay.py" <<'PY'
import socket, socketserver, sqlite3, ssl, sys, threading

cert, key, port_file, *dbs = sys.argv[1:]
responses = {}
for db in dbs:
    for method, url, status, ctype, body in sqlite3.connect(db).execute(
            "SELECT flow_request_method, flow_request_url, "
            "flow_response_status_code, flow_response_headers_content_type, "
            "flow_response_content FROM flows ORDER BY rowid"):
        responses[(method, url)] = (status, ctype, body or b"")


class Handler(socketserver.StreamRequestHandler):
    timeout = 30

    def handle(self):
        line = self.rfile.readline(65537).decode("latin-1").split()
        if len(line) != 3:
            return
        headers = {}
        while True:
            h = self.rfile.readline(65537).decode("latin-1")
            if h in ("\r\n", "\n", ""):
                break
            name, _, value = h.partition(":")
            headers[name.strip().lower()] = value.strip()
        self.rfile.read(int(headers.get("content-length", "0")))
        url = "https://" + headers.get("host", "") + line[1]
        status, ctype, body = responses.get((line[0], url),
                                            (404, "text/plain", b"not recorded"))
        if status == 304:
            status, body = 404, b"not recorded"
        head = f"HTTP/1.1 {status} Replayed\r\nContent-Length: {len(body)}\r\n"
        if ctype:
            head += f"Content-Type: {ctype}\r\n"
        self.wfile.write((head + "Connection: close\r\n\r\n").encode() + body)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def get_request(self):
        sock, addr = super().get_request()
        return context.wrap_socket(sock, server_side=True), addr


context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server = Server(("127.0.0.1", 443), Handler)
with open(port_file, "w") as f:
    f.write("443")
server.serve_forever()
PY
python3 "$tmp/replay.py" "$tmp/origin.pem" "$tmp/origin.key" \
  "$tmp/origin.port" "$samples/search-google.db" "$samples/vk-friends.db" \
  > "$tmp/origin.log" 2>&1 &
origin_pid=$!

dashboard_port=$(free_port)
cat > "$tmp/config.lua" <<LUA
return {
  data_dir = "$tmp/data",
  dashboard = { listen = "127.0.0.1:$dashboard_port" },
  pipeline = { extractors = "$src/extractors", interval = 1 },
}
LUA
wait_for() {  # wait_for SECONDS COMMAND...
  local limit=$(($1 * 10)) i=0
  shift
  until "$@" 2>/dev/null; do
    i=$((i + 1))
    [ "$i" -gt "$limit" ] && return 1
    sleep 0.1
  done
}
wait_for 10 test -s "$tmp/origin.port" ||
  fail "the origin did not start: $(cat "$tmp/origin.log")"

"$bin" run -c "$tmp/config.lua" --listen 127.0.0.1:0 \
  --ca-file "$tmp/origin-ca.pem" > "$tmp/run.log" 2>&1 &
run_pid=$!
wait_for 10 grep -q "proxy: listening on" "$tmp/run.log" ||
  { fail "stratosphere run did not start: $(cat "$tmp/run.log")"; exit 1; }
proxy=$(sed -n 's/.*proxy: listening on \([0-9.]*:[0-9]*\).*/\1/p' \
        "$tmp/run.log" | head -1)
base="http://127.0.0.1:$dashboard_port"
grep -q "dashboard listening on $base/" "$tmp/run.log" ||
  fail "the dashboard did not start on $base"

# Chromium trusts the proxy's CA and searches Google through the proxy.
home="$tmp/chromium-home"
mkdir -p "$home/.pki/nssdb" "$artifacts"
certutil -d "sql:$home/.pki/nssdb" -N --empty-password
certutil -d "sql:$home/.pki/nssdb" -A -t "C,," -n stratosphere \
  -i "$tmp/data/ca/ca.pem"
search_url=$(sqlite3 "$samples/search-google.db" "SELECT flow_request_url
  FROM flows WHERE flow_request_url LIKE 'https://www.google.com/search?%'")
HOME=$home timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu \
  --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync \
  --disable-features=NetworkTimeServiceQuerying \
  --user-data-dir="$home/profile" --proxy-server="http://$proxy" \
  --window-size=1280,800 --virtual-time-budget=5000 \
  --screenshot="$artifacts/google-through-proxy.png" \
  --dump-dom "$search_url" > "$tmp/google.html" 2> "$tmp/google.log"
grep -q "stratosphere-banner" "$tmp/google.html" ||
  fail "the page browsed through the proxy has no banner: $(grep -E \
        'ERR_' "$tmp/google.log" | tail -3)"
grep -qF "href=\"http://127.0.0.1:$dashboard_port/\"" "$tmp/google.html" ||
  fail "the banner does not link to the dashboard"

curl -s --proxy "http://$proxy" --cacert "$tmp/data/ca/ca.pem" -o /dev/null \
  -X POST -H "Content-Type: application/x-www-form-urlencoded" \
  --data "act=load_friends_silent&al=1&gid=0&id=86696005&section=all" \
  "https://vk.com/al_friends.php?act=load_friends_silent" ||
  fail "the vk.com request through the proxy failed"

# The pipeline runs every second; give it a few cycles.
searches_ready() {
  curl -s "$base/api/searches" | grep -q '"q":"who owns bellingcat"'
}
people_ready() {
  curl -s "$base/api/people" | grep -q '"total":250'
}
wait_for 30 searches_ready || fail "the search did not reach the dashboard"
wait_for 30 people_ready || fail "the people did not reach the dashboard"

query=$(sqlite3 "$tmp/data/kb.db" \
  "SELECT id FROM entities WHERE type = 'google.com/search_query'")
browse /searches searches
expect_in searches ">who owns bellingcat</a>"
browse "/searches?id=$query" search
expect_in search "15 results"
expect_in search "Bellingcat - Wikipedia"
browse /people people
expect_in people "250 people"
expect_in people "250 nodes, 249 links"
browse /system system
expect_in system "google_search"
expect_in system "vk_friends"
browse /flows flows
expect_in flows "vk.com"
expect_in flows "www.google.com"

kill "$run_pid"
wait "$run_pid"
rc=$?
run_pid=""
[ "$rc" -eq 0 ] || fail "stratosphere run exited with status $rc"
grep -q "web: dashboard stopped" "$tmp/run.log" ||
  fail "the dashboard did not stop"

[ "$failures" -eq 0 ] || exit 1
echo "ok: screenshots in $artifacts"
