/* bag_bench.c - embsimd-bench-bag: EmbeddingBag sum (emb_bag) next to a
 * same-run memcpy of the same table bytes, and the fused row-wise Adagrad
 * step, over the shapes: bags of 1, 20 and 100 rows from 32000 x
 * 128, 3000000 x 128 (DRAM) and 50257 x 768 fp32 tables, 1 and 2 threads.
 * The two are timed interleaved, repetition by repetition, and each call
 * reads rows from a fresh batch of ids, cycled over enough batches that the
 * rows read between two uses of a batch cover the table or four times the
 * last-level cache: a DRAM table stays in DRAM. Beside memcpy, the same
 * rows read and discarded: what memory gives a gather of these rows,
 * whatever is computed with them (memcpy streams; rows picked at random
 * cannot, and short ones the least). Prints the run's context and a
 * Markdown table. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "context.h"
#include "embsimd.h"
#include "gen.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int advise_huge_pages; /* --hugepages */
static volatile uint64_t read_sink; /* the row reads' XOR, kept so that they happen */

/* 2 MiB-aligned, so that with --hugepages every page of it can be huge. */
static void *big_alloc(size_t bytes)
{
    void *p = NULL;
    const size_t huge = (size_t)2 << 20;
    if (posix_memalign(&p, huge, (bytes + huge - 1) / huge * huge) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    if (advise_huge_pages)
        (void)madvise(p, (bytes + huge - 1) / huge * huge, MADV_HUGEPAGE);
#endif
    return p;
}

/* The two references, split over the same number of threads as the bag:
 * a memcpy of the same bytes (dst, src, bytes), and a read of the same
 * rows (table, ids, n tokens of row bytes each). */
typedef struct ref_part {
    uint8_t *dst;
    const uint8_t *src;
    size_t bytes;
    const int32_t *ids;
    size_t n, row;
    uint64_t sink;
} ref_part;

static void *copy_thread(void *arg)
{
    ref_part *c = arg;
    memcpy(c->dst, c->src, c->bytes);
    return NULL;
}

/* The rows XORed a line at a time (four 16-byte loads, four chains, so
 * the loads, not the XORs, set the pace) into a value that is kept, each
 * row hinted 16 rows ahead with one of three hints: into L1 (PREFETCHT0 on
 * x86), into L2 (PREFETCHT1: the bag loop's default for 512-byte rows,
 * bag_loops.h, emb_bag_locality) or non-temporally (PREFETCHNTA). Which is
 * fastest depends on the CPU and the table: on a Zen 1 (8 MiB L3) NTA read
 * the 3,000,000-row table's rows 1.1-1.2x faster than the other two, and
 * lost to them by a tenth on the 32000-row one; on Zen 4 T1 led on a
 * 1,000,000-row table and tied with T0 on the 32000-row one (bag_loops.h).
 * The table reports the fastest, so "row read" bounds any gather of the
 * rows with a hint of this distance. Rows here are whole lines. */
typedef uint64_t line_part __attribute__((vector_size(16)));

static inline __attribute__((always_inline)) void *read_rows(ref_part *c, const int locality)
{
    line_part x0 = {0}, x1 = {0}, x2 = {0}, x3 = {0};
    for (size_t i = 0; i < c->n; i++) {
        if (i + 16 < c->n) {
            const uint8_t *next = c->src + (size_t)c->ids[i + 16] * c->row;
            for (size_t l = 0; l < c->row; l += 64) {
                if (locality == 3)
                    __builtin_prefetch(next + l, 0, 3);
                else if (locality == 2)
                    __builtin_prefetch(next + l, 0, 2);
                else
                    __builtin_prefetch(next + l, 0, 0);
            }
        }
        const uint8_t *r = c->src + (size_t)c->ids[i] * c->row;
        for (size_t k = 0; k + 64 <= c->row; k += 64) {
            line_part w0, w1, w2, w3;
            memcpy(&w0, r + k, 16);
            memcpy(&w1, r + k + 16, 16);
            memcpy(&w2, r + k + 32, 16);
            memcpy(&w3, r + k + 48, 16);
            x0 ^= w0;
            x1 ^= w1;
            x2 ^= w2;
            x3 ^= w3;
        }
    }
    const line_part all = x0 ^ x1 ^ x2 ^ x3;
    c->sink = all[0] ^ all[1];
    return NULL;
}

static void *read_thread_t0(void *arg) { return read_rows(arg, 3); }
static void *read_thread_t1(void *arg) { return read_rows(arg, 2); }
static void *read_thread_nta(void *arg) { return read_rows(arg, 0); }

enum { N_HINTS = 3 };
static void *(*const read_threads[N_HINTS])(void *) = {read_thread_t0, read_thread_t1,
                                                        read_thread_nta};
static const char *const hint_names[N_HINTS] = {"T0", "T1", "NTA"};

/* parts[t] covers the t-th share of the bytes (copy) or tokens (read). */
static uint64_t run_parts(void *(*fn)(void *), const ref_part *whole, int threads)
{
    pthread_t th[8];
    ref_part parts[8];
    const size_t per_bytes = whole->bytes / (size_t)threads / 64 * 64;
    const size_t per_n = whole->n / (size_t)threads;
    for (int t = 0; t < threads; t++) {
        const size_t tt = (size_t)t;
        const int last = t == threads - 1;
        parts[t] = *whole;
        if (whole->ids == NULL) {
            parts[t].dst += per_bytes * tt;
            parts[t].src += per_bytes * tt;
            parts[t].bytes = last ? whole->bytes - per_bytes * tt : per_bytes;
        } else {
            parts[t].ids += per_n * tt;
            parts[t].n = last ? whole->n - per_n * tt : per_n;
        }
        if (t > 0)
            pthread_create(&th[t], NULL, fn, &parts[t]);
    }
    fn(&parts[0]);
    uint64_t sink = parts[0].sink;
    for (int t = 1; t < threads; t++) {
        pthread_join(th[t], NULL);
        sink ^= parts[t].sink;
    }
    return sink;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

enum { REPS = 11, MAX_BATCHES = 64 };

/* A whole decimal number in [1, max]: "12abc", "0" and "" are refused. */
static int parse_count(const char *s, long long max, long long *out)
{
    char *end;
    errno = 0;
    const long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 1 || v > max)
        return 0;
    *out = v;
    return 1;
}

int main(int argc, char **argv)
{
    int quick = 0;
    long long only_threads = 0, only_vocab = 0;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[a], "--hugepages") == 0)
            advise_huge_pages = 1;
        else if (strncmp(argv[a], "--vocab=", 8) == 0 &&
                 parse_count(argv[a] + 8, INT64_MAX, &only_vocab))
            ;
        else if (strncmp(argv[a], "--threads=", 10) == 0 &&
                 parse_count(argv[a] + 10, 8, &only_threads))
            ;
        else {
            const int help = strcmp(argv[a], "--help") == 0;
            if (!help)
                fprintf(stderr, "embsimd-bench-bag: unknown or bad option \"%s\"\n", argv[a]);
            fprintf(help ? stdout : stderr,
                    "usage: embsimd-bench-bag [--quick] [--vocab=V] [--threads=T] [--hugepages]\n"
                    "EmbeddingBag sum (emb_bag, f32) next to a same-run memcpy of the same bytes\n"
                    "and a read of the same rows, with the plain lookup and the fused row-wise\n"
                    "Adagrad step; tables 32000 x 128, 3000000 x 128, 50257 x 768; bags of 1,\n"
                    "20, 100; 1 and 2 threads. Prints the context and a Markdown table.\n"
                    "  --quick        leave out the 3000000-row (1.5 GB) table\n"
                    "  --vocab=V      only the table with V rows\n"
                    "  --threads=T    only T threads (1 to 8)\n"
                    "  --hugepages    advise every buffer MADV_HUGEPAGE (transparent huge pages)\n");
            return help ? 0 : 2;
        }
    }
    static const int64_t tables[][2] = {{32000, 128}, {3000000, 128}, {50257, 768}};
    static const int64_t bag_sizes[] = {1, 20, 100};
    static const int threads_list[] = {1, 2};
    const size_t llc = (size_t)emb_llc_bytes();
    bench_sysinfo si;
    bench_sysinfo_read(&si);
    printf("embsimd %s (revision %s), implementation %s, f32 tables, int32 ids and lengths, "
           "uniform ids\n",
           emb_version(), bench_build_revision(), emb_impl_active());
    printf("cpu: %s; %s; LLC %s\n", si.cpu_model, si.isa_flags, si.llc_source);
    printf("compiler: %s; %s\n", bench_build_compiler(), bench_build_cflags());
    printf("schedule: %s\n", emb_schedule_description());
    printf("transparent huge pages: %s; buffers %s; %s\n\n", si.thp,
           advise_huge_pages ? "advised MADV_HUGEPAGE (--hugepages)" : "not advised", si.utc_date);
    bench_sysinfo_free(&si);
    printf("| V | D | bag | T | bags/call | bag sum GB/s | row read GB/s | memcpy GB/s | "
           "bag/row read | bag/memcpy | lookup GB/s | row-wise Adagrad (per occurrence) GB/s |\n"
           "|---|---|---|---|---|---|---|---|---|---|---|---|\n");
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
                double tb[REPS], tc[REPS], ta[REPS], tl[REPS], tr[N_HINTS][REPS];
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
                    for (int c = 0; c < calls; c++, k = (k + 1) % batches) {
                        const ref_part copy = {dst, src + k * call_bytes, call_bytes, NULL, 0, 0, 0};
                        run_parts(copy_thread, &copy, T);
                    }
                    tc[rep] = (now() - t0) / calls;
                    for (int hint = 0; hint < N_HINTS; hint++) {
                        t0 = now();
                        for (int c = 0; c < calls; c++, k = (k + 1) % batches) {
                            const ref_part read = {
                                NULL, (const uint8_t *)table, 0, ids + k * (size_t)n, (size_t)n,
                                row, 0};
                            read_sink = run_parts(read_threads[hint], &read, T);
                        }
                        tr[hint][rep] = (now() - t0) / calls;
                    }
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
                int fastest = 0;
                for (int hint = 0; hint < N_HINTS; hint++) {
                    qsort(tr[hint], REPS, sizeof(double), cmp_double);
                    if (tr[hint][REPS / 2] < tr[fastest][REPS / 2])
                        fastest = hint;
                }
                const double gb = (double)call_bytes / 1e9;
                /* Adagrad reads and writes each row once per occurrence. */
                const double bag = tb[REPS / 2], read = tr[fastest][REPS / 2],
                             copy = tc[REPS / 2];
                printf("| %lld | %lld | %lld | %d | %lld | %.1f | %.1f (%s) | %.1f | %.2f | %.2f "
                       "| %.1f | %.1f |\n",
                       (long long)vocab, (long long)dim, (long long)L, T, (long long)nbags,
                       gb / bag, gb / read, hint_names[fastest], gb / copy, read / bag,
                       copy / bag, gb / tl[REPS / 2], 2 * gb / ta[REPS / 2]);
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
    printf("\nbag sum, row read and lookup GB/s: table bytes read (tokens x D x 4) per second (the "
           "lookup also writes them); row read: the same rows read and discarded, each hinted "
           "16 rows ahead, the fastest of three hints (T0: into L1, T1: into L2, NTA: "
           "non-temporal; named); memcpy: the same bytes copied; same thread count, same run, "
           "medians of %d interleaved repetitions.\n", REPS);
    return 0;
}
