#!/bin/sh
# bench/test_rerun.sh - embsimd-bench --rerun-cv: its bad values are
# refused by name; a limit below any real spread reruns every shape, each
# pass into its own JSON beside the run's, which keeps every benchmark; and
# each shape's figures in latest.md all come from the one pass (the run or
# a rerun) whose largest cv for that shape is the least. Asserts no timing.
set -eu
bench=./bench/embsimd-bench
dir=$(mktemp -d "${TMPDIR:-/tmp}/embsimd-bench-rerun.XXXXXX")
trap 'rm -rf "$dir"' EXIT

fail() {
    echo "bench rerun test FAILED: $*" >&2
    exit 1
}

for bad in --rerun-cv=x --rerun-cv=101 --rerun-cv=-1 --rerun-passes=0 --rerun-passes=21 \
    --rerun-passes=2x; do
    if "$bench" "$bad" >"$dir/bad.txt" 2>&1; then
        fail "$bad was accepted"
    fi
    grep -q "\"${bad#*=}\"" "$dir/bad.txt" || fail "the error for $bad does not name its value"
done
"$bench" --help | grep -q -- '--rerun-cv=PCT' || fail "--help lacks --rerun-cv"

# A limit of 0.0001 %: three repetitions of a wall-clock time all equal to
# the nanosecond are what it would take not to rerun.
"$bench" --vocab=1000 --dim=16,64 --tokens=64 --ids=uniform --impl=scalar \
    --rerun-cv=0.0001 --rerun-passes=2 --results="$dir/results" --plot-files="$dir" \
    --benchmark_min_time=0.001 --benchmark_repetitions=3 >"$dir/run.txt" 2>&1 ||
    { cat "$dir/run.txt" >&2; fail "the run exited with an error"; }
grep -q '^rerun 1 of at most 2: 2 shapes' "$dir/run.txt" || fail "no first rerun of both shapes"
grep -q '^rerun 2 of at most 2: ' "$dir/run.txt" || fail "no second rerun"
main=$(ls "$dir"/results/runs/*.json | grep -v '\.rerun' | head -n 1)
stem=${main%.json}
for k in 1 2; do
    test -s "$stem.rerun$k.json" || fail "pass $k wrote no $stem.rerun$k.json"
done
test ! -e "$stem.rerun3.json" || fail "a third pass ran past --rerun-passes=2"
grep -q '^| reruns | .* 2 shapes, ' "$dir/results/latest.md" || fail "latest.md has no reruns line"

if command -v python3 >/dev/null 2>&1; then
    python3 - "$dir/results/latest.md" "$main" "$stem.rerun1.json" "$stem.rerun2.json" <<'PY' ||
import json, re, sys
md, files = sys.argv[1], sys.argv[2:]
cvs = []  # per file: {name: cv %}
for f in files:
    d = json.load(open(f))["benchmarks"]
    cvs.append({b["run_name"]: 100 * b["real_time"] for b in d if b.get("aggregate_name") == "cv"})
if set(cvs[1]) != set(cvs[0]) or set(cvs[2]) != set(cvs[0]):
    sys.exit("a rerun did not run the same benchmarks as the run")
# Kernel rows of latest.md, under "## lookup" and "## grad": V D N T ids
# idx kernel data impl ... cv.
shown, op = {}, None
for line in open(md):
    if line.startswith("## "):
        op = line[3:].strip()
    c = [x.strip() for x in line.strip().strip("|").split("|")]
    if op in ("lookup", "grad") and len(c) == 16 and c[0].isdigit():
        name = "%s/%s/%s/V:%s/D:%s/N:%s/T:%s/ids:%s/idx:%s/real_time" % (
            op, c[8], c[6], c[0], c[1], c[2], c[3], c[4], c[5])
        shown[name] = float(c[15])
if not shown:
    sys.exit("no kernel rows in latest.md")
for dim in ("16", "64"):
    names = [n for n in shown if "/D:%s/" % dim in n]
    if not names:
        sys.exit("no rows for D = %s" % dim)
    worst = [max(c[n] for n in cvs[0] if "/D:%s/" % dim in n) for c in cvs]
    best = min(range(3), key=lambda i: (worst[i], i))
    for n in names:
        if abs(shown[n] - cvs[best][n]) > 0.051:
            sys.exit("%s: cv %.1f %% in latest.md, %.2f %% in %s, the pass with the least "
                     "largest cv of its shape (%s)" % (n, shown[n], cvs[best][n], files[best], worst))
PY
        fail "latest.md does not keep each shape's least noisy pass (above)"
fi
echo "bench rerun test passed"
