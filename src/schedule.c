/* schedule.c - which EMB_KF_* flags a call's kernels get: a function of
 * the op and the sizes of the whole call alone, decided once per call by
 * the entry point (a thread's slice of the call does not know them). */
#include "config.h"

#include "internal.h"

/* The flags each op's kernels take; the sizes then decide which of them
 * a call gets. */
static const unsigned op_flags[EMB_OP_COUNT] = {
    [EMB_OP_LOOKUP] = EMB_KF_STREAM | EMB_KF_PREFETCH | EMB_KF_FAR,
    [EMB_OP_LOOKUP_POS] = EMB_KF_STREAM | EMB_KF_PREFETCH | EMB_KF_FAR,
    [EMB_OP_GRAD] = EMB_KF_PREFETCH,
    [EMB_OP_GRAD_POS] = EMB_KF_PREFETCH,
    [EMB_OP_SCAN] = EMB_KF_PREFETCH,
    [EMB_OP_BAG] = EMB_KF_STREAM | EMB_KF_PREFETCH | EMB_KF_FAR,
    [EMB_OP_BAG_GRAD] = EMB_KF_PREFETCH,
    [EMB_OP_BAG_SGD] = EMB_KF_PREFETCH,
    [EMB_OP_BAG_ADAGRAD] = EMB_KF_PREFETCH,
};

/* Streaming stores pay once the call cannot keep its output in cache:
 * then every normal store costs a read of the line it writes (and a
 * write-back later) and the output is gone for the layer that reads it
 * next anyway. What the call pulls through the cache is its output plus
 * the rows it reads (at most the table, at most as many bytes as the
 * output); streaming starts when that reaches the schedule's
 * stream_llc_eighths of the LLC (by default 5/8). Measured on
 * AMD EPYC Zen 2 (KVM, 2 vCPUs, 16 MiB L3, gcc 12.2 -O2, 2026-12-01),
 * AVX2 lookup / memcpy, streaming vs normal stores, D = 768: from a
 * 154 MB table the two cross at 4-4.5 MiB of output (3 MiB: 0.77 vs
 * 0.80; 4.5 MiB: 0.80 vs 0.75; 6 MiB: 0.87 vs 0.70; 24 MiB: 1.08 vs
 * 0.73); from a 3 MB cache-resident table near 8.5 MiB (6 MiB: 0.85 vs
 * 0.97; 8 MiB: 0.98 vs 1.05; 8.8 MiB: 1.13 vs 1.01; 12 MiB: 1.83 vs
 * 0.93). 5/8 of the LLC (10 MiB there) costs at most about 6 % on either
 * side of both. The former rule (output of at least 8 MiB and half the
 * LLC), from Zen 5 with 32 MiB of L3, left 4-8 MiB outputs from DRAM
 * tables on normal stores. Prefetching and rows in flight are for tables
 * too large for the cache (docs/tuning.md, "Kernel tuning"), emb_grad's
 * from a threshold of its own; the far hint for tables many times it
 * (internal.h, EMB_KF_FAR). The defaults of all four thresholds are
 * tuning.c's EMB_LOOP_DEFAULTS (with why); a tuning file may move them. */
unsigned emb_schedule_flags(emb_op op, size_t table_bytes, size_t out_bytes)
{
#ifdef EMB_SLOW_KERNELS
    /* The gate's deliberately slowed build: no prefetch, no streaming,
     * whatever the op would take. */
    (void)op_flags, (void)op, (void)table_bytes, (void)out_bytes, (void)emb_loops;
    return 0;
#else
    const size_t llc = (size_t)emb_llc_bytes();
    const emb_loop_schedule *L = emb_loops();
    const size_t rows_read = table_bytes < out_bytes ? table_bytes : out_bytes;
    unsigned flags = 0;
    if (out_bytes + rows_read >= llc / 8 * L->stream_llc_eighths)
        flags |= EMB_KF_STREAM;
    const int grad = op == EMB_OP_GRAD;
    if (table_bytes >= llc / 8 * (grad ? L->grad_prefetch_llc_eighths : L->prefetch_llc_eighths))
        flags |= EMB_KF_PREFETCH;
    if (table_bytes / L->far_llc_multiple >= llc)
        flags |= EMB_KF_FAR;
    return flags & op_flags[op];
#endif
}
