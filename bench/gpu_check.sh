#!/usr/bin/env bash
# The GPU checks in one call (about 10 minutes on one H200), then a short table:
#   1. build against the pip wheel's LibTorch (CUDA) into build-gpu/ (its own build folder);
#   2. CUDA tests: qat_tests' *Cuda* cases (fake quant on CUDA equals the CPU, code for code) and
#      `train --device cuda` for 3 q4_0 steps on the tiny-e2b config (random weights, random ids);
#   3. the QAT step benchmark (bench/qat_step_bench.cpp) on a 4-layer E2B-width stack: tokens/s,
#      MFU against the card's bf16 matmul rate measured in the same run, peak memory from the CUDA
#      caching allocator, beside plan --train's estimate.
#
#   bash bench/gpu_check.sh          on the GPU machine (python3 -c 'import torch' must work)
#   bash bench/gpu_check.sh --cpu    the same steps on the CPU with the existing build/, at tiny size
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
if [ "${1:-}" = "--cpu" ]; then
  DEV=cpu B=${BUILD_DIR:-build}
  BENCH_ARGS=(--config "$ROOT/examples/configs/tiny-e2b.json" --layers 4 --vocab 4096 --seq 128 --batch 2 --steps 3)
  NINJA_JOBS=${JOBS:-2}
else
  DEV=cuda B=build-gpu
  BENCH_ARGS=(--config "$ROOT/examples/configs/e2b.json" --layers 4 --vocab 8192 --seq 2048 --batch 4 --steps 8)
  NINJA_JOBS=$(nproc)
fi
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
rows=() failed=0
row() { rows+=("| $1 | $2 |"); }
fail() { row "$1" "FAIL: $2"; failed=1; }
t0=$(date +%s)

# 1. build
if [ $DEV = cuda ]; then
  PREFIX=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)' 2>"$W/py.err") ||
    { echo "gpu_check: no torch wheel: $(tail -1 "$W/py.err")"; exit 1; }
  TV=$(python3 -c 'import torch;print(torch.__version__, "CUDA", torch.version.cuda)')
  row "LibTorch" "$TV"
  if ! cmake -S . -B "$B" -G Ninja -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_BUILD_TYPE=Release >"$W/configure.log" 2>&1; then
    tail -20 "$W/configure.log"; echo "gpu_check: configure failed"; exit 1
  fi
fi
if ninja -C "$B" -j "$NINJA_JOBS" gemma-qat qat_step_bench >"$W/build.log" 2>&1; then
  row "build ($B)" "ok, $(( $(date +%s) - t0 )) s"
else
  tail -30 "$W/build.log"; echo "gpu_check: build failed"; exit 1
fi
# The test suite separately: a machine without GoogleTest still gets the other checks.
ninja -C "$B" -j "$NINJA_JOBS" qat_tests >"$W/build_tests.log" 2>&1 || fail "build qat_tests" "$(grep -m1 -i error "$W/build_tests.log")"
BIN=$B/cli/gemma-qat

# 2. CUDA tests
if [ $DEV = cuda ]; then
  if "$B/tests/qat_tests" --gtest_filter='*Cuda*' >"$W/cuda_tests.log" 2>&1 && ! grep -q SKIPPED "$W/cuda_tests.log" &&
     grep -q "PASSED" "$W/cuda_tests.log"; then
    row "fake quant CUDA = CPU (qat_tests *Cuda*)" "ok ($(grep -c '^\[       OK' "$W/cuda_tests.log") tests)"
  else
    fail "fake quant CUDA = CPU (qat_tests *Cuda*)" "$(grep -E 'FAILED|SKIPPED|Failure' "$W/cuda_tests.log" | head -3 | tr '\n' ' ')"
  fi
fi
awk 'BEGIN { srand(7); for (l = 0; l < 64; l++) { s = ""; for (i = 0; i < 200; i++) s = s (i ? " " : "") int(3 + rand() * 4000); print s } }' >"$W/d.ids"
if "$BIN" train --config "$ROOT/examples/configs/tiny-e2b.json" --init random --recipe q4_0 --data "$W/d.ids" --steps 3 \
     --batch-size 4 --seq-len 64 --eval-every 0 --device $DEV --out "$W/run" >"$W/train.out" 2>"$W/train.err"; then
  row "train --device $DEV (tiny-e2b, q4_0, 3 steps)" "ok: $(tail -1 "$W/train.out")"
else
  fail "train --device $DEV (tiny-e2b, q4_0, 3 steps)" "$(tail -1 "$W/train.err")"
fi

# Data-parallel over NCCL (configure says whether ProcessGroupNCCL compiled): two ranks need two GPUs,
# since NCCL refuses two ranks on one device.
if [ $DEV = cuda ]; then
  if grep -q "c10d NCCL: CUDA tensors" "$W/configure.log"; then nccl="compiled in"; else nccl="not compiled ($(grep -m1 -A1 'without a usable ProcessGroupNCCL' "$W/configure.log" | tail -1 | tr -s ' '))"; fi
  gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
  if [ "$gpus" -ge 2 ]; then
    for n in 1 2; do
      "$BIN" train --config "$ROOT/examples/configs/tiny-e2b.json" --init random --recipe q4_0 --data "$W/d.ids" --steps 3 \
        --batch-size 4 --seq-len 64 --eval-every 0 --device cuda --nproc $n --out "$W/dp$n" >"$W/dp$n.out" 2>"$W/dp$n.err" ||
        { fail "train --nproc $n --device cuda" "$(tail -1 "$W/dp$n.err")"; continue; }
    done
    [ -e "$W/dp1/metrics.jsonl" ] && [ -e "$W/dp2/metrics.jsonl" ] &&
      row "c10d NCCL ($nccl), 2 ranks vs 1: last loss" "$(tail -1 "$W/dp1/metrics.jsonl" | grep -o '"loss":[^,]*') vs $(tail -1 "$W/dp2/metrics.jsonl" | grep -o '"loss":[^,]*')"
  else
    row "c10d NCCL" "$nccl; 2-rank run skipped: $gpus GPU(s)"
  fi
fi

# 3. the QAT step benchmark
if "$B/bench/qat_step_bench" --device $DEV "${BENCH_ARGS[@]}" >"$W/bench.out" 2>"$W/bench.err"; then
  head -1 "$W/bench.out"
  while IFS= read -r line; do rows+=("$line"); done < <(tail -n +4 "$W/bench.out")
else
  fail "qat_step_bench" "$(tail -1 "$W/bench.err")"
fi

echo
echo "| gpu_check ($DEV, $(( $(date +%s) - t0 )) s) | result |"
echo "|---|---|"
printf '%s\n' "${rows[@]}"
exit $failed
