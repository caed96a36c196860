"""Each numpy-level op against a reference written from its definition,
compared bit for bit. The C kernels are proved elsewhere (make check, the
verifier); these check that the wrapper passes every argument through."""

import numpy as np
import pytest

import embsimd
from conftest import assert_bits_equal, canonical_sum

try:  # bf16 arrays come from ml_dtypes; without it those cases skip
    import ml_dtypes
    BF16 = [ml_dtypes.bfloat16]
except ImportError:
    BF16 = [pytest.param(None, marks=pytest.mark.skip(reason="no ml_dtypes (bf16 arrays)"))]


def table(rng, v=50, d=24, dtype=np.float32):
    return rng.standard_normal((v, d)).astype(np.float32).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float16] + BF16)
@pytest.mark.parametrize("id_dtype", [np.int32, np.int64])
def test_lookup_is_a_bit_copy(rng, dtype, id_dtype):
    w = table(rng, dtype=dtype)
    w[3, 0] = np.float32("nan")
    ids = rng.integers(0, 50, (4, 7)).astype(id_dtype)
    ids[0, 0] = 3
    out = embsimd.lookup(w, ids)
    assert out.dtype == w.dtype and out.shape == (4, 7, 24)
    assert_bits_equal(out, w[ids])


@pytest.mark.parametrize("dtype", [np.float16] + BF16)
def test_lookup_widens_into_f32(rng, dtype):
    w = table(rng, dtype=dtype)
    ids = rng.integers(0, 50, 9)
    assert_bits_equal(embsimd.lookup(w, ids, out_type="f32"), w[ids].astype(np.float32))


def test_lookup_q8_0_raw_blocks(rng):
    v, d = 6, 64
    d_scale = rng.standard_normal((v, d // 32)).astype(np.float16)
    q = rng.integers(-128, 128, (v, d // 32, 32)).astype(np.int8)
    raw = np.zeros((v, d // 32, 34), dtype=np.uint8)
    raw[:, :, :2] = d_scale.view(np.uint8).reshape(v, d // 32, 2)
    raw[:, :, 2:] = q.view(np.uint8)
    raw = raw.reshape(v, -1)
    ids = np.array([5, 0, 5, 2])
    out = embsimd.lookup(raw, ids, table_type="q8_0")
    want = (q.astype(np.float32) * d_scale.astype(np.float32)[:, :, None]).reshape(v, d)
    assert_bits_equal(out, want[ids])


def test_grad_token_order(rng):
    w = np.zeros((20, 8), np.float32)
    ids = rng.integers(0, 20, 100)
    dout = rng.standard_normal((100, 8)).astype(np.float32)
    want = np.zeros_like(w)
    np.add.at(want, ids, dout)  # unbuffered: one fp32 add per token, in order
    assert_bits_equal(embsimd.grad(w, ids, dout), want)


def test_grad_padding_and_scale(rng):
    ids = np.array([1, 2, 1, 3, 1, 1])
    dout = rng.standard_normal((6, 4)).astype(np.float32)
    got = embsimd.grad(np.zeros((4, 4), np.float32), ids, dout, padding_idx=-1,
                       scale_grad_by_freq=True)
    want = np.zeros((4, 4), np.float32)
    for i, t in enumerate(ids):
        if t != 3:
            want[t] += dout[i] / np.float32((ids == t).sum())
    assert_bits_equal(got, want)


def test_lookup_pos_and_grad(rng):
    w, p = table(rng), table(rng, v=10)
    ids = rng.integers(0, 50, (3, 10))
    out = embsimd.lookup_pos(w, ids, p)
    assert_bits_equal(out, w[ids] + p[np.arange(10)][None])
    pos = rng.integers(0, 10, (3, 10))
    assert_bits_equal(embsimd.lookup_pos(w, ids, p, positions=pos), w[ids] + p[pos])
    dw, dp = np.zeros_like(w), np.zeros_like(p)
    g = rng.standard_normal((3, 10, 24)).astype(np.float32)
    embsimd.grad_pos(dw, dp, ids, g, offset=2, seq_len=5)
    ww, wp = np.zeros_like(w), np.zeros_like(p)
    np.add.at(ww, ids.reshape(-1), g.reshape(-1, 24))
    np.add.at(wp, 2 + np.arange(30) % 5, g.reshape(-1, 24))
    assert_bits_equal(dw, ww)
    assert_bits_equal(dp, wp)


@pytest.mark.parametrize("p", [2.0, 1.0])
def test_renorm(rng, p):
    w = table(rng, d=40) * np.float32(3)
    ids = np.array([4, 7, 4, 9])
    want = w.copy()
    for r in set(ids.tolist()):
        x = want[r]
        norm = canonical_sum(x * x if p == 2 else np.abs(x))
        norm = np.sqrt(norm, dtype=np.float32) if p == 2 else norm
        if norm > 1.5:
            want[r] = x * np.float32(1.5 / (np.float64(norm) + 1e-7))
    embsimd.renorm(w, ids, 1.5, p)
    assert_bits_equal(w, want)


def test_scan(rng):
    w = table(rng, d=70)
    q = rng.standard_normal(70).astype(np.float32)
    got = embsimd.scan(w, q, "dot")
    assert_bits_equal(got, np.array([canonical_sum(r * q) for r in w], np.float32))
    got = embsimd.scan(w, None, "norm2")
    assert_bits_equal(got, np.array([canonical_sum(r * r) for r in w], np.float32))


def _bags_ref(w, ids, offsets, mode):
    ends = list(offsets[1:]) + [len(ids)]
    out = np.zeros((len(offsets), w.shape[1]), np.float32)
    for b, (s, e) in enumerate(zip(offsets, ends)):
        if e == s:
            continue
        if mode == "max":
            out[b] = w[ids[s]]
            for t in ids[s + 1:e]:
                out[b] = np.where(w[t] > out[b], w[t], out[b])
            continue
        for t in ids[s:e]:
            out[b] += w[t]
        if mode == "mean":
            out[b] /= np.float32(e - s)
    return out


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_bag(rng, mode):
    w = table(rng)
    ids = rng.integers(0, 50, 40)
    offsets = np.array([0, 3, 3, 20, 39])
    assert_bits_equal(embsimd.bag(w, ids, offsets, mode=mode), _bags_ref(w, ids, offsets, mode))
    lengths = np.diff(np.append(offsets, 40))
    assert_bits_equal(embsimd.bag(w, ids, lengths=lengths, mode=mode),
                      _bags_ref(w, ids, offsets, mode))


def test_bag_2d_and_grad(rng):
    w = table(rng)
    ids = rng.integers(0, 50, (5, 4))
    assert_bits_equal(embsimd.bag(w, ids, mode="sum"),
                      _bags_ref(w, ids.reshape(-1), np.arange(0, 20, 4), "sum"))
    g = rng.standard_normal((5, 24)).astype(np.float32)
    want = np.zeros_like(w)
    np.add.at(want, ids.reshape(-1), np.repeat(g, 4, axis=0))
    assert_bits_equal(embsimd.bag_grad(np.zeros_like(w), ids, g, mode="sum"), want)
    out, am = embsimd.bag(w, ids, mode="max", return_argmax=True)
    d = embsimd.bag_grad(np.zeros_like(w), ids, g, mode="max", argmax=am)
    want = np.zeros_like(w)
    for b in range(5):
        for j in range(24):
            want[am[b, j], j] += g[b, j]
    assert_bits_equal(d, want)


def test_bag_update_adagrad(rng):
    """Row-wise Adagrad per occurrence. fmaf is emulated in float64: the
    product of two floats is exact there, so only a sum landing exactly on
    an fp32 tie could round twice; these seeded data have none."""
    w = table(rng, v=10, d=8)
    ids = np.array([1, 4, 1, 7])
    g = rng.standard_normal((4, 8)).astype(np.float32)
    h = np.zeros(10, np.float32)
    want, wh = w.copy(), h.copy()
    lr, eps = np.float32(0.05), np.float32(1e-8)
    for t, r in enumerate(ids):
        wh[r] = wh[r] + canonical_sum(g[t] * g[t]) / np.float32(8)
        step = lr / (np.sqrt(wh[r], dtype=np.float32) + eps)
        # explicit float64 arrays: numpy 1.x keeps a float64 scalar times a
        # float32 array in float32, which would round the product
        exact = np.float64(-step) * g[t].astype(np.float64)
        want[r] = (exact + want[r].astype(np.float64)).astype(np.float32)
    embsimd.bag_update(w, ids, g, np.arange(4), lr=0.05, eps=1e-8, h=h,
                       optimizer="rowwise_adagrad")
    assert_bits_equal(h, wh)
    assert_bits_equal(w, want)


def test_runtime_functions():
    names = [i.name for i in embsimd.implementations()]
    assert "scalar" in names
    before = embsimd.active_impl()
    embsimd.use_impl("scalar")
    assert embsimd.active_impl() == "scalar"
    # None: the best available, whatever $EMBSIMD_IMPL chose at start-up
    embsimd.use_impl(None)
    assert embsimd.active_impl() == next(i.name for i in embsimd.implementations() if i.available)
    embsimd.use_impl(before)
    assert embsimd.active_impl() == before
    with pytest.raises(embsimd.NotSupportedError):
        embsimd.use_impl("no-such-isa")
    embsimd.set_num_threads(1)
    assert embsimd.get_num_threads() == 1
    embsimd.set_num_threads(0)
    with pytest.raises(embsimd.InvalidArgumentError):
        embsimd.set_num_threads(100000)
    assert embsimd.llc_description() and embsimd.schedule_description()


@pytest.mark.parametrize("impl", [i.name for i in embsimd.implementations() if i.available])
def test_every_implementation_same_bits(rng, impl):
    w = table(rng, v=300, d=100)
    ids = rng.integers(0, 300, 500)
    g = rng.standard_normal((500, 100)).astype(np.float32)
    embsimd.use_impl("scalar")
    want = embsimd.grad(np.zeros_like(w), ids, g)
    try:
        embsimd.use_impl(impl)
        embsimd.set_num_threads(2)
        assert_bits_equal(embsimd.grad(np.zeros_like(w), ids, g), want)
    finally:
        embsimd.use_impl(None)
        embsimd.set_num_threads(0)
