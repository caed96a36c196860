/* scalar.c - the portable reference implementation, baseline flags only.
 * It has every kernel of types.h's list and writes each as its definition;
 * every other implementation is tested bit for bit against it. */
#include "config.h"

#include <string.h>

/* Baseline SSE2 has 16 xmm registers: a bag's sum holds 64 floats in them. */
#define EMB_BAG_VEC_FLOATS 8
#define EMB_BAG_REG_VECS 8
#include "bag_loops.h"
#include "internal.h"
#include "row_loops.h"
#include "scan_loops.h"
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
static inline __attribute__((always_inline)) void
copy_rows(size_t row_bytes, const uint8_t *table, const void *ids, int ids64, size_t n,
          uint8_t *out)
{
    for (size_t i = 0; i < n; i++)
        memcpy(out + i * row_bytes, table + id_at(ids, ids64, i) * row_bytes, row_bytes);
}

static inline __attribute__((always_inline)) void
convert_rows(emb_type in, size_t dim, const uint8_t *table, const void *ids, int ids64, size_t n,
             uint8_t *out)
{
    const size_t row_bytes = emb_row_size(in, dim);
    for (size_t i = 0; i < n; i++)
        emb_row_to_f32(in, (float *)(out + i * dim * sizeof(float)),
                       table + id_at(ids, ids64, i) * row_bytes, dim, 0, dim);
}

/* Same type in and out is a bit copy; anything else converts to f32. */
static inline __attribute__((always_inline)) void
lookup_rows(emb_type in, emb_type out, size_t dim, const uint8_t *table, const void *ids,
            int ids64, size_t n, uint8_t *dst)
{
    if (in == out)
        FOR_ID_WIDTH(ids64, copy_rows(emb_row_size(in, dim), table, ids, w_, n, dst));
    else
        FOR_ID_WIDTH(ids64, convert_rows(in, dim, table, ids, w_, n, dst));
}

/* row[j] += widen(g[j]) for every j, the plain token's contribution: a
 * loop of its own, so the compiler vectorises it as it did before the
 * options existed. */
static inline __attribute__((always_inline)) void
add_row_widened(emb_type dout_type, float *row, const uint8_t *g, size_t dim)
{
    for (size_t j = 0; j < dim; j++) {
        float x;
        if (dout_type == EMB_F32)
            memcpy(&x, g + j * sizeof x, sizeof x);
        else
            emb_row_to_f32(dout_type, &x, g, dim, j, 1);
        row[j] += x;
    }
}

/* One fp32 add per element, in token order; the build uses
 * -ffp-contract=off and no fast-math, so nothing is fused or reassociated.
 * A widened dout element is formed first, then added: the definition
 * one-hot(ids)^T x widen(dout). */
static inline __attribute__((always_inline)) void
grad_rows(emb_type dout_type, float *dtable, size_t dim, const void *ids, int ids64, size_t n,
          const uint8_t *dout, const emb_grad_opts *o, unsigned part, unsigned nparts)
{
    const size_t g_bytes = emb_row_size(dout_type, dim);
    const unsigned own_shift = emb_owner_shift(dim); /* emb_row_owner's blocks */
    const int split = nparts > 1;                    /* one part owns every row */
    for (size_t i = 0; i < n; i++) {
        const size_t id = id_at(ids, ids64, i);
        if (id == o->pad || !emb_owns_row(split, id, own_shift, part, nparts))
            continue;
        /* scale_grad_by_freq: divided by the row's count, unless it is 1
         * (row_loops.h, emb_add_token, says why). */
        const uint32_t c = o->counts != NULL ? o->counts[id] : 1;
        float *row = dtable + id * dim;
        const uint8_t *g = dout + i * g_bytes;
        if (c == 1)
            add_row_widened(dout_type, row, g, dim);
        else
            for (size_t j = 0; j < dim; j++) {
                float x;
                emb_row_to_f32(dout_type, &x, g, dim, j, 1);
                row[j] += x / (float)c;
            }
    }
}

/* The fused positional ops run the shared loops (row_loops.h) on
 * primitives written as the scalar definitions. */
#define SCALAR_CONVERT(e, name, block, bytes, extra)                                         \
    EMB_ROW_PRIMITIVE void convert_##e(uint8_t *dst, const uint8_t *src, size_t j,          \
                                       size_t count, size_t dim)                             \
    {                                                                                        \
        emb_row_to_f32(e, (float *)dst + j, src, dim, j, count);                            \
    }                                                                                        \
    EMB_ROW_PRIMITIVE void add_##e(float *acc, const uint8_t *g, size_t j, size_t count,    \
                                   size_t dim)                                               \
    {                                                                                        \
        for (size_t k = j; k < j + count; k++) {                                             \
            float x;                                                                         \
            emb_row_to_f32(e, &x, g, dim, k, 1);                                             \
            acc[k] += x;                                                                     \
        }                                                                                    \
    }
SCALAR_CONVERT(EMB_F32, , , , )
SCALAR_CONVERT(EMB_F16, , , , )
SCALAR_CONVERT(EMB_BF16, , , , )
SCALAR_CONVERT(EMB_Q8_0, , , , )
SCALAR_CONVERT(EMB_Q4_0, , , , )
SCALAR_CONVERT(EMB_Q8_ROWWISE, , , , )
SCALAR_CONVERT(EMB_Q4_K, , , , )
SCALAR_CONVERT(EMB_Q6_K, , , , )
#define add_f32 add_EMB_F32
#define add_f16 add_EMB_F16
#define add_bf16 add_EMB_BF16
#define copy_f32 convert_EMB_F32

static inline void no_fence(void) {}

/* The bag ops' one extra primitive: fmaf, one rounding. */
EMB_ROW_PRIMITIVE void fma_floats(float *acc, const float *x, float w, size_t count)
{
    for (size_t k = 0; k < count; k++)
        acc[k] = fmaf(w, x[k], acc[k]);
}
/* The fused positional lookup of two f32 rows: one add each. */
EMB_ROW_PRIMITIVE void add_rows(float *dst, const float *a, const float *b, size_t count)
{
    for (size_t k = 0; k < count; k++)
        dst[k] = a[k] + b[k];
}

/* The fused positional gradient's two adds of one element. */
EMB_ROW_PRIMITIVE void add_both(float *a, float *b, const float *g, size_t count)
{
    for (size_t k = 0; k < count; k++) {
        a[k] += g[k];
        b[k] += g[k];
    }
}
/* Tables whose rows the bag adds without staging them in a buffer. */
#define SCALAR_ADD_IN_EMB_F32 add_EMB_F32
#define SCALAR_ADD_IN_EMB_F16 add_EMB_F16
#define SCALAR_ADD_IN_EMB_BF16 add_EMB_BF16
#define SCALAR_ADD_IN_EMB_Q8_0 NULL
#define SCALAR_ADD_IN_EMB_Q4_0 NULL
#define SCALAR_ADD_IN_EMB_Q8_ROWWISE NULL
#define SCALAR_ADD_IN_EMB_Q4_K NULL
#define SCALAR_ADD_IN_EMB_Q6_K NULL

/* Every kernel of the list, generated from it: scalar is the definition,
 * so a new kernel needs nothing here. Portable C has neither streaming
 * stores nor prefetch: flags are unused. */
#define SCALAR_KERNEL_LOOKUP(id, in, out)                                                  \
    static void scalar_##id(const uint8_t *table, size_t dim, const void *ids, int ids64,  \
                            size_t n, uint8_t *dst, unsigned flags)                        \
    {                                                                                      \
        (void)flags;                                                                       \
        lookup_rows(in, out, dim, table, ids, ids64, n, dst);                              \
    }
#define SCALAR_KERNEL_GRAD(id, in, out)                                                    \
    static void scalar_##id(float *dtable, size_t dim, const void *ids, int ids64, size_t n, \
                            const uint8_t *dout, const emb_grad_opts *opts, unsigned part, \
                            unsigned nparts, unsigned flags)                               \
    {                                                                                      \
        (void)flags;                                                                       \
        FOR_ID_WIDTH(ids64, grad_rows(in, dtable, dim, ids, w_, n, dout, opts, part, nparts)); \
    }
#define SCALAR_KERNEL_LOOKUP_POS(id, in, out)                                              \
    EMB_DEFINE_LOOKUP_POS(, scalar_##id, in, convert_##in, add_f32, add_f16, add_bf16,     \
                          copy_f32, copy_f32, add_rows, add_rows, no_fence, 1)
#define SCALAR_KERNEL_GRAD_POS(id, in, out) \
    EMB_DEFINE_GRAD_POS(, scalar_##id, in, add_##in, convert_##in, add_both)
#define SCALAR_KERNEL_BAG(id, in, out) \
    EMB_DEFINE_BAG(, scalar_##id, in, convert_##in, SCALAR_ADD_IN_##in, add_f32, fma_floats, \
                   copy_f32, no_fence, 1)
#define SCALAR_KERNEL_BAG_GRAD(id, in, out) \
    EMB_DEFINE_BAG_GRAD(, scalar_##id, in, add_##in, convert_##in, fma_floats)
#define SCALAR_KERNEL_BAG_SGD(id, in, out) \
    EMB_DEFINE_BAG_STEP(, scalar_##id, 0, in, convert_##in, fma_floats)
#define SCALAR_KERNEL_BAG_ADAGRAD(id, in, out) \
    EMB_DEFINE_BAG_STEP(, scalar_##id, 1, in, convert_##in, fma_floats)
#define SCALAR_KERNEL_EMB_OP_BAG SCALAR_KERNEL_BAG
#define SCALAR_KERNEL_EMB_OP_BAG_GRAD SCALAR_KERNEL_BAG_GRAD
#define SCALAR_KERNEL_EMB_OP_BAG_SGD SCALAR_KERNEL_BAG_SGD
#define SCALAR_KERNEL_EMB_OP_BAG_ADAGRAD SCALAR_KERNEL_BAG_ADAGRAD
#define SCALAR_KERNEL_EMB_OP_LOOKUP SCALAR_KERNEL_LOOKUP
#define SCALAR_KERNEL_EMB_OP_GRAD SCALAR_KERNEL_GRAD
#define SCALAR_KERNEL_EMB_OP_LOOKUP_POS SCALAR_KERNEL_LOOKUP_POS
#define SCALAR_KERNEL_EMB_OP_GRAD_POS SCALAR_KERNEL_GRAD_POS
#define SCALAR_KERNEL_EMB_OP_SCAN(id, in, out) EMB_DEFINE_SCAN(, scalar_##id, in, convert_##in)
#define SCALAR_KERNEL(id, op, in, out) SCALAR_KERNEL_##op(id, in, out)
EMB_KERNEL_LIST(SCALAR_KERNEL)

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

#define SCALAR_ENTRY(id, op, in, out) EMB_ENTRY(id, EMB_FIELD_##op, 0, scalar_##id),
static const emb_kernel_entry entries[] = {EMB_KERNEL_LIST(SCALAR_ENTRY)};

const emb_kernels emb_kernels_scalar = {entries, sizeof entries / sizeof entries[0],
                                        ids_minmax_scalar};
