/* ieee.h - fp32 bit-pattern predicates and the IEEE 754 rules the verifier's
 * model is built from, as integer operations on the bits. */
#ifndef EMBSIMD_VERIFY_IEEE_H
#define EMBSIMD_VERIFY_IEEE_H

#include <stdint.h>
#include <string.h>

#define VF_SIGN 0x80000000u
#define VF_EXP 0x7F800000u
#define VF_QUIET 0x00400000u /* the quiet bit: set in quiet NaNs, clear in signalling ones */
#define VF_NEG_ZERO 0x80000000u
#define VF_POS_ZERO 0x00000000u

/* The bits of a float, inline: the checkers call this per element. */
static inline uint32_t vf_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline int vf_is_nan(uint32_t u) { return (u & ~VF_SIGN) > VF_EXP; }
static inline int vf_is_inf(uint32_t u) { return (u & ~VF_SIGN) == VF_EXP; }
static inline int vf_is_finite(uint32_t u) { return (u & VF_EXP) != VF_EXP; }
static inline int vf_is_subnormal(uint32_t u)
{
    return (u & VF_EXP) == 0 && (u & ~VF_SIGN) != 0;
}

/* What an arithmetic operation with one NaN operand returns on CPUs that
 * follow IEEE 754's "should": the same payload, quieted. Lemma A checks
 * that this CPU does so before anything relies on it. */
static inline uint32_t vf_quiet(uint32_t u) { return u | VF_QUIET; }

/* 0 * w for a non-NaN w (lemma L2): a zero with w's sign, or, for +-Inf, the
 * CPU's default NaN (an invalid operation). A NaN w gives w quieted. */
static inline uint32_t vf_times_zero(uint32_t w, uint32_t default_nan)
{
    if (vf_is_nan(w))
        return vf_quiet(w);
    return vf_is_inf(w) ? default_nan : (w & VF_SIGN);
}

/* 1 * w (lemma L1): w itself, or w quieted when it is a NaN. */
static inline uint32_t vf_times_one(uint32_t w) { return vf_is_nan(w) ? vf_quiet(w) : w; }

/* A value of the model: the bits, and whether they are a NaN whose payload
 * IEEE 754 leaves open. When two NaNs meet in one operation the standard
 * only says the result should carry the payload of one of them, and CPUs
 * (and compilers, which may swap the operands of a commutative add) pick
 * differently; such a value is checked as "a NaN", every other bit for bit. */
typedef struct vf_val {
    uint32_t bits;
    uint8_t loose;
} vf_val;

static inline vf_val vf_val_of(uint32_t bits)
{
    const vf_val v = {bits, 0};
    return v;
}

/* a + b as IEEE 754 defines it, on this CPU's adder for the non-NaN cases
 * (so Inf + -Inf gives this CPU's default NaN), with the payload rule above
 * for NaNs. */
static inline vf_val vf_add(vf_val a, vf_val b)
{
    const int an = vf_is_nan(a.bits), bn = vf_is_nan(b.bits);
    vf_val r;
    if (an && bn) {
        r.bits = vf_quiet(a.bits);
        r.loose = 1;
    } else if (an || bn) {
        r.bits = vf_quiet(an ? a.bits : b.bits);
        r.loose = an ? a.loose : b.loose;
    } else {
        float x, y;
        memcpy(&x, &a.bits, sizeof x);
        memcpy(&y, &b.bits, sizeof y);
        /* volatile: the add must happen at run time, on this CPU. */
        volatile float s = x + y;
        const float t = s;
        memcpy(&r.bits, &t, sizeof t);
        r.loose = 0;
    }
    return r;
}

/* Whether got is what the model predicts: the same bits, or any NaN where
 * the payload is open. */
static inline int vf_matches(uint32_t got, vf_val want)
{
    return want.loose ? vf_is_nan(got) : got == want.bits;
}

#endif /* EMBSIMD_VERIFY_IEEE_H */
