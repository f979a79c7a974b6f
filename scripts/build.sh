#!/bin/sh
# Configures and builds into build/ (or the folder given as $1). Extra
# arguments go to cmake, for example -DST_SANITIZE=ON.
set -eu
cd "$(dirname "$0")/.."
dir=${1:-build}
[ $# -gt 0 ] && shift
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$dir" -j "$(nproc)"
