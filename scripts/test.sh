#!/bin/sh
# Installs what is missing, then builds and runs the whole test suite twice:
# once in a normal build and once with AddressSanitizer and
# UndefinedBehaviorSanitizer.
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh --test
jobs=$(nproc)

scripts/build.sh build -DST_WERROR=ON
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 300

scripts/build.sh build-asan -DST_SANITIZE=ON -DST_WERROR=ON
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" --timeout 300
