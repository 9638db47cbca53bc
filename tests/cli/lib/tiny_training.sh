# Sourced by the training-equivalence tests (distributed.sh, activation_checkpointing.sh) after
# common.sh, with ROOT, BIN and W set and TRAIN_RECIPE / TRAIN_LR chosen: short QAT runs on tiny-e2b
# over the first 60 kB of the validation split, and the max |Δlogit| of two runs on fixed ids.
MODEL=$ROOT/examples/models/tiny-e2b
CORPUS=$ROOT/data/gutenberg/valid.txt
COMPARE=$ROOT/tests/llamacpp/compare_logits.mjs
for need in "$MODEL/model.safetensors" "$CORPUS"; do [ -e "$need" ] || missing "$need (run bash scripts/setup.sh)"; done
command -v node >/dev/null || missing "node (Node.js >= 20) is not installed: run bash scripts/setup.sh"
DATA=$W/text.txt
head -c 60000 "$CORPUS" >"$DATA"  # plenty of 32-token windows; tokenizing all of it would cost every rank time

IDS=2,651,281,1200,9,77,3001,45,180,2222,14,590,33,1876,402,8
V=$(grep -o '"vocab_size": *[0-9]*' "$MODEL/config.json" | grep -o '[0-9]*$')
train_args() {  # OUT STEPS
  echo train --model "$MODEL" --recipe "$TRAIN_RECIPE" --data "$DATA" --steps "$2" --batch-size 4 --seq-len 32 \
    --lr "$TRAIN_LR" --warmup 1 --decay-steps 4 --eval-every 0 --save-every 2 --log-every 1 --seed 5 --threads 1 --out "$1"
}
# max |Δlogit| of two runs' logits on IDS; the second as raw float32 (the tail of its file).
compare() {
  "$BIN" logits "$1" --ids $IDS --threads 1 --out "$W/a.safetensors" 2>/dev/null &&
    "$BIN" logits "$2" --ids $IDS --threads 1 --out "$W/b.safetensors" 2>/dev/null &&
    tail -c $((4 * 16 * V)) "$W/b.safetensors" >"$W/b.f32" &&
    node "$COMPARE" "$W/a.safetensors" "$W/b.f32" "${@:3}"
}
