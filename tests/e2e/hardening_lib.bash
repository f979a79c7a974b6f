# Shared setup for the fault, load and security tests (tests/e2e/fault_*.sh,
# load_*.sh, security_*.sh), sourced after tests/fixtures/proxy_env.sh:
# a private network namespace, an nginx origin, `stratosphere run` with a
# dashboard, and readings of a process's file descriptors and memory.
#
# Usage in a test:
#   BIN=$1
#   . "${ST_SOURCE_DIR:-.}/tests/e2e/hardening_lib.bash"
#   enter_netns "$@"        # re-executes the test in its own namespace
#   . "$SRC/tests/fixtures/proxy_env.sh"


# enter_netns ARGS...: re-executes the calling test in a new network
# namespace with only loopback up, so nothing any process sends can leave
# the machine. With NETNS_MOUNT=1 set before the call, also in a private
# mount namespace, so file systems the test mounts vanish with it. Skips
# the test (exit 77) when namespaces are not available.
enter_netns() {
  local flags="--net"
  [ "${NETNS_MOUNT:-0}" = 1 ] && flags="--net --mount --propagation private"
  if [ -z "${ST_IN_NETNS:-}" ]; then
    # shellcheck disable=SC2086 # the flags are split on purpose
    if ! unshare $flags true 2>/dev/null; then
      echo "skip: cannot create namespaces (unshare $flags)"
      exit 77
    fi
    # shellcheck disable=SC2086
    ST_IN_NETNS=1 exec unshare $flags bash "$0" "$@"
  fi
  ip link set lo up
  # glibc ignores names mapped to 127.0.0.1 with AI_ADDRCONFIG when only
  # loopback is configured; a second loopback address avoids that.
  ip addr add 127.0.0.2/8 dev lo 2>/dev/null
  return 0
}


# require_tools TOOL...: skips the test when a tool is missing.
require_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null ||
      { echo "skip: $tool is not installed"; exit 77; }
  done
}


free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}


# start_nginx: nginx as the current user, serving $TMP/nginx/html on
# 127.0.0.1:$NGINX_PORT (keep-alive on, access log off). NGINX_HTTP_EXTRA
# and NGINX_SERVER_EXTRA, when set, are added to the http and server
# blocks.
start_nginx() {
  local user_line="" i=0
  NGINX_PORT=$(free_port)
  mkdir -p "$TMP/nginx/logs" "$TMP/nginx/html"
  [ "$(id -u)" -eq 0 ] && user_line="user root;"
  cat >"$TMP/nginx/nginx.conf" <<CONF
$user_line
worker_processes 1;
worker_rlimit_nofile 8192;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  types { text/html html; text/plain txt; }
  keepalive_requests 100000;
  ${NGINX_HTTP_EXTRA:-}
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $TMP/nginx/html;
    ${NGINX_SERVER_EXTRA:-}
  }
}
CONF
  nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -g 'daemon off;' \
    >"$TMP/nginx/logs/stderr.log" 2>&1 &
  PIDS="$PIDS $!"
  until curl -s -o /dev/null "http://127.0.0.1:$NGINX_PORT/"; do
    i=$((i + 1))
    [ "$i" -gt 50 ] && { echo "nginx did not start"; cat "$TMP/nginx/logs/"*;
                         exit 1; }
    sleep 0.1
  done
}


# start_service NAME COMMAND LUA_FIELDS [ARGS...]: writes $TMP/NAME.lua
# with data_dir $TMP/NAME and LUA_FIELDS, starts `stratosphere COMMAND`
# (run or proxy) with the proxy on a free port, and sets PROXY_<NAME>,
# PID_<NAME> and, for run, DASH_<NAME> ("127.0.0.1:PORT"). Unlike
# start_proxy it keeps the log of earlier starts of NAME, so a test can
# restart a service and read every run's lines.
start_service() {
  local name=$1 cmd=$2 fields=$3 i=0 log pid addr dash
  shift 3
  log=$TMP/$name.proxy.log
  cat >"$TMP/$name.lua" <<LUA
return {
  data_dir = "$TMP/$name",
  log_level = "debug",
  dashboard = { listen = "127.0.0.1:0" },
  $fields
}
LUA
  echo "---- start" >>"$log"
  local from
  from=$(wc -l <"$log")
  "$BIN" "$cmd" -c "$TMP/$name.lua" --listen 127.0.0.1:0 "$@" >>"$log" 2>&1 &
  pid=$!
  PIDS="$PIDS $pid"
  while :; do
    addr=$(tail -n +"$from" "$log" |
           sed -n 's/.*proxy: listening on \([0-9.]*:[0-9]*\).*/\1/p' | head -1)
    dash=$(tail -n +"$from" "$log" |
           sed -n 's|.*dashboard listening on http://\([0-9.]*:[0-9]*\)/.*|\1|p' |
           head -1)
    if [ -n "$addr" ] && { [ "$cmd" != run ] || [ -n "$dash" ]; }; then
      break
    fi
    i=$((i + 1))
    if [ "$i" -gt 150 ] || ! kill -0 "$pid" 2>/dev/null; then
      echo "stratosphere $cmd $name did not start:"
      tail -n +"$from" "$log"
      exit 1
    fi
    sleep 0.1
  done
  eval "PROXY_$name=$addr"
  eval "PID_$name=$pid"
  eval "DASH_$name=$dash"
}


# kill9 NAME: SIGKILL, as a crash or an OOM killer would stop the process.
kill9() {
  local pid
  eval "pid=\$PID_$1"
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}


# sql DB QUERY: runs QUERY with a busy timeout, for reading a file that a
# running writer holds.
sql() {
  sqlite3 -cmd ".timeout 5000" "$1" "$2"
}


# fd_count PID: the number of open file descriptors.
fd_count() {
  ls "/proc/$1/fd" 2>/dev/null | wc -l
}


# rss_kb PID / peak_rss_kb PID: resident memory now and at its highest, in
# KiB, from /proc/PID/status.
rss_kb() {
  awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}

peak_rss_kb() {
  awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}


# asan_build: true when $BIN was built with AddressSanitizer, whose
# quarantine keeps freed memory, so that RSS says nothing about leaks;
# LeakSanitizer checks those at exit instead.
asan_build() {
  ldd "$BIN" 2>/dev/null | grep -q libasan
}


# check_le NAME LIMIT VALUE: VALUE <= LIMIT, both integers.
check_le() {
  CHECKS=$((CHECKS + 1))
  if [ -z "$3" ] || [ "$3" -gt "$2" ]; then
    fail "$1"
    printf '  limit:  %s\n  actual: %s\n' "$2" "$3"
  fi
}


# check_ge NAME MINIMUM VALUE: VALUE >= MINIMUM, both integers.
check_ge() {
  CHECKS=$((CHECKS + 1))
  if [ -z "$3" ] || [ "$3" -lt "$2" ]; then
    fail "$1"
    printf '  minimum: %s\n  actual:  %s\n' "$2" "$3"
  fi
}


# wait_until SECONDS COMMAND...: runs COMMAND every 0.2 s until it
# succeeds; returns 1 when SECONDS pass first.
wait_until() {
  local limit=$(($1 * 5)) i=0
  shift
  until "$@"; do
    i=$((i + 1))
    [ "$i" -gt "$limit" ] && return 1
    sleep 0.2
  done
  return 0
}
