/* test_mpi.c - every sharded op against the single-process op, bit for bit.
 *
 * Run under mpirun at any number of ranks (mpi/test_mpi.sh: 1 to 4). Every
 * rank builds the same global table and every rank's batch from fixed
 * seeds, so each rank can compute the single-process result of the global
 * batch itself and compare its own part with memcmp: outputs and argmax of
 * its bags, and the rows of its shard after gradients and steps. Layouts:
 * even ranges, skewed ranges with empty shards (rank 0 holds nothing, the
 * last rank most rows), and cyclic. Batches: uniform ids, ids that all
 * live on one rank, and a rank with no ids. Then bad ids on each rank,
 * ranks that disagree, and MPI's error handler. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embsimd_mpi.h"
#include "gen.h"

#define V 53    /* global rows: no P of 1-4 divides it */
#define MAXN 64 /* tokens of one rank's batch at most */
#define MAXP 16

static int rank, nranks;
static long failures, checks;

static void fail(const char *fmt, ...)
{
    if (++failures <= 20) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "FAIL rank %d/%d: ", rank, nranks);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
}

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        checks++;                                                                              \
        if (!(cond))                                                                           \
            fail(__VA_ARGS__);                                                                 \
    } while (0)

static void *xmalloc(size_t n)
{
    void *p = malloc(n > 0 ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "test_mpi: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, 99);
    }
    return p;
}

static int64_t dim_of(emb_type t)
{
    return t == EMB_Q4_K || t == EMB_Q6_K ? 256 : t == EMB_Q8_0 || t == EMB_Q4_0 ? 64 : 20;
}

/* A finite fp16 between 2^-5 and 2^2 in magnitude: scales that keep every
 * dequantized value finite, so that sums round and orders matter. */
static uint16_t sane_f16(gen_rng *g)
{
    const uint64_t u = gen_u64(g);
    return (uint16_t)((u & 1) << 15 | (10 + (u >> 1) % 7) << 10 | (u >> 8 & 0x3ff));
}

static void put16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}

/* The global table: emb_init for the float types, random bytes with sane
 * scales for the quantized ones. */
static uint8_t *make_table(emb_type type, uint64_t seed)
{
    const int64_t dim = dim_of(type);
    const size_t rb = emb_row_bytes(type, dim);
    uint8_t *w = xmalloc(V * rb);
    if (type == EMB_F32 || type == EMB_F16 || type == EMB_BF16) {
        if (emb_init(w, type, 0, V, dim, EMB_INIT_UNIFORM, 1.0f, seed) != EMB_OK)
            fail("emb_init: %s", emb_last_error());
        return w;
    }
    gen_rng g = gen_seed(seed);
    for (size_t i = 0; i < V * rb; i++)
        w[i] = (uint8_t)gen_u64(&g);
    for (int64_t r = 0; r < V; r++) {
        uint8_t *row = w + r * rb;
        switch (type) {
        case EMB_Q8_0:
        case EMB_Q4_0: {
            const size_t blk = type == EMB_Q8_0 ? 34 : 18;
            for (int64_t b = 0; b < dim / 32; b++)
                put16(row + b * blk, sane_f16(&g));
            break;
        }
        case EMB_Q4_K:
            put16(row, sane_f16(&g));
            put16(row + 2, sane_f16(&g));
            break;
        case EMB_Q6_K:
            put16(row + 208, sane_f16(&g));
            break;
        case EMB_Q8_ROWWISE: {
            const float sb[2] = {(float)(gen_below(&g, 1000) + 1) / 4096.0f,
                                 ((float)gen_below(&g, 2000) - 1000.0f) / 512.0f};
            memcpy(row + dim, sb, sizeof sb);
            break;
        }
        default:
            break;
        }
    }
    return w;
}

/* Fill n elements of a float type with finite values. */
static void fill_float(gen_rng *g, emb_type type, void *dst, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const float f = gen_finite(g);
        if (type == EMB_F32)
            ((float *)dst)[i] = f;
        else if (type == EMB_BF16)
            ((uint16_t *)dst)[i] = (uint16_t)(gen_f2u(f) >> 16);
        else
            ((uint16_t *)dst)[i] = sane_f16(g);
    }
}

/* ---- layouts and batches ---------------------------------------------- */

enum { LAYOUT_EVEN, LAYOUT_SKEWED, LAYOUT_CYCLIC, LAYOUTS };
static const char *layout_name[] = {"even ranges", "skewed ranges", "cyclic"};
enum { BATCH_UNIFORM, BATCH_ONE_OWNER, BATCH_RANK_EMPTY, BATCHES };
static const char *batch_name[] = {"uniform ids", "all ids on one rank", "a rank with no ids"};

/* Skewed: rank 0 and (from 3 ranks) rank 1 empty, the last rank most. */
static void skewed_starts(int64_t *s)
{
    s[0] = 0;
    for (int r = 1; r < nranks; r++)
        s[r] = r <= 1 || (nranks >= 3 && r <= 2) ? 0 : 3 * (r - 1);
    s[nranks] = V;
}

static emb_status make_layout(emb_mpi_table *t, int layout, emb_type type)
{
    int64_t starts[MAXP + 1];
    skewed_starts(starts);
    return emb_mpi_table_init(t, MPI_COMM_WORLD, V, dim_of(type), type,
                              layout == LAYOUT_CYCLIC ? EMB_MPI_CYCLIC : EMB_MPI_RANGES,
                              layout == LAYOUT_SKEWED ? starts : NULL, NULL);
}

/* This rank's shard of a global matrix of row size rb (NULL when empty:
 * the API allows it). */
static uint8_t *shard_of(const emb_mpi_table *t, const uint8_t *global, size_t rb)
{
    if (t->local_rows == 0)
        return NULL;
    uint8_t *s = xmalloc((size_t)t->local_rows * rb);
    for (int64_t k = 0; k < t->local_rows; k++)
        memcpy(s + k * rb, global + emb_mpi_global_row(t, rank, k) * rb, rb);
    return s;
}

static int shard_equal(const emb_mpi_table *t, const uint8_t *shard, const uint8_t *global,
                       size_t rb)
{
    for (int64_t k = 0; k < t->local_rows; k++)
        if (memcmp(shard + k * rb, global + emb_mpi_global_row(t, rank, k) * rb, rb) != 0)
            return 0;
    return 1;
}

typedef struct batch {
    int64_t n, nbags;
    int64_t ids[MAXN];
    int64_t len[MAXN];
    float w[MAXN];
} batch;

/* Rank r's batch: every rank can make every rank's. pad >= 0: every third
 * token names that row. */
static void make_batch(batch *b, const emb_mpi_table *t, int kind, int r, uint64_t seed,
                       int64_t pad)
{
    gen_rng g = gen_seed(seed * 131 + (uint64_t)r);
    b->n = kind == BATCH_RANK_EMPTY && r == 1 % nranks ? 0 : 5 + 3 * r + (int64_t)gen_below(&g, 4);
    const int owner = nranks - 1;
    for (int64_t i = 0; i < b->n; i++) {
        int64_t id = (int64_t)gen_below(&g, V);
        if (kind == BATCH_ONE_OWNER) { /* a row of the last rank */
            const int64_t rows = emb_mpi_shard_rows(t, owner);
            id = emb_mpi_global_row(t, owner, (int64_t)gen_below(&g, (uint64_t)rows));
        }
        if (pad >= 0 && i % 3 == 1)
            id = pad;
        b->ids[i] = id;
        b->w[i] = gen_finite(&g);
    }
    b->nbags = 0;
    for (int64_t left = b->n; left > 0 || b->nbags == 0;) {
        const int64_t l = left > 0 ? (int64_t)gen_below(&g, 5) : 0; /* empty bags too */
        b->len[b->nbags++] = l < left ? l : left;
        left -= b->len[b->nbags - 1];
        if (left == 0 && gen_below(&g, 2) == 0)
            break;
        if (b->nbags == MAXN)
            break;
    }
}

/* The ids of a batch in an id type. */
static void *ids_as(const batch *b, emb_index it)
{
    void *p = xmalloc((size_t)b->n * 8);
    for (int64_t i = 0; i < b->n; i++) {
        if (it == EMB_I64)
            ((int64_t *)p)[i] = b->ids[i];
        else
            ((int32_t *)p)[i] = (int32_t)b->ids[i];
    }
    return p;
}

/* Bags in one of three forms: lengths, offsets, offsets with the last one
 * (form % 3), in i32 or i64 (form / 3 % 2). buf holds the array. */
static emb_bags bags_as(const batch *b, int form, int weighted, int64_t pad, int64_t *buf)
{
    emb_bags s = {b->nbags, NULL, NULL, form / 3 % 2 ? EMB_I64 : EMB_I32, 0,
                  weighted ? b->w : NULL, pad >= 0 ? (form % 2 ? pad - V : pad) : EMB_NO_PADDING};
    int64_t o = 0;
    for (int64_t k = 0; k <= b->nbags; k++) {
        const int64_t v = form % 3 == 0 ? (k < b->nbags ? b->len[k] : 0) : o;
        if (s.offset_type == EMB_I64)
            buf[k] = v;
        else
            ((int32_t *)buf)[k] = (int32_t)v;
        if (k < b->nbags)
            o += b->len[k];
    }
    if (form % 3 == 0)
        s.lengths = buf;
    else
        s.offsets = buf;
    s.include_last_offset = form % 3 == 2;
    return s;
}

/* The global batch: every rank's, in rank order, bags as lengths. */
typedef struct global_batch {
    int64_t n, nbags;
    int64_t ids[MAXN * MAXP], len[MAXN * MAXP];
    float w[MAXN * MAXP];
    int64_t first_bag[MAXP + 1], first_tok[MAXP + 1];
} global_batch;

static void make_global(global_batch *G, const emb_mpi_table *t, int kind, uint64_t seed,
                        int64_t pad)
{
    G->n = G->nbags = 0;
    for (int r = 0; r < nranks; r++) {
        batch b;
        make_batch(&b, t, kind, r, seed, pad);
        G->first_bag[r] = G->nbags;
        G->first_tok[r] = G->n;
        memcpy(G->ids + G->n, b.ids, (size_t)b.n * sizeof *b.ids);
        memcpy(G->w + G->n, b.w, (size_t)b.n * sizeof *b.w);
        memcpy(G->len + G->nbags, b.len, (size_t)b.nbags * sizeof *b.len);
        G->n += b.n;
        G->nbags += b.nbags;
    }
    G->first_bag[nranks] = G->nbags;
    G->first_tok[nranks] = G->n;
}

/* Rank r's gradient rows (per bag or per token) of a float type: made
 * from a seed, so the global batch's are every rank's concatenated. */
static void make_rows(emb_type type, int64_t dim, int64_t count, int r, uint64_t seed,
                      uint8_t *dst)
{
    gen_rng g = gen_seed(seed * 7919 + (uint64_t)r * 17 + (uint64_t)type);
    fill_float(&g, type, dst, (size_t)(count * dim));
}

static void global_rows(const int64_t *first, emb_type type, int64_t dim,
                        uint64_t seed, uint8_t *dst)
{
    const size_t rb = emb_row_bytes(type, dim);
    for (int r = 0; r < nranks; r++)
        make_rows(type, dim, first[r + 1] - first[r], r, seed, dst + first[r] * rb);
}

static const char *case_name(char *buf, size_t cap, const char *op, int layout, int kind,
                             const char *detail)
{
    snprintf(buf, cap, "%s, %s, %s, %d ranks: %s", op, layout_name[layout], batch_name[kind],
             nranks, detail);
    return buf;
}

/* The whole table of type t (every rank makes the same one) and this
 * rank's shard of it under `layout`; NULL after a failure is counted. */
static uint8_t *open_table(emb_mpi_table *t, int layout, emb_type type, uint64_t seed)
{
    uint8_t *W = make_table(type, seed);
    if (make_layout(t, layout, type) != EMB_OK) {
        fail("table init: %s", emb_mpi_last_error());
        free(W);
        return NULL;
    }
    t->rows = shard_of(t, W, emb_row_bytes(type, dim_of(type)));
    return W;
}

/* ---- the ops against one process -------------------------------------- */

static const emb_type all_types[] = {EMB_F32, EMB_F16,        EMB_BF16, EMB_Q8_0,
                                     EMB_Q4_0, EMB_Q8_ROWWISE, EMB_Q4_K, EMB_Q6_K};
#define NTYPES 8

static void test_lookup(int layout, int kind, uint64_t seed)
{
    for (int ti = 0; ti < NTYPES; ti++) {
        const emb_type type = all_types[ti];
        const int64_t dim = dim_of(type);
        emb_mpi_table t;
        uint8_t *W = open_table(&t, layout, type, seed + (uint64_t)ti);
        if (W == NULL)
            continue;
        emb_type outs[2] = {EMB_F32, type};
        for (int oi = 0; oi < (type == EMB_F16 || type == EMB_BF16 ? 2 : 1); oi++)
            for (int it = 0; it < 2; it++) {
                batch b;
                make_batch(&b, &t, kind, rank, seed + (uint64_t)(oi * 2 + it), -1);
                void *ids = ids_as(&b, (emb_index)it);
                const size_t ob = emb_row_bytes(outs[oi], dim), bytes = (size_t)b.n * ob;
                uint8_t *got = xmalloc(bytes + 16), *want = xmalloc(bytes + 16);
                memset(got, 0xA5, bytes + 16);
                memset(want, 0xA5, bytes + 16);
                emb_status s1 = emb_mpi_lookup(&t, ids, (emb_index)it, b.n, got, outs[oi]);
                emb_status s2 =
                    b.n == 0 ? EMB_OK
                             : emb_lookup(W, type, V, dim, ids, (emb_index)it, b.n, want, outs[oi]);
                char nm[200], d[80];
                snprintf(d, sizeof d, "%s->%s, %s ids", emb_type_name(type),
                         emb_type_name(outs[oi]), emb_index_name((emb_index)it));
                case_name(nm, sizeof nm, "lookup", layout, kind, d);
                CHECK(s1 == EMB_OK && s2 == EMB_OK, "%s: status %d/%d: %s", nm, s1, s2,
                      emb_mpi_last_error());
                CHECK(memcmp(got, want, bytes + 16) == 0, "%s: rows or guard differ", nm);
                free(ids);
                free(got);
                free(want);
            }
        free(t.rows);
        emb_mpi_table_free(&t);
        free(W);
    }
}

static void test_grad(int layout, int kind, uint64_t seed)
{
    const int64_t dim = dim_of(EMB_F32);
    const size_t rb = (size_t)dim * sizeof(float);
    emb_mpi_table t;
    if (make_layout(&t, layout, EMB_F32) != EMB_OK) {
        fail("table init: %s", emb_mpi_last_error());
        return;
    }
    static const emb_type gtypes[] = {EMB_F32, EMB_F16, EMB_BF16};
    for (int gi = 0; gi < 3; gi++)
        for (int it = 0; it < 2; it++)
            for (int opt_kind = 0; opt_kind < 3; opt_kind++) { /* none, padding, by freq */
                const uint64_t s = seed + (uint64_t)(gi * 6 + it * 3 + opt_kind);
                const int64_t pad = opt_kind == 1 ? 7 : -1;
                global_batch *G = xmalloc(sizeof *G);
                make_global(G, &t, kind, s, pad);
                const size_t gb = emb_row_bytes(gtypes[gi], dim);
                uint8_t *gd = xmalloc((size_t)G->n * gb);
                global_rows(G->first_tok, gtypes[gi], dim, s, gd);
                float *D = xmalloc(V * rb);
                gen_rng g = gen_seed(s);
                gen_fill_finite(&g, D, (size_t)(V * dim)); /* a nonzero start: order shows */
                float *dshard = (float *)(void *)shard_of(&t, (uint8_t *)D, rb);
                const emb_grad_options o = {opt_kind == 1 ? pad - V : EMB_NO_PADDING,
                                            opt_kind == 2};
                batch b;
                make_batch(&b, &t, kind, rank, s, pad);
                void *ids = ids_as(&b, (emb_index)it);
                void *gids = xmalloc((size_t)G->n * 8);
                for (int64_t i = 0; i < G->n; i++) {
                    if (it == EMB_I64)
                        ((int64_t *)gids)[i] = G->ids[i];
                    else
                        ((int32_t *)gids)[i] = (int32_t)G->ids[i];
                }
                emb_status s1 = emb_mpi_grad(&t, dshard, ids, (emb_index)it, b.n,
                                             gd + G->first_tok[rank] * gb, gtypes[gi], &o);
                emb_status s2 = G->n == 0 ? EMB_OK
                                          : emb_grad_ex(D, V, dim, gids, (emb_index)it, G->n, gd,
                                                        gtypes[gi], &o);
                char nm[200], d[80];
                snprintf(d, sizeof d, "dout %s, %s ids, %s", emb_type_name(gtypes[gi]),
                         emb_index_name((emb_index)it),
                         opt_kind == 0 ? "plain" : opt_kind == 1 ? "padding_idx" : "scale_grad_by_freq");
                case_name(nm, sizeof nm, "grad", layout, kind, d);
                CHECK(s1 == EMB_OK && s2 == EMB_OK, "%s: status %d/%d: %s", nm, s1, s2,
                      emb_mpi_last_error());
                CHECK(shard_equal(&t, (uint8_t *)dshard, (uint8_t *)D, rb), "%s: shard differs",
                      nm);
                free(ids);
                free(gids);
                free(dshard);
                free(D);
                free(gd);
                free(G);
            }
    emb_mpi_table_free(&t);
}

/* The pooled ops: bag forward on every table type, the backward and the
 * steps on the float types, each against the global batch. */
static void test_bag(int layout, int kind, uint64_t seed)
{
    int form = 0;
    for (int ti = 0; ti < NTYPES; ti++) {
        const emb_type type = all_types[ti];
        const int64_t dim = dim_of(type);
        emb_mpi_table t;
        uint8_t *W = open_table(&t, layout, type, seed + (uint64_t)ti);
        if (W == NULL)
            continue;
        for (int mode = 0; mode < 4; mode++) /* sum, mean, max, weighted sum */
            for (int it = 0; it < 2; it++) {
                const emb_bag_mode m = mode == 3 ? EMB_BAG_SUM : (emb_bag_mode)mode;
                const int64_t pad = form % 4 == 1 ? 11 : -1;
                batch b;
                make_batch(&b, &t, kind, rank, seed + (uint64_t)(mode * 2 + it), pad);
                int64_t buf[MAXN + 1];
                const emb_bags bg = bags_as(&b, form++, mode == 3, pad, buf);
                void *ids = ids_as(&b, (emb_index)it);
                const size_t cnt = (size_t)(b.nbags * dim);
                float *got = xmalloc(cnt * 4 + 16), *want = xmalloc(cnt * 4 + 16);
                int64_t *ag = xmalloc(cnt * 8), *aw = xmalloc(cnt * 8);
                memset(got, 0xA5, cnt * 4 + 16);
                memset(want, 0xA5, cnt * 4 + 16);
                const int am = m == EMB_BAG_MAX;
                emb_status s1 =
                    emb_mpi_bag(&t, ids, (emb_index)it, b.n, &bg, m, got, am ? ag : NULL);
                emb_status s2 = emb_bag(W, type, V, dim, ids, (emb_index)it, b.n, &bg, m, want,
                                        am ? aw : NULL);
                char nm[200], d[80];
                snprintf(d, sizeof d, "%s, mode %d, %s ids, form %d%s", emb_type_name(type), mode,
                         emb_index_name((emb_index)it), (form - 1) % 6, pad >= 0 ? ", padding" : "");
                case_name(nm, sizeof nm, "bag", layout, kind, d);
                CHECK(s1 == EMB_OK && s2 == EMB_OK, "%s: status %d/%d: %s / %s", nm, s1, s2,
                      emb_mpi_last_error(), emb_last_error());
                CHECK(memcmp(got, want, cnt * 4 + 16) == 0, "%s: bags or guard differ", nm);
                CHECK(!am || memcmp(ag, aw, cnt * 8) == 0, "%s: argmax differs", nm);
                free(ids);
                free(got);
                free(want);
                free(ag);
                free(aw);
            }
        free(t.rows);
        emb_mpi_table_free(&t);
        free(W);
    }
}

/* emb_bag_grad (sum, mean, weighted; f32, f16, bf16 dout) into a gradient
 * shard, and emb_bag_update (SGD and row-wise Adagrad, per occurrence and
 * coalesced) on f32, f16 and bf16 tables over `steps` batches. */
static void test_train(int layout, int kind, uint64_t seed, int steps, int only_adagrad_f32)
{
    static const emb_type ftypes[] = {EMB_F32, EMB_F16, EMB_BF16};
    int form = 0;
    for (int ti = 0; ti < 3; ti++) {
        const emb_type type = ftypes[ti];
        if (only_adagrad_f32 && type != EMB_F32)
            continue;
        const int64_t dim = dim_of(type);
        emb_mpi_table t;
        if (make_layout(&t, layout, type) != EMB_OK) {
            fail("table init: %s", emb_mpi_last_error());
            continue;
        }
        const size_t rb = emb_row_bytes(type, dim), fb = (size_t)dim * 4;
        for (int what = 0; what < 5; what++) { /* bag_grad, SGD, SGD coalesced, Adagrad x2 */
            if (only_adagrad_f32 && what != 3)
                continue;
            for (int mode = 0; mode < (what == 0 ? 4 : 3); mode++) /* sum, mean, weighted, max */
                for (int it = 0; it < 2; it++) {
                    if (only_adagrad_f32 && (mode != 2 || it != 1))
                        continue;
                    const uint64_t s0 = seed + (uint64_t)(what * 100 + mode * 10 + it);
                    const emb_bag_mode m =
                        mode == 1 ? EMB_BAG_MEAN : mode == 3 ? EMB_BAG_MAX : EMB_BAG_SUM;
                    const emb_type gt = what == 0 ? ftypes[(it + mode) % 3] : EMB_F32;
                    const size_t gb = emb_row_bytes(gt, dim);
                    /* bag_grad accumulates into an fp32 matrix; steps update W. */
                    uint8_t *W = what == 0 ? xmalloc(V * fb) : make_table(type, s0);
                    if (what == 0) {
                        gen_rng g = gen_seed(s0);
                        gen_fill_finite(&g, (float *)(void *)W, (size_t)(V * dim));
                    }
                    const size_t wrb = what == 0 ? fb : rb;
                    float *H = xmalloc(V * 4);
                    gen_rng hg = gen_seed(s0 + 1);
                    for (int k = 0; k < V; k++)
                        H[k] = (float)gen_below(&hg, 100) / 64.0f;
                    uint8_t *shard = shard_of(&t, W, wrb);
                    float *hshard = (float *)(void *)shard_of(&t, (uint8_t *)H, 4);
                    t.rows = what == 0 ? NULL : shard;
                    emb_status s1 = EMB_OK, s2 = EMB_OK;
                    for (int step = 0; step < steps && s1 == EMB_OK && s2 == EMB_OK; step++) {
                        const uint64_t s = s0 * 1000 + (uint64_t)step;
                        const int64_t pad = form % 3 == 1 ? 5 : -1;
                        global_batch *G = xmalloc(sizeof *G);
                        make_global(G, &t, kind, s, pad);
                        batch b;
                        make_batch(&b, &t, kind, rank, s, pad);
                        int64_t buf[MAXN + 1];
                        const int f = form++;
                        const emb_bags bg = bags_as(&b, f, mode == 2, pad, buf);
                        const emb_bags gbags = {G->nbags, NULL, G->len, EMB_I64, 0,
                                                mode == 2 ? G->w : NULL, bg.padding_idx};
                        uint8_t *dout = xmalloc((size_t)G->nbags * gb);
                        global_rows(G->first_bag, gt, dim, s, dout);
                        void *ids = ids_as(&b, (emb_index)it);
                        void *gids = xmalloc((size_t)G->n * 8);
                        for (int64_t i = 0; i < G->n; i++) {
                            if (it == EMB_I64)
                                ((int64_t *)gids)[i] = G->ids[i];
                            else
                                ((int32_t *)gids)[i] = (int32_t)G->ids[i];
                        }
                        const uint8_t *mydout = dout + G->first_bag[rank] * gb;
                        /* Max: the global batch's argmax from a forward on
                         * another table; this rank's bags are its part. */
                        int64_t *am = NULL;
                        if (m == EMB_BAG_MAX) {
                            uint8_t *T = make_table(EMB_F32, s);
                            float *o = xmalloc((size_t)(G->nbags * dim) * 4);
                            am = xmalloc((size_t)(G->nbags * dim) * 8);
                            if (emb_bag(T, EMB_F32, V, dim, gids, (emb_index)it, G->n, &gbags,
                                        EMB_BAG_MAX, o, am) != EMB_OK)
                                fail("argmax: %s", emb_last_error());
                            free(T);
                            free(o);
                        }
                        if (what == 0) {
                            s1 = emb_mpi_bag_grad(&t, (float *)(void *)shard, ids, (emb_index)it,
                                                  b.n, &bg, m,
                                                  am != NULL ? am + G->first_bag[rank] * dim : NULL,
                                                  mydout, gt);
                            s2 = emb_bag_grad((float *)(void *)W, V, dim, gids, (emb_index)it,
                                              G->n, &gbags, m, am, dout, gt);
                        } else {
                            const int ada = what >= 3;
                            emb_step st = {ada ? EMB_OPT_ROWWISE_ADAGRAD : EMB_OPT_SGD, 0.25f,
                                           1e-3f, ada ? hshard : NULL, what == 2 || what == 4};
                            s1 = emb_mpi_bag_update(&t, ids, (emb_index)it, b.n, &bg, m,
                                                    (const float *)(const void *)mydout, &st);
                            st.h = ada ? H : NULL;
                            s2 = emb_bag_update(W, type, V, dim, gids, (emb_index)it, G->n,
                                                &gbags, m, (const float *)(const void *)dout,
                                                &st);
                        }
                        free(am);
                        free(ids);
                        free(gids);
                        free(dout);
                        free(G);
                    }
                    char nm[200], d[120];
                    static const char *whats[] = {"bag_grad", "SGD", "SGD coalesced", "Adagrad",
                                                  "Adagrad coalesced"};
                    snprintf(d, sizeof d, "%s, %s table, dout %s, %s, %s ids, %d steps",
                             whats[what], emb_type_name(type), emb_type_name(gt),
                             mode == 0 ? "sum" : mode == 1 ? "mean" : mode == 2 ? "weighted" : "max",
                             emb_index_name((emb_index)it), steps);
                    case_name(nm, sizeof nm, "train", layout, kind, d);
                    CHECK(s1 == EMB_OK && s2 == EMB_OK, "%s: status %d/%d: %s / %s", nm, s1, s2,
                          emb_mpi_last_error(), emb_last_error());
                    CHECK(shard_equal(&t, shard, W, wrb), "%s: shard differs", nm);
                    CHECK(what < 3 || shard_equal(&t, (uint8_t *)hshard, (uint8_t *)H, 4),
                          "%s: h differs", nm);
                    free(shard);
                    free(hshard);
                    free(H);
                    free(W);
                }
        }
        emb_mpi_table_free(&t);
    }
}

/* ---- errors ----------------------------------------------------------- */

/* A bad id on rank bad (and on the last rank too when both): every rank
 * returns EMB_ERANGE with the message naming the lowest bad rank, and no
 * byte of any output, shard or accumulator changes. */
static void test_bad_ids(int layout, int bad, int also_last, int64_t bad_value)
{
    const emb_type type = EMB_F32;
    const int64_t dim = dim_of(type);
    const size_t rb = (size_t)dim * 4;
    uint8_t *W = make_table(type, 99);
    emb_mpi_table t;
    if (make_layout(&t, layout, type) != EMB_OK) {
        fail("table init: %s", emb_mpi_last_error());
        free(W);
        return;
    }
    uint8_t *shard = shard_of(&t, W, rb);
    const size_t sbytes = (size_t)t.local_rows * rb;
    uint8_t *before = xmalloc(sbytes);
    if (sbytes > 0)
        memcpy(before, shard, sbytes);
    float *h = xmalloc((size_t)t.local_rows * 4 + 4);
    memset(h, 0, (size_t)t.local_rows * 4 + 4);
    t.rows = shard;
    static const char *ops[] = {"emb_mpi_lookup", "emb_mpi_grad", "emb_mpi_bag",
                                "emb_mpi_bag_grad", "emb_mpi_bag_update"};
    for (int op = 0; op < 5; op++)
        for (int it = 0; it < 2; it++) {
            if (bad_value < 0 && it == 0 && op == 0)
                continue; /* covered by i64 */
            batch b;
            make_batch(&b, &t, BATCH_UNIFORM, rank, 5, -1);
            const int64_t pos = b.n - 1 - op % 2;
            if (rank == bad || (also_last && rank == nranks - 1))
                b.ids[pos] = bad_value;
            void *ids = ids_as(&b, (emb_index)it);
            int64_t buf[MAXN + 1];
            const emb_bags bg = bags_as(&b, op, 0, -1, buf);
            const size_t ob = (size_t)(b.n > b.nbags ? b.n : b.nbags) * rb;
            uint8_t *out = xmalloc(ob), *g = xmalloc(ob);
            memset(out, 0x5A, ob);
            memset(g, 0, ob);
            int64_t *am = xmalloc((size_t)b.nbags * (size_t)dim * 8);
            emb_status s = EMB_OK;
            const emb_step st = {EMB_OPT_ROWWISE_ADAGRAD, 0.5f, 0.0f, h, 0};
            switch (op) {
            case 0:
                s = emb_mpi_lookup(&t, ids, (emb_index)it, b.n, out, EMB_F32);
                break;
            case 1:
                s = emb_mpi_grad(&t, (float *)(void *)shard, ids, (emb_index)it, b.n, g,
                                 EMB_F32, NULL);
                break;
            case 2:
                s = emb_mpi_bag(&t, ids, (emb_index)it, b.n, &bg, EMB_BAG_MAX, (float *)out, am);
                break;
            case 3:
                s = emb_mpi_bag_grad(&t, (float *)(void *)shard, ids, (emb_index)it, b.n, &bg,
                                     EMB_BAG_SUM, NULL, g, EMB_F32);
                break;
            default:
                s = emb_mpi_bag_update(&t, ids, (emb_index)it, b.n, &bg, EMB_BAG_MEAN,
                                       (const float *)(void *)g, &st);
            }
            /* What the lowest bad rank's batch says. */
            batch bb;
            make_batch(&bb, &t, BATCH_UNIFORM, bad, 5, -1);
            char want[300];
            snprintf(want, sizeof want, "%s: rank %d: ids[%lld] = %lld is outside [0, %d)",
                     ops[op], bad, (long long)(bb.n - 1 - op % 2), (long long)bad_value, V);
            CHECK(s == EMB_ERANGE, "%s, bad id on rank %d, %s ids: status %d", ops[op], bad,
                  emb_index_name((emb_index)it), s);
            CHECK(strcmp(emb_mpi_last_error(), want) == 0, "message \"%s\", want \"%s\"",
                  emb_mpi_last_error(), want);
            int clean = sbytes == 0 || memcmp(before, shard, sbytes) == 0;
            for (size_t k = 0; k < ob; k++)
                clean &= out[k] == 0x5A;
            for (int64_t k = 0; k < t.local_rows; k++)
                clean &= h[k] == 0.0f;
            CHECK(clean, "%s, bad id on rank %d: something was written", ops[op], bad);
            free(ids);
            free(out);
            free(g);
            free(am);
        }
    free(before);
    free(h);
    free(shard);
    emb_mpi_table_free(&t);
    free(W);
}

/* Ranks passing different id types would exchange mismatched buffers:
 * refused on every rank before anything travels. */
static void test_disagree(void)
{
    if (nranks < 2)
        return;
    emb_mpi_table t;
    uint8_t *W = make_table(EMB_F32, 3);
    if (make_layout(&t, LAYOUT_EVEN, EMB_F32) != EMB_OK) {
        fail("table init: %s", emb_mpi_last_error());
        free(W);
        return;
    }
    t.rows = shard_of(&t, W, (size_t)dim_of(EMB_F32) * 4);
    batch b;
    make_batch(&b, &t, BATCH_UNIFORM, rank, 8, -1);
    const emb_index it = rank == 0 ? EMB_I32 : EMB_I64;
    void *ids = ids_as(&b, it);
    const size_t ob = (size_t)b.n * (size_t)dim_of(EMB_F32) * 4;
    uint8_t *out = xmalloc(ob);
    memset(out, 0x5A, ob);
    const emb_status s = emb_mpi_lookup(&t, ids, it, b.n, out, EMB_F32);
    CHECK(s == EMB_EINVAL, "mixed id types: status %d", s);
    CHECK(strstr(emb_mpi_last_error(), "disagree on id_type") != NULL, "mixed id types: \"%s\"",
          emb_mpi_last_error());
    int clean = 1;
    for (size_t k = 0; k < ob; k++)
        clean &= out[k] == 0x5A;
    CHECK(clean, "mixed id types: out was written");
    /* The table's communicator returns errors instead of aborting. */
    MPI_Errhandler eh;
    MPI_Comm_get_errhandler(t.comm, &eh);
    CHECK(eh == MPI_ERRORS_RETURN, "the table's communicator does not return errors");
    MPI_Errhandler_free(&eh);
    /* A failing MPI call comes back as EMB_ECOMM with MPI's words, nothing
     * written. MPI_COMM_NULL fails the first collective on every rank
     * alike; its error goes to MPI_COMM_WORLD's handler, made to return
     * for this check. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    emb_mpi_table broken = t;
    broken.comm = MPI_COMM_NULL;
    const emb_status sc = emb_mpi_lookup(&broken, ids, it, b.n, out, EMB_F32);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    char ecomm[80];
    snprintf(ecomm, sizeof ecomm, "emb_mpi_lookup: rank %d: MPI_Alltoall (counts) failed: ", rank);
    CHECK(sc == EMB_ECOMM, "a NULL communicator: status %d", sc);
    CHECK(strncmp(emb_mpi_last_error(), ecomm, strlen(ecomm)) == 0 &&
              strlen(emb_mpi_last_error()) > strlen(ecomm) + 4,
          "a NULL communicator: \"%s\"", emb_mpi_last_error());
    CHECK(strcmp(emb_mpi_strerror(EMB_ECOMM), "MPI call failed") == 0, "emb_mpi_strerror");
    clean = 1;
    for (size_t k = 0; k < ob; k++)
        clean &= out[k] == 0x5A;
    CHECK(clean, "a NULL communicator: out was written");
    /* A description that differs between ranks is refused at init. */
    emb_mpi_table u;
    const emb_status si =
        emb_mpi_table_init(&u, MPI_COMM_WORLD, rank == nranks - 1 ? V + 1 : V, 4, EMB_F32,
                           EMB_MPI_RANGES, NULL, NULL);
    CHECK(si == EMB_EINVAL, "differing vocab: init status %d", si);
    char want[64];
    snprintf(want, sizeof want, "emb_mpi_table_init: rank %d: vocab", nranks - 1);
    CHECK(strncmp(emb_mpi_last_error(), want, strlen(want)) == 0, "differing vocab: \"%s\"",
          emb_mpi_last_error());
    free(ids);
    free(out);
    free(t.rows);
    emb_mpi_table_free(&t);
    free(W);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    if (nranks > MAXP) {
        if (rank == 0)
            fprintf(stderr, "test_mpi: at most %d ranks\n", MAXP);
        MPI_Finalize();
        return 2;
    }
    /* Small calls stay on one thread anyway; say so for every rank. */
    emb_set_num_threads(1);
    for (int layout = 0; layout < LAYOUTS; layout++)
        for (int kind = 0; kind < BATCHES; kind++) {
            const uint64_t seed = 1000 + (uint64_t)(layout * 10 + kind);
            test_lookup(layout, kind, seed);
            test_grad(layout, kind, seed);
            test_bag(layout, kind, seed);
            test_train(layout, kind, seed, 3, 0);
        }
    /* The target: 100 fused row-wise Adagrad steps, bit-identical. */
    for (int layout = 0; layout < LAYOUTS; layout++)
        test_train(layout, BATCH_UNIFORM, 77, 100, 1);
    for (int layout = 0; layout < LAYOUTS; layout++)
        for (int bad = 0; bad < nranks; bad++) {
            test_bad_ids(layout, bad, 0, V);
            test_bad_ids(layout, bad, 1, -1);
        }
    test_disagree();
    long tot[2] = {failures, checks}, sum[2];
    MPI_Reduce(tot, sum, 2, MPI_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank == 0)
        printf("test_mpi at %d ranks: %ld checks, %ld failures\n", nranks, sum[1], sum[0]);
    int bad = sum[0] != 0;
    MPI_Bcast(&bad, 1, MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Finalize();
    return bad ? 1 : 0;
}
