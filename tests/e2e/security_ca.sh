# The CA key and the dashboard. The key file is 0600 in a 0700 folder, and
# no path of the magic host (http://stratosphere/, also through CONNECT)
# or of the dashboard, traversal attempts included, returns it. The
# dashboard's SQL page cannot read it either: ATTACH, VACUUM INTO,
# load_extension and readfile fail, and fts3_tokenizer, which returns an
# address in the process, is denied. A page of another site cannot make
# the browser query the dashboard (Sec-Fetch-* checks), and one query
# cannot grow the process by more than a few hundred MiB. The key never
# appears in the log.
BIN=${1:?usage: bash security_ca.sh STRATOSPHERE_BINARY}
. "${ST_SOURCE_DIR:-.}/tests/e2e/hardening_lib.bash"
require_tools curl sqlite3 python3 openssl unshare ip
enter_netns "$@"
. "${ST_SOURCE_DIR:-.}/tests/fixtures/proxy_env.sh"

start_service c run ""
KEY=$TMP/c/ca/ca.key
CERT=$TMP/c/ca/ca.pem
P=http://$PROXY_c
D=http://$DASH_c
# A line of the key's base64 body: no response may contain it.
KEY_LINE=$(sed -n 2p "$KEY")

check_eq "key file mode" 600 "$(stat -c %a "$KEY")"
check_eq "CA folder mode" 700 "$(stat -c %a "$TMP/c/ca")"
check_eq "data folder mode" 700 "$(stat -c %a "$TMP/c")"
check_has "the key is a private key" "PRIVATE KEY" "$(cat "$KEY")"

# leaks NAME OUTPUT: fails when OUTPUT carries key material.
leaks() {
  check_lacks "$1: no private key" "PRIVATE KEY" "$2"
  check_lacks "$1: no key bytes" "$KEY_LINE" "$2"
}

PATHS="/ /ca.pem /ca.key /ca/ca.key /stratosphere-ca.pem /stratosphere-ca.key
/stratosphere-ca.der /stratosphere-ca.cer /key /ca.key.pem /..%2fca%2fca.key
/%2e%2e/ca/ca.key /../ca/ca.key /static/../../ca/ca.key
/static/%2e%2e/%2e%2e/ca/ca.key /static/..%2f..%2fca%2fca.key
/api/sql?sql=select+1 /ca /api/ca /flows /system"

# The magic host, over HTTP and through an intercepted CONNECT.
for path in $PATHS; do
  leaks "magic host $path" "$(curl -s -m 5 -x "$P" --path-as-is \
    "http://stratosphere$path")"
  leaks "magic host over TLS $path" "$(curl -s -m 5 -x "$P" --cacert "$CERT" \
    --path-as-is "https://stratosphere$path")"
  leaks "dashboard $path" "$(curl -s -m 5 --path-as-is "$D$path")"
done
check_has "the magic host serves the certificate" "BEGIN CERTIFICATE" \
  "$(curl -s -m 5 -x "$P" http://stratosphere/ca.pem)"

# sql QUERY: the dashboard's SQL API over kb.db, as JSON.
sql_api() {
  curl -s -m 20 -G "$D/api/sql" --data-urlencode "sql=$1"
}
for query in "ATTACH '$KEY' AS k" "VACUUM INTO '$TMP/copy.db'" \
    "SELECT load_extension('$TMP/none.so')" "SELECT readfile('$KEY')" \
    "SELECT fts3_tokenizer('simple')" "PRAGMA writable_schema = 1" \
    "CREATE TABLE t(x)"; do
  out=$(sql_api "$query")
  check_has "SQL page rejects: $query" '"error":' "$out"
  leaks "SQL page: $query" "$out"
done
check_eq "VACUUM INTO wrote no file" 0 "$(ls "$TMP/copy.db" 2>/dev/null | wc -l)"

# One query may not grow the process by gigabytes.
before=$(peak_rss_kb "$PID_c")
for query in "SELECT length(printf('%.*c', 999999999, 'x'))" \
    "SELECT hex(zeroblob(400000000))" \
    "SELECT length(group_concat(hex(zeroblob(30000000))))
     FROM (SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3)"; do
  sql_api "$query" >/dev/null
done
after=$(peak_rss_kb "$PID_c")
echo "peak RSS $before KiB before the large queries, $after KiB after"
check_le "large queries: peak RSS grew less than 512 MiB" $((before + 524288)) "$after"

# Another site's page makes the browser send subresource requests with
# these headers; following a link is a top-level navigation, which may
# open a page but not run a query named in the link.
status() {
  curl -s -o /dev/null -m 10 -w '%{http_code}' "$@"
}
check_eq "cross-site image request: rejected" 403 \
  "$(status -H 'Sec-Fetch-Site: cross-site' -H 'Sec-Fetch-Mode: no-cors' \
            -H 'Sec-Fetch-Dest: image' "$D/api/sql?sql=select+1")"
check_eq "cross-site fetch(): rejected" 403 \
  "$(status -H 'Sec-Fetch-Site: cross-site' -H 'Sec-Fetch-Mode: cors' \
            -H 'Sec-Fetch-Dest: empty' "$D/flows")"
check_eq "cross-site frame: rejected" 403 \
  "$(status -H 'Sec-Fetch-Site: cross-site' -H 'Sec-Fetch-Mode: navigate' \
            -H 'Sec-Fetch-Dest: iframe' "$D/")"
check_eq "same-site (another local port) script: rejected" 403 \
  "$(status -H 'Sec-Fetch-Site: same-site' -H 'Sec-Fetch-Mode: no-cors' \
            -H 'Sec-Fetch-Dest: script' "$D/static/graph.js")"
check_eq "link from another site: served" 200 \
  "$(status -H 'Sec-Fetch-Site: cross-site' -H 'Sec-Fetch-Mode: navigate' \
            -H 'Sec-Fetch-Dest: document' "$D/")"
check_eq "link from another site to a query: rejected" 403 \
  "$(status -H 'Sec-Fetch-Site: cross-site' -H 'Sec-Fetch-Mode: navigate' \
            -H 'Sec-Fetch-Dest: document' "$D/sql?sql=select+1")"
check_eq "link from another site to the API: rejected" 403 \
  "$(status -H 'Sec-Fetch-Site: cross-site' -H 'Sec-Fetch-Mode: navigate' \
            -H 'Sec-Fetch-Dest: document' "$D/api/flows")"
check_eq "the dashboard's own stylesheet: served" 200 \
  "$(status -H 'Sec-Fetch-Site: same-origin' -H 'Sec-Fetch-Mode: no-cors' \
            -H 'Sec-Fetch-Dest: style' "$D/static/style.css")"
check_eq "DNS rebinding (Host of another name): rejected" 403 \
  "$(status -H "Host: rebind.example:${DASH_c##*:}" "$D/")"
check_lacks "no CORS grant" "Access-Control-Allow-Origin" \
  "$(curl -s -D - -o /dev/null -H 'Origin: http://evil.example' \
     "$D/api/sql?sql=select+1")"

stop_proxy c
leaks "log" "$(cat "$TMP/c.proxy.log")"
finish
