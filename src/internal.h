/* internal.h - what the library's files share and users never see: the
 * kernel table, CPU feature bits, error reporting. */
#ifndef EMBSIMD_INTERNAL_H
#define EMBSIMD_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bag_internal.h"
#include "embsimd.h"
#include "types.h"

/* Slots of the resolved table: one per kernel of types.h's list. */
#define EMB_KERNEL_SLOTS EMB_KERNEL_COUNT

/* Kernels receive inputs that the public entry points have already
 * validated: pointers non-NULL, ids in range, sizes that fit size_t. */

/* How a kernel should treat memory; the caller decides from the size of
 * the whole call, which a thread's slice of it does not know. */
enum {
    /* Non-temporal stores for the output: it is too large to stay in
     * cache, and streaming skips the read of each destination line that a
     * normal store's write-allocate costs. */
    EMB_KF_STREAM = 1u << 0,
    /* Software prefetch of upcoming table rows: worth it only when the
     * table is too large for the cache; on a cache-resident table it is
     * pure cost. */
    EMB_KF_PREFETCH = 1u << 1,
    /* The table is many times the cache (8x): a gathered row is read once
     * and the cache would not keep it, so its prefetch is non-temporal
     * (PREFETCHNTA), leaving the outer caches to what they can keep. On a
     * table the size of the cache the same hint halved a bag's rate (AMD
     * EPYC Zen 2, 32000 x 128 f32, bags of 20: 7.7 vs 11.9 GB/s), hence
     * the bar. Used by the bag loops. */
    EMB_KF_FAR = 1u << 2
};

/* Kernels: one function per (op, in type, out type) of types.h's list, per
 * ISA. ids are int32_t, or int64_t when ids64 is set; each kernel is
 * compiled once for each (row_loops.h), so the id width costs no test per
 * row. Rows are bytes: emb_row_bytes() of the kernel's types. */
typedef void (*emb_lookup_fn)(const uint8_t *table, size_t dim, const void *ids, int ids64,
                              size_t n, uint8_t *out, unsigned flags);

/* What a gradient call asks beyond the plain scatter-add, resolved by
 * api.c: `pad` is a row never written (SIZE_MAX: none); `counts`, when
 * not NULL, holds per row the number of tokens naming it, and a token
 * whose row has a count c > 1 adds widen(dout) / c (scale_grad_by_freq). */
typedef struct emb_grad_opts {
    size_t pad;
    const uint32_t *counts;
} emb_grad_opts;

/* Applies, in token order, the tokens whose row belongs to `part` of
 * `nparts` (emb_row_owner). Threads split the rows, never the tokens of a
 * row, so every row still sees its additions in token order, whatever the
 * thread count: the result is bit-identical for every nparts. */
typedef void (*emb_grad_fn)(float *dtable, size_t dim, const void *ids, int ids64, size_t n,
                            const uint8_t *dout, const emb_grad_opts *opts, unsigned part,
                            unsigned nparts, unsigned flags);

/* Where token i's position comes from: positions[i] (the ids' width) when
 * `positions` is set, else offset + (first + i) % seq_len, `first` being
 * the index in the whole call of the slice's token 0. */
typedef struct emb_pos_src {
    const void *positions;
    size_t offset, seq_len, first;
} emb_pos_src;

/* out[i] = convert(table[ids[i]]) + widen(ptable[pos(i)]), f32 out; the
 * position table's type (f32, f16 or bf16) is an argument: one kernel per
 * token-table type. */
typedef void (*emb_lookup_pos_fn)(const uint8_t *table, size_t dim, const void *ids, int ids64,
                                  size_t n, const emb_pos_src *pos, const uint8_t *ptable,
                                  emb_type ptype, uint8_t *out, unsigned flags);

/* Both scatter-adds of the fused lookup's gradient, token order in each
 * table; `part` owns its rows of both tables (emb_row_owner). opts apply
 * to the token table. */
typedef void (*emb_grad_pos_fn)(float *dtable, float *dptable, size_t dim, const void *ids,
                                int ids64, size_t n, const emb_pos_src *pos, const uint8_t *dout,
                                const emb_grad_opts *opts, unsigned part, unsigned nparts,
                                unsigned flags);

/* scores[r] for rows [first, last) (emb_scan); scratch holds dim floats
 * for widening a row of a type other than f32; flags: EMB_KF_PREFETCH. */
typedef void (*emb_scan_fn)(const uint8_t *table, size_t dim, size_t first, size_t last,
                            const float *query, emb_metric metric, float *scratch,
                            float *scores, unsigned flags);

/* Which part owns row `id` of a table of dim-element rows. Blocks of rows
 * are scattered over the parts by a multiplicative hash: splitting the
 * vocabulary into ranges would give the part holding the low ids nearly
 * all the work under Zipf-distributed tokens, where the frequent ids
 * cluster. A block is 16 rows where an f32 row is shorter than half of
 * EMB_OWNER_BLOCK_BYTES, else the one or two rows that fill it. With 16
 * rows a block at every width, the first block held a quarter of the
 * tokens of verify/gen.c's Zipf ids (s = 1): one part had about 62 % of
 * the work, two threads at most 1.6x one. Intel Xeon (family 6 model 167,
 * KVM, 2 vCPUs, gcc 12.2 -O2, 2026-12-07), f32 gradient, 50257 rows,
 * AVX-512, two threads, the two builds alternating in one process, new
 * time over old: Zipf ids 0.84-0.98 at D = 768 x 8192 (two rows a block,
 * three runs), 0.87-0.92 at 1024 x 4096, 0.83-0.86 at 4096 x 2048 (one
 * row); uniform ids 0.90-1.07 at 768, within this machine's noise.
 * Smaller blocks of short rows cost: one row a block took 1.19x the time
 * of 16 at D = 64 (Zipf), eight rows 1.03-1.07x at D = 128 (uniform), as
 * rows of two threads then share the lines the hardware prefetches
 * together; short rows keep 16. Nor does the hot first block pay to split:
 * with the first 256 rows one a block (under those Zipf ids, the larger
 * part's share of the work at 32000 x 128 falls from 64 % to 52 %), two
 * threads ran the f32 gradient at 32000 and 50257 x 128 x 8192 at 0.82-1.30x
 * one thread's speed against 1.30-1.39x with 16-row blocks (AMD EPYC Zen 4,
 * family 25 model 17, KVM, gcc 12.2 -O2, default schedule, three runs of
 * the two builds, 2026-12-07): those rows are written by both cores. */
#ifndef EMB_OWNER_BLOCK_BYTES
#define EMB_OWNER_BLOCK_BYTES 4096
#endif
static inline unsigned emb_owner_shift(size_t dim)
{
    const size_t bytes = dim * sizeof(float);
    return bytes >= EMB_OWNER_BLOCK_BYTES ? 0 : 2 * bytes >= EMB_OWNER_BLOCK_BYTES ? 1 : 4;
}

/* The position table's blocks in the fused positional gradient: 16 rows
 * at every width. Positions come in runs (offset + i % seq_len), so
 * blocks of 16 give each part runs of 16 consecutive tokens: its owner
 * test is a branch the predictor follows, and its dout rows come in runs;
 * every position is about as frequent as every other, so no block is hot,
 * which is what the token table's narrower blocks of long rows are for.
 * With the token table's blocks (two rows at D = 768), the fused backward
 * at GPT-2's shape (layer_peers.py: 50257 x 768, 1024 positions, 8192
 * Zipf-like ids, two threads) ran at 1.13-1.16x the speed of two emb_grad
 * calls; with these, 1.19-1.21x (Intel Xeon, family 6 model 167, KVM, 2
 * vCPUs, gcc 12.2 -O2, the two builds alternating, 2026-12-07). */
#define EMB_POS_OWNER_SHIFT 4

/* shift: emb_owner_shift(dim), computed once per loop (inside one, GCC
 * 12 recomputed it for every token: 10 instructions a token more in the
 * regression gate's one-thread gradients). */
static inline unsigned emb_row_owner(uint64_t id, unsigned shift, unsigned nparts)
{
    const uint32_t block = (uint32_t)(id >> shift);
    return (unsigned)(((uint64_t)(uint32_t)(block * 0x9E3779B1u) * nparts) >> 32);
}

/* Whether `part` owns row id; split 0 (a constant in a one-part loop):
 * always, with no code for the hash. */
static inline int emb_owns_row(int split, uint64_t id, unsigned shift, unsigned part,
                               unsigned nparts)
{
    return !split || emb_row_owner(id, shift, nparts) == part;
}

/* Smallest and largest of n > 0 int32 ids: the cheap accept test of
 * validation. */
typedef void (*emb_ids_minmax_fn)(const int32_t *ids, size_t n,
                                  int32_t *min, int32_t *max);

/* The EMB_KF_* flags of a whole call of `op` (schedule.c): table_bytes is
 * the table it gathers from or scatters into, out_bytes the rows it
 * writes one after another (lookup's out; 0 for none). */
unsigned emb_schedule_flags(emb_op op, size_t table_bytes, size_t out_bytes);

/* One kernel of one ISA, with what the CPU must have for it beyond the
 * ISA's own requirements (e.g. F16C for f16 widening under AVX2). Exactly
 * the field of the kernel's op (EMB_OP_LIST) is set; ISA files name it
 * with a designated initializer (EMB_ENTRY). */
typedef struct emb_kernel_entry {
    int kernel; /* an emb_kernel_id */
    uint32_t requires;
    emb_lookup_fn lookup;
    emb_grad_fn grad;
    emb_lookup_pos_fn lookup_pos;
    emb_grad_pos_fn grad_pos;
    emb_scan_fn scan;
    emb_bag_fn bag;
    emb_bag_grad_fn bag_grad;
    emb_bag_step_fn bag_step; /* bag_sgd and bag_adagrad */
} emb_kernel_entry;

#define EMB_ENTRY(id, field, req, fn) {.kernel = EMB_K_##id, .requires = (req), .field = (fn)}
/* The entry field of each op, by its enumerator (EMB_OP_LIST's third
 * column, spelt out for the generated entry tables: EMB_FIELD_##op). */
#define EMB_FIELD_EMB_OP_LOOKUP lookup
#define EMB_FIELD_EMB_OP_GRAD grad
#define EMB_FIELD_EMB_OP_LOOKUP_POS lookup_pos
#define EMB_FIELD_EMB_OP_GRAD_POS grad_pos
#define EMB_FIELD_EMB_OP_SCAN scan
#define EMB_FIELD_EMB_OP_BAG bag
#define EMB_FIELD_EMB_OP_BAG_GRAD bag_grad
#define EMB_FIELD_EMB_OP_BAG_SGD bag_step
#define EMB_FIELD_EMB_OP_BAG_ADAGRAD bag_step

/* What an ISA file provides: its kernels (any subset of the list: a kernel
 * it lacks, or whose requirements the CPU lacks, runs on the next
 * implementation of the table that has it), and the id check. */
typedef struct emb_kernels {
    const emb_kernel_entry *entries;
    size_t count;
    emb_ids_minmax_fn ids_minmax;
} emb_kernels;

/* Rows of more than EMB_SHORT_ROW_MAX_DIM (embsimd.h) elements are long:
 * a tuning file (or EMBSIMD_KERNEL_IMPL) may give a kernel's long rows
 * another implementation's code than its short ones. The CPUs measured
 * disagree most there: on AMD Zen 5, AVX-512's f32 lookup ran at
 * 0.78-0.84x memcpy against AVX2's 0.74-0.80x at 50257 x 768 x 8192, and
 * at 0.64-0.74x against 0.71-0.83x at 128256 x 4096 x 2048
 * (docs/tuning.md), so no one choice per kernel serves both. 1024: rows up
 * to a 4 KiB page of f32, the widths of GPT-2 and BERT; Llama's 4096 and
 * up are long. */
enum { EMB_ROWS_SHORT, EMB_ROWS_LONG, EMB_ROW_CLASSES };
static inline int emb_row_class(size_t dim)
{
    return dim > EMB_SHORT_ROW_MAX_DIM ? EMB_ROWS_LONG : EMB_ROWS_SHORT;
}

/* The row classes' names in a tuning file and EMBSIMD_KERNEL_IMPL. */
static inline const char *emb_row_class_name(int row_class)
{
    return row_class == EMB_ROWS_LONG ? "long" : "short";
}
/* The class a name names, -1 for none. */
static inline int emb_row_class_named(const char *name)
{
    return strcmp(name, "short") == 0 ? EMB_ROWS_SHORT
           : strcmp(name, "long") == 0  ? EMB_ROWS_LONG
                                        : -1;
}

/* The implementation in use, resolved per kernel and row class: what
 * api.c calls, through emb_kernel_for. */
typedef struct emb_resolved {
    const emb_kernel_entry *kernel[EMB_ROW_CLASSES][EMB_KERNEL_SLOTS];
    emb_ids_minmax_fn ids_minmax;
} emb_resolved;

/* Kernel kid's entry for rows of dim elements. */
static inline const emb_kernel_entry *emb_kernel_for(const emb_resolved *r, int kid, size_t dim)
{
    return r->kernel[emb_row_class(dim)][kid];
}

/* CPU features an implementation may require. The x86 bits are only set
 * when the OS also saves the register state they need (XGETBV). */
enum {
    EMB_CPU_AVX2 = 1u << 0,
    EMB_CPU_FMA = 1u << 1,
    EMB_CPU_AVX512F = 1u << 2,
    EMB_CPU_AVX512BW = 1u << 3,
    EMB_CPU_AVX512VL = 1u << 4,
    EMB_CPU_AVX512DQ = 1u << 5,
    EMB_CPU_NEON = 1u << 6,
    EMB_CPU_F16C = 1u << 7
};

/* Detected once; later calls return the cached value. */
uint32_t emb_cpu_features(void);

/* What emb_llc_decide weighs, in its order of precedence. The detection
 * gathers them from the running system; tests inject their own. */
typedef struct emb_llc_sources {
    const char *env;        /* $EMBSIMD_LLC; NULL when unset */
    const char *sysfs_root; /* cpu0's cache directory, holding index0, index1, ...;
                             * NULL: no sysfs */
    size_t cpuid_bytes;     /* one instance of the highest-level data or unified
                             * cache from CPUID leaf 4 or 0x8000001D; 0: unknown */
    unsigned cpuid_leaf;    /* 4 or 0x8000001D */
    int cpuid_level;        /* its level */
    int cpuid_sharing;      /* logical CPUs sharing one instance; 0: unknown */
    size_t package_bytes;   /* a package-wide L3 figure; 0: unknown */
    const char *package_source; /* where it came from: "sysconf", "CPUID 0x80000006" */
    long cpus;              /* CPUs this process may run on; < 1: unknown */
} emb_llc_sources;

#define EMB_LLC_DESCRIPTION_MAX 256

typedef struct emb_llc {
    size_t bytes; /* never 0 */
    char description[EMB_LLC_DESCRIPTION_MAX]; /* e.g. "16 MiB (sysfs L3)" */
} emb_llc;

/* The last-level cache size to use, and in words where it came from. Pure
 * but for reading files under sysfs_root. */
void emb_llc_decide(const emb_llc_sources *src, emb_llc *out);

/* Assumed for the L3 per CPU when only a package-wide figure is known
 * (cpu_features.c says why 4 MiB). */
#define EMB_LLC_PER_CPU ((size_t)4 << 20)
/* Name of one feature bit, for messages ("AVX512BW"). */
const char *emb_cpu_feature_name(uint32_t bit);

/* One per ISA file; NULL-free. Defined only where compiled in. */
extern const emb_kernels emb_kernels_scalar;
extern const emb_kernels emb_kernels_avx2;
extern const emb_kernels emb_kernels_avx512;
extern const emb_kernels emb_kernels_neon;

/* The kernels of the implementation in use, or NULL after a bad
 * EMBSIMD_IMPL (the error is then already recorded for this thread). */
const emb_resolved *emb_active_kernels(void);

/* Runs fn(arg, part, nparts) for every part, each on whichever of the
 * calling thread and the pool workers claims it first (a part's work and
 * output depend on its index alone); returns when all are done. Falls back
 * to one part on the caller when the pool is busy with another thread's
 * call. */
typedef void (*emb_part_fn)(void *arg, unsigned part, unsigned nparts);
void emb_parallel(emb_part_fn fn, void *arg, unsigned nparts);

/* init.c's generator and its one element, for the tests: Philox4x32-10 of
 * a counter and key, and element (row, col)'s fp32 value. */
void emb_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
float emb_init_value(emb_init_dist dist, uint64_t seed, uint64_t row, uint64_t col, float scale);

/* The schedule in force (tuning.c): speed-only choices, the defaults or a
 * tuning file's. kernel_impl[c][k]: the implementation whose code kernel k
 * runs on rows of class c (emb_row_class) under every implementation above
 * it (as EMBSIMD_KERNEL_IMPL does), "" for the dispatcher's own choice. */
/* The loops' speed-only constants (row_loops.h, bag_loops.h, prefetch.h,
 * schedule.c): their defaults, each with the measurement behind it, are
 * EMB_LOOP_DEFAULTS in tuning.c; a tuning file may set any of them. */
typedef struct emb_loop_schedule {
    size_t prefetch_bytes;     /* rows this many bytes ahead are hinted; 0: no prefetch */
    size_t prefetch_rows_max;  /* ... but at most this many rows ahead */
    size_t prefetch_budget;    /* ... and at most this many bytes of rows */
    size_t in_flight_min_dim;  /* rows of at least this many elements go
                                  EMB_ROWS_IN_FLIGHT at a time from DRAM tables */
    size_t pos_grad_in_flight_min_dim; /* ... in the fused positional gradient */
    size_t stream_llc_eighths; /* streaming stores once output + rows read reach
                                  this many eighths of the LLC */
    size_t prefetch_llc_eighths; /* prefetch from tables of this many eighths of the LLC */
    size_t grad_prefetch_llc_eighths; /* ... in emb_grad */
    size_t far_llc_multiple;   /* the far (NTA) hint from tables this many times the LLC */
    size_t bag_ahead_multiple; /* a bag hints this many times the lookup's distance ahead */
    size_t bag_hint_level;     /* the cache level a bag's hints fill: 1 (L1,
                                  or NTA from far tables), 2 (L2 from any) */
    size_t bag_cached_hint;    /* 1: bags hint into L1 from tables below the
                                  prefetch threshold too; 0: they do not */
    size_t cached_ahead_rows;  /* lookups from quantized tables that stay in
                                  cache hint the row this many ahead; 0: none */
    size_t cached_ahead_min_dim; /* ... for rows of at least this many elements */
    size_t cached_ahead_min_bytes; /* ... into an output of at least this many bytes */
    size_t narrow_max_bytes;   /* AVX-512's f16 -> f32 lookup stores YMMs where a call's
                                  part reads and writes fewer bytes; 0: never */
    size_t line_realign;       /* 1: AVX-512's blocked-type lookups shift their vectors
                                  to the lines of an output off a line, its bit copies
                                  store up to a line first, its 16-bit gradients add
                                  up to a line first; 0: none of them */
    size_t line_halves;        /* 1: AVX-512's blocked-type lookups store each ZMM as
                                  two YMM halves; 0: whole */
    size_t grad_lead_min_dim;  /* under line_realign 0, AVX-512's 16-bit gradients
                                  still add up to a line first on rows of at least
                                  this many elements */
} emb_loop_schedule;

typedef struct emb_schedule {
    size_t part_min_bytes; /* a thread's share below which a call stays on one
                              thread, when workers are awake (threads.c) */
    size_t wake_min_bytes; /* ... when they must be woken first */
    char kernel_impl[EMB_ROW_CLASSES][EMB_KERNEL_SLOTS][16];
    emb_loop_schedule loops;
} emb_schedule;
const emb_schedule *emb_schedule_current(void);
/* The loop constants in force: read once per kernel call. */
static inline const emb_loop_schedule *emb_loops(void) { return &emb_schedule_current()->loops; }
/* embsimd-tune's probe of the thread break-even: sets both values in force
 * for this process (never from the library itself). */
void emb_schedule_set_part_min_bytes(size_t bytes);
/* ... and of the loop constants; each value must be within the range a
 * tuning file may give (emb_schedule_loop_item). */
void emb_schedule_set_loops(const emb_loop_schedule *loops);
/* The i-th loop constant's tuning-file name and its field in L (NULL past
 * the last): for embsimd-tune, which writes what it measured by name. */
const char *emb_schedule_loop_item(int i, emb_loop_schedule *L, size_t **field);
/* "<vendor> family F model M; features A,B; llc BYTES; cpus N". */
void emb_cpu_identity(char *buf, size_t size);
/* Where this CPU's tuning file is looked for; -1 without HOME. */
int emb_tuning_default_path(char *buf, size_t size);

/* How an entry point runs op's kernel parts once the call is validated:
 * emb_parallel, and in a --enable-slow-kernels=OP/IMPL build the gate's
 * deliberate slowdown of that one op and implementation (run.c). */
void emb_run(emb_op op, emb_part_fn fn, void *arg, unsigned nparts);

/* How many parts a call moving `bytes` should be split into: the thread
 * setting, fewer when the parts would be too small to repay a hand-off. */
unsigned emb_parts_for(size_t bytes, size_t max_parts);
/* emb_parts_for's rule, for the tests: `awake` workers spinning, shares of
 * at least `awake_min` bytes for them and of `wake_min` to wake others (0:
 * any share), `threads` the thread count in force. */
unsigned emb_parts_choose(size_t bytes, size_t max_parts, size_t threads, size_t awake,
                          size_t awake_min, size_t wake_min);

/* Records the detail emb_last_error() returns on this thread. */
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
void emb_set_error(const char *fmt, ...);

#endif /* EMBSIMD_INTERNAL_H */
