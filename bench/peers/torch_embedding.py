#!/usr/bin/env python3
"""torch_embedding.py - PyTorch (and numpy) on the embedding lookup and its
gradient, on embsimd-bench's grid and inputs, written as Google Benchmark
JSON, with a bit-for-bit comparison of every peer's result against embsimd's."""

import argparse
import importlib.util
import os
import re
import sys

EXIT_USAGE, EXIT_UNAVAILABLE = 2, 3

PEER_NAMES = ("torch/index_select_out", "torch/index_select_float", "torch/embedding_fwd",
              "torch/index_add",
              "torch/embedding_sparse", "torch/embedding_bwd", "torch/onehot_matmul",
              "numpy/take", "numpy/add_at")

# embsimd-bench's grids and timing defaults (bench/main.c), so that both
# suites run the same benchmarks when given the same flags.
QUICK = {"vocab": "1000,50257", "dim": "64,128,256,768,1024", "tokens": "512,8192",
         "threads": "1", "min_time": 0.03, "repetitions": 5, "onehot_max_gflop": 2.0}
FULL = {"vocab": "1000,32000,50257,128256,262144", "dim": "64,128,256,768,1024,4096",
        "tokens": "512,8192", "threads": "1,%d" % (os.cpu_count() or 1), "min_time": 0.1,
        "repetitions": 5, "onehot_max_gflop": 50.0}

DESCRIPTION = """\
PyTorch's CPU embedding next to embsimd: the same vocab x dim x tokens grid,
thread counts, seed and ids as embsimd-bench, written as Google Benchmark JSON
that /usr/share/benchmark/compare.py reads.

Peers (names <peer>/<in>-><out>/V:<vocab>/D:<dim>/N:<tokens>/T:<threads>/ids:<kind>/
idx:i64/real_time, the layout of embsimd-bench's kernels; f32 -> f32 but where said):
  torch/index_select_out  torch.index_select(W, 0, ids, out=preallocated): the fair
                          lookup peer (no allocation in the call); with --types also
                          f16 -> f16 and bf16 -> bf16, next to embsimd's bit copies
  torch/index_select_float  bf16 -> f32 and f16 -> f32 (--types=bf16,f16):
                          index_select into a preallocated 16-bit output, then copy_
                          into a preallocated f32 one, which is what .float() does
                          without allocating: the peer of embsimd's widening lookup
  torch/embedding_fwd     torch.nn.functional.embedding(ids, W) (allocates its output)
  torch/index_add         dW.index_add_(0, ids, dY) into one preallocated V x D fp32
                          tensor, accumulating across calls as emb_grad_f32 does: the
                          fair gradient peer
  torch/embedding_sparse  nn.Embedding(V, D, sparse=True) (weight sharing W's memory):
                          emb(ids).backward(dY), forward and backward timed together;
                          the sparse gradient is (ids, dY) unsummed: it adds nothing
                          into a table. weight.grad is reset to None (untimed) before
                          each call
  torch/embedding_bwd     out.backward(dY) through F.embedding (dense gradient, as
                          nn.Embedding's default sparse=False: allocates and zero-fills
                          V x D per call); only the backward is timed, W.grad is reset
                          to None (untimed) before each call
  torch/onehot_matmul     one_hot(ids, V).float() @ W (torch.mm, out=); the one-hot
                          matrix of the first batch is built once, untimed, as in
                          embsimd-bench's onehot/blas; capped by --onehot-max-gflop
  numpy/take              numpy.take(W, ids, axis=0, out=preallocated)   (if numpy)
  numpy/add_at            numpy.add.at(dW, ids, dY)                       (if numpy)

Bytes (bytes_per_second), as embsimd-bench counts them: lookups N*(table row +
output row) per call, each in its own type's bytes (2*N*D*4 for f32), the one-hot
product 2*N*D*4 (each row read once and written once); gradients N*D*4
(read dY) + 2*U*D*4 (read and write each of the U distinct rows the batch touches);
embedding_sparse a lookup's plus a gradient's. Work a peer does beyond that (torch's
zero-filled V x D gradient) is in its time, not in its bytes.

Exactness: before timing, once per shape, id distribution, thread count and
table type, every peer's result on the first batch is compared bit for bit with
embsimd's (the implementation libembsimd.so picks, through ctypes; f16 and bf16
with int64 ids, index_select_float's .float() and its copy_ form both), on the
benchmark's inputs (finite floats) and on inputs full of IEEE special values
(NaN payloads, +-0, +-Inf, subnormals). The peers that add into an existing
table (index_add, add_at, and the sparse gradient added with table.add_) start
from the table's own bits, as emb_grad_f32 does; the sparse gradient's values
are compared with dY, and its coalesce() with emb_grad_f32 from zero.
Differences are reported, not fatal.

Exit status: 0 done; 1 a run failed; 2 bad usage; 3 PyTorch unavailable (skip)."""


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="torch_embedding.py", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--grid", choices=("quick", "full"), default="quick",
                   help="quick (default): V {%s} x D {%s} x N {%s}, T {%s}, %d repetitions of "
                   ">= %g s; full: V {%s} x D {%s} x N {%s}, T {%s}, %d of >= %g s"
                   % (QUICK["vocab"], QUICK["dim"], QUICK["tokens"], QUICK["threads"],
                      QUICK["repetitions"], QUICK["min_time"], FULL["vocab"], FULL["dim"],
                      FULL["tokens"], FULL["threads"], FULL["repetitions"], FULL["min_time"]))
    p.add_argument("--vocab", metavar="LIST", help="vocabulary sizes, e.g. 50257,32000")
    p.add_argument("--dim", metavar="LIST", help="embedding dims")
    p.add_argument("--tokens", metavar="LIST", help="tokens per call (N)")
    p.add_argument("--threads", metavar="LIST", help="thread counts for torch.set_num_threads")
    p.add_argument("--ids", metavar="LIST", default="uniform,zipf",
                   help="id distributions: uniform, zipf (default both), sorted, reversed, "
                   "all-equal, duplicates")
    p.add_argument("--types", metavar="LIST", default="f32",
                   help="table types: f32, bf16, f16 (default f32): the peers of embsimd's "
                   "kernels reading such a table")
    p.add_argument("--peers", metavar="LIST", help="peers to run (default: every available one)")
    p.add_argument("--seed", metavar="N", default="20240229",
                   help="seed of the table, dY and ids (default 20240229, embsimd-bench's)")
    p.add_argument("--budget", metavar="SIZE", default="8G",
                   help="skip shapes whose buffers need more (default 8G; K/M/G/T)")
    p.add_argument("--onehot-max-gflop", metavar="X", type=float,
                   help="skip one-hot products doing more work per call (default: 2 quick, "
                   "50 full)")
    p.add_argument("--llc", metavar="SIZE", help="last-level cache size (default: sysfs)")
    p.add_argument("--benchmark_min_time", "--min-time", metavar="S", dest="min_time",
                   help="seconds per repetition, at least (default: the grid's)")
    p.add_argument("--benchmark_repetitions", "--repetitions", metavar="R", dest="repetitions",
                   type=int, help="repetitions; the median is reported (default: the grid's)")
    p.add_argument("--benchmark_filter", "--filter", metavar="REGEX", dest="filter",
                   help="run only the benchmarks whose name matches")
    p.add_argument("--benchmark_out", "--out", metavar="FILE", dest="out", default="-",
                   help="the JSON file (default: standard output; progress goes to stderr)")
    p.add_argument("--benchmark_list_tests", "--list", dest="list", action="store_true",
                   help="print the benchmark names and exit")
    p.add_argument("--check", action="store_true",
                   help="only the exactness check: no timing, no JSON")
    p.add_argument("--no-check", action="store_true", help="skip the exactness check")
    p.add_argument("--check-values", metavar="LIST", default="finite,special",
                   help="inputs of the check: finite (the benchmark's), special (IEEE "
                   "special values); default both")
    p.add_argument("--lib", metavar="PATH", help="libembsimd.so for the check "
                   "(default: $EMBSIMD_LIB, else BUILD_DIR/src/.libs/libembsimd.so)")
    p.add_argument("--build-dir", metavar="DIR", help="embsimd build directory (default: .)")
    a = p.parse_args(argv)
    if a.check and a.no_check:
        p.error("--check and --no-check contradict each other")
    return a


def usage_error(msg):
    sys.stderr.write("torch_embedding.py: %s (see --help)\n" % msg)
    sys.exit(EXIT_USAGE)


def parse_list(option, text):
    out = []
    for i, item in enumerate(text.split(",")):
        if not re.fullmatch(r"[0-9]+", item.strip()) or int(item) <= 0:
            usage_error('%s: item %d, "%s", is not a positive integer' % (option, i + 1, item))
        out.append(int(item))
    return out


def parse_size(option, text):
    m = re.fullmatch(r"([0-9]*\.?[0-9]+)([KMGT]?)(i?B)?", text.strip(), re.IGNORECASE)
    if not m or float(m.group(1)) <= 0:
        usage_error('%s: "%s" is not a size such as 8G or 512M' % (option, text))
    return int(float(m.group(1)) * 1024 ** "_KMGT".index(m.group(2).upper() or "_"))


def parse_names(option, text, known):
    out = []
    for i, item in enumerate(text.split(",")):
        if item not in known:
            usage_error('%s: item %d, "%s", is not one of %s' % (option, i + 1, item,
                                                                  ", ".join(known)))
        out.append(item)
    return out


def numpy_available():
    try:
        return importlib.util.find_spec("numpy") is not None
    except ImportError:
        return False


def import_torch():
    """torch, or exit 3 saying which interpreter lacks it and how to get it."""
    try:
        import torch
        return torch
    except ImportError as e:
        sys.stderr.write(
            "torch_embedding.py: PyTorch is not importable by %s (Python %s): %s\n"
            "  Debian: apt-get install python3-torch   (installs it for /usr/bin/python3;\n"
            "          run this script with /usr/bin/python3 if 'python3' on PATH is another\n"
            "          interpreter)\n"
            "  elsewhere: %s -m pip install torch\n"
            "The PyTorch comparison is skipped (exit status 3).\n"
            % (sys.executable, sys.version.split()[0], e, sys.executable))
        sys.exit(EXIT_UNAVAILABLE)


def main(argv):
    a = parse_args(argv)
    grid = FULL if a.grid == "full" else QUICK
    kinds = ("uniform", "all-equal", "sorted", "reversed", "zipf", "duplicates")
    cfg = {
        "vocab": parse_list("--vocab", a.vocab or grid["vocab"]),
        "dim": parse_list("--dim", a.dim or grid["dim"]),
        "tokens": parse_list("--tokens", a.tokens or grid["tokens"]),
        "threads": parse_list("--threads", a.threads or grid["threads"]),
        "ids": parse_names("--ids", a.ids, kinds),
        "types": list(dict.fromkeys(parse_names("--types", a.types, ("f32", "bf16", "f16")))),
        "budget": parse_size("--budget", a.budget),
        "llc": parse_size("--llc", a.llc) if a.llc else None,
        "onehot_max_gflop": grid["onehot_max_gflop"] if a.onehot_max_gflop is None
        else a.onehot_max_gflop,
        "min_time": grid["min_time"],
        "repetitions": grid["repetitions"] if a.repetitions is None else a.repetitions,
        "check_values": parse_names("--check-values", a.check_values, ("finite", "special")),
        "grid_name": a.grid if not (a.vocab or a.dim or a.tokens) else "custom",
    }
    if a.onehot_max_gflop is not None and a.onehot_max_gflop < 0:
        usage_error('--onehot-max-gflop: "%g" is not a number >= 0' % a.onehot_max_gflop)
    if a.min_time is not None:
        m = re.fullmatch(r"([0-9]*\.?[0-9]+)s?", a.min_time)
        if not m:
            usage_error('--benchmark_min_time: "%s" is not a number of seconds' % a.min_time)
        cfg["min_time"] = float(m.group(1))
    if cfg["repetitions"] < 1:
        usage_error('--benchmark_repetitions: "%d" is not a positive integer' % cfg["repetitions"])
    try:
        cfg["seed"] = int(a.seed, 0)
        if cfg["seed"] < 0 or cfg["seed"] >= 1 << 64:
            raise ValueError
    except ValueError:
        usage_error('--seed: "%s" is not an unsigned 64-bit integer' % a.seed)
    try:
        cfg["filter"] = re.compile(a.filter) if a.filter else None
    except re.error as e:
        usage_error('--benchmark_filter: "%s" is not a regular expression: %s' % (a.filter, e))

    have_numpy = numpy_available()
    available = [n for n in PEER_NAMES if have_numpy or not n.startswith("numpy/")]
    if a.peers:
        wanted = parse_names("--peers", a.peers, PEER_NAMES)
        missing = [n for n in wanted if n not in available]
        if missing:
            sys.stderr.write("torch_embedding.py: %s need numpy, which %s cannot import; "
                             "left out\n" % (", ".join(missing), sys.executable))
        cfg["peers"] = [n for n in wanted if n in available]
    else:
        cfg["peers"] = available

    import_torch()
    from peers_run import Plan  # imports torch: after the check above
    import embsimd_inputs
    err = embsimd_inputs.self_check(cfg["seed"])
    if err:
        sys.stderr.write("torch_embedding.py: the input generator is wrong on this torch: %s\n"
                         % err)
        return 1
    plan = Plan(cfg)
    if a.list:
        for name in plan.names():
            print(name)
        return 0

    lib = None
    if not a.no_check:
        lib = plan.load_library(a.lib, a.build_dir, required=a.check)
    status = plan.run(check=not a.no_check, timing=not a.check, lib=lib)
    if not a.check:
        plan.write(a.out)
    return status


if __name__ == "__main__":
    sys.dont_write_bytecode = True  # no __pycache__ in the source tree
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main(sys.argv[1:]))
