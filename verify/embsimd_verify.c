/* embsimd_verify.c - embsimd-verify: options, the report's header, and the
 * sections in order; exit status 0 only when every check passes. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "verify.h"

#ifndef VF_BUILD_CFLAGS
#define VF_BUILD_CFLAGS "unknown"
#endif

static void usage(FILE *f)
{
    fputs(
        "Usage: embsimd-verify [--quick|--full] [--impl NAME] [--json FILE] [--seed N]\n"
        "                      [--threads LIST] [--sections LIST] [--emulated]\n"
        "\n"
        "Proves, for every implementation of this build that the CPU runs, for\n"
        "thread counts 1, 2 and 3 and for every kernel the library lists (lookup\n"
        "from f32, f16, bf16, q8_0, q4_0, q8_rowwise, q4_K, q6_K tables; grad from\n"
        "f32, f16, bf16 dY; int32 and int64 ids), that embedding lookup equals\n"
        "one-hot x to_f32(W) and its gradient equals one-hot^T x widen(dY) bit for\n"
        "bit, and that where IEEE 754 makes them differ they differ exactly as\n"
        "predicted. The report has eight sections:\n"
        "  A  the lemmas (1*w, 0*w, w+(+0), w+(-0), NaN in -> NaN out) on all 2^32\n"
        "     fp32 bit patterns, in IEEE mode and with flush-to-zero on; every f16\n"
        "     and bf16 pattern, every int8 x fp16 product, the k-quants' every\n"
        "     fp16 x 6-bit x 4-bit (q4_K) and fp16 x int8 x 6-bit (q6_K) product,\n"
        "     and a stratified sample of q8_rowwise's fmaf, through every kernel\n"
        "     against the definitions\n"
        "  B  the theorem per table type, and the dense product against its model\n"
        "  C  every implementation x thread count x kernel on the case grid\n"
        "  D  one-hot x W through OpenBLAS sgemm (outside the domain: findings)\n"
        "  E  XXH3-128 digests of canonical cases per kernel, equal for every run\n"
        "  F  the embedding layer: token + position (= one-hot x W + one-hot x P), its\n"
        "     gradient, padding_idx (the masked product), max_norm's canonical order\n"
        "  G  the similarity scan (emb_scan): every scan kernel, every run, equal\n"
        "     bits, and equal to the definition's one summation order\n"
        "  H  EmbeddingBag: bag sums = B x to_f32(W) in token order per table type;\n"
        "     vocabulary order as a finding; fused steps on f32, f16 and bf16 tables\n"
        "     vs scalar, a rounding model and FBGEMM; quantized tables rejected\n"
        "\n"
        "  --quick         lemma sweep on 2^23 patterns stratified over every sign,\n"
        "                  exponent and class boundary, a small grid (make verify,\n"
        "                  make check)\n"
        "  (default)       all 2^32 patterns, every grid axis, large tables sampled\n"
        "  --full          all 2^32 patterns and the whole grid\n"
        "  --emulated      for runs under an emulator (qemu): lemma sweep on 2^19\n"
        "                  patterns, grid up to vocab 1000 x dim 257; digests are\n"
        "                  unchanged. Also set by EMBSIMD_VERIFY_EMULATED=1.\n"
        "  --impl NAME     only this implementation (default: every available one,\n"
        "                  or the one EMBSIMD_IMPL names)\n"
        "  --threads LIST  thread counts, comma-separated (default 1,2,3, or\n"
        "                  EMBSIMD_VERIFY_THREADS)\n"
        "  --sections LIST which sections to run, e.g. ACE (default ABCDEFGH)\n"
        "  --json FILE     also write the whole report as JSON to FILE\n"
        "  --seed N        seed of the grid's random inputs (default 1; the canonical\n"
        "                  digest cases never change)\n"
        "  --help          this text\n"
        "\n"
        "Exit status: 0 when every check passes, 1 when one fails, 2 on a usage error.\n",
        f);
}

static int fail_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "embsimd-verify: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'embsimd-verify --help'.\n");
    return 2;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    const unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

/* "1,2,3" into counts; -1 on anything else. */
static int parse_threads(const char *list, int *threads, int *count)
{
    int n = 0;
    for (const char *p = list; *p;) {
        char *end;
        const long t = strtol(p, &end, 10);
        if (end == p || t < 1 || t > EMB_MAX_THREADS || n == 16 || (*end != ',' && *end != '\0'))
            return -1;
        threads[n++] = (int)t;
        p = *end ? end + 1 : end;
    }
    if (n == 0)
        return -1;
    *count = n;
    return 0;
}

static void cpu_model(char *buf, size_t size)
{
    struct utsname u;
    snprintf(buf, size, "%s", uname(&u) == 0 ? u.machine : "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f == NULL)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0 && strchr(line, ':')) {
            char *v = strchr(line, ':') + 2;
            v[strcspn(v, "\n")] = '\0';
            snprintf(buf + strlen(buf), size - strlen(buf), ", %s", v);
            break;
        }
    }
    fclose(f);
}

static const char *compiler(void)
{
#if defined(__clang__)
    return "clang " __clang_version__;
#elif defined(__GNUC__)
    return "gcc " __VERSION__;
#else
    return "unknown C compiler";
#endif
}

int main(int argc, char **argv)
{
    vf_config cfg = {VF_MODE_STANDARD, 0, 1, NULL, 0, 1};
    const char *impl = NULL, *json = NULL, *sections = "ABCDEFGH";
    int threads[16] = {1, 2, 3}, n_threads = 3;
    const char *env = getenv("EMBSIMD_VERIFY_EMULATED");
    cfg.emulated = env != NULL && env[0] != '\0' && strcmp(env, "0") != 0;
    const char *env_threads = getenv("EMBSIMD_VERIFY_THREADS");
    if (env_threads != NULL && env_threads[0] != '\0' &&
        parse_threads(env_threads, threads, &n_threads) != 0)
        return fail_usage("EMBSIMD_VERIFY_THREADS takes up to 16 counts in [1, 256] separated by "
                          "commas, not '%s'",
                          env_threads);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const int has_value = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--quick") == 0) {
            cfg.mode = VF_MODE_QUICK;
        } else if (strcmp(a, "--full") == 0) {
            cfg.mode = VF_MODE_FULL;
        } else if (strcmp(a, "--emulated") == 0) {
            cfg.emulated = 1;
        } else if (strcmp(a, "--impl") == 0 && has_value) {
            impl = argv[++i];
        } else if (strcmp(a, "--json") == 0 && has_value) {
            json = argv[++i];
        } else if (strcmp(a, "--sections") == 0 && has_value) {
            sections = argv[++i];
            if (sections[strspn(sections, "ABCDEFGH")] != '\0' || !sections[0])
                return fail_usage("--sections takes letters from ABCDEFGH, not '%s'", sections);
        } else if (strcmp(a, "--seed") == 0 && has_value) {
            if (parse_u64(argv[++i], &cfg.seed) != 0)
                return fail_usage("--seed takes a non-negative integer, not '%s'", argv[i]);
        } else if (strcmp(a, "--threads") == 0 && has_value) {
            if (parse_threads(argv[++i], threads, &n_threads) != 0)
                return fail_usage("--threads takes up to 16 counts in [1, 256] separated by "
                                  "commas, not '%s'",
                                  argv[i]);
        } else if (strncmp(a, "--", 2) == 0 && !has_value &&
                   (!strcmp(a, "--impl") || !strcmp(a, "--json") || !strcmp(a, "--seed") ||
                    !strcmp(a, "--threads") || !strcmp(a, "--sections"))) {
            return fail_usage("%s needs a value", a);
        } else {
            return fail_usage("unknown argument '%s'", a);
        }
    }

    /* A JSON file that cannot be written is an error now, not after a run
     * of several minutes. */
    if (json != NULL) {
        FILE *f = fopen(json, "w");
        if (f == NULL) {
            fprintf(stderr, "embsimd-verify: cannot write %s: %s\n", json, strerror(errno));
            return 2;
        }
        fclose(f);
    }

    /* Which implementations: --impl, else EMBSIMD_IMPL (as for make check),
     * else every available one. */
    const char *env_impl = getenv("EMBSIMD_IMPL");
    if (impl == NULL && env_impl != NULL && env_impl[0] != '\0' && strcmp(env_impl, "auto") != 0)
        impl = env_impl;
    int impls[32], n_impls = 0;
    for (int k = 0; k < emb_impl_count() && n_impls < 32; k++) {
        if (impl != NULL && strcmp(impl, emb_impl_name(k)) != 0)
            continue;
        if (!emb_impl_available(k)) {
            if (impl != NULL) {
                fprintf(stderr, "embsimd-verify: implementation '%s' cannot run here: %s\n",
                        impl, emb_impl_unavailable_reason(k));
                return 2;
            }
            continue;
        }
        impls[n_impls++] = k;
    }
    if (n_impls == 0)
        return fail_usage("'%s' is not an implementation of this build", impl ? impl : "?");
    vf_run runs[32 * 16];
    for (int k = 0; k < n_impls; k++)
        for (int t = 0; t < n_threads; t++) {
            runs[cfg.n_runs].impl = impls[k];
            runs[cfg.n_runs].threads = threads[t];
            cfg.n_runs++;
        }
    cfg.runs = runs;
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cfg.sweep_threads = cpus < 1 ? 1 : cpus > 64 ? 64 : (int)cpus;

    const time_t start = time(NULL);
    vf_report *r = vf_report_new(stdout);
    char buf[512];
    printf("embsimd-verify: embedding lookup == one-hot x W, bit for bit\n\n");
    vf_report_meta(r, "version", "%s", emb_version());
    vf_report_meta(r, "mode", "%s%s (seed %llu)", vf_mode_name(cfg.mode),
                   cfg.emulated ? ", emulated: reduced sweep and grid" : "",
                   (unsigned long long)cfg.seed);
    cpu_model(buf, sizeof buf);
    vf_report_meta(r, "cpu", "%s (%ld online)", buf, cpus);
    /* The kernels choose prefetch and streaming stores from it, so a run's
     * paths depend on it. */
    vf_report_meta(r, "llc", "%s", emb_llc_description());
    vf_report_meta(r, "schedule", "%s", emb_schedule_description());
    vf_report_meta(r, "compiler", "%s; CFLAGS %s", compiler(), VF_BUILD_CFLAGS);
    size_t len = 0;
    buf[0] = '\0';
    for (int k = 0; k < emb_impl_count(); k++)
        len += (size_t)snprintf(buf + len, len < sizeof buf ? sizeof buf - len : 0, "%s%s (%s)",
                                k ? ", " : "", emb_impl_name(k),
                                emb_impl_available(k) ? "available" : emb_impl_unavailable_reason(k));
    vf_report_meta(r, "implementations", "%s", buf);
    len = 0;
    buf[0] = '\0';
    for (int i = 0; i < cfg.n_runs; i++) {
        char label[64];
        vf_run_label(&runs[i], label, sizeof label);
        len += (size_t)snprintf(buf + len, len < sizeof buf ? sizeof buf - len : 0, "%s%s",
                                i ? ", " : "", label);
    }
    vf_report_meta(r, "runs", "%s", buf);
    struct tm tm;
    gmtime_r(&start, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    vf_report_meta(r, "date", "%s", buf);

    if (strchr(sections, 'A'))
        vf_section_lemmas(r, &cfg);
    if (strchr(sections, 'B') || strchr(sections, 'C'))
        vf_section_grid(r, &cfg);
    if (strchr(sections, 'D'))
        vf_section_blas(r, &cfg);
    if (strchr(sections, 'E'))
        vf_section_digests(r, &cfg);
    if (strchr(sections, 'F'))
        vf_section_layer(r, &cfg);
    if (strchr(sections, 'G'))
        vf_section_scan(r, &cfg);
    if (strchr(sections, 'H'))
        vf_section_bags(r, &cfg);
    emb_use_impl(NULL);
    emb_set_num_threads(0);

    const vf_status result = vf_report_result(r);
    printf("\nRESULT: %s (sections %s, %s mode%s, %ld s)\n", vf_status_name(result), sections,
           vf_mode_name(cfg.mode), cfg.emulated ? ", emulated" : "",
           (long)(time(NULL) - start));
    int rc = result == VF_PASS ? 0 : 1;
    if (json != NULL && vf_report_write_json(r, json) != 0)
        rc = 2;
    vf_report_free(r);
    return rc;
}
