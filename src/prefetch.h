/* prefetch.h - software prefetch of the embedding rows a kernel will
 * need next; shared by every ISA (the hint instruction is ISA-neutral). */
#ifndef EMBSIMD_PREFETCH_H
#define EMBSIMD_PREFETCH_H

#include <stddef.h>
#include <stdint.h>

/* Rows are visited in id order, which the hardware prefetcher cannot
 * predict; it only follows a row once the row has started. While the
 * loops of row_loops.h work on a group of rows they ask for the rows
 * EMB_PREFETCH_ROWS further on, a piece at a time, as long as those rows
 * hold at most EMB_PREFETCH_BUDGET bytes; 0 compiles prefetching out.
 *
 * Measured on AMD EPYC Zen 2 (KVM, 2 vCPUs, 16 MiB L3, gcc 12.2 -O2,
 * 2026-12-01), uniform ids, lookup / same-run memcpy, with four rows in
 * flight (row_loops.h): 50257 x 768 x 8192 0.94 without prefetch, 1.00
 * with rows i+4..i+7, 0.95 with rows i+8..i+11; at N = 512 0.67, 0.73,
 * 0.70. At 262144 x 4096 (16 KiB rows) the same prefetch cost 4 %
 * (1.35 vs 1.41): four long rows in flight already keep enough lines
 * coming, hence the byte budget, which turns it off there. A whole row
 * requested at once (the former rule, about 4 KiB ahead) was worth
 * nothing on this machine without several rows in flight (0.85 vs 0.87).
 * Grad, two rows in flight: 1.06 of memcpy with rows 4 ahead, 1.06 at 8,
 * 1.06 without at N = 8192, and 1.05 / 1.06 / 0.92 at N = 512. */
#ifndef EMB_PREFETCH_BYTES
#define EMB_PREFETCH_BYTES ((size_t)4096)
#endif
#ifndef EMB_PREFETCH_ROWS_MAX
#define EMB_PREFETCH_ROWS_MAX ((size_t)32)
#endif
#ifndef EMB_PREFETCH_BUDGET
#define EMB_PREFETCH_BUDGET ((size_t)32 << 10)
#endif

/* How many rows ahead to prefetch while `in_flight` rows are being worked
 * on, or 0: not at all. */
static inline size_t emb_prefetch_rows_ahead(size_t row_bytes, size_t in_flight)
{
    if (EMB_PREFETCH_BYTES == 0)
        return 0;
    size_t rows = EMB_PREFETCH_BYTES / row_bytes;
    if (rows < 2 * in_flight)
        rows = 2 * in_flight;
    if (rows > EMB_PREFETCH_ROWS_MAX)
        rows = EMB_PREFETCH_ROWS_MAX;
    if (rows > EMB_PREFETCH_BUDGET / row_bytes)
        rows = EMB_PREFETCH_BUDGET / row_bytes;
    return rows < in_flight ? 0 : rows;
}

/* One hint per 64-byte line that holds part of [p, p + bytes) (a row need
 * not start on a line boundary, so neighbouring spans may share a line and
 * hint it twice, which costs a cache hit). rw: 0 to read, 1 to write. On
 * x86 without -mprfchw (the builds here) GCC emits PREFETCHT0 for both;
 * on AArch64 they are PRFM PLDL1KEEP / PSTL1KEEP. PREFETCHW itself was
 * measured slower than PREFETCHT0 for grad on Zen 2 (1.00 vs 1.06 of
 * memcpy at 50257 x 768 x 8192). */
#define EMB_PREFETCH_LINES(p, bytes, rw)                                                 \
    do {                                                                                 \
        const uintptr_t first_ = (uintptr_t)(p) & ~(uintptr_t)63;                        \
        const uintptr_t last_ = ((uintptr_t)(p) + (bytes) - 1) & ~(uintptr_t)63;         \
        for (uintptr_t line_ = first_; line_ <= last_; line_ += 64)                      \
            __builtin_prefetch((const void *)line_, rw, 3);                              \
    } while (0)

static inline void emb_prefetch_span(const float *p, size_t bytes)
{
    EMB_PREFETCH_LINES(p, bytes, 0);
}

static inline void emb_prefetch_span_for_write(float *p, size_t bytes)
{
    EMB_PREFETCH_LINES(p, bytes, 1);
}

#endif /* EMBSIMD_PREFETCH_H */
