#!/usr/bin/env python3
"""compare_peers.py - embsimd-bench and torch_embedding.py run interleaved,
one shape and thread count at a time, into one Google Benchmark JSON and the
markdown table results/peers.md (written by peers_table.py). Standard library
only: PyTorch is needed by the interpreter that runs torch_embedding.py."""

import argparse
import datetime
import json
import os
import re
import socket
import subprocess
import sys
import tempfile

import reruns  # this directory's; the script's own is first on sys.path

HERE = os.path.dirname(os.path.abspath(__file__))
EXIT_UNAVAILABLE = 3
DEFAULTS = {"vocab": "32000,50257", "dim": "128,768", "tokens": "512,8192",
            "threads": "1,%d" % (os.cpu_count() or 1), "ids": "uniform,zipf",
            "types": "f32,bf16,f16", "min_time": "0.03", "repetitions": "5"}


# torch_bag.py's flags for each --bag.
BAG_MODES = {"full": [], "quick": ["--quick"], "exact-only": ["--exact-only"], "none": None}


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="compare_peers.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Runs embsimd-bench and bench/peers/torch_embedding.py on the same shapes, "
        "thread counts, seed and ids, alternating between them shape by shape (and which goes "
        "first) so that both see the same machine load; writes the merged JSON to "
        "RESULTS/runs/peers-<host>-<UTC date>.json and the table RESULTS/peers.md. embsimd runs "
        "with int64 ids (--ids-type=i64), the peers' index type; of the 16-bit tables' kernels "
        "only the lookups, which have peers.\n\n"
        "Exit status: 0 done; 1 a run failed; 2 bad usage; 3 PyTorch unavailable (skipped).")
    p.add_argument("--bench", metavar="PATH", default="bench/embsimd-bench",
                   help="the embsimd-bench binary (default: bench/embsimd-bench)")
    p.add_argument("--python", metavar="PY",
                   help="interpreter for torch_embedding.py (default: $PYTHON, /usr/bin/python3 "
                   "or python3, the first that imports torch)")
    p.add_argument("--results", metavar="DIR", default="results",
                   help="where runs/ and peers.md go (default: results)")
    for axis, what in (("vocab", "vocabulary sizes"), ("dim", "embedding dims"),
                       ("tokens", "tokens per call"), ("threads", "thread counts"),
                       ("ids", "id distributions")):
        p.add_argument("--" + axis, metavar="LIST", default=DEFAULTS[axis],
                       help="%s (default %s)" % (what, DEFAULTS[axis]))
    p.add_argument("--types", metavar="LIST", default=DEFAULTS["types"],
                   help="table types, f32, bf16, f16 (default %s)" % DEFAULTS["types"])
    p.add_argument("--benchmark_min_time", metavar="S", default=DEFAULTS["min_time"],
                   help="seconds per repetition, both suites (default %s)" % DEFAULTS["min_time"])
    p.add_argument("--benchmark_repetitions", metavar="R", default=DEFAULTS["repetitions"],
                   help="repetitions, both suites (default %s)" % DEFAULTS["repetitions"])
    p.add_argument("--onehot-max-gflop", metavar="X",
                   help="one-hot products doing more work per call are skipped, both suites "
                   "(default: theirs, 2)")
    p.add_argument("--lib", metavar="PATH", help="libembsimd.so for the exactness check "
                   "(default: next to the bench binary's build)")
    reruns.add_arguments(p, "a shape and thread count", "make compare-peers passes 5")
    p.add_argument("--bag", choices=BAG_MODES, default="full",
                   help="what torch_bag.py runs after the grid: full (its whole table, about a "
                   "minute on a slow CPU), quick (the small tables), exact-only (its exactness "
                   "checks, printed, no timing, peers.md's bag section untouched) or none "
                   "(default full)")
    a = p.parse_args(argv)
    reruns.check_arguments(p, a)
    return a


def worst_cv(*docs):
    """The largest wall-time cv (a fraction) among the docs' benchmarks."""
    return max((b["real_time"] for d in docs for b in d["benchmarks"]
                if b.get("aggregate_name") == "cv"), default=0.0)


def torch_python(wanted):
    """The first interpreter that imports torch, or None."""
    candidates = [wanted] if wanted else [os.environ.get("PYTHON"), "/usr/bin/python3", "python3"]
    for py in filter(None, candidates):
        try:
            if subprocess.run([py, "-c", "import torch"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0:
                return py
        except OSError:
            continue
    return None


def positive_list(option, text):
    items = text.split(",")
    for i, item in enumerate(items):
        if not re.fullmatch(r"[1-9][0-9]*", item):
            sys.stderr.write('compare_peers.py: --%s: item %d, "%s", is not a positive integer\n'
                             % (option, i + 1, item))
            sys.exit(2)
    return items


def run(cmd, label):
    sys.stdout.write("== %s\n   %s\n" % (label, " ".join(cmd)))
    sys.stdout.flush()
    rc = subprocess.run(cmd).returncode
    if rc != 0:
        sys.stderr.write("compare_peers.py: %s exited with status %d\n" % (label, rc))
        sys.exit(EXIT_UNAVAILABLE if rc == EXIT_UNAVAILABLE else 1)


def load(path):
    with open(path) as f:
        return json.load(f)


EXACT = re.compile(r"in (\d+) of (\d+) checks(?:; first difference at (.*))?$")


def merge_exactness(into, ctx):
    """Adds one run's "exactness ..." counts to the running totals."""
    for key, text in ctx.items():
        m = EXACT.search(text) if key.startswith("exactness ") else None
        if m is None:
            continue
        same, runs, first = into.get(key, (0, 0, None))
        into[key] = (same + int(m.group(1)), runs + int(m.group(2)), first or m.group(3))


def main(argv):
    a = parse_args(argv)
    axes = {k: positive_list(k, getattr(a, k)) for k in ("vocab", "dim", "tokens", "threads")}
    if not os.access(a.bench, os.X_OK):
        sys.stderr.write("compare_peers.py: %s is not an executable embsimd-bench (build it with "
                         "make, or give --bench)\n" % a.bench)
        return 2
    py = torch_python(a.python)
    if py is None:
        sys.stderr.write("compare_peers.py: skipped: no interpreter here imports torch (tried %s). "
                         "Debian: apt-get install python3-torch (for /usr/bin/python3).\n"
                         % (a.python or "$PYTHON, /usr/bin/python3, python3"))
        return EXIT_UNAVAILABLE
    build_dir = os.path.dirname(os.path.dirname(os.path.abspath(a.bench)))
    lib = ["--lib=" + a.lib] if a.lib else ["--build-dir=" + build_dir]
    timing = ["--benchmark_min_time=" + a.benchmark_min_time,
              "--benchmark_repetitions=" + a.benchmark_repetitions]
    if a.onehot_max_gflop is not None:
        timing.append("--onehot-max-gflop=" + a.onehot_max_gflop)
    chunks = [(v, d, n, t) for v in axes["vocab"] for d in axes["dim"] for n in axes["tokens"]
              for t in axes["threads"]]
    benchmarks, ctx_c, ctx_t, exact = [], None, None, {}
    noisy = reruns.Reruns(a.rerun_cv, a.rerun_passes)
    with tempfile.TemporaryDirectory(prefix="embsimd-peers-") as tmp:
        for k, (v, d, n, t) in enumerate(chunks):
            shape = ["--vocab=" + v, "--dim=" + d, "--tokens=" + n, "--threads=" + t,
                     "--ids=" + a.ids, "--types=" + a.types]
            c_out, t_out = os.path.join(tmp, "c%d.json" % k), os.path.join(tmp, "t%d.json" % k)
            ours = ([a.bench] + shape + timing +
                    ["--results=" + tmp, "--plot-files=" + tmp, "--benchmark_out=" + c_out,
                     "--benchmark_out_format=json", "--ids-type=i64",
                     # the gradients of f16 and bf16 dY have no peer
                     "--benchmark_filter=^(lookup/|grad/[^/]+/f32->|copy/memcpy/|onehot/)"])
            theirs = [py, os.path.join(HERE, "torch_embedding.py")] + shape + timing + lib + [
                "--benchmark_out=" + t_out]
            label = "[%d/%d] V:%s D:%s N:%s T:%s" % (k + 1, len(chunks), v, d, n, t)
            # Alternate which suite goes first, so neither always meets the
            # machine just after the other has warmed or heated it.
            order = [(ours, "embsimd-bench"), (theirs, "torch_embedding.py")]
            if k % 2:
                order.reverse()

            # A noisy pair runs again, both suites, so that every ratio
            # still divides figures timed side by side.
            def measure(again):
                for cmd, who in order:
                    run(cmd, "%s %s%s" % (label, who, " (rerun %d)" % again if again else ""))
                return load(c_out), load(t_out)
            c_doc, t_doc = noisy.steadiest(
                measure, lambda docs: worst_cv(*docs),
                lambda text: reruns.print_now("== %s: %s" % (label, text)))
            noisy.count_noisy(b["real_time"] for d in (c_doc, t_doc) for b in d["benchmarks"]
                              if b.get("aggregate_name") == "cv")
            benchmarks += c_doc["benchmarks"] + t_doc["benchmarks"]
            ctx_c = ctx_c or c_doc["context"]
            ctx_t = ctx_t or t_doc["context"]
            merge_exactness(exact, t_doc["context"])
    # Family indices restart in each run: renumber them across the merge.
    family = {}
    for b in benchmarks:
        b["family_index"] = family.setdefault(b["run_name"], len(family))
    context = dict(ctx_c)
    for key, value in ctx_t.items():
        if not key.startswith("exactness ") and context.get(key) != value:
            context["peers " + key] = value
    for key, (same, runs, first) in sorted(exact.items()):
        context[key] = "bit-identical to embsimd in %d of %d checks%s" % (
            same, runs, "; first difference at " + first if first else "")
    context["peers_command"] = " ".join([os.path.basename(sys.argv[0])] + argv)
    if a.rerun_cv > 0:
        context["peers_reruns"] = noisy.describe("a shape and thread count", "benchmarks")
    context["peers_interleaving"] = ("embsimd-bench and torch_embedding.py alternate per shape "
                                     "and thread count, the first of the two alternating too")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    host = re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname())
    runs_dir = os.path.join(a.results, "runs")
    os.makedirs(runs_dir, exist_ok=True)
    json_path = os.path.join(runs_dir, "peers-%s-%s.json" % (host, stamp))
    with open(json_path, "w") as f:
        json.dump({"context": context, "benchmarks": benchmarks}, f, indent=2)
        f.write("\n")
    sys.path.insert(0, HERE)
    import peers_table
    md = os.path.join(a.results, "peers.md")
    peers_table.write(json_path, md, os.path.relpath(json_path, a.results))
    # EmbeddingBag and the fused steps: their own script, which writes its
    # section of peers.md (and peers-bag.md).
    if a.bag != "none":
        run([py, os.path.join(HERE, "torch_bag.py")] + lib + ["--results=" + a.results] +
            BAG_MODES[a.bag] + ["--rerun-cv=%g" % a.rerun_cv, "--rerun-passes=%d" % a.rerun_passes],
            "torch_bag.py")
    print("json: %s\ntable: %s" % (json_path, md))
    return 0


if __name__ == "__main__":
    sys.dont_write_bytecode = True  # no __pycache__ in the source tree
    sys.exit(main(sys.argv[1:]))
