/* test_formats.c - the Check suite of the table formats at their edges:
 * every 16-bit pattern of f16 and bf16, the quantized formats' special
 * scales (zero, subnormal, infinite, NaN) with every value predicted from
 * IEEE-754, the k-quants' sub-block scales and minimums, q8_rowwise's bias
 * and NaNs, and the type table and reference widening by hand; once per
 * implementation this CPU supports. */
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
    const TTest *const tests[] = {
        every_16_bit_pattern, f16_nans_quieted_bf16_unchanged, quantized_special_scales,
        k_quant_special_scales, q8_rowwise_negative_zero_bias_and_one_rounding,
        q8_rowwise_two_nans_give_one_of_them,
    };
    add_impl_tests(s, impl, tests, sizeof tests / sizeof tests[0], 120);
}

static void add_once(Suite *s)
{
    TCase *tc = tcase_create("types");
    tcase_add_test(tc, type_names_and_row_sizes);
    tcase_add_test(tc, reference_widening_by_hand);
    suite_add_tcase(s, tc);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv, "formats", add_tests, add_once);
}
