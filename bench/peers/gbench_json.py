"""gbench_json.py - timing runs turned into Google Benchmark 1.7's JSON: the
machine context it writes, one "iteration" row per repetition and the
mean/median/stddev/cv aggregate rows, so that compare.py reads peers' runs
like embsimd-bench's."""

import datetime
import json
import os
import socket
import statistics
import sys


class Repetition:
    """One timed repetition: `iterations` calls took real_s wall-clock and
    cpu_s CPU seconds of the calling thread and moved `bytes` bytes."""

    def __init__(self, iterations, real_s, cpu_s, bytes_, items, counters=None):
        self.iterations = iterations
        self.real_s = real_s
        self.cpu_s = cpu_s
        self.bytes = bytes_
        self.items = items
        self.counters = counters or {}  # name -> total, reported as a rate


def _row(name, family, reps, run_type, extra, real, cpu, rates, label):
    row = {"name": name, "family_index": family, "per_family_instance_index": 0,
           "run_name": extra.pop("run_name"), "run_type": run_type, "repetitions": reps}
    row.update(extra)
    row.update({"real_time": real, "cpu_time": cpu, "time_unit": "ns"})
    row.update(rates)
    if label:
        row["label"] = label
    return row


def _rates(rep):
    """Per-second rates over wall-clock time, as with UseRealTime()."""
    rates = {"bytes_per_second": rep.bytes / rep.real_s, "items_per_second": rep.items / rep.real_s}
    for k, total in rep.counters.items():
        rates[k] = total / rep.real_s
    return rates


def _stddev(xs):
    """Google Benchmark's StatisticsStdDev: the sample standard deviation."""
    return statistics.stdev(xs) if len(xs) > 1 else 0.0


def _cv(xs):
    mean = statistics.fmean(xs)
    return _stddev(xs) / mean if len(xs) > 1 and mean != 0 else 0.0


AGGREGATES = (("mean", statistics.fmean, "time"), ("median", statistics.median, "time"),
              ("stddev", _stddev, "time"), ("cv", _cv, "percentage"))


def rows(name, family, reps, label=None):
    """The JSON rows of one benchmark: its repetitions, then (for more than
    one) the four aggregates. `name` carries its /real_time suffix."""
    out = []
    per_rep = []
    for i, rep in enumerate(reps):
        real, cpu = rep.real_s / rep.iterations * 1e9, rep.cpu_s / rep.iterations * 1e9
        rates = _rates(rep)
        per_rep.append((real, cpu, rates))
        out.append(_row(name, family, len(reps), "iteration",
                        {"run_name": name, "repetition_index": i, "threads": 1,
                         "iterations": rep.iterations}, real, cpu, rates, label))
    if len(reps) < 2:
        return out
    for agg, fn, unit in AGGREGATES:
        rates = {k: fn([r[2][k] for r in per_rep]) for k in per_rep[0][2]}
        out.append(_row("%s_%s" % (name, agg), family, len(reps), "aggregate",
                        {"run_name": name, "threads": 1, "aggregate_name": agg,
                         "aggregate_unit": unit, "iterations": len(reps)},
                        fn([r[0] for r in per_rep]), fn([r[1] for r in per_rep]), rates, label))
    return out


def error_row(name, family, message):
    """A benchmark that could not run, as SkipWithError() reports it."""
    return {"name": name, "family_index": family, "per_family_instance_index": 0,
            "run_name": name, "run_type": "iteration", "repetitions": 1, "repetition_index": 0,
            "threads": 1, "error_occurred": True, "error_message": message, "iterations": 0,
            "real_time": 0.0, "cpu_time": 0.0, "time_unit": "ns"}


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _caches():
    """cpu0's caches from sysfs, in Google Benchmark's layout."""
    caches = []
    base = "/sys/devices/system/cpu/cpu0/cache"
    for i in range(16):
        d = "%s/index%d" % (base, i)
        level, ctype, size = _read(d + "/level"), _read(d + "/type"), _read(d + "/size")
        if level is None or ctype is None or size is None:
            break
        mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(size[-1:], 1)
        shared = _read(d + "/shared_cpu_list") or ""
        sharing = 0
        for part in filter(None, shared.split(",")):
            lo, _, hi = part.partition("-")
            sharing += int(hi or lo) - int(lo) + 1
        caches.append({"type": ctype, "level": int(level),
                       "size": int(size.rstrip("KMG")) * mult, "num_sharing": sharing or 1})
    return caches


def cpuinfo(key):
    """The first value of `key` in /proc/cpuinfo, or None."""
    text = _read("/proc/cpuinfo") or ""
    for line in text.splitlines():
        k, _, v = line.partition(":")
        if k.strip() == key:
            return v.strip()
    return None


def llc_bytes():
    """The largest data or unified cache of cpu0 (what embsimd-bench uses)."""
    best = (0, 0)
    for c in _caches():
        if c["type"] != "Instruction":
            best = max(best, (c["level"], c["size"]))
    return best[1] or 32 << 20


def machine_context(executable):
    """The keys Google Benchmark puts first in its context."""
    mhz = cpuinfo("cpu MHz")
    try:
        load = list(os.getloadavg())
    except OSError:
        load = []
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).astimezone().isoformat(timespec="seconds"),
        "host_name": socket.gethostname(),
        "executable": executable,
        "num_cpus": os.cpu_count() or 1,
        "mhz_per_cpu": int(float(mhz)) if mhz else 0,
        "cpu_scaling_enabled": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor") not in
        (None, "performance"),
        "caches": _caches(),
        "load_avg": load,
        "library_build_type": "release",
    }


def write(path, context, benchmarks):
    """The JSON document to `path` ("-": standard output)."""
    doc = {"context": context, "benchmarks": benchmarks}
    text = json.dumps(doc, indent=2, allow_nan=False) + "\n"
    if path in (None, "-"):
        sys.stdout.write(text)
        return
    if os.path.exists(path) and not os.path.isfile(path):
        with open(path, "w") as f:  # a device or pipe: write through, never replace it
            f.write(text)
        return
    tmp = path + ".tmp"  # a reader never sees half a file
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
