/* row_loops.h - the token loops every ISA and every type shares; each ISA
 * supplies only its row primitives (copy, widen or dequantize a piece of a
 * row; add a widened piece into an fp32 row). */
#ifndef EMBSIMD_ROW_LOOPS_H
#define EMBSIMD_ROW_LOOPS_H

#include "internal.h"
#include "prefetch.h"

/* A row primitive converts elements [j, j + count) of one source row into
 * the same elements of the destination row; count >= 1, and for blocked
 * types (q8_0, q4_0) j and count are multiples of the block. dst and src are
 * the rows' starts, not the piece's: q8_rowwise finds its scale and bias at
 * src + dim. The "add" kind adds the widened piece into an fp32 row, one
 * fp32 add per element. */
typedef void (*emb_row_fn)(uint8_t *dst, const uint8_t *src, size_t j, size_t count, size_t dim);
typedef void (*emb_row_add_fn)(float *acc, const uint8_t *g, size_t j, size_t count, size_t dim);

/* How each ISA declares its row primitives. Forced inline: left to itself,
 * GCC 12 called the AVX2 row copy out of line once the loops below grew,
 * and its short-row loop then also reloaded ids and n from the stack on
 * every row: 1000 x 64 lookups ran 5-8 % slower than before. Inlined,
 * they run 2-7 % faster than that earlier build (AMD EPYC Zen 2, KVM,
 * gcc 12.2 -O2, 2026-12-01). */
#define EMB_ROW_PRIMITIVE static inline __attribute__((always_inline))

/* With the table in DRAM each row is a fresh DRAM stream, and a copy that
 * finishes one row before it starts the next waits out the memory latency
 * once per row: a 3 KiB row is already more loads and stores than the
 * out-of-order window holds, so the next row's first misses only start
 * when this one is nearly done. Rows of at least EMB_IN_FLIGHT_MIN_DIM
 * floats therefore go EMB_ROWS_IN_FLIGHT at a time, a piece of
 * EMB_PIECE_FLOATS of each in turn. 64 elements (256 bytes of floats,
 * four lines) is whole pieces for every ISA's row primitive (AVX-512: four
 * ZMM; AVX2: eight YMM; NEON: two 32-float pieces) and two blocks of the
 * quantized types; a row's last piece takes the remainder (64 to 127
 * elements), so no piece is shorter than a vector.
 * Shorter rows go one at a time: the out-of-order window already holds
 * several of them.
 *
 * Measured on AMD EPYC Zen 2 (KVM, 2 vCPUs, 16 MiB L3, gcc 12.2 -O2,
 * 2026-12-01), AVX2, uniform ids, builds compared in one process,
 * interleaved, lookup / same-run memcpy for 50257 x 768 x 8192,
 * 262144 x 768 x 8192 and 262144 x 4096 x 2048: one row at a time (the
 * former loop) 0.87 / 0.74 / 1.22; four rows in 64-float pieces 1.06 /
 * 0.96 / 1.54; 128-float pieces 1.04 / 0.93 / 1.40; 256-float pieces
 * 0.98 / 0.89 / 1.38; two or eight rows within 3 % of four. Grad at
 * 50257 x 768 x 8192, N = 512 and 262144 x 4096, speed-up over one row
 * at a time: four rows of 64 floats 1.22 / 1.35 / 1.22, two rows 1.14 /
 * 1.18 / 1.11, four of 128 1.15 / 1.26 / 1.15. Below 256 floats rows in
 * flight lost: D = 128 grad 0.90 of the one-row loop, D = 256 about 0.95
 * of the former build either way; at D = 384 they were 1.28 (lookup)
 * and 1.05 (grad) times as fast as the one-row loop. Only for tables in
 * DRAM (EMB_KF_PREFETCH): a cache-resident table keeps the plain loop. */
#ifndef EMB_PIECE_FLOATS
#define EMB_PIECE_FLOATS 64
#endif
#ifndef EMB_ROWS_IN_FLIGHT
#define EMB_ROWS_IN_FLIGHT 4
#endif
#ifndef EMB_IN_FLIGHT_MIN_DIM
#define EMB_IN_FLIGHT_MIN_DIM 256
#endif

/* Where the next piece starts: the rest of the row is the last piece once
 * it is shorter than two. */
static inline size_t emb_pieces_end(size_t dim, size_t piece)
{
    return dim < 2 * piece ? 0 : dim - dim % piece - piece;
}

/* ids[i] of either width; always inlined with a constant ids64, so each
 * kernel is compiled once per id width and tests nothing per row. */
static inline __attribute__((always_inline)) size_t emb_id(const void *ids, int ids64, size_t i)
{
    return ids64 ? (size_t)((const int64_t *)ids)[i] : (size_t)((const int32_t *)ids)[i];
}

/* Everything a lookup loop needs to know about its kernel, all constant
 * once inlined into an ISA's kernel. */
typedef struct emb_lookup_loop {
    emb_type in, out;
    emb_row_fn convert, convert_stream;
} emb_lookup_loop;

/* Row i while the row `ahead` further on is prefetched (0: none). */
static inline __attribute__((always_inline)) void
emb_lookup_one_by_one(emb_lookup_loop L, const uint8_t *table, size_t dim, const void *ids,
                      int ids64, size_t n, uint8_t *out, size_t ahead, emb_row_fn convert)
{
    const size_t in_row = emb_row_size(L.in, dim);
    const size_t out_row = emb_row_size(L.out, dim);
    for (size_t i = 0; i < n; i++) {
        if (ahead != 0 && i + ahead < n)
            emb_prefetch_span(table + emb_id(ids, ids64, i + ahead) * in_row, in_row);
        convert(out + i * out_row, table + emb_id(ids, ids64, i) * in_row, 0, dim, dim);
    }
}

/* Rows i .. i + R - 1 a piece at a time, while the same pieces of the rows
 * `ahead` further on are prefetched (ahead >= R, or 0 for none): spread
 * over the copy, the hints never queue up in front of its own loads. */
static inline __attribute__((always_inline)) void
emb_lookup_in_flight(emb_lookup_loop L, const uint8_t *table, size_t dim, const void *ids,
                     int ids64, size_t n, uint8_t *out, size_t ahead, emb_row_fn convert)
{
    enum { R = EMB_ROWS_IN_FLIGHT, P = EMB_PIECE_FLOATS };
    const size_t in_row = emb_row_size(L.in, dim);
    const size_t out_row = emb_row_size(L.out, dim);
    const size_t last = emb_pieces_end(dim, P);
    const size_t piece_bytes = emb_elem_offset(L.in, P);
    const size_t last_off = emb_elem_offset(L.in, last);
    size_t i = 0;
    for (; i + R <= n; i += R) {
        const uint8_t *src[R], *next[R];
        uint8_t *dst[R];
        for (int r = 0; r < R; r++) {
            src[r] = table + emb_id(ids, ids64, i + r) * in_row;
            dst[r] = out + (i + r) * out_row;
            /* Past the end, the last row again: hinting a line already
             * in cache is cheap, and the piece loop needs no test. */
            const size_t f = i + ahead + r < n ? i + ahead + r : n - 1;
            next[r] = table + emb_id(ids, ids64, f) * in_row;
        }
        for (size_t j = 0; j < last; j += P)
            for (int r = 0; r < R; r++) {
                if (ahead != 0)
                    emb_prefetch_span(next[r] + emb_elem_offset(L.in, j), piece_bytes);
                convert(dst[r], src[r], j, P, dim);
            }
        for (int r = 0; r < R; r++) {
            if (ahead != 0)
                emb_prefetch_span(next[r] + last_off, in_row - last_off);
            convert(dst[r], src[r], last, dim - last, dim);
        }
    }
    for (; i < n; i++) /* their prefetches were issued above */
        convert(out + i * out_row, table + emb_id(ids, ids64, i) * in_row, 0, dim, dim);
}

/* Always inlined with constant types and row primitives, so each ISA file
 * gets its own fully specialised loops from this one body. The flags and
 * the id width are tested once, outside the loops: choosing the primitive
 * per call through a variable would turn every row into an indirect call. */
static inline __attribute__((always_inline)) void
emb_lookup_rows_w(emb_lookup_loop L, const uint8_t *table, size_t dim, const void *ids,
                  int ids64, size_t n, uint8_t *out, unsigned flags)
{
    const size_t in_row = emb_row_size(L.in, dim);
    if (!(flags & EMB_KF_PREFETCH)) {
        if (flags & EMB_KF_STREAM)
            emb_lookup_one_by_one(L, table, dim, ids, ids64, n, out, 0, L.convert_stream);
        else
            emb_lookup_one_by_one(L, table, dim, ids, ids64, n, out, 0, L.convert);
    } else if (dim < EMB_IN_FLIGHT_MIN_DIM) {
        const size_t ahead = emb_prefetch_rows_ahead(in_row, 1);
        if (flags & EMB_KF_STREAM)
            emb_lookup_one_by_one(L, table, dim, ids, ids64, n, out, ahead, L.convert_stream);
        else
            emb_lookup_one_by_one(L, table, dim, ids, ids64, n, out, ahead, L.convert);
    } else {
        const size_t ahead = emb_prefetch_rows_ahead(in_row, EMB_ROWS_IN_FLIGHT);
        if (flags & EMB_KF_STREAM)
            emb_lookup_in_flight(L, table, dim, ids, ids64, n, out, ahead, L.convert_stream);
        else
            emb_lookup_in_flight(L, table, dim, ids, ids64, n, out, ahead, L.convert);
    }
}

static inline __attribute__((always_inline)) void
emb_lookup_rows(emb_lookup_loop L, const uint8_t *table, size_t dim, const void *ids, int ids64,
                size_t n, uint8_t *out, unsigned flags)
{
    if (ids64)
        emb_lookup_rows_w(L, table, dim, ids, 1, n, out, flags);
    else
        emb_lookup_rows_w(L, table, dim, ids, 0, n, out, flags);
}

/* Token order is what makes the sum exact to the dense product, so the
 * loops never reorder tokens; they only skip those whose row another part
 * owns. With rows in flight, piece j of token t is added before piece j of
 * the next owned token and pieces never overlap, so every element still
 * sees its additions in token order even when both tokens name the same
 * row.
 * Prefetches are issued for owned rows only: a write-intent prefetch of
 * another thread's row would pull the line away from its owner. */
static inline __attribute__((always_inline)) void
emb_grad_rows_w(emb_type g_type, float *dtable, size_t dim, const void *ids, int ids64, size_t n,
                const uint8_t *dout, unsigned part, unsigned nparts, unsigned flags,
                emb_row_add_fn add)
{
    const size_t row_bytes = dim * sizeof(float);
    const size_t g_row = emb_row_size(g_type, dim);
    if (!(flags & EMB_KF_PREFETCH) || dim < EMB_IN_FLIGHT_MIN_DIM) {
        const size_t ahead =
            (flags & EMB_KF_PREFETCH) ? emb_prefetch_rows_ahead(row_bytes, 1) : 0;
        for (size_t i = 0; i < n; i++) {
            if (ahead != 0 && i + ahead < n) {
                const size_t f = emb_id(ids, ids64, i + ahead);
                if (emb_row_owner(f, nparts) == part)
                    emb_prefetch_span_for_write(dtable + f * dim, row_bytes);
            }
            const size_t id = emb_id(ids, ids64, i);
            if (emb_row_owner(id, nparts) == part)
                add(dtable + id * dim, dout + i * g_row, 0, dim, dim);
        }
        return;
    }
    enum { R = EMB_ROWS_IN_FLIGHT, P = EMB_PIECE_FLOATS };
    const size_t ahead = emb_prefetch_rows_ahead(row_bytes, R);
    const size_t last = emb_pieces_end(dim, P);
    const size_t piece_bytes = P * sizeof(float);
    const size_t last_bytes = (dim - last) * sizeof(float);
    size_t i = 0;
    for (;;) {
        size_t t[R];
        int got = 0;
        for (; i < n && got < R; i++)
            if (emb_row_owner(emb_id(ids, ids64, i), nparts) == part)
                t[got++] = i;
        if (got < R) {
            for (int r = 0; r < got; r++)
                add(dtable + emb_id(ids, ids64, t[r]) * dim, dout + t[r] * g_row, 0, dim, dim);
            return;
        }
        float *acc[R], *next[R];
        const uint8_t *g[R];
        for (int r = 0; r < R; r++) {
            acc[r] = dtable + emb_id(ids, ids64, t[r]) * dim;
            g[r] = dout + t[r] * g_row;
            const size_t f = t[r] + ahead;
            next[r] = ahead != 0 && f < n && emb_row_owner(emb_id(ids, ids64, f), nparts) == part
                          ? dtable + emb_id(ids, ids64, f) * dim
                          : NULL;
        }
        for (size_t j = 0; j < last; j += P)
            for (int r = 0; r < R; r++) {
                if (next[r] != NULL)
                    emb_prefetch_span_for_write(next[r] + j, piece_bytes);
                add(acc[r], g[r], j, P, dim);
            }
        for (int r = 0; r < R; r++) {
            if (next[r] != NULL)
                emb_prefetch_span_for_write(next[r] + last, last_bytes);
            add(acc[r], g[r], last, dim - last, dim);
        }
    }
}

static inline __attribute__((always_inline)) void
emb_grad_rows(emb_type g_type, float *dtable, size_t dim, const void *ids, int ids64, size_t n,
              const uint8_t *dout, unsigned part, unsigned nparts, unsigned flags,
              emb_row_add_fn add)
{
    if (ids64)
        emb_grad_rows_w(g_type, dtable, dim, ids, 1, n, dout, part, nparts, flags, add);
    else
        emb_grad_rows_w(g_type, dtable, dim, ids, 0, n, dout, part, nparts, flags, add);
}

/* The bit-copy kernels' primitives from an ISA's float row copy (which
 * takes any count >= 1): f32 rows piece by piece, and 16-bit rows as
 * floats plus a last half-float when the count is odd. */
#define EMB_DEFINE_COPY_PRIMITIVES(suffix, copy_floats)                                       \
    EMB_ROW_PRIMITIVE void copy_f32##suffix(uint8_t *d, const uint8_t *s, size_t j, size_t count, \
                                            size_t dim)                                       \
    {                                                                                        \
        (void)dim;                                                                           \
        copy_floats((float *)d + j, (const float *)s + j, count);                            \
    }                                                                                        \
    EMB_ROW_PRIMITIVE void copy_16##suffix(uint8_t *d, const uint8_t *s, size_t j, size_t count, \
                                           size_t dim)                                        \
    {                                                                                        \
        (void)dim;                                                                           \
        d += 2 * j;                                                                          \
        s += 2 * j;                                                                          \
        if (count >= 2)                                                                      \
            copy_floats((float *)d, (const float *)s, count / 2);                            \
        if (count & 1)                                                                       \
            memcpy(d + 2 * (count - 1), s + 2 * (count - 1), 2);                             \
    }

/* The f32 gradient's primitive from an ISA's float row add. */
#define EMB_DEFINE_ADD_PRIMITIVE(add_floats)                                                  \
    EMB_ROW_PRIMITIVE void add_f32(float *acc, const uint8_t *g, size_t j, size_t count,     \
                                   size_t dim)                                               \
    {                                                                                        \
        (void)dim;                                                                           \
        add_floats(acc + j, (const float *)g + j, count);                                    \
    }

/* One ISA's kernel functions from its row primitives: the signatures of
 * emb_lookup_fn and emb_grad_fn around the shared loops. */
#define EMB_DEFINE_LOOKUP(attrs, name, in_type, out_type, convert, convert_stream, fence)     \
    static attrs void name(const uint8_t *table, size_t dim, const void *ids, int ids64,       \
                           size_t n, uint8_t *out, unsigned flags)                            \
    {                                                                                         \
        const emb_lookup_loop L = {in_type, out_type, convert, convert_stream};               \
        emb_lookup_rows(L, table, dim, ids, ids64, n, out, flags);                            \
        /* Streaming stores are weakly ordered: fence before returning, so                    \
         * the caller (or the thread that joins this one) sees every byte. */                 \
        if (flags & EMB_KF_STREAM)                                                            \
            fence();                                                                          \
    }

#define EMB_DEFINE_GRAD(attrs, name, g_type, add)                                            \
    static attrs void name(float *dtable, size_t dim, const void *ids, int ids64, size_t n,    \
                           const uint8_t *dout, unsigned part, unsigned nparts,               \
                           unsigned flags)                                                    \
    {                                                                                         \
        emb_grad_rows(g_type, dtable, dim, ids, ids64, n, dout, part, nparts, flags, add);    \
    }

#endif /* EMBSIMD_ROW_LOOPS_H */
