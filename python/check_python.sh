#!/bin/sh
# python/check_python.sh - the Python tests (python/tests, pytest) in make
# check. The interpreter: $EMBSIMD_PYTHON, else the cached venv that
# python/venv.sh made (make python-env), else python3. Without numpy and
# pytest it skips everything (exit 77); without torch >= 2.4 it runs the
# numpy tests and skips the torch ones (exit 77), saying why in both cases.
# The library is this build's ($EMBSIMD_LIBRARY when set).
top_builddir=$(pwd)
srcdir=${srcdir:-$(dirname "$0")/..}
py=${EMBSIMD_PYTHON:-$("$srcdir/python/venv.sh" --find 2>/dev/null || echo python3)}
if ! command -v "$py" >/dev/null 2>&1; then
    echo "SKIP: python tests: no interpreter $py (set EMBSIMD_PYTHON, or make python-env)"
    exit 77
fi
missing=$("$py" -c 'import importlib.util as u
print(" ".join(m for m in ("numpy", "pytest") if u.find_spec(m) is None))')
if [ -n "$missing" ]; then
    echo "SKIP: python tests (python/tests/*.py): $py lacks $missing (make python-env makes a venv with them)"
    exit 77
fi
torch_reason=$("$py" -c 'import importlib.util as u
if u.find_spec("torch") is None:
    print("no torch in this interpreter")
else:
    import torch
    v = tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2])
    if v < (2, 4):
        print("torch %s is older than 2.4 (torch.library.custom_op)" % torch.__version__)' 2>&1)
EMBSIMD_LIBRARY=${EMBSIMD_LIBRARY:-$top_builddir/src/.libs/libembsimd.so}
# Builds whose library this interpreter cannot load: said, and skipped.
if [ -n "${TEST_WRAPPER:-}" ]; then
    echo "SKIP: python tests: the library runs under an emulator ($TEST_WRAPPER), not in $py"
    exit 77
fi
if [ ! -f "$EMBSIMD_LIBRARY" ]; then
    echo "SKIP: python tests: no shared library $EMBSIMD_LIBRARY (a --disable-shared build?)"
    exit 77
fi
if ldd "$EMBSIMD_LIBRARY" 2>/dev/null | grep -q 'lib[at]san'; then
    echo "SKIP: python tests: $EMBSIMD_LIBRARY is built with a sanitizer, whose runtime must be loaded before the interpreter"
    exit 77
fi
PYTHONPATH=$srcdir/python${PYTHONPATH:+:$PYTHONPATH}
PYTHONDONTWRITEBYTECODE=1
export EMBSIMD_LIBRARY PYTHONPATH PYTHONDONTWRITEBYTECODE
run() { "$py" -m pytest -q -p no:cacheprovider --rootdir="$srcdir/python" "$@"; }
echo "python tests: $py, $EMBSIMD_LIBRARY"
if [ -z "$torch_reason" ]; then
    run "$srcdir/python/tests"
    exit $?
fi
run "$srcdir/python/tests/test_numpy_ops.py" "$srcdir/python/tests/test_conversions.py" || exit 1
echo "SKIP: python torch tests (python/tests/test_torch_ops.py, python/tests/test_modules.py): $py: $torch_reason (make python-env)"
exit 77
