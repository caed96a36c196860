/* row_loops.h - the token loops every ISA shares; each ISA supplies only
 * its row primitives (copy a row, add a row). */
#ifndef EMBSIMD_ROW_LOOPS_H
#define EMBSIMD_ROW_LOOPS_H

#include "internal.h"
#include "prefetch.h"

typedef void (*emb_row_copy_fn)(float *dst, const float *src, size_t dim);

static inline __attribute__((always_inline)) void
emb_copy_rows(const float *table, size_t dim, const int32_t *ids, size_t n, float *out,
              size_t ahead, emb_row_copy_fn copy)
{
    const size_t row_bytes = dim * sizeof(float);
    if (ahead == 0) {
        for (size_t i = 0; i < n; i++)
            copy(out + i * dim, table + (size_t)ids[i] * dim, dim);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (i + ahead < n)
            emb_prefetch_row(table + (size_t)ids[i + ahead] * dim, row_bytes);
        copy(out + i * dim, table + (size_t)ids[i] * dim, dim);
    }
}

/* Always inlined with constant row-copy functions, so each ISA file gets
 * its own fully specialised loops from this one body. The flags are tested
 * once, outside the loops: choosing the copy function per call through a
 * variable would turn every row copy into an indirect call. */
static inline __attribute__((always_inline)) void
emb_lookup_rows(const float *table, size_t dim, const int32_t *ids, size_t n, float *out,
                unsigned flags, emb_row_copy_fn copy, emb_row_copy_fn copy_stream)
{
    const size_t ahead =
        (flags & EMB_KF_PREFETCH) ? emb_prefetch_rows_ahead(dim * sizeof(float)) : 0;
    if (flags & EMB_KF_STREAM)
        emb_copy_rows(table, dim, ids, n, out, ahead, copy_stream);
    else
        emb_copy_rows(table, dim, ids, n, out, ahead, copy);
}

typedef void (*emb_row_add_fn)(float *acc, const float *g, size_t dim);

/* Token order is what makes the sum exact to the dense product, so the
 * loop never reorders tokens; it only skips those whose row another part
 * owns. Prefetches are issued for owned rows only: a write-intent prefetch
 * of another thread's row would pull the line away from its owner. */
static inline __attribute__((always_inline)) void
emb_grad_rows(float *dtable, size_t dim, const int32_t *ids, size_t n, const float *dout,
              unsigned part, unsigned nparts, unsigned flags, emb_row_add_fn add)
{
    const size_t row_bytes = dim * sizeof(float);
    const size_t ahead = (flags & EMB_KF_PREFETCH) ? emb_prefetch_rows_ahead(row_bytes) : 0;
    for (size_t i = 0; i < n; i++) {
        if (ahead != 0 && i + ahead < n && emb_row_owner(ids[i + ahead], nparts) == part)
            emb_prefetch_row_for_write(dtable + (size_t)ids[i + ahead] * dim, row_bytes);
        if (emb_row_owner(ids[i], nparts) == part)
            add(dtable + (size_t)ids[i] * dim, dout + i * dim, dim);
    }
}

#endif /* EMBSIMD_ROW_LOOPS_H */
