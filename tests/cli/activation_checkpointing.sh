#!/usr/bin/env bash
# `train --activation-checkpointing` (per decoder layer, recomputed in backward) trains the same
# model as without it: 4 QAT steps on tiny-e2b (KV sharing, PLE) under q4_0-lsq give bit-identical
# weights and learned scales, so identical logits; the same on 2 data-parallel ranks. The run
# records the setting and a resume keeps it.
set -u
BIN=$1 ROOT=$3
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
W=$WORK
TRAIN_RECIPE=q4_0-lsq TRAIN_LR=1e-3
source "$(dirname "${BASH_SOURCE[0]}")/lib/tiny_training.sh"
same_run() {  # A B: bit-identical weights and quantization parameters
  cmp -s "$1/checkpoint/model.safetensors" "$2/checkpoint/model.safetensors" &&
    cmp -s "$1/checkpoint/quant_params.safetensors" "$2/checkpoint/quant_params.safetensors"
}

# shellcheck disable=SC2046
"$BIN" $(train_args "$W/plain" 4) >/dev/null 2>"$W/err"; check "4 q4_0-lsq steps" $? "$(tail -2 "$W/err")"
# shellcheck disable=SC2046
"$BIN" $(train_args "$W/ckpt" 4) --activation-checkpointing >/dev/null 2>"$W/err"
check "4 q4_0-lsq steps with --activation-checkpointing" $? "$(tail -2 "$W/err")"
grep -q '"activation_checkpointing": *true' "$W/ckpt/checkpoint/train_state.json"
check "train_state.json records it" $? "$(grep -o '"activation_checkpointing":[^,]*' "$W/ckpt/checkpoint/train_state.json")"
grep -q '"activation_checkpointing": *false' "$W/plain/checkpoint/train_state.json"
check "and its absence" $? "$(grep -o '"activation_checkpointing":[^,]*' "$W/plain/checkpoint/train_state.json")"

same_run "$W/plain" "$W/ckpt"; check "weights and learned scales are bit-identical to the run without it" $? "differ"
out=$(compare "$W/plain" "$W/ckpt" --max-abs 0); st=$?
check "identical logits: $out" $st "$out"
out=$(compare "$MODEL" "$W/ckpt"); moved=$(sed -n 's/.*max |diff| \([0-9.e+-]*\),.*/\1/p' <<<"$out")
awk -v m="$moved" 'BEGIN { exit !(m > 1e-2) }'; check "and the 4 steps moved the model: $out" $? "$out"
cmp -s <(grep -o '"loss":[-0-9.e]*' "$W/plain/metrics.jsonl") <(grep -o '"loss":[-0-9.e]*' "$W/ckpt/metrics.jsonl")
check "the same losses at every step" $? "$(paste "$W/plain/metrics.jsonl" "$W/ckpt/metrics.jsonl")"

# A resume keeps the run's setting (and refuses the flag, like every setting of the run).
# shellcheck disable=SC2046
"$BIN" $(train_args "$W/half" 2) --activation-checkpointing >/dev/null 2>"$W/err" &&
  "$BIN" train --resume "$W/half" --steps 4 --threads 1 >/dev/null 2>"$W/err"
check "a checkpointed run resumes" $? "$(tail -2 "$W/err")"
grep -q '"activation_checkpointing": *true' "$W/half/checkpoint/train_state.json"
check "still checkpointed after the resume" $? "$(cat "$W/half/checkpoint/train_state.json")"
same_run "$W/half" "$W/ckpt"; check "and bit-identical to the uninterrupted run" $? "differ"
expect_error "--resume refuses --activation-checkpointing" "remove --activation-checkpointing" \
  "$BIN" train --resume "$W/half" --steps 6 --activation-checkpointing

# Two data-parallel ranks, with and without it.
# shellcheck disable=SC2046
"$BIN" $(train_args "$W/dp" 4) --nproc 2 >/dev/null 2>"$W/err" &&
  "$BIN" $(train_args "$W/dp_ckpt" 4) --nproc 2 --activation-checkpointing >/dev/null 2>"$W/err"
check "--nproc 2 runs with and without it" $? "$(tail -2 "$W/err")"
same_run "$W/dp" "$W/dp_ckpt"; check "bit-identical on 2 ranks too" $? "differ"
finish
