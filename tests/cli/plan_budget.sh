#!/usr/bin/env bash
# `gemma-qat plan --budget` (docs/planner.md) on examples/models/tiny-e2b: the recipe planned at 60% of
# the uniform-Q4_0 bytes (sensitivities measured on held-out text) loads with ptq and train, fits the budget,
# and on other held-out text has a lower KL than every uniform scheme (GGUF or compressed-tensors)
# of at most the same bytes; --verify prints predicted vs measured KL, and the measured one is what
# `eval --recipe` reports on the same chunks. The E2B release config (weightless) gets a proxy plan
# at 0.95 GB text-only with its bit map. Bad input: one-line errors.
set -u
BIN=$1 ROOT=$3
MODEL=$ROOT/examples/models/tiny-e2b
E2B=$ROOT/examples/configs/e2b.json
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
W=$WORK
for need in "$MODEL/model.safetensors" "$ROOT/data/gutenberg/valid.txt" "$ROOT/data/gutenberg/test.txt"; do
  [ -f "$need" ] || missing "$need is not there"
done
head -c 60000 "$ROOT/data/gutenberg/valid.txt" >"$W/plan.txt"
head -c 60000 "$ROOT/data/gutenberg/test.txt" >"$W/eval.txt"
# Sensitivities on few tokens (one forward of these chunks per module and scheme); the comparison on more.
PLAN_KL=(--ctx 64 --chunks 4 --threads 1)
EVAL_KL=(--ctx 128 --chunks 8 --threads 1)

# A uniform recipe: every Linear, both tables and the (tied) head at one scheme, floats as stored.
uniform() {
  printf '{"name": "u-%s", "weights": [{"targets": ["Linear", "Embedding", "lm_head"], "scheme": "%s"}], "unquantized_dtype": "auto"}\n' \
    "$1" "$1" >"$W/u-$1.json"
}
# Total stored bytes of MODEL under a recipe, as plan counts them (empty when the recipe does not fit the model).
bytes_of() { "$BIN" plan --config "$MODEL" --recipe "$1" 2>/dev/null | sed -n 's/^total .*(\([0-9]*\) bytes)$/\1/p'; }
# Mean KL of MODEL under recipe $1 against MODEL itself, on $2, eval's chunking args after.
kl_of() {
  local recipe=$1 data=$2; shift 2
  "$BIN" eval "$MODEL" --recipe "$recipe" --data "$data" "$@" 2>/dev/null | sed -n 's/.*mean KL \([0-9.]*\) nats.*/\1/p'
}

uniform q4_0
q4=$(bytes_of "$W/u-q4_0.json")
[ -n "$q4" ] || missing "plan --recipe (uniform q4_0) printed no byte count"
budget=$((q4 * 6 / 10))
out=$("$BIN" plan --model "$MODEL" --budget "$budget" --data "$W/plan.txt" --out "$W/planned.json" --verify "${PLAN_KL[@]}" 2>&1)
check "plan --budget (60% of uniform q4_0, $budget bytes) --verify" $? "$out"
printf '%s\n' "$out" | sed 's/^/    /'
grep -q "uniform q4_0 *$q4 bytes counted" <<<"$out"
check "the planner prices uniform q4_0 at what plan --recipe counts ($q4 bytes)" $? "$(grep uniform <<<"$out")"
counted=$(sed -n 's/^planned: \([0-9]*\) bytes counted.*/\1/p' <<<"$out")
total=$(bytes_of "$W/planned.json")
[ -n "$counted" ] && [ "$counted" -le "$budget" ] && [ "$total" = "$counted" ]
check "the planned recipe fits the budget: $counted bytes planned, plan --recipe counts $total" $? "$out"
schemes=$(grep -o '"scheme": "[a-z0-9_]*"' "$W/planned.json" | sort -u | wc -l)
[ "$schemes" -ge 2 ]
check "the planned recipe mixes schemes ($schemes)" $? "$(cat "$W/planned.json")"
predicted=$(sed -n 's/^verify: predicted KL \([0-9.]*\), measured KL \([0-9.]*\) nats.*/\1/p' <<<"$out")
measured=$(sed -n 's/^verify: predicted KL \([0-9.]*\), measured KL \([0-9.]*\) nats.*/\2/p' <<<"$out")
[ -n "$predicted" ] && [ -n "$measured" ]
check "--verify prints predicted ($predicted) vs measured ($measured) KL" $? "$out"
same=$(kl_of "$W/planned.json" "$W/plan.txt" "${PLAN_KL[@]}")
[ -n "$same" ] && [ "$same" = "$measured" ]
check "the measured KL is eval --recipe's on the same chunks ($same)" $? "eval: $same, plan --verify: $measured"

run_check "ptq --recipe loads the planned recipe" "$BIN" ptq --model "$MODEL" --recipe "$W/planned.json" --method rtn \
  --data "$W/plan.txt" --seq-len 64 --samples 2 --out "$W/run" --threads 1
run_check "train --recipe takes the planned recipe (one step)" "$BIN" train --model "$MODEL" --recipe "$W/planned.json" \
  --data "$W/plan.txt" --steps 1 --batch-size 1 --seq-len 32 --eval-every 0 --threads 1 --out "$W/train"
planned_kl=$(kl_of "$W/planned.json" "$W/eval.txt" "${EVAL_KL[@]}")
[ -n "$planned_kl" ] || missing "eval of the planned recipe printed no KL"
compared=0
for s in q8_0 q4_0 q2_0 int8_channel int4_channel int2_channel int4_g32 int4_g64 int4_g128 int8_g32; do
  uniform "$s"
  b=$(bytes_of "$W/u-$s.json")
  [ -n "$b" ] && [ "$b" -le "$budget" ] || continue  # does not fit the model's rows, or larger than the budget
  kl=$(kl_of "$W/u-$s.json" "$W/eval.txt" "${EVAL_KL[@]}")
  awk -v p="$planned_kl" -v u="$kl" 'BEGIN { exit !(u != "" && p < u) }'
  check "held-out KL: planned $planned_kl < uniform $s $kl ($b bytes <= $budget)" $? "uniform $s: '$kl'"
  compared=$((compared + 1))
done
[ "$compared" -ge 2 ]
check "compared with $compared uniform schemes of at most the budget" $? ""

# The E2B release config: no weights, a labelled proxy; the recipe fits 0.95 GB without the PLE table.
out=$("$BIN" plan --model "$E2B" --budget 0.95GB --text-only --out "$W/e2b.json" 2>&1)
check "plan --budget 0.95GB --text-only on the E2B config" $? "$out"
printf '%s\n' "$out" | sed 's/^/    /'
grep -q "sensitivities: proxy" <<<"$out" && grep -q "^bit map" <<<"$out" && grep -q "predicted proxy score" <<<"$out"
check "the weightless plan is labelled proxy and prints its bit map" $? "$out"
counted=$(sed -n 's/^planned: \([0-9]*\) bytes counted.*/\1/p' <<<"$out")
text=$("$BIN" plan --config "$E2B" --recipe "$W/e2b.json" 2>&1 | sed -n 's/^text only .*(\([0-9]*\) bytes, PLE.*/\1/p')
[ -n "$text" ] && [ "$text" = "$counted" ] && [ "$text" -le 950000000 ]
check "plan --recipe counts the E2B recipe at $text bytes text only (planned $counted)" $? "$text"

# compressed-tensors candidates only (never mixed with GGUF block types); its bytes are the export's.
out=$("$BIN" plan --model "$E2B" --budget 2GB --format compressed-tensors --out "$W/e2b-ct.json" 2>&1)
check "plan --budget 2GB --format compressed-tensors on the E2B config" $? "$out"
all=$(sed -n 's/^planned: .* bytes counted .*, \([0-9]*\) bytes in all;.*/\1/p' <<<"$out")
ct=$("$BIN" plan --config "$E2B" --recipe "$W/e2b-ct.json" --format compressed-tensors 2>&1 | sed -n 's/^total .*(\([0-9]*\) bytes)$/\1/p')
[ -n "$all" ] && [ "$all" = "$ct" ] && [ "$all" -le 2000000000 ] && ! grep -q '"scheme": "q' "$W/e2b-ct.json" &&
  grep -q '"scheme": "int' "$W/e2b-ct.json"
check "the compressed-tensors plan holds int schemes only and costs its planned $all bytes" $? "plan --recipe: $ct"

expect_error "budget below the smallest recipe" "below the smallest gguf recipe" \
  "$BIN" plan --model "$MODEL" --budget 1000 --data "$W/plan.txt" --out "$W/x.json" "${PLAN_KL[@]}"
expect_error "unknown family" "format" "$BIN" plan --model "$MODEL" --budget 1MB --format onnx --data "$W/plan.txt" --out "$W/x.json"
expect_error "missing data" "data.*required" "$BIN" plan --model "$MODEL" --budget 1MB --out "$W/x.json"
expect_error "unreadable budget" "budget: expected a byte count" "$BIN" plan --model "$E2B" --budget 0.95XB --out "$W/x.json"
expect_error "verify without weights" "verify" "$BIN" plan --model "$E2B" --budget 0.95GB --verify --out "$W/x.json"
expect_error "planner options without --budget" "requires --budget" "$BIN" plan --config "$E2B" --recipe q4_0 --data "$W/plan.txt"
[ ! -e "$W/x.json" ]
check "no recipe written on an error" $? ""
finish
