/* gen.c - deterministic inputs for tests, the verifier and benchmarks. */
#include "gen.h"

#include <stdlib.h>
#include <string.h>

gen_rng gen_seed(uint64_t seed)
{
    gen_rng r = {seed};
    return r;
}

/* splitmix64: tiny, full-period, and identical on every platform. */
uint64_t gen_u64(gen_rng *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t gen_below(gen_rng *r, uint64_t bound)
{
    /* Rejection keeps it exactly uniform; the loop almost never repeats. */
    const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t x;
    do
        x = gen_u64(r);
    while (x >= limit);
    return x % bound;
}

uint32_t gen_f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

float gen_u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float gen_finite(gen_rng *r)
{
    const uint64_t x = gen_u64(r);
    const uint32_t sign = (uint32_t)(x >> 63) << 31;
    const uint32_t exponent = (uint32_t)(127 - 20 + (x >> 32) % 41) << 23;
    const uint32_t mantissa = (uint32_t)x & 0x7FFFFFu;
    return gen_u2f(sign | exponent | mantissa);
}

static uint32_t special_bits(gen_rng *r, int allow_nan)
{
    const uint64_t x = gen_u64(r);
    const uint32_t sign = (uint32_t)(x >> 63) << 31;
    const uint32_t payload = (uint32_t)x & 0x3FFFFFu;
    switch ((x >> 32) % (allow_nan ? 6 : 4)) {
    case 0: return sign;                               /* +-0 */
    case 1: return sign | 0x7F800000u;                 /* +-Inf */
    case 2: return sign | (payload ? payload : 1u);    /* subnormal */
    case 3: return sign | 0x00800000u | payload;       /* smallest normals */
    case 4: return sign | 0x7FC00000u | payload;       /* quiet NaN */
    default: return sign | 0x7F800000u | (payload ? payload : 1u); /* signalling NaN */
    }
}

uint32_t gen_bits(gen_rng *r)
{
    /* Half specials, half anything: uniform bits alone almost never hit
     * +-0 or Inf. */
    return (gen_u64(r) & 1) ? special_bits(r, 1) : (uint32_t)gen_u64(r);
}

uint32_t gen_bits_no_nan(gen_rng *r)
{
    if (gen_u64(r) & 1)
        return special_bits(r, 0);
    for (;;) {
        const uint32_t u = (uint32_t)gen_u64(r);
        if ((u & 0x7F800000u) != 0x7F800000u || (u & 0x7FFFFFu) == 0)
            return u;
    }
}

void gen_fill_finite(gen_rng *r, float *dst, size_t count)
{
    for (size_t i = 0; i < count; i++)
        dst[i] = gen_finite(r);
}

void gen_fill_bits(gen_rng *r, float *dst, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const uint32_t u = gen_bits(r);
        memcpy(dst + i, &u, sizeof u);
    }
}

void gen_fill_bits_no_nan(gen_rng *r, float *dst, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const uint32_t u = gen_bits_no_nan(r);
        memcpy(dst + i, &u, sizeof u);
    }
}

/* Log-uniform rank: a uniform bit length, then a uniform value of that
 * length. Density ~ 1/k like Zipf with s = 1, in integers only. */
static int64_t zipf_rank(gen_rng *r, int64_t vocab)
{
    int bits = 0;
    while (bits < 62 && ((int64_t)1 << (bits + 1)) <= vocab)
        bits++;
    for (;;) {
        const int b = (int)gen_below(r, (uint64_t)bits + 1);
        const int64_t base = ((int64_t)1 << b) - 1;
        const int64_t k = base + (int64_t)gen_below(r, (uint64_t)1 << b);
        if (k < vocab)
            return k;
    }
}

static int cmp_i32(const void *a, const void *b)
{
    const int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}


void gen_ids(gen_rng *r, int32_t *ids, size_t n, int64_t vocab, gen_ids_kind kind)
{
    const int64_t v = vocab > INT32_MAX ? (int64_t)INT32_MAX + 1 : vocab;
    const int32_t one = (int32_t)gen_below(r, (uint64_t)v);
    int32_t few[4];
    for (int k = 0; k < 4; k++)
        few[k] = (int32_t)gen_below(r, (uint64_t)v);
    for (size_t i = 0; i < n; i++) {
        switch (kind) {
        case GEN_IDS_ALL_EQUAL: ids[i] = one; break;
        case GEN_IDS_ZIPF: ids[i] = (int32_t)zipf_rank(r, v); break;
        case GEN_IDS_DUPLICATES: ids[i] = few[gen_below(r, 4)]; break;
        default: ids[i] = (int32_t)gen_below(r, (uint64_t)v); break;
        }
    }
    if (kind == GEN_IDS_SORTED || kind == GEN_IDS_REVERSED)
        qsort(ids, n, sizeof *ids, cmp_i32);
    if (kind == GEN_IDS_REVERSED)
        for (size_t i = 0; i < n / 2; i++) {
            const int32_t t = ids[i];
            ids[i] = ids[n - 1 - i];
            ids[n - 1 - i] = t;
        }
}

const char *gen_ids_kind_name(gen_ids_kind kind)
{
    static const char *const names[GEN_IDS_KIND_COUNT] = {
        "uniform", "all-equal", "sorted", "reversed", "zipf", "duplicates"};
    return (unsigned)kind < GEN_IDS_KIND_COUNT ? names[kind] : "?";
}
