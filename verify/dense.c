/* dense.c - the naive dense products one-hot x W and one-hot^T x dout in C,
 * the IEEE 754 model that predicts them outside the theorem's domain, and
 * the per-case check of both against the lookup and the scatter-add. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "verify.h"

const char *vf_order_name(vf_order o)
{
    static const char *const names[VF_ORDER_COUNT] = {"forward", "reverse", "pairwise", "fma"};
    return (unsigned)o < VF_ORDER_COUNT ? names[o] : "?";
}

uint32_t vf_default_nan(void)
{
    /* volatile: computed by this CPU at run time, never folded by the
     * compiler (which would use its own idea of the default NaN). */
    volatile float inf = INFINITY, zero = 0.0f;
    return vf_bits(inf * zero);
}

/* ------------------------------------------------------------------ */
/* one-hot x W                                                          */
/* ------------------------------------------------------------------ */

/* acc[j] += onehot[k] * W[k][j] for k in [lo, hi), in the given direction:
 * vectorising this across j keeps every acc[j]'s order over k. */
static void accumulate(const float *restrict w, int64_t dim, const float *restrict onehot,
                       int64_t lo, int64_t hi, int reverse, int fused, float *restrict acc)
{
    for (int64_t s = lo; s < hi; s++) {
        const int64_t k = reverse ? hi - 1 - (s - lo) : s;
        const float o = onehot[k];
        const float *restrict row = w + k * dim;
        if (fused)
            for (int64_t j = 0; j < dim; j++)
                acc[j] = fmaf(o, row[j], acc[j]);
        else
            for (int64_t j = 0; j < dim; j++)
                acc[j] = acc[j] + o * row[j];
    }
}

/* A balanced tree: sum of [lo, hi) into dst, using tmp (one row per level). */
static void pairwise(const float *w, int64_t dim, const float *onehot, int64_t lo, int64_t hi,
                     float *dst, float *tmp)
{
    if (hi - lo == 1) {
        for (int64_t j = 0; j < dim; j++)
            dst[j] = onehot[lo] * w[lo * dim + j];
        return;
    }
    const int64_t mid = lo + (hi - lo) / 2;
    pairwise(w, dim, onehot, lo, mid, dst, tmp + dim);
    pairwise(w, dim, onehot, mid, hi, tmp, tmp + dim);
    for (int64_t j = 0; j < dim; j++)
        dst[j] = dst[j] + tmp[j];
}

void vf_dense_lookup_row(const vf_table *t, int32_t id, vf_order o, float *scratch, float *out)
{
    const int64_t vocab = t->vocab, dim = t->dim;
    /* The one-hot row as real floats in memory: the compiler cannot know
     * they are 0 and 1, so every product is formed at run time. */
    float *onehot = scratch;
    for (int64_t k = 0; k < vocab; k++)
        onehot[k] = 0.0f;
    onehot[id] = 1.0f;
    if (o == VF_ORDER_PAIRWISE) {
        pairwise(t->data, dim, onehot, 0, vocab, out, scratch + vocab);
        for (int64_t j = 0; j < dim; j++)
            out[j] = 0.0f + out[j]; /* the sum starts from +0 like the others */
        return;
    }
    for (int64_t j = 0; j < dim; j++)
        out[j] = 0.0f;
    accumulate(t->data, dim, onehot, 0, vocab, o == VF_ORDER_REVERSE, o == VF_ORDER_FMA, out);
}

vf_val vf_model_lookup(const vf_table *t, int32_t id, int64_t j, uint32_t default_nan, int *domain)
{
    /* The sum has one term 1 * sel (lemma L1) and vocab-1 terms 0 * w
     * (lemma L2): +-0 for finite w, a NaN for Inf or NaN. Starting from +0,
     * adding +-0 terms keeps +0 (L3, L4), so a finite column gives sel,
     * except -0 + (+0 start) = +0. A single NaN-making term fixes the
     * result's bits; two or more leave the payload open. */
    const uint32_t sel = vf_bits(t->data[(int64_t)id * t->dim + j]);
    const int64_t bad = t->nonfinite[j];
    const int64_t others = bad - (vf_is_finite(sel) ? 0 : 1);
    *domain = bad == 0 && sel != VF_NEG_ZERO;
    if (others == 0) {
        if (vf_is_nan(sel))
            return vf_val_of(vf_quiet(sel));
        return vf_val_of(sel == VF_NEG_ZERO ? VF_POS_ZERO : sel);
    }
    if (others == 1 && !vf_is_nan(sel)) {
        const int first = t->nf_row[j][0] != id ? 0 : 1;
        return vf_val_of(vf_times_zero(t->nf_bits[j][first], default_nan));
    }
    const vf_val open = {vf_quiet(sel), 1};
    return open;
}

/* ------------------------------------------------------------------ */
/* dtable + one-hot^T x dout                                            */
/* ------------------------------------------------------------------ */

void vf_dense_grad_row(const float *prior, int64_t dim, const int32_t *ids, int64_t n,
                       int64_t k, const float *dout, int fma, float *scratch, float *out)
{
    float *onehot = scratch; /* column k of one-hot(ids): one float per token */
    for (int64_t i = 0; i < n; i++)
        onehot[i] = ids[i] == k ? 1.0f : 0.0f;
    memcpy(out, prior, (size_t)dim * sizeof(float));
    accumulate(dout, dim, onehot, 0, n, 0, fma, out);
}

void vf_model_grad_row(const float *prior, int64_t dim, const int32_t *ids, int64_t n,
                       int64_t k, const float *dout, uint32_t default_nan, vf_val *out)
{
    for (int64_t j = 0; j < dim; j++)
        out[j] = vf_val_of(vf_bits(prior[j]));
    for (int64_t i = 0; i < n; i++) {
        const float *g = dout + i * dim;
        const int own = ids[i] == k;
        for (int64_t j = 0; j < dim; j++) {
            const uint32_t d = vf_bits(g[j]);
            out[j] = vf_add(out[j], vf_val_of(own ? vf_times_one(d) : vf_times_zero(d, default_nan)));
        }
    }
}

/* ------------------------------------------------------------------ */
/* The per-case check                                                   */
/* ------------------------------------------------------------------ */

static void dense_fail(vf_dense_tally *t, uint64_t *part, const vf_case *c, const char *fmt,
                       uint64_t a, uint64_t b, uint32_t got, vf_val want)
{
    (*part)++;
    if (t->fails++ != 0)
        return;
    char label[192], what[160];
    vf_case_label(c, label, sizeof label);
    snprintf(what, sizeof what, fmt, (unsigned long long)a, (unsigned long long)b);
    snprintf(t->first, sizeof t->first, "%s (%s): 0x%08x, predicted %s0x%08x", what, label, got,
             want.loose ? "a NaN such as " : "", want.bits);
}

/* count rows out of total, evenly spaced, first and last included. */
static void spread(int64_t *rows, int64_t count, int64_t total)
{
    for (int64_t r = 0; r < count; r++)
        rows[r] = count == 1 ? 0 : r * (total - 1) / (count - 1);
}

static int64_t rows_for(uint64_t budget, uint64_t per_row, int64_t max)
{
    const uint64_t r = per_row == 0 ? (uint64_t)max : budget / per_row;
    return r < 1 ? 1 : r > (uint64_t)max ? max : (int64_t)r;
}

static int dense_lookup(vf_case *c, const vf_dense_plan *plan, uint32_t dn, vf_dense_tally *t)
{
    const vf_table *tb = c->table;
    const int64_t vocab = c->s.vocab, dim = c->s.dim;
    const uint64_t per_order = (uint64_t)vocab * (uint64_t)dim;
    /* Every order when the budget allows one row of each, else forward. */
    const int orders = per_order * VF_ORDER_COUNT <= plan->budget ? VF_ORDER_COUNT : 1;
    c->n_lk_rows = rows_for(plan->budget, per_order * (uint64_t)orders, c->s.n);
    c->lk_rows = malloc((size_t)c->n_lk_rows * sizeof *c->lk_rows);
    c->lk_dense = malloc((size_t)(c->n_lk_rows * dim) * sizeof(float));
    c->lk_domain = malloc((size_t)(c->n_lk_rows * dim));
    float *scratch = malloc((size_t)(vocab + 66 * dim) * sizeof(float));
    float *row = malloc((size_t)dim * sizeof(float));
    vf_val *model = malloc((size_t)dim * sizeof *model);
    if (!c->lk_rows || !c->lk_dense || !c->lk_domain || !scratch || !row || !model) {
        free(scratch);
        free(row);
        free(model);
        return -1;
    }
    spread(c->lk_rows, c->n_lk_rows, c->s.n);
    for (int64_t r = 0; r < c->n_lk_rows; r++) {
        const int64_t i = c->lk_rows[r];
        const int32_t id = c->ids[i];
        const float *copy = c->ref_out + i * dim;
        uint8_t *domain = c->lk_domain + r * dim;
        for (int64_t j = 0; j < dim; j++) {
            int in;
            model[j] = vf_model_lookup(tb, id, j, dn, &in);
            domain[j] = (uint8_t)in;
            const uint32_t sel = vf_bits(copy[j]);
            t->lk_elems++;
            if (in) {
                t->lk_domain++;
                /* The theorem itself: inside its hypothesis the model is the copy. */
                if (!vf_matches(sel, model[j]))
                    dense_fail(t, &t->lk_fails, c, "lookup model, token %llu column %llu", (uint64_t)i,
                               (uint64_t)j, sel, model[j]);
            } else if (vf_is_finite(sel) && tb->nonfinite[j] == 0) {
                t->lk_negzero++;
            } else if (vf_is_nan(model[j].bits)) {
                t->lk_nan++;
                t->lk_nan_open += model[j].loose;
            } else {
                t->lk_inf_alone++;
            }
        }
        for (int o = 0; o < orders; o++) {
            vf_dense_lookup_row(tb, id, (vf_order)o, scratch, row);
            t->lk_order[o] += (uint64_t)dim;
            for (int64_t j = 0; j < dim; j++) {
                const uint32_t got = vf_bits(row[j]);
                if (!vf_matches(got, model[j]))
                    dense_fail(t, &t->lk_fails, c, "one-hot x W, token %llu column %llu", (uint64_t)i,
                               (uint64_t)j, got, model[j]);
                else if (domain[j] && got != vf_bits(copy[j]))
                    dense_fail(t, &t->lk_fails, c, "one-hot x W inside the domain, token %llu column %llu",
                               (uint64_t)i, (uint64_t)j, got, vf_val_of(vf_bits(copy[j])));
            }
            if (o == VF_ORDER_FORWARD)
                memcpy(c->lk_dense + r * dim, row, (size_t)dim * sizeof(float));
        }
    }
    free(scratch);
    free(row);
    free(model);
    return 0;
}

/* Which table rows the dense gradient is formed for: as many touched rows
 * as untouched ones where both exist (the dense form changes untouched rows
 * too, through the same exceptions), each kind spread evenly. */
static int pick_grad_rows(vf_case *c, int64_t count)
{
    const int64_t vocab = c->s.vocab, untouched = vocab - c->n_touched;
    int64_t want_untouched = untouched < count / 2 ? untouched : count / 2;
    int64_t want_touched = count - want_untouched;
    if (want_touched > c->n_touched) {
        want_touched = c->n_touched;
        want_untouched = count - want_touched < untouched ? count - want_touched : untouched;
    }
    int64_t *free_rows = malloc((size_t)(untouched > 0 ? untouched : 1) * sizeof *free_rows);
    if (free_rows == NULL)
        return -1;
    for (int64_t k = 0, m = 0; k < vocab; k++)
        if (c->slot[k] < 0)
            free_rows[m++] = k;
    int64_t r = 0;
    for (int64_t m = 0; m < want_touched; m++)
        c->gr_rows[r++] = c->touched[m * c->n_touched / want_touched];
    for (int64_t m = 0; m < want_untouched; m++)
        c->gr_rows[r++] = free_rows[m * untouched / want_untouched];
    c->n_gr_rows = r;
    free(free_rows);
    return 0;
}

static int column_poisoned(const vf_case *c, int64_t k, int64_t j)
{
    for (int64_t i = 0; i < c->s.n; i++)
        if (c->ids[i] != k && !vf_is_finite(vf_bits(c->dout[i * c->s.dim + j])))
            return 1;
    return 0;
}

static int has_neg_zero(const vf_case *c, int64_t k, int64_t j)
{
    if (vf_bits(c->table->data[k * c->s.dim + j]) == VF_NEG_ZERO)
        return 1;
    for (int64_t i = 0; i < c->s.n; i++)
        if (c->ids[i] == k && vf_bits(c->dout[i * c->s.dim + j]) == VF_NEG_ZERO)
            return 1;
    return 0;
}

static int dense_grad(vf_case *c, const vf_dense_plan *plan, uint32_t dn, vf_dense_tally *t)
{
    const int64_t dim = c->s.dim, n = c->s.n;
    /* Two orders (plain and fused) plus the model, which costs about as
     * much as two more. */
    const uint64_t per_row = (uint64_t)n * (uint64_t)dim * 4;
    const int64_t count = rows_for(plan->budget, per_row, c->s.vocab);
    c->gr_rows = malloc((size_t)count * sizeof *c->gr_rows);
    c->gr_dense = malloc((size_t)(count * dim) * sizeof(float));
    c->gr_domain = malloc((size_t)(count * dim));
    float *scratch = malloc((size_t)n * sizeof(float));
    float *row = malloc((size_t)dim * sizeof(float));
    vf_val *model = malloc((size_t)dim * sizeof *model);
    if (!c->gr_rows || !c->gr_dense || !c->gr_domain || !scratch || !row || !model) {
        free(scratch);
        free(row);
        free(model);
        return -1;
    }
    if (pick_grad_rows(c, count) != 0) {
        free(scratch);
        free(row);
        free(model);
        return -1;
    }
    for (int64_t r = 0; r < c->n_gr_rows; r++) {
        const int64_t k = c->gr_rows[r];
        const float *prior = c->table->data + k * dim;
        uint8_t *domain = c->gr_domain + r * dim;
        vf_model_grad_row(prior, dim, c->ids, n, k, c->dout, dn, model);
        for (int64_t j = 0; j < dim; j++) {
            const vf_val scatter = c->slot[k] >= 0 ? c->ref_grad[(int64_t)c->slot[k] * dim + j]
                                                   : vf_val_of(vf_bits(prior[j]));
            const int same = model[j].loose || scatter.loose
                                 ? vf_is_nan(model[j].bits) && vf_is_nan(scatter.bits)
                                 : model[j].bits == scatter.bits;
            domain[j] = (uint8_t)(same && !model[j].loose && !scatter.loose);
            t->gr_elems++;
            if (same) {
                t->gr_equal++;
                t->gr_nan_open += !domain[j];
            } else if (scatter.bits == VF_NEG_ZERO && model[j].bits == VF_POS_ZERO &&
                       !model[j].loose && has_neg_zero(c, k, j)) {
                t->gr_negzero++;
            } else if (vf_is_nan(model[j].bits) && column_poisoned(c, k, j)) {
                t->gr_poison++;
            } else if (c->slot[k] < 0 && vf_is_nan(scatter.bits) && !model[j].loose &&
                       model[j].bits == vf_quiet(scatter.bits)) {
                /* Not named by the theorem: a row no id names keeps its
                 * signalling NaN in the scatter-add (never touched), while
                 * the dense form adds 0 * dout to it and so quiets it. */
                t->gr_snan++;
            } else {
                dense_fail(t, &t->gr_fails, c, "grad model differs from the scatter-add without cause, row %llu column %llu",
                           (uint64_t)k, (uint64_t)j, scatter.bits, model[j]);
            }
        }
        for (int fused = 0; fused < 2; fused++) {
            vf_dense_grad_row(prior, dim, c->ids, n, k, c->dout, fused, scratch, row);
            t->gr_order[fused] += (uint64_t)dim;
            for (int64_t j = 0; j < dim; j++)
                if (!vf_matches(vf_bits(row[j]), model[j]))
                    dense_fail(t, &t->gr_fails, c, "dtable + one-hot^T x dout, row %llu column %llu",
                               (uint64_t)k, (uint64_t)j, vf_bits(row[j]), model[j]);
            if (!fused)
                memcpy(c->gr_dense + r * dim, row, (size_t)dim * sizeof(float));
        }
    }
    free(scratch);
    free(row);
    free(model);
    return 0;
}

int vf_dense_check(vf_case *c, const vf_dense_plan *plan, vf_dense_tally *t)
{
    const uint32_t dn = vf_default_nan();
    const uint64_t lk_inside = t->lk_domain, lk_all = t->lk_elems;
    const uint64_t gr_equal = t->gr_equal, gr_all = t->gr_elems;
    t->cases++;
    t->gr_cases += !c->no_grad;
    if (dense_lookup(c, plan, dn, t) != 0 || (!c->no_grad && dense_grad(c, plan, dn, t) != 0))
        return -1;
    t->lk_cases_inside += t->lk_domain - lk_inside == t->lk_elems - lk_all;
    t->gr_cases_equal += !c->no_grad && t->gr_equal - gr_equal == t->gr_elems - gr_all;
    return 0;
}
