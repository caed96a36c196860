/* cpu_features.c - which SIMD features this CPU and OS let us use, and the
 * size of the last-level cache the kernels' thresholds compare against. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

/* XCR0 bits: 1 SSE, 2 AVX (upper YMM), 5 opmask, 6 ZMM_Hi256, 7 Hi16_ZMM. */
#define XCR0_YMM 0x06u
#define XCR0_ZMM 0xE6u

static uint64_t read_xcr0(void)
{
    uint32_t lo, hi;
    /* Encoded as bytes so it assembles without -mxsave. */
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static uint32_t detect(void)
{
    unsigned a, b, c, d;
    uint32_t f = 0;

    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    const int has_fma = (c >> 12) & 1;
    const int has_f16c = (c >> 29) & 1;
    const int has_osxsave = (c >> 27) & 1;
    const int has_avx = (c >> 28) & 1;
    /* Without OSXSAVE the OS does not save the wide registers across
     * context switches, and XGETBV itself would fault. */
    if (!has_osxsave || !has_avx)
        return 0;
    const uint64_t xcr0 = read_xcr0();
    if ((xcr0 & XCR0_YMM) != XCR0_YMM)
        return 0;

    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return 0;
    if ((b >> 5) & 1)
        f |= EMB_CPU_AVX2;
    if (has_fma)
        f |= EMB_CPU_FMA;
    /* F16C's VCVTPH2PS works on YMM registers: usable once XCR0 says the
     * OS saves them, checked above. */
    if (has_f16c)
        f |= EMB_CPU_F16C;
    if ((xcr0 & XCR0_ZMM) == XCR0_ZMM) {
        if ((b >> 16) & 1)
            f |= EMB_CPU_AVX512F;
        if ((b >> 17) & 1)
            f |= EMB_CPU_AVX512DQ;
        if ((b >> 30) & 1)
            f |= EMB_CPU_AVX512BW;
        if ((b >> 31) & 1)
            f |= EMB_CPU_AVX512VL;
    }
    return f;
}

#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1 << 1)
#endif

static uint32_t detect(void)
{
    /* Advanced SIMD is mandatory in AArch64, but a kernel may still hide
     * it (e.g. when emulating); trust what it reports. */
    return (getauxval(AT_HWCAP) & HWCAP_ASIMD) ? EMB_CPU_NEON : 0;
}

#elif defined(__aarch64__)
static uint32_t detect(void) { return EMB_CPU_NEON; }
#else
static uint32_t detect(void) { return 0; }
#endif

/* --- the last-level cache ------------------------------------------------ */

/* The largest cache size accepted from $EMBSIMD_LLC: far above any real
 * cache, and small enough that the kernels' byte arithmetic cannot wrap. */
#define LLC_MAX ((uint64_t)1 << 40)

/* "16M", "16MiB", "16 MB", "32768K", "1G", "1048576": bytes, binary units,
 * case-insensitive. 0 when s is not such a size, with *why saying why. */
static size_t parse_size(const char *s, const char **why)
{
    while (*s == ' ' || *s == '\t')
        s++;
    /* strtoull would accept a sign and wrap "-1" to 2^64 - 1 */
    if (*s < '0' || *s > '9') {
        *why = "not a size";
        return 0;
    }
    errno = 0;
    char *end;
    const unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE) {
        *why = "too large";
        return 0;
    }
    while (*end == ' ')
        end++;
    int shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10; break;
    case 'm': case 'M': shift = 20; break;
    case 'g': case 'G': shift = 30; break;
    case 't': case 'T': shift = 40; break;
    default: break;
    }
    if (shift != 0) {
        end++;
        if ((end[0] == 'i' || end[0] == 'I') && (end[1] == 'b' || end[1] == 'B'))
            end += 2;
        else if (end[0] == 'b' || end[0] == 'B')
            end++;
    } else if (*end == 'b' || *end == 'B') {
        end++;
    }
    while (*end == ' ' || *end == '\t' || *end == '\n')
        end++;
    if (*end != '\0') {
        *why = "not a size";
        return 0;
    }
    if (v == 0) {
        *why = "zero";
        return 0;
    }
    const uint64_t limit = SIZE_MAX / 2 < LLC_MAX ? (uint64_t)(SIZE_MAX / 2) : LLC_MAX;
    if (v > (limit >> shift)) {
        *why = "too large";
        return 0;
    }
    return (size_t)(v << shift);
}

/* "16 MiB", "1280 KiB", "1 GiB", "1000 bytes": exact, in the largest unit
 * that divides it. */
static void format_size(char *buf, size_t size, size_t bytes)
{
    if (bytes % ((size_t)1 << 30) == 0)
        snprintf(buf, size, "%zu GiB", bytes >> 30);
    else if (bytes % ((size_t)1 << 20) == 0)
        snprintf(buf, size, "%zu MiB", bytes >> 20);
    else if (bytes % 1024 == 0)
        snprintf(buf, size, "%zu KiB", bytes >> 10);
    else
        snprintf(buf, size, "%zu byte%s", bytes, bytes == 1 ? "" : "s");
}

/* One line of a sysfs file, without its newline; 0 when unreadable. */
static int read_line(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    const int ok = fgets(buf, (int)size, f) != NULL;
    fclose(f);
    if (ok)
        buf[strcspn(buf, "\n")] = '\0';
    return ok;
}

/* The size of the highest-level data or unified cache listed under root
 * (index0/, index1/, ... each holding level, type and size), its level in
 * *level; 0 when there is none, or when that cache's size is unreadable:
 * the next lower level would not be the last-level cache. */
static size_t cache_from_sysfs(const char *root, int *level)
{
    size_t best = 0;
    int best_level = 0;
    for (int index = 0; index < 32; index++) {
        char path[4096], text[64];
        snprintf(path, sizeof path, "%s/index%d/level", root, index);
        if (!read_line(path, text, sizeof text))
            continue;
        char *end;
        const long lv = strtol(text, &end, 10);
        if (end == text || *end != '\0' || lv < 1 || lv > 9)
            continue;
        snprintf(path, sizeof path, "%s/index%d/type", root, index);
        if (!read_line(path, text, sizeof text) ||
            (strcmp(text, "Data") != 0 && strcmp(text, "Unified") != 0))
            continue;
        if (lv < best_level || (lv == best_level && best != 0))
            continue;
        const char *why;
        snprintf(path, sizeof path, "%s/index%d/size", root, index);
        const size_t bytes = read_line(path, text, sizeof text) ? parse_size(text, &why) : 0;
        best_level = (int)lv;
        best = bytes;
    }
    *level = best_level;
    return best;
}

/* $EMBSIMD_LLC as the description quotes it: printable, and short. */
static void quote_env(char *buf, size_t size, const char *s)
{
    size_t n = 0;
    for (; *s != '\0' && n + 4 < size && n < 32; s++)
        buf[n++] = (*s >= 0x20 && *s < 0x7f && *s != '"') ? *s : '?';
    if (*s != '\0' && n + 4 <= size) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
}

/* The order: $EMBSIMD_LLC, then what describes one instance of the cache
 * (sysfs, CPUID's cache leaves), then a package-wide figure capped by a
 * share per CPU, then a guess.
 *
 * Why the share is 4 MiB per CPU. A package-wide figure (sysconf, CPUID
 * 0x80000006) counts L3 this process cannot use: on chiplet parts a core
 * reaches only its own complex's L3 (a 2-vCPU slice of a Zen 5 EPYC is told
 * 508 MiB where its chiplet has 32 MiB), and on a shared host the rest is
 * other tenants' working set. What the process can count on is about its
 * CPUs' share. Zen 2 to Zen 5 have 4 MiB of L3 per core (16 MiB per 4-core
 * CCX, 32 MiB per 8-core CCD): there the cap is that share. Intel server
 * parts from Skylake-SP to Sapphire Rapids have 1.25-2.5 MiB per core:
 * there the cap errs high, toward the package figure used before, by at
 * most 3.2x. It errs low only where a core's share exceeds 4 MiB (V-Cache
 * parts, 12 MiB; Emerald Rapids, 5 MiB; client parts with few cores), and
 * only when neither sysfs nor CPUID's cache leaves answered.
 * Erring high is the cheaper side: the kernels switch prefetch and
 * streaming on at 3/8 and 5/8 of the LLC, and a figure too high only withholds them
 * from tables a little past that (a 5-10 % gain forgone, docs/tuning.md,
 * "Kernel tuning"), where one too low turns them on for cache-resident tables
 * (a 15-25 % loss). */
void emb_llc_decide(const emb_llc_sources *src, emb_llc *out)
{
    char note[92] = "", size_text[32], source[128];
    size_t bytes = 0;

    if (src->env != NULL && src->env[0] != '\0') {
        const char *why = "";
        char shown[48];
        quote_env(shown, sizeof shown, src->env);
        bytes = parse_size(src->env, &why);
        if (bytes != 0)
            snprintf(source, sizeof source, "EMBSIMD_LLC=%s", shown);
        else
            snprintf(note, sizeof note, "; EMBSIMD_LLC=\"%s\" ignored: %s", shown, why);
    }
    int level = 0;
    if (bytes == 0 && src->sysfs_root != NULL &&
        (bytes = cache_from_sysfs(src->sysfs_root, &level)) != 0)
        snprintf(source, sizeof source, "sysfs L%d", level);
    if (bytes == 0 && src->cpuid_bytes != 0) {
        bytes = src->cpuid_bytes;
        const int n = snprintf(source, sizeof source, "CPUID %s%X L%d",
                               src->cpuid_leaf < 0x10 ? "leaf " : "0x", src->cpuid_leaf,
                               src->cpuid_level);
        if (src->cpuid_sharing > 0 && n > 0 && (size_t)n < sizeof source)
            snprintf(source + n, sizeof source - (size_t)n, ", shared by %d CPU%s",
                     src->cpuid_sharing, src->cpuid_sharing == 1 ? "" : "s");
    }
    if (bytes == 0 && src->package_bytes != 0) {
        const long cpus = src->cpus > 0 ? src->cpus : 1;
        const uint64_t cap = (uint64_t)cpus * EMB_LLC_PER_CPU;
        const char *from = src->package_source ? src->package_source : "package";
        if ((uint64_t)src->package_bytes > cap) {
            char whole[32];
            format_size(whole, sizeof whole, src->package_bytes);
            bytes = (size_t)cap;
            snprintf(source, sizeof source, "%s %s, capped: %ld CPU%s x %zu MiB", from, whole,
                     cpus, cpus == 1 ? "" : "s", EMB_LLC_PER_CPU >> 20);
        } else {
            bytes = src->package_bytes;
            snprintf(source, sizeof source, "%s", from);
        }
    }
    if (bytes == 0) {
        /* Nothing says: a mid-size server chiplet. */
        bytes = (size_t)32 << 20;
        snprintf(source, sizeof source, "assumed");
    }
    format_size(size_text, sizeof size_text, bytes);
    out->bytes = bytes;
    snprintf(out->description, sizeof out->description, "%s (%s%s)", size_text, source, note);
}

#if defined(__x86_64__) || defined(__i386__)
/* CPUID's deterministic cache parameters: leaf 4 (Intel and others) or
 * 0x8000001D (AMD and Hygon, which leave leaf 4 zero; present when
 * 0x80000001 ECX bit 22, TOPOEXT, is set). Each subleaf describes one
 * cache, per instance, until type 0. AMD parts without TOPOEXT offer only
 * 0x80000006, which describes the whole package. */
static void llc_from_cpuid(emb_llc_sources *s)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d))
        return;
    const unsigned max_basic = a;
    /* The vendor string is EBX, EDX, ECX: "AuthenticAMD", "HygonGenuine". */
    const int amd = (b == 0x68747541u && d == 0x69746e65u && c == 0x444d4163u) ||
                    (b == 0x6f677948u && d == 0x6e65476eu && c == 0x656e6975u);
    const unsigned max_ext = __get_cpuid_max(0x80000000u, NULL);
    unsigned leaf = 0;
    if (amd) {
        if (max_ext >= 0x8000001Du && __get_cpuid(0x80000001u, &a, &b, &c, &d) && ((c >> 22) & 1))
            leaf = 0x8000001Du;
    } else if (max_basic >= 4) {
        leaf = 4;
    }
    for (unsigned sub = 0; leaf != 0 && sub < 16; sub++) {
        __cpuid_count(leaf, sub, a, b, c, d);
        const unsigned type = a & 0x1f; /* 1 data, 2 instruction, 3 unified */
        if (type == 0)
            break;
        const int level = (int)((a >> 5) & 7);
        if (type == 2 || level < s->cpuid_level)
            continue;
        const uint64_t ways = (b >> 22) + 1, partitions = ((b >> 12) & 0x3ff) + 1;
        const uint64_t line = (b & 0xfff) + 1, sets = (uint64_t)c + 1;
        const uint64_t bytes = ways * partitions * line * sets;
        if (bytes > SIZE_MAX / 2)
            continue;
        s->cpuid_bytes = (size_t)bytes;
        s->cpuid_leaf = leaf;
        s->cpuid_level = level;
        s->cpuid_sharing = (int)((a >> 14) & 0xfff) + 1;
    }
    if (s->package_bytes == 0 && amd && max_ext >= 0x80000006u) {
        __cpuid(0x80000006u, a, b, c, d);
        /* EDX[31:18]: L3 size in 512 KiB units */
        s->package_bytes = (size_t)(d >> 18) << 19;
        s->package_source = "CPUID 0x80000006";
    }
}
#else
static void llc_from_cpuid(emb_llc_sources *s) { (void)s; }
#endif

/* The CPUs this process may run on (its affinity mask, which a container
 * or taskset narrows), else the online ones. */
static long allowed_cpus(void)
{
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        return CPU_COUNT(&set);
    /* More CPUs than a cpu_set_t holds */
    for (int n = 4096; n <= 65536; n *= 4) {
        cpu_set_t *big = CPU_ALLOC(n);
        if (big == NULL)
            break;
        const size_t bytes = CPU_ALLOC_SIZE(n);
        const int ok = sched_getaffinity(0, bytes, big) == 0;
        const long count = ok ? CPU_COUNT_S(bytes, big) : 0;
        CPU_FREE(big);
        if (ok)
            return count;
    }
#endif
    return sysconf(_SC_NPROCESSORS_ONLN);
}

static pthread_once_t detect_once = PTHREAD_ONCE_INIT;
static uint32_t features;
static emb_llc llc;

static void detect_llc(void)
{
    emb_llc_sources s = {0};
    s.env = getenv("EMBSIMD_LLC");
    s.sysfs_root = "/sys/devices/system/cpu/cpu0/cache";
#if defined(_SC_LEVEL3_CACHE_SIZE)
    const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (l3 > 0) {
        s.package_bytes = (size_t)l3;
        s.package_source = "sysconf";
    }
#endif
    llc_from_cpuid(&s);
    s.cpus = allowed_cpus();
    emb_llc_decide(&s, &llc);
}

static void detect_into_cache(void)
{
    features = detect();
    detect_llc();
}

int64_t emb_llc_bytes(void)
{
    pthread_once(&detect_once, detect_into_cache);
    return (int64_t)llc.bytes;
}

const char *emb_llc_description(void)
{
    pthread_once(&detect_once, detect_into_cache);
    return llc.description;
}

uint32_t emb_cpu_features(void)
{
    pthread_once(&detect_once, detect_into_cache);
    return features;
}

const char *emb_cpu_feature_name(uint32_t bit)
{
    switch (bit) {
    case EMB_CPU_AVX2: return "AVX2";
    case EMB_CPU_FMA: return "FMA";
    case EMB_CPU_AVX512F: return "AVX512F";
    case EMB_CPU_AVX512BW: return "AVX512BW";
    case EMB_CPU_AVX512VL: return "AVX512VL";
    case EMB_CPU_AVX512DQ: return "AVX512DQ";
    case EMB_CPU_NEON: return "NEON";
    case EMB_CPU_F16C: return "F16C";
    default: return "?";
    }
}
