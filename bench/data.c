/* data.c - the inputs of the benchmarks: built once per shape from the
 * fixed seed, touched before any timing, shared by the cases that follow. */
#include "config.h"

#include "bench.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)

size_t bench_batches(const bench_config *cfg, int64_t vocab, int64_t dim, int64_t tokens)
{
    const double table = (double)vocab * (double)dim * sizeof(float);
    const double batch = (double)tokens * (double)dim * sizeof(float);
    double cover = 4.0 * (double)cfg->llc_bytes;
    if (table < cover)
        cover = table;
    const double b = cover / batch;
    return b <= 1.0 ? 1 : (size_t)b + ((double)(size_t)b < b);
}

static size_t rows_bytes(int64_t tokens, int64_t dim)
{
    return (size_t)tokens * (size_t)dim * sizeof(float);
}

size_t bench_footprint(const bench_config *cfg, int64_t vocab, int64_t dim, int64_t tokens,
                       int with_onehot)
{
    const size_t b = bench_batches(cfg, vocab, dim, tokens);
    size_t bytes = (size_t)vocab * (size_t)dim * sizeof(float); /* table */
    bytes += 2 * rows_bytes(tokens, dim);                        /* out, dy */
    bytes += b * (size_t)tokens * sizeof(int32_t) + b * sizeof(int64_t);
    bytes += (size_t)vocab * sizeof(uint32_t); /* distinct-row stamps, while counting */
    if (with_onehot)
        bytes += (size_t)tokens * (size_t)vocab * sizeof(float);
    return bytes;
}

const char *bench_residency(const bench_case *c)
{
    const double llc = (double)c->cfg->llc_bytes;
    const double table = (double)c->vocab * (double)c->dim * sizeof(float);
    /* out for lookup and the copies, dY for grad */
    const double rows = (double)c->tokens * (double)c->dim * sizeof(float);
    if (table > llc)
        return "DRAM:table";
    return table + rows > llc ? "DRAM:rows" : "LLC";
}

/* What is built, and for which shape. */
static struct {
    pthread_mutex_t lock;
    int64_t vocab, dim, tokens; /* the shape of every buffer below */
    int have_ids;
    gen_ids_kind ids_kind;
    bench_data d;
    float *out, *dy, *onehot;
    int32_t *ids;
    int64_t *grad_bytes;
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void *alloc_buffer(size_t bytes, int hugepages)
{
    const size_t align = bytes >= HUGE_PAGE ? HUGE_PAGE : 64;
    const size_t rounded = (bytes + align - 1) / align * align;
    void *p = NULL;
    if (posix_memalign(&p, align, rounded ? rounded : align) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    if (hugepages && rounded >= HUGE_PAGE)
        (void)madvise(p, rounded, MADV_HUGEPAGE); /* advice only: failure is fine */
#else
    (void)hugepages;
#endif
    return p;
}

static void release_rows(void)
{
    free(cache.out);
    free(cache.dy);
    free(cache.onehot);
    free(cache.ids);
    free(cache.grad_bytes);
    cache.out = cache.dy = cache.onehot = NULL;
    cache.ids = NULL;
    cache.grad_bytes = NULL;
    cache.have_ids = 0;
    cache.tokens = 0;
}

void bench_data_release(void)
{
    pthread_mutex_lock(&cache.lock);
    release_rows();
    free(cache.d.table);
    memset(&cache.d, 0, sizeof cache.d);
    cache.vocab = cache.dim = 0;
    pthread_mutex_unlock(&cache.lock);
}

/* Independent streams per purpose and shape, all from the one seed: the
 * same (seed, vocab, tokens, kind) gives the same ids whatever the dim. */
static gen_rng stream(uint64_t seed, uint64_t purpose, uint64_t a, uint64_t b, uint64_t c)
{
    gen_rng r = gen_seed(seed);
    const uint64_t mix[4] = {purpose, a, b, c};
    for (int i = 0; i < 4; i++)
        r = gen_seed(gen_u64(&r) ^ mix[i]);
    return r;
}

enum { STREAM_TABLE = 1, STREAM_DY, STREAM_IDS };

static int fail(char *err, size_t size, const char *what, size_t bytes)
{
    snprintf(err, size, "out of memory allocating %s (%.1f MiB)", what,
             (double)bytes / (1 << 20));
    return 0;
}

static int build_table(const bench_case *c, char *err, size_t size)
{
    const size_t count = (size_t)c->vocab * (size_t)c->dim;
    if (count * sizeof(float) >= ((size_t)256 << 20))
        fprintf(stderr, "preparing a %lld x %lld table (%.2f GiB) from seed %llu\n",
                (long long)c->vocab, (long long)c->dim,
                (double)(count * sizeof(float)) / (1 << 30), (unsigned long long)c->cfg->seed);
    float *t = alloc_buffer(count * sizeof(float), c->cfg->hugepages);
    if (t == NULL)
        return fail(err, size, "the table", count * sizeof(float));
    gen_rng r = stream(c->cfg->seed, STREAM_TABLE, (uint64_t)c->vocab, (uint64_t)c->dim, 0);
    gen_fill_finite(&r, t, count);
    cache.d.table = t;
    return 1;
}

static int build_rows(const bench_case *c, char *err, size_t size)
{
    const size_t bytes = rows_bytes(c->tokens, c->dim);
    cache.out = alloc_buffer(bytes, c->cfg->hugepages);
    cache.dy = alloc_buffer(bytes, c->cfg->hugepages);
    if (cache.out == NULL || cache.dy == NULL)
        return fail(err, size, "the row buffers", 2 * bytes);
    /* Written, not just allocated, like every buffer here: untouched pages
     * are all the one zero page, which reads would find in cache. */
    memset(cache.out, 0, bytes);
    gen_rng r = stream(c->cfg->seed, STREAM_DY, (uint64_t)c->tokens, (uint64_t)c->dim, 0);
    gen_fill_finite(&r, cache.dy, (size_t)c->tokens * (size_t)c->dim);
    cache.d.batches = bench_batches(c->cfg, c->vocab, c->dim, c->tokens);
    cache.tokens = c->tokens;
    return 1;
}

/* Grad bytes of each batch: read dY, read and write each distinct row. */
static int count_grad_bytes(const bench_case *c, char *err, size_t size)
{
    const size_t b = cache.d.batches, n = (size_t)c->tokens;
    uint32_t *stamp = calloc((size_t)c->vocab, sizeof *stamp);
    if (stamp == NULL)
        return fail(err, size, "the distinct-row stamps", (size_t)c->vocab * sizeof *stamp);
    for (size_t k = 0; k < b; k++) {
        int64_t distinct = 0;
        for (size_t i = 0; i < n; i++) {
            const int32_t id = cache.ids[k * n + i];
            if (stamp[id] != (uint32_t)k + 1) {
                stamp[id] = (uint32_t)k + 1;
                distinct++;
            }
        }
        cache.grad_bytes[k] = (int64_t)(n + 2 * (size_t)distinct) * c->dim * (int64_t)sizeof(float);
    }
    free(stamp);
    return 1;
}

static int build_ids(const bench_case *c, char *err, size_t size)
{
    const size_t b = cache.d.batches, n = (size_t)c->tokens;
    free(cache.ids);
    free(cache.grad_bytes);
    cache.ids = alloc_buffer(b * n * sizeof(int32_t), 0);
    cache.grad_bytes = malloc(b * sizeof(int64_t));
    if (cache.ids == NULL || cache.grad_bytes == NULL)
        return fail(err, size, "the ids", b * n * sizeof(int32_t));
    gen_rng r = stream(c->cfg->seed, STREAM_IDS, (uint64_t)c->vocab, (uint64_t)c->tokens,
                       (uint64_t)c->ids);
    gen_ids(&r, cache.ids, b * n, c->vocab, c->ids);
    if (!count_grad_bytes(c, err, size))
        return 0;
    cache.ids_kind = c->ids;
    cache.have_ids = 1;
    return 1;
}

/* One-hot rows of the first batch: A[i][ids[i]] = 1, zero elsewhere. */
static int build_onehot(const bench_case *c, char *err, size_t size)
{
    const size_t n = (size_t)c->tokens, v = (size_t)c->vocab;
    cache.onehot = alloc_buffer(n * v * sizeof(float), c->cfg->hugepages);
    if (cache.onehot == NULL)
        return fail(err, size, "the one-hot matrix", n * v * sizeof(float));
    memset(cache.onehot, 0, n * v * sizeof(float));
    for (size_t i = 0; i < n; i++)
        cache.onehot[i * v + (size_t)cache.ids[i]] = 1.0f;
    return 1;
}

static const bench_data *get_locked(const bench_case *c, char *err, size_t size)
{
    if (cache.vocab != c->vocab || cache.dim != c->dim) {
        release_rows();
        free(cache.d.table);
        memset(&cache.d, 0, sizeof cache.d);
        cache.vocab = cache.dim = 0;
        if (!build_table(c, err, size))
            return NULL;
        cache.vocab = c->vocab;
        cache.dim = c->dim;
    }
    if (cache.tokens != c->tokens) {
        release_rows();
        if (!build_rows(c, err, size)) {
            release_rows();
            return NULL;
        }
    }
    if (!cache.have_ids || cache.ids_kind != c->ids) {
        free(cache.onehot);
        cache.onehot = NULL;
        if (!build_ids(c, err, size)) {
            release_rows();
            return NULL;
        }
    }
    if (c->op == BENCH_ONEHOT && cache.onehot == NULL && !build_onehot(c, err, size))
        return NULL;
    cache.d.out = cache.out;
    cache.d.dy = cache.dy;
    cache.d.ids = cache.ids;
    cache.d.grad_bytes = cache.grad_bytes;
    cache.d.onehot = cache.onehot;
    return &cache.d;
}

const bench_data *bench_data_get(const bench_case *c, char *err, size_t err_size)
{
    pthread_mutex_lock(&cache.lock);
    const bench_data *d = get_locked(c, err, err_size);
    pthread_mutex_unlock(&cache.lock);
    return d;
}
