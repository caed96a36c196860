#!/bin/sh
# mpi/netns.sh - ranks on separate network stacks of this machine, so that
# their traffic crosses TCP over veth links (not shared memory), on links
# whose bandwidth tc can limit. Needs root (ip netns, tc).
#
#   mpi/netns.sh up N [RATE]   N namespaces embns0..N-1, each linked by a
#                              veth pair to the bridge embbr0 (10.213.77.254),
#                              embns k at 10.213.77.(k+1)/24; RATE (e.g.
#                              1gbit) limits both directions of each link
#   mpi/netns.sh down          removes them
#   mpi/netns.sh run N PROG... mpirun -np N: rank k in embns k, as on N hosts
#   mpi/netns.sh bytes N       bytes each namespace's link sent and received
#
# Only the namespaces, links and addresses this script creates are
# touched. `run` treats each namespace as a host: mpirun (in the root
# namespace) starts Open MPI's daemon in each through this script as its
# remote shell (ip netns exec, and a UTS namespace so each "host" has its
# own name), and reaches them over the bridge; the TCP BTL is the only
# one enabled between ranks, bound to the veth addresses.
set -eu
NET=10.213.77
case ${1:-} in
up)
    n=$2
    rate=${3:-}
    ip link add embbr0 type bridge
    ip addr add "$NET.254/24" dev embbr0
    ip link set embbr0 up
    k=0
    while [ "$k" -lt "$n" ]; do
        ip netns add "embns$k"
        ip link add "embv$k" type veth peer name "embp$k"
        ip link set "embp$k" netns "embns$k"
        ip link set "embv$k" master embbr0 up
        ip -n "embns$k" addr add "$NET.$((k + 1))/24" dev "embp$k"
        ip -n "embns$k" link set "embp$k" up
        ip -n "embns$k" link set lo up
        if [ -n "$rate" ]; then
            # Token bucket on both directions of the link.
            tc qdisc add dev "embv$k" root tbf rate "$rate" burst 256kb latency 50ms
            tc -n "embns$k" qdisc add dev "embp$k" root tbf rate "$rate" burst 256kb latency 50ms
        fi
        k=$((k + 1))
    done
    ;;
down)
    # Deleting a veth end deletes its pair at once; a namespace's links
    # go asynchronously, and a quick "up" would find their names taken.
    for link in $(ip -o link show | awk -F': ' '$2 ~ /^embv[0-9]+@/ { sub(/@.*/, "", $2); print $2 }'); do
        ip link del "$link"
    done
    for ns in $(ip netns list | awk '/^embns[0-9]+/ { print $1 }'); do
        ip netns del "$ns"
    done
    ip link del embbr0 2>/dev/null || true
    ;;
agent)
    # mpirun's remote shell: "agent [options] HOST COMMAND...".
    shift
    while [ $# -gt 0 ]; do case $1 in -*) shift ;; *) break ;; esac; done
    host=$1
    shift
    exec ip netns exec "$host" unshare --uts sh -c "hostname $host; $*"
    ;;
run)
    n=$2
    shift 2
    if [ "$(id -u)" = 0 ]; then
        OMPI_ALLOW_RUN_AS_ROOT=1
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
        export OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM
    fi
    hosts=$(mktemp)
    trap 'rm -f "$hosts"' EXIT
    k=0
    while [ "$k" -lt "$n" ]; do
        echo "embns$k slots=1" >>"$hosts"
        k=$((k + 1))
    done
    self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
    "${MPIRUN:-mpirun}" --hostfile "$hosts" -np "$n" --bind-to none \
        --mca plm_rsh_agent "$self agent" --mca oob_tcp_if_include "$NET.0/24" \
        --mca btl self,tcp --mca btl_tcp_if_include "$NET.0/24" --mca mpi_yield_when_idle 1 \
        "$@"
    ;;
bytes)
    k=0
    while [ "$k" -lt "$2" ]; do
        ip -n "embns$k" -s link show "embp$k" |
            awk -v ns="embns$k" '/RX:/ { getline; rx = $1 } /TX:/ { getline; tx = $1 }
                END { printf "%s: sent %d bytes, received %d bytes\n", ns, tx, rx }'
        k=$((k + 1))
    done
    ;;
*)
    sed -n '2,21p' "$0"
    exit 2
    ;;
esac
