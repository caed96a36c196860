/* gate_case.c - parsing and naming the regression gate's cases, and the one
 * list of them. */
#include "config.h"

#include "gate_case.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "embsimd.h"

/* The kernel of operation op ("lookup", "grad") from "in->out" (NULL: the
 * f32 one), or -1. */
static int find_kernel(const char *op, const char *types)
{
    char name[64];
    snprintf(name, sizeof name, "%s/%s", op, types != NULL ? types : "f32->f32");
    for (int k = 0; k < emb_kernel_count(); k++)
        if (strcmp(emb_kernel_at(k)->name, name) == 0)
            return k;
    return -1;
}

int gate_case_parse(const char *prog, const char *text, gate_case *out)
{
    char op[16], impl[32], types[32], tail;
    long long v, d, n;
    memset(out, 0, sizeof *out);
    /* The types, when present, are the third component, before "V:". */
    const char *first = strchr(text, '/');
    const char *second = first != NULL ? strchr(first + 1, '/') : NULL;
    const int typed = second != NULL && strncmp(second + 1, "V:", 2) != 0;
    int got;
    /* %c after the last number catches trailing text. */
    if (typed)
        got = sscanf(text, "%15[a-z]/%31[a-z0-9_]/%31[a-zA-Z0-9_>-]/V:%lld/D:%lld/N:%lld%c", op,
                     impl, types, &v, &d, &n, &tail) - 1;
    else
        got = sscanf(text, "%15[a-z]/%31[a-z0-9_]/V:%lld/D:%lld/N:%lld%c", op, impl, &v, &d, &n,
                     &tail);
    if (got != 5) {
        fprintf(stderr, "%s: case \"%s\" is not lookup|grad/<impl>[/<in>-><out>]/V:<vocab>/"
                        "D:<dim>/N:<tokens>\n", prog, text);
        return -1;
    }
    if (strcmp(op, "lookup") != 0 && strcmp(op, "grad") != 0) {
        fprintf(stderr, "%s: case \"%s\": operation \"%s\" is neither lookup nor grad\n", prog,
                text, op);
        return -1;
    }
    if (strlen(impl) >= sizeof out->impl) {
        fprintf(stderr, "%s: case \"%s\": implementation name \"%s\" is too long\n", prog, text,
                impl);
        return -1;
    }
    const int k = find_kernel(op, typed ? types : NULL);
    if (k < 0) {
        fprintf(stderr, "%s: case \"%s\": the library has no kernel %s/%s\n", prog, text, op,
                typed ? types : "f32->f32");
        return -1;
    }
    /* ids are int32: a larger vocabulary could not be indexed. */
    if (v <= 0 || v > INT32_MAX || d <= 0 || n <= 0) {
        fprintf(stderr, "%s: case \"%s\": V must be in [1, %" PRId32 "], D and N positive\n",
                prog, text, INT32_MAX);
        return -1;
    }
    if (emb_row_bytes(emb_kernel_at(k)->in, d) == 0) {
        fprintf(stderr, "%s: case \"%s\": D = %lld is not valid for %s rows\n", prog, text, d,
                emb_type_name(emb_kernel_at(k)->in));
        return -1;
    }
    out->grad = op[0] == 'g';
    out->kernel = k;
    memcpy(out->impl, impl, strlen(impl) + 1); /* length checked above */
    out->vocab = v;
    out->dim = d;
    out->tokens = n;
    return 0;
}

int gate_case_is_f32(const gate_case *c)
{
    const emb_kernel *K = emb_kernel_at(c->kernel);
    return K != NULL && K->in == EMB_F32 && K->out == EMB_F32;
}

void gate_case_name(const gate_case *c, char *buf, size_t size)
{
    const emb_kernel *K = emb_kernel_at(c->kernel);
    if (K == NULL || gate_case_is_f32(c))
        snprintf(buf, size, "%s/%s/V:%lld/D:%lld/N:%lld", c->grad ? "grad" : "lookup", c->impl,
                 (long long)c->vocab, (long long)c->dim, (long long)c->tokens);
    else /* "lookup/bf16->f32" -> "lookup/<impl>/bf16->f32/..." */
        snprintf(buf, size, "%s/%s/%s/V:%lld/D:%lld/N:%lld", c->grad ? "grad" : "lookup",
                 c->impl, strchr(K->name, '/') + 1, (long long)c->vocab, (long long)c->dim,
                 (long long)c->tokens);
}

/* typed: which kernels besides f32's a shape measures. CONVERTING: the
 * lookups that widen or dequantize, on every implementation but scalar:
 * the row primitives that are their own. Their scalar versions, the 16-bit
 * bit copies (f32's copy primitive) and the typed gradients (f32's add
 * loop around the lookups' widening) are counted, not timed: timing each
 * costs 6 runs per shape and process, and the gate's run time would pass
 * 3 minutes. */
enum { F32_ONLY, CONVERTING, ALL_TYPES, UNCOVERED_TYPES };

typedef struct gate_shape {
    int64_t vocab, dim, tokens;
    int typed;
    const char *why;
} gate_shape;

/* One thread, uniform ids from the suite's fixed seed. The other types'
 * kernels on one cache-resident and one DRAM shape: their row primitives
 * differ from f32's, the loops around them are the same. */
static const gate_shape timed_shapes[] = {
    {1000, 64, 512, CONVERTING,
     "cache-resident (fits L2), small D: per-call overhead and validation show"},
    {50257, 768, 512, CONVERTING, "GPT-2 table from DRAM, small output: software prefetch shows"},
    {50257, 768, 8192, F32_ONLY,
     "GPT-2 table and a 25 MiB output: prefetch and streaming stores show"},
    {16384, 4096, 1024, F32_ONLY, "16 KiB rows of a 256 MiB table: the long-row paths show"},
};

/* Tables far below any cache, so no size threshold of the library (prefetch,
 * streaming) depends on the machine; D = 67 exercises the vector tails. */
static const gate_shape counted_shapes[] = {
    {1000, 64, 512, ALL_TYPES, "cache-resident, vector body only"},
    /* the k-quants' rows are whole 256-element super-blocks */
    {1000, 256, 128, UNCOVERED_TYPES, "cache-resident, types of wide blocks"},
    {1000, 67, 256, F32_ONLY, "cache-resident, vector tails"},
    {1000, 768, 64, F32_ONLY, "cache-resident, long rows"},
};

/* callgrind executes code through valgrind's own CPU, which decodes
 * instructions up to AVX2 and none of AVX-512: such a case would die with
 * SIGILL instead of being counted. */
static const char *icount_unavailable(const char *impl)
{
    return strncmp(impl, "avx512", 6) == 0 ? "valgrind cannot execute AVX-512" : NULL;
}

/* Why implementation i cannot be measured on kernel k here, or NULL. A
 * kernel an implementation runs with another's code (emb_kernel_impl) is
 * that other implementation's case. */
static const char *kernel_unavailable(int k, int i, char *buf, size_t size)
{
    if (!emb_impl_available(i))
        return emb_impl_unavailable_reason(i);
    const char *runs = emb_kernel_impl(k, i);
    if (runs != NULL && strcmp(runs, emb_impl_name(i)) != 0) {
        snprintf(buf, size, "runs %s's code here", runs);
        return buf;
    }
    return NULL;
}

static void shape_kernel(const gate_shape *s, gate_part part, int k, gate_case_fn fn, void *arg)
{
    char buf[96];
    const emb_kernel *K = emb_kernel_at(k);
    const int f32 = K->in == EMB_F32 && K->out == EMB_F32;
    const int converting = K->op == EMB_OP_LOOKUP && K->in != K->out;
    for (int i = 0; i < emb_impl_count(); i++) {
        if (s->typed == CONVERTING && !f32 &&
            (!converting || strcmp(emb_impl_name(i), "scalar") == 0))
            continue;
        gate_case c = {emb_kernel_at(k)->op == EMB_OP_GRAD, k, "", s->vocab, s->dim, s->tokens};
        snprintf(c.impl, sizeof c.impl, "%s", emb_impl_name(i));
        const char *why = kernel_unavailable(k, i, buf, sizeof buf);
        if (why == NULL && part == GATE_ICOUNT)
            why = icount_unavailable(c.impl);
        fn(&c, why, s->why, arg);
    }
}

/* Whether an ALL_TYPES shape before shapes[s] takes rows of type t. */
static int covered_before(const gate_shape *shapes, size_t s, emb_type t)
{
    for (size_t e = 0; e < s; e++)
        if (shapes[e].typed == ALL_TYPES && emb_row_bytes(t, shapes[e].dim) != 0)
            return 1;
    return 0;
}

void gate_for_each_case(gate_part part, gate_case_fn fn, void *arg)
{
    const gate_shape *shapes = part == GATE_TIMED ? timed_shapes : counted_shapes;
    const size_t nshapes = part == GATE_TIMED ? sizeof timed_shapes / sizeof *timed_shapes
                                              : sizeof counted_shapes / sizeof *counted_shapes;
    for (size_t s = 0; s < nshapes; s++) {
        /* f32 first, in the order the gate had before types */
        const int uncovered = shapes[s].typed == UNCOVERED_TYPES;
        for (int grad = 0; grad <= 1 && !uncovered; grad++)
            shape_kernel(&shapes[s], part, find_kernel(grad ? "grad" : "lookup", NULL), fn, arg);
        if (shapes[s].typed == F32_ONLY)
            continue;
        for (int k = 0; k < emb_kernel_count(); k++) {
            const emb_kernel *K = emb_kernel_at(k);
            if ((K->op != EMB_OP_LOOKUP && K->op != EMB_OP_GRAD) ||
                (K->in == EMB_F32 && K->out == EMB_F32) || emb_row_bytes(K->in, shapes[s].dim) == 0 ||
                (uncovered && covered_before(shapes, (size_t)s, K->in)))
                continue;
            shape_kernel(&shapes[s], part, k, fn, arg);
        }
    }
}

static void print_case(const gate_case *c, const char *unavailable, const char *why, void *arg)
{
    int *unparsable = arg;
    char name[160];
    gate_case_name(c, name, sizeof name);
    /* Each name goes back to the drivers as --case=NAME: one they would
     * refuse (a type name the parser's character set lacks) must fail the
     * list here, not the gate's run after minutes of building. */
    gate_case back;
    if (gate_case_parse("gate --list", name, &back) != 0 || back.kernel != c->kernel ||
        back.grad != c->grad || strcmp(back.impl, c->impl) != 0 || back.vocab != c->vocab ||
        back.dim != c->dim || back.tokens != c->tokens) {
        fprintf(stderr, "gate --list: case %s does not parse back to itself\n", name);
        (*unparsable)++;
    }
    if (unavailable != NULL)
        printf("unavailable %s\t%s\n", name, unavailable);
    else
        printf("case %s\t%s\n", name, why);
}

int gate_print_cases(gate_part part)
{
    int unparsable = 0;
    gate_for_each_case(part, print_case, &unparsable);
    fflush(stdout);
    return unparsable == 0 ? 0 : -1;
}

const char *gate_impl_unavailable(const char *impl)
{
    for (int i = 0; i < emb_impl_count(); i++)
        if (strcmp(emb_impl_name(i), impl) == 0)
            return emb_impl_available(i) ? NULL : emb_impl_unavailable_reason(i);
    return "no implementation of that name in this build";
}
