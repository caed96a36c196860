/* x86_avx2.c - lookup and gradient kernels for AVX2 (built with -mavx2 -mfma;
 * FMA is required by the table but never used: no multiply happens here). */
#include "config.h"

#ifdef EMB_HAVE_AVX2
#include <immintrin.h>

#include "internal.h"
#include "row_loops.h"

/* maskload/maskstore take a per-lane sign-bit mask; a sliding window over
 * this array gives the first `rem` lanes for rem in [0, 8]. */
static const int32_t tail_window[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

static inline __m256i tail_mask(size_t rem)
{
    return _mm256_loadu_si256((const __m256i *)(tail_window + 8 - rem));
}

/* Each piece loads all its vectors before storing any: a store followed by
 * a load that matches it in the low 12 bits (4K aliasing) makes the load
 * wait, and rows gathered from random table offsets hit that often (see
 * x86_avx512.c for the measurement). A piece of 8 <= r <= 64 floats is
 * covered by its first k and last k vectors (k = 1, 2, 4), overlapping in
 * the middle, instead of masks: every byte touched lies inside the row.
 * Sixteen YMM registers hold at most one 64-float piece at a time. */
#define LOAD_FIRST_LAST(k)                                                   \
    __m256 v[2 * (k)];                                                       \
    _Pragma("GCC unroll 4")                                                  \
    for (int q = 0; q < (k); q++) {                                          \
        v[q] = _mm256_loadu_ps(s + 8 * q);                                   \
        v[(k) + q] = _mm256_loadu_ps(s + r - 8 * ((k) - q));                 \
    }                                                                        \
    _Pragma("GCC unroll 4")                                                  \
    for (int q = 0; q < (k); q++) {                                          \
        _mm256_storeu_ps(d + 8 * q, v[q]);                                   \
        _mm256_storeu_ps(d + r - 8 * ((k) - q), v[(k) + q]);                 \
    }

static inline __attribute__((always_inline)) void copy_8_to_64(float *d, const float *s, size_t r)
{
    if (r <= 16) {
        LOAD_FIRST_LAST(1)
    } else if (r <= 32) {
        LOAD_FIRST_LAST(2)
    } else {
        LOAD_FIRST_LAST(4)
    }
}

EMB_ROW_PRIMITIVE void copy_row(float *dst, const float *src, size_t dim)
{
    if (dim < 8) {
        /* Masked lanes are neither read nor written: no access past the
         * row's end, even when it ends the allocation. */
        const __m256i m = tail_mask(dim);
        _mm256_maskstore_ps(dst, m, _mm256_maskload_ps(src, m));
        return;
    }
    size_t j = 0;
    for (; dim - j > 64; j += 64)
        copy_8_to_64(dst + j, src + j, 64);
    /* A remainder under 8 floats is copied as the row's last 8, which
     * rewrites a few already-copied floats with the same bits. */
    if (dim - j < 8)
        j = dim - 8;
    copy_8_to_64(dst + j, src + j, dim - j);
}

/* Non-temporal stores need 32-byte aligned addresses; the row's unaligned
 * head and its tail use ordinary (masked) stores. */
EMB_ROW_PRIMITIVE void copy_row_stream(float *dst, const float *src, size_t dim)
{
    const size_t head = ((32 - ((uintptr_t)dst & 31)) & 31) / sizeof(float);
    if ((uintptr_t)dst % sizeof(float) != 0) {
        copy_row(dst, src, dim); /* not even float-aligned: no streaming */
        return;
    }
    size_t j = head < dim ? head : dim;
    if (j != 0) {
        const __m256i m = tail_mask(j);
        _mm256_maskstore_ps(dst, m, _mm256_maskload_ps(src, m));
    }
    for (; j + 32 <= dim; j += 32) {
        const __m256 a = _mm256_loadu_ps(src + j), b = _mm256_loadu_ps(src + j + 8);
        const __m256 c = _mm256_loadu_ps(src + j + 16), d = _mm256_loadu_ps(src + j + 24);
        _mm256_stream_ps(dst + j, a);
        _mm256_stream_ps(dst + j + 8, b);
        _mm256_stream_ps(dst + j + 16, c);
        _mm256_stream_ps(dst + j + 24, d);
    }
    for (; j + 8 <= dim; j += 8)
        _mm256_stream_ps(dst + j, _mm256_loadu_ps(src + j));
    if (j < dim) {
        const __m256i m = tail_mask(dim - j);
        _mm256_maskstore_ps(dst + j, m, _mm256_maskload_ps(src + j, m));
    }
}

static void lookup_avx2(const float *table, size_t dim, const int32_t *ids, size_t n,
                        float *out, unsigned flags)
{
    emb_lookup_rows(table, dim, ids, n, out, flags, copy_row, copy_row_stream);
    /* Streaming stores are weakly ordered: fence before returning so the
     * caller (or the thread that joins this one) sees every byte. */
    if (flags & EMB_KF_STREAM)
        _mm_sfence();
}

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

static void grad_avx2(float *dtable, size_t dim, const int32_t *ids, size_t n,
                      const float *dout, unsigned part, unsigned nparts, unsigned flags)
{
    emb_grad_rows(dtable, dim, ids, n, dout, part, nparts, flags, add_row);
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

const emb_kernels emb_kernels_avx2 = {
    lookup_avx2,
    grad_avx2,
    ids_minmax_avx2,
};
#endif /* EMB_HAVE_AVX2 */
