#!/bin/sh
# bench/gate_selftest.sh - the regression gate's own test, against the
# reference revision `make bench-gate` uses (results/baseline/REFERENCE or
# GATE_REF):
#
#  1. a library built with --enable-slow-kernels (no prefetch, no streaming
#     stores, an extra validation pass) must fail the gate;
#  2. a library with one kernel, lookup of the best SIMD implementation here,
#     slowed by 15 % (--enable-slow-kernels=lookup/IMPL) must fail on that
#     kernel and on no other;
#  3. the unchanged build must pass against itself (the build in --build as
#     its own reference: an A/A run) --runs times, the second half of them
#     with a busy loop occupying another CPU for the whole run.
#
# usage: gate_selftest.sh --srcdir=DIR --build=DIR [--dir=DIR] [--runs=N]
#   --srcdir  the source tree
#   --build   a configured and built build directory of that tree
#   --dir     where the slowed libraries are configured and built (default:
#             BUILD/gate-selftest; kept, so a second run only rebuilds what
#             changed)
#   --runs    unchanged-code runs of step 3 (default 2; results/README.md
#             reports a run with 10)
# Environment: GATE_PY (default python3), MAKE (default make), GATE_FLAGS
# (passed on to every gate run).
# Every gate run's output is kept in DIR/*.txt; the counts of false alarms
# and detections are printed at the end.
set -eu

srcdir= build= dir= runs=2
for arg in "$@"; do
    case $arg in
    --srcdir=*) srcdir=${arg#*=} ;;
    --build=*) build=${arg#*=} ;;
    --dir=*) dir=${arg#*=} ;;
    --runs=*) runs=${arg#*=} ;;
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
case $runs in '' | *[!0-9]*) echo "gate_selftest.sh: --runs=$runs is not a number" >&2; exit 2 ;; esac
py=${GATE_PY:-python3}
make=${MAKE:-make}
srcdir=$(cd "$srcdir" && pwd)
build=$(cd "$build" && pwd)
dir=${dir:-$build/gate-selftest}
case $dir in /*) ;; *) dir=$build/$dir ;; esac
mkdir -p "$dir"
gate="$srcdir/bench/gate.py"
# Every reference build goes to the main build's cache: the slowed builds
# share its configure options (less the slow switch), so it is built once.
refcache="$build/gate-ref"
busy_pid=
trap 'test -z "$busy_pid" || kill "$busy_pid" 2>/dev/null || true' EXIT

fail() {
    echo "gate self-test FAILED: $*" >&2
    exit 1
}

# build_slowed NAME SWITCH: configures and builds the gate's drivers with
# --enable-slow-kernels=SWITCH in DIR/NAME.
build_slowed() {
    b="$dir/$1"
    mkdir -p "$b"
    if ! grep -q -- "--enable-slow-kernels=$2" "$b/config.status" 2>/dev/null; then
        # A source tree configured in place cannot host another build:
        # configure a clean copy of it (make distdir) instead.
        src=$srcdir
        if test -f "$srcdir/config.status"; then
            rm -rf "$b/src"
            $make -C "$build" distdir distdir="$b/src" >"$b.distdir.log" 2>&1 ||
                { cat "$b.distdir.log" >&2; fail "make distdir failed"; }
            src=$b/src
        fi
        opts=$(cd "$build" && ./config.status --config)
        (cd "$b" && eval "\"$src/configure\" $opts --enable-slow-kernels=$2" >"$b.configure.log" 2>&1) ||
            { tail -n 30 "$b.configure.log" >&2; fail "configure --enable-slow-kernels=$2 failed"; }
    fi
    $make -C "$b" bench/gate-ratios bench/gate-icount >"$b.make.log" 2>&1 ||
        { tail -n 30 "$b.make.log" >&2; fail "building $b failed"; }
}

# run_gate LABEL ARGS...: runs the gate, output in DIR/LABEL.txt and its
# verdict in DIR/LABEL/gate-run.json; sets $status.
run_gate() {
    label=$1
    shift
    mkdir -p "$dir/$label"
    status=0
    # shellcheck disable=SC2086
    "$py" "$gate" --results="$srcdir/results" --ref-cache="$refcache" --out-dir="$dir/$label" \
        ${GATE_FLAGS:-} "$@" >"$dir/$label.txt" 2>&1 || status=$?
    grep -E '^(GATE|TIMING NOT GATED)' "$dir/$label.txt" || true
}

impl=$("$build/bench/gate-ratios" --list | sed -n 's/^case lookup\/\([a-z0-9_]*\)\/.*/\1/p' |
    grep -v '^scalar$' | head -n 1)
test -n "$impl" || impl=scalar

echo "== 1. --enable-slow-kernels (every kernel slowed) must fail"
build_slowed slow yes
run_gate slow --build="$dir/slow"
test $status = 1 || { cat "$dir/slow.txt" >&2; fail "the slowed build did not fail the gate (status $status)"; }
grep -q 'TIMING NOT GATED' "$dir/slow.txt" && echo "   (caught by the instruction counts alone: no reference could be built)"

echo "== 2. lookup/$impl slowed by 15 % must fail on that kernel and on no other"
build_slowed inject "lookup/$impl"
run_gate inject --build="$dir/inject"
test $status = 1 || { cat "$dir/inject.txt" >&2; fail "the 15 % slowdown of lookup/$impl was not caught (status $status)"; }
"$py" - "$dir/inject/gate-run.json" "lookup/$impl" <<'PY' || fail "the gate flagged another kernel than the slowed one"
import json, sys
doc = json.load(open(sys.argv[1]))
kernels = doc["failed_kernels"]
print("   failed kernels: %s" % ", ".join(kernels))
timed = [f for f in doc["figures"] if f["status"] == "FAIL" and f["part"] == "timed"]
print("   failed timed figures: %s" % ", ".join("%s %s" % (f["case"], f["figure"]) for f in timed))
sys.exit(0 if kernels == [sys.argv[2]] else 1)
PY

echo "== 3. the unchanged build against itself, $runs run(s), the second half with another CPU busy"
passed=0
i=1
while test $i -le "$runs"; do
    busy=no
    if test $((2 * i)) -gt "$runs"; then
        busy=yes
        sh -c 'while :; do :; done' &
        busy_pid=$!
    fi
    run_gate "same-$i" --build="$build" --ref-build="$build"
    if test -n "$busy_pid"; then
        kill "$busy_pid" 2>/dev/null || true
        wait "$busy_pid" 2>/dev/null || true
        busy_pid=
    fi
    echo "   run $i (busy loop: $busy): status $status"
    test $status = 0 && passed=$((passed + 1))
    i=$((i + 1))
done
echo "gate self-test: slowed build caught; lookup/$impl +15 % caught, nothing else flagged;" \
    "unchanged code passed $passed of $runs runs (false alarms: $((runs - passed)))"
test $passed = "$runs" || fail "the unchanged build failed the gate in $((runs - passed)) of $runs runs (see $dir/same-*.txt)"
echo "gate self-test passed"
