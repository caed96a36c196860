/* test_kernels.c - the Check suite of lookup and grad results: every
 * kernel the library lists, each id type, every dim tail, misaligned
 * buffers, NaNs among duplicates and the f32 calls' validation, once per
 * implementation this CPU supports, compared bit for bit with the
 * reference. The formats' edge values are test_formats.c's, the typed
 * calls' arguments test_typed_calls.c's. */
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
#include "internal.h"
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

/* Streaming stores at every output alignment: with a schedule that
 * streams every lookup (stream.llc_eighths 0), the f32 lookup, the 16-bit
 * bit copy, the widening lookups and the fused positional lookup write the
 * reference bits into an output at each 2-byte offset from a 64-byte
 * boundary and nothing outside it (x86_copy.h streams from the first
 * 16-byte boundary; a row off it takes ordinary stores, and AVX-512's
 * widening reaches a 64-byte boundary under a k-mask first). */
START_TEST(streaming_lookups_at_every_output_offset)
{
    use_impl(_i);
    const emb_loop_schedule saved = *emb_loops();
    emb_loop_schedule streaming = saved;
    streaming.stream_llc_eighths = 0;
    emb_schedule_set_loops(&streaming);
    gen_rng r = gen_seed(0x1004);
    static const int64_t dims[] = {3, 4, 7, 8, 12, 16, 31, 33, 64, 67, 128, 271, 768};
    const int64_t vocab = 11, n = 9, max_pos = 5;
    const emb_positions pos = {NULL, 1, 4};
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
        const int64_t dim = dims[d];
        const size_t f32_bytes = (size_t)(n * dim) * sizeof(float);
        float *table = xmalloc((size_t)(vocab * dim) * sizeof(float));
        float *ptable = xmalloc((size_t)(max_pos * dim) * sizeof(float));
        float *want = xmalloc(f32_bytes), *want_pos = xmalloc(f32_bytes);
        int32_t ids[9];
        gen_fill_bits(&r, table, (size_t)(vocab * dim));
        gen_fill_finite(&r, ptable, (size_t)(max_pos * dim));
        gen_ids(&r, ids, (size_t)n, vocab, GEN_IDS_UNIFORM);
        naive_lookup(table, dim, ids, n, want);
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < dim; j++)
                want_pos[i * dim + j] =
                    table[ids[i] * dim + j] + ptable[(pos.offset + i % pos.seq_len) * dim + j];
        for (size_t off = 0; off < 64; off += 2) {
            char what[96];
            if (off % sizeof(float) == 0) {
                gbytes out = gbytes_new(f32_bytes, off);
                snprintf(what, sizeof what, "streaming lookup, dim %lld, output at 64k + %zu",
                         (long long)dim, off);
                ck_assert_int_eq(emb_lookup_f32(table, vocab, dim, ids, n, (float *)out.p), EMB_OK);
                ASSERT_SAME_BYTES(out.p, want, f32_bytes, what);
                gbytes_check(&out, what);
                ck_assert_int_eq(emb_lookup_pos(table, EMB_F32, vocab, dim, ids, EMB_I32, n,
                                                ptable, EMB_F32, max_pos, &pos, (float *)out.p),
                                 EMB_OK);
                snprintf(what, sizeof what, "streaming lookup_pos, dim %lld, output at 64k + %zu",
                         (long long)dim, off);
                ASSERT_SAME_BYTES(out.p, want_pos, f32_bytes, what);
                gbytes_check(&out, what);
                gbytes_free(&out);
            }
            /* The table's bits read as f16 and bf16 rows of 2 * dim
             * elements, widened (into f32 outputs at 4-byte offsets). */
            for (int w = 0; w < 2 && off % sizeof(float) == 0; w++) {
                const emb_type t16 = w == 0 ? EMB_F16 : EMB_BF16;
                const size_t wide_bytes = 2 * f32_bytes;
                uint8_t *want_wide = xmalloc(wide_bytes);
                ck_assert_int_eq(ref_lookup(find_kernel(EMB_OP_LOOKUP, t16, EMB_F32), table,
                                            vocab, 2 * dim, ids, EMB_I32, n, want_wide),
                                 0);
                gbytes wide = gbytes_new(wide_bytes, off);
                snprintf(what, sizeof what, "streaming %s->f32, dim %lld, output at 64k + %zu",
                         emb_type_name(t16), (long long)(2 * dim), off);
                ck_assert_int_eq(emb_lookup(table, t16, vocab, 2 * dim, ids, EMB_I32, n, wide.p,
                                            EMB_F32),
                                 EMB_OK);
                ASSERT_SAME_BYTES(wide.p, want_wide, wide_bytes, what);
                gbytes_check(&wide, what);
                gbytes_free(&wide);
                free(want_wide);
            }
            /* The table's bits read as bf16 rows of 2 * dim elements. */
            gbytes out16 = gbytes_new(f32_bytes, off);
            snprintf(what, sizeof what, "streaming bf16 copy, dim %lld, output at 64k + %zu",
                     (long long)(2 * dim), off);
            ck_assert_int_eq(emb_lookup(table, EMB_BF16, vocab, 2 * dim, ids, EMB_I32, n, out16.p,
                                        EMB_BF16),
                             EMB_OK);
            ASSERT_SAME_BYTES(out16.p, want, f32_bytes, what);
            gbytes_check(&out16, what);
            gbytes_free(&out16);
        }
        free(table);
        free(ptable);
        free(want);
        free(want_pos);
    }
    emb_schedule_set_loops(&saved);
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

/* A random table of kernel k's input type: every bit pattern is a valid
 * table; only the few rows whose result IEEE 754 leaves open are made
 * determinate. */
static void fill_table(gen_rng *r, const emb_kernel *k, void *table, int64_t vocab, int64_t dim)
{
    const size_t in_rb = emb_row_bytes(k->in, dim);
    fill_bytes(r, table, (size_t)vocab * in_rb);
    for (int64_t v = 0; v < vocab; v++)
        ref_make_determinate(k->in, (uint8_t *)table + (size_t)v * in_rb, dim);
}

/* emb_lookup into out (guarded) gives want's bytes and writes nothing
 * outside out. */
static void check_lookup(const emb_kernel *k, const void *table, int64_t vocab, int64_t dim,
                         const void *ids, emb_index id_type, int64_t n, gbytes *out,
                         const void *want, const char *what)
{
    const emb_status s = emb_lookup(table, k->in, vocab, dim, ids, id_type, n, out->p, k->out);
    ck_assert_msg(s == EMB_OK, "%s: %s: %s", what, emb_strerror(s), emb_last_error());
    ASSERT_SAME_BYTES(out->p, want, out->bytes, what);
    gbytes_check(out, what);
}

/* emb_grad into dtable (filled by the caller), which must then equal want
 * byte for byte with its canaries intact. */
static void check_grad(const emb_kernel *k, gbytes *dtable, int64_t vocab, int64_t dim,
                       const void *ids, emb_index id_type, int64_t n, const void *dout,
                       const void *want, const char *what)
{
    const emb_status s = emb_grad((float *)dtable->p, vocab, dim, ids, id_type, n, dout, k->in);
    ck_assert_msg(s == EMB_OK, "%s: %s: %s", what, emb_strerror(s), emb_last_error());
    ASSERT_SAME_BYTES(dtable->p, want, dtable->bytes, what);
    gbytes_check(dtable, what);
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
    fill_table(r, k, table.p, vocab, dim);
    void *ids = make_ids(r, id_type, (size_t)n, vocab, GEN_IDS_UNIFORM);
    if (n > 0)
        set_id(ids, id_type, (size_t)n - 1, vocab - 1); /* the table's last row, out's last */
    ck_assert_int_eq(ref_lookup(k, table.p, vocab, dim, ids, id_type, n, want), 0);

    char what[128];
    snprintf(what, sizeof what, "%s, %s ids, dim %lld, n %lld, table +%zu, out +%zu", k->name,
             emb_index_name(id_type), (long long)dim, (long long)n, table.offset, out.offset);
    check_lookup(k, table.p, vocab, dim, ids, id_type, n, &out, want, what);
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
    check_grad(k, &dtable, vocab, dim, ids, id_type, n, dout.p, want, what);
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
 * reads or writes one byte too many faults. Each dim with line.realign 1
 * and 0 (AVX-512's short rows of the widening lookups take their own
 * loop under 0 only), each with line.halves 0 and 1 (AVX-512's blocked
 * lookups' stores). */
START_TEST(kernel_rows_end_at_a_guard_page)
{
    const emb_kernel *k = kernel_of(_i);
    gen_rng r = gen_seed(0x5002);
    const int64_t vocab = 3, n = 2;
    const int32_t ids[2] = {0, 2}; /* the last output row and the last table row */
    const emb_loop_schedule saved = *emb_loops();
    for (int p = 0; p < 4 * N_TYPED_DIMS; p++) {
        const int64_t dim = typed_dims[p / 4];
        size_t in_rb, out_rb;
        if (!kernel_rows(k, dim, &in_rb, &out_rb))
            continue;
        emb_loop_schedule realign = saved;
        realign.line_realign = (size_t)(p % 2 == 0);
        realign.line_halves = (size_t)(p / 2 % 2);
        emb_schedule_set_loops(&realign);
        char what[140];
        snprintf(what, sizeof what,
                 "%s, dim %lld, line.realign %zu, line.halves %zu, rows at a guard page", k->name,
                 (long long)dim, realign.line_realign, realign.line_halves);
        const size_t matrix_bytes = (size_t)vocab * (k->op == EMB_OP_LOOKUP ? in_rb : out_rb);
        const size_t rows_bytes = (size_t)n * (k->op == EMB_OP_LOOKUP ? out_rb : in_rb);
        fenced matrix = fenced_new(matrix_bytes), rows = fenced_new(rows_bytes);
        void *want = xmalloc(k->op == EMB_OP_LOOKUP ? rows_bytes : matrix_bytes);
        if (k->op == EMB_OP_LOOKUP) {
            fill_table(&r, k, matrix.p, vocab, dim);
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
    emb_schedule_set_loops(&saved);
}
END_TEST

/* Every lookup into an output at each element offset from a 64-byte
 * boundary (0-60 bytes for f32 outputs, 0-62 for 16-bit ones), under the
 * three paths a row can take: the default one (this small table stays in
 * cache), rows in flight from a "DRAM" table (prefetch and pieces from any
 * table and dim), and streaming stores, each with line.realign 1 and 0,
 * and line.halves 0 and 1. AVX-512's blocked types shift their vectors to
 * write whole lines (line_out in x86_avx512.c), each offset a different
 * shift, or under line.realign 0 store them where they fall (a streamed
 * call off a line shifts them under either value), whole or, under
 * line.halves 1, in YMM halves; the widening ones start with a
 * k-masked lead (streamed: in XMMs), and so do its bit copies of rows
 * over 128 bytes under line.realign 1 only. Streamed rows stream from
 * their first 16-byte boundary (offsets 16, 32, 48: an XMM lead, or YMMs
 * as XMM pairs in AVX2's blocked types).
 * Rows in flight cut their pieces at the output's lines where the types
 * allow (emb_out_line_lead in row_loops.h; AVX-512, AVX2): f32, f16, bf16
 * and q8_rowwise rows of dim 160 take that cut at every offset but 0. */
START_TEST(lookup_at_every_output_offset)
{
    const emb_kernel *k = kernel_of(_i);
    if (k->op != EMB_OP_LOOKUP)
        return;
    gen_rng r = gen_seed(0x5003);
    const emb_loop_schedule saved = *emb_loops();
    emb_loop_schedule paths[ROW_PATHS];
    row_paths(paths);
    const int64_t vocab = PATH_VOCAB, n = PATH_TOKENS;
    const int32_t *ids = path_ids;
    const size_t step = emb_row_bytes(k->out, 1) == 2 ? 2 : 4;
    /* Rows past the short-row paths; several pieces of every block size. */
    static const int64_t dims[] = {33, 64, 96, 160, 256, 271, 512, 768};
    int dims_tested = 0;
    for (size_t d = 0; d < sizeof dims / sizeof dims[0] && dims_tested < 4; d++) {
        const int64_t dim = dims[d];
        size_t in_rb, out_rb;
        if (!kernel_rows(k, dim, &in_rb, &out_rb))
            continue;
        dims_tested++;
        uint8_t *table = xmalloc((size_t)vocab * in_rb);
        uint8_t *want = xmalloc((size_t)n * out_rb);
        fill_table(&r, k, table, vocab, dim);
        ck_assert_int_eq(ref_lookup(k, table, vocab, dim, ids, EMB_I32, n, want), 0);
        for (int p = 0; p < 4 * ROW_PATHS; p++) {
            emb_loop_schedule path = paths[p / 4];
            path.line_realign = (size_t)(p % 2 == 0);
            path.line_halves = (size_t)(p / 2 % 2);
            emb_schedule_set_loops(&path);
            for (size_t off = 0; off < 64; off += step) {
                char what[180];
                snprintf(what, sizeof what,
                         "%s, dim %lld, %s, line.realign %zu, line.halves %zu, output at 64k + %zu",
                         k->name, (long long)dim, row_path_names[p / 4], path.line_realign,
                         path.line_halves, off);
                gbytes out = gbytes_new((size_t)n * out_rb, off);
                check_lookup(k, table, vocab, dim, ids, EMB_I32, n, &out, want, what);
                gbytes_free(&out);
            }
        }
        emb_schedule_set_loops(&saved);
        free(table);
        free(want);
    }
    ck_assert_msg(dims_tested > 0, "%s: no dim of the list is valid for it", k->name);
}
END_TEST

/* Every gradient into a table at each 4-byte offset from a 64-byte
 * boundary, on the default path (this small table stays in cache) and with
 * rows in flight, whose pieces AVX-512 cuts at the table's lines where its
 * rows are whole lines (dim 160 at every offset but 0), each with
 * line.realign 1 and 0 (AVX-512's 16-bit gradients without their lead on
 * these rows: grad.lead_min_dim is set above them). Nine tokens: two groups of
 * four and one after them, a row named twice inside a group. */
START_TEST(grad_at_every_table_offset)
{
    const emb_kernel *k = kernel_of(_i);
    if (k->op != EMB_OP_GRAD)
        return;
    gen_rng r = gen_seed(0x5006);
    const emb_loop_schedule saved = *emb_loops();
    emb_loop_schedule paths[ROW_PATHS];
    row_paths(paths); /* a gradient takes the first two: it never streams */
    const int64_t vocab = PATH_VOCAB, n = PATH_TOKENS;
    const int32_t *ids = path_ids;
    static const int64_t dims[] = {33, 96, 160};
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
        const int64_t dim = dims[d];
        size_t in_rb, out_rb;
        if (!kernel_rows(k, dim, &in_rb, &out_rb))
            continue;
        uint8_t *dout = xmalloc((size_t)n * in_rb), *start = xmalloc((size_t)vocab * out_rb);
        uint8_t *want = xmalloc((size_t)vocab * out_rb);
        fill_elements(&r, k->in, dout, (size_t)(n * dim), VALUES_NOT_NAN);
        fill_elements(&r, k->out, start, (size_t)(vocab * dim), VALUES_NOT_NAN);
        memcpy(want, start, (size_t)vocab * out_rb);
        ck_assert_int_eq(ref_grad(k, (float *)want, vocab, dim, ids, EMB_I32, n, dout), 0);
        for (int p = 0; p < 4; p++) {
            emb_loop_schedule path = paths[p / 2];
            path.line_realign = (size_t)(p % 2 == 0);
            /* under line.realign 0, no row of these dims takes the lead */
            path.grad_lead_min_dim = (size_t)1 << 40;
            emb_schedule_set_loops(&path);
            for (size_t off = 0; off < 64; off += 4) {
                char what[160];
                snprintf(what, sizeof what, "%s, dim %lld, %s, line.realign %zu, table at 64k + %zu",
                         k->name, (long long)dim, row_path_names[p / 2], path.line_realign, off);
                gbytes dtable = gbytes_new((size_t)vocab * out_rb, off);
                memcpy(dtable.p, start, dtable.bytes);
                check_grad(k, &dtable, vocab, dim, ids, EMB_I32, n, dout, want, what);
                gbytes_free(&dtable);
            }
        }
        emb_schedule_set_loops(&saved);
        free(dout);
        free(start);
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

/* ------------------------------------------------------------------ */

static void add_tests(Suite *s, int impl)
{
    /* The 2^32-offset test maps 24 GiB of address space; under sanitizers
     * and valgrind everything is slower. */
    const TTest *const tests[] = {
        lookup_matches_naive_on_random_bits, streaming_lookups_at_every_output_offset,
        lookup_reads_nothing_past_the_last_row, rows_ending_at_a_guard_page,
        grad_matches_naive_with_duplicates, grad_order_is_token_order,
        grad_two_nans_give_one_of_them, zero_tokens_touch_nothing,
        bad_ids_change_nothing, first_bad_id_is_reported,
        bad_arguments_change_nothing, null_pointers_are_named,
        overlapping_buffers_are_refused, offsets_beyond_32_bits,
        grad_nan_dout_rows_named_once, grad_two_nans_give_one_of_them_typed,
    };
    TCase *tc = add_impl_tests(s, impl, tests, sizeof tests / sizeof tests[0], 120);
    add_kernel_loop_test(tc, kernel_matches_reference, impl);
    add_kernel_loop_test(tc, kernel_rows_end_at_a_guard_page, impl);
    add_kernel_loop_test(tc, lookup_at_every_output_offset, impl);
    add_kernel_loop_test(tc, grad_at_every_table_offset, impl);
}

static void add_once(Suite *s)
{
    TCase *tc = tcase_create("library");
    tcase_add_test(tc, strerror_and_version);
    suite_add_tcase(s, tc);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv, "kernels", add_tests, add_once);
}
