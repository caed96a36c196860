/* data.c - the inputs of the benchmarks: built once per shape and type from
 * the fixed seed, touched before any timing, shared by the cases that
 * follow. */
#include "config.h"

#include "bench.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "typed_inputs.h"

#define HUGE_PAGE ((size_t)2 << 20)

/* Typed tables of one shape kept together while they add up to no more
 * than this; past it only the one in use is kept. The gate's drivers
 * alternate between types within a round; the suite groups its cases by
 * type and builds each once per shape anyway. */
#define TYPED_KEEP ((size_t)1 << 30)

int bench_kernel_find(emb_op op, emb_type in, emb_type out)
{
    for (int k = 0; k < emb_kernel_count(); k++) {
        const emb_kernel *K = emb_kernel_at(k);
        if (K->op == op && K->in == in && K->out == out)
            return k;
    }
    return -1;
}

size_t bench_table_row_bytes(const bench_case *c)
{
    if (c->op == BENCH_GRAD || c->op == BENCH_ONEHOT)
        return (size_t)c->dim * sizeof(float);
    return emb_row_bytes(c->in, c->dim);
}

size_t bench_rows_row_bytes(const bench_case *c)
{
    if (c->op == BENCH_GRAD)
        return emb_row_bytes(c->in, c->dim);
    if (c->op == BENCH_ONEHOT)
        return (size_t)c->dim * sizeof(float);
    return emb_row_bytes(c->out, c->dim);
}

int64_t bench_lookup_bytes(const bench_case *c)
{
    return c->tokens * (int64_t)(emb_row_bytes(c->in, c->dim) + emb_row_bytes(c->out, c->dim));
}

size_t bench_batches(const bench_config *cfg, int64_t vocab, size_t row_bytes, int64_t tokens)
{
    const double table = (double)vocab * (double)row_bytes;
    const double batch = (double)tokens * (double)row_bytes;
    double cover = 4.0 * (double)cfg->llc_bytes;
    if (table < cover)
        cover = table;
    const double b = cover / batch;
    return b <= 1.0 ? 1 : (size_t)b + ((double)(size_t)b < b);
}

/* The output buffer holds a row of any output type, and the bytes of any
 * type's copy reference ((table row + output row) / 2 per token): q8_rowwise
 * rows of dim + 8 bytes exceed dim fp32 only below dim = 3. */
static size_t out_bytes(int64_t tokens, int64_t dim)
{
    return (size_t)tokens * ((size_t)dim * sizeof(float) + 8);
}

static size_t rows_bytes(int64_t tokens, int64_t dim)
{
    return (size_t)tokens * (size_t)dim * sizeof(float);
}

size_t bench_footprint(const bench_config *cfg, int64_t vocab, int64_t dim, int64_t tokens,
                       unsigned types_mask, int with_onehot)
{
    size_t typed = 0, typed_sum = 0, b = 0, dy16 = 0;
    for (int t = 0; t < EMB_TYPE_COUNT; t++) {
        if (!(types_mask & (1u << t)))
            continue;
        const size_t row = emb_row_bytes((emb_type)t, dim);
        if (row == 0)
            continue;
        if (t != EMB_F32 && (size_t)vocab * row > typed)
            typed = (size_t)vocab * row;
        if (t != EMB_F32)
            typed_sum += (size_t)vocab * row;
        const size_t bt = bench_batches(cfg, vocab, row, tokens);
        b = bt > b ? bt : b;
        if (t == EMB_F16 || t == EMB_BF16)
            dy16 = (size_t)tokens * (size_t)dim * 2;
    }
    const size_t bf = bench_batches(cfg, vocab, (size_t)dim * sizeof(float), tokens);
    b = bf > b ? bf : b;
    size_t bytes = (size_t)vocab * (size_t)dim * sizeof(float); /* the fp32 table */
    bytes += typed_sum <= TYPED_KEEP ? typed_sum : typed;        /* typed tables */
    bytes += out_bytes(tokens, dim) + rows_bytes(tokens, dim) + dy16; /* out, dy */
    bytes += b * (size_t)tokens * (sizeof(int32_t) + sizeof(int64_t)) + b * sizeof(int64_t);
    bytes += (size_t)vocab * sizeof(uint32_t); /* distinct-row stamps, while counting */
    if (with_onehot)
        bytes += (size_t)tokens * (size_t)vocab * sizeof(float);
    return bytes;
}

const char *bench_residency(const bench_case *c)
{
    const double llc = (double)c->cfg->llc_bytes;
    const double table = (double)c->vocab * (double)bench_table_row_bytes(c);
    /* out for lookup and the copies, dY for grad */
    const double rows = (double)c->tokens * (double)bench_rows_row_bytes(c);
    if (table > llc)
        return "DRAM:table";
    return table + rows > llc ? "DRAM:rows" : "LLC";
}

/* What is built, and for which shape. The fp32 table serves the f32
 * lookups, every gradient (it is the dtable) and the one-hot GEMM; the
 * typed tables serve their type's lookups. */
static struct {
    pthread_mutex_t lock;
    int64_t vocab, dim;   /* the shape of the tables */
    float *table;         /* fp32, NULL until needed */
    uint8_t *typed[EMB_TYPE_COUNT]; /* NULL when not built */
    int64_t tokens;       /* the shape of every buffer below */
    void *out;
    float *dy;
    uint16_t *dy16;       /* dy in dy16_type (f16 or bf16), NULL when none */
    emb_type dy16_type;
    float *onehot;
    int have_ids;
    gen_ids_kind ids_kind;
    size_t batches;
    int32_t *ids;
    int64_t *ids64, *distinct;
    bench_data d;
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

static void release_ids(void)
{
    free(cache.ids);
    free(cache.ids64);
    free(cache.distinct);
    free(cache.onehot);
    cache.ids = NULL;
    cache.ids64 = cache.distinct = NULL;
    cache.onehot = NULL;
    cache.have_ids = 0;
}

static void release_rows(void)
{
    release_ids();
    free(cache.out);
    free(cache.dy);
    free(cache.dy16);
    cache.out = NULL;
    cache.dy = NULL;
    cache.dy16 = NULL;
    cache.tokens = 0;
}

static void release_typed(void)
{
    for (int t = 0; t < EMB_TYPE_COUNT; t++) {
        free(cache.typed[t]);
        cache.typed[t] = NULL;
    }
}

static void release_tables(void)
{
    free(cache.table);
    cache.table = NULL;
    release_typed();
    cache.vocab = cache.dim = 0;
}

void bench_data_release(void)
{
    pthread_mutex_lock(&cache.lock);
    release_rows();
    release_tables();
    memset(&cache.d, 0, sizeof cache.d);
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

/* A table of type t. Every type comes from the same stream as the fp32
 * table, so an f16 or bf16 table is the fp32 one converted
 * (typed_inputs.h), before any gradient added into it. */
static uint8_t *build_table(const bench_case *c, emb_type t, char *err, size_t size)
{
    const size_t bytes = (size_t)c->vocab * emb_row_bytes(t, c->dim);
    if (bytes >= ((size_t)256 << 20))
        fprintf(stderr, "preparing a %lld x %lld %s table (%.2f GiB) from seed %llu\n",
                (long long)c->vocab, (long long)c->dim, emb_type_name(t),
                (double)bytes / (1 << 30), (unsigned long long)c->cfg->seed);
    uint8_t *p = alloc_buffer(bytes, c->cfg->hugepages);
    if (p == NULL) {
        fail(err, size, "the table", bytes);
        return NULL;
    }
    gen_rng r = stream(c->cfg->seed, STREAM_TABLE, (uint64_t)c->vocab, (uint64_t)c->dim, 0);
    bench_fill_typed(&r, t, p, (size_t)c->vocab, (size_t)c->dim);
    return p;
}

static int build_rows(const bench_case *c, char *err, size_t size)
{
    const size_t bytes = rows_bytes(c->tokens, c->dim);
    /* 64 bytes more, for --out-offset. */
    cache.out = alloc_buffer(out_bytes(c->tokens, c->dim) + 64, c->cfg->hugepages);
    cache.dy = alloc_buffer(bytes, c->cfg->hugepages);
    if (cache.out == NULL || cache.dy == NULL)
        return fail(err, size, "the row buffers", 2 * bytes);
    /* Written, not just allocated, like every buffer here: untouched pages
     * are all the one zero page, which reads would find in cache. */
    memset(cache.out, 0, out_bytes(c->tokens, c->dim) + 64);
    gen_rng r = stream(c->cfg->seed, STREAM_DY, (uint64_t)c->tokens, (uint64_t)c->dim, 0);
    gen_fill_finite(&r, cache.dy, (size_t)c->tokens * (size_t)c->dim);
    cache.tokens = c->tokens;
    return 1;
}

static int build_dy16(const bench_case *c, char *err, size_t size)
{
    const size_t count = (size_t)c->tokens * (size_t)c->dim;
    free(cache.dy16);
    cache.dy16 = alloc_buffer(count * 2, c->cfg->hugepages);
    if (cache.dy16 == NULL)
        return fail(err, size, "the 16-bit dY", count * 2);
    bench_convert_16(c->in, cache.dy16, cache.dy, count);
    cache.dy16_type = c->in;
    return 1;
}

/* Distinct rows of each batch: the grad byte count (read dY, read and
 * write each distinct row). */
static int count_distinct(const bench_case *c, char *err, size_t size)
{
    const size_t b = cache.batches, n = (size_t)c->tokens;
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
        cache.distinct[k] = distinct;
    }
    free(stamp);
    return 1;
}

/* The batches depend on the bytes of the table's rows (bench_batches), so
 * lookups of a narrower type cycle through more of them; the ids of a
 * (kind, batch count) are the same for every kernel. */
static int build_ids(const bench_case *c, size_t batches, char *err, size_t size)
{
    const size_t n = (size_t)c->tokens;
    release_ids();
    cache.batches = batches;
    cache.ids = alloc_buffer(batches * n * sizeof(int32_t), 0);
    cache.ids64 = alloc_buffer(batches * n * sizeof(int64_t), 0);
    cache.distinct = malloc(batches * sizeof(int64_t));
    if (cache.ids == NULL || cache.ids64 == NULL || cache.distinct == NULL)
        return fail(err, size, "the ids", batches * n * 12);
    gen_rng r = stream(c->cfg->seed, STREAM_IDS, (uint64_t)c->vocab, (uint64_t)c->tokens,
                       (uint64_t)c->ids);
    gen_ids(&r, cache.ids, batches * n, c->vocab, c->ids);
    for (size_t i = 0; i < batches * n; i++)
        cache.ids64[i] = cache.ids[i];
    if (!count_distinct(c, err, size))
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
        release_tables();
        cache.vocab = c->vocab;
        cache.dim = c->dim;
    }
    /* The table this case reads: fp32 for the f32 lookups, the gradients
     * and the one-hot GEMM, else the typed one. */
    const int wants_f32 = c->op == BENCH_GRAD || c->op == BENCH_ONEHOT || c->in == EMB_F32;
    if (wants_f32 && cache.table == NULL &&
        (cache.table = (float *)(void *)build_table(c, EMB_F32, err, size)) == NULL)
        return NULL;
    if (!wants_f32 && cache.typed[c->in] == NULL) {
        size_t kept = (size_t)c->vocab * emb_row_bytes(c->in, c->dim);
        for (int t = 0; t < EMB_TYPE_COUNT; t++)
            if (cache.typed[t] != NULL)
                kept += (size_t)c->vocab * emb_row_bytes((emb_type)t, c->dim);
        if (kept > TYPED_KEEP)
            release_typed();
        if ((cache.typed[c->in] = build_table(c, c->in, err, size)) == NULL)
            return NULL;
    }
    if (cache.tokens != c->tokens) {
        release_rows();
        if (!build_rows(c, err, size)) {
            release_rows();
            return NULL;
        }
    }
    const int typed_dy = c->op == BENCH_GRAD && c->in != EMB_F32;
    if (typed_dy && (cache.dy16 == NULL || cache.dy16_type != c->in) && !build_dy16(c, err, size))
        return NULL;
    /* The copies read no ids. */
    if (c->op != BENCH_MEMCPY && c->op != BENCH_STREAM) {
        const size_t batches = bench_batches(c->cfg, c->vocab, bench_table_row_bytes(c), c->tokens);
        if (!cache.have_ids || cache.ids_kind != c->ids || cache.batches != batches) {
            if (!build_ids(c, batches, err, size)) {
                release_ids();
                return NULL;
            }
        }
        if (c->op == BENCH_ONEHOT && cache.onehot == NULL && !build_onehot(c, err, size))
            return NULL;
    }
    /* Assigned field by field, never cleared: the threads of a copy read
     * this while another of them gets the same values. */
    cache.d.table = wants_f32 ? (const void *)cache.table : (const void *)cache.typed[c->in];
    cache.d.dtable = cache.table;
    cache.d.out = (uint8_t *)cache.out + c->cfg->out_offset;
    cache.d.dy = typed_dy ? (const void *)cache.dy16 : (const void *)cache.dy;
    cache.d.ids = c->idx == EMB_I64 ? (const void *)cache.ids64 : (const void *)cache.ids;
    cache.d.ids32 = cache.ids;
    cache.d.distinct = cache.distinct;
    cache.d.batches = cache.batches;
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
