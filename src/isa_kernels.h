/* isa_kernels.h - one ISA's kernels and entry table, generated from the
 * kernel list (EMB_KERNEL_LIST, types.h) and the ISA's map of row
 * primitives. An ISA file writes its primitives, names them in the map
 * below, and includes this header once, last: every kernel of the list
 * then exists for it, built by the shared loops (row_loops.h, bag_loops.h,
 * scan_loops.h), which take every primitive as an argument.
 *
 * The map, defined by the ISA file before the include:
 *   EMB_ISA_NAME             the emb_kernels it defines (emb_kernels_avx2)
 *   EMB_ISA_IDS_MINMAX       its smallest-and-largest-id function
 *   EMB_ISA_FENCE            a function ordering its streaming stores
 *   EMB_ISA_STREAM_ALIGN     the bytes its streaming stores need
 *   EMB_ISA_FMA              fma(acc, x, w, count): acc[k] = fmaf(w, x[k], acc[k])
 *   EMB_ISA_ADD_BOTH         add_both(a, b, g, count): a[k] += g[k], b[k] += g[k]
 *   EMB_ISA_ADD_ROWS, EMB_ISA_ADD_ROWS_STREAM
 *                            add_rows(dst, a, b, count): dst[k] = a[k] + b[k],
 *                            ordinary and streaming stores
 *   EMB_ISA_COPY16, EMB_ISA_COPY16_STREAM
 *                            the bit copy of 16-bit elements (emb_row_fn)
 *   per type T of EMB_TYPE_LIST, one line: EMB_ISA_T (EMB_ISA_EMB_F16, ...)
 *   defined as (convert, convert_stream, add, attrs, needs):
 *     convert, convert_stream  a piece of a row of T into fp32 (emb_row_fn),
 *                            ordinary and streaming stores; for f32 the copy
 *     add                    acc += widen(piece) (emb_row_add_fn); NULL for a
 *                            type without a gradient (the quantized ones)
 *     attrs                  the attributes of every kernel reading T (e.g. a
 *                            target("f16c")), possibly empty
 *     needs                  the CPU features (EMB_CPU_*) those kernels need
 *                            beyond the ISA's own, or 0
 *   EMB_ISA_POS_ATTRS, EMB_ISA_POS_NEEDS
 *                            the same for the fused positional lookups, which
 *                            may widen an f16 position row whatever the
 *                            token table's type: they cover every type's
 *   EMB_ISA_OWN(X)           kernels written by hand, X(id, field, needs, fn)
 *                            each; listed before the generated ones, so the
 *                            dispatcher takes them where the CPU has `needs`,
 *                            the generated kernel elsewhere. Empty for none.
 *
 * And optionally (bag_loops.h has the defaults):
 *   EMB_BAG_VEC_FLOATS, EMB_BAG_REG_VECS
 *                            the bag sum's vector (floats) and how many of
 *                            them it holds in registers (default 8 and 16)
 *   EMB_BAG_STREAM_VEC(p, v) a streaming store of one such vector at p
 *                            (aligned to its size); without it, one-group
 *                            bags stream through an L1 buffer
 *
 * A new kernel of the list needs nothing here, nor in any ISA file; a new
 * type needs its line in each ISA's map, and its primitives. */
#ifndef EMBSIMD_ISA_KERNELS_H
#define EMBSIMD_ISA_KERNELS_H

#include "bag_loops.h"
#include "internal.h"
#include "row_loops.h"
#include "scan_loops.h"

/* The fields of a type's line of the map. */
#define EMB_ISA_APPLY(get, fields) get fields
#define EMB_ISA_GET_CONVERT(convert, stream, add, attrs, needs) convert
#define EMB_ISA_GET_STREAM(convert, stream, add, attrs, needs) stream
#define EMB_ISA_GET_ADD(convert, stream, add, attrs, needs) add
#define EMB_ISA_GET_ATTRS(convert, stream, add, attrs, needs) attrs
#define EMB_ISA_GET_NEEDS(convert, stream, add, attrs, needs) needs
#define EMB_ISA_CONVERT(t) EMB_ISA_APPLY(EMB_ISA_GET_CONVERT, EMB_ISA_##t)
#define EMB_ISA_STREAM(t) EMB_ISA_APPLY(EMB_ISA_GET_STREAM, EMB_ISA_##t)
#define EMB_ISA_ADD(t) EMB_ISA_APPLY(EMB_ISA_GET_ADD, EMB_ISA_##t)
#define EMB_ISA_ATTRS(t) EMB_ISA_APPLY(EMB_ISA_GET_ATTRS, EMB_ISA_##t)
#define EMB_ISA_NEEDS(t) EMB_ISA_APPLY(EMB_ISA_GET_NEEDS, EMB_ISA_##t)

/* A lookup into f32 converts (f32 -> f32 is the row copy); a lookup into
 * its own 16-bit type is a bit copy, which needs nothing of the CPU. */
#define EMB_ISA_LOOKUP_CONV_EMB_F32(in) EMB_ISA_CONVERT(in)
#define EMB_ISA_LOOKUP_STREAM_EMB_F32(in) EMB_ISA_STREAM(in)
#define EMB_ISA_LOOKUP_ATTRS_EMB_F32(in) EMB_ISA_ATTRS(in)
#define EMB_ISA_LOOKUP_NEEDS_EMB_F32(in) EMB_ISA_NEEDS(in)
#define EMB_ISA_LOOKUP_CONV_EMB_F16(in) EMB_ISA_COPY16
#define EMB_ISA_LOOKUP_STREAM_EMB_F16(in) EMB_ISA_COPY16_STREAM
#define EMB_ISA_LOOKUP_ATTRS_EMB_F16(in)
#define EMB_ISA_LOOKUP_NEEDS_EMB_F16(in) 0
#define EMB_ISA_LOOKUP_CONV_EMB_BF16(in) EMB_ISA_COPY16
#define EMB_ISA_LOOKUP_STREAM_EMB_BF16(in) EMB_ISA_COPY16_STREAM
#define EMB_ISA_LOOKUP_ATTRS_EMB_BF16(in)
#define EMB_ISA_LOOKUP_NEEDS_EMB_BF16(in) 0

/* ---- the kernels, one template per op ---------------------------------- */
#define EMB_ISA_KERNEL_EMB_OP_LOOKUP(id, in, out)                                             \
    EMB_DEFINE_LOOKUP(EMB_ISA_LOOKUP_ATTRS_##out(in), isa_##id, in, out,                      \
                      EMB_ISA_LOOKUP_CONV_##out(in), EMB_ISA_LOOKUP_STREAM_##out(in),         \
                      EMB_ISA_FENCE)
#define EMB_ISA_KERNEL_EMB_OP_GRAD(id, in, out)                                               \
    EMB_DEFINE_GRAD(EMB_ISA_ATTRS(in), isa_##id, in, EMB_ISA_ADD(in), EMB_ISA_CONVERT(in))
#define EMB_ISA_KERNEL_EMB_OP_LOOKUP_POS(id, in, out)                                         \
    EMB_DEFINE_LOOKUP_POS(EMB_ISA_POS_ATTRS, isa_##id, in, EMB_ISA_CONVERT(in),              \
                          EMB_ISA_ADD(EMB_F32), EMB_ISA_ADD(EMB_F16), EMB_ISA_ADD(EMB_BF16),      \
                          EMB_ISA_CONVERT(EMB_F32), EMB_ISA_STREAM(EMB_F32),            \
                          EMB_ISA_ADD_ROWS, EMB_ISA_ADD_ROWS_STREAM, EMB_ISA_FENCE,       \
                          EMB_ISA_STREAM_ALIGN)
#define EMB_ISA_KERNEL_EMB_OP_GRAD_POS(id, in, out)                                           \
    EMB_DEFINE_GRAD_POS(EMB_ISA_ATTRS(in), isa_##id, in, EMB_ISA_ADD(in),                   \
                        EMB_ISA_CONVERT(in), EMB_ISA_ADD_BOTH)
#define EMB_ISA_KERNEL_EMB_OP_SCAN(id, in, out)                                               \
    EMB_DEFINE_SCAN(EMB_ISA_ATTRS(in), isa_##id, in, EMB_ISA_CONVERT(in))
#define EMB_ISA_KERNEL_EMB_OP_BAG(id, in, out)                                                \
    EMB_DEFINE_BAG(EMB_ISA_ATTRS(in), isa_##id, in, EMB_ISA_CONVERT(in), EMB_ISA_ADD(in),  \
                   EMB_ISA_ADD(EMB_F32), EMB_ISA_FMA, EMB_ISA_STREAM(EMB_F32), EMB_ISA_FENCE,  \
                   EMB_ISA_STREAM_ALIGN)
#define EMB_ISA_KERNEL_EMB_OP_BAG_GRAD(id, in, out)                                           \
    EMB_DEFINE_BAG_GRAD(EMB_ISA_ATTRS(in), isa_##id, in, EMB_ISA_ADD(in),                   \
                        EMB_ISA_CONVERT(in), EMB_ISA_FMA)
#define EMB_ISA_KERNEL_EMB_OP_BAG_SGD(id, in, out)                                            \
    EMB_DEFINE_BAG_STEP(EMB_ISA_ATTRS(in), isa_##id, 0, in, EMB_ISA_CONVERT(in), EMB_ISA_FMA)
#define EMB_ISA_KERNEL_EMB_OP_BAG_ADAGRAD(id, in, out)                                        \
    EMB_DEFINE_BAG_STEP(EMB_ISA_ATTRS(in), isa_##id, 1, in, EMB_ISA_CONVERT(in), EMB_ISA_FMA)
#define EMB_ISA_KERNEL(id, op, in, out) EMB_ISA_KERNEL_##op(id, in, out)
EMB_KERNEL_LIST(EMB_ISA_KERNEL)

/* ---- the entry table ---------------------------------------------------- */
#define EMB_ISA_NEEDS_OF_EMB_OP_LOOKUP(in, out) EMB_ISA_LOOKUP_NEEDS_##out(in)
#define EMB_ISA_NEEDS_OF_EMB_OP_LOOKUP_POS(in, out) (EMB_ISA_POS_NEEDS | EMB_ISA_NEEDS(in))
#define EMB_ISA_NEEDS_OF_EMB_OP_GRAD(in, out) EMB_ISA_NEEDS(in)
#define EMB_ISA_NEEDS_OF_EMB_OP_GRAD_POS(in, out) EMB_ISA_NEEDS(in)
#define EMB_ISA_NEEDS_OF_EMB_OP_SCAN(in, out) EMB_ISA_NEEDS(in)
#define EMB_ISA_NEEDS_OF_EMB_OP_BAG(in, out) EMB_ISA_NEEDS(in)
#define EMB_ISA_NEEDS_OF_EMB_OP_BAG_GRAD(in, out) EMB_ISA_NEEDS(in)
#define EMB_ISA_NEEDS_OF_EMB_OP_BAG_SGD(in, out) EMB_ISA_NEEDS(in)
#define EMB_ISA_NEEDS_OF_EMB_OP_BAG_ADAGRAD(in, out) EMB_ISA_NEEDS(in)
#define EMB_ISA_ENTRY(id, op, in, out)                                                        \
    EMB_ENTRY(id, EMB_FIELD_##op, EMB_ISA_NEEDS_OF_##op(in, out), isa_##id),
#define EMB_ISA_OWN_ENTRY(id, field, needs, fn) EMB_ENTRY(id, field, needs, fn),

static const emb_kernel_entry emb_isa_entries[] = {
    EMB_ISA_OWN(EMB_ISA_OWN_ENTRY)
    EMB_KERNEL_LIST(EMB_ISA_ENTRY)
};

const emb_kernels EMB_ISA_NAME = {emb_isa_entries, sizeof emb_isa_entries / sizeof emb_isa_entries[0],
                                  EMB_ISA_IDS_MINMAX};

#endif /* EMBSIMD_ISA_KERNELS_H */
