#!/usr/bin/env bash
# `convert` and `export --format gguf` offer the same --type list as their --help says (q2_0
# included) and check --threads as every other command does.
set -u
BIN=$1 DATA=$2 ROOT=$3
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
FIX=$DATA/gemma4-tiny/dense_ple
M=$ROOT/examples/models/tiny-e2b  # every row a multiple of Q2_0's 64 values
[ -f "$M/model.safetensors" ] || missing "$M/model.safetensors"

out=$("$BIN" convert "$M" --type q2_0 --threads 1 --out "$WORK/c.gguf" 2>&1) && grep -q "Q2_0" <<<"$out"
check "convert --type q2_0 writes Q2_0 tensors" $? "$out"
out=$("$BIN" export "$M" --format gguf --type q2_0 --threads 1 --out "$WORK/e.gguf" 2>&1) && grep -q "Q2_0" <<<"$out"
check "export --format gguf --type q2_0 writes Q2_0 tensors" $? "$out"
cmp -s "$WORK/c.gguf" "$WORK/e.gguf"; check "convert and export write the same file" $? ""
for cmd in convert export; do
  "$BIN" $cmd --help | grep -A2 -- "--type" | grep -q "q2_0"; check "$cmd --help lists q2_0" $? ""
done

for bad in 0 -1 100000 x; do
  expect_error "convert --threads $bad" "^gemma-qat: error: --threads" "$BIN" convert "$FIX" --out "$WORK/x.gguf" --threads "$bad"
  expect_error "export --threads $bad" "^gemma-qat: error: --threads" \
    "$BIN" export "$FIX" --format gguf --out "$WORK/x.gguf" --threads "$bad"
done
[ ! -e "$WORK/x.gguf" ]; check "a refused --threads writes nothing" $? ""
finish
