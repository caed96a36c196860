/* x86_avx512.c - lookup and gradient kernels for AVX-512 (F, BW, VL, DQ). */
#include "config.h"

#ifdef EMB_HAVE_AVX512
#include <immintrin.h>

#include "internal.h"
#include "row_loops.h"
#include "scan_loops.h"

static inline __mmask16 first_lanes(size_t rem)
{
    return _cvtu32_mask16((1u << rem) - 1u);
}

/* Each piece loads all its vectors before storing any. A store followed
 * by a load whose address matches it in the low 12 bits (4K aliasing)
 * makes the load wait, and rows gathered from random table offsets hit
 * that often: alternating loads and stores measured 1.6-1.8x slower than
 * this at D = 64..256 on a cache-resident table. A piece of 16 <= r <= 256
 * floats is covered by its first k and last k vectors (k = 1, 2, 4, 8),
 * overlapping in the middle, instead of masks: every byte read or written
 * still lies inside the row. */
#define LOAD_FIRST_LAST(k)                                                   \
    __m512 v[2 * (k)];                                                       \
    _Pragma("GCC unroll 8")                                                  \
    for (int q = 0; q < (k); q++) {                                          \
        v[q] = _mm512_loadu_ps(s + 16 * q);                                  \
        v[(k) + q] = _mm512_loadu_ps(s + r - 16 * ((k) - q));                \
    }                                                                        \
    _Pragma("GCC unroll 8")                                                  \
    for (int q = 0; q < (k); q++) {                                          \
        _mm512_storeu_ps(d + 16 * q, v[q]);                                  \
        _mm512_storeu_ps(d + r - 16 * ((k) - q), v[(k) + q]);                \
    }

static inline __attribute__((always_inline)) void copy_16_to_256(float *d, const float *s, size_t r)
{
    if (r <= 32) {
        LOAD_FIRST_LAST(1)
    } else if (r <= 64) {
        LOAD_FIRST_LAST(2)
    } else if (r <= 128) {
        LOAD_FIRST_LAST(4)
    } else {
        LOAD_FIRST_LAST(8)
    }
}

EMB_ROW_PRIMITIVE void copy_row(float *dst, const float *src, size_t dim)
{
    if (dim < 16) {
        /* A k-masked load does not fault on masked-off lanes: no access
         * past the row's end. */
        const __mmask16 k = first_lanes(dim);
        _mm512_mask_storeu_ps(dst, k, _mm512_maskz_loadu_ps(k, src));
        return;
    }
    size_t j = 0;
    for (; dim - j > 256; j += 256)
        copy_16_to_256(dst + j, src + j, 256);
    /* A remainder under 16 floats is copied as the row's last 16, which
     * rewrites a few already-copied floats with the same bits. */
    if (dim - j < 16)
        j = dim - 16;
    copy_16_to_256(dst + j, src + j, dim - j);
}

/* Non-temporal stores need 64-byte aligned addresses; the row's unaligned
 * head and its tail use ordinary (masked) stores. */
EMB_ROW_PRIMITIVE void copy_row_stream(float *dst, const float *src, size_t dim)
{
    size_t j = 0;
    const size_t head = ((64 - ((uintptr_t)dst & 63)) & 63) / sizeof(float);
    if (head != 0 && (uintptr_t)dst % sizeof(float) == 0) {
        j = head < dim ? head : dim;
        const __mmask16 k = first_lanes(j);
        _mm512_mask_storeu_ps(dst, k, _mm512_maskz_loadu_ps(k, src));
    } else if (head != 0) {
        copy_row(dst, src, dim); /* not even float-aligned: no streaming */
        return;
    }
    for (; j + 64 <= dim; j += 64) {
        const __m512 a = _mm512_loadu_ps(src + j), b = _mm512_loadu_ps(src + j + 16);
        const __m512 c = _mm512_loadu_ps(src + j + 32), d = _mm512_loadu_ps(src + j + 48);
        _mm512_stream_ps(dst + j, a);
        _mm512_stream_ps(dst + j + 16, b);
        _mm512_stream_ps(dst + j + 32, c);
        _mm512_stream_ps(dst + j + 48, d);
    }
    for (; j + 16 <= dim; j += 16)
        _mm512_stream_ps(dst + j, _mm512_loadu_ps(src + j));
    if (j < dim) {
        const __mmask16 k = first_lanes(dim - j);
        _mm512_mask_storeu_ps(dst + j, k, _mm512_maskz_loadu_ps(k, src + j));
    }
}

EMB_DEFINE_COPY_PRIMITIVES(, copy_row)
EMB_DEFINE_COPY_PRIMITIVES(_stream, copy_row_stream)

/* The shared loops with this ISA's row copy: the general f32 path and the
 * 16-bit bit copies. */
static void lookup_f32_rows(const uint8_t *table, size_t dim, const void *ids, int ids64,
                            size_t n, uint8_t *out, unsigned flags)
{
    const emb_lookup_loop L = {EMB_F32, EMB_F32, copy_f32, copy_f32_stream};
    emb_lookup_rows(L, table, dim, ids, ids64, n, out, flags);
    /* Streaming stores are weakly ordered: fence before returning so the
     * caller (or the thread that joins this one) sees every byte. */
    if (flags & EMB_KF_STREAM)
        _mm_sfence();
}

/* Rows of at most two lines: one or two masked moves each, the masks
 * hoisted out of the loop (measured 1.3-2x faster than the general row
 * copy at D <= 32); neither prefetch nor streaming pays on rows this
 * short. A second move with an empty mask is not free, hence two loops. */
static inline __attribute__((always_inline)) void
lookup_short_rows(const float *table, size_t dim, const void *ids, int ids64, size_t n,
                  float *out)
{
    if (dim <= 16) {
        const __mmask16 k = first_lanes(dim);
        for (size_t i = 0; i < n; i++)
            _mm512_mask_storeu_ps(out + i * dim, k,
                                  _mm512_maskz_loadu_ps(k, table + emb_id(ids, ids64, i) * dim));
        return;
    }
    const __mmask16 hi = first_lanes(dim - 16);
    for (size_t i = 0; i < n; i++) {
        const float *src = table + emb_id(ids, ids64, i) * dim;
        float *dst = out + i * dim;
        const __m512 a = _mm512_loadu_ps(src);
        const __m512 b = _mm512_maskz_loadu_ps(hi, src + 16);
        _mm512_storeu_ps(dst, a);
        _mm512_mask_storeu_ps(dst + 16, hi, b);
    }
}

static void lookup_f32_f32(const uint8_t *table, size_t dim, const void *ids, int ids64,
                           size_t n, uint8_t *out, unsigned flags)
{
    if (dim > 32) {
        lookup_f32_rows(table, dim, ids, ids64, n, out, flags);
    } else if (ids64) {
        lookup_short_rows((const float *)table, dim, ids, 1, n, (float *)out);
    } else {
        lookup_short_rows((const float *)table, dim, ids, 0, n, (float *)out);
    }
}

EMB_ROW_PRIMITIVE void add_row(float *acc, const float *g, size_t dim)
{
    size_t j = 0;
    /* Across the dim only; one add per element per token, token order. */
    for (; j + 32 <= dim; j += 32) {
        const __m512 a = _mm512_add_ps(_mm512_loadu_ps(acc + j), _mm512_loadu_ps(g + j));
        const __m512 b = _mm512_add_ps(_mm512_loadu_ps(acc + j + 16), _mm512_loadu_ps(g + j + 16));
        _mm512_storeu_ps(acc + j, a);
        _mm512_storeu_ps(acc + j + 16, b);
    }
    for (; j + 16 <= dim; j += 16)
        _mm512_storeu_ps(acc + j, _mm512_add_ps(_mm512_loadu_ps(acc + j), _mm512_loadu_ps(g + j)));
    if (j < dim) {
        const __mmask16 k = first_lanes(dim - j);
        const __m512 s = _mm512_add_ps(_mm512_maskz_loadu_ps(k, acc + j), _mm512_maskz_loadu_ps(k, g + j));
        _mm512_mask_storeu_ps(acc + j, k, s);
    }
}

EMB_DEFINE_ADD_PRIMITIVE(add_row)

EMB_DEFINE_GRAD(, grad_f32, EMB_F32, add_f32, copy_f32)
EMB_DEFINE_LOOKUP(, lookup_f16_f16, EMB_F16, EMB_F16, copy_16, copy_16_stream, _mm_sfence)
EMB_DEFINE_LOOKUP(, lookup_bf16_bf16, EMB_BF16, EMB_BF16, copy_16, copy_16_stream, _mm_sfence)
/* The f32 similarity scan: reduce.h's order in ZMM registers; the other
 * types' scans widen first and run avx2's. */
EMB_DEFINE_SCAN(, scan_f32, EMB_F32, copy_f32)

static void ids_minmax_avx512(const int32_t *ids, size_t n, int32_t *min, int32_t *max)
{
    __m512i lo = _mm512_set1_epi32(ids[0]), hi = lo;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512i v = _mm512_loadu_si512(ids + i);
        lo = _mm512_min_epi32(lo, v);
        hi = _mm512_max_epi32(hi, v);
    }
    if (i < n) {
        /* Masked-off lanes keep ids[0], which cannot change the result. */
        const __mmask16 k = first_lanes(n - i);
        lo = _mm512_mask_min_epi32(lo, k, lo, _mm512_maskz_loadu_epi32(k, ids + i));
        hi = _mm512_mask_max_epi32(hi, k, hi, _mm512_maskz_loadu_epi32(k, ids + i));
    }
    *min = _mm512_reduce_min_epi32(lo);
    *max = _mm512_reduce_max_epi32(hi);
}

/* The widening, dequantizing and fused positional kernels are not here:
 * without them the dispatcher runs AVX2's for this implementation, kernel
 * by kernel. */
static const emb_kernel_entry entries[] = {
    EMB_ENTRY(LOOKUP_F32_F32, lookup, 0, lookup_f32_f32),
    EMB_ENTRY(LOOKUP_F16_F16, lookup, 0, lookup_f16_f16),
    EMB_ENTRY(LOOKUP_BF16_BF16, lookup, 0, lookup_bf16_bf16),
    EMB_ENTRY(GRAD_F32, grad, 0, grad_f32),
    EMB_ENTRY(SCAN_F32, scan, 0, scan_f32),
};

const emb_kernels emb_kernels_avx512 = {entries, sizeof entries / sizeof entries[0],
                                        ids_minmax_avx512};
#endif /* EMB_HAVE_AVX512 */
