#!/usr/bin/env bash
# The end-to-end demo on the embedded default model (examples/models/tiny-e2b: the project's own
# E2B-shaped Gemma 4, pretrained on Project Gutenberg text by scripts/pretrain-tiny.sh):
#   1. set-up, build, data
#   2. QAT against PTQ for the two deployment targets, q4_0 (llama.cpp) and mobile (static int8
#      activations, int4 channel-wise weights, 2-bit head, int4 embeddings): RTN, GPTQ and
#      distilled QAT each, held-out perplexity / KL / top-1, exports (GGUF, compressed-tensors,
#      native) validated on the reference engine, report.md and report.html (`gemma-qat compare`)
#   3. the q4_0 QAT run's GGUF in upstream llama.cpp: its logits and greedy tokens against
#      gemma-qat's own fake-quant model
# Prints a summary table at the end. MODEL=..., QAT_STEPS=... and OUT=... override the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
bash scripts/fetch-gutenberg.sh
BIN=build/cli/gemma-qat
MODEL=${MODEL:-examples/models/tiny-e2b}
OUT=${OUT:-demo-out}
STEPS=${QAT_STEPS:-60}
rm -rf "$OUT"
mkdir -p "$OUT"
say() { printf '\n== %s\n' "$*"; }
T0=$(date +%s)

say "gemma-qat info $MODEL"
$BIN info "$MODEL"

say "QAT against PTQ: q4_0 and mobile; RTN, GPTQ and $STEPS distilled QAT steps of 8 x 256 tokens each"
# Train/calibrate on the train split, evaluate on the test split (text the model never saw).
$BIN compare --model "$MODEL" --recipes q4_0,mobile --methods rtn,gptq,qat --data-train data/gutenberg/train.txt \
  --data-eval data/gutenberg/test.txt --steps "$STEPS" --seq-len 256 --batch-size 8 --samples 64 --ctx 256 \
  --chunks 24 --out "$OUT/compare"
RUN=$OUT/compare/q4_0/qat/run
GGUF=$OUT/compare/q4_0/qat/model.gguf

say "the q4_0 QAT run's GGUF in upstream llama.cpp"
PROMPT=$($BIN tokenize "$MODEL" --text <(echo "It is a truth universally acknowledged, that a single man in possession of a good fortune") | tr ' ' ',')
PROMPT="2,$PROMPT"
OURS=$($BIN generate "$RUN" --ids "$PROMPT" -n 24 --ignore-eos)
LLAMA=$(node tests/llamacpp/greedy.mjs "$GGUF" --ids "$PROMPT" -n 24)
echo "gemma-qat (fake-quant) greedy: $OURS"
echo "llama.cpp (GGUF Q4_0) greedy:  $LLAMA"
echo "as text: $($BIN tokenize "$MODEL" --decode --text <(echo "$OURS" | tr ',' ' '))"
$BIN logits "$RUN" --ids "$PROMPT" --out "$OUT/ours.safetensors"
node tests/llamacpp/logits.mjs "$GGUF" --ids "$PROMPT" --out "$OUT/llama.f32"

say "summary"
sed -n '/^|/p' "$OUT/compare/report.md"
echo
if [ "$OURS" = "$LLAMA" ]; then echo "llama.cpp greedy tokens: identical to gemma-qat's (24 of 24)"; else echo "llama.cpp greedy tokens: DIFFER"; fi
node tests/llamacpp/compare_logits.mjs "$OUT/ours.safetensors" "$OUT/llama.f32" | sed 's/^/llama.cpp vs gemma-qat logits: /'
echo "report: $OUT/compare/report.md and $OUT/compare/report.html; runs and exports: $OUT/compare/<recipe>/<method>/"
echo "demo time after set-up and build: $(( $(date +%s) - T0 )) s"
