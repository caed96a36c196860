"""peer_timing.py - what the optional peers (ggml, FBGEMM) share: the
machine's context, interleaved timing of two callables, seeded inputs.
numpy and the standard library only."""

import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "bench", "peers"))

import numpy as np  # noqa: E402

import embsimd_lib  # noqa: E402

SEED = 20240229
# V x D x N, as in make compare-peers: GPT-2's table with a short and a long
# batch, and a cache-resident one.
SHAPES = [(50257, 768, 512), (50257, 768, 8192), (32000, 128, 8192)]


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            info = {}
            for line in f:
                if ":" in line:
                    k, v = line.split(":", 1)
                    info.setdefault(k.strip(), v.strip())
        return "%s (family %s, model %s)" % (info.get("model name", "?"), info.get("cpu family", "?"),
                                             info.get("model", "?"))
    except OSError:
        return platform.processor() or "unknown"


def context(extra):
    ctx = {
        "cpu": cpu_model(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "load": " ".join("%.2f" % x for x in os.getloadavg()),
        "cpus": os.cpu_count(),
        "python": "%s (%s)" % (sys.executable, platform.python_version()),
        "numpy": np.__version__,
    }
    try:
        rev = subprocess.run(["git", "-C", HERE, "describe", "--always", "--dirty", "--abbrev=12"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout.strip()
        ctx["revision"] = rev or "unknown"
    except OSError:
        ctx["revision"] = "unknown"
    ctx.update(extra)
    return ctx


def load_embsimd(build_dir):
    path, tried = embsimd_lib.find_library(None, build_dir)
    if path is None:
        raise SystemExit("libembsimd.so not found; tried %s" % ", ".join(tried))
    return embsimd_lib.Embsimd(path)


def calls_for(fn, min_time):
    """Iterations per repetition: grown until one batch takes min_time."""
    iters = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_time or iters >= 1 << 20:
            return iters
        iters = max(iters * 2, int(iters * min_time / max(dt, 1e-9) * 1.2))


def interleaved(fns, reps=5, min_time=0.05):
    """Median seconds per call of each callable, repetitions alternating
    between them (the first alternating too), after one warm-up call each."""
    for fn in fns:
        fn()
    iters = [calls_for(fn, min_time) for fn in fns]
    samples = [[] for _ in fns]
    for r in range(reps):
        order = range(len(fns)) if r % 2 == 0 else reversed(range(len(fns)))
        for k in order:
            fn = fns[k]
            t0 = time.perf_counter()
            for _ in range(iters[k]):
                fn()
            samples[k].append((time.perf_counter() - t0) / iters[k])
    return [statistics.median(s) for s in samples], samples


def uniform_ids(vocab, n, seed=SEED):
    return np.random.default_rng(seed).integers(0, vocab, n).astype(np.int32)


def normal_table(vocab, dim, seed=SEED):
    return (np.random.default_rng(seed + 1).standard_normal((vocab, dim)) * 0.05).astype(np.float32)


def bits_equal(a, b):
    a = np.ascontiguousarray(a)
    b = np.ascontiguousarray(b)
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def first_diff(a, b):
    ua, ub = np.ascontiguousarray(a).view(np.uint32), np.ascontiguousarray(b).view(np.uint32)
    bad = np.argwhere(ua != ub)
    if bad.size == 0:
        return "none"
    idx = tuple(int(x) for x in bad[0])
    return "%d of %d differ, first at %s: 0x%08x vs 0x%08x" % (bad.shape[0], ua.size, idx,
                                                                 ua[idx], ub[idx])
