/* api.c - the entry points of the lookup, the gradient and their fused
 * positional forms: validate everything (validate.h), then hand the call
 * to the active implementation's kernels. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "internal.h"
#include "validate.h"

const char *emb_version(void) { return PACKAGE_VERSION; }

/* What the four ops share. "matrix" is the vocab x dim buffer (table or
 * dtable), "rows" the n x dim one (out or dout). */
typedef struct call_shape {
    const char *op, *matrix_name, *rows_name;
    const void *matrix, *rows;
    emb_type matrix_type, rows_type;
    int64_t vocab, dim, n;
    const void *ids;
    emb_index id_type;
    int is_grad; /* grad writes the matrix; lookup writes the rows */
    /* filled by validate_shape() */
    size_t matrix_row_bytes, rows_row_bytes, matrix_bytes, rows_bytes, ids_bytes;
} call_shape;

/* The sizes, before any pointer is looked at: n == 0 accepts NULL.
 * Inlined, as validate_buffers, into each op, where the checks see their
 * constant arguments: the regression gate counts every instruction of a
 * small call (about 26,000 for a lookup of 1000 x 64 x 512). */
static inline __attribute__((always_inline)) emb_status validate_shape(call_shape *c)
{
    emb_status s = emb_check_count(c->op, "vocab", c->vocab, 1);
    if (s == EMB_OK)
        s = emb_check_count(c->op, "dim", c->dim, 1);
    if (s == EMB_OK)
        s = emb_check_count(c->op, "n", c->n, 0);
    if (s == EMB_OK)
        s = emb_check_rows(c->op, c->matrix_name, c->matrix_type, c->vocab, c->dim,
                           &c->matrix_row_bytes, &c->matrix_bytes);
    if (s == EMB_OK)
        s = emb_check_rows(c->op, c->rows_name, c->rows_type, c->n, c->dim, &c->rows_row_bytes,
                           &c->rows_bytes);
    if (s == EMB_OK)
        s = emb_check_items(c->op, "ids", c->n, emb_index_bytes(c->id_type), &c->ids_bytes);
    return s;
}

/* The shape's three buffers, the one the call writes first (for
 * emb_check_disjoint): lookup writes out, grad dtable. The kernels read
 * ids while they write, so ids inside the written buffer would change
 * under them; ids may share memory with the buffer that is only read. */
enum { SHAPE_SPANS = 3 };
static void shape_spans(const call_shape *c, emb_span *s)
{
    const emb_span matrix = {c->matrix_name, c->matrix, c->matrix_bytes};
    const emb_span rows = {c->rows_name, c->rows, c->rows_bytes};
    s[0] = c->is_grad ? matrix : rows;
    s[1] = c->is_grad ? rows : matrix;
    s[2] = (emb_span){"ids", c->ids, c->ids_bytes};
}

/* Pointers, overlaps, then every id (n > 0): spans[0 .. count) hold the
 * shape's spans (shape_spans) and any the op adds, the n_written written
 * ones first, the n_present that must not be NULL before the optional. */
static inline __attribute__((always_inline)) emb_status
validate_buffers(const call_shape *c, const emb_resolved *k, const emb_span *spans,
                 size_t n_written, size_t count, size_t n_present)
{
    emb_status s = emb_check_present(c->op, spans, n_present, "n", c->n);
    if (s == EMB_OK)
        s = emb_check_disjoint(c->op, spans, n_written, count);
    if (s == EMB_OK)
        s = emb_check_ids(c->op, c->ids, c->id_type, (size_t)c->n, c->vocab, k->ids_minmax);
    return s;
}

/* Part `part` of `nparts` contiguous token ranges, sizes differing by at
 * most one: each part writes only its own slice of the output. */
static void token_slice(size_t n, unsigned part, unsigned nparts, size_t *lo, size_t *count)
{
    const size_t base = n / nparts, extra = n % nparts;
    *lo = base * part + (part < extra ? part : extra);
    *count = base + (part < extra ? 1 : 0);
}

typedef struct lookup_job {
    emb_lookup_fn fn;
    const uint8_t *table;
    size_t dim;
    const void *ids;
    int ids64;
    size_t n, out_row_bytes;
    uint8_t *out;
    unsigned flags;
} lookup_job;

/* Contiguous token ranges: part p writes only its own slice of out. */
static void lookup_part(void *arg, unsigned part, unsigned nparts)
{
    const lookup_job *j = arg;
    size_t lo, count;
    token_slice(j->n, part, nparts, &lo, &count);
    const void *ids = (const uint8_t *)j->ids + lo * (j->ids64 ? sizeof(int64_t) : sizeof(int32_t));
    j->fn(j->table, j->dim, ids, j->ids64, count, j->out + lo * j->out_row_bytes, j->flags);
}

typedef struct grad_job {
    emb_grad_fn fn;
    float *dtable;
    size_t dim;
    const void *ids;
    int ids64;
    size_t n;
    const uint8_t *dout;
    emb_grad_opts opts;
    unsigned flags;
} grad_job;

static void grad_part(void *arg, unsigned part, unsigned nparts)
{
    const grad_job *j = arg;
    j->fn(j->dtable, j->dim, j->ids, j->ids64, j->n, j->dout, &j->opts, part, nparts, j->flags);
}

static emb_status lookup_call(const char *op, const void *table, emb_type table_type,
                              int64_t vocab, int64_t dim, const void *ids, emb_index id_type,
                              int64_t n, void *out, emb_type out_type)
{
    const emb_resolved *k = emb_active_kernels();
    if (k == NULL)
        return EMB_ENOTSUP;
    emb_status s = emb_check_type(op, "table_type", table_type);
    if (s == EMB_OK)
        s = emb_check_type(op, "out_type", out_type);
    if (s == EMB_OK)
        s = emb_check_index(op, "id_type", id_type);
    if (s != EMB_OK)
        return s;
    const emb_kernel_id kid = emb_kernel_find(EMB_OP_LOOKUP, table_type, out_type);
    if (kid == EMB_KERNEL_COUNT) {
        emb_set_error("%s: no lookup from %s to %s (a table of any type looks up into f32; "
                      "f32, f16 and bf16 also into themselves)",
                      op, emb_types[table_type].name, emb_types[out_type].name);
        return EMB_EINVAL;
    }
    call_shape c = {op, "table", "out", table, out, table_type, out_type, vocab, dim, n, ids,
                    id_type, 0, 0, 0, 0, 0, 0};
    s = validate_shape(&c);
    if (s != EMB_OK || n == 0)
        return s;
    emb_span spans[SHAPE_SPANS];
    shape_spans(&c, spans);
    if ((s = validate_buffers(&c, k, spans, 1, SHAPE_SPANS, SHAPE_SPANS)) != EMB_OK)
        return s;
    const emb_kernel_entry *e = emb_kernel_for(k, kid, (size_t)dim);
    lookup_job job = {e->lookup, table, (size_t)dim, ids, id_type == EMB_I64, (size_t)n,
                      c.rows_row_bytes, out,
                      emb_schedule_flags(EMB_OP_LOOKUP, c.matrix_bytes, c.rows_bytes)};
    emb_run(EMB_OP_LOOKUP, lookup_part, &job, emb_parts_for(c.rows_bytes, (size_t)n));
    return EMB_OK;
}

/* nn.Embedding's gradient options, checked and resolved: the padding row
 * as an index (SIZE_MAX: none); scale_grad_by_freq's counts are filled by
 * count_rows once the ids are known valid. */
static emb_status resolve_grad_options(const char *op, const emb_grad_options *opt, int64_t vocab,
                                       int64_t n, emb_grad_opts *out)
{
    out->pad = SIZE_MAX;
    out->counts = NULL;
    if (opt == NULL)
        return EMB_OK;
    const emb_status s = emb_check_padding(op, opt->padding_idx, vocab, &out->pad);
    if (s != EMB_OK)
        return s;
    if (opt->scale_grad_by_freq && (uint64_t)n > UINT32_MAX) {
        emb_set_error("%s: scale_grad_by_freq counts tokens in 32 bits: n = %lld is too many",
                      op, (long long)n);
        return EMB_EINVAL;
    }
    return EMB_OK;
}

/* scale_grad_by_freq's scratch: tokens per row, 4 * vocab bytes, zeroed
 * and filled here, before any kernel runs. NULL (EMB_ENOMEM recorded) when
 * the memory cannot be had; nothing has been written then. */
static uint32_t *count_rows(const char *op, int64_t vocab, const void *ids, emb_index id_type,
                            int64_t n)
{
    uint32_t *counts = calloc((size_t)vocab, sizeof *counts);
    if (counts == NULL) {
        emb_set_error("%s: scale_grad_by_freq needs %llu bytes of scratch (4 x vocab) and "
                      "they could not be allocated", op,
                      (unsigned long long)vocab * sizeof *counts);
        return NULL;
    }
    for (size_t i = 0; i < (size_t)n; i++)
        counts[emb_index_at(ids, id_type, i)]++;
    return counts;
}

static emb_status grad_call(const char *op, float *dtable, int64_t vocab, int64_t dim,
                            const void *ids, emb_index id_type, int64_t n, const void *dout,
                            emb_type dout_type, const emb_grad_options *opt)
{
    const emb_resolved *k = emb_active_kernels();
    if (k == NULL)
        return EMB_ENOTSUP;
    emb_status s = emb_check_type(op, "dout_type", dout_type);
    if (s == EMB_OK)
        s = emb_check_index(op, "id_type", id_type);
    if (s != EMB_OK)
        return s;
    const emb_kernel_id kid = emb_kernel_find(EMB_OP_GRAD, dout_type, EMB_F32);
    if (kid == EMB_KERNEL_COUNT) {
        emb_set_error("%s: no gradient from a %s dout (dout is f32, f16 or bf16; quantized "
                      "tables have no gradient)", op, emb_types[dout_type].name);
        return EMB_EINVAL;
    }
    call_shape c = {op, "dtable", "dout", dtable, dout, EMB_F32, dout_type, vocab, dim, n, ids,
                    id_type, 1, 0, 0, 0, 0, 0};
    s = validate_shape(&c);
    emb_grad_opts opts;
    if (s == EMB_OK)
        s = resolve_grad_options(op, opt, vocab, n, &opts);
    if (s != EMB_OK || n == 0)
        return s;
    emb_span spans[SHAPE_SPANS];
    shape_spans(&c, spans);
    if ((s = validate_buffers(&c, k, spans, 1, SHAPE_SPANS, SHAPE_SPANS)) != EMB_OK)
        return s;
    uint32_t *counts = NULL;
    if (opt != NULL && opt->scale_grad_by_freq) {
        if ((counts = count_rows(op, vocab, ids, id_type, n)) == NULL)
            return EMB_ENOMEM;
        opts.counts = counts;
    }
    /* Each part scans every id but touches only its own rows. */
    const size_t touched_bytes = 3 * (size_t)n * (size_t)dim * sizeof(float);
    const emb_kernel_entry *e = emb_kernel_for(k, kid, (size_t)dim);
    grad_job job = {e->grad, dtable, (size_t)dim, ids, id_type == EMB_I64, (size_t)n, dout,
                    opts, emb_schedule_flags(EMB_OP_GRAD, c.matrix_bytes, 0)};
    emb_run(EMB_OP_GRAD, grad_part, &job, emb_parts_for(touched_bytes, (size_t)n));
    free(counts);
    return EMB_OK;
}

emb_status emb_lookup(const void *table, emb_type table_type, int64_t vocab, int64_t dim,
                      const void *ids, emb_index id_type, int64_t n, void *out,
                      emb_type out_type)
{
    return lookup_call("emb_lookup", table, table_type, vocab, dim, ids, id_type, n, out,
                       out_type);
}

emb_status emb_grad(float *dtable, int64_t vocab, int64_t dim, const void *ids,
                    emb_index id_type, int64_t n, const void *dout, emb_type dout_type)
{
    return grad_call("emb_grad", dtable, vocab, dim, ids, id_type, n, dout, dout_type, NULL);
}

emb_status emb_lookup_f32(const float *table, int64_t vocab, int64_t dim,
                          const int32_t *ids, int64_t n, float *out)
{
    return lookup_call("emb_lookup_f32", table, EMB_F32, vocab, dim, ids, EMB_I32, n, out,
                       EMB_F32);
}

emb_status emb_grad_f32(float *dtable, int64_t vocab, int64_t dim,
                        const int32_t *ids, int64_t n, const float *dout)
{
    return grad_call("emb_grad_f32", dtable, vocab, dim, ids, EMB_I32, n, dout, EMB_F32, NULL);
}

emb_status emb_grad_ex(float *dtable, int64_t vocab, int64_t dim, const void *ids,
                       emb_index id_type, int64_t n, const void *dout, emb_type dout_type,
                       const emb_grad_options *opt)
{
    return grad_call("emb_grad_ex", dtable, vocab, dim, ids, id_type, n, dout, dout_type, opt);
}

/* ---- token + positional embedding ----------------------------------------- */

/* The position table's sizes and the emb_positions argument, before any
 * pointer is looked at (n == 0 accepts NULL tables). */
static emb_status check_pos_args(const char *op, const char *ptable_name, emb_type ptype,
                                 int64_t max_pos, int64_t dim, const emb_positions *pos,
                                 size_t *ptable_bytes)
{
    size_t row_bytes = 0;
    emb_status s = emb_check_count(op, "max_pos", max_pos, 1);
    if (s == EMB_OK)
        s = emb_check_rows(op, ptable_name, ptype, max_pos, dim, &row_bytes, ptable_bytes);
    if (s != EMB_OK)
        return s;
    if (pos == NULL) {
        emb_set_error("%s: pos is NULL (emb_positions: explicit ids, or offset and seq_len)", op);
        return EMB_EINVAL;
    }
    if (pos->ids == NULL && (s = emb_check_count(op, "pos->seq_len", pos->seq_len, 1)) == EMB_OK)
        s = emb_check_count(op, "pos->offset", pos->offset, 0);
    return s;
}

/* Every position of the call (n > 0) inside [0, max_pos): explicit ones
 * one by one (the first bad one named with its token), computed ones from
 * their range. */
static emb_status check_positions(const char *op, int64_t max_pos, const emb_positions *pos,
                                  emb_index id_type, int64_t n)
{
    if (pos->ids == NULL) {
        /* Positions offset .. offset + min(n, seq_len) - 1: the first token
         * past max_pos is token max_pos - offset. */
        const int64_t reach = n < pos->seq_len ? n : pos->seq_len;
        if (pos->offset >= max_pos || reach > max_pos - pos->offset) {
            const int64_t i = pos->offset >= max_pos ? 0 : max_pos - pos->offset;
            emb_set_error("%s: token %lld has position %lld (offset %lld + %lld %% seq_len "
                          "%lld), outside [0, %lld)", op, (long long)i,
                          (long long)(pos->offset + i), (long long)pos->offset, (long long)i,
                          (long long)pos->seq_len, (long long)max_pos);
            return EMB_ERANGE;
        }
        return EMB_OK;
    }
    for (size_t i = 0; i < (size_t)n; i++) {
        const int64_t p = emb_index_at(pos->ids, id_type, i);
        if (p < 0 || p >= max_pos) {
            emb_set_error("%s: token %zu has position pos->ids[%zu] = %lld, outside [0, %lld)",
                          op, i, i, (long long)p, (long long)max_pos);
            return EMB_ERANGE;
        }
    }
    return EMB_OK;
}

/* Explicit positions are read like the ids; computed ones touch nothing. */
static emb_span positions_span(const emb_positions *pos, const call_shape *c)
{
    const emb_span s = {"pos->ids", pos->ids, pos->ids == NULL ? 0 : c->ids_bytes};
    return s;
}

static emb_pos_src pos_src_of(const emb_positions *pos)
{
    const emb_pos_src s = {pos->ids, (size_t)pos->offset, pos->ids == NULL ? (size_t)pos->seq_len : 1, 0};
    return s;
}

typedef struct lookup_pos_job {
    emb_lookup_pos_fn fn;
    const uint8_t *table, *ptable;
    emb_type ptype;
    size_t dim;
    const void *ids;
    int ids64;
    size_t n;
    emb_pos_src pos;
    uint8_t *out;
    unsigned flags;
} lookup_pos_job;

static void lookup_pos_part(void *arg, unsigned part, unsigned nparts)
{
    const lookup_pos_job *j = arg;
    size_t lo, count;
    token_slice(j->n, part, nparts, &lo, &count);
    const size_t id_bytes = j->ids64 ? sizeof(int64_t) : sizeof(int32_t);
    emb_pos_src pos = j->pos;
    pos.first = lo;
    if (pos.positions != NULL)
        pos.positions = (const uint8_t *)pos.positions + lo * id_bytes;
    j->fn(j->table, j->dim, (const uint8_t *)j->ids + lo * id_bytes, j->ids64, count, &pos,
          j->ptable, j->ptype, j->out + lo * j->dim * sizeof(float), j->flags);
}

emb_status emb_lookup_pos(const void *table, emb_type table_type, int64_t vocab, int64_t dim,
                          const void *ids, emb_index id_type, int64_t n, const void *pos_table,
                          emb_type pos_type, int64_t max_pos, const emb_positions *pos,
                          float *out)
{
    const char *op = "emb_lookup_pos";
    const emb_resolved *k = emb_active_kernels();
    if (k == NULL)
        return EMB_ENOTSUP;
    emb_status s = emb_check_type(op, "table_type", table_type);
    if (s == EMB_OK)
        s = emb_check_float_type(op, "pos_type", pos_type, NULL);
    if (s == EMB_OK)
        s = emb_check_index(op, "id_type", id_type);
    if (s != EMB_OK)
        return s;
    const emb_kernel_id kid = emb_kernel_find(EMB_OP_LOOKUP_POS, table_type, EMB_F32);
    call_shape c = {op, "table", "out", table, out, table_type, EMB_F32, vocab, dim, n, ids,
                    id_type, 0, 0, 0, 0, 0, 0};
    size_t ptable_bytes = 0;
    s = validate_shape(&c);
    if (s == EMB_OK)
        s = check_pos_args(op, "pos_table", pos_type, max_pos, dim, pos, &ptable_bytes);
    if (s != EMB_OK || n == 0)
        return s;
    /* out, table, ids, then the position table and explicit positions. */
    emb_span spans[SHAPE_SPANS + 2];
    shape_spans(&c, spans);
    spans[3] = (emb_span){"pos_table", pos_table, ptable_bytes};
    spans[4] = positions_span(pos, &c);
    s = validate_buffers(&c, k, spans, 1, SHAPE_SPANS + 2, SHAPE_SPANS + 1);
    if (s == EMB_OK)
        s = check_positions(op, max_pos, pos, id_type, n);
    if (s != EMB_OK)
        return s;
    const emb_kernel_entry *e = emb_kernel_for(k, kid, (size_t)dim);
    lookup_pos_job job = {e->lookup_pos, table, pos_table, pos_type, (size_t)dim,
                          ids, id_type == EMB_I64, (size_t)n, pos_src_of(pos), (uint8_t *)out,
                          emb_schedule_flags(EMB_OP_LOOKUP_POS, c.matrix_bytes, c.rows_bytes)};
    emb_run(EMB_OP_LOOKUP_POS, lookup_pos_part, &job, emb_parts_for(c.rows_bytes, (size_t)n));
    return EMB_OK;
}

typedef struct grad_pos_job {
    emb_grad_pos_fn fn;
    float *dtable, *dptable;
    size_t dim;
    const void *ids;
    int ids64;
    size_t n;
    emb_pos_src pos;
    const uint8_t *dout;
    emb_grad_opts opts;
    unsigned flags;
} grad_pos_job;

static void grad_pos_part(void *arg, unsigned part, unsigned nparts)
{
    const grad_pos_job *j = arg;
    j->fn(j->dtable, j->dptable, j->dim, j->ids, j->ids64, j->n, &j->pos, j->dout, &j->opts,
          part, nparts, j->flags);
}

emb_status emb_grad_pos(float *dtable, int64_t vocab, float *dpos_table, int64_t max_pos,
                        int64_t dim, const void *ids, emb_index id_type, int64_t n,
                        const emb_positions *pos, const void *dout, emb_type dout_type,
                        const emb_grad_options *opt)
{
    const char *op = "emb_grad_pos";
    const emb_resolved *k = emb_active_kernels();
    if (k == NULL)
        return EMB_ENOTSUP;
    emb_status s = emb_check_float_type(op, "dout_type", dout_type, NULL);
    if (s == EMB_OK)
        s = emb_check_index(op, "id_type", id_type);
    if (s != EMB_OK)
        return s;
    const emb_kernel_id kid = emb_kernel_find(EMB_OP_GRAD_POS, dout_type, EMB_F32);
    call_shape c = {op, "dtable", "dout", dtable, dout, EMB_F32, dout_type, vocab, dim, n, ids,
                    id_type, 1, 0, 0, 0, 0, 0};
    size_t dptable_bytes = 0;
    s = validate_shape(&c);
    if (s == EMB_OK)
        s = check_pos_args(op, "dpos_table", EMB_F32, max_pos, dim, pos, &dptable_bytes);
    emb_grad_opts opts;
    if (s == EMB_OK)
        s = resolve_grad_options(op, opt, vocab, n, &opts);
    if (s != EMB_OK || n == 0)
        return s;
    /* Both tables are written: dtable and dpos_table first. */
    emb_span spans[SHAPE_SPANS + 2];
    shape_spans(&c, spans);
    spans[3] = spans[2];
    spans[2] = spans[1];
    spans[1] = (emb_span){"dpos_table", dpos_table, dptable_bytes};
    spans[4] = positions_span(pos, &c);
    s = validate_buffers(&c, k, spans, 2, SHAPE_SPANS + 2, SHAPE_SPANS + 1);
    if (s == EMB_OK)
        s = check_positions(op, max_pos, pos, id_type, n);
    if (s != EMB_OK)
        return s;
    uint32_t *counts = NULL;
    if (opt != NULL && opt->scale_grad_by_freq) {
        if ((counts = count_rows(op, vocab, ids, id_type, n)) == NULL)
            return EMB_ENOMEM;
        opts.counts = counts;
    }
    const size_t touched_bytes = 5 * (size_t)n * (size_t)dim * sizeof(float);
    const emb_kernel_entry *e = emb_kernel_for(k, kid, (size_t)dim);
    grad_pos_job job = {e->grad_pos, dtable, dpos_table, (size_t)dim, ids,
                        id_type == EMB_I64, (size_t)n, pos_src_of(pos), dout, opts,
                        emb_schedule_flags(EMB_OP_GRAD_POS, c.matrix_bytes, 0)};
    emb_run(EMB_OP_GRAD_POS, grad_pos_part, &job, emb_parts_for(touched_bytes, (size_t)n));
    free(counts);
    return EMB_OK;
}
