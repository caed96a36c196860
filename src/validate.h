/* validate.h - the checks the public entry points make before anything is
 * written, each written once, so that one fault reads the same whichever
 * op meets it. A failing check records the detail (emb_set_error: the op,
 * the bad value and where it is) and returns EMB_EINVAL, or EMB_ERANGE for
 * an id; every entry point runs all of its checks before any kernel, so a
 * refused call changes no output byte.
 *
 * The checks on every call's path are inline and their failures out of
 * line (validate.c): a call that passes pays for the tests alone, which
 * the regression gate's instruction counts of a small lookup see. */
#ifndef EMBSIMD_VALIDATE_H
#define EMBSIMD_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* A buffer a call touches, by the name the API gives it. `bytes` is what
 * the call touches of it: 0 for an empty or absent buffer. */
typedef struct emb_span {
    const char *name;
    const void *p;
    size_t bytes;
} emb_span;

/* The largest byte count a buffer may have: a kernel forms offsets as
 * size_t, and the API takes sizes as int64_t. */
#define EMB_MAX_BYTES ((uint64_t)(SIZE_MAX < INT64_MAX ? SIZE_MAX : INT64_MAX))

/* Bytes of one id of type t (a valid emb_index), and id i of an array. */
static inline size_t emb_index_bytes(emb_index t)
{
    return t == EMB_I64 ? sizeof(int64_t) : sizeof(int32_t);
}

static inline int64_t emb_index_at(const void *ids, emb_index t, size_t i)
{
    return t == EMB_I64 ? ((const int64_t *)ids)[i] : ((const int32_t *)ids)[i];
}

/* ---- the failures, out of line ------------------------------------------- */

emb_status emb_type_error(const char *op, const char *what, emb_type t);
emb_status emb_index_error(const char *op, const char *what, emb_index t);
emb_status emb_count_error(const char *op, const char *what, int64_t value, int64_t min);
emb_status emb_rows_error(const char *op, const char *name, emb_type t, int64_t rows,
                          int64_t dim);
emb_status emb_items_error(const char *op, const char *name, int64_t count, size_t item_bytes);
emb_status emb_null_error(const char *op, const char *name, const char *size_name, int64_t size);
emb_status emb_overlap_error(const char *op, const emb_span *written, const emb_span *other);
emb_status emb_first_bad_id(const char *op, const void *ids, emb_index t, size_t n,
                            int64_t vocab);
void emb_ids64_minmax(const int64_t *ids, size_t n, int64_t *min, int64_t *max);

/* ---- the checks ------------------------------------------------------------ */

/* Enum arguments, checked first: an unknown value would index a table. */
static inline emb_status emb_check_type(const char *op, const char *what, emb_type t)
{
    return (unsigned)t < EMB_TYPE_COUNT ? EMB_OK : emb_type_error(op, what, t);
}

static inline emb_status emb_check_index(const char *op, const char *what, emb_index t)
{
    return t == EMB_I32 || t == EMB_I64 ? EMB_OK : emb_index_error(op, what, t);
}

/* A type whose rows hold each element as a float (f32, f16, bf16): the
 * only ones an op can add into or rewrite in place. `why`, when not NULL,
 * tells the caller what a quantized type would have cost. */
emb_status emb_check_float_type(const char *op, const char *what, emb_type t, const char *why);

/* A size argument: value >= min (0 for counts, 1 for dimensions). */
static inline emb_status emb_check_count(const char *op, const char *what, int64_t value,
                                         int64_t min)
{
    return value >= min ? EMB_OK : emb_count_error(op, what, value, min);
}

/* A buffer of `rows` (>= 0) rows of `dim` (> 0) elements of type t (a
 * valid emb_type): the type must have such a row and the buffer's byte
 * count must fit EMB_MAX_BYTES, which makes every later offset a kernel
 * forms safe 64-bit arithmetic. Sets the bytes of a row and of the whole
 * buffer. */
static inline emb_status emb_check_rows(const char *op, const char *name, emb_type t,
                                        int64_t rows, int64_t dim, size_t *row_bytes,
                                        size_t *bytes)
{
    const size_t rb = emb_row_bytes(t, dim);
    if (rb == 0 || (rows > 0 && rb > EMB_MAX_BYTES / (uint64_t)rows))
        return emb_rows_error(op, name, t, rows, dim);
    *row_bytes = rb;
    *bytes = (size_t)rows * rb;
    return EMB_OK;
}

/* An array of `count` (>= 0) items of `item_bytes` each (ids, weights,
 * per-row state), the same bound. */
static inline emb_status emb_check_items(const char *op, const char *name, int64_t count,
                                         size_t item_bytes, size_t *bytes)
{
    if ((uint64_t)count > EMB_MAX_BYTES / item_bytes)
        return emb_items_error(op, name, count, item_bytes);
    *bytes = (size_t)count * item_bytes;
    return EMB_OK;
}

/* The first of spans[0 .. count) whose pointer is NULL, named with the
 * size that makes it needed ("out is NULL with n = 4"); size_name NULL:
 * the pointer is always needed. */
static inline emb_status emb_check_present(const char *op, const emb_span *spans, size_t count,
                                           const char *size_name, int64_t size)
{
    for (size_t i = 0; i < count; i++)
        if (spans[i].p == NULL)
            return emb_null_error(op, spans[i].name, size_name, size);
    return EMB_OK;
}

/* Whether two spans share a byte. A span of 0 bytes holds no byte, so it
 * overlaps nothing, wherever it points. */
static inline int emb_spans_overlap(const emb_span *a, const emb_span *b)
{
    const uintptr_t pa = (uintptr_t)a->p, pb = (uintptr_t)b->p;
    return a->bytes != 0 && b->bytes != 0 && pa < pb + b->bytes && pb < pa + a->bytes;
}

/* spans[0 .. n_written) are written by the call, the rest only read: no
 * written span may overlap any other span (a kernel would read what it
 * has already overwritten, or write one byte twice); read spans may share
 * memory with each other. The first clash is named with both ranges. */
static inline emb_status emb_check_disjoint(const char *op, const emb_span *spans,
                                            size_t n_written, size_t count)
{
    for (size_t w = 0; w < n_written; w++)
        for (size_t a = 0; a < count; a++)
            if (a != w && emb_spans_overlap(&spans[w], &spans[a]))
                return emb_overlap_error(op, &spans[w], &spans[a]);
    return EMB_OK;
}

/* Every one of n ids in [0, vocab): a cheap min/max pass (minmax32, the
 * implementation's, for int32 ids), then, only on failure, the exact first
 * bad position, "OP: ids[I] = V is outside [0, VOCAB)", EMB_ERANGE. */
static inline emb_status emb_check_ids(const char *op, const void *ids, emb_index t, size_t n,
                                       int64_t vocab, emb_ids_minmax_fn minmax32)
{
    if (n == 0)
        return EMB_OK;
    int64_t lo, hi;
    if (t == EMB_I64) {
        emb_ids64_minmax(ids, n, &lo, &hi);
    } else {
        int32_t lo32, hi32;
        minmax32(ids, n, &lo32, &hi32);
        lo = lo32;
        hi = hi32;
    }
#ifdef EMB_SLOW_KERNELS
    lo = -1; /* the gate's slowed build: always the exact pass as well */
#endif
    return lo >= 0 && hi < vocab ? EMB_OK : emb_first_bad_id(op, ids, t, n, vocab);
}

/* nn.Embedding's padding_idx: EMB_NO_PADDING, or in [-vocab, vocab),
 * negative counting from the end. Sets the row it names, SIZE_MAX for
 * none. */
emb_status emb_check_padding(const char *op, int64_t padding_idx, int64_t vocab, size_t *row);

#endif /* EMBSIMD_VALIDATE_H */
