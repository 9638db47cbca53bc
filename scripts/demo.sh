#!/usr/bin/env bash
# The end-to-end demo on the embedded default model: sets up, builds, then inspects the tiny
# E2B-shaped Gemma 4 (tests/data/gemma4-tiny/dense_ple, Hugging Face weights), writes its logits,
# continues a prompt greedily through the KV cache, and sizes the real E2B from its config alone.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
BIN=build/cli/gemma-qat
MODEL=${1:-tests/data/gemma4-tiny/dense_ple}
OUT=${OUT:-demo-out}
mkdir -p "$OUT"

echo "== gemma-qat info $MODEL"
$BIN info "$MODEL"
echo
echo "== gemma-qat logits (one forward over 12 tokens) -> $OUT/logits.safetensors"
$BIN logits "$MODEL" --ids 2,187,68,152,70,179,501,27,78,217,21,256 --out "$OUT/logits.safetensors"
ls -l "$OUT/logits.safetensors"
echo
echo "== gemma-qat generate (greedy, KV cache, 16 new tokens)"
$BIN generate "$MODEL" --ids 2,187,68,152,70,179,501,27,78,217,21,256 -n 16 --ignore-eos
echo
echo "== gemma-qat info --meta examples/configs/e2b.json (no weights needed)"
$BIN info --meta examples/configs/e2b.json
