#!/usr/bin/env bash
# `gemma-qat tokenize` with a SentencePiece model trained here (no npm needed): ids equal
# spm_encode's, --add-special, --decode, --jsonl, and one-line errors naming file and line.
# The Hugging Face side is tests/cli/tokenizer_parity.sh.
set -u
BIN=$1
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

for i in $(seq 1 40); do
  echo "The quick brown fox jumps over the lazy dog number $i."
  echo "It was the best of times, it was the worst of times; $((i * 7)) ships sailed."
done >"$WORK/train.txt"
spm_train --input="$WORK/train.txt" --model_prefix="$WORK/tiny" --vocab_size=400 --model_type=bpe \
  --byte_fallback=true --character_coverage=1.0 --num_threads=1 >"$WORK/train.log" 2>&1
check "spm_train makes a model" $? "$(tail -2 "$WORK/train.log")"

printf 'The lazy fox.\n\n  two  spaces\tand a tab\ncaf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80\n' >"$WORK/in.txt"
"$BIN" tokenize "$WORK/tiny.model" --text "$WORK/in.txt" >"$WORK/ours.ids"
check "tokenize exits 0" $? ""
spm_encode --model="$WORK/tiny.model" --output_format=id <"$WORK/in.txt" >"$WORK/spm.ids"
cmp -s "$WORK/ours.ids" "$WORK/spm.ids"
check "ids equal spm_encode's (4 lines)" $? "$(diff "$WORK/ours.ids" "$WORK/spm.ids" | head -5)"

"$BIN" tokenize "$WORK/tiny.model" --text "$WORK/in.txt" --add-special >"$WORK/bos.ids"
[ "$(cut -d' ' -f1 "$WORK/bos.ids" | sort -u)" = 1 ] && [ "$(sed -n 2p "$WORK/bos.ids")" = 1 ]
check "--add-special starts every line with BOS (1)" $? "$(head -2 "$WORK/bos.ids")"

"$BIN" tokenize "$WORK/tiny.model" --text "$WORK/ours.ids" --decode >"$WORK/back.txt"
# SentencePiece's default normalizer folds whitespace runs and trims, so compare with its own decode.
spm_decode --model="$WORK/tiny.model" --input_format=id <"$WORK/spm.ids" >"$WORK/spm_back.txt"
cmp -s "$WORK/back.txt" "$WORK/spm_back.txt" && [ "$(head -1 "$WORK/back.txt")" = "The lazy fox." ]
check "--decode equals spm_decode" $? "$(diff "$WORK/back.txt" "$WORK/spm_back.txt" | head -5)"

printf '"say \\"hi\\""\n{"text": "multi\\nline"}\n' >"$WORK/in.jsonl"
"$BIN" tokenize "$WORK/tiny.model" --text "$WORK/in.jsonl" --jsonl >"$WORK/jsonl.ids"
[ "$(wc -l <"$WORK/jsonl.ids")" -eq 2 ]
check "--jsonl: one line out per JSON line in" $? "$(cat "$WORK/jsonl.ids")"
"$BIN" tokenize "$WORK/tiny.model" --text "$WORK/jsonl.ids" --decode --jsonl >"$WORK/jsonl.back"
[ "$(head -1 "$WORK/jsonl.back")" = '"say \"hi\""' ]
check "--decode --jsonl writes JSON strings" $? "$(cat "$WORK/jsonl.back")"

one_line_error() {  # one_line_error NAME NEEDLE ARGS...
  local name=$1 needle=$2
  shift 2
  local err
  err=$("$BIN" tokenize "$@" 2>&1 >/dev/null)
  local status=$?
  [ "$status" -eq 1 ] && [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] && grep -qF -- "$needle" <<<"$err"
  check "$name" $? "status $status: $err"
}
printf 'ok\n\xff bad\n' >"$WORK/latin1.txt"
printf 'ok\n\xc3\xbf bad\n' >"$WORK/latin1_as_utf8.txt"
out=$("$BIN" tokenize "$WORK/tiny.model" --text "$WORK/latin1.txt") &&
  [ "$out" = "$("$BIN" tokenize "$WORK/tiny.model" --text "$WORK/latin1_as_utf8.txt")" ]
check "a line that is not valid UTF-8 is read as Latin-1 (as eval reads it)" $? "$out"
printf '5 6\n7 400\n' >"$WORK/bad.ids"
one_line_error "out-of-range id names file:line" "bad.ids:2: '400' is not a token id in [0, 400)" "$WORK/tiny.model" --text "$WORK/bad.ids" --decode
one_line_error "bad JSONL names file:line" "in.txt:1: not a JSON value" "$WORK/tiny.model" --text "$WORK/in.txt" --jsonl
one_line_error "missing text file" "nope.txt: cannot open" "$WORK/tiny.model" --text "$WORK/nope.txt"
one_line_error "folder without a tokenizer" "has neither tokenizer.json nor tokenizer.model" "$WORK" --text "$WORK/in.txt"
one_line_error "not a tokenizer" "not a SentencePiece model" "$WORK/in.txt" --text "$WORK/in.txt"

finish
