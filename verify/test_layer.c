/* test_layer.c - the Check suite of the embedding layer as models use it:
 * the fused token + positional lookup and its gradient, nn.Embedding's
 * padding_idx, scale_grad_by_freq and max_norm. Every kernel of the fused
 * ops under every implementation this CPU supports, bit for bit against
 * the reference (verify/reference.c), at 1 to 3 threads. */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "embsimd.h"
#include "gen.h"
#include "reference.h"
#include "test_common.h"
#include "internal.h" /* emb_schedule_set_loops: the rows-in-flight path on a small table */
#include "types.h"    /* the library's narrowing, compared with the reference's */

/* The ENOMEM tests cap the address space: under ASan an allocation that
 * cannot be had must return NULL, as it does without it. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

static const int thread_counts[] = {1, 2, 3};
enum { N_THREADS = sizeof thread_counts / sizeof thread_counts[0] };

/* Dims for every type (multiples of 32 for the blocked ones), short and
 * long rows, and remainders after the 64-element pieces. */
static const int64_t dims[] = {1, 7, 32, 67, 96, 160, 200, 256, 419};
enum { N_DIMS = sizeof dims / sizeof dims[0] };

static const emb_type pos_types[] = {EMB_F32, EMB_F16, EMB_BF16};

/* A table of vocab rows of type t: random bytes, made determinate where
 * IEEE leaves a result open (reference.h). */
static void *random_table(gen_rng *r, emb_type t, int64_t vocab, int64_t dim)
{
    const size_t rb = emb_row_bytes(t, dim);
    uint8_t *p = xmalloc((size_t)vocab * rb);
    fill_bytes(r, p, (size_t)vocab * rb);
    for (int64_t v = 0; v < vocab; v++)
        ref_make_determinate(t, p + (size_t)v * rb, dim);
    return p;
}

/* Explicit positions, or none (computed). */
static void *make_positions(gen_rng *r, emb_index id_type, int64_t n, int64_t max_pos,
                            int explicit_positions)
{
    return explicit_positions ? make_ids(r, id_type, (size_t)n, max_pos, GEN_IDS_UNIFORM) : NULL;
}

/* ---- the fused lookup ------------------------------------------------------- */

static void lookup_pos_case(const emb_kernel *k, emb_type pt, emb_index it, int64_t dim,
                            int64_t vocab, int64_t n, int64_t max_pos, int explicit_positions,
                            gen_rng *r)
{
    if (emb_row_bytes(k->in, dim) == 0)
        return;
    void *table = random_table(r, k->in, vocab, dim);
    void *ptable = xmalloc((size_t)max_pos * emb_row_bytes(pt, dim));
    fill_elements(r, pt, ptable, (size_t)(max_pos * dim), VALUES_NOT_NAN);
    void *ids = make_ids(r, it, (size_t)n, vocab, GEN_IDS_ZIPF);
    void *positions = make_positions(r, it, n, max_pos, explicit_positions);
    /* Computed: a batch of sequences with a nonzero offset that still
     * fits (a decode step with a KV cache). */
    const int64_t seq_len = max_pos > 3 ? max_pos - 3 : 1;
    const emb_positions pos = {positions, max_pos - seq_len, seq_len};
    float *want = xmalloc((size_t)(n * dim) * sizeof(float));
    ck_assert_int_eq(ref_lookup_pos(k->in, table, vocab, dim, ids, it, n, pt, ptable, max_pos,
                                    &pos, want), 0);
    for (int t = 0; t < N_THREADS; t++) {
        ck_assert_int_eq(emb_set_num_threads(thread_counts[t]), EMB_OK);
        guarded out = guarded_new(n * dim, t);
        char what[160];
        snprintf(what, sizeof what, "%s + %s positions (%s), %s ids, dim %lld, n %lld, %d threads",
                 k->name, emb_type_name(pt), explicit_positions ? "explicit" : "computed",
                 emb_index_name(it), (long long)dim, (long long)n, thread_counts[t]);
        ck_assert_msg(emb_lookup_pos(table, k->in, vocab, dim, ids, it, n, ptable, pt, max_pos,
                                     &pos, out.p) == EMB_OK, "%s: %s", what, emb_last_error());
        ASSERT_SAME_BITS(out.p, want, n * dim, what);
        guarded_check(&out, what);
        free(out.base);
    }
    emb_set_num_threads(0);
    free(table);
    free(ptable);
    free(ids);
    free(positions);
    free(want);
}

START_TEST(lookup_pos_matches_reference)
{
    const emb_kernel *k = kernel_of(_i);
    gen_rng r = gen_seed(0x7001 + (uint64_t)(_i % KERNEL_SLOTS));
    for (int d = 0; d < N_DIMS; d++)
        for (int p = 0; p < 3; p++)
            lookup_pos_case(k, pos_types[p], (emb_index)((d + p) & 1), dims[d], 50, 37, 13,
                            (d + p) % 3 == 0, &r);
}
END_TEST

/* Large enough for prefetching and streaming stores (schedule.c's thresholds:
 * table past half the LLC, output past 5/8 of it), of the cache main() pins
 * (TEST_PAST_CACHE_LLC). */
START_TEST(lookup_pos_past_the_cache)
{
    const emb_kernel *k = kernel_of(_i);
    gen_rng r = gen_seed(0x7002);
    const int64_t dim = 256, llc = emb_llc_bytes();
    const int64_t vocab = llc / 2 / (int64_t)emb_row_bytes(k->in, dim) + 1;
    const int64_t n = llc / 8 * 5 / (dim * 4) + 5;
    lookup_pos_case(k, EMB_F32, EMB_I32, dim, vocab, n, 1024, 0, &r);
}
END_TEST

/* The fused lookup into an output at each 4-byte offset from a 64-byte
 * boundary, on its default path (this small table stays in cache), rows in
 * flight (prefetch and pieces from any table and dim) and streaming
 * stores. Rows in flight cut their pieces at the output's lines where the
 * types allow (emb_out_line_lead in row_loops.h): dim 160 with element
 * tables does at every offset but 0; 96 is too short for it. The ids:
 * path_ids (test_common.h). */
START_TEST(lookup_pos_at_every_output_offset)
{
    const emb_kernel *k = kernel_of(_i);
    gen_rng r = gen_seed(0x7005);
    const emb_loop_schedule saved = *emb_loops();
    emb_loop_schedule paths[ROW_PATHS];
    row_paths(paths);
    const int64_t vocab = PATH_VOCAB, n = PATH_TOKENS, max_pos = 4, dims_here[] = {96, 160};
    const int32_t *ids = path_ids;
    const emb_positions pos = {NULL, 1, 3};
    for (int d = 0; d < 2; d++) {
        const int64_t dim = dims_here[d];
        if (emb_row_bytes(k->in, dim) == 0)
            continue;
        void *table = random_table(&r, k->in, vocab, dim);
        for (int p = 0; p < 3; p++) {
            const emb_type pt = pos_types[p];
            void *ptable = xmalloc((size_t)max_pos * emb_row_bytes(pt, dim));
            fill_elements(&r, pt, ptable, (size_t)(max_pos * dim), VALUES_NOT_NAN);
            float *want = xmalloc((size_t)(n * dim) * sizeof(float));
            ck_assert_int_eq(ref_lookup_pos(k->in, table, vocab, dim, ids, EMB_I32, n, pt,
                                            ptable, max_pos, &pos, want), 0);
            for (int path = 0; path < ROW_PATHS; path++) {
                emb_schedule_set_loops(&paths[path]);
                for (size_t off = 0; off < 64; off += 4) {
                    char what[160];
                    snprintf(what, sizeof what,
                             "%s + %s positions, dim %lld, %s, output at 64k + %zu", k->name,
                             emb_type_name(pt), (long long)dim, row_path_names[path], off);
                    gbytes out = gbytes_new((size_t)(n * dim) * sizeof(float), off);
                    const emb_status s = emb_lookup_pos(table, k->in, vocab, dim, ids, EMB_I32, n,
                                                        ptable, pt, max_pos, &pos, (float *)out.p);
                    ck_assert_msg(s == EMB_OK, "%s: %s", what, emb_last_error());
                    ASSERT_SAME_BITS((const float *)out.p, want, n * dim, what);
                    gbytes_check(&out, what);
                    gbytes_free(&out);
                }
            }
            emb_schedule_set_loops(&saved);
            free(ptable);
            free(want);
        }
        free(table);
    }
}
END_TEST

/* ---- the gradients -------------------------------------------------------- */

static const emb_grad_options option_sets[] = {
    EMB_GRAD_OPTIONS_DEFAULT, {3, 0}, {-1, 0}, {EMB_NO_PADDING, 1}, {-2, 1},
};
enum { N_OPTION_SETS = sizeof option_sets / sizeof option_sets[0] };

/* One grad or grad_pos call (positional when max_pos > 0) against the
 * reference, at every thread count. */
static void grad_case(emb_type g, emb_index it, int64_t dim, int64_t vocab, int64_t n,
                      int64_t max_pos, int explicit_positions, const emb_grad_options *opt,
                      gen_rng *r)
{
    const int positional = max_pos > 0;
    const size_t w_bytes = (size_t)(vocab * dim) * sizeof(float);
    const size_t p_bytes = (size_t)((positional ? max_pos : 1) * dim) * sizeof(float);
    float *w0 = xmalloc(w_bytes), *p0 = xmalloc(p_bytes);
    gen_fill_bits_no_nan(r, w0, (size_t)(vocab * dim));
    gen_fill_bits_no_nan(r, p0, p_bytes / sizeof(float));
    void *dout = xmalloc((size_t)n * emb_row_bytes(g, dim));
    fill_elements(r, g, dout, (size_t)(n * dim), VALUES_MODERATE);
    void *ids = make_ids(r, it, (size_t)n, vocab, GEN_IDS_ZIPF);
    /* The padding row is named, and so is the row just past it. */
    if (n > 2 && opt->padding_idx != EMB_NO_PADDING) {
        const int64_t pad = opt->padding_idx < 0 ? opt->padding_idx + vocab : opt->padding_idx;
        set_id(ids, it, 0, pad);
        set_id(ids, it, 1, pad);
        set_id(ids, it, 2, (pad + 1) % vocab);
    }
    void *positions = make_positions(r, it, n, positional ? max_pos : 1, explicit_positions);
    const int64_t seq_len = positional ? (max_pos > 2 ? max_pos - 2 : max_pos) : 1;
    const emb_positions pos = {positions, positional ? max_pos - seq_len : 0, seq_len};
    float *want_w = xmalloc(w_bytes), *want_p = xmalloc(p_bytes);
    memcpy(want_w, w0, w_bytes);
    memcpy(want_p, p0, p_bytes);
    ck_assert_int_eq(ref_grad_ex(g, want_w, vocab, dim, ids, it, n, dout, opt,
                                 positional ? want_p : NULL, max_pos, &pos), 0);
    float *got_w = xmalloc(w_bytes), *got_p = xmalloc(p_bytes);
    for (int t = 0; t < N_THREADS; t++) {
        ck_assert_int_eq(emb_set_num_threads(thread_counts[t]), EMB_OK);
        memcpy(got_w, w0, w_bytes);
        memcpy(got_p, p0, p_bytes);
        char what[192];
        snprintf(what, sizeof what,
                 "%s from %s dout, %s ids, dim %lld, n %lld, padding_idx %lld, scale %d, %s, "
                 "%d threads",
                 positional ? "emb_grad_pos" : "emb_grad_ex", emb_type_name(g), emb_index_name(it),
                 (long long)dim, (long long)n,
                 (long long)(opt->padding_idx == EMB_NO_PADDING ? -999 : opt->padding_idx),
                 opt->scale_grad_by_freq, explicit_positions ? "explicit positions" : "computed",
                 thread_counts[t]);
        const emb_status s =
            positional ? emb_grad_pos(got_w, vocab, got_p, max_pos, dim, ids, it, n, &pos, dout,
                                      g, opt)
                       : emb_grad_ex(got_w, vocab, dim, ids, it, n, dout, g, opt);
        ck_assert_msg(s == EMB_OK, "%s: %s", what, emb_last_error());
        ASSERT_SAME_BITS(got_w, want_w, vocab * dim, what);
        if (positional)
            ASSERT_SAME_BITS(got_p, want_p, max_pos * dim, what);
        if (opt->padding_idx != EMB_NO_PADDING) {
            const int64_t pad = opt->padding_idx < 0 ? opt->padding_idx + vocab : opt->padding_idx;
            ASSERT_SAME_BITS(got_w + pad * dim, w0 + pad * dim, dim, "the padding row");
        }
    }
    emb_set_num_threads(0);
    free(w0), free(p0), free(dout), free(ids), free(positions);
    free(want_w), free(want_p), free(got_w), free(got_p);
}

START_TEST(grad_pos_matches_reference)
{
    const emb_kernel *k = kernel_of(_i);
    gen_rng r = gen_seed(0x7003 + (uint64_t)(_i % KERNEL_SLOTS));
    for (int d = 0; d < N_DIMS; d++)
        for (int o = 0; o < N_OPTION_SETS; o++)
            grad_case(k->in, (emb_index)((d + o) & 1), dims[d], 40, 53, 11, (d + o) % 3 == 0,
                      &option_sets[o], &r);
}
END_TEST

START_TEST(grad_options_match_reference)
{
    const emb_kernel *k = kernel_of(_i);
    gen_rng r = gen_seed(0x7004 + (uint64_t)(_i % KERNEL_SLOTS));
    for (int d = 0; d < N_DIMS; d++)
        for (int o = 0; o < N_OPTION_SETS; o++)
            grad_case(k->in, (emb_index)((d + o) & 1), dims[d], 40, 53, 0, 0, &option_sets[o],
                      &r);
}
END_TEST

/* Past half the LLC the gradients prefetch and keep rows in flight: the
 * padding row is skipped there too. */
START_TEST(grad_options_past_the_cache)
{
    use_impl(_i);
    gen_rng r = gen_seed(0x7005);
    const int64_t dim = 256, vocab = emb_llc_bytes() / 2 / (dim * 4) + 1;
    for (int o = 0; o < N_OPTION_SETS; o++) {
        grad_case(EMB_F32, EMB_I32, dim, vocab, 700, 0, 0, &option_sets[o], &r);
        grad_case(EMB_BF16, EMB_I64, dim, vocab, 300, 1024, 0, &option_sets[o], &r);
    }
}
END_TEST

/* With options NULL or default, emb_grad_ex is emb_grad. */
START_TEST(grad_ex_default_is_grad)
{
    use_impl(_i);
    gen_rng r = gen_seed(0x7006);
    enum { V = 30, D = 67, N = 41 };
    float *a = xmalloc(V * D * 4), *b = xmalloc(V * D * 4), *c = xmalloc(V * D * 4);
    float *dout = xmalloc(N * D * 4);
    gen_fill_bits(&r, a, V * D);
    gen_fill_bits(&r, dout, N * D);
    memcpy(b, a, V * D * 4);
    memcpy(c, a, V * D * 4);
    int32_t ids[N];
    gen_ids(&r, ids, N, V, GEN_IDS_ZIPF);
    const emb_grad_options def = EMB_GRAD_OPTIONS_DEFAULT;
    ck_assert_int_eq(emb_grad(a, V, D, ids, EMB_I32, N, dout, EMB_F32), EMB_OK);
    ck_assert_int_eq(emb_grad_ex(b, V, D, ids, EMB_I32, N, dout, EMB_F32, NULL), EMB_OK);
    ck_assert_int_eq(emb_grad_ex(c, V, D, ids, EMB_I32, N, dout, EMB_F32, &def), EMB_OK);
    ASSERT_SAME_BITS(b, a, V * D, "emb_grad_ex(NULL)");
    ASSERT_SAME_BITS(c, a, V * D, "emb_grad_ex(default)");
    free(a), free(b), free(c), free(dout);
}
END_TEST

/* scale_grad_by_freq's definition on numbers worked by hand: a row named
 * three times gets x / 3 per token, rounded once; named once, x itself. */
START_TEST(scale_grad_by_freq_by_hand)
{
    use_impl(_i);
    float dtable[2] = {0, 0};
    const int32_t ids[4] = {0, 0, 1, 0};
    const float dout[4] = {1.0f, 1.0f, 5.0f, 1.0f};
    const emb_grad_options opt = {EMB_NO_PADDING, 1};
    ck_assert_int_eq(emb_grad_ex(dtable, 2, 1, ids, EMB_I32, 4, dout, EMB_F32, &opt), EMB_OK);
    const float third = 1.0f / 3.0f;
    volatile float want = third + third;
    want = want + third;
    ck_assert_uint_eq(gen_f2u(dtable[0]), gen_f2u(want));
    ck_assert_uint_eq(gen_f2u(dtable[1]), gen_f2u(5.0f));
}
END_TEST

/* The library's f16 narrowing against the hardware's (x86 F16C,
 * VCVTPS2PH with round-to-nearest-even) on every 256th pattern of 2^32:
 * NaNs, subnormals, ties and overflow alike. */
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
/* CPUID.1:ECX.F16C; clang 14's __builtin_cpu_supports has no "f16c". */
static int cpu_has_f16c(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}

__attribute__((target("f16c"))) static uint16_t f16c_narrow(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return (uint16_t)_cvtss_sh(f, 0);
}
#endif

START_TEST(f16_narrowing_matches_f16c)
{
#if defined(__x86_64__) || defined(__i386__)
    if (!cpu_has_f16c()) {
        fprintf(stderr, "SKIP f16_narrowing_matches_f16c: the CPU lacks F16C\n");
        return;
    }
    for (uint64_t x = 0; x <= 0xffffffffu; x += 251) {
        const uint32_t u = (uint32_t)x;
        /* ck_assert per pattern would cost a pipe write each: test first. */
        if (emb_f32_to_f16_bits(u) != f16c_narrow(u))
            ck_abort_msg("0x%08x: 0x%04x, F16C 0x%04x", u, emb_f32_to_f16_bits(u),
                         f16c_narrow(u));
    }
#else
    fprintf(stderr, "SKIP f16_narrowing_matches_f16c: not an x86 CPU\n");
#endif
}
END_TEST

/* ---- validation: clear errors, nothing written ---------------------------- */

START_TEST(positions_are_validated)
{
    use_impl(_i);
    enum { V = 10, D = 8, N = 6, P = 4 };
    float table[V * D], ptable[P * D], out[N * D], before[N * D];
    for (int j = 0; j < V * D; j++)
        table[j] = (float)j;
    for (int j = 0; j < P * D; j++)
        ptable[j] = (float)-j;
    for (int j = 0; j < N * D; j++)
        out[j] = before[j] = 7.0f;
    const int32_t ids[N] = {1, 2, 3, 4, 5, 6};
    /* offset 2, seq_len 4: token 2 has position 4 = max_pos */
    const emb_positions past = {NULL, 2, 4};
    EXPECT_FAILURE(emb_lookup_pos(table, EMB_F32, V, D, ids, EMB_I32, N, ptable, EMB_F32, P,
                                  &past, out), EMB_ERANGE, "token 2 has position 4");
    const int32_t explicit_bad[N] = {0, 1, 2, 3, -1, 0};
    const emb_positions bad = {explicit_bad, 0, 0};
    EXPECT_FAILURE(emb_lookup_pos(table, EMB_F32, V, D, ids, EMB_I32, N, ptable, EMB_F32, P,
                                  &bad, out), EMB_ERANGE, "token 4 has position pos->ids[4] = -1");
    const emb_positions no_len = {NULL, 0, 0};
    EXPECT_FAILURE(emb_lookup_pos(table, EMB_F32, V, D, ids, EMB_I32, N, ptable, EMB_F32, P,
                                  &no_len, out), EMB_EINVAL, "seq_len = 0");
    const emb_positions neg = {NULL, -1, 4};
    EXPECT_FAILURE(emb_lookup_pos(table, EMB_F32, V, D, ids, EMB_I32, N, ptable, EMB_F32, P,
                                  &neg, out), EMB_EINVAL, "offset = -1");
    const emb_positions ok = {NULL, 0, 4};
    EXPECT_FAILURE(emb_lookup_pos(table, EMB_F32, V, D, ids, EMB_I32, N, ptable, EMB_Q8_0, P,
                                  &ok, out), EMB_EINVAL, "q8_0) is not f32, f16 or bf16");
    EXPECT_FAILURE(emb_lookup_pos(table, EMB_F32, V, D, ids, EMB_I32, N, ptable, EMB_F32, P,
                                  NULL, out), EMB_EINVAL, "pos is NULL");
    const int32_t bad_ids[N] = {1, 2, 3, 10, 5, 6};
    EXPECT_FAILURE(emb_lookup_pos(table, EMB_F32, V, D, bad_ids, EMB_I32, N, ptable, EMB_F32, P,
                                  &ok, out), EMB_ERANGE, "ids[3] = 10");
    EXPECT_FAILURE(emb_lookup_pos(table, EMB_F32, V, D, ids, EMB_I32, N, out, EMB_F32, P, &ok,
                                  out), EMB_EINVAL, "overlaps pos_table");
    ASSERT_SAME_BITS(out, before, N * D, "out after the failed calls");

    /* The gradient: the same positions, plus two tables that overlap. */
    float dw[V * D], dp[P * D], dw0[V * D], dp0[P * D];
    memcpy(dw, table, sizeof dw);
    memcpy(dp, ptable, sizeof dp);
    memcpy(dw0, dw, sizeof dw);
    memcpy(dp0, dp, sizeof dp);
    EXPECT_FAILURE(emb_grad_pos(dw, V, dp, P, D, ids, EMB_I32, N, &past, out, EMB_F32, NULL),
                   EMB_ERANGE, "token 2 has position 4");
    EXPECT_FAILURE(emb_grad_pos(dw, V, dw + D, P, D, ids, EMB_I32, N, &ok, out, EMB_F32, NULL),
                   EMB_EINVAL, "overlaps dpos_table");
    const emb_grad_options bad_pad = {V, 0};
    EXPECT_FAILURE(emb_grad_pos(dw, V, dp, P, D, ids, EMB_I32, N, &ok, out, EMB_F32, &bad_pad),
                   EMB_EINVAL, "padding_idx = 10 is outside [-10, 10)");
    ASSERT_SAME_BITS(dw, dw0, V * D, "dtable after the failed calls");
    ASSERT_SAME_BITS(dp, dp0, P * D, "dpos_table after the failed calls");
}
END_TEST

START_TEST(padding_idx_is_validated)
{
    use_impl(_i);
    enum { V = 5, D = 3, N = 2 };
    float dw[V * D] = {0}, dout[N * D] = {1, 2, 3, 4, 5, 6};
    const int32_t ids[N] = {0, 4};
    const emb_grad_options low = {-6, 0}, high = {5, 0};
    EXPECT_FAILURE(emb_grad_ex(dw, V, D, ids, EMB_I32, N, dout, EMB_F32, &low), EMB_EINVAL,
                   "padding_idx = -6 is outside [-5, 5)");
    EXPECT_FAILURE(emb_grad_ex(dw, V, D, ids, EMB_I32, N, dout, EMB_F32, &high), EMB_EINVAL,
                   "padding_idx = 5");
    for (int j = 0; j < V * D; j++)
        ck_assert_uint_eq(gen_f2u(dw[j]), 0);
    /* -5 is row 0 (from the end, as in PyTorch): only row 4 changes. */
    const emb_grad_options first = {-5, 0};
    ck_assert_int_eq(emb_grad_ex(dw, V, D, ids, EMB_I32, N, dout, EMB_F32, &first), EMB_OK);
    for (int j = 0; j < D; j++) {
        ck_assert_uint_eq(gen_f2u(dw[j]), 0);
        ck_assert_uint_eq(gen_f2u(dw[4 * D + j]), gen_f2u(dout[D + j]));
    }
}
END_TEST

/* Address space capped just above what the process holds: the scratch of
 * scale_grad_by_freq (4 x vocab bytes) and of max_norm (vocab / 8) cannot
 * be had. The tables are reserved, not touched, before the cap. */
static int scratch_refused(const char *which)
{
    const int64_t vocab = (int64_t)1 << 30, dim = 1;
    const size_t bytes = (size_t)vocab * sizeof(float);
    float *table = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                        -1, 0);
    if (table == MAP_FAILED)
        return 1;
    float dout[3] = {1, 2, 3};
    const int32_t ids[3] = {5, 7, 5};
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (f == NULL || fscanf(f, "%lu", &pages) != 1)
        return 2;
    fclose(f);
    const struct rlimit cap = {(rlim_t)pages * 4096 + ((rlim_t)64 << 20),
                               (rlim_t)pages * 4096 + ((rlim_t)64 << 20)};
    if (setrlimit(RLIMIT_AS, &cap) != 0)
        return 3;
    /* Under qemu-user the guest's heap lives in address space the emulator
     * reserved before the cap: nothing is refused, and the ENOMEM path can
     * only be reached natively (where .ci/run also runs it under ASan). */
    void *probe = malloc((size_t)256 << 20);
    if (probe != NULL) {
        free(probe);
        fprintf(stderr, "NOTE: %s: an address-space cap does not bind here (an emulator?): "
                "the ENOMEM path is not reached in this run\n", which);
        return 0;
    }
    emb_set_num_threads(1);
    emb_status s;
    if (strcmp(which, "scale") == 0) {
        const emb_grad_options opt = {EMB_NO_PADDING, 1};
        s = emb_grad_ex(table, vocab, dim, ids, EMB_I32, 3, dout, EMB_F32, &opt);
        if (strstr(emb_last_error(), "4294967296 bytes of scratch") == NULL)
            return 4;
    } else {
        table[5] = 1e30f;
        s = emb_renorm(table, EMB_F32, vocab, dim, ids, EMB_I32, 3, 1.0, 2.0);
        if (strstr(emb_last_error(), "134217728 bytes of scratch") == NULL)
            return 5;
        table[5] = 0.0f; /* still 1e30 had it been scaled */
    }
    if (s != EMB_ENOMEM)
        return 6;
    return table[5] == 0.0f && table[7] == 0.0f ? 0 : 7;
}

START_TEST(scratch_that_cannot_be_had_is_enomem)
{
    use_impl(_i);
    run_in_child(scratch_refused, "scale", "scale_grad_by_freq under a capped address space");
    run_in_child(scratch_refused, "renorm", "emb_renorm under a capped address space");
}
END_TEST

/* ---- max_norm ----------------------------------------------------------- */

START_TEST(renorm_matches_reference)
{
    use_impl(_i);
    gen_rng r = gen_seed(0x7007);
    static const double norm_types[] = {2.0, 1.0, 3.0, 0.5, INFINITY};
    static const int64_t rdims[] = {1, 31, 32, 33, 100, 768};
    static const emb_type types[] = {EMB_F32, EMB_F16, EMB_BF16};
    for (size_t ty = 0; ty < 3; ty++)
        for (size_t d = 0; d < sizeof rdims / sizeof rdims[0]; d++)
            for (size_t p = 0; p < sizeof norm_types / sizeof norm_types[0]; p++) {
                const emb_type t = types[ty];
                const int64_t dim = rdims[d], vocab = 20, n = 30;
                const size_t bytes = (size_t)vocab * emb_row_bytes(t, dim);
                uint8_t *a = xmalloc(bytes), *b = xmalloc(bytes);
                float *wide = xmalloc((size_t)(vocab * dim) * 4);
                for (int64_t j = 0; j < vocab * dim; j++)
                    wide[j] = gen_finite(&r) * (float)(1 + gen_below(&r, 4));
                if (d == 2)
                    wide[3 * dim] = NAN; /* a NaN norm scales nothing */
                if (d == 3)
                    wide[5 * dim + 1] = INFINITY; /* an Inf norm scales by 0: Inf x 0 is NaN */
                for (int64_t j = 0; j < vocab * dim; j++) {
                    const uint32_t u = gen_f2u(wide[j]);
                    if (t == EMB_F32) {
                        memcpy(a + 4 * j, &u, 4);
                    } else {
                        const uint16_t h = t == EMB_F16 ? ref_f32_to_f16_bits(u)
                                                        : ref_f32_to_bf16_bits(u);
                        memcpy(a + 2 * j, &h, 2);
                    }
                }
                memcpy(b, a, bytes);
                const emb_index it = (emb_index)(p & 1);
                void *ids = make_ids(&r, it, (size_t)n, vocab, GEN_IDS_ZIPF);
                set_id(ids, it, 0, 3);
                set_id(ids, it, 1, 5);
                /* max_norm near the typical norm: some rows scale, some not */
                const double max_norm = ref_row_norm(wide + dim, dim, norm_types[p]);
                ck_assert_int_eq(ref_renorm(b, t, vocab, dim, ids, it, n, max_norm, norm_types[p]),
                                 0);
                ck_assert_int_eq(emb_renorm(a, t, vocab, dim, ids, it, n, max_norm, norm_types[p]),
                                 EMB_OK);
                char what[96];
                snprintf(what, sizeof what, "emb_renorm, %s table, dim %lld, p = %g",
                         emb_type_name(t), (long long)dim, norm_types[p]);
                ASSERT_SAME_BYTES(a, b, bytes, what);
                free(a), free(b), free(wide), free(ids);
            }
}
END_TEST

/* The two narrowing definitions against each other: the library's bit
 * arithmetic (types.h, through emb_renorm's rounding) and the reference's
 * rounding in double, on every f16 value (each must narrow to itself),
 * and on the halfway points and their neighbours, where ties go to even. */
START_TEST(narrowing_to_16_bits_by_hand)
{
    /* Every non-NaN f16 and bf16 pattern survives widening and narrowing. */
    for (uint32_t h = 0; h < 65536; h++) {
        const uint32_t f = ref_f16_to_f32_bits((uint16_t)h);
        if ((h & 0x7c00u) != 0x7c00u || (h & 0x3ffu) == 0)
            ck_assert_uint_eq(ref_f32_to_f16_bits(f), h);
        const uint32_t b = ref_bf16_to_f32_bits((uint16_t)h);
        if ((h & 0x7f80u) != 0x7f80u || (h & 0x7fu) == 0)
            ck_assert_uint_eq(ref_f32_to_bf16_bits(b), h);
    }
    /* Worked values: 1 + 2^-11 (halfway between 1 and 1 + 2^-10) goes to
     * 1 (even), 1 + 3 * 2^-11 to 1 + 2^-9; 65519 to 65504, 65520 to Inf;
     * 2^-25 (half the smallest subnormal) to 0, just above it to 2^-24. */
    ck_assert_uint_eq(ref_f32_to_f16_bits(0x3f801000u), 0x3c00u);
    ck_assert_uint_eq(ref_f32_to_f16_bits(0x3f803000u), 0x3c02u);
    ck_assert_uint_eq(ref_f32_to_f16_bits(gen_f2u(65519.0f)), 0x7bffu);
    ck_assert_uint_eq(ref_f32_to_f16_bits(gen_f2u(65520.0f)), 0x7c00u);
    ck_assert_uint_eq(ref_f32_to_f16_bits(0x33000000u), 0x0000u);
    ck_assert_uint_eq(ref_f32_to_f16_bits(0x33000001u), 0x0001u);
    ck_assert_uint_eq(ref_f32_to_f16_bits(0xffc00000u), 0xfe00u); /* x86's default NaN */
    ck_assert_uint_eq(ref_f32_to_bf16_bits(0x3f808000u), 0x3f80u); /* tie: to even */
    ck_assert_uint_eq(ref_f32_to_bf16_bits(0x3f818000u), 0x3f82u);
    ck_assert_uint_eq(ref_f32_to_bf16_bits(0x7f7fffffu), 0x7f80u); /* FLT_MAX rounds to Inf */
    ck_assert_uint_eq(ref_f32_to_bf16_bits(0x7f800001u), 0x7fc0u); /* sNaN: quieted */

    /* The library's bit arithmetic against the reference, on every sign and
     * exponent with mantissas at, next to and between the ties of both
     * formats (low 13 bits for f16, 16 for bf16), and random ones. */
    static const uint32_t low[] = {0x0000, 0x0001, 0x0fff, 0x1000, 0x1001, 0x1fff, 0x2000,
                                   0x2fff, 0x3000, 0x3001, 0x7fff, 0x8000, 0x8001, 0xffff,
                                   0x17fff, 0x18000, 0x18001, 0x7fffff, 0x400000, 0x7fe000};
    gen_rng r = gen_seed(0x7008);
    for (uint32_t se = 0; se < 512; se++)
        for (size_t k = 0; k < sizeof low / sizeof low[0] + 64; k++) {
            const uint32_t m = k < sizeof low / sizeof low[0]
                                   ? low[k] | (uint32_t)(gen_bits(&r) & 0x7f0000u & -(low[k] < 0x10000))
                                   : gen_bits(&r) & 0x7fffffu;
            const uint32_t u = se << 23 | m;
            ck_assert_msg(emb_f32_to_f16_bits(u) == ref_f32_to_f16_bits(u),
                          "f16 of 0x%08x: 0x%04x, the reference 0x%04x", u,
                          emb_f32_to_f16_bits(u), ref_f32_to_f16_bits(u));
            ck_assert_msg(emb_f32_to_bf16_bits(u) == ref_f32_to_bf16_bits(u),
                          "bf16 of 0x%08x: 0x%04x, the reference 0x%04x", u,
                          emb_f32_to_bf16_bits(u), ref_f32_to_bf16_bits(u));
        }
}
END_TEST

/* Each distinct row once: naming a row twice scales it as naming it once
 * does, and a row no id names is not touched. */
START_TEST(renorm_scales_each_row_once)
{
    use_impl(_i);
    float once[3 * 4] = {3, 4, 0, 0, 6, 8, 0, 0, 30, 40, 0, 0};
    float twice[3 * 4];
    memcpy(twice, once, sizeof once);
    const int32_t a[1] = {1}, b[3] = {1, 1, 1};
    ck_assert_int_eq(emb_renorm(once, EMB_F32, 3, 4, a, EMB_I32, 1, 5.0, 2.0), EMB_OK);
    ck_assert_int_eq(emb_renorm(twice, EMB_F32, 3, 4, b, EMB_I32, 3, 5.0, 2.0), EMB_OK);
    ASSERT_SAME_BITS(twice, once, 12, "row 1 named three times");
    /* norm 10 > 5: scaled by (float)(5 / (10 + 1e-7)) */
    const float s = (float)(5.0 / (10.0 + 1e-7));
    ck_assert_uint_eq(gen_f2u(once[4]), gen_f2u(6.0f * s));
    ck_assert_uint_eq(gen_f2u(once[0]), gen_f2u(3.0f)); /* row 0: not named */
    ck_assert_uint_eq(gen_f2u(once[8]), gen_f2u(30.0f)); /* row 2: not named */
}
END_TEST

START_TEST(renorm_arguments_are_validated)
{
    use_impl(_i);
    float t[4] = {30, 40, 1, 1}, before[4];
    memcpy(before, t, sizeof t);
    const int32_t ids[2] = {0, 2};
    EXPECT_FAILURE(emb_renorm(t, EMB_F32, 2, 2, ids, EMB_I32, 2, 1.0, 2.0), EMB_ERANGE,
                   "ids[1] = 2");
    EXPECT_FAILURE(emb_renorm(t, EMB_F32, 2, 2, ids, EMB_I32, 1, NAN, 2.0), EMB_EINVAL,
                   "max_norm = nan");
    EXPECT_FAILURE(emb_renorm(t, EMB_F32, 2, 2, ids, EMB_I32, 1, -1.0, 2.0), EMB_EINVAL,
                   "max_norm = -1");
    EXPECT_FAILURE(emb_renorm(t, EMB_F32, 2, 2, ids, EMB_I32, 1, 1.0, 0.0), EMB_EINVAL,
                   "norm_type = 0");
    EXPECT_FAILURE(emb_renorm(t, EMB_F32, 2, 2, ids, (emb_index)2, 1, 1.0, 2.0), EMB_EINVAL,
                   "id_type = 2");
    EXPECT_FAILURE(emb_renorm(t, EMB_Q8_0, 2, 32, ids, EMB_I32, 1, 1.0, 2.0), EMB_EINVAL,
                   "table_type = 3 (q8_0) is not f32, f16 or bf16: max_norm rescales rows in "
                   "place");
    ASSERT_SAME_BITS(t, before, 4, "table after the failed calls");
}
END_TEST

/* ------------------------------------------------------------------ */

static void add_once(Suite *s)
{
    TCase *tc = tcase_create("narrowing");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, f16_narrowing_matches_f16c);
    suite_add_tcase(s, tc);
}

static void add_tests(Suite *s, int impl)
{
    const TTest *const tests[] = {
        grad_options_past_the_cache, grad_ex_default_is_grad, scale_grad_by_freq_by_hand,
        positions_are_validated, padding_idx_is_validated, scratch_that_cannot_be_had_is_enomem,
        renorm_matches_reference, renorm_scales_each_row_once, renorm_arguments_are_validated,
        narrowing_to_16_bits_by_hand,
    };
    TCase *tc = add_impl_tests(s, impl, tests, sizeof tests / sizeof tests[0], 300);
    add_op_loop_test(tc, lookup_pos_matches_reference, impl, 1u << EMB_OP_LOOKUP_POS);
    add_op_loop_test(tc, lookup_pos_past_the_cache, impl, 1u << EMB_OP_LOOKUP_POS);
    add_op_loop_test(tc, lookup_pos_at_every_output_offset, impl, 1u << EMB_OP_LOOKUP_POS);
    add_op_loop_test(tc, grad_pos_matches_reference, impl, 1u << EMB_OP_GRAD_POS);
    add_op_loop_test(tc, grad_options_match_reference, impl, 1u << EMB_OP_GRAD);
}

int main(int argc, char **argv)
{
    setenv("EMBSIMD_LLC", TEST_PAST_CACHE_LLC, 0);
    return test_main(argc, argv, "layer", add_tests, add_once);
}
