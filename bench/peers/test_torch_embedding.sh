#!/bin/sh
# test_torch_embedding.sh - smoke test of bench/peers/torch_embedding.py: its
# --help and usage errors, exit status 3 without PyTorch, the input generator
# against verify/gen.c, and a tiny grid whose JSON must have Google
# Benchmark's structure (what compare.py reads), byte counts that follow from
# the shapes, and the exactness check's results. Asserts no timing.
# Run from the build directory (as `make check` does); EMBSIMD_BUILD_DIR
# overrides. Exits 77 (skipped) when no Python here imports torch.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
script=$here/torch_embedding.py
top_srcdir=$(cd "$here/../.." && pwd)
build=$(cd "${EMBSIMD_BUILD_DIR:-.}" && pwd)

. "$here/torch_test_env.sh"

dir=$(mktemp -d "${TMPDIR:-/tmp}/embsimd-peers-test.XXXXXX")
trap 'rm -rf "$dir"' EXIT

fail() {
    echo "torch_embedding.py test FAILED: $*" >&2
    exit 1
}

expect_status() { # expect_status WANT DESCRIPTION command...
    want=$1 what=$2
    shift 2
    set +e
    "$@" >"$dir/out.txt" 2>"$dir/err.txt"
    got=$?
    set -e
    test "$got" -eq "$want" || { cat "$dir/err.txt" >&2; fail "$what: exit status $got, expected $want"; }
}

echo "Python: $py ($("$py" -c 'import sys, torch; print(sys.executable, "torch", torch.__version__)'))"

# --help and usage errors
expect_status 0 "--help" "$py" "$script" --help
grep -q -- '--check' "$dir/out.txt" || fail "--help does not document --check"
for peer in torch/index_select_out torch/index_select_float torch/index_add torch/embedding_sparse \
    torch/embedding_bwd; do
    grep -q "$peer" "$dir/out.txt" || fail "--help does not list $peer"
done
expect_status 2 "a malformed --dim" "$py" "$script" --dim=12x
grep -q '"12x"' "$dir/err.txt" || fail "the --dim error does not name the bad value"
expect_status 2 "an unknown peer" "$py" "$script" --peers=torch/nothing
grep -q 'torch/nothing' "$dir/err.txt" || fail "the --peers error does not name the bad value"

# Without torch: exit 3 ("skipped"), naming the interpreter and the fix.
mkdir "$dir/no-torch"
echo 'raise ImportError("simulated: no torch here")' >"$dir/no-torch/torch.py"
expect_status 3 "torch missing" env PYTHONPATH="$dir/no-torch" "$py" "$script" --vocab=10 --dim=4 --tokens=4
grep -q 'apt-get install python3-torch' "$dir/err.txt" || fail "no install hint when torch is missing"
grep -q 'simulated: no torch here' "$dir/err.txt" || fail "the import error is not shown"
exe=$("$py" -c 'import sys; print(sys.executable)')
grep -q "$exe" "$dir/err.txt" || fail "the message does not name the interpreter $exe"

# The Python input generator equals verify/gen.c's: same ids, same floats;
# and bench/typed_inputs.h's f16 and bf16 tables made of them.
dump=$build/bench/peers/gen-dump
if ! test -x "$dump"; then
    dump=$dir/gen-dump
    if ! ${CC:-cc} -std=c11 -O1 -I"$top_srcdir/verify" -I"$top_srcdir/bench" -I"$top_srcdir/src" \
        "$here/gen_dump.c" "$top_srcdir/verify/gen.c" -o "$dump" 2>"$dir/cc.txt"; then
        cat "$dir/cc.txt" >&2
        fail "cannot build gen-dump from bench/peers/gen_dump.c (set CC, or build bench/peers/gen-dump)"
    fi
fi
# One Python process for all of them (each one imported torch: 5 s a dump on
# a Zen 1): the dumps in a row, each followed by a line "--".
sets="ids uniform 50257 3000 20240229|ids zipf 50257 3000 7|ids zipf 262144 2000 1|\
ids duplicates 1000 500 3|ids sorted 77 300 5|ids reversed 1000 300 5|ids all-equal 9 20 2|\
finite 70001 11|bits 70001 12|f16 70001 13|bf16 70001 14"
: >"$dir/c.txt"
pyargs=""
old_ifs=$IFS
IFS='|'
for args in $sets; do
    IFS=$old_ifs
    # shellcheck disable=SC2086 # the arguments are meant to split
    "$dump" $args >"$dir/one.txt" || fail "gen-dump $args exited $?"
    test -s "$dir/one.txt" || fail "gen-dump $args printed nothing"
    { cat "$dir/one.txt"; echo --; } >>"$dir/c.txt"
    pyargs="$pyargs $args --"
done
IFS=$old_ifs
# shellcheck disable=SC2086
"$py" "$here/embsimd_inputs.py" $pyargs >"$dir/p.txt" || fail "embsimd_inputs.py exited $?"
if ! cmp -s "$dir/c.txt" "$dir/p.txt"; then
    # name the first set whose dumps differ
    awk -v out="$dir/c" '{ print > (out "." n) } /^--$/ { n++ }' n=0 "$dir/c.txt"
    awk -v out="$dir/p" '{ print > (out "." n) } /^--$/ { n++ }' n=0 "$dir/p.txt"
    i=0
    IFS='|'
    for args in $sets; do
        cmp -s "$dir/c.$i" "$dir/p.$i" 2>/dev/null || fail "embsimd_inputs.py $args differs from verify/gen.c"
        i=$((i + 1))
    done
    fail "embsimd_inputs.py's output differs from verify/gen.c's after the last set"
fi

# A tiny grid with JSON, the exactness check against the built library; the
# f16 and bf16 tables' peers too.
grid="--vocab=1000 --dim=64,100 --tokens=64 --threads=1,2 --ids=uniform,zipf --types=f32,bf16,f16"
# shellcheck disable=SC2086
expect_status 0 "the tiny grid" "$py" "$script" $grid ${EMBSIMD_LIB:+--lib="$EMBSIMD_LIB"} --build-dir="$build" \
    --benchmark_min_time=0.001 --benchmark_repetitions=2 --benchmark_out="$dir/peers.json"
cp "$dir/err.txt" "$dir/run.txt"
grep -q '^check V:1000/D:100/N:64/T:2/ids:zipf: ' "$dir/run.txt" || fail "no exactness check line"
grep -q '^check V:1000/D:100/N:64/T:2/ids:zipf/bf16: ' "$dir/run.txt" ||
    fail "no exactness check line for the bf16 table"
grep -q '^torch/embedding_fwd/f32->f32/V:1000/D:64/N:64/T:1/ids:uniform/idx:i64/real_time ' "$dir/run.txt" ||
    fail "no progress line per benchmark"
# coalesce() sums a row's entries in another order than emb_grad_f32 (sort
# order, not token order): only rows named 3 or more times may differ.
if grep 'torch/embedding_sparse grad, coalesce(): [0-9]* of' "$dir/run.txt" |
    grep -v 'the least named \([3-9]\|[1-9][0-9][0-9]*\) times'; then
    fail "the sparse gradient's coalesce() differs from embsimd in a row named fewer than 3 times"
fi

"$py" - "$dir/peers.json" <<'EOF' || fail "the JSON is not what compare.py expects (above)"
import json, re, statistics, sys

doc = json.load(open(sys.argv[1]))
errors = []
def need(cond, msg):
    if not cond:
        errors.append(msg)

ctx = doc["context"]
for key in ("date", "host_name", "executable", "num_cpus", "caches", "cpu_model", "torch_version",
            "torch_parallel_info", "python", "threads", "seed", "bytes_definition", "timing",
            "exactness_check"):
    need(key in ctx, "context lacks %s" % key)
need("libembsimd" in ctx.get("exactness_check", ""), "the exactness check did not run: %s"
     % ctx.get("exactness_check"))

peers = ["torch/embedding_fwd", "torch/index_select_out", "torch/index_select_float",
         "torch/index_add", "torch/embedding_sparse", "torch/embedding_bwd", "torch/onehot_matmul"]
# The kernels each peer stands next to (table type, output type).
kernels = {p: [("f32", "f32")] for p in peers}
kernels["torch/index_select_out"] += [("bf16", "bf16"), ("f16", "f16")]
kernels["torch/index_select_float"] = [("bf16", "f32"), ("f16", "f32")]
elem = {"f32": 4, "f16": 2, "bf16": 2}
try:
    import numpy  # noqa: F401
    peers += ["numpy/take", "numpy/add_at"]
    kernels["numpy/take"] = kernels["numpy/add_at"] = [("f32", "f32")]
except ImportError:
    pass
lookup = {"torch/embedding_fwd", "torch/index_select_out", "torch/index_select_float",
          "torch/onehot_matmul", "numpy/take"}
fwd_bwd = {"torch/embedding_sparse"}
# What the check compares per peer; the ones that must equal embsimd bit for
# bit on every shape (finite and special inputs) are marked True.
labels = {p: [(p, True)] for p in peers}
labels["torch/index_select_out"] += [("torch/index_select_out bf16->bf16", True),
                                     ("torch/index_select_out f16->f16", True)]
labels["torch/index_select_float"] = [
    ("torch/index_select_float %s->f32%s" % (t, form), True)
    for t in ("bf16", "f16") for form in ("", " (copy_ into f32)")]
labels["torch/onehot_matmul"] = [("torch/onehot_matmul", False)]  # 0 x Inf with specials
labels["torch/embedding_sparse"] = [
    ("torch/embedding_sparse forward", True),
    ("torch/embedding_sparse grad values", True),  # the ids and dY, unsummed
    ("torch/embedding_sparse grad, table.add_(grad)", True),  # SGD's way: token order
    ("torch/embedding_sparse grad, coalesce()", False)]  # sort order: rows named 3+ times
shapes = [(1000, d, 64, t, k) for d in (64, 100) for t in (1, 2) for k in ("uniform", "zipf")]
rows = {}
for b in doc["benchmarks"]:
    rows.setdefault(b["run_name"], []).append(b)
    for key in ("name", "run_name", "run_type", "repetitions", "threads", "iterations",
                "real_time", "cpu_time", "time_unit"):
        need(key in b, "%s lacks %s" % (b.get("name"), key))
    need(not b.get("error_occurred"), "%s failed: %s" % (b.get("name"), b.get("error_message")))

for p in peers:
  for src, dst in kernels[p]:
    for v, d, n, t, k in shapes:
        name = "%s/%s->%s/V:%d/D:%d/N:%d/T:%d/ids:%s/idx:i64/real_time" % (p, src, dst, v, d, n, t, k)
        got = rows.get(name, [])
        its = [r for r in got if r["run_type"] == "iteration"]
        aggs = {r.get("aggregate_name"): r for r in got if r["run_type"] == "aggregate"}
        need([r["repetition_index"] for r in its] == [0, 1], "%s: repetitions %s" % (
            name, [r.get("repetition_index") for r in its]))
        need(set(aggs) == {"mean", "median", "stddev", "cv"}, "%s: aggregates %s" % (name, sorted(aggs)))
        if len(its) != 2 or "median" not in aggs:
            continue
        need(len({r["iterations"] for r in its}) == 1, "%s: iteration counts differ" % name)
        for agg, row in aggs.items():
            need(row["name"] == name + "_" + agg and row["iterations"] == 2, "%s: %s row" % (name, agg))
            need(row["aggregate_unit"] == ("percentage" if agg == "cv" else "time"),
                 "%s: %s unit" % (name, agg))
        med = aggs["median"]
        need(abs(med["real_time"] - statistics.median(r["real_time"] for r in its))
             <= 1e-9 * med["real_time"], "%s: median is not the repetitions' median" % name)
        for r in its:
            need(r["time_unit"] == "ns" and r["real_time"] > 0 and r["cpu_time"] >= 0,
                 "%s: times %s %s" % (name, r["real_time"], r["cpu_time"]))
            per_call = r["bytes_per_second"] * r["real_time"] * 1e-9
            if p in fwd_bwd:  # a lookup's bytes plus a gradient's
                lo, hi = 2 * n * d * 4 + n * d * 4 + 2 * d * 4, 2 * n * d * 4 + 3 * n * d * 4
                need(lo * (1 - 1e-6) <= per_call <= hi * (1 + 1e-6),
                     "%s: %.1f bytes per call outside [%d, %d]" % (name, per_call, lo, hi))
            elif p in lookup:  # N table rows and N output rows, each in its own type
                want = n * d * (elem[src] + elem[dst])
                need(abs(per_call - want) <= 1e-6 * per_call,
                     "%s: %.1f bytes per call, expected N*D*(%d+%d) = %d" % (
                         name, per_call, elem[src], elem[dst], want))
            else:
                # dY plus each distinct row read and written: 1 to N distinct rows
                need(n * d * 4 + 2 * d * 4 - 1e-6 * per_call <= per_call <= 3 * n * d * 4 * (1 + 1e-6),
                     "%s: %.1f bytes per call outside [N*D*4 + 2*D*4, 3*N*D*4]" % (name, per_call))
            tokens = r["items_per_second"] * r["real_time"] * 1e-9
            need(abs(tokens - n) <= 1e-6 * n, "%s: %.3f items per call, expected N = %d" % (name, tokens, n))
  for label, exact in labels[p]:
        for values in ("finite", "special"):
            text = ctx.get("exactness %s (%s inputs)" % (label, values), "")
            m = re.search(r"in (\d+) of (\d+) checks", text)
            need(m is not None and int(m.group(2)) == len(shapes),
                 "%s: the %s-input check did not run on all %d shapes: %r"
                 % (label, values, len(shapes), text))
            if exact and (p != "torch/onehot_matmul" or values == "finite"):
                need(m is not None and m.group(1) == m.group(2),
                     "%s differs from embsimd on %s inputs: %r" % (label, values, text))
print("JSON: %d benchmarks, %d rows, exactness recorded for %d peers"
      % (len(rows), len(doc["benchmarks"]), len(peers)))
if errors:
    print("\n".join(errors[:20]), file=sys.stderr)
    sys.exit(1)
EOF

# compare.py (Debian libbenchmark-tools) reads it.
compare=/usr/share/benchmark/compare.py
if test -f "$compare" && "$py" -c 'import scipy' 2>/dev/null; then
    "$py" "$compare" --no-color benchmarks "$dir/peers.json" "$dir/peers.json" >"$dir/compare.txt" 2>&1 ||
        { cat "$dir/compare.txt" >&2; fail "compare.py cannot read the JSON"; }
    grep -q 'torch/embedding_bwd/f32->f32/V:1000/D:100/N:64/T:2/ids:zipf/idx:i64/real_time_median' "$dir/compare.txt" ||
        fail "compare.py did not list the benchmarks"
else
    echo "compare.py or scipy not here: the compare.py read-back is not run"
fi

# compare_peers.py (make compare-peers) with the suite built here: the
# merged JSON and a table with both sides and their ratio. A cv limit of
# 0.0001 % reruns the one shape once (two repetitions that agree to the
# nanosecond on both sides are what it would take not to).
if test -x "$build/bench/embsimd-bench"; then
    expect_status 0 "compare_peers.py" "$py" "$here/compare_peers.py" --bench="$build/bench/embsimd-bench" \
        --python="$py" ${EMBSIMD_LIB:+--lib="$EMBSIMD_LIB"} --results="$dir/results" --vocab=1000 --dim=64 \
        --tokens=64 --threads=1 --benchmark_min_time=0.001 --benchmark_repetitions=2 --bag=exact-only \
        --rerun-cv=0.0001 --rerun-passes=1
    grep -q '(rerun 1)$' "$dir/out.txt" || fail "compare_peers.py --rerun-cv=0.0001 ran nothing again"
    grep -q '^| reruns | .*: 1 of 1 run again, ' "$dir/results/peers.md" ||
        fail "peers.md does not say which shapes ran again"
    # torch_bag.py's exactness checks only: its timed table (55 s on a Zen 1,
    # of this test's 71) asserts nothing more here; its --tiny table below
    # tests the timing.
    grep -q '^row-wise Adagrad | torch ops on the coalesced sparse gradient' "$dir/out.txt" ||
        fail "compare_peers.py --bag=exact-only did not print torch_bag.py's exactness rows"
    md=$dir/results/peers.md
    test -s "$md" || fail "compare_peers.py wrote no peers.md"
    ls "$dir"/results/runs/peers-*.json >/dev/null 2>&1 || fail "compare_peers.py wrote no merged JSON"
    # The fair peers lead: the first table after the context.
    first=$(grep '^## ' "$md" | sed -n 2p)
    test "$first" = "## Fair peers: lookup vs index_select(out=), gradient vs index_add_, GB/s" ||
        fail "peers.md: the first table is not the fair peers': $first"
    impl='[0-9.]+ \((avx512|avx2|neon|scalar)\)'
    section_row() { # section_row HEADING-PREFIX: the V=1000 D=64 N=64 T=1 zipf row of that section
        sed -n "/^## $1/,/^## /p" "$md" | grep '^| 1000 | 64 | 64 | 1 | zipf |' || true
    }
    row=$(section_row 'Fair peers')
    echo "$row" | grep -Eq "\| $impl \| [0-9.]+ \| [0-9.]+× \| $impl \| [0-9.]+ \| [0-9.]+× \|\$" ||
        fail "peers.md: the fair row lacks lookup vs index_select or grad vs index_add_: $row"
    for table in 'Lookup, every peer' 'Gradient into an existing table' 'What nn.Embedding does by default'; do
        row=$(section_row "$table")
        echo "$row" | grep -Eq "\| $impl \| [0-9.]+ \| [0-9.]+× \|" ||
            fail "peers.md: the '$table' row lacks embsimd, torch or their ratio: $row"
    done
    row=$(section_row 'nn.Embedding(sparse=True)')
    echo "$row" | grep -Eq '\| [0-9.]+ (µs|ms) \| [0-9.]+ (µs|ms) \| [0-9.]+× \|$' ||
        fail "peers.md: the sparse row lacks both times or their ratio: $row"
    grep -q 'zero-fills it on every call' "$md" || fail "peers.md: the dense backward's zero-fill is not said"
    for kernel in 'bf16->f32 \| [0-9.]+ \((avx512|avx2|neon|scalar)\) \| index_select \+ \.float\(\)' \
        'f16->f16 \| [0-9.]+ \((avx512|avx2|neon|scalar)\) \| index_select\(out=\)'; do
        row=$(sed -n "/^## f16 and bf16 tables/,/^## /p" "$md" | grep '^| 1000 | 64 | 64 | 1 | zipf |' |
            grep -E "$kernel" || true)
        echo "$row" | grep -Eq '\| [0-9.]+ \| [0-9.]+× \| [0-9.]+ \|$' ||
            fail "peers.md: no 16-bit table row with embsimd, torch and their ratio for $kernel: $row"
    done
    for peer in torch/embedding_bwd torch/index_add 'torch/embedding_sparse grad, table.add_(grad)'; do
        grep -qF -- "- \`$peer (finite inputs)\`: bit-identical to embsimd in 2 of 2 checks" "$md" ||
            fail "peers.md: no exactness line for $peer, or not bit-identical"
    done
else
    echo "no $build/bench/embsimd-bench (configured without Google Benchmark): compare_peers.py not run"
fi

# torch_bag.py's timing on a tiny table: a limit of 0.0001 % runs the bag
# row and the fused step once more each; every row carries both sides' cv.
bag=$here/torch_bag.py
expect_status 0 "torch_bag.py --tiny" "$py" "$bag" --build-dir="$build" ${EMBSIMD_LIB:+--lib="$EMBSIMD_LIB"} \
    --results="$dir/bag" --tiny --reps=2 --min-time=0.001 --rerun-cv=0.0001 --rerun-passes=1
grep -q '^torch_bag.py: bag sum 1000 x 64, bags of 20, T=1: a cv of .* rerun 1 of at most 1$' "$dir/out.txt" ||
    fail "torch_bag.py --rerun-cv=0.0001 did not run the bag row again"
grep -q '^| reruns | .*: 2 of 2 run again, [0-2] reruns\{0,1\} kept; [0-9]* figures still above |$' "$dir/bag/peers-bag.md" ||
    fail "peers-bag.md does not say what ran again"
grep -Eq '^\| 1000 \| 64 \| 20 \| 1 \| [0-9.]+ \| [0-9.]+ \| [0-9.]+× \| [0-9.]+, [0-9.]+ \|$' "$dir/bag/peers-bag.md" ||
    fail "peers-bag.md: the bag row lacks both sides, their ratio or their cvs"
test "$(grep -Ec '^\| 1000 \| 64 \| 20 \| 1 \| [A-Za-z].* \| [0-9.]+, [0-9.]+ \|$' "$dir/bag/peers-bag.md")" -eq 3 ||
    fail "peers-bag.md: not three fused-step rows with their cvs"
grep -q '<!-- embedding-bag: begin -->' "$dir/bag/peers.md" || fail "torch_bag.py wrote no peers.md section"
expect_status 2 "torch_bag.py --rerun-cv=101" "$py" "$bag" --build-dir="$build" --rerun-cv=101
grep -q -- '--rerun-cv: "101" is not a percentage' "$dir/err.txt" || fail "--rerun-cv=101: no error naming it"
expect_status 2 "torch_bag.py --rerun-passes=0" "$py" "$bag" --build-dir="$build" --rerun-passes=0
grep -q -- '--rerun-passes: "0" is not a whole number' "$dir/err.txt" || fail "--rerun-passes=0: no error naming it"
expect_status 2 "torch_bag.py --reps=1" "$py" "$bag" --build-dir="$build" --reps=1
grep -q -- '--reps: "1" is below 2' "$dir/err.txt" || fail "--reps=1: no error naming it"

# --check alone: the check, no timing, no JSON.
expect_status 0 "--check" "$py" "$script" --vocab=1000 --dim=64 --tokens=64 --build-dir="$build" --check
test ! -s "$dir/out.txt" || fail "--check wrote to standard output"
grep -q '^check V:1000/D:64/N:64/T:1/ids:zipf: ' "$dir/err.txt" || fail "--check printed no check line"
if grep -q 'real_time ' "$dir/err.txt"; then
    fail "--check timed benchmarks"
fi
expect_status 2 "--check without the library" "$py" "$script" --vocab=1000 --dim=64 --tokens=64 \
    --lib="$dir/missing.so" --check
grep -q "$dir/missing.so" "$dir/err.txt" || fail "the missing-library error does not name the path"

echo "torch_embedding.py: all checks passed"
