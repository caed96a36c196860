/* test_bag.c - the Check suite of the EmbeddingBag ops: emb_bag,
 * emb_bag_grad and emb_bag_update against references written here from
 * their definitions (embsimd.h), bit for bit, for every kernel of the ops
 * under every implementation this CPU supports, thread counts 1 to 3; and
 * their validation: each bad argument fails with its value and position
 * named, and nothing is written. */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embsimd.h"
#include "gen.h"
#include "internal.h"
#include "reference.h"
#include "test_common.h"

/* ---- inputs ----------------------------------------------------------------- */

/* A random fp16 with a moderate exponent: a block scale that is finite. */
static uint16_t moderate_f16(gen_rng *r)
{
    const uint16_t exp = (uint16_t)(8 + gen_below(r, 12));
    return (uint16_t)((gen_u64(r) & 0x83FFu) | (exp << 10));
}

static float moderate_f32(gen_rng *r)
{
    const uint32_t exp = 127 - 10 + (uint32_t)gen_below(r, 20);
    return gen_u2f(((uint32_t)gen_u64(r) & 0x807FFFFFu) | (exp << 23));
}

/* vocab rows of type t. Moderate values (finite, sums round) unless raw,
 * which takes any bit pattern (max mode compares and copies: no NaN payload
 * of two operands is ever chosen between). */
static uint8_t *make_table(gen_rng *r, emb_type t, int64_t vocab, int64_t dim, int raw)
{
    const size_t rb = emb_row_bytes(t, dim);
    uint8_t *table = xmalloc(rb * (size_t)vocab);
    for (int64_t v = 0; v < vocab; v++) {
        uint8_t *row = table + rb * (size_t)v;
        if (t == EMB_F32 || t == EMB_F16 || t == EMB_BF16) {
            if (raw)
                fill_bytes(r, row, rb);
            else
                fill_elements(r, t, row, (size_t)dim, VALUES_MODERATE);
            continue;
        }
        fill_bytes(r, row, rb);
        if (t == EMB_Q8_ROWWISE) {
            if (!raw) {
                const float s = moderate_f32(r), b = moderate_f32(r);
                memcpy(row + dim, &s, 4);
                memcpy(row + dim + 4, &b, 4);
            }
            ref_make_determinate(t, row, dim);
        } else if (!raw) {
            int64_t block;
            size_t bb, at[2];
            const int scales = block_scales(t, &block, &bb, at);
            for (int64_t k = 0; k < dim / block; k++)
                for (int s = 0; s < scales; s++) {
                    const uint16_t d = moderate_f16(r);
                    memcpy(row + (size_t)k * bb + at[s], &d, 2);
                }
        }
    }
    return table;
}

static float elem(emb_type t, const uint8_t *table, int64_t dim, int64_t id, int64_t j)
{
    return gen_u2f(ref_element_bits(t, table + emb_row_bytes(t, dim) * (size_t)id, dim, j));
}

/* A call's bags, held as sizes (what the references read) and in the form
 * the API is given them. */
typedef struct bag_set {
    int64_t nbags, n;
    int64_t *len;          /* nbags sizes */
    void *bounds;          /* offsets (nbags or nbags + 1) or lengths */
    emb_bags api;
} bag_set;

enum { BY_OFFSETS, BY_OFFSETS_LAST, BY_LENGTHS };

/* nbags bags of 0 .. 2 * mean_len tokens (one in eight empty). */
static bag_set make_bags(gen_rng *r, int64_t nbags, int64_t mean_len, int how, emb_index ot)
{
    bag_set b;
    memset(&b, 0, sizeof b);
    b.nbags = nbags;
    b.len = xmalloc((size_t)(nbags + 1) * sizeof(int64_t));
    for (int64_t i = 0; i < nbags; i++) {
        b.len[i] = gen_below(r, 8) == 0 ? 0 : (int64_t)gen_below(r, (uint64_t)(2 * mean_len + 1));
        b.n += b.len[i];
    }
    const size_t ib = id_bytes(ot);
    b.bounds = xmalloc((size_t)(nbags + 1) * ib);
    int64_t off = 0;
    for (int64_t i = 0; i <= nbags; i++) {
        if (how == BY_LENGTHS) {
            if (i < nbags)
                set_id(b.bounds, ot, (size_t)i, b.len[i]);
        } else {
            set_id(b.bounds, ot, (size_t)i, off);
        }
        if (i < nbags)
            off += b.len[i];
    }
    b.api.nbags = nbags;
    b.api.offsets = how == BY_LENGTHS ? NULL : b.bounds;
    b.api.lengths = how == BY_LENGTHS ? b.bounds : NULL;
    b.api.offset_type = ot;
    b.api.include_last_offset = how == BY_OFFSETS_LAST;
    b.api.weights = NULL;
    b.api.padding_idx = EMB_NO_PADDING;
    return b;
}

static void free_bags(bag_set *b)
{
    free(b->len);
    free(b->bounds);
}

static int64_t id_of(const void *ids, emb_index t, int64_t i)
{
    return t == EMB_I64 ? ((const int64_t *)ids)[i] : ((const int32_t *)ids)[i];
}

/* ---- references, from the definitions ---------------------------------------- */

/* Sum: +0, then one fp32 add (or fmaf with a weight) per token in order;
 * mean: then one division by the non-padding count; max: the first row,
 * replaced where strictly greater. volatile keeps each step rounded. */
static void ref_bag(emb_type t, const uint8_t *table, int64_t dim, const void *ids, emb_index it,
                    const bag_set *b, const float *w, int64_t pad, emb_bag_mode mode, float *out,
                    int64_t *argmax)
{
    int64_t s = 0;
    for (int64_t bag = 0; bag < b->nbags; bag++) {
        const int64_t e = s + b->len[bag];
        for (int64_t j = 0; j < dim; j++) {
            volatile float acc = 0.0f;
            int64_t cnt = 0, arg = -1;
            for (int64_t i = s; i < e; i++) {
                const int64_t id = id_of(ids, it, i);
                if (id == pad)
                    continue;
                const float x = elem(t, table, dim, id, j);
                if (mode == EMB_BAG_MAX) {
                    if (cnt == 0 || x > acc) {
                        uint32_t bits = gen_f2u(x);
                        memcpy((void *)&acc, &bits, 4);
                        arg = id;
                    }
                } else if (w != NULL) {
                    acc = fmaf(w[i], x, acc);
                } else {
                    acc = acc + x;
                }
                cnt++;
            }
            if (mode == EMB_BAG_MEAN && cnt > 0)
                acc = acc / (float)cnt;
            if (mode == EMB_BAG_MAX && cnt == 0)
                acc = 0.0f;
            const float v = acc;
            memcpy(out + bag * dim + j, &v, 4);
            if (argmax != NULL)
                argmax[bag * dim + j] = arg;
        }
        s = e;
    }
}

static float widen_g(emb_type gt, const uint8_t *dout, int64_t dim, int64_t b, int64_t j)
{
    return gen_u2f(ref_element_bits(gt, dout + emb_row_bytes(gt, dim) * (size_t)b, dim, j));
}

static int64_t nonpad_count(const void *ids, emb_index it, int64_t s, int64_t e, int64_t pad)
{
    int64_t c = 0;
    for (int64_t i = s; i < e; i++)
        c += id_of(ids, it, i) != pad;
    return c;
}

/* Token order, per element: sum adds g, mean g / count (g itself for a
 * count of 1), weighted fmaf(w, g, acc); max adds g[b][j] into row
 * argmax[b][j], bag by bag. */
static void ref_bag_grad(emb_type gt, float *dtable, int64_t dim, const void *ids, emb_index it,
                         const bag_set *b, const float *w, int64_t pad, emb_bag_mode mode,
                         const int64_t *argmax, const uint8_t *dout)
{
    if (mode == EMB_BAG_MAX) {
        for (int64_t bag = 0; bag < b->nbags; bag++)
            for (int64_t j = 0; j < dim; j++) {
                const int64_t a = argmax[bag * dim + j];
                if (a >= 0) {
                    volatile float v = dtable[a * dim + j] + widen_g(gt, dout, dim, bag, j);
                    dtable[a * dim + j] = v;
                }
            }
        return;
    }
    int64_t s = 0;
    for (int64_t bag = 0; bag < b->nbags; bag++) {
        const int64_t e = s + b->len[bag];
        const int64_t cnt = nonpad_count(ids, it, s, e, pad);
        for (int64_t i = s; i < e; i++) {
            const int64_t id = id_of(ids, it, i);
            if (id == pad)
                continue;
            for (int64_t j = 0; j < dim; j++) {
                const float g = widen_g(gt, dout, dim, bag, j);
                float *a = dtable + id * dim + j;
                volatile float v;
                if (w != NULL)
                    v = fmaf(w[i], g, *a);
                else if (mode == EMB_BAG_MEAN && cnt > 1)
                    v = *a + g / (float)cnt;
                else
                    v = *a + g;
                *a = v;
            }
        }
        s = e;
    }
}

/* reduce.h's order, as a plain loop: 32 running sums, term j into sum
 * j % 32, then folds in halves. */
static float ref_mean_sq(const float *g, int64_t dim)
{
    volatile float s[32];
    for (int k = 0; k < 32; k++)
        s[k] = 0.0f;
    for (int64_t j = 0; j < dim; j++) {
        volatile float sq = g[j] * g[j];
        s[j % 32] = s[j % 32] + sq;
    }
    for (int half = 16; half >= 1; half /= 2)
        for (int k = 0; k < half; k++)
            s[k] = s[k] + s[k + half];
    volatile float m = s[0] / (float)dim;
    return m;
}

/* W[j] = fmaf(s, g[j], W[j]) on a row of type t: each element widened
 * (exact), updated in fp32 and, in a 16-bit row, rounded back to nearest
 * even (reference.c's narrowing). */
static void ref_fma_row(emb_type t, uint8_t *row, int64_t dim, float s, const float *g)
{
    for (int64_t j = 0; j < dim; j++) {
        const float w = gen_u2f(ref_element_bits(t, row, dim, j));
        const uint32_t u = gen_f2u(fmaf(s, g[j], w));
        if (t == EMB_F32) {
            memcpy(row + 4 * j, &u, 4);
        } else {
            const uint16_t n = t == EMB_F16 ? ref_f32_to_f16_bits(u) : ref_f32_to_bf16_bits(u);
            memcpy(row + 2 * j, &n, 2);
        }
    }
}

/* One update of row id with gradient row g. */
static void ref_update(emb_type t, uint8_t *table, float *h, int64_t dim, int64_t id,
                       const float *g, int adagrad, float lr, float eps)
{
    uint8_t *w = table + emb_row_bytes(t, dim) * (size_t)id;
    if (!adagrad) {
        ref_fma_row(t, w, dim, -lr, g);
        return;
    }
    volatile float hi = h[id] + ref_mean_sq(g, dim);
    h[id] = hi;
    volatile float root = sqrtf(hi);
    volatile float den = root + eps;
    volatile float step = lr / den;
    ref_fma_row(t, w, dim, -step, g);
}

/* Per occurrence: token t's g = dout[b], dout[b] / count (mean, count > 1)
 * or w[t] * dout[b]. Coalesced: G[row] = +0 plus each occurrence in token
 * order (emb_bag_grad's sum), then one update per distinct row. */
static void ref_step(emb_type t, uint8_t *table, float *h, int64_t vocab, int64_t dim,
                     const void *ids,
                     emb_index it, const bag_set *b, const float *w, int64_t pad,
                     emb_bag_mode mode, const float *dout, int adagrad, float lr, float eps,
                     int coalesce)
{
    float *g = xmalloc((size_t)dim * sizeof(float));
    if (coalesce) {
        float *G = calloc((size_t)(vocab * dim), sizeof(float));
        ck_assert_ptr_nonnull(G);
        ref_bag_grad(EMB_F32, G, dim, ids, it, b, w, pad, mode, NULL, (const uint8_t *)dout);
        char *seen = calloc((size_t)vocab, 1);
        for (int64_t i = 0; i < b->n; i++) {
            const int64_t id = id_of(ids, it, i);
            if (id == pad || seen[id])
                continue;
            seen[id] = 1;
            ref_update(t, table, h, dim, id, G + id * dim, adagrad, lr, eps);
        }
        free(seen);
        free(G);
        free(g);
        return;
    }
    int64_t s = 0;
    for (int64_t bag = 0; bag < b->nbags; bag++) {
        const int64_t e = s + b->len[bag];
        const int64_t cnt = nonpad_count(ids, it, s, e, pad);
        for (int64_t i = s; i < e; i++) {
            const int64_t id = id_of(ids, it, i);
            if (id == pad)
                continue;
            for (int64_t j = 0; j < dim; j++) {
                const float d = dout[bag * dim + j];
                volatile float v = w != NULL                           ? w[i] * d
                                   : mode == EMB_BAG_MEAN && cnt > 1 ? d / (float)cnt
                                                                       : d;
                g[j] = v;
            }
            ref_update(t, table, h, dim, id, g, adagrad, lr, eps);
        }
        s = e;
    }
    free(g);
}

/* ---- forward ------------------------------------------------------------------ */

static const int thread_counts[] = {1, 2, 3};

typedef struct variant {
    emb_bag_mode mode;
    int weighted, pad, how;
    emb_index id_type, offset_type;
} variant;

/* Every combination the API has, for one kernel. */
static int next_variant(int k, variant *v)
{
    /* mode x weighted: sum, sum + weights, mean, max */
    const int mw = k % 4, pad = (k / 4) % 2, how = (k / 8) % 3, types = (k / 24) % 4;
    if (k >= 96)
        return 0;
    v->mode = mw == 0 || mw == 1 ? EMB_BAG_SUM : mw == 2 ? EMB_BAG_MEAN : EMB_BAG_MAX;
    v->weighted = mw == 1;
    v->pad = pad;
    v->how = how;
    v->id_type = types & 1 ? EMB_I64 : EMB_I32;
    v->offset_type = types & 2 ? EMB_I64 : EMB_I32;
    return 1;
}

static void describe(char *buf, size_t size, const emb_kernel *k, const variant *v, int64_t dim,
                     int threads)
{
    static const char *const modes[] = {"sum", "mean", "max"};
    static const char *const hows[] = {"offsets", "offsets+last", "lengths"};
    snprintf(buf, size, "%s %s%s%s, %s (%s), %s ids, dim %lld, %d threads", k->name,
             modes[v->mode], v->weighted ? " weighted" : "", v->pad ? " padded" : "",
             hows[v->how], emb_index_name(v->offset_type), emb_index_name(v->id_type),
             (long long)dim, threads);
}

/* The bag op's output lies at `out_offset` bytes past a 64-byte boundary. */
static void check_bag_variant_at(const emb_kernel *k, const variant *v, int64_t vocab,
                                 int64_t dim, int64_t nbags, int64_t mean_len, size_t out_offset,
                                 gen_rng *r)
{
    uint8_t *table = make_table(r, k->in, vocab, dim, v->mode == EMB_BAG_MAX);
    bag_set b = make_bags(r, nbags, mean_len, v->how, v->offset_type);
    void *ids = make_ids(r, v->id_type, (size_t)b.n + 1, vocab, GEN_IDS_ZIPF);
    const int64_t pad = v->pad ? id_of(ids, v->id_type, 0) : EMB_NO_PADDING;
    float *w = NULL;
    if (v->weighted) {
        w = xmalloc((size_t)(b.n + 1) * sizeof(float));
        fill_elements(r, EMB_F32, w, (size_t)b.n + 1, VALUES_MODERATE);
    }
    b.api.weights = w;
    /* Every other variant names the padding row from the end, -1 the last. */
    b.api.padding_idx = v->pad && v->how == BY_LENGTHS ? pad - vocab : pad;
    const size_t count = (size_t)(nbags * dim);
    float *want = xmalloc(count * sizeof(float));
    int64_t *want_arg = xmalloc(count * sizeof(int64_t));
    ref_bag(k->in, table, dim, ids, v->id_type, &b, w, pad, v->mode, want,
            v->mode == EMB_BAG_MAX ? want_arg : NULL);
    gbytes out = gbytes_new(count * sizeof(float), out_offset);
    gbytes arg = gbytes_new(count * sizeof(int64_t), 8);
    for (size_t t = 0; t < sizeof thread_counts / sizeof thread_counts[0]; t++) {
        char what[240];
        describe(what, sizeof what - 40, k, v, dim, thread_counts[t]);
        snprintf(what + strlen(what), 40, ", output at 64k + %zu", out_offset);
        ck_assert_int_eq(emb_set_num_threads(thread_counts[t]), EMB_OK);
        memset(out.p, 0xCD, count * sizeof(float));
        const emb_status st = emb_bag(table, k->in, vocab, dim, ids, v->id_type, b.n, &b.api,
                                      v->mode, (float *)out.p,
                                      v->mode == EMB_BAG_MAX ? (int64_t *)arg.p : NULL);
        ck_assert_msg(st == EMB_OK, "%s: %s", what, emb_last_error());
        ASSERT_SAME_BYTES(out.p, want, count * sizeof(float), what);
        if (v->mode == EMB_BAG_MAX)
            ASSERT_SAME_BYTES(arg.p, want_arg, count * sizeof(int64_t), what);
        gbytes_check(&out, what);
        gbytes_check(&arg, what);
    }
    emb_set_num_threads(0);
    gbytes_free(&out);
    gbytes_free(&arg);
    free(want);
    free(want_arg);
    free(w);
    free(ids);
    free_bags(&b);
    free(table);
}

static void check_bag_variant(const emb_kernel *k, const variant *v, int64_t vocab, int64_t dim,
                              int64_t nbags, int64_t mean_len, gen_rng *r)
{
    check_bag_variant_at(k, v, vocab, dim, nbags, mean_len, 4, r);
}

/* One bag kernel (_i), every variant, a small and a threaded shape. */
START_TEST(bag_matches_its_definition)
{
    const emb_kernel *k = kernel_of(_i);
    gen_rng r = gen_seed(0xBA6000 + (uint64_t)(_i % KERNEL_SLOTS));
    /* Element types: a tail alone, a short row, rows either side of the
     * register groups, each width with a loop of its own (32, 64, 128 and
     * 256 floats: one group of 2 to 16 vectors of AVX2 or AVX-512) and a
     * chain of every narrower group with a tail (248 = 128 + 64 + 32 + 16
     * + 8, 200 = 128 + 64 + 8); blocked ones: 1, 2, 3 and 5 blocks. */
    const int64_t block = dim_for_types(k->in, EMB_F32, 1);
    const int64_t elem_dims[] = {1, 7, 130, 160, 32, 64, 128, 248, 200};
    const int64_t block_dims[] = {block, 2 * block, 3 * block, 5 * block};
    variant v;
    /* 9 and the 4 modes are coprime: every width meets every mode. */
    for (int c = 0; next_variant(c, &v); c++)
        check_bag_variant(k, &v, 50, block > 1 ? block_dims[c % 4] : elem_dims[c % 9], 13, 5, &r);
    /* Large enough that 2 and 3 threads split the bags (256 KiB a part);
     * 256 is a dim of every type. Every 5th variant, every 15th bounded:
     * under qemu these took 408 s of the 533 of make check (a Zen 1). Both
     * strides meet every mode, padding, bag form and id type. */
    for (int c = 0; next_variant(c, &v); c += 5 * large_case_stride())
        check_bag_variant(k, &v, 300, 256, 500, 6, &r);
}
END_TEST

/* Streaming stores at output offsets 0 to 60 (schedule: stream every
 * output). An f32 sum or mean of a row of one register group leaves the
 * registers with streaming stores where every output row starts on a
 * vector's boundary (32 bytes with AVX2, 64 with AVX-512), through an L1
 * buffer where it starts on a 16-byte one, with ordinary stores elsewhere
 * (bag_loops.h, emb_bag_rows_regs): every path writes the reference's
 * bits, the mean's division and the +0 of empty and padding-only bags
 * included, and nothing outside the output. */
START_TEST(streaming_bags_at_every_output_offset)
{
    const emb_kernel *k = kernel_of(_i);
    if (k->in != EMB_F32)
        return;
    const emb_loop_schedule saved = *emb_loops();
    emb_loop_schedule streaming = saved;
    streaming.stream_llc_eighths = 0;
    emb_schedule_set_loops(&streaming);
    gen_rng r = gen_seed(0xBA6300 + (uint64_t)(_i % KERNEL_SLOTS));
    /* one group of 4, 8 and 16 vectors of AVX2 (AVX-512: 2, 4, 8, 16), and
     * a row of several groups */
    static const int64_t dims[] = {32, 64, 128, 256, 96};
    variant v;
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
        for (size_t off = 0; off < 64; off += 4)
            /* sum and mean, with and without padding, each bag form and id
             * type in turn */
            for (int c = (int)(off / 4) % 3; next_variant(c, &v); c += 11)
                if (v.mode != EMB_BAG_MAX && !v.weighted)
                    check_bag_variant_at(k, &v, 40, dims[d], 9, 2, off, &r);
    emb_schedule_set_loops(&saved);
}
END_TEST

/* Bags of nothing, of padding only, and of one -0 row give +0 (the sum
 * starts at +0: -0 + +0 is +0), in every mode and in both the columns held
 * in registers and the tail. */
START_TEST(empty_and_zero_bags)
{
    const emb_kernel *k = kernel_of(_i);
    /* 96: one group of columns held in registers, then a tail (a
     * q4_K/q6_K row: one super-block of 256) */
    const int64_t vocab = 4, dim = dim_for_types(k->in, EMB_F32, 96), DIM = dim;
    const size_t rb = emb_row_bytes(k->in, dim);
    uint8_t *table = xmalloc(rb * (size_t)vocab);
    memset(table, 0, rb * (size_t)vocab);
    if (k->in == EMB_F32 || k->in == EMB_F16 || k->in == EMB_BF16) {
        const size_t es = rb / (size_t)dim;
        for (int64_t j = 0; j < dim; j++) /* row 1: -0 */
            table[rb + (size_t)j * es + es - 1] = 0x80;
    }
    const int32_t ids[] = {2, 2, 1};
    const int32_t offsets[] = {0, 0, 2, 3}; /* empty, {2, 2}, {1} */
    emb_bags bags = {3, offsets, NULL, EMB_I32, 1, NULL, 2};
    float *out = xmalloc(3 * (size_t)DIM * sizeof(float));
    int64_t *arg = xmalloc(3 * (size_t)DIM * sizeof(int64_t));
    for (int mode = EMB_BAG_SUM; mode <= EMB_BAG_MAX; mode++) {
        memset(out, 0xCD, 3 * (size_t)DIM * sizeof(float));
        ck_assert_int_eq(emb_bag(table, k->in, vocab, dim, ids, EMB_I32, 3, &bags, mode, out,
                                 mode == EMB_BAG_MAX ? arg : NULL),
                         EMB_OK);
        for (int j = 0; j < 2 * DIM; j++)
            ck_assert_msg(gen_f2u(out[j]) == 0, "%s mode %d: element %d is 0x%08x, not +0",
                          k->name, mode, j, gen_f2u(out[j]));
        const uint32_t want = mode == EMB_BAG_MAX ? gen_f2u(elem(k->in, table, dim, 1, 0)) : 0;
        ck_assert_msg(gen_f2u(out[2 * DIM]) == want, "%s mode %d: one-row bag gives 0x%08x, not 0x%08x",
                      k->name, mode, gen_f2u(out[2 * DIM]), want);
        if (mode == EMB_BAG_MAX)
            ck_assert(arg[0] == -1 && arg[DIM] == -1 && arg[2 * DIM] == 1 && arg[3 * DIM - 1] == 1);
    }
    free(out);
    free(arg);
    free(table);
}
END_TEST

/* ---- backward ------------------------------------------------------------------ */

static void check_grad_variant(const emb_kernel *k, const variant *v, int64_t vocab, int64_t dim,
                               int64_t nbags, int64_t mean_len, gen_rng *r)
{
    bag_set b = make_bags(r, nbags, mean_len, v->how, v->offset_type);
    void *ids = make_ids(r, v->id_type, (size_t)b.n + 1, vocab, GEN_IDS_ZIPF);
    const int64_t pad = v->pad ? id_of(ids, v->id_type, 0) : EMB_NO_PADDING;
    float *w = NULL;
    if (v->weighted) {
        w = xmalloc((size_t)(b.n + 1) * sizeof(float));
        fill_elements(r, EMB_F32, w, (size_t)b.n + 1, VALUES_MODERATE);
    }
    b.api.weights = w;
    b.api.padding_idx = pad;
    const size_t gb = emb_row_bytes(k->in, dim) * (size_t)nbags;
    uint8_t *dout = xmalloc(gb);
    fill_elements(r, k->in, dout, (size_t)(nbags * dim), VALUES_MODERATE);
    int64_t *argmax = NULL;
    if (v->mode == EMB_BAG_MAX) {
        /* argmax as emb_bag leaves it: from a forward pass of a table. */
        uint8_t *table = make_table(r, EMB_F32, vocab, dim, 1);
        float *fwd = xmalloc((size_t)(nbags * dim) * sizeof(float));
        argmax = xmalloc((size_t)(nbags * dim) * sizeof(int64_t));
        ref_bag(EMB_F32, table, dim, ids, v->id_type, &b, NULL, pad, EMB_BAG_MAX, fwd, argmax);
        free(fwd);
        free(table);
    }
    const size_t count = (size_t)(vocab * dim);
    float *start = xmalloc(count * sizeof(float));
    fill_elements(r, EMB_F32, start, count, VALUES_MODERATE);
    float *want = xmalloc(count * sizeof(float));
    memcpy(want, start, count * sizeof(float));
    ref_bag_grad(k->in, want, dim, ids, v->id_type, &b, w, pad, v->mode, argmax, dout);
    guarded got = guarded_new((int64_t)count, 1);
    for (size_t t = 0; t < sizeof thread_counts / sizeof thread_counts[0]; t++) {
        char what[200];
        describe(what, sizeof what, k, v, dim, thread_counts[t]);
        ck_assert_int_eq(emb_set_num_threads(thread_counts[t]), EMB_OK);
        memcpy(got.p, start, count * sizeof(float));
        const emb_status st = emb_bag_grad(got.p, vocab, dim, ids, v->id_type, b.n, &b.api,
                                           v->mode, argmax, dout, k->in);
        ck_assert_msg(st == EMB_OK, "%s: %s", what, emb_last_error());
        ASSERT_SAME_BITS(got.p, want, (int64_t)count, what);
        guarded_check(&got, what);
    }
    emb_set_num_threads(0);
    free(got.base);
    free(want);
    free(start);
    free(argmax);
    free(dout);
    free(w);
    free(ids);
    free_bags(&b);
}

START_TEST(bag_grad_matches_its_definition)
{
    const emb_kernel *k = kernel_of(_i);
    gen_rng r = gen_seed(0xBA6100 + (uint64_t)(_i % KERNEL_SLOTS));
    const int64_t dims[] = {1, 7, 130, 64};
    variant v;
    for (int c = 0; next_variant(c, &v); c++)
        check_grad_variant(k, &v, 40, dims[c % 4], 13, 5, &r);
    for (int c = 0; next_variant(c, &v); c += 5 * large_case_stride())
        check_grad_variant(k, &v, 300, 128, 400, 8, &r);
}
END_TEST

/* ---- fused steps ------------------------------------------------------------------ */

static void check_step_variant(const emb_kernel *k, const variant *v, int coalesce, int64_t vocab,
                               int64_t dim, int64_t nbags, int64_t mean_len, gen_rng *r)
{
    const int adagrad = k->op == EMB_OP_BAG_ADAGRAD;
    bag_set b = make_bags(r, nbags, mean_len, v->how, v->offset_type);
    void *ids = make_ids(r, v->id_type, (size_t)b.n + 1, vocab, GEN_IDS_ZIPF);
    const int64_t pad = v->pad ? id_of(ids, v->id_type, 0) : EMB_NO_PADDING;
    float *w = NULL;
    if (v->weighted) {
        w = xmalloc((size_t)(b.n + 1) * sizeof(float));
        fill_elements(r, EMB_F32, w, (size_t)b.n + 1, VALUES_MODERATE);
    }
    b.api.weights = w;
    b.api.padding_idx = pad;
    float *dout = xmalloc((size_t)(nbags * dim) * sizeof(float));
    fill_elements(r, EMB_F32, dout, (size_t)(nbags * dim), VALUES_MODERATE);
    const size_t count = (size_t)(vocab * dim), bytes = emb_row_bytes(k->in, dim) * (size_t)vocab;
    uint8_t *start = xmalloc(bytes), *want = xmalloc(bytes);
    float *h0 = xmalloc((size_t)vocab * sizeof(float)), *hw = xmalloc((size_t)vocab * sizeof(float));
    fill_elements(r, k->in, start, count, VALUES_MODERATE);
    for (int64_t i = 0; i < vocab; i++)
        h0[i] = fabsf(moderate_f32(r));
    memcpy(want, start, bytes);
    memcpy(hw, h0, (size_t)vocab * sizeof(float));
    const float lr = 0.0371f, eps = 1e-6f;
    ref_step(k->in, want, hw, vocab, dim, ids, v->id_type, &b, w, pad, v->mode, dout, adagrad, lr,
             eps, coalesce);
    gbytes got = gbytes_new(bytes, k->in == EMB_F32 ? 4 : 2);
    guarded h = guarded_new(vocab, 0);
    for (size_t t = 0; t < sizeof thread_counts / sizeof thread_counts[0]; t++) {
        char what[240];
        describe(what, sizeof what, k, v, dim, thread_counts[t]);
        if (coalesce)
            strncat(what, ", coalesced", sizeof what - strlen(what) - 1);
        ck_assert_int_eq(emb_set_num_threads(thread_counts[t]), EMB_OK);
        memcpy(got.p, start, bytes);
        memcpy(h.p, h0, (size_t)vocab * sizeof(float));
        const emb_step step = {adagrad ? EMB_OPT_ROWWISE_ADAGRAD : EMB_OPT_SGD, lr, eps,
                               adagrad ? h.p : NULL, coalesce};
        const emb_status st = emb_bag_update(got.p, k->in, vocab, dim, ids, v->id_type, b.n,
                                             &b.api, v->mode, dout, &step);
        ck_assert_msg(st == EMB_OK, "%s: %s", what, emb_last_error());
        ASSERT_SAME_BYTES(got.p, want, bytes, what);
        if (adagrad)
            ASSERT_SAME_BITS(h.p, hw, vocab, what);
        gbytes_check(&got, what);
        guarded_check(&h, what);
    }
    emb_set_num_threads(0);
    gbytes_free(&got);
    free(h.base);
    free(want);
    free(start);
    free(h0);
    free(hw);
    free(dout);
    free(w);
    free(ids);
    free_bags(&b);
}

START_TEST(bag_step_matches_its_definition)
{
    const emb_kernel *k = kernel_of(_i);
    gen_rng r = gen_seed(0xBA6200 + (uint64_t)(_i % KERNEL_SLOTS));
    const int64_t dims[] = {1, 7, 130, 64, 33};
    variant v;
    for (int c = 0; next_variant(c, &v); c++) {
        if (v.mode == EMB_BAG_MAX)
            continue;
        check_step_variant(k, &v, c % 2, 40, dims[c % 5], 13, 5, &r);
    }
    for (int c = 0; next_variant(c, &v); c += 5 * large_case_stride())
        if (v.mode != EMB_BAG_MAX) {
            check_step_variant(k, &v, 0, 300, 128, 400, 8, &r);
            check_step_variant(k, &v, 1, 300, 128, 400, 8, &r);
        }
}
END_TEST

/* Row 0 of a bf16 table holds 1.0 (0x3F80) and a bag names it three times
 * with g = 2^-10, lr = 1. Per occurrence each update, 1 - 2^-10, is under
 * half an ulp below 1 (bf16 steps there by 2^-8) and rounds back to 1: all
 * three are lost. Coalesced, G = 3 * 2^-10 and 1 - 3 * 2^-10 is nearer
 * 1 - 2^-8 (0x3F7F) than 1. An f16 table keeps every update (2^-11 steps):
 * 1 - 3 * 2^-10 both ways (0x3BFA). Rows 1 and 2, named once each, take
 * 1 - 2^-10: lost in bf16, 0x3BFE in f16. */
START_TEST(rounding_per_occurrence_and_coalesced)
{
    use_impl(_i);
    const int64_t vocab = 3, dim = 9;
    const int32_t ids[] = {0, 2, 0, 0, 1};
    const int32_t offsets[] = {0, 4};
    const emb_bags bags = {2, offsets, NULL, EMB_I32, 0, NULL, EMB_NO_PADDING};
    float dout[2 * 9];
    for (int j = 0; j < 2 * 9; j++)
        dout[j] = 0x1p-10f;
    static const struct {
        emb_type t;
        uint16_t one, per_occurrence, coalesced, row1;
    } cases[] = {
        {EMB_BF16, 0x3F80, 0x3F80, 0x3F7F, 0x3F80},
        {EMB_F16, 0x3C00, 0x3BFA, 0x3BFA, 0x3BFE},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int coalesce = 0; coalesce < 2; coalesce++)
            for (size_t t = 0; t < sizeof thread_counts / sizeof thread_counts[0]; t++) {
                uint16_t table[3 * 9];
                for (int j = 0; j < 3 * 9; j++)
                    table[j] = cases[c].one;
                const emb_step step = {EMB_OPT_SGD, 1.0f, 0.0f, NULL, coalesce};
                ck_assert_int_eq(emb_set_num_threads(thread_counts[t]), EMB_OK);
                ck_assert_msg(emb_bag_update(table, cases[c].t, vocab, dim, ids, EMB_I32, 5, &bags,
                                             EMB_BAG_SUM, dout, &step) == EMB_OK,
                              "%s", emb_last_error());
                const uint16_t want0 = coalesce ? cases[c].coalesced : cases[c].per_occurrence;
                for (int j = 0; j < dim; j++) {
                    const uint16_t want[3] = {want0, cases[c].row1, cases[c].row1};
                    for (int row = 0; row < 3; row++)
                        ck_assert_msg(table[row * dim + j] == want[row],
                                      "%s, %s, %d threads: row %d element %d is 0x%04x, not "
                                      "0x%04x", emb_type_name(cases[c].t),
                                      coalesce ? "coalesced" : "per occurrence", thread_counts[t],
                                      row, j, table[row * dim + j], want[row]);
                }
            }
    emb_set_num_threads(0);
}
END_TEST

/* ---- validation ------------------------------------------------------------------ */

/* Each call fails with `want`, its message contains `needle`, and out,
 * dtable, table and h keep every byte. */
typedef struct bad_call {
    const char *label, *needle;
    emb_status want;
} bad_call;

static float vtable[8 * 32], vout[4 * 32], vh[8];
static int64_t vargmax[4 * 32];

static void expect_failure(emb_status got, const bad_call *c, const float *before_out,
                           const float *before_table, const float *before_h)
{
    ck_assert_msg(got == c->want, "%s: status %d, expected %d (%s)", c->label, (int)got,
                  (int)c->want, emb_last_error());
    ck_assert_msg(strstr(emb_last_error(), c->needle) != NULL, "%s: message \"%s\" lacks \"%s\"",
                  c->label, emb_last_error(), c->needle);
    ck_assert_msg(memcmp(vout, before_out, sizeof vout) == 0, "%s: out was written", c->label);
    ck_assert_msg(memcmp(vtable, before_table, sizeof vtable) == 0, "%s: the table was written",
                  c->label);
    ck_assert_msg(memcmp(vh, before_h, sizeof vh) == 0, "%s: h was written", c->label);
}

START_TEST(bad_arguments_write_nothing)
{
    use_impl(_i);
    gen_rng r = gen_seed(0xBA6300);
    gen_fill_finite(&r, vtable, sizeof vtable / sizeof vtable[0]);
    gen_fill_finite(&r, vout, sizeof vout / sizeof vout[0]);
    for (int i = 0; i < 8; i++)
        vh[i] = 1.0f;
    float before_out[4 * 32], before_table[8 * 32], before_h[8];
    memcpy(before_out, vout, sizeof vout);
    memcpy(before_table, vtable, sizeof vtable);
    memcpy(before_h, vh, sizeof vh);
    const int64_t dim = 32, vocab = 8;
    const int32_t ids[] = {1, 2, 3, 4, 5, 6};
    const int64_t ids64[] = {1, 2, 3, 4, 5, 8};
    const int32_t good_off[] = {0, 2, 4, 6};
    const float weights[] = {1, 2, 3, 4, 5, 6};
    float dout[4 * 32] = {0};
#define BAG_CASE(label_, needle_, want_, call_)                                                 \
    do {                                                                                        \
        const bad_call c_ = {label_, needle_, want_};                                           \
        expect_failure(call_, &c_, before_out, before_table, before_h);                         \
    } while (0)
    /* offsets */
    const int32_t off_start[] = {1, 2, 4};
    emb_bags b = {3, off_start, NULL, EMB_I32, 0, NULL, EMB_NO_PADDING};
    BAG_CASE("offsets not from 0", "offsets[0] = 1", EMB_EINVAL,
             emb_bag(vtable, EMB_F32, vocab, dim, ids, EMB_I32, 6, &b, EMB_BAG_SUM, vout, NULL));
    const int64_t off_dec[] = {0, 4, 3};
    b.offsets = off_dec;
    b.offset_type = EMB_I64;
    BAG_CASE("decreasing offsets", "offsets[2] = 3 is less than offsets[1] = 4", EMB_EINVAL,
             emb_bag(vtable, EMB_F32, vocab, dim, ids, EMB_I32, 6, &b, EMB_BAG_MEAN, vout, NULL));
    const int32_t off_big[] = {0, 2, 7};
    b.offsets = off_big;
    b.offset_type = EMB_I32;
    BAG_CASE("offset past n", "offsets[2] = 7 exceeds n = 6", EMB_EINVAL,
             emb_bag(vtable, EMB_F32, vocab, dim, ids, EMB_I32, 6, &b, EMB_BAG_SUM, vout, NULL));
    const int32_t off_last[] = {0, 2, 4, 5};
    b.offsets = off_last;
    b.include_last_offset = 1;
    BAG_CASE("last offset not n", "offsets[3] = 5, the last offset", EMB_EINVAL,
             emb_bag(vtable, EMB_F32, vocab, dim, ids, EMB_I32, 6, &b, EMB_BAG_MAX, vout, NULL));
    /* lengths */
    const int64_t len_neg[] = {3, -1, 4};
    emb_bags l = {3, NULL, len_neg, EMB_I64, 0, NULL, EMB_NO_PADDING};
    BAG_CASE("negative length", "lengths[1] = -1", EMB_EINVAL,
             emb_bag(vtable, EMB_F32, vocab, dim, ids, EMB_I32, 6, &l, EMB_BAG_SUM, vout, NULL));
    const int32_t len_short[] = {2, 2, 1};
    l.lengths = len_short;
    l.offset_type = EMB_I32;
    BAG_CASE("lengths short of n", "lengths sum to 5, must equal n = 6", EMB_EINVAL,
             emb_bag(vtable, EMB_F32, vocab, dim, ids, EMB_I32, 6, &l, EMB_BAG_SUM, vout, NULL));
    const int32_t len_long[] = {2, 2, 3};
    l.lengths = len_long;
    BAG_CASE("lengths past n", "lengths[0 .. 2] sum to more than n = 6", EMB_EINVAL,
             emb_bag(vtable, EMB_F32, vocab, dim, ids, EMB_I32, 6, &l, EMB_BAG_SUM, vout, NULL));
    /* both, neither, weights outside sum, padding, mode, ids */
    emb_bags g = {3, good_off, len_short, EMB_I32, 0, NULL, EMB_NO_PADDING};
    BAG_CASE("offsets and lengths", "exactly one (both are set)", EMB_EINVAL,
             emb_bag(vtable, EMB_F32, vocab, dim, ids, EMB_I32, 6, &g, EMB_BAG_SUM, vout, NULL));
    g.lengths = NULL;
    g.weights = weights;
    BAG_CASE("weights in mean", "weights given with mode mean", EMB_EINVAL,
             emb_bag(vtable, EMB_F32, vocab, dim, ids, EMB_I32, 6, &g, EMB_BAG_MEAN, vout, NULL));
    BAG_CASE("weights in max", "weights given with mode max", EMB_EINVAL,
             emb_bag(vtable, EMB_F32, vocab, dim, ids, EMB_I32, 6, &g, EMB_BAG_MAX, vout, NULL));
    BAG_CASE("weights in a mean grad", "weights given with mode mean", EMB_EINVAL,
             emb_bag_grad(vtable, vocab, dim, ids, EMB_I32, 6, &g, EMB_BAG_MEAN, NULL, dout,
                          EMB_F32));
    g.weights = NULL;
    g.padding_idx = 8;
    BAG_CASE("padding_idx", "padding_idx = 8 is outside [-8, 8)", EMB_EINVAL,
             emb_bag(vtable, EMB_F32, vocab, dim, ids, EMB_I32, 6, &g, EMB_BAG_SUM, vout, NULL));
    g.padding_idx = -9;
    BAG_CASE("padding_idx from the end", "padding_idx = -9 is outside [-8, 8)", EMB_EINVAL,
             emb_bag(vtable, EMB_F32, vocab, dim, ids, EMB_I32, 6, &g, EMB_BAG_SUM, vout, NULL));
    g.padding_idx = EMB_NO_PADDING;
    BAG_CASE("mode", "mode = 3 is not an emb_bag_mode", EMB_EINVAL,
             emb_bag(vtable, EMB_F32, vocab, dim, ids, EMB_I32, 6, &g, (emb_bag_mode)3, vout,
                     NULL));
    BAG_CASE("id past the vocabulary", "ids[5] = 8 is outside [0, 8)", EMB_ERANGE,
             emb_bag(vtable, EMB_F32, vocab, dim, ids64, EMB_I64, 6, &g, EMB_BAG_SUM, vout, NULL));
    BAG_CASE("id past the vocabulary, grad", "ids[5] = 8 is outside [0, 8)", EMB_ERANGE,
             emb_bag_grad(vtable, vocab, dim, ids64, EMB_I64, 6, &g, EMB_BAG_SUM, NULL, dout,
                          EMB_F32));
    BAG_CASE("argmax in sum", "argmax given with mode sum", EMB_EINVAL,
             emb_bag(vtable, EMB_F32, vocab, dim, ids, EMB_I32, 6, &g, EMB_BAG_SUM, vout,
                     vargmax));
    BAG_CASE("out over the table", "overlaps table", EMB_EINVAL,
             emb_bag(vtable, EMB_F32, vocab, dim, ids, EMB_I32, 6, &g, EMB_BAG_SUM, vtable + 32,
                     NULL));
    for (int i = 0; i < 4 * 32; i++)
        vargmax[i] = 9;
    BAG_CASE("argmax outside the vocabulary", "argmax[0] = 9", EMB_ERANGE,
             emb_bag_grad(vtable, vocab, dim, ids, EMB_I32, 6, &g, EMB_BAG_MAX, vargmax, dout,
                          EMB_F32));
    /* optimizer settings */
    const float bad_lr[] = {-0.5f, NAN, INFINITY};
    const char *const lr_text[] = {"lr = -0.5", "lr = nan", "lr = inf"};
    for (int i = 0; i < 3; i++) {
        emb_step s = {i == 2 ? EMB_OPT_ROWWISE_ADAGRAD : EMB_OPT_SGD, bad_lr[i], 0.0f, vh, 0};
        BAG_CASE(lr_text[i], lr_text[i], EMB_EINVAL,
                 emb_bag_update(vtable, EMB_F32, vocab, dim, ids, EMB_I32, 6, &g, EMB_BAG_SUM, dout,
                                &s));
    }
    emb_step s = {EMB_OPT_ROWWISE_ADAGRAD, 0.1f, -1.0f, vh, 0};
    BAG_CASE("negative eps", "eps = -1", EMB_EINVAL,
             emb_bag_update(vtable, EMB_F32, vocab, dim, ids, EMB_I32, 6, &g, EMB_BAG_SUM, dout,
                            &s));
    s.eps = 0.0f;
    BAG_CASE("max step", "mode max has no fused step", EMB_EINVAL,
             emb_bag_update(vtable, EMB_F32, vocab, dim, ids, EMB_I32, 6, &g, EMB_BAG_MAX, dout,
                            &s));
    s.coalesce = 1;
    BAG_CASE("coalesced, bad id", "ids[5] = 8 is outside [0, 8)", EMB_ERANGE,
             emb_bag_update(vtable, EMB_F32, vocab, dim, ids64, EMB_I64, 6, &g, EMB_BAG_SUM, dout,
                            &s));
    s.h = NULL;
    BAG_CASE("Adagrad without h", "step->h is NULL", EMB_EINVAL,
             emb_bag_update(vtable, EMB_F32, vocab, dim, ids, EMB_I32, 6, &g, EMB_BAG_SUM, dout,
                            &s));
    /* A quantized table, whose rows (dim 32) fit in vtable: rejected for
     * what requantizing each step would lose, before anything is read (and
     * before the dim, not a whole q4_K or q6_K block). */
    s.h = vh;
    static const emb_type quantized[] = {EMB_Q8_0, EMB_Q4_0, EMB_Q8_ROWWISE, EMB_Q4_K, EMB_Q6_K};
    for (size_t i = 0; i < sizeof quantized / sizeof quantized[0]; i++) {
        char needle[96];
        snprintf(needle, sizeof needle,
                 "table_type = %d (%s) is not f32, f16 or bf16: a quantized table is an inference "
                 "format", (int)quantized[i], emb_type_name(quantized[i]));
        BAG_CASE(emb_type_name(quantized[i]), needle, EMB_EINVAL,
                 emb_bag_update(vtable, quantized[i], vocab, dim, ids, EMB_I32, 6, &g,
                                EMB_BAG_SUM, dout, &s));
        ck_assert_msg(strstr(emb_last_error(), "half a quantization step") != NULL, "%s",
                      emb_last_error());
    }
    BAG_CASE("not a table type", "table_type = 9 is not an emb_type", EMB_EINVAL,
             emb_bag_update(vtable, (emb_type)9, vocab, dim, ids, EMB_I32, 6, &g, EMB_BAG_SUM,
                            dout, &s));
#undef BAG_CASE
}
END_TEST

/* ---- the suite ------------------------------------------------------------------ */

static void add_tests(Suite *s, int impl)
{
    const TTest *const tests[] = {bad_arguments_write_nothing,
                                  rounding_per_occurrence_and_coalesced};
    TCase *tc = add_impl_tests(s, impl, tests, sizeof tests / sizeof tests[0], 300);
    add_op_loop_test(tc, bag_matches_its_definition, impl, 1u << EMB_OP_BAG);
    add_op_loop_test(tc, empty_and_zero_bags, impl, 1u << EMB_OP_BAG);
    add_op_loop_test(tc, streaming_bags_at_every_output_offset, impl, 1u << EMB_OP_BAG);
    add_op_loop_test(tc, bag_grad_matches_its_definition, impl, 1u << EMB_OP_BAG_GRAD);
    add_op_loop_test(tc, bag_step_matches_its_definition, impl,
                     (1u << EMB_OP_BAG_SGD) | (1u << EMB_OP_BAG_ADAGRAD));
}

int main(int argc, char **argv)
{
    return test_main(argc, argv, "bag", add_tests, NULL);
}
