/* blas_route.c - section D: one-hot x to_f32(W) through OpenBLAS
 * cblas_sgemm for every table type, as a framework computes a Linear layer
 * fed one-hot rows. Inside the theorem's domain it must equal the lookup bit
 * for bit; outside, what it gives is reported as a finding (the BLAS may sum
 * in any order, skip nothing, or start from the first product), not as a
 * failure. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "verify.h"

#ifdef VF_HAVE_OPENBLAS
#include <cblas.h>

typedef struct blas_tally {
    uint64_t cases, lookup_bad;
    uint64_t domain, domain_bad;
    uint64_t outside, as_model, kept_neg_zero, nan_other_payload, nan_lost, nan_made, other;
    char first[256];
} blas_tally;

static void classify(blas_tally *t, uint32_t got, uint32_t copy, vf_val model, int domain)
{
    if (domain) {
        t->domain++;
        if (got != copy && t->domain_bad++ == 0)
            snprintf(t->first, sizeof t->first, "sgemm gives 0x%08x, the lookup 0x%08x", got, copy);
        return;
    }
    t->outside++;
    if (vf_matches(got, model))
        t->as_model++;
    else if (got == VF_NEG_ZERO && copy == VF_NEG_ZERO)
        t->kept_neg_zero++;
    else if (vf_is_nan(got) && vf_is_nan(model.bits))
        t->nan_other_payload++;
    else if (vf_is_nan(model.bits))
        t->nan_lost++;
    else if (vf_is_nan(got))
        t->nan_made++;
    else
        t->other++;
}

/* One-hot x to_f32(W) for a table of type `type`; the lookup it is
 * compared with is the library's, into f32 (for f32 the bit copy). */
static int sgemm_case(const vf_shape *s, emb_type type, uint64_t seed, blas_tally *t)
{
    vf_table tb;
    if (vf_table_init_type(&tb, type, s->kind, s->vocab, s->dim, seed) != 0)
        return -1;
    const size_t n = (size_t)s->n, vocab = (size_t)s->vocab, dim = (size_t)s->dim;
    int32_t *ids = malloc(n * sizeof *ids);
    float *onehot = calloc(n * vocab, sizeof(float));
    float *c = malloc(n * dim * sizeof(float));
    float *looked = malloc(n * dim * sizeof(float));
    if (ids == NULL || onehot == NULL || c == NULL || looked == NULL) {
        free(ids);
        free(onehot);
        free(c);
        free(looked);
        vf_table_free(&tb);
        return -1;
    }
    gen_rng r = gen_seed(seed ^ 0xB1A5u);
    gen_ids(&r, ids, n, s->vocab, s->ids);
    for (size_t i = 0; i < n; i++)
        onehot[i * vocab + (size_t)ids[i]] = 1.0f;
    /* Prefilled with a NaN: beta = 0 must overwrite C, never read it. */
    for (size_t k = 0; k < n * dim; k++)
        c[k] = gen_u2f(0x7FA5A5A5u);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)n, (blasint)dim,
                (blasint)vocab, 1.0f, onehot, (blasint)vocab, tb.data, (blasint)dim, 0.0f, c,
                (blasint)dim);
    const emb_status st = emb_lookup(tb.raw, type, s->vocab, s->dim, ids, EMB_I32, s->n, looked,
                                     EMB_F32);
    if (st != EMB_OK && t->lookup_bad++ == 0)
        snprintf(t->first, sizeof t->first, "lookup/%s->f32 failed: %s", emb_type_name(type),
                 emb_last_error());
    const uint32_t dn = vf_default_nan();
    for (size_t i = 0; st == EMB_OK && i < n; i++)
        for (size_t j = 0; j < dim; j++) {
            int domain;
            const vf_val model = vf_model_lookup(&tb, ids[i], (int64_t)j, dn, &domain);
            const uint32_t copy = vf_bits(looked[i * dim + j]);
            if (copy != vf_bits(tb.data[(size_t)ids[i] * dim + j]) && t->lookup_bad++ == 0)
                snprintf(t->first, sizeof t->first, "lookup/%s->f32 gives 0x%08x, to_f32 0x%08x",
                         emb_type_name(type), copy, vf_bits(tb.data[(size_t)ids[i] * dim + j]));
            classify(t, vf_bits(c[i * dim + j]), copy, model, domain);
        }
    free(looked);
    free(ids);
    free(onehot);
    free(c);
    vf_table_free(&tb);
    return 0;
}

/* The lines of one table type: inside the domain (PASS/FAIL), outside (a
 * finding). f32's keep their labels; the others are named by the type. */
static void report_type(vf_report *r, emb_type type, const blas_tally *t)
{
    char inside[48], outside[48];
    snprintf(inside, sizeof inside, "%s", type == EMB_F32 ? "domain" : emb_type_name(type));
    snprintf(outside, sizeof outside, "%s", type == EMB_F32 ? "outside" : "");
    const uint64_t bad = t->domain_bad + t->lookup_bad;
    vf_report_line(r, bad ? VF_FAIL : VF_PASS, inside,
                   "%llu cases on %s tables, %llu elements inside the hypothesis: %llu bit-equal "
                   "to lookup/%s->f32%s%s",
                   (unsigned long long)t->cases, emb_type_name(type), (unsigned long long)t->domain,
                   (unsigned long long)(t->domain - t->domain_bad), emb_type_name(type),
                   bad ? "; first: " : "", t->first);
    vf_report_str(r, "type", emb_type_name(type));
    vf_report_num(r, "elements", t->domain);
    vf_report_num(r, "differ", t->domain_bad);
    vf_report_num(r, "lookup_wrong", t->lookup_bad);
    vf_report_line(r, VF_INFO, outside,
                   "finding, %llu elements outside: %llu as the dense model predicts (-0 -> +0, "
                   "NaN); %llu keep -0; %llu NaN with another payload; %llu lose the NaN; %llu "
                   "make a NaN the model does not; %llu other",
                   (unsigned long long)t->outside, (unsigned long long)t->as_model,
                   (unsigned long long)t->kept_neg_zero, (unsigned long long)t->nan_other_payload,
                   (unsigned long long)t->nan_lost, (unsigned long long)t->nan_made,
                   (unsigned long long)t->other);
    vf_report_num(r, "elements", t->outside);
    vf_report_num(r, "as_model", t->as_model);
    vf_report_num(r, "kept_neg_zero", t->kept_neg_zero);
    vf_report_num(r, "nan_other_payload", t->nan_other_payload);
    vf_report_num(r, "nan_lost", t->nan_lost);
    vf_report_num(r, "nan_made", t->nan_made);
    vf_report_num(r, "other", t->other);
}

void vf_section_blas(vf_report *r, const vf_config *cfg)
{
    vf_report_section(r, "D", "the nn.Linear route: one-hot x to_f32(W) through OpenBLAS cblas_sgemm");
    static const int64_t shapes[][3] = {
        {17, 33, 64}, {1000, 65, 64}, {1000, 257, 7}, {50257, 17, 7}, {2, 4096, 2}, {1, 129, 64}};
    const int n_shapes = cfg->emulated ? 3 : (int)(sizeof shapes / sizeof shapes[0]);
    const gen_ids_kind kinds[] = {GEN_IDS_UNIFORM, GEN_IDS_DUPLICATES};
    /* The best implementation, one thread: the lookup side of each case. */
    emb_use_impl(NULL);
    emb_set_num_threads(1);
    vf_report_line(r, VF_INFO, "build", "%s, core %s, %d threads; lookups by %s",
                   openblas_get_config(), openblas_get_corename(), openblas_get_num_threads(),
                   emb_impl_active());
    /* Every table type a lookup kernel widens into f32, from the list. */
    emb_type done[EMB_TYPE_COUNT + 1];
    int n_done = 0, cases = 0;
    for (int kk = 0; kk < emb_kernel_count(); kk++) {
        const emb_kernel *kn = emb_kernel_at(kk);
        int seen = kn->op != EMB_OP_LOOKUP || kn->out != EMB_F32 || !vf_format_known(kn->in);
        for (int d = 0; d < n_done && !seen; d++)
            seen = done[d] == kn->in;
        if (seen || n_done > EMB_TYPE_COUNT)
            continue;
        done[n_done++] = kn->in;
        blas_tally t;
        memset(&t, 0, sizeof t);
        /* A quick run gives the other types the first three shapes. */
        const int type_shapes = kn->in == EMB_F32 || cfg->mode != VF_MODE_QUICK ? n_shapes
                                : n_shapes < 3 ? n_shapes : 3;
        for (int k = 0; k < VF_TABLE_KIND_COUNT; k++)
            for (int s = 0; s < type_shapes; s++)
                for (int i = 0; i < 2; i++) {
                    /* The dim raised to one the type allows (q8_0 and q4_0:
                     * a multiple of 32; q4_K and q6_K: of 256). */
                    vf_format f = {1, 4, 0, 32, 0, {0, 0}};
                    vf_format_of(kn->in, &f);
                    const int64_t dim = (shapes[s][1] + f.block - 1) / f.block * f.block;
                    const vf_shape sh = {shapes[s][0], dim, shapes[s][2], kinds[i], (vf_table_kind)k};
                    const uint64_t seed = (cfg->seed ^ (uint64_t)(cases * 7919 + 1)) ^
                                          (kn->in == EMB_F32 ? 0 : (uint64_t)kn->in << 56);
                    if (sgemm_case(&sh, kn->in, seed, &t) != 0) {
                        vf_report_line(r, VF_FAIL, "memory", "out of memory");
                        vf_report_end_section(r);
                        return;
                    }
                    t.cases++;
                    cases++;
                }
        report_type(r, kn->in, &t);
    }
    emb_set_num_threads(0);
    vf_report_end_section(r);
}

#else

void vf_section_blas(vf_report *r, const vf_config *cfg)
{
    (void)cfg;
    vf_report_section(r, "D", "the nn.Linear route: one-hot x W through OpenBLAS cblas_sgemm");
    vf_report_line(r, VF_SKIP, "OpenBLAS",
                   "not built in: configure found no openblas (Debian: libopenblas-dev)");
    vf_report_end_section(r);
}

#endif
