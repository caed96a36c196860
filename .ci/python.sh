#!/usr/bin/env bash
# .ci/python.sh - the Python package in CI: the cached venv (python/venv.sh:
# one per machine and requirements, under ${XDG_CACHE_HOME:-~/.cache}/embsimd,
# PyPI's torch with its CUDA libraries, ~5.4 GB), `make python-install` into
# it (the route docs/python.md gives users), then every test of python/tests
# against this build's library. Run from a configured tree (it bootstraps
# one that is not). Here torch is required: a skip is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
say() { printf '%s (%ds)\n' "$*" $(( $(date +%s) - start )); }

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
if ! /usr/bin/python3 -c 'import ensurepip' 2>/dev/null; then
    $SUDO apt-get install -y -qq --no-install-recommends python3-venv python3-pip >/dev/null
fi
[ -f Makefile ] || ./bootstrap --enable-werror
make -j2 src/libembsimd.la >/dev/null
py=$(EMBSIMD_PYTHON_BASE=${EMBSIMD_PYTHON_BASE:-/usr/bin/python3} python/venv.sh)
say "venv: $py ($("$py" -c 'import torch; print("torch", torch.__version__)'))"
make python-install PYTHON="$py" | tail -n 1
rc=0
EMBSIMD_PYTHON=$py sh python/check_python.sh || rc=$?
if [ "$rc" != 0 ]; then
    echo "FAIL: python tests (exit $rc; 77 means skipped, which CI does not accept)"
    exit 1
fi
say "python tests passed"
