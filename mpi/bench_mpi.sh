#!/bin/sh
# mpi/bench_mpi.sh - make bench-mpi: embsimd-bench-mpi against the
# single-process op in the same run, rounds interleaved (single, 1, 2 and
# 4 ranks, then again) so that a shared machine's noise falls on all of
# them alike. Prints the context and a markdown table; the ratio is each
# round's sharded rate over the same round's single-process rate, the
# median over rounds. About 15 s with the defaults (lookup only; the three
# ops, 3 rounds: about a minute and a half on a loaded 2-CPU machine).
#   BENCH_MPI_OPS="lookup bag adagrad" (default lookup)  BENCH_MPI_ROUNDS=3
#   BENCH_MPI_FLAGS="--vocab=50257 --dim=768 --batch=8192"  (any option of the program)
set -eu
: "${MPIRUN:=mpirun}"
ops=${BENCH_MPI_OPS:-lookup}
rounds=${BENCH_MPI_ROUNDS:-3}
flags=${BENCH_MPI_FLAGS:-}
bin=./mpi/embsimd-bench-mpi
if test "$(id -u)" = 0; then
    OMPI_ALLOW_RUN_AS_ROOT=1
    OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    export OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM
fi
echo "## embsimd-bench-mpi, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "- CPU: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1), $(nproc) CPUs online"
echo "- compiler: $(${CC:-cc} --version 2>/dev/null | head -n 1); $($MPIRUN --version 2>/dev/null | head -n 1)"
echo "- load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- flags: ${flags:-defaults} (one thread per rank and in the single process)"
echo
# Two ranks on two CPUs are not oversubscribed in Open MPI's eyes, so by
# default they spin while they wait; on a machine shared with other work
# a spinning rank holds the CPU its peer needs. Yielding measured 16-29 ms
# a call against 31-84 ms spinning (2 ranks, load average 5 on 2 CPUs).
OMPI_MCA_mpi_yield_when_idle=${OMPI_MCA_mpi_yield_when_idle:-1}
export OMPI_MCA_mpi_yield_when_idle
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for r in $(seq "$rounds"); do
    for op in $ops; do
        for np in single 1 2 4; do
            if test "$np" = single; then
                line=$("$MPIRUN" --oversubscribe --bind-to none -np 1 $bin --op="$op" --single --seconds=0.5 $flags)
            else
                line=$("$MPIRUN" --oversubscribe --bind-to none -np "$np" $bin --op="$op" --seconds=0.5 $flags)
            fi
            echo "round=$r $line" >>"$out"
        done
    done
done
echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| op | run | Mtokens/s (median) | vs single, same round (median) | time in MPI | MB sent per rank per call |"
echo "| --- | --- | --- | --- | --- | --- |"
awk '
function val(k,   i, kv) { for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) return kv[2] } }
function median(s,   a, n, t, i, j) {
    n = split(s, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
    op = val("op"); r = val("round"); run = val("mode") == "single" ? "single process" : val("ranks") " ranks"
    rate = val("mtok_per_s"); key = op SUBSEP run
    if (!(key in seen)) { seen[key] = 1; order[++n] = key }
    rates[key] = rates[key] " " rate; share[key] = share[key] " " val("comm_share"); sent[key] = sent[key] " " val("sent_mb_per_rank")
    if (run == "single process") base[op, r] = rate
    else ratio[key] = ratio[key] " " rate / base[op, r]
}
END {
    for (i = 1; i <= n; i++) {
        split(order[i], k, SUBSEP)
        printf "| %s | %s | %.3f | %s | %s | %s |\n", k[1], k[2], median(rates[order[i]]),
            k[2] == "single process" ? "1" : sprintf("%.2f", median(ratio[order[i]])),
            k[2] == "single process" ? "-" : sprintf("%.0f %%", 100 * median(share[order[i]])),
            k[2] == "single process" ? "-" : sprintf("%.2f", median(sent[order[i]]))
    }
}' "$out"
