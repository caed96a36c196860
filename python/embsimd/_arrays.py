"""The one place that looks at a caller's arrays: numpy arrays and CPU torch
tensors alike become an `Arr` (address, element kind, shape), without a copy.
Anything the library cannot read in place (strided, another dtype, another
device) is refused with a message that says what to pass instead."""

from __future__ import annotations

import sys
from typing import Any, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from . import _lib

# emb_type and emb_index of embsimd.h
TYPES = {"f32": 0, "f16": 1, "bf16": 2, "q8_0": 3, "q4_0": 4, "q8_rowwise": 5, "q4_K": 6,
         "q6_K": 7}
FLOAT_TYPES = ("f32", "f16", "bf16")
INDEX = {"i32": 0, "i64": 1}
# What error messages call each kind: numpy's and torch's dtype names.
DTYPE_NAMES = {"f32": "float32", "f16": "float16", "bf16": "bfloat16", "i32": "int32",
               "i64": "int64", "u8": "uint8"}

_NUMPY_KINDS = {np.dtype(np.float32): "f32", np.dtype(np.float16): "f16",
                np.dtype(np.int32): "i32", np.dtype(np.int64): "i64",
                np.dtype(np.uint8): "u8"}
try:  # bf16 for numpy users comes from ml_dtypes (optional)
    import ml_dtypes
    _NUMPY_KINDS[np.dtype(ml_dtypes.bfloat16)] = "bf16"
    _NUMPY_BF16: Any = ml_dtypes.bfloat16
except ImportError:  # pragma: no cover - depends on the environment
    _NUMPY_BF16 = None


def _torch_kinds() -> dict:
    import torch
    return {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16",
            torch.int32: "i32", torch.int64: "i64", torch.uint8: "u8"}


class Arr(NamedTuple):
    """A caller's array as the library sees it."""
    ptr: int
    kind: str          # "f32", "f16", "bf16", "i32", "i64", "u8"
    shape: Tuple[int, ...]
    obj: Any           # the caller's object (kept alive for the call)

    @property
    def size(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n


def _is_tensor(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def arr(x: Any, name: str, kinds: Sequence[str], written: bool = False) -> Arr:
    """`x` (numpy array or CPU tensor) as an Arr of one of `kinds`, in place.

    Raises TypeError for another type or dtype, ValueError for a
    non-contiguous array or a tensor on another device."""
    want = " or ".join(DTYPE_NAMES[k] for k in kinds)
    if _is_tensor(x):
        if x.device.type != "cpu":
            raise ValueError("%s: a tensor on %s; embsimd runs on CPU memory: pass %s.cpu()"
                             % (name, x.device, name))
        kind = _torch_kinds().get(x.dtype)
        if kind not in kinds:
            raise TypeError("%s: dtype %s; pass a tensor of %s" % (name, x.dtype, want))
        if not x.is_contiguous():
            raise ValueError("%s: a non-contiguous tensor (shape %s, strides %s); pass "
                             "%s.contiguous()" % (name, tuple(x.shape), x.stride(), name))
        return Arr(x.data_ptr(), kind, tuple(x.shape), x)
    if not isinstance(x, np.ndarray):
        raise TypeError("%s: a %s; pass a numpy array or a CPU torch tensor of %s"
                        % (name, type(x).__name__, want))
    kind = _NUMPY_KINDS.get(x.dtype)
    if kind not in kinds:
        hint = (" (bf16 needs ml_dtypes: pip install ml_dtypes)"
                if "bf16" in kinds and _NUMPY_BF16 is None else "")
        raise TypeError("%s: dtype %s; pass an array of %s%s" % (name, x.dtype, want, hint))
    if not x.flags.c_contiguous:
        raise ValueError("%s: a non-contiguous array (shape %s, strides %s); pass "
                         "np.ascontiguousarray(%s)" % (name, x.shape, x.strides, name))
    if written and not x.flags.writeable:
        raise ValueError("%s: a read-only array; pass a writeable one" % name)
    return Arr(x.ctypes.data, kind, tuple(x.shape), x)



def ids_arr(x: Any, name: str = "ids") -> Arr:
    """Token ids: int32 or int64, any shape (a 0-d array is one token)."""
    return arr(x, name, ("i32", "i64"))


def empty(like: Any, shape: Tuple[int, ...], kind: str) -> Any:
    """A new array of the caller's kind (numpy or torch) for an output."""
    if _is_tensor(like):
        import torch
        return torch.empty(shape, dtype={v: k for k, v in _torch_kinds().items()}[kind])
    if kind == "bf16":
        return np.empty(shape, dtype=_NUMPY_BF16)
    return np.empty(shape, dtype={"f32": np.float32, "f16": np.float16, "i64": np.int64}[kind])


def zeros(like: Any, shape: Tuple[int, ...], kind: str) -> Any:
    """A zeroed array of the caller's kind, for gradients accumulated into."""
    out = empty(like, shape, kind)
    out[...] = 0
    return out


def table_of(x: Any, table_type: Optional[str], name: str = "table",
             allowed: Sequence[str] = tuple(TYPES),
             written: bool = False) -> Tuple[Arr, str, int, int]:
    """A table: (Arr, its emb_type name, vocab, dim).

    f32, f16 and bf16 tables are (vocab, dim) arrays of that dtype; a
    quantized one is a (vocab, row_bytes) uint8 array of its raw blocks with
    `table_type` naming the format (dim follows from the row's bytes)."""
    a = arr(x, name, ("f32", "f16", "bf16", "u8"), written)
    if len(a.shape) != 2:
        raise ValueError("%s: shape %s; pass a 2-d (vocab, dim) array" % (name, a.shape))
    if a.kind == "u8":
        if table_type is None or table_type in FLOAT_TYPES:
            raise TypeError("%s: a uint8 array; name its format with table_type= (one of %s)"
                            % (name, ", ".join(t for t in TYPES if t not in FLOAT_TYPES)))
        t = table_type
        dim = _dim_of_row(t, a.shape[1], name)
    else:
        if table_type is not None and table_type != a.kind:
            raise TypeError("%s: dtype %s but table_type=%r; pass a uint8 array of raw blocks "
                            "for a quantized type, or leave table_type out" % (name, a.kind,
                                                                                table_type))
        t, dim = a.kind, a.shape[1]
    if t not in allowed:
        raise TypeError("%s: type %s; this call takes %s tables" % (name, t, ", ".join(allowed)))
    return a, t, a.shape[0], dim


def _dim_of_row(t: str, row_bytes: int, name: str) -> int:
    if t not in TYPES:
        raise ValueError("table_type=%r is not a type; one of %s" % (t, ", ".join(TYPES)))
    block = {"q8_0": (34, 32), "q4_0": (18, 32), "q4_K": (144, 256), "q6_K": (210, 256)}
    if t == "q8_rowwise":
        dim = row_bytes - 8
    elif row_bytes % block[t][0] == 0:
        dim = row_bytes // block[t][0] * block[t][1]
    else:
        dim = 0
    if dim <= 0 or _lib.lib.emb_row_bytes(TYPES[t], dim) != row_bytes:
        raise ValueError("%s: rows of %d bytes are not whole %s rows" % (name, row_bytes, t))
    return dim


def expect_shape(a: Arr, name: str, shape: Tuple[int, ...]) -> None:
    if a.shape != tuple(shape):
        raise ValueError("%s: shape %s; pass shape %s" % (name, a.shape, tuple(shape)))
