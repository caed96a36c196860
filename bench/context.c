/* context.c - the machine (/proc/cpuinfo, the library's LLC, huge pages), the
 * build (generated build-info.h) and the key/values published with a run. */
#include "config.h"

#include "context.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "build-info.h"
#include "embsimd.h"

const char *bench_build_compiler(void) { return BENCH_BUILD_COMPILER; }
const char *bench_build_cflags(void) { return BENCH_BUILD_CFLAGS; }
const char *bench_build_configure(void) { return BENCH_BUILD_CONFIGURE; }
const char *bench_build_revision(void) { return BENCH_BUILD_REVISION; }

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
}

/* The value of the first "key<spaces>: value" line of /proc/cpuinfo. */
static char *cpuinfo_value(const char *key)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f == NULL)
        return NULL;
    char *line = NULL, *found = NULL;
    size_t cap = 0;
    const size_t klen = strlen(key);
    while (found == NULL && getline(&line, &cap, f) > 0) {
        if (strncmp(line, key, klen) != 0)
            continue;
        const char *colon = line + klen;
        while (*colon == ' ' || *colon == '\t')
            colon++;
        if (*colon != ':') /* "model" must not match "model name" */
            continue;
        colon++;
        while (*colon == ' ')
            colon++;
        found = strdup(colon);
        if (found != NULL)
            trim(found);
    }
    free(line);
    fclose(f);
    return found;
}

static int read_line(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    const int ok = fgets(buf, (int)size, f) != NULL;
    fclose(f);
    if (ok)
        trim(buf);
    return ok;
}

/* The SIMD-relevant flags, in the order listed, when present. */
static void isa_subset(const char *flags, char *out, size_t size)
{
    static const char *const wanted[] = {
        "sse2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq",
        "avx512_bf16", "avx512_vnni", "asimd", "sve", "sve2", NULL};
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; wanted[i] != NULL; i++) {
        const size_t len = strlen(wanted[i]);
        for (const char *p = flags; (p = strstr(p, wanted[i])) != NULL; p += len) {
            const int starts = p == flags || p[-1] == ' ';
            const int ends = p[len] == ' ' || p[len] == '\0';
            if (starts && ends) {
                const int w = snprintf(out + used, size - used, "%s%s", used ? " " : "", wanted[i]);
                if (w > 0 && (size_t)w < size - used)
                    used += (size_t)w;
                break;
            }
        }
    }
}

void bench_sysinfo_read(bench_sysinfo *si)
{
    memset(si, 0, sizeof *si);
    char *model = cpuinfo_value("model name");
    if (model == NULL)
        model = cpuinfo_value("Hardware");
    if (model == NULL) {
        char *impl = cpuinfo_value("CPU implementer"), *part = cpuinfo_value("CPU part");
        if (impl != NULL && part != NULL) {
            model = malloc(64);
            if (model != NULL)
                snprintf(model, 64, "implementer %s part %s", impl, part);
        }
        free(impl);
        free(part);
    }
    /* Model names can be as vague as "AMD EPYC"; family and model tell the
     * generation apart. */
    char *family = cpuinfo_value("cpu family"), *number = cpuinfo_value("model");
    if (family != NULL && number != NULL)
        snprintf(si->cpu_model, sizeof si->cpu_model, "%.100s (family %.8s, model %.8s)",
                 model ? model : "unknown", family, number);
    else
        snprintf(si->cpu_model, sizeof si->cpu_model, "%s", model ? model : "unknown");
    free(family);
    free(number);
    free(model);
    si->cpu_flags = cpuinfo_value("flags");
    if (si->cpu_flags == NULL)
        si->cpu_flags = cpuinfo_value("Features");
    if (si->cpu_flags == NULL)
        si->cpu_flags = strdup("unknown");
    isa_subset(si->cpu_flags ? si->cpu_flags : "", si->isa_flags, sizeof si->isa_flags);
    /* The figure the kernels' thresholds use, so the labels agree with
     * what the library decided. */
    si->llc_bytes = (size_t)emb_llc_bytes();
    si->llc_source = emb_llc_description();
    char thp[128];
    if (read_line("/sys/kernel/mm/transparent_hugepage/enabled", thp, sizeof thp)) {
        /* "always [madvise] never": the bracketed one is in effect */
        const char *open = strchr(thp, '['), *close = open ? strchr(open, ']') : NULL;
        if (open && close)
            snprintf(si->thp, sizeof si->thp, "%.*s", (int)(close - open - 1), open + 1);
        else
            snprintf(si->thp, sizeof si->thp, "%.31s", thp);
    } else {
        snprintf(si->thp, sizeof si->thp, "unknown");
    }
    if (gethostname(si->host, sizeof si->host) != 0 || si->host[0] == '\0')
        snprintf(si->host, sizeof si->host, "unknown");
    si->host[sizeof si->host - 1] = '\0';
    const time_t now = time(NULL);
    struct tm utc;
    gmtime_r(&now, &utc);
    strftime(si->utc_stamp, sizeof si->utc_stamp, "%Y%m%dT%H%M%SZ", &utc);
    strftime(si->utc_date, sizeof si->utc_date, "%Y-%m-%d %H:%M:%S UTC", &utc);
}

void bench_sysinfo_free(bench_sysinfo *si)
{
    free(si->cpu_flags);
    si->cpu_flags = NULL;
}

void bench_context_set(bench_context *ctx, const char *key, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    size_t i = 0;
    while (i < ctx->count && strcmp(ctx->key[i], key) != 0)
        i++;
    if (i == BENCH_CONTEXT_MAX) {
        fprintf(stderr, "embsimd-bench: context is full, \"%s\" left out\n", key);
        return;
    }
    char *v = strdup(buf);
    if (v == NULL)
        return;
    if (i == ctx->count) {
        ctx->key[i] = strdup(key);
        if (ctx->key[i] == NULL) {
            free(v);
            return;
        }
        ctx->count++;
    } else {
        free(ctx->value[i]);
    }
    ctx->value[i] = v;
}

const char *bench_context_get(const bench_context *ctx, const char *key)
{
    for (size_t i = 0; i < ctx->count; i++)
        if (strcmp(ctx->key[i], key) == 0)
            return ctx->value[i];
    return "";
}

void bench_context_free(bench_context *ctx)
{
    for (size_t i = 0; i < ctx->count; i++) {
        free(ctx->key[i]);
        free(ctx->value[i]);
    }
    ctx->count = 0;
}
