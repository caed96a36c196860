#!/usr/bin/env bash
# .ci/neon.sh - cross-builds embsimd for AArch64 and runs the Check suite
# under qemu-user, so the NEON kernels pass the same tests as the x86 ones.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: .ci/neon.sh [--no-install | --install-only]

Cross-builds embsimd for aarch64-linux-gnu in _neon/ (out of tree) and runs
`make check` under qemu-aarch64 with EMBSIMD_IMPL=neon (the implementation
every AArch64 CPU dispatches to) and, beside it, the verifier's quick run
for scalar's code. Their reports go to _reports/verify-aarch64.json and
_reports/verify-aarch64-scalar.json.

Needs a Debian 12 amd64 machine, root (or sudo) for apt-get, and a source
tree that has been through autoreconf (./bootstrap or .ci/run) but is not
configured in place (run `make distclean` there first).

  --no-install   skip the apt-get step (the packages are already there)
  --install-only only the apt-get step (.ci/run runs it in the background)
EOF
}

install=yes
for arg in "$@"; do
    case "$arg" in
    -h | --help) usage; exit 0 ;;
    --no-install) install=no ;;
    --install-only) install=only ;;
    *) echo ".ci/neon.sh: unknown argument '$arg'" >&2; usage >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
start=$(date +%s)
step() { printf '\n=== neon: %s (%ds) ===\n' "$*" $(( $(date +%s) - start )); }

if [ "$install" != only ] && [ ! -x configure ]; then
    echo ".ci/neon.sh: ./configure is missing; run autoreconf -fi (or ./bootstrap) first" >&2
    exit 1
fi
if [ "$install" != only ] && [ -f config.status ]; then
    echo ".ci/neon.sh: the source tree is configured in place; run 'make distclean' first" >&2
    exit 1
fi

if [ "$install" != no ]; then
    step "install the cross compiler, qemu-user and the arm64 libraries"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO dpkg --add-architecture arm64
    $SUDO apt-get update -qq
    # check:arm64 pulls in libc6:arm64, the runtime libc the tests run on.
    $SUDO apt-get install -y -qq --no-install-recommends \
        gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user make pkg-config \
        check:arm64 libxxhash-dev:arm64 libsubunit-dev:arm64 >/dev/null
    [ "$install" != only ] || { step "installed"; exit 0; }
fi

# The tests run as qemu-aarch64 WITHOUT -L /usr/aarch64-linux-gnu. With -L,
# qemu takes the dynamic loader from libc6-arm64-cross but, finding no
# /usr/aarch64-linux-gnu/lib/aarch64-linux-gnu/, the libc.so.6 from the
# multiarch libc6:arm64 that check:arm64 needs. Debian updates the two
# packages separately (2.36-8cross1 and 2.36-9+deb12u14 here), and a loader
# and libc of different builds hang the child of every fork(). Without -L
# both come from libc6:arm64, which is one consistent set with the arm64
# check, subunit and xxhash libraries. QEMU_LD_PREFIX would act like -L.
unset QEMU_LD_PREFIX
wrapper="qemu-aarch64"

step "configure for aarch64-linux-gnu in _neon/"
rm -rf _neon
mkdir _neon
cd _neon
# --build: never let configure guess "not cross-compiling" because a
# binfmt_misc handler happens to run arm64 programs.
# --disable-shared: libtool then links verify/test_kernels itself instead of
# a shell wrapper script around .libs/, so qemu runs the test binary.
# PKG_CONFIG_LIBDIR: only arm64 .pc files; Google Benchmark and OpenBLAS
# have none there, so the benchmarks are left out as configure allows.
PKG_CONFIG=pkg-config \
PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig \
    ../configure --build="$(../build-aux/config.guess)" --host=aarch64-linux-gnu \
    --enable-werror --disable-shared >configure.out || { cat configure.out; exit 1; }
sed -n '/^  embsimd /,$p' configure.out
grep -q 'neon=yes' configure.out || {
    echo ".ci/neon.sh: configure did not enable NEON; see _neon/config.log" >&2
    exit 1
}

step "build"
make -j2 >/dev/null
make -j2 verify/test_kernels >/dev/null
if [ "$(head -c 4 verify/test_kernels | od -An -c | tr -d ' ')" != '177ELF' ]; then
    echo ".ci/neon.sh: verify/test_kernels is not an ELF binary (a libtool wrapper?)" >&2
    exit 1
fi

# Runs `make check` with the EMBSIMD_IMPL given (empty: all
# implementations), prints each test's result and the unit suite's
# summary, and checks that the unit suite tested what was asked.
run_suite() {
    local impl=$1 t0
    t0=$(date +%s)
    # Two tests at a time, as the native make check runs them: each one
    # is a single qemu process, and one at a time left a CPU idle.
    if ! EMBSIMD_IMPL="$impl" make -j2 check TEST_WRAPPER="$wrapper" >check.out 2>&1; then
        cat check.out
        [ -f test-suite.log ] && cat test-suite.log
        exit 1
    fi
    grep -E '^(PASS|FAIL|SKIP|XFAIL|XPASS|ERROR):' check.out
    local suite
    for suite in kernels dispatch threads; do
        grep -E '^(testing|skipped|not selected|Checks|[0-9]+%)' verify/test_$suite.log
        grep -qx "testing: ${impl:-neon}" verify/test_$suite.log || {
            echo ".ci/neon.sh: the $suite unit suite did not test ${impl:-neon}" >&2
            exit 1
        }
    done
    if [ -f verify/verify_quick.log ]; then grep -E '^RESULT| agree ' verify/verify_quick.log || true; fi
    echo "(make check under qemu: $(( $(date +%s) - t0 ))s)"
    ../.ci/test-times.sh .
}

# The verifier's make-check run bounds its work under an emulator.
export EMBSIMD_VERIFY_EMULATED=1

# NEON is part of every AArch64 CPU, so the dispatcher never picks scalar's
# code there: the unit suites test NEON's, and scalar's gets the verifier's
# quick grid (every kernel against the reference, the digests) beside them.
# Scalar's own suites run natively on x86, from the same C. On a Zen 1 this
# make check's tests took 483 s, against 683 for every implementation; the
# verifier's run beside them 93 s.
step "make check under $wrapper, NEON; the verifier's quick run for scalar beside it"
scalar_verify() {
    $wrapper verify/embsimd-verify --quick --impl scalar --json verify/verify-scalar.json \
        >verify/verify-scalar.log 2>&1
}
scalar_verify &
scalar_pid=$!
run_suite neon
if ! wait "$scalar_pid"; then
    cat verify/verify-scalar.log
    echo ".ci/neon.sh: the verifier failed for scalar's code under $wrapper" >&2
    exit 1
fi
grep -E '^RESULT' verify/verify-scalar.log || true
mkdir -p ../_reports
cp verify/verify-quick.json ../_reports/verify-aarch64.json
cp verify/verify-scalar.json ../_reports/verify-aarch64-scalar.json

cd ..
rm -rf _neon
step "done"
