/* collect.h - running a set of registered cases and keeping, per case, the
 * median over repetitions; the same-run ratios the tables and any
 * regression check are built from. */
#ifndef EMBSIMD_BENCH_COLLECT_H
#define EMBSIMD_BENCH_COLLECT_H

#include "bench.h"

typedef struct bench_result {
    const bench_case *c;
    int runs;            /* iteration runs seen: the repetitions */
    int error;
    char error_message[200];
    double real_ns;          /* median wall time per call */
    double cpu_ns;           /* median CPU time of the calling thread per call:
                                well below real_ns on one thread means the
                                machine was busy with something else */
    double bytes_per_second; /* median, by the case's byte definition */
    double items_per_second; /* median tokens per second */
    double cv;               /* stddev / mean of the wall time; 0 for one run */
} bench_result;

typedef struct bench_results {
    bench_result *r; /* one per case of the plan, in plan order */
    size_t count;
} bench_results;

/**
 * Runs the cases of plan (already registered) whose names match filter, a
 * Google Benchmark regex (NULL: the --benchmark_filter flag), and fills out
 * with their medians. Cases that did not run have runs == 0. Google
 * Benchmark's console and --benchmark_out output are produced as usual;
 * one_line_console shows one line (the median) per case.
 * Returns the number of cases run, or -1 when out of memory.
 */
long bench_collect(const bench_plan *plan, const char *filter, int one_line_console,
                   bench_results *out);
void bench_results_free(bench_results *res);

/* The result of the case with these parameters, or NULL. ids and idx are
 * ignored for the references (copies and one-hot GEMM), which do not
 * depend on them. kernel: an emb_kernel_at() index (bench_case). */
const bench_result *bench_result_find(const bench_results *res, bench_op op, const char *impl,
                                      int kernel, emb_index idx, int64_t vocab, int64_t dim,
                                      int64_t tokens, int threads, gen_ids_kind ids);

/* The lookup kernel whose bytes the copy a kernel case is compared with
 * moves: a lookup's own; for grad, the lookup from its dout type to f32. */
int bench_copy_kernel(const bench_case *c);

/* Same-run ratios of a kernel result; NaN when either side is missing.
 * memcpy, stream: its bytes per second over the copy's of the same shape,
 *   thread count and bytes (bench_copy_kernel; grad counts its own bytes,
 *   see docs/benchmarks.md);
 * scalar: scalar's time over its time (the speed-up), same kernel and ids;
 * onehot: the one-hot GEMM's time over its time (f32 lookups only: the
 *   GEMM counts their bytes). */
double bench_ratio_to(const bench_results *res, const bench_result *r, bench_op ref);
double bench_ratio_scalar(const bench_results *res, const bench_result *r);

#endif /* EMBSIMD_BENCH_COLLECT_H */
