#!/usr/bin/env bash
# Fast mode on a native mobile file (issue 13): a 2-step `mobile` QAT run (static int8_sym@bf16
# inputs and outputs, int4 channel-wise Linears, 2-bit head), exported native; `logits FILE.gqn
# --fast` (channel-wise integer kernels) runs, differs from exact (the integer path ran) and is
# independent of --threads; generate on the file defaults to fast; its distance to `logits RUN` over
# 64 positions is printed (issue 13's 2e-3 target is not met yet, see below).
set -u
BIN=$1 ROOT=$3
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
W=$WORK
MODEL=$ROOT/examples/models/tiny-e2b
DATA=$ROOT/data/gutenberg/valid.txt
COMPARE=$ROOT/tests/llamacpp/compare_logits.mjs
for need in "$MODEL/model.safetensors" "$DATA"; do [ -e "$need" ] || missing "$need (run bash scripts/setup.sh)"; done
command -v node >/dev/null || missing "node (Node.js >= 20) is not installed: run bash scripts/setup.sh"
head -c 60000 "$DATA" >"$W/text.txt"

"$BIN" train --model "$MODEL" --recipe mobile --data "$W/text.txt" --steps 2 --batch-size 1 --seq-len 32 --warmup 0 \
  --eval-every 0 --threads 1 --out "$W/run" >/dev/null 2>"$W/train.err"
check "2-step mobile QAT run trains" $? "$(tail -2 "$W/train.err")"
out=$("$BIN" export "$W/run" --format native --out "$W/run.gqn" --threads 1 2>&1)
check "the run exports to a native file" $? "$out"

V=$(grep -o '"vocab_size": *[0-9]*' "$MODEL/config.json" | grep -o '[0-9]*$')
IDS=$(awk -v v="$V" 'BEGIN { x = 7; s = "2"; for (i = 1; i < 64; i++) { x = (x * 1103 + 17) % (v - 3) + 3; s = s "," x }; print s }')
"$BIN" logits "$W/run" --ids "$IDS" --threads 1 --out "$W/run.safetensors" 2>"$W/l.err"
check "logits RUN over 64 positions" $? "$(cat "$W/l.err")"
"$BIN" logits "$W/run.gqn" --ids "$IDS" --fast --threads 1 --out "$W/fast.safetensors" 2>"$W/l.err"
check "logits FILE.gqn --fast" $? "$(cat "$W/l.err")"
tail -c $((4 * 64 * V)) "$W/run.safetensors" >"$W/run.f32"
# Issue 13's acceptance (max |Δ| <= 2e-3, top-1 >= 99% against the run) is NOT met yet: the kernel
# multiplies exact levels by exact codes, while the fake-quant model sums bf16-rounded products
# d(level * s_w) * d(code * s_in), and the Linears' static int8 output quantization turns those
# small differences into whole output steps. Measured and printed here, not asserted, until the
# kernel takes the bf16-rounded values (see docs/engine.md "Native fast mode").
res=$(node "$COMPARE" "$W/fast.safetensors" "$W/run.f32" 2>&1)
check "fast-mode logits compare with the run's" $? "$res"
echo "    fast vs run: $res"
"$BIN" logits "$W/run.gqn" --ids "$IDS" --threads 1 --out "$W/exact.safetensors" 2>/dev/null
res_exact=$(node "$COMPARE" "$W/exact.safetensors" "$W/run.f32" 2>&1)
echo "    exact vs run (for reference): $res_exact"
! cmp -s "$W/fast.safetensors" "$W/exact.safetensors"
check "--fast computes differently from exact (the integer path ran)" $? "identical files"
"$BIN" logits "$W/run.gqn" --ids "$IDS" --fast --threads 2 --out "$W/fast2.safetensors" 2>/dev/null
cmp -s <(tail -c $((4 * 64 * V)) "$W/fast.safetensors") <(tail -c $((4 * 64 * V)) "$W/fast2.safetensors")
check "fast logits are bit for bit the same on 1 and 2 threads" $? "differ"
gen=$("$BIN" generate "$W/run.gqn" --ids 2,17,5,99 -n 8 --ignore-eos --threads 1 2>&1)
check "generate FILE.gqn (fast by default)" $? "$gen"
[ "$(tr ',' '\n' <<<"$gen" | grep -c '^[0-9][0-9]*$')" -eq 8 ]; check "8 comma-separated ids" $? "$gen"

finish
