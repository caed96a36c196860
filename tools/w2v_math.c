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
    a->bin = malloc((size_t)n * sizeof *a->bin);
    uint64_t *prob = malloc((size_t)n * sizeof *prob);
    int64_t *small = malloc((size_t)n * sizeof *small), *large = malloc((size_t)n * sizeof *large);
    double *w = malloc((size_t)n * sizeof *w);
    if (a->bin == NULL || prob == NULL || small == NULL || large == NULL || w == NULL) {
        free(prob), free(small), free(large), free(w);
        w2v_alias_free(a);
        return -1;
    }
    double sum = 0;
    for (int64_t i = 0; i < n; i++) { /* summed in word order */
        const double c = (double)count[i];
        w[i] = sqrt(c) * sqrt(sqrt(c));
        sum += w[i];
    }
    /* Integer weights (floor, at least 1) summing to total <= 2^31 + n, so
     * that a bin's share below (at most total) shifted left by 32 fits. */
    uint64_t total = 0;
    for (int64_t i = 0; i < n; i++) {
        uint64_t wi = (uint64_t)(w[i] / sum * 2147483648.0);
        if (wi == 0)
            wi = 1;
        prob[i] = wi * (uint64_t)n; /* bin i's share, in units where a bin holds total */
        total += wi;
    }
    /* Vose: fill each small bin from a large one; both lists are stacks
     * pushed in word order, so the table is a function of the counts. */
    int64_t ns = 0, nl = 0;
    for (int64_t i = 0; i < n; i++) {
        a->bin[i].alias = (int32_t)i;
        if (prob[i] < total)
            small[ns++] = i;
        else
            large[nl++] = i;
    }
    while (ns > 0 && nl > 0) {
        const int64_t s = small[--ns], l = large[nl - 1];
        a->bin[s].alias = (int32_t)l;
        prob[l] -= total - prob[s];
        if (prob[l] < total) {
            nl--;
            small[ns++] = l;
        }
    }
    /* Exact integers: what is left holds exactly a bin. */
    while (nl > 0)
        prob[large[--nl]] = total;
    while (ns > 0)
        prob[small[--ns]] = total;
    /* In 32-bit units: keep = floor(share * 2^32 / total); a full bin
     * (2^32) is its own alias, so capping it at 2^32 - 1 changes nothing. */
    for (int64_t i = 0; i < n; i++) {
        const uint64_t k = (prob[i] << 32) / total;
        a->bin[i].keep = k > 0xffffffffu ? 0xffffffffu : (uint32_t)k;
        if (prob[i] == total)
            a->bin[i].alias = (int32_t)i;
    }
    free(prob), free(small), free(large), free(w);
    return 0;
}

void w2v_alias_free(w2v_alias *a)
{
    free(a->bin);
    a->bin = NULL;
}

uint64_t w2v_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3u;
    return h;
}
