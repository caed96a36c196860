/* grid.c - the vocab x dim x tokens x threads grid expanded into benchmark
 * cases, the memory budget and the one-hot work cap applied, and the cases
 * registered with Google Benchmark. */
#include "config.h"

#include "bench.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *bench_op_group(bench_op op)
{
    static const char *const names[BENCH_OP_COUNT] = {"lookup", "grad", "copy", "copy", "onehot"};
    return (unsigned)op < BENCH_OP_COUNT ? names[op] : "?";
}

const char *bench_op_title(bench_op op)
{
    static const char *const names[BENCH_OP_COUNT] = {"lookup", "grad", "memcpy", "stream",
                                                      "one-hot GEMM"};
    return (unsigned)op < BENCH_OP_COUNT ? names[op] : "?";
}

void bench_note(bench_notes *notes, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (notes->count == notes->cap) {
        const size_t cap = notes->cap ? 2 * notes->cap : 16;
        char **grown = realloc(notes->line, cap * sizeof *grown);
        if (grown == NULL)
            return; /* a lost note is not worth failing the run for */
        notes->line = grown;
        notes->cap = cap;
    }
    char *copy = malloc(strlen(buf) + 1);
    if (copy == NULL)
        return;
    strcpy(copy, buf);
    notes->line[notes->count++] = copy;
}

void bench_notes_free(bench_notes *notes)
{
    for (size_t i = 0; i < notes->count; i++)
        free(notes->line[i]);
    free(notes->line);
    memset(notes, 0, sizeof *notes);
}

bench_case *bench_plan_add(bench_plan *plan, const bench_config *cfg, bench_op op,
                           const char *impl, int64_t vocab, int64_t dim, int64_t tokens,
                           int threads, gen_ids_kind ids)
{
    if (plan->count == plan->cap) {
        const size_t cap = plan->cap ? 2 * plan->cap : 256;
        bench_case **grown = realloc(plan->cases, cap * sizeof *grown);
        if (grown == NULL)
            return NULL;
        plan->cases = grown;
        plan->cap = cap;
    }
    bench_case *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->cfg = cfg;
    c->op = op;
    snprintf(c->impl, sizeof c->impl, "%s", impl);
    c->vocab = vocab;
    c->dim = dim;
    c->tokens = tokens;
    c->threads = threads;
    c->ids = ids;
    if (op == BENCH_LOOKUP || op == BENCH_GRAD)
        snprintf(c->name, sizeof c->name, "%s/%s/V:%lld/D:%lld/N:%lld/T:%d/ids:%s",
                 bench_op_group(op), impl, (long long)vocab, (long long)dim, (long long)tokens,
                 threads, gen_ids_kind_name(ids));
    else
        snprintf(c->name, sizeof c->name, "%s/%s/V:%lld/D:%lld/N:%lld/T:%d", bench_op_group(op),
                 impl, (long long)vocab, (long long)dim, (long long)tokens, threads);
    plan->cases[plan->count++] = c;
    return c;
}

static double gib(size_t bytes) { return (double)bytes / (double)(1u << 30); }

/* The cases of one (vocab, dim, tokens) shape: references first, so each
 * kernel runs right after the copy it is compared with. */
static int add_shape(bench_plan *plan, const bench_config *cfg, const bench_grid *g,
                     int64_t v, int64_t d, int64_t n)
{
    const size_t need = bench_footprint(cfg, v, d, n, 0);
    if (need > cfg->budget_bytes) {
        bench_note(&plan->over_budget, "V=%lld D=%lld N=%lld needs %.2f GiB > budget %.2f GiB",
                   (long long)v, (long long)d, (long long)n, gib(need), gib(cfg->budget_bytes));
        return 0;
    }
    const double gflop = bench_onehot_gflop(v, d, n);
    const size_t need_onehot = bench_footprint(cfg, v, d, n, 1);
    int onehot = 1;
    if (gflop > cfg->onehot_max_gflop) {
        bench_note(&plan->onehot_capped, "V=%lld D=%lld N=%lld: %.1f GFLOP per call > cap %.1f",
                   (long long)v, (long long)d, (long long)n, gflop, cfg->onehot_max_gflop);
        onehot = 0;
    } else if (need_onehot > cfg->budget_bytes) {
        bench_note(&plan->onehot_capped, "V=%lld D=%lld N=%lld: one-hot matrix needs %.2f GiB > budget",
                   (long long)v, (long long)d, (long long)n, gib(need_onehot));
        onehot = 0;
    }
    for (size_t t = 0; t < g->n_threads; t++) {
        const int th = g->threads[t];
        if (!bench_plan_add(plan, cfg, BENCH_MEMCPY, "memcpy", v, d, n, th, GEN_IDS_UNIFORM))
            return -1;
        if (bench_stream_unsupported_reason() == NULL &&
            !bench_plan_add(plan, cfg, BENCH_STREAM, "stream", v, d, n, th, GEN_IDS_UNIFORM))
            return -1;
        if (onehot && !bench_plan_add(plan, cfg, BENCH_ONEHOT, "blas", v, d, n, th, GEN_IDS_UNIFORM))
            return -1;
        for (size_t k = 0; k < g->n_ids; k++)
            for (bench_op op = BENCH_LOOKUP; op <= BENCH_GRAD; op++)
                for (size_t i = 0; i < g->n_impls; i++)
                    if (!bench_plan_add(plan, cfg, op, g->impls[i], v, d, n, th, g->ids[k]))
                        return -1;
    }
    return 0;
}

int bench_plan_build(bench_plan *plan, const bench_config *cfg, const bench_grid *g)
{
    memset(plan, 0, sizeof *plan);
    for (size_t iv = 0; iv < g->n_vocab; iv++)
        for (size_t id = 0; id < g->n_dim; id++)
            for (size_t in = 0; in < g->n_tokens; in++)
                if (add_shape(plan, cfg, g, g->vocab[iv], g->dim[id], g->tokens[in]) != 0)
                    return -1;
    return 0;
}

static void body(gb_state *st, void *arg)
{
    const bench_case *c = arg;
    switch (c->op) {
    case BENCH_LOOKUP:
    case BENCH_GRAD: bench_kernel_body(st, c); break;
    case BENCH_MEMCPY:
    case BENCH_STREAM: bench_copy_body(st, c); break;
    case BENCH_ONEHOT: bench_onehot_body(st, c); break;
    case BENCH_OP_COUNT: gb_skip_with_error(st, "no such benchmark"); break;
    }
}

int bench_plan_register(const bench_plan *plan)
{
    for (size_t i = 0; i < plan->count; i++) {
        const bench_case *c = plan->cases[i];
        /* Wall-clock time throughout: the library's and OpenBLAS's worker
         * threads are invisible to the CPU timer. The copy is the one case
         * whose threads Google Benchmark starts itself. */
        gb_options opt = {0, 1};
        if ((c->op == BENCH_MEMCPY || c->op == BENCH_STREAM) && c->threads > 1)
            opt.threads = c->threads;
        if (gb_register(c->name, body, plan->cases[i], &opt) != 0)
            return -1;
    }
    return 0;
}

void bench_plan_free(bench_plan *plan)
{
    for (size_t i = 0; i < plan->count; i++)
        free(plan->cases[i]);
    free(plan->cases);
    bench_notes_free(&plan->over_budget);
    bench_notes_free(&plan->onehot_capped);
    memset(plan, 0, sizeof *plan);
}
