# Decompression bombs: many clients at once fetch a gzip body of 4 MB
# that expands to 1 GiB, as HTML (which the proxy decodes to insert the
# banner) and as text (which it relays as sent and decodes to record).
# Peak RSS must stay within proxy.body_memory plus a fixed allowance, with
# the default body_memory and with a smaller one, and every text flow is
# recorded within proxy.max_body. Peak RSS is printed for each part.
#
# Environment: ST_BOMB_CLIENTS (default 40) clients per part, and
# ST_BOMB_SLACK_MB (default 200) the MiB of peak RSS allowed beyond
# body_memory, for the program itself, SQLite, one decoded copy at a time
# and the allocator's free lists.
BIN=${1:?usage: bash load_decode_bombs.sh STRATOSPHERE_BINARY}
. "${ST_SOURCE_DIR:-.}/tests/e2e/hardening_lib.bash"
require_tools curl sqlite3 python3
. "${ST_SOURCE_DIR:-.}/tests/fixtures/proxy_env.sh"

CLIENTS=${ST_BOMB_CLIENTS:-40}
SLACK_MB=${ST_BOMB_SLACK_MB:-200}
MIB=$((1024 * 1024))

# 1 GiB of HTML paragraphs, gzip level 6: about 4 MB.
python3 - "$TMP/bomb.gz" <<'PY'
import sys, zlib
c = zlib.compressobj(6, zlib.DEFLATED, 31)
block = (b"<p>" + b"0123456789abcdef" * 8 + b"</p>\n") * 512
with open(sys.argv[1], "wb") as out:
    out.write(c.compress(b"<html><head><title>bomb</title></head><body>"))
    for _ in range((1 << 30) // len(block)):
        out.write(c.compress(block))
    out.write(c.compress(b"</body></html>") + c.flush())
PY
echo "bomb: $(wc -c <"$TMP/bomb.gz") bytes of gzip for 1 GiB"

start_origin plain
URL=http://127.0.0.1:$PORT_plain/bomb

# html NAME: CLIENTS clients read 32 MiB each of the decoded page through
# proxy NAME, then hang up.
html() {
  local proxy pid i short=0 pids=""
  eval "proxy=\$PROXY_$1 pid=\$PID_$1"
  for i in $(seq "$CLIENTS"); do
    (curl -s -m 120 -x "http://$proxy" "$URL?html=$i" |
       head -c $((32 * MIB)) | wc -c >"$TMP/html.$i") &
    pids="$pids $!"
  done
  # shellcheck disable=SC2086
  wait $pids
  for i in $(seq "$CLIENTS"); do
    [ "$(cat "$TMP/html.$i")" -eq $((32 * MIB)) ] || short=$((short + 1))
  done
  check_eq "$1 html: every client got 32 MiB of the page" 0 "$short"
  check_eq "$1 html: still serving" 200 \
    "$(curl -s -m 10 -o /dev/null -w '%{http_code}' -x "http://$proxy" \
       "http://127.0.0.1:$PORT_plain/html")"
}

# text NAME: CLIENTS clients fetch the gzip body as text through proxy
# NAME, which records it.
text() {
  local proxy i short=0 pids=""
  eval "proxy=\$PROXY_$1"
  for i in $(seq "$CLIENTS"); do
    curl -s -m 120 -x "http://$proxy" -o "$TMP/text.$i" \
      "$URL?type=text/plain&text=$i" &
    pids="$pids $!"
  done
  # shellcheck disable=SC2086
  wait $pids
  for i in $(seq "$CLIENTS"); do
    cmp -s "$TMP/bomb.gz" "$TMP/text.$i" || short=$((short + 1))
  done
  check_eq "$1 text: every client got the gzip body unchanged" 0 "$short"
}

# run_part NAME PART BODY_MEMORY_MB [LUA_FIELDS]: one proxy for one part,
# so that each peak is its own.
run_part() {
  local name=$1 part=$2 budget=$3 pid peak
  start_proxy "$name" "${4:-}"
  eval "pid=\$PID_$name"
  "$part" "$name"
  peak=$(peak_rss_kb "$pid")
  echo "$name: $part, $CLIENTS clients, body_memory $budget MiB:" \
       "peak RSS $((peak / 1024)) MiB"
  if asan_build; then
    echo "AddressSanitizer build: peak RSS not checked"
  else
    check_le "$name: peak RSS within body_memory + $SLACK_MB MiB" \
      $(((budget + SLACK_MB) * 1024)) "$peak"
  fi
  stop_proxy "$name"
}

run_part html_default html 256
run_part text_default text 256
check_eq "text: every flow recorded, none over max_body" "$CLIENTS|0" \
  "$(sql "$TMP/text_default/probe.db" "SELECT count(*),
       sum(length(flow_response_content) > 16 * 1024 * 1024) FROM flows
       WHERE flow_request_url LIKE '%text=%'")"

SMALL="proxy = { body_memory = 64 * 1024 * 1024 },"
run_part html_small html 64 "$SMALL"
run_part text_small text 64 "$SMALL"
check_eq "small: every flow recorded" "$CLIENTS" \
  "$(sql "$TMP/text_small/probe.db" "SELECT count(*) FROM flows
       WHERE flow_request_url LIKE '%text=%'")"
finish
