"""Drop-in replacements for nn.Embedding and nn.EmbeddingBag: subclasses
with the same constructors, `weight` parameter, state_dict keys and
from_pretrained, whose forward and backward run libembsimd's kernels."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from . import _ops

_MODE_CODES = {"sum": 0, "mean": 1, "max": 2}


class Embedding(nn.Embedding):
    """nn.Embedding on libembsimd (CPU tensors; float32, float16 and bfloat16
    weights).

    Forward: a bit copy of the rows, as PyTorch's. Backward (dense): every
    token's row added in token order in fp32 (emb_grad_ex); for f16/bf16
    weights the fp32 sum is rounded to the weight's type once. sparse=True
    gives PyTorch's uncoalesced sparse gradient (indices in token order,
    values the output gradient's rows), which torch.optim.SGD and
    embsimd.torch.SGD / RowWiseAdagrad take. max_norm renormalises the named
    rows in place first (emb_renorm). docs/python.md lists where the bits
    differ from PyTorch's.
    """

    def forward(self, input: Tensor) -> Tensor:
        """Rows of `weight` for int32/int64 ids of any shape: (*, dim)."""
        if self.max_norm is not None:
            with torch.no_grad():
                _ops.embedding_renorm_(self.weight, input, float(self.max_norm),
                                       float(self.norm_type))
        return _ops.embedding(self.weight, input, self.padding_idx, self.scale_grad_by_freq,
                              self.sparse)


class EmbeddingBag(nn.EmbeddingBag):
    """nn.EmbeddingBag on libembsimd (CPU tensors; float32, float16 and
    bfloat16 weights; f16/bf16 bags are pooled in fp32 and rounded to the
    weight's type once).

    Forward: sum, mean (one division by the count) and max as emb_bag
    defines them; 1-d input with offsets, or 2-d (bags, tokens) input. The
    backward gives a dense gradient (emb_bag_grad), or with sparse=True
    (sum and mean) PyTorch's sparse one, each token's row as
    emb_bag_update's step would use it, for torch.optim.SGD or the fused
    optimizers. The gradient of per_sample_weights is not implemented
    (NotImplementedError).
    """

    def forward(self, input: Tensor, offsets: Optional[Tensor] = None,
                per_sample_weights: Optional[Tensor] = None) -> Tensor:
        """(bags, dim) pooled rows, in weight's dtype: 1-d input with offsets
        (bag starts), or 2-d (bags, tokens) input without."""
        if input.dim() == 2:
            if offsets is not None:
                raise ValueError("if input is 2D, then offsets has to be None, as input is "
                                 "treated is a mini-batch of fixed length sequences.")
            nb, per = input.shape
            offsets = torch.arange(0, nb * per, max(per, 1), dtype=input.dtype)[:nb]
            input = input.reshape(-1)
            last = False
        elif input.dim() == 1:
            if offsets is None:
                raise ValueError("offsets has to be a 1D Tensor but got None")
            last = self.include_last_offset
        else:
            raise ValueError("input has to be 1D or 2D Tensor, but got Tensor of dimension %d"
                             % input.dim())
        if per_sample_weights is not None:
            per_sample_weights = per_sample_weights.reshape(-1)
        if self.max_norm is not None:
            with torch.no_grad():
                _ops.embedding_renorm_(self.weight, input, float(self.max_norm),
                                       float(self.norm_type))
        out, _argmax = _ops.embedding_bag(self.weight, input, offsets, _MODE_CODES[self.mode],
                                          per_sample_weights, last, self.padding_idx,
                                          self.sparse)
        # PyTorch's output has the weight's type: the fp32 pooling rounded once
        return out if out.dtype == self.weight.dtype else out.to(self.weight.dtype)


class TokenPositionEmbedding(nn.Module):
    """GPT-2's first layer, ``wte(input_ids) + wpe(position_ids)``, in one
    pass (emb_lookup_pos): each output element is the token row's element
    plus the position row's, one fp32 add, the same bits as the two
    nn.Embedding lookups added in fp32 (the output is float32 for every
    table type). Submodules ``wte`` and ``wpe`` are `Embedding`s (state_dict
    keys ``wte.weight``, ``wpe.weight``); sparse=True gives both tables
    nn.Embedding(sparse=True)'s gradients, for torch.optim.SGD or the fused
    optimizers. padding_idx, max_norm and scale_grad_by_freq are not
    offered here: use two `Embedding` modules for those."""

    def __init__(self, num_embeddings: int, num_positions: int, embedding_dim: int,
                 sparse: bool = False, _wte_weight: Optional[Tensor] = None,
                 _wpe_weight: Optional[Tensor] = None, _freeze: bool = False, device=None,
                 dtype=None) -> None:
        super().__init__()
        self.sparse = sparse
        self.wte = Embedding(num_embeddings, embedding_dim, sparse=sparse, _weight=_wte_weight,
                             _freeze=_freeze, device=device, dtype=dtype)
        self.wpe = Embedding(num_positions, embedding_dim, sparse=sparse, _weight=_wpe_weight,
                             _freeze=_freeze, device=device, dtype=dtype)

    @classmethod
    def from_pretrained(cls, wte: Tensor, wpe: Tensor, freeze: bool = True,
                        sparse: bool = False) -> "TokenPositionEmbedding":
        """The layer whose parameters are these two tables themselves (no
        copy, nothing initialised first), as nn.Embedding.from_pretrained."""
        return cls(wte.shape[0], wpe.shape[0], wte.shape[1], sparse=sparse, _wte_weight=wte,
                   _wpe_weight=wpe, _freeze=freeze)

    def forward(self, input_ids: Tensor, position_ids: Optional[Tensor] = None,
                offset: int = 0) -> Tensor:
        """(*, dim) float32. Positions: position_ids (input_ids' shape and
        dtype), or ``offset + i % input_ids.shape[-1]`` (a batch of sequences;
        offset: a decode step with a KV cache)."""
        seq_len = input_ids.shape[-1] if input_ids.dim() and input_ids.shape[-1] else 1
        return _ops.embedding_pos(self.wte.weight, input_ids, self.wpe.weight, position_ids,
                                  offset, seq_len, self.sparse)
