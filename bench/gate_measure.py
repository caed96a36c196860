"""gate_measure.py - what the regression gate measures and how: the case list
(asked of the drivers, which hold it), timing processes of two builds in ABBA
order, callgrind counts, and building the reference revision.

Standard library only.
"""

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

from gate_stats import median


class GateError(Exception):
    """The gate cannot run at all (a missing driver, a failed benchmark)."""


class NoReference(Exception):
    """A/B cannot run; the message says why in one line."""


def say(msg=""):
    print(msg, flush=True)


def driver_path(build, name):
    path = os.path.join(build, "bench", name)
    if not os.access(path, os.X_OK):
        raise GateError("%s not found: build it with `make bench/%s` (or run `make bench-gate`)"
                        % (path, name))
    return path


def _clean_env():
    env = dict(os.environ)
    env.pop("EMBSIMD_IMPL", None)  # the drivers choose the implementation per case
    return env


def list_cases(build, part):
    """[(case, why)] the driver runs here and {case: reason} it cannot, for
    part "timed" (gate-ratios) or "icount" (gate-icount)."""
    driver = driver_path(build, "gate-ratios" if part == "timed" else "gate-icount")
    p = subprocess.run([driver, "--list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, env=_clean_env())
    if p.returncode != 0:
        raise GateError("%s --list failed (status %d): %s" % (driver, p.returncode, p.stderr.strip()))
    cases, unavailable = [], {}
    for line in p.stdout.splitlines():
        kind, _, rest = line.partition(" ")
        name, _, text = rest.partition("\t")
        if kind == "case":
            cases.append((name, text))
        elif kind == "unavailable":
            unavailable[name] = text
    if not cases:
        raise GateError("%s --list named no case this machine can run" % driver)
    return cases, unavailable


def _parse(build, part, cases):
    """Whether the build's driver takes every one of `cases`: a driver exits
    with status 2 on a name it cannot parse (an older revision's, on a typed
    kernel's). Neither probe runs a kernel: gate-ratios only lists its
    benchmarks, gate-icount parses its cases before it reads --help."""
    out = None
    if part == "timed":
        fd, out = tempfile.mkstemp(prefix="gate-probe.", suffix=".jsonl")
        os.close(fd)
        argv = [driver_path(build, "gate-ratios"), "--out=" + out,
                "--benchmark_list_tests=true"] + ["--case=" + c for c in cases]
    else:
        argv = [driver_path(build, "gate-icount")] + ["--case=" + c for c in cases] + ["--help"]
    try:
        p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env=_clean_env())
    finally:
        if out is not None:
            os.unlink(out)
    return p.returncode == 0


def _parsed(build, part, cases):
    """The cases the driver parses, found by halving the list until each
    part parses or is one case that does not."""
    if not cases or _parse(build, part, cases):
        return list(cases)
    if len(cases) == 1:
        return []
    half = len(cases) // 2
    return _parsed(build, part, cases[:half]) + _parsed(build, part, cases[half:])


def accepted_cases(build, part, cases):
    """The cases of `cases` the build's driver takes: those its own --list
    names (a driver from before --list has none), and any other it parses.
    The rest are new in the head (a typed kernel is new to a reference
    revision from before types): measured in the head only, reported as
    "new", never a failure."""
    try:
        listed, unavailable = list_cases(build, part)
        known = {c for c, _ in listed} | set(unavailable)
    except GateError:
        known = set()
    probe = _parsed(build, part, [c for c in cases if c not in known])
    return [c for c in cases if c in known or c in probe]


# --- timing ---------------------------------------------------------------------


def run_timed_process(build, cases, rounds, min_time, log):
    """One process of bench/gate-ratios over `cases`; returns (records,
    {case: why unavailable})."""
    driver = driver_path(build, "gate-ratios")
    fd, out = tempfile.mkstemp(prefix="gate-ratios.", suffix=".jsonl")
    os.close(fd)
    argv = [driver, "--rounds=%d" % rounds, "--out=" + out,
            "--benchmark_min_time=%s" % min_time] + ["--case=" + c for c in cases]
    log.write("$ %s\n" % " ".join(argv))
    log.flush()
    proc = subprocess.run(argv, stdout=log, stderr=log, env=_clean_env())
    if proc.returncode != 0:
        os.unlink(out)
        raise GateError("%s exited with status %d; its output is in %s"
                        % (driver, proc.returncode, log.name))
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
        raise GateError("benchmarks failed in %s:\n  %s" % (build, "\n  ".join(errors[:10])))
    return records, unavailable


def with_impl(case, impl):
    parts = case.split("/")
    parts[1] = impl
    return "/".join(parts)


def process_figures(records):
    """The figures of one process, {name: (case, kind, value)}:

    - "time": the kernel's CPU time per call, median over the rounds;
    - "memcpy": its bytes per CPU second over the mean of the two memcpy
      copies of its bytes timed right before and after it, median over rounds;
    - "scalar": a SIMD kernel's memcpy ratio over scalar's in the same round
      (the throughput ratio with the drift between the two divided out),
      median over rounds.

    CPU time of the calling thread (all cases run on one thread): time slices
    given to other work do not inflate it."""
    by_slot = {(r["shape"], r["round"], r["pos"]): r for r in records}
    times, ratios = {}, {}
    for r in records:
        if r["case"].startswith("copy/") or r["cpu_ns"] <= 0:
            continue
        times.setdefault(r["case"], []).append(r["cpu_ns"])
        around = [by_slot.get((r["shape"], r["round"], r["pos"] + k)) for k in (-1, 1)]
        copies = [c["bytes"] / c["cpu_ns"] for c in around if c is not None and c["cpu_ns"] > 0]
        if copies:
            ratios.setdefault(r["case"], {})[r["round"]] = (
                (r["bytes"] / r["cpu_ns"]) / (sum(copies) / len(copies)))
    figs = {}
    for case in times:
        figs[case + " time"] = (case, "time", median(times[case]))
        per = ratios.get(case)
        if not per:
            continue
        figs[case + " memcpy"] = (case, "memcpy", median(list(per.values())))
        scalar = ratios.get(with_impl(case, "scalar"))
        if case.split("/")[1] != "scalar" and scalar:
            common = sorted(set(per) & set(scalar))
            if common:
                figs[case + " scalar"] = (case, "scalar", median([per[k] / scalar[k] for k in common]))
    return figs


def measure_ab(builds, cases, ab_rounds, rounds, min_time, log):
    """Times `cases` in the reference and the head build, as separate
    processes in ABBA order (ref head head ref, then head ref ref head, ...):
    a drift of the machine over the run then weighs on both sides alike.
    builds: {"ref": dir, "head": dir}; cases: one list for both, or
    {side: list} when the reference lacks some. Returns ({side:
    [per-process figures]}, {side: records}, {case: why unavailable})."""
    if not isinstance(cases, dict):
        cases = {"ref": cases, "head": cases}
    procs = {"ref": [], "head": []}
    records = {"ref": [], "head": []}
    unavailable = {}
    order = []
    for r in range(ab_rounds):
        order += ["ref", "head", "head", "ref"] if r % 2 == 0 else ["head", "ref", "ref", "head"]
    t0 = time.time()
    for i, side in enumerate(order):
        got, unav = run_timed_process(builds[side], cases[side], rounds, min_time, log)
        unavailable.update(unav)
        procs[side].append(process_figures(got))
        for rec in got:
            rec["process"] = len(procs[side]) - 1
        records[side] += got
        say("  process %2d of %d (%s) done, %.0f s" % (i + 1, len(order), side, time.time() - t0))
    return procs, records, unavailable


def measure_one(build, cases, processes, rounds, min_time, log):
    """Processes of one build only (recording the history baseline)."""
    procs, records, unavailable = [], [], {}
    for i in range(processes):
        got, unav = run_timed_process(build, cases, rounds, min_time, log)
        unavailable.update(unav)
        procs.append(process_figures(got))
        records += got
        say("  process %d of %d done" % (i + 1, processes))
    return procs, records, unavailable


# --- instruction counts -----------------------------------------------------------


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
        raise GateError("%s has no totals line: not a callgrind output file?" % path)
    return total, own


def run_icounts(build, cases, valgrind):
    """{case: {"instructions": n, "embsimd": n}} and {case: why unavailable}
    of one callgrind run of bench/gate-icount over `cases`."""
    driver = driver_path(build, "gate-icount")
    if shutil.which(valgrind) is None:
        raise GateError("valgrind not found (%s): the instruction counts need it. Install it "
                        "(Debian: apt-get install valgrind), or pass --part=timed" % valgrind)
    tmp = tempfile.mkdtemp(prefix="gate-callgrind.")
    try:
        argv = [valgrind, "--tool=callgrind", "--callgrind-out-file=" + os.path.join(tmp, "cg"),
                "--collect-atstart=no", "--toggle-collect=gate_counted",
                "--dump-after=gate_counted", "--compress-strings=no", "--compress-pos=no",
                driver] + ["--case=" + c for c in cases]
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, env=_clean_env())
        if p.returncode != 0:
            raise GateError("%s failed (status %d):\n%s" % (" ".join(argv[:2] + [driver]),
                                                           p.returncode, p.stderr[-3000:]))
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
            raise GateError("callgrind wrote %d dumps for %d counted calls" % (len(dumps), len(counted)))
        counts = {}
        for case, dump in zip(counted, dumps):
            total, own = parse_callgrind(os.path.join(tmp, dump))
            counts[case] = {"instructions": total, "embsimd": own}
        return counts, unavailable
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- the reference build ----------------------------------------------------------


def _git(srcdir, *args):
    return subprocess.run(["git", "-C", srcdir] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True)


def read_reference(results):
    """The revision named in results/baseline/REFERENCE (first word of the
    first line that is not a comment), or None."""
    path = os.path.join(results, "baseline", "REFERENCE")
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    return line.split()[0]
    except OSError:
        pass
    return None


def resolve_revision(srcdir, rev):
    """The full commit id of rev in srcdir's repository; NoReference if there
    is none to be had."""
    if shutil.which("git") is None:
        raise NoReference("git is not installed, so no reference revision can be built")
    if _git(srcdir, "rev-parse", "--git-dir").returncode != 0:
        raise NoReference("%s is not a git work tree (a release tarball?), so the reference "
                          "revision cannot be built" % srcdir)
    p = _git(srcdir, "rev-parse", "--verify", "--quiet", rev + "^{commit}")
    if p.returncode != 0:
        shallow = _git(srcdir, "rev-parse", "--is-shallow-repository").stdout.strip() == "true"
        raise NoReference("reference revision %s is not in this clone's history%s" % (
            rev, " (a shallow clone: fetch with --unshallow)" if shallow else ""))
    return p.stdout.strip()


def configure_options(build):
    """The head build's configure arguments, less --enable-slow-kernels (a
    property of the head under test, never of the reference)."""
    p = subprocess.run(["./config.status", "--config"], cwd=build, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True)
    if p.returncode != 0:
        raise GateError("%s/config.status --config failed: %s" % (build, p.stderr.strip()))
    return [a for a in shlex.split(p.stdout) if not a.startswith("--enable-slow-kernels")]


def build_reference(srcdir, head_build, rev, cache, log_path):
    """Configures and builds the gate's drivers of revision rev (a full
    commit id) with the head build's configure options, under cache; a build
    made earlier with the same revision and options is reused. Returns the
    build directory; NoReference when the revision does not build."""
    opts = configure_options(head_build)
    key = hashlib.sha1(("\0".join([rev] + opts)).encode()).hexdigest()[:10]
    top = os.path.abspath(os.path.join(cache, "%s-%s" % (rev[:12], key)))
    src, build = os.path.join(top, "src"), os.path.join(top, "build")
    stamp = os.path.join(top, "stamp")
    drivers = [os.path.join(build, "bench", d) for d in ("gate-ratios", "gate-icount")]
    if os.path.exists(stamp) and all(os.access(d, os.X_OK) for d in drivers):
        say("  reusing the reference build in %s" % build)
        return build
    shutil.rmtree(top, ignore_errors=True)
    os.makedirs(src)
    os.makedirs(build)
    t0 = time.time()
    say("  building revision %s in %s (log: %s)" % (rev[:12], top, log_path))
    with open(log_path, "w") as log:
        def step(what, argv, cwd, shell=False):
            log.write("$ %s\n" % (argv if shell else " ".join(shlex.quote(a) for a in argv)))
            log.flush()
            try:
                p = subprocess.run(argv, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, shell=shell)
            except OSError as e:
                log.write("%s\n" % e)
                p = None
            if p is None or p.returncode != 0:
                raise NoReference("reference revision %s did not build (%s failed; log: %s)"
                                  % (rev[:12], what, log_path))
            say("    %s done, %.0f s" % (what, time.time() - t0))

        step("git archive", "git -C %s archive --format=tar %s | tar -x -C %s" % (
            shlex.quote(srcdir), rev, shlex.quote(src)), None, shell=True)
        step("autoreconf", ["autoreconf", "-fi"], src)
        step("configure", [os.path.join(src, "configure")] + opts, build)
        jobs = str(os.cpu_count() or 1)
        step("make", ["make", "-j" + jobs, "bench/gate-ratios", "bench/gate-icount"], build)
    with open(stamp, "w") as f:
        f.write("revision %s\nconfigure %s\n" % (rev, " ".join(shlex.quote(o) for o in opts)))
    return build


def working_tree_state(srcdir):
    """(HEAD commit or None, True when tracked files differ from it)."""
    head = _git(srcdir, "rev-parse", "--verify", "--quiet", "HEAD")
    if head.returncode != 0:
        return None, False
    dirty = _git(srcdir, "status", "--porcelain", "--untracked-files=no").stdout.strip() != ""
    return head.stdout.strip(), dirty


if __name__ == "__main__":
    sys.exit("gate_measure.py is a module of bench/gate.py")
