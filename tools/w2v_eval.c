/* w2v_eval.c - word classes, their cosines, and writing a table file. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "embsimd.h"
#include "w2v_eval.h"
#include "w2v_math.h"

/* "may" and "march" are left out of the months: as a verb they are far
 * more frequent than as months in any English text. */
static const char *const days[] = {"monday", "tuesday", "wednesday", "thursday", "friday",
                                   "saturday", "sunday", NULL};
static const char *const months[] = {"january", "february", "april", "june", "july", "august",
                                     "september", "october", "november", "december", NULL};
static const char *const numbers[] = {"one", "two", "three", "four", "five", "six", "seven",
                                      "eight", "nine", "ten", "eleven", "twelve", "twenty",
                                      "hundred", "thousand", NULL};
static const char *const colours[] = {"red", "green", "blue", "yellow", "black", "white",
                                      "brown", "purple", "orange", "gray", "pink", "violet",
                                      "scarlet", NULL};
static const char *const pronouns[] = {"he", "she", "it", "they", "we", "you", "him", "her",
                                       "them", "us", "me", "his", "their", "our", NULL};
static const char *const family[] = {"father", "mother", "brother", "sister", "son", "daughter",
                                     "uncle", "aunt", "nephew", "niece", "wife", "husband", NULL};
static const char *const animals[] = {"horse", "dog", "cat", "cow", "sheep", "goat", "pig",
                                      "wolf", "fox", "deer", "lion", "bear", NULL};

static const struct {
    const char *name;
    const char *const *words;
} classes[W2V_NCLASSES] = {{"days", days},         {"months", months}, {"numbers", numbers},
                           {"colours", colours},   {"pronouns", pronouns},
                           {"family", family},     {"animals", animals}};

const char *w2v_class_name(int k)
{
    return k >= 0 && k < W2V_NCLASSES ? classes[k].name : NULL;
}

const char *const *w2v_class_words(int k)
{
    return k >= 0 && k < W2V_NCLASSES ? classes[k].words : NULL;
}

static double cosine(const float *x, const float *y, int64_t dim)
{
    double xy = 0, xx = 0, yy = 0; /* in column order */
    for (int64_t j = 0; j < dim; j++) {
        xy += (double)x[j] * y[j];
        xx += (double)x[j] * x[j];
        yy += (double)y[j] * y[j];
    }
    return xx > 0 && yy > 0 ? xy / (sqrt(xx) * sqrt(yy)) : 0;
}

void w2v_classes_measure(w2v_classes *r, const w2v_corpus *c, const float *table, int64_t dim)
{
    double all = 0;
    int64_t nall = 0;
    for (int k = 0; k < W2V_NCLASSES; k++) {
        int32_t id[32];
        int n = 0;
        for (const char *const *w = classes[k].words; *w != NULL && n < 32; w++)
            if ((id[n] = w2v_corpus_find(c, *w)) >= 0)
                n++;
        double sum = 0;
        int64_t pairs = 0;
        for (int i = 0; i < n; i++) /* pairs (i, j), i < j, in list order */
            for (int j = i + 1; j < n; j++, pairs++)
                sum += cosine(table + id[i] * dim, table + id[j] * dim, dim);
        r->words[k] = n;
        r->within[k] = pairs > 0 ? sum / (double)pairs : NAN;
        all += sum;
        nall += pairs;
    }
    r->all_within = nall > 0 ? all / (double)nall : NAN;
    /* Random pairs of distinct words among the 10000 most frequent, from a
     * fixed stream: the same pairs for every table of the same corpus. */
    const int64_t top = c->vocab < 10000 ? c->vocab : 10000;
    w2v_rng rng = {0x5eedc1a55e5u};
    double sum = 0;
    int64_t pairs = 0;
    for (int i = 0; i < W2V_RANDOM_PAIRS && top > 1; i++) {
        const int64_t a = (int64_t)(w2v_next(&rng) % (uint64_t)top);
        const int64_t b = (int64_t)(w2v_next(&rng) % (uint64_t)top);
        if (a == b)
            continue;
        sum += cosine(table + a * dim, table + b * dim, dim);
        pairs++;
    }
    r->random = pairs > 0 ? sum / (double)pairs : NAN;
}

void w2v_classes_print(FILE *f, const w2v_classes *r)
{
    fprintf(f, "within %.4f random %.4f |", r->all_within, r->random);
    for (int k = 0; k < W2V_NCLASSES; k++)
        fprintf(f, " %s %.4f", classes[k].name, r->within[k]);
    fputc('\n', f);
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

int w2v_write_table(const char *path, const w2v_corpus *c, const float *table, int64_t dim,
                    const char *description)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    uint64_t vbytes = 0;
    for (int64_t v = 0; v < c->vocab; v++)
        vbytes += strlen(c->words[v]) + 1;
    unsigned char h[128] = {0};
    memcpy(h, "EMBTAB1\n", 8);
    put_le(h + 8, EMB_F32, 4);
    put_le(h + 16, (uint64_t)c->vocab, 8);
    put_le(h + 24, (uint64_t)dim, 8);
    put_le(h + 32, vbytes, 8);
    char d[89];
    snprintf(d, sizeof d, "%s", description); /* cut at 88 bytes */
    memcpy(h + 40, d, strlen(d));
    int ok = fwrite(h, 1, sizeof h, f) == sizeof h;
    /* The rows in the host's byte order: little-endian on x86-64 and AArch64,
     * the format's order. */
    ok = ok && fwrite(table, sizeof(float) * (size_t)dim, (size_t)c->vocab, f) == (size_t)c->vocab;
    for (int64_t v = 0; ok && v < c->vocab; v++)
        ok = fputs(c->words[v], f) >= 0 && fputc('\n', f) != EOF;
    if (fclose(f) != 0)
        ok = 0;
    return ok ? 0 : -1;
}
