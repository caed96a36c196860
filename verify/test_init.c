/* test_init.c - emb_init: Philox4x32-10's published known answers, the
 * transforms against their definitions, the distributions against stated
 * statistical tests, sub-ranges and thread counts giving the same bits,
 * the 16-bit tables as the f32 one rounded, and bad input refused with
 * nothing written. */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "embsimd.h"
#include "internal.h"
#include "reference.h"

/* Random123's known-answer vectors for philox4x32_10 (kat_vectors). */
START_TEST(philox_known_answers)
{
    static const struct {
        uint32_t ctr[4], key[2], out[4];
    } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
         {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
         {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (size_t v = 0; v < sizeof kat / sizeof kat[0]; v++) {
        uint32_t out[4];
        emb_philox4x32_10(kat[v].ctr, kat[v].key, out);
        for (int i = 0; i < 4; i++)
            ck_assert_msg(out[i] == kat[v].out[i], "vector %zu word %d: 0x%08x, expected 0x%08x", v,
                          i, out[i], kat[v].out[i]);
    }
}
END_TEST

/* The uniform transform from its definition, written again here from the
 * generator's words. */
START_TEST(uniform_is_its_definition)
{
    const uint64_t seed = 0x0123456789abcdefull;
    for (uint64_t row = 0; row < 64; row++)
        for (uint64_t col = 0; col < 67; col++) {
            const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
            const uint32_t ctr[4] = {(uint32_t)row, 0, (uint32_t)(col / 4), 0};
            uint32_t w[4];
            emb_philox4x32_10(ctr, key, w);
            const double u = ldexp((double)(w[col % 4] >> 8), -24);
            const float want = (float)(0.5 * (2.0 * u - 1.0));
            const float got = emb_init_value(EMB_INIT_UNIFORM, seed, row, col, 0.5f);
            ck_assert_msg(memcmp(&want, &got, 4) == 0, "(%llu, %llu): %a, expected %a",
                          (unsigned long long)row, (unsigned long long)col, (double)got,
                          (double)want);
        }
}
END_TEST

/* The normal transform with libm's log in place of the defined one: the
 * floats agree on every one of 2^20 elements (the defined logarithm is
 * within a few ulps of double, far below a float's). */
START_TEST(normal_matches_libm_log)
{
    const uint64_t seed = 42;
    int differ = 0;
    for (uint64_t e = 0; e < (1u << 20); e++) {
        const uint64_t row = e >> 10, col = e & 1023;
        float want = NAN;
        for (uint32_t block = 1; isnan(want); block++) {
            const uint32_t key[2] = {(uint32_t)seed, 0};
            const uint32_t ctr[4] = {(uint32_t)row, 0, (uint32_t)col, block << 16};
            uint32_t w[4];
            emb_philox4x32_10(ctr, key, w);
            for (int p = 0; p < 2 && isnan(want); p++) {
                const double u = ((double)w[2 * p] + 0.5) * 0x1p-31 - 1.0;
                const double v = ((double)w[2 * p + 1] + 0.5) * 0x1p-31 - 1.0;
                const double s = u * u + v * v;
                if (s > 0.0 && s < 1.0)
                    want = (float)(u * sqrt(-2.0 * log(s) / s));
            }
        }
        const float got = emb_init_value(EMB_INIT_NORMAL, seed, row, col, 1.0f);
        differ += memcmp(&want, &got, 4) != 0;
    }
    ck_assert_msg(differ == 0, "%d of 2^20 normal values differ from the libm-log transform", differ);
}
END_TEST

/* Moments and tails of 2^20 values against N(0, 1) and U[-1, 1), each
 * bound five standard errors of the statistic (a false alarm has odds of
 * about 1 in 1.7 million; the seed is fixed, so the outcome is too). */
START_TEST(distributions_pass_stated_tests)
{
    enum { N = 1 << 20 };
    float *x = malloc(sizeof(float) * N);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(emb_init(x, EMB_F32, 0, N / 256, 256, EMB_INIT_NORMAL, 1.0f, 7), EMB_OK);
    double mean = 0, var = 0;
    long tail[4] = {0}; /* |x| > 1, 2, 3, 4 */
    for (int i = 0; i < N; i++) {
        mean += x[i];
        var += (double)x[i] * x[i];
        for (int k = 0; k < 4; k++)
            tail[k] += fabs(x[i]) > k + 1;
    }
    mean /= N;
    var = var / N - mean * mean;
    /* z-scores of the statistics, each |z| < 5 */
    const double z_mean = mean * sqrt(N), z_var = (var - 1.0) / sqrt(2.0 / N);
    ck_assert_msg(z_mean > -5 && z_mean < 5, "normal mean %g (z = %g)", mean, z_mean);
    ck_assert_msg(z_var > -5 && z_var < 5, "normal variance %g (z = %g)", var, z_var);
    for (int k = 0; k < 4; k++) {
        const double p = erfc((k + 1) / sqrt(2.0)), se = sqrt(p * (1 - p) / N);
        const double got = (double)tail[k] / N;
        const double z = (got - p) / (se + 1.0 / N);
        ck_assert_msg(z > -5 && z < 5, "P(|x| > %d) = %g, expected %g (z = %g)", k + 1, got, p, z);
    }
    ck_assert_int_eq(emb_init(x, EMB_F32, 0, N / 256, 256, EMB_INIT_UNIFORM, 1.0f, 7), EMB_OK);
    long bins[16] = {0};
    mean = 0;
    for (int i = 0; i < N; i++) {
        ck_assert_msg(x[i] >= -1.0f && x[i] < 1.0f, "uniform value %a outside [-1, 1)", (double)x[i]);
        mean += x[i];
        bins[(int)((x[i] + 1.0f) * 8.0f)]++;
    }
    mean /= N;
    const double z_uniform = mean / sqrt(1.0 / 3.0 / N);
    ck_assert_msg(z_uniform > -5 && z_uniform < 5, "uniform mean %g (z = %g)", mean, z_uniform);
    double chi2 = 0;
    for (int b = 0; b < 16; b++)
        chi2 += ((double)bins[b] - N / 16.0) * ((double)bins[b] - N / 16.0) / (N / 16.0);
    /* 15 degrees of freedom: P(chi2 > 60) < 1e-7 */
    ck_assert_msg(chi2 < 60.0, "uniform chi-square over 16 bins: %g", chi2);
    free(x);
}
END_TEST

/* A row range alone equals the same rows of the whole table, and every
 * thread count gives the same bits. */
START_TEST(ranges_and_threads_agree)
{
    enum { ROWS = 3000, DIM = 96 };
    for (int dist = 0; dist < 2; dist++) {
        float *whole = malloc(sizeof(float) * ROWS * DIM), *part = malloc(sizeof(float) * 13 * DIM);
        ck_assert_ptr_nonnull(whole);
        ck_assert_ptr_nonnull(part);
        emb_set_num_threads(1);
        ck_assert_int_eq(emb_init(whole, EMB_F32, 0, ROWS, DIM, (emb_init_dist)dist, 0.02f, 99),
                         EMB_OK);
        ck_assert_int_eq(emb_init(part, EMB_F32, 37, 13, DIM, (emb_init_dist)dist, 0.02f, 99),
                         EMB_OK);
        ck_assert_msg(memcmp(part, whole + 37 * DIM, sizeof(float) * 13 * DIM) == 0,
                      "rows 37..49 alone differ from the whole table's");
        for (int threads = 2; threads <= 3; threads++) {
            float *again = malloc(sizeof(float) * ROWS * DIM);
            ck_assert_ptr_nonnull(again);
            emb_set_num_threads(threads);
            ck_assert_int_eq(emb_init(again, EMB_F32, 0, ROWS, DIM, (emb_init_dist)dist, 0.02f, 99),
                             EMB_OK);
            ck_assert_msg(memcmp(again, whole, sizeof(float) * ROWS * DIM) == 0,
                          "%d threads differ from 1", threads);
            free(again);
        }
        emb_set_num_threads(0);
        /* another seed, another table */
        ck_assert_int_eq(emb_init(part, EMB_F32, 37, 13, DIM, (emb_init_dist)dist, 0.02f, 100),
                         EMB_OK);
        ck_assert(memcmp(part, whole + 37 * DIM, sizeof(float) * 13 * DIM) != 0);
        free(whole);
        free(part);
    }
}
END_TEST

/* f16 and bf16 tables are the f32 table rounded to nearest even (the
 * reference's rounding). */
START_TEST(sixteen_bit_tables_are_the_f32_rounded)
{
    enum { ROWS = 50, DIM = 40 };
    float f[ROWS * DIM];
    uint16_t h[ROWS * DIM];
    for (int dist = 0; dist < 2; dist++) {
        ck_assert_int_eq(emb_init(f, EMB_F32, 5, ROWS, DIM, (emb_init_dist)dist, 3.0f, 1), EMB_OK);
        for (int t = 0; t < 2; t++) {
            const emb_type type = t ? EMB_BF16 : EMB_F16;
            ck_assert_int_eq(emb_init(h, type, 5, ROWS, DIM, (emb_init_dist)dist, 3.0f, 1), EMB_OK);
            for (int i = 0; i < ROWS * DIM; i++) {
                uint32_t u;
                memcpy(&u, &f[i], 4);
                const uint16_t want = t ? ref_f32_to_bf16_bits(u) : ref_f32_to_f16_bits(u);
                ck_assert_msg(h[i] == want, "%s element %d: 0x%04x, expected 0x%04x",
                              emb_type_name(type), i, h[i], want);
            }
        }
    }
}
END_TEST

static void expect_refused(void *rows, emb_type type, int64_t first, int64_t n, int64_t dim,
                           int dist, float scale, const char *want)
{
    float buf[64];
    memset(buf, 0x5a, sizeof buf);
    float *dst = rows == NULL ? NULL : buf;
    ck_assert_int_eq(emb_init(dst, type, first, n, dim, (emb_init_dist)dist, scale, 1), EMB_EINVAL);
    ck_assert_msg(strstr(emb_last_error(), want) != NULL, "message \"%s\" lacks \"%s\"",
                  emb_last_error(), want);
    for (size_t i = 0; i < sizeof buf; i++)
        ck_assert_msg(((unsigned char *)buf)[i] == 0x5a, "byte %zu written after an error", i);
}

START_TEST(bad_input_is_refused)
{
    float row[4];
    expect_refused(row, EMB_Q8_0, 0, 1, 32, 0, 1.0f, "type = q8_0");
    expect_refused(row, (emb_type)99, 0, 1, 4, 0, 1.0f, "type = not a type (99)");
    expect_refused(row, EMB_F32, 0, 1, 4, 7, 1.0f, "dist = 7");
    expect_refused(row, EMB_F32, 0, 1, 4, 1, -1.0f, "scale = -1");
    expect_refused(row, EMB_F32, 0, 1, 4, 1, NAN, "scale = nan");
    expect_refused(row, EMB_F32, 0, 1, 4, 1, INFINITY, "scale = inf");
    expect_refused(row, EMB_F32, 0, 1, 0, 0, 1.0f, "dim = 0");
    expect_refused(row, EMB_F32, -1, 1, 4, 0, 1.0f, "first_row = -1");
    expect_refused(row, EMB_F32, 0, -2, 4, 0, 1.0f, "nrows = -2");
    expect_refused(NULL, EMB_F32, 0, 3, 4, 0, 1.0f, "rows is NULL with nrows = 3");
    ck_assert_int_eq(emb_init(NULL, EMB_F32, 0, 0, 4, EMB_INIT_NORMAL, 1.0f, 1), EMB_OK);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("init");
    TCase *tc = tcase_create("emb_init");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, philox_known_answers);
    tcase_add_test(tc, uniform_is_its_definition);
    tcase_add_test(tc, normal_matches_libm_log);
    tcase_add_test(tc, distributions_pass_stated_tests);
    tcase_add_test(tc, ranges_and_threads_agree);
    tcase_add_test(tc, sixteen_bit_tables_are_the_f32_rounded);
    tcase_add_test(tc, bad_input_is_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
