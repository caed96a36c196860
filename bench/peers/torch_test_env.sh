# bench/peers/torch_test_env.sh - sourced by the PyTorch tests of make check:
# sets $py (a Python that imports torch) and $lib (the libembsimd.so it
# loads through ctypes), or exits 77 (skipped) saying why: a cross build, no
# torch, a static-only build, a library Python cannot load (a sanitizer
# build, another architecture). Needs $build, the build directory.
if test -n "${TEST_WRAPPER:-}"; then
    echo "SKIP: a cross build (TEST_WRAPPER=$TEST_WRAPPER): PyTorch compares with a native library only"
    exit 77
fi

py=
for candidate in ${PYTHON:-} /usr/bin/python3 python3; do
    if "$candidate" -c 'import torch' >/dev/null 2>&1; then
        py=$candidate
        break
    fi
done
if test -z "$py"; then
    echo "SKIP: no Python here imports torch (Debian: apt-get install python3-torch)"
    exit 77
fi

if test -z "${EMBSIMD_LIB:-}" && ! test -f "$build/src/.libs/libembsimd.so"; then
    if test -f "$build/src/libembsimd.la"; then
        echo "SKIP: a static-only build (--disable-shared): no libembsimd.so for ctypes to load"
        exit 77
    fi
    echo "FAILED: no $build/src/.libs/libembsimd.so for the exactness check:" \
        "run from the build directory after make, or set EMBSIMD_BUILD_DIR or EMBSIMD_LIB" >&2
    exit 1
fi

lib=${EMBSIMD_LIB:-$build/src/.libs/libembsimd.so}
if ! why=$("$py" -c 'import ctypes, sys; ctypes.CDLL(sys.argv[1])' "$lib" 2>&1); then
    echo "SKIP: $py cannot load $lib: $why"
    exit 77
fi
