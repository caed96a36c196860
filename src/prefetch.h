/* prefetch.h - software prefetch of the embedding rows a kernel will
 * need next; shared by every ISA (the hint instruction is ISA-neutral). */
#ifndef EMBSIMD_PREFETCH_H
#define EMBSIMD_PREFETCH_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* Rows are visited in id order, which the hardware prefetcher cannot
 * predict; it only follows a row once the row has started. The loops of
 * row_loops.h therefore ask for the row a distance in rows ahead: the
 * schedule's prefetch_bytes of rows, but at least two groups of the rows
 * in flight and at most prefetch_rows_max rows, and never more than
 * prefetch_budget bytes; with a group in flight, no prefetch when the
 * budget does not reach past the group. With the defaults (tuning.c,
 * EMB_LOOP_DEFAULTS, where the measurements are) rows in flight of 256 to
 * 1024 floats thus prefetch 8 rows ahead, 2048-float rows 4, 4096-float
 * (16 KiB) rows none; rows one at a time about 4 KiB ahead (128 floats: 8
 * rows, 16 floats: 32). EMB_PREFETCH_BYTES = 0 compiles prefetching out. */
#ifndef EMB_PREFETCH_BYTES
#define EMB_PREFETCH_BYTES ((size_t)4096)
#endif

/* How many rows ahead to prefetch while `in_flight` rows are being worked
 * on, or 0: not at all. */
static inline __attribute__((always_inline)) size_t emb_prefetch_rows_ahead(size_t row_bytes,
                                                                            size_t in_flight)
{
    const emb_loop_schedule *L = emb_loops();
    if (EMB_PREFETCH_BYTES == 0 || L->prefetch_bytes == 0)
        return 0;
    size_t rows = L->prefetch_bytes / row_bytes;
    if (rows < 2 * in_flight)
        rows = 2 * in_flight;
    if (rows > L->prefetch_rows_max)
        rows = L->prefetch_rows_max;
    if (rows > L->prefetch_budget / row_bytes)
        rows = L->prefetch_budget / row_bytes;
    return rows < in_flight ? 0 : rows;
}

/* One hint per 64-byte line that holds part of [p, p + bytes) (a row need
 * not start on a line boundary, so neighbouring spans may share a line and
 * hint it twice, which costs a cache hit). rw: 0 to read, 1 to write. On
 * x86 without -mprfchw (the builds here) GCC emits PREFETCHT0 for both;
 * on AArch64 they are PRFM PLDL1KEEP / PSTL1KEEP. PREFETCHW itself was
 * slower than PREFETCHT0 for grad on Zen 2 (a standalone probe, two rows
 * in flight: 1.01 vs 1.06 of memcpy at 50257 x 768 x 8192, 1.01 vs 1.05
 * at N = 512). */
#define EMB_PREFETCH_LINES(p, bytes, rw)                                                 \
    do {                                                                                 \
        const uintptr_t first_ = (uintptr_t)(p) & ~(uintptr_t)63;                        \
        const uintptr_t last_ = ((uintptr_t)(p) + (bytes) - 1) & ~(uintptr_t)63;         \
        for (uintptr_t line_ = first_; line_ <= last_; line_ += 64)                      \
            __builtin_prefetch((const void *)line_, rw, 3);                              \
    } while (0)

/* The lines a hint loop over one row covers: every row's lines when the
 * rows sit on line boundaries; otherwise one more, as a row starting
 * mid-line may end in it (a row that does not hints the line past its end,
 * which costs a cache fill at most, never a fault). Computed once a call,
 * so the loop per row is a count, not two address roundings and a
 * compare: in the bag loop that was a third of the instructions per
 * 512-byte row. */
static inline size_t emb_row_lines(const void *table, size_t row_bytes)
{
    const int on_lines = (uintptr_t)table % 64 == 0 && row_bytes % 64 == 0;
    return (row_bytes + 63) / 64 + !on_lines;
}

/* `lines` hints from the line that holds p; locality as __builtin_prefetch
 * takes it (0: PREFETCHNTA on x86). */
#define EMB_PREFETCH_ROW(p, lines, locality)                                             \
    do {                                                                                 \
        const uintptr_t first_ = (uintptr_t)(p) & ~(uintptr_t)63;                        \
        for (size_t l_ = 0; l_ < (lines); l_++)                                          \
            __builtin_prefetch((const void *)(first_ + 64 * l_), 0, locality);           \
    } while (0)

static inline void emb_prefetch_span(const void *p, size_t bytes)
{
    EMB_PREFETCH_LINES(p, bytes, 0);
}

static inline void emb_prefetch_span_for_write(void *p, size_t bytes)
{
    EMB_PREFETCH_LINES(p, bytes, 1);
}

#endif /* EMBSIMD_PREFETCH_H */
