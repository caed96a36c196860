/* embsimd.h - the public API of embsimd: token-embedding lookup and its
 * gradient, bit-exact, with one implementation per instruction set. */
#ifndef EMBSIMD_H
#define EMBSIMD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Result of every call that can fail. emb_last_error() has the detail. */
typedef enum emb_status {
    EMB_OK = 0,   /**< success */
    EMB_EINVAL,   /**< a NULL pointer, a non-positive size, overlapping buffers or a size that overflows */
    EMB_ERANGE,   /**< an id outside [0, vocab) */
    EMB_ENOMEM,   /**< an allocation failed (never on the kernel path) */
    EMB_ENOTSUP   /**< the implementation asked for is unknown or not supported here */
} emb_status;

/** Element types of tables, outputs and gradients, each converting to fp32
 *  as its comment defines (emb_lookup): exactly for f16, bf16, q8_0, q4_0
 *  and q6_K; with one rounding for q4_K (its final subtraction) and
 *  q8_rowwise (a fused multiply-add). */
typedef enum emb_type {
    EMB_F32 = 0,       /**< IEEE binary32 */
    EMB_F16 = 1,       /**< IEEE binary16 */
    EMB_BF16 = 2,      /**< bfloat16: the high 16 bits of a binary32 */
    EMB_Q8_0 = 3,      /**< GGML q8_0: blocks of 32 = { fp16 d; int8 q[32] } (34 bytes); x = q*d */
    EMB_Q4_0 = 4,      /**< GGML q4_0: blocks of 32 = { fp16 d; uint8 qs[16] } (18 bytes);
                            x[j] = ((qs[j] & 15) - 8)*d, x[j+16] = ((qs[j] >> 4) - 8)*d */
    EMB_Q8_ROWWISE = 5, /**< FBGEMM fused 8-bit row-wise: uint8 q[dim], then fp32 scale, fp32
                            bias (dim + 8 bytes); x = fmaf(scale, (float)q, bias) */
    EMB_Q4_K = 6,      /**< GGML q4_K: super-blocks of 256 = { fp16 d; fp16 dmin;
                            uint8 scales[12]; uint8 qs[128] } (144 bytes). Sub-block k
                            (elements 32k .. 32k+31) has a 6-bit scale sc[k] and min m[k]:
                            k < 4: sc = scales[k] & 63, m = scales[k+4] & 63; k >= 4:
                            sc = (scales[k+4] & 15) | (scales[k-4] >> 6) << 4,
                            m = (scales[k+4] >> 4) | (scales[k] >> 6) << 4. Element
                            32k + l has q = qs[32(k/2) + l] & 15 for even k, >> 4 for odd;
                            x = (d*sc)*q - dmin*m: the products are exact, the subtraction
                            rounds once */
    EMB_Q6_K = 7       /**< GGML q6_K: super-blocks of 256 = { uint8 ql[128]; uint8 qh[64];
                            int8 scales[16]; fp16 d } (210 bytes, d last). Element
                            128n + 32r + l (n < 2, r < 4, l < 32) has q = ((ql[64n + l +
                            32(r&1)] >> 4(r>>1)) & 15 | ((qh[32n + l] >> 2r) & 3) << 4) - 32
                            and s = scales[8n + l/16 + 2r]; x = (d*s)*q, exact */
} emb_type;

/** Number of emb_type values: types are 0 .. EMB_TYPE_COUNT - 1. */
#define EMB_TYPE_COUNT 8

/** Integer types of token ids. */
typedef enum emb_index {
    EMB_I32 = 0, /**< int32_t */
    EMB_I64 = 1  /**< int64_t (PyTorch's LongTensor) */
} emb_index;

/** The operations a kernel performs. */
typedef enum emb_op {
    EMB_OP_LOOKUP = 0,     /**< emb_lookup: out[i] = convert(table[ids[i]]) */
    EMB_OP_GRAD = 1,       /**< emb_grad: dtable[ids[i]] += widen(dout[i]), token order */
    EMB_OP_LOOKUP_POS = 2, /**< emb_lookup_pos: out[i] = convert(table[ids[i]]) + widen(P[pos(i)]) */
    EMB_OP_GRAD_POS = 3,   /**< emb_grad_pos: the two scatter-adds of emb_lookup_pos's gradient */
    EMB_OP_SCAN = 4,       /**< emb_scan: one query row against every table row */
    EMB_OP_BAG = 5,        /**< emb_bag: out[b] = sum, mean or max of convert(table[ids[t]]), t in bag b */
    EMB_OP_BAG_GRAD = 6,   /**< emb_bag_grad: emb_bag's gradient into an fp32 dtable */
    EMB_OP_BAG_SGD = 7,    /**< emb_bag_update with EMB_OPT_SGD: the fused sparse SGD step */
    EMB_OP_BAG_ADAGRAD = 8 /**< emb_bag_update with EMB_OPT_ROWWISE_ADAGRAD */
} emb_op;

/** Number of emb_op values: ops are 0 .. EMB_OP_COUNT - 1. */
#define EMB_OP_COUNT 9

/** "lookup", "grad", "lookup_pos", "grad_pos", "scan", "bag", "bag_grad",
 *  "bag_sgd", "bag_adagrad"; NULL for an unknown op. */
const char *emb_op_name(emb_op op);

/** "f32", "f16", "bf16", "q8_0", "q4_0", "q8_rowwise", "q4_K", "q6_K"; NULL for an
 *  unknown type. */
const char *emb_type_name(emb_type t);

/** "i32", "i64"; NULL for an unknown id type. */
const char *emb_index_name(emb_index t);

/** Bytes of one row of dim elements of type t; 0 when dim is not valid for
 *  t (dim <= 0, q8_0/q4_0 with dim % 32 != 0, q4_K/q6_K with dim % 256 != 0)
 *  or t is unknown, or the size overflows. */
size_t emb_row_bytes(emb_type t, int64_t dim);

/**
 * Typed embedding lookup: row i of @p out is row ids[i] of @p table,
 * converted to @p out_type.
 *
 * Pairs: any table type to EMB_F32 (bf16/f16 widened, q8_0/q4_0/q4_K/q6_K/
 * q8_rowwise dequantized, each element as emb_type defines it: exact but for
 * q4_K's rounded subtraction and q8_rowwise's one fused rounding); EMB_F32,
 * EMB_F16 and EMB_BF16 to themselves as bit copies. Other pairs return
 * EMB_EINVAL naming both.
 *
 * f16 widening keeps NaN payloads and quiets a signalling NaN (sets the
 * quiet bit, as the F16C and AArch64 conversions do); bf16 widening is a
 * bit shift and changes no NaN. A q8_0/q4_0/q6_K scale d (or q4_K's d or
 * dmin) that is Inf or NaN gives IEEE's results of the formula in its
 * order (0 x Inf, Inf - Inf: the CPU's default NaN; a NaN d and a NaN dmin:
 * d's, the first operand of q4_K's subtraction).
 *
 * Every id is validated before any output byte is written.
 *
 * @param table      vocab rows of emb_row_bytes(table_type, dim) bytes
 * @param ids        n ids of type id_type, each in [0, vocab)
 * @param out        n rows of emb_row_bytes(out_type, dim) bytes; must not overlap table or ids
 * @return EMB_OK, EMB_EINVAL, EMB_ERANGE or EMB_ENOTSUP
 */
emb_status emb_lookup(const void *table, emb_type table_type, int64_t vocab, int64_t dim,
                      const void *ids, emb_index id_type, int64_t n,
                      void *out, emb_type out_type);

/**
 * Typed embedding gradient: dtable[ids[i]*dim + j] += widen(dout[i*dim + j]),
 * per row in token order, one fp32 add each, into an fp32 @p dtable.
 * @p dout_type is EMB_F32, EMB_F16 or EMB_BF16 (widened exactly first);
 * quantized tables have no gradient. Bit-identical to
 * one-hot(ids)^T x widen(dout) for every implementation and thread count.
 */
emb_status emb_grad(float *dtable, int64_t vocab, int64_t dim,
                    const void *ids, emb_index id_type, int64_t n,
                    const void *dout, emb_type dout_type);

/** No padding row: emb_grad_options.padding_idx's default. */
#define EMB_NO_PADDING INT64_MIN

/** nn.Embedding's gradient options (PyTorch's names). A zeroed struct is
 *  not the default: padding_idx 0 is a row; use EMB_GRAD_OPTIONS_DEFAULT. */
typedef struct emb_grad_options {
    /** A row the gradient never writes (its forward is unchanged), in
     *  [-vocab, vocab); a negative value counts from the end, as in PyTorch
     *  (-1: the last row). EMB_NO_PADDING for none. */
    int64_t padding_idx;
    /** Nonzero: token i adds widen(dout[i]) / c, c being the number of
     *  tokens of the call naming its row, one correctly rounded fp32
     *  division of the widened element by (float)c; a row named once adds
     *  the element itself. Needs 4 * vocab bytes of scratch, allocated per
     *  call (EMB_ENOMEM, nothing written, when it cannot be had) and at
     *  most 2^32 - 1 tokens. */
    int scale_grad_by_freq;
} emb_grad_options;

#define EMB_GRAD_OPTIONS_DEFAULT {EMB_NO_PADDING, 0}

/**
 * emb_grad with nn.Embedding's options; @p opt NULL is the default (plain
 * emb_grad). Tokens naming the padding row are skipped; every other row
 * sees its additions in token order, bit-identical for every
 * implementation and thread count.
 */
emb_status emb_grad_ex(float *dtable, int64_t vocab, int64_t dim,
                       const void *ids, emb_index id_type, int64_t n,
                       const void *dout, emb_type dout_type, const emb_grad_options *opt);

/** Where token i's position comes from, for the fused positional ops. */
typedef struct emb_positions {
    /** n explicit positions of the call's id type, or NULL: computed as
     *  offset + i % seq_len (a batch of sequences of seq_len tokens, or a
     *  decode step at offset with a KV cache). */
    const void *ids;
    int64_t offset;  /**< computed positions: >= 0 */
    int64_t seq_len; /**< computed positions: > 0 */
} emb_positions;

/**
 * Token + positional embedding (GPT-2's wte(ids) + wpe(pos)) in one pass:
 * out[i][j] = convert(table[ids[i]])[j] + widen(pos_table[pos(i)])[j], one
 * fp32 add per element (no FMA), the conversion exactly as emb_lookup's
 * into f32. @p pos_type is EMB_F32, EMB_F16 or EMB_BF16. Positions outside
 * [0, max_pos) fail with EMB_ERANGE naming the token and its position;
 * nothing is written on any failure.
 */
emb_status emb_lookup_pos(const void *table, emb_type table_type, int64_t vocab, int64_t dim,
                          const void *ids, emb_index id_type, int64_t n,
                          const void *pos_table, emb_type pos_type, int64_t max_pos,
                          const emb_positions *pos, float *out);

/**
 * The gradient of emb_lookup_pos: dtable[ids[i]] += widen(dout[i]) and
 * dpos_table[pos(i)] += widen(dout[i]), each table in token order, in one
 * pass over dout; @p opt (NULL: default) applies to the token table.
 * Bit-identical for every implementation and thread count (threads split
 * the rows of both tables).
 */
emb_status emb_grad_pos(float *dtable, int64_t vocab, float *dpos_table, int64_t max_pos,
                        int64_t dim, const void *ids, emb_index id_type, int64_t n,
                        const emb_positions *pos, const void *dout, emb_type dout_type,
                        const emb_grad_options *opt);

/**
 * nn.Embedding's max_norm: before a lookup, every distinct row that ids
 * name and whose norm_type-norm exceeds max_norm is scaled in place, once,
 * by s = (float)(max_norm / ((double)norm + 1e-7)): x[j] = x[j] * s, one
 * rounding each (PyTorch's embedding_renorm_), then for an f16 or bf16
 * table rounded to its type (to nearest even; a NaN quieted, keeping its
 * sign and the top of its payload). The norm is fp32, of the widened
 * elements, in one fixed order (src/reduce.h: 32 running sums folded in
 * halves) on every ISA and thread count: p = 2 is sqrtf of the sum of
 * squares, p = 1 the sum of |x|, p = INFINITY the largest |x| (NaN if any
 * is NaN), other p > 0 powf(sum of powf(|x|, p), 1 / p). @p table_type is
 * EMB_F32, EMB_F16 or EMB_BF16 (a quantized row would be quantized again).
 * Scratch per call: vocab / 8 bytes, and a row of dim floats for the
 * 16-bit types.
 */
emb_status emb_renorm(void *table, emb_type table_type, int64_t vocab, int64_t dim,
                      const void *ids, emb_index id_type, int64_t n, double max_norm,
                      double norm_type);

/** What emb_scan computes per table row x (widened to f32 as emb_lookup does). */
typedef enum emb_metric {
    EMB_METRIC_DOT = 0,  /**< sum of x[j] * q[j] */
    EMB_METRIC_L2SQ = 1, /**< sum of (x[j] - q[j])^2, the difference rounded first */
    EMB_METRIC_NORM2 = 2 /**< sum of x[j] * x[j]; the query is not read (may be NULL) */
} emb_metric;

/**
 * The similarity scan: scores[r] = metric(row r of @p table, @p query) for
 * every r < vocab, each row widened or dequantized to f32 exactly as
 * emb_lookup into f32 does, each term rounded to fp32 on its own (never
 * fused), then summed in the one canonical order of src/reduce.h: 32
 * running sums from +0, term j into sum j % 32, folded in halves (16, 8,
 * 4, 2, 1). The same bits for every implementation and thread count
 * (threads split the rows; no row's value depends on the split). Cosine
 * similarity: DOT / (sqrtf(NORM2 of the row) * sqrtf(NORM2 of the query)).
 * @p query may be a row of the table; @p scores must overlap neither.
 * Validated like emb_lookup; nothing is written on failure. Needs dim
 * floats of scratch per thread for tables other than f32 (EMB_ENOMEM).
 */
emb_status emb_scan(const void *table, emb_type table_type, int64_t vocab, int64_t dim,
                    const float *query, emb_metric metric, float *scores);

/** One kernel of the library: what emb_lookup / emb_grad can do. The list
 *  is the same on every machine; which implementation runs each kernel is
 *  emb_kernel_impl's answer. */
typedef struct emb_kernel {
    emb_op op;
    emb_type in;      /**< lookup: the table's type; grad: dout's */
    emb_type out;     /**< lookup: out's type; grad: EMB_F32 (dtable) */
    const char *name; /**< e.g. "lookup/bf16->f32", "grad/f16->f32" */
} emb_kernel;

/** Number of kernels; they are 0 .. emb_kernel_count() - 1. */
int emb_kernel_count(void);

/** Kernel k, or NULL when k is out of range. */
const emb_kernel *emb_kernel_at(int k);

/**
 * Which implementation's code runs kernel k when implementation @p impl is
 * selected: its own name, or the name of the next implementation in the
 * table that has the kernel for this CPU (e.g. "scalar" for f16 widening
 * under avx2 on a CPU without F16C). NULL when k or impl is out of range or
 * impl is not available here. This is the answer for short rows (dim up to
 * 1024); emb_kernel_impl_for_dim answers for any row.
 */
const char *emb_kernel_impl(int k, int impl);

/** Rows of up to this many elements are short, longer ones long: the two
 *  classes a tuning file may give different code (emb_kernel_impl_for_dim). */
#define EMB_SHORT_ROW_MAX_DIM 1024

/**
 * The same for rows of @p dim elements: a tuning file (embsimd-tune) or
 * EMBSIMD_KERNEL_IMPL may give a kernel's long rows (dim >
 * EMB_SHORT_ROW_MAX_DIM) other code than its short ones (docs/tuning.md).
 * NULL as emb_kernel_impl, or when dim < 1.
 */
const char *emb_kernel_impl_for_dim(int k, int impl, int64_t dim);

/**
 * Embedding lookup: out[i*dim + j] = table[ids[i]*dim + j] for i < n, j < dim.
 *
 * A bit-exact copy: NaN payloads (signalling ones too), -0 and subnormals
 * arrive unchanged, under any FTZ/DAZ setting.
 *
 * Every id is validated before any byte of @p out is written; on failure
 * @p out is left exactly as it was.
 *
 * @param table  vocab x dim row-major fp32 matrix
 * @param vocab  number of rows, > 0
 * @param dim    number of columns, > 0
 * @param ids    n token ids, each in [0, vocab)
 * @param n      number of tokens, >= 0; 0 touches nothing and allows NULL pointers
 * @param out    n x dim output; must not overlap @p table
 * @return EMB_OK, EMB_EINVAL, EMB_ERANGE or EMB_ENOTSUP
 */
emb_status emb_lookup_f32(const float *table, int64_t vocab, int64_t dim,
                          const int32_t *ids, int64_t n, float *out);

/**
 * Embedding gradient: dtable[ids[i]*dim + j] += dout[i*dim + j].
 *
 * This is one-hot(ids)^T x dout accumulated into dtable. For each row the
 * additions happen in increasing i (token order), one fp32 add each, no FMA
 * contraction and no reassociation: that order is what makes the result
 * bit-identical to the dense product, for every implementation and every
 * thread count. Rows that no id names are not touched.
 *
 * Validation happens before any write; on failure @p dtable is unchanged.
 *
 * @param dtable vocab x dim gradient accumulator, updated in place
 * @param vocab  number of rows, > 0
 * @param dim    number of columns, > 0
 * @param ids    n token ids, each in [0, vocab)
 * @param n      number of tokens, >= 0
 * @param dout   n x dim upstream gradient; must not overlap @p dtable
 */
emb_status emb_grad_f32(float *dtable, int64_t vocab, int64_t dim,
                        const int32_t *ids, int64_t n, const float *dout);

/* ---- EmbeddingBag and fused sparse optimizer steps ------------------------ */

/** How a bag's rows are pooled (PyTorch's nn.EmbeddingBag mode). */
typedef enum emb_bag_mode {
    EMB_BAG_SUM = 0,  /**< acc = +0, then acc += x per token in token order (fmaf(w, x, acc) with weights) */
    EMB_BAG_MEAN = 1, /**< the sum, then one division by the number of non-padding tokens */
    EMB_BAG_MAX = 2   /**< the first token's row, then x replaces it where x > it (first occurrence wins ties) */
} emb_bag_mode;

/**
 * Which tokens form which bag, and the options of the pooling. Bags are
 * given either by @p offsets (PyTorch's) or by @p lengths (FBGEMM's and
 * Caffe2's), exactly one of them, each of type @p offset_type:
 * - offsets: nbags entries (nbags + 1 with include_last_offset); offsets[0]
 *   is 0, they never decrease and never exceed n; bag b is tokens
 *   [offsets[b], offsets[b + 1]), the last bag ends at n. With
 *   include_last_offset the extra entry must equal n.
 * - lengths: nbags entries >= 0 that sum to n; bag b follows bag b - 1.
 * A bag may be empty: its output row is +0 (and its argmax -1).
 */
typedef struct emb_bags {
    int64_t nbags;             /**< number of bags (output rows), >= 0 */
    const void *offsets;       /**< bag starts, or NULL when lengths is given */
    const void *lengths;       /**< bag sizes, or NULL when offsets is given */
    emb_index offset_type;     /**< EMB_I32 or EMB_I64, for offsets or lengths */
    int include_last_offset;   /**< offsets has nbags + 1 entries, the last = n */
    const float *weights;      /**< per_sample_weights: n fp32, EMB_BAG_SUM only; NULL: none */
    int64_t padding_idx;       /**< a row that bags skip (not counted in mean): in
                                    [0, vocab), or in [-vocab, -1] counting from the end
                                    (PyTorch's); EMB_NO_PADDING for none */
} emb_bags;

/**
 * EmbeddingBag forward: out[b] pools the rows of bag b's tokens, each
 * converted to fp32 as emb_lookup does, for any table type.
 *
 * Sum: acc starts at +0 and each non-padding token adds its row, one fp32
 * add per element in token order (so bag_sum == B x W bit for bit with the
 * product summed in that order: docs/bags.md "EmbeddingBag"); with weights,
 * acc = fmaf(w[t], x, acc) in token order, as FBGEMM's reference does.
 * Mean: the sum, then out = sum / (float)count, one rounded division
 * (PyTorch's CPU division; FBGEMM's normalize_by_lengths multiplies by
 * 1/count instead). Max: the first non-padding token's row, replaced
 * element by element where a later row is strictly greater (a NaN never
 * replaces; ties keep the first occurrence, as PyTorch does); @p argmax,
 * when not NULL, receives per element the id of the row that gave it
 * (nbags x dim int64, -1 for an empty bag). Empty bags give +0 rows.
 *
 * Threads split the bags; the output is bit-identical for any thread count
 * and implementation. Everything (ids, offsets or lengths, weights, mode,
 * padding_idx) is validated before anything is written.
 *
 * @param out   nbags x dim fp32; must not overlap any input
 * @param argmax NULL, or nbags x dim int64 (EMB_BAG_MAX only)
 * @return EMB_OK, EMB_EINVAL, EMB_ERANGE or EMB_ENOTSUP
 */
emb_status emb_bag(const void *table, emb_type table_type, int64_t vocab, int64_t dim,
                   const void *ids, emb_index id_type, int64_t n, const emb_bags *bags,
                   emb_bag_mode mode, float *out, int64_t *argmax);

/**
 * EmbeddingBag backward, accumulated into an fp32 @p dtable: for sum and
 * mean every non-padding token t of bag b adds widen(dout[b]) into
 * dtable[ids[t]], one fp32 add per element in token order; mean adds
 * widen(dout[b]) / (float)count (one division; a bag of one token adds the
 * element itself), weighted sum fmaf(w[t], widen(dout[b]), acc). Max adds
 * dout[b][j] into dtable[argmax[b][j]][j] in bag order (@p argmax from
 * emb_bag; -1 entries add nothing). @p dout_type is EMB_F32, EMB_F16 or
 * EMB_BF16. Bit-identical for every implementation and thread count.
 */
emb_status emb_bag_grad(float *dtable, int64_t vocab, int64_t dim, const void *ids,
                        emb_index id_type, int64_t n, const emb_bags *bags, emb_bag_mode mode,
                        const int64_t *argmax, const void *dout, emb_type dout_type);

/** The fused sparse optimizer steps of emb_bag_update. */
typedef enum emb_optimizer {
    EMB_OPT_SGD = 0,            /**< W[id][j] = fmaf(-lr, g[j], W[id][j]) */
    EMB_OPT_ROWWISE_ADAGRAD = 1 /**< h[id] += mean(g^2); W[id][j] = fmaf(-step, g[j], W[id][j]),
                                     step = lr / (sqrtf(h[id]) + eps) */
} emb_optimizer;

/** A fused optimizer step's settings. */
typedef struct emb_step {
    emb_optimizer optimizer;
    float lr;     /**< learning rate: finite, >= 0 */
    float eps;    /**< Adagrad's epsilon: finite, >= 0 */
    float *h;     /**< Adagrad's vocab fp32 row accumulators, updated in place; NULL for SGD */
    int coalesce; /**< 0: one update per occurrence, in token order (FBGEMM's fused CPU ops,
                       PyTorch's SGD on a sparse gradient); 1: duplicates first summed in
                       token order into one gradient row, then one update per distinct row
                       (torch.optim's coalesced sparse gradients, FBGEMM-GPU's TBE) */
} emb_step;

/**
 * The backward pass of a sum or mean emb_bag fused with an optimizer step:
 * the table is updated in place and no vocab x dim gradient exists. Per
 * occurrence (coalesce = 0), token t of bag b has the gradient row
 * g = dout[b] (mean: dout[b] / count, as in emb_bag_grad; weighted:
 * w[t] * dout[b], one rounding). Coalesced (coalesce = 1), a distinct
 * row's g is exactly what emb_bag_grad accumulates for it from +0, in
 * token order: weighted terms enter as fmaf(w[t], dout[b], g), one
 * rounding for product and sum, so a row named once has g = w[t] * dout[b]
 * rounded once there too. SGD then does
 * W[id] = fmaf(-lr, g, W[id]); row-wise Adagrad h[id] = h[id] + m with
 * m = (sum of g[j]^2 in reduce.h's canonical order) / (float)dim, then
 * W[id][j] = fmaf(-step, g[j], W[id][j]), step = lr / (sqrtf(h[id]) + eps):
 * FBGEMM's rowwise_sparse_adagrad_fused with learning_rate = -lr. Padding
 * tokens update nothing. Bit-identical for every implementation and thread
 * count. @p dout is fp32 (EMB_F32).
 *
 * @p table_type is EMB_F32, EMB_F16 or EMB_BF16. A 16-bit row is widened
 * to fp32 (exact), updated by the same fp32 arithmetic, and rounded back
 * to nearest even once per update: after every occurrence (coalesce = 0,
 * as a framework holding an f16 or bf16 parameter does), once per distinct
 * row (coalesce = 1). An update smaller than half the row element's ulp
 * is lost, as it is there. h stays fp32. Quantized tables are rejected:
 * requantizing on each step would drop every update smaller than half a
 * quantization step (train in f32, f16 or bf16, quantize afterwards).
 *
 * @return EMB_OK, EMB_EINVAL (also for a negative or non-finite lr or eps,
 *         EMB_BAG_MAX or a quantized table_type), EMB_ERANGE, EMB_ENOMEM
 *         (scratch) or EMB_ENOTSUP; on failure nothing is written
 */
emb_status emb_bag_update(void *table, emb_type table_type, int64_t vocab, int64_t dim,
                          const void *ids, emb_index id_type, int64_t n, const emb_bags *bags,
                          emb_bag_mode mode, const float *dout, const emb_step *step);

/** A short constant description of a status, e.g. "id out of range". */
const char *emb_strerror(emb_status s);

/**
 * Detail of the last failure on the calling thread, naming the entry
 * point, the bad value and where it is, e.g.
 * "emb_lookup: ids[17] = 50257 is outside [0, 50257)". Empty before the
 * first failure; a successful call leaves it as it was.
 */
const char *emb_last_error(void);

/** Number of implementations this build knows of, available or not. */
int emb_impl_count(void);

/** Name of implementation i ("avx512", "avx2", "neon", "scalar"), best
 *  first; NULL when i is out of range. */
const char *emb_impl_name(int i);

/** 1 when implementation i is compiled in AND supported by this CPU and OS. */
int emb_impl_available(int i);

/** Why implementation i is not available (e.g. "CPU lacks AVX512BW"), or
 *  NULL when it is. */
const char *emb_impl_unavailable_reason(int i);

/**
 * Select the implementation every later call uses, process-wide.
 * NULL or "auto" picks the best available one. An unknown or unavailable
 * name returns EMB_ENOTSUP and changes nothing. A successful call also
 * overrides a bad EMBSIMD_IMPL.
 */
emb_status emb_use_impl(const char *name);

/** Name of the implementation in use; NULL when EMBSIMD_IMPL named one that
 *  cannot be used (every kernel call then fails with EMB_ENOTSUP). */
const char *emb_impl_active(void);

/**
 * Number of threads later lookup and grad calls may use, process-wide.
 * n <= 0 restores the default: $EMBSIMD_NUM_THREADS when set to a positive
 * number, else the number of online CPUs. Calls too small to gain from
 * threads stay on the calling thread. Grad results are bit-identical for
 * every thread count. Returns EMB_EINVAL (changing nothing) when n exceeds
 * EMB_MAX_THREADS.
 */
emb_status emb_set_num_threads(int n);

/** The thread count in effect (after the default is resolved). */
int emb_get_num_threads(void);

/** Upper bound accepted by emb_set_num_threads(). */
#define EMB_MAX_THREADS 256

/**
 * Bytes of one instance of the last-level cache as the library sees it. The
 * kernels decide streaming stores and prefetching from it; benchmarks report
 * it to say which shapes are cache-resident. Read once, from the first of:
 * $EMBSIMD_LLC (a size such as 32M, 32MiB, 32768K or bytes; an invalid one
 * is ignored and the description says why); cpu0's highest-level data cache
 * in sysfs; CPUID's deterministic cache parameters (leaf 4, AMD 0x8000001D);
 * the package-wide L3 of sysconf or CPUID 0x80000006, capped at 4 MiB per
 * CPU this process may run on (in a VM it counts other chiplets' caches);
 * else 32 MiB. Never 0.
 */
int64_t emb_llc_bytes(void);

/**
 * emb_llc_bytes() in words, with where it came from: "16 MiB (sysfs L3)",
 * "8 MiB (sysconf 508 MiB, capped: 2 CPUs x 4 MiB)", "32 MiB (assumed)".
 * When $EMBSIMD_LLC is set but unusable, the parenthesis ends with why, as
 * in: 16 MiB (sysfs L3; EMBSIMD_LLC="abc" ignored: not a size). Never NULL;
 * the string lives as long as the process.
 */
const char *emb_llc_description(void);

/** The distributions of emb_init. */
typedef enum emb_init_dist {
    EMB_INIT_UNIFORM = 0, /**< uniform on [-scale, scale) */
    EMB_INIT_NORMAL = 1   /**< normal, mean 0, standard deviation scale */
} emb_init_dist;

/**
 * Reproducible initialisation: rows first_row .. first_row + nrows - 1 of a
 * table of dim columns, stored at @p rows (which points at row first_row),
 * filled from a 64-bit seed. Element (row, col) depends only on the seed,
 * its row and its column: any thread count, implementation or split into
 * row ranges gives the same bits, on every architecture.
 *
 * Generator: Philox4x32-10, key = the seed, counter = (row, col and a tag;
 * docs/api.md). Uniform: x = (float)(scale * (2u - 1)), u = the top 24 bits
 * of a word / 2^24, the product exact in double and rounded once. Normal:
 * Marsaglia's polar method on pairs of words, z = u * sqrt(-2 ln s / s)
 * with a logarithm built from IEEE-754 basic operations only (no libm call
 * whose bits differ between systems), x = (float)(scale * z) rounded once.
 * f16 and bf16 tables get that float rounded to nearest even (a second
 * rounding).
 *
 * @param type  EMB_F32, EMB_F16 or EMB_BF16
 * @param dist  EMB_INIT_UNIFORM or EMB_INIT_NORMAL
 * @param scale the half-width or standard deviation: finite, >= 0
 * @return EMB_OK or EMB_EINVAL (naming the bad argument; nothing written)
 */
emb_status emb_init(void *rows, emb_type type, int64_t first_row, int64_t nrows, int64_t dim,
                    emb_init_dist dist, float scale, uint64_t seed);

/** The schedule in force and where it came from: "defaults (...: no
 *  tuning file for this CPU: ...): threads from 64 KiB a thread while one
 *  is awake, 16384 KiB to wake one", or "tuned (PATH, made ...): threads
 *  from 32 KiB a thread while one is awake, ...; lookup/f32->f32 runs
 *  avx2's code". A schedule chooses speed only, never bits. The file
 *  embsimd-tune writes for this CPU is read on first use;
 *  EMBSIMD_TUNING=PATH names another, EMBSIMD_TUNING=off keeps the
 *  defaults; a file made on another CPU is ignored, and this says why. */
const char *emb_schedule_description(void);

/** Library version, "MAJOR.MINOR.PATCH". */
const char *emb_version(void);

#ifdef __cplusplus
}
#endif

#endif /* EMBSIMD_H */
