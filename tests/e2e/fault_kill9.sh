# kill -9 of `stratosphere run` during heavy recording, repeated. After each
# kill, probe.db and kb.db must pass PRAGMA integrity_check and hold every
# flow that a reader saw committed just before the kill. At the end the
# pipeline must have run its extractor exactly once over every flow: the
# extractor counts its runs per flow in the knowledge base, so a flow run
# twice (cursor saved apart from the writes) or skipped (cursor moved past
# flows not yet run) shows up.
#
# Environment: ST_KILL9_ROUNDS (default 4) sets the number of kills.
BIN=${1:?usage: bash fault_kill9.sh STRATOSPHERE_BINARY}
. "${ST_SOURCE_DIR:-.}/tests/e2e/hardening_lib.bash"
require_tools curl sqlite3 python3 nginx hey unshare ip
enter_netns "$@"
. "${ST_SOURCE_DIR:-.}/tests/fixtures/proxy_env.sh"

ROUNDS=${ST_KILL9_ROUNDS:-4}

start_nginx
printf '<!doctype html><html><head><title>k</title></head>%s</html>' \
  "<body><p>$(head -c 3000 /dev/zero | tr '\0' x)</p></body>" \
  >"$TMP/nginx/html/page.html"

mkdir -p "$TMP/extractors"
cat >"$TMP/extractors/count_runs.lua" <<'LUA'
-- Writes one fault.test/flow entity per flow (key: the flow id) whose
-- data.runs counts how many times this extractor ran over the flow.
local M = {
  match = { method = "GET" },
  merge = function(old, new)
    return { runs = (old.runs or 0) + (new.runs or 0) }
  end,
}

function M.extract(flow, kb)
  kb.upsert({ type = "fault.test/flow", key = flow.id, data = { runs = 1 } })
  return true
end

return M
LUA

FIELDS="pipeline = { interval = 0.2, extractors = \"$TMP/extractors\" },
  store = { retention = 86400 },"
PROBE=$TMP/k/probe.db
KB=$TMP/k/kb.db
URL=http://127.0.0.1:$NGINX_PORT/page.html

for round in $(seq "$ROUNDS"); do
  start_service k run "$FIELDS"
  hey -cpus 1 -z 20s -c 16 -disable-compression -x "http://$PROXY_k" "$URL" \
    >"$TMP/hey.$round.log" 2>&1 &
  HEY=$!
  # Kill at a different moment of the pipeline's cycle each round.
  sleep "1.$((round * 23 % 10))"
  sql "$PROBE" "SELECT flow_id FROM flows ORDER BY rowid" \
    >"$TMP/seen.$round" 2>"$TMP/seen.$round.err"
  kill9 k
  kill "$HEY" 2>/dev/null
  wait "$HEY" 2>/dev/null

  seen=$(wc -l <"$TMP/seen.$round")
  check_ge "round $round: flows were recording before the kill" 20 "$seen"
  check_eq "round $round: probe.db integrity" "ok" \
    "$(sql "$PROBE" "PRAGMA integrity_check")"
  check_eq "round $round: kb.db integrity" "ok" \
    "$(sql "$KB" "PRAGMA integrity_check")"
  sql "$PROBE" "SELECT flow_id FROM flows" | sort >"$TMP/after.$round"
  missing=$(sort "$TMP/seen.$round" | comm -23 - "$TMP/after.$round" | wc -l)
  check_eq "round $round: committed flows survive the kill" 0 "$missing"
  echo "round $round: $seen flows committed before the kill," \
    "$(wc -l <"$TMP/after.$round") after"
done

# A last start without load lets the pipeline catch up; then a clean stop.
start_service k run "$FIELDS"
flows=$(sql "$PROBE" "SELECT count(*) FROM flows")
caught_up() {
  [ "$(sql "$KB" "SELECT count(*) FROM entities
                  WHERE type = 'fault.test/flow'" 2>/dev/null)" = "$flows" ]
}
wait_until 60 caught_up || fail "the pipeline did not catch up within 60 s"
stop_proxy k

check_eq "pipeline: one entity per flow" "$flows" \
  "$(sql "$KB" "SELECT count(*) FROM entities WHERE type = 'fault.test/flow'")"
check_eq "pipeline: no flow extracted twice" 0 \
  "$(sql "$KB" "SELECT count(*) FROM entities WHERE type = 'fault.test/flow'
                AND json_extract(data, '\$.runs') != 1")"
sql "$PROBE" "SELECT flow_id FROM flows" >"$TMP/flow_ids"
python3 - "$TMP/flow_ids" "$KB" >"$TMP/unextracted" <<'PY'
import hashlib, sqlite3, sys
ids = {hashlib.md5(line.strip().encode()).hexdigest()
       for line in open(sys.argv[1]) if line.strip()}
db = sqlite3.connect(sys.argv[2])
have = {r[0] for r in db.execute(
    "SELECT id FROM entities WHERE type = 'fault.test/flow'")}
for i in sorted(ids - have):
    print(i)
PY
check_eq "pipeline: no flow skipped" 0 "$(wc -l <"$TMP/unextracted")"
check_eq "probe.db integrity after a clean stop" "ok" \
  "$(sql "$PROBE" "PRAGMA integrity_check")"
echo "total: $flows flows over $ROUNDS kills"
finish
