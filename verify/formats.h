/* formats.h - the verifier's own model of every element type: the layout of
 * a row and its value in fp32 (to_f32), written from the formats'
 * definitions (IEEE 754 binary16, bfloat16, GGML q8_0/q4_0/q4_K/q6_K,
 * FBGEMM fused 8-bit row-wise) and never from the library's code, so that
 * the two are compared rather than one copied into the other. Header-only: the fuzzer
 * uses it too. */
#ifndef EMBSIMD_VERIFY_FORMATS_H
#define EMBSIMD_VERIFY_FORMATS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "embsimd.h"
#include "ieee.h"

/* The layout of a type: a row of dim elements is dim / block blocks of
 * block_bytes each, then row_extra bytes. elem_bits is the width of one
 * element of an element type (block 1, no extra), 0 for the others.
 * A blocked type's fp16 scales: n_scales of them per block, at the byte
 * offsets scale_at (for the generators, which give them chosen values). */
typedef struct vf_format {
    int64_t block;
    size_t block_bytes, row_extra;
    int elem_bits;
    int n_scales;
    size_t scale_at[2];
} vf_format;

/* 1 and the layout when the model knows type t; 0 for a type it has never
 * been taught (a new emb_type: the verifier reports it rather than guess). */
static inline int vf_format_of(emb_type t, vf_format *f)
{
    switch (t) {
    case EMB_F32: *f = (vf_format){1, 4, 0, 32, 0, {0, 0}}; return 1;
    case EMB_F16: *f = (vf_format){1, 2, 0, 16, 0, {0, 0}}; return 1;
    case EMB_BF16: *f = (vf_format){1, 2, 0, 16, 0, {0, 0}}; return 1;
    /* GGML: { ggml_fp16_t d; int8_t qs[32]; } and { ggml_fp16_t d; uint8_t qs[16]; } */
    case EMB_Q8_0: *f = (vf_format){32, 34, 0, 0, 1, {0, 0}}; return 1;
    case EMB_Q4_0: *f = (vf_format){32, 18, 0, 0, 1, {0, 0}}; return 1;
    /* FBGEMM fused 8-bit row-wise: dim uint8, then float scale, float bias */
    case EMB_Q8_ROWWISE: *f = (vf_format){1, 1, 8, 0, 0, {0, 0}}; return 1;
    /* GGML's super-blocks of QK_K = 256: { ggml_half d, dmin; uint8_t
     * scales[12]; uint8_t qs[128]; } and { uint8_t ql[128]; uint8_t
     * qh[64]; int8_t scales[16]; ggml_half d; } */
    case EMB_Q4_K: *f = (vf_format){256, 144, 0, 0, 2, {0, 2}}; return 1;
    case EMB_Q6_K: *f = (vf_format){256, 210, 0, 0, 1, {208, 0}}; return 1;
    }
    return 0;
}

static inline int vf_format_known(emb_type t)
{
    vf_format f;
    return vf_format_of(t, &f);
}

/* Bytes of a row of dim elements; 0 when dim is not valid for t (or t is
 * unknown). Only for the small dims the verifier builds: no overflow care. */
static inline size_t vf_format_row_bytes(emb_type t, int64_t dim)
{
    vf_format f;
    if (!vf_format_of(t, &f) || dim <= 0 || dim % f.block != 0)
        return 0;
    return (size_t)(dim / f.block) * f.block_bytes + f.row_extra;
}

static inline uint16_t vf_le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static inline uint32_t vf_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline float vf_float_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* 2^k for -126 <= k <= 127, exactly. */
static inline float vf_pow2(int k) { return vf_float_of((uint32_t)(k + 127) << 23); }

/* binary16 -> binary32. A finite binary16 is an integer below 2^11 times a
 * power of two (m x 2^-24 when subnormal, (1024 + m) x 2^(e-25) when
 * normal), so its value is that product, formed in binary32 where it is
 * exact (and normal), not by moving the fraction bits. Inf stays Inf. A
 * NaN keeps its sign and payload (the 10 fraction bits become the top of
 * binary32's 23) and is quieted: the library documents that choice, which
 * F16C's VCVTPH2PS and AArch64's FCVT make. */
static inline uint32_t vf_f16_to_f32(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h >> 15) << 31;
    const int e = (h >> 10) & 31;
    const uint32_t m = h & 1023u;
    if (e == 31)
        return sign | VF_EXP | (m << 13) | (m != 0 ? VF_QUIET : 0u);
    const float mag = e == 0 ? (float)m * vf_pow2(-24) : (float)(1024u + m) * vf_pow2(e - 25);
    return sign | vf_bits(mag);
}

/* bfloat16 is defined as the high half of a binary32: every pattern,
 * signalling NaNs included, widens unchanged. */
static inline uint32_t vf_bf16_to_f32(uint16_t h) { return (uint32_t)h << 16; }

/* q * d for an integer |q| <= 128 and an fp32 d (a binary16 scale, or a
 * k-quant's scale times its 6-bit factor), as IEEE 754 defines the product:
 * formed in double, where it is exact (at most 8 + 24 significant bits),
 * then narrowed: the correctly rounded fp32 product, exact for the
 * formats' products (format_lemmas.c).
 * The non-finite cases are IEEE's rules, not a multiplier's: NaN d gives d
 * (already quiet from widening), Inf d gives a signed Inf, or for q = 0
 * the invalid operation's default NaN of the CPU at hand (dn). */
static inline uint32_t vf_q_times_d(int q, uint32_t d, uint32_t dn)
{
    if (vf_is_nan(d))
        return vf_quiet(d);
    if (vf_is_inf(d))
        return q == 0 ? dn : (d ^ (q < 0 ? VF_SIGN : 0u));
    return vf_bits((float)((double)q * (double)vf_float_of(d)));
}

/* a - b as IEEE 754 defines it, the operands already rounded fp32 values:
 * a NaN operand is returned (the first where both are: x86 and AArch64 both
 * do so, and the library computes q4_K's difference in one order on every
 * ISA), Inf - Inf of one sign is the default NaN dn; otherwise the
 * difference formed in double and narrowed, which is the correctly rounded
 * fp32 difference (53 >= 2 x 24 + 2 bits: the two roundings cannot differ
 * from one), independent of this CPU's fp32 subtraction. */
static inline uint32_t vf_sub_model(uint32_t a, uint32_t b, uint32_t dn)
{
    if (vf_is_nan(a))
        return vf_quiet(a);
    if (vf_is_nan(b))
        return vf_quiet(b);
    if (vf_is_inf(a) && vf_is_inf(b))
        return (a ^ b) & VF_SIGN ? a : dn;
    if (vf_is_inf(a))
        return a;
    if (vf_is_inf(b))
        return b ^ VF_SIGN;
    return vf_bits((float)((double)vf_float_of(a) - (double)vf_float_of(b)));
}

/* q4_K's 6-bit scale (which = 0) or min (which = 1) of sub-block k, from
 * the 12 packed bytes: the low six bits of byte k (scale) or k + 4 (min)
 * for k < 4; for k >= 4 a nibble of byte k + 4 (low: scale, high: min)
 * under the top two bits of byte k - 4 (scale) or k (min). */
static inline int vf_q4_K_six(const uint8_t *scales, int k, int which)
{
    if (k < 4)
        return scales[k + 4 * which] & 63;
    const int nib = which ? scales[k + 4] >> 4 : scales[k + 4] & 15;
    return nib | (scales[k - 4 + 4 * which] >> 6) << 4;
}

/* Element j of a row of type t (dim elements) in fp32, as bits. */
static inline uint32_t vf_model_elem(emb_type t, const uint8_t *row, int64_t dim, int64_t j,
                                     uint32_t dn)
{
    switch (t) {
    case EMB_F32: return vf_le32(row + 4 * j);
    case EMB_F16: return vf_f16_to_f32(vf_le16(row + 2 * j));
    case EMB_BF16: return vf_bf16_to_f32(vf_le16(row + 2 * j));
    case EMB_Q8_0: {
        const uint8_t *b = row + j / 32 * 34;
        return vf_q_times_d((int)(int8_t)b[2 + j % 32], vf_f16_to_f32(vf_le16(b)), dn);
    }
    case EMB_Q4_0: {
        /* Element k < 16 of a block is the low nibble of qs[k], element
         * k + 16 the high one; both biased by 8. */
        const uint8_t *b = row + j / 32 * 18;
        const int k = (int)(j % 32);
        const int nib = k < 16 ? b[2 + k] & 15 : b[2 + k - 16] >> 4;
        return vf_q_times_d(nib - 8, vf_f16_to_f32(vf_le16(b)), dn);
    }
    case EMB_Q8_ROWWISE: {
        /* x = fmaf(scale, q, bias): one rounding; C's fmaf is the reference. */
        const float scale = vf_float_of(vf_le32(row + dim)), bias = vf_float_of(vf_le32(row + dim + 4));
        return vf_bits(fmaf(scale, (float)row[j], bias));
    }
    case EMB_Q4_K: {
        /* x = (d * sc) * q - dmin * m, each product by IEEE's rules (exact
         * when finite: format_lemmas.c), the difference rounded once. */
        const uint8_t *b = row + j / 256 * 144;
        const int i = (int)(j % 256), k = i / 32, l = i % 32;
        const int q = (b[16 + 32 * (k / 2) + l] >> (k % 2 ? 4 : 0)) & 15;
        const uint32_t dsc = vf_q_times_d(vf_q4_K_six(b + 4, k, 0), vf_f16_to_f32(vf_le16(b)), dn);
        const uint32_t mn = vf_q_times_d(vf_q4_K_six(b + 4, k, 1), vf_f16_to_f32(vf_le16(b + 2)), dn);
        return vf_sub_model(vf_q_times_d(q, dsc, dn), mn, dn);
    }
    case EMB_Q6_K: {
        /* x = (d * s) * q with q = 6 bits - 32: exact when finite. */
        const uint8_t *b = row + j / 256 * 210;
        const int i = (int)(j % 256), n = i / 128, r = i % 128 / 32, l = i % 32;
        const int lo = b[64 * n + 32 * (r % 2) + l] >> (r / 2 * 4) & 15;
        const int hi = b[128 + 32 * n + l] >> (2 * r) & 3;
        const int s = (int)(int8_t)b[192 + 8 * n + 2 * r + l / 16];
        return vf_q_times_d((lo | hi << 4) - 32, vf_q_times_d(s, vf_f16_to_f32(vf_le16(b + 208)), dn), dn);
    }
    }
    return 0;
}

/* Sets element j's quant of a row of quantized type t to the code whose
 * value is 0 (the int8 0 of q8_0, the nibble 8 of q4_0, the nibble 0 of
 * q4_K, the 6-bit 32 of q6_K, the byte 0 of q8_rowwise): with an Inf
 * scale, 0 x Inf. Nothing for the other types. */
static inline void vf_zero_quant(emb_type t, uint8_t *row, int64_t j)
{
    switch (t) {
    case EMB_Q8_0:
        row[j / 32 * 34 + 2 + j % 32] = 0;
        break;
    case EMB_Q4_0: {
        uint8_t *q = row + j / 32 * 18 + 2 + j % 16;
        *q = j % 32 < 16 ? (uint8_t)((*q & 0xF0) | 8) : (uint8_t)((*q & 0x0F) | 0x80);
        break;
    }
    case EMB_Q4_K: {
        const int i = (int)(j % 256), k = i / 32;
        uint8_t *q = row + j / 256 * 144 + 16 + 32 * (k / 2) + i % 32;
        *q &= k % 2 ? 0x0F : 0xF0;
        break;
    }
    case EMB_Q6_K: {
        const int i = (int)(j % 256), n = i / 128, r = i % 128 / 32, l = i % 32;
        uint8_t *b = row + j / 256 * 210;
        b[64 * n + 32 * (r % 2) + l] &= r / 2 ? 0x0F : 0xF0;
        b[128 + 32 * n + l] = (uint8_t)((b[128 + 32 * n + l] & ~(3 << (2 * r))) | 2 << (2 * r));
        break;
    }
    case EMB_Q8_ROWWISE:
        row[j] = 0;
        break;
    case EMB_F32:
    case EMB_F16:
    case EMB_BF16:
        break;
    }
}

/* A whole row, elements [0, dim), into dst. */
static inline void vf_model_row(emb_type t, const uint8_t *row, int64_t dim, uint32_t dn,
                                float *dst)
{
    for (int64_t j = 0; j < dim; j++) {
        const uint32_t u = vf_model_elem(t, row, dim, j, dn);
        memcpy(dst + j, &u, sizeof u);
    }
}

/* ---- narrowing, for building inputs --------------------------------------
 * Class-preserving maps from a binary32 pattern to one of a 16-bit type:
 * zeros stay zeros of the same sign, subnormals subnormal, normals normal,
 * Inf Inf, a quiet NaN quiet and a signalling one signalling (with a
 * non-zero payload). Not a rounding conversion: a way to give the 16-bit
 * types the same kinds of tables (finite, random bits, adversarial columns)
 * as fp32. */
static inline uint16_t vf_narrow_f16(uint32_t u)
{
    const uint16_t sign = (uint16_t)(u >> 16 & 0x8000u);
    const int e = (int)(u >> 23 & 0xFF);
    const uint32_t m = u & 0x7FFFFFu;
    if (e == 0xFF) {
        if (m == 0)
            return sign | 0x7C00u;
        uint16_t f = (uint16_t)(m >> 13);
        if ((f & 0x3FFu) == 0)
            f = 1u; /* a signalling NaN needs a payload */
        return sign | 0x7C00u | (f & 0x3FFu);
    }
    if (e == 0)
        return m == 0 ? sign : (uint16_t)(sign | ((m >> 13) ? (m >> 13) : 1u));
    int e16 = e - 127 + 15;
    e16 = e16 < 1 ? 1 : e16 > 30 ? 30 : e16;
    return (uint16_t)(sign | (uint16_t)(e16 << 10) | (uint16_t)(m >> 13));
}

static inline uint16_t vf_narrow_bf16(uint32_t u)
{
    uint16_t h = (uint16_t)(u >> 16);
    const int e = (int)(u >> 23 & 0xFF);
    /* A NaN or subnormal whose fraction lived in the low half only. */
    if ((e == 0xFF || e == 0) && (u & 0x7FFFFFu) != 0 && (h & 0x7Fu) == 0)
        h |= 1u;
    return h;
}

#endif /* EMBSIMD_VERIFY_FORMATS_H */
