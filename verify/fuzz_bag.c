/* fuzz_bag.c - differential fuzzer of the EmbeddingBag ops: decodes one
 * call of emb_bag, emb_bag_grad or emb_bag_update from the input (any bag
 * kernel, the steps on f32, f16, bf16 or (rejected) quantized tables,
 * offsets or lengths of either width, include_last_offset, weights,
 * padding_idx, modes valid or not, offsets, lengths, ids, argmax, learning
 * rates corrupted or not), runs it on every available implementation at
 * one thread and at the decoded count, and aborts with a dump when a run
 * differs from scalar's (status, message, any byte of any buffer, guard
 * bytes included) or writes anything after an error. libFuzzer entry point
 * (make fuzz-bag, clang); built with -DFUZZ_BAG_STANDALONE it runs a fixed
 * number of generated inputs instead (make check). */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embsimd.h"
#include "gen.h"

/* Dims of element types are 1..MAX_DIM; blocked types take 1 to 3 blocks
 * of 32 or 1 to 2 of 256 (q4_K, q6_K): MAX_ROW at most, what the buffers
 * hold. */
enum { MAX_VOCAB = 40, MAX_DIM = 96, MAX_ROW = 512, MAX_BAGS = 12, MAX_N = 64, GUARD = 64 };

typedef struct buffers {
    uint8_t matrix[GUARD + MAX_VOCAB * (MAX_ROW + 8) * 4 + GUARD]; /* table or dtable */
    uint8_t out[GUARD + MAX_BAGS * MAX_ROW * 4 + GUARD];          /* out or dout */
    int64_t argmax[MAX_BAGS * MAX_ROW + 16];
    float h[MAX_VOCAB + 16];
} buffers;

typedef struct call {
    int kernel;
    emb_op op;
    emb_type in;
    int64_t vocab, dim, nbags, n;
    int threads, lengths, last, off64, weighted, padded, ids64, mode, coalesce, with_argmax;
    int64_t bounds[MAX_BAGS + 1];
    int64_t ids[MAX_N];
    float weights[MAX_N];
    float lr, eps;
    buffers init;
} call;

typedef struct reader {
    const uint8_t *p;
    size_t left;
    gen_rng rng;
} reader;

static uint8_t next8(reader *r)
{
    if (r->left > 0) {
        r->left--;
        return *r->p++;
    }
    return (uint8_t)gen_u64(&r->rng);
}

static uint32_t next32(reader *r)
{
    uint32_t v = 0;
    for (int k = 0; k < 4; k++)
        v = v << 8 | next8(r);
    return v;
}

/* A float of any bits but NaN (sums of two NaNs may keep either payload,
 * which IEEE 754 leaves open: not a difference the fuzzer can judge). */
static float no_nan(uint32_t u)
{
    if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x7fffffu) != 0)
        u &= ~0x00800000u;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static int is_step(emb_op op) { return op == EMB_OP_BAG_SGD || op == EMB_OP_BAG_ADAGRAD; }

/* A step's table type from three bits: f32 (3 in 8), f16, bf16 (2 each),
 * or a quantized type (1 in 8), which the step must reject writing
 * nothing; returns the kernel of the type, the f32 one for a quantized. */
static int step_table(call *c, unsigned bits, uint8_t pick)
{
    static const emb_type quantized[] = {EMB_Q8_0, EMB_Q4_0, EMB_Q8_ROWWISE, EMB_Q4_K, EMB_Q6_K};
    c->in = bits < 3   ? EMB_F32
            : bits < 5 ? EMB_F16
            : bits < 7 ? EMB_BF16
                       : quantized[pick % (sizeof quantized / sizeof quantized[0])];
    for (int k = 0; k < emb_kernel_count(); k++)
        if (emb_kernel_at(k)->op == c->op && emb_kernel_at(k)->in == c->in)
            return k;
    return c->kernel;
}

static void decode(const uint8_t *data, size_t size, call *c)
{
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 1099511628211u;
    reader r = {data, size, gen_seed(h)};
    memset(c, 0, sizeof *c);
    /* The steps' f32 kernels stand for every table type here (the type is
     * decoded below), so a byte picks the same kernel as before the steps
     * took 16-bit tables. */
    int bag_kernels[64], nk = 0;
    for (int k = 0; k < emb_kernel_count() && nk < 64; k++) {
        const emb_kernel *kn = emb_kernel_at(k);
        if (kn->op == EMB_OP_BAG || kn->op == EMB_OP_BAG_GRAD ||
            (is_step(kn->op) && kn->in == EMB_F32))
            bag_kernels[nk++] = k;
    }
    const uint8_t v = next8(&r), d = next8(&r), b = next8(&r), f = next8(&r), kb = next8(&r),
                  m = next8(&r), x = next8(&r);
    c->kernel = bag_kernels[kb % nk];
    c->op = emb_kernel_at(c->kernel)->op;
    c->in = emb_kernel_at(c->kernel)->in;
    if (is_step(c->op))
        c->kernel = step_table(c, x >> 5, d);
    c->vocab = 1 + v % MAX_VOCAB;
    int64_t block = 1; /* the smallest dim of the type */
    while (emb_row_bytes(c->in, block) == 0 && block < MAX_ROW)
        block++;
    c->dim = block == 1 ? 1 + d % MAX_DIM : block * (1 + d % (block < 256 ? 3 : 2));
    c->nbags = b % (MAX_BAGS + 1);
    c->threads = 1 + (f & 3);
    c->lengths = (f >> 2) & 1;
    c->last = !c->lengths && ((f >> 3) & 1);
    c->off64 = (f >> 4) & 1;
    c->weighted = (f >> 5) & 1 && (m % 3 == EMB_BAG_SUM || (x & 4)); /* now and then wrongly */
    c->padded = (f >> 6) & 1 ? 1 + (x >> 4 & 1) : 0;
    c->ids64 = (f >> 7) & 1;
    c->mode = m % 4 == 3 && (x & 8) ? 3 : m % 3; /* 3: not a mode */
    c->with_argmax = (m >> 4) & 1;
    c->coalesce = x & 1;
    /* Bags of 0 .. 7 tokens. */
    int64_t off = 0;
    for (int64_t i = 0; i < c->nbags; i++) {
        const int64_t len = next8(&r) % 8;
        c->bounds[i] = c->lengths ? len : off;
        off = off + len > MAX_N ? off : off + len;
        if (c->lengths && off == c->bounds[i] + 0 && len && off + 0 >= MAX_N)
            c->bounds[i] = 0;
    }
    if (c->lengths) { /* lengths must sum to n: recount */
        off = 0;
        for (int64_t i = 0; i < c->nbags; i++) {
            if (off + c->bounds[i] > MAX_N)
                c->bounds[i] = 0;
            off += c->bounds[i];
        }
    }
    c->bounds[c->nbags] = off;
    c->n = off;
    for (int64_t i = 0; i < MAX_N; i++)
        c->ids[i] = next8(&r) % c->vocab;
    for (int64_t i = 0; i < MAX_N; i++)
        c->weights[i] = no_nan(next32(&r));
    c->lr = (float)(next8(&r) % 17) / 64.0f;
    c->eps = (float)(next8(&r) % 5) * 1e-4f;
    /* One corruption at most: an offset or length, an id, lr or eps. */
    const uint8_t bad = next8(&r), where = next8(&r);
    switch (m >> 5) { /* 0 .. 4: none */
    case 5:
        if (c->nbags > 0)
            c->bounds[where % (c->nbags + (c->last ? 1 : 0))] += (int8_t)bad;
        break;
    case 6:
        if (c->n > 0)
            c->ids[where % c->n] = (bad & 1) ? -1 - bad : c->vocab + bad % 3;
        break;
    case 7:
        if (bad & 1)
            c->lr = (bad & 2) ? -c->lr - 1.0f : (bad & 4) ? NAN : INFINITY;
        else
            c->eps = -1.0f;
        break;
    default:
        break;
    }
    /* Buffers: raw bytes, NaN-free floats where they are summed. */
    buffers *B = &c->init;
    for (size_t i = 0; i < sizeof B->matrix; i++)
        B->matrix[i] = next8(&r);
    for (size_t i = 0; i < sizeof B->out; i++)
        B->out[i] = next8(&r);
    const int summed = c->mode != EMB_BAG_MAX || c->op != EMB_OP_BAG;
    if (summed) {
        /* Every 16-bit and 32-bit field made NaN-free: f16/bf16 elements,
         * the blocks' fp16 scales (each at an even offset, in blocks of an
         * even size), fp32 values, scales and biases. */
        const size_t es = c->in == EMB_F32 || c->in == EMB_Q8_ROWWISE ? 4 : 2;
        uint8_t *bufs[2] = {B->matrix, B->out};
        const size_t sizes[2] = {sizeof B->matrix, sizeof B->out};
        for (int k = 0; k < 2; k++) {
            const size_t e = k == 0 && c->op != EMB_OP_BAG_GRAD ? es
                             : k == 0                          ? 4
                             : is_step(c->op) || c->in == EMB_F32 ? 4
                                                                : 2;
            for (size_t i = 0; i + e <= sizes[k]; i += e) {
                if (e == 4) {
                    uint32_t u;
                    memcpy(&u, bufs[k] + i, 4);
                    const float fl = no_nan(u);
                    memcpy(bufs[k] + i, &fl, 4);
                } else {
                    uint16_t u;
                    memcpy(&u, bufs[k] + i, 2);
                    if ((u & 0x7f80u) == 0x7f80u || (u & 0x7c00u) == 0x7c00u)
                        u &= 0x83ffu; /* neither an f16 nor a bf16 NaN or Inf */
                    memcpy(bufs[k] + i, &u, 2);
                }
            }
        }
    }
    for (size_t i = 0; i < sizeof B->argmax / sizeof B->argmax[0]; i++)
        B->argmax[i] = (int64_t)(next8(&r) % (c->vocab + 1)) - 1;
    if (x & 2) /* now and then an argmax entry outside the vocabulary */
        B->argmax[next8(&r) % (MAX_BAGS * MAX_ROW)] = c->vocab + 1;
    for (int i = 0; i < MAX_VOCAB + 16; i++)
        B->h[i] = (float)(next8(&r) % 9) / 8.0f;
}

static void dump(const call *c, const char *impl, int threads, const char *what)
{
    fprintf(stderr,
            "fuzz_bag: %s under %s x%d\n  kernel %s (%s table), vocab %lld, dim %lld, "
            "nbags %lld, n %lld, "
            "%s%s (%s), mode %d, weights %d, padding %d, ids %s, argmax %d, lr %g, eps %g, "
            "coalesce %d\n  error: %s\n",
            what, impl, threads, emb_kernel_at(c->kernel)->name, emb_type_name(c->in),
            (long long)c->vocab,
            (long long)c->dim, (long long)c->nbags, (long long)c->n,
            c->lengths ? "lengths" : "offsets", c->last ? "+last" : "", c->off64 ? "i64" : "i32",
            c->mode, c->weighted, c->padded, c->ids64 ? "i64" : "i32", c->with_argmax,
            (double)c->lr, (double)c->eps, c->coalesce, emb_last_error());
    abort();
}

static emb_status run(buffers *b, const call *c)
{
    int32_t ids32[MAX_N], b32[MAX_BAGS + 1];
    for (int i = 0; i < MAX_N; i++)
        ids32[i] = (int32_t)c->ids[i];
    for (int i = 0; i <= MAX_BAGS; i++)
        b32[i] = (int32_t)c->bounds[i];
    const void *bounds = c->off64 ? (const void *)c->bounds : (const void *)b32;
    const emb_bags bags = {c->nbags, c->lengths ? NULL : bounds, c->lengths ? bounds : NULL,
                           c->off64 ? EMB_I64 : EMB_I32, c->last,
                           c->weighted ? c->weights : NULL,
                           !c->padded ? EMB_NO_PADDING
                           : c->padded == 2 ? c->ids[0] % c->vocab - c->vocab /* from the end */
                                            : c->ids[0] % c->vocab};
    const void *ids = c->ids64 ? (const void *)c->ids : (const void *)ids32;
    const emb_index it = c->ids64 ? EMB_I64 : EMB_I32;
    uint8_t *m = b->matrix + GUARD, *o = b->out + GUARD;
    switch (c->op) {
    case EMB_OP_BAG:
        return emb_bag(m, c->in, c->vocab, c->dim, ids, it, c->n, &bags, (emb_bag_mode)c->mode,
                       (float *)o, c->with_argmax ? b->argmax : NULL);
    case EMB_OP_BAG_GRAD:
        return emb_bag_grad((float *)m, c->vocab, c->dim, ids, it, c->n, &bags,
                            (emb_bag_mode)c->mode, b->argmax, o, c->in);
    default: {
        const emb_step st = {c->op == EMB_OP_BAG_ADAGRAD ? EMB_OPT_ROWWISE_ADAGRAD : EMB_OPT_SGD,
                             c->lr, c->eps, b->h, c->coalesce};
        return emb_bag_update(m, c->in, c->vocab, c->dim, ids, it, c->n, &bags,
                              (emb_bag_mode)c->mode, (const float *)o, &st);
    }
    }
}

static int select_run(const char *name, int threads)
{
    return emb_use_impl(name) == EMB_OK && emb_set_num_threads(threads) == EMB_OK;
}

static long ok_calls, failed_calls;

static void check(const call *c)
{
    static buffers scalar, b;
    static char scalar_error[320];
    if (!select_run("scalar", 1))
        abort();
    b = c->init;
    const emb_status st0 = run(&b, c);
    scalar = b;
    snprintf(scalar_error, sizeof scalar_error, "%s", emb_last_error());
    *(st0 == EMB_OK ? &ok_calls : &failed_calls) += 1;
    if (st0 != EMB_OK && memcmp(&b, &c->init, sizeof b) != 0)
        dump(c, "scalar", 1, "wrote after an error status");
    for (int k = 0; k < emb_impl_count(); k++) {
        if (!emb_impl_available(k))
            continue;
        const int counts[2] = {1, c->threads};
        for (int t = 0; t < 2; t++) {
            if (!select_run(emb_impl_name(k), counts[t]))
                abort();
            b = c->init;
            const emb_status st = run(&b, c);
            if (st != st0)
                dump(c, emb_impl_name(k), counts[t], "status differs from scalar");
            if (st != EMB_OK && strcmp(emb_last_error(), scalar_error) != 0)
                dump(c, emb_impl_name(k), counts[t], "error message differs from scalar");
            if (memcmp(&b, &scalar, sizeof b) != 0)
                dump(c, emb_impl_name(k), counts[t], "a buffer differs from scalar's");
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static call c;
    decode(data, size, &c);
    check(&c);
    return 0;
}

#ifdef FUZZ_BAG_STANDALONE
/* make check: generated inputs (a seed each), no libFuzzer needed. */
int main(int argc, char **argv)
{
    const long count = argc > 1 ? strtol(argv[1], NULL, 10) : 400;
    gen_rng r = gen_seed(0xF022BA6);
    uint8_t input[64];
    for (long i = 0; i < count; i++) {
        const size_t size = (size_t)gen_below(&r, sizeof input + 1);
        for (size_t k = 0; k < size; k++)
            input[k] = (uint8_t)gen_u64(&r);
        LLVMFuzzerTestOneInput(input, size);
    }
    printf("fuzz_bag: %ld generated inputs (%ld calls succeeded, %ld were rejected), every "
           "implementation and thread count equal to scalar\n", count, ok_calls, failed_calls);
    return 0;
}
#endif
