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
                           const char *impl, int kernel, emb_index idx, int64_t vocab,
                           int64_t dim, int64_t tokens, int threads, gen_ids_kind ids)
{
    const emb_kernel *K = emb_kernel_at(kernel);
    if (K == NULL)
        return NULL;
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
    c->kernel = kernel;
    c->in = K->in;
    c->out = K->out;
    snprintf(c->types, sizeof c->types, "%s->%s", emb_type_name(K->in), emb_type_name(K->out));
    c->idx = idx;
    c->vocab = vocab;
    c->dim = dim;
    c->tokens = tokens;
    c->threads = threads;
    c->ids = ids;
    /* Kernels: op/impl/types/shape/T/ids/idx; copies: the types whose bytes
     * they copy; the one-hot GEMM, fp32 only, as before types. */
    if (op == BENCH_LOOKUP || op == BENCH_GRAD)
        snprintf(c->name, sizeof c->name, "%s/%s/%s/V:%lld/D:%lld/N:%lld/T:%d/ids:%s/idx:%s",
                 bench_op_group(op), impl, c->types, (long long)vocab, (long long)dim,
                 (long long)tokens, threads, gen_ids_kind_name(ids), emb_index_name(idx));
    else if (op == BENCH_ONEHOT)
        snprintf(c->name, sizeof c->name, "%s/%s/V:%lld/D:%lld/N:%lld/T:%d", bench_op_group(op),
                 impl, (long long)vocab, (long long)dim, (long long)tokens, threads);
    else
        snprintf(c->name, sizeof c->name, "%s/%s/%s/V:%lld/D:%lld/N:%lld/T:%d",
                 bench_op_group(op), impl, c->types, (long long)vocab, (long long)dim,
                 (long long)tokens, threads);
    plan->cases[plan->count++] = c;
    return c;
}

static double gib(size_t bytes) { return (double)bytes / (double)(1u << 30); }

/* A note that is the same for every shape, kept once. */
static void note_once(bench_notes *notes, const char *fmt, const char *a, const char *b,
                      const char *c)
{
    char line[256];
    snprintf(line, sizeof line, fmt, a, b, c);
    for (size_t i = 0; i < notes->count; i++)
        if (strcmp(notes->line[i], line) == 0)
            return;
    bench_note(notes, "%s", line);
}

static unsigned types_mask(const bench_grid *g)
{
    unsigned m = 0;
    for (size_t t = 0; t < g->n_types; t++)
        m |= 1u << g->types[t];
    return m;
}

/* The index of implementation `name` in the library's table, or -1. */
static int impl_index(const char *name)
{
    for (int i = 0; i < emb_impl_count(); i++)
        if (strcmp(emb_impl_name(i), name) == 0)
            return i;
    return -1;
}

/* The kernels of one table type at one shape, each after the copies it is
 * compared with: for every lookup kernel of the type a memcpy (and stream)
 * of its bytes, then the kernels (lookups, then grads) per id distribution,
 * kernel, id type and implementation. A kernel that an implementation runs
 * with another implementation's code at these rows (emb_kernel_impl_for_dim)
 * is timed once, under its own. */
static int add_type(bench_plan *plan, const bench_config *cfg, const bench_grid *g, emb_type t,
                    int64_t v, int64_t d, int64_t n, int th, int onehot)
{
    int kernels[64], nk = 0;
    for (int k = 0; k < emb_kernel_count() && nk < 64; k++)
        if (emb_kernel_at(k)->in == t &&
            (emb_kernel_at(k)->op == EMB_OP_LOOKUP || emb_kernel_at(k)->op == EMB_OP_GRAD))
            kernels[nk++] = k;
    for (int i = 0; i < nk; i++) {
        const int k = kernels[i];
        if (emb_kernel_at(k)->op != EMB_OP_LOOKUP)
            continue;
        if (!bench_plan_add(plan, cfg, BENCH_MEMCPY, "memcpy", k, EMB_I32, v, d, n, th,
                            GEN_IDS_UNIFORM))
            return -1;
        if (bench_stream_unsupported_reason() == NULL &&
            !bench_plan_add(plan, cfg, BENCH_STREAM, "stream", k, EMB_I32, v, d, n, th,
                            GEN_IDS_UNIFORM))
            return -1;
    }
    const int f32 = bench_kernel_find(EMB_OP_LOOKUP, EMB_F32, EMB_F32);
    if (t == EMB_F32 && onehot && f32 >= 0 &&
        !bench_plan_add(plan, cfg, BENCH_ONEHOT, "blas", f32, EMB_I32, v, d, n, th, GEN_IDS_UNIFORM))
        return -1;
    for (size_t ids = 0; ids < g->n_ids; ids++)
        for (int i = 0; i < nk; i++) {
            const emb_kernel *K = emb_kernel_at(kernels[i]);
            const bench_op op = K->op == EMB_OP_LOOKUP ? BENCH_LOOKUP : BENCH_GRAD;
            for (size_t x = 0; x < g->n_idx; x++)
                for (size_t m = 0; m < g->n_impls; m++) {
                    const char *runs =
                        emb_kernel_impl_for_dim(kernels[i], impl_index(g->impls[m]), d);
                    if (runs != NULL && strcmp(runs, g->impls[m]) != 0) {
                        note_once(&plan->code_shared, "%s under %s runs %s's code: not timed "
                                  "twice", K->name, g->impls[m], runs);
                        continue;
                    }
                    if (!bench_plan_add(plan, cfg, op, g->impls[m], kernels[i], g->idx[x], v, d,
                                        n, th, g->ids[ids]))
                        return -1;
                }
        }
    return 0;
}

/* The cases of one (vocab, dim, tokens) shape, grouped by table type so
 * each type's table is built once per shape. */
static int add_shape(bench_plan *plan, const bench_config *cfg, const bench_grid *g,
                     int64_t v, int64_t d, int64_t n)
{
    const unsigned mask = types_mask(g);
    const size_t need = bench_footprint(cfg, v, d, n, mask, 0);
    if (need > cfg->budget_bytes) {
        bench_note(&plan->over_budget, "V=%lld D=%lld N=%lld needs %.2f GiB > budget %.2f GiB",
                   (long long)v, (long long)d, (long long)n, gib(need), gib(cfg->budget_bytes));
        return 0;
    }
    const double gflop = bench_onehot_gflop(v, d, n);
    const size_t need_onehot = bench_footprint(cfg, v, d, n, mask, 1);
    int onehot = (mask & (1u << EMB_F32)) != 0;
    if (!onehot) {
        /* one-hot x fp32 table: only with the f32 kernels */
    } else if (gflop > cfg->onehot_max_gflop) {
        bench_note(&plan->onehot_capped, "V=%lld D=%lld N=%lld: %.1f GFLOP per call > cap %.1f",
                   (long long)v, (long long)d, (long long)n, gflop, cfg->onehot_max_gflop);
        onehot = 0;
    } else if (need_onehot > cfg->budget_bytes) {
        bench_note(&plan->onehot_capped, "V=%lld D=%lld N=%lld: one-hot matrix needs %.2f GiB > budget",
                   (long long)v, (long long)d, (long long)n, gib(need_onehot));
        onehot = 0;
    }
    for (size_t t = 0; t < g->n_types; t++) {
        const emb_type type = g->types[t];
        if (emb_row_bytes(type, d) == 0) {
            /* The block: the smallest dim the type accepts. */
            int block = 1;
            while (block < 4096 && emb_row_bytes(type, block) == 0)
                block++;
            char dim[32], blk[32];
            snprintf(dim, sizeof dim, "%lld", (long long)d);
            snprintf(blk, sizeof blk, "%d", block);
            note_once(&plan->type_skipped, "%s at D=%s: its rows are whole blocks of %s "
                      "elements", emb_type_name(type), dim, blk);
            continue;
        }
        for (size_t th = 0; th < g->n_threads; th++)
            if (add_type(plan, cfg, g, type, v, d, n, g->threads[th], onehot) != 0)
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
    bench_notes_free(&plan->type_skipped);
    bench_notes_free(&plan->code_shared);
    memset(plan, 0, sizeof *plan);
}
