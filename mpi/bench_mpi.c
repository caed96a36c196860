/* bench_mpi.c - embsimd-bench-mpi: the throughput of one sharded op at the
 * ranks it runs on, with the all-to-all's share of the call split out, or
 * (--single) of the same op on the whole table in one process: the
 * baseline mpi/bench_mpi.sh runs beside it. One line of results per run.
 *
 * The global batch is fixed (--batch tokens in all), split evenly over the
 * ranks, so tokens per second compare directly across rank counts. Each
 * sample times back-to-back calls between two barriers: the slowest
 * rank's time per call; the median of the samples is reported. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embsimd_mpi.h"
#include "gen.h"

typedef struct opts {
    const char *op; /* lookup, bag, adagrad */
    int64_t vocab, dim, batch, bag;
    int single, cyclic, threads, zipf;
    double seconds;
} opts;

static int rank, nranks;

static void usage(FILE *f)
{
    fprintf(f, "usage: embsimd-bench-mpi [--op=lookup|bag|adagrad] [--vocab=N] [--dim=N]\n"
               "       [--batch=TOKENS] [--bag=TOKENS_PER_BAG] [--layout=ranges|cyclic]\n"
               "       [--ids=uniform|zipf] [--threads=N] [--seconds=S] [--single]\n"
               "Run under mpirun; --single times the op on the whole table in one process.\n");
}

static int parse_int(const char *arg, const char *v, int64_t lo, int64_t *out)
{
    char *end;
    errno = 0;
    const long long x = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || x < lo) {
        if (rank == 0)
            fprintf(stderr, "embsimd-bench-mpi: \"%s\": a whole number >= %lld expected\n", arg,
                    (long long)lo);
        return 0;
    }
    *out = x;
    return 1;
}

static int parse(int argc, char **argv, opts *o)
{
    *o = (opts){"lookup", 50257, 768, 8192, 20, 0, 0, 1, 0, 1.0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *eq = strchr(a, '=');
        const char *v = eq != NULL ? eq + 1 : "";
        int64_t x = 0;
        if (strcmp(a, "--help") == 0) {
            if (rank == 0)
                usage(stdout);
            return 0;
        } else if (strcmp(a, "--single") == 0) {
            o->single = 1;
        } else if (strncmp(a, "--op=", 5) == 0 &&
                   (!strcmp(v, "lookup") || !strcmp(v, "bag") || !strcmp(v, "adagrad"))) {
            o->op = v;
        } else if (strncmp(a, "--ids=", 6) == 0 && (!strcmp(v, "uniform") || !strcmp(v, "zipf"))) {
            o->zipf = !strcmp(v, "zipf");
        } else if (strncmp(a, "--layout=", 9) == 0 && (!strcmp(v, "ranges") || !strcmp(v, "cyclic"))) {
            o->cyclic = !strcmp(v, "cyclic");
        } else if (strncmp(a, "--vocab=", 8) == 0 && parse_int(a, v, 1, &x)) {
            o->vocab = x;
        } else if (strncmp(a, "--dim=", 6) == 0 && parse_int(a, v, 1, &x)) {
            o->dim = x;
        } else if (strncmp(a, "--batch=", 8) == 0 && parse_int(a, v, 1, &x)) {
            o->batch = x;
        } else if (strncmp(a, "--bag=", 6) == 0 && parse_int(a, v, 1, &x)) {
            o->bag = x;
        } else if (strncmp(a, "--threads=", 10) == 0 && parse_int(a, v, 1, &x) && x <= 256) {
            o->threads = (int)x;
        } else if (strncmp(a, "--seconds=", 10) == 0 && atof(v) > 0 && atof(v) <= 30) {
            o->seconds = atof(v);
        } else {
            if (rank == 0) {
                fprintf(stderr, "embsimd-bench-mpi: \"%s\" is not an option here\n", a);
                usage(stderr);
            }
            return -1;
        }
    }
    return 1;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n > 0 ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "embsimd-bench-mpi: out of memory (%zu bytes)\n", n);
        MPI_Abort(MPI_COMM_WORLD, 3);
    }
    return p;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One op on this rank's part of the batch: sharded, or on the whole table. */
typedef struct work {
    const opts *o;
    emb_mpi_table *t;
    float *table; /* --single: the whole table */
    int64_t *ids, n, nbags;
    int64_t *lengths;
    float *out, *dout, *h;
} work;

static emb_status run_op(work *w)
{
    const opts *o = w->o;
    const emb_bags b = {w->nbags, NULL, w->lengths, EMB_I64, 0, NULL, EMB_NO_PADDING};
    const emb_step st = {EMB_OPT_ROWWISE_ADAGRAD, 0.01f, 1e-8f, w->h, 0};
    if (!strcmp(o->op, "lookup"))
        return o->single ? emb_lookup(w->table, EMB_F32, o->vocab, o->dim, w->ids, EMB_I64, w->n,
                                      w->out, EMB_F32)
                         : emb_mpi_lookup(w->t, w->ids, EMB_I64, w->n, w->out, EMB_F32);
    if (!strcmp(o->op, "bag"))
        return o->single ? emb_bag(w->table, EMB_F32, o->vocab, o->dim, w->ids, EMB_I64, w->n, &b,
                                   EMB_BAG_SUM, w->out, NULL)
                         : emb_mpi_bag(w->t, w->ids, EMB_I64, w->n, &b, EMB_BAG_SUM, w->out, NULL);
    return o->single ? emb_bag_update(w->table, EMB_F32, o->vocab, o->dim, w->ids, EMB_I64, w->n,
                                      &b, EMB_BAG_SUM, w->dout, &st)
                     : emb_mpi_bag_update(w->t, w->ids, EMB_I64, w->n, &b, EMB_BAG_SUM, w->dout,
                                          &st);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    opts o;
    const int p = parse(argc, argv, &o);
    if (p <= 0) {
        MPI_Finalize();
        return p == 0 ? 0 : 2;
    }
    if (o.single && nranks != 1) {
        if (rank == 0)
            fprintf(stderr, "embsimd-bench-mpi: --single runs at one rank (mpirun -np 1)\n");
        MPI_Finalize();
        return 2;
    }
    emb_set_num_threads(o.threads);
    const size_t rb = (size_t)o.dim * sizeof(float);
    emb_mpi_table t;
    if (emb_mpi_table_init(&t, MPI_COMM_WORLD, o.vocab, o.dim, EMB_F32,
                           o.cyclic ? EMB_MPI_CYCLIC : EMB_MPI_RANGES, NULL, NULL) != EMB_OK) {
        fprintf(stderr, "embsimd-bench-mpi: %s\n", emb_mpi_last_error());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    work w = {&o, &t, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL};
    /* The table: every row from emb_init, so the shards are the whole
     * table's rows wherever they live. */
    const int64_t rows = o.single ? o.vocab : t.local_rows;
    float *tab = xmalloc((size_t)rows * rb);
    for (int64_t k = 0; k < rows; k++)
        emb_init(tab + (size_t)k * (size_t)o.dim, EMB_F32,
                 o.single ? k : emb_mpi_global_row(&t, rank, k), 1, o.dim, EMB_INIT_UNIFORM,
                 0.1f, 42);
    w.table = tab;
    t.rows = tab;
    w.h = xmalloc((size_t)rows * sizeof(float));
    memset(w.h, 0, (size_t)rows * sizeof(float));
    /* This rank's share of the global batch, in whole bags. */
    const int64_t bag = !strcmp(o.op, "lookup") ? 1 : o.bag;
    const int64_t gbags = o.batch / bag;
    w.nbags = gbags / nranks + (rank < gbags % nranks);
    w.n = w.nbags * bag;
    w.ids = xmalloc((size_t)w.n * sizeof *w.ids);
    w.lengths = xmalloc((size_t)w.nbags * sizeof *w.lengths);
    gen_rng g = gen_seed(7 + (uint64_t)rank);
    /* Zipf: P(id = k) falls as 1/(k+1), the hot rows at small ids as in a
     * vocabulary sorted by frequency (gen.h). */
    int32_t *z = o.zipf ? xmalloc((size_t)w.n * sizeof *z) : NULL;
    if (o.zipf)
        gen_ids(&g, z, (size_t)w.n, o.vocab, GEN_IDS_ZIPF);
    for (int64_t i = 0; i < w.n; i++)
        w.ids[i] = o.zipf ? z[i] : (int64_t)gen_below(&g, (uint64_t)o.vocab);
    free(z);
    for (int64_t k = 0; k < w.nbags; k++)
        w.lengths[k] = bag;
    const int64_t orows = !strcmp(o.op, "lookup") ? w.n : w.nbags;
    w.out = xmalloc((size_t)orows * rb);
    w.dout = xmalloc((size_t)w.nbags * rb);
    gen_fill_finite(&g, w.dout, (size_t)(w.nbags * o.dim));
    for (int64_t i = 0; i < w.nbags * o.dim; i++)
        w.dout[i] *= 0x1p-30f; /* small steps: the table stays finite */

    /* Calibrate on three calls, then time as many as fit in --seconds. */
    double t0 = MPI_Wtime();
    for (int i = 0; i < 3; i++)
        if (run_op(&w) != EMB_OK) {
            fprintf(stderr, "embsimd-bench-mpi: %s\n", o.single ? emb_last_error() : emb_mpi_last_error());
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
    double per = (MPI_Wtime() - t0) / 3;
    MPI_Allreduce(MPI_IN_PLACE, &per, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    /* Samples of `reps` back-to-back calls (about 100 ms) between two
     * barriers: a barrier on a loaded machine can cost a time slice, which
     * would fall on every call if each sat between barriers. */
    int reps = (int)(0.1 / (per > 1e-6 ? per : 1e-6));
    reps = reps < 1 ? 1 : reps > 1000 ? 1000 : reps;
    int iters = (int)(o.seconds / (reps * (per > 1e-6 ? per : 1e-6)));
    iters = iters < 5 ? 5 : iters > 2000 ? 2000 : iters;
    MPI_Bcast(&reps, 1, MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Bcast(&iters, 1, MPI_INT, 0, MPI_COMM_WORLD);
    double *times = xmalloc((size_t)iters * sizeof *times);
    memset(&t.stats, 0, sizeof t.stats);
    for (int i = 0; i < iters; i++) {
        MPI_Barrier(MPI_COMM_WORLD);
        const double a = MPI_Wtime();
        for (int k = 0; k < reps; k++)
            run_op(&w);
        MPI_Barrier(MPI_COMM_WORLD);
        times[i] = (MPI_Wtime() - a) / reps;
    }
    qsort(times, (size_t)iters, sizeof *times, cmp_double);
    const double med = times[iters / 2];
    /* The all-to-all's share: each rank's comm time over its op time,
     * the largest over the ranks; bytes: the largest rank's. */
    double share = t.stats.comm_seconds /
                   (t.stats.comm_seconds + t.stats.local_seconds > 0
                        ? t.stats.comm_seconds + t.stats.local_seconds
                        : 1);
    double sent = (double)t.stats.bytes_sent / ((double)iters * reps);
    MPI_Allreduce(MPI_IN_PLACE, &share, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &sent, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    if (rank == 0)
        printf("op=%s mode=%s ranks=%d layout=%s ids=%s threads=%d vocab=%lld dim=%lld batch=%lld "
               "bag=%lld samples=%dx%d median_ms=%.4f mtok_per_s=%.3f comm_share=%.3f "
               "sent_mb_per_rank=%.3f\n",
               o.op, o.single ? "single" : "sharded", nranks, o.cyclic ? "cyclic" : "ranges",
               o.zipf ? "zipf" : "uniform",
               o.threads, (long long)o.vocab, (long long)o.dim, (long long)(gbags * bag),
               (long long)bag, iters, reps, med * 1e3, (double)(gbags * bag) / med / 1e6,
               o.single ? 0.0 : share, o.single ? 0.0 : sent / 1e6);
    free(times);
    free(tab);
    free(w.h);
    free(w.ids);
    free(w.lengths);
    free(w.out);
    free(w.dout);
    emb_mpi_table_free(&t);
    MPI_Finalize();
    return 0;
}
