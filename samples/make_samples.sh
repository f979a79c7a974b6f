#!/usr/bin/env bash
# Records the sample captures search.db, vk.db and linkedin.db: curl
# requests the fixture pages of tests/fixtures through `stratosphere
# proxy`, which records them as it records any browsing. The sites are
# served by samples/site.py on 127.0.0.1:443 inside a private network
# namespace whose /etc/hosts maps www.google.com, www.bing.com, vk.com and
# www.linkedin.com to 127.0.0.1. The namespace has only a loopback
# interface, so no request can leave the machine.
#
# usage: samples/make_samples.sh BINARY [OUTPUT_DIR]
# OUTPUT_DIR defaults to the samples folder. Needs unshare (user, network
# and mount namespaces), ip, openssl, curl, python3 and sqlite3.
set -eu

bin=$(realpath "${1:?usage: make_samples.sh BINARY [OUTPUT_DIR]}")
src=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath "${2:-$src/samples}")
hosts="www.google.com www.bing.com vk.com www.linkedin.com"

if [ -z "${ST_SAMPLES_NETNS:-}" ]; then
  ST_SAMPLES_NETNS=1 exec unshare --user --map-root-user --net --mount \
    bash "$0" "$bin" "$out"
fi

tmp=$(mktemp -d /tmp/st-samples.XXXXXX)
pids=""
cleanup() {
  for pid in $pids; do
    kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

ip link set lo up
printf '127.0.0.1 localhost %s\n' "$hosts" >"$tmp/hosts"
mount --bind "$tmp/hosts" /etc/hosts

# A throwaway CA and one certificate for all four sites. The proxy trusts
# the CA through --ca-file, as it would trust the public CAs.
san=$(printf 'DNS:%s,' $hosts)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$tmp/site-ca.key" -out "$tmp/site-ca.pem" -days 2 \
  -subj "/CN=stratosphere samples CA" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$tmp/site.key" -out "$tmp/site.csr" -subj "/CN=www.google.com" \
  2>/dev/null
printf 'subjectAltName=%s\n' "${san%,}" >"$tmp/site.ext"
openssl x509 -req -in "$tmp/site.csr" -CA "$tmp/site-ca.pem" \
  -CAkey "$tmp/site-ca.key" -CAcreateserial -days 2 \
  -extfile "$tmp/site.ext" -out "$tmp/site.pem" 2>/dev/null

python3 "$src/samples/site.py" --cert "$tmp/site.pem" --key "$tmp/site.key" \
  --port 443 --fixtures "$src/tests/fixtures" >"$tmp/site.log" 2>&1 &
pids="$pids $!"

# wait_for_line FILE TEXT: waits up to 10 s for TEXT to appear in FILE.
wait_for_line() {
  local i=0
  until grep -q "$2" "$1" 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -gt 100 ]; then
      echo "make_samples: timed out waiting for '$2' in $1:" >&2
      cat "$1" >&2
      exit 1
    fi
    sleep 0.1
  done
}
wait_for_line "$tmp/site.log" "listening on"

proxy_pid=""
proxy_addr=""

# start_proxy NAME: starts a proxy that records into $tmp/NAME/probe.db.
# Its pipeline runs the project's extractors into $tmp/NAME/kb.db.
start_proxy() {
  printf 'return { data_dir = "%s", log_level = "info",\n' "$tmp/$1" \
    >"$tmp/$1.lua"
  printf '  pipeline = { extractors = "%s" } }\n' "$src/extractors" \
    >>"$tmp/$1.lua"
  "$bin" proxy -c "$tmp/$1.lua" --listen 127.0.0.1:0 \
    --ca-file "$tmp/site-ca.pem" >"$tmp/$1.log" 2>&1 &
  proxy_pid=$!
  pids="$pids $proxy_pid"
  wait_for_line "$tmp/$1.log" "listening on"
  proxy_addr=$(sed -n 's/.*listening on \([0-9.]*:[0-9]*\).*/\1/p' \
    "$tmp/$1.log" | head -1)
}

# stop_proxy NAME: stops the proxy, which flushes the flow store, and
# writes OUTPUT_DIR/NAME.db as one self-contained file.
stop_proxy() {
  kill -TERM "$proxy_pid"
  wait "$proxy_pid" || { echo "make_samples: proxy failed:" >&2;
                         cat "$tmp/$1.log" >&2; exit 1; }
  rm -f "$out/$1.db"
  sqlite3 "$tmp/$1/probe.db" ".backup '$out/$1.db'"
  sqlite3 "$out/$1.db" "PRAGMA journal_mode = DELETE; VACUUM;" >/dev/null
  echo "make_samples: $out/$1.db: $(sqlite3 "$out/$1.db" \
    'SELECT count(*) FROM flows') flows"
}

# get URL [CURL_OPTIONS...]: one request through the proxy, like a
# browser's: compressed, trusting the proxy's CA.
get() {
  local url=$1
  shift
  curl -sS --fail -m 10 -o /dev/null --compressed -x "http://$proxy_addr" \
    --cacert "$tmp/$name/ca/ca.pem" -A "Mozilla/5.0 (X11; Linux x86_64)" \
    "$@" "$url"
}

mkdir -p "$out"

name=search
start_proxy $name
get "https://www.google.com/complete/search?q=who%20owns&cp=8&client=gws-wiz&xssi=t&hl=en"
get "https://www.google.com/search?q=who+owns+example+corp&source=hp&hl=en"
get "https://www.google.com/gen_204?atyp=i&ct=slh" --data ""
get "https://www.bing.com/search?q=who+owns+example+corp&form=QBLH"
stop_proxy $name

name=vk
start_proxy $name
get "https://vk.com/id1001"
get "https://vk.com/al_friends.php?act=load_friends_silent" \
  -H "X-Requested-With: XMLHttpRequest" \
  --data "act=load_friends_silent&al=1&gid=0&id=1001&section=all"
get "https://vk.com/id1001?_ref=id2002"
stop_proxy $name

name=linkedin
start_proxy $name
get "https://www.linkedin.com/in/jane-example-1a2b3c/"
get "https://www.linkedin.com/voyager/api/identity/dash/profilePositionGroups?q=viewee&profileUrn=urn%3Ali%3Afsd_profile%3AACoAAB1eXaMpLeJaNe"
get "https://www.linkedin.com/voyager/api/graphql?variables=(start:0,query:(keywords:example%20corp))&queryId=voyagerSearchDashClusters.b0928897b71bd00a5a7291755dcd64f0"
stop_proxy $name
