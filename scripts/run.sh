#!/bin/sh
# Installs what is missing, builds, and starts `stratosphere run` with the
# default configuration (stratosphere.lua). Arguments go to `run`.
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build
exec build/stratosphere run "$@"
