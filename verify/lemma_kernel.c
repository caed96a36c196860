/* lemma_kernel.c - the lemma sweep's inner loop, written once with GCC
 * vector extensions and compiled once per instruction set (verify.mk gives
 * each copy its flags and its name), so the verifier runs on any CPU of the
 * architecture and uses the widest vectors the one it runs on has. */
#include "config.h"

#include <string.h>

#include "lemmas.h"

#ifndef VF_LEMMA_KERNEL
#define VF_LEMMA_KERNEL vf_lemma_kernel_base
#endif

enum { LANES = 16 };
/* 64 bytes: one AVX-512 register, two AVX2 ones, four SSE2 or NEON ones. */
typedef uint32_t u32v __attribute__((vector_size(64)));
typedef int32_t i32v __attribute__((vector_size(64)));
typedef float f32v __attribute__((vector_size(64)));

/* Every lane x. A macro, not a function: a function returning a 64-byte
 * vector has a different ABI with and without AVX-512. Floats are spread as
 * their bits (adding them to a vector of +0 would turn -0 into +0). */
#define SPLAT_U(x) ((u32v){0} + (uint32_t)(x))
#define SPLAT_F(x) ((f32v)SPLAT_U(bits_of(x)))

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

void VF_LEMMA_KERNEL(const vf_lemma_job *job, vf_lemma_counts *out)
{
    const u32v iota = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    const f32v one = SPLAT_F(job->one), zero = SPLAT_F(job->zero);
    const f32v pz = SPLAT_F(job->pos_zero), nz = SPLAT_F(job->neg_zero);
    u32v and_mask[VF_OPS], or_mask[VF_OPS], expected[VF_OPS], nan[VF_OPS];
    for (int op = 0; op < VF_OPS; op++) {
        and_mask[op] = SPLAT_U(job->and_mask[op]);
        or_mask[op] = SPLAT_U(job->or_mask[op]);
        expected[op] = SPLAT_U(0);
        nan[op] = SPLAT_U(0);
    }
    const i32v exp_bits = (i32v)SPLAT_U(0x7F800000u);
    const u32v abs_mask = SPLAT_U(0x7FFFFFFFu);
    /* Lane counts stay below 2^32: a job holds at most 2^24 patterns. */
    for (uint64_t base = job->lo; base < job->hi; base += LANES) {
        const uint64_t left = job->hi - base;
        const u32v active = (u32v)(iota < SPLAT_U(left < LANES ? (uint32_t)left : LANES));
        const u32v w = SPLAT_U((uint32_t)base) + iota;
        const f32v f = (f32v)w;
        f32v r[VF_OPS];
        r[VF_OP_TIMES_ONE] = f * one;
        r[VF_OP_TIMES_ZERO] = f * zero;
        r[VF_OP_PLUS_POS_ZERO] = f + pz;
        r[VF_OP_PLUS_NEG_ZERO] = f + nz;
        for (int op = 0; op < VF_OPS; op++) {
            const u32v bits = (u32v)r[op];
            /* Comparisons give -1 per true lane: subtracting counts. */
            expected[op] -= (u32v)(bits == ((w & and_mask[op]) | or_mask[op])) & active;
            nan[op] -= (u32v)((i32v)(bits & abs_mask) > exp_bits) & active;
        }
    }
    for (int op = 0; op < VF_OPS; op++) {
        uint64_t e = 0, n = 0;
        for (int l = 0; l < LANES; l++) {
            e += expected[op][l];
            n += nan[op][l];
        }
        out->expected[op] = e;
        out->nan[op] = n;
    }
}
