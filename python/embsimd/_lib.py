"""Finding libembsimd, declaring its entry points for ctypes, and turning a
failed call into an exception that carries the library's own message."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import subprocess
from typing import List, Optional, Tuple

# The version of the C library this package was written against: the
# package refuses a library of another MAJOR.MINOR (its structs and enums
# are what the declarations below assume).
PACKAGE_VERSION = "0.1.0"

_HERE = os.path.dirname(os.path.abspath(__file__))


def _candidates() -> List[Tuple[str, str]]:
    """(path, where it came from), in the order they are tried."""
    env = os.environ.get("EMBSIMD_LIBRARY")
    if env:  # an explicit choice is the only one tried: no silent fallback
        return [(env, "EMBSIMD_LIBRARY")]
    found = [
        # a copy bundled by `make python-install`
        (os.path.join(_HERE, "libembsimd.so"), "bundled with the package"),
        # python/embsimd/ inside a built tree (PYTHONPATH=python)
        (os.path.join(_HERE, "..", "..", "src", ".libs", "libembsimd.so"), "the build tree"),
    ]
    try:
        libdir = subprocess.run(["pkg-config", "--variable=libdir", "embsimd"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
        if libdir:
            found.append((os.path.join(libdir, "libembsimd.so"), "pkg-config embsimd"))
    except (OSError, subprocess.SubprocessError):
        pass
    system = ctypes.util.find_library("embsimd")
    if system:
        found.append((system, "the system's library path"))
    return found


def _load() -> Tuple[ctypes.CDLL, str]:
    tried = []
    for path, how in _candidates():
        if os.path.sep in path and not os.path.exists(path):
            tried.append("%s (%s): no such file" % (path, how))
            continue
        try:
            return ctypes.CDLL(path), os.path.abspath(path) if os.path.sep in path else path
        except OSError as e:
            tried.append("%s (%s): %s" % (path, how, e))
    raise ImportError("embsimd: libembsimd not found. Tried:\n  " + "\n  ".join(tried) +
                      "\nBuild it (./bootstrap && make), install it (make install), or set "
                      "EMBSIMD_LIBRARY=/path/to/libembsimd.so")


lib, path = _load()

_i64, _vp, _int, _f32, _f64 = (ctypes.c_int64, ctypes.c_void_p, ctypes.c_int,
                               ctypes.c_float, ctypes.c_double)
_cstr = ctypes.c_char_p


class GradOptions(ctypes.Structure):
    """emb_grad_options."""
    _fields_ = [("padding_idx", _i64), ("scale_grad_by_freq", _int)]


class Positions(ctypes.Structure):
    """emb_positions."""
    _fields_ = [("ids", _vp), ("offset", _i64), ("seq_len", _i64)]


class Bags(ctypes.Structure):
    """emb_bags."""
    _fields_ = [("nbags", _i64), ("offsets", _vp), ("lengths", _vp), ("offset_type", _int),
                ("include_last_offset", _int), ("weights", _vp), ("padding_idx", _i64)]


class Step(ctypes.Structure):
    """emb_step."""
    _fields_ = [("optimizer", _int), ("lr", _f32), ("eps", _f32), ("h", _vp),
                ("coalesce", _int)]


_P = ctypes.POINTER
_SIGNATURES = {
    # name: (restype, argtypes)
    "emb_lookup": (_int, [_vp, _int, _i64, _i64, _vp, _int, _i64, _vp, _int]),
    "emb_grad_ex": (_int, [_vp, _i64, _i64, _vp, _int, _i64, _vp, _int, _P(GradOptions)]),
    "emb_lookup_pos": (_int, [_vp, _int, _i64, _i64, _vp, _int, _i64, _vp, _int, _i64,
                              _P(Positions), _vp]),
    "emb_grad_pos": (_int, [_vp, _i64, _vp, _i64, _i64, _vp, _int, _i64, _P(Positions), _vp,
                            _int, _P(GradOptions)]),
    "emb_renorm": (_int, [_vp, _int, _i64, _i64, _vp, _int, _i64, _f64, _f64]),
    "emb_scan": (_int, [_vp, _int, _i64, _i64, _vp, _int, _vp]),
    "emb_bag": (_int, [_vp, _int, _i64, _i64, _vp, _int, _i64, _P(Bags), _int, _vp, _vp]),
    "emb_bag_grad": (_int, [_vp, _i64, _i64, _vp, _int, _i64, _P(Bags), _int, _vp, _vp, _int]),
    "emb_bag_update": (_int, [_vp, _int, _i64, _i64, _vp, _int, _i64, _P(Bags), _int, _vp,
                              _P(Step)]),
    "emb_row_bytes": (ctypes.c_size_t, [_int, _i64]),
    "emb_strerror": (_cstr, [_int]),
    "emb_last_error": (_cstr, []),
    "emb_impl_count": (_int, []),
    "emb_impl_name": (_cstr, [_int]),
    "emb_impl_available": (_int, [_int]),
    "emb_impl_unavailable_reason": (_cstr, [_int]),
    "emb_use_impl": (_int, [_cstr]),
    "emb_impl_active": (_cstr, []),
    "emb_set_num_threads": (_int, [_int]),
    "emb_get_num_threads": (_int, []),
    "emb_llc_description": (_cstr, []),
    "emb_schedule_description": (_cstr, []),
    "emb_version": (_cstr, []),
}
for _name, (_res, _args) in _SIGNATURES.items():
    _f = getattr(lib, _name)
    _f.restype, _f.argtypes = _res, _args

version: str = lib.emb_version().decode()
if version.split(".")[:2] != PACKAGE_VERSION.split(".")[:2]:
    raise ImportError("embsimd: %s is libembsimd %s; this package (%s) needs %s.x"
                      % (path, version, PACKAGE_VERSION,
                         ".".join(PACKAGE_VERSION.split(".")[:2])))

# emb_status
OK, EINVAL, ERANGE, ENOMEM, ENOTSUP = range(5)


class Error(RuntimeError):
    """A libembsimd call failed. ``status`` is the emb_status name
    ("EMB_EINVAL", ...), ``str(e)`` the library's message (emb_last_error),
    which names the entry point, the bad value and where it is. Nothing was
    written by the failed call."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = _STATUS_NAMES.get(status, str(status))


class InvalidArgumentError(Error, ValueError):
    """EMB_EINVAL: a bad size, type, pointer, overlap or option."""


class OutOfRangeError(Error, IndexError):
    """EMB_ERANGE: an id or position outside its table."""


class OutOfMemoryError(Error, MemoryError):
    """EMB_ENOMEM: the call's scratch could not be allocated."""


class NotSupportedError(Error, NotImplementedError):
    """EMB_ENOTSUP: an unknown or unavailable implementation."""


_STATUS_NAMES = {EINVAL: "EMB_EINVAL", ERANGE: "EMB_ERANGE", ENOMEM: "EMB_ENOMEM",
                 ENOTSUP: "EMB_ENOTSUP"}
_ERRORS = {EINVAL: InvalidArgumentError, ERANGE: OutOfRangeError, ENOMEM: OutOfMemoryError,
           ENOTSUP: NotSupportedError}


def check(status: int, fallback: str = "") -> None:
    """Raise the exception of a failed call's status; its message is
    emb_last_error() (read on the calling thread, where the call ran)."""
    if status == OK:
        return
    msg = lib.emb_last_error().decode() or fallback or lib.emb_strerror(status).decode()
    raise _ERRORS.get(status, Error)(status, msg)


def cstr(p: Optional[bytes]) -> Optional[str]:
    return p.decode() if p is not None else None
