#!/usr/bin/env bash
# Compiles every LibTorch-using source against LibTorch 2.x headers (-fsyntax-only), without
# installing anything: Debian trixie's libtorch-dev 2.6 .deb is unpacked under .cache/ with a
# private apt state. Bookworm cannot run 2.x, but this catches API drift between 1.13 and 2.x.
set -euo pipefail
cd "$(dirname "$0")/.."
T=$PWD/.cache/torch2
mkdir -p "$T/lists/partial" "$T/cache/archives/partial" "$T/root"
if [ ! -d "$T/root/usr/include/torch" ]; then
  URI=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  URI=${URI:-http://deb.debian.org/debian}
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $URI trixie main" > "$T/sources.list"
  A=(-o Dir::Etc::sourcelist="$T/sources.list" -o Dir::Etc::sourceparts=- -o Dir::State::Lists="$T/lists"
     -o Dir::Cache="$T/cache")
  apt-get "${A[@]}" update -qq
  (cd "$T" && apt-get "${A[@]}" download libtorch-dev)
  dpkg-deb -x "$T"/libtorch-dev_*.deb "$T/root"
fi
status=0
for f in qat/*.cpp cli/*.cpp tests/qat/*.cpp bench/*.cpp; do
  if ! g++ -std=c++17 -fsyntax-only -D_GLIBCXX_USE_CXX11_ABI=1 -I. -isystem "$T/root/usr/include" \
       -isystem "$T/root/usr/include/torch/csrc/api/include" -DGQ_TEST_DATA='""' -DGQ_SOURCE_DIR='""' "$f"; then
    echo "FAILS against LibTorch 2.x headers: $f"; status=1
  fi
done
[ $status -eq 0 ] && echo "all LibTorch sources compile against $(grep -m1 -o 'TORCH_VERSION "[^"]*"' "$T/root/usr/include/torch/csrc/api/include/torch/version.h" || echo 'LibTorch 2.x') headers"
exit $status
