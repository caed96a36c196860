/* reference.c - the reference lookup and gradient, element by element from
 * the format definitions; deliberately shares no code with src/. */
#include "reference.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

static uint16_t load16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint32_t load32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The layouts: elements per block, bytes per block, bytes after the
 * blocks. GGML's q8_0 and q4_0 (block_q8_0 = {ggml_half d; int8_t qs[32]},
 * block_q4_0 = {ggml_half d; uint8_t qs[16]}), its k-quants' super-blocks
 * of QK_K = 256 (q4_K: {ggml_half d, dmin; uint8_t scales[12]; uint8_t
 * qs[128]}; q6_K: {uint8_t ql[128], qh[64]; int8_t scales[16]; ggml_half
 * d}) and FBGEMM's fused 8-bit row-wise rows (dim uint8 codes, then float
 * scale, float bias). */
typedef struct layout {
    int64_t block, block_bytes, extra;
} layout;

static int layout_of(emb_type t, layout *l)
{
    switch (t) {
    case EMB_F32: *l = (layout){1, 4, 0}; return 0;
    case EMB_F16: *l = (layout){1, 2, 0}; return 0;
    case EMB_BF16: *l = (layout){1, 2, 0}; return 0;
    case EMB_Q8_0: *l = (layout){32, 2 + 32, 0}; return 0;
    case EMB_Q4_0: *l = (layout){32, 2 + 16, 0}; return 0;
    case EMB_Q8_ROWWISE: *l = (layout){1, 1, 4 + 4}; return 0;
    case EMB_Q4_K: *l = (layout){256, 2 + 2 + 12 + 128, 0}; return 0;
    case EMB_Q6_K: *l = (layout){256, 128 + 64 + 16 + 2, 0}; return 0;
    }
    return -1;
}

size_t ref_row_bytes(emb_type t, int64_t dim)
{
    layout l;
    if (layout_of(t, &l) != 0 || dim <= 0 || dim % l.block != 0)
        return 0;
    const uint64_t blocks = (uint64_t)(dim / l.block);
    if (blocks > ((uint64_t)SIZE_MAX - (uint64_t)l.extra) / (uint64_t)l.block_bytes)
        return 0;
    return (size_t)(blocks * (uint64_t)l.block_bytes + (uint64_t)l.extra);
}

uint32_t ref_f16_to_f32_bits(uint16_t h)
{
    const uint32_t sign = (h & 0x8000u) ? 0x80000000u : 0u;
    const int e = (h >> 10) & 31;
    const uint32_t m = h & 0x3FFu;
    if (e == 31)
        return m == 0 ? sign | 0x7F800000u : sign | 0x7FC00000u | (m << 13);
    /* The value is an integer below 2^11 times a power of two no smaller
     * than 2^-24: exact in fp32, and a normal number there. */
    const float magnitude =
        e == 0 ? (float)m * 0x1p-24f : ldexpf((float)(1024u + m), e - 25);
    return sign | float_to_bits(magnitude);
}

uint32_t ref_bf16_to_f32_bits(uint16_t h) { return (uint32_t)h << 16; }

uint32_t ref_element_bits(emb_type t, const uint8_t *row, int64_t dim, int64_t j)
{
    switch (t) {
    case EMB_F32:
        return load32(row + 4 * j);
    case EMB_F16:
        return ref_f16_to_f32_bits(load16(row + 2 * j));
    case EMB_BF16:
        return ref_bf16_to_f32_bits(load16(row + 2 * j));
    case EMB_Q8_0: {
        const uint8_t *block = row + (j / 32) * 34;
        const float d = bits_to_float(ref_f16_to_f32_bits(load16(block)));
        const int q = (int8_t)block[2 + j % 32];
        return float_to_bits((float)q * d);
    }
    case EMB_Q4_0: {
        const uint8_t *block = row + (j / 32) * 18;
        const float d = bits_to_float(ref_f16_to_f32_bits(load16(block)));
        const int e = (int)(j % 32);
        const uint8_t byte = block[2 + e % 16];
        const int q = (e < 16 ? byte & 15 : byte >> 4) - 8;
        return float_to_bits((float)q * d);
    }
    case EMB_Q8_ROWWISE: {
        const float scale = bits_to_float(load32(row + dim));
        const float bias = bits_to_float(load32(row + dim + 4));
        return float_to_bits(fmaf(scale, (float)row[j], bias));
    }
    case EMB_Q4_K: {
        /* Element i of its super-block: group g = i / 64, half h, lane l;
         * sub-block k = 2g + h, whose 6-bit scale and min come from the
         * packed scales[12]; the quant is the h-th nibble of qs[32g + l]. */
        const uint8_t *sb = row + (j / 256) * 144;
        const uint8_t *scales = sb + 4, *qs = sb + 16;
        const int i = (int)(j % 256), g = i / 64, h = (i % 64) / 32, l = i % 32, k = 2 * g + h;
        int sc, m;
        if (k < 4) {
            sc = scales[k] & 63;
            m = scales[k + 4] & 63;
        } else {
            sc = (scales[k + 4] & 0xF) | ((scales[k - 4] >> 6) << 4);
            m = (scales[k + 4] >> 4) | ((scales[k] >> 6) << 4);
        }
        const int q = h ? qs[32 * g + l] >> 4 : qs[32 * g + l] & 0xF;
        const float d = bits_to_float(ref_f16_to_f32_bits(load16(sb)));
        const float dmin = bits_to_float(ref_f16_to_f32_bits(load16(sb + 2)));
        volatile float scaled = d * (float)sc, term = scaled * (float)q, low = dmin * (float)m;
        return float_to_bits(term - low);
    }
    case EMB_Q6_K: {
        /* Element i: half n = i / 128, row r of four, lane l; low four
         * bits from ql, high two from qh, biased by 32; scale per 16. */
        const uint8_t *sb = row + (j / 256) * 210;
        const uint8_t *ql = sb, *qh = sb + 128;
        const int i = (int)(j % 256), n = i / 128, r = (i % 128) / 32, l = i % 32;
        const int low4 = (ql[64 * n + l + 32 * (r & 1)] >> (4 * (r >> 1))) & 0xF;
        const int high2 = (qh[32 * n + l] >> (2 * r)) & 3;
        const int q = (low4 | high2 << 4) - 32;
        const int s = (int8_t)sb[192 + 8 * n + l / 16 + 2 * r];
        const float d = bits_to_float(ref_f16_to_f32_bits(load16(sb + 208)));
        volatile float ds = d * (float)s;
        return float_to_bits(ds * (float)q);
    }
    }
    return 0;
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
 * sums, term j into sum j % 32, then folded in halves. */
static float ref_canonical_sum(const float *x, int64_t dim, double p)
{
    float s[32] = {0};
    for (int64_t j = 0; j < dim; j++) {
        const float a = fabsf(x[j]);
        volatile float term = p == 2.0 ? x[j] * x[j] : p == 1.0 ? a : powf(a, (float)p);
        volatile float sum = s[j % 32] + term;
        s[j % 32] = sum;
    }
    for (int half = 16; half >= 1; half /= 2)
        for (int k = 0; k < half; k++) {
            volatile float sum = s[k] + s[k + half];
            s[k] = sum;
        }
    return s[0];
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
