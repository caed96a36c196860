/* main.c - embsimd-bench: builds the grid, runs it through Google
 * Benchmark, and writes the run's JSON, markdown table and figure. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collect.h"
#include "context.h"
#include "embsimd.h"
#include "options.h"
#include "rerun.h"
#include "report.h"

static const int64_t full_vocab[] = {1000, 32000, 50257, 128256, 262144};
static const int64_t full_dim[] = {64, 128, 256, 768, 1024, 4096};
static const int64_t quick_vocab[] = {1000, 50257};
static const int64_t quick_dim[] = {64, 128, 256, 768, 1024};
static const int64_t grid_tokens[] = {512, 8192};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void copy_axis(int64_t *dst, size_t *n, const int64_t *src, size_t count)
{
    memcpy(dst, src, count * sizeof *src);
    *n = count;
}

static int axis(const char *option, const char *list, int64_t *dst, size_t *n)
{
    if (list == NULL)
        return 0;
    const int k = bench_parse_list(option, list, dst, BENCH_AXIS_MAX);
    if (k < 0)
        return -1;
    *n = (size_t)k;
    return 0;
}

/* The implementations to run, and a note for each one left out. */
static int choose_impls(const bench_options *o, bench_grid *g, bench_notes *left_out)
{
    for (int i = 0; i < emb_impl_count(); i++) {
        const char *name = emb_impl_name(i);
        if (!emb_impl_available(i)) {
            bench_note(left_out, "%s: %s", name, emb_impl_unavailable_reason(i));
            continue;
        }
        if (o->impl == NULL && g->n_impls < BENCH_AXIS_MAX)
            g->impls[g->n_impls++] = name;
    }
    for (const char *p = o->impl; p != NULL;) {
        const size_t len = strcspn(p, ",");
        int found = -1;
        for (int i = 0; i < emb_impl_count(); i++)
            if (strlen(emb_impl_name(i)) == len && strncmp(emb_impl_name(i), p, len) == 0)
                found = i;
        if (found < 0 || !emb_impl_available(found)) {
            fprintf(stderr, "embsimd-bench: --impl: \"%.*s\" %s\n", (int)len, p,
                    found < 0 ? "is not an implementation of this build"
                              : emb_impl_unavailable_reason(found));
            return -1;
        }
        if (g->n_impls < BENCH_AXIS_MAX)
            g->impls[g->n_impls++] = emb_impl_name(found);
        p = p[len] ? p + len + 1 : NULL;
    }
    return 0;
}

static int build_grid(const bench_options *o, bench_grid *g, bench_notes *left_out)
{
    memset(g, 0, sizeof *g);
    if (o->full) {
        copy_axis(g->vocab, &g->n_vocab, full_vocab, COUNT(full_vocab));
        copy_axis(g->dim, &g->n_dim, full_dim, COUNT(full_dim));
    } else {
        copy_axis(g->vocab, &g->n_vocab, quick_vocab, COUNT(quick_vocab));
        copy_axis(g->dim, &g->n_dim, quick_dim, COUNT(quick_dim));
    }
    copy_axis(g->tokens, &g->n_tokens, grid_tokens, COUNT(grid_tokens));
    int64_t threads[BENCH_AXIS_MAX] = {1, 0};
    size_t n_threads = 1;
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (o->full && cpus > 1)
        threads[n_threads++] = cpus;
    g->ids[0] = GEN_IDS_UNIFORM;
    g->ids[1] = GEN_IDS_ZIPF;
    g->n_ids = 2;
    if (axis("--vocab", o->vocab, g->vocab, &g->n_vocab) || axis("--dim", o->dim, g->dim, &g->n_dim) ||
        axis("--tokens", o->tokens, g->tokens, &g->n_tokens) ||
        axis("--threads", o->threads, threads, &n_threads))
        return -1;
    for (size_t i = 0; i < n_threads; i++) {
        if (threads[i] > EMB_MAX_THREADS) {
            fprintf(stderr, "embsimd-bench: --threads: %lld exceeds EMB_MAX_THREADS = %d\n",
                    (long long)threads[i], EMB_MAX_THREADS);
            return -1;
        }
        g->threads[i] = (int)threads[i];
    }
    g->n_threads = n_threads;
    for (size_t i = 0; i < g->n_vocab; i++)
        if (g->vocab[i] > INT32_MAX) {
            fprintf(stderr, "embsimd-bench: --vocab: %lld exceeds the int32 id range\n",
                    (long long)g->vocab[i]);
            return -1;
        }
    if (o->ids != NULL) {
        const int k = bench_parse_ids(o->ids, g->ids, GEN_IDS_KIND_COUNT);
        if (k < 0)
            return -1;
        g->n_ids = (size_t)k;
    }
    g->types[0] = EMB_F32;
    g->n_types = 1;
    if (o->types != NULL) {
        const int k = bench_parse_types(o->types, g->types);
        if (k < 0)
            return -1;
        g->n_types = (size_t)k;
    }
    g->idx[0] = EMB_I32;
    g->n_idx = 1;
    if (o->id_types != NULL) {
        const int k = bench_parse_id_types(o->id_types, g->idx);
        if (k < 0)
            return -1;
        g->n_idx = (size_t)k;
    }
    if (bench_stream_unsupported_reason() != NULL)
        bench_note(left_out, "copy/stream: %s", bench_stream_unsupported_reason());
    return choose_impls(o, g, left_out);
}

static void join_i64(char *buf, size_t size, const int64_t *v, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < size; i++) {
        const int w = snprintf(buf + used, size - used, "%s%lld", i ? "," : "", (long long)v[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

static void set_context(bench_context *ctx, const bench_sysinfo *si, const bench_config *cfg,
                        const bench_grid *g, const bench_notes *left_out, const bench_options *o,
                        const char *min_time, const char *repetitions, int default_threads)
{
    char buf[1024];
    size_t used = 0;
    bench_context_set(ctx, "run_date", "%s", si->utc_date);
    bench_context_set(ctx, "run_host", "%s", si->host);
    bench_context_set(ctx, "cpu_model", "%s", si->cpu_model);
    bench_context_set(ctx, "cpu_flags", "%s", si->cpu_flags);
    bench_context_set(ctx, "cpu_simd_flags", "%s", si->isa_flags);
    if (o->llc_bytes)
        bench_context_set(ctx, "llc", "%.1f MiB (--llc; the kernels use %s)",
                          (double)cfg->llc_bytes / (1 << 20), si->llc_source);
    else
        bench_context_set(ctx, "llc", "%s", si->llc_source);
    bench_context_set(ctx, "llc_bytes", "%zu", cfg->llc_bytes);
    bench_context_set(ctx, "schedule", "%s", emb_schedule_description());
    bench_context_set(ctx, "transparent_hugepages", "%s%s", si->thp,
                      cfg->hugepages ? ", buffers advised MADV_HUGEPAGE" : "");
    bench_context_set(ctx, "output_offset", "%zu bytes past a 64-byte boundary%s",
                      cfg->out_offset, cfg->out_offset ? " (--out-offset)" : "");
    bench_context_set(ctx, "compiler", "%s", bench_build_compiler());
    bench_context_set(ctx, "compiler_flags", "%s", bench_build_cflags());
    bench_context_set(ctx, "configure_options", "%s", bench_build_configure());
    bench_context_set(ctx, "embsimd_version", "%s", emb_version());
    bench_context_set(ctx, "git_revision", "%s", bench_build_revision());
    buf[0] = '\0';
    for (size_t i = 0; i < g->n_impls; i++)
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s", i ? ", " : "", g->impls[i]);
    bench_context_set(ctx, "implementations", "%s", buf);
    used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < left_out->count && used < sizeof buf; i++)
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s", i ? "; " : "",
                                 left_out->line[i]);
    bench_context_set(ctx, "implementations_left_out", "%s", used ? buf : "none");
    int64_t th[BENCH_AXIS_MAX];
    for (size_t i = 0; i < g->n_threads; i++)
        th[i] = g->threads[i];
    join_i64(buf, sizeof buf, th, g->n_threads);
    bench_context_set(ctx, "threads", "%s (library default here: %d)", buf, default_threads);
    used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < g->n_ids; i++)
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s", i ? ", " : "",
                                 gen_ids_kind_name(g->ids[i]));
    bench_context_set(ctx, "id_distributions", "%s", buf);
    used = 0;
    buf[0] = '\0';
    for (size_t t = 0; t < g->n_types; t++)
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s", t ? ", " : "",
                                 emb_type_name(g->types[t]));
    bench_context_set(ctx, "types", "%s", buf);
    used = 0;
    buf[0] = '\0';
    for (int k = 0; k < emb_kernel_count() && used < sizeof buf; k++)
        for (size_t t = 0; t < g->n_types; t++)
            if (emb_kernel_at(k)->in == g->types[t] && (emb_kernel_at(k)->op == EMB_OP_LOOKUP ||
                                                        emb_kernel_at(k)->op == EMB_OP_GRAD))
                used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s", used ? ", " : "",
                                         emb_kernel_at(k)->name);
    bench_context_set(ctx, "kernels", "%s", buf);
    used = 0;
    buf[0] = '\0';
    for (size_t t = 0; t < g->n_idx; t++)
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s", t ? ", " : "",
                                 emb_index_name(g->idx[t]));
    bench_context_set(ctx, "id_types", "%s", buf);
    bench_context_set(ctx, "seed", "%llu", (unsigned long long)cfg->seed);
    char v[256], d[256], n[256];
    join_i64(v, sizeof v, g->vocab, g->n_vocab);
    join_i64(d, sizeof d, g->dim, g->n_dim);
    join_i64(n, sizeof n, g->tokens, g->n_tokens);
    bench_context_set(ctx, "grid", "%s: V {%s} x D {%s} x N {%s}; memory budget %.2f GiB; "
                      "one-hot GEMM up to %.1f GFLOP per call",
                      o->full ? "full" : (o->vocab || o->dim || o->tokens ? "custom" : "quick"), v, d, n,
                      (double)cfg->budget_bytes / (1 << 30), cfg->onehot_max_gflop);
    bench_context_set(ctx, "timing", "%s repetitions of at least %s s each, wall clock; "
                      "median reported", repetitions, min_time);
    bench_context_set(ctx, "bytes_definition",
                      "lookup: N*(table row + output row) per call, each row in its own type's "
                      "bytes (emb_row_bytes), read once and written once: 2*N*D*4 for f32; "
                      "copies: the same bytes as the lookup of their types (a memcpy of half "
                      "of them, read and written); one-hot GEMM: 2*N*D*4; grad: N*dout row "
                      "(read dY) + 2*U*D*4 (read and write each of the U distinct fp32 rows "
                      "the call touches)");
    double load[3];
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (getloadavg(load, 3) == 3)
        bench_context_set(ctx, "load_average", "%.2f %.2f %.2f before the run, on %ld CPUs%s",
                          load[0], load[1], load[2], cpus,
                          load[0] > 0.5 * (double)cpus
                              ? ": other work was running, expect noise (see cv)"
                              : "");
    bench_context_set(ctx, "cold_warm",
                      "ids cycle through enough batches to read min(table, 4 x LLC) bytes of "
                      "rows before reusing one; label LLC: table + N*D*4 fit the LLC (warm); "
                      "DRAM:rows: the table fits, not with the rows; DRAM:table: table > LLC "
                      "(cold; Zipf ids keep their hot rows cached). No cache flushing.");
}

static int mkdir_p(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        const char c = *p;
        if (c == '/' || c == '\0') {
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return -1;
            *p = c;
        }
        if (c == '\0')
            return 0;
    }
}

/* Host names go into a file name: keep it to a safe alphabet. */
static void safe_name(char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            *s = '_';
}

static void print_notes(FILE *info, const char *title, const bench_notes *n)
{
    if (n->count == 0)
        return;
    fprintf(info, "%s (%zu):\n", title, n->count);
    for (size_t i = 0; i < n->count; i++)
        fprintf(info, "  %s\n", n->line[i]);
}

/* --list-kernels: what the bench and its tests decide what to time by,
 * straight from the library, for short rows (the grid asks per shape,
 * emb_kernel_impl_for_dim). An environment the library refuses
 * (EMBSIMD_IMPL, EMBSIMD_KERNEL_IMPL) is an error here too. */
static int list_kernels(void)
{
    if (emb_lookup_f32(NULL, 1, 1, NULL, 0, NULL) != EMB_OK) {
        fprintf(stderr, "embsimd-bench: %s\n", emb_last_error());
        return 2;
    }
    for (int k = 0; k < emb_kernel_count(); k++)
        for (int i = 0; i < emb_impl_count(); i++) {
            const char *code = emb_kernel_impl(k, i);
            printf("%s\t%s\t%s%s\n", emb_kernel_at(k)->name, emb_impl_name(i),
                   code ? code : "unavailable: ", code ? "" : emb_impl_unavailable_reason(i));
        }
    return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    bench_options o;
    const int parsed = bench_options_parse(&o, &argc, argv);
    if (parsed != 0)
        return parsed > 0 ? 0 : 2;
    if (o.list_kernels)
        return list_kernels();

    bench_sysinfo si;
    bench_sysinfo_read(&si);
    /* One-hot GEMMs of up to 2 GFLOP take ~20 ms here; the full grid
     * affords ones of up to ~0.5 s, which reach GPT-2's table at N = 512. */
    const double onehot_cap = o.onehot_max_gflop >= 0 ? o.onehot_max_gflop : o.full ? 50.0 : 2.0;
    bench_config cfg = {o.seed, o.llc_bytes ? o.llc_bytes : si.llc_bytes, 0, o.budget_bytes,
                        onehot_cap, o.hugepages, o.out_offset};
    if (!o.llc_bytes && strstr(si.llc_source, "(assumed") != NULL) {
        cfg.llc_assumed = 1;
        fprintf(stderr, "embsimd-bench: nothing tells the last-level cache size here: %s "
                        "(set EMBSIMD_LLC, or --llc for the labels only)\n", si.llc_source);
    }

    bench_grid grid;
    bench_notes left_out = {0};
    if (build_grid(&o, &grid, &left_out) != 0)
        return 2;
    bench_plan plan;
    if (bench_plan_build(&plan, &cfg, &grid) != 0) {
        fprintf(stderr, "embsimd-bench: out of memory building the grid\n");
        return 1;
    }

    /* Google Benchmark's arguments: this grid's defaults first, so that the
     * same flags given on the command line win. */
    const char *min_time = o.user_min_time ? o.user_min_time : o.full ? "0.1" : "0.03";
    const char *repetitions = o.user_repetitions ? o.user_repetitions : "5";
    char arg_min_time[64], arg_reps[64], arg_out[4200], json_path[4096], json_rel[256];
    snprintf(arg_min_time, sizeof arg_min_time, "--benchmark_min_time=%s", min_time);
    snprintf(arg_reps, sizeof arg_reps, "--benchmark_repetitions=%s", repetitions);
    char host[64];
    snprintf(host, sizeof host, "%s", si.host);
    safe_name(host);
    snprintf(json_rel, sizeof json_rel, "runs/%s-%s.json", host, si.utc_stamp);
    snprintf(json_path, sizeof json_path, "%s/%s", o.results_dir, json_rel);
    char **gargv = calloc((size_t)argc + 6, sizeof *gargv);
    if (gargv == NULL)
        return 1;
    int gargc = 0;
    gargv[gargc++] = argv[0];
    gargv[gargc++] = arg_min_time;
    gargv[gargc++] = arg_reps;
    const int write_results = !o.list_only;
    if (o.user_out == NULL && write_results) {
        char runs[4200];
        snprintf(runs, sizeof runs, "%s/runs", o.results_dir);
        if (mkdir_p(runs) != 0) {
            fprintf(stderr, "embsimd-bench: cannot create %s: %s\n", runs, strerror(errno));
            return 1;
        }
        snprintf(arg_out, sizeof arg_out, "--benchmark_out=%s", json_path);
        gargv[gargc++] = arg_out;
        gargv[gargc++] = (char *)"--benchmark_out_format=json";
    }
    for (int i = 1; i < argc; i++)
        gargv[gargc++] = argv[i];
    gargv[gargc] = NULL;
    gb_initialize(&gargc, gargv, bench_options_help);
    if (gargc > 1) {
        for (int i = 1; i < gargc; i++)
            fprintf(stderr, "embsimd-bench: unknown option \"%s\" (see --help)\n", gargv[i]);
        return 2;
    }

    const int default_threads = emb_get_num_threads();
    bench_context ctx = {0};
    set_context(&ctx, &si, &cfg, &grid, &left_out, &o, min_time, repetitions, default_threads);
    for (size_t i = 0; i < ctx.count; i++) /* into Google Benchmark's JSON "context" */
        gb_add_context(ctx.key[i], ctx.value[i]);
    if (bench_plan_register(&plan) != 0)
        return 1;

    /* Progress goes where it cannot corrupt a JSON or CSV report on stdout. */
    const int console = o.user_format == NULL || strcmp(o.user_format, "console") == 0;
    FILE *info = console ? stdout : stderr;
    fprintf(info, "embsimd-bench: %zu benchmarks\n  grid: %s\n  implementations: %s\n"
           "  kernels: %s; ids %s\n  last-level cache: %s\n  timing: %s\n",
           plan.count, bench_context_get(&ctx, "grid"), bench_context_get(&ctx, "implementations"),
           bench_context_get(&ctx, "kernels"), bench_context_get(&ctx, "id_types"),
           bench_context_get(&ctx, "llc"), bench_context_get(&ctx, "timing"));
    print_notes(info, "left out, not available here", &left_out);
    print_notes(info, "shapes over the memory budget, not run", &plan.over_budget);
    print_notes(info, "one-hot GEMM not run for", &plan.onehot_capped);
    print_notes(info, "table types not run at these dims", &plan.type_skipped);
    print_notes(info, "kernels an implementation runs with another's code", &plan.code_shared);
    fflush(info);

    const int one_line = !o.console_all && console;
    const time_t t0 = time(NULL);
    bench_results res;
    long ran = bench_collect(&plan, NULL, one_line, &res);
    if (ran > 0 && write_results && o.rerun_cv > 0) {
        bench_rerun_summary rs;
        const char *out = o.user_out ? o.user_out : json_path;
        if (bench_rerun_noisy(&plan, &res, o.rerun_cv, o.rerun_passes, out, one_line, info,
                              &rs) != 0)
            ran = -1;
        else {
            char files[4200];
            bench_rerun_name(files, sizeof files, o.user_out ? o.user_out : json_rel, "<K>");
            bench_context_set(&ctx, "reruns",
                              "shapes with a case above %.1f %% cv run again, at most %d "
                              "times: %zu shape%s, %zu of them kept from a rerun (`%s`); %zu "
                              "case%s still above",
                              100 * o.rerun_cv, o.rerun_passes, rs.shapes,
                              rs.shapes == 1 ? "" : "s", rs.kept, files, rs.still_noisy,
                              rs.still_noisy == 1 ? "" : "s");
        }
    }
    bench_data_release();
    if (ran < 0) {
        fprintf(stderr, "embsimd-bench: out of memory collecting results, or a rerun's "
                        "file could not be moved (above)\n");
        return 1;
    }
    int status = 0;
    if (ran > 0 && write_results) {
        fprintf(info, "%ld benchmarks in %.0f s\n", ran, difftime(time(NULL), t0));
        bench_report rep = {&cfg, &plan, &res, &ctx, &grid, &left_out,
                            o.user_out ? o.user_out : json_rel, info};
        char md[4200], svg[4200], dat[4200], gp[4200];
        snprintf(md, sizeof md, "%s/latest.md", o.results_dir);
        snprintf(svg, sizeof svg, "%s/latest.svg", o.results_dir);
        snprintf(dat, sizeof dat, "%s/latest.dat", o.plot_dir);
        snprintf(gp, sizeof gp, "%s/latest.gp", o.plot_dir);
        if (mkdir_p(o.results_dir) != 0 || bench_write_markdown(&rep, md) != 0) {
            fprintf(stderr, "embsimd-bench: cannot write %s: %s\n", md, strerror(errno));
            status = 1;
        } else {
            fprintf(info, "table: %s\n", md);
        }
        if (o.user_out == NULL)
            fprintf(info, "json: %s\n", json_path);
        if (bench_plot(&rep, dat, gp, svg) != 0)
            status = 1;
    }
    bench_results_free(&res);
    bench_context_free(&ctx);
    bench_plan_free(&plan);
    bench_notes_free(&left_out);
    bench_sysinfo_free(&si);
    free(gargv);
    gb_shutdown();
    return status;
}
