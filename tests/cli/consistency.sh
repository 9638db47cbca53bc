#!/usr/bin/env bash
# Every command treats the same input the same way: a run folder wherever a model is accepted, the
# model's own tokenizer by default, `--recipe none`, `--threads` checked alike, `train --resume`
# refusing flags it would not use, text with a stray Latin-1 byte decoded per line, and an hf
# export over its own input refused. Runs on a one-step QAT run of examples/models/tiny-e2b.
set -u
BIN=$1 ROOT=$3
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
W=$WORK
# Only the numbers of eval's first line ("MODEL (recipe): n_ctx 16, ..."), so two models compare.
# (Its progress lines on stderr, which carry timings, are left out; errors still show.)
eval_numbers() {
  "$BIN" eval "$@" --ctx 16 --batch-size 2 --reference none --threads 1 2>&1 | grep -v '^eval \[' | head -1 | sed 's/^.*: n_ctx/n_ctx/'
}
# The data bytes of a logits file (its metadata names the model).
logits_data() { tail -c $((4 * 3 * 4096)) "$1" | od -An -tx1 | md5sum; }

M=$ROOT/examples/models/tiny-e2b
[ -f "$M/model.safetensors" ] || missing "$M/model.safetensors"
for i in $(seq 1 30); do
  echo "It was the best of times, it was the worst of times; caf$(printf '\xc3\xa9') number $i."
done >"$W/text.txt"
"$BIN" train --model "$M" --recipe q4_0 --data "$W/text.txt" --steps 1 --batch-size 1 --seq-len 16 --eval-every 0 \
  --eval-batches 1 --threads 1 --out "$W/run" >/dev/null 2>"$W/train.err"
check "a one-step QAT run trains" $? "$(tail -2 "$W/train.err")"
RUN=$W/run CK=$W/run/checkpoint
# The run's weights as a plain checkpoint: what `--recipe none` must evaluate on the run.
mkdir "$W/float" && cp "$CK/config.json" "$CK/model.safetensors" "$CK/tokenizer.model" "$W/float/"

# 1. A run folder wherever a model is accepted (standing for RUN/checkpoint).
a=$("$BIN" info "$RUN" 2>&1) && [ "$a" = "$("$BIN" info "$CK" 2>&1)" ]
check "info RUN = info RUN/checkpoint" $? "$a"
a=$("$BIN" plan --config "$RUN" --recipe q4_0 2>&1) && [ "$a" = "$("$BIN" plan --config "$CK" --recipe q4_0 2>&1)" ]
check "plan --config RUN = plan --config RUN/checkpoint" $? "$a"
"$BIN" tokenize "$M" --text "$W/text.txt" >"$W/model.ids"
a=$("$BIN" tokenize "$RUN" --text "$W/text.txt" 2>&1) && [ "$a" = "$(cat "$W/model.ids")" ]
check "tokenize RUN uses the run's tokenizer" $? "$(head -2 <<<"$a")"
"$BIN" calibrate --model "$RUN" --data "$W/text.txt" --recipe w8a8-static --seq-len 16 --batch-size 1 --batches 1 \
  --threads 1 --out "$W/run_calib.json" >/dev/null 2>"$W/err" && [ -s "$W/run_calib.json" ]
check "calibrate --model RUN, text data, no --tokenizer" $? "$(cat "$W/err")"
"$BIN" logits "$RUN" --ids 2,17,5 --threads 1 --out "$W/run.safetensors" 2>"$W/err"
check "logits RUN" $? "$(cat "$W/err")"
a=$("$BIN" generate "$RUN" --ids 2,17,5 -n 4 --ignore-eos --threads 1 2>&1)
check "generate RUN" $? "$a"
a=$(eval_numbers "$RUN" --data "$W/text.txt" 2>&1)
check "eval RUN, text data, no --tokenizer" $? "$a"

# 2. --tokenizer defaults to the model's own, and may name a checkpoint or run folder.
"$BIN" calibrate --model "$M" --data "$W/text.txt" --recipe w8a8-static --seq-len 16 --batch-size 1 --batches 1 \
  --threads 1 --out "$W/calib.json" >/dev/null 2>"$W/err"
check "calibrate --model M, text data, no --tokenizer" $? "$(cat "$W/err")"
a=$(eval_numbers "$M" --data "$W/text.txt" 2>&1) && [ "$a" = "$(eval_numbers "$M" --data "$W/text.txt" --tokenizer "$RUN" 2>&1)" ]
check "eval --tokenizer RUN = the model's own tokenizer" $? "$a"

# 3. --recipe none: on a QAT run, the float model it trained.
a=$(eval_numbers "$RUN" --data "$W/text.txt" --recipe none 2>&1) && [ "$a" = "$(eval_numbers "$W/float" --data "$W/text.txt")" ] &&
  [ "$a" != "$(eval_numbers "$RUN" --data "$W/text.txt")" ]
check "eval RUN --recipe none = the float checkpoint (and not the QAT model)" $? "$a"
"$BIN" logits "$RUN" --ids 2,17,5 --recipe none --threads 1 --out "$W/run_none.safetensors" &&
  "$BIN" logits "$W/float" --ids 2,17,5 --threads 1 --out "$W/float.safetensors" &&
  [ "$(logits_data "$W/run_none.safetensors")" = "$(logits_data "$W/float.safetensors")" ] &&
  [ "$(logits_data "$W/run_none.safetensors")" != "$(logits_data "$W/run.safetensors")" ]
check "logits RUN --recipe none = the float checkpoint's" $? ""
a=$("$BIN" generate "$RUN" --ids 2,17,5 -n 8 --ignore-eos --recipe none --threads 1 2>&1) &&
  [ "$a" = "$("$BIN" generate "$W/float" --ids 2,17,5 -n 8 --ignore-eos --threads 1)" ]
check "generate RUN --recipe none = the float checkpoint's" $? "$a"
"$BIN" train --model "$M" --recipe none --data "$W/text.txt" --steps 1 --batch-size 1 --seq-len 16 --eval-every 0 \
  --eval-batches 1 --threads 1 --out "$W/plain" >/dev/null 2>"$W/err" && [ ! -e "$W/plain/checkpoint/recipe.json" ]
check "train --recipe none is plain fine-tuning" $? "$(tail -1 "$W/err")"
expect_error "calibrate --recipe none" "calibrate needs a recipe" \
  "$BIN" calibrate --model "$M" --data "$W/text.txt" --recipe none --out "$W/none.json"
expect_error "--recipe none --calib" "calib needs --recipe" \
  "$BIN" logits "$RUN" --ids 2 --recipe none --calib "$W/calib.json" --out "$W/x.safetensors"

# 4. --threads: one check everywhere; usage errors are one line like every other error.
for bad in 0 -2 100000 x; do
  expect_error "eval --threads $bad" "^gemma-qat: error: --threads" "$BIN" eval "$M" --data "$W/text.txt" --threads "$bad"
done
expect_error "logits --threads 0" "\-\-threads" "$BIN" logits "$M" --ids 2 --out "$W/x.safetensors" --threads 0
expect_error "generate --threads -1" "\-\-threads" "$BIN" generate "$M" --ids 2 --threads -1
expect_error "calibrate --threads 0" "\-\-threads" \
  "$BIN" calibrate --model "$M" --data "$W/text.txt" --recipe w8a8-static --out "$W/x.json" --threads 0
expect_error "train --threads 99999" "\-\-threads" \
  "$BIN" train --model "$M" --data "$W/text.txt" --steps 1 --out "$W/x" --threads 99999
expect_error "a missing argument" "MODEL is required" "$BIN" eval --data "$W/text.txt"
expect_error "an unknown flag" "no-such-flag" "$BIN" info "$M" --no-such-flag

# 6. train --resume refuses the flags it would not use, and changes nothing.
before=$(cat "$CK/train_state.json" "$RUN/metrics.jsonl" 2>/dev/null | md5sum)
expect_error "train --resume with --lr and --data" "remove --data, --lr" \
  "$BIN" train --resume "$RUN" --steps 2 --lr 1e-5 --data "$W/text.txt"
[ "$before" = "$(cat "$CK/train_state.json" "$RUN/metrics.jsonl" 2>/dev/null | md5sum)" ]
check "a refused --resume leaves the run as it was" $? ""

# 7. A stray Latin-1 byte: that line is Latin-1, every other line stays UTF-8, in tokenize and eval alike.
{ cat "$W/text.txt"; printf 'na\xefve\n'; cat "$W/text.txt"; } >"$W/mixed.txt"
{ cat "$W/text.txt"; printf 'na\xc3\xafve\n'; cat "$W/text.txt"; } >"$W/utf8.txt"
"$BIN" tokenize "$M" --text "$W/utf8.txt" >"$W/utf8.ids"
a=$("$BIN" tokenize "$M" --text "$W/mixed.txt" 2>&1) && [ "$a" = "$(cat "$W/utf8.ids")" ]
check "tokenize: the Latin-1 line as Latin-1, the others as UTF-8" $? "$(head -c 300 <<<"$a")"
a=$(eval_numbers "$M" --data "$W/mixed.txt" 2>&1) && [ "$a" = "$(eval_numbers "$M" --data "$W/utf8.txt")" ]
check "eval: the same text as tokenize reads" $? "$a"

# 8. An hf (or compressed-tensors) export over its own input is refused before anything is written.
cp -r "$M" "$W/m" && cp -r "$RUN" "$W/r"
sum() { find "$1" -type f | LC_ALL=C sort | xargs md5sum; }
m_before=$(sum "$W/m") r_before=$(sum "$W/r")
expect_error "export M --format hf --out M" "is the input checkpoint" "$BIN" export "$W/m" --format hf --out "$W/m"
expect_error "export RUN --format hf --out RUN" "is not a checkpoint folder" "$BIN" export "$W/r" --format hf --out "$W/r"
expect_error "export RUN --format hf --out RUN/checkpoint" "is the input checkpoint" \
  "$BIN" export "$W/r" --format hf --out "$W/r/checkpoint"
expect_error "export M --format compressed-tensors --out M" "is the input checkpoint" \
  "$BIN" export "$W/m" --format compressed-tensors --recipe w4a16-g32 --out "$W/m"
[ "$m_before" = "$(sum "$W/m")" ] && [ "$r_before" = "$(sum "$W/r")" ] && [ -z "$(ls -A "$W" | grep -e '\.tmp-' -e '\.old-')" ]
check "the refused exports left model and run untouched" $? "$(ls -A "$W" "$W/r")"

finish
