/* bag_check.c - section H of embsimd-verify: EmbeddingBag's theorem. With
 * the dense product's terms summed in each bag's token order, the bag sum
 * equals B x to_f32(W) bit for bit (B[m][k] counts the occurrences of row k
 * in bag m), the weighted bag B_w x to_f32(W), the mean that product over
 * the count; for every table type, implementation and thread count. The
 * model is the dense product itself, over every row of the vocabulary, and
 * the table's values come from the formats' definitions (formats.h), not
 * from the library. Findings: how often a GEMM's vocabulary order differs,
 * by how many ulps; the fused steps on f32, f16 and bf16 tables against
 * the scalar implementation (bit for bit), SGD on the 16-bit tables
 * against a model of rounding to nearest even, Adagrad's h against the f32
 * table's, the f32 steps against FBGEMM's formula in double precision;
 * quantized tables rejected with nothing written. */
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
    vf_format f = {1, 4, 0, 32, 0, {0, 0}};
    vf_format_of(type, &f);
    for (int s = 0; s < n_shapes; s++) {
        gen_rng rng = gen_seed(cfg->seed * 0x9E37u + (uint64_t)s * 131 + (uint64_t)type);
        /* The dim raised to whole blocks (q4_K, q6_K: 256). */
        const int64_t dim = (shapes[s][1] + f.block - 1) / f.block * f.block;
        vf_table table;
        if (vf_table_init_type(&table, type, VF_TABLE_FINITE, shapes[s][0], dim,
                               cfg->seed + (uint64_t)s) != 0)
            return -1;
        bag_case c;
        if (make_case(&c, shapes[s][0], dim, shapes[s][2], shapes[s][3], &rng) != 0) {
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
        if (emb_bag_update(W, EMB_F32, vocab, dim, c.ids, EMB_I64, nbags, &bags, EMB_BAG_SUM,
                           dout, &st) == EMB_OK) {
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

/* ---- the steps on 16-bit tables ------------------------------------------
 * The model of rounding to nearest even, from its definition rather than
 * from bit manipulation: x in double (exact), divided by the quantum of its
 * binade (digits significant bits, no finer than 2^min_exp: the subnormal
 * spacing), rounded to the nearest integer with ties to even (nearbyint in
 * the default mode), multiplied back: exact in double. */
static double round_to_format(double x, int digits, int min_exp)
{
    int e;
    frexp(x, &e); /* |x| = m * 2^e, m in [0.5, 1) */
    const int q = e - digits < min_exp ? min_exp : e - digits;
    return ldexp(nearbyint(ldexp(x, -q)), q);
}

/* A finite fp32 value as an f16 (11 digits, 2^-24 spacing, past 65504 Inf)
 * or bf16 (8 digits, fp32's exponent range) element. */
static uint16_t model_narrow(emb_type t, float x)
{
    const uint16_t sign = signbit(x) ? 0x8000u : 0u;
    if (t == EMB_BF16) {
        const double v = round_to_format(x, 8, -133);
        if (fabs(v) >= 0x1p128)
            return sign | 0x7F80u;
        return (uint16_t)(vf_bits((float)v) >> 16);
    }
    const double v = round_to_format(x, 11, -24);
    if (fabs(v) > 65504.0)
        return sign | 0x7C00u;
    return vf_narrow_f16(vf_bits((float)v)); /* exact: nothing below its digits */
}

static float model_get(emb_type t, const uint8_t *W, size_t i)
{
    if (t == EMB_F32)
        return vf_float_of(vf_le32(W + 4 * i));
    const uint16_t h = vf_le16(W + 2 * i);
    return vf_float_of(t == EMB_F16 ? vf_f16_to_f32(h) : vf_bf16_to_f32(h));
}

static void model_set(emb_type t, uint8_t *W, size_t i, float x)
{
    if (t == EMB_F32) {
        memcpy(W + 4 * i, &x, 4);
        return;
    }
    const uint16_t h = model_narrow(t, x);
    memcpy(W + 2 * i, &h, 2);
}

/* SGD on a table of type t as the API defines it: per occurrence, each
 * element widened, W = fmaf(-lr, g, W), rounded back after every token;
 * coalesced, G = +0 plus each token's g in order, then one update per
 * distinct row. */
static int sgd_model(emb_type t, uint8_t *W, const bag_case *c, const float *dout, float lr,
                     int coalesce)
{
    const int64_t dim = c->dim;
    float *G = coalesce ? calloc((size_t)(c->vocab * dim), sizeof(float)) : NULL;
    char *seen = coalesce ? calloc((size_t)c->vocab, 1) : NULL;
    if (coalesce && (G == NULL || seen == NULL)) {
        free(G);
        free(seen);
        return -1;
    }
    int64_t s = 0;
    for (int64_t b = 0; b < c->nbags; b++) {
        const int64_t e = s + c->len[b];
        for (int64_t tk = s; tk < e; tk++) {
            const int64_t id = c->ids[tk];
            for (int64_t j = 0; j < dim; j++) {
                const size_t i = (size_t)(id * dim + j);
                const float g = dout[b * dim + j];
                if (coalesce) {
                    volatile float sum = G[i] + g;
                    G[i] = sum;
                } else {
                    model_set(t, W, i, fmaf(-lr, g, model_get(t, W, i)));
                }
            }
            if (coalesce)
                seen[id] = 1;
        }
        s = e;
    }
    for (int64_t id = 0; coalesce && id < c->vocab; id++)
        for (int64_t j = 0; seen[id] && j < dim; j++) {
            const size_t i = (size_t)(id * dim + j);
            model_set(t, W, i, fmaf(-lr, G[i], model_get(t, W, i)));
        }
    free(G);
    free(seen);
    return 0;
}

/* The first element where two tables of type t differ, or -1. */
static int64_t first_difference(emb_type t, const uint8_t *a, const uint8_t *b, size_t count)
{
    const size_t es = t == EMB_F32 ? 4 : 2;
    for (size_t i = 0; i < count; i++)
        if (memcmp(a + es * i, b + es * i, es) != 0)
            return (int64_t)i;
    return -1;
}

/* The 16-bit tables' own checks, after the scalar step `ref` (and h_ref):
 * SGD against the model; Adagrad's h, which never depends on the table,
 * against the f32 table's. */
static void typed_step_model(vf_report *r, emb_type t, int opt, int coalesce, const bag_case *c,
                             const uint8_t *start, const uint8_t *ref, const float *h_ref,
                             const float *W0, const float *dout, emb_step st)
{
    const size_t wn = (size_t)(c->vocab * c->dim);
    const char *how = coalesce ? "coalesced" : "per occurrence";
    char name[64];
    snprintf(name, sizeof name, "%s %s", opt ? "row-wise Adagrad" : "SGD", emb_type_name(t));
    uint8_t *model = malloc(wn * 4);
    float *h = malloc((size_t)c->vocab * sizeof(float));
    if (model == NULL || h == NULL) {
        vf_report_line(r, VF_FAIL, "memory", "out of memory");
        goto done;
    }
    const emb_bags bags = {c->nbags, NULL, c->len, EMB_I64, 0, NULL, EMB_NO_PADDING};
    if (!opt) {
        memcpy(model, start, wn * 2);
        if (sgd_model(t, model, c, dout, st.lr, coalesce) != 0) {
            vf_report_line(r, VF_FAIL, "memory", "out of memory");
            goto done;
        }
        const int64_t d = first_difference(t, ref, model, wn);
        if (d >= 0)
            vf_report_line(r, VF_FAIL, name, "%s differs from the model at element %lld", how,
                           (long long)d);
        else
            vf_report_line(r, VF_PASS, name, "%s = the model (widen, fmaf(-lr, g, W), round to "
                           "nearest even after each update)", how);
        goto done;
    }
    memcpy(model, W0, wn * 4);
    memset(h, 0, (size_t)c->vocab * sizeof(float));
    st.h = h;
    if (emb_bag_update(model, EMB_F32, c->vocab, c->dim, c->ids, EMB_I64, c->n, &bags,
                       EMB_BAG_SUM, dout, &st) != EMB_OK) {
        vf_report_line(r, VF_FAIL, name, "the f32 step failed: %s", emb_last_error());
        goto done;
    }
    const int same = memcmp(h, h_ref, (size_t)c->vocab * sizeof(float)) == 0;
    vf_report_line(r, same ? VF_PASS : VF_FAIL, name, "%s: h bit-identical to the f32 table's "
                   "(it depends on the gradients only)%s", how, same ? "" : ": it differs");
done:
    free(model);
    free(h);
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
    uint8_t *start = malloc(wn * 4), *ref = malloc(wn * 4), *got = malloc(wn * 4);
    float *h_ref = malloc((size_t)vocab * sizeof(float)), *h = malloc((size_t)vocab * sizeof(float));
    double *Wd = malloc(wn * sizeof(double)), *hd = calloc((size_t)vocab, sizeof(double));
    if (!W0 || !dout || !start || !ref || !got || !h_ref || !h || !Wd || !hd) {
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
    static const emb_type types[] = {EMB_F32, EMB_F16, EMB_BF16};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const emb_type t = types[ti];
        const size_t tb = wn * (t == EMB_F32 ? 4 : 2);
        for (size_t i = 0; i < wn; i++) /* the 16-bit tables: W0 rounded to nearest */
            model_set(t, start, i, W0[i]);
        for (int opt = 0; opt < 2; opt++)
            for (int coalesce = 0; coalesce < 2; coalesce++) {
                char name[64];
                snprintf(name, sizeof name, "%s%s%s", opt ? "row-wise Adagrad" : "SGD",
                         t == EMB_F32 ? "" : " ", t == EMB_F32 ? "" : emb_type_name(t));
                emb_step st = {opt ? EMB_OPT_ROWWISE_ADAGRAD : EMB_OPT_SGD, 0.05f, 1e-8f, h_ref,
                               coalesce};
                memcpy(ref, start, tb);
                memset(h_ref, 0, (size_t)vocab * sizeof(float));
                const vf_run sr = {scalar, 1};
                if (vf_run_select(&sr) != 0 ||
                    emb_bag_update(ref, t, vocab, dim, c.ids, EMB_I64, c.n, &bags, EMB_BAG_SUM,
                                   dout, &st) != EMB_OK) {
                    vf_report_line(r, VF_FAIL, name, "the scalar step failed: %s",
                                   emb_last_error());
                    continue;
                }
                uint64_t bad = 0, runs = 0;
                char first[160] = "";
                for (int i = 0; i < cfg->n_runs; i++) {
                    if (vf_run_select(&cfg->runs[i]) != 0)
                        continue;
                    memcpy(got, start, tb);
                    memset(h, 0, (size_t)vocab * sizeof(float));
                    st.h = h;
                    if (emb_bag_update(got, t, vocab, dim, c.ids, EMB_I64, c.n, &bags,
                                       EMB_BAG_SUM, dout, &st) != EMB_OK ||
                        memcmp(got, ref, tb) != 0 ||
                        (opt && memcmp(h, h_ref, (size_t)vocab * sizeof(float)) != 0)) {
                        if (bad++ == 0)
                            vf_run_label(&cfg->runs[i], first, sizeof first);
                    }
                    runs++;
                }
                vf_report_line(r, bad ? VF_FAIL : VF_PASS, name,
                               "%s: %llu runs x %lld rows x %lld: %s",
                               coalesce ? "coalesced" : "per occurrence", (unsigned long long)runs,
                               (long long)vocab, (long long)dim,
                               bad ? "differs from scalar, first under"
                                   : "bit-identical to scalar");
                if (bad)
                    vf_report_str(r, "first", first);
                st.h = h_ref;
                if (t != EMB_F32) {
                    const vf_run sr1 = {scalar, 1};
                    if (vf_run_select(&sr1) == 0)
                        typed_step_model(r, t, opt, coalesce, &c, start, ref, h_ref, W0, dout, st);
                    continue;
                }
                if (opt && !coalesce) {
                    const float *rf = (const float *)(const void *)ref;
                    for (size_t i = 0; i < wn; i++)
                        Wd[i] = W0[i];
                    memset(hd, 0, (size_t)vocab * sizeof(double));
                    adagrad_double(Wd, hd, &c, dout, 0.05, 1e-8);
                    uint64_t worst = 0, differ = 0;
                    for (size_t i = 0; i < wn; i++) {
                        const uint64_t u = ulps(rf[i], (float)Wd[i]);
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
    }
    /* The quantized tables (every type the list gives no step kernel):
     * rejected, nothing written. */
    emb_type quantized[EMB_TYPE_COUNT];
    size_t n_quantized = 0;
    for (int ty = 0; ty < EMB_TYPE_COUNT; ty++) {
        int has_step = 0;
        for (int k = 0; k < emb_kernel_count(); k++)
            has_step |= emb_kernel_at(k)->op == EMB_OP_BAG_SGD && (int)emb_kernel_at(k)->in == ty;
        if (!has_step && vf_format_known((emb_type)ty))
            quantized[n_quantized++] = (emb_type)ty;
    }
    for (size_t qi = 0; qi < n_quantized; qi++) {
        memcpy(got, start, wn * 2);
        const emb_step st = {EMB_OPT_SGD, 0.05f, 0.0f, NULL, 0};
        const emb_status s0 = emb_bag_update(got, quantized[qi], vocab, dim, c.ids, EMB_I64, c.n,
                                             &bags, EMB_BAG_SUM, dout, &st);
        const int ok = s0 == EMB_EINVAL && memcmp(got, start, wn * 2) == 0 &&
                       strstr(emb_last_error(), emb_type_name(quantized[qi])) != NULL;
        vf_report_line(r, ok ? VF_PASS : VF_FAIL, emb_type_name(quantized[qi]),
                       "the steps reject a quantized table (EMB_EINVAL, the type named, nothing "
                       "written): %s", emb_last_error());
    }
done:
    emb_set_num_threads(0);
    emb_use_impl(NULL);
    free(W0);
    free(dout);
    free(start);
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
