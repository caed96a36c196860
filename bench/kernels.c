/* kernels.c - the lookup and grad benchmarks: the public entry points of
 * embsimd, validation included, with one implementation forced. */
#include "config.h"

#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_f32_i32(const bench_case *c)
{
    return c->in == EMB_F32 && c->out == EMB_F32 && c->idx == EMB_I32;
}

/* The f32 kernels with int32 ids through their own entry points, as
 * before types existed, so that their figures stay comparable. */
static emb_status lookup_into(const bench_data *d, const bench_case *c, const void *ids, void *out)
{
    if (is_f32_i32(c))
        return emb_lookup_f32(d->table, c->vocab, c->dim, ids, c->tokens, out);
    return emb_lookup(d->table, c->in, c->vocab, c->dim, ids, c->idx, c->tokens, out, c->out);
}

static emb_status call(const bench_data *d, const bench_case *c, const void *ids)
{
    if (c->op == BENCH_LOOKUP)
        return lookup_into(d, c, ids, d->out);
    if (is_f32_i32(c))
        return emb_grad_f32(d->dtable, c->vocab, c->dim, ids, c->tokens, d->dy);
    return emb_grad(d->dtable, c->vocab, c->dim, ids, c->idx, c->tokens, d->dy, c->in);
}

/* The kernel's output must be right bit for bit: a fast wrong kernel is
 * not a result. A bit copy (f32, f16, bf16 into themselves) must equal the
 * table's rows. A widened or dequantized output is compared with the
 * scalar implementation's on the same call: until a reference written from
 * the format definitions alone (verify/reference.c) is in the tree, scalar
 * is the definition here, and scalar's own output is checked only by the
 * test suite. Returns NULL, or what is wrong in err. */
static const char *lookup_output_error(const bench_data *d, const bench_case *c, char *err,
                                       size_t size)
{
    const size_t in_row = emb_row_bytes(c->in, c->dim), out_row = emb_row_bytes(c->out, c->dim);
    const uint8_t *out = d->out, *table = d->table;
    if (c->in == c->out) {
        for (int64_t i = 0; i < c->tokens; i++) {
            const size_t id = (size_t)d->ids32[i];
            if (memcmp(out + (size_t)i * out_row, table + id * in_row, out_row) != 0) {
                snprintf(err, size, "%s: lookup %s output row %lld differs from table row %zu",
                         c->impl, c->types, (long long)i, id);
                return err;
            }
        }
        return NULL;
    }
    if (strcmp(c->impl, "scalar") == 0)
        return NULL;
    uint8_t *want = malloc((size_t)c->tokens * out_row);
    if (want == NULL) {
        snprintf(err, size, "out of memory for the scalar reference output");
        return err;
    }
    const char *what = NULL;
    emb_status s = emb_use_impl("scalar");
    if (s == EMB_OK)
        s = lookup_into(d, c, d->ids, want);
    if (s != EMB_OK) {
        snprintf(err, size, "scalar reference: %s: %s", emb_strerror(s), emb_last_error());
        what = err;
    } else if (emb_use_impl(c->impl) != EMB_OK) {
        snprintf(err, size, "%s", emb_last_error());
        what = err;
    }
    for (int64_t i = 0; what == NULL && i < c->tokens; i++)
        if (memcmp(out + (size_t)i * out_row, want + (size_t)i * out_row, out_row) != 0) {
            snprintf(err, size, "%s: lookup %s output row %lld (id %d) differs from scalar's",
                     c->impl, c->types, (long long)i, (int)d->ids32[i]);
            what = err;
        }
    free(want);
    return what;
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
    if (s == EMB_OK && c->op == BENCH_LOOKUP && lookup_output_error(d, c, err, sizeof err)) {
        gb_skip_with_error(st, err);
        return;
    }
    const size_t n = (size_t)c->tokens;
    const size_t id_bytes = c->idx == EMB_I64 ? sizeof(int64_t) : sizeof(int32_t);
    /* Lookup: each table row read, each output row written, in their own
     * types. Grad: dout read, each distinct fp32 row read and written. */
    const int64_t lookup_bytes = bench_lookup_bytes(c);
    const int64_t dout_bytes = c->tokens * (int64_t)emb_row_bytes(c->in, c->dim);
    const int64_t row_bytes = c->dim * (int64_t)sizeof(float);
    int64_t bytes = 0;
    size_t b = 0;
    while (s == EMB_OK && gb_keep_running(st)) {
        s = call(d, c, (const uint8_t *)d->ids + b * n * id_bytes);
        bytes += c->op == BENCH_LOOKUP ? lookup_bytes : dout_bytes + 2 * d->distinct[b] * row_bytes;
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
