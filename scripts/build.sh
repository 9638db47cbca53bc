#!/usr/bin/env bash
# Configures (once) and builds everything into build/. Extra arguments go to CMake's configure step,
# e.g. -DCMAKE_PREFIX_PATH=<LibTorch 2.x cmake prefix>.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/build.ninja" ] || [ $# -gt 0 ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja "$@" >/dev/null
fi
# Two jobs: each LibTorch translation unit takes about 1 GB and 10 s.
ninja -C "$BUILD_DIR" -j "${JOBS:-2}"
