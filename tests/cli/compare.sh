#!/usr/bin/env bash
# `gemma-qat compare` on tiny-e2b (q4_0; rtn, gptq, QAT for 2 steps; 4 eval chunks of 64 tokens):
# report.md shows exactly what `gemma-qat eval --json` finds on the same run folders, the RTN gap
# formula holds, the exports were validated, a rerun reuses every cell (and redoes only the cell
# whose parameters changed), and report.html renders in headless Chromium
# with its plots: the screenshot is 1200x1600, far larger than a blank page's, and holds pixels of
# each plotted series' colour (decoded by tests/cli/lib/png_pixels.py).
set -u
BIN=$1 ROOT=$3
MODEL=$ROOT/examples/models/tiny-e2b
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
W=$WORK
for need in "$MODEL/model.safetensors" "$ROOT/data/gutenberg/valid.txt" "$ROOT/data/gutenberg/test.txt"; do
  [ -e "$need" ] || missing "$need is not there (examples/models/tiny-e2b, data/gutenberg: scripts/fetch-gutenberg.sh)"
done
head -c 40000 "$ROOT/data/gutenberg/valid.txt" >"$W/train.txt"
head -c 20000 "$ROOT/data/gutenberg/test.txt" >"$W/eval.txt"
OUT=$W/cmp
base_args=(--model "$MODEL" --recipes q4_0 --data-train "$W/train.txt" --data-eval "$W/eval.txt"
  --seq-len 64 --samples 4 --batch-size 2 --ctx 64 --chunks 4 --threads 1 --out "$OUT")
cmp_args=("${base_args[@]}" --methods rtn,gptq,qat)

run_check "compare (q4_0: rtn, gptq, qat)" "$BIN" compare "${cmp_args[@]}" --steps 2
[ -s "$OUT/report.md" ] && [ -s "$OUT/report.html" ] && [ -s "$OUT/results.json" ]
check "report.md, report.html and results.json written" $? "$(ls "$OUT")"

# One number from eval's JSON: KEY at the top level, or reference.KEY.
field() { tr -d ' \n' <"$1" | sed 's/"reference":{[^}]*}//' | sed -n "s/.*\"$2\":\([-+0-9.eE]*\).*/\1/p"; }
ref_field() { tr -d ' \n' <"$1" | sed -n "s/.*\"reference\":{[^}]*\"$2\":\([-+0-9.eE]*\).*/\1/p"; }
# The report.md line of RECIPE / METHOD.
md_row() { grep -E "^\| $1 \| $2 \|" "$OUT/report.md"; }
# A number formatted as report/markdown.cpp formats it (C printf on the double, as awk does); pct: x100 first.
fmt() { awk -v f="$1" -v v="$2" 'BEGIN { printf f, v }'; }
pct() { awk -v v="$1" 'BEGIN { printf "%.2f%%", v * 100 }'; }

"$BIN" eval "$MODEL" --data "$W/eval.txt" --ctx 64 --chunks 4 --threads 1 --json "$W/float.json" >/dev/null 2>&1
fl=$(field "$W/float.json" perplexity)
row=$(md_row - float)
want="| - | float | $(field "$W/float.json" model_bytes) | 16.000 | $(fmt %.4f "$fl") | - | - | - | - |"
[ -n "$fl" ] && [[ "$row" == "$want"* ]]
check "float row = eval --json of the model (bf16: 16 bits/param)" $? "report: $row; eval: $want"
for m in rtn gptq qat; do
  "$BIN" eval "$OUT/q4_0/$m/run" --data "$W/eval.txt" --ctx 64 --chunks 4 --reference "$MODEL" --threads 1 \
    --json "$W/$m.json" >/dev/null 2>&1
  row=$(md_row q4_0 $m)
  want="| q4_0 | $m | $(field "$W/$m.json" model_bytes) | "
  tail="| $(fmt %.4f "$(field "$W/$m.json" perplexity)") | $(fmt %+.4f "$(ref_field "$W/$m.json" delta_ppl)") | "
  kl="| $(fmt %.5f "$(ref_field "$W/$m.json" mean_kl)") | $(pct "$(ref_field "$W/$m.json" top1_agreement)") |"
  [ -s "$W/$m.json" ] && [[ "$row" == "$want"* ]] && [[ "$row" == *"$tail"* ]] && [[ "$row" == *"$kl"* ]]
  check "q4_0/$m row = eval --json of its run folder" $? "report: $row; eval: $want ... $tail ... $kl"
done
rtn=$(field "$W/rtn.json" perplexity)
for m in gptq qat; do
  gap=$(awk -v r="$rtn" -v p="$(field "$W/$m.json" perplexity)" -v f="$fl" 'BEGIN { printf "%.1f", (r - p) / (r - f) * 100 }')
  md_row q4_0 $m | grep -qF "| $gap |"
  check "q4_0/$m: % RTN gap recovered = (ppl_rtn - ppl) / (ppl_rtn - ppl_float) * 100 = $gap" $? "$(md_row q4_0 $m)"
done
n=$(grep -c '^| q4_0 | [a-z]* | .*gguf (validated), native (validated) |$' "$OUT/report.md")
[ "$n" -eq 3 ]
check "every run exported to gguf and native, both validated on the engine" $? "$(cat "$OUT/report.md")"
grep -q '"loss": \[' "$OUT/results.json" && [ "$(grep -c '"step"' "$OUT/q4_0/qat/run/metrics.jsonl")" -eq 2 ]
check "the QAT run's training curve (2 logged steps) is in results.json" $? "$(cat "$OUT/q4_0/qat/run/metrics.jsonl")"

cp "$OUT/report.md" "$W/first.md"
start=$(date +%s)
again=$("$BIN" compare "${cmp_args[@]}" --steps 2 2>&1)
secs=$(($(date +%s) - start))
[ "$(grep -c 'reusing' <<<"$again")" -eq 4 ] && ! grep -q 'gemma-qat ptq\|gemma-qat train\|gemma-qat eval' <<<"$again" &&
  cmp -s "$W/first.md" "$OUT/report.md" && [ "$secs" -lt 20 ]
check "a rerun reuses all 4 cells (${secs}s) and writes the same report" $? "$again"
again=$("$BIN" compare "${cmp_args[@]}" --steps 3 2>&1)
[ "$(grep -c 'reusing' <<<"$again")" -eq 3 ] && grep -q 'q4_0/qat: parameters changed' <<<"$again" &&
  [ "$(grep -c '"step"' "$OUT/q4_0/qat/run/metrics.jsonl")" -eq 3 ]
check "--steps 3 redoes only the QAT cell" $? "$again"

expect_error "unknown method refused" "unknown method 'foo'" "$BIN" compare "${base_args[@]}" --methods foo

# The page in a real browser. Chromium writes the screenshot even when it logs D-Bus complaints.
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || missing "chromium is not installed: run bash scripts/setup.sh"
shot() { "$CHROMIUM" --headless --no-sandbox --disable-gpu --screenshot="$2" --window-size=1200,1600 "file://$1" >/dev/null 2>&1; }
printf '<!DOCTYPE html>\n<html><body></body></html>\n' >"$W/blank.html"
shot "$OUT/report.html" "$W/report.png"
shot "$W/blank.html" "$W/blank.png"
# Width and height from the PNG's IHDR (bytes 16..23, big-endian).
size=$(od -An -tu1 -j16 -N8 "$W/report.png" 2>/dev/null | awk '{ printf "%dx%d", $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8 }')
[ "$size" = "1200x1600" ]
check "report.png is a 1200x1600 PNG" $? "size '$size'"
rb=$(stat -c %s "$W/report.png" 2>/dev/null || echo 0) bb=$(stat -c %s "$W/blank.png" 2>/dev/null || echo 0)
[ "$bb" -gt 0 ] && [ "$rb" -gt $((bb * 10)) ]
check "the report's screenshot is far from blank: $rb bytes against a blank page's $bb" $? ""
# The perplexity plot's four series (float, rtn, gptq, qat) in the first four colours of
# report/svg_plot.cpp, and the training plot's one; each at least a few markers' worth of pixels.
pix=$(python3 "$(dirname "${BASH_SOURCE[0]}")/lib/png_pixels.py" "$W/report.png" '#1f77b4' '#d62728' '#2ca02c' '#9467bd')
colours=$(head -1 <<<"$pix" | cut -d' ' -f3)
low=$(tail -n +2 <<<"$pix" | awk '$1 < 40' | wc -l)
[ -n "$colours" ] && [ "$colours" -ge 50 ] && [ "$low" -eq 0 ] && [ "$(wc -l <<<"$pix")" -eq 5 ]
check "the screenshot shows the plotted series ($colours colours; pixels per series colour: $(tail -n +2 <<<"$pix" | tr '\n' ' '))" $? "$pix"
finish
