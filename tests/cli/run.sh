#!/usr/bin/env bash
# `run` through the real binary: text in, streamed text out, on GGUF exports of tiny-e2b (F32 and
# Q4_0; its SentencePiece vocabulary as the file's tokenizer.ggml.* keys) and on a native file (the
# tokenizer bytes it carries), and on the checkpoint and an RTN run folder of it (the LibTorch model,
# the same text as their GGUF exports in exact mode). The prompt's ids equal `tokenize` with the
# model's own tokenizer; the streamed text equals the decoded ids `generate` gives for them (same
# greedy tokens, same text).
# A Gemma-4-shaped vocabulary with a chat template (a tokenizer.json written here, exported as a
# "gemma4" BPE vocabulary) gets the turn format by default, --raw skips it, --system adds a turn;
# a template that is not Gemma's warns and runs raw. Bad input fails in one line.
set -u
BIN=$1 ROOT=$3
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
W=$WORK
MODEL=$(cd "$ROOT/examples/models/tiny-e2b" && pwd)  # absolute: the chat models below link to it
[ -e "$MODEL/model.safetensors" ] || missing "$MODEL/model.safetensors"

PROMPT="Once upon a time there was a little"
printf '%s\n' "$PROMPT" >"$W/prompt.txt"
for t in f32 q4_0; do
  out=$("$BIN" convert "$MODEL" --to gguf --type $t --out "$W/$t.gguf" --threads 1 2>&1)
  check "tiny-e2b converts to GGUF $t" $? "$out"
done

# ---- the prompt's ids: the GGUF's vocabulary tokenizes as the model's tokenizer.model ----
want_ids=$("$BIN" tokenize "$MODEL" --text "$W/prompt.txt" --add-special 2>&1)
check "tokenize the prompt" $? "$want_ids"
for t in f32 q4_0; do
  got_ids=$("$BIN" run "$W/$t.gguf" --prompt "$PROMPT" --print-prompt-tokens 2>&1)
  [ "$got_ids" = "$want_ids" ]; check "$t: run --print-prompt-tokens equals tokenize ($want_ids)" $? "got '$got_ids'"
done

# ---- streamed text = detokenized generate ids, in fast and exact mode ----
pre=$("$BIN" tokenize "$MODEL" --text <(echo "$want_ids") --decode 2>&1)
for t in f32 q4_0; do
  for mode in "" --exact; do
    gen=$("$BIN" generate "$W/$t.gguf" --ids "${want_ids// /,}" -n 24 $mode --threads 1 2>&1)
    check "$t $mode: generate" $? "$gen"
    gen_ids=$(tr ',' ' ' <<<"$gen" | sed 's/ 1$//')  # EOS ends both; run does not print it
    full=$("$BIN" tokenize "$MODEL" --text <(echo "$want_ids $gen_ids") --decode 2>&1)
    streamed=$("$BIN" run "$W/$t.gguf" --prompt "$PROMPT" -n 24 $mode --threads 1 2>"$W/run.err")
    check "$t $mode: run streams" $? "$(cat "$W/run.err")"
    echo "    $PROMPT|$streamed"
    [ -n "$streamed" ] && [ "$streamed" = "${full#"$pre"}" ]
    check "$t $mode: the streamed text is the decoded generate ids" $? "streamed '$streamed', decoded '${full#"$pre"}'"
    grep -q "prompt tokens in .* new tokens: [0-9.]* tokens/s ($( [ -n "$mode" ] && echo exact || echo fast) mode, raw prompt)$" "$W/run.err"
    check "$t $mode: tokens/s on stderr" $? "$(cat "$W/run.err")"
  done
done

# A byte-fallback character in the prompt streams back whole (the prompt itself is not echoed).
out=$("$BIN" run "$W/f32.gguf" --prompt "caf$(printf '\xc3\xa9') $(printf '\xe6\x97\xa5')" -n 8 --threads 1 2>/dev/null)
check "a prompt with multi-byte characters runs" $? "$out"
iconv -f UTF-8 -t UTF-8 <<<"$out" >/dev/null; check "and streams valid UTF-8" $? "$out"

# ---- a native file: the tokenizer it carries ----
out=$("$BIN" export "$MODEL" --format native --recipe q4_0 --out "$W/m.gqn" --no-validate 2>&1)
check "tiny-e2b exports to a native file" $? "$out"
got_ids=$("$BIN" run "$W/m.gqn" --prompt "$PROMPT" --print-prompt-tokens 2>&1)
[ "$got_ids" = "$want_ids" ]; check "native: the carried tokenizer.model tokenizes as the model's" $? "got '$got_ids'"
gen=$("$BIN" generate "$W/m.gqn" --ids "${want_ids// /,}" -n 12 --threads 1 2>&1)
gen_ids=$(tr ',' ' ' <<<"$gen" | sed 's/ 1$//')
full=$("$BIN" tokenize "$MODEL" --text <(echo "$want_ids $gen_ids") --decode 2>&1)
streamed=$("$BIN" run "$W/m.gqn" --prompt "$PROMPT" -n 12 --threads 1 2>/dev/null)
[ -n "$streamed" ] && [ "$streamed" = "${full#"$pre"}" ]
check "native: the streamed text is the decoded generate ids" $? "streamed '$streamed', decoded '${full#"$pre"}'"

# ---- a checkpoint folder and a run folder: the LibTorch model, the tokenizer beside it ----
# The same greedy tokens as the GGUF F32 export in exact mode, so the same text.
f32_exact=$("$BIN" run "$W/f32.gguf" --prompt "$PROMPT" -n 24 --exact --threads 1 2>/dev/null)
gen=$("$BIN" generate "$MODEL" --ids "${want_ids// /,}" -n 24 --threads 1 2>&1)
gen_ids=$(tr ',' ' ' <<<"$gen" | sed 's/ 1$//')
full=$("$BIN" tokenize "$MODEL" --text <(echo "$want_ids $gen_ids") --decode 2>&1)
streamed=$("$BIN" run "$MODEL" --prompt "$PROMPT" -n 24 --threads 1 2>"$W/run.err")
check "checkpoint: run streams" $? "$(cat "$W/run.err")"
[ -n "$streamed" ] && [ "$streamed" = "${full#"$pre"}" ]
check "checkpoint: the streamed text is the decoded generate ids" $? "streamed '$streamed', decoded '${full#"$pre"}'"
[ "$streamed" = "$f32_exact" ]
check "checkpoint: the same text as its F32 GGUF in exact mode" $? "checkpoint '$streamed', gguf '$f32_exact'"
grep -q "new tokens: [0-9.]* tokens/s (LibTorch, raw prompt)$" "$W/run.err"; check "checkpoint: tokens/s on stderr" $? "$(cat "$W/run.err")"

head -c 8000 "$ROOT/README.md" >"$W/calib.txt"  # RTN reads no data; ptq wants some
out=$("$BIN" ptq --model "$MODEL" --recipe q4_0 --method rtn --data "$W/calib.txt" --seq-len 32 --samples 4 --out "$W/rtn" --threads 1 2>&1)
check "an RTN run folder of tiny-e2b" $? "$out"
out=$("$BIN" export "$W/rtn" --format gguf --out "$W/rtn.gguf" --no-validate --threads 1 2>&1)
check "exports to GGUF" $? "$out"
rtn_gguf=$("$BIN" run "$W/rtn.gguf" --prompt "$PROMPT" -n 24 --exact --threads 1 2>/dev/null)
rtn_run=$("$BIN" run "$W/rtn" --prompt "$PROMPT" -n 24 --threads 1 2>"$W/run.err")
check "run folder: run streams" $? "$(cat "$W/run.err")"
[ -n "$rtn_run" ] && [ "$rtn_run" = "$rtn_gguf" ]
check "run folder: its fake-quant model streams the text of its GGUF in exact mode" $? "run '$rtn_run', gguf '$rtn_gguf'"
grep -q "(LibTorch, recipe q4_0, raw prompt)$" "$W/run.err"; check "run folder: the recipe on stderr" $? "$(cat "$W/run.err")"

# ---- chat format: a Gemma 4 vocabulary and template ----
# tokenizer.json: specials, <|turn> <turn|>, "\n", 256 byte tokens, "▁", a-z, "▁a".."▁z" (merges).
make_chat_model() {  # DIR TEMPLATE
  local dir=$1 template=$2 sp=$'\xe2\x96\x81'
  mkdir -p "$dir"
  cp "$MODEL/config.json" "$dir/"
  ln -s "$MODEL/model.safetensors" "$dir/model.safetensors"
  local vocab="" merges="" id=0 p
  for p in "<pad>" "<eos>" "<bos>" "<unk>" "<mask>" "<|turn>" "<turn|>" '\n'; do vocab+="\"$p\": $id, "; id=$((id + 1)); done
  for b in $(seq 0 255); do vocab+="$(printf '"<0x%02X>"' "$b"): $id, "; id=$((id + 1)); done
  vocab+="\"$sp\": $id, "; id=$((id + 1))
  for c in {a..z}; do vocab+="\"$c\": $id, "; id=$((id + 1)); done
  for c in {a..z}; do vocab+="\"$sp$c\": $id, "; id=$((id + 1)); merges+="[\"$sp\", \"$c\"], "; done
  local added="" i=0
  for p in "<pad>" "<eos>" "<bos>" "<unk>" "<mask>" "<|turn>" "<turn|>"; do
    added+="{\"id\": $i, \"content\": \"$p\", \"special\": true, \"normalized\": false, \"lstrip\": false, \"rstrip\": false, \"single_word\": false}, "
    i=$((i + 1))
  done
  cat >"$dir/tokenizer.json" <<JSON
{"version": "1.0", "added_tokens": [${added%, }],
 "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "$sp"},
 "pre_tokenizer": null,
 "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
   "pair": [], "special_tokens": {"<bos>": {"id": "<bos>", "ids": [2], "tokens": ["<bos>"]}}},
 "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "$sp"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}]},
 "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>", "fuse_unk": false, "byte_fallback": true, "ignore_merges": false,
   "vocab": {${vocab%, }}, "merges": [${merges%, }]}}
JSON
  printf '{"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>", "chat_template": "%s"}\n' "$template" \
    >"$dir/tokenizer_config.json"
}
GEMMA4_TEMPLATE="{{ bos_token }}{% for m in messages %}<|turn>{{ m['role'] }}\\n{{ m['content'] }}<turn|>\\n{% endfor %}{% if add_generation_prompt %}<|turn>model\\n{% endif %}"
make_chat_model "$W/chat" "$GEMMA4_TEMPLATE"
out=$("$BIN" convert "$W/chat" --to gguf --type f32 --out "$W/chat.gguf" --threads 1 2>&1)
check "a Gemma 4 vocabulary with a chat template converts to GGUF" $? "$out"

tokenize_json() {  # TOKENIZER TEXT: ids of TEXT (which may hold newlines) with BOS
  local nl=$'\n'
  printf '"%s"\n' "${2//$nl/\\n}" >"$W/text.jsonl"  # the texts here hold no quotes or backslashes
  "$BIN" tokenize "$1" --text "$W/text.jsonl" --jsonl --add-special 2>&1
}
chat_want=$(tokenize_json "$W/chat" $'<|turn>user\nhi there<turn|>\n<|turn>model\n')
chat_got=$("$BIN" run "$W/chat.gguf" --prompt "hi there" --print-prompt-tokens 2>&1)
[ -n "$chat_got" ] && [ "$chat_got" = "$chat_want" ]
check "the file's Gemma 4 template formats the prompt by default ($chat_got)" $? "got '$chat_got', want '$chat_want'"
raw_got=$("$BIN" run "$W/chat.gguf" --prompt "hi there" --raw --print-prompt-tokens 2>&1)
raw_want=$(tokenize_json "$W/chat" "hi there")
[ "$raw_got" = "$raw_want" ] && [ "$raw_got" != "$chat_got" ]
check "--raw skips it ($raw_got)" $? "got '$raw_got', want '$raw_want'"
sys_got=$("$BIN" run "$W/chat.gguf" --prompt "hi there" --system "be brief" --print-prompt-tokens 2>&1)
sys_want=$(tokenize_json "$W/chat" $'<|turn>system\nbe brief<turn|>\n<|turn>user\nhi there<turn|>\n<|turn>model\n')
[ "$sys_got" = "$sys_want" ]; check "--system adds a system turn" $? "got '$sys_got', want '$sys_want'"
"$BIN" run "$W/chat.gguf" --prompt "hi there" -n 4 --threads 1 >"$W/chat.out" 2>"$W/chat.err"
check "run in chat format generates" $? "$(cat "$W/chat.err")"
grep -q "Gemma 4 chat)$" "$W/chat.err"; check "and says so" $? "$(cat "$W/chat.err")"

folder_got=$("$BIN" run "$W/chat" --prompt "hi there" --print-prompt-tokens 2>&1)
[ "$folder_got" = "$chat_want" ]; check "a checkpoint folder's own template formats the prompt too" $? "got '$folder_got', want '$chat_want'"

make_chat_model "$W/other" "{% for m in messages %}<|im_start|>{{ m['role'] }}{% endfor %}"
out=$("$BIN" convert "$W/other" --to gguf --type f32 --out "$W/other.gguf" --threads 1 2>&1)
check "a vocabulary with another chat template converts" $? "$out"
got=$("$BIN" run "$W/other.gguf" --prompt "hi there" --print-prompt-tokens 2>"$W/other.err")
[ "$got" = "$raw_want" ] && grep -q "warning: .*not Gemma's turn format" "$W/other.err"
check "another template: a warning, and the prompt raw" $? "got '$got', stderr $(cat "$W/other.err")"

# ---- bad input ----
expect_error "a missing file" "no.gguf: no such file" "$BIN" run "$W/no.gguf" --prompt hi
head -c 4000 "$W/f32.gguf" >"$W/cut.gguf"
expect_error "a truncated file" "cut.gguf" "$BIN" run "$W/cut.gguf" --prompt hi
expect_error "not a model file" "config.json: run takes a .gguf or .gqn file, or a checkpoint or run folder" "$BIN" run "$MODEL/config.json" --prompt hi
expect_error "--exact on a checkpoint" "exact" "$BIN" run "$MODEL" --prompt hi --exact
expect_error "--recipe on a GGUF" "run as it is" "$BIN" run "$W/f32.gguf" --prompt hi --recipe q4_0
mkdir -p "$W/notok" && cp "$MODEL/config.json" "$W/notok/" && ln -s "$MODEL/model.safetensors" "$W/notok/model.safetensors"
expect_error "a checkpoint without a tokenizer" "no tokenizer.json or tokenizer.model.*--tokenizer" "$BIN" run "$W/notok" --prompt hi
expect_error "-n 0" "new-tokens" "$BIN" run "$W/f32.gguf" --prompt hi -n 0
expect_error "-n -3" "new-tokens" "$BIN" run "$W/f32.gguf" --prompt hi -n -3
expect_error "--chat and --raw" "excludes" "$BIN" run "$W/f32.gguf" --prompt hi --chat --raw
expect_error "--chat without a chat format" "no chat template" "$BIN" run "$W/f32.gguf" --prompt hi --chat
expect_error "--system with --raw" "system" "$BIN" run "$W/chat.gguf" --prompt hi --raw --system x
expect_error "--chat on another template" "not Gemma's turn format" "$BIN" run "$W/other.gguf" --prompt hi --chat
expect_error "no --prompt" "prompt" "$BIN" run "$W/f32.gguf"
finish
