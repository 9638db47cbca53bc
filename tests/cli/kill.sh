#!/usr/bin/env bash
# kill -9 at random moments: every output is complete or absent, the next run of the same command
# leaves no leftovers of the killed one (x.tmp-<pid>, checkpoint.tmp-<pid>), and a killed training
# run resumes to the same weights as an uninterrupted one, with a complete metrics.jsonl.
set -u
BIN=$1 ROOT=$3
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
W=$WORK
MODEL=$ROOT/examples/models/tiny-e2b
DATA=$ROOT/data/gutenberg/valid.txt
for need in "$MODEL/model.safetensors" "$DATA"; do [ -e "$need" ] || missing "$need (run bash scripts/setup.sh)"; done

# kill_after SECONDS CMD...: runs CMD in the background and kills it with SIGKILL after SECONDS
# (if it is still running); returns 0 if it was killed.
kill_after() {
  local t=$1; shift
  "$@" >/dev/null 2>&1 &
  local pid=$!
  sleep "$t"
  if kill -9 "$pid" 2>/dev/null; then wait "$pid" 2>/dev/null; return 0; fi
  wait "$pid" 2>/dev/null
  return 1
}

leftovers() { find "$W" -maxdepth 2 \( -name '*.tmp-*' -o -name '*.old-*' \) | grep -c .; }

# ---- exports: 3 random kills per format, then the same export again ----
export_cmd() {
  case $1 in
    gguf) echo "$BIN export $MODEL --format gguf --type q4_0 --out $W/x.gguf --threads 1" ;;
    compressed-tensors) echo "$BIN export $MODEL --format compressed-tensors --recipe w4a16-g32 --out $W/ct --threads 1" ;;
    hf) echo "$BIN export $MODEL --format hf --out $W/hf" ;;
  esac
}
output_of() { case $1 in gguf) echo "$W/x.gguf" ;; compressed-tensors) echo "$W/ct" ;; hf) echo "$W/hf" ;; esac; }

for fmt in gguf compressed-tensors hf; do
  out=$(output_of $fmt)
  killed=0 partial=0
  for i in 1 2 3; do
    rm -rf "$out"
    delay=$(awk -v s=$RANDOM 'BEGIN { srand(s); printf "%.2f", 0.05 + rand() * 0.6 }')
    # shellcheck disable=SC2046
    kill_after "$delay" $(export_cmd $fmt) && killed=$((killed + 1))
    if [ -e "$out" ]; then
      # What exists is complete: it loads.
      case $fmt in
        gguf) "$BIN" logits "$out" --ids 2,17 --out "$W/l.safetensors" >/dev/null 2>&1 || partial=$((partial + 1)) ;;
        hf) "$BIN" info "$out" >/dev/null 2>&1 || partial=$((partial + 1)) ;;
        compressed-tensors) [ -f "$out/config.json" ] && [ -f "$out/model.safetensors" ] || partial=$((partial + 1)) ;;
      esac
    fi
  done
  [ $partial -eq 0 ]; check "$fmt: after $killed kills every output present is complete" $? "$partial partial"
  # shellcheck disable=SC2046
  $(export_cmd $fmt) >/dev/null 2>"$W/err"; check "$fmt: the next export succeeds" $? "$(cat "$W/err")"
  n=$(leftovers); [ "$n" -eq 0 ]; check "$fmt: and leaves no leftovers of the killed ones" $? "$(find "$W" -maxdepth 2 -name '*.tmp-*')"
done

# ---- training: a kill mid-run (after its first checkpoint), resume, compare with an uninterrupted run ----
train_args() {
  echo train --model "$MODEL" --recipe q4_0 --data "$DATA" --steps 60 --batch-size 1 --seq-len 32 --warmup 0 \
    --eval-every 0 --save-every 3 --log-every 1 --threads 1 --seed 3 --out "$1"
}
# shellcheck disable=SC2046
"$BIN" $(train_args "$W/straight") >/dev/null 2>"$W/err"; check "uninterrupted run trains" $? "$(tail -2 "$W/err")"
# shellcheck disable=SC2046
"$BIN" $(train_args "$W/killed") >/dev/null 2>&1 &  # the binary itself is the background job: kill hits it
pid=$!
while kill -0 $pid 2>/dev/null && [ ! -f "$W/killed/checkpoint/train_state.json" ]; do sleep 0.05; done
sleep "$(awk -v s=$RANDOM 'BEGIN { srand(s); printf "%.2f", rand() * 0.5 }')"
killed=no
kill -9 $pid 2>/dev/null && killed=yes
wait $pid 2>/dev/null
[ $killed = yes ]; check "a training run was killed after a checkpoint" $? "it finished first"
"$BIN" train --resume "$W/killed" --steps 60 --threads 1 >/dev/null 2>"$W/err"
check "the killed run resumes" $? "$(tail -2 "$W/err")"
cmp -s "$W/straight/checkpoint/model.safetensors" "$W/killed/checkpoint/model.safetensors"
check "resumed weights are bit-identical to the uninterrupted run's" $? "differ"
steps=$(grep -o '"step":[0-9]*' "$W/killed/metrics.jsonl" | cut -d: -f2 | tr '\n' ' ')
[ "$steps" = "$(seq -s ' ' 1 60) " ]; check "metrics.jsonl holds every step once" $? "steps: $steps"
losses() { grep -o '"loss":[-0-9.e]*' "$1/metrics.jsonl"; }
[ "$(losses "$W/killed")" = "$(losses "$W/straight")" ]; check "with the uninterrupted run's losses" $? "differ"
[ "$(find "$W/killed" -maxdepth 1 -name 'checkpoint.*-*' | grep -c .)" -eq 0 ]
check "no checkpoint.tmp-<pid> / .old-<pid> left after the resume" $? "$(find "$W/killed" -maxdepth 1 -name 'checkpoint.*-*')"
finish
