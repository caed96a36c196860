/* collect.c - the per-case medians of a run, gathered from the runs Google
 * Benchmark reports, and the same-run ratios computed from them. */
#include "config.h"

#include "collect.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct samples {
    double *real, *cpu, *bps, *ips;
    size_t n, cap;
    int have_median, have_cv;
    double median_real, median_cpu, median_bps, median_ips, cv;
} samples;

typedef struct collector {
    const bench_plan *plan;
    size_t *by_name; /* case indices sorted by name, for bsearch */
    samples *s;
    bench_results *out;
    int oom;
} collector;

static const bench_plan *sort_plan; /* qsort has no context argument */

static int cmp_index(const void *a, const void *b)
{
    const size_t i = *(const size_t *)a, j = *(const size_t *)b;
    return strcmp(sort_plan->cases[i]->name, sort_plan->cases[j]->name);
}

static long find_case(const collector *col, const char *family)
{
    size_t lo = 0, hi = col->plan->count;
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        const int c = strcmp(col->plan->cases[col->by_name[mid]]->name, family);
        if (c == 0)
            return (long)col->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static double counter(const gb_report *run, const char *name)
{
    for (size_t i = 0; i < run->counter_count; i++)
        if (strcmp(run->counter_names[i], name) == 0)
            return run->counter_values[i];
    return NAN;
}

static int append(samples *s, const gb_report *run)
{
    if (s->n == s->cap) {
        const size_t cap = s->cap ? 2 * s->cap : 8;
        double *r = realloc(s->real, cap * sizeof *r);
        if (r == NULL)
            return -1;
        s->real = r;
        double *c = realloc(s->cpu, cap * sizeof *c);
        if (c == NULL)
            return -1;
        s->cpu = c;
        double *b = realloc(s->bps, cap * sizeof *b);
        if (b == NULL)
            return -1;
        s->bps = b;
        double *i = realloc(s->ips, cap * sizeof *i);
        if (i == NULL)
            return -1;
        s->ips = i;
        s->cap = cap;
    }
    s->real[s->n] = run->real_ns;
    s->cpu[s->n] = run->cpu_ns;
    s->bps[s->n] = counter(run, "bytes_per_second");
    s->ips[s->n] = counter(run, "items_per_second");
    s->n++;
    return 0;
}

static void on_run(const gb_report *run, void *ctx)
{
    collector *col = ctx;
    const long k = find_case(col, run->family);
    if (k < 0)
        return; /* registered by someone else: not ours to report */
    bench_result *r = &col->out->r[k];
    samples *s = &col->s[k];
    if (run->error) {
        r->error = 1;
        strncpy(r->error_message, run->error_message, sizeof r->error_message - 1);
        return;
    }
    if (run->aggregate[0] == '\0') {
        if (append(s, run) != 0)
            col->oom = 1;
    } else if (strcmp(run->aggregate, "median") == 0) {
        s->have_median = 1;
        s->median_real = run->real_ns;
        s->median_cpu = run->cpu_ns;
        s->median_bps = counter(run, "bytes_per_second");
        s->median_ips = counter(run, "items_per_second");
    } else if (strcmp(run->aggregate, "cv") == 0 && run->aggregate_is_percentage) {
        s->have_cv = 1;
        s->cv = run->real_ns;
    }
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v in place. The mean of the middle two for an even count, as
 * Google Benchmark's own median does. */
static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double coefficient_of_variation(const double *v, size_t n)
{
    if (n < 2)
        return 0.0;
    double mean = 0.0, ss = 0.0;
    for (size_t i = 0; i < n; i++)
        mean += v[i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++)
        ss += (v[i] - mean) * (v[i] - mean);
    return mean > 0.0 ? sqrt(ss / (double)(n - 1)) / mean : 0.0;
}

static void finish(bench_result *r, samples *s)
{
    if (s->n > 0) {
        r->runs = (int)s->n;
        r->cv = coefficient_of_variation(s->real, s->n);
        r->real_ns = median(s->real, s->n);
        r->cpu_ns = median(s->cpu, s->n);
        r->bytes_per_second = median(s->bps, s->n);
        r->items_per_second = median(s->ips, s->n);
    } else if (s->have_median) {
        /* --benchmark_display_aggregates_only: only the aggregates came. */
        r->runs = 1;
        r->real_ns = s->median_real;
        r->cpu_ns = s->median_cpu;
        r->bytes_per_second = s->median_bps;
        r->items_per_second = s->median_ips;
        r->cv = s->have_cv ? s->cv : 0.0;
    } else if (r->error) {
        r->runs = 1;
    }
}

long bench_collect(const bench_plan *plan, const char *filter, int one_line_console,
                   bench_results *out)
{
    collector col = {plan, NULL, NULL, out, 0};
    out->count = plan->count;
    out->r = calloc(plan->count ? plan->count : 1, sizeof *out->r);
    col.s = calloc(plan->count ? plan->count : 1, sizeof *col.s);
    col.by_name = malloc((plan->count ? plan->count : 1) * sizeof *col.by_name);
    if (out->r == NULL || col.s == NULL || col.by_name == NULL) {
        free(col.s);
        free(col.by_name);
        bench_results_free(out);
        return -1;
    }
    for (size_t i = 0; i < plan->count; i++) {
        col.by_name[i] = i;
        out->r[i].c = plan->cases[i];
    }
    sort_plan = plan;
    qsort(col.by_name, plan->count, sizeof *col.by_name, cmp_index);
    gb_run(filter, on_run, &col, one_line_console);
    long ran = 0;
    for (size_t i = 0; i < plan->count; i++) {
        finish(&out->r[i], &col.s[i]);
        ran += out->r[i].runs > 0;
        free(col.s[i].real);
        free(col.s[i].cpu);
        free(col.s[i].bps);
        free(col.s[i].ips);
    }
    free(col.s);
    free(col.by_name);
    return col.oom ? -1 : ran;
}

void bench_results_free(bench_results *res)
{
    free(res->r);
    res->r = NULL;
    res->count = 0;
}

const bench_result *bench_result_find(const bench_results *res, bench_op op, const char *impl,
                                      int kernel, emb_index idx, int64_t vocab, int64_t dim,
                                      int64_t tokens, int threads, gen_ids_kind ids)
{
    const int k = op == BENCH_LOOKUP || op == BENCH_GRAD;
    for (size_t i = 0; i < res->count; i++) {
        const bench_case *c = res->r[i].c;
        if (c->op == op && c->kernel == kernel && c->vocab == vocab && c->dim == dim &&
            c->tokens == tokens && c->threads == threads && (!k || (c->ids == ids && c->idx == idx)) &&
            strcmp(c->impl, impl) == 0)
            return res->r[i].runs > 0 ? &res->r[i] : NULL;
    }
    return NULL;
}

int bench_copy_kernel(const bench_case *c)
{
    return c->op == BENCH_GRAD ? bench_kernel_find(EMB_OP_LOOKUP, c->in, EMB_F32) : c->kernel;
}

static double bps_ratio(const bench_result *num, const bench_result *den)
{
    if (num == NULL || den == NULL || num->error || den->error || !(den->bytes_per_second > 0))
        return NAN;
    return num->bytes_per_second / den->bytes_per_second;
}

double bench_ratio_to(const bench_results *res, const bench_result *r, bench_op ref)
{
    static const char *const impl[BENCH_OP_COUNT] = {"", "", "memcpy", "stream", "blas"};
    if (ref != BENCH_MEMCPY && ref != BENCH_STREAM && ref != BENCH_ONEHOT)
        return NAN;
    const bench_case *c = r->c;
    if (ref == BENCH_ONEHOT && (c->op != BENCH_LOOKUP || c->in != EMB_F32 || c->out != EMB_F32))
        return NAN;
    return bps_ratio(r, bench_result_find(res, ref, impl[ref], bench_copy_kernel(c), EMB_I32,
                                          c->vocab, c->dim, c->tokens, c->threads, c->ids));
}

double bench_ratio_scalar(const bench_results *res, const bench_result *r)
{
    const bench_case *c = r->c;
    return bps_ratio(r, bench_result_find(res, c->op, "scalar", c->kernel, c->idx, c->vocab,
                                          c->dim, c->tokens, c->threads, c->ids));
}
