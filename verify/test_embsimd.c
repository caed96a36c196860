/* test_embsimd.c - the Check unit suite. Every kernel test runs once per
 * implementation this CPU supports (one TCase per implementation, named by
 * it); the others are listed as skipped, by name, with the reason. */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "embsimd.h"
#include "gen.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

static void use_impl(int impl)
{
    ck_assert_msg(emb_use_impl(emb_impl_name(impl)) == EMB_OK, "cannot select %s: %s",
                  emb_impl_name(impl), emb_last_error());
    ck_assert_str_eq(emb_impl_active(), emb_impl_name(impl));
}

static void *xmalloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    ck_assert_ptr_nonnull(p);
    return p;
}

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

/* The reference lookup: one 32-bit word at a time, no float ever touched. */
static void naive_lookup(const float *table, int64_t dim, const int32_t *ids, int64_t n,
                         float *out)
{
    for (int64_t i = 0; i < n; i++)
        memcpy(out + i * dim, table + (int64_t)ids[i] * dim, (size_t)dim * sizeof(float));
}

/* The reference gradient: the definition, token by token, element by element. */
static void naive_grad(float *dtable, int64_t dim, const int32_t *ids, int64_t n,
                       const float *dout)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < dim; j++) {
            volatile float sum = dtable[(int64_t)ids[i] * dim + j] + dout[i * dim + j];
            dtable[(int64_t)ids[i] * dim + j] = sum;
        }
}

/* First differing float, or -1: reported as an index so a failure says
 * where, and compared as bits so -0/+0 and NaN payloads count. */
static int64_t first_diff(const float *a, const float *b, int64_t count)
{
    for (int64_t k = 0; k < count; k++)
        if (gen_f2u(a[k]) != gen_f2u(b[k]))
            return k;
    return -1;
}

#define ASSERT_SAME_BITS(got, want, count, what)                                          \
    do {                                                                                  \
        const int64_t at_ = first_diff((got), (want), (count));                           \
        ck_assert_msg(at_ < 0, "%s: element %lld is 0x%08x, expected 0x%08x", (what),     \
                      (long long)at_, at_ < 0 ? 0u : gen_f2u((got)[at_]),                 \
                      at_ < 0 ? 0u : gen_f2u((want)[at_]));                               \
    } while (0)

/* A buffer with canary words before and after the payload, so a test sees
 * any write outside [0, count) as well as inside it. */
enum { GUARD = 16 };
typedef struct guarded {
    float *base, *p;
    int64_t count;
} guarded;

static guarded guarded_new(int64_t count, int misalign)
{
    guarded g;
    g.count = count;
    g.base = xmalloc((size_t)(count + 2 * GUARD + 1) * sizeof(float));
    g.p = g.base + GUARD + (misalign ? 1 : 0);
    for (int64_t k = 0; k < count + 2 * GUARD + 1; k++)
        g.base[k] = gen_u2f(0xA5A5A5A5u ^ (uint32_t)k);
    return g;
}

static void guarded_check(const guarded *g, const char *what)
{
    const int64_t total = g->count + 2 * GUARD + 1;
    const int64_t lo = g->p - g->base, hi = lo + g->count;
    for (int64_t k = 0; k < total; k++) {
        if (k >= lo && k < hi)
            continue;
        ck_assert_msg(gen_f2u(g->base[k]) == (0xA5A5A5A5u ^ (uint32_t)k),
                      "%s: canary word %lld outside the buffer was overwritten", what,
                      (long long)(k - lo));
    }
}

/* ------------------------------------------------------------------ */
/* Kernel tests, one run per implementation (_i is its index)           */
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

/* A buffer of `floats` floats that ends exactly where an inaccessible page
 * begins: any read or write past its end faults, with or without a
 * sanitizer (ASan cannot see inside some compilers' NEON builtins). */
typedef struct fenced {
    void *map;
    size_t map_bytes;
    float *p;
} fenced;

static fenced fenced_new(size_t floats)
{
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t bytes = floats * sizeof(float);
    const size_t data_pages = (bytes + page - 1) / page;
    fenced f;
    f.map_bytes = (data_pages + 1) * page;
    f.map = mmap(NULL, f.map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_msg(f.map != MAP_FAILED, "mmap of %zu bytes failed", f.map_bytes);
    char *guard = (char *)f.map + data_pages * page;
    ck_assert_int_eq(mprotect(guard, page, PROT_NONE), 0);
    f.p = (float *)(guard - bytes);
    return f;
}

START_TEST(rows_ending_at_a_guard_page)
{
    use_impl(_i);
    gen_rng r = gen_seed(0x1003);
    for (int d = 0; d < N_DIMS; d++) {
        const int64_t dim = test_dims[d], vocab = 3, n = 2;
        fenced table = fenced_new((size_t)(vocab * dim));
        fenced out = fenced_new((size_t)(n * dim));
        fenced dout = fenced_new((size_t)(n * dim));
        gen_fill_bits(&r, table.p, (size_t)(vocab * dim));
        gen_fill_finite(&r, dout.p, (size_t)(n * dim));
        const int32_t ids[2] = {0, 2}; /* the last output row and the last table row */
        ck_assert_int_eq(emb_lookup_f32(table.p, vocab, dim, ids, n, out.p), EMB_OK);
        ASSERT_SAME_BITS(out.p + dim, table.p + 2 * dim, dim, "last row at a guard page");
        ck_assert_int_eq(emb_grad_f32(table.p, vocab, dim, ids, n, dout.p), EMB_OK);
        munmap(table.map, table.map_bytes);
        munmap(out.map, out.map_bytes);
        munmap(dout.map, dout.map_bytes);
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
    const char *message; /* exact for ids, a required substring otherwise */
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
    if (c->bad_pos >= 0)
        ck_assert_str_eq(emb_last_error(), c->message);
    else
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
    ck_assert_str_eq(emb_last_error(), "ids[23] = 9 is outside [0, 4)");
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
    ck_assert_msg(strstr(emb_last_error(), "dout") && strstr(emb_last_error(), "overlaps dtable"),
                  "message: %s", emb_last_error());
    /* ids inside the buffer the call writes. */
    int32_t *ids_in_out = (int32_t *)(buf + V * D);
    ids_in_out[0] = 0;
    ids_in_out[1] = 1;
    ck_assert_int_eq(emb_lookup_f32(buf, V, D, ids_in_out, 2, buf + V * D), EMB_EINVAL);
    ck_assert_str_eq(emb_last_error(), "emb_lookup_f32: ids overlaps out, which the call writes");
    float *dy = xmalloc(2 * D * sizeof(float));
    gen_fill_finite(&r, dy, 2 * D);
    int32_t *ids_in_dtable = (int32_t *)(buf + (V - 1) * D);
    ids_in_dtable[0] = 0;
    ids_in_dtable[1] = 1;
    memcpy(snap, buf, sizeof buf);
    ck_assert_int_eq(emb_grad_f32(buf, V, D, ids_in_dtable, 2, dy), EMB_EINVAL);
    ASSERT_SAME_BITS(buf, snap, (V + 4) * D, "dtable after refused ids overlap");
    ck_assert_str_eq(emb_last_error(), "emb_grad_f32: ids overlaps dtable, which the call writes");
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

/* Thread counts whose row and token partitions all differ. */
static const int thread_counts[] = {1, 2, 3, 7};

/* Rows that make table and output each at least half the last-level
 * cache: past the sizes at which the library switches to prefetching with
 * several rows in flight and to streaming stores (api.c), so those paths
 * run here. */
static int64_t rows_past_cache_threshold(int64_t dim)
{
    return emb_llc_bytes() / 2 / (dim * (int64_t)sizeof(float)) + 1;
}

static void check_lookup_thread_counts(int64_t dim, uint64_t seed)
{
    gen_rng r = gen_seed(seed);
    /* n not a multiple of the rows the kernels keep in flight at once */
    const int64_t vocab = rows_past_cache_threshold(dim), n = vocab + 2;
    float *table = xmalloc((size_t)(vocab * dim) * sizeof(float));
    float *want = xmalloc((size_t)(n * dim) * sizeof(float));
    guarded out = guarded_new(n * dim, 1);
    int32_t *ids = xmalloc((size_t)n * sizeof(int32_t));
    gen_fill_bits(&r, table, (size_t)(vocab * dim));
    gen_ids(&r, ids, (size_t)n, vocab, GEN_IDS_ZIPF);
    naive_lookup(table, dim, ids, n, want);
    for (size_t t = 0; t < sizeof thread_counts / sizeof thread_counts[0]; t++) {
        ck_assert_int_eq(emb_set_num_threads(thread_counts[t]), EMB_OK);
        memset(out.p, 0, (size_t)(n * dim) * sizeof(float));
        ck_assert_int_eq(emb_lookup_f32(table, vocab, dim, ids, n, out.p), EMB_OK);
        char what[64];
        snprintf(what, sizeof what, "lookup, dim %d, %d threads", (int)dim, thread_counts[t]);
        ASSERT_SAME_BITS(out.p, want, n * dim, what);
        guarded_check(&out, what);
    }
    emb_set_num_threads(0);
    free(table);
    free(want);
    free(out.base);
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

/* ------------------------------------------------------------------ */
/* Dispatch tests (implementation-independent)                          */
/* ------------------------------------------------------------------ */

START_TEST(table_lists_scalar_last_and_explains_the_rest)
{
    const int count = emb_impl_count();
    ck_assert_int_ge(count, 1);
    ck_assert_str_eq(emb_impl_name(count - 1), "scalar");
    ck_assert_int_eq(emb_impl_available(count - 1), 1);
    ck_assert_ptr_null(emb_impl_name(-1));
    ck_assert_ptr_null(emb_impl_name(count));
    ck_assert_int_eq(emb_impl_available(count), 0);
    for (int i = 0; i < count; i++) {
        for (int k = i + 1; k < count; k++)
            ck_assert_str_ne(emb_impl_name(i), emb_impl_name(k));
        const char *why = emb_impl_unavailable_reason(i);
        ck_assert_msg((why == NULL) == (emb_impl_available(i) == 1), "%s: available %d, reason %s",
                      emb_impl_name(i), emb_impl_available(i), why ? why : "(none)");
    }
}
END_TEST

START_TEST(use_impl_selects_or_refuses)
{
    const int count = emb_impl_count();
    int best = -1;
    for (int i = 0; i < count; i++) {
        if (emb_impl_available(i)) {
            if (best < 0)
                best = i;
            ck_assert_int_eq(emb_use_impl(emb_impl_name(i)), EMB_OK);
            ck_assert_str_eq(emb_impl_active(), emb_impl_name(i));
        }
    }
    ck_assert_int_eq(emb_use_impl("scalar"), EMB_OK);
    for (int i = 0; i < count; i++) {
        if (emb_impl_available(i))
            continue;
        ck_assert_int_eq(emb_use_impl(emb_impl_name(i)), EMB_ENOTSUP);
        ck_assert_str_eq(emb_impl_active(), "scalar"); /* unchanged */
        ck_assert_ptr_nonnull(strstr(emb_last_error(), emb_impl_name(i)));
        ck_assert_ptr_nonnull(strstr(emb_last_error(), emb_impl_unavailable_reason(i)));
    }
    ck_assert_int_eq(emb_use_impl("sse9"), EMB_ENOTSUP);
    ck_assert_str_eq(emb_impl_active(), "scalar");
    ck_assert_ptr_nonnull(strstr(emb_last_error(), "\"sse9\" is not an implementation"));
    ck_assert_ptr_nonnull(strstr(emb_last_error(), "available: "));
    ck_assert_int_eq(emb_use_impl(NULL), EMB_OK);
    ck_assert_str_eq(emb_impl_active(), emb_impl_name(best));
    ck_assert_int_eq(emb_use_impl("scalar"), EMB_OK);
    ck_assert_int_eq(emb_use_impl("auto"), EMB_OK);
    ck_assert_str_eq(emb_impl_active(), emb_impl_name(best));
}
END_TEST

/* The environment is read once, at first use, so each case needs a fresh
 * process: fork explicitly rather than rely on Check's fork mode. */
typedef int (*child_fn)(const char *arg);

static void run_in_child(child_fn fn, const char *arg, const char *label)
{
    fflush(NULL);
    const pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(fn(arg));
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "%s: child failed at check %d", label, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* Children return the number of the first failing check, 0 on success. */
static int child_env_selects(const char *name)
{
    setenv("EMBSIMD_IMPL", name, 1);
    if (!emb_impl_active() || strcmp(emb_impl_active(), name) != 0)
        return 1;
    float table[6] = {1, 2, 3, 4, 5, 6}, out[3];
    const int32_t id = 1;
    if (emb_lookup_f32(table, 2, 3, &id, 1, out) != EMB_OK || out[2] != 6.0f)
        return 2;
    return 0;
}

static int child_env_refuses(const char *name)
{
    setenv("EMBSIMD_IMPL", name, 1);
    float table[6] = {1, 2, 3, 4, 5, 6}, out[3] = {7, 7, 7};
    const int32_t id = 1;
    if (emb_lookup_f32(table, 2, 3, &id, 1, out) != EMB_ENOTSUP)
        return 1;
    if (out[0] != 7.0f || out[1] != 7.0f || out[2] != 7.0f)
        return 2;
    if (emb_grad_f32(table, 2, 3, &id, 1, out) != EMB_ENOTSUP || table[3] != 4.0f)
        return 3;
    if (emb_lookup_f32(NULL, 2, 3, NULL, 0, NULL) != EMB_ENOTSUP)
        return 4; /* every call, even an empty one */
    char want[128];
    snprintf(want, sizeof want, "EMBSIMD_IMPL=%s ", name);
    if (strstr(emb_last_error(), want) == NULL || strstr(emb_last_error(), "available: ") == NULL ||
        strstr(emb_last_error(), "scalar") == NULL)
        return 5;
    if (emb_impl_active() != NULL)
        return 6;
    /* An explicit choice overrides the bad environment. */
    if (emb_use_impl("scalar") != EMB_OK || emb_lookup_f32(table, 2, 3, &id, 1, out) != EMB_OK)
        return 7;
    return 0;
}

static int child_env_auto(const char *name)
{
    setenv("EMBSIMD_IMPL", name, 1);
    for (int i = 0; i < emb_impl_count(); i++)
        if (emb_impl_available(i))
            return strcmp(emb_impl_active(), emb_impl_name(i)) == 0 ? 0 : 1;
    return 2;
}

START_TEST(environment_selects_or_refuses)
{
    for (int i = 0; i < emb_impl_count(); i++) {
        char label[64];
        snprintf(label, sizeof label, "EMBSIMD_IMPL=%s", emb_impl_name(i));
        run_in_child(emb_impl_available(i) ? child_env_selects : child_env_refuses,
                     emb_impl_name(i), label);
    }
    run_in_child(child_env_refuses, "bogus", "EMBSIMD_IMPL=bogus");
    run_in_child(child_env_refuses, "AVX2", "EMBSIMD_IMPL=AVX2 (names are lower case)");
    run_in_child(child_env_auto, "auto", "EMBSIMD_IMPL=auto");
    run_in_child(child_env_auto, "", "EMBSIMD_IMPL empty");
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

enum { RACERS = 8 };
static pthread_barrier_t start_line;
static const char *seen_active[RACERS];
static int racer_status[RACERS];

static void *racer(void *arg)
{
    const int me = (int)(intptr_t)arg;
    float table[4 * 9], out[2 * 9];
    for (int k = 0; k < 36; k++)
        table[k] = (float)k;
    const int32_t ids[2] = {3, 1};
    pthread_barrier_wait(&start_line);
    racer_status[me] = emb_lookup_f32(table, 4, 9, ids, 2, out);
    if (racer_status[me] == EMB_OK && (out[0] != 27.0f || out[17] != 17.0f))
        racer_status[me] = -1;
    seen_active[me] = emb_impl_active();
    return NULL;
}

static int child_first_use_race(const char *unused)
{
    (void)unused;
    unsetenv("EMBSIMD_IMPL");
    pthread_t t[RACERS];
    pthread_barrier_init(&start_line, NULL, RACERS);
    for (int k = 0; k < RACERS; k++)
        if (pthread_create(&t[k], NULL, racer, (void *)(intptr_t)k) != 0)
            return 1;
    for (int k = 0; k < RACERS; k++)
        pthread_join(t[k], NULL);
    for (int k = 0; k < RACERS; k++) {
        if (racer_status[k] != EMB_OK)
            return 2;
        if (seen_active[k] == NULL || strcmp(seen_active[k], seen_active[0]) != 0)
            return 3;
    }
    return 0;
}

START_TEST(first_use_from_many_threads)
{
    for (int round = 0; round < 20; round++)
        run_in_child(child_first_use_race, NULL, "8 threads racing to first use");
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

static void add_kernel_tests(Suite *s, int impl)
{
    TCase *tc = tcase_create(emb_impl_name(impl));
    /* The 2^32-offset test maps 24 GiB of address space; under sanitizers
     * and valgrind everything is slower. */
    tcase_set_timeout(tc, 120);
    const TTest *const tests[] = {
        lookup_matches_naive_on_random_bits, lookup_reads_nothing_past_the_last_row,
        rows_ending_at_a_guard_page,
        grad_matches_naive_with_duplicates, grad_order_is_token_order,
        grad_two_nans_give_one_of_them, zero_tokens_touch_nothing,
        bad_ids_change_nothing, first_bad_id_is_reported,
        bad_arguments_change_nothing, null_pointers_are_named,
        overlapping_buffers_are_refused, offsets_beyond_32_bits,
        lookup_is_the_same_for_every_thread_count, grad_is_bit_identical_for_every_thread_count,
    };
    for (size_t k = 0; k < sizeof tests / sizeof tests[0]; k++)
        tcase_add_loop_test(tc, tests[k], impl, impl + 1);
    suite_add_tcase(s, tc);
}

int main(int argc, char **argv)
{
    /* --list: the implementations usable here, one per line, for scripts
     * that run the suite once per implementation. */
    if (argc > 1 && strcmp(argv[1], "--list") == 0) {
        for (int i = 0; i < emb_impl_count(); i++)
            if (emb_impl_available(i))
                printf("%s\n", emb_impl_name(i));
        return EXIT_SUCCESS;
    }
    if (argc > 1) {
        fprintf(stderr, "usage: %s [--list]\n  Runs the unit suite over every available "
                        "implementation, or only $EMBSIMD_IMPL when set.\n", argv[0]);
        return strcmp(argv[1], "--help") == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
    }
    Suite *s = suite_create("embsimd");
    const char *forced = getenv("EMBSIMD_IMPL");
    int selected = 0;

    for (int i = 0; i < emb_impl_count(); i++) {
        const char *name = emb_impl_name(i);
        if (forced && forced[0] && strcmp(forced, "auto") != 0 && strcmp(forced, name) != 0) {
            printf("not selected: %s (EMBSIMD_IMPL=%s)\n", name, forced);
            continue;
        }
        if (!emb_impl_available(i)) {
            printf("skipped: %s: %s\n", name, emb_impl_unavailable_reason(i));
            continue;
        }
        printf("testing: %s\n", name);
        add_kernel_tests(s, i);
        selected++;
    }
    if (selected == 0) {
        fprintf(stderr, "EMBSIMD_IMPL=%s selects no available implementation\n", forced);
        return EXIT_FAILURE;
    }

    TCase *dispatch = tcase_create("dispatch");
    tcase_set_timeout(dispatch, 120);
    tcase_add_test(dispatch, table_lists_scalar_last_and_explains_the_rest);
    tcase_add_test(dispatch, use_impl_selects_or_refuses);
    tcase_add_test(dispatch, environment_selects_or_refuses);
    tcase_add_test(dispatch, first_use_from_many_threads);
    tcase_add_test(dispatch, strerror_and_version);
    tcase_add_test(dispatch, thread_setting);
    tcase_add_test(dispatch, thread_setting_from_environment);
    suite_add_tcase(s, dispatch);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
