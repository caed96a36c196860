/* fuzz_layer.c - the differential fuzzer's half for the embedding layer:
 * emb_lookup_pos, emb_grad_pos, emb_grad_ex (padding_idx,
 * scale_grad_by_freq) and emb_renorm, decoded from an input whose first
 * byte is FUZZ_LAYER_TAG (fuzz_embsimd.c routes it here). Each call runs on
 * every available implementation at 1 and N threads; it aborts with a dump
 * when a run differs from scalar (status, message, any byte, guards
 * included), scalar differs from the reference (verify/reference.c), or
 * anything is written after an error. Two NaNs meeting in one add may give
 * either payload (IEEE 754): there "a NaN where the other has a NaN" is
 * what is compared. */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embsimd.h"
#include "fuzz_layer.h"
#include "gen.h"
#include "reference.h"

/* Dims decode to 1..L_DIM; raised to the table type's blocks they reach
 * L_MAX_DIM, one q4_K or q6_K super-block, which the buffers hold. */
enum { LG = 32, L_VOCAB = 32, L_DIM = 80, L_MAX_DIM = 256, L_N = 40, L_POS = 16 };
enum {
    W_BYTES = L_VOCAB * L_MAX_DIM * 4,
    P_BYTES = L_POS * L_MAX_DIM * 4,
    R_BYTES = L_N * L_MAX_DIM * 4
};

/* Input layout after the tag: 10 header bytes, then ids, positions, and
 * the buffers' bytes; a generator seeded by the input continues it.
 *   0 op % 4: lookup_pos, grad_pos, grad_ex, renorm
 *   1 vocab 1 + v % 32 (0xFF: 0, 0xFE: -1)   2 dim 1 + d % 80 (0xFF: 0; bit 7
 *     of byte 5 raises it to a multiple of 32, or of 256 for a q4_K or q6_K
 *     table)   3 n % 41 (0xFF: -1)
 *   4 types: bits 0-2 table type (bits 5-7 all set: 8 + bits 0-2, not a
 *     type), bits 3-4 position or dout type (f32, f16, bf16, q8_0: refused)
 *   5 flags: bit 0 int64 ids, 1 explicit positions, 2-3 threads - 1,
 *     4 scale_grad_by_freq, 5 padding_idx set, 6 ids overlap the output
 *   6 max_pos 1 + m % 16 (0xFF: 0)   7 offset (int8)   8 seq_len (int8)
 *   9 padding_idx (int8) or, for renorm, norm_type (index into a list) */
typedef struct lcall {
    int op, threads, wide_ids, explicit_pos, scale, padded, overlap;
    int64_t vocab, dim, n, max_pos, offset, seq_len, padding_idx;
    emb_type table_type, pos_type;
    double max_norm, norm_type;
    int32_t ids32[L_N], pos32[L_N];
    int64_t ids64[L_N], pos64[L_N];
    uint8_t w[W_BYTES], p[P_BYTES], rows[R_BYTES];
} lcall;

typedef struct lreader {
    const uint8_t *p;
    size_t left;
    gen_rng rng;
} lreader;

static uint8_t l8(lreader *r)
{
    if (r->left == 0)
        return (uint8_t)gen_u64(&r->rng);
    r->left--;
    return *r->p++;
}

static uint32_t l32(lreader *r)
{
    uint32_t v = 0;
    for (int k = 0; k < 4; k++)
        v |= (uint32_t)l8(r) << (8 * k);
    return v;
}

static void decode(const uint8_t *data, size_t size, lcall *c)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t k = 0; k < size; k++)
        h = (h ^ data[k]) * 1099511628211ull;
    lreader r = {data, size, gen_seed(h)};
    uint8_t b[10];
    for (int k = 0; k < 10; k++)
        b[k] = l8(&r);
    memset(c, 0, sizeof *c);
    c->op = b[0] % 4;
    c->vocab = b[1] == 0xFF ? 0 : b[1] == 0xFE ? -1 : 1 + b[1] % L_VOCAB;
    c->dim = b[2] == 0xFF ? 0 : 1 + b[2] % L_DIM;
    c->n = b[3] == 0xFF ? -1 : b[3] % (L_N + 1);
    c->table_type = (emb_type)((b[4] & 0xE0) == 0xE0 ? 8 + (b[4] & 7) : b[4] & 7);
    if ((b[5] & 0x80) && c->dim > 0)
        c->dim = emb_row_bytes(c->table_type, 256) != 0 && emb_row_bytes(c->table_type, 32) == 0
                     ? 256
                 : c->dim <= 32 ? 32
                                : 64;
    static const emb_type second[4] = {EMB_F32, EMB_F16, EMB_BF16, EMB_Q8_0};
    c->pos_type = second[(b[4] >> 3) & 3];
    c->wide_ids = b[5] & 1;
    c->explicit_pos = (b[5] >> 1) & 1;
    c->threads = 1 + ((b[5] >> 2) & 3);
    c->scale = (b[5] >> 4) & 1;
    c->padded = (b[5] >> 5) & 1;
    c->overlap = (b[5] >> 6) & 1;
    c->max_pos = b[6] == 0xFF ? 0 : 1 + b[6] % L_POS;
    c->offset = (int8_t)b[7];
    c->seq_len = (int8_t)b[8];
    c->padding_idx = (int8_t)b[9];
    static const double norms[8] = {2.0, 1.0, 3.0, 0.5, INFINITY, 0.0, -1.0, NAN};
    c->norm_type = norms[b[9] & 7];
    uint32_t mn = l32(&r);
    float f;
    memcpy(&f, &mn, sizeof f);
    c->max_norm = (mn >> 28) < 12 ? fabs((double)(mn % 1000)) / 100.0 : (double)f;
    const int64_t v = c->vocab > 0 ? c->vocab : 1, m = c->max_pos > 0 ? c->max_pos : 1;
    for (int i = 0; i < L_N; i++) {
        const uint32_t a = l32(&r), q = l32(&r);
        /* Mostly in range; the top byte's last values give raw ones. */
        c->ids64[i] = (a >> 24) >= 0xFC ? (int64_t)(int32_t)a : (int64_t)(a % (uint32_t)v);
        c->pos64[i] = (q >> 24) >= 0xFC ? (int64_t)(int32_t)q : (int64_t)(q % (uint32_t)m);
        c->ids32[i] = (int32_t)c->ids64[i];
        c->pos32[i] = (int32_t)c->pos64[i];
    }
    for (size_t k = 0; k < sizeof c->w; k++)
        c->w[k] = l8(&r);
    for (size_t k = 0; k < sizeof c->p; k++)
        c->p[k] = l8(&r);
    for (size_t k = 0; k < sizeof c->rows; k++)
        c->rows[k] = l8(&r);
}

/* Buffers with guards, rebuilt identically before every run. */
typedef struct lbuf {
    uint8_t w[LG + W_BYTES + LG], p[LG + P_BYTES + LG], rows[LG + R_BYTES + LG];
} lbuf;

static void fill(lbuf *b, const lcall *c)
{
    memset(b, 0xA5, sizeof *b);
    memcpy(b->w + LG, c->w, sizeof c->w);
    memcpy(b->p + LG, c->p, sizeof c->p);
    memcpy(b->rows + LG, c->rows, sizeof c->rows);
}

static const void *ids_of(const lcall *c)
{
    return c->wide_ids ? (const void *)c->ids64 : (const void *)c->ids32;
}

static emb_status run(lbuf *b, const lcall *c)
{
    const emb_index it = c->wide_ids ? EMB_I64 : EMB_I32;
    const emb_positions pos = {c->explicit_pos ? (c->wide_ids ? (const void *)c->pos64
                                                           : (const void *)c->pos32)
                                               : NULL,
                               c->offset, c->seq_len};
    const emb_grad_options opt = {c->padded ? c->padding_idx : EMB_NO_PADDING, c->scale};
    uint8_t *w = b->w + LG, *p = b->p + LG, *rows = b->rows + LG;
    switch (c->op) {
    case 0:
        return emb_lookup_pos(w, c->table_type, c->vocab, c->dim, ids_of(c), it, c->n, p,
                              c->pos_type, c->max_pos, &pos, (float *)(void *)(c->overlap ? w : rows));
    case 1:
        return emb_grad_pos((float *)(void *)w, c->vocab, (float *)(void *)(c->overlap ? w : p),
                            c->max_pos, c->dim, ids_of(c), it, c->n, &pos, rows, c->pos_type, &opt);
    case 2:
        return emb_grad_ex((float *)(void *)w, c->vocab, c->dim, ids_of(c), it, c->n, rows,
                           c->pos_type, &opt);
    default:
        return emb_renorm(w, c->table_type, c->vocab, c->dim, ids_of(c), it, c->n, c->max_norm,
                          c->norm_type);
    }
}

/* The reference's result in a copy of the pristine buffers; -1 when the
 * reference refuses the call (then scalar must have refused it too). */
static int reference(lbuf *b, const lcall *c)
{
    const emb_index it = c->wide_ids ? EMB_I64 : EMB_I32;
    const emb_positions pos = {c->explicit_pos ? (c->wide_ids ? (const void *)c->pos64
                                                           : (const void *)c->pos32)
                                               : NULL,
                               c->offset, c->seq_len};
    const emb_grad_options opt = {c->padded ? c->padding_idx : EMB_NO_PADDING, c->scale};
    float *w = (float *)(void *)(b->w + LG), *p = (float *)(void *)(b->p + LG);
    float *rows = (float *)(void *)(b->rows + LG);
    switch (c->op) {
    case 0:
        return ref_lookup_pos(c->table_type, w, c->vocab, c->dim, ids_of(c), it, c->n,
                              c->pos_type, p, c->max_pos, &pos, rows);
    case 1:
        return ref_grad_ex(c->pos_type, w, c->vocab, c->dim, ids_of(c), it, c->n, rows, &opt, p,
                           c->max_pos, &pos);
    case 2:
        return ref_grad_ex(c->pos_type, w, c->vocab, c->dim, ids_of(c), it, c->n, rows, &opt,
                           NULL, 0, NULL);
    default:
        return ref_renorm(w, c->table_type, c->vocab, c->dim, ids_of(c), it, c->n, c->max_norm,
                          c->norm_type);
    }
}

static void dump(const lcall *c, const char *impl, int threads, const char *what)
{
    static const char *const ops[4] = {"emb_lookup_pos", "emb_grad_pos", "emb_grad_ex",
                                       "emb_renorm"};
    fprintf(stderr, "\n==== embsimd differential fuzzer (layer): %s ====\n", what);
    fprintf(stderr, "%s on %s x%d: table %d, pos/dout type %d, %s ids, vocab %lld dim %lld "
                    "n %lld max_pos %lld offset %lld seq_len %lld explicit %d padding %d (%lld) "
                    "scale %d overlap %d max_norm %g norm_type %g\n",
            ops[c->op], impl, threads, (int)c->table_type, (int)c->pos_type,
            c->wide_ids ? "i64" : "i32", (long long)c->vocab, (long long)c->dim, (long long)c->n,
            (long long)c->max_pos, (long long)c->offset, (long long)c->seq_len, c->explicit_pos,
            c->padded, (long long)c->padding_idx, c->scale, c->overlap, c->max_norm,
            c->norm_type);
    fprintf(stderr, "last error: %s\n", emb_last_error());
    abort();
}

static int is_nan_at(const uint8_t *p)
{
    uint32_t u;
    memcpy(&u, p, sizeof u);
    return (u & 0x7FFFFFFFu) > 0x7F800000u;
}

/* Equal bytes, or both a NaN word where a word of floats differs. */
static int same(const uint8_t *a, const uint8_t *b, size_t bytes)
{
    if (memcmp(a, b, bytes) == 0)
        return 1;
    for (size_t k = 0; k + 4 <= bytes; k += 4)
        if (memcmp(a + k, b + k, 4) != 0 && !(is_nan_at(a + k) && is_nan_at(b + k)))
            return 0;
    return 1;
}

static int same_buffers(const lbuf *x, const lbuf *y)
{
    return same(x->w, y->w, sizeof x->w) && same(x->p, y->p, sizeof x->p) &&
           same(x->rows, y->rows, sizeof x->rows);
}

void fuzz_layer(const uint8_t *data, size_t size)
{
    static lcall c;
    static lbuf pristine, scalar, b, ref;
    static char scalar_error[320];
    decode(data, size, &c);
    if (emb_use_impl("scalar") != EMB_OK || emb_set_num_threads(1) != EMB_OK)
        abort();
    fill(&pristine, &c);
    fill(&b, &c);
    const emb_status st0 = run(&b, &c);
    scalar = b;
    snprintf(scalar_error, sizeof scalar_error, "%s", emb_last_error());
    if (st0 == EMB_OK && !c.overlap) {
        fill(&ref, &c);
        if (reference(&ref, &c) != 0)
            dump(&c, "scalar", 1, "succeeded where the reference refuses the call");
        if (!same_buffers(&ref, &scalar))
            dump(&c, "scalar", 1, "differs from the reference");
    }
    if (st0 != EMB_OK && memcmp(&b, &pristine, sizeof b) != 0)
        dump(&c, "scalar", 1, "wrote after an error status");
    for (int k = 0; k < emb_impl_count(); k++) {
        if (!emb_impl_available(k))
            continue;
        const int counts[2] = {1, c.threads};
        for (int t = 0; t < 2; t++) {
            if (emb_use_impl(emb_impl_name(k)) != EMB_OK ||
                emb_set_num_threads(counts[t]) != EMB_OK)
                abort();
            fill(&b, &c);
            const emb_status st = run(&b, &c);
            if (st != st0)
                dump(&c, emb_impl_name(k), counts[t], "status differs from scalar");
            if (st != EMB_OK) {
                if (strcmp(emb_last_error(), scalar_error) != 0)
                    dump(&c, emb_impl_name(k), counts[t], "error message differs from scalar");
                if (memcmp(&b, &pristine, sizeof b) != 0)
                    dump(&c, emb_impl_name(k), counts[t], "wrote after an error status");
                continue;
            }
            if (!same_buffers(&b, &scalar))
                dump(&c, emb_impl_name(k), counts[t], "differs from scalar");
        }
    }
}
