/* row_loops.h - the token loops every ISA shares; each ISA supplies only
 * its row primitives (copy a row, add a row). */
#ifndef EMBSIMD_ROW_LOOPS_H
#define EMBSIMD_ROW_LOOPS_H

#include "internal.h"
#include "prefetch.h"

/* Copies or adds dim floats; dim may be any length >= 1. The loops below
 * also call them on pieces of a row, so they must not assume that dst and
 * src start a row. */
typedef void (*emb_row_copy_fn)(float *dst, const float *src, size_t dim);
typedef void (*emb_row_add_fn)(float *acc, const float *g, size_t dim);

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
 * EMB_PIECE_FLOATS of each in turn. 64 floats (256 bytes, four lines) is
 * whole pieces for every ISA's row primitive (AVX-512: four ZMM; AVX2:
 * eight YMM; NEON: two 32-float pieces); a row's last piece takes the
 * remainder (64 to 127 floats), so no piece is shorter than a vector.
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
 * and 1.05 (grad) times as fast as the one-row loop. Only for tables in DRAM (EMB_KF_PREFETCH): a
 * cache-resident table keeps the plain loop. */
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

/* Row i while the row `ahead` further on is prefetched (0: none). */
static inline __attribute__((always_inline)) void
emb_copy_rows_one_by_one(const float *table, size_t dim, const int32_t *ids, size_t n,
                         float *out, size_t ahead, emb_row_copy_fn copy)
{
    for (size_t i = 0; i < n; i++) {
        if (ahead != 0 && i + ahead < n)
            emb_prefetch_span(table + (size_t)ids[i + ahead] * dim, dim * sizeof(float));
        copy(out + i * dim, table + (size_t)ids[i] * dim, dim);
    }
}

/* Rows i .. i + R - 1 a piece at a time, while the same pieces of the rows
 * `ahead` further on are prefetched (ahead >= R, or 0 for none): spread
 * over the copy, the hints never queue up in front of its own loads. */
static inline __attribute__((always_inline)) void
emb_copy_rows_in_flight(const float *table, size_t dim, const int32_t *ids, size_t n,
                        float *out, size_t ahead, emb_row_copy_fn copy)
{
    enum { R = EMB_ROWS_IN_FLIGHT, P = EMB_PIECE_FLOATS };
    const size_t last = emb_pieces_end(dim, P);
    const size_t piece_bytes = P * sizeof(float);
    const size_t last_bytes = (dim - last) * sizeof(float);
    size_t i = 0;
    for (; i + R <= n; i += R) {
        const float *src[R], *next[R];
        float *dst[R];
        for (int r = 0; r < R; r++) {
            src[r] = table + (size_t)ids[i + r] * dim;
            dst[r] = out + (i + r) * dim;
            /* Past the end, the last row again: hinting a line already
             * in cache is cheap, and the piece loop needs no test. */
            const size_t f = i + ahead + r < n ? i + ahead + r : n - 1;
            next[r] = table + (size_t)ids[f] * dim;
        }
        for (size_t j = 0; j < last; j += P)
            for (int r = 0; r < R; r++) {
                if (ahead != 0)
                    emb_prefetch_span(next[r] + j, piece_bytes);
                copy(dst[r] + j, src[r] + j, P);
            }
        for (int r = 0; r < R; r++) {
            if (ahead != 0)
                emb_prefetch_span(next[r] + last, last_bytes);
            copy(dst[r] + last, src[r] + last, dim - last);
        }
    }
    for (; i < n; i++) /* their prefetches were issued above */
        copy(out + i * dim, table + (size_t)ids[i] * dim, dim);
}

/* Always inlined with constant row-copy functions, so each ISA file gets
 * its own fully specialised loops from this one body. The flags are tested
 * once, outside the loops: choosing the copy function per call through a
 * variable would turn every row copy into an indirect call. */
static inline __attribute__((always_inline)) void
emb_lookup_rows(const float *table, size_t dim, const int32_t *ids, size_t n, float *out,
                unsigned flags, emb_row_copy_fn copy, emb_row_copy_fn copy_stream)
{
    const size_t row_bytes = dim * sizeof(float);
    if (!(flags & EMB_KF_PREFETCH)) {
        if (flags & EMB_KF_STREAM)
            emb_copy_rows_one_by_one(table, dim, ids, n, out, 0, copy_stream);
        else
            emb_copy_rows_one_by_one(table, dim, ids, n, out, 0, copy);
    } else if (dim < EMB_IN_FLIGHT_MIN_DIM) {
        const size_t ahead = emb_prefetch_rows_ahead(row_bytes, 1);
        if (flags & EMB_KF_STREAM)
            emb_copy_rows_one_by_one(table, dim, ids, n, out, ahead, copy_stream);
        else
            emb_copy_rows_one_by_one(table, dim, ids, n, out, ahead, copy);
    } else {
        const size_t ahead = emb_prefetch_rows_ahead(row_bytes, EMB_ROWS_IN_FLIGHT);
        if (flags & EMB_KF_STREAM)
            emb_copy_rows_in_flight(table, dim, ids, n, out, ahead, copy_stream);
        else
            emb_copy_rows_in_flight(table, dim, ids, n, out, ahead, copy);
    }
}

/* Token order is what makes the sum exact to the dense product, so the
 * loops never reorder tokens; they only skip those whose row another part
 * owns. With rows in flight, piece j of token t is added before piece j
 * of the next owned token and pieces never overlap, so every element still sees
 * its additions in token order even when both tokens name the same row.
 * Prefetches are issued for owned rows only: a write-intent prefetch of
 * another thread's row would pull the line away from its owner. */
static inline __attribute__((always_inline)) void
emb_grad_rows(float *dtable, size_t dim, const int32_t *ids, size_t n, const float *dout,
              unsigned part, unsigned nparts, unsigned flags, emb_row_add_fn add)
{
    const size_t row_bytes = dim * sizeof(float);
    if (!(flags & EMB_KF_PREFETCH) || dim < EMB_IN_FLIGHT_MIN_DIM) {
        const size_t ahead =
            (flags & EMB_KF_PREFETCH) ? emb_prefetch_rows_ahead(row_bytes, 1) : 0;
        for (size_t i = 0; i < n; i++) {
            if (ahead != 0 && i + ahead < n && emb_row_owner(ids[i + ahead], nparts) == part)
                emb_prefetch_span_for_write(dtable + (size_t)ids[i + ahead] * dim, row_bytes);
            if (emb_row_owner(ids[i], nparts) == part)
                add(dtable + (size_t)ids[i] * dim, dout + i * dim, dim);
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
            if (emb_row_owner(ids[i], nparts) == part)
                t[got++] = i;
        if (got < R) {
            for (int r = 0; r < got; r++)
                add(dtable + (size_t)ids[t[r]] * dim, dout + t[r] * dim, dim);
            return;
        }
        float *acc[R], *next[R];
        const float *g[R];
        for (int r = 0; r < R; r++) {
            acc[r] = dtable + (size_t)ids[t[r]] * dim;
            g[r] = dout + t[r] * dim;
            const size_t f = t[r] + ahead;
            next[r] = ahead != 0 && f < n && emb_row_owner(ids[f], nparts) == part
                          ? dtable + (size_t)ids[f] * dim
                          : NULL;
        }
        for (size_t j = 0; j < last; j += P)
            for (int r = 0; r < R; r++) {
                if (next[r] != NULL)
                    emb_prefetch_span_for_write(next[r] + j, piece_bytes);
                add(acc[r] + j, g[r] + j, P);
            }
        for (int r = 0; r < R; r++) {
            if (next[r] != NULL)
                emb_prefetch_span_for_write(next[r] + last, last_bytes);
            add(acc[r] + last, g[r] + last, dim - last);
        }
    }
}

#endif /* EMBSIMD_ROW_LOOPS_H */
