/* reduce.h - the one summation order of every row reduction the library
 * computes (a p-norm for max_norm, a mean of squares for row-wise Adagrad,
 * a dot product or distance for similarity): the same bits on every ISA and
 * for every thread count, because the order is part of the definition.
 *
 * The canonical order, for n terms t[0 .. n-1] (each term rounded to fp32
 * on its own, e.g. t[j] = x[j] * y[j] with one rounding, never fused into
 * the add):
 *   1. 32 running sums s[0 .. 31], all +0 at the start; term j is added to
 *      s[j % 32], in increasing j, one fp32 add each;
 *   2. the sums fold in halves: s[k] += s[k + 16] for k < 16, then
 *      s[k] += s[k + 8] for k < 8, then 4, 2 and 1; s[0] is the result.
 * 32 lanes is four AVX2 vectors, two AVX-512 ones and eight NEON ones, and
 * the halving folds are what each ISA's horizontal sum does anyway, so the
 * order costs no ISA a shuffle it would not have done. A row whose length
 * is not a multiple of 32 behaves as if padded with +0 terms: a running sum
 * never is -0 (it starts at +0, and in round-to-nearest a sum is -0 only
 * when both addends are), so adding +0 changes no sum, NaNs included.
 *
 * The body below is written once with GCC's generic vectors and included
 * by each ISA file, which compiles it to that ISA's registers: one
 * definition, one order, no per-ISA copy to drift. verify/reference.c has
 * a plain loop of the definition to check it against. */
#ifndef EMBSIMD_REDUCE_H
#define EMBSIMD_REDUCE_H

#include <stddef.h>
#include <string.h>

enum { EMB_REDUCE_LANES = 32 };

typedef float emb_v32 __attribute__((vector_size(EMB_REDUCE_LANES * sizeof(float))));

/* The last count < 32 elements, padded with +0 (see above). */
static inline __attribute__((always_inline)) void emb_v32_load_tail(emb_v32 *v, const float *p,
                                                                    size_t count)
{
    float lanes[EMB_REDUCE_LANES] = {0};
    memcpy(lanes, p, count * sizeof(float));
    memcpy(v, lanes, sizeof *v);
}

/* Step 2 of the order: fold 32 lanes in halves. */
static inline __attribute__((always_inline)) float emb_v32_fold(const emb_v32 *s)
{
    float l[EMB_REDUCE_LANES];
    memcpy(l, s, sizeof l);
    for (int half = EMB_REDUCE_LANES / 2; half >= 1; half /= 2)
        for (int k = 0; k < half; k++)
            l[k] = l[k] + l[k + half];
    return l[0];
}

/* Kinds of term the reductions below sum. */
typedef enum emb_reduce_term {
    EMB_TERM_SQUARE,   /* x[j] * x[j] */
    EMB_TERM_ABS,      /* |x[j]| (exact) */
    EMB_TERM_PRODUCT,  /* x[j] * y[j] */
    EMB_TERM_SQ_DIFF   /* (x[j] - y[j])^2, the difference rounded first */
} emb_reduce_term;

/* Terms go through pointers: a 128-byte vector passed by value draws
 * GCC's psABI note on every ISA. */
static inline __attribute__((always_inline)) void emb_v32_add_term(emb_v32 *s,
                                                                   emb_reduce_term kind,
                                                                   const emb_v32 *x,
                                                                   const emb_v32 *y)
{
    switch (kind) {
    case EMB_TERM_SQUARE:
        *s = *s + *x * *x;
        return;
    case EMB_TERM_ABS: {
        /* Clearing the sign bit: exact, and NaN payloads stay. */
        typedef unsigned emb_u32x32 __attribute__((vector_size(sizeof(emb_v32))));
        emb_u32x32 u;
        emb_v32 a;
        memcpy(&u, x, sizeof u);
        u &= 0x7fffffffu;
        memcpy(&a, &u, sizeof a);
        *s = *s + a;
        return;
    }
    case EMB_TERM_PRODUCT:
        *s = *s + *x * *y;
        return;
    case EMB_TERM_SQ_DIFF: {
        const emb_v32 d = *x - *y;
        *s = *s + d * d;
        return;
    }
    }
}

/* The 32 running sums in registers of this ISA's width: EMB_REDUCE_PIECE
 * lanes a piece, EMB_REDUCE_LANES / EMB_REDUCE_PIECE pieces; lane l of
 * piece k is running sum k * EMB_REDUCE_PIECE + l, so the order is the one
 * above. (A 128-byte vector has no machine mode: GCC 12 keeps it in memory
 * and copies it through the stack on every add, which made a scan of a
 * table several times slower than its memory read.) */
#if defined(__AVX__)
/* AVX-512 builds too: on AMD EPYC Zen 4 (2 x 256-bit units; KVM, 2 vCPUs,
 * 2026-12-05) the f32 dot-product scan of 16 rows took 7.5-8.2 / 9.6-9.8
 * / 9.4-11.0 / 14.3-14.7 / 37.4-38.0 ns a row at D = 96 / 100 / 128 / 256
 * / 768 with 8-lane pieces, against 10.3 / 13.7 / 11.4-11.5 / 16.8-16.9 /
 * 45.1-45.3 with 16-lane ones (AVX2's own: 8.3 / 10.1-10.3 / 9.4 / 14.6-
 * 14.8 / 37.6-38.0): the fold of 16-lane sums crosses 256-bit halves, and
 * the adds gain nothing. The order is the 32 sums' either way. */
#define EMB_REDUCE_PIECE 8
#else
#define EMB_REDUCE_PIECE 4
#endif
typedef float emb_vp __attribute__((vector_size(EMB_REDUCE_PIECE * sizeof(float))));
typedef unsigned emb_up __attribute__((vector_size(EMB_REDUCE_PIECE * sizeof(float))));
enum { EMB_REDUCE_PIECES = EMB_REDUCE_LANES / EMB_REDUCE_PIECE };

/* {0, 1, ..., EMB_REDUCE_PIECE - 1} */
static inline __attribute__((always_inline)) emb_up emb_up_iota(void)
{
    emb_up v;
    for (unsigned l = 0; l < EMB_REDUCE_PIECE; l++)
        v[l] = l;
    return v;
}

/* Lane l of the result is lane from[l] of a. GCC's variable shuffle
 * becomes one permute; clang has no variable form (its
 * __builtin_shufflevector takes constant lanes), so there the lanes are
 * gathered one by one: the same values, a slower tail. */
#if defined(__has_builtin)
#if __has_builtin(__builtin_shuffle)
#define EMB_HAVE_VARIABLE_SHUFFLE 1
#endif
#endif
static inline __attribute__((always_inline)) emb_vp emb_vp_permute(emb_vp a, emb_up from)
{
#ifdef EMB_HAVE_VARIABLE_SHUFFLE
    return __builtin_shuffle(a, from);
#else
    emb_vp r;
    for (unsigned l = 0; l < EMB_REDUCE_PIECE; l++)
        r[l] = a[from[l]];
    return r;
#endif
}

/* The term of one piece's lanes a (and b for the two-operand kinds). */
static inline __attribute__((always_inline)) emb_vp emb_vp_term_of(emb_reduce_term kind, emb_vp a,
                                                                   emb_vp b)
{
    switch (kind) {
    case EMB_TERM_SQUARE:
        return a * a;
    case EMB_TERM_ABS: {
        emb_up u;
        memcpy(&u, &a, sizeof u);
        u &= 0x7fffffffu;
        memcpy(&a, &u, sizeof a);
        return a;
    }
    case EMB_TERM_PRODUCT:
        return a * b;
    case EMB_TERM_SQ_DIFF: {
        const emb_vp d = a - b;
        return d * d;
    }
    }
    return a;
}

static inline __attribute__((always_inline)) emb_vp emb_vp_term(emb_reduce_term kind,
                                                                const float *x, const float *y)
{
    emb_vp a, b = {0};
    memcpy(&a, x, sizeof a);
    if (kind == EMB_TERM_PRODUCT || kind == EMB_TERM_SQ_DIFF)
        memcpy(&b, y, sizeof b);
    return emb_vp_term_of(kind, a, b);
}

/* The canonical sum of term(x[j], y[j]) over j < n; y is read only by the
 * two-operand kinds. Always inlined with a constant kind. */
static inline __attribute__((always_inline)) float emb_reduce_f32(emb_reduce_term kind,
                                                                  const float *x, const float *y,
                                                                  size_t n)
{
    const int two = kind == EMB_TERM_PRODUCT || kind == EMB_TERM_SQ_DIFF;
    emb_vp s[EMB_REDUCE_PIECES];
#pragma GCC unroll 8
    for (int k = 0; k < EMB_REDUCE_PIECES; k++)
        s[k] = (emb_vp){0};
    size_t j = 0;
    for (; j + EMB_REDUCE_LANES <= n; j += EMB_REDUCE_LANES) {
#pragma GCC unroll 8
        for (int k = 0; k < EMB_REDUCE_PIECES; k++)
            s[k] = s[k] + emb_vp_term(kind, x + j + k * EMB_REDUCE_PIECE,
                                      two ? y + j + k * EMB_REDUCE_PIECE : NULL);
    }
    if (j < n && n >= EMB_REDUCE_PIECE) {
        /* The tail's whole pieces straight from the row; its partial piece
         * from the row's last EMB_REDUCE_PIECE elements, rotated down to
         * lane 0 and the lanes past the row zeroed (0*0, |0|, (0-0)^2 are
         * +0 terms); the pieces past the row not at all (adding +0 changes
         * no running sum). The values and order are the padded row's; a
         * copy through a zeroed stack buffer instead cost two thirds of
         * the scan of 100-float rows (its loads waited on the copy's
         * stores). */
        const size_t rem = n - j;
#pragma GCC unroll 8
        for (int k = 0; k < EMB_REDUCE_PIECES; k++) {
            const size_t at = (size_t)k * EMB_REDUCE_PIECE;
            if (at + EMB_REDUCE_PIECE <= rem) {
                s[k] = s[k] + emb_vp_term(kind, x + j + at, two ? y + j + at : NULL);
            } else if (at < rem) {
                const emb_up lane = emb_up_iota();
                const unsigned c = (unsigned)(rem - at);
                const emb_up from = (lane + (EMB_REDUCE_PIECE - c)) & (EMB_REDUCE_PIECE - 1);
                const emb_up keep = lane < c;
                emb_vp a, b = {0};
                memcpy(&a, x + n - EMB_REDUCE_PIECE, sizeof a);
                a = (emb_vp)((emb_up)emb_vp_permute(a, from) & keep);
                if (two) {
                    memcpy(&b, y + n - EMB_REDUCE_PIECE, sizeof b);
                    b = (emb_vp)((emb_up)emb_vp_permute(b, from) & keep);
                }
                s[k] = s[k] + emb_vp_term_of(kind, a, b);
            }
        }
    } else if (j < n) {
        /* A row shorter than a piece: padded through a buffer. */
        float xl[EMB_REDUCE_LANES] = {0}, yl[EMB_REDUCE_LANES] = {0};
        memcpy(xl, x + j, (n - j) * sizeof(float));
        if (two)
            memcpy(yl, y + j, (n - j) * sizeof(float));
#pragma GCC unroll 8
        for (int k = 0; k < EMB_REDUCE_PIECES; k++)
            s[k] = s[k] + emb_vp_term(kind, xl + k * EMB_REDUCE_PIECE, yl + k * EMB_REDUCE_PIECE);
    }
    /* Step 2: the folds across pieces first (s[i] += s[i + half] for
     * half >= the piece), then within the first piece. */
#pragma GCC unroll 8
    for (int half = EMB_REDUCE_PIECES / 2; half >= 1; half /= 2)
#pragma GCC unroll 8
        for (int k = 0; k < half; k++)
            s[k] = s[k] + s[k + half];
    float l[EMB_REDUCE_PIECE];
    memcpy(l, &s[0], sizeof l);
#pragma GCC unroll 8
    for (int half = EMB_REDUCE_PIECE / 2; half >= 1; half /= 2)
#pragma GCC unroll 8
        for (int k = 0; k < half; k++)
            l[k] = l[k] + l[k + half];
    return l[0];
}

#endif /* EMBSIMD_REDUCE_H */
