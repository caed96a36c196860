"""torch_bag.py - embsimd's EmbeddingBag ops next to PyTorch's: exactness
first (nn.EmbeddingBag forward in sum, mean and max, with and without
per_sample_weights and padding_idx, offsets with include_last_offset either
way; its backward; SGD on a sparse=True embedding; row-wise Adagrad), then
timing, interleaved repetition by repetition: the bag sum against
F.embedding_bag, the fused row-wise Adagrad step against PyTorch's
sparse-gradient path plus its optimizer step (torch.optim.SparseAdam and
Adagrad, and row-wise Adagrad written with torch ops). Writes
results/peers-bag.md and the section of results/peers.md between its
markers. Run by make compare-peers (and make compare-peers-bag)."""

import argparse
import ctypes
import datetime
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import embsimd_lib  # noqa: E402
import reruns  # noqa: E402

BEGIN, END = "<!-- embedding-bag: begin -->", "<!-- embedding-bag: end -->"
MODES = {"sum": 0, "mean": 1, "max": 2}
# emb_type of the tables the fused steps update in place.
TABLE_TYPES = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2}


class Bags(ctypes.Structure):
    _fields_ = [("nbags", ctypes.c_int64), ("offsets", ctypes.c_void_p),
                ("lengths", ctypes.c_void_p), ("offset_type", ctypes.c_int),
                ("include_last_offset", ctypes.c_int), ("weights", ctypes.c_void_p),
                ("padding_idx", ctypes.c_int64)]


class Step(ctypes.Structure):
    _fields_ = [("optimizer", ctypes.c_int), ("lr", ctypes.c_float), ("eps", ctypes.c_float),
                ("h", ctypes.c_void_p), ("coalesce", ctypes.c_int)]


class Lib:
    def __init__(self, path):
        self.e = embsimd_lib.Embsimd(path)
        lib = self.e.lib
        i64, vp, i32 = ctypes.c_int64, ctypes.c_void_p, ctypes.c_int
        lib.emb_bag.argtypes = [vp, i32, i64, i64, vp, i32, i64, ctypes.POINTER(Bags), i32, vp, vp]
        lib.emb_bag_grad.argtypes = [vp, i64, i64, vp, i32, i64, ctypes.POINTER(Bags), i32, vp,
                                     vp, i32]
        lib.emb_bag_update.argtypes = [vp, i32, i64, i64, vp, i32, i64, ctypes.POINTER(Bags),
                                       i32, vp, ctypes.POINTER(Step)]
        for f in (lib.emb_bag, lib.emb_bag_grad, lib.emb_bag_update):
            f.restype = ctypes.c_int
        self.lib = lib

    def bags(self, offsets, nbags, last, weights=None, pad=None):
        b = Bags(nbags, offsets.data_ptr(), None, 1, 1 if last else 0,
                 weights.data_ptr() if weights is not None else None,
                 -(1 << 63) if pad is None else pad)  # EMB_NO_PADDING: INT64_MIN
        return b

    def bag(self, W, ids, b, mode, out, argmax=None):
        st = self.lib.emb_bag(W.data_ptr(), 0, W.shape[0], W.shape[1], ids.data_ptr(), 1,
                              ids.numel(), ctypes.byref(b), MODES[mode], out.data_ptr(),
                              argmax.data_ptr() if argmax is not None else None)
        self.e._ok(st, "emb_bag")

    def grad(self, dW, ids, b, mode, argmax, dout):
        st = self.lib.emb_bag_grad(dW.data_ptr(), dW.shape[0], dW.shape[1], ids.data_ptr(), 1,
                                   ids.numel(), ctypes.byref(b), MODES[mode],
                                   argmax.data_ptr() if argmax is not None else None,
                                   dout.data_ptr(), 0)
        self.e._ok(st, "emb_bag_grad")

    def update(self, W, ids, b, mode, dout, opt, lr, eps=0.0, h=None, coalesce=0):
        s = Step(opt, lr, eps, h.data_ptr() if h is not None else None, coalesce)
        st = self.lib.emb_bag_update(W.data_ptr(), TABLE_TYPES[W.dtype], W.shape[0], W.shape[1],
                                     ids.data_ptr(), 1, ids.numel(), ctypes.byref(b), MODES[mode],
                                     dout.data_ptr(), ctypes.byref(s))
        self.e._ok(st, "emb_bag_update")


def ulps(a, b):
    """Largest distance in fp32 places between two finite tensors, and how
    many elements differ at all (bits)."""
    ia = a.contiguous().view(torch.int32).to(torch.int64)
    ib = b.contiguous().view(torch.int32).to(torch.int64)
    oa = torch.where(ia < 0, -(ia & 0x7FFFFFFF), ia)
    ob = torch.where(ib < 0, -(ib & 0x7FFFFFFF), ib)
    d = (oa - ob).abs()
    return int((ia != ib).sum()), int(d.max()) if d.numel() else 0


def verdict(diff, worst, total):
    return "bit-identical (%d elements)" % total if diff == 0 else \
        "%d of %d elements differ, by at most %d ulp" % (diff, total, worst)


def make_case(g, vocab, dim, nbags, mean_len):
    lens = torch.randint(0, 2 * mean_len + 1, (nbags,), generator=g)
    n = int(lens.sum())
    ids = torch.randint(0, vocab, (n,), generator=g, dtype=torch.int64)
    # Zipf-like repeats: a third of the tokens from the first few rows.
    rep = torch.rand(n, generator=g) < 0.33
    ids[rep] = torch.randint(0, 8, (int(rep.sum()),), generator=g)
    offsets = torch.zeros(nbags + 1, dtype=torch.int64)
    offsets[1:] = torch.cumsum(lens, 0)
    return ids, offsets, n


def exactness(lib, lines):
    g = torch.Generator().manual_seed(20240229)
    vocab, dim, nbags = 1000, 64, 300
    W = (torch.randn(vocab, dim, generator=g) * 4).float()
    ids, offsets, n = make_case(g, vocab, dim, nbags, 12)
    psw = torch.randn(n, generator=g).float()
    # Forward.
    for mode in ("sum", "mean", "max"):
        for weighted in ((False, True) if mode == "sum" else (False,)):
            for last in (False, True):
                for pad in (None, 3):
                    off = offsets if last else offsets[:-1]
                    want = F.embedding_bag(ids, W, off, mode=mode,
                                           per_sample_weights=psw if weighted else None,
                                           include_last_offset=last, padding_idx=pad)
                    out = torch.empty(nbags, dim)
                    lib.bag(W, ids, lib.bags(off.contiguous(), nbags, last,
                                             psw if weighted else None, pad), mode, out)
                    diff, worst = ulps(out, want)
                    lines.append(("forward", "nn.EmbeddingBag mode=%s%s, include_last_offset=%s, "
                                  "padding_idx=%s" % (mode, " + per_sample_weights" if weighted
                                                      else "", last, pad),
                                  verdict(diff, worst, out.numel())))
    # Backward (dense gradient, sparse=False).
    dout = torch.randn(nbags, dim, generator=g).float()
    for mode in ("sum", "mean", "max"):
        for weighted in ((False, True) if mode == "sum" else (False,)):
            Wt = W.clone().requires_grad_(True)
            out = F.embedding_bag(ids, Wt, offsets[:-1], mode=mode,
                                  per_sample_weights=psw if weighted else None)
            out.backward(dout)
            b = lib.bags(offsets[:-1].contiguous(), nbags, False, psw if weighted else None)
            argmax = None
            if mode == "max":
                argmax = torch.empty(nbags, dim, dtype=torch.int64)
                lib.bag(W, ids, b, "max", torch.empty(nbags, dim), argmax)
            dW = torch.zeros(vocab, dim)
            lib.grad(dW, ids, b, mode, argmax, dout)
            diff, worst = ulps(dW, Wt.grad)
            lines.append(("backward", "nn.EmbeddingBag mode=%s%s, weight.grad (dense)" %
                          (mode, " + per_sample_weights" if weighted else ""),
                          verdict(diff, worst, dW.numel())))
    # SGD on a sparse=True embedding bag, one step.
    for mode in ("sum", "mean"):
        emb = torch.nn.EmbeddingBag(vocab, dim, mode=mode, sparse=True)
        with torch.no_grad():
            emb.weight.copy_(W)
        opt = torch.optim.SGD(emb.parameters(), lr=0.05)
        emb(ids, offsets[:-1]).backward(dout)
        opt.step()
        for coalesce in (0, 1):
            mine = W.clone()
            lib.update(mine, ids, lib.bags(offsets[:-1].contiguous(), nbags, False), mode, dout,
                       0, 0.05, coalesce=coalesce)
            diff, worst = ulps(mine, emb.weight.detach())
            lines.append(("SGD", "torch.optim.SGD(lr=0.05) on EmbeddingBag(mode=%s, sparse=True) "
                          "vs emb_bag_update SGD %s" % (mode, "coalesced" if coalesce
                                                        else "per occurrence"),
                          verdict(diff, worst, mine.numel())))
    # Row-wise Adagrad written with torch ops on the coalesced sparse
    # gradient (what a PyTorch user writes; torchrec's RowWiseAdagrad has no
    # sparse gradients), against the coalesced fused step.
    emb = torch.nn.EmbeddingBag(vocab, dim, mode="sum", sparse=True)
    with torch.no_grad():
        emb.weight.copy_(W)
    emb(ids, offsets[:-1]).backward(dout)
    h = torch.zeros(vocab)
    torch_rowwise_adagrad(emb.weight, h, 0.05, 1e-8)
    mine, hm = W.clone(), torch.zeros(vocab)
    lib.update(mine, ids, lib.bags(offsets[:-1].contiguous(), nbags, False), "sum", dout, 1, 0.05,
               1e-8, hm, coalesce=1)
    diff, worst = ulps(mine, emb.weight.detach())
    lines.append(("row-wise Adagrad", "torch ops on the coalesced sparse gradient vs "
                  "emb_bag_update row-wise Adagrad coalesced", verdict(diff, worst, mine.numel())))
    lines.append(("SparseAdam", "torch.optim.SparseAdam: an element-wise Adam; embsimd has no "
                  "Adam step, so no bitwise comparison (timed below as PyTorch's sparse path)",
                  "n/a"))


def torch_rowwise_adagrad(weight, h, lr, eps):
    with torch.no_grad():
        gr = weight.grad.coalesce()
        idx, vals = gr.indices()[0], gr.values()
        h.index_add_(0, idx, vals.pow(2).mean(1))
        step = lr / (h[idx].sqrt() + eps)
        weight.index_add_(0, idx, -vals * step[:, None])
        weight.grad = None


def cpu_capability():
    """PyTorch's ATen CPU dispatch level (AVX2, AVX512, DEFAULT)."""
    for get in (lambda: torch.backends.cpu.get_cpu_capability(),
                lambda: torch._C._get_cpu_capability()):
        try:
            return get()
        except (AttributeError, RuntimeError):
            pass
    cfg = torch.__config__.show()
    for line in cfg.splitlines():
        if "CPU capability usage" in line:
            return line.split(":", 1)[1].strip()
    return "unknown"


def median_time(fn, min_time):
    fn()
    calls, t = 1, 0.0
    while True:
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        t = time.perf_counter() - t0
        if t >= min_time:
            return t / calls
        calls *= 2


def paired_times(fns, reps, min_time):
    """Times each (name, fn) of fns `reps` times, the order reversed every
    other repetition so that no side always runs just after the other:
    {name: [seconds per call, one per repetition]}."""
    times = {name: [] for name, _ in fns}
    for r in range(reps):
        order = list(fns) if r % 2 == 0 else list(reversed(fns))
        for name, fn in order:
            times[name].append(median_time(fn, min_time))
    return times


def steadiest_times(noisy, label, fns, reps, min_time):
    """paired_times, run again while noisy (a reruns.Reruns) asks: the
    kept pass's times, and its cv per name."""
    def measure(again):
        return paired_times(fns, reps, min_time)

    def worst(times):
        return max(reruns.cv(t) for t in times.values())

    def say(text):
        reruns.print_now("torch_bag.py: %s: %s" % (label, text))
    times = noisy.steadiest(measure, worst, say)
    cvs = {name: reruns.cv(t) for name, t in times.items()}
    noisy.count_noisy(cvs.values())
    return times, cvs


def timing(lib, shapes, bag_sizes, threads, reps, min_time, noisy, rows_fused):
    g = torch.Generator().manual_seed(7)
    for vocab, dim in shapes:
        W = torch.empty(vocab, dim)
        W.uniform_(-1, 1, generator=g)
        row = dim * 4
        for L in bag_sizes:
            nbags = max(64, (4 << 20) // (L * row))
            n = nbags * L
            batches = max(1, min(32, min(vocab * row, 64 << 20) // (n * row) + 1))
            all_ids = torch.randint(0, vocab, (batches, n), generator=g, dtype=torch.int64)
            offsets = torch.arange(0, n, L, dtype=torch.int64)
            out = torch.empty(nbags, dim)
            b = lib.bags(offsets, nbags, False)
            for T in threads:
                torch.set_num_threads(T)
                lib.e.set_threads(T)
                k = [0]

                def ours():
                    lib.bag(W, all_ids[k[0] % batches], b, "sum", out)
                    k[0] += 1

                def theirs():
                    F.embedding_bag(all_ids[k[0] % batches], W, offsets, mode="sum")
                    k[0] += 1
                label = "bag sum %d x %d, bags of %d, T=%d" % (vocab, dim, L, T)
                reruns.print_now("torch_bag.py: " + label)
                times, cvs = steadiest_times(noisy, label, [("embsimd", ours), ("torch", theirs)],
                                             reps, min_time)
                mo, mt = statistics.median(times["embsimd"]), statistics.median(times["torch"])
                gb = n * row / 1e9
                rows_fused.append(("bag", vocab, dim, L, T, gb / mo, gb / mt, mt / mo,
                                   cvs["embsimd"], cvs["torch"]))
    torch.set_num_threads(1)


def timing_steps(lib, shapes, L, threads, reps, min_time, noisy, rows):
    g = torch.Generator().manual_seed(11)
    for vocab, dim in shapes:
        W0 = torch.empty(vocab, dim).uniform_(-1, 1, generator=g)
        row = dim * 4
        nbags = max(64, (4 << 20) // (L * row))
        n = nbags * L
        ids = torch.randint(0, vocab, (n,), generator=g, dtype=torch.int64)
        offsets = torch.arange(0, n, L, dtype=torch.int64)
        dout = torch.randn(nbags, dim, generator=g) * 1e-3
        b = lib.bags(offsets, nbags, False)
        Wm = W0.clone()
        emb = torch.nn.EmbeddingBag(vocab, dim, mode="sum", sparse=True, _weight=W0)
        del W0
        h, hm = torch.zeros(vocab), torch.zeros(vocab)
        out = torch.empty(nbags, dim)
        opts = {"SparseAdam": torch.optim.SparseAdam(emb.parameters(), lr=0.01),
                "Adagrad": torch.optim.Adagrad(emb.parameters(), lr=0.01)}
        for T in threads:
            torch.set_num_threads(T)
            lib.e.set_threads(T)

            def ours():
                lib.bag(Wm, ids, b, "sum", out)
                lib.update(Wm, ids, b, "sum", dout, 1, 0.01, 1e-8, hm)

            def torch_path(opt):
                def f():
                    emb(ids, offsets).backward(dout)
                    if opt is None:
                        torch_rowwise_adagrad(emb.weight, h, 0.01, 1e-8)
                    else:
                        opt.step()
                        opt.zero_grad(set_to_none=True)
                return f
            peers = [("row-wise Adagrad in torch ops", torch_path(None))] + \
                [(k, torch_path(o)) for k, o in opts.items()]
            label = "fused row-wise Adagrad %d x %d, bags of %d, T=%d" % (vocab, dim, L, T)
            reruns.print_now("torch_bag.py: " + label)
            times, cvs = steadiest_times(noisy, label, [("embsimd", ours)] + peers, reps,
                                         min_time)
            mo = statistics.median(times["embsimd"])
            for name, _ in peers:
                mt = statistics.median(times[name])
                rows.append((vocab, dim, L, T, name, mo * 1e3, mt * 1e3, mt / mo,
                             cvs["embsimd"], cvs[name]))
    torch.set_num_threads(1)


def render(ctx, exact, fwd, steps):
    out = [BEGIN, "## EmbeddingBag and fused sparse steps (`bench/peers/torch_bag.py`)", ""]
    out.append("Generated by `make compare-peers` (or `make compare-peers-bag`); do not edit. "
               "%s" % ctx["fbgemm"])
    out.append("")
    out.append("| | |\n|---|---|")
    for k in ("date", "cpu", "load", "torch", "embsimd", "implementation", "timing", "reruns"):
        if k in ctx:
            out.append("| %s | %s |" % (k, ctx[k]))
    out += ["", "### Exactness (checked before timing)", "",
            "| what | PyTorch | result |", "|---|---|---|"]
    for what, peer, res in exact:
        out.append("| %s | %s | %s |" % (what, peer, res))
    out += ["", "### Bag sum: emb_bag vs F.embedding_bag(mode='sum'), GB/s of table rows read",
            "", "| V | D | bag | T | embsimd | torch | × | cv % (embsimd, torch) |",
            "|---|---|---|---|---|---|---|---|"]
    for _, v, d, L, T, a, b, x, ca, cb in fwd:
        out.append("| %d | %d | %d | %d | %.1f | %.1f | %.2f× | %.1f, %.1f |"
                   % (v, d, L, T, a, b, x, 100 * ca, 100 * cb))
    out += ["", "### Fused row-wise Adagrad: emb_bag + emb_bag_update vs PyTorch's forward, "
            "sparse backward and optimizer step, ms per batch", "",
            "| V | D | bag | T | PyTorch path | embsimd ms | torch ms | × "
            "| cv % (embsimd, torch) |",
            "|---|---|---|---|---|---|---|---|---|"]
    for v, d, L, T, name, a, b, x, ca, cb in steps:
        out.append("| %d | %d | %d | %d | %s | %.2f | %.2f | %.2f× | %.1f, %.1f |"
                   % (v, d, L, T, name, a, b, x, 100 * ca, 100 * cb))
    out += ["", END]
    return "\n".join(out) + "\n"


def main(argv):
    p = argparse.ArgumentParser(
        prog="torch_bag.py", description=__doc__.split("\n")[0],
        epilog="Exit status: 0 done; 2 bad usage or no libembsimd.so.")
    p.add_argument("--build-dir", default=".", metavar="DIR",
                   help="where to look for src/.libs/libembsimd.so (default .)")
    p.add_argument("--lib", metavar="PATH", help="the libembsimd.so to load")
    p.add_argument("--results", default="results", metavar="DIR",
                   help="where peers-bag.md and peers.md's bag section go (default results)")
    p.add_argument("--quick", action="store_true",
                   help="leave out the 3000000-row (1.5 GB) table")
    p.add_argument("--tiny", action="store_true",
                   help="one 1000 x 64 table, bags of 20, one thread: a test of the script, "
                   "not a measurement")
    p.add_argument("--reps", type=int, default=5, metavar="R",
                   help="repetitions of each side, alternating (default 5)")
    p.add_argument("--min-time", type=float, default=0.05, metavar="S",
                   help="seconds each repetition lasts at least (default 0.05)")
    p.add_argument("--exact-only", action="store_true", help="the exactness checks, printed")
    reruns.add_arguments(p, "a row", "make compare-peers and compare-peers-bag pass 5")
    a = p.parse_args(argv)
    reruns.check_arguments(p, a)
    if a.reps < 2:
        p.error('--reps: "%d" is below 2, which a cv needs' % a.reps)
    if not a.min_time > 0:
        p.error('--min-time: "%g" is not a positive number of seconds' % a.min_time)
    path, tried = embsimd_lib.find_library(a.lib, a.build_dir)
    if path is None:
        sys.stderr.write("torch_bag.py: no libembsimd.so (tried %s)\n" % ", ".join(tried))
        return 2
    lib = Lib(path)
    engines = torch.backends.quantized.supported_engines
    fbgemm = ("This PyTorch build uses FBGEMM (quantized engines: %s): its CPU EmbeddingBag "
              "runs FBGEMM's JIT kernels, so these rows are our comparison with FBGEMM."
              % ", ".join(engines)) if "fbgemm" in engines else \
        ("This PyTorch build has no FBGEMM (quantized engines: %s; Debian's python3-torch is "
         "built without it): the fp32 sum and mean of nn.EmbeddingBag run caffe2's "
         "EmbeddingLookupIdx perfkernel instead (AVX2 and FMA, unrolled for the row width, "
         "the bag's sum held in registers, rows prefetched 16 ahead: the same design as "
         "FBGEMM's generated kernels, compiled ahead of time), max mode "
         "ATen's own loop; nothing here measures FBGEMM itself."
         % ", ".join(engines))
    load = os.getloadavg()
    exact = []
    exactness(lib, exact)
    if a.exact_only:
        for row in exact:
            print(" | ".join(row))
        return 0
    if a.tiny:
        shapes, bag_sizes, threads, step_shapes = [(1000, 64)], [20], [1], [(1000, 64)]
    else:
        shapes = [(32000, 128), (50257, 768)] if a.quick else [(32000, 128), (3000000, 128),
                                                              (50257, 768)]
        bag_sizes, threads = [1, 20, 100], [1, 2]
        step_shapes = [(32000, 128)] if a.quick else [(32000, 128), (3000000, 128)]
    noisy = reruns.Reruns(a.rerun_cv, a.rerun_passes)
    fwd, steps = [], []
    timing(lib, shapes, bag_sizes, threads, a.reps, a.min_time, noisy, fwd)
    timing_steps(lib, step_shapes, 20, threads, a.reps, a.min_time, noisy, steps)
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    ctx = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "cpu": "%s (%d online)" % (cpu, os.cpu_count()),
           "torch": "%s, CPU capability %s" % (torch.__version__, cpu_capability()),
           "embsimd": "%s (%s)" % (lib.e.version, os.path.relpath(lib.e.path)),
           "load": "%s before the timing, on %d CPUs%s" % (
               " ".join("%.2f" % x for x in load), os.cpu_count(),
               ": other work was running, expect noise" if load[0] > 0.5 * os.cpu_count()
               else ""),
           "implementation": lib.e.active(),
           "timing": "median of %d repetitions of at least %.2f s each, the two sides "
                     "alternating; int64 ids and offsets for both; ids uniform, cycled over "
                     "batches covering the table (up to 64 MiB)" % (a.reps, a.min_time),
           "fbgemm": fbgemm}
    if a.rerun_cv > 0:
        ctx["reruns"] = noisy.describe("a bag-sum row, or a fused step's shape and thread count,",
                                       "figures")
    md = render(ctx, exact, fwd, steps)
    os.makedirs(a.results, exist_ok=True)
    with open(os.path.join(a.results, "peers-bag.md"), "w") as f:
        f.write(md)
    peers = os.path.join(a.results, "peers.md")
    text = open(peers).read() if os.path.exists(peers) else ""
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + md + text[text.index(END) + len(END) + 1:]
    else:
        text = text.rstrip("\n") + "\n\n" + md
    with open(peers, "w") as f:
        f.write(text)
    print(md)
    return 0


if __name__ == "__main__":
    sys.dont_write_bytecode = True
    sys.exit(main(sys.argv[1:]))
