/* format_lemmas.c - section A, continued: the formats' conversions to fp32
 * against their definitions (formats.h), exhaustively where they are small
 * (all 2^16 f16 and bf16 patterns, every int8 x fp16 product, the
 * k-quants' every fp16 x 6-bit x 4-bit and fp16 x int8 x 6-bit ones) and on a
 * stratified sample where they are not (q8_rowwise's fmaf), through every
 * kernel of the library's list and every implementation. */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "verify.h"

/* The implementations of the runs, once each (one thread: the conversions
 * are element by element; section C covers the thread counts). */
typedef struct impl_list {
    int impl[32];
    int count;
    char names[160];
} impl_list;

static void impls_of(const vf_config *cfg, impl_list *l)
{
    memset(l, 0, sizeof *l);
    size_t len = 0;
    for (int i = 0; i < cfg->n_runs && l->count < 32; i++) {
        int seen = 0;
        for (int j = 0; j < l->count; j++)
            seen |= l->impl[j] == cfg->runs[i].impl;
        if (seen)
            continue;
        l->impl[l->count++] = cfg->runs[i].impl;
        len += (size_t)snprintf(l->names + len, len < sizeof l->names ? sizeof l->names - len : 0,
                                "%s%s", len ? ", " : "", emb_impl_name(cfg->runs[i].impl));
    }
}

/* What one kernel's check saw over every implementation. */
typedef struct lemma_tally {
    uint64_t elems, wrong;
    char first[256];
} lemma_tally;

static void lemma_fail(lemma_tally *t, const char *fmt, ...) VF_PRINTF(2, 3);
static void lemma_fail(lemma_tally *t, const char *fmt, ...)
{
    if (t->wrong++ != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->first, sizeof t->first, fmt, ap);
    va_end(ap);
}

static int select_impl(int impl)
{
    const vf_run run = {impl, 1};
    return vf_run_select(&run);
}

/* Runs kernel k on every implementation over a table of vocab rows (raw,
 * of the kernel's in type for lookup, its out type's zeros for grad) and
 * compares every element of the result with want (fp32 bits, or for a
 * copy kernel the rows' bytes). The ids visit every row once, in reverse,
 * as int32 or int64. */
static void run_all(const impl_list *il, const emb_kernel *kn, const uint8_t *raw, int64_t vocab,
                    int64_t dim, emb_index id_type, const uint8_t *want, size_t want_bytes,
                    lemma_tally *t)
{
    const int grad = kn->op == EMB_OP_GRAD;
    const size_t out_bytes = grad ? (size_t)(vocab * dim) * sizeof(float)
                                  : (size_t)vocab * vf_format_row_bytes(kn->out, dim);
    uint8_t *out = malloc(out_bytes);
    int32_t *ids32 = malloc((size_t)vocab * sizeof *ids32);
    int64_t *ids64 = malloc((size_t)vocab * sizeof *ids64);
    if (out == NULL || ids32 == NULL || ids64 == NULL || out_bytes != want_bytes) {
        lemma_fail(t, "%s: out of memory", kn->name);
        free(out);
        free(ids32);
        free(ids64);
        return;
    }
    for (int64_t i = 0; i < vocab; i++)
        ids32[i] = (int32_t)(vocab - 1 - i), ids64[i] = vocab - 1 - i;
    const void *ids = id_type == EMB_I64 ? (const void *)ids64 : (const void *)ids32;
    for (int m = 0; m < il->count; m++) {
        if (select_impl(il->impl[m]) != 0) {
            lemma_fail(t, "cannot select %s", emb_impl_name(il->impl[m]));
            continue;
        }
        emb_status st;
        if (grad) {
            /* dtable all -0: -0 + widen(g) is widen(g) for every non-NaN
             * g (L4), and a NaN quieted (L5). Row vocab-1-i takes token i. */
            const float nz = -0.0f;
            for (size_t w = 0; w < out_bytes / sizeof(float); w++)
                memcpy(out + w * sizeof(float), &nz, sizeof nz);
            st = emb_grad((float *)(void *)out, vocab, dim, ids, id_type, vocab, raw, kn->in);
        } else {
            memset(out, 0xA5, out_bytes);
            st = emb_lookup(raw, kn->in, vocab, dim, ids, id_type, vocab, out, kn->out);
        }
        if (st != EMB_OK) {
            lemma_fail(t, "%s on %s, dim %lld: %s", kn->name, emb_impl_name(il->impl[m]),
                       (long long)dim, emb_last_error());
            continue;
        }
        t->elems += (uint64_t)(vocab * dim);
        if (memcmp(out, want, out_bytes) == 0)
            continue;
        const size_t width = !grad && kn->out != EMB_F32 ? 2 : 4;
        for (size_t b = 0; b < out_bytes; b += width)
            if (memcmp(out + b, want + b, width) != 0) {
                const uint32_t got = width == 4 ? vf_le32(out + b) : vf_le16(out + b);
                const uint32_t exp = width == 4 ? vf_le32(want + b) : vf_le16(want + b);
                lemma_fail(t, "%s on %s, dim %lld: element %zu is 0x%0*x, the definition 0x%0*x",
                           kn->name, emb_impl_name(il->impl[m]), (long long)dim, b / width,
                           (int)width * 2, got, (int)width * 2, exp);
                t->wrong--; /* counted per element below */
                break;
            }
        for (size_t b = 0; b < out_bytes; b += width)
            t->wrong += memcmp(out + b, want + b, width) != 0;
    }
    free(out);
    free(ids32);
    free(ids64);
}

/* Row vocab-1-i of the answer is element row i's: the ids run in reverse. */
static void reverse_rows(uint8_t *dst, const uint8_t *src, int64_t vocab, size_t row_bytes)
{
    for (int64_t i = 0; i < vocab; i++)
        memcpy(dst + (size_t)(vocab - 1 - i) * row_bytes, src + (size_t)i * row_bytes, row_bytes);
}

static void put32(uint8_t *p, uint32_t u) { memcpy(p, &u, sizeof u); }

/* ------------------------------------------------------------------ */
/* 16-bit element types: all 2^16 patterns                              */
/* ------------------------------------------------------------------ */

/* Dims: tail only, one vector, vectors and a tail, the piece loop. */
static const int64_t widen_dims[] = {1, 8, 67, 1024};

static void element16_kernel(vf_report *r, const impl_list *il, const emb_kernel *kn,
                             uint32_t dn)
{
    lemma_tally t;
    memset(&t, 0, sizeof t);
    uint64_t snan = 0, qnan = 0, snan_kept = 0;
    for (size_t d = 0; d < sizeof widen_dims / sizeof widen_dims[0]; d++) {
        const int64_t dim = widen_dims[d], vocab = (65536 + dim - 1) / dim;
        const size_t count = (size_t)(vocab * dim);
        /* Pattern k at element k; past 65535 the patterns start again. */
        uint8_t *raw = malloc(count * 2), *want = malloc(count * 4), *tmp = malloc(count * 4);
        if (raw == NULL || want == NULL || tmp == NULL) {
            lemma_fail(&t, "out of memory");
            free(raw), free(want), free(tmp);
            break;
        }
        for (size_t k = 0; k < count; k++) {
            raw[2 * k] = (uint8_t)k;
            raw[2 * k + 1] = (uint8_t)(k >> 8);
        }
        size_t want_bytes;
        if (kn->op == EMB_OP_GRAD || kn->out == EMB_F32) {
            for (size_t k = 0; k < count; k++) {
                uint32_t u = vf_model_elem(kn->in, raw, (int64_t)count, (int64_t)k, dn);
                if (kn->op == EMB_OP_GRAD)
                    u = vf_add(vf_val_of(VF_NEG_ZERO), vf_val_of(u)).bits;
                put32(tmp + 4 * k, u);
                if (d == 0 && k < 65536) {
                    /* A NaN pattern of the 16-bit type: top fraction bit
                     * is the quiet bit. */
                    const uint32_t in = vf_model_elem(kn->in, raw, (int64_t)count, (int64_t)k, dn);
                    if (vf_is_nan(in)) {
                        const int quiet_in = kn->in == EMB_F16 ? (k & 0x200) != 0 : (k & 0x40) != 0;
                        qnan += quiet_in;
                        snan += !quiet_in;
                        snan_kept += !quiet_in && !(u & VF_QUIET);
                    }
                }
            }
            want_bytes = count * 4;
            reverse_rows(want, tmp, vocab, (size_t)dim * 4);
        } else {
            want_bytes = count * 2;
            reverse_rows(want, raw, vocab, (size_t)dim * 2);
            if (d == 0)
                for (size_t k = 0; k < 65536; k++) {
                    const uint32_t in = vf_model_elem(kn->in, raw, 65536, (int64_t)k, dn);
                    const int quiet_in = kn->in == EMB_F16 ? (k & 0x200) != 0 : (k & 0x40) != 0;
                    if (vf_is_nan(in)) {
                        qnan += quiet_in;
                        snan += !quiet_in;
                        snan_kept += !quiet_in;
                    }
                }
        }
        run_all(il, kn, raw, vocab, dim, (emb_index)(d % 2), want, want_bytes, &t);
        free(raw);
        free(want);
        free(tmp);
    }
    const char *what = kn->op == EMB_OP_GRAD ? "-0 + widen(g), the widening quieted by the add"
                       : kn->out == EMB_F32  ? "the definition"
                                             : "the pattern itself (a bit copy)";
    vf_report_line(r, t.wrong ? VF_FAIL : VF_PASS, kn->name,
                   "all 65536 %s patterns at dims 1, 8, 67, 1024 (int32 and int64 ids), on %s: "
                   "%llu elements = %s; %llu wrong%s%s",
                   emb_type_name(kn->in), il->names, (unsigned long long)t.elems, what,
                   (unsigned long long)t.wrong, t.wrong ? "; first: " : "", t.first);
    vf_report_num(r, "elements", t.elems);
    vf_report_num(r, "wrong", t.wrong);
    vf_report_line(r, VF_INFO, "", "NaN: %llu quiet patterns keep their payload; %llu signalling "
                                   "ones come out %s",
                   (unsigned long long)qnan, (unsigned long long)snan,
                   snan_kept == snan ? "still signalling, bits unchanged"
                   : snan_kept == 0  ? "quieted (quiet bit set), payload kept"
                                     : "partly quieted");
    vf_report_num(r, "qnan", qnan);
    vf_report_num(r, "snan", snan);
    vf_report_num(r, "snan_still_signalling", snan_kept);
}

/* The f16 definition (value-based, formats.h) against the compiler's own
 * conversion, where C has a binary16 type. */
static void f16_against_c(vf_report *r)
{
#if defined(__FLT16_MANT_DIG__) && !defined(__clang__)
    uint64_t same = 0, finite = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        const uint32_t def = vf_f16_to_f32((uint16_t)h);
        if (vf_is_nan(def))
            continue;
        _Float16 x;
        const uint16_t bits = (uint16_t)h;
        memcpy(&x, &bits, sizeof x);
        volatile float f = (float)x;
        finite++;
        same += vf_bits(f) == def;
    }
    vf_report_line(r, same == finite ? VF_PASS : VF_FAIL, "f16 def",
                   "the f16 definition (value m x 2^e by ldexpf) = C's (float)_Float16 on %llu "
                   "of the %llu non-NaN patterns", (unsigned long long)same,
                   (unsigned long long)finite);
#else
    vf_report_line(r, VF_SKIP, "f16 def", "this compiler has no _Float16 to compare the f16 "
                                          "definition with");
#endif
}

/* ------------------------------------------------------------------ */
/* q8_0 and q4_0: every quant times every fp16 scale                    */
/* ------------------------------------------------------------------ */

/* In fp32, q * d has no rounding for every int8 q and every finite fp16 d:
 * the product of the float multiplier equals the double one. */
static int scale_in(const vf_config *cfg, uint32_t h);

static void q_times_d_exact(vf_report *r, const vf_config *cfg, uint32_t dn)
{
    uint64_t finite = 0, exact = 0, inf = 0, inf_ok = 0, nan = 0, nan_ok = 0;
    volatile float qv, dv;
    for (uint32_t h = 0; h < 65536; h++) {
        if (!scale_in(cfg, h))
            continue;
        const uint32_t d = vf_f16_to_f32((uint16_t)h);
        for (int q = -128; q < 128; q++) {
            qv = (float)q;
            dv = vf_float_of(d);
            const float p = qv * dv;
            if (vf_is_finite(d)) {
                finite++;
                exact += (double)q * (double)vf_float_of(d) == (double)p;
            } else if (vf_is_inf(d)) {
                inf++;
                inf_ok += vf_bits(p) == (q == 0 ? dn : d ^ (q < 0 ? VF_SIGN : 0u));
            } else {
                nan++;
                nan_ok += vf_bits(p) == vf_quiet(d);
            }
        }
    }
    vf_report_line(r, exact == finite && inf_ok == inf && nan_ok == nan ? VF_PASS : VF_FAIL,
                   "q x d",
                   "every int8 q x %s fp16 d (q4_0's [-8, 7] among them) in fp32: %llu of "
                   "%llu finite products exact ((double)q x d == the fp32 product); %llu of %llu "
                   "with d = +-Inf are +-Inf, or for q = 0 the default NaN; %llu of %llu with a "
                   "NaN d are d quieted",
                   cfg->emulated ? "a subset of the" : "every", (unsigned long long)exact, (unsigned long long)finite,
                   (unsigned long long)inf_ok, (unsigned long long)inf,
                   (unsigned long long)nan_ok, (unsigned long long)nan);
    vf_report_num(r, "finite", finite);
    vf_report_num(r, "exact", exact);
    vf_report_num(r, "inf", inf);
    vf_report_num(r, "nan", nan);
}

/* Scale patterns a run covers: all 2^16, or under an emulator every 16th
 * plus every zero, subnormal, Inf and NaN one. */
static int scale_in(const vf_config *cfg, uint32_t h)
{
    const uint32_t e = h >> 10 & 31;
    return !cfg->emulated || h % 16 == 0 || e == 0 || e == 31;
}

enum { SCALE_CHUNK = 4096 };

static void block_kernel(vf_report *r, const vf_config *cfg, const impl_list *il,
                         const emb_kernel *kn, uint32_t dn)
{
    /* q8_0: rows of dim 256, every block holding q = -128..127 in turn;
     * q4_0: rows of dim 64 whose two blocks hold every nibble at both
     * positions. One fp16 scale per row. */
    const int q8 = kn->in == EMB_Q8_0;
    const int64_t dim = q8 ? 256 : 64;
    const size_t row_bytes = vf_format_row_bytes(kn->in, dim);
    lemma_tally t;
    memset(&t, 0, sizeof t);
    uint8_t *raw = malloc(SCALE_CHUNK * row_bytes);
    uint8_t *want = malloc(SCALE_CHUNK * (size_t)dim * 4), *tmp = malloc(SCALE_CHUNK * (size_t)dim * 4);
    uint64_t scales = 0;
    if (raw == NULL || want == NULL || tmp == NULL)
        lemma_fail(&t, "out of memory");
    for (uint32_t h0 = 0; h0 < 65536 && raw && want && tmp; h0 += SCALE_CHUNK) {
        int64_t rows = 0;
        for (uint32_t h = h0; h < h0 + SCALE_CHUNK; h++) {
            if (!scale_in(cfg, h))
                continue;
            uint8_t *row = raw + (size_t)rows * row_bytes;
            for (int64_t b = 0; b < dim / 32; b++) {
                uint8_t *blk = row + (size_t)b * (q8 ? 34 : 18);
                blk[0] = (uint8_t)h;
                blk[1] = (uint8_t)(h >> 8);
                for (int j = 0; j < (q8 ? 32 : 16); j++)
                    blk[2 + j] = q8 ? (uint8_t)(b * 32 + j) /* int8 -128..127 over the row */
                                    : (uint8_t)(b == 0 ? (j | (15 - j) << 4) : ((15 - j) | j << 4));
            }
            rows++;
        }
        scales += (uint64_t)rows;
        for (int64_t i = 0; i < rows; i++)
            vf_model_row(kn->in, raw + (size_t)i * row_bytes, dim, dn,
                         (float *)(void *)(tmp + (size_t)(i * dim) * 4));
        reverse_rows(want, tmp, rows, (size_t)dim * 4);
        run_all(il, kn, raw, rows, dim, (emb_index)(h0 / SCALE_CHUNK % 2), want,
                (size_t)(rows * dim) * 4, &t);
    }
    free(raw);
    free(want);
    free(tmp);
    vf_report_line(r, t.wrong ? VF_FAIL : VF_PASS, kn->name,
                   "%llu fp16 scales%s x every quant (%s) at dim %lld, on %s: %llu elements = "
                   "q x d; %llu wrong%s%s",
                   (unsigned long long)scales, cfg->emulated ? " (emulated: a subset)" : " (all)",
                   q8 ? "-128..127" : "-8..7, low and high nibble", (long long)dim, il->names,
                   (unsigned long long)t.elems, (unsigned long long)t.wrong,
                   t.wrong ? "; first: " : "", t.first);
    vf_report_num(r, "scales", scales);
    vf_report_num(r, "elements", t.elems);
    vf_report_num(r, "wrong", t.wrong);
}

/* ------------------------------------------------------------------ */
/* q4_K and q6_K: the k-quants' products, every case                    */
/* ------------------------------------------------------------------ */

/* fp32 product of a and an integer n as this CPU's multiplier gives it,
 * read back through memory so nothing is folded or kept wider. */
static float mul_rt(float a, int n)
{
    volatile float x = a, y = (float)n;
    const float p = x * y;
    return p;
}

/* What IEEE 754 makes of a * n for a non-finite a: a NaN a quieted, an Inf
 * a a signed Inf, or for n = 0 the default NaN dn. */
static uint32_t nonfinite_times(uint32_t a, int n, uint32_t dn)
{
    if (vf_is_nan(a))
        return vf_quiet(a);
    return n == 0 ? dn : a ^ (n < 0 ? VF_SIGN : 0u);
}

/* q4_K: x = (d x sc) x q - dmin x m, d and dmin fp16, sc and m 6-bit, q
 * 4-bit. For every fp16 d, every sc in [0, 63] and every q in [0, 15]:
 * d x sc and (d x sc) x q are exact in fp32 ((double) products, which are
 * exact, equal the fp32 ones) and, when finite, integer multiples of 2^-24
 * below 2^26 in magnitude; dmin x m is the same set of products as d x sc.
 * So the subtraction's operands are exact, and their difference, a
 * multiple of 2^-24 below 2^27, is exact in double (51 bits): the fp32
 * subtraction is the formula's one rounding, and the model's difference in
 * double narrowed once (formats.h) is that rounding. For Inf and NaN d the
 * products are IEEE's (the default NaN for 0 x Inf). */
static void q4_K_products_exact(vf_report *r, const vf_config *cfg, uint32_t dn)
{
    uint64_t finite = 0, exact = 0, bounded = 0, special = 0, special_ok = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        if (!scale_in(cfg, h))
            continue;
        const uint32_t d = vf_f16_to_f32((uint16_t)h);
        const float df = vf_float_of(d);
        for (int sc = 0; sc < 64; sc++) {
            const float dsc = mul_rt(df, sc);
            if (!vf_is_finite(d)) {
                const uint32_t want = nonfinite_times(d, sc, dn);
                special++;
                special_ok += vf_bits(dsc) == want;
                for (int q = 0; q < 16; q++) {
                    special++;
                    special_ok += vf_bits(mul_rt(dsc, q)) == nonfinite_times(want, q, dn);
                }
                continue;
            }
            const double dsc_exact = (double)df * sc;
            finite++;
            exact += (double)dsc == dsc_exact;
            for (int q = 0; q < 16; q++) {
                const float x = mul_rt(dsc, q);
                const double x_exact = dsc_exact * q; /* at most 11 + 6 + 4 bits: exact */
                const double units = x_exact * 0x1p24;
                finite++;
                exact += (double)x == x_exact;
                /* the lemma's range: |x| below 2^26, a whole number of 2^-24 units */
                bounded += x_exact > -0x1p26 && x_exact < 0x1p26 && units == floor(units);
            }
        }
    }
    const uint64_t products = finite / 17 * 16; /* the (d x sc) x q ones */
    vf_report_line(r, exact == finite && bounded == products && special_ok == special ? VF_PASS
                                                                                        : VF_FAIL,
                   "q4_K x",
                   "%s fp16 d x every 6-bit sc x every 4-bit q: %llu of %llu finite products "
                   "(d x sc, then x q) exact in fp32; %llu of %llu (d x sc) x q multiples of "
                   "2^-24 below 2^26; dmin x m is the same set as d x sc; so q4_K's x has one "
                   "rounding, its subtraction; %llu of %llu products of an Inf or NaN d as "
                   "IEEE 754 gives them",
                   cfg->emulated ? "a subset of the" : "every", (unsigned long long)exact,
                   (unsigned long long)finite, (unsigned long long)bounded,
                   (unsigned long long)products, (unsigned long long)special_ok,
                   (unsigned long long)special);
    vf_report_num(r, "finite", finite);
    vf_report_num(r, "exact", exact);
    vf_report_num(r, "bounded", bounded);
    vf_report_num(r, "special", special);
}

/* q6_K: x = (d x s) x q, d fp16, s int8, q in [-32, 31]. For every fp16
 * d, every s and every q: d x s and (d x s) x q are exact in fp32 (at most
 * 11 + 7 + 5 significant bits); for Inf and NaN d, IEEE's products. */
static void q6_K_products_exact(vf_report *r, const vf_config *cfg, uint32_t dn)
{
    uint64_t finite = 0, exact = 0, special = 0, special_ok = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        if (!scale_in(cfg, h))
            continue;
        const uint32_t d = vf_f16_to_f32((uint16_t)h);
        const float df = vf_float_of(d);
        const int fin = vf_is_finite(d);
        for (int s = -128; s < 128; s++) {
            const float ds = mul_rt(df, s);
            const double ds_exact = (double)df * s;
            if (!fin) {
                const uint32_t want = nonfinite_times(d, s, dn);
                special++;
                special_ok += vf_bits(ds) == want;
                for (int q = -32; q < 32; q++) {
                    special++;
                    special_ok += vf_bits(mul_rt(ds, q)) == nonfinite_times(want, q, dn);
                }
                continue;
            }
            finite++;
            exact += (double)ds == ds_exact;
            /* The 64 quants in one pass the compiler may vectorise: plain
             * fp32 multiplies, each compared with the exact double one. */
            uint64_t ok = 0;
            for (int q = -32; q < 32; q++)
                ok += (double)(ds * (float)q) == ds_exact * q;
            finite += 64;
            exact += ok;
        }
    }
    vf_report_line(r, exact == finite && special_ok == special ? VF_PASS : VF_FAIL, "q6_K x",
                   "%s fp16 d x every int8 s x every q in [-32, 31]: %llu of %llu finite "
                   "products (d x s, then x q) exact in fp32, so q6_K's x has no rounding; "
                   "%llu of %llu products of an Inf or NaN d as IEEE 754 gives them",
                   cfg->emulated ? "a subset of the" : "every", (unsigned long long)exact,
                   (unsigned long long)finite, (unsigned long long)special_ok,
                   (unsigned long long)special);
    vf_report_num(r, "finite", finite);
    vf_report_num(r, "exact", exact);
    vf_report_num(r, "special", special);
}

/* q4_K's 12 bytes of packed 6-bit scales and mins, written from the
 * layout (the inverse of formats.h's reading): bytes 0..3 and 4..7 hold
 * sc and m of sub-blocks 0..3 in their low six bits and the top two bits
 * of sc and m of 4..7 in their top two; bytes 8..11 the low nibbles of sc
 * (low) and m (high) of 4..7. */
static void pack_q4_K_scales(uint8_t *scales, const int sc[8], const int m[8])
{
    for (int k = 0; k < 4; k++) {
        scales[k] = (uint8_t)(sc[k] | (sc[k + 4] >> 4) << 6);
        scales[k + 4] = (uint8_t)(m[k] | (m[k + 4] >> 4) << 6);
        scales[k + 8] = (uint8_t)((sc[k + 4] & 15) | (m[k + 4] & 15) << 4);
    }
}

/* Rows of two super-blocks (dim 512), one per fp16 pattern h: every
 * super-block's d is h (q4_K: and its dmin the pattern h x 40503 + 12345,
 * which meets every pattern once as h does); across four rows (q4_K) or
 * eight (q6_K) the sub-blocks' 6-bit scales and mins or int8 scales take
 * every value, and each sub-block holds its quants in a rotating order,
 * every value of q among them. Checked against the model (formats.h) on
 * every implementation. */
static void k_block_row(emb_type t, uint8_t *row, uint32_t h)
{
    for (int b = 0; b < 2; b++) {
        if (t == EMB_Q4_K) {
            uint8_t *blk = row + b * 144;
            const uint32_t dmin = (h * 40503u + 12345u) & 0xFFFFu;
            blk[0] = (uint8_t)h, blk[1] = (uint8_t)(h >> 8);
            blk[2] = (uint8_t)dmin, blk[3] = (uint8_t)(dmin >> 8);
            int sc[8], m[8];
            for (int k = 0; k < 8; k++) {
                const int sub = 8 * b + k;
                sc[k] = (int)((16 * (h % 4) + (uint32_t)sub) & 63);
                m[k] = (int)(((uint32_t)sc[k] * 29u + h / 4) & 63);
            }
            pack_q4_K_scales(blk + 4, sc, m);
            for (int g = 0; g < 4; g++)
                for (int l = 0; l < 32; l++) {
                    const int lo = (l + 8 * b + 2 * g) & 15, hi = (l + 8 * b + 2 * g + 1) & 15;
                    blk[16 + 32 * g + l] = (uint8_t)(lo | (15 - hi) << 4);
                }
        } else {
            uint8_t *blk = row + b * 210;
            memset(blk, 0, 208);
            for (int i = 0; i < 16; i++)
                blk[192 + i] = (uint8_t)(32 * (h % 8) + (uint32_t)(16 * b + i));
            for (int e = 0; e < 256; e++) {
                const int code = (int)((uint32_t)(256 * b + e) + h / 8) & 63;
                const int n = e / 128, rr = e % 128 / 32, l = e % 32;
                blk[64 * n + 32 * (rr & 1) + l] |= (uint8_t)((code & 15) << (4 * (rr >> 1)));
                blk[128 + 32 * n + l] |= (uint8_t)((code >> 4) << (2 * rr));
            }
            blk[208] = (uint8_t)h, blk[209] = (uint8_t)(h >> 8);
        }
    }
}

static void k_block_kernel(vf_report *r, const vf_config *cfg, const impl_list *il,
                           const emb_kernel *kn, uint32_t dn)
{
    const int64_t dim = 512;
    const size_t row_bytes = vf_format_row_bytes(kn->in, dim);
    lemma_tally t;
    memset(&t, 0, sizeof t);
    uint8_t *raw = malloc(SCALE_CHUNK * row_bytes);
    uint8_t *want = malloc(SCALE_CHUNK * (size_t)dim * 4), *tmp = malloc(SCALE_CHUNK * (size_t)dim * 4);
    uint64_t scales = 0, nan = 0;
    if (raw == NULL || want == NULL || tmp == NULL)
        lemma_fail(&t, "out of memory");
    for (uint32_t h0 = 0; h0 < 65536 && raw && want && tmp; h0 += SCALE_CHUNK) {
        int64_t rows = 0;
        for (uint32_t h = h0; h < h0 + SCALE_CHUNK; h++)
            if (scale_in(cfg, h))
                k_block_row(kn->in, raw + (size_t)rows++ * row_bytes, h);
        scales += (uint64_t)rows;
        for (int64_t i = 0; i < rows; i++) {
            float *x = (float *)(void *)(tmp + (size_t)(i * dim) * 4);
            vf_model_row(kn->in, raw + (size_t)i * row_bytes, dim, dn, x);
            for (int64_t j = 0; j < dim; j++)
                nan += vf_is_nan(vf_bits(x[j]));
        }
        reverse_rows(want, tmp, rows, (size_t)dim * 4);
        run_all(il, kn, raw, rows, dim, (emb_index)(h0 / SCALE_CHUNK % 2), want,
                (size_t)(rows * dim) * 4, &t);
    }
    free(raw);
    free(want);
    free(tmp);
    const int k4 = kn->in == EMB_Q4_K;
    vf_report_line(r, t.wrong ? VF_FAIL : VF_PASS, kn->name,
                   "%llu fp16 d%s%s, %s in rotation and every q, at dim %lld, on %s: %llu "
                   "elements = "
                   "%s; %llu wrong%s%s",
                   (unsigned long long)scales, cfg->emulated ? " (emulated: a subset)" : " (all)",
                   k4 ? ", each fp16 once as dmin" : "",
                   k4 ? "every 6-bit sc and m" : "every int8 s", (long long)dim, il->names,
                   (unsigned long long)t.elems,
                   k4 ? "(d x sc) x q - dmin x m, one rounding" : "(d x s) x q",
                   (unsigned long long)t.wrong, t.wrong ? "; first: " : "", t.first);
    vf_report_line(r, VF_INFO, "", "of the model's elements %llu are NaN (a NaN scale, 0 x Inf%s)",
                   (unsigned long long)nan, k4 ? ", Inf - Inf; a NaN d and a NaN dmin give d's" : "");
    vf_report_num(r, "scales", scales);
    vf_report_num(r, "elements", t.elems);
    vf_report_num(r, "wrong", t.wrong);
}

/* ------------------------------------------------------------------ */
/* q8_rowwise: fmaf(scale, q, bias) on a stratified sample              */
/* ------------------------------------------------------------------ */

/* For every sign and exponent of binary32, five mantissas: zero (+-0 and
 * +-Inf among them), the lowest (the smallest subnormal, sNaN payload 1),
 * the quiet bit alone, all ones, and one at random. */
enum { STRATA = 512 * 5 };

static uint32_t stratum(uint32_t i, gen_rng *g)
{
    const uint32_t se = i / 5;
    static const uint32_t mantissas[4] = {0, 1, 0x400000u, 0x7FFFFFu};
    const uint32_t m = i % 5 < 4 ? mantissas[i % 5] : (uint32_t)gen_u64(g) & 0x7FFFFFu;
    return se << 23 | m;
}

/* The first bias of each scale: one of every class in turn. */
static const uint32_t specials[] = {
    0x00000000u, 0x80000000u, 0x7F800000u, 0xFF800000u, 0x7FC00001u, 0xFFA00002u,
    0x00000001u, 0x807FFFFFu, 0x7F7FFFFFu, 0xFF7FFFFFu, 0x00800000u, 0x3F800000u,
};
enum { N_SPECIALS = sizeof specials / sizeof specials[0] };

static void rowwise_kernel(vf_report *r, const vf_config *cfg, const impl_list *il,
                           const emb_kernel *kn)
{
    const int64_t dim = 256;
    const size_t row_bytes = vf_format_row_bytes(kn->in, dim);
    /* Biases per scale: the first a special one (zeros, Infs, NaNs, the
     * extremes, in turn), then alternately one from the strata and one
     * near -scale x q, where the single
     * rounding of the fused form shows: fmaf(s, q, -(s x q rounded)) is
     * the product's rounding error, an unfused form gives 0. */
    const uint32_t per_scale = cfg->emulated ? 2 : cfg->mode == VF_MODE_QUICK ? 4 : 16;
    const uint32_t scale_step = cfg->emulated ? 5 : 1;
    const size_t rows_max = (size_t)STRATA / scale_step * per_scale + 1;
    uint8_t *raw = malloc(rows_max * row_bytes);
    uint8_t *want = malloc(rows_max * (size_t)dim * 4), *tmp = malloc(rows_max * (size_t)dim * 4);
    lemma_tally t;
    memset(&t, 0, sizeof t);
    uint64_t fused_matters = 0, nan_results = 0, two_nans = 0;
    if (raw == NULL || want == NULL || tmp == NULL) {
        lemma_fail(&t, "out of memory");
        free(raw), free(want), free(tmp);
        vf_report_line(r, VF_FAIL, kn->name, "out of memory");
        return;
    }
    gen_rng g = gen_seed(cfg->seed ^ 0x5CA1Eull);
    int64_t rows = 0;
    for (uint32_t i = 0; i < STRATA; i += scale_step) {
        const uint32_t scale = stratum(i, &g);
        for (uint32_t b = 0; b < per_scale; b++) {
            uint32_t bias;
            const int q0 = 1 + (int)(gen_u64(&g) % 255);
            if (b == 0) {
                bias = specials[(i / scale_step + b) % N_SPECIALS];
            } else if (b % 2 == 0 || !vf_is_finite(scale)) {
                bias = stratum((uint32_t)(gen_u64(&g) % STRATA), &g);
            } else {
                volatile float s = vf_float_of(scale), q = (float)q0;
                const float p = s * q;
                /* -p, or a value a few binades below it, either sign */
                const int shift = b % 4 == 1 ? 0 : 1 + (int)(gen_u64(&g) % 30);
                bias = vf_bits(-ldexpf(p, -shift)) ^ (b % 4 == 3 && (gen_u64(&g) & 1) ? VF_SIGN : 0u);
            }
            uint8_t *row = raw + (size_t)rows * row_bytes;
            for (int j = 0; j < 256; j++)
                row[j] = (uint8_t)j;
            put32(row + dim, scale);
            put32(row + dim + 4, bias);
            for (int j = 0; j < 256; j++) {
                volatile float s = vf_float_of(scale), q = (float)j, bb = vf_float_of(bias);
                const float fused = fmaf(s, q, bb);
                const float prod = s * q, split = prod + bb;
                const uint32_t u = vf_bits(fused);
                put32(tmp + (size_t)(rows * dim + j) * 4, u);
                fused_matters += !vf_is_nan(u) && vf_bits(split) != u;
                nan_results += vf_is_nan(u);
                two_nans += vf_is_nan(scale) && vf_is_nan(bias);
            }
            rows++;
        }
    }
    reverse_rows(want, tmp, rows, (size_t)dim * 4);
    run_all(il, kn, raw, rows, dim, EMB_I64, want, (size_t)(rows * dim) * 4, &t);
    free(raw);
    free(want);
    free(tmp);
    vf_report_line(r, t.wrong ? VF_FAIL : VF_PASS, kn->name,
                   "%llu (scale, bias) pairs (%u sign x exponent x mantissa strata of scale%s, %u "
                   "biases each) x q 0..255, on %s: %llu elements = C's fmaf; %llu wrong%s%s",
                   (unsigned long long)rows, STRATA / scale_step,
                   cfg->emulated ? ", a fifth" : "", per_scale, il->names,
                   (unsigned long long)t.elems, (unsigned long long)t.wrong,
                   t.wrong ? "; first: " : "", t.first);
    vf_report_num(r, "pairs", (uint64_t)rows);
    vf_report_num(r, "elements", t.elems);
    vf_report_num(r, "wrong", t.wrong);
    vf_report_line(r, VF_INFO, "", "of them %llu where one rounding differs from two (s x q, "
                                   "then + bias): an unfused kernel fails there; %llu NaN "
                                   "results, %llu with both scale and bias NaN (bit-equal "
                                   "here; which payload wins is the CPU's rule)",
                   (unsigned long long)fused_matters, (unsigned long long)nan_results,
                   (unsigned long long)two_nans);
    vf_report_num(r, "single_rounding_matters", fused_matters);
    vf_report_num(r, "nan_results", nan_results);
    vf_report_num(r, "both_nan", two_nans);
}

/* ------------------------------------------------------------------ */

void vf_format_lemmas(vf_report *r, const vf_config *cfg)
{
    impl_list il;
    impls_of(cfg, &il);
    const uint32_t dn = vf_default_nan();
    vf_report_text(r, "The formats (formats.h, from their definitions), through every kernel of "
                      "emb_kernel_at on %s:", il.names);
    int q_done = 0, f16_done = 0;
    for (int k = 0; k < emb_kernel_count(); k++) {
        const emb_kernel *kn = emb_kernel_at(k);
        char why[160];
        if (!vf_kernel_is_base(kn))
            continue;
        if (!vf_kernel_modelled(k, why, sizeof why)) {
            vf_report_line(r, VF_FAIL, "model", "%s", why);
            continue;
        }
        switch (kn->in) {
        case EMB_F32:
            break; /* a bit copy and fp32 adds: the sweep above */
        case EMB_F16:
            if (!f16_done++)
                f16_against_c(r);
            element16_kernel(r, &il, kn, dn);
            break;
        case EMB_BF16:
            element16_kernel(r, &il, kn, dn);
            break;
        case EMB_Q8_0:
        case EMB_Q4_0:
            if (!q_done++)
                q_times_d_exact(r, cfg, dn);
            block_kernel(r, cfg, &il, kn, dn);
            break;
        case EMB_Q8_ROWWISE:
            rowwise_kernel(r, cfg, &il, kn);
            break;
        case EMB_Q4_K:
            q4_K_products_exact(r, cfg, dn);
            k_block_kernel(r, cfg, &il, kn, dn);
            break;
        case EMB_Q6_K:
            q6_K_products_exact(r, cfg, dn);
            k_block_kernel(r, cfg, &il, kn, dn);
            break;
        default:
            vf_report_line(r, VF_SKIP, kn->name, "no exhaustive lemma for %s yet: section C "
                                                 "checks it against the model",
                           emb_type_name(kn->in));
            break;
        }
    }
    emb_use_impl(NULL);
}
