#!/bin/sh
# Installs the Debian 12 packages that building, running and testing
# stratosphere need, then configures and builds it. Safe to run again:
# apt-get is skipped when every package is already present.
set -eu

BUILD_PACKAGES="build-essential cmake pkg-config
  liblua5.4-dev lua5.4 lua-cjson lua-cjson-dev libuv1-dev libssl-dev
  libsqlite3-dev libhttp-parser-dev zlib1g-dev libbrotli-dev libzstd-dev
  libgumbo-dev libedit-dev"
TEST_PACKAGES="sqlite3 curl nginx-light openssl chromium libnss3-tools
  tmux python3 clang libclang-rt-14-dev lua-check brotli zstd gzip
  iproute2 util-linux"

usage() {
  echo "usage: scripts/setup.sh [--test]" >&2
  exit 2
}

packages=$BUILD_PACKAGES
case "${1:-}" in
  "") ;;
  --test) packages="$BUILD_PACKAGES $TEST_PACKAGES" ;;
  *) usage ;;
esac

missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
    missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup: installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # shellcheck disable=SC2086 # the list is split on purpose
  apt-get install -y -q --no-install-recommends $missing
fi
