#!/usr/bin/env bash
# validate and generate on a GGUF export through the real binary: a 2-step q4_0 QAT run, exported,
# matches its fake-quant model (logits within the default tolerance, all tokens' argmax, 16/16
# greedy); generate on the file (the engine's KV-cache decode) gives generate on the run's ids; a
# file against a model it does not export fails in one line; a KV-cache recipe is warned about.
set -u
BIN=$1 ROOT=$3
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
W=$WORK
MODEL=$ROOT/examples/models/tiny-e2b
DATA=$ROOT/data/gutenberg/valid.txt
for need in "$MODEL/model.safetensors" "$DATA"; do
  [ -e "$need" ] || missing "$need (run bash scripts/setup.sh)"
done

"$BIN" train --model "$MODEL" --recipe q4_0 --data "$DATA" --steps 2 --batch-size 1 --seq-len 32 --warmup 0 \
  --eval-every 0 --threads 1 --out "$W/run" >/dev/null 2>"$W/train.err"
check "2-step q4_0 QAT run trains" $? "$(tail -2 "$W/train.err")"
out=$("$BIN" export "$W/run" --format gguf --out "$W/run.gguf" --threads 1 2>&1)
check "the run exports to GGUF" $? "$out"

# ---- validate: the file against the run it exports ----
out=$("$BIN" validate "$W/run.gguf" --against "$W/run" --threads 1 2>"$W/v.err")
check "validate passes against the run" $? "$out $(cat "$W/v.err")"
echo "    $out"
[ "$(printf '%s\n' "$out" | grep -c .)" -eq 1 ]; check "in one line" $? "$out"
grep -q "over 32 tokens: max |Δlogit| [0-9.e+-]*, mean KL(model || file) [0-9.e+-]* nats/token, top-1 agreement 32/32, greedy 16/16$" <<<"$out"
check "with the figures: all 32 argmax and 16/16 greedy tokens agree" $? "$out"
grep -q "(q4_0)" <<<"$out"; check "naming the run's recipe" $? "$out"
delta=$(grep -o "max |Δlogit| [0-9.e+-]*" <<<"$out" | grep -o "[0-9.e+-]*$")
awk -v d="$delta" 'BEGIN { exit !(d <= 1e-4) }'; check "max |Δlogit| is float noise (<= 1e-4): $delta" $? "$out"
out=$("$BIN" validate "$W/run.gguf" --against "$W/run" --data "$DATA" --threads 1 2>/dev/null)
check "validate --data passes" $? "$out"
grep -q "over 128 tokens: .*top-1 agreement 128/128, greedy 16/16$" <<<"$out"; check "on the text's first 128 tokens" $? "$out"

# ---- generate on the file: the engine's exact-mode greedy equals the run's ----
from_run=$("$BIN" generate "$W/run" --ids 2,17,5,99 -n 8 --ignore-eos --threads 1 2>&1)
check "generate RUN" $? "$from_run"
from_file=$("$BIN" generate "$W/run.gguf" --ids 2,17,5,99 -n 8 --ignore-eos --exact 2>&1)
check "generate FILE.gguf --exact" $? "$from_file"
[ "$(tr ',' '\n' <<<"$from_file" | grep -c '^[0-9][0-9]*$')" -eq 8 ]; check "8 comma-separated ids" $? "$from_file"
[ "$from_file" = "$from_run" ]; check "the file's exact greedy ids are the run's" $? "file $from_file, run $from_run"
# Fast mode (the default: Q8_0 activations, integer kernels) on 1 and 2 threads gives the same ids.
fast1=$("$BIN" generate "$W/run.gguf" --ids 2,17,5,99 -n 8 --ignore-eos --threads 1 2>&1)
check "generate FILE.gguf (fast)" $? "$fast1"
[ "$(tr ',' '\n' <<<"$fast1" | grep -c '^[0-9][0-9]*$')" -eq 8 ]; check "fast: 8 comma-separated ids" $? "$fast1"
[ "$fast1" = "$("$BIN" generate "$W/run.gguf" --ids 2,17,5,99 -n 8 --ignore-eos --threads 2 2>&1)" ]
check "fast greedy ids do not depend on --threads" $? "$fast1"
expect_error "generate RUN refuses --exact" "apply to .gguf and .gqn files only" \
  "$BIN" generate "$W/run" --ids 2,17 --exact
expect_error "generate FILE.gguf refuses --recipe" "a GGUF or native file is run as it is" \
  "$BIN" generate "$W/run.gguf" --ids 2,17 --recipe q4_0
expect_error "generate FILE.gguf refuses an id outside the vocabulary" "token id 4096" \
  "$BIN" generate "$W/run.gguf" --ids 2,4096

# ---- validate against a model the file does not export ----
expect_error "the file against the plain checkpoint fails at --tolerance 1e-9" \
  "run.gguf does not match .*tiny-e2b: max |Δlogit| [0-9.e+-]* exceeds --tolerance 1e-09 (mean KL" \
  "$BIN" validate "$W/run.gguf" --against "$MODEL" --tolerance 1e-9 --threads 1
"$BIN" validate "$W/run.gguf" --against "$MODEL" --tolerance 1e-9 --threads 1 >/dev/null 2>&1
[ $? -eq 1 ]; check "with exit status 1" $? ""
expect_error "and so does the run's float model (--recipe none) at the default tolerance" "exceeds --tolerance 0.001" \
  "$BIN" validate "$W/run.gguf" --against "$W/run" --recipe none --threads 1

# ---- what the engine does not quantize is said, not hidden ----
cat >"$W/kv.json" <<'JSON'
{"name": "q4_0-kv8", "weights": [{"targets": ["Linear"], "scheme": "q4_0"}], "kv_cache": "kv_int8"}
JSON
out=$("$BIN" validate "$W/run.gguf" --against "$MODEL" --recipe "$W/kv.json" --tolerance 100 --threads 1 2>&1)
check "validate under a KV-cache recipe runs" $? "$out"
grep -q "warning: recipe q4_0-kv8 quantizes the KV cache, which the engine does not yet" <<<"$out"
check "and warns that the engine does not quantize the KV cache" $? "$out"

expect_error "EXPORT must be a .gguf or .gqn file" "must be a .gguf or .gqn file" \
  "$BIN" validate "$MODEL/config.json" --against "$MODEL"
expect_error "--ids and --data exclude each other" "excludes" \
  "$BIN" validate "$W/run.gguf" --against "$W/run" --ids 2,17 --data "$DATA"
finish
