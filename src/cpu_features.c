/* cpu_features.c - which SIMD features this CPU and OS let us use. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
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

static pthread_once_t detect_once = PTHREAD_ONCE_INIT;
static uint32_t features;
static size_t llc_bytes;

/* The size of one instance of the highest-level data cache of CPU 0, from
 * sysfs: in a VM or on a chiplet part, sysconf(_SC_LEVEL3_CACHE_SIZE) may
 * report the whole package's L3 (384 MiB on a 12-chiplet EPYC) although a
 * core reaches only its own chiplet's 32 MiB. */
static size_t cache_from_sysfs(void)
{
    size_t best = 0;
    int best_level = 0;
    for (int index = 0; index < 8; index++) {
        char path[96], text[32] = "";
        int level = 0;
        unsigned long kib = 0;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", index);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            break;
        const int got_level = fscanf(f, "%d", &level) == 1;
        fclose(f);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", index);
        if ((f = fopen(path, "r")) == NULL)
            continue;
        const int got_type = fscanf(f, "%31s", text) == 1;
        fclose(f);
        if (!got_level || !got_type || strcmp(text, "Instruction") == 0)
            continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", index);
        if ((f = fopen(path, "r")) == NULL)
            continue;
        const int got_size = fscanf(f, "%luK", &kib) == 1;
        fclose(f);
        if (got_size && level > best_level) {
            best_level = level;
            best = (size_t)kib << 10;
        }
    }
    return best;
}

static size_t detect_llc(void)
{
    size_t bytes = cache_from_sysfs();
#if defined(_SC_LEVEL3_CACHE_SIZE)
    if (bytes == 0) {
        const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
        bytes = l3 > 0 ? (size_t)l3 : 0;
    }
#endif
    /* Unknown (no sysfs, musl): assume a mid-size server chiplet. */
    return bytes > 0 ? bytes : (size_t)32 << 20;
}

static void detect_into_cache(void)
{
    features = detect();
    llc_bytes = detect_llc();
}

int64_t emb_llc_bytes(void)
{
    pthread_once(&detect_once, detect_into_cache);
    return (int64_t)llc_bytes;
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
    default: return "?";
    }
}
