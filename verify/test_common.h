/* test_common.h - what the Check unit suites share: the runner that adds a
 * suite's tests once per implementation this CPU supports (and names the
 * others as skipped, with the reason), buffers with canaries and guard
 * pages, exact comparison, typed inputs, and fresh processes for tests of
 * settings the library reads once. */
#ifndef EMBSIMD_TEST_COMMON_H
#define EMBSIMD_TEST_COMMON_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "embsimd.h"
#include "gen.h"

/* ---- the runner ---------------------------------------------------------- */

/* Adds tests that run once per implementation: Check's loop index _i is
 * the implementation's index in the table. */
typedef void (*tc_add_impl_fn)(Suite *s, int impl);
/* Adds tests that run once, whatever the implementation. */
typedef void (*tc_add_once_fn)(Suite *s);

/* main() of every unit suite. "--list" prints the implementations usable
 * here, one a line, for scripts that run the suites once per
 * implementation; with EMBSIMD_IMPL set only that implementation's tests
 * run. Returns the process's exit status. */
int test_main(int argc, char **argv, const char *suite_name, tc_add_impl_fn per_impl,
              tc_add_once_fn once);

/* The last-level cache the suites whose shapes are sized "past the cache"
 * (test_threads, test_layer) pin, unless EMBSIMD_LLC is set: the paths they
 * need (prefetching, streaming stores) start at fractions of it, so 16 MiB
 * takes them with 8 MiB tables on every machine alike. Sized on the real
 * cache they grew with it: a Xeon's 480 MiB in sysfs made 240 MiB tables,
 * and the two suites took 240 s of make check, 450 under ASan and 475
 * under qemu, against 10 s. */
#define TEST_PAST_CACHE_LLC "16M"

/* One TCase named after the implementation, holding `count` tests, each run
 * with _i = impl. */
TCase *add_impl_tests(Suite *s, int impl, const TTest *const *tests, size_t count,
                      double timeout_s);

/* A test run once per kernel of emb_kernel_at() under implementation impl:
 * _i encodes both, impl_of(_i) and kernel_of(_i) take them apart (and
 * kernel_of selects the implementation). */
enum { KERNEL_SLOTS = 256 };
/* The kernels of the ops in op_mask (bit 1 << op); they must be contiguous
 * in the list (test_dispatch checks that the list is grouped by op). */
void add_op_loop_test(TCase *tc, const TTest *test, int impl, unsigned op_mask);
/* The lookup and grad kernels: what the per-kernel suites of emb_lookup
 * and emb_grad cover. */
#define BASE_OPS ((1u << EMB_OP_LOOKUP) | (1u << EMB_OP_GRAD))
#define add_kernel_loop_test(tc, test, impl) add_op_loop_test((tc), (test), (impl), BASE_OPS)
/* Whether kernel k is one of emb_lookup's or emb_grad's. */
int is_base_kernel(const emb_kernel *k);
int impl_of(int loop_index);
const emb_kernel *kernel_of(int loop_index);

/* Select implementation `impl` for the rest of the test, or fail. */
void use_impl(int impl);

void *xmalloc(size_t bytes);

/* The id types, enumerated: emb_index_name is NULL past the last. */
int id_type_count(void);

/* The step through the variants of a suite's large cases: 1 normally, 3
 * under EMBSIMD_VERIFY_EMULATED=1 (the verifier's bounded mode, which CI
 * sets under qemu, ASan and in distcheck), where the large cases only
 * repeat, at emulated speed, what the small ones check of each kernel. */
int large_case_stride(void);

/* ---- failures ------------------------------------------------------------- */

/* A call that must fail with `status` and a message holding `needle` (the
 * bad value and its position, as the library words them). What it wrote
 * (nothing) is each test's own check: only it knows the buffers. */
#define EXPECT_FAILURE(call, status, needle)                                                   \
    do {                                                                                       \
        const emb_status s_ = (call);                                                          \
        ck_assert_msg(s_ == (status), "%s: %s, expected %s (%s)", #call, emb_strerror(s_),     \
                      emb_strerror(status), emb_last_error());                                 \
        ck_assert_msg(strstr(emb_last_error(), (needle)) != NULL, "%s: \"%s\" lacks \"%s\"",   \
                      #call, emb_last_error(), (needle));                                      \
    } while (0)

/* ---- exact comparison ----------------------------------------------------- */

/* First differing float, or -1: compared as bits so -0/+0 and NaN payloads
 * count. */
int64_t first_diff(const float *a, const float *b, int64_t count);

#define ASSERT_SAME_BITS(got, want, count, what)                                          \
    do {                                                                                  \
        const int64_t at_ = first_diff((got), (want), (count));                           \
        ck_assert_msg(at_ < 0, "%s: element %lld is 0x%08x, expected 0x%08x", (what),     \
                      (long long)at_, at_ < 0 ? 0u : gen_f2u((got)[at_]),                 \
                      at_ < 0 ? 0u : gen_f2u((want)[at_]));                               \
    } while (0)

/* memcmp of two byte ranges; a failure names the first differing byte and
 * the 32-bit words around it (the element, for fp32 outputs). */
#define ASSERT_SAME_BYTES(got, want, bytes, what)                                         \
    do {                                                                                  \
        const size_t bytes_ = (bytes);                                                    \
        if (memcmp((got), (want), bytes_) != 0) {                                         \
            char detail_[160];                                                            \
            describe_difference((const void *)(got), (const void *)(want), bytes_,        \
                                detail_, sizeof detail_);                                 \
            ck_abort_msg("%s: %s", (what), detail_);                                      \
        }                                                                                 \
    } while (0)

void describe_difference(const void *got, const void *want, size_t bytes, char *buf,
                         size_t size);

/* ---- reference f32 operations ------------------------------------------- */

/* The f32 lookup, one 32-bit word at a time, no float ever touched. */
void naive_lookup(const float *table, int64_t dim, const int32_t *ids, int64_t n, float *out);

/* The f32 gradient: the definition, token by token, element by element. */
void naive_grad(float *dtable, int64_t dim, const int32_t *ids, int64_t n, const float *dout);

/* ---- buffers ------------------------------------------------------------- */

/* A float buffer with canary words before and after the payload, so a test
 * sees any write outside [0, count) as well as inside it. */
enum { GUARD = 16 };
typedef struct guarded {
    float *base, *p;
    int64_t count;
} guarded;

guarded guarded_new(int64_t count, int misalign);
void guarded_check(const guarded *g, const char *what);

/* The same for bytes, at a chosen distance `offset` (0..63) past a 64-byte
 * boundary, for rows of any type at any alignment. */
typedef struct gbytes {
    uint8_t *base, *p;
    size_t bytes, offset;
} gbytes;

gbytes gbytes_new(size_t bytes, size_t offset);
void gbytes_check(const gbytes *g, const char *what);
void gbytes_free(gbytes *g);

/* A buffer of `bytes` bytes that ends exactly where an inaccessible page
 * begins: any read or write past its end faults, with or without a
 * sanitizer (ASan cannot see inside some compilers' NEON builtins). */
typedef struct fenced {
    void *map;
    size_t map_bytes;
    void *p;
} fenced;

fenced fenced_new(size_t bytes);
void fenced_free(fenced *f);

/* ---- typed inputs ---------------------------------------------------------- */

/* The k-th (0..2) of three start offsets for a buffer of type t, in bytes
 * past a 64-byte boundary: aligned, one element past (4 bytes for fp32, 2
 * for 16-bit types, 1 for byte formats), and an odd distance (3 floats for
 * fp32, which C reads as float *; 1 byte for 16-bit types; 3 bytes for
 * byte formats). */
size_t type_offset(emb_type t, int k);

/* Uniformly random bytes. */
void fill_bytes(gen_rng *r, void *dst, size_t bytes);

/* What the elements of a buffer of an element type (f32, f16, bf16: the
 * types of dout) may be after fill_elements. */
typedef enum value_kind {
    VALUES_NOT_NAN,  /* any pattern whose fp32 value is not a NaN */
    VALUES_NAN,      /* only NaNs */
    VALUES_MODERATE  /* finite, magnitude in [2^-14, 2^14]: sums round, so order matters */
} value_kind;

/* count elements of element type t, random patterns drawn until each one's
 * widened value is of the kind asked (by the reference's definition). */
void fill_elements(gen_rng *r, emb_type t, void *dst, size_t count, value_kind kind);

/* n ids of id_type in [0, vocab) (vocab <= 2^31), as gen_ids draws them. */
void *make_ids(gen_rng *r, emb_index id_type, size_t n, int64_t vocab, gen_ids_kind kind);
size_t id_bytes(emb_index id_type);
void set_id(void *ids, emb_index id_type, size_t i, int64_t value);

/* The kernel for (op, in, out), found by enumerating emb_kernel_at; fails
 * the test when the library has none. */
const emb_kernel *find_kernel(emb_op op, emb_type in, emb_type out);

/* The smallest dim >= dim that both types have rows of (emb_row_bytes not
 * 0): dim itself for element types, raised to a whole number of blocks
 * for the blocked ones (32 for q8_0 and q4_0, 256 for q4_K and q6_K), so a
 * test's dims follow the types the library lists rather than a table of
 * them. */
int64_t dim_for_types(emb_type a, emb_type b, int64_t dim);

/* Where a blocked type keeps its fp16 scales, from the formats' layouts
 * (GGML's q8_0 and q4_0: d first; q4_K: d, then dmin; q6_K: d last): the
 * elements per block, the block's bytes, and the offsets of its scales in
 * it. Returns how many it has: 1 or 2, or 0 for a type without per-block
 * fp16 scales (the element types, q8_rowwise). */
int block_scales(emb_type t, int64_t *block, size_t *block_bytes, size_t at[2]);

/* Makes every fp16 scale of a row of type t finite and below 2 in
 * magnitude (its exponent field cleared of two bits), keeping its sign
 * and the rest of its bits: random rows whose elements are never NaN. */
void scales_finite(emb_type t, uint8_t *row, int64_t dim);

/* ---- the paths a row can take ------------------------------------------- */

struct emb_loop_schedule; /* internal.h */

/* The schedules of the paths a row can take, for a small table of any
 * size: [0] the defaults (the table stays in cache), [1] rows in flight
 * (prefetch from every table, rows in flight from one element), [2]
 * streaming stores into every output; and their names. */
enum { ROW_PATHS = 3 };
extern const char *const row_path_names[ROW_PATHS];
void row_paths(struct emb_loop_schedule *paths /* [ROW_PATHS] */);

/* Ids for tests of those paths, a table of PATH_VOCAB rows: two groups of
 * rows in flight and one row after them (with fewer than one group, every
 * row takes the one-at-a-time loop that follows the groups), a row named
 * twice inside a group. */
enum { PATH_VOCAB = 5, PATH_TOKENS = 9 };
extern const int32_t path_ids[PATH_TOKENS];

/* ---- fresh processes ------------------------------------------------------ */

/* Runs fn(arg) in a forked child, which returns the number of its first
 * failing check or 0; the test fails, naming label, when it is not 0. The
 * library reads its environment once, at first use, so each case needs a
 * fresh process: fork explicitly rather than rely on Check's fork mode. */
typedef int (*child_fn)(const char *arg);
void run_in_child(child_fn fn, const char *arg, const char *label);

#endif /* EMBSIMD_TEST_COMMON_H */
