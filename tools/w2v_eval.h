/* w2v_eval.h - how close similar words sit in a table: the mean cosine
 * within fixed word classes against random pairs (docs/word2vec.md
 * "Word classes"), and the table files embsimd-similar reads. */
#ifndef W2V_EVAL_H
#define W2V_EVAL_H

#include <stdint.h>
#include <stdio.h>

#include "w2v_corpus.h"

#define W2V_NCLASSES 7

typedef struct w2v_classes {
    double within[W2V_NCLASSES]; /* mean cosine over the pairs of each class; NaN: < 2 words */
    int words[W2V_NCLASSES];     /* the class's words in the vocabulary */
    double all_within;           /* over every class's pairs together */
    double random;               /* over W2V_RANDOM_PAIRS random pairs of frequent words */
} w2v_classes;

#define W2V_RANDOM_PAIRS 2000

const char *w2v_class_name(int k);
/* The class's words, NULL-terminated. */
const char *const *w2v_class_words(int k);

/* Cosines in double of the float rows, the sums in a written order. */
void w2v_classes_measure(w2v_classes *r, const w2v_corpus *c, const float *table, int64_t dim);

/* One line: "within 0.412 random 0.031 | days 0.52 months 0.47 ...". */
void w2v_classes_print(FILE *f, const w2v_classes *r);

/* Writes table (vocab x dim fp32) with the corpus's words in the EMBTAB1
 * format of embsimd-similar (tools/embsimd_similar.c). 0 or -1 (errno). */
int w2v_write_table(const char *path, const w2v_corpus *c, const float *table, int64_t dim,
                    const char *description);

#endif /* W2V_EVAL_H */
