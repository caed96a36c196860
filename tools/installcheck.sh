#!/bin/sh
# tools/installcheck.sh - make installcheck: every installed tool's --help
# and a tiny real run of each, from where `make install` put it (no build
# tree on the path), and its man page when man pages were made.
# Usage: installcheck.sh BINDIR LIBDIR MAN1DIR-or-empty SRCDIR
set -eu
bindir=$1 libdir=$2 man1dir=$3 srcdir=$4
# A DESTDIR install's library is not where the tools' run path points yet.
LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH
tmp=$(mktemp -d "${TMPDIR:-/tmp}/embsimd-installcheck.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "installcheck FAILED: $*" >&2; exit 1; }

tools="embsimd-verify embsimd-similar embsimd-tune"
[ -x "$bindir/embsimd-bench" ] && tools="$tools embsimd-bench"
for t in $tools; do
    [ -x "$bindir/$t" ] || fail "$bindir/$t is not installed"
    "$bindir/$t" --help >"$tmp/help.txt" 2>&1 || fail "$t --help exited $?"
    grep -qi "usage" "$tmp/help.txt" || grep -q "^$t" "$tmp/help.txt" ||
        fail "$t --help prints no usage"
    if [ -n "$man1dir" ]; then
        [ -s "$man1dir/$t.1" ] || fail "no man page $man1dir/$t.1"
        grep -q "^\.TH \"\{0,1\}$(echo "$t" | tr a-z A-Z)" "$man1dir/$t.1" ||
            fail "$man1dir/$t.1 is not $t's man page"
    fi
    echo "installcheck: $t --help${man1dir:+, man page}"
done

"$bindir/embsimd-verify" --quick --sections E --threads 1 >"$tmp/verify.txt" 2>&1 ||
    { cat "$tmp/verify.txt" >&2; fail "embsimd-verify --quick --sections E"; }
grep -q "RESULT: PASS" "$tmp/verify.txt" || fail "embsimd-verify did not pass"
"$bindir/embsimd-tune" --tiny --dry-run >"$tmp/tune.txt" 2>&1 ||
    { cat "$tmp/tune.txt" >&2; fail "embsimd-tune --tiny --dry-run"; }
# test_similar.py runs BUILD_DIR/tools/embsimd-similar: here the installed one
mkdir "$tmp/tools"
ln -s "$bindir/embsimd-similar" "$tmp/tools/embsimd-similar"
BUILD_DIR=$tmp python3 "$srcdir/tools/test_similar.py" >"$tmp/similar.txt" 2>&1 ||
    { cat "$tmp/similar.txt" >&2; fail "embsimd-similar on a tiny table"; }
if [ -x "$bindir/embsimd-bench" ]; then
    sh "$srcdir/bench/smoke.sh" "$bindir/embsimd-bench" >"$tmp/bench.txt" 2>&1 ||
        { cat "$tmp/bench.txt" >&2; fail "embsimd-bench smoke run"; }
fi
echo "installcheck: tiny runs of $tools from $bindir passed"
