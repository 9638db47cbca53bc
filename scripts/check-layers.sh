#!/usr/bin/env bash
# Enforces the layering of docs/architecture.md on #include lines: a library may include only its own
# headers and those of the libraries below it, and nothing below qat/ may include LibTorch.
# Every library shares one include root, so the compiler alone cannot refuse a wrong include; the
# build runs this script (target check_layers) and fails on the first violation.
#
#   scripts/check-layers.sh [ROOT]     ROOT defaults to the repository; exit 1 lists each violation
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "$0")/.." && pwd)}

# Each line: a folder, then the project folders its files may include (itself always allowed).
LAYERS='
io
quant    io
formats  io quant
model    io quant formats
recipes  io quant formats model
text     io
report   io
run      io quant formats model recipes
engine   io quant formats model recipes text run
export   io quant formats model recipes text run
qat      io quant formats model recipes text run
cli      io quant formats model recipes text run report engine export qat
bench    io quant formats model recipes text run report engine export qat
fuzz     io quant formats model recipes text run tests
'
declare -A ALLOWED=()
while read -r layer deps; do
  [ -n "$layer" ] && ALLOWED[$layer]=$deps
done <<<"$LAYERS"
# Folders that must stay torch-free (everything except qat, cli and bench, which link LibTorch).
TORCH_FREE="io quant formats model recipes text report run engine export fuzz"
PROJECT_FOLDERS="io quant formats model recipes text report run engine export qat cli bench fuzz tests"
TORCH_HEADERS='^(torch|ATen|c10|caffe2)/'

violations=0
report() { echo "check-layers: $1" >&2; violations=$((violations + 1)); }

for layer in "${!ALLOWED[@]}"; do
  dir="$ROOT/$layer"
  [ -d "$dir" ] || continue
  allowed=" $layer ${ALLOWED[$layer]} "
  torch_free=0
  [[ " $TORCH_FREE " == *" $layer "* ]] && torch_free=1
  while IFS= read -r -d '' file; do
    rel=${file#"$ROOT/"}
    lineno=0
    while IFS= read -r line; do
      lineno=$((lineno + 1))
      [[ $line =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*[\<\"]([^\>\"]+)[\>\"] ]] || continue
      inc=${BASH_REMATCH[1]}
      if ((torch_free)) && [[ $inc =~ $TORCH_HEADERS ]]; then
        report "$rel:$lineno: includes <$inc>, but $layer/ is torch-free"
        continue
      fi
      top=${inc%%/*}
      [[ $inc == */* ]] || continue
      [[ " $PROJECT_FOLDERS " == *" $top "* ]] || continue
      [[ $allowed == *" $top "* ]] || report "$rel:$lineno: includes \"$inc\", but $layer/ may include only: ${allowed# }"
    done <"$file"
  done < <(find "$dir" -type f \( -name '*.h' -o -name '*.cpp' \) -not -path '*/node_modules/*' -print0)
done

if ((violations)); then
  echo "check-layers: $violations violation(s); see docs/architecture.md" >&2
  exit 1
fi
