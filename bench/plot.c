/* plot.c - the figure of a run: throughput against dim, one panel per
 * operation and vocabulary, one line per implementation, the same-run
 * copies as reference lines; written as gnuplot data and script, drawn by
 * gnuplot when it is installed. */
#include "config.h"

#include "report.h"

#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* What one panel shows: everything but the op and the vocabulary is fixed
 * for the whole figure. */
typedef struct selection {
    int64_t tokens;
    int threads;
    gen_ids_kind ids;
    emb_index idx;
    int kernel[2]; /* lookup's and grad's: f32 where run, else the first run */
} selection;

static int choose(const bench_report *rep, selection *sel)
{
    int found = 0, f32[2] = {0, 0}, have_i32 = 0;
    sel->kernel[0] = sel->kernel[1] = -1;
    for (size_t i = 0; i < rep->res->count; i++) {
        const bench_result *r = &rep->res->r[i];
        const bench_case *c = r->c;
        if ((c->op != BENCH_LOOKUP && c->op != BENCH_GRAD) || r->runs == 0 || r->error)
            continue;
        if (!found || c->tokens > sel->tokens)
            sel->tokens = c->tokens;
        if (!found || c->threads < sel->threads)
            sel->threads = c->threads;
        if (!found)
            sel->ids = c->ids;
        have_i32 |= c->idx == EMB_I32;
        const int o = c->op == BENCH_GRAD;
        const int is_f32 = c->in == EMB_F32 && c->out == EMB_F32;
        if (sel->kernel[o] < 0 || (is_f32 && !f32[o])) {
            sel->kernel[o] = c->kernel;
            f32[o] = is_f32;
        }
        found = 1;
    }
    sel->idx = have_i32 ? EMB_I32 : EMB_I64;
    return found;
}

static const char *kernel_types(int k)
{
    const emb_kernel *K = emb_kernel_at(k);
    const char *slash = K != NULL ? strchr(K->name, '/') : NULL;
    return slash != NULL ? slash + 1 : "?";
}

static void value(FILE *f, const bench_result *r)
{
    if (r == NULL || r->error || !(r->bytes_per_second > 0))
        fputs(" ?", f);
    else
        fprintf(f, " %.3f", r->bytes_per_second * 1e-9);
}

/* gnuplot double-quoted string contents */
static void quoted(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
}

static void write_block(FILE *f, const bench_report *rep, const selection *sel, bench_op op,
                        int64_t vocab)
{
    const bench_grid *g = rep->grid;
    const int k = sel->kernel[op == BENCH_GRAD];
    const emb_kernel *K = emb_kernel_at(k);
    const int copy = K == NULL ? -1 : bench_kernel_find(EMB_OP_LOOKUP, K->in, K->out);
    fprintf(f, "# %s %s V=%lld N=%lld T=%d ids=%s idx=%s\n# D", bench_op_title(op),
            kernel_types(k), (long long)vocab, (long long)sel->tokens, sel->threads,
            gen_ids_kind_name(sel->ids), emb_index_name(sel->idx));
    for (size_t i = 0; i < g->n_impls; i++)
        fprintf(f, " %s", g->impls[i]);
    fputs(" memcpy stream\n", f);
    for (size_t d = 0; d < g->n_dim; d++) {
        const int64_t dim = g->dim[d];
        fprintf(f, "%lld", (long long)dim);
        for (size_t i = 0; i < g->n_impls; i++)
            value(f, bench_result_find(rep->res, op, g->impls[i], k, sel->idx, vocab, dim,
                                       sel->tokens, sel->threads, sel->ids));
        value(f, bench_result_find(rep->res, BENCH_MEMCPY, "memcpy", copy, EMB_I32, vocab, dim,
                                   sel->tokens, sel->threads, sel->ids));
        value(f, bench_result_find(rep->res, BENCH_STREAM, "stream", copy, EMB_I32, vocab, dim,
                                   sel->tokens, sel->threads, sel->ids));
        fputc('\n', f);
    }
    fputs("\n\n", f); /* gnuplot: the next "index" */
}

/* The smallest dim at which this vocabulary's table outgrows the LLC. */
static int64_t cold_from(const bench_report *rep, emb_type type, int64_t vocab)
{
    for (size_t d = 0; d < rep->grid->n_dim; d++) {
        const double table = (double)vocab * (double)emb_row_bytes(type, rep->grid->dim[d]);
        if (table > (double)rep->cfg->llc_bytes)
            return rep->grid->dim[d];
    }
    return 0;
}

static void write_panel(FILE *f, const bench_report *rep, const selection *sel, const char *dat,
                        int index, bench_op op, int64_t vocab)
{
    const bench_grid *g = rep->grid;
    const int k = sel->kernel[op == BENCH_GRAD];
    const emb_kernel *K = emb_kernel_at(k);
    /* grad's table is its fp32 dtable */
    const emb_type table = K == NULL || op == BENCH_GRAD ? EMB_F32 : K->in;
    const int64_t cold = cold_from(rep, table, vocab);
    fprintf(f, "set title \"%s %s, V = %lld", bench_op_title(op), kernel_types(k),
            (long long)vocab);
    if (cold > 0)
        fprintf(f, " (table > LLC from D = %lld)\"\n", (long long)cold);
    else
        fputs(" (table fits the LLC)\"\n", f);
    fputs("plot ", f);
    const size_t cols = g->n_impls + 2;
    for (size_t k = 0; k < cols; k++) {
        const int copy = k >= g->n_impls;
        const char *title = !copy ? g->impls[k] : k == g->n_impls ? "memcpy" : "stream copy";
        fprintf(f, "%s\"", k ? ", \\\n     " : "");
        quoted(f, dat);
        fprintf(f, "\" index %d using 1:%zu with linespoints %stitle \"%s\"", index, k + 2,
                copy ? (k == g->n_impls ? "dt 2 lc rgb \"black\" pt 0 " : "dt 3 lc rgb \"gray40\" pt 0 ")
                     : "lw 2 ",
                title);
    }
    fputs("\n", f);
}

static int write_files(const bench_report *rep, const selection *sel, const char *dat_path,
                       const char *gp_path, const char *image_path)
{
    /* A row of panels per operation run (quantized tables have no grad). */
    bench_op ops[2];
    size_t nops = 0;
    if (sel->kernel[0] >= 0)
        ops[nops++] = BENCH_LOOKUP;
    if (sel->kernel[1] >= 0)
        ops[nops++] = BENCH_GRAD;
    const bench_grid *g = rep->grid;
    FILE *dat = fopen(dat_path, "w");
    if (dat == NULL)
        return -1;
    for (size_t o = 0; o < nops; o++)
        for (size_t v = 0; v < g->n_vocab; v++)
            write_block(dat, rep, sel, ops[o], g->vocab[v]);
    const int dat_failed = ferror(dat);
    if (fclose(dat) != 0 || dat_failed)
        return -1;

    FILE *gp = fopen(gp_path, "w");
    if (gp == NULL)
        return -1;
    fputs("# gnuplot script written by bench/embsimd-bench for one run; gnuplot it again to redraw.\n", gp);
    fprintf(gp, "set terminal svg size %zu,%zu dynamic noenhanced font \"sans,11\" background rgb \"white\"\n",
            360 + 420 * g->n_vocab, 380 * nops);
    fputs("set output \"", gp);
    quoted(gp, image_path);
    fputs("\"\nset datafile missing \"?\"\nset logscale x 2\nset grid\nset key below horizontal font \",9\"\n", gp);
    fputs("set xlabel \"dim (floats per row)\"\nset ylabel \"GB/s (10^9 bytes/s)\"\nset yrange [0:*]\n", gp);
    fprintf(gp, "set multiplot layout %zu,%zu title \"embsimd ", nops, g->n_vocab);
    quoted(gp, bench_context_get(rep->ctx, "embsimd_version"));
    fputs(" (", gp);
    quoted(gp, bench_context_get(rep->ctx, "git_revision"));
    fprintf(gp, "): N = %lld tokens, %d thread%s, %s %s ids, medians\\n", (long long)sel->tokens,
            sel->threads, sel->threads == 1 ? "" : "s", gen_ids_kind_name(sel->ids),
            emb_index_name(sel->idx));
    quoted(gp, bench_context_get(rep->ctx, "cpu_model"));
    fputs(", ", gp);
    quoted(gp, bench_context_get(rep->ctx, "compiler"));
    fputs(", ", gp);
    quoted(gp, bench_context_get(rep->ctx, "run_date"));
    fputs("\"\n", gp);
    int index = 0;
    for (size_t o = 0; o < nops; o++)
        for (size_t v = 0; v < g->n_vocab; v++)
            write_panel(gp, rep, sel, dat_path, index++, ops[o], g->vocab[v]);
    fputs("unset multiplot\n", gp);
    const int gp_failed = ferror(gp);
    if (fclose(gp) != 0 || gp_failed)
        return -1;
    return 0;
}

/* The script names its files by absolute path, so it redraws from any
 * directory. */
static void absolute(const char *path, char *out, size_t size)
{
    char cwd[4096];
    if (path[0] == '/' || getcwd(cwd, sizeof cwd) == NULL)
        snprintf(out, size, "%s", path);
    else
        snprintf(out, size, "%s/%s", cwd, path);
}

static int on_path(const char *prog)
{
    const char *path = getenv("PATH");
    if (path == NULL)
        return 0;
    char buf[4096];
    for (const char *p = path; *p;) {
        const char *end = strchr(p, ':');
        const size_t len = end ? (size_t)(end - p) : strlen(p);
        snprintf(buf, sizeof buf, "%.*s/%s", (int)len, len ? p : ".", prog);
        if (access(buf, X_OK) == 0)
            return 1;
        p += len + (end != NULL);
    }
    return 0;
}

int bench_plot(const bench_report *rep, const char *dat_path, const char *gp_path,
               const char *image_path)
{
    selection sel = {0, 0, GEN_IDS_UNIFORM, EMB_I32, {-1, -1}};
    if (!choose(rep, &sel)) {
        fprintf(rep->info, "plot skipped: no lookup or grad result to draw\n");
        return 0;
    }
    char dat_abs[4200], image_abs[4200];
    absolute(dat_path, dat_abs, sizeof dat_abs);
    absolute(image_path, image_abs, sizeof image_abs);
    if (write_files(rep, &sel, dat_abs, gp_path, image_abs) != 0) {
        fprintf(stderr, "embsimd-bench: cannot write %s or %s: %s\n", dat_path, gp_path,
                strerror(errno));
        return -1;
    }
    if (!on_path("gnuplot")) {
        fprintf(rep->info, "plot skipped: gnuplot not found (the script is %s)\n", gp_path);
        return 0;
    }
    char *argv[] = {(char *)"gnuplot", (char *)gp_path, NULL};
    pid_t pid;
    const int e = posix_spawnp(&pid, "gnuplot", NULL, NULL, argv, environ);
    int status = 0;
    if (e != 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "embsimd-bench: gnuplot %s failed (%s)\n", gp_path,
                e != 0 ? strerror(e) : "see its messages above");
        return -1;
    }
    fprintf(rep->info, "plot: %s\n", image_path);
    return 0;
}
