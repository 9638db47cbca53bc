#!/usr/bin/env bash
# A QAT run exported as an unquantized HF checkpoint and converted back to GGUF gives the GGUF that
# exporting the run directly gives: `export --format hf` writes the weights the run computes with
# (each quantized weight on its trained grid) and `convert` recovers that grid instead of re-rounding.
# An RTN q4_0 run and a learned-scale run (q4_0-lsq) come back byte for byte: a block whose mirror
# (-codes, -scale) decodes alike is told apart by the sign of its zeros (level 0 times the scale),
# and a zero-free one is written in the canonical sign recovery finds (quant/grid_recovery.h).
# Through a bf16 checkpoint (--dtype bf16) every block keeps its codes (or their mirror); the fp16
# scale is then only known to within bf16 rounding. Tensor data are compared with formats/gguf.h by export_tests' GgufSameTensors test.
# Also: without grid recovery the round trip moves blocks, --weights latent is the run's
# model.safetensors as it is, and a checkpoint without a recipe is exported as it is.
set -u
BIN=$1 ROOT=$3
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
W=$WORK
MODEL=$ROOT/examples/models/tiny-e2b
COMPARE=$(dirname "$BIN")/../tests/export_tests
for need in "$MODEL/model.safetensors" "$ROOT/data/gutenberg/valid.txt" "$COMPARE"; do
  if [ ! -e "$need" ]; then echo "FAIL missing $need (run bash scripts/setup.sh; build export_tests)"; echo "0 passed, 1 failed"; exit 1; fi
done

# same EXPECTED ACTUAL bytes|values: export_tests' comparison of two GGUF files' tensors.
same() {
  GQ_GGUF_EXPECTED=$1 GQ_GGUF_ACTUAL=$2 GQ_GGUF_SAME=$3 "$COMPARE" --gtest_filter=GgufSameTensors.FilesNamedByTheEnvironment \
    >"$W/compare.out" 2>&1
  local rc=$?
  grep -q "1 test.*ran" "$W/compare.out" && ! grep -q SKIPPED "$W/compare.out" || rc=1
  grep -E "^(Q4_0|F16|F32|Q8_0): " "$W/compare.out" | sed 's/^/       /'
  return $rc
}

for recipe in q4_0 q4_0-lsq; do
  run=$W/$recipe
  "$BIN" train --model "$MODEL" --recipe "$ROOT/recipes/$recipe.json" --data "$ROOT/data/gutenberg/valid.txt" \
    --steps 3 --batch-size 2 --seq-len 64 --lr 1e-3 --warmup 1 --eval-every 0 --threads 1 --out "$run" >/dev/null 2>"$W/train.err"
  check "$recipe: QAT run trains" $? "$(tail -2 "$W/train.err")"
  out=$("$BIN" export "$run" --format gguf --out "$run.gguf" --threads 1 2>&1)
  check "$recipe: exports to GGUF" $? "$out"

  out=$("$BIN" export "$run" --format hf --out "$run-hf" 2>&1)  # default dtype: the run's (f32), the grid exact
  check "$recipe: exports to HF" $? "$out"
  grep -q "(Gemma4ForCausalLM, f32, " <<<"$out"; check "$recipe: in the run's float dtype by default" $? "$out"
  grep -q "the run's fake-quant weights (recipe $recipe)" <<<"$out"; check "$recipe: the hf line says fake-quant weights" $? "$out"
  out=$("$BIN" convert "$run-hf" --type q4_0 --out "$run-conv.gguf" --threads 1 2>&1)
  check "$recipe: converts back" $? "$out"
  echo "       $(grep "grid recovery:" <<<"$out")"
  grep -Eq "grid recovery: Q4_0: ([0-9]+) of \1 blocks on a grid" <<<"$out"
  check "$recipe: every Q4_0 block of the fake-quant checkpoint is on a grid" $? "$out"
  same "$run.gguf" "$run-conv.gguf" bytes
  check "$recipe: export hf + convert --type q4_0 = export gguf, every tensor byte for byte" $? "$(tail -5 "$W/compare.out")"
  if [ "$recipe" != q4_0 ]; then
    n=$(grep -Eo "on a grid, [0-9]+ of them recovered" <<<"$out" | grep -Eo "[0-9]+" | head -1)
    # A precondition, not the result: the run left RTN somewhere (728 blocks in 3 steps at the scales'
    # own learning rate; 124 when they shared the weights').
    [ "${n:-0}" -gt 100 ]; check "$recipe: the learned scales moved: $n blocks needed recovery" $? "$out"
    "$BIN" convert "$run-hf" --type q4_0 --no-grid-recovery --out "$run-rtn.gguf" --threads 1 --quiet
    echo "       --no-grid-recovery:"
    ! same "$run.gguf" "$run-rtn.gguf" values
    check "$recipe: with --no-grid-recovery the round trip moves blocks" $? "$(tail -5 "$W/compare.out")"
    out=$("$BIN" export "$run" --format hf --dtype bf16 --out "$run-hf-bf16" 2>&1)
    "$BIN" convert "$run-hf-bf16" --type q4_0 --out "$run-bf16.gguf" --threads 1 --quiet
    grep -q "rounded to bf16" <<<"$out"; check "$recipe: the bf16 hf line says the grid is rounded" $? "$out"
    echo "       the same through a bf16 checkpoint (--dtype bf16, as checkpoints are shipped):"
    same "$run.gguf" "$run-bf16.gguf" codes
    check "$recipe: through bf16 every block keeps the run's codes (or their mirror)" $? "$(tail -5 "$W/compare.out")"
  fi

  out=$("$BIN" export "$run" --format hf --dtype f32 --weights latent --out "$run-latent" 2>&1)
  check "$recipe: --weights latent exports" $? "$out"
  grep -q "the run's latent (trainable) weights" <<<"$out"; check "$recipe: the hf line says latent weights" $? "$out"
  cmp -s "$run/checkpoint/model.safetensors" "$run-latent/model.safetensors"
  check "$recipe: --weights latent writes the run's model.safetensors" $? "differs"
done

# A checkpoint without a recipe is exported as it is.
out=$("$BIN" export "$MODEL" --format hf --out "$W/plain" 2>&1)
check "plain checkpoint exports" $? "$out"
grep -q "weights as stored (no QAT recipe)" <<<"$out"; check "the plain hf line says weights as stored" $? "$out"

finish
