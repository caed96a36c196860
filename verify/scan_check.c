/* scan_check.c - section G of embsimd-verify: the similarity scan
 * (emb_scan). Its value is a reduction, so unlike lookup it rounds; what
 * makes it checkable is the one summation order of the definition
 * (embsimd.h, src/reduce.h). For every scan kernel of the library's list,
 * every run (implementation x thread count) must give the same bits as
 * every other and as the reference's plain loop of the definition
 * (ref_scan_score, on formats.h's model of each type): each element
 * widened, each term rounded on its own, 32 running sums folded in halves. Tables hold no NaN (two
 * NaN operands leave the payload of a sum to the CPU's choice of operand);
 * Inf - Inf and 0 x Inf give the CPU's default NaN, the same in every run. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats.h"
#include "gen.h"
#include "reference.h"
#include "verify.h"

static const emb_metric metrics[] = {EMB_METRIC_DOT, EMB_METRIC_L2SQ, EMB_METRIC_NORM2};
static const char *const metric_names[] = {"dot", "l2sq", "norm2"};

/* A table of type t with no NaN element: the verifier's finite tables
 * (whose fp32 values span the whole exponent range, so sums overflow and
 * cancel), with any quantization scale or bias that is NaN made finite. */
static uint8_t *scan_table(emb_type t, int64_t vocab, int64_t dim, uint64_t seed, uint32_t dn)
{
    const size_t rb = vf_format_row_bytes(t, dim);
    uint8_t *p = malloc((size_t)vocab * rb);
    if (p == NULL)
        return NULL;
    gen_rng r = gen_seed(seed);
    vf_fill_type(&r, t, VF_TABLE_FINITE, p, vocab, dim);
    for (int64_t v = 0; v < vocab; v++) {
        uint8_t *row = p + (size_t)v * rb;
        for (int64_t j = 0; j < dim; j++) {
            if (!vf_is_nan(vf_model_elem(t, row, dim, j, dn)))
                continue;
            if (t == EMB_F32)
                memset(row + 4 * j, 0, 4);
            else if (t == EMB_F16 || t == EMB_BF16)
                memset(row + 2 * j, 0, 2);
            else if (t == EMB_Q8_ROWWISE)
                memset(row + dim, 0, 8);
            else { /* a block: its fp16 scales to +0 */
                vf_format f = {1, 4, 0, 32, 0, {0, 0}};
                vf_format_of(t, &f);
                for (int s = 0; s < f.n_scales; s++)
                    memset(row + (size_t)(j / f.block) * f.block_bytes + f.scale_at[s], 0, 2);
            }
        }
    }
    return p;
}

void vf_section_scan(vf_report *r, const vf_config *cfg)
{
    vf_report_section(r, "G", "the similarity scan: one summation order, the same bits in "
                              "every run and equal to the definition");
    const uint32_t dn = vf_default_nan();
    static const int64_t dims[] = {1, 33, 96, 256, 384, 419, 512};
    const int64_t vocab = cfg->mode == VF_MODE_QUICK || cfg->emulated ? 3000 : 20000;
    int kernels = 0;
    for (int k = 0; k < emb_kernel_count(); k++) {
        const emb_kernel *kn = emb_kernel_at(k);
        if (kn->op != EMB_OP_SCAN)
            continue;
        kernels++;
        uint64_t checked = 0, failed = 0;
        char first[256] = "";
        for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
            const int64_t dim = dims[d];
            if (vf_format_row_bytes(kn->in, dim) == 0)
                continue;
            uint8_t *table = scan_table(kn->in, vocab, dim, cfg->seed * 131u + (uint64_t)dim, dn);
            float *q = malloc((size_t)dim * sizeof *q);
            float *want = malloc((size_t)vocab * sizeof *want);
            float *got = malloc((size_t)vocab * sizeof *got);
            if (table == NULL || q == NULL || want == NULL || got == NULL) {
                vf_report_line(r, VF_FAIL, kn->name, "out of memory");
                free(table), free(q), free(want), free(got);
                vf_report_end_section(r);
                return;
            }
            gen_rng qr = gen_seed(cfg->seed + 7u * (uint64_t)dim);
            gen_fill_finite(&qr, q, (size_t)dim);
            const size_t rb = vf_format_row_bytes(kn->in, dim);
            for (size_t m = 0; m < sizeof metrics / sizeof metrics[0]; m++) {
                for (int64_t v = 0; v < vocab; v++)
                    want[v] = ref_scan_score(kn->in, table + (size_t)v * rb, dim, q, metrics[m]);
                for (int i = 0; i < cfg->n_runs; i++) {
                    if (vf_run_select(&cfg->runs[i]) != 0)
                        continue;
                    const emb_status s = emb_scan(table, kn->in, vocab, dim, q, metrics[m], got);
                    checked++;
                    int64_t bad = -1;
                    if (s == EMB_OK)
                        for (int64_t v = 0; v < vocab && bad < 0; v++)
                            if (vf_bits(got[v]) != vf_bits(want[v]))
                                bad = v;
                    if (s != EMB_OK || bad >= 0) {
                        failed++;
                        if (first[0] == '\0') {
                            char label[64];
                            vf_run_label(&cfg->runs[i], label, sizeof label);
                            if (s != EMB_OK)
                                snprintf(first, sizeof first, "%s, %s, dim %lld: %s", label,
                                         metric_names[m], (long long)dim, emb_last_error());
                            else
                                snprintf(first, sizeof first,
                                         "%s, %s, dim %lld, row %lld: 0x%08x, definition 0x%08x",
                                         label, metric_names[m], (long long)dim, (long long)bad,
                                         vf_bits(got[bad]), vf_bits(want[bad]));
                        }
                    }
                }
            }
            free(table), free(q), free(want), free(got);
        }
        if (failed == 0)
            vf_report_line(r, VF_PASS, kn->name,
                           "%llu scans (%lld rows each; dims 1 to 512 as the type allows; dot, "
                           "l2sq, norm2; every run) bit-equal to the definition",
                           (unsigned long long)checked, (long long)vocab);
        else
            vf_report_line(r, VF_FAIL, kn->name, "%llu of %llu scans differ; first: %s",
                           (unsigned long long)failed, (unsigned long long)checked, first);
    }
    if (kernels == 0)
        vf_report_line(r, VF_FAIL, "scan", "the library lists no scan kernel");
    vf_report_end_section(r);
}
