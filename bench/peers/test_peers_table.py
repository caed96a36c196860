#!/usr/bin/env python3
"""test_peers_table.py - the peers table's check of two threads over one:
each op of embsimd must reach 0.95x at T=2, and 1.5x where memcpy of the
same bytes itself gains 1.6x. Synthetic rows, standard library only. Run
by make check; prints one line per check and "N passed, N failed"."""

import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [here, os.path.dirname(here)]
import peers_table as pt  # noqa: E402
from checks import check, finish  # noqa: E402


def rows_for(v, lookup, grad, memcpy):
    """Median rows at (v, 128, 512) for T = 1 and 2: GB/s pairs."""
    rows = {}
    for t in (1, 2):
        for group, gbs in (("lookup", lookup), ("grad", grad)):
            rows[(group, "avx2", "f32->f32", "i64", v, 128, 512, t, "uniform")] = {
                "bytes_per_second": gbs[t - 1] * 1e9}
        rows[("copy", "memcpy", "f32->f32", None, v, 128, 512, t, None)] = {
            "bytes_per_second": memcpy[t - 1] * 1e9, "label": "LLC"}
    return rows


def verdict(rows):
    line = pt.scaling_table(rows)[-1]
    return line.strip("| ").split(" | ")[-1]


check("lookup 1.05x where memcpy gains 2.4x: short",
      verdict(rows_for(1000, (50, 52.5), (50, 90), (60, 144))) == "no: lookup")
check("both 1.55x where memcpy gains 2x: met",
      verdict(rows_for(1000, (50, 77.5), (50, 77.5), (60, 120))) == "yes")
check("1.2x where memcpy gains 1.4x: met (memcpy itself does not scale)",
      verdict(rows_for(1000, (50, 60), (50, 60), (60, 84))) == "yes")
check("grad 0.94x where memcpy gains 1.1x: short of the floor",
      verdict(rows_for(1000, (50, 50), (50, 47), (60, 66))) == "no: grad")
check("both short: both named",
      verdict(rows_for(1000, (50, 45), (50, 45), (60, 66))) == "no: lookup, grad")
line = pt.scaling_table(rows_for(1000, (50, 52.5), (40, 80), (60, 144)))[-1]
check("the row shows T=1 -> T=2 and the gains", "50.0 → 52.5" in line and "2.00×" in line
      and "2.40×" in line)
only_one = {k: r for k, r in rows_for(1000, (50, 60), (50, 60), (60, 84)).items() if k[7] == 1}
check("a shape run at one thread count only has no row", len(pt.scaling_table(only_one)) == 2)

finish()
