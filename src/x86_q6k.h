/* x86_q6k.h - q6_K's quant unpacking in 256-bit integer operations, shared
 * by x86_avx2.c and x86_avx512.c (AVX-512 compiles it with its own flags,
 * which include AVX2's integer operations). Each file multiplies by the
 * scales in its own vector width. */
#ifndef EMBSIMD_X86_Q6K_H
#define EMBSIMD_X86_Q6K_H

#include <immintrin.h>

#include "row_loops.h"

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

#endif /* EMBSIMD_X86_Q6K_H */
