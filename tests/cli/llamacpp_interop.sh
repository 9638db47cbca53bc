#!/usr/bin/env bash
# GGUF files written by `gemma-qat convert`, run by upstream llama.cpp (node-llama-cpp 3.22.1's
# prebuilt CPU binaries, installed by scripts/setup-llamacpp.sh). Per fixture of tests/data/gemma4-tiny:
#
# 1. F32 export vs the Hugging Face reference logits (sequences a: 33 tokens, b: 70 > sliding
#    window, c: 1), with an f32 K/V cache, then with llama.cpp's default f16 K/V cache.
#    Tolerances. ggml computes GELU through an f16 lookup table (its input rounded to 11 bits) and
#    works in float32 where the reference is float32 (HF) or float64 (reference_exact): on these
#    models (logit range R = 1.6-1.9) that gives max |diff| 1.8e-3-1.1e-2 and per-sequence medians of
#    the per-position max 5e-4-1.1e-3 (measured, llama.cpp v0.5.0, zen4 CPU backend). Limits:
#    max 2e-2 and median 3e-3 (about 2x and 3x headroom; tried on deliberately wrong files, a
#    sliding window off by one gives max 1.0 / median 0.48, the full layers' RoPE base doubled
#    0.72 / 0.065). An f16 K/V cache also rounds K, V, Q and the softmax
#    output to f16: measured max up to 3.0e-2, so max 6e-2, median 1e-2. MoE: llama.cpp's router
#    can pick the other expert where the k-th and (k+1)-th router logits are a near-tie (seen at
#    one position, 0.27 off, when the same weights run through the fake-quant reference), so up to
#    2 positions per sequence may reach 0.5; the median bound still applies.
# 2. Q8_0 and Q4_0 exports (recipes/q*_0-f32.json: blocks on every Linear, expert bank and embedding,
#    the rest F32) vs `gemma-qat logits --recipe` on the same recipe (fake-quant with the codecs the
#    exporter uses). The weights are then identical: the same files with their blocks dequantized to
#    F32 match the fake-quant logits as closely as step 1. What remains is llama.cpp's own rounding:
#    before every Q8_0/Q4_0 matmul it quantizes the activations to Q8_0 blocks, which on these
#    random tiny models (nearly flat logits) moves logits by up to 0.4 (dense) / 0.8 (MoE, where it
#    also flips expert choices) and changes the argmax at 3-27% (dense) / up to 51% (MoE) of the
#    positions. The check is therefore: the file loads, every logit is finite, max |diff| <= 0.6 /
#    median <= 0.15 (MoE 1.5 / 0.5), and the argmax equals the reference's on >= 60% (MoE 40%) of
#    positions (for comparison, HF's float model and the same Q4_0 file agree on only 7-18%).
# 3. `--type q4_0`: every Q4_0 tensor's bytes equal ggml's quantize_row_q4_0_ref, ported to JS in
#    check_q4_0.mjs independently of the C++ codecs.
#
# $1 = gemma-qat binary, $2 = tests/data, $3 = project root. Fails (never skips) without node_modules.
set -u
BIN=$1 DATA=$2 ROOT=$3
NODE_DIR=$ROOT/tests/llamacpp
FIX=$DATA/gemma4-tiny
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
require_llamacpp "$NODE_DIR"

llama() { node "$NODE_DIR/check_logits.mjs" "$@" --threads 1; }

for f in dense_ple moe_keqv dense_keqv dense_ple_mm_bf16; do
  dir=$FIX/$f
  ref=$dir/reference.safetensors
  # The bf16 copy's reference.safetensors also rounded HF's constants (sqrt(H), RoPE frequencies) to
  # bf16; the exact-constant reference is the one a float32 runtime should match.
  [ "$f" = dense_ple_mm_bf16 ] && ref=$dir/reference_exact.safetensors
  moe=(); [ "$f" = moe_keqv ] && moe=(--outliers 2 --outlier-abs 0.5)

  run_check "$f: convert --type f32" "$BIN" convert "$dir" --type f32 --out "$WORK/$f-f32.gguf" --quiet
  run_check "$f: F32 GGUF in llama.cpp vs HF logits (f32 K/V cache)" \
    llama "$WORK/$f-f32.gguf" --ref "$ref" --seqs a,b,c --kv-type f32 --max-abs 2e-2 --max-median 3e-3 "${moe[@]}"
  run_check "$f: F32 GGUF in llama.cpp vs HF logits (f16 K/V cache, llama.cpp's default)" \
    llama "$WORK/$f-f32.gguf" --ref "$ref" --seqs a,b,c --kv-type f16 --max-abs 6e-2 --max-median 1e-2 "${moe[@]}"

  for q in q8_0 q4_0; do
    recipe=$NODE_DIR/recipes/$q-f32.json
    mkdir -p "$WORK/fq-$f-$q"
    ok=1
    for s in a b c; do
      ids=$(node "$NODE_DIR/ids.mjs" "$ref" $s) &&
        "$BIN" logits "$dir" --ids "$ids" --recipe "$recipe" --out "$WORK/fq-$f-$q/$s.safetensors" --threads 2 || ok=0
    done
    [ $ok -eq 1 ] || { echo "FAIL $f: fake-quant reference logits ($q)"; fails=$((fails + 1)); continue; }
    run_check "$f: convert --recipe $q" "$BIN" convert "$dir" --recipe "$recipe" --out "$WORK/$f-$q.gguf" --quiet
    if [ "$f" = moe_keqv ]; then lim=(--max-abs 1.5 --max-median 0.5 --min-argmax 0.4)
    else lim=(--max-abs 0.6 --max-median 0.15 --min-argmax 0.6); fi
    run_check "$f: ${q^^} GGUF in llama.cpp vs fake-quant logits" \
      llama "$WORK/$f-$q.gguf" --ref-dir "$WORK/fq-$f-$q" --ids-from "$ref" --seqs a,b,c --kv-type f32 "${lim[@]}"
  done

  run_check "$f: convert --type q4_0" "$BIN" convert "$dir" --type q4_0 --out "$WORK/$f-q4_0-type.gguf" --quiet
  run_check "$f: Q4_0 bytes equal ggml's reference quantizer" node "$NODE_DIR/check_q4_0.mjs" "$WORK/$f-q4_0-type.gguf" "$dir"
done

finish
