#!/bin/sh
# bench/smoke.sh - a tiny benchmark run that checks the suite's outputs get
# written: the JSON (with its context and one entry per benchmark, typed
# kernels and int64 ids included), the markdown table (one row per kernel,
# id type and implementation), the types a dim is not valid for, and the
# plot or the line saying why it was skipped. Asserts no timing.
# Usage: smoke.sh BENCH_BINARY
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

if "$bench" --types=f32,f8 >"$dir/bad.txt" 2>&1; then
    fail "an unknown --types was accepted"
fi
grep -q '"f8"' "$dir/bad.txt" || fail "the --types error does not name the bad value"

if "$bench" --out-offset=64 >"$dir/bad.txt" 2>&1; then
    fail "an --out-offset past 63 was accepted"
fi
grep -q '"64"' "$dir/bad.txt" || fail "the --out-offset error does not name the bad value"

# f32, bf16 (a bit copy, a widening lookup and a grad) and q8_0 (a
# dequantizing lookup, not valid at D = 100), with int32 and int64 ids.
"$bench" --vocab=1000 --dim=64,100 --tokens=64 --ids=uniform,zipf --types=f32,bf16,q8_0 \
    --ids-type=i32,i64 --results="$dir/results" --plot-files="$dir" \
    --benchmark_min_time=0.001 --benchmark_repetitions=2 >"$dir/run.txt" 2>&1 ||
    { cat "$dir/run.txt" >&2; fail "the run exited with an error"; }

json=$(ls "$dir"/results/runs/*.json 2>/dev/null | head -n 1)
test -n "$json" || fail "no JSON written under results/runs/"
md="$dir/results/latest.md"
test -s "$md" || fail "no markdown table written"

for key in cpu_model compiler_flags configure_options embsimd_version git_revision \
    implementations threads id_distributions id_types types kernels seed bytes_definition \
    output_offset; do
    grep -q "\"$key\": " "$json" || fail "JSON context lacks $key"
done

impls=$(grep '^| implementations |' "$md" | sed 's/^| implementations | //; s/ |$//; s/,//g')
test -n "$impls" || fail "the table names no implementation"
# What each implementation runs comes from the library (emb_kernel_impl),
# never from a list here: a kernel an implementation runs with another's
# code is timed once, under its owner, and said so.
"$bench" --list-kernels >"$dir/kernels.tsv" || fail "--list-kernels exited $?"
code_of() { # code_of KERNEL IMPL: whose code runs KERNEL under IMPL
    awk -F '\t' -v k="$1" -v i="$2" '$1 == k && $2 == i { print $3 }' "$dir/kernels.tsv"
}
for impl in $impls; do
    want=0
    for kernel in lookup/f32-\>f32 grad/f32-\>f32 lookup/bf16-\>bf16 lookup/bf16-\>f32 grad/bf16-\>f32 \
        lookup/q8_0-\>f32; do
        code=$(code_of "$kernel" "$impl")
        case $code in
        '' | unavailable:*) fail "--list-kernels gives no code for $kernel under $impl: '$code'" ;;
        esac
        case $kernel in
        *q8_0*) dims=64 ;; # q8_0 rows are blocks of 32
        *) dims="64 100" ;;
        esac
        for d in $dims; do
            for idx in i32 i64; do
                name="${kernel%%/*}/$impl/${kernel#*/}/V:1000/D:$d/N:64/T:1/ids:zipf/idx:$idx/real_time"
                if test "$code" = "$impl"; then
                    grep -q "\"name\": \"$name\"" "$json" || fail "JSON lacks $name"
                    want=$((want + 2)) # zipf and uniform
                else
                    grep -q "\"name\": \"$name\"" "$json" && fail "JSON times $name, which runs $code's code"
                    owner="${kernel%%/*}/$code/${kernel#*/}/V:1000/D:$d/N:64/T:1/ids:zipf/idx:$idx/real_time"
                    grep -q "\"name\": \"$owner\"" "$json" || fail "JSON lacks $owner, whose code $impl runs"
                fi
            done
        done
        if test "$code" != "$impl"; then
            grep -qF -- "- $kernel under $impl runs $code's code" "$md" ||
                fail "the table does not say that $kernel under $impl runs $code's code"
        fi
    done
    grep -q "q8_0->f32/V:1000/D:100/" "$json" && fail "q8_0 ran at D = 100, which it is not valid for"
    rows=$(grep -c "^| 1000 | [0-9]* | 64 | 1 | [a-z]* | i[0-9]* | [a-z0-9_]*->[a-z0-9]* | [A-Za-z:]* | $impl | [0-9]" "$md" || true)
    test "$rows" -eq "$want" || fail "table has $rows rows for $impl, expected $want (its own kernels x 2 id kinds x 2 id types, from --list-kernels)"
done
grep -q '^- q8_0 at D=100: ' "$md" || fail "the table does not list q8_0 at D = 100 as left out"
for types in f32-\>f32 bf16-\>bf16 bf16-\>f32 q8_0-\>f32; do
    name="copy/memcpy/$types/V:1000/D:64/N:64/T:1/real_time"
    grep -q "\"name\": \"$name\"" "$json" || fail "JSON lacks the memcpy roofline $name"
done
grep -q '"name": "onehot/blas/V:1000/D:64/N:64/T:1/real_time"' "$json" || fail "JSON lacks the one-hot GEMM"
grep -q '"error_occurred": true' "$json" && fail "a benchmark reported an error"

# Bytes per call: each table row and output row in its own type's bytes; a
# copy moves what the lookup of its types moves; grad reads dY of its type.
if command -v python3 >/dev/null 2>&1; then
    python3 - "$json" <<'EOF' || fail "byte counts are not docs/benchmarks.md's (above)"
import json, sys
rows = {b["name"]: b for b in json.load(open(sys.argv[1]))["benchmarks"]
        if b.get("run_type") == "iteration" and not b.get("error_occurred")}
row = {"f32": 64 * 4, "bf16": 64 * 2, "q8_0": 2 * 34}  # D = 64
bad = []
for name, b in rows.items():
    if "/D:64/" not in name or name.startswith("onehot/"):
        continue
    per_call = b["bytes_per_second"] * b["real_time"] * 1e-9
    src, dst = name.split("/")[2].split("->")
    if name.startswith(("lookup/", "copy/")):
        want = (64 * (row[src] + row[dst]),) * 2
    else:  # dY, then 2 fp32 rows for each of 1 to N distinct ids
        want = (64 * row[src] + 2 * 256, 64 * row[src] + 2 * 64 * 256)
    if not want[0] * (1 - 1e-6) <= per_call <= want[1] * (1 + 1e-6):
        bad.append("%s: %.1f bytes per call, expected %s" % (name, per_call, want))
if bad:
    sys.exit("\n".join(bad[:10]))
EOF
fi

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
# An output off a 64-byte boundary: named in the context, and every kernel
# still checked against its reference before it is timed.
"$bench" --vocab=100 --dim=96 --tokens=16 --ids=uniform --types=f32,q4_0 --out-offset=20 \
    --results="$dir/offset" --plot-files="$dir" \
    --benchmark_min_time=0.001 --benchmark_repetitions=1 >"$dir/offset.txt" 2>&1 ||
    { cat "$dir/offset.txt" >&2; fail "the --out-offset=20 run exited with an error"; }
grep -q '"output_offset": "20 bytes past a 64-byte boundary' "$dir"/offset/runs/*.json ||
    fail "the JSON context does not give the output's offset"

echo "bench smoke test passed: $json, $md"
