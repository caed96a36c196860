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

. "$here/torch_test_env.sh"

out=$("$py" "$here/layer_peers.py" --quick --lib="$lib") || {
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
# No timed call without an untimed one of the same variant before it.
if err=$("$py" "$here/layer_peers.py" --warm=0 --lib="$lib" 2>&1); then
    echo "FAIL: --warm=0 accepted"
    exit 1
fi
echo "$err" | grep -q 'got 0 and' || { echo "FAIL: --warm=0: $err"; exit 1; }
echo "PASS"
