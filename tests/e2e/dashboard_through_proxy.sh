# A browser that uses the proxy for every address, as `stratosphere browser`
# does, also loads the dashboard through it. Those pages are relayed but
# neither recorded nor given the banner, whichever address names the
# dashboard's listener; pages of other sites still are.
BIN=${1:?usage: bash dashboard_through_proxy.sh STRATOSPHERE_BINARY}
. "${ST_SOURCE_DIR:-.}/tests/fixtures/proxy_env.sh"
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 not installed"; exit 77; }

start_origin web
cat >"$TMP/run.lua" <<LUA
return {
  data_dir = "$TMP/data",
  dashboard = { listen = "127.0.0.1:0" },
  pipeline = { extractors = "$TMP/none" },
}
LUA
start_run "$TMP/run.lua"
proxy=$PROXY_run
dashboard=$DASHBOARD_run
port=${dashboard##*:}

# The same listener by its own address, by localhost and by 0.0.0.0.
for host in 127.0.0.1 localhost 0.0.0.0; do
  page=$(curl -sS --max-time 10 -x "http://$proxy" -H "Host: $dashboard" \
    "http://$host:$port/")
  check_has "dashboard via $host: served" "<title>" "$page"
  check_lacks "dashboard via $host: no banner" "stratosphere-banner" "$page"
done
page=$(curl -sS --max-time 10 -x "http://$proxy" \
  "http://127.0.0.1:$PORT_web/html")
check_has "other site: banner inserted" "stratosphere-banner" "$page"

kill -TERM "$PID_run"
wait "$PID_run"
check_eq "no flow recorded for the dashboard" 0 \
  "$(sqlite3 "$TMP/data/probe.db" \
     "SELECT count(*) FROM flows WHERE flow_request_port = $port")"
check_eq "the other site's page recorded" 1 \
  "$(sqlite3 "$TMP/data/probe.db" \
     "SELECT count(*) FROM flows WHERE flow_request_port = $PORT_web")"

finish
