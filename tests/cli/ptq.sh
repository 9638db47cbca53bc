#!/usr/bin/env bash
# `gemma-qat ptq` writes run folders every command takes: an RTN run evaluates exactly as the
# checkpoint under the recipe does; a GPTQ run is another model (its own weights and stored scales),
# exports to a GGUF that the reference engine finds equal to the run's fake-quant model, and
# `eval RUN` compares it with the model it came from by default; an AWQ run (smoothed float weights,
# the recipe's RTN) is another model than the RTN run, exports to a validated GGUF and evaluates.
# On tests/data/gemma4-tiny/dense_ple with random token ids (fast; the figures themselves are meaningless).
set -u
BIN=$1 DATA=$2
FIX=$DATA/gemma4-tiny/dense_ple
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
W=$WORK
awk 'BEGIN { srand(1); for (i = 0; i < 600; i++) printf "%d ", 3 + int(rand() * 497); print "" }' >"$W/t.ids"
ev() { "$BIN" eval "$@" --data "$W/t.ids" --ctx 32 --threads 1 2>/dev/null; }
first() { head -1 | sed 's/^.*: n_ctx/n_ctx/'; }

run_check "ptq --method rtn" "$BIN" ptq --model "$FIX" --recipe q4_0 --method rtn --data "$W/t.ids" --seq-len 32 --samples 8 \
  --out "$W/rtn" --threads 1
run_check "ptq --method gptq" "$BIN" ptq --model "$FIX" --recipe q4_0 --data "$W/t.ids" --seq-len 32 --samples 8 \
  --out "$W/gptq" --threads 1
a=$(ev "$W/rtn" | first) && [ -n "$a" ] && [ "$a" = "$(ev "$FIX" --recipe q4_0 | first)" ]
check "eval of the RTN run = eval of the checkpoint under the recipe" $? "$a"
g=$(ev "$W/gptq") && [ "$(first <<<"$g")" != "$a" ] && grep -q "vs $FIX: perplexity" <<<"$g"
check "eval of the GPTQ run: another model, against its source by default" $? "$g"
grep -q '"learnable_scales": true' "$W/gptq/checkpoint/recipe.json" && grep -q '"command": "ptq"' "$W/gptq/checkpoint/train_state.json"
check "the GPTQ run stores its scales and names its source" $? "$(cat "$W/gptq/checkpoint/recipe.json")"
run_check "export the GPTQ run to GGUF (validated on the engine)" "$BIN" export "$W/gptq" --format gguf --out "$W/gptq.gguf" --threads 1
run_check "validate the GGUF against the run" "$BIN" validate "$W/gptq.gguf" --against "$W/gptq" --threads 1
e=$(ev "$W/gptq.gguf" --reference "$FIX") && grep -q "vs $FIX" <<<"$e"
check "eval of the exported GGUF on the engine, against the source" $? "$e"
# awq: the smoothed float weights under the recipe's RTN; no stored scales, another model than RTN's,
# and like every run it exports to a GGUF the engine finds equal to the run and evaluates.
o=$("$BIN" ptq --model "$FIX" --recipe q4_0 --method awq --data "$W/t.ids" --seq-len 32 --samples 8 --out "$W/awq" \
  --threads 1 2>&1) && grep -q "AWQ on .* smooth/balance mappings" <<<"$o"
check "ptq --method awq" $? "$o"
w=$(ev "$W/awq") && [ "$(first <<<"$w")" != "$a" ] && grep -q "vs $FIX: perplexity" <<<"$w" &&
  ! grep -q learnable_scales "$W/awq/checkpoint/recipe.json" && grep -q '"method": "awq"' "$W/awq/checkpoint/train_state.json"
check "eval of the AWQ run: another model than RTN's, against its source; no stored scales" $? "$w"
run_check "export the AWQ run to GGUF (validated on the engine)" "$BIN" export "$W/awq" --format gguf --out "$W/awq.gguf" --threads 1
run_check "validate the AWQ GGUF against the run" "$BIN" validate "$W/awq.gguf" --against "$W/awq" --threads 1
e=$(ev "$W/awq.gguf" --reference "$FIX") && grep -q "vs $FIX" <<<"$e"
check "eval of the exported AWQ GGUF on the engine, against the source" $? "$e"
# mobile: the embeddings (and a tied head) stay RTN in the fake-quant model, so a GPTQ run has no
# scales for them and every exporter must write RTN there, not refuse the run.
run_check "ptq --method gptq --recipe mobile" "$BIN" ptq --model "$FIX" --recipe mobile --data "$W/t.ids" --seq-len 32 \
  --samples 8 --out "$W/gptq-mobile" --threads 1
o=$("$BIN" export "$W/gptq-mobile" --format compressed-tensors --out "$W/gptq-mobile-ct" --threads 1 2>&1) &&
  grep -q "the run's trained integers" <<<"$o"
check "export the mobile GPTQ run to compressed-tensors" $? "$o"
run_check "export the mobile GPTQ run to native (validated on the engine)" "$BIN" export "$W/gptq-mobile" --format native \
  --out "$W/gptq-mobile.gqn" --threads 1
finish
