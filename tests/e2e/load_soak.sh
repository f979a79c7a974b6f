# A soak of `stratosphere run` with mixed traffic: plain and HTTPS pages,
# gzip HTML with the banner, bodies past max_body, 404s, a refused origin,
# a failing CONNECT, POST bodies, the dashboard's pages and an extractor
# that parses every page. After a warm-up, RSS must stop growing: the
# growth over the second half of the run must stay under a small bound.
# With a binary built with AddressSanitizer, LeakSanitizer checks for leaks
# when the service exits, and a leak fails the clean stop; the RSS check is
# skipped there, because ASan keeps freed memory in its quarantine.
#
# Environment: ST_SOAK_REQUESTS (default 20000) sets the number of
# requests. The long version, for example 100,000 requests under
# LeakSanitizer:
#   ST_SOAK_REQUESTS=100000 bash tests/e2e/load_soak.sh build-asan/stratosphere
# ST_SOAK_VALGRIND=1 runs the service under valgrind's memcheck instead
# (use a normal build and a few thousand requests: it is about 50 times
# slower).
BIN=${1:?usage: bash load_soak.sh STRATOSPHERE_BINARY}
. "${ST_SOURCE_DIR:-.}/tests/e2e/hardening_lib.bash"
require_tools curl sqlite3 python3 nginx hey openssl unshare ip
enter_netns "$@"
. "${ST_SOURCE_DIR:-.}/tests/fixtures/proxy_env.sh"

REQUESTS=${ST_SOAK_REQUESTS:-20000}
GROWTH_MAX_KB=${ST_SOAK_GROWTH_MAX_KB:-6144}

# nginx with HTTP, HTTPS (a throwaway certificate) and gzip for HTML.
make_cert nginx nginx.test "DNS:nginx.test,IP:127.0.0.1"
HTTPS_PORT=$(free_port)
NGINX_HTTP_EXTRA="gzip on; gzip_types text/html; gzip_min_length 100;"
NGINX_SERVER_EXTRA="listen 127.0.0.1:$HTTPS_PORT ssl;
    ssl_certificate $TMP/nginx.pem; ssl_certificate_key $TMP/nginx.key;"
start_nginx

H=$TMP/nginx/html
{
  echo '<!doctype html><html><head><title>soak</title></head><body>'
  for i in $(seq 60); do
    echo "<div class=\"g\"><a href=\"/r$i\"><h3>Result $i</h3></a></div>"
  done
  echo '</body></html>'
} >"$H/page.html"
head -c 300000 /dev/urandom | base64 >"$H/big.txt"
echo '{"ok": true}' >"$H/data.txt"

mkdir -p "$TMP/extractors"
# The extractor parses every HTML page but writes to kb.db only for the
# first flow, because every write adds an observation row and kb.db's
# 64 MiB page cache would then grow with the file for the whole soak.
cat >"$TMP/extractors/results.lua" <<'LUA'
-- Parses every HTML page and collects its result links; records them from
-- the first flow only.
local html = require "stratosphere.html"

local M = { match = { content_type = "text/html" } }
local written = false

function M.extract(flow, kb)
  local doc <close> = html.parse_response(flow.response)
  local links = {}
  for _, a in ipairs(doc:select("div.g > a[href]")) do
    links[#links + 1] = { href = a:attr("href"), title = a:text() }
  end
  if written then
    return nil, "already recorded"
  end
  for _, link in ipairs(links) do
    kb.upsert({ type = "soak.test/result", key = link.href,
                data = { title = link.title } })
  end
  written = true
  return true
end

return M
LUA

FIELDS="proxy = { max_body = 64 * 1024 },
  pipeline = { interval = 0.5, extractors = \"$TMP/extractors\" },
  store = { retention = 86400 },"
if [ "${ST_SOAK_VALGRIND:-0}" = 1 ]; then
  require_tools valgrind
  REAL_BIN=$BIN
  BIN=$TMP/valgrind-stratosphere
  cat >"$BIN" <<SH
#!/bin/sh
exec valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite \
  --error-exitcode=99 --log-file=$TMP/valgrind.log "$REAL_BIN" "\$@"
SH
  chmod +x "$BIN"
fi
start_service s run "$FIELDS" --ca-file "$TMP/nginx.pem"
P=http://$PROXY_s
N=http://127.0.0.1:$NGINX_PORT

# round SIZE: about SIZE requests of every kind, several at a time.
round() {
  local n=$(( $1 / 10 )) pids=""
  [ "$n" -lt 4 ] && n=4
  n=$(( n / 4 * 4 ))
  hey -cpus 1 -n $((n * 3)) -c 4 -x "$P" "$N/page.html" >/dev/null 2>&1 &
  pids="$pids $!"
  hey -cpus 1 -n "$n" -c 4 -x "$P" "https://127.0.0.1:$HTTPS_PORT/page.html" \
    >/dev/null 2>&1 &
  pids="$pids $!"
  hey -cpus 1 -n "$n" -c 4 -x "$P" "$N/data.txt" >/dev/null 2>&1 &
  pids="$pids $!"
  hey -cpus 1 -n "$n" -c 4 -x "$P" "$N/missing" >/dev/null 2>&1 &
  pids="$pids $!"
  hey -cpus 1 -n "$n" -c 4 -m POST -d "field=value&other=1" -x "$P" \
    "$N/data.txt" >/dev/null 2>&1 &
  pids="$pids $!"
  hey -cpus 1 -n "$n" -c 4 -x "$P" "http://127.0.0.1:1/refused" >/dev/null 2>&1 &
  pids="$pids $!"
  hey -cpus 1 -n 4 -c 2 -x "$P" "$N/big.txt" >/dev/null 2>&1 &
  pids="$pids $!"
  curl -s -o /dev/null -x "$P" -m 5 "https://127.0.0.1:1/" &
  pids="$pids $!"
  for page in / /entities /flows /system /searches; do
    curl -s -o /dev/null -m 10 "http://$DASH_s$page"
  done
  # shellcheck disable=SC2086 # one argument per process
  wait $pids
}

ROUND=2000
ROUNDS=$(( REQUESTS / ROUND ))
[ "$ROUNDS" -lt 4 ] && ROUNDS=4
WARM=$(( ROUNDS / 4 ))
HALF=$(( ROUNDS / 2 ))
for r in $(seq "$ROUNDS"); do
  round "$ROUND"
  [ "$r" -eq "$WARM" ] && RSS_WARM=$(rss_kb "$PID_s")
  [ "$r" -eq "$HALF" ] && RSS_HALF=$(rss_kb "$PID_s")
done
RSS_END=$(rss_kb "$PID_s")
FLOWS=$(sql "$TMP/s/probe.db" "SELECT count(*) FROM flows")
echo "soak: $ROUNDS rounds of about $ROUND requests, $FLOWS flows recorded"
echo "RSS: $RSS_WARM KiB after warm-up, $RSS_HALF KiB at half, $RSS_END KiB" \
  "at the end, peak $(peak_rss_kb "$PID_s") KiB; $(fd_count "$PID_s") descriptors"
check_ge "soak: flows were recorded" $((ROUNDS * ROUND / 4)) "$FLOWS"
check_eq "soak: still serving" 200 \
  "$(curl -s -o /dev/null -m 5 -w '%{http_code}' -x "$P" "$N/data.txt")"
if asan_build || [ "${ST_SOAK_VALGRIND:-0}" = 1 ]; then
  echo "RSS growth not checked under a sanitizer or valgrind"
else
  check_le "soak: RSS growth over the second half under $GROWTH_MAX_KB KiB" \
    $((RSS_HALF + GROWTH_MAX_KB)) "$RSS_END"
fi
stop_proxy s
if [ "${ST_SOAK_VALGRIND:-0}" = 1 ]; then
  check_lacks "valgrind: no definite leaks or errors" "ERROR SUMMARY: [1-9]" \
    "$(cat "$TMP/valgrind.log")"
fi
check_eq "probe.db integrity" ok "$(sql "$TMP/s/probe.db" "PRAGMA integrity_check")"
check_eq "kb.db integrity" ok "$(sql "$TMP/s/kb.db" "PRAGMA integrity_check")"
finish
