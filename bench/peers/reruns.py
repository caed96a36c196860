"""reruns.py - the peers' rule for noisy figures, shared by compare_peers.py
(a shape and thread count of both suites) and torch_bag.py (a row of both
sides): a group whose largest coefficient of variation is above the limit
is timed again, every side together, at most `passes` times, and the pass
whose largest cv is the least is kept whole, so that a ratio still divides
figures timed side by side. Standard library only."""

import statistics
import sys


def add_arguments(p, group, default_note):
    """The --rerun-cv and --rerun-passes options of argparse parser p;
    `group` names what runs again in their help."""
    p.add_argument("--rerun-cv", metavar="PCT", type=float, default=0.0,
                   help="run %s again, both sides together, while a figure of either has a "
                   "wall-time cv (stddev / mean over the repetitions) above PCT %%%%, and keep "
                   "the pass whose largest cv is the least (default 0: never; %s)"
                   % (group, default_note))
    p.add_argument("--rerun-passes", metavar="N", type=int, default=3,
                   help="at most N reruns of each (1 to 20, default 3)")


def check_arguments(p, a):
    """Refuses values add_arguments' options cannot take, naming them."""
    if not 0 <= a.rerun_cv <= 100:
        p.error('--rerun-cv: "%g" is not a percentage from 0 to 100' % a.rerun_cv)
    if not 1 <= a.rerun_passes <= 20:
        p.error('--rerun-passes: "%d" is not a whole number from 1 to 20' % a.rerun_passes)


def print_now(line):
    """A progress line, flushed at once (the scripts' output is often piped)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def cv(samples):
    """stddev / mean of the samples (a fraction; 0 with fewer than two),
    as Google Benchmark's cv aggregate computes it."""
    if len(samples) < 2:
        return 0.0
    mean = statistics.mean(samples)
    return statistics.stdev(samples) / mean if mean > 0 else 0.0


class Reruns:
    """The limit (a percentage, 0: no reruns), the most passes, and a
    tally of what ran again for the context line."""

    def __init__(self, limit_pct, passes):
        self.limit_pct, self.passes = limit_pct, passes
        self.groups = self.rerun = self.kept = self.noisy = 0

    def steadiest(self, measure, worst, say):
        """measure(k) times a group (k: 0 for the run, then the rerun's
        number) and returns its result; worst(result) is its largest cv, a
        fraction. Returns the result of the pass with the least worst cv,
        a rerun replacing the kept pass only where strictly steadier."""
        limit = self.limit_pct / 100
        best, again = measure(0), 0
        while limit > 0 and worst(best) > limit and again < self.passes:
            again += 1
            say("a cv of %.1f %% > %g %%, rerun %d of at most %d"
                % (100 * worst(best), self.limit_pct, again, self.passes))
            new = measure(again)
            if worst(new) < worst(best):
                best = new
                self.kept += 1
        self.groups += 1
        self.rerun += again > 0
        return best

    def count_noisy(self, cvs):
        """Counts the kept figures whose cv (fractions) is above the limit."""
        if self.limit_pct > 0:
            self.noisy += sum(1 for c in cvs if c > self.limit_pct / 100)

    def describe(self, group, figures):
        """The context line: what ran again and what is still noisy."""
        return ("%s with a cv above %g %% on either side runs again, both sides, at most %d "
                "time%s, keeping the pass with the least largest cv: %d of %d run again, %d "
                "rerun%s kept; %d %s still above" % (
                    group, self.limit_pct, self.passes, "" if self.passes == 1 else "s",
                    self.rerun, self.groups, self.kept, "" if self.kept == 1 else "s",
                    self.noisy, figures))
