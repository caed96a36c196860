/* layer.c - section F: the embedding layer as models use it. The theorem
 * extended to the fused token + positional lookup (one-hot(ids) x W +
 * one-hot(pos) x P, bit for bit in the domain, the same model outside it),
 * its gradient (the two scatter-adds), padding_idx (the one-hot product
 * with the padding row's column masked), and max_norm's canonical order
 * (every run gives the bits of the definition written out). */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embsimd.h"
#include "gen.h"
#include "ieee.h"
#include "reference.h"
#include "verify.h"

/* What the section counts over every case and run. */
typedef struct layer_tally {
    uint64_t calls, failed;
    /* fused lookup: elements; equal to the definition (lookup + lookup,
     * one add); inside the domain, and of those equal to the dense sum;
     * outside it, equal to the dense sum's model anyway */
    uint64_t lk_elems, lk_def, lk_domain, lk_domain_equal, lk_outside_as_dense;
    /* fused grad, both tables: elements of named rows; equal to the
     * scatter-add's definition; where the dense product's model agrees
     * with it, how many, and of those equal to the dense product */
    uint64_t gr_elems, gr_def, gr_agree, gr_agree_equal;
    uint64_t pad_elems, pad_def, pad_agree, pad_agree_equal, pad_runs, pad_row_kept;
    uint64_t rn_rows, rn_equal; /* max_norm */
    char first[256];
} layer_tally;

static void fail_first(layer_tally *t, const char *fmt, ...) VF_PRINTF(2, 3);
static void fail_first(layer_tally *t, const char *fmt, ...)
{
    t->failed++;
    if (t->first[0] != '\0')
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->first, sizeof t->first, fmt, ap);
    va_end(ap);
}

enum { VOCAB = 37, MAX_POS = 9, N = 50, SEQ = 8, OFFSET = 1 };

static int32_t pos_of(int64_t i) { return OFFSET + (int32_t)(i % SEQ); }

/* The fused lookup on one run: every element against the model (outside
 * the domain) and against the dense sum one-hot x W + one-hot x P (inside),
 * the dense rows formed literally in the forward order. */
static void check_lookup(const vf_table *w, const vf_table *p, const int32_t *ids,
                         const char *label, layer_tally *t)
{
    const int64_t dim = w->dim;
    float *out = malloc((size_t)(N * dim) * sizeof(float));
    float *dw = malloc((size_t)dim * sizeof(float)), *dp = malloc((size_t)dim * sizeof(float));
    float *scratch = malloc((size_t)(VOCAB + MAX_POS + 64) * sizeof(float));
    if (out == NULL || dw == NULL || dp == NULL || scratch == NULL) {
        fail_first(t, "%s: out of memory", label);
        goto done;
    }
    const emb_positions pos = {NULL, OFFSET, SEQ};
    t->calls++;
    if (emb_lookup_pos(w->raw, w->type, VOCAB, dim, ids, EMB_I32, N, p->raw, EMB_F32, MAX_POS,
                       &pos, out) != EMB_OK) {
        fail_first(t, "%s: emb_lookup_pos failed: %s", label, emb_last_error());
        goto done;
    }
    const uint32_t dnan = vf_default_nan();
    for (int64_t i = 0; i < N; i++) {
        vf_dense_lookup_row(w, ids[i], VF_ORDER_FORWARD, scratch, dw);
        vf_dense_lookup_row(p, pos_of(i), VF_ORDER_FORWARD, scratch, dp);
        for (int64_t j = 0; j < dim; j++) {
            int in_w, in_p;
            const vf_val mw = vf_model_lookup(w, ids[i], j, dnan, &in_w);
            const vf_val mp = vf_model_lookup(p, pos_of(i), j, dnan, &in_p);
            const uint32_t got = vf_bits(out[i * dim + j]);
            /* The definition: the two rows' elements, added once. */
            const vf_val def = vf_add(vf_val_of(vf_bits(w->data[ids[i] * dim + j])),
                                      vf_val_of(vf_bits(p->data[pos_of(i) * dim + j])));
            t->lk_elems++;
            if (vf_matches(got, def))
                t->lk_def++;
            else
                fail_first(t, "%s: lookup_pos element %lld is 0x%08x, the definition 0x%08x",
                           label, (long long)(i * dim + j), got, def.bits);
            volatile float dense = dw[j] + dp[j];
            if (in_w && in_p) {
                t->lk_domain++;
                if (got == vf_bits(dense))
                    t->lk_domain_equal++;
                else
                    fail_first(t, "%s: lookup_pos element %lld, inside the domain, is 0x%08x, "
                               "the dense sum 0x%08x", label, (long long)(i * dim + j), got,
                               vf_bits(dense));
            } else if (vf_matches(got, vf_add(mw, mp))) {
                t->lk_outside_as_dense++;
            }
        }
    }
done:
    free(out), free(dw), free(dp), free(scratch);
}

/* The scatter-add's definition for row k: prior plus the named tokens'
 * dout rows in token order, one add each (two NaNs: payload open). */
static void scatter_model_row(const float *prior, int64_t dim, const int32_t *ids, int64_t k,
                              const float *dout, vf_val *out)
{
    for (int64_t j = 0; j < dim; j++)
        out[j] = vf_val_of(vf_bits(prior[j]));
    for (int64_t i = 0; i < N; i++)
        if (ids[i] == k)
            for (int64_t j = 0; j < dim; j++)
                out[j] = vf_add(out[j], vf_val_of(vf_bits(dout[i * dim + j])));
}

/* Rows of a table after a scatter-add (ids per token; -1 names no row):
 * every element of a named row against the definition, and, where the
 * model of prior + one-hot^T x dout (every product formed) predicts the
 * same bits as the definition, against the dense product itself. Rows no
 * token names must keep their bits. */
typedef struct row_counts {
    uint64_t *elems, *def, *agree, *agree_equal;
} row_counts;

static void check_rows(const float *prior, const float *got, int64_t rows, int64_t dim,
                       const int32_t *ids, const float *dout, const char *label, row_counts c,
                       layer_tally *t)
{
    const uint32_t dnan = vf_default_nan();
    vf_val *model = malloc((size_t)dim * sizeof *model), *def = malloc((size_t)dim * sizeof *def);
    float *dense = malloc((size_t)dim * sizeof(float)), *scratch = malloc((size_t)N * sizeof(float));
    if (model == NULL || def == NULL || dense == NULL || scratch == NULL) {
        fail_first(t, "%s: out of memory", label);
        free(model), free(def), free(dense), free(scratch);
        return;
    }
    for (int64_t k = 0; k < rows; k++) {
        int named = 0;
        for (int64_t i = 0; i < N; i++)
            named |= ids[i] == k;
        if (!named) {
            if (memcmp(prior + k * dim, got + k * dim, (size_t)dim * sizeof(float)) != 0)
                fail_first(t, "%s: row %lld, which no token names, was written", label,
                           (long long)k);
            continue;
        }
        scatter_model_row(prior + k * dim, dim, ids, k, dout, def);
        vf_model_grad_row(prior + k * dim, dim, ids, N, k, dout, dnan, model);
        vf_dense_grad_row(prior + k * dim, dim, ids, N, k, dout, 0, scratch, dense);
        for (int64_t j = 0; j < dim; j++) {
            const uint32_t g = vf_bits(got[k * dim + j]);
            (*c.elems)++;
            if (vf_matches(g, def[j]))
                (*c.def)++;
            else
                fail_first(t, "%s: row %lld element %lld is 0x%08x, the scatter-add 0x%08x",
                           label, (long long)k, (long long)j, g, def[j].bits);
            if (!model[j].loose && !def[j].loose && model[j].bits == def[j].bits) {
                (*c.agree)++;
                if (g == vf_bits(dense[j]))
                    (*c.agree_equal)++;
                else
                    fail_first(t, "%s: row %lld element %lld is 0x%08x, the dense product "
                               "0x%08x", label, (long long)k, (long long)j, g, vf_bits(dense[j]));
            }
        }
    }
    free(model), free(def), free(dense), free(scratch);
}

/* The fused gradient and padding_idx on one run (f32 tables and dout). */
static void check_grads(const vf_table *w, const vf_table *p, const float *dout,
                        const int32_t *ids, const char *label, layer_tally *t)
{
    const int64_t dim = w->dim;
    const size_t wb = (size_t)(VOCAB * dim) * sizeof(float), pb = (size_t)(MAX_POS * dim) * sizeof(float);
    float *gw = malloc(wb), *gp = malloc(pb);
    int32_t pos[N], masked[N];
    if (gw == NULL || gp == NULL) {
        fail_first(t, "%s: out of memory", label);
        free(gw), free(gp);
        return;
    }
    for (int64_t i = 0; i < N; i++)
        pos[i] = pos_of(i);
    memcpy(gw, w->data, wb);
    memcpy(gp, p->data, pb);
    const emb_positions ps = {NULL, OFFSET, SEQ};
    t->calls++;
    if (emb_grad_pos(gw, VOCAB, gp, MAX_POS, dim, ids, EMB_I32, N, &ps, dout, EMB_F32, NULL) !=
        EMB_OK) {
        fail_first(t, "%s: emb_grad_pos failed: %s", label, emb_last_error());
    } else {
        const row_counts c = {&t->gr_elems, &t->gr_def, &t->gr_agree, &t->gr_agree_equal};
        check_rows(w->data, gw, VOCAB, dim, ids, dout, label, c, t);
        check_rows(p->data, gp, MAX_POS, dim, pos, dout, label, c, t);
    }
    /* padding_idx = the first token's row: its column of one-hot(ids) is
     * masked (those tokens name no row), and the row keeps its bits. */
    const int32_t pad = ids[0];
    for (int64_t i = 0; i < N; i++)
        masked[i] = ids[i] == pad ? -1 : ids[i];
    memcpy(gw, w->data, wb);
    const emb_grad_options opt = {pad, 0};
    t->calls++;
    t->pad_runs++;
    if (emb_grad_ex(gw, VOCAB, dim, ids, EMB_I32, N, dout, EMB_F32, &opt) != EMB_OK) {
        fail_first(t, "%s: emb_grad_ex failed: %s", label, emb_last_error());
    } else {
        const row_counts c = {&t->pad_elems, &t->pad_def, &t->pad_agree, &t->pad_agree_equal};
        check_rows(w->data, gw, VOCAB, dim, masked, dout, label, c, t);
        if (memcmp(gw + pad * dim, w->data + pad * dim, (size_t)dim * sizeof(float)) == 0)
            t->pad_row_kept++;
        else
            fail_first(t, "%s: the padding row %d was written", label, (int)pad);
    }
    free(gw), free(gp);
}

/* max_norm: each run's rescaled rows against the definition written out
 * (reference.c), for p = 2, 1 and 3. */
static void check_renorm(const vf_table *w, const int32_t *ids, const char *label, layer_tally *t)
{
    const int64_t dim = w->dim;
    const size_t wb = (size_t)(VOCAB * dim) * sizeof(float);
    float *got = malloc(wb), *want = malloc(wb);
    static const double ps[] = {2.0, 1.0, 3.0};
    for (size_t q = 0; got != NULL && want != NULL && q < sizeof ps / sizeof ps[0]; q++) {
        memcpy(got, w->data, wb);
        memcpy(want, w->data, wb);
        const double max_norm = 1.0;
        t->calls++;
        if (emb_renorm(got, EMB_F32, VOCAB, dim, ids, EMB_I32, N, max_norm, ps[q]) != EMB_OK ||
            ref_renorm(want, EMB_F32, VOCAB, dim, ids, EMB_I32, N, max_norm, ps[q]) != 0) {
            fail_first(t, "%s: emb_renorm failed: %s", label, emb_last_error());
            continue;
        }
        for (int64_t k = 0; k < VOCAB; k++) {
            t->rn_rows++;
            if (memcmp(got + k * dim, want + k * dim, (size_t)dim * sizeof(float)) == 0)
                t->rn_equal++;
            else
                fail_first(t, "%s: emb_renorm row %lld differs from the definition", label,
                           (long long)k);
        }
    }
    free(got), free(want);
}

void vf_section_layer(vf_report *r, const vf_config *cfg)
{
    vf_report_section(r, "F", "the embedding layer: token + position, padding_idx, max_norm");
    vf_report_text(r, "Fused lookup: out = one-hot(ids) x W + one-hot(pos) x P, one fp32 add; "
                      "inside the domain (both columns");
    vf_report_text(r, "finite, neither selected entry -0) bit for bit against the dense sum, "
                      "everywhere against its");
    vf_report_text(r, "definition (the two rows' elements, added once). Fused gradient: both "
                      "tables against the scatter-adds,");
    vf_report_text(r, "and against prior + one-hot^T x dout wherever that product's model "
                      "agrees with them. padding_idx:");
    vf_report_text(r, "the same with the padding row's column masked, and the row itself "
                      "unwritten.");
    vf_report_text(r, "max_norm: every run equal to the definition in the canonical order "
                      "(reduce.h) written out.");
    layer_tally t;
    memset(&t, 0, sizeof t);
    /* The token tables: every type with a fused lookup (emb_kernel_at), in
     * the list's order, each one the model knows. */
    emb_type types[VF_MAX_KERNELS];
    size_t n_types = 0;
    for (int k = 0; k < emb_kernel_count() && n_types < VF_MAX_KERNELS; k++)
        if (emb_kernel_at(k)->op == EMB_OP_LOOKUP_POS && vf_format_known(emb_kernel_at(k)->in))
            types[n_types++] = emb_kernel_at(k)->in;
    const int kinds = VF_TABLE_KIND_COUNT;
    uint64_t step = 0, steps = (uint64_t)kinds * n_types * (uint64_t)cfg->n_runs;
    for (int kind = 0; kind < kinds; kind++) {
        for (size_t ty = 0; ty < n_types; ty++) {
            /* 67, an odd dim, for the element types; the blocked ones the
             * whole blocks below it (64 for q8_0 and q4_0), or one block
             * (256 for q4_K and q6_K). */
            vf_format f = {1, 4, 0, 32, 0, {0, 0}};
            vf_format_of(types[ty], &f);
            const int64_t dim = f.block == 1 ? 67 : 67 / f.block > 0 ? 67 / f.block * f.block
                                                                     : f.block;
            const uint64_t seed = cfg->seed * 1000003u + 0xF00 + (uint64_t)kind * 16 + ty;
            vf_table w, p;
            memset(&w, 0, sizeof w);
            memset(&p, 0, sizeof p);
            if (vf_table_init_type(&w, types[ty], (vf_table_kind)kind, VOCAB, dim, seed) != 0 ||
                vf_table_init(&p, (vf_table_kind)kind, MAX_POS, dim, seed + 1) != 0) {
                vf_report_line(r, VF_FAIL, emb_type_name(types[ty]), "cannot build the tables");
                vf_table_free(&w);
                vf_table_free(&p);
                continue;
            }
            gen_rng g = gen_seed(seed + 2);
            int32_t ids[N];
            gen_ids(&g, ids, N, VOCAB, GEN_IDS_ZIPF);
            float *dout = malloc((size_t)(N * dim) * sizeof(float));
            if (dout != NULL)
                vf_fill(&g, (vf_table_kind)kind, dout, N, dim);
            for (int run = 0; run < cfg->n_runs; run++, step++) {
                vf_progress("F layer", step, steps);
                char label[96], rl[48];
                vf_run_label(&cfg->runs[run], rl, sizeof rl);
                snprintf(label, sizeof label, "%s %s table, %s", vf_table_kind_name((vf_table_kind)kind),
                         emb_type_name(types[ty]), rl);
                if (vf_run_select(&cfg->runs[run]) != 0) {
                    fail_first(&t, "%s: cannot select the run", label);
                    continue;
                }
                check_lookup(&w, &p, ids, label, &t);
                if (types[ty] == EMB_F32 && dout != NULL) {
                    check_grads(&w, &p, dout, ids, label, &t);
                    check_renorm(&w, ids, label, &t);
                }
            }
            free(dout);
            vf_table_free(&w);
            vf_table_free(&p);
        }
    }
    vf_progress_done();
    const int lk_ok = t.lk_def == t.lk_elems && t.lk_domain_equal == t.lk_domain &&
                      t.lk_domain > 0;
    vf_report_line(r, lk_ok ? VF_PASS : VF_FAIL, "lookup_pos",
                   "%llu elements, every table type and kind, every run: %llu equal to the "
                   "definition; %llu inside the domain, %llu of them equal to the dense sum",
                   (unsigned long long)t.lk_elems, (unsigned long long)t.lk_def,
                   (unsigned long long)t.lk_domain, (unsigned long long)t.lk_domain_equal);
    vf_report_num(r, "elements", t.lk_elems);
    vf_report_num(r, "domain", t.lk_domain);
    vf_report_num(r, "domain_equal", t.lk_domain_equal);
    vf_report_line(r, VF_INFO, "", "finding: of %llu elements outside the domain, %llu are "
                   "what the dense sum's model gives anyway (the rest: -0 -> +0, NaN from a "
                   "non-finite column)",
                   (unsigned long long)(t.lk_elems - t.lk_domain),
                   (unsigned long long)t.lk_outside_as_dense);
    vf_report_line(r, t.gr_def == t.gr_elems && t.gr_agree_equal == t.gr_agree && t.gr_agree > 0
                          ? VF_PASS : VF_FAIL, "grad_pos",
                   "%llu elements of named rows of both tables: %llu equal to the two "
                   "scatter-adds; %llu where the dense product's model agrees with them, "
                   "%llu of those equal to the dense product", (unsigned long long)t.gr_elems,
                   (unsigned long long)t.gr_def, (unsigned long long)t.gr_agree,
                   (unsigned long long)t.gr_agree_equal);
    vf_report_num(r, "elements", t.gr_elems);
    vf_report_line(r, t.pad_def == t.pad_elems && t.pad_agree_equal == t.pad_agree &&
                          t.pad_agree > 0 && t.pad_row_kept == t.pad_runs ? VF_PASS : VF_FAIL,
                   "padding_idx",
                   "%llu elements: %llu equal to the scatter-add with the padding column "
                   "masked, %llu of %llu equal to the masked dense product where its model "
                   "agrees; the padding row kept its bits in %llu of %llu runs",
                   (unsigned long long)t.pad_elems, (unsigned long long)t.pad_def,
                   (unsigned long long)t.pad_agree_equal, (unsigned long long)t.pad_agree,
                   (unsigned long long)t.pad_row_kept, (unsigned long long)t.pad_runs);
    vf_report_line(r, t.rn_equal == t.rn_rows && t.rn_rows > 0 ? VF_PASS : VF_FAIL, "max_norm",
                   "%llu rows (p = 2, 1, 3) over every run: %llu bit-identical to the "
                   "definition", (unsigned long long)t.rn_rows, (unsigned long long)t.rn_equal);
    if (t.failed)
        vf_report_line(r, VF_FAIL, "first", "%s (%llu failures)", t.first,
                       (unsigned long long)t.failed);
    vf_report_end_section(r);
}
