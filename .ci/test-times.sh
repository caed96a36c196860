#!/usr/bin/env bash
# .ci/test-times.sh - the seconds each test of a finished `make check` took,
# slowest first, read from its log: the test driver creates TEST.log when the
# test starts and writes it last when the test ends, so the file's birth and
# modification times bracket the run. What CI prints after each make check,
# so a slow machine's log says which tests to shrink (docs/contributing.md).
set -euo pipefail

usage() {
    cat <<'EOF'
usage: .ci/test-times.sh [--top=N] BUILDDIR

Prints "SECONDS TEST" for the tests of BUILDDIR's last `make check`, slowest
first (the N slowest, 8 by default; --top=0 prints all), then the sum.
Needs a file system that records birth times (statx); says so where it
does not.
EOF
}

top=8
dir=""
for arg in "$@"; do
    case "$arg" in
    -h | --help) usage; exit 0 ;;
    --top=*) top=${arg#--top=} ;;
    -*) echo ".ci/test-times.sh: unknown option '$arg'" >&2; usage >&2; exit 2 ;;
    *) [ -z "$dir" ] || { echo ".ci/test-times.sh: one BUILDDIR, not '$dir' and '$arg'" >&2; exit 2; }
       dir=$arg ;;
    esac
done
[ -n "$dir" ] || { usage >&2; exit 2; }
case "$top" in '' | *[!0-9]*) echo ".ci/test-times.sh: --top is a count, not '$top'" >&2; exit 2 ;; esac
[ -d "$dir" ] || { echo ".ci/test-times.sh: no directory '$dir'" >&2; exit 2; }

# A test's .trs appears when it finishes: its .log beside it is a test's.
rows=$(find "$dir" -name '*.trs' -not -path '*/_build/*' | sort | while IFS= read -r trs; do
    log=${trs%.trs}.log
    [ -f "$log" ] || continue
    times=$(stat -c '%W %Y' "$log")
    born=${times% *}
    if [ "$born" = 0 ] || [ "$born" = - ]; then
        echo "no-birth-time"
        exit 0
    fi
    echo "$(( ${times#* } - born )) ${log#"$dir"/}"
done)
if [ -z "$rows" ]; then
    echo "test times: no finished tests under $dir"
    exit 0
fi
if [ "$rows" = no-birth-time ]; then
    echo "test times: this file system records no birth times; not available"
    exit 0
fi
total=$(echo "$rows" | awk '{ s += $1 } END { print s }')
count=$(echo "$rows" | wc -l)
echo "test times under $dir (s, slowest first; $count tests, $total s in all):"
if [ "$top" = 0 ]; then
    echo "$rows" | sort -k1,1nr -k2
else
    echo "$rows" | sort -k1,1nr -k2 | head -n "$top"
fi | sed 's/\.log$//; s/^/  /'
