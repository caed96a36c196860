/* bag_bench.c - embsimd-bench-bag: EmbeddingBag sum (emb_bag) next to a
 * same-run memcpy of the same table bytes, and the fused row-wise Adagrad
 * step, over the shapes: bags of 1, 20 and 100 rows from 32000 x
 * 128, 3000000 x 128 (DRAM) and 50257 x 768 fp32 tables, 1 and 2 threads.
 * The two are timed interleaved, repetition by repetition, and each call
 * reads rows from a fresh batch of ids, cycled over enough batches that the
 * rows read between two uses of a batch cover the table or four times the
 * last-level cache: a DRAM table stays in DRAM. Prints a Markdown table. */
#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "embsimd.h"
#include "gen.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void *big_alloc(size_t bytes)
{
    void *p = NULL;
    const size_t huge = (size_t)2 << 20;
    if (posix_memalign(&p, huge, (bytes + huge - 1) / huge * huge) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, (bytes + huge - 1) / huge * huge, MADV_HUGEPAGE);
#endif
    return p;
}

/* The memcpy reference: the same bytes the bag reads, split over the same
 * number of threads. */
typedef struct copy_part {
    uint8_t *dst;
    const uint8_t *src;
    size_t bytes;
} copy_part;

static void *copy_thread(void *arg)
{
    const copy_part *c = arg;
    memcpy(c->dst, c->src, c->bytes);
    return NULL;
}

static void parallel_copy(uint8_t *dst, const uint8_t *src, size_t bytes, int threads)
{
    pthread_t th[8];
    copy_part parts[8];
    const size_t per = bytes / (size_t)threads / 64 * 64;
    for (int t = 0; t < threads; t++) {
        parts[t].dst = dst + per * (size_t)t;
        parts[t].src = src + per * (size_t)t;
        parts[t].bytes = t == threads - 1 ? bytes - per * (size_t)t : per;
        if (t > 0)
            pthread_create(&th[t], NULL, copy_thread, &parts[t]);
    }
    copy_thread(&parts[0]);
    for (int t = 1; t < threads; t++)
        pthread_join(th[t], NULL);
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

enum { REPS = 11, MAX_BATCHES = 64 };

int main(int argc, char **argv)
{
    int quick = 0, only_threads = 0;
    long long only_vocab = 0;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--quick") == 0)
            quick = 1;
        else if (strncmp(argv[a], "--vocab=", 8) == 0)
            only_vocab = atoll(argv[a] + 8);
        else if (strncmp(argv[a], "--threads=", 10) == 0)
            only_threads = atoi(argv[a] + 10);
        else {
            fprintf(stderr, "usage: embsimd-bench-bag [--quick] [--vocab=V] [--threads=T]\n");
            return 2;
        }
    }
    static const int64_t tables[][2] = {{32000, 128}, {3000000, 128}, {50257, 768}};
    static const int64_t bag_sizes[] = {1, 20, 100};
    static const int threads_list[] = {1, 2};
    const size_t llc = (size_t)emb_llc_bytes();
    printf("embsimd %s, implementation %s, LLC %s\n\n", emb_version(), emb_impl_active(),
           emb_llc_description());
    printf("| V | D | bag | T | bags/call | bag sum GB/s | memcpy GB/s | bag/memcpy | "
           "lookup GB/s | row-wise Adagrad (per occurrence) GB/s |\n"
           "|---|---|---|---|---|---|---|---|---|---|\n");
    for (size_t s = 0; s < sizeof tables / sizeof tables[0]; s++) {
        const int64_t vocab = tables[s][0], dim = tables[s][1];
        if ((quick && vocab > 100000) || (only_vocab && vocab != only_vocab))
            continue;
        const size_t row = (size_t)dim * sizeof(float);
        float *table = big_alloc((size_t)vocab * row);
        float *h = calloc((size_t)vocab, sizeof(float));
        if (table == NULL || h == NULL) {
            fprintf(stderr, "embsimd-bench-bag: no memory for %lld x %lld\n", (long long)vocab,
                    (long long)dim);
            return 1;
        }
        gen_rng r = gen_seed(42 + s);
        for (size_t i = 0; i < (size_t)(vocab * dim); i++)
            table[i] = (float)(int)(gen_u64(&r) % 2001 - 1000) / 1024.0f;
        for (size_t b = 0; b < sizeof bag_sizes / sizeof bag_sizes[0]; b++) {
            const int64_t L = bag_sizes[b];
            /* About 4 MiB of rows a call (at least 64 bags). */
            int64_t nbags = ((int64_t)4 << 20) / (L * (int64_t)row);
            if (nbags < 64)
                nbags = 64;
            const int64_t n = nbags * L;
            const size_t call_bytes = (size_t)n * row;
            size_t batches = ((size_t)vocab * row < 4 * llc ? (size_t)vocab * row : 4 * llc) /
                                 call_bytes + 1;
            if (batches > MAX_BATCHES)
                batches = MAX_BATCHES;
            int32_t *ids = malloc(batches * (size_t)n * sizeof(int32_t));
            int32_t *lengths = malloc((size_t)nbags * sizeof(int32_t));
            float *out = big_alloc((size_t)nbags * row);
            float *dout = big_alloc((size_t)nbags * row);
            uint8_t *src = big_alloc(call_bytes * batches), *dst = big_alloc(call_bytes);
            float *lookup_out = big_alloc(call_bytes);
            if (!ids || !lengths || !out || !dout || !src || !dst || !lookup_out) {
                fprintf(stderr, "embsimd-bench-bag: out of memory\n");
                return 1;
            }
            gen_ids(&r, ids, batches * (size_t)n, vocab, GEN_IDS_UNIFORM);
            for (int64_t i = 0; i < nbags; i++)
                lengths[i] = (int32_t)L;
            memset(src, 1, call_bytes * batches);
            for (size_t i = 0; i < (size_t)(nbags * dim); i++)
                dout[i] = 1e-3f;
            for (size_t t = 0; t < sizeof threads_list / sizeof threads_list[0]; t++) {
                const int T = threads_list[t];
                if (only_threads && T != only_threads)
                    continue;
                emb_set_num_threads(T);
                double tb[REPS], tc[REPS], ta[REPS], tl[REPS];
                const emb_bags bags = {nbags, NULL, lengths, EMB_I32, 0, NULL, EMB_NO_PADDING};
                const emb_step step = {EMB_OPT_ROWWISE_ADAGRAD, 0.01f, 1e-8f, h, 0};
                size_t k = 0;
                for (int rep = 0; rep < REPS; rep++) {
                    /* Enough calls a repetition to take ~20 ms. */
                    const int calls = (int)(((size_t)40 << 20) / call_bytes) + 1;
                    double t0 = now();
                    for (int c = 0; c < calls; c++, k = (k + 1) % batches)
                        if (emb_bag(table, EMB_F32, vocab, dim, ids + k * (size_t)n, EMB_I32, n,
                                    &bags, EMB_BAG_SUM, out, NULL) != EMB_OK) {
                            fprintf(stderr, "emb_bag: %s\n", emb_last_error());
                            return 1;
                        }
                    tb[rep] = (now() - t0) / calls;
                    t0 = now();
                    for (int c = 0; c < calls; c++, k = (k + 1) % batches)
                        parallel_copy(dst, src + k * call_bytes, call_bytes, T);
                    tc[rep] = (now() - t0) / calls;
                    t0 = now();
                    for (int c = 0; c < calls; c++, k = (k + 1) % batches)
                        if (emb_bag_update(table, EMB_F32, vocab, dim, ids + k * (size_t)n,
                                           EMB_I32, n, &bags, EMB_BAG_SUM, dout,
                                           &step) != EMB_OK) {
                            fprintf(stderr, "emb_bag_update: %s\n", emb_last_error());
                            return 1;
                        }
                    ta[rep] = (now() - t0) / calls;
                    /* The plain lookup of the same rows (it also writes them). */
                    t0 = now();
                    for (int c = 0; c < calls; c++, k = (k + 1) % batches)
                        if (emb_lookup(table, EMB_F32, vocab, dim, ids + k * (size_t)n, EMB_I32,
                                       n, lookup_out, EMB_F32) != EMB_OK)
                            return 1;
                    tl[rep] = (now() - t0) / calls;
                }
                qsort(tb, REPS, sizeof(double), cmp_double);
                qsort(tc, REPS, sizeof(double), cmp_double);
                qsort(ta, REPS, sizeof(double), cmp_double);
                qsort(tl, REPS, sizeof(double), cmp_double);
                const double gb = (double)call_bytes / 1e9;
                /* Adagrad reads and writes each row once per occurrence. */
                printf("| %lld | %lld | %lld | %d | %lld | %.1f | %.1f | %.2f | %.1f | %.1f |\n",
                       (long long)vocab, (long long)dim, (long long)L, T, (long long)nbags,
                       gb / tb[REPS / 2], gb / tc[REPS / 2], tc[REPS / 2] / tb[REPS / 2],
                       gb / tl[REPS / 2], 2 * gb / ta[REPS / 2]);
                fflush(stdout);
            }
            emb_set_num_threads(0);
            free(ids);
            free(lengths);
            free(out);
            free(dout);
            free(src);
            free(dst);
            free(lookup_out);
        }
        free(table);
        free(h);
    }
    printf("\nbag sum and lookup GB/s: table bytes read (tokens x D x 4) per second (the "
           "lookup also writes them); memcpy: the same bytes copied, same thread count, same run; medians of %d interleaved "
           "repetitions.\n", REPS);
    return 0;
}
