#!/usr/bin/env bash
# Installs clang and libFuzzer's runtime when missing, for scripts/fuzz.sh and scripts/sanitize.sh.
set -euo pipefail
# clang and libFuzzer's runtime (Debian 12: libclang-rt-14-dev, which clang does not pull in).
need=()
command -v clang++ >/dev/null || need+=(clang)
ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || need+=(libclang-rt-14-dev)
if ((${#need[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "fuzz: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

