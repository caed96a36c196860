/* row_loops.h - the token loops every ISA and every type shares; each ISA
 * supplies only its row primitives (copy, widen or dequantize a piece of a
 * row; add a widened piece into an fp32 row). */
#ifndef EMBSIMD_ROW_LOOPS_H
#define EMBSIMD_ROW_LOOPS_H

#include "internal.h"
#include "prefetch.h"

/* A row primitive converts elements [j, j + count) of one source row into
 * the same elements of the destination row; count >= 1, and for blocked
 * types (q8_0, q4_0) j and count are multiples of the block. dst and src are
 * the rows' starts, not the piece's: q8_rowwise finds its scale and bias at
 * src + dim. The "add" kind adds the widened piece into an fp32 row, one
 * fp32 add per element. */
typedef void (*emb_row_fn)(uint8_t *dst, const uint8_t *src, size_t j, size_t count, size_t dim);
typedef void (*emb_row_add_fn)(float *acc, const uint8_t *g, size_t j, size_t count, size_t dim);
/* a[k] += g[k] and b[k] += g[k], k < count: one fp32 add each, g read once
 * (the fused positional gradient's two rows). */
typedef void (*emb_add_both_fn)(float *a, float *b, const float *g, size_t count);
/* dst[k] = a[k] + b[k], k < count: one fp32 add each, a the first operand
 * (the fused positional lookup of an f32 table and f32 positions). */
typedef void (*emb_add_rows_fn)(float *dst, const float *a, const float *b, size_t count);

/* How each ISA declares its row primitives. Forced inline: left to itself,
 * GCC 12 called the AVX2 row copy out of line once the loops below grew,
 * and its short-row loop then also reloaded ids and n from the stack on
 * every row: 1000 x 64 lookups ran 5-8 % slower than before. Inlined,
 * they run 2-7 % faster than that earlier build (AMD EPYC Zen 2, KVM,
 * gcc 12.2 -O2, 2026-12-01). */
/* unused: clang, unlike GCC, warns of a static inline function that a
 * file's map leaves unused (scalar's positional adds of the quantized
 * types). */
#define EMB_ROW_PRIMITIVE static inline __attribute__((always_inline, unused))

/* With the table in DRAM each row is a fresh DRAM stream, and a copy that
 * finishes one row before it starts the next waits out the memory latency
 * once per row: a 3 KiB row is already more loads and stores than the
 * out-of-order window holds, so the next row's first misses only start
 * when this one is nearly done. Rows of at least the schedule's
 * in_flight_min_dim elements (tuning.c: 256 by default) therefore go
 * EMB_ROWS_IN_FLIGHT at a time, a piece of
 * EMB_PIECE_FLOATS of each in turn. 64 elements (256 bytes of floats,
 * four lines) is whole pieces for every ISA's row primitive (AVX-512: four
 * ZMM; AVX2: eight YMM; NEON: two 32-float pieces) and two blocks of
 * q8_0 and q4_0; a row's last piece takes the remainder (64 to 127
 * elements), so no piece is shorter than a vector. A type whose block is
 * longer has pieces of one block (emb_piece_elems).
 * Shorter rows go one at a time: the out-of-order window already holds
 * several of them.
 *
 * Measured on AMD EPYC Zen 2 (KVM, 2 vCPUs, 16 MiB L3, gcc 12.2 -O2,
 * 2026-12-01), AVX2, uniform ids, builds compared in one process,
 * interleaved, lookup / same-run memcpy for 50257 x 768 x 8192,
 * 262144 x 768 x 8192 and 262144 x 4096 x 2048: one row at a time (the
 * former loop) 0.87 / 0.74 / 1.22; four rows in 64-float pieces 1.06 /
 * 0.96 / 1.54; 128-float pieces 1.04 / 0.93 / 1.40; 256-float pieces
 * 0.98 / 0.89 / 1.38; two or eight rows within 3 % of four. Grad at
 * 50257 x 768 x 8192, N = 512 and 262144 x 4096, speed-up over one row
 * at a time: four rows of 64 floats 1.22 / 1.35 / 1.22, two rows 1.14 /
 * 1.18 / 1.11, four of 128 1.15 / 1.26 / 1.15. Below 256 floats rows in
 * flight lost: D = 128 grad 0.90 of the one-row loop, D = 256 about 0.95
 * of the former build either way; at D = 384 they were 1.28 (lookup)
 * and 1.05 (grad) times as fast as the one-row loop. Only for tables in
 * DRAM (EMB_KF_PREFETCH): a cache-resident table keeps the plain loop. */
#ifndef EMB_PIECE_FLOATS
#define EMB_PIECE_FLOATS 64
#endif
#ifndef EMB_ROWS_IN_FLIGHT
#define EMB_ROWS_IN_FLIGHT 4
#endif

/* Elements of a piece of a row of type t: EMB_PIECE_FLOATS, or the type's
 * block where that is longer (GGML's k-quants have super-blocks of 256),
 * since a piece must start on a block boundary for EMB_PIECE_VIEW to find
 * it. A
 * switch over the list, like emb_elem_offset: the constant type of every
 * kernel folds it, so the types with blocks of at most EMB_PIECE_FLOATS
 * compile to the loops they had with the fixed piece. */
static inline __attribute__((always_inline)) size_t emb_piece_elems(emb_type t)
{
    switch (t) {
#define EMB_TYPE_PIECE(e, name, block, bytes, extra) \
    case e:                                         \
        return (block) > EMB_PIECE_FLOATS ? (block) : EMB_PIECE_FLOATS;
        EMB_TYPE_LIST(EMB_TYPE_PIECE)
#undef EMB_TYPE_PIECE
    }
    return EMB_PIECE_FLOATS;
}

/* The longest piece of any type, from the list: a staging buffer holds
 * 2 * EMB_PIECE_MAX floats, a row's longest last piece. */
union emb_piece_sizes {
#define EMB_TYPE_PIECE_SIZE(e, name, block, bytes, extra) \
    char of_##e[(block) > EMB_PIECE_FLOATS ? (block) : EMB_PIECE_FLOATS];
    EMB_TYPE_LIST(EMB_TYPE_PIECE_SIZE)
#undef EMB_TYPE_PIECE_SIZE
};
#define EMB_PIECE_MAX sizeof(union emb_piece_sizes)

/* Where the next piece starts: the rest of the row is the last piece once
 * it is shorter than two. Forced inline, like emb_pos_start and
 * emb_prefetch_rows_ahead: with the q4_K and q6_K kernels in an ISA file,
 * GCC 12 called all three out of line from the fused lookups (24 calls in
 * each), where it had inlined them. */
static inline __attribute__((always_inline)) size_t emb_pieces_end(size_t dim, size_t piece)
{
    return dim < 2 * piece ? 0 : dim - dim % piece - piece;
}

/* ids[i] of either width; always inlined with a constant ids64, so each
 * kernel is compiled once per id width and tests nothing per row. */
static inline __attribute__((always_inline)) size_t emb_id(const void *ids, int ids64, size_t i)
{
    return ids64 ? (size_t)((const int64_t *)ids)[i] : (size_t)((const int32_t *)ids)[i];
}

/* Everything a lookup loop needs to know about its kernel, all constant
 * once inlined into an ISA's kernel. */
typedef struct emb_lookup_loop {
    emb_type in, out;
    emb_row_fn convert, convert_stream;
} emb_lookup_loop;

/* Row i while the row `ahead` further on is prefetched (0: none). */
static inline __attribute__((always_inline)) void
emb_lookup_one_by_one(emb_lookup_loop L, const uint8_t *table, size_t dim, const void *ids,
                      int ids64, size_t n, uint8_t *out, size_t ahead, emb_row_fn convert)
{
    const size_t in_row = emb_row_size(L.in, dim);
    const size_t out_row = emb_row_size(L.out, dim);
    for (size_t i = 0; i < n; i++) {
        if (ahead != 0 && i + ahead < n)
            emb_prefetch_span(table + emb_id(ids, ids64, i + ahead) * in_row, in_row);
        convert(out + i * out_row, table + emb_id(ids, ids64, i) * in_row, 0, dim, dim);
    }
}

/* An ISA file defines EMB_PIECES_AT_LINES, before it includes this one,
 * as the loops whose rows in flight should cut their pieces at the lines
 * of the rows they write (emb_out_line_lead): EMB_CUT_LOOKUPS (the lookup
 * and the fused lookup), EMB_CUT_GRADS (the gradient), both, or none. */
#define EMB_CUT_LOOKUPS 1u
#define EMB_CUT_GRADS 2u
#ifndef EMB_PIECES_AT_LINES
#define EMB_PIECES_AT_LINES 0u
#endif

/* Whether elements of type t can be cut anywhere: one element a block and
 * nothing after the blocks (not q8_rowwise, whose row ends in its scale). */
static inline __attribute__((always_inline)) int emb_cut_anywhere(emb_type t)
{
    return emb_elem_offset(t, 1) != 0 && emb_row_size(t, 1) == emb_elem_offset(t, 1);
}

/* Elements before the first 64-byte boundary of an output row, where every
 * row starts at the same place in its line, the output type can be cut
 * anywhere and the input type has one element a block (q8_rowwise too:
 * every piece finds its scale at the row's end); 0 where it is on a line
 * or the pieces cannot move. The rows in
 * flight cut their pieces there, so each piece after the first starts on
 * a line of the output: AVX-512 writes the part of a line before its
 * boundary under a k-mask, once a row instead of once a piece. Into an
 * output at 16 mod 64 from tables past the prefetch threshold (Intel
 * Xeon, family 6 model 167, gcc 12.2 -O2, 2026-12-06; both builds in one
 * process, calls alternating, medians of 21), the time with the cut over
 * the time without: AVX-512 f32 0.92-0.93 at 262144 x 768 x 8192 and
 * 50257 x 1024 x 8192 (T = 1 and 2), f16 -> f32 0.90, f16 -> f16 and
 * bf16 -> bf16 0.81-0.82 at 128256 x 1024 x 8192 (T = 2); AVX2 0.95-0.98
 * (x86_avx2.c's four-element step included); the fused lookup 0.93-1.01;
 * the gradient into a table at 16 mod 64, AVX-512 f16 and bf16 0.93-0.98
 * at 50257 x 1024 x 8192 (T = 1 and 2), f32 1.00-1.02 (AVX2 does not cut
 * its gradient: x86_avx2.c says why); outputs on a line, where nothing
 * moves, 0.99-1.02. Without it, AVX-512's f32 lookup at 50257 x 1024 x 8192,
 * T = 2, took 1.13x AVX2's time there (1.21x that of rows one at a time).
 * q8_rowwise's pieces are cut so too since its AVX-512 body lost its own
 * lead (x86_avx512.c): into an output at 16 mod 64, AVX-512 at 0.96-0.99x
 * AVX2's speed at 16384 x 4096 x 512 with both cut, 0.76-0.84x with that
 * lead before (AMD EPYC Zen 4, family 25 model 17, 2026-12-07). */
static inline __attribute__((always_inline)) size_t
emb_out_line_lead(unsigned loop, emb_type in, emb_type out_type, const uint8_t *out, size_t dim,
                  size_t piece)
{
    const size_t elem = emb_elem_offset(out_type, 1);
    if (!(EMB_PIECES_AT_LINES & loop) || emb_elem_offset(in, 1) == 0 ||
        !emb_cut_anywhere(out_type) || (uintptr_t)out % elem != 0 ||
        emb_row_size(out_type, dim) % 64 != 0)
        return 0;
    const size_t lead = (64 - (uintptr_t)out % 64) % 64 / elem;
    return dim >= lead + 2 * piece ? lead : 0; /* the first piece stays under two */
}

/* Rows i .. i + R - 1 a piece at a time, while the same pieces of the rows
 * `ahead` further on are prefetched (ahead >= R, or 0 for none): spread
 * over the copy, the hints never queue up in front of its own loads. The
 * first piece also takes the elements up to the output's line
 * (emb_out_line_lead). */
static inline __attribute__((always_inline)) void
emb_lookup_in_flight(emb_lookup_loop L, const uint8_t *table, size_t dim, const void *ids,
                     int ids64, size_t n, uint8_t *out, size_t ahead, emb_row_fn convert)
{
    enum { R = EMB_ROWS_IN_FLIGHT };
    const size_t P = emb_piece_elems(L.in);
    const size_t in_row = emb_row_size(L.in, dim);
    const size_t out_row = emb_row_size(L.out, dim);
    const size_t lead = emb_out_line_lead(EMB_CUT_LOOKUPS, L.in, L.out, out, dim, P);
    const size_t last = lead + emb_pieces_end(dim - lead, P);
    const size_t last_off = emb_elem_offset(L.in, last);
    size_t i = 0;
    for (; i + R <= n; i += R) {
        const uint8_t *src[R], *next[R];
        uint8_t *dst[R];
        for (int r = 0; r < R; r++) {
            src[r] = table + emb_id(ids, ids64, i + r) * in_row;
            dst[r] = out + (i + r) * out_row;
            /* Past the end, the last row again: hinting a line already
             * in cache is cheap, and the piece loop needs no test. */
            const size_t f = i + ahead + r < n ? i + ahead + r : n - 1;
            next[r] = table + emb_id(ids, ids64, f) * in_row;
        }
        for (size_t j = 0, count = lead + P; j < last; j += count, count = P)
            for (int r = 0; r < R; r++) {
                if (ahead != 0)
                    emb_prefetch_span(next[r] + emb_elem_offset(L.in, j),
                                      emb_elem_offset(L.in, count));
                convert(dst[r], src[r], j, count, dim);
            }
        for (int r = 0; r < R; r++) {
            if (ahead != 0)
                emb_prefetch_span(next[r] + last_off, in_row - last_off);
            convert(dst[r], src[r], last, dim - last, dim);
        }
    }
    for (; i < n; i++) /* their prefetches were issued above */
        convert(out + i * out_row, table + emb_id(ids, ids64, i) * in_row, 0, dim, dim);
}

/* Always inlined with constant types and row primitives, so each ISA file
 * gets its own fully specialised loops from this one body. The flags and
 * the id width are tested once, outside the loops: choosing the primitive
 * per call through a variable would turn every row into an indirect call. */
static inline __attribute__((always_inline)) void
emb_lookup_rows_w(emb_lookup_loop L, const uint8_t *table, size_t dim, const void *ids,
                  int ids64, size_t n, uint8_t *out, unsigned flags)
{
    const size_t in_row = emb_row_size(L.in, dim);
    if (!(flags & EMB_KF_PREFETCH)) {
        /* A table in cache still waits on each row's first lines: a
         * quantized row is a few lines the hardware prefetcher has not
         * learnt before the row is done, and its dequantizing work keeps
         * the loads from running ahead. A hint a couple of rows ahead
         * covers that (tuning.c has the figures); the f32 and 16-bit
         * copies only lost by it, and streaming outputs are too large for
         * it to matter; a small call's table and output stay in L2. */
        const emb_loop_schedule *S = emb_loops();
        const int quantized = emb_row_size(L.in, 256) < 2 * 256; /* under 2 bytes an element */
        const size_t ahead = quantized && dim >= S->cached_ahead_min_dim &&
                                     n * emb_row_size(L.out, dim) >= S->cached_ahead_min_bytes
                                 ? S->cached_ahead_rows
                                 : 0;
        if (flags & EMB_KF_STREAM)
            emb_lookup_one_by_one(L, table, dim, ids, ids64, n, out, 0, L.convert_stream);
        else if (ahead != 0)
            emb_lookup_one_by_one(L, table, dim, ids, ids64, n, out, ahead, L.convert);
        else
            emb_lookup_one_by_one(L, table, dim, ids, ids64, n, out, 0, L.convert);
    } else if (dim < emb_loops()->in_flight_min_dim) {
        const size_t ahead = emb_prefetch_rows_ahead(in_row, 1);
        if (flags & EMB_KF_STREAM)
            emb_lookup_one_by_one(L, table, dim, ids, ids64, n, out, ahead, L.convert_stream);
        else
            emb_lookup_one_by_one(L, table, dim, ids, ids64, n, out, ahead, L.convert);
    } else {
        const size_t ahead = emb_prefetch_rows_ahead(in_row, EMB_ROWS_IN_FLIGHT);
        if (flags & EMB_KF_STREAM)
            emb_lookup_in_flight(L, table, dim, ids, ids64, n, out, ahead, L.convert_stream);
        else
            emb_lookup_in_flight(L, table, dim, ids, ids64, n, out, ahead, L.convert);
    }
}

static inline __attribute__((always_inline)) void
emb_lookup_rows(emb_lookup_loop L, const uint8_t *table, size_t dim, const void *ids, int ids64,
                size_t n, uint8_t *out, unsigned flags)
{
    if (ids64)
        emb_lookup_rows_w(L, table, dim, ids, 1, n, out, flags);
    else
        emb_lookup_rows_w(L, table, dim, ids, 0, n, out, flags);
}

/* The pieces of a row of type t for the loops that stage a piece in a
 * buffer: emb_piece_elems(t) each, the last one the remainder (at most
 * twice that, and so at most 2 * EMB_PIECE_MAX). */
#define EMB_FOR_PIECES(t, j, count, dim)                                                     \
    for (size_t j = 0, piece_ = emb_piece_elems(t), last_ = emb_pieces_end((dim), piece_),   \
                count = 0;                                                                   \
         j < (dim) && (count = j < last_ ? piece_ : (dim) - j, 1); j += count)

/* A row primitive also serves a piece on its own: called with src moved to
 * element j (a block boundary), j = 0 and dim - j, it converts elements
 * [j, j + count) of the row into dst[0 .. count), and q8_rowwise still
 * finds its scale and bias at src + dim. The staged loops below call them
 * so, into a buffer in L1. */
#define EMB_PIECE_VIEW(type, row, j) ((row) + emb_elem_offset((type), (j)))

/* acc[k] += x[k] / c, one correctly rounded division and one add each:
 * generic vectors, compiled to each ISA's own divide. */
static inline __attribute__((always_inline)) void emb_add_quotients(float *acc, const float *x,
                                                                    size_t count, float c)
{
    typedef float v8 __attribute__((vector_size(8 * sizeof(float))));
    const v8 cv = {c, c, c, c, c, c, c, c};
    size_t k = 0;
    for (; k + 8 <= count; k += 8) {
        v8 a, v;
        memcpy(&a, acc + k, sizeof a);
        memcpy(&v, x + k, sizeof v);
        a = a + v / cv;
        memcpy(acc + k, &a, sizeof a);
    }
    for (; k < count; k++)
        acc[k] = acc[k] + x[k] / c;
}

/* One token's contribution to its gradient row. scale_grad_by_freq
 * divides it by c, the number of tokens naming the row, as one rounded
 * fp32 division of the widened element by (float)c; a row named once adds
 * the element itself (x / 1 would quiet a signalling NaN that the plain
 * gradient's add passes on as its own operand). */
static inline __attribute__((always_inline)) void
emb_add_token(emb_type g_type, float *acc, const uint8_t *g, size_t dim, uint32_t c,
              emb_row_add_fn add, emb_row_fn widen)
{
    if (c == 1) {
        add(acc, g, 0, dim, dim);
        return;
    }
    if (g_type == EMB_F32) {
        emb_add_quotients(acc, (const float *)g, dim, (float)c);
        return;
    }
    float x[2 * EMB_PIECE_MAX] __attribute__((aligned(64)));
    EMB_FOR_PIECES(g_type, j, count, dim) {
        widen((uint8_t *)x, EMB_PIECE_VIEW(g_type, g, j), 0, count, dim - j);
        emb_add_quotients(acc + j, x, count, (float)c);
    }
}

/* One part's tokens of a gradient split over parts, rows one at a time:
 * the tokens whose row this part owns are first gathered, a chunk at a
 * time and without a branch, then added in token order. Tested token by
 * token, every part paid a mispredicted branch for about every second
 * token of the whole call (a token's owner is a hash of its row). On Zen 4
 * at 32000 x 128 (f32, AVX-512, new ids each call as embsimd-bench cycles
 * them) two threads ran at 0.68x one thread's speed (Zipf ids, N = 512)
 * to 1.15x (uniform, N = 8192); gathered, at 1.08x to 1.47x. Given the
 * same ids every call, the branch predictor learns the pattern and hides
 * the cost. */
static inline __attribute__((always_inline)) void
emb_grad_owned_tokens(emb_type g_type, float *dtable, size_t dim, const void *ids, int ids64,
                      size_t n, const uint8_t *dout, size_t pad, const uint32_t *counts,
                      unsigned part, unsigned nparts, size_t ahead, emb_row_add_fn add,
                      emb_row_fn widen)
{
    enum { CHUNK = 256 };
    const size_t row_bytes = dim * sizeof(float);
    const unsigned own_shift = emb_owner_shift(dim); /* emb_row_owner's blocks */
    const size_t g_row = emb_row_size(g_type, dim);
    uint16_t own[CHUNK];
    for (size_t c = 0; c < n; c += CHUNK) {
        const size_t m = n - c < CHUNK ? n - c : CHUNK;
        size_t k = 0;
        for (size_t q = 0; q < m; q++) {
            const size_t id = emb_id(ids, ids64, c + q);
            own[k] = (uint16_t)q;
            k += (size_t)((id != pad) & (emb_row_owner(id, own_shift, nparts) == part));
        }
        for (size_t q = 0; q < k; q++) {
            if (ahead != 0 && q + ahead < k)
                emb_prefetch_span_for_write(dtable + emb_id(ids, ids64, c + own[q + ahead]) * dim,
                                            row_bytes);
            const size_t i = c + own[q], id = emb_id(ids, ids64, i);
            emb_add_token(g_type, dtable + id * dim, dout + i * g_row, dim,
                          counts != NULL ? counts[id] : 1, add, widen);
        }
    }
}

/* Token order is what makes the sum exact to the dense product, so the
 * loops never reorder tokens; they only skip those whose row another part
 * owns. With rows in flight, piece j of token t is added before piece j of
 * the next owned token and pieces never overlap, so every element still
 * sees its additions in token order even when both tokens name the same
 * row.
 * Prefetches are issued for owned rows only: a write-intent prefetch of
 * another thread's row would pull the line away from its owner. */
static inline __attribute__((always_inline)) void
emb_grad_rows_w(emb_type g_type, float *dtable, size_t dim, const void *ids, int ids64, size_t n,
                const uint8_t *dout, const emb_grad_opts *o, int opts_on, unsigned part,
                unsigned nparts, int split, unsigned flags, emb_row_add_fn add, emb_row_fn widen)
{
    const size_t row_bytes = dim * sizeof(float);
    const unsigned own_shift = emb_owner_shift(dim); /* emb_row_owner's blocks */
    const size_t g_row = emb_row_size(g_type, dim);
    /* Without options (opts_on a constant 0) the tests below fold away:
     * the plain gradient's loop is what it was before options existed. */
    const size_t pad = opts_on ? o->pad : SIZE_MAX;
    const uint32_t *counts = opts_on ? o->counts : NULL;
    if (!(flags & EMB_KF_PREFETCH) || dim < emb_loops()->in_flight_min_dim || counts != NULL) {
        const size_t ahead =
            (flags & EMB_KF_PREFETCH) ? emb_prefetch_rows_ahead(row_bytes, 1) : 0;
        if (split) { /* a constant: one of several parts */
            emb_grad_owned_tokens(g_type, dtable, dim, ids, ids64, n, dout, pad, counts, part,
                                  nparts, ahead, add, widen);
            return;
        }
        /* one part: every row is its own */
        for (size_t i = 0; i < n; i++) {
            if (ahead != 0 && i + ahead < n) {
                const size_t f = emb_id(ids, ids64, i + ahead);
                if (!opts_on || f != pad)
                    emb_prefetch_span_for_write(dtable + f * dim, row_bytes);
            }
            const size_t id = emb_id(ids, ids64, i);
            if (!opts_on || id != pad)
                emb_add_token(g_type, dtable + id * dim, dout + i * g_row, dim,
                              counts != NULL ? counts[id] : 1, add, widen);
        }
        return;
    }
    enum { R = EMB_ROWS_IN_FLIGHT };
    const size_t P = emb_piece_elems(g_type);
    const size_t ahead = emb_prefetch_rows_ahead(row_bytes, R);
    /* The pieces cut at the accumulators' lines, as the lookup's at its
     * output's (emb_out_line_lead). */
    const size_t lead =
        emb_out_line_lead(EMB_CUT_GRADS, g_type, EMB_F32, (const uint8_t *)dtable, dim, P);
    const size_t last = lead + emb_pieces_end(dim - lead, P);
    const size_t last_bytes = (dim - last) * sizeof(float);
    size_t i = 0;
    for (;;) {
        size_t t[R];
        int got = 0;
        for (; i < n && got < R; i++) {
            const size_t id = emb_id(ids, ids64, i);
            if ((!opts_on || id != pad) && emb_owns_row(split, id, own_shift, part, nparts))
                t[got++] = i;
        }
        if (got < R) {
            for (int r = 0; r < got; r++)
                add(dtable + emb_id(ids, ids64, t[r]) * dim, dout + t[r] * g_row, 0, dim, dim);
            return;
        }
        float *acc[R], *next[R];
        const uint8_t *g[R];
        for (int r = 0; r < R; r++) {
            acc[r] = dtable + emb_id(ids, ids64, t[r]) * dim;
            g[r] = dout + t[r] * g_row;
            const size_t f = t[r] + ahead;
            next[r] = ahead != 0 && f < n && (!opts_on || emb_id(ids, ids64, f) != pad) &&
                              emb_owns_row(split, emb_id(ids, ids64, f), own_shift, part, nparts)
                          ? dtable + emb_id(ids, ids64, f) * dim
                          : NULL;
        }
        for (size_t j = 0, count = lead + P; j < last; j += count, count = P)
            for (int r = 0; r < R; r++) {
                if (next[r] != NULL)
                    emb_prefetch_span_for_write(next[r] + j, count * sizeof(float));
                add(acc[r], g[r], j, count, dim);
            }
        for (int r = 0; r < R; r++) {
            if (next[r] != NULL)
                emb_prefetch_span_for_write(next[r] + last, last_bytes);
            add(acc[r], g[r], last, dim - last, dim);
        }
    }
}

/* The bit-copy kernels' primitives from an ISA's float row copy (which
 * takes any count >= 1): f32 rows piece by piece, and 16-bit rows as
 * floats plus a last half-float when the count is odd. */
#define EMB_DEFINE_COPY_PRIMITIVES(suffix, copy_floats)                                       \
    EMB_ROW_PRIMITIVE void copy_f32##suffix(uint8_t *d, const uint8_t *s, size_t j, size_t count, \
                                            size_t dim)                                       \
    {                                                                                        \
        (void)dim;                                                                           \
        copy_floats((float *)d + j, (const float *)s + j, count);                            \
    }                                                                                        \
    EMB_ROW_PRIMITIVE void copy_16##suffix(uint8_t *d, const uint8_t *s, size_t j, size_t count, \
                                           size_t dim)                                        \
    {                                                                                        \
        (void)dim;                                                                           \
        d += 2 * j;                                                                          \
        s += 2 * j;                                                                          \
        if (count >= 2)                                                                      \
            copy_floats((float *)d, (const float *)s, count / 2);                            \
        if (count & 1)                                                                       \
            memcpy(d + 2 * (count - 1), s + 2 * (count - 1), 2);                             \
    }

/* The two row functions the loops take (ordinary stores, and streaming
 * ones) from a body name##_s(dst, src, j, count, dim, stream) whose vector
 * stores stream when `stream` is set: it is, for a piece whose destination
 * is `align`-byte aligned (then every vector of it is). The alignment is
 * tested once per piece, outside the body, which takes `stream` as a
 * constant: a test left inside, GCC 12 unswitches or not as the file's
 * other code sways its budget (it did not once the fused kernels came, and
 * AVX2's q8_rowwise lookup ran 5 % more instructions). */
#define EMB_DEFINE_STREAM_PAIR(attrs, name, align)                                            \
    EMB_ROW_PRIMITIVE attrs void name(uint8_t *dst, const uint8_t *src, size_t j, size_t count, \
                                      size_t dim)                                             \
    {                                                                                        \
        name##_s(dst, src, j, count, dim, 0);                                                \
    }                                                                                        \
    EMB_ROW_PRIMITIVE attrs void name##_stream(uint8_t *dst, const uint8_t *src, size_t j,    \
                                               size_t count, size_t dim)                      \
    {                                                                                        \
        if (((uintptr_t)((float *)dst + j) & ((align) - 1)) == 0)                            \
            name##_s(dst, src, j, count, dim, 1);                                            \
        else                                                                                 \
            name##_s(dst, src, j, count, dim, 0);                                            \
    }

/* The f32 gradient's primitive from an ISA's float row add. */
#define EMB_DEFINE_ADD_PRIMITIVE(add_floats)                                                  \
    EMB_ROW_PRIMITIVE void add_f32(float *acc, const uint8_t *g, size_t j, size_t count,     \
                                   size_t dim)                                               \
    {                                                                                        \
        (void)dim;                                                                           \
        add_floats(acc + j, (const float *)g + j, count);                                    \
    }

/* One ISA's kernel functions from its row primitives: the signatures of
 * emb_lookup_fn and emb_grad_fn around the shared loops. */
/* Each (flags, id width) path of a kernel is a function of its own,
 * called once per call: inlined into one function, the paths share one
 * register allocation, and every kernel or primitive added to an ISA file
 * moved GCC 12's choices for all of them (the plain short-row loop then
 * reloaded the table and ids from the stack on every row: 3-7 % more
 * instructions for 1000 x 64 lookups and gradients, with no change to
 * their own code). Each starts on a 64-byte boundary, as its loops do
 * (-falign-loops=64): the no-ops padding a loop's start, run once per row,
 * then depend on the path's own code only, not on where the file's other
 * kernels put it. Without, the AVX2 bf16 gradient's 1000 x 64 calls ran
 * 3.9 % more instructions than the gate's reference build, every one of
 * them a no-op of that padding, and one more table type's kernels in the
 * file moved it to 6.5 %. */
#define EMB_LOOKUP_PATH(attrs, name, in_type, out_type, convert, convert_stream, w, f)        \
    static attrs __attribute__((noinline, aligned(64))) void name##_##w##_##f(                 \
        const uint8_t *table, size_t dim, const void *ids, size_t n, uint8_t *out)           \
    {                                                                                         \
        const emb_lookup_loop L = {in_type, out_type, convert, convert_stream};               \
        emb_lookup_rows_w(L, table, dim, ids, w, n, out, f);                                  \
    }

#define EMB_DEFINE_LOOKUP(attrs, name, in_type, out_type, convert, convert_stream, fence)     \
    EMB_LOOKUP_PATH(attrs, name, in_type, out_type, convert, convert_stream, 0, 0)            \
    EMB_LOOKUP_PATH(attrs, name, in_type, out_type, convert, convert_stream, 0, 1)            \
    EMB_LOOKUP_PATH(attrs, name, in_type, out_type, convert, convert_stream, 0, 2)            \
    EMB_LOOKUP_PATH(attrs, name, in_type, out_type, convert, convert_stream, 0, 3)            \
    EMB_LOOKUP_PATH(attrs, name, in_type, out_type, convert, convert_stream, 1, 0)            \
    EMB_LOOKUP_PATH(attrs, name, in_type, out_type, convert, convert_stream, 1, 1)            \
    EMB_LOOKUP_PATH(attrs, name, in_type, out_type, convert, convert_stream, 1, 2)            \
    EMB_LOOKUP_PATH(attrs, name, in_type, out_type, convert, convert_stream, 1, 3)            \
    static attrs void name(const uint8_t *table, size_t dim, const void *ids, int ids64,       \
                           size_t n, uint8_t *out, unsigned flags)                            \
    {                                                                                         \
        _Static_assert(EMB_KF_STREAM == 1 && EMB_KF_PREFETCH == 2, "the paths' numbering");   \
        static void (*const paths[2][4])(const uint8_t *, size_t, const void *, size_t,       \
                                         uint8_t *) = {                                       \
            {name##_0_0, name##_0_1, name##_0_2, name##_0_3},                                 \
            {name##_1_0, name##_1_1, name##_1_2, name##_1_3}};                                \
        paths[ids64 != 0][flags & 3u](table, dim, ids, n, out);                               \
        /* Streaming stores are weakly ordered: fence before returning, so                    \
         * the caller (or the thread that joins this one) sees every byte. */                 \
        if (flags & EMB_KF_STREAM)                                                            \
            fence();                                                                          \
    }

/* A path per id width, options, prefetch and whether the call is split
 * over parts: a one-part path has no code for gathering a part's tokens
 * (in the same body, GCC 12 allocated the one-part loop's registers
 * differently: 5 % more instructions for AVX2's 67-float gradient). */
#define EMB_GRAD_PATH(attrs, name, g_type, add, widen, w, on, f, s)                            \
    static attrs __attribute__((noinline, aligned(64))) void name##_##w##_##on##_##f##_##s(    \
        float *dtable, size_t dim, const void *ids, size_t n, const uint8_t *dout,           \
        const emb_grad_opts *opts, unsigned part, unsigned nparts)                           \
    {                                                                                         \
        emb_grad_rows_w(g_type, dtable, dim, ids, w, n, dout, opts, on, part, nparts, s, f,    \
                        add, widen);                                                          \
    }

#define EMB_GRAD_PATHS(attrs, name, g_type, add, widen, w, on)                                 \
    EMB_GRAD_PATH(attrs, name, g_type, add, widen, w, on, 0, 0)                               \
    EMB_GRAD_PATH(attrs, name, g_type, add, widen, w, on, 0, 1)                               \
    EMB_GRAD_PATH(attrs, name, g_type, add, widen, w, on, 2, 0)                               \
    EMB_GRAD_PATH(attrs, name, g_type, add, widen, w, on, 2, 1)

#define EMB_GRAD_PATH_ROW(name, w, on)                                                        \
    {{name##_##w##_##on##_0_0, name##_##w##_##on##_0_1},                                      \
     {name##_##w##_##on##_2_0, name##_##w##_##on##_2_1}}

#define EMB_DEFINE_GRAD(attrs, name, g_type, add, widen)                                     \
    EMB_GRAD_PATHS(attrs, name, g_type, add, widen, 0, 0)                                     \
    EMB_GRAD_PATHS(attrs, name, g_type, add, widen, 0, 1)                                     \
    EMB_GRAD_PATHS(attrs, name, g_type, add, widen, 1, 0)                                     \
    EMB_GRAD_PATHS(attrs, name, g_type, add, widen, 1, 1)                                     \
    static attrs void name(float *dtable, size_t dim, const void *ids, int ids64, size_t n,    \
                           const uint8_t *dout, const emb_grad_opts *opts, unsigned part,     \
                           unsigned nparts, unsigned flags)                                   \
    {                                                                                         \
        static void (*const paths[2][2][2][2])(float *, size_t, const void *, size_t,         \
                                               const uint8_t *, const emb_grad_opts *,        \
                                               unsigned, unsigned) = {                        \
            {EMB_GRAD_PATH_ROW(name, 0, 0), EMB_GRAD_PATH_ROW(name, 0, 1)},                   \
            {EMB_GRAD_PATH_ROW(name, 1, 0), EMB_GRAD_PATH_ROW(name, 1, 1)}};                  \
        /* Without options the loops are the plain gradient's (emb_grad_rows_w). */           \
        const int on = opts->pad != SIZE_MAX || opts->counts != NULL;                         \
        paths[ids64 != 0][on][(flags & EMB_KF_PREFETCH) != 0][nparts > 1](                    \
            dtable, dim, ids, n, dout, opts, part, nparts);                                   \
    }

/* ---- token + positional embedding ------------------------------------------
 * Token i's position: the explicit array's entry, or offset + (first + i)
 * % seq_len counted without a division per token. */
typedef struct emb_pos_cursor {
    const void *positions;
    size_t offset, seq_len, next;
} emb_pos_cursor;

static inline __attribute__((always_inline)) emb_pos_cursor emb_pos_start(const emb_pos_src *pos)
{
    const emb_pos_cursor c = {pos->positions, pos->offset, pos->seq_len,
                              pos->positions != NULL ? 0 : pos->first % pos->seq_len};
    return c;
}

static inline __attribute__((always_inline)) size_t emb_pos_take(emb_pos_cursor *c, int ids64,
                                                                  size_t i)
{
    if (c->positions != NULL)
        return emb_id(c->positions, ids64, i);
    const size_t p = c->offset + c->next;
    c->next = c->next + 1 == c->seq_len ? 0 : c->next + 1;
    return p;
}

/* The primitives the fused lookup stages a piece with: the token row's
 * conversion into an L1 buffer, the position row's widening add into it,
 * and the buffer's copy out (streaming or not). */
typedef struct emb_pos_prims {
    emb_type in;
    emb_row_fn convert;
    emb_row_add_fn add_f32, add_f16, add_bf16;
    emb_row_fn store;
    emb_add_rows_fn add_rows; /* ordinary or streaming stores, as store */
} emb_pos_prims;

/* out[i] = convert(W[ids[i]]) + widen(P[pos(i)]), one fp32 add per
 * element: the token row's piece is converted exactly as emb_lookup does,
 * the position row's piece added by the gradient's widening add, which is
 * the same one add. Writing out once instead of lookup-then-add saves a
 * read and a write of the whole output. */
/* One piece of one fused row: staged in L1, then stored. */
static inline __attribute__((always_inline)) void
emb_pos_piece(const emb_pos_prims *K, emb_row_add_fn add_pos, emb_type ptype, float *x,
              const uint8_t *w, const uint8_t *p, uint8_t *o, size_t j, size_t count, size_t dim)
{
    /* Pieces are never longer than twice the type's piece (emb_pieces_end);
     * saying so lets the compiler bound the conversions' loops. */
    if (count > 2 * emb_piece_elems(K->in))
        __builtin_unreachable();
    /* Both rows f32: the sum goes straight out, no staging, the same one
     * add. Staged (a copy into the buffer, an add into it, a copy out), the
     * fused lookup took 1.04-1.11x this time at GPT-2's 50257 x 768 x 8192
     * (DRAM table), 1.34-1.37x at 1000 x 768 x 512, 1.5x at 1000 x 128 x
     * 8192 and 1000 x 64 x 512 (AVX-512 and AVX2 alike, T=1; AMD EPYC
     * Zen 4, KVM, gcc 12.2 -O2, 2026-12-05). */
    if (K->in == EMB_F32 && ptype == EMB_F32) {
        K->add_rows((float *)o + j, (const float *)w + j, (const float *)p + j, count);
        return;
    }
    K->convert((uint8_t *)x, EMB_PIECE_VIEW(K->in, w, j), 0, count, dim - j);
    add_pos(x, EMB_PIECE_VIEW(ptype, p, j), 0, count, dim - j);
    K->store(o + j * sizeof(float), (const uint8_t *)x, 0, count, count);
}

static inline __attribute__((always_inline)) void
emb_lookup_pos_rows_w(emb_pos_prims K, const uint8_t *table, size_t dim, const void *ids,
                      int ids64, size_t n, const emb_pos_src *pos, const uint8_t *ptable,
                      emb_type ptype, uint8_t *out, unsigned flags)
{
    const size_t in_row = emb_row_size(K.in, dim);
    const size_t p_row = emb_row_size(ptype, dim);
    const size_t out_row = dim * sizeof(float);
    const emb_row_add_fn add_pos = ptype == EMB_F16 ? K.add_f16 : ptype == EMB_BF16 ? K.add_bf16 : K.add_f32;
    emb_pos_cursor cur = emb_pos_start(pos);
    float x[2 * EMB_PIECE_MAX] __attribute__((aligned(64)));
    size_t i = 0;
    /* A token table in DRAM with long rows: rows in flight, as emb_lookup
     * (see EMB_ROWS_IN_FLIGHT); the position table is small and cached. */
    if ((flags & EMB_KF_PREFETCH) && dim >= emb_loops()->in_flight_min_dim) {
        enum { R = EMB_ROWS_IN_FLIGHT };
        const size_t P = emb_piece_elems(K.in);
        const size_t ahead = emb_prefetch_rows_ahead(in_row, R);
        const size_t lead =
            emb_cut_anywhere(ptype) ? emb_out_line_lead(EMB_CUT_LOOKUPS, K.in, EMB_F32, out, dim, P)
                                    : 0;
        const size_t last = lead + emb_pieces_end(dim - lead, P);
        for (; i + R <= n; i += R) {
            const uint8_t *w[R], *p[R], *next[R];
            uint8_t *o[R];
            for (int r = 0; r < R; r++) {
                w[r] = table + emb_id(ids, ids64, i + r) * in_row;
                p[r] = ptable + emb_pos_take(&cur, ids64, i + r) * p_row;
                o[r] = out + (i + r) * out_row;
                const size_t f = i + ahead + r < n ? i + ahead + r : n - 1;
                next[r] = table + emb_id(ids, ids64, f) * in_row;
            }
            for (size_t j = 0, count = lead + P; j < last; j += count, count = P)
                for (int r = 0; r < R; r++) {
                    emb_prefetch_span(next[r] + emb_elem_offset(K.in, j),
                                      emb_elem_offset(K.in, count));
                    emb_pos_piece(&K, add_pos, ptype, x, w[r], p[r], o[r], j, count, dim);
                }
            for (int r = 0; r < R; r++) {
                emb_prefetch_span(next[r] + emb_elem_offset(K.in, last),
                                  in_row - emb_elem_offset(K.in, last));
                emb_pos_piece(&K, add_pos, ptype, x, w[r], p[r], o[r], last, dim - last, dim);
            }
        }
    }
    const size_t ahead = (flags & EMB_KF_PREFETCH) ? emb_prefetch_rows_ahead(in_row, 1) : 0;
    for (; i < n; i++) {
        if (ahead != 0 && i + ahead < n)
            emb_prefetch_span(table + emb_id(ids, ids64, i + ahead) * in_row, in_row);
        const uint8_t *w = table + emb_id(ids, ids64, i) * in_row;
        const uint8_t *p = ptable + emb_pos_take(&cur, ids64, i) * p_row;
        uint8_t *o = out + i * out_row;
        /* Both rows f32: the whole row in one sum. GPT-2's fused forward
         * (50257 x 768 x 8192, Zipf ids), an emb_lookup and an add pass's
         * time over its own, each in a loop of itself: piece by piece (64
         * floats a call) 1.29-1.33x at T=1 (three runs) and 1.29x at T=2;
         * whole, 1.37-1.39x and 1.52x (AVX-512; Intel Xeon, family 6
         * model 167, gcc 12.2 -O2, medians of 31, 2026-12-06). */
        if (K.in == EMB_F32 && ptype == EMB_F32) {
            K.add_rows((float *)o, (const float *)w, (const float *)p, dim);
            continue;
        }
        EMB_FOR_PIECES(K.in, j, count, dim)
            emb_pos_piece(&K, add_pos, ptype, x, w, p, o, j, count, dim);
    }
}

/* Constant position type and store kind inside, so the piece loop tests
 * neither. */
static inline __attribute__((always_inline)) void
emb_lookup_pos_rows(emb_pos_prims K, emb_row_fn store_stream, emb_add_rows_fn add_rows_stream,
                    size_t stream_align,
                    const uint8_t *table, size_t dim, const void *ids, int ids64, size_t n,
                    const emb_pos_src *pos, const uint8_t *ptable, emb_type ptype, uint8_t *out,
                    unsigned flags)
{
    /* Streaming stores only when every piece starts aligned for them: a
     * streaming copy pays for an unaligned head and tail with masked
     * stores, once per row in emb_lookup but once per piece here, and on
     * Zen 2 those made the fused lookup of an unaligned output slower than
     * a lookup and a separate add pass. */
    if ((flags & EMB_KF_STREAM) && (uintptr_t)out % stream_align == 0 &&
        dim * sizeof(float) % stream_align == 0)
        K.store = store_stream, K.add_rows = add_rows_stream;
#define EMB_POS_CASE(pt)                                                                      \
    case pt:                                                                                  \
        if (ids64)                                                                            \
            emb_lookup_pos_rows_w(K, table, dim, ids, 1, n, pos, ptable, pt, out, flags);     \
        else                                                                                  \
            emb_lookup_pos_rows_w(K, table, dim, ids, 0, n, pos, ptable, pt, out, flags);     \
        break;
    switch (ptype) {
    EMB_POS_CASE(EMB_F16)
    EMB_POS_CASE(EMB_BF16)
    default:
    EMB_POS_CASE(EMB_F32)
    }
#undef EMB_POS_CASE
}

/* Piece [j, j + count) of dout row g into rows a and b, either NULL where
 * another part owns it (or a is the padding row). An f32 piece going to
 * both is read once for the two adds: read twice, by two adds, it left
 * the fused gradient at GPT-2's 50257 x 768 x 8192 (Zipf ids, 1024
 * positions, T=1) 1.0-1.1x as fast as two emb_grad calls; read once, 1.2x
 * (AVX-512; AVX2 1.1x; AMD EPYC Zen 4, KVM, gcc 12.2 -O2, 2026-12-05).
 * A 16-bit piece keeps its two widening adds: widened once into a buffer
 * for add_both, the bf16 gradient ran at 0.82x two calls against 0.90x.
 * The sums are the same either way: each row gets one fp32 add of the
 * same widened element. */
static inline __attribute__((always_inline)) void
emb_add_piece_both(emb_type g_type, float *a, float *b, const uint8_t *g, size_t j, size_t count,
                   size_t dim, emb_row_add_fn add, emb_add_both_fn add_both)
{
    if (g_type == EMB_F32 && a != NULL && b != NULL) {
        add_both(a + j, b + j, (const float *)g + j, count);
        return;
    }
    if (a != NULL)
        add(a, g, j, count, dim);
    if (b != NULL)
        add(b, g, j, count, dim);
}

/* Both scatter-adds in one pass over dout: token i adds dout[i] into its
 * token row (when this part owns it and it is not the padding row) and
 * into its position row (when this part owns that), each table in token
 * order. */
static inline __attribute__((always_inline)) void
emb_grad_pos_rows_w(emb_type g_type, float *dtable, float *dptable, size_t dim, const void *ids,
                    int ids64, size_t n, const emb_pos_src *pos, const uint8_t *dout,
                    const emb_grad_opts *o, unsigned part, unsigned nparts, unsigned flags,
                    emb_row_add_fn add, emb_row_fn widen, emb_add_both_fn add_both)
{
    const size_t row_bytes = dim * sizeof(float);
    const unsigned own_shift = emb_owner_shift(dim); /* emb_row_owner's blocks */
    const size_t g_row = emb_row_size(g_type, dim);
    const size_t pad = o->pad;
    emb_pos_cursor cur = emb_pos_start(pos);
    size_t i = 0;
    /* A token table in DRAM with rows of at least the schedule's
     * pos_grad_in_flight_min_dim (by default none: tuning.c has why):
     * EMB_ROWS_IN_FLIGHT tokens at a time, piece by piece, as emb_grad
     * (piece j of a token is added before piece j of the next, so each
     * element still sees token order). */
    if ((flags & EMB_KF_PREFETCH) && dim >= emb_loops()->pos_grad_in_flight_min_dim &&
        o->counts == NULL) {
        enum { R = EMB_ROWS_IN_FLIGHT };
        const size_t P = emb_piece_elems(g_type);
        const size_t ahead = emb_prefetch_rows_ahead(row_bytes, R);
        const size_t last = emb_pieces_end(dim, P);
        for (; i + R <= n; i += R) {
            float *w[R], *p[R], *next[R];
            const uint8_t *g[R];
            for (int r = 0; r < R; r++) {
                const size_t id = emb_id(ids, ids64, i + r);
                const size_t ps = emb_pos_take(&cur, ids64, i + r);
                w[r] = id != pad && emb_row_owner(id, own_shift, nparts) == part ? dtable + id * dim
                                                                                  : NULL;
                p[r] = emb_row_owner(ps, EMB_POS_OWNER_SHIFT, nparts) == part ? dptable + ps * dim : NULL;
                g[r] = dout + (i + r) * g_row;
                const size_t f = i + ahead + r;
                const size_t fid = f < n ? emb_id(ids, ids64, f) : pad;
                next[r] = fid != pad && emb_row_owner(fid, own_shift, nparts) == part
                              ? dtable + fid * dim
                              : NULL;
            }
            for (size_t j = 0; j < last; j += P)
                for (int r = 0; r < R; r++) {
                    if (next[r] != NULL)
                        emb_prefetch_span_for_write(next[r] + j, P * sizeof(float));
                    emb_add_piece_both(g_type, w[r], p[r], g[r], j, P, dim, add, add_both);
                }
            for (int r = 0; r < R; r++) {
                if (next[r] != NULL)
                    emb_prefetch_span_for_write(next[r] + last, (dim - last) * sizeof(float));
                emb_add_piece_both(g_type, w[r], p[r], g[r], last, dim - last, dim, add, add_both);
            }
        }
    }
    const size_t ahead = (flags & EMB_KF_PREFETCH) ? emb_prefetch_rows_ahead(row_bytes, 1) : 0;
    for (; i < n; i++) {
        if (ahead != 0 && i + ahead < n) {
            const size_t f = emb_id(ids, ids64, i + ahead);
            if (f != pad && emb_row_owner(f, own_shift, nparts) == part)
                emb_prefetch_span_for_write(dtable + f * dim, row_bytes);
        }
        const size_t id = emb_id(ids, ids64, i);
        const size_t p = emb_pos_take(&cur, ids64, i);
        const uint8_t *g = dout + i * g_row;
        const int own_token = id != pad && emb_row_owner(id, own_shift, nparts) == part;
        const int own_pos = emb_row_owner(p, EMB_POS_OWNER_SHIFT, nparts) == part;
        const uint32_t c = own_token && o->counts != NULL ? o->counts[id] : 1;
        if (g_type == EMB_F32 && own_token && own_pos && c == 1) {
            add_both(dtable + id * dim, dptable + p * dim, (const float *)g, dim);
            continue;
        }
        if (own_token)
            emb_add_token(g_type, dtable + id * dim, g, dim, c, add, widen);
        if (own_pos)
            add(dptable + p * dim, g, 0, dim, dim);
    }
}

/* The fused kernels of one ISA, from its primitives, every one passed:
 * `convert` for the token table's type, the fp32 adds of an f32, f16 and
 * bf16 position row, the f32 row copy and its streaming form, the sum of
 * two f32 rows and its streaming form; stream_align: the alignment in
 * bytes its streaming stores need. */
#define EMB_DEFINE_LOOKUP_POS(attrs, name, in_type, convert, add_f32_, add_f16_, add_bf16_,     \
                              copy_f32_, copy_f32_stream_, add_rows_, add_rows_stream_, fence, \
                              stream_align)                                                   \
    static attrs void name(const uint8_t *table, size_t dim, const void *ids, int ids64,       \
                           size_t n, const emb_pos_src *pos, const uint8_t *ptable,           \
                           emb_type ptype, uint8_t *out, unsigned flags)                      \
    {                                                                                         \
        const emb_pos_prims K = {in_type,   convert,   add_f32_, add_f16_,                    \
                                 add_bf16_, copy_f32_, add_rows_};                            \
        emb_lookup_pos_rows(K, copy_f32_stream_, add_rows_stream_, stream_align, table, dim,   \
                            ids, ids64, n, pos, ptable, ptype, out, flags);                   \
        if (flags & EMB_KF_STREAM)                                                            \
            fence();                                                                          \
    }

#define EMB_DEFINE_GRAD_POS(attrs, name, g_type, add, widen, add_both)                        \
    static attrs void name(float *dtable, float *dptable, size_t dim, const void *ids,         \
                           int ids64, size_t n, const emb_pos_src *pos, const uint8_t *dout,  \
                           const emb_grad_opts *opts, unsigned part, unsigned nparts,         \
                           unsigned flags)                                                    \
    {                                                                                         \
        if (ids64)                                                                            \
            emb_grad_pos_rows_w(g_type, dtable, dptable, dim, ids, 1, n, pos, dout, opts, part, \
                                nparts, flags, add, widen, add_both);                         \
        else                                                                                  \
            emb_grad_pos_rows_w(g_type, dtable, dptable, dim, ids, 0, n, pos, dout, opts, part, \
                                nparts, flags, add, widen, add_both);                         \
    }

#endif /* EMBSIMD_ROW_LOOPS_H */
