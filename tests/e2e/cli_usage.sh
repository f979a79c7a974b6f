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

expect 2 "unknown command 'bogus'" "$bin" bogus
expect 2 "usage: stratosphere COMMAND" "$bin"
expect 0 "^stratosphere [0-9]+\.[0-9]+" "$bin" version
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

[ "$failures" -eq 0 ] || exit 1
echo "ok"
