/* scalar.c - the portable reference implementation, baseline flags only.
 * Every other implementation is tested bit for bit against this one. */
#include "config.h"

#include <string.h>

#include "internal.h"

static void lookup_scalar(const float *table, size_t dim, const int32_t *ids,
                          size_t n, float *out, unsigned flags)
{
    (void)flags; /* portable C has neither streaming stores nor prefetch */
    const size_t row_bytes = dim * sizeof(float);
    for (size_t i = 0; i < n; i++) {
        /* memcpy, not float assignment: a copy through x87 or any FPU
         * load/store path may quiet a signalling NaN; bytes never change. */
        memcpy(out + i * dim, table + (size_t)ids[i] * dim, row_bytes);
    }
}

static void grad_scalar(float *dtable, size_t dim, const int32_t *ids, size_t n,
                        const float *dout, unsigned part, unsigned nparts, unsigned flags)
{
    (void)flags; /* the reference stays free of hints */
    for (size_t i = 0; i < n; i++) {
        if (emb_row_owner(ids[i], nparts) != part)
            continue;
        float *row = dtable + (size_t)ids[i] * dim;
        const float *g = dout + i * dim;
        /* One fp32 add per element; the build uses -ffp-contract=off and
         * no fast-math, so nothing is fused or reassociated. */
        for (size_t j = 0; j < dim; j++)
            row[j] += g[j];
    }
}

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

const emb_kernels emb_kernels_scalar = {
    lookup_scalar,
    grad_scalar,
    ids_minmax_scalar,
};
