/* dispatch.c - the table of implementations, the picker, the
 * EMBSIMD_IMPL / emb_use_impl() override and the per-kernel
 * EMBSIMD_KERNEL_IMPL override. */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#ifdef EMB_HAVE_AVX512
#define AVX512_KERNELS (&emb_kernels_avx512)
#else
#define AVX512_KERNELS NULL
#endif
#ifdef EMB_HAVE_AVX2
#define AVX2_KERNELS (&emb_kernels_avx2)
#else
#define AVX2_KERNELS NULL
#endif
#ifdef EMB_HAVE_NEON
#define NEON_KERNELS (&emb_kernels_neon)
#else
#define NEON_KERNELS NULL
#endif

typedef struct emb_impl {
    const char *name;
    uint32_t requires;
    const emb_kernels *kernels; /* NULL: not compiled into this build */
} emb_impl;

/* Best first: the picker takes the first available entry, and scalar,
 * last, is always available. */
static const emb_impl impls[] = {
    {"avx512", EMB_CPU_AVX512F | EMB_CPU_AVX512BW | EMB_CPU_AVX512VL | EMB_CPU_AVX512DQ,
     AVX512_KERNELS},
    {"avx2", EMB_CPU_AVX2 | EMB_CPU_FMA, AVX2_KERNELS},
    {"neon", EMB_CPU_NEON, NEON_KERNELS},
    {"scalar", 0, &emb_kernels_scalar},
};
enum { IMPL_COUNT = (int)(sizeof impls / sizeof impls[0]) };

#define REASON_MAX 96
static char reasons[IMPL_COUNT][REASON_MAX];
static pthread_once_t reasons_once = PTHREAD_ONCE_INIT;

/* Per implementation, the function each kernel runs on each row class
 * and whose it is: its own entry when the CPU has what that entry needs,
 * else the next available implementation's, down to scalar, which has
 * every kernel; the same for both classes until an override moves one. */
static emb_resolved resolved[IMPL_COUNT];
static int resolved_by[IMPL_COUNT][EMB_ROW_CLASSES][EMB_KERNEL_COUNT];

static const emb_kernel_entry *find_entry(int impl, int kernel, uint32_t have)
{
    const emb_kernels *ks = impls[impl].kernels;
    for (size_t e = 0; e < ks->count; e++)
        if (ks->entries[e].kernel == kernel && (ks->entries[e].requires & ~have) == 0)
            return &ks->entries[e];
    return NULL;
}

static void resolve(int impl, uint32_t have)
{
    resolved[impl].ids_minmax = impls[impl].kernels->ids_minmax;
    for (int k = 0; k < EMB_KERNEL_COUNT; k++) {
        for (int j = impl; j < IMPL_COUNT; j++) {
            if (reasons[j][0] != '\0')
                continue;
            const emb_kernel_entry *e = find_entry(j, k, have);
            if (e != NULL) {
                for (int c = 0; c < EMB_ROW_CLASSES; c++) {
                    resolved[impl].kernel[c][k] = e;
                    resolved_by[impl][c][k] = j;
                }
                break;
            }
        }
    }
}

static int find_impl(const char *name);

/* EMBSIMD_KERNEL_IMPL="KERNEL=IMPL[,KERNEL=IMPL...]": kernel KERNEL runs
 * IMPL's code under every implementation ranked above IMPL (the ones
 * at and below it are unchanged, so an override only ever steps down the
 * table); "KERNEL@short=IMPL" or "KERNEL@long=IMPL" for one row class
 * (emb_row_class) only. Every implementation computes the same bits, so
 * this moves speed only. It lets a CPU where one implementation's kernel
 * is slower than a lower one's run the faster code, and lets a test give
 * an implementation a table that lacks kernels on any CPU. A malformed
 * value never falls back silently: every call fails, naming the item. */
static char override_error[256];

static void override_fail(int item, const char *spec, size_t len, const char *why)
{
    snprintf(override_error, sizeof override_error,
             "EMBSIMD_KERNEL_IMPL: item %d, \"%.*s\", %s", item, (int)(len > 80 ? 80 : len),
             spec, why);
}

static void override_kernel(int k, int row_class, int target)
{
    for (int i = 0; i < target; i++) {
        if (reasons[i][0] != '\0')
            continue;
        resolved[i].kernel[row_class][k] = resolved[target].kernel[row_class][k];
        resolved_by[i][row_class][k] = resolved_by[target][row_class][k];
    }
}

/* The tuning file's choices first (an implementation it names that is not
 * available here is passed over: the file was made on this CPU, whose
 * identity includes its features), then the environment's, which win. */
static void apply_kernel_overrides(void)
{
    const emb_schedule *s = emb_schedule_current();
    for (int c = 0; c < EMB_ROW_CLASSES; c++)
        for (int k = 0; k < EMB_KERNEL_COUNT; k++) {
            const char *name = s->kernel_impl[c][k];
            const int target = name[0] ? find_impl(name) : -1;
            if (target >= 0 && reasons[target][0] == '\0')
                override_kernel(k, c, target);
        }
    const char *spec = getenv("EMBSIMD_KERNEL_IMPL");
    if (spec == NULL)
        return;
    int item = 0;
    for (const char *p = spec; *p != '\0';) {
        const char *end = strchr(p, ',');
        const size_t len = end ? (size_t)(end - p) : strlen(p);
        item++;
        const char *eq = memchr(p, '=', len);
        char kernel[64], impl[32];
        if (eq == NULL || (size_t)(eq - p) >= sizeof kernel ||
            len - (size_t)(eq - p) - 1 >= sizeof impl) {
            override_fail(item, p, len, "is not KERNEL=IMPL (e.g. lookup/f32->f32=avx2)");
            return;
        }
        snprintf(kernel, sizeof kernel, "%.*s", (int)(eq - p), p);
        snprintf(impl, sizeof impl, "%.*s", (int)(len - (size_t)(eq - p) - 1), eq + 1);
        int first = 0, last = EMB_ROW_CLASSES - 1; /* both row classes unless named */
        char *at = strchr(kernel, '@');
        if (at != NULL) {
            *at++ = '\0';
            first = emb_row_class_named(at);
            if (first < 0) {
                override_fail(item, p, len, "names a row class other than short and long");
                return;
            }
            last = first;
        }
        int k = 0;
        while (k < EMB_KERNEL_COUNT && strcmp(emb_kernel_at(k)->name, kernel) != 0)
            k++;
        const int target = find_impl(impl);
        if (k == EMB_KERNEL_COUNT) {
            override_fail(item, p, len, "names no kernel (emb_kernel_at lists them)");
            return;
        }
        if (target < 0 || reasons[target][0] != '\0') {
            override_fail(item, p, len, target < 0 ? "names no implementation of this build"
                                                   : reasons[target]);
            return;
        }
        for (int c = first; c <= last; c++)
            override_kernel(k, c, target);
        p += len;
        if (*p == ',')
            p++;
    }
}

static void explain_availability(void)
{
    const uint32_t have = emb_cpu_features();
    for (int i = 0; i < IMPL_COUNT; i++) {
        const uint32_t missing = impls[i].requires & ~have;
        if (impls[i].kernels == NULL) {
            snprintf(reasons[i], REASON_MAX,
                     "not compiled in (other architecture, no compiler support, or --disable-%s)",
                     impls[i].name);
        } else if (missing != 0) {
            const uint32_t first = missing & -missing;
            snprintf(reasons[i], REASON_MAX, "CPU or OS lacks %s",
                     emb_cpu_feature_name(first));
        }
    }
    /* From the last (scalar) up, so every fallback is already settled. */
    for (int i = IMPL_COUNT - 1; i >= 0; i--)
        if (reasons[i][0] == '\0')
            resolve(i, have);
}

static int available(int i)
{
    pthread_once(&reasons_once, explain_availability);
    return i >= 0 && i < IMPL_COUNT && reasons[i][0] == '\0';
}

/* Read on first use of a kernel, not with the CPU's features, so that a
 * process can set the variable after asking what is available. */
static pthread_once_t overrides_once = PTHREAD_ONCE_INIT;

static void resolve_with_overrides(void)
{
    pthread_once(&reasons_once, explain_availability);
    pthread_once(&overrides_once, apply_kernel_overrides);
}

int emb_impl_count(void) { return IMPL_COUNT; }

const char *emb_impl_name(int i)
{
    return (i >= 0 && i < IMPL_COUNT) ? impls[i].name : NULL;
}

int emb_impl_available(int i) { return available(i); }

const char *emb_impl_unavailable_reason(int i)
{
    if (i < 0 || i >= IMPL_COUNT)
        return "no such implementation";
    return available(i) ? NULL : reasons[i];
}

static int find_impl(const char *name)
{
    for (int i = 0; i < IMPL_COUNT; i++)
        if (strcmp(impls[i].name, name) == 0)
            return i;
    return -1;
}

static int best_available(void)
{
    for (int i = 0; i < IMPL_COUNT; i++)
        if (available(i))
            return i;
    return IMPL_COUNT - 1; /* unreachable: scalar has no requirements */
}

/* The "available: ..." list that error messages end with. */
static void list_available(char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < IMPL_COUNT && used < size; i++) {
        if (!available(i))
            continue;
        int w = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", impls[i].name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

/* -1 after a bad EMBSIMD_IMPL: never fall back silently, since measuring
 * or verifying the wrong kernel is worse than failing. */
static atomic_int active = -1;
static char bad_env_message[256];
static pthread_once_t active_once = PTHREAD_ONCE_INIT;

static void pick_from_environment(void)
{
    const char *want = getenv("EMBSIMD_IMPL");
    if (want == NULL || want[0] == '\0' || strcmp(want, "auto") == 0) {
        atomic_store(&active, best_available());
        return;
    }
    const int i = find_impl(want);
    if (i >= 0 && available(i)) {
        atomic_store(&active, i);
        return;
    }
    char list[128];
    list_available(list, sizeof list);
    snprintf(bad_env_message, sizeof bad_env_message,
             "EMBSIMD_IMPL=%.40s %s; available: %s", want,
             i < 0 ? "is not an implementation of this build" : reasons[i], list);
}

static int active_index(void)
{
    pthread_once(&active_once, pick_from_environment);
    return atomic_load(&active);
}

const emb_resolved *emb_active_kernels(void)
{
    resolve_with_overrides();
    if (override_error[0] != '\0') {
        emb_set_error("%s", override_error);
        return NULL;
    }
    const int i = active_index();
    if (i < 0) {
        emb_set_error("%s", bad_env_message);
        return NULL;
    }
    return &resolved[i];
}

const char *emb_kernel_impl_for_dim(int k, int impl, int64_t dim)
{
    resolve_with_overrides();
    if (k < 0 || k >= EMB_KERNEL_COUNT || !available(impl) || dim < 1)
        return NULL;
    return impls[resolved_by[impl][emb_row_class((size_t)dim)][k]].name;
}

const char *emb_kernel_impl(int k, int impl) { return emb_kernel_impl_for_dim(k, impl, 1); }

const char *emb_impl_active(void)
{
    const int i = active_index();
    return i < 0 ? NULL : impls[i].name;
}

emb_status emb_use_impl(const char *name)
{
    /* Run the environment pick first so it can never overwrite this one. */
    (void)active_index();
    if (name == NULL || strcmp(name, "auto") == 0) {
        atomic_store(&active, best_available());
        return EMB_OK;
    }
    const int i = find_impl(name);
    if (i < 0 || !available(i)) {
        char list[128];
        list_available(list, sizeof list);
        emb_set_error("implementation \"%.40s\" %s; available: %s", name,
                      i < 0 ? "is not an implementation of this build" : reasons[i], list);
        return EMB_ENOTSUP;
    }
    atomic_store(&active, i);
    return EMB_OK;
}
