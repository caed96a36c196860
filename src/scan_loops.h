/* scan_loops.h - the similarity scan: one query row against every row of a
 * table, per row one reduction in the canonical order of reduce.h. Each
 * ISA file includes it after its row primitives and defines one kernel per
 * table type with EMB_DEFINE_SCAN; the order is reduce.h's, so every ISA
 * and every thread count gives the same bits. */
#ifndef EMBSIMD_SCAN_LOOPS_H
#define EMBSIMD_SCAN_LOOPS_H

#include "internal.h"
#include "reduce.h"
#include "row_loops.h"

/* One row's score, the row already fp32 at x. Always inlined with a
 * constant metric, so each metric is its own loop. */
static inline __attribute__((always_inline)) float emb_scan_score(emb_metric metric,
                                                                  const float *x,
                                                                  const float *query, size_t dim)
{
    switch (metric) {
    case EMB_METRIC_DOT:
        return emb_reduce_f32(EMB_TERM_PRODUCT, x, query, dim);
    case EMB_METRIC_L2SQ:
        return emb_reduce_f32(EMB_TERM_SQ_DIFF, x, query, dim);
    case EMB_METRIC_NORM2:
        break;
    }
    return emb_reduce_f32(EMB_TERM_SQUARE, x, NULL, dim);
}

/* Rows [first, last): an f32 table is reduced in place; any other type is
 * first widened or dequantized, a whole row at a time, into scratch (dim
 * floats) by the ISA's row primitive (exact, or q8_rowwise's one fused
 * rounding, as emb_lookup), then reduced: the score of a row is the score
 * of its emb_lookup into f32. */
/* A table in DRAM (EMB_KF_PREFETCH) is read EMB_SCAN_PREFETCH_BYTES ahead
 * in software too: the rows are consecutive, but the hardware prefetcher
 * alone kept too few lines in flight while other work shared the memory
 * bus (AMD EPYC Zen 2 VM, load 8-10, bf16 MiniLM table of 23 MB: 11-12 ms
 * a scan without, 3-11 ms with 4 KiB; 1 KiB no better than none). */
#define EMB_SCAN_PREFETCH_BYTES ((size_t)4096)

static inline __attribute__((always_inline)) void
emb_scan_rows_m(emb_type in, emb_metric metric, emb_row_fn convert, const uint8_t *table,
                size_t dim, size_t first, size_t last, const float *query, float *scratch,
                float *scores, unsigned flags)
{
    const size_t row_bytes = emb_row_size(in, dim);
    const uint8_t *const stop = table + last * row_bytes;
    for (size_t r = first; r < last; r++) {
        const uint8_t *row = table + r * row_bytes;
        if ((flags & EMB_KF_PREFETCH) &&
            stop - row > (ptrdiff_t)(EMB_SCAN_PREFETCH_BYTES + row_bytes))
            emb_prefetch_span(row + EMB_SCAN_PREFETCH_BYTES, row_bytes);
        const float *x = (const float *)(const void *)row;
        if (in != EMB_F32) {
            convert((uint8_t *)scratch, row, 0, dim, dim);
            x = scratch;
        }
        scores[r] = emb_scan_score(metric, x, query, dim);
    }
}

static inline __attribute__((always_inline)) void
emb_scan_rows(emb_type in, emb_row_fn convert, const uint8_t *table, size_t dim, size_t first,
              size_t last, const float *query, emb_metric metric, float *scratch, float *scores,
              unsigned flags)
{
    switch (metric) {
    case EMB_METRIC_DOT:
        emb_scan_rows_m(in, EMB_METRIC_DOT, convert, table, dim, first, last, query, scratch,
                        scores, flags);
        return;
    case EMB_METRIC_L2SQ:
        emb_scan_rows_m(in, EMB_METRIC_L2SQ, convert, table, dim, first, last, query, scratch,
                        scores, flags);
        return;
    case EMB_METRIC_NORM2:
        emb_scan_rows_m(in, EMB_METRIC_NORM2, convert, table, dim, first, last, query, scratch,
                        scores, flags);
        return;
    }
}

/* One scan kernel: rows of type in_type, widened by convert (unused for
 * f32: pass the ISA's f32 copy). */
#define EMB_DEFINE_SCAN(attrs, name, in_type, convert)                                        \
    static attrs void name(const uint8_t *table, size_t dim, size_t first, size_t last,       \
                           const float *query, emb_metric metric, float *scratch,             \
                           float *scores, unsigned flags)                                     \
    {                                                                                         \
        emb_scan_rows(in_type, convert, table, dim, first, last, query, metric, scratch,      \
                      scores, flags);                                                         \
    }

#endif /* EMBSIMD_SCAN_LOOPS_H */
