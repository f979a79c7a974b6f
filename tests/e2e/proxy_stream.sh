# End-to-end: a large download streams through the proxy with bounded
# memory, also when the client reads slowly (backpressure), and a body
# over proxy.max_body is recorded cut with its marker.
BIN=${1:?usage: bash proxy_stream.sh STRATOSPHERE_BINARY}
. "${ST_SOURCE_DIR:-.}/tests/fixtures/proxy_env.sh"

for tool in curl sqlite3 python3; do
  command -v "$tool" >/dev/null || { echo "skip: $tool is not installed"; exit 77; }
done

start_origin plain
start_proxy p ""
O=http://127.0.0.1:$PORT_plain

peak_kb() {
  sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$PID_p/status"
}

# 256 MiB, not recorded (binary type): the client gets every byte.
n=$((256 * 1024 * 1024))
got=$(curl -s -m 120 -x "http://$PROXY_p" -o /dev/null -w '%{size_download}' \
  "$O/big?n=$n&type=application/octet-stream")
check_eq "fast client: all bytes" "$n" "$got"

# 64 MiB to a client reading at 16 MiB/s: the proxy must stop reading the
# origin instead of buffering what the client has not taken.
n2=$((64 * 1024 * 1024))
got=$(curl -s -m 120 --limit-rate 16M -x "http://$PROXY_p" -o /dev/null \
  -w '%{size_download}' "$O/big?n=$n2&type=application/octet-stream")
check_eq "slow client: all bytes" "$n2" "$got"
peak=$(peak_kb)
CHECKS=$((CHECKS + 1))
if [ "$peak" -gt $((64 * 1024)) ]; then
  fail "peak memory ${peak} kB is over 64 MiB while streaming"
fi

# 40 MiB of text: relayed in full, recorded as the first 16 MiB.
n3=$((40 * 1024 * 1024))
got=$(curl -s -m 120 -x "http://$PROXY_p" -o /dev/null -w '%{size_download}' \
  "$O/big?n=$n3")
check_eq "recorded text: all bytes relayed" "$n3" "$got"
stop_proxy p
check_eq "recorded text: cut at max_body with the marker" \
  "$((16 * 1024 * 1024))|1" \
  "$(sqlite3 "$TMP/p/probe.db" "SELECT length(flow_response_content),
     instr(flow_response_headers, '\"x-stratosphere-truncated\": \"$n3\"') > 0
     FROM flows WHERE flow_request_url LIKE '%/big?n=$n3'")"
check_eq "binary downloads: not recorded" "0" \
  "$(sqlite3 "$TMP/p/probe.db" "SELECT count(*) FROM flows
     WHERE flow_request_url LIKE '%octet-stream'")"
finish
