/* typed_inputs.h - tables and dY of every emb_type from the suite's seeded
 * generator (verify/gen.h), built the same way by the benchmarks, the
 * gate's drivers and, for f16 and bf16, the PyTorch peers
 * (bench/peers/embsimd_inputs.py). No Google Benchmark here: the
 * instruction-count driver links it alone. */
#ifndef EMBSIMD_BENCH_TYPED_INPUTS_H
#define EMBSIMD_BENCH_TYPED_INPUTS_H

#include <stddef.h>
#include <stdint.h>

#include "embsimd.h"
#include "gen.h"

/* bf16 of a generated fp32 pattern: its high half (the generator's finite
 * floats are normal bf16 numbers then). */
static inline uint16_t bench_bf16_bits(uint32_t u) { return (uint16_t)(u >> 16); }

/* f16 of a generated fp32 pattern: the sign, the top 10 fraction bits, and
 * the exponent folded into binary16's range, keeping its class: 0 stays 0
 * (zero or subnormal), 255 stays 31 (Inf or NaN), any other e becomes
 * 1 + e % 30 (a normal number). The generator's finite floats, whose
 * magnitudes would overflow binary16, give normal f16 numbers; its special
 * values give f16 special values. */
static inline uint16_t bench_f16_bits(uint32_t u)
{
    const uint32_t e = (u >> 23) & 0xffu;
    const uint32_t he = e == 0 ? 0u : e == 0xffu ? 31u : 1u + e % 30u;
    return (uint16_t)(((u >> 16) & 0x8000u) | (he << 10) | ((u >> 13) & 0x3ffu));
}

/* rows x dim elements of type t from r: f32 as gen_fill_finite, f16 and
 * bf16 as the same floats converted above (so a bf16 table is the f32
 * table of the same stream, truncated), q8_0, q4_0, q4_K and q6_K blocks
 * whose fp16 scales are such f16s and whose other bytes (quants, packed
 * 6-bit scales and mins, int8 scales) are random, q8_rowwise random
 * bytes with a finite scale and bias. dim must be valid for t. */
void bench_fill_typed(gen_rng *r, emb_type t, uint8_t *dst, size_t rows, size_t dim);

/* The same conversion of count fp32 values already generated (an f32 dY
 * into an f16 or bf16 one); t is EMB_F16 or EMB_BF16. */
void bench_convert_16(emb_type t, uint16_t *dst, const float *src, size_t count);

#endif /* EMBSIMD_BENCH_TYPED_INPUTS_H */
