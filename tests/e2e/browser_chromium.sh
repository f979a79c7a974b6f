#!/bin/bash
# `stratosphere browser`: the arguments it builds, its messages when
# something is missing, and real headless Chromium runs on loopback: one
# that loads an HTTPS page on 127.0.0.1 whose certificate only the data
# folder's CA signs (trusted through the temporary NSS database) through
# the configured proxy, a control run with another CA that must fail, and
# one whose plain-HTTP request must reach the proxy. The proxy is a local
# fixture that tunnels CONNECT to 127.0.0.1 only and answers every other
# request itself, so nothing leaves the machine.
# Usage: browser_chromium.sh BINARY
set -u
bin=$(realpath "$1")

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work" || exit 1

failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# --- arguments and messages, no browser started ---
mkdir -p data/ca
printf 'return { data_dir = "data", proxy = { listen = "127.0.0.1:18471" } }\n' \
  > stratosphere.lua

out=$(STRATOSPHERE_CHROMIUM=/nonexistent/chromium STRATOSPHERE_FIREFOX=/nonexistent/firefox \
  "$bin" browser 2>&1)
[ $? = 1 ] || fail "a missing browser did not fail"
echo "$out" | grep -q "no browser found. Install Chromium (apt-get install chromium) or Firefox" ||
  fail "no install hint for a missing browser: $out"

fake="$work/fake-chromium"
printf '#!/bin/sh\nexit 0\n' > "$fake"
chmod +x "$fake"
out=$(STRATOSPHERE_CHROMIUM="$fake" "$bin" browser 2>&1)
echo "$out" | grep -q "no CA certificate at $work/data/ca/ca.pem; run 'stratosphere ca'" ||
  fail "no message for a missing CA: $out"

if ! command -v openssl >/dev/null || ! command -v certutil >/dev/null; then
  echo "SKIP: openssl or certutil (libnss3-tools) is not installed"
  exit 77
fi

# A CA for the data folder, a leaf for 127.0.0.1 signed by it, and an
# unrelated CA for the control run.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout data/ca/ca.key -out data/ca/ca.pem -subj /CN=browser-test-ca \
  -days 2 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout leaf.key -out leaf.csr -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > leaf.ext
openssl x509 -req -in leaf.csr -CA data/ca/ca.pem -CAkey data/ca/ca.key \
  -CAcreateserial -out leaf.pem -days 2 -extfile leaf.ext 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout other.key -out other.pem -subj /CN=other-ca -days 2 2>/dev/null

out=$(STRATOSPHERE_CHROMIUM="$fake" "$bin" browser --dry-run \
  https://example.test/ -- --headless 2>&1)
[ $? = 0 ] || fail "browser --dry-run failed: $out"
for want in "certutil -d sql:TMP/home/.pki/nssdb -N --empty-password" \
    "-A -t C,, -n stratosphere-ca -i $work/data/ca/ca.pem" \
    "HOME=TMP/home $fake --user-data-dir=TMP/profile" \
    "--proxy-server=http://127.0.0.1:18471" \
    "--proxy-bypass-list=<-loopback>" \
    "--disable-background-networking" "--disable-component-update" \
    "--disable-sync" "--disable-features=NetworkTimeServiceQuerying," \
    "--headless https://example.test/"; do
  echo "$out" | grep -qF -- "$want" || fail "dry run lacks '$want': $out"
done
if [ "$(id -u)" = 0 ]; then
  echo "$out" | grep -qF -- "--no-sandbox" || fail "no --no-sandbox as root"
fi
# A real start (of the stand-in browser) warns when no proxy listens.
out=$(STRATOSPHERE_CHROMIUM="$fake" "$bin" browser 2>&1)
[ $? = 0 ] || fail "browser with the stand-in failed: $out"
echo "$out" | grep -qF "warning: no proxy listens on 127.0.0.1:18471" ||
  fail "no warning about the missing proxy: $out"
echo "$out" | grep -qF "started Chromium ($fake) with a temporary profile" ||
  fail "browser did not name the stand-in it started: $out"
STRATOSPHERE_CHROMIUM="$fake" "$bin" browser -n https://a/ https://b/ \
  >/dev/null 2>&1
[ $? = 2 ] || fail "two URLs were not a usage error"

chromium=/usr/lib/chromium/chromium
if [ ! -x "$chromium" ] || ! command -v python3 >/dev/null; then
  [ "$failures" -gt 0 ] && exit 1
  echo "SKIP: Chromium ($chromium) or python3 is not installed; checked" \
    "the arguments only"
  exit 77
fi

# --- fixtures: an HTTPS page and a fake proxy, both on 127.0.0.1 ---
cat > servers.py <<'EOF'
import http.server, socket, ssl, sys, threading

class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<html><body><p>trusted-page-ok</p></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

class Proxy(http.server.BaseHTTPRequestHandler):
    # Tunnels CONNECT to 127.0.0.1 and answers everything else itself.
    def handle_any(self):
        with open("proxy.log", "a") as log:
            log.write(self.requestline + "\n")
        host, _, port = self.path.rpartition(":")
        if self.command == "CONNECT" and host == "127.0.0.1":
            self.tunnel(int(port))
            return
        body = b"<html><body><p>via-proxy-ok</p></body></html>"
        self.send_response(200 if self.command != "CONNECT" else 403)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def tunnel(self, port):
        upstream = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        def pump(src, dst):
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
        up = threading.Thread(target=pump, args=(self.connection, upstream))
        up.start()
        pump(upstream, self.connection)
        up.join()
        upstream.close()
        self.close_connection = True
    do_GET = do_POST = do_HEAD = do_CONNECT = handle_any
    def log_message(self, *args):
        pass

page = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain("leaf.pem", "leaf.key")
page.socket = ctx.wrap_socket(page.socket, server_side=True)
proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
with open("ports", "w") as f:
    f.write("%d %d\n" % (page.server_address[1], proxy.server_address[1]))
threading.Thread(target=proxy.serve_forever, daemon=True).start()
page.serve_forever()
EOF
python3 servers.py &
pids+=($!)
for _ in $(seq 50); do [ -s ports ] && break; sleep 0.1; done
read -r page_port proxy_port < ports || { fail "fixture servers did not start"; exit 1; }
printf 'return { data_dir = "data", proxy = { listen = "127.0.0.1:%s" } }\n' \
  "$proxy_port" > stratosphere.lua

# The browser's temporary profile goes under $TMPDIR; a folder of this
# test's own keeps other tests' profiles out of the check below.
export TMPDIR=$work/tmp
mkdir -p "$TMPDIR"

# Runs the browser headless on URL; stdout (the DOM) to $1.dom, stderr to
# $1.log. Bounded by timeout, because a stalled page never exits.
run_browser() {
  timeout 90 "$bin" browser "$2" -- --headless --disable-gpu --dump-dom \
    >"$1.dom" 2>"$1.log"
}

# The page's certificate is signed by data/ca/ca.pem: trusted. A loopback
# URL goes through the proxy too (--proxy-bypass-list=<-loopback>).
run_browser trusted "https://127.0.0.1:$page_port/"
grep -q trusted-page-ok trusted.dom ||
  fail "HTTPS page signed by the data folder's CA did not load: $(tail -5 trusted.log)"
grep -q "^CONNECT 127.0.0.1:$page_port HTTP/1.1" proxy.log ||
  fail "the loopback page did not go through the proxy: $(cat proxy.log 2>/dev/null)"
grep -q "started Chromium ($chromium) with a temporary profile" trusted.log ||
  fail "browser did not say which browser it started: $(head -3 trusted.log)"

# Control: with another CA in the data folder the same page must fail.
mv data/ca/ca.pem data/ca/ca.pem.real
cp other.pem data/ca/ca.pem
run_browser control "https://127.0.0.1:$page_port/"
grep -q trusted-page-ok control.dom &&
  fail "the page loaded although its CA was not trusted"
grep -q "ERR_CERT" control.log ||
  fail "no certificate error with an untrusted CA: $(tail -5 control.log)"
mv data/ca/ca.pem.real data/ca/ca.pem

# A non-loopback name goes to the configured proxy, which answers it.
run_browser proxied "http://fixture.invalid/"
grep -q via-proxy-ok proxied.dom ||
  fail "the page did not come through the proxy: $(tail -5 proxied.log)"
grep -q "^GET http://fixture.invalid/ HTTP/1.1" proxy.log ||
  fail "the proxy did not receive the request: $(cat proxy.log 2>/dev/null)"

left=$(ls -d "$TMPDIR"/stratosphere-browser-* 2>/dev/null)
[ -z "$left" ] || fail "a temporary profile was left behind: $left"

if [ "$failures" -gt 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "browser_chromium: ok"
