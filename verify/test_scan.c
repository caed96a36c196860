/* test_scan.c - the Check suite of emb_scan, the similarity scan: every scan
 * kernel under every implementation this CPU supports, for 1 to 3 threads,
 * bit for bit against a plain loop written from the definition in
 * embsimd.h (each row widened element by element, each term rounded on its
 * own, 32 running sums folded in halves), and calls that must fail write
 * nothing. */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embsimd.h"
#include "gen.h"
#include "reference.h"
#include "test_common.h"

static const int thread_counts[] = {1, 2, 3};
static const emb_metric metrics[] = {EMB_METRIC_DOT, EMB_METRIC_L2SQ, EMB_METRIC_NORM2};
static const char *const metric_names[] = {"dot", "l2sq", "norm2"};

/* Dims around the 32 lanes and the blocks; non-multiples of 32 only where
 * the type allows them, multiples of 256 for the k-quants. */
static const int64_t dims[] = {1, 7, 31, 32, 33, 67, 96, 160, 256, 384, 419, 768};

/* A table whose widened elements are never NaN: with two NaN terms the
 * payload an add keeps is the CPU's choice of operand, which the
 * definition leaves open. f32, f16, bf16: moderate values, whose sums
 * round (the order shows); blocks and q8_rowwise: random bytes with the
 * scales (and bias) made finite. */
static uint8_t *scan_table(gen_rng *r, emb_type t, int64_t vocab, int64_t dim)
{
    const size_t rb = emb_row_bytes(t, dim);
    uint8_t *p = xmalloc((size_t)vocab * rb);
    if (t == EMB_F32 || t == EMB_F16 || t == EMB_BF16) {
        fill_elements(r, t, p, (size_t)(vocab * dim), VALUES_MODERATE);
        return p;
    }
    fill_bytes(r, p, (size_t)vocab * rb);
    for (int64_t v = 0; v < vocab; v++) {
        uint8_t *row = p + (size_t)v * rb;
        if (t == EMB_Q8_ROWWISE) {
            for (int k = 0; k < 2; k++) {
                float f;
                memcpy(&f, row + dim + 4 * k, 4);
                if (!isfinite(f))
                    f = k == 0 ? 0.01f : -0.5f;
                memcpy(row + dim + 4 * k, &f, 4);
            }
        } else {
            scales_finite(t, row, dim);
        }
    }
    return p;
}

static void scan_case(const emb_kernel *k, int64_t vocab, int64_t dim, gen_rng *r)
{
    uint8_t *table = scan_table(r, k->in, vocab, dim);
    float *query = xmalloc((size_t)dim * sizeof(float));
    fill_elements(r, EMB_F32, query, (size_t)dim, VALUES_MODERATE);
    float *want = xmalloc((size_t)vocab * sizeof(float));
    const size_t rb = emb_row_bytes(k->in, dim);
    for (size_t m = 0; m < sizeof metrics / sizeof metrics[0]; m++) {
        for (int64_t v = 0; v < vocab; v++)
            want[v] = ref_scan_score(k->in, table + (size_t)v * rb, dim, query, metrics[m]);
        for (size_t t = 0; t < sizeof thread_counts / sizeof thread_counts[0]; t++) {
            ck_assert_int_eq(emb_set_num_threads(thread_counts[t]), EMB_OK);
            guarded g = guarded_new(vocab, (int)(t & 1));
            const emb_status s = emb_scan(table, k->in, vocab, dim,
                                          metrics[m] == EMB_METRIC_NORM2 ? NULL : query,
                                          metrics[m], g.p);
            ck_assert_msg(s == EMB_OK, "%s: %s", k->name, emb_last_error());
            char what[128];
            snprintf(what, sizeof what, "%s %s under %s, %lld x %lld, %d threads", k->name,
                     metric_names[m], emb_impl_active(), (long long)vocab, (long long)dim,
                     thread_counts[t]);
            ASSERT_SAME_BITS(g.p, want, vocab, what);
            guarded_check(&g, what);
            free(g.base);
        }
    }
    emb_set_num_threads(0);
    free(want);
    free(query);
    free(table);
}

START_TEST(scan_matches_reference)
{
    const emb_kernel *k = kernel_of(_i);
    gen_rng r = gen_seed(0x5ca9u + (uint64_t)_i);
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
        if (emb_row_bytes(k->in, dims[d]) != 0)
            scan_case(k, 37, dims[d], &r);
}
END_TEST

/* Tables large enough that 2 and 3 threads split the rows (256 KiB a
 * thread at least): the same bits as one thread and the definition. */
START_TEST(scan_split_over_threads)
{
    const emb_kernel *k = kernel_of(_i);
    gen_rng r = gen_seed(0x5ca9aull + (uint64_t)_i);
    const int64_t dim = dim_for_types(k->in, EMB_F32, 384); /* 512 for the k-quants */
    scan_case(k, 8000 * 384 / dim, dim, &r);
}
END_TEST

START_TEST(scan_errors_write_nothing)
{
    use_impl(_i);
    enum { V = 4, D = 64 };
    static float table[V * D + D];
    float query[D];
    for (int j = 0; j < V * D; j++)
        table[j] = (float)(j % 13) - 6.0f;
    for (int j = 0; j < D; j++)
        query[j] = (float)j;
    guarded g = guarded_new(V, 0);
    float before[V];
    memcpy(before, g.p, sizeof before);
    EXPECT_FAILURE(emb_scan(NULL, EMB_F32, V, D, query, EMB_METRIC_DOT, g.p), EMB_EINVAL,
                   "table is NULL");
    EXPECT_FAILURE(emb_scan(table, EMB_F32, V, D, NULL, EMB_METRIC_DOT, g.p), EMB_EINVAL,
                   "query is NULL");
    EXPECT_FAILURE(emb_scan(table, EMB_F32, V, D, query, EMB_METRIC_L2SQ, NULL), EMB_EINVAL,
                   "scores is NULL");
    EXPECT_FAILURE(emb_scan(table, EMB_F32, 0, D, query, EMB_METRIC_DOT, g.p), EMB_EINVAL,
                   "vocab = 0");
    EXPECT_FAILURE(emb_scan(table, EMB_F32, V, -1, query, EMB_METRIC_DOT, g.p), EMB_EINVAL,
                   "dim = -1");
    EXPECT_FAILURE(emb_scan(table, EMB_Q8_0, V, 33, query, EMB_METRIC_DOT, g.p), EMB_EINVAL,
                   "dim = 33 is not valid for table q8_0");
    EXPECT_FAILURE(emb_scan(table, EMB_Q4_K, V, D, query, EMB_METRIC_DOT, g.p), EMB_EINVAL,
                   "dim = 64 is not valid for table q4_K: it must be a multiple of 256");
    char unknown[32];
    snprintf(unknown, sizeof unknown, "table_type = %d", EMB_TYPE_COUNT);
    EXPECT_FAILURE(emb_scan(table, (emb_type)EMB_TYPE_COUNT, V, D, query, EMB_METRIC_DOT, g.p),
                   EMB_EINVAL, unknown);
    EXPECT_FAILURE(emb_scan(table, EMB_F32, V, D, query, (emb_metric)3, g.p), EMB_EINVAL,
                   "metric = 3");
    EXPECT_FAILURE(emb_scan(table, EMB_F32, V, D, query, (emb_metric)-1, g.p), EMB_EINVAL,
                   "metric = -1");
    EXPECT_FAILURE(emb_scan(table, EMB_F32, INT64_MAX / 2, D, query, EMB_METRIC_DOT, g.p),
                   EMB_EINVAL, "overflows size_t");
    /* scores inside the table, and on the query */
    EXPECT_FAILURE(emb_scan(table, EMB_F32, V, D, query, EMB_METRIC_DOT, table + 8), EMB_EINVAL,
                   "which the call writes, overlaps table [");
    EXPECT_FAILURE(emb_scan(table, EMB_F32, V - 1, D, table + (V - 1) * D, EMB_METRIC_DOT,
                            table + (V - 1) * D + 1), EMB_EINVAL,
                   "which the call writes, overlaps query [");
    ASSERT_SAME_BITS(g.p, before, V, "scores after the failed calls");
    guarded_check(&g, "scores after the failed calls");
    /* The query may be a row of the table; NORM2 reads no query. */
    ck_assert_int_eq(emb_scan(table, EMB_F32, V, D, table + D, EMB_METRIC_L2SQ, g.p), EMB_OK);
    ck_assert_uint_eq(gen_f2u(g.p[1]), 0u);
    ck_assert_int_eq(emb_scan(table, EMB_F32, V, D, NULL, EMB_METRIC_NORM2, g.p), EMB_OK);
    guarded_check(&g, "scores after the good calls");
    free(g.base);
}
END_TEST

/* A case the order decides: a sequential sum gives another value. */
START_TEST(scan_by_hand)
{
    use_impl(_i);
    /* dim 34: lanes 0 and 1 get two terms each. */
    float row[34], q[34];
    for (int j = 0; j < 34; j++) {
        row[j] = 1.0f;
        q[j] = j < 32 ? 1.0f : 0x1p-24f;
    }
    float dot;
    ck_assert_int_eq(emb_scan(row, EMB_F32, 1, 34, q, EMB_METRIC_DOT, &dot), EMB_OK);
    /* lane 0: 1 + 2^-24 = 1 (rounded), lane 1 likewise; the folds add 32
     * ones exactly: 32, where a sequential sum from 0 would also be 32 +
     * 2^-24 + 2^-24 rounded = 32. */
    ck_assert_uint_eq(gen_f2u(dot), gen_f2u(32.0f));
    float q2[34];
    for (int j = 0; j < 34; j++)
        q2[j] = 0.0f;
    q2[0] = 0x1p24f;
    q2[32] = 1.0f;
    q2[1] = -0x1p24f;
    /* lane 0: 2^24 + 1 = 2^24 (ties to even); lane 1: -2^24; fold: 0. A
     * sequential sum would give 2^24 - 2^24 + 1 = 1 (order: q0, q1, q32). */
    ck_assert_int_eq(emb_scan(row, EMB_F32, 1, 34, q2, EMB_METRIC_DOT, &dot), EMB_OK);
    ck_assert_uint_eq(gen_f2u(dot), gen_f2u(0.0f));
}
END_TEST

static void add_tests(Suite *s, int impl)
{
    const TTest *const tests[] = {scan_errors_write_nothing, scan_by_hand};
    TCase *tc = add_impl_tests(s, impl, tests, sizeof tests / sizeof tests[0], 300);
    add_op_loop_test(tc, scan_matches_reference, impl, 1u << EMB_OP_SCAN);
    add_op_loop_test(tc, scan_split_over_threads, impl, 1u << EMB_OP_SCAN);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv, "scan", add_tests, NULL);
}
