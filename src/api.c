/* api.c - the public entry points: validate everything, then hand the
 * call to the active implementation's kernels. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

const char *emb_version(void) { return PACKAGE_VERSION; }

static int overlaps(const void *a, size_t a_bytes, const void *b, size_t b_bytes)
{
    const uintptr_t pa = (uintptr_t)a, pb = (uintptr_t)b;
    return pa < pb + b_bytes && pb < pa + a_bytes;
}

/* What both operations check. "matrix" is the vocab x dim buffer (table or
 * dtable), "rows" the n x dim one (out or dout). */
typedef struct call_shape {
    const char *op, *matrix_name, *rows_name;
    const void *matrix, *rows;
    emb_type matrix_type, rows_type;
    int64_t vocab, dim, n;
    const void *ids;
    emb_index id_type;
    int is_grad; /* grad writes the matrix; lookup writes the rows */
    /* filled by validate() */
    size_t matrix_row_bytes, rows_row_bytes, matrix_bytes, rows_bytes;
} call_shape;

/* The exact position and value of the first bad id: only on failure, so
 * the common case pays for one vectorised min/max pass alone. */
static emb_status first_bad_id(const call_shape *c)
{
    for (size_t i = 0; i < (size_t)c->n; i++) {
        const int64_t id = c->id_type == EMB_I64 ? ((const int64_t *)c->ids)[i]
                                                 : ((const int32_t *)c->ids)[i];
        if (id < 0 || id >= c->vocab) {
            emb_set_error("ids[%zu] = %lld is outside [0, %lld)", i, (long long)id,
                          (long long)c->vocab);
            return EMB_ERANGE;
        }
    }
    return EMB_OK; /* reached only in a --enable-slow-kernels build */
}

static void ids64_minmax(const int64_t *ids, size_t n, int64_t *min, int64_t *max)
{
    int64_t lo = ids[0], hi = ids[0];
    for (size_t i = 1; i < n; i++) {
        lo = ids[i] < lo ? ids[i] : lo;
        hi = ids[i] > hi ? ids[i] : hi;
    }
    *min = lo;
    *max = hi;
}

/* Row bytes of `type` for this call's dim, or an error naming both. */
static emb_status row_bytes_of(const call_shape *c, emb_type type, const char *name,
                               size_t *out)
{
    *out = emb_row_bytes(type, c->dim);
    if (*out != 0)
        return EMB_OK;
    const emb_type_traits *t = &emb_types[type];
    if (t->block > 1 && (uint64_t)c->dim % t->block != 0)
        emb_set_error("%s: dim = %lld is not valid for %s %s: it must be a multiple of %zu",
                      c->op, (long long)c->dim, name, t->name, t->block);
    else
        emb_set_error("%s: a row of %lld %s elements overflows size_t", c->op,
                      (long long)c->dim, t->name);
    return EMB_EINVAL;
}

static emb_status validate(call_shape *c, const emb_resolved *k)
{
    if (c->vocab <= 0) {
        emb_set_error("%s: vocab = %lld, must be > 0", c->op, (long long)c->vocab);
        return EMB_EINVAL;
    }
    if (c->dim <= 0) {
        emb_set_error("%s: dim = %lld, must be > 0", c->op, (long long)c->dim);
        return EMB_EINVAL;
    }
    if (c->n < 0) {
        emb_set_error("%s: n = %lld, must be >= 0", c->op, (long long)c->n);
        return EMB_EINVAL;
    }
    emb_status s = row_bytes_of(c, c->matrix_type, c->matrix_name, &c->matrix_row_bytes);
    if (s == EMB_OK)
        s = row_bytes_of(c, c->rows_type, c->rows_name, &c->rows_row_bytes);
    if (s != EMB_OK)
        return s;
    /* Every byte offset a kernel forms is below one of these two sizes, so
     * checking them once makes all later 64-bit offset arithmetic safe. */
    const uint64_t max_bytes = (uint64_t)(SIZE_MAX < INT64_MAX ? SIZE_MAX : INT64_MAX);
    if (c->matrix_row_bytes > max_bytes / (uint64_t)c->vocab) {
        emb_set_error("%s: %s of %lld x %lld %s elements overflows size_t", c->op,
                      c->matrix_name, (long long)c->vocab, (long long)c->dim,
                      emb_types[c->matrix_type].name);
        return EMB_EINVAL;
    }
    if (c->n > 0 && c->rows_row_bytes > max_bytes / (uint64_t)c->n) {
        emb_set_error("%s: %s of %lld x %lld %s elements overflows size_t", c->op, c->rows_name,
                      (long long)c->n, (long long)c->dim, emb_types[c->rows_type].name);
        return EMB_EINVAL;
    }
    c->matrix_bytes = (size_t)c->vocab * c->matrix_row_bytes;
    c->rows_bytes = (size_t)c->n * c->rows_row_bytes;
    if (c->n == 0)
        return EMB_OK;
    if (c->matrix == NULL || c->rows == NULL || c->ids == NULL) {
        emb_set_error("%s: %s is NULL with n = %lld", c->op,
                      c->matrix == NULL ? c->matrix_name
                      : c->rows == NULL ? c->rows_name
                                        : "ids",
                      (long long)c->n);
        return EMB_EINVAL;
    }
    if (overlaps(c->matrix, c->matrix_bytes, c->rows, c->rows_bytes)) {
        emb_set_error("%s: %s [%p, +%zu bytes) overlaps %s [%p, +%zu bytes)", c->op,
                      c->rows_name, c->rows, c->rows_bytes, c->matrix_name, c->matrix,
                      c->matrix_bytes);
        return EMB_EINVAL;
    }
    /* The kernels read ids while writing rows: ids inside the buffer being
     * written would change under them. (ids may share memory with the
     * buffer that is only read.) */
    const void *written = c->is_grad ? c->matrix : c->rows;
    const size_t written_bytes = c->is_grad ? c->matrix_bytes : c->rows_bytes;
    const size_t id_bytes = c->id_type == EMB_I64 ? sizeof(int64_t) : sizeof(int32_t);
    if (overlaps(c->ids, (size_t)c->n * id_bytes, written, written_bytes)) {
        emb_set_error("%s: ids overlaps %s, which the call writes", c->op,
                      c->is_grad ? c->matrix_name : c->rows_name);
        return EMB_EINVAL;
    }
    int64_t lo, hi;
    if (c->id_type == EMB_I64) {
        ids64_minmax(c->ids, (size_t)c->n, &lo, &hi);
    } else {
        int32_t lo32, hi32;
        k->ids_minmax(c->ids, (size_t)c->n, &lo32, &hi32);
        lo = lo32;
        hi = hi32;
    }
#ifdef EMB_SLOW_KERNELS
    lo = -1; /* always take the slow exact pass as well */
#endif
    if (lo < 0 || hi >= c->vocab)
        return first_bad_id(c);
    return EMB_OK;
}

/* The type arguments, before anything else: an unknown enum value would
 * index the traits table. */
static emb_status check_type(const char *op, const char *what, emb_type t)
{
    if ((unsigned)t < EMB_TYPE_COUNT)
        return EMB_OK;
    emb_set_error("%s: %s = %d is not an emb_type (0 .. %d)", op, what, (int)t,
                  EMB_TYPE_COUNT - 1);
    return EMB_EINVAL;
}

static emb_status check_index(const char *op, emb_index t)
{
    if (t == EMB_I32 || t == EMB_I64)
        return EMB_OK;
    emb_set_error("%s: id_type = %d is not an emb_index (EMB_I32 or EMB_I64)", op, (int)t);
    return EMB_EINVAL;
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
    emb_status s = check_type(op, "table_type", table_type);
    if (s == EMB_OK)
        s = check_type(op, "out_type", out_type);
    if (s == EMB_OK)
        s = check_index(op, id_type);
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
                    id_type, 0, 0, 0, 0, 0};
    s = validate(&c, k);
    if (s != EMB_OK || n == 0)
        return s;
    lookup_job job = {k->kernel[kid]->lookup, table, (size_t)dim, ids, id_type == EMB_I64, (size_t)n,
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
    if (opt->padding_idx != EMB_NO_PADDING) {
        if (opt->padding_idx < -vocab || opt->padding_idx >= vocab) {
            emb_set_error("%s: padding_idx = %lld is outside [-%lld, %lld) (vocab = %lld)", op,
                          (long long)opt->padding_idx, (long long)vocab, (long long)vocab,
                          (long long)vocab);
            return EMB_EINVAL;
        }
        out->pad = (size_t)(opt->padding_idx < 0 ? opt->padding_idx + vocab : opt->padding_idx);
    }
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
        counts[id_type == EMB_I64 ? (size_t)((const int64_t *)ids)[i]
                                  : (size_t)((const int32_t *)ids)[i]]++;
    return counts;
}

static emb_status grad_call(const char *op, float *dtable, int64_t vocab, int64_t dim,
                            const void *ids, emb_index id_type, int64_t n, const void *dout,
                            emb_type dout_type, const emb_grad_options *opt)
{
    const emb_resolved *k = emb_active_kernels();
    if (k == NULL)
        return EMB_ENOTSUP;
    emb_status s = check_type(op, "dout_type", dout_type);
    if (s == EMB_OK)
        s = check_index(op, id_type);
    if (s != EMB_OK)
        return s;
    const emb_kernel_id kid = emb_kernel_find(EMB_OP_GRAD, dout_type, EMB_F32);
    if (kid == EMB_KERNEL_COUNT) {
        emb_set_error("%s: no gradient from a %s dout (dout is f32, f16 or bf16; quantized "
                      "tables have no gradient)", op, emb_types[dout_type].name);
        return EMB_EINVAL;
    }
    call_shape c = {op, "dtable", "dout", dtable, dout, EMB_F32, dout_type, vocab, dim, n, ids,
                    id_type, 1, 0, 0, 0, 0};
    s = validate(&c, k);
    emb_grad_opts opts;
    if (s == EMB_OK)
        s = resolve_grad_options(op, opt, vocab, n, &opts);
    if (s != EMB_OK || n == 0)
        return s;
    uint32_t *counts = NULL;
    if (opt != NULL && opt->scale_grad_by_freq) {
        if ((counts = count_rows(op, vocab, ids, id_type, n)) == NULL)
            return EMB_ENOMEM;
        opts.counts = counts;
    }
    /* Each part scans every id but touches only its own rows. */
    const size_t touched_bytes = 3 * (size_t)n * (size_t)dim * sizeof(float);
    grad_job job = {k->kernel[kid]->grad, dtable, (size_t)dim, ids, id_type == EMB_I64, (size_t)n, dout,
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

/* The position table's checks, and every position of the call inside
 * [0, max_pos): explicit ones one by one (the first bad one named with its
 * token), computed ones from their range. */
static emb_status validate_positions(const char *op, const char *ptable_name,
                                     const void *ptable, int64_t max_pos, int64_t dim,
                                     const emb_positions *pos, emb_index id_type, int64_t n)
{
    if (max_pos <= 0) {
        emb_set_error("%s: max_pos = %lld, must be > 0", op, (long long)max_pos);
        return EMB_EINVAL;
    }
    /* dim > 0 here (validate() ran first); a row of f32 is the largest. */
    if ((uint64_t)max_pos > (uint64_t)SIZE_MAX / (uint64_t)dim / sizeof(float)) {
        emb_set_error("%s: %s of %lld x %lld elements overflows size_t", op, ptable_name,
                      (long long)max_pos, (long long)dim);
        return EMB_EINVAL;
    }
    if (pos == NULL) {
        emb_set_error("%s: pos is NULL (emb_positions: explicit ids, or offset and seq_len)", op);
        return EMB_EINVAL;
    }
    if (pos->ids == NULL && pos->seq_len <= 0) {
        emb_set_error("%s: pos->seq_len = %lld, must be > 0", op, (long long)pos->seq_len);
        return EMB_EINVAL;
    }
    if (pos->ids == NULL && pos->offset < 0) {
        emb_set_error("%s: pos->offset = %lld, must be >= 0", op, (long long)pos->offset);
        return EMB_EINVAL;
    }
    if (n == 0)
        return EMB_OK;
    if (ptable == NULL) {
        emb_set_error("%s: %s is NULL with n = %lld", op, ptable_name, (long long)n);
        return EMB_EINVAL;
    }
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
        const int64_t p = id_type == EMB_I64 ? ((const int64_t *)pos->ids)[i]
                                             : ((const int32_t *)pos->ids)[i];
        if (p < 0 || p >= max_pos) {
            emb_set_error("%s: token %zu has position pos->ids[%zu] = %lld, outside [0, %lld)",
                          op, i, i, (long long)p, (long long)max_pos);
            return EMB_ERANGE;
        }
    }
    return EMB_OK;
}

static emb_status check_pos_type(const char *op, const char *what, emb_type t)
{
    if (t == EMB_F32 || t == EMB_F16 || t == EMB_BF16)
        return EMB_OK;
    emb_set_error("%s: %s = %d (%s) is not f32, f16 or bf16", op, what, (int)t,
                  (unsigned)t < EMB_TYPE_COUNT ? emb_types[t].name : "not an emb_type");
    return EMB_EINVAL;
}

/* Buffers the call writes (the first n_written of all) must not overlap
 * anything else it touches. */
typedef struct span {
    const char *name;
    const void *p;
    size_t bytes;
} span;

static emb_status check_disjoint(const char *op, const span *written, size_t n_written,
                                 const span *all, size_t n_all)
{
    for (size_t w = 0; w < n_written; w++)
        for (size_t a = 0; a < n_all; a++)
            if (a != w && all[a].p != NULL && all[a].bytes != 0 &&
                overlaps(written[w].p, written[w].bytes, all[a].p, all[a].bytes)) {
                emb_set_error("%s: %s [%p, +%zu bytes) overlaps %s [%p, +%zu bytes)", op,
                              written[w].name, written[w].p, written[w].bytes, all[a].name,
                              all[a].p, all[a].bytes);
                return EMB_EINVAL;
            }
    return EMB_OK;
}

static size_t positions_bytes(const emb_positions *pos, emb_index id_type, int64_t n)
{
    return pos->ids == NULL ? 0 : (size_t)n * (id_type == EMB_I64 ? 8u : 4u);
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
    emb_status s = check_type(op, "table_type", table_type);
    if (s == EMB_OK)
        s = check_pos_type(op, "pos_type", pos_type);
    if (s == EMB_OK)
        s = check_index(op, id_type);
    if (s != EMB_OK)
        return s;
    const emb_kernel_id kid = emb_kernel_find(EMB_OP_LOOKUP_POS, table_type, EMB_F32);
    call_shape c = {op, "table", "out", table, out, table_type, EMB_F32, vocab, dim, n, ids,
                    id_type, 0, 0, 0, 0, 0};
    s = validate(&c, k);
    if (s == EMB_OK)
        s = validate_positions(op, "pos_table", pos_table, max_pos, dim, pos, id_type, n);
    if (s != EMB_OK || n == 0)
        return s;
    const span all[] = {{"out", out, c.rows_bytes},
                        {"table", table, c.matrix_bytes},
                        {"pos_table", pos_table, (size_t)max_pos * emb_row_bytes(pos_type, dim)},
                        {"ids", ids, (size_t)n * (id_type == EMB_I64 ? 8u : 4u)},
                        {"pos->ids", pos->ids, positions_bytes(pos, id_type, n)}};
    s = check_disjoint(op, all, 1, all, sizeof all / sizeof all[0]);
    if (s != EMB_OK)
        return s;
    lookup_pos_job job = {k->kernel[kid]->lookup_pos, table, pos_table, pos_type, (size_t)dim,
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
    emb_status s = check_pos_type(op, "dout_type", dout_type);
    if (s == EMB_OK)
        s = check_index(op, id_type);
    if (s != EMB_OK)
        return s;
    const emb_kernel_id kid = emb_kernel_find(EMB_OP_GRAD_POS, dout_type, EMB_F32);
    call_shape c = {op, "dtable", "dout", dtable, dout, EMB_F32, dout_type, vocab, dim, n, ids,
                    id_type, 1, 0, 0, 0, 0};
    s = validate(&c, k);
    if (s == EMB_OK)
        s = validate_positions(op, "dpos_table", dpos_table, max_pos, dim, pos, id_type, n);
    emb_grad_opts opts;
    if (s == EMB_OK)
        s = resolve_grad_options(op, opt, vocab, n, &opts);
    if (s != EMB_OK || n == 0)
        return s;
    const span all[] = {{"dtable", dtable, c.matrix_bytes},
                        {"dpos_table", dpos_table, (size_t)max_pos * (size_t)dim * sizeof(float)},
                        {"dout", dout, c.rows_bytes},
                        {"ids", ids, (size_t)n * (id_type == EMB_I64 ? 8u : 4u)},
                        {"pos->ids", pos->ids, positions_bytes(pos, id_type, n)}};
    s = check_disjoint(op, all, 2, all, sizeof all / sizeof all[0]);
    if (s != EMB_OK)
        return s;
    uint32_t *counts = NULL;
    if (opt != NULL && opt->scale_grad_by_freq) {
        if ((counts = count_rows(op, vocab, ids, id_type, n)) == NULL)
            return EMB_ENOMEM;
        opts.counts = counts;
    }
    const size_t touched_bytes = 5 * (size_t)n * (size_t)dim * sizeof(float);
    grad_pos_job job = {k->kernel[kid]->grad_pos, dtable, dpos_table, (size_t)dim, ids,
                        id_type == EMB_I64, (size_t)n, pos_src_of(pos), dout, opts,
                        emb_schedule_flags(EMB_OP_GRAD_POS, c.matrix_bytes, 0)};
    emb_run(EMB_OP_GRAD_POS, grad_pos_part, &job, emb_parts_for(touched_bytes, (size_t)n));
    free(counts);
    return EMB_OK;
}
