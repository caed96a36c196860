/* reference.c - the reference lookup and gradient, element by element from
 * the format definitions, and the canonical sum the norms and the scan are
 * defined by; deliberately shares no code with src/. The elements' values
 * are formats.h's model, the one the verifier uses too. */
#include "reference.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats.h"

static float bits_to_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t float_to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static uint32_t load32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

size_t ref_row_bytes(emb_type t, int64_t dim)
{
    vf_format f;
    if (!vf_format_of(t, &f) || dim <= 0 || dim % f.block != 0)
        return 0;
    /* formats.h's row size, with the overflow care it leaves out */
    const uint64_t blocks = (uint64_t)(dim / f.block);
    if (blocks > ((uint64_t)SIZE_MAX - (uint64_t)f.row_extra) / (uint64_t)f.block_bytes)
        return 0;
    return (size_t)(blocks * (uint64_t)f.block_bytes + (uint64_t)f.row_extra);
}

uint32_t ref_f16_to_f32_bits(uint16_t h) { return vf_f16_to_f32(h); }

uint32_t ref_bf16_to_f32_bits(uint16_t h) { return vf_bf16_to_f32(h); }

/* The invalid operation's result (0 x Inf, Inf - Inf) on this CPU: x86's
 * negative quiet NaN, AArch64's positive one. volatile: computed at run
 * time, never folded by the compiler. */
static uint32_t default_nan(void)
{
    volatile float inf = INFINITY, zero = 0.0f;
    return float_to_bits(inf * zero);
}

uint32_t ref_element_bits(emb_type t, const uint8_t *row, int64_t dim, int64_t j)
{
    return vf_model_elem(t, row, dim, j, default_nan());
}

static int is_nan_bits(uint32_t u) { return (u & 0x7F800000u) == 0x7F800000u && (u & 0x7FFFFFu); }
static int is_finite_bits(uint32_t u) { return (u & 0x7F800000u) != 0x7F800000u; }

void ref_make_determinate(emb_type t, uint8_t *row, int64_t dim)
{
    if (t != EMB_Q8_ROWWISE)
        return;
    const uint32_t scale = load32(row + dim), bias = load32(row + dim + 4);
    if (is_nan_bits(bias) && !is_finite_bits(scale)) {
        /* Clearing the exponent's top bit leaves a finite number. */
        const uint32_t finite = bias & ~0x40000000u;
        memcpy(row + dim + 4, &finite, sizeof finite);
    }
}

static int64_t id_at(const void *ids, emb_index id_type, int64_t i)
{
    if (id_type == EMB_I64) {
        int64_t v;
        memcpy(&v, (const uint8_t *)ids + i * 8, sizeof v);
        return v;
    }
    int32_t v;
    memcpy(&v, (const uint8_t *)ids + i * 4, sizeof v);
    return v;
}

static int ids_valid(const void *ids, emb_index id_type, int64_t n, int64_t vocab)
{
    if (id_type != EMB_I32 && id_type != EMB_I64)
        return 0;
    for (int64_t i = 0; i < n; i++) {
        const int64_t id = id_at(ids, id_type, i);
        if (id < 0 || id >= vocab)
            return 0;
    }
    return 1;
}

int ref_lookup(const emb_kernel *k, const void *table, int64_t vocab, int64_t dim,
               const void *ids, emb_index id_type, int64_t n, void *out)
{
    if (k == NULL || k->op != EMB_OP_LOOKUP || n < 0)
        return -1;
    const size_t in_bytes = ref_row_bytes(k->in, dim), out_bytes = ref_row_bytes(k->out, dim);
    if (in_bytes == 0 || out_bytes == 0 || !ids_valid(ids, id_type, n, vocab))
        return -1;
    if (k->in != k->out && k->out != EMB_F32)
        return -1; /* a conversion the formats do not define */
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *src = (const uint8_t *)table + (size_t)id_at(ids, id_type, i) * in_bytes;
        uint8_t *dst = (uint8_t *)out + (size_t)i * out_bytes;
        if (k->in == k->out) {
            memcpy(dst, src, in_bytes);
            continue;
        }
        for (int64_t j = 0; j < dim; j++) {
            const uint32_t x = ref_element_bits(k->in, src, dim, j);
            memcpy(dst + 4 * j, &x, sizeof x);
        }
    }
    return 0;
}

int ref_grad(const emb_kernel *k, float *dtable, int64_t vocab, int64_t dim, const void *ids,
             emb_index id_type, int64_t n, const void *dout)
{
    if (k == NULL || k->op != EMB_OP_GRAD || k->out != EMB_F32 || n < 0)
        return -1;
    /* Element types only: a quantized table has no gradient. */
    if (k->in != EMB_F32 && k->in != EMB_F16 && k->in != EMB_BF16)
        return -1;
    const size_t dout_bytes = ref_row_bytes(k->in, dim);
    if (dout_bytes == 0 || !ids_valid(ids, id_type, n, vocab))
        return -1;
    for (int64_t i = 0; i < n; i++) {
        float *row = dtable + id_at(ids, id_type, i) * dim;
        const uint8_t *g = (const uint8_t *)dout + (size_t)i * dout_bytes;
        for (int64_t j = 0; j < dim; j++) {
            /* One rounded fp32 add, stored: nothing kept wider or fused. */
            volatile float sum = row[j] + bits_to_float(ref_element_bits(k->in, g, dim, j));
            row[j] = sum;
        }
    }
    return 0;
}

/* ---- the embedding layer's options and the positional ops ----------------- */

static int64_t ref_position(const emb_positions *pos, emb_index id_type, int64_t i)
{
    return pos->ids != NULL ? id_at(pos->ids, id_type, i) : pos->offset + i % pos->seq_len;
}

int ref_lookup_pos(emb_type table_type, const void *table, int64_t vocab, int64_t dim,
                   const void *ids, emb_index id_type, int64_t n, emb_type pos_type,
                   const void *pos_table, int64_t max_pos, const emb_positions *pos, float *out)
{
    const size_t in_bytes = ref_row_bytes(table_type, dim), p_bytes = ref_row_bytes(pos_type, dim);
    if (in_bytes == 0 || p_bytes == 0 || n < 0 || !ids_valid(ids, id_type, n, vocab))
        return -1;
    if (pos_type != EMB_F32 && pos_type != EMB_F16 && pos_type != EMB_BF16)
        return -1;
    for (int64_t i = 0; i < n; i++) {
        const int64_t p = ref_position(pos, id_type, i);
        if (p < 0 || p >= max_pos)
            return -1;
    }
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *w = (const uint8_t *)table + (size_t)id_at(ids, id_type, i) * in_bytes;
        const uint8_t *p =
            (const uint8_t *)pos_table + (size_t)ref_position(pos, id_type, i) * p_bytes;
        for (int64_t j = 0; j < dim; j++) {
            volatile float sum = bits_to_float(ref_element_bits(table_type, w, dim, j)) +
                                 bits_to_float(ref_element_bits(pos_type, p, dim, j));
            out[i * dim + j] = sum;
        }
    }
    return 0;
}

/* Token i's contribution to its row: the widened element, or divided by
 * the row's count c > 1 (scale_grad_by_freq). */
static void ref_add_row(float *row, const uint8_t *g, emb_type t, int64_t dim, uint32_t c)
{
    for (int64_t j = 0; j < dim; j++) {
        const float x = bits_to_float(ref_element_bits(t, g, dim, j));
        volatile float term = c == 1 ? x : x / (float)c;
        volatile float sum = row[j] + term;
        row[j] = sum;
    }
}

int ref_grad_ex(emb_type dout_type, float *dtable, int64_t vocab, int64_t dim, const void *ids,
                emb_index id_type, int64_t n, const void *dout, const emb_grad_options *opt,
                float *dpos_table, int64_t max_pos, const emb_positions *pos)
{
    if (dout_type != EMB_F32 && dout_type != EMB_F16 && dout_type != EMB_BF16)
        return -1;
    const size_t g_bytes = ref_row_bytes(dout_type, dim);
    if (g_bytes == 0 || n < 0 || !ids_valid(ids, id_type, n, vocab))
        return -1;
    int64_t pad = -1;
    if (opt != NULL && opt->padding_idx != EMB_NO_PADDING) {
        if (opt->padding_idx < -vocab || opt->padding_idx >= vocab)
            return -1;
        pad = opt->padding_idx < 0 ? opt->padding_idx + vocab : opt->padding_idx;
    }
    const int scale = opt != NULL && opt->scale_grad_by_freq;
    for (int64_t i = 0; i < n; i++) {
        const int64_t id = id_at(ids, id_type, i);
        if (id == pad)
            continue;
        uint32_t c = 0;
        for (int64_t m = 0; scale && m < n; m++)
            c += id_at(ids, id_type, m) == id;
        ref_add_row(dtable + id * dim, (const uint8_t *)dout + (size_t)i * g_bytes, dout_type,
                    dim, scale ? c : 1);
        if (dpos_table != NULL) {
            const int64_t p = ref_position(pos, id_type, i);
            if (p < 0 || p >= max_pos)
                return -1;
        }
    }
    for (int64_t i = 0; dpos_table != NULL && i < n; i++)
        ref_add_row(dpos_table + ref_position(pos, id_type, i) * dim,
                    (const uint8_t *)dout + (size_t)i * g_bytes, dout_type, dim, 1);
    return 0;
}

/* The canonical order (src/reduce.h's comment, not its code): 32 running
 * sums, term j into sum j % 32, then folded in halves. Each term and each
 * sum rounded on its own (volatile: nothing fused or reordered). */
typedef struct canonical_sum {
    float s[32];
} canonical_sum;

static void canonical_add(canonical_sum *c, int64_t j, float term)
{
    volatile float sum = c->s[j % 32] + term;
    c->s[j % 32] = sum;
}

static float canonical_total(canonical_sum *c)
{
    for (int half = 16; half >= 1; half /= 2)
        for (int k = 0; k < half; k++) {
            volatile float sum = c->s[k] + c->s[k + half];
            c->s[k] = sum;
        }
    return c->s[0];
}

static float ref_canonical_sum(const float *x, int64_t dim, double p)
{
    canonical_sum c = {{0}};
    for (int64_t j = 0; j < dim; j++) {
        const float a = fabsf(x[j]);
        volatile float term = p == 2.0 ? x[j] * x[j] : p == 1.0 ? a : powf(a, (float)p);
        canonical_add(&c, j, term);
    }
    return canonical_total(&c);
}

float ref_scan_score(emb_type t, const uint8_t *row, int64_t dim, const float *q, emb_metric m)
{
    canonical_sum c = {{0}};
    const uint32_t dn = default_nan();
    for (int64_t j = 0; j < dim; j++) {
        const float x = bits_to_float(vf_model_elem(t, row, dim, j, dn));
        volatile float term;
        if (m == EMB_METRIC_DOT) {
            term = x * q[j];
        } else if (m == EMB_METRIC_L2SQ) {
            volatile float d = x - q[j];
            term = d * d;
        } else {
            term = x * x;
        }
        canonical_add(&c, j, term);
    }
    return canonical_total(&c);
}

float ref_row_norm(const float *x, int64_t dim, double p)
{
    if (isinf(p)) {
        float m = 0.0f;
        for (int64_t j = 0; j < dim; j++) {
            if (isnan(x[j]))
                return x[j];
            if (fabsf(x[j]) > m)
                m = fabsf(x[j]);
        }
        return m;
    }
    const float s = ref_canonical_sum(x, dim, p);
    return p == 2.0 ? sqrtf(s) : p == 1.0 ? s : powf(s, 1.0f / (float)p);
}

/* x rounded to a binary format with `bits` significand bits (implicit one
 * included) and smallest normal exponent emin, to nearest even, in double
 * (exact: x is a float, the quantum a power of two). */
static double round_to_format(double x, int bits, int emin)
{
    if (x == 0.0 || isinf(x))
        return x;
    int e;
    frexp(x, &e); /* |x| in [2^(e-1), 2^e) */
    const int exp = e - 1 < emin ? emin : e - 1;
    const double q = ldexp(1.0, exp - (bits - 1));
    return nearbyint(x / q) * q; /* the default rounding: to nearest even */
}

uint16_t ref_f32_to_f16_bits(uint32_t u)
{
    const uint16_t sign = (uint16_t)(u >> 16 & 0x8000u);
    float f;
    memcpy(&f, &u, sizeof f);
    if (isnan(f)) /* quiet, sign and the top 10 payload bits kept */
        return (uint16_t)(sign | 0x7e00u | ((u >> 13) & 0x3ffu));
    const double r = fabs(round_to_format((double)f, 11, -14));
    if (r > 65504.0)
        return (uint16_t)(sign | 0x7c00u);
    /* The positive patterns 0 .. 0x7c00 increase with their value. */
    uint32_t lo = 0, hi = 0x7c00;
    while (lo < hi) {
        const uint32_t mid = (lo + hi) / 2;
        if ((double)bits_to_float(ref_f16_to_f32_bits((uint16_t)mid)) < r)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (uint16_t)(sign | lo);
}

uint16_t ref_f32_to_bf16_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    if (isnan(f))
        return (uint16_t)((u >> 16) | 0x0040u);
    /* Rounded in double, then to float exactly (or to Inf past the range). */
    const double d = round_to_format((double)f, 8, -126);
    const float r = fabs(d) > FLT_MAX ? copysignf(INFINITY, f) : (float)d;
    return (uint16_t)(float_to_bits(r) >> 16);
}

int ref_renorm(void *table, emb_type t, int64_t vocab, int64_t dim, const void *ids,
               emb_index id_type, int64_t n, double max_norm, double norm_type)
{
    if (n < 0 || !ids_valid(ids, id_type, n, vocab) ||
        (t != EMB_F32 && t != EMB_F16 && t != EMB_BF16))
        return -1;
    const size_t row_bytes = ref_row_bytes(t, dim);
    float *x = malloc((size_t)dim * sizeof(float));
    if (x == NULL)
        return -1;
    for (int64_t i = 0; i < n; i++) {
        const int64_t id = id_at(ids, id_type, i);
        int first = 1;
        for (int64_t m = 0; m < i && first; m++)
            first = id_at(ids, id_type, m) != id;
        if (!first)
            continue;
        uint8_t *row = (uint8_t *)table + (size_t)id * row_bytes;
        for (int64_t j = 0; j < dim; j++)
            x[j] = bits_to_float(ref_element_bits(t, row, dim, j));
        const float norm = ref_row_norm(x, dim, norm_type);
        if (!((double)norm > max_norm))
            continue;
        const float s = (float)(max_norm / ((double)norm + 1e-7));
        for (int64_t j = 0; j < dim; j++) {
            volatile float v = x[j] * s;
            const uint32_t b = float_to_bits(v);
            if (t == EMB_F32) {
                memcpy(row + 4 * j, &b, 4);
            } else {
                const uint16_t h = t == EMB_F16 ? ref_f32_to_f16_bits(b) : ref_f32_to_bf16_bits(b);
                memcpy(row + 2 * j, &h, 2);
            }
        }
    }
    free(x);
    return 0;
}
