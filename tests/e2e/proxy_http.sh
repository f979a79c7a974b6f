# End-to-end: curl through the proxy to the origin fixture, over plain
# HTTP and over HTTPS that the proxy intercepts. Each case checks what curl
# received byte for byte and the row the proxy recorded in probe.db.
BIN=${1:?usage: bash proxy_http.sh STRATOSPHERE_BINARY}
. "${ST_SOURCE_DIR:-.}/tests/fixtures/proxy_env.sh"

for tool in curl sqlite3 openssl python3 brotli zstd; do
  command -v "$tool" >/dev/null || { echo "skip: $tool is not installed"; exit 77; }
done

HTML='<html><head><title>t</title></head><body class="x">hello</body></html>'
TRAPS="<html><head><!-- <body> --><script>var s = '<body>';</script><title>a <body> title</title></head><body id='real' data-x=\"a>b\">x</body></html>"
NOBODY='<html><p>no body tag</p></html>'
TEXT=$(for i in $(seq 50); do printf 'compressed hello '; done)
printf '%s' "$TEXT" | brotli -c >"$TMP/hello.br"
printf '%s' "$TEXT" | zstd -q -c >"$TMP/hello.zst"
# From a pipe, zstd keeps the 128 MiB window in the frame header.
printf '%s' "$TEXT" | zstd -q -c --long=27 >"$TMP/hello-window.zst"

make_cert origin origin.test "DNS:origin.test,IP:127.0.0.1"
start_origin plain
start_origin tls --tls "$TMP/origin.pem" "$TMP/origin.key" \
  --require-sni origin.test
start_proxy p "proxy = { max_body = 4096 }," --ca-file "$TMP/origin.pem"
CA=$TMP/p/ca/ca.pem

# Cases: name | path | curl options | client body | status | content type
# | recorded response body. A client body "banner:TAG" means the banner
# must follow TAG, and the body without it must equal the recorded one.
# A status "-" means nothing may be recorded. Bodies named @X are the
# variables above.
CASES='
html|/html||banner:<body class="x">|200|text/html; charset=utf-8|@HTML
traps|/html-traps||banner:data-x="a>b">|200|text/html|@TRAPS
nobody|/html-nobody||@NOBODY|200|text/html|@NOBODY
htmlgz|/html-gzip||banner:<body class="x">|200|text/html|@HTML
htmlbadgz|/html-bad-gzip||this is not gzip|200|text/html|this is not gzip
close|/close||body until close\n|200|text/plain|body until close\n
chunked|/chunked||abcdefgh|200|text/plain|abcdefgh
continue|/continue|-H Expect:100-continue --data-binary xyz|got 3 bytes: xyz|200|text/plain|got 3 bytes: xyz
head|/head|-I -o /dev/null||200|text/plain|
nocontent|/no-content|||-||
notmod|/not-modified|||304|text/plain|
gzip|/gzip|--compressed|@TEXT|200|text/plain|@TEXT
deflate|/deflate|--compressed|@TEXT|200|text/plain|@TEXT
rawdeflate|/deflate-raw|--compressed|@TEXT|200|text/plain|@TEXT
br|/br|--compressed|@TEXT|200|text/plain|@TEXT
zstd|/zstd|--compressed|@TEXT|200|text/plain|@TEXT
badgzip|/bad-gzip||this is not gzip|200|text/plain|this is not gzip
image|/image||\x89PNG\r\n\x1a\nnot really|-||
'

# expand SPEC: prints the bytes a spec names.
expand() {
  case "$1" in
    @HTML) printf '%s' "$HTML" ;;
    @TRAPS) printf '%s' "$TRAPS" ;;
    @NOBODY) printf '%s' "$NOBODY" ;;
    @TEXT) printf '%s' "$TEXT" ;;
    *) printf "$(printf '%s' "$1" | sed 's/%/%%/g')" ;;
  esac
}

hex() {
  od -An -v -tx1 | tr -d ' \n'
}

# run_case SCHEME BASE_URL CASE_LINE CURL_ARGS...
run_case() {
  local scheme=$1 base=$2 name path opts body status ctype rec out url
  IFS='|' read -r name path opts body status ctype rec <<<"$3"
  shift 3
  url=$base$path
  out=$TMP/out.$scheme.$name
  : >"$out"
  # shellcheck disable=SC2086 # options are split on purpose
  curl -s -m 10 -x "http://$PROXY_p" "$@" $opts -o "$out" "$url" \
    || fail "$scheme $name: curl failed"
  case "$body" in
    banner:*)
      tag=${body#banner:}
      check_has "$scheme $name: banner after the body tag" \
        "$tag<div id=\"stratosphere-banner\"" "$(cat "$out")"
      check_eq "$scheme $name: page around the banner" "$(expand "$rec" | hex)" \
        "$(sed 's|<div id="stratosphere-banner".*recording</a></div>||' "$out" |
           tr -d '\n' | hex)"
      ;;
    *)
      [ "$opts" = "-I -o /dev/null" ] ||
        check_eq "$scheme $name: client body" "$(expand "$body" | hex)" \
          "$(hex <"$out")"
      ;;
  esac
  echo "$scheme|$name|$url|$status|$ctype|$rec" >>"$TMP/expected"
}

while read -r line; do
  [ -n "$line" ] || continue
  run_case http "http://127.0.0.1:$PORT_plain" "$line"
  run_case https "https://origin.test" "$line" \
    --cacert "$CA" --connect-to "origin.test:443:127.0.0.1:$PORT_tls"
done <<<"$CASES"

# HEAD: the head arrives with its length and no body.
head=$(curl -s -m 5 -x "http://$PROXY_p" -I "http://127.0.0.1:$PORT_plain/head?again")
check_has "head: Content-Length kept" "Content-Length: 11" "$head"

# Compressed bodies reach the client as sent, not decoded.
curl -s -m 5 -x "http://$PROXY_p" -D "$TMP/gz.head" -o "$TMP/gz.body" \
  "http://127.0.0.1:$PORT_plain/gzip?raw"
check_has "gzip: encoding kept" "Content-Encoding: gzip" "$(cat "$TMP/gz.head")"
check_eq "gzip: raw bytes" "$(printf '%s' "$TEXT" | hex)" \
  "$(gzip -dc "$TMP/gz.body" | hex)"

# HTML that was compressed reaches the client decoded and re-framed.
curl -s -m 5 -x "http://$PROXY_p" -D "$TMP/hg.head" -o /dev/null \
  "http://127.0.0.1:$PORT_plain/html-gzip?headers"
check_lacks "html-gzip: no Content-Encoding" "Content-Encoding" "$(cat "$TMP/hg.head")"
check_has "html-gzip: chunked" "Transfer-Encoding: chunked" "$(cat "$TMP/hg.head")"

# HTML whose gzip stream ends early, before any of the page could be
# shown: the client gets the bytes the origin sent, with their
# Content-Encoding and length, and no banner.
curl -s -m 5 -x "http://$PROXY_p" -D "$TMP/cut.head" -o "$TMP/cut.body" \
  "http://127.0.0.1:$PORT_plain/html-gzip-cut" || fail "html-gzip-cut: curl failed"
check_has "html-gzip-cut: encoding kept" "Content-Encoding: gzip" "$(cat "$TMP/cut.head")"
check_has "html-gzip-cut: length kept" "Content-Length: 20" "$(cat "$TMP/cut.head")"
check_eq "html-gzip-cut: raw bytes" \
  "$(python3 -c 'import gzip, sys; sys.stdout.buffer.write(gzip.compress(sys.argv[1].encode(), mtime=0)[:20])' "$HTML" | hex)" \
  "$(hex <"$TMP/cut.body")"

# HTML that decodes in full but fails the gzip check at the end: the
# decoded page with the banner has gone out by then, so the response is
# cut rather than completed.
curl -s -m 5 -x "http://$PROXY_p" -o /dev/null \
  "http://127.0.0.1:$PORT_plain/html-gzip-bad-crc"
check_eq "html-gzip-bad-crc: cut" 18 "$?"

# A zstd frame that declares a window over the decoder's 8 MiB cap: the
# client gets the bytes as sent, banner or not, and the record keeps them
# with the decode error.
for type in text/plain text/html; do
  curl -s -m 5 -x "http://$PROXY_p" -D "$TMP/zw.head" -o "$TMP/zw.body" \
    "http://127.0.0.1:$PORT_plain/zstd-window?type=$type" ||
    fail "zstd-window $type: curl failed"
  check_has "zstd-window $type: encoding kept" "Content-Encoding: zstd" \
    "$(cat "$TMP/zw.head")"
  check_eq "zstd-window $type: raw bytes" "$(hex <"$TMP/hello-window.zst")" \
    "$(hex <"$TMP/zw.body")"
done

# Hop-by-hop fields do not reach the origin; credentials do, unchanged.
echo_out=$(curl -s -m 5 -x "http://$PROXY_p" -H "Connection: X-Secret" \
  -H "X-Secret: 1" -H "Keep-Alive: timeout=5" -H "Cookie: sid=abc; t=1" \
  -H "Authorization: Basic dXNlcjpwYXNz" "http://127.0.0.1:$PORT_plain/echo")
check_lacks "echo: X-Secret removed" "X-Secret" "$echo_out"
check_lacks "echo: Keep-Alive removed" "Keep-Alive" "$echo_out"
check_lacks "echo: Proxy-Connection removed" "Proxy-Connection" "$echo_out"
check_has "echo: cookie forwarded" '"sid=abc; t=1"' "$echo_out"

cookie_out=$(curl -s -m 5 -x "http://$PROXY_p" -D - \
  "http://127.0.0.1:$PORT_plain/cookie")
check_has "cookie: client gets the value" "sid=s3cret" "$cookie_out"

# Over the body cap: the client gets everything, the record the start.
curl -s -m 10 -x "http://$PROXY_p" -o "$TMP/big" \
  "http://127.0.0.1:$PORT_plain/big?n=10000"
check_eq "big: client length" 10000 "$(wc -c <"$TMP/big" | tr -d ' ')"

# Pipelining: two requests in one write, two responses in order.
pipelined=$(python3 - "$PROXY_p" "$PORT_plain" <<'PY'
import socket, sys, time
host, port = sys.argv[1].split(":")
s = socket.create_connection((host, int(port)), timeout=5)
req = "GET http://127.0.0.1:%s/%s HTTP/1.1\r\nHost: x\r\n\r\n"
s.sendall((req % (sys.argv[2], "head?pipelined") +
           req % (sys.argv[2], "chunked?pipelined")).encode())
data = b""
deadline = time.time() + 5
while b"X-Checksum: 42" not in data and time.time() < deadline:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
print(data.count(b"HTTP/1.1 200"), data.index(b"hello world") < data.index(b"defgh"))
PY
)
check_eq "pipelining: two responses in order" "2 True" "$pipelined"

# WebSocket: the handshake through the proxy, then an echo both ways.
ws=$(python3 - "$PROXY_p" "$PORT_plain" <<'PY'
import base64, os, socket, sys
host, port = sys.argv[1].split(":")
s = socket.create_connection((host, int(port)), timeout=5)
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(("GET http://127.0.0.1:%s/ws HTTP/1.1\r\nHost: x\r\n"
           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
           % (sys.argv[2], key)).encode())
head = b""
while b"\r\n\r\n" not in head:
    head += s.recv(1)
mask = os.urandom(4)
payload = b"ping through proxy"
s.sendall(bytes([0x81, 0x80 | len(payload)]) + mask +
          bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
reply = s.recv(2)
data = s.recv(reply[1] & 0x7f)
print(head.split(b"\r\n")[0].decode(), data.decode())
PY
)
check_eq "websocket: upgrade and echo" \
  "HTTP/1.1 101 Switching Protocols ping through proxy" "$ws"

# A CONNECT tunnel whose first bytes are not TLS is relayed unchanged:
# no banner, and only the handshake is recorded.
tunnel=$(curl -s -m 5 -x "http://$PROXY_p" --proxytunnel \
  "http://127.0.0.1:$PORT_plain/html")
check_eq "raw tunnel: unchanged" "$HTML" "$tunnel"

# The magic host serves the CA certificate, never the key.
pem=$(curl -s -m 5 -x "http://$PROXY_p" http://stratosphere/ca.pem)
check_eq "magic: PEM is the CA" "$(cat "$CA")" "$pem"
page=$(curl -s -m 5 -x "http://$PROXY_p" --cacert "$CA" https://stratosphere/)
check_has "magic over https: install page" "Install steps" "$page"
check_lacks "magic: no key" "PRIVATE KEY" "$page$pem"

stop_proxy p
DB=$TMP/p/probe.db
[ -f "$DB" ] || { fail "probe.db was not created"; finish; }

while IFS='|' read -r scheme name url status ctype rec; do
  row=$(sqlite3 -separator '|' "$DB" "SELECT flow_response_status_code,
        ifnull(flow_response_headers_content_type, ''),
        hex(flow_response_content) FROM flows
        WHERE flow_request_pretty_url = '$url'")
  if [ "$status" = "-" ]; then
    check_eq "$scheme $name: not recorded" "" "$row"
  else
    check_eq "$scheme $name: recorded row" \
      "$status|$ctype|$(expand "$rec" | hex | tr a-f A-F)" "$row"
  fi
done <"$TMP/expected"

q() {
  sqlite3 "$DB" "$1"
}
check_has "redaction: request cookie names kept" \
  '"Cookie": "sid=<redacted>; t=<redacted>"' \
  "$(q "SELECT flow_request_headers FROM flows WHERE flow_request_url LIKE '%/echo'")"
check_has "redaction: authorization scheme kept" \
  '"Authorization": "Basic <redacted>"' \
  "$(q "SELECT flow_request_headers FROM flows WHERE flow_request_url LIKE '%/echo'")"
check_has "redaction: set-cookie" \
  '"Set-Cookie": "sid=<redacted>; Path=/; HttpOnly, theme=<redacted>"' \
  "$(q "SELECT flow_response_headers FROM flows WHERE flow_request_url LIKE '%/cookie'")"
check_lacks "redaction: no secret on disk" "s3cret" \
  "$(q "SELECT flow_response_headers || flow_request_headers FROM flows")"
check_eq "big: recorded the cap with a marker" "4096|1" \
  "$(q "SELECT length(flow_response_content),
        instr(flow_response_headers, '\"x-stratosphere-truncated\": \"10000\"') > 0
        FROM flows WHERE flow_request_url LIKE '%/big?n=10000'")"
check_eq "badgzip: decode error marked" "1" \
  "$(q "SELECT count(*) FROM flows WHERE flow_request_url LIKE 'http:%/bad-gzip'
        AND flow_response_headers LIKE '%x-stratosphere-decode-error%'")"
check_eq "htmlbadgz: decode error marked" "1" \
  "$(q "SELECT count(*) FROM flows WHERE flow_request_url LIKE 'http:%/html-bad-gzip'
        AND flow_response_headers LIKE '%x-stratosphere-decode-error%'")"
check_eq "html-gzip-cut: recorded as received, marked" "$(hex <"$TMP/cut.body" | tr a-f A-F)|1" \
  "$(q "SELECT hex(flow_response_content),
        flow_response_headers LIKE '%x-stratosphere-decode-error%'
        FROM flows WHERE flow_request_url LIKE '%/html-gzip-cut'")"
for type in text/plain text/html; do
  check_eq "zstd-window $type: recorded as received, marked" \
    "$(hex <"$TMP/hello-window.zst" | tr a-f A-F)|1" \
    "$(q "SELECT hex(flow_response_content),
          flow_response_headers LIKE '%x-stratosphere-decode-error%'
          FROM flows WHERE flow_request_url LIKE '%/zstd-window?type=$type'")"
done
check_eq "continue: request body recorded" "xyz" \
  "$(q "SELECT CAST(flow_request_content AS TEXT) FROM flows
        WHERE flow_request_url LIKE 'http:%/continue'")"
check_eq "head: method and version" "HEAD|HTTP/1.1|HTTP/1.1" \
  "$(q "SELECT flow_request_method, flow_request_http_version,
        flow_response_http_version FROM flows
        WHERE flow_request_pretty_url = 'http://127.0.0.1:$PORT_plain/head'")"
check_eq "https: pretty url, host and port" \
  "https://origin.test/html|127.0.0.1|$PORT_tls" \
  "$(q "SELECT flow_request_pretty_url, flow_request_host, flow_request_port
        FROM flows WHERE flow_request_pretty_url = 'https://origin.test/html'")"
check_eq "websocket: handshake recorded" "101" \
  "$(q "SELECT flow_response_status_code FROM flows
        WHERE flow_request_url LIKE '%/ws'")"
check_eq "raw tunnel: CONNECT recorded" "CONNECT|200" \
  "$(q "SELECT flow_request_method, flow_response_status_code FROM flows
        WHERE flow_request_method = 'CONNECT'
        AND flow_request_port = $PORT_plain")"
check_eq "timestamps: capture after request" "0" \
  "$(q "SELECT count(*) FROM flows WHERE flow_capture_timestamp
        < flow_request_timestamp_start")"
finish
