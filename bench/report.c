/* report.c - results/latest.md: the run's context, one row per shape and
 * implementation with the same-run ratios, and what was left out. */
#include "config.h"

#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static void ratio(FILE *f, double x)
{
    if (isnan(x))
        fputs(" – |", f);
    else
        fprintf(f, " %.2f |", x);
}

static void empty_cells(FILE *f, int n)
{
    for (int i = 0; i < n; i++)
        fputs(" – |", f);
    fputs("\n", f);
}

static void context_row(FILE *f, const bench_context *ctx, const char *label, const char *key)
{
    const char *v = bench_context_get(ctx, key);
    if (v[0] != '\0')
        fprintf(f, "| %s | %s |\n", label, v);
}

static void header(FILE *f, const bench_report *rep)
{
    const bench_context *ctx = rep->ctx;
    fputs("# embsimd benchmarks: the latest run\n\n", f);
    fputs("Written by `make bench` (`bench/embsimd-bench`); regenerated on every run.", f);
    if (rep->json_path != NULL)
        fprintf(f, " Every figure below, with all repetitions, is in `%s`"
                   " (Google Benchmark JSON).", rep->json_path);
    fputs("\n\n| context | |\n| --- | --- |\n", f);
    context_row(f, ctx, "date", "run_date");
    context_row(f, ctx, "host", "run_host");
    context_row(f, ctx, "CPU", "cpu_model");
    context_row(f, ctx, "SIMD flags", "cpu_simd_flags");
    context_row(f, ctx, "last-level cache", "llc");
    context_row(f, ctx, "huge pages", "transparent_hugepages");
    context_row(f, ctx, "compiler", "compiler");
    context_row(f, ctx, "compiler flags", "compiler_flags");
    context_row(f, ctx, "configure", "configure_options");
    context_row(f, ctx, "embsimd", "embsimd_version");
    context_row(f, ctx, "git revision", "git_revision");
    context_row(f, ctx, "implementations", "implementations");
    context_row(f, ctx, "threads", "threads");
    context_row(f, ctx, "schedule", "schedule");
    context_row(f, ctx, "ids", "id_distributions");
    context_row(f, ctx, "id types", "id_types");
    context_row(f, ctx, "table types", "types");
    context_row(f, ctx, "kernels", "kernels");
    context_row(f, ctx, "seed", "seed");
    context_row(f, ctx, "grid", "grid");
    context_row(f, ctx, "timing", "timing");
    context_row(f, ctx, "load", "load_average");
    context_row(f, ctx, "reruns", "reruns");
    fputs("\n", f);
    fputs("How to read it: **kernel** is the table's (grad: dY's) type and the output's; "
          "**idx** the ids' type. **GB/s** is 10⁹ bytes per second by the byte count of "
          "docs/benchmarks.md (lookup: reading N table rows and writing N output rows once each, in their "
          "own types' bytes, N·D·4 each for f32; grad: reading dY plus reading and writing "
          "each distinct touched fp32 row). **×memcpy** / **×stream** divide it by the "
          "same-run copy of the same bytes, shape and thread count (plain `memcpy` / "
          "non-temporal stores; grad: the copy of its dY type's lookup to f32), **×scalar** is "
          "the speed-up over the scalar implementation of the same kernel, **×one-hot** "
          "the one-hot GEMM's time over the lookup's. **data** says where the data lives while "
          "the call repeats: `LLC` (table and rows fit the last-level cache: warm), "
          "`DRAM:rows` (the table fits, the rows do not), `DRAM:table` (the table is larger "
          "than the cache: cold, except the hot rows of Zipf ids). **cv** is the spread of the "
          "repetitions (standard deviation over mean). Medians throughout.\n\n",
          f);
}

static void kernel_section(FILE *f, const bench_report *rep, bench_op op)
{
    const int lookup = op == BENCH_LOOKUP;
    fprintf(f, "## %s\n\n", bench_op_title(op));
    fprintf(f, "| V | D | N | T | ids | idx | kernel | data | impl | GB/s | Mtok/s | ×memcpy | ×stream | ×scalar |%s cv %% |\n",
            lookup ? " ×one-hot |" : "");
    fprintf(f, "| --: | --: | --: | --: | --- | --- | --- | --- | --- | --: | --: | --: | --: | --: |%s --: |\n",
            lookup ? " --: |" : "");
    size_t rows = 0;
    for (size_t i = 0; i < rep->res->count; i++) {
        const bench_result *r = &rep->res->r[i];
        const bench_case *c = r->c;
        if (c->op != op || r->runs == 0)
            continue;
        rows++;
        fprintf(f, "| %lld | %lld | %lld | %d | %s | %s | %s | %s | %s |", (long long)c->vocab,
                (long long)c->dim, (long long)c->tokens, c->threads, gen_ids_kind_name(c->ids),
                emb_index_name(c->idx), c->types, bench_residency(c), c->impl);
        if (r->error) {
            fprintf(f, " error: %s |", r->error_message);
            empty_cells(f, lookup ? 6 : 5);
            continue;
        }
        fprintf(f, " %.2f | %.1f |", r->bytes_per_second * 1e-9, r->items_per_second * 1e-6);
        ratio(f, bench_ratio_to(rep->res, r, BENCH_MEMCPY));
        ratio(f, bench_ratio_to(rep->res, r, BENCH_STREAM));
        ratio(f, bench_ratio_scalar(rep->res, r));
        if (lookup)
            ratio(f, bench_ratio_to(rep->res, r, BENCH_ONEHOT));
        fprintf(f, " %.1f |\n", 100.0 * r->cv);
    }
    if (rows == 0)
        fputs("| (none run) |\n", f);
    fputs("\n", f);
}

static void reference_section(FILE *f, const bench_report *rep)
{
    fputs("## references: the copy roofline and the one-hot GEMM\n\n", f);
    fputs("| V | D | N | T | data | what | bytes of | GB/s | time µs | GFLOP/s | cv % |\n", f);
    fputs("| --: | --: | --: | --: | --- | --- | --- | --: | --: | --: | --: |\n", f);
    for (size_t i = 0; i < rep->res->count; i++) {
        const bench_result *r = &rep->res->r[i];
        const bench_case *c = r->c;
        if ((c->op != BENCH_MEMCPY && c->op != BENCH_STREAM && c->op != BENCH_ONEHOT) ||
            r->runs == 0)
            continue;
        fprintf(f, "| %lld | %lld | %lld | %d | %s | %s | %s |", (long long)c->vocab,
                (long long)c->dim, (long long)c->tokens, c->threads, bench_residency(c),
                bench_op_title(c->op), c->types);
        if (r->error) {
            fprintf(f, " error: %s |", r->error_message);
            empty_cells(f, 3);
            continue;
        }
        fprintf(f, " %.2f | %.1f |", r->bytes_per_second * 1e-9, r->real_ns * 1e-3);
        if (c->op == BENCH_ONEHOT)
            fprintf(f, " %.1f |", bench_onehot_gflop(c->vocab, c->dim, c->tokens) / (r->real_ns * 1e-9));
        else
            fputs(" – |", f);
        fprintf(f, " %.1f |\n", 100.0 * r->cv);
    }
    fputs("\n", f);
}

static void notes(FILE *f, const char *title, const bench_notes *n)
{
    if (n->count == 0)
        return;
    fprintf(f, "%s:\n\n", title);
    for (size_t i = 0; i < n->count; i++)
        fprintf(f, "- %s\n", n->line[i]);
    fputs("\n", f);
}

static void left_out(FILE *f, const bench_report *rep)
{
    fputs("## left out\n\n", f);
    notes(f, "Not available on this machine or build", rep->left_out);
    notes(f, "Shapes over the memory budget (not run)", &rep->plan->over_budget);
    notes(f, "One-hot GEMM not run for these shapes", &rep->plan->onehot_capped);
    notes(f, "Table types not run at these dims", &rep->plan->type_skipped);
    notes(f, "Kernels an implementation runs with another's code", &rep->plan->code_shared);
    size_t errors = 0, not_run = 0;
    for (size_t i = 0; i < rep->res->count; i++) {
        errors += rep->res->r[i].error;
        not_run += rep->res->r[i].runs == 0;
    }
    if (not_run > 0)
        fprintf(f, "%zu registered benchmarks were not selected by the filter.\n\n", not_run);
    if (errors > 0)
        fprintf(f, "%zu benchmarks failed; their rows say why.\n\n", errors);
    if (rep->left_out->count + rep->plan->over_budget.count + rep->plan->onehot_capped.count +
            rep->plan->type_skipped.count + rep->plan->code_shared.count + not_run + errors == 0)
        fputs("Nothing.\n", f);
}

int bench_write_markdown(const bench_report *rep, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    header(f, rep);
    kernel_section(f, rep, BENCH_LOOKUP);
    kernel_section(f, rep, BENCH_GRAD);
    reference_section(f, rep);
    left_out(f, rep);
    const int failed = ferror(f);
    if (fclose(f) != 0 || failed) {
        if (errno == 0)
            errno = EIO;
        return -1;
    }
    return 0;
}
