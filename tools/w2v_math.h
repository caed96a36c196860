/* w2v_math.h - embsimd-word2vec's arithmetic that must give the same bits on
 * every machine: a counter-based random stream, exp and log from IEEE-754
 * basic operations only (no libm call, whose last bits differ between
 * glibc versions and architectures), the sigmoid table, and the negative
 * sampler (Walker's alias method in integers). docs/word2vec.md. */
#ifndef W2V_MATH_H
#define W2V_MATH_H

#include <stddef.h>
#include <stdint.h>

/* ---- random numbers ------------------------------------------------------ */

/* SplitMix64 (Steele, Lea, Flood 2014): one state word, 2^64 period. A
 * stream is opened at a key, so that each token position of each epoch has
 * its own stream whatever thread or batch handles it. */
typedef struct w2v_rng {
    uint64_t s;
} w2v_rng;

static inline uint64_t w2v_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static inline uint64_t w2v_next(w2v_rng *r)
{
    r->s += 0x9e3779b97f4a7c15u;
    return w2v_mix64(r->s);
}

/* The stream of token position pos (of the whole corpus) in epoch e. */
static inline w2v_rng w2v_stream(uint64_t seed, int epoch, int64_t pos)
{
    w2v_rng r = {w2v_mix64(seed ^ w2v_mix64(((uint64_t)epoch << 40) ^ (uint64_t)pos))};
    return r;
}

/* ---- exp, log and the tables --------------------------------------------- */

/* exp(x) for |x| <= 64: Taylor series of exp(x / 64) (20 terms, Horner),
 * squared 6 times; every operation a correctly rounded double operation. */
double w2v_exp(double x);

/* ln(y) for y > 0: y = m 2^e (frexp, exact), ln m = 2 atanh((m - 1) / (m + 1))
 * by its series (30 terms), plus e ln 2. */
double w2v_log(double y);

/* word2vec's and gensim's sigmoid table: MAX_EXP 6, 1000 entries,
 * entry i = sigma(x), x = (i / 1000 * 2 - 1) * 6, looked up at
 * (int)((f + 6) * (1000 / 6 / 2)) for -6 < f < 6, in double as gensim does
 * (word2vec.c divides in integers: 83, not 83.33). */
#define W2V_MAX_EXP 6
#define W2V_EXP_TABLE 1000

typedef struct w2v_tables {
    float sigmoid[W2V_EXP_TABLE];
    float nlogsig[W2V_EXP_TABLE]; /* -ln sigma(x) at the same points (the reported loss) */
} w2v_tables;

void w2v_tables_init(w2v_tables *t);

/* The table index of f, or -1 when |f| >= 6 (gensim skips those pairs). */
static inline int w2v_table_index(float f)
{
    if (!(f > -W2V_MAX_EXP && f < W2V_MAX_EXP))
        return -1;
    return (int)(((double)f + W2V_MAX_EXP) * ((double)W2V_EXP_TABLE / W2V_MAX_EXP / 2));
}

/* ---- the negative sampler ------------------------------------------------ */

/* Draws word w with probability proportional to count[w]^0.75, as word2vec
 * and gensim do; count^0.75 = sqrt(c) * sqrt(sqrt(c)) (correctly rounded
 * square roots), scaled to integer weights summing to at most 2^31, then
 * Vose's alias table built in integers. */
typedef struct w2v_bin {
    uint32_t keep;    /* the bin draws its own word when 32 random bits < keep ... */
    int32_t alias;    /* ... else this one (a full bin is its own alias) */
} w2v_bin;

typedef struct w2v_alias {
    int64_t n;
    w2v_bin *bin;     /* one 8-byte load per draw */
} w2v_alias;

/* 0 or -1 (out of memory, nothing allocated). */
int w2v_alias_init(w2v_alias *a, const int64_t *count, int64_t n);
void w2v_alias_free(w2v_alias *a);

static inline int32_t w2v_alias_draw(const w2v_alias *a, uint64_t r)
{
    const uint64_t i = ((r >> 32) * (uint64_t)a->n) >> 32;
    const w2v_bin b = a->bin[i];
    return (uint32_t)r < b.keep ? (int32_t)i : b.alias;
}

/* FNV-1a, 64 bits, over n bytes, continuing from h (start: W2V_FNV_START). */
#define W2V_FNV_START 0xcbf29ce484222325u
uint64_t w2v_fnv1a(uint64_t h, const void *p, size_t n);

#endif /* W2V_MATH_H */
