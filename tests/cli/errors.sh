#!/usr/bin/env bash
# Bad input through the real binary: each case must exit non-zero (not by a signal), print exactly
# one line on stderr that starts with "gemma-qat: error:" and names the problem, and leave no output.
set -u
BIN=$1 DATA=$2
FIX=$DATA/gemma4-tiny/dense_ple
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# mkst FILE JSON [DATA_BYTES]: a safetensors file with that header and that many zero data bytes.
mkst() {
  local file=$1 json=$2 n=${3:-0} len
  len=${#json}
  printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x\\x%02x\\x%02x\\x%02x\\x%02x' \
    $((len & 255)) $(((len >> 8) & 255)) $(((len >> 16) & 255)) $(((len >> 24) & 255)) 0 0 0 0)" > "$file"
  printf '%s' "$json" >> "$file"
  head -c "$n" /dev/zero >> "$file"
}

# model_with FILE_CONTENT_CMD: a folder with the fixture config and a replaced model.safetensors.
new_model() {
  local d=$WORK/m$RANDOM$RANDOM
  mkdir -p "$d" && cp "$FIX/config.json" "$d/"
  echo "$d"
}

d=$(new_model); head -c 5 "$FIX/model.safetensors" > "$d/model.safetensors"
expect_error "shorter than the length prefix" "model.safetensors" "$BIN" info "$d"

d=$(new_model); head -c 20000 "$FIX/model.safetensors" > "$d/model.safetensors"
expect_error "truncated file" "model.safetensors" "$BIN" logits "$d" --ids 2,3 --out "$WORK/o.safetensors"

d=$(new_model); mkst "$d/model.safetensors" '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}' 4
printf '\xff\xff\xff\x00' | dd of="$d/model.safetensors" bs=1 seek=0 conv=notrunc status=none
expect_error "header length larger than the file" "header" "$BIN" info "$d"

d=$(new_model); mkst "$d/model.safetensors" '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}' 8
expect_error "offsets past the end" "'a'" "$BIN" info "$d"

d=$(new_model)
mkst "$d/model.safetensors" '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}' 12
expect_error "overlapping tensors" "overlap" "$BIN" info "$d"

d=$(new_model); mkst "$d/model.safetensors" '{"a":{"dtype":"Q9","shape":[1],"data_offsets":[0,4]}}' 4
expect_error "unknown dtype" "Q9" "$BIN" info "$d"

d=$(new_model); mkst "$d/model.safetensors" '{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}' 8
expect_error "shape/byte mismatch" "'a'" "$BIN" info "$d"

d=$(new_model); mkst "$d/model.safetensors" '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}' 4
expect_error "malformed header JSON" "model.safetensors" "$BIN" info "$d"

d=$(new_model); mkst "$d/model.safetensors" '{"model.norm.weight":{"dtype":"F32","shape":[128],"data_offsets":[0,512]}}' 512
expect_error "missing tensor" "model.embed_tokens.weight' is missing" "$BIN" logits "$d" --ids 2 --out "$WORK/o.safetensors"

d=$(new_model); cp "$FIX/model.safetensors" "$d/"
sed -i 's/"hidden_size": 128,//' "$d/config.json"
expect_error "missing config field" "hidden_size: required field is missing" "$BIN" info "$d"

d=$(new_model); cp "$FIX/model.safetensors" "$d/"
sed -i 's/"sliding_window": 8/"sliding_window": "8"/' "$d/config.json"
expect_error "wrong config type" "sliding_window: expected an integer" "$BIN" info "$d"

d=$(new_model); cp "$FIX/model.safetensors" "$d/"
sed -i 's/"hidden_size": 128/"hidden_size": 96/' "$d/config.json"
expect_error "config does not match weights" "config implies" "$BIN" logits "$d" --ids 2 --out "$WORK/o.safetensors"

expect_error "no such model" "no-such-dir" "$BIN" info "$WORK/no-such-dir"
expect_error "bad ids" "'x'" "$BIN" logits "$FIX" --ids 2,x --out "$WORK/o.safetensors"
expect_error "id outside vocabulary" "outside the vocabulary" "$BIN" generate "$FIX" --ids 2,512 -n 2
expect_error "unwritable output" "no-dir" "$BIN" logits "$FIX" --ids 2,3 --out "$WORK/no-dir/o.safetensors"

if [ -e "$WORK/o.safetensors" ] || ls "$WORK"/*.tmp-* >/dev/null 2>&1; then
  echo "FAIL an error left an output file behind"; fails=$((fails + 1))
fi
# eval and ptq
printf '2 5 7 9 11 13 17 19\n' >"$WORK/short.ids"
expect_error "eval: text shorter than 2 x n_ctx" "needs at least 32" "$BIN" eval "$FIX" --data "$WORK/short.ids" --ctx 16
expect_error "eval: --recipe on a .gguf" "evaluated as it is stored" "$BIN" eval "$WORK/x.gguf" --data "$WORK/short.ids" --recipe q4_0
expect_error "ptq: an unknown method" "method" "$BIN" ptq --model "$FIX" --recipe q4_0 --method foo --data "$WORK/short.ids" --out "$WORK/p"
mkdir -p "$WORK/held/checkpoint" && touch "$WORK/held/checkpoint/config.json"
expect_error "ptq: --out already holds a run" "already holds a run" \
  "$BIN" ptq --model "$FIX" --recipe q4_0 --data "$WORK/short.ids" --out "$WORK/held"
finish
