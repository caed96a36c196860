/* x86_avx2.c - lookup and gradient kernels for AVX2 (built with -mavx2 -mfma;
 * FMA serves q8_rowwise's dequantization, which is defined as one fused
 * multiply-add; F16C, where the CPU has it, the f16 kernels). */
#include "config.h"

#ifdef EMB_HAVE_AVX2
#include <immintrin.h>

/* The lookups' rows in flight cut their pieces at the output's lines
 * (row_loops.h, emb_out_line_lead): then this file's YMM stores after a
 * row's first piece start on 32-byte boundaries. Not the gradient's: cut
 * there, the f16 gradient into a table at 16 mod 64 took 1.07-1.11x the
 * time (its pieces' four-element tails by the scalar definition), and a
 * vector step for them changed how GCC laid out the loops the widening add
 * is inlined into: the gate counted 4.0-12.9 % more instructions for the
 * 16-bit gradients at 1000 x 64 x 512, where no tail runs, with the step
 * inline, and 2.6 % more for bf16 with the tail out of line. */
#define EMB_PIECES_AT_LINES EMB_CUT_LOOKUPS
#include "internal.h"
#include "row_loops.h"
#include "x86_copy.h"
#include "x86_quant.h"

/* maskload/maskstore take a per-lane sign-bit mask; a sliding window over
 * this array gives the first `rem` lanes for rem in [0, 8]. */
static const int32_t tail_window[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

static inline __m256i tail_mask(size_t rem)
{
    return _mm256_loadu_si256((const __m256i *)(tail_window + 8 - rem));
}

/* 256-bit moves, 64-float pieces (x86_copy.h). */
EMB_X86_DEFINE_ROW_COPY(copy_row_8, __m256, _mm256_loadu_ps, _mm256_storeu_ps, 8, 4)

EMB_ROW_PRIMITIVE void copy_row(float *dst, const float *src, size_t dim)
{
    if (dim < 8) {
        /* Masked lanes are neither read nor written: no access past the
         * row's end, even when it ends the allocation. */
        const __m256i m = tail_mask(dim);
        _mm256_maskstore_ps(dst, m, _mm256_maskload_ps(src, m));
        return;
    }
    copy_row_8(dst, src, dim);
}

/* The last count < 8 floats of dst = a (+ b) under a mask (x86_copy.h). */
EMB_ROW_PRIMITIVE void rows_tail(float *dst, const float *a, const float *b, size_t count)
{
    const __m256i m = tail_mask(count);
    __m256 v = _mm256_maskload_ps(a, m);
    if (b != NULL)
        v = _mm256_add_ps(v, _mm256_maskload_ps(b, m));
    _mm256_maskstore_ps(dst, m, v);
}

/* dst[k] = a[k] + b[k]: the fused positional lookup's f32 rows. */
EMB_ROW_PRIMITIVE void add_rows(float *dst, const float *a, const float *b, size_t count)
{
    emb_x86_add_rows(dst, a, b, count, rows_tail);
}

/* Streaming from a 16-byte boundary (x86_copy.h says why). */
EMB_X86_DEFINE_STREAM_ROWS()

EMB_ROW_PRIMITIVE void add_row(float *acc, const float *g, size_t dim)
{
    size_t j = 0;
    /* Vectorised across the dim only: each element still gets exactly one
     * fp32 add per token, in token order, so the bits match scalar. */
    for (; j + 16 <= dim; j += 16) {
        const __m256 a = _mm256_add_ps(_mm256_loadu_ps(acc + j), _mm256_loadu_ps(g + j));
        const __m256 b = _mm256_add_ps(_mm256_loadu_ps(acc + j + 8), _mm256_loadu_ps(g + j + 8));
        _mm256_storeu_ps(acc + j, a);
        _mm256_storeu_ps(acc + j + 8, b);
    }
    for (; j + 8 <= dim; j += 8)
        _mm256_storeu_ps(acc + j, _mm256_add_ps(_mm256_loadu_ps(acc + j), _mm256_loadu_ps(g + j)));
    if (j < dim) {
        const __m256i m = tail_mask(dim - j);
        const __m256 s = _mm256_add_ps(_mm256_maskload_ps(acc + j, m), _mm256_maskload_ps(g + j, m));
        _mm256_maskstore_ps(acc + j, m, s);
    }
}

static void ids_minmax_avx2(const int32_t *ids, size_t n, int32_t *min, int32_t *max)
{
    __m256i lo = _mm256_set1_epi32(ids[0]), hi = lo;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(ids + i));
        lo = _mm256_min_epi32(lo, v);
        hi = _mm256_max_epi32(hi, v);
    }
    int32_t l[8], h[8];
    _mm256_storeu_si256((__m256i *)l, lo);
    _mm256_storeu_si256((__m256i *)h, hi);
    int32_t mn = l[0], mx = h[0];
    for (int k = 1; k < 8; k++) {
        mn = l[k] < mn ? l[k] : mn;
        mx = h[k] > mx ? h[k] : mx;
    }
    for (; i < n; i++) {
        mn = ids[i] < mn ? ids[i] : mn;
        mx = ids[i] > mx ? ids[i] : mx;
    }
    *min = mn;
    *max = mx;
}

/* ---- typed kernels ------------------------------------------------------- */

EMB_DEFINE_COPY_PRIMITIVES(, copy_row)
EMB_DEFINE_COPY_PRIMITIVES(_stream, copy_row_stream)

/* Widening and dequantizing primitives: eight elements per vector, the
 * piece's few last ones by the scalar definition (types.h). The 16-bit
 * widening and q8_rowwise stream wherever the piece's destination is
 * 16-byte aligned, as the row copy does (x86_copy.h says why): one XMM to
 * reach a 32-byte boundary, YMMs, one XMM of four at the end, so the
 * lines a row shares with its neighbours are streamed too; the blocked
 * types only where it is 32-byte aligned (their vectors sit where their
 * blocks put them). Into an output at 16 mod 64 bytes (what
 * malloc gives a large block) half the YMM stores of the 16-bit widening
 * and q8_rowwise write two lines. One XMM first, where a piece is 16 mod
 * 32, brought them to the aligned speed (0.78-0.94x the time at 1000 x 64
 * and x 768 x 512; Intel Xeon, family 6 model 167, 2026-12-06), but its
 * test, made per row, ran 29-33 % more instructions on aligned 64-float
 * rows (the regression gate allows 2 %): it needs a choice made once per
 * call, a path of its own. */

EMB_ROW_PRIMITIVE __m256 widen8_bf16(const uint8_t *p)
{
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

/* Four elements (eight bytes): a piece's tail of four or more after its
 * vectors, which the rows in flight leave at both ends of a row whose
 * pieces are cut at the output's lines (16 mod 64 bytes: four floats).
 * Inside the tail's test, so whole vectors meet no test more. */
EMB_ROW_PRIMITIVE __m128 widen4_bf16(const uint8_t *p)
{
    const __m128i w = _mm_cvtepu16_epi32(_mm_loadl_epi64((const __m128i *)p));
    return _mm_castsi128_ps(_mm_slli_epi32(w, 16));
}

#define WIDEN_PRIMITIVE(attrs, name, type, elem_bytes, widen8, widen4)                      \
    static attrs __attribute__((always_inline)) inline void name##_s(                       \
        uint8_t *dst, const uint8_t *src, size_t j, size_t count, size_t dim, int stream)    \
    {                                                                                      \
        float *d = (float *)dst + j;                                                       \
        const uint8_t *s = src + (elem_bytes) * j;                                          \
        size_t k = 0;                                                                      \
        if (stream && ((uintptr_t)d & 31) != 0 && count >= 4) {                            \
            _mm_stream_ps(d, widen4(s));                                                   \
            k = 4;                                                                         \
        }                                                                                  \
        for (; k + 8 <= count; k += 8)                                                     \
            EMB_X86_STORE8(stream, d + k, widen8(s + (elem_bytes) * k));                   \
        if (k < count) { /* the four-element step inside: no test more on whole vectors */ \
            if (k + 4 <= count) {                                                          \
                EMB_X86_STORE4(stream, d + k, widen4(s + (elem_bytes) * k));               \
                k += 4;                                                                    \
            }                                                                              \
            if (k < count)                                                                 \
                emb_row_to_f32(type, d + k, src, dim, j + k, count - k);                   \
        }                                                                                  \
    }                                                                                      \
    EMB_DEFINE_STREAM_PAIR(attrs, name, 16)

#define F16C __attribute__((target("f16c")))

EMB_ROW_PRIMITIVE F16C __m256 widen8_f16(const uint8_t *p)
{
    /* VCVTPH2PS quiets a signalling NaN and keeps its payload, as the
     * scalar definition does; it ignores MXCSR.DAZ for its fp16 inputs. */
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

EMB_ROW_PRIMITIVE F16C __m128 widen4_f16(const uint8_t *p)
{
    return _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)p));
}

WIDEN_PRIMITIVE(, widen_bf16, EMB_BF16, 2, widen8_bf16, widen4_bf16)
WIDEN_PRIMITIVE(F16C, widen_f16, EMB_F16, 2, widen8_f16, widen4_f16)

/* q8_0 and q4_0 go block by block: the scale d is one VCVTPH2PS and one
 * broadcast per 32 elements (exact, and equal to the scalar definition for
 * every fp16 pattern, as for the f16 kernels); the quants are widened
 * straight from memory, 8 per VPMOVSXBD / VPMOVZXBD, so that no shuffle
 * splits a 16-byte load first. */
EMB_ROW_PRIMITIVE F16C __m256 block_scale(const uint8_t *block)
{
    return _mm256_broadcastss_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(emb_load_u16(block))));
}

/* 8 int32 lanes times d */
EMB_ROW_PRIMITIVE __m256 scale8_i32(__m256i q, __m256 d)
{
    return _mm256_mul_ps(_mm256_cvtepi32_ps(q), d);
}

EMB_ROW_PRIMITIVE F16C void q8_0_s(uint8_t *dst, const uint8_t *src, size_t j, size_t count,
                                   size_t dim, int stream)
{
    (void)dim;
    float *d = (float *)dst + j;
    for (size_t k = 0; k < count; k += EMB_QBLOCK) {
        const uint8_t *block = src + (j + k) / EMB_QBLOCK * EMB_Q8_0_BYTES;
        const __m256 vd = block_scale(block);
        for (int h = 0; h < 4; h++) {
            const __m128i q = _mm_loadl_epi64((const __m128i *)(block + 2 + 8 * h));
            EMB_X86_STORE8(stream, d + k + 8 * h, scale8_i32(_mm256_cvtepi8_epi32(q), vd));
        }
    }
}

EMB_ROW_PRIMITIVE F16C void q4_0_s(uint8_t *dst, const uint8_t *src, size_t j, size_t count,
                                   size_t dim, int stream)
{
    (void)dim;
    float *d = (float *)dst + j;
    const __m256i low4 = _mm256_set1_epi32(15), eight = _mm256_set1_epi32(8);
    for (size_t k = 0; k < count; k += EMB_QBLOCK) {
        const uint8_t *block = src + (j + k) / EMB_QBLOCK * EMB_Q4_0_BYTES;
        const __m256 vd = block_scale(block);
        /* qs[0..7] and qs[8..15] as int32: x[j] from the low nibble, x[j + 16]
         * from the high one, each minus 8 (in [-8, 7]). */
        for (int h = 0; h < 2; h++) {
            const __m256i qs =
                _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(block + 2 + 8 * h)));
            const __m256i lo = _mm256_sub_epi32(_mm256_and_si256(qs, low4), eight);
            const __m256i hi = _mm256_sub_epi32(_mm256_srli_epi32(qs, 4), eight);
            EMB_X86_STORE8(stream, d + k + 8 * h, scale8_i32(lo, vd));
            EMB_X86_STORE8(stream, d + k + 16 + 8 * h, scale8_i32(hi, vd));
        }
    }
}

EMB_X86_DEFINE_Q8_ROWWISE(_mm256_fmadd_ps)

/* The k-quants super-block by super-block (256 elements). The fp16 scales
 * go through VCVTPH2PS as q4_0's d does; the per-sub-block factors of the
 * formula (types.h) are formed once per super-block, eight lanes at a
 * time, and broadcast from there: each element then costs the widening of
 * its quant, one convert, and the formula's remaining one or two fp32
 * operations, in the scalar definition's order. q4_K's scales and mins
 * and q6_K's quants are unpacked by x86_quant.h. */

/* q4_K: dm[k] = d * sc[k] and dm[8 + k] = dmin * m[k], k = 0..7 (exact). */
EMB_ROW_PRIMITIVE F16C void q4_K_factors(float dm[16], const uint8_t *block)
{
    uint32_t both;
    memcpy(&both, block, sizeof both);
    const __m128 h = _mm_cvtph_ps(_mm_cvtsi32_si128((int)both)); /* d, dmin, 0, 0 */
    const __m128i q = q4_K_unpack(block + 4);
    const __m256 sc = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(q));
    const __m256 m = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(q, 8)));
    _mm256_storeu_ps(dm, _mm256_mul_ps(_mm256_broadcastss_ps(h), sc));
    _mm256_storeu_ps(dm + 8, _mm256_mul_ps(_mm256_broadcastss_ps(_mm_movehdup_ps(h)), m));
}

/* (d * sc) * q - dmin * m for 8 int32 quants: the multiply is exact, the
 * subtraction the one rounding (VSUBPS: an unfused op, like the scalar). */
EMB_ROW_PRIMITIVE __m256 q4_K_elems8(__m256i q, __m256 dsc, __m256 mn)
{
    return _mm256_sub_ps(_mm256_mul_ps(dsc, _mm256_cvtepi32_ps(q)), mn);
}

EMB_ROW_PRIMITIVE F16C void q4_K_s(uint8_t *dst, const uint8_t *src, size_t j, size_t count,
                                   size_t dim, int stream)
{
    (void)dim;
    float *d = (float *)dst + j;
    const __m256i low4 = _mm256_set1_epi32(15);
    for (size_t k = 0; k < count; k += EMB_QK_K) {
        const uint8_t *block = src + (j + k) / EMB_QK_K * EMB_Q4_K_BYTES;
        float dm[16];
        q4_K_factors(dm, block);
        /* Bytes 32g .. 32g + 31 of qs hold sub-block 2g in their low
         * nibbles and 2g + 1 in their high ones: eight bytes widened
         * straight from memory give eight elements of each. */
        for (int g = 0; g < 4; g++) {
            const uint8_t *qs = block + 16 + 32 * g;
            const __m256 dsc_lo = _mm256_broadcast_ss(dm + 2 * g);
            const __m256 dsc_hi = _mm256_broadcast_ss(dm + 2 * g + 1);
            const __m256 mn_lo = _mm256_broadcast_ss(dm + 8 + 2 * g);
            const __m256 mn_hi = _mm256_broadcast_ss(dm + 9 + 2 * g);
            float *o = d + k + 64 * g;
            for (int h = 0; h < 4; h++) {
                const __m256i q =
                    _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(qs + 8 * h)));
                EMB_X86_STORE8(stream, o + 8 * h,
                               q4_K_elems8(_mm256_and_si256(q, low4), dsc_lo, mn_lo));
                EMB_X86_STORE8(stream, o + 32 + 8 * h,
                               q4_K_elems8(_mm256_srli_epi32(q, 4), dsc_hi, mn_hi));
            }
        }
    }
}

/* q6_K: ds[i] = d * scales[i], i = 0..15 (exact). */
EMB_ROW_PRIMITIVE F16C void q6_K_factors(float ds[16], const uint8_t *block)
{
    const __m256 vd = block_scale(block + 208);
    const __m128i s = _mm_loadu_si128((const __m128i *)(block + 192));
    _mm256_storeu_ps(ds, _mm256_mul_ps(vd, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(s))));
    _mm256_storeu_ps(ds + 8, _mm256_mul_ps(vd, _mm256_cvtepi32_ps(
                                                   _mm256_cvtepi8_epi32(_mm_srli_si128(s, 8)))));
}

EMB_ROW_PRIMITIVE F16C void q6_K_s(uint8_t *dst, const uint8_t *src, size_t j, size_t count,
                                   size_t dim, int stream)
{
    (void)dim;
    float *d = (float *)dst + j;
    for (size_t k = 0; k < count; k += EMB_QK_K) {
        const uint8_t *block = src + (j + k) / EMB_QK_K * EMB_Q6_K_BYTES;
        float ds[16];
        q6_K_factors(ds, block);
        for (int n = 0; n < 2; n++) {
            __m256i q[4];
            q6_K_quants(q, block, n);
            /* Unrolled, so that q[] stays in registers. */
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) {
                const __m256i v = q[r];
                const __m128i a = _mm256_castsi256_si128(v), b = _mm256_extracti128_si256(v, 1);
                /* Elements l = 0..15 take scales[8n + 2r], 16..31 the next. */
                const __m256 s0 = _mm256_broadcast_ss(ds + 8 * n + 2 * r);
                const __m256 s1 = _mm256_broadcast_ss(ds + 8 * n + 2 * r + 1);
                float *o = d + k + 128 * n + 32 * r;
                EMB_X86_STORE8(stream, o, scale8_i32(_mm256_cvtepi8_epi32(a), s0));
                EMB_X86_STORE8(stream, o + 8,
                               scale8_i32(_mm256_cvtepi8_epi32(_mm_srli_si128(a, 8)), s0));
                EMB_X86_STORE8(stream, o + 16, scale8_i32(_mm256_cvtepi8_epi32(b), s1));
                EMB_X86_STORE8(stream, o + 24,
                               scale8_i32(_mm256_cvtepi8_epi32(_mm_srli_si128(b, 8)), s1));
            }
        }
    }
}

/* The blocked types stream wherever the piece is 16-byte aligned: each YMM
 * as two XMMs where it is not 32-byte aligned. From GPT-2's table into an
 * output at 16 mod 64, where they streamed nothing, q8_0 and q4_0 took
 * 2.0-2.3 ms against 1.1-1.4 ms into an aligned one (AMD EPYC Zen 4,
 * family 25 model 17, KVM, gcc 12.2 -O2, 50257 x 768 x 8192,
 * 2026-12-07). */
#define BLOCKS_STREAM_PAIR(name)                                                               \
    EMB_ROW_PRIMITIVE F16C void name(uint8_t *dst, const uint8_t *src, size_t j, size_t count, \
                                     size_t dim)                                               \
    {                                                                                         \
        name##_s(dst, src, j, count, dim, 0);                                                 \
    }                                                                                         \
    EMB_ROW_PRIMITIVE F16C void name##_stream(uint8_t *dst, const uint8_t *src, size_t j,      \
                                              size_t count, size_t dim)                        \
    {                                                                                         \
        const uintptr_t at = (uintptr_t)((float *)dst + j);                                   \
        if (at % 32 == 0)                                                                     \
            name##_s(dst, src, j, count, dim, 1);                                             \
        else if (at % 16 == 0)                                                                \
            name##_s(dst, src, j, count, dim, EMB_X86_STREAM_HALVES);                         \
        else                                                                                  \
            name##_s(dst, src, j, count, dim, 0);                                             \
    }
BLOCKS_STREAM_PAIR(q8_0)
BLOCKS_STREAM_PAIR(q4_0)
EMB_DEFINE_STREAM_PAIR(, q8_rowwise, 16)
BLOCKS_STREAM_PAIR(q4_K)
BLOCKS_STREAM_PAIR(q6_K)

/* Gradient primitives: acc[j + k] += widen(g[j + k]), one fp32 add each. */
EMB_DEFINE_ADD_PRIMITIVE(add_row)

#define ADD_WIDENED(attrs, name, type, widen8)                                              \
    static attrs __attribute__((always_inline)) inline void name(                           \
        float *acc, const uint8_t *g, size_t j, size_t count, size_t dim)                    \
    {                                                                                      \
        float *a = acc + j;                                                                \
        const uint8_t *s = g + 2 * j;                                                      \
        size_t k = 0;                                                                      \
        for (; k + 8 <= count; k += 8)                                                     \
            _mm256_storeu_ps(a + k, _mm256_add_ps(_mm256_loadu_ps(a + k), widen8(s + 2 * k))); \
        (void)dim; /* 16-bit rows have nothing after their elements */                     \
        for (; k < count; k++)                                                             \
            a[k] += emb_bits_to_f32(emb_elem16_to_f32_bits(type, g + 2 * (j + k)));         \
    }

/* Inlined into the fused lookup of q8_0 and q4_0 tables, GCC 12 warns that
 * the tail loop's iteration 2^63 would overflow: fewer than a vector remain
 * after the vector loop, and the fused loop's pieces are at most 128 long. A
 * false positive of -Waggressive-loop-optimizations, silenced here only. */
#pragma GCC diagnostic push
#ifndef __clang__ /* clang has no such warning, and warns of its name */
#pragma GCC diagnostic ignored "-Waggressive-loop-optimizations"
#endif
ADD_WIDENED(, add_bf16, EMB_BF16, widen8_bf16)
ADD_WIDENED(F16C, add_f16, EMB_F16, widen8_f16)
#pragma GCC diagnostic pop

/* The bag ops (bag_loops.h): fmaf eight at a time, VFMADD rounding once. */
EMB_ROW_PRIMITIVE void fma_floats(float *acc, const float *x, float w, size_t count)
{
    const __m256 wv = _mm256_set1_ps(w);
    size_t k = 0;
    for (; k + 8 <= count; k += 8)
        _mm256_storeu_ps(acc + k, _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + k), _mm256_loadu_ps(acc + k)));
    if (k < count) {
        const __m256i m = tail_mask(count - k);
        const __m256 r = _mm256_fmadd_ps(wv, _mm256_maskload_ps(x + k, m), _mm256_maskload_ps(acc + k, m));
        _mm256_maskstore_ps(acc + k, m, r);
    }
}

/* The fused positional gradient: one load of g for both rows' adds. */
EMB_ROW_PRIMITIVE void add_both(float *a, float *b, const float *g, size_t count)
{
    size_t k = 0;
    for (; k + 8 <= count; k += 8) {
        const __m256 x = _mm256_loadu_ps(g + k);
        _mm256_storeu_ps(a + k, _mm256_add_ps(_mm256_loadu_ps(a + k), x));
        _mm256_storeu_ps(b + k, _mm256_add_ps(_mm256_loadu_ps(b + k), x));
    }
    if (k < count) {
        const __m256i m = tail_mask(count - k);
        const __m256 x = _mm256_maskload_ps(g + k, m);
        _mm256_maskstore_ps(a + k, m, _mm256_add_ps(_mm256_maskload_ps(a + k, m), x));
        _mm256_maskstore_ps(b + k, m, _mm256_add_ps(_mm256_maskload_ps(b + k, m), x));
    }
}

/* ---- the map of primitives: every kernel of the list from them ----------- */
#define EMB_ISA_NAME emb_kernels_avx2
#define EMB_ISA_IDS_MINMAX ids_minmax_avx2
#define EMB_ISA_FENCE _mm_sfence
#define EMB_ISA_STREAM_ALIGN 16
#define EMB_ISA_FMA fma_floats
#define EMB_ISA_ADD_BOTH add_both
#define EMB_ISA_ADD_ROWS add_rows
#define EMB_ISA_ADD_ROWS_STREAM add_rows_stream
#define EMB_ISA_COPY16 copy_16
#define EMB_ISA_COPY16_STREAM copy_16_stream
/* type: convert, convert_stream, add, attrs, needs (isa_kernels.h); the
 * f16 kernels and the fp16 scales of q8_0, q4_0, q4_K and q6_K need F16C. */
#define EMB_ISA_EMB_F32 (copy_f32, copy_f32_stream, add_f32, , 0)
#define EMB_ISA_EMB_F16 (widen_f16, widen_f16_stream, add_f16, F16C, EMB_CPU_F16C)
#define EMB_ISA_EMB_BF16 (widen_bf16, widen_bf16_stream, add_bf16, , 0)
#define EMB_ISA_EMB_Q8_0 (q8_0, q8_0_stream, NULL, F16C, EMB_CPU_F16C)
#define EMB_ISA_EMB_Q4_0 (q4_0, q4_0_stream, NULL, F16C, EMB_CPU_F16C)
#define EMB_ISA_EMB_Q8_ROWWISE (q8_rowwise, q8_rowwise_stream, NULL, , 0)
#define EMB_ISA_EMB_Q4_K (q4_K, q4_K_stream, NULL, F16C, EMB_CPU_F16C)
#define EMB_ISA_EMB_Q6_K (q6_K, q6_K_stream, NULL, F16C, EMB_CPU_F16C)
/* The fused lookups may add an f16 position row whatever the token
 * table's type: they all need F16C. */
#define EMB_ISA_POS_ATTRS F16C
#define EMB_ISA_POS_NEEDS EMB_CPU_F16C
#define EMB_ISA_OWN(X)
/* A bag's sum in registers: all 16 ymm (the adds take the row from
 * memory), a 128-float row in one pass. */
#define EMB_BAG_VEC_FLOATS 8
#define EMB_BAG_REG_VECS 16
/* A streaming store of one register of the sum (p 32-byte aligned). */
#define EMB_BAG_STREAM_VEC(p, v) _mm256_stream_ps((p), (__m256)(v))
#include "isa_kernels.h"
#endif /* EMB_HAVE_AVX2 */
