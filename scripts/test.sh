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

# libFuzzer targets, built with clang: each runs for a few seconds
# (ST_FUZZ_SECONDS) from its seed corpus. scripts/fuzz.sh runs them longer.
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DST_FUZZ=ON -DST_SANITIZE=ON -DST_WERROR=ON \
  >/dev/null
cmake --build build-fuzz -j "$jobs" --target fuzz_targets
ctest --test-dir build-fuzz --output-on-failure -j "$jobs" -L fuzz
