/* inputs.c - the verifier's inputs: tables of each kind and element type,
 * the adversarial columns, and one case built with its to_f32 and
 * scatter-add references. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "verify.h"

const char *vf_table_kind_name(vf_table_kind kind)
{
    static const char *const names[VF_TABLE_KIND_COUNT] = {"finite", "bits", "adversarial"};
    return (unsigned)kind < VF_TABLE_KIND_COUNT ? names[kind] : "?";
}

/* The adversarial columns: each one aims at one place where IEEE 754 makes
 * the dense product differ from the copy (or almost). */
enum {
    COL_FINITE,    /* control: the theorem's domain */
    COL_NEG_ZERO,  /* every entry -0: a +0 term turns a -0 sum into +0 */
    COL_ZEROS,     /* +0 and -0 mixed */
    COL_ONE_INF,   /* finite but one +-Inf: 0 * Inf poisons the rest */
    COL_ONE_NAN,   /* finite but one NaN (quiet or signalling) */
    COL_TINY,      /* subnormals and zeros: flushed under FTZ/DAZ */
    COL_TWO_NANS,  /* two NaNs of different payloads: the result's payload is open */
    COL_BOTH_INFS, /* +Inf and -Inf: Inf - Inf in a sum */
    COL_RECIPES
};

static uint32_t nan_bits(gen_rng *r)
{
    const uint64_t x = gen_u64(r);
    const uint32_t payload = (uint32_t)x & 0x3FFFFFu;
    const uint32_t quiet = (x >> 40) & 1 ? VF_QUIET : 0;
    return ((uint32_t)(x >> 63) << 31) | VF_EXP | quiet | (quiet || payload ? payload : 1u);
}

static uint32_t recipe_base(gen_rng *r, int recipe)
{
    switch (recipe) {
    case COL_NEG_ZERO: return VF_NEG_ZERO;
    case COL_ZEROS: return (gen_u64(r) & 1) ? VF_NEG_ZERO : VF_POS_ZERO;
    case COL_TINY: {
        const uint64_t x = gen_u64(r);
        const uint32_t sign = (uint32_t)(x >> 63) << 31;
        return (x >> 32) % 4 == 0 ? sign : sign | (((uint32_t)x & 0x7FFFFFu) | 1u);
    }
    default: return vf_bits(gen_finite(r));
    }
}

static void put(float *dst, int64_t dim, int64_t row, int64_t col, uint32_t bits)
{
    memcpy(dst + row * dim + col, &bits, sizeof bits);
}

static void fill_adversarial(gen_rng *r, float *dst, int64_t rows, int64_t dim)
{
    int *recipe = malloc((size_t)dim * sizeof *recipe);
    if (recipe == NULL)
        abort();
    for (int64_t j = 0; j < dim; j++)
        recipe[j] = (int)gen_below(r, COL_RECIPES);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < dim; j++)
            put(dst, dim, i, j, recipe_base(r, recipe[j]));
    for (int64_t j = 0; j < dim; j++) {
        const int64_t a = (int64_t)gen_below(r, (uint64_t)rows);
        const int64_t b = (int64_t)gen_below(r, (uint64_t)rows);
        const uint32_t sign = (uint32_t)(gen_u64(r) >> 63) << 31;
        switch (recipe[j]) {
        case COL_ONE_INF: put(dst, dim, a, j, sign | VF_EXP); break;
        case COL_ONE_NAN: put(dst, dim, a, j, nan_bits(r)); break;
        case COL_TWO_NANS:
            put(dst, dim, a, j, nan_bits(r));
            put(dst, dim, b, j, nan_bits(r));
            break;
        case COL_BOTH_INFS:
            put(dst, dim, a, j, VF_EXP);
            put(dst, dim, b, j, VF_SIGN | VF_EXP);
            break;
        default: break;
        }
    }
    free(recipe);
}

void vf_fill(gen_rng *r, vf_table_kind kind, float *dst, int64_t rows, int64_t dim)
{
    const size_t count = (size_t)rows * (size_t)dim;
    switch (kind) {
    case VF_TABLE_FINITE: gen_fill_finite(r, dst, count); break;
    case VF_TABLE_BITS: gen_fill_bits(r, dst, count); break;
    default: fill_adversarial(r, dst, rows, dim); break;
    }
}

/* Guard words: a value that differs from its neighbours, so a shifted
 * write shows too. */
static uint32_t canary(int64_t k) { return 0xA5A5A5A5u ^ (uint32_t)k; }

void vf_guards_reset(float *base, size_t count)
{
    for (int64_t k = 0; k < VF_GUARD; k++) {
        const uint32_t lo = canary(k), hi = canary(-1 - k);
        memcpy(base + k, &lo, sizeof lo);
        memcpy(base + VF_GUARD + count + (size_t)k, &hi, sizeof hi);
    }
}

static float *guarded_alloc(size_t count, float **base)
{
    *base = malloc((count + 2 * VF_GUARD) * sizeof(float));
    if (*base == NULL)
        return NULL;
    vf_guards_reset(*base, count);
    return *base + VF_GUARD;
}

int vf_case_guards_intact(const float *base, size_t count)
{
    for (int64_t k = 0; k < VF_GUARD; k++)
        if (vf_bits(base[k]) != canary(k) ||
            vf_bits(base[VF_GUARD + count + (size_t)k]) != canary(-1 - k))
            return 0;
    return 1;
}

/* Per-column counts of the non-finite entries of to_f32(W). */
static void count_nonfinite(vf_table *t)
{
    const int64_t vocab = t->vocab, dim = t->dim;
    for (int64_t k = 0; k < vocab; k++)
        for (int64_t j = 0; j < dim; j++) {
            const uint32_t u = vf_bits(t->data[k * dim + j]);
            if (vf_is_finite(u))
                continue;
            const int64_t c = t->nonfinite[j]++;
            if (c < 2) {
                t->nf_row[j][c] = k;
                t->nf_bits[j][c] = u;
            }
        }
}

int vf_table_init(vf_table *t, vf_table_kind kind, int64_t vocab, int64_t dim, uint64_t seed)
{
    return vf_table_init_type(t, EMB_F32, kind, vocab, dim, seed);
}

/* Random bytes: quantized values. */
static void fill_bytes(gen_rng *r, uint8_t *dst, size_t count)
{
    for (size_t k = 0; k < count; k += 8) {
        uint64_t x = gen_u64(r);
        for (size_t b = k; b < count && b < k + 8; b++, x >>= 8)
            dst[b] = (uint8_t)x;
    }
}

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    put_le16(p, (uint16_t)v);
    put_le16(p + 2, (uint16_t)(v >> 16));
}

void vf_fill_type(gen_rng *r, emb_type t, vf_table_kind kind, uint8_t *dst, int64_t rows,
                  int64_t dim)
{
    vf_format f;
    if (!vf_format_of(t, &f))
        abort();
    const size_t row_bytes = vf_format_row_bytes(t, dim);
    /* The fp32 values the type's own are made from: every element of a
     * 16-bit type, every block's fp16 scales (q4_K: d and dmin), or every
     * row's scale and bias; so an adversarial table's recipes act per
     * column of elements, of block scales, or on the scale and the bias. */
    const int64_t per_row = f.elem_bits ? dim : f.block > 1 ? dim / f.block * f.n_scales : 2;
    float *src = malloc((size_t)(rows * per_row) * sizeof(float));
    if (src == NULL)
        abort();
    vf_fill(r, kind, src, rows, per_row);
    for (int64_t k = 0; k < rows; k++) {
        uint8_t *row = dst + (size_t)k * row_bytes;
        const float *v = src + k * per_row;
        switch (t) {
        case EMB_F32:
            memcpy(row, v, (size_t)dim * sizeof(float));
            break;
        case EMB_F16:
        case EMB_BF16:
            for (int64_t j = 0; j < dim; j++)
                put_le16(row + 2 * j, t == EMB_F16 ? vf_narrow_f16(vf_bits(v[j]))
                                                   : vf_narrow_bf16(vf_bits(v[j])));
            break;
        default:
            fill_bytes(r, row, row_bytes);
            if (f.block > 1) {
                for (int64_t b = 0; b < per_row; b++)
                    put_le16(row + (size_t)(b / f.n_scales) * f.block_bytes +
                                 f.scale_at[b % f.n_scales],
                             vf_narrow_f16(vf_bits(v[b])));
            } else {
                put_le32(row + dim, vf_bits(v[0]));     /* scale */
                put_le32(row + dim + 4, vf_bits(v[1])); /* bias */
            }
            /* Adversarial: more zero quants (q = 0 with an Inf scale is 0 x
             * Inf; with a negative one, -0), each set by the format's own
             * code for 0 (formats.h, vf_zero_quant). */
            uint64_t draw = 0;
            if (kind == VF_TABLE_ADVERSARIAL)
                for (int64_t j = 0; j < dim; j++) {
                    if (j % 21 == 0)
                        draw = gen_u64(r);
                    draw >>= 3;
                    if ((draw & 7) != 0)
                        continue;
                    vf_zero_quant(t, row, j);
                }
            break;
        }
    }
    free(src);
}

int vf_table_init_type(vf_table *t, emb_type type, vf_table_kind kind, int64_t vocab,
                       int64_t dim, uint64_t seed)
{
    memset(t, 0, sizeof *t);
    t->kind = kind;
    t->vocab = vocab;
    t->dim = dim;
    t->type = type;
    t->row_bytes = vf_format_row_bytes(type, dim);
    if (t->row_bytes == 0)
        return -1;
    const size_t count = (size_t)vocab * (size_t)dim;
    t->data = malloc(count * sizeof(float));
    t->nonfinite = calloc((size_t)dim, sizeof *t->nonfinite);
    t->nf_row = calloc((size_t)dim, sizeof *t->nf_row);
    t->nf_bits = calloc((size_t)dim, sizeof *t->nf_bits);
    if (type == EMB_F32) {
        t->raw = (uint8_t *)t->data;
        t->work = guarded_alloc(count, &t->work_base);
    } else {
        t->raw = malloc((size_t)vocab * t->row_bytes);
    }
    if (t->data == NULL || t->nonfinite == NULL || t->nf_row == NULL || t->nf_bits == NULL ||
        t->raw == NULL || (type == EMB_F32 && t->work == NULL)) {
        vf_table_free(t);
        return -1;
    }
    gen_rng r = gen_seed(seed);
    if (type == EMB_F32) {
        vf_fill(&r, kind, t->data, vocab, dim);
        memcpy(t->work, t->data, count * sizeof(float));
    } else {
        vf_fill_type(&r, type, kind, t->raw, vocab, dim);
        const uint32_t dn = vf_default_nan();
        for (int64_t k = 0; k < vocab; k++)
            vf_model_row(type, t->raw + (size_t)k * t->row_bytes, dim, dn,
                         t->data + (size_t)k * (size_t)dim);
    }
    count_nonfinite(t);
    return 0;
}

void vf_table_free(vf_table *t)
{
    if (t->raw != (uint8_t *)t->data)
        free(t->raw);
    free(t->data);
    free(t->nonfinite);
    free(t->nf_row);
    free(t->nf_bits);
    free(t->work_base);
    memset(t, 0, sizeof *t);
}

void vf_shape_label(const vf_shape *s, char *buf, size_t size)
{
    snprintf(buf, size, "vocab %lld, dim %lld, n %lld, ids %s, %s table", (long long)s->vocab,
             (long long)s->dim, (long long)s->n, gen_ids_kind_name(s->ids),
             vf_table_kind_name(s->kind));
}

void vf_case_label(const vf_case *c, char *buf, size_t size)
{
    vf_shape_label(&c->s, buf, size);
    const size_t used = strlen(buf);
    if (c->table->type != EMB_F32 || c->dout_type != EMB_F32 || c->id_type != EMB_I32)
        snprintf(buf + used, size - used, " of %s%s%s, %s ids", emb_type_name(c->table->type),
                 c->no_grad ? "" : ", dout ", c->no_grad ? "" : emb_type_name(c->dout_type),
                 emb_index_name(c->id_type));
}

int vf_case_init(vf_case *c, const vf_shape *s, const vf_table *t, uint64_t seed)
{
    return vf_case_init_typed(c, s, t, EMB_F32, EMB_I32, seed);
}

int vf_case_init_typed(vf_case *c, const vf_shape *s, const vf_table *t, emb_type dout_type,
                       emb_index id_type, uint64_t seed)
{
    memset(c, 0, sizeof *c);
    c->s = *s;
    c->table = t;
    c->dout_type = dout_type;
    c->id_type = id_type;
    const size_t n = (size_t)s->n, dim = (size_t)s->dim, vocab = (size_t)s->vocab;
    c->ids = malloc(n * sizeof *c->ids);
    c->dout = malloc(n * dim * sizeof(float));
    c->ref_out = malloc(n * dim * sizeof(float));
    c->touched = malloc(n * sizeof *c->touched);
    c->slot = malloc(vocab * sizeof *c->slot);
    /* Room for n of the table's own rows too: a copy kernel writes those. */
    c->out_count = n * dim;
    if (n * t->row_bytes > c->out_count * sizeof(float))
        c->out_count = (n * t->row_bytes + sizeof(float) - 1) / sizeof(float);
    c->out = guarded_alloc(c->out_count, &c->out_base);
    c->work_base = t->work_base;
    c->work = t->work;
    if (c->ids == NULL || c->dout == NULL || c->ref_out == NULL || c->touched == NULL ||
        c->slot == NULL || c->out == NULL) {
        vf_case_free(c);
        return -1;
    }
    /* A table grad has no kernel for (only fp32 dtables exist): a lookup
     * case, with no dout or scatter-add to build. */
    c->no_grad = t->work == NULL;
    gen_rng r = gen_seed(seed);
    gen_ids(&r, c->ids, n, s->vocab, s->ids);
    if (!c->no_grad)
        vf_fill(&r, s->kind, c->dout, s->n, s->dim);
    if (id_type == EMB_I64) {
        c->ids64 = malloc((n ? n : 1) * sizeof *c->ids64);
        if (c->ids64 == NULL) {
            vf_case_free(c);
            return -1;
        }
        for (size_t i = 0; i < n; i++)
            c->ids64[i] = c->ids[i];
    }
    if (dout_type == EMB_F32 || c->no_grad) {
        c->dout_raw = (uint8_t *)c->dout;
    } else {
        /* The same kind of values in dout's type (a 16-bit one: the only
         * kind vf_kernel_modelled admits); the sums add them widened. */
        vf_format f;
        const size_t row_bytes = vf_format_row_bytes(dout_type, s->dim);
        c->dout_raw = vf_format_of(dout_type, &f) && f.elem_bits == 16
                          ? malloc((n ? n : 1) * row_bytes) : NULL;
        if (c->dout_raw == NULL) {
            vf_case_free(c);
            return -1;
        }
        const uint32_t dn = vf_default_nan();
        for (size_t i = 0; i < n; i++) {
            uint8_t *row = c->dout_raw + i * row_bytes;
            for (size_t j = 0; j < dim; j++) {
                const uint32_t u = vf_bits(c->dout[i * dim + j]);
                const uint16_t h = dout_type == EMB_F16 ? vf_narrow_f16(u) : vf_narrow_bf16(u);
                row[2 * j] = (uint8_t)h;
                row[2 * j + 1] = (uint8_t)(h >> 8);
            }
            vf_model_row(dout_type, row, s->dim, dn, c->dout + i * dim);
        }
    }

    /* The lookup's definition: one 32-bit word at a time, no float touched. */
    for (size_t i = 0; i < n; i++)
        memcpy(c->ref_out + i * dim, t->data + (size_t)c->ids[i] * dim, dim * sizeof(float));

    /* The gradient's definition: per row, in token order, one add each. */
    for (size_t k = 0; k < vocab; k++)
        c->slot[k] = -1;
    for (size_t i = 0; i < n; i++)
        if (c->slot[c->ids[i]] < 0) {
            c->slot[c->ids[i]] = (int32_t)c->n_touched;
            c->touched[c->n_touched++] = c->ids[i];
        }
    if (c->no_grad)
        return 0;
    c->ref_grad = malloc((size_t)c->n_touched * dim * sizeof *c->ref_grad);
    if (c->ref_grad == NULL) {
        vf_case_free(c);
        return -1;
    }
    for (int64_t m = 0; m < c->n_touched; m++)
        for (size_t j = 0; j < dim; j++)
            c->ref_grad[(size_t)m * dim + j] = vf_val_of(vf_bits(t->data[(size_t)c->touched[m] * dim + j]));
    for (size_t i = 0; i < n; i++) {
        vf_val *acc = c->ref_grad + (size_t)c->slot[c->ids[i]] * dim;
        for (size_t j = 0; j < dim; j++)
            acc[j] = vf_add(acc[j], vf_val_of(vf_bits(c->dout[i * dim + j])));
    }
    return 0;
}

void vf_case_free(vf_case *c)
{
    free(c->ids);
    free(c->ids64);
    if (c->dout_raw != (uint8_t *)c->dout)
        free(c->dout_raw);
    free(c->err_ref);
    free(c->dout);
    free(c->ref_out);
    free(c->touched);
    free(c->slot);
    free(c->ref_grad);
    free(c->out_base);
    free(c->lk_rows);
    free(c->lk_dense);
    free(c->lk_domain);
    free(c->gr_rows);
    free(c->gr_dense);
    free(c->gr_domain);
    memset(c, 0, sizeof *c);
}
