#!/usr/bin/env bash
# .ci/dist-contents.sh - the release tarball holds every file git tracks,
# but those it leaves out on purpose. make distcheck builds the tarball with
# only scalar's code (CI's --disable-avx2 --disable-avx512), so a source or
# header that only an ISA file needs would not fail its build when missing:
# this check fails for it instead, and for a data file no test reads there.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: .ci/dist-contents.sh TARBALL

Lists the files of the git checkout this script is in that TARBALL (from
make dist or make distcheck) lacks. Left out on purpose, so not listed:
  .gitignore
  results/ but results/README.md and results/baseline/ (the published
           figures and runs; the gate's baseline is distributed)
Exit status: 0 every other tracked file is in TARBALL; 1 some are not
(listed); 2 bad usage, TARBALL unreadable, or not a git checkout.
EOF
}

case "${1:-}" in -h | --help) usage; exit 0 ;; esac
if [ $# -ne 1 ]; then
    usage >&2
    exit 2
fi
[ -r "$1" ] || { echo ".ci/dist-contents.sh: cannot read $1" >&2; exit 2; }
tarball=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
cd "$(dirname "$0")/.."
git rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
    { echo ".ci/dist-contents.sh: $(pwd) is not a git checkout" >&2; exit 2; }

# The tarball's paths without their top directory (embsimd-VERSION/).
in_tarball=$(tar -tzf "$tarball" | sed 's|^[^/]*/||' | grep -v '/$' | sort -u)
# What must be there: every tracked file but .gitignore and results/,
# plus results/'s README and the gate's baseline.
expected=$({ git ls-files | grep -v -x -e '.gitignore' -e 'results/.*'
    git ls-files results/README.md results/baseline; } | sort -u)
missing=$(comm -23 <(printf '%s\n' "$expected") <(printf '%s\n' "$in_tarball"))
if [ -n "$missing" ]; then
    echo "$tarball lacks $(echo "$missing" | wc -l) tracked file(s); add them to EXTRA_DIST or a _SOURCES list:" >&2
    while IFS= read -r file; do echo "  $file"; done <<<"$missing" >&2
    exit 1
fi
echo "$tarball holds every tracked file but .gitignore and results/'s figures ($(git ls-files | wc -l) tracked)"
