/* gate_ratios.c - the regression gate's timing driver: each kernel case run
 * between two same-shape memcpy copies, in rounds, one line of JSON per
 * measurement for bench/gate.py to turn into same-run ratios. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "context.h"
#include "embsimd.h"
#include "gate_case.h"
#include "options.h"

#define PROG "gate-ratios"
#define MAX_CASES 160

static void help(void)
{
    printf("%s - times kernels against the same-run memcpy of their bytes, for bench/gate.py\n"
           "\n"
           "usage: %s --case=CASE [--case=CASE ...] [options] [Google Benchmark flags]\n"
           "       %s --list\n"
           "\n"
           "  --list        the gate's timed cases, one per line: \"case NAME<tab>WHY\" or\n"
           "                \"unavailable NAME<tab>REASON\"\n"
           "  --case=CASE   lookup|grad/<impl>[/<in>-><out>]/V:<vocab>/D:<dim>/N:<tokens>\n"
           "                (no types: the f32 kernel), one thread, int32 uniform ids;\n"
           "                repeat for more cases\n"
           "  --rounds=R    rounds per shape (default 7); a round runs every kernel of a\n"
           "                shape once, each right after a memcpy of its shape, the first\n"
           "                kernel rotating from round to round, and a last memcpy\n"
           "  --out=FILE    where the measurements go, one JSON object each (required:\n"
           "                stdout carries Google Benchmark's console output)\n"
           "  --seed=N      seed of the table, dY and ids (default %u)\n"
           "  --help        this text, then Google Benchmark's flags\n"
           "\n"
           "Each measurement is one Google Benchmark run of at least --benchmark_min_time\n"
           "(default here 0.03 s). Cases whose implementation cannot run here are written\n"
           "as one line with \"unavailable\" and the reason.\n"
           "\n"
           "Google Benchmark flags:\n",
           PROG, PROG, PROG, (unsigned)BENCH_DEFAULT_SEED);
}

typedef struct entry {
    const bench_case *c;
    int shape, round, pos;
    char name[224];
    /* filled by the run */
    int done, error;
    char error_message[200];
    int64_t iterations;
    double real_ns, cpu_ns, bytes_per_iter;
} entry;

typedef struct shape {
    int64_t vocab, dim, tokens;
    const bench_case *copy;
    const bench_case *kernels[MAX_CASES];
    int nkernels;
} shape;

static void body(gb_state *st, void *arg)
{
    const entry *e = arg;
    if (e->c->op == BENCH_MEMCPY)
        bench_copy_body(st, e->c);
    else
        bench_kernel_body(st, e->c);
}

typedef struct run_ctx {
    entry *entries;
    size_t count;
} run_ctx;

/* Entries are registered as "gate/...#<index>": the index finds the entry. */
static void on_run(const gb_report *run, void *arg)
{
    run_ctx *ctx = arg;
    const char *hash = strrchr(run->family, '#');
    if (hash == NULL || run->aggregate[0] != '\0')
        return;
    const size_t i = (size_t)strtoul(hash + 1, NULL, 10);
    if (i >= ctx->count)
        return;
    entry *e = &ctx->entries[i];
    e->done = 1;
    e->error = run->error;
    if (run->error) {
        snprintf(e->error_message, sizeof e->error_message, "%s", run->error_message);
        return;
    }
    e->iterations = run->iterations;
    e->real_ns = run->real_ns;
    e->cpu_ns = run->cpu_ns;
    /* Rates come per second of the timer the run was judged by: the wall
     * clock here (gb_options.real_time), so wall time gives back the bytes. */
    for (size_t k = 0; k < run->counter_count; k++)
        if (strcmp(run->counter_names[k], "bytes_per_second") == 0)
            e->bytes_per_iter = run->counter_values[k] * run->real_ns * 1e-9;
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", (unsigned)(unsigned char)*s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

static void case_label(const bench_case *c, char *buf, size_t size)
{
    if (c->op == BENCH_MEMCPY) {
        snprintf(buf, size, "copy/memcpy/V:%lld/D:%lld/N:%lld", (long long)c->vocab,
                 (long long)c->dim, (long long)c->tokens);
        return;
    }
    gate_case g = {c->op == BENCH_GRAD, c->kernel, "", c->vocab, c->dim, c->tokens};
    snprintf(g.impl, sizeof g.impl, "%s", c->impl);
    gate_case_name(&g, buf, size);
}

static void write_entry(FILE *f, const entry *e, const shape *s)
{
    char label[160];
    case_label(e->c, label, sizeof label);
    fprintf(f, "{\"shape\": \"V:%lld/D:%lld/N:%lld\", \"round\": %d, \"pos\": %d, \"case\": ",
            (long long)s->vocab, (long long)s->dim, (long long)s->tokens, e->round, e->pos);
    json_string(f, label);
    fprintf(f, ", \"label\": ");
    json_string(f, bench_residency(e->c));
    if (!e->done || e->error) {
        fprintf(f, ", \"error\": ");
        json_string(f, e->done ? e->error_message : "did not run");
        fputs("}\n", f);
        return;
    }
    fprintf(f, ", \"iterations\": %lld, \"real_ns\": %.6g, \"cpu_ns\": %.6g, \"bytes\": %.10g}\n",
            (long long)e->iterations, e->real_ns, e->cpu_ns, e->bytes_per_iter);
}

static int parse_int(const char *option, const char *value, long min, long max, long *out)
{
    char *end;
    errno = 0;
    const long v = strtol(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "%s: %s: \"%s\" is not a whole number in [%ld, %ld]\n", PROG, option,
                value, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    const char *case_text[MAX_CASES];
    int ncases = 0;
    long rounds = 7;
    const char *out_path = NULL;
    unsigned long long seed = BENCH_DEFAULT_SEED;
    int have_min_time = 0;
    char **gargv = calloc((size_t)argc + 2, sizeof *gargv);
    if (gargv == NULL)
        return 1;
    int gargc = 0;
    gargv[gargc++] = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            gargv[gargc++] = (char *)"--help";
        } else if (strcmp(a, "--list") == 0) {
            const int listed = gate_print_cases(GATE_TIMED);
            free(gargv);
            return listed == 0 ? 0 : 1;
        } else if (strncmp(a, "--case=", 7) == 0) {
            if (ncases == MAX_CASES) {
                fprintf(stderr, "%s: more than %d --case options\n", PROG, MAX_CASES);
                return 2;
            }
            case_text[ncases++] = a + 7;
        } else if (strncmp(a, "--rounds=", 9) == 0) {
            if (parse_int("--rounds", a + 9, 1, 1000, &rounds) != 0)
                return 2;
        } else if (strncmp(a, "--out=", 6) == 0) {
            out_path = a + 6;
        } else if (strncmp(a, "--seed=", 7) == 0) {
            char *end;
            errno = 0;
            seed = strtoull(a + 7, &end, 10);
            if (errno != 0 || end == a + 7 || *end != '\0') {
                fprintf(stderr, "%s: --seed: \"%s\" is not a whole number\n", PROG, a + 7);
                return 2;
            }
        } else {
            have_min_time |= strncmp(a, "--benchmark_min_time", 20) == 0;
            gargv[gargc++] = argv[i];
        }
    }
    static char min_time[] = "--benchmark_min_time=0.03";
    if (!have_min_time)
        gargv[gargc++] = min_time;
    gargv[gargc] = NULL;
    gb_initialize(&gargc, gargv, help);
    if (gargc > 1) {
        for (int i = 1; i < gargc; i++)
            fprintf(stderr, "%s: unknown option \"%s\" (see --help)\n", PROG, gargv[i]);
        return 2;
    }
    if (ncases == 0 || out_path == NULL) {
        fprintf(stderr, "%s: %s (see --help)\n", PROG,
                ncases == 0 ? "no --case given" : "no --out=FILE given");
        return 2;
    }
    FILE *out = fopen(out_path, "w");
    if (out == NULL) {
        fprintf(stderr, "%s: cannot write %s: %s\n", PROG, out_path, strerror(errno));
        return 1;
    }

    bench_sysinfo si;
    bench_sysinfo_read(&si);
    bench_config cfg = {seed, si.llc_bytes, 0, SIZE_MAX, 0.0, 0, 0};
    if (cfg.llc_bytes == 0) {
        cfg.llc_bytes = (size_t)32 << 20;
        cfg.llc_assumed = 1;
    }

    /* Cases grouped by shape, in the order the shapes first appear, so each
     * shape's inputs are built once. */
    static shape shapes[MAX_CASES];
    int nshapes = 0;
    const int f32_lookup = bench_kernel_find(EMB_OP_LOOKUP, EMB_F32, EMB_F32);
    bench_plan plan = {0};
    for (int i = 0; i < ncases; i++) {
        gate_case g;
        if (gate_case_parse(PROG, case_text[i], &g) != 0)
            return 2;
        const char *why = gate_impl_unavailable(g.impl);
        if (why != NULL) {
            fprintf(out, "{\"case\": ");
            json_string(out, case_text[i]);
            fprintf(out, ", \"unavailable\": ");
            json_string(out, why);
            fputs("}\n", out);
            fprintf(stderr, "%s: %s not run: %s\n", PROG, case_text[i], why);
            continue;
        }
        int s = 0;
        while (s < nshapes && !(shapes[s].vocab == g.vocab && shapes[s].dim == g.dim &&
                                shapes[s].tokens == g.tokens))
            s++;
        if (s == nshapes) {
            shapes[s].vocab = g.vocab;
            shapes[s].dim = g.dim;
            shapes[s].tokens = g.tokens;
            /* One copy per shape, of an f32 lookup's bytes: the drift of the
             * machine divided out of every kernel of the shape (the ratio
             * is of bandwidths, so it holds for any type's bytes). */
            shapes[s].copy = bench_plan_add(&plan, &cfg, BENCH_MEMCPY, "memcpy", f32_lookup,
                                            EMB_I32, g.vocab, g.dim, g.tokens, 1, GEN_IDS_UNIFORM);
            if (shapes[s].copy == NULL)
                goto oom;
            nshapes++;
        }
        const bench_case *c = bench_plan_add(&plan, &cfg, g.grad ? BENCH_GRAD : BENCH_LOOKUP,
                                             g.impl, g.kernel, EMB_I32, g.vocab, g.dim, g.tokens,
                                             1, GEN_IDS_UNIFORM);
        if (c == NULL)
            goto oom;
        shapes[s].kernels[shapes[s].nkernels++] = c;
    }

    /* The schedule: per shape and round, copy k copy k ... copy. */
    size_t total = 0;
    for (int s = 0; s < nshapes; s++)
        total += (size_t)rounds * (2 * (size_t)shapes[s].nkernels + 1);
    entry *entries = calloc(total ? total : 1, sizeof *entries);
    if (entries == NULL)
        goto oom;
    size_t n = 0;
    for (int s = 0; s < nshapes; s++) {
        const shape *sh = &shapes[s];
        for (int r = 0; r < rounds; r++) {
            for (int p = 0; p <= 2 * sh->nkernels; p++) {
                entry *e = &entries[n];
                e->shape = s;
                e->round = r;
                e->pos = p;
                e->c = p % 2 == 0 ? sh->copy : sh->kernels[(p / 2 + r) % sh->nkernels];
                char label[160];
                case_label(e->c, label, sizeof label);
                snprintf(e->name, sizeof e->name, "gate/s%d/r%d/p%d/%s#%zu", s, r, p, label, n);
                const gb_options opt = {0, 1};
                if (gb_register(e->name, body, e, &opt) != 0)
                    return 1;
                n++;
            }
        }
    }

    run_ctx ctx = {entries, n};
    size_t first = 0;
    for (int s = 0; s < nshapes; s++) {
        const shape *sh = &shapes[s];
        const size_t count = (size_t)rounds * (2 * (size_t)sh->nkernels + 1);
        fprintf(stderr, "%s: shape %d/%d V=%lld D=%lld N=%lld (%s): %d kernels, %ld rounds, %zu runs\n",
                PROG, s + 1, nshapes, (long long)sh->vocab, (long long)sh->dim,
                (long long)sh->tokens, bench_residency(sh->copy), sh->nkernels, rounds, count);
        const time_t t0 = time(NULL);
        char filter[64];
        snprintf(filter, sizeof filter, "^gate/s%d/", s);
        gb_run(filter, on_run, &ctx, 1);
        for (size_t i = first; i < first + count; i++)
            write_entry(out, &entries[i], sh);
        fflush(out);
        fprintf(stderr, "%s: shape %d/%d done in %.0f s\n", PROG, s + 1, nshapes,
                difftime(time(NULL), t0));
        first += count;
    }
    bench_data_release();
    const int failed = fclose(out) != 0;
    if (failed)
        fprintf(stderr, "%s: error writing %s\n", PROG, out_path);
    free(entries);
    bench_plan_free(&plan);
    bench_sysinfo_free(&si);
    free(gargv);
    gb_shutdown();
    return failed;
oom:
    fprintf(stderr, "%s: out of memory\n", PROG);
    return 1;
}
