#!/bin/bash
# Drives `stratosphere repl` through a pseudo-terminal (repl_terminal.py):
# multi-line input, printed values, an error that keeps the session,
# Ctrl-C, Tab completion, the history file, Up-arrow recall and Ctrl-D.
# Usage: repl_terminal.sh BINARY
set -u
bin=$(realpath "$1")
driver="$(dirname "$(realpath "$0")")/repl_terminal.py"

if ! command -v python3 >/dev/null; then
  echo "SKIP: python3 is not installed (scripts/setup.sh --test installs it)"
  exit 77
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
python3 "$driver" "$bin"
