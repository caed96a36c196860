/* prefetch.h - software prefetch of the embedding rows a kernel will
 * need next; shared by every ISA (the hint instruction is ISA-neutral). */
#ifndef EMBSIMD_PREFETCH_H
#define EMBSIMD_PREFETCH_H

#include <stddef.h>
#include <stdint.h>

/* Rows are gathered in id order, which the hardware prefetcher cannot
 * predict; it only follows each row once the row has started. Asking for
 * the row of ids[i + ahead] while copying row i keeps about this many bytes
 * of future rows in flight (measured on Zen 5 and Skylake-class cores:
 * below 2 KiB the DRAM latency shows, above 8 KiB lines arrive before they
 * are used and are evicted by the stream of other rows). */
#ifndef EMB_PREFETCH_BYTES
#define EMB_PREFETCH_BYTES ((size_t)4096)
#endif

/* 0 when prefetching is compiled out (EMB_PREFETCH_BYTES=0). */
static inline size_t emb_prefetch_rows_ahead(size_t row_bytes)
{
    if (EMB_PREFETCH_BYTES == 0)
        return 0;
    const size_t rows = EMB_PREFETCH_BYTES / row_bytes;
    return rows < 1 ? 1 : rows > 16 ? 16 : rows;
}

/* One hint per 64-byte line that holds part of the row (a row need not
 * start on a line boundary). */
static inline void emb_prefetch_row(const float *row, size_t row_bytes)
{
    const uintptr_t first = (uintptr_t)row & ~(uintptr_t)63;
    const uintptr_t last = ((uintptr_t)row + row_bytes - 1) & ~(uintptr_t)63;
    for (uintptr_t line = first; line <= last; line += 64)
        __builtin_prefetch((const void *)line, 0, 3);
}

#endif /* EMBSIMD_PREFETCH_H */
