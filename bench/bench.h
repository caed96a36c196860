/* bench.h - what the benchmark suite's C files share: the description of
 * one benchmark case, the run configuration, the input buffers. */
#ifndef EMBSIMD_BENCH_H
#define EMBSIMD_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "embsimd.h"
#include "gbench_shim.h"
#include "gen.h"

typedef enum bench_op {
    BENCH_LOOKUP, /* emb_lookup (emb_lookup_f32 for f32 -> f32 with int32 ids) */
    BENCH_GRAD,   /* emb_grad (emb_grad_f32 for an f32 dout with int32 ids) */
    BENCH_MEMCPY, /* memcpy of the bytes a lookup moves: the roofline */
    BENCH_STREAM, /* the same copy with non-temporal stores */
    BENCH_ONEHOT, /* one-hot(ids) x table with cblas_sgemm */
    BENCH_OP_COUNT
} bench_op;

/* "lookup", "grad", "copy", "copy", "onehot": the first name component. */
const char *bench_op_group(bench_op op);
/* "lookup", "grad", "memcpy", "stream", "one-hot GEMM": for people. */
const char *bench_op_title(bench_op op);

typedef struct bench_config bench_config;

typedef struct bench_case {
    char name[192]; /* the family name registered with Google Benchmark */
    const bench_config *cfg;
    bench_op op;
    char impl[16];  /* embsimd implementation; "memcpy", "stream" or "blas" */
    /* emb_kernel_at() index: the kernel timed (lookup, grad); for a copy,
     * the lookup whose bytes it copies; for the one-hot GEMM, f32 -> f32 */
    int kernel;
    emb_type in, out;  /* that kernel's types: table (grad: dout) and output */
    char types[24];    /* "bf16->f32": the kernel in names and tables */
    emb_index idx;     /* the ids' type (kernels; references: EMB_I32) */
    int64_t vocab, dim, tokens;
    int threads;
    gen_ids_kind ids; /* kernels only; references use uniform ids */
} bench_case;

struct bench_config {
    uint64_t seed;
    size_t llc_bytes;     /* last-level cache: emb_llc_bytes(), or --llc */
    int llc_assumed;      /* 1: nothing told the library, llc_bytes is a guess */
    size_t budget_bytes;  /* shapes needing more are not registered */
    double onehot_max_gflop; /* one-hot GEMMs doing more work per call are skipped */
    int hugepages;        /* madvise(MADV_HUGEPAGE) on the big buffers */
    size_t out_offset;    /* the output (and the copies' destination) this many bytes
                             past a 64-byte boundary */
};

/* ---- inputs (data.c) ---------------------------------------------------- */

/* The emb_kernel_at() index of the kernel doing (op, in, out), or -1. */
int bench_kernel_find(emb_op op, emb_type in, emb_type out);

/* Bytes of one row of the table a case reads (lookup, copies: the table's
 * type; grad, one-hot: the fp32 table), and of one row it writes (lookup,
 * copies: the output's type) or, for grad, reads as dout. */
size_t bench_table_row_bytes(const bench_case *c);
size_t bench_rows_row_bytes(const bench_case *c);

/* Bytes a lookup of the case's kernel moves per call: each of the N table
 * rows read once, each of the N output rows written once. What its memcpy
 * reference moves too. */
int64_t bench_lookup_bytes(const bench_case *c);

/* How many batches of `tokens` ids a run cycles through: enough that the
 * rows read between two uses of a row cover the table (vocab rows of
 * row_bytes) or four times the last-level cache, whichever is smaller.
 * Without it a repeated batch would keep its few rows in cache and every
 * table would look warm. */
size_t bench_batches(const bench_config *cfg, int64_t vocab, size_t row_bytes, int64_t tokens);

/* Bytes the inputs of one (vocab, dim, tokens) shape take at most for the
 * table types in types_mask (bit t: emb_type t), with or without the
 * one-hot matrix: what the memory budget is checked against. */
size_t bench_footprint(const bench_config *cfg, int64_t vocab, int64_t dim, int64_t tokens,
                       unsigned types_mask, int with_onehot);

typedef struct bench_data {
    const void *table; /* the case's table: its own type for lookups and copies */
    float *dtable;     /* vocab x dim fp32, from the seed; grad adds into it */
    void *out;         /* lookup output, copy and GEMM destination */
    const void *dy;    /* tokens rows of the grad's dout type, never written */
    const void *ids;   /* batches x tokens ids of the case's type */
    const int32_t *ids32; /* the same ids as int32 */
    const int64_t *distinct; /* per batch: how many distinct rows it names */
    size_t batches;
    const float *onehot;   /* tokens x vocab, the one-hot rows of batch 0 */
} bench_data;

/* The inputs of case c, built on first use and kept while the following
 * cases share them (cases are registered grouped by shape). Thread-safe;
 * NULL with a message in err when memory runs out. */
const bench_data *bench_data_get(const bench_case *c, char *err, size_t err_size);
void bench_data_release(void);

/* "LLC", "DRAM:rows" or "DRAM:table": where a case's data lives while it
 * repeats (docs/benchmarks.md: cold and warm). Also the label of each run. */
const char *bench_residency(const bench_case *c);

/* ---- benchmark bodies (kernels.c, copy.c, onehot.c) ---------------------- */

void bench_kernel_body(gb_state *st, const bench_case *c);
void bench_copy_body(gb_state *st, const bench_case *c);
void bench_onehot_body(gb_state *st, const bench_case *c);
/* Floating-point work of one one-hot GEMM call, in GFLOP. */
double bench_onehot_gflop(int64_t vocab, int64_t dim, int64_t tokens);
/* NULL when the non-temporal copy can run here, else why not. */
const char *bench_stream_unsupported_reason(void);

/* ---- the grid (grid.c) ---------------------------------------------------- */

#define BENCH_AXIS_MAX 16

typedef struct bench_grid {
    int64_t vocab[BENCH_AXIS_MAX], dim[BENCH_AXIS_MAX], tokens[BENCH_AXIS_MAX];
    int threads[BENCH_AXIS_MAX];
    gen_ids_kind ids[GEN_IDS_KIND_COUNT];
    emb_type types[EMB_TYPE_COUNT]; /* table (grad: dout) types: the kernels whose input is one */
    emb_index idx[2];               /* id types */
    const char *impls[BENCH_AXIS_MAX]; /* available embsimd implementations to run */
    size_t n_vocab, n_dim, n_tokens, n_threads, n_ids, n_types, n_idx, n_impls;
} bench_grid;

/* A growable list of lines for people: what was left out and why. */
typedef struct bench_notes {
    char **line;
    size_t count, cap;
} bench_notes;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void bench_note(bench_notes *notes, const char *fmt, ...);
void bench_notes_free(bench_notes *notes);

typedef struct bench_plan {
    bench_case **cases; /* in registration order; stable addresses */
    size_t count, cap;
    bench_notes over_budget;   /* shapes not registered: memory budget */
    bench_notes onehot_capped; /* shapes without a one-hot GEMM: work cap */
    bench_notes type_skipped;  /* table types a dim is not valid for */
    bench_notes code_shared;   /* kernels an implementation runs with another's code */
} bench_plan;

/* Expands the grid into cases, grouped by shape so each shape's inputs are
 * built once. Returns 0, or -1 when out of memory. */
int bench_plan_build(bench_plan *plan, const bench_config *cfg, const bench_grid *grid);
/* Appends one case (names it; no budget check): for fixed sets of cases,
 * such as a regression check's. kernel: an emb_kernel_at() index (see
 * bench_case). The plan must start zeroed. NULL when out of memory. */
bench_case *bench_plan_add(bench_plan *plan, const bench_config *cfg, bench_op op,
                           const char *impl, int kernel, emb_index idx, int64_t vocab,
                           int64_t dim, int64_t tokens, int threads, gen_ids_kind ids);
/* Registers every case with Google Benchmark. Returns 0 or -1. */
int bench_plan_register(const bench_plan *plan);
void bench_plan_free(bench_plan *plan);

#endif /* EMBSIMD_BENCH_H */
