/* lookup_loop.h - the row loop every lookup kernel shares: prefetch ahead,
 * copy each row with the ISA's ordinary or streaming row copy. */
#ifndef EMBSIMD_LOOKUP_LOOP_H
#define EMBSIMD_LOOKUP_LOOP_H

#include "internal.h"
#include "prefetch.h"

typedef void (*emb_row_copy_fn)(float *dst, const float *src, size_t dim);

/* Always inlined with constant row-copy functions, so each ISA file gets
 * its own fully specialised loop from this one body. */
static inline __attribute__((always_inline)) void
emb_lookup_rows(const float *table, size_t dim, const int32_t *ids, size_t n, float *out,
                unsigned flags, emb_row_copy_fn copy, emb_row_copy_fn copy_stream)
{
    const size_t row_bytes = dim * sizeof(float);
    const size_t ahead = (flags & EMB_LOOKUP_PREFETCH) ? emb_prefetch_rows_ahead(row_bytes) : 0;
    const emb_row_copy_fn row_copy = (flags & EMB_LOOKUP_STREAM) ? copy_stream : copy;
    if (ahead == 0) {
        for (size_t i = 0; i < n; i++)
            row_copy(out + i * dim, table + (size_t)ids[i] * dim, dim);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (i + ahead < n)
            emb_prefetch_row(table + (size_t)ids[i + ahead] * dim, row_bytes);
        row_copy(out + i * dim, table + (size_t)ids[i] * dim, dim);
    }
}

#endif /* EMBSIMD_LOOKUP_LOOP_H */
