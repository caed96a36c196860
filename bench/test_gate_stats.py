#!/usr/bin/env python3
"""test_gate_stats.py - the regression gate's statistics: exact Mann-Whitney
p-values, the threshold-and-test verdict, the scalar-ratio attribution and
the count limit. Run by make check; prints one line per check and
"N passed, N failed"."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gate_stats as st  # noqa: E402
from checks import check, finish  # noqa: E402


# Exact p-values: fully separated samples of 3 and 3 are 1 of C(6,3) = 20
# orderings; of 6 and 6, 1 of 924.
check("p of 3 > 3 separated is 1/20", abs(st.mann_whitney_worse([4, 5, 6], [1, 2, 3]) - 1 / 20) < 1e-12)
check("p of 6 > 6 separated is 1/924",
      abs(st.mann_whitney_worse(list(range(7, 13)), list(range(1, 7))) - 1 / 924) < 1e-12)
check("p of the reverse order is 1", st.mann_whitney_worse([1, 2, 3], [4, 5, 6]) == 1.0)
check("p of identical samples is at least 0.5", st.mann_whitney_worse([1, 1, 1], [1, 1, 1]) >= 0.5)
check("the distribution sums to C(n+m, n)", sum(st._mwu_counts(5, 4)) == 126)


def procs(case, kind, values):
    return [{"%s %s" % (case, kind): (case, kind, v)} for v in values]


# A 15 % slower time, consistent: fails. The same change on scattered
# samples: passes (the test disagrees). A consistent 5 %: passes.
ref = procs("k", "time", [100, 101, 99, 100, 102, 98])
rows = st.compare_timed(ref, procs("k", "time", [115, 116, 114, 115, 117, 113]), 0.10, 0.05)
check("15 % slower, consistent: FAIL", rows[0].failed and abs(rows[0].change - 0.15) < 1e-9)
rows = st.compare_timed(ref, procs("k", "time", [60, 170, 95, 140, 80, 160]), 0.10, 0.05)
check("15 % slower by median, scattered: pass", not rows[0].failed and rows[0].p >= 0.05)
rows = st.compare_timed(ref, procs("k", "time", [105, 106, 104, 105, 107, 103]), 0.10, 0.05)
check("5 % slower, consistent: pass", not rows[0].failed and rows[0].p < 0.05)
rows = st.compare_timed(procs("k", "memcpy", [1.0] * 6), procs("k", "memcpy", [0.8] * 6), 0.10, 0.05)
check("a ratio 20 % lower: FAIL, slower by 25 %", rows[0].failed and abs(rows[0].change - 0.25) < 1e-9)
rows = st.compare_timed(procs("k", "time", [1] * 6), [], 0.10, 0.05)
check("a figure the head lacks: not run", rows[0].status == "not run")

# SIMD / scalar fell because scalar got faster: excused; because the SIMD
# kernel slowed: not.
def scalar_case(simd_time, scalar_time):
    ref = [dict(a, **b, **c) for a, b, c in zip(procs("g/avx2/V", "time", [10] * 6),
                                                  procs("g/scalar/V", "time", [50] * 6),
                                                  procs("g/avx2/V", "scalar", [5.0] * 6))]
    head = [dict(a, **b, **c) for a, b, c in zip(
        procs("g/avx2/V", "time", [simd_time] * 6), procs("g/scalar/V", "time", [scalar_time] * 6),
        procs("g/avx2/V", "scalar", [scalar_time / simd_time] * 6))]
    rows = st.compare_timed(ref, head, 0.10, 0.05)
    st.excuse_scalar_ratios(rows)
    return [r for r in rows if r.kind == "scalar"][0]


r = scalar_case(10, 40)
check("scalar 20 % faster, SIMD unchanged: excused", not r.failed and "scalar kernel got faster" in r.note)
r = scalar_case(12, 50)
check("SIMD 20 % slower: the scalar ratio still fails", r.failed)

rows = st.compare_counts({"a": {"instructions": 1000}}, {"a": {"instructions": 1021}}, 0.02, {})
check("+2.1 % instructions: FAIL", rows[0].failed)
rows = st.compare_counts({"a": {"instructions": 1000}}, {"a": {"instructions": 1019}}, 0.02, {})
check("+1.9 % instructions: pass", not rows[0].failed)

finish()
