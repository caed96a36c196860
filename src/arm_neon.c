/* arm_neon.c - the row primitives of AArch64 Advanced SIMD (NEON), from which
 * isa_kernels.h builds every kernel of the list. */
#include "config.h"

#ifdef EMB_HAVE_NEON
#include <arm_neon.h>

#include "internal.h"
#include "row_loops.h"

/* The loops (row_loops.h: several rows in flight, prefetch a few rows
 * ahead within a byte budget) were tuned on x86; they suit current AArch64
 * cores as well, whose memory latency (~100 ns) times one core's bandwidth
 * (20-40 GB/s) is 2-4 KiB, less than the rows they keep coming, so they
 * are shared unchanged. __builtin_prefetch becomes PRFM PLDL1KEEP /
 * PSTL1KEEP here. */

/* The first rem (1..3) floats of p in the low lanes, zero above; nothing
 * beyond p[rem - 1] is read, so a row that ends its allocation is safe.
 * Lane and 64-bit loads are plain moves: the bits arrive unchanged. */
static inline float32x4_t load_first(const float *p, size_t rem)
{
    const float32x2_t zero = vdup_n_f32(0.0f);
    switch (rem) {
    case 1:
        return vld1q_lane_f32(p, vcombine_f32(zero, zero), 0);
    case 2:
        return vcombine_f32(vld1_f32(p), zero);
    default:
        return vld1q_lane_f32(p + 2, vcombine_f32(vld1_f32(p), zero), 2);
    }
}

/* Writes the low rem (1..3) lanes of v to p and nothing else. */
static inline void store_first(float *p, float32x4_t v, size_t rem)
{
    switch (rem) {
    case 1:
        vst1q_lane_f32(p, v, 0);
        break;
    case 2:
        vst1_f32(p, vget_low_f32(v));
        break;
    default:
        vst1_f32(p, vget_low_f32(v));
        vst1q_lane_f32(p + 2, v, 2);
        break;
    }
}

/* Copies r floats, 4k <= r <= 8k, as its first k and last k vectors (they
 * overlap when r < 8k), all loaded before any is stored: up to eight loads
 * in flight, and no store can delay a later load of the same piece through
 * a false address match. LD1/ST1 are moves, never arithmetic, so signalling
 * NaNs and -0 keep their bits, and every byte touched lies in the row. */
static inline __attribute__((always_inline)) void copy_first_last(float *d, const float *s,
                                                                  size_t r, int k)
{
    float32x4_t v[8];
    _Pragma("GCC unroll 4")
    for (int q = 0; q < k; q++) {
        v[q] = vld1q_f32(s + 4 * q);
        v[k + q] = vld1q_f32(s + r - 4 * (size_t)(k - q));
    }
    _Pragma("GCC unroll 4")
    for (int q = 0; q < k; q++) {
        vst1q_f32(d + 4 * q, v[q]);
        vst1q_f32(d + r - 4 * (size_t)(k - q), v[k + q]);
    }
}

/* 4 <= r <= 32 floats. */
static inline void copy_4_to_32(float *d, const float *s, size_t r)
{
    if (r <= 8)
        copy_first_last(d, s, r, 1);
    else if (r <= 16)
        copy_first_last(d, s, r, 2);
    else
        copy_first_last(d, s, r, 4);
}

EMB_ROW_PRIMITIVE void copy_row(float *dst, const float *src, size_t dim)
{
    if (dim < 4) {
        store_first(dst, load_first(src, dim), dim);
        return;
    }
    size_t j = 0;
    /* 128-byte pieces: eight of the 32 vector registers, two cache lines. */
    for (; dim - j > 32; j += 32)
        copy_4_to_32(dst + j, src + j, 32);
    /* A remainder under 4 floats is copied as the row's last 4, rewriting
     * up to 3 already-copied floats with the same bits. */
    if (dim - j < 4)
        j = dim - 4;
    copy_4_to_32(dst + j, src + j, dim - j);
}

EMB_ROW_PRIMITIVE void add_row(float *acc, const float *g, size_t dim)
{
    size_t j = 0;
    /* Vectorised across the dim only: each element gets exactly one fp32
     * add (FADD, never FMLA) per token, in token order, so the bits match
     * scalar; no overlapping vectors here, they would add twice. With
     * FPCR.DN = 0 (Linux's default) a NaN operand propagates its payload,
     * quieted, as on x86. Where both operands are NaN the Arm rule (a
     * signalling NaN first, else the first operand) may pick the other
     * payload than x86, which IEEE 754 allows; the default NaN of an
     * invalid operation (Inf - Inf) is 0x7FC00000 here, 0xFFC00000 on x86. */
    for (; j + 16 <= dim; j += 16) {
        const float32x4_t a = vaddq_f32(vld1q_f32(acc + j), vld1q_f32(g + j));
        const float32x4_t b = vaddq_f32(vld1q_f32(acc + j + 4), vld1q_f32(g + j + 4));
        const float32x4_t c = vaddq_f32(vld1q_f32(acc + j + 8), vld1q_f32(g + j + 8));
        const float32x4_t d = vaddq_f32(vld1q_f32(acc + j + 12), vld1q_f32(g + j + 12));
        vst1q_f32(acc + j, a);
        vst1q_f32(acc + j + 4, b);
        vst1q_f32(acc + j + 8, c);
        vst1q_f32(acc + j + 12, d);
    }
    for (; j + 4 <= dim; j += 4)
        vst1q_f32(acc + j, vaddq_f32(vld1q_f32(acc + j), vld1q_f32(g + j)));
    if (j < dim) {
        /* The zero lanes above rem are added but never stored. */
        const size_t rem = dim - j;
        store_first(acc + j, vaddq_f32(load_first(acc + j, rem), load_first(g + j, rem)), rem);
    }
}

static void ids_minmax_neon(const int32_t *ids, size_t n, int32_t *min, int32_t *max)
{
    /* Two accumulator pairs so consecutive min/max do not wait on each other. */
    int32x4_t lo0 = vdupq_n_s32(ids[0]), hi0 = lo0, lo1 = lo0, hi1 = lo0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const int32x4_t a = vld1q_s32(ids + i), b = vld1q_s32(ids + i + 4);
        lo0 = vminq_s32(lo0, a);
        hi0 = vmaxq_s32(hi0, a);
        lo1 = vminq_s32(lo1, b);
        hi1 = vmaxq_s32(hi1, b);
    }
    int32_t mn = vminvq_s32(vminq_s32(lo0, lo1)), mx = vmaxvq_s32(vmaxq_s32(hi0, hi1));
    for (; i < n; i++) {
        mn = ids[i] < mn ? ids[i] : mn;
        mx = ids[i] > mx ? ids[i] : mx;
    }
    *min = mn;
    *max = mx;
}

/* ---- typed kernels ------------------------------------------------------- */

/* EMB_KF_STREAM gets ordinary stores. GCC's arm_neon.h has no non-temporal
 * store (STNP would need inline assembly, and is only a hint), and the
 * Cortex-A7x/Neoverse cores switch to a no-allocate "write streaming" mode
 * by themselves after a run of full-line stores, which is what the x86
 * streaming store buys. So every kernel passes the same primitive twice. */
EMB_DEFINE_COPY_PRIMITIVES(, copy_row)

EMB_ROW_PRIMITIVE float32x4_t widen4_bf16(const uint8_t *p)
{
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16((const uint16_t *)p), 16));
}

/* FCVTL quiets a signalling NaN and keeps its payload (FPCR.DN = 0, Linux's
 * default), as the scalar definition does. */
EMB_ROW_PRIMITIVE float32x4_t widen4_f16(const uint8_t *p)
{
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)p)));
}

#define WIDEN_PRIMITIVE(name, type, widen4)                                                 \
    EMB_ROW_PRIMITIVE void name(uint8_t *dst, const uint8_t *src, size_t j, size_t count,   \
                                size_t dim)                                                 \
    {                                                                                      \
        float *d = (float *)dst + j;                                                       \
        size_t k = 0;                                                                      \
        for (; k + 4 <= count; k += 4)                                                     \
            vst1q_f32(d + k, widen4(src + 2 * (j + k)));                                   \
        if (k < count)                                                                     \
            emb_row_to_f32(type, d + k, src, dim, j + k, count - k);                       \
    }

WIDEN_PRIMITIVE(widen_bf16, EMB_BF16, widen4_bf16)
WIDEN_PRIMITIVE(widen_f16, EMB_F16, widen4_f16)

/* Sixteen int8 lanes times d into d16[0..15]: FMUL, exact (types.h). */
EMB_ROW_PRIMITIVE void scale16_i8(float *d16, int8x16_t q, float32x4_t vd)
{
    const int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_s8(vget_high_s8(q));
    vst1q_f32(d16, vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))), vd));
    vst1q_f32(d16 + 4, vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_high_s16(lo))), vd));
    vst1q_f32(d16 + 8, vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))), vd));
    vst1q_f32(d16 + 12, vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_high_s16(hi))), vd));
}

EMB_ROW_PRIMITIVE void q8_0(uint8_t *dst, const uint8_t *src, size_t j, size_t count, size_t dim)
{
    (void)dim;
    float *d = (float *)dst + j;
    for (size_t k = 0; k < count; k += EMB_QBLOCK) {
        const uint8_t *block = src + (j + k) / EMB_QBLOCK * EMB_Q8_0_BYTES;
        const float32x4_t vd = vdupq_n_f32(emb_f16_to_f32(emb_load_u16(block)));
        scale16_i8(d + k, vld1q_s8((const int8_t *)(block + 2)), vd);
        scale16_i8(d + k + 16, vld1q_s8((const int8_t *)(block + 18)), vd);
    }
}

EMB_ROW_PRIMITIVE void q4_0(uint8_t *dst, const uint8_t *src, size_t j, size_t count, size_t dim)
{
    (void)dim;
    float *d = (float *)dst + j;
    const uint8x16_t low4 = vdupq_n_u8(15);
    const int8x16_t eight = vdupq_n_s8(8);
    for (size_t k = 0; k < count; k += EMB_QBLOCK) {
        const uint8_t *block = src + (j + k) / EMB_QBLOCK * EMB_Q4_0_BYTES;
        const float32x4_t vd = vdupq_n_f32(emb_f16_to_f32(emb_load_u16(block)));
        const uint8x16_t qs = vld1q_u8(block + 2);
        /* x[j] from the low nibbles, x[j + 16] from the high ones, minus 8. */
        scale16_i8(d + k, vsubq_s8(vreinterpretq_s8_u8(vandq_u8(qs, low4)), eight), vd);
        scale16_i8(d + k + 16, vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(qs, 4)), eight), vd);
    }
}

/* The k-quants super-block by super-block (256 elements): the formula's
 * per-sub-block factors (types.h) formed once per super-block, each
 * element then widened, converted and put through the formula's remaining
 * fp32 operations in the scalar definition's order. */

/* Sixteen uint8 lanes u as (dsc * u) - mn into d16[0..15]: FMUL exact,
 * FSUB the one rounding (never FMLS, which would fuse them). */
EMB_ROW_PRIMITIVE void q4_K_elems16(float *d16, uint8x16_t u, float32x4_t dsc, float32x4_t mn)
{
    const uint16x8_t lo = vmovl_u8(vget_low_u8(u)), hi = vmovl_u8(vget_high_u8(u));
    const uint32x4_t w[4] = {vmovl_u16(vget_low_u16(lo)), vmovl_u16(vget_high_u16(lo)),
                             vmovl_u16(vget_low_u16(hi)), vmovl_u16(vget_high_u16(hi))};
    for (int v = 0; v < 4; v++)
        vst1q_f32(d16 + 4 * v, vsubq_f32(vmulq_f32(dsc, vcvtq_f32_u32(w[v])), mn));
}

EMB_ROW_PRIMITIVE void q4_K(uint8_t *dst, const uint8_t *src, size_t j, size_t count, size_t dim)
{
    (void)dim;
    float *d = (float *)dst + j;
    const uint8x16_t low4 = vdupq_n_u8(15);
    for (size_t k = 0; k < count; k += EMB_QK_K) {
        const uint8_t *block = src + (j + k) / EMB_QK_K * EMB_Q4_K_BYTES;
        const float sd = emb_f16_to_f32(emb_load_u16(block));
        const float smin = emb_f16_to_f32(emb_load_u16(block + 2));
        uint8_t sm[16];
        emb_q4_K_scale_mins(sm, block + 4);
        /* Bytes 32g .. 32g + 31 of qs: sub-block 2g in their low nibbles,
         * 2g + 1 in their high ones. */
        for (int g = 0; g < 4; g++) {
            const uint8_t *qs = block + 16 + 32 * g;
            const float32x4_t dsc_lo = vdupq_n_f32(sd * (float)sm[2 * g]);
            const float32x4_t dsc_hi = vdupq_n_f32(sd * (float)sm[2 * g + 1]);
            const float32x4_t mn_lo = vdupq_n_f32(smin * (float)sm[8 + 2 * g]);
            const float32x4_t mn_hi = vdupq_n_f32(smin * (float)sm[9 + 2 * g]);
            float *o = d + k + 64 * g;
            for (int h = 0; h < 2; h++) {
                const uint8x16_t b = vld1q_u8(qs + 16 * h);
                q4_K_elems16(o + 16 * h, vandq_u8(b, low4), dsc_lo, mn_lo);
                q4_K_elems16(o + 32 + 16 * h, vshrq_n_u8(b, 4), dsc_hi, mn_hi);
            }
        }
    }
}

EMB_ROW_PRIMITIVE void q6_K(uint8_t *dst, const uint8_t *src, size_t j, size_t count, size_t dim)
{
    (void)dim;
    float *d = (float *)dst + j;
    const uint8x16_t low4 = vdupq_n_u8(15), high2 = vdupq_n_u8(0x30);
    const int8x16_t bias = vdupq_n_s8(32);
    for (size_t k = 0; k < count; k += EMB_QK_K) {
        const uint8_t *block = src + (j + k) / EMB_QK_K * EMB_Q6_K_BYTES;
        const float sd = emb_f16_to_f32(emb_load_u16(block + 208));
        const int8_t *scales = (const int8_t *)(block + 192);
        for (int n = 0; n < 2; n++) {
            const uint8_t *ql = block + 64 * n, *qh = block + 128 + 32 * n;
            /* Sixteen elements l = 16h .. 16h + 15 of each r share a scale:
             * their low four bits from ql (half r & 1, nibble r >> 1), the
             * high two from bits 2r, 2r + 1 of qh, moved to bits 4, 5. */
            for (int h = 0; h < 2; h++) {
                const uint8x16_t hb = vld1q_u8(qh + 16 * h);
                const uint8x16_t l0 = vld1q_u8(ql + 16 * h), l1 = vld1q_u8(ql + 32 + 16 * h);
                const uint8x16_t q[4] = {
                    vorrq_u8(vandq_u8(l0, low4), vandq_u8(vshlq_n_u8(hb, 4), high2)),
                    vorrq_u8(vandq_u8(l1, low4), vandq_u8(vshlq_n_u8(hb, 2), high2)),
                    vorrq_u8(vshrq_n_u8(l0, 4), vandq_u8(hb, high2)),
                    vorrq_u8(vshrq_n_u8(l1, 4), vandq_u8(vshrq_n_u8(hb, 2), high2))};
                /* Unrolled, so that q[] stays in registers. */
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++) {
                    const float32x4_t ds = vdupq_n_f32(sd * (float)scales[8 * n + 2 * r + h]);
                    scale16_i8(d + k + 128 * n + 32 * r + 16 * h,
                               vsubq_s8(vreinterpretq_s8_u8(q[r]), bias), ds);
                }
            }
        }
    }
}

/* fmaf(scale, q, bias) four at a time: FMLA rounds once, as fmaf does. */
EMB_ROW_PRIMITIVE void q8_rowwise(uint8_t *dst, const uint8_t *src, size_t j, size_t count,
                                  size_t dim)
{
    float *d = (float *)dst + j;
    const float32x4_t scale = vdupq_n_f32(emb_load_f32(src + dim));
    const float32x4_t bias = vdupq_n_f32(emb_load_f32(src + dim + 4));
    size_t k = 0;
    for (; k + 8 <= count; k += 8) {
        const uint16x8_t q = vmovl_u8(vld1_u8(src + j + k));
        const float32x4_t a = vcvtq_f32_u32(vmovl_u16(vget_low_u16(q)));
        const float32x4_t b = vcvtq_f32_u32(vmovl_u16(vget_high_u16(q)));
        vst1q_f32(d + k, vfmaq_f32(bias, scale, a));
        vst1q_f32(d + k + 4, vfmaq_f32(bias, scale, b));
    }
    if (k < count)
        emb_q8_rowwise_to_f32(d + k, src, dim, j + k, count - k);
}

EMB_DEFINE_ADD_PRIMITIVE(add_row)

#define ADD_WIDENED(name, type, widen4)                                                     \
    EMB_ROW_PRIMITIVE void name(float *acc, const uint8_t *g, size_t j, size_t count,       \
                                size_t dim)                                                 \
    {                                                                                      \
        float *a = acc + j;                                                                \
        size_t k = 0;                                                                      \
        for (; k + 4 <= count; k += 4)                                                     \
            vst1q_f32(a + k, vaddq_f32(vld1q_f32(a + k), widen4(g + 2 * (j + k))));         \
        (void)dim; /* 16-bit rows have nothing after their elements */                     \
        for (; k < count; k++)                                                             \
            a[k] += emb_bits_to_f32(emb_elem16_to_f32_bits(type, g + 2 * (j + k)));         \
    }

/* GCC 12's false positive on the tail loop inlined into the fused lookup
 * of q8_0 and q4_0 tables (x86_avx2.c says more), silenced here only. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Waggressive-loop-optimizations"
ADD_WIDENED(add_bf16, EMB_BF16, widen4_bf16)
ADD_WIDENED(add_f16, EMB_F16, widen4_f16)
#pragma GCC diagnostic pop

static inline void no_fence(void) {}

/* The bag ops (bag_loops.h): fmaf four at a time, FMLA rounding once. */
EMB_ROW_PRIMITIVE void fma_floats(float *acc, const float *x, float w, size_t count)
{
    const float32x4_t wv = vdupq_n_f32(w);
    size_t k = 0;
    for (; k + 4 <= count; k += 4)
        vst1q_f32(acc + k, vfmaq_f32(vld1q_f32(acc + k), wv, vld1q_f32(x + k)));
    for (; k < count; k++)
        acc[k] = fmaf(w, x[k], acc[k]);
}

/* The fused positional lookup's f32 rows: dst[k] = a[k] + b[k]. The same
 * false positive as ADD_WIDENED's below on its tail, inlined into the
 * fused lookup, silenced here only. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Waggressive-loop-optimizations"
EMB_ROW_PRIMITIVE void add_rows(float *dst, const float *a, const float *b, size_t count)
{
    size_t k = 0;
    for (; k + 4 <= count; k += 4)
        vst1q_f32(dst + k, vaddq_f32(vld1q_f32(a + k), vld1q_f32(b + k)));
    for (; k < count; k++)
        dst[k] = a[k] + b[k];
}
#pragma GCC diagnostic pop

/* The fused positional gradient: one load of g for both rows' adds. */
EMB_ROW_PRIMITIVE void add_both(float *a, float *b, const float *g, size_t count)
{
    size_t k = 0;
    for (; k + 4 <= count; k += 4) {
        const float32x4_t x = vld1q_f32(g + k);
        vst1q_f32(a + k, vaddq_f32(vld1q_f32(a + k), x));
        vst1q_f32(b + k, vaddq_f32(vld1q_f32(b + k), x));
    }
    for (; k < count; k++) {
        a[k] += g[k];
        b[k] += g[k];
    }
}

/* ---- the map of primitives: every kernel of the list from them ----------- */
/* No streaming stores here (see copy_row): each primitive serves both
 * kinds of store, and nothing needs a fence. */
#define EMB_ISA_NAME emb_kernels_neon
#define EMB_ISA_IDS_MINMAX ids_minmax_neon
#define EMB_ISA_FENCE no_fence
#define EMB_ISA_STREAM_ALIGN 1
#define EMB_ISA_FMA fma_floats
#define EMB_ISA_ADD_BOTH add_both
#define EMB_ISA_ADD_ROWS add_rows
#define EMB_ISA_ADD_ROWS_STREAM add_rows
#define EMB_ISA_COPY16 copy_16
#define EMB_ISA_COPY16_STREAM copy_16
/* type: convert, convert_stream, add, attrs, needs (isa_kernels.h) */
#define EMB_ISA_EMB_F32 (copy_f32, copy_f32, add_f32, , 0)
#define EMB_ISA_EMB_F16 (widen_f16, widen_f16, add_f16, , 0)
#define EMB_ISA_EMB_BF16 (widen_bf16, widen_bf16, add_bf16, , 0)
#define EMB_ISA_EMB_Q8_0 (q8_0, q8_0, NULL, , 0)
#define EMB_ISA_EMB_Q4_0 (q4_0, q4_0, NULL, , 0)
#define EMB_ISA_EMB_Q8_ROWWISE (q8_rowwise, q8_rowwise, NULL, , 0)
#define EMB_ISA_EMB_Q4_K (q4_K, q4_K, NULL, , 0)
#define EMB_ISA_EMB_Q6_K (q6_K, q6_K, NULL, , 0)
#define EMB_ISA_POS_ATTRS
#define EMB_ISA_POS_NEEDS 0
#define EMB_ISA_OWN(X)
/* A bag's sum in registers: 8 vectors of 8 floats, 16 of the 32 q
 * registers (the loads need their own). */
#define EMB_BAG_VEC_FLOATS 8
#define EMB_BAG_REG_VECS 8
#include "isa_kernels.h"
#endif /* EMB_HAVE_NEON */
