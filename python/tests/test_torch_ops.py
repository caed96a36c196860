"""torch.ops.embsimd.*: torch.library.opcheck (schema, fake kernel,
autograd registration, torch.compile's AOT dispatch) and gradcheck.

gradcheck wants float64, which the library does not take (its types are
fp32, fp16, bf16 and the quantized formats). The ops here are linear (or
piecewise linear, for max) in the table, so gradcheck runs them in float32
on tables of small dyadic values with eps = 2**-4: every perturbed value,
every output and every finite difference is then exact in fp32, and the
comparison is made with atol = rtol = 0. This checks the gradient's
wiring (which rows, which positions, which scale); the exactness of the
bits against PyTorch is tested by bit comparison in test_modules.py."""

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
if tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2]) < (2, 4):
    pytest.skip("embsimd.torch needs torch >= 2.4", allow_module_level=True)
import embsimd.torch  # noqa: E402,F401  (registers the ops)

E = torch.ops.embsimd


def dyadic(*shape, seed=0):
    """Distinct multiples of 1/2 in [-32, 32): exact under +-eps, no ties."""
    g = torch.Generator().manual_seed(seed)
    n = int(np.prod(shape))
    return (torch.randperm(128, generator=g)[:n].float() - 64) / 2 if n <= 128 else \
        (torch.randint(-64, 64, shape, generator=g).float() / 2).reshape(-1)[:n]


def table(v, d, seed=0):
    return dyadic(v * d, seed=seed).reshape(v, d).requires_grad_()


def gradcheck(fn, inputs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "not a double precision" input
        assert torch.autograd.gradcheck(fn, inputs, eps=2 ** -4, atol=0, rtol=0)


IDS = torch.tensor([[1, 3, 1], [0, 2, 3]])


@pytest.mark.parametrize("padding_idx,scale", [(None, False), (3, False), (None, True)])
def test_embedding(padding_idx, scale):
    w = table(4, 5)
    torch.library.opcheck(E.embedding, (w, IDS, padding_idx, scale, False))
    # padding_idx and scale_grad_by_freq define a gradient that is not the
    # derivative (PyTorch's convention): padding tokens' outputs are masked
    # out so that the derivative is the padding gradient; scale_grad_by_freq
    # has no such function and is compared with PyTorch's bits instead.
    if not scale:
        keep = (IDS != (-1 if padding_idx is None else padding_idx)).unsqueeze(-1)
        gradcheck(lambda w: E.embedding(w, IDS, padding_idx, scale, False) * keep, (w,))
    g = torch.ones(2, 3, 5)
    torch.library.opcheck(E.embedding_backward, (g, IDS, 4, padding_idx, scale))


def test_embedding_sparse_grad():
    w = table(4, 5)
    E.embedding(w, IDS, 3, False, True).sum().backward()
    assert w.grad.is_sparse and w.grad._indices().tolist() == [[1, 1, 0, 2]]


def test_embedding_pos():
    w, p = table(6, 4), table(3, 4, seed=1)
    torch.library.opcheck(E.embedding_pos, (w, IDS, p, None, 0, 3, False))
    gradcheck(lambda w, p: E.embedding_pos(w, IDS, p, None, 0, 3, False), (w, p))
    pos = torch.tensor([[2, 2, 0], [1, 0, 1]])
    gradcheck(lambda w, p: E.embedding_pos(w, IDS, p, pos, 0, 1, False), (w, p))
    torch.library.opcheck(E.embedding_pos_backward, (torch.ones(2, 3, 4), IDS, 6, 3, pos, 0, 1))


@pytest.mark.parametrize("mode", [0, 1, 2])
def test_embedding_bag(mode):
    w = table(6, 4)
    ids = torch.tensor([1, 5, 1, 2, 0, 4, 4, 3])
    offsets = torch.tensor([0, 4, 6, 6])  # bags of 4, 2, 0 and 2 tokens: exact means
    torch.library.opcheck(E.embedding_bag, (w, ids, offsets, mode, None, False, None, False))
    gradcheck(lambda w: E.embedding_bag(w, ids, offsets, mode, None, False, None, False)[0],
              (w,))
    psw = dyadic(8, seed=3)
    if mode == 0:
        gradcheck(lambda w: E.embedding_bag(w, ids, offsets, 0, psw, False, 1, False)[0], (w,))
    out, am = E.embedding_bag(w.detach(), ids, offsets, mode, None, False, None, False)
    torch.library.opcheck(E.embedding_bag_backward,
                          (torch.ones(4, 4), ids, offsets, am, 6, mode, None, False, None))


def test_per_sample_weights_grad_is_refused():
    w = table(6, 4)
    psw = torch.ones(3, requires_grad=True)
    out, _ = E.embedding_bag(w, torch.tensor([1, 2, 3]), torch.tensor([0]), 0, psw, False, None,
                             False)
    with pytest.raises(NotImplementedError, match="per_sample_weights"):
        out.sum().backward()


def test_mutating_ops():
    w = dyadic(40, seed=2).reshape(10, 4) * 4
    torch.library.opcheck(E.embedding_renorm_, (w.clone(), IDS, 3.0, 2.0))
    ids, offsets, dout = torch.tensor([1, 2, 1]), torch.tensor([0, 1, 2]), torch.ones(3, 4)
    torch.library.opcheck(E.bag_update_, (w.clone(), torch.empty(0), ids, offsets, dout, 0,
                                          "sgd", 0.5, 0.0, False, False, None))
    torch.library.opcheck(E.bag_update_, (w.clone(), torch.zeros(10), ids, offsets, dout, 1,
                                          "rowwise_adagrad", 0.5, 1e-8, True, False, None))


def test_scan_and_quantized():
    w = dyadic(40, seed=2).reshape(10, 4)
    torch.library.opcheck(E.scan, (w, w[0].clone(), "dot", ""))
    raw = torch.zeros(3, 34, dtype=torch.uint8)
    torch.library.opcheck(E.lookup_quantized, (raw, torch.tensor([2, 0]), "q8_0"))
    torch.library.opcheck(E.scan, (raw, torch.ones(32), "l2sq", "q8_0"))


def test_compiles():
    """The module under torch.compile (AOT autograd, no code generation)."""
    m = embsimd.torch.Embedding(10, 4)
    ids = torch.tensor([[1, 2], [3, 1]])
    ref = m(ids)
    out = torch.compile(m, backend="aot_eager", fullgraph=True)(ids)
    out.sum().backward()
    assert torch.equal(out, ref) and m.weight.grad[1].eq(2).all()
