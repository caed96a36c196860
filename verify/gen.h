/* gen.h - deterministic test and benchmark inputs: the same seed gives the
 * same bits on every machine (integer arithmetic only, no libm). */
#ifndef EMBSIMD_GEN_H
#define EMBSIMD_GEN_H

#include <stddef.h>
#include <stdint.h>

typedef struct gen_rng {
    uint64_t state;
} gen_rng;

typedef enum gen_ids_kind {
    GEN_IDS_UNIFORM,
    GEN_IDS_ALL_EQUAL,
    GEN_IDS_SORTED,
    GEN_IDS_REVERSED,
    GEN_IDS_ZIPF,       /* log-uniform: P(id = k) falls as 1/(k+1) */
    GEN_IDS_DUPLICATES, /* a handful of distinct rows, each many times */
    GEN_IDS_KIND_COUNT
} gen_ids_kind;

gen_rng gen_seed(uint64_t seed);
uint64_t gen_u64(gen_rng *r);
/* Uniform in [0, bound), bound > 0. */
uint64_t gen_below(gen_rng *r, uint64_t bound);

/* A finite float with a random sign and a magnitude between 2^-20 and
 * 2^20: sums of a few of them round, so order matters. */
float gen_finite(gen_rng *r);
/* Any fp32 bit pattern, with the special ones over-represented: quiet and
 * signalling NaNs with payloads, +-0, +-Inf, subnormals. */
uint32_t gen_bits(gen_rng *r);
/* Like gen_bits but never a NaN. */
uint32_t gen_bits_no_nan(gen_rng *r);

void gen_fill_finite(gen_rng *r, float *dst, size_t count);
void gen_fill_bits(gen_rng *r, float *dst, size_t count);
void gen_fill_bits_no_nan(gen_rng *r, float *dst, size_t count);

void gen_ids(gen_rng *r, int32_t *ids, size_t n, int64_t vocab, gen_ids_kind kind);
const char *gen_ids_kind_name(gen_ids_kind kind);

/* Bits of a float, and back, without aliasing trouble. */
uint32_t gen_f2u(float f);
float gen_u2f(uint32_t u);

#endif /* EMBSIMD_GEN_H */
