/* fuzz_embsimd.c - libFuzzer harness: decodes one lookup/grad call from the
 * input (sizes, ids including bad ones, raw float bits), runs it on every
 * available implementation and thread count, and aborts with a dump when
 * one differs from scalar or from the definition, or writes anything after
 * returning an error. Built by `make fuzz` with clang -fsanitize=fuzzer. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embsimd.h"
#include "gen.h"
#include "ieee.h"

enum { GUARD = 8, MAX_VOCAB = 64, MAX_DIM = 80, MAX_N = 48 };

/* The call an input decodes to. */
typedef struct call {
    int64_t vocab, dim, n;
    int threads, misalign_rows, misalign_matrix, overlap, null_ids;
    int32_t ids[MAX_N];
    uint32_t matrix[MAX_VOCAB * MAX_DIM]; /* table or dtable */
    uint32_t rows[MAX_N * MAX_DIM];       /* dout */
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

static uint8_t next8(reader *r)
{
    if (r->left == 0)
        return (uint8_t)gen_u64(&r->rng);
    r->left--;
    return *r->p++;
}

static void decode(const uint8_t *data, size_t size, call *c)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a: the tail depends on all the input */
    for (size_t k = 0; k < size; k++)
        h = (h ^ data[k]) * 1099511628211ull;
    reader r = {data, size, gen_seed(h)};
    const uint8_t v = next8(&r), d = next8(&r), n = next8(&r), f = next8(&r);
    /* Mostly valid sizes; the top values of each byte give invalid ones. */
    c->vocab = v == 0xFF ? 0 : v == 0xFE ? -1 : v == 0xFD ? INT64_MAX : 1 + v % MAX_VOCAB;
    c->dim = d == 0xFF ? 0 : d == 0xFE ? -3 : d == 0xFD ? INT64_MAX / 2 : 1 + d % MAX_DIM;
    c->n = n == 0xFF ? -1 : n % (MAX_N + 1);
    c->threads = 1 + (f & 3);
    c->misalign_rows = (f >> 2) & 1;
    c->misalign_matrix = (f >> 3) & 1;
    c->overlap = (f & 0xF0) == 0xF0;
    c->null_ids = c->n == 0 && (f >> 4) & 1;
    const int64_t vocab = c->vocab > 0 && c->vocab <= MAX_VOCAB ? c->vocab : MAX_VOCAB;
    for (int64_t i = 0; i < MAX_N; i++) {
        const uint32_t raw = next32(&r);
        const uint32_t top = raw >> 24;
        /* A few raw values (negative, huge, vocab itself); the rest in range. */
        c->ids[i] = top >= 0xFD || top == 0x7F ? (int32_t)raw
                    : top == 0x80             ? (int32_t)vocab
                                              : (int32_t)(raw % (uint32_t)vocab);
    }
    for (size_t k = 0; k < MAX_VOCAB * MAX_DIM; k++)
        c->matrix[k] = next32(&r);
    for (size_t k = 0; k < MAX_N * MAX_DIM; k++)
        c->rows[k] = next32(&r);
}

/* Buffers with guard words, rebuilt identically before every run. */
typedef struct buffers {
    float matrix[GUARD + 1 + MAX_VOCAB * MAX_DIM + GUARD];
    float rows[GUARD + 1 + MAX_N * MAX_DIM + GUARD];
    float *m, *r;
} buffers;

static uint32_t canary(size_t k) { return 0x7FA00000u ^ (uint32_t)(k * 2654435761u); }

static void fill(buffers *b, const call *c, int op)
{
    for (size_t k = 0; k < sizeof b->matrix / sizeof(float); k++)
        b->matrix[k] = gen_u2f(canary(k));
    for (size_t k = 0; k < sizeof b->rows / sizeof(float); k++)
        b->rows[k] = gen_u2f(canary(k + 99991));
    b->m = b->matrix + GUARD + c->misalign_matrix;
    b->r = b->rows + GUARD + c->misalign_rows;
    const int64_t vocab = c->vocab > 0 && c->vocab <= MAX_VOCAB ? c->vocab : 0;
    const int64_t dim = c->dim > 0 && c->dim <= MAX_DIM ? c->dim : 0;
    const int64_t n = c->n > 0 ? c->n : 0;
    memcpy(b->m, c->matrix, (size_t)(vocab * dim) * sizeof(float));
    if (op == 1) /* grad reads rows (dout); lookup writes them */
        memcpy(b->r, c->rows, (size_t)(n * dim) * sizeof(float));
}

static emb_status run(buffers *b, const call *c, int op)
{
    const int32_t *ids = c->null_ids ? NULL : c->ids;
    float *rows = c->overlap ? b->m : b->r;
    if (op == 0)
        return emb_lookup_f32(b->m, c->vocab, c->dim, ids, c->n, rows);
    return emb_grad_f32(b->m, c->vocab, c->dim, ids, c->n, rows);
}

static void dump(const call *c, int op, const char *impl, int threads, const char *what)
{
    fprintf(stderr, "\n==== embsimd differential fuzzer: %s ====\n", what);
    fprintf(stderr, "%s on %s x%d: vocab %lld dim %lld n %lld misalign rows %d matrix %d overlap %d null ids %d\n",
            op == 0 ? "lookup" : "grad", impl, threads, (long long)c->vocab, (long long)c->dim,
            (long long)c->n, c->misalign_rows, c->misalign_matrix, c->overlap, c->null_ids);
    fprintf(stderr, "ids:");
    for (int64_t i = 0; i < c->n && i < MAX_N; i++)
        fprintf(stderr, " %ld", (long)c->ids[i]);
    fprintf(stderr, "\nlast error: %s\n", emb_last_error());
    abort();
}

/* The definition: lookup copies bits; grad adds in token order, a NaN
 * result's payload open only where two NaNs met. */
static void reference(const call *c, int op, vf_val *want)
{
    const int64_t dim = c->dim;
    if (op == 0) {
        for (int64_t i = 0; i < c->n; i++)
            for (int64_t j = 0; j < dim; j++)
                want[i * dim + j] = vf_val_of(c->matrix[(int64_t)c->ids[i] * dim + j]);
        return;
    }
    for (int64_t k = 0; k < c->vocab * dim; k++)
        want[k] = vf_val_of(c->matrix[k]);
    for (int64_t i = 0; i < c->n; i++)
        for (int64_t j = 0; j < dim; j++) {
            vf_val *acc = &want[(int64_t)c->ids[i] * dim + j];
            *acc = vf_add(*acc, vf_val_of(c->rows[i * dim + j]));
        }
}

static int select_run(const char *name, int threads)
{
    return emb_use_impl(name) == EMB_OK && emb_set_num_threads(threads) == EMB_OK;
}

static void check_op(const call *c, int op)
{
    /* Every run uses the same buffers b, so error messages that name
     * addresses (overlaps) compare equal; scalar's result is kept aside. */
    static buffers scalar, pristine, b;
    static vf_val want[MAX_VOCAB * MAX_DIM];
    static char scalar_error[320];
    if (!select_run("scalar", 1))
        abort();
    fill(&pristine, c, op);
    fill(&b, c, op);
    const emb_status st0 = run(&b, c, op);
    scalar = b;
    snprintf(scalar_error, sizeof scalar_error, "%s", emb_last_error());
    const int64_t dim = c->dim;
    if (st0 == EMB_OK && c->n > 0 && !c->overlap) {
        /* Sizes are valid here, so the products cannot overflow. */
        const size_t out_count = op == 0 ? (size_t)(c->n * dim) : (size_t)(c->vocab * dim);
        reference(c, op, want);
        const float *out = op == 0 ? b.r : b.m;
        for (size_t k = 0; k < out_count; k++)
            if (!vf_matches(gen_f2u(out[k]), want[k]))
                dump(c, op, "scalar", 1, "differs from the definition");
    }
    for (int k = 0; k < emb_impl_count(); k++) {
        if (!emb_impl_available(k))
            continue;
        const int counts[2] = {1, c->threads};
        for (int t = 0; t < 2; t++) {
            if (!select_run(emb_impl_name(k), counts[t]))
                abort();
            fill(&b, c, op);
            const emb_status st = run(&b, c, op);
            if (st != st0)
                dump(c, op, emb_impl_name(k), counts[t], "status differs from scalar");
            if (st != EMB_OK && strcmp(emb_last_error(), scalar_error) != 0)
                dump(c, op, emb_impl_name(k), counts[t], "error message differs from scalar");
            if (st != EMB_OK || c->n == 0) {
                /* Nothing may change, guard words included. */
                if (memcmp(b.matrix, pristine.matrix, sizeof b.matrix) != 0 ||
                    memcmp(b.rows, pristine.rows, sizeof b.rows) != 0)
                    dump(c, op, emb_impl_name(k), counts[t], "wrote after an error status or with n = 0");
                continue;
            }
            /* Same bits as scalar, guard words included, except a NaN
             * whose payload IEEE 754 leaves open. */
            for (size_t w = 0; w < sizeof b.matrix / sizeof(float); w++) {
                const uint32_t got = gen_f2u(b.matrix[w]), ref = gen_f2u(scalar.matrix[w]);
                const int64_t at = (int64_t)w - GUARD - c->misalign_matrix;
                const int open = op == 1 && !c->overlap && at >= 0 && at < c->vocab * dim &&
                                 want[at].loose;
                if (got != ref && !(open && vf_is_nan(got)))
                    dump(c, op, emb_impl_name(k), counts[t], "differs from scalar (table side)");
            }
            if (memcmp(b.rows, scalar.rows, sizeof b.rows) != 0)
                dump(c, op, emb_impl_name(k), counts[t], "differs from scalar (rows side)");
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static call c;
    decode(data, size, &c);
    check_op(&c, 0);
    check_op(&c, 1);
    return 0;
}
