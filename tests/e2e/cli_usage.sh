#!/usr/bin/env bash
# Command-line behaviour every subcommand shares: --help, unknown commands
# and options (exit status 2 with a one-line error), and configuration
# errors that stop the program before any database is touched.
set -u
bin=$(realpath "${1:?usage: cli_usage.sh BINARY}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# expect STATUS PATTERN CMD...: runs CMD, checks its exit status and that
# its output (stdout and stderr) matches PATTERN.
expect() {
  local status=$1 pattern=$2 out rc
  shift 2
  out=$("$@" 2>&1)
  rc=$?
  [ "$rc" -eq "$status" ] || fail "$*: exit status $rc, expected $status: $out"
  printf '%s' "$out" | grep -qE -- "$pattern" ||
    fail "$*: output does not match '$pattern': $out"
}

commands=$("$bin" --help |
  awk '/^commands:/ { on = 1; next } on && !NF { exit } on && /^  [a-z]/ { print $1 }')
[ -n "$commands" ] || fail "stratosphere --help lists no commands"
for c in $commands; do
  expect 0 "usage: stratosphere $c" "$bin" "$c" --help
done

# A short flag means the same long option in every command.
pairs=$(for c in $commands; do
  "$bin" "$c" --help | sed -n 's/^  -\([a-zA-Z]\), --\([a-z-]*\).*/\1 \2/p'
done | sort -u)
clashes=$(printf '%s\n' "$pairs" | awk '{ print $1 }' | uniq -d)
[ -z "$clashes" ] ||
  fail "short flags with more than one meaning: $(printf '%s\n' "$pairs" |
    grep -E "^($(echo $clashes | tr ' ' '|')) ")"
for want in "k kb" "p probe"; do
  printf '%s\n' "$pairs" | grep -qx "$want" || fail "no command has -$want"
done
expect 0 "-k, --kb FILE" "$bin" dashboard --help
expect 0 "-p, --probe FILE" "$bin" dashboard --help
# With --help, a binary that still took these flags prints its help and
# exits 0 instead of starting a proxy or writing files.
expect 2 "unknown option '-k'" "$bin" proxy -k --help
expect 2 "unknown option '-e'" "$bin" ca -e "$tmp/export" --help

# -v and -q move the log level one step each from log_level (info).
expect 0 "-v, --verbose +log one level more than log_level: info becomes debug" \
  "$bin" run --help
expect 0 "-q, --quiet +log one level less: info becomes warn, -qq logs errors only" \
  "$bin" run --help

expect 2 "unknown command 'bogus'" "$bin" bogus
expect 2 "usage: stratosphere COMMAND" "$bin"
expect 0 "^stratosphere [0-9]+\.[0-9]+" "$bin" version
for lib in "libuv" "SQLite" "zlib" "brotli" "zstd" "http-parser"; do
  expect 0 "$lib [0-9]" "$bin" version
done
"$bin" run --help | head -1 | grep -q ' $' &&
  fail "run --help: the usage line ends with a space"
for c in $commands; do
  expect 2 "stratosphere $c: unknown option '--no-such-option'.*--help" \
    "$bin" "$c" --no-such-option
done
expect 2 "option '--config' needs a FILE value" "$bin" extract --config

# Configuration errors name the file, the line, the key, the type and the
# value, and leave the data directory untouched.
cd "$tmp" || exit 1
echo 'print("ran")' > script.lua
printf 'return { data_dir = "data", store = { retention = "long" } }\n' > bad.lua
expect 2 "bad.lua:1: key 'store.retention' must be a non-negative number, got string \"long\"" \
  "$bin" lua --config bad.lua script.lua
printf 'return {\n  data_dir = "data",\n  pipeline = { interval = -5 },\n}\n' > bad.lua
expect 2 "bad.lua:3: key 'pipeline.interval' must be a non-negative number, got -5" \
  "$bin" lua --config bad.lua script.lua
printf 'return {\n  data_dir = "data",\n  proxy = { lisen = "x" },\n}\n' > bad.lua
expect 2 "bad.lua:3: unknown key 'proxy.lisen'" "$bin" lua --config bad.lua script.lua
printf 'return {\n data_dir = "data"\n pipeline = {}\n}\n' > bad.lua
expect 2 "bad.lua:3:" "$bin" lua --config bad.lua script.lua
expect 2 "cannot open missing.lua" "$bin" lua --config missing.lua script.lua
[ ! -e data ] || fail "a configuration error created the data directory"

# Listen addresses, the proxy's credentials and the pipeline interval are
# checked when the file loads, so `proxy` stops before it creates the CA
# or a database. No case here may reach a listening socket; timeout bounds
# a regression that does.
bad_config() {
  printf 'return {\n  data_dir = "data",\n  %s\n}\n' "$1" > bad.lua
}
bad_config 'proxy = { listen = "0.0.0.0:8090" },'
expect 2 "bad.lua:3: listening on 0.0.0.0:8090, beyond loopback, requires proxy.user and proxy.password" \
  timeout 10 "$bin" proxy --config bad.lua
bad_config 'proxy = { listen = "0.0.0.0:8090", user = "u" },'
expect 2 "bad.lua:3: proxy.user is set without proxy.password" \
  timeout 10 "$bin" proxy --config bad.lua
bad_config 'proxy = { password = "p" },'
expect 2 "bad.lua:3: proxy.password is set without proxy.user" \
  timeout 10 "$bin" proxy --config bad.lua
bad_config 'proxy = { listen = "127.0.0.1:99999" },'
expect 2 "bad.lua:3: key 'proxy.listen' has an invalid address \"127.0.0.1:99999\": the port 99999 is out of range 0-65535" \
  timeout 10 "$bin" proxy --config bad.lua
bad_config 'proxy = { listen = "::1:8080" },'
expect 2 "an IPv6 address goes in brackets" timeout 10 "$bin" proxy --config bad.lua
bad_config 'proxy = { listen = "[::1]:8080" },'
expect 0 "ran" "$bin" lua --config bad.lua script.lua
bad_config 'dashboard = { listen = "localhost" },'
expect 2 "bad.lua:3: key 'dashboard.listen' has an invalid address \"localhost\": expected IP:PORT" \
  timeout 10 "$bin" run --config bad.lua
bad_config 'dashboard = { listen = "example.org:80" },'
expect 2 "'example.org' is not an IPv4 address" timeout 10 "$bin" run --config bad.lua
bad_config 'pipeline = { interval = 0 },'
expect 2 "bad.lua:3: key 'pipeline.interval' must be at least 0.1 seconds, got 0" \
  timeout 10 "$bin" proxy --config bad.lua
[ ! -e data ] || fail "a bad listen setting created the data directory"

# The configuration file is Lua, so one that never returns or allocates
# without bound is stopped after 2 s or at 64 MiB. Out-of-range limits of
# the extractors are named. All of it happens before anything is created.
printf 'while true do end\nreturn {}\n' > bad.lua
expect 2 "bad.lua: the file did not finish within 2 s; a configuration file should only return a table of settings" \
  timeout 20 "$bin" extract --config bad.lua
printf 'local t = {}\nwhile true do t[#t + 1] = { #t } end\n' > bad.lua
expect 2 "bad.lua: the file did not finish within its memory cap of 64 MiB" \
  timeout 20 "$bin" extract --config bad.lua
bad_config 'pipeline = { budget = 0 },'
expect 2 "bad.lua:3: key 'pipeline.budget' must be from 0.01 to 600 seconds, got 0" \
  timeout 10 "$bin" extract --config bad.lua
bad_config 'pipeline = { memory = 256 * 1024 * 1024 * 1024 },'
expect 2 "bad.lua:3: key 'pipeline.memory' must be from 8388608 to 68719476736 bytes \(8 MiB to 64 GiB\), got 274877906944" \
  timeout 10 "$bin" extract --config bad.lua
[ ! -e data ] || fail "a configuration that was stopped created the data directory"

# Without --config and without ./stratosphere.lua, one line names the
# data folder the built-in defaults use; -q and a configuration file
# silence it.
expect 0 "info cli: no ./stratosphere.lua here; using built-in defaults with data folder $(pwd -P)/data" \
  "$bin" lua script.lua
out=$("$bin" lua -q script.lua 2>&1)
[ "$out" = "ran" ] || fail "lua -q: expected only 'ran', got: $out"
printf 'return { data_dir = "elsewhere" }\n' > good.lua
out=$("$bin" lua --config good.lua script.lua 2>&1)
[ "$out" = "ran" ] || fail "lua --config: expected only 'ran', got: $out"

# --listen gets the same checks, before anything is created.
expect 2 "stratosphere proxy: invalid listen address '127.0.0.1:99999': the port 99999 is out of range" \
  timeout 10 "$bin" proxy --listen 127.0.0.1:99999
expect 2 "stratosphere run: listening on 0.0.0.0:8090, beyond loopback, requires" \
  timeout 10 "$bin" run --listen 0.0.0.0:8090
expect 2 "stratosphere dashboard: invalid listen address '127.0.0.1': expected IP:PORT" \
  timeout 10 "$bin" dashboard --listen 127.0.0.1
[ ! -e data ] || fail "a bad --listen created the data directory"

[ "$failures" -eq 0 ] || exit 1
echo "ok"
