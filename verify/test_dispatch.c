/* test_dispatch.c - the Check suite of the implementation table: the
 * picker, EMBSIMD_IMPL, emb_use_impl, the list of kernels, which
 * implementation's code runs each and EMBSIMD_KERNEL_IMPL. */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "embsimd.h"
#include "internal.h"
#include "test_common.h"

/* ------------------------------------------------------------------ */
/* The implementation table and the override                            */
/* ------------------------------------------------------------------ */

START_TEST(table_lists_scalar_last_and_explains_the_rest)
{
    const int count = emb_impl_count();
    ck_assert_int_ge(count, 1);
    ck_assert_str_eq(emb_impl_name(count - 1), "scalar");
    ck_assert_int_eq(emb_impl_available(count - 1), 1);
    ck_assert_ptr_null(emb_impl_name(-1));
    ck_assert_ptr_null(emb_impl_name(count));
    ck_assert_int_eq(emb_impl_available(count), 0);
    for (int i = 0; i < count; i++) {
        for (int k = i + 1; k < count; k++)
            ck_assert_str_ne(emb_impl_name(i), emb_impl_name(k));
        const char *why = emb_impl_unavailable_reason(i);
        ck_assert_msg((why == NULL) == (emb_impl_available(i) == 1), "%s: available %d, reason %s",
                      emb_impl_name(i), emb_impl_available(i), why ? why : "(none)");
    }
}
END_TEST

START_TEST(use_impl_selects_or_refuses)
{
    const int count = emb_impl_count();
    int best = -1;
    for (int i = 0; i < count; i++) {
        if (emb_impl_available(i)) {
            if (best < 0)
                best = i;
            ck_assert_int_eq(emb_use_impl(emb_impl_name(i)), EMB_OK);
            ck_assert_str_eq(emb_impl_active(), emb_impl_name(i));
        }
    }
    ck_assert_int_eq(emb_use_impl("scalar"), EMB_OK);
    for (int i = 0; i < count; i++) {
        if (emb_impl_available(i))
            continue;
        ck_assert_int_eq(emb_use_impl(emb_impl_name(i)), EMB_ENOTSUP);
        ck_assert_str_eq(emb_impl_active(), "scalar"); /* unchanged */
        ck_assert_ptr_nonnull(strstr(emb_last_error(), emb_impl_name(i)));
        ck_assert_ptr_nonnull(strstr(emb_last_error(), emb_impl_unavailable_reason(i)));
    }
    ck_assert_int_eq(emb_use_impl("sse9"), EMB_ENOTSUP);
    ck_assert_str_eq(emb_impl_active(), "scalar");
    ck_assert_ptr_nonnull(strstr(emb_last_error(), "\"sse9\" is not an implementation"));
    ck_assert_ptr_nonnull(strstr(emb_last_error(), "available: "));
    ck_assert_int_eq(emb_use_impl(NULL), EMB_OK);
    ck_assert_str_eq(emb_impl_active(), emb_impl_name(best));
    ck_assert_int_eq(emb_use_impl("scalar"), EMB_OK);
    ck_assert_int_eq(emb_use_impl("auto"), EMB_OK);
    ck_assert_str_eq(emb_impl_active(), emb_impl_name(best));
}
END_TEST

/* Children return the number of the first failing check, 0 on success. */
static int child_env_selects(const char *name)
{
    setenv("EMBSIMD_IMPL", name, 1);
    if (!emb_impl_active() || strcmp(emb_impl_active(), name) != 0)
        return 1;
    float table[6] = {1, 2, 3, 4, 5, 6}, out[3];
    const int32_t id = 1;
    if (emb_lookup_f32(table, 2, 3, &id, 1, out) != EMB_OK || out[2] != 6.0f)
        return 2;
    return 0;
}

/* After a refused environment: every call, even an empty one, fails with
 * EMB_ENOTSUP and writes nothing, and the message holds `want`. Returns
 * the number of the first failing check, 0 on success. */
static int every_call_refused(const char *want)
{
    float table[6] = {1, 2, 3, 4, 5, 6}, out[3] = {7, 7, 7};
    const int32_t id = 1;
    if (emb_lookup_f32(table, 2, 3, &id, 1, out) != EMB_ENOTSUP)
        return 1;
    if (out[0] != 7.0f || out[1] != 7.0f || out[2] != 7.0f)
        return 2;
    if (emb_grad_f32(table, 2, 3, &id, 1, out) != EMB_ENOTSUP || table[3] != 4.0f)
        return 3;
    if (emb_lookup_f32(NULL, 2, 3, NULL, 0, NULL) != EMB_ENOTSUP)
        return 4;
    return strstr(emb_last_error(), want) == NULL ? 5 : 0;
}

static int child_env_refuses(const char *name)
{
    setenv("EMBSIMD_IMPL", name, 1);
    char want[128];
    snprintf(want, sizeof want, "EMBSIMD_IMPL=%s ", name);
    const int failed = every_call_refused(want);
    if (failed)
        return failed;
    if (strstr(emb_last_error(), "available: ") == NULL || strstr(emb_last_error(), "scalar") == NULL)
        return 6;
    if (emb_impl_active() != NULL)
        return 7;
    /* An explicit choice overrides the bad environment. */
    float table[6] = {1, 2, 3, 4, 5, 6}, out[3];
    const int32_t id = 1;
    if (emb_use_impl("scalar") != EMB_OK || emb_lookup_f32(table, 2, 3, &id, 1, out) != EMB_OK)
        return 8;
    return 0;
}

static int child_env_auto(const char *name)
{
    setenv("EMBSIMD_IMPL", name, 1);
    for (int i = 0; i < emb_impl_count(); i++)
        if (emb_impl_available(i))
            return strcmp(emb_impl_active(), emb_impl_name(i)) == 0 ? 0 : 1;
    return 2;
}

START_TEST(environment_selects_or_refuses)
{
    for (int i = 0; i < emb_impl_count(); i++) {
        char label[64];
        snprintf(label, sizeof label, "EMBSIMD_IMPL=%s", emb_impl_name(i));
        run_in_child(emb_impl_available(i) ? child_env_selects : child_env_refuses,
                     emb_impl_name(i), label);
    }
    run_in_child(child_env_refuses, "bogus", "EMBSIMD_IMPL=bogus");
    run_in_child(child_env_refuses, "AVX2", "EMBSIMD_IMPL=AVX2 (names are lower case)");
    run_in_child(child_env_auto, "auto", "EMBSIMD_IMPL=auto");
    run_in_child(child_env_auto, "", "EMBSIMD_IMPL empty");
}
END_TEST

enum { RACERS = 8 };
static pthread_barrier_t start_line;
static const char *seen_active[RACERS];
static int racer_status[RACERS];

static void *racer(void *arg)
{
    const int me = (int)(intptr_t)arg;
    float table[4 * 9], out[2 * 9];
    for (int k = 0; k < 36; k++)
        table[k] = (float)k;
    const int32_t ids[2] = {3, 1};
    pthread_barrier_wait(&start_line);
    racer_status[me] = emb_lookup_f32(table, 4, 9, ids, 2, out);
    if (racer_status[me] == EMB_OK && (out[0] != 27.0f || out[17] != 17.0f))
        racer_status[me] = -1;
    seen_active[me] = emb_impl_active();
    return NULL;
}

static int child_first_use_race(const char *unused)
{
    (void)unused;
    unsetenv("EMBSIMD_IMPL");
    pthread_t t[RACERS];
    pthread_barrier_init(&start_line, NULL, RACERS);
    for (int k = 0; k < RACERS; k++)
        if (pthread_create(&t[k], NULL, racer, (void *)(intptr_t)k) != 0)
            return 1;
    for (int k = 0; k < RACERS; k++)
        pthread_join(t[k], NULL);
    for (int k = 0; k < RACERS; k++) {
        if (racer_status[k] != EMB_OK)
            return 2;
        if (seen_active[k] == NULL || strcmp(seen_active[k], seen_active[0]) != 0)
            return 3;
    }
    return 0;
}

START_TEST(first_use_from_many_threads)
{
    for (int round = 0; round < 20; round++)
        run_in_child(child_first_use_race, NULL, "8 threads racing to first use");
}
END_TEST

/* ------------------------------------------------------------------ */
/* The kernels and which implementation runs each                       */
/* ------------------------------------------------------------------ */

START_TEST(kernel_list_is_well_formed)
{
    const int count = emb_kernel_count();
    ck_assert_int_gt(count, 0);
    ck_assert_ptr_null(emb_kernel_at(-1));
    ck_assert_ptr_null(emb_kernel_at(count));
    for (int k = 0; k < count; k++) {
        const emb_kernel *kern = emb_kernel_at(k);
        ck_assert_ptr_nonnull(kern);
        ck_assert_ptr_eq(emb_kernel_at(k), kern); /* one stable entry */
        ck_assert_msg(emb_op_name(kern->op) != NULL, "kernel %d: op %d", k, (int)kern->op);
        /* Grouped by op: the per-op test loops take each op's kernels as
         * one range. */
        if (k > 0 && emb_kernel_at(k - 1)->op != kern->op)
            for (int j = 0; j < k; j++)
                ck_assert_msg(emb_kernel_at(j)->op != kern->op, "%s: its op's kernels are not "
                              "contiguous in the list", kern->name);
        const char *in = emb_type_name(kern->in), *out = emb_type_name(kern->out);
        ck_assert_msg(in != NULL && out != NULL, "kernel %d: types %d -> %d", k, (int)kern->in,
                      (int)kern->out);
        /* The name is op/in->out, built from the types' names. */
        char want[64];
        snprintf(want, sizeof want, "%s/%s->%s", emb_op_name(kern->op), in, out);
        ck_assert_ptr_nonnull(kern->name);
        ck_assert_str_eq(kern->name, want);
        /* A gradient accumulates into an fp32 dtable; the fused lookup
         * writes f32; a fused step updates its table in place. */
        if (kern->op == EMB_OP_BAG_SGD || kern->op == EMB_OP_BAG_ADAGRAD)
            ck_assert_msg(kern->out == kern->in, "%s: a step from %s into %s", kern->name, in,
                          out);
        else if (kern->op != EMB_OP_LOOKUP)
            ck_assert_msg(kern->out == EMB_F32, "%s: grad into %s", kern->name, out);
        for (int j = k + 1; j < count; j++) {
            const emb_kernel *other = emb_kernel_at(j);
            ck_assert_str_ne(kern->name, other->name);
            ck_assert_msg(!(kern->op == other->op && kern->in == other->in &&
                            kern->out == other->out),
                          "kernels %d and %d are both %s", k, j, kern->name);
        }
    }
    /* embsimd.h: any table type looks up into f32. */
    for (int t = 0; t < EMB_TYPE_COUNT; t++) {
        int found = 0;
        for (int k = 0; k < count; k++)
            found |= emb_kernel_at(k)->op == EMB_OP_LOOKUP && (int)emb_kernel_at(k)->in == t &&
                     emb_kernel_at(k)->out == EMB_F32;
        ck_assert_msg(found, "no lookup from %s to f32", emb_type_name((emb_type)t));
    }
}
END_TEST

static int impl_index(const char *name)
{
    for (int i = 0; i < emb_impl_count(); i++)
        if (strcmp(emb_impl_name(i), name) == 0)
            return i;
    return -1;
}

/* Under implementation _i every kernel runs its own code or that of an
 * available implementation further down the table; scalar has them all. */
START_TEST(kernel_impl_falls_back_down_the_table)
{
    const int scalar = impl_index("scalar");
    ck_assert_int_ge(scalar, 0);
    for (int k = 0; k < emb_kernel_count(); k++) {
        const char *runs = emb_kernel_impl(k, _i);
        ck_assert_msg(runs != NULL, "%s under %s: NULL", emb_kernel_at(k)->name,
                      emb_impl_name(_i));
        const int j = impl_index(runs);
        ck_assert_msg(j >= _i, "%s under %s runs %s, which is not at or after it in the table",
                      emb_kernel_at(k)->name, emb_impl_name(_i), runs);
        ck_assert_msg(emb_impl_available(j), "%s under %s runs %s, which is not available here",
                      emb_kernel_at(k)->name, emb_impl_name(_i), runs);
        if (_i == scalar)
            ck_assert_str_eq(runs, "scalar");
        ck_assert_str_eq(emb_kernel_impl(k, scalar), "scalar");
    }
}
END_TEST

START_TEST(kernel_impl_out_of_range)
{
    const int kernels = emb_kernel_count(), impls = emb_impl_count();
    for (int i = -1; i <= impls; i++) {
        ck_assert_ptr_null(emb_kernel_impl(-1, i));
        ck_assert_ptr_null(emb_kernel_impl(kernels, i));
        ck_assert_ptr_null(emb_kernel_impl(INT32_MIN, i));
    }
    for (int k = 0; k < kernels; k++) {
        ck_assert_ptr_null(emb_kernel_impl(k, -1));
        ck_assert_ptr_null(emb_kernel_impl(k, impls));
        for (int i = 0; i < impls; i++) {
            if (!emb_impl_available(i))
                ck_assert_msg(emb_kernel_impl(k, i) == NULL, "%s under unavailable %s: %s",
                              emb_kernel_at(k)->name, emb_impl_name(i), emb_kernel_impl(k, i));
            /* rows of no element have no class */
            ck_assert_ptr_null(emb_kernel_impl_for_dim(k, i, 0));
            ck_assert_ptr_null(emb_kernel_impl_for_dim(k, i, INT64_MIN));
        }
    }
}
END_TEST

/* EMBSIMD_KERNEL_IMPL: a kernel steps down to a lower implementation's
 * code under every implementation above it, and only there. */
static int kernel_index(const char *name)
{
    for (int k = 0; k < emb_kernel_count(); k++)
        if (strcmp(emb_kernel_at(k)->name, name) == 0)
            return k;
    return -1;
}

static int child_override_steps_down(const char *spec)
{
    setenv("EMBSIMD_KERNEL_IMPL", spec, 1);
    const int lookup = kernel_index("lookup/f32->f32"), grad = kernel_index("grad/f32->f32");
    for (int i = 0; i < emb_impl_count(); i++) {
        if (!emb_impl_available(i))
            continue;
        if (strcmp(emb_kernel_impl(lookup, i), "scalar") != 0)
            return 1; /* every implementation above scalar now runs scalar's */
        /* grad/f32->f32 is every implementation's own: untouched */
        if (strcmp(emb_kernel_impl(grad, i), emb_impl_name(i)) != 0)
            return 2;
    }
    /* the best implementation, now with scalar's lookup: the same bits */
    float table[6] = {1, 2, 3, 4, 5, -0.0f}, out[3];
    const int32_t id = 1;
    if (emb_lookup_f32(table, 2, 3, &id, 1, out) != EMB_OK || out[0] != 4.0f ||
        memcmp(&out[2], &table[5], sizeof(float)) != 0)
        return 4;
    return 0;
}

/* An override naming an implementation further up the table than the one
 * selected leaves that one alone: overrides only ever step down. */
static int child_override_never_steps_up(const char *unused)
{
    (void)unused;
    int best = -1;
    for (int i = 0; i < emb_impl_count() && best < 0; i++)
        if (emb_impl_available(i))
            best = i;
    char spec[96];
    snprintf(spec, sizeof spec, "lookup/f32->f32=%s", emb_impl_name(best));
    setenv("EMBSIMD_KERNEL_IMPL", spec, 1);
    const int lookup = kernel_index("lookup/f32->f32");
    for (int i = best; i < emb_impl_count(); i++)
        if (emb_impl_available(i) && strcmp(emb_kernel_impl(lookup, i), emb_impl_name(i)) != 0)
            return 1;
    return 0;
}

static int best_index(void)
{
    for (int i = 0; i < emb_impl_count(); i++)
        if (emb_impl_available(i))
            return i;
    return -1;
}

/* The entries the selected implementation calls for the f32 lookup's rows
 * of dim elements: what the entry points run (emb_kernel_for), not only
 * what emb_kernel_impl_for_dim reports. */
static const emb_kernel_entry *lookup_entry(const char *impl, size_t dim)
{
    if (emb_use_impl(impl) != EMB_OK)
        return NULL;
    return emb_kernel_for(emb_active_kernels(), kernel_index("lookup/f32->f32"), dim);
}

/* "KERNEL@long=IMPL" moves the long rows only (dim > 1024), "@short" the
 * short ones only: in what emb_kernel_impl_for_dim reports and in what
 * the entry points call, with the same bits either way. */
static int child_override_one_row_class(const char *spec)
{
    setenv("EMBSIMD_KERNEL_IMPL", spec, 1);
    const int moved = strstr(spec, "@long") ? EMB_ROWS_LONG : EMB_ROWS_SHORT;
    const int lookup = kernel_index("lookup/f32->f32");
    static const int64_t dims[] = {1, 768, 1024, 1025, 4096};
    for (int i = 0; i < emb_impl_count(); i++) {
        if (!emb_impl_available(i))
            continue;
        for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
            const int in_moved = emb_row_class((size_t)dims[d]) == moved;
            const char *runs = emb_kernel_impl_for_dim(lookup, i, dims[d]);
            if (strcmp(runs, in_moved ? "scalar" : emb_impl_name(i)) != 0)
                return 1;
        }
        if (strcmp(emb_kernel_impl(lookup, i), moved == EMB_ROWS_SHORT ? "scalar"
                                                                        : emb_impl_name(i)) != 0)
            return 2; /* emb_kernel_impl answers for short rows */
    }
    const emb_kernel_entry *scalar = lookup_entry("scalar", 1);
    const char *best = emb_impl_name(best_index());
    const emb_kernel_entry *moved_e = lookup_entry(best, moved == EMB_ROWS_LONG ? 1025 : 1024);
    const emb_kernel_entry *kept_e = lookup_entry(best, moved == EMB_ROWS_LONG ? 1024 : 1025);
    if (scalar == NULL || moved_e != scalar)
        return 3;
    if (strcmp(best, "scalar") != 0 && kept_e == scalar)
        return 4;
    /* the best implementation on rows of either class: the bits of the table */
    enum { D = 1025 };
    static float table[2 * D], out[D];
    for (int j = 0; j < 2 * D; j++)
        table[j] = (float)j - 0.5f;
    const int32_t id = 1;
    if (emb_lookup_f32(table, 2, D, &id, 1, out) != EMB_OK ||
        memcmp(out, table + D, sizeof out) != 0)
        return 5;
    return 0;
}

/* A malformed value fails every call, naming the item; nothing is written. */
static int child_override_refuses(const char *spec)
{
    setenv("EMBSIMD_KERNEL_IMPL", spec, 1);
    /* the item itself, quoted (the last one of the list is the bad one) */
    const char *bad = strrchr(spec, ',') ? strrchr(spec, ',') + 1 : spec;
    char want[128];
    snprintf(want, sizeof want, "EMBSIMD_KERNEL_IMPL: item %d, \"%s\"", bad == spec ? 1 : 2, bad);
    const int failed = every_call_refused(want);
    if (failed)
        return failed;
    /* choosing an implementation does not clear it */
    float table[6] = {1, 2, 3, 4, 5, 6}, out[3];
    const int32_t id = 1;
    if (emb_use_impl("scalar") != EMB_OK || emb_lookup_f32(table, 2, 3, &id, 1, out) != EMB_ENOTSUP)
        return 6;
    return 0;
}

START_TEST(kernel_override_from_the_environment)
{
    run_in_child(child_override_steps_down, "lookup/f32->f32=scalar",
                 "EMBSIMD_KERNEL_IMPL=lookup/f32->f32=scalar");
    run_in_child(child_override_steps_down, "grad/bf16->f32=scalar,lookup/f32->f32=scalar",
                 "EMBSIMD_KERNEL_IMPL with two items");
    run_in_child(child_override_never_steps_up, NULL, "EMBSIMD_KERNEL_IMPL naming the best");
    run_in_child(child_override_refuses, "lookup/f32->f32", "EMBSIMD_KERNEL_IMPL without =");
    run_in_child(child_override_refuses, "lookup/f32->f32=scalar,lookup/f99->f32=scalar",
                 "EMBSIMD_KERNEL_IMPL naming no kernel");
    run_in_child(child_override_refuses, "lookup/f32->f32=sse9",
                 "EMBSIMD_KERNEL_IMPL naming no implementation");
    run_in_child(child_override_one_row_class, "lookup/f32->f32@long=scalar",
                 "EMBSIMD_KERNEL_IMPL for long rows");
    run_in_child(child_override_one_row_class, "lookup/f32->f32@short=scalar",
                 "EMBSIMD_KERNEL_IMPL for short rows");
    run_in_child(child_override_refuses, "lookup/f32->f32@wide=scalar",
                 "EMBSIMD_KERNEL_IMPL naming no row class");
    for (int i = 0; i < emb_impl_count(); i++) {
        if (emb_impl_available(i))
            continue;
        char spec[96];
        snprintf(spec, sizeof spec, "lookup/f32->f32=%s", emb_impl_name(i));
        run_in_child(child_override_refuses, spec, "EMBSIMD_KERNEL_IMPL naming an unavailable "
                     "implementation");
    }
}
END_TEST

/* The tuning file: read on first use, ignored (and said so) when made on
 * another CPU or malformed; its kernel choices step down like
 * EMBSIMD_KERNEL_IMPL's. */
static char tuning_path[256];
static int tuning_version = 2; /* the header's: 1 and 2 are read, others refused */

static int write_tuning(const char *cpu, const char *body)
{
    snprintf(tuning_path, sizeof tuning_path, "%s/embsimd-tuning-%ld.txt",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid());
    FILE *f = fopen(tuning_path, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "embsimd-tuning %d\n# a comment\ncpu %s\nmade test\n%s", tuning_version, cpu,
            body);
    return fclose(f);
}

/* A tuning file made on this CPU with body, in force for this process:
 * the schedule's description, or NULL where the file could not be
 * written. */
static const char *tuning_here(const char *body)
{
    char id[512];
    emb_cpu_identity(id, sizeof id);
    if (write_tuning(id, body) != 0)
        return NULL;
    setenv("EMBSIMD_TUNING", tuning_path, 1);
    return emb_schedule_description();
}

static int child_tuning_applies(const char *unused)
{
    (void)unused;
    const char *d = tuning_here("threads.min_bytes 1048576\nthreads.wake_min_bytes 2097152\n"
                                "kernel lookup/f32->f32 scalar\n");
    if (d == NULL)
        return 1;
    int failed = 0;
    if (strncmp(d, "tuned (", 7) != 0 || strstr(d, tuning_path) == NULL)
        failed = 2;
    else if (strstr(d, "threads from 1024 KiB a thread while one is awake, 2048 KiB to wake one") ==
                 NULL ||
             strstr(d, "lookup/f32->f32 runs scalar's code") == NULL || strstr(d, "made test") == NULL)
        failed = 3;
    else if (emb_schedule_current()->part_min_bytes != 1048576 ||
             emb_schedule_current()->wake_min_bytes != 2097152)
        failed = 4;
    else if (strcmp(emb_kernel_impl(kernel_index("lookup/f32->f32"), best_index()), "scalar") != 0)
        failed = 5;
    else if (strcmp(emb_kernel_impl(kernel_index("grad/f32->f32"), best_index()),
                    emb_impl_name(best_index())) != 0)
        failed = 6;
    unlink(tuning_path);
    return failed;
}

/* "kernel NAME IMPL long" moves the long rows only, and says so. */
static int child_tuning_long_rows(const char *unused)
{
    (void)unused;
    const char *d = tuning_here("kernel lookup/f32->f32 scalar long\n"
                                "kernel grad/f32->f32 scalar short\n");
    if (d == NULL)
        return 1;
    const int lookup = kernel_index("lookup/f32->f32"), grad = kernel_index("grad/f32->f32");
    const char *best = emb_impl_name(best_index());
    int failed = 0;
    if (strstr(d, "lookup/f32->f32 runs scalar's code on long rows") == NULL ||
        strstr(d, "grad/f32->f32 runs scalar's code on short rows") == NULL)
        failed = 2;
    else if (strcmp(emb_kernel_impl_for_dim(lookup, best_index(), 4096), "scalar") != 0 ||
             strcmp(emb_kernel_impl_for_dim(lookup, best_index(), 1024), best) != 0)
        failed = 3;
    else if (strcmp(emb_kernel_impl_for_dim(grad, best_index(), 1024), "scalar") != 0 ||
             strcmp(emb_kernel_impl_for_dim(grad, best_index(), 1025), best) != 0)
        failed = 4;
    unlink(tuning_path);
    return failed;
}

/* The file at tuning_path must be ignored, the description holding want. */
static int child_tuning_ignored(const char *want)
{
    setenv("EMBSIMD_TUNING", tuning_path, 1);
    const char *d = emb_schedule_description();
    int failed = 0;
    if (strncmp(d, "defaults (EMBSIMD_TUNING=", 25) != 0 || strstr(d, want) == NULL)
        failed = 1;
    else if (emb_schedule_current()->part_min_bytes != (size_t)64 << 10 ||
             emb_schedule_current()->wake_min_bytes != (size_t)16 << 20)
        failed = 2; /* nothing of the file was taken */
    else if (strcmp(emb_kernel_impl(kernel_index("lookup/f32->f32"), best_index()),
                    emb_impl_name(best_index())) != 0)
        failed = 3;
    unlink(tuning_path);
    return failed;
}

/* embsimd-tune writes SIZE_MAX where no call was worth waking a thread
 * for: the description says so instead of printing 2^54 KiB. */
static int child_tuning_never_wakes(const char *unused)
{
    (void)unused;
    const char *d = tuning_here("threads.min_bytes 32768\n"
                                "threads.wake_min_bytes 18446744073709551615\n");
    if (d == NULL)
        return 1;
    int failed = 0;
    if (strstr(d, "threads from 32 KiB a thread while one is awake, never woken for a call") == NULL)
        failed = 2;
    else if (emb_schedule_current()->wake_min_bytes != SIZE_MAX)
        failed = 3;
    unlink(tuning_path);
    return failed;
}

static int child_tuning_off(const char *unused)
{
    (void)unused;
    setenv("EMBSIMD_TUNING", "off", 1);
    const char *want = "defaults (EMBSIMD_TUNING=off): threads from 64 KiB a thread while one is "
                       "awake, 16384 KiB to wake one";
    return strncmp(emb_schedule_description(), want, strlen(want)) == 0 ? 0 : 1;
}

START_TEST(tuning_file_applies_or_is_ignored)
{
    char id[512];
    emb_cpu_identity(id, sizeof id);
    run_in_child(child_tuning_applies, NULL, "a tuning file made on this CPU");
    run_in_child(child_tuning_off, NULL, "EMBSIMD_TUNING=off");
    run_in_child(child_tuning_never_wakes, NULL, "a tuning file that never wakes a thread");
    run_in_child(child_tuning_long_rows, NULL, "a tuning file choosing for one row class");
    ck_assert_int_eq(write_tuning("GenuineIntel family 6 model 1; features none; llc 1; cpus 1",
                                  "threads.min_bytes 1\nkernel lookup/f32->f32 scalar\n"), 0);
    run_in_child(child_tuning_ignored, "made on another CPU (GenuineIntel family 6 model 1",
                 "a tuning file made on another CPU");
    ck_assert_int_eq(write_tuning(id, "threads.min_bytes 1\nthreads.max 2\n"), 0);
    run_in_child(child_tuning_ignored, "line 6: \"threads.max 2\" is not an item",
                 "a tuning file with an unknown item");
    ck_assert_int_eq(write_tuning(id, "threads.min_bytes 1\nkernel lookup/f99->f32 scalar\n"), 0);
    run_in_child(child_tuning_ignored, "line 6: \"lookup/f99->f32\" names no kernel",
                 "a tuning file naming no kernel");
    tuning_version = 1; /* a file from before the row classes */
    run_in_child(child_tuning_applies, NULL, "a tuning file of version 1");
    tuning_version = 3;
    ck_assert_int_eq(write_tuning(id, "threads.min_bytes 1\n"), 0);
    run_in_child(child_tuning_ignored, "line 1 is not \"embsimd-tuning 2\" (or 1)",
                 "a tuning file of a version this library does not read");
    tuning_version = 2;
    ck_assert_int_eq(write_tuning(id, "kernel lookup/f32->f32 scalar wide\n"), 0);
    run_in_child(child_tuning_ignored, "line 5: \"wide\" is not a row class (short or long)",
                 "a tuning file naming no row class");
    ck_assert_int_eq(write_tuning(id, "kernel lookup/f32->f32 scalar long 2\n"), 0);
    run_in_child(child_tuning_ignored,
                 "line 5: \"2\" follows the row class, which ends a kernel line",
                 "a tuning file with a word after the row class");
    ck_assert_int_eq(write_tuning(id, "threads.min_bytes -5\n"), 0);
    run_in_child(child_tuning_ignored, "threads.min_bytes \"-5\" is not a byte count",
                 "a tuning file with a negative size");
    ck_assert_int_eq(write_tuning(id, "threads.min_bytes 1\nthreads.wake_min_bytes 4M\n"), 0);
    run_in_child(child_tuning_ignored, "line 6: threads.wake_min_bytes \"4M\" is not a byte count",
                 "a tuning file with a size that is not a whole number");
    snprintf(tuning_path, sizeof tuning_path, "/nonexistent/embsimd-tuning.txt");
    run_in_child(child_tuning_ignored, "cannot read it: No such file or directory",
                 "a tuning file that is not there");
}
END_TEST

/* How many parts a call makes (threads.c): awake workers take shares from
 * the first threshold, sleeping ones are woken only for shares of the
 * second, and neither the thread count nor the call's own limit is ever
 * passed. */
START_TEST(parts_follow_the_workers_state)
{
    const size_t K = 1024, M = 1024 * 1024;
    /* bytes, max parts, threads, awake workers, awake threshold, wake threshold: parts */
    static const struct {
        size_t bytes, max_parts, threads, awake, awake_min, wake_min;
        unsigned want;
    } cases[] = {
        {256 * K, 512, 2, 1, 64 * K, 8 * M, 2},  /* awake: shared */
        {256 * K, 512, 2, 0, 64 * K, 8 * M, 1},  /* asleep: not worth a wake */
        {64 * K, 512, 2, 1, 64 * K, 8 * M, 1},   /* one share only */
        {16 * M, 512, 2, 0, 64 * K, 8 * M, 2},   /* worth a wake */
        {16 * M, 1, 2, 1, 64 * K, 8 * M, 1},     /* the call's own limit */
        {1 * M, 512, 4, 1, 64 * K, 8 * M, 2},    /* the caller and the one awake worker */
        {64 * M, 512, 4, 1, 64 * K, 8 * M, 4},   /* large enough to wake the others */
        {1 * M, 512, 1, 0, 0, 0, 1},             /* one thread */
        {1, 512, 2, 0, 0, 0, 2},                 /* no thresholds: always shared */
        {1 * M, 512, 8, 7, 64 * K, 8 * M, 8},    /* every worker awake */
        {1 * M, 512, 8, 7, 256 * K, 8 * M, 4},   /* as many shares as pay */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(emb_parts_choose(cases[i].bytes, cases[i].max_parts, cases[i].threads,
                                       cases[i].awake, cases[i].awake_min, cases[i].wake_min) ==
                          cases[i].want,
                      "case %zu: %u parts, want %u", i,
                      emb_parts_choose(cases[i].bytes, cases[i].max_parts, cases[i].threads,
                                       cases[i].awake, cases[i].awake_min, cases[i].wake_min),
                      cases[i].want);
}
END_TEST

/* ------------------------------------------------------------------ */

static void add_tests(Suite *s, int impl)
{
    const TTest *const tests[] = {kernel_impl_falls_back_down_the_table};
    add_impl_tests(s, impl, tests, sizeof tests / sizeof tests[0], 30);
}

static void add_once(Suite *s)
{
    TCase *dispatch = tcase_create("dispatch");
    tcase_set_timeout(dispatch, 120);
    tcase_add_test(dispatch, table_lists_scalar_last_and_explains_the_rest);
    tcase_add_test(dispatch, use_impl_selects_or_refuses);
    tcase_add_test(dispatch, environment_selects_or_refuses);
    tcase_add_test(dispatch, first_use_from_many_threads);
    tcase_add_test(dispatch, kernel_list_is_well_formed);
    tcase_add_test(dispatch, kernel_impl_out_of_range);
    tcase_add_test(dispatch, kernel_override_from_the_environment);
    tcase_add_test(dispatch, tuning_file_applies_or_is_ignored);
    tcase_add_test(dispatch, parts_follow_the_workers_state);
    suite_add_tcase(s, dispatch);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv, "dispatch", add_tests, add_once);
}
