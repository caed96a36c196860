#!/usr/bin/env bash
# .ci/word2vec.sh - embsimd-word2vec next to gensim in CI, on a slice of the
# GCIDE corpus (the first 1000000 words, 3 epochs, 1 and 2 threads): both
# tools run, both models evaluated, and the digests of 1 and 2 threads
# equal. Run from a configured and built tree; about 2-3 minutes on 2 cores
# with gensim's install. Skips, saying why, when the package index does not
# answer or dict-gcide is missing. Writes _reports/word2vec.md; the
# recorded results/word2vec.md comes from the full run (make word2vec-report).
set -uo pipefail
start=$(date +%s)
corpus=/usr/share/dictd/gcide.dict.dz
if ! test -r "$corpus"; then
    echo "SKIP: word2vec comparison: $corpus is not installed (Debian package dict-gcide)"
    exit 0
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
if ! python3 -c 'import ensurepip' 2>/dev/null; then
    $SUDO apt-get install -y -qq --no-install-recommends python3-venv python3-pip >/dev/null 2>&1 || true
fi
if ! timeout 300 make word2vec-env; then
    echo "SKIP: word2vec comparison: make word2vec-env failed or took over 5 min (gensim from PyPI)"
    exit 0
fi
mkdir -p _reports
make tools/embsimd-word2vec tools/embsimd-similar >/dev/null || { echo "FAIL: build"; exit 1; }
_venv_w2v/bin/python optional/word2vec_report.py --build-dir=. --corpus="$corpus" \
    --max-words=1000000 --epochs=3 --work=_word2vec_ci --out=_reports/word2vec.md ||
    { echo "FAIL: word2vec comparison"; exit 1; }
sed -n '/^| threads/,/^$/p' _reports/word2vec.md
echo "word2vec comparison passed ($(( $(date +%s) - start )) s)"
