/* check.c - the checkers: one call of a lookup or grad kernel, given as a
 * function pointer or as a kernel of the library's list, against the
 * definition, the dense product and the guard words; and the calls that
 * must fail without writing anything. */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "verify.h"

void vf_tally_add(vf_tally *sum, const vf_tally *t)
{
    sum->calls += t->calls;
    sum->elems += t->elems;
    sum->dense_elems += t->dense_elems;
    sum->rows_untouched += t->rows_untouched;
    if (sum->fails == 0 && t->fails != 0)
        memcpy(sum->first, t->first, sizeof sum->first);
    sum->fails += t->fails;
}

void vf_tally_fail(vf_tally *t, const char *fmt, ...)
{
    /* Only the first failure is described: a broken kernel can fail on
     * millions of elements, and formatting each would dominate the run. */
    if (t->fails++ != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->first, sizeof t->first, fmt, ap);
    va_end(ap);
}

static inline uint32_t bits_at(const float *p, size_t k) { return vf_bits(p[k]); }

/* Tables up to this many floats are compared whole after every grad call;
 * bigger ones on the rows around each touched row and a spread of others,
 * which is where a wrong row index or a stray store lands. */
enum { FULL_COMPARE_FLOATS = 1 << 22, SPREAD_ROWS = 64 };

static void check_row_unchanged(vf_case *c, int64_t k, vf_tally *t, const char *what)
{
    const size_t dim = (size_t)c->s.dim;
    const float *want = c->table->data + (size_t)k * dim;
    float *got = c->work + (size_t)k * dim;
    if (memcmp(got, want, dim * sizeof(float)) == 0)
        return;
    for (size_t j = 0; j < dim; j++)
        if (bits_at(got, j) != bits_at(want, j)) {
            char label[192];
            vf_case_label(c, label, sizeof label);
            vf_tally_fail(t, "%s (%s): dtable[%lld][%zu] changed from 0x%08x to 0x%08x", what,
                          label, (long long)k, j, bits_at(want, j), bits_at(got, j));
            break;
        }
    memcpy(got, want, dim * sizeof(float));
}

static void restore_touched(vf_case *c)
{
    const size_t dim = (size_t)c->s.dim;
    for (int64_t m = 0; m < c->n_touched; m++)
        memcpy(c->work + (size_t)c->touched[m] * dim, c->table->data + (size_t)c->touched[m] * dim,
               dim * sizeof(float));
}

/* Checks that rows other than the touched ones (all rows when
 * include_touched) still equal the table, restoring any that do not. */
static void check_rows_unchanged(vf_case *c, vf_tally *t, int include_touched, const char *what)
{
    const int64_t vocab = c->s.vocab;
    const size_t dim = (size_t)c->s.dim;
    uint64_t checked = 0;
    if ((uint64_t)vocab * dim <= FULL_COMPARE_FLOATS) {
        for (int64_t k = 0; k < vocab; k++)
            if (include_touched || c->slot[k] < 0) {
                check_row_unchanged(c, k, t, what);
                checked++;
            }
    } else {
        for (int64_t m = 0; m < c->n_touched; m++)
            for (int64_t d = -1; d <= 1; d++) {
                const int64_t k = c->touched[m] + d;
                if (k >= 0 && k < vocab && (include_touched || c->slot[k] < 0)) {
                    check_row_unchanged(c, k, t, what);
                    checked++;
                }
            }
        for (int64_t s = 0; s < SPREAD_ROWS; s++) {
            const int64_t k = s * (vocab - 1) / (SPREAD_ROWS - 1);
            if (include_touched || c->slot[k] < 0) {
                check_row_unchanged(c, k, t, what);
                checked++;
            }
        }
    }
    if (!include_touched)
        t->rows_untouched += checked;
    if (!vf_case_guards_intact(c->work_base, (size_t)vocab * dim)) {
        char label[192];
        vf_case_label(c, label, sizeof label);
        vf_tally_fail(t, "%s (%s): wrote outside dtable", what, label);
        vf_guards_reset(c->work_base, (size_t)vocab * dim);
    }
}

void vf_check_lookup(vf_case *c, vf_lookup_fn f, vf_tally *t)
{
    const size_t dim = (size_t)c->s.dim, count = (size_t)c->s.n * dim;
    char label[192];
    vf_case_label(c, label, sizeof label);
    /* The complement of the answer: an element the kernel never writes
     * differs from the reference in every bit. */
    for (size_t k = 0; k < count; k++) {
        const uint32_t u = ~bits_at(c->ref_out, k);
        memcpy(c->out + k, &u, sizeof u);
    }
    t->calls++;
    const emb_status st = f(c->table->data, c->s.vocab, c->s.dim, c->ids, c->s.n, c->out);
    if (st != EMB_OK) {
        vf_tally_fail(t, "lookup (%s) returned %s: %s", label, emb_strerror(st), emb_last_error());
        return;
    }
    t->elems += count;
    if (memcmp(c->out, c->ref_out, count * sizeof(float)) != 0)
        for (size_t k = 0; k < count; k++)
            if (bits_at(c->out, k) != bits_at(c->ref_out, k)) {
                const size_t i = k / dim, j = k % dim;
                vf_tally_fail(t, "lookup (%s): out[%zu][%zu] = 0x%08x, table[%ld][%zu] = 0x%08x",
                              label, i, j, bits_at(c->out, k), (long)c->ids[i], j,
                              bits_at(c->ref_out, k));
            }
    for (int64_t r = 0; r < c->n_lk_rows; r++) {
        const size_t i = (size_t)c->lk_rows[r];
        for (size_t j = 0; j < dim; j++) {
            if (!c->lk_domain[(size_t)r * dim + j])
                continue;
            t->dense_elems++;
            if (bits_at(c->out, i * dim + j) != bits_at(c->lk_dense, (size_t)r * dim + j))
                vf_tally_fail(t, "lookup (%s): out[%zu][%zu] = 0x%08x, one-hot x W gives 0x%08x",
                              label, i, j, bits_at(c->out, i * dim + j),
                              bits_at(c->lk_dense, (size_t)r * dim + j));
        }
    }
    if (!vf_case_guards_intact(c->out_base, count)) {
        vf_tally_fail(t, "lookup (%s): wrote outside out", label);
        vf_guards_reset(c->out_base, count);
    }
}

/* Which grad a check calls: a kernel given directly with the fp32
 * signature, or the library's kernel through emb_grad with the case's dout
 * type and id type. */
typedef struct grad_route {
    vf_grad_fn f;
    const emb_kernel *kernel;
} grad_route;

static void check_grad(vf_case *c, const grad_route *route, vf_tally *t)
{
    const size_t dim = (size_t)c->s.dim;
    const char *what = route->f ? "grad" : route->kernel->name;
    char label[192];
    vf_case_label(c, label, sizeof label);
    t->calls++;
    const emb_status st =
        route->f ? route->f(c->work, c->s.vocab, c->s.dim, c->ids, c->s.n, c->dout)
                 : emb_grad(c->work, c->s.vocab, c->s.dim,
                            c->id_type == EMB_I64 ? (const void *)c->ids64 : (const void *)c->ids,
                            c->id_type, c->s.n, c->dout_raw, route->kernel->in);
    if (st != EMB_OK)
        vf_tally_fail(t, "%s (%s) returned %s: %s", what, label, emb_strerror(st), emb_last_error());
    for (int64_t m = 0; st == EMB_OK && m < c->n_touched; m++) {
        const size_t k = (size_t)c->touched[m];
        for (size_t j = 0; j < dim; j++) {
            const vf_val want = c->ref_grad[(size_t)m * dim + j];
            const uint32_t got = bits_at(c->work, k * dim + j);
            if (!vf_matches(got, want))
                vf_tally_fail(t,
                              "%s (%s): dtable[%zu][%zu] = 0x%08x, the scatter-add in token "
                              "order gives %s0x%08x",
                              what, label, k, j, got, want.loose ? "a NaN such as " : "", want.bits);
        }
        t->elems += dim;
    }
    /* Untouched rows first, so a stray write is reported as one. */
    check_rows_unchanged(c, t, 0, what);
    for (int64_t r = 0; st == EMB_OK && r < c->n_gr_rows; r++) {
        const size_t k = (size_t)c->gr_rows[r];
        for (size_t j = 0; j < dim; j++) {
            if (!c->gr_domain[(size_t)r * dim + j])
                continue;
            t->dense_elems++;
            if (bits_at(c->work, k * dim + j) != bits_at(c->gr_dense, (size_t)r * dim + j))
                vf_tally_fail(t,
                              "%s (%s): dtable[%zu][%zu] = 0x%08x, dtable + one-hot^T x dout "
                              "gives 0x%08x",
                              what, label, k, j, bits_at(c->work, k * dim + j),
                              bits_at(c->gr_dense, (size_t)r * dim + j));
        }
    }
    restore_touched(c);
}

void vf_check_grad(vf_case *c, vf_grad_fn f, vf_tally *t)
{
    const grad_route route = {f, NULL};
    check_grad(c, &route, t);
}

/* ------------------------------------------------------------------ */
/* Calls that must fail                                                 */
/* ------------------------------------------------------------------ */

typedef struct bad_call {
    const char *what;
    int64_t vocab, dim, n;
    int null_ids, null_matrix, null_rows, overlap;
    int bad_pos; /* -1: ids as they are; else where a bad id goes */
    int32_t bad_id;
    emb_status want;
} bad_call;

static void run_bad_call(vf_case *c, const bad_call *b, int64_t n, vf_lookup_fn lookup,
                         vf_grad_fn grad, int32_t *ids, vf_tally *t)
{
    /* The output the call could reach, plus one row, is checked word by
     * word; the guard words after the whole buffer catch anything further. */
    const size_t full = (size_t)c->s.n * (size_t)c->s.dim;
    const size_t count = (size_t)(n + 1) * (size_t)c->s.dim < full ? (size_t)(n + 1) * (size_t)c->s.dim : full;
    char label[192], what[256];
    vf_case_label(c, label, sizeof label);
    memcpy(ids, c->ids, (size_t)n * sizeof *ids);
    if (b->bad_pos >= 0)
        ids[b->bad_pos] = b->bad_id;
    const int32_t *ids_arg = b->null_ids ? NULL : ids;
    for (int op = 0; op < 2; op++) {
        snprintf(what, sizeof what, "%s with %s", op == 0 ? "lookup" : "grad", b->what);
        for (size_t k = 0; k < count; k++) {
            const uint32_t u = ~bits_at(c->ref_out, k);
            memcpy(c->out + k, &u, sizeof u);
        }
        emb_status st;
        t->calls++;
        if (op == 0) {
            const float *table = b->null_matrix ? NULL : b->overlap ? c->work : c->table->data;
            float *out = b->null_rows ? NULL : b->overlap ? c->work : c->out;
            st = lookup(table, b->vocab, b->dim, ids_arg, b->n, out);
        } else {
            float *dtable = b->null_matrix ? NULL : c->work;
            const float *dout = b->null_rows ? NULL : b->overlap ? c->work : c->dout;
            st = grad(dtable, b->vocab, b->dim, ids_arg, b->n, dout);
        }
        if (st != b->want)
            vf_tally_fail(t, "%s (%s) returned %s, expected %s", what, label, emb_strerror(st),
                          emb_strerror(b->want));
        for (size_t k = 0; k < count; k++)
            if (bits_at(c->out, k) != ~bits_at(c->ref_out, k)) {
                vf_tally_fail(t, "%s (%s) wrote out[%zu] before failing", what, label, k);
                break;
            }
        if (!vf_case_guards_intact(c->out_base, full)) {
            vf_tally_fail(t, "%s (%s): wrote outside out", what, label);
            vf_guards_reset(c->out_base, full);
        }
        check_rows_unchanged(c, t, 1, what);
    }
}

void vf_check_errors(vf_case *c, vf_lookup_fn lookup, vf_grad_fn grad, vf_tally *t)
{
    /* The first few tokens are enough: a bad call must fail whatever n is,
     * and checking that it wrote nothing costs a pass over the output. */
    const int64_t vocab = c->s.vocab, dim = c->s.dim, n = c->s.n < 16 ? c->s.n : 16;
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    if (ids == NULL) {
        vf_tally_fail(t, "out of memory for the error checks");
        return;
    }
    const int mid = (int)(n / 2), last = (int)(n - 1);
    const bad_call calls[] = {
        {"ids[0] = vocab", vocab, dim, n, 0, 0, 0, 0, 0, (int32_t)vocab, EMB_ERANGE},
        {"ids[n/2] = -1", vocab, dim, n, 0, 0, 0, 0, mid, -1, EMB_ERANGE},
        {"ids[n-1] = INT32_MIN", vocab, dim, n, 0, 0, 0, 0, last, INT32_MIN, EMB_ERANGE},
        {"ids[n-1] = INT32_MAX", vocab, dim, n, 0, 0, 0, 0, last, INT32_MAX, EMB_ERANGE},
        {"vocab one too small", vocab - 1 > 0 ? vocab - 1 : 0, dim, n, 0, 0, 0, 0, -1, 0,
         vocab - 1 > 0 ? EMB_ERANGE : EMB_EINVAL},
        {"vocab = 0", 0, dim, n, 0, 0, 0, 0, -1, 0, EMB_EINVAL},
        {"dim = 0", vocab, 0, n, 0, 0, 0, 0, -1, 0, EMB_EINVAL},
        {"dim = -1", vocab, -1, n, 0, 0, 0, 0, -1, 0, EMB_EINVAL},
        {"n = -1", vocab, dim, -1, 0, 0, 0, 0, -1, 0, EMB_EINVAL},
        {"vocab x dim overflowing size_t", INT64_MAX / 2, dim + 2, n, 0, 0, 0, 0, -1, 0,
         EMB_EINVAL},
        {"ids = NULL", vocab, dim, n, 1, 0, 0, 0, -1, 0, EMB_EINVAL},
        {"table/dtable = NULL", vocab, dim, n, 0, 1, 0, 0, -1, 0, EMB_EINVAL},
        {"out/dout = NULL", vocab, dim, n, 0, 0, 1, 0, -1, 0, EMB_EINVAL},
        {"out/dout overlapping table/dtable", vocab, dim, n, 0, 0, 0, 1, -1, 0, EMB_EINVAL},
    };
    for (size_t b = 0; b < sizeof calls / sizeof calls[0]; b++) {
        /* "vocab one too small" is only a range error when some id is the
         * last row; otherwise the call is valid and not an error check. */
        if (b == 4 && vocab > 1) {
            int names_last = 0;
            for (int64_t i = 0; i < n; i++)
                names_last |= c->ids[i] == vocab - 1;
            if (!names_last)
                continue;
        }
        run_bad_call(c, &calls[b], n, lookup, grad, ids, t);
    }
    free(ids);
}

/* ------------------------------------------------------------------ */
/* Typed kernels: any (op, in, out) of the library's list               */
/* ------------------------------------------------------------------ */

int vf_kernel_modelled(int k, char *why, size_t size)
{
    const emb_kernel *kn = emb_kernel_at(k);
    vf_format fi, fo;
    if (kn == NULL) {
        snprintf(why, size, "kernel %d does not exist", k);
        return 0;
    }
    if (!vf_kernel_is_base(kn)) {
        snprintf(why, size, "%s: an op of its own, checked in its own section", kn->name);
        return 0;
    }
    if (!vf_format_of(kn->in, &fi) || !vf_format_of(kn->out, &fo)) {
        snprintf(why, size, "%s: formats.h has no model of type %d", kn->name,
                 vf_format_known(kn->in) ? (int)kn->out : (int)kn->in);
        return 0;
    }
    if (kn->op == EMB_OP_LOOKUP && (kn->out == EMB_F32 || kn->out == kn->in))
        return 1;
    if (kn->op == EMB_OP_GRAD && kn->out == EMB_F32 && (kn->in == EMB_F32 || fi.elem_bits == 16))
        return 1;
    snprintf(why, size, "%s: neither a widening into f32, a bit copy, nor a gradient from an "
                        "element type into f32: the verifier has no model for it", kn->name);
    return 0;
}

static const void *ids_arg(const vf_case *c)
{
    return c->id_type == EMB_I64 ? (const void *)c->ids64 : (const void *)c->ids;
}

static int64_t id_at(const vf_case *c, size_t i) { return c->ids[i]; }

/* One element of a row of an element type (4 or 2 bytes) or, for the
 * others, one byte, as a number for messages. */
static uint32_t elem_bits_at(const uint8_t *row, size_t width, size_t j)
{
    return width == 4 ? vf_le32(row + 4 * j) : width == 2 ? vf_le16(row + 2 * j) : row[j];
}

/* What fills out beyond the bytes a call may write (a copy kernel's rows
 * are shorter than n x dim floats). */
enum { TAIL_BYTE = 0x5A };

/* Index of the first of count bytes that is not b; count when all are. */
static size_t first_not(const uint8_t *p, uint8_t b, size_t count)
{
    uint64_t pattern;
    memset(&pattern, b, sizeof pattern);
    size_t k = 0;
    for (; k + 8 <= count; k += 8) {
        uint64_t w;
        memcpy(&w, p + k, sizeof w);
        if (w != pattern)
            break;
    }
    for (; k < count; k++)
        if (p[k] != b)
            return k;
    return count;
}

static void check_lookup_kernel(vf_case *c, const emb_kernel *kn, vf_tally *t)
{
    const vf_table *tb = c->table;
    const size_t n = (size_t)c->s.n, dim = (size_t)c->s.dim;
    const size_t orb = vf_format_row_bytes(kn->out, c->s.dim);
    const size_t out_bytes = n * orb, buf_bytes = c->out_count * sizeof(float);
    vf_format fo = {1, 4, 0, 32, 0, {0, 0}};
    vf_format_of(kn->out, &fo);
    /* Elements are compared as their own width; a row of another type
     * (a quantized copy) byte by byte. */
    const size_t width = fo.elem_bits ? (size_t)fo.elem_bits / 8 : 1;
    const uint32_t dn = vf_default_nan();
    uint8_t *out = (uint8_t *)c->out;
    char label[192];
    vf_case_label(c, label, sizeof label);
    /* The answer: to_f32 of the selected rows, or the rows' own bytes. */
#define WANT_ROW(i)                                                                  \
    (kn->out == EMB_F32 ? (const uint8_t *)(c->ref_out + (i) * dim)                 \
                        : tb->raw + (size_t)id_at(c, (i)) * tb->row_bytes)
    for (size_t i = 0; i < n; i++) {
        uint8_t *o = out + i * orb;
        memcpy(o, WANT_ROW(i), orb);
        size_t b = 0;
        for (; b + 8 <= orb; b += 8) {
            uint64_t w;
            memcpy(&w, o + b, sizeof w);
            w = ~w;
            memcpy(o + b, &w, sizeof w);
        }
        for (; b < orb; b++)
            o[b] = (uint8_t)~o[b];
    }
    memset(out + out_bytes, TAIL_BYTE, buf_bytes - out_bytes);
    t->calls++;
    const emb_status st = emb_lookup(tb->raw, tb->type, c->s.vocab, c->s.dim, ids_arg(c),
                                     c->id_type, c->s.n, out, kn->out);
    if (st != EMB_OK) {
        vf_tally_fail(t, "%s (%s) returned %s: %s", kn->name, label, emb_strerror(st),
                      emb_last_error());
        return;
    }
    t->elems += n * dim;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *want = WANT_ROW(i), *got = out + i * orb;
        if (memcmp(got, want, orb) == 0)
            continue;
        for (size_t j = 0; j < orb / width; j++)
            if (elem_bits_at(got, width, j) != elem_bits_at(want, width, j))
                vf_tally_fail(t, "%s (%s): out[%zu][%s%zu] = 0x%0*x, %s(table[%lld])%s%zu%s = 0x%0*x",
                              kn->name, label, i, width == 1 ? "byte " : "", j, (int)width * 2,
                              elem_bits_at(got, width, j), kn->out == EMB_F32 ? "to_f32" : "",
                              (long long)id_at(c, i), width == 1 ? " byte " : "[", j,
                              width == 1 ? "" : "]", (int)width * 2, elem_bits_at(want, width, j));
    }
#undef WANT_ROW
    /* The dense product: out widened (the identity for f32) against
     * one-hot x to_f32(W), inside the theorem's domain. */
    for (int64_t r = 0; r < c->n_lk_rows; r++) {
        const size_t i = (size_t)c->lk_rows[r];
        for (size_t j = 0; j < dim; j++) {
            if (!c->lk_domain[(size_t)r * dim + j])
                continue;
            t->dense_elems++;
            const uint32_t got = vf_model_elem(kn->out, out + i * orb, c->s.dim, (int64_t)j, dn);
            if (got != vf_bits(c->lk_dense[(size_t)r * dim + j]))
                vf_tally_fail(t, "%s (%s): to_f32(out[%zu][%zu]) = 0x%08x, one-hot x to_f32(W) gives 0x%08x",
                              kn->name, label, i, j, got, vf_bits(c->lk_dense[(size_t)r * dim + j]));
        }
    }
    const size_t wrote = first_not(out + out_bytes, TAIL_BYTE, buf_bytes - out_bytes);
    if (wrote < buf_bytes - out_bytes)
        vf_tally_fail(t, "%s (%s): wrote out byte %zu, past its %zu bytes", kn->name, label,
                      out_bytes + wrote, out_bytes);
    if (!vf_case_guards_intact(c->out_base, c->out_count)) {
        vf_tally_fail(t, "%s (%s): wrote outside out", kn->name, label);
        vf_guards_reset(c->out_base, c->out_count);
    }
}

void vf_check_kernel(vf_case *c, int k, vf_tally *t)
{
    const emb_kernel *kn = emb_kernel_at(k);
    char why[160];
    if (!vf_kernel_modelled(k, why, sizeof why)) {
        t->calls++;
        vf_tally_fail(t, "%s", why);
        return;
    }
    if (kn->op == EMB_OP_LOOKUP) {
        if (kn->in != c->table->type) {
            vf_tally_fail(t, "%s run on a %s table", kn->name, emb_type_name(c->table->type));
            return;
        }
        check_lookup_kernel(c, kn, t);
        return;
    }
    if (c->no_grad || kn->in != c->dout_type) {
        vf_tally_fail(t, "%s run on a case without a %s dout", kn->name, emb_type_name(kn->in));
        return;
    }
    const grad_route route = {NULL, kn};
    check_grad(c, &route, t);
}

/* ---- calls that must fail, typed ---------------------------------------- */

/* BAD_CALL_BYTE fills out before a call that must fail: a row the call
 * wrongly copied there is all but sure to differ from it. */
enum { MAX_TYPED_BAD = 40, ERR_IDS = 16, BAD_CALL_BYTE = 0xC3 };

typedef struct typed_bad {
    const char *what;
    int64_t vocab, dim, n;
    int null_ids, null_matrix, null_rows, overlap, ids_overlap;
    int bad_pos; /* -1: ids as they are */
    int64_t bad_id;
    emb_type in, out; /* lookup: table and out types; grad: dout type (out unused) */
    emb_index id_type;
    emb_status want;
} typed_bad;

/* A type that no kernel of op turns `in` into (lookup), or that op has no
 * kernel from (grad); EMB_TYPE_COUNT when every pair exists. */
static emb_type no_kernel_type(emb_op op, emb_type in)
{
    for (int u = 0; u < EMB_TYPE_COUNT; u++) {
        int found = 0;
        for (int k = 0; k < emb_kernel_count(); k++) {
            const emb_kernel *kn = emb_kernel_at(k);
            found |= kn->op == op && (op == EMB_OP_LOOKUP ? kn->in == in && kn->out == (emb_type)u
                                                          : kn->in == (emb_type)u);
        }
        if (!found)
            return (emb_type)u;
    }
    return (emb_type)EMB_TYPE_COUNT;
}

static void run_typed_bad(vf_case *c, const emb_kernel *kn, int k, int index, const typed_bad *b,
                          int64_t n, vf_tally *t)
{
    const int grad = kn->op == EMB_OP_GRAD;
    const size_t dim = (size_t)c->s.dim;
    /* Up to n + 1 rows of the output are compared; the guards catch the rest. */
    const size_t rows = (size_t)n + 1 < (size_t)c->s.n ? (size_t)n + 1 : (size_t)c->s.n;
    const size_t words = rows * dim < c->out_count ? rows * dim : c->out_count;
    int32_t ids32[ERR_IDS];
    int64_t ids64[ERR_IDS];
    for (int64_t i = 0; i < n; i++) {
        ids32[i] = c->ids[i];
        ids64[i] = c->ids[i];
    }
    if (b->bad_pos >= 0) {
        ids32[b->bad_pos] = (int32_t)b->bad_id;
        ids64[b->bad_pos] = b->bad_id;
    }
    const void *ids = b->null_ids      ? NULL
                      : b->ids_overlap ? (grad ? (const void *)c->work : (const void *)c->out)
                      : c->id_type == EMB_I64 ? (const void *)ids64
                                                : (const void *)ids32;
    char label[192], what[256];
    vf_case_label(c, label, sizeof label);
    snprintf(what, sizeof what, "%s with %s", kn->name, b->what);
    memset(c->out, BAD_CALL_BYTE, words * sizeof(float));
    t->calls++;
    emb_status st;
    if (!grad) {
        const void *table = b->null_matrix ? NULL : b->overlap ? (const void *)c->out
                                                               : (const void *)c->table->raw;
        st = emb_lookup(table, b->in, b->vocab, b->dim, ids, b->id_type, b->n,
                        b->null_rows ? NULL : c->out, b->out);
    } else {
        const void *dout = b->null_rows ? NULL : b->overlap ? (const void *)c->work
                                                            : (const void *)c->dout_raw;
        st = emb_grad(b->null_matrix ? NULL : c->work, b->vocab, b->dim, ids, b->id_type, b->n,
                      dout, b->in);
    }
    if (st != b->want)
        vf_tally_fail(t, "%s (%s) returned %s, expected %s", what, label, emb_strerror(st),
                      emb_strerror(b->want));
    /* The same words as the first run: no implementation explains a
     * failure differently. */
    char *ref = c->err_ref[(size_t)k * MAX_TYPED_BAD + (size_t)index];
    if (!(c->err_ref_set >> k & 1))
        snprintf(ref, 320, "%s", emb_last_error());
    else if (strcmp(ref, emb_last_error()) != 0)
        vf_tally_fail(t, "%s (%s): message \"%s\", the first run's \"%s\"", what, label,
                      emb_last_error(), ref);
    const size_t wrote = first_not((const uint8_t *)c->out, BAD_CALL_BYTE, words * sizeof(float));
    if (wrote < words * sizeof(float))
        vf_tally_fail(t, "%s (%s) wrote out[%zu] before failing", what, label, wrote / sizeof(float));
    if (!vf_case_guards_intact(c->out_base, c->out_count)) {
        vf_tally_fail(t, "%s (%s): wrote outside out", what, label);
        vf_guards_reset(c->out_base, c->out_count);
    }
    /* Only grad is handed the dtable. */
    if (grad)
        check_rows_unchanged(c, t, 1, what);
}

void vf_check_kernel_errors(vf_case *c, int k, vf_tally *t)
{
    const emb_kernel *kn = emb_kernel_at(k);
    char why[160];
    if (!vf_kernel_modelled(k, why, sizeof why)) {
        t->calls++;
        vf_tally_fail(t, "%s", why);
        return;
    }
    if (k >= 64 || (kn->op == EMB_OP_GRAD && c->no_grad))
        return;
    if (c->err_ref == NULL) {
        c->err_ref = calloc((size_t)emb_kernel_count() * MAX_TYPED_BAD, sizeof *c->err_ref);
        if (c->err_ref == NULL) {
            vf_tally_fail(t, "out of memory for the error checks");
            return;
        }
    }
    const int64_t vocab = c->s.vocab, dim = c->s.dim, n = c->s.n < ERR_IDS ? c->s.n : ERR_IDS;
    const emb_type in = kn->in, out = kn->out;
    const emb_index it = c->id_type;
    const int i64 = it == EMB_I64, mid = (int)(n / 2), last = (int)(n - 1);
    int names_last = 0;
    for (int64_t i = 0; i < n; i++)
        names_last |= c->ids[i] == vocab - 1;
    /* A dim the types reject, when one has blocks. */
    int64_t bad_dim = 0;
    for (int64_t d = dim + 1; d <= dim + 64 && bad_dim == 0; d++)
        if (vf_format_row_bytes(in, d) == 0 || vf_format_row_bytes(out, d) == 0)
            bad_dim = d;
    const emb_type orphan = no_kernel_type(kn->op, in);
    typed_bad calls[MAX_TYPED_BAD];
    int count = 0;
#define BAD(...)                                                                     \
    do {                                                                             \
        const typed_bad b_ = {__VA_ARGS__};                                          \
        calls[count++] = b_;                                                         \
    } while (0)
    BAD("ids[0] = vocab", vocab, dim, n, 0, 0, 0, 0, 0, 0, vocab, in, out, it, EMB_ERANGE);
    BAD("ids[n/2] = -1", vocab, dim, n, 0, 0, 0, 0, 0, mid, -1, in, out, it, EMB_ERANGE);
    BAD(i64 ? "ids[n-1] = INT64_MIN" : "ids[n-1] = INT32_MIN", vocab, dim, n, 0, 0, 0, 0, 0, last,
        i64 ? INT64_MIN : INT32_MIN, in, out, it, EMB_ERANGE);
    BAD(i64 ? "ids[n-1] = INT64_MAX" : "ids[n-1] = INT32_MAX", vocab, dim, n, 0, 0, 0, 0, 0, last,
        i64 ? INT64_MAX : INT32_MAX, in, out, it, EMB_ERANGE);
    if (i64) {
        /* Valid if an implementation kept only the low 32 bits. */
        BAD("ids[n/2] = 2^32 + ids[n/2]", vocab, dim, n, 0, 0, 0, 0, 0, mid,
            ((int64_t)1 << 32) + c->ids[mid], in, out, it, EMB_ERANGE);
        BAD("ids[0] = 2^31", vocab, dim, n, 0, 0, 0, 0, 0, 0, (int64_t)1 << 31, in, out, it,
            EMB_ERANGE);
    }
    if (vocab == 1 || names_last)
        BAD("vocab one too small", vocab - 1, dim, n, 0, 0, 0, 0, 0, -1, 0, in, out, it,
            vocab == 1 ? EMB_EINVAL : EMB_ERANGE);
    BAD("vocab = 0", 0, dim, n, 0, 0, 0, 0, 0, -1, 0, in, out, it, EMB_EINVAL);
    BAD("dim = 0", vocab, 0, n, 0, 0, 0, 0, 0, -1, 0, in, out, it, EMB_EINVAL);
    BAD("dim = -1", vocab, -1, n, 0, 0, 0, 0, 0, -1, 0, in, out, it, EMB_EINVAL);
    if (bad_dim != 0)
        BAD("a dim not valid for the types", vocab, bad_dim, n, 0, 0, 0, 0, 0, -1, 0, in, out,
            it, EMB_EINVAL);
    BAD("n = -1", vocab, dim, -1, 0, 0, 0, 0, 0, -1, 0, in, out, it, EMB_EINVAL);
    BAD("vocab x dim overflowing size_t", INT64_MAX / 2, dim + 2, n, 0, 0, 0, 0, 0, -1, 0, in,
        out, it, EMB_EINVAL);
    BAD("ids = NULL", vocab, dim, n, 1, 0, 0, 0, 0, -1, 0, in, out, it, EMB_EINVAL);
    BAD("table/dtable = NULL", vocab, dim, n, 0, 1, 0, 0, 0, -1, 0, in, out, it, EMB_EINVAL);
    BAD("out/dout = NULL", vocab, dim, n, 0, 0, 1, 0, 0, -1, 0, in, out, it, EMB_EINVAL);
    BAD("out/dout overlapping table/dtable", vocab, dim, n, 0, 0, 0, 1, 0, -1, 0, in, out, it,
        EMB_EINVAL);
    BAD("ids overlapping the buffer written", vocab, dim, n, 0, 0, 0, 0, 1, -1, 0, in, out, it,
        EMB_EINVAL);
    BAD("an unknown id type", vocab, dim, n, 0, 0, 0, 0, 0, -1, 0, in, out, (emb_index)2,
        EMB_EINVAL);
    BAD("an unknown element type", vocab, dim, n, 0, 0, 0, 0, 0, -1, 0,
        (emb_type)EMB_TYPE_COUNT, out, it, EMB_EINVAL);
    if (orphan != (emb_type)EMB_TYPE_COUNT) {
        if (kn->op == EMB_OP_LOOKUP)
            BAD("an out type no lookup kernel makes", vocab, dim, n, 0, 0, 0, 0, 0, -1, 0, in,
                orphan, it, EMB_EINVAL);
        else
            BAD("a dout type no grad kernel takes", vocab, dim, n, 0, 0, 0, 0, 0, -1, 0, orphan,
                out, it, EMB_EINVAL);
    }
#undef BAD
    for (int b = 0; b < count; b++)
        run_typed_bad(c, kn, k, b, &calls[b], n, t);
    c->err_ref_set |= (uint64_t)1 << k;
}
