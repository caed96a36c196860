/* rerun.c - see rerun.h. */
#include "config.h"

#include "rerun.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int same_shape(const bench_case *a, const bench_case *b)
{
    return a->vocab == b->vocab && a->dim == b->dim && a->tokens == b->tokens &&
           a->threads == b->threads;
}

static int noisy(const bench_result *r, double max_cv)
{
    return r->runs > 1 && !r->error && r->cv > max_cv;
}

/* The largest cv among the cases of shape s that ran, or -1 if one of
 * them failed or did not run (a pass without it cannot stand in). */
static double shape_max_cv(const bench_results *res, const bench_results *ran_before,
                           const size_t *shape_of, size_t s)
{
    double m = 0;
    for (size_t i = 0; i < res->count; i++) {
        if (shape_of[i] != s || ran_before->r[i].runs == 0)
            continue;
        const bench_result *r = &res->r[i];
        if (r->runs == 0 || r->error)
            return -1;
        if (r->cv > m)
            m = r->cv;
    }
    return m;
}

/* name, its regular-expression characters escaped, onto the filter. */
static char *append_escaped(char *at, const char *name)
{
    for (const char *p = name; *p != '\0'; p++) {
        if (strchr(".[]{}()\\*+?^$|", *p) != NULL)
            *at++ = '\\';
        *at++ = *p;
    }
    return at;
}

/* "^(name|name|...)(/|$)": the cases that ran of the shapes marked. */
static char *build_filter(const bench_plan *plan, const bench_results *res,
                          const size_t *shape_of, const unsigned char *marked, size_t *cases)
{
    size_t len = 16;
    for (size_t i = 0; i < plan->count; i++)
        if (marked[shape_of[i]] && res->r[i].runs > 0)
            len += 2 * strlen(plan->cases[i]->name) + 1;
    char *f = malloc(len), *at = f;
    if (f == NULL)
        return NULL;
    at += sprintf(at, "^(");
    *cases = 0;
    for (size_t i = 0; i < plan->count; i++) {
        if (!marked[shape_of[i]] || res->r[i].runs == 0)
            continue;
        if ((*cases)++ > 0)
            *at++ = '|';
        at = append_escaped(at, plan->cases[i]->name);
    }
    strcpy(at, ")(/|$)");
    return f;
}

void bench_rerun_name(char *out, size_t size, const char *run_json, const char *pass)
{
    const size_t n = strlen(run_json);
    const int ext = n > 5 && strcmp(run_json + n - 5, ".json") == 0;
    snprintf(out, size, "%.*s.rerun%s%s", (int)(ext ? n - 5 : n), run_json, pass,
             ext ? ".json" : "");
}

static int move_file(const char *from, const char *to)
{
    if (rename(from, to) == 0)
        return 0;
    fprintf(stderr, "embsimd-bench: cannot rename %s to %s: %s\n", from, to, strerror(errno));
    return -1;
}

int bench_rerun_noisy(const bench_plan *plan, bench_results *res, double max_cv, int passes,
                      const char *json_path, int one_line_console, FILE *info,
                      bench_rerun_summary *summary)
{
    memset(summary, 0, sizeof *summary);
    size_t *shape_of = malloc((plan->count + 1) * sizeof *shape_of);
    unsigned char *marked = calloc(plan->count + 1, 1), *ever = calloc(plan->count + 1, 1),
                  *kept = calloc(plan->count + 1, 1);
    int status = shape_of != NULL && marked != NULL && ever != NULL && kept != NULL ? 0 : -1;
    /* Shapes numbered in plan order (cases of a shape need not be adjacent). */
    size_t nshapes = 0;
    for (size_t i = 0; status == 0 && i < plan->count; i++) {
        size_t j = 0;
        while (j < i && !same_shape(plan->cases[j], plan->cases[i]))
            j++;
        shape_of[i] = j < i ? shape_of[j] : nshapes++;
    }
    for (int pass = 1; status == 0 && pass <= passes; pass++) {
        memset(marked, 0, nshapes);
        size_t nmarked = 0;
        for (size_t i = 0; i < res->count; i++)
            if (noisy(&res->r[i], max_cv) && !marked[shape_of[i]])
                marked[shape_of[i]] = 1, nmarked++;
        if (nmarked == 0)
            break;
        size_t ncases = 0;
        char *filter = build_filter(plan, res, shape_of, marked, &ncases);
        if (filter == NULL) {
            status = -1;
            break;
        }
        fprintf(info, "rerun %d of at most %d: %zu shapes (%zu cases) with a cv above %.1f %%\n",
                pass, passes, nmarked, ncases, 100 * max_cv);
        fflush(info);
        /* Google Benchmark truncates --benchmark_out on every run: the
         * main file steps aside while the pass writes its own. */
        char main_tmp[4200], pass_json[4200];
        if (json_path != NULL) {
            char k[16];
            snprintf(k, sizeof k, "%d", pass);
            snprintf(main_tmp, sizeof main_tmp, "%s.main", json_path);
            bench_rerun_name(pass_json, sizeof pass_json, json_path, k);
            if (move_file(json_path, main_tmp) != 0) {
                free(filter);
                status = -1;
                break;
            }
        }
        bench_results again;
        const long ran = bench_collect(plan, filter, one_line_console, &again);
        free(filter);
        if (json_path != NULL) { /* both moves, whatever the first gives */
            const int kept_pass = ran < 0 || move_file(json_path, pass_json) == 0;
            if (move_file(main_tmp, json_path) != 0 || !kept_pass)
                status = -1;
        }
        if (ran < 0) {
            status = -1;
            break;
        }
        size_t improved = 0;
        for (size_t s = 0; s < nshapes; s++) {
            if (!marked[s])
                continue;
            ever[s] = 1;
            const double before = shape_max_cv(res, res, shape_of, s);
            const double after = shape_max_cv(&again, res, shape_of, s);
            if (after < 0 || after >= before)
                continue;
            for (size_t i = 0; i < res->count; i++)
                if (shape_of[i] == s && res->r[i].runs > 0)
                    res->r[i] = again.r[i];
            kept[s] = 1;
            improved++;
        }
        fprintf(info, "rerun %d: %zu of the %zu shapes kept from this pass\n", pass, improved,
                nmarked);
        bench_results_free(&again);
        summary->passes = pass;
    }
    for (size_t s = 0; status == 0 && s < nshapes; s++) {
        summary->shapes += ever[s];
        summary->kept += kept[s];
    }
    for (size_t i = 0; status == 0 && i < res->count; i++)
        summary->still_noisy += (size_t)noisy(&res->r[i], max_cv);
    free(shape_of);
    free(marked);
    free(ever);
    free(kept);
    return status;
}
