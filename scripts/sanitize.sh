#!/usr/bin/env bash
# The sanitizer and fuzz smoke of CI (docs/fuzzing.md): builds the torch-free libraries, their test
# suites and the libFuzzer harnesses with clang, ASan and UBSan (-DGQ_FUZZ=ON, in build-sanitize/),
# runs every test that build has, then each harness for SECONDS (default 2) on its seed corpus.
#
#   scripts/sanitize.sh [SECONDS]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-sanitize}
bash "$ROOT/scripts/setup.sh"  # clang and libFuzzer's runtime are among its packages
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S "$ROOT" -B "$BUILD" "${generator[@]}" -DGQ_FUZZ=ON -DGQ_BUILD_BENCH=OFF >/dev/null
fi
cmake --build "$BUILD" -j "${JOBS:-2}"
echo "sanitize: the torch-free suites under ASan + UBSan"
(cd "$BUILD" && OMP_NUM_THREADS=1 ctest --output-on-failure -j2)
echo "sanitize: fuzz smoke, ${1:-2} s per harness"
BUILD=$BUILD bash "$ROOT/scripts/fuzz.sh" "${1:-2}"
