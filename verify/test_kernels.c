/* test_kernels.c - the Check suite of lookup and grad results: every
 * kernel the library lists, each id type, every dim tail, misaligned
 * buffers, IEEE special values and validation, once per implementation
 * this CPU supports, compared bit for bit with the reference. */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "embsimd.h"
#include "gen.h"
#include "reference.h"
#include "test_common.h"

/* The dims that reach every tail length of every vector width (1..70),
 * the sizes either side of common row widths and of the kernels' piece
 * sizes (64 and 256 floats), and a remainder under one vector after a
 * whole piece (271 = 256 + 15). */
static const int64_t test_dims[] = {
    1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18,
    19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36,
    37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54,
    55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 127, 128,
    129, 255, 256, 257, 271, 512, 513, 768, 1023};
enum { N_DIMS = sizeof test_dims / sizeof test_dims[0] };

/* ------------------------------------------------------------------ */
/* f32 kernel tests, one run per implementation (_i is its index)       */
/* ------------------------------------------------------------------ */

START_TEST(lookup_matches_naive_on_random_bits)
{
    use_impl(_i);
    gen_rng r = gen_seed(0x1001);
    const int64_t vocab = 37;
    for (int d = 0; d < N_DIMS; d++) {
        const int64_t dim = test_dims[d], n = 29;
        /* Alternate alignment so both aligned and one-float-offset pointers
         * reach every tail length. */
        const int misalign = d & 1;
        guarded table = guarded_new(vocab * dim, misalign);
        guarded out = guarded_new(n * dim, !misalign);
        float *want = xmalloc((size_t)(n * dim) * sizeof(float));
        int32_t ids[29];
        gen_fill_bits(&r, table.p, (size_t)(vocab * dim));
        gen_ids(&r, ids, (size_t)n, vocab, GEN_IDS_UNIFORM);
        ids[0] = (int32_t)vocab - 1; /* the row that ends the table */
        naive_lookup(table.p, dim, ids, n, want);

        ck_assert_int_eq(emb_lookup_f32(table.p, vocab, dim, ids, n, out.p), EMB_OK);
        char what[64];
        snprintf(what, sizeof what, "lookup dim %lld", (long long)dim);
        ASSERT_SAME_BITS(out.p, want, n * dim, what);
        guarded_check(&out, what);
        free(table.base);
        free(out.base);
        free(want);
    }
}
END_TEST

START_TEST(lookup_reads_nothing_past_the_last_row)
{
    /* Rows at the very end of an exact-size allocation: under ASan any
     * over-read by a vector tail is reported. */
    use_impl(_i);
    gen_rng r = gen_seed(0x1002);
    for (int d = 0; d < N_DIMS; d++) {
        const int64_t dim = test_dims[d], vocab = 3;
        float *table = xmalloc((size_t)(vocab * dim) * sizeof(float));
        float *out = xmalloc((size_t)dim * sizeof(float));
        gen_fill_bits(&r, table, (size_t)(vocab * dim));
        const int32_t id = 2;
        ck_assert_int_eq(emb_lookup_f32(table, vocab, dim, &id, 1, out), EMB_OK);
        ASSERT_SAME_BITS(out, table + 2 * dim, dim, "last row");
        free(table);
        free(out);
    }
}
END_TEST

START_TEST(rows_ending_at_a_guard_page)
{
    use_impl(_i);
    gen_rng r = gen_seed(0x1003);
    for (int d = 0; d < N_DIMS; d++) {
        const int64_t dim = test_dims[d], vocab = 3, n = 2;
        fenced table = fenced_new((size_t)(vocab * dim) * sizeof(float));
        fenced out = fenced_new((size_t)(n * dim) * sizeof(float));
        fenced dout = fenced_new((size_t)(n * dim) * sizeof(float));
        float *tp = table.p, *op = out.p, *gp = dout.p;
        gen_fill_bits(&r, tp, (size_t)(vocab * dim));
        gen_fill_finite(&r, gp, (size_t)(n * dim));
        const int32_t ids[2] = {0, 2}; /* the last output row and the last table row */
        ck_assert_int_eq(emb_lookup_f32(tp, vocab, dim, ids, n, op), EMB_OK);
        ASSERT_SAME_BITS(op + dim, tp + 2 * dim, dim, "last row at a guard page");
        ck_assert_int_eq(emb_grad_f32(tp, vocab, dim, ids, n, gp), EMB_OK);
        fenced_free(&table);
        fenced_free(&out);
        fenced_free(&dout);
    }
}
END_TEST

/* Grad inputs where every addition has at most one NaN operand: IEEE 754
 * then fixes the result bits (that NaN, quieted), so implementations must
 * agree exactly, Inf - Inf's default NaN included. */
START_TEST(grad_matches_naive_with_duplicates)
{
    use_impl(_i);
    gen_rng r = gen_seed(0x2001);
    for (int d = 0; d < N_DIMS; d++) {
        const int64_t dim = test_dims[d], vocab = 11, n = 97;
        const int misalign = d & 1;
        guarded dtable = guarded_new(vocab * dim, misalign);
        float *want = xmalloc((size_t)(vocab * dim) * sizeof(float));
        float *dout = xmalloc((size_t)(n * dim + 1) * sizeof(float));
        float *dy = dout + !misalign;
        int32_t ids[97];
        gen_fill_bits(&r, dtable.p, (size_t)(vocab * dim));
        if (d % 3 == 0)
            gen_fill_bits_no_nan(&r, dy, (size_t)(n * dim));
        else
            gen_fill_finite(&r, dy, (size_t)(n * dim));
        /* Few distinct ids, so each row sums many tokens and any change of
         * order changes the rounding. */
        gen_ids(&r, ids, (size_t)n, vocab - 1, (d & 1) ? GEN_IDS_DUPLICATES : GEN_IDS_ZIPF);
        memcpy(want, dtable.p, (size_t)(vocab * dim) * sizeof(float));
        naive_grad(want, dim, ids, n, dy);

        ck_assert_int_eq(emb_grad_f32(dtable.p, vocab, dim, ids, n, dy), EMB_OK);
        char what[64];
        snprintf(what, sizeof what, "grad dim %lld", (long long)dim);
        /* Row vocab-1 is named by no id: it must be untouched, NaNs and all. */
        ASSERT_SAME_BITS(dtable.p, want, vocab * dim, what);
        guarded_check(&dtable, what);
        free(dtable.base);
        free(want);
        free(dout);
    }
}
END_TEST

START_TEST(grad_order_is_token_order)
{
    /* 1 + 2^-24 + 2^-24 rounds to 1 twice when added in token order, but to
     * 1 + 2^-23 if the two small terms were summed first: a kernel that
     * reassociates (e.g. pre-reduces duplicate ids) fails here. */
    use_impl(_i);
    const int64_t dim = 19;
    float dtable[2 * 19], dout[3 * 19];
    const int32_t ids[3] = {1, 1, 1};
    for (int j = 0; j < 2 * 19; j++)
        dtable[j] = 1.0f;
    for (int j = 0; j < 3 * 19; j++)
        dout[j] = j < 19 ? 0.0f : 0x1p-24f;
    ck_assert_int_eq(emb_grad_f32(dtable, 2, dim, ids, 3, dout), EMB_OK);
    for (int j = 0; j < 19; j++)
        ck_assert_msg(gen_f2u(dtable[19 + j]) == gen_f2u(1.0f),
                      "element %d is %a, token-order sum is 1", j, (double)dtable[19 + j]);
}
END_TEST

START_TEST(grad_two_nans_give_one_of_them)
{
    /* IEEE 754 (6.2.3) lets NaN + NaN return either payload, and compilers
     * may commute the operands of an add, so the predicted value is "a
     * quiet NaN carrying one of the two payloads", checked exactly. */
    use_impl(_i);
    gen_rng r = gen_seed(0x2003);
    const int64_t dim = 37, vocab = 4, n = 3;
    float dtable[4 * 37], dout[3 * 37], before[4 * 37];
    const int32_t ids[3] = {2, 0, 3};
    for (int k = 0; k < 4 * 37; k++)
        dtable[k] = gen_u2f(0x7F800001u | ((uint32_t)gen_u64(&r) & 0x803FFFFFu));
    for (int k = 0; k < 3 * 37; k++)
        dout[k] = gen_u2f(0x7FC00000u | ((uint32_t)gen_u64(&r) & 0x803FFFFFu));
    memcpy(before, dtable, sizeof dtable);
    ck_assert_int_eq(emb_grad_f32(dtable, vocab, dim, ids, n, dout), EMB_OK);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < dim; j++) {
            const uint32_t got = gen_f2u(dtable[ids[i] * dim + j]);
            const uint32_t a = gen_f2u(before[ids[i] * dim + j]) | 0x00400000u;
            const uint32_t b = gen_f2u(dout[i * dim + j]) | 0x00400000u;
            ck_assert_msg(got == a || got == b, "token %d elem %d: 0x%08x is neither 0x%08x nor 0x%08x",
                          i, j, got, a, b);
        }
    ASSERT_SAME_BITS(dtable + 37, before + 37, 37, "row 1, named by no id");
}
END_TEST

START_TEST(zero_tokens_touch_nothing)
{
    use_impl(_i);
    ck_assert_int_eq(emb_lookup_f32(NULL, 10, 4, NULL, 0, NULL), EMB_OK);
    ck_assert_int_eq(emb_grad_f32(NULL, 10, 4, NULL, 0, NULL), EMB_OK);
    guarded table = guarded_new(40, 0), out = guarded_new(8, 0);
    const int32_t ids[2] = {1, 2};
    float before[8];
    memcpy(before, out.p, sizeof before);
    ck_assert_int_eq(emb_lookup_f32(table.p, 10, 4, ids, 0, out.p), EMB_OK);
    ASSERT_SAME_BITS(out.p, before, 8, "out after n = 0");
    ck_assert_int_eq(emb_grad_f32(table.p, 10, 4, ids, 0, out.p), EMB_OK);
    guarded_check(&out, "out after n = 0");
    guarded_check(&table, "dtable after n = 0");
    free(table.base);
    free(out.base);
}
END_TEST

/* A call that must fail: the status, a message naming the culprit, and
 * not one byte of out/dtable changed. */
typedef struct bad_case {
    const char *label;
    int64_t vocab, dim, n;
    int32_t bad_id;
    int bad_pos; /* -1: no bad id */
    emb_status want;
    const char *message; /* for ids exact but for the entry point's name before it, a
                          * required substring otherwise */
} bad_case;

static void expect_failure(const bad_case *c, int grad)
{
    enum { V = 50, D = 7, N = 20 };
    guarded table = guarded_new(V * D, 0), rows = guarded_new(N * D, 1);
    int32_t ids[N];
    gen_rng r = gen_seed(0x3001);
    gen_ids(&r, ids, N, c->vocab > 0 && c->vocab < V ? c->vocab : V, GEN_IDS_UNIFORM);
    if (c->bad_pos >= 0)
        ids[c->bad_pos] = c->bad_id;
    gen_fill_finite(&r, rows.p, N * D);
    float snap_table[V * D], snap_rows[N * D];
    memcpy(snap_table, table.p, sizeof snap_table);
    memcpy(snap_rows, rows.p, sizeof snap_rows);

    const emb_status s =
        grad ? emb_grad_f32(table.p, c->vocab, c->dim, ids, c->n, rows.p)
             : emb_lookup_f32(table.p, c->vocab, c->dim, ids, c->n, rows.p);
    ck_assert_msg(s == c->want, "%s (%s): status %d (%s), expected %d", c->label,
                  grad ? "grad" : "lookup", (int)s, emb_strerror(s), (int)c->want);
    if (c->bad_pos >= 0) {
        char want[160];
        snprintf(want, sizeof want, "%s: %s", grad ? "emb_grad_f32" : "emb_lookup_f32",
                 c->message);
        ck_assert_str_eq(emb_last_error(), want);
    } else
        ck_assert_msg(strstr(emb_last_error(), c->message) != NULL,
                      "%s: message \"%s\" lacks \"%s\"", c->label, emb_last_error(), c->message);
    ASSERT_SAME_BITS(table.p, snap_table, V * D, c->label);
    ASSERT_SAME_BITS(rows.p, snap_rows, N * D, c->label);
    guarded_check(&table, c->label);
    guarded_check(&rows, c->label);
    free(table.base);
    free(rows.base);
}

START_TEST(bad_ids_change_nothing)
{
    use_impl(_i);
    static const bad_case cases[] = {
        {"id = vocab at 17", 50, 7, 20, 50, 17, EMB_ERANGE, "ids[17] = 50 is outside [0, 50)"},
        {"negative id first", 50, 7, 20, -1, 0, EMB_ERANGE, "ids[0] = -1 is outside [0, 50)"},
        {"INT32_MIN last", 50, 7, 20, INT32_MIN, 19, EMB_ERANGE,
         "ids[19] = -2147483648 is outside [0, 50)"},
        {"INT32_MAX middle", 50, 7, 20, INT32_MAX, 9, EMB_ERANGE,
         "ids[9] = 2147483647 is outside [0, 50)"},
        /* vocab smaller than the table: the limit is vocab, not the memory. */
        {"id beyond a smaller vocab", 30, 7, 20, 30, 5, EMB_ERANGE, "ids[5] = 30 is outside [0, 30)"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        expect_failure(&cases[k], 0);
        expect_failure(&cases[k], 1);
    }
}
END_TEST

START_TEST(first_bad_id_is_reported)
{
    use_impl(_i);
    float table[4 * 2], out[40 * 2];
    int32_t ids[40] = {0};
    memset(table, 0, sizeof table);
    ids[23] = 9;
    ids[31] = -5;
    ck_assert_int_eq(emb_lookup_f32(table, 4, 2, ids, 40, out), EMB_ERANGE);
    ck_assert_str_eq(emb_last_error(), "emb_lookup_f32: ids[23] = 9 is outside [0, 4)");
}
END_TEST

START_TEST(bad_arguments_change_nothing)
{
    use_impl(_i);
    static const bad_case cases[] = {
        {"vocab 0", 0, 7, 20, 0, -1, EMB_EINVAL, "vocab = 0"},
        {"vocab -3", -3, 7, 20, 0, -1, EMB_EINVAL, "vocab = -3"},
        {"dim 0", 50, 0, 20, 0, -1, EMB_EINVAL, "dim = 0"},
        {"dim -1", 50, -1, 20, 0, -1, EMB_EINVAL, "dim = -1"},
        {"n -1", 50, 7, -1, 0, -1, EMB_EINVAL, "n = -1"},
        {"table bytes overflow", INT64_MAX / 8, 7, 20, 0, -1, EMB_EINVAL, "overflows size_t"},
        {"rows bytes overflow", 50, INT64_MAX / 64, INT64_MAX / 64, 0, -1, EMB_EINVAL,
         "overflows size_t"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        expect_failure(&cases[k], 0);
        expect_failure(&cases[k], 1);
    }
}
END_TEST

START_TEST(null_pointers_are_named)
{
    use_impl(_i);
    float table[10 * 3], rows[4 * 3];
    const int32_t ids[4] = {1, 2, 3, 4};
    gen_rng r = gen_seed(0x3002);
    gen_fill_finite(&r, table, 30);
    gen_fill_finite(&r, rows, 12);
    float snap_t[30], snap_r[12];
    memcpy(snap_t, table, sizeof table);
    memcpy(snap_r, rows, sizeof rows);

    ck_assert_int_eq(emb_lookup_f32(NULL, 10, 3, ids, 4, rows), EMB_EINVAL);
    ck_assert_str_eq(emb_last_error(), "emb_lookup_f32: table is NULL with n = 4");
    ck_assert_int_eq(emb_lookup_f32(table, 10, 3, NULL, 4, rows), EMB_EINVAL);
    ck_assert_str_eq(emb_last_error(), "emb_lookup_f32: ids is NULL with n = 4");
    ck_assert_int_eq(emb_lookup_f32(table, 10, 3, ids, 4, NULL), EMB_EINVAL);
    ck_assert_str_eq(emb_last_error(), "emb_lookup_f32: out is NULL with n = 4");
    ck_assert_int_eq(emb_grad_f32(NULL, 10, 3, ids, 4, rows), EMB_EINVAL);
    ck_assert_str_eq(emb_last_error(), "emb_grad_f32: dtable is NULL with n = 4");
    ck_assert_int_eq(emb_grad_f32(table, 10, 3, NULL, 4, rows), EMB_EINVAL);
    ck_assert_str_eq(emb_last_error(), "emb_grad_f32: ids is NULL with n = 4");
    ck_assert_int_eq(emb_grad_f32(table, 10, 3, ids, 4, NULL), EMB_EINVAL);
    ck_assert_str_eq(emb_last_error(), "emb_grad_f32: dout is NULL with n = 4");
    ASSERT_SAME_BITS(table, snap_t, 30, "table after NULL arguments");
    ASSERT_SAME_BITS(rows, snap_r, 12, "rows after NULL arguments");
}
END_TEST

START_TEST(overlapping_buffers_are_refused)
{
    use_impl(_i);
    enum { V = 8, D = 5 };
    float buf[(V + 4) * D];
    const int32_t ids[3] = {0, 1, 2};
    gen_rng r = gen_seed(0x3003);
    gen_fill_finite(&r, buf, (V + 4) * D);
    float snap[(V + 4) * D];
    memcpy(snap, buf, sizeof buf);
    /* out starts in the table's last row; dout ends in dtable's first. */
    ck_assert_int_eq(emb_lookup_f32(buf, V, D, ids, 3, buf + (V - 1) * D), EMB_EINVAL);
    ck_assert_msg(strstr(emb_last_error(), "out") && strstr(emb_last_error(), "overlaps table"),
                  "message: %s", emb_last_error());
    ck_assert_int_eq(emb_grad_f32(buf + 2 * D, V, D, ids, 3, buf), EMB_EINVAL);
    ck_assert_msg(strstr(emb_last_error(), "dtable [") &&
                      strstr(emb_last_error(), "which the call writes, overlaps dout ["),
                  "message: %s", emb_last_error());
    /* ids inside the buffer the call writes. */
    int32_t *ids_in_out = (int32_t *)(buf + V * D);
    ids_in_out[0] = 0;
    ids_in_out[1] = 1;
    char want[200];
    ck_assert_int_eq(emb_lookup_f32(buf, V, D, ids_in_out, 2, buf + V * D), EMB_EINVAL);
    snprintf(want, sizeof want,
             "emb_lookup_f32: out [%p, +%zu bytes), which the call writes, overlaps ids [%p, +8 "
             "bytes)", (void *)(buf + V * D), 2 * D * sizeof(float), (void *)ids_in_out);
    ck_assert_str_eq(emb_last_error(), want);
    float *dy = xmalloc(2 * D * sizeof(float));
    gen_fill_finite(&r, dy, 2 * D);
    int32_t *ids_in_dtable = (int32_t *)(buf + (V - 1) * D);
    ids_in_dtable[0] = 0;
    ids_in_dtable[1] = 1;
    memcpy(snap, buf, sizeof buf);
    ck_assert_int_eq(emb_grad_f32(buf, V, D, ids_in_dtable, 2, dy), EMB_EINVAL);
    ASSERT_SAME_BITS(buf, snap, (V + 4) * D, "dtable after refused ids overlap");
    snprintf(want, sizeof want,
             "emb_grad_f32: dtable [%p, +%zu bytes), which the call writes, overlaps ids [%p, +8 "
             "bytes)", (void *)buf, V * D * sizeof(float), (void *)ids_in_dtable);
    ck_assert_str_eq(emb_last_error(), want);
    free(dy);
    gen_fill_finite(&r, buf, (V + 4) * D);
    memcpy(snap, buf, sizeof buf);
    ck_assert_int_eq(emb_grad_f32(buf + 2 * D, V, D, ids, 3, buf), EMB_EINVAL);
    ASSERT_SAME_BITS(buf, snap, (V + 4) * D, "buffer after refused overlap");
    /* Adjacent is not overlapping. */
    ck_assert_int_eq(emb_lookup_f32(buf, V, D, ids, 3, buf + V * D), EMB_OK);
}
END_TEST

START_TEST(offsets_beyond_32_bits)
{
    /* A table of 3 x (2^31 - 1) floats, 24 GiB of address space of which
     * only the touched pages become real: every row offset here needs more
     * than 32 bits, in elements and in bytes. */
    use_impl(_i);
    const int64_t vocab = INT32_MAX, dim = 3;
    const size_t bytes = (size_t)vocab * (size_t)dim * sizeof(float);
    float *table = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    ck_assert_msg(table != MAP_FAILED, "cannot reserve %zu bytes of address space", bytes);
    const int32_t ids[4] = {INT32_MAX - 1, 1431655766, 715827883, INT32_MAX - 1};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            table[(int64_t)ids[i] * dim + j] = (float)(i * 10 + j + 1);
    float out[12], want[12];
    naive_lookup(table, dim, ids, 4, want);
    ck_assert_int_eq(emb_lookup_f32(table, vocab, dim, ids, 4, out), EMB_OK);
    ASSERT_SAME_BITS(out, want, 12, "lookup beyond 2^32 elements");

    const float dout[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    const float last_row_before[3] = {table[(int64_t)ids[0] * dim], table[(int64_t)ids[0] * dim + 1],
                                      table[(int64_t)ids[0] * dim + 2]};
    ck_assert_int_eq(emb_grad_f32(table, vocab, dim, ids, 4, dout), EMB_OK);
    for (int j = 0; j < 3; j++) {
        volatile float want_sum = last_row_before[j] + dout[j];
        want_sum = want_sum + dout[9 + j];
        ck_assert_uint_eq(gen_f2u(table[(int64_t)ids[0] * dim + j]), gen_f2u(want_sum));
    }
    munmap(table, bytes);
}
END_TEST

START_TEST(strerror_and_version)
{
    const emb_status all[] = {EMB_OK, EMB_EINVAL, EMB_ERANGE, EMB_ENOMEM, EMB_ENOTSUP};
    for (size_t a = 0; a < 5; a++) {
        ck_assert_uint_gt(strlen(emb_strerror(all[a])), 0);
        for (size_t b = a + 1; b < 5; b++)
            ck_assert_str_ne(emb_strerror(all[a]), emb_strerror(all[b]));
    }
    ck_assert_str_eq(emb_strerror((emb_status)99), "unknown status");
    ck_assert_str_eq(emb_version(), PACKAGE_VERSION);
    ck_assert_int_ge(emb_llc_bytes(), 1 << 16); /* no real LLC is smaller than 64 KiB */
}
END_TEST

/* ------------------------------------------------------------------ */
/* Every kernel the library lists, against the reference (reference.h)  */
/* ------------------------------------------------------------------ */

/* Element-type dims reach every tail of every vector width (1..70); the
 * rest are multiples of 32, where the blocked formats qualify too, up to
 * rows of several of the loops' pieces (256, 512: one and two q4_K/q6_K
 * super-blocks). A dim a type rejects is skipped, by asking emb_row_bytes. */
static const int64_t typed_dims[] = {
    1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18,
    19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36,
    37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54,
    55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 96, 128,
    160, 256, 352, 512, 768, 1024, 4096};
enum { N_TYPED_DIMS = sizeof typed_dims / sizeof typed_dims[0] };

static const int64_t token_counts[] = {0, 1, 7, 257};
enum { N_TOKEN_COUNTS = sizeof token_counts / sizeof token_counts[0] };

/* The id types, enumerated: emb_index_name is NULL past the last. */
static int id_type_count(void)
{
    int n = 0;
    while (emb_index_name((emb_index)n) != NULL)
        n++;
    return n;
}

/* Both row sizes of kernel k at dim, 0 when a type rejects the dim; the
 * reference must agree with the library on which dims exist. */
static int kernel_rows(const emb_kernel *k, int64_t dim, size_t *in_bytes, size_t *out_bytes)
{
    *in_bytes = emb_row_bytes(k->in, dim);
    *out_bytes = emb_row_bytes(k->out, dim);
    ck_assert_uint_eq(ref_row_bytes(k->in, dim), *in_bytes);
    ck_assert_uint_eq(ref_row_bytes(k->out, dim), *out_bytes);
    return *in_bytes != 0 && *out_bytes != 0;
}

static void lookup_against_reference(const emb_kernel *k, emb_index id_type, int64_t dim,
                                     int64_t n, int variant, gen_rng *r)
{
    const int64_t vocab = 37;
    size_t in_rb, out_rb;
    if (!kernel_rows(k, dim, &in_rb, &out_rb))
        return;
    gbytes table = gbytes_new((size_t)vocab * in_rb, type_offset(k->in, variant));
    gbytes out = gbytes_new((size_t)n * out_rb, type_offset(k->out, variant + 1));
    uint8_t *want = xmalloc((size_t)n * out_rb);
    /* Every bit pattern is a valid table; only the few rows whose result
     * IEEE 754 leaves open are made determinate. */
    fill_bytes(r, table.p, table.bytes);
    for (int64_t v = 0; v < vocab; v++)
        ref_make_determinate(k->in, table.p + (size_t)v * in_rb, dim);
    void *ids = make_ids(r, id_type, (size_t)n, vocab, GEN_IDS_UNIFORM);
    if (n > 0)
        set_id(ids, id_type, (size_t)n - 1, vocab - 1); /* the table's last row, out's last */
    ck_assert_int_eq(ref_lookup(k, table.p, vocab, dim, ids, id_type, n, want), 0);

    char what[128];
    snprintf(what, sizeof what, "%s, %s ids, dim %lld, n %lld, table +%zu, out +%zu", k->name,
             emb_index_name(id_type), (long long)dim, (long long)n, table.offset, out.offset);
    const emb_status s = emb_lookup(table.p, k->in, vocab, dim, ids, id_type, n, out.p, k->out);
    ck_assert_msg(s == EMB_OK, "%s: %s: %s", what, emb_strerror(s), emb_last_error());
    ASSERT_SAME_BYTES(out.p, want, out.bytes, what);
    gbytes_check(&out, what);
    gbytes_free(&table);
    gbytes_free(&out);
    free(want);
    free(ids);
}

/* dout is NaN-free: IEEE 754 lets NaN + NaN return either payload, so with
 * NaNs on both sides the result bits are not one answer (grad_two_nans_*
 * check that case). dtable may hold anything, NaNs included: NaN + x is
 * that NaN, quieted, everywhere. */
static void grad_against_reference(const emb_kernel *k, emb_index id_type, int64_t dim,
                                   int64_t n, int variant, gen_rng *r)
{
    const int64_t vocab = 11;
    size_t in_rb, out_rb;
    if (!kernel_rows(k, dim, &in_rb, &out_rb))
        return;
    gbytes dtable = gbytes_new((size_t)vocab * out_rb, type_offset(k->out, variant));
    gbytes dout = gbytes_new((size_t)n * in_rb, type_offset(k->in, variant + 1));
    float *want = xmalloc(dtable.bytes);
    fill_bytes(r, dtable.p, dtable.bytes);
    fill_elements(r, k->in, dout.p, (size_t)(n * dim), VALUES_NOT_NAN);
    /* Few distinct rows, each summing many tokens; row vocab - 1 is named
     * by no id and must stay as it was. */
    void *ids = make_ids(r, id_type, (size_t)n, vocab - 1,
                         (variant & 1) ? GEN_IDS_DUPLICATES : GEN_IDS_ZIPF);
    memcpy(want, dtable.p, dtable.bytes);
    ck_assert_int_eq(ref_grad(k, want, vocab, dim, ids, id_type, n, dout.p), 0);

    char what[128];
    snprintf(what, sizeof what, "%s, %s ids, dim %lld, n %lld, dtable +%zu, dout +%zu", k->name,
             emb_index_name(id_type), (long long)dim, (long long)n, dtable.offset, dout.offset);
    const emb_status s = emb_grad((float *)dtable.p, vocab, dim, ids, id_type, n, dout.p, k->in);
    ck_assert_msg(s == EMB_OK, "%s: %s: %s", what, emb_strerror(s), emb_last_error());
    ASSERT_SAME_BYTES(dtable.p, want, dtable.bytes, what);
    gbytes_check(&dtable, what);
    gbytes_free(&dtable);
    gbytes_free(&dout);
    free(want);
    free(ids);
}

/* One kernel (_i: implementation and kernel), every id type, dim, token
 * count, and three alignments of each buffer in turn. */
START_TEST(kernel_matches_reference)
{
    const emb_kernel *k = kernel_of(_i);
    gen_rng r = gen_seed(0x5001 + (uint64_t)(_i % KERNEL_SLOTS));
    int tested = 0;
    for (int t = 0; t < id_type_count(); t++)
        for (int d = 0; d < N_TYPED_DIMS; d++)
            for (int c = 0; c < N_TOKEN_COUNTS; c++) {
                const int variant = d + c + t;
                if (k->op == EMB_OP_LOOKUP)
                    lookup_against_reference(k, (emb_index)t, typed_dims[d], token_counts[c],
                                             variant, &r);
                else
                    grad_against_reference(k, (emb_index)t, typed_dims[d], token_counts[c],
                                           variant, &r);
                tested += emb_row_bytes(k->in, typed_dims[d]) != 0;
            }
    ck_assert_msg(tested > 0, "%s: no dim of the list is valid for it", k->name);
}
END_TEST

/* The last row of the table and of the output (lookup), of dtable and of
 * dout (grad) end where an inaccessible page begins: a vector tail that
 * reads or writes one byte too many faults. */
START_TEST(kernel_rows_end_at_a_guard_page)
{
    const emb_kernel *k = kernel_of(_i);
    gen_rng r = gen_seed(0x5002);
    const int64_t vocab = 3, n = 2;
    const int32_t ids[2] = {0, 2}; /* the last output row and the last table row */
    for (int d = 0; d < N_TYPED_DIMS; d++) {
        const int64_t dim = typed_dims[d];
        size_t in_rb, out_rb;
        if (!kernel_rows(k, dim, &in_rb, &out_rb))
            continue;
        char what[96];
        snprintf(what, sizeof what, "%s, dim %lld, rows at a guard page", k->name, (long long)dim);
        const size_t matrix_bytes = (size_t)vocab * (k->op == EMB_OP_LOOKUP ? in_rb : out_rb);
        const size_t rows_bytes = (size_t)n * (k->op == EMB_OP_LOOKUP ? out_rb : in_rb);
        fenced matrix = fenced_new(matrix_bytes), rows = fenced_new(rows_bytes);
        void *want = xmalloc(k->op == EMB_OP_LOOKUP ? rows_bytes : matrix_bytes);
        if (k->op == EMB_OP_LOOKUP) {
            fill_bytes(&r, matrix.p, matrix_bytes);
            for (int64_t v = 0; v < vocab; v++)
                ref_make_determinate(k->in, (uint8_t *)matrix.p + (size_t)v * in_rb, dim);
            ck_assert_int_eq(ref_lookup(k, matrix.p, vocab, dim, ids, EMB_I32, n, want), 0);
            ck_assert_int_eq(emb_lookup(matrix.p, k->in, vocab, dim, ids, EMB_I32, n, rows.p,
                                        k->out), EMB_OK);
            ASSERT_SAME_BYTES(rows.p, want, rows_bytes, what);
        } else {
            fill_bytes(&r, matrix.p, matrix_bytes);
            fill_elements(&r, k->in, rows.p, (size_t)(n * dim), VALUES_NOT_NAN);
            memcpy(want, matrix.p, matrix_bytes);
            ck_assert_int_eq(ref_grad(k, want, vocab, dim, ids, EMB_I32, n, rows.p), 0);
            ck_assert_int_eq(emb_grad(matrix.p, vocab, dim, ids, EMB_I32, n, rows.p, k->in),
                             EMB_OK);
            ASSERT_SAME_BYTES(matrix.p, want, matrix_bytes, what);
        }
        fenced_free(&matrix);
        fenced_free(&rows);
        free(want);
    }
}
END_TEST

/* Grad with NaNs anywhere in dout (signalling ones included) where each
 * row is named once and dtable holds no NaN: every addition has at most
 * one NaN operand, so IEEE 754 fixes the bits (that NaN, quieted). */
START_TEST(grad_nan_dout_rows_named_once)
{
    use_impl(_i);
    gen_rng r = gen_seed(0x5003);
    int grads = 0;
    for (int kk = 0; kk < emb_kernel_count(); kk++) {
        const emb_kernel *k = emb_kernel_at(kk);
        if (k->op != EMB_OP_GRAD)
            continue;
        grads++;
        for (int t = 0; t < id_type_count(); t++) {
            const int64_t dim = 67, vocab = 40, n = 33;
            const size_t in_rb = emb_row_bytes(k->in, dim);
            float *dtable = xmalloc((size_t)(vocab * dim) * sizeof(float));
            float *want = xmalloc((size_t)(vocab * dim) * sizeof(float));
            uint8_t *dout = xmalloc((size_t)n * in_rb);
            fill_elements(&r, k->out, dtable, (size_t)(vocab * dim), VALUES_NOT_NAN);
            fill_bytes(&r, dout, (size_t)n * in_rb);
            void *ids = make_ids(&r, (emb_index)t, (size_t)n, vocab, GEN_IDS_UNIFORM);
            for (int64_t i = 0; i < n; i++) /* distinct rows, in a scrambled order */
                set_id(ids, (emb_index)t, (size_t)i, (i * 17 + 5) % vocab);
            memcpy(want, dtable, (size_t)(vocab * dim) * sizeof(float));
            ck_assert_int_eq(ref_grad(k, want, vocab, dim, ids, (emb_index)t, n, dout), 0);
            ck_assert_int_eq(emb_grad(dtable, vocab, dim, ids, (emb_index)t, n, dout, k->in),
                             EMB_OK);
            char what[96];
            snprintf(what, sizeof what, "%s, %s ids, NaNs in dout", k->name,
                     emb_index_name((emb_index)t));
            ASSERT_SAME_BITS(dtable, want, vocab * dim, what);
            free(dtable);
            free(want);
            free(dout);
            free(ids);
        }
    }
    ck_assert_int_gt(grads, 0);
}
END_TEST

/* grad_two_nans_give_one_of_them for every grad kernel: a NaN dtable
 * element plus a NaN dout element (widened first) is a quiet NaN with one
 * of the two payloads. */
START_TEST(grad_two_nans_give_one_of_them_typed)
{
    use_impl(_i);
    gen_rng r = gen_seed(0x5004);
    int grads = 0;
    for (int kk = 0; kk < emb_kernel_count(); kk++) {
        const emb_kernel *k = emb_kernel_at(kk);
        if (k->op != EMB_OP_GRAD)
            continue;
        grads++;
        enum { DIM = 37, VOCAB = 4, N = 3 };
        const size_t in_rb = emb_row_bytes(k->in, DIM);
        float dtable[VOCAB * DIM], before[VOCAB * DIM];
        uint8_t *dout = xmalloc(N * in_rb);
        const int32_t ids[N] = {2, 0, 3};
        for (int e = 0; e < VOCAB * DIM; e++)
            dtable[e] = gen_u2f(0x7F800001u | ((uint32_t)gen_u64(&r) & 0x803FFFFFu));
        fill_elements(&r, k->in, dout, N * DIM, VALUES_NAN);
        memcpy(before, dtable, sizeof dtable);
        ck_assert_int_eq(emb_grad(dtable, VOCAB, DIM, ids, EMB_I32, N, dout, k->in), EMB_OK);
        for (int i = 0; i < N; i++)
            for (int j = 0; j < DIM; j++) {
                const uint32_t got = gen_f2u(dtable[ids[i] * DIM + j]);
                const uint32_t a = gen_f2u(before[ids[i] * DIM + j]) | 0x00400000u;
                const uint32_t b = ref_element_bits(k->in, dout + (size_t)i * in_rb, DIM, j) |
                                   0x00400000u;
                ck_assert_msg(got == a || got == b,
                              "%s: token %d elem %d: 0x%08x is neither 0x%08x nor 0x%08x",
                              k->name, i, j, got, a, b);
            }
        ASSERT_SAME_BITS(dtable + DIM, before + DIM, DIM, "row 1, named by no id");
        free(dout);
    }
    ck_assert_int_gt(grads, 0);
}
END_TEST

/* ---- every 16-bit pattern ------------------------------------------------ */

/* All 2^16 patterns of every 16-bit type, through every kernel that reads
 * that type: in rows of 64 (the vector loops) with int32 ids and rows of 1
 * (the tails) with int64 ids. Grad adds each pattern once to -0, which
 * leaves every value as it is (NaNs quieted by the add). */
START_TEST(every_16_bit_pattern)
{
    use_impl(_i);
    uint16_t *patterns = xmalloc(65536 * sizeof(uint16_t));
    for (uint32_t h = 0; h < 65536; h++)
        patterns[h] = (uint16_t)h;
    int tested = 0;
    for (int kk = 0; kk < emb_kernel_count(); kk++) {
        const emb_kernel *k = emb_kernel_at(kk);
        if (!is_base_kernel(k) || emb_row_bytes(k->in, 1) != 2)
            continue;
        tested++;
        const int64_t dims[2] = {64, 1};
        for (int s = 0; s < 2; s++) {
            const int64_t dim = dims[s], rows = 65536 / dim;
            const emb_index id_type = s == 0 ? EMB_I32 : EMB_I64;
            void *ids = xmalloc((size_t)rows * id_bytes(id_type));
            for (int64_t i = 0; i < rows; i++) /* reversed, so row i is not table row i */
                set_id(ids, id_type, (size_t)i, rows - 1 - i);
            const size_t out_bytes = (size_t)rows * emb_row_bytes(k->out, dim);
            void *got = xmalloc(out_bytes), *want = xmalloc(out_bytes);
            char what[96];
            snprintf(what, sizeof what, "%s, all 2^16 patterns, dim %lld", k->name,
                     (long long)dim);
            if (k->op == EMB_OP_LOOKUP) {
                ck_assert_int_eq(ref_lookup(k, patterns, rows, dim, ids, id_type, rows, want), 0);
                ck_assert_int_eq(emb_lookup(patterns, k->in, rows, dim, ids, id_type, rows, got,
                                            k->out), EMB_OK);
            } else {
                for (size_t e = 0; e < out_bytes / 4; e++) {
                    ((float *)got)[e] = -0.0f;
                    ((float *)want)[e] = -0.0f;
                }
                ck_assert_int_eq(ref_grad(k, want, rows, dim, ids, id_type, rows, patterns), 0);
                ck_assert_int_eq(emb_grad(got, rows, dim, ids, id_type, rows, patterns, k->in),
                                 EMB_OK);
            }
            ASSERT_SAME_BYTES(got, want, out_bytes, what);
            free(got);
            free(want);
            free(ids);
        }
    }
    ck_assert_int_gt(tested, 0);
    free(patterns);
}
END_TEST

/* The widening rules themselves, on the library and without the reference:
 * an f16 NaN keeps its sign and payload and is quieted (signalling ones
 * included), an f16 infinity stays one; every bf16 pattern, NaNs included,
 * is the high half of its fp32 unchanged. */
START_TEST(f16_nans_quieted_bf16_unchanged)
{
    use_impl(_i);
    const emb_kernel *f16 = find_kernel(EMB_OP_LOOKUP, EMB_F16, EMB_F32);
    const emb_kernel *bf16 = find_kernel(EMB_OP_LOOKUP, EMB_BF16, EMB_F32);
    uint16_t *patterns = xmalloc(65536 * sizeof(uint16_t));
    uint32_t *out = xmalloc(65536 * sizeof(uint32_t));
    int32_t *ids = xmalloc(65536 * sizeof(int32_t));
    for (uint32_t h = 0; h < 65536; h++) {
        patterns[h] = (uint16_t)h;
        ids[h] = (int32_t)h;
    }
    ck_assert_int_eq(emb_lookup(patterns, f16->in, 65536, 1, ids, EMB_I32, 65536, out, f16->out),
                     EMB_OK);
    for (uint32_t h = 0; h < 65536; h++) {
        const uint32_t sign = (h & 0x8000u) << 16, mant = h & 0x3FFu;
        if ((h & 0x7C00u) != 0x7C00u)
            continue;
        const uint32_t want = mant ? sign | 0x7FC00000u | (mant << 13) : sign | 0x7F800000u;
        ck_assert_msg(out[h] == want, "f16 0x%04x widened to 0x%08x, expected 0x%08x", h, out[h],
                      want);
    }
    ck_assert_int_eq(emb_lookup(patterns, bf16->in, 65536, 1, ids, EMB_I32, 65536, out,
                                bf16->out), EMB_OK);
    for (uint32_t h = 0; h < 65536; h++)
        ck_assert_msg(out[h] == h << 16, "bf16 0x%04x widened to 0x%08x", h, out[h]);
    free(patterns);
    free(out);
    free(ids);
}
END_TEST

/* ---- quantized formats: special scales ------------------------------------ */

/* Scales d of q8_0/q4_0 blocks: +-0, subnormals, normals, the largest
 * finite, +-Inf, quiet, signalling and negative NaNs (binary16 bits). */
static const uint16_t special_d[] = {0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x8200, 0x3C00,
                                     0xB555, 0x7BFF, 0x7C00, 0xFC00, 0x7E00, 0x7C01, 0xFE55};
enum { N_SPECIAL_D = sizeof special_d / sizeof special_d[0] };

/* q x d by the rules of IEEE 754, without multiplying floats: returns 1 for
 * 0 x Inf, whose result is the CPU's default NaN, else 0 with the bits.
 * A NaN d times anything is that NaN (x86 and Arm return the NaN operand,
 * quieted); a finite d is an integer M times 2^E with |q| M < 2^19, so
 * the product is exact. */
static int predict_q_times_d(int q, uint16_t d, uint32_t *bits)
{
    const uint32_t d_sign = (d & 0x8000u) ? 0x80000000u : 0u;
    const uint32_t sign = (q < 0) ? d_sign ^ 0x80000000u : d_sign;
    const int e = (d >> 10) & 31;
    const uint32_t m = d & 0x3FFu;
    if (e == 31 && m != 0) {
        *bits = d_sign | 0x7FC00000u | (m << 13);
        return 0;
    }
    if (e == 31) {
        if (q == 0)
            return 1;
        *bits = sign | 0x7F800000u;
        return 0;
    }
    const uint32_t M = e == 0 ? m : 1024u + m;
    const int E = e == 0 ? -24 : e - 25;
    const uint32_t magnitude = (uint32_t)(q < 0 ? -q : q) * M;
    *bits = sign | gen_f2u(ldexpf((float)magnitude, E));
    return 0;
}

/* A row of one block per special d, q8_0 or q4_0 by its block size in
 * bytes (34 or 18); row 1 is row 0 with every d's sign flipped. Returns
 * the row bytes. */
static size_t special_q_table(const emb_kernel *k, uint8_t *table, int q_of[2][N_SPECIAL_D * 32])
{
    const int64_t dim = N_SPECIAL_D * 32;
    const size_t row_bytes = emb_row_bytes(k->in, dim), block_bytes = row_bytes / N_SPECIAL_D;
    /* q8_0: 32 codes covering 0, +-1, the extremes and the powers of two. */
    static const int8_t q8[32] = {0,  1,  -1,  2,   -2,   3,   -3,   7,  -7, 15, -15,
                                  31, -31, 63, -63, 64,  -64, 100, -100, 126, -126, 127,
                                  -127, -128, 5, -5, 9, -9, 17, -17, 33, -33};
    for (int row = 0; row < 2; row++)
        for (int b = 0; b < N_SPECIAL_D; b++) {
            uint8_t *block = table + (size_t)row * row_bytes + (size_t)b * block_bytes;
            const uint16_t d = (uint16_t)(special_d[b] ^ (row ? 0x8000u : 0u));
            memcpy(block, &d, 2);
            for (int j = 0; j < 32; j++) {
                if (block_bytes == 34) {
                    block[2 + j] = (uint8_t)q8[j];
                    q_of[row][b * 32 + j] = q8[j];
                } else if (j < 16) {
                    /* every nibble: low 0..15, high 15..0 */
                    block[2 + j] = (uint8_t)(j | ((15 - j) << 4));
                    q_of[row][b * 32 + j] = j - 8;
                    q_of[row][b * 32 + j + 16] = (15 - j) - 8;
                }
            }
        }
    return row_bytes;
}

START_TEST(quantized_special_scales)
{
    use_impl(_i);
    volatile float zero = 0.0f, inf = INFINITY;
    const uint32_t default_nan = gen_f2u(zero * inf);
    const emb_kernel *kernels[2] = {find_kernel(EMB_OP_LOOKUP, EMB_Q8_0, EMB_F32),
                                    find_kernel(EMB_OP_LOOKUP, EMB_Q4_0, EMB_F32)};
    enum { DIM = N_SPECIAL_D * 32, N = 3 };
    const int64_t ids[N] = {1, 0, 1};
    for (int kk = 0; kk < 2; kk++) {
        const emb_kernel *k = kernels[kk];
        uint8_t table[2 * N_SPECIAL_D * 34];
        int q_of[2][DIM];
        special_q_table(k, table, q_of);
        uint32_t got[N * DIM], ref[N * DIM], scalar[N * DIM];
        ck_assert_int_eq(emb_lookup(table, k->in, 2, DIM, ids, EMB_I64, N, got, k->out), EMB_OK);
        ck_assert_int_eq(ref_lookup(k, table, 2, DIM, ids, EMB_I64, N, ref), 0);
        ck_assert_int_eq(emb_use_impl("scalar"), EMB_OK);
        ck_assert_int_eq(emb_lookup(table, k->in, 2, DIM, ids, EMB_I64, N, scalar, k->out),
                         EMB_OK);
        use_impl(_i);
        for (int i = 0; i < N; i++)
            for (int j = 0; j < DIM; j++) {
                const int row = (int)ids[i], q = q_of[row][j];
                const uint16_t d = (uint16_t)(special_d[j / 32] ^ (row ? 0x8000u : 0u));
                const uint32_t g = got[i * DIM + j];
                uint32_t want;
                if (predict_q_times_d(q, d, &want)) {
                    /* 0 x Inf: the CPU's default NaN, the same from every
                     * implementation here. */
                    ck_assert_msg((g & 0x7F800000u) == 0x7F800000u && (g & 0x7FFFFFu),
                                  "%s: 0 x d=0x%04x gave 0x%08x, not a NaN", k->name, d, g);
                    ck_assert_msg(g == default_nan && g == scalar[i * DIM + j],
                                  "%s: 0 x d=0x%04x gave 0x%08x; this CPU's default NaN is "
                                  "0x%08x, scalar gave 0x%08x", k->name, d, g, default_nan,
                                  scalar[i * DIM + j]);
                    want = default_nan;
                }
                ck_assert_msg(g == want, "%s: q=%d x d=0x%04x gave 0x%08x, expected 0x%08x",
                              k->name, q, d, g, want);
                ck_assert_msg(ref[i * DIM + j] == want,
                              "reference %s: q=%d x d=0x%04x gave 0x%08x, expected 0x%08x",
                              k->name, q, d, ref[i * DIM + j], want);
            }
        ASSERT_SAME_BYTES(got, scalar, sizeof got, k->name);
    }
}
END_TEST

/* The k-quants' special scales. |n| x d for a binary16 d and an integer
 * magnitude mag whose factors' signs XOR to neg, by IEEE 754's rules and
 * without multiplying floats: 1 for 0 x Inf (the default NaN), else 0 with
 * the bits and, when finite, the value in units of 2^-24 (every finite
 * fp16 is an integer M times 2^E, E >= -24, and M x mag < 2^24: exact). A
 * product's sign is its factors' XOR whatever their order, so this is
 * (d x s) x q and d x (s x q) alike. */
static int predict_int_times_d(uint32_t mag, int neg, uint16_t d, uint32_t *bits, int64_t *units)
{
    const uint32_t d_sign = (d & 0x8000u) ? 0x80000000u : 0u;
    const uint32_t sign = neg ? d_sign ^ 0x80000000u : d_sign;
    const int e = (d >> 10) & 31;
    const uint32_t m = d & 0x3FFu;
    if (e == 31 && m != 0) {
        *bits = d_sign | 0x7FC00000u | (m << 13);
        return 0;
    }
    if (e == 31) {
        if (mag == 0)
            return 1;
        *bits = sign | 0x7F800000u;
        return 0;
    }
    const int64_t M = e == 0 ? m : 1024 + m;
    const int E = e == 0 ? -24 : e - 25;
    *units = (int64_t)(M * mag) << (E + 24);
    if (sign)
        *units = -*units;
    *bits = sign | gen_f2u(ldexpf((float)(M * mag), E));
    return 0;
}

static int is_nan_bits(uint32_t u) { return (u & 0x7F800000u) == 0x7F800000u && (u & 0x7FFFFFu); }

/* q4_K's x = P - C from the two predicted products: a NaN operand (the
 * first where both are: d's), Inf - Inf of one sign the default NaN, and
 * between finite ones the difference of their units of 2^-24, exact as an
 * integer and rounded once by the conversion to float (correctly rounded,
 * to nearest even); an exact zero is -0 only for -0 - (+0). */
static uint32_t predict_difference(uint32_t p, int64_t pu, uint32_t c, int64_t cu, uint32_t dn)
{
    const int p_inf = (p & 0x7FFFFFFFu) == 0x7F800000u, c_inf = (c & 0x7FFFFFFFu) == 0x7F800000u;
    if (is_nan_bits(p))
        return p;
    if (is_nan_bits(c))
        return c;
    if (p_inf && c_inf)
        return p == c ? dn : p;
    if (p_inf)
        return p;
    if (c_inf)
        return c ^ 0x80000000u;
    const int64_t diff = pu - cu;
    if (diff == 0)
        return p == 0x80000000u && c == 0 ? 0x80000000u : 0u;
    return gen_f2u(ldexpf((float)diff, -24));
}

/* q4_K: rows of one super-block per special d; row r's dmin is the
 * special value r places further on, so the 14 rows hold every (d, dmin)
 * pair (NaN and NaN, Inf and Inf of either sign, 0 and Inf among them).
 * Sub-blocks' 6-bit sc and m include 0 and 63, and 0 with 0; every sub-
 * block holds every q. */
static const int k4_sc[8] = {0, 0, 1, 63, 17, 32, 5, 40}, k4_m[8] = {0, 63, 0, 1, 33, 62, 7, 16};
/* q6_K: int8 scales with 0, +-1, the extremes and powers of two; the
 * element e of a super-block has the 6-bit code e % 64 (q = code - 32). */
static const int8_t k6_s[16] = {0, 1, -1, 127, -128, 2, -2, 64, -64, 5, -5, 100, -100, 31, -31, 17};

static void special_k_table(emb_type t, uint8_t *table, int rows)
{
    const size_t bb = t == EMB_Q4_K ? 144 : 210;
    for (int row = 0; row < rows; row++)
        for (int b = 0; b < N_SPECIAL_D; b++) {
            uint8_t *blk = table + ((size_t)row * N_SPECIAL_D + (size_t)b) * bb;
            memset(blk, 0, bb);
            if (t == EMB_Q4_K) {
                const uint16_t d = special_d[b], dmin = special_d[(b + row) % N_SPECIAL_D];
                memcpy(blk, &d, 2);
                memcpy(blk + 2, &dmin, 2);
                /* The 6-bit values packed as GGML lays them out. */
                for (int k = 0; k < 4; k++) {
                    blk[4 + k] = (uint8_t)(k4_sc[k] | (k4_sc[k + 4] >> 4) << 6);
                    blk[8 + k] = (uint8_t)(k4_m[k] | (k4_m[k + 4] >> 4) << 6);
                    blk[12 + k] = (uint8_t)((k4_sc[k + 4] & 15) | (k4_m[k + 4] & 15) << 4);
                }
                for (int j = 0; j < 128; j++)
                    blk[16 + j] = (uint8_t)((j % 16) | (15 - j % 16) << 4);
            } else {
                const uint16_t d = (uint16_t)(special_d[b] ^ (row ? 0x8000u : 0u));
                for (int e = 0; e < 256; e++) {
                    const int code = e % 64, n = e / 128, r = e % 128 / 32, l = e % 32;
                    blk[64 * n + 32 * (r & 1) + l] |= (uint8_t)((code & 15) << (4 * (r >> 1)));
                    blk[128 + 32 * n + l] |= (uint8_t)((code >> 4) << (2 * r));
                }
                memcpy(blk + 192, k6_s, 16);
                memcpy(blk + 208, &d, 2);
            }
        }
}

/* Element e (of the row's super-block b) of row `row`, predicted. */
static uint32_t predict_k_elem(emb_type t, int row, int e, uint32_t dn)
{
    const int b = e / 256, i = e % 256;
    uint32_t bits, p, c;
    int64_t pu = 0, cu = 0;
    if (t == EMB_Q4_K) {
        const int k = i / 32, l = i % 32;
        /* the low nibble of byte l % 16 for even k, the high one for odd */
        const int q = k % 2 ? 15 - l % 16 : l % 16;
        if (predict_int_times_d((uint32_t)(k4_sc[k] * q), 0, special_d[b], &p, &pu))
            p = dn;
        if (predict_int_times_d((uint32_t)k4_m[k], 0, special_d[(b + row) % N_SPECIAL_D], &c, &cu))
            c = dn;
        return predict_difference(p, pu, c, cu, dn);
    }
    const int n = i / 128, r = i % 128 / 32, l = i % 32;
    const int q = i % 64 - 32, s = k6_s[8 * n + 2 * r + l / 16];
    const uint16_t d = (uint16_t)(special_d[b] ^ (row ? 0x8000u : 0u));
    const int neg = (s < 0) != (q < 0);
    if (predict_int_times_d((uint32_t)abs(s * q), neg, d, &bits, &pu))
        return dn;
    return bits;
}

START_TEST(k_quant_special_scales)
{
    use_impl(_i);
    volatile float zero = 0.0f, inf = INFINITY;
    const uint32_t default_nan = gen_f2u(zero * inf);
    static const emb_type types[2] = {EMB_Q4_K, EMB_Q6_K};
    enum { DIM = N_SPECIAL_D * 256, ROWS = N_SPECIAL_D };
    for (int tt = 0; tt < 2; tt++) {
        const emb_type t = types[tt];
        const emb_kernel *k = find_kernel(EMB_OP_LOOKUP, t, EMB_F32);
        const int rows = t == EMB_Q4_K ? ROWS : 2;
        const size_t row_bytes = emb_row_bytes(t, DIM);
        uint8_t *table = xmalloc((size_t)rows * row_bytes);
        special_k_table(t, table, rows);
        int64_t ids[ROWS + 1];
        for (int i = 0; i < rows; i++)
            ids[i] = rows - 1 - i;
        ids[rows] = 1;
        const int n = rows + 1;
        uint32_t *got = xmalloc((size_t)n * DIM * 4), *ref = xmalloc((size_t)n * DIM * 4);
        uint32_t *scalar = xmalloc((size_t)n * DIM * 4);
        ck_assert_int_eq(emb_lookup(table, t, rows, DIM, ids, EMB_I64, n, got, EMB_F32), EMB_OK);
        ck_assert_int_eq(ref_lookup(k, table, rows, DIM, ids, EMB_I64, n, ref), 0);
        ck_assert_int_eq(emb_use_impl("scalar"), EMB_OK);
        ck_assert_int_eq(emb_lookup(table, t, rows, DIM, ids, EMB_I64, n, scalar, EMB_F32), EMB_OK);
        use_impl(_i);
        int nans = 0, two_nans = 0, inf_minus_inf = 0;
        for (int i = 0; i < n; i++)
            for (int e = 0; e < DIM; e++) {
                const int row = (int)ids[i];
                const uint32_t want = predict_k_elem(t, row, e, default_nan);
                const uint32_t g = got[(size_t)i * DIM + (size_t)e];
                ck_assert_msg(g == want, "%s: row %d element %d gave 0x%08x, expected 0x%08x",
                              k->name, row, e, g, want);
                ck_assert_msg(ref[(size_t)i * DIM + (size_t)e] == want,
                              "reference %s: row %d element %d gave 0x%08x, expected 0x%08x",
                              k->name, row, e, ref[(size_t)i * DIM + (size_t)e], want);
                nans += is_nan_bits(want);
                if (t == EMB_Q4_K) {
                    const uint16_t d = special_d[e / 256], dm = special_d[(e / 256 + row) % N_SPECIAL_D];
                    two_nans += (d & 0x7C00u) == 0x7C00u && (d & 0x3FFu) && (dm & 0x7C00u) == 0x7C00u &&
                                (dm & 0x3FFu);
                    inf_minus_inf += want == default_nan && (d & 0x7FFFu) == 0x7C00u &&
                                     (dm & 0x7FFFu) == 0x7C00u;
                }
            }
        ASSERT_SAME_BYTES(got, scalar, (size_t)n * DIM * 4, k->name);
        /* The table holds the cases it is for. */
        ck_assert_int_gt(nans, 0);
        if (t == EMB_Q4_K) {
            ck_assert_int_gt(two_nans, 0);
            ck_assert_int_gt(inf_minus_inf, 0);
        }
        free(table);
        free(got);
        free(ref);
        free(scalar);
    }
}
END_TEST

/* q8_rowwise is x = fmaf(scale, q, bias): one rounding, and with bias -0 a
 * product of -0 stays -0. FBGEMM's reference computes fma(scale, q, 0 +
 * bias); 0 + -0 is +0 there, so where scale x q is -0 (a negative or -0
 * scale times q = 0, or scale -0) it gives +0 and this library -0; where
 * the product is +0 both give +0 (+0 + -0 = +0). */
START_TEST(q8_rowwise_negative_zero_bias_and_one_rounding)
{
    use_impl(_i);
    const emb_kernel *k = find_kernel(EMB_OP_LOOKUP, EMB_Q8_ROWWISE, EMB_F32);
    enum { DIM = 40, ROWS = 9 };
    /* Scales with few significant bits, so scale x q is exact. */
    static const float scales[ROWS - 1] = {-2.5f, -0.0f, 0.0f, 1.0f, 0.5f, -0x1p-20f, 3.0f, -1.0f};
    const size_t row_bytes = emb_row_bytes(k->in, DIM);
    uint8_t table[ROWS * (DIM + 8)];
    ck_assert_uint_eq(row_bytes, DIM + 8);
    for (int row = 0; row < ROWS; row++) {
        uint8_t *p = table + (size_t)row * row_bytes;
        float scale, bias;
        if (row < ROWS - 1) {
            scale = scales[row];
            bias = -0.0f;
            for (int j = 0; j < DIM; j++)
                p[j] = (uint8_t)(j == 0 ? 0 : j == 1 ? 255 : (j * 37) % 256);
        } else {
            /* 255 x (1 + 2^-23) - 255 is 255 x 2^-23 fused; a rounded
             * product (255 + 2^-15) minus 255 would give 2^-15. */
            scale = 1.0f + 0x1p-23f;
            bias = -255.0f;
            for (int j = 0; j < DIM; j++)
                p[j] = (uint8_t)(j == 0 ? 0 : 255);
        }
        memcpy(p + DIM, &scale, 4);
        memcpy(p + DIM + 4, &bias, 4);
    }
    int32_t ids[ROWS];
    for (int i = 0; i < ROWS; i++)
        ids[i] = i;
    uint32_t got[ROWS * DIM], ref[ROWS * DIM];
    ck_assert_int_eq(emb_lookup(table, k->in, ROWS, DIM, ids, EMB_I32, ROWS, got, k->out),
                     EMB_OK);
    ck_assert_int_eq(ref_lookup(k, table, ROWS, DIM, ids, EMB_I32, ROWS, ref), 0);
    for (int row = 0; row < ROWS; row++)
        for (int j = 0; j < DIM; j++) {
            const int q = table[(size_t)row * row_bytes + j];
            uint32_t want;
            if (row == ROWS - 1) {
                want = gen_f2u(q == 0 ? -255.0f : ldexpf(255.0f, -23));
            } else {
                const float scale = scales[row];
                const uint32_t scale_sign = gen_f2u(scale) & 0x80000000u;
                /* A zero product has the scale's sign (q >= 0); -0 + -0 is
                 * -0 and +0 + -0 is +0, so the zero keeps that sign. */
                want = (q == 0 || scale == 0.0f) ? scale_sign : gen_f2u((float)q * scale);
            }
            ck_assert_msg(got[row * DIM + j] == want,
                          "row %d, q=%d: 0x%08x, expected 0x%08x", row, q, got[row * DIM + j], want);
            ck_assert_msg(ref[row * DIM + j] == want, "reference row %d, q=%d: 0x%08x, expected "
                          "0x%08x", row, q, ref[row * DIM + j], want);
        }
}
END_TEST

/* The inputs ref_make_determinate rewrites, checked for what IEEE 754 does
 * fix: fmaf with a NaN scale and a NaN bias is a quiet NaN with one of the
 * two payloads; fmaf(+-Inf, 0, NaN bias) is the bias quieted or the default
 * NaN (whether 0 x Inf signals there is the implementation's choice); with
 * q != 0 it is the bias quieted. */
START_TEST(q8_rowwise_two_nans_give_one_of_them)
{
    use_impl(_i);
    const emb_kernel *k = find_kernel(EMB_OP_LOOKUP, EMB_Q8_ROWWISE, EMB_F32);
    volatile float zero = 0.0f, inf = INFINITY;
    const uint32_t default_nan = gen_f2u(zero * inf);
    enum { DIM = 35, ROWS = 16 };
    uint8_t table[ROWS * (DIM + 8)];
    uint32_t scales[ROWS], biases[ROWS];
    gen_rng r = gen_seed(0x5007);
    for (int row = 0; row < ROWS; row++) {
        uint8_t *p = table + row * (DIM + 8);
        for (int j = 0; j < DIM; j++)
            p[j] = (uint8_t)(j < 3 ? 0 : gen_u64(&r));
        /* Even rows: NaN scale (quiet or signalling); odd rows: +-Inf. */
        const uint32_t sign = (uint32_t)(gen_u64(&r) & 1) << 31;
        scales[row] = row % 2 == 0 ? 0x7F800001u | ((uint32_t)gen_u64(&r) & 0x807FFFFEu)
                                   : sign | 0x7F800000u;
        biases[row] = 0x7F800001u | ((uint32_t)gen_u64(&r) & 0x807FFFFEu);
        memcpy(p + DIM, &scales[row], 4);
        memcpy(p + DIM + 4, &biases[row], 4);
    }
    int32_t ids[ROWS];
    for (int i = 0; i < ROWS; i++)
        ids[i] = ROWS - 1 - i;
    uint32_t got[ROWS * DIM];
    ck_assert_int_eq(emb_lookup(table, k->in, ROWS, DIM, ids, EMB_I32, ROWS, got, k->out), EMB_OK);
    for (int i = 0; i < ROWS; i++)
        for (int j = 0; j < DIM; j++) {
            const int row = ids[i], q = table[row * (DIM + 8) + j];
            const uint32_t g = got[i * DIM + j], b = biases[row] | 0x00400000u;
            int ok;
            if (row % 2 == 0)
                ok = g == (scales[row] | 0x00400000u) || g == b;
            else
                ok = g == b || (q == 0 && g == default_nan);
            ck_assert_msg(ok, "row %d (scale 0x%08x, bias 0x%08x), q=%d: 0x%08x", row,
                          scales[row], biases[row], q, g);
        }
}
END_TEST

/* ---- int64 ids --------------------------------------------------------------- */

/* Ids beyond int32 are rejected with their exact value and position, for
 * every kernel, before anything is written; 2^32 + 5 would be the valid
 * id 5 if it were truncated to 32 bits. */
START_TEST(int64_ids_outside_the_vocabulary)
{
    use_impl(_i);
    static const struct {
        int pos;
        int64_t id;
        const char *message;
    } cases[] = {
        {3, INT64_C(4294967296), "ids[3] = 4294967296 is outside [0, 1000)"},
        {0, INT64_C(4294967301), "ids[0] = 4294967301 is outside [0, 1000)"},
        {5, -INT64_C(4294967297), "ids[5] = -4294967297 is outside [0, 1000)"},
        {6, -INT64_C(4294967296) + 7, "ids[6] = -4294967289 is outside [0, 1000)"},
        {1, INT64_C(2147483648), "ids[1] = 2147483648 is outside [0, 1000)"},
        {2, -INT64_C(2147483649), "ids[2] = -2147483649 is outside [0, 1000)"},
        {9, INT64_MAX, "ids[9] = 9223372036854775807 is outside [0, 1000)"},
        {19, INT64_MIN, "ids[19] = -9223372036854775808 is outside [0, 1000)"},
        {7, 1000, "ids[7] = 1000 is outside [0, 1000)"},
        {4, -1, "ids[4] = -1 is outside [0, 1000)"},
    };
    enum { VOCAB = 1000, N = 20 };
    gen_rng r = gen_seed(0x5005);
    for (int kk = 0; kk < emb_kernel_count(); kk++) {
        const emb_kernel *k = emb_kernel_at(kk);
        if (!is_base_kernel(k))
            continue; /* the fused ops' ids: test_layer */
        const int64_t DIM = dim_for_types(k->in, k->out, 32);
        const size_t in_rb = emb_row_bytes(k->in, DIM), out_rb = emb_row_bytes(k->out, DIM);
        const size_t matrix_bytes = VOCAB * (k->op == EMB_OP_LOOKUP ? in_rb : out_rb);
        const size_t rows_bytes = N * (k->op == EMB_OP_LOOKUP ? out_rb : in_rb);
        uint8_t *matrix = xmalloc(matrix_bytes), *rows = xmalloc(rows_bytes);
        uint8_t *matrix_before = xmalloc(matrix_bytes), *rows_before = xmalloc(rows_bytes);
        fill_bytes(&r, matrix, matrix_bytes);
        fill_bytes(&r, rows, rows_bytes);
        memcpy(matrix_before, matrix, matrix_bytes);
        memcpy(rows_before, rows, rows_bytes);
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            int64_t ids[N];
            for (int i = 0; i < N; i++)
                ids[i] = (int64_t)gen_below(&r, VOCAB);
            ids[cases[c].pos] = cases[c].id;
            const emb_status s =
                k->op == EMB_OP_LOOKUP
                    ? emb_lookup(matrix, k->in, VOCAB, DIM, ids, EMB_I64, N, rows, k->out)
                    : emb_grad((float *)matrix, VOCAB, DIM, ids, EMB_I64, N, rows, k->in);
            ck_assert_msg(s == EMB_ERANGE, "%s: %s gave %s", k->name, cases[c].message,
                          emb_strerror(s));
            char want[160];
            snprintf(want, sizeof want, "%s: %s",
                     k->op == EMB_OP_LOOKUP ? "emb_lookup" : "emb_grad", cases[c].message);
            ck_assert_str_eq(emb_last_error(), want);
            ASSERT_SAME_BYTES(matrix, matrix_before, matrix_bytes, cases[c].message);
            ASSERT_SAME_BYTES(rows, rows_before, rows_bytes, cases[c].message);
        }
        /* Two bad ids: the first is named. */
        int64_t ids[N] = {0};
        ids[11] = INT64_C(1) << 40;
        ids[15] = -5;
        const emb_status s =
            k->op == EMB_OP_LOOKUP
                ? emb_lookup(matrix, k->in, VOCAB, DIM, ids, EMB_I64, N, rows, k->out)
                : emb_grad((float *)matrix, VOCAB, DIM, ids, EMB_I64, N, rows, k->in);
        ck_assert_int_eq(s, EMB_ERANGE);
        ck_assert_str_eq(emb_last_error(),
                         k->op == EMB_OP_LOOKUP
                             ? "emb_lookup: ids[11] = 1099511627776 is outside [0, 1000)"
                             : "emb_grad: ids[11] = 1099511627776 is outside [0, 1000)");
        ASSERT_SAME_BYTES(matrix, matrix_before, matrix_bytes, k->name);
        ASSERT_SAME_BYTES(rows, rows_before, rows_bytes, k->name);
        free(matrix);
        free(rows);
        free(matrix_before);
        free(rows_before);
    }
}
END_TEST

/* ---- validation of the typed calls -------------------------------------------- */

/* One typed call that must fail. The types and the id type are ints so that
 * values outside the enums can be passed. */
typedef struct typed_call {
    emb_op op;
    int in, out, id_type;
    int64_t vocab, dim, n;
} typed_call;

/* The call must return `want`, its message must contain the needles in
 * order, and not one byte of either buffer may change. */
static void expect_typed_failure(const typed_call *c, emb_status want, const char *label,
                                 const char *needle1, const char *needle2)
{
    enum { BYTES = 1 << 16 };
    gbytes matrix = gbytes_new(BYTES, 0), rows = gbytes_new(BYTES, 4);
    gen_rng r = gen_seed(0x5006);
    fill_bytes(&r, matrix.p, BYTES);
    fill_bytes(&r, rows.p, BYTES);
    uint8_t *matrix_before = xmalloc(BYTES), *rows_before = xmalloc(BYTES);
    memcpy(matrix_before, matrix.p, BYTES);
    memcpy(rows_before, rows.p, BYTES);
    /* Valid ids of either width, so only what the case changes is wrong. */
    int64_t ids64[8] = {0, 1, 2, 3, 0, 1, 2, 3};
    int32_t ids32[8] = {0, 1, 2, 3, 0, 1, 2, 3};
    const void *ids = c->id_type == EMB_I32 ? (const void *)ids32 : (const void *)ids64;
    const int64_t n = c->n;
    const emb_status s =
        c->op == EMB_OP_LOOKUP
            ? emb_lookup(matrix.p, (emb_type)c->in, c->vocab, c->dim, ids,
                         (emb_index)c->id_type, n, rows.p, (emb_type)c->out)
            : emb_grad((float *)matrix.p, c->vocab, c->dim, ids, (emb_index)c->id_type, n,
                       rows.p, (emb_type)c->in);
    ck_assert_msg(s == want, "%s: status %d (%s), expected %d; message: %s", label, (int)s,
                  emb_strerror(s), (int)want, emb_last_error());
    const char *msg = emb_last_error();
    const char *at = needle1 ? strstr(msg, needle1) : msg;
    ck_assert_msg(at != NULL, "%s: message \"%s\" lacks \"%s\"", label, msg, needle1);
    if (needle2)
        ck_assert_msg(strstr(at + (needle1 ? strlen(needle1) : 0), needle2) != NULL,
                      "%s: message \"%s\" lacks \"%s\" after \"%s\"", label, msg, needle2,
                      needle1 ? needle1 : "");
    ASSERT_SAME_BYTES(matrix.p, matrix_before, BYTES, label);
    ASSERT_SAME_BYTES(rows.p, rows_before, BYTES, label);
    gbytes_check(&matrix, label);
    gbytes_check(&rows, label);
    gbytes_free(&matrix);
    gbytes_free(&rows);
    free(matrix_before);
    free(rows_before);
}

static typed_call call_of(const emb_kernel *k, int64_t vocab, int64_t dim, int64_t n)
{
    typed_call c = {k->op, (int)k->in, (int)k->out, EMB_I32, vocab, dim, n};
    return c;
}

static int has_kernel(emb_op op, int in, int out)
{
    for (int k = 0; k < emb_kernel_count(); k++)
        if (emb_kernel_at(k)->op == op && (int)emb_kernel_at(k)->in == in &&
            (int)emb_kernel_at(k)->out == out)
            return 1;
    return 0;
}

START_TEST(typed_arguments_are_validated)
{
    use_impl(_i);
    static const int bad_values[] = {EMB_TYPE_COUNT, -1, 99};
    char label[160], needle[96];
    for (int kk = 0; kk < emb_kernel_count(); kk++) {
        const emb_kernel *k = emb_kernel_at(kk);
        if (!is_base_kernel(k))
            continue; /* the fused ops' arguments: test_layer */
        const int lookup = k->op == EMB_OP_LOOKUP;
        /* A dim both types have rows of: 32, or a q4_K/q6_K block. */
        const int64_t D = dim_for_types(k->in, k->out, 32);
        /* n = 0 touches nothing and allows NULL pointers. */
        ck_assert_int_eq(lookup ? emb_lookup(NULL, k->in, 10, D, NULL, EMB_I64, 0, NULL, k->out)
                                : emb_grad(NULL, 10, D, NULL, EMB_I64, 0, NULL, k->in),
                         EMB_OK);

        /* Values outside the enums. */
        for (size_t b = 0; b < sizeof bad_values / sizeof bad_values[0]; b++) {
            typed_call c = call_of(k, 10, D, 4);
            c.in = bad_values[b];
            snprintf(label, sizeof label, "%s with in type %d", k->name, bad_values[b]);
            snprintf(needle, sizeof needle, "%s = %d is not an emb_type",
                     lookup ? "table_type" : "dout_type", bad_values[b]);
            expect_typed_failure(&c, EMB_EINVAL, label, needle, NULL);
            if (lookup) {
                c = call_of(k, 10, D, 4);
                c.out = bad_values[b];
                snprintf(label, sizeof label, "%s with out_type %d", k->name, bad_values[b]);
                snprintf(needle, sizeof needle, "out_type = %d is not an emb_type", bad_values[b]);
                expect_typed_failure(&c, EMB_EINVAL, label, needle, NULL);
            }
            c = call_of(k, 10, D, 4);
            c.id_type = bad_values[b] == EMB_TYPE_COUNT ? 2 : bad_values[b];
            snprintf(label, sizeof label, "%s with id_type %d", k->name, c.id_type);
            snprintf(needle, sizeof needle, "id_type = %d is not an emb_index", c.id_type);
            expect_typed_failure(&c, EMB_EINVAL, label, needle, NULL);
        }

        /* Dims a type rejects (q8_0 and q4_0: not a multiple of 32; q4_K
         * and q6_K: of 256) name the dim and the type. */
        for (int64_t dim = 1; dim <= 70 + 2 * D; dim++) {
            if (dim > 70 && dim % 32 != 0)
                continue; /* past 70, multiples of 32 up to the second 256-block */
            const int in_ok = emb_row_bytes(k->in, dim) != 0, out_ok = emb_row_bytes(k->out, dim) != 0;
            if (in_ok && out_ok)
                continue;
            typed_call c = call_of(k, 10, dim, 4);
            snprintf(label, sizeof label, "%s, dim %lld", k->name, (long long)dim);
            snprintf(needle, sizeof needle, "dim = %lld", (long long)dim);
            expect_typed_failure(&c, EMB_EINVAL, label, needle,
                                 emb_type_name(in_ok ? k->out : k->in));
        }

        /* Sizes whose byte count overflows: the table (vocab x row bytes),
         * the rows (n x row bytes), and a single row. */
        const size_t in_rb = emb_row_bytes(k->in, D), out_rb = emb_row_bytes(k->out, D);
        const size_t matrix_rb = lookup ? in_rb : out_rb, rows_rb = lookup ? out_rb : in_rb;
        typed_call c = call_of(k, INT64_MAX / (int64_t)matrix_rb + 1, D, 4);
        snprintf(label, sizeof label, "%s, vocab %lld", k->name, (long long)c.vocab);
        expect_typed_failure(&c, EMB_EINVAL, label, "overflows size_t", NULL);
        c = call_of(k, 10, D, INT64_MAX / (int64_t)rows_rb + 1);
        snprintf(label, sizeof label, "%s, n %lld", k->name, (long long)c.n);
        expect_typed_failure(&c, EMB_EINVAL, label, "overflows size_t", NULL);
        /* A multiple of every block whose fp32 row alone overflows (a
         * q4_K row of it does not: 144 bytes per 256 elements). */
        c = call_of(k, 10, INT64_MAX / 256 * 256, 4);
        snprintf(label, sizeof label, "%s, dim %lld", k->name, (long long)c.dim);
        expect_typed_failure(&c, EMB_EINVAL, label, "overflows size_t", NULL);

        /* NULL pointers with n > 0, each named. */
        enum { V = 10, N = 4 };
        uint8_t *matrix = xmalloc(V * matrix_rb), *rows = xmalloc(N * rows_rb);
        const int32_t ids[N] = {1, 2, 3, 4};
        const char *op = lookup ? "emb_lookup" : "emb_grad";
        const char *names[3] = {lookup ? "table" : "dtable", "ids", lookup ? "out" : "dout"};
        for (int which = 0; which < 3; which++) {
            void *m = which == 0 ? NULL : matrix, *w = which == 2 ? NULL : rows;
            const void *id = which == 1 ? NULL : ids;
            const emb_status s = lookup ? emb_lookup(m, k->in, V, D, id, EMB_I32, N, w, k->out)
                                        : emb_grad(m, V, D, id, EMB_I32, N, w, k->in);
            ck_assert_int_eq(s, EMB_EINVAL);
            snprintf(needle, sizeof needle, "%s: %s is NULL with n = 4", op, names[which]);
            ck_assert_str_eq(emb_last_error(), needle);
        }
        free(matrix);
        free(rows);
    }

    /* Pairs the library has no kernel for name both types (lookup), or the
     * dout type (grad: quantized tables have no gradient). */
    for (int in = 0; in < EMB_TYPE_COUNT; in++) {
        for (int out = 0; out < EMB_TYPE_COUNT; out++) {
            if (has_kernel(EMB_OP_LOOKUP, in, out))
                continue;
            /* 256: a dim of every type, so only the pair is wrong. */
            const typed_call c = {EMB_OP_LOOKUP, in, out, EMB_I64, 10, 256, 4};
            snprintf(label, sizeof label, "lookup from %s to %s", emb_type_name((emb_type)in),
                     emb_type_name((emb_type)out));
            expect_typed_failure(&c, EMB_EINVAL, label, emb_type_name((emb_type)in),
                                 emb_type_name((emb_type)out));
        }
        if (!has_kernel(EMB_OP_GRAD, in, EMB_F32)) {
            const typed_call c = {EMB_OP_GRAD, in, EMB_F32, EMB_I32, 10, 256, 4};
            snprintf(label, sizeof label, "grad from a %s dout", emb_type_name((emb_type)in));
            expect_typed_failure(&c, EMB_EINVAL, label, emb_type_name((emb_type)in), NULL);
        }
    }
    /* Two pairs by name: a quantized table into f16, and f32 into bf16. */
    const typed_call q8_to_f16 = {EMB_OP_LOOKUP, EMB_Q8_0, EMB_F16, EMB_I32, 10, 32, 4};
    expect_typed_failure(&q8_to_f16, EMB_EINVAL, "q8_0 -> f16", "q8_0", "f16");
    const typed_call f32_to_bf16 = {EMB_OP_LOOKUP, EMB_F32, EMB_BF16, EMB_I32, 10, 32, 4};
    expect_typed_failure(&f32_to_bf16, EMB_EINVAL, "f32 -> bf16", "f32", "bf16");
    const typed_call q4_dout = {EMB_OP_GRAD, EMB_Q4_0, EMB_F32, EMB_I32, 10, 32, 4};
    expect_typed_failure(&q4_dout, EMB_EINVAL, "grad from q4_0", "q4_0", NULL);
    /* Dim 48 for q8_0: the message names the dim and the type. */
    const typed_call q8_dim48 = {EMB_OP_LOOKUP, EMB_Q8_0, EMB_F32, EMB_I32, 10, 48, 4};
    expect_typed_failure(&q8_dim48, EMB_EINVAL, "q8_0, dim 48", "dim = 48", "q8_0");
}
END_TEST

/* ---- types and the reference ------------------------------------------------ */

START_TEST(type_names_and_row_sizes)
{
    for (int t = 0; t < EMB_TYPE_COUNT; t++) {
        ck_assert_ptr_nonnull(emb_type_name((emb_type)t));
        for (int u = t + 1; u < EMB_TYPE_COUNT; u++)
            ck_assert_str_ne(emb_type_name((emb_type)t), emb_type_name((emb_type)u));
    }
    ck_assert_ptr_null(emb_type_name((emb_type)EMB_TYPE_COUNT));
    ck_assert_ptr_null(emb_type_name((emb_type)-1));
    ck_assert_int_eq(id_type_count(), 2);
    ck_assert_str_ne(emb_index_name(EMB_I32), emb_index_name(EMB_I64));
    ck_assert_ptr_null(emb_index_name((emb_index)-1));
    /* The library's row sizes are the layouts' (the reference computes them
     * from the format definitions), valid dims and rejected ones alike. */
    for (int t = -1; t <= EMB_TYPE_COUNT; t++) {
        for (int64_t dim = -2; dim <= 4200; dim++)
            ck_assert_msg(emb_row_bytes((emb_type)t, dim) == ref_row_bytes((emb_type)t, dim),
                          "type %d, dim %lld: %zu bytes, the layout says %zu", t, (long long)dim,
                          emb_row_bytes((emb_type)t, dim), ref_row_bytes((emb_type)t, dim));
        static const int64_t huge[] = {INT64_MAX, INT64_MAX / 2, INT64_MAX / 64 * 32,
                                       (int64_t)1 << 61, (int64_t)1 << 62, INT64_MIN};
        for (size_t h = 0; h < sizeof huge / sizeof huge[0]; h++)
            ck_assert_msg(emb_row_bytes((emb_type)t, huge[h]) == ref_row_bytes((emb_type)t, huge[h]),
                          "type %d, dim %lld: %zu bytes, the layout says %zu", t,
                          (long long)huge[h], emb_row_bytes((emb_type)t, huge[h]),
                          ref_row_bytes((emb_type)t, huge[h]));
    }
}
END_TEST

/* The reference's widening against values from IEEE 754's binary16 and the
 * bfloat16 definition, worked out by hand. */
START_TEST(reference_widening_by_hand)
{
    static const struct {
        uint16_t h;
        uint32_t f;
    } f16[] = {
        {0x0000, 0x00000000}, {0x8000, 0x80000000}, /* +-0 */
        {0x0001, 0x33800000}, {0x8001, 0xB3800000}, /* +-2^-24, the smallest subnormal */
        {0x03FF, 0x387FC000},                       /* the largest subnormal */
        {0x0400, 0x38800000},                       /* 2^-14, the smallest normal */
        {0x3C00, 0x3F800000}, {0x3555, 0x3EAAA000}, /* 1, 0.333251953125 */
        {0x7BFF, 0x477FE000},                       /* 65504, the largest finite */
        {0x7C00, 0x7F800000}, {0xFC00, 0xFF800000}, /* +-Inf */
        {0x7E00, 0x7FC00000},                       /* the quiet NaN */
        {0x7C01, 0x7FC02000}, {0x7DFF, 0x7FFFE000}, /* signalling: quieted, payload kept */
        {0xFE55, 0xFFCAA000},                       /* a negative quiet NaN */
    };
    for (size_t k = 0; k < sizeof f16 / sizeof f16[0]; k++)
        ck_assert_msg(ref_f16_to_f32_bits(f16[k].h) == f16[k].f, "f16 0x%04x: 0x%08x, expected 0x%08x",
                      f16[k].h, ref_f16_to_f32_bits(f16[k].h), f16[k].f);
    static const uint16_t bf16[] = {0x0000, 0x8000, 0x3F80, 0x0001, 0x7F80, 0xFF80, 0x7F81, 0x7FC0, 0xFFFF};
    for (size_t k = 0; k < sizeof bf16 / sizeof bf16[0]; k++)
        ck_assert_uint_eq(ref_bf16_to_f32_bits(bf16[k]), (uint32_t)bf16[k] << 16);
}
END_TEST

/* ------------------------------------------------------------------ */

static void add_tests(Suite *s, int impl)
{
    /* The 2^32-offset test maps 24 GiB of address space; under sanitizers
     * and valgrind everything is slower. */
    const TTest *const tests[] = {
        lookup_matches_naive_on_random_bits, lookup_reads_nothing_past_the_last_row,
        rows_ending_at_a_guard_page,
        grad_matches_naive_with_duplicates, grad_order_is_token_order,
        grad_two_nans_give_one_of_them, zero_tokens_touch_nothing,
        bad_ids_change_nothing, first_bad_id_is_reported,
        bad_arguments_change_nothing, null_pointers_are_named,
        overlapping_buffers_are_refused, offsets_beyond_32_bits,
        grad_nan_dout_rows_named_once, grad_two_nans_give_one_of_them_typed,
        every_16_bit_pattern, f16_nans_quieted_bf16_unchanged, quantized_special_scales,
        k_quant_special_scales,
        q8_rowwise_negative_zero_bias_and_one_rounding, q8_rowwise_two_nans_give_one_of_them,
        int64_ids_outside_the_vocabulary,
        typed_arguments_are_validated,
    };
    TCase *tc = add_impl_tests(s, impl, tests, sizeof tests / sizeof tests[0], 120);
    add_kernel_loop_test(tc, kernel_matches_reference, impl);
    add_kernel_loop_test(tc, kernel_rows_end_at_a_guard_page, impl);
}

static void add_once(Suite *s)
{
    TCase *tc = tcase_create("types");
    tcase_add_test(tc, type_names_and_row_sizes);
    tcase_add_test(tc, reference_widening_by_hand);
    tcase_add_test(tc, strerror_and_version);
    suite_add_tcase(s, tc);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv, "kernels", add_tests, add_once);
}
