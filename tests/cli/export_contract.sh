#!/usr/bin/env bash
# Exports write the deployment contract through the real binary: the resolved recipe's dtypes by
# default, a QAT run's own recipe and learned scales, flags that would change the deployed numbers
# refused in one line naming the module and the fix, and applied with --allow-rounding with a
# warning that states the measured max |Δlogit|.
set -u
BIN=$1 ROOT=$3
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
W=$WORK
MODEL=$ROOT/examples/models/tiny-e2b
DATA=$ROOT/data/gutenberg/valid.txt
for need in "$MODEL/model.safetensors" "$DATA"; do
  if [ ! -e "$need" ]; then echo "FAIL missing $need (run bash scripts/setup.sh)"; echo "0 passed, 1 failed"; exit 1; fi
done

# refused NAME PATTERN... -- CMD...: exits 1 with one stderr line holding every pattern, writes nothing.
refused() {
  local name=$1; shift
  local patterns=()
  while [ "$1" != "--" ]; do patterns+=("$1"); shift; done
  shift
  local err status
  err=$("$@" 2>&1 >/dev/null); status=$?
  local ok=0
  [ $status -eq 1 ] && [ "$(printf '%s\n' "$err" | grep -c .)" -eq 1 ] && [[ "$err" == "gemma-qat: error: "* ]] || ok=1
  for p in "${patterns[@]}"; do grep -qF -- "$p" <<<"$err" || ok=1; done
  check "$name" $ok "status $status: $err"
}

# The header entry of tensor $2 in safetensors file $1.
entry() { head -c 200000 "$1" | tail -c +9 | grep -ao "\"$2\":{[^}]*}"; }

# ---- a plain bf16 checkpoint: the recipe resolved with the checkpoint's dtype ----
plan=$("$BIN" plan --config "$MODEL" --recipe w4a16-g32)
grep -q "as compressed-tensors (float tensors bf16)" <<<"$plan"; check "plan resolves auto to the checkpoint's bf16" $? "$plan"
"$BIN" export "$MODEL" --format compressed-tensors --recipe w4a16-g32 --out "$W/ct" >/dev/null
check "compressed-tensors export" $? ""
e=$(entry "$W/ct/model.safetensors" model.layers.0.self_attn.q_proj.weight_scale)
grep -q '"dtype":"BF16"' <<<"$e"; check "scales in the resolved dtype (bf16)" $? "$e"
total=$(grep -o '([0-9]* bytes)' <<<"$plan" | tr -dc 0-9)
index_free=$(( $(stat -c %s "$W/ct/model.safetensors") - 8 - $(head -c 8 "$W/ct/model.safetensors" | od -An -tu8 | tr -d ' ') ))
[ "$total" = "$index_free" ]; check "plan bytes = exported tensor bytes" $? "plan $total, file data $index_free"

refused "--scale-dtype on a checkpoint names the module and the fix" "module 'per_layer_model_projection'" "int4_g32@f32" \
  "--allow-rounding" -- "$BIN" export "$MODEL" --format compressed-tensors --recipe w4a16-g32 --scale-dtype f32 --out "$W/ct2"
[ ! -e "$W/ct2" ]; check "a refused export writes nothing" $? ""
err=$("$BIN" export "$MODEL" --format compressed-tensors --recipe w4a16-g32 --scale-dtype f32 --allow-rounding \
  --out "$W/ct2" 2>&1 >/dev/null)
check "--allow-rounding exports" $? "$err"
grep -q "measured max |Δlogit| [0-9.e-]* over 8 tokens" <<<"$err"; check "--allow-rounding states the measured max |Δlogit|" $? "$err"
refused "--type is for gguf" "--type is for gguf" -- \
  "$BIN" export "$MODEL" --format compressed-tensors --recipe w4a16-g32 --type q4_0 --out "$W/ct3"

# ---- a QAT run: its own recipe and learned scales ----
"$BIN" train --model "$MODEL" --recipe q4_0-lsq --data "$DATA" --steps 1 --batch-size 1 --seq-len 32 --warmup 0 \
  --eval-every 0 --threads 1 --out "$W/run" >/dev/null 2>"$W/train.err"
check "QAT run trains" $? "$(tail -2 "$W/train.err")"
out=$("$BIN" export "$W/run" --format gguf --out "$W/run.gguf" --threads 1 2>&1)
check "the run exports by default" $? "$out"
grep -q "carry the run's learned scales" <<<"$out"; check "with its learned scales" $? "$out"
grep -Eq "validated on the reference engine: max \|Δlogit\| [0-9.e-]+ against the fake-quant model \(recipe q4_0-lsq\) over 16 tokens, top-1 16/16" <<<"$out"
check "the export is run on the reference engine against the fake-quant model" $? "$out"
out=$("$BIN" export "$W/run" --format hf --out "$W/run-hf" 2>&1)
grep -Eq "validated on the reference engine: max \|Δlogit\| [0-9.e-]+ against the fake-quant model \(recipe q4_0-lsq\) over 16 tokens, top-1 16/16" <<<"$out"
check "the hf export is run on the reference engine too" $? "$out"
out=$("$BIN" export "$W/run" --format gguf --out "$W/run-nv.gguf" --threads 1 --no-validate 2>&1)
! grep -q "validated" <<<"$out"; check "--no-validate skips it" $? "$out"
refused "--type on a run names the module and the dropped scales" "the run trained q4_0, --type q8_0 writes q8_0" \
  "learned scales" "export without --type q8_0" -- "$BIN" export "$W/run" --format gguf --type q8_0 --out "$W/q8.gguf"
refused "--dtype on a run names the float tensors" "are f16 in the run; --dtype f32" -- \
  "$BIN" export "$W/run" --format gguf --dtype f32 --out "$W/f32.gguf"
err=$("$BIN" export "$W/run" --format gguf --type q8_0 --allow-rounding --out "$W/q8.gguf" 2>&1 >/dev/null)
check "--type q8_0 --allow-rounding exports" $? "$err"
grep -q "learned scales.*measured max |Δlogit|" <<<"$err"; check "and says the scales are dropped, with the measured effect" $? "$err"

# ---- the 30-step int4_g32 LSQ case at lr 1e-3 (a scale once went negative and the export failed) ----
cat >"$W/lsq.json" <<'JSON'
{"name": "int4-g32-lsq", "weights": [{"targets": ["Linear"], "scheme": "int4_g32"}], "learnable_scales": true}
JSON
"$BIN" train --model "$MODEL" --recipe "$W/lsq.json" --data "$DATA" --steps 30 --batch-size 1 --seq-len 32 --lr 1e-3 \
  --warmup 0 --eval-every 0 --threads 1 --out "$W/lsq-run" >/dev/null 2>"$W/lsq.err"
check "30-step int4_g32 LSQ run trains" $? "$(tail -2 "$W/lsq.err")"
out=$("$BIN" export "$W/lsq-run" --format compressed-tensors --out "$W/lsq-ct" --threads 1 2>&1)
check "and exports to compressed-tensors by default with its learned scales" $? "$out"
# ---- a mobile QAT run exports to compressed-tensors as vLLM serves it, with default options ----
"$BIN" train --model "$MODEL" --recipe mobile --data "$DATA" --steps 2 --batch-size 1 --seq-len 32 --warmup 0 \
  --eval-every 0 --threads 1 --out "$W/mobile-run" >/dev/null 2>"$W/mobile.err"
check "mobile QAT run trains" $? "$(tail -2 "$W/mobile.err")"
out=$("$BIN" export "$W/mobile-run" --format compressed-tensors --out "$W/mobile-ct" --threads 1 2>&1)
check "mobile run exports to compressed-tensors by default" $? "$out"
grep -q "mixed-precision" <<<"$out" && grep -q "int2_channel+a8o8" <<<"$out"
check "mixed-precision with the 2-bit WNA8O8 head" $? "$out"
c=$(tr -d ' \n' <"$W/mobile-ct/config.json")
grep -q '"tie_word_embeddings":false' <<<"$c"; check "the head is untied" $? "$c"
grep -q '"kv_cache_scheme":null' <<<"$c"; check "no kv_cache_scheme (vLLM keeps bf16 KV)" $? "$c"
grep -q '"output_activations":{"actorder":null,"block_structure":null,"dynamic":false,"group_size":null,"num_bits":8,"strategy":"tensor","symmetric":true,"type":"int"}' <<<"$c"
check "static int8 output activations in the config" $? "$c"
grep -q '"targets":\["lm_head"\]' <<<"$c"; check "lm_head has a config group of its own" $? "$c"
e=$(entry "$W/mobile-ct/model.safetensors" model.layers.0.self_attn.q_proj.output_scale)
grep -q '"dtype":"F32","shape":\[1\]' <<<"$e"; check "output_scale float32 [1]" $? "$e"
e=$(entry "$W/mobile-ct/model.safetensors" model.embed_tokens.weight_packed)
grep -q '"dtype":"I32"' <<<"$e"; check "the token embedding is int32-packed" $? "$e"
# ---- logits on a GGUF file: the torch-free reference engine runs what the file holds ----
"$BIN" export "$W/run" --format gguf --out "$W/run-engine.gguf" --threads 1 >/dev/null 2>&1
out=$("$BIN" logits "$W/run-engine.gguf" --ids 2,17,5,99 --out "$W/engine-logits.safetensors" 2>&1)
check "logits FILE.gguf runs the engine" $? "$out"
e=$(entry "$W/engine-logits.safetensors" logits)
grep -q '"dtype":"F32","shape":\[4,4096\]' <<<"$e"; check "engine logits [T, V] float32" $? "$e"
refused "--recipe on a GGUF file is refused" "a GGUF or native file is run as it is" -- \
  "$BIN" logits "$W/run-engine.gguf" --ids 2,17 --recipe q4_0 --out "$W/x.safetensors"
finish
