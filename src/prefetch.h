/* prefetch.h - software prefetch of the embedding rows a kernel will
 * need next; shared by every ISA (the hint instruction is ISA-neutral). */
#ifndef EMBSIMD_PREFETCH_H
#define EMBSIMD_PREFETCH_H

#include <stddef.h>
#include <stdint.h>

/* Rows are visited in id order, which the hardware prefetcher cannot
 * predict; it only follows a row once the row has started. Asking for the
 * row of ids[i + ahead] while working on row i keeps about this many bytes
 * of future rows in flight. Measured on Zen 5 with a 154 MB table
 * (README, "Kernel tuning"): 1-16 KiB perform alike, and without any
 * prefetch streaming lookups lose about a fifth. 0 compiles it out. */
#ifndef EMB_PREFETCH_BYTES
#define EMB_PREFETCH_BYTES ((size_t)4096)
#endif

/* 0 when prefetching is compiled out. */
static inline size_t emb_prefetch_rows_ahead(size_t row_bytes)
{
    if (EMB_PREFETCH_BYTES == 0)
        return 0;
    const size_t rows = EMB_PREFETCH_BYTES / row_bytes;
    return rows < 1 ? 1 : rows > 16 ? 16 : rows;
}

/* One hint per 64-byte line that holds part of the row (a row need not
 * start on a line boundary). rw: 0 to read, 1 to write (the line arrives
 * owned, saving the upgrade a store would otherwise wait for). */
#define EMB_PREFETCH_LINES(row, row_bytes, rw)                                           \
    do {                                                                                 \
        const uintptr_t first_ = (uintptr_t)(row) & ~(uintptr_t)63;                      \
        const uintptr_t last_ = ((uintptr_t)(row) + (row_bytes) - 1) & ~(uintptr_t)63;   \
        for (uintptr_t line_ = first_; line_ <= last_; line_ += 64)                      \
            __builtin_prefetch((const void *)line_, rw, 3);                              \
    } while (0)

static inline void emb_prefetch_row(const float *row, size_t row_bytes)
{
    EMB_PREFETCH_LINES(row, row_bytes, 0);
}

static inline void emb_prefetch_row_for_write(float *row, size_t row_bytes)
{
    EMB_PREFETCH_LINES(row, row_bytes, 1);
}

#endif /* EMBSIMD_PREFETCH_H */
