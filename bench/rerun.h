/* rerun.h - running again the shapes whose timings were noisy (--rerun-cv):
 * on a shared machine a burst of other work spreads a benchmark's
 * repetitions, and a figure with a wide spread must not be cited. */
#ifndef EMBSIMD_BENCH_RERUN_H
#define EMBSIMD_BENCH_RERUN_H

#include <stdio.h>

#include "collect.h"

typedef struct bench_rerun_summary {
    int passes;         /* passes run */
    size_t shapes;      /* shapes run again at least once */
    size_t kept;        /* shapes whose figures now come from a rerun */
    size_t still_noisy; /* cases whose cv still exceeds the limit */
} bench_rerun_summary;

/**
 * Up to `passes` times: the shapes (vocab, dim, tokens, threads) with a case
 * in res whose wall-time cv exceeds max_cv (a fraction) run again, every
 * case of the shape that ran before; a shape's figures are replaced, all
 * together so that its same-run ratios stay within one pass, where the
 * rerun's largest cv is below the one kept. json_path (may be NULL) is the
 * run's --benchmark_out file, which each pass would overwrite: each pass's
 * goes to <json_path without .json>.rerun<K>.json instead. Progress lines go
 * to info. Returns 0, or -1 when out of memory or a file cannot be renamed
 * (said on stderr).
 */
int bench_rerun_noisy(const bench_plan *plan, bench_results *res, double max_cv, int passes,
                      const char *json_path, int one_line_console, FILE *info,
                      bench_rerun_summary *summary);

/* Pass `pass`'s file name ("1", or "<K>" to name them all) for a run whose
 * --benchmark_out is run_json: <run_json without .json>.rerun<pass>.json. */
void bench_rerun_name(char *out, size_t size, const char *run_json, const char *pass);

#endif /* EMBSIMD_BENCH_RERUN_H */
