/* test_schedule.c - the cache-flag schedule (src/schedule.c): which
 * EMB_KF_* flags each op's kernels get, a function of the op and the sizes
 * of the call alone, at the thresholds the LLC size sets. */
#include "config.h"

#include <check.h>
#include <stddef.h>
#include <stdlib.h>

#include "internal.h"

/* What each op takes when every threshold is passed. */
static const unsigned all_flags[EMB_OP_COUNT] = {
    [EMB_OP_LOOKUP] = EMB_KF_STREAM | EMB_KF_PREFETCH | EMB_KF_FAR,
    [EMB_OP_LOOKUP_POS] = EMB_KF_STREAM | EMB_KF_PREFETCH | EMB_KF_FAR,
    [EMB_OP_GRAD] = EMB_KF_PREFETCH,
    [EMB_OP_GRAD_POS] = EMB_KF_PREFETCH,
    [EMB_OP_SCAN] = EMB_KF_PREFETCH,
    [EMB_OP_BAG] = EMB_KF_STREAM | EMB_KF_PREFETCH | EMB_KF_FAR,
    [EMB_OP_BAG_GRAD] = EMB_KF_PREFETCH,
    [EMB_OP_BAG_SGD] = EMB_KF_PREFETCH,
    [EMB_OP_BAG_ADAGRAD] = EMB_KF_PREFETCH,
};

START_TEST(flags_by_op_and_size)
{
    const size_t llc = (size_t)emb_llc_bytes();
    ck_assert_uint_ge(llc, 1024);
    for (int op = 0; op < EMB_OP_COUNT; op++) {
#ifdef EMB_SLOW_KERNELS
        /* The gate's deliberately slowed build: nothing, ever. */
        ck_assert_uint_eq(emb_schedule_flags((emb_op)op, 8 * llc, llc), 0);
        continue;
#endif
        const unsigned all = all_flags[op];
        ck_assert_msg(all != 0, "op %d (%s) has no entry", op, emb_op_name((emb_op)op));
        /* Cache-resident table and output: nothing. */
        ck_assert_uint_eq(emb_schedule_flags((emb_op)op, llc / 4, llc / 4), 0);
        /* Every threshold passed: what the op takes. */
        ck_assert_uint_eq(emb_schedule_flags((emb_op)op, 8 * llc, llc), all);
        /* Prefetch from a table of the schedule's eighths of the LLC (3/8
         * by default: tuning.c has the measurements). */
        const int grad = op == EMB_OP_GRAD; /* its own threshold */
        const size_t prefetch_at = llc / 8 * (grad ? emb_loops()->grad_prefetch_llc_eighths
                                                   : emb_loops()->prefetch_llc_eighths);
        ck_assert_uint_gt(prefetch_at, llc / 4);
        ck_assert_uint_eq(emb_schedule_flags((emb_op)op, prefetch_at, 0), all & EMB_KF_PREFETCH);
        ck_assert_uint_eq(emb_schedule_flags((emb_op)op, prefetch_at - 1, 0), 0);
        /* The far hint from eight times the LLC. */
        ck_assert_uint_eq(emb_schedule_flags((emb_op)op, 8 * llc - 1, 0), all & EMB_KF_PREFETCH);
        /* Streaming once output plus rows read reach 5/8 of the LLC. */
        const size_t stream_at = llc / 8 * 5;
        ck_assert_uint_eq(emb_schedule_flags((emb_op)op, 0, stream_at), all & EMB_KF_STREAM);
        ck_assert_uint_eq(emb_schedule_flags((emb_op)op, 0, stream_at - 1), 0);
        ck_assert_uint_eq(emb_schedule_flags((emb_op)op, stream_at / 2 + 1, stream_at / 2 + 1),
                          all & EMB_KF_STREAM);
    }
}
END_TEST

/* emb_grad's threshold moves emb_grad alone: a tuning file's
 * grad.prefetch_llc_eighths 0 makes it prefetch from the smallest table,
 * and leaves every other op (the fused positional gradient included) on
 * prefetch.llc_eighths. */
START_TEST(grad_threshold_is_its_own)
{
#ifdef EMB_SLOW_KERNELS
    return;
#endif
    const size_t llc = (size_t)emb_llc_bytes();
    const emb_loop_schedule dflt = *emb_loops();
    emb_loop_schedule grad_all = dflt;
    grad_all.grad_prefetch_llc_eighths = 0;
    emb_schedule_set_loops(&grad_all);
    for (int op = 0; op < EMB_OP_COUNT; op++) {
        const unsigned want = op == EMB_OP_GRAD ? EMB_KF_PREFETCH : 0;
        ck_assert_msg(emb_schedule_flags((emb_op)op, 64, 0) == want, "op %s: flags %u, want %u",
                      emb_op_name((emb_op)op), emb_schedule_flags((emb_op)op, 64, 0), want);
    }
    emb_schedule_set_loops(&dflt);
    ck_assert_uint_eq(emb_schedule_flags(EMB_OP_GRAD, llc / 4, 0), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("schedule");
    TCase *tc = tcase_create("flags");
    tcase_add_test(tc, flags_by_op_and_size);
    tcase_add_test(tc, grad_threshold_is_its_own);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
