/* w2v_train.h - skip-gram with negative sampling on embsimd's ops, in
 * batches whose result does not depend on the thread count
 * (docs/word2vec.md "The schedule"). */
#ifndef W2V_TRAIN_H
#define W2V_TRAIN_H

#include <stdint.h>

#include "w2v_corpus.h"

typedef struct w2v_params {
    int64_t dim;       /* columns of both tables */
    int window;        /* the largest distance of a context word, 1 .. 64 */
    int negative;      /* negative words per (center, context) pair */
    int epochs;
    double sample;     /* the subsampling threshold (gensim's sample); 0: none */
    float alpha;       /* the first learning rate, decreasing linearly ... */
    float min_alpha;   /* ... to this at the end of the last epoch */
    int64_t batch;     /* centers per batch: every update of a batch uses the state before it */
    int threads;       /* the tool's threads; never changes a bit of the result */
    uint64_t seed;
} w2v_params;

typedef struct w2v_model {
    int64_t vocab, dim;
    float *in;  /* vocab x dim: the word vectors, written out */
    float *out; /* vocab x dim: the context vectors negative sampling trains alongside */
} w2v_model;

/* Where training stands, for the progress line and the epoch report. */
typedef struct w2v_status {
    int epoch;         /* 0-based: the epoch running, or just finished */
    int64_t done;      /* centers of this epoch's subsampled text done */
    int64_t centers;   /* centers this epoch (after subsampling) */
    int64_t words;     /* corpus words (in the vocabulary) of this epoch behind us */
    float alpha;       /* the learning rate of the last batch */
    double loss;       /* this epoch's loss so far: sum over pairs of -ln sigma(+-x . y) */
    int64_t pairs;     /* this epoch's (center, context) pairs so far */
} w2v_status;

typedef struct w2v_hooks {
    void *ctx;
    /* After each batch, on the first thread (keep it cheap). */
    void (*batch)(void *ctx, const w2v_status *s);
    /* Before the first epoch (epoch = -1) and after each epoch, with the
     * other threads waiting: the tables may be read. */
    void (*epoch)(void *ctx, const w2v_status *s, const w2v_model *m);
} w2v_hooks;

/* Allocates and initialises m (emb_init: uniform on +-0.5 / dim, the seed;
 * the context table zero, as word2vec and gensim do), then trains.
 * Returns 0, or -1 with the reason in err. */
int w2v_train(w2v_model *m, const w2v_corpus *c, const w2v_params *p, const w2v_hooks *hooks,
              char *err, size_t errlen);
void w2v_model_free(w2v_model *m);

#endif /* W2V_TRAIN_H */
