/* options.c - parsing and documenting the bench binary's own options. */
#include "config.h"

#include "options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bench_options_help(void)
{
    printf(
        "embsimd-bench - throughput of every embsimd implementation this CPU runs, over a\n"
        "vocab x dim x tokens grid, next to the same-run memcpy roofline and the one-hot GEMM.\n"
        "\n"
        "usage: embsimd-bench [options] [Google Benchmark flags]\n"
        "\n"
        "options:\n"
        "  --grid=quick|full      quick (default): V {1000, 50257} x D {64..1024} x N {512, 8192},\n"
        "                         1 thread, 5 repetitions of >= 0.03 s; full: V {1000, 32000,\n"
        "                         50257, 128256, 262144} x D {64, 128, 256, 768, 1024, 4096} x\n"
        "                         N {512, 8192}, 1 and all online CPUs, 5 repetitions of >= 0.1 s\n"
        "  --vocab=LIST           vocabulary sizes, e.g. 50257,128256 (replaces the grid's)\n"
        "  --dim=LIST             embedding dims\n"
        "  --tokens=LIST          tokens per call (N)\n"
        "  --threads=LIST         thread counts for emb_set_num_threads, e.g. 1,2\n"
        "  --ids=LIST             id distributions: uniform, zipf (default both), sorted,\n"
        "                         reversed, all-equal, duplicates\n"
        "  --impl=LIST            implementations to run (default: every one available)\n"
        "  --types=LIST           table types: the kernels whose table (grad: dout) is one of\n"
        "                         f32, f16, bf16, q8_0, q4_0, q8_rowwise, q4_K, q6_K, or all\n"
        "                         (default f32):\n"
        "                         f32 -> f32 and grad f32; bf16: bf16 -> bf16, bf16 -> f32 and\n"
        "                         grad bf16; q8_0: q8_0 -> f32; ... (the library's kernel list)\n"
        "  --ids-type=LIST        id types, i32, i64 (default i32)\n"
        "  --budget=SIZE          skip shapes whose buffers need more (default 8G; K/M/G/T)\n"
        "  --onehot-max-gflop=X   skip one-hot GEMMs doing more work per call (default:\n"
        "                         2 for the quick grid, 50 for the full one)\n"
        "  --seed=N               seed of the table, dY and ids (default %u)\n"
        "  --llc=SIZE             last-level cache size for the labels (default: the\n"
        "                         library's, emb_llc_bytes(); EMBSIMD_LLC=SIZE sets both)\n"
        "  --hugepages            madvise(MADV_HUGEPAGE) on buffers of 2 MiB and more\n"
        "  --out-offset=BYTES     the output (the kernels' and the copies') BYTES past a\n"
        "                         64-byte boundary, 0 to 63 (default 0; malloc gives a\n"
        "                         large block 16)\n"
        "  --results=DIR          write DIR/latest.md, DIR/latest.svg and\n"
        "                         DIR/runs/<host>-<UTC date>.json (default: results)\n"
        "  --plot-files=DIR       where the gnuplot data and script go (default: .)\n"
        "  --console-all          print every repetition, not one median line per benchmark\n"
        "  --rerun-cv=PCT         run again every shape with a case whose wall-time cv\n"
        "                         (stddev / mean over the repetitions) exceeds PCT %%, and\n"
        "                         keep, shape by shape, the pass whose largest cv is the\n"
        "                         least (every ratio stays within one pass); each pass's\n"
        "                         JSON goes next to the run's as <run>.rerun<K>.json\n"
        "                         (default 0: no reruns; `make bench` passes 5)\n"
        "  --rerun-passes=N       at most N such passes (1 to 20, default 3)\n"
        "  --list-kernels         print, for every kernel of the library and every\n"
        "                         implementation, whose code runs its rows of up to 1024\n"
        "                         elements here (emb_kernel_impl; EMBSIMD_KERNEL_IMPL and a\n"
        "                         tuning file move kernels down the table), then exit:\n"
        "                         KERNEL<tab>IMPLEMENTATION<tab>CODE or \"unavailable: why\"\n"
        "  --help                 this text, then Google Benchmark's flags\n"
        "\n"
        "Names: lookup|grad/<impl>/<in>-><out>/V:<vocab>/D:<dim>/N:<tokens>/T:<threads>/\n"
        "ids:<kind>/idx:<i32|i64>, copy/memcpy|stream/<in>-><out>/V:.../T:<threads> (the\n"
        "bytes that lookup moves), onehot/blas/V:.../T:<threads>; all timed by the wall\n"
        "clock (/real_time).\n"
        "Select with --benchmark_filter=<regex>; the defaults above for\n"
        "--benchmark_repetitions and --benchmark_min_time give way to explicit flags.\n"
        "\n"
        "Google Benchmark flags:\n",
        (unsigned)BENCH_DEFAULT_SEED);
}

static int bad(const char *option, const char *value, const char *why)
{
    fprintf(stderr, "embsimd-bench: %s: \"%s\" %s (see --help)\n", option, value, why);
    return -1;
}

/* "8G" -> bytes; 0 on error */
static size_t parse_size(const char *s)
{
    char *end;
    errno = 0;
    const double v = strtod(s, &end);
    if (errno != 0 || end == s || !(v > 0))
        return 0;
    double mult = 1;
    switch (*end) {
    case 'K': case 'k': mult = 1024.0; end++; break;
    case 'M': case 'm': mult = 1024.0 * 1024; end++; break;
    case 'G': case 'g': mult = 1024.0 * 1024 * 1024; end++; break;
    case 'T': case 't': mult = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end == 'i' || *end == 'B')
        end += *end == 'i' ? (end[1] == 'B' ? 2 : 1) : 1;
    if (*end != '\0' || v * mult > (double)SIZE_MAX)
        return 0;
    return (size_t)(v * mult);
}

int bench_parse_list(const char *option, const char *list, int64_t *out, int max)
{
    int count = 0;
    const char *p = list;
    for (;;) {
        char *end;
        errno = 0;
        const long long v = strtoll(p, &end, 10);
        if (end == p || errno != 0 || v <= 0 || (*end != ',' && *end != '\0')) {
            const size_t len = strcspn(p, ",");
            fprintf(stderr, "embsimd-bench: %s: item %d, \"%.*s\", is not a positive integer\n",
                    option, count + 1, (int)len, p);
            return -1;
        }
        if (count == max) {
            fprintf(stderr, "embsimd-bench: %s: more than %d values\n", option, max);
            return -1;
        }
        out[count++] = v;
        if (*end == '\0')
            return count;
        p = end + 1;
    }
}

int bench_parse_ids(const char *list, gen_ids_kind *out, int max)
{
    int count = 0;
    for (const char *p = list;;) {
        const size_t len = strcspn(p, ",");
        int kind = -1;
        for (int k = 0; k < GEN_IDS_KIND_COUNT; k++) {
            const char *name = gen_ids_kind_name((gen_ids_kind)k);
            if (strlen(name) == len && strncmp(name, p, len) == 0)
                kind = k;
        }
        if (kind < 0) {
            fprintf(stderr, "embsimd-bench: --ids: item %d, \"%.*s\", is not one of uniform, zipf, "
                            "sorted, reversed, all-equal, duplicates\n",
                    count + 1, (int)len, p);
            return -1;
        }
        if (count == max) {
            fprintf(stderr, "embsimd-bench: --ids: more than %d values\n", max);
            return -1;
        }
        out[count++] = (gen_ids_kind)kind;
        if (p[len] == '\0')
            return count;
        p += len + 1;
    }
}

int bench_parse_types(const char *list, emb_type *out)
{
    int count = 0;
    if (strcmp(list, "all") == 0) {
        for (int t = 0; t < EMB_TYPE_COUNT; t++)
            out[count++] = (emb_type)t;
        return count;
    }
    for (const char *p = list;;) {
        const size_t len = strcspn(p, ",");
        int type = -1;
        for (int t = 0; t < EMB_TYPE_COUNT; t++) {
            const char *name = emb_type_name((emb_type)t);
            if (name != NULL && strlen(name) == len && strncmp(name, p, len) == 0)
                type = t;
        }
        if (type < 0) {
            fprintf(stderr, "embsimd-bench: --types: item %d, \"%.*s\", is not a type (", count + 1,
                    (int)len, p);
            for (int t = 0; t < EMB_TYPE_COUNT; t++)
                fprintf(stderr, "%s, ", emb_type_name((emb_type)t));
            fprintf(stderr, "or all)\n");
            return -1;
        }
        int seen = 0;
        for (int i = 0; i < count; i++)
            seen |= out[i] == (emb_type)type;
        if (!seen)
            out[count++] = (emb_type)type;
        if (p[len] == '\0')
            return count;
        p += len + 1;
    }
}

int bench_parse_id_types(const char *list, emb_index *out)
{
    int count = 0;
    for (const char *p = list;;) {
        const size_t len = strcspn(p, ",");
        int idx = -1;
        for (int t = EMB_I32; t <= EMB_I64; t++)
            if (strlen(emb_index_name((emb_index)t)) == len &&
                strncmp(emb_index_name((emb_index)t), p, len) == 0)
                idx = t;
        if (idx < 0) {
            fprintf(stderr, "embsimd-bench: --ids-type: item %d, \"%.*s\", is neither i32 nor i64\n",
                    count + 1, (int)len, p);
            return -1;
        }
        int seen = 0;
        for (int i = 0; i < count; i++)
            seen |= out[i] == (emb_index)idx;
        if (!seen)
            out[count++] = (emb_index)idx;
        if (p[len] == '\0')
            return count;
        p += len + 1;
    }
}

/* The value of "--name=value" when arg is that option, else NULL. */
static const char *value_of(const char *arg, const char *name)
{
    const size_t len = strlen(name);
    return strncmp(arg, name, len) == 0 && arg[len] == '=' ? arg + len + 1 : NULL;
}

/* Whether s is a decimal whole number in [lo, hi], nothing after it; *n
 * gets it. */
static int whole_in(const char *s, long lo, long hi, long *n)
{
    char *end;
    *n = strtol(s, &end, 10);
    return end != s && *end == '\0' && *n >= lo && *n <= hi;
}

static int parse_one(bench_options *o, const char *arg)
{
    const char *v;
    if ((v = value_of(arg, "--grid")) != NULL) {
        if (strcmp(v, "quick") != 0 && strcmp(v, "full") != 0)
            return bad("--grid", v, "is neither quick nor full");
        o->full = strcmp(v, "full") == 0;
    } else if ((v = value_of(arg, "--vocab")) != NULL) {
        o->vocab = v;
    } else if ((v = value_of(arg, "--dim")) != NULL) {
        o->dim = v;
    } else if ((v = value_of(arg, "--tokens")) != NULL) {
        o->tokens = v;
    } else if ((v = value_of(arg, "--threads")) != NULL) {
        o->threads = v;
    } else if ((v = value_of(arg, "--ids")) != NULL) {
        o->ids = v;
    } else if ((v = value_of(arg, "--impl")) != NULL) {
        o->impl = v;
    } else if ((v = value_of(arg, "--types")) != NULL) {
        o->types = v;
    } else if ((v = value_of(arg, "--ids-type")) != NULL) {
        o->id_types = v;
    } else if ((v = value_of(arg, "--budget")) != NULL) {
        if ((o->budget_bytes = parse_size(v)) == 0)
            return bad("--budget", v, "is not a size such as 8G or 512M");
    } else if ((v = value_of(arg, "--llc")) != NULL) {
        if ((o->llc_bytes = parse_size(v)) == 0)
            return bad("--llc", v, "is not a size such as 32M");
    } else if ((v = value_of(arg, "--onehot-max-gflop")) != NULL) {
        char *end;
        o->onehot_max_gflop = strtod(v, &end);
        if (end == v || *end != '\0' || !(o->onehot_max_gflop >= 0))
            return bad("--onehot-max-gflop", v, "is not a number >= 0");
    } else if ((v = value_of(arg, "--seed")) != NULL) {
        char *end;
        errno = 0;
        o->seed = strtoull(v, &end, 0);
        if (end == v || *end != '\0' || errno != 0 || v[0] == '-')
            return bad("--seed", v, "is not an unsigned integer");
    } else if ((v = value_of(arg, "--results")) != NULL) {
        if (v[0] == '\0')
            return bad("--results", v, "is empty");
        o->results_dir = v;
    } else if ((v = value_of(arg, "--plot-files")) != NULL) {
        if (v[0] == '\0')
            return bad("--plot-files", v, "is empty");
        o->plot_dir = v;
    } else if ((v = value_of(arg, "--rerun-cv")) != NULL) {
        char *end;
        const double pct = strtod(v, &end);
        if (end == v || *end != '\0' || !(pct >= 0 && pct <= 100))
            return bad("--rerun-cv", v, "is not a percentage from 0 to 100");
        o->rerun_cv = pct / 100;
    } else if ((v = value_of(arg, "--rerun-passes")) != NULL) {
        long n;
        if (!whole_in(v, 1, 20, &n))
            return bad("--rerun-passes", v, "is not a whole number from 1 to 20");
        o->rerun_passes = (int)n;
    } else if (strcmp(arg, "--hugepages") == 0) {
        o->hugepages = 1;
    } else if ((v = value_of(arg, "--out-offset")) != NULL) {
        long n;
        if (!whole_in(v, 0, 63, &n))
            return bad("--out-offset", v, "is not a whole number of bytes from 0 to 63");
        o->out_offset = (size_t)n;
    } else if (strcmp(arg, "--console-all") == 0) {
        o->console_all = 1;
    } else if (strcmp(arg, "--list-kernels") == 0) {
        o->list_kernels = 1;
    } else {
        return 0; /* not ours */
    }
    return 1;
}

/* Notes the Google Benchmark flags this program's defaults depend on. */
static void note_gbench_flag(bench_options *o, const char *arg)
{
    const char *v;
    if ((v = value_of(arg, "--benchmark_out")) != NULL)
        o->user_out = v;
    else if ((v = value_of(arg, "--benchmark_format")) != NULL)
        o->user_format = v;
    else if ((v = value_of(arg, "--benchmark_min_time")) != NULL)
        o->user_min_time = v;
    else if ((v = value_of(arg, "--benchmark_repetitions")) != NULL)
        o->user_repetitions = v;
    else if (strcmp(arg, "--benchmark_list_tests") == 0 ||
             ((v = value_of(arg, "--benchmark_list_tests")) != NULL &&
              (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "yes") == 0)))
        o->list_only = 1;
}

int bench_options_parse(bench_options *o, int *argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->budget_bytes = (size_t)8 << 30;
    o->onehot_max_gflop = -1.0; /* the grid's default */
    o->seed = BENCH_DEFAULT_SEED;
    o->results_dir = "results";
    o->plot_dir = ".";
    o->rerun_passes = 3;
    int kept = 1;
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            bench_options_help();
            gb_print_default_help();
            return 1;
        }
        const int r = parse_one(o, argv[i]);
        if (r < 0)
            return -1;
        if (r == 0) {
            note_gbench_flag(o, argv[i]);
            argv[kept++] = argv[i];
        }
    }
    *argc = kept;
    argv[kept] = NULL;
    return 0;
}
