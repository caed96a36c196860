#!/usr/bin/env python3
"""gate.py - embsimd's benchmark regression gate: same-run ratios and
instruction counts of a fixed set of kernels, compared with a recorded
baseline (results/README.md, "The regression gate").

Standard library only; runs with any Python 3.7 or later.
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile

PROG = "gate"
FORMAT = "embsimd-gate-baseline/1"

# --- what the gate measures -------------------------------------------------

# Fixed shapes (V, D, N) of the timed part, with why each is there. All on one
# thread with uniform ids from the suite's fixed seed.
RATIO_SHAPES = [
    ((1000, 64, 512), "cache-resident (fits L2), small D: per-call overhead and validation show"),
    ((50257, 768, 512), "GPT-2 table from DRAM, small output: software prefetch shows"),
    ((50257, 768, 8192), "GPT-2 table and a 25 MiB output: prefetch and streaming stores show"),
]
SIMD_IMPLS = ["avx512", "avx2", "neon"]  # those this CPU lacks are reported, not run


def ratio_cases():
    """The kernel cases of the timed part, as the drivers name them."""
    cases = []
    for (v, d, n), _ in RATIO_SHAPES:
        big = n >= 8192
        for op in ("lookup", "grad"):
            impls = SIMD_IMPLS + ([] if big and op == "grad" else ["scalar"])
            cases += ["%s/%s/V:%d/D:%d/N:%d" % (op, i, v, d, n) for i in impls]
    return cases


# Instruction counts: small shapes whose tables stay far below any cache, so
# no size threshold of the library (prefetch, streaming) depends on the
# machine; D = 67 exercises the vector tails. Valgrind runs no AVX-512.
ICOUNT_SHAPES = [(1000, 64, 512), (1000, 67, 256), (1000, 768, 64)]
ICOUNT_IMPLS = ["scalar", "avx2"]


def icount_cases():
    return ["%s/%s/V:%d/D:%d/N:%d" % (op, impl, v, d, n)
            for impl in ICOUNT_IMPLS for op in ("lookup", "grad") for (v, d, n) in ICOUNT_SHAPES]


RATIO_DROP = 0.10     # a ratio more than 10 % below the baseline's fails
ICOUNT_GROWTH = 0.02  # an instruction count more than 2 % above the baseline's fails
SIMD_FLOOR = 0.90     # on another CPU: a SIMD kernel more than 10 % slower than scalar fails
UNSTEADY_RANGE = 0.20  # a baseline figure whose process medians range wider is not gated

# --- small helpers ------------------------------------------------------------


def die(msg, status=2):
    print("%s: %s" % (PROG, msg), file=sys.stderr)
    sys.exit(status)


def say(msg=""):
    print(msg, flush=True)


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def quantile(xs, q):
    s = sorted(xs)
    pos = q * (len(s) - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def spread(xs):
    """Interquartile range over the median: the round-to-round scatter."""
    if len(xs) < 2:
        return 0.0
    m = median(xs)
    return (quantile(xs, 0.75) - quantile(xs, 0.25)) / m if m > 0 else 0.0


def case_impl(case):
    return case.split("/")[1]


def with_impl(case, impl):
    parts = case.split("/")
    parts[1] = impl
    return "/".join(parts)


# --- context --------------------------------------------------------------------


def cpuinfo():
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if ":" in line:
                    k, v = line.split(":", 1)
                    fields.setdefault(k.strip(), v.strip())
    except OSError:
        pass
    return fields


SIMD_FLAG_NAMES = ["sse2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq",
                   "avx512_bf16", "avx512_vnni", "asimd", "sve", "sve2"]


def cpu_identity():
    """Model (as the suite writes it), its file-name slug, flags, SIMD flags."""
    f = cpuinfo()
    name = f.get("model name") or f.get("Hardware") or (
        "implementer %s part %s" % (f["CPU implementer"], f["CPU part"])
        if "CPU implementer" in f and "CPU part" in f else platform.machine() or "unknown")
    if "cpu family" in f and "model" in f:
        model = "%s (family %s, model %s)" % (name, f["cpu family"], f["model"])
        slug_src = "%s family %s model %s" % (name, f["cpu family"], f["model"])
    else:
        model = name
        slug_src = name
    slug = re.sub(r"[^a-z0-9]+", "-", slug_src.lower()).strip("-") or "unknown"
    flags = f.get("flags") or f.get("Features") or "unknown"
    have = set(flags.split())
    simd = " ".join(x for x in SIMD_FLAG_NAMES if x in have)
    return {"model": model, "slug": slug, "flags": flags, "simd_flags": simd}


def build_info(build):
    """How the build directory was built: bench/build-info.h and config.h."""
    info = {"compiler": "unknown", "compiler_flags": "unknown", "configure_options": "unknown",
            "git_revision": "unknown", "embsimd_version": "unknown"}
    keys = {"BENCH_BUILD_COMPILER": "compiler", "BENCH_BUILD_CFLAGS": "compiler_flags",
            "BENCH_BUILD_CONFIGURE": "configure_options", "BENCH_BUILD_REVISION": "git_revision"}
    for path, pattern in ((os.path.join(build, "bench", "build-info.h"), r'#define (\w+) "(.*)"$'),
                          (os.path.join(build, "config.h"), r'#define (PACKAGE_VERSION) "(.*)"$')):
        try:
            with open(path) as f:
                for line in f:
                    m = re.match(pattern, line.strip())
                    if not m:
                        continue
                    value = m.group(2).replace('\\"', '"').replace("\\\\", "\\")
                    if m.group(1) == "PACKAGE_VERSION":
                        info["embsimd_version"] = value
                    elif m.group(1) in keys:
                        info[keys[m.group(1)]] = value
        except OSError:
            pass
    return info


def tool_version(argv):
    try:
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             universal_newlines=True, timeout=30).stdout
        return out.strip().splitlines()[0] if out.strip() else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "not found"


def codegen(text):
    """A toolchain description without warning options, which change no code."""
    return " ".join(w for w in text.split() if not w.startswith("-W"))


def run_context(args, cpu):
    ctx = {}
    now = datetime.datetime.now(datetime.timezone.utc)
    ctx["run_date"] = now.strftime("%Y-%m-%d %H:%M:%S UTC")
    ctx["run_host"] = socket.gethostname()
    ctx["cpu_model"] = cpu["model"]
    ctx["cpu_slug"] = cpu["slug"]
    ctx["cpu_simd_flags"] = cpu["simd_flags"]
    ctx["cpu_flags"] = cpu["flags"]
    ctx["num_cpus"] = str(os.cpu_count())
    ctx.update(build_info(args.build))
    try:
        glibc = os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError, AttributeError):
        glibc = None
    ctx["libc"] = glibc or platform.libc_ver()[0] or "unknown"
    ctx["kernel"] = platform.system() + " " + platform.release()
    ctx["valgrind"] = tool_version([args.valgrind, "--version"])
    ctx["python"] = platform.python_version()
    load = os.getloadavg()
    cpus = os.cpu_count() or 1
    ctx["load_average"] = "%.2f %.2f %.2f before the run, on %d CPUs%s" % (
        load[0], load[1], load[2], cpus,
        ": other work was running, expect noise (see spread)" if load[0] > 0.5 * cpus else "")
    runs, rounds = ((args.baseline_runs, args.baseline_rounds) if args.update_baseline
                    else (args.runs, args.rounds))
    ctx["gate_timing"] = (
        "%d driver processes of %d rounds; a round runs each kernel of a shape between two "
        "memcpy copies of its bytes from the same table (Google Benchmark runs of >= %s s); "
        "ratios of CPU time (the calling thread's: T = 1) per round, their median per process, "
        "and of the processes' medians the %s" % (
            runs, rounds, args.min_time, "lowest (baseline)" if args.update_baseline else "highest"))
    ctx["gate_thresholds"] = (
        "a ratio fails below %.0f %% of the baseline's, in the run and in a recheck of the same "
        "size; an instruction count fails above %.0f %% of the baseline's; on another CPU a "
        "SIMD/scalar ratio fails below %.2f; a baseline ratio whose process medians ranged over "
        "more than %.0f %% is shown, not gated" % (
            100 * (1 - RATIO_DROP), 100 * (1 + ICOUNT_GROWTH), SIMD_FLOOR, 100 * UNSTEADY_RANGE))
    ctx["bytes_definition"] = (
        "lookup and memcpy: 2*N*D*4 per call (each of N rows of D floats read once and written "
        "once); grad: N*D*4 (read dY) + 2*U*D*4 (read and write each of the U distinct rows the "
        "call touches)")
    ctx["icount_method"] = (
        "valgrind --tool=callgrind, instructions executed inside one public API call "
        "(--toggle-collect=gate_counted) after an uncounted warm-up call; one library thread")
    return ctx


# --- the timed part ---------------------------------------------------------------


def run_ratio_driver(args, cases, rounds, log):
    """Runs bench/gate-ratios; returns (measurements, {case: why unavailable})."""
    driver = os.path.join(args.build, "bench", "gate-ratios")
    if not os.access(driver, os.X_OK):
        die("%s not found: build it with `make bench/gate-ratios` (or run `make bench-gate`)" % driver)
    fd, out = tempfile.mkstemp(prefix="gate-ratios.", suffix=".jsonl")
    os.close(fd)
    argv = [driver, "--rounds=%d" % rounds, "--out=" + out,
            "--benchmark_min_time=%s" % args.min_time] + ["--case=" + c for c in cases]
    log.write("$ %s\n" % " ".join(argv))
    log.flush()
    env = dict(os.environ)
    env.pop("EMBSIMD_IMPL", None)
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.PIPE, universal_newlines=True,
                            env=env)
    for line in proc.stderr:
        log.write(line)
        if line.startswith("gate-ratios: shape"):  # progress; the rest stays in the log
            say("  " + line.rstrip())
    status = proc.wait()
    if status != 0:
        die("%s exited with status %d; its output is in %s" % (driver, status, log.name))
    records, unavailable = [], {}
    with open(out) as f:
        for line in f:
            r = json.loads(line)
            if "unavailable" in r:
                unavailable[r["case"]] = r["unavailable"]
            else:
                records.append(r)
    os.unlink(out)
    errors = ["%s: %s" % (r["case"], r["error"]) for r in records if "error" in r]
    if errors:
        die("benchmarks failed:\n  " + "\n  ".join(errors[:10]))
    return records, unavailable


def per_round_ratios(records):
    """{case: [kernel throughput / throughput of the copies on either side, per round]},
    throughput by CPU time."""
    by_slot = {(r["shape"], r["round"], r["pos"]): r for r in records}
    out = {}
    for r in records:
        if r["case"].startswith("copy/"):
            continue
        around = [by_slot.get((r["shape"], r["round"], r["pos"] + k)) for k in (-1, 1)]
        copies = [c["bytes"] / c["cpu_ns"] for c in around if c is not None and c["cpu_ns"] > 0]
        if not copies or r["cpu_ns"] <= 0:
            continue
        out.setdefault(r["case"], {})[r["round"]] = (r["bytes"] / r["cpu_ns"]) / (sum(copies) / len(copies))
    return out


def ratio_figures(records):
    """The timed figures: "<case> / memcpy" and "<simd case> / scalar"."""
    rounds = per_round_ratios(records)
    figs = {}
    for case, per in sorted(rounds.items()):
        xs = [per[k] for k in sorted(per)]
        figs[case + " / memcpy"] = {"kind": "memcpy", "case": case, "value": median(xs),
                                    "spread": spread(xs), "samples": xs}
        scalar = rounds.get(with_impl(case, "scalar"))
        if case_impl(case) != "scalar" and scalar:
            # The two memcpy ratios of one round: the throughput ratio on a
            # steady machine, with drift between the two runs divided out.
            common = sorted(set(per) & set(scalar))
            xs = [per[k] / scalar[k] for k in common]
            figs[case + " / scalar"] = {"kind": "scalar", "case": case, "value": median(xs),
                                        "spread": spread(xs), "samples": xs}
    return figs


def combine_processes(per_process, pick):
    """One figure from the medians of several driver processes. Where a
    process's pages land moves some DRAM-bound ratios from one process to the
    next, much more than within one, so a single process is a single draw. The gate
    keeps the best of its processes (pick=max) and the baseline the worst of
    its own (pick=min): a figure fails only when even its best process now is
    more than the margin below the baseline's worst."""
    figs = {}
    for name in sorted(set().union(*per_process), key=figure_order):
        got = [p[name] for p in per_process if name in p]
        values = [g["value"] for g in got]
        samples = [x for g in got for x in g["samples"]]
        figs[name] = {"kind": got[0]["kind"], "case": got[0]["case"], "value": pick(values),
                      "spread": spread(samples), "samples": samples, "process_values": values}
    return figs


def mark_unsteady(figs):
    """Baseline figures whose process medians ranged wider than twice the margin
    are kept as information: their next process can land anywhere in a range
    the 10 % check cannot judge."""
    for f in figs.values():
        lo, hi = min(f["process_values"]), max(f["process_values"])
        f["gated"] = hi <= lo * (1 + UNSTEADY_RANGE)
        if not f["gated"]:
            f["why_not_gated"] = "process medians %.3f-%.3f when recorded" % (lo, hi)


def recording_line(ctx, args):
    """One recording of a baseline, for its context's list."""
    return "%s, revision %s, %d processes of %d rounds, load %s" % (
        ctx["run_date"], ctx["git_revision"], args.baseline_runs, args.baseline_rounds,
        ctx["load_average"].split(" before")[0])


def merge_refusal(path, previous, ctx, counts):
    """Why this recording cannot be added to the baseline at path, or None."""
    if previous is None:
        return ("--merge: there is no baseline at %s to add this recording to; record one "
                "without --merge first" % path)
    pctx = previous["context"]
    if pctx.get("cpu_slug") != ctx["cpu_slug"] or pctx.get("cpu_simd_flags") != ctx["cpu_simd_flags"]:
        return ("--merge: %s was recorded on %s (%s), this is %s (%s)" % (
            path, pctx.get("cpu_model"), pctx.get("cpu_simd_flags"), ctx["cpu_model"],
            ctx["cpu_simd_flags"]))
    # Counts the gate itself would pass show, as far as counts can, that both
    # recordings timed the same kernels: a recording of other code must
    # replace the baseline, not widen it. (The counted shapes are small; a
    # change only to the DRAM paths, such as prefetch, shows in no count, so
    # the recordings' revisions are kept for the reader.)
    old_counts = previous["gate"]["instructions"]
    changed = []
    for k in sorted(set(old_counts) | set(counts), key=figure_order):
        a = old_counts.get(k, {}).get("instructions")
        b = counts.get(k, {}).get("instructions")
        if a is None or b is None or abs(b - a) > ICOUNT_GROWTH * a:
            changed.append("%s %s -> %s" % (k, a, b))
    if changed:
        return ("--merge: instruction counts moved by more than %.0f %% from the baseline's, so "
                "this is other code (or another toolchain): %s; record without --merge" % (
                    100 * ICOUNT_GROWTH, "; ".join(changed[:3])))
    return None


def merge_recording(args, path, previous, ctx, figs, entries, counts):
    """Adds this recording's process medians to the baseline at path. On a
    shared host some DRAM-bound ratios move between levels from one quarter
    hour to the next while the processes of one recording agree; only
    recordings made on several occasions show the whole range, so a merged
    figure is the lowest process median of all of them, and its range
    decides again whether it is gated. Returns (figures, entries)."""
    pctx, old_figs = previous["context"], previous["gate"]["ratios"]
    merged = {}
    for name, f in figs.items():
        o = old_figs.get(name)
        if o is None:
            die("--merge: %s has no figure %s; record without --merge" % (path, name))
        values = o.get("process_values", [o["value"]]) + f["process_values"]
        merged[name] = dict(f, value=min(values), process_values=values,
                            samples=o["samples"] + f["samples"])
        merged[name]["spread"] = spread(merged[name]["samples"])
    mark_unsteady(merged)
    if "recordings" not in pctx:  # a baseline recorded before --merge existed
        m = re.match(r"(\d+) driver processes of (\d+) rounds", pctx.get("gate_timing", ""))
        pctx["recordings"] = ["%s, revision %s, %sload %s" % (
            pctx.get("run_date"), pctx.get("git_revision"),
            "%s processes of %s rounds, " % m.groups() if m else "",
            pctx.get("load_average", "?").split(" before")[0])]
    ctx["recordings"] = pctx["recordings"] + [recording_line(ctx, args)]
    ctx["gate_timing"] = ctx["gate_timing"].replace(
        "the lowest (baseline)", "the lowest over all %d recordings (baseline)" % len(ctx["recordings"]))
    # Repetition numbers run on across recordings, so compare.py sees one set.
    entries = previous["benchmarks"] + entries
    seen = {}
    for e in entries:
        e["repetition_index"] = seen.get(e["name"], 0)
        seen[e["name"]] = e["repetition_index"] + 1
    for e in entries:
        e["repetitions"] = seen[e["name"]]
    return merged, entries


def measure_ratios(args, cases, runs, rounds, pick, log):
    """(records, figures, unavailable) of `runs` driver processes."""
    records, per_process, unavailable = [], [], {}
    for i in range(runs):
        say("  process %d of %d" % (i + 1, runs))
        got, unavailable = run_ratio_driver(args, cases, rounds, log)
        records += got
        per_process.append(ratio_figures(got))
    impls = sorted({case_impl(c): why for c, why in unavailable.items()}.items())
    for impl, why in impls:
        say("  not run here: %s: %s" % (impl, why))
    return records, combine_processes(per_process, pick), unavailable


# --- instruction counts -------------------------------------------------------------


def parse_callgrind(path):
    """(total instructions, instructions in libembsimd's own code) of one dump."""
    total, own = None, 0
    ob = ""
    skip_next = False
    with open(path) as f:
        for line in f:
            if line.startswith("ob="):
                ob = line[3:].strip()
            elif line.startswith("calls="):
                skip_next = True  # the next cost line is the callee's inclusive cost
            elif line[:1].isdigit() or line[:1] in "+-*":
                if skip_next:
                    skip_next = False
                    continue
                fields = line.split()
                if len(fields) >= 2 and "libembsimd" in os.path.basename(ob):
                    own += int(fields[1])
            elif line.startswith("totals:") or line.startswith("summary:"):
                total = int(line.split()[1])
    if total is None:
        die("%s has no totals line: not a callgrind output file?" % path)
    return total, own


def run_icounts(args, cases, repeat):
    """{case: {"instructions": n, "embsimd": n}} and {case: why unavailable}."""
    driver = os.path.join(args.build, "bench", "gate-icount")
    if not os.access(driver, os.X_OK):
        die("%s not found: build it with `make bench/gate-icount` (or run `make bench-gate`)" % driver)
    if shutil.which(args.valgrind) is None:
        die("valgrind not found (%s): the instruction counts need it. Install it (Debian: "
            "apt-get install valgrind), or pass --part=ratios to run only the timed part" % args.valgrind)
    runs = []
    for attempt in range(repeat):
        tmp = tempfile.mkdtemp(prefix="gate-callgrind.")
        argv = [args.valgrind, "--tool=callgrind", "--callgrind-out-file=" + os.path.join(tmp, "cg"),
                "--collect-atstart=no", "--toggle-collect=gate_counted",
                "--dump-after=gate_counted", "--compress-strings=no", "--compress-pos=no",
                driver] + ["--case=" + c for c in cases]
        env = dict(os.environ)
        env.pop("EMBSIMD_IMPL", None)
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, env=env)
        if p.returncode != 0:
            die("%s failed (status %d):\n%s" % (" ".join(argv[:2] + [driver]), p.returncode,
                                                 p.stderr[-3000:]))
        counted, unavailable = [], {}
        for line in p.stdout.splitlines():
            if line.startswith("counted "):
                counted.append(line[len("counted "):])
            elif line.startswith("unavailable "):
                name, why = line[len("unavailable "):].split(": ", 1)
                unavailable[name] = why
        dumps = sorted((f for f in os.listdir(tmp) if re.match(r"cg\.\d+$", f)),
                       key=lambda f: int(f.split(".")[1]))
        if len(dumps) != len(counted):
            die("callgrind wrote %d dumps for %d counted calls (in %s)" % (len(dumps), len(counted), tmp))
        counts = {}
        for case, dump in zip(counted, dumps):
            total, own = parse_callgrind(os.path.join(tmp, dump))
            counts[case] = {"instructions": total, "embsimd": own}
        shutil.rmtree(tmp, ignore_errors=True)
        runs.append(counts)
        say("  callgrind run %d/%d: %d calls counted%s" % (
            attempt + 1, repeat, len(counts),
            "" if not unavailable else "; not run: " + ", ".join(sorted(unavailable))))
    for later in runs[1:]:
        for case, c in runs[0].items():
            if later.get(case) != c:
                die("instruction counts differ between two runs of %s: %s and %s; they must be "
                    "exact to gate on" % (case, c, later.get(case)))
    return runs[0], unavailable


# --- comparing ------------------------------------------------------------------------


class Row:
    """One line of the verdict table. status: pass, FAIL, info, not run, new."""

    def __init__(self, part, name, base, new, status, note="", failed=False):
        self.part, self.name, self.base, self.new = part, name, base, new
        self.status, self.note, self.failed = status, note, failed
        self.recheck = None

    @property
    def gated(self):
        return self.status in ("pass", "FAIL")

    @property
    def verdict(self):
        return self.status + (" (%s)" % self.note if self.note else "")


def ratio_fails(kind, base, new, same_cpu):
    if same_cpu:
        return new < (1 - RATIO_DROP) * base
    return kind == "scalar" and new < SIMD_FLOOR


def compare_ratios(base_figs, figs, same_cpu, unavailable):
    rows = []
    for name in sorted(set(base_figs) | set(figs), key=figure_order):
        b = base_figs.get(name)
        f = figs.get(name)
        kind = (f or b)["kind"]
        base = b["value"] if b else None
        if f is None:
            why = unavailable.get(b["case"], "not measured in this run")
            rows.append(Row("ratio", name, base, None, "not run", why))
        elif not same_cpu and kind == "memcpy":
            rows.append(Row("ratio", name, base, f["value"], "info", "other CPU"))
        elif not same_cpu:
            fail = ratio_fails(kind, SIMD_FLOOR, f["value"], False)
            rows.append(Row("ratio", name, SIMD_FLOOR, f["value"], "FAIL" if fail else "pass",
                            "floor", failed=fail))
        elif b is None:
            rows.append(Row("ratio", name, None, f["value"], "new", "no baseline figure"))
        elif not b.get("gated", True):
            rows.append(Row("ratio", name, base, f["value"], "info", "not gated: " + b["why_not_gated"]))
        else:
            fail = ratio_fails(kind, base, f["value"], True)
            rows.append(Row("ratio", name, base, f["value"], "FAIL" if fail else "pass", failed=fail))
    return rows


def compare_counts(base_counts, counts, same_toolchain, unavailable):
    rows = []
    for name in sorted(set(base_counts) | set(counts), key=figure_order):
        b = base_counts.get(name)
        c = counts.get(name)
        base = b["instructions"] if b else None
        if c is None:
            rows.append(Row("icount", name, base, None, "not run", unavailable.get(name, "not measured")))
        elif b is None:
            rows.append(Row("icount", name, None, c["instructions"], "new", "no baseline figure"))
        elif not same_toolchain:
            rows.append(Row("icount", name, base, c["instructions"], "info", "toolchain differs"))
        else:
            fail = c["instructions"] > (1 + ICOUNT_GROWTH) * base
            rows.append(Row("icount", name, base, c["instructions"], "FAIL" if fail else "pass",
                            failed=fail))
    return rows


def figure_order(name):
    """Shape order of RATIO_SHAPES, then op, impl best first, then the figure."""
    parts = name.split(" ")[0].split("/")
    impl_rank = (SIMD_IMPLS + ["scalar"]).index(parts[1]) if parts[1] in SIMD_IMPLS + ["scalar"] else 9
    v, d, n = (int(p.split(":")[1]) for p in parts[2:5])
    return (v, d, n, parts[0] != "lookup", impl_rank, name)


def fmt_value(part, x):
    if x is None:
        return "–"
    return "{:,}".format(x) if part == "icount" else "%.3f" % x


def fmt_change(base, new):
    if base is None or new is None or base == 0:
        return "–"
    return "%+.1f %%" % (100.0 * (new / base - 1.0))


def print_table(rows, figs):
    header = ["kernel", "figure", "baseline", "new", "change", "spread", "recheck", "verdict"]
    lines = []
    for r in rows:
        if r.part == "icount":
            kernel, figure = r.name, "instructions"
        else:
            kernel, ref = r.name.split(" / ")
            figure = "÷ " + ref
        f = figs.get(r.name) if r.part == "ratio" else None
        floor = r.note.startswith("floor")  # the base is the floor, not a recorded figure
        lines.append([kernel, figure, ("≥ " if floor else "") + fmt_value(r.part, r.base),
                      fmt_value(r.part, r.new), "–" if floor else fmt_change(r.base, r.new),
                      "%.1f %%" % (100 * f["spread"]) if f else "",
                      fmt_value(r.part, r.recheck) if r.recheck is not None else "", r.verdict])
    widths = [max(len(h), *(len(l[i]) for l in lines)) if lines else len(h) for i, h in enumerate(header)]
    def row(cells):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    say(row(header))
    say("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for l in lines:
        say(row(l))


# --- output files -----------------------------------------------------------------------


def gbench_entries(records):
    """The measurements in Google Benchmark's JSON form, for compare.py."""
    entries = []
    names = []
    for r in records:
        if r["case"] not in names:
            names.append(r["case"])
    for fi, name in enumerate(names):
        mine = [r for r in records if r["case"] == name]
        for i, r in enumerate(mine):
            entries.append({
                "name": name, "family_index": fi, "per_family_instance_index": 0,
                "run_name": name, "run_type": "iteration", "repetitions": len(mine),
                "repetition_index": i, "threads": 1, "iterations": r["iterations"],
                "real_time": r["real_ns"], "cpu_time": r["cpu_ns"], "time_unit": "ns",
                "bytes_per_second": r["bytes"] / (r["real_ns"] * 1e-9) if r["real_ns"] > 0 else 0.0,
                "label": r.get("label", "")})
    return entries


def write_json(path, ctx, entries, figs, counts):
    """entries: Google Benchmark JSON entries (gbench_entries)."""
    # One measurement per line: the file stays readable and a third the size.
    head = json.dumps({"format": FORMAT, "context": ctx}, indent=1)[:-2]
    def lines(d):
        return "{\n" + ",\n".join("   %s: %s" % (json.dumps(k), json.dumps(v)) for k, v in d.items()) + "\n  }"
    gate = '{\n  "ratios": %s,\n  "instructions": %s\n }' % (lines(figs), lines(counts))
    entries = ",\n  ".join(json.dumps(e) for e in entries)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write('%s,\n "benchmarks": [\n  %s\n ],\n "gate": %s\n}\n' % (head, entries, gate))
    os.replace(tmp, path)


def markdown_tables(doc, image=None):
    """The baseline's context, ratios and counts as markdown."""
    ctx, figs, counts = doc["context"], doc["gate"]["ratios"], doc["gate"]["instructions"]
    out = ["| context | |", "| --- | --- |"]
    for label, key in (("date", "run_date"), ("host", "run_host"), ("CPU", "cpu_model"),
                       ("SIMD flags", "cpu_simd_flags"), ("compiler", "compiler"),
                       ("compiler flags", "compiler_flags"), ("configure", "configure_options"),
                       ("embsimd", "embsimd_version"), ("git revision", "git_revision"),
                       ("C library", "libc"), ("valgrind", "valgrind"), ("load", "load_average"),
                       ("recordings", "recordings"),
                       ("timing", "gate_timing"), ("thresholds", "gate_thresholds")):
        value = ctx.get(key)
        if isinstance(value, list):
            value = "; ".join(value)
        if value:
            out.append("| %s | %s |" % (label, value.replace("|", "\\|")))
    out += ["", "Same-run ratios by CPU time: the lowest of the process medians (each the "
            "median over its rounds) of every recording, which the gate compares with; *range*: from the lowest "
            "to the highest process median. A figure marked ° ranged over more than %.0f %% "
            "and is shown, not gated." % (100 * UNSTEADY_RANGE), "",
            "| kernel | ÷ memcpy | range | ÷ scalar | range |", "| --- | ---: | ---: | ---: | ---: |"]

    def cell(f, digits):
        if f is None:
            return ["–", "–"]
        pv = f.get("process_values", [f["value"]])
        mark = "" if f.get("gated", True) else " °"
        return ["%.*f%s" % (digits, f["value"], mark), "%.*f–%.*f" % (digits, min(pv), digits, max(pv))]

    for case in sorted({f["case"] for f in figs.values()}, key=figure_order):
        cells = cell(figs.get(case + " / memcpy"), 3) + cell(figs.get(case + " / scalar"), 2)
        out.append("| %s | %s |" % (case, " | ".join(cells)))
    out += ["", "Instructions inside one API call (callgrind; embsimd's own code, the rest is "
            "the C library's memcpy and pthread_once):", "",
            "| kernel | instructions | of which embsimd |", "| --- | ---: | ---: |"]
    for case in sorted(counts, key=figure_order):
        out.append("| %s | {:,} | {:,} |".format(counts[case]["instructions"], counts[case]["embsimd"]) % case)
    if image:
        out += ["", "![same-run ratios of the baseline](%s)" % image]
    return "\n".join(out) + "\n"


def svg_plot(doc, path):
    """Bars of the baseline's ratios with their round-to-round range."""
    figs = doc["gate"]["ratios"]
    panels = [("memcpy", "kernel ÷ same-run memcpy of its bytes (CPU time)"),
              ("scalar", "SIMD kernel ÷ scalar kernel, same shape")]
    row_h, label_w, bar_w, top = 18, 330, 420, 40
    parts, y = [], top
    esc = lambda s: s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for kind, title in panels:
        items = sorted((f for f in figs.values() if f["kind"] == kind), key=lambda f: figure_order(f["case"]))
        if not items:
            continue
        hi = max(max(f["samples"] + [f["value"]]) for f in items)
        scale = bar_w / (hi * 1.08)
        parts.append('<text x="10" y="%d" font-weight="bold">%s</text>' % (y, esc(title)))
        y += 10
        for f in items:
            w = f["value"] * scale
            lo_x = label_w + min(f["samples"]) * scale
            hi_x = label_w + max(f["samples"]) * scale
            parts.append('<text x="%d" y="%d" text-anchor="end">%s</text>' % (label_w - 6, y + 13, esc(f["case"])))
            gated = f.get("gated", True)
            parts.append('<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>' % (
                label_w, y + 3, w, row_h - 6, "#4a7bb7" if gated else "#b0b0b0"))
            parts.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="black"/>' % (lo_x, hi_x, y + row_h // 2, y + row_h // 2))
            parts.append('<text x="%.1f" y="%d">%.3f%s</text>' % (
                max(hi_x, label_w + w) + 6, y + 13, f["value"], "" if gated else " °"))
            y += row_h
        if kind == "memcpy":
            x1 = label_w + scale
            parts.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#c33" stroke-dasharray="4 3"/>' % (x1, x1, y - row_h * len(items), y))
        y += 30
    ctx = doc["context"]
    caption = "%s; %s; %s; %s" % (ctx.get("cpu_model", ""), ctx.get("compiler", ""),
                                  ctx.get("git_revision", ""), ctx.get("run_date", ""))
    parts.append('<text x="10" y="%d" font-size="11">%s</text>' % (y - 16, esc(caption)))
    parts.append('<text x="10" y="%d" font-size="11">bar: the baseline figure, the lowest process '
                 'median; line: range of all rounds; dashed: memcpy; grey, °: not gated '
                 '(process medians ranged over %.0f %%)</text>' % (y, 100 * UNSTEADY_RANGE))
    y += 10
    width = label_w + bar_w + 90
    svg = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="monospace" font-size="12">' % (width, y + 5),
           '<rect width="100%" height="100%" fill="white"/>'] + parts + ["</svg>"]
    with open(path, "w") as f:
        f.write("\n".join(svg) + "\n")


def render_baseline(path):
    """Writes the .md table and .svg plot next to the baseline file at path."""
    with open(path) as f:
        doc = json.load(f)
    stem = os.path.splitext(path)[0]
    name = os.path.basename(stem)
    svg_plot(doc, stem + ".svg")
    with open(stem + ".md", "w") as f:
        f.write("# Regression-gate baseline: %s\n\nGenerated by `make bench-gate-baseline` "
                "(`bench/gate.py --update-baseline`) from `%s.json`; see "
                "`results/README.md`.\n\n" % (doc["context"].get("cpu_model", name), name))
        f.write(markdown_tables(doc, name + ".svg"))


README_BEGIN = "<!-- gate-baseline: generated by `make bench-gate-baseline`; do not edit by hand -->"
README_END = "<!-- gate-baseline: end -->"


def update_readme(results):
    """Rewrites the generated section of results/README.md from every baseline."""
    readme = os.path.join(results, "README.md")
    try:
        with open(readme) as f:
            text = f.read()
    except OSError:
        say("%s not found: its baseline section was not written" % readme)
        return
    if README_BEGIN not in text or README_END not in text:
        say("%s lacks the generated-section markers: its baseline section was not written" % readme)
        return
    base_dir = os.path.join(results, "baseline")
    section = [README_BEGIN, ""]
    for fn in sorted(os.listdir(base_dir)):
        if not fn.endswith(".json"):
            continue
        with open(os.path.join(base_dir, fn)) as f:
            doc = json.load(f)
        slug = fn[:-5]
        section += ["### %s" % doc["context"].get("cpu_model", slug), "",
                    "From `baseline/%s.json` (also as `baseline/%s.md`)." % (slug, slug), "",
                    markdown_tables(doc, "baseline/%s.svg" % slug)]
    section.append(README_END)
    head, rest = text.split(README_BEGIN, 1)
    tail = rest.split(README_END, 1)[1]
    with open(readme, "w") as f:
        f.write(head + "\n".join(section) + tail)
    say("regenerated the baseline section of %s" % readme)


# --- the gate ------------------------------------------------------------------------------


def load_baseline(args, cpu):
    """(path, document) of the baseline to compare with, or (path, None)."""
    base_dir = os.path.join(args.results, "baseline")
    if args.baseline:
        path = args.baseline
    else:
        path = os.path.join(base_dir, cpu["slug"] + ".json")
        if not os.path.exists(path):
            others = sorted(f for f in os.listdir(base_dir) if f.endswith(".json")) \
                if os.path.isdir(base_dir) else []
            if args.update_baseline or not others:
                return path, None
            path = os.path.join(base_dir, others[0])
    if not os.path.exists(path):
        return path, None
    with open(path) as f:
        doc = json.load(f)
    if doc.get("format") != FORMAT:
        die("%s is not a gate baseline (format %r, expected %r)" % (path, doc.get("format"), FORMAT))
    return path, doc


def recheck(args, rows, figs, same_cpu, log):
    """Re-measures the kernels behind failing ratio rows; a row stays failed only
    when the recheck fails too."""
    failing = [r for r in rows if r.failed and r.part == "ratio"]
    if not failing:
        return
    cases = []
    for r in failing:
        case = figs[r.name]["case"]
        for c in (case, with_impl(case, "scalar")) if figs[r.name]["kind"] == "scalar" else (case,):
            if c not in cases:
                cases.append(c)
    say("")
    say("recheck: %d figure(s) below the line; re-measuring %d kernel(s) in new processes" % (
        len(failing), len(cases)))
    _, again, _ = measure_ratios(args, cases, args.runs, args.rounds, max, log)
    for r in failing:
        g = again.get(r.name)
        r.recheck = g["value"] if g else None
        notes = [r.note] if r.note else []
        if g is not None and not ratio_fails(figs[r.name]["kind"], r.base, g["value"], same_cpu):
            r.failed = False
            r.status = "pass"
            r.note = ", ".join(notes + ["failed once, passed the recheck"])
        else:
            r.note = ", ".join(notes + ["recheck failed too"])


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(
        prog="gate.py",
        description="embsimd's benchmark regression gate. Times a fixed set of kernels against "
                    "the same-run memcpy of their bytes and against scalar, counts their "
                    "instructions under callgrind, and compares both with the baseline recorded "
                    "for this CPU (results/baseline/<cpu>.json). Exit status: 0 pass, 1 a "
                    "regression, 2 the gate could not run. On another CPU than the baseline's "
                    "it runs only the machine-independent checks, and says so.",
        epilog="Usually run through make: `make bench-gate`, `make bench-gate-baseline`. "
               "results/README.md explains the method.")
    ap.add_argument("--build", default=".", help="the configured and built build directory (default: .)")
    ap.add_argument("--results", default=os.path.normpath(os.path.join(here, os.pardir, "results")),
                    help="the results directory holding baseline/ (default: the source tree's)")
    ap.add_argument("--baseline", help="compare with this baseline file instead of results/baseline/<cpu>.json")
    ap.add_argument("--update-baseline", action="store_true",
                    help="measure (with --baseline-runs) and rewrite this CPU's baseline, its "
                         ".md table and .svg plot, and the section of results/README.md; no verdict")
    ap.add_argument("--merge", action="store_true",
                    help="with --update-baseline: add this recording's processes to the "
                         "baseline's instead of replacing them; each figure becomes the lowest "
                         "process median of all recordings. For recordings on several occasions "
                         "of the same code (its instruction counts may not move by more than 2 %%)")
    ap.add_argument("--render-baseline", action="store_true",
                    help="only regenerate the .md and .svg of every baseline in results/baseline/ "
                         "and the section of results/README.md; measures nothing")
    ap.add_argument("--part", choices=("all", "ratios", "icount"), default="all",
                    help="which checks to run (default: all)")
    ap.add_argument("--runs", type=int, default=3,
                    help="driver processes of the timed part, and of the recheck of a failing "
                         "ratio; the best process median counts (default 3)")
    ap.add_argument("--rounds", type=int, default=4, help="rounds per process (default 4)")
    ap.add_argument("--baseline-runs", type=int, default=5,
                    help="driver processes when recording a baseline; the worst process median "
                         "counts (default 5)")
    ap.add_argument("--baseline-rounds", type=int, default=7,
                    help="rounds per process when recording a baseline (default 7)")
    ap.add_argument("--min-time", default="0.03",
                    help="seconds per Google Benchmark run (default 0.03)")
    ap.add_argument("--icount-repeat", type=int, default=1,
                    help="count each case this many times and require identical counts "
                         "(default 1; 2 when recording a baseline)")
    ap.add_argument("--valgrind", default="valgrind", help="the valgrind command (default: valgrind)")
    ap.add_argument("--out", help="where to write this run's JSON (default: BUILD/gate-run.json)")
    args = ap.parse_args()
    if args.merge and not args.update_baseline:
        die("--merge only goes with --update-baseline")
    if args.merge and args.part != "all":
        die("--merge needs the whole gate (--part=all): the counts show the code is unchanged")
    for name in ("runs", "rounds", "baseline_runs", "baseline_rounds", "icount_repeat"):
        if getattr(args, name) < 1:
            die("--%s must be at least 1" % name.replace("_", "-"))
    try:
        if float(args.min_time) <= 0:
            raise ValueError
    except ValueError:
        die("--min-time: %r is not a positive number of seconds" % args.min_time)
    if args.render_baseline:
        base_dir = os.path.join(args.results, "baseline")
        for fn in sorted(os.listdir(base_dir)):
            if fn.endswith(".json"):
                render_baseline(os.path.join(base_dir, fn))
                say("rendered %s (.md, .svg)" % os.path.join(base_dir, fn))
        update_readme(args.results)
        return 0
    if not os.path.isfile(os.path.join(args.build, "config.h")):
        die("--build=%s is not a configured build directory (no config.h)" % args.build)
    if args.update_baseline:
        args.icount_repeat = max(args.icount_repeat, 2)

    cpu = cpu_identity()
    ctx = run_context(args, cpu)
    base_path, base = load_baseline(args, cpu)
    say("embsimd regression gate")
    say("  CPU:      %s [%s]" % (cpu["model"], cpu["slug"]))
    say("  build:    %s, %s, %s" % (ctx["compiler"], ctx["configure_options"] or "(no configure options)", ctx["git_revision"]))
    say("  load:     %s" % ctx["load_average"])
    if "slow-kernels" in ctx["configure_options"]:
        say("  NOTE:     this build was configured --enable-slow-kernels (deliberately slowed)")

    same_cpu = same_toolchain = True
    if args.update_baseline:
        say("  mode:     %s the baseline %s" % (
            "adding a recording to" if args.merge else "recording",
            os.path.join(args.results, "baseline", cpu["slug"] + ".json")))
    elif base is None:
        die("no baseline at %s: record one with `make bench-gate-baseline` (results/README.md)" % base_path)
    else:
        bctx = base["context"]
        say("  baseline: %s (%s, %s, %s)" % (base_path, bctx.get("cpu_model"), bctx.get("git_revision"), bctx.get("run_date")))
        same_cpu = bctx.get("cpu_slug") == cpu["slug"] and bctx.get("cpu_simd_flags") == cpu["simd_flags"]
        if not same_cpu:
            say("  NOTE:     this CPU is not the baseline's (%s, SIMD flags: %s; baseline: %s, %s)."
                % (cpu["model"], cpu["simd_flags"], bctx.get("cpu_model"), bctx.get("cpu_simd_flags")))
            say("            Only the machine-independent checks gate: instruction counts, and every")
            say("            SIMD kernel at least %.2f x scalar. kernel/memcpy ratios are shown as information." % SIMD_FLOOR)
        diffs = [k for k in ("compiler", "compiler_flags", "libc")
                 if codegen(bctx.get(k, "")) != codegen(ctx[k])]
        same_toolchain = not diffs
        if diffs:
            say("  NOTE:     instruction counts depend on the compiler, its flags and the C library; these")
            say("            differ from the baseline's (%s), so the counts are shown, not gated:" % ", ".join(diffs))
            for k in diffs:
                say("              %s: %s (baseline: %s)" % (k, ctx[k], bctx.get(k)))
            say("            re-record the baseline with this toolchain to gate on them.")
        if bctx.get("valgrind") != ctx["valgrind"]:
            say("  note:     valgrind %s here, %s for the baseline" % (ctx["valgrind"], bctx.get("valgrind")))

    log_path = os.path.join(args.build, "gate-ratios.log")
    counts, count_unavail, figs, ratio_unavail, records = {}, {}, {}, {}, []
    with open(log_path, "w") as log:
        if args.part in ("all", "icount"):
            say("")
            say("instruction counts (callgrind, %d calls)" % len(icount_cases()))
            counts, count_unavail = run_icounts(args, icount_cases(), args.icount_repeat)
            if args.merge:  # before the minute of timing that the refusal would waste
                why = merge_refusal(base_path, base, ctx, counts)
                if why:
                    die(why)
        if args.part in ("all", "ratios"):
            say("")
            say("same-run ratios (%d kernels; Google Benchmark's console output goes to %s)"
                % (len(ratio_cases()), log_path))
            for (v, d, n), why in RATIO_SHAPES:
                say("  V=%d D=%d N=%d: %s" % (v, d, n, why))
            if args.update_baseline:
                records, figs, ratio_unavail = measure_ratios(
                    args, ratio_cases(), args.baseline_runs, args.baseline_rounds, min, log)
                mark_unsteady(figs)
            else:
                records, figs, ratio_unavail = measure_ratios(
                    args, ratio_cases(), args.runs, args.rounds, max, log)

        if args.update_baseline:
            base_dir = os.path.join(args.results, "baseline")
            os.makedirs(base_dir, exist_ok=True)
            path = os.path.join(base_dir, cpu["slug"] + ".json")
            previous = previous_doc = None
            if os.path.exists(path):
                with open(path) as f:
                    previous_doc = json.load(f)
                previous = previous_doc["context"]
            entries = gbench_entries(records)
            if args.merge:
                figs, entries = merge_recording(args, path, previous_doc, ctx, figs, entries, counts)
            else:
                ctx["recordings"] = [recording_line(ctx, args)]
            write_json(path, ctx, entries, figs, counts)
            render_baseline(path)
            update_readme(args.results)
            say("")
            if args.merge:
                say("BASELINE MERGED: %s (and .md, .svg) now holds %d recordings:" % (
                    path, len(ctx["recordings"])))
                for line in ctx["recordings"]:
                    say("  " + line)
            else:
                say("BASELINE REWRITTEN: %s (and .md, .svg)%s" % (
                    path, "" if previous is None else "; it replaces the one of %s, revision %s"
                    % (previous.get("run_date"), previous.get("git_revision"))))
            say("%d ratios, %d instruction counts; review the change (git diff -- %s) before "
                "committing it" % (len(figs), len(counts), base_dir))
            return 0

        rows = []
        if args.part in ("all", "ratios"):
            rows += compare_ratios(base["gate"]["ratios"], figs, same_cpu, ratio_unavail)
            recheck(args, rows, figs, same_cpu, log)
        if args.part in ("all", "icount"):
            rows += compare_counts(base["gate"]["instructions"], counts, same_toolchain, count_unavail)

    out = args.out or os.path.join(args.build, "gate-run.json")
    write_json(out, ctx, gbench_entries(records), figs, counts)
    say("")
    print_table(rows, figs)
    failed = [r for r in rows if r.failed]
    gated = [r for r in rows if r.gated]
    say("")
    say("this run: %s (compare with /usr/bin/python3 /usr/share/benchmark/compare.py benchmarks %s %s)"
        % (out, base_path, out))
    if failed:
        say("GATE FAILED: %d of %d gated figures regressed:" % (len(failed), len(gated)))
        for r in failed:
            say("  %s: %s -> %s (%s)" % (r.name.replace(" / ", " ÷ ") if r.part == "ratio" else r.name + " instructions",
                                         fmt_value(r.part, r.base), fmt_value(r.part, r.new),
                                         fmt_change(r.base, r.new)))
        return 1
    if not gated:
        say("GATE PASSED, but nothing here could be compared with this baseline (see the notes "
            "above): no figure was gated")
        return 0
    say("GATE PASSED: %d gated figures, none regressed%s" % (
        len(gated), "" if same_cpu else " (machine-independent checks only: other CPU)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
