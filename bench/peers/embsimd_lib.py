"""embsimd_lib.py - the built libembsimd.so through ctypes: lookup and grad
on torch tensors' memory, the implementation list, the thread count. Used to
compare a peer's results with ours bit for bit, without a Python extension."""

import ctypes
import os

try:  # the numpy users (gguf, ggml, the real table) have no torch
    import torch
except ImportError:
    torch = None

EMB_OK = 0
# emb_type and emb_index of embsimd.h.
EMB_TYPES = {"f32": 0, "f16": 1, "bf16": 2, "q8_0": 3, "q4_0": 4, "q8_rowwise": 5,
             "q4_K": 6, "q6_K": 7}
EMB_INDEX_NAMES = {"i32": 0, "i64": 1}
if torch is not None:
    EMB_INDEX = {torch.int32: 0, torch.int64: 1}
    TORCH_TYPES = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}


def find_library(lib=None, build_dir=None):
    """The path to use, and a list of the places tried (for the error)."""
    tried = []
    candidates = []
    if lib:
        candidates.append(("--lib", lib))
    elif os.environ.get("EMBSIMD_LIB"):
        candidates.append(("EMBSIMD_LIB", os.environ["EMBSIMD_LIB"]))
    else:
        for d in [build_dir] if build_dir else [".", os.getcwd()]:
            candidates.append(("--build-dir", os.path.join(d, "src", ".libs", "libembsimd.so")))
    for how, path in candidates:
        if os.path.isfile(path):
            return path, tried
        tried.append("%s (%s)" % (path, how))
    return None, tried


class Embsimd:
    """The library's public entry points used here."""

    def __init__(self, path):
        lib = ctypes.CDLL(os.path.abspath(path))
        i64, vp = ctypes.c_int64, ctypes.c_void_p
        i32 = ctypes.c_int
        lib.emb_lookup_f32.argtypes = [vp, i64, i64, vp, i64, vp]
        lib.emb_grad_f32.argtypes = [vp, i64, i64, vp, i64, vp]
        lib.emb_lookup.argtypes = [vp, i32, i64, i64, vp, i32, i64, vp, i32]
        for f in (lib.emb_lookup_f32, lib.emb_grad_f32, lib.emb_lookup, lib.emb_use_impl,
                  lib.emb_set_num_threads):
            f.restype = ctypes.c_int
        for f in (lib.emb_strerror, lib.emb_last_error, lib.emb_impl_name,
                  lib.emb_impl_active, lib.emb_version, lib.emb_impl_unavailable_reason):
            f.restype = ctypes.c_char_p
        lib.emb_strerror.argtypes = [ctypes.c_int]
        lib.emb_impl_name.argtypes = [ctypes.c_int]
        lib.emb_impl_available.argtypes = [ctypes.c_int]
        lib.emb_impl_unavailable_reason.argtypes = [ctypes.c_int]
        lib.emb_use_impl.argtypes = [ctypes.c_char_p]
        lib.emb_set_num_threads.argtypes = [ctypes.c_int]
        self.lib = lib
        self.path = os.path.abspath(path)
        self.version = lib.emb_version().decode()

    def impls(self):
        """Names of the implementations this CPU runs, best first."""
        lib = self.lib
        return [lib.emb_impl_name(i).decode() for i in range(lib.emb_impl_count())
                if lib.emb_impl_available(i)]

    def active(self):
        name = self.lib.emb_impl_active()
        return name.decode() if name else "none"

    def _ok(self, status, what):
        if status != EMB_OK:
            raise RuntimeError("%s: %s: %s" % (what, self.lib.emb_strerror(status).decode(),
                                               self.lib.emb_last_error().decode()))

    def set_threads(self, threads):
        """The implementation stays the library's choice: the best, or the
        one $EMBSIMD_IMPL names."""
        self._ok(self.lib.emb_set_num_threads(threads), "emb_set_num_threads(%d)" % threads)

    def use_impl(self, name):
        """Select an implementation by name ("auto": the best)."""
        self._ok(self.lib.emb_use_impl(name.encode()), "emb_use_impl(%s)" % name)

    @staticmethod
    def _check(table, ids, rows):
        assert table.dtype == torch.float32 and table.is_contiguous() and table.dim() == 2
        assert ids.dtype == torch.int32 and ids.is_contiguous()
        assert rows.dtype == torch.float32 and rows.is_contiguous()
        assert rows.shape == (ids.numel(), table.shape[1])

    def lookup(self, table, ids, out):
        """emb_lookup_f32(table, V, D, ids, N, out) on tensors."""
        self._check(table, ids, out)
        v, d = table.shape
        self._ok(self.lib.emb_lookup_f32(table.data_ptr(), v, d, ids.data_ptr(), ids.numel(),
                                         out.data_ptr()), "emb_lookup_f32")

    def lookup_typed(self, table, ids, out):
        """emb_lookup(table, its type, V, D, ids, their type, N, out, its
        type) on tensors: f32, f16 or bf16, int32 or int64 ids."""
        assert table.is_contiguous() and table.dim() == 2 and ids.is_contiguous()
        assert out.is_contiguous() and out.shape == (ids.numel(), table.shape[1])
        v, d = table.shape
        self._ok(self.lib.emb_lookup(table.data_ptr(), EMB_TYPES[TORCH_TYPES[table.dtype]], v, d,
                                     ids.data_ptr(), EMB_INDEX[ids.dtype], ids.numel(),
                                     out.data_ptr(), EMB_TYPES[TORCH_TYPES[out.dtype]]),
                 "emb_lookup(%s -> %s)" % (TORCH_TYPES[table.dtype], TORCH_TYPES[out.dtype]))

    def lookup_raw(self, table, table_type, vocab, dim, ids, id_type, n, out, out_type):
        """emb_lookup on addresses (numpy's arr.ctypes.data), types by name."""
        self._ok(self.lib.emb_lookup(table, EMB_TYPES[table_type], vocab, dim, ids,
                                     EMB_INDEX_NAMES[id_type], n, out, EMB_TYPES[out_type]),
                 "emb_lookup(%s -> %s)" % (table_type, out_type))

    def grad(self, dtable, ids, dy):
        """emb_grad_f32(dtable, V, D, ids, N, dy): adds into dtable."""
        self._check(dtable, ids, dy)
        v, d = dtable.shape
        self._ok(self.lib.emb_grad_f32(dtable.data_ptr(), v, d, ids.data_ptr(), ids.numel(),
                                       dy.data_ptr()), "emb_grad_f32")
