"""Shared helpers: bit comparison (the only equality these tests use for
floats) and references written from the definitions in docs/."""

import numpy as np
import pytest


def bits(a) -> np.ndarray:
    """The raw bits of a float array (numpy or torch), for exact comparison:
    NaN payloads and -0 count, as they do in the library's contract."""
    if hasattr(a, "detach"):  # a torch tensor
        import torch
        a = a.detach().contiguous()
        view = {torch.float32: torch.int32, torch.float16: torch.int16,
                torch.bfloat16: torch.int16, torch.float64: torch.int64}[a.dtype]
        a = a.view(view).numpy()  # then unsigned, as numpy arrays are below
    a = np.ascontiguousarray(a)
    return a.view({4: np.uint32, 2: np.uint16, 8: np.uint64}[a.dtype.itemsize])


def assert_bits_equal(a, b) -> None:
    ba, bb = bits(a), bits(b)
    assert ba.shape == bb.shape, (ba.shape, bb.shape)
    diff = np.count_nonzero(ba != bb)
    assert diff == 0, "%d of %d elements differ" % (diff, ba.size)


def canonical_sum(terms: np.ndarray) -> np.float32:
    """src/reduce.h's order: term j into running sum j % 32 (fp32, from +0),
    then the 32 sums folded in halves."""
    s = np.zeros(32, dtype=np.float32)
    for j, t in enumerate(np.asarray(terms, dtype=np.float32)):
        s[j % 32] = np.float32(s[j % 32] + t)
    half = 16
    while half >= 1:
        s[:half] = s[:half] + s[half:2 * half]
        half //= 2
    return s[0]


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
