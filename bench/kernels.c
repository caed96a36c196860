/* kernels.c - the lookup and grad benchmarks: the public entry points of
 * embsimd, validation included, with one implementation forced. */
#include "config.h"

#include "bench.h"

#include <stdio.h>
#include <string.h>

#include "embsimd.h"

/* The kernel's output must be the table's rows bit for bit: a fast wrong
 * kernel is not a result. */
static int lookup_output_is_exact(const bench_data *d, const bench_case *c)
{
    const size_t dim = (size_t)c->dim, row = dim * sizeof(float);
    for (int64_t i = 0; i < c->tokens; i++)
        if (memcmp(d->out + (size_t)i * dim, d->table + (size_t)d->ids[i] * dim, row) != 0)
            return 0;
    return 1;
}

static emb_status call(const bench_data *d, const bench_case *c, const int32_t *ids)
{
    if (c->op == BENCH_LOOKUP)
        return emb_lookup_f32(d->table, c->vocab, c->dim, ids, c->tokens, d->out);
    return emb_grad_f32(d->table, c->vocab, c->dim, ids, c->tokens, d->dy);
}

void bench_kernel_body(gb_state *st, const bench_case *c)
{
    char err[320];
    const bench_data *d = bench_data_get(c, err, sizeof err);
    if (d == NULL) {
        gb_skip_with_error(st, err);
        return;
    }
    if (emb_use_impl(c->impl) != EMB_OK || emb_set_num_threads(c->threads) != EMB_OK) {
        gb_skip_with_error(st, emb_last_error());
        return;
    }
    /* Untimed first call: checks the result and starts the thread pool. */
    emb_status s = call(d, c, d->ids);
    if (s == EMB_OK && c->op == BENCH_LOOKUP && !lookup_output_is_exact(d, c)) {
        snprintf(err, sizeof err, "%s: lookup output differs from the table rows", c->impl);
        gb_skip_with_error(st, err);
        return;
    }
    const size_t n = (size_t)c->tokens;
    const int64_t lookup_bytes = 2 * c->tokens * c->dim * (int64_t)sizeof(float);
    int64_t bytes = 0;
    size_t b = 0;
    while (s == EMB_OK && gb_keep_running(st)) {
        s = call(d, c, d->ids + b * n);
        bytes += c->op == BENCH_LOOKUP ? lookup_bytes : d->grad_bytes[b];
        if (++b == d->batches)
            b = 0;
    }
    if (s != EMB_OK) {
        snprintf(err, sizeof err, "%s: %s", emb_strerror(s), emb_last_error());
        gb_skip_with_error(st, err);
        return;
    }
    gb_set_label(st, bench_residency(c));
    gb_set_bytes_processed(st, bytes);
    gb_set_items_processed(st, gb_iterations(st) * c->tokens);
}
