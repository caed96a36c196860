#!/bin/sh
# test_layer_peers.sh - the embedding layer's exactness against PyTorch on a
# small shape (layer_peers.py --quick): the fused token + positional forward
# and backward, padding_idx, and scale_grad_by_freq where PyTorch's
# definition agrees with ours must be bit-identical; max_norm and the other
# scale_grad_by_freq rows are reported. Asserts no timing. Exits 77
# (skipped) when no Python here imports torch, in a cross build, or when
# the library cannot be loaded into Python (a sanitizer build).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${EMBSIMD_BUILD_DIR:-.}" && pwd)

if test -n "${TEST_WRAPPER:-}"; then
    echo "SKIP: a cross build (TEST_WRAPPER=$TEST_WRAPPER): PyTorch compares with a native library only"
    exit 77
fi
py=
for candidate in ${PYTHON:-} /usr/bin/python3 python3; do
    if "$candidate" -c 'import torch' >/dev/null 2>&1; then
        py=$candidate
        break
    fi
done
if test -z "$py"; then
    echo "SKIP: no Python here imports torch (Debian: apt-get install python3-torch)"
    exit 77
fi

lib=$build/src/.libs/libembsimd.so
if ! test -f "$lib"; then
    if test -f "$build/src/libembsimd.la"; then
        echo "SKIP: a static-only build (--disable-shared): no libembsimd.so for ctypes to load"
        exit 77
    fi
    echo "FAIL: no $lib: run from the build directory after make, or set EMBSIMD_BUILD_DIR"
    exit 1
fi
# A sanitizer build's library cannot be loaded into an uninstrumented
# Python (its runtime must come first); a cross build's not at all.
if ! why=$("$py" -c 'import ctypes, sys; ctypes.CDLL(sys.argv[1])' "$lib" 2>&1); then
    echo "SKIP: $py cannot load $lib: $why"
    exit 77
fi

out=$("$py" "$here/layer_peers.py" --quick --build-dir="$build") || {
    echo "$out"
    echo "FAIL: layer_peers.py --quick"
    exit 1
}
echo "$out"
# Every bit-for-bit comparison must say so; a missing line is a failure too.
for want in "emb_lookup_pos == wte(ids) + wpe(pos)" "autograd of wte(ids) + wpe(pos)" \
    "index_add_ into both tables" "F.embedding(padding_idx).backward" \
    "rows named 2^k times: emb_grad_ex == PyTorch"; do
    echo "$out" | grep -F "$want" | grep -q ' exact$' || {
        echo "FAIL: \"$want\" is not reported exact"
        exit 1
    }
done
"$py" "$here/layer_peers.py" --help | grep -q -- '--quick' || { echo "FAIL: --help"; exit 1; }
echo "PASS"
