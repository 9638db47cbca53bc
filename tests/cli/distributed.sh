#!/usr/bin/env bash
# Data-parallel QAT on c10d (Gloo over loopback): `train --nproc 2` equals the single-process run at
# the same global batch (max |Δlogit| <= 1e-4 after 4 q4_0 steps), resumes exactly, writes its run
# folder once (rank 0), and a rank that dies or never arrives fails the run with a clear error
# instead of a hang.
set -u
BIN=$1 ROOT=$3
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
W=$WORK
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
  echo train --model "$MODEL" --recipe q4_0 --data "$DATA" --steps "$2" --batch-size 4 --seq-len 32 --lr 1e-4 \
    --warmup 1 --decay-steps 4 --eval-every 0 --save-every 2 --log-every 1 --seed 5 --threads 1 --out "$1"
}
# max |Δlogit| of two runs' logits on IDS; the second as raw float32 (the tail of its file).
compare() {
  "$BIN" logits "$1" --ids $IDS --threads 1 --out "$W/a.safetensors" 2>/dev/null &&
    "$BIN" logits "$2" --ids $IDS --threads 1 --out "$W/b.safetensors" 2>/dev/null &&
    tail -c $((4 * 16 * V)) "$W/b.safetensors" >"$W/b.f32" &&
    node "$COMPARE" "$W/a.safetensors" "$W/b.f32" "${@:3}"
}

# shellcheck disable=SC2046
"$BIN" $(train_args "$W/single" 4) >/dev/null 2>"$W/err"; check "single-process QAT run (batch 4)" $? "$(tail -2 "$W/err")"
# shellcheck disable=SC2046
"$BIN" $(train_args "$W/dp" 4) --nproc 2 >"$W/dp.out" 2>"$W/err"; check "--nproc 2 QAT run (2 ranks x 2)" $? "$(tail -2 "$W/err")"

out=$(compare "$W/single" "$W/dp" --max-abs 1e-4); st=$?
check "2-rank run = single-process run: $out (<= 1e-4)" $st "$out"
out=$(compare "$MODEL" "$W/dp"); moved=$(sed -n 's/.*max |diff| \([0-9.e+-]*\),.*/\1/p' <<<"$out")
awk -v m="$moved" 'BEGIN { exit !(m > 1e-2) }'; check "and the 4 steps moved the model: $out" $? "$out"

steps=$(grep -o '"step":[0-9]*' "$W/dp/metrics.jsonl" | cut -d: -f2 | tr '\n' ' ')
[ "$steps" = "1 2 3 4 " ]; check "rank 0 alone wrote metrics.jsonl (each step once)" $? "steps: $steps"
[ "$(grep -c 'validation loss' "$W/dp.out")" -eq 1 ]; check "one report on stdout" $? "$(cat "$W/dp.out")"
paste -d' ' <(grep -o '"loss":[-0-9.e]*' "$W/single/metrics.jsonl" | cut -d: -f2) \
  <(grep -o '"loss":[-0-9.e]*' "$W/dp/metrics.jsonl" | cut -d: -f2) >"$W/losses"
awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > 1e-5) bad = 1 } END { exit bad }' "$W/losses"
check "with the single-process run's losses (|Δ| <= 1e-5)" $? "$(cat "$W/losses")"

# Exact resume: 2 steps, then resume to 4, on 2 ranks: bit-identical to the straight 2-rank run.
# shellcheck disable=SC2046
"$BIN" $(train_args "$W/half" 2) --nproc 2 >/dev/null 2>"$W/err" &&
  "$BIN" train --resume "$W/half" --steps 4 --nproc 2 --threads 1 >/dev/null 2>"$W/err"
check "a 2-rank run resumes on 2 ranks" $? "$(tail -2 "$W/err")"
cmp -s "$W/half/checkpoint/model.safetensors" "$W/dp/checkpoint/model.safetensors"
check "resumed weights are bit-identical to the uninterrupted 2-rank run's" $? "differ"

expect_error "--batch-size not a multiple of the ranks" "--batch-size 3 is not a multiple of the 2 ranks" \
  "$BIN" train --model "$MODEL" --recipe q4_0 --data "$DATA" --steps 4 --batch-size 3 --nproc 2 --out "$W/odd"
# A rank that never arrives: the rendezvous times out with an error naming it.
start=$(date +%s)
expect_error "a missing rank times out at the rendezvous" "rendezvous at 127.0.0.1:.* failed within 3 s" \
  "$BIN" $(train_args "$W/lonely" 4) --rank 0 --world-size 2 --master-port 29517 --dist-timeout 3
[ $(( $(date +%s) - start )) -lt 60 ]; check "within the timeout" $? "took $(( $(date +%s) - start )) s"
# A rank killed mid-run: the launcher stops the other and names the dead one.
# shellcheck disable=SC2046
"$BIN" $(train_args "$W/killed" 400) --nproc 2 >/dev/null 2>"$W/kill.err" &
launcher=$!
while kill -0 $launcher 2>/dev/null && [ ! -f "$W/killed/checkpoint/train_state.json" ]; do sleep 0.1; done
victim=$(pgrep -P $launcher | tail -1)
[ -n "$victim" ] && kill -9 "$victim"
start=$(date +%s)
wait $launcher; st=$?
[ $st -ne 0 ] && grep -q "rank .* of 2 failed (killed by signal 9); the other ranks were stopped" "$W/kill.err"
check "a killed rank fails the run: $(tail -1 "$W/kill.err")" $? "status $st: $(cat "$W/kill.err")"
[ $(( $(date +%s) - start )) -lt 30 ]; check "promptly" $? "took $(( $(date +%s) - start )) s"
[ -z "$(pgrep -P $launcher)" ]; check "and leaves no rank running" $? "$(pgrep -P $launcher)"
finish
