#!/bin/sh
# tools/test_word2vec.sh - embsimd-word2vec on a slice of the GCIDE corpus
# (--quick): the same digest on every implementation this CPU has and on
# 1, 2 and 3 threads; the loss falls every epoch; days and months end up
# closer to each other than random pairs of words. Asserts no speed.
# Skips (77) when Debian's dict-gcide is not installed.
set -eu
: "${LIBTOOL:=libtool}"
corpus=${EMBSIMD_W2V_CORPUS:-/usr/share/dictd/gcide.dict.dz}
if ! test -r "$corpus"; then
    echo "SKIP: embsimd-word2vec: $corpus is not installed (Debian package dict-gcide)"
    exit 77
fi
run() {
    # TEST_WRAPPER (an emulator command) is split into words on purpose.
    # shellcheck disable=SC2086
    $LIBTOOL --mode=execute ${TEST_WRAPPER:-} ./tools/embsimd-word2vec "$@"
}
fail() {
    echo "FAIL: $*"
    exit 1
}
dir=$(mktemp -d "${TMPDIR:-/tmp}/embsimd-word2vec-test.XXXXXX")
trap 'rm -rf "$dir"' EXIT

run --help | grep -q '^usage: embsimd-word2vec' || fail "--help prints no usage line"
for bad in --dim=0 --window=x --bogus; do
    status=0
    err=$(run "$bad" 2>&1 >/dev/null) || status=$?
    test "$status" -eq 2 || fail "$bad exited $status, not 2"
    echo "$err" | grep -q -- "\"${bad#*=}\"" || fail "$bad: the message does not name it: $err"
done

# The implementations: verify/test_kernels --list where the tests are built.
# shellcheck disable=SC2086
impls=$(${TEST_WRAPPER:-} ./verify/test_kernels --list 2>/dev/null || echo scalar)
# Under an emulator (.ci/neon.sh) one run, the best implementation on one
# thread: a --quick run there takes a minute or more, and what it adds is
# the other architecture's digest, compared below with x86-64's.
thread_counts="1 2 3"
if test -n "${TEST_WRAPPER:-}"; then
    thread_counts="1"
    impls=$(echo "$impls" | head -n 1)
fi
first=""
for impl in $impls; do
    for threads in $thread_counts; do
        # every implementation at 1 thread, the first one at 2 and 3 as well
        if test "$threads" != 1 && test -n "$first" && test "$impl" != "$first"; then
            continue
        fi
        out="$dir/$impl-$threads.txt"
        EMBSIMD_IMPL=$impl EMBSIMD_NUM_THREADS=$threads run --quick --corpus="$corpus" \
            --progress=0 --output="$dir/table.emb" >"$out" 2>"$dir/err.txt" ||
            { cat "$out" "$dir/err.txt"; fail "$impl, $threads threads: exited $?"; }
        grep -qx "implementation: $impl, threads $threads" "$out" ||
            fail "$impl, $threads threads: the run says $(grep '^implementation' "$out")"
        digest=$(sed -n 's/^digest: //p' "$out")
        echo "$impl, $threads threads: digest $digest"
        test -n "$digest" || fail "$impl, $threads threads: no digest"
        if test -z "$first"; then
            first=$impl
            reference=$digest
            cp "$out" "$dir/reference.txt"
        elif test "$digest" != "$reference"; then
            fail "$impl, $threads threads: digest $digest differs from $first at 1 thread: $reference"
        fi
    done
done

# The same digest on every machine: recorded on x86-64 for this corpus file
# (dict-gcide 0.48.5+nmu2), compared where the file is the same, so that
# the AArch64 run under qemu (.ci/neon.sh) checks it too. A deliberate
# change of the training (tokenisation, defaults, schedule, --quick)
# changes it: record the new one here.
if test "$(sha256sum "$corpus" | cut -c1-64)" = \
    3e6b2cdcbc1b3664c2f1466e3c8e44012e815c4c67fa83fa61f39777cd6e8517; then
    test "$reference" = 66486ccfa669c4b3 ||
        fail "the digest $reference differs from the one recorded on x86-64: 66486ccfa669c4b3"
    echo "the digest is the one recorded on x86-64 for this corpus"
else
    echo "the corpus file is not dict-gcide 0.48.5+nmu2's: the recorded digest is not compared"
fi

# The loss falls every epoch; the classes have drawn together.
awk '/^epoch [0-9]+ loss/ { if (n++ && $4 >= last) bad = 1; last = $4 }
     END { exit !(n == 3 && !bad) }' "$dir/reference.txt" ||
    fail "the loss does not fall every epoch: $(grep '^epoch' "$dir/reference.txt")"
grep '^classes epoch 3 ' "$dir/reference.txt" | awk '{
    for (i = 1; i <= NF; i++) v[$i] = $(i + 1)
    if (!(v["days"] > v["random"] + 0.02 && v["months"] > v["random"] + 0.02)) exit 1
}' || fail "days and months are not closer than random pairs: $(grep '^classes epoch 3' "$dir/reference.txt")"

# embsimd-similar reads the table.
# shellcheck disable=SC2086
$LIBTOOL --mode=execute ${TEST_WRAPPER:-} ./tools/embsimd-similar --top=3 "$dir/table.emb" near monday \
    >"$dir/near.txt" || fail "embsimd-similar could not read the table"
grep -q 'monday' "$dir/near.txt" || fail "embsimd-similar: $(cat "$dir/near.txt")"
echo "embsimd-word2vec: one digest on every implementation and 1-3 threads; loss falls; classes drawn together"
