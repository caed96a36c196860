/* test_parity.c - the Check suite that runs every kernel of the library
 * under each SIMD implementation and compares every output byte with what
 * scalar's code gives for the same call. It is sized for an instruction-set
 * emulator (.ci/avx512.sh runs it under Bochs on CPUs without AVX-512):
 * small calls, chosen to reach each path of the kernels -- the tails of
 * every vector width, the short-row and long-row loops, three alignments,
 * both id types, the gradient options, positions explicit and computed,
 * every bag mode and optimizer, streaming stores, prefetching, the far-table
 * path, a split over threads, every 16-bit pattern through each kernel that
 * widens one, the lookups and gradients under both line.realign values,
 * the lookups under both line.halves values -- in about 5.6e8 instructions.
 *
 * The per-op suites compare every implementation with references written
 * from the definitions; scalar passes them, so an implementation that
 * matches scalar bit for bit here is right on these inputs too. The inputs
 * follow the per-op suites' rules, under which the definitions fix every
 * bit: no addition ever sees two NaNs (IEEE 754 leaves the payload open).
 *
 * Before running, it lists which implementation's code runs each kernel
 * under each implementation tested (emb_kernel_impl): a kernel whose entry
 * needs a CPU feature this machine lacks runs a lower implementation's
 * code, and is named as not compared here. Each kernel compared prints a
 * line "parity: KERNEL under IMPL: N calls, B bytes identical to scalar's". */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embsimd.h"
#include "gen.h"
#include "internal.h"
#include "reference.h"
#include "test_common.h"

/* The library's last-level cache, pinned unless EMBSIMD_LLC is set: with
 * 16 KiB, calls of a few KiB already take the paths that real sizes take
 * past the cache (api.c: streaming stores from 10 KiB of output, prefetching
 * from an 8 KiB table, the far-table path from 128 KiB), on every machine
 * alike. */
#define PARITY_LLC "16K"

/* Bytes a threaded call moves: two parts need 512 KiB (threads.c). */
enum {
    THREADED_BYTES = 540 << 10,
    STREAM_BYTES = 12 << 10,
    PREFETCH_TABLE_BYTES = 12 << 10,
    FAR_TABLE_BYTES = 140 << 10
};

/* Element-type dims: under one vector, one, one plus a tail, the 32-float
 * short rows, the 256-float pieces and past them. The blocked types take
 * multiples of their block B: B, 2B, 3B, and 9B where B is 32 (a
 * super-block of 256 makes 9B too long a row for the emulator's budget). */
static const int64_t elem_dims[] = {1, 5, 16, 17, 31, 32, 33, 47, 64, 100, 257, 300};
static const int64_t block_multiples[] = {1, 2, 3, 9};

static int is_blocked(emb_type t) { return emb_row_bytes(t, 1) == 0; }

static int64_t block_of(emb_type t)
{
    int64_t block = 0;
    size_t bytes, at[2];
    ck_assert_msg(block_scales(t, &block, &bytes, at) > 0, "%s: no block", emb_type_name(t));
    return block;
}

static int dim_count(emb_type t)
{
    if (!is_blocked(t))
        return (int)(sizeof elem_dims / sizeof elem_dims[0]);
    return block_of(t) == 32 ? 4 : 3;
}

static int64_t dim_at(emb_type t, int d)
{
    return is_blocked(t) ? block_multiples[d] * block_of(t) : elem_dims[d];
}

/* A dim with a tail after whole vectors: the big calls' rows. */
static int64_t big_dim(emb_type t) { return is_blocked(t) ? 3 * block_of(t) : 100; }

static int64_t at_least(int64_t bytes, size_t row_bytes, int64_t floor)
{
    const int64_t rows = (bytes + (int64_t)row_bytes - 1) / (int64_t)row_bytes;
    return rows > floor ? rows : floor;
}

/* ---- inputs ------------------------------------------------------------------ */

static uint16_t moderate_f16(gen_rng *r)
{
    const uint16_t exp = (uint16_t)(8 + gen_below(r, 12));
    return (uint16_t)((gen_u64(r) & 0x83FFu) | (exp << 10));
}

static float moderate_f32(gen_rng *r)
{
    const uint32_t exp = 127 - 10 + (uint32_t)gen_below(r, 20);
    return gen_u2f(((uint32_t)gen_u64(r) & 0x807FFFFFu) | (exp << 23));
}

/* count elements of an element type (f32, f16, bf16), two from each random
 * word (the shared fill_elements draws until a pattern qualifies: ten
 * times the work for moderate values, too slow under an emulator).
 * Moderate: finite, the widened magnitude in [2^-8, 2^8), so sums round.
 * Not NaN: any pattern, a NaN turned into the infinity of its sign. */
static uint32_t element_bits(emb_type t, uint32_t u, value_kind kind)
{
    if (t == EMB_F16) {
        u &= 0xFFFFu;
        if (kind == VALUES_MODERATE)
            return (u & 0x83FFu) | ((7u + ((u >> 10) & 15u)) << 10);
        return (u & 0x7C00u) == 0x7C00u ? u & 0xFC00u : u;
    }
    if (kind == VALUES_MODERATE)
        return (u & 0x807FFFFFu) | ((119u + ((u >> 23) & 15u)) << 23);
    if ((u & 0x7F800000u) != 0x7F800000u)
        return u;
    return t == EMB_BF16 ? u & 0xFF80FFFFu : u & 0xFF800000u;
}

static void *make_elements(gen_rng *r, emb_type t, int64_t count, value_kind kind)
{
    ck_assert_msg(kind == VALUES_MODERATE || kind == VALUES_NOT_NAN, "kind %d", (int)kind);
    const size_t size = emb_row_bytes(t, 1);
    ck_assert_msg(size == 2 || size == 4, "%s is not an element type", emb_type_name(t));
    uint8_t *p = xmalloc((size_t)count * size);
    uint64_t x = 0;
    for (int64_t i = 0; i < count; i++) {
        if ((i & 1) == 0)
            x = gen_u64(r);
        const uint32_t u = element_bits(t, (uint32_t)(x >> (32 * (i & 1))), kind);
        if (t == EMB_F32) {
            memcpy(p + 4 * (size_t)i, &u, 4);
        } else {
            const uint16_t h = (uint16_t)(t == EMB_F16 ? u : u >> 16);
            memcpy(p + 2 * (size_t)i, &h, 2);
        }
    }
    return p;
}

/* vocab rows of type t. raw: any bit pattern, made determinate where IEEE
 * leaves a conversion open (reference.h); for lookups, max bags and the
 * tables a gradient adds into. Otherwise moderate: finite values whose sums
 * round, blocked rows with finite scales; for sums, scans and steps. */
static uint8_t *make_table(gen_rng *r, emb_type t, int64_t vocab, int64_t dim, int raw)
{
    if (!raw && !is_blocked(t) && t != EMB_Q8_ROWWISE)
        return make_elements(r, t, vocab * dim, VALUES_MODERATE);
    const size_t rb = emb_row_bytes(t, dim);
    uint8_t *table = xmalloc(rb * (size_t)vocab);
    fill_bytes(r, table, rb * (size_t)vocab);
    for (int64_t v = 0; v < vocab; v++) {
        uint8_t *row = table + rb * (size_t)v;
        if (!raw && t == EMB_Q8_ROWWISE) {
            const float s = moderate_f32(r), b = moderate_f32(r);
            memcpy(row + dim, &s, 4);
            memcpy(row + dim + 4, &b, 4);
        } else if (!raw) {
            int64_t block;
            size_t bb, at[2];
            const int scales = block_scales(t, &block, &bb, at);
            for (int64_t k = 0; k < dim / block; k++)
                for (int j = 0; j < scales; j++) {
                    const uint16_t d = moderate_f16(r);
                    memcpy(row + (size_t)k * bb + at[j], &d, 2);
                }
        }
        ref_make_determinate(t, row, dim);
    }
    return table;
}

static int64_t id_of(const void *ids, emb_index t, int64_t i)
{
    return t == EMB_I64 ? ((const int64_t *)ids)[i] : ((const int32_t *)ids)[i];
}

/* ---- one call under two implementations -------------------------------------- */

enum { MAX_OUT = 2 };

/* Everything one call of any op reads; the buffers it writes are out[]. */
typedef struct call {
    const emb_kernel *k;
    const void *table; /* lookup, lookup_pos, scan, bag: the table */
    int64_t vocab, dim, n;
    const void *ids;
    emb_index it;
    const void *rows; /* grad, grad_pos, bag_grad: dout (of type k->in); bag steps: f32 dout */
    const void *pos_table;
    emb_type pos_type;
    int64_t max_pos;
    emb_positions pos;
    const emb_grad_options *opt;
    const float *query;
    emb_metric metric;
    const emb_bags *bags;
    emb_bag_mode mode;
    const int64_t *argmax; /* bag_grad, max mode */
    emb_step step;         /* bag steps; step.h is out[1] */
    int threads;
    /* The buffers the call writes: their bytes, their contents before the
     * call (NULL: a filler byte; every byte is written), their offset past
     * a 64-byte boundary. */
    int nout;
    size_t out_bytes[MAX_OUT], out_offset[MAX_OUT];
    const void *out_init[MAX_OUT];
} call;

static emb_status run_call(call *c, uint8_t *const out[])
{
    const emb_kernel *k = c->k;
    switch (k->op) {
    case EMB_OP_LOOKUP:
        return emb_lookup(c->table, k->in, c->vocab, c->dim, c->ids, c->it, c->n, out[0], k->out);
    case EMB_OP_GRAD:
        return emb_grad_ex((float *)out[0], c->vocab, c->dim, c->ids, c->it, c->n, c->rows, k->in,
                           c->opt);
    case EMB_OP_LOOKUP_POS:
        return emb_lookup_pos(c->table, k->in, c->vocab, c->dim, c->ids, c->it, c->n,
                              c->pos_table, c->pos_type, c->max_pos, &c->pos, (float *)out[0]);
    case EMB_OP_GRAD_POS:
        return emb_grad_pos((float *)out[0], c->vocab, (float *)out[1], c->max_pos, c->dim,
                            c->ids, c->it, c->n, &c->pos, c->rows, k->in, c->opt);
    case EMB_OP_SCAN:
        return emb_scan(c->table, k->in, c->vocab, c->dim, c->query, c->metric, (float *)out[0]);
    case EMB_OP_BAG:
        return emb_bag(c->table, k->in, c->vocab, c->dim, c->ids, c->it, c->n, c->bags, c->mode,
                       (float *)out[0], c->nout > 1 ? (int64_t *)out[1] : NULL);
    case EMB_OP_BAG_GRAD:
        return emb_bag_grad((float *)out[0], c->vocab, c->dim, c->ids, c->it, c->n, c->bags,
                            c->mode, c->argmax, c->rows, k->in);
    case EMB_OP_BAG_SGD:
    case EMB_OP_BAG_ADAGRAD: {
        emb_step s = c->step;
        s.h = c->nout > 1 ? (float *)out[1] : NULL;
        return emb_bag_update(out[0], k->in, c->vocab, c->dim, c->ids, c->it, c->n, c->bags,
                              c->mode, c->rows, &s);
    }
    }
    ck_abort_msg("%s: an op this suite does not know (%d)", k->name, (int)k->op);
    return EMB_EINVAL;
}

/* An output buffer at a chosen offset past a 64-byte boundary, with 64
 * canary bytes on either side. (test_common's gbytes asserts once per
 * canary byte, and each passing assertion costs Check a message: too slow
 * under an emulator. This checks them with one.) */
enum { CANARY = 64 };

typedef struct obuf {
    uint8_t *base, *p;
    size_t bytes;
} obuf;

static uint8_t canary_at(size_t k) { return (uint8_t)(0x5Au ^ (k * 29u)); }

static obuf obuf_new(size_t bytes, size_t offset)
{
    ck_assert_uint_lt(offset, 64);
    obuf b;
    b.bytes = bytes;
    const size_t total = (CANARY + 64 + bytes + CANARY + 63) / 64 * 64;
    b.base = aligned_alloc(64, total);
    ck_assert_ptr_nonnull(b.base);
    b.p = b.base + CANARY + offset;
    for (size_t k = 0; k < (size_t)(b.p - b.base); k++)
        b.base[k] = canary_at(k);
    for (size_t k = 0; k < CANARY; k++)
        b.p[bytes + k] = canary_at(k);
    return b;
}

static void obuf_check(const obuf *b, const char *what)
{
    size_t bad = SIZE_MAX;
    for (size_t k = 0; k < (size_t)(b->p - b->base) && bad == SIZE_MAX; k++)
        if (b->base[k] != canary_at(k))
            bad = k;
    const size_t lead = (size_t)(b->p - b->base);
    for (size_t k = 0; k < CANARY && bad == SIZE_MAX; k++)
        if (b->p[b->bytes + k] != canary_at(k))
            bad = lead + b->bytes + k;
    ck_assert_msg(bad == SIZE_MAX, "%s: byte %lld from the buffer's start, outside it, was "
                  "overwritten", what, (long long)bad - (long long)lead);
}

typedef struct tally {
    int calls;
    size_t bytes;
} tally;

/* The call under implementation impl and under scalar, each on fresh copies
 * of the output buffers framed by canaries: both succeed, neither writes
 * outside its buffers, and every byte they write is the same. */
static void compare(call *c, int impl, const char *call_what, tally *t)
{
    char what[300];
    snprintf(what, sizeof what, "%s, line.realign %zu, line.halves %zu", call_what,
             emb_loops()->line_realign, emb_loops()->line_halves);
    obuf got[2][MAX_OUT];
    for (int side = 0; side < 2; side++) {
        const char *name = side == 0 ? emb_impl_name(impl) : "scalar";
        ck_assert_msg(emb_use_impl(name) == EMB_OK, "cannot select %s: %s", name, emb_last_error());
        ck_assert_int_eq(emb_set_num_threads(c->threads), EMB_OK);
        uint8_t *ptr[MAX_OUT] = {NULL, NULL};
        for (int o = 0; o < c->nout; o++) {
            got[side][o] = obuf_new(c->out_bytes[o], c->out_offset[o]);
            if (c->out_init[o] != NULL)
                memcpy(got[side][o].p, c->out_init[o], c->out_bytes[o]);
            else
                memset(got[side][o].p, 0xCD, c->out_bytes[o]);
            ptr[o] = got[side][o].p;
        }
        const emb_status s = run_call(c, ptr);
        ck_assert_msg(s == EMB_OK, "%s under %s: %s: %s", what, name, emb_strerror(s),
                      emb_last_error());
        for (int o = 0; o < c->nout; o++) {
            char where[340];
            snprintf(where, sizeof where, "%s under %s, output %d", what, name, o);
            obuf_check(&got[side][o], where);
        }
    }
    for (int o = 0; o < c->nout; o++) {
        char where[340];
        snprintf(where, sizeof where, "%s, output %d: %s against scalar", what, o,
                 emb_impl_name(impl));
        ASSERT_SAME_BYTES(got[0][o].p, got[1][o].p, c->out_bytes[o], where);
        t->bytes += c->out_bytes[o];
        free(got[0][o].base);
        free(got[1][o].base);
    }
    t->calls++;
    ck_assert_int_eq(emb_set_num_threads(1), EMB_OK);
}

/* The shape of one case: a dim, an alignment variant, threads. */
typedef struct shape {
    int64_t dim, vocab, n;
    int variant, threads;
    const char *label;
    int patterns; /* every 16-bit pattern once: PATTERN_ROWS rows of PATTERN_DIM */
    int64_t bags; /* the bag ops: bags a call (0: bag_sizes chooses), and the */
    size_t bag_out_offset; /* output's offset from a 64-byte boundary (with bags) */
} shape;

/* All 65536 patterns of a 16-bit type as a table of PATTERN_ROWS rows, and
 * ids naming each row once, in a scrambled order. */
enum { PATTERN_DIM = 64, PATTERN_ROWS = 65536 / PATTERN_DIM };

static uint8_t *pattern_table(void)
{
    uint16_t *p = xmalloc(65536 * sizeof(uint16_t));
    for (uint32_t h = 0; h < 65536; h++)
        p[h] = (uint16_t)h;
    return (uint8_t *)p;
}

static void *each_row_once(emb_index it, int64_t rows)
{
    void *ids = xmalloc((size_t)rows * id_bytes(it));
    for (int64_t i = 0; i < rows; i++) {
        const int64_t id = (i * 389 + 7) % rows; /* 389 is prime to any power of 2 */
        if (it == EMB_I64)
            ((int64_t *)ids)[i] = id;
        else
            ((int32_t *)ids)[i] = (int32_t)id;
    }
    return ids;
}

/* The cases of every op: each dim of the type's list (small calls, an id
 * type and alignment per dim), then "big": output past 5/8 of the pinned
 * cache and a table past 8 times it (streaming stores, prefetching, the
 * far-table path), and for the ops whose kernels split rows between
 * threads themselves (the gradients, the steps, the positional lookup's
 * computed positions), "threads": a call large enough to split into parts.
 * big_row_bytes: what one token (lookups, gradients) or one bag adds to the
 * bytes that decide the split. */
typedef void (*case_fn)(const emb_kernel *k, const shape *s, int impl, gen_rng *r, tally *t);

static void for_each_shape(const emb_kernel *k, emb_type row_type, size_t big_row_bytes,
                           int threaded, case_fn fn, int impl, gen_rng *r, tally *t)
{
    for (int d = 0; d < dim_count(row_type); d++) {
        const shape s = {dim_at(row_type, d), 13, 9, d, 1, "small", 0, 0, 0};
        fn(k, &s, impl, r, t);
    }
    /* A 16-bit table or dout that every lookup and gradient converts: each
     * pattern once (streaming stores too: the output is past the cache). */
    if (emb_row_bytes(row_type, 1) == 2 && (k->op == EMB_OP_LOOKUP ||
                                            k->op == EMB_OP_LOOKUP_POS || k->op == EMB_OP_GRAD)) {
        const shape s = {PATTERN_DIM, PATTERN_ROWS, PATTERN_ROWS, 0, 1, "all 16-bit patterns",
                         1, 0, 0};
        fn(k, &s, impl, r, t);
    }
    const int64_t dim = big_dim(row_type);
    const shape big = {dim, 0, at_least(STREAM_BYTES, big_row_bytes, 4), 0, 1, "big", 0, 0, 0};
    fn(k, &big, impl, r, t);
    if (threaded) {
        const shape split = {dim, 0, at_least(THREADED_BYTES, big_row_bytes, 2), 1, 2, "threads",
                             0, 0, 0};
        fn(k, &split, impl, r, t);
    }
}

/* ---- lookup ---------------------------------------------------------------------- */

static void lookup_case(const emb_kernel *k, const shape *s, int impl, gen_rng *r, tally *t)
{
    const size_t in_rb = emb_row_bytes(k->in, s->dim), out_rb = emb_row_bytes(k->out, s->dim);
    const int64_t vocab = s->vocab ? s->vocab
                          : s->threads > 1 ? 64 : at_least(FAR_TABLE_BYTES, in_rb, 2);
    const emb_index it = (emb_index)(s->variant & 1);
    uint8_t *table = s->patterns ? pattern_table() : make_table(r, k->in, vocab, s->dim, 1);
    void *ids = s->patterns ? each_row_once(it, vocab)
                            : make_ids(r, it, (size_t)s->n, vocab, GEN_IDS_UNIFORM);
    set_id(ids, it, 0, 0);
    set_id(ids, it, (size_t)s->n - 1, vocab - 1);
    call c = {.k = k, .table = table, .vocab = vocab, .dim = s->dim, .n = s->n, .ids = ids,
              .it = it, .threads = s->threads, .nout = 1};
    c.out_bytes[0] = (size_t)s->n * out_rb;
    c.out_offset[0] = type_offset(k->out, s->variant);
    char what[200];
    snprintf(what, sizeof what, "%s %s, %s ids, dim %lld, n %lld, vocab %lld, out +%zu, %d threads",
             k->name, s->label, emb_index_name(it), (long long)s->dim, (long long)s->n,
             (long long)vocab, c.out_offset[0], s->threads);
    compare(&c, impl, what, t);
    free(table);
    free(ids);
}

/* ---- grad, with and without nn.Embedding's options -------------------------------- */

static const emb_grad_options option_sets[] = {
    EMB_GRAD_OPTIONS_DEFAULT, {3, 0}, {-1, 1}, {EMB_NO_PADDING, 1}};
enum { N_OPTION_SETS = sizeof option_sets / sizeof option_sets[0] };

static void grad_case(const emb_kernel *k, const shape *s, int impl, gen_rng *r, tally *t)
{
    const int64_t vocab = s->vocab ? s->vocab : s->threads > 1 ? 300 : 600;
    const emb_index it = (emb_index)(s->variant & 1);
    const emb_grad_options *opt = &option_sets[s->variant % N_OPTION_SETS];
    const size_t dt_bytes = (size_t)(vocab * s->dim) * sizeof(float);
    /* dtable: any bits; dout: no NaN (NaN + NaN may keep either payload).
     * Every pattern: dout holds NaNs, so dtable holds none, and each row is
     * named once. */
    float *dtable;
    if (s->patterns) {
        dtable = make_elements(r, EMB_F32, vocab * s->dim, VALUES_NOT_NAN);
    } else {
        dtable = xmalloc(dt_bytes);
        fill_bytes(r, dtable, dt_bytes);
    }
    void *dout = s->patterns ? pattern_table()
                             : make_elements(r, k->in, s->n * s->dim, VALUES_NOT_NAN);
    void *ids = s->patterns ? each_row_once(it, vocab)
                            : make_ids(r, it, (size_t)s->n, vocab - 1,
                                       (s->variant & 2) ? GEN_IDS_DUPLICATES : GEN_IDS_ZIPF);
    if (s->n > 2 && opt->padding_idx != EMB_NO_PADDING) {
        const int64_t pad = opt->padding_idx < 0 ? opt->padding_idx + vocab : opt->padding_idx;
        set_id(ids, it, 1, pad);
    }
    call c = {.k = k, .vocab = vocab, .dim = s->dim, .n = s->n, .ids = ids, .it = it,
              .rows = dout, .opt = opt, .threads = s->threads, .nout = 1};
    c.out_bytes[0] = dt_bytes;
    c.out_offset[0] = type_offset(EMB_F32, s->variant);
    c.out_init[0] = dtable;
    char what[200];
    snprintf(what, sizeof what,
             "%s %s, %s ids, dim %lld, n %lld, vocab %lld, padding_idx %lld, scale %d, %d threads",
             k->name, s->label, emb_index_name(it), (long long)s->dim, (long long)s->n,
             (long long)vocab,
             (long long)(opt->padding_idx == EMB_NO_PADDING ? -999 : opt->padding_idx),
             opt->scale_grad_by_freq, s->threads);
    compare(&c, impl, what, t);
    free(dtable);
    free(dout);
    free(ids);
}

/* ---- the fused positional ops ------------------------------------------------------- */

static const emb_type pos_types[] = {EMB_F32, EMB_F16, EMB_BF16};

/* Positions explicit on odd variants, else computed from an offset. */
static void set_positions(call *c, gen_rng *r, int variant, void **positions)
{
    *positions = NULL;
    if (variant & 1)
        *positions = make_ids(r, c->it, (size_t)c->n, c->max_pos, GEN_IDS_UNIFORM);
    const int64_t seq_len = c->max_pos > 3 ? c->max_pos - 3 : 1;
    const emb_positions pos = {*positions, c->max_pos - seq_len, seq_len};
    c->pos = pos;
}

static void lookup_pos_case(const emb_kernel *k, const shape *s, int impl, gen_rng *r, tally *t)
{
    const size_t in_rb = emb_row_bytes(k->in, s->dim);
    const int64_t vocab = s->vocab ? s->vocab
                          : s->threads > 1 ? 64 : at_least(FAR_TABLE_BYTES, in_rb, 2);
    const emb_type pt = pos_types[s->variant % 3];
    const int64_t max_pos = 7;
    const emb_index it = (emb_index)((s->variant / 2) & 1);
    uint8_t *table = s->patterns ? pattern_table() : make_table(r, k->in, vocab, s->dim, 1);
    /* The position rows hold no NaN: a NaN row element plus a NaN position
     * element may keep either payload. */
    void *ptable = make_elements(r, pt, max_pos * s->dim, VALUES_NOT_NAN);
    void *ids = s->patterns ? each_row_once(it, vocab)
                            : make_ids(r, it, (size_t)s->n, vocab, GEN_IDS_ZIPF);
    call c = {.k = k, .table = table, .vocab = vocab, .dim = s->dim, .n = s->n, .ids = ids,
              .it = it, .pos_table = ptable, .pos_type = pt, .max_pos = max_pos,
              .threads = s->threads, .nout = 1};
    void *positions;
    set_positions(&c, r, s->variant, &positions);
    c.out_bytes[0] = (size_t)(s->n * s->dim) * sizeof(float);
    c.out_offset[0] = type_offset(EMB_F32, s->variant);
    char what[200];
    snprintf(what, sizeof what, "%s %s + %s positions (%s), %s ids, dim %lld, n %lld, out +%zu, "
             "%d threads", k->name, s->label, emb_type_name(pt),
             positions ? "explicit" : "computed", emb_index_name(it), (long long)s->dim,
             (long long)s->n, c.out_offset[0], s->threads);
    compare(&c, impl, what, t);
    free(table);
    free(ptable);
    free(ids);
    free(positions);
}

static void grad_pos_case(const emb_kernel *k, const shape *s, int impl, gen_rng *r, tally *t)
{
    const int64_t vocab = s->vocab ? s->vocab : 600, max_pos = s->vocab ? 7 : 40;
    const emb_index it = (emb_index)((s->variant / 2) & 1);
    const emb_grad_options *opt = &option_sets[s->variant % N_OPTION_SETS];
    const size_t w_bytes = (size_t)(vocab * s->dim) * sizeof(float);
    const size_t p_bytes = (size_t)(max_pos * s->dim) * sizeof(float);
    float *w0 = xmalloc(w_bytes), *p0 = xmalloc(p_bytes);
    gen_fill_bits_no_nan(r, w0, (size_t)(vocab * s->dim));
    gen_fill_bits_no_nan(r, p0, (size_t)(max_pos * s->dim));
    void *dout = make_elements(r, k->in, s->n * s->dim, VALUES_MODERATE);
    void *ids = make_ids(r, it, (size_t)s->n, vocab, GEN_IDS_ZIPF);
    if (s->n > 2 && opt->padding_idx != EMB_NO_PADDING) {
        const int64_t pad = opt->padding_idx < 0 ? opt->padding_idx + vocab : opt->padding_idx;
        set_id(ids, it, 0, pad);
        set_id(ids, it, 2, (pad + 1) % vocab);
    }
    call c = {.k = k, .vocab = vocab, .dim = s->dim, .n = s->n, .ids = ids, .it = it,
              .rows = dout, .max_pos = max_pos, .opt = opt, .threads = s->threads, .nout = 2};
    void *positions;
    set_positions(&c, r, s->variant, &positions);
    c.out_bytes[0] = w_bytes;
    c.out_bytes[1] = p_bytes;
    c.out_offset[0] = type_offset(EMB_F32, s->variant);
    c.out_offset[1] = type_offset(EMB_F32, s->variant + 1);
    c.out_init[0] = w0;
    c.out_init[1] = p0;
    char what[200];
    snprintf(what, sizeof what, "%s %s, positions %s, %s ids, dim %lld, n %lld, padding_idx %lld, "
             "scale %d, %d threads", k->name, s->label, positions ? "explicit" : "computed",
             emb_index_name(it), (long long)s->dim, (long long)s->n,
             (long long)(opt->padding_idx == EMB_NO_PADDING ? -999 : opt->padding_idx),
             opt->scale_grad_by_freq, s->threads);
    compare(&c, impl, what, t);
    free(w0);
    free(p0);
    free(dout);
    free(ids);
    free(positions);
}

/* ---- scan --------------------------------------------------------------------------- */

static const emb_metric metrics[] = {EMB_METRIC_DOT, EMB_METRIC_L2SQ, EMB_METRIC_NORM2};

/* Widened elements never NaN: moderate values; the blocked types' and
 * q8_rowwise's random rows with finite scales. */
static void scan_case(const emb_kernel *k, const shape *s, int impl, gen_rng *r, tally *t)
{
    const size_t rb = emb_row_bytes(k->in, s->dim);
    /* The big shape: a table past half the cache (prefetching). */
    const int64_t vocab = s->vocab ? s->vocab : at_least(PREFETCH_TABLE_BYTES, rb, 2);
    uint8_t *table = make_table(r, k->in, vocab, s->dim, 0);
    float *query = make_elements(r, EMB_F32, s->dim, VALUES_MODERATE);
    for (size_t m = 0; m < sizeof metrics / sizeof metrics[0]; m++) {
        call c = {.k = k, .table = table, .vocab = vocab, .dim = s->dim, .query = query,
                  .metric = metrics[m], .threads = s->threads, .nout = 1};
        if (metrics[m] == EMB_METRIC_NORM2)
            c.query = NULL;
        c.out_bytes[0] = (size_t)vocab * sizeof(float);
        c.out_offset[0] = type_offset(EMB_F32, s->variant + (int)m);
        char what[200];
        snprintf(what, sizeof what, "%s %s, metric %d, %lld x %lld, %d threads", k->name,
                 s->label, (int)metrics[m], (long long)vocab, (long long)s->dim, s->threads);
        compare(&c, impl, what, t);
    }
    free(table);
    free(query);
}

/* ---- bags ----------------------------------------------------------------------------- */

/* A call's bags: nbags of 0 .. 2 * mean_len tokens (one in eight empty), as
 * offsets, offsets with the last, or lengths, of either index type. */
typedef struct bag_set {
    int64_t n;
    void *bounds;
    emb_bags api;
} bag_set;

static void put_index(void *a, emb_index t, int64_t i, int64_t v)
{
    if (t == EMB_I64)
        ((int64_t *)a)[i] = v;
    else
        ((int32_t *)a)[i] = (int32_t)v;
}

static bag_set make_bags(gen_rng *r, int64_t nbags, int64_t mean_len, int how, emb_index ot)
{
    bag_set b;
    memset(&b, 0, sizeof b);
    b.bounds = xmalloc((size_t)(nbags + 1) * id_bytes(ot));
    int64_t off = 0;
    for (int64_t i = 0; i <= nbags; i++) {
        const int64_t len =
            i == nbags || gen_below(r, 8) == 0 ? 0 : (int64_t)gen_below(r, (uint64_t)(2 * mean_len + 1));
        if (how == 2) {
            if (i < nbags)
                put_index(b.bounds, ot, i, len);
        } else {
            put_index(b.bounds, ot, i, off);
        }
        off += len;
    }
    b.n = off;
    b.api.nbags = nbags;
    b.api.offsets = how == 2 ? NULL : b.bounds;
    b.api.lengths = how == 2 ? b.bounds : NULL;
    b.api.offset_type = ot;
    b.api.include_last_offset = how == 1;
    b.api.weights = NULL;
    b.api.padding_idx = EMB_NO_PADDING;
    return b;
}

/* The modes of the bag ops by variant: sum, weighted sum, mean, max. */
typedef struct bag_variant {
    emb_bag_mode mode;
    int weighted, pad, how;
    emb_index it, ot;
} bag_variant;

static bag_variant bag_variant_of(int v, int with_max)
{
    const int mw = v % (with_max ? 4 : 3);
    bag_variant b;
    b.mode = mw == 2 ? EMB_BAG_MEAN : mw == 3 ? EMB_BAG_MAX : EMB_BAG_SUM;
    b.weighted = mw == 1;
    b.pad = (v / 2) % 2;
    b.how = v % 3;
    b.it = (emb_index)((v / 3) & 1);
    b.ot = (emb_index)((v / 5) & 1);
    return b;
}

static void describe_bags(char *buf, size_t size, const emb_kernel *k, const shape *s,
                          const bag_variant *v, int64_t nbags, int64_t n)
{
    static const char *const modes[] = {"sum", "mean", "max"};
    static const char *const hows[] = {"offsets", "offsets+last", "lengths"};
    snprintf(buf, size, "%s %s, %s%s%s, %s (%s), %s ids, dim %lld, %lld bags, %lld tokens, "
             "%d threads", k->name, s->label, modes[v->mode], v->weighted ? " weighted" : "",
             v->pad ? " padded" : "", hows[v->how], emb_index_name(v->ot), emb_index_name(v->it),
             (long long)s->dim, (long long)nbags, (long long)n, s->threads);
}

/* Bags, ids (one spare), padding and weights for a variant. */
typedef struct bag_input {
    bag_set b;
    void *ids;
    float *w;
} bag_input;

static bag_input make_bag_input(gen_rng *r, const bag_variant *v, int64_t vocab, int64_t nbags,
                                int64_t mean_len)
{
    bag_input in;
    in.b = make_bags(r, nbags, mean_len, v->how, v->ot);
    in.ids = make_ids(r, v->it, (size_t)in.b.n + 1, vocab, GEN_IDS_ZIPF);
    in.w = NULL;
    if (v->weighted) {
        in.w = make_elements(r, EMB_F32, in.b.n + 1, VALUES_MODERATE);
        in.b.api.weights = in.w;
    }
    if (v->pad) {
        const int64_t pad = id_of(in.ids, v->it, 0);
        /* From the end (PyTorch's negative index) on every other variant. */
        in.b.api.padding_idx = v->how == 2 ? pad - vocab : pad;
    }
    return in;
}

static void free_bag_input(bag_input *in)
{
    free(in->b.bounds);
    free(in->ids);
    free(in->w);
}

/* nbags and tokens per bag for a shape. Threads: the gradient's parts
 * follow 3 * tokens * dim * 4 bytes (bag.c), and bags of 0 to 4 tokens
 * (one in eight empty) hold 1.75 on average. */
static void bag_sizes(const shape *s, int64_t *nbags, int64_t *mean_len)
{
    *mean_len = s->threads > 1 ? 2 : 3;
    if (s->bags > 0) {
        *nbags = s->bags;
        return;
    }
    *nbags = s->vocab ? 7
             : s->threads > 1 ? at_least(THREADED_BYTES, (size_t)s->dim * 12 * 7 / 4, 2)
                              : 24;
}

static void bag_case(const emb_kernel *k, const shape *s, int impl, gen_rng *r, tally *t)
{
    const size_t in_rb = emb_row_bytes(k->in, s->dim), out_rb = (size_t)s->dim * sizeof(float);
    const bag_variant v = bag_variant_of(s->variant, 1);
    const int64_t vocab = s->vocab ? s->vocab
                          : s->threads > 1 ? 64 : at_least(FAR_TABLE_BYTES, in_rb, 2);
    int64_t nbags, mean_len;
    bag_sizes(s, &nbags, &mean_len);
    uint8_t *table = make_table(r, k->in, vocab, s->dim, v.mode == EMB_BAG_MAX);
    bag_input in = make_bag_input(r, &v, vocab, nbags, mean_len);
    call c = {.k = k, .table = table, .vocab = vocab, .dim = s->dim, .n = in.b.n, .ids = in.ids,
              .it = v.it, .bags = &in.b.api, .mode = v.mode, .threads = s->threads,
              .nout = v.mode == EMB_BAG_MAX ? 2 : 1};
    c.out_bytes[0] = (size_t)nbags * out_rb;
    c.out_bytes[1] = (size_t)(nbags * s->dim) * sizeof(int64_t);
    c.out_offset[0] = s->bags > 0 ? s->bag_out_offset : type_offset(EMB_F32, s->variant);
    c.out_offset[1] = 8;
    char what[240];
    describe_bags(what, sizeof what, k, s, &v, nbags, in.b.n);
    compare(&c, impl, what, t);
    free(table);
    free_bag_input(&in);
}

static void bag_grad_case(const emb_kernel *k, const shape *s, int impl, gen_rng *r, tally *t)
{
    const bag_variant v = bag_variant_of(s->variant, 1);
    const int64_t vocab = s->vocab ? s->vocab : s->threads > 1 ? 64 : 600;
    int64_t nbags, mean_len;
    bag_sizes(s, &nbags, &mean_len);
    bag_input in = make_bag_input(r, &v, vocab, nbags, mean_len);
    void *dout = make_elements(r, k->in, nbags * s->dim, VALUES_MODERATE);
    int64_t *argmax = NULL;
    if (v.mode == EMB_BAG_MAX) {
        /* argmax as emb_bag leaves it: a forward pass (scalar's) of a raw table. */
        uint8_t *fwd_table = make_table(r, EMB_F32, vocab, s->dim, 1);
        float *fwd = xmalloc((size_t)(nbags * s->dim) * sizeof(float));
        argmax = xmalloc((size_t)(nbags * s->dim) * sizeof(int64_t));
        ck_assert_int_eq(emb_use_impl("scalar"), EMB_OK);
        ck_assert_int_eq(emb_bag(fwd_table, EMB_F32, vocab, s->dim, in.ids, v.it, in.b.n,
                                 &in.b.api, EMB_BAG_MAX, fwd, argmax), EMB_OK);
        free(fwd);
        free(fwd_table);
    }
    const size_t dt_bytes = (size_t)(vocab * s->dim) * sizeof(float);
    float *dtable = make_elements(r, EMB_F32, vocab * s->dim, VALUES_MODERATE);
    call c = {.k = k, .vocab = vocab, .dim = s->dim, .n = in.b.n, .ids = in.ids, .it = v.it,
              .rows = dout, .bags = &in.b.api, .mode = v.mode, .argmax = argmax,
              .threads = s->threads, .nout = 1};
    c.out_bytes[0] = dt_bytes;
    c.out_offset[0] = type_offset(EMB_F32, s->variant);
    c.out_init[0] = dtable;
    char what[240];
    describe_bags(what, sizeof what, k, s, &v, nbags, in.b.n);
    compare(&c, impl, what, t);
    free(dtable);
    free(dout);
    free(argmax);
    free_bag_input(&in);
}

/* SGD and row-wise Adagrad, per occurrence and coalesced (alternating). */
static void bag_step_case(const emb_kernel *k, const shape *s, int impl, gen_rng *r, tally *t)
{
    const int adagrad = k->op == EMB_OP_BAG_ADAGRAD;
    const bag_variant v = bag_variant_of(s->variant, 0);
    const int64_t vocab = s->vocab ? s->vocab : s->threads > 1 ? 300 : 600;
    int64_t nbags, mean_len;
    bag_sizes(s, &nbags, &mean_len);
    if (!s->vocab && s->threads > 1) {
        /* Parts follow 3 * n * dim * 4 bytes (bag.c): tokens, not bags. */
        nbags = 8;
        mean_len = at_least(THREADED_BYTES / 3, (size_t)s->dim * sizeof(float), 2) / nbags;
    }
    bag_input in = make_bag_input(r, &v, vocab, nbags, mean_len);
    float *dout = make_elements(r, EMB_F32, nbags * s->dim, VALUES_MODERATE);
    const size_t tb = emb_row_bytes(k->in, s->dim) * (size_t)vocab;
    uint8_t *table = make_elements(r, k->in, vocab * s->dim, VALUES_MODERATE);
    float *h = xmalloc((size_t)vocab * sizeof(float));
    for (int64_t i = 0; i < vocab; i++)
        h[i] = fabsf(moderate_f32(r));
    const int coalesce = (s->variant / 3) & 1;
    call c = {.k = k, .vocab = vocab, .dim = s->dim, .n = in.b.n, .ids = in.ids, .it = v.it,
              .rows = dout, .bags = &in.b.api, .mode = v.mode, .threads = s->threads,
              .nout = adagrad ? 2 : 1};
    const emb_step step = {adagrad ? EMB_OPT_ROWWISE_ADAGRAD : EMB_OPT_SGD, 0.0371f, 1e-6f, NULL,
                           coalesce};
    c.step = step;
    c.out_bytes[0] = tb;
    c.out_bytes[1] = (size_t)vocab * sizeof(float);
    c.out_offset[0] = type_offset(k->in, s->variant);
    c.out_offset[1] = 4;
    c.out_init[0] = table;
    c.out_init[1] = h;
    char what[260];
    describe_bags(what, sizeof what, k, s, &v, nbags, in.b.n);
    strncat(what, coalesce ? ", coalesced" : ", per occurrence", sizeof what - strlen(what) - 1);
    compare(&c, impl, what, t);
    free(table);
    free(h);
    free(dout);
    free_bag_input(&in);
}

/* ---- the suite ------------------------------------------------------------------------ */

/* One kernel (_i: implementation and kernel) on every shape of its op. */
START_TEST(kernel_matches_scalar)
{
    const int impl = impl_of(_i), kid = _i % KERNEL_SLOTS;
    const emb_kernel *k = kernel_of(_i);
    const char *name = emb_impl_name(impl), *runs = emb_kernel_impl(kid, impl);
    ck_assert_ptr_nonnull(runs);
    if (strcmp(runs, name) != 0) {
        printf("parity: %s under %s: not compared: %s's code runs it on this CPU\n", k->name,
               name, runs);
        fflush(stdout);
        return;
    }
    gen_rng r = gen_seed(0x9A41700 + (uint64_t)kid);
    tally t = {0, 0};
    const size_t f32_row = (size_t)big_dim(k->in) * sizeof(float);
    switch (k->op) {
    case EMB_OP_LOOKUP:
    case EMB_OP_GRAD: {
        /* line.realign chooses the row functions of AVX-512's lookups and
         * 16-bit gradients (x86_avx512.c, BY_LINE_REALIGN): every shape
         * under each value; and line.halves how its blocked lookups store
         * (LINE_OUT_LOOKUP): lookups once more, in halves under
         * line.realign 1, whose outputs on a line and off one reach both
         * forms of store. */
        const emb_loop_schedule saved = *emb_loops();
        const int passes = k->op == EMB_OP_LOOKUP ? 3 : 2;
        for (int pass = 0; pass < passes; pass++) {
            emb_loop_schedule loops = saved;
            loops.line_realign = pass >= 1;
            loops.line_halves = pass == 2;
            emb_schedule_set_loops(&loops);
            if (k->op == EMB_OP_LOOKUP)
                for_each_shape(k, k->in, emb_row_bytes(k->out, big_dim(k->in)), 0, lookup_case,
                               impl, &r, &t);
            else /* parts follow 3 * n * dim * 4 bytes (api.c) */
                for_each_shape(k, k->in, 3 * f32_row, 1, grad_case, impl, &r, &t);
        }
        emb_schedule_set_loops(&saved);
        break;
    }
    case EMB_OP_LOOKUP_POS:
        for_each_shape(k, k->in, f32_row, 1, lookup_pos_case, impl, &r, &t);
        break;
    case EMB_OP_GRAD_POS:
        for_each_shape(k, k->in, 3 * f32_row, 1, grad_pos_case, impl, &r, &t);
        break;
    case EMB_OP_SCAN:
        for_each_shape(k, k->in, f32_row, 0, scan_case, impl, &r, &t);
        break;
    case EMB_OP_BAG:
        for_each_shape(k, k->in, f32_row, 0, bag_case, impl, &r, &t);
        /* An f32 sum or mean of one register group's row (64 floats: four
         * zmm, eight ymm; 256: sixteen zmm) from a table in the cache,
         * output past the streaming threshold (variant 0: sum, 6: mean
         * with padding): at a 64-byte boundary the bags stream from the
         * registers, 16 bytes past one through the L1 buffer (bag_loops.h,
         * emb_bag_rows_regs). */
        if (k->in == EMB_F32) {
            static const int64_t group_dims[] = {64, 256};
            static const int group_variants[] = {0, 6};
            for (int d = 0; d < 2; d++)
                for (int g = 0; g < 2; g++)
                    for (size_t at = 0; at <= 16; at += 16) {
                        const size_t rb = (size_t)group_dims[d] * sizeof(float);
                        const shape s = {group_dims[d], 40, 0, group_variants[g], 1,
                                         at == 0 ? "one register group, streamed, output at 64k"
                                                 : "one register group, streamed, output at "
                                                   "64k + 16",
                                         0, at_least(STREAM_BYTES, rb, 4), at};
                        bag_case(k, &s, impl, &r, &t);
                    }
        }
        break;
    case EMB_OP_BAG_GRAD:
        for_each_shape(k, k->in, f32_row, 1, bag_grad_case, impl, &r, &t);
        break;
    case EMB_OP_BAG_SGD:
    case EMB_OP_BAG_ADAGRAD:
        for_each_shape(k, k->in, f32_row, 1, bag_step_case, impl, &r, &t);
        break;
    default:
        ck_abort_msg("%s: an op this suite does not know (%d)", k->name, (int)k->op);
    }
    printf("parity: %s under %s: %d calls, %zu bytes identical to scalar's\n", k->name, name,
           t.calls, t.bytes);
    fflush(stdout);
}
END_TEST

/* Scalar is what the others are compared with: it gets no tests of its own
 * here. For the others, which code runs each kernel, then one test per
 * kernel. */
static void add_tests(Suite *s, int impl)
{
    const char *name = emb_impl_name(impl);
    if (strcmp(name, "scalar") == 0) {
        printf("scalar: the reference of this suite, not compared with itself\n");
        return;
    }
    int own = 0;
    for (int k = 0; k < emb_kernel_count(); k++) {
        const char *runs = emb_kernel_impl(k, impl);
        own += runs != NULL && strcmp(runs, name) == 0;
        printf("%s: %-26s runs %s's code%s\n", name, emb_kernel_at(k)->name, runs ? runs : "no",
               runs != NULL && strcmp(runs, name) != 0 ? " (not compared here)" : "");
    }
    printf("%s: %d of %d kernels run its own code here; last-level cache %s\n", name, own,
           emb_kernel_count(), emb_llc_description());
    fflush(stdout);
    TCase *tc = add_impl_tests(s, impl, NULL, 0, 600);
    add_op_loop_test(tc, kernel_matches_scalar, impl, (1u << EMB_OP_COUNT) - 1u);
}

int main(int argc, char **argv)
{
    setenv("EMBSIMD_LLC", PARITY_LLC, 0);
    return test_main(argc, argv, "parity", add_tests, NULL);
}
