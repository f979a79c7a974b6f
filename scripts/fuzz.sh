#!/bin/sh
# Runs libFuzzer targets for longer than the short CI runs.
#
#   scripts/fuzz.sh TARGET [SECONDS] [-- LIBFUZZER_OPTION...]
#   scripts/fuzz.sh all [SECONDS]      every target, SECONDS each
#   scripts/fuzz.sh --list             names of the targets
#
# SECONDS defaults to 600. Builds the targets with clang, AddressSanitizer
# and UBSan into build-fuzz/ first. Each target starts from its seeds in
# fuzz/corpus/TARGET/ and grows a working corpus in
# build-fuzz/fuzz/corpus/TARGET/, which later runs reuse. A crash input is
# written to build-fuzz/fuzz/artifacts/TARGET/; copy it to
# fuzz/regressions/TARGET/ with a name that says what it triggers, fix the
# bug, and the normal test suite replays it from then on.
set -eu
cd "$(dirname "$0")/.."

usage() {
  echo "usage: scripts/fuzz.sh TARGET|all [SECONDS] [-- LIBFUZZER_OPTION...]" \
    >&2
  echo "       scripts/fuzz.sh --list" >&2
  exit 2
}

targets() {
  for f in fuzz/fuzz_*.c; do
    f=${f#fuzz/fuzz_}
    echo "${f%.c}"
  done
}

[ $# -ge 1 ] || usage
target=$1
shift
if [ "$target" = "--list" ]; then
  targets
  exit 0
fi
seconds=600
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
  seconds=$1
  shift
fi
case "$seconds" in
  ''|*[!0-9]*) echo "fuzz: SECONDS must be a whole number, got '$seconds'" >&2
               exit 2 ;;
esac
if [ $# -gt 0 ]; then
  [ "$1" = "--" ] || usage
  shift
fi
if [ "$target" != all ] && [ ! -f "fuzz/fuzz_$target.c" ]; then
  echo "fuzz: no target '$target'; targets are:" $(targets) >&2
  exit 2
fi

cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DST_FUZZ=ON -DST_SANITIZE=ON >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target fuzz_targets >/dev/null

run_one() {
  name=$1
  shift
  work=build-fuzz/fuzz/corpus/$name
  artifacts=build-fuzz/fuzz/artifacts/$name
  dict=fuzz/dict/$name.dict
  mkdir -p "$work" "$artifacts"
  set -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$@"
  [ -f "$dict" ] && set -- "$@" -dict="$dict"
  echo "fuzz: running $name for $seconds s" >&2
  if ! "build-fuzz/fuzz/fuzz_$name" "$@" "$work" "fuzz/corpus/$name"; then
    echo "fuzz: $name failed; the input is in $artifacts/." >&2
    echo "fuzz: keep it with: cp $artifacts/FILE" \
      "fuzz/regressions/$name/DESCRIPTIVE_NAME" >&2
    return 1
  fi
}

if [ "$target" = all ]; then
  status=0
  for t in $(targets); do
    run_one "$t" "$@" || status=1
  done
  exit $status
fi
run_one "$target" "$@"
