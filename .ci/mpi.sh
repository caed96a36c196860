#!/usr/bin/env bash
# .ci/mpi.sh - CI's step for the MPI layer (mpi/, docs/mpi.md): installs
# Open MPI when it is missing, configures with --with-mpi (so a tree where
# MPI is not found fails here instead of skipping), builds libembsimd-mpi,
# its tests and its benchmark, runs mpi/test_mpi.sh (every sharded op
# against one process at 1-4 ranks), the same at 3 ranks in 3 network
# namespaces over TCP when the machine allows it (mpi/netns.sh), a short
# embsimd-bench-mpi run (no speed asserted) and the cost model. Run from anywhere; it builds in the
# source tree when that is configured (adding --with-mpi to the flags it
# was configured with), else out of tree in _mpi/.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
start=$(date +%s)
say() { printf '%s (%ds)\n' "$*" $(( $(date +%s) - start )); }

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
if ! command -v mpirun >/dev/null 2>&1 || ! pkg-config --exists ompi-c; then
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends openmpi-bin libopenmpi-dev iproute2 >/dev/null
fi
say "Open MPI: $(mpirun --version 2>/dev/null | head -n 1)"

if [ -f config.status ]; then
    # A VPATH build is refused in a configured tree: reconfigure it.
    args=$(./config.status --config)
    eval "./configure $args --with-mpi" >/dev/null
else
    mkdir -p _mpi
    cd _mpi
    "$src/configure" --enable-werror --with-mpi >/dev/null
fi
make -j2 mpi/libembsimd-mpi.la mpi/test_mpi mpi/embsimd-bench-mpi >/dev/null
say "built libembsimd-mpi"

if [ "$(id -u)" = 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
EMB_MPI_REASON="" MPIRUN=$(command -v mpirun) sh "$src/mpi/test_mpi.sh"
say "mpi/test_mpi.sh: 1-4 ranks passed"
# The same tests across network namespaces (TCP over veth, as between
# hosts), where the machine lets us make them.
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null 2>&1 && ip netns add embns-probe 2>/dev/null; then
    ip netns del embns-probe
    sh "$src/mpi/netns.sh" down
    sh "$src/mpi/netns.sh" up 3
    sh "$src/mpi/netns.sh" run 3 ./mpi/test_mpi
    sh "$src/mpi/netns.sh" bytes 3
    sh "$src/mpi/netns.sh" down
    say "mpi/test_mpi at 3 ranks in 3 network namespaces (TCP) passed"
else
    echo "SKIP: the tests across network namespaces: this machine does not let us create one (needs root and CAP_NET_ADMIN; ip from iproute2)"
fi
mpirun --oversubscribe --bind-to none -np 2 mpi/embsimd-bench-mpi --batch=2048 --seconds=0.2
mpirun --oversubscribe --bind-to none -np 2 mpi/embsimd-bench-mpi --op=adagrad --batch=2048 --seconds=0.2
python3 "$src/mpi/cost_model.py" | tail -n 2
say "embsimd-bench-mpi and the cost model ran"
