/* gate_case.c - parsing and naming the regression gate's cases. */
#include "config.h"

#include "gate_case.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "embsimd.h"

int gate_case_parse(const char *prog, const char *text, gate_case *out)
{
    char op[16], impl[32], tail;
    long long v, d, n;
    memset(out, 0, sizeof *out);
    /* %c after the last number catches trailing text. */
    const int got = sscanf(text, "%15[a-z]/%31[a-z0-9_]/V:%lld/D:%lld/N:%lld%c", op, impl, &v,
                           &d, &n, &tail);
    if (got != 5) {
        fprintf(stderr, "%s: case \"%s\" is not lookup|grad/<impl>/V:<vocab>/D:<dim>/N:<tokens>\n",
                prog, text);
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
    /* ids are int32: a larger vocabulary could not be indexed. */
    if (v <= 0 || v > INT32_MAX || d <= 0 || n <= 0) {
        fprintf(stderr, "%s: case \"%s\": V must be in [1, %" PRId32 "], D and N positive\n",
                prog, text, INT32_MAX);
        return -1;
    }
    out->grad = op[0] == 'g';
    memcpy(out->impl, impl, strlen(impl) + 1); /* length checked above */
    out->vocab = v;
    out->dim = d;
    out->tokens = n;
    return 0;
}

void gate_case_name(const gate_case *c, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s/V:%lld/D:%lld/N:%lld", c->grad ? "grad" : "lookup", c->impl,
             (long long)c->vocab, (long long)c->dim, (long long)c->tokens);
}

typedef struct gate_shape {
    int64_t vocab, dim, tokens;
    const char *why;
} gate_shape;

/* One thread, uniform ids from the suite's fixed seed. */
static const gate_shape timed_shapes[] = {
    {1000, 64, 512, "cache-resident (fits L2), small D: per-call overhead and validation show"},
    {50257, 768, 512, "GPT-2 table from DRAM, small output: software prefetch shows"},
    {50257, 768, 8192, "GPT-2 table and a 25 MiB output: prefetch and streaming stores show"},
    {16384, 4096, 1024, "16 KiB rows of a 256 MiB table: the long-row paths show"},
};

/* Tables far below any cache, so no size threshold of the library (prefetch,
 * streaming) depends on the machine; D = 67 exercises the vector tails. */
static const gate_shape counted_shapes[] = {
    {1000, 64, 512, "cache-resident, vector body only"},
    {1000, 67, 256, "cache-resident, vector tails"},
    {1000, 768, 64, "cache-resident, long rows"},
};

/* callgrind executes code through valgrind's own CPU, which decodes
 * instructions up to AVX2 and none of AVX-512: such a case would die with
 * SIGILL instead of being counted. */
static const char *icount_unavailable(const char *impl)
{
    return strncmp(impl, "avx512", 6) == 0 ? "valgrind cannot execute AVX-512" : NULL;
}

void gate_for_each_case(gate_part part, gate_case_fn fn, void *arg)
{
    const gate_shape *shapes = part == GATE_TIMED ? timed_shapes : counted_shapes;
    const size_t nshapes = part == GATE_TIMED ? sizeof timed_shapes / sizeof *timed_shapes
                                              : sizeof counted_shapes / sizeof *counted_shapes;
    for (size_t s = 0; s < nshapes; s++)
        for (int grad = 0; grad <= 1; grad++)
            for (int i = 0; i < emb_impl_count(); i++) {
                gate_case c = {grad, "", shapes[s].vocab, shapes[s].dim, shapes[s].tokens};
                snprintf(c.impl, sizeof c.impl, "%s", emb_impl_name(i));
                const char *why = emb_impl_available(i) ? NULL : emb_impl_unavailable_reason(i);
                if (why == NULL && part == GATE_ICOUNT)
                    why = icount_unavailable(c.impl);
                fn(&c, why, shapes[s].why, arg);
            }
}

static void print_case(const gate_case *c, const char *unavailable, const char *why, void *arg)
{
    (void)arg;
    char name[160];
    gate_case_name(c, name, sizeof name);
    if (unavailable != NULL)
        printf("unavailable %s\t%s\n", name, unavailable);
    else
        printf("case %s\t%s\n", name, why);
}

void gate_print_cases(gate_part part)
{
    gate_for_each_case(part, print_case, NULL);
    fflush(stdout);
}

const char *gate_impl_unavailable(const char *impl)
{
    for (int i = 0; i < emb_impl_count(); i++)
        if (strcmp(emb_impl_name(i), impl) == 0)
            return emb_impl_available(i) ? NULL : emb_impl_unavailable_reason(i);
    return "no implementation of that name in this build";
}
