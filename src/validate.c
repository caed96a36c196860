/* validate.c - the failing halves of the input checks (validate.h): each
 * records what is wrong, naming the op, the value and where it is. */
#include "config.h"

#include <stdint.h>

#include "validate.h"

emb_status emb_type_error(const char *op, const char *what, emb_type t)
{
    emb_set_error("%s: %s = %d is not an emb_type (0 .. %d)", op, what, (int)t,
                  EMB_TYPE_COUNT - 1);
    return EMB_EINVAL;
}

emb_status emb_index_error(const char *op, const char *what, emb_index t)
{
    emb_set_error("%s: %s = %d is not an emb_index (EMB_I32 or EMB_I64)", op, what, (int)t);
    return EMB_EINVAL;
}

emb_status emb_check_float_type(const char *op, const char *what, emb_type t, const char *why)
{
    const emb_status s = emb_check_type(op, what, t);
    if (s != EMB_OK || t == EMB_F32 || t == EMB_F16 || t == EMB_BF16)
        return s;
    emb_set_error("%s: %s = %d (%s) is not f32, f16 or bf16%s%s", op, what, (int)t,
                  emb_types[t].name, why != NULL ? ": " : "", why != NULL ? why : "");
    return EMB_EINVAL;
}

emb_status emb_count_error(const char *op, const char *what, int64_t value, int64_t min)
{
    emb_set_error("%s: %s = %lld, must be %s", op, what, (long long)value,
                  min > 0 ? "> 0" : ">= 0");
    return EMB_EINVAL;
}

emb_status emb_rows_error(const char *op, const char *name, emb_type t, int64_t rows,
                          int64_t dim)
{
    const emb_type_traits *tr = &emb_types[t];
    if (emb_row_bytes(t, dim) != 0)
        emb_set_error("%s: %s of %lld x %lld %s elements overflows size_t", op, name,
                      (long long)rows, (long long)dim, tr->name);
    else if (tr->block > 1 && (uint64_t)dim % tr->block != 0)
        emb_set_error("%s: dim = %lld is not valid for %s %s: it must be a multiple of %zu", op,
                      (long long)dim, name, tr->name, tr->block);
    else
        emb_set_error("%s: a row of %lld %s elements overflows size_t", op, (long long)dim,
                      tr->name);
    return EMB_EINVAL;
}

emb_status emb_items_error(const char *op, const char *name, int64_t count, size_t item_bytes)
{
    emb_set_error("%s: %s of %lld items of %zu bytes overflows size_t", op, name,
                  (long long)count, item_bytes);
    return EMB_EINVAL;
}

emb_status emb_null_error(const char *op, const char *name, const char *size_name, int64_t size)
{
    if (size_name != NULL)
        emb_set_error("%s: %s is NULL with %s = %lld", op, name, size_name, (long long)size);
    else
        emb_set_error("%s: %s is NULL", op, name);
    return EMB_EINVAL;
}

emb_status emb_overlap_error(const char *op, const emb_span *written, const emb_span *other)
{
    emb_set_error("%s: %s [%p, +%zu bytes), which the call writes, overlaps %s [%p, +%zu bytes)",
                  op, written->name, written->p, written->bytes, other->name, other->p,
                  other->bytes);
    return EMB_EINVAL;
}

void emb_ids64_minmax(const int64_t *ids, size_t n, int64_t *min, int64_t *max)
{
    int64_t lo = ids[0], hi = ids[0];
    for (size_t i = 1; i < n; i++) {
        lo = ids[i] < lo ? ids[i] : lo;
        hi = ids[i] > hi ? ids[i] : hi;
    }
    *min = lo;
    *max = hi;
}

/* The exact position and value of the first bad id: only after the min/max
 * pass failed, so the common case pays for that vectorised pass alone. */
emb_status emb_first_bad_id(const char *op, const void *ids, emb_index t, size_t n,
                            int64_t vocab)
{
    for (size_t i = 0; i < n; i++) {
        const int64_t id = emb_index_at(ids, t, i);
        if (id < 0 || id >= vocab) {
            emb_set_error("%s: ids[%zu] = %lld is outside [0, %lld)", op, i, (long long)id,
                          (long long)vocab);
            return EMB_ERANGE;
        }
    }
    return EMB_OK; /* reached only in a --enable-slow-kernels build */
}

emb_status emb_check_padding(const char *op, int64_t padding_idx, int64_t vocab, size_t *row)
{
    *row = SIZE_MAX;
    if (padding_idx == EMB_NO_PADDING)
        return EMB_OK;
    if (padding_idx < -vocab || padding_idx >= vocab) {
        emb_set_error("%s: padding_idx = %lld is outside [-%lld, %lld) (vocab = %lld)", op,
                      (long long)padding_idx, (long long)vocab, (long long)vocab,
                      (long long)vocab);
        return EMB_EINVAL;
    }
    *row = (size_t)(padding_idx < 0 ? padding_idx + vocab : padding_idx);
    return EMB_OK;
}
