#!/usr/bin/env bash
# From the proxy to the knowledge base. A local fixture server serves the
# real Google results page of the search-google.db capture as
# https://www.google.com/search, and curl fetches it through `stratosphere
# run`. The running pipeline must turn the recorded flow into the same
# entities and relationships as the earlier Python version made from the
# original capture (ids, types and data; ts is the new capture time).
#
# It runs in private user, network and mount namespaces whose /etc/hosts
# maps www.google.com to 127.0.0.1 and which have only a loopback
# interface, so no request can leave the machine.
set -u
bin=$(realpath "${1:?usage: proxy_pipeline.sh BINARY}")
src=${ST_SOURCE_DIR:-$(pwd)}
samples=$src/../shared/samples

if [ ! -r "$samples/search-google.db" ]; then
  echo "skip: $samples/search-google.db is absent"
  exit 77
fi
if [ -z "${ST_PIPELINE_NETNS:-}" ]; then
  if ! unshare --user --map-root-user --net --mount true 2>/dev/null; then
    echo "skip: unshare cannot create user and network namespaces here"
    exit 77
  fi
  ST_PIPELINE_NETNS=1 exec unshare --user --map-root-user --net --mount \
    bash "$0" "$bin"
fi

tmp=$(mktemp -d /tmp/st-pipeline.XXXXXX)
pids=""
failures=0
cleanup() {
  for pid in $pids; do
    kill "$pid" 2>/dev/null
  done
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# wait_for_line FILE TEXT: waits up to 10 s for TEXT to appear in FILE.
wait_for_line() {
  local i=0
  until grep -q "$2" "$1" 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -gt 100 ]; then
      echo "timed out waiting for '$2' in $1:"
      cat "$1"
      exit 1
    fi
    sleep 0.1
  done
}

ip link set lo up
printf '127.0.0.1 localhost www.google.com\n' >"$tmp/hosts"
mount --bind "$tmp/hosts" /etc/hosts

# The fixture server replies to /search with the captured page's body.
mkdir -p "$tmp/fixtures/google"
sqlite3 -readonly "$samples/search-google.db" \
  "SELECT writefile('$tmp/fixtures/google/search.html', flow_response_content)
   FROM flows WHERE rowid = 47" >/dev/null
url=$(sqlite3 -readonly "$samples/search-google.db" \
  "SELECT flow_request_url FROM flows WHERE rowid = 47")
case "$url" in
  https://www.google.com/search\?q=who+owns+bellingcat*) ;;
  *) echo "unexpected URL in row 47 of search-google.db: $url"; exit 1 ;;
esac

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$tmp/site.key" -out "$tmp/site.pem" -days 2 \
  -subj "/CN=www.google.com" -addext "subjectAltName=DNS:www.google.com" \
  2>/dev/null
python3 "$src/samples/site.py" --cert "$tmp/site.pem" --key "$tmp/site.key" \
  --port 443 --fixtures "$tmp/fixtures" >"$tmp/site.log" 2>&1 &
pids="$pids $!"
wait_for_line "$tmp/site.log" "listening on"

cat >"$tmp/st.lua" <<LUA
return {
  data_dir = "$tmp/data",
  proxy = { listen = "127.0.0.1:0" },
  dashboard = { listen = "127.0.0.1:0" },
  pipeline = { interval = 0.2, extractors = "$src/extractors" },
}
LUA
"$bin" run -c "$tmp/st.lua" --ca-file "$tmp/site.pem" >"$tmp/run.log" 2>&1 &
run_pid=$!
pids="$pids $run_pid"
wait_for_line "$tmp/run.log" "listening on"
proxy=$(sed -n 's/.*proxy: listening on \([0-9.]*:[0-9]*\).*/\1/p' \
  "$tmp/run.log" | head -1)

code=$(curl -sS -m 20 -o "$tmp/page.html" -w '%{http_code}' --compressed \
  -x "http://$proxy" --cacert "$tmp/data/ca/ca.pem" "$url")
[ "$code" = 200 ] || fail "curl through the proxy got status $code"
grep -q "Bellingcat - Wikipedia" "$tmp/page.html" ||
  fail "the page curl received lacks the results"

# The pipeline runs every 0.2 s, and gets up to 20 s to write the results.
results=0
for _ in $(seq 1 100); do
  results=$(sqlite3 "file:$tmp/data/kb.db?mode=ro" "SELECT count(*) FROM
    entities WHERE type = 'google.com/search_result'" 2>/dev/null || echo 0)
  [ "$results" -ge 15 ] && break
  sleep 0.2
done
[ "$results" = 15 ] || fail "expected 15 search results in kb.db, got $results"

kill -TERM "$run_pid"
wait "$run_pid" || fail "stratosphere run exited with status $?"
grep -q "pipeline: .*error" "$tmp/run.log" && fail "the pipeline logged an error"

python3 "$src/tests/e2e/kb_compare.py" --ignore-ts "$tmp/data/kb.db" \
  "$samples/search-google.kb.json" ||
  fail "kb.db differs from search-google.kb.json"

if [ "$failures" -ne 0 ]; then
  echo "--- stratosphere run log"
  tail -40 "$tmp/run.log"
  exit 1
fi
echo "ok"
