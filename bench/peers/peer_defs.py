"""peer_defs.py - what each peer computes: the call that is timed (with its
untimed preparation) and the results on one batch that the exactness check
compares with embsimd's."""

import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    import numpy
except ImportError:
    numpy = None


# What a peer's result is compared with (embsimd's, on the same inputs):
#   "lookup"     emb_lookup's N x D rows in the table's own type (for f32,
#                emb_lookup_f32's)
#   "lookup_f32" emb_lookup's N x D rows widened to f32 (f16, bf16 tables)
#   "grad"       emb_grad_f32 into a zeroed V x D table (a fresh gradient)
#   "grad_into"  emb_grad_f32 into a copy of `start`, the check's existing
#                table (nonzero: the table's own bits), as the peers that add
#                into an existing accumulator are called
#   "dy"         dY itself (what the sparse gradient stores instead of sums)
WANTS = ("lookup", "lookup_f32", "grad", "grad_into", "dy")

F32 = (("f32", "f32"),)


class Peer:
    """op: "lookup", "grad" or "fwd_bwd" (which embsimd calls it is compared
    with and how its bytes are counted: fwd_bwd counts a lookup's and a
    grad's). kernels: the (table type, output type) pairs it runs, each the
    peer of embsimd's kernel of those types (grad: f32 -> f32). setup(inp)
    -> (call(b), prep(b) or None); inp.table is of the kernel's table type.
    result(W, ids, dy, start) -> [(label, got, want)]: what it
    produces for one batch of ids, each compared with embsimd's `want` (one
    of WANTS); `start` must not be written (copy it)."""

    def __init__(self, name, op, setup, result, counters=None, kernels=F32):
        self.name, self.op, self.setup, self.result = name, op, setup, result
        self.counters = counters  # inp -> {counter: amount per call}
        self.kernels = kernels


def _one(name, want, fn):
    """A result function for a peer with one result."""
    return lambda W, ids, dy, start: [(name, fn(W, ids, dy, start), want)]


def _fwd_setup(inp):
    W, ids = inp.table, inp.batch64
    return (lambda b: F.embedding(ids[b], W)), None


def _index_select_setup(inp):
    W, ids = inp.table, inp.batch64
    out = torch.empty(inp.tokens, inp.dim, dtype=W.dtype)  # f32, f16 or bf16: a bit copy
    return (lambda b: torch.index_select(W, 0, ids[b], out=out)), None


def _index_select_result(W, ids, dy, start):
    return torch.index_select(W, 0, ids, out=torch.empty(ids.numel(), W.shape[1], dtype=W.dtype))


def _index_select_float_setup(inp):
    # What index_select(W16, 0, ids).float() does, into preallocated outputs
    # as the f32 peer writes into one: nothing is allocated in the call.
    W, ids = inp.table, inp.batch64
    rows = torch.empty(inp.tokens, inp.dim, dtype=W.dtype)
    out = torch.empty(inp.tokens, inp.dim)

    def call(b):
        torch.index_select(W, 0, ids[b], out=rows)
        out.copy_(rows)

    return call, None


def _index_select_float_result(W, ids, dy, start):
    """.float() as a user writes it, and the preallocated form that is timed."""
    name = "torch/index_select_float %s->f32" % {torch.bfloat16: "bf16",
                                                  torch.float16: "f16"}[W.dtype]
    out = torch.empty(ids.numel(), W.shape[1])
    out.copy_(torch.index_select(W, 0, ids))
    return [(name, torch.index_select(W, 0, ids).float(), "lookup_f32"),
            (name + " (copy_ into f32)", out, "lookup_f32")]


def _bwd_setup(inp):
    # A separate leaf sharing the table's memory: the other peers must not
    # build graphs. One retained graph per batch, so that only the backward
    # is in the timed call.
    leaf = inp.table.detach().requires_grad_(True)
    outs = [F.embedding(ids, leaf) for ids in inp.batch64]
    dy = inp.dy

    def prep(b):
        leaf.grad = None  # as zero_grad(set_to_none=True): each backward starts a fresh gradient

    return (lambda b: outs[b].backward(dy, retain_graph=True)), prep


def _bwd_result(W, ids, dy, start):
    leaf = W.detach().requires_grad_(True)
    F.embedding(ids, leaf).backward(dy)
    return leaf.grad


def _index_add_setup(inp):
    # The fair gradient peer: adds into one preallocated V x D fp32 tensor
    # across calls, as emb_grad_f32 adds into an existing dtable; no zeroing,
    # no allocation in the timed call.
    dW = torch.zeros(inp.vocab, inp.dim)
    ids, dy = inp.batch64, inp.dy
    return (lambda b: dW.index_add_(0, ids[b], dy)), None


def _index_add_result(W, ids, dy, start):
    return start.clone().index_add_(0, ids, dy)


def _sparse_module(W):
    """nn.Embedding(sparse=True) whose weight shares W's memory (no copy)."""
    return nn.Embedding(W.shape[0], W.shape[1], sparse=True, _weight=W)


def _sparse_setup(inp):
    # What a user runs: the module's forward, then the backward of its
    # output; the gradient is reset to None between calls (untimed), as
    # zero_grad(set_to_none=True), so that each call's sparse gradient is its
    # own and not concatenated onto the last.
    emb = _sparse_module(inp.table)
    ids, dy = inp.batch64, inp.dy

    def prep(b):
        emb.weight.grad = None

    return (lambda b: emb(ids[b]).backward(dy)), prep


def _sparse_result(W, ids, dy, start):
    """The forward's rows; the gradient's (ids, values) as stored; and the
    two ways it reaches a table: added as it is (SGD's param.add_(grad)),
    or coalesced first (SparseAdam, Adagrad)."""
    emb = _sparse_module(W)
    out = emb(ids)
    rows = out.detach().clone()
    out.backward(dy)
    g = emb.weight.grad
    name = "torch/embedding_sparse"
    found = [(name + " forward", rows, "lookup")]
    if not g.is_sparse or g.sparse_dim() != 1 or not torch.equal(g._indices()[0], ids):
        # Not the layout documented below: shown as a difference.
        found.append((name + " grad values", torch.empty(0), "dy"))
    else:
        found.append((name + " grad values", g._values(), "dy"))
    with torch.no_grad():
        found.append((name + " grad, table.add_(grad)", start.clone().add_(g), "grad_into"))
        found.append((name + " grad, coalesce()", g.coalesce().to_dense(), "grad"))
    return found


def _onehot_setup(inp):
    # Batch 0 only, built untimed: what embsimd-bench's onehot/blas times
    # is the product, not the construction of the one-hot matrix.
    A = F.one_hot(inp.batch64[0], inp.vocab).to(torch.float32)
    out = torch.empty(inp.tokens, inp.dim)
    W = inp.table
    return (lambda b: torch.mm(A, W, out=out)), None


def _onehot_result(W, ids, dy, start):
    return F.one_hot(ids, W.shape[0]).to(torch.float32) @ W


def _onehot_counters(inp):
    return {"flop_per_second": 2.0 * inp.tokens * inp.vocab * inp.dim}


def _take_setup(inp):
    W, ids = inp.table.numpy(), [t.numpy() for t in inp.batch64]
    out = numpy.empty((inp.tokens, inp.dim), dtype=numpy.float32)
    return (lambda b: numpy.take(W, ids[b], axis=0, out=out)), None


def _take_result(W, ids, dy, start):
    return torch.from_numpy(numpy.take(W.numpy(), ids.numpy(), axis=0))


def _add_at_setup(inp):
    # Accumulates into one dW across calls, like emb_grad_f32: no zeroing.
    dW = numpy.zeros((inp.vocab, inp.dim), dtype=numpy.float32)
    ids, dy = [t.numpy() for t in inp.batch64], inp.dy.numpy()

    def call(b):
        with numpy.errstate(all="ignore"):  # sums may overflow to Inf over many calls
            numpy.add.at(dW, ids[b], dy)

    return call, None


def _add_at_result(W, ids, dy, start):
    dW = start.numpy().copy()
    with numpy.errstate(all="ignore"):  # Inf - Inf is the check's point, not an accident
        numpy.add.at(dW, ids.numpy(), dy.numpy())
    return torch.from_numpy(dW)


PEERS = {p.name: p for p in (
    Peer("torch/embedding_fwd", "lookup", _fwd_setup,
         _one("torch/embedding_fwd", "lookup", lambda W, ids, dy, start: F.embedding(ids, W))),
    Peer("torch/index_select_out", "lookup", _index_select_setup,
         _one("torch/index_select_out", "lookup", _index_select_result),
         kernels=(("f32", "f32"), ("bf16", "bf16"), ("f16", "f16"))),
    Peer("torch/index_select_float", "lookup", _index_select_float_setup,
         _index_select_float_result, kernels=(("bf16", "f32"), ("f16", "f32"))),
    Peer("torch/index_add", "grad", _index_add_setup,
         _one("torch/index_add", "grad_into", _index_add_result)),
    Peer("torch/embedding_bwd", "grad", _bwd_setup,
         _one("torch/embedding_bwd", "grad", _bwd_result)),
    Peer("torch/embedding_sparse", "fwd_bwd", _sparse_setup, _sparse_result),
    Peer("torch/onehot_matmul", "lookup", _onehot_setup,
         _one("torch/onehot_matmul", "lookup", _onehot_result), _onehot_counters),
    Peer("numpy/take", "lookup", _take_setup, _one("numpy/take", "lookup", _take_result)),
    Peer("numpy/add_at", "grad", _add_at_setup, _one("numpy/add_at", "grad_into", _add_at_result)),
)}
