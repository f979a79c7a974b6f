#!/bin/bash
# Drives `stratosphere repl` through a pseudo-terminal (tmux): multi-line
# input, printed values, an error that keeps the session, Ctrl-C at the
# prompt and during a loop, the history file, Up-arrow recall and Ctrl-D.
# Usage: repl_terminal.sh BINARY
set -u
bin=$(realpath "$1")

if ! command -v tmux >/dev/null; then
  echo "SKIP: tmux is not installed (scripts/setup.sh --test installs it)"
  exit 77
fi

work=$(mktemp -d)
sock="st-repl-test-$$"
cleanup() {
  tmux -L "$sock" kill-server 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work" || exit 1

failures=0
fail() {
  echo "FAIL: $*"
  echo "--- screen:"
  tmux -L "$sock" capture-pane -p -t t 2>/dev/null | grep -v '^$'
  failures=$((failures + 1))
}

# Types one line literally, then Enter.
type_line() {
  tmux -L "$sock" send-keys -t t -l "$1"
  tmux -L "$sock" send-keys -t t Enter
}

# Waits up to 5 s for the screen to match the extended regex $1.
wait_for() {
  for _ in $(seq 50); do
    if tmux -L "$sock" capture-pane -p -t t | grep -Eq -- "$1"; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

start_repl() {
  tmux -L "$sock" kill-server 2>/dev/null
  if ! tmux -L "$sock" new-session -d -s t -x 120 -y 50 \
      "$bin repl; echo REPL-EXIT=\$?; sleep 30"; then
    fail "tmux could not start a session"
    return
  fi
  wait_for '^>' || fail "no prompt after start"
}

start_repl

# Multi-line input continues with ">> " and runs when complete.
type_line 'for i = 1, 3 do'
wait_for '^>>$' || fail "no continuation prompt"
type_line 'io.write("item", i, " ")'
type_line 'end print()'
wait_for '^item1 item2 item3' || fail "multi-line loop did not run"

# An unfinished expression continues too.
type_line '40 +'
type_line '2'
wait_for '^42$' || fail "multi-line expression did not print 42"

# Values print readably: nested tables, cut strings.
type_line '{ name = "x", inner = { list = { 1, 2 } } }'
wait_for '^\{ inner = \{ list = \{ 1, 2 \} \}, name = "x" \}$' ||
  fail "nested table not printed"
type_line '= { s = ("a"):rep(300) }'
wait_for '\.\.\. \(300 bytes\)' || fail "long string not cut with its length"

# An error prints and the session goes on.
type_line 'error("boom")'
wait_for 'stdin:1: boom' || fail "error message missing"
type_line '= "still " .. "here"'
wait_for '^still here$' || fail "session did not survive the error"

# Ctrl-C at the prompt drops the unfinished statement.
type_line 'for i = 1, 2 do'
wait_for '^>>$' || fail "no continuation before Ctrl-C"
tmux -L "$sock" send-keys -t t C-c
type_line '= "after" .. "ctrl-c"'
wait_for '^afterctrl-c$' || fail "Ctrl-C did not cancel the statement"

# Ctrl-C stops running code.
type_line 'while true do end'
sleep 0.3
tmux -L "$sock" send-keys -t t C-c
wait_for 'interrupted' || fail "Ctrl-C did not stop the loop"
type_line '= "alive"'
wait_for '^alive$' || fail "session did not survive the interrupt"

# The preloaded helpers are there.
type_line 'print(type(probe), type(kb), type(overview), type(show))'
wait_for '^table[[:space:]]+table[[:space:]]+function[[:space:]]+function' ||
  fail "probe, kb or helpers missing"

# Tab completes fields of globals and methods of objects.
tmux -L "$sock" send-keys -t t -l 'printer.form'
tmux -L "$sock" send-keys -t t Tab
type_line '("completed")'
wait_for '^completed$' || fail "Tab did not complete printer.format"
tmux -L "$sock" send-keys -t t -l '= "kind: " .. type(probe.sq'
tmux -L "$sock" send-keys -t t Tab
type_line ')'
wait_for '^kind: function$' || fail "Tab did not complete the method probe.sql"

# Ctrl-D on an empty line leaves with status 0.
type_line 'last_one = 7 * 6'
type_line '= "ready" .. "-to-leave"'
wait_for '^ready-to-leave$' || fail "no answer before Ctrl-D"
# Give readline time to switch the terminal to raw mode, so Ctrl-D reaches
# it as a key instead of the terminal's end-of-file.
sleep 0.3
tmux -L "$sock" send-keys -t t C-d
wait_for 'REPL-EXIT=0' || fail "Ctrl-D did not exit with status 0"

# History: statements, multi-line ones whole, in data/repl_history (0600).
hist=data/repl_history
if [ ! -f "$hist" ]; then
  fail "no history file at $hist"
else
  grep -q 'last_one' "$hist" || fail "history lacks the last statement"
  grep -q 'for\\040i\\040=\\0401,\\0403\\040do\\012' "$hist" ||
    fail "history lacks the multi-line statement"
  [ "$(stat -c %a "$hist")" = 600 ] || fail "history file mode is not 600"
fi

# A new session recalls the last statement with Up ("= ready" was the
# last one, so Up twice).
start_repl
tmux -L "$sock" send-keys -t t Up
tmux -L "$sock" send-keys -t t Up
tmux -L "$sock" send-keys -t t Enter
type_line '= last_one'
wait_for '^42$' || fail "Up did not recall the last statement"
sleep 0.3
tmux -L "$sock" send-keys -t t C-d
wait_for 'REPL-EXIT=0' || fail "second session did not exit"

if [ "$failures" -gt 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "repl_terminal: ok"
