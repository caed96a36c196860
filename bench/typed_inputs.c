/* typed_inputs.c - tables of every emb_type from the seeded generator. */
#include "config.h"

#include "typed_inputs.h"

#include <string.h>

void bench_convert_16(emb_type t, uint16_t *dst, const float *src, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const uint32_t u = gen_f2u(src[i]);
        dst[i] = t == EMB_BF16 ? bench_bf16_bits(u) : bench_f16_bits(u);
    }
}

/* Random bytes, eight per draw. */
static void fill_bytes(gen_rng *r, uint8_t *dst, size_t count)
{
    while (count > 0) {
        const uint64_t x = gen_u64(r);
        const size_t k = count < 8 ? count : 8;
        for (size_t i = 0; i < k; i++)
            dst[i] = (uint8_t)(x >> (8 * i));
        dst += k;
        count -= k;
    }
}

static void put_u16(uint8_t *p, uint16_t v) { memcpy(p, &v, sizeof v); }

void bench_fill_typed(gen_rng *r, emb_type t, uint8_t *dst, size_t rows, size_t dim)
{
    const size_t count = rows * dim;
    switch (t) {
    case EMB_F32:
        gen_fill_finite(r, (float *)(void *)dst, count);
        return;
    case EMB_F16:
    case EMB_BF16: {
        /* In chunks, from the one stream: the same floats as one fill. */
        float chunk[1024];
        uint16_t *out = (uint16_t *)(void *)dst;
        for (size_t i = 0; i < count; i += 1024) {
            const size_t k = count - i < 1024 ? count - i : 1024;
            gen_fill_finite(r, chunk, k);
            bench_convert_16(t, out + i, chunk, k);
        }
        return;
    }
    case EMB_Q8_0:
    case EMB_Q4_0: {
        const size_t block_bytes = t == EMB_Q8_0 ? 34 : 18;
        const size_t blocks = count / 32;
        for (size_t b = 0; b < blocks; b++) {
            uint8_t *block = dst + b * block_bytes;
            put_u16(block, bench_f16_bits(gen_f2u(gen_finite(r))));
            fill_bytes(r, block + 2, block_bytes - 2);
        }
        return;
    }
    case EMB_Q4_K:
    case EMB_Q6_K: {
        /* Random quants, packed scales and mins; the fp16 scales (q4_K's d
         * and dmin at 0 and 2, q6_K's d last) as above. */
        const int k4 = t == EMB_Q4_K;
        const size_t block_bytes = k4 ? 144 : 210, blocks = count / 256;
        for (size_t b = 0; b < blocks; b++) {
            uint8_t *block = dst + b * block_bytes;
            fill_bytes(r, block, block_bytes);
            put_u16(block + (k4 ? 0 : 208), bench_f16_bits(gen_f2u(gen_finite(r))));
            if (k4)
                put_u16(block + 2, bench_f16_bits(gen_f2u(gen_finite(r))));
        }
        return;
    }
    case EMB_Q8_ROWWISE: {
        const size_t row = dim + 8;
        for (size_t i = 0; i < rows; i++) {
            uint8_t *p = dst + i * row;
            fill_bytes(r, p, dim);
            const float scale = gen_finite(r), bias = gen_finite(r);
            memcpy(p + dim, &scale, 4);
            memcpy(p + dim + 4, &bias, 4);
        }
        return;
    }
    }
}
