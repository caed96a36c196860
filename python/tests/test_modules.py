"""embsimd.torch.Embedding / EmbeddingBag / SGD next to PyTorch's, bit for
bit (torch.equal on the bits, never a tolerance): equal where
docs/python.md says they are, and equal to the documented definition
where they differ."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
if tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2]) < (2, 4):
    pytest.skip("embsimd.torch needs torch >= 2.4", allow_module_level=True)
import embsimd  # noqa: E402
import embsimd.torch as et  # noqa: E402
from conftest import assert_bits_equal, bits  # noqa: E402

V, D = 500, 48
FLOATS = [torch.float32, torch.float16, torch.bfloat16]


def pair(ref_cls, our_cls, *args, **kw):
    torch.manual_seed(1)
    ref = ref_cls(*args, **kw)
    ours = our_cls(*args, **kw)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def ids(*shape, seed=2, high=V):
    return torch.randint(0, high, shape, generator=torch.Generator().manual_seed(seed))


def fp32_token_order_grad(ids_, g, v=V):
    """The documented gradient: fp32, token order (np.add.at adds one at a
    time), then rounded to the table's type once."""
    want = np.zeros((v, g.shape[-1]), np.float32)
    np.add.at(want, ids_.reshape(-1).numpy(), g.reshape(-1, g.shape[-1]).float().numpy())
    return torch.from_numpy(want).to(g.dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("padding_idx", [None, 7, -3])
def test_embedding_forward_and_grad(dtype, padding_idx):
    ref, ours = pair(torch.nn.Embedding, et.Embedding, V, D, padding_idx=padding_idx,
                     dtype=dtype)
    x = ids(4, 3, 50)
    x[0, 0, :3] = ref.padding_idx if padding_idx is not None else 0
    a, b = ref(x), ours(x)
    assert b.shape == (4, 3, 50, D) and b.dtype == dtype
    assert_bits_equal(a, b)
    g = torch.randn(a.shape).to(dtype)
    a.backward(g)
    b.backward(g)
    want = fp32_token_order_grad(x, g)
    if padding_idx is not None:
        want[ref.padding_idx] = 0
    assert_bits_equal(ours.weight.grad, want)
    if dtype == torch.float32:  # PyTorch's f32 gradient is the same sum
        assert_bits_equal(ours.weight.grad, ref.weight.grad)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_16bit_grad_equal_where_rows_are_named_once(dtype):
    ref, ours = pair(torch.nn.Embedding, et.Embedding, V, D, dtype=dtype)
    x = torch.randperm(V)[:100]
    g = torch.randn(100, D).to(dtype)
    ref(x).backward(g)
    ours(x).backward(g)
    assert_bits_equal(ours.weight.grad, ref.weight.grad)


def test_scale_grad_by_freq_divides():
    """Ours adds dout / c (one division); PyTorch fma(dout, 1/c, acc): equal on
    rows named 1, 2 or 4 times, different on some named 3 times."""
    ref, ours = pair(torch.nn.Embedding, et.Embedding, 8, D, scale_grad_by_freq=True)
    x = torch.tensor([1, 2, 2, 4, 4, 4, 4, 5, 5, 5])
    g = torch.randn(10, D)
    ref(x).backward(g)
    ours(x).backward(g)
    want = np.zeros((8, D), np.float32)
    for i, t in enumerate(x.tolist()):
        want[t] += g[i].numpy() / np.float32((x == t).sum().item())
    assert_bits_equal(ours.weight.grad, want)
    same = [1, 2, 4]
    assert_bits_equal(ours.weight.grad[same], ref.weight.grad[same])


def test_sparse_grad_is_pytorchs_and_sgd_steps_match():
    ref, ours = pair(torch.nn.Embedding, et.Embedding, V, D, sparse=True, padding_idx=0)
    ref2 = et.Embedding(V, D, sparse=True, padding_idx=0)
    ref2.load_state_dict(ref.state_dict())
    opts = [torch.optim.SGD(ref.parameters(), lr=0.05), et.SGD(ours.parameters(), lr=0.05),
            torch.optim.SGD(ref2.parameters(), lr=0.05)]
    for step in range(4):
        x = ids(8, 64, seed=step)
        g = torch.randn(8, 64, D)
        for m, o in zip((ref, ours, ref2), opts):
            o.zero_grad()
            m(x).backward(g)
        assert torch.equal(ref.weight.grad._indices(), ours.weight.grad._indices())
        assert_bits_equal(ref.weight.grad._values(), ours.weight.grad._values())
        for o in opts:
            o.step()
        # the fused step per occurrence == torch.optim.SGD on the sparse grad
        assert_bits_equal(ours.weight, ref.weight)
        assert_bits_equal(ref2.weight, ref.weight)


def test_sparse_refuses_scale_grad_by_freq_and_dense_fused():
    m = et.Embedding(10, 4, sparse=True, scale_grad_by_freq=True)
    with pytest.raises(RuntimeError, match="scale_grad_by_freq not supported with sparse"):
        m(torch.tensor([1, 1])).sum().backward()
    d = et.Embedding(10, 4)
    d(torch.tensor([1])).sum().backward()
    with pytest.raises(ValueError, match="sparse=True"):
        et.SGD(d.parameters(), lr=0.1).step()


def test_rowwise_adagrad_equals_the_numpy_op():
    torch.manual_seed(3)
    m = et.Embedding(50, 16, sparse=True)
    w0 = m.weight.detach().clone().numpy()
    opt = et.RowWiseAdagrad(m.parameters(), lr=0.1, eps=1e-6)
    x = ids(40, high=50)
    g = torch.randn(40, 16)
    m(x).backward(g)
    opt.step()
    h = np.zeros(50, np.float32)
    embsimd.bag_update(w0, x.numpy(), g.numpy(), np.arange(40), lr=0.1, eps=1e-6, h=h,
                       optimizer="rowwise_adagrad")
    assert_bits_equal(m.weight, w0)
    assert_bits_equal(opt.state[m.weight]["h"], h)


def test_max_norm_renormalises_in_place():
    torch.manual_seed(4)
    m = et.Embedding(30, 40, max_norm=1.0)
    w = m.weight.detach().clone().numpy()
    x = torch.tensor([3, 9, 3])
    out = m(x)
    embsimd.renorm(w, x.numpy(), 1.0, 2.0)
    assert_bits_equal(m.weight, w)
    assert_bits_equal(out, w[x.numpy()])


def test_module_api():
    w = torch.randn(12, 5)
    m = et.Embedding.from_pretrained(w, padding_idx=2)
    assert isinstance(m, torch.nn.Embedding) and isinstance(m, et.Embedding)
    assert list(m.state_dict()) == ["weight"] and not m.weight.requires_grad
    assert_bits_equal(m(torch.tensor(4)), w[4])  # a 0-d input gives (D,)
    assert m(torch.zeros(0, 3, dtype=torch.long)).shape == (0, 3, 5)
    e = et.Embedding(12, 5)
    e(torch.zeros(0, dtype=torch.long)).sum().backward()  # an empty batch: a zero gradient
    assert not e.weight.grad.any()
    b = et.EmbeddingBag.from_pretrained(w, mode="max")
    assert list(b.state_dict()) == ["weight"]
    assert repr(m).startswith("Embedding(12, 5")


def test_bad_input_from_torch():
    m = et.Embedding(10, 4)
    with pytest.raises(embsimd.OutOfRangeError, match=r"emb_lookup: ids\[1\] = -1 is outside"):
        m(torch.tensor([2, -1]))
    with pytest.raises(embsimd.OutOfRangeError, match=r"ids\[0\] = 10 is outside \[0, 10\)"):
        m(torch.tensor([10]))
    with pytest.raises(TypeError, match="ids: dtype torch.float32; pass a tensor of int32"):
        m(torch.tensor([1.0]))
    with pytest.raises(ValueError, match=r"non-contiguous tensor.*ids.contiguous\(\)"):
        m(torch.arange(8).reshape(2, 4)[:, ::2])
    with pytest.raises(ValueError, match=r"ids: a tensor on meta.*ids\.cpu\(\)"):
        embsimd.lookup(torch.zeros(10, 4), torch.zeros(2, dtype=torch.long, device="meta"))
    w = m.weight.detach().clone()
    with pytest.raises(embsimd.OutOfRangeError):
        torch.ops.embsimd.embedding_renorm_(m.weight.detach(), torch.tensor([1, 99]), 0.1, 2.0)
    assert_bits_equal(m.weight, w)  # nothing written


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("kw", [{}, {"padding_idx": 5}, {"include_last_offset": True}])
def test_embedding_bag_forward(mode, kw):
    ref, ours = pair(torch.nn.EmbeddingBag, et.EmbeddingBag, V, D, mode=mode, **kw)
    x = ids(600)
    x[:20] = 5
    off = torch.tensor([0, 0, 10, 30, 31, 200])
    if kw.get("include_last_offset"):
        off = torch.cat([off, torch.tensor([600])])
    assert_bits_equal(ours(x, off), ref(x, off))
    x2 = ids(7, 9)
    assert_bits_equal(ours(x2), ref(x2))


def test_embedding_bag_weighted_and_grads():
    ref, ours = pair(torch.nn.EmbeddingBag, et.EmbeddingBag, V, D, mode="sum")
    x, off = ids(300), torch.tensor([0, 50, 100, 299])
    psw = torch.randn(300)
    assert_bits_equal(ours(x, off, per_sample_weights=psw), ref(x, off, per_sample_weights=psw))
    g = torch.randn(4, D)
    ours(x, off).backward(g)
    sizes = torch.diff(torch.cat([off, torch.tensor([300])]))
    assert_bits_equal(ours.weight.grad, fp32_token_order_grad(x, g.repeat_interleave(sizes, 0)))
    ref, ours = pair(torch.nn.EmbeddingBag, et.EmbeddingBag, V, D, mode="max")
    ref(x, off).backward(g)
    ours(x, off).backward(g)
    assert_bits_equal(ours.weight.grad, ref.weight.grad)  # max: PyTorch's bits


@pytest.mark.parametrize("mode", ["sum", "max"])
def test_f16_bag_equals_pytorch(mode):
    ref, ours = pair(torch.nn.EmbeddingBag, et.EmbeddingBag, V, D, mode=mode,
                     dtype=torch.float16)
    x, off = ids(400), torch.tensor([0, 3, 100, 250])
    assert_bits_equal(ours(x, off), ref(x, off))


def test_bits_helper_sees_negative_zero():
    assert (bits(torch.tensor([0.0])) != bits(torch.tensor([-0.0]))).all()


@pytest.mark.parametrize("sparse", [False, True])
def test_token_position_embedding_is_two_lookups_added(sparse):
    """GPT-2's layer in one pass: the same bits as wte(ids) + wpe(pos) with
    nn.Embedding, forward, gradients (dense or sparse) and SGD steps."""
    torch.manual_seed(5)
    wte, wpe = torch.nn.Embedding(V, D, sparse=sparse), torch.nn.Embedding(32, D, sparse=sparse)
    ours = et.TokenPositionEmbedding.from_pretrained(wte.weight.detach().clone(),
                                                     wpe.weight.detach().clone(), freeze=False,
                                                     sparse=sparse)
    assert sorted(ours.state_dict()) == ["wpe.weight", "wte.weight"]
    opts = [torch.optim.SGD(list(wte.parameters()) + list(wpe.parameters()), lr=0.1),
            (et.SGD if sparse else torch.optim.SGD)(ours.parameters(), lr=0.1)]
    for step in range(3):
        x = ids(4, 32, seed=step)
        pos = torch.arange(32).expand(4, 32)
        g = torch.randn(4, 32, D)
        a = wte(x) + wpe(pos)
        b = ours(x)
        assert_bits_equal(a, b)
        for o in opts:
            o.zero_grad()
        a.backward(g)
        b.backward(g)
        for o in opts:
            o.step()
        assert_bits_equal(ours.wte.weight, wte.weight)
        assert_bits_equal(ours.wpe.weight, wpe.weight)
    x = ids(5, seed=9)
    assert_bits_equal(ours(x, offset=7), wte(x) + wpe(7 + torch.arange(5)))


def test_bench_train_smoke(tmp_path):
    """python/bench_train.py on a tiny layer: every variant runs, in this
    process and in the OMP_WAIT_POLICY=PASSIVE child ("1p"), and the
    parameters docs/python.md predicts equal are (its exit status)."""
    import os
    import subprocess
    import sys
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench_train.py")
    r = subprocess.run([sys.executable, script, "--vocab", "300", "--npos", "16", "--dim", "32",
                        "--batch", "2", "--seq", "16", "--steps", "3", "--warmup", "1",
                        "--threads", "1,1p", "--out", str(tmp_path / "r.md")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    report = (tmp_path / "r.md").read_text()
    assert "DIFFER" not in report
    assert "| T=1 ms/step | T=1, OMP passive ms/step |" in report
    assert "T=1, OMP passive: sparse vs embsimd-layer after 3 steps: bit-identical" in report
    assert not list(tmp_path.glob("*.json")), "the child's result file was left behind"
    bad = subprocess.run([sys.executable, script, "--threads", "2x"], capture_output=True,
                         text=True, timeout=300)
    assert bad.returncode == 2 and "'2x' is not a thread count" in bad.stderr


@pytest.mark.parametrize("mode,weighted", [("sum", False), ("sum", True), ("mean", False)])
def test_embedding_bag_sparse_and_fused_steps(mode, weighted):
    """sparse=True: sum (weighted or not) gives PyTorch's gradient bits and
    torch.optim.SGD's weights; mean divides by the count (PyTorch multiplies
    by its reciprocal), so it is compared with emb_bag_update's mean step,
    which the fused SGD must equal too."""
    kw = dict(mode=mode, sparse=True, padding_idx=4)
    ref, ours = pair(torch.nn.EmbeddingBag, et.EmbeddingBag, V, D, **kw)
    fused = et.EmbeddingBag(V, D, **kw)
    fused.load_state_dict(ref.state_dict())
    table = ref.weight.detach().clone().numpy()
    x, off = ids(300), torch.tensor([0, 5, 5, 120, 299])
    x[:10] = 4
    psw = torch.randn(300) if weighted else None
    g = torch.randn(5, D)
    for m in (ref, ours, fused):
        m(x, off, per_sample_weights=psw).backward(g)
    assert torch.equal(ours.weight.grad._indices(), ref.weight.grad._indices())
    if mode == "sum":
        assert_bits_equal(ours.weight.grad._values(), ref.weight.grad._values())
    torch.optim.SGD(ref.parameters(), lr=0.1).step()
    torch.optim.SGD(ours.parameters(), lr=0.1).step()
    et.SGD(fused.parameters(), lr=0.1).step()
    embsimd.bag_update(table, x.numpy(), g.numpy(), off.numpy(), lr=0.1, mode=mode,
                       padding_idx=4, per_sample_weights=None if psw is None else psw.numpy())
    assert_bits_equal(fused.weight, table)
    assert_bits_equal(ours.weight, table)
    if mode == "sum":
        assert_bits_equal(ours.weight, ref.weight)


def test_embedding_bag_sparse_max_is_refused():
    m = et.EmbeddingBag(10, 4, mode="max", sparse=True)
    with pytest.raises(RuntimeError, match="max mode does not support sparse weights"):
        m(torch.tensor([1, 2]), torch.tensor([0])).sum().backward()
