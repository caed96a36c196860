/* test_common.c - the per-implementation runner and the helpers the Check
 * unit suites share. */
#include "config.h"

#include "test_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h" /* emb_loop_schedule: row_paths */
#include "reference.h"

/* ---- the runner ---------------------------------------------------------- */

TCase *add_impl_tests(Suite *s, int impl, const TTest *const *tests, size_t count,
                      double timeout_s)
{
    TCase *tc = tcase_create(emb_impl_name(impl));
    tcase_set_timeout(tc, timeout_s);
    for (size_t k = 0; k < count; k++)
        tcase_add_loop_test(tc, tests[k], impl, impl + 1);
    suite_add_tcase(s, tc);
    return tc;
}

int is_base_kernel(const emb_kernel *k)
{
    return (BASE_OPS >> k->op) & 1u;
}

void add_op_loop_test(TCase *tc, const TTest *test, int impl, unsigned op_mask)
{
    /* More kernels than slots would make two loop indices collide: fail
     * loudly rather than test some kernels under the wrong implementation. */
    if (emb_kernel_count() > KERNEL_SLOTS) {
        fprintf(stderr, "emb_kernel_count() = %d exceeds KERNEL_SLOTS = %d\n",
                emb_kernel_count(), KERNEL_SLOTS);
        exit(EXIT_FAILURE);
    }
    int first = -1, end = -1;
    for (int k = 0; k < emb_kernel_count(); k++) {
        if (!((op_mask >> emb_kernel_at(k)->op) & 1u))
            continue;
        if (first < 0)
            first = k;
        else if (end != k) {
            fprintf(stderr, "the kernels of op mask 0x%x are not contiguous (kernel %d)\n",
                    op_mask, k);
            exit(EXIT_FAILURE);
        }
        end = k + 1;
    }
    if (first < 0) {
        fprintf(stderr, "no kernel has an op of mask 0x%x\n", op_mask);
        exit(EXIT_FAILURE);
    }
    tcase_add_loop_test(tc, test, impl * KERNEL_SLOTS + first, impl * KERNEL_SLOTS + end);
}

int impl_of(int loop_index) { return loop_index / KERNEL_SLOTS; }

const emb_kernel *kernel_of(int loop_index)
{
    use_impl(impl_of(loop_index));
    const emb_kernel *k = emb_kernel_at(loop_index % KERNEL_SLOTS);
    ck_assert_ptr_nonnull(k);
    return k;
}

int test_main(int argc, char **argv, const char *suite_name, tc_add_impl_fn per_impl,
              tc_add_once_fn once)
{
    if (argc > 1 && strcmp(argv[1], "--list") == 0) {
        for (int i = 0; i < emb_impl_count(); i++)
            if (emb_impl_available(i))
                printf("%s\n", emb_impl_name(i));
        return EXIT_SUCCESS;
    }
    if (argc > 1) {
        fprintf(stderr, "usage: %s [--list]\n  Runs the %s unit suite over every available "
                        "implementation, or only $EMBSIMD_IMPL when set.\n",
                argv[0], suite_name);
        return strcmp(argv[1], "--help") == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
    }
    Suite *s = suite_create(suite_name);
    const char *forced = getenv("EMBSIMD_IMPL");
    int selected = 0;

    for (int i = 0; i < emb_impl_count(); i++) {
        const char *name = emb_impl_name(i);
        if (forced && forced[0] && strcmp(forced, "auto") != 0 && strcmp(forced, name) != 0) {
            printf("not selected: %s (EMBSIMD_IMPL=%s)\n", name, forced);
            continue;
        }
        if (!emb_impl_available(i)) {
            printf("skipped: %s: %s\n", name, emb_impl_unavailable_reason(i));
            continue;
        }
        printf("testing: %s\n", name);
        if (per_impl)
            per_impl(s, i);
        selected++;
    }
    if (selected == 0) {
        fprintf(stderr, "EMBSIMD_IMPL=%s selects no available implementation\n", forced);
        return EXIT_FAILURE;
    }
    if (once)
        once(s);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

void use_impl(int impl)
{
    ck_assert_msg(emb_use_impl(emb_impl_name(impl)) == EMB_OK, "cannot select %s: %s",
                  emb_impl_name(impl), emb_last_error());
    ck_assert_str_eq(emb_impl_active(), emb_impl_name(impl));
}

void *xmalloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* ---- exact comparison ----------------------------------------------------- */

int64_t first_diff(const float *a, const float *b, int64_t count)
{
    for (int64_t k = 0; k < count; k++)
        if (gen_f2u(a[k]) != gen_f2u(b[k]))
            return k;
    return -1;
}

static uint32_t word_at(const uint8_t *p, size_t at)
{
    uint32_t w;
    memcpy(&w, p + at, sizeof w);
    return w;
}

void describe_difference(const void *got, const void *want, size_t bytes, char *buf,
                         size_t size)
{
    const uint8_t *g = got, *w = want;
    size_t at = 0;
    while (at < bytes && g[at] == w[at])
        at++;
    if (at == bytes) {
        snprintf(buf, size, "no difference");
        return;
    }
    const size_t word = at / 4 * 4;
    if (word + 4 <= bytes)
        snprintf(buf, size, "byte %zu differs: 32-bit word %zu is 0x%08x, expected 0x%08x", at,
                 word / 4, word_at(g, word), word_at(w, word));
    else
        snprintf(buf, size, "byte %zu is 0x%02x, expected 0x%02x", at, g[at], w[at]);
}

/* ---- reference f32 operations ------------------------------------------- */

void naive_lookup(const float *table, int64_t dim, const int32_t *ids, int64_t n, float *out)
{
    for (int64_t i = 0; i < n; i++)
        memcpy(out + i * dim, table + (int64_t)ids[i] * dim, (size_t)dim * sizeof(float));
}

void naive_grad(float *dtable, int64_t dim, const int32_t *ids, int64_t n, const float *dout)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < dim; j++) {
            volatile float sum = dtable[(int64_t)ids[i] * dim + j] + dout[i * dim + j];
            dtable[(int64_t)ids[i] * dim + j] = sum;
        }
}

/* ---- buffers ------------------------------------------------------------- */

guarded guarded_new(int64_t count, int misalign)
{
    guarded g;
    g.count = count;
    g.base = xmalloc((size_t)(count + 2 * GUARD + 1) * sizeof(float));
    g.p = g.base + GUARD + (misalign ? 1 : 0);
    for (int64_t k = 0; k < count + 2 * GUARD + 1; k++)
        g.base[k] = gen_u2f(0xA5A5A5A5u ^ (uint32_t)k);
    return g;
}

void guarded_check(const guarded *g, const char *what)
{
    const int64_t total = g->count + 2 * GUARD + 1;
    const int64_t lo = g->p - g->base, hi = lo + g->count;
    for (int64_t k = 0; k < total; k++) {
        if (k >= lo && k < hi)
            continue;
        ck_assert_msg(gen_f2u(g->base[k]) == (0xA5A5A5A5u ^ (uint32_t)k),
                      "%s: canary word %lld outside the buffer was overwritten", what,
                      (long long)(k - lo));
    }
}

enum { GBYTES_LEAD = 128, GBYTES_TAIL = 64 };

static uint8_t canary_byte(size_t k) { return (uint8_t)(0xA5u ^ (k * 37u)); }

gbytes gbytes_new(size_t bytes, size_t offset)
{
    ck_assert_uint_lt(offset, 64);
    gbytes g;
    g.bytes = bytes;
    g.offset = offset;
    const size_t total = GBYTES_LEAD + bytes + GBYTES_TAIL + 64;
    g.base = aligned_alloc(64, (total + 63) / 64 * 64);
    ck_assert_ptr_nonnull(g.base);
    for (size_t k = 0; k < total; k++)
        g.base[k] = canary_byte(k);
    g.p = g.base + GBYTES_LEAD + offset;
    return g;
}

void gbytes_check(const gbytes *g, const char *what)
{
    const size_t lo = GBYTES_LEAD + g->offset, hi = lo + g->bytes;
    const size_t total = GBYTES_LEAD + g->bytes + GBYTES_TAIL + 64;
    for (size_t k = 0; k < total; k++) {
        if (k >= lo && k < hi)
            continue;
        ck_assert_msg(g->base[k] == canary_byte(k),
                      "%s: canary byte %lld outside the buffer was overwritten", what,
                      (long long)k - (long long)lo);
    }
}

void gbytes_free(gbytes *g)
{
    free(g->base);
    g->base = g->p = NULL;
}

fenced fenced_new(size_t bytes)
{
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t data_pages = (bytes + page - 1) / page;
    fenced f;
    f.map_bytes = (data_pages + 1) * page;
    f.map = mmap(NULL, f.map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_msg(f.map != MAP_FAILED, "mmap of %zu bytes failed", f.map_bytes);
    char *guard = (char *)f.map + data_pages * page;
    ck_assert_int_eq(mprotect(guard, page, PROT_NONE), 0);
    f.p = guard - bytes;
    return f;
}

void fenced_free(fenced *f)
{
    munmap(f->map, f->map_bytes);
    f->map = f->p = NULL;
}

/* ---- typed inputs ---------------------------------------------------------- */

size_t type_offset(emb_type t, int k)
{
    const size_t element = emb_row_bytes(t, 1); /* 0 or dim + 8 for the quantized formats */
    const size_t granule = element == 4 || element == 2 ? element : 1;
    switch (k % 3) {
    case 0: return 0;
    case 1: return granule;
    default: return granule == 4 ? 12 : granule == 2 ? 1 : 3;
    }
}

void fill_bytes(gen_rng *r, void *dst, size_t bytes)
{
    uint8_t *d = dst;
    size_t k = 0;
    for (; k + 8 <= bytes; k += 8) {
        const uint64_t x = gen_u64(r);
        memcpy(d + k, &x, 8);
    }
    if (k < bytes) {
        const uint64_t x = gen_u64(r);
        memcpy(d + k, &x, bytes - k);
    }
}

static int is_kind(uint32_t bits, value_kind kind)
{
    const uint32_t exp = (bits >> 23) & 0xFFu;
    const int nan = exp == 0xFFu && (bits & 0x7FFFFFu) != 0;
    switch (kind) {
    case VALUES_NOT_NAN: return !nan;
    case VALUES_NAN: return nan;
    case VALUES_MODERATE: return exp >= 127 - 14 && exp < 127 + 14;
    }
    return 0;
}

void fill_elements(gen_rng *r, emb_type t, void *dst, size_t count, value_kind kind)
{
    const size_t size = emb_row_bytes(t, 1);
    ck_assert_msg((size == 2 || size == 4) && emb_row_bytes(t, 2) == 2 * size,
                  "%s is not an element type", emb_type_name(t));
    uint8_t *d = dst;
    for (size_t k = 0; k < count; k++) {
        uint8_t *e = d + k * size;
        do
            fill_bytes(r, e, size);
        while (!is_kind(ref_element_bits(t, e, 1, 0), kind));
    }
}

size_t id_bytes(emb_index id_type) { return id_type == EMB_I64 ? sizeof(int64_t) : sizeof(int32_t); }

void set_id(void *ids, emb_index id_type, size_t i, int64_t value)
{
    if (id_type == EMB_I64) {
        ((int64_t *)ids)[i] = value;
    } else {
        ck_assert(value >= INT32_MIN && value <= INT32_MAX);
        ((int32_t *)ids)[i] = (int32_t)value;
    }
}

void *make_ids(gen_rng *r, emb_index id_type, size_t n, int64_t vocab, gen_ids_kind kind)
{
    int32_t *ids32 = xmalloc(n * sizeof(int32_t));
    gen_ids(r, ids32, n, vocab, kind);
    if (id_type == EMB_I32)
        return ids32;
    int64_t *ids64 = xmalloc(n * sizeof(int64_t));
    for (size_t i = 0; i < n; i++)
        ids64[i] = ids32[i];
    free(ids32);
    return ids64;
}

const emb_kernel *find_kernel(emb_op op, emb_type in, emb_type out)
{
    for (int k = 0; k < emb_kernel_count(); k++) {
        const emb_kernel *kern = emb_kernel_at(k);
        if (kern->op == op && kern->in == in && kern->out == out)
            return kern;
    }
    ck_abort_msg("the library has no %s kernel from %s to %s", emb_op_name(op),
                 emb_type_name(in), emb_type_name(out));
    return NULL;
}

int64_t dim_for_types(emb_type a, emb_type b, int64_t dim)
{
    /* Every block is at most a few hundred elements: 4096 steps find the
     * next dim of any type the library has. */
    for (int64_t d = dim; d < dim + 4096; d++)
        if (emb_row_bytes(a, d) != 0 && emb_row_bytes(b, d) != 0)
            return d;
    ck_abort_msg("no dim from %lld on has rows of both %s and %s", (long long)dim,
                 emb_type_name(a), emb_type_name(b));
    return dim;
}

int block_scales(emb_type t, int64_t *block, size_t *block_bytes, size_t at[2])
{
    switch (t) {
    case EMB_Q8_0:
    case EMB_Q4_0:
        *block = 32;
        *block_bytes = t == EMB_Q8_0 ? 34 : 18;
        at[0] = 0;
        return 1;
    case EMB_Q4_K:
        *block = 256;
        *block_bytes = 144;
        at[0] = 0;
        at[1] = 2;
        return 2;
    case EMB_Q6_K:
        *block = 256;
        *block_bytes = 210;
        at[0] = 208;
        return 1;
    case EMB_F32:
    case EMB_F16:
    case EMB_BF16:
    case EMB_Q8_ROWWISE:
        break;
    }
    return 0;
}

void scales_finite(emb_type t, uint8_t *row, int64_t dim)
{
    int64_t block;
    size_t bb, at[2];
    const int count = block_scales(t, &block, &bb, at);
    for (int64_t b = 0; count > 0 && b < dim / block; b++)
        for (int s = 0; s < count; s++)
            row[(size_t)b * bb + at[s] + 1] &= 0x3b; /* fp16 exponent below 31, magnitude < 2 */
}

/* ---- fresh processes ------------------------------------------------------ */

void run_in_child(child_fn fn, const char *arg, const char *label)
{
    fflush(NULL);
    const pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(fn(arg));
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "%s: child failed at check %d", label, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

int large_case_stride(void)
{
    /* on as embsimd-verify reads it: set, not empty and not "0" */
    const char *bounded = getenv("EMBSIMD_VERIFY_EMULATED");
    return bounded != NULL && bounded[0] != '\0' && strcmp(bounded, "0") != 0 ? 3 : 1;
}

int id_type_count(void)
{
    int n = 0;
    while (emb_index_name((emb_index)n) != NULL)
        n++;
    return n;
}

/* ---- the paths a row can take ------------------------------------------- */

const char *const row_path_names[ROW_PATHS] = {"default", "rows in flight", "streaming"};

void row_paths(emb_loop_schedule *paths)
{
    for (int p = 0; p < ROW_PATHS; p++)
        paths[p] = *emb_loops();
    paths[1].prefetch_llc_eighths = 0;
    paths[1].grad_prefetch_llc_eighths = 0;
    paths[1].in_flight_min_dim = 1;
    paths[2].stream_llc_eighths = 0;
}

const int32_t path_ids[PATH_TOKENS] = {4, 0, 2, 2, 1, 3, 0, 4, 1};
