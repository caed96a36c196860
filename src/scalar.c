/* scalar.c - the portable reference implementation, baseline flags only.
 * It has every kernel of types.h's list and writes each as its definition;
 * every other implementation is tested bit for bit against it. */
#include "config.h"

#include <string.h>

#include "internal.h"
#include "types.h"

/* Each kernel body is compiled once per id width (the wrapper's constant
 * ids64), so the width costs no test per row. */
#define FOR_ID_WIDTH(ids64, call) \
    do {                          \
        if (ids64) {              \
            const int w_ = 1;     \
            call;                 \
        } else {                  \
            const int w_ = 0;     \
            call;                 \
        }                         \
    } while (0)

static inline __attribute__((always_inline)) size_t id_at(const void *ids, int ids64, size_t i)
{
    return ids64 ? (size_t)((const int64_t *)ids)[i] : (size_t)((const int32_t *)ids)[i];
}

/* Same type in and out: the row's bytes, never through an FPU register (a
 * copy through x87 or any FPU load/store path may quiet a signalling NaN). */
static inline __attribute__((always_inline)) void copy_rows(size_t row_bytes, const uint8_t *table, const void *ids, int ids64,
                             size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++)
        memcpy(out + i * row_bytes, table + id_at(ids, ids64, i) * row_bytes, row_bytes);
}

static inline __attribute__((always_inline)) void convert_rows(emb_type in, size_t dim, const uint8_t *table, const void *ids,
                                int ids64, size_t n, uint8_t *out)
{
    const size_t row_bytes = emb_row_size(in, dim);
    for (size_t i = 0; i < n; i++)
        emb_row_to_f32(in, (float *)(out + i * dim * sizeof(float)),
                       table + id_at(ids, ids64, i) * row_bytes, dim, 0, dim);
}

/* Portable C has neither streaming stores nor prefetch: flags are unused. */
#define SCALAR_COPY(name, type)                                                          \
    static void name(const uint8_t *table, size_t dim, const void *ids, int ids64, size_t n, \
                     uint8_t *out, unsigned flags)                                       \
    {                                                                                    \
        (void)flags;                                                                     \
        FOR_ID_WIDTH(ids64, copy_rows(emb_row_size(type, dim), table, ids, w_, n, out));         \
    }
#define SCALAR_CONVERT(name, type)                                                       \
    static void name(const uint8_t *table, size_t dim, const void *ids, int ids64, size_t n, \
                     uint8_t *out, unsigned flags)                                       \
    {                                                                                    \
        (void)flags;                                                                     \
        FOR_ID_WIDTH(ids64, convert_rows(type, dim, table, ids, w_, n, out));                              \
    }

SCALAR_COPY(lookup_f32_f32, EMB_F32)
SCALAR_COPY(lookup_f16_f16, EMB_F16)
SCALAR_COPY(lookup_bf16_bf16, EMB_BF16)
SCALAR_CONVERT(lookup_f16_f32, EMB_F16)
SCALAR_CONVERT(lookup_bf16_f32, EMB_BF16)
SCALAR_CONVERT(lookup_q8_0_f32, EMB_Q8_0)
SCALAR_CONVERT(lookup_q4_0_f32, EMB_Q4_0)
SCALAR_CONVERT(lookup_q8_rowwise_f32, EMB_Q8_ROWWISE)

/* One fp32 add per element, in token order; the build uses
 * -ffp-contract=off and no fast-math, so nothing is fused or reassociated.
 * A widened dout element is formed first, then added: the definition
 * one-hot(ids)^T x widen(dout). */
static inline __attribute__((always_inline)) void grad_rows(emb_type dout_type, float *dtable, size_t dim, const void *ids,
                             int ids64, size_t n, const uint8_t *dout, unsigned part,
                             unsigned nparts)
{
    const size_t g_bytes = emb_row_size(dout_type, dim);
    for (size_t i = 0; i < n; i++) {
        const size_t id = id_at(ids, ids64, i);
        if (emb_row_owner(id, nparts) != part)
            continue;
        float *row = dtable + id * dim;
        const uint8_t *g = dout + i * g_bytes;
        for (size_t j = 0; j < dim; j++) {
            float x;
            if (dout_type == EMB_F32)
                memcpy(&x, g + j * sizeof x, sizeof x);
            else
                emb_row_to_f32(dout_type, &x, g, dim, j, 1);
            row[j] += x;
        }
    }
}

#define SCALAR_GRAD(name, type)                                                            \
    static void name(float *dtable, size_t dim, const void *ids, int ids64, size_t n,        \
                     const uint8_t *dout, unsigned part, unsigned nparts, unsigned flags)    \
    {                                                                                      \
        (void)flags;                                                                       \
        FOR_ID_WIDTH(ids64, grad_rows(type, dtable, dim, ids, w_, n, dout, part, nparts));                   \
    }

SCALAR_GRAD(grad_f32, EMB_F32)
SCALAR_GRAD(grad_f16, EMB_F16)
SCALAR_GRAD(grad_bf16, EMB_BF16)

static void ids_minmax_scalar(const int32_t *ids, size_t n, int32_t *min, int32_t *max)
{
    int32_t lo = ids[0], hi = ids[0];
    for (size_t i = 1; i < n; i++) {
        lo = ids[i] < lo ? ids[i] : lo;
        hi = ids[i] > hi ? ids[i] : hi;
    }
    *min = lo;
    *max = hi;
}

static const emb_kernel_entry entries[] = {
    {EMB_K_LOOKUP_F32_F32, 0, lookup_f32_f32, NULL},
    {EMB_K_LOOKUP_F16_F16, 0, lookup_f16_f16, NULL},
    {EMB_K_LOOKUP_BF16_BF16, 0, lookup_bf16_bf16, NULL},
    {EMB_K_LOOKUP_F16_F32, 0, lookup_f16_f32, NULL},
    {EMB_K_LOOKUP_BF16_F32, 0, lookup_bf16_f32, NULL},
    {EMB_K_LOOKUP_Q8_0_F32, 0, lookup_q8_0_f32, NULL},
    {EMB_K_LOOKUP_Q4_0_F32, 0, lookup_q4_0_f32, NULL},
    {EMB_K_LOOKUP_Q8_ROWWISE_F32, 0, lookup_q8_rowwise_f32, NULL},
    {EMB_K_GRAD_F32, 0, NULL, grad_f32},
    {EMB_K_GRAD_F16, 0, NULL, grad_f16},
    {EMB_K_GRAD_BF16, 0, NULL, grad_bf16},
};

const emb_kernels emb_kernels_scalar = {entries, sizeof entries / sizeof entries[0],
                                        ids_minmax_scalar};
