# `stratosphere browser`, `capture` and the REPL with the real proxy: in
# a network namespace of its own (nothing can leave the machine, not even
# Chromium's update checks), the browser command starts headless Chromium
# on an HTTPS origin through a running proxy, which must succeed only
# because the command trusted the proxy's CA; capture then keeps exactly
# the flows curl sends through the proxy meanwhile, and the REPL reads
# them back.
BIN=${1:?usage: bash browser_proxy.sh STRATOSPHERE_BINARY}

CHROMIUM=/usr/lib/chromium/chromium
for tool in curl sqlite3 openssl python3 certutil unshare ip; do
  command -v "$tool" >/dev/null || { echo "skip: $tool is not installed"; exit 77; }
done
[ -x "$CHROMIUM" ] || { echo "skip: $CHROMIUM is not installed"; exit 77; }

if [ -z "${ST_IN_NETNS:-}" ]; then
  if ! unshare --net true 2>/dev/null; then
    echo "skip: cannot create a network namespace (unshare --net)"
    exit 77
  fi
  ST_IN_NETNS=1 exec unshare --net bash "$0" "$@"
fi
ip link set lo up
ip addr add 127.0.0.2/8 dev lo 2>/dev/null

. "${ST_SOURCE_DIR:-.}/tests/fixtures/proxy_env.sh"

make_cert origin origin.test "DNS:origin.test,IP:127.0.0.1"
start_origin o --tls "$TMP/origin.pem" "$TMP/origin.key"
start_proxy p "" --ca-file "$TMP/origin.pem"
CA=$TMP/p/ca/ca.pem
DB=$TMP/p/probe.db
URL="https://127.0.0.1:$PORT_o/html"

# The browser command reads proxy.listen from the configuration, so the
# test's configuration gets the address the proxy really listens on.
cat >"$TMP/browser.lua" <<LUA
return { data_dir = "$TMP/p", proxy = { listen = "$PROXY_p" } }
LUA

# Chromium sends loopback through a proxy only with this flag.
timeout 90 "$BIN" browser -c "$TMP/browser.lua" "$URL" -- --headless \
  --disable-gpu --dump-dom '--proxy-bypass-list=<-loopback>' \
  >"$TMP/dom.html" 2>"$TMP/browser.log"
dom=$(cat "$TMP/dom.html")
log=$(cat "$TMP/browser.log")
check_has "browser: says which browser it started" \
  "started Chromium ($CHROMIUM) with a temporary profile" "$log"
check_has "browser: page loaded through the proxy" 'class="x">' "$dom"
check_has "browser: the proxy's banner is in the page" \
  'id="stratosphere-banner"' "$dom"
check_lacks "browser: no certificate error" "ERR_CERT" "$log"
i=0
until [ "$(sqlite3 "$DB" "SELECT count(*) FROM flows WHERE flow_request_url = '$URL' AND flow_request_headers LIKE '%Chrome%'" 2>/dev/null)" = 1 ]; do
  i=$((i + 1))
  if [ "$i" -gt 50 ]; then
    fail "browser: the proxy did not record Chromium's request"
    break
  fi
  sleep 0.2
done

# capture keeps the flows recorded while it runs, and only those.
"$BIN" capture -c "$TMP/browser.lua" --for 4s "$TMP/cap.db" \
  >"$TMP/capture.out" 2>"$TMP/capture.err" &
cap_pid=$!
PIDS="$PIDS $cap_pid"
sleep 1
for path in echo?n=1 echo?n=2; do
  curl -s -m 10 --cacert "$CA" -x "http://$PROXY_p" \
    "https://127.0.0.1:$PORT_o/$path" >/dev/null ||
    fail "curl through the proxy to /$path failed"
done
wait "$cap_pid"
check_eq "capture: exit status" 0 "$?"
check_eq "capture: output" "saved 2 flows to $TMP/cap.db" \
  "$(cat "$TMP/capture.out")"
check_eq "capture: the two requests, in order" \
  "https://127.0.0.1:$PORT_o/echo?n=1|https://127.0.0.1:$PORT_o/echo?n=2" \
  "$(sqlite3 "$TMP/cap.db" "SELECT group_concat(flow_request_url, '|') FROM (SELECT flow_request_url FROM flows ORDER BY rowid)")"
check_eq "capture: the flows table as in probe.db" \
  "$(sqlite3 "$DB" "SELECT sql FROM sqlite_master WHERE name = 'flows'")" \
  "$(sqlite3 "$TMP/cap.db" "SELECT sql FROM sqlite_master WHERE name = 'flows'")"

# The REPL reads the capture, and the live probe.db while the proxy runs.
out=$("$BIN" repl --probe "$TMP/cap.db" -e \
  'local f = probe:flows{}[2] return f.request.method, f.response.status')
check_eq "repl on the capture" "$(printf 'GET\n200')" "$out"
out=$("$BIN" repl -c "$TMP/browser.lua" -e \
  '#probe:flows{ url_prefix = "https://127.0.0.1:'"$PORT_o"'/echo" }')
check_eq "repl on the live probe.db" "2" "$out"

stop_proxy p
finish
