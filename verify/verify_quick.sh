#!/bin/sh
# verify/verify_quick.sh - `make check`'s run of the verifier: quick mode,
# the whole report in verify/verify-quick.json (for comparing digests across
# machines). Under an emulator, set EMBSIMD_VERIFY_EMULATED=1 to bound it.
set -eu
: "${LIBTOOL:=libtool}"
mkdir -p verify
# TEST_WRAPPER (e.g. "qemu-aarch64 -L /usr/aarch64-linux-gnu") is split
# into words on purpose.
# shellcheck disable=SC2086
exec $LIBTOOL --mode=execute ${TEST_WRAPPER:-} ./verify/embsimd-verify --quick \
    --json verify/verify-quick.json
