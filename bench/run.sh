#!/usr/bin/env bash
# Benchmarks stratosphere's proxy and pipeline against mitmproxy on this
# machine and writes the results into BENCHMARKS.md.
#
# Everything it starts binds 127.0.0.1 and is stopped by PID: nginx (the
# origin, HTTP and HTTPS with a throwaway certificate), the proxies under
# test and the load clients (hey, curl, a Python idle-connection client).
# Contenders take turns within each repetition, so ratios compare runs
# made under the same machine conditions.
#
# usage: bench/run.sh [--reps N] [--quick] [--cases LIST] [--contenders LIST]
#                     [--no-pipeline] [--no-python] [--results DIR]
#                     [--no-write]
#   --reps N          repetitions of every proxy case (default 3)
#   --quick           fewer requests per case, for trying the harness
#   --cases LIST      comma-separated case names (default: all)
#   --contenders LIST comma-separated contender names (default: all)
#   --no-pipeline     skip the extractor pipeline timings
#   --no-python       skip the Python reference pipeline (slow)
#   --results DIR     keep raw results in DIR (default: a temporary folder)
#   --no-write        print the tables instead of updating BENCHMARKS.md
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
PY=/usr/bin/python3  # Debian's Python, which has python3-sqlalchemy

REPS=3
QUICK=0
CASES_ARG=""
CONTENDERS_ARG=""
PIPELINE=1
PYTHON_REF=1
RESULTS=""
WRITE=1

while [ $# -gt 0 ]; do
  case "$1" in
    --reps) REPS=${2:?--reps needs a number}; shift ;;
    --quick) QUICK=1 ;;
    --cases) CASES_ARG=${2:?--cases needs a list}; shift ;;
    --contenders) CONTENDERS_ARG=${2:?--contenders needs a list}; shift ;;
    --no-pipeline) PIPELINE=0 ;;
    --no-python) PYTHON_REF=0 ;;
    --results) RESULTS=${2:?--results needs a folder}; shift ;;
    --no-write) WRITE=0 ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# CPU arrangement on a 2-core machine. Throughput cases give the proxy
# core 0 to itself and put the load client and nginx on core 1, so every
# contender gets the same core and `direct` (no proxy) shows what core 1
# alone serves. Latency cases (concurrency 1, one connection at a time)
# put everything on core 1, because a wakeup across cores costs tens of
# microseconds here, more than the proxy's own work per request.
PROXY_CPU=0
LOAD_CPU=1

ALL_CONTENDERS="direct mitmdump mitmdump-record strat-record strat-norecord"
# name:kind:scheme:path:concurrency:requests:cap_seconds:proxy_cpu
ALL_CASES="
https-page-c50:hey:https:/search.html:50:10000:90:$PROXY_CPU
https-page-c1:hey:https:/search.html:1:3000:60:$LOAD_CPU
http-page-c50:hey:http:/search.html:50:10000:90:$PROXY_CPU
https-json-c50:hey:https:/data.json:50:10000:90:$PROXY_CPU
https-blob-c50:hey:https:/blob.bin:50:1000:120:$PROXY_CPU
tls-new-same-host:curl:https:/data.json:1:300:120:$LOAD_CPU
tls-new-fresh-host:curl:https:/data.json:1:300:120:$LOAD_CPU
idle-https-1000:idle:https:/data.json:1000:1000:180:$PROXY_CPU
idle-http-1000:idle:http:/data.json:1000:1000:180:$PROXY_CPU
"
if [ "$QUICK" = 1 ]; then
  ALL_CASES=$(printf '%s\n' "$ALL_CASES" | awk -F: 'NF == 8 {
    n = $6; if ($2 == "hey") n = int(n / 10); else if ($2 == "curl") n = 100;
    else n = 200; if (n < $5 && $2 != "idle") n = $5;
    if ($2 == "idle") $5 = n; print $1":"$2":"$3":"$4":"$5":"n":"$7":"$8 }')
fi

WORK=$(mktemp -d /tmp/stratosphere-bench.XXXXXX)
chmod 755 "$WORK"  # nginx's worker runs as an unprivileged user
[ -n "$RESULTS" ] || RESULTS=$WORK/results
mkdir -p "$RESULTS"
PIDS=""

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Stops one process we started: SIGINT, then SIGKILL after 10 s.
stop_pid() {
  local pid=$1 i
  kill -INT "$pid" 2>/dev/null || return 0
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  PIDS=$(printf '%s\n' $PIDS | grep -vx "$pid" | tr '\n' ' ')
}

cleanup() {
  local pid
  for pid in $PIDS; do stop_pid "$pid"; done
  rm -rf "$WORK/proxy-data" "$WORK/mitm-probe.db"* "$WORK/pipeline"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits up to 15 s for a listener on 127.0.0.1:$1.
wait_port() {
  local i
  for i in $(seq 1 150); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# Prints user+system CPU time of a process and its threads, in ms.
cpu_ms() {
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) * 1000 / hz }' "/proc/$1/stat" 2>/dev/null || echo 0
}

status_kb() {
  awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0
}

# ---- setup ----

sh "$BENCH/setup.sh" || exit 1
ulimit -n 65536 2>/dev/null || ulimit -n 8192
log "building stratosphere (build/, RelWithDebInfo)"
"$ROOT/scripts/build.sh" build >/dev/null || exit 1
STRAT=$ROOT/build/stratosphere

mkdir -p "$WORK/www" "$WORK/tmp"
"$PY" "$BENCH/make_content.py" "$WORK/www" || exit 1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$WORK/origin.key" -out "$WORK/origin.pem" -days 2 \
  -subj /CN=bench.test \
  -addext "subjectAltName=DNS:bench.test,DNS:*.bench.test,IP:127.0.0.1" \
  2>/dev/null || exit 1

HTTP_PORT=$(free_port)
HTTPS_PORT=$(free_port)
PROXY_PORT=$(free_port)
sed -e "s#@DIR@#$WORK#g" -e "s/@HTTP_PORT@/$HTTP_PORT/" \
  -e "s/@HTTPS_PORT@/$HTTPS_PORT/" "$BENCH/nginx.conf.in" >"$WORK/nginx.conf"
taskset -c "$LOAD_CPU" nginx -c "$WORK/nginx.conf" -e "$WORK/nginx-error.log" \
  >"$WORK/nginx.out" 2>&1 &
PIDS="$PIDS $!"
wait_port "$HTTPS_PORT" || { log "nginx did not start"; cat "$WORK/nginx.out"; exit 1; }

cat >"$WORK/strat.lua" <<EOF
return {
  data_dir = "$WORK/proxy-data",
  log_level = "warn",
  pipeline = { extractors = "$ROOT/extractors" },
}
EOF
# The CA is made once, so that no case times its creation.
"$STRAT" ca -c "$WORK/strat.lua" >/dev/null || exit 1
mkdir -p "$WORK/mitm-conf"

# ---- contenders ----

PROXY_PID=""

# Starts contender $1 on CPU $2; sets PROXY_PID (empty for direct).
start_contender() {
  local name=$1 cpu=$2
  PROXY_PID=""
  rm -f "$WORK/proxy-data/"probe.db* "$WORK/proxy-data/"kb.db* \
    "$WORK/mitm-probe.db"*
  case "$name" in
    direct) return 0 ;;
    mitmdump)
      taskset -c "$cpu" mitmdump -q --listen-host 127.0.0.1 \
        --listen-port "$PROXY_PORT" --set confdir="$WORK/mitm-conf" \
        --set ssl_insecure=true >"$WORK/proxy.log" 2>&1 & ;;
    mitmdump-record)
      taskset -c "$cpu" mitmdump -q --listen-host 127.0.0.1 \
        --listen-port "$PROXY_PORT" --set confdir="$WORK/mitm-conf" \
        --set ssl_insecure=true -s "$BENCH/mitm_recorder.py" \
        --set probe_db="$WORK/mitm-probe.db" >"$WORK/proxy.log" 2>&1 & ;;
    strat-record)
      taskset -c "$cpu" "$STRAT" proxy -c "$WORK/strat.lua" --upstream-insecure \
        -l "127.0.0.1:$PROXY_PORT" >"$WORK/proxy.log" 2>&1 & ;;
    strat-norecord)
      taskset -c "$cpu" "$STRAT" proxy -c "$WORK/strat.lua" --upstream-insecure --no-record \
        -l "127.0.0.1:$PROXY_PORT" >"$WORK/proxy.log" 2>&1 & ;;
    *) log "unknown contender $name"; return 1 ;;
  esac
  PROXY_PID=$!
  PIDS="$PIDS $PROXY_PID"
  if ! wait_port "$PROXY_PORT"; then
    log "$name did not start:"; cat "$WORK/proxy.log" >&2
    stop_pid "$PROXY_PID"; PROXY_PID=""
    return 1
  fi
}

stop_contender() {
  [ -n "$PROXY_PID" ] && stop_pid "$PROXY_PID"
  PROXY_PID=""
}

url_for() {  # scheme path
  if [ "$1" = https ]; then
    echo "https://127.0.0.1:$HTTPS_PORT$2"
  else
    echo "http://127.0.0.1:$HTTP_PORT$2"
  fi
}

proxy_args() {  # contender: hey's proxy option, if any
  [ "$1" = direct ] || echo "-x http://127.0.0.1:$PROXY_PORT"
}

# Parses hey's summary on stdin into "rps p50_ms p99_ms ok errors".
parse_hey() {
  awk '
    /Requests\/sec:/ { rps = $2 }
    / 50% in / { p50 = $3 * 1000 }
    / 99% in / { p99 = $3 * 1000 }
    /Status code distribution:/ { section = "status"; next }
    /Error distribution:/ { section = "error"; next }
    section == "status" && /\[[0-9]+\]/ {
      code = $1; gsub(/[\[\]]/, "", code)
      if (code ~ /^2/) ok += $2; else bad += $2
    }
    section == "error" && /\[[0-9]+\]/ {
      n = $1; gsub(/[\[\]]/, "", n); bad += n
    }
    END { printf "%s %s %s %d %d\n", rps + 0, p50 + 0, p99 + 0, ok, bad }'
}

# Runs one hey case; prints "rps p50 p99 ok errors".
run_hey() {
  local contender=$1 scheme=$2 path=$3 conc=$4 requests=$5 cap=$6
  local url warm
  url=$(url_for "$scheme" "$path")
  warm=$(( conc * 4 > 200 ? conc * 4 : 200 ))
  # shellcheck disable=SC2046 # proxy_args is empty or two words
  taskset -c "$LOAD_CPU" hey -cpus 1 -n "$warm" -c "$conc" \
    $(proxy_args "$contender") "$url" >/dev/null 2>&1
  # SIGINT makes hey stop and still print its summary, so the cap keeps
  # the figures of the requests done by then.
  # shellcheck disable=SC2046
  timeout -s INT "$cap" taskset -c "$LOAD_CPU" hey -cpus 1 -n "$requests" \
    -c "$conc" -t 30 $(proxy_args "$contender") "$url" \
    >"$WORK/hey.out" 2>&1
  parse_hey <"$WORK/hey.out"
}

# Runs one curl case: each request on a new connection with a full TLS
# handshake (--no-sessionid, Connection: close), one hostname or a fresh
# one per request. --connect-to sends every connection to nginx without a
# DNS lookup; through a proxy, curl sends CONNECT 127.0.0.1:PORT and the
# hostname reaches the proxy as the TLS SNI. Prints "rps p50 p99 ok errors".
run_curl() {
  local contender=$1 fresh=$2 path=$3 requests=$4 cap=$5 cfg=$WORK/curl.cfg
  local i host start end proxy=""
  [ "$contender" = direct ] || proxy="-x http://127.0.0.1:$PROXY_PORT"
  : >"$cfg"
  for i in $(seq 1 "$requests"); do
    if [ "$fresh" = 1 ]; then host=$(printf 'h%s-%05d.bench.test' "$RUN_ID" "$i"); else host=www.bench.test; fi
    printf 'url = "https://%s%s"\noutput = "/dev/null"\n' "$host" "$path" >>"$cfg"
  done
  start=$(date +%s%N)
  # shellcheck disable=SC2086 # $proxy is empty or two words
  timeout -s INT "$cap" taskset -c "$LOAD_CPU" curl -s -k --no-sessionid \
    -H 'Connection: close' --connect-to "::127.0.0.1:$HTTPS_PORT" $proxy \
    -K "$cfg" -w '%{http_code} %{time_total}\n' >"$WORK/curl.out" 2>/dev/null
  end=$(date +%s%N)
  ok=$(awk '$1 == 200' "$WORK/curl.out" | wc -l)
  awk '{ print $2 * 1000 }' "$WORK/curl.out" | sort -n >"$WORK/curl.times"
  awk -v ns=$(( end - start )) -v ok="$ok" -v want="$requests" '
    { t[NR] = $1 }
    END {
      p50 = NR ? t[int((NR - 1) * 0.50) + 1] : 0
      p99 = NR ? t[int((NR - 1) * 0.99) + 1] : 0
      printf "%.1f %.3f %.3f %d %d\n", ok / (ns / 1e9), p50, p99, ok,
        want - ok
    }' "$WORK/curl.times"
}

# Holds idle keep-alive connections; prints "0 0 0 ok errors rss_kb".
run_idle() {
  local contender=$1 scheme=$2 path=$3 count=$4 port=$HTTP_PORT out
  [ "$scheme" = https ] && port=$HTTPS_PORT
  out=$(taskset -c "$LOAD_CPU" "$PY" "$BENCH/idle_conns.py" "$scheme" \
    "$PROXY_PORT" "$port" "$path" "$count" "$PROXY_PID" 2)
  echo "$out" | awk '{
    for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    printf "0 0 0 %d %d %d\n", v["opened"], v["failed"], v["rss_kb"] }'
}

# ---- the proxy cases ----

selected() {  # list item
  [ -z "$1" ] && return 0
  case ",$1," in *",$2,"*) return 0 ;; esac
  return 1
}

RAW=$RESULTS/proxy.tsv
printf 'rep\tcase\tcontender\trps\tp50_ms\tp99_ms\tok\terrors\tcpu_ms_per_req\thwm_kb\trss_kb\tsent\trecorded\n' >"$RAW"
RUN_ID=$(date +%s)

for rep in $(seq 1 "$REPS"); do
  for spec in $ALL_CASES; do
    IFS=: read -r case kind scheme path conc requests cap cpu <<EOF
$spec
EOF
    selected "$CASES_ARG" "$case" || continue
    for contender in $ALL_CONTENDERS; do
      selected "$CONTENDERS_ARG" "$contender" || continue
      [ "$kind" = idle ] && [ "$contender" = direct ] && continue
      start_contender "$contender" "$cpu" || continue
      before=0
      [ -n "$PROXY_PID" ] && before=$(cpu_ms "$PROXY_PID")
      RUN_ID=$(( RUN_ID + 1 ))
      case "$kind" in
        hey) line=$(run_hey "$contender" "$scheme" "$path" "$conc" "$requests" "$cap") ;;
        curl)
          fresh=0
          case "$case" in *fresh*) fresh=1 ;; esac
          line=$(run_curl "$contender" "$fresh" "$path" "$requests" "$cap") ;;
        idle) line=$(run_idle "$contender" "$scheme" "$path" "$conc") ;;
      esac
      read -r rps p50 p99 ok errors rss <<EOF
$line
EOF
      cpu_per_req="" hwm=""
      if [ -n "$PROXY_PID" ]; then
        after=$(cpu_ms "$PROXY_PID")
        hwm=$(status_kb "$PROXY_PID" VmHWM)
        [ "${ok:-0}" -gt 0 ] && cpu_per_req=$(awk -v a="$after" -v b="$before" -v n="$ok" 'BEGIN { printf "%.4f", (a - b) / n }')
        [ "$kind" = idle ] && cpu_per_req=""
      fi
      stop_contender
      # Flows in the recorders' files once they stopped, against the
      # requests sent (the warm-up included), so a recorder that drops
      # flows under load shows it.
      recorded="" sent=""
      case "$contender" in
        strat-record) db=$WORK/proxy-data/probe.db ;;
        mitmdump-record) db=$WORK/mitm-probe.db ;;
        *) db="" ;;
      esac
      if [ -n "$db" ] && [ "$kind" = hey ] && [ -f "$db" ]; then
        recorded=$(sqlite3 "$db" 'SELECT count(*) FROM flows' 2>/dev/null)
        sent=$(( ok + errors + (conc * 4 > 200 ? conc * 4 : 200) ))
      fi
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$case" \
        "$contender" "$rps" "$p50" "$p99" "$ok" "$errors" "$cpu_per_req" \
        "$hwm" "${rss:-}" "$sent" "$recorded" >>"$RAW"
      log "rep $rep $case $contender: $rps req/s p50 ${p50} ms errors $errors cpu/req ${cpu_per_req:-} ms hwm ${hwm:-} kB ${rss:+rss $rss kB }${recorded:+recorded $recorded of $sent}"
    done
  done
done

# ---- the pipeline ----

PIPE=$RESULTS/pipeline.tsv
printf 'input\tflows\timplementation\tseconds\tprocessing\trun\n' >"$PIPE"
SAMPLES=$ROOT/../shared/samples

# Runs one command on both cores (the pipeline runs alone, and
# stratosphere parses HTML pages on a second thread) and prints "WALL
# PROCESSING" in seconds: the whole command, and the time it reports
# itself on a "time: S s" line, which leaves out process start-up.
time_cmd() {
  local start end
  start=$(date +%s%N)
  if ! "$@" >"$WORK/pipeline.out" 2>&1; then
    log "failed: $*"
    cat "$WORK/pipeline.out" >&2
    echo "nan nan"
    return
  fi
  end=$(date +%s%N)
  awk -v ns=$(( end - start )) '
    /^time: / { t = $2 }
    END { printf "%.3f %s\n", ns / 1e9, t == "" ? "nan" : t }' \
    "$WORK/pipeline.out"
}

pipeline_case() {  # label probe flows python(0/1)
  local label=$1 probe=$2 flows=$3 python=$4 rep s
  mkdir -p "$WORK/pipeline"
  for rep in $(seq 1 "$REPS"); do
    rm -f "$WORK/pipeline/kb.db"*
    s=$(time_cmd "$STRAT" extract -q -c "$WORK/strat.lua" --probe "$probe" \
      --kb "$WORK/pipeline/kb.db")
    printf '%s\t%s\tstratosphere\t%s\t%s\t%s\n' "$label" "$flows" \
      "${s% *}" "${s#* }" "$rep" >>"$PIPE"
    log "pipeline $label stratosphere: $s s"
  done
  [ "$python" = 1 ] && [ "$PYTHON_REF" = 1 ] || return 0
  rm -f "$WORK/pipeline/py-kb.db"*
  s=$(time_cmd "$PY" "$BENCH/py_reference.py" "$probe" "$WORK/pipeline/py-kb.db")
  printf '%s\t%s\tpython-reference\t%s\t%s\t1\n' "$label" "$flows" \
    "${s% *}" "${s#* }" >>"$PIPE"
  log "pipeline $label python reference: $s s"
}

if [ "$PIPELINE" = 1 ]; then
  # The recorders wrote gigabytes; let the kernel write them back first so
  # that the pipeline's timings do not include that work.
  sync
  if [ -d "$SAMPLES" ]; then
    for db in "$SAMPLES"/*.db; do
      name=$(basename "$db" .db)
      flows=$(sqlite3 -readonly "$db" 'SELECT count(*) FROM flows')
      python=0
      [ "$name" = search-google ] && python=1
      pipeline_case "$name" "$db" "$flows" "$python"
    done
  else
    log "no ../shared/samples: timing the synthetic probe.db only"
  fi
  synth_flows=20000
  [ "$QUICK" = 1 ] && synth_flows=2000
  log "making a synthetic probe.db of $synth_flows flows"
  mkdir -p "$WORK/pipeline"
  "$PY" "$BENCH/make_probe.py" "$WORK/synthetic.db" "$synth_flows" || exit 1
  pipeline_case synthetic "$WORK/synthetic.db" "$synth_flows" 1
  rm -f "$WORK/synthetic.db"
fi

# ---- the report ----

command_line="bench/run.sh"
[ "$REPS" != 3 ] && command_line="$command_line --reps $REPS"
[ "$QUICK" = 1 ] && command_line="$command_line --quick"
[ -n "$CASES_ARG" ] && command_line="$command_line --cases $CASES_ARG"
[ -n "$CONTENDERS_ARG" ] && command_line="$command_line --contenders $CONTENDERS_ARG"
[ "$PIPELINE" = 0 ] && command_line="$command_line --no-pipeline"
[ "$PYTHON_REF" = 0 ] && command_line="$command_line --no-python"

{
  echo "command	$command_line"
  echo "date	$(date -u +%Y-%m-%dT%H:%MZ)"
  echo "cpu	$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo) ($(nproc) cores)"
  echo "memory	$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
  echo "kernel	$(uname -sr)"
  echo "os	$(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "stratosphere	$("$STRAT" version 2>/dev/null | head -1)"
  echo "mitmproxy	$(mitmdump --version 2>/dev/null | awk '/Mitmproxy/ { print $2 }')"
  echo "nginx	$(nginx -v 2>&1 | sed 's/^nginx version: //')"
  echo "hey	$(dpkg-query -W -f='${Version}' hey 2>/dev/null)"
  echo "curl	$(curl --version | head -1 | cut -d' ' -f2)"
  echo "openssl	$(openssl version | cut -d' ' -f2)"
  echo "python	$("$PY" --version 2>&1 | cut -d' ' -f2), SQLAlchemy $(dpkg-query -W -f='${Version}' python3-sqlalchemy 2>/dev/null), Beautiful Soup $(dpkg-query -W -f='${Version}' python3-bs4 2>/dev/null)"
} >"$RESULTS/meta.tsv"

if [ "$WRITE" = 1 ]; then
  "$PY" "$BENCH/report.py" "$RESULTS" "$ROOT/BENCHMARKS.md" || exit 1
  log "updated BENCHMARKS.md (raw results in $RESULTS)"
else
  "$PY" "$BENCH/report.py" "$RESULTS" -
fi
