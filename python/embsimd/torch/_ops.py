"""The library's operations as PyTorch operators (torch.library.custom_op,
namespace ``embsimd``) for CPU tensors, each with a fake (meta) kernel for
torch.compile and, where it has one, its gradient registered with
register_autograd. The bodies call embsimd.ops, which reads the tensors in
place."""

from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor

from .. import ops

_MODES = ("sum", "mean", "max")


# --- embedding: the lookup, its dense and sparse gradients -----------------

@torch.library.custom_op("embsimd::embedding", mutates_args=(), device_types="cpu")
def embedding(weight: Tensor, indices: Tensor, padding_idx: Optional[int],
              scale_grad_by_freq: bool, sparse: bool) -> Tensor:
    """``weight[indices]``: a bit copy of the rows (emb_lookup), shape
    indices.shape + (dim,), weight's dtype (float32, float16, bfloat16)."""
    return ops.lookup(weight, indices)


@embedding.register_fake
def _(weight, indices, padding_idx, scale_grad_by_freq, sparse):
    return weight.new_empty(tuple(indices.shape) + (weight.shape[1],))


@torch.library.custom_op("embsimd::embedding_backward", mutates_args=(), device_types="cpu")
def embedding_backward(grad: Tensor, indices: Tensor, num_weights: int,
                       padding_idx: Optional[int], scale_grad_by_freq: bool) -> Tensor:
    """The dense gradient of `embedding`: a zeroed float32 (num_weights, dim)
    table, ``+= widen(grad[i])`` per token in token order (emb_grad_ex)."""
    d = torch.zeros((num_weights, grad.shape[-1]), dtype=torch.float32)
    ops.grad(d, indices, grad, padding_idx=padding_idx, scale_grad_by_freq=scale_grad_by_freq)
    return d


@embedding_backward.register_fake
def _(grad, indices, num_weights, padding_idx, scale_grad_by_freq):
    return grad.new_empty((num_weights, grad.shape[-1]), dtype=torch.float32)


def sparse_grad(grad: Tensor, indices: Tensor, num_weights: int,
                padding_idx: Optional[int]) -> Tensor:
    """nn.Embedding(sparse=True)'s gradient, as PyTorch builds it: an
    uncoalesced COO tensor whose indices are the tokens in order (padding
    tokens dropped) and whose values are grad's rows, uncopied where no
    token is padding."""
    ids = indices.reshape(-1)
    values = grad.reshape(-1, grad.shape[-1])
    if padding_idx is not None:
        keep = ids != padding_idx
        ids, values = ids[keep], values[keep]
    return torch.sparse_coo_tensor(ids.unsqueeze(0), values,
                                   (num_weights, grad.shape[-1]), is_coalesced=False,
                                   check_invariants=False)  # ids were checked by the forward


def _embedding_setup(ctx, inputs, output):
    weight, indices, padding_idx, scale_grad_by_freq, sparse = inputs
    ctx.save_for_backward(indices)
    ctx.num_weights, ctx.dtype = weight.shape[0], weight.dtype
    ctx.padding_idx, ctx.scale, ctx.sparse = padding_idx, scale_grad_by_freq, sparse


def _embedding_grad(ctx, grad):
    (indices,) = ctx.saved_tensors
    if ctx.sparse:
        if ctx.scale:  # PyTorch refuses the pair too
            raise RuntimeError("embedding_backward: scale_grad_by_freq not supported with "
                               "sparse gradients")
        return sparse_grad(grad, indices, ctx.num_weights, ctx.padding_idx), None, None, None, None
    d = embedding_backward(grad.contiguous(), indices, ctx.num_weights, ctx.padding_idx,
                           ctx.scale)
    # f16/bf16 tables: accumulated in fp32, rounded to the table's type once
    return d.to(ctx.dtype), None, None, None, None


embedding.register_autograd(_embedding_grad, setup_context=_embedding_setup)


@torch.library.custom_op("embsimd::lookup_quantized", mutates_args=(), device_types="cpu")
def lookup_quantized(table: Tensor, indices: Tensor, table_type: str) -> Tensor:
    """Rows of a quantized table (uint8 raw blocks, its format named by
    table_type: q8_0, q4_0, q8_rowwise, q4_K, q6_K) dequantized into float32.
    Quantized tables have no gradient."""
    return ops.lookup(table, indices, table_type=table_type)


@lookup_quantized.register_fake
def _(table, indices, table_type):
    from .._arrays import _dim_of_row
    dim = _dim_of_row(table_type, table.shape[1], "table")
    return table.new_empty(tuple(indices.shape) + (dim,), dtype=torch.float32)


# --- token + position ------------------------------------------------------

@torch.library.custom_op("embsimd::embedding_pos", mutates_args=(), device_types="cpu")
def embedding_pos(weight: Tensor, indices: Tensor, pos_weight: Tensor,
                  positions: Optional[Tensor], offset: int, seq_len: int,
                  sparse: bool) -> Tensor:
    """``weight[indices] + pos_weight[pos]`` in float32, one add per element
    (emb_lookup_pos); pos is `positions`, or ``offset + i % seq_len``.
    sparse: the gradients are nn.Embedding(sparse=True)'s, for both tables."""
    return ops.lookup_pos(weight, indices, pos_weight, positions=positions, offset=offset,
                          seq_len=seq_len)


@embedding_pos.register_fake
def _(weight, indices, pos_weight, positions, offset, seq_len, sparse):
    return weight.new_empty(tuple(indices.shape) + (weight.shape[1],), dtype=torch.float32)


@torch.library.custom_op("embsimd::embedding_pos_backward", mutates_args=(),
                         device_types="cpu")
def embedding_pos_backward(grad: Tensor, indices: Tensor, num_weights: int, num_pos: int,
                           positions: Optional[Tensor], offset: int,
                           seq_len: int) -> Tuple[Tensor, Tensor]:
    """Both dense float32 gradients of `embedding_pos` (emb_grad_pos)."""
    d = torch.zeros((num_weights, grad.shape[-1]), dtype=torch.float32)
    dp = torch.zeros((num_pos, grad.shape[-1]), dtype=torch.float32)
    ops.grad_pos(d, dp, indices, grad, positions=positions, offset=offset, seq_len=seq_len)
    return d, dp


@embedding_pos_backward.register_fake
def _(grad, indices, num_weights, num_pos, positions, offset, seq_len):
    dim = grad.shape[-1]
    return (grad.new_empty((num_weights, dim), dtype=torch.float32),
            grad.new_empty((num_pos, dim), dtype=torch.float32))


def _pos_setup(ctx, inputs, output):
    weight, indices, pos_weight, positions, offset, seq_len, sparse = inputs
    ctx.save_for_backward(indices, positions)
    ctx.shapes = (weight.shape[0], pos_weight.shape[0], weight.dtype, pos_weight.dtype)
    ctx.offset, ctx.seq_len, ctx.sparse = offset, seq_len, sparse


def _pos_grad(ctx, grad):
    indices, positions = ctx.saved_tensors
    nw, npos, wt, pt = ctx.shapes
    if ctx.sparse:  # both tables' values are grad's rows themselves, uncopied
        if positions is None:
            n = indices.numel()
            positions = ctx.offset + torch.arange(n, dtype=indices.dtype) % ctx.seq_len
        return (sparse_grad(grad.to(wt), indices, nw, None), None,
                sparse_grad(grad.to(pt), positions, npos, None), None, None, None, None)
    d, dp = embedding_pos_backward(grad.contiguous(), indices, nw, npos, positions, ctx.offset,
                                   ctx.seq_len)
    return d.to(wt), None, dp.to(pt), None, None, None, None


embedding_pos.register_autograd(_pos_grad, setup_context=_pos_setup)


# --- max_norm --------------------------------------------------------------

@torch.library.custom_op("embsimd::embedding_renorm_", mutates_args=("weight",),
                         device_types="cpu")
def embedding_renorm_(weight: Tensor, indices: Tensor, max_norm: float,
                      norm_type: float) -> None:
    """nn.Embedding's max_norm in place (emb_renorm)."""
    ops.renorm(weight, indices, max_norm, norm_type)


@embedding_renorm_.register_fake
def _(weight, indices, max_norm, norm_type):
    return None


# --- EmbeddingBag ----------------------------------------------------------

@torch.library.custom_op("embsimd::embedding_bag", mutates_args=(), device_types="cpu")
def embedding_bag(weight: Tensor, indices: Tensor, offsets: Tensor, bag_mode: int,
                  per_sample_weights: Optional[Tensor], include_last_offset: bool,
                  padding_idx: Optional[int], sparse: bool) -> Tuple[Tensor, Tensor]:
    """nn.EmbeddingBag's forward on 1-d indices and offsets (emb_bag):
    (bags, dim) float32, and for bag_mode 2 (max) the int64 argmax the backward
    needs (empty otherwise). bag_mode: 0 sum, 1 mean, 2 max. sparse: the
    gradient is nn.EmbeddingBag(sparse=True)'s (sum and mean)."""
    if bag_mode == 2:
        return ops.bag(weight, indices, offsets, mode="max",
                       include_last_offset=include_last_offset,
                       padding_idx=padding_idx, return_argmax=True)
    out = ops.bag(weight, indices, offsets, mode=_MODES[bag_mode],
                  per_sample_weights=per_sample_weights,
                  include_last_offset=include_last_offset, padding_idx=padding_idx)
    return out, torch.empty((0,), dtype=torch.int64)


@embedding_bag.register_fake
def _(weight, indices, offsets, bag_mode, per_sample_weights, include_last_offset, padding_idx,
      sparse):
    nbags = offsets.shape[0] - (1 if include_last_offset else 0)
    out = weight.new_empty((nbags, weight.shape[1]), dtype=torch.float32)
    am = weight.new_empty((nbags, weight.shape[1]) if bag_mode == 2 else (0,), dtype=torch.int64)
    return out, am


@torch.library.custom_op("embsimd::embedding_bag_backward", mutates_args=(),
                         device_types="cpu")
def embedding_bag_backward(grad: Tensor, indices: Tensor, offsets: Tensor, argmax: Tensor,
                           num_weights: int, bag_mode: int, per_sample_weights: Optional[Tensor],
                           include_last_offset: bool, padding_idx: Optional[int]) -> Tensor:
    """The dense float32 gradient of `embedding_bag` (emb_bag_grad)."""
    d = torch.zeros((num_weights, grad.shape[-1]), dtype=torch.float32)
    ops.bag_grad(d, indices, grad, offsets, mode=_MODES[bag_mode],
                 per_sample_weights=per_sample_weights, include_last_offset=include_last_offset,
                 padding_idx=padding_idx, argmax=argmax if bag_mode == 2 else None)
    return d


@embedding_bag_backward.register_fake
def _(grad, indices, offsets, argmax, num_weights, bag_mode, per_sample_weights,
      include_last_offset, padding_idx):
    return grad.new_empty((num_weights, grad.shape[-1]), dtype=torch.float32)


def _bag_setup(ctx, inputs, output):
    weight, indices, offsets, bag_mode, psw, last, padding_idx, sparse = inputs
    ctx.save_for_backward(indices, offsets, output[1], psw)
    ctx.args = (weight.shape[0], weight.dtype, bag_mode, last, padding_idx, sparse)


def bag_sparse_grad(grad: Tensor, indices: Tensor, offsets: Tensor, num_weights: int,
                    bag_mode: int, psw: Optional[Tensor], include_last_offset: bool,
                    padding_idx: Optional[int]) -> Tensor:
    """nn.EmbeddingBag(sparse=True)'s gradient: token t of bag b gets the row
    g = grad[b] (a copy), mean: grad[b] / count (one division, as
    emb_bag_grad and emb_bag_update), weighted: w[t] * grad[b] (one
    rounding); padding tokens dropped; indices in token order."""
    if bag_mode == 2:  # PyTorch's words
        raise RuntimeError("max mode does not support sparse weights")
    n = indices.numel()
    starts = offsets[:offsets.numel() - 1] if include_last_offset else offsets
    bag_of = torch.searchsorted(starts, torch.arange(n, dtype=starts.dtype), right=True) - 1
    values = grad.index_select(0, bag_of)
    if bag_mode == 1:  # the count of each bag's non-padding tokens
        counted = bag_of if padding_idx is None else bag_of[indices != padding_idx]
        counts = torch.bincount(counted, minlength=starts.numel()).clamp(min=1)
        values = values / counts.index_select(0, bag_of).to(grad.dtype).unsqueeze(1)
    if psw is not None:
        values = psw.unsqueeze(1).to(grad.dtype) * values
    return sparse_grad(values, indices, num_weights, padding_idx)


def _bag_grad(ctx, grad, _grad_argmax):
    indices, offsets, argmax, psw = ctx.saved_tensors
    nw, dtype, bag_mode, last, padding_idx, sparse = ctx.args
    if ctx.needs_input_grad[4]:
        raise NotImplementedError("embsimd.torch: the gradient of per_sample_weights is not "
                                  "implemented (emb_bag_grad gives the table's only); detach "
                                  "per_sample_weights or use torch.nn.EmbeddingBag")
    if sparse:
        return (bag_sparse_grad(grad.to(dtype), indices, offsets, nw, bag_mode, psw, last,
                                padding_idx), None, None, None, None, None, None, None)
    d = embedding_bag_backward(grad.contiguous(), indices, offsets, argmax, nw, bag_mode, psw,
                               last, padding_idx)
    return d.to(dtype), None, None, None, None, None, None, None


embedding_bag.register_autograd(_bag_grad, setup_context=_bag_setup)


# --- the fused sparse step and the scan ------------------------------------

# The ops name the pooling `bag_mode`: torch's functionalization of a
# mutating op passes an argument of its own named `mode`.
@torch.library.custom_op("embsimd::bag_update_", mutates_args=("weight", "h"),
                         device_types="cpu")
def bag_update_(weight: Tensor, h: Tensor, indices: Tensor, offsets: Tensor, dout: Tensor,
                bag_mode: int, optimizer: str, lr: float, eps: float, coalesce: bool,
                include_last_offset: bool, padding_idx: Optional[int]) -> None:
    """A sum (0) or mean (1) bag's backward fused with an SGD or row-wise
    Adagrad step (emb_bag_update), weight and Adagrad's h (an empty tensor
    for SGD) updated in place."""
    ops.bag_update(weight, indices, dout, offsets, lr=lr, optimizer=optimizer, eps=eps,
                   h=h if h.numel() else None, coalesce=coalesce, mode=_MODES[bag_mode],
                   include_last_offset=include_last_offset, padding_idx=padding_idx)


@bag_update_.register_fake
def _(weight, h, indices, offsets, dout, bag_mode, optimizer, lr, eps, coalesce,
      include_last_offset, padding_idx):
    return None


@torch.library.custom_op("embsimd::scan", mutates_args=(), device_types="cpu")
def scan(table: Tensor, query: Optional[Tensor], metric: str, table_type: str) -> Tensor:
    """Scores of every row against a float32 query (emb_scan): metric "dot",
    "l2sq" or "norm2"; table_type "" for a float table, else the quantized
    format of a uint8 table."""
    return ops.scan(table, query, metric, table_type=table_type or None)


@scan.register_fake
def _(table, query, metric, table_type):
    return table.new_empty((table.shape[0],), dtype=torch.float32)
