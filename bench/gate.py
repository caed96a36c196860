#!/usr/bin/env python3
"""gate.py - embsimd's benchmark regression gate: the head build against a
reference revision built and run in the same session (results/README.md,
"The regression gate").

Timed part: the gate's kernels (listed by its C drivers from the library's
implementation table) run in the reference and the head build as separate
processes in ABBA order; per figure (CPU time per call, kernel ÷ memcpy,
SIMD ÷ scalar) the head fails when its median is more than --threshold
slower and a Mann-Whitney test on the per-process values agrees, in the run
and again in a recheck. Instruction counts: callgrind, head against
reference, +2 % at most. Where no reference can be built, the counts are
compared with the recorded figures and the gate says in one line why timing
was not gated.

Standard library only; runs with any Python 3.7 or later.
"""

import argparse
import datetime
import json
import os
import platform
import re
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gate_measure as measure  # noqa: E402
import gate_render as render  # noqa: E402
import gate_stats as stats  # noqa: E402

PROG = "gate"

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


def run_context(build, valgrind):
    ctx = {}
    cpu = cpu_identity()
    now = datetime.datetime.now(datetime.timezone.utc)
    ctx["run_date"] = now.strftime("%Y-%m-%d %H:%M:%S UTC")
    ctx["run_host"] = socket.gethostname()
    ctx["cpu_model"] = cpu["model"]
    ctx["cpu_slug"] = cpu["slug"]
    ctx["cpu_simd_flags"] = cpu["simd_flags"]
    ctx["cpu_flags"] = cpu["flags"]
    ctx["num_cpus"] = str(os.cpu_count())
    ctx.update(build_info(build))
    try:
        glibc = os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError, AttributeError):
        glibc = None
    ctx["libc"] = glibc or platform.libc_ver()[0] or "unknown"
    ctx["kernel"] = platform.system() + " " + platform.release()
    ctx["valgrind"] = tool_version([valgrind, "--version"])
    ctx["python"] = platform.python_version()
    load = os.getloadavg()
    cpus = os.cpu_count() or 1
    ctx["load_average"] = "%.2f %.2f %.2f before the run, on %d CPUs%s" % (
        load[0], load[1], load[2], cpus,
        ": other work was running" if load[0] > 0.5 * cpus else "")
    return ctx


def die(msg, status=2):
    print("%s: %s" % (PROG, msg), file=sys.stderr, flush=True)
    sys.exit(status)


say = measure.say

# --- the gate -----------------------------------------------------------------------------


def shape_of(case):
    """"V:1000/D:64/N:512" of "lookup/avx2[/bf16->f32]/V:1000/D:64/N:512"."""
    return case[case.index("/V:") + 1:] if "/V:" in case else case


def kernel_of(case):
    """What a case times, without the shape: "lookup/avx2/bf16->f32"."""
    return case[:case.index("/V:")] if "/V:" in case else case


def not_run_lines(unavailable):
    """One line per implementation that runs nothing here, and per reason
    that only some of an implementation's kernels have."""
    by_impl = {}
    for name, why in unavailable.items():
        by_impl.setdefault(name.split("/")[1], {}).setdefault(why, []).append(name)
    lines = []
    for impl, reasons in sorted(by_impl.items()):
        for why, names in sorted(reasons.items()):
            if len(reasons) == 1 and all(n.count("/") <= 4 for n in names):
                lines.append("%s (%s)" % (impl, why))
                continue
            kernels = sorted({kernel_of(n) for n in names})
            lines.append("%s (%s)" % (", ".join(kernels), why))
    return lines


def recheck(args, builds, rows, log):
    """Re-measures, in new processes, the kernels behind failing timed figures;
    a figure stays failed only when it fails the recheck too."""
    failing = [r for r in rows if r.part == "timed" and r.failed]
    if not failing:
        return
    cases = []
    for r in failing:
        for c in ([r.case, measure.with_impl(r.case, "scalar")] if r.kind == "scalar" else [r.case]):
            if c not in cases:
                cases.append(c)
    say("")
    say("recheck: %d figure(s) failed; re-measuring %d kernel(s) in %d new processes" % (
        len(failing), len(cases), 4 * args.ab_rounds))
    # A failing figure was measured in both builds, and so was scalar's.
    procs, _, _ = measure.measure_ab(builds, cases, args.ab_rounds, args.rounds, args.min_time, log)
    again_rows = stats.compare_timed(procs["ref"], procs["head"], args.threshold, args.alpha)
    stats.excuse_scalar_ratios(again_rows)
    again = {r.name: r for r in again_rows}
    for r in failing:
        r.recheck = again.get(r.name)
        if r.recheck is None or not r.recheck.failed:
            r.status = "pass"
            r.note = "failed, then passed the recheck"
        else:
            r.note = "the recheck failed too"


def recorded_counts(results, ctx):
    """(label, counts) of the recorded baseline this build's counts can be
    compared with, or (reason, None): of those counted with this compiler,
    its flags and C library, the most recent (counts follow the code, and
    hardly the CPU, on the gate's small cache-resident shapes)."""
    base_dir = os.path.join(results, "baseline")
    try:
        names = sorted(f for f in os.listdir(base_dir) if f.endswith(".json"))
    except OSError:
        return "no recorded figures in %s" % base_dir, None
    usable = []
    for fn in names:
        with open(os.path.join(base_dir, fn)) as f:
            doc = json.load(f)
        bctx = doc.get("context", {})
        if all(codegen(bctx.get(k, "")) == codegen(ctx[k]) for k in ("compiler", "compiler_flags", "libc")):
            usable.append((bctx.get("run_date", ""), fn, bctx, doc))
    if not usable:
        return ("none of the recorded figures in %s was counted with this compiler, its flags "
                "and C library" % base_dir), None
    _, fn, bctx, doc = max(usable)
    return ("baseline/%s (%s, %s)" % (fn, bctx.get("git_revision", "?"), bctx.get("run_date", "?")),
            doc["gate"]["instructions"])


def gate(args, srcdir):
    ctx = run_context(args.build, args.valgrind)
    say("embsimd regression gate: the head build against a reference build, same machine, same run")
    say("  CPU:       %s" % ctx["cpu_model"])
    say("  head:      %s (%s, %s, %s)" % (os.path.abspath(args.build), ctx["git_revision"],
                                          ctx["compiler"], ctx["configure_options"] or "no configure options"))
    say("  load:      %s" % ctx["load_average"])
    if "slow-kernels" in ctx["configure_options"]:
        say("  NOTE:      the head build was configured --enable-slow-kernels (deliberately slowed)")

    builds, no_ab = {"head": args.build}, None
    ref_label = None
    if args.ref_build:
        builds["ref"] = args.ref_build
        ref_label = "the build in %s" % args.ref_build
    else:
        rev = args.ref or os.environ.get("GATE_REF") or measure.read_reference(args.results)
        try:
            if not rev:
                raise measure.NoReference("no reference revision: %s names none and GATE_REF is "
                                          "not set" % os.path.join(args.results, "baseline", "REFERENCE"))
            full = measure.resolve_revision(srcdir, rev)
            ref_label = "revision %s%s" % (full[:12], "" if rev.startswith(full[:len(rev)]) else " (%s)" % rev)
            head_rev, dirty = measure.working_tree_state(srcdir)
            if head_rev == full and not dirty:
                say("  NOTE:      the head is the reference revision: an A/A run, which measures only noise")
            say("  reference: %s" % ref_label)
            builds["ref"] = measure.build_reference(
                srcdir, args.build, full, args.ref_cache or os.path.join(args.build, "gate-ref"),
                os.path.join(args.build, "gate-ref-build.log"))
        except measure.NoReference as e:
            no_ab = str(e)
    rows, extra, not_run = [], {}, {}
    log_path = os.path.join(args.build, "gate-ratios.log")
    out_dir = args.out_dir or args.build

    if args.part in ("all", "icount"):
        cases, unavailable = measure.list_cases(args.build, "icount")
        names = [c for c, _ in cases]
        say("")
        say("instruction counts (callgrind, %d calls per build)" % len(names))
        head_counts, unav = measure.run_icounts(args.build, names, args.valgrind)
        unavailable.update(unav)
        if no_ab is None:
            ref_names = measure.accepted_cases(builds["ref"], "icount", names)
            if len(ref_names) < len(names):
                say("  %d of them new to the reference build (not counted there)"
                    % (len(names) - len(ref_names)))
            ref_counts, _ = measure.run_icounts(builds["ref"], ref_names, args.valgrind)
            rows += stats.compare_counts(ref_counts, head_counts, args.icount_growth, unavailable)
        else:
            label, recorded = recorded_counts(args.results, ctx)
            if recorded is None:
                say("  counts not gated either: %s" % label)
            else:
                say("  against the recorded counts of %s" % label)
                rows += stats.compare_counts(recorded, head_counts, args.icount_growth, unavailable,
                                             "recorded figures")
        not_run.update(unavailable)

    if args.part in ("all", "timed") and no_ab is None:
        cases, unavailable = measure.list_cases(args.build, "timed")
        names = [c for c, _ in cases]
        say("")
        say("timed figures: %d kernels, %d processes per build in ABBA order, %d rounds each "
            "(Google Benchmark's output: %s)" % (len(names), 2 * args.ab_rounds, args.rounds, log_path))
        shapes = []
        for name, why in cases:
            shape = shape_of(name)
            if shape not in [s for s, _ in shapes]:
                shapes.append((shape, why))
        for shape, why in shapes:
            kernels = sorted({kernel_of(n).split("/", 2)[-1] if n.count("/") > 4 else "f32"
                              for n, _ in cases if shape_of(n) == shape})
            say("  %s: %s (%s)" % (shape, why, ", ".join(kernels)))
        ref_names = measure.accepted_cases(builds["ref"], "timed", names)
        if len(ref_names) < len(names):
            say("  %d kernel(s) new to the reference build: timed in the head only, shown as "
                "\"new\", not gated" % (len(names) - len(ref_names)))
        with open(log_path, "w") as log:
            procs, records, unav = measure.measure_ab(builds, {"ref": ref_names, "head": names},
                                                      args.ab_rounds, args.rounds, args.min_time,
                                                      log)
            unavailable.update(unav)
            timed = stats.compare_timed(procs["ref"], procs["head"], args.threshold, args.alpha)
            stats.excuse_scalar_ratios(timed)
            recheck(args, builds, timed, log)
        rows += timed
        not_run.update(unavailable)
        for side in ("ref", "head"):
            path = os.path.join(out_dir, "gate-%s.json" % side)
            sctx = dict(ctx, gate_build=os.path.abspath(builds[side]),
                        gate_side=side, gate_reference=ref_label or "")
            render.write_gbench_json(path, sctx, records[side])
        extra["json"] = [os.path.join(out_dir, "gate-ref.json"), os.path.join(out_dir, "gate-head.json")]

    say("")
    impls = {}
    for name, why in not_run.items():
        impls.setdefault(name.split("/")[1], why)
    for line in not_run_lines(not_run):
        say("not run here: %s" % line)
    if no_ab is not None:
        say("TIMING NOT GATED: %s." % no_ab)
    if rows:
        render.print_table(rows)
    failed = [r for r in rows if r.failed]
    gated = [r for r in rows if r.gated]
    kernels = sorted({"/".join(r.case.split("/")[:2]) for r in failed})
    extra.update(not_run=impls, reference=ref_label, timing_not_gated=no_ab, failed_kernels=kernels,
                 threshold=args.threshold, alpha=args.alpha, icount_growth=args.icount_growth)
    verdict_path = os.path.join(out_dir, "gate-run.json")
    render.write_verdict_json(verdict_path, ctx, rows, extra)
    say("")
    if "json" in extra:
        say("runs: %s (pair them: /usr/bin/python3 /usr/share/benchmark/compare.py benchmarks %s %s)"
            % (verdict_path, extra["json"][0], extra["json"][1]))
    if failed:
        say("GATE FAILED: %d of %d gated figures regressed, in %d kernel(s): %s" % (
            len(failed), len(gated), len(kernels), ", ".join(kernels)))
        for r in failed:
            say("  %s %s: %s -> %s (%s slower, p %s)" % (
                r.case, render.KIND_LABEL.get(r.kind, r.kind), render._fmt(r.kind, r.ref),
                render._fmt(r.kind, r.head), render._fmt_change(r.change),
                "%.3f" % r.p if r.p is not None else "–"))
        return 1
    if not gated:
        say("GATE COULD NOT COMPARE ANYTHING: no figure was gated (see above); this is not a pass")
        return 3
    say("GATE PASSED: %d gated figures, none regressed%s" % (
        len(gated), "" if no_ab is None else " (instruction counts only: timing was not gated)"))
    return 0


def record_baseline(args):
    """Records this machine's figures of the head build as history (no verdict):
    results/baseline/<cpu>.json, .md, .svg and the section of results/README.md."""
    ctx = run_context(args.build, args.valgrind)
    say("recording the gate's figures of %s on %s" % (os.path.abspath(args.build), ctx["cpu_model"]))
    cases, unavailable = measure.list_cases(args.build, "icount")
    counts, _ = measure.run_icounts(args.build, [c for c, _ in cases], args.valgrind)
    again, _ = measure.run_icounts(args.build, [c for c, _ in cases], args.valgrind)
    if again != counts:
        die("instruction counts differ between two callgrind runs of the same build; they must "
            "be exact to be recorded")
    cases, unavailable = measure.list_cases(args.build, "timed")
    with open(os.path.join(args.build, "gate-ratios.log"), "w") as log:
        procs, records, _ = measure.measure_one(args.build, [c for c, _ in cases], args.processes,
                                                args.rounds, args.min_time, log)
    figs = {}
    for p in procs:
        for name, (case, kind, value) in p.items():
            if kind == "time":
                continue
            key = "%s / %s" % (case, kind)
            f = figs.setdefault(key, {"kind": kind, "case": case, "process_values": []})
            f["process_values"].append(value)
    for f in figs.values():
        f["value"] = stats.median(f["process_values"])
        f["samples"] = list(f["process_values"])
    ctx["gate_timing"] = ("%d processes of %d rounds, Google Benchmark runs of >= %s s; ratios of "
                          "CPU time per round, the median per process, and of the processes the "
                          "median" % (args.processes, args.rounds, args.min_time))
    ctx["recordings"] = ["%s, revision %s, load %s" % (ctx["run_date"], ctx["git_revision"],
                                                       ctx["load_average"].split(" before")[0])]
    base_dir = os.path.join(args.results, "baseline")
    os.makedirs(base_dir, exist_ok=True)
    path = os.path.join(base_dir, ctx["cpu_slug"] + ".json")
    render.write_baseline(path, ctx, render.gbench_entries(records), figs, counts)
    render.render_baseline(path)
    render.update_readme(args.results)
    say("RECORDED: %s (and .md, .svg): %d ratios, %d instruction counts; review with git diff "
        "before committing" % (path, len(figs), len(counts)))
    return 0


def accept(args, srcdir):
    """Names HEAD as the reference revision in results/baseline/REFERENCE."""
    head, dirty = measure.working_tree_state(srcdir)
    if head is None:
        die("%s is not a git work tree with a HEAD commit: nothing to accept" % srcdir)
    if dirty:
        die("the work tree has uncommitted changes to tracked files: commit them first, so the "
            "reference names the code you measured")
    path = os.path.join(args.results, "baseline", "REFERENCE")
    subject = subprocess.run(["git", "-C", srcdir, "log", "-1", "--format=%cs %s", head],
                             stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
    with open(path, "w") as f:
        f.write("# The revision `make bench-gate` builds and measures the head against\n"
                "# (bench/gate.py). Advance it with `make bench-gate-accept` when a slowdown\n"
                "# is deliberate, and commit this file.\n%s %s\n" % (head, subject))
    say("ACCEPTED: %s now names %s (%s); commit it" % (path, head[:12], subject))
    return 0


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    srcdir = os.path.normpath(os.path.join(here, os.pardir))
    ap = argparse.ArgumentParser(
        prog="gate.py",
        description="embsimd's benchmark regression gate: builds a reference revision "
                    "(results/baseline/REFERENCE, or GATE_REF / --ref) with the head build's "
                    "configure options, runs both builds' drivers interleaved (ABBA) and "
                    "compares per figure, with a rank test and a recheck; counts instructions "
                    "of both under callgrind. Exit status: 0 pass, 1 a regression, 2 the gate "
                    "could not run, 3 nothing could be compared.",
        epilog="Usually run through make: `make bench-gate`, `make bench-gate-accept`, "
               "`make bench-gate-baseline`. results/README.md explains the method.")
    ap.add_argument("--build", default=".", help="the configured and built head build (default: .)")
    ap.add_argument("--results", default=os.path.join(srcdir, "results"),
                    help="the results directory holding baseline/ (default: the source tree's)")
    ap.add_argument("--ref", help="reference revision (default: $GATE_REF, else results/baseline/REFERENCE)")
    ap.add_argument("--ref-build", help="use this configured and built directory as the reference "
                    "instead of building a revision (e.g. the head build itself: an A/A run)")
    ap.add_argument("--ref-cache", help="where reference builds are made and kept "
                    "(default: BUILD/gate-ref)")
    ap.add_argument("--part", choices=("all", "timed", "icount"), default="all",
                    help="which checks to run (default: all)")
    ap.add_argument("--threshold", type=float, default=0.10,
                    help="a timed figure fails when more than this fraction slower (default 0.10)")
    ap.add_argument("--alpha", type=float, default=0.05,
                    help="and the one-sided Mann-Whitney p-value is below this (default 0.05)")
    ap.add_argument("--icount-growth", type=float, default=0.02,
                    help="an instruction count fails when it grew by more than this fraction "
                         "(default 0.02)")
    ap.add_argument("--ab-rounds", type=int, default=3,
                    help="ABBA rounds: each gives 2 processes per build (default 3)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per process (default 3)")
    ap.add_argument("--min-time", default="0.02", help="seconds per Google Benchmark run (default 0.02)")
    ap.add_argument("--processes", type=int, default=5,
                    help="with --update-baseline: processes of the head build (default 5)")
    ap.add_argument("--valgrind", default="valgrind", help="the valgrind command (default: valgrind)")
    ap.add_argument("--out-dir", help="where gate-run.json, gate-ref.json and gate-head.json go "
                    "(default: BUILD)")
    ap.add_argument("--update-baseline", action="store_true",
                    help="record this machine's figures of the head build as history "
                         "(results/baseline/<cpu>.json, .md, .svg); no verdict")
    ap.add_argument("--render-baseline", action="store_true",
                    help="only regenerate the .md and .svg of every recorded baseline and the "
                         "section of results/README.md")
    ap.add_argument("--accept", action="store_true",
                    help="name the source tree's HEAD in results/baseline/REFERENCE")
    args = ap.parse_args()
    for name in ("ab_rounds", "rounds", "processes"):
        if getattr(args, name) < 1:
            die("--%s must be at least 1" % name.replace("_", "-"))
    if not 0 < args.alpha < 1 or args.threshold < 0 or args.icount_growth < 0:
        die("--alpha must lie in (0, 1), --threshold and --icount-growth must not be negative")
    try:
        if float(args.min_time) <= 0:
            raise ValueError
    except ValueError:
        die("--min-time: %r is not a positive number of seconds" % args.min_time)
    try:
        if args.accept:
            return accept(args, srcdir)
        if args.render_baseline:
            base_dir = os.path.join(args.results, "baseline")
            for fn in sorted(os.listdir(base_dir)):
                if fn.endswith(".json"):
                    render.render_baseline(os.path.join(base_dir, fn))
                    say("rendered %s (.md, .svg)" % os.path.join(base_dir, fn))
            render.update_readme(args.results)
            return 0
        if not os.path.isfile(os.path.join(args.build, "config.h")):
            die("--build=%s is not a configured build directory (no config.h)" % args.build)
        if args.update_baseline:
            return record_baseline(args)
        return gate(args, srcdir)
    except measure.GateError as e:
        die(str(e))


if __name__ == "__main__":
    sys.exit(main())
