"""gate_stats.py - the regression gate's comparisons: head against reference
per figure, with a threshold and a rank test on the per-process samples, and
instruction counts against a growth limit. No measuring, no printing.

Standard library only.
"""

import math


def median(xs):
    s = sorted(xs)
    n = len(s)
    if n == 0:
        return None
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def _mwu_counts(n, m):
    """counts[u]: how many of the C(n+m, n) orderings of two samples of sizes n
    and m give the Mann-Whitney statistic u (no ties). The recursion places
    the largest value: in the first sample it beats all m of the second."""
    table = {}

    def f(a, b):
        key = (a, b)
        if key in table:
            return table[key]
        if a == 0 or b == 0:
            res = [1]
        else:
            left, right = f(a - 1, b), f(a, b - 1)
            res = [0] * (a * b + 1)
            for u, c in enumerate(left):
                res[u + b] += c
            for u, c in enumerate(right):
                res[u] += c
        table[key] = res
        return res

    return f(n, m)


def mann_whitney_worse(worse, other):
    """One-sided exact p-value that the values in `worse` tend to be larger
    than those in `other` (Mann-Whitney U). Ties count a half, and the
    half-integer statistic is rounded down: the p-value errs on the side of
    "no evidence"."""
    n, m = len(worse), len(other)
    if n == 0 or m == 0:
        return 1.0
    u = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in worse for b in other)
    counts = _mwu_counts(n, m)
    total = sum(counts)
    return sum(counts[int(math.floor(u)):]) / total


# A figure's direction: times are worse when larger, ratios when smaller.
LOWER_IS_BETTER = {"time": True, "memcpy": False, "scalar": False}


def slowdown(kind, head, ref):
    """How much slower head is than ref on one figure, as a fraction (0.15:
    15 % slower); negative when faster."""
    if head is None or ref is None or head <= 0 or ref <= 0:
        return None
    return head / ref - 1.0 if LOWER_IS_BETTER[kind] else ref / head - 1.0


class Row:
    """One line of the verdict table.

    part: "timed" or "icount"; status: pass, FAIL, not run, new, info."""

    def __init__(self, part, case, kind, ref, head, status, note="", p=None, change=None,
                 ref_samples=(), head_samples=()):
        self.part, self.case, self.kind = part, case, kind
        self.ref, self.head, self.status, self.note = ref, head, status, note
        self.p, self.change = p, change
        self.ref_samples, self.head_samples = list(ref_samples), list(head_samples)
        self.recheck = None  # the Row of the recheck, when there was one

    @property
    def name(self):
        return "%s %s" % (self.case, self.kind)

    @property
    def failed(self):
        return self.status == "FAIL"

    @property
    def gated(self):
        return self.status in ("pass", "FAIL")

    def as_dict(self):
        d = {"case": self.case, "figure": self.kind, "part": self.part, "ref": self.ref,
             "head": self.head, "change": self.change, "p": self.p, "status": self.status,
             "note": self.note, "ref_samples": self.ref_samples,
             "head_samples": self.head_samples}
        if self.recheck is not None:
            d["recheck"] = self.recheck.as_dict()
        return d


def compare_timed(ref_procs, head_procs, threshold, alpha):
    """Rows for every figure measured on either side. ref_procs and head_procs
    are lists of per-process {figure name: (case, kind, value)}. A figure
    fails when its median is more than `threshold` slower than the
    reference's and the rank test on the process values says so at `alpha`:
    a large change on scattered samples, or a consistent one below the
    threshold, passes."""
    names = []
    for procs in (ref_procs, head_procs):
        for p in procs:
            for name in p:
                if name not in names:
                    names.append(name)
    rows = []
    for name in names:
        case, kind = None, None
        ref_vals, head_vals = [], []
        for procs, vals in ((ref_procs, ref_vals), (head_procs, head_vals)):
            for p in procs:
                if name in p:
                    case, kind, v = p[name]
                    vals.append(v)
        r, h = median(ref_vals), median(head_vals)
        if not ref_vals or not head_vals:
            rows.append(Row("timed", case, kind, r, h, "new" if not ref_vals else "not run",
                            "measured only in the head build" if not ref_vals
                            else "measured only in the reference build",
                            ref_samples=ref_vals, head_samples=head_vals))
            continue
        change = slowdown(kind, h, r)
        if LOWER_IS_BETTER[kind]:
            p = mann_whitney_worse(head_vals, ref_vals)
        else:
            p = mann_whitney_worse([-x for x in head_vals], [-x for x in ref_vals])
        fail = change is not None and change > threshold and p < alpha
        rows.append(Row("timed", case, kind, r, h, "FAIL" if fail else "pass", p=p,
                        change=change, ref_samples=ref_vals, head_samples=head_vals))
    return rows


def excuse_scalar_ratios(rows):
    """A SIMD / scalar ratio also falls when the scalar kernel gets faster,
    while the SIMD kernel itself has not slowed: no regression of the
    kernel under test. Such a failure passes, with the reason; it still
    fails when the SIMD kernel's own CPU time grew."""
    times = {r.case: r for r in rows if r.kind == "time"}
    for r in rows:
        if r.kind != "scalar" or not r.failed:
            continue
        own = times.get(r.case)
        parts = r.case.split("/")
        parts[1] = "scalar"
        scalar = times.get("/".join(parts))
        if own is None or scalar is None or own.change is None or scalar.change is None:
            continue
        if own.change <= 0 < -scalar.change:
            r.status = "pass"
            r.note = ("the scalar kernel got faster (CPU time %+.1f %%) while this one did not "
                      "slow (%+.1f %%)" % (100 * scalar.change, 100 * own.change))


def compare_counts(ref_counts, head_counts, growth, unavailable, ref_label="reference"):
    """Rows for instruction counts: a count fails when it grew by more than
    `growth` (a fraction). Counts are exact for a given binary and input, so
    no test is needed: any growth past the limit is the code's."""
    rows = []
    names = list(head_counts) + [n for n in ref_counts if n not in head_counts]
    for name in names:
        r = ref_counts.get(name, {}).get("instructions")
        h = head_counts.get(name, {}).get("instructions")
        if h is None:
            rows.append(Row("icount", name, "instructions", r, None, "not run",
                            unavailable.get(name, "not counted in the head build")))
        elif r is None:
            rows.append(Row("icount", name, "instructions", None, h, "new",
                            "not counted in the %s" % ref_label))
        else:
            change = h / r - 1.0 if r > 0 else None
            fail = change is not None and change > growth
            rows.append(Row("icount", name, "instructions", r, h, "FAIL" if fail else "pass",
                            change=change))
    return rows
