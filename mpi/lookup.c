/* lookup.c - the sharded lookup and its gradient. */
#include <stdlib.h>
#include <string.h>

#include "mpi_internal.h"

/* The core op's own checks of types and options, run on one zero row: an
 * unsupported pair or a bad dout type is found before anything travels,
 * in the core's words. */
static emb_status dry_lookup(const emb_mpi_table *t, emb_type out_type)
{
    const size_t tb = emb_row_bytes(t->type, t->dim), ob = emb_row_bytes(out_type, t->dim);
    if (ob == 0) {
        emb_mpi_fail("out_type %d (%s) has no row of dim = %lld", (int)out_type,
                     emb_type_name(out_type) ? emb_type_name(out_type) : "unknown",
                     (long long)t->dim);
        return EMB_EINVAL;
    }
    void *row = calloc(1, tb), *out = malloc(ob);
    const int64_t zero = 0;
    emb_status st = EMB_ENOMEM;
    if (row != NULL && out != NULL)
        st = emb_lookup(row, t->type, 1, t->dim, &zero, EMB_I64, 1, out, out_type);
    if (st != EMB_OK) {
        if (row != NULL && out != NULL)
            emb_mpi_fail_core();
        else
            emb_mpi_fail("no memory for one row");
    }
    free(row);
    free(out);
    return st;
}

static emb_status check_shard(const emb_mpi_table *t, const void *shard, const char *name)
{
    if (shard == NULL && t->local_rows > 0) {
        emb_mpi_fail("%s is NULL with %lld local rows", name, (long long)t->local_rows);
        return EMB_EINVAL;
    }
    return EMB_OK;
}

emb_status emb_mpi_lookup(emb_mpi_table *t, const void *ids, emb_index id_type, int64_t n,
                          void *out, emb_type out_type)
{
    const char *op = "emb_mpi_lookup";
    const emb_mpi_clock c = emb_mpi_clock_start(t);
    emb_status st = emb_mpi_check_ids(t, ids, id_type, n);
    if (st == EMB_OK && n > 0 && out == NULL) {
        emb_mpi_fail("out is NULL with n = %lld", (long long)n);
        st = EMB_EINVAL;
    }
    if (st == EMB_OK)
        st = check_shard(t, t->rows, "t->rows");
    if (st == EMB_OK)
        st = dry_lookup(t, out_type);
    const emb_mpi_sig sig = {2, {id_type, out_type}, {"id_type", "out_type"}};
    return emb_mpi_clock_stop(t, c,
                              emb_mpi_fetch(t, op, st, &sig, ids, id_type, n, out, out_type));
}

static emb_status dry_grad(const emb_mpi_table *t, emb_type dout_type, int scale)
{
    const size_t gb = emb_row_bytes(dout_type, t->dim);
    float *d = calloc((size_t)t->dim, sizeof *d);
    void *g = calloc(1, gb > 0 ? gb : 1);
    const int64_t zero = 0;
    const emb_grad_options o = {EMB_NO_PADDING, scale};
    emb_status st = EMB_ENOMEM;
    if (d != NULL && g != NULL)
        st = emb_grad_ex(d, 1, t->dim, &zero, EMB_I64, 1, g, dout_type, &o);
    if (st != EMB_OK) {
        if (d != NULL && g != NULL)
            emb_mpi_fail_core();
        else
            emb_mpi_fail("no memory for one row");
    }
    free(d);
    free(g);
    return st;
}

emb_status emb_mpi_grad(emb_mpi_table *t, float *dshard, const void *ids, emb_index id_type,
                        int64_t n, const void *dout, emb_type dout_type,
                        const emb_grad_options *opt)
{
    const char *op = "emb_mpi_grad";
    const emb_mpi_clock c = emb_mpi_clock_start(t);
    const size_t gb = emb_row_bytes(dout_type, t->dim);
    int64_t pad = -1;
    emb_mpi_route r;
    memset(&r, 0, sizeof r);
    emb_status st = emb_mpi_check_ids(t, ids, id_type, n);
    if (st == EMB_OK && n > 0 && dout == NULL) {
        emb_mpi_fail("dout is NULL with n = %lld", (long long)n);
        st = EMB_EINVAL;
    }
    if (st == EMB_OK)
        st = check_shard(t, dshard, "dshard");
    if (st == EMB_OK && opt != NULL)
        st = emb_mpi_padding(t, opt->padding_idx, &pad);
    if (st == EMB_OK)
        st = dry_grad(t, dout_type, opt != NULL && opt->scale_grad_by_freq);
    /* Padding tokens add nothing: they never leave this rank. */
    if (st == EMB_OK)
        st = emb_mpi_route_build(t, ids, id_type, n, pad, 0, gb, &r);
    const emb_mpi_sig sig = {4,
                             {id_type, dout_type, pad, opt != NULL && opt->scale_grad_by_freq},
                             {"id_type", "dout_type", "padding_idx", "scale_grad_by_freq"}};
    if (st == EMB_OK)
        for (int64_t i = 0; i < n; i++)
            if (r.slot[i] >= 0)
                memcpy((uint8_t *)r.srows + (size_t)r.slot[i] * gb,
                       (const uint8_t *)dout + (size_t)i * gb, gb);
    st = emb_mpi_route_send(t, op, st, &sig, id_type, gb, &r);
    if (st == EMB_OK)
        st = emb_mpi_exchange(t, op, &r.plan, 0, r.srows, r.rrows, gb);
    /* Rows arrive by source rank, each rank's in its token order: the
     * global token order restricted to this shard, so each row sees its
     * additions in the order one process would make them. Every token of
     * a row arrives here, so scale_grad_by_freq counts the global batch. */
    if (st == EMB_OK && r.plan.nrecv > 0) {
        const emb_grad_options o = {EMB_NO_PADDING, opt != NULL && opt->scale_grad_by_freq};
        st = emb_grad_ex(dshard, t->local_rows, t->dim, r.rids, id_type, r.plan.nrecv, r.rrows,
                         dout_type, &o);
        if (st != EMB_OK) {
            emb_mpi_fail_core();
            emb_mpi_local_error(t, op, st);
        }
    }
    emb_mpi_route_free(&r);
    return emb_mpi_clock_stop(t, c, st);
}
