"""embsimd for PyTorch (torch >= 2.4, CPU tensors): the ``torch.ops.embsimd``
operators, the drop-in `Embedding` and `EmbeddingBag` modules, GPT-2's fused
`TokenPositionEmbedding`, and the fused
sparse optimizers `SGD` and `RowWiseAdagrad`."""

from __future__ import annotations

import torch

_have = tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2])
if _have < (2, 4):
    raise ImportError("embsimd.torch needs torch >= 2.4 (torch.library.custom_op); this is "
                      "torch %s. Install one from PyPI into a venv (docs/python.md); the "
                      "numpy API (import embsimd) works without torch." % torch.__version__)

from . import _ops  # noqa: E402  (registers torch.ops.embsimd.*)
from .modules import Embedding, EmbeddingBag, TokenPositionEmbedding  # noqa: E402
from .optim import SGD, RowWiseAdagrad  # noqa: E402

__all__ = ["Embedding", "EmbeddingBag", "TokenPositionEmbedding", "SGD", "RowWiseAdagrad"]
