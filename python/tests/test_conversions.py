"""The wrapper's own conversions: what it refuses (and how it says so), and
that a library error reaches Python with the library's message and nothing
written."""

import numpy as np
import pytest

import embsimd
from conftest import assert_bits_equal


@pytest.fixture
def w():
    return np.arange(40, dtype=np.float32).reshape(10, 4)


def test_non_contiguous_is_refused(w):
    with pytest.raises(ValueError, match=r"ids: a non-contiguous array.*np.ascontiguousarray"):
        embsimd.lookup(w, np.arange(10)[::2])
    with pytest.raises(ValueError, match="table: a non-contiguous"):
        embsimd.lookup(np.asfortranarray(w), np.arange(3))


def test_wrong_dtype_says_what_to_pass(w):
    with pytest.raises(TypeError, match="ids: dtype float64; pass an array of int32 or int64"):
        embsimd.lookup(w, np.zeros(3))
    with pytest.raises(TypeError, match="table: dtype float64; pass an array of float32"):
        embsimd.lookup(w.astype(np.float64), np.zeros(3, np.int64))
    with pytest.raises(TypeError, match="a list; pass a numpy array"):
        embsimd.lookup(w, [1, 2])
    with pytest.raises(TypeError, match="name its format with table_type="):
        embsimd.lookup(np.zeros((2, 34), np.uint8), np.zeros(1, np.int64))


def test_out_of_range_and_negative_ids_write_nothing(w):
    out = np.full((3, 4), 7, np.float32)
    with pytest.raises(embsimd.OutOfRangeError, match=r"emb_lookup: ids\[2\] = 10 is outside "
                                                      r"\[0, 10\)") as e:
        embsimd.lookup(w, np.array([0, 1, 10]), out=out)
    assert e.value.status == "EMB_ERANGE" and isinstance(e.value, IndexError)
    with pytest.raises(embsimd.OutOfRangeError, match=r"ids\[1\] = -1 is outside"):
        embsimd.lookup(w, np.array([0, -1, 2], np.int32), out=out)
    assert (out == 7).all()
    d = np.full((10, 4), 5, np.float32)
    with pytest.raises(embsimd.OutOfRangeError, match=r"emb_grad.*ids\[1\] = 11"):
        embsimd.grad(d, np.array([3, 11]), np.ones((2, 4), np.float32))
    assert (d == 5).all()


def test_zero_dim_ids_and_empty_batch(w):
    assert_bits_equal(embsimd.lookup(w, np.array(3)), w[3])
    assert embsimd.lookup(w, np.zeros((0,), np.int64)).shape == (0, 4)
    assert embsimd.lookup(w, np.zeros((2, 0), np.int64)).shape == (2, 0, 4)
    d = np.zeros_like(w)
    embsimd.grad(d, np.zeros((0,), np.int64), np.zeros((0, 4), np.float32))
    assert not d.any()
    assert embsimd.bag(w, np.zeros((0,), np.int64), np.zeros((0,), np.int64)).shape == (0, 4)


def test_shapes_and_out(w):
    with pytest.raises(ValueError, match=r"dout: shape \(2, 3\); pass shape \(2, 4\)"):
        embsimd.grad(np.zeros_like(w), np.array([1, 2]), np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="read-only"):
        ro = np.zeros((2, 4), np.float32)
        ro.flags.writeable = False
        embsimd.lookup(w, np.array([1, 2]), out=ro)
    out = np.empty((2, 4), np.float32)
    assert embsimd.lookup(w, np.array([1, 2]), out=out) is out


def test_library_validation_reaches_python(w):
    with pytest.raises(embsimd.InvalidArgumentError, match="offsets"):
        embsimd.bag(w, np.array([1, 2, 3]), np.array([1, 2]), mode="sum")
    with pytest.raises(embsimd.InvalidArgumentError, match="lr"):
        embsimd.bag_update(w, np.array([1]), np.ones((1, 4), np.float32), np.array([0]),
                           lr=-1.0)
    with pytest.raises(ValueError, match="mode='bad'"):
        embsimd.bag(w, np.array([1]), np.array([0]), mode="bad")


def test_version_is_the_c_librarys():
    import os
    import re
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.join(here, "..", "..")
    ac = open(os.path.join(root, "configure.ac")).read()
    assert embsimd.__version__ == re.search(r"AC_INIT\(\[embsimd\], \[([^]]+)\]", ac).group(1)
    py = open(os.path.join(here, "..", "pyproject.toml")).read()
    assert re.search(r'^version = "([^"]+)"', py, re.M).group(1) == embsimd.__version__


def test_missing_library_says_where_it_looked(tmp_path):
    import subprocess
    import sys
    env = dict(__import__("os").environ, EMBSIMD_LIBRARY=str(tmp_path / "nope.so"))
    r = subprocess.run([sys.executable, "-c", "import embsimd"], env=env, capture_output=True,
                       text=True)
    assert r.returncode != 0
    assert "nope.so (EMBSIMD_LIBRARY): no such file" in r.stderr
    assert "set EMBSIMD_LIBRARY=/path/to/libembsimd.so" in r.stderr
