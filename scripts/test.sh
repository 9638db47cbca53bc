#!/usr/bin/env bash
# Sets up, builds and runs every test. The README's test command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
(cd "${BUILD_DIR:-build}" && ctest --output-on-failure -j2)
# The torch-free suites again under ASan + UBSan, and a fuzz smoke of every reader (issue 11);
# GQ_SKIP_SANITIZE=1 leaves them out of a local run.
[ "${GQ_SKIP_SANITIZE:-0}" = 1 ] || bash scripts/sanitize.sh 2
