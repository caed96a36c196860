#!/bin/sh
# tools/test_tune.sh - embsimd-tune's interface: --help, bad options refused
# by name, and a tiny real run (--tiny: one small shape, two rounds) whose
# file the library then reads as this CPU's. Asserts no speed.
set -eu
: "${LIBTOOL:=libtool}"
run() {
    # TEST_WRAPPER (an emulator command) is split into words on purpose.
    # shellcheck disable=SC2086
    $LIBTOOL --mode=execute ${TEST_WRAPPER:-} ./tools/embsimd-tune "$@"
}
fail() {
    echo "FAIL: $*"
    exit 1
}
dir=$(mktemp -d "${TMPDIR:-/tmp}/embsimd-tune-test.XXXXXX")
trap 'rm -rf "$dir"' EXIT

help=$(run --help) || fail "--help exited $?"
echo "$help" | grep -q '^usage: embsimd-tune' || fail "--help prints no usage line"
echo "$help" | grep -q -- '--quick' || fail "--help does not name --quick"

for bad in --bogus --rounds=1 --rounds=x --output=; do
    status=0
    err=$(run "$bad" 2>&1 >/dev/null) || status=$?
    test "$status" -eq 2 || fail "$bad exited $status, not 2"
    echo "$err" | grep -q -- "\"${bad#--rounds=}\"\|\"$bad\"" || fail "$bad: the message does not name it: $err"
done

EMBSIMD_TUNING=off run --show | grep -q '^defaults (EMBSIMD_TUNING=off)' ||
    fail "--show under EMBSIMD_TUNING=off does not say defaults"

run --tiny --rounds=2 --output="$dir/sub/tuning.txt" >"$dir/out.txt" 2>"$dir/err.txt" ||
    { cat "$dir/out.txt" "$dir/err.txt"; fail "the tiny run exited $?"; }
grep -q '^| lookup/f32->f32 | ' "$dir/out.txt" || fail "no summary row for lookup/f32->f32"
# the tiny run times short rows only: the report says so, and a kernel it
# chose is chosen for short rows only
grep '^| lookup/f32->f32 | ' "$dir/out.txt" | grep -q '(long rows not timed) |$\|(no other code here)' ||
    fail "the summary row does not say long rows were not timed: $(grep '^| lookup/f32->f32' "$dir/out.txt")"
if grep '^kernel ' "$dir/sub/tuning.txt" | grep -v ' short$'; then
    fail "a kernel choice of the tiny run (above) is not for short rows only"
fi
grep -q '^wrote .*/sub/tuning.txt' "$dir/out.txt" || fail "it does not say what it wrote"
head -n 1 "$dir/sub/tuning.txt" | grep -qx 'embsimd-tuning 2' || fail "the file lacks its header"
grep -q '^threads.min_bytes [0-9][0-9]*$' "$dir/sub/tuning.txt" || fail "the file lacks threads.min_bytes"
grep -q '^threads.wake_min_bytes [0-9][0-9]*$' "$dir/sub/tuning.txt" ||
    fail "the file lacks threads.wake_min_bytes"
grep -q '^| bytes per call | 2 threads / 1, back to back | after a pause |$' "$dir/out.txt" ||
    fail "no threads table with both columns"
# a row-length threshold is measured at rows its candidate and the default
# treat differently (the shorter of the two), not at the shape's own rows
rows=$(awk -F' *[|] *' '$2 == "in_flight.min_dim" {
    want = $3 + 0 < $4 + 0 ? $3 + 0 : $4 + 0
    print ($5 ~ "^at D = " want ":" ? "ok" : "bad: " $0) }' "$dir/out.txt")
test -n "$rows" || fail "no in_flight.min_dim rows in the report"
echo "$rows" | grep -v '^ok$' && fail "in_flight.min_dim measured at rows it does not move (above)"
# the hint items (prefetch.bytes, bag.*) are timed on the shapes' tables and
# on one more: past the prefetch threshold, where the loops issue the hints
# they shape, or (bag.cached_hint) below it, where it adds hints; the other
# items on the shapes alone
grep -q "^shapes .*the hints' (prefetch.bytes, bag.ahead_multiple, bag.hint_level) on [0-9]* x [0-9]* x [0-9]* too .*bag.cached_hint on [0-9]* x [0-9]* x [0-9]* too" "$dir/out.txt" ||
    fail "the report does not name the hint items' shapes: $(grep '^shapes' "$dir/out.txt")"
timings=$(awk -F' *[|] *' '$2 ~ /^(prefetch[.]bytes|bag[.]|stream[.]llc_eighths$)/ {
    n = gsub(/(lookup|bag) [0-9.]+;/, "", $5)
    want = $2 ~ /^stream/ ? 1 : 2
    print (n == want ? "ok" : "bad: " $2 " " $4 " timed on " n " shapes, not " want) }' "$dir/out.txt")
test "$(echo "$timings" | grep -c '^ok$')" -eq 8 ||
    fail "the hint items are not timed on both shapes: $timings"
EMBSIMD_TUNING="$dir/sub/tuning.txt" run --show >"$dir/show.txt"
grep -q "^tuned ($dir/sub/tuning.txt, made " "$dir/show.txt" ||
    fail "the library did not take the file as this CPU's: $(cat "$dir/show.txt")"
# the same file with another CPU's line is ignored, and said so
sed 's/^cpu .*/cpu another CPU/' "$dir/sub/tuning.txt" >"$dir/other.txt"
EMBSIMD_TUNING="$dir/other.txt" run --show | grep -q 'made on another CPU (another CPU' ||
    fail "a file made on another CPU was not refused by name"
# --identity is the file's cpu line
[ "cpu $(run --identity)" = "$(sed -n 's/^cpu /cpu /p' "$dir/sub/tuning.txt")" ] ||
    fail "--identity differs from the file's cpu line"
# a loop constant by name is taken; one out of its range refuses the file, naming the line
{ cat "$dir/sub/tuning.txt"; echo "prefetch.bytes 8192"; } >"$dir/loops.txt"
EMBSIMD_TUNING="$dir/loops.txt" run --show | grep -q '^tuned .*; prefetch.bytes 8192' ||
    fail "a loop constant in the file was not taken: $(EMBSIMD_TUNING="$dir/loops.txt" run --show)"
{ cat "$dir/sub/tuning.txt"; echo "far.llc_multiple 0"; } >"$dir/bad.txt"
line=$(wc -l <"$dir/bad.txt")
EMBSIMD_TUNING="$dir/bad.txt" run --show |
    grep -q "^defaults (.*line $line: far.llc_multiple = \"0\" is not a whole number in \[1, " ||
    fail "an out-of-range loop constant was not refused by line: $(EMBSIMD_TUNING="$dir/bad.txt" run --show)"
echo "embsimd-tune: interface and a tiny run checked"
