# End-to-end with real programs on both sides: nginx (HTTP and HTTPS with
# a throwaway certificate, gzip on) behind the proxy, curl and headless
# Chromium in front of it. Runs in its own network namespace, so nothing
# any of them sends can leave the machine, not even Chromium's update
# checks.
BIN=${1:?usage: bash proxy_browser.sh STRATOSPHERE_BINARY}

CHROMIUM=/usr/lib/chromium/chromium
for tool in curl sqlite3 openssl python3 nginx certutil unshare ip; do
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
# glibc ignores names mapped to 127.0.0.1 with AI_ADDRCONFIG when only
# loopback is configured; a second loopback address avoids that.
ip addr add 127.0.0.2/8 dev lo 2>/dev/null

. "${ST_SOURCE_DIR:-.}/tests/fixtures/proxy_env.sh"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# nginx as the current user, with its prefix, pid and temp paths in $TMP.
make_cert nginx nginx.test "DNS:nginx.test,IP:127.0.0.1"
HTTP_PORT=$(free_port)
HTTPS_PORT=$(free_port)
mkdir -p "$TMP/nginx/logs" "$TMP/nginx/html"
PAGE='<!doctype html><html><head><title>nginx fixture</title></head><body><p id="content">served by nginx</p></body></html>'
printf '%s' "$PAGE" >"$TMP/nginx/html/index.html"
for i in $(seq 200); do printf 'line %d of a compressible text\n' "$i"; done \
  >"$TMP/nginx/html/long.txt"
user_line=""
[ "$(id -u)" -eq 0 ] && user_line="user root;"
cat >"$TMP/nginx/nginx.conf" <<CONF
$user_line
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log;
events { worker_connections 64; }
http {
  access_log $TMP/nginx/logs/access.log;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  types { text/html html; text/plain txt; }
  gzip on;
  gzip_types text/plain;
  gzip_min_length 100;
  server {
    listen 127.0.0.1:$HTTP_PORT;
    listen 127.0.0.1:$HTTPS_PORT ssl;
    ssl_certificate $TMP/nginx.pem;
    ssl_certificate_key $TMP/nginx.key;
    root $TMP/nginx/html;
  }
}
CONF
nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -g 'daemon off;' \
  >"$TMP/nginx/logs/stderr.log" 2>&1 &
PIDS="$PIDS $!"
i=0
until curl -s -o /dev/null "http://127.0.0.1:$HTTP_PORT/"; do
  i=$((i + 1))
  [ "$i" -gt 50 ] && { echo "nginx did not start"; cat "$TMP/nginx/logs/"*; exit 1; }
  sleep 0.1
done

start_proxy p "" --ca-file "$TMP/nginx.pem"
CA=$TMP/p/ca/ca.pem

# curl to nginx over HTTP and HTTPS.
for url in "http://127.0.0.1:$HTTP_PORT/" "https://127.0.0.1:$HTTPS_PORT/"; do
  out=$(curl -s -m 10 --cacert "$CA" -x "http://$PROXY_p" "$url")
  check_has "curl $url: banner" \
    '<body><div id="stratosphere-banner"' "$out"
  check_has "curl $url: page" 'served by nginx</p></body></html>' "$out"
done
gz=$(curl -s -m 10 --cacert "$CA" -x "http://$PROXY_p" --compressed \
  -D "$TMP/long.head" "https://127.0.0.1:$HTTPS_PORT/long.txt")
check_eq "curl gzip from nginx: body" "$(cat "$TMP/nginx/html/long.txt")" "$gz"
check_has "curl gzip from nginx: still compressed on the wire" \
  "Content-Encoding: gzip" "$(cat "$TMP/long.head")"

# Headless Chromium, trusting the proxy's CA through an NSS database in a
# fresh HOME. It sends loopback through a proxy only with
# --proxy-bypass-list='<-loopback>'.
export HOME=$TMP/home
mkdir -p "$HOME/.pki/nssdb"
certutil -N -d "sql:$HOME/.pki/nssdb" --empty-password
certutil -d "sql:$HOME/.pki/nssdb" -A -t "C,," -n stratosphere-test -i "$CA"
timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic \
  --no-first-run --disable-background-networking --disable-component-update \
  --disable-sync --disable-features=NetworkTimeServiceQuerying \
  --user-data-dir="$TMP/profile" --proxy-server="http://$PROXY_p" \
  --proxy-bypass-list='<-loopback>' --dump-dom \
  "https://127.0.0.1:$HTTPS_PORT/index.html" \
  >"$TMP/dom.html" 2>"$TMP/chromium.log"
dom=$(cat "$TMP/dom.html")
check_has "chromium: page loaded" 'served by nginx' "$dom"
check_has "chromium: banner in the DOM" 'id="stratosphere-banner"' "$dom"
check_lacks "chromium: no certificate error" "ERR_CERT" \
  "$(cat "$TMP/chromium.log")"

stop_proxy p
DB=$TMP/p/probe.db
check_eq "recorded: chromium's page" "1" \
  "$(sqlite3 "$DB" "SELECT count(*) FROM flows
     WHERE flow_request_url = 'https://127.0.0.1:$HTTPS_PORT/index.html'
     AND flow_response_status_code = 200
     AND CAST(flow_response_content AS TEXT) = '$PAGE'")"
check_eq "recorded: curl's gzip text decoded" "$(wc -c <"$TMP/nginx/html/long.txt")" \
  "$(sqlite3 "$DB" "SELECT length(flow_response_content) FROM flows
     WHERE flow_request_url = 'https://127.0.0.1:$HTTPS_PORT/long.txt'")"
check_eq "recorded: user agent" "1" \
  "$(sqlite3 "$DB" "SELECT count(*) FROM flows
     WHERE flow_request_url LIKE '%/index.html'
     AND flow_request_headers LIKE '%Chrome%'")"
finish
