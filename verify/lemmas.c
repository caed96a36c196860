/* lemmas.c - section A: the lemmas the theorem rests on, checked on every
 * fp32 bit pattern (or, in quick and emulated runs, a stratified subset),
 * in IEEE mode and again with flush-to-zero on. */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lemmas.h"
#include "verify.h"

/* Classes of patterns: within one the expected results share a formula. */
enum { CL_ZERO, CL_SUB, CL_NORM, CL_INF, CL_SNAN, CL_QNAN, CLASSES };
static const char *const class_names[CLASSES] = {"zero", "subnormal", "normal", "Inf", "sNaN",
                                                 "qNaN"};

/* Where each class ends, for the sign-less pattern: [0,1) zero, [1,2^23)
 * subnormal, ... up to 2^31. */
static const uint32_t class_end[CLASSES] = {1u, 0x00800000u, 0x7F800000u,
                                            0x7F800001u, 0x7FC00000u, 0x80000000u};

static int class_of(uint32_t u)
{
    const uint32_t a = u & ~VF_SIGN;
    int c = 0;
    while (a >= class_end[c])
        c++;
    return c;
}

enum { JOB_MAX = 1 << 22 };

/* The jobs of one sweep, and how many patterns of each class it holds. */
typedef struct sweep_plan {
    vf_lemma_job *jobs;
    int *job_class;
    size_t count, cap;
    uint64_t patterns;
    uint64_t class_size[CLASSES];
} sweep_plan;

/* One pass over a plan, in one floating-point mode. */
typedef struct sweep {
    const sweep_plan *plan;
    void (*kernel)(const vf_lemma_job *, vf_lemma_counts *);
    int flush;
    atomic_size_t next;
    atomic_int mode_wrong; /* a worker could not set the mode asked for */
    pthread_mutex_t lock;
    vf_lemma_counts counts[CLASSES];
    uint64_t class_size[CLASSES];
} sweep;

static void expected_masks(int cls, uint32_t default_nan, vf_lemma_job *j)
{
    for (int op = 0; op < VF_OPS; op++) {
        j->and_mask[op] = ~0u; /* w itself ... */
        j->or_mask[op] = 0;
    }
    if (cls == CL_SNAN || cls == CL_QNAN) {
        /* A NaN in gives that NaN out, quieted, payload kept. */
        for (int op = 0; op < VF_OPS; op++)
            j->or_mask[op] = VF_QUIET;
        return;
    }
    if (cls == CL_INF) {
        j->and_mask[VF_OP_TIMES_ZERO] = 0; /* 0 * Inf: the default NaN */
        j->or_mask[VF_OP_TIMES_ZERO] = default_nan;
    } else {
        j->and_mask[VF_OP_TIMES_ZERO] = VF_SIGN; /* 0 * w: a zero with w's sign */
    }
    if (cls == CL_ZERO)
        j->and_mask[VF_OP_PLUS_POS_ZERO] = ~VF_SIGN; /* -0 + (+0) = +0 */
}

static int add_range(sweep_plan *s, uint64_t lo, uint64_t hi, uint32_t default_nan)
{
    while (lo < hi) {
        const int cls = class_of((uint32_t)lo);
        const uint64_t end_of_class = (lo & VF_SIGN) + class_end[cls];
        uint64_t end = hi < end_of_class ? hi : end_of_class;
        if (end - lo > JOB_MAX)
            end = lo + JOB_MAX;
        if (s->count == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 1024;
            vf_lemma_job *j = realloc(s->jobs, s->cap * sizeof *j);
            int *c = realloc(s->job_class, s->cap * sizeof *c);
            if (j == NULL || c == NULL) {
                free(j ? j : s->jobs);
                free(c ? c : s->job_class);
                s->jobs = NULL;
                s->job_class = NULL;
                return -1;
            }
            s->jobs = j;
            s->job_class = c;
        }
        vf_lemma_job *job = &s->jobs[s->count];
        memset(job, 0, sizeof *job);
        job->lo = lo;
        job->hi = end;
        expected_masks(cls, default_nan, job);
        s->job_class[s->count++] = cls;
        s->class_size[cls] += end - lo;
        s->patterns += end - lo;
        lo = end;
    }
    return 0;
}

/* The subset of a reduced sweep: for each sign and exponent, the 2w
 * mantissas at both ends and the 2w around the quiet bit, so every class
 * boundary (zero/subnormal, subnormal/normal, Inf/sNaN, sNaN/qNaN) and every
 * exponent is in it. */
static int plan(sweep_plan *s, int log2_window, uint32_t default_nan)
{
    if (log2_window < 0)
        return add_range(s, 0, 1ull << 32, default_nan);
    const uint64_t w = 1ull << log2_window;
    for (uint64_t se = 0; se < 512; se++) {
        const uint64_t base = se << 23;
        if (add_range(s, base, base + w, default_nan) != 0 ||
            add_range(s, base + 0x400000 - w, base + 0x400000 + w, default_nan) != 0 ||
            add_range(s, base + 0x800000 - w, base + 0x800000, default_nan) != 0)
            return -1;
    }
    return 0;
}

static void work(sweep *s, int reporter)
{
    const sweep_plan *p = s->plan;
    vf_flush_set(s->flush);
    if (vf_flush_get() != s->flush)
        atomic_store(&s->mode_wrong, 1);
    /* volatile: the operands must reach the kernel as run-time values. */
    volatile float one = 1.0f, zero = 0.0f, pz = 0.0f, nz = -0.0f;
    vf_lemma_counts local[CLASSES];
    memset(local, 0, sizeof local);
    for (;;) {
        const size_t i = atomic_fetch_add(&s->next, 1);
        if (i >= p->count)
            break;
        vf_lemma_job job = p->jobs[i];
        job.one = one;
        job.zero = zero;
        job.pos_zero = pz;
        job.neg_zero = nz;
        vf_lemma_counts c;
        s->kernel(&job, &c);
        for (int op = 0; op < VF_OPS; op++) {
            local[p->job_class[i]].expected[op] += c.expected[op];
            local[p->job_class[i]].nan[op] += c.nan[op];
        }
        if (reporter)
            vf_progress(s->flush ? "A: lemma sweep, flush on" : "A: lemma sweep, IEEE mode", i,
                        p->count);
    }
    vf_flush_set(0);
    pthread_mutex_lock(&s->lock);
    for (int c = 0; c < CLASSES; c++)
        for (int op = 0; op < VF_OPS; op++) {
            s->counts[c].expected[op] += local[c].expected[op];
            s->counts[c].nan[op] += local[c].nan[op];
        }
    pthread_mutex_unlock(&s->lock);
}

static void *worker(void *arg)
{
    work(arg, 0);
    return NULL;
}

static const char *pick_kernel(void (**kernel)(const vf_lemma_job *, vf_lemma_counts *))
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#ifdef EMB_HAVE_AVX512
    if (__builtin_cpu_supports("avx512f")) {
        *kernel = vf_lemma_kernel_avx512;
        return "AVX-512";
    }
#endif
#ifdef EMB_HAVE_AVX2
    if (__builtin_cpu_supports("avx2")) {
        *kernel = vf_lemma_kernel_avx2;
        return "AVX2";
    }
#endif
#endif
    *kernel = vf_lemma_kernel_base;
#if defined(__aarch64__)
    return "NEON (baseline AArch64)";
#elif defined(__x86_64__)
    return "SSE2 (baseline x86-64)";
#else
    return "baseline";
#endif
}

/* Runs plan p with flush on or off in threads threads (the calling one
 * included, which also reports progress). Returns -1 when a thread could not
 * set the mode. */
static int run_sweep(sweep *s, const sweep_plan *p, int flush, int threads)
{
    memset(s, 0, sizeof *s);
    s->plan = p;
    pick_kernel(&s->kernel);
    s->flush = flush;
    memcpy(s->class_size, p->class_size, sizeof s->class_size);
    atomic_init(&s->next, 0);
    atomic_init(&s->mode_wrong, 0);
    pthread_mutex_init(&s->lock, NULL);
    pthread_t tid[64];
    if (threads > 64)
        threads = 64;
    int started = 0;
    for (; started < threads - 1; started++)
        if (pthread_create(&tid[started], NULL, worker, s) != 0)
            break;
    work(s, 1);
    for (int t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    vf_progress_done();
    pthread_mutex_destroy(&s->lock);
    return atomic_load(&s->mode_wrong) ? -1 : 0;
}

static uint64_t sum_classes(const sweep *s, int op, int nan, const int *classes, int count)
{
    uint64_t total = 0;
    for (int i = 0; i < count; i++)
        total += nan ? s->counts[classes[i]].nan[op] : s->counts[classes[i]].expected[op];
    return total;
}

static uint64_t size_classes(const sweep *s, const int *classes, int count)
{
    uint64_t total = 0;
    for (int i = 0; i < count; i++)
        total += s->class_size[classes[i]];
    return total;
}

static const int finite_classes[] = {CL_ZERO, CL_SUB, CL_NORM};
static const int non_nan_classes[] = {CL_ZERO, CL_SUB, CL_NORM, CL_INF};
static const int nan_classes[] = {CL_SNAN, CL_QNAN};

static void lemma_line(vf_report *r, const char *label, const char *text, uint64_t ok,
                       uint64_t total)
{
    vf_report_line(r, ok == total ? VF_PASS : VF_FAIL, label, "%s: %llu of %llu patterns", text,
                   (unsigned long long)ok, (unsigned long long)total);
    vf_report_num(r, "holds", ok);
    vf_report_num(r, "patterns", total);
}

/* The lemmas in IEEE mode. */
static void report_ieee(vf_report *r, const sweep *s, uint32_t dn)
{
    const int inf_only[] = {CL_INF};
    lemma_line(r, "L1", "1*w has the bits of w for every non-NaN w",
               sum_classes(s, VF_OP_TIMES_ONE, 0, non_nan_classes, 4),
               size_classes(s, non_nan_classes, 4));
    lemma_line(r, "L2", "0*w is +0 for finite w with the sign bit clear, -0 with it set",
               sum_classes(s, VF_OP_TIMES_ZERO, 0, finite_classes, 3),
               size_classes(s, finite_classes, 3));
    lemma_line(r, "L2'", "0*w is a NaN for w = +-Inf and for every NaN w",
               sum_classes(s, VF_OP_TIMES_ZERO, 1, inf_only, 1) +
                   sum_classes(s, VF_OP_TIMES_ZERO, 1, nan_classes, 2),
               size_classes(s, inf_only, 1) + size_classes(s, nan_classes, 2));
    /* Both zeros give +0: +0 keeps its bits, -0 becomes +0. */
    lemma_line(r, "L3", "w + (+0) has the bits of w for every non-NaN w except -0, and -0 + (+0) = +0",
               sum_classes(s, VF_OP_PLUS_POS_ZERO, 0, non_nan_classes, 4),
               size_classes(s, non_nan_classes, 4));
    lemma_line(r, "L4", "w + (-0) has the bits of w for every non-NaN w",
               sum_classes(s, VF_OP_PLUS_NEG_ZERO, 0, non_nan_classes, 4),
               size_classes(s, non_nan_classes, 4));
    uint64_t nan_out = 0;
    for (int op = 0; op < VF_OPS; op++)
        nan_out += sum_classes(s, op, 1, nan_classes, 2);
    lemma_line(r, "L5", "a NaN in gives a NaN out (1*w, 0*w, w+(+0), w+(-0))", nan_out,
               VF_OPS * size_classes(s, nan_classes, 2));

    /* Findings: what IEEE 754 recommends but does not require. The dense
     * model (section B) predicts NaN bits from them. */
    uint64_t q = 0, sq = 0;
    for (int op = 0; op < VF_OPS; op++) {
        q += s->counts[CL_QNAN].expected[op];
        sq += s->counts[CL_SNAN].expected[op];
    }
    const uint64_t nq = VF_OPS * s->class_size[CL_QNAN], ns = VF_OPS * s->class_size[CL_SNAN];
    vf_report_line(r, VF_INFO, "NaN", "quiet NaN payloads survive: %llu of %llu results %s",
                   (unsigned long long)q, (unsigned long long)nq,
                   q == nq ? "(all: the payload of a lone NaN operand is kept)" : "(NOT all)");
    vf_report_num(r, "quiet_payload_kept", q);
    vf_report_num(r, "quiet_nan_results", nq);
    vf_report_line(r, VF_INFO, "sNaN",
                   "signalling NaNs come out quieted (bit 22 set), payload kept: %llu of %llu %s",
                   (unsigned long long)sq, (unsigned long long)ns,
                   sq == ns ? "(all)" : "(NOT all)");
    vf_report_num(r, "snan_quieted_payload_kept", sq);
    vf_report_num(r, "snan_results", ns);
    char hex[16];
    snprintf(hex, sizeof hex, "0x%08x", dn);
    vf_report_line(r, VF_INFO, "dNaN", "0*Inf gives the default NaN %s on this CPU", hex);
    vf_report_str(r, "default_nan", hex);
}

/* What flush-to-zero changes: how many results per operation now differ
 * from the IEEE-mode lemma, and in which classes of input. */
static void report_flush(vf_report *r, const sweep *ieee, const sweep *flush)
{
    static const char *const op_names[VF_OPS] = {"1*w", "0*w", "w+(+0)", "w+(-0)"};
    uint64_t changed[CLASSES] = {0};
    char ops[256], classes[256];
    size_t lo = 0, lc = 0;
    ops[0] = classes[0] = '\0';
    for (int op = 0; op < VF_OPS; op++) {
        uint64_t op_changed = 0;
        for (int c = 0; c < CLASSES; c++) {
            const uint64_t a = ieee->counts[c].expected[op], b = flush->counts[c].expected[op];
            op_changed += a > b ? a - b : b - a;
            changed[c] += a > b ? a - b : b - a;
        }
        lo += (size_t)snprintf(ops + lo, lo < sizeof ops ? sizeof ops - lo : 0, "%s%s %llu",
                               op ? ", " : "", op_names[op], (unsigned long long)op_changed);
    }
    for (int c = 0; c < CLASSES; c++)
        if (changed[c])
            lc += (size_t)snprintf(classes + lc, lc < sizeof classes ? sizeof classes - lc : 0,
                                   "%s%s", lc ? " and " : "", class_names[c]);
    vf_report_line(r, VF_INFO, "flush",
                   "with %s on, results differ from the lemmas for %s inputs (flushed to a zero "
                   "of the same sign): %s",
                   vf_flush_name(), lc ? classes : "no", ops);
    for (int c = 0; c < CLASSES; c++) {
        char key[32];
        snprintf(key, sizeof key, "changed_%s", class_names[c]);
        vf_report_num(r, key, changed[c]);
    }
    vf_report_text(r, "  So the dense equivalence needs IEEE mode (FTZ/DAZ off); the "
                      "library's lookup is a bit copy and stays exact under any mode:");
}

/* The library's own lookup with flush on: a bit copy still. */
static void lookup_under_flush(vf_report *r, const vf_config *cfg)
{
    const int64_t vocab = 17, dim = 67, n = 64;
    vf_table t;
    int32_t ids[64];
    float *out = malloc((size_t)(n * dim) * sizeof(float));
    if (out == NULL || vf_table_init(&t, VF_TABLE_ADVERSARIAL, vocab, dim, cfg->seed ^ 0xF1u) != 0) {
        free(out);
        vf_report_line(r, VF_FAIL, "flush", "out of memory");
        return;
    }
    gen_rng g = gen_seed(cfg->seed ^ 0xF2u);
    gen_ids(&g, ids, (size_t)n, vocab, GEN_IDS_UNIFORM);
    uint64_t subnormals = 0;
    for (int64_t k = 0; k < vocab * dim; k++)
        subnormals += (uint64_t)vf_is_subnormal(vf_bits(t.data[k]));
    for (int i = 0; i < cfg->n_runs; i++) {
        char label[64];
        vf_run_label(&cfg->runs[i], label, sizeof label);
        if (vf_run_select(&cfg->runs[i]) != 0) {
            vf_report_line(r, VF_FAIL, label, "cannot select this implementation");
            continue;
        }
        vf_flush_set(1);
        const emb_status st = emb_lookup_f32(t.data, vocab, dim, ids, n, out);
        vf_flush_set(0);
        int64_t bad = 0;
        for (int64_t i2 = 0; i2 < n; i2++)
            bad += memcmp(out + i2 * dim, t.data + (int64_t)ids[i2] * dim,
                          (size_t)dim * sizeof(float)) != 0;
        vf_report_line(r, st == EMB_OK && bad == 0 ? VF_PASS : VF_FAIL, label,
                       "lookup with %s on in the calling thread: %lld of %lld rows bit-copied "
                       "(table with %llu subnormals)",
                       vf_flush_name(), (long long)(n - bad), (long long)n,
                       (unsigned long long)subnormals);
    }
    vf_table_free(&t);
    free(out);
}

void vf_section_lemmas(vf_report *r, const vf_config *cfg)
{
    const int log2_window = cfg->emulated ? 8 : cfg->mode == VF_MODE_QUICK ? 12 : -1;
    sweep_plan p;
    memset(&p, 0, sizeof p);
    const uint32_t dn = vf_default_nan();
    char title[256];
    if (plan(&p, log2_window, dn) != 0) {
        vf_report_section(r, "A", "lemmas");
        vf_report_line(r, VF_FAIL, "A", "out of memory planning the sweep");
        vf_report_end_section(r);
        return;
    }
    if (log2_window < 0)
        snprintf(title, sizeof title, "lemmas over all %llu fp32 bit patterns",
                 (unsigned long long)p.patterns);
    else
        snprintf(title, sizeof title,
                 "lemmas over %llu fp32 bit patterns (%s run: for every sign and exponent the "
                 "%llu lowest, highest and around-the-quiet-bit mantissas; all 2^32 in the "
                 "default and --full runs)",
                 (unsigned long long)p.patterns, cfg->emulated ? "emulated" : "quick",
                 (unsigned long long)(4ull << log2_window));
    vf_report_section(r, "A", title);
    vf_report_num(r, "patterns", p.patterns);

    sweep *s = malloc(2 * sizeof *s);
    if (s == NULL) {
        vf_report_line(r, VF_FAIL, "A", "out of memory");
        vf_report_end_section(r);
        free(p.jobs);
        free(p.job_class);
        return;
    }
    char mode[96];
    vf_flush_set(0);
    vf_flush_describe(mode, sizeof mode);
    void (*kernel)(const vf_lemma_job *, vf_lemma_counts *);
    const char *isa = pick_kernel(&kernel);
    const int ieee_ok = run_sweep(&s[0], &p, 0, cfg->sweep_threads) == 0;
    vf_report_line(r, ieee_ok ? VF_PASS : VF_FAIL, "mode",
                   "IEEE mode in all %d sweep threads: %s; vectorised with %s", cfg->sweep_threads,
                   mode, isa);
    vf_report_str(r, "fp_control", mode);
    vf_report_str(r, "kernel", isa);
    report_ieee(r, &s[0], dn);

    if (!vf_flush_supported()) {
        vf_report_line(r, VF_SKIP, "flush", "%s: the flush-to-zero run is skipped", vf_flush_name());
    } else {
        if (run_sweep(&s[1], &p, 1, cfg->sweep_threads) != 0)
            vf_report_line(r, VF_FAIL, "flush", "could not set %s in the sweep threads",
                           vf_flush_name());
        else
            report_flush(r, &s[0], &s[1]);
        lookup_under_flush(r, cfg);
    }
    vf_format_lemmas(r, cfg);
    vf_hw_narrow_lemmas(r, cfg);
    free(s);
    free(p.jobs);
    free(p.job_class);
    vf_report_end_section(r);
}
