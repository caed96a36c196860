/* x86_copy.h - the f32 row copies shared by x86_avx2.c and x86_avx512.c
 * (AVX-512 compiles it with its own flags): the plain copy in either
 * vector width (each ISA instantiates it), and the streaming copy and row
 * sum in 256-bit moves for both. */
#ifndef EMBSIMD_X86_COPY_H
#define EMBSIMD_X86_COPY_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

/* A vector of floats into p by `streamed` where `stream` is set (then p
 * must be aligned to the vector's size), else by `stored`. */
#define EMB_X86_STORE_AS(stream, p, v, streamed, stored) \
    do {                                                 \
        if (stream)                                      \
            streamed((p), (v));                          \
        else                                             \
            stored((p), (v));                            \
    } while (0)

/* A YMM: the store of both ISAs' 256-bit bodies; `stream` may also be
 * EMB_X86_STREAM_HALVES: streamed as two XMMs (then p must be 16-byte
 * aligned), for vectors that sit where their blocks put them. An XMM. */
#define EMB_X86_STREAM_HALVES 2
#define EMB_X86_STORE8(stream, p, v)                                          \
    do {                                                                      \
        const __m256 emb_v8_ = (v);                                           \
        if ((stream) == EMB_X86_STREAM_HALVES) {                              \
            _mm_stream_ps((p), _mm256_castps256_ps128(emb_v8_));              \
            _mm_stream_ps((p) + 4, _mm256_extractf128_ps(emb_v8_, 1));        \
        } else {                                                              \
            EMB_X86_STORE_AS(stream, p, emb_v8_, _mm256_stream_ps, _mm256_storeu_ps); \
        }                                                                     \
    } while (0)
#define EMB_X86_STORE4(stream, p, v) EMB_X86_STORE_AS(stream, p, v, _mm_stream_ps, _mm_storeu_ps)

/* Each piece loads all its vectors before storing any: a store followed by
 * a load that matches it in the low 12 bits (4K aliasing) makes the load
 * wait, and rows gathered from random table offsets hit that often:
 * alternating loads and stores measured 1.6-1.8x slower than this at
 * D = 64..256 on a cache-resident table. A piece of w <= r <= 2kw floats
 * (w the floats of a vector) is covered by its first k and last k vectors
 * (k = 1, 2, 4, 8), overlapping in the middle, instead of masks: every
 * byte touched lies inside the row. */
#define EMB_X86_LOAD_FIRST_LAST(vec, loadu, storeu, w, k)                    \
    vec v[2 * (k)];                                                          \
    _Pragma("GCC unroll 8")                                                  \
    for (int q = 0; q < (k); q++) {                                          \
        v[q] = loadu(s + (w) * q);                                           \
        v[(k) + q] = loadu(s + r - (w) * ((k) - q));                         \
    }                                                                        \
    _Pragma("GCC unroll 8")                                                  \
    for (int q = 0; q < (k); q++) {                                          \
        storeu(d + (w) * q, v[q]);                                           \
        storeu(d + r - (w) * ((k) - q), v[(k) + q]);                         \
    }

/* name(dst, src, dim), dim >= w: a row in pieces of 2 * kmax vectors
 * (kmax 4 or 8: 8 or 16 registers hold a piece); a remainder under one
 * vector is copied as the row's last w floats, which rewrites a few
 * already-copied floats with the same bits. */
#define EMB_X86_DEFINE_ROW_COPY(name, vec, loadu, storeu, w, kmax)                          \
    static inline __attribute__((always_inline)) void name##_piece(float *d, const float *s, \
                                                                   size_t r)                 \
    {                                                                                       \
        if (r <= 2 * (w)) {                                                                 \
            EMB_X86_LOAD_FIRST_LAST(vec, loadu, storeu, w, 1)                               \
        } else if (r <= 4 * (w)) {                                                          \
            EMB_X86_LOAD_FIRST_LAST(vec, loadu, storeu, w, 2)                               \
        } else if ((kmax) == 4 || r <= 8 * (w)) {                                           \
            EMB_X86_LOAD_FIRST_LAST(vec, loadu, storeu, w, 4)                               \
        } else {                                                                            \
            EMB_X86_LOAD_FIRST_LAST(vec, loadu, storeu, w, 8)                               \
        }                                                                                   \
    }                                                                                       \
    static inline __attribute__((always_inline)) void name(float *dst, const float *src,    \
                                                           size_t dim)                      \
    {                                                                                       \
        const size_t piece = 2 * (kmax) * (w);                                              \
        size_t j = 0;                                                                       \
        for (; dim - j > piece; j += piece)                                                 \
            name##_piece(dst + j, src + j, piece);                                          \
        if (dim - j < (w))                                                                  \
            j = dim - (w);                                                                  \
        name##_piece(dst + j, src + j, dim - j);                                            \
    }

/* Eight and four floats of a, plus b's where b is not NULL (a the first
 * operand): always inlined with a constant b, so the copy has no add. */
static inline __attribute__((always_inline)) __m256 emb_x86_src8(const float *a, const float *b,
                                                                 size_t k)
{
    const __m256 v = _mm256_loadu_ps(a + k);
    return b == NULL ? v : _mm256_add_ps(v, _mm256_loadu_ps(b + k));
}

static inline __attribute__((always_inline)) __m128 emb_x86_src4(const float *a, const float *b,
                                                                 size_t k)
{
    const __m128 v = _mm_loadu_ps(a + k);
    return b == NULL ? v : _mm_add_ps(v, _mm_loadu_ps(b + k));
}

/* An ISA's masked write of dst = a (+ b where b is not NULL), count < 8. */
typedef void (*emb_x86_tail_fn)(float *dst, const float *a, const float *b, size_t count);

/* dst = a + b with ordinary stores, 64 floats loaded before any is stored
 * (as the copy above: 4K aliasing), the last count % 8 under the ISA's
 * mask: AVX2's sum, and both ISAs' streaming sum into a dst off a 16-byte
 * boundary (AVX-512's ordinary sum is its own add_rows, in ZMMs). */
static inline __attribute__((always_inline)) void emb_x86_add_rows(float *dst, const float *a,
                                                                   const float *b, size_t count,
                                                                   emb_x86_tail_fn tail)
{
    size_t j = 0;
    for (; j + 64 <= count; j += 64) {
        __m256 v[8];
#pragma GCC unroll 8
        for (int q = 0; q < 8; q++)
            v[q] = emb_x86_src8(a, b, j + 8 * q);
#pragma GCC unroll 8
        for (int q = 0; q < 8; q++)
            _mm256_storeu_ps(dst + j + 8 * q, v[q]);
    }
    for (; j + 8 <= count; j += 8)
        _mm256_storeu_ps(dst + j, emb_x86_src8(a, b, j));
    if (j < count)
        tail(dst + j, a + j, b + j, count - j);
}

/* The streaming row copy of both ISAs (b NULL), and the streaming sum of
 * two rows (the fused positional lookup), for a dst aligned to 16 bytes:
 * every store streams (one XMM to reach a 32-byte boundary, YMMs, one XMM
 * at the end), so no line of the output is written partly by ordinary
 * stores and partly by streaming ones, which costs a write-combining
 * flush and a read of the line. That made lookups into an output at
 * 16 mod 64 bytes (what malloc gives a large block) 2.5 times as slow on
 * Zen 2 (8.9 ms against 3.5 ms for 8192 rows of 768 floats from a 154 MB
 * table, gcc 12.2 -O2, 2026-12-01), and on Zen 4 AVX-512's former copy,
 * streaming from the first 64-byte boundary only, took 1.6-1.7 times
 * AVX2's time (50257 x 768 x 8192 and 128256 x 4096 x 2048, KVM, gcc 12.2
 * -O2, 2026-12-05; equal at 64-byte alignment). Returns the floats
 * written: all but dim % 4. */
static inline __attribute__((always_inline)) size_t
emb_x86_stream_rows_16(float *dst, const float *a, const float *b, size_t dim)
{
    size_t j = 0;
    if (((uintptr_t)dst & 31) != 0 && dim >= 4) {
        _mm_stream_ps(dst, emb_x86_src4(a, b, 0));
        j = 4;
    }
    for (; j + 32 <= dim; j += 32) {
        const __m256 v0 = emb_x86_src8(a, b, j), v1 = emb_x86_src8(a, b, j + 8);
        const __m256 v2 = emb_x86_src8(a, b, j + 16), v3 = emb_x86_src8(a, b, j + 24);
        _mm256_stream_ps(dst + j, v0);
        _mm256_stream_ps(dst + j + 8, v1);
        _mm256_stream_ps(dst + j + 16, v2);
        _mm256_stream_ps(dst + j + 24, v3);
    }
    for (; j + 8 <= dim; j += 8)
        _mm256_stream_ps(dst + j, emb_x86_src8(a, b, j));
    if (j + 4 <= dim) {
        _mm_stream_ps(dst + j, emb_x86_src4(a, b, j));
        j += 4;
    }
    return j;
}

/* dst = a, or a + b where b is not NULL, for both ISAs: streaming from a
 * 16-byte boundary (above); a row not even 16-byte aligned is written with
 * ordinary stores (the ISA's row copy, or the sum above). */
static inline __attribute__((always_inline)) void
emb_x86_stream_rows(float *dst, const float *a, const float *b, size_t dim,
                    void (*copy_row)(float *, const float *, size_t), emb_x86_tail_fn tail)
{
    if ((uintptr_t)dst % 16 != 0) {
        if (b == NULL)
            copy_row(dst, a, dim);
        else
            emb_x86_add_rows(dst, a, b, dim, tail);
        return;
    }
    const size_t j = emb_x86_stream_rows_16(dst, a, b, dim);
    if (j < dim)
        tail(dst + j, a + j, b == NULL ? NULL : b + j, dim - j);
}

/* Each ISA's streaming row copy and row sum from its own copy_row and
 * rows_tail; AVX-512 passes `straight` for its line.realign 0 copy. */
#define EMB_X86_DEFINE_STREAM_ROWS(straight)                                                  \
    EMB_ROW_PRIMITIVE void copy_row##straight##_stream(float *dst, const float *src,          \
                                                       size_t dim)                            \
    {                                                                                       \
        emb_x86_stream_rows(dst, src, NULL, dim, copy_row##straight, rows_tail);            \
    }                                                                                       \
    EMB_ROW_PRIMITIVE void add_rows##straight##_stream(float *dst, const float *a,            \
                                                       const float *b, size_t count)          \
    {                                                                                       \
        emb_x86_stream_rows(dst, a, b, count, copy_row##straight, rows_tail);               \
    }

#endif /* EMBSIMD_X86_COPY_H */
