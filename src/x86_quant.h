/* x86_quant.h - the quantised types' pieces shared by x86_avx2.c and
 * x86_avx512.c (AVX-512 compiles them with its own flags, which include
 * AVX2's integer operations): q8_rowwise's row in 256-bit operations, and
 * the k-quants' unpacking of q4_K's scales and mins and of q6_K's quants.
 * Each file multiplies the k-quants by their scales in its own vector
 * width. */
#ifndef EMBSIMD_X86_QUANT_H
#define EMBSIMD_X86_QUANT_H

#include <immintrin.h>

#include "row_loops.h"
#include "types.h"
#include "x86_copy.h"

/* q8_rowwise's elements j .. j + count - 1 of a row into dst's floats j ..:
 * fmaf(scale, q, bias) eight at a time, fmadd8 the including file's fused
 * multiply-add of eight floats (VFMADD rounds once, as fmaf), and the last
 * count % 8 by the scalar definition. Streaming (dst 16-byte aligned), as
 * the row copy (x86_copy.h): one XMM to a 32-byte boundary, YMMs, one XMM
 * of four at the end, each XMM the low half of eight elements (the four
 * quants past a row's last ones are its scale, inside the row). AVX-512
 * keeps this 256-bit body (x86_avx512.c, STORE16's comment, says why). */
#define EMB_X86_DEFINE_Q8_ROWWISE(fmadd8)                                                    \
    EMB_ROW_PRIMITIVE __m256 q8_rowwise8(const uint8_t *q, __m256 scale, __m256 bias)        \
    {                                                                                       \
        const __m128i x = _mm_loadl_epi64((const __m128i *)q);                              \
        return fmadd8(scale, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(x)), bias);            \
    }                                                                                       \
    EMB_ROW_PRIMITIVE void q8_rowwise_s(uint8_t *dst, const uint8_t *src, size_t j,          \
                                        size_t count, size_t dim, int stream)                \
    {                                                                                       \
        float *d = (float *)dst + j;                                                        \
        const uint8_t *q = src + j;                                                         \
        const __m256 scale = _mm256_set1_ps(emb_load_f32(src + dim));                       \
        const __m256 bias = _mm256_set1_ps(emb_load_f32(src + dim + 4));                    \
        size_t k = 0;                                                                       \
        if (stream && ((uintptr_t)d & 31) != 0 && count >= 4) {                             \
            _mm_stream_ps(d, _mm256_castps256_ps128(q8_rowwise8(q, scale, bias)));          \
            k = 4;                                                                          \
        }                                                                                   \
        for (; k + 8 <= count; k += 8)                                                      \
            EMB_X86_STORE8(stream, d + k, q8_rowwise8(q + k, scale, bias));                 \
        if (stream && k + 4 <= count) {                                                     \
            _mm_stream_ps(d + k, _mm256_castps256_ps128(q8_rowwise8(q + k, scale, bias)));  \
            k += 4;                                                                         \
        }                                                                                   \
        if (k < count)                                                                      \
            emb_q8_rowwise_to_f32(d + k, src, dim, j + k, count - k);                       \
    }

/* q4_K's 6-bit scales and mins as 16 bytes sc[0..7], m[0..7], unpacked
 * in registers (types.h, emb_q4_K_scale_mins, is the definition). With
 * scales[12] read as three little-endian words A, B, C (bytes 0-3, 4-7,
 * 8-11), byte k of each: sc[0..3] = A & 63, m[0..3] = B & 63, sc[4..7] = C's
 * low nibbles under A's top two bits, m[4..7] = C's high nibbles under B's.
 * Sixteen bytes are read: the scales and the first four of qs. Bytes
 * written one by one and read back as a vector would stall the load
 * (no store forwarding): this costs eight vector operations instead. */
EMB_ROW_PRIMITIVE __m128i q4_K_unpack(const uint8_t *scales)
{
    const __m128i x = _mm_loadu_si128((const __m128i *)scales); /* A, B, C, - */
    const __m128i acbc = _mm_shuffle_epi32(x, _MM_SHUFFLE(2, 1, 2, 0));
    const __m128i aabb = _mm_shuffle_epi32(x, _MM_SHUFFLE(1, 1, 0, 0));
    const __m128i low = _mm_and_si128(_mm_srlv_epi32(acbc, _mm_setr_epi32(0, 0, 0, 4)),
                                      _mm_setr_epi32(0x3F3F3F3F, 0x0F0F0F0F, 0x3F3F3F3F, 0x0F0F0F0F));
    const __m128i top = _mm_and_si128(_mm_srli_epi32(aabb, 2),
                                      _mm_setr_epi32(0, 0x30303030, 0, 0x30303030));
    return _mm_or_si128(low, top);
}


/* The 128 quants of half n of a q6_K super-block, 32 per r = 0..3, as
 * signed bytes in [-32, 31]: the low four bits from one of the two 32-byte
 * halves of this n's ql (r & 1), its low or high nibble (r >> 1); the high
 * two from bits 2r, 2r + 1 of qh, moved to bits 4, 5 (16-bit shifts: the
 * mask drops what crosses from the neighbouring byte); minus 32. */
EMB_ROW_PRIMITIVE void q6_K_quants(__m256i q[4], const uint8_t *block, int n)
{
    const __m256i low4 = _mm256_set1_epi8(15), high2 = _mm256_set1_epi8(0x30);
    const __m256i bias = _mm256_set1_epi8(32);
    const uint8_t *ql = block + 64 * n;
    const __m256i qh = _mm256_loadu_si256((const __m256i *)(block + 128 + 32 * n));
    const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
    const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
    q[0] = _mm256_or_si256(_mm256_and_si256(l0, low4),
                           _mm256_and_si256(_mm256_slli_epi16(qh, 4), high2));
    q[1] = _mm256_or_si256(_mm256_and_si256(l1, low4),
                           _mm256_and_si256(_mm256_slli_epi16(qh, 2), high2));
    q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4),
                           _mm256_and_si256(qh, high2));
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
                           _mm256_and_si256(_mm256_srli_epi16(qh, 2), high2));
    for (int r = 0; r < 4; r++)
        q[r] = _mm256_sub_epi8(q[r], bias);
}

#endif /* EMBSIMD_X86_QUANT_H */
