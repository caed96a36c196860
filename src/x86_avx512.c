/* x86_avx512.c - the row primitives of AVX-512 (F, BW, VL, DQ), from which
 * isa_kernels.h builds every kernel of the list, and the f32 lookup of short
 * rows written by hand. */
#include "config.h"

#ifdef EMB_HAVE_AVX512
#include <immintrin.h>

/* The lookups' and gradients' rows in flight cut their pieces at the
 * lines of the rows they write (row_loops.h, emb_out_line_lead): this
 * file's primitives write the part of a line before a 64-byte boundary
 * under a k-mask, once a piece otherwise. */
#define EMB_PIECES_AT_LINES (EMB_CUT_LOOKUPS | EMB_CUT_GRADS)
#include "internal.h"
#include "row_loops.h"
#include "x86_copy.h"
#include "x86_quant.h"

static inline __mmask16 first_lanes(size_t rem)
{
    return _cvtu32_mask16((1u << rem) - 1u);
}

/* The ends of a span of at least 16 floats that a primitive only reads
 * (a table's row, or a piece of it): the part before the output's 64-byte
 * boundary and the remainder after the whole vectors are loaded as whole
 * vectors from inside the span (its first 16 elements, its last 16) and
 * stored under a k-mask, last_lanes(n) for the last n lanes of a vector
 * that ends where the span does. A masked load stays only where the span
 * is shorter than a vector, so no load reaches past it. On AMD EPYC Zen 4
 * (family 25 model 17, KVM, gcc 12.2 -O2, 2026-12-07; calls alternating
 * with AVX2's in one process, rows read from DRAM, three to five runs),
 * with the k-masked loads, f16 and bf16 -> f32 into an output at 16 mod
 * 64 ran at 0.94-0.97x AVX2's speed from GPT-2's table (50257 x 768 x 512
 * and x 2048) and 0.90-0.91x at 1000 x 64 x 512, with whole loads at
 * 0.98-1.01x and 1.02x; the f32 lookup under line.realign 1 at 1000 x 64
 * x 512 went from 0.85-0.93x to 0.89-0.98x. Not for an accumulator (the
 * gradients' and the bags' adds): there the last whole vector overlaps
 * the store made just before it, its load waits for that store to leave
 * (no store-to-load forwarding), and the f16 gradient of 67-element rows
 * fell from 1.08x to 0.54x AVX2's speed; those keep their masked loads. */
static inline __mmask16 last_lanes(size_t n)
{
    return _cvtu32_mask16(~((1u << (16 - n)) - 1u) & 0xFFFFu);
}

/* The elements before d's next 64-byte boundary (0 on one, and where d is
 * not float-aligned: then no boundary falls between elements). */
EMB_ROW_PRIMITIVE size_t floats_to_line(const float *d)
{
    return (uintptr_t)d % sizeof(float) != 0 ? 0 : (64 - (uintptr_t)d % 64) % 64 / sizeof(float);
}

/* 512-bit moves, pieces of up to 256 floats (x86_copy.h). The row copy is
 * the one primitive whose best width differs between the CPUs measured:
 * - AMD EPYC Zen 4 (two 256-bit halves per ZMM; KVM, 2 vCPUs, gcc 12.2
 *   -O2, 2026-12-05; embsimd-bench, three runs each): with these moves
 *   the f32 lookup took 1.02-1.08x AVX2's time at 50257 x 768 x 2048,
 *   1.05x at 1000 x 768 x 512, 1.02-1.06x at 16384 x 4096 x 1024; with
 *   256-bit moves 0.99-1.02x, 0.98x and 0.96-1.03x.
 * - Intel Xeon (family 6 model 167, KVM, 2 vCPUs, gcc 12.2 -O2,
 *   2026-12-06): 256-bit moves took 1.16-1.20x the time of these at
 *   1000 x 64 x 512 and 50257 x 768 x 512 (the regression gate, against
 *   a revision with these moves); in a loop of gathered rows, 256-bit
 *   pieces took 1.09-1.20x the time of 512-bit ones and of glibc's memcpy
 *   at 1000 x 768, 50257 x 768 and 32000 x 128.
 * The default is the width whose worst case is the smaller (8 % against
 * 20 %); on a CPU that prefers 256-bit moves embsimd-tune runs AVX2's f32
 * lookup (emb_kernel_impl says so), as it did on that Zen 4. */
EMB_X86_DEFINE_ROW_COPY(copy_row_16, __m512, _mm512_loadu_ps, _mm512_storeu_ps, 16, 8)

/* dst = src, count <= 16 floats, under a k-mask (a k-masked load does not
 * fault on masked-off lanes: no access past the row's end). */
EMB_ROW_PRIMITIVE void copy_masked(float *dst, const float *src, size_t count)
{
    const __mmask16 k = first_lanes(count);
    _mm512_mask_storeu_ps(dst, k, _mm512_maskz_loadu_ps(k, src));
}

/* Into a destination off a 64-byte boundary every ZMM store would write
 * two lines: with `realign`, the floats up to the boundary go first under
 * a k-mask, the rest in whole vectors, each inside one line, and the last
 * dim % 16 under a k-mask (both loaded whole: last_lanes). Into an output
 * at 16 mod 64 bytes, at 1000 x
 * 768 x 512, this took 0.81x the time of the plain vector copy on the
 * Intel Xeon (family 6 model 167, 2026-12-06). Without it (line.realign
 * 0, tuning.c), every vector is stored where it falls and the last one
 * overlaps the one before it (x86_copy.h): on AMD EPYC Zen 4 (family 25
 * model 17, KVM, gcc 12.2 -O2, calls alternating with AVX2's in one
 * process, 2026-12-07) the f16 bit copy of 64-element rows into an output
 * at 16 mod 64 ran at 0.69x AVX2's speed with the lead and 1.34x without,
 * the f32 lookup at 1000 x 64 x 512 at 0.92x and 1.22x. */
EMB_ROW_PRIMITIVE void copy_row_s(float *dst, const float *src, size_t dim, int realign)
{
    if (dim < 16) {
        copy_masked(dst, src, dim);
        return;
    }
    const size_t lead = realign ? floats_to_line(dst) : 0;
    if (lead != 0)
        _mm512_mask_storeu_ps(dst, first_lanes(lead), _mm512_loadu_ps(src));
    const size_t body = (dim - lead) & ~(size_t)15;
    if (body != 0)
        copy_row_16(dst + lead, src + lead, body);
    if (lead + body < dim)
        _mm512_mask_storeu_ps(dst + dim - 16, last_lanes(dim - lead - body),
                              _mm512_loadu_ps(src + dim - 16));
}

EMB_ROW_PRIMITIVE void copy_row(float *dst, const float *src, size_t dim)
{
    copy_row_s(dst, src, dim, 1);
}

EMB_ROW_PRIMITIVE void copy_row_straight(float *dst, const float *src, size_t dim)
{
    copy_row_s(dst, src, dim, 0);
}

/* The last count < 8 floats of dst = a (+ b) under a k-mask (x86_copy.h). */
EMB_ROW_PRIMITIVE void rows_tail(float *dst, const float *a, const float *b, size_t count)
{
    const __mmask8 m = (__mmask8)((1u << count) - 1u);
    __m256 v = _mm256_maskz_loadu_ps(m, a);
    if (b != NULL)
        v = _mm256_add_ps(v, _mm256_maskz_loadu_ps(m, b));
    _mm256_mask_storeu_ps(dst, m, v);
}

/* dst[k] = a[k] + b[k]: the fused positional lookup's f32 rows, in ZMMs
 * as the row copy (copy_row): up to dst's 64-byte boundary under a k-mask,
 * 64 floats loaded before any is stored (4K aliasing, x86_copy.h), the
 * tail under a k-mask; the ends loaded whole where the row holds 16
 * floats (last_lanes). As fast as AVX2's 256-bit sum at GPT-2's shape
 * (50257 x 768 x 8192, Zipf ids, 64-float pieces, T=1): an emb_lookup and
 * an add pass took 1.29-1.33x the fused forward's time with it, 1.30-1.32x
 * with AVX2's, each in a loop of itself (Intel Xeon, family 6 model 167,
 * gcc 12.2 -O2, three runs, 2026-12-06); row_loops.h has the whole-row
 * sum's gain on top. */
EMB_ROW_PRIMITIVE __m512 sum16(const float *a, const float *b, __mmask16 m)
{
    return _mm512_add_ps(_mm512_maskz_loadu_ps(m, a), _mm512_maskz_loadu_ps(m, b));
}

/* The same from whole loads: the body, and the ends of a span of at least
 * 16 (last_lanes). */
EMB_ROW_PRIMITIVE __m512 sum16_whole(const float *a, const float *b)
{
    return _mm512_add_ps(_mm512_loadu_ps(a), _mm512_loadu_ps(b));
}

EMB_ROW_PRIMITIVE void add_rows(float *dst, const float *a, const float *b, size_t count)
{
    size_t j = 0;
    const size_t lead = floats_to_line(dst);
    if (lead != 0 && count > 16) {
        _mm512_mask_storeu_ps(dst, first_lanes(lead), sum16_whole(a, b));
        j = lead;
    }
    for (; j + 64 <= count; j += 64) {
        __m512 v[4];
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++)
            v[q] = sum16_whole(a + j + 16 * q, b + j + 16 * q);
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++)
            _mm512_storeu_ps(dst + j + 16 * q, v[q]);
    }
    for (; j + 16 <= count; j += 16)
        _mm512_storeu_ps(dst + j, sum16_whole(a + j, b + j));
    if (j < count && count >= 16) {
        const size_t e = count - 16; /* the last 16, whole (last_lanes) */
        _mm512_mask_storeu_ps(dst + e, last_lanes(count - j), sum16_whole(a + e, b + e));
    } else if (j < count) {
        const __mmask16 m = first_lanes(count - j);
        _mm512_mask_storeu_ps(dst + j, m, sum16(a + j, b + j, m));
    }
}

/* Streaming from a 16-byte boundary, shared with AVX2 (x86_copy.h says
 * why). */
EMB_X86_DEFINE_STREAM_ROWS()
EMB_X86_DEFINE_STREAM_ROWS(_straight)

EMB_DEFINE_COPY_PRIMITIVES(, copy_row)
EMB_DEFINE_COPY_PRIMITIVES(_stream, copy_row_stream)
EMB_DEFINE_COPY_PRIMITIVES(_straight, copy_row_straight)
EMB_DEFINE_COPY_PRIMITIVES(_straight_stream, copy_row_straight_stream)

/* Rows of at most two lines (128 bytes): one or two byte-masked moves
 * each, the masks hoisted out of the loop (measured 1.3-2x faster than
 * the general row copy at D <= 32 floats); neither prefetch nor streaming
 * pays on rows this short. A second move with an empty mask is not free,
 * hence two loops. Byte masks serve every bit copy: f32 rows and 16-bit
 * ones of any length (an odd count of halves included). */
static inline __attribute__((always_inline)) void
copy_short_rows(const uint8_t *table, size_t row_bytes, const void *ids, int ids64, size_t n,
                uint8_t *out)
{
    if (row_bytes <= 64) {
        const __mmask64 k = _cvtu64_mask64(~0ull >> (64 - row_bytes));
        for (size_t i = 0; i < n; i++)
            _mm512_mask_storeu_epi8(
                out + i * row_bytes, k,
                _mm512_maskz_loadu_epi8(k, table + emb_id(ids, ids64, i) * row_bytes));
        return;
    }
    const __mmask64 hi = _cvtu64_mask64(~0ull >> (128 - row_bytes));
    for (size_t i = 0; i < n; i++) {
        const uint8_t *src = table + emb_id(ids, ids64, i) * row_bytes;
        uint8_t *dst = out + i * row_bytes;
        const __m512i a = _mm512_loadu_si512(src);
        const __m512i b = _mm512_maskz_loadu_epi8(hi, src + 64);
        _mm512_storeu_si512(dst, a);
        _mm512_mask_storeu_epi8(dst + 64, hi, b);
    }
}

/* A kernel whose line.realign is read once a call: the generated kernel
 * (isa_kernels.h), whose row functions take the lead to the output's line,
 * or `straight`, the same loops on row functions without it (tuning.c has
 * the CPUs that prefer each). */
#define BY_LINE_REALIGN(realigned, straight, args)                                            \
    (emb_loops()->line_realign != 0 ? realigned args : straight args)

/* The bit copies (f32, f16 and bf16 into their own type): rows of at most
 * 128 bytes by the moves above; longer ones by the generated kernel, or,
 * under line.realign 0, by straight_T, the same loops on the row copy
 * without its lead (copy_row_s), the choice read once a call. Those
 * kernels' paths are functions of their own, 64-byte aligned, as every
 * other kernel's: with them inlined into one body with the short rows,
 * AVX-512's f32 lookup took 1.04-1.07x AVX2's time at 32000 x 128 x 8192
 * with the same row copy; as their own paths, 1.02-1.03x (AMD EPYC Zen 4,
 * KVM, gcc 12.2 -O2, alternating calls in one process, 2026-12-05). */
#define SHORT_ROWS_COPY(name, type, elem_bytes, copy, id)                                      \
    static void isa_##id(const uint8_t *table, size_t dim, const void *ids, int ids64,         \
                         size_t n, uint8_t *out, unsigned flags);                              \
    EMB_DEFINE_LOOKUP(, straight_##name, type, type, copy##_straight, copy##_straight_stream,   \
                      _mm_sfence)                                                             \
    static void name(const uint8_t *table, size_t dim, const void *ids, int ids64, size_t n,   \
                     uint8_t *out, unsigned flags)                                             \
    {                                                                                         \
        if (dim * (elem_bytes) > 128)                                                         \
            BY_LINE_REALIGN(isa_##id, straight_##name, (table, dim, ids, ids64, n, out, flags)); \
        else if (ids64)                                                                       \
            copy_short_rows(table, dim * (elem_bytes), ids, 1, n, out);                       \
        else                                                                                  \
            copy_short_rows(table, dim * (elem_bytes), ids, 0, n, out);                       \
    }
SHORT_ROWS_COPY(lookup_f32_f32, EMB_F32, 4, copy_f32, LOOKUP_F32_F32)
SHORT_ROWS_COPY(lookup_f16_f16, EMB_F16, 2, copy_16, LOOKUP_F16_F16)
SHORT_ROWS_COPY(lookup_bf16_bf16, EMB_BF16, 2, copy_16, LOOKUP_BF16_BF16)

EMB_ROW_PRIMITIVE void add_row(float *acc, const float *g, size_t dim)
{
    size_t j = 0;
    /* Across the dim only; one add per element per token, token order.
     * The body reads and writes 256 bits at a time: with 512-bit loads and
     * stores the gradient of 16 KiB rows from DRAM (16384 x 4096, 1024
     * tokens) took 1.10x AVX2's time on Zen 4 (1360 against 1235 us, the
     * same process, 64-byte aligned rows, so no line splits; aligning the
     * head did not help), and 256-bit ones match it (1124 / 1120 us); the
     * cache-resident 1000 x 64 gradient is 2.5 us either way (family 25
     * model 17, gcc 12.2 -O2, 2026-12-05, load 4-5). On Zen 5 (family 26
     * model 2) 512-bit row copies were behind AVX2's on long DRAM rows as
     * well: 0.64-0.74x memcpy against 0.71-0.83x at 128256 x 4096. Two
     * YMMs an iteration, as AVX2's loop: with four, the cache-resident
     * gradient at 1000 x 128 x 8192 took 1.06x the time of two and of
     * AVX2's in embsimd-bench (both ids; 1000 x 768 and 50257 x 768 x
     * 8192 within 1.5 %, 16384 x 4096 x 1024 0.99x; Intel Xeon, family 6
     * model 167, gcc 12.2 -O2, 2026-12-06). The tail stays 256-bit too,
     * under a k-mask: a 512-bit masked tail after the YMM body took the
     * gradient of 67-, 72-, 100- and 300-float rows to 1.05-1.18x AVX2's
     * time, and 0.98-1.03x as YMMs (same Xeon, ai-style pairs in one
     * process, 1000 x {67, 72, 100, 300} and 50257 x 67 x 8192, two runs,
     * 2026-12-07): mixing the two widths in one loop costs the Intel core
     * more than the wider tail saves. */
    for (; j + 16 <= dim; j += 16) {
        const __m256 a = _mm256_add_ps(_mm256_loadu_ps(acc + j), _mm256_loadu_ps(g + j));
        const __m256 b = _mm256_add_ps(_mm256_loadu_ps(acc + j + 8), _mm256_loadu_ps(g + j + 8));
        _mm256_storeu_ps(acc + j, a);
        _mm256_storeu_ps(acc + j + 8, b);
    }
    if (j + 8 <= dim) {
        _mm256_storeu_ps(acc + j, _mm256_add_ps(_mm256_loadu_ps(acc + j), _mm256_loadu_ps(g + j)));
        j += 8;
    }
    if (j < dim) {
        const __mmask8 k = (__mmask8)first_lanes(dim - j);
        const __m256 s = _mm256_add_ps(_mm256_maskz_loadu_ps(k, acc + j), _mm256_maskz_loadu_ps(k, g + j));
        _mm256_mask_storeu_ps(acc + j, k, s);
    }
}

EMB_DEFINE_ADD_PRIMITIVE(add_row)

/* ---- widening and dequantizing primitives --------------------------------
 * Where the output does not stay in L1, a light 512-bit body (a conversion
 * and a store) cost more than a 256-bit one on the Intel Xeon measured
 * (family 6 model 167, KVM, gcc 12.2 -O2, 2026-12-06; embsimd's lookups at
 * 1000 x 768 x 512 and x 64, calls alternating with AVX2's in one
 * process): q8_rowwise in a 256-bit body (YMMs, with the k-masked lead and
 * tail it then had) went from 0.90-0.96x to 0.96-1.00x AVX2's speed, into
 * an output at 16 mod 64 bytes from 1.11-1.16x to 1.15-1.19x, from the
 * GPT-2 table (50257 x 768 x 512, the regression gate) 12 % faster than
 * before. The lead and tail have since gone (q8_rowwise_s says why; not
 * measured again here). The f16 and bf16 widening gained up to 3 % in a
 * cache from a 256-bit body too, but took 1.5x the time from the GPT-2
 * table (the gate failed on it): it keeps whole ZMMs, 1.15-1.34x AVX2's
 * speed there. Streaming stores stay whole: a 64-byte one fills its
 * write-combining buffer at once.
 *
 * The blocked types (q8_0, q4_0, q4_K, q6_K) store a ZMM whole, or, under
 * the schedule's line.halves 1, as two YMM halves (STORE16). The Xeon
 * above ran the halves faster: q8_0, q4_0, q4_K 1.03-1.06x, 0.91-0.92x,
 * 1.04-1.06x AVX2's speed whole against 1.10-1.14x, 0.95-0.98x, 1.07-1.10x
 * in halves, into an aligned output. AMD Zen 4 (family 25 model 17, KVM,
 * gcc 12.2 -O2, 2026-12-07, same method, two runs) the other way round, by
 * more: q4_K, q6_K, q4_0, q8_0 at 0.97-0.98x, 1.17-1.18x, 1.04x, 1.28x in
 * halves against 1.29x, 1.30x, 1.22x, 1.40x whole into an aligned output;
 * at 16 mod 64 under line.realign 0 1.15x, 1.17x, 1.23x, 1.12x against
 * 1.35x, 1.26x, 1.32x, 1.31x, and under line.realign 1 (q4_K, q4_0)
 * 0.97x, 1.01x against 1.09x, 1.26x. Whole is the default, the better
 * worst case (tuning.c); embsimd-tune times the halves. */
#define STORE16(stream, halves, p, v)                                \
    do {                                                             \
        if (stream) {                                                \
            _mm512_stream_ps((p), (v));                              \
        } else if (halves) {                                         \
            _mm256_storeu_ps((p), _mm512_castps512_ps256(v));        \
            _mm256_storeu_ps((p) + 8, _mm512_extractf32x8_ps((v), 1)); \
        } else {                                                     \
            _mm512_storeu_ps((p), (v));                              \
        }                                                            \
    } while (0)

/* A whole ZMM store, for the widening (above). */
#define STORE16_WHOLE(stream, p, v) EMB_X86_STORE_AS(stream, p, v, _mm512_stream_ps, _mm512_storeu_ps)


/* bf16 is the high half of a binary32: a shift, every pattern unchanged. */
EMB_ROW_PRIMITIVE __m512 widen16_bf16(__m256i h)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* VCVTPH2PS (AVX512F) quiets a signalling NaN and keeps its payload, as the
 * scalar definition does, and converts fp16 subnormals exactly whatever
 * MXCSR.DAZ says, as F16C's form does. */
EMB_ROW_PRIMITIVE __m512 widen16_f16(__m256i h)
{
    return _mm512_cvtph_ps(h);
}

/* Eight elements in a YMM: the narrow stores' form (below), which only
 * f16's lookup takes; bf16's gained nothing from it. */
EMB_ROW_PRIMITIVE __m256 widen8_bf16(__m128i h)
{
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

EMB_ROW_PRIMITIVE __m256 widen8_f16(__m128i h)
{
    return _mm256_maskz_cvtph_ps(0xFF, h); /* AVX512VL's form: no F16C needed */
}

/* How a widening writes its body: whole ZMMs, streamed or not (the 0 and
 * 1 EMB_DEFINE_STREAM_PAIR passes), or YMMs (WIDEN_NARROW) for calls whose
 * output stays in L2 (lookup_f16_f32). */
enum { WIDEN_STORE = 0, WIDEN_STREAM = 1, WIDEN_NARROW = 2 };

/* The first n < 16 of v's floats into p, 16-byte aligned: streamed in
 * whole XMMs, the last n % 4 by an ordinary store (only a row whose length
 * is not a multiple of four floats leaves any, and then its neighbours
 * are not 16-byte aligned either). */
EMB_ROW_PRIMITIVE void stream_first(float *p, __m512 v, size_t n)
{
    if (n >= 4)
        _mm_stream_ps(p, _mm512_castps512_ps128(v));
    if (n >= 8)
        _mm_stream_ps(p + 4, _mm512_extractf32x4_ps(v, 1));
    if (n >= 12)
        _mm_stream_ps(p + 8, _mm512_extractf32x4_ps(v, 2));
    if (n % 4 != 0)
        _mm512_mask_storeu_ps(p, (__mmask16)(first_lanes(n) & ~first_lanes(n & ~(size_t)3)), v);
}

/* v's floats from lane `from` (4, 8 or 12) into p + from, p a line:
 * streamed in whole XMMs. */
EMB_ROW_PRIMITIVE void stream_from(float *p, __m512 v, unsigned from)
{
    if (from <= 4)
        _mm_stream_ps(p + 4, _mm512_extractf32x4_ps(v, 1));
    if (from <= 8)
        _mm_stream_ps(p + 8, _mm512_extractf32x4_ps(v, 2));
    _mm_stream_ps(p + 12, _mm512_extractf32x4_ps(v, 3));
}

/* v's lanes from `by` on, moved down to lane 0 (the lanes above them
 * unspecified): a span's last vector, loaded whole (last_lanes), for
 * stream_first. */
EMB_ROW_PRIMITIVE __m512 lanes_down(__m512 v, size_t by)
{
    const __m512i from = _mm512_add_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32((int)by));
    return _mm512_permutexvar_ps(from, v);
}

/* A ZMM store into a destination off a 64-byte boundary writes two lines;
 * where the destination is at least float-aligned, the elements up to the
 * boundary go first under a k-mask, and every store of the loop then
 * writes one line. Into an output at 16 mod 64 bytes (what malloc gives a
 * large block), f16 -> f32 at 1000 x 768 x 512 went from 1.00-1.01x
 * AVX2's speed to 1.02-1.04x (aligned: 0.98-1.00x either way; AMD EPYC
 * Zen 4, KVM, gcc 12.2 -O2, calls alternating in one process,
 * 2026-12-05). Whole ZMM stores (STORE16's comment says why), except
 * under WIDEN_NARROW. Streaming (WIDEN_STREAM, a destination 16-byte
 * aligned), the lead and the tail stream too, in XMMs, as the row copy's
 * (x86_copy.h says why): with them under k-masks, every row's first piece
 * (off a line, where the rows in flight cut the rest at the output's
 * lines) was stored without streaming, and f16 -> f32 from GPT-2's table
 * into an output at 16 mod 64 took 1.4-1.6x the time it took into an
 * aligned one, in both ISAs. */
#define WIDEN_PRIMITIVE(name, widen16, widen8)                                              \
    EMB_ROW_PRIMITIVE void name##_s(uint8_t *dst, const uint8_t *src, size_t j, size_t count, \
                                    size_t dim, int stores)                                 \
    {                                                                                      \
        (void)dim; /* 16-bit rows have nothing after their elements */                     \
        float *d = (float *)dst + j;                                                       \
        const uint8_t *s = src + 2 * j;                                                    \
        size_t k = 0;                                                                      \
        /* Up to a 64-byte boundary under a k-mask (above); streamed, in XMMs. The        \
         * ends load whole vectors where the piece holds one (last_lanes). */             \
        const size_t lead = floats_to_line(d);                                             \
        if (stores == WIDEN_STREAM && lead != 0) {                                         \
            const size_t first = lead < count ? lead : count;                              \
            stream_first(d,                                                                \
                         widen16(count >= 16 ? _mm256_loadu_si256((const __m256i *)s)      \
                                             : _mm256_maskz_loadu_epi16(first_lanes(first), s)), \
                         first);                                                           \
            k = first;                                                                     \
        } else if (lead != 0 && count > 16) {                                              \
            _mm512_mask_storeu_ps(d, first_lanes(lead),                                    \
                                  widen16(_mm256_loadu_si256((const __m256i *)s)));        \
            k = lead;                                                                      \
        }                                                                                  \
        if (stores == WIDEN_NARROW)                                                        \
            for (; k + 8 <= count; k += 8)                                                 \
                _mm256_storeu_ps(d + k, widen8(_mm_loadu_si128((const __m128i *)(s + 2 * k)))); \
        for (; k + 16 <= count; k += 16)                                                   \
            STORE16_WHOLE(stores == WIDEN_STREAM, d + k,                                   \
                          widen16(_mm256_loadu_si256((const __m256i *)(s + 2 * k))));      \
        if (k < count && count >= 16) {                                                   \
            const size_t e = count - 16; /* the piece's last 16 elements */                \
            const __m512 v = widen16(_mm256_loadu_si256((const __m256i *)(s + 2 * e)));    \
            if (stores == WIDEN_STREAM)                                                    \
                stream_first(d + k, lanes_down(v, k - e), count - k);                      \
            else                                                                           \
                _mm512_mask_storeu_ps(d + e, last_lanes(count - k), v);                    \
        } else if (k < count) {                                                            \
            const __mmask16 m = first_lanes(count - k);                                    \
            const __m512 v = widen16(_mm256_maskz_loadu_epi16(m, s + 2 * k));              \
            if (stores == WIDEN_STREAM)                                                    \
                stream_first(d + k, v, count - k);                                         \
            else                                                                           \
                _mm512_mask_storeu_ps(d + k, m, v);                                        \
        }                                                                                  \
    }
WIDEN_PRIMITIVE(widen_bf16, widen16_bf16, widen8_bf16)
WIDEN_PRIMITIVE(widen_f16, widen16_f16, widen8_f16)

/* q8_0 and q4_0 block by block: the fp16 scale d by one VCVTPH2PS of a
 * broadcast (exact), each element's (float)q * d one rounded multiply, as
 * the scalar definition (types.h). */
EMB_ROW_PRIMITIVE __m512 block_scale(const uint8_t *block)
{
    return _mm512_cvtph_ps(_mm256_set1_epi16((short)emb_load_u16(block)));
}

EMB_ROW_PRIMITIVE __m512 scale16_i32(__m512i q, __m512 d)
{
    return _mm512_mul_ps(_mm512_cvtepi32_ps(q), d);
}

/* The blocked types' primitives (q8_0, q4_0, q4_K, q6_K) make whole
 * 16-float vectors in the order of the output, but at positions fixed by
 * their blocks, so they cannot start at a later element to reach a line as
 * WIDEN_PRIMITIVE does. Into an output off a 64-byte boundary each ZMM
 * store would then write two lines. line_out instead shifts the stream of
 * vectors by the output's offset in its line (one VPERMT2PS of the
 * previous vector and this one) and writes each line on its own (whole or
 * in two YMM halves, as STORE16), the first and last line of the piece
 * under a k-mask. Into an output at 16 mod 64 bytes (what malloc gives a large
 * block), at 1000 x 768 x 512, AVX-512 ran at 0.79x (q8_0), 0.64x (q4_0),
 * 0.62x (q4_K) and 0.95x (q6_K) AVX2's speed before, 1.12-1.13x,
 * 0.97-1.01x, 1.14-1.15x and 1.17-1.19x after (Intel Xeon, family 6
 * model 167, KVM, gcc 12.2 -O2, calls alternating in one process,
 * 2026-12-06). Where `realign` is 0 (a line-aligned output, or one not
 * float-aligned, where no line boundary falls between elements), each
 * vector is stored where it belongs, streaming or not. */
typedef struct line_out {
    float *p;       /* realign: the line the next store writes */
    __m512 prev;    /* realign: the previous vector */
    __m512i idx;    /* lane i of a store: prev[16 - sh + i] for i < sh, else v[i - sh] */
    __mmask16 keep; /* realign: the lanes of the next store inside the output */
    unsigned sh;    /* realign: floats of the first line before the output */
} line_out;

/* realign for an output that starts off a line at a float boundary. */
EMB_ROW_PRIMITIVE int off_line(const float *d)
{
    return (uintptr_t)d % 64 != 0 && (uintptr_t)d % sizeof(float) == 0;
}

/* How a blocked type's row stores its vectors: streaming, shifted to the
 * output's lines (realign, above), as two YMM halves (STORE16); bits of
 * the row functions' `form`, a constant in each (LINE_OUT_PAIR). */
enum { OUT_STREAM = 1, OUT_REALIGN = 2, OUT_HALVES = 4 };

EMB_ROW_PRIMITIVE line_out line_out_begin(float *d, unsigned form)
{
    const int realign = (form & OUT_REALIGN) != 0;
    line_out o = {.p = d};
    if (realign) {
        o.sh = (unsigned)((uintptr_t)d % 64 / sizeof(float));
        o.p = d - o.sh;
        o.prev = _mm512_setzero_ps();
        o.idx = _mm512_add_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                 _mm512_set1_epi32((int)(16 - o.sh)));
        o.keep = _cvtu32_mask16(0xFFFFu << o.sh);
    }
    return o;
}

EMB_ROW_PRIMITIVE void line_out_put(line_out *o, __m512 v, unsigned form)
{
    const int stream = (form & OUT_STREAM) != 0, halves = (form & OUT_HALVES) != 0;
    if (form & OUT_REALIGN) {
        const __m512 w = _mm512_permutex2var_ps(o->prev, o->idx, v);
        if (!stream && halves) { /* as STORE16 */
            _mm256_mask_storeu_ps(o->p, (__mmask8)o->keep, _mm512_castps512_ps256(w));
            _mm256_mask_storeu_ps(o->p + 8, (__mmask8)(o->keep >> 8), _mm512_extractf32x8_ps(w, 1));
        } else if (!stream) {
            _mm512_mask_storeu_ps(o->p, o->keep, w);
        } else if (_cvtmask16_u32(o->keep) == 0xFFFFu) {
            _mm512_stream_ps(o->p, w);
        } else {
            stream_from(o->p, w, o->sh);
        }
        o->keep = _cvtu32_mask16(0xFFFFu);
        o->prev = v;
    } else {
        STORE16(stream, halves, o->p, v);
    }
    o->p += 16;
}

/* The last vector's lanes that fall into the line after it. */
EMB_ROW_PRIMITIVE void line_out_end(const line_out *o, unsigned form)
{
    if (!(form & OUT_REALIGN))
        return;
    const __m512 w = _mm512_permutex2var_ps(o->prev, o->idx, _mm512_setzero_ps());
    if (form & OUT_STREAM)
        stream_first(o->p, w, o->sh);
    else
        _mm512_mask_storeu_ps(o->p, first_lanes(o->sh), w);
}

/* A row function (emb_row_fn) that is one call of a body's helper. */
#define LINE_OUT_ROW(fn, helper, ...)                                                         \
    EMB_ROW_PRIMITIVE void fn(uint8_t *dst, const uint8_t *src, size_t j, size_t count,        \
                              size_t dim)                                                      \
    {                                                                                         \
        helper(dst, src, j, count, dim, __VA_ARGS__);                                         \
    }

/* The row functions from a blocked type's body name##_s(..., form):
 * as EMB_DEFINE_STREAM_PAIR, plus line_out's path for an output off a
 * line; name##_straight, name##_straight_stream without it, each vector
 * stored where it falls, for a schedule whose line.realign is 0; and
 * name##_halves, name##_straight_halves, their ordinary stores in YMM
 * halves, for line.halves 1 (tuning.c has the CPUs that prefer each).
 * Streaming into an output off a line, all take line_out's path, which
 * streams its whole lines and, where the output is 16-byte aligned, the
 * parts of its first and last line in XMMs (every store of a streamed row
 * streams: x86_copy.h says why): from GPT-2's table into an output at 16
 * mod 64, where they streamed nothing, q8_0 and q4_0 took 2.1-2.3 ms
 * against 0.94-1.03 ms into an aligned one (AMD EPYC Zen 4, family 25
 * model 17, KVM, gcc 12.2 -O2, 50257 x 768 x 8192, 2026-12-07). A
 * streamed call into an output off 16 bytes stores whole ZMMs whatever
 * line.halves says. */
#define LINE_OUT_PAIR(name)                                                                   \
    /* ordinary stores: shifted to the lines of an output off one where \
     * `realign` says, in halves where `halves` (OUT_HALVES or 0) */        \
    EMB_ROW_PRIMITIVE void name##_ordinary(uint8_t *dst, const uint8_t *src, size_t j,        \
                                           size_t count, size_t dim, int realign,             \
                                           unsigned halves)                                   \
    {                                                                                         \
        if (realign && off_line((float *)dst + j))                                            \
            name##_s(dst, src, j, count, dim, OUT_REALIGN | halves);                          \
        else                                                                                  \
            name##_s(dst, src, j, count, dim, halves);                                        \
    }                                                                                         \
    /* streamed from a line, or shifted to the lines from 16 bytes past \
     * one; else ordinary stores, shifted where `realign` says */          \
    EMB_ROW_PRIMITIVE void name##_streamed(uint8_t *dst, const uint8_t *src, size_t j,        \
                                           size_t count, size_t dim, int realign)             \
    {                                                                                         \
        const uintptr_t at = (uintptr_t)((float *)dst + j);                                   \
        if (at % 64 == 0)                                                                     \
            name##_s(dst, src, j, count, dim, OUT_STREAM);                                    \
        else if (at % 16 == 0)                                                                \
            name##_s(dst, src, j, count, dim, OUT_STREAM | OUT_REALIGN);                      \
        else                                                                                  \
            name##_ordinary(dst, src, j, count, dim, realign, 0);                             \
    }                                                                                         \
    LINE_OUT_ROW(name##_straight, name##_ordinary, 0, 0)                                      \
    LINE_OUT_ROW(name##_straight_halves, name##_ordinary, 0, OUT_HALVES)                      \
    LINE_OUT_ROW(name##_straight_stream, name##_streamed, 0)                                  \
    LINE_OUT_ROW(name, name##_ordinary, 1, 0)                                                 \
    LINE_OUT_ROW(name##_halves, name##_ordinary, 1, OUT_HALVES)                               \
    LINE_OUT_ROW(name##_stream, name##_streamed, 1)

EMB_ROW_PRIMITIVE void q8_0_s(uint8_t *dst, const uint8_t *src, size_t j, size_t count,
                              size_t dim, unsigned form)
{
    (void)dim;
    line_out o = line_out_begin((float *)dst + j, form);
    for (size_t k = 0; k < count; k += EMB_QBLOCK) {
        const uint8_t *block = src + (j + k) / EMB_QBLOCK * EMB_Q8_0_BYTES;
        const __m512 vd = block_scale(block);
        const __m128i lo = _mm_loadu_si128((const __m128i *)(block + 2));
        const __m128i hi = _mm_loadu_si128((const __m128i *)(block + 18));
        line_out_put(&o, scale16_i32(_mm512_cvtepi8_epi32(lo), vd), form);
        line_out_put(&o, scale16_i32(_mm512_cvtepi8_epi32(hi), vd), form);
    }
    line_out_end(&o, form);
}

EMB_ROW_PRIMITIVE void q4_0_s(uint8_t *dst, const uint8_t *src, size_t j, size_t count,
                              size_t dim, unsigned form)
{
    (void)dim;
    line_out o = line_out_begin((float *)dst + j, form);
    /* The block's 16 possible values (float)(q - 8) * d, one rounded
     * multiply each as the definition, looked up by each nibble q: VPERMPS
     * reads the low 4 bits of each index, so the low nibble needs no mask,
     * and one lookup stands for a subtraction, a conversion and a
     * multiply, with the same bits. */
    const __m512 values = _mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7);
    for (size_t k = 0; k < count; k += EMB_QBLOCK) {
        const uint8_t *block = src + (j + k) / EMB_QBLOCK * EMB_Q4_0_BYTES;
        const __m512 vd = block_scale(block);
        /* qs[0..15] as int32: x[j] from the low nibble, x[j + 16] from the
         * high one. */
        const __m512i qs = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(block + 2)));
        const __m512 lut = _mm512_mul_ps(values, vd); /* (float)(q - 8) * d, q = 0..15 */
        line_out_put(&o, _mm512_permutexvar_ps(qs, lut), form);
        line_out_put(&o, _mm512_permutexvar_ps(_mm512_srli_epi32(qs, 4), lut), form);
    }
    line_out_end(&o, form);
}

/* AVX512VL's form of the 256-bit VFMADD (this file is built without
 * -mfma; an all-ones mask compiles to the plain instruction). */
EMB_ROW_PRIMITIVE __m256 fmadd8(__m256 a, __m256 b, __m256 c)
{
    return _mm256_maskz_fmadd_ps(0xFF, a, b, c);
}

/* q8_rowwise in AVX2's 256-bit body (x86_quant.h). A k-masked lead up to
 * the output's line and a k-masked tail, inlined into the rows in flight,
 * took the lookup to 0.79-0.82x AVX2's speed from GPT-2's table into an
 * aligned output, where neither ran (AMD EPYC Zen 4, family 25 model 17,
 * KVM, gcc 12.2 -O2, 50257 x 768 x 2048, calls alternating in one
 * process, three runs, 2026-12-07); without them 0.96-1.03x, and the rows
 * in flight now cut q8_rowwise's pieces at the output's lines themselves
 * (emb_out_line_lead), as every element-wise type's. */
EMB_X86_DEFINE_Q8_ROWWISE(fmadd8)

/* The k-quants super-block by super-block (256 elements): the formula's
 * per-sub-block factors (types.h) formed once per super-block, sixteen
 * lanes in one multiply, and broadcast from there; each element then costs
 * the widening of its quant, one convert and the formula's remaining fp32
 * operations, in the scalar definition's order. */


/* q4_K: dm[k] = d * sc[k] and dm[8 + k] = dmin * m[k], k = 0..7 (exact):
 * d in the low eight lanes and dmin in the high ones, by a k-mask blend. */
EMB_ROW_PRIMITIVE void q4_K_factors(float dm[16], const uint8_t *block)
{
    const __m512 scale = _mm512_mask_blend_ps(0xFF00, block_scale(block), block_scale(block + 2));
    const __m512 sc_m = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(q4_K_unpack(block + 4)));
    _mm512_storeu_ps(dm, _mm512_mul_ps(scale, sc_m));
}

/* (d * sc) * q - dmin * m for 16 int32 quants: the multiply is exact, the
 * subtraction the one rounding (VSUBPS: an unfused op, like the scalar). */
EMB_ROW_PRIMITIVE __m512 q4_K_elems16(__m512i q, __m512 dsc, __m512 mn)
{
    return _mm512_sub_ps(_mm512_mul_ps(dsc, _mm512_cvtepi32_ps(q)), mn);
}

EMB_ROW_PRIMITIVE void q4_K_s(uint8_t *dst, const uint8_t *src, size_t j, size_t count,
                              size_t dim, unsigned form)
{
    (void)dim;
    line_out o = line_out_begin((float *)dst + j, form);
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (size_t k = 0; k < count; k += EMB_QK_K) {
        const uint8_t *block = src + (j + k) / EMB_QK_K * EMB_Q4_K_BYTES;
        float dm[16];
        q4_K_factors(dm, block);
        /* Bytes 32g .. 32g + 31 of qs hold sub-block 2g in their low
         * nibbles and 2g + 1 in their high ones: sixteen bytes widened
         * straight from memory give sixteen elements of each. */
        for (int g = 0; g < 4; g++) {
            const uint8_t *qs = block + 16 + 32 * g;
            /* A sub-block's 16 possible values, the definition's
             * expression for q = 0..15: each element is then one VPERMPS
             * of its nibble (which reads the low 4 bits of each lane, so
             * the low nibbles need no mask), the same bits as computing it
             * element by element. */
            const __m512 lut_lo = q4_K_elems16(iota, _mm512_set1_ps(dm[2 * g]),
                                               _mm512_set1_ps(dm[8 + 2 * g]));
            const __m512 lut_hi = q4_K_elems16(iota, _mm512_set1_ps(dm[2 * g + 1]),
                                               _mm512_set1_ps(dm[9 + 2 * g]));
            /* In the output's order: sub-block 2g's 32 elements, then 2g + 1's. */
            const __m512i q0 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)qs));
            const __m512i q1 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(qs + 16)));
            line_out_put(&o, _mm512_permutexvar_ps(q0, lut_lo), form);
            line_out_put(&o, _mm512_permutexvar_ps(q1, lut_lo), form);
            line_out_put(&o, _mm512_permutexvar_ps(_mm512_srli_epi32(q0, 4), lut_hi), form);
            line_out_put(&o, _mm512_permutexvar_ps(_mm512_srli_epi32(q1, 4), lut_hi), form);
        }
    }
    line_out_end(&o, form);
}

EMB_ROW_PRIMITIVE void q6_K_s(uint8_t *dst, const uint8_t *src, size_t j, size_t count,
                              size_t dim, unsigned form)
{
    (void)dim;
    line_out o = line_out_begin((float *)dst + j, form);
    for (size_t k = 0; k < count; k += EMB_QK_K) {
        const uint8_t *block = src + (j + k) / EMB_QK_K * EMB_Q6_K_BYTES;
        /* ds[i] = d * scales[i], i = 0..15 (exact), in one multiply. */
        float ds[16];
        const __m128i s = _mm_loadu_si128((const __m128i *)(block + 192));
        _mm512_storeu_ps(ds, _mm512_mul_ps(block_scale(block + 208),
                                           _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(s))));
        for (int n = 0; n < 2; n++) {
            __m256i q[4];
            q6_K_quants(q, block, n);
            /* Unrolled, so that q[] stays in registers. */
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) {
                const __m256i v = q[r];
                /* Elements l = 0..15 take scales[8n + 2r], 16..31 the next;
                 * each 32 follow the last in the output. */
                line_out_put(&o,
                             scale16_i32(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(v)),
                                         _mm512_set1_ps(ds[8 * n + 2 * r])),
                             form);
                line_out_put(&o,
                             scale16_i32(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(v, 1)),
                                         _mm512_set1_ps(ds[8 * n + 2 * r + 1])),
                             form);
            }
        }
    }
    line_out_end(&o, form);
}

EMB_DEFINE_STREAM_PAIR(, widen_bf16, 16)
EMB_DEFINE_STREAM_PAIR(, widen_f16, 16)

/* f16 -> f32 into an output that stays in L2 takes the widening's body in
 * YMMs: at 1000 x 64 x 512 (128 KiB out) whole ZMMs took 0.93-0.94x
 * AVX2's speed, YMMs 0.97-1.02x; at 1000 x 64 x 2048-6144 (0.5-1.5 MiB
 * out) YMMs took 0.93-0.98x the time of ZMMs. Once the output leaves L2
 * the ZMMs win: 32000 x 64 x 8192 (2 MiB out, a 4 MiB table) took 1.19x
 * their time in YMMs, 50257 x 768 x 8192 1.15x (Intel Xeon, family 6
 * model 167, gcc 12.2 -O2, both builds in one process, calls alternating,
 * 2026-12-06). bf16's body gained nothing from YMMs there (0.99-1.01x).
 * The bound, narrow.max_bytes of the bytes a call (a thread's part of it)
 * reads and writes, is the schedule's (tuning.c). */
static void isa_LOOKUP_F16_F32(const uint8_t *table, size_t dim, const void *ids, int ids64,
                               size_t n, uint8_t *out, unsigned flags);

EMB_ROW_PRIMITIVE void widen_f16_narrow(uint8_t *dst, const uint8_t *src, size_t j, size_t count,
                                        size_t dim)
{
    widen_f16_s(dst, src, j, count, dim, WIDEN_NARROW);
}
EMB_LOOKUP_PATH(, lookup_f16_narrow, EMB_F16, EMB_F32, widen_f16_narrow, widen_f16_stream, 0, 0)
EMB_LOOKUP_PATH(, lookup_f16_narrow, EMB_F16, EMB_F32, widen_f16_narrow, widen_f16_stream, 1, 0)

/* Rows of at most 64 elements under line.realign 0, in a call without
 * hints or streaming stores: whole ZMMs stored where they fall, the last
 * dim % 16 under a mask hoisted out of the loop (loaded whole where the
 * row holds 16: last_lanes), no lead to a line. On
 * AMD EPYC Zen 4 (family 25 model 17, KVM, gcc 12.2 -O2, calls
 * alternating with AVX2's in one process, two runs, 2026-12-07), f16 at
 * 1000 x 32 x 512 went from 0.78-0.79x AVX2's speed to 1.12-1.13x into an
 * aligned output and from 0.74-0.75x to 0.97-0.98x at 16 mod 64; f16 at
 * 50257 x 64 x 8192 from 0.80-0.81x to 1.03x at 16 mod 64, and f16 and
 * bf16 at 1000 x 64 x 512 from 0.90-0.92x to 0.97-0.99x there. */
#define WIDEN_SHORT_ROWS(name, widen16)                                                        \
    static inline __attribute__((always_inline)) void name(const uint8_t *table, size_t dim,   \
                                                           const void *ids, int ids64,         \
                                                           size_t n, float *out)               \
    {                                                                                         \
        const size_t whole = dim / 16;                                                        \
        const __mmask16 last = first_lanes(dim % 16);                                         \
        for (size_t i = 0; i < n; i++) {                                                      \
            const uint8_t *src = table + emb_id(ids, ids64, i) * dim * 2;                     \
            float *dst = out + i * dim;                                                       \
            for (size_t q = 0; q < whole; q++)                                                \
                _mm512_storeu_ps(dst + 16 * q,                                                \
                                 widen16(_mm256_loadu_si256((const __m256i *)(src + 32 * q)))); \
            if (last != 0 && whole != 0) /* the last 16, whole (last_lanes) */               \
                _mm512_mask_storeu_ps(dst + dim - 16, last_lanes(dim % 16),                   \
                                      widen16(_mm256_loadu_si256(                             \
                                          (const __m256i *)(src + 2 * (dim - 16)))));         \
            else if (last != 0)                                                               \
                _mm512_mask_storeu_ps(dst + 16 * whole, last,                                 \
                                      widen16(_mm256_maskz_loadu_epi16(last, src + 32 * whole))); \
        }                                                                                     \
    }                                                                                         \
    static void name##_lookup(const uint8_t *table, size_t dim, const void *ids, int ids64,    \
                              size_t n, uint8_t *out)                                         \
    {                                                                                         \
        if (ids64)                                                                            \
            name(table, dim, ids, 1, n, (float *)out);                                        \
        else                                                                                  \
            name(table, dim, ids, 0, n, (float *)out);                                        \
    }
WIDEN_SHORT_ROWS(widen_short_f16, widen16_f16)
WIDEN_SHORT_ROWS(widen_short_bf16, widen16_bf16)

EMB_ROW_PRIMITIVE int widen_short_call(size_t dim, unsigned flags)
{
    return dim <= 64 && (flags & (EMB_KF_STREAM | EMB_KF_PREFETCH)) == 0 &&
           emb_loops()->line_realign == 0;
}

static void isa_LOOKUP_BF16_F32(const uint8_t *table, size_t dim, const void *ids, int ids64,
                                size_t n, uint8_t *out, unsigned flags);
static void lookup_bf16_f32(const uint8_t *table, size_t dim, const void *ids, int ids64,
                            size_t n, uint8_t *out, unsigned flags)
{
    if (widen_short_call(dim, flags))
        widen_short_bf16_lookup(table, dim, ids, ids64, n, out);
    else
        isa_LOOKUP_BF16_F32(table, dim, ids, ids64, n, out, flags);
}

static void lookup_f16_f32(const uint8_t *table, size_t dim, const void *ids, int ids64,
                           size_t n, uint8_t *out, unsigned flags)
{
    if (widen_short_call(dim, flags)) {
        widen_short_f16_lookup(table, dim, ids, ids64, n, out);
        return;
    }
    /* n * dim: the output's elements, which exist, so no overflow */
    const size_t narrow_elems = emb_loops()->narrow_max_bytes / (sizeof(float) + 2);
    if ((flags & (EMB_KF_STREAM | EMB_KF_PREFETCH)) != 0 || n * dim >= narrow_elems)
        isa_LOOKUP_F16_F32(table, dim, ids, ids64, n, out, flags);
    else if (ids64)
        lookup_f16_narrow_1_0(table, dim, ids, n, out);
    else
        lookup_f16_narrow_0_0(table, dim, ids, n, out);
}
LINE_OUT_PAIR(q8_0)
LINE_OUT_PAIR(q4_0)
EMB_DEFINE_STREAM_PAIR(, q8_rowwise, 16)
LINE_OUT_PAIR(q4_K)
LINE_OUT_PAIR(q6_K)

/* The blocked types' lookups into f32, their line.realign and line.halves
 * read once a call: the generated kernel (isa_kernels.h) realigns and
 * stores whole ZMMs, straight_T stores each vector where it falls,
 * halves_T and straight_halves_T the same in YMM halves. An output on a
 * line, or off a float, takes the same stores under either line.realign. */
#define LINE_OUT_LOOKUP(name, type, id)                                                      \
    static void isa_##id(const uint8_t *table, size_t dim, const void *ids, int ids64,       \
                         size_t n, uint8_t *out, unsigned flags);                            \
    EMB_DEFINE_LOOKUP(, straight_##name, type, EMB_F32, name##_straight,                    \
                      name##_straight_stream, _mm_sfence)                                    \
    EMB_DEFINE_LOOKUP(, halves_##name, type, EMB_F32, name##_halves, name##_stream,         \
                      _mm_sfence)                                                            \
    EMB_DEFINE_LOOKUP(, straight_halves_##name, type, EMB_F32, name##_straight_halves,      \
                      name##_straight_stream, _mm_sfence)                                    \
    static void lookup_##name##_f32(const uint8_t *table, size_t dim, const void *ids,      \
                                    int ids64, size_t n, uint8_t *out, unsigned flags)      \
    {                                                                                       \
        if (emb_loops()->line_halves != 0)                                                  \
            BY_LINE_REALIGN(halves_##name, straight_halves_##name,                          \
                            (table, dim, ids, ids64, n, out, flags));                       \
        else                                                                                \
            BY_LINE_REALIGN(isa_##id, straight_##name, (table, dim, ids, ids64, n, out, flags)); \
    }
LINE_OUT_LOOKUP(q8_0, EMB_Q8_0, LOOKUP_Q8_0_F32)
LINE_OUT_LOOKUP(q4_0, EMB_Q4_0, LOOKUP_Q4_0_F32)
LINE_OUT_LOOKUP(q4_K, EMB_Q4_K, LOOKUP_Q4_K_F32)
LINE_OUT_LOOKUP(q6_K, EMB_Q6_K, LOOKUP_Q6_K_F32)

/* Gradient primitives: acc[j + k] += widen(g[j + k]), one fp32 add each.
 * The accumulator's elements up to a 64-byte boundary go first under a
 * k-mask, as WIDEN_PRIMITIVE's (then no load or store of the loop spans
 * two lines), and its tail the same way. f16 gradients at 1000 x 768 x
 * 512 into a table at 16 mod 64 bytes took 0.97x the time of the loop
 * without the lead; at 50257 x 768 x 8192 0.89-0.92x, and 0.87-0.90x
 * AVX2's, into an aligned table too, where the lead does not run (the VM
 * had no counters to say why; Intel Xeon, family 6 model 167, KVM, gcc
 * 12.2 -O2, both builds in one process, calls alternating, 2026-12-06). */
#define ADD_WIDENED(name, widen16)                                                          \
    EMB_ROW_PRIMITIVE void name##_masked(float *a, const uint8_t *s, __mmask16 m)           \
    {                                                                                      \
        const __m512 x = widen16(_mm256_maskz_loadu_epi16(m, s));                          \
        _mm512_mask_storeu_ps(a, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, a), x));         \
    }                                                                                      \
    EMB_ROW_PRIMITIVE void name##_s(float *acc, const uint8_t *g, size_t j, size_t count,   \
                                    int realign)                                            \
    {                                                                                      \
        float *a = acc + j;                                                                \
        const uint8_t *s = g + 2 * j;                                                      \
        size_t k = 0;                                                                      \
        const size_t lead = realign ? floats_to_line(a) : 0;                               \
        /* The lead and the first whole vector are both loaded before either is       \
         * stored: a load within the 64 bytes of a k-masked store waits for that        \
         * store, even where its own lanes are all masked off in the store. On AMD      \
         * Zen 4 (family 25 model 17, KVM, gcc 12.2 -O2, 2026-12-08; calls              \
         * alternating with AVX2's in one process, tables at 16 mod 64, three runs)     \
         * loading after the lead's store held f16 and bf16 at 1000 x 64 x 512 to       \
         * 0.53-0.58x AVX2's speed, at 1000 x 67 x 256 to 0.87x and 0.66x, f16 at       \
         * D = 128 to 0.81-0.84x; loading first, 0.92-0.98x, 1.44x and 1.11x, 1.13-1.17x \
         * (50257 x 768 x 512 unchanged, 0.94-0.99x). */                                 \
        if (lead != 0 && count >= lead + 16) {                                             \
            const __mmask16 m = first_lanes(lead);                                         \
            const __m512 x = _mm512_add_ps(_mm512_maskz_loadu_ps(m, a),                    \
                                           widen16(_mm256_maskz_loadu_epi16(m, s)));       \
            const __m512 y = _mm512_add_ps(_mm512_loadu_ps(a + lead),                      \
                widen16(_mm256_loadu_si256((const __m256i *)(s + 2 * lead))));             \
            _mm512_mask_storeu_ps(a, m, x);                                                \
            _mm512_storeu_ps(a + lead, y);                                                 \
            k = lead + 16;                                                                 \
        } else if (lead != 0 && count > 16) {                                              \
            name##_masked(a, s, first_lanes(lead));                                        \
            k = lead;                                                                      \
        }                                                                                  \
        for (; k + 16 <= count; k += 16) {                                                 \
            const __m512 x = widen16(_mm256_loadu_si256((const __m256i *)(s + 2 * k)));     \
            _mm512_storeu_ps(a + k, _mm512_add_ps(_mm512_loadu_ps(a + k), x));             \
        }                                                                                  \
        if (k < count)                                                                     \
            name##_masked(a + k, s + 2 * k, first_lanes(count - k));                       \
    }                                                                                      \
    EMB_ROW_PRIMITIVE void name(float *acc, const uint8_t *g, size_t j, size_t count,       \
                                size_t dim)                                                 \
    {                                                                                      \
        (void)dim;                                                                         \
        name##_s(acc, g, j, count, 1);                                                     \
    }                                                                                      \
    EMB_ROW_PRIMITIVE void name##_straight(float *acc, const uint8_t *g, size_t j,          \
                                           size_t count, size_t dim)                        \
    {                                                                                      \
        (void)dim;                                                                         \
        name##_s(acc, g, j, count, 0);                                                     \
    }
ADD_WIDENED(add_bf16, widen16_bf16)
ADD_WIDENED(add_f16, widen16_f16)

/* The f16 and bf16 gradients, their line.realign read once a call, as the
 * blocked lookups' (LINE_OUT_LOOKUP): the generated kernel takes the
 * lead above, straight_grad_T does not. On AMD EPYC Zen 4 (family 25
 * model 17, KVM, gcc 12.2 -O2, calls alternating with AVX2's in one
 * process, 2026-12-07) the lead took AVX-512's gradient to 0.51-0.56x
 * AVX2's speed at 1000 x 64 x 512 into a table at 16 mod 64, and with
 * rows of 67 elements (every row off a line) bf16 to 0.67-0.69x and f16
 * to 0.87-0.88x; without it 1.01, 1.05-1.08 and 1.37-1.41x, and
 * 1.02-1.15x at 50257 x 768. But at 1000 x 768 x 64 without the lead
 * 0.97-0.98x, with it 1.12x: rows of at least grad.lead_min_dim elements
 * take it under either line.realign (tuning.c has the figures). The fused
 * positional gradient and the bags keep the lead. Those lead figures
 * predate the lead's loads before its store (ADD_WIDENED): since then the
 * lead runs at 0.92-0.98x AVX2's speed at 1000 x 64 x 512 and 1.11-1.45x
 * at 1000 x 67 x 256 (2026-12-08), and grad.lead_min_dim went from 256
 * to 128 (tuning.c has the figures). */
#define LEAD_GRAD(name, type, id)                                                            \
    static void isa_##id(float *dtable, size_t dim, const void *ids, int ids64, size_t n,    \
                         const uint8_t *dout, const emb_grad_opts *opts, unsigned part,      \
                         unsigned nparts, unsigned flags);                                   \
    EMB_DEFINE_GRAD(, straight_grad_##name, type, add_##name##_straight, widen_##name)       \
    static void grad_##name(float *dtable, size_t dim, const void *ids, int ids64, size_t n, \
                            const uint8_t *dout, const emb_grad_opts *opts, unsigned part,  \
                            unsigned nparts, unsigned flags)                                \
    {                                                                                       \
        if (dim >= emb_loops()->grad_lead_min_dim)                                          \
            isa_##id(dtable, dim, ids, ids64, n, dout, opts, part, nparts, flags);          \
        else                                                                                \
            BY_LINE_REALIGN(isa_##id, straight_grad_##name,                                 \
                            (dtable, dim, ids, ids64, n, dout, opts, part, nparts, flags)); \
    }
LEAD_GRAD(f16, EMB_F16, GRAD_F16)
LEAD_GRAD(bf16, EMB_BF16, GRAD_BF16)

/* The bag ops (bag_loops.h): fmaf sixteen at a time, VFMADD rounding once. */
EMB_ROW_PRIMITIVE void fma_floats(float *acc, const float *x, float w, size_t count)
{
    const __m512 wv = _mm512_set1_ps(w);
    size_t k = 0;
    for (; k + 16 <= count; k += 16)
        _mm512_storeu_ps(acc + k, _mm512_fmadd_ps(wv, _mm512_loadu_ps(x + k), _mm512_loadu_ps(acc + k)));
    if (k < count) {
        const __mmask16 m = first_lanes(count - k);
        const __m512 r = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, x + k), _mm512_maskz_loadu_ps(m, acc + k));
        _mm512_mask_storeu_ps(acc + k, m, r);
    }
}

/* The fused positional gradient: one load of g for both rows' adds. */
EMB_ROW_PRIMITIVE void add_both(float *a, float *b, const float *g, size_t count)
{
    size_t k = 0;
    for (; k + 16 <= count; k += 16) {
        const __m512 x = _mm512_loadu_ps(g + k);
        _mm512_storeu_ps(a + k, _mm512_add_ps(_mm512_loadu_ps(a + k), x));
        _mm512_storeu_ps(b + k, _mm512_add_ps(_mm512_loadu_ps(b + k), x));
    }
    if (k < count) {
        const __mmask16 m = first_lanes(count - k);
        const __m512 x = _mm512_maskz_loadu_ps(m, g + k);
        _mm512_mask_storeu_ps(a + k, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, a + k), x));
        _mm512_mask_storeu_ps(b + k, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, b + k), x));
    }
}

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

/* ---- the map of primitives: every kernel of the list from them ----------- */
#define EMB_ISA_NAME emb_kernels_avx512
#define EMB_ISA_IDS_MINMAX ids_minmax_avx512
#define EMB_ISA_FENCE _mm_sfence
#define EMB_ISA_STREAM_ALIGN 16
#define EMB_ISA_FMA fma_floats
#define EMB_ISA_ADD_BOTH add_both
#define EMB_ISA_ADD_ROWS add_rows
#define EMB_ISA_ADD_ROWS_STREAM add_rows_stream
#define EMB_ISA_COPY16 copy_16
#define EMB_ISA_COPY16_STREAM copy_16_stream
/* type: convert, convert_stream, add, attrs, needs (isa_kernels.h);
 * AVX512F converts fp16 itself: nothing beyond the ISA's own features. */
#define EMB_ISA_EMB_F32 (copy_f32, copy_f32_stream, add_f32, , 0)
#define EMB_ISA_EMB_F16 (widen_f16, widen_f16_stream, add_f16, , 0)
#define EMB_ISA_EMB_BF16 (widen_bf16, widen_bf16_stream, add_bf16, , 0)
#define EMB_ISA_EMB_Q8_0 (q8_0, q8_0_stream, NULL, , 0)
#define EMB_ISA_EMB_Q4_0 (q4_0, q4_0_stream, NULL, , 0)
#define EMB_ISA_EMB_Q8_ROWWISE (q8_rowwise, q8_rowwise_stream, NULL, , 0)
#define EMB_ISA_EMB_Q4_K (q4_K, q4_K_stream, NULL, , 0)
#define EMB_ISA_EMB_Q6_K (q6_K, q6_K_stream, NULL, , 0)
#define EMB_ISA_POS_ATTRS
#define EMB_ISA_POS_NEEDS 0
/* Written by hand: the bit copies' and widenings' short rows, the f16
 * widening's lookups that stay in L2, and the choice of line.realign for
 * the bit copies, the blocked types' lookups and the 16-bit gradients
 * (SHORT_ROWS_COPY, WIDEN_SHORT_ROWS, lookup_f16_f32, LINE_OUT_LOOKUP,
 * LEAD_GRAD above). */
#define EMB_ISA_OWN(X)                                                                         \
    X(LOOKUP_F32_F32, lookup, 0, lookup_f32_f32) X(LOOKUP_F16_F16, lookup, 0, lookup_f16_f16)  \
    X(LOOKUP_BF16_BF16, lookup, 0, lookup_bf16_bf16)                                           \
    X(LOOKUP_F16_F32, lookup, 0, lookup_f16_f32) X(LOOKUP_BF16_F32, lookup, 0, lookup_bf16_f32) \
    X(LOOKUP_Q8_0_F32, lookup, 0, lookup_q8_0_f32) X(LOOKUP_Q4_0_F32, lookup, 0, lookup_q4_0_f32) \
    X(LOOKUP_Q4_K_F32, lookup, 0, lookup_q4_K_f32) X(LOOKUP_Q6_K_F32, lookup, 0, lookup_q6_K_f32) \
    X(GRAD_F16, grad, 0, grad_f16) X(GRAD_BF16, grad, 0, grad_bf16)
/* A bag's sum in registers: 16 zmm of the 32, a 256-float row in one pass. */
#define EMB_BAG_VEC_FLOATS 16
#define EMB_BAG_REG_VECS 16
/* A streaming store of one register of the sum (p 64-byte aligned). */
#define EMB_BAG_STREAM_VEC(p, v) _mm512_stream_ps((p), (__m512)(v))
#include "isa_kernels.h"
#endif /* EMB_HAVE_AVX512 */
