/* renorm.c - nn.Embedding's max_norm: the rows a call names, rescaled in
 * place before the lookup, each distinct row once. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "reduce.h"
#include "validate.h"

/* The canonical order of reduce.h for terms powf(|x|, p): the 32 running
 * sums written out, as reduce.h's generic vectors have no powf. */
static float sum_of_powers(const float *x, size_t dim, float p)
{
    float s[EMB_REDUCE_LANES] = {0};
    for (size_t j = 0; j < dim; j++)
        s[j % EMB_REDUCE_LANES] = s[j % EMB_REDUCE_LANES] + powf(fabsf(x[j]), p);
    for (int half = EMB_REDUCE_LANES / 2; half >= 1; half /= 2)
        for (int k = 0; k < half; k++)
            s[k] = s[k] + s[k + half];
    return s[0];
}

/* The p-norm of one row as emb_renorm defines it (embsimd.h). */
static float row_norm(const float *x, size_t dim, double norm_type)
{
    if (norm_type == 2.0)
        return sqrtf(emb_reduce_f32(EMB_TERM_SQUARE, x, NULL, dim));
    if (norm_type == 1.0)
        return emb_reduce_f32(EMB_TERM_ABS, x, NULL, dim);
    if (isinf(norm_type)) {
        float m = 0.0f;
        for (size_t j = 0; j < dim; j++) {
            if (isnan(x[j]))
                return x[j];
            m = fabsf(x[j]) > m ? fabsf(x[j]) : m;
        }
        return m;
    }
    return powf(sum_of_powers(x, dim, (float)norm_type), 1.0f / (float)norm_type);
}

/* v is the row as fp32 (f32: the row itself; f16, bf16: widened into a
 * buffer), scaled in place, then narrowed back into a 16-bit row, rounded
 * to nearest even (types.h's narrowing definitions). */
static void rescale_row(emb_type t, uint8_t *row, float *v, size_t dim, float scale)
{
    for (size_t j = 0; j < dim; j++)
        v[j] = v[j] * scale;
    if (t != EMB_F32)
        emb_f32_to_row16(t, row, v, dim);
}

emb_status emb_renorm(void *table, emb_type table_type, int64_t vocab, int64_t dim,
                      const void *ids, emb_index id_type, int64_t n, double max_norm,
                      double norm_type)
{
    const char *op = "emb_renorm";
    const emb_resolved *k = emb_active_kernels();
    if (k == NULL)
        return EMB_ENOTSUP;
    emb_status s = emb_check_float_type(op, "table_type", table_type,
                                        "max_norm rescales rows in place (a quantized row would "
                                        "be quantized again)");
    size_t row_bytes = 0, table_bytes = 0, ids_bytes = 0;
    if (s != EMB_OK || (s = emb_check_count(op, "vocab", vocab, 1)) != EMB_OK ||
        (s = emb_check_count(op, "dim", dim, 1)) != EMB_OK ||
        (s = emb_check_count(op, "n", n, 0)) != EMB_OK ||
        (s = emb_check_index(op, "id_type", id_type)) != EMB_OK)
        return s;
    if (!(max_norm >= 0.0) || isinf(max_norm)) {
        emb_set_error("%s: max_norm = %g, must be finite and >= 0", op, max_norm);
        return EMB_EINVAL;
    }
    if (!(norm_type > 0.0)) {
        emb_set_error("%s: norm_type = %g, must be > 0 (INFINITY: the largest |x|)", op,
                      norm_type);
        return EMB_EINVAL;
    }
    if ((s = emb_check_rows(op, "table", table_type, vocab, dim, &row_bytes, &table_bytes)) !=
            EMB_OK ||
        (s = emb_check_items(op, "ids", n, emb_index_bytes(id_type), &ids_bytes)) != EMB_OK)
        return s;
    if (n == 0)
        return EMB_OK;
    /* The table is rewritten in place while the ids are read. */
    const emb_span spans[] = {{"table", table, table_bytes}, {"ids", ids, ids_bytes}};
    if ((s = emb_check_present(op, spans, 2, "n", n)) != EMB_OK ||
        (s = emb_check_disjoint(op, spans, 1, 2)) != EMB_OK ||
        (s = emb_check_ids(op, ids, id_type, (size_t)n, vocab, k->ids_minmax)) != EMB_OK)
        return s;
    /* One bit per row (each distinct row is rescaled once), and for the
     * 16-bit types one row widened to fp32. */
    const size_t seen_bytes = ((size_t)vocab + 7) / 8;
    const size_t seen_round = (seen_bytes + sizeof(float) - 1) / sizeof(float) * sizeof(float);
    const size_t widened = table_type == EMB_F32 ? 0 : (size_t)dim;
    if (widened > (SIZE_MAX - seen_round) / sizeof(float)) {
        emb_set_error("%s: scratch for a row of %lld elements overflows size_t", op,
                      (long long)dim);
        return EMB_EINVAL;
    }
    uint8_t *seen = calloc(seen_round + widened * sizeof(float), 1);
    if (seen == NULL) {
        emb_set_error("%s: %llu bytes of scratch (vocab / 8%s) could not be allocated", op,
                      (unsigned long long)(seen_round + widened * sizeof(float)),
                      widened ? ", and a row widened to fp32" : "");
        return EMB_ENOMEM;
    }
    float *x = (float *)(void *)(seen + seen_round);
    for (size_t i = 0; i < (size_t)n; i++) {
        const size_t id = (size_t)emb_index_at(ids, id_type, i);
        if (seen[id / 8] & (1u << (id % 8)))
            continue;
        seen[id / 8] |= (uint8_t)(1u << (id % 8));
        uint8_t *row = (uint8_t *)table + id * row_bytes;
        float *v = (float *)(void *)row;
        if (table_type != EMB_F32) {
            emb_row_to_f32(table_type, x, row, (size_t)dim, 0, (size_t)dim);
            v = x;
        }
        const float norm = row_norm(v, (size_t)dim, norm_type);
        /* PyTorch: max_norm / (norm + 1e-7) in double, then the row times
         * that scale as a float (rounded to the row's type). */
        if ((double)norm > max_norm)
            rescale_row(table_type, row, v, (size_t)dim,
                        (float)(max_norm / ((double)norm + 1e-7)));
    }
    free(seen);
    return EMB_OK;
}
