/* api.c - the public entry points: validate everything, then hand the
 * call to the active implementation's kernels. */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "internal.h"

static _Thread_local char last_error[320];

void emb_set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
}

const char *emb_last_error(void) { return last_error; }

const char *emb_strerror(emb_status s)
{
    switch (s) {
    case EMB_OK: return "success";
    case EMB_EINVAL: return "invalid argument";
    case EMB_ERANGE: return "id out of range";
    case EMB_ENOMEM: return "out of memory";
    case EMB_ENOTSUP: return "implementation not supported";
    }
    return "unknown status";
}

const char *emb_version(void) { return PACKAGE_VERSION; }

static int overlaps(const void *a, size_t a_bytes, const void *b, size_t b_bytes)
{
    const uintptr_t pa = (uintptr_t)a, pb = (uintptr_t)b;
    return pa < pb + b_bytes && pb < pa + a_bytes;
}

/* What both operations check. "matrix" is the vocab x dim buffer (table or
 * dtable), "rows" the n x dim one (out or dout). On success the byte sizes
 * are returned for the overlap test. */
typedef struct call_shape {
    const char *op, *matrix_name, *rows_name;
    const void *matrix, *rows;
    int64_t vocab, dim, n;
    const int32_t *ids;
    int is_grad; /* grad writes the matrix; lookup writes the rows */
} call_shape;

static emb_status first_bad_id(const int32_t *ids, size_t n, int64_t vocab)
{
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= vocab) {
            emb_set_error("ids[%zu] = %ld is outside [0, %lld)", i, (long)ids[i],
                          (long long)vocab);
            return EMB_ERANGE;
        }
    }
    return EMB_OK; /* reached only in a --enable-slow-kernels build */
}

static emb_status validate(const call_shape *c, const emb_kernels *k)
{
    if (c->vocab <= 0) {
        emb_set_error("%s: vocab = %lld, must be > 0", c->op, (long long)c->vocab);
        return EMB_EINVAL;
    }
    if (c->dim <= 0) {
        emb_set_error("%s: dim = %lld, must be > 0", c->op, (long long)c->dim);
        return EMB_EINVAL;
    }
    if (c->n < 0) {
        emb_set_error("%s: n = %lld, must be >= 0", c->op, (long long)c->n);
        return EMB_EINVAL;
    }
    /* Every byte offset a kernel forms is below one of these two sizes, so
     * checking them once makes all later 64-bit offset arithmetic safe. */
    const uint64_t max_elems = (uint64_t)(SIZE_MAX < INT64_MAX ? SIZE_MAX : INT64_MAX) / sizeof(float);
    if ((uint64_t)c->dim > max_elems / (uint64_t)c->vocab) {
        emb_set_error("%s: %s of %lld x %lld floats overflows size_t", c->op,
                      c->matrix_name, (long long)c->vocab, (long long)c->dim);
        return EMB_EINVAL;
    }
    if (c->n > 0 && (uint64_t)c->dim > max_elems / (uint64_t)c->n) {
        emb_set_error("%s: %s of %lld x %lld floats overflows size_t", c->op,
                      c->rows_name, (long long)c->n, (long long)c->dim);
        return EMB_EINVAL;
    }
    if (c->n == 0)
        return EMB_OK;
    if (c->matrix == NULL || c->rows == NULL || c->ids == NULL) {
        emb_set_error("%s: %s is NULL with n = %lld", c->op,
                      c->matrix == NULL ? c->matrix_name
                      : c->rows == NULL ? c->rows_name
                                        : "ids",
                      (long long)c->n);
        return EMB_EINVAL;
    }
    const size_t matrix_bytes = (size_t)c->vocab * (size_t)c->dim * sizeof(float);
    const size_t rows_bytes = (size_t)c->n * (size_t)c->dim * sizeof(float);
    if (overlaps(c->matrix, matrix_bytes, c->rows, rows_bytes)) {
        emb_set_error("%s: %s [%p, +%zu bytes) overlaps %s [%p, +%zu bytes)", c->op,
                      c->rows_name, c->rows, rows_bytes, c->matrix_name, c->matrix,
                      matrix_bytes);
        return EMB_EINVAL;
    }
    /* The kernels read ids while writing rows: ids inside the buffer being
     * written would change under them. (ids may share memory with the
     * buffer that is only read.) */
    const void *written = c->is_grad ? c->matrix : c->rows;
    const size_t written_bytes = c->is_grad ? matrix_bytes : rows_bytes;
    if (overlaps(c->ids, (size_t)c->n * sizeof(int32_t), written, written_bytes)) {
        emb_set_error("%s: ids overlaps %s, which the call writes", c->op,
                      c->is_grad ? c->matrix_name : c->rows_name);
        return EMB_EINVAL;
    }
    /* One vectorised pass accepts the common case; the exact position and
     * value of the first bad id come from a second, plain pass only on
     * failure. */
    int32_t lo, hi;
    k->ids_minmax(c->ids, (size_t)c->n, &lo, &hi);
#ifdef EMB_SLOW_KERNELS
    lo = -1; /* always take the slow exact pass as well */
#endif
    if (lo < 0 || hi >= c->vocab)
        return first_bad_id(c->ids, (size_t)c->n, c->vocab);
    return EMB_OK;
}

/* Streaming stores pay once the call cannot keep its output in cache:
 * then every normal store costs a read of the line it writes (and a
 * write-back later) and the output is gone for the layer that reads it
 * next anyway. What the call pulls through the cache is its output plus
 * the rows it reads (at most the table, at most as many bytes as the
 * output); streaming starts when that reaches 5/8 of the LLC. Measured on
 * AMD EPYC Zen 2 (KVM, 2 vCPUs, 16 MiB L3, gcc 12.2 -O2, 2026-12-01),
 * AVX2 lookup / memcpy, streaming vs normal stores, D = 768: from a
 * 154 MB table the two cross at 4-4.5 MiB of output (3 MiB: 0.77 vs
 * 0.80; 4.5 MiB: 0.80 vs 0.75; 6 MiB: 0.87 vs 0.70; 24 MiB: 1.08 vs
 * 0.73); from a 3 MB cache-resident table near 8.5 MiB (6 MiB: 0.85 vs
 * 0.97; 8 MiB: 0.98 vs 1.05; 8.8 MiB: 1.13 vs 1.01; 12 MiB: 1.83 vs
 * 0.93). 5/8 of the LLC (10 MiB there) costs at most about 6 % on either
 * side of both. The former rule (output of at least 8 MiB and half the
 * LLC), from Zen 5 with 32 MiB of L3, left 4-8 MiB outputs from DRAM
 * tables on normal stores. Prefetching and rows in flight are for tables
 * too large for the cache (README "Kernel tuning"). */
unsigned emb_lookup_flags(size_t table_bytes, size_t out_bytes)
{
#ifdef EMB_SLOW_KERNELS
    (void)table_bytes, (void)out_bytes;
    return 0;
#endif
    const size_t llc = (size_t)emb_llc_bytes();
    const size_t rows_read = table_bytes < out_bytes ? table_bytes : out_bytes;
    unsigned flags = 0;
    if (out_bytes + rows_read >= llc / 8 * 5)
        flags |= EMB_KF_STREAM;
    if (table_bytes >= llc / 2)
        flags |= EMB_KF_PREFETCH;
    return flags;
}

unsigned emb_grad_flags(size_t dtable_bytes)
{
#ifdef EMB_SLOW_KERNELS
    (void)dtable_bytes;
    return 0;
#endif
    return dtable_bytes >= (size_t)emb_llc_bytes() / 2 ? EMB_KF_PREFETCH : 0u;
}

typedef struct lookup_job {
    const emb_kernels *k;
    const float *table;
    size_t dim;
    const int32_t *ids;
    size_t n;
    float *out;
    unsigned flags;
} lookup_job;

/* Contiguous token ranges: part p writes only its own slice of out. */
static void lookup_part(void *arg, unsigned part, unsigned nparts)
{
    const lookup_job *j = arg;
    const size_t base = j->n / nparts, extra = j->n % nparts;
    const size_t lo = base * part + (part < extra ? part : extra);
    const size_t count = base + (part < extra ? 1 : 0);
    j->k->lookup_f32(j->table, j->dim, j->ids + lo, count, j->out + lo * j->dim, j->flags);
}

typedef struct grad_job {
    const emb_kernels *k;
    float *dtable;
    size_t dim;
    const int32_t *ids;
    size_t n;
    const float *dout;
    unsigned flags;
} grad_job;

static void grad_part(void *arg, unsigned part, unsigned nparts)
{
    const grad_job *j = arg;
    j->k->grad_f32(j->dtable, j->dim, j->ids, j->n, j->dout, part, nparts, j->flags);
}

emb_status emb_lookup_f32(const float *table, int64_t vocab, int64_t dim,
                          const int32_t *ids, int64_t n, float *out)
{
    const emb_kernels *k = emb_active_kernels();
    if (k == NULL)
        return EMB_ENOTSUP;
    const call_shape c = {"emb_lookup_f32", "table", "out", table, out, vocab, dim, n, ids, 0};
    const emb_status s = validate(&c, k);
    if (s != EMB_OK || n == 0)
        return s;
    const size_t out_bytes = (size_t)n * (size_t)dim * sizeof(float);
    const size_t table_bytes = (size_t)vocab * (size_t)dim * sizeof(float);
    lookup_job job = {k, table, (size_t)dim, ids, (size_t)n, out,
                      emb_lookup_flags(table_bytes, out_bytes)};
    emb_parallel(lookup_part, &job, emb_parts_for(out_bytes, (size_t)n));
    return EMB_OK;
}

emb_status emb_grad_f32(float *dtable, int64_t vocab, int64_t dim,
                        const int32_t *ids, int64_t n, const float *dout)
{
    const emb_kernels *k = emb_active_kernels();
    if (k == NULL)
        return EMB_ENOTSUP;
    const call_shape c = {"emb_grad_f32", "dtable", "dout", dtable, dout, vocab, dim, n, ids, 1};
    const emb_status s = validate(&c, k);
    if (s != EMB_OK || n == 0)
        return s;
    /* Each part scans every id but touches only its own rows. */
    const size_t touched_bytes = 3 * (size_t)n * (size_t)dim * sizeof(float);
    const size_t dtable_bytes = (size_t)vocab * (size_t)dim * sizeof(float);
    grad_job job = {k, dtable, (size_t)dim, ids, (size_t)n, dout, emb_grad_flags(dtable_bytes)};
    emb_parallel(grad_part, &job, emb_parts_for(touched_bytes, (size_t)n));
    return EMB_OK;
}
