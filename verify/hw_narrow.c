/* hw_narrow.c - section A's lemma on the CPU's own bf16 narrowing:
 * AVX512-BF16's VCVTNEPS2BF16 against round to nearest even, the
 * definition every bf16 narrowing of the library follows (max_norm's
 * rescale, the fused steps on bf16 tables). An instruction is used for a
 * kernel only where it gives the defined bits; this lemma measures where
 * this one does not, and checks the prediction: it flushes a subnormal
 * input to the zero of its sign, and rounds to nearest even everywhere
 * else, NaNs quieted with their sign and top payload kept. The library's
 * narrowing therefore stays the integer definition, on every CPU. */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "reference.h"
#include "verify.h"

/* Round to nearest even in integers: add half an ulp of the result, less
 * one, plus the result's low bit (ties go to the even neighbour); a NaN
 * keeps its sign and the top of its payload, quieted. Checked below
 * against reference.c's rounding (in double, by the format's rules) on
 * every subnormal and a stride of the rest. */
static inline uint16_t rne_bf16(uint32_t u)
{
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x0040u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static inline int is_subnormal(uint32_t u)
{
    return (u & 0x7f800000u) == 0 && (u & 0x007fffffu) != 0;
}

/* The predicted result of the instruction for input u. */
static inline uint16_t predicted(uint32_t u)
{
    return is_subnormal(u) ? (uint16_t)((u >> 16) & 0x8000u) : rne_bf16(u);
}

typedef struct narrow_tally {
    uint64_t patterns, as_predicted, differ_from_rne, subnormal_differ;
    uint32_t first_unpredicted;
    int unpredicted;
} narrow_tally;

#if defined(__x86_64__) && (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 10))
#include <immintrin.h>
#define HW_BF16 1

/* Patterns [lo, hi), a multiple of 16 apart, through the instruction. */
__attribute__((target("avx512f,avx512vl,avx512bf16"))) static void
sweep(uint64_t lo, uint64_t hi, uint64_t stride, narrow_tally *t)
{
    uint32_t in[16];
    uint16_t out[16];
    for (uint64_t base = lo; base < hi; base += 16 * stride) {
        for (int k = 0; k < 16; k++)
            in[k] = (uint32_t)(base + (uint64_t)k * stride);
        __m512 v;
        memcpy(&v, in, sizeof v);
        const __m256bh r = _mm512_cvtneps_pbh(v);
        memcpy(out, &r, sizeof out);
        for (int k = 0; k < 16; k++) {
            const uint32_t u = in[k];
            t->patterns++;
            if (out[k] != rne_bf16(u)) {
                t->differ_from_rne++;
                t->subnormal_differ += (uint64_t)is_subnormal(u);
            }
            if (out[k] == predicted(u)) {
                t->as_predicted++;
            } else if (!t->unpredicted) {
                t->unpredicted = 1;
                t->first_unpredicted = u;
            }
        }
    }
}
#endif

/* The integer rounding above is the reference's: every subnormal, and
 * every 4099th pattern of the rest. Returns the number that differ. */
static uint64_t check_rne_against_reference(uint64_t *checked)
{
    uint64_t bad = 0, n = 0;
    for (uint64_t u = 1; u < 0x00800000u; u++, n += 2) {
        bad += rne_bf16((uint32_t)u) != ref_f32_to_bf16_bits((uint32_t)u);
        bad += rne_bf16((uint32_t)u | 0x80000000u) != ref_f32_to_bf16_bits((uint32_t)u | 0x80000000u);
    }
    for (uint64_t u = 0; u < (1ull << 32); u += 4099, n++)
        bad += rne_bf16((uint32_t)u) != ref_f32_to_bf16_bits((uint32_t)u);
    *checked = n;
    return bad;
}

void vf_hw_narrow_lemmas(vf_report *r, const vf_config *cfg)
{
    uint64_t checked;
    const uint64_t bad = check_rne_against_reference(&checked);
    vf_report_line(r, bad == 0 ? VF_PASS : VF_FAIL, "RNE bf16",
                   "the sweep's integer round-to-nearest-even equals the reference's on %llu of "
                   "%llu patterns (every subnormal, every 4099th of the rest)",
                   (unsigned long long)(checked - bad), (unsigned long long)checked);
#ifdef HW_BF16
    if (!__builtin_cpu_supports("avx512bf16") || !__builtin_cpu_supports("avx512vl")) {
        vf_report_line(r, VF_SKIP, "VCVTNEPS2BF16",
                       "this CPU lacks AVX512-BF16: the instruction's narrowing is not measured "
                       "here (the library narrows bf16 without it on every CPU)");
        return;
    }
    /* Every pattern in the standard and full runs; a stride in the quick
     * and emulated ones, plus every subnormal, where the difference is. */
    narrow_tally t = {0};
    const int all = cfg->mode != VF_MODE_QUICK && !cfg->emulated;
    if (all) {
        const uint64_t chunk = 1ull << 26;
        for (uint64_t lo = 0; lo < (1ull << 32); lo += chunk) {
            sweep(lo, lo + chunk, 1, &t);
            vf_progress("A: VCVTNEPS2BF16 sweep", lo / chunk + 1, (1ull << 32) / chunk);
        }
        vf_progress_done();
    } else {
        sweep(0, 0x00800000u, 1, &t);
        sweep(0x80000000u, 0x80800000u, 1, &t);
        sweep(0, 1ull << 32, 4099, &t);
    }
    vf_report_line(r, t.as_predicted == t.patterns ? VF_PASS : VF_FAIL, "VCVTNEPS2BF16",
                   "%llu of %llu fp32 patterns%s as predicted: round to nearest even, but a "
                   "subnormal input flushed to the zero of its sign%s",
                   (unsigned long long)t.as_predicted, (unsigned long long)t.patterns,
                   all ? "" : " (every subnormal, every 4099th of the rest)",
                   t.unpredicted ? "; first unpredicted input listed below" : "");
    if (t.unpredicted)
        vf_report_line(r, VF_INFO, "VCVTNEPS2BF16", "first unpredicted input 0x%08x",
                       t.first_unpredicted);
    vf_report_line(r, VF_INFO, "VCVTNEPS2BF16",
                   "%llu patterns differ from round to nearest even, %llu of them subnormal "
                   "inputs: the instruction does not give the defined bits, so no kernel uses it",
                   (unsigned long long)t.differ_from_rne, (unsigned long long)t.subnormal_differ);
    vf_report_num(r, "vcvtneps2bf16_differ", t.differ_from_rne);
#else
    (void)cfg;
    vf_report_line(r, VF_SKIP, "VCVTNEPS2BF16",
                   "not an x86-64 build with AVX512-BF16 intrinsics: the instruction's narrowing "
                   "is not measured here");
#endif
}
