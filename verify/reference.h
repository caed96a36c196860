/* reference.h - one definition of correct per operation, written from the
 * format definitions (embsimd.h, docs/api.md) and not from the library's code:
 * the unit tests, the verifier and the benchmarks' output check compare
 * every kernel with it, bit for bit. */
#ifndef EMBSIMD_REFERENCE_H
#define EMBSIMD_REFERENCE_H

#include <stddef.h>
#include <stdint.h>

#include "embsimd.h"

/* Bytes of one row of dim elements of type t, from the layouts: 4 or 2
 * bytes an element; q8_0 and q4_0 blocks of 32 (34 and 18 bytes); q4_K and
 * q6_K super-blocks of 256 (144 and 210 bytes); q8_rowwise dim bytes then
 * an fp32 scale and bias. 0 when the format has no such row (dim <= 0, dim
 * not a multiple of the block for a blocked type, an unknown type, or more
 * bytes than size_t holds). */
size_t ref_row_bytes(emb_type t, int64_t dim);

/* IEEE binary16 to binary32, exact: a NaN keeps its sign and payload and is
 * quieted (F16C's and AArch64's rule). */
uint32_t ref_f16_to_f32_bits(uint16_t h);

/* bfloat16 is the high half of a binary32: every pattern unchanged. */
uint32_t ref_bf16_to_f32_bits(uint16_t h);

/* Element j of a row of dim elements of type t, widened or dequantized to
 * fp32, as bits. */
uint32_t ref_element_bits(emb_type t, const uint8_t *row, int64_t dim, int64_t j);

/* Rewrite the few inputs of a row whose result IEEE 754 leaves open, so
 * that every implementation must give the same bits for the row. Only
 * q8_rowwise has any: fmaf with a NaN scale and a NaN bias may return
 * either payload, and fmaf(+-Inf, 0, NaN) may return the bias or the
 * default NaN. A NaN bias next to a scale that is not finite is replaced
 * by a finite value. Every other row is left as it is. */
void ref_make_determinate(emb_type t, uint8_t *row, int64_t dim);

/* out[i] = row ids[i] of table as kernel k's output type: a bit copy when
 * the types are equal, element by element conversion to fp32 otherwise.
 * Returns 0, or -1 (writing nothing) when the reference does not define
 * kernel k or an id is outside [0, vocab). */
int ref_lookup(const emb_kernel *k, const void *table, int64_t vocab, int64_t dim,
               const void *ids, emb_index id_type, int64_t n, void *out);

/* dtable[ids[i]*dim + j] += widen(dout[i*dim + j]) in token order, one fp32
 * add each. Returns 0, or -1 as ref_lookup. */
int ref_grad(const emb_kernel *k, float *dtable, int64_t vocab, int64_t dim, const void *ids,
             emb_index id_type, int64_t n, const void *dout);

/* out[i][j] = widen(table[ids[i]])[j] + widen(pos_table[pos(i)])[j], one
 * fp32 add. Returns 0, or -1 (writing nothing) for an id or position out of
 * range or types the formats do not define here. */
int ref_lookup_pos(emb_type table_type, const void *table, int64_t vocab, int64_t dim,
                   const void *ids, emb_index id_type, int64_t n, emb_type pos_type,
                   const void *pos_table, int64_t max_pos, const emb_positions *pos, float *out);

/* ref_grad with nn.Embedding's options (padding row skipped; with
 * scale_grad_by_freq a row named c > 1 times gets x / (float)c per token),
 * and, when dpos_table is not NULL, the positional table's scatter-add.
 * The counts are counted here, token by token, not taken from anywhere. */
int ref_grad_ex(emb_type dout_type, float *dtable, int64_t vocab, int64_t dim, const void *ids,
                emb_index id_type, int64_t n, const void *dout, const emb_grad_options *opt,
                float *dpos_table, int64_t max_pos, const emb_positions *pos);

/* emb_renorm's norm, written from its definition (embsimd.h). */
float ref_row_norm(const float *x, int64_t dim, double p);

/* emb_scan's score of one row against query q, as embsimd.h defines it:
 * each element widened, each term rounded on its own, term j into running
 * sum j % 32, the 32 sums folded in halves. */
float ref_scan_score(emb_type t, const uint8_t *row, int64_t dim, const float *q, emb_metric m);

/* binary32 to binary16 and to bfloat16, rounded to nearest even in double
 * (an independent form of types.h's narrowing); a NaN quieted with its sign
 * and the top of its payload. */
uint16_t ref_f32_to_f16_bits(uint32_t u);
uint16_t ref_f32_to_bf16_bits(uint32_t u);

/* emb_renorm's effect on an f32, f16 or bf16 table: each distinct named
 * row whose norm (of its widened elements) exceeds max_norm scaled by
 * (float)(max_norm / (norm + 1e-7)), and rounded back to its type. */
int ref_renorm(void *table, emb_type t, int64_t vocab, int64_t dim, const void *ids,
               emb_index id_type, int64_t n, double max_norm, double norm_type);

#endif /* EMBSIMD_REFERENCE_H */
