/* test_typed_calls.c - the Check suite of the typed calls' arguments:
 * int64 ids beyond the vocabulary and beyond 32 bits, and every argument
 * of emb_lookup and emb_grad refused with a message naming it and nothing
 * written, for each kernel the library lists; once per implementation this
 * CPU supports. */
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


/* ------------------------------------------------------------------ */

static void add_tests(Suite *s, int impl)
{
    const TTest *const tests[] = {
        int64_ids_outside_the_vocabulary,
        typed_arguments_are_validated,
    };
    add_impl_tests(s, impl, tests, sizeof tests / sizeof tests[0], 120);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv, "typed calls", add_tests, NULL);
}
