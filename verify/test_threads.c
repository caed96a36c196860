/* test_threads.c - the Check suite of the thread setting and the pool:
 * results bit-identical for every thread count, on every kernel the library
 * lists, once per implementation this CPU supports. */
#include "config.h"

#include <check.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "embsimd.h"
#include "gen.h"
#include "internal.h"
#include "reference.h"
#include "test_common.h"

/* Thread counts whose row and token partitions all differ. */
static const int thread_counts[] = {1, 2, 3, 7};

/* Rows that make table and output each at least half the last-level cache
 * and 8 MiB: the sizes at which the library switches to prefetching and to
 * streaming stores (schedule.c), so those paths run here. main() pins the
 * cache (TEST_PAST_CACHE_LLC), so these are 8 MiB on every machine. */
static int64_t rows_past_cache_threshold(int64_t dim)
{
    int64_t bytes = emb_llc_bytes() / 2;
    if (bytes < (int64_t)8 << 20)
        bytes = (int64_t)8 << 20;
    return bytes / (dim * (int64_t)sizeof(float)) + 1;
}

/* The same for rows of any size in bytes. */
static int64_t rows_past_cache_threshold_bytes(size_t row_bytes)
{
    int64_t bytes = emb_llc_bytes() / 2;
    if (bytes < (int64_t)8 << 20)
        bytes = (int64_t)8 << 20;
    return bytes / (int64_t)row_bytes + 1;
}

static void check_lookup_thread_counts(int64_t dim, uint64_t seed)
{
    gen_rng r = gen_seed(seed);
    /* n not a multiple of the rows the kernels keep in flight at once */
    const int64_t vocab = rows_past_cache_threshold(dim), n = vocab + 2;
    float *table = xmalloc((size_t)(vocab * dim) * sizeof(float));
    float *want = xmalloc((size_t)(n * dim) * sizeof(float));
    int32_t *ids = xmalloc((size_t)n * sizeof(int32_t));
    gen_fill_bits(&r, table, (size_t)(vocab * dim));
    gen_ids(&r, ids, (size_t)n, vocab, GEN_IDS_ZIPF);
    naive_lookup(table, dim, ids, n, want);
    /* Outputs 4, 16 and 32 bytes past a 64-byte boundary: streaming stores
     * start differently at each (x86_avx2.c, copy_row_stream). */
    static const size_t offsets[] = {4, 16, 32};
    for (size_t o = 0; o < sizeof offsets / sizeof offsets[0]; o++) {
        gbytes out = gbytes_new((size_t)(n * dim) * sizeof(float), offsets[o]);
        for (size_t t = 0; t < sizeof thread_counts / sizeof thread_counts[0]; t++) {
            ck_assert_int_eq(emb_set_num_threads(thread_counts[t]), EMB_OK);
            memset(out.p, 0, out.bytes);
            ck_assert_int_eq(emb_lookup_f32(table, vocab, dim, ids, n, (float *)(void *)out.p),
                             EMB_OK);
            char what[96];
            snprintf(what, sizeof what, "lookup, dim %d, out %zu bytes past 64, %d threads",
                     (int)dim, offsets[o], thread_counts[t]);
            ASSERT_SAME_BYTES(out.p, want, out.bytes, what);
            gbytes_check(&out, what);
        }
        gbytes_free(&out);
    }
    emb_set_num_threads(0);
    free(table);
    free(want);
    free(ids);
}

START_TEST(lookup_is_the_same_for_every_thread_count)
{
    /* Large enough to be split across threads, to stream and to prefetch,
     * with a tail in every row; 389 floats are rows the loops cut into
     * pieces (row_loops.h: 128 + 128 + 133). */
    use_impl(_i);
    check_lookup_thread_counts(129, 0x4001);
    check_lookup_thread_counts(389, 0x4004);
}
END_TEST

/* Duplicate-heavy and Zipf ids make rows sum hundreds of terms, where any
 * change of order or any race changes the rounding. */
static void check_grad_thread_counts(int64_t vocab, int64_t dim, int64_t n, uint64_t seed)
{
    gen_rng r = gen_seed(seed);
    float *init = xmalloc((size_t)(vocab * dim) * sizeof(float));
    float *want = xmalloc((size_t)(vocab * dim) * sizeof(float));
    float *got = xmalloc((size_t)(vocab * dim) * sizeof(float));
    float *dout = xmalloc((size_t)(n * dim) * sizeof(float));
    int32_t *ids = xmalloc((size_t)n * sizeof(int32_t));
    gen_fill_finite(&r, init, (size_t)(vocab * dim));
    gen_fill_finite(&r, dout, (size_t)(n * dim));
    const gen_ids_kind kinds[] = {GEN_IDS_DUPLICATES, GEN_IDS_ZIPF, GEN_IDS_UNIFORM};
    for (size_t kk = 0; kk < 3; kk++) {
        gen_ids(&r, ids, (size_t)n, vocab, kinds[kk]);
        memcpy(want, init, (size_t)(vocab * dim) * sizeof(float));
        naive_grad(want, dim, ids, n, dout);
        for (size_t t = 0; t < sizeof thread_counts / sizeof thread_counts[0]; t++) {
            ck_assert_int_eq(emb_set_num_threads(thread_counts[t]), EMB_OK);
            memcpy(got, init, (size_t)(vocab * dim) * sizeof(float));
            ck_assert_int_eq(emb_grad_f32(got, vocab, dim, ids, n, dout), EMB_OK);
            char what[80];
            snprintf(what, sizeof what, "grad, %s ids, %d threads", gen_ids_kind_name(kinds[kk]),
                     thread_counts[t]);
            ASSERT_SAME_BITS(got, want, vocab * dim, what);
        }
    }
    emb_set_num_threads(0);
    free(init);
    free(want);
    free(got);
    free(dout);
    free(ids);
}

START_TEST(grad_is_bit_identical_for_every_thread_count)
{
    use_impl(_i);
    check_grad_thread_counts(300, 67, 6000, 0x4002);
    /* A table past half the cache, where the kernels prefetch rows. */
    check_grad_thread_counts(rows_past_cache_threshold(33), 33, 6000, 0x4003);
    /* Rows cut into pieces, two in flight (row_loops.h), an odd count of
     * tokens. */
    check_grad_thread_counts(rows_past_cache_threshold(389), 389, 6001, 0x4005);
}
END_TEST

START_TEST(thread_setting)
{
    ck_assert_int_eq(emb_set_num_threads(3), EMB_OK);
    ck_assert_int_eq(emb_get_num_threads(), 3);
    ck_assert_int_eq(emb_set_num_threads(EMB_MAX_THREADS + 1), EMB_EINVAL);
    ck_assert_int_eq(emb_get_num_threads(), 3); /* unchanged */
    ck_assert_ptr_nonnull(strstr(emb_last_error(), "n = 257 exceeds EMB_MAX_THREADS"));
    ck_assert_int_eq(emb_set_num_threads(0), EMB_OK);
    ck_assert_int_ge(emb_get_num_threads(), 1);
    ck_assert_int_eq(emb_set_num_threads(-4), EMB_OK);
    ck_assert_int_ge(emb_get_num_threads(), 1);
}
END_TEST

static int child_env_threads(const char *value)
{
    setenv("EMBSIMD_NUM_THREADS", value, 1);
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    const int want = strcmp(value, "5") == 0 ? 5 : (int)cpus; /* malformed: the CPU count */
    if (emb_get_num_threads() != want)
        return 1;
    if (emb_set_num_threads(2) != EMB_OK || emb_get_num_threads() != 2)
        return 2; /* the call overrides the environment */
    return 0;
}

START_TEST(thread_setting_from_environment)
{
    run_in_child(child_env_threads, "5", "EMBSIMD_NUM_THREADS=5");
    run_in_child(child_env_threads, "lots", "EMBSIMD_NUM_THREADS=lots");
    run_in_child(child_env_threads, "0", "EMBSIMD_NUM_THREADS=0");
}
END_TEST

/* ---- every kernel the library lists ---------------------------------------- */

/* The library splits a call only when each thread gets at least 256 KiB
 * (threads.c); every shape here gives 7 threads more than that, and the
 * large ones also cross the streaming and prefetch thresholds. */
static void check_typed_lookup_thread_counts(const emb_kernel *k, int64_t vocab, int64_t dim,
                                             int64_t n, emb_index id_type, gen_rng *r)
{
    const size_t in_rb = emb_row_bytes(k->in, dim), out_rb = emb_row_bytes(k->out, dim);
    ck_assert_uint_gt(in_rb, 0);
    ck_assert_uint_gt(out_rb, 0);
    uint8_t *table = xmalloc((size_t)vocab * in_rb);
    uint8_t *want = xmalloc((size_t)n * out_rb);
    gbytes out = gbytes_new((size_t)n * out_rb, type_offset(k->out, 1));
    fill_bytes(r, table, (size_t)vocab * in_rb);
    for (int64_t v = 0; v < vocab; v++)
        ref_make_determinate(k->in, table + (size_t)v * in_rb, dim);
    void *ids = make_ids(r, id_type, (size_t)n, vocab, GEN_IDS_ZIPF);
    ck_assert_int_eq(ref_lookup(k, table, vocab, dim, ids, id_type, n, want), 0);
    for (size_t t = 0; t < sizeof thread_counts / sizeof thread_counts[0]; t++) {
        ck_assert_int_eq(emb_set_num_threads(thread_counts[t]), EMB_OK);
        memset(out.p, 0, out.bytes);
        ck_assert_int_eq(emb_lookup(table, k->in, vocab, dim, ids, id_type, n, out.p, k->out),
                         EMB_OK);
        char what[128];
        snprintf(what, sizeof what, "%s, vocab %lld, dim %lld, n %lld, %s ids, %d threads",
                 k->name, (long long)vocab, (long long)dim, (long long)n,
                 emb_index_name(id_type), thread_counts[t]);
        ASSERT_SAME_BYTES(out.p, want, out.bytes, what);
        gbytes_check(&out, what);
    }
    emb_set_num_threads(0);
    free(table);
    free(want);
    gbytes_free(&out);
    free(ids);
}

/* Finite values of moderate size and duplicate-heavy ids: each row sums
 * many terms, and any change of order or any race changes the rounding. */
static void check_typed_grad_thread_counts(const emb_kernel *k, int64_t vocab, int64_t dim,
                                           int64_t n, emb_index id_type, gen_rng *r)
{
    const size_t in_rb = emb_row_bytes(k->in, dim), table_bytes = (size_t)(vocab * dim) * 4;
    ck_assert_uint_gt(in_rb, 0);
    float *init = xmalloc(table_bytes), *want = xmalloc(table_bytes), *got = xmalloc(table_bytes);
    uint8_t *dout = xmalloc((size_t)n * in_rb);
    gen_fill_finite(r, init, (size_t)(vocab * dim));
    fill_elements(r, k->in, dout, (size_t)(n * dim), VALUES_MODERATE);
    const gen_ids_kind kinds[] = {GEN_IDS_DUPLICATES, GEN_IDS_ZIPF, GEN_IDS_UNIFORM};
    for (size_t kk = 0; kk < sizeof kinds / sizeof kinds[0]; kk++) {
        void *ids = make_ids(r, id_type, (size_t)n, vocab, kinds[kk]);
        memcpy(want, init, table_bytes);
        ck_assert_int_eq(ref_grad(k, want, vocab, dim, ids, id_type, n, dout), 0);
        for (size_t t = 0; t < sizeof thread_counts / sizeof thread_counts[0]; t++) {
            ck_assert_int_eq(emb_set_num_threads(thread_counts[t]), EMB_OK);
            memcpy(got, init, table_bytes);
            ck_assert_int_eq(emb_grad(got, vocab, dim, ids, id_type, n, dout, k->in), EMB_OK);
            char what[128];
            snprintf(what, sizeof what, "%s, vocab %lld, dim %lld, %s %s ids, %d threads",
                     k->name, (long long)vocab, (long long)dim, gen_ids_kind_name(kinds[kk]),
                     emb_index_name(id_type), thread_counts[t]);
            ASSERT_SAME_BYTES(got, want, table_bytes, what);
        }
        free(ids);
    }
    emb_set_num_threads(0);
    free(init);
    free(want);
    free(got);
    free(dout);
}

/* One kernel (_i: implementation and kernel), bit-identical to the
 * reference for thread counts 1, 2, 3 and 7: a cache-resident shape and one
 * past the streaming and prefetch thresholds, each id type once. */
START_TEST(kernel_is_the_same_for_every_thread_count)
{
    const emb_kernel *k = kernel_of(_i);
    gen_rng r = gen_seed(0x6001 + (uint64_t)(_i % KERNEL_SLOTS));
    /* 160 raised to the types' blocks: a whole number of q8_0/q4_0 blocks,
     * one q4_K/q6_K super-block; rows shorter than the loops' rows in
     * flight. */
    const int64_t dim = dim_for_types(k->in, k->out, 160);
    if (k->op == EMB_OP_LOOKUP) {
        check_typed_lookup_thread_counts(k, 1000, dim, 12289, EMB_I32, &r);
        const int64_t vocab = rows_past_cache_threshold_bytes(emb_row_bytes(k->in, dim));
        const int64_t n = rows_past_cache_threshold_bytes(emb_row_bytes(k->out, dim)) + 3;
        check_typed_lookup_thread_counts(k, vocab, dim, n, EMB_I64, &r);
        /* Past the cache with rows long enough to go in flight, cut into
         * pieces (row_loops.h): 416 = 6 x 64 + 32 elements, or for the
         * k-quants 512, two super-blocks of one piece each. */
        const int64_t long_dim = dim_for_types(k->in, k->out, 416);
        const int64_t long_vocab = rows_past_cache_threshold_bytes(emb_row_bytes(k->in, long_dim));
        const int64_t long_n = rows_past_cache_threshold_bytes(emb_row_bytes(k->out, long_dim)) + 3;
        check_typed_lookup_thread_counts(k, long_vocab, long_dim, long_n, EMB_I32, &r);
    } else {
        check_typed_grad_thread_counts(k, 300, 96, 6001, EMB_I64, &r);
        check_typed_grad_thread_counts(k, rows_past_cache_threshold(dim), dim, 4001, EMB_I32,
                                       &r);
    }
}
END_TEST

/* ------------------------------------------------------------------ */

static void add_tests(Suite *s, int impl)
{
    const TTest *const tests[] = {
        lookup_is_the_same_for_every_thread_count,
        grad_is_bit_identical_for_every_thread_count,
    };
    TCase *tc = add_impl_tests(s, impl, tests, sizeof tests / sizeof tests[0], 120);
    add_kernel_loop_test(tc, kernel_is_the_same_for_every_thread_count, impl);
}

/* The pool itself: jobs of 4 parts and of 2 alternating, so a worker left
 * out of one is slow to notice while the next is posted. Every part of
 * every job must run exactly once, and be done when emb_parallel returns. */
typedef struct pool_job {
    _Atomic unsigned runs[4];
} pool_job;

static void count_part(void *arg, unsigned part, unsigned nparts)
{
    pool_job *j = arg;
    if (part < 4 && nparts <= 4)
        atomic_fetch_add(&j->runs[part], 1);
}

START_TEST(pool_runs_every_part_once)
{
    emb_set_num_threads(4);
    for (int i = 0; i < 10000; i++) {
        pool_job j = {{0}};
        const unsigned nparts = i % 2 ? 2 : 4;
        emb_parallel(count_part, &j, nparts);
        /* Fewer parts run when the pool is busy or a thread could not be
         * started: then part 0 alone, once. */
        const unsigned ran = atomic_load(&j.runs[1]) ? nparts : 1;
        for (unsigned p = 0; p < 4; p++) {
            const unsigned want = p < ran ? 1u : 0u;
            ck_assert_msg(atomic_load(&j.runs[p]) == want,
                          "job %d of %u parts: part %u ran %u times when emb_parallel returned", i,
                          nparts, p, atomic_load(&j.runs[p]));
        }
    }
    emb_set_num_threads(0);
}
END_TEST

static void add_once(Suite *s)
{
    TCase *tc = tcase_create("setting");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, thread_setting);
    tcase_add_test(tc, thread_setting_from_environment);
    suite_add_tcase(s, tc);
    /* Oversubscribed on purpose (4 threads on 2 CPUs here): jobs take
     * milliseconds when the scheduler lets a worker lag, which is the case
     * it needs; the race it caught took thousands of jobs to show. */
    TCase *pool = tcase_create("pool");
    tcase_set_timeout(pool, 600);
    tcase_add_test(pool, pool_runs_every_part_once);
    suite_add_tcase(s, pool);
}

int main(int argc, char **argv)
{
    setenv("EMBSIMD_LLC", TEST_PAST_CACHE_LLC, 0);
    return test_main(argc, argv, "threads", add_tests, add_once);
}
