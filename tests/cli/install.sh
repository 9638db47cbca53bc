#!/usr/bin/env bash
# `cmake --install` gives a binary that finds the built-in recipes beside itself
# (PREFIX/share/gemma-qat/recipes), not only in the source tree.
set -euo pipefail
BIN=$1 SRC=$3
BUILD=$(cd "$(dirname "$BIN")/.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cmake --install "$BUILD" --prefix "$WORK/prefix" >/dev/null
INSTALLED=$WORK/prefix/bin/gemma-qat
[ -x "$INSTALLED" ] || { echo "FAIL: no installed binary"; exit 1; }
[ -f "$WORK/prefix/share/gemma-qat/recipes/q4_0.json" ] || { echo "FAIL: recipes not installed"; exit 1; }
# A recipe that exists only in the installed folder: found only if the binary looks there.
sed 's/"name": "q4_0"/"name": "only-installed"/' "$WORK/prefix/share/gemma-qat/recipes/q4_0.json" \
  >"$WORK/prefix/share/gemma-qat/recipes/only-installed.json"
cd "$WORK"
out=$(env -u GEMMA_QAT_RECIPES "$INSTALLED" plan --config "$SRC/examples/configs/e2b.json" --recipe only-installed 2>&1) || {
  echo "FAIL: installed binary does not find its recipes: $out"; exit 1; }
echo "$out" | grep -q "only-installed" || { echo "FAIL: plan output does not name the recipe: $out"; exit 1; }
echo "ok   installed binary finds share/gemma-qat/recipes"
