/* bag_loops.h - the EmbeddingBag loops (pooled lookup, its gradient, the
 * fused SGD and row-wise Adagrad steps), shared by every ISA and type like
 * row_loops.h's: an ISA passes its row primitives (convert, the adds, the
 * f32 copy) and one more, fma(acc, x, w, count): acc[k] = fmaf(w, x[k],
 * acc[k]), one rounding each, to the templates below. Everything else here
 * is written once, with GCC's generic vectors where it is arithmetic. */
#ifndef EMBSIMD_BAG_LOOPS_H
#define EMBSIMD_BAG_LOOPS_H

#include "reduce.h"
#include "row_loops.h"


/* ---- bags ----------------------------------------------------------------- */

static inline __attribute__((always_inline)) size_t emb_bound_at(const void *p, int w64, size_t b)
{
    return w64 ? (size_t)((const int64_t *)p)[b] : (size_t)((const int32_t *)p)[b];
}

/* One past bag b's last token, given its first. */
static inline __attribute__((always_inline)) size_t emb_bag_end(const emb_bag_call *c, size_t b,
                                                                size_t start)
{
    if (c->bounds == NULL)
        return start + 1;
    if (c->lengths)
        return start + emb_bound_at(c->bounds, c->bounds64, b);
    return b + 1 < c->nbags ? emb_bound_at(c->bounds, c->bounds64, b + 1) : c->n;
}

/* Bag b's first token: a prefix sum of lengths (once per thread's slice). */
static inline size_t emb_bag_start(const emb_bag_call *c, size_t b)
{
    if (c->bounds == NULL)
        return b;
    if (!c->lengths)
        return b < c->nbags ? emb_bound_at(c->bounds, c->bounds64, b) : c->n;
    size_t t = 0;
    for (size_t k = 0; k < b; k++)
        t += emb_bound_at(c->bounds, c->bounds64, k);
    return t;
}

/* Non-padding tokens of [s, e): mean's divisor. */
static inline __attribute__((always_inline)) size_t emb_bag_count(const emb_bag_call *c, int ids64,
                                                                  size_t s, size_t e)
{
    if (c->pad == SIZE_MAX)
        return e - s;
    size_t cnt = 0;
    for (size_t t = s; t < e; t++)
        cnt += emb_id(c->ids, ids64, t) != c->pad;
    return cnt;
}

/* ---- element-wise helpers (generic vectors: each ISA's own registers) ----- */

typedef float emb_bag_v8 __attribute__((vector_size(8 * sizeof(float))));
typedef int32_t emb_bag_v8i __attribute__((vector_size(8 * sizeof(int32_t))));
typedef int64_t emb_bag_v8l __attribute__((vector_size(8 * sizeof(int64_t))));

/* x[k] = x[k] / c: one correctly rounded division each (mean). */
static inline __attribute__((always_inline)) void emb_div_floats(float *x, size_t count, float c)
{
    const emb_bag_v8 cv = {c, c, c, c, c, c, c, c};
    size_t k = 0;
    for (; k + 8 <= count; k += 8) {
        emb_bag_v8 v;
        memcpy(&v, x + k, sizeof v);
        v = v / cv;
        memcpy(x + k, &v, sizeof v);
    }
    for (; k < count; k++)
        x[k] = x[k] / c;
}

/* d[k] = w * x[k] (one rounding; the weighted step's gradient row) or,
 * with div set, d[k] = x[k] / w (mean's). */
static inline __attribute__((always_inline)) void emb_scale_floats(float *d, const float *x,
                                                                   size_t count, float w, int div)
{
    const emb_bag_v8 wv = {w, w, w, w, w, w, w, w};
    size_t k = 0;
    for (; k + 8 <= count; k += 8) {
        emb_bag_v8 v;
        memcpy(&v, x + k, sizeof v);
        v = div ? v / wv : v * wv;
        memcpy(d + k, &v, sizeof v);
    }
    for (; k < count; k++)
        d[k] = div ? x[k] / w : x[k] * w;
}

/* Max mode: where x[k] > m[k] (an ordered compare: a NaN never replaces,
 * ties keep the earlier token), m[k] takes x[k]'s bits and arg[k] the id.
 * A bit select, not an FP max: the winner's bits arrive unchanged. */
static inline __attribute__((always_inline)) void emb_max_floats(float *m, int64_t *arg,
                                                                 const float *x, int64_t id,
                                                                 size_t count)
{
    const emb_bag_v8l idv = {id, id, id, id, id, id, id, id};
    size_t k = 0;
    for (; k + 8 <= count; k += 8) {
        emb_bag_v8 a, v;
        emb_bag_v8i ai, vi;
        memcpy(&a, m + k, sizeof a);
        memcpy(&v, x + k, sizeof v);
        const emb_bag_v8i gt = v > a;
        memcpy(&ai, &a, sizeof ai);
        memcpy(&vi, &v, sizeof vi);
        ai = (vi & gt) | (ai & ~gt);
        memcpy(m + k, &ai, sizeof ai);
        if (arg != NULL) {
            const emb_bag_v8l g64 = __builtin_convertvector(gt, emb_bag_v8l);
            emb_bag_v8l old;
            memcpy(&old, arg + k, sizeof old);
            old = (idv & g64) | (old & ~g64);
            memcpy(arg + k, &old, sizeof old);
        }
    }
    for (; k < count; k++)
        if (x[k] > m[k]) {
            memcpy(m + k, x + k, sizeof(float));
            if (arg != NULL)
                arg[k] = id;
        }
}

static inline void emb_fill_i64(int64_t *a, size_t count, int64_t v)
{
    for (size_t k = 0; k < count; k++)
        a[k] = v;
}

/* ---- forward -------------------------------------------------------------- */

/* The primitives of one ISA for one table type: convert a piece to fp32;
 * add a piece widened (f32, f16, bf16 tables: NULL for the quantized
 * ones, which are converted into an L1 buffer first); the fp32 add and the
 * fused multiply-add; the f32 row copy with streaming stores (the
 * ordinary copy in an ISA without them), and the alignment in bytes
 * those need. */
typedef struct emb_bag_prims {
    emb_type in;
    emb_row_fn convert;
    emb_row_add_fn add_in, add_f32;
    void (*fma)(float *acc, const float *x, float w, size_t count);
    emb_row_fn copy_f32_stream;
    size_t stream_align;
} emb_bag_prims;

/* acc += convert(row) (weighted: acc = fmaf(w, convert(row), acc)),
 * element by element: the conversion is exact but for q8_rowwise's one
 * defined rounding, and it happens before the add either way. */
static inline __attribute__((always_inline)) void
emb_bag_add_row(emb_bag_prims K, float *acc, const uint8_t *row, size_t dim, int weighted, float w)
{
    if (!weighted && K.add_in != NULL) {
        K.add_in(acc, row, 0, dim, dim);
        return;
    }
    if (weighted && K.in == EMB_F32) {
        K.fma(acc, (const float *)row, w, dim);
        return;
    }
    float x[2 * EMB_PIECE_MAX] __attribute__((aligned(64)));
    EMB_FOR_PIECES(K.in, j, count, dim) {
        K.convert((uint8_t *)x, EMB_PIECE_VIEW(K.in, row, j), 0, count, dim - j);
        if (weighted)
            K.fma(acc + j, x, w, count);
        else
            K.add_f32(acc + j, (const uint8_t *)x, 0, count, count);
    }
}

static inline __attribute__((always_inline)) void
emb_bag_max_row(emb_bag_prims K, float *m, int64_t *arg, const uint8_t *row, size_t dim, int64_t id)
{
    if (K.in == EMB_F32) {
        emb_max_floats(m, arg, (const float *)row, id, dim);
        return;
    }
    float x[2 * EMB_PIECE_MAX] __attribute__((aligned(64)));
    EMB_FOR_PIECES(K.in, j, count, dim) {
        K.convert((uint8_t *)x, EMB_PIECE_VIEW(K.in, row, j), 0, count, dim - j);
        emb_max_floats(m + j, arg != NULL ? arg + j : NULL, x, id, count);
    }
}

/* How many tokens ahead a bag hints its rows: the schedule's
 * bag_ahead_multiple times the lookup's distance (by default twice: 16
 * rows of 512 bytes, as Caffe2's EmbeddingLookupIdx), within the same
 * caps. A bag's token costs less than a lookup's row, which also writes
 * it, so the hints must run further ahead to arrive in time. AMD EPYC Zen
 * 2, 1 thread, two alternating runs of the library: 32000 x 128 (the
 * LLC's size), bags of 20 and 100, 21.4-23.3 to 24.0-26.4 GB/s; the DRAM
 * and GPT-2 tables unchanged. */
static inline size_t emb_bag_rows_ahead(size_t in_row)
{
    const emb_loop_schedule *L = emb_loops();
    size_t rows = L->bag_ahead_multiple * emb_prefetch_rows_ahead(in_row, 1);
    if (rows > L->prefetch_rows_max)
        rows = L->prefetch_rows_max;
    if (rows > L->prefetch_budget / in_row)
        rows = L->prefetch_budget / in_row;
    return rows;
}

/* A hint for the line at p: `locality` as __builtin_prefetch takes it, 3
 * (PREFETCHT0 on x86: into L1), 2 (PREFETCHT1: into L2) or 0
 * (PREFETCHNTA: a far table's rows, met once). A constant after inlining,
 * so one instruction. */
#define EMB_BAG_PREFETCH(p, locality)                                                          \
    do {                                                                                       \
        if ((locality) == 0)                                                                   \
            __builtin_prefetch((const void *)(p), 0, 0);                                       \
        else if ((locality) == 2)                                                              \
            __builtin_prefetch((const void *)(p), 0, 2);                                       \
        else                                                                                   \
            __builtin_prefetch((const void *)(p), 0, 3);                                       \
    } while (0)

/* The locality of a call's bag hints: the schedule's bag_hint_level 2
 * hints into L2 on every table; level 1 into L1, or non-temporally on a
 * far table (EMB_KF_FAR), as the lookup does. Into L2, the hints of the
 * rows ahead do not hold L1's few miss buffers, which the loads of the
 * current rows need. AMD EPYC Zen 4 (family 25 model 17, KVM, 2 vCPUs,
 * 32 MiB L3), f32, 1 thread, GB/s, level 2 against level 1, two
 * alternating runs each: 50257 x 768 bags of 1 18.2-20.1 vs 11.8-13.4,
 * bags of 20 33.8-36.4 vs 29.1-31.2; 1000000 x 128 (a far table) bags of
 * 1 14.4-15.9 vs 9.9-11.3 (NTA) and 11.1-11.4 (T0), bags of 20 21.7-21.9
 * vs 10.9-15.1 and 16.9-18.6; 32000 x 128 bags of 1 24.6-27.0 vs
 * 24.3-26.0, bags of 20 50.6-51.3 vs 52.0-53.7. A Caffe2-shaped probe loop
 * (16 rows ahead, bags of 1, 1000000 x 128): 44-45 ns a row with
 * PREFETCHT1 against 56-61 with PREFETCHT0. */
static inline int emb_bag_locality(unsigned flags)
{
    if (emb_loops()->bag_hint_level == 2)
        return 2;
    return (flags & EMB_KF_FAR) ? 0 : 3;
}

/* Hints `lines` lines of token f's row from its byte `from`, and one more
 * when `extra` is set (f = the current token + ahead; ahead 0: none).
 * Where `lines` and `locality` are constants the hints are straight-line
 * code, not a loop: on bags of one a rolled loop of 8 hints was a fifth of
 * the instructions. */
static inline __attribute__((always_inline)) void
emb_bag_hint(const uint8_t *table, const emb_bag_call *c, int ids64, size_t f, size_t ahead,
             size_t in_row, size_t from, size_t lines, int extra, int locality)
{
    if (ahead == 0 || f >= c->n)
        return;
    const uintptr_t first =
        (uintptr_t)(table + emb_id(c->ids, ids64, f) * in_row + from) & ~(uintptr_t)63;
#pragma GCC unroll 16
    for (size_t l = 0; l < lines; l++)
        EMB_BAG_PREFETCH(first + 64 * l, locality);
    if (extra)
        EMB_BAG_PREFETCH(first + 64 * lines, locality);
}

/* An unweighted f32 sum of tokens [s, e) into o, a group of columns at a
 * time held in registers across the bag's tokens (one load and one add per
 * vector and token, where adding into o in memory also loads and stores
 * it); the columns past the last whole vector are added into o. Each
 * element still starts at +0 and adds its tokens in token order: the bits
 * of the row-at-a-time loop. (The +0 start is an add, not a copy of the
 * first row: x + 0 is not x for -0 and a signalling NaN.) Each group's
 * pass hints the same columns of the row `ahead` tokens on: a long row's
 * hints are spread over its groups, as the lookup's rows in flight spread
 * theirs, not sent in one burst that would queue on the core's few
 * outstanding misses.
 *
 * The widest group is EMB_BAG_REG_VECS vectors of EMB_BAG_VEC_FLOATS (an
 * ISA sets both before including this file: 16 ymm registers of AVX2, 16
 * zmm of AVX-512's 32), so a row of up to that many floats is one pass of
 * the tokens and the narrower remainder takes groups of 8, 4, 2 and 1
 * vectors. Per token that is a load and an add a vector, the id and the
 * hints: on bags of one, where the per-token work is all there is, the
 * former fixed 64-float groups cost two passes and 172 instructions a
 * 128-float bag (callgrind, AVX2) and ran at 0.6-0.7x PyTorch's Caffe2
 * kernel; a narrow loop also keeps fewer bags in the out-of-order window
 * when the rows arrive late. */
#ifndef EMB_BAG_VEC_FLOATS
#define EMB_BAG_VEC_FLOATS 8
#endif
#ifndef EMB_BAG_REG_VECS
#define EMB_BAG_REG_VECS 16
#endif
typedef float emb_bag_vec __attribute__((vector_size(EMB_BAG_VEC_FLOATS * sizeof(float))));

/* One group of V vectors, columns [j, j + V * EMB_BAG_VEC_FLOATS), of the
 * sum over tokens [s, e), held in registers (V > 0, a constant at each
 * call: each group width is its own loop), or with V = 0 the remaining
 * `cols` columns added into o in memory. Returns the count of non-padding
 * tokens (every group counts the same). */
static inline __attribute__((always_inline)) size_t
emb_bag_sum_group(emb_bag_prims K, const uint8_t *table, const emb_bag_call *c, int ids64,
                  size_t s, size_t e, float *o, size_t j, size_t cols, const int V, size_t ahead,
                  size_t hint_lines, int extra_line, int locality, int direct, int mean)
{
    const size_t dim = c->dim, in_row = dim * sizeof(float);
    emb_bag_vec acc[EMB_BAG_REG_VECS];
#pragma GCC unroll 32
    for (int v = 0; v < V; v++)
        acc[v] = (emb_bag_vec){0};
    if (V == 0)
        memset(o + j, 0, cols * sizeof(float));
    size_t cnt = 0;
    for (size_t t = s; t < e; t++) {
        emb_bag_hint(table, c, ids64, t + ahead, ahead, in_row, j * sizeof(float), hint_lines,
                     extra_line, locality);
        const size_t id = emb_id(c->ids, ids64, t);
        if (id == c->pad)
            continue;
        cnt++;
        if (V == 0) {
            K.add_f32(o, table + id * in_row, j, cols, dim);
            continue;
        }
        const float *row = (const float *)(table + id * in_row) + j;
#pragma GCC unroll 32
        for (int v = 0; v < V; v++) {
            emb_bag_vec x;
            memcpy(&x, row + EMB_BAG_VEC_FLOATS * v, sizeof x);
            acc[v] = acc[v] + x;
        }
    }
#ifdef EMB_BAG_STREAM_VEC
    if (V > 0 && direct) {
        /* The mean's division here, as emb_div_floats makes it: one
         * correctly rounded x / count per element. */
        if (mean && cnt > 0) {
            const float f = (float)cnt;
            emb_bag_vec cv;
            for (int k = 0; k < EMB_BAG_VEC_FLOATS; k++)
                cv[k] = f;
#pragma GCC unroll 32
            for (int v = 0; v < V; v++)
                acc[v] = acc[v] / cv;
        }
#pragma GCC unroll 32
        for (int v = 0; v < V; v++)
            EMB_BAG_STREAM_VEC(o + j + EMB_BAG_VEC_FLOATS * v, acc[v]);
        return cnt;
    }
#else
    (void)direct;
    (void)mean;
#endif
#pragma GCC unroll 32
    for (int v = 0; v < V; v++) /* vector by vector: the array stays in registers */
        memcpy(o + j + EMB_BAG_VEC_FLOATS * v, &acc[v], sizeof acc[v]);
    return cnt;
}

/* Whether a row's columns start mid-line (then each group's columns may
 * end in one more line than they fill). */
static inline int emb_bag_off_line(const uint8_t *table, size_t dim)
{
    return !((uintptr_t)table % 64 == 0 && dim * sizeof(float) % 64 == 0);
}

/* The sum of tokens [s, e) for any dim: the widest groups first, then one
 * each of 8, 4, 2 and 1 vectors as the remainder needs, then the columns
 * past the last whole vector in memory. */
static inline __attribute__((always_inline)) size_t
emb_bag_sum_f32_regs(emb_bag_prims K, const uint8_t *table, const emb_bag_call *c, int ids64,
                     size_t s, size_t e, float *o, size_t ahead, int off_line, int locality)
{
    enum { W = EMB_BAG_VEC_FLOATS, R = EMB_BAG_REG_VECS };
    const size_t dim = c->dim;
#define EMB_BAG_GROUP(vecs)                                                                    \
    emb_bag_sum_group(K, table, c, ids64, s, e, o, j, (vecs) * W, (vecs), ahead,             \
                      ((vecs) * W * sizeof(float) + 63) / 64, off_line, locality, 0, 0)
    size_t cnt = 0, j = 0;
    for (; j + R * W <= dim; j += R * W)
        cnt = EMB_BAG_GROUP(R);
    if (R > 8 && j + 8 * W <= dim)
        cnt = EMB_BAG_GROUP(R > 8 ? 8 : R), j += 8 * W;
    if (R > 4 && j + 4 * W <= dim)
        cnt = EMB_BAG_GROUP(R > 4 ? 4 : R), j += 4 * W;
    if (R > 2 && j + 2 * W <= dim)
        cnt = EMB_BAG_GROUP(R > 2 ? 2 : R), j += 2 * W;
    if (R > 1 && j + W <= dim)
        cnt = EMB_BAG_GROUP(1), j += W;
#undef EMB_BAG_GROUP
    if (j < dim)
        cnt = emb_bag_sum_group(K, table, c, ids64, s, e, o, j, dim - j, 0, ahead,
                                ((dim - j) * sizeof(float) + 63) / 64, off_line, locality, 0,
                                0);
    return cnt;
}

/* Bags [b0, b1) of an unweighted f32 sum or mean. V > 0: the row is
 * exactly V vectors, one group, every per-bag decision made at compile
 * time (the widths models use: 32 to 256 floats, as the ISA's registers
 * allow); V = 0: any dim. With `stream` (V > 0 only) each bag's row leaves
 * with streaming stores: a call whose output the cache cannot keep
 * (schedule.c) otherwise reads every output line before writing it. Where
 * the ISA has a streaming store of a register (EMB_BAG_STREAM_VEC) and the
 * output starts on a vector's boundary, straight from the registers (the
 * mean divided there); elsewhere through an L1 buffer and the ISA's
 * streaming row copy, which on a 128-float bag of one cost 16 stores, 16
 * loads and the copy's loop: 177 instructions a bag against 114 from the
 * registers and 136 for emb_lookup's row (callgrind, AVX2); on the Zen 1
 * below, from the registers took those bags from 4.8-5.3 to 5.6-6.7 GB/s
 * (four alternating rounds, faster in each; docs/bags.md). Through the
 * buffer: AMD EPYC Zen 1 (family 23 model 1, KVM, 2 vCPUs, 8 MiB L3,
 * 2026-12-06), bags of one of 128 floats, 8192 a
 * call, one thread: from the 32000-row table emb_bag ran at 1.10-1.38x
 * PyTorch's EmbeddingBag over seven runs, 1.07-1.16x with normal stores
 * (a probe: 3.8-4.8 GB/s against 2.9-3.7); on Zen 4 a probe found +18 %
 * (docs/bags.md). */
static inline __attribute__((always_inline)) void
emb_bag_rows_regs(emb_bag_prims K, const uint8_t *table, const emb_bag_call *c, int ids64,
                  int mode, size_t b0, size_t b1, size_t t0, float *out, size_t ahead, int locality,
                  int stream, const int V)
{
    const size_t dim = c->dim;
    const int off_line = emb_bag_off_line(table, dim);
    float row[EMB_BAG_REG_VECS * EMB_BAG_VEC_FLOATS] __attribute__((aligned(64)));
#ifdef EMB_BAG_STREAM_VEC
    /* Streaming from the registers where every output row starts on a
     * vector's boundary (a row is V whole vectors), through the L1 buffer
     * elsewhere. */
    const int direct = V && stream && (uintptr_t)out % sizeof(emb_bag_vec) == 0;
#else
    const int direct = 0;
#endif
    size_t start = t0;
    for (size_t b = b0; b < b1; b++) {
        const size_t end = emb_bag_end(c, b, start);
        float *o = V && stream && !direct ? row : out + b * dim;
        const size_t cnt =
            V ? emb_bag_sum_group(K, table, c, ids64, start, end, o, 0, dim, V, ahead,
                                  (V * EMB_BAG_VEC_FLOATS * sizeof(float) + 63) / 64, off_line,
                                  locality, direct, mode == EMB_BAG_MEAN)
              : emb_bag_sum_f32_regs(K, table, c, ids64, start, end, o, ahead, off_line, locality);
        start = end;
        if (direct) /* stored: +0 where no token counted (the sum's start), the mean divided */
            continue;
        if (cnt == 0) /* empty, or padding only: +0 */
            memset(o, 0, dim * sizeof(float));
        if (mode == EMB_BAG_MEAN && cnt > 0)
            emb_div_floats(o, dim, (float)cnt);
        if (V && stream)
            K.copy_f32_stream((uint8_t *)(out + b * dim), (const uint8_t *)row, 0, dim, dim);
    }
}

/* The same, a row width of one group and the hint chosen once a call (a
 * constant hint is a prefetch with a displacement; a variable one cost a
 * register and a branch a line). */
static inline __attribute__((always_inline)) void
emb_bag_rows_regs_width(emb_bag_prims K, const uint8_t *table, const emb_bag_call *c,
                        int ids64, int mode, size_t b0, size_t b1, size_t t0, float *out,
                        size_t ahead, const int locality, int stream)
{
    enum { W = EMB_BAG_VEC_FLOATS, R = EMB_BAG_REG_VECS };
#define EMB_BAG_ROWS(vecs)                                                                     \
    emb_bag_rows_regs(K, table, c, ids64, mode, b0, b1, t0, out, ahead, locality, stream, vecs)
    if (c->dim == R * W)
        EMB_BAG_ROWS(R);
    else if (R > 8 && c->dim == 8 * W)
        EMB_BAG_ROWS(R > 8 ? 8 : R);
    else if (R > 4 && c->dim == 4 * W)
        EMB_BAG_ROWS(R > 4 ? 4 : R);
    else
        EMB_BAG_ROWS(0);
#undef EMB_BAG_ROWS
}

static inline __attribute__((always_inline)) void
emb_bag_rows_regs_any(emb_bag_prims K, const uint8_t *table, const emb_bag_call *c, int ids64,
                      int mode, size_t b0, size_t b1, size_t t0, float *out, size_t ahead,
                      int locality, int stream)
{
    if (locality == 0)
        emb_bag_rows_regs_width(K, table, c, ids64, mode, b0, b1, t0, out, ahead, 0, stream);
    else if (locality == 2)
        emb_bag_rows_regs_width(K, table, c, ids64, mode, b0, b1, t0, out, ahead, 2, stream);
    else
        emb_bag_rows_regs_width(K, table, c, ids64, mode, b0, b1, t0, out, ahead, 3, stream);
}

/* Bags [b0, b1): the tokens in order, each row prefetched a few tokens
 * ahead across bag boundaries (a bag of one row is the common case in
 * DLRM-style inputs, and a bag's own rows are too few to hide the
 * latency). The output row lives in L1 while its bag is summed. */
static inline __attribute__((always_inline)) void
emb_bag_rows_w(emb_bag_prims K, const uint8_t *table, const emb_bag_call *c, int ids64, int mode,
               int weighted, size_t b0, size_t b1, size_t t0, float *out, int64_t *argmax,
               unsigned flags)
{
    const size_t dim = c->dim;
    const size_t in_row = emb_row_size(K.in, dim);
    /* A table below the prefetch threshold is hinted into L1 where the
     * schedule says so (bag_cached_hint, tuning.c: an LLC slow to reach). */
    const int cached_hint = !(flags & EMB_KF_PREFETCH) && emb_loops()->bag_cached_hint != 0;
    const size_t ahead =
        (flags & EMB_KF_PREFETCH) || cached_hint ? emb_bag_rows_ahead(in_row) : 0;
    const size_t lines = emb_row_lines(table, in_row);
    const int locality = cached_hint ? 3 : emb_bag_locality(flags);
    /* Constant in each instantiation: one of the two loops is compiled. */
    if (mode != EMB_BAG_MAX && !weighted && K.in == EMB_F32) {
        /* Streaming only where the ISA has it (its streaming f32 copy is
         * not its ordinary one, K.convert here), the table is not a far
         * one, and every row starts aligned for it (a streaming copy pays
         * for an unaligned head and tail). From a far table it lost: Zen 1
         * (as below), 3,000,000 x 128 bags of one, emb_bag / PyTorch's
         * EmbeddingBag 0.68-0.82 with the default hints into L2 against
         * 1.02-1.11 with normal stores, 1.07-1.32 against 1.08-1.27 with
         * tuning's non-temporal hints. */
        const int stream = (flags & EMB_KF_STREAM) && !(flags & EMB_KF_FAR) &&
                           K.copy_f32_stream != K.convert &&
                           (uintptr_t)out % K.stream_align == 0 &&
                           dim * sizeof(float) % K.stream_align == 0;
        emb_bag_rows_regs_any(K, table, c, ids64, mode, b0, b1, t0, out, ahead, locality, stream);
        return;
    }
    size_t start = t0;
    for (size_t b = b0; b < b1; b++) {
        const size_t end = emb_bag_end(c, b, start);
        float *o = out + b * dim;
        int64_t *a = argmax != NULL ? argmax + b * dim : NULL;
        size_t cnt = 0;
        for (size_t t = start; t < end; t++) {
            emb_bag_hint(table, c, ids64, t + ahead, ahead, in_row, 0, lines, 0, locality);
            const size_t id = emb_id(c->ids, ids64, t);
            if (id == c->pad)
                continue;
            const uint8_t *row = table + id * in_row;
            if (mode == EMB_BAG_MAX) {
                if (cnt == 0) {
                    K.convert((uint8_t *)o, row, 0, dim, dim);
                    if (a != NULL)
                        emb_fill_i64(a, dim, (int64_t)id);
                } else {
                    emb_bag_max_row(K, o, a, row, dim, (int64_t)id);
                }
            } else {
                if (cnt == 0)
                    memset(o, 0, dim * sizeof(float)); /* +0: the sum's start */
                emb_bag_add_row(K, o, row, dim, weighted, weighted ? c->weights[t] : 0.0f);
            }
            cnt++;
        }
        if (cnt == 0) { /* empty, or padding only: +0 */
            memset(o, 0, dim * sizeof(float));
            if (a != NULL)
                emb_fill_i64(a, dim, -1);
        }
        if (mode == EMB_BAG_MEAN && cnt > 0)
            emb_div_floats(o, dim, (float)cnt);
        start = end;
    }
}

/* Mode, weights and id width constant inside: the token loop tests none. */
static inline __attribute__((always_inline)) void
emb_bag_rows(emb_bag_prims K, const uint8_t *table, const emb_bag_call *c, size_t b0, size_t b1,
             size_t t0, float *out, int64_t *argmax, unsigned flags)
{
#define EMB_BAG_CASE(w64)                                                                      \
    do {                                                                                       \
        if (c->mode == EMB_BAG_MAX)                                                            \
            emb_bag_rows_w(K, table, c, w64, EMB_BAG_MAX, 0, b0, b1, t0, out, argmax, flags);  \
        else if (c->mode == EMB_BAG_MEAN)                                                      \
            emb_bag_rows_w(K, table, c, w64, EMB_BAG_MEAN, 0, b0, b1, t0, out, NULL, flags);   \
        else if (c->weights != NULL)                                                           \
            emb_bag_rows_w(K, table, c, w64, EMB_BAG_SUM, 1, b0, b1, t0, out, NULL, flags);    \
        else                                                                                   \
            emb_bag_rows_w(K, table, c, w64, EMB_BAG_SUM, 0, b0, b1, t0, out, NULL, flags);    \
    } while (0)
    if (c->ids64)
        EMB_BAG_CASE(1);
    else
        EMB_BAG_CASE(0);
#undef EMB_BAG_CASE
}

/* ---- backward --------------------------------------------------------------
 * Every part walks every bag and token in order and adds only into the
 * rows it owns: each row still sees its additions in token order. */
static inline __attribute__((always_inline)) void
emb_bag_grad_rows_w(emb_type g_type, float *dtable, const emb_bag_call *c, int ids64, int mode,
                    int weighted, const uint8_t *dout, unsigned part, unsigned nparts,
                    emb_row_add_fn add, emb_row_fn widen,
                    void (*fma)(float *, const float *, float, size_t))
{
    const size_t dim = c->dim;
    const unsigned own_shift = emb_owner_shift(dim); /* emb_row_owner's blocks */
    const size_t g_row = emb_row_size(g_type, dim);
    size_t start = 0;
    for (size_t b = 0; b < c->nbags; b++) {
        const size_t end = emb_bag_end(c, b, start);
        const uint8_t *g = dout + b * g_row;
        const uint32_t cnt = mode == EMB_BAG_MEAN ? (uint32_t)emb_bag_count(c, ids64, start, end) : 1;
        for (size_t t = start; t < end; t++) {
            const size_t id = emb_id(c->ids, ids64, t);
            if (id == c->pad || emb_row_owner(id, own_shift, nparts) != part)
                continue;
            float *acc = dtable + id * dim;
            if (!weighted) {
                emb_add_token(g_type, acc, g, dim, cnt, add, widen);
            } else if (g_type == EMB_F32) {
                fma(acc, (const float *)g, c->weights[t], dim);
            } else {
                float x[2 * EMB_PIECE_MAX] __attribute__((aligned(64)));
                EMB_FOR_PIECES(g_type, j, count, dim) {
                    widen((uint8_t *)x, EMB_PIECE_VIEW(g_type, g, j), 0, count, dim - j);
                    fma(acc + j, x, c->weights[t], count);
                }
            }
        }
        start = end;
    }
}

/* Max: element j of bag b goes to row argmax[b][j]. */
static inline __attribute__((always_inline)) void
emb_bag_grad_max(emb_type g_type, float *dtable, const emb_bag_call *c, const uint8_t *dout,
                 const int64_t *argmax, unsigned part, unsigned nparts)
{
    const size_t dim = c->dim;
    const unsigned own_shift = emb_owner_shift(dim); /* emb_row_owner's blocks */
    const size_t g_row = emb_row_size(g_type, dim);
    for (size_t b = 0; b < c->nbags; b++) {
        const int64_t *a = argmax + b * dim;
        for (size_t j = 0; j < dim; j++) {
            if (a[j] < 0 || emb_row_owner((uint64_t)a[j], own_shift, nparts) != part)
                continue;
            float x;
            emb_row_to_f32(g_type, &x, dout + b * g_row, dim, j, 1);
            dtable[(size_t)a[j] * dim + j] += x;
        }
    }
}

/* The bag kernels of one ISA, every primitive passed: add_in adds a table
 * row straight from the table (NULL: convert it into a buffer first),
 * add_f32_ the f32 row add, fma the fused multiply-add of a float row,
 * copy_f32_stream the f32 row copy with streaming stores, fence what
 * orders them, stream_align the bytes they need. */
#define EMB_DEFINE_BAG(attrs, name, in_type, convert, add_in, add_f32_, fma, copy_f32_stream,  \
                       fence, stream_align)                                                   \
    static attrs void name(const uint8_t *table, const emb_bag_call *c, size_t b0, size_t b1,  \
                           size_t t0, float *out, int64_t *argmax, unsigned flags)            \
    {                                                                                         \
        const emb_bag_prims K = {in_type, convert,         add_in,      add_f32_,             \
                                 fma,     copy_f32_stream, stream_align};                     \
        emb_bag_rows(K, table, c, b0, b1, t0, out, argmax, flags);                            \
        /* streaming stores are weakly ordered: fence before the thread returns */           \
        if (flags & EMB_KF_STREAM)                                                            \
            fence();                                                                          \
    }

#define EMB_DEFINE_BAG_GRAD(attrs, name, g_type, add, widen, fma)                             \
    static attrs void name(float *dtable, const emb_bag_call *c, const uint8_t *dout,          \
                           const int64_t *argmax, unsigned part, unsigned nparts,             \
                           unsigned flags)                                                    \
    {                                                                                         \
        (void)flags;                                                                          \
        if (c->mode == EMB_BAG_MAX) {                                                         \
            emb_bag_grad_max(g_type, dtable, c, dout, argmax, part, nparts);                  \
            return;                                                                           \
        }                                                                                     \
        const int m = c->mode, w = c->weights != NULL;                                        \
        if (c->ids64)                                                                         \
            emb_bag_grad_rows_w(g_type, dtable, c, 1, m, w, dout, part, nparts, add, widen,   \
                                fma);                                                         \
        else                                                                                  \
            emb_bag_grad_rows_w(g_type, dtable, c, 0, m, w, dout, part, nparts, add, widen,   \
                                fma);                                                         \
    }

/* ---- fused optimizer steps ---------------------------------------------------
 * Token t's gradient row g: dout[b], or dout[b] / count (mean, count > 1),
 * or w[t] * dout[b] (one rounding). SGD: W = fmaf(-lr, g, W). Row-wise
 * Adagrad: m = reduce.h's canonical sum of g[j]^2, divided by (float)dim;
 * h[id] = h[id] + m; step = lr / (sqrtf(h[id]) + eps), each rounded;
 * W = fmaf(-step, g, W). Per occurrence, in token order; parts own rows
 * (and with them h's entries). */

/* The primitives of one ISA for one table type: the fp32 fused multiply-
 * add, and for f16 and bf16 tables the row's exact widening (the ISA's
 * convert) and types.h's narrowing back. */
typedef struct emb_step_prims {
    emb_type table;
    emb_row_fn widen;
    void (*fma)(float *acc, const float *x, float w, size_t count);
} emb_step_prims;

/* W = fmaf(s, g, W) on one row. A 16-bit row is widened into the L1 buffer
 * x, updated there in fp32 and rounded back once: what a framework holding
 * the parameter in f16 or bf16 does on every step. */
static inline __attribute__((always_inline)) void
emb_step_row(emb_step_prims K, uint8_t *row, const float *g, float s, float *x, size_t dim)
{
    if (K.table == EMB_F32) {
        K.fma((float *)(void *)row, g, s, dim);
        return;
    }
    K.widen((uint8_t *)x, row, 0, dim, dim);
    K.fma(x, g, s, dim);
    emb_f32_to_row16(K.table, row, x, dim);
}

static inline __attribute__((always_inline)) void
emb_bag_step_rows_w(emb_step_prims K, int adagrad, uint8_t *table, float *h,
                    const emb_bag_call *c, int ids64, int mode, int weighted, const float *dout,
                    float lr, float eps, float *scratch, unsigned part, unsigned nparts)
{
    const size_t dim = c->dim;
    const unsigned own_shift = emb_owner_shift(dim); /* emb_row_owner's blocks */
    const size_t row_bytes = emb_row_size(K.table, dim);
    float *x = scratch + dim; /* the widened row of a 16-bit table */
    size_t start = 0;
    for (size_t b = 0; b < c->nbags; b++) {
        const size_t end = emb_bag_end(c, b, start);
        const float *gb = dout + b * dim;
        const float *g = gb;
        int staged = 0;
        float m = 0.0f;
        for (size_t t = start; t < end; t++) {
            const size_t id = emb_id(c->ids, ids64, t);
            if (id == c->pad || emb_row_owner(id, own_shift, nparts) != part)
                continue;
            if (weighted) {
                emb_scale_floats(scratch, gb, dim, c->weights[t], 0);
                g = scratch;
                if (adagrad)
                    m = emb_reduce_f32(EMB_TERM_SQUARE, g, NULL, dim) / (float)dim;
            } else if (!staged) {
                /* Once per bag: every token of it has the same row. */
                const size_t cnt = mode == EMB_BAG_MEAN ? emb_bag_count(c, ids64, start, end) : 1;
                if (cnt > 1) {
                    emb_scale_floats(scratch, gb, dim, (float)cnt, 1);
                    g = scratch;
                }
                if (adagrad)
                    m = emb_reduce_f32(EMB_TERM_SQUARE, g, NULL, dim) / (float)dim;
                staged = 1;
            }
            uint8_t *w = table + id * row_bytes;
            if (adagrad) {
                const float hi = h[id] + m;
                h[id] = hi;
                const float step = lr / (sqrtf(hi) + eps);
                emb_step_row(K, w, g, -step, x, dim);
            } else {
                emb_step_row(K, w, g, -lr, x, dim);
            }
        }
        start = end;
    }
}

/* widen: the ISA's convert of the table type to fp32 (an f32 table's is
 * never called: its rows are updated in place). */
#define EMB_DEFINE_BAG_STEP(attrs, name, adagrad, table_type, widen, fma)                     \
    static attrs void name(uint8_t *table, float *h, const emb_bag_call *c, const float *dout, \
                           float lr, float eps, float *scratch, unsigned part,                \
                           unsigned nparts, unsigned flags)                                   \
    {                                                                                         \
        (void)flags;                                                                          \
        const emb_step_prims K = {table_type, widen, fma};                                    \
        const int m = c->mode, w = c->weights != NULL;                                        \
        if (c->ids64)                                                                         \
            emb_bag_step_rows_w(K, adagrad, table, h, c, 1, m, w, dout, lr, eps, scratch,     \
                                part, nparts);                                                \
        else                                                                                  \
            emb_bag_step_rows_w(K, adagrad, table, h, c, 0, m, w, dout, lr, eps, scratch,     \
                                part, nparts);                                                \
    }

#endif /* EMBSIMD_BAG_LOOPS_H */
