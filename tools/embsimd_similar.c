/* embsimd_similar.c - embsimd-similar: the semantic demo on a real token
 * table through the library's similarity scan (emb_scan): nearest tokens,
 * an analogy (a - b + c), distances between token pairs, how many
 * neighbours survive quantization, and the scan's speed next to a
 * same-run memcpy of the table. Reads the table files optional/minilm_table.py
 * writes (format in its comment and below). */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "embsimd.h"

static const char *prog = "embsimd-similar";

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: %s [OPTIONS] TABLE COMMAND [ARGS]\n"
            "\n"
            "The similarity scan (emb_scan: one row against every row of the table, one\n"
            "summation order on every ISA and thread count) on a token table file.\n"
            "\n"
            "Commands:\n"
            "  near WORD...          the --top nearest tokens to each word by cosine\n"
            "                        (--metric=l2: by Euclidean distance)\n"
            "  analogy A B C         the nearest tokens to A - B + C (king man woman),\n"
            "                        A, B and C left out\n"
            "  distance W1 W2 ...    Euclidean distance and cosine of each pair\n"
            "  survival REFERENCE    for 100 fixed tokens (ids 1996 + 97 i), how many of the\n"
            "                        top-10 cosine neighbours in REFERENCE (the f32 table)\n"
            "                        are also in TABLE's top 10; the largest error per element\n"
            "  speed                 the dot-product scan's time next to a memcpy of the\n"
            "                        table's bytes in the same run, 1 and 2 threads\n"
            "\n"
            "A word that is not one token is split as BERT's WordPiece does (longest\n"
            "piece first, continuations as ##piece) and stands for the mean of its\n"
            "pieces' rows. Cosine = dot / (sqrtf(|row|^2) * sqrtf(|query|^2)), each from\n"
            "emb_scan; ranks break ties by the lower token id; a NaN score ranks last.\n"
            "\n"
            "Options:\n"
            "  --top K          neighbours to list (default 10)\n"
            "  --metric M       cosine (default) or l2, for near\n"
            "  --impl NAME      run the library's NAME implementation (default: the best)\n"
            "  --threads N      threads for the scans (default: the library's)\n"
            "  --all-impls      run every scan on every implementation this CPU has at\n"
            "                   1, 2 and 3 threads and fail unless all give the same bits\n"
            "  --reps N         speed: repetitions, the median is reported (default 7)\n"
            "  --help           this text\n"
            "\n"
            "TABLE: \"EMBTAB1\\n\", uint32 emb_type, uint32 0, int64 vocab, int64 dim,\n"
            "uint64 vocabulary bytes, 88 bytes of description, the rows at offset 128,\n"
            "then the tokens, each ended by '\\n' (make real-table writes them).\n",
            prog);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* ---- the table file --------------------------------------------------------- */

typedef struct table {
    const char *path;
    emb_type type;
    int64_t vocab, dim;
    size_t row_bytes;
    uint8_t *rows;
    char **tokens;
    char *vocab_text; /* the tokens point into it */
    char desc[89];
    float *norm2; /* |row|^2 of every row, from emb_scan; NULL until needed */
} table;

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void table_load(table *t, const char *path)
{
    memset(t, 0, sizeof *t);
    t->path = path;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        die("%s: %s", path, strerror(errno));
    uint8_t h[128];
    if (fread(h, 1, sizeof h, f) != sizeof h || memcmp(h, "EMBTAB1\n", 8) != 0)
        die("%s: not a table file (no EMBTAB1 header; make real-table writes them)", path);
    const uint64_t type = le(h + 8, 4), vocab = le(h + 16, 8), dim = le(h + 24, 8),
                   vbytes = le(h + 32, 8);
    if (type >= EMB_TYPE_COUNT || vocab == 0 || vocab > INT32_MAX || dim == 0 || dim > (1u << 20))
        die("%s: bad header (type %" PRIu64 ", %" PRIu64 " x %" PRIu64 ")", path, type, vocab, dim);
    t->type = (emb_type)type;
    t->vocab = (int64_t)vocab;
    t->dim = (int64_t)dim;
    t->row_bytes = emb_row_bytes(t->type, t->dim);
    if (t->row_bytes == 0)
        die("%s: dim %" PRIu64 " is not valid for %s", path, dim, emb_type_name(t->type));
    memcpy(t->desc, h + 40, 88);
    t->desc[88] = '\0';
    const size_t bytes = (size_t)vocab * t->row_bytes;
    if (posix_memalign((void **)&t->rows, 64, bytes) != 0)
        die("%s: out of memory (%zu bytes)", path, bytes);
    char *v = malloc(vbytes + 1);
    t->tokens = malloc(vocab * sizeof *t->tokens);
    if (v == NULL || t->tokens == NULL)
        die("%s: out of memory", path);
    if (fread(t->rows, 1, bytes, f) != bytes || fread(v, 1, vbytes, f) != vbytes)
        die("%s: truncated", path);
    fclose(f);
    v[vbytes] = '\0';
    t->vocab_text = v;
    char *p = v;
    for (uint64_t i = 0; i < vocab; i++) {
        char *nl = strchr(p, '\n');
        if (nl == NULL)
            die("%s: the vocabulary has %" PRIu64 " tokens, the header says %" PRIu64, path, i,
                vocab);
        *nl = '\0';
        t->tokens[i] = p;
        p = nl + 1;
    }
}

static void table_free(table *t)
{
    free(t->rows);
    free(t->tokens);
    free(t->vocab_text);
    free(t->norm2);
    memset(t, 0, sizeof *t);
}

static int64_t token_id(const table *t, const char *s)
{
    for (int64_t i = 0; i < t->vocab; i++)
        if (strcmp(t->tokens[i], s) == 0)
            return i;
    return -1;
}

/* ---- scans on every implementation ------------------------------------------ */

static int all_impls;
static int threads_opt;
static const char *impl_opt;
static unsigned long scans_checked;

static void check(emb_status s, const char *what)
{
    if (s != EMB_OK)
        die("%s: %s: %s", what, emb_strerror(s), emb_last_error());
}

static void select_default(void)
{
    check(emb_use_impl(impl_opt), "emb_use_impl");
    check(emb_set_num_threads(threads_opt), "emb_set_num_threads");
}

/* emb_scan, and with --all-impls the same scan on every implementation
 * and 1-3 threads, compared bit for bit with the first. */
static void scan(const void *rows, emb_type type, int64_t vocab, int64_t dim, const float *q,
                 emb_metric m, float *scores)
{
    check(emb_scan(rows, type, vocab, dim, q, m, scores), "emb_scan");
    if (!all_impls)
        return;
    float *again = malloc((size_t)vocab * sizeof *again);
    if (again == NULL)
        die("out of memory");
    for (int i = 0; i < emb_impl_count(); i++) {
        if (!emb_impl_available(i))
            continue;
        check(emb_use_impl(emb_impl_name(i)), "emb_use_impl");
        for (int th = 1; th <= 3; th++) {
            check(emb_set_num_threads(th), "emb_set_num_threads");
            check(emb_scan(rows, type, vocab, dim, q, m, again), "emb_scan");
            if (memcmp(again, scores, (size_t)vocab * sizeof *again) != 0)
                die("the scan differs between implementations: %s with %d threads", emb_impl_name(i),
                    th);
        }
    }
    free(again);
    select_default();
    scans_checked++;
}

/* The f32 row of token id: emb_lookup, exact (q8_rowwise: its one fma). */
static void row_f32(const table *t, int64_t id, float *dst)
{
    const int32_t i32 = (int32_t)id;
    check(emb_lookup(t->rows, t->type, t->vocab, t->dim, &i32, EMB_I32, 1, dst, EMB_F32),
          "emb_lookup");
}

static float norm2_of(const float *x, int64_t dim)
{
    float s;
    scan(x, EMB_F32, 1, dim, NULL, EMB_METRIC_NORM2, &s);
    return s;
}

static void ensure_norms(table *t)
{
    if (t->norm2 != NULL)
        return;
    t->norm2 = malloc((size_t)t->vocab * sizeof *t->norm2);
    if (t->norm2 == NULL)
        die("out of memory");
    scan(t->rows, t->type, t->vocab, t->dim, NULL, EMB_METRIC_NORM2, t->norm2);
}

/* cos[r] = dot[r] / (sqrtf(norm2[r]) * sqrtf(qn2)) */
static void cosines(table *t, const float *q, float *cos)
{
    ensure_norms(t);
    scan(t->rows, t->type, t->vocab, t->dim, q, EMB_METRIC_DOT, cos);
    const float qn = sqrtf(norm2_of(q, t->dim));
    for (int64_t r = 0; r < t->vocab; r++)
        cos[r] = cos[r] / (sqrtf(t->norm2[r]) * qn);
}

/* ---- WordPiece ---------------------------------------------------------------- */

/* A word's vector: its own row, or the mean of its WordPiece pieces (greedy
 * longest match, continuations "##"), summed in order in fp32 then divided.
 * Writes the pieces, space-separated, to `how`. Returns 0 when the word
 * cannot be split. */
static int word_vector(const table *t, const char *word, float *v, char *how, size_t how_size)
{
    const size_t len = strlen(word);
    float *row = malloc((size_t)t->dim * sizeof *row);
    char *piece = malloc(len + 3);
    if (row == NULL || piece == NULL)
        die("out of memory");
    int pieces = 0;
    size_t at = 0, used = 0;
    how[0] = '\0';
    for (int64_t j = 0; j < t->dim; j++)
        v[j] = 0.0f;
    while (at < len) {
        int64_t id = -1;
        size_t end = len;
        for (; end > at; end--) {
            snprintf(piece, len + 3, "%s%.*s", at > 0 ? "##" : "", (int)(end - at), word + at);
            if ((id = token_id(t, piece)) >= 0)
                break;
        }
        if (id < 0) {
            free(row), free(piece);
            return 0;
        }
        row_f32(t, id, row);
        for (int64_t j = 0; j < t->dim; j++)
            v[j] = v[j] + row[j];
        used += (size_t)snprintf(how + used, used < how_size ? how_size - used : 0, "%s%s",
                                 pieces ? " + " : "", piece);
        pieces++;
        at = end;
    }
    if (pieces > 1)
        for (int64_t j = 0; j < t->dim; j++)
            v[j] = v[j] / (float)pieces;
    free(row), free(piece);
    return pieces;
}

static void need_word(const table *t, const char *w, float *v, char *how, size_t how_size)
{
    if (word_vector(t, w, v, how, how_size) == 0)
        die("\"%s\" is not in the vocabulary and has no WordPiece split", w);
}

/* ---- ranking ------------------------------------------------------------------ */

/* Is (sa, a) ranked before (sb, b)? Higher score first (lower for
 * ascending), NaN last, then the lower id. */
static int before(float sa, int64_t a, float sb, int64_t b, int ascending)
{
    if (isnan(sa) || isnan(sb))
        return isnan(sb) && (!isnan(sa) || a < b);
    if (sa != sb)
        return ascending ? sa < sb : sa > sb;
    return a < b;
}

/* The k best of scores, skipping the ids in `skip`. */
static int top_k(const float *scores, int64_t vocab, int k, int ascending, const int64_t *skip,
                 int nskip, int64_t *out)
{
    int have = 0;
    for (int64_t r = 0; r < vocab; r++) {
        int skipped = 0;
        for (int s = 0; s < nskip; s++)
            skipped |= skip[s] == r;
        if (skipped)
            continue;
        if (have == k && !before(scores[r], r, scores[out[k - 1]], out[k - 1], ascending))
            continue;
        int pos = have < k ? have++ : k - 1;
        while (pos > 0 && before(scores[r], r, scores[out[pos - 1]], out[pos - 1], ascending)) {
            out[pos] = out[pos - 1];
            pos--;
        }
        out[pos] = r;
    }
    return have;
}

/* ---- commands ------------------------------------------------------------------ */

static int top_opt = 10;
static int l2_opt;

static void print_ranked(const table *t, const float *scores, const int64_t *ids, int n,
                         const char *label, int l2)
{
    for (int i = 0; i < n; i++)
        printf("  %2d  %-16s %s %.6f\n", i + 1, t->tokens[ids[i]], label,
               l2 ? sqrtf(scores[ids[i]]) : scores[ids[i]]);
}

static void cmd_near(table *t, int argc, char **argv)
{
    float *q = malloc((size_t)t->dim * sizeof *q);
    float *scores = malloc((size_t)t->vocab * sizeof *scores);
    int64_t *ids = malloc((size_t)top_opt * sizeof *ids);
    if (q == NULL || scores == NULL || ids == NULL)
        die("out of memory");
    for (int a = 0; a < argc; a++) {
        char how[256];
        need_word(t, argv[a], q, how, sizeof how);
        const int64_t self = token_id(t, argv[a]);
        if (l2_opt)
            scan(t->rows, t->type, t->vocab, t->dim, q, EMB_METRIC_L2SQ, scores);
        else
            cosines(t, q, scores);
        const int n = top_k(scores, t->vocab, top_opt, l2_opt, &self, self >= 0, ids);
        printf("nearest to \"%s\"%s%s%s (%s):\n", argv[a], self >= 0 ? "" : " = mean of ",
               self >= 0 ? "" : how, "", l2_opt ? "Euclidean distance" : "cosine");
        print_ranked(t, scores, ids, n, l2_opt ? "distance" : "cosine", l2_opt);
    }
    free(q), free(scores), free(ids);
}

static void cmd_analogy(table *t, int argc, char **argv)
{
    if (argc != 3)
        die("analogy takes three words, A B C (A - B + C)");
    const int64_t d = t->dim;
    float *v = malloc((size_t)(4 * d) * sizeof *v);
    float *scores = malloc((size_t)t->vocab * sizeof *scores);
    int64_t *ids = malloc((size_t)top_opt * sizeof *ids);
    if (v == NULL || scores == NULL || ids == NULL)
        die("out of memory");
    char how[3][256];
    for (int i = 0; i < 3; i++)
        need_word(t, argv[i], v + (i + 1) * d, how[i], sizeof how[i]);
    for (int64_t j = 0; j < d; j++)
        v[j] = (v[d + j] - v[2 * d + j]) + v[3 * d + j];
    int64_t skip[3];
    int nskip = 0;
    for (int i = 0; i < 3; i++)
        if ((skip[nskip] = token_id(t, argv[i])) >= 0)
            nskip++;
    cosines(t, v, scores);
    const int n = top_k(scores, t->vocab, top_opt, 0, skip, nskip, ids);
    printf("%s - %s + %s (cosine; %s, %s and %s left out):\n", argv[0], argv[1], argv[2],
           argv[0], argv[1], argv[2]);
    print_ranked(t, scores, ids, n, "cosine", 0);
    free(v), free(scores), free(ids);
}

static void cmd_distance(table *t, int argc, char **argv)
{
    if (argc < 2 || argc % 2 != 0)
        die("distance takes pairs of words");
    const int64_t d = t->dim;
    float *v = malloc((size_t)(2 * d) * sizeof *v);
    if (v == NULL)
        die("out of memory");
    printf("%-16s %-16s %10s %10s\n", "word", "word", "distance", "cosine");
    for (int a = 0; a + 1 < argc; a += 2) {
        char how[2][256];
        need_word(t, argv[a], v, how[0], sizeof how[0]);
        need_word(t, argv[a + 1], v + d, how[1], sizeof how[1]);
        float l2, dot;
        scan(v, EMB_F32, 1, d, v + d, EMB_METRIC_L2SQ, &l2);
        scan(v, EMB_F32, 1, d, v + d, EMB_METRIC_DOT, &dot);
        const float cos = dot / (sqrtf(norm2_of(v, d)) * sqrtf(norm2_of(v + d, d)));
        printf("%-16s %-16s %10.4f %10.4f", argv[a], argv[a + 1], sqrtf(l2), cos);
        for (int k = 0; k < 2; k++)
            if (token_id(t, argv[a + k]) < 0)
                printf("   %s = mean of %s", argv[a + k], how[k]);
        printf("\n");
    }
    free(v);
}

static void cmd_survival(table *t, int argc, char **argv)
{
    if (argc != 1)
        die("survival takes the reference table (the f32 one)");
    table ref;
    table_load(&ref, argv[0]);
    if (ref.vocab != t->vocab || ref.dim != t->dim)
        die("%s is %" PRId64 " x %" PRId64 ", %s %" PRId64 " x %" PRId64, ref.path, ref.vocab,
            ref.dim, t->path, t->vocab, t->dim);
    for (int64_t i = 0; i < t->vocab; i++)
        if (strcmp(ref.tokens[i], t->tokens[i]) != 0)
            die("the two tables' vocabularies differ at token %" PRId64, i);
    const int64_t V = t->vocab, D = t->dim;
    enum { TOKENS = 100, K = 10 };
    float *a = malloc((size_t)V * D * sizeof *a), *b = malloc((size_t)V * D * sizeof *b);
    int32_t *all = malloc((size_t)V * sizeof *all);
    float *sa = malloc((size_t)V * sizeof *sa), *sb = malloc((size_t)V * sizeof *sb);
    if (a == NULL || b == NULL || all == NULL || sa == NULL || sb == NULL)
        die("out of memory");
    for (int64_t i = 0; i < V; i++)
        all[i] = (int32_t)i;
    check(emb_lookup(ref.rows, ref.type, V, D, all, EMB_I32, V, a, EMB_F32), "emb_lookup");
    check(emb_lookup(t->rows, t->type, V, D, all, EMB_I32, V, b, EMB_F32), "emb_lookup");
    double max_err = 0, sum_err = 0, max_abs = 0;
    int64_t at = 0;
    for (int64_t k = 0; k < V * D; k++) {
        const double e = fabs((double)b[k] - (double)a[k]);
        sum_err += e;
        if (e > max_err) {
            max_err = e;
            at = k;
        }
        if (fabs((double)a[k]) > max_abs)
            max_abs = fabs((double)a[k]);
    }
    int kept = 0, top1 = 0, worst = K;
    int64_t worst_id = -1;
    for (int i = 0; i < TOKENS; i++) {
        const int64_t id = 1996 + 97 * (int64_t)i;
        if (id >= V)
            die("the table has fewer than %d rows", 1996 + 97 * TOKENS);
        int64_t ra[K], rb[K];
        cosines(&ref, a + id * D, sa);
        cosines(t, b + id * D, sb);
        top_k(sa, V, K, 0, &id, 1, ra);
        top_k(sb, V, K, 0, &id, 1, rb);
        int same = 0;
        for (int x = 0; x < K; x++)
            for (int y = 0; y < K; y++)
                same += ra[x] == rb[y];
        kept += same;
        top1 += ra[0] == rb[0];
        if (same < worst) {
            worst = same;
            worst_id = id;
        }
    }
    printf("%s against %s:\n", emb_type_name(t->type), emb_type_name(ref.type));
    printf("  top-10 cosine neighbours of 100 tokens (ids 1996 + 97 i) that survive: %d of %d "
           "(%.1f %%); the same nearest: %d of 100; fewest kept: %d (\"%s\")\n",
           kept, TOKENS * K, 100.0 * kept / (TOKENS * K), top1, worst,
           worst_id >= 0 ? t->tokens[worst_id] : "-");
    printf("  largest error per element: %.6g (token \"%s\", element %" PRId64 ": %.9g vs %.9g); "
           "mean |error| %.3g; largest |x| %.6g\n",
           max_err, t->tokens[at / D], at % D, (double)b[at], (double)a[at], sum_err / (double)(V * D),
           max_abs);
    free(a), free(b), free(all), free(sa), free(sb);
    table_free(&ref);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *x, const void *y)
{
    const double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static void cmd_speed(table *t, int reps)
{
    const size_t bytes = (size_t)t->vocab * t->row_bytes;
    uint8_t *dst;
    float *scores = malloc((size_t)t->vocab * sizeof *scores);
    float *q = malloc((size_t)t->dim * sizeof *q);
    double *tm = malloc((size_t)reps * sizeof *tm), *ts1 = malloc((size_t)reps * sizeof *ts1),
           *ts2 = malloc((size_t)reps * sizeof *ts2);
    if (posix_memalign((void **)&dst, 64, bytes) != 0 || scores == NULL || q == NULL ||
        tm == NULL || ts1 == NULL || ts2 == NULL)
        die("out of memory");
    memset(dst, 1, bytes);
    row_f32(t, t->vocab / 2, q);
    const int saved = all_impls;
    all_impls = 0;
    for (int r = -1; r < reps; r++) { /* r = -1: warm-up */
        double t0 = now();
        memcpy(dst, t->rows, bytes);
        const double m = now() - t0;
        __asm__ volatile("" : : "r"(dst) : "memory");
        check(emb_set_num_threads(1), "emb_set_num_threads");
        t0 = now();
        scan(t->rows, t->type, t->vocab, t->dim, q, EMB_METRIC_DOT, scores);
        const double s1 = now() - t0;
        check(emb_set_num_threads(2), "emb_set_num_threads");
        t0 = now();
        scan(t->rows, t->type, t->vocab, t->dim, q, EMB_METRIC_DOT, scores);
        const double s2 = now() - t0;
        if (r >= 0) {
            tm[r] = m;
            ts1[r] = s1;
            ts2[r] = s2;
        }
    }
    all_impls = saved;
    select_default();
    qsort(tm, (size_t)reps, sizeof *tm, cmp_double);
    qsort(ts1, (size_t)reps, sizeof *ts1, cmp_double);
    qsort(ts2, (size_t)reps, sizeof *ts2, cmp_double);
    const double m = tm[reps / 2], s1 = ts1[reps / 2], s2 = ts2[reps / 2];
    printf("speed: %s table, %" PRId64 " x %" PRId64 ", %zu bytes; %s; medians of %d rounds "
           "(memcpy, scan on 1 thread, scan on 2 threads in turn)\n",
           emb_type_name(t->type), t->vocab, t->dim, bytes, emb_impl_active(), reps);
    printf("  memcpy of the table      %8.3f ms  %6.2f GB/s read\n", m * 1e3, bytes / m / 1e9);
    printf("  scan, dot, 1 thread      %8.3f ms  %6.2f GB/s  %.2fx memcpy\n", s1 * 1e3,
           bytes / s1 / 1e9, m / s1);
    printf("  scan, dot, 2 threads     %8.3f ms  %6.2f GB/s  %.2fx memcpy, %.2fx 1 thread\n",
           s2 * 1e3, bytes / s2 / 1e9, m / s2, s1 / s2);
    free(dst), free(scores), free(q), free(tm), free(ts1), free(ts2);
}

int main(int argc, char **argv)
{
    int reps = 7, a = 1;
    for (; a < argc && strncmp(argv[a], "--", 2) == 0; a++) {
        const char *o = argv[a];
        const char *eq = strchr(o, '=');
        const char *val = eq ? eq + 1 : (a + 1 < argc ? argv[a + 1] : NULL);
        const size_t nlen = eq ? (size_t)(eq - o) : strlen(o);
#define IS(name) (nlen == strlen(name) && strncmp(o, name, nlen) == 0)
        if (IS("--help")) {
            usage(stdout);
            return 0;
        } else if (IS("--all-impls")) {
            all_impls = 1;
            continue;
        }
        if (val == NULL)
            die("%s needs a value (--help)", o);
        if (!eq)
            a++;
        char *end;
        if (IS("--top")) {
            top_opt = (int)strtol(val, &end, 10);
            if (*end || top_opt < 1 || top_opt > 1000)
                die("--top %s: a number from 1 to 1000", val);
        } else if (IS("--reps")) {
            reps = (int)strtol(val, &end, 10);
            if (*end || reps < 1 || reps > 1000)
                die("--reps %s: a number from 1 to 1000", val);
        } else if (IS("--threads")) {
            threads_opt = (int)strtol(val, &end, 10);
            if (*end || threads_opt < 1 || threads_opt > EMB_MAX_THREADS)
                die("--threads %s: a number from 1 to %d", val, EMB_MAX_THREADS);
        } else if (IS("--metric")) {
            if (strcmp(val, "cosine") == 0)
                l2_opt = 0;
            else if (strcmp(val, "l2") == 0)
                l2_opt = 1;
            else
                die("--metric %s: cosine or l2", val);
        } else if (IS("--impl")) {
            impl_opt = val;
        } else {
            die("unknown option %s (--help)", o);
        }
#undef IS
    }
    if (argc - a < 2) {
        usage(stderr);
        return 2;
    }
    select_default();
    table t;
    table_load(&t, argv[a]);
    const char *cmd = argv[a + 1];
    printf("table: %s: %s, %" PRId64 " x %" PRId64 " %s; implementation %s, %d thread%s\n",
           t.path, t.desc, t.vocab, t.dim, emb_type_name(t.type), emb_impl_active(),
           emb_get_num_threads(), emb_get_num_threads() == 1 ? "" : "s");
    if (strcmp(cmd, "near") == 0)
        cmd_near(&t, argc - a - 2, argv + a + 2);
    else if (strcmp(cmd, "analogy") == 0)
        cmd_analogy(&t, argc - a - 2, argv + a + 2);
    else if (strcmp(cmd, "distance") == 0)
        cmd_distance(&t, argc - a - 2, argv + a + 2);
    else if (strcmp(cmd, "survival") == 0)
        cmd_survival(&t, argc - a - 2, argv + a + 2);
    else if (strcmp(cmd, "speed") == 0)
        cmd_speed(&t, reps);
    else
        die("unknown command \"%s\" (--help)", cmd);
    if (all_impls) {
        printf("--all-impls: every one of %lu scans gave the same bits on", scans_checked);
        for (int i = 0; i < emb_impl_count(); i++)
            if (emb_impl_available(i))
                printf(" %s x1 x2 x3", emb_impl_name(i));
        printf("\n");
    }
    table_free(&t);
    return 0;
}
