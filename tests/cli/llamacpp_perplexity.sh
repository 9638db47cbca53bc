#!/usr/bin/env bash
# `gemma-qat eval` computes perplexity as llama-perplexity does: the same figure comes out of upstream
# llama.cpp (node-llama-cpp 3.22.1, tests/llamacpp/perplexity.mjs: llama-perplexity's chunking and
# scoring over llama.cpp's own logits) on the same GGUF and the same tokens. examples/models/tiny-e2b,
# n_ctx 128, 4 chunks of README.md's tokens.
#
# Tolerances (relative perplexity difference). F32 file: llama.cpp computes GELU through an f16
# table and sums in another order; measured 1.9e-6 on this model (ppl 730.35 on these tokens),
# limit 2e-5. Q4_0 file: llama.cpp also rounds every activation to Q8_0 before a Q4_0 matmul
# (tests/cli/llamacpp_interop.sh), which our engine does not: measured 1.3e-4, limit 1e-3.
#
# Also: eval of the checkpoint (LibTorch) equals eval of its F32 GGUF (the engine) to 1e-5, and
# --json writes the printed figures.
#
# $1 = gemma-qat binary, $2 = tests/data, $3 = project root. Fails (never skips) without node_modules.
set -u
BIN=$1 ROOT=$3
NODE_DIR=$ROOT/tests/llamacpp
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
require_llamacpp "$NODE_DIR"
M=$ROOT/examples/models/tiny-e2b
[ -f "$M/model.safetensors" ] || missing "$M/model.safetensors"
CTX=128 CHUNKS=4

W=$WORK
# One document: README.md's lines tokenized one by one and joined (eval puts BOS before it; the
# stream llama.cpp gets starts with that BOS).
ids=$("$BIN" tokenize "$M" --text "$ROOT/README.md" | tr -s ' \n' '  ')
echo "$ids" >"$W/text.ids"
echo "2 $ids" >"$W/stream.ids"

# rel A B: |A - B| / B
rel() { awk -v a="$1" -v b="$2" 'BEGIN { d = (a - b) / b; if (d < 0) d = -d; printf "%.3g", d }'; }
within() { awk -v d="$1" -v t="$2" 'BEGIN { exit !(d <= t) }'; }
ppl_of() { sed -n 's/.*"perplexity": \([0-9.e+-]*\).*/\1/p' "$1" | head -1; }

run_check "convert --type f32" "$BIN" convert "$M" --type f32 --out "$W/f32.gguf" --quiet
run_check "convert --type q4_0" "$BIN" convert "$M" --type q4_0 --out "$W/q4_0.gguf" --quiet
"$BIN" eval "$M" --data "$W/text.ids" --ctx $CTX --chunks $CHUNKS --threads 1 --json "$W/ck.json" >"$W/ck.txt" 2>"$W/err"
check "eval the checkpoint (LibTorch)" $? "$(cat "$W/err")"
for t in f32 q4_0; do
  "$BIN" eval "$W/$t.gguf" --data "$W/text.ids" --ctx $CTX --chunks $CHUNKS --threads 1 --json "$W/$t.json" >"$W/$t.txt" 2>"$W/err"
  check "eval $t.gguf (reference engine)" $? "$(cat "$W/err")"
  node "$NODE_DIR/perplexity.mjs" "$W/$t.gguf" --ids "$W/stream.ids" --ctx $CTX --chunks $CHUNKS --threads 1 >"$W/$t.llama" 2>"$W/err"
  check "llama.cpp perplexity of $t.gguf" $? "$(cat "$W/err")"
done
ours=$(ppl_of "$W/f32.json") theirs=$(sed 's/.*"ppl":\([0-9.e+-]*\).*/\1/' "$W/f32.llama")
d=$(rel "$ours" "$theirs"); within "$d" 2e-5
check "F32: eval $ours vs llama.cpp $theirs (relative $d <= 2e-5)" $? "$(cat "$W/f32.txt" "$W/f32.llama")"
ours=$(ppl_of "$W/q4_0.json") theirs=$(sed 's/.*"ppl":\([0-9.e+-]*\).*/\1/' "$W/q4_0.llama")
d=$(rel "$ours" "$theirs"); within "$d" 1e-3
check "Q4_0: eval $ours vs llama.cpp $theirs (relative $d <= 1e-3)" $? "$(cat "$W/q4_0.txt" "$W/q4_0.llama")"
ck=$(ppl_of "$W/ck.json") f32=$(ppl_of "$W/f32.json")
d=$(rel "$ck" "$f32"); within "$d" 1e-5
check "the checkpoint on LibTorch $ck = its F32 GGUF on the engine $f32 (relative $d <= 1e-5)" $? "$(cat "$W/ck.txt")"
grep -q "perplexity $(printf '%.3f' "$ck")" "$W/ck.txt" && grep -q '"n_ctx": 128' "$W/ck.json" && grep -q '"chunks": 4' "$W/ck.json" &&
  grep -q '"tokens": 252' "$W/ck.json"
check "--json holds the printed figures (n_ctx 128, 4 chunks, 4 x 63 tokens scored)" $? "$(cat "$W/ck.json")"

finish
