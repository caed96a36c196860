/* copy.c - the roofline: a plain copy of exactly the bytes a lookup of the
 * same shape moves, with memcpy and with non-temporal stores. */
#include "config.h"

#include "bench.h"

#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

const char *bench_stream_unsupported_reason(void)
{
#if defined(__SSE2__)
    return NULL;
#else
    return "non-temporal stores are only written for x86 (SSE2) in this suite";
#endif
}

/* Copies with stores that bypass the cache, as a lookup kernel may for a
 * large output: no read of the destination lines before they are written.
 * Written here in baseline SSE2 rather than borrowed from the library's
 * AVX kernels, so the reference does not move when the code under test
 * does. */
static void copy_stream(float *dst, const float *src, size_t count)
{
#if defined(__SSE2__)
    size_t i = 0;
    /* Non-temporal stores need 16-byte alignment; the buffers are 64-byte
     * aligned and the slices are cut on 16-float boundaries, so the head
     * loop only runs for odd caller-made slices. */
    while (i < count && ((uintptr_t)(dst + i) & 15u) != 0) {
        dst[i] = src[i];
        i++;
    }
    for (; i + 16 <= count; i += 16) {
        const __m128 a = _mm_loadu_ps(src + i), b = _mm_loadu_ps(src + i + 4);
        const __m128 c = _mm_loadu_ps(src + i + 8), d = _mm_loadu_ps(src + i + 12);
        _mm_stream_ps(dst + i, a);
        _mm_stream_ps(dst + i + 4, b);
        _mm_stream_ps(dst + i + 8, c);
        _mm_stream_ps(dst + i + 12, d);
    }
    memcpy(dst + i, src + i, (count - i) * sizeof(float));
    /* Streaming stores are weakly ordered; the fence makes the copy
     * complete before the next iteration is timed against it. */
    _mm_sfence();
#else
    memcpy(dst, src, count * sizeof(float));
#endif
}

/* Copies len floats starting at float `from` of the table, wrapping
 * around at its end, so a small table is re-read as a lookup would. */
static void copy_wrapped(float *dst, const float *table, size_t table_floats, size_t from,
                         size_t len, int stream)
{
    while (len > 0) {
        size_t piece = table_floats - from;
        if (piece > len)
            piece = len;
        if (stream)
            copy_stream(dst, table + from, piece);
        else
            memcpy(dst, table + from, piece * sizeof(float));
        dst += piece;
        len -= piece;
        from = 0;
    }
}

void bench_copy_body(gb_state *st, const bench_case *c)
{
    char err[320];
    const bench_data *d = bench_data_get(c, err, sizeof err);
    if (d == NULL) {
        gb_skip_with_error(st, err);
        return;
    }
    /* The source is the lookup's own table, N consecutive rows per call,
     * each call starting where the previous one stopped: the same bytes
     * from the same cache level as the lookup, read in order. Each Google
     * Benchmark thread copies its slice, cut on 16-float (64-byte)
     * boundaries. */
    const size_t count = (size_t)c->tokens * (size_t)c->dim;
    const size_t table_floats = (size_t)c->vocab * (size_t)c->dim;
    const size_t parts = (size_t)gb_threads(st), part = (size_t)gb_thread_index(st);
    const size_t lines = (count + 15) / 16;
    const size_t lo = lines * part / parts * 16;
    size_t hi = lines * (part + 1) / parts * 16;
    if (hi > count)
        hi = count;
    const size_t len = hi > lo ? hi - lo : 0;
    const int stream = c->op == BENCH_STREAM;
    size_t start = 0;
    while (gb_keep_running(st)) {
        copy_wrapped(d->out + lo, d->table, table_floats, (start + lo) % table_floats, len, stream);
        start = (start + count) % table_floats;
    }
    gb_set_label(st, bench_residency(c));
    /* Read + write of each float, the lookup's byte definition. */
    gb_set_bytes_processed(st, gb_iterations(st) * (int64_t)(2 * len * sizeof(float)));
    gb_set_items_processed(st, gb_iterations(st) * c->tokens / (int64_t)parts);
}
