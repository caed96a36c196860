#!/usr/bin/env bash
# python/venv.sh - create or reuse the one cached venv per machine that the
# Python tests run in, and print its interpreter's path on stdout (progress
# on stderr). PyPI's torch with its CUDA libraries is ~5 GB, so the venv
# lives outside any tree, keyed by the interpreter's version and the
# requirements' hash: a changed pin makes a new venv, an unchanged one is
# reused as is (pip is not even asked).
# With --find it prints the venv only if it exists, else exits 1.
#   EMBSIMD_PYTHON_BASE  the interpreter to base it on (default python3)
#   EMBSIMD_VENV_DIR     where venvs live (default ${XDG_CACHE_HOME:-~/.cache}/embsimd)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
base=${EMBSIMD_PYTHON_BASE:-python3}
req=$here/requirements-test.txt
pyver=$("$base" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
key=$(sha256sum "$req" | cut -c1-12)
root=${EMBSIMD_VENV_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/embsimd}
venv=$root/python$pyver-$key
if [ -f "$venv/.complete" ]; then
    echo "$venv/bin/python"
    exit 0
fi
# --find: only report an existing venv (make check never installs anything)
[ "${1:-}" = --find ] && exit 1
mkdir -p "$root"
rm -rf "$venv"
echo "venv.sh: creating $venv (numpy, ml_dtypes, pytest, torch from PyPI: ~5 GB the first time)" >&2
"$base" -m venv "$venv" >&2
"$venv/bin/python" -m pip install -q --upgrade pip >&2
"$venv/bin/python" -m pip install -q -r "$req" >&2
# Only a finished install is reused; an interrupted one is rebuilt.
touch "$venv/.complete"
echo "$venv/bin/python"
