#!/usr/bin/env bash
# Installs upstream llama.cpp for the interop test: the npm package node-llama-cpp@3.22.1 with its
# prebuilt Linux x64 CPU binaries (@node-llama-cpp/linux-x64), into tests/llamacpp/node_modules.
# Nothing is built or downloaded outside the npm registry: the package's postinstall (which would
# fetch or compile llama.cpp) is skipped. Idempotent: returns at once when the pinned version is there.
set -euo pipefail
cd "$(dirname "$0")/../tests/llamacpp"

installed() {
  [ -f node_modules/node-llama-cpp/package.json ] && [ -f node_modules/@node-llama-cpp/linux-x64/package.json ] &&
    grep -q '"version": "3.22.1"' node_modules/node-llama-cpp/package.json &&
    grep -q '"version": "3.22.1"' node_modules/@node-llama-cpp/linux-x64/package.json
}
installed && exit 0

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup-llamacpp: installing nodejs and npm" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "setup-llamacpp: node-llama-cpp 3.22.1 needs Node.js >= 20, found $(node --version)" >&2
  exit 1
fi

echo "setup-llamacpp: npm install node-llama-cpp@3.22.1 (prebuilt CPU binaries, no scripts)" >&2
# `npm install`, not `npm ci`: the lockfile lists only the optional packages this registry offers.
NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --ignore-scripts --omit=optional --no-audit --no-fund --loglevel=error
installed || { echo "setup-llamacpp: node-llama-cpp 3.22.1 is not in tests/llamacpp/node_modules after npm install" >&2; exit 1; }
