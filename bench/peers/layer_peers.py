#!/usr/bin/env python3
"""layer_peers.py - the embedding layer as models use it, next to PyTorch:
GPT-2's wte(ids) + wpe(pos) forward and backward against emb_lookup_pos /
emb_grad_pos, and nn.Embedding's padding_idx, scale_grad_by_freq and
max_norm against emb_grad_ex / emb_renorm. Every comparison is checked for
exactness first (bits, or the difference reported in ulps where the
definitions differ), then timed in the same process, interleaved, as
medians; the ratios go to results/peers-layer.md.

Exit status: 0 done, 1 a check failed, 3 no torch here (make check: skip)."""

import argparse
import ctypes
import datetime
import os
import platform
import statistics
import sys
import time

# PyTorch's OpenMP threads spin for milliseconds after each parallel region
# unless told otherwise; beside them the library's second thread finds its
# CPU taken (docs/python.md), so a T = 2 variant timed after a PyTorch one
# loses whatever the spin takes. The variable is read when libgomp loads,
# so it is set before torch is imported; one set by the caller is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# The load before this script's own work (importing torch, the exactness
# checks, the timing itself): read when the file is written, it counted
# the script's minutes of timing as other load.
try:
    LOAD_BEFORE = "%.2f %.2f %.2f" % os.getloadavg()
except OSError:
    LOAD_BEFORE = "unknown"

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("layer_peers.py: SKIPPED: this Python has no torch", file=sys.stderr)
    sys.exit(3)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from embsimd_lib import Embsimd, find_library  # noqa: E402

EMB_F32, EMB_I64 = 0, 1
NO_PADDING = -(2 ** 63)


class Positions(ctypes.Structure):
    _fields_ = [("ids", ctypes.c_void_p), ("offset", ctypes.c_int64), ("seq_len", ctypes.c_int64)]


class GradOptions(ctypes.Structure):
    _fields_ = [("padding_idx", ctypes.c_int64), ("scale_grad_by_freq", ctypes.c_int)]


class Layer(Embsimd):
    """The layer's entry points on torch tensors (f32 tables, int64 ids)."""

    def __init__(self, path):
        super().__init__(path)
        lib, i64, vp, i32 = self.lib, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int
        lib.emb_lookup_pos.argtypes = [vp, i32, i64, i64, vp, i32, i64, vp, i32, i64,
                                       ctypes.POINTER(Positions), vp]
        lib.emb_grad_pos.argtypes = [vp, i64, vp, i64, i64, vp, i32, i64,
                                     ctypes.POINTER(Positions), vp, i32,
                                     ctypes.POINTER(GradOptions)]
        lib.emb_grad_ex.argtypes = [vp, i64, i64, vp, i32, i64, vp, i32,
                                    ctypes.POINTER(GradOptions)]
        lib.emb_renorm.argtypes = [vp, i32, i64, i64, vp, i32, i64, ctypes.c_double,
                                   ctypes.c_double]
        lib.emb_grad.argtypes = [vp, i64, i64, vp, i32, i64, vp, i32]
        for f in (lib.emb_lookup_pos, lib.emb_grad_pos, lib.emb_grad_ex, lib.emb_renorm,
                  lib.emb_grad):
            f.restype = ctypes.c_int

    def lookup_pos(self, W, ids, P, seq_len, out):
        pos = Positions(None, 0, seq_len)
        self._ok(self.lib.emb_lookup_pos(W.data_ptr(), EMB_F32, W.shape[0], W.shape[1],
                                         ids.data_ptr(), EMB_I64, ids.numel(), P.data_ptr(),
                                         EMB_F32, P.shape[0], ctypes.byref(pos), out.data_ptr()),
                 "emb_lookup_pos")

    def lookup64(self, W, ids, out):
        self._ok(self.lib.emb_lookup(W.data_ptr(), EMB_F32, W.shape[0], W.shape[1],
                                     ids.data_ptr(), EMB_I64, ids.numel(), out.data_ptr(),
                                     EMB_F32), "emb_lookup")

    def grad64(self, dW, ids, dy):
        self._ok(self.lib.emb_grad(dW.data_ptr(), dW.shape[0], dW.shape[1], ids.data_ptr(),
                                   EMB_I64, ids.numel(), dy.data_ptr(), EMB_F32), "emb_grad")

    def grad_pos(self, dW, dP, ids, seq_len, dy, padding_idx=NO_PADDING, scale=0):
        pos, opt = Positions(None, 0, seq_len), GradOptions(padding_idx, scale)
        self._ok(self.lib.emb_grad_pos(dW.data_ptr(), dW.shape[0], dP.data_ptr(), dP.shape[0],
                                       dW.shape[1], ids.data_ptr(), EMB_I64, ids.numel(),
                                       ctypes.byref(pos), dy.data_ptr(), EMB_F32,
                                       ctypes.byref(opt)), "emb_grad_pos")

    def grad_ex(self, dW, ids, dy, padding_idx=NO_PADDING, scale=0):
        opt = GradOptions(padding_idx, scale)
        self._ok(self.lib.emb_grad_ex(dW.data_ptr(), dW.shape[0], dW.shape[1], ids.data_ptr(),
                                      EMB_I64, ids.numel(), dy.data_ptr(), EMB_F32,
                                      ctypes.byref(opt)), "emb_grad_ex")

    def renorm(self, W, ids, max_norm, norm_type):
        self._ok(self.lib.emb_renorm(W.data_ptr(), EMB_F32, W.shape[0], W.shape[1], ids.data_ptr(),
                                     EMB_I64, ids.numel(), max_norm, norm_type), "emb_renorm")


def ordered(t):
    """f32 bits as integers ordered like the floats: ulps are differences."""
    b = t.contiguous().view(torch.int32).to(torch.int64)
    return torch.where(b < 0, -(b & 0x7FFFFFFF), b)


def ulps(a, b):
    """(elements whose bits differ, largest distance in ulps)."""
    differ = int((a.view(torch.int32) != b.view(torch.int32)).sum())
    return differ, int((ordered(a) - ordered(b)).abs().max()) if differ else 0


class Shape:
    def __init__(self, vocab, dim, max_pos, tokens, seed):
        self.vocab, self.dim, self.max_pos, self.tokens = vocab, dim, max_pos, tokens
        self.seq = min(max_pos, tokens)
        g = torch.Generator().manual_seed(seed)
        self.W = torch.randn(vocab, dim, generator=g) * 0.02
        self.P = torch.randn(max_pos, dim, generator=g) * 0.01
        # Zipf-like token frequencies: repeats, as real text has.
        ranks = torch.arange(1, vocab + 1, dtype=torch.float64)
        self.ids = torch.multinomial(1.0 / ranks, tokens, replacement=True, generator=g)
        self.pos = torch.arange(tokens) % self.seq
        self.dy = torch.randn(tokens, dim, generator=g)
        self.batch = tokens // self.seq

    def name(self):
        return "%d x %d, %d positions, N = %d" % (self.vocab, self.dim, self.max_pos, self.tokens)


class Report:
    def __init__(self):
        self.checks, self.failed = [], 0

    def check(self, what, ok, detail):
        self.checks.append((what, "exact" if ok is True else ok, detail))
        if ok is False:
            self.failed += 1
        print("  %-58s %s" % (what, "exact" if ok is True else ok if ok else "DIFFERS: " + detail))


def check_exactness(emb, s, rep):
    """Every pair compared before anything is timed."""
    W, P, ids, pos, dy = s.W, s.P, s.ids, s.pos, s.dy
    ours = torch.empty(s.tokens, s.dim)
    emb.lookup_pos(W, ids, P, s.seq, ours)
    theirs = F.embedding(ids, W) + F.embedding(pos, P)
    rep.check("forward: emb_lookup_pos == wte(ids) + wpe(pos)", torch.equal(
        ours.view(torch.int32), theirs.view(torch.int32)), "")
    split = torch.empty(s.tokens, s.dim)
    lookup_then_add(emb, s, split)
    rep.check("forward: emb_lookup then an add pass == emb_lookup_pos",
              torch.equal(split.view(torch.int32), ours.view(torch.int32)), "")

    Wg, Pg = W.clone().requires_grad_(), P.clone().requires_grad_()
    (F.embedding(ids, Wg) + F.embedding(pos, Pg)).backward(dy)
    dW, dP = torch.zeros_like(W), torch.zeros_like(P)
    emb.grad_pos(dW, dP, ids, s.seq, dy)
    same = torch.equal(dW.view(torch.int32), Wg.grad.view(torch.int32)) and torch.equal(
        dP.view(torch.int32), Pg.grad.view(torch.int32))
    rep.check("backward: emb_grad_pos == autograd of wte(ids) + wpe(pos)", same,
              "dW %s, dP %s" % (ulps(dW, Wg.grad), ulps(dP, Pg.grad)))
    iW, iP = torch.zeros_like(W), torch.zeros_like(P)
    iW.index_add_(0, ids, dy)
    iP.index_add_(0, pos, dy)
    rep.check("backward: emb_grad_pos == index_add_ into both tables",
              torch.equal(dW.view(torch.int32), iW.view(torch.int32)) and
              torch.equal(dP.view(torch.int32), iP.view(torch.int32)), "")

    pad = int(ids[0])  # a row that occurs
    Wg = W.clone().requires_grad_()
    F.embedding(ids, Wg, padding_idx=pad).backward(dy)
    mine = torch.zeros_like(W)
    emb.grad_ex(mine, ids, dy, padding_idx=pad)
    rep.check("padding_idx=%d: emb_grad_ex == F.embedding(padding_idx).backward" % pad,
              torch.equal(mine.view(torch.int32), Wg.grad.view(torch.int32)),
              "%s" % (ulps(mine, Wg.grad),))

    Wg = W.clone().requires_grad_()
    F.embedding(ids, Wg, scale_grad_by_freq=True).backward(dy)
    mine = torch.zeros_like(W)
    emb.grad_ex(mine, ids, dy, scale=1)
    differ, most = ulps(mine, Wg.grad)
    # PyTorch adds fma(dy, (float)(1.0 / c), acc); we add dy / c. The two
    # agree wherever 1 / c is exact: rows named 1, 2, 4, ... times.
    counts = torch.bincount(ids, minlength=s.vocab)
    pow2 = (counts & (counts - 1)) == 0
    rep.check("scale_grad_by_freq, rows named 2^k times: emb_grad_ex == PyTorch",
              torch.equal(mine[pow2].view(torch.int32), Wg.grad[pow2].view(torch.int32)),
              "%s" % (ulps(mine[pow2], Wg.grad[pow2]),))
    rep.check("scale_grad_by_freq, all rows: emb_grad_ex vs PyTorch",
              True if differ == 0 else "%d of %d elements differ (rows named 3, 5, 6, ... "
              "times), at most %d ulp" % (differ, mine.numel(), most), "")

    for p in (2.0, 1.0):
        max_norm = float(W.norm(p=p, dim=1).median())
        theirs = W.clone()
        F.embedding(ids, theirs, max_norm=max_norm, norm_type=p)
        mine = W.clone()
        emb.renorm(mine, ids, max_norm, p)
        differ, most = ulps(mine, theirs)
        rep.check("max_norm (p = %g): emb_renorm vs embedding_renorm_" % p,
                  True if differ == 0 else "%d of %d elements differ, at most %d ulp" % (
                      differ, mine.numel(), most), "")


def lookup_then_add(emb, s, out):
    """emb_lookup, then a second pass adding each sequence's position rows
    with the library's own gradient kernel (one fp32 add each)."""
    emb.lookup64(s.W, s.ids, out)
    for b in range(s.batch):
        emb.grad64(out[b * s.seq:(b + 1) * s.seq], s.arange_seq, s.P[:s.seq])


def variants(emb, s):
    """name -> (untimed prep or None, timed call)."""
    W, P, ids, dy = s.W, s.P, s.ids, s.dy
    out = torch.empty(s.tokens, s.dim)
    ids2d, pos_row = ids.view(s.batch, s.seq), torch.arange(s.seq)
    dW, dP = torch.zeros_like(W), torch.zeros_like(P)
    Wg, Pg = W.clone().requires_grad_(), P.clone().requires_grad_()
    # The padding check's own cost: a padding row no token names (one that
    # tokens name is skipped, which only saves time).
    pad = int((torch.bincount(ids, minlength=s.vocab) == 0).nonzero()[0])

    def torch_fwd():  # GPT-2: tok_emb + pos_emb, the position rows broadcast
        return F.embedding(ids2d, W) + F.embedding(pos_row, P)

    def torch_fwd_out():  # the strongest form: preallocated, in place
        torch.index_select(W, 0, ids, out=out)
        out.view(s.batch, s.seq, s.dim).add_(P[:s.seq])

    def torch_bwd_prep():
        Wg.grad, Pg.grad = None, None
        return (F.embedding(ids2d, Wg) + F.embedding(pos_row, Pg))

    state = {}

    def torch_bwd():
        state["y"].backward(dy.view(s.batch, s.seq, s.dim))

    return {
        "fwd/embsimd fused": (None, lambda: emb.lookup_pos(W, ids, P, s.seq, out)),
        "fwd/embsimd lookup + add pass": (None, lambda: lookup_then_add(emb, s, out)),
        "fwd/torch wte(ids) + wpe(pos)": (None, torch_fwd),
        "fwd/torch index_select(out=) + add_": (None, torch_fwd_out),
        "bwd/embsimd fused": (None, lambda: emb.grad_pos(dW, dP, ids, s.seq, dy)),
        "bwd/embsimd two emb_grad": (None, lambda: (emb.grad64(dW, ids, dy),
                                                    emb.grad64(dP, s.pos, dy))),
        "bwd/torch autograd": (lambda: state.__setitem__("y", torch_bwd_prep()), torch_bwd),
        "bwd/torch index_add_ x2": (None, lambda: (dW.index_add_(0, ids, dy),
                                                   dP.index_add_(0, s.pos, dy))),
        "grad/embsimd plain": (None, lambda: emb.grad_ex(dW, ids, dy)),
        "grad/embsimd padding_idx": (None, lambda: emb.grad_ex(dW, ids, dy, padding_idx=pad)),
        "bwd/embsimd fused, padding_idx": (None, lambda: emb.grad_pos(dW, dP, ids, s.seq, dy,
                                                                      padding_idx=pad)),
    }


# Untimed calls of a variant before its timed one. On an Intel Xeon (KVM
# family 6 model 167, 2 MiB L2, a large L3 that keeps a line only when L2
# evicts it) one was not enough after the backward variants: the fused
# forward's timed call, straight after one untimed call, took 3.9 ms
# against 2.7 ms in a loop of itself, and 2.9 ms after three; emb_lookup
# 3.5 against 1.7 and 1.8 (T = 1, medians of 15, 2026-12-06). The variant
# that follows the backward in the round paid for it; the one after it
# found the rows its predecessor had brought in.
WARM_CALLS = 3


def time_all(v, reps, warm=WARM_CALLS):
    """Interleaved: every variant once per round, medians in ms. Each timed
    call follows `warm` untimed calls of the same variant, so every variant
    is timed in the cache state its own previous calls leave (as in a loop
    of it). Timed straight after the variant before it in the round, a
    variant inherited that one's cache: the separate add pass ran after the
    fused lookup had brought the token and position rows in, and the fused
    lookup after a backward had filled the cache with dirty lines, which
    made the fused forward 0.96-1.04x at T = 1 on Zen 4 where it is 1.30x
    in a loop of either. One untimed call is not always enough: see
    WARM_CALLS."""
    times = {k: [] for k in v}
    for name, (prep, call) in v.items():  # warm-up, thread pools started
        if prep:
            prep()
        call()
    for _ in range(reps):
        for name, (prep, call) in v.items():
            for _ in range(warm):
                if prep:
                    prep()
                call()
            if prep:
                prep()
            t = time.perf_counter()
            call()
            times[name].append((time.perf_counter() - t) * 1e3)
    return {k: statistics.median(x) for k, x in times.items()}


TARGETS = [
    ("fused forward vs emb_lookup + a separate add pass", "fwd/embsimd lookup + add pass",
     "fwd/embsimd fused", ">= 1.25x"),
    ("fused forward vs PyTorch wte(ids) + wpe(pos)", "fwd/torch wte(ids) + wpe(pos)",
     "fwd/embsimd fused", ">= 2x"),
    ("fused forward vs PyTorch index_select(out=) + add_ (strongest)",
     "fwd/torch index_select(out=) + add_", "fwd/embsimd fused", "(no target)"),
    ("fused backward vs PyTorch's backward of the graph", "bwd/torch autograd",
     "bwd/embsimd fused", ">= 5x"),
    ("fused backward vs index_add_ into both tables", "bwd/torch index_add_ x2",
     "bwd/embsimd fused", ">= 1.3x"),
    ("fused backward vs two emb_grad calls", "bwd/embsimd two emb_grad", "bwd/embsimd fused",
     ">= 1.15x"),
    ("padding_idx (a row no token names): gradient time / plain", "grad/embsimd padding_idx",
     "grad/embsimd plain", "<= 1.03"),
    ("padding_idx (a row no token names): fused backward time / plain",
     "bwd/embsimd fused, padding_idx", "bwd/embsimd fused", "<= 1.03"),
]


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lib", help="libembsimd.so (default: ./src/.libs/libembsimd.so)")
    ap.add_argument("--build-dir", help="the build tree holding src/.libs/libembsimd.so")
    ap.add_argument("--threads", default="1,2", help="thread counts (default 1,2)")
    ap.add_argument("--reps", type=int, default=31, help="timed rounds (default 31)")
    ap.add_argument("--warm", type=int, default=WARM_CALLS,
                    help="untimed calls of a variant before each timed one (default %d)"
                    % WARM_CALLS)
    ap.add_argument("--quick", action="store_true",
                    help="a small shape, exactness checks only (what make check runs)")
    ap.add_argument("--results", default=None, help="write DIR/peers-layer.md")
    a = ap.parse_args()
    if a.warm < 1 or a.reps < 1:
        ap.error("--warm and --reps must be at least 1 (got %d and %d)" % (a.warm, a.reps))
    path, tried = find_library(a.lib, a.build_dir)
    if path is None:
        print("layer_peers.py: no libembsimd.so; tried: " + ", ".join(tried), file=sys.stderr)
        return 1
    emb = Layer(path)
    s = Shape(1000, 64, 32, 256, 1) if a.quick else Shape(50257, 768, 1024, 8192, 1)
    s.arange_seq = torch.arange(s.seq)
    rep = Report()
    print("layer_peers: %s; embsimd %s (%s), torch %s" % (s.name(), emb.version, emb.active(),
                                                           torch.__version__))
    check_exactness(emb, s, rep)
    if rep.failed:
        print("layer_peers: %d exactness check(s) failed: nothing timed" % rep.failed)
        return 1
    if a.quick:
        return 0
    rows = []
    for t in [int(x) for x in a.threads.split(",")]:
        torch.set_num_threads(t)
        emb.set_threads(t)
        print("timing at %d thread(s), %d rounds ..." % (t, a.reps), flush=True)
        med = time_all(variants(emb, s), a.reps, a.warm)
        rows.append((t, med))
        for what, base, ours, target in TARGETS:
            print("  %-62s %6.2fx  (%s)" % (what, med[base] / med[ours], target))
    if a.results:
        write_md(a.results, emb, s, rep, rows, a.reps, a.warm)
    return 0


def write_md(results, emb, s, rep, rows, reps, warm):
    os.makedirs(results, exist_ok=True)
    path = os.path.join(results, "peers-layer.md")
    with open(path, "w") as f:
        f.write("# The embedding layer next to PyTorch\n\n")
        f.write("Written by `bench/peers/layer_peers.py` (`make compare-peers`).\n\n")
        f.write("| context | |\n| --- | --- |\n")
        f.write("| date (UTC) | %s |\n" % datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"))
        f.write("| CPU | %s, %d online CPUs, load average before: %s |\n" % (
            cpu_model(), os.cpu_count(), LOAD_BEFORE))
        f.write("| embsimd | %s, implementation %s, %s |\n" % (emb.version, emb.active(),
                                                               emb.path))
        f.write("| PyTorch | %s (%s), intra-op threads as each row says |\n" % (
            torch.__version__, torch.__file__))
        f.write("| shape | GPT-2: %s, %d sequences of %d, f32, int64 ids (Zipf-like), "
                "positions i %% %d |\n" % (s.name(), s.batch, s.seq, s.seq))
        f.write("| method | same process, every variant once per round, %d rounds, "
                "each timed call right after %s of the same variant, "
                "medians of wall time; OMP_WAIT_POLICY=%s |\n\n" % (
                    reps, "an untimed call" if warm == 1 else "%d untimed calls" % warm,
                    os.environ.get("OMP_WAIT_POLICY")))
        f.write("## Exactness, checked before timing\n\n| comparison | result |\n| --- | --- |\n")
        for what, ok, detail in rep.checks:
            f.write("| %s | %s |\n" % (what, ok if ok != "exact" else "bit-identical"))
        f.write("\n## Same-run ratios (times the baseline takes over ours)\n\n")
        f.write("| figure | target | %s |\n| --- | --- | %s |\n" % (
            " | ".join("T=%d" % t for t, _ in rows), " | ".join("---" for _ in rows)))
        for what, base, ours, target in TARGETS:
            f.write("| %s | %s | %s |\n" % (what, target, " | ".join(
                "%.2fx" % (m[base] / m[ours]) for _, m in rows)))
        f.write("\n## Medians (ms per call)\n\n| variant | %s |\n| --- | %s |\n" % (
            " | ".join("T=%d" % t for t, _ in rows), " | ".join("---" for _ in rows)))
        for name in rows[0][1]:
            f.write("| %s | %s |\n" % (name, " | ".join("%.3f" % m[name] for _, m in rows)))
        f.write("\nWhat the PyTorch rows include that ours do not: `wte(ids) + wpe(pos)` "
                "allocates its output; autograd's backward allocates and zeroes fresh V x D "
                "and positions x D gradients (`zero_grad(set_to_none=True)`, PyTorch's default), "
                "ours adds into existing ones. `index_add_` adds into existing tables, as ours.\n")
    print("layer_peers: wrote %s" % path)


if __name__ == "__main__":
    sys.exit(main())
