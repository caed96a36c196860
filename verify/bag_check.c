/* bag_check.c - section H of embsimd-verify: EmbeddingBag's theorem. With
 * the dense product's terms summed in each bag's token order, the bag sum
 * equals B x to_f32(W) bit for bit (B[m][k] counts the occurrences of row k
 * in bag m), the weighted bag B_w x to_f32(W), the mean that product over
 * the count; for every table type, implementation and thread count. The
 * model is the dense product itself, over every row of the vocabulary, and
 * the table's values come from the formats' definitions (formats.h), not
 * from the library. Findings: how often a GEMM's vocabulary order differs,
 * by how many ulps; the fused steps against the scalar implementation
 * (bit for bit) and against FBGEMM's formula in double precision. */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "verify.h"

/* Distance in units in the last place of two finite floats (their places
 * in the ordered line of fp32 values). */
static uint64_t ulps(float a, float b)
{
    uint32_t ua, ub;
    memcpy(&ua, &a, 4);
    memcpy(&ub, &b, 4);
    const int64_t oa = (ua & 0x80000000u) ? -(int64_t)(ua & 0x7fffffffu) : (int64_t)ua;
    const int64_t ob = (ub & 0x80000000u) ? -(int64_t)(ub & 0x7fffffffu) : (int64_t)ub;
    return (uint64_t)(oa > ob ? oa - ob : ob - oa);
}

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

typedef struct bag_case {
    int64_t vocab, dim, nbags, n;
    int64_t *len, *ids; /* int64 ids; lengths */
    float *w;           /* per-sample weights */
    float *dense, *dense_w, *dense_mean, *gemm; /* nbags x dim */
} bag_case;

static void free_case(bag_case *c)
{
    free(c->len);
    free(c->ids);
    free(c->w);
    free(c->dense);
    free(c->dense_w);
    free(c->dense_mean);
    free(c->gemm);
}

/* Bags of 0 .. 2 * mean_len Zipf ids: frequent rows repeat within a bag. */
static int make_case(bag_case *c, int64_t vocab, int64_t dim, int64_t nbags, int64_t mean_len,
                     gen_rng *r)
{
    memset(c, 0, sizeof *c);
    c->vocab = vocab;
    c->dim = dim;
    c->nbags = nbags;
    c->len = malloc((size_t)nbags * sizeof(int64_t));
    if (c->len == NULL)
        return -1;
    for (int64_t b = 0; b < nbags; b++) {
        c->len[b] = (int64_t)gen_below(r, (uint64_t)(2 * mean_len + 1));
        c->n += c->len[b];
    }
    const size_t out = (size_t)(nbags * dim);
    int32_t *ids32 = malloc((size_t)(c->n + 1) * sizeof(int32_t));
    c->ids = malloc((size_t)(c->n + 1) * sizeof(int64_t));
    c->w = malloc((size_t)(c->n + 1) * sizeof(float));
    c->dense = malloc(out * sizeof(float));
    c->dense_w = malloc(out * sizeof(float));
    c->dense_mean = malloc(out * sizeof(float));
    c->gemm = malloc(out * sizeof(float));
    if (ids32 == NULL || c->ids == NULL || c->w == NULL || c->dense == NULL ||
        c->dense_w == NULL || c->dense_mean == NULL || c->gemm == NULL) {
        free(ids32);
        return -1;
    }
    gen_ids(r, ids32, (size_t)c->n + 1, vocab, GEN_IDS_ZIPF);
    for (int64_t i = 0; i <= c->n; i++)
        c->ids[i] = ids32[i];
    free(ids32);
    gen_fill_finite(r, c->w, (size_t)c->n + 1);
    return 0;
}

/* The dense products of a finite W (to_f32 by the model). Row m of B has
 * the bag's tokens as unit terms 1 * W[k][j], in token order (an entry
 * counting c occurrences is c terms, at its tokens' places), then a term
 * 0 * W[k][j] for every row k the bag does not name, in vocabulary order:
 * every entry of the dense row, none skipped. B_w has w[t] * W[k][j] at
 * token t, fused (fmaf), as FBGEMM's reference. The GEMM order instead
 * takes k = 0 .. vocab - 1, each term B[m][k] * W[k][j] rounded once. */
static void dense_products(bag_case *c, const float *W)
{
    const int64_t dim = c->dim, vocab = c->vocab;
    int64_t *count = calloc((size_t)vocab, sizeof(int64_t));
    int64_t s = 0;
    for (int64_t b = 0; b < c->nbags; b++) {
        const int64_t e = s + c->len[b];
        for (int64_t t = s; t < e; t++)
            count[c->ids[t]]++;
        for (int64_t j = 0; j < dim; j++) {
            volatile float acc = 0.0f, accw = 0.0f, gemm = 0.0f;
            for (int64_t t = s; t < e; t++) {
                const float x = W[c->ids[t] * dim + j];
                volatile float term = 1.0f * x;
                acc = acc + term;
                accw = fmaf(c->w[t], x, accw);
            }
            for (int64_t k = 0; k < vocab; k++) {
                const float x = W[k * dim + j];
                volatile float p = (float)count[k] * x;
                gemm = gemm + p;
                if (count[k] == 0) {
                    volatile float z = 0.0f * x;
                    acc = acc + z;
                    accw = accw + z;
                }
            }
            c->dense[b * dim + j] = acc;
            c->dense_w[b * dim + j] = accw;
            volatile float mean = c->len[b] > 0 ? acc / (float)c->len[b] : acc;
            c->dense_mean[b * dim + j] = mean;
            c->gemm[b * dim + j] = gemm;
        }
        for (int64_t t = s; t < e; t++)
            count[c->ids[t]] = 0;
        s = e;
    }
    free(count);
}

typedef struct bag_tally {
    uint64_t compared, mismatched, runs;
    char first[320];
} bag_tally;

static void compare_out(bag_tally *t, const float *got, const float *want, size_t count,
                        const char *what)
{
    for (size_t i = 0; i < count; i++) {
        t->compared++;
        if (!same_bits(got[i], want[i])) {
            if (t->mismatched++ == 0) {
                char v[96];
                snprintf(v, sizeof v, "element %zu is %a, B x W gives %a", i, (double)got[i],
                         (double)want[i]);
                snprintf(t->first, sizeof t->first, "%.150s: %s", what, v);
            }
        }
    }
}

/* One table type: the theorem's three forms, every run. */
static int type_theorem(const vf_config *cfg, emb_type type, bag_tally *t,
                        uint64_t *gemm_diff, uint64_t *gemm_total, uint64_t *gemm_max_ulps)
{
    static const int64_t shapes[][4] = {
        /* vocab, dim, bags, mean bag size */
        {1000, 64, 120, 20}, {50, 96, 40, 100}, {5000, 128, 300, 1}, {257, 32, 64, 50}};
    const int n_shapes = cfg->mode == VF_MODE_QUICK || cfg->emulated ? 2 : 4;
    for (int s = 0; s < n_shapes; s++) {
        gen_rng rng = gen_seed(cfg->seed * 0x9E37u + (uint64_t)s * 131 + (uint64_t)type);
        vf_table table;
        if (vf_table_init_type(&table, type, VF_TABLE_FINITE, shapes[s][0], shapes[s][1],
                               cfg->seed + (uint64_t)s) != 0)
            return -1;
        bag_case c;
        if (make_case(&c, shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3], &rng) != 0) {
            free_case(&c);
            vf_table_free(&table);
            return -1;
        }
        dense_products(&c, table.data);
        const size_t count = (size_t)(c.nbags * c.dim);
        for (size_t i = 0; i < count; i++) {
            if (!same_bits(c.gemm[i], c.dense[i])) {
                (*gemm_diff)++;
                const uint64_t u = ulps(c.gemm[i], c.dense[i]);
                *gemm_max_ulps = u > *gemm_max_ulps ? u : *gemm_max_ulps;
            }
            (*gemm_total)++;
        }
        float *out = malloc(count * sizeof(float));
        if (out == NULL) {
            free_case(&c);
            vf_table_free(&table);
            return -1;
        }
        for (int i = 0; i < cfg->n_runs; i++) {
            if (vf_run_select(&cfg->runs[i]) != 0)
                continue;
            char label[64], what[160];
            vf_run_label(&cfg->runs[i], label, sizeof label);
            for (int form = 0; form < 3; form++) {
                emb_bags bags = {c.nbags, NULL, c.len, EMB_I64, 0, form == 1 ? c.w : NULL,
                                 EMB_NO_PADDING};
                memset(out, 0xCD, count * sizeof(float));
                const emb_status st =
                    emb_bag(table.raw, type, c.vocab, c.dim, c.ids, EMB_I64, c.n, &bags,
                            form == 2 ? EMB_BAG_MEAN : EMB_BAG_SUM, out, NULL);
                snprintf(what, sizeof what, "%s, %s, %lld x %lld, %s", emb_type_name(type),
                         form == 0 ? "sum" : form == 1 ? "weighted" : "mean",
                         (long long)c.vocab, (long long)c.dim, label);
                if (st != EMB_OK) {
                    t->mismatched++;
                    snprintf(t->first, sizeof t->first, "%.150s: %.160s", what, emb_last_error());
                    continue;
                }
                compare_out(t, out, form == 0 ? c.dense : form == 1 ? c.dense_w : c.dense_mean,
                            count, what);
            }
            t->runs++;
        }
        free(out);
        free_case(&c);
        vf_table_free(&table);
    }
    return 0;
}

/* ---- the fused steps -------------------------------------------------------- */

/* FBGEMM's rowwise_sparse_adagrad_fused, per occurrence, in double:
 * h += mean(g^2); w += g * (-lr / (sqrt(h) + eps)) (learning_rate = -lr). */
static void adagrad_double(double *W, double *h, const bag_case *c, const float *dout, double lr,
                           double eps)
{
    const int64_t dim = c->dim;
    int64_t s = 0;
    for (int64_t b = 0; b < c->nbags; b++) {
        const int64_t e = s + c->len[b];
        for (int64_t t = s; t < e; t++) {
            const int64_t id = c->ids[t];
            double sum = 0;
            for (int64_t j = 0; j < dim; j++)
                sum += (double)dout[b * dim + j] * dout[b * dim + j];
            h[id] += sum / (double)dim;
            const double step = -lr / (sqrt(h[id]) + eps);
            for (int64_t j = 0; j < dim; j++)
                W[id * dim + j] += dout[b * dim + j] * step;
        }
        s = e;
    }
}

/* A random sign times [1, 2) x 2^-(lo .. lo + span - 1). */
static float everyday(gen_rng *r, int lo, int span)
{
    const float m = 1.0f + (float)gen_below(r, 1u << 20) / (float)(1u << 20);
    return ldexpf(m, -lo - (int)gen_below(r, (uint64_t)span)) * (gen_below(r, 2) ? -1.0f : 1.0f);
}

/* One update per row (bags of one distinct row each): the rounding of a
 * single fp32 step against FBGEMM's formula in double, with nothing
 * accumulated across updates. */
static void one_update_each(vf_report *r, const float *W0, const float *dout, int64_t vocab,
                            int64_t dim, int64_t nbags, int scalar)
{
    bag_case c;
    memset(&c, 0, sizeof c);
    c.vocab = vocab;
    c.dim = dim;
    c.nbags = nbags;
    c.n = nbags;
    c.len = malloc((size_t)nbags * sizeof(int64_t));
    c.ids = malloc((size_t)nbags * sizeof(int64_t));
    float *W = malloc((size_t)(vocab * dim) * sizeof(float));
    float *h = calloc((size_t)vocab, sizeof(float));
    double *Wd = malloc((size_t)(vocab * dim) * sizeof(double));
    double *hd = calloc((size_t)vocab, sizeof(double));
    const vf_run sr = {scalar, 1};
    if (c.len && c.ids && W && h && Wd && hd && vf_run_select(&sr) == 0) {
        for (int64_t b = 0; b < nbags; b++) {
            c.len[b] = 1;
            c.ids[b] = (b * 7919) % vocab; /* distinct while nbags <= vocab */
        }
        memcpy(W, W0, (size_t)(vocab * dim) * sizeof(float));
        for (int64_t i = 0; i < vocab * dim; i++)
            Wd[i] = W0[i];
        const emb_bags bags = {nbags, NULL, c.len, EMB_I64, 0, NULL, EMB_NO_PADDING};
        const emb_step st = {EMB_OPT_ROWWISE_ADAGRAD, 0.05f, 1e-8f, h, 0};
        if (emb_bag_update(W, EMB_F32, vocab, dim, c.ids, EMB_I64, nbags, &bags, EMB_BAG_SUM, dout, &st) ==
            EMB_OK) {
            adagrad_double(Wd, hd, &c, dout, 0.05, 1e-8);
            uint64_t worst = 0, differ = 0;
            for (int64_t i = 0; i < vocab * dim; i++) {
                const uint64_t u = ulps(W[i], (float)Wd[i]);
                differ += u != 0;
                worst = u > worst ? u : worst;
            }
            vf_report_line(r, VF_INFO, "vs FBGEMM",
                           "one update per row (%lld rows): %llu of %lld weights differ from the "
                           "double formula, by at most %llu ulp", (long long)nbags,
                           (unsigned long long)differ, (long long)(nbags * dim),
                           (unsigned long long)worst);
            vf_report_num(r, "max_ulps", worst);
        }
    }
    free(W);
    free(h);
    free(Wd);
    free(hd);
    free_case(&c);
}

static void steps(vf_report *r, const vf_config *cfg)
{
    const int64_t vocab = 2000, dim = 96;
    gen_rng rng = gen_seed(cfg->seed ^ 0xADA6u);
    bag_case c;
    if (make_case(&c, vocab, dim, 200, 10, &rng) != 0) {
        free_case(&c);
        vf_report_line(r, VF_FAIL, "memory", "out of memory");
        return;
    }
    const size_t wn = (size_t)(vocab * dim), dn = (size_t)(c.nbags * dim);
    float *W0 = malloc(wn * sizeof(float)), *dout = malloc(dn * sizeof(float));
    float *ref = malloc(wn * sizeof(float)), *got = malloc(wn * sizeof(float));
    float *h_ref = malloc((size_t)vocab * sizeof(float)), *h = malloc((size_t)vocab * sizeof(float));
    double *Wd = malloc(wn * sizeof(double)), *hd = calloc((size_t)vocab, sizeof(double));
    if (!W0 || !dout || !ref || !got || !h_ref || !h || !Wd || !hd) {
        vf_report_line(r, VF_FAIL, "memory", "out of memory");
        goto done;
    }
    /* Weights and gradients of everyday sizes: |w| in [2^-5, 1], |g| in
     * [2^-13, 2^-4]. */
    for (size_t i = 0; i < wn; i++)
        W0[i] = everyday(&rng, 0, 5);
    for (size_t i = 0; i < dn; i++)
        dout[i] = everyday(&rng, 4, 9);
    int scalar = -1;
    for (int i = 0; i < emb_impl_count(); i++)
        if (strcmp(emb_impl_name(i), "scalar") == 0)
            scalar = i;
    const emb_bags bags = {c.nbags, NULL, c.len, EMB_I64, 0, NULL, EMB_NO_PADDING};
    for (int opt = 0; opt < 2; opt++)
        for (int coalesce = 0; coalesce < 2; coalesce++) {
            const char *name = opt ? "row-wise Adagrad" : "SGD";
            emb_step st = {opt ? EMB_OPT_ROWWISE_ADAGRAD : EMB_OPT_SGD, 0.05f, 1e-8f, h_ref,
                           coalesce};
            memcpy(ref, W0, wn * sizeof(float));
            memset(h_ref, 0, (size_t)vocab * sizeof(float));
            const vf_run sr = {scalar, 1};
            if (vf_run_select(&sr) != 0 ||
                emb_bag_update(ref, EMB_F32, vocab, dim, c.ids, EMB_I64, c.n, &bags, EMB_BAG_SUM, dout,
                               &st) != EMB_OK) {
                vf_report_line(r, VF_FAIL, name, "the scalar step failed: %s", emb_last_error());
                continue;
            }
            uint64_t bad = 0, runs = 0;
            char first[160] = "";
            for (int i = 0; i < cfg->n_runs; i++) {
                if (vf_run_select(&cfg->runs[i]) != 0)
                    continue;
                memcpy(got, W0, wn * sizeof(float));
                memset(h, 0, (size_t)vocab * sizeof(float));
                st.h = h;
                if (emb_bag_update(got, EMB_F32, vocab, dim, c.ids, EMB_I64, c.n, &bags, EMB_BAG_SUM, dout,
                                   &st) != EMB_OK ||
                    memcmp(got, ref, wn * sizeof(float)) != 0 ||
                    (opt && memcmp(h, h_ref, (size_t)vocab * sizeof(float)) != 0)) {
                    if (bad++ == 0)
                        vf_run_label(&cfg->runs[i], first, sizeof first);
                }
                runs++;
            }
            vf_report_line(r, bad ? VF_FAIL : VF_PASS, name,
                           "%s: %llu runs x %lld rows x %lld: %s", coalesce ? "coalesced"
                                                                             : "per occurrence",
                           (unsigned long long)runs, (long long)vocab, (long long)dim,
                           bad ? "differs from scalar, first under" : "bit-identical to scalar");
            if (bad)
                vf_report_str(r, "first", first);
            if (opt && !coalesce) {
                for (size_t i = 0; i < wn; i++)
                    Wd[i] = W0[i];
                memset(hd, 0, (size_t)vocab * sizeof(double));
                adagrad_double(Wd, hd, &c, dout, 0.05, 1e-8);
                uint64_t worst = 0, differ = 0;
                for (size_t i = 0; i < wn; i++) {
                    const uint64_t u = ulps(ref[i], (float)Wd[i]);
                    differ += u != 0;
                    worst = u > worst ? u : worst;
                }
                vf_report_line(r, VF_INFO, "vs FBGEMM",
                               "row-wise Adagrad per occurrence against FBGEMM's formula in "
                               "double (rounded to fp32 once at the end): %llu of %zu weights "
                               "differ, by at most %llu ulp",
                               (unsigned long long)differ, wn, (unsigned long long)worst);
                vf_report_num(r, "max_ulps", worst);
                vf_report_num(r, "differ", differ);
                one_update_each(r, W0, dout, vocab, dim, c.nbags, scalar);
            }
        }
done:
    emb_set_num_threads(0);
    emb_use_impl(NULL);
    free(W0);
    free(dout);
    free(ref);
    free(got);
    free(h_ref);
    free(h);
    free(Wd);
    free(hd);
    free_case(&c);
}

void vf_section_bags(vf_report *r, const vf_config *cfg)
{
    vf_report_section(r, "H", "EmbeddingBag: bag_sum(W) = B x to_f32(W) in each bag's token "
                              "order; the fused optimizer steps");
    vf_report_text(r, "B[m][k] counts row k in bag m. The dense product sums, for every entry of "
                      "B's row, its terms: an entry counting c occurrences is c unit terms "
                      "1 * W[k][j] at its tokens' places in the bag, each entry 0 a term "
                      "0 * W[k][j] after them in vocabulary order. For a finite W every term "
                      "is exact (1 * w = w) and adding a zero term never changes the running "
                      "sum (w + (+-0) = w, and the sum, starting at +0, is never -0), so the "
                      "bag, which adds only its tokens' rows, must equal the product bit for "
                      "bit. B_w (weights) has fmaf(w[t], W[k][j], acc) at token t.");
    bag_tally t;
    memset(&t, 0, sizeof t);
    uint64_t gemm_diff = 0, gemm_total = 0, gemm_ulps = 0;
    for (int kk = 0; kk < emb_kernel_count(); kk++) {
        const emb_kernel *kn = emb_kernel_at(kk);
        if (kn->op != EMB_OP_BAG || !vf_format_known(kn->in))
            continue;
        bag_tally tt;
        memset(&tt, 0, sizeof tt);
        uint64_t gd = 0, gt = 0, gu = 0;
        if (type_theorem(cfg, kn->in, &tt, &gd, &gt, &gu) != 0) {
            vf_report_line(r, VF_FAIL, "memory", "out of memory");
            break;
        }
        vf_report_line(r, tt.mismatched ? VF_FAIL : VF_PASS, emb_type_name(kn->in),
                       "sum, weighted and mean bags = B x W, B_w x W, (B x W) / count: %llu "
                       "elements over %llu runs, %llu differ%s%s",
                       (unsigned long long)tt.compared, (unsigned long long)tt.runs,
                       (unsigned long long)tt.mismatched, tt.mismatched ? "; first: " : "",
                       tt.first);
        vf_report_num(r, "compared", tt.compared);
        vf_report_num(r, "mismatched", tt.mismatched);
        gemm_diff += gd;
        gemm_total += gt;
        gemm_ulps = gu > gemm_ulps ? gu : gemm_ulps;
    }
    vf_report_line(r, VF_INFO, "vocab order",
                   "finding: summed in vocabulary order with counts (what a plain GEMM does), "
                   "%llu of %llu bag elements (%.1f %%) differ from the token order, by at most "
                   "%llu ulp",
                   (unsigned long long)gemm_diff, (unsigned long long)gemm_total,
                   gemm_total ? 100.0 * (double)gemm_diff / (double)gemm_total : 0.0,
                   (unsigned long long)gemm_ulps);
    vf_report_num(r, "differ", gemm_diff);
    vf_report_num(r, "total", gemm_total);
    vf_report_num(r, "max_ulps", gemm_ulps);
    steps(r, cfg);
    emb_set_num_threads(0);
    emb_use_impl(NULL);
    vf_report_end_section(r);
}
