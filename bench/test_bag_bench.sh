#!/bin/sh
# bench/test_bag_bench.sh - embsimd-bench-bag's interface: --help, a bad
# option refused with its name, and (natively) a one-table run whose
# context lines and table rows are all there, every figure a positive
# number. Asserts no speed.
set -eu
: "${LIBTOOL:=libtool}"
run() {
    # TEST_WRAPPER (an emulator command) is split into words on purpose.
    # shellcheck disable=SC2086
    $LIBTOOL --mode=execute ${TEST_WRAPPER:-} ./bench/embsimd-bench-bag "$@"
}
fail() {
    echo "FAIL: $*"
    exit 1
}

help=$(run --help) || fail "--help exited $?"
echo "$help" | grep -q '^usage: embsimd-bench-bag' || fail "--help prints no usage line"
echo "$help" | grep -q -- '--hugepages' || fail "--help does not name --hugepages"

for bad in --bogus --threads=0 --threads=9 --threads=1x --vocab=0 --vocab=12abc; do
    status=0
    err=$(run "$bad" 2>&1 >/dev/null) || status=$?
    test "$status" -eq 2 || fail "$bad exited $status, not 2"
    echo "$err" | grep -q -- "\"$bad\"" || fail "$bad: the message does not name it: $err"
done

if test -n "${TEST_WRAPPER:-}"; then
    echo "options checked; the timed run is left to native builds (TEST_WRAPPER=$TEST_WRAPPER)"
    exit 0
fi
out=$(run --vocab=32000 --threads=1) || fail "the run exited $?"
echo "$out"
for key in 'implementation ' '^cpu: ' '^compiler: ' '^transparent huge pages: .*not advised'; do
    echo "$out" | grep -q "$key" || fail "no context line matching \"$key\""
done
for bag in 1 20 100; do
    row=$(echo "$out" | grep "^| 32000 | 128 | $bag | 1 |") || fail "no row for bags of $bag"
    # 12 cells, each a positive number.
    echo "$row" | awk -F'|' '{
        if (NF != 14) exit 1
        for (i = 2; i <= 13; i++) if (!($i + 0 > 0)) exit 1
    }' || fail "a malformed or non-positive row: $row"
    # The row read names the fastest of its three hints.
    echo "$row" | awk -F'|' '{ exit !($8 ~ /^ [0-9.]+ \((T0|T1|NTA)\) $/) }' ||
        fail "the row read does not name its hint: $row"
done
rows=$(echo "$out" | grep -c '^| [0-9]')
test "$rows" -eq 3 || fail "$rows table rows, not 3 (one table, one thread count)"
echo "PASS"
