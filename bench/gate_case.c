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

const char *gate_impl_unavailable(const char *impl)
{
    for (int i = 0; i < emb_impl_count(); i++)
        if (strcmp(emb_impl_name(i), impl) == 0)
            return emb_impl_available(i) ? NULL : emb_impl_unavailable_reason(i);
    return "no implementation of that name in this build";
}
