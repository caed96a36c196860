/* test_llc.c - the last-level cache decision (emb_llc_decide) fed injected
 * sources: fake sysfs trees, CPUID and package-wide figures, $EMBSIMD_LLC;
 * and the real detection behind emb_llc_bytes() and emb_llc_description(). */
#include "config.h"

#include <check.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define GiB ((size_t)1 << 30)

/* ------------------------------------------------------------------ */
/* Fake sysfs trees                                                     */
/* ------------------------------------------------------------------ */

static char tree[4096]; /* the current test's cpu0/cache stand-in */

static void tree_make(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(tree, sizeof tree, "%s/embsimd-llc.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tree));
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void tree_remove(void)
{
    if (tree[0] != '\0')
        nftw(tree, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    tree[0] = '\0';
}

/* tree/indexN/name holding text, as the kernel writes it (with a newline). */
static void put(int index, const char *name, const char *text)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/index%d", tree, index);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/index%d/%s", tree, index, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static void put_cache(int index, const char *level, const char *type, const char *size)
{
    char line[64];
    snprintf(line, sizeof line, "%s\n", level);
    put(index, "level", line);
    snprintf(line, sizeof line, "%s\n", type);
    put(index, "type", line);
    snprintf(line, sizeof line, "%s\n", size);
    put(index, "size", line);
}

/* What this machine's sysfs lists: Zen 2, L3 per 4-core CCX. */
static void put_zen2(void)
{
    put_cache(0, "1", "Data", "32K");
    put_cache(1, "1", "Instruction", "32K");
    put_cache(2, "2", "Unified", "512K");
    put_cache(3, "3", "Unified", "16384K");
}

static emb_llc decide(const emb_llc_sources *s)
{
    emb_llc out;
    memset(&out, 0x5a, sizeof out); /* garbage: the decision must set everything */
    emb_llc_decide(s, &out);
    ck_assert_msg(memchr(out.description, '\0', sizeof out.description) != NULL,
                  "description not terminated");
    return out;
}

#define ck_llc(s, want_bytes, want_text)                                                   \
    do {                                                                                   \
        const emb_llc got_ = decide(s);                                                    \
        ck_assert_msg(got_.bytes == (want_bytes), "%zu bytes, expected %zu (%s)", got_.bytes, \
                      (size_t)(want_bytes), got_.description);                             \
        ck_assert_str_eq(got_.description, want_text);                                     \
    } while (0)

/* ------------------------------------------------------------------ */
/* sysfs                                                                */
/* ------------------------------------------------------------------ */

START_TEST(sysfs_highest_level)
{
    put_zen2();
    const emb_llc_sources s = {.sysfs_root = tree};
    ck_llc(&s, 16 * MiB, "16 MiB (sysfs L3)");
}
END_TEST

START_TEST(sysfs_without_l3)
{
    put_cache(0, "1", "Data", "32K");
    put_cache(1, "1", "Instruction", "32K");
    put_cache(2, "2", "Unified", "1280K");
    const emb_llc_sources s = {.sysfs_root = tree};
    ck_llc(&s, 1280 * KiB, "1280 KiB (sysfs L2)");
}
END_TEST

START_TEST(sysfs_skips_instruction_caches)
{
    /* Larger, and at a higher level, than the one data cache: still not
     * where table rows live. */
    put_cache(0, "1", "Instruction", "64K");
    put_cache(1, "1", "Data", "48K");
    put_cache(2, "2", "Instruction", "2048K");
    const emb_llc_sources s = {.sysfs_root = tree};
    ck_llc(&s, 48 * KiB, "48 KiB (sysfs L1)");
}
END_TEST

START_TEST(sysfs_index_order_and_gaps)
{
    /* The L3 listed first, and index1 missing: the level decides, not the
     * order, and a gap does not end the listing. */
    put_cache(0, "3", "Unified", "32768K");
    put_cache(2, "2", "Unified", "1024K");
    put_cache(3, "1", "Data", "48K");
    const emb_llc_sources s = {.sysfs_root = tree};
    ck_llc(&s, 32 * MiB, "32 MiB (sysfs L3)");
    tree_remove();
    tree_make();
    put_cache(0, "1", "Data", "32K");
    put_cache(5, "3", "Unified", "8192K");
    const emb_llc_sources t = {.sysfs_root = tree};
    ck_llc(&t, 8 * MiB, "8 MiB (sysfs L3)");
}
END_TEST

START_TEST(sysfs_malformed_l3_size_falls_through)
{
    /* An unreadable L3 size must not make the L2 pass for the LLC: the
     * next source answers. */
    static const char *const bad[] = {"lots", "", "-16384K", "16384Q", "0K", "K"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        put_zen2();
        put(3, "size", bad[i]);
        const emb_llc_sources s = {.sysfs_root = tree, .package_bytes = 256 * MiB,
                                   .package_source = "sysconf", .cpus = 2};
        const emb_llc got = decide(&s);
        ck_assert_msg(got.bytes == 8 * MiB, "size \"%s\": %s", bad[i], got.description);
        ck_assert_str_eq(got.description, "8 MiB (sysconf 256 MiB, capped: 2 CPUs x 4 MiB)");
    }
    /* The size file missing altogether */
    char path[4200];
    snprintf(path, sizeof path, "%s/index3/size", tree);
    ck_assert_int_eq(remove(path), 0);
    const emb_llc_sources s = {.sysfs_root = tree};
    ck_llc(&s, 32 * MiB, "32 MiB (assumed)");
}
END_TEST

START_TEST(sysfs_malformed_level_or_type_is_skipped)
{
    put_cache(0, "1", "Data", "32K");
    put_cache(1, "2", "Unified", "512K");
    put_cache(2, "three", "Unified", "65536K"); /* level not a number */
    put_cache(3, "3", "Unifed", "65536K");      /* type unknown */
    put_cache(4, "10", "Unified", "65536K");    /* no level 10 */
    put_cache(5, "4", "Unified", "65536K");
    char path[4200];
    snprintf(path, sizeof path, "%s/index5/type", tree); /* type missing */
    ck_assert_int_eq(remove(path), 0);
    const emb_llc_sources s = {.sysfs_root = tree};
    ck_llc(&s, 512 * KiB, "512 KiB (sysfs L2)");
    /* Nothing usable at all */
    tree_remove();
    tree_make();
    put_cache(0, "0", "Unified", "65536K"); /* no level 0 */
    put_cache(1, "-3", "Unified", "65536K");
    put_cache(2, "2x", "Data", "48K");
    const emb_llc_sources t = {.sysfs_root = tree};
    ck_llc(&t, 32 * MiB, "32 MiB (assumed)");
}
END_TEST

START_TEST(sysfs_absent_or_empty)
{
    /* An empty cache directory, and one that does not exist (a VM). */
    const emb_llc_sources s = {.sysfs_root = tree, .cpuid_bytes = 32 * MiB,
                               .cpuid_leaf = 0x8000001D, .cpuid_level = 3, .cpuid_sharing = 8};
    ck_llc(&s, 32 * MiB, "32 MiB (CPUID 0x8000001D L3, shared by 8 CPUs)");
    char missing[4200];
    snprintf(missing, sizeof missing, "%s/no-such-dir", tree);
    const emb_llc_sources t = {.sysfs_root = missing};
    ck_llc(&t, 32 * MiB, "32 MiB (assumed)");
}
END_TEST

/* ------------------------------------------------------------------ */
/* CPUID, package-wide figures, nothing                                 */
/* ------------------------------------------------------------------ */

START_TEST(cpuid_is_one_instance)
{
    /* Per instance already: neither divided by the sharing CPUs nor capped
     * by the CPU count. */
    const emb_llc_sources amd = {.cpuid_bytes = 32 * MiB, .cpuid_leaf = 0x8000001D,
                                 .cpuid_level = 3, .cpuid_sharing = 16, .cpus = 2};
    ck_llc(&amd, 32 * MiB, "32 MiB (CPUID 0x8000001D L3, shared by 16 CPUs)");
    const emb_llc_sources intel = {.cpuid_bytes = 105 * MiB, .cpuid_leaf = 4, .cpuid_level = 3,
                                   .cpuid_sharing = 112, .cpus = 1};
    ck_llc(&intel, 105 * MiB, "105 MiB (CPUID leaf 4 L3, shared by 112 CPUs)");
    const emb_llc_sources one = {.cpuid_bytes = 19712 * KiB, .cpuid_leaf = 4, .cpuid_level = 3,
                                 .cpuid_sharing = 1};
    ck_llc(&one, 19712 * KiB, "19712 KiB (CPUID leaf 4 L3, shared by 1 CPU)");
    const emb_llc_sources unknown = {.cpuid_bytes = 2 * MiB, .cpuid_leaf = 4, .cpuid_level = 2};
    ck_llc(&unknown, 2 * MiB, "2 MiB (CPUID leaf 4 L2)");
}
END_TEST

START_TEST(package_is_capped_per_cpu)
{
    /* A 2-vCPU slice of a Zen 5 EPYC */
    const emb_llc_sources zen5 = {.package_bytes = 508 * MiB, .package_source = "sysconf",
                                  .cpus = 2};
    ck_llc(&zen5, 8 * MiB, "8 MiB (sysconf 508 MiB, capped: 2 CPUs x 4 MiB)");
    ck_assert_uint_eq(8 * MiB, 2 * EMB_LLC_PER_CPU);
    const emb_llc_sources one = {.package_bytes = 256 * MiB,
                                 .package_source = "CPUID 0x80000006", .cpus = 1};
    ck_llc(&one, 4 * MiB, "4 MiB (CPUID 0x80000006 256 MiB, capped: 1 CPU x 4 MiB)");
    /* An unknown CPU count counts as one. */
    const emb_llc_sources unknown = {.package_bytes = 64 * MiB, .package_source = "sysconf"};
    ck_llc(&unknown, 4 * MiB, "4 MiB (sysconf 64 MiB, capped: 1 CPU x 4 MiB)");
    /* 1536 MiB over 48 CPUs: 192 MiB; the sizes keep their unit. */
    const emb_llc_sources big = {.package_bytes = 1536 * MiB, .package_source = "sysconf",
                                 .cpus = 48};
    ck_llc(&big, 192 * MiB, "192 MiB (sysconf 1536 MiB, capped: 48 CPUs x 4 MiB)");
}
END_TEST

START_TEST(package_within_the_cap_is_kept)
{
    const emb_llc_sources desktop = {.package_bytes = 6 * MiB, .package_source = "sysconf",
                                     .cpus = 4};
    ck_llc(&desktop, 6 * MiB, "6 MiB (sysconf)");
    const emb_llc_sources exact = {.package_bytes = 16 * MiB, .package_source = "sysconf",
                                   .cpus = 4};
    ck_llc(&exact, 16 * MiB, "16 MiB (sysconf)");
    const emb_llc_sources wide = {.package_bytes = 256 * MiB, .package_source = "sysconf",
                                  .cpus = 128};
    ck_llc(&wide, 256 * MiB, "256 MiB (sysconf)");
}
END_TEST

START_TEST(nothing_known)
{
    const emb_llc_sources none = {.cpus = 8};
    ck_llc(&none, 32 * MiB, "32 MiB (assumed)");
    const emb_llc_sources empty_env = {.env = "", .cpus = 8}; /* set but empty: as unset */
    ck_llc(&empty_env, 32 * MiB, "32 MiB (assumed)");
}
END_TEST

/* ------------------------------------------------------------------ */
/* $EMBSIMD_LLC                                                         */
/* ------------------------------------------------------------------ */

START_TEST(env_sizes)
{
    static const struct {
        const char *text;
        size_t bytes;
        const char *size; /* as the description writes it */
    } ok[] = {
        {"16M", 16 * MiB, "16 MiB"},       {"16MiB", 16 * MiB, "16 MiB"},
        {"16mib", 16 * MiB, "16 MiB"},     {"16 MB", 16 * MiB, "16 MiB"},
        {"32768K", 32 * MiB, "32 MiB"},    {"32768KiB", 32 * MiB, "32 MiB"},
        {"1G", GiB, "1 GiB"},              {"1g", GiB, "1 GiB"},
        {"1048576", MiB, "1 MiB"},         {"1048576B", MiB, "1 MiB"},
        {"1000", 1000, "1000 bytes"},      {"1280K", 1280 * KiB, "1280 KiB"},
        {" 8M", 8 * MiB, "8 MiB"},         {"8M\n", 8 * MiB, "8 MiB"},
        {"1", 1, "1 byte"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        const emb_llc_sources s = {.env = ok[i].text};
        const emb_llc got = decide(&s);
        ck_assert_msg(got.bytes == ok[i].bytes, "EMBSIMD_LLC=\"%s\": %zu bytes, expected %zu",
                      ok[i].text, got.bytes, ok[i].bytes);
        char want[128], shown[64];
        snprintf(shown, sizeof shown, "%s", ok[i].text);
        for (char *p = shown; *p; p++)
            if (*p == '\n')
                *p = '?';
        snprintf(want, sizeof want, "%s (EMBSIMD_LLC=%s)", ok[i].size, shown);
        ck_assert_str_eq(got.description, want);
    }
#if SIZE_MAX > 0xffffffffu
    const emb_llc_sources t = {.env = "1T"};
    ck_llc(&t, (size_t)1 << 40, "1024 GiB (EMBSIMD_LLC=1T)");
#endif
}
END_TEST

START_TEST(env_invalid_is_ignored_with_reason)
{
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"abc", "not a size"},       {"-1", "not a size"},   {"+16M", "not a size"},
        {"16X", "not a size"},       {"16MiBs", "not a size"}, {"1.5M", "not a size"},
        {"16 M B", "not a size"},    {"M", "not a size"},    {" ", "not a size"},
        {"0", "zero"},               {"0M", "zero"},
        {"99999999999999999999999", "too large"},           {"2T", "too large"},
        {"18014398509481984K", "too large"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const emb_llc_sources s = {.env = bad[i].text};
        const emb_llc got = decide(&s);
        ck_assert_msg(got.bytes == 32 * MiB, "EMBSIMD_LLC=\"%s\" taken: %s", bad[i].text,
                      got.description);
        char want[160];
        snprintf(want, sizeof want, "32 MiB (assumed; EMBSIMD_LLC=\"%s\" ignored: %s)",
                 bad[i].text, bad[i].why);
        ck_assert_str_eq(got.description, want);
    }
}
END_TEST

START_TEST(env_invalid_note_follows_every_source)
{
    put_zen2();
    const emb_llc_sources sysfs = {.env = "abc", .sysfs_root = tree};
    ck_llc(&sysfs, 16 * MiB, "16 MiB (sysfs L3; EMBSIMD_LLC=\"abc\" ignored: not a size)");
    const emb_llc_sources cpuid = {.env = "abc", .cpuid_bytes = 32 * MiB,
                                   .cpuid_leaf = 0x8000001D, .cpuid_level = 3,
                                   .cpuid_sharing = 16};
    ck_llc(&cpuid, 32 * MiB,
           "32 MiB (CPUID 0x8000001D L3, shared by 16 CPUs; EMBSIMD_LLC=\"abc\" ignored: "
           "not a size)");
    const emb_llc_sources package = {.env = "0", .package_bytes = 508 * MiB,
                                     .package_source = "sysconf", .cpus = 2};
    ck_llc(&package, 8 * MiB,
           "8 MiB (sysconf 508 MiB, capped: 2 CPUs x 4 MiB; EMBSIMD_LLC=\"0\" ignored: zero)");
}
END_TEST

START_TEST(env_quoted_short_and_printable)
{
    /* Quotes, control characters and a long value cannot break the
     * description: it quotes the first 32 bytes, printable. */
    char long_value[300];
    memset(long_value, 'x', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = '\0';
    const emb_llc_sources s = {.env = long_value};
    ck_llc(&s, 32 * MiB,
           "32 MiB (assumed; EMBSIMD_LLC=\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\" ignored: "
           "not a size)");
    const emb_llc_sources q = {.env = "1\"\t\x7f"};
    ck_llc(&q, 32 * MiB, "32 MiB (assumed; EMBSIMD_LLC=\"1???\" ignored: not a size)");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Precedence                                                           */
/* ------------------------------------------------------------------ */

START_TEST(precedence)
{
    put_zen2();
    emb_llc_sources s = {.env = "3M", .sysfs_root = tree, .cpuid_bytes = 32 * MiB,
                         .cpuid_leaf = 0x8000001D, .cpuid_level = 3, .cpuid_sharing = 8,
                         .package_bytes = 256 * MiB, .package_source = "sysconf", .cpus = 2};
    ck_llc(&s, 3 * MiB, "3 MiB (EMBSIMD_LLC=3M)");
    s.env = NULL;
    ck_llc(&s, 16 * MiB, "16 MiB (sysfs L3)");
    s.sysfs_root = NULL;
    ck_llc(&s, 32 * MiB, "32 MiB (CPUID 0x8000001D L3, shared by 8 CPUs)");
    s.cpuid_bytes = 0;
    ck_llc(&s, 8 * MiB, "8 MiB (sysconf 256 MiB, capped: 2 CPUs x 4 MiB)");
    s.package_bytes = 0;
    ck_llc(&s, 32 * MiB, "32 MiB (assumed)");
    /* An environment value below the others still wins. */
    s.env = "1K";
    s.sysfs_root = tree;
    ck_llc(&s, KiB, "1 KiB (EMBSIMD_LLC=1K)");
}
END_TEST

/* ------------------------------------------------------------------ */
/* The real detection                                                   */
/* ------------------------------------------------------------------ */

/* The bytes a description starts with ("16 MiB (...)"), 0 when it does
 * not start with a size. */
static size_t description_bytes(const char *d)
{
    char *end;
    const unsigned long long v = strtoull(d, &end, 10);
    if (end == d)
        return 0;
    if (strncmp(end, " GiB (", 6) == 0)
        return (size_t)v << 30;
    if (strncmp(end, " MiB (", 6) == 0)
        return (size_t)v << 20;
    if (strncmp(end, " KiB (", 6) == 0)
        return (size_t)v << 10;
    if (strncmp(end, " bytes (", 8) == 0 || strncmp(end, " byte (", 7) == 0)
        return (size_t)v;
    return 0;
}

START_TEST(real_description_matches_bytes)
{
    const char *d = emb_llc_description();
    ck_assert_ptr_nonnull(d);
    ck_assert_msg(d[0] != '\0', "empty description");
    ck_assert_msg(d[strlen(d) - 1] == ')', "\"%s\" does not end with its source", d);
    ck_assert_int_gt(emb_llc_bytes(), 0);
    ck_assert_msg(description_bytes(d) == (size_t)emb_llc_bytes(), "\"%s\" but %lld bytes", d,
                  (long long)emb_llc_bytes());
    ck_assert_ptr_eq(emb_llc_description(), d); /* read once */
    printf("LLC here: %s\n", d);
}
END_TEST

/* In a child, so the detection runs afresh with the variable set. */
static void real_with_env(const char *value, size_t want_bytes, const char *want_text)
{
    const pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        setenv("EMBSIMD_LLC", value, 1);
        const int bytes_ok = want_bytes == 0 || (size_t)emb_llc_bytes() == want_bytes;
        const int text_ok = strstr(emb_llc_description(), want_text) != NULL;
        if (!bytes_ok || !text_ok)
            fprintf(stderr, "EMBSIMD_LLC=%s: %lld, %s\n", value, (long long)emb_llc_bytes(),
                    emb_llc_description());
        _exit(bytes_ok && text_ok ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "EMBSIMD_LLC=%s: wrong answer",
                  value);
}

START_TEST(real_detection_reads_the_environment)
{
    real_with_env("3M", 3 * MiB, "3 MiB (EMBSIMD_LLC=3M)");
    real_with_env("24MiB", 24 * MiB, "24 MiB (EMBSIMD_LLC=24MiB)");
    real_with_env("abc", 0, "; EMBSIMD_LLC=\"abc\" ignored: not a size)");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("llc");
    TCase *files = tcase_create("sysfs");
    tcase_add_checked_fixture(files, tree_make, tree_remove);
    tcase_add_test(files, sysfs_highest_level);
    tcase_add_test(files, sysfs_without_l3);
    tcase_add_test(files, sysfs_skips_instruction_caches);
    tcase_add_test(files, sysfs_index_order_and_gaps);
    tcase_add_test(files, sysfs_malformed_l3_size_falls_through);
    tcase_add_test(files, sysfs_malformed_level_or_type_is_skipped);
    tcase_add_test(files, sysfs_absent_or_empty);
    tcase_add_test(files, env_invalid_note_follows_every_source);
    tcase_add_test(files, precedence);
    suite_add_tcase(s, files);

    TCase *other = tcase_create("cpuid, package, environment");
    tcase_add_test(other, cpuid_is_one_instance);
    tcase_add_test(other, package_is_capped_per_cpu);
    tcase_add_test(other, package_within_the_cap_is_kept);
    tcase_add_test(other, nothing_known);
    tcase_add_test(other, env_sizes);
    tcase_add_test(other, env_invalid_is_ignored_with_reason);
    tcase_add_test(other, env_quoted_short_and_printable);
    suite_add_tcase(s, other);

    TCase *real = tcase_create("detection");
    /* Children first: with CK_FORK=no the suite's own process must not
     * have detected before they fork. */
    tcase_add_test(real, real_detection_reads_the_environment);
    tcase_add_test(real, real_description_matches_bytes);
    suite_add_tcase(s, real);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
