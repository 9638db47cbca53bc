#!/usr/bin/env bash
# The CLI's happy paths on the tiny E2B-like fixture, against Hugging Face's reference tokens.
set -u
BIN=$1 DATA=$2
FIX=$DATA/gemma4-tiny/dense_ple
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# Sequence a of the fixture: HF generate(min_new_tokens=16) from its first 12 tokens (a.greedy).
out=$("$BIN" generate "$FIX" --ids 2,187,68,152,70,179,501,27,78,217,21,256 -n 16 --ignore-eos --threads 1)
[ "$out" = "64,205,437,32,29,447,67,269,478,114,68,49,428,29,324,281" ]
check "generate reproduces HF greedy tokens" $? "got $out"

"$BIN" logits "$FIX" --ids 2,187,68,152,70 --out "$WORK/l.safetensors"
check "logits exits 0" $? ""
entry=$(head -c 1000 "$WORK/l.safetensors" | tail -c +9 | grep -ao '"logits":{[^}]*}')
grep -q '"dtype":"F32"' <<<"$entry" && grep -q '"shape":\[5,512\]' <<<"$entry"
check "logits file holds F32 [5, 512]" $? "header entry: $entry"
[ "$(stat -c %s "$WORK/l.safetensors")" -ge $((5 * 512 * 4)) ]
check "logits file has the data" $? ""

info=$("$BIN" info "$FIX")
grep -q "layers         6 (4 sliding, 2 full)" <<<"$info"; check "info layer summary" $? "$info"
grep -q "kv sharing     3 layers (first shared layer 3)" <<<"$info"; check "info kv sharing" $? "$info"

"$BIN" info --help | grep -q -- "--meta"; check "info --help" $? ""
"$BIN" logits --help | grep -q -- "--out"; check "logits --help" $? ""
"$BIN" generate --help | grep -q -- "--ignore-eos"; check "generate --help" $? ""
finish
