#!/usr/bin/env bash
# Pretrains the project's own small Gemma 4 (examples/configs/tiny-e2b.json) from scratch on the
# Gutenberg training split (about 10 minutes on 2 cores), then publishes it as the embedded default
# model: examples/models/tiny-e2b/{config.json, model.safetensors (bf16), tokenizer.model}.
#   STEPS=180 bash scripts/pretrain-tiny.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/fetch-gutenberg.sh
[ -f examples/models/tiny-e2b/tokenizer.model ] || bash scripts/train-tokenizer.sh
BIN=build/cli/gemma-qat
RUN=${RUN:-runs/tiny-e2b-pretrain}
rm -rf "$RUN"
$BIN train --config examples/configs/tiny-e2b.json --init random \
  --data data/gutenberg/train.txt --valid data/gutenberg/valid.txt \
  --tokenizer examples/models/tiny-e2b/tokenizer.model \
  --steps "${STEPS:-180}" --batch-size 16 --seq-len 256 --lr 3e-3 --warmup 20 --min-lr-ratio 0.1 \
  --weight-decay 0.1 --eval-every 60 --eval-batches 16 --save-every 60 --seed 1 --out "$RUN" ${THREADS:+--threads $THREADS}
$BIN export "$RUN" --format hf --dtype bf16 --out examples/models/tiny-e2b
$BIN eval examples/models/tiny-e2b --data data/gutenberg/valid.txt
