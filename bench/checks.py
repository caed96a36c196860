"""checks.py - the tally that the Python test scripts of make check share:
one line per check ("ok: ..." or "FAILED: ..."), then "N passed, N
failed", and exit status 1 when any check failed."""

import sys

passed = failed = 0


def check(what, cond):
    global passed, failed
    print("%s: %s" % ("ok" if cond else "FAILED", what))
    if cond:
        passed += 1
    else:
        failed += 1


def finish():
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)
