/* w2v_math.c - exp, log, the sigmoid table, the alias sampler and the
 * digest of embsimd-word2vec, each from basic operations in a written
 * order (the build has -ffp-contract=off: no fused multiply-add). */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include "w2v_math.h"

double w2v_exp(double x)
{
    const double r = x / 64; /* exact: a power of two */
    double s = 1;
    for (int k = 20; k >= 1; k--) /* Horner: 1 + r/1 (1 + r/2 (1 + ... (1 + r/20))) */
        s = 1 + r / k * s;
    for (int i = 0; i < 6; i++)
        s = s * s;
    return s;
}

double w2v_log(double y)
{
    int e;
    const double m = frexp(y, &e); /* exact: m in [0.5, 1) */
    const double t = (m - 1) / (m + 1), t2 = t * t;
    double s = 0;
    for (int k = 59; k >= 1; k -= 2) /* t (1 + t^2/3 + t^4/5 + ... + t^58/59), Horner */
        s = 1.0 / k + t2 * s;
    return 2 * t * s + e * 0.6931471805599453;
}

void w2v_tables_init(w2v_tables *t)
{
    for (int i = 0; i < W2V_EXP_TABLE; i++) {
        const double x = ((double)i / W2V_EXP_TABLE * 2 - 1) * W2V_MAX_EXP;
        const double ex = w2v_exp(x);
        t->sigmoid[i] = (float)(ex / (ex + 1));
        t->nlogsig[i] = (float)-w2v_log(ex / (ex + 1));
    }
}

int w2v_alias_init(w2v_alias *a, const int64_t *count, int64_t n)
{
    a->n = n;
    a->prob = malloc((size_t)n * sizeof *a->prob);
    a->alias = malloc((size_t)n * sizeof *a->alias);
    int64_t *small = malloc((size_t)n * sizeof *small), *large = malloc((size_t)n * sizeof *large);
    double *w = malloc((size_t)n * sizeof *w);
    if (a->prob == NULL || a->alias == NULL || small == NULL || large == NULL || w == NULL) {
        free(small), free(large), free(w);
        w2v_alias_free(a);
        return -1;
    }
    double sum = 0;
    for (int64_t i = 0; i < n; i++) { /* summed in word order */
        const double c = (double)count[i];
        w[i] = sqrt(c) * sqrt(sqrt(c));
        sum += w[i];
    }
    /* Integer weights (floor, at least 1) summing to at most 2^31 + n, so that
     * u = (32 random bits * total) >> 32 fits in 64 bits. */
    a->total = 0;
    for (int64_t i = 0; i < n; i++) {
        uint64_t wi = (uint64_t)(w[i] / sum * 2147483648.0);
        if (wi == 0)
            wi = 1;
        a->prob[i] = wi * (uint64_t)n; /* bin i's share, in units where a bin holds total */
        a->total += wi;
    }
    /* Vose: fill each small bin from a large one; both lists are stacks
     * pushed in word order, so the table is a function of the counts. */
    int64_t ns = 0, nl = 0;
    for (int64_t i = 0; i < n; i++) {
        a->alias[i] = (int32_t)i;
        if (a->prob[i] < a->total)
            small[ns++] = i;
        else
            large[nl++] = i;
    }
    while (ns > 0 && nl > 0) {
        const int64_t s = small[--ns], l = large[nl - 1];
        a->alias[s] = (int32_t)l;
        a->prob[l] -= a->total - a->prob[s];
        if (a->prob[l] < a->total) {
            nl--;
            small[ns++] = l;
        }
    }
    /* What is left holds exactly a bin (up to the floors' rounding): keep it. */
    while (nl > 0)
        a->prob[large[--nl]] = a->total;
    while (ns > 0)
        a->prob[small[--ns]] = a->total;
    free(small), free(large), free(w);
    return 0;
}

void w2v_alias_free(w2v_alias *a)
{
    free(a->prob);
    free(a->alias);
    a->prob = NULL;
    a->alias = NULL;
}

uint64_t w2v_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3u;
    return h;
}
