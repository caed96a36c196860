/* onehot.c - what the lookup replaces: one-hot(ids) x table as a dense
 * single-precision GEMM in OpenBLAS, the way nn.Linear on one-hot input
 * computes it. */
#include "config.h"

#include "bench.h"

#include <cblas.h>
#include <stdio.h>
#include <string.h>

double bench_onehot_gflop(int64_t vocab, int64_t dim, int64_t tokens)
{
    return 2.0 * (double)tokens * (double)vocab * (double)dim * 1e-9;
}

void bench_onehot_body(gb_state *st, const bench_case *c)
{
    char err[320];
    const bench_data *d = bench_data_get(c, err, sizeof err);
    if (d == NULL) {
        gb_skip_with_error(st, err);
        return;
    }
    const blasint n = (blasint)c->tokens, v = (blasint)c->vocab, dim = (blasint)c->dim;
    float *out = d->out;
    openblas_set_num_threads(c->threads);
    /* Every product but one per output is 1*w or 0*w; with a table of
     * finite nonzero floats their sum is w exactly, so the GEMM must
     * reproduce the lookup bit for bit. Checked once, untimed. */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, dim, v, 1.0f, d->onehot, v,
                d->dtable, dim, 0.0f, out, dim);
    for (int64_t i = 0; i < c->tokens; i++) {
        const float *want = d->dtable + (size_t)d->ids32[i] * (size_t)c->dim;
        if (memcmp(out + (size_t)i * (size_t)c->dim, want, (size_t)c->dim * sizeof(float))) {
            snprintf(err, sizeof err, "one-hot GEMM row %lld differs from table row %d",
                     (long long)i, (int)d->ids32[i]);
            gb_skip_with_error(st, err);
            return;
        }
    }
    while (gb_keep_running(st))
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, dim, v, 1.0f, d->onehot, v,
                    d->dtable, dim, 0.0f, out, dim);
    gb_set_label(st, bench_residency(c));
    const int64_t it = gb_iterations(st);
    gb_set_bytes_processed(st, it * 2 * c->tokens * c->dim * (int64_t)sizeof(float));
    gb_set_items_processed(st, it * c->tokens);
    gb_set_counter(st, "flop_per_second",
                   (double)it * bench_onehot_gflop(c->vocab, c->dim, c->tokens) * 1e9,
                   GB_COUNTER_RATE);
}
