/* types.h - element types as data: the traits of each type, the one list of
 * kernels that exist, and the scalar definitions of every conversion that
 * the reference implementation uses and the SIMD ones must equal. */
#ifndef EMBSIMD_TYPES_H
#define EMBSIMD_TYPES_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "embsimd.h"

/* Every operation once: X(enum, name, field of emb_kernel_entry). Adding
 * an op is one line here, its function type and entry field (internal.h),
 * its loops (row_loops.h) and its entry point (api.c); the enumerators of
 * tests, verifier, fuzzer and bench name the ops they cover. */
#define EMB_OP_LIST(X)                            \
    X(EMB_OP_LOOKUP, "lookup", lookup)            \
    X(EMB_OP_GRAD, "grad", grad)                  \
    X(EMB_OP_LOOKUP_POS, "lookup_pos", lookup_pos) \
    X(EMB_OP_GRAD_POS, "grad_pos", grad_pos)      \
    X(EMB_OP_SCAN, "scan", scan)                  \
    X(EMB_OP_BAG, "bag", bag)                     \
    X(EMB_OP_BAG_GRAD, "bag_grad", bag_grad)      \
    X(EMB_OP_BAG_SGD, "bag_sgd", bag_step)        \
    X(EMB_OP_BAG_ADAGRAD, "bag_adagrad", bag_step)

/* Every kernel that exists, once: X(id, op, in type, out type). Lookup's
 * "in" is the table, grad's the dout it widens into an f32 dtable; the
 * fused positional ops likewise (the position table's type is an argument
 * of the call: f32, f16 or bf16). Adding a kernel is one line here, its
 * row primitives, and one entry per ISA file that implements it (scalar
 * implements all). */
#define EMB_KERNEL_LIST(X)                                        \
    X(LOOKUP_F32_F32, EMB_OP_LOOKUP, EMB_F32, EMB_F32)            \
    X(LOOKUP_F16_F16, EMB_OP_LOOKUP, EMB_F16, EMB_F16)            \
    X(LOOKUP_BF16_BF16, EMB_OP_LOOKUP, EMB_BF16, EMB_BF16)        \
    X(LOOKUP_F16_F32, EMB_OP_LOOKUP, EMB_F16, EMB_F32)            \
    X(LOOKUP_BF16_F32, EMB_OP_LOOKUP, EMB_BF16, EMB_F32)          \
    X(LOOKUP_Q8_0_F32, EMB_OP_LOOKUP, EMB_Q8_0, EMB_F32)          \
    X(LOOKUP_Q4_0_F32, EMB_OP_LOOKUP, EMB_Q4_0, EMB_F32)          \
    X(LOOKUP_Q8_ROWWISE_F32, EMB_OP_LOOKUP, EMB_Q8_ROWWISE, EMB_F32) \
    X(LOOKUP_Q4_K_F32, EMB_OP_LOOKUP, EMB_Q4_K, EMB_F32)          \
    X(LOOKUP_Q6_K_F32, EMB_OP_LOOKUP, EMB_Q6_K, EMB_F32)          \
    X(GRAD_F32, EMB_OP_GRAD, EMB_F32, EMB_F32)                    \
    X(GRAD_F16, EMB_OP_GRAD, EMB_F16, EMB_F32)                    \
    X(GRAD_BF16, EMB_OP_GRAD, EMB_BF16, EMB_F32)                  \
    X(LOOKUP_POS_F32, EMB_OP_LOOKUP_POS, EMB_F32, EMB_F32)        \
    X(LOOKUP_POS_F16, EMB_OP_LOOKUP_POS, EMB_F16, EMB_F32)        \
    X(LOOKUP_POS_BF16, EMB_OP_LOOKUP_POS, EMB_BF16, EMB_F32)      \
    X(LOOKUP_POS_Q8_0, EMB_OP_LOOKUP_POS, EMB_Q8_0, EMB_F32)      \
    X(LOOKUP_POS_Q4_0, EMB_OP_LOOKUP_POS, EMB_Q4_0, EMB_F32)      \
    X(LOOKUP_POS_Q8_ROWWISE, EMB_OP_LOOKUP_POS, EMB_Q8_ROWWISE, EMB_F32) \
    X(LOOKUP_POS_Q4_K, EMB_OP_LOOKUP_POS, EMB_Q4_K, EMB_F32)      \
    X(LOOKUP_POS_Q6_K, EMB_OP_LOOKUP_POS, EMB_Q6_K, EMB_F32)      \
    X(GRAD_POS_F32, EMB_OP_GRAD_POS, EMB_F32, EMB_F32)            \
    X(GRAD_POS_F16, EMB_OP_GRAD_POS, EMB_F16, EMB_F32)            \
    X(GRAD_POS_BF16, EMB_OP_GRAD_POS, EMB_BF16, EMB_F32)          \
    X(SCAN_F32, EMB_OP_SCAN, EMB_F32, EMB_F32)                    \
    X(SCAN_F16, EMB_OP_SCAN, EMB_F16, EMB_F32)                    \
    X(SCAN_BF16, EMB_OP_SCAN, EMB_BF16, EMB_F32)                  \
    X(SCAN_Q8_0, EMB_OP_SCAN, EMB_Q8_0, EMB_F32)                  \
    X(SCAN_Q4_0, EMB_OP_SCAN, EMB_Q4_0, EMB_F32)                  \
    X(SCAN_Q8_ROWWISE, EMB_OP_SCAN, EMB_Q8_ROWWISE, EMB_F32)      \
    X(SCAN_Q4_K, EMB_OP_SCAN, EMB_Q4_K, EMB_F32)                  \
    X(SCAN_Q6_K, EMB_OP_SCAN, EMB_Q6_K, EMB_F32)                  \
    X(BAG_F32, EMB_OP_BAG, EMB_F32, EMB_F32)                      \
    X(BAG_F16, EMB_OP_BAG, EMB_F16, EMB_F32)                      \
    X(BAG_BF16, EMB_OP_BAG, EMB_BF16, EMB_F32)                    \
    X(BAG_Q8_0, EMB_OP_BAG, EMB_Q8_0, EMB_F32)                    \
    X(BAG_Q4_0, EMB_OP_BAG, EMB_Q4_0, EMB_F32)                    \
    X(BAG_Q8_ROWWISE, EMB_OP_BAG, EMB_Q8_ROWWISE, EMB_F32)        \
    X(BAG_Q4_K, EMB_OP_BAG, EMB_Q4_K, EMB_F32)                    \
    X(BAG_Q6_K, EMB_OP_BAG, EMB_Q6_K, EMB_F32)                    \
    X(BAG_GRAD_F32, EMB_OP_BAG_GRAD, EMB_F32, EMB_F32)            \
    X(BAG_GRAD_F16, EMB_OP_BAG_GRAD, EMB_F16, EMB_F32)            \
    X(BAG_GRAD_BF16, EMB_OP_BAG_GRAD, EMB_BF16, EMB_F32)          \
    X(BAG_SGD_F32, EMB_OP_BAG_SGD, EMB_F32, EMB_F32)              \
    X(BAG_SGD_F16, EMB_OP_BAG_SGD, EMB_F16, EMB_F16)              \
    X(BAG_SGD_BF16, EMB_OP_BAG_SGD, EMB_BF16, EMB_BF16)           \
    X(BAG_ADAGRAD_F32, EMB_OP_BAG_ADAGRAD, EMB_F32, EMB_F32)      \
    X(BAG_ADAGRAD_F16, EMB_OP_BAG_ADAGRAD, EMB_F16, EMB_F16)      \
    X(BAG_ADAGRAD_BF16, EMB_OP_BAG_ADAGRAD, EMB_BF16, EMB_BF16)

typedef enum emb_kernel_id {
#define EMB_KERNEL_ENUM(id, op, in, out) EMB_K_##id,
    EMB_KERNEL_LIST(EMB_KERNEL_ENUM)
#undef EMB_KERNEL_ENUM
    EMB_KERNEL_COUNT
} emb_kernel_id;

/* Every type once: X(enum, name, elements per block, bytes per block,
 * bytes after the blocks). A row of dim elements is dim / block blocks,
 * then the extra bytes (q8_rowwise's scale and bias). The k-quants' blocks
 * are GGML's super-blocks of 256 (QK_K). */
#define EMB_TYPE_LIST(X)                                   \
    X(EMB_F32, "f32", 1, 4, 0)                             \
    X(EMB_F16, "f16", 1, 2, 0)                             \
    X(EMB_BF16, "bf16", 1, 2, 0)                           \
    X(EMB_Q8_0, "q8_0", 32, 34, 0)                         \
    X(EMB_Q4_0, "q4_0", 32, 18, 0)                         \
    X(EMB_Q8_ROWWISE, "q8_rowwise", 1, 1, 8)               \
    X(EMB_Q4_K, "q4_K", 256, 144, 0)                       \
    X(EMB_Q6_K, "q6_K", 256, 210, 0)

typedef struct emb_type_traits {
    const char *name;
    size_t block;       /* elements per block (1 for element types) */
    size_t block_bytes; /* bytes per block */
    size_t row_extra;   /* bytes after the blocks */
} emb_type_traits;

extern const emb_type_traits emb_types[EMB_TYPE_COUNT];

/* Byte offset of element j (a multiple of the block) within a row, and the
 * bytes of a row of dim elements (dim already validated). Switches over
 * the list rather than reads of emb_types: with a constant type, as in
 * every kernel, they fold to a multiply or a shift. */
static inline __attribute__((always_inline)) size_t emb_elem_offset(emb_type t, size_t j)
{
    switch (t) {
#define EMB_TYPE_OFFSET(e, name, block, bytes, extra) \
    case e:                                          \
        return j / (block) * (bytes);
        EMB_TYPE_LIST(EMB_TYPE_OFFSET)
#undef EMB_TYPE_OFFSET
    }
    return 0;
}

static inline __attribute__((always_inline)) size_t emb_row_size(emb_type t, size_t dim)
{
    switch (t) {
#define EMB_TYPE_ROW(e, name, block, bytes, extra) \
    case e:                                       \
        return dim / (block) * (bytes) + (extra);
        EMB_TYPE_LIST(EMB_TYPE_ROW)
#undef EMB_TYPE_ROW
    }
    return 0;
}

/* Which kernel does (op, in, out), or EMB_KERNEL_COUNT for none. */
emb_kernel_id emb_kernel_find(emb_op op, emb_type in, emb_type out);

/* ---- scalar definitions ---------------------------------------------------
 * Bit-level, so they mean the same under any FPU mode and on any ISA. */

static inline float emb_bits_to_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* bfloat16 is the high half of a binary32: widening is a shift, for every
 * one of the 2^16 patterns (NaNs, signalling ones included, unchanged). */
static inline uint32_t emb_bf16_to_f32_bits(uint16_t h) { return (uint32_t)h << 16; }

/* binary16 to binary32, exact. Subnormals become normal; Inf stays Inf; a
 * NaN keeps its sign and payload (shifted into the wider significand) and
 * is quieted, which is what x86 F16C (VCVTPH2PS) and AArch64 FCVTL do with
 * a signalling NaN: one definition that every ISA's hardware meets. */
static inline uint32_t emb_f16_to_f32_bits(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    if (exp == 0x1f)
        return sign | 0x7f800000u | (mant << 13) | (mant != 0 ? 0x00400000u : 0u);
    if (exp != 0)
        return sign | ((exp + 112u) << 23) | (mant << 13);
    if (mant == 0)
        return sign;
    /* Subnormal: 0.mant x 2^-14; normalise into the wider exponent. */
    uint32_t e = 113u;
    while (!(mant & 0x400u)) {
        mant <<= 1;
        e--;
    }
    return sign | (e << 23) | ((mant & 0x3ffu) << 13);
}

static inline float emb_f16_to_f32(uint16_t h) { return emb_bits_to_f32(emb_f16_to_f32_bits(h)); }

/* binary32 to bfloat16, rounded to nearest even; a NaN keeps its sign and
 * the top of its payload and is quieted (as AVX512-BF16's VCVTNEPS2BF16). */
static inline uint16_t emb_f32_to_bf16_bits(uint32_t u)
{
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x0040u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* binary32 to binary16, rounded to nearest even (F16C's VCVTPS2PH with
 * imm 0): past 65520 to Inf, below 2^-14 to a subnormal or 0; a NaN keeps
 * its sign and the top of its payload and is quieted. */
static inline uint16_t emb_f32_to_f16_bits(uint32_t u)
{
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    const uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u)
        return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
    if (a >= 0x477ff000u) /* 65520 and up, Inf: the tie above 65504 goes to even, Inf */
        return (uint16_t)(sign | 0x7c00u);
    if (a >= 0x38800000u) { /* normal: rebias the exponent, round the low 13 bits */
        const uint32_t r = a - 0x38000000u;
        return (uint16_t)(sign | ((r + 0xfffu + ((r >> 13) & 1u)) >> 13));
    }
    if (a < 0x33000000u) /* below 2^-25 (or equal: a tie, to the even 0) */
        return sign;
    /* A subnormal in units of 2^-24: the significand shifted right by
     * 126 - exponent (24 at most), rounded to nearest even; a carry into
     * 0x400 is the smallest normal, encoded right. */
    const uint32_t e = a >> 23, m = (a & 0x7fffffu) | 0x800000u, shift = 126u - e;
    uint32_t q = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (q & 1u)))
        q++;
    return (uint16_t)(sign | q);
}

static inline uint16_t emb_load_u16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline float emb_load_f32(const uint8_t *p)
{
    float v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Quantized blocks: |q| <= 128 needs 8 significand bits and d (an fp16)
 * 11, so q * d has at most 19 and is exact in fp32: one rounding-free
 * multiply, the same on every ISA (the product of 0 and an Inf d is the
 * CPU's default NaN). */
enum { EMB_QBLOCK = 32, EMB_Q8_0_BYTES = 34, EMB_Q4_0_BYTES = 18, EMB_Q8_ROWWISE_EXTRA = 8 };

static inline void emb_q8_0_block_to_f32(float *dst, const uint8_t *block)
{
    const float d = emb_f16_to_f32(emb_load_u16(block));
    for (int j = 0; j < EMB_QBLOCK; j++)
        dst[j] = (float)(int8_t)block[2 + j] * d;
}

static inline void emb_q4_0_block_to_f32(float *dst, const uint8_t *block)
{
    const float d = emb_f16_to_f32(emb_load_u16(block));
    for (int j = 0; j < EMB_QBLOCK / 2; j++) {
        dst[j] = (float)((int)(block[2 + j] & 15) - 8) * d;
        dst[j + EMB_QBLOCK / 2] = (float)((int)(block[2 + j] >> 4) - 8) * d;
    }
}

/* GGML's k-quants, super-blocks of EMB_QK_K elements.
 *
 * q4_K: { fp16 d; fp16 dmin; uint8 scales[12]; uint8 qs[128] }. Sub-block
 * k (elements 32k .. 32k + 31) has a 6-bit scale sc[k] and min m[k], packed
 * into scales[12]: the low 6 bits of bytes 0..3 (sc) and 4..7 (m) for k < 4;
 * for k >= 4 the nibbles of byte k + 4 (low: sc, high: m) below the top two
 * bits of byte k - 4 (sc) and byte k (m). Element l of sub-block k is the
 * low nibble of qs[32(k / 2) + l] for even k, the high one for odd k, and
 * x = (d * sc) * q - dmin * m. d * sc has at most 11 + 6 significand bits,
 * times q (4 bits) at most 21, dmin * m at most 17: every product is exact
 * in fp32, and the subtraction is the one rounding (verify's format lemmas
 * check every case). The operations run in this order on every ISA, so a
 * NaN d and a NaN dmin give d's NaN, the subtraction's first operand (x86
 * and AArch64 both return it), and Inf - Inf the CPU's default NaN. */
enum { EMB_QK_K = 256, EMB_Q4_K_BYTES = 144, EMB_Q6_K_BYTES = 210 };

/* sm[k] = sc[k] and sm[8 + k] = m[k], k = 0..7, from scales[12]. */
static inline void emb_q4_K_scale_mins(uint8_t sm[16], const uint8_t *scales)
{
    for (int k = 0; k < 4; k++) {
        sm[k] = scales[k] & 63;
        sm[8 + k] = scales[k + 4] & 63;
        sm[k + 4] = (uint8_t)((scales[k + 8] & 15) | (scales[k] >> 6) << 4);
        sm[k + 12] = (uint8_t)((scales[k + 8] >> 4) | (scales[k + 4] >> 6) << 4);
    }
}

static inline void emb_q4_K_block_to_f32(float *dst, const uint8_t *block)
{
    const float d = emb_f16_to_f32(emb_load_u16(block));
    const float dmin = emb_f16_to_f32(emb_load_u16(block + 2));
    uint8_t sm[16];
    emb_q4_K_scale_mins(sm, block + 4);
    const uint8_t *qs = block + 16;
    for (int k = 0; k < 8; k++) {
        const float dsc = d * (float)sm[k], mn = dmin * (float)sm[8 + k];
        const int shift = 4 * (k & 1);
        for (int l = 0; l < 32; l++)
            dst[32 * k + l] = dsc * (float)((qs[32 * (k / 2) + l] >> shift) & 15) - mn;
    }
}

/* q6_K: { uint8 ql[128]; uint8 qh[64]; int8 scales[16]; fp16 d }. Element
 * 128n + 32r + l (n < 2, r < 4, l < 32) takes its low four bits from
 * ql[64n + 32(r & 1) + l] (the low nibble for r < 2, the high one for r >=
 * 2) and its high two from bits 2r, 2r + 1 of qh[32n + l]: q = that 6-bit
 * value - 32, in [-32, 31]; its scale is s = scales[8n + 2r + l / 16]; x =
 * (d * s) * q. At most 11 + 7 + 5 significand bits: exact in fp32, in any
 * order (and every order gives the same NaN: d is the only operand that
 * can be one). */
static inline void emb_q6_K_block_to_f32(float *dst, const uint8_t *block)
{
    const float d = emb_f16_to_f32(emb_load_u16(block + 208));
    for (int n = 0; n < 2; n++) {
        const uint8_t *ql = block + 64 * n, *qh = block + 128 + 32 * n;
        const int8_t *sc = (const int8_t *)(block + 192 + 8 * n);
        for (int r = 0; r < 4; r++)
            for (int l = 0; l < 32; l++) {
                const int low4 = (ql[32 * (r & 1) + l] >> (4 * (r >> 1))) & 15;
                const int high2 = (qh[l] >> (2 * r)) & 3;
                const float ds = d * (float)sc[2 * r + l / 16];
                dst[128 * n + 32 * r + l] = ds * (float)((low4 | high2 << 4) - 32);
            }
    }
}

/* FBGEMM's reference computes fma(scale, q, 0 + bias): the same bits but
 * where bias is -0 and the product scale * q is -0 (-0 + -0 = -0 here,
 * -0 + +0 = +0 there). We follow the layout's definition, fmaf(scale, q,
 * bias), rounded once: unlike the other conversions this one may round. */
static inline void emb_q8_rowwise_to_f32(float *dst, const uint8_t *row, size_t dim, size_t j,
                                         size_t count)
{
    const float scale = emb_load_f32(row + dim), bias = emb_load_f32(row + dim + 4);
    for (size_t k = 0; k < count; k++)
        dst[k] = fmaf(scale, (float)row[j + k], bias);
}

/* count fp32 values as f16 or bf16 elements, each rounded to nearest even
 * by the definitions above: the one way back to a 16-bit row (max_norm's
 * rescale, the fused optimizer steps). */
static inline void emb_f32_to_row16(emb_type t, uint8_t *dst, const float *x, size_t count)
{
    for (size_t k = 0; k < count; k++) {
        uint32_t u;
        memcpy(&u, x + k, sizeof u);
        const uint16_t h = t == EMB_F16 ? emb_f32_to_f16_bits(u) : emb_f32_to_bf16_bits(u);
        memcpy(dst + 2 * k, &h, sizeof h);
    }
}

/* One f16 or bf16 element as fp32 bits, never through an FPU register (an
 * x87 load would quiet a signalling NaN that bf16 widening must keep). */
static inline uint32_t emb_elem16_to_f32_bits(emb_type t, const uint8_t *p)
{
    const uint16_t h = emb_load_u16(p);
    return t == EMB_F16 ? emb_f16_to_f32_bits(h) : emb_bf16_to_f32_bits(h);
}

/* Elements [j, j + count) of a row of type t as fp32; j and count are
 * multiples of the type's block. The definition every kernel must equal. */
static inline void emb_row_to_f32(emb_type t, float *dst, const uint8_t *row, size_t dim,
                                  size_t j, size_t count)
{
    switch (t) {
    case EMB_F32:
        memcpy(dst, row + j * 4, count * 4);
        break;
    case EMB_F16:
    case EMB_BF16:
        for (size_t k = 0; k < count; k++) {
            const uint32_t b = emb_elem16_to_f32_bits(t, row + 2 * (j + k));
            memcpy(dst + k, &b, sizeof b);
        }
        break;
    case EMB_Q8_0:
        for (size_t k = 0; k < count; k += EMB_QBLOCK)
            emb_q8_0_block_to_f32(dst + k, row + (j + k) / EMB_QBLOCK * EMB_Q8_0_BYTES);
        break;
    case EMB_Q4_0:
        for (size_t k = 0; k < count; k += EMB_QBLOCK)
            emb_q4_0_block_to_f32(dst + k, row + (j + k) / EMB_QBLOCK * EMB_Q4_0_BYTES);
        break;
    case EMB_Q8_ROWWISE:
        emb_q8_rowwise_to_f32(dst, row, dim, j, count);
        break;
    case EMB_Q4_K:
        for (size_t k = 0; k < count; k += EMB_QK_K)
            emb_q4_K_block_to_f32(dst + k, row + (j + k) / EMB_QK_K * EMB_Q4_K_BYTES);
        break;
    case EMB_Q6_K:
        for (size_t k = 0; k < count; k += EMB_QK_K)
            emb_q6_K_block_to_f32(dst + k, row + (j + k) / EMB_QK_K * EMB_Q6_K_BYTES);
        break;
    }
}

#endif /* EMBSIMD_TYPES_H */
