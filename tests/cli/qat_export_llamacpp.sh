#!/usr/bin/env bash
# A QAT run exported to GGUF Q4_0 runs in upstream llama.cpp as gemma-qat's own fake-quant model
# does: a few Q4_0 steps with learned scales on the pretrained tiny model, export, then llama.cpp's
# greedy tokens (through its K/V cache) must equal ours, and its logits must agree within what
# llama.cpp's own activation rounding allows (it quantizes each activation to Q8_0 blocks before a
# Q4_0 matmul and keeps an f16 K/V cache; gemma-qat computes those in float32).
set -u
BIN=$1 ROOT=$3
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
MODEL=$ROOT/examples/models/tiny-e2b
NODE=$ROOT/tests/llamacpp
for need in "$MODEL/model.safetensors" "$ROOT/data/gutenberg/valid.txt" "$NODE/node_modules/node-llama-cpp"; do
  [ -e "$need" ] || missing "missing $need (run bash scripts/setup.sh)"
done

"$BIN" train --model "$MODEL" --recipe "$ROOT/recipes/q4_0-lsq.json" --data "$ROOT/data/gutenberg/valid.txt" \
  --steps 3 --batch-size 2 --seq-len 64 --lr 1e-4 --warmup 1 --eval-every 0 --threads 1 --out "$WORK/run" >/dev/null 2>"$WORK/train.err"
check "QAT run trains" $? "$(tail -2 "$WORK/train.err")"
out=$("$BIN" export "$WORK/run" --format gguf --out "$WORK/run.gguf" --threads 1 2>&1)
check "exports to GGUF" $? "$out"
grep -q "carry the run's learned scales" <<<"$out"; check "export uses the learned scales" $? "$out"

prompt=$("$BIN" tokenize "$MODEL" --text <(echo "It was the best of times, it was the worst of times") | tr ' ' ',')
prompt="2,$prompt"
ours=$("$BIN" generate "$WORK/run" --ids "$prompt" -n 16 --ignore-eos --threads 1)
llama=$(node "$NODE/greedy.mjs" "$WORK/run.gguf" --ids "$prompt" -n 16 2>&1)
[ -n "$ours" ] && [ "$ours" = "$llama" ]; check "llama.cpp greedy tokens equal gemma-qat's" $? "ours $ours, llama.cpp $llama"

"$BIN" logits "$WORK/run" --ids "$prompt" --out "$WORK/ours.safetensors" --threads 1
node "$NODE/logits.mjs" "$WORK/run.gguf" --ids "$prompt" --out "$WORK/llama.f32" --kv-type f16 >/dev/null 2>&1
# Tolerance: llama.cpp's Q8_0 activation blocks (relative step 1/127 of each block's max), f16 K/V
# cache and f16 GELU table move this model's logits (range about +-20) by ~2e-2 (measured: max 2.9e-2,
# median 2.0e-2 over 15 positions); 0.1 leaves 3x headroom while a wrong scale, code or layout moves
# them by whole units. The argmax may flip only at near-ties.
res=$(node "$NODE/compare_logits.mjs" "$WORK/ours.safetensors" "$WORK/llama.f32" --max-abs 0.1 --min-argmax 0.8 2>&1)
check "llama.cpp logits within llama.cpp's activation rounding ($res)" $? "$res"
finish
