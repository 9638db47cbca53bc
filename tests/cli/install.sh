#!/usr/bin/env bash
# `cmake --install` gives a binary that finds the built-in recipes beside itself
# (PREFIX/share/gemma-qat/recipes), not only in the source tree.
set -u
BIN=$1 SRC=$3
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
BUILD=$(cd "$(dirname "$BIN")/.." && pwd)
cmake --install "$BUILD" --prefix "$WORK/prefix" >/dev/null
check "cmake --install exits 0" $? ""
INSTALLED=$WORK/prefix/bin/gemma-qat RECIPES=$WORK/prefix/share/gemma-qat/recipes
[ -x "$INSTALLED" ] && [ -f "$RECIPES/q4_0.json" ]
check "the binary and the recipes are installed" $? "$(ls -R "$WORK/prefix" | head -20)"
# A recipe that exists only in the installed folder: found only if the binary looks there.
sed 's/"name": "q4_0"/"name": "only-installed"/' "$RECIPES/q4_0.json" >"$RECIPES/only-installed.json"
out=$(cd "$WORK" && env -u GEMMA_QAT_RECIPES "$INSTALLED" plan --config "$SRC/examples/configs/e2b.json" --recipe only-installed 2>&1)
check "the installed binary finds share/gemma-qat/recipes" $? "$out"
grep -q "only-installed" <<<"$out"
check "and plans with that recipe" $? "$out"
finish
