#!/bin/sh
# bench/smoke.sh - a tiny benchmark run that checks the suite's outputs get
# written: the JSON (with its context and one entry per benchmark), the
# markdown table (one row per implementation), and the plot or the line
# saying why it was skipped. Asserts no timing. Usage: smoke.sh BENCH_BINARY
set -eu

bench=${1:?usage: smoke.sh path/to/embsimd-bench}
dir=$(mktemp -d "${TMPDIR:-/tmp}/embsimd-bench-smoke.XXXXXX")
trap 'rm -rf "$dir"' EXIT

fail() {
    echo "bench smoke test FAILED: $*" >&2
    exit 1
}

"$bench" --help >"$dir/help.txt" || fail "--help exited $?"
grep -q -- '--budget=SIZE' "$dir/help.txt" || fail "--help lacks the suite's own options"
grep -q -- '--benchmark_filter' "$dir/help.txt" || fail "--help lacks Google Benchmark's flags"

if "$bench" --dim=12x >"$dir/bad.txt" 2>&1; then
    fail "a malformed --dim was accepted"
fi
grep -q '"12x"' "$dir/bad.txt" || fail "the --dim error does not name the bad value"

"$bench" --vocab=1000 --dim=64,100 --tokens=64 --ids=uniform,zipf \
    --results="$dir/results" --plot-files="$dir" \
    --benchmark_min_time=0.001 --benchmark_repetitions=2 >"$dir/run.txt" 2>&1 ||
    { cat "$dir/run.txt" >&2; fail "the run exited with an error"; }

json=$(ls "$dir"/results/runs/*.json 2>/dev/null | head -n 1)
test -n "$json" || fail "no JSON written under results/runs/"
md="$dir/results/latest.md"
test -s "$md" || fail "no markdown table written"

for key in cpu_model compiler_flags configure_options embsimd_version git_revision \
    implementations threads id_distributions seed bytes_definition; do
    grep -q "\"$key\": " "$json" || fail "JSON context lacks $key"
done

impls=$(grep '^| implementations |' "$md" | sed 's/^| implementations | //; s/ |$//; s/,//g')
test -n "$impls" || fail "the table names no implementation"
for impl in $impls; do
    for op in lookup grad; do
        for d in 64 100; do
            name="$op/$impl/V:1000/D:$d/N:64/T:1/ids:zipf/real_time"
            grep -q "\"name\": \"$name\"" "$json" || fail "JSON lacks $name"
        done
    done
    rows=$(grep -c "^| 1000 | [0-9]* | 64 | 1 | [a-z]* | [A-Za-z:]* | $impl | [0-9]" "$md" || true)
    test "$rows" -eq 8 || fail "table has $rows rows for $impl, expected 8 (2 ops x 2 dims x 2 id kinds)"
done
grep -q '"name": "copy/memcpy/V:1000/D:64/N:64/T:1/real_time"' "$json" || fail "JSON lacks the memcpy roofline"
grep -q '"name": "onehot/blas/V:1000/D:64/N:64/T:1/real_time"' "$json" || fail "JSON lacks the one-hot GEMM"
grep -q '"error_occurred": true' "$json" && fail "a benchmark reported an error"

if command -v gnuplot >/dev/null 2>&1; then
    test -s "$dir/results/latest.svg" || fail "gnuplot is installed but no plot was drawn"
else
    grep -q 'plot skipped: gnuplot not found' "$dir/run.txt" || fail "no plot and no reason given"
fi

# compare.py needs numpy and scipy: the system Python has them (Debian
# python3-scipy) when a python3 earlier on PATH may not.
py=python3
test -x /usr/bin/python3 && py=/usr/bin/python3
if "$py" -c 'import scipy' 2>/dev/null && test -f /usr/share/benchmark/compare.py; then
    "$py" /usr/share/benchmark/compare.py benchmarks "$json" "$json" >"$dir/compare.txt" 2>&1 ||
        { cat "$dir/compare.txt" >&2; fail "compare.py cannot read the JSON"; }
    grep -q 'lookup/' "$dir/compare.txt" || fail "compare.py output lists no lookup benchmark"
else
    echo "bench smoke: compare.py check skipped (needs python3-scipy and libbenchmark-tools)"
fi
echo "bench smoke test passed: $json, $md"
