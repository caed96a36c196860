/* scan.c - emb_scan, the similarity scan of one query row against every
 * row of a table: validate everything (validate.h), then split the rows
 * over threads (each row's score is one reduction of its own, so the split
 * changes no bit) and hand each range to the active implementation's
 * kernel. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "internal.h"
#include "validate.h"

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

emb_status emb_scan(const void *table, emb_type table_type, int64_t vocab, int64_t dim,
                    const float *query, emb_metric metric, float *scores)
{
    const char *op = "emb_scan";
    const emb_resolved *k = emb_active_kernels();
    if (k == NULL)
        return EMB_ENOTSUP;
    emb_status s = emb_check_type(op, "table_type", table_type);
    if (s != EMB_OK)
        return s;
    if ((unsigned)metric > EMB_METRIC_NORM2) {
        emb_set_error("%s: metric = %d is not an emb_metric (EMB_METRIC_DOT, EMB_METRIC_L2SQ, "
                      "EMB_METRIC_NORM2)", op, (int)metric);
        return EMB_EINVAL;
    }
    size_t row_bytes = 0, table_bytes = 0, scores_bytes = 0, scratch_bytes = 0;
    if ((s = emb_check_count(op, "vocab", vocab, 1)) != EMB_OK ||
        (s = emb_check_count(op, "dim", dim, 1)) != EMB_OK ||
        (s = emb_check_rows(op, "table", table_type, vocab, dim, &row_bytes, &table_bytes)) !=
            EMB_OK ||
        (s = emb_check_items(op, "scores", vocab, sizeof(float), &scores_bytes)) != EMB_OK ||
        (s = emb_check_items(op, "scratch (dim floats per thread)", dim,
                             sizeof(float) * EMB_MAX_THREADS, &scratch_bytes)) != EMB_OK)
        return s;
    /* NORM2 reads no query: its span is empty, wherever it points. */
    const emb_span spans[] = {
        {"scores", scores, scores_bytes},
        {"table", table, table_bytes},
        {"query", query, metric == EMB_METRIC_NORM2 ? 0 : (size_t)dim * sizeof(float)}};
    if ((s = emb_check_present(op, spans, metric == EMB_METRIC_NORM2 ? 2 : 3, NULL, 0)) !=
            EMB_OK ||
        (s = emb_check_disjoint(op, spans, 1, 3)) != EMB_OK)
        return s;
    const emb_type_traits *t = &emb_types[table_type];
    const emb_kernel_id kid = emb_kernel_find(EMB_OP_SCAN, table_type, EMB_F32);
    const emb_kernel_entry *e =
        kid == EMB_KERNEL_COUNT ? NULL : emb_kernel_for(k, kid, (size_t)dim);
    if (e == NULL || e->scan == NULL) {
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
    scan_job job = {e->scan, table, (size_t)dim, (size_t)vocab,
                    metric == EMB_METRIC_NORM2 ? NULL : query, metric, scratch, scores,
                    emb_schedule_flags(EMB_OP_SCAN, table_bytes, 0)};
    emb_run(EMB_OP_SCAN, scan_part, &job, parts);
    free(scratch);
    return EMB_OK;
}
