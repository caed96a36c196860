"""Fused sparse optimizers: torch.optim-style classes whose step applies the
sparse gradient of a sparse=True embedding straight to the table with
emb_bag_update, one update per occurrence in token order (or coalesced),
without materialising anything table-sized."""

from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import Tensor

from . import _ops


class _FusedSparse(torch.optim.Optimizer):
    """The shared step: each parameter's uncoalesced sparse gradient (the
    tokens' ids and gradient rows) as bags of one token each."""

    _optimizer = ""

    def _h(self, p: Tensor) -> Tensor:
        return torch.empty((0,), dtype=torch.float32)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        """One step for every parameter that has a gradient. Raises
        ValueError for a dense gradient (make the table sparse=True)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if not g.is_sparse:
                    raise ValueError("%s fuses the sparse step: construct the embedding with "
                                     "sparse=True (or use torch.optim for a dense gradient)"
                                     % type(self).__name__)
                ids = g._indices()[0].contiguous()
                values = g._values()
                if values.dtype != torch.float32:  # f16/bf16 rows widen exactly
                    values = values.float()
                offsets = torch.arange(ids.numel(), dtype=torch.int64)
                _ops.bag_update_(p, self._h(p), ids, offsets, values.contiguous(), 0,
                                 self._optimizer, float(group["lr"]), float(group.get("eps", 0.0)),
                                 bool(group["coalesce"]), False, None)
        return loss


class SGD(_FusedSparse):
    """Plain SGD (no momentum, no weight decay) on sparse=True embeddings:
    ``W[id] = fmaf(-lr, g, W[id])`` per occurrence in token order
    (coalesce=False, bit-identical to torch.optim.SGD on the same sparse
    gradient where docs/python.md says so), or once per distinct row after
    summing its occurrences (coalesce=True)."""

    _optimizer = "sgd"

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, coalesce: bool = False):
        if not lr >= 0.0:
            raise ValueError("Invalid learning rate: %r" % (lr,))
        super().__init__(params, dict(lr=lr, coalesce=coalesce))


class RowWiseAdagrad(_FusedSparse):
    """Row-wise Adagrad (FBGEMM's rowwise_sparse_adagrad_fused) on sparse=True
    embeddings: one fp32 accumulator per row, ``h[id] += mean(g^2)``, then
    ``W[id] = fmaf(-lr / (sqrtf(h[id]) + eps), g, W[id])``; its state is
    ``state[p]["h"]`` (vocab float32)."""

    _optimizer = "rowwise_adagrad"

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, eps: float = 1e-8,
                 coalesce: bool = False):
        if not lr >= 0.0:
            raise ValueError("Invalid learning rate: %r" % (lr,))
        if not eps >= 0.0:
            raise ValueError("Invalid epsilon value: %r" % (eps,))
        super().__init__(params, dict(lr=lr, eps=eps, coalesce=coalesce))

    def _h(self, p: Tensor) -> Tensor:
        state = self.state[p]
        if "h" not in state:
            state["h"] = torch.zeros((p.shape[0],), dtype=torch.float32)
        return state["h"]
