/* embsimd_tune.c - embsimd-tune: measures, on this machine, the choices of
 * the schedule (src/tuning.c) and writes the tuning file the library reads
 * on first use. Every candidate is timed paired with the current choice in
 * the same run, round by round in rotating order, and kept only where it
 * wins beyond noise. A schedule moves speed only: the bits of every result
 * are the same whatever it chooses. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "embsimd.h"
#include "gen.h"
#include "internal.h"
#include "typed_inputs.h"

/* A candidate wins at a shape when its median paired ratio to the current
 * choice is below WIN and it is faster in at least WIN_SHARE of the
 * rounds; it must also not lose by more than LOSE at any other shape. */
#define WIN 0.97
#define WIN_SHARE 0.8
#define LOSE 1.03

typedef struct shape {
    int64_t vocab, dim, tokens;
    const char *why;
} shape;

/* The quick run's one shape, then the default run's others: a table from
 * DRAM (GPT-2's) and one in the caches, tokens enough for a few ms. */
static const shape shapes[] = {
    {50257, 768, 2048, "GPT-2's table from DRAM"},
    {1000, 768, 512, "a table in the caches"},
};
static const shape tiny_shape = {1000, 64, 64, "a tiny table (--tiny: a test of the tool)"};
/* The kernels' long rows (emb_row_class), timed by the default run only:
 * a Llama-sized row from a table past the LLC of every CPU measured (256
 * MiB of f32), where AVX-512's f32 lookup fell behind AVX2's on Zen 5
 * (docs/tuning.md) while leading it on 768-float rows. */
static const shape long_shape = {16384, 4096, 512, "4096-float rows from DRAM"};

typedef struct options {
    int quick, tiny, dry_run, show, identity;
    int rounds;
    const char *output;
} options;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: embsimd-tune [--quick] [--output=PATH] [--dry-run] [--rounds=N]\n"
            "       embsimd-tune --show | --identity\n"
            "\n"
            "Measures on this machine, paired in the same run against the library's\n"
            "defaults, the loops' constants (prefetch distance, rows in flight, the\n"
            "streaming threshold, how far ahead bags hint, into which cache and from\n"
            "which tables, whether AVX-512's blocked lookups and 16-bit gradients\n"
            "write an output's lines whole, and whether the blocked lookups store\n"
            "ZMMs whole or in halves; the hints' constants on a table past the\n"
            "prefetch threshold or below it too), then under those kept which\n"
            "implementation's code runs each lookup and gradient kernel fastest (on\n"
            "rows of up to 1024 elements, and in the default run on longer ones, each\n"
            "class chosen apart), and from what size a call gains from a second\n"
            "thread (one awake, and one to be woken); keeps a choice only where it wins beyond\n"
            "noise (median paired ratio below %.2f, faster in %.0f %% of the rounds,\n"
            "and nowhere slower than %.2fx); writes the tuning file the library reads\n"
            "on first use. Results never change: every implementation and thread\n"
            "count gives the same bits.\n"
            "\n"
            "  --quick        one shape (GPT-2's table), fewer rounds: under 30 s; kernel\n"
            "                 choices for short rows only\n"
            "  --output=PATH  where to write (default: this CPU's file,\n"
            "                 $XDG_CACHE_HOME/embsimd/tuning-<identity>.txt, ~/.cache by default)\n"
            "  --dry-run      measure and print, write nothing\n"
            "  --rounds=N     paired rounds per shape (default 9; --quick 5)\n"
            "  --tiny         tiny shapes only (a test of the tool, not a tuning)\n"
            "  --show         print the schedule in force and where it came from, and exit\n"
            "  --identity     print this CPU's identity, the cpu line of its tuning file\n"
            "  --help         this text\n"
            "\n"
            "EMBSIMD_TUNING=PATH makes the library read PATH instead; EMBSIMD_TUNING=off\n"
            "keeps its defaults. A file made on another CPU is ignored.\n",
            WIN, 100 * WIN_SHARE, LOSE);
}

static int parse(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--quick") == 0) {
            o->quick = 1;
        } else if (strcmp(a, "--tiny") == 0) {
            o->tiny = 1;
        } else if (strcmp(a, "--dry-run") == 0) {
            o->dry_run = 1;
        } else if (strcmp(a, "--show") == 0) {
            o->show = 1;
        } else if (strcmp(a, "--identity") == 0) {
            o->identity = 1;
        } else if (strncmp(a, "--output=", 9) == 0 && a[9] != '\0') {
            o->output = a + 9;
        } else if (strncmp(a, "--rounds=", 9) == 0) {
            char *end;
            errno = 0;
            const long v = strtol(a + 9, &end, 10);
            if (end == a + 9 || *end != '\0' || errno != 0 || v < 2 || v > 1000) {
                fprintf(stderr, "embsimd-tune: --rounds: \"%s\" is not a whole number from 2 to "
                                "1000 (see --help)\n", a + 9);
                return -1;
            }
            o->rounds = (int)v;
        } else {
            fprintf(stderr, "embsimd-tune: unknown option \"%s\" (see --help)\n", a);
            return -1;
        }
    }
    if (o->rounds == 0)
        o->rounds = o->quick || o->tiny ? 5 : 9;
    return 0;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* One kernel's buffers at one shape. A job's calls read successive
 * windows of n ids from a pool that reaches four times the LLC's bytes of
 * rows, or the whole table where it is smaller: a call meets rows the
 * calls before it did not leave in the caches, as a model's batches do.
 * Calls that read one set of ids over and over timed "GPT-2's table from
 * DRAM" from the LLC wherever 2048 rows of 3 KiB fit in it (8 MiB and
 * up): on a Zen 1 (8 MiB L3) bag.hint_level 1 took 1.36x the default's
 * time there, and 0.89x with the rows from DRAM, as embsimd-bench-bag and
 * the PyTorch peers read them. */
typedef struct job {
    const emb_kernel *k;
    int64_t vocab, dim, n;
    uint8_t *table, *out;
    int32_t *pool;       /* the ids the calls' windows are cut from */
    int64_t pool_n, at; /* the pool's length; the next window's start */
    float *dpos;        /* a gradient's position table (POS_ROWS rows) */
} job;

enum { POS_ROWS = 1024 }; /* GPT-2's positions */

/* The next call's n ids (from the pool's start again where they would run
 * past its end). */
static const int32_t *job_ids(job *j)
{
    if (j->at + j->n > j->pool_n)
        j->at = 0;
    const int32_t *ids = j->pool + j->at;
    j->at += j->n;
    return ids;
}

static int run_once(job *j)
{
    const int32_t *ids = job_ids(j);
    if (j->k->op == EMB_OP_LOOKUP)
        return emb_lookup(j->table, j->k->in, j->vocab, j->dim, ids, EMB_I32, j->n, j->out,
                          j->k->out) == EMB_OK ? 0 : -1;
    return emb_grad((float *)j->table, j->vocab, j->dim, ids, EMB_I32, j->n, j->out,
                    j->k->in) == EMB_OK ? 0 : -1;
}

/* Seconds per call of call(j): the best of the calls made in about 20 ms
 * (at least three), after one warm-up. */
static double time_of(int (*call)(job *), job *j)
{
    if (call(j) != 0)
        return -1;
    double best = 1e30, start = now();
    for (int c = 0; c < 3 || now() - start < 0.02; c++) {
        const double t0 = now();
        call(j);
        const double t = now() - t0;
        best = t < best ? t : best;
    }
    return best;
}

static double time_call(job *j) { return time_of(run_once, j); }

static int job_make(job *j, const emb_kernel *k, const shape *s, gen_rng *r)
{
    memset(j, 0, sizeof *j);
    j->k = k;
    j->vocab = s->vocab;
    j->dim = s->dim;
    j->n = s->tokens;
    const emb_type table_type = k->op == EMB_OP_LOOKUP ? k->in : EMB_F32;
    const emb_type out_type = k->op == EMB_OP_LOOKUP ? k->out : k->in;
    const size_t trow = emb_row_bytes(table_type, s->dim), orow = emb_row_bytes(out_type, s->dim);
    if (trow == 0 || orow == 0)
        return 1; /* not a dim this type has rows of */
    size_t reach = 4 * (size_t)emb_llc_bytes();
    if (reach > trow * (size_t)s->vocab)
        reach = trow * (size_t)s->vocab;
    j->pool_n = (int64_t)(reach / trow) > s->tokens ? (int64_t)(reach / trow) : s->tokens;
    j->table = malloc(trow * (size_t)s->vocab);
    j->out = malloc(orow * (size_t)s->tokens);
    j->pool = malloc(sizeof *j->pool * (size_t)j->pool_n);
    if (k->op == EMB_OP_GRAD)
        j->dpos = calloc((size_t)POS_ROWS * (size_t)s->dim, sizeof *j->dpos);
    if (!j->table || !j->out || !j->pool || (k->op == EMB_OP_GRAD && !j->dpos))
        return -1;
    if (k->op == EMB_OP_LOOKUP) {
        bench_fill_typed(r, table_type, j->table, (size_t)s->vocab, (size_t)s->dim);
    } else {
        memset(j->table, 0, trow * (size_t)s->vocab);
        bench_fill_typed(r, out_type, j->out, (size_t)s->tokens, (size_t)s->dim);
    }
    gen_ids(r, j->pool, (size_t)j->pool_n, s->vocab, GEN_IDS_UNIFORM);
    return 0;
}

static void job_free(job *j)
{
    free(j->table);
    free(j->out);
    free(j->pool);
    free(j->dpos);
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* One kernel: the dispatcher's choice (the best implementation's code) and
 * every other available implementation whose code differs, paired round by
 * round at each shape. A candidate is chosen for a row class (short or
 * long rows, emb_row_class) from the shapes of that class alone: it must
 * win at one of them and lose at none. Fills pick[c] with the
 * implementation to name for class c, NULL to keep the default (and for a
 * class no shape timed), and the summary line (a shape that was not timed,
 * "-": not a dim the type has rows of, or no memory for it). */
static void tune_kernel(int k, const shape *sh, int nshapes, int rounds, gen_rng *r,
                       const char *pick[EMB_ROW_CLASSES], char *line, size_t line_size,
                       int *step, int steps)
{
    const emb_kernel *K = emb_kernel_at(k);
    int best = -1, cand[8], nc = 0;
    for (int i = 0; i < emb_impl_count(); i++) {
        if (!emb_impl_available(i))
            continue;
        if (best < 0) {
            best = i;
            continue;
        }
        /* a lower implementation whose own code differs from the default's */
        const char *code = emb_kernel_impl(k, i);
        if (strcmp(code, emb_kernel_impl(k, best)) != 0 && strcmp(code, emb_impl_name(i)) == 0 &&
            nc < 8)
            cand[nc++] = i;
    }
    const char *dflt = emb_kernel_impl(k, best);
    double ratio[8][4];
    int wins[8][EMB_ROW_CLASSES] = {{0}}, worse[8][EMB_ROW_CLASSES] = {{0}};
    int timed[EMB_ROW_CLASSES] = {0}, first[EMB_ROW_CLASSES] = {-1, -1};
    for (int s = 0; s < nshapes; s++) {
        const int rc = emb_row_class((size_t)sh[s].dim);
        job j;
        const int made = job_make(&j, K, &sh[s], r);
        (*step)++;
        if (made != 0) { /* not a dim this type has rows of, or no memory for the shape */
            job_free(&j);
            for (int c = 0; c < nc; c++)
                ratio[c][s] = -1;
            continue;
        }
        timed[rc] = 1;
        if (first[rc] < 0)
            first[rc] = s;
        double rr[8][1000];
        int faster[8] = {0};
        for (int round = 0; round < rounds; round++) {
            double t[9];
            /* rotating order: the default first in even rounds, last in odd */
            for (int c = -1; c < nc; c++) {
                const int at = round % 2 ? (c < 0 ? nc - 1 : c == nc - 1 ? -1 : c) : c;
                emb_use_impl(at < 0 ? emb_impl_name(best) : emb_impl_name(cand[at]));
                t[at + 1] = time_call(&j);
            }
            for (int c = 0; c < nc; c++) {
                rr[c][round] = t[c + 1] / t[0];
                faster[c] += t[c + 1] < t[0];
            }
        }
        emb_use_impl(NULL);
        for (int c = 0; c < nc; c++) {
            ratio[c][s] = median(rr[c], rounds);
            if (ratio[c][s] < WIN && faster[c] >= WIN_SHARE * rounds)
                wins[c][rc]++;
            if (ratio[c][s] > LOSE)
                worse[c][rc]++;
        }
        fprintf(stderr, "\r[%d/%d] %-24s %-28s", *step, steps, K->name, sh[s].why);
        job_free(&j);
    }
    for (int rc = 0; rc < EMB_ROW_CLASSES; rc++) {
        int at = -1;
        for (int c = 0; c < nc; c++)
            if (wins[c][rc] > 0 && worse[c][rc] == 0 &&
                (at < 0 || ratio[c][first[rc]] < ratio[at][first[rc]]))
                at = c;
        pick[rc] = at < 0 ? NULL : emb_impl_name(cand[at]);
    }
    size_t used = (size_t)snprintf(line, line_size, "| %s | %s |", K->name, dflt);
    for (int c = 0; c < nc && used < line_size; c++) {
        used += (size_t)snprintf(line + used, line_size - used, " %s:", emb_impl_name(cand[c]));
        for (int s = 0; s < nshapes && used < line_size; s++)
            used += ratio[c][s] < 0 ? (size_t)snprintf(line + used, line_size - used, " -")
                                    : (size_t)snprintf(line + used, line_size - used, " %.2f",
                                                       ratio[c][s]);
    }
    if (nc == 0)
        used += (size_t)snprintf(line + used, line_size - used, " (no other code here)");
    if (timed[EMB_ROWS_LONG] && pick[EMB_ROWS_SHORT] != pick[EMB_ROWS_LONG])
        snprintf(line + used, line_size - used, " | short rows %s, long rows %s |",
                 pick[EMB_ROWS_SHORT] ? pick[EMB_ROWS_SHORT] : dflt,
                 pick[EMB_ROWS_LONG] ? pick[EMB_ROWS_LONG] : dflt);
    else
        snprintf(line + used, line_size - used, " | %s%s |",
                 pick[EMB_ROWS_SHORT] ? pick[EMB_ROWS_SHORT] : dflt,
                 timed[EMB_ROWS_LONG] || nc == 0 ? "" : " (long rows not timed)");
}

/* One call timed after the pool's workers have gone to sleep: a pause
 * longer than their spin (threads.c) comes first. */
static double time_after_pause(job *j)
{
    double t[5];
    for (int c = 0; c < 5; c++) {
        usleep(5000);
        const double t0 = now();
        run_once(j);
        t[c] = now() - t0;
    }
    return median(t, 5);
}

/* The smallest share per thread from which two threads won by 5 % at that
 * size and every larger one; SIZE_MAX where they never did. */
static size_t break_even(const double *ratio, int sizes, size_t threads)
{
    int from = sizes;
    while (from > 0 && ratio[from - 1] < 0.95)
        from--;
    return from == sizes ? SIZE_MAX : ((size_t)64 << 10 << from) / threads;
}

/* The thread break-evens: the f32 lookup of GPT-2's rows at call sizes
 * from 64 KiB to 32 MiB moved, one thread against two with the split
 * forced, back to back (the worker awake: threads.min_bytes) and each call
 * after a pause (the worker to be woken: threads.wake_min_bytes). */
static void tune_threads(int rounds, gen_rng *r, int tiny, char *report, size_t size,
                         size_t *awake_min, size_t *wake_min)
{
    *awake_min = *wake_min = SIZE_MAX;
    if (emb_get_num_threads() < 2) {
        snprintf(report, size, "one CPU: every call stays on one thread\n");
        return;
    }
    const emb_kernel *K = NULL;
    for (int k = 0; k < emb_kernel_count(); k++)
        if (emb_kernel_at(k)->op == EMB_OP_LOOKUP && emb_kernel_at(k)->in == EMB_F32 &&
            emb_kernel_at(k)->out == EMB_F32)
            K = emb_kernel_at(k);
    const shape big = {tiny ? 1000 : 50257, 768, tiny ? 64 : 5461, "threads"};
    job j;
    if (job_make(&j, K, &big, r) != 0) {
        job_free(&j);
        *awake_min = *wake_min = 0;
        snprintf(report, size, "out of memory: defaults kept\n");
        return;
    }
    const int sizes = tiny ? 2 : 10;
    double ratio[2][10];
    const int64_t threads = emb_get_num_threads();
    size_t used = (size_t)snprintf(report, size,
                                   "| bytes per call | 2 threads / 1, back to back | after a pause |\n"
                                   "| --- | --- | --- |\n");
    for (int s = 0; s < sizes; s++) {
        /* 64 KiB << s moved: n rows read and written */
        j.n = (int64_t)(((size_t)64 << 10 << s) / (2 * 768 * sizeof(float)));
        if (j.n > big.tokens)
            j.n = big.tokens;
        for (int paused = 0; paused < 2; paused++) {
            double rr[1000];
            for (int round = 0; round < rounds; round++) {
                double t[2];
                for (int c = 0; c < 2; c++) {
                    const int two = (c + round) % 2;
                    emb_schedule_set_part_min_bytes(two ? 1 : SIZE_MAX);
                    emb_set_num_threads(two ? (int)threads : 1);
                    t[two] = paused ? time_after_pause(&j) : time_call(&j);
                }
                rr[round] = t[1] / t[0];
            }
            ratio[paused][s] = median(rr, rounds);
        }
        used += (size_t)snprintf(report + used, size - used, "| %zu KiB | %.2f | %.2f |\n",
                                 (size_t)(2 * j.n * 768 * sizeof(float)) >> 10, ratio[0][s],
                                 ratio[1][s]);
    }
    emb_set_num_threads(0);
    job_free(&j);
    *awake_min = break_even(ratio[0], sizes, (size_t)threads);
    *wake_min = break_even(ratio[1], sizes, (size_t)threads);
    /* Waking a worker never costs less than handing a part to one that is
     * awake. */
    if (*wake_min < *awake_min)
        *wake_min = *awake_min;
}

/* The loop constants: each candidate value against the default, one
 * constant at a time, on the f32 lookup and gradient at every shape (the
 * bag items on a bag sum of 20 tokens a bag, the positional one on the
 * fused positional gradient); a value is kept as tune_kernel keeps an
 * implementation. Every op's loops read the same constants (row_loops.h,
 * bag_loops.h), so these kernels stand for them. */
typedef enum loop_timed_on {
    ON_ROWS,
    ON_GRAD,
    ON_BAG,
    ON_POS_GRAD,
    ON_LINES,
    ON_NARROW,
    ON_HALVES
} loop_timed_on;

typedef struct loop_candidate {
    const char *item;
    size_t value;
    int row_threshold; /* the constant is a row length (elements) a loop
                          changes at: timed at rows it moves (tune_loops) */
    loop_timed_on on;  /* the lookup and gradient, the gradient alone, a bag sum,
                          emb_grad_pos, or the q4_0 -> f32 lookup into malloc's
                          output, 16 bytes past a line (line.realign: the 16-bit
                          gradients' lead follows it, untimed; at the shapes'
                          768-float rows the f16 gradient timed 0.97-1.03, its
                          losses were at 64 and 67 floats, tuning.c), the
                          f16 -> f32 lookup (narrow.max_bytes), or the q4_0
                          lookup again (line.halves) */
    int hints;         /* HINTED: it shapes the hints, which only tables past
                          the prefetch threshold get: timed on hinted_shape
                          too; CACHED: it hints tables below it: timed on
                          cached_shape too; SMALL: it moves calls under a
                          MiB: timed on small_shape only; STORES: it moves
                          the ordinary stores of a call that does not stream:
                          timed on stores_shape only (at the loop shapes
                          both sides of those two run the same code) */
} loop_candidate;

enum { HINTED = 1, CACHED = 2, SMALL = 3, STORES = 4 };

static const loop_candidate loop_candidates[] = {
    {"prefetch.bytes", 2048, 0, ON_ROWS, HINTED},
    {"prefetch.bytes", 8192, 0, ON_ROWS, HINTED},
    {"in_flight.min_dim", 128, 1, ON_ROWS, 0},
    {"in_flight.min_dim", 512, 1, ON_ROWS, 0},
    {"stream.llc_eighths", 3, 0, ON_ROWS, 0},
    {"stream.llc_eighths", 8, 0, ON_ROWS, 0},
    {"bag.ahead_multiple", 1, 0, ON_BAG, HINTED},
    {"bag.ahead_multiple", 4, 0, ON_BAG, HINTED},
    {"bag.hint_level", 1, 0, ON_BAG, HINTED},
    {"bag.cached_hint", 1, 0, ON_BAG, CACHED},
    {"in_flight.pos_grad_min_dim", 256, 0, ON_POS_GRAD, 0},
    {"grad.prefetch_llc_eighths", 0, 0, ON_GRAD, 0},
    {"line.realign", 0, 0, ON_LINES, 0},
    {"narrow.max_bytes", (size_t)1 << 20, 0, ON_NARROW, SMALL},
    {"line.halves", 1, 0, ON_HALVES, STORES},
};
enum { N_LOOP_CANDIDATES = sizeof loop_candidates / sizeof loop_candidates[0] };

/* The bytes of a table from which the loops hint, for a threshold of
 * `eighths` of the LLC (schedule.c). */
static size_t threshold_bytes(size_t eighths)
{
    return (size_t)emb_llc_bytes() / 8 * eighths;
}

/* The hint items' own shape, in every run: 128-float rows (a
 * recommender's) in a table twice the larger prefetch threshold, 64 MiB
 * at least, so that the loops hint on both sides of the pairing. Where the
 * LLC is large, the other shapes' tables are below the threshold and both
 * sides ran the same loop: on an Intel Xeon (family 6 model 167, 480 MiB
 * of L3 in sysfs, so hints from 180 MB) GPT-2's 154 MB table timed
 * bag.hint_level 1 at 1.00, and this shape at 1.36 (2026-12-07). */
static shape hinted_shape(int tiny)
{
    if (tiny) /* past the threshold where the LLC (EMBSIMD_LLC) is 2.6 MiB or less */
        return (shape){4096, 64, 640, "a 1 MiB table (--tiny)"};
    const emb_loop_schedule *L = &emb_schedule_current()->loops;
    const size_t eighths = L->prefetch_llc_eighths > L->grad_prefetch_llc_eighths
                               ? L->prefetch_llc_eighths
                               : L->grad_prefetch_llc_eighths;
    size_t bytes = threshold_bytes(eighths) * 2;
    if (bytes < (size_t)64 << 20)
        bytes = (size_t)64 << 20;
    const shape s = {(int64_t)(bytes / (128 * sizeof(float))), 128, 20480,
                     "128-float rows past the prefetch threshold"};
    return s;
}

/* narrow.max_bytes's shape: 64-float rows from a table and into an
 * output that stay in L2 (128 KiB each), where the Intel Xeon measured
 * ran the YMM loop faster (tuning.c). */
static const shape small_shape = {1000, 64, 512, "a call under a MiB"};

/* line.halves's shape: 768-float rows from a table in L2 into a 1.5 MiB
 * output in the LLC, written by ordinary stores (tuning.c has the
 * figures there). */
static const shape stores_shape = {1000, 768, 512, "an output in the LLC"};

/* bag.cached_hint's shape: the PyTorch peers' 32000 x 128 table (16 MB),
 * or half the prefetch threshold where that is smaller, so that the loops
 * do not hint it by default. */
static shape cached_shape(int tiny)
{
    if (tiny)
        return (shape){2048, 64, 640, "a 512 KiB table (--tiny)"};
    const size_t half = threshold_bytes(emb_schedule_current()->loops.prefetch_llc_eighths) / 2;
    const int64_t rows = half < (size_t)16 << 20 ? (int64_t)(half / (128 * sizeof(float))) : 32000;
    return (shape){rows > 64 ? rows : 64, 128, 20480, "128-float rows below the prefetch threshold"};
}

static size_t *loop_field_named(emb_loop_schedule *L, const char *name)
{
    size_t *field;
    const char *n;
    for (int i = 0; (n = emb_schedule_loop_item(i, L, &field)) != NULL; i++)
        if (strcmp(n, name) == 0)
            return field;
    return NULL;
}

/* A bag sum of bags of 20 over a job's table and ids (its out as output:
 * the bags' rows are a twentieth of the lookup's). */
static int bag_call(job *j)
{
    const int64_t nbags = j->n / 20;
    int32_t lengths[1024];
    if (nbags > 1024)
        return -1;
    for (int64_t b = 0; b < nbags; b++)
        lengths[b] = 20;
    const emb_bags bags = {nbags, NULL, lengths, EMB_I32, 0, NULL, EMB_NO_PADDING};
    return emb_bag(j->table, EMB_F32, j->vocab, j->dim, job_ids(j), EMB_I32, nbags * 20, &bags,
                   EMB_BAG_SUM, (float *)j->out, NULL) == EMB_OK ? 0 : -1;
}

/* The fused positional gradient of a gradient job (positions i % 1024,
 * as a batch of GPT-2's sequences). */
static int pos_grad_call(job *j)
{
    const emb_positions pos = {NULL, 0, POS_ROWS};
    return emb_grad_pos((float *)j->table, j->vocab, j->dpos, POS_ROWS, j->dim, job_ids(j),
                        EMB_I32, j->n, &pos, j->out, EMB_F32, NULL) == EMB_OK ? 0 : -1;
}

static int tune_loops(const shape *sh, int nshapes, const shape *hinted, const shape *cached,
                      int rounds, gen_rng *r, char chosen[][80], int *nchosen, char *report,
                      size_t size, emb_loop_schedule *kept_out)
{
    const emb_loop_schedule dflt = emb_schedule_current()->loops;
    const emb_kernel *lookup = NULL, *grad = NULL, *q4_0 = NULL, *f16 = NULL;
    for (int k = 0; k < emb_kernel_count(); k++) {
        const emb_kernel *K = emb_kernel_at(k);
        if (K->in == EMB_F32 && K->out == EMB_F32 && K->op == EMB_OP_LOOKUP)
            lookup = K;
        if (K->in == EMB_F32 && K->out == EMB_F32 && K->op == EMB_OP_GRAD)
            grad = K;
        if (K->in == EMB_Q4_0 && K->out == EMB_F32 && K->op == EMB_OP_LOOKUP)
            q4_0 = K;
        if (K->in == EMB_F16 && K->out == EMB_F32 && K->op == EMB_OP_LOOKUP)
            f16 = K;
    }
    size_t used = (size_t)snprintf(report, size, "| constant | default | candidate | time / default's, "
                                                 "per shape and op | kept |\n| --- | --- | --- | --- | --- |\n");
    emb_loop_schedule kept = dflt;
    for (int c = 0; c < N_LOOP_CANDIDATES; c++) {
        const loop_candidate *lc = &loop_candidates[c];
        emb_loop_schedule cand = dflt;
        size_t *field = loop_field_named(&cand, lc->item);
        if (field == NULL)
            continue;
        const size_t was = *field;
        *field = lc->value;
        const int bag = lc->on == ON_BAG, pos = lc->on == ON_POS_GRAD, lines = lc->on == ON_LINES;
        const int narrow = lc->on == ON_NARROW, halves = lc->on == ON_HALVES;
        const int first_op = pos || lc->on == ON_GRAD,
                  last_op = !bag && !lines && !narrow && !halves;
        /* A row-length threshold is timed at rows it moves, the shorter
         * of the two values, in tables and outputs of the shape's bytes: at
         * the shapes' 768-float rows both sides of in_flight.min_dim's
         * candidates ran the same loop, and a Zen 1 kept 128 on a 0.96 of
         * noise, then ran 32000 x 128 x 8192 lookups at 0.78-0.92x memcpy
         * against the default's 0.98-1.09x. */
        const int row_threshold = lc->row_threshold;
        const int64_t at_dim = (int64_t)(was < lc->value ? was : lc->value);
        int wins = 0, worse = 0;
        used += (size_t)snprintf(report + used, size - used, "| %s | %zu | %zu |", lc->item, was,
                                 lc->value);
        if (row_threshold)
            used += (size_t)snprintf(report + used, size - used, " at D = %lld:", (long long)at_dim);
        const shape *extra = lc->hints == HINTED   ? hinted
                             : lc->hints == CACHED ? cached
                             : lc->hints == SMALL  ? &small_shape
                             : lc->hints == STORES ? &stores_shape
                                                   : NULL;
        const int timed_shapes = nshapes + (extra != NULL);
        const int own_shape_only = lc->hints == SMALL || lc->hints == STORES;
        for (int s = own_shape_only ? nshapes : 0; s < timed_shapes; s++)
            /* the lookup's job (0) and the gradient's (1): a bag item
             * times a bag sum on the lookup's, the positional item the
             * fused gradient on the gradient's, a gradient item the
             * gradient alone */
            for (int op = first_op; op <= last_op; op++) {
                shape at = s < nshapes ? sh[s] : *extra;
                if (row_threshold) {
                    at.vocab = at.vocab * at.dim / at_dim;
                    at.tokens = at.tokens * at.dim / at_dim;
                    at.dim = at_dim;
                }
                job j;
                const emb_kernel *timed = lines || halves ? q4_0 : narrow ? f16 : op ? grad : lookup;
                if (job_make(&j, timed, &at, r) != 0) {
                    job_free(&j);
                    continue;
                }
                /* A positional gradient is a model's, of text: Zipf ids,
                 * whose frequent rows stay cached (with uniform ids every
                 * row came from DRAM, and on a Zen 1 both loops took the
                 * same time, where with Zipf ids one was 10-20 % ahead). */
                if (pos)
                    gen_ids(r, j.pool, (size_t)j.pool_n, at.vocab, GEN_IDS_ZIPF);
                double rr[1000];
                int faster = 0;
                for (int round = 0; round < rounds; round++) {
                    double t[2];
                    for (int side = 0; side < 2; side++) {
                        const int is_cand = (side + round) % 2;
                        emb_schedule_set_loops(is_cand ? &cand : &dflt);
                        t[is_cand] = time_of(bag ? bag_call : pos ? pos_grad_call : run_once, &j);
                    }
                    rr[round] = t[1] / t[0];
                    faster += t[1] < t[0];
                }
                emb_schedule_set_loops(&dflt);
                const double m = median(rr, rounds);
                wins += m < WIN && faster >= WIN_SHARE * rounds;
                worse += m > LOSE;
                const char *what = bag       ? "bag"
                                   : pos    ? "fused positional grad"
                                   : lines || halves ? "q4_0 lookup"
                                   : narrow ? "f16 lookup"
                                   : op     ? "grad"
                                            : "lookup";
                used += (size_t)snprintf(report + used, size - used, " %s %.2f;", what, m);
                job_free(&j);
            }
        const int keep = wins > 0 && worse == 0;
        used += (size_t)snprintf(report + used, size - used, " | %s |\n", keep ? "yes" : "no");
        fprintf(stderr, "\r[loops %d/%d] %-24s%30s", c + 1, N_LOOP_CANDIDATES, lc->item, "");
        if (keep)
            *loop_field_named(&kept, lc->item) = lc->value;
    }
    *kept_out = kept;
    /* the kept values, one line each, last candidate of a constant winning */
    size_t *field;
    const char *name;
    emb_loop_schedule d = dflt;
    for (int i = 0; (name = emb_schedule_loop_item(i, &kept, &field)) != NULL; i++) {
        size_t *df;
        emb_schedule_loop_item(i, &d, &df);
        if (*field != *df)
            snprintf(chosen[(*nchosen)++], 80, "%s %zu", name, *field);
    }
    return 0;
}

int main(int argc, char **argv)
{
    options o;
    if (parse(argc, argv, &o) != 0)
        return 2;
    if (o.show) {
        printf("%s\n", emb_schedule_description());
        return 0;
    }
    if (o.identity) {
        char cpu[512];
        emb_cpu_identity(cpu, sizeof cpu);
        printf("%s\n", cpu);
        return 0;
    }
    /* Measure against the library's own defaults, not an earlier tuning. */
    setenv("EMBSIMD_TUNING", "off", 1);
    unsetenv("EMBSIMD_KERNEL_IMPL");
    char path[1024], id[512];
    if (o.output)
        snprintf(path, sizeof path, "%s", o.output);
    else if (emb_tuning_default_path(path, sizeof path) != 0) {
        fprintf(stderr, "embsimd-tune: neither XDG_CACHE_HOME nor HOME is set: give --output=PATH\n");
        return 2;
    }
    emb_cpu_identity(id, sizeof id);
    const double start = now();
    printf("embsimd-tune %s on %s\n  mode: %s, %d paired rounds per shape\n", emb_version(), id,
           o.tiny ? "tiny" : o.quick ? "quick" : "default", o.rounds);
    /* Pairing cancels a steady load, not one that comes and goes; a busy
     * machine's thread figures mostly measure the other work. */
    double load = -1;
    FILE *la = fopen("/proc/loadavg", "r");
    if (la != NULL) {
        if (fscanf(la, "%lf", &load) != 1)
            load = -1;
        fclose(la);
    }
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (load >= 0)
        printf("  load: %.2f on %ld CPUs%s\n", load, cpus,
               load > 0.5 ? ": other work is running, so these figures are unreliable; tune on a "
                            "quiet machine" : "");

    const shape *sh = o.tiny ? &tiny_shape : shapes;
    const int nshapes = o.tiny || o.quick ? 1 : (int)(sizeof shapes / sizeof shapes[0]);
    /* the kernels' shapes: the loops', then long rows in the default run */
    shape ksh[4];
    int nk = 0;
    for (; nk < nshapes; nk++)
        ksh[nk] = sh[nk];
    if (!o.tiny && !o.quick)
        ksh[nk++] = long_shape;
    gen_rng r = gen_seed(20261205);
    int steps = 0, step = 0;
    for (int k = 0; k < emb_kernel_count(); k++)
        steps += (emb_kernel_at(k)->op == EMB_OP_LOOKUP || emb_kernel_at(k)->op == EMB_OP_GRAD) *
                 nk;
    char lines[64][256], chosen[160][80];
    int nlines = 0, nchosen = 0;
    /* The loop constants first, and the kernels timed under those kept:
     * each kernel's choice is made where its code will run. On an AMD Zen 4
     * AVX-512's q4_0 lookup into malloc's output ran at 0.79-0.87x AVX2's
     * speed under line.realign 1 and 1.09-1.18x under 0 (tuning.c): timed
     * under the default, the kernel went to AVX2's code. */
    char loops_report[4096];
    const shape hinted = hinted_shape(o.tiny), cached = cached_shape(o.tiny);
    emb_loop_schedule kept_loops;
    tune_loops(sh, nshapes, &hinted, &cached, o.rounds, &r, chosen, &nchosen, loops_report,
               sizeof loops_report, &kept_loops);
    emb_schedule_set_loops(&kept_loops);
    for (int k = 0; k < emb_kernel_count() && nlines < 64; k++) {
        const emb_kernel *K = emb_kernel_at(k);
        if (K->op != EMB_OP_LOOKUP && K->op != EMB_OP_GRAD)
            continue;
        const char *pick[EMB_ROW_CLASSES];
        tune_kernel(k, ksh, nk, o.rounds, &r, pick, lines[nlines], sizeof lines[nlines], &step,
                    steps);
        nlines++;
        /* one line for both row classes where both were timed and agree */
        if (nk > nshapes && pick[EMB_ROWS_SHORT] != NULL &&
            pick[EMB_ROWS_SHORT] == pick[EMB_ROWS_LONG]) {
            snprintf(chosen[nchosen++], sizeof chosen[0], "kernel %s %s", K->name,
                     pick[EMB_ROWS_SHORT]);
            continue;
        }
        for (int c = 0; c < EMB_ROW_CLASSES; c++)
            if (pick[c] != NULL)
                snprintf(chosen[nchosen++], sizeof chosen[0], "kernel %s %s %s", K->name, pick[c],
                         emb_row_class_name(c));
    }
    fprintf(stderr, "\r[threads] the break-even of a second thread%40s", "");
    char threads_report[1024];
    size_t min_bytes, wake_bytes;
    tune_threads(o.rounds, &r, o.tiny, threads_report, sizeof threads_report, &min_bytes,
                 &wake_bytes);
    fprintf(stderr, "\r%80s\r", "");

    printf("\n| kernel | default code | other code: time / default's, per shape | chosen |\n"
           "| --- | --- | --- | --- |\n");
    for (int i = 0; i < nlines; i++)
        printf("%s\n", lines[i]);
    printf("\nshapes (V x D x N):");
    for (int s = 0; s < nk; s++)
        printf("%s %lld x %lld x %lld (%s)", s ? ";" : "", (long long)ksh[s].vocab,
               (long long)ksh[s].dim, (long long)ksh[s].tokens, ksh[s].why);
    printf("; the loop constants on the first %d", nshapes);
    printf(", the hints' (prefetch.bytes, bag.ahead_multiple, bag.hint_level) on %lld x %lld x "
           "%lld too (%s), bag.cached_hint on %lld x %lld x %lld too (%s), narrow.max_bytes on "
           "%lld x %lld x %lld only (%s), line.halves on %lld x %lld x %lld only (%s)",
           (long long)hinted.vocab, (long long)hinted.dim, (long long)hinted.tokens, hinted.why,
           (long long)cached.vocab, (long long)cached.dim, (long long)cached.tokens, cached.why,
           (long long)small_shape.vocab, (long long)small_shape.dim,
           (long long)small_shape.tokens, small_shape.why, (long long)stores_shape.vocab,
           (long long)stores_shape.dim, (long long)stores_shape.tokens, stores_shape.why);
    printf("\n\nloop constants, the f32 lookup and gradient (bag.*: bags of 20; "
           "in_flight.pos_grad_min_dim: emb_grad_pos, Zipf ids; line.realign: the q4_0 lookup; "
           "narrow.max_bytes: the f16 -> f32 lookup; line.halves: the q4_0 lookup), median ratio "
           "of paired rounds:\n%s",
           loops_report);
    printf("\nthreads, the f32 lookup of 768-float rows (median ratio of paired rounds):\n%s",
           threads_report);
    if (min_bytes == SIZE_MAX)
        printf("a second thread never won by 5 %%: every call stays on one thread\n");
    else if (wake_bytes == SIZE_MAX)
        printf("a second thread from %zu KiB a thread while it is awake; never woken for a call\n",
               min_bytes >> 10);
    else
        printf("a second thread from %zu KiB a thread while it is awake, from %zu KiB to wake it\n",
               min_bytes >> 10, wake_bytes >> 10);

    char made[128];
    const time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(made, sizeof made, "%Y-%m-%dT%H:%MZ", &tm);
    if (o.dry_run) {
        printf("\n--dry-run: nothing written (%.0f s)\n", now() - start);
        return 0;
    }
    /* mkdir -p of the file's folder */
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
                fprintf(stderr, "embsimd-tune: cannot create %s: %s\n", dir, strerror(errno));
                return 1;
            }
            *p = '/';
        }
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "embsimd-tune: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    fprintf(f, "embsimd-tuning 2\ncpu %s\nmade %s by embsimd-tune %s (%s, %d rounds)\n", id, made,
            emb_version(), o.tiny ? "tiny" : o.quick ? "quick" : "default", o.rounds);
    fprintf(f, "threads.min_bytes %zu\nthreads.wake_min_bytes %zu\n", min_bytes, wake_bytes);
    for (int i = 0; i < nchosen; i++)
        fprintf(f, "%s\n", chosen[i]);
    if (fclose(f) != 0) {
        fprintf(stderr, "embsimd-tune: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    printf("\nwrote %s (%d kernel choice%s; %.0f s)\n", path, nchosen, nchosen == 1 ? "" : "s",
           now() - start);
    return 0;
}
