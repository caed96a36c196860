/* fuzz_embsimd.c - libFuzzer harness: decodes one call from the input (a
 * kernel of emb_kernel_at, int32 or int64 ids including bad ones, sizes
 * and dims valid or not for the kernel's types, raw element bytes), runs it
 * on every available implementation and thread count, and aborts with a
 * dump when one differs from scalar (status, message, any output bit) or
 * scalar from the definition (formats.h), or anything is written after an
 * error. Inputs that begin with FUZZ_LAYER_TAG are the embedding layer's
 * calls instead (fuzz_layer.c). Built by `make fuzz` with clang
 * -fsanitize=fuzzer. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embsimd.h"
#include "formats.h"
#include "fuzz_layer.h"
#include "gen.h"
#include "ieee.h"

/* Dims decode to 1..DIM_CODES; raised to the kernel's types (byte 5, bit
 * 1) they reach MAX_DIM, one q4_K or q6_K super-block. */
enum { GUARD = 32, MAX_VOCAB = 64, DIM_CODES = 96, MAX_DIM = 256, MAX_N = 48 };
enum { MATRIX_BYTES = MAX_VOCAB * MAX_DIM * 4, ROWS_BYTES = MAX_N * MAX_DIM * 4 };

/* The call an input decodes to.
 *
 * Input layout: 6 header bytes, then the ids (4 bytes each, 8 for int64),
 * then the table (lookup) or dtable (grad), then dout (grad), each element
 * in its type's bytes; when the input runs out, a generator seeded by the
 * whole input continues it.
 *   byte 0 vocab: 1 + v % 64; 0xFF: 0, 0xFE: -1, 0xFD: INT64_MAX (0xFC:
 *                 the layer's calls, fuzz_layer.h)
 *   byte 1 dim:   1 + d % 96 (DIM_CODES); 0xFF: 0, 0xFE: -3, 0xFD: INT64_MAX / 2
 *   byte 2 n:     n % 49; 0xFF: -1
 *   byte 3 flags: bits 0-1 threads - 1, bit 2 misaligned rows, bit 3
 *                 misaligned matrix (by one element), 0xF0 all set: rows
 *                 overlap the matrix,
 *                 bit 4 with n = 0: ids NULL
 *   byte 4 kernel: index into emb_kernel_at, modulo emb_kernel_count()
 *   byte 5 types: bit 0 int64 ids; bit 1 dim raised to the next one the
 *                 kernel's types allow; bit 4 the fp32 entry points when the
 *                 call is theirs; bits 5-7 all set: the out type (lookup)
 *                 or dout type (grad) replaced by bits 2-4 (0..5 the types
 *                 f32 .. q8_rowwise; 6 and 7 no type at all) */
typedef struct call {
    int64_t vocab, dim, n;
    int threads, misalign_rows, misalign_matrix, overlap, null_ids, legacy;
    emb_op op;
    emb_type in, out; /* lookup: table and out types; grad: dout and dtable */
    emb_index id_type;
    int32_t ids32[MAX_N];
    int64_t ids64[MAX_N];
    uint8_t matrix[MATRIX_BYTES]; /* table or dtable */
    uint8_t rows[ROWS_BYTES];     /* dout */
} call;

typedef struct reader {
    const uint8_t *p;
    size_t left;
    gen_rng rng; /* continues the input once it runs out */
} reader;

static uint32_t next32(reader *r)
{
    if (r->left >= 4) {
        const uint32_t v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
                           (uint32_t)r->p[3] << 24;
        r->p += 4;
        r->left -= 4;
        return v;
    }
    return gen_bits(&r->rng);
}

static uint16_t next16(reader *r, emb_type t)
{
    if (r->left >= 2) {
        const uint16_t v = (uint16_t)(r->p[0] | r->p[1] << 8);
        r->p += 2;
        r->left -= 2;
        return v;
    }
    const uint32_t u = gen_bits(&r->rng);
    return t == EMB_BF16 ? vf_narrow_bf16(u) : vf_narrow_f16(u);
}

static uint8_t next8(reader *r)
{
    if (r->left == 0)
        return (uint8_t)gen_u64(&r->rng);
    r->left--;
    return *r->p++;
}

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, sizeof v); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, sizeof v); }

/* rows x dim elements of type t into dst (at most cap bytes), element by
 * element in the type's layout; a dim the type rejects gets words. */
static void fill_typed(reader *r, emb_type t, uint8_t *dst, size_t cap, int64_t rows, int64_t dim)
{
    vf_format f;
    const size_t row_bytes = dim > 0 && dim <= MAX_DIM ? vf_format_row_bytes(t, dim) : 0;
    if (!vf_format_of(t, &f) || row_bytes == 0 || rows <= 0 || (size_t)rows * row_bytes > cap) {
        for (size_t k = 0; k + 4 <= cap; k += 4)
            put32(dst + k, next32(r));
        return;
    }
    for (int64_t k = 0; k < rows; k++) {
        uint8_t *row = dst + (size_t)k * row_bytes;
        if (f.elem_bits == 32) {
            for (int64_t j = 0; j < dim; j++)
                put32(row + 4 * j, next32(r));
        } else if (f.elem_bits == 16) {
            for (int64_t j = 0; j < dim; j++)
                put16(row + 2 * j, next16(r, t));
        } else if (f.block > 1) {
            for (int64_t b = 0; b < dim / f.block; b++) {
                /* The block's bytes in order, its fp16 scales (formats.h:
                 * q8_0's and q4_0's first, q4_K's d and dmin first, q6_K's
                 * d last) drawn as fp16s. */
                uint8_t *blk = row + (size_t)b * f.block_bytes;
                for (size_t q = 0; q < f.block_bytes;) {
                    int scale = 0;
                    for (int s = 0; s < f.n_scales; s++)
                        scale |= f.scale_at[s] == q;
                    if (scale) {
                        put16(blk + q, next16(r, EMB_F16));
                        q += 2;
                    } else {
                        blk[q++] = next8(r);
                    }
                }
            }
        } else {
            for (int64_t j = 0; j < dim; j++)
                row[j] = next8(r);
            for (size_t e = 0; e < f.row_extra; e += 4)
                put32(row + dim + e, next32(r));
        }
    }
    memset(dst + (size_t)rows * row_bytes, 0, cap - (size_t)rows * row_bytes);
}

/* The kernel of (op, in, out), or -1. */
static int kernel_of(emb_op op, emb_type in, emb_type out)
{
    for (int k = 0; k < emb_kernel_count(); k++) {
        const emb_kernel *kn = emb_kernel_at(k);
        if (kn->op == op && kn->in == in && kn->out == out)
            return k;
    }
    return -1;
}

static int64_t valid_dim(emb_type in, emb_type out, int64_t dim)
{
    for (int64_t d = dim; d <= MAX_DIM; d++)
        if (vf_format_row_bytes(in, d) != 0 && vf_format_row_bytes(out, d) != 0)
            return d;
    return dim;
}

static void decode(const uint8_t *data, size_t size, call *c)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a: the tail depends on all the input */
    for (size_t k = 0; k < size; k++)
        h = (h ^ data[k]) * 1099511628211ull;
    reader r = {data, size, gen_seed(h)};
    const uint8_t v = next8(&r), d = next8(&r), n = next8(&r), f = next8(&r);
    const uint8_t kb = next8(&r), x = next8(&r);
    /* emb_lookup's and emb_grad's kernels, in list order. */
    int base[256], nbase = 0;
    for (int k = 0; k < emb_kernel_count() && nbase < 256; k++)
        if (emb_kernel_at(k)->op == EMB_OP_LOOKUP || emb_kernel_at(k)->op == EMB_OP_GRAD)
            base[nbase++] = k;
    const emb_kernel *kn = emb_kernel_at(base[kb % nbase]);
    c->op = kn->op;
    c->in = kn->in;
    c->out = kn->out;
    if ((x & 0xE0) == 0xE0) {
        /* 0..5 a type, 6 and 7 none (past the last, whatever it is). */
        const int code = (x >> 2) & 7;
        const emb_type other = (emb_type)(code < 6 ? code : EMB_TYPE_COUNT + code - 6);
        if (c->op == EMB_OP_LOOKUP)
            c->out = other;
        else
            c->in = other;
    }
    c->id_type = (x & 1) ? EMB_I64 : EMB_I32;
    /* Mostly valid sizes; the top values of each byte give invalid ones. */
    c->vocab = v == 0xFF ? 0 : v == 0xFE ? -1 : v == 0xFD ? INT64_MAX : 1 + v % MAX_VOCAB;
    c->dim = d == 0xFF ? 0 : d == 0xFE ? -3 : d == 0xFD ? INT64_MAX / 2 : 1 + d % DIM_CODES;
    if ((x & 2) && c->dim > 0 && c->dim <= MAX_DIM)
        c->dim = valid_dim(c->in, c->out, c->dim);
    c->n = n == 0xFF ? -1 : n % (MAX_N + 1);
    c->threads = 1 + (f & 3);
    c->misalign_rows = (f >> 2) & 1;
    c->misalign_matrix = (f >> 3) & 1;
    c->overlap = (f & 0xF0) == 0xF0;
    c->null_ids = c->n == 0 && (f >> 4) & 1;
    c->legacy = (x >> 4 & 1) && c->in == EMB_F32 && c->out == EMB_F32 && c->id_type == EMB_I32;
    const int64_t vocab = c->vocab > 0 && c->vocab <= MAX_VOCAB ? c->vocab : MAX_VOCAB;
    for (int64_t i = 0; i < MAX_N; i++) {
        const uint32_t raw = next32(&r);
        const uint32_t top = raw >> 24;
        /* A few raw values (negative, huge, INT32_MIN, vocab itself); the
         * rest in range. */
        c->ids32[i] = top >= 0xFD || top == 0x7F || raw == 0x80000000u ? (int32_t)raw
                      : top == 0x80 ? (int32_t)vocab
                                    : (int32_t)(raw % (uint32_t)vocab);
        if (c->id_type == EMB_I32)
            continue;
        const uint32_t hi = next32(&r);
        const int64_t wide = (int64_t)((uint64_t)hi << 32 | raw);
        /* int64 adds ids past int32: 2^32 + a valid id (valid if cut to
         * 32 bits), 2^31, and raw 64-bit values. */
        c->ids64[i] = top == 0x81 ? ((int64_t)1 << 32) + (int64_t)(raw % (uint32_t)vocab)
                      : top == 0x82 ? (int64_t)1 << 31
                      : top >= 0xFD || top == 0x7F ? wide
                                                   : (int64_t)c->ids32[i];
    }
    const int grad = c->op == EMB_OP_GRAD;
    fill_typed(&r, grad ? EMB_F32 : c->in, c->matrix, sizeof c->matrix, c->vocab, c->dim);
    if (grad)
        fill_typed(&r, c->in, c->rows, sizeof c->rows, c->n, c->dim);
    else
        memset(c->rows, 0, sizeof c->rows);
}

/* Buffers with guard bytes, rebuilt identically before every run. */
typedef struct buffers {
    uint8_t matrix[GUARD + 4 + MATRIX_BYTES + GUARD];
    uint8_t rows[GUARD + 4 + ROWS_BYTES + GUARD];
    uint8_t *m, *r;
} buffers;

static uint8_t canary(size_t k) { return (uint8_t)(0xA7 ^ (k * 131)); }

/* How far a misaligned buffer of type t is moved: one element (aligned
 * as its type must be, never as a vector is), one byte for the quantized
 * types, which are bytes. */
static size_t misalignment(emb_type t)
{
    vf_format f;
    if (!vf_format_of(t, &f) || f.elem_bits == 32)
        return 4;
    return f.elem_bits ? (size_t)f.elem_bits / 8 : 1;
}

static size_t matrix_offset(const call *c)
{
    return GUARD + (c->misalign_matrix ? misalignment(c->op == EMB_OP_GRAD ? EMB_F32 : c->in) : 0);
}

static size_t rows_offset(const call *c)
{
    return GUARD + (c->misalign_rows ? misalignment(c->op == EMB_OP_GRAD ? c->in : c->out) : 0);
}

static void fill(buffers *b, const call *c)
{
    for (size_t k = 0; k < sizeof b->matrix; k++)
        b->matrix[k] = canary(k);
    for (size_t k = 0; k < sizeof b->rows; k++)
        b->rows[k] = canary(k + 99991);
    b->m = b->matrix + matrix_offset(c);
    b->r = b->rows + rows_offset(c);
    const int grad = c->op == EMB_OP_GRAD;
    const int64_t vocab = c->vocab > 0 && c->vocab <= MAX_VOCAB ? c->vocab : 0;
    const int64_t dim = c->dim > 0 && c->dim <= MAX_DIM ? c->dim : 0;
    const int64_t n = c->n > 0 ? c->n : 0;
    const size_t m_row = grad ? (size_t)dim * 4 : vf_format_row_bytes(c->in, dim);
    memcpy(b->m, c->matrix, (size_t)vocab * m_row);
    if (grad) /* grad reads rows (dout); lookup writes them */
        memcpy(b->r, c->rows, (size_t)n * vf_format_row_bytes(c->in, dim));
}

static const void *ids_of(const call *c)
{
    if (c->null_ids)
        return NULL;
    return c->id_type == EMB_I64 ? (const void *)c->ids64 : (const void *)c->ids32;
}

static emb_status run(buffers *b, const call *c)
{
    const void *ids = ids_of(c);
    uint8_t *rows = c->overlap ? b->m : b->r;
    if (c->op == EMB_OP_LOOKUP)
        return c->legacy ? emb_lookup_f32((const float *)(void *)b->m, c->vocab, c->dim, ids,
                                          c->n, (float *)(void *)rows)
                         : emb_lookup(b->m, c->in, c->vocab, c->dim, ids, c->id_type, c->n, rows,
                                      c->out);
    return c->legacy ? emb_grad_f32((float *)(void *)b->m, c->vocab, c->dim, ids, c->n,
                                    (const float *)(void *)rows)
                     : emb_grad((float *)(void *)b->m, c->vocab, c->dim, ids, c->id_type, c->n,
                                rows, c->in);
}

static int64_t id_at(const call *c, int64_t i)
{
    return c->id_type == EMB_I64 ? c->ids64[i] : c->ids32[i];
}

static void dump(const call *c, const char *impl, int threads, const char *what)
{
    fprintf(stderr, "\n==== embsimd differential fuzzer: %s ====\n", what);
    fprintf(stderr, "%s %s->%s (%s ids%s) on %s x%d: vocab %lld dim %lld n %lld misalign rows %d "
                    "matrix %d overlap %d null ids %d\n",
            c->op == EMB_OP_LOOKUP ? "lookup" : "grad",
            emb_type_name(c->in) ? emb_type_name(c->in) : "?",
            emb_type_name(c->out) ? emb_type_name(c->out) : "?", emb_index_name(c->id_type),
            c->legacy ? ", fp32 entry point" : "", impl, threads, (long long)c->vocab,
            (long long)c->dim, (long long)c->n, c->misalign_rows, c->misalign_matrix, c->overlap,
            c->null_ids);
    fprintf(stderr, "ids:");
    for (int64_t i = 0; i < c->n && i < MAX_N; i++)
        fprintf(stderr, " %lld", (long long)id_at(c, i));
    fprintf(stderr, "\nlast error: %s\n", emb_last_error());
    abort();
}

/* The definition, as fp32 bits (a copy kernel: its bytes are compared
 * directly): lookup widens the selected rows; grad adds in token order,
 * a NaN result's payload open only where two NaNs met. */
static void reference(const call *c, vf_val *want)
{
    const int64_t dim = c->dim;
    volatile float inf = INFINITY, zero = 0.0f;
    const uint32_t dn = vf_bits(inf * zero); /* this CPU's default NaN */
    if (c->op == EMB_OP_LOOKUP) {
        const size_t row_bytes = vf_format_row_bytes(c->in, dim);
        for (int64_t i = 0; i < c->n; i++)
            for (int64_t j = 0; j < dim; j++)
                want[i * dim + j] = vf_val_of(
                    vf_model_elem(c->in, c->matrix + (size_t)id_at(c, i) * row_bytes, dim, j, dn));
        return;
    }
    for (int64_t k = 0; k < c->vocab * dim; k++)
        want[k] = vf_val_of(vf_le32(c->matrix + 4 * k));
    for (int64_t i = 0; i < c->n; i++)
        for (int64_t j = 0; j < dim; j++) {
            vf_val *acc = &want[id_at(c, i) * dim + j];
            *acc = vf_add(*acc, vf_val_of(vf_model_elem(c->in, c->rows, c->n * dim, i * dim + j, dn)));
        }
}

static int select_run(const char *name, int threads)
{
    return emb_use_impl(name) == EMB_OK && emb_set_num_threads(threads) == EMB_OK;
}

static void check(const call *c)
{
    /* Every run uses the same buffers b, so error messages that name
     * addresses (overlaps) compare equal; scalar's result is kept aside. */
    static buffers scalar, pristine, b;
    static vf_val want[MAX_VOCAB * MAX_DIM];
    static char scalar_error[320];
    if (!select_run("scalar", 1))
        abort();
    fill(&pristine, c);
    fill(&b, c);
    const emb_status st0 = run(&b, c);
    scalar = b;
    snprintf(scalar_error, sizeof scalar_error, "%s", emb_last_error());
    const int grad = c->op == EMB_OP_GRAD;
    if (st0 == EMB_OK && c->n > 0 && kernel_of(c->op, c->in, c->out) < 0)
        dump(c, "scalar", 1, "a call with no kernel for its types succeeded");
    if (st0 == EMB_OK && c->n > 0 && !c->overlap) {
        /* Sizes and types are valid here, so the products cannot overflow. */
        const int64_t dim = c->dim;
        const size_t out_count = grad ? (size_t)(c->vocab * dim) : (size_t)(c->n * dim);
        const uint8_t *out = grad ? b.m : b.r;
        if (!grad && c->out == c->in) {
            const size_t row_bytes = vf_format_row_bytes(c->in, dim);
            for (int64_t i = 0; i < c->n; i++)
                if (memcmp(out + (size_t)i * row_bytes, c->matrix + (size_t)id_at(c, i) * row_bytes,
                           row_bytes) != 0)
                    dump(c, "scalar", 1, "differs from the definition (a copy of the rows)");
        } else {
            reference(c, want);
            for (size_t k = 0; k < out_count; k++)
                if (!vf_matches(vf_le32(out + 4 * k), want[k]))
                    dump(c, "scalar", 1, "differs from the definition");
        }
    }
    for (int k = 0; k < emb_impl_count(); k++) {
        if (!emb_impl_available(k))
            continue;
        const int counts[2] = {1, c->threads};
        for (int t = 0; t < 2; t++) {
            if (!select_run(emb_impl_name(k), counts[t]))
                abort();
            fill(&b, c);
            const emb_status st = run(&b, c);
            if (st != st0)
                dump(c, emb_impl_name(k), counts[t], "status differs from scalar");
            if (st != EMB_OK && strcmp(emb_last_error(), scalar_error) != 0)
                dump(c, emb_impl_name(k), counts[t], "error message differs from scalar");
            if (st != EMB_OK || c->n == 0) {
                /* Nothing may change, guard bytes included. */
                if (memcmp(b.matrix, pristine.matrix, sizeof b.matrix) != 0 ||
                    memcmp(b.rows, pristine.rows, sizeof b.rows) != 0)
                    dump(c, emb_impl_name(k), counts[t], "wrote after an error status or with n = 0");
                continue;
            }
            /* Same bits as scalar, guard bytes included, except a grad
             * NaN whose payload IEEE 754 leaves open. */
            if (memcmp(b.matrix, scalar.matrix, sizeof b.matrix) != 0) {
                const size_t base = matrix_offset(c);
                for (size_t w = 0; w < sizeof b.matrix; w++) {
                    if (b.matrix[w] == scalar.matrix[w])
                        continue;
                    const int64_t at = ((int64_t)w - (int64_t)base) / 4;
                    const int inside = grad && !c->overlap && w >= base && at < c->vocab * c->dim;
                    if (!inside)
                        dump(c, emb_impl_name(k), counts[t], "differs from scalar (table side)");
                    const uint32_t got = vf_le32(b.matrix + base + 4 * (size_t)at);
                    if (!(want[at].loose && vf_is_nan(got)))
                        dump(c, emb_impl_name(k), counts[t], "differs from scalar (table side)");
                }
            }
            if (memcmp(b.rows, scalar.rows, sizeof b.rows) != 0)
                dump(c, emb_impl_name(k), counts[t], "differs from scalar (rows side)");
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static call c;
    if (size > 0 && data[0] == FUZZ_LAYER_TAG) {
        fuzz_layer(data + 1, size - 1);
        return 0;
    }
    decode(data, size, &c);
    check(&c);
    return 0;
}
