/* test_verify.c - the verifier's own tests: its checkers pass the scalar
 * kernels and catch deliberately broken ones (a duplicate id accumulated out
 * of token order, -0 copied as +0, a dropped tail element, a stray or early
 * write); its dense model meets both exceptions; its lemma kernels agree. */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lemmas.h"
#include "verify.h"

/* ------------------------------------------------------------------ */
/* Kernels under test: the library's scalar ones, and broken variants   */
/* ------------------------------------------------------------------ */

static emb_status valid_call(int64_t vocab, int64_t dim, const int32_t *ids, int64_t n)
{
    if (vocab <= 0 || dim <= 0 || n < 0 || (n > 0 && ids == NULL))
        return EMB_EINVAL;
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            return EMB_ERANGE;
    return EMB_OK;
}

/* A float add the compiler must do at run time, once, as written. */
static float add(float a, float b)
{
    volatile float s = a + b;
    return s;
}

/* Accumulates the tokens in reverse: every row with a duplicate id sums
 * its terms in another order, so rounding differs. */
static emb_status grad_reversed(float *dtable, int64_t vocab, int64_t dim, const int32_t *ids,
                                int64_t n, const float *dout)
{
    const emb_status st = valid_call(vocab, dim, ids, n);
    if (st != EMB_OK)
        return st;
    for (int64_t i = n - 1; i >= 0; i--)
        for (int64_t j = 0; j < dim; j++)
            dtable[(int64_t)ids[i] * dim + j] = add(dtable[(int64_t)ids[i] * dim + j], dout[i * dim + j]);
    return EMB_OK;
}

/* Leaves the last element of every row's update out. */
static emb_status grad_drops_tail(float *dtable, int64_t vocab, int64_t dim, const int32_t *ids,
                                  int64_t n, const float *dout)
{
    const emb_status st = valid_call(vocab, dim, ids, n);
    if (st != EMB_OK)
        return st;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j + 1 < dim; j++)
            dtable[(int64_t)ids[i] * dim + j] = add(dtable[(int64_t)ids[i] * dim + j], dout[i * dim + j]);
    return EMB_OK;
}

/* Correct, then writes into the row after the last touched one. */
static emb_status grad_stray_row(float *dtable, int64_t vocab, int64_t dim, const int32_t *ids,
                                 int64_t n, const float *dout)
{
    const emb_status st = emb_grad_f32(dtable, vocab, dim, ids, n, dout);
    if (st == EMB_OK && n > 0 && ids[0] + 1 < vocab)
        dtable[(int64_t)(ids[0] + 1) * dim] = add(dtable[(int64_t)(ids[0] + 1) * dim], 1.0f);
    return st;
}

/* Copies through float arithmetic that turns -0 into +0 (lemma L3), with
 * the sign of every other value (and every NaN's bits) kept. */
static emb_status lookup_loses_neg_zero(const float *table, int64_t vocab, int64_t dim,
                                        const int32_t *ids, int64_t n, float *out)
{
    const emb_status st = emb_lookup_f32(table, vocab, dim, ids, n, out);
    for (int64_t k = 0; st == EMB_OK && k < n * dim; k++)
        if (gen_f2u(out[k]) == VF_NEG_ZERO)
            out[k] = add(out[k], 0.0f);
    return st;
}

/* Never writes the last element of a row. */
static emb_status lookup_drops_tail(const float *table, int64_t vocab, int64_t dim,
                                    const int32_t *ids, int64_t n, float *out)
{
    const emb_status st = valid_call(vocab, dim, ids, n);
    if (st != EMB_OK)
        return st;
    for (int64_t i = 0; i < n; i++)
        memcpy(out + i * dim, table + (int64_t)ids[i] * dim, (size_t)(dim - 1) * sizeof(float));
    return EMB_OK;
}

/* Writes one element past the end of out. */
static emb_status lookup_overruns(const float *table, int64_t vocab, int64_t dim,
                                  const int32_t *ids, int64_t n, float *out)
{
    const emb_status st = emb_lookup_f32(table, vocab, dim, ids, n, out);
    if (st == EMB_OK)
        out[n * dim] = 0.0f;
    return st;
}

/* Checks sizes, pointers and overlap like the library, but copies rows
 * until it meets a bad id: writes before failing. */
static emb_status lookup_writes_then_fails(const float *table, int64_t vocab, int64_t dim,
                                           const int32_t *ids, int64_t n, float *out)
{
    if (vocab <= 0 || dim <= 0 || n < 0)
        return EMB_EINVAL;
    if (n == 0)
        return EMB_OK;
    if (ids == NULL || table == NULL || out == NULL ||
        (uint64_t)dim > (uint64_t)INT64_MAX / sizeof(float) / (uint64_t)vocab ||
        (uint64_t)dim > (uint64_t)INT64_MAX / sizeof(float) / (uint64_t)n)
        return EMB_EINVAL;
    const uintptr_t t0 = (uintptr_t)table, o0 = (uintptr_t)out;
    if (o0 < t0 + (uintptr_t)(vocab * dim) * sizeof(float) &&
        t0 < o0 + (uintptr_t)(n * dim) * sizeof(float))
        return EMB_EINVAL;
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= vocab)
            return EMB_ERANGE;
        memcpy(out + i * dim, table + (int64_t)ids[i] * dim, (size_t)dim * sizeof(float));
    }
    return EMB_OK;
}

/* ------------------------------------------------------------------ */
/* Fixtures                                                             */
/* ------------------------------------------------------------------ */

static vf_table table;
static vf_case kase;

/* A case where every kind of bug shows: few distinct ids (each row sums
 * many tokens), dim 33 (a tail for every vector width), and a table of
 * random bit patterns (-0, NaN payloads, subnormals). */
static void make_case(vf_table_kind kind, gen_ids_kind ids)
{
    const vf_shape s = {17, 33, 64, ids, kind};
    ck_assert_int_eq(vf_table_init(&table, kind, s.vocab, s.dim, 0x7E57), 0);
    ck_assert_int_eq(vf_case_init(&kase, &s, &table, 0x7E58), 0);
    const vf_dense_plan plan = {1u << 20};
    vf_dense_tally d;
    memset(&d, 0, sizeof d);
    ck_assert_int_eq(vf_dense_check(&kase, &plan, &d), 0);
    ck_assert_msg(d.fails == 0, "dense check: %s", d.first);
    ck_assert_int_eq(emb_use_impl("scalar"), EMB_OK);
}

static void free_case(void)
{
    vf_case_free(&kase);
    vf_table_free(&table);
}

static vf_tally tally(void)
{
    vf_tally t;
    memset(&t, 0, sizeof t);
    return t;
}

/* ------------------------------------------------------------------ */
/* The checkers pass correct kernels                                    */
/* ------------------------------------------------------------------ */

START_TEST(scalar_passes_every_check)
{
    for (int kind = 0; kind < VF_TABLE_KIND_COUNT; kind++) {
        make_case((vf_table_kind)kind, GEN_IDS_DUPLICATES);
        vf_tally t = tally();
        vf_check_lookup(&kase, emb_lookup_f32, &t);
        vf_check_grad(&kase, emb_grad_f32, &t);
        vf_check_grad(&kase, emb_grad_f32, &t); /* the working table was restored */
        vf_check_errors(&kase, emb_lookup_f32, emb_grad_f32, &t);
        ck_assert_msg(t.fails == 0, "%s table: %s", vf_table_kind_name((vf_table_kind)kind), t.first);
        ck_assert_uint_eq(t.elems, 33 * 64 + 2 * (uint64_t)kase.n_touched * 33);
        /* Random bit patterns leave few columns finite: only the finite
         * table is sure to reach the dense comparison. */
        if (kind == VF_TABLE_FINITE)
            ck_assert_uint_gt(t.dense_elems, 0);
        ck_assert_uint_gt(t.rows_untouched, 0);
        ck_assert_uint_gt(t.calls, 3 + 20);
        free_case();
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* ... and catch broken ones                                            */
/* ------------------------------------------------------------------ */

START_TEST(catches_duplicate_accumulated_out_of_order)
{
    make_case(VF_TABLE_FINITE, GEN_IDS_DUPLICATES);
    vf_tally t = tally();
    vf_check_grad(&kase, grad_reversed, &t);
    ck_assert_uint_gt(t.fails, 0);
    ck_assert_msg(strstr(t.first, "scatter-add in token order") != NULL, "%s", t.first);
    free_case();
}
END_TEST

START_TEST(catches_neg_zero_copied_as_pos_zero)
{
    make_case(VF_TABLE_ADVERSARIAL, GEN_IDS_UNIFORM);
    int64_t neg_zeros = 0;
    for (int64_t k = 0; k < kase.s.n * kase.s.dim; k++)
        neg_zeros += gen_f2u(kase.ref_out[k]) == VF_NEG_ZERO;
    ck_assert_int_gt(neg_zeros, 0);
    vf_tally t = tally();
    vf_check_lookup(&kase, lookup_loses_neg_zero, &t);
    ck_assert_uint_eq(t.fails, (uint64_t)neg_zeros);
    ck_assert_msg(strstr(t.first, "= 0x00000000") && strstr(t.first, "= 0x80000000"), "%s", t.first);
    free_case();
}
END_TEST

START_TEST(catches_dropped_tail_element)
{
    make_case(VF_TABLE_BITS, GEN_IDS_UNIFORM);
    vf_tally t = tally();
    vf_check_lookup(&kase, lookup_drops_tail, &t);
    /* At least one per row (the copy); more where the dense rows see it too. */
    ck_assert_uint_ge(t.fails, (uint64_t)kase.s.n);
    ck_assert_msg(strstr(t.first, "out[0][32]") != NULL, "%s", t.first);
    vf_tally g = tally();
    vf_check_grad(&kase, grad_drops_tail, &g);
    ck_assert_uint_gt(g.fails, 0);
    free_case();
}
END_TEST

START_TEST(catches_writes_outside_the_output)
{
    make_case(VF_TABLE_FINITE, GEN_IDS_DUPLICATES);
    vf_tally t = tally();
    vf_check_lookup(&kase, lookup_overruns, &t);
    ck_assert_uint_gt(t.fails, 0);
    ck_assert_msg(strstr(t.first, "wrote outside out") != NULL, "%s", t.first);
    vf_tally g = tally();
    vf_check_grad(&kase, grad_stray_row, &g);
    ck_assert_uint_gt(g.fails, 0);
    ck_assert_msg(strstr(g.first, "changed from") != NULL, "%s", g.first);
    /* ... and the checker restored the table for the next run. */
    vf_tally again = tally();
    vf_check_grad(&kase, emb_grad_f32, &again);
    ck_assert_msg(again.fails == 0, "%s", again.first);
    free_case();
}
END_TEST

START_TEST(catches_writes_before_an_error)
{
    make_case(VF_TABLE_FINITE, GEN_IDS_UNIFORM);
    vf_tally t = tally();
    vf_check_errors(&kase, lookup_writes_then_fails, emb_grad_f32, &t);
    ck_assert_uint_gt(t.fails, 0);
    ck_assert_msg(strstr(t.first, "before failing") != NULL, "%s", t.first);
    free_case();
}
END_TEST

/* ------------------------------------------------------------------ */
/* The dense model                                                      */
/* ------------------------------------------------------------------ */

START_TEST(dense_model_meets_both_exceptions)
{
    /* Adversarial columns hold -0s, zeros, Infs and NaNs: the dense product
     * must leave the domain in every way the theorem names, and the model
     * must still predict each element. */
    uint64_t negzero = 0, nan = 0, gr_negzero = 0, gr_poison = 0;
    for (uint64_t seed = 1; seed <= 8; seed++) {
        const vf_shape s = {17, 40, 64, GEN_IDS_DUPLICATES, VF_TABLE_ADVERSARIAL};
        ck_assert_int_eq(vf_table_init(&table, s.kind, s.vocab, s.dim, seed), 0);
        ck_assert_int_eq(vf_case_init(&kase, &s, &table, seed + 100), 0);
        const vf_dense_plan plan = {1u << 22};
        vf_dense_tally d;
        memset(&d, 0, sizeof d);
        ck_assert_int_eq(vf_dense_check(&kase, &plan, &d), 0);
        ck_assert_msg(d.fails == 0, "%s", d.first);
        ck_assert_uint_eq(d.lk_elems, (uint64_t)(s.n * s.dim)); /* the budget covers every row */
        ck_assert_uint_eq(d.gr_elems, (uint64_t)(s.vocab * s.dim));
        negzero += d.lk_negzero;
        nan += d.lk_nan;
        gr_negzero += d.gr_negzero;
        gr_poison += d.gr_poison;
        free_case();
    }
    ck_assert_uint_gt(negzero, 0);
    ck_assert_uint_gt(nan, 0);
    ck_assert_uint_gt(gr_negzero, 0);
    ck_assert_uint_gt(gr_poison, 0);
}
END_TEST

START_TEST(dense_model_predicts_a_lone_nan_exactly)
{
    /* One NaN in a column: every other token's dense value is that NaN,
     * quieted, payload kept: exact bits, not just "a NaN". */
    const vf_shape s = {5, 1, 5, GEN_IDS_SORTED, VF_TABLE_FINITE};
    ck_assert_int_eq(vf_table_init(&table, s.kind, s.vocab, s.dim, 3), 0);
    const uint32_t snan = 0x7F800123u;
    memcpy(&table.data[2], &snan, sizeof snan);
    table.nonfinite[0] = 1;
    table.nf_row[0][0] = 2;
    table.nf_bits[0][0] = snan;
    int domain;
    const vf_val v = vf_model_lookup(&table, 0, 0, vf_default_nan(), &domain);
    ck_assert_int_eq(domain, 0);
    ck_assert_int_eq(v.loose, 0);
    ck_assert_uint_eq(v.bits, snan | VF_QUIET);
    float scratch[5 + 66], out[1];
    for (int o = 0; o < VF_ORDER_COUNT; o++) {
        vf_dense_lookup_row(&table, 0, (vf_order)o, scratch, out);
        ck_assert_msg(gen_f2u(out[0]) == v.bits, "%s order gives 0x%08x", vf_order_name((vf_order)o),
                      gen_f2u(out[0]));
    }
    vf_table_free(&table);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The lemma kernels                                                    */
/* ------------------------------------------------------------------ */

static void run_kernel(void (*kernel)(const vf_lemma_job *, vf_lemma_counts *), uint64_t lo,
                       uint64_t hi, vf_lemma_counts *c)
{
    vf_lemma_job j;
    memset(&j, 0, sizeof j);
    j.lo = lo;
    j.hi = hi;
    for (int op = 0; op < VF_OPS; op++)
        j.and_mask[op] = ~0u;
    j.and_mask[VF_OP_TIMES_ZERO] = VF_SIGN;
    volatile float one = 1.0f, zero = 0.0f, nz = -0.0f;
    j.one = one;
    j.zero = zero;
    j.pos_zero = zero;
    j.neg_zero = nz;
    kernel(&j, c);
}

START_TEST(lemma_kernel_counts_normals)
{
    /* 1000003 normal patterns (not a multiple of the vector width): every
     * lemma holds for each, none gives a NaN. */
    const uint64_t lo = 0x3F800000u, hi = lo + 1000003;
    vf_lemma_counts c;
    run_kernel(vf_lemma_kernel_base, lo, hi, &c);
    for (int op = 0; op < VF_OPS; op++) {
        ck_assert_uint_eq(c.expected[op], hi - lo);
        ck_assert_uint_eq(c.nan[op], 0);
    }
    /* A wrong expectation is counted: with 0*w expected to keep w, only
     * the zeros would match, and there are none here. */
    vf_lemma_job j;
    memset(&j, 0, sizeof j);
    j.lo = lo;
    j.hi = hi;
    for (int op = 0; op < VF_OPS; op++)
        j.and_mask[op] = ~0u;
    volatile float one = 1.0f, zero = 0.0f;
    j.one = one;
    j.zero = zero;
    j.pos_zero = zero;
    j.neg_zero = zero;
    vf_lemma_kernel_base(&j, &c);
    ck_assert_uint_eq(c.expected[VF_OP_TIMES_ZERO], 0);
}
END_TEST

START_TEST(lemma_kernels_agree)
{
    vf_lemma_counts base, wide;
    const uint64_t lo = 0x7F7FFFF0u, hi = 0x7FC00010u; /* normal, Inf, sNaN, qNaN */
    run_kernel(vf_lemma_kernel_base, lo, hi, &base);
#if defined(__x86_64__) && defined(EMB_HAVE_AVX2)
    if (__builtin_cpu_supports("avx2")) {
        run_kernel(vf_lemma_kernel_avx2, lo, hi, &wide);
        ck_assert_mem_eq(&base, &wide, sizeof base);
    }
#endif
#if defined(__x86_64__) && defined(EMB_HAVE_AVX512)
    if (__builtin_cpu_supports("avx512f")) {
        run_kernel(vf_lemma_kernel_avx512, lo, hi, &wide);
        ck_assert_mem_eq(&base, &wide, sizeof base);
    }
#endif
    (void)wide;
    /* Every NaN in gave a NaN out. */
    ck_assert_uint_eq(base.nan[VF_OP_TIMES_ONE], hi - 0x7F800001u);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("embsimd-verify");
    TCase *checkers = tcase_create("checkers");
    tcase_set_timeout(checkers, 120);
    tcase_add_test(checkers, scalar_passes_every_check);
    tcase_add_test(checkers, catches_duplicate_accumulated_out_of_order);
    tcase_add_test(checkers, catches_neg_zero_copied_as_pos_zero);
    tcase_add_test(checkers, catches_dropped_tail_element);
    tcase_add_test(checkers, catches_writes_outside_the_output);
    tcase_add_test(checkers, catches_writes_before_an_error);
    suite_add_tcase(s, checkers);
    TCase *model = tcase_create("dense model");
    tcase_set_timeout(model, 120);
    tcase_add_test(model, dense_model_meets_both_exceptions);
    tcase_add_test(model, dense_model_predicts_a_lone_nan_exactly);
    suite_add_tcase(s, model);
    TCase *lemmas = tcase_create("lemma kernels");
    tcase_add_test(lemmas, lemma_kernel_counts_normals);
    tcase_add_test(lemmas, lemma_kernels_agree);
    suite_add_tcase(s, lemmas);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
