/* bag.c - the EmbeddingBag entry points (emb_bag, emb_bag_grad,
 * emb_bag_update): validate every argument, bag and id before anything is
 * written (validate.h, and the bags' own checks here), then hand the call
 * to the active implementation's bag kernels (bag_loops.h). */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bag_loops.h"
#include "internal.h"
#include "validate.h"

/* What every bag call checks, and what it resolves for the kernels. */
typedef struct bag_shape {
    const char *op;
    const void *matrix;   /* table or dtable */
    emb_type matrix_type;
    const char *matrix_name;
    const char *rows_name; /* the nbags x dim rows: out or dout */
    emb_type rows_type;
    int64_t vocab, dim, n;
    const void *ids;
    emb_index id_type;
    const emb_bags *bags;
    emb_bag_mode mode;
    /* filled by validate_bags() */
    size_t row_bytes, matrix_bytes, rows_bytes, ids_bytes, bound_count;
    emb_bag_call call;
} bag_shape;

/* Offsets: start at 0, never decrease, never pass n; with
 * include_last_offset the extra entry is n. Lengths: >= 0, summing to n. */
static emb_status check_bounds(bag_shape *s)
{
    const emb_bags *b = s->bags;
    const char *op = s->op;
    const size_t nb = (size_t)b->nbags;
    if (b->offsets != NULL) {
        const size_t count = nb + (b->include_last_offset ? 1 : 0);
        s->bound_count = count;
        if (count == 0)
            return EMB_OK;
        int64_t prev = emb_index_at(b->offsets, b->offset_type, 0);
        if (prev != 0) {
            emb_set_error("%s: offsets[0] = %lld, must be 0", op, (long long)prev);
            return EMB_EINVAL;
        }
        for (size_t i = 1; i < count; i++) {
            const int64_t o = emb_index_at(b->offsets, b->offset_type, i);
            if (o < prev) {
                emb_set_error("%s: offsets[%zu] = %lld is less than offsets[%zu] = %lld: offsets "
                              "must not decrease", op, i, (long long)o, i - 1, (long long)prev);
                return EMB_EINVAL;
            }
            if (o > s->n) {
                emb_set_error("%s: offsets[%zu] = %lld exceeds n = %lld", op, i, (long long)o,
                              (long long)s->n);
                return EMB_EINVAL;
            }
            prev = o;
        }
        if (b->include_last_offset && prev != s->n) {
            emb_set_error("%s: offsets[%zu] = %lld, the last offset (include_last_offset), must "
                          "equal n = %lld", op, count - 1, (long long)prev, (long long)s->n);
            return EMB_EINVAL;
        }
        if (nb == 0 && s->n != 0) {
            emb_set_error("%s: n = %lld tokens but no bag holds them (nbags = 0)", op,
                          (long long)s->n);
            return EMB_EINVAL;
        }
        return EMB_OK;
    }
    s->bound_count = nb;
    int64_t sum = 0;
    for (size_t i = 0; i < nb; i++) {
        const int64_t l = emb_index_at(b->lengths, b->offset_type, i);
        if (l < 0) {
            emb_set_error("%s: lengths[%zu] = %lld is negative", op, i, (long long)l);
            return EMB_EINVAL;
        }
        if (l > s->n - sum) {
            emb_set_error("%s: lengths[0 .. %zu] sum to more than n = %lld", op, i,
                          (long long)s->n);
            return EMB_EINVAL;
        }
        sum += l;
    }
    if (sum != s->n) {
        emb_set_error("%s: lengths sum to %lld, must equal n = %lld", op, (long long)sum,
                      (long long)s->n);
        return EMB_EINVAL;
    }
    return EMB_OK;
}

/* Everything but the outputs, which each entry point checks itself. */
static emb_status validate_bags(bag_shape *s, const emb_resolved *k)
{
    const char *op = s->op;
    const emb_bags *b = s->bags;
    if ((unsigned)s->mode > EMB_BAG_MAX) {
        emb_set_error("%s: mode = %d is not an emb_bag_mode (sum 0, mean 1, max 2)", op,
                      (int)s->mode);
        return EMB_EINVAL;
    }
    emb_status st = emb_check_index(op, "id_type", s->id_type);
    if (st != EMB_OK)
        return st;
    if (b == NULL) {
        emb_set_error("%s: bags is NULL", op);
        return EMB_EINVAL;
    }
    size_t rows_row_bytes = 0, pad = SIZE_MAX;
    if ((st = emb_check_index(op, "bags->offset_type", b->offset_type)) != EMB_OK ||
        (st = emb_check_count(op, "vocab", s->vocab, 1)) != EMB_OK ||
        (st = emb_check_count(op, "dim", s->dim, 1)) != EMB_OK ||
        (st = emb_check_count(op, "n", s->n, 0)) != EMB_OK ||
        (st = emb_check_count(op, "nbags", b->nbags, 0)) != EMB_OK ||
        (st = emb_check_rows(op, s->matrix_name, s->matrix_type, s->vocab, s->dim, &s->row_bytes,
                             &s->matrix_bytes)) != EMB_OK ||
        (st = emb_check_rows(op, s->rows_name, s->rows_type, b->nbags, s->dim, &rows_row_bytes,
                             &s->rows_bytes)) != EMB_OK ||
        (st = emb_check_items(op, "ids", s->n, emb_index_bytes(s->id_type), &s->ids_bytes)) !=
            EMB_OK ||
        (st = emb_check_padding(op, b->padding_idx, s->vocab, &pad)) != EMB_OK)
        return st;
    if (b->weights != NULL && s->mode != EMB_BAG_SUM) {
        emb_set_error("%s: per-sample weights given with mode %s: only sum mode takes weights",
                      op, s->mode == EMB_BAG_MEAN ? "mean" : "max");
        return EMB_EINVAL;
    }
    if ((b->offsets == NULL) == (b->lengths == NULL) && (b->nbags > 0 || b->include_last_offset)) {
        emb_set_error("%s: give bags->offsets or bags->lengths, exactly one (both are %s)", op,
                      b->offsets == NULL ? "NULL" : "set");
        return EMB_EINVAL;
    }
    if (b->include_last_offset && b->offsets == NULL) {
        emb_set_error("%s: include_last_offset is set, but the bags are given by lengths", op);
        return EMB_EINVAL;
    }
    if (b->nbags == 0 && !b->include_last_offset && s->n != 0) {
        emb_set_error("%s: n = %lld tokens but no bag holds them (nbags = 0)", op,
                      (long long)s->n);
        return EMB_EINVAL;
    }
    const emb_span needed[] = {{"ids", s->ids, s->ids_bytes}, {s->matrix_name, s->matrix, 0}};
    if (s->n > 0 && (st = emb_check_present(op, needed, 2, "n", s->n)) != EMB_OK)
        return st;
    if (b->nbags > 0 || b->include_last_offset)
        if ((st = check_bounds(s)) != EMB_OK)
            return st;
    if ((st = emb_check_ids(op, s->ids, s->id_type, (size_t)s->n, s->vocab, k->ids_minmax)) !=
        EMB_OK)
        return st;
    const int lengths = b->offsets == NULL;
    const emb_bag_call c = {(size_t)s->dim, s->ids, s->id_type == EMB_I64, (size_t)s->n,
                            lengths ? b->lengths : b->offsets, b->offset_type == EMB_I64, lengths,
                            (size_t)b->nbags, b->weights, pad, (int)s->mode};
    s->call = c;
    return EMB_OK;
}

/* The spans a bag call touches besides its outputs: spans[at ..] get the
 * table (dtable), ids, bounds and weights, in that order; returns the
 * count of spans filled in all. The table is read by emb_bag and written by
 * the others, which name it among their written spans instead (skip_matrix). */
static size_t bag_inputs(const bag_shape *s, emb_span *spans, size_t at, int skip_matrix)
{
    const emb_bags *b = s->bags;
    if (!skip_matrix)
        spans[at++] = (emb_span){s->matrix_name, s->matrix, s->matrix_bytes};
    spans[at++] = (emb_span){"ids", s->ids, s->ids_bytes};
    spans[at++] = (emb_span){b->offsets != NULL ? "offsets" : "lengths",
                             b->offsets != NULL ? b->offsets : b->lengths,
                             s->bound_count * emb_index_bytes(b->offset_type)};
    spans[at++] = (emb_span){"weights", b->weights,
                             b->weights != NULL ? (size_t)s->n * sizeof(float) : 0};
    return at;
}

/* ---- forward -------------------------------------------------------------- */

typedef struct bag_job {
    emb_bag_fn fn;
    const uint8_t *table;
    const emb_bag_call *c;
    float *out;
    int64_t *argmax;
    unsigned flags;
} bag_job;

/* Contiguous ranges of bags: part p writes only its own output rows. */
static void bag_part(void *arg, unsigned part, unsigned nparts)
{
    const bag_job *j = arg;
    const size_t nb = j->c->nbags;
    const size_t b0 = nb * part / nparts, b1 = nb * (part + 1) / nparts;
    if (b0 < b1)
        j->fn(j->table, j->c, b0, b1, emb_bag_start(j->c, b0), j->out, j->argmax, j->flags);
}

emb_status emb_bag(const void *table, emb_type table_type, int64_t vocab, int64_t dim,
                   const void *ids, emb_index id_type, int64_t n, const emb_bags *bags,
                   emb_bag_mode mode, float *out, int64_t *argmax)
{
    const char *op = "emb_bag";
    const emb_resolved *k = emb_active_kernels();
    if (k == NULL)
        return EMB_ENOTSUP;
    emb_status st = emb_check_type(op, "table_type", table_type);
    if (st != EMB_OK)
        return st;
    bag_shape s = {op, table, table_type, "table", "out", EMB_F32, vocab, dim, n, ids, id_type,
                   bags, mode, 0, 0, 0, 0, 0, {0}};
    if ((st = validate_bags(&s, k)) != EMB_OK)
        return st;
    if (argmax != NULL && mode != EMB_BAG_MAX) {
        emb_set_error("%s: argmax given with mode %s: only max mode has one", op,
                      mode == EMB_BAG_SUM ? "sum" : "mean");
        return EMB_EINVAL;
    }
    const size_t nb = (size_t)bags->nbags;
    if (nb == 0)
        return EMB_OK;
    const size_t out_bytes = s.rows_bytes;
    size_t argmax_bytes = 0;
    emb_span spans[6] = {{"out", out, out_bytes}, {"argmax", argmax, 0}};
    if ((st = emb_check_present(op, spans, 1, "nbags", (int64_t)nb)) != EMB_OK ||
        (argmax != NULL &&
         (st = emb_check_items(op, "argmax", (int64_t)nb * dim, sizeof(int64_t),
                               &argmax_bytes)) != EMB_OK))
        return st;
    spans[1].bytes = argmax_bytes;
    if ((st = emb_check_disjoint(op, spans, 2, bag_inputs(&s, spans, 2, 0))) != EMB_OK)
        return st;
    const emb_kernel_id kid = emb_kernel_find(EMB_OP_BAG, table_type, EMB_F32);
    /* Rows read: the tokens' (at most the table); bytes written: out. */
    const size_t read = (size_t)n * s.row_bytes < s.matrix_bytes ? (size_t)n * s.row_bytes
                                                                  : s.matrix_bytes;
    const emb_kernel_entry *e = emb_kernel_for(k, kid, (size_t)dim);
    bag_job job = {e->bag, table, &s.call, out, argmax,
                   emb_schedule_flags(EMB_OP_BAG, s.matrix_bytes, out_bytes)};
    emb_run(EMB_OP_BAG, bag_part, &job, emb_parts_for(read + out_bytes, nb));
    return EMB_OK;
}

/* ---- backward ------------------------------------------------------------- */

typedef struct bag_grad_job {
    emb_bag_grad_fn fn;
    float *dtable;
    const emb_bag_call *c;
    const uint8_t *dout;
    const int64_t *argmax;
    unsigned flags;
} bag_grad_job;

static void bag_grad_part(void *arg, unsigned part, unsigned nparts)
{
    const bag_grad_job *j = arg;
    j->fn(j->dtable, j->c, j->dout, j->argmax, part, nparts, j->flags);
}

/* max mode's argmax: each entry -1 or a row of the table. */
static emb_status check_argmax(const char *op, const int64_t *argmax, size_t count, int64_t vocab)
{
    for (size_t i = 0; i < count; i++)
        if (argmax[i] < -1 || argmax[i] >= vocab) {
            emb_set_error("%s: argmax[%zu] = %lld is neither -1 nor in [0, %lld)", op, i,
                          (long long)argmax[i], (long long)vocab);
            return EMB_ERANGE;
        }
    return EMB_OK;
}

emb_status emb_bag_grad(float *dtable, int64_t vocab, int64_t dim, const void *ids,
                        emb_index id_type, int64_t n, const emb_bags *bags, emb_bag_mode mode,
                        const int64_t *argmax, const void *dout, emb_type dout_type)
{
    const char *op = "emb_bag_grad";
    const emb_resolved *k = emb_active_kernels();
    if (k == NULL)
        return EMB_ENOTSUP;
    emb_status st = emb_check_type(op, "dout_type", dout_type);
    if (st != EMB_OK)
        return st;
    const emb_kernel_id kid = emb_kernel_find(EMB_OP_BAG_GRAD, dout_type, EMB_F32);
    if (kid == EMB_KERNEL_COUNT) {
        emb_set_error("%s: no gradient from a %s dout (dout is f32, f16 or bf16)", op,
                      emb_types[dout_type].name);
        return EMB_EINVAL;
    }
    bag_shape s = {op, dtable, EMB_F32, "dtable", "dout", dout_type, vocab, dim, n, ids, id_type,
                   bags, mode, 0, 0, 0, 0, 0, {0}};
    if ((st = validate_bags(&s, k)) != EMB_OK)
        return st;
    const size_t nb = (size_t)bags->nbags;
    if (nb == 0 || (n == 0 && mode != EMB_BAG_MAX))
        return EMB_OK;
    const int max = mode == EMB_BAG_MAX;
    size_t argmax_bytes = 0;
    emb_span spans[6] = {{"dtable", dtable, s.matrix_bytes},
                         {"dout", dout, s.rows_bytes},
                         {"argmax", max ? argmax : NULL, 0}};
    if ((st = emb_check_present(op, spans + 1, max ? 2 : 1, "nbags", (int64_t)nb)) != EMB_OK ||
        (st = emb_check_present(op, spans, 1, NULL, 0)) != EMB_OK ||
        (max && (st = emb_check_items(op, "argmax", (int64_t)nb * dim, sizeof(int64_t),
                                      &argmax_bytes)) != EMB_OK))
        return st;
    spans[2].bytes = argmax_bytes;
    if ((st = emb_check_disjoint(op, spans, 1, bag_inputs(&s, spans, 3, 1))) != EMB_OK)
        return st;
    if (max && (st = check_argmax(op, argmax, nb * (size_t)dim, vocab)) != EMB_OK)
        return st;
    /* Each part scans every token but touches only its own rows. */
    const size_t touched = 3 * ((size_t)n + (max ? nb : 0)) * (size_t)dim * 4;
    const emb_kernel_entry *e = emb_kernel_for(k, kid, (size_t)dim);
    bag_grad_job job = {e->bag_grad, dtable, &s.call, dout, max ? argmax : NULL,
                        emb_schedule_flags(EMB_OP_BAG_GRAD, s.matrix_bytes, 0)};
    emb_run(EMB_OP_BAG_GRAD, bag_grad_part, &job, emb_parts_for(touched, (size_t)n + nb));
    return EMB_OK;
}

/* ---- fused optimizer steps ------------------------------------------------ */

typedef struct bag_step_job {
    emb_bag_step_fn fn;
    uint8_t *table;
    float *h;
    const emb_bag_call *c;
    const float *dout;
    float lr, eps;
    float *scratch; /* per part: step_scratch_floats() */
    size_t part_floats;
    unsigned flags;
} bag_step_job;

static void bag_step_part(void *arg, unsigned part, unsigned nparts)
{
    const bag_step_job *j = arg;
    j->fn(j->table, j->h, j->c, j->dout, j->lr, j->eps, j->scratch + (size_t)part * j->part_floats,
          part, nparts, j->flags);
}

/* A part's scratch: the staged gradient row, and for a 16-bit table the
 * row widened to fp32 while it is updated; whole cache lines, so that the
 * parts' scratches (one allocation, step_scratch_alloc) share none. Where
 * the first part's last line was the second's first, the row-wise Adagrad
 * step at 32000 x 128, bags of 20, ran at two threads in 0.19 ms or 0.73
 * ms from one process to the next (one thread: 0.39), as malloc placed
 * the block. */
static size_t step_scratch_floats(emb_type table_type, size_t dim)
{
    const size_t floats = table_type == EMB_F32 ? dim : 2 * dim;
    const size_t line = 64 / sizeof(float);
    return (floats + line - 1) / line * line;
}

static float *step_scratch_alloc(unsigned nparts, size_t part_floats)
{
    return aligned_alloc(64, (size_t)nparts * part_floats * sizeof(float));
}

static int finite_nonneg(float x) { return isfinite(x) && !(x < 0.0f); }

/* Duplicates summed first: slot[t] numbers token t's row among the
 * distinct rows in order of first occurrence (an open-addressing hash of
 * the ids), the gradient of the call is accumulated into those rows by the
 * bag-gradient kernel (token order per row), and the step then runs once
 * per distinct row, each a bag of its own. Both kernels run as part of
 * the step `op`. All scratch is allocated here; on ENOMEM nothing has been
 * written. */
static emb_status coalesced_step(const bag_shape *s, const emb_resolved *k, uint8_t *table,
                                 const float *dout, const emb_step *step, emb_op op,
                                 emb_kernel_id kid)
{
    const emb_bag_call *c = &s->call;
    const size_t n = c->n, dim = c->dim;
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    int64_t *slot = malloc(n * sizeof *slot);
    int64_t *rows = malloc(n * sizeof *rows);
    int64_t *hash = malloc(cap * sizeof *hash);
    unsigned nparts = emb_parts_for(3 * n * dim * sizeof(float), n);
    const size_t part_floats = step_scratch_floats(s->matrix_type, dim);
    float *scratch = step_scratch_alloc(nparts, part_floats);
    float *g = NULL;
    emb_status st = EMB_OK;
    if (slot == NULL || rows == NULL || hash == NULL || scratch == NULL) {
        st = EMB_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < cap; i++)
        hash[i] = -1;
    size_t u = 0;
    for (size_t t = 0; t < n; t++) {
        const int64_t id = emb_index_at(c->ids, c->ids64 ? EMB_I64 : EMB_I32, t);
        size_t hpos = (size_t)(((uint64_t)id * 0x9E3779B97F4A7C15u) >> 7) & (cap - 1);
        while (hash[hpos] >= 0 && rows[hash[hpos]] != id)
            hpos = (hpos + 1) & (cap - 1);
        if (hash[hpos] < 0) {
            hash[hpos] = (int64_t)u;
            rows[u++] = id;
        }
        slot[t] = hash[hpos];
    }
    g = calloc(u != 0 ? u : 1, dim * sizeof(float)); /* +0 rows: the sums' start */
    if (g == NULL) {
        st = EMB_ENOMEM;
        goto done;
    }
    /* Padding tokens keep their slot; the gradient kernel skips them, so a
     * padding row's coalesced gradient stays +0 and the step skips it. */
    emb_bag_call gc = *c;
    gc.ids = slot;
    gc.ids64 = 1;
    size_t pad_slot = SIZE_MAX;
    if (c->pad != SIZE_MAX)
        for (size_t i = 0; i < u; i++)
            if ((size_t)rows[i] == c->pad)
                pad_slot = i;
    gc.pad = pad_slot;
    const emb_kernel_id gk = emb_kernel_find(EMB_OP_BAG_GRAD, EMB_F32, EMB_F32);
    const emb_kernel_entry *ge = emb_kernel_for(k, gk, dim);
    bag_grad_job gj = {ge->bag_grad, g, &gc, (const uint8_t *)dout, NULL, 0};
    emb_run(op, bag_grad_part, &gj, nparts);
    /* One bag per distinct row, in order of first occurrence. */
    emb_bag_call uc = {dim, rows, 1, u, NULL, 0, 0, u, NULL, c->pad, EMB_BAG_SUM};
    const emb_kernel_entry *e = emb_kernel_for(k, kid, dim);
    bag_step_job sj = {e->bag_step, table, step->h, &uc, g, step->lr, step->eps,
                       scratch, part_floats, emb_schedule_flags(op, s->matrix_bytes, 0)};
    emb_run(op, bag_step_part, &sj, nparts);
done:
    free(slot);
    free(rows);
    free(hash);
    free(scratch);
    free(g);
    if (st == EMB_ENOMEM)
        emb_set_error("%s: no memory for the coalesced gradient of %zu tokens x %zu", s->op, n,
                      dim);
    return st;
}

emb_status emb_bag_update(void *table, emb_type table_type, int64_t vocab, int64_t dim,
                          const void *ids, emb_index id_type, int64_t n, const emb_bags *bags,
                          emb_bag_mode mode, const float *dout, const emb_step *step)
{
    const char *op = "emb_bag_update";
    const emb_resolved *k = emb_active_kernels();
    if (k == NULL)
        return EMB_ENOTSUP;
    /* The tables a step can update: those whose rows hold each element
     * as a float. */
    emb_status st = emb_check_float_type(
        op, "table_type", table_type,
        "a quantized table is an inference format, and requantizing it on each step would drop "
        "every update smaller than half a quantization step: train in f32, f16 or bf16 and "
        "quantize afterwards");
    if (st != EMB_OK)
        return st;
    if (step == NULL) {
        emb_set_error("%s: step is NULL", op);
        return EMB_EINVAL;
    }
    if (step->optimizer != EMB_OPT_SGD && step->optimizer != EMB_OPT_ROWWISE_ADAGRAD) {
        emb_set_error("%s: step->optimizer = %d is not an emb_optimizer (SGD 0, row-wise Adagrad "
                      "1)", op, (int)step->optimizer);
        return EMB_EINVAL;
    }
    const int adagrad = step->optimizer == EMB_OPT_ROWWISE_ADAGRAD;
    if (!finite_nonneg(step->lr)) {
        emb_set_error("%s: lr = %g, must be finite and >= 0", op, (double)step->lr);
        return EMB_EINVAL;
    }
    if (adagrad && !finite_nonneg(step->eps)) {
        emb_set_error("%s: eps = %g, must be finite and >= 0", op, (double)step->eps);
        return EMB_EINVAL;
    }
    if (mode == EMB_BAG_MAX) {
        emb_set_error("%s: mode max has no fused step (its gradient needs emb_bag's argmax: use "
                      "emb_bag_grad)", op);
        return EMB_EINVAL;
    }
    bag_shape s = {op, table, table_type, "table", "dout", EMB_F32, vocab, dim, n, ids, id_type,
                   bags, mode, 0, 0, 0, 0, 0, {0}};
    if ((st = validate_bags(&s, k)) != EMB_OK)
        return st;
    const size_t nb = (size_t)bags->nbags;
    if (nb == 0 || n == 0)
        return EMB_OK;
    /* Written: the table and Adagrad's per-row state; read: dout. */
    size_t h_bytes = 0;
    emb_span spans[6] = {{"table", table, s.matrix_bytes},
                         {"step->h", adagrad ? step->h : NULL, 0},
                         {"dout", dout, s.rows_bytes}};
    if ((st = emb_check_present(op, spans + 2, 1, "n", n)) != EMB_OK ||
        (adagrad && ((st = emb_check_present(op, spans + 1, 1, "n", n)) != EMB_OK ||
                     (st = emb_check_items(op, "step->h", vocab, sizeof(float), &h_bytes)) !=
                         EMB_OK)))
        return st;
    spans[1].bytes = h_bytes;
    if ((st = emb_check_disjoint(op, spans, 2, bag_inputs(&s, spans, 3, 1))) != EMB_OK)
        return st;
    const emb_op step_op = adagrad ? EMB_OP_BAG_ADAGRAD : EMB_OP_BAG_SGD;
    const emb_kernel_id kid = emb_kernel_find(step_op, table_type, table_type);
    if (step->coalesce)
        return coalesced_step(&s, k, table, dout, step, step_op, kid);
    const unsigned nparts = emb_parts_for(3 * (size_t)n * (size_t)dim * sizeof(float), (size_t)n);
    const size_t part_floats = step_scratch_floats(table_type, (size_t)dim);
    float *scratch = step_scratch_alloc(nparts, part_floats);
    if (scratch == NULL) {
        emb_set_error("%s: no memory for %u parts of %zu floats of scratch", op, nparts,
                      part_floats);
        return EMB_ENOMEM;
    }
    const emb_kernel_entry *e = emb_kernel_for(k, kid, (size_t)dim);
    bag_step_job job = {e->bag_step, table, step->h, &s.call, dout, step->lr,
                        step->eps, scratch, part_floats,
                        emb_schedule_flags(step_op, s.matrix_bytes, 0)};
    emb_run(step_op, bag_step_part, &job, nparts);
    free(scratch);
    return EMB_OK;
}
