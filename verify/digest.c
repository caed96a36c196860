/* digest.c - section E: XXH3-128 digests of every run's outputs on a fixed
 * set of canonical cases, which must agree across implementations, thread
 * counts and machines. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "verify.h"

typedef struct canon {
    char op; /* 'L' lookup, 'G' grad */
    int64_t vocab, dim, n;
    gen_ids_kind ids;
} canon;

/* Every tail length class of every vector width, every id kind, and calls
 * large enough for the thread pool (>= 512 KiB) and for streaming stores
 * (>= 8 MiB of output). Fixed forever: changing it changes every digest. */
static const canon canonical[] = {
    {'L', 1, 1, 1, GEN_IDS_UNIFORM},
    {'L', 17, 3, 64, GEN_IDS_UNIFORM},
    {'L', 17, 15, 7, GEN_IDS_ALL_EQUAL},
    {'L', 1000, 16, 1000, GEN_IDS_SORTED},
    {'L', 1000, 17, 1000, GEN_IDS_REVERSED},
    {'L', 50257, 31, 64, GEN_IDS_ZIPF},
    {'L', 1000, 33, 1000, GEN_IDS_DUPLICATES},
    {'L', 2, 64, 7, GEN_IDS_UNIFORM},
    {'L', 1000, 65, 4096, GEN_IDS_ZIPF},
    {'L', 1000, 257, 1000, GEN_IDS_UNIFORM},
    {'L', 1000, 768, 1024, GEN_IDS_ZIPF},
    {'L', 1000, 1023, 2048, GEN_IDS_DUPLICATES},
    {'L', 2000, 1024, 4096, GEN_IDS_UNIFORM},
    {'G', 1, 7, 64, GEN_IDS_ALL_EQUAL},
    {'G', 17, 8, 64, GEN_IDS_DUPLICATES},
    {'G', 17, 33, 1000, GEN_IDS_ZIPF},
    {'G', 1000, 63, 1000, GEN_IDS_UNIFORM},
    {'G', 1000, 128, 4096, GEN_IDS_SORTED},
    {'G', 1000, 255, 4096, GEN_IDS_REVERSED},
    {'G', 50257, 64, 4096, GEN_IDS_ZIPF},
    {'G', 1000, 768, 2048, GEN_IDS_DUPLICATES},
    {'G', 1000, 1024, 1000, GEN_IDS_ZIPF},
};
enum { N_CANON = sizeof canonical / sizeof canonical[0] };
#define CANON_SEED 0x0E3B5EEDC0FFEE01ull

typedef struct canon_inputs {
    float *matrix; /* table or the initial dtable: random bit patterns */
    int32_t *ids;
    float *rows;   /* grad's dout */
} canon_inputs;

/* dout for the digests: any bit pattern but NaN and Inf. Adding it to a
 * NaN gives that NaN quieted and can never make Inf - Inf, so no result bit
 * depends on which payload a CPU picks from two NaNs or on its default NaN
 * (x86 and Arm differ in both). */
static void fill_portable_dout(gen_rng *r, float *dst, size_t count)
{
    for (size_t k = 0; k < count; k++) {
        uint32_t u = gen_bits_no_nan(r);
        if (vf_is_inf(u))
            u = gen_f2u(gen_finite(r));
        memcpy(dst + k, &u, sizeof u);
    }
}

static int make_inputs(const canon *c, size_t index, canon_inputs *in)
{
    const size_t table = (size_t)(c->vocab * c->dim), rows = (size_t)(c->n * c->dim);
    in->matrix = malloc(table * sizeof(float));
    in->ids = malloc((size_t)c->n * sizeof *in->ids);
    in->rows = c->op == 'G' ? malloc(rows * sizeof(float)) : NULL;
    if (in->matrix == NULL || in->ids == NULL || (c->op == 'G' && in->rows == NULL))
        return -1;
    gen_rng r = gen_seed(CANON_SEED + index);
    gen_fill_bits(&r, in->matrix, table);
    gen_ids(&r, in->ids, (size_t)c->n, c->vocab, c->ids);
    if (c->op == 'G')
        fill_portable_dout(&r, in->rows, rows);
    return 0;
}

static void free_inputs(canon_inputs *in)
{
    free(in->matrix);
    free(in->ids);
    free(in->rows);
}

/* Little-endian words whatever the host, so digests compare across hosts. */
static void hash_words(XXH3_state_t *st, const void *p, size_t words)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    const uint32_t *w = p;
    for (size_t k = 0; k < words; k++) {
        const uint32_t le = __builtin_bswap32(w[k]);
        XXH3_128bits_update(st, &le, sizeof le);
    }
#else
    XXH3_128bits_update(st, p, words * sizeof(uint32_t));
#endif
}

static void hash_header(XXH3_state_t *st, const canon *c)
{
    const uint32_t h[5] = {(uint32_t)c->op, (uint32_t)c->vocab, (uint32_t)c->dim,
                           (uint32_t)c->n, (uint32_t)c->ids};
    hash_words(st, h, 5);
}

static void hex(XXH128_hash_t h, char out[33])
{
    XXH128_canonical_t canon_bytes;
    XXH128_canonicalFromHash(&canon_bytes, h);
    for (int b = 0; b < 16; b++)
        snprintf(out + 2 * b, 3, "%02x", canon_bytes.digest[b]);
}

static void describe(const canon *c, char *buf, size_t size)
{
    snprintf(buf, size, "%s vocab %lld dim %lld n %lld ids %s", c->op == 'L' ? "lookup" : "grad",
             (long long)c->vocab, (long long)c->dim, (long long)c->n, gen_ids_kind_name(c->ids));
}

/* Runs every canonical case on the selected run; one digest per case and
 * one over all of them. Returns -1 on a failed call or allocation. */
static int digest_run(const canon_inputs *in, XXH128_hash_t *per_case, XXH128_hash_t *all,
                      char *err, size_t err_size)
{
    XXH3_state_t *whole = XXH3_createState(), *one = XXH3_createState();
    int rc = whole && one ? 0 : -1;
    if (rc == 0)
        XXH3_128bits_reset(whole);
    for (size_t i = 0; i < N_CANON && rc == 0; i++) {
        const canon *c = &canonical[i];
        const size_t table = (size_t)(c->vocab * c->dim), rows = (size_t)(c->n * c->dim);
        const size_t words = c->op == 'L' ? rows : table;
        float *buf = malloc(words * sizeof(float));
        if (buf == NULL) {
            rc = -1;
            break;
        }
        emb_status st;
        if (c->op == 'L') {
            st = emb_lookup_f32(in[i].matrix, c->vocab, c->dim, in[i].ids, c->n, buf);
        } else {
            memcpy(buf, in[i].matrix, table * sizeof(float));
            st = emb_grad_f32(buf, c->vocab, c->dim, in[i].ids, c->n, in[i].rows);
        }
        if (st != EMB_OK) {
            char what[96];
            describe(c, what, sizeof what);
            snprintf(err, err_size, "%s returned %s: %s", what, emb_strerror(st), emb_last_error());
            rc = -1;
        } else {
            XXH3_128bits_reset(one);
            hash_header(one, c);
            hash_words(one, buf, words);
            per_case[i] = XXH3_128bits_digest(one);
            hash_header(whole, c);
            hash_words(whole, buf, words);
        }
        free(buf);
    }
    if (rc == 0)
        *all = XXH3_128bits_digest(whole);
    XXH3_freeState(whole);
    XXH3_freeState(one);
    return rc;
}

void vf_section_digests(vf_report *r, const vf_config *cfg)
{
    vf_report_section(r, "E", "XXH3-128 digests of the canonical cases, per implementation and thread count");
    int lookups = 0;
    for (size_t i = 0; i < N_CANON; i++)
        lookups += canonical[i].op == 'L';
    vf_report_text(r, "%d canonical cases (%d lookup, %d grad) from integer-only generators: the "
                      "same input bits on every machine;",
                   N_CANON, lookups, N_CANON - lookups);
    vf_report_text(r, "grad's dout holds no NaN or Inf, so no output bit depends on a CPU's "
                      "choice of NaN payload or default NaN.");
    canon_inputs in[N_CANON];
    memset(in, 0, sizeof in);
    XXH128_hash_t *per_case = calloc((size_t)cfg->n_runs * N_CANON, sizeof *per_case);
    XXH128_hash_t *all = calloc((size_t)cfg->n_runs, sizeof *all);
    int ok = per_case != NULL && all != NULL;
    for (size_t i = 0; i < N_CANON && ok; i++)
        ok = make_inputs(&canonical[i], i, &in[i]) == 0;
    if (!ok) {
        vf_report_line(r, VF_FAIL, "memory", "out of memory for the canonical cases");
    } else {
        int agree = 1, failed = 0;
        char first[33] = "";
        for (int k = 0; k < cfg->n_runs; k++) {
            char label[64], err[256] = "", h[33];
            vf_run_label(&cfg->runs[k], label, sizeof label);
            vf_progress("E: digests", (uint64_t)k, (uint64_t)cfg->n_runs);
            if (vf_run_select(&cfg->runs[k]) != 0 ||
                digest_run(in, per_case + (size_t)k * N_CANON, &all[k], err, sizeof err) != 0) {
                vf_report_line(r, VF_FAIL, label, "no digest: %s", err[0] ? err : "cannot run");
                failed = 1;
                continue;
            }
            hex(all[k], h);
            const int same = !first[0] || strcmp(first, h) == 0;
            if (!first[0])
                memcpy(first, h, sizeof first);
            agree &= same;
            vf_report_line(r, same ? VF_PASS : VF_FAIL, label, "%s", h);
            vf_report_str(r, "impl", emb_impl_name(cfg->runs[k].impl));
            vf_report_num(r, "threads", (uint64_t)cfg->runs[k].threads);
            vf_report_str(r, "digest", h);
            if (!same)
                for (size_t i = 0; i < N_CANON; i++)
                    if (!XXH128_isEqual(per_case[(size_t)k * N_CANON + i], per_case[i])) {
                        char what[96];
                        describe(&canonical[i], what, sizeof what);
                        vf_report_line(r, VF_FAIL, "", "differs from %s x%d on %s", emb_impl_name(cfg->runs[0].impl),
                                       cfg->runs[0].threads, what);
                    }
        }
        vf_progress_done();
        if (!failed && agree) {
            vf_report_line(r, VF_PASS, "agree", "all %d runs give canonical digest %s",
                           cfg->n_runs, first);
            vf_report_str(r, "canonical_digest", first);
            /* Per case, for finding what differs between two machines. */
            for (size_t i = 0; i < N_CANON; i++) {
                char key[16], what[96], h[33], val[160];
                snprintf(key, sizeof key, "case_%02zu", i);
                describe(&canonical[i], what, sizeof what);
                hex(per_case[i], h);
                snprintf(val, sizeof val, "%s: %s", what, h);
                vf_report_str(r, key, val);
            }
            vf_report_text(r, "Compare with another machine's report: verify/compare_digests.sh "
                              "A.json B.json");
        } else {
            vf_report_line(r, VF_FAIL, "agree", "the runs do not agree");
        }
    }
    for (size_t i = 0; i < N_CANON; i++)
        free_inputs(&in[i]);
    free(per_case);
    free(all);
    vf_report_end_section(r);
}
