/* embsimd_word2vec.c - embsimd-word2vec: skip-gram with negative sampling
 * (word2vec) trained from scratch on an English corpus with embsimd's ops,
 * the same bits on every implementation and thread count; writes the
 * trained table for embsimd-similar. docs/word2vec.md. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "embsimd.h"
#include "w2v_corpus.h"
#include "w2v_eval.h"
#include "w2v_math.h"
#include "w2v_train.h"

#define DEFAULT_CORPUS "/usr/share/dictd/gcide.dict.dz"

static const char *prog = "embsimd-word2vec";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: %s [OPTIONS]\n"
            "\n"
            "Trains word vectors (skip-gram with negative sampling, word2vec) on an English\n"
            "corpus with embsimd's ops: rows fetched by emb_lookup, scored by emb_scan,\n"
            "gradients summed by emb_bag and applied by emb_bag_update's fused SGD step. The\n"
            "trained table has the same bits on every implementation (EMBSIMD_IMPL) and\n"
            "thread count (--threads, EMBSIMD_NUM_THREADS); its digest is printed.\n"
            "\n"
            "Options (defaults in brackets; gensim's names and defaults where it has them):\n"
            "  --corpus FILE      text, or gzip/dictzip text [" DEFAULT_CORPUS
            ",\n"
            "                     the GCIDE dictionary from Debian's dict-gcide]\n"
            "  --output FILE      write the word vectors as an embsimd-similar table\n"
            "  --dim N            vector size [100]\n"
            "  --window N         largest context distance, 1..64 [5]\n"
            "  --negative N       negative words per pair, 0..64 [5]\n"
            "  --epochs N         passes over the corpus [5]\n"
            "  --min-count N      words seen fewer times are dropped [5]\n"
            "  --sample X         subsampling threshold, 0 for none [0.001]\n"
            "  --alpha X          first learning rate [0.025]\n"
            "  --min-alpha X      last learning rate [0.0001]\n"
            "  --batch N          centers per batch (changes the result) [256]\n"
            "  --threads N        threads (never change the result) [the library's:\n"
            "                     EMBSIMD_NUM_THREADS, else the CPUs]\n"
            "  --seed N           [1]\n"
            "  --max-words N      read only the first N words of the corpus [all]\n"
            "  --quick            a seconds-long run for tests: the first 500000 words,\n"
            "                     --dim 32 --epochs 3 --min-count 3 (options after it win)\n"
            "  --impl NAME        run the library's NAME implementation [the best]\n"
            "  --write-corpus F   write the tokenised corpus, one sentence a line (what\n"
            "                     gensim's LineSentence reads as the same words)\n"
            "  --snapshots DIR    write DIR/epoch-E.emb (word vectors) and epoch-E.out.emb\n"
            "                     (context vectors) at initialisation (E = 0) and after\n"
            "                     each epoch\n"
            "  --progress S       a progress line every S seconds on stderr, 0: none [2]\n"
            "  --list-classes     print the word classes measured after each epoch and exit\n"
            "  --help             this text\n"
            "\n"
            "Output on stdout: the corpus, per epoch its loss (mean over pairs of\n"
            "-ln sigma(context) - sum ln sigma(-negative)), words/s and the mean cosine\n"
            "within word classes against random pairs, the training speed, and\n"
            "'digest: ' with FNV-1a 64 of both tables' bytes.\n",
            prog);
}

static _Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static _Noreturn void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static int64_t parse_int(const char *opt, const char *v, int64_t lo, int64_t hi)
{
    char *end;
    errno = 0;
    const long long x = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || x < lo || x > hi)
        die("--%s=\"%s\": not an integer in [%" PRId64 ", %" PRId64 "]", opt, v, lo, hi);
    return x;
}

static double parse_real(const char *opt, const char *v, double lo, double hi)
{
    char *end;
    errno = 0;
    const double x = strtod(v, &end);
    if (errno != 0 || end == v || *end != '\0' || !(x >= lo && x <= hi))
        die("--%s=\"%s\": not a number in [%g, %g]", opt, v, lo, hi);
    return x;
}

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double now(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

/* CPU seconds of every thread of the process: on a shared machine, wall
 * time also counts the time other programs held the CPUs. */
static double cpu_now(void)
{
    return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

/* ---- what the hooks see ---------------------------------------------------- */

typedef struct run {
    const w2v_corpus *c;
    const w2v_params *p;
    const char *snapshots;
    double progress_s;
    double start, last_print;
    double hook_s;   /* time in the epoch hook (evaluation, snapshots): not training */
    double epoch_start_train; /* training seconds when the epoch began */
    double cpu_start, hook_cpu, epoch_start_cpu; /* the same in CPU seconds */
} run;

/* Training seconds so far: wall time less the hooks'. */
static double train_s(const run *r)
{
    return now() - r->start - r->hook_s;
}

static double train_cpu(const run *r)
{
    return cpu_now() - r->cpu_start - r->hook_cpu;
}

/* Corpus words (all, in the vocabulary or not, as gensim's raw words) per
 * second, from the vocabulary words behind us. */
static double words_per_s(const run *r, int64_t vocab_words, double seconds)
{
    const double words = (double)vocab_words * (double)r->c->tokens / (double)r->c->nids;
    return seconds > 0 ? words / seconds : 0;
}

static void on_batch(void *ctx, const w2v_status *s)
{
    run *r = ctx;
    if (r->progress_s <= 0)
        return;
    const double t = now();
    if (t - r->last_print < r->progress_s)
        return;
    r->last_print = t;
    fprintf(stderr, "%s: epoch %d/%d %5.1f%%  alpha %.6f  loss %.4f  %.0f words/s\n", prog,
            s->epoch + 1, r->p->epochs, s->centers ? 100.0 * (double)s->done / (double)s->centers : 0,
            s->alpha, s->pairs ? s->loss / (double)s->pairs : 0.0,
            words_per_s(r, s->words, train_s(r)));
}

static void snapshot(const run *r, const char *what, int epoch, const float *table)
{
    char path[4096], desc[89];
    snprintf(path, sizeof path, "%s/epoch-%d%s.emb", r->snapshots, epoch, what);
    snprintf(desc, sizeof desc, "embsimd-word2vec %s epoch %d of %d, dim %" PRId64 ", seed %" PRIu64,
             what[0] ? "context vectors" : "word vectors", epoch, r->p->epochs, r->p->dim,
             r->p->seed);
    if (w2v_write_table(path, r->c, table, r->p->dim, desc) != 0)
        die("%s: %s", path, strerror(errno));
}

static void on_epoch(void *ctx, const w2v_status *s, const w2v_model *m)
{
    run *r = ctx;
    const double t0 = now(), c0 = cpu_now();
    const int e = s->epoch + 1; /* 0: initialisation */
    if (e > 0) {
        const double secs = train_s(r) - r->epoch_start_train;
        const double cpu = train_cpu(r) - r->epoch_start_cpu;
        printf("epoch %d loss %.6f pairs %" PRId64 " centers %" PRId64
               " seconds %.3f words/s %.0f cpu-seconds %.3f\n",
               e, s->pairs ? s->loss / (double)s->pairs : 0.0, s->pairs, s->centers, secs,
               words_per_s(r, r->c->nids, secs), cpu);
    }
    w2v_classes cl;
    w2v_classes_measure(&cl, r->c, m->in, m->dim);
    printf("classes epoch %d ", e);
    w2v_classes_print(stdout, &cl);
    fflush(stdout);
    if (r->snapshots != NULL) {
        snapshot(r, "", e, m->in);
        snapshot(r, ".out", e, m->out);
    }
    r->hook_s += now() - t0;
    r->hook_cpu += cpu_now() - c0;
    r->epoch_start_train = train_s(r);
    r->epoch_start_cpu = train_cpu(r);
}

/* ---- main ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    w2v_params p = {100, 5, 5, 5, 1e-3, 0.025f, 0.0001f, 256, 0, 1};
    const char *corpus = DEFAULT_CORPUS, *output = NULL, *dump = NULL, *snapshots = NULL;
    const char *impl = NULL;
    int64_t max_words = 0, min_count = 5;
    double progress_s = 2;
    enum { O_CORPUS = 256, O_OUTPUT, O_DIM, O_WINDOW, O_NEG, O_EPOCHS, O_MINC, O_SAMPLE, O_ALPHA,
           O_MINA, O_BATCH, O_THREADS, O_SEED, O_MAXW, O_QUICK, O_IMPL, O_DUMP, O_SNAP, O_PROG,
           O_LIST, O_HELP };
    static const struct option opts[] = {
        {"corpus", 1, 0, O_CORPUS},     {"output", 1, 0, O_OUTPUT},   {"dim", 1, 0, O_DIM},
        {"window", 1, 0, O_WINDOW},     {"negative", 1, 0, O_NEG},    {"epochs", 1, 0, O_EPOCHS},
        {"min-count", 1, 0, O_MINC},    {"sample", 1, 0, O_SAMPLE},   {"alpha", 1, 0, O_ALPHA},
        {"min-alpha", 1, 0, O_MINA},    {"batch", 1, 0, O_BATCH},     {"threads", 1, 0, O_THREADS},
        {"seed", 1, 0, O_SEED},         {"max-words", 1, 0, O_MAXW},  {"quick", 0, 0, O_QUICK},
        {"impl", 1, 0, O_IMPL},         {"write-corpus", 1, 0, O_DUMP},
        {"snapshots", 1, 0, O_SNAP},    {"progress", 1, 0, O_PROG},
        {"list-classes", 0, 0, O_LIST}, {"help", 0, 0, O_HELP},       {0, 0, 0, 0}};
    opterr = 0;
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        const char *name = optind > 1 ? argv[optind - 1] : "";
        switch (o) {
        case O_CORPUS: corpus = optarg; break;
        case O_OUTPUT: output = optarg; break;
        case O_DIM: p.dim = parse_int("dim", optarg, 1, 1 << 16); break;
        case O_WINDOW: p.window = (int)parse_int("window", optarg, 1, 64); break;
        case O_NEG: p.negative = (int)parse_int("negative", optarg, 0, 64); break;
        case O_EPOCHS: p.epochs = (int)parse_int("epochs", optarg, 1, 1000); break;
        case O_MINC: min_count = parse_int("min-count", optarg, 1, INT64_MAX); break;
        case O_SAMPLE: p.sample = parse_real("sample", optarg, 0, 1); break;
        case O_ALPHA: p.alpha = (float)parse_real("alpha", optarg, 0, 10); break;
        case O_MINA: p.min_alpha = (float)parse_real("min-alpha", optarg, 0, 10); break;
        case O_BATCH: p.batch = parse_int("batch", optarg, 1, 1 << 20); break;
        case O_THREADS: p.threads = (int)parse_int("threads", optarg, 1, EMB_MAX_THREADS); break;
        case O_SEED: p.seed = (uint64_t)parse_int("seed", optarg, 0, INT64_MAX); break;
        case O_MAXW: max_words = parse_int("max-words", optarg, 1, INT64_MAX); break;
        case O_QUICK:
            max_words = 500000, p.dim = 32, p.epochs = 3, min_count = 3;
            break;
        case O_IMPL: impl = optarg; break;
        case O_DUMP: dump = optarg; break;
        case O_SNAP: snapshots = optarg; break;
        case O_PROG: progress_s = parse_real("progress", optarg, 0, 1e6); break;
        case O_LIST:
            for (int k = 0; k < W2V_NCLASSES; k++) {
                printf("%s:", w2v_class_name(k));
                for (const char *const *w = w2v_class_words(k); *w; w++)
                    printf(" %s", *w);
                putchar('\n');
            }
            return 0;
        case O_HELP: usage(stdout); return 0;
        case ':': die("%s needs a value (--help)", name);
        default: die("unknown option \"%s\" (--help)", name);
        }
    }
    if (optind < argc)
        die("unexpected argument \"%s\" (--help)", argv[optind]);
    if (impl != NULL && emb_use_impl(impl) != EMB_OK)
        die("--impl=\"%s\": %s", impl, emb_last_error());
    if (emb_impl_active() == NULL)
        die("EMBSIMD_IMPL names no implementation this CPU has: %s", emb_last_error());
    if (p.threads == 0)
        p.threads = emb_get_num_threads();
    if (snapshots != NULL && mkdir(snapshots, 0777) != 0 && errno != EEXIST)
        die("--snapshots=\"%s\": %s", snapshots, strerror(errno));

    FILE *dumpf = NULL;
    if (dump != NULL && (dumpf = fopen(dump, "w")) == NULL)
        die("--write-corpus=\"%s\": %s", dump, strerror(errno));
    w2v_corpus c;
    char err[512];
    const double t_read = now();
    if (w2v_corpus_read(&c, corpus, max_words, min_count, dumpf, err, sizeof err) != 0)
        die("%s", err);
    if (dumpf != NULL && fclose(dumpf) != 0)
        die("--write-corpus=\"%s\": %s", dump, strerror(errno));
    printf("corpus: %s, %" PRId64 " bytes, %" PRId64 " words (%" PRId64 " distinct), %" PRId64
           " sentences, read in %.1f s\n",
           corpus, c.bytes, c.tokens, c.distinct, c.nsent, now() - t_read);
    printf("vocabulary: %" PRId64 " words seen >= %" PRId64 " times, %" PRId64 " of the corpus words\n",
           c.vocab, min_count, c.nids);
    printf("settings: dim %" PRId64 " window %d negative %d epochs %d sample %g alpha %g min-alpha %g "
           "batch %" PRId64 " seed %" PRIu64 "\n",
           p.dim, p.window, p.negative, p.epochs, p.sample, p.alpha, p.min_alpha, p.batch, p.seed);
    printf("implementation: %s, threads %d\n", emb_impl_active(), p.threads);
    fflush(stdout);

    run r = {&c, &p, snapshots, progress_s, 0, 0, 0, 0, 0, 0, 0};
    r.start = r.last_print = now();
    r.cpu_start = cpu_now();
    w2v_hooks hooks = {&r, on_batch, on_epoch};
    w2v_model m;
    if (w2v_train(&m, &c, &p, &hooks, err, sizeof err) != 0)
        die("%s", err);
    const double secs = train_s(&r), cpu = train_cpu(&r);
    printf("trained: %.3f s, %.0f words/s (corpus words x epochs / training seconds; reading and "
           "evaluation excluded); %.3f CPU s, %.0f words per CPU second\n",
           secs, words_per_s(&r, (int64_t)p.epochs * c.nids, secs), cpu,
           words_per_s(&r, (int64_t)p.epochs * c.nids, cpu));
    const size_t bytes = (size_t)(c.vocab * p.dim) * sizeof(float);
    uint64_t h = w2v_fnv1a(W2V_FNV_START, m.in, bytes);
    h = w2v_fnv1a(h, m.out, bytes);
    printf("digest: %016" PRIx64 "\n", h);
    if (output != NULL) {
        char desc[89];
        snprintf(desc, sizeof desc, "embsimd-word2vec dim %" PRId64 " epochs %d seed %" PRIu64,
                 p.dim, p.epochs, p.seed);
        if (w2v_write_table(output, &c, m.in, p.dim, desc) != 0)
            die("--output=\"%s\": %s", output, strerror(errno));
        printf("wrote %s\n", output);
    }
    w2v_model_free(&m);
    w2v_corpus_free(&c);
    return 0;
}
