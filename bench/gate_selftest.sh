#!/bin/sh
# bench/gate_selftest.sh - the regression gate's own test: a library built
# with --enable-slow-kernels (no prefetch, no streaming stores, an extra
# validation pass) must fail the gate, and the unchanged build must pass it.
#
# usage: gate_selftest.sh --srcdir=DIR --build=DIR [--slow-build=DIR]
#   --srcdir      the source tree (holds results/baseline/)
#   --build       a configured and built build directory of that tree
#   --slow-build  where to configure and build the slowed library (default:
#                 BUILD/gate-slow-build; kept, so a second run only rebuilds
#                 what changed)
# Environment: GATE_PY (default python3), MAKE (default make).
#
# Steps, each of which must hold:
#  1. the unchanged build: instruction counts recorded twice are identical
#     (into a scratch baseline), and the gate's count check passes against it;
#  2. the slowed build fails that count check, naming the kernels;
#  3. the slowed build fails the whole gate against the committed baseline
#     (when this machine and toolchain can be compared with it; the gate says
#     which checks ran);
#  4. --merge: a second short recording of the unchanged build is added to a
#     scratch baseline (two recordings, each figure the lower of the two
#     process medians), and a recording of the slowed build is refused.
# No timing is asserted on its own: step 3 fails on counts as well as ratios.
set -eu

srcdir= build= slow=
for arg in "$@"; do
    case $arg in
    --srcdir=*) srcdir=${arg#*=} ;;
    --build=*) build=${arg#*=} ;;
    --slow-build=*) slow=${arg#*=} ;;
    --help | -h)
        sed -n '2,/^set -eu/p' "$0" | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//'
        exit 0 ;;
    *) echo "gate_selftest.sh: unknown argument \"$arg\" (see --help)" >&2; exit 2 ;;
    esac
done
test -n "$srcdir" && test -n "$build" || {
    echo "gate_selftest.sh: --srcdir and --build are required (see --help)" >&2
    exit 2
}
py=${GATE_PY:-python3}
make=${MAKE:-make}
srcdir=$(cd "$srcdir" && pwd)
build=$(cd "$build" && pwd)
slow=${slow:-$build/gate-slow-build}
case $slow in /*) ;; *) slow=$build/$slow ;; esac
gate="$srcdir/bench/gate.py"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/embsimd-gate-selftest.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

fail() {
    echo "gate self-test FAILED: $*" >&2
    exit 1
}

echo "== building the slowed library in $slow"
mkdir -p "$slow"
if ! grep -q -- '--enable-slow-kernels' "$slow/config.status" 2>/dev/null; then
    # A source tree configured in place cannot host another build: configure
    # a clean copy of it (make distdir) instead.
    src=$srcdir
    if test -f "$srcdir/config.status"; then
        rm -rf "$slow/src"
        $make -C "$build" distdir distdir="$slow/src" >"$scratch/distdir.log" 2>&1 ||
            { cat "$scratch/distdir.log" >&2; fail "make distdir failed"; }
        src=$slow/src
    fi
    # The same configure options as the build under test, plus the switch.
    opts=$(cd "$build" && ./config.status --config)
    (cd "$slow" && eval "\"$src/configure\" $opts --enable-slow-kernels" >"$scratch/configure.log" 2>&1) ||
        { tail -n 30 "$scratch/configure.log" >&2; fail "configure --enable-slow-kernels failed"; }
fi
$make -C "$slow" bench/gate-ratios bench/gate-icount >"$scratch/make.log" 2>&1 ||
    { tail -n 30 "$scratch/make.log" >&2; fail "building the slowed library failed"; }
grep -q '^#define EMB_SLOW_KERNELS 1' "$slow/config.h" || fail "$slow is not a slowed build"

echo "== 1. instruction counts of the unchanged build: repeatable, and passing"
mkdir -p "$scratch/results/baseline"
"$py" "$gate" --build="$build" --results="$scratch/results" --update-baseline --part=icount \
    >"$scratch/record.txt" 2>&1 || { cat "$scratch/record.txt" >&2; fail "recording the counts failed"; }
grep -q 'BASELINE REWRITTEN' "$scratch/record.txt" || fail "no baseline was written"
"$py" "$gate" --build="$build" --results="$scratch/results" --part=icount >"$scratch/same.txt" 2>&1 ||
    { cat "$scratch/same.txt" >&2; fail "the unchanged build failed its own count check"; }
grep -q 'GATE PASSED' "$scratch/same.txt" || fail "the count check did not say it passed"
grep -q '| pass' "$scratch/same.txt" || fail "the count check compared nothing"

echo "== 2. instruction counts of the slowed build must fail"
if "$py" "$gate" --build="$slow" --results="$scratch/results" --part=icount >"$scratch/slow.txt" 2>&1; then
    cat "$scratch/slow.txt" >&2
    fail "the slowed build passed the count check"
fi
grep -q 'GATE FAILED' "$scratch/slow.txt" || { cat "$scratch/slow.txt" >&2; fail "no GATE FAILED verdict"; }
sed -n '/^GATE FAILED/,$p' "$scratch/slow.txt"

echo "== 3. the whole gate, slowed build against the committed baseline"
status=0
"$py" "$gate" --build="$slow" --results="$srcdir/results" >"$scratch/full.txt" 2>&1 || status=$?
grep -E '^  (CPU|baseline|NOTE|            )' "$scratch/full.txt" || true
comparable=yes
if grep -q 'this CPU is not the baseline' "$scratch/full.txt" &&
    grep -q 'so the counts are shown, not gated' "$scratch/full.txt"; then
    comparable=no
fi
case $status in
1) sed -n '/^GATE FAILED/,$p' "$scratch/full.txt" ;;
0)
    if test $comparable = yes; then
        cat "$scratch/full.txt" >&2
        fail "the slowed build passed the gate against the committed baseline"
    fi
    echo "the committed baseline is from another CPU and toolchain: only the SIMD/scalar floors"
    echo "could gate here, and the slowed build keeps its SIMD/scalar ratios; steps 1-2 caught it"
    echo "against counts recorded from this build" ;;
*) cat "$scratch/full.txt" >&2; fail "the gate could not run (status $status)" ;;
esac
echo "== 4. --merge adds a recording of the same code and refuses other code"
short="--baseline-runs=1 --baseline-rounds=1 --min-time=0.002"
mkdir -p "$scratch/merge/baseline"
for step in record merge; do
    flag=; test $step = merge && flag=--merge
    "$py" "$gate" --build="$build" --results="$scratch/merge" --update-baseline $flag $short \
        >"$scratch/$step.txt" 2>&1 || { cat "$scratch/$step.txt" >&2; fail "--update-baseline $flag failed"; }
    test $step = merge || cp "$scratch"/merge/baseline/*.json "$scratch/first.json"
done
grep -q 'BASELINE MERGED.*holds 2 recordings' "$scratch/merge.txt" ||
    { cat "$scratch/merge.txt" >&2; fail "the merge did not report two recordings"; }
"$py" - "$scratch/first.json" "$scratch"/merge/baseline/*.json <<'PY' || fail "the merged baseline is wrong"
import json, sys
first, merged = (json.load(open(p)) for p in sys.argv[1:3])
assert len(merged["context"]["recordings"]) == 2, merged["context"]["recordings"]
for name, f in merged["gate"]["ratios"].items():
    old = first["gate"]["ratios"][name]
    assert len(f["process_values"]) == 2 and f["process_values"][0] == old["value"], name
    assert f["value"] == min(f["process_values"]), name
print("merged: %d figures, each the lower of its two recordings" % len(merged["gate"]["ratios"]))
PY
if "$py" "$gate" --build="$slow" --results="$scratch/merge" --update-baseline --merge $short \
    >"$scratch/refused.txt" 2>&1; then
    cat "$scratch/refused.txt" >&2
    fail "a recording of the slowed build was merged into the unchanged build's baseline"
fi
grep -q 'instruction counts moved' "$scratch/refused.txt" ||
    { cat "$scratch/refused.txt" >&2; fail "the refusal did not name the moved counts"; }
tail -n 1 "$scratch/refused.txt"

echo "gate self-test passed"
