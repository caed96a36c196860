#!/bin/sh
# verify/test_extreme_schedules.sh - bits never depend on the schedule. The
# verifier's grid (C), digests (E), layer (F), scan (G) and bags (H) run
# under tuning files that push every loop constant to an extreme: prefetch
# on every table and as far as it goes, prefetch off, hints 64 rows ahead
# in every lookup from a cached quantized table, rows in flight for
# every row and for none, streaming stores on every output and on none, the
# far hint on every table (a 64 KiB LLC), bag hints into L1 as well as L2,
# AVX-512's blocked lookups storing in YMM halves, its 16-bit gradients'
# lead on every row and on none, a second thread from the first byte. Each run must pass, and its canonical
# digest must equal the defaults' run's: one code path that computed
# otherwise would move it.
# Under an emulator (EMBSIMD_VERIFY_EMULATED=1) the grid and digests only,
# for the schedules that change which loop runs. (It found a real bug:
# AVX-512's streaming row copy faulted on 16-bit rows of odd dims.)
set -eu
: "${LIBTOOL:=libtool}"
run() {
    # TEST_WRAPPER (an emulator command) is split into words on purpose.
    # shellcheck disable=SC2086
    $LIBTOOL --mode=execute ${TEST_WRAPPER:-} "$@"
}
dir=$(mktemp -d "${TMPDIR:-/tmp}/embsimd-extreme.XXXXXX")
trap 'rm -rf "$dir"' EXIT
verify() { # name, then the environment's assignments
    name=$1
    shift
    # shellcheck disable=SC2086
    env "$@" $LIBTOOL --mode=execute ${TEST_WRAPPER:-} ./verify/embsimd-verify --quick \
        --sections "$sections" --threads 1,2 --json "$dir/$name.json" >"$dir/$name.log" 2>&1 ||
        { tail -n 30 "$dir/$name.log" >&2; echo "FAIL: the verifier under schedule $name" >&2; exit 1; }
    sed -n 's/.*"canonical_digest": "\([0-9a-f]*\)".*/\1/p' "$dir/$name.json"
}
# a tuning file of this CPU (as EMBSIMD_LLC makes it) with the given items
schedule() { # file, llc, items...
    file=$1 llc=$2
    shift 2
    {
        echo "embsimd-tuning 1"
        echo "cpu $(env EMBSIMD_LLC="$llc" $LIBTOOL --mode=execute ${TEST_WRAPPER:-} ./tools/embsimd-tune --identity)"
        echo "made by verify/test_extreme_schedules.sh"
        for item in "$@"; do echo "$item"; done
    } >"$file"
}

emulated=${EMBSIMD_VERIFY_EMULATED:-0}
sections=CEFGH
[ "$emulated" = 1 ] && sections=CE
want=$(verify defaults EMBSIMD_TUNING=off)
[ -n "$want" ] || { echo "FAIL: the defaults' run reported no canonical digest"; exit 1; }
# shellcheck disable=SC2086
llc=$(env EMBSIMD_TUNING=off $LIBTOOL --mode=execute ${TEST_WRAPPER:-} ./tools/embsimd-tune --identity |
      sed -n 's/.*; llc \([0-9]*\);.*/\1/p')

check() { # name, llc, items...
    name=$1 size=$2
    shift 2
    schedule "$dir/$name.txt" "$size" "$@"
    # shellcheck disable=SC2086
    env EMBSIMD_TUNING="$dir/$name.txt" EMBSIMD_LLC="$size" $LIBTOOL --mode=execute \
        ${TEST_WRAPPER:-} ./tools/embsimd-tune --show | grep -q '^tuned' ||
        { echo "FAIL: schedule $name was not taken as this CPU's"; exit 1; }
    got=$(verify "$name" EMBSIMD_TUNING="$dir/$name.txt" EMBSIMD_LLC="$size")
    [ "$got" = "$want" ] ||
        { echo "FAIL: schedule $name: canonical digest $got, the defaults' $want"; exit 1; }
    echo "schedule $name: passed, digest $got"
}
check prefetch-off "$llc" "prefetch.llc_eighths 0" "grad.prefetch_llc_eighths 0" \
    "prefetch.bytes 0" "cached.ahead_rows 0" "narrow.max_bytes 0" "line.realign 0" \
    "line.halves 1" "grad.lead_min_dim 1099511627776"
check in-flight-all "$llc" "prefetch.llc_eighths 0" "grad.prefetch_llc_eighths 0" \
    "in_flight.min_dim 1" "in_flight.pos_grad_min_dim 1" "bag.hint_level 1" "line.halves 1"
check stream-all "$llc" "stream.llc_eighths 0" "line.realign 0" "grad.lead_min_dim 1"
check far-all 65536 "prefetch.llc_eighths 0" "grad.prefetch_llc_eighths 0" \
    "far.llc_multiple 1" "stream.llc_eighths 0" "bag.hint_level 1"
if [ "$emulated" != 1 ]; then
    check prefetch-max "$llc" "prefetch.llc_eighths 0" "grad.prefetch_llc_eighths 0" \
        "prefetch.bytes 16777216" "prefetch.rows_max 4096" "prefetch.budget 1073741824" \
        "bag.ahead_multiple 64"
    check cached-ahead-all "$llc" "cached.ahead_rows 64" "cached.ahead_min_dim 1" \
        "cached.ahead_min_bytes 0" "bag.cached_hint 1"
    check in-flight-none "$llc" "prefetch.llc_eighths 0" "grad.prefetch_llc_eighths 0" \
        "in_flight.min_dim 1099511627776"
    check stream-none "$llc" "stream.llc_eighths 1048576" "narrow.max_bytes 1099511627776"
    check threads-always "$llc" "threads.min_bytes 0" "threads.wake_min_bytes 0"
fi
echo "every extreme schedule gave the defaults' digest $want"
