"""Every public operation of libembsimd on numpy arrays (or CPU torch
tensors: the same code reads both, see _arrays.py). Inputs are read in
place, never copied; an output is allocated of the caller's kind unless
``out=`` is given. Each function's semantics, roundings included, are the C
call's: docs/api.md, docs/layer.md and docs/bags.md."""

from __future__ import annotations

from typing import Any, List, NamedTuple, Optional, Tuple, Union

import numpy as np

from . import _lib
from ._arrays import FLOAT_TYPES, INDEX, TYPES, Arr, arr, empty, expect_shape, ids_arr, table_of

Array = Any  # a numpy.ndarray or a CPU torch.Tensor
_lib_ = _lib.lib
NO_PADDING = -(2 ** 63)  # EMB_NO_PADDING
_MODES = {"sum": 0, "mean": 1, "max": 2}
_METRICS = {"dot": 0, "l2sq": 1, "norm2": 2}
_OPTIMIZERS = {"sgd": 0, "rowwise_adagrad": 1}


def _dout(x: Array, shape: Tuple[int, ...], name: str = "dout") -> Arr:
    a = arr(x, name, FLOAT_TYPES)
    expect_shape(a, name, shape)
    return a


def _out(out: Optional[Array], like: Array, shape: Tuple[int, ...], kind: str,
         kinds: Tuple[str, ...] = ("f32",), name: str = "out") -> Arr:
    """The caller's `out` checked, or a new one of `kind`."""
    if out is None:
        return arr(empty(like, shape, kind), name, (kind,))
    a = arr(out, name, kinds, written=True)
    expect_shape(a, name, shape)
    return a


def _f32_table(x: Array, name: str, ncols: Optional[int] = None) -> Arr:
    """An fp32 (rows, dim) gradient accumulator, written in place."""
    a = arr(x, name, ("f32",), written=True)
    if len(a.shape) != 2 or (ncols is not None and a.shape[1] != ncols):
        raise ValueError("%s: shape %s; pass a 2-d float32 (rows, %s) array"
                         % (name, a.shape, ncols if ncols is not None else "dim"))
    return a


def _grad_options(padding_idx: Optional[int], scale_grad_by_freq: bool) -> _lib.GradOptions:
    return _lib.GradOptions(NO_PADDING if padding_idx is None else int(padding_idx),
                            1 if scale_grad_by_freq else 0)


def _positions(ids: Arr, positions: Optional[Array], offset: int,
               seq_len: Optional[int]) -> Tuple[_lib.Positions, Optional[Arr]]:
    """emb_positions: explicit (the ids' shape and dtype) or computed as
    offset + i % seq_len, seq_len defaulting to the ids' last axis."""
    if positions is not None:
        p = arr(positions, "positions", (ids.kind,))
        expect_shape(p, "positions", ids.shape)
        return _lib.Positions(p.ptr, 0, 1), p
    if seq_len is None:
        seq_len = ids.shape[-1] if ids.shape and ids.shape[-1] > 0 else 1
    return _lib.Positions(None, int(offset), int(seq_len)), None


def lookup(table: Array, ids: Array, *, table_type: Optional[str] = None,
           out_type: Optional[str] = None, out: Optional[Array] = None) -> Array:
    """``out[..., :] = convert(table[ids[...], :])`` (emb_lookup).

    Args:
        table: (vocab, dim) float32, float16 or bfloat16, or a (vocab,
            row_bytes) uint8 array of a quantized format named by `table_type`
            ("q8_0", "q4_0", "q8_rowwise", "q4_K", "q6_K").
        ids: int32 or int64 ids of any shape, each in [0, vocab).
        out_type: "f32", or the table's own float type (a bit copy). Default:
            the table's type for float tables, "f32" for quantized ones.
        out: optional preallocated output of shape ids.shape + (dim,).
    Returns:
        ``out``, shape ids.shape + (dim,).
    """
    t, ttype, vocab, dim = table_of(table, table_type)
    i = ids_arr(ids)
    okind = out_type or (ttype if ttype in FLOAT_TYPES else "f32")
    if okind not in FLOAT_TYPES:
        raise ValueError("out_type=%r; pass one of %s" % (okind, ", ".join(FLOAT_TYPES)))
    o = _out(out, table, i.shape + (dim,), okind, (okind,))
    _lib.check(_lib_.emb_lookup(t.ptr, TYPES[ttype], vocab, dim, i.ptr, INDEX[i.kind], i.size,
                                o.ptr, TYPES[o.kind]))
    return o.obj


def grad(dtable: Array, ids: Array, dout: Array, *, padding_idx: Optional[int] = None,
         scale_grad_by_freq: bool = False) -> Array:
    """``dtable[ids[i]] += widen(dout[i])`` in token order (emb_grad_ex).

    Args:
        dtable: (vocab, dim) float32 accumulator, updated in place.
        ids: int32 or int64 ids of any shape.
        dout: ids.shape + (dim,) float32, float16 or bfloat16.
        padding_idx: a row never written (negative counts from the end).
        scale_grad_by_freq: divide each token's row by its count in the call.
    Returns:
        ``dtable``.
    """
    d = _f32_table(dtable, "dtable")
    i = ids_arr(ids)
    g = _dout(dout, i.shape + (d.shape[1],))
    opt = _grad_options(padding_idx, scale_grad_by_freq)
    _lib.check(_lib_.emb_grad_ex(d.ptr, d.shape[0], d.shape[1], i.ptr, INDEX[i.kind], i.size,
                                 g.ptr, TYPES[g.kind], opt))
    return dtable


def lookup_pos(table: Array, ids: Array, pos_table: Array, *,
               positions: Optional[Array] = None, offset: int = 0,
               seq_len: Optional[int] = None, table_type: Optional[str] = None,
               out: Optional[Array] = None) -> Array:
    """``out[i] = convert(table[ids[i]]) + widen(pos_table[pos(i)])`` in fp32,
    one add, no FMA (emb_lookup_pos: GPT-2's ``wte(ids) + wpe(pos)``).

    Args:
        table: as for `lookup` (any type).
        ids: int32 or int64 ids of any shape.
        pos_table: (max_pos, dim) float32, float16 or bfloat16.
        positions: explicit positions (ids' shape and dtype), or None for
            ``offset + i % seq_len``, seq_len defaulting to ids.shape[-1]
            (a batch of sequences).
        out: optional float32 output, ids.shape + (dim,).
    Returns:
        float32 ``out``.
    """
    t, ttype, vocab, dim = table_of(table, table_type)
    i = ids_arr(ids)
    p = arr(pos_table, "pos_table", FLOAT_TYPES)
    expect_shape(p, "pos_table", (p.shape[0] if p.shape else 0, dim))
    pos, _keep = _positions(i, positions, offset, seq_len)
    o = _out(out, table, i.shape + (dim,), "f32")
    _lib.check(_lib_.emb_lookup_pos(t.ptr, TYPES[ttype], vocab, dim, i.ptr, INDEX[i.kind], i.size,
                                    p.ptr, TYPES[p.kind], p.shape[0], pos, o.ptr))
    return o.obj


def grad_pos(dtable: Array, dpos_table: Array, ids: Array, dout: Array, *,
             positions: Optional[Array] = None, offset: int = 0, seq_len: Optional[int] = None,
             padding_idx: Optional[int] = None, scale_grad_by_freq: bool = False) -> None:
    """The gradient of `lookup_pos` (emb_grad_pos): ``dtable[ids[i]] +=
    widen(dout[i])`` and ``dpos_table[pos(i)] += widen(dout[i])``, each in
    token order, both float32 accumulators updated in place. `padding_idx`
    and `scale_grad_by_freq` apply to the token table only; positions as
    for `lookup_pos`."""
    d = _f32_table(dtable, "dtable")
    dp = _f32_table(dpos_table, "dpos_table", d.shape[1])
    i = ids_arr(ids)
    g = _dout(dout, i.shape + (d.shape[1],))
    pos, _keep = _positions(i, positions, offset, seq_len)
    _lib.check(_lib_.emb_grad_pos(d.ptr, d.shape[0], dp.ptr, dp.shape[0], d.shape[1], i.ptr,
                                  INDEX[i.kind], i.size, pos, g.ptr, TYPES[g.kind],
                                  _grad_options(padding_idx, scale_grad_by_freq)))


def renorm(table: Array, ids: Array, max_norm: float, norm_type: float = 2.0) -> Array:
    """nn.Embedding's max_norm in place (emb_renorm): every distinct row that
    `ids` name whose norm_type-norm exceeds max_norm is scaled once by
    ``(float)(max_norm / (norm + 1e-7))``. float32, float16 or bfloat16
    tables. Returns ``table``."""
    t, ttype, vocab, dim = table_of(table, None, allowed=FLOAT_TYPES, written=True)
    i = ids_arr(ids)
    _lib.check(_lib_.emb_renorm(t.ptr, TYPES[ttype], vocab, dim, i.ptr, INDEX[i.kind], i.size,
                                float(max_norm), float(norm_type)))
    return table


def scan(table: Array, query: Optional[Array], metric: str = "dot", *,
         table_type: Optional[str] = None, out: Optional[Array] = None) -> Array:
    """``scores[r] = metric(table[r], query)`` for every row (emb_scan).

    Args:
        table: as for `lookup` (any type).
        query: (dim,) float32; may be None for "norm2".
        metric: "dot", "l2sq" (sum of squared differences) or "norm2".
    Returns:
        (vocab,) float32 scores.
    """
    t, ttype, vocab, dim = table_of(table, table_type)
    if metric not in _METRICS:
        raise ValueError("metric=%r; pass one of %s" % (metric, ", ".join(_METRICS)))
    qptr = None
    if query is not None:
        q = arr(query, "query", ("f32",))
        expect_shape(q, "query", (dim,))
        qptr = q.ptr
    o = _out(out, table, (vocab,), "f32", name="out")
    _lib.check(_lib_.emb_scan(t.ptr, TYPES[ttype], vocab, dim, qptr, _METRICS[metric], o.ptr))
    return o.obj


class _BagArgs(NamedTuple):
    bags: _lib.Bags
    nbags: int
    ids: Arr
    keep: List[Any]  # arrays the struct points into, alive for the call


def _bags(ids: Array, offsets: Optional[Array], lengths: Optional[Array],
          include_last_offset: bool, per_sample_weights: Optional[Array],
          padding_idx: Optional[int]) -> _BagArgs:
    """emb_bags from PyTorch's arguments: 1-d ids with offsets (or FBGEMM's
    lengths), or 2-d ids (B, L) as B bags of L tokens."""
    i = ids_arr(ids)
    keep: List[Any] = []
    if len(i.shape) == 2:
        if offsets is not None or lengths is not None:
            raise ValueError("ids: 2-d ids are bags of ids.shape[1] tokens each; pass "
                             "offsets=None and lengths=None, or flatten them")
        nb, per = i.shape
        o = arr(np.arange(0, nb * per, per if per else 1, dtype=np.int64)[:nb], "offsets",
                ("i64",))
        keep.append(o)
        off_ptr, len_ptr, otype, last = o.ptr, None, "i64", 0
    elif len(i.shape) == 1:
        if (offsets is None) == (lengths is None):
            raise ValueError("1-d ids need exactly one of offsets= and lengths=")
        if offsets is not None:
            o = arr(offsets, "offsets", ("i32", "i64"))
            if len(o.shape) != 1:
                raise ValueError("offsets: shape %s; pass a 1-d array" % (o.shape,))
            nb = o.shape[0] - (1 if include_last_offset else 0)
            off_ptr, len_ptr, otype = o.ptr, None, o.kind
        else:
            o = arr(lengths, "lengths", ("i32", "i64"))
            if len(o.shape) != 1:
                raise ValueError("lengths: shape %s; pass a 1-d array" % (o.shape,))
            nb, off_ptr, len_ptr, otype = o.shape[0], None, o.ptr, o.kind
        keep.append(o)
        last = 1 if include_last_offset and offsets is not None else 0
    else:
        raise ValueError("ids: shape %s; pass 1-d ids with offsets or lengths, or 2-d "
                         "(bags, tokens) ids" % (i.shape,))
    wptr = None
    if per_sample_weights is not None:
        w = arr(per_sample_weights, "per_sample_weights", ("f32",))
        expect_shape(w, "per_sample_weights", i.shape)
        keep.append(w)
        wptr = w.ptr
    b = _lib.Bags(max(nb, 0), off_ptr, len_ptr, INDEX[otype], last, wptr,
                  NO_PADDING if padding_idx is None else int(padding_idx))
    return _BagArgs(b, max(nb, 0), i, keep)


def _mode(mode: str) -> int:
    if mode not in _MODES:
        raise ValueError("mode=%r; pass 'sum', 'mean' or 'max'" % (mode,))
    return _MODES[mode]


def bag(table: Array, ids: Array, offsets: Optional[Array] = None, *,
        lengths: Optional[Array] = None, mode: str = "mean",
        per_sample_weights: Optional[Array] = None, include_last_offset: bool = False,
        padding_idx: Optional[int] = None, table_type: Optional[str] = None,
        out: Optional[Array] = None, return_argmax: bool = False
        ) -> Union[Array, Tuple[Array, Array]]:
    """nn.EmbeddingBag's forward (emb_bag): each bag's rows pooled in fp32.

    Args:
        table: as for `lookup` (any type).
        ids: 1-d ids with `offsets` (PyTorch's) or `lengths` (FBGEMM's), or
            2-d (bags, tokens) ids.
        mode: "sum", "mean" or "max" (PyTorch's default is "mean").
        per_sample_weights: float32, ids' shape, "sum" only.
        padding_idx: a row that bags skip (not counted by "mean").
        return_argmax: also return the (bags, dim) int64 row ids that gave
            each "max" element (-1 for an empty bag), for `bag_grad`.
    Returns:
        (bags, dim) float32 ``out``, or ``(out, argmax)``.
    """
    t, ttype, vocab, dim = table_of(table, table_type)
    m = _mode(mode)
    ba = _bags(ids, offsets, lengths, include_last_offset, per_sample_weights, padding_idx)
    o = _out(out, table, (ba.nbags, dim), "f32")
    am = None
    if return_argmax:
        if mode != "max":
            raise ValueError("return_argmax=True needs mode='max'")
        am = arr(empty(table, (ba.nbags, dim), "i64"), "argmax", ("i64",))
    _lib.check(_lib_.emb_bag(t.ptr, TYPES[ttype], vocab, dim, ba.ids.ptr, INDEX[ba.ids.kind],
                             ba.ids.size, ba.bags, m, o.ptr, am.ptr if am else None))
    return (o.obj, am.obj) if am else o.obj


def bag_grad(dtable: Array, ids: Array, dout: Array, offsets: Optional[Array] = None, *,
             lengths: Optional[Array] = None, mode: str = "mean",
             per_sample_weights: Optional[Array] = None, include_last_offset: bool = False,
             padding_idx: Optional[int] = None, argmax: Optional[Array] = None) -> Array:
    """The gradient of `bag` accumulated into a float32 `dtable`
    (emb_bag_grad). `dout` is (bags, dim) float32, float16 or bfloat16;
    "max" needs the `argmax` that `bag(..., return_argmax=True)` gave.
    Returns ``dtable``."""
    d = _f32_table(dtable, "dtable")
    m = _mode(mode)
    ba = _bags(ids, offsets, lengths, include_last_offset, per_sample_weights, padding_idx)
    g = _dout(dout, (ba.nbags, d.shape[1]))
    amptr = None
    if mode == "max":
        if argmax is None:
            raise ValueError("mode='max' needs argmax= (from bag(..., return_argmax=True))")
        a = arr(argmax, "argmax", ("i64",))
        expect_shape(a, "argmax", (ba.nbags, d.shape[1]))
        amptr = a.ptr
    _lib.check(_lib_.emb_bag_grad(d.ptr, d.shape[0], d.shape[1], ba.ids.ptr, INDEX[ba.ids.kind],
                                  ba.ids.size, ba.bags, m, amptr, g.ptr, TYPES[g.kind]))
    return dtable


def bag_update(table: Array, ids: Array, dout: Array, offsets: Optional[Array] = None, *,
               lr: float, optimizer: str = "sgd", eps: float = 0.0, h: Optional[Array] = None,
               coalesce: bool = False, lengths: Optional[Array] = None, mode: str = "sum",
               per_sample_weights: Optional[Array] = None, include_last_offset: bool = False,
               padding_idx: Optional[int] = None) -> Array:
    """A sum or mean bag's backward fused with an optimizer step
    (emb_bag_update): the table is updated in place, no gradient table.

    Args:
        table: (vocab, dim) float32, float16 or bfloat16, updated in place.
        dout: (bags, dim) float32.
        lr: learning rate (finite, >= 0).
        optimizer: "sgd" (``W = fmaf(-lr, g, W)``) or "rowwise_adagrad"
            (needs `h`, (vocab,) float32 accumulators, and `eps`).
        coalesce: False: one update per occurrence in token order (PyTorch's
            SGD on a sparse gradient); True: duplicates summed first.
    Returns:
        ``table``.
    """
    t, ttype, vocab, dim = table_of(table, None, allowed=FLOAT_TYPES, written=True)
    m = _mode(mode)
    if optimizer not in _OPTIMIZERS:
        raise ValueError("optimizer=%r; pass 'sgd' or 'rowwise_adagrad'" % (optimizer,))
    ba = _bags(ids, offsets, lengths, include_last_offset, per_sample_weights, padding_idx)
    g = arr(dout, "dout", ("f32",))
    expect_shape(g, "dout", (ba.nbags, dim))
    hptr = None
    if h is not None:
        ha = arr(h, "h", ("f32",), written=True)
        expect_shape(ha, "h", (vocab,))
        hptr = ha.ptr
    elif optimizer == "rowwise_adagrad":
        raise ValueError("optimizer='rowwise_adagrad' needs h=, a (vocab,) float32 array of "
                         "accumulators (zeros to start)")
    step = _lib.Step(_OPTIMIZERS[optimizer], float(lr), float(eps), hptr, 1 if coalesce else 0)
    _lib.check(_lib_.emb_bag_update(t.ptr, TYPES[ttype], vocab, dim, ba.ids.ptr,
                                    INDEX[ba.ids.kind], ba.ids.size, ba.bags, m, g.ptr, step))
    return table
