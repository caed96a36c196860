#!/bin/sh
# bench/test_smoke.sh - bench/smoke.sh in make check, twice: as the library
# resolves its kernels here, and with EMBSIMD_KERNEL_IMPL moving three of
# them down to scalar's code. The second run gives every implementation
# above scalar a table that lacks kernels, as AVX-512's lacks some of
# AVX2's, on every CPU: the smoke test must then expect what the library
# says runs (--list-kernels), whatever this CPU has.
set -eu
: "${LIBTOOL:=libtool}"
srcdir=${srcdir:-.}
bench=./bench/embsimd-bench
# smoke.sh calls the binary directly: through libtool's wrapper script when
# the build is shared, which runs the uninstalled library.
sh "$srcdir/bench/smoke.sh" "$bench"
EMBSIMD_KERNEL_IMPL='lookup/bf16->f32=scalar,grad/f32->f32=scalar,lookup/q8_0->f32=scalar' \
    sh "$srcdir/bench/smoke.sh" "$bench"
echo "smoke test passed with the library's kernels and with three moved to scalar's code"
