#!/bin/sh
# Runs one fuzz target for the short ctest run: WORK is emptied first, so
# every run starts from the seed corpus alone and takes the same time
# however long earlier runs grew their corpus. libFuzzer writes new inputs
# to the first folder it is given, so WORK goes before SEEDS.
#   run_short.sh BINARY WORK SEEDS [LIBFUZZER_OPTION...]
set -eu
binary=$1
work=$2
seeds=$3
shift 3
rm -rf "$work"
mkdir -p "$work"
exec "$binary" "$@" "$work" "$seeds"
