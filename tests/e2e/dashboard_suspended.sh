# An extractor that exceeds its time budget on flow after flow is
# suspended, and the dashboard's system page and /api/system report it: a
# notice naming the extractor and its file, and "suspended": true, while an
# extractor that works is not marked.
BIN=${1:?usage: bash dashboard_suspended.sh STRATOSPHERE_BINARY}
. "${ST_SOURCE_DIR:-.}/tests/fixtures/proxy_env.sh"
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }

start_origin web
mkdir -p "$TMP/extractors"
cat >"$TMP/extractors/spins.lua" <<'LUA'
local M = { match = { method = "GET" } }

function M.extract(flow, kb)
  while true do end
end

return M
LUA
cat >"$TMP/extractors/works.lua" <<'LUA'
local M = { match = { method = "GET" } }

function M.extract(flow, kb)
  kb.upsert{ type = "test/page", key = flow.request.url }
end

return M
LUA

cat >"$TMP/run.lua" <<LUA
return {
  data_dir = "$TMP/data",
  dashboard = { listen = "127.0.0.1:0" },
  pipeline = { extractors = "$TMP/extractors", interval = 0.2,
               budget = 0.05 },
}
LUA
start_run "$TMP/run.lua"
proxy=$PROXY_run
dashboard=$DASHBOARD_run

# Each flow costs spins.lua its whole budget; five in a row suspend it.
for n in 1 2 3 4 5 6 7 8; do
  curl -sS --max-time 10 -x "http://$proxy" -o /dev/null \
    "http://127.0.0.1:$PORT_web/echo?n=$n"
done
suspended() {
  grep -q "extractor=spins .*suspended until the file changes" "$TMP/run.log"
}
i=0
until suspended; do
  i=$((i + 1))
  [ "$i" -gt 150 ] && break
  sleep 0.1
done
check_has "the log says spins.lua is suspended" "suspended until the file" \
  "$(cat "$TMP/run.log")"

api=$(curl -sS --max-time 10 "http://$dashboard/api/system")
spins=$(printf '%s' "$api" | python3 -c '
import json, sys
for e in json.load(sys.stdin)["pipeline"]["extractors"]:
    print(e["name"], e["suspended"])')
check_has "/api/system marks spins suspended" "spins True" "$spins"
check_has "/api/system leaves works running" "works False" "$spins"

page=$(curl -sS --max-time 10 "http://$dashboard/system")
check_has "the system page names the suspended extractor" \
  "Extractor spins ($TMP/extractors/spins.lua) is suspended" "$page"
check_has "the extractor table marks it" '<span class="badge bad">suspended</span>' \
  "$page"

finish
