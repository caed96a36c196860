/* context.h - what a figure needs to be cited: the machine, the build and
 * the run settings, as key/values for the JSON context and the table. */
#ifndef EMBSIMD_BENCH_CONTEXT_H
#define EMBSIMD_BENCH_CONTEXT_H

#include <stddef.h>

#include "bench.h"

typedef struct bench_sysinfo {
    char cpu_model[160];
    char *cpu_flags; /* the whole flags line of /proc/cpuinfo; never NULL */
    char isa_flags[256]; /* the SIMD subset of cpu_flags, for the table header */
    size_t llc_bytes;       /* emb_llc_bytes(); never 0 */
    const char *llc_source; /* emb_llc_description(), e.g. "16 MiB (sysfs L3)" */
    char thp[32];        /* transparent huge pages mode, e.g. "madvise" */
    char host[64];
    char utc_stamp[32]; /* 20261128T011223Z, for file names */
    char utc_date[32];  /* 2026-11-28 01:12:23 UTC, for people */
} bench_sysinfo;

void bench_sysinfo_read(bench_sysinfo *si);
void bench_sysinfo_free(bench_sysinfo *si);

/* How this binary was built: from the generated build-info.h. */
const char *bench_build_compiler(void);
const char *bench_build_cflags(void);
const char *bench_build_configure(void);
const char *bench_build_revision(void);

#define BENCH_CONTEXT_MAX 48

typedef struct bench_context {
    char *key[BENCH_CONTEXT_MAX];
    char *value[BENCH_CONTEXT_MAX];
    size_t count;
} bench_context;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void bench_context_set(bench_context *ctx, const char *key, const char *fmt, ...);
const char *bench_context_get(const bench_context *ctx, const char *key);
void bench_context_free(bench_context *ctx);

#endif /* EMBSIMD_BENCH_CONTEXT_H */
