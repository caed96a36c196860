#!/usr/bin/env python3
"""bench_train.py - GPT-2's embedding layer trained with a fixed stand-in
loss: forward + backward + optimizer step per step, PyTorch's modules next
to embsimd's, one thread and two.

The layer is h = wte(ids) + wpe(pos) (50257 x 768 and 1024 x 768 fp32
tables, a batch of 8 x 1024 tokens); the loss is sum(h * C) for a fixed
random C (torch.dot by default, --loss mul-sum for (h * C).sum()), so every
variant gets the same upstream gradient C and the comparison is the
embedding layer's own work. Variants (each step:
zero_grad, forward, backward, optimizer step):

  dense           nn.Embedding, torch.optim.SGD (PyTorch's default)
  sparse          nn.Embedding(sparse=True), torch.optim.SGD
  embsimd         embsimd.torch.Embedding(sparse=True), torch.optim.SGD
  embsimd-fused   embsimd.torch.Embedding(sparse=True), embsimd.torch.SGD
                  (emb_bag_update applied to the sparse gradient)
  embsimd-layer   embsimd.torch.TokenPositionEmbedding(sparse=True) (one
                  emb_lookup_pos pass for wte + wpe), embsimd.torch.SGD
  embsimd-dense   embsimd.torch.Embedding, torch.optim.SGD

Steps are interleaved round-robin across variants so that the machine's
load falls on all of them alike; the per-step median is reported, with
ratios from the same run. After 10 steps the parameters of sparse and
each sparse embsimd variant are compared bit for bit (docs/python.md
predicts them equal), and dense / embsimd-dense likewise.

A thread count with a "p" (the default list is 1,2,2p) runs in a child
process with OMP_WAIT_POLICY=PASSIVE: PyTorch's OpenMP threads then sleep
at the end of each parallel region instead of spinning for milliseconds on
the cores the library's pool needs (libgomp reads the variable once, when
it loads, hence the child). Every variant of that column, the baseline
included, runs under it.

  python/bench_train.py [--steps 30] [--check-after 10] [--threads 1,2,2p]
                        [--out results/python.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List, Tuple

import torch

import embsimd
import embsimd.torch as et

VARIANTS = ["dense", "sparse", "embsimd", "embsimd-fused", "embsimd-layer", "embsimd-dense"]
# Which variants docs/python.md predicts bit-identical after any number of steps.
SAME = [("sparse", "embsimd"), ("sparse", "embsimd-fused"), ("sparse", "embsimd-layer"),
        ("dense", "embsimd-dense")]


def build(variant: str, vocab: int, npos: int, dim: int, lr: float, seed: int):
    """(forward(ids, pos), the two weight tensors, the optimizer): the same
    initial tables for every variant."""
    g = torch.Generator().manual_seed(seed)
    w0 = torch.randn(vocab, dim, generator=g) * 0.02
    p0 = torch.randn(npos, dim, generator=g) * 0.01
    sparse = variant not in ("dense", "embsimd-dense")
    if variant == "embsimd-layer":
        layer = et.TokenPositionEmbedding.from_pretrained(w0, p0, freeze=False, sparse=True)
        return (lambda ids, pos: layer(ids)), (layer.wte.weight, layer.wpe.weight), \
            et.SGD(layer.parameters(), lr=lr)
    cls = torch.nn.Embedding if variant in ("dense", "sparse") else et.Embedding
    wte = cls.from_pretrained(w0, freeze=False, sparse=sparse)
    wpe = cls.from_pretrained(p0, freeze=False, sparse=sparse)
    params = [wte.weight, wpe.weight]
    opt = (et.SGD(params, lr=lr) if variant == "embsimd-fused"
           else torch.optim.SGD(params, lr=lr))
    return (lambda ids, pos: wte(ids) + wpe(pos)), params, opt


def make_step(forward, params, opt, pos: torch.Tensor, C: torch.Tensor,
              loss: str) -> Callable:
    flat = C.reshape(-1)

    def step(ids: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        h = forward(ids, pos)
        # the same value either way; "dot" reads h and C once and writes no
        # (batch, seq, dim) product, so less of the step is the loss's own
        if loss == "dot":
            torch.dot(h.reshape(-1), flat).backward()
        else:
            (h * C).sum().backward()
        opt.step()
    return step


def run(threads: int, args) -> Tuple[Dict[str, List[float]], List[str]]:
    torch.set_num_threads(threads)
    embsimd.set_num_threads(threads)
    g = torch.Generator().manual_seed(7)
    batches = [torch.randint(0, args.vocab, (args.batch, args.seq), generator=g)
               for _ in range(3)]
    pos = torch.arange(args.seq).expand(args.batch, args.seq).contiguous()
    C = torch.randn(args.batch, args.seq, args.dim, generator=g)
    models = {v: build(v, args.vocab, args.npos, args.dim, args.lr, 1) for v in VARIANTS}
    steps = {v: make_step(*models[v], pos, C, args.loss) for v in VARIANTS}
    times: Dict[str, List[float]] = {v: [] for v in VARIANTS}
    verdicts: List[str] = []
    for s in range(args.steps):
        for v in VARIANTS:
            t0 = time.perf_counter()
            steps[v](batches[s % len(batches)])
            dt = time.perf_counter() - t0
            if s >= args.warmup:
                times[v].append(dt)
        if s + 1 == min(args.check_after, args.steps):
            verdicts = compare(models, s + 1)
    return times, verdicts


def compare(models, nsteps: int) -> List[str]:
    """The SAME pairs' tables, bit for bit."""
    verdicts = []
    for a, b in SAME:
        (wa, pa), (wb, pb) = models[a][1], models[b][1]
        nw = int((wa.detach().view(torch.int32) != wb.detach().view(torch.int32)).sum())
        npo = int((pa.detach().view(torch.int32) != pb.detach().view(torch.int32)).sum())
        verdicts.append("%s vs %s after %d steps: %s" % (
            a, b, nsteps, "bit-identical (wte and wpe)" if nw == npo == 0 else
            "DIFFER: %d wte and %d wpe elements" % (nw, npo)))
    return verdicts


def _parallel_backend() -> str:
    info = torch.__config__.parallel_info()
    m = re.search(r"^ATen parallel backend: (.*)$", info, re.M)
    return "ATen parallel backend " + (m.group(1) if m else "?")


def context() -> List[str]:
    def sh(cmd: str) -> str:
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                                  timeout=20).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    lscpu = sh("lscpu")
    field = lambda k: (re.search(r"^%s:\s*(.*)$" % k, lscpu, re.M) or [None, "?"])[1]
    flags = set(field("Flags").split())
    isa = " ".join(f for f in ("avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_bf16",
                               "asimd") if f in flags)
    here = os.path.dirname(os.path.abspath(__file__))
    cfg = os.path.join(here, "..", "config.log")
    cflags = "?"
    if os.path.exists(cfg):
        m = re.search(r"^CFLAGS='(.*)'$", open(cfg).read(), re.M)
        cflags = m.group(1) if m else "?"
    gcc = sh("gcc --version | head -n 1")
    return [
        "CPU: %s (%s vCPUs, %s, L3 %s); ISA flags used: %s" % (
            field("Model name"), field("CPU\\(s\\)"), field("Hypervisor vendor") + " guest"
            if field("Hypervisor vendor") != "?" else "bare metal", field("L3 cache"), isa),
        "libembsimd %s (%s), implementation %s, LLC %s; compiler %s, CFLAGS %s" % (
            embsimd.__version__, embsimd.library_path, embsimd.active_impl(),
            embsimd.llc_description(), gcc, cflags),
        "torch %s (%s; T threads: torch.set_num_threads(T) and embsimd.set_num_threads(T)), "
        "Python %s, %s" % (torch.__version__, _parallel_backend(), platform.python_version(),
                           platform.platform()),
        "date %s UTC; git %s; load average before the run %s" % (
            datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"),
            sh("cd %s && git describe --always --dirty" % here) or "?",
            " ".join("%.2f" % x for x in os.getloadavg())),
    ]


def label(spec: str) -> str:
    return "T=%s, OMP passive" % spec[:-1] if spec.endswith("p") else "T=" + spec


def run_spec(spec: str, args) -> Tuple[Dict[str, List[float]], List[str]]:
    """run() here, or for "Np" in a child with OMP_WAIT_POLICY=PASSIVE."""
    if not spec.endswith("p"):
        return run(int(spec), args)
    out = "%s.%d.json" % (os.path.abspath(args.out or "bench_train"), os.getpid())
    argv = [sys.executable, os.path.abspath(__file__), "--threads", spec[:-1], "--times-json", out]
    for name in ("vocab", "npos", "dim", "batch", "seq", "lr", "steps", "check_after",
                 "warmup", "loss"):
        argv += ["--" + name.replace("_", "-"), str(getattr(args, name))]
    print("%s: a child process with OMP_WAIT_POLICY=PASSIVE" % label(spec), file=sys.stderr)
    try:
        subprocess.run(argv, check=True, env=dict(os.environ, OMP_WAIT_POLICY="PASSIVE"))
        with open(out) as f:
            got = json.load(f)
    finally:
        if os.path.exists(out):
            os.remove(out)
    return got["times"], got["verdicts"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vocab", type=int, default=50257)
    ap.add_argument("--npos", type=int, default=1024)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--steps", type=int, default=30, help="steps per variant (default 30)")
    ap.add_argument("--check-after", type=int, default=10,
                    help="compare the parameters after this many steps (default 10)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed first steps (default 2)")
    ap.add_argument("--threads", default="1,2,2p",
                    help="thread counts; Np runs T=N with OMP_WAIT_POLICY=PASSIVE in a child "
                         "process (default 1,2,2p)")
    ap.add_argument("--times-json", help=argparse.SUPPRESS)  # a child's result, for its parent
    ap.add_argument("--loss", choices=("dot", "mul-sum"), default="dot",
                    help="the stand-in loss sum(h * C): torch.dot of the flattened tensors "
                         "(default) or (h * C).sum(); the gradient is C either way")
    ap.add_argument("--out", help="write the markdown report here (default: stdout only)")
    args = ap.parse_args()
    load_before = os.getloadavg()
    lines = ["# GPT-2's embedding layer, one training step (python/bench_train.py)", "",
             "Forward + backward + optimizer step of h = wte(ids) + wpe(pos), wte %d x %d, "
             "wpe %d x %d fp32, batch %d x %d tokens (uniform random ids, 3 batches in turn), "
             "loss sum(h * C) for a fixed random C (computed as %s), SGD lr %g; %d steps per "
             "variant, the first %d untimed, variants interleaved step by step; median (min) "
             "ms per step."
             % (args.vocab, args.dim, args.npos, args.dim, args.batch, args.seq,
                "torch.dot(h.flatten(), C.flatten())" if args.loss == "dot" else
                "(h * C).sum()", args.lr, args.steps, args.warmup), ""]
    lines += ["- " + c for c in context()]
    specs = args.threads.split(",")
    for spec in specs:
        if not re.fullmatch(r"[1-9][0-9]*p?", spec):
            ap.error("--threads: %r is not a thread count (N, or Np for OMP_WAIT_POLICY=PASSIVE)"
                     % spec)
    if args.times_json:
        times, v = run(int(specs[0]), args)
        with open(args.times_json, "w") as f:
            json.dump({"times": times, "verdicts": v}, f)
        return 0
    lines += ["", "| variant | " + " | ".join("%s ms/step" % label(s) for s in specs)
              + " |", "| --- |" + " --- |" * len(specs)]
    med: Dict[Tuple[str, str], float] = {}
    rows: Dict[str, List[str]] = {v: [] for v in VARIANTS}
    verdicts: List[str] = []
    for spec in specs:
        times, v = run_spec(spec, args)
        verdicts += ["%s: %s" % (label(spec), x) for x in v]
        for name in VARIANTS:
            med[name, spec] = statistics.median(times[name])
            rows[name].append("%.1f (%.1f)" % (1e3 * med[name, spec], 1e3 * min(times[name])))
    lines += ["| %s | %s |" % (v, " | ".join(rows[v])) for v in VARIANTS]
    lines += ["", "Ratios (median step time of the baseline / the variant's, same run):", ""]
    for spec in specs:
        for v in ("embsimd", "embsimd-fused", "embsimd-layer"):
            lines.append("- %s %s: %.2fx dense, %.2fx sparse + SGD" % (
                label(spec), v, med["dense", spec] / med[v, spec],
                med["sparse", spec] / med[v, spec]))
    lines += ["", "Exactness (torch.equal on the bits of both tables):", ""]
    lines += ["- " + v for v in verdicts]
    lines.append("- load average after the run: %s (this run's own threads included)"
                 % " ".join("%.2f" % x for x in os.getloadavg()))
    # The load before the run tells whether other processes were running;
    # the one after counts this run's own two-thread steps too.
    if load_before[0] > 0.5 * (os.cpu_count() or 1):
        lines += ["", "**A noisy machine**: the load average before the run exceeded half the "
                  "%d CPUs, so other processes shared the cores with this run (the T=2 figures "
                  "most: two threads then compete with them for both cores). Compare ratios "
                  "within the run, not absolute times across runs; rerun on a quiet machine "
                  "before citing." % (os.cpu_count() or 1)]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 0 if all("DIFFER" not in v for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
