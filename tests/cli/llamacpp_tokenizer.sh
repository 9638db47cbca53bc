#!/usr/bin/env bash
# The project's SentencePiece tokenizer (examples/models/tiny-e2b/tokenizer.model) exported into a
# GGUF and run by upstream llama.cpp's tokenizer (node-llama-cpp 3.22.1, tests/llamacpp/tokenize.mjs):
# the same ids as `gemma-qat tokenize` on every non-empty line of data/gutenberg/valid.txt, its
# paragraphs (newlines), ~90 edge cases (spaces, digits, NFKC, emoji and other byte fallback,
# special-token text) and 600 seeded random strings.
#
# The GGUF carries llama.cpp's SentencePiece vocabulary ("llama": export/gguf_vocab_spm.h says why
# not the gemma4 BPE form). llama.cpp runs no SentencePiece normalizer, so the claim is exact for
# every text the normalizer (nmt_nfkc + remove_extra_whitespaces) leaves unchanged, and for all
# other texts once normalized (decode(encode(text))): both are checked, mismatch-free.
#
# The model is the tiny-e2b config with random weights (1 training step): tokenization does not
# depend on the weights, and the file must still load as a model.
#
# $1 = gemma-qat binary, $2 = tests/data, $3 = project root. Fails (never skips) without
# node_modules (bash scripts/setup-llamacpp.sh) or data/gutenberg (bash scripts/fetch-gutenberg.sh).
set -u
BIN=$1 ROOT=$3
NODE_DIR=$ROOT/tests/llamacpp
TOK=$ROOT/examples/models/tiny-e2b/tokenizer.model
CONFIG=$ROOT/examples/configs/tiny-e2b.json
VALID=$ROOT/data/gutenberg/valid.txt
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
require_llamacpp "$NODE_DIR"
[ -s "$VALID" ] || missing "$VALID is missing: run bash scripts/fetch-gutenberg.sh"
[ -s "$TOK" ] || missing "$TOK is missing: run bash scripts/train-tokenizer.sh"

# A random-init tiny-e2b checkpoint with the tokenizer beside it, converted to an F32 GGUF.
model() {
  for i in 1 2 3 4 5 6 7 8; do seq -s ' ' 5 40; done >"$WORK/d.ids" &&
    "$BIN" train --config "$CONFIG" --init random --data "$WORK/d.ids" --steps 1 --out "$WORK/run" --threads 1 \
      --batch-size 2 --seq-len 16 >/dev/null &&
    "$BIN" export "$WORK/run" --format hf --dtype f32 --out "$WORK/hf" &&
    cp "$TOK" "$WORK/hf/tokenizer.model" &&
    "$BIN" convert "$WORK/hf" --to gguf --type f32 --out "$WORK/spm.gguf" >"$WORK/convert.out" 2>"$WORK/convert.err" &&
    cat "$WORK/convert.out" "$WORK/convert.err" &&
    grep -q "vocabulary $WORK/hf/tokenizer.model" "$WORK/convert.out" &&
    grep -q "does not apply SentencePiece's normalizer" "$WORK/convert.err"
}
run_check "tiny-e2b (random weights) + tokenizer.model -> GGUF, vocabulary from tokenizer.model, normalizer warning" model ||
  finish

texts() {
  node "$NODE_DIR/tokenize.mjs" cases "$VALID" "$WORK/cases.jsonl" &&
    "$BIN" tokenize "$TOK" --text "$WORK/cases.jsonl" --jsonl >"$WORK/ours.ids" &&
    "$BIN" tokenize "$TOK" --text "$WORK/ours.ids" --decode --jsonl >"$WORK/normalized.jsonl" &&
    [ "$(wc -l <"$WORK/ours.ids")" -eq "$(wc -l <"$WORK/cases.jsonl")" ]
}
run_check "texts and our ids (gemma-qat tokenize, and --decode for the normalized texts)" texts || finish

compare() {
  node "$NODE_DIR/tokenize.mjs" check "$WORK/spm.gguf" "$WORK/cases.jsonl" "$WORK/ours.ids" "$WORK/normalized.jsonl" \
    >"$WORK/check.out"
  local status=$?
  cat "$WORK/check.out"
  [ $status -eq 0 ] &&
    grep -q "tokenizer.ggml.model 'llama', 4096 tokens, add_space_prefix true, add_bos_token true; BOS 2, EOS 1" "$WORK/check.out"
}
run_check "llama.cpp's ids = ours on $(grep -c . "$VALID") Gutenberg lines, paragraphs, edge cases and random strings" compare

# The comparison can fail: the same texts against a GGUF whose vocabulary was synthesized (no
# tokenizer.model beside the checkpoint) must mismatch.
negative() {
  rm "$WORK/hf/tokenizer.model" &&
    "$BIN" convert "$WORK/hf" --to gguf --type f32 --out "$WORK/synth.gguf" >/dev/null || return 1
  node "$NODE_DIR/tokenize.mjs" check "$WORK/synth.gguf" "$WORK/cases.jsonl" "$WORK/ours.ids" "$WORK/normalized.jsonl" \
    >"$WORK/synth.out"
  local status=$?
  head -4 "$WORK/synth.out"
  [ $status -eq 1 ]
}
run_check "the comparison fails against a synthesized vocabulary" negative

finish
