/* test_validate.c - the checks every entry point shares (src/validate.h):
 * one bad-id message for every op that takes ids, with nothing written,
 * and one overlap rule, under which a buffer of 0 bytes overlaps nothing,
 * both through the internal check and through the ops where an empty
 * buffer reaches it. */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "test_common.h"
#include "validate.h"

/* ---- one bad-id message for every op ------------------------------------- */

enum { V = 40, D = 8, N = 8, P = 16, NB = 3, BAD_AT = 5 };

/* Every buffer any of the ops below may write, in one block: a refused
 * call must leave all of its bytes as they were. */
typedef struct fixture {
    float table[V * D], out[N * D], dout[N * D], ptable[P * D], h[V];
    int64_t argmax[NB * D];
} fixture;

static const int32_t offsets[NB] = {0, 3, 5}; /* bags [0, 3), [3, 5), [5, 8) */

static emb_bags bags_of(void)
{
    const emb_bags b = {NB, offsets, NULL, EMB_I32, 0, NULL, EMB_NO_PADDING};
    return b;
}

static const emb_positions positions = {NULL, 0, N};

typedef emb_status (*id_call_fn)(fixture *f, const void *ids, emb_index t);

static emb_status call_lookup(fixture *f, const void *ids, emb_index t)
{
    return emb_lookup(f->table, EMB_F32, V, D, ids, t, N, f->out, EMB_F32);
}

static emb_status call_lookup_f16(fixture *f, const void *ids, emb_index t)
{
    return emb_lookup(f->table, EMB_F16, V, D, ids, t, N, f->out, EMB_F32);
}

static emb_status call_lookup_f32(fixture *f, const void *ids, emb_index t)
{
    (void)t;
    return emb_lookup_f32(f->table, V, D, ids, N, f->out);
}

static emb_status call_grad(fixture *f, const void *ids, emb_index t)
{
    return emb_grad(f->table, V, D, ids, t, N, f->dout, EMB_F32);
}

static emb_status call_grad_f32(fixture *f, const void *ids, emb_index t)
{
    (void)t;
    return emb_grad_f32(f->table, V, D, ids, N, f->dout);
}

/* scale_grad_by_freq counts rows by id: a bad id must be caught first. */
static emb_status call_grad_ex(fixture *f, const void *ids, emb_index t)
{
    const emb_grad_options opt = {1, 1};
    return emb_grad_ex(f->table, V, D, ids, t, N, f->dout, EMB_F32, &opt);
}

static emb_status call_lookup_pos(fixture *f, const void *ids, emb_index t)
{
    return emb_lookup_pos(f->table, EMB_F32, V, D, ids, t, N, f->ptable, EMB_F32, P, &positions,
                          f->out);
}

static emb_status call_grad_pos(fixture *f, const void *ids, emb_index t)
{
    return emb_grad_pos(f->table, V, f->ptable, P, D, ids, t, N, &positions, f->dout, EMB_F32,
                        NULL);
}

static emb_status call_renorm(fixture *f, const void *ids, emb_index t)
{
    return emb_renorm(f->table, EMB_F32, V, D, ids, t, N, 0.5, 2.0);
}

static emb_status call_bag(fixture *f, const void *ids, emb_index t)
{
    const emb_bags b = bags_of();
    return emb_bag(f->table, EMB_F32, V, D, ids, t, N, &b, EMB_BAG_MAX, f->out, f->argmax);
}

static emb_status call_bag_grad(fixture *f, const void *ids, emb_index t)
{
    const emb_bags b = bags_of();
    return emb_bag_grad(f->table, V, D, ids, t, N, &b, EMB_BAG_MEAN, NULL, f->dout, EMB_F32);
}

static emb_status call_bag_sgd(fixture *f, const void *ids, emb_index t)
{
    const emb_bags b = bags_of();
    const emb_step step = {EMB_OPT_SGD, 0.5f, 0.0f, NULL, 0};
    return emb_bag_update(f->table, EMB_F32, V, D, ids, t, N, &b, EMB_BAG_SUM, f->dout, &step);
}

static emb_status call_bag_adagrad(fixture *f, const void *ids, emb_index t)
{
    const emb_bags b = bags_of();
    const emb_step step = {EMB_OPT_ROWWISE_ADAGRAD, 0.5f, 1e-3f, f->h, 1};
    return emb_bag_update(f->table, EMB_BF16, V, D, ids, t, N, &b, EMB_BAG_MEAN, f->dout, &step);
}

/* Every public op that takes ids (emb_scan takes none). */
static const struct {
    const char *name; /* the entry point, as the message names it */
    int i32_only;
    id_call_fn call;
} id_ops[] = {
    {"emb_lookup", 0, call_lookup},
    {"emb_lookup", 0, call_lookup_f16},
    {"emb_lookup_f32", 1, call_lookup_f32},
    {"emb_grad", 0, call_grad},
    {"emb_grad_f32", 1, call_grad_f32},
    {"emb_grad_ex", 0, call_grad_ex},
    {"emb_lookup_pos", 0, call_lookup_pos},
    {"emb_grad_pos", 0, call_grad_pos},
    {"emb_renorm", 0, call_renorm},
    {"emb_bag", 0, call_bag},
    {"emb_bag_grad", 0, call_bag_grad},
    {"emb_bag_update", 0, call_bag_sgd},
    {"emb_bag_update", 0, call_bag_adagrad},
};

START_TEST(one_bad_id_message_for_every_op)
{
    use_impl(_i);
    static const int64_t bad[] = {V, -1, INT32_MIN, INT32_MAX, (INT64_C(1) << 32) + 1, INT64_MIN};
    static fixture f, before;
    gen_rng r = gen_seed(0x7001);
    fill_elements(&r, EMB_F32, &f, sizeof f / sizeof(float), VALUES_MODERATE);
    for (int i = 0; i < V; i++)
        f.h[i] = 1.0f;
    memcpy(&before, &f, sizeof f);
    int tried = 0;
    for (size_t o = 0; o < sizeof id_ops / sizeof id_ops[0]; o++)
        for (int t = EMB_I32; t <= EMB_I64; t++) {
            if (t == EMB_I64 && id_ops[o].i32_only)
                continue;
            for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
                if (t == EMB_I32 && (bad[b] < INT32_MIN || bad[b] > INT32_MAX))
                    continue;
                int64_t ids[N];
                for (int i = 0; i < N; i++)
                    ids[i] = (int64_t)gen_below(&r, V);
                ids[BAD_AT] = bad[b];
                ids[N - 1] = V + 1; /* a later bad id: the first is the one named */
                int32_t ids32[N];
                for (int i = 0; i < N; i++)
                    ids32[i] = (int32_t)ids[i];
                const emb_status s =
                    id_ops[o].call(&f, t == EMB_I64 ? (const void *)ids : (const void *)ids32,
                                   (emb_index)t);
                char want[128], what[160];
                snprintf(want, sizeof want, "%s: ids[%d] = %lld is outside [0, %d)",
                         id_ops[o].name, BAD_AT, (long long)bad[b], V);
                snprintf(what, sizeof what, "op %zu (%s), %s ids, ids[%d] = %lld", o,
                         id_ops[o].name, emb_index_name((emb_index)t), BAD_AT, (long long)bad[b]);
                ck_assert_msg(s == EMB_ERANGE, "%s: %s (%s)", what, emb_strerror(s),
                              emb_last_error());
                ck_assert_msg(strcmp(emb_last_error(), want) == 0, "%s: \"%s\", expected \"%s\"",
                              what, emb_last_error(), want);
                ASSERT_SAME_BYTES(&f, &before, sizeof f, what);
                tried++;
            }
        }
    ck_assert_int_gt(tried, 100);
}
END_TEST

/* ---- zero-byte buffers overlap nothing ------------------------------------- */

START_TEST(zero_byte_spans_overlap_nothing)
{
    static uint8_t mem[80];
    uint8_t *const buf = mem + 8; /* 64 bytes, with room on either side */
    const emb_span whole = {"whole", buf, 64};
    /* Empty spans at its start, inside it and at its end, and an empty span
     * on an empty one at the same address. */
    const emb_span empties[] = {{"e", buf, 0}, {"e", buf + 10, 0}, {"e", buf + 63, 0},
                                {"e", buf + 64, 0}};
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
        ck_assert_msg(!emb_spans_overlap(&whole, &empties[i]), "empty span %zu", i);
        ck_assert_msg(!emb_spans_overlap(&empties[i], &whole), "empty span %zu, swapped", i);
        ck_assert(!emb_spans_overlap(&empties[i], &empties[i]));
    }
    /* One byte is enough to overlap; adjacency is not. */
    const emb_span last = {"b", buf + 63, 1}, past = {"b", buf + 64, 1}, before = {"b", buf - 1, 1},
                   across = {"b", buf - 1, 2};
    ck_assert(emb_spans_overlap(&whole, &last));
    ck_assert(!emb_spans_overlap(&whole, &past));
    ck_assert(!emb_spans_overlap(&whole, &before));
    ck_assert(emb_spans_overlap(&whole, &across));

    /* Through the check: an empty read span inside the written one passes;
     * four bytes of it fail, naming both ranges. */
    emb_span spans[] = {{"out", buf, 64}, {"table", buf + 64, 0}, {"ids", buf + 8, 0}};
    ck_assert_int_eq(emb_check_disjoint("op", spans, 1, 3), EMB_OK);
    spans[2].bytes = 4;
    ck_assert_int_eq(emb_check_disjoint("op", spans, 1, 3), EMB_EINVAL);
    char want[160];
    snprintf(want, sizeof want,
             "op: out [%p, +64 bytes), which the call writes, overlaps ids [%p, +4 bytes)",
             (void *)buf, (void *)(buf + 8));
    ck_assert_str_eq(emb_last_error(), want);
    /* Read spans may share memory; an empty written span clashes with
     * nothing. */
    const emb_span shared[] = {{"out", buf + 8, 0}, {"table", buf, 64}, {"ids", buf, 64}};
    ck_assert_int_eq(emb_check_disjoint("op", shared, 1, 3), EMB_OK);
}
END_TEST

/* The ops where an empty buffer reaches the overlap check: emb_bag and
 * emb_bag_grad (max mode) with n = 0 and all bags empty, whose ids then
 * span 0 bytes wherever they point, and emb_scan's query under
 * EMB_METRIC_NORM2, which it never reads. (The lookup, gradient,
 * positional and renorm ops return before any pointer is looked at when
 * n = 0, the only size that makes one of their buffers empty.) */
START_TEST(empty_buffers_inside_outputs_are_accepted)
{
    use_impl(_i);
    enum { VB = 4, DB = 8, NBAGS = 2 };
    static float table[VB * DB], out[NBAGS * DB + 4];
    static int64_t argmax[NBAGS * DB];
    const int32_t offs[NBAGS] = {0, 0};
    const emb_bags b = {NBAGS, offs, NULL, EMB_I32, 0, NULL, EMB_NO_PADDING};
    for (int j = 0; j < VB * DB; j++)
        table[j] = (float)j;
    memset(out, 0xCD, sizeof out);
    /* ids in the middle of out: n = 0, so none is read. Empty bags sum to +0. */
    ck_assert_int_eq(emb_bag(table, EMB_F32, VB, DB, out + 3, EMB_I32, 0, &b, EMB_BAG_SUM, out,
                             NULL),
                     EMB_OK);
    for (int j = 0; j < NBAGS * DB; j++)
        ck_assert_uint_eq(gen_f2u(out[j]), 0);
    /* The gradient of empty max bags: argmax all -1, ids inside dtable. */
    for (int j = 0; j < NBAGS * DB; j++)
        argmax[j] = -1;
    float before[VB * DB];
    memcpy(before, table, sizeof table);
    ck_assert_int_eq(emb_bag_grad(table, VB, DB, table + 5, EMB_I64, 0, &b, EMB_BAG_MAX, argmax,
                                  out, EMB_F32),
                     EMB_OK);
    ASSERT_SAME_BITS(table, before, VB * DB, "dtable after empty max bags");
    /* A written span of 8 bytes there is refused: the rule is about size. */
    ck_assert_int_eq(emb_bag_grad(table, VB, DB, table + 5, EMB_I64, 0, &b, EMB_BAG_MAX,
                                  (const int64_t *)(void *)(table + 2), out, EMB_F32),
                     EMB_EINVAL);
    ck_assert_msg(strstr(emb_last_error(), "overlaps argmax [") != NULL, "%s", emb_last_error());
    /* NORM2 reads no query: one pointing into scores is accepted. */
    static float scores[VB + DB];
    ck_assert_int_eq(emb_scan(table, EMB_F32, VB, DB, scores + 1, EMB_METRIC_NORM2, scores),
                     EMB_OK);
    ck_assert_int_eq(emb_scan(table, EMB_F32, VB, DB, scores + 1, EMB_METRIC_DOT, scores),
                     EMB_EINVAL);
    ck_assert_msg(strstr(emb_last_error(), "overlaps query [") != NULL, "%s", emb_last_error());
}
END_TEST

static void add_tests(Suite *s, int impl)
{
    const TTest *const tests[] = {one_bad_id_message_for_every_op,
                                  empty_buffers_inside_outputs_are_accepted};
    add_impl_tests(s, impl, tests, sizeof tests / sizeof tests[0], 60);
}

static void add_once(Suite *s)
{
    TCase *tc = tcase_create("spans");
    tcase_add_test(tc, zero_byte_spans_overlap_nothing);
    suite_add_tcase(s, tc);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv, "validate", add_tests, add_once);
}
