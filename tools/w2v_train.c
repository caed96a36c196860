/* w2v_train.c - skip-gram with negative sampling, each batch in two
 * phases on embsimd's public ops (docs/word2vec.md "The schedule"):
 *
 *   1. read only, one job per chunk of centers: make each
 *      center's targets (its context words and their negatives), fetch the
 *      rows (emb_lookup), score them (emb_scan of the center's row against
 *      its targets' rows), turn the scores into coefficients sigma(x) - label
 *      through the sigmoid table, sum each center's gradient from its
 *      targets' rows (emb_bag, weighted by the coefficients), and sort the
 *      updates by the row group of their row (stable: token order kept);
 *   2. write, one job per row group (a fixed hash of the row id): apply, in
 *      token order, the updates of the group's rows (emb_bag_update, SGD:
 *      the context rows from the center rows weighted by the coefficients;
 *      the center rows from their summed gradients).
 *
 * Phase 1 reads the state before the batch and writes only its chunk's
 * buffers; in phase 2 every row is updated by one job, in token order. The
 * jobs are claimed by whichever thread is free (tools/w2v_jobs.c): which
 * thread ran a job never shows in the tables, and no two threads write a
 * row or read one being written. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embsimd.h"
#include "w2v_jobs.h"
#include "w2v_math.h"
#include "w2v_train.h"

/* Centers per phase 1 job and row groups (phase 2 jobs) per batch. Neither
 * changes a bit of the result (a center's arithmetic does not depend on
 * its chunk, nor a row's order of updates on its group), so they follow
 * the thread count: one of each on one thread (two library calls a batch
 * in phase 2), else chunks of 16 centers and 4 row groups a thread. */
#define W2V_CHUNK 16
#define W2V_MAX_GROUPS 64

/* Phase 1's output for one chunk of the batch's centers. */
typedef struct chunk {
    int32_t *tgt;      /* targets of the chunk's centers, in center order */
    uint8_t *label;    /* 1: a context word, 0: a negative */
    float *coef;       /* sigma(score) - label; 0 when |score| >= 6 (no update) */
    float *score;
    int32_t *len;      /* targets per center */
    int64_t ncenters, ntgt;
    /* the updates (coef != 0) by row group, token order within a group */
    int32_t *g_ids;
    float *g_w;
    int32_t *g_center; /* the center's index in the batch */
    int64_t g_off[W2V_MAX_GROUPS + 1];
} chunk;

/* One thread's working memory. */
typedef struct scratch {
    float *rows;       /* a group of fetched target rows */
    int32_t *own_ids;  /* phase 2: a row group's updates, token order */
    float *own_w;
    int32_t *own_len;  /* per center of the batch */
    int32_t *own_centers;
    int32_t *own_center_len;
} scratch;

typedef struct trainer {
    const w2v_corpus *c;
    const w2v_params *p;
    const w2v_hooks *hooks;
    w2v_model *m;
    w2v_tables tab;
    w2v_alias neg;
    uint64_t *keep;    /* per word: kept when 32 random bits < keep[w] (2^32: always) */
    int32_t *iota;     /* 0, 1, 2, ...: emb_bag's ids into the fetched rows */
    int64_t per_center; /* the most targets a center can have */
    int64_t group_targets; /* targets fetched at a time: about 128 KiB of rows */
    /* this epoch's subsampled text */
    int32_t *kept;     /* ids */
    int64_t *kept_pos; /* their positions in c->ids: the key of their random streams */
    uint8_t *before, *after; /* context words available on each side, capped at window */
    int64_t nkept;
    /* the batch */
    int64_t i0, nb;    /* its first center (kept index) and its size */
    int nchunks;
    int64_t chunk_centers; /* centers per chunk */
    int ngroups;       /* row groups */
    float alpha;
    float *h;          /* batch x dim: the centers' rows */
    float *e;          /* batch x dim: the centers' summed gradients */
    double *loss;      /* per center, summed over its targets in order */
    int32_t *pairs;    /* per center */
    chunk *chunks;
    scratch *scratch;
    w2v_status st;
} trainer;

/* A library call that fails here is a bug of this file (every input is
 * made valid above), and other threads are in the middle of a phase: stop. */
static _Noreturn void fail(const char *what, emb_status s)
{
    fprintf(stderr, "embsimd-word2vec: %s: %s: %s\n", what, emb_strerror(s), emb_last_error());
    exit(3);
}

/* The row group of row r of n: a multiplicative hash (no division per
 * target). */
static inline int row_group(int32_t r, int n)
{
    return (int)(((uint64_t)((uint32_t)r * 2654435761u) * (uint64_t)n) >> 32);
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

/* Center g's targets into the chunk, from its stream (after the keep draw):
 * the reduced window b (1 .. window, as gensim's), then for each context
 * word in position order the word itself and `negative` draws, a draw
 * equal to the context word skipped (word2vec's and gensim's rule). */
static void make_targets(trainer *t, chunk *pt, int64_t g)
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

/* Centers [i, j) of the chunk starting at center a: their n targets from
 * pt->tgt + off fetched, scored, turned into coefficients and summed. */
static void score_group(trainer *t, chunk *pt, scratch *sc, int64_t i, int64_t j, int64_t a, int64_t off,
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
    s = emb_lookup(t->m->out, EMB_F32, vocab, dim, pt->tgt + off, EMB_I32, n, sc->rows, EMB_F32);
    if (s != EMB_OK)
        fail("fetching the target rows", s);
    for (int64_t c = i, q = 0; c < j; c++) {
        const int64_t m = pt->len[c - a];
        double loss = 0;
        int32_t pairs = 0;
        if (m > 0) {
            s = emb_scan(sc->rows + q * dim, EMB_F32, m, dim, t->h + c * dim, EMB_METRIC_DOT,
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
    s = emb_bag(sc->rows, EMB_F32, n, dim, t->iota, EMB_I32, n, &bags, EMB_BAG_SUM, t->e + i * dim,
                NULL);
    if (s != EMB_OK)
        fail("summing the center gradients", s);
}

/* Phase 1, chunk c of the batch. */
static void phase1(void *ctx, int k, int c)
{
    trainer *t = ctx;
    chunk *ch = &t->chunks[c];
    scratch *sc = &t->scratch[k];
    const int64_t dim = t->m->dim, vocab = t->m->vocab, i0 = t->i0;
    const int64_t a = (int64_t)c * t->chunk_centers;
    const int64_t b = a + t->chunk_centers < t->nb ? a + t->chunk_centers : t->nb;
    ch->ntgt = 0;
    ch->ncenters = b - a;
    for (int64_t i = a; i < b; i++) {
        const int64_t n0 = ch->ntgt;
        make_targets(t, ch, i0 + i);
        ch->len[i - a] = (int32_t)(ch->ntgt - n0);
    }
    emb_status s = emb_lookup(t->m->in, EMB_F32, vocab, dim, t->kept + i0 + a, EMB_I32, b - a,
                              t->h + a * dim, EMB_F32);
    if (s != EMB_OK)
        fail("fetching the center rows", s);
    /* Groups of centers whose fetched rows stay in the L2 cache from the
     * fetch to the scan and the weighted sum. */
    int64_t i = a, off = 0;
    while (i < b) {
        int64_t j = i, n = 0;
        while (j < b && (j == i || n + ch->len[j - a] <= t->group_targets))
            n += ch->len[j++ - a];
        score_group(t, ch, sc, i, j, a, off, n);
        off += n;
        i = j;
    }
    /* The updates by row group: a stable counting sort (one group: phase 2
     * reads the chunk as it is). */
    const int ng = t->ngroups;
    if (ng == 1)
        return;
    int64_t count[W2V_MAX_GROUPS] = {0};
    for (int64_t q = 0; q < ch->ntgt; q++)
        if (ch->coef[q] != 0.0f)
            count[row_group(ch->tgt[q], ng)]++;
    ch->g_off[0] = 0;
    for (int g = 0; g < ng; g++)
        ch->g_off[g + 1] = ch->g_off[g] + count[g];
    int64_t at[W2V_MAX_GROUPS];
    memcpy(at, ch->g_off, (size_t)ng * sizeof *at);
    for (int64_t q = 0, ci = a, left = ch->len[0]; q < ch->ntgt; q++) {
        while (left == 0)
            left = ch->len[++ci - a];
        left--;
        if (ch->coef[q] == 0.0f)
            continue;
        const int64_t d = at[row_group(ch->tgt[q], ng)]++;
        ch->g_ids[d] = ch->tgt[q];
        ch->g_w[d] = ch->coef[q];
        ch->g_center[d] = (int32_t)ci;
    }
}

/* ---- phase 2: one row group -------------------------------------------------------- */

static void phase2(void *ctx, int k, int g)
{
    trainer *t = ctx;
    scratch *sc = &t->scratch[k];
    const int64_t dim = t->m->dim, vocab = t->m->vocab, nb = t->nb;
    int64_t n_own = 0, n_cent = 0;
    memset(sc->own_len, 0, (size_t)nb * sizeof *sc->own_len);
    /* The chunks in order are the batch in token order. */
    for (int c = 0; c < t->nchunks; c++) {
        const chunk *ch = &t->chunks[c];
        if (t->ngroups > 1) {
            for (int64_t q = ch->g_off[g]; q < ch->g_off[g + 1]; q++) {
                sc->own_ids[n_own] = ch->g_ids[q];
                sc->own_w[n_own++] = ch->g_w[q];
                sc->own_len[ch->g_center[q]]++;
            }
            continue;
        }
        for (int64_t i = 0, q = 0; i < ch->ncenters; i++) /* one group: every update */
            for (const int64_t end = q + ch->len[i]; q < end; q++)
                if (ch->coef[q] != 0.0f) {
                    sc->own_ids[n_own] = ch->tgt[q];
                    sc->own_w[n_own++] = ch->coef[q];
                    sc->own_len[(int64_t)c * t->chunk_centers + i]++;
                }
    }
    for (int64_t i = 0; i < nb; i++) {
        const int mine = row_group(t->kept[t->i0 + i], t->ngroups) == g;
        sc->own_center_len[i] = mine;
        if (mine)
            sc->own_centers[n_cent++] = t->kept[t->i0 + i];
    }
    /* SGD: W = fmaf(-alpha, g, W), g = coef * center row (context rows) or
     * the summed gradient (center rows). */
    const emb_step step = {EMB_OPT_SGD, t->alpha, 0.0f, NULL, 0};
    emb_status s;
    if (n_own > 0) {
        emb_bags bags = {nb, NULL, sc->own_len, EMB_I32, 0, sc->own_w, EMB_NO_PADDING};
        s = emb_bag_update(t->m->out, EMB_F32, vocab, dim, sc->own_ids, EMB_I32, n_own, &bags,
                           EMB_BAG_SUM, t->h, &step);
        if (s != EMB_OK)
            fail("updating the context rows", s);
    }
    if (n_cent > 0) {
        emb_bags bags = {nb, NULL, sc->own_center_len, EMB_I32, 0, NULL, EMB_NO_PADDING};
        s = emb_bag_update(t->m->in, EMB_F32, vocab, dim, sc->own_centers, EMB_I32, n_cent, &bags,
                           EMB_BAG_SUM, t->e, &step);
        if (s != EMB_OK)
            fail("updating the center rows", s);
    }
}

/* ---- the loop ---------------------------------------------------------------------- */

static float alpha_at(const trainer *t, int epoch, int64_t pos)
{
    /* Linear in the corpus words behind us, as gensim's per-job rate. */
    const double total = (double)t->p->epochs * (double)t->c->nids;
    const double done = (double)epoch * (double)t->c->nids + (double)pos;
    const double a = t->p->alpha - (t->p->alpha - t->p->min_alpha) * (done / total);
    return (float)(a > t->p->min_alpha ? a : t->p->min_alpha);
}

static void train_epochs(trainer *t, w2v_jobs *jobs)
{
    for (int epoch = 0; epoch < t->p->epochs; epoch++) {
        subsample(t, epoch);
        t->st = (w2v_status){epoch, 0, t->nkept, (int64_t)epoch * t->c->nids, 0, 0, 0};
        for (int64_t i0 = 0; i0 < t->nkept; i0 += t->p->batch) {
            t->i0 = i0;
            t->nb = t->nkept - i0 < t->p->batch ? t->nkept - i0 : t->p->batch;
            t->nchunks = (int)((t->nb + t->chunk_centers - 1) / t->chunk_centers);
            t->alpha = alpha_at(t, epoch, t->kept_pos[i0]);
            w2v_jobs_run(jobs, phase1, t->nchunks);
            w2v_jobs_run(jobs, phase2, t->ngroups);
            for (int64_t i = 0; i < t->nb; i++) { /* the loss in center order */
                t->st.loss += t->loss[i];
                t->st.pairs += t->pairs[i];
            }
            t->st.done = i0 + t->nb;
            t->st.alpha = t->alpha;
            const int64_t next = i0 + t->nb < t->nkept ? t->kept_pos[i0 + t->nb] : t->c->nids;
            t->st.words = (int64_t)epoch * t->c->nids + next;
            if (t->hooks && t->hooks->batch)
                t->hooks->batch(t->hooks->ctx, &t->st);
        }
        if (t->hooks && t->hooks->epoch)
            t->hooks->epoch(t->hooks->ctx, &t->st, t->m);
    }
}

/* ---- set-up ---------------------------------------------------------------------- */

static void trainer_free(trainer *t)
{
    if (t->chunks != NULL) /* allocated after chunk_centers was set */
        for (int64_t c = 0; c < (t->p->batch + t->chunk_centers - 1) / t->chunk_centers; c++) {
            chunk *ch = &t->chunks[c];
            free(ch->tgt), free(ch->label), free(ch->coef), free(ch->score), free(ch->len);
            free(ch->g_ids), free(ch->g_w), free(ch->g_center);
        }
    if (t->scratch != NULL)
        for (int k = 0; k < t->p->threads; k++) {
            scratch *sc = &t->scratch[k];
            free(sc->rows), free(sc->own_ids), free(sc->own_w), free(sc->own_len);
            free(sc->own_centers), free(sc->own_center_len);
        }
    free(t->chunks), free(t->scratch);
    w2v_alias_free(&t->neg);
    free(t->keep), free(t->iota), free(t->kept), free(t->kept_pos), free(t->before);
    free(t->after), free(t->h), free(t->e), free(t->loss), free(t->pairs);
}

static int trainer_alloc(trainer *t)
{
    const w2v_params *p = t->p;
    const int64_t V = t->c->vocab, N = t->c->nids, B = p->batch, dim = p->dim;
    t->chunk_centers = p->threads == 1 ? B : W2V_CHUNK;
    t->ngroups = p->threads == 1 ? 1 : 4 * p->threads < W2V_MAX_GROUPS ? 4 * p->threads
                                                                       : W2V_MAX_GROUPS;
    const int64_t nchunks = (B + t->chunk_centers - 1) / t->chunk_centers;
    t->per_center = 2 * (int64_t)p->window * (1 + (int64_t)p->negative);
    const int64_t cap = t->chunk_centers * t->per_center; /* one chunk's targets */
    const int64_t all = B * t->per_center;         /* phase 2: a group may own every target */
    t->group_targets = (int64_t)(128 * 1024 / sizeof(float)) / dim;
    if (t->group_targets < t->per_center)
        t->group_targets = t->per_center;
    const int64_t group = t->group_targets;
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
    t->chunks = calloc((size_t)nchunks, sizeof *t->chunks);
    t->scratch = calloc((size_t)p->threads, sizeof *t->scratch);
    if (!t->keep || !t->iota || !t->kept || !t->kept_pos || !t->before || !t->after || !t->h ||
        !t->e || !t->loss || !t->pairs || !t->chunks || !t->scratch)
        return -1;
    for (int64_t c = 0; c < nchunks; c++) {
        chunk *ch = &t->chunks[c];
        ch->tgt = malloc((size_t)cap * sizeof *ch->tgt);
        ch->label = malloc((size_t)cap);
        ch->coef = malloc((size_t)cap * sizeof *ch->coef);
        ch->score = malloc((size_t)cap * sizeof *ch->score);
        ch->len = malloc((size_t)t->chunk_centers * sizeof *ch->len);
        ch->g_ids = malloc((size_t)cap * sizeof *ch->g_ids);
        ch->g_w = malloc((size_t)cap * sizeof *ch->g_w);
        ch->g_center = malloc((size_t)cap * sizeof *ch->g_center);
        if (!ch->tgt || !ch->label || !ch->coef || !ch->score || !ch->len || !ch->g_ids ||
            !ch->g_w || !ch->g_center)
            return -1;
    }
    for (int k = 0; k < p->threads; k++) {
        scratch *sc = &t->scratch[k];
        sc->rows = malloc((size_t)(group * dim) * sizeof *sc->rows);
        sc->own_ids = malloc((size_t)all * sizeof *sc->own_ids);
        sc->own_w = malloc((size_t)all * sizeof *sc->own_w);
        sc->own_len = malloc((size_t)B * sizeof *sc->own_len);
        sc->own_centers = malloc((size_t)B * sizeof *sc->own_centers);
        sc->own_center_len = malloc((size_t)B * sizeof *sc->own_center_len);
        if (!sc->rows || !sc->own_ids || !sc->own_w || !sc->own_len || !sc->own_centers ||
            !sc->own_center_len)
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
    w2v_jobs *jobs = w2v_jobs_start(p->threads, &t);
    if (jobs == NULL) {
        snprintf(err, errlen, "cannot start %d threads", p->threads);
        trainer_free(&t);
        w2v_model_free(m);
        return -1;
    }
    if (hooks && hooks->epoch) {
        t.st = (w2v_status){-1, 0, 0, 0, p->alpha, 0, 0};
        hooks->epoch(hooks->ctx, &t.st, m);
    }
    train_epochs(&t, jobs);
    w2v_jobs_stop(jobs);
    trainer_free(&t);
    return 0;
}

void w2v_model_free(w2v_model *m)
{
    free(m->in);
    free(m->out);
    m->in = m->out = NULL;
}
