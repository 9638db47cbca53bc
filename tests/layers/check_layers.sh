#!/usr/bin/env bash
# scripts/check-layers.sh refuses an upward include and a torch include below qat/, and accepts the
# repository as it is.   usage: check_layers.sh SOURCE_DIR
set -euo pipefail
SRC=$1
CHECK="$SRC/scripts/check-layers.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

bash "$CHECK" "$SRC"  # the real tree is clean

mkdir -p "$tmp/io" "$tmp/quant" "$tmp/model" "$tmp/qat"
printf '#include "io/error.h"\n#include <vector>\n' >"$tmp/io/ok.h"
printf '#include "io/error.h"\n' >"$tmp/quant/ok.cpp"
printf '#include <torch/torch.h>\n#include "model/gemma4_config.h"\n' >"$tmp/qat/ok.cpp"
bash "$CHECK" "$tmp"  # allowed includes pass

printf '#include "qat/gemma4_model.h"\n' >"$tmp/io/up.h"
printf '#include <ATen/ATen.h>\n' >"$tmp/quant/torch.cpp"
printf '  #  include "text/tokenizer.h"\n' >"$tmp/model/sideways.cpp"
if bash "$CHECK" "$tmp" 2>"$tmp/err"; then echo "FAIL: violations accepted" >&2; exit 1; fi
grep -q 'io/up.h:1: includes "qat/gemma4_model.h"' "$tmp/err" || { echo "FAIL: upward include not named" >&2; cat "$tmp/err" >&2; exit 1; }
grep -q 'quant/torch.cpp:1: includes <ATen/ATen.h>, but quant/ is torch-free' "$tmp/err" || { echo "FAIL: torch include not named" >&2; cat "$tmp/err" >&2; exit 1; }
grep -q 'model/sideways.cpp:1: includes "text/tokenizer.h"' "$tmp/err" || { echo "FAIL: sideways include not named" >&2; cat "$tmp/err" >&2; exit 1; }
grep -q '3 violation(s)' "$tmp/err" || { echo "FAIL: wrong count" >&2; cat "$tmp/err" >&2; exit 1; }
echo "check_layers: ok"
