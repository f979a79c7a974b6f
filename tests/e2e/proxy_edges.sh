#!/usr/bin/env bash
# Edge cases of the intercepting proxy. The first is a connection that
# ends while the proxy still writes to it.
BIN=$1
. "${ST_SOURCE_DIR:-.}/tests/fixtures/proxy_env.sh"
CLIENT="python3 $SRC/tests/e2e/proxy_edges.py"

make_cert origin origin.test "DNS:origin.test,IP:127.0.0.1"
start_origin plain
start_origin tls --tls "$TMP/origin.pem" "$TMP/origin.key"
start_proxy p "proxy = { max_body = 4096, idle_timeout = 60 }," \
  --ca-file "$TMP/origin.pem"
PX="--proxy $PROXY_p"

# open_fds: the proxy's open descriptors.
open_fds() {
  find "/proc/$PID_p/fd" -mindepth 1 -maxdepth 1 | wc -l
}

# settle_fds LIMIT: waits up to 5 s until the proxy has at most LIMIT
# descriptors open and prints the count.
settle_fds() {
  local i=0 n
  n=$(open_fds)
  while [ "$n" -gt "$1" ] && [ "$i" -lt 50 ]; do
    sleep 0.1
    i=$((i + 1))
    n=$(open_fds)
  done
  echo "$n"
}

# A client sends a whole request inside intercepted TLS and closes at once,
# and the response ends the connection. The proxy's writes to the client
# fail, and both sockets must still close.
before=$(open_fds)
$CLIENT $PX leak "127.0.0.1:$PORT_tls" 20 /close >/dev/null
check_eq "leak: descriptors after origin close" "$before" \
  "$(settle_fds "$before")"
$CLIENT $PX leak "127.0.0.1:$PORT_tls" 20 "/html HTTP/1.1\r\nConnection: close\r\nX-A: b" >/dev/null
check_eq "leak: descriptors after client close" "$before" \
  "$(settle_fds "$before")"

# The proxy's own pages, twice on one keep-alive connection and pipelined.
out=$(curl -s -m 5 -o /dev/null -o /dev/null -w '%{http_code} ' \
  -x "http://$PROXY_p" http://stratosphere/ http://stratosphere/ca.pem)
check_eq "magic: two requests on one connection" "200 200 " "$out"
check_eq "magic: two pipelined requests" 2 "$($CLIENT $PX pipeline \
  'GET http://stratosphere/ HTTP/1.1\r\nHost: stratosphere\r\n\r\nGET http://stratosphere/ca.pem HTTP/1.1\r\nHost: stratosphere\r\nConnection: close\r\n\r\n')"
check_eq "self: two pipelined origin-form requests" 2 "$($CLIENT $PX pipeline \
  "GET / HTTP/1.1\r\nHost: $PROXY_p\r\n\r\nGET /ca.pem HTTP/1.1\r\nHost: $PROXY_p\r\nConnection: close\r\n\r\n")"

# A CONNECT inside an intercepted tunnel is rejected, not opened.
check_eq "nested CONNECT: rejected" "HTTP/1.1 400 Bad Request" \
  "$($CLIENT $PX nested "127.0.0.1:$PORT_tls")"

# Bytes sent right after an Upgrade request reach the origin once the
# tunnel starts, before the bytes sent later.
out=$($CLIENT $PX upgrade "127.0.0.1:$PORT_plain")
check_has "upgrade: early bytes relayed" "ECHO:EARLY" "$out"
check_has "upgrade: later bytes relayed" "LATE" "$out"

# A 206 response is a byte range of the page, so the banner stays out.
printf 'HTTP/1.1 206 Partial Content\r\nContent-Type: text/html\r\nContent-Range: bytes 0-18/1000\r\nContent-Length: 19\r\n\r\n<html><body>partial' \
  >"$TMP/partial"
check_eq "206: body unchanged" "<html><body>partial" "$(curl -s -m 5 \
  -x "http://$PROXY_p" "http://127.0.0.1:$PORT_plain/raw?f=partial")"

# Transfer codings other than chunked are rejected both ways, not dropped.
check_has "request gzip coding: 400" "HTTP/1.1 400 Bad Request" \
  "$($CLIENT $PX raw "POST http://127.0.0.1:$PORT_plain/echo HTTP/1.1\r\nHost: 127.0.0.1:$PORT_plain\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n")"
check_has "request gzip coding: named" "gzip" \
  "$($CLIENT $PX raw "POST http://127.0.0.1:$PORT_plain/echo HTTP/1.1\r\nHost: 127.0.0.1:$PORT_plain\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n")"
printf 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' \
  >"$TMP/te-gzip-chunked"
printf 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: gzip\r\n\r\nhello' \
  >"$TMP/te-gzip"
for f in te-gzip-chunked te-gzip; do
  check_eq "response $f: 502" 502 "$(curl -s -m 5 -o /dev/null \
    -w '%{http_code}' -x "http://$PROXY_p" \
    "http://127.0.0.1:$PORT_plain/raw?f=$f")"
done

stop_proxy p
finish
