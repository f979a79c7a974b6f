# The data folder runs out of space, then becomes read-only, under
# `stratosphere run` with load going through it. In both cases every
# request must still be proxied, the flow store's failures must be logged a
# few times with a count instead of once per flow, and nothing may crash.
# When space returns, recording and extraction must resume.
#
# The full disk is a 16 MiB tmpfs filled with a file. The read-only disk is
# an ext4 image on a loop device mounted with errors=remount-ro, whose
# /sys/fs/ext4/DEV/trigger_fs_error turns it read-only under the running
# process, as a disk error would. Both mounts live in a private mount
# namespace. Needs root; the ext4 part is skipped without mkfs.ext4.
BIN=${1:?usage: bash fault_disk.sh STRATOSPHERE_BINARY}
. "${ST_SOURCE_DIR:-.}/tests/e2e/hardening_lib.bash"
require_tools curl sqlite3 python3 nginx hey unshare ip mount
[ "$(id -u)" -eq 0 ] || { echo "skip: mounting file systems needs root"; exit 77; }
NETNS_MOUNT=1 enter_netns "$@"
. "${ST_SOURCE_DIR:-.}/tests/fixtures/proxy_env.sh"

MOUNTS=""
# Stops every process first, so that no open file keeps a mount busy.
cleanup_mounts() {
  local m p
  for p in $PIDS; do
    kill "$p" 2>/dev/null
  done
  for p in $PIDS; do
    wait "$p" 2>/dev/null
  done
  for m in $MOUNTS; do
    umount -l "$m" 2>/dev/null
  done
}
trap 'cleanup_mounts; cleanup' EXIT

start_nginx
echo '<!doctype html><html><body><p>page</p></body></html>' \
  >"$TMP/nginx/html/page.html"
mkdir -p "$TMP/extractors"
cat >"$TMP/extractors/pages.lua" <<'LUA'
-- One fault.test/page entity per flow, so the pipeline writes kb.db.
local M = { match = { method = "GET" } }

function M.extract(flow, kb)
  kb.upsert({ type = "fault.test/page", key = flow.id, data = { ok = 1 } })
  return true
end

return M
LUA

URL=http://127.0.0.1:$NGINX_PORT/page.html
FIELDS="pipeline = { interval = 1, extractors = \"$TMP/extractors\" },
  store = { retention = 86400 },"

# load NAME COUNT: COUNT requests (a multiple of 4, the concurrency)
# through the proxy NAME; prints how many got a 200.
load() {
  local proxy
  eval "proxy=\$PROXY_$1"
  hey -cpus 1 -n "$2" -c 4 -x "http://$proxy" "$URL?$1" 2>&1 |
    sed -n 's/^[[:space:]]*\[200\][[:space:]]*\([0-9]*\) responses.*/\1/p'
}

# log_lines NAME PATTERN: lines of the service's log matching PATTERN.
log_lines() {
  grep -c "$2" "$TMP/$1.proxy.log"
}

flows_in() {
  sql "$TMP/$1/probe.db" "SELECT count(*) FROM flows WHERE flow_request_url LIKE '%$2'"
}

# recorded NAME COUNT: true once COUNT flows of NAME's load are stored.
recorded() {
  [ "$(flows_in "$1" "?$1")" -ge "$2" ]
}


# ---- A full disk ---------------------------------------------------------
mkdir -p "$TMP/full"
mount -t tmpfs -o size=16m tmpfs "$TMP/full"
MOUNTS="$TMP/full"
ln -s "$TMP/full" "$TMP/f"
start_service f run "$FIELDS"
check_eq "full: warm-up proxied" 20 "$(load f 20)"
wait_until 10 recorded f 20 ||
  fail "full: warm-up flows were not recorded"

dd if=/dev/zero of="$TMP/full/filler" bs=64k 2>/dev/null
echo "full: $(df -k "$TMP/full" | awk 'NR == 2 { print $4 }') KiB left"
check_eq "full: every request proxied while the disk is full" 400 \
  "$(load f 400)"
sleep 3  # the writer and about three pipeline cycles meet the full disk
check_eq "full: still running" 0 "$(kill -0 "$PID_f" 2>/dev/null; echo $?)"
errors=$(log_lines f ' error \| warn ')
echo "full: $errors error and warning lines for 400 lost flows and" \
  "$(log_lines f 'pipeline: cycle failed') failed pipeline cycles"
check_le "full: failures are summarized, not logged per flow" 2 "$errors"
check_eq "full: the writer logs its first failure once" 1 \
  "$(log_lines f 'writer: .*commit failed')"
check_eq "full: the pipeline logs its first failure once" 1 \
  "$(log_lines f 'pipeline: cycle failed')"
check_has "full: the first failure names the cause" "disk is full" \
  "$(grep ' error ' "$TMP/f.proxy.log" | head -1)"

rm "$TMP/full/filler"
check_eq "full: proxied after space returns" 32 "$(load f 32)"
# The pipeline runs over the warm-up flows it may have failed to commit
# and over the new ones.
resumed() {
  recorded f 50 &&
  [ "$(sql "$TMP/full/kb.db" "SELECT count(*) FROM entities
        WHERE type = 'fault.test/page'")" = \
    "$(sql "$TMP/full/probe.db" "SELECT count(*) FROM flows")" ]
}
wait_until 20 resumed || fail "full: recording or extraction did not resume"
check_has "full: the writer logs its recovery" "commits succeed again" \
  "$(cat "$TMP/f.proxy.log")"
check_has "full: the pipeline logs its recovery" "cycles succeed again" \
  "$(cat "$TMP/f.proxy.log")"
stop_proxy f
check_eq "full: probe.db integrity" ok \
  "$(sql "$TMP/full/probe.db" "PRAGMA integrity_check")"
check_eq "full: kb.db integrity" ok "$(sql "$TMP/full/kb.db" "PRAGMA integrity_check")"


# ---- A disk that turns read-only -------------------------------------------
if ! command -v mkfs.ext4 >/dev/null; then
  echo "read-only part skipped: mkfs.ext4 is not installed"
  finish
fi
truncate -s 64M "$TMP/ext4.img"
mkfs.ext4 -q -F "$TMP/ext4.img"
mkdir -p "$TMP/ro"
if ! mount -o loop,errors=remount-ro "$TMP/ext4.img" "$TMP/ro" 2>"$TMP/mount.err"; then
  echo "read-only part skipped: cannot mount a loop device: $(cat "$TMP/mount.err")"
  finish
fi
MOUNTS="$TMP/ro $MOUNTS"
ln -s "$TMP/ro" "$TMP/r"
DEV=$(basename "$(findmnt -n -o SOURCE "$TMP/ro")")
start_service r run "$FIELDS"
check_eq "read-only: warm-up proxied" 20 "$(load r 20)"
wait_until 10 recorded r 20 ||
  fail "read-only: warm-up flows were not recorded"

echo 1 >"/sys/fs/ext4/$DEV/trigger_fs_error"
check_has "read-only: the file system turned read-only" "emergency_ro" \
  "$(findmnt -n -o OPTIONS "$TMP/ro")"
check_eq "read-only: every request proxied" 400 "$(load r 400)"
sleep 3
check_eq "read-only: still running" 0 "$(kill -0 "$PID_r" 2>/dev/null; echo $?)"
errors=$(log_lines r ' error \| warn ')
echo "read-only: $errors error and warning lines for 400 lost flows"
check_le "read-only: failures are summarized, not logged per flow" 2 "$errors"

# A clean stop cannot write, but must still end without a crash.
kill -TERM "$PID_r"
stopped() {
  ! kill -0 "$PID_r" 2>/dev/null
}
wait_until 10 stopped ||
  fail "read-only: did not stop within 10 s"
wait "$PID_r" 2>/dev/null
status=$?
echo "read-only: exit status $status"
check_le "read-only: exit without a signal" 1 "$status"
finish
