/* copy.c - the roofline: a plain copy of exactly the bytes a lookup of the
 * same shape and types moves, with memcpy and with non-temporal stores. */
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
static void copy_stream(uint8_t *dst, const uint8_t *src, size_t count)
{
#if defined(__SSE2__)
    size_t i = 0;
    /* Non-temporal stores need 16-byte alignment; the buffers are 64-byte
     * aligned and the slices are cut on 64-byte boundaries, so the head
     * only runs for odd caller-made slices. */
    const size_t head = (16 - ((uintptr_t)dst & 15)) & 15;
    if (head != 0) {
        i = head < count ? head : count;
        memcpy(dst, src, i);
    }
    for (; i + 64 <= count; i += 64) {
        const __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
        const __m128i b = _mm_loadu_si128((const __m128i *)(src + i + 16));
        const __m128i c = _mm_loadu_si128((const __m128i *)(src + i + 32));
        const __m128i d = _mm_loadu_si128((const __m128i *)(src + i + 48));
        _mm_stream_si128((__m128i *)(dst + i), a);
        _mm_stream_si128((__m128i *)(dst + i + 16), b);
        _mm_stream_si128((__m128i *)(dst + i + 32), c);
        _mm_stream_si128((__m128i *)(dst + i + 48), d);
    }
    memcpy(dst + i, src + i, count - i);
    /* Streaming stores are weakly ordered; the fence makes the copy
     * complete before the next iteration is timed against it. */
    _mm_sfence();
#else
    memcpy(dst, src, count);
#endif
}

/* Copies len bytes starting at byte `from` of the table, wrapping around
 * at its end, so a small table is re-read as a lookup would. */
static void copy_wrapped(uint8_t *dst, const uint8_t *table, size_t table_bytes, size_t from,
                         size_t len, int stream)
{
    while (len > 0) {
        size_t piece = table_bytes - from;
        if (piece > len)
            piece = len;
        if (stream)
            copy_stream(dst, table + from, piece);
        else
            memcpy(dst, table + from, piece);
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
    /* The source is the lookup's own table (of its type), consecutive rows
     * per call, each call starting where the previous one stopped: the
     * same cache level as the lookup, read in order. A copy of B bytes
     * moves 2B (read and written), so it copies half of what the lookup
     * moves: N * (table row + output row) / 2 bytes, N * D * 4 for f32.
     * Each Google Benchmark thread copies its slice, cut on 64-byte
     * boundaries. */
    const size_t count = (size_t)bench_lookup_bytes(c) / 2;
    const size_t table_bytes = (size_t)c->vocab * emb_row_bytes(c->in, c->dim);
    const size_t parts = (size_t)gb_threads(st), part = (size_t)gb_thread_index(st);
    const size_t lines = (count + 63) / 64;
    const size_t lo = lines * part / parts * 64;
    size_t hi = lines * (part + 1) / parts * 64;
    if (hi > count)
        hi = count;
    const size_t len = hi > lo ? hi - lo : 0;
    const int stream = c->op == BENCH_STREAM;
    uint8_t *out = d->out;
    size_t start = 0;
    while (gb_keep_running(st)) {
        copy_wrapped(out + lo, d->table, table_bytes, (start + lo) % table_bytes, len, stream);
        start = (start + count) % table_bytes;
    }
    gb_set_label(st, bench_residency(c));
    /* Read + write of each byte, the lookup's byte definition. */
    gb_set_bytes_processed(st, gb_iterations(st) * (int64_t)(2 * len));
    gb_set_items_processed(st, gb_iterations(st) * c->tokens / (int64_t)parts);
}
