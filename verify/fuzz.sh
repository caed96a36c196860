#!/bin/sh
# verify/fuzz.sh - runs the differential fuzzer for a bounded time, from a
# copy of the committed seed corpus (new inputs never land in the source
# tree). `make fuzz FUZZ_SECONDS=N` builds the harness and calls this.
set -eu

usage() {
    cat <<USAGE
Usage: verify/fuzz.sh FUZZER SECONDS CORPUS_DIR

Runs FUZZER (built by 'make fuzz-build' as verify/fuzz_embsimd) for SECONDS
seconds starting from CORPUS_DIR. New corpus entries go to verify/fuzz-work,
a crashing input and its dump to verify/fuzz-artifacts. Exit status is the
fuzzer's: 0 when nothing was found.
USAGE
}

case "${1:-}" in -h|--help) usage; exit 0;; esac
if [ $# -ne 3 ]; then
    usage >&2
    exit 2
fi
fuzzer=$1 seconds=$2 corpus=$3
case $seconds in
    ''|*[!0-9]*) echo "fuzz.sh: SECONDS must be a whole number, not '$seconds'" >&2; exit 2;;
esac
if [ ! -x "$fuzzer" ]; then
    echo "fuzz.sh: $fuzzer is not built (make fuzz-build)" >&2
    exit 2
fi
mkdir -p verify/fuzz-work verify/fuzz-artifacts
echo "fuzzing for $seconds s from $corpus ($(ls "$corpus" | wc -l) seeds)"
# -timeout: one input taking over 30 s is a hang, reported as a crash.
exec "$fuzzer" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 \
    -artifact_prefix=verify/fuzz-artifacts/ -print_final_stats=1 \
    verify/fuzz-work "$corpus"
