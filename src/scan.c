/* scan.c - emb_scan, the similarity scan of one query row against every
 * row of a table: validate everything, then split the rows over threads
 * (each row's score is one reduction of its own, so the split changes no
 * bit) and hand each range to the active implementation's kernel. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "internal.h"

typedef struct scan_job {
    emb_scan_fn fn;
    const uint8_t *table;
    size_t dim, vocab;
    const float *query;
    emb_metric metric;
    float *scratch; /* dim floats per part, or NULL for f32 */
    float *scores;
    unsigned flags;
} scan_job;

static void scan_part(void *arg, unsigned part, unsigned nparts)
{
    const scan_job *j = arg;
    /* Contiguous ranges: a sequential read per thread. */
    const size_t first = (size_t)((uint64_t)j->vocab * part / nparts);
    const size_t last = (size_t)((uint64_t)j->vocab * (part + 1) / nparts);
    j->fn(j->table, j->dim, first, last, j->query, j->metric,
          j->scratch != NULL ? j->scratch + (size_t)part * j->dim : NULL, j->scores, j->flags);
}

static int overlaps(const void *a, size_t a_bytes, const void *b, size_t b_bytes)
{
    const uintptr_t pa = (uintptr_t)a, pb = (uintptr_t)b;
    return pa < pb + b_bytes && pb < pa + a_bytes;
}

emb_status emb_scan(const void *table, emb_type table_type, int64_t vocab, int64_t dim,
                    const float *query, emb_metric metric, float *scores)
{
    const char *op = "emb_scan";
    const emb_resolved *k = emb_active_kernels();
    if (k == NULL)
        return EMB_ENOTSUP;
    if ((unsigned)table_type >= EMB_TYPE_COUNT) {
        emb_set_error("%s: table_type = %d is not an emb_type", op, (int)table_type);
        return EMB_EINVAL;
    }
    if ((unsigned)metric > EMB_METRIC_NORM2) {
        emb_set_error("%s: metric = %d is not an emb_metric (EMB_METRIC_DOT, EMB_METRIC_L2SQ, "
                      "EMB_METRIC_NORM2)", op, (int)metric);
        return EMB_EINVAL;
    }
    if (vocab <= 0) {
        emb_set_error("%s: vocab = %lld, must be > 0", op, (long long)vocab);
        return EMB_EINVAL;
    }
    if (dim <= 0) {
        emb_set_error("%s: dim = %lld, must be > 0", op, (long long)dim);
        return EMB_EINVAL;
    }
    const emb_type_traits *t = &emb_types[table_type];
    const size_t row_bytes = emb_row_bytes(table_type, dim);
    if (row_bytes == 0) {
        if (t->block > 1 && (uint64_t)dim % t->block != 0)
            emb_set_error("%s: dim = %lld is not valid for table %s: it must be a multiple of %zu",
                          op, (long long)dim, t->name, t->block);
        else
            emb_set_error("%s: a row of %lld %s elements overflows size_t", op, (long long)dim,
                          t->name);
        return EMB_EINVAL;
    }
    /* Every offset a kernel forms is below these sizes: checked once, all
     * later 64-bit arithmetic is safe. */
    const uint64_t max_bytes = (uint64_t)(SIZE_MAX < INT64_MAX ? SIZE_MAX : INT64_MAX);
    if (row_bytes > max_bytes / (uint64_t)vocab ||
        (uint64_t)vocab > max_bytes / sizeof(float) ||
        (uint64_t)dim > max_bytes / sizeof(float) / EMB_MAX_THREADS) {
        emb_set_error("%s: a table of %lld x %lld %s elements overflows size_t", op,
                      (long long)vocab, (long long)dim, t->name);
        return EMB_EINVAL;
    }
    if (table == NULL || scores == NULL || (query == NULL && metric != EMB_METRIC_NORM2)) {
        emb_set_error("%s: %s is NULL", op,
                      table == NULL ? "table" : scores == NULL ? "scores" : "query");
        return EMB_EINVAL;
    }
    const size_t table_bytes = (size_t)vocab * row_bytes;
    const size_t scores_bytes = (size_t)vocab * sizeof(float);
    if (overlaps(scores, scores_bytes, table, table_bytes)) {
        emb_set_error("%s: scores overlaps table", op);
        return EMB_EINVAL;
    }
    if (query != NULL && metric != EMB_METRIC_NORM2 &&
        overlaps(scores, scores_bytes, query, (size_t)dim * sizeof(float))) {
        emb_set_error("%s: scores overlaps query", op);
        return EMB_EINVAL;
    }
    const emb_kernel_id kid = emb_kernel_find(EMB_OP_SCAN, table_type, EMB_F32);
    if (kid == EMB_KERNEL_COUNT || k->kernel[kid] == NULL || k->kernel[kid]->scan == NULL) {
        emb_set_error("%s: no scan kernel for %s tables", op, t->name);
        return EMB_EINVAL;
    }
    const unsigned parts = emb_parts_for(table_bytes, (size_t)vocab);
    float *scratch = NULL;
    if (table_type != EMB_F32) {
        scratch = malloc((size_t)parts * (size_t)dim * sizeof(float));
        if (scratch == NULL) {
            emb_set_error("%s: %llu bytes of scratch (dim floats per thread) could not be "
                          "allocated", op,
                          (unsigned long long)((uint64_t)parts * (uint64_t)dim * sizeof(float)));
            return EMB_ENOMEM;
        }
    }
    scan_job job = {k->kernel[kid]->scan, table, (size_t)dim, (size_t)vocab,
                    metric == EMB_METRIC_NORM2 ? NULL : query, metric, scratch, scores,
                    emb_schedule_flags(EMB_OP_SCAN, table_bytes, 0)};
    emb_run(EMB_OP_SCAN, scan_part, &job, parts);
    free(scratch);
    return EMB_OK;
}
