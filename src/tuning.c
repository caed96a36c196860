/* tuning.c - the schedule in force: the library's defaults, or a tuning
 * file that embsimd-tune measured on this CPU. A schedule moves speed only:
 * which implementation's code runs a kernel, and from what size a call
 * shares its work with a second thread; every choice gives the same bits.
 *
 * The file is found on first use: EMBSIMD_TUNING=PATH names it,
 * EMBSIMD_TUNING=off keeps the defaults, and otherwise it is
 * $XDG_CACHE_HOME/embsimd/tuning-<identity hash>.txt (~/.cache by default).
 * A file whose "cpu" line is not this CPU's identity is ignored, and
 * emb_schedule_description() says so. Format, one item per line, '#'
 * starting a comment:
 *
 *   embsimd-tuning 1
 *   cpu <this CPU's identity, as emb_cpu_identity() writes it>
 *   made <free text: date, tool, mode>
 *   threads.min_bytes <bytes a thread's share must reach for a second thread>
 *   kernel <kernel name> <implementation>
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

/* Below 256 KiB a thread hand-off (a futex wake and a cache-cold start,
 * tens of microseconds) cost more than the copy it would share on AMD
 * Zen 2 (KVM, 2 vCPUs, gcc 12.2 -O2, 2026-11): the default where no
 * tuning file says otherwise. */
#define EMB_DEFAULT_PART_MIN_BYTES ((size_t)256 << 10)

static emb_schedule current = {.part_min_bytes = EMB_DEFAULT_PART_MIN_BYTES};
static char description[2048];
static pthread_once_t loaded = PTHREAD_ONCE_INIT;

/* vendor, family, model, the features the library uses, the LLC the
 * thresholds use, and the online CPUs: what a schedule measured here
 * depends on. */
void emb_cpu_identity(char *buf, size_t size)
{
    char cpu[64] = "unknown";
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if (__get_cpuid(0, &a, &b, &c, &d)) {
        char vendor[13];
        memcpy(vendor, &b, 4);
        memcpy(vendor + 4, &d, 4);
        memcpy(vendor + 8, &c, 4);
        vendor[12] = '\0';
        unsigned family = 0, model = 0;
        if (__get_cpuid(1, &a, &b, &c, &d)) {
            family = (a >> 8) & 0xfu;
            model = (a >> 4) & 0xfu;
            if (family == 0xfu)
                family += (a >> 20) & 0xffu;
            if (family == 6u || family >= 0xfu)
                model |= ((a >> 16) & 0xfu) << 4;
        }
        snprintf(cpu, sizeof cpu, "%s family %u model %u", vendor, family, model);
    }
#elif defined(__aarch64__)
    snprintf(cpu, sizeof cpu, "aarch64");
#endif
    char flags[160] = "";
    size_t used = 0;
    const uint32_t have = emb_cpu_features();
    for (uint32_t bit = 1; bit != 0 && used < sizeof flags; bit <<= 1)
        if (have & bit)
            used += (size_t)snprintf(flags + used, sizeof flags - used, "%s%s", used ? "," : "",
                                     emb_cpu_feature_name(bit));
    snprintf(buf, size, "%s; features %s; llc %lld; cpus %ld", cpu, used ? flags : "none",
             (long long)emb_llc_bytes(), sysconf(_SC_NPROCESSORS_ONLN));
}

/* FNV-1a, 64 bits: a short, stable file name for an identity. */
static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

int emb_tuning_default_path(char *buf, size_t size)
{
    char id[512];
    emb_cpu_identity(id, sizeof id);
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int w;
    if (xdg != NULL && xdg[0] == '/')
        w = snprintf(buf, size, "%s/embsimd/tuning-%016llx.txt", xdg,
                     (unsigned long long)fnv1a(id));
    else if (home != NULL && home[0] != '\0')
        w = snprintf(buf, size, "%s/.cache/embsimd/tuning-%016llx.txt", home,
                     (unsigned long long)fnv1a(id));
    else
        return -1;
    return w > 0 && (size_t)w < size ? 0 : -1;
}

static int find_kernel(const char *name)
{
    for (int k = 0; k < emb_kernel_count(); k++)
        if (strcmp(emb_kernel_at(k)->name, name) == 0)
            return k;
    return -1;
}

/* Parses the file into s; on failure returns -1 with why (naming the
 * line) in `why`, and s is left for the caller to discard. */
static int parse(FILE *f, emb_schedule *s, char *made, size_t made_size, char *why, size_t why_size)
{
    char line[512], id[512];
    emb_cpu_identity(id, sizeof id);
    int lineno = 0, seen_header = 0, seen_cpu = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        size_t len = strlen(line);
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == ' ' || line[len - 1] == '\t'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        char key[64], a[128], b[64];
        if (!seen_header) {
            if (strcmp(line, "embsimd-tuning 1") != 0) {
                snprintf(why, why_size, "line %d is not \"embsimd-tuning 1\"", lineno);
                return -1;
            }
            seen_header = 1;
        } else if (strncmp(line, "cpu ", 4) == 0) {
            if (strcmp(line + 4, id) != 0) {
                snprintf(why, why_size, "made on another CPU (%.160s; this one: %.160s)", line + 4,
                         id);
                return -1;
            }
            seen_cpu = 1;
        } else if (strncmp(line, "made ", 5) == 0) {
            snprintf(made, made_size, "%.200s", line + 5);
        } else if (sscanf(line, "%63s %127s %63s", key, a, b) == 2 &&
                   strcmp(key, "threads.min_bytes") == 0) {
            char *end;
            errno = 0;
            const unsigned long long v = strtoull(a, &end, 10);
            if (*end != '\0' || errno != 0 || a[0] == '-') {
                snprintf(why, why_size, "line %d: threads.min_bytes \"%s\" is not a byte count",
                         lineno, a);
                return -1;
            }
            s->part_min_bytes = (size_t)v;
        } else if (sscanf(line, "%63s %127s %63s", key, a, b) == 3 && strcmp(key, "kernel") == 0) {
            const int k = find_kernel(a);
            if (k < 0) {
                snprintf(why, why_size, "line %d: \"%s\" names no kernel", lineno, a);
                return -1;
            }
            if (strlen(b) >= sizeof s->kernel_impl[k]) {
                snprintf(why, why_size, "line %d: \"%s\" names no implementation", lineno, b);
                return -1;
            }
            memcpy(s->kernel_impl[k], b, strlen(b) + 1);
        } else {
            snprintf(why, why_size, "line %d: \"%.60s\" is not an item of a tuning file", lineno,
                     line);
            return -1;
        }
    }
    if (!seen_header || !seen_cpu) {
        snprintf(why, why_size, "%s", seen_header ? "it has no cpu line" : "it is empty");
        return -1;
    }
    return 0;
}

static void describe_choices(const emb_schedule *s, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "threads from %zu KiB a thread",
                                   s->part_min_bytes >> 10);
    for (int k = 0; k < emb_kernel_count() && used < size; k++)
        if (s->kernel_impl[k][0] != '\0')
            used += (size_t)snprintf(buf + used, size - used, "; %s runs %s's code",
                                     emb_kernel_at(k)->name, s->kernel_impl[k]);
}

static void load(void)
{
    const char *env = getenv("EMBSIMD_TUNING");
    char path[1024], why[512] = "", made[256] = "", choices[600];
    if (env != NULL && strcmp(env, "off") == 0) {
        describe_choices(&current, choices, sizeof choices);
        snprintf(description, sizeof description, "defaults (EMBSIMD_TUNING=off): %s", choices);
        return;
    }
    if (env != NULL && env[0] != '\0')
        snprintf(path, sizeof path, "%s", env);
    else if (emb_tuning_default_path(path, sizeof path) != 0)
        snprintf(path, sizeof path, "(no HOME or XDG_CACHE_HOME)");
    FILE *f = fopen(path, "r");
    emb_schedule s = {.part_min_bytes = EMB_DEFAULT_PART_MIN_BYTES};
    if (f == NULL) {
        snprintf(why, sizeof why, "%s: %s", env ? "cannot read it" : "no tuning file for this CPU",
                 strerror(errno));
    } else {
        if (parse(f, &s, made, sizeof made, why, sizeof why) != 0)
            memset(&s, 0, sizeof s);
        fclose(f);
    }
    if (why[0] != '\0') {
        describe_choices(&current, choices, sizeof choices);
        snprintf(description, sizeof description, "defaults (%s%.300s: %.300s): %s",
                 env ? "EMBSIMD_TUNING=" : "", path, why, choices);
        return;
    }
    current = s;
    describe_choices(&current, choices, sizeof choices);
    snprintf(description, sizeof description, "tuned (%.300s%s%.200s): %s", path,
             made[0] ? ", made " : "", made, choices);
}

const emb_schedule *emb_schedule_current(void)
{
    pthread_once(&loaded, load);
    return &current;
}

void emb_schedule_set_part_min_bytes(size_t bytes)
{
    pthread_once(&loaded, load);
    current.part_min_bytes = bytes;
}

const char *emb_schedule_description(void)
{
    pthread_once(&loaded, load);
    return description;
}
