/* verify.h - what the verifier's files share: the kernels under test, the
 * inputs of a case, the dense product and its model, tallies, the report. */
#ifndef EMBSIMD_VERIFY_H
#define EMBSIMD_VERIFY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "embsimd.h"
#include "formats.h"
#include "gen.h"
#include "ieee.h"

/* ------------------------------------------------------------------ */
/* Kernels under test                                                  */
/* ------------------------------------------------------------------ */

/* The public entry points' signatures. The checkers take these, not the
 * library's, so a test can hand them a deliberately broken kernel. */
typedef emb_status (*vf_lookup_fn)(const float *table, int64_t vocab, int64_t dim,
                                   const int32_t *ids, int64_t n, float *out);
typedef emb_status (*vf_grad_fn)(float *dtable, int64_t vocab, int64_t dim,
                                 const int32_t *ids, int64_t n, const float *dout);

/* One implementation at one thread count: what every check runs on. */
typedef struct vf_run {
    int impl;    /* index in the library's table, or -1 for a kernel given directly */
    int threads; /* for emb_set_num_threads() */
} vf_run;

/* Selects a run's implementation and thread count in the library; 0 on
 * success, else prints why to stderr. */
int vf_run_select(const vf_run *run);
/* "avx512 x2": the implementation and thread count, for reports. */
void vf_run_label(const vf_run *run, char *buf, size_t size);

/* ------------------------------------------------------------------ */
/* Inputs                                                              */
/* ------------------------------------------------------------------ */

typedef enum vf_table_kind {
    VF_TABLE_FINITE,      /* random finite values */
    VF_TABLE_BITS,        /* random bit patterns: NaN payloads, sNaN, -0, subnormals, Inf */
    VF_TABLE_ADVERSARIAL, /* each column built to hit one exception of the theorem */
    VF_TABLE_KIND_COUNT
} vf_table_kind;

const char *vf_table_kind_name(vf_table_kind kind);

/* Fills a rows x dim matrix of the given kind from r (integer code only,
 * so every machine gets the same bits). */
void vf_fill(gen_rng *r, vf_table_kind kind, float *dst, int64_t rows, int64_t dim);

/* A vocab x dim table of some element type, its value to_f32(W) by the
 * model (formats.h), and what the dense model needs to know about each
 * column of that: how many of its entries are not finite, and the first two. */
typedef struct vf_table {
    vf_table_kind kind;
    int64_t vocab, dim;
    float *data;            /* to_f32(W), vocab x dim: the table itself for f32 */
    int64_t *nonfinite;     /* per column */
    int64_t (*nf_row)[2];   /* rows of the first two non-finite entries */
    uint32_t (*nf_bits)[2]; /* and their bits */
    /* grad's working copy, with guard words either side: equal to data
     * between runs, so every case on this table reuses it (f32 only) */
    float *work_base, *work;
    emb_type type;          /* how the table is stored */
    uint8_t *raw;           /* vocab rows of row_bytes: what lookup reads (data for f32) */
    size_t row_bytes;
} vf_table;

/* An fp32 table. */
int vf_table_init(vf_table *t, vf_table_kind kind, int64_t vocab, int64_t dim, uint64_t seed);
/* A table of any type the model knows and dim is valid for (-1 otherwise,
 * or when out of memory). f32 gives exactly vf_table_init's table. */
int vf_table_init_type(vf_table *t, emb_type type, vf_table_kind kind, int64_t vocab,
                       int64_t dim, uint64_t seed);
void vf_table_free(vf_table *t);

/* Fills rows x dim elements of type t (raw bytes, rows of the type's row
 * size) with tables of the given kind, from r: 16-bit types narrowed from
 * fp32 inputs of that kind, quantized types with scales of that kind. */
void vf_fill_type(gen_rng *r, emb_type t, vf_table_kind kind, uint8_t *dst, int64_t rows,
                  int64_t dim);

typedef struct vf_shape {
    int64_t vocab, dim, n;
    gen_ids_kind ids;
    vf_table_kind kind;
} vf_shape;

void vf_shape_label(const vf_shape *s, char *buf, size_t size);

/* How much of the dense product a case computes: the naive product costs
 * vocab times the work of a lookup, so rows beyond the budget are left to
 * the bitwise comparison (the report says how many were compared). */
typedef struct vf_dense_plan {
    uint64_t budget; /* multiply-adds per case, all orders together */
} vf_dense_plan;

/* Everything one case needs, built once and shared by every run. */
typedef struct vf_case {
    vf_shape s;
    const vf_table *table; /* the lookup table and grad's initial dtable */
    emb_type dout_type;  /* grad's dout (f32 for the cases of vf_case_init) */
    emb_index id_type;   /* (EMB_I32 for those) */
    int32_t *ids;
    int64_t *ids64;      /* the same ids as int64_t, when id_type is EMB_I64 */
    float *dout;         /* n x dim, widened: what the sums add */
    uint8_t *dout_raw;   /* n rows of dout_type: what grad reads (dout for f32) */
    int no_grad;         /* a table of a type grad has no kernel for: lookup only */
    /* the first run's error messages per kernel, which every later run
     * must repeat; err_ref_set has bit k once kernel k's are recorded */
    char (*err_ref)[320];
    uint64_t err_ref_set;
    /* references: the definition, element by element */
    float *ref_out;      /* n x dim, the bit copy */
    int64_t n_touched;   /* distinct ids */
    int64_t *touched;    /* in order of first use */
    int32_t *slot;       /* vocab entries: index into touched, or -1 */
    vf_val *ref_grad;    /* n_touched x dim: scatter-add in token order */
    /* lookup's output, with guard words either side: out_count floats, n x
     * dim, or more when the table's own rows are larger (a typed copy) */
    float *out_base, *out;
    size_t out_count;
    float *work_base, *work; /* the table's working copy, for grad */
    /* the dense product on a subset of rows */
    int64_t n_lk_rows, *lk_rows;       /* token positions */
    float *lk_dense;                    /* n_lk_rows x dim, one-hot x W */
    uint8_t *lk_domain;                 /* 1 where the theorem says dense == lookup */
    int64_t n_gr_rows, *gr_rows;       /* table rows */
    float *gr_dense;                    /* n_gr_rows x dim, dtable + one-hot^T x dout */
    uint8_t *gr_domain;                 /* 1 where dense == scatter-add */
} vf_case;

enum { VF_GUARD = 16 }; /* guard words either side of every output buffer */

/* Builds a case on table t (whose kind and size s must match); the dense
 * product is left to vf_dense_check(). Returns 0, or -1 when out of memory. */
int vf_case_init(vf_case *c, const vf_shape *s, const vf_table *t, uint64_t seed);
/* The same with grad's dout of type dout_type (f32 or a 16-bit type: its
 * values narrowed from the fp32 ones of the case's kind) and ids of
 * id_type; the table may be of any type. */
int vf_case_init_typed(vf_case *c, const vf_shape *s, const vf_table *t, emb_type dout_type,
                       emb_index id_type, uint64_t seed);
/* The shape's label, with the types when they are not fp32 and int32. */
void vf_case_label(const vf_case *c, char *buf, size_t size);void vf_case_free(vf_case *c);
/* 1 when the guard words around a buffer of count floats starting at
 * base + VF_GUARD still hold their canaries. */
int vf_case_guards_intact(const float *base, size_t count);
/* Writes the canaries (again), after a failure clobbered them. */
void vf_guards_reset(float *base, size_t count);

/* ------------------------------------------------------------------ */
/* Checks                                                              */
/* ------------------------------------------------------------------ */

/* What a set of checks saw. fails counts wrong elements (or calls); first
 * describes the first of them. */
typedef struct vf_tally {
    uint64_t calls;
    uint64_t elems;       /* elements compared with the reference */
    uint64_t dense_elems; /* elements compared with the dense product */
    uint64_t rows_untouched; /* rows no id names, checked unchanged */
    uint64_t fails;
    char first[512];
} vf_tally;

void vf_tally_add(vf_tally *sum, const vf_tally *t);
/* Records a failure; the first one's text is kept. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void vf_tally_fail(vf_tally *t, const char *fmt, ...);

/* One lookup call of f on case c: status EMB_OK, every element the bit
 * copy (out is prefilled with the complement of the answer, so an element
 * never written cannot pass), the in-domain elements of the dense rows
 * equal to the dense product, nothing written outside out. */
void vf_check_lookup(vf_case *c, vf_lookup_fn f, vf_tally *t);
/* One grad call of f on case c: status EMB_OK, every touched row equal to
 * the scatter-add in token order, untouched rows unchanged, in-domain
 * elements of the dense rows equal to the dense product, nothing written
 * outside dtable. Restores c->work to the table afterwards. */
void vf_check_grad(vf_case *c, vf_grad_fn f, vf_tally *t);
/* Calls that must fail (ids out of range at the first, a middle and the
 * last position, INT32_MIN, vocab/dim/n out of range, NULL pointers,
 * overlapping buffers): each must return its status and write nothing. */
void vf_check_errors(vf_case *c, vf_lookup_fn lookup, vf_grad_fn grad, vf_tally *t);

/* The most kernels the verifier tracks (emb_kernel_count() is 11 today). */
#define VF_MAX_KERNELS 64

/* Whether the verifier has a model for kernel k (emb_kernel_at): its types
 * are known to formats.h, and its (op, in, out) is a widening, a bit copy
 * or a gradient into fp32. 0 with the reason in why otherwise. */
/* Whether kernel kn is one of emb_lookup's or emb_grad's: the ops the
 * dense model, the grid, the digests and the fuzzer's plain calls cover.
 * The fused positional ops have their own checks (vf_check_layer). */
static inline int vf_kernel_is_base(const emb_kernel *kn)
{
    return kn->op == EMB_OP_LOOKUP || kn->op == EMB_OP_GRAD;
}

int vf_kernel_modelled(int k, char *why, size_t size);
/* The typed forms of the checks above, for kernel k of the library's list
 * through emb_lookup/emb_grad with the case's types and id type. A lookup
 * into f32 is checked against to_f32 of the selected rows, a lookup into
 * the table's own type against the rows' bytes (and, widened, against the
 * dense product); grad against the scatter-add of the widened dout. */
void vf_check_kernel(vf_case *c, int k, vf_tally *t);
/* The calls of vf_check_errors through kernel k, and those only a typed
 * call has: int64 ids beyond 2^31 (one that truncates to a valid id among
 * them), a dim not valid for a block type, a type pair with no kernel, an
 * unknown type or id type, ids overlapping the written buffer. Each must
 * fail with its status, write nothing, and give the same message as in the
 * first run on this case. */
void vf_check_kernel_errors(vf_case *c, int k, vf_tally *t);

/* ------------------------------------------------------------------ */
/* The dense product and its model                                     */
/* ------------------------------------------------------------------ */

/* Orders in which the dense sum is formed: the theorem holds for any. */
typedef enum vf_order {
    VF_ORDER_FORWARD,  /* k = 0, 1, ..., vocab-1 */
    VF_ORDER_REVERSE,  /* k = vocab-1, ..., 0 */
    VF_ORDER_PAIRWISE, /* a balanced tree over k */
    VF_ORDER_FMA,      /* forward, each step one fused multiply-add */
    VF_ORDER_COUNT
} vf_order;

const char *vf_order_name(vf_order o);

/* The default NaN of this CPU (what 0 * Inf gives), measured at run time. */
uint32_t vf_default_nan(void);

/* dense[j] = +0 + sum_k onehot[k] * W[k][j] with onehot = e_id, literally:
 * the one-hot row is materialised in scratch (vocab floats; pairwise needs
 * another (log2(vocab)+2) * dim) and every product is formed. */
void vf_dense_lookup_row(const vf_table *t, int32_t id, vf_order o, float *scratch, float *out);
/* What IEEE 754 makes of that sum, from the lemmas and the column counts
 * alone. *domain is 1 where the theorem's hypothesis holds (column finite,
 * selected entry not -0). */
vf_val vf_model_lookup(const vf_table *t, int32_t id, int64_t j, uint32_t default_nan, int *domain);

/* Row k of dtable + onehot(ids)^T x dout, summed in token order from the
 * prior value, every product formed (onehot column in scratch, n floats). */
void vf_dense_grad_row(const float *prior, int64_t dim, const int32_t *ids, int64_t n,
                       int64_t k, const float *dout, int fma, float *scratch, float *out);
/* The model of that row: a zero term (0 * dout, lemma L2) or the token's own
 * term (1 * dout, lemma L1) added in token order with vf_add. */
void vf_model_grad_row(const float *prior, int64_t dim, const int32_t *ids, int64_t n,
                       int64_t k, const float *dout, uint32_t default_nan, vf_val *out);

/* What the dense checks of section B saw, over all cases. */
typedef struct vf_dense_tally {
    uint64_t cases, gr_cases;                 /* all; those with a gradient */
    uint64_t lk_cases_inside, gr_cases_equal; /* cases with every compared element so */
    uint64_t lk_elems, lk_domain;     /* compared; of them inside the hypothesis */
    uint64_t lk_negzero;              /* -0 selected: dense gives +0 */
    uint64_t lk_nan, lk_nan_open;     /* an Inf or NaN in the column: NaN (payload open) */
    uint64_t lk_inf_alone;            /* selected Inf, column otherwise finite: equal anyway */
    uint64_t lk_order[VF_ORDER_COUNT]; /* elements compared per summation order */
    uint64_t gr_elems, gr_equal;      /* compared; of them equal to the scatter-add */
    uint64_t gr_negzero, gr_poison;   /* the two exceptions the theorem names */
    uint64_t gr_snan;                 /* and a third: an sNaN in a row no id names */
    uint64_t gr_nan_open;
    uint64_t gr_order[2];             /* plain, FMA */
    uint64_t lk_fails, gr_fails, fails;
    char first[512];
} vf_dense_tally;

/* Computes the dense product of case c on the rows its budget allows,
 * checks it against the model (exactly) and the lookup/scatter-add (inside
 * the domain, exactly), and keeps the dense rows in c for the runs. */
int vf_dense_check(vf_case *c, const vf_dense_plan *plan, vf_dense_tally *t);

/* ------------------------------------------------------------------ */
/* The report                                                          */
/* ------------------------------------------------------------------ */

typedef enum vf_status { VF_PASS, VF_FAIL, VF_SKIP, VF_INFO } vf_status;

const char *vf_status_name(vf_status s);

typedef struct vf_report vf_report;

vf_report *vf_report_new(FILE *text);
void vf_report_free(vf_report *r);
/* A header entry (mode, CPU, compiler...), printed and kept for JSON. */
#if defined(__GNUC__)
#define VF_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define VF_PRINTF(a, b)
#endif
void vf_report_meta(vf_report *r, const char *key, const char *fmt, ...) VF_PRINTF(3, 4);
void vf_report_section(vf_report *r, const char *id, const char *title);
/* Prose: the theorem's statement, the lemmas it uses. */
void vf_report_text(vf_report *r, const char *fmt, ...) VF_PRINTF(2, 3);
/* One checked line: a status, a short label, the counts in words. */
void vf_report_line(vf_report *r, vf_status st, const char *label, const char *fmt, ...)
    VF_PRINTF(4, 5);
/* Numbers and strings attached to the last line, for JSON. */
void vf_report_num(vf_report *r, const char *key, uint64_t v);
void vf_report_str(vf_report *r, const char *key, const char *v);
/* Prints the section begun last (its status is the worst of its lines). */
void vf_report_end_section(vf_report *r);
vf_status vf_report_result(const vf_report *r);
/* 0 on success; otherwise prints why. */
int vf_report_write_json(const vf_report *r, const char *path);

/* Progress on stderr: in place on a terminal, otherwise nothing. */
void vf_progress(const char *what, uint64_t done, uint64_t total);
void vf_progress_done(void);

/* ------------------------------------------------------------------ */
/* The sections                                                        */
/* ------------------------------------------------------------------ */

typedef enum vf_mode { VF_MODE_QUICK, VF_MODE_STANDARD, VF_MODE_FULL } vf_mode;

typedef struct vf_config {
    vf_mode mode;
    int emulated;  /* running under an emulator: reduced sweep and grid */
    uint64_t seed;
    const vf_run *runs;
    int n_runs;
    int sweep_threads;
} vf_config;

const char *vf_mode_name(vf_mode m);

/* A: the lemmas over all (or a stratified subset of) 2^32 bit patterns. */
void vf_section_lemmas(vf_report *r, const vf_config *cfg);
/* A, continued: the formats' conversions, exhaustively where they are
 * small (every f16 and bf16 pattern, every int8 x fp16 product) and on a
 * stratified sample (q8_rowwise's fmaf), through every implementation. */
void vf_format_lemmas(vf_report *r, const vf_config *cfg);
/* Section A's lemma on the CPU's own bf16 narrowing (VCVTNEPS2BF16). */
void vf_hw_narrow_lemmas(vf_report *r, const vf_config *cfg);
/* Section E's digest of emb_init on every run (init_check.c). */
void vf_init_digests(vf_report *r, const vf_config *cfg);
/* B and C: the case grid, against the dense product and per run. */
void vf_section_grid(vf_report *r, const vf_config *cfg);
/* D: one-hot x W through OpenBLAS sgemm. */
void vf_section_blas(vf_report *r, const vf_config *cfg);
/* E: XXH3-128 digests of the canonical cases per run. */
void vf_section_digests(vf_report *r, const vf_config *cfg);
/* F: the embedding layer: the fused token + positional ops, padding_idx
 * and max_norm, against the dense product and their definitions. */
void vf_section_layer(vf_report *r, const vf_config *cfg);
/* G: the similarity scan, every run against the definition (scan_check.c). */
void vf_section_scan(vf_report *r, const vf_config *cfg);
/* H: EmbeddingBag's theorem, the vocabulary-order finding, the fused
 * steps (bag_check.c). */
void vf_section_bags(vf_report *r, const vf_config *cfg);

#endif /* EMBSIMD_VERIFY_H */
