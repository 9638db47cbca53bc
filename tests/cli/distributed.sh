#!/usr/bin/env bash
# Data-parallel QAT on c10d (Gloo over loopback): `train --nproc 2` equals the single-process run at
# the same global batch (max |Δlogit| <= 1e-4 after 4 q4_0 steps), resumes exactly, writes its run
# folder once (rank 0), and a rank that dies or never arrives fails the run with a clear error
# instead of a hang.
set -u
BIN=$1 ROOT=$3
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
W=$WORK
TRAIN_RECIPE=q4_0 TRAIN_LR=1e-4
source "$(dirname "${BASH_SOURCE[0]}")/lib/tiny_training.sh"

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
