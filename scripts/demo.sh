#!/usr/bin/env bash
# The end-to-end demo on the embedded default model (examples/models/tiny-e2b: the project's own
# E2B-shaped Gemma 4, pretrained on Project Gutenberg text by scripts/pretrain-tiny.sh):
#   1. set-up, build, data
#   2. PTQ baseline: held-out perplexity in float and with Q4_0 round-to-nearest (what llama.cpp's
#      converter gives)
#   3. QAT: a short Q4_0 fine-tune with learned scales, distilled from the float model
#   4. export the QAT run to GGUF Q4_0, run it in upstream llama.cpp, and compare its logits and
#      greedy tokens with gemma-qat's own fake-quant model
# Prints a summary table at the end. MODEL=... and QAT_STEPS=... override the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
bash scripts/fetch-gutenberg.sh
BIN=build/cli/gemma-qat
MODEL=${MODEL:-examples/models/tiny-e2b}
OUT=${OUT:-demo-out}
STEPS=${QAT_STEPS:-40}
EVAL=(--data data/gutenberg/test.txt --ctx 256 --chunks 24)
rm -rf "$OUT"
mkdir -p "$OUT"
say() { printf '\n== %s\n' "$*"; }

say "gemma-qat info $MODEL"
$BIN info "$MODEL"

say "PTQ baseline on held-out Gutenberg text (test split)"
$BIN eval "$MODEL" "${EVAL[@]}" | tee "$OUT/eval-float.txt"
$BIN eval "$MODEL" "${EVAL[@]}" --recipe q4_0 | tee "$OUT/eval-ptq-q4_0.txt"

say "QAT: $STEPS steps of Q4_0 fine-tuning with learned scales, distilled from the float model"
$BIN train --model "$MODEL" --teacher "$MODEL" --recipe recipes/q4_0-lsq.json --data data/gutenberg/train.txt \
  --valid data/gutenberg/valid.txt --steps "$STEPS" --batch-size 8 --seq-len 256 --lr 2e-4 --warmup 5 \
  --eval-every "$STEPS" --eval-batches 8 --out "$OUT/qat-q4_0"
$BIN eval "$OUT/qat-q4_0" "${EVAL[@]}" | tee "$OUT/eval-qat-q4_0.txt"

say "export the QAT run to GGUF Q4_0 (its learned scales and codes) and run it in llama.cpp"
$BIN export "$OUT/qat-q4_0" --format gguf --out "$OUT/qat-q4_0.gguf"
PROMPT=$($BIN tokenize "$MODEL" --text <(echo "It is a truth universally acknowledged, that a single man in possession of a good fortune") | tr ' ' ',')
PROMPT="2,$PROMPT"
OURS=$($BIN generate "$OUT/qat-q4_0" --ids "$PROMPT" -n 24 --ignore-eos)
LLAMA=$(node tests/llamacpp/greedy.mjs "$OUT/qat-q4_0.gguf" --ids "$PROMPT" -n 24)
echo "gemma-qat (fake-quant) greedy: $OURS"
echo "llama.cpp (GGUF Q4_0) greedy:  $LLAMA"
echo "as text: $($BIN tokenize "$MODEL" --decode --text <(echo "$OURS" | tr ',' ' '))"
$BIN logits "$OUT/qat-q4_0" --ids "$PROMPT" --out "$OUT/ours.safetensors"
node tests/llamacpp/logits.mjs "$OUT/qat-q4_0.gguf" --ids "$PROMPT" --out "$OUT/llama.f32"

say "summary"
ppl() { head -1 "$1" | sed -E 's/.*perplexity ([0-9.]+).*/\1/'; }
printf '%-34s %10s\n' "held-out perplexity (test split)" "value"
printf '%-34s %10s\n' "float (bf16 weights)" "$(ppl "$OUT/eval-float.txt")"
printf '%-34s %10s\n' "PTQ: Q4_0 round-to-nearest" "$(ppl "$OUT/eval-ptq-q4_0.txt")"
printf '%-34s %10s\n' "QAT: Q4_0, $STEPS steps" "$(ppl "$OUT/eval-qat-q4_0.txt")"
if [ "$OURS" = "$LLAMA" ]; then echo "llama.cpp greedy tokens: identical to gemma-qat's (24 of 24)"; else echo "llama.cpp greedy tokens: DIFFER"; fi
node tests/llamacpp/compare_logits.mjs "$OUT/ours.safetensors" "$OUT/llama.f32" | sed 's/^/llama.cpp vs gemma-qat logits: /'
