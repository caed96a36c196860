/* init.c - emb_init: a table filled with uniform or normal values from a
 * 64-bit seed, reproducibly. Element (row, col) is a function of the seed,
 * the row and the column alone (a counter-based generator, Philox4x32-10),
 * so any thread count, any implementation and any split into row ranges
 * gives the same bits; and every operation of the transform is an IEEE-754
 * basic operation (+ - x / and sqrt, correctly rounded everywhere), with no
 * libm function whose result differs between libraries or architectures. */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

/* ---- Philox4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random numbers:
 * as easy as 1, 2, 3", SC 2011): ten rounds of two 32x32->64 multiplies,
 * the key bumped by the Weyl constants between rounds. ---- */
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void emb_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3], k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        const uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
        const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* ---- the natural logarithm from basic operations ----
 * s = m * 2^e with m in [sqrt(1/2), sqrt(2)) (frexp and a doubling: exact),
 * ln s = e ln 2 + 2 atanh(t), t = (m - 1) / (m + 1), |t| < 0.1716, and
 * atanh(t) = t + t^3/3 + t^5/5 + ...: 14 terms leave a remainder below
 * 2^-80 relative. Every step is a double +, -, x or /, in the order
 * written, so the result has the same bits on every IEEE-754 machine;
 * its error (a few ulps of double) is far below the float it feeds. */
static double ln_defined(double s)
{
    int e;
    double m = frexp(s, &e); /* exact: m in [0.5, 1) */
    if (m < 0.70710678118654752440) {
        m = m * 2.0; /* exact */
        e = e - 1;
    }
    const double t = (m - 1.0) / (m + 1.0), t2 = t * t;
    double sum = 0.0;
    for (int k = 13; k >= 0; k--) /* Horner, from the smallest term */
        sum = sum * t2 + 1.0 / (double)(2 * k + 1);
    /* ln 2 rounded to double: 0x1.62e42fefa39efp-1 */
    return (double)e * 0x1.62e42fefa39efp-1 + 2.0 * t * sum;
}

/* ---- one element ---- */

/* The counter of element (row, col): the row in words 0 and 1, the column
 * (below 2^48) in words 2 and the low half of 3, and in its high half the
 * distribution and, for the normal's rejection, the attempt. */
static void element_words(uint64_t seed, uint64_t row, uint64_t col, uint32_t tag,
                          uint32_t out[4])
{
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    const uint32_t ctr[4] = {(uint32_t)row, (uint32_t)(row >> 32), (uint32_t)col,
                             (uint32_t)(col >> 32) | (tag << 16)};
    emb_philox4x32_10(ctr, key, out);
}

/* uniform on [-scale, scale): u = (w >> 8) / 2^24, x = scale * (2u - 1),
 * computed in double, where it is exact (24 by 25 bits), then rounded to
 * float once. */
static float uniform_at(uint64_t seed, uint64_t row, uint64_t col, float scale)
{
    uint32_t w[4];
    element_words(seed, row, col / 4, 0, w);
    const double u = (double)(w[col % 4] >> 8) * 0x1p-24;
    return (float)((double)scale * (2.0 * u - 1.0));
}

/* normal with mean 0 and standard deviation scale: Marsaglia's polar
 * method. Each Philox block gives two attempts (words 0-1, 2-3); attempt a
 * uses block a / 2. u, v = (w + 1/2) / 2^31 - 1 in (-1, 1) (exact); s =
 * u*u + v*v, accepted when 0 < s < 1; z = u * sqrt(-2 ln s / s); x =
 * (float)(scale * z), rounded once from double. */
static float normal_at(uint64_t seed, uint64_t row, uint64_t col, float scale)
{
    for (uint32_t block = 1;; block++) {
        uint32_t w[4];
        element_words(seed, row, col, block, w);
        for (int pair = 0; pair < 2; pair++) {
            const double u = ((double)w[2 * pair] + 0.5) * 0x1p-31 - 1.0;
            const double v = ((double)w[2 * pair + 1] + 0.5) * 0x1p-31 - 1.0;
            const double s = u * u + v * v;
            if (s > 0.0 && s < 1.0)
                return (float)((double)scale * (u * sqrt(-2.0 * ln_defined(s) / s)));
        }
    }
}

float emb_init_value(emb_init_dist dist, uint64_t seed, uint64_t row, uint64_t col, float scale)
{
    return dist == EMB_INIT_UNIFORM ? uniform_at(seed, row, col, scale)
                                    : normal_at(seed, row, col, scale);
}

/* ---- the call ---- */

typedef struct init_job {
    uint8_t *rows;
    emb_type type;
    uint64_t first_row;
    size_t nrows, dim, row_bytes;
    emb_init_dist dist;
    float scale;
    uint64_t seed;
} init_job;

static void init_part(void *arg, unsigned part, unsigned nparts)
{
    const init_job *j = arg;
    const size_t lo = j->nrows * part / nparts, hi = j->nrows * (part + 1) / nparts;
    for (size_t r = lo; r < hi; r++) {
        uint8_t *row = j->rows + r * j->row_bytes;
        for (size_t c = 0; c < j->dim; c++) {
            const float x = emb_init_value(j->dist, j->seed, j->first_row + r, c, j->scale);
            if (j->type == EMB_F32)
                memcpy(row + 4 * c, &x, sizeof x);
            else
                emb_f32_to_row16(j->type, row + 2 * c, &x, 1);
        }
    }
}

emb_status emb_init(void *rows, emb_type type, int64_t first_row, int64_t nrows, int64_t dim,
                    emb_init_dist dist, float scale, uint64_t seed)
{
    const char *op = "emb_init";
    if (type != EMB_F32 && type != EMB_F16 && type != EMB_BF16) {
        const char *name = emb_type_name(type);
        emb_set_error("%s: type = %s (%d): a table to train is f32, f16 or bf16", op,
                      name ? name : "not a type", (int)type);
        return EMB_EINVAL;
    }
    if (dist != EMB_INIT_UNIFORM && dist != EMB_INIT_NORMAL) {
        emb_set_error("%s: dist = %d is neither EMB_INIT_UNIFORM nor EMB_INIT_NORMAL", op,
                      (int)dist);
        return EMB_EINVAL;
    }
    if (!(scale >= 0.0f) || isinf(scale)) {
        emb_set_error("%s: scale = %g is not a finite number >= 0", op, (double)scale);
        return EMB_EINVAL;
    }
    if (dim <= 0 || first_row < 0 || nrows < 0 || dim >= ((int64_t)1 << 48)) {
        emb_set_error("%s: %s = %lld is outside its range (dim in [1, 2^48), first_row and "
                      "nrows >= 0)", op, dim <= 0 || dim >= ((int64_t)1 << 48) ? "dim"
                      : first_row < 0 ? "first_row" : "nrows",
                      (long long)(dim <= 0 || dim >= ((int64_t)1 << 48) ? dim
                                  : first_row < 0 ? first_row : nrows));
        return EMB_EINVAL;
    }
    if (nrows == 0)
        return EMB_OK;
    if (rows == NULL) {
        emb_set_error("%s: rows is NULL with nrows = %lld", op, (long long)nrows);
        return EMB_EINVAL;
    }
    const size_t row_bytes = emb_row_bytes(type, dim);
    if (row_bytes == 0 || (size_t)nrows > SIZE_MAX / row_bytes) {
        emb_set_error("%s: %lld rows of %lld elements overflow size_t", op, (long long)nrows,
                      (long long)dim);
        return EMB_EINVAL;
    }
    init_job j = {rows, type, (uint64_t)first_row, (size_t)nrows, (size_t)dim, row_bytes, dist,
                  scale, seed};
    emb_parallel(init_part, &j, emb_parts_for(row_bytes * (size_t)nrows * 8, (size_t)nrows));
    return EMB_OK;
}
