/* check.c - the checkers: one call of a lookup or grad kernel, given as a
 * function pointer, against the definition, the dense product and the guard
 * words; and the calls that must fail without writing anything. */
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
            char label[128];
            vf_shape_label(&c->s, label, sizeof label);
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
        char label[128];
        vf_shape_label(&c->s, label, sizeof label);
        vf_tally_fail(t, "%s (%s): wrote outside dtable", what, label);
        vf_guards_reset(c->work_base, (size_t)vocab * dim);
    }
}

void vf_check_lookup(vf_case *c, vf_lookup_fn f, vf_tally *t)
{
    const size_t dim = (size_t)c->s.dim, count = (size_t)c->s.n * dim;
    char label[128];
    vf_shape_label(&c->s, label, sizeof label);
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

void vf_check_grad(vf_case *c, vf_grad_fn f, vf_tally *t)
{
    const size_t dim = (size_t)c->s.dim;
    char label[128];
    vf_shape_label(&c->s, label, sizeof label);
    t->calls++;
    const emb_status st = f(c->work, c->s.vocab, c->s.dim, c->ids, c->s.n, c->dout);
    if (st != EMB_OK)
        vf_tally_fail(t, "grad (%s) returned %s: %s", label, emb_strerror(st), emb_last_error());
    for (int64_t m = 0; st == EMB_OK && m < c->n_touched; m++) {
        const size_t k = (size_t)c->touched[m];
        for (size_t j = 0; j < dim; j++) {
            const vf_val want = c->ref_grad[(size_t)m * dim + j];
            const uint32_t got = bits_at(c->work, k * dim + j);
            if (!vf_matches(got, want))
                vf_tally_fail(t,
                              "grad (%s): dtable[%zu][%zu] = 0x%08x, the scatter-add in token "
                              "order gives %s0x%08x",
                              label, k, j, got, want.loose ? "a NaN such as " : "", want.bits);
        }
        t->elems += dim;
    }
    /* Untouched rows first, so a stray write is reported as one. */
    check_rows_unchanged(c, t, 0, "grad");
    for (int64_t r = 0; st == EMB_OK && r < c->n_gr_rows; r++) {
        const size_t k = (size_t)c->gr_rows[r];
        for (size_t j = 0; j < dim; j++) {
            if (!c->gr_domain[(size_t)r * dim + j])
                continue;
            t->dense_elems++;
            if (bits_at(c->work, k * dim + j) != bits_at(c->gr_dense, (size_t)r * dim + j))
                vf_tally_fail(t,
                              "grad (%s): dtable[%zu][%zu] = 0x%08x, dtable + one-hot^T x dout "
                              "gives 0x%08x",
                              label, k, j, bits_at(c->work, k * dim + j),
                              bits_at(c->gr_dense, (size_t)r * dim + j));
        }
    }
    restore_touched(c);
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
    char label[128], what[192];
    vf_shape_label(&c->s, label, sizeof label);
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
