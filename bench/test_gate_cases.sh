#!/bin/sh
# bench/test_gate_cases.sh - the gate's case lists, checked without timing
# anything: each driver's --list succeeds (it parses every name it prints
# back to its case), each driver takes every case of its list as --case=,
# and the counted part names every lookup and grad kernel of the library.
# A name a driver refused once failed CI only after the reference build and
# a timed process: here it fails in a second.
set -eu
ratios=./bench/gate-ratios
icount=./bench/gate-icount
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for driver in "$ratios" "$icount"; do
    "$driver" --list >"$tmp/list" ||
        { echo "FAIL: $driver --list exited with status $?" >&2; exit 1; }
    sed -n 's/^case \([^	]*\)	.*/--case=\1/p' "$tmp/list" >"$tmp/args"
    [ -s "$tmp/args" ] || { echo "FAIL: $driver --list names no case this machine can run" >&2; exit 1; }
    # Parsing only: gate-ratios lists its benchmarks, gate-icount stops at --help.
    # shellcheck disable=SC2046
    if [ "$driver" = "$ratios" ]; then
        set -- --out="$tmp/out.jsonl" --benchmark_list_tests=true
    else
        set -- --help
    fi
    # The case names hold no spaces or glob characters.
    # shellcheck disable=SC2046
    "$driver" $(cat "$tmp/args") "$@" >"$tmp/parse.log" 2>&1 ||
        { cat "$tmp/parse.log" >&2; echo "FAIL: $driver refuses a case of its own --list" >&2; exit 1; }
    echo "$driver: $(wc -l <"$tmp/args") cases listed and parsed"
done

# Every lookup and grad kernel has counted cases (on scalar at least, which
# every build has): the counted shapes take all types.
./bench/embsimd-bench --list-kernels | cut -f1 | sort -u | grep -E '^(lookup|grad)/' >"$tmp/kernels"
missing=0
while read -r kernel; do
    op=${kernel%%/*} types=${kernel#*/}
    if [ "$types" = "f32->f32" ]; then pattern="^case $op/scalar/V:"; else pattern="^case $op/scalar/$types/V:"; fi
    grep -q -- "$pattern" "$tmp/list" ||
        { echo "FAIL: $icount --list has no scalar case of $kernel" >&2; missing=1; }
done <"$tmp/kernels"
[ "$missing" = 0 ]
echo "every lookup and grad kernel ($(wc -l <"$tmp/kernels")) has counted cases"
