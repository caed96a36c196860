#!/usr/bin/env python3
"""test_reruns.py - the peers' rerun rule (reruns.py): a group whose
largest cv is above the limit is timed again at most `passes` times, and
the pass with the least largest cv is kept whole. Synthetic passes,
standard library only. Run by make check; prints one line per check and
"N passed, N failed"."""

import math
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [here, os.path.dirname(here)]
import reruns  # noqa: E402
from checks import check, finish  # noqa: E402


def run(limit, passes, worsts):
    """Runs one group whose passes have the given largest cvs (fractions):
    the kept pass's number, the passes timed, the tally and what was said."""
    said, timed = [], []

    def measure(k):
        timed.append(k)
        return k
    noisy = reruns.Reruns(limit, passes)
    kept = noisy.steadiest(measure, lambda k: worsts[k], said.append)
    return kept, timed, noisy, said


kept, timed, noisy, said = run(5, 3, [0.08, 0.03, 0.01])
check("a steady rerun ends the reruns", timed == [0, 1] and kept == 1)
check("the rerun is said, with its cv", said == ["a cv of 8.0 % > 5 %, rerun 1 of at most 3"])
kept, timed, noisy, _ = run(5, 3, [0.08, 0.12, 0.06, 0.09])
check("every pass noisy: all passes run, the least largest cv kept",
      timed == [0, 1, 2, 3] and kept == 2 and noisy.kept == 1)
kept, timed, _, _ = run(5, 2, [0.08, 0.12, 0.06, 0.01])
check("no more than --rerun-passes reruns", timed == [0, 1, 2] and kept == 2)
kept, _, noisy, _ = run(5, 1, [0.08, 0.08])
check("a tie keeps the first pass", kept == 0 and noisy.kept == 0)
kept, timed, noisy, _ = run(5, 3, [0.049, 0.01])
check("a cv under the limit runs once", timed == [0] and kept == 0 and noisy.rerun == 0)
kept, timed, _, _ = run(0, 3, [0.5, 0.01])
check("a limit of 0 never reruns", timed == [0] and kept == 0)

noisy = reruns.Reruns(5, 3)
for worsts in ([0.08, 0.03], [0.01], [0.2, 0.3, 0.4, 0.5]):
    noisy.steadiest(lambda k, w=worsts: k, lambda k, w=worsts: w[k], lambda text: None)
noisy.count_noisy([0.2, 0.049, 0.051])
line = noisy.describe("a row", "figures")
check("the tally: 2 of 3 run again, 1 rerun kept, 2 figures above: " + line,
      line.endswith(": 2 of 3 run again, 1 rerun kept; 2 figures still above"))
check("cv is stddev / mean, 0 for one sample",
      reruns.cv([1.0, 3.0]) == math.sqrt(2) / 2 and reruns.cv([4.0]) == 0.0)

finish()
