#!/bin/sh
# Installs the Debian 12 packages that bench/run.sh needs and the test
# suite does not: the load client, the contenders and the Python reference
# pipeline's libraries. Safe to run again: apt-get is skipped when every
# package is already present.
set -eu

BENCH_PACKAGES="hey mitmproxy nginx-light curl openssl sqlite3 python3
  python3-sqlalchemy python3-bs4 python3-lxml util-linux procps valgrind"

missing=""
for p in $BENCH_PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
    missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "bench/setup: installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # shellcheck disable=SC2086 # the list is split on purpose
  apt-get install -y -q --no-install-recommends $missing
fi
