/* cases.c - the case grid (vocab x dim x n x ids x table kind) run against
 * the dense product once (section B) and against every implementation and
 * thread count (section C). */
#include "config.h"

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

/* Which tables a run builds: all but the largest (vocab x dim > 2^22
 * floats) in a quick run, those up to 1000 x 257 under an emulator. */
static int table_in_grid(const vf_config *cfg, int64_t vocab, int64_t dim)
{
    if (cfg->emulated)
        return vocab <= 1000 && dim <= 257;
    return cfg->mode != VF_MODE_QUICK || (uint64_t)vocab * (uint64_t)dim <= (1u << 22);
}

enum { COMBOS = N_NS * GEN_IDS_KIND_COUNT }; /* (n, ids kind) pairs per table */

/* Which (n, ids kind) pairs a table takes: all of them in a full run;
 * otherwise a window of consecutive pairs that moves on with every table,
 * so each n and each ids kind meets every vocab, dim and table kind across
 * the grid. */
static int case_in_grid(const vf_config *cfg, uint64_t table_index, int combo)
{
    const uint64_t per_table = cfg->emulated ? 1
                               : cfg->mode == VF_MODE_FULL ? COMBOS
                               : cfg->mode == VF_MODE_STANDARD ? 10 : 3;
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
                   "%llu; grad equal to the scatter-add throughout in %llu, with exceptions in %llu",
                   (unsigned long long)d->cases, (unsigned long long)d->lk_cases_inside,
                   (unsigned long long)(d->cases - d->lk_cases_inside),
                   (unsigned long long)d->gr_cases_equal,
                   (unsigned long long)(d->cases - d->gr_cases_equal));
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
    vf_report_end_section(r);
}

static void report_c(vf_report *r, const vf_config *cfg, const run_tally *rt, uint64_t cases,
                     uint64_t error_cases)
{
    vf_report_section(r, "C", "every implementation and thread count against the definition and the dense product");
    vf_report_num(r, "cases", cases);
    vf_report_str(r, "vocabs", "1 2 17 1000 50257");
    vf_report_str(r, "dims", "1 2 3 7 8 15 16 17 31 32 33 63 64 65 127 128 129 255 256 257 768 1023 1024 4096");
    vf_report_str(r, "ns", "1 2 7 64 1000");
    vf_report_str(r, "ids", "uniform all-equal sorted reversed zipf duplicates");
    vf_report_str(r, "tables", "finite bits adversarial");
    vf_report_text(r, "%llu cases; lookup: every element against the bit copy and the in-domain "
                      "elements of the dense rows against one-hot x W;",
                   (unsigned long long)cases);
    vf_report_text(r, "grad: every touched element against the scatter-add in token order, "
                      "untouched rows unchanged, in-domain dense elements;");
    vf_report_text(r, "errors (%llu cases): bad ids, sizes, NULLs and overlaps must fail and "
                      "write nothing. Guard words around every output.",
                   (unsigned long long)error_cases);
    for (int i = 0; i < cfg->n_runs; i++) {
        const run_tally *t = &rt[i];
        char label[64];
        vf_run_label(&cfg->runs[i], label, sizeof label);
        const uint64_t fails = t->lookup.fails + t->grad.fails + t->errors.fails;
        vf_report_line(r, fails ? VF_FAIL : VF_PASS, label,
                       "lookup %llu calls, %llu elements = copy, %llu = dense; grad %llu calls, "
                       "%llu elements = scatter-add, %llu = dense, %llu untouched rows kept; %llu "
                       "bad calls wrote nothing%s",
                       (unsigned long long)t->lookup.calls, (unsigned long long)t->lookup.elems,
                       (unsigned long long)t->lookup.dense_elems,
                       (unsigned long long)t->grad.calls, (unsigned long long)t->grad.elems,
                       (unsigned long long)t->grad.dense_elems,
                       (unsigned long long)t->grad.rows_untouched,
                       (unsigned long long)(t->errors.calls - t->errors.fails),
                       fails ? "; FAILED:" : "");
        vf_report_str(r, "impl", emb_impl_name(cfg->runs[i].impl));
        vf_report_num(r, "threads", (uint64_t)cfg->runs[i].threads);
        vf_report_num(r, "lookup_calls", t->lookup.calls);
        vf_report_num(r, "lookup_elements", t->lookup.elems);
        vf_report_num(r, "lookup_dense_elements", t->lookup.dense_elems);
        vf_report_num(r, "lookup_failures", t->lookup.fails);
        vf_report_num(r, "grad_calls", t->grad.calls);
        vf_report_num(r, "grad_elements", t->grad.elems);
        vf_report_num(r, "grad_dense_elements", t->grad.dense_elems);
        vf_report_num(r, "grad_untouched_rows", t->grad.rows_untouched);
        vf_report_num(r, "grad_failures", t->grad.fails);
        vf_report_num(r, "error_calls", t->errors.calls);
        vf_report_num(r, "error_failures", t->errors.fails);
        const vf_tally *parts[] = {&t->lookup, &t->grad, &t->errors};
        for (int p = 0; p < 3; p++)
            if (parts[p]->fails)
                vf_report_line(r, VF_FAIL, "", "%llu x: %s", (unsigned long long)parts[p]->fails,
                               parts[p]->first);
    }
    vf_report_end_section(r);
}

void vf_section_grid(vf_report *r, const vf_config *cfg)
{
    const vf_dense_plan plan = {dense_budget(cfg)};
    run_tally *rt = calloc((size_t)cfg->n_runs, sizeof *rt);
    vf_dense_tally dense;
    memset(&dense, 0, sizeof dense);
    uint64_t total = 0, done = 0, error_cases = 0, table_index = 0;
    uint64_t lk_rows = 0, lk_total = 0, gr_rows = 0, gr_total = 0;
    for (int v = 0; v < N_VOCABS; v++)
        for (int d = 0; d < N_DIMS; d++)
            for (int kind = 0; kind < VF_TABLE_KIND_COUNT; kind++, table_index++)
                for (int combo = 0; combo < COMBOS; combo++)
                    total += (uint64_t)(table_in_grid(cfg, vocabs[v], dims[d]) &&
                                        case_in_grid(cfg, table_index, combo));
    int oom = rt == NULL;
    table_index = 0;
    for (int v = 0; v < N_VOCABS && !oom; v++)
        for (int d = 0; d < N_DIMS && !oom; d++)
            for (int kind = 0; kind < VF_TABLE_KIND_COUNT && !oom; kind++, table_index++) {
                const int64_t vocab = vocabs[v], dim = dims[d];
                if (!table_in_grid(cfg, vocab, dim))
                    continue;
                vf_table table;
                const vf_shape ts = {vocab, dim, 0, GEN_IDS_UNIFORM, (vf_table_kind)kind};
                if (vf_table_init(&table, (vf_table_kind)kind, vocab, dim, case_seed(cfg->seed, &ts)) != 0) {
                    oom = 1;
                    break;
                }
                /* The error checks once per small table: validation does not
                 * depend on n or the ids, and a rejected call on a large
                 * table would cost a whole-table comparison per run. */
                int with_errors = (uint64_t)vocab * (uint64_t)dim <= (1u << 16);
                for (int combo = 0; combo < COMBOS && !oom; combo++) {
                    if (!case_in_grid(cfg, table_index, combo))
                        continue;
                    const vf_shape s = {vocab, dim, ns[combo % N_NS],
                                        (gen_ids_kind)(combo / N_NS), (vf_table_kind)kind};
                    vf_case c;
                    if (vf_case_init(&c, &s, &table, case_seed(cfg->seed, &s)) != 0 ||
                        vf_dense_check(&c, &plan, &dense) != 0) {
                        vf_case_free(&c);
                        oom = 1;
                        break;
                    }
                    lk_rows += (uint64_t)c.n_lk_rows;
                    lk_total += (uint64_t)s.n;
                    gr_rows += (uint64_t)c.n_gr_rows;
                    gr_total += (uint64_t)s.vocab;
                    error_cases += (uint64_t)with_errors;
                    for (int i = 0; i < cfg->n_runs; i++) {
                        if (vf_run_select(&cfg->runs[i]) != 0) {
                            vf_tally_fail(&rt[i].lookup, "cannot select the implementation");
                            continue;
                        }
                        vf_check_lookup(&c, emb_lookup_f32, &rt[i].lookup);
                        vf_check_grad(&c, emb_grad_f32, &rt[i].grad);
                        if (with_errors)
                            vf_check_errors(&c, emb_lookup_f32, emb_grad_f32, &rt[i].errors);
                    }
                    with_errors = 0;
                    vf_case_free(&c);
                    vf_progress("B/C: case grid", ++done, total);
                }
                vf_table_free(&table);
            }
    vf_progress_done();
    if (oom) {
        vf_report_section(r, "B", "the theorem");
        vf_report_line(r, VF_FAIL, "memory", "out of memory building the case grid");
        vf_report_end_section(r);
        free(rt);
        return;
    }
    report_b(r, &dense, plan.budget, lk_rows, lk_total, gr_rows, gr_total);
    report_c(r, cfg, rt, done, error_cases);
    free(rt);
}
