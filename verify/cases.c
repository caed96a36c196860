/* cases.c - the case grid (vocab x dim x n x ids x table kind x the table
 * types and kernels of the library's list x id type) run against the dense
 * product once (section B) and against every implementation and thread
 * count (section C). */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "verify.h"

int vf_run_select(const vf_run *run)
{
    if (emb_use_impl(emb_impl_name(run->impl)) != EMB_OK) {
        fprintf(stderr, "embsimd-verify: cannot select %s: %s\n", emb_impl_name(run->impl),
                emb_last_error());
        return -1;
    }
    if (emb_set_num_threads(run->threads) != EMB_OK) {
        fprintf(stderr, "embsimd-verify: cannot use %d threads: %s\n", run->threads,
                emb_last_error());
        return -1;
    }
    return 0;
}

void vf_run_label(const vf_run *run, char *buf, size_t size)
{
    snprintf(buf, size, "%s x%d", run->impl >= 0 ? emb_impl_name(run->impl) : "given", run->threads);
}

const char *vf_mode_name(vf_mode m)
{
    return m == VF_MODE_QUICK ? "quick" : m == VF_MODE_FULL ? "full" : "standard";
}

static const int64_t vocabs[] = {1, 2, 17, 1000, 50257};
static const int64_t dims[] = {1,  2,   3,   7,   8,   15,  16,  17,  31,   32,   33,   63,
                               64, 65,  127, 128, 129, 255, 256, 257, 768, 1023, 1024, 4096};
static const int64_t ns[] = {1, 2, 7, 64, 1000};
enum {
    N_VOCABS = sizeof vocabs / sizeof vocabs[0],
    N_DIMS = sizeof dims / sizeof dims[0],
    N_NS = sizeof ns / sizeof ns[0]
};

enum { COMBOS = N_NS * GEN_IDS_KIND_COUNT }; /* (n, ids kind) pairs per table */

/* Which (n, ids kind) pairs a table takes: a window of per_table
 * consecutive pairs that moves on with every table, so each n and each ids
 * kind meets every vocab, dim and table kind across the grid (all of them
 * when per_table is COMBOS). */
static int case_in_grid(uint64_t per_table, uint64_t table_index, int combo)
{
    return ((uint64_t)combo + COMBOS - table_index * per_table % COMBOS) % COMBOS < per_table;
}

/* Multiply-adds of the dense product per case. */
static uint64_t dense_budget(const vf_config *cfg)
{
    if (cfg->emulated)
        return 1u << 16;
    return cfg->mode == VF_MODE_FULL ? 1u << 24 : cfg->mode == VF_MODE_STANDARD ? 1u << 22 : 1u << 19;
}

static uint64_t case_seed(uint64_t seed, const vf_shape *s)
{
    gen_rng r = gen_seed(seed ^ ((uint64_t)s->vocab << 40) ^ ((uint64_t)s->dim << 20) ^
                         ((uint64_t)s->n << 4) ^ ((uint64_t)s->ids << 1) ^ (uint64_t)s->kind);
    return gen_u64(&r);
}

/* The seed of a case with types: the fp32 one's for f32 tables, f32 dout
 * and int32 ids, so those cases keep their inputs. */
static uint64_t typed_seed(uint64_t seed, const vf_shape *s, emb_type table, emb_type dout,
                           emb_index ids)
{
    return case_seed(seed, s) ^ ((uint64_t)table << 56) ^ ((uint64_t)dout << 48) ^
           ((uint64_t)ids << 44);
}

/* ------------------------------------------------------------------ */
/* The kernels, as the library lists them                              */
/* ------------------------------------------------------------------ */

/* What the grid runs, read from emb_kernel_count()/emb_kernel_at(): the
 * table types (every lookup kernel's table type, in the order of the list),
 * and the grad kernels, which run on tables of their out type (the
 * dtable's) with a dout of their in type. Nothing here names a type. */
typedef struct grid_kernels {
    int count;
    int modelled[VF_MAX_KERNELS];
    char why[VF_MAX_KERNELS][160];
    emb_type types[EMB_TYPE_COUNT + 1];
    int n_types;
    int grads[VF_MAX_KERNELS];
    int n_grads;
} grid_kernels;

static int type_index(const grid_kernels *g, emb_type t)
{
    for (int i = 0; i < g->n_types; i++)
        if (g->types[i] == t)
            return i;
    return -1;
}

static void grid_kernels_init(grid_kernels *g)
{
    memset(g, 0, sizeof *g);
    g->count = emb_kernel_count() < VF_MAX_KERNELS ? emb_kernel_count() : VF_MAX_KERNELS;
    for (int k = 0; k < g->count; k++) {
        if (!vf_kernel_is_base(emb_kernel_at(k)))
            continue; /* not a grid kernel: modelled[k] stays 0 */
        g->modelled[k] = vf_kernel_modelled(k, g->why[k], sizeof g->why[k]);
        if (!g->modelled[k])
            continue;
        const emb_kernel *kn = emb_kernel_at(k);
        const emb_type table = kn->op == EMB_OP_LOOKUP ? kn->in : kn->out;
        if (type_index(g, table) < 0 && g->n_types <= EMB_TYPE_COUNT)
            g->types[g->n_types++] = table;
        if (kn->op == EMB_OP_GRAD)
            g->grads[g->n_grads++] = k;
    }
}

/* Whether grad kernels run on tables of type t (the dtable's type). */
static int is_grad_table(const grid_kernels *g, emb_type t)
{
    for (int i = 0; i < g->n_grads; i++)
        if (emb_kernel_at(g->grads[i])->out == t)
            return 1;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Which cases a run takes                                              */
/* ------------------------------------------------------------------ */

/* Which tables a run builds: all but the largest (vocab x dim > 2^22
 * elements) in a quick run, those up to 1000 x 257 under an emulator.
 * Tables of the grad type (fp32) meet every size of a standard run; the
 * others, which serve lookup alone, stop at 2^24 elements there (tables
 * that size already take the prefetch and streaming-store paths at every
 * type: 50257 x 257 f16 is 26 MB, 1000 tokens x 4096 out 16 MiB). */
static int table_in_grid(const vf_config *cfg, int grad_table, int64_t vocab, int64_t dim)
{
    const uint64_t elems = (uint64_t)vocab * (uint64_t)dim;
    if (cfg->emulated)
        return vocab <= 1000 && dim <= 257;
    if (cfg->mode == VF_MODE_QUICK)
        return elems <= (1u << 22);
    return cfg->mode == VF_MODE_FULL || grad_table || elems <= (1u << 24);
}

/* (n, ids kind) pairs per table: on the grad type's tables 2 in a quick
 * run, 10 in a standard one, all in a full one; on the lookup-only types
 * fewer. */
static uint64_t per_table(const vf_config *cfg, int grad_table)
{
    if (cfg->emulated || (!grad_table && cfg->mode == VF_MODE_QUICK))
        return 1;
    if (cfg->mode == VF_MODE_FULL)
        return grad_table ? COMBOS : 10;
    if (cfg->mode == VF_MODE_STANDARD)
        return grad_table ? 10 : 2;
    return 2;
}

/* Whether table type ty is built for a table of vocab x dim: every valid
 * type in standard and full runs; in quick and emulated runs the grad type
 * and one other, `chosen` (choose_type). */
static int type_in_grid(const vf_config *cfg, const grid_kernels *g, int ty, int chosen,
                        int64_t vocab, int64_t dim)
{
    const int grad_table = is_grad_table(g, g->types[ty]);
    if (vf_format_row_bytes(g->types[ty], dim) == 0 || !table_in_grid(cfg, grad_table, vocab, dim))
        return 0;
    return grad_table || (cfg->mode != VF_MODE_QUICK && !cfg->emulated) || ty == chosen;
}

/* The lookup-only type a quick or emulated run builds next to the grad
 * type's table: of those valid for dim, the one built least often so far
 * with this table kind (the first in the list on a tie). So the block
 * types, valid for 7 of the 24 dims, meet about as many tables as the
 * others, and every type meets every kind. */
static int choose_type(const grid_kernels *g, const uint64_t *built, int64_t dim)
{
    int best = -1;
    for (int ty = 0; ty < g->n_types; ty++)
        if (!is_grad_table(g, g->types[ty]) && vf_format_row_bytes(g->types[ty], dim) != 0 &&
            (best < 0 || built[ty] < built[best]))
            best = ty;
    return best;
}

/* The table index the (n, ids) window moves with: the table's own for the
 * grad type, as the fp32 grid always had it; spread over the types for
 * the others. */
static uint64_t window_index(const grid_kernels *g, uint64_t ti, int ty)
{
    return is_grad_table(g, g->types[ty]) ? ti : ti * (uint64_t)g->n_types + (uint64_t)ty;
}

typedef struct run_tally {
    vf_tally lookup, grad, errors;
} run_tally;

static void report_b(vf_report *r, const vf_dense_tally *d, uint64_t budget, uint64_t lk_rows,
                     uint64_t lk_total, uint64_t gr_rows, uint64_t gr_total)
{
    vf_report_section(r, "B", "the theorem: lookup == one-hot x W, grad == one-hot^T x dY");
    vf_report_text(r, "Theorem. For ids and W let dense[i][j] = sum_k onehot[i][k] * W[k][j], "
                      "summed from +0 in any order, with or without FMA.");
    vf_report_text(r, "  If column j of W is finite and W[ids[i]][j] is not -0, dense[i][j] has "
                      "the bits of W[ids[i]][j], which is what lookup returns.");
    vf_report_text(r, "Proof. One term is 1 * W[ids[i]][j] = W[ids[i]][j] (L1); the others are "
                      "0 * W[k][j] = +-0 (L2), so any partial sum");
    vf_report_text(r, "  without the selected term is a zero, and adding a zero to a value that "
                      "is not -0 leaves its bits (L3, L4).");
    vf_report_text(r, "  FMA forms a*b + c rounded once, but 1*w and 0*w are exact, so it sums "
                      "the same terms. The +0 start makes the");
    vf_report_text(r, "  result +0 when the selected entry is -0 (L3). QED");
    vf_report_text(r, "Lemmas used (section A): L1, L2, L3, L4 for the theorem; L2', L5 and the "
                      "NaN findings for the model below.");
    vf_report_text(r, "Outside the hypothesis the model (same lemmas: 0*Inf and 0*NaN are NaN, "
                      "a lone NaN operand comes out quieted");
    vf_report_text(r, "  with its payload, two NaN operands leave the payload open) predicts "
                      "+0 where the selected entry is -0 and");
    vf_report_text(r, "  a NaN where the column holds an Inf or NaN elsewhere; the dense value "
                      "is checked against it exactly.");
    vf_report_text(r, "Gradient. dtable + onehot^T * dout, summed per row in token order from "
                      "the prior value, equals the scatter-add:");
    vf_report_text(r, "  another token's term 0 * dout is +-0 and changes nothing (L3, L4) "
                      "unless the partial sum is -0 and the term");
    vf_report_text(r, "  +0 (it becomes +0), or dout is Inf or NaN (0 * Inf poisons the whole "
                      "column). A third, outside the statement: a");
    vf_report_text(r, "  signalling NaN in a row no id names stays as it is in the scatter-add "
                      "but is quieted by the dense form's");
    vf_report_text(r, "  additions of 0 * dout. All three are predicted and checked exactly.");

    const uint64_t outside = d->lk_elems - d->lk_domain;
    vf_report_line(r, d->lk_fails ? VF_FAIL : VF_PASS, "lookup",
                   "%llu elements of %llu cases: %llu inside the hypothesis, bit-equal to the "
                   "lookup; %llu outside, as predicted: %llu -0 selected -> +0, %llu NaN (%llu "
                   "with open payload), %llu Inf selected in an otherwise finite column (= "
                   "lookup); %llu wrong",
                   (unsigned long long)d->lk_elems, (unsigned long long)d->cases,
                   (unsigned long long)d->lk_domain, (unsigned long long)outside,
                   (unsigned long long)d->lk_negzero, (unsigned long long)d->lk_nan,
                   (unsigned long long)d->lk_nan_open, (unsigned long long)d->lk_inf_alone,
                   (unsigned long long)d->lk_fails);
    vf_report_num(r, "elements", d->lk_elems);
    vf_report_num(r, "in_domain", d->lk_domain);
    vf_report_num(r, "negzero_to_poszero", d->lk_negzero);
    vf_report_num(r, "nan", d->lk_nan);
    vf_report_num(r, "nan_open_payload", d->lk_nan_open);
    vf_report_num(r, "inf_alone", d->lk_inf_alone);
    vf_report_num(r, "wrong", d->lk_fails);
    vf_report_line(r, d->lk_fails ? VF_FAIL : VF_PASS, "orders",
                   "one-hot x W summed forward %llu, reverse %llu, pairwise %llu, FMA %llu "
                   "elements, each against the model",
                   (unsigned long long)d->lk_order[VF_ORDER_FORWARD],
                   (unsigned long long)d->lk_order[VF_ORDER_REVERSE],
                   (unsigned long long)d->lk_order[VF_ORDER_PAIRWISE],
                   (unsigned long long)d->lk_order[VF_ORDER_FMA]);
    for (int o = 0; o < VF_ORDER_COUNT; o++)
        vf_report_num(r, vf_order_name((vf_order)o), d->lk_order[o]);
    vf_report_line(r, d->gr_fails ? VF_FAIL : VF_PASS, "grad",
                   "%llu elements (plain %llu, FMA %llu, each against the model): %llu equal to "
                   "the scatter-add (%llu NaNs with open payload); %llu -0 -> +0 (a -0 in dtable "
                   "or dout, then a +0 term); %llu NaN from 0 * Inf or 0 * NaN of another "
                   "token; %llu sNaN quieted in a row no id names; %llu wrong or without cause",
                   (unsigned long long)d->gr_elems, (unsigned long long)d->gr_order[0],
                   (unsigned long long)d->gr_order[1], (unsigned long long)d->gr_equal,
                   (unsigned long long)d->gr_nan_open, (unsigned long long)d->gr_negzero,
                   (unsigned long long)d->gr_poison, (unsigned long long)d->gr_snan,
                   (unsigned long long)d->gr_fails);
    vf_report_num(r, "elements", d->gr_elems);
    vf_report_num(r, "equal", d->gr_equal);
    vf_report_num(r, "nan_open_payload", d->gr_nan_open);
    vf_report_num(r, "negzero_to_poszero", d->gr_negzero);
    vf_report_num(r, "nan_poison", d->gr_poison);
    vf_report_num(r, "snan_quieted", d->gr_snan);
    vf_report_num(r, "wrong", d->gr_fails);
    vf_report_line(r, d->fails ? VF_FAIL : VF_PASS, "cases",
                   "%llu cases: lookup entirely inside the hypothesis in %llu, partly outside in "
                   "%llu; of %llu with a gradient, equal to the scatter-add throughout in %llu, "
                   "with exceptions in %llu",
                   (unsigned long long)d->cases, (unsigned long long)d->lk_cases_inside,
                   (unsigned long long)(d->cases - d->lk_cases_inside),
                   (unsigned long long)d->gr_cases, (unsigned long long)d->gr_cases_equal,
                   (unsigned long long)(d->gr_cases - d->gr_cases_equal));
    vf_report_num(r, "cases", d->cases);
    vf_report_num(r, "lookup_cases_inside", d->lk_cases_inside);
    vf_report_num(r, "grad_cases_equal", d->gr_cases_equal);
    if (d->fails)
        vf_report_line(r, VF_FAIL, "first", "%s", d->first);
    vf_report_line(r, VF_INFO, "budget",
                   "dense product limited to %llu multiply-adds per case: formed for %llu of %llu "
                   "token rows and %llu of %llu table rows; the rest are checked bitwise in C",
                   (unsigned long long)budget, (unsigned long long)lk_rows,
                   (unsigned long long)lk_total, (unsigned long long)gr_rows,
                   (unsigned long long)gr_total);
    vf_report_num(r, "budget", budget);
}

/* Section B per table type and per dout type: the theorem on to_f32(W),
 * whose -0, Inf and NaN come from the format (a q8_0 zero quant times a
 * negative scale is -0; times an Inf scale, 0 x Inf). */
static void report_b_types(vf_report *r, const grid_kernels *g, const vf_dense_tally *by_type,
                           const vf_dense_tally *by_grad)
{
    vf_report_text(r, "Per type: W is the table's value to_f32(W) by the format's definition "
                      "(formats.h), so its -0, Inf and NaN");
    vf_report_text(r, "  come from the format (a zero quant times a negative scale is -0, times "
                      "an Inf scale 0 x Inf); same model, same checks.");
    for (int ty = 0; ty < g->n_types; ty++) {
        const vf_dense_tally *d = &by_type[ty];
        char label[48];
        snprintf(label, sizeof label, "%s table", emb_type_name(g->types[ty]));
        vf_report_line(r, d->lk_fails ? VF_FAIL : d->cases ? VF_PASS : VF_SKIP, label,
                       "%llu cases, %llu elements: %llu inside the hypothesis = lookup; outside: "
                       "%llu -0 -> +0, %llu NaN (%llu open payload), %llu Inf alone; %llu wrong",
                       (unsigned long long)d->cases, (unsigned long long)d->lk_elems,
                       (unsigned long long)d->lk_domain, (unsigned long long)d->lk_negzero,
                       (unsigned long long)d->lk_nan, (unsigned long long)d->lk_nan_open,
                       (unsigned long long)d->lk_inf_alone, (unsigned long long)d->lk_fails);
        vf_report_str(r, "type", emb_type_name(g->types[ty]));
        vf_report_num(r, "cases", d->cases);
        vf_report_num(r, "elements", d->lk_elems);
        vf_report_num(r, "in_domain", d->lk_domain);
        vf_report_num(r, "negzero_to_poszero", d->lk_negzero);
        vf_report_num(r, "nan", d->lk_nan);
        vf_report_num(r, "inf_alone", d->lk_inf_alone);
        vf_report_num(r, "wrong", d->lk_fails);
    }
    for (int i = 0; i < g->n_grads; i++) {
        const vf_dense_tally *d = &by_grad[i];
        const emb_kernel *kn = emb_kernel_at(g->grads[i]);
        vf_report_line(r, d->gr_fails ? VF_FAIL : d->gr_cases ? VF_PASS : VF_SKIP, kn->name,
                       "%llu cases, %llu elements of one-hot^T x widen(dY): %llu = scatter-add; "
                       "%llu -0 -> +0, %llu 0 x Inf/NaN poison, %llu sNaN quieted; %llu wrong",
                       (unsigned long long)d->gr_cases, (unsigned long long)d->gr_elems,
                       (unsigned long long)d->gr_equal, (unsigned long long)d->gr_negzero,
                       (unsigned long long)d->gr_poison, (unsigned long long)d->gr_snan,
                       (unsigned long long)d->gr_fails);
        vf_report_str(r, "kernel", kn->name);
        vf_report_num(r, "cases", d->gr_cases);
        vf_report_num(r, "elements", d->gr_elems);
        vf_report_num(r, "equal", d->gr_equal);
        vf_report_num(r, "wrong", d->gr_fails);
    }
    vf_report_end_section(r);
}

/* Sums what two dense tallies saw. */
_Static_assert(offsetof(vf_dense_tally, first) % sizeof(uint64_t) == 0,
               "vf_dense_tally: counters, then first");
static void dense_add(vf_dense_tally *sum, const vf_dense_tally *t)
{
    uint64_t *a = (uint64_t *)(void *)sum;
    const uint64_t *b = (const uint64_t *)(const void *)t;
    /* Every field before `first` is a counter. */
    const size_t counters = offsetof(vf_dense_tally, first) / sizeof(uint64_t);
    if (sum->fails == 0 && t->fails != 0)
        memcpy(sum->first, t->first, sizeof sum->first);
    for (size_t k = 0; k < counters; k++)
        a[k] += b[k];
}

/* Section C: per run over all kernels, then per kernel over all runs,
 * with which implementation's code ran it under each. */
static void report_c(vf_report *r, const vf_config *cfg, const grid_kernels *g, const run_tally *rt,
                     const uint64_t (*kcases)[2], uint64_t cases, uint64_t error_cases)
{
    vf_report_section(r, "C", "every implementation and thread count against the definition and the dense product");
    vf_report_num(r, "cases", cases);
    vf_report_str(r, "vocabs", "1 2 17 1000 50257");
    vf_report_str(r, "dims", "1 2 3 7 8 15 16 17 31 32 33 63 64 65 127 128 129 255 256 257 768 1023 1024 4096");
    vf_report_str(r, "ns", "1 2 7 64 1000");
    vf_report_str(r, "ids", "uniform all-equal sorted reversed zipf duplicates");
    vf_report_str(r, "tables", "finite bits adversarial");
    char types[160] = "";
    for (int ty = 0, len = 0; ty < g->n_types; ty++)
        len += snprintf(types + len, sizeof types - (size_t)len, "%s%s", ty ? " " : "",
                        emb_type_name(g->types[ty]));
    vf_report_str(r, "table_types", types);
    vf_report_text(r, "%llu cases over %d kernels (emb_kernel_at: table types %s; int32 and int64 "
                      "ids in turn); lookup: every element",
                   (unsigned long long)cases, g->count, types);
    vf_report_text(r, "against to_f32 of the selected row (a copy kernel: its bytes) and the "
                      "in-domain elements of the dense rows against one-hot x to_f32(W);");
    vf_report_text(r, "grad: every touched element against the scatter-add of widen(dY) in token "
                      "order, untouched rows unchanged, in-domain dense elements;");
    vf_report_text(r, "errors (%llu cases): bad ids (int64 ones beyond 2^31), sizes, dims a type "
                      "rejects, NULLs, overlaps, type pairs without a kernel must",
                   (unsigned long long)error_cases);
    vf_report_text(r, "fail, write nothing and word the failure as the first run did. Guard "
                      "words around every output; the f32 kernels with int32 ids go");
    vf_report_text(r, "through emb_lookup_f32/emb_grad_f32, with int64 ids through "
                      "emb_lookup/emb_grad.");
    for (int k = 0; k < g->count; k++)
        if (!g->modelled[k] && vf_kernel_is_base(emb_kernel_at(k)))
            vf_report_line(r, VF_FAIL, "model", "%s", g->why[k]);
    for (int i = 0; i < cfg->n_runs; i++) {
        run_tally t;
        memset(&t, 0, sizeof t);
        for (int k = 0; k < g->count; k++) {
            const run_tally *p = &rt[(size_t)i * VF_MAX_KERNELS + (size_t)k];
            vf_tally_add(&t.lookup, &p->lookup);
            vf_tally_add(&t.grad, &p->grad);
            vf_tally_add(&t.errors, &p->errors);
        }
        char label[64];
        vf_run_label(&cfg->runs[i], label, sizeof label);
        const uint64_t fails = t.lookup.fails + t.grad.fails + t.errors.fails;
        vf_report_line(r, fails ? VF_FAIL : VF_PASS, label,
                       "lookup %llu calls, %llu elements = definition, %llu = dense; grad %llu "
                       "calls, %llu elements = scatter-add, %llu = dense, %llu untouched rows "
                       "kept; %llu bad calls wrote nothing%s",
                       (unsigned long long)t.lookup.calls, (unsigned long long)t.lookup.elems,
                       (unsigned long long)t.lookup.dense_elems,
                       (unsigned long long)t.grad.calls, (unsigned long long)t.grad.elems,
                       (unsigned long long)t.grad.dense_elems,
                       (unsigned long long)t.grad.rows_untouched,
                       (unsigned long long)(t.errors.calls - t.errors.fails),
                       fails ? "; FAILED:" : "");
        vf_report_str(r, "impl", emb_impl_name(cfg->runs[i].impl));
        vf_report_num(r, "threads", (uint64_t)cfg->runs[i].threads);
        vf_report_num(r, "lookup_calls", t.lookup.calls);
        vf_report_num(r, "lookup_elements", t.lookup.elems);
        vf_report_num(r, "lookup_dense_elements", t.lookup.dense_elems);
        vf_report_num(r, "lookup_failures", t.lookup.fails);
        vf_report_num(r, "grad_calls", t.grad.calls);
        vf_report_num(r, "grad_elements", t.grad.elems);
        vf_report_num(r, "grad_dense_elements", t.grad.dense_elems);
        vf_report_num(r, "grad_untouched_rows", t.grad.rows_untouched);
        vf_report_num(r, "grad_failures", t.grad.fails);
        vf_report_num(r, "error_calls", t.errors.calls);
        vf_report_num(r, "error_failures", t.errors.fails);
        const vf_tally *parts[] = {&t.lookup, &t.grad, &t.errors};
        for (int p = 0; p < 3; p++)
            if (parts[p]->fails)
                vf_report_line(r, VF_FAIL, "", "%llu x: %s", (unsigned long long)parts[p]->fails,
                               parts[p]->first);
    }
    vf_report_text(r, "Per kernel, all runs together (code: whose kernel each implementation "
                      "runs, emb_kernel_impl and, where it differs, on long rows):");
    for (int k = 0; k < g->count; k++) {
        if (!g->modelled[k])
            continue;
        const emb_kernel *kn = emb_kernel_at(k);
        run_tally t;
        memset(&t, 0, sizeof t);
        for (int i = 0; i < cfg->n_runs; i++) {
            const run_tally *p = &rt[(size_t)i * VF_MAX_KERNELS + (size_t)k];
            vf_tally_add(&t.lookup, &p->lookup);
            vf_tally_add(&t.grad, &p->grad);
            vf_tally_add(&t.errors, &p->errors);
        }
        const vf_tally *op = kn->op == EMB_OP_LOOKUP ? &t.lookup : &t.grad;
        const uint64_t fails = op->fails + t.errors.fails;
        char code[160] = "";
        for (int i = 0, len = 0, last = -1; i < cfg->n_runs; i++) {
            if (cfg->runs[i].impl == last)
                continue;
            last = cfg->runs[i].impl;
            const char *by = emb_kernel_impl(k, cfg->runs[i].impl);
            const char *by_long =
                emb_kernel_impl_for_dim(k, cfg->runs[i].impl, EMB_SHORT_ROW_MAX_DIM + 1);
            len += snprintf(code + len, sizeof code - (size_t)len, "%s%s", len ? ", " : "",
                            emb_impl_name(cfg->runs[i].impl));
            if (by != NULL && strcmp(by, emb_impl_name(cfg->runs[i].impl)) != 0)
                len += snprintf(code + len, sizeof code - (size_t)len, " (%s's)", by);
            if (by != NULL && by_long != NULL && strcmp(by, by_long) != 0)
                len += snprintf(code + len, sizeof code - (size_t)len, " (long rows %s's)",
                                by_long);
        }
        vf_report_line(r, fails ? VF_FAIL : op->calls ? VF_PASS : VF_SKIP, kn->name,
                       "%llu cases (%llu int32, %llu int64 ids), %llu calls, %llu elements = %s, "
                       "%llu = dense; %llu bad calls wrote nothing; code: %s",
                       (unsigned long long)(kcases[k][0] + kcases[k][1]),
                       (unsigned long long)kcases[k][0], (unsigned long long)kcases[k][1],
                       (unsigned long long)op->calls, (unsigned long long)op->elems,
                       kn->op == EMB_OP_LOOKUP ? "definition" : "scatter-add",
                       (unsigned long long)op->dense_elems,
                       (unsigned long long)(t.errors.calls - t.errors.fails), code);
        vf_report_str(r, "kernel", kn->name);
        vf_report_num(r, "cases_i32", kcases[k][0]);
        vf_report_num(r, "cases_i64", kcases[k][1]);
        vf_report_num(r, "calls", op->calls);
        vf_report_num(r, "elements", op->elems);
        vf_report_num(r, "dense_elements", op->dense_elems);
        vf_report_num(r, "failures", fails);
        if (!op->calls)
            vf_report_line(r, VF_SKIP, "", "no case of this run's grid takes %s", kn->name);
    }
    vf_report_end_section(r);
}

/* One pass over the grid: counts the cases (run == 0) or runs them. */
typedef struct grid_state {
    const vf_config *cfg;
    const grid_kernels *g;
    vf_dense_plan plan;
    run_tally *rt;                    /* n_runs x VF_MAX_KERNELS */
    uint64_t (*kcases)[2];            /* per kernel: cases with int32, int64 ids */
    vf_dense_tally dense, by_type[EMB_TYPE_COUNT + 1], by_grad[VF_MAX_KERNELS];
    /* in this pass: tables built per table kind and type (counted per
     * kind, so each type meets every kind), cases made per type (whose
     * count picks the id type and the grad kernel in turn) */
    uint64_t built[VF_TABLE_KIND_COUNT][EMB_TYPE_COUNT + 1], turns[EMB_TYPE_COUNT + 1];
    uint64_t total, done, error_cases;
    uint64_t lk_rows, lk_total, gr_rows, gr_total;
} grid_state;

/* The kernels on one case, each through its route, on every run. */
static void run_case(grid_state *st, vf_case *c, int ty, int grad_k, uint64_t errors)
{
    const vf_config *cfg = st->cfg;
    const grid_kernels *g = st->g;
    const emb_type table = g->types[ty];
    for (int i = 0; i < cfg->n_runs; i++) {
        run_tally *rt = st->rt + (size_t)i * VF_MAX_KERNELS;
        if (vf_run_select(&cfg->runs[i]) != 0) {
            vf_tally_fail(&rt[0].lookup, "cannot select the implementation");
            continue;
        }
        for (int k = 0; k < g->count; k++) {
            const emb_kernel *kn = emb_kernel_at(k);
            const int lookup = kn->op == EMB_OP_LOOKUP && kn->in == table;
            if (!g->modelled[k] || !(lookup || k == grad_k))
                continue;
            /* emb_lookup_f32 and emb_grad_f32 are the f32 kernels with
             * int32 ids: those cases go through them. */
            const int f32_entry = kn->in == EMB_F32 && kn->out == EMB_F32 && c->id_type == EMB_I32;
            if (f32_entry && lookup)
                vf_check_lookup(c, emb_lookup_f32, &rt[k].lookup);
            else if (f32_entry)
                vf_check_grad(c, emb_grad_f32, &rt[k].grad);
            else
                vf_check_kernel(c, k, lookup ? &rt[k].lookup : &rt[k].grad);
            if (!(errors >> k & 1))
                continue;
            vf_check_kernel_errors(c, k, &rt[k].errors);
        }
    }
}

/* Runs (or, with run == 0, counts) every case of table number ti. Returns
 * -1 when out of memory. */
static int grid_table(grid_state *st, int run, uint64_t ti, int64_t vocab, int64_t dim, int kind)
{
    const vf_config *cfg = st->cfg;
    const grid_kernels *g = st->g;
    const int chosen = choose_type(g, st->built[kind], dim);
    for (int ty = 0; ty < g->n_types; ty++) {
        if (!type_in_grid(cfg, g, ty, chosen, vocab, dim))
            continue;
        st->built[kind][ty]++;
        const emb_type type = g->types[ty];
        const int grad_table = is_grad_table(g, type);
        const uint64_t window = per_table(cfg, grad_table), wi = window_index(g, ti, ty);
        if (!run) {
            for (int combo = 0; combo < COMBOS; combo++)
                st->total += (uint64_t)case_in_grid(window, wi, combo);
            continue;
        }
        vf_table table;
        const vf_shape ts = {vocab, dim, 0, GEN_IDS_UNIFORM, (vf_table_kind)kind};
        const uint64_t tseed = case_seed(cfg->seed, &ts) ^ (type == EMB_F32 ? 0 : (uint64_t)type << 56);
        if (vf_table_init_type(&table, type, (vf_table_kind)kind, vocab, dim, tseed) != 0)
            return -1;
        /* The error checks once per small table and kernel, on the first
         * case that runs the kernel: validation does not depend on n or
         * the ids, and a rejected call on a large table would cost a
         * whole-table comparison per run. */
        const int small = (uint64_t)vocab * (uint64_t)dim <= (1u << 16);
        uint64_t errors_done = 0;
        for (int combo = 0; combo < COMBOS; combo++) {
            if (!case_in_grid(window, wi, combo))
                continue;
            const vf_shape s = {vocab, dim, ns[combo % N_NS], (gen_ids_kind)(combo / N_NS),
                                (vf_table_kind)kind};
            /* int32 and int64 ids in turn, and within each the grad
             * kernels in turn: every pairing equally often. */
            const uint64_t turn = st->turns[ty]++;
            const emb_index ids = (emb_index)(turn % 2);
            const int grad_k = grad_table && g->n_grads
                                   ? g->grads[turn / 2 % (uint64_t)g->n_grads] : -1;
            const emb_type dout = grad_k >= 0 ? emb_kernel_at(grad_k)->in : EMB_F32;
            vf_case c;
            vf_dense_tally d;
            memset(&d, 0, sizeof d);
            if (vf_case_init_typed(&c, &s, &table, dout, ids, typed_seed(cfg->seed, &s, type, dout, ids)) != 0 ||
                vf_dense_check(&c, &st->plan, &d) != 0) {
                vf_case_free(&c);
                vf_table_free(&table);
                return -1;
            }
            dense_add(&st->dense, &d);
            dense_add(&st->by_type[ty], &d);
            uint64_t errors = 0;
            for (int k = 0; k < g->count; k++) {
                const emb_kernel *kn = emb_kernel_at(k);
                if (g->modelled[k] && ((kn->op == EMB_OP_LOOKUP && kn->in == type) || k == grad_k)) {
                    st->kcases[k][ids]++;
                    errors |= small ? ((uint64_t)1 << k) & ~errors_done : 0;
                }
            }
            errors_done |= errors;
            if (grad_k >= 0)
                for (int i = 0; i < g->n_grads; i++)
                    if (g->grads[i] == grad_k)
                        dense_add(&st->by_grad[i], &d);
            st->lk_rows += (uint64_t)c.n_lk_rows;
            st->lk_total += (uint64_t)s.n;
            st->gr_rows += (uint64_t)c.n_gr_rows;
            st->gr_total += grad_k >= 0 ? (uint64_t)s.vocab : 0;
            st->error_cases += errors != 0;
            run_case(st, &c, ty, grad_k, errors);
            vf_case_free(&c);
            vf_progress("B/C: case grid", ++st->done, st->total);
        }
        vf_table_free(&table);
    }
    return 0;
}

void vf_section_grid(vf_report *r, const vf_config *cfg)
{
    grid_kernels *g = malloc(sizeof *g);
    grid_state *st = calloc(1, sizeof *st);
    run_tally *rt = calloc((size_t)cfg->n_runs * VF_MAX_KERNELS, sizeof *rt);
    uint64_t(*kcases)[2] = calloc(VF_MAX_KERNELS, sizeof *kcases);
    int oom = g == NULL || st == NULL || rt == NULL || kcases == NULL;
    if (!oom) {
        grid_kernels_init(g);
        st->cfg = cfg;
        st->g = g;
        st->plan.budget = dense_budget(cfg);
        st->rt = rt;
        st->kcases = kcases;
    }
    for (int run = 0; run < 2 && !oom; run++) {
        uint64_t ti = 0;
        memset(st->built, 0, sizeof st->built);
        memset(st->turns, 0, sizeof st->turns);
        for (int v = 0; v < N_VOCABS && !oom; v++)
            for (int d = 0; d < N_DIMS && !oom; d++)
                for (int kind = 0; kind < VF_TABLE_KIND_COUNT && !oom; kind++, ti++)
                    oom = grid_table(st, run, ti, vocabs[v], dims[d], kind) != 0;
    }
    vf_progress_done();
    if (oom) {
        vf_report_section(r, "B", "the theorem");
        vf_report_line(r, VF_FAIL, "memory", "out of memory building the case grid");
        vf_report_end_section(r);
    } else {
        report_b(r, &st->dense, st->plan.budget, st->lk_rows, st->lk_total, st->gr_rows,
                 st->gr_total);
        report_b_types(r, g, st->by_type, st->by_grad);
        report_c(r, cfg, g, rt, (const uint64_t(*)[2])kcases, st->done, st->error_cases);
    }
    free(g);
    free(st);
    free(rt);
    free(kcases);
}
