/* w2v_train.c - skip-gram with negative sampling, each batch in two
 * phases on embsimd's public ops (docs/word2vec.md "The schedule"):
 *
 *   1. read only, the batch's centers split between the threads: make each
 *      center's targets (its context words and their negatives), fetch the
 *      rows (emb_lookup), score them (emb_scan of the center's row against
 *      its targets' rows), turn the scores into coefficients sigma(x) - label
 *      through the sigmoid table, and sum each center's gradient from its
 *      targets' rows (emb_bag, weighted by the coefficients);
 *   2. write, the table rows split between the threads by a hash of the row:
 *      each thread applies, in token order, the updates of the rows it owns
 *      (emb_bag_update, SGD: the context rows from the center rows weighted
 *      by the coefficients; the center rows from their summed gradients).
 *
 * Phase 1 reads the state before the batch and writes only its own part
 * of the batch's buffers, laid out by center, not by thread; in phase 2
 * every row is updated by one thread, in token order. So the tables do
 * not depend on the thread count, and no two threads write a row. */
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embsimd.h"
#include "w2v_math.h"
#include "w2v_train.h"

/* ---- a barrier that spins a little, then sleeps ---------------------------- */

/* Phases last about a millisecond; a sleeping thread's wake-up costs tens
 * of microseconds, so a waiter first spins a while. It then sleeps rather
 * than spin on: on a loaded machine its spinning would take the CPU the
 * thread it waits for needs. */
typedef struct barrier {
    atomic_int arrived;
    atomic_int generation;
    int n, sleepers;
    pthread_mutex_t lock;
    pthread_cond_t wake;
} barrier;

#define BARRIER_SPINS 500 /* with a pause each: some 5-10 us */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

static void barrier_wait(barrier *b)
{
    const int g = atomic_load(&b->generation);
    if (atomic_fetch_add(&b->arrived, 1) == b->n - 1) {
        atomic_store(&b->arrived, 0);
        pthread_mutex_lock(&b->lock);
        atomic_fetch_add(&b->generation, 1);
        if (b->sleepers > 0)
            pthread_cond_broadcast(&b->wake);
        pthread_mutex_unlock(&b->lock);
        return;
    }
    for (int spins = 0; spins < BARRIER_SPINS; spins++) {
        if (atomic_load(&b->generation) != g)
            return;
        cpu_relax();
    }
    pthread_mutex_lock(&b->lock);
    b->sleepers++;
    while (atomic_load(&b->generation) == g)
        pthread_cond_wait(&b->wake, &b->lock);
    b->sleepers--;
    pthread_mutex_unlock(&b->lock);
}

/* ---- the shared state -------------------------------------------------------- */

/* One thread's phase 1 buffers: its centers' targets, contiguous in center
 * order, and what phase 2 hands the library for the rows it owns. */
typedef struct part {
    int32_t *tgt;      /* targets of the part's centers, in center order */
    uint8_t *label;    /* 1: a context word, 0: a negative */
    float *coef;       /* sigma(score) - label; 0 when |score| >= 6 (no update) */
    float *score;
    float *rows;       /* the targets' context rows (emb_lookup) */
    int32_t *len;      /* targets per center of the part */
    int64_t ntgt;
    int32_t *own_ids;  /* phase 2: this thread's rows' updates, token order */
    float *own_w;
    int32_t *own_len;  /* per center of the whole batch */
    int32_t *own_centers;
    int32_t *own_center_len;
} part;

typedef struct trainer {
    const w2v_corpus *c;
    const w2v_params *p;
    const w2v_hooks *hooks;
    w2v_model *m;
    w2v_tables tab;
    w2v_alias neg;
    uint64_t *keep;    /* per word: kept when 32 random bits < keep[w] (2^32: always) */
    int32_t *iota;     /* 0, 1, 2, ...: emb_bag's ids into a part's fetched rows */
    int64_t per_center; /* the most targets a center can have */
    int64_t group_targets; /* targets fetched at a time: about 128 KiB of rows */
    /* this epoch's subsampled text */
    int32_t *kept;     /* ids */
    int64_t *kept_pos; /* their positions in c->ids: the key of their random streams */
    uint8_t *before, *after; /* context words available on each side, capped at window */
    int64_t nkept;
    /* the batch */
    float *h;          /* batch x dim: the centers' rows */
    float *e;          /* batch x dim: the centers' summed gradients */
    double *loss;      /* per center, summed over its targets in order */
    int32_t *pairs;    /* per center */
    part *parts;
    barrier bar;
    w2v_status st;
} trainer;

typedef struct worker_arg {
    trainer *t;
    int k;
} worker_arg;

/* A library call that fails here is a bug of this file (every input is
 * made valid above), and the other threads wait at a barrier: stop. */
static _Noreturn void fail(const char *what, emb_status s)
{
    fprintf(stderr, "embsimd-word2vec: %s: %s: %s\n", what, emb_strerror(s), emb_last_error());
    exit(3);
}

/* ---- the epoch's text ---------------------------------------------------------- */

/* Subsampling (gensim's rule: keep word w with probability
 * (sqrt(f / t) + 1) t / f, t = sample * words, f its count), drawn from the
 * first number of each position's stream; sentences are the kept words. */
static void subsample(trainer *t, int epoch)
{
    const w2v_corpus *c = t->c;
    const int win = t->p->window;
    t->nkept = 0;
    for (int64_t s = 0; s < c->nsent; s++) {
        const int64_t first = t->nkept;
        for (int64_t i = c->sent[s]; i < c->sent[s + 1]; i++) {
            w2v_rng r = w2v_stream(t->p->seed, epoch, i);
            if ((w2v_next(&r) >> 32) >= t->keep[c->ids[i]])
                continue;
            t->kept[t->nkept] = c->ids[i];
            t->kept_pos[t->nkept++] = i;
        }
        for (int64_t i = first; i < t->nkept; i++) {
            t->before[i] = (uint8_t)(i - first < win ? i - first : win);
            t->after[i] = (uint8_t)(t->nkept - 1 - i < win ? t->nkept - 1 - i : win);
        }
    }
}

/* ---- phase 1: read only ---------------------------------------------------------- */

/* Center g's targets into the part, from its stream (after the keep draw):
 * the reduced window b (1 .. window, as gensim's), then for each context
 * word in position order the word itself and `negative` draws, a draw
 * equal to the context word skipped (word2vec's and gensim's rule). */
static void make_targets(trainer *t, part *pt, int64_t g)
{
    const w2v_params *p = t->p;
    w2v_rng r = w2v_stream(p->seed, t->st.epoch, t->kept_pos[g]);
    (void)w2v_next(&r);
    const int b = 1 + (int)(w2v_next(&r) % (uint64_t)p->window);
    const int lo = b < t->before[g] ? b : t->before[g], hi = b < t->after[g] ? b : t->after[g];
    for (int64_t j = g - lo; j <= g + hi; j++) {
        if (j == g)
            continue;
        const int32_t ctx = t->kept[j];
        pt->tgt[pt->ntgt] = ctx;
        pt->label[pt->ntgt++] = 1;
        for (int n = 0; n < p->negative; n++) {
            const int32_t w = w2v_alias_draw(&t->neg, w2v_next(&r));
            if (w == ctx)
                continue;
            pt->tgt[pt->ntgt] = w;
            pt->label[pt->ntgt++] = 0;
        }
    }
}

static void score_group(trainer *t, part *pt, int64_t i, int64_t j, int64_t a, int64_t off,
                        int64_t n);

/* Centers [a, b) of the batch starting at kept index i0. */
static void phase1(trainer *t, part *pt, int64_t i0, int64_t a, int64_t b)
{
    const int64_t dim = t->m->dim, vocab = t->m->vocab;
    emb_status s;
    pt->ntgt = 0;
    for (int64_t i = a; i < b; i++) {
        const int64_t n0 = pt->ntgt;
        make_targets(t, pt, i0 + i);
        pt->len[i - a] = (int32_t)(pt->ntgt - n0);
    }
    if (b == a)
        return;
    s = emb_lookup(t->m->in, EMB_F32, vocab, dim, t->kept + i0 + a, EMB_I32, b - a, t->h + a * dim,
                   EMB_F32);
    if (s != EMB_OK)
        fail("fetching the center rows", s);
    /* Groups of centers whose fetched rows stay in the L2 cache from the
     * fetch to the scan and the weighted sum. */
    int64_t i = a, off = 0;
    while (i < b) {
        int64_t j = i, n = 0;
        while (j < b && (j == i || n + pt->len[j - a] <= t->group_targets))
            n += pt->len[j++ - a];
        score_group(t, pt, i, j, a, off, n);
        off += n;
        i = j;
    }
}

/* Centers [i, j) of the part starting at center a: their n targets from
 * pt->tgt + off fetched, scored, turned into coefficients and summed. */
static void score_group(trainer *t, part *pt, int64_t i, int64_t j, int64_t a, int64_t off,
                        int64_t n)
{
    const int64_t dim = t->m->dim, vocab = t->m->vocab;
    emb_status s;
    if (n == 0) {
        memset(t->e + i * dim, 0, (size_t)((j - i) * dim) * sizeof(float));
        for (int64_t c = i; c < j; c++)
            t->loss[c] = 0, t->pairs[c] = 0;
        return;
    }
    s = emb_lookup(t->m->out, EMB_F32, vocab, dim, pt->tgt + off, EMB_I32, n, pt->rows, EMB_F32);
    if (s != EMB_OK)
        fail("fetching the target rows", s);
    for (int64_t c = i, q = 0; c < j; c++) {
        const int64_t m = pt->len[c - a];
        double loss = 0;
        int32_t pairs = 0;
        if (m > 0) {
            s = emb_scan(pt->rows + q * dim, EMB_F32, m, dim, t->h + c * dim, EMB_METRIC_DOT,
                         pt->score + off + q);
            if (s != EMB_OK)
                fail("scoring the targets", s);
        }
        for (int64_t k = off + q; k < off + q + m; k++) { /* the loss: in target order */
            const float x = pt->score[k];
            const int lab = pt->label[k];
            const int idx = w2v_table_index(x), mirror = w2v_table_index(-x);
            pt->coef[k] = idx < 0 ? 0.0f : t->tab.sigmoid[idx] - (float)lab;
            /* -ln sigma(x) for a context word, -ln sigma(-x) for a negative;
             * beyond the table, 0 or |x| (off by less than e^-6) */
            const float y = lab ? x : -x;
            const int iy = lab ? idx : mirror;
            loss += iy >= 0 ? t->tab.nlogsig[iy] : y > 0 ? 0.0 : -(double)y;
            pairs += lab;
        }
        t->loss[c] = loss;
        t->pairs[c] = pairs;
        q += m;
    }
    emb_bags bags = {j - i, NULL, pt->len + (i - a), EMB_I32, 0, pt->coef + off, EMB_NO_PADDING};
    s = emb_bag(pt->rows, EMB_F32, n, dim, t->iota, EMB_I32, n, &bags, EMB_BAG_SUM, t->e + i * dim,
                NULL);
    if (s != EMB_OK)
        fail("summing the center gradients", s);
}

/* ---- phase 2: each thread its own rows ----------------------------------------------- */

/* The thread that owns row r in phase 2: a multiplicative hash spread
 * over the threads (no division on the per-target path). */
static inline int owner(int32_t r, int T)
{
    return (int)(((uint64_t)((uint32_t)r * 2654435761u) * (uint64_t)T) >> 32);
}

static void phase2(trainer *t, int k, int64_t i0, int64_t nb, const int64_t *split, float alpha)
{
    const int T = t->p->threads;
    const int64_t dim = t->m->dim, vocab = t->m->vocab;
    part *me = &t->parts[k];
    int64_t n_own = 0, n_cent = 0;
    /* The parts in thread order are the batch in center order. */
    for (int j = 0; j < T; j++) {
        const part *pt = &t->parts[j];
        int64_t off = 0;
        for (int64_t i = split[j]; i < split[j + 1]; i++) {
            int32_t mine = 0;
            for (int64_t q = off; q < off + pt->len[i - split[j]]; q++)
                if (pt->coef[q] != 0.0f && owner(pt->tgt[q], T) == k) {
                    me->own_ids[n_own] = pt->tgt[q];
                    me->own_w[n_own++] = pt->coef[q];
                    mine++;
                }
            me->own_len[i] = mine;
            off += pt->len[i - split[j]];
        }
    }
    for (int64_t i = 0; i < nb; i++) {
        const int mine = owner(t->kept[i0 + i], T) == k;
        me->own_center_len[i] = mine;
        if (mine)
            me->own_centers[n_cent++] = t->kept[i0 + i];
    }
    /* SGD: W = fmaf(-alpha, g, W), g = coef * center row (context rows) or
     * the summed gradient (center rows). */
    const emb_step step = {EMB_OPT_SGD, alpha, 0.0f, NULL, 0};
    emb_status s;
    if (n_own > 0) {
        emb_bags bags = {nb, NULL, me->own_len, EMB_I32, 0, me->own_w, EMB_NO_PADDING};
        s = emb_bag_update(t->m->out, EMB_F32, vocab, dim, me->own_ids, EMB_I32, n_own, &bags,
                           EMB_BAG_SUM, t->h, &step);
        if (s != EMB_OK)
            fail("updating the context rows", s);
    }
    if (n_cent > 0) {
        emb_bags bags = {nb, NULL, me->own_center_len, EMB_I32, 0, NULL, EMB_NO_PADDING};
        s = emb_bag_update(t->m->in, EMB_F32, vocab, dim, me->own_centers, EMB_I32, n_cent, &bags,
                           EMB_BAG_SUM, t->e, &step);
        if (s != EMB_OK)
            fail("updating the center rows", s);
    }
}

/* ---- the loop, run by every thread -------------------------------------------------- */

static float alpha_at(const trainer *t, int epoch, int64_t pos)
{
    /* Linear in the corpus words behind us, as gensim's per-job rate. */
    const double total = (double)t->p->epochs * (double)t->c->nids;
    const double done = (double)epoch * (double)t->c->nids + (double)pos;
    const double a = t->p->alpha - (t->p->alpha - t->p->min_alpha) * (done / total);
    return (float)(a > t->p->min_alpha ? a : t->p->min_alpha);
}

static void *run(void *arg)
{
    trainer *t = ((worker_arg *)arg)->t;
    const int k = ((worker_arg *)arg)->k, T = t->p->threads;
    int64_t split[EMB_MAX_THREADS + 1];
    for (int epoch = 0; epoch < t->p->epochs; epoch++) {
        if (k == 0) {
            subsample(t, epoch);
            t->st = (w2v_status){epoch, 0, t->nkept, (int64_t)epoch * t->c->nids, 0, 0, 0};
        }
        barrier_wait(&t->bar);
        for (int64_t i0 = 0; i0 < t->nkept; i0 += t->p->batch) {
            const int64_t nb = t->nkept - i0 < t->p->batch ? t->nkept - i0 : t->p->batch;
            for (int j = 0; j <= T; j++)
                split[j] = nb * j / T;
            const float alpha = alpha_at(t, epoch, t->kept_pos[i0]);
            phase1(t, &t->parts[k], i0, split[k], split[k + 1]);
            barrier_wait(&t->bar);
            phase2(t, k, i0, nb, split, alpha);
            if (k == 0) { /* the loss in center order: the same sum for any thread count */
                for (int64_t i = 0; i < nb; i++) {
                    t->st.loss += t->loss[i];
                    t->st.pairs += t->pairs[i];
                }
                t->st.done = i0 + nb;
                t->st.alpha = alpha;
                const int64_t next = i0 + nb < t->nkept ? t->kept_pos[i0 + nb] : t->c->nids;
                t->st.words = (int64_t)epoch * t->c->nids + next;
            }
            barrier_wait(&t->bar);
            if (k == 0 && t->hooks && t->hooks->batch)
                t->hooks->batch(t->hooks->ctx, &t->st);
        }
        if (k == 0 && t->hooks && t->hooks->epoch)
            t->hooks->epoch(t->hooks->ctx, &t->st, t->m);
        barrier_wait(&t->bar);
    }
    return NULL;
}

/* ---- set-up ---------------------------------------------------------------------- */

static void trainer_free(trainer *t)
{
    if (t->parts != NULL)
        for (int k = 0; k < t->p->threads; k++) {
            part *pt = &t->parts[k];
            free(pt->tgt), free(pt->label), free(pt->coef), free(pt->score), free(pt->rows);
            free(pt->len), free(pt->own_ids), free(pt->own_w), free(pt->own_len);
            free(pt->own_centers), free(pt->own_center_len);
        }
    free(t->parts);
    w2v_alias_free(&t->neg);
    free(t->keep), free(t->iota), free(t->kept), free(t->kept_pos), free(t->before);
    free(t->after), free(t->h), free(t->e), free(t->loss), free(t->pairs);
}

static int trainer_alloc(trainer *t)
{
    const w2v_params *p = t->p;
    const int64_t V = t->c->vocab, N = t->c->nids, B = p->batch, dim = p->dim;
    t->per_center = 2 * (int64_t)p->window * (1 + (int64_t)p->negative);
    const int64_t cap = ((B + p->threads - 1) / p->threads) * t->per_center; /* one part's targets */
    t->group_targets = (int64_t)(128 * 1024 / sizeof(float)) / dim;
    if (t->group_targets < t->per_center)
        t->group_targets = t->per_center;
    const int64_t group = t->group_targets;
    const int64_t all = B * t->per_center; /* phase 2: a thread may own every target */
    t->keep = malloc((size_t)V * sizeof *t->keep);
    t->iota = malloc((size_t)group * sizeof *t->iota);
    t->kept = malloc((size_t)N * sizeof *t->kept);
    t->kept_pos = malloc((size_t)N * sizeof *t->kept_pos);
    t->before = malloc((size_t)N);
    t->after = malloc((size_t)N);
    t->h = malloc((size_t)(B * dim) * sizeof *t->h);
    t->e = malloc((size_t)(B * dim) * sizeof *t->e);
    t->loss = malloc((size_t)B * sizeof *t->loss);
    t->pairs = malloc((size_t)B * sizeof *t->pairs);
    t->parts = calloc((size_t)p->threads, sizeof *t->parts);
    if (!t->keep || !t->iota || !t->kept || !t->kept_pos || !t->before || !t->after || !t->h ||
        !t->e || !t->loss || !t->pairs || !t->parts)
        return -1;
    for (int k = 0; k < p->threads; k++) {
        part *pt = &t->parts[k];
        pt->tgt = malloc((size_t)cap * sizeof *pt->tgt);
        pt->label = malloc((size_t)cap);
        pt->coef = malloc((size_t)cap * sizeof *pt->coef);
        pt->score = malloc((size_t)cap * sizeof *pt->score);
        pt->rows = malloc((size_t)(group * dim) * sizeof *pt->rows);
        pt->len = malloc((size_t)B * sizeof *pt->len);
        pt->own_ids = malloc((size_t)all * sizeof *pt->own_ids);
        pt->own_w = malloc((size_t)all * sizeof *pt->own_w);
        pt->own_len = malloc((size_t)B * sizeof *pt->own_len);
        pt->own_centers = malloc((size_t)B * sizeof *pt->own_centers);
        pt->own_center_len = malloc((size_t)B * sizeof *pt->own_center_len);
        if (!pt->tgt || !pt->label || !pt->coef || !pt->score || !pt->rows || !pt->len ||
            !pt->own_ids || !pt->own_w || !pt->own_len || !pt->own_centers || !pt->own_center_len)
            return -1;
    }
    for (int64_t i = 0; i < group; i++)
        t->iota[i] = (int32_t)i;
    return w2v_alias_init(&t->neg, t->c->count, V);
}

int w2v_train(w2v_model *m, const w2v_corpus *c, const w2v_params *p, const w2v_hooks *hooks,
              char *err, size_t errlen)
{
    trainer t;
    memset(&t, 0, sizeof t);
    t.c = c, t.p = p, t.hooks = hooks, t.m = m;
    m->vocab = c->vocab;
    m->dim = p->dim;
    m->in = malloc((size_t)(c->vocab * p->dim) * sizeof *m->in);
    m->out = calloc((size_t)(c->vocab * p->dim), sizeof *m->out);
    if (m->in == NULL || m->out == NULL || trainer_alloc(&t) != 0) {
        snprintf(err, errlen, "out of memory (vocabulary %lld x dim %lld, batch %lld)",
                 (long long)c->vocab, (long long)p->dim, (long long)p->batch);
        trainer_free(&t);
        w2v_model_free(m);
        return -1;
    }
    emb_status s = emb_init(m->in, EMB_F32, 0, c->vocab, p->dim, EMB_INIT_UNIFORM,
                            0.5f / (float)p->dim, p->seed);
    if (s != EMB_OK) {
        snprintf(err, errlen, "emb_init: %s", emb_last_error());
        trainer_free(&t);
        w2v_model_free(m);
        return -1;
    }
    w2v_tables_init(&t.tab);
    const double thr = p->sample * (double)c->nids;
    for (int64_t w = 0; w < c->vocab; w++) {
        const double f = (double)c->count[w];
        const double keep = p->sample > 0 ? (sqrt(f / thr) + 1) * (thr / f) : 1;
        t.keep[w] = keep >= 1 ? (uint64_t)1 << 32 : (uint64_t)(keep * 4294967296.0);
    }
    /* The library's own threads stay off: this loop's threads split the work. */
    emb_set_num_threads(1);
    t.bar.n = p->threads;
    pthread_mutex_init(&t.bar.lock, NULL);
    pthread_cond_init(&t.bar.wake, NULL);
    if (hooks && hooks->epoch) {
        t.st = (w2v_status){-1, 0, 0, 0, p->alpha, 0, 0};
        hooks->epoch(hooks->ctx, &t.st, m);
    }
    pthread_t tid[EMB_MAX_THREADS];
    worker_arg args[EMB_MAX_THREADS];
    for (int k = 0; k < p->threads; k++)
        args[k] = (worker_arg){&t, k};
    for (int k = 1; k < p->threads; k++)
        if (pthread_create(&tid[k], NULL, run, &args[k]) != 0) {
            snprintf(err, errlen, "cannot start thread %d of %d", k + 1, p->threads);
            fprintf(stderr, "embsimd-word2vec: %s\n", err);
            exit(3); /* the threads started wait for it at a barrier */
        }
    run(&args[0]);
    for (int k = 1; k < p->threads; k++)
        pthread_join(tid[k], NULL);
    trainer_free(&t);
    return 0;
}

void w2v_model_free(w2v_model *m)
{
    free(m->in);
    free(m->out);
    m->in = m->out = NULL;
}
