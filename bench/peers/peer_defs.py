"""peer_defs.py - what each peer computes: the call that is timed (with its
untimed preparation) and the result on one batch that the exactness check
compares with embsimd's."""

import torch
import torch.nn.functional as F

try:
    import numpy
except ImportError:
    numpy = None


class Peer:
    """op: "lookup" or "grad" (which embsimd call it is compared with and
    how its bytes are counted). setup(inp) -> (call(b), prep(b) or None);
    result(W, ids, dy) -> the tensor it produces for one batch of ids."""

    def __init__(self, name, op, setup, result, counters=None):
        self.name, self.op, self.setup, self.result = name, op, setup, result
        self.counters = counters  # inp -> {counter: amount per call}


def _fwd_setup(inp):
    W, ids = inp.table, inp.batch64
    return (lambda b: F.embedding(ids[b], W)), None


def _index_select_setup(inp):
    W, ids = inp.table, inp.batch64
    out = torch.empty(inp.tokens, inp.dim)
    return (lambda b: torch.index_select(W, 0, ids[b], out=out)), None


def _index_select_result(W, ids, dy):
    return torch.index_select(W, 0, ids, out=torch.empty(ids.numel(), W.shape[1]))


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


def _bwd_result(W, ids, dy):
    leaf = W.detach().requires_grad_(True)
    F.embedding(ids, leaf).backward(dy)
    return leaf.grad


def _onehot_setup(inp):
    # Batch 0 only, built untimed: what embsimd-bench's onehot/blas times
    # is the product, not the construction of the one-hot matrix.
    A = F.one_hot(inp.batch64[0], inp.vocab).to(torch.float32)
    out = torch.empty(inp.tokens, inp.dim)
    W = inp.table
    return (lambda b: torch.mm(A, W, out=out)), None


def _onehot_result(W, ids, dy):
    return F.one_hot(ids, W.shape[0]).to(torch.float32) @ W


def _onehot_counters(inp):
    return {"flop_per_second": 2.0 * inp.tokens * inp.vocab * inp.dim}


def _take_setup(inp):
    W, ids = inp.table.numpy(), [t.numpy() for t in inp.batch64]
    out = numpy.empty((inp.tokens, inp.dim), dtype=numpy.float32)
    return (lambda b: numpy.take(W, ids[b], axis=0, out=out)), None


def _take_result(W, ids, dy):
    return torch.from_numpy(numpy.take(W.numpy(), ids.numpy(), axis=0))


def _add_at_setup(inp):
    # Accumulates into one dW across calls, like emb_grad_f32: no zeroing.
    dW = numpy.zeros((inp.vocab, inp.dim), dtype=numpy.float32)
    ids, dy = [t.numpy() for t in inp.batch64], inp.dy.numpy()

    def call(b):
        with numpy.errstate(all="ignore"):  # sums may overflow to Inf over many calls
            numpy.add.at(dW, ids[b], dy)

    return call, None


def _add_at_result(W, ids, dy):
    dW = numpy.zeros(tuple(W.shape), dtype=numpy.float32)
    with numpy.errstate(all="ignore"):  # Inf - Inf is the check's point, not an accident
        numpy.add.at(dW, ids.numpy(), dy.numpy())
    return torch.from_numpy(dW)


PEERS = {p.name: p for p in (
    Peer("torch/embedding_fwd", "lookup", _fwd_setup, lambda W, ids, dy: F.embedding(ids, W)),
    Peer("torch/index_select_out", "lookup", _index_select_setup, _index_select_result),
    Peer("torch/embedding_bwd", "grad", _bwd_setup, _bwd_result),
    Peer("torch/onehot_matmul", "lookup", _onehot_setup, _onehot_result, _onehot_counters),
    Peer("numpy/take", "lookup", _take_setup, _take_result),
    Peer("numpy/add_at", "grad", _add_at_setup, _add_at_result),
)}
