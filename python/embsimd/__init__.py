"""embsimd: bit-exact token-embedding kernels (libembsimd) from Python.

The operations take numpy arrays (or CPU torch tensors) in place, without a
copy; `embsimd.torch` has the PyTorch ops, the drop-in modules and the fused
optimizers. The library is found as docs/python.md says: $EMBSIMD_LIBRARY,
a copy bundled with the package, the build tree, pkg-config, the system.
"""

from __future__ import annotations

from typing import List, NamedTuple, Optional

from . import _lib
from ._lib import (Error, InvalidArgumentError, NotSupportedError, OutOfMemoryError,
                   OutOfRangeError)
from .ops import bag, bag_grad, bag_update, grad, grad_pos, lookup, lookup_pos, renorm, scan

#: The C library's version (emb_version()); the package's own equals it.
__version__: str = _lib.version
#: The path of the libembsimd that was loaded.
library_path: str = _lib.path


class Implementation(NamedTuple):
    """One implementation the library knows of."""
    name: str
    available: bool
    reason: Optional[str]  # why it cannot run here, None when it can


def implementations() -> List[Implementation]:
    """The implementations this build knows of, best first, with whether this
    CPU runs them and why not."""
    lib = _lib.lib
    return [Implementation(_lib.cstr(lib.emb_impl_name(i)) or "", bool(lib.emb_impl_available(i)),
                           _lib.cstr(lib.emb_impl_unavailable_reason(i)))
            for i in range(lib.emb_impl_count())]


def use_impl(name: Optional[str] = None) -> None:
    """Select the implementation every later call uses, process-wide (None or
    "auto": the best available). Raises NotSupportedError for an unknown or
    unavailable one, changing nothing."""
    _lib.check(_lib.lib.emb_use_impl(None if name is None else name.encode()),
               "emb_use_impl: %r is not an available implementation" % (name,))


def active_impl() -> Optional[str]:
    """The implementation in use, or None when $EMBSIMD_IMPL named one that
    cannot run (every call then fails)."""
    return _lib.cstr(_lib.lib.emb_impl_active())


def set_num_threads(n: int) -> None:
    """Threads later calls may use, process-wide; n <= 0 restores the default
    ($EMBSIMD_NUM_THREADS, else the online CPUs). Results are the same bits
    for every thread count. Beside PyTorch with n > 1, start Python with
    OMP_WAIT_POLICY=PASSIVE so that PyTorch's OpenMP threads do not spin on
    the cores the library's threads need (docs/python.md, "The training
    step")."""
    _lib.check(_lib.lib.emb_set_num_threads(int(n)))


def get_num_threads() -> int:
    """The thread count in effect."""
    return int(_lib.lib.emb_get_num_threads())


def llc_description() -> str:
    """The last-level cache size the kernels use, and where it came from."""
    return _lib.cstr(_lib.lib.emb_llc_description()) or ""


def schedule_description() -> str:
    """The schedule in force (defaults or a tuning file) and why."""
    return _lib.cstr(_lib.lib.emb_schedule_description()) or ""


__all__ = ["lookup", "grad", "lookup_pos", "grad_pos", "renorm", "scan", "bag", "bag_grad",
           "bag_update", "implementations", "use_impl", "active_impl", "set_num_threads",
           "get_num_threads", "llc_description", "schedule_description", "Implementation",
           "Error", "InvalidArgumentError", "OutOfRangeError", "OutOfMemoryError",
           "NotSupportedError", "library_path", "__version__"]
