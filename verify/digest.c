/* digest.c - section E: XXH3-128 digests of every run's outputs on a fixed
 * set of canonical cases for the fp32 entry points and for every kernel of
 * the library's list, which must agree across implementations, thread
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

/* Every kernel of the library's list runs these, with the dim raised to
 * the next one its types allow (a multiple of 32 for q8_0 and q4_0, of 256
 * for q4_K and q6_K) and int32 and int64 ids in turn: every tail class at
 * each type, a vocab past 2^12, and one call with 16 MiB of fp32 output,
 * for streaming stores.
 * Smaller tables than canonical[]'s: eleven kernels build them. Fixed
 * forever, like canonical[]. */
static const canon typed_lookup[] = {
    {'L', 1, 1, 1, GEN_IDS_UNIFORM},
    {'L', 17, 3, 64, GEN_IDS_UNIFORM},
    {'L', 17, 15, 7, GEN_IDS_ALL_EQUAL},
    {'L', 1000, 17, 1000, GEN_IDS_REVERSED},
    {'L', 5003, 31, 64, GEN_IDS_ZIPF},
    {'L', 1000, 33, 1000, GEN_IDS_DUPLICATES},
    {'L', 1000, 65, 4096, GEN_IDS_ZIPF},
    {'L', 1000, 257, 1000, GEN_IDS_UNIFORM},
    {'L', 600, 1024, 4096, GEN_IDS_UNIFORM},
};
static const canon typed_grad[] = {
    {'G', 1, 7, 64, GEN_IDS_ALL_EQUAL},
    {'G', 17, 8, 64, GEN_IDS_DUPLICATES},
    {'G', 17, 33, 1000, GEN_IDS_ZIPF},
    {'G', 1000, 63, 1000, GEN_IDS_UNIFORM},
    {'G', 1000, 255, 4096, GEN_IDS_REVERSED},
    {'G', 5003, 64, 4096, GEN_IDS_ZIPF},
    {'G', 1000, 1024, 1000, GEN_IDS_ZIPF},
};
enum {
    N_TYPED_LOOKUP = sizeof typed_lookup / sizeof typed_lookup[0],
    N_TYPED_GRAD = sizeof typed_grad / sizeof typed_grad[0]
};

/* One digest case: a canonical shape for one kernel (-1: the fp32 entry
 * points emb_lookup_f32/emb_grad_f32 on canonical[]). */
typedef struct dcase {
    canon c;
    int kernel;
    emb_type in, out; /* lookup: table and out; grad: dout and dtable */
    emb_index ids;
    uint64_t seed;
    /* inputs */
    uint8_t *matrix; /* table (of type in), or the initial dtable (f32) */
    void *idv;       /* int32_t or int64_t */
    uint8_t *rows;   /* grad's dout, of type in */
    size_t matrix_bytes, out_bytes;
} dcase;

/* Raises dim to the next one both types allow (at most a block of 256
 * further on); 0 when none is near. */
static int64_t valid_dim(emb_type in, emb_type out, int64_t dim)
{
    for (int64_t d = dim; d <= dim + 256; d++)
        if (vf_format_row_bytes(in, d) != 0 && vf_format_row_bytes(out, d) != 0)
            return d;
    return 0;
}

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

/* A finite binary32 pattern for a scale or bias, any class but Inf and NaN. */
static uint32_t portable_f32(gen_rng *r)
{
    uint32_t u = gen_bits_no_nan(r);
    return vf_is_inf(u) ? gen_f2u(gen_finite(r)) : u;
}

/* Random bytes, eight per draw. */
static void fill_bytes(gen_rng *r, uint8_t *dst, size_t count)
{
    for (size_t k = 0; k < count; k += 8) {
        uint64_t x = gen_u64(r);
        for (size_t b = k; b < count && b < k + 8; b++, x >>= 8)
            dst[b] = (uint8_t)x;
    }
}

/* A table for the digests. f32: gen_bits's patterns, as canonical[]. The
 * 16-bit types: uniform bit patterns, NaNs among them (copying and
 * widening them is defined bit for bit everywhere: an f16 NaN is quieted
 * by F16C, NEON and the scalar definition alike). Quantized types: scales
 * and biases finite only. A q8_0/q4_0/q6_K scale of Inf times a zero quant
 * is 0 x Inf, q4_K's difference of two Inf products is Inf - Inf, and
 * q8_rowwise's fmaf meets 0 x Inf or Inf - Inf the same way:
 * those give the CPU's default NaN, 0xFFC00000 on x86 and 0x7FC00000 on
 * AArch64, so no canonical input may hold one. */
static void fill_portable_table(gen_rng *r, emb_type t, uint8_t *dst, int64_t rows, int64_t dim)
{
    vf_format f;
    if (!vf_format_of(t, &f))
        return;
    const size_t row_bytes = vf_format_row_bytes(t, dim);
    if (t == EMB_F32) {
        gen_fill_bits(r, (float *)(void *)dst, (size_t)(rows * dim));
        return;
    }
    fill_bytes(r, dst, (size_t)rows * row_bytes);
    if (f.elem_bits)
        return;
    for (int64_t k = 0; k < rows; k++) {
        uint8_t *row = dst + (size_t)k * row_bytes;
        if (f.block > 1) {
            for (int64_t b = 0; b < dim / f.block; b++)
                for (int s = 0; s < f.n_scales; s++) {
                    uint8_t *d = row + (size_t)b * f.block_bytes + f.scale_at[s];
                    if ((vf_le16(d) & 0x7C00u) == 0x7C00u) /* Inf or NaN: exponent all ones */
                        d[1] = (uint8_t)(d[1] & ~0x40u);    /* now exponent 15: finite */
                }
        } else {
            for (int w = 0; w < 2; w++) {
                const uint32_t u = portable_f32(r);
                memcpy(row + dim + 4 * w, &u, sizeof u);
            }
        }
    }
}

/* A 16-bit dout for the digests: uniform patterns but Inf and NaN (an
 * exponent of all ones loses its top bit), for the reason fill_portable_dout
 * gives. */
static void fill_portable_dout16(gen_rng *r, emb_type t, uint8_t *dst, int64_t rows, int64_t dim)
{
    const size_t count = (size_t)(rows * dim);
    fill_bytes(r, dst, 2 * count);
    for (size_t k = 0; k < count; k++)
        if (!vf_is_finite(vf_model_elem(t, dst, (int64_t)count, (int64_t)k, 0)))
            dst[2 * k + 1] = (uint8_t)(dst[2 * k + 1] & ~0x40u);
}

static int make_inputs(dcase *d)
{
    const canon *c = &d->c;
    const int grad = c->op == 'G';
    const emb_type table = grad ? EMB_F32 : d->in;
    d->matrix_bytes = (size_t)c->vocab * vf_format_row_bytes(table, c->dim);
    d->out_bytes = grad ? d->matrix_bytes : (size_t)c->n * vf_format_row_bytes(d->out, c->dim);
    const size_t rows_bytes = grad ? (size_t)c->n * vf_format_row_bytes(d->in, c->dim) : 0;
    d->matrix = malloc(d->matrix_bytes);
    d->idv = malloc((size_t)c->n * (d->ids == EMB_I64 ? sizeof(int64_t) : sizeof(int32_t)));
    int32_t *ids = malloc((size_t)c->n * sizeof *ids);
    float *dout = grad ? malloc((size_t)(c->n * c->dim) * sizeof(float)) : NULL;
    d->rows = grad ? malloc(rows_bytes) : NULL;
    if (d->matrix == NULL || d->idv == NULL || ids == NULL || (grad && (dout == NULL || d->rows == NULL))) {
        free(ids);
        free(dout);
        return -1;
    }
    gen_rng r = gen_seed(d->seed);
    if (d->kernel < 0 || table == EMB_F32)
        gen_fill_bits(&r, (float *)(void *)d->matrix, (size_t)(c->vocab * c->dim));
    else
        fill_portable_table(&r, table, d->matrix, c->vocab, c->dim);
    gen_ids(&r, ids, (size_t)c->n, c->vocab, c->ids);
    for (int64_t i = 0; i < c->n; i++) {
        if (d->ids == EMB_I64)
            ((int64_t *)d->idv)[i] = ids[i];
        else
            ((int32_t *)d->idv)[i] = ids[i];
    }
    if (grad && d->in == EMB_F32) {
        fill_portable_dout(&r, dout, (size_t)(c->n * c->dim));
        memcpy(d->rows, dout, rows_bytes);
    } else if (grad) {
        fill_portable_dout16(&r, d->in, d->rows, c->n, c->dim);
    }
    free(ids);
    free(dout);
    return 0;
}

static void free_inputs(dcase *d)
{
    free(d->matrix);
    free(d->idv);
    free(d->rows);
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

/* The output as little-endian elements of its width. */
static void hash_output(XXH3_state_t *st, const void *p, size_t bytes, emb_type type)
{
    vf_format f;
    if (!vf_format_of(type, &f) || f.elem_bits != 16) {
        hash_words(st, p, bytes / sizeof(uint32_t));
        return;
    }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    const uint16_t *h = p;
    for (size_t k = 0; k < bytes / 2; k++) {
        const uint16_t le = __builtin_bswap16(h[k]);
        XXH3_128bits_update(st, &le, sizeof le);
    }
#else
    XXH3_128bits_update(st, p, bytes);
#endif
}

/* The fp32 entry points' cases hash as they always did; a kernel's also
 * name its types and id type. */
static void hash_header(XXH3_state_t *st, const dcase *d)
{
    const canon *c = &d->c;
    const uint32_t h[8] = {(uint32_t)c->op, (uint32_t)c->vocab, (uint32_t)c->dim,
                           (uint32_t)c->n, (uint32_t)c->ids, (uint32_t)d->in,
                           (uint32_t)d->out, (uint32_t)d->ids};
    hash_words(st, h, d->kernel < 0 ? 5 : 8);
}

static void hex(XXH128_hash_t h, char out[33])
{
    XXH128_canonical_t canon_bytes;
    XXH128_canonicalFromHash(&canon_bytes, h);
    for (int b = 0; b < 16; b++)
        snprintf(out + 2 * b, 3, "%02x", canon_bytes.digest[b]);
}

static void describe(const dcase *d, char *buf, size_t size)
{
    const canon *c = &d->c;
    if (d->kernel < 0)
        snprintf(buf, size, "%s vocab %lld dim %lld n %lld ids %s",
                 c->op == 'L' ? "lookup" : "grad", (long long)c->vocab, (long long)c->dim,
                 (long long)c->n, gen_ids_kind_name(c->ids));
    else
        snprintf(buf, size, "%s vocab %lld dim %lld n %lld ids %s %s",
                 emb_kernel_at(d->kernel)->name, (long long)c->vocab, (long long)c->dim,
                 (long long)c->n, gen_ids_kind_name(c->ids), emb_index_name(d->ids));
}

/* The fp32 entry points' cases, then every kernel's. */
static dcase *make_cases(int *count)
{
    int n = N_CANON;
    for (int k = 0; k < emb_kernel_count(); k++)
        if (vf_kernel_is_base(emb_kernel_at(k)))
            n += emb_kernel_at(k)->op == EMB_OP_LOOKUP ? N_TYPED_LOOKUP : N_TYPED_GRAD;
    dcase *d = calloc((size_t)n, sizeof *d);
    if (d == NULL)
        return NULL;
    int m = 0;
    for (int i = 0; i < N_CANON; i++, m++) {
        d[m].c = canonical[i];
        d[m].kernel = -1;
        d[m].in = d[m].out = EMB_F32;
        d[m].ids = EMB_I32;
        d[m].seed = CANON_SEED + (uint64_t)i;
    }
    for (int k = 0; k < emb_kernel_count(); k++) {
        const emb_kernel *kn = emb_kernel_at(k);
        if (!vf_kernel_is_base(kn))
            continue;
        const int lookup = kn->op == EMB_OP_LOOKUP;
        const int count_k = lookup ? N_TYPED_LOOKUP : N_TYPED_GRAD;
        for (int i = 0; i < count_k; i++) {
            dcase *c = &d[m];
            c->c = lookup ? typed_lookup[i] : typed_grad[i];
            c->kernel = k;
            c->in = kn->in;
            c->out = kn->out;
            c->ids = (emb_index)(i % 2);
            c->c.dim = valid_dim(kn->in, kn->out, c->c.dim);
            /* From the kernel's types, not its index: a kernel added to
             * the list leaves every other kernel's inputs as they were. */
            c->seed = CANON_SEED ^ ((uint64_t)kn->op << 56 | (uint64_t)kn->in << 48 |
                                    (uint64_t)kn->out << 40) ^ (uint64_t)(i + 1) << 8;
            if (c->c.dim == 0 || !vf_format_known(kn->in) || !vf_format_known(kn->out))
                continue; /* no inputs for types the model does not know */
            m++;
        }
    }
    *count = m;
    return d;
}

/* Runs every case on the selected run; one digest per case, per kernel
 * (the fp32 entry points count as one, index count) and over all of them.
 * Returns -1 on a failed call or allocation. */
static int digest_run(dcase *d, int count, int kernels, XXH128_hash_t *per_case,
                      XXH128_hash_t *per_kernel, XXH128_hash_t *all, char *err, size_t err_size)
{
    XXH3_state_t *whole = XXH3_createState(), *one = XXH3_createState();
    XXH3_state_t **kst = calloc((size_t)kernels + 1, sizeof *kst);
    int rc = whole && one && kst ? 0 : -1;
    for (int k = 0; rc == 0 && k <= kernels; k++)
        if ((kst[k] = XXH3_createState()) == NULL)
            rc = -1;
        else
            XXH3_128bits_reset(kst[k]);
    if (rc == 0)
        XXH3_128bits_reset(whole);
    for (int i = 0; i < count && rc == 0; i++) {
        const dcase *c = &d[i];
        uint8_t *buf = malloc(c->out_bytes ? c->out_bytes : 1);
        if (buf == NULL) {
            rc = -1;
            break;
        }
        emb_status st;
        const canon *cc = &c->c;
        if (c->kernel < 0 && cc->op == 'L') {
            st = emb_lookup_f32((const float *)(const void *)c->matrix, cc->vocab, cc->dim,
                                c->idv, cc->n, (float *)(void *)buf);
        } else if (c->kernel < 0) {
            memcpy(buf, c->matrix, c->out_bytes);
            st = emb_grad_f32((float *)(void *)buf, cc->vocab, cc->dim, c->idv, cc->n,
                              (const float *)(const void *)c->rows);
        } else if (cc->op == 'L') {
            st = emb_lookup(c->matrix, c->in, cc->vocab, cc->dim, c->idv, c->ids, cc->n, buf,
                            c->out);
        } else {
            memcpy(buf, c->matrix, c->out_bytes);
            st = emb_grad((float *)(void *)buf, cc->vocab, cc->dim, c->idv, c->ids, cc->n,
                          c->rows, c->in);
        }
        if (st != EMB_OK) {
            char what[128];
            describe(c, what, sizeof what);
            snprintf(err, err_size, "%s returned %s: %s", what, emb_strerror(st), emb_last_error());
            rc = -1;
        } else {
            const emb_type out = cc->op == 'L' ? c->out : EMB_F32;
            XXH3_128bits_reset(one);
            XXH3_state_t *states[2] = {one, whole};
            for (int s = 0; s < 2; s++) {
                hash_header(states[s], c);
                hash_output(states[s], buf, c->out_bytes, out);
            }
            per_case[i] = XXH3_128bits_digest(one);
            /* A kernel's digest is over its cases' digests. */
            XXH128_canonical_t cd;
            XXH128_canonicalFromHash(&cd, per_case[i]);
            XXH3_128bits_update(kst[c->kernel < 0 ? kernels : c->kernel], &cd, sizeof cd);
        }
        free(buf);
    }
    if (rc == 0) {
        *all = XXH3_128bits_digest(whole);
        for (int k = 0; k <= kernels; k++)
            per_kernel[k] = XXH3_128bits_digest(kst[k]);
    }
    for (int k = 0; kst && k <= kernels; k++)
        XXH3_freeState(kst[k]);
    free(kst);
    XXH3_freeState(whole);
    XXH3_freeState(one);
    return rc;
}

void vf_section_digests(vf_report *r, const vf_config *cfg)
{
    vf_report_section(r, "E", "XXH3-128 digests of the canonical cases, per kernel, implementation and thread count");
    int count = 0;
    const int kernels = emb_kernel_count();
    dcase *d = make_cases(&count);
    vf_report_text(r, "%d canonical cases from integer-only generators, the same input bits on "
                      "every machine: %d through emb_lookup_f32/emb_grad_f32,",
                   count, N_CANON);
    vf_report_text(r, "then %d lookup and %d grad shapes for each of the %d kernels of "
                      "emb_kernel_at (dim raised to what the types allow, int32 and int64 ids",
                   N_TYPED_LOOKUP, N_TYPED_GRAD, kernels);
    vf_report_text(r, "in turn). No output bit depends on a CPU's NaN rules: grad's dout holds no "
                      "NaN or Inf, and quantized scales and biases are finite");
    vf_report_text(r, "(0 x Inf gives the CPU's default NaN: 0xFFC00000 on x86, 0x7FC00000 on "
                      "AArch64).");
    const size_t slots = (size_t)kernels + 1;
    XXH128_hash_t *per_case = calloc((size_t)cfg->n_runs * (size_t)(count ? count : 1), sizeof *per_case);
    XXH128_hash_t *per_kernel = calloc((size_t)cfg->n_runs * slots, sizeof *per_kernel);
    XXH128_hash_t *all = calloc((size_t)cfg->n_runs, sizeof *all);
    int *ran = calloc((size_t)cfg->n_runs, sizeof *ran);
    int ok = d != NULL && per_case != NULL && per_kernel != NULL && all != NULL && ran != NULL;
    for (int i = 0; i < count && ok; i++)
        ok = make_inputs(&d[i]) == 0;
    if (!ok) {
        vf_report_line(r, VF_FAIL, "memory", "out of memory for the canonical cases");
    } else {
        int agree = 1, failed = 0, first_run = -1;
        char first[33] = "";
        for (int k = 0; k < cfg->n_runs; k++) {
            char label[64], err[256] = "", h[33];
            vf_run_label(&cfg->runs[k], label, sizeof label);
            vf_progress("E: digests", (uint64_t)k, (uint64_t)cfg->n_runs);
            if (vf_run_select(&cfg->runs[k]) != 0 ||
                digest_run(d, count, kernels, per_case + (size_t)k * (size_t)count,
                           per_kernel + (size_t)k * slots, &all[k], err, sizeof err) != 0) {
                vf_report_line(r, VF_FAIL, label, "no digest: %s", err[0] ? err : "cannot run");
                failed = 1;
                continue;
            }
            ran[k] = 1;
            hex(all[k], h);
            const int same = first_run < 0 || XXH128_isEqual(all[k], all[first_run]);
            if (first_run < 0) {
                first_run = k;
                memcpy(first, h, sizeof first);
            }
            agree &= same;
            vf_report_line(r, same ? VF_PASS : VF_FAIL, label, "%s", h);
            vf_report_str(r, "impl", emb_impl_name(cfg->runs[k].impl));
            vf_report_num(r, "threads", (uint64_t)cfg->runs[k].threads);
            vf_report_str(r, "digest", h);
            for (size_t s = 0; s < slots; s++) {
                if (s < (size_t)kernels && !vf_kernel_is_base(emb_kernel_at((int)s)))
                    continue;
                hex(per_kernel[(size_t)k * slots + s], h);
                vf_report_str(r, s < (size_t)kernels ? emb_kernel_at((int)s)->name : "f32 entry points", h);
            }
            if (!same)
                for (int i = 0; i < count; i++)
                    if (!XXH128_isEqual(per_case[(size_t)k * (size_t)count + (size_t)i],
                                        per_case[(size_t)first_run * (size_t)count + (size_t)i])) {
                        char what[128];
                        describe(&d[i], what, sizeof what);
                        vf_report_line(r, VF_FAIL, "", "differs from %s x%d on %s",
                                       emb_impl_name(cfg->runs[first_run].impl),
                                       cfg->runs[first_run].threads, what);
                    }
        }
        vf_progress_done();
        /* Per kernel: one digest that every run gave, or which runs differ. */
        for (size_t s = 0; first_run >= 0 && s < slots; s++) {
            /* The layer's ops have no canonical cases here (section F and
             * test_layer check them against the reference on every ISA). */
            if (s < (size_t)kernels && !vf_kernel_is_base(emb_kernel_at((int)s)))
                continue;
            const char *name = s < (size_t)kernels ? emb_kernel_at((int)s)->name : "f32 entry points";
            int cases = 0, differ = 0;
            for (int i = 0; i < count; i++)
                cases += (d[i].kernel < 0 ? (size_t)kernels : (size_t)d[i].kernel) == s;
            char h[33], runs[256] = "";
            size_t len = 0;
            for (int k = 0; k < cfg->n_runs; k++)
                if (ran[k] && !XXH128_isEqual(per_kernel[(size_t)k * slots + s],
                                              per_kernel[(size_t)first_run * slots + s])) {
                    char label[64];
                    vf_run_label(&cfg->runs[k], label, sizeof label);
                    len += (size_t)snprintf(runs + len, len < sizeof runs ? sizeof runs - len : 0,
                                            "%s%s", len ? ", " : "", label);
                    differ++;
                }
            hex(per_kernel[(size_t)first_run * slots + s], h);
            vf_report_line(r, differ ? VF_FAIL : VF_PASS, name, "%s over %d cases: %s%s", h, cases,
                           differ ? "differs on " : "every run", runs);
            vf_report_str(r, "digest", h);
            vf_report_num(r, "cases", (uint64_t)cases);
        }
        if (!failed && agree) {
            vf_report_line(r, VF_PASS, "agree", "all %d runs give canonical digest %s",
                           cfg->n_runs, first);
            vf_report_str(r, "canonical_digest", first);
            /* Per case, for finding what differs between two machines. */
            for (int i = 0; i < count; i++) {
                char key[24], what[128], h[33], val[192];
                snprintf(key, sizeof key, "case_%02d", i);
                describe(&d[i], what, sizeof what);
                hex(per_case[i], h);
                snprintf(val, sizeof val, "%s: %s", what, h);
                vf_report_str(r, key, val);
            }
            vf_report_text(r, "Compare with another machine's report: verify/compare_digests.sh "
                              "A.json B.json");
            vf_init_digests(r, cfg);
        } else {
            vf_report_line(r, VF_FAIL, "agree", "the runs do not agree");
        }
    }
    for (int i = 0; d != NULL && i < count; i++)
        free_inputs(&d[i]);
    free(d);
    free(per_case);
    free(per_kernel);
    free(all);
    free(ran);
    vf_report_end_section(r);
}
