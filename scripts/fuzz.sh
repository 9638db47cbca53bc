#!/usr/bin/env bash
# Builds the libFuzzer harnesses of fuzz/ (clang, -DGQ_FUZZ=ON, in build-fuzz/), generates their
# seed corpora, runs each for SECONDS and prints harness / executions / findings. Exit 1 on any
# finding (a crash, a sanitizer report, an exception other than FormatError, a timeout, an OOM).
#
#   scripts/fuzz.sh [SECONDS] [HARNESS...]    SECONDS defaults to 10; HARNESS defaults to all
# Environment: JOBS (build jobs, default 2), BUILD (build folder, default build-fuzz).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECONDS_EACH=${1:-10}
shift || true
BUILD=${BUILD:-$ROOT/build-fuzz}
JOBS=${JOBS:-2}
ALL=(safetensors_fuzz sharded_index_fuzz gguf_fuzz native_fuzz config_fuzz recipe_fuzz calibration_fuzz tokenizer_fuzz corpus_fuzz)
[ $# -gt 0 ] && HARNESSES=("$@") || HARNESSES=("${ALL[@]}")

bash "$ROOT/scripts/setup.sh"  # clang and libFuzzer's runtime are among its packages

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S "$ROOT" -B "$BUILD" "${generator[@]}" -DGQ_FUZZ=ON -DGQ_BUILD_TESTS=OFF -DGQ_BUILD_BENCH=OFF >/dev/null
fi
cmake --build "$BUILD" -j "$JOBS" --target make_seeds "${HARNESSES[@]}"

# Seeds: generated binaries and JSON (make_seeds), and the project's own small JSON files.
CORPUS=$BUILD/fuzz-corpus
SEEDS=$BUILD/fuzz-seeds
rm -rf "$SEEDS"
"$BUILD/fuzz/make_seeds" "$SEEDS"
mkdir -p "$SEEDS/config" "$SEEDS/recipe"
i=0
for f in "$ROOT"/examples/models/*/config.json "$ROOT"/examples/configs/*.json /work/shared/fixtures/gemma4-tiny/*/config.json \
         "$ROOT"/tests/data/gemma4-tiny/*/config.json; do
  [ -f "$f" ] && [ "$(stat -c %s "$f")" -lt 100000 ] && cp "$f" "$SEEDS/config/$((i++)).json"
done
cp "$ROOT"/recipes/*.json "$SEEDS/recipe/"

# Every harness writes each input to a file under $TMPDIR: tmpfs, where there is one, is faster.
[ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ] && export TMPDIR=/dev/shm

printf '%-20s %12s %s\n' harness executions findings
status=0
for h in "${HARNESSES[@]}"; do
  seeds=$SEEDS/${h%_fuzz}
  work=$CORPUS/${h%_fuzz}      # the corpus the fuzzer grows, kept between runs
  art=$BUILD/fuzz-findings/$h/
  mkdir -p "$work" "$art"
  dict=()
  [ -f "$ROOT/fuzz/${h%_fuzz}.dict" ] && dict=(-dict="$ROOT/fuzz/${h%_fuzz}.dict")
  log=$BUILD/fuzz-logs/$h.log
  mkdir -p "$(dirname "$log")"
  rc=0
  "$BUILD/fuzz/$h" "$work" "$seeds" "${dict[@]}" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="$art" -print_final_stats=1 >"$log" 2>&1 || rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  found=$(ls "$art" 2>/dev/null | head -1)
  if ((rc)) || [ -n "$found" ]; then
    status=1
    printf '%-20s %12s %s\n' "$h" "${execs:-?}" "${found:+$art$found} (rc $rc, log $log)"
  else
    printf '%-20s %12s %s\n' "$h" "${execs:-?}" 0
  fi
done
exit $status
