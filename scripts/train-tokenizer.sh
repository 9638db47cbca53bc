#!/usr/bin/env bash
# The tiny model's tokenizer: a 4096-piece SentencePiece BPE with byte fallback, trained with
# Debian's spm_train on the Gutenberg training split only. Special ids follow Gemma's
# (pad 0, eos 1, bos 2, unk 3). Output: examples/models/tiny-e2b/tokenizer.model
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/fetch-gutenberg.sh
OUT=${1:-examples/models/tiny-e2b}
mkdir -p "$OUT"
spm_train --input=data/gutenberg/train.txt --model_prefix="$OUT/tokenizer" --model_type=bpe --vocab_size=4096 \
  --character_coverage=1.0 --byte_fallback=true --num_threads=2 --pad_id=0 --eos_id=1 --bos_id=2 --unk_id=3 \
  --pad_piece='<pad>' --eos_piece='<eos>' --bos_piece='<bos>' --unk_piece='<unk>' \
  --split_digits=true --max_sentence_length=8192 --minloglevel=2 >/dev/null
rm -f "$OUT/tokenizer.vocab"
echo "tokenizer: $OUT/tokenizer.model" >&2
