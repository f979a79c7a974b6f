# End-to-end: how the proxy treats the names a request carries.
# - A TLS server name that is not a valid host name falls back to the
#   CONNECT host.
# - Two Host fields, or an invalid one, get 400.
# - An absolute-form target sets the Host sent upstream.
# - Inside an intercepted tunnel, a Host other than the TLS name gets 421.
BIN=${1:?usage: bash proxy_host_names.sh STRATOSPHERE_BINARY}
. "${ST_SOURCE_DIR:-.}/tests/fixtures/proxy_env.sh"

for tool in openssl python3; do
  command -v "$tool" >/dev/null || { echo "skip: $tool is not installed"; exit 77; }
done

make_cert origin origin.test "DNS:origin.test,IP:127.0.0.1"
start_origin plain
start_origin tls --tls "$TMP/origin.pem" "$TMP/origin.key"
start_proxy p "" --ca-file "$TMP/origin.pem"
CA=$TMP/p/ca/ca.pem
T=127.0.0.1:$PORT_tls
O=127.0.0.1:$PORT_plain

# client ARGS... REQUEST: tests/fixtures/proxy_client.py through the proxy.
client() {
  python3 "$FIXTURES/proxy_client.py" --proxy "$PROXY_p" "$@" 2>&1
}

# status ARGS... REQUEST: only the status code.
status() {
  client "$@" | head -1 | cut -d' ' -f2
}

# ---- TLS server names ----------------------------------------------------
# The load tool hey sends "host:port" as SNI, which is no host name.
out=$(client --connect "$T" --sni "$T" --ca "$CA" --show-san \
      "GET /html HTTP/1.1\r\nHost: $T\r\nConnection: close\r\n\r\n")
check_has "SNI host:port: 200" "HTTP/1.1 200 OK" "$out"
check_has "SNI host:port: leaf for the CONNECT host" \
  "SAN IP Address:127.0.0.1" "$out"
check_eq "no SNI: 200" 200 \
  "$(status --connect "$T" --ca "$CA" \
     "GET /html HTTP/1.1\r\nHost: $T\r\nConnection: close\r\n\r\n")"
check_eq "SNI with a space: 200" 200 \
  "$(status --connect "$T" --sni "bad name" --ca "$CA" \
     "GET /html HTTP/1.1\r\nHost: $T\r\nConnection: close\r\n\r\n")"
check_eq "valid SNI: 200" 200 \
  "$(status --connect "$T" --sni origin.test --ca "$CA" \
     "GET /html HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n")"

# ---- Host inside an intercepted tunnel -----------------------------------
tunnel() {
  status --connect "$T" --sni origin.test --ca "$CA" "$1"
}
check_eq "tunnel: Host of another host gets 421" 421 \
  "$(tunnel "GET /html HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n")"
check_eq "tunnel: Host of the CONNECT host but not the SNI gets 421" 421 \
  "$(tunnel "GET /html HTTP/1.1\r\nHost: $T\r\nConnection: close\r\n\r\n")"
check_eq "tunnel: absolute-form of another host gets 421" 421 \
  "$(tunnel "GET https://other.test/html HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n")"
check_eq "tunnel: Host in capitals with a trailing dot matches" 200 \
  "$(tunnel "GET /html HTTP/1.1\r\nHost: ORIGIN.Test.:$PORT_tls\r\nConnection: close\r\n\r\n")"
check_eq "tunnel: Host without SNI matches the CONNECT host" 200 \
  "$(status --connect "$T" --ca "$CA" \
     "GET /html HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")"
check_eq "tunnel: Host without SNI, another host gets 421" 421 \
  "$(status --connect "$T" --ca "$CA" \
     "GET /html HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n")"

# ---- Invalid Host fields -------------------------------------------------
check_eq "two Host fields: 400" 400 \
  "$(status "GET http://$O/html HTTP/1.1\r\nHost: $O\r\nHost: $O\r\nConnection: close\r\n\r\n")"
check_eq "two Host fields in a tunnel: 400" 400 \
  "$(tunnel "GET /html HTTP/1.1\r\nHost: origin.test\r\nHost: origin.test\r\nConnection: close\r\n\r\n")"
for bad in "a b" "a/b" "a@b" "[::1" "a:80x" "a:99999" "" "a,b" "a:1:2"; do
  check_eq "Host '$bad': 400" 400 \
    "$(status "GET http://$O/html HTTP/1.1\r\nHost: $bad\r\nConnection: close\r\n\r\n")"
done
for good in "a.example" "A-b_c.example:8080" "[::1]:80" "127.0.0.1" \
    "a.example."; do
  check_eq "Host '$good': accepted" 200 \
    "$(status "GET http://$O/html HTTP/1.1\r\nHost: $good\r\nConnection: close\r\n\r\n")"
done

# ---- Absolute-form sets the Host sent upstream ---------------------------
out=$(client --show-body \
      "GET http://$O/echo HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
check_has "absolute-form: the origin got the target's Host" "[\"Host\", \"$O\"]" \
  "$out"
check_lacks "absolute-form: the client's Host is dropped" "evil.example" "$out"
out=$(client --show-body \
      "GET http://$O/echo HTTP/1.1\r\nConnection: close\r\n\r\n")
check_has "absolute-form without Host: the target's Host" "[\"Host\", \"$O\"]" \
  "$out"

check_eq "still serving" 200 \
  "$(status "GET http://$O/html HTTP/1.1\r\nConnection: close\r\n\r\n")"
stop_proxy p
finish
