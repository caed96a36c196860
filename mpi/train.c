/* train.c - the sharded EmbeddingBag backward and fused optimizer steps.
 *
 * Every gradient travels to its row's owner, which runs the core op on
 * what arrives. The requester splits each bag into sub-bags, one per
 * owner its tokens name (its tokens for that owner, in token order), and
 * sends each sub-bag's gradient row once with its local ids (and
 * weights). The owner receives the sub-bags by source rank, each rank's in
 * bag order: the global token order restricted to its rows. It runs the
 * core op in sum mode on them, which makes per token exactly the
 * operations of the single-process op:
 * - sum: add widen(dout[b]) (weighted: fmaf(w[t], widen(dout[b]), acc), or
 *   for a step g = w[t] * dout[b]), the weight travelling with its token;
 * - mean: the requester computes g = widen(dout[b]) / (float)count, count
 *   the bag's non-padding tokens over every owner (a bag of one sends the
 *   element itself), the one division the core makes, and the owner adds
 *   or steps with g.
 * Padding tokens never leave the requester: they change nothing. */
#include <stdlib.h>
#include <string.h>

#include "mpi_internal.h"

typedef struct sub_plan {
    emb_mpi_plan tok, sub; /* per owner: tokens, and sub-bags */
    size_t item;           /* a token's bytes on the wire: its id, then its weight */
    uint8_t *stok;         /* tokens by owner, token order; a sub-bag's first id is
                              stored as ~id (negative: ids are >= 0) */
    uint8_t *srows;        /* one gradient row per sub-bag */
    uint8_t *rtok, *rrows; /* the same, arrived */
    void *rids;            /* unpacked for the core op: ids, weights, lengths */
    float *rw;
    int64_t *rlen;
} sub_plan;

static void sub_plan_free(sub_plan *p)
{
    free(p->rids); /* tokens and rows are the table's kept buffers */
    free(p->rw);
    free(p->rlen);
}

/* Bag b's end: offsets (PyTorch) or lengths (FBGEMM), already validated. */
static int64_t bag_end(const emb_bags *b, int64_t k, int64_t start, int64_t n)
{
    if (b->lengths != NULL)
        return start + emb_mpi_id_at(b->lengths, b->offset_type, k);
    if (k + 1 < b->nbags || b->include_last_offset)
        return emb_mpi_id_at(b->offsets, b->offset_type, k + 1);
    return n;
}

/* The row one sub-bag of bag k carries. wire: f32 for steps and mean, the
 * dout type for sum; mean divides by cnt (> 1) as the core does. */
static emb_status bag_row(const void *dout, emb_type dout_type, int64_t nbags, int64_t dim,
                          int64_t k, int mean, int64_t cnt, uint8_t *row)
{
    if (!mean) {
        const size_t gb = emb_row_bytes(dout_type, dim);
        memcpy(row, (const uint8_t *)dout + (size_t)k * gb, gb);
        return EMB_OK;
    }
    /* Widened as the core widens dout: emb_lookup into f32 is that
     * conversion (exact for f32, f16 and bf16). */
    emb_status st = emb_lookup(dout, dout_type, nbags, dim, &k, EMB_I64, 1, row, EMB_F32);
    if (st != EMB_OK || cnt <= 1)
        return st;
    float *g = (float *)(void *)row;
    const float c = (float)cnt;
    for (int64_t j = 0; j < dim; j++)
        g[j] = g[j] / c;
    return EMB_OK;
}

/* Local: the sub-bags of every owner, and their rows of wire_bytes. */
static emb_status sub_plan_build(emb_mpi_table *t, const void *ids, emb_index id_type,
                                 int64_t n, const emb_bags *b, int mean, int64_t pad,
                                 const void *dout, emb_type dout_type, size_t wire_bytes,
                                 sub_plan *p)
{
    const int P = t->nranks;
    const size_t ib = emb_mpi_id_bytes(id_type);
    emb_mpi_plan_init(t, &p->tok, 0);
    emb_mpi_plan_init(t, &p->sub, 1);
    p->item = ib + (b->weights != NULL ? sizeof(float) : 0);
    int64_t *last = malloc(4 * (size_t)P * sizeof *last), *cur = last + P;
    int64_t *tcur = cur + P, *scur = tcur + P;
    if (last == NULL)
        goto nomem;
    /* Pass 1: tokens and sub-bags per owner. */
    for (int o = 0; o < P; o++)
        last[o] = -1;
    int64_t nsub = 0, start = 0;
    for (int64_t k = 0; k < b->nbags; k++) {
        const int64_t end = bag_end(b, k, start, n);
        for (int64_t i = start; i < end; i++) {
            const int64_t id = emb_mpi_id_at(ids, id_type, i);
            int64_t local;
            if (id == pad)
                continue;
            const int o = emb_mpi_owner(t, id, &local);
            p->tok.scount[o]++;
            if (last[o] != k) {
                last[o] = k;
                p->sub.scount[o]++;
                nsub++;
            }
        }
        start = end;
    }
    p->stok = emb_mpi_buf(t, EMB_MPI_BUF_SIDS, (n > 0 ? (size_t)n : 1) * p->item);
    p->srows = emb_mpi_buf(t, EMB_MPI_BUF_SROWS, (nsub > 0 ? (size_t)nsub : 1) * wire_bytes);
    if (p->stok == NULL || p->srows == NULL)
        goto nomem;
    int64_t ts = 0, ss = 0;
    for (int o = 0; o < P; o++) {
        tcur[o] = ts;
        scur[o] = ss;
        ts += p->tok.scount[o];
        ss += p->sub.scount[o];
        last[o] = -1;
    }
    /* Pass 2: fill each owner's run in bag and token order. */
    emb_status st = EMB_OK;
    start = 0;
    for (int64_t k = 0; k < b->nbags && st == EMB_OK; k++) {
        const int64_t end = bag_end(b, k, start, n);
        int64_t cnt = 0;
        for (int64_t i = start; i < end; i++)
            cnt += emb_mpi_id_at(ids, id_type, i) != pad;
        for (int64_t i = start; i < end && st == EMB_OK; i++) {
            const int64_t id = emb_mpi_id_at(ids, id_type, i);
            int64_t local;
            if (id == pad)
                continue;
            const int o = emb_mpi_owner(t, id, &local);
            uint8_t *tok = p->stok + (size_t)tcur[o]++ * p->item;
            if (last[o] != k) {
                last[o] = k;
                cur[o] = scur[o]++;
                local = ~local;
                st = bag_row(dout, dout_type, b->nbags, t->dim, k, mean, cnt,
                             p->srows + (size_t)cur[o] * wire_bytes);
            }
            emb_mpi_id_put(tok, id_type, 0, local);
            if (b->weights != NULL)
                memcpy(tok + ib, &b->weights[i], sizeof(float));
        }
        start = end;
    }
    free(last);
    if (st != EMB_OK)
        emb_mpi_fail_core();
    return st;
nomem:
    free(last);
    emb_mpi_fail("no memory to split %lld bags of %lld tokens by owner", (long long)b->nbags,
                 (long long)n);
    return EMB_ENOMEM;
}

/* Collective: the agreement and both plans' counts in one exchange, room
 * for what arrives (agreed), then the tokens and the rows; the tokens
 * unpacked into ids, weights and sub-bag lengths for the core op. */
static emb_status sub_plan_send(emb_mpi_table *t, const char *op, emb_status local,
                                const emb_mpi_sig *sig, emb_index id_type, int weighted,
                                size_t wire_bytes, sub_plan *p)
{
    if (local != EMB_OK) {
        emb_mpi_plan_init(t, &p->tok, 0);
        emb_mpi_plan_init(t, &p->sub, 1);
    }
    emb_mpi_plan *const plans[2] = {&p->tok, &p->sub};
    emb_status st = emb_mpi_open(t, op, local, sig, plans, 2);
    if (st != EMB_OK)
        return st;
    st = emb_mpi_plan_finish(t, &p->tok);
    if (st == EMB_OK)
        st = emb_mpi_plan_finish(t, &p->sub);
    const size_t ib = emb_mpi_id_bytes(id_type);
    if (st == EMB_OK) {
        const size_t nt = p->tok.nrecv > 0 ? (size_t)p->tok.nrecv : 1;
        const size_t ns = p->sub.nrecv > 0 ? (size_t)p->sub.nrecv : 1;
        p->rtok = emb_mpi_buf(t, EMB_MPI_BUF_RIDS, nt * p->item);
        p->rrows = emb_mpi_buf(t, EMB_MPI_BUF_RROWS, ns * wire_bytes);
        p->rids = malloc(nt * ib);
        p->rw = weighted ? malloc(nt * sizeof *p->rw) : NULL;
        p->rlen = malloc(ns * sizeof *p->rlen);
        if (p->rtok == NULL || p->rrows == NULL || p->rids == NULL ||
            (weighted && p->rw == NULL) || p->rlen == NULL) {
            emb_mpi_fail("no memory for %lld tokens in %lld sub-bags arriving",
                         (long long)p->tok.nrecv, (long long)p->sub.nrecv);
            st = EMB_ENOMEM;
        }
    }
    st = emb_mpi_agree(t, op, st);
    if (st == EMB_OK)
        st = emb_mpi_exchange(t, op, &p->tok, 0, p->stok, p->rtok, p->item);
    if (st == EMB_OK)
        st = emb_mpi_exchange(t, op, &p->sub, 0, p->srows, p->rrows, wire_bytes);
    if (st != EMB_OK)
        return st;
    /* Every sub-bag's first token carries ~id: the lengths come back. */
    int64_t s = -1;
    for (int64_t i = 0; i < p->tok.nrecv; i++) {
        const uint8_t *tok = p->rtok + (size_t)i * p->item;
        int64_t id = emb_mpi_id_at(tok, id_type, 0);
        if (id < 0) {
            id = ~id;
            p->rlen[++s] = 0;
        }
        p->rlen[s]++;
        emb_mpi_id_put(p->rids, id_type, i, id);
        if (weighted)
            memcpy(&p->rw[i], tok + ib, sizeof(float));
    }
    return EMB_OK;
}

/* The core's checks of bags, mode, weights, dout type and step on a table
 * of two rows (row 1 the padding row) over the same tokens, with the
 * smallest dim the table's type has: found before anything travels. */
static emb_status dry_train(const emb_mpi_table *t, const void *ids, emb_index id_type,
                            int64_t n, const emb_bags *b, emb_bag_mode mode, int64_t pad,
                            emb_type dout_type, int is_step, const emb_step *step,
                            int want_argmax)
{
    int64_t dim = 1;
    while (dim < 256 && emb_row_bytes(t->type, dim) == 0)
        dim *= 2;
    const size_t cap = n > 0 ? (size_t)n : 1, nb = b->nbags > 0 ? (size_t)b->nbags : 1;
    int64_t *map = malloc(cap * sizeof *map);
    void *table = calloc(2, emb_row_bytes(t->type, dim) + emb_row_bytes(EMB_F32, dim));
    void *dout = calloc(nb * (size_t)dim, 4);
    int64_t *am = want_argmax ? malloc(nb * (size_t)dim * sizeof *am) : NULL;
    float h[2] = {0, 0};
    emb_status st = EMB_ENOMEM;
    if (map != NULL && table != NULL && dout != NULL && (am != NULL || !want_argmax)) {
        for (size_t k = 0; want_argmax && k < nb * (size_t)dim; k++)
            am[k] = -1;
        for (int64_t i = 0; i < n; i++)
            map[i] = emb_mpi_id_at(ids, id_type, i) == pad;
        emb_bags b2 = *b;
        b2.padding_idx = 1;
        if (is_step) {
            emb_step s2 = *step;
            /* A rank without rows needs no accumulators. */
            if (s2.optimizer == EMB_OPT_ROWWISE_ADAGRAD && (s2.h != NULL || t->local_rows == 0))
                s2.h = h;
            st = emb_bag_update(table, t->type, 2, dim, map, EMB_I64, n, &b2, mode, dout, &s2);
        } else {
            st = emb_bag_grad(table, 2, dim, map, EMB_I64, n, &b2, mode, am, dout, dout_type);
        }
        if (st != EMB_OK)
            emb_mpi_fail_core();
    } else {
        emb_mpi_fail("no memory to check %lld bags", (long long)b->nbags);
    }
    free(map);
    free(table);
    free(dout);
    free(am);
    return st;
}

/* The body of both ops: the step on the shard (is_step), or the backward
 * into dshard. */
static emb_status train(emb_mpi_table *t, const char *op, float *dshard, const void *ids,
                        emb_index id_type, int64_t n, const emb_bags *bags, emb_bag_mode mode,
                        const int64_t *argmax, const void *dout, emb_type dout_type,
                        int is_step, const emb_step *step)
{
    const emb_mpi_clock c = emb_mpi_clock_start(t);
    sub_plan p;
    memset(&p, 0, sizeof p);
    int64_t pad = -1;
    const int mean = mode == EMB_BAG_MEAN;
    const emb_type wire = mean || is_step ? EMB_F32 : dout_type;
    const size_t wire_bytes = emb_row_bytes(wire, t->dim);
    emb_status st = emb_mpi_check_ids(t, ids, id_type, n);
    if (st == EMB_OK && is_step && step == NULL) {
        emb_mpi_fail("step is NULL");
        st = EMB_EINVAL;
    }
    if (st == EMB_OK && bags == NULL) {
        emb_mpi_fail("bags is NULL");
        st = EMB_EINVAL;
    }
    const int max = mode == EMB_BAG_MAX && !is_step;
    if (st == EMB_OK && max && bags->nbags > 0 && argmax == NULL) {
        emb_mpi_fail("argmax is NULL in max mode (emb_mpi_bag gives it)");
        st = EMB_EINVAL;
    }
    for (int64_t k = 0; st == EMB_OK && max && k < bags->nbags * t->dim; k++)
        if (argmax[k] < -1 || argmax[k] >= t->vocab) {
            emb_mpi_fail("argmax[%lld] = %lld is neither -1 nor in [0, %lld)", (long long)k,
                         (long long)argmax[k], (long long)t->vocab);
            st = EMB_ERANGE;
        }
    if (st == EMB_OK && bags->nbags > 0 && dout == NULL) {
        emb_mpi_fail("dout is NULL with nbags = %lld", (long long)bags->nbags);
        st = EMB_EINVAL;
    }
    void *shard = is_step ? t->rows : (void *)dshard;
    if (st == EMB_OK && shard == NULL && t->local_rows > 0) {
        emb_mpi_fail("%s is NULL with %lld local rows", is_step ? "t->rows" : "dshard",
                     (long long)t->local_rows);
        st = EMB_EINVAL;
    }
    if (st == EMB_OK)
        st = emb_mpi_padding(t, bags->padding_idx, &pad);
    if (st == EMB_OK)
        st = dry_train(t, ids, id_type, n, bags, mode, pad, dout_type, is_step, step, max);
    if (st == EMB_OK && !max)
        st = sub_plan_build(t, ids, id_type, n, bags, mean, pad, dout, dout_type, wire_bytes, &p);
    const int weighted = st == EMB_OK && bags->weights != NULL;
    emb_mpi_sig sig = {5,
                       {id_type, mode, wire, pad, weighted},
                       {"id_type", "mode", "dout_type", "padding_idx", "weights given"}};
    if (is_step) {
        uint32_t lr = 0, eps = 0;
        if (step != NULL) {
            memcpy(&lr, &step->lr, sizeof lr);
            memcpy(&eps, &step->eps, sizeof eps);
        }
        sig.v[5] = step != NULL ? step->optimizer : 0;
        sig.v[6] = step != NULL ? step->coalesce : 0;
        sig.v[7] = (int64_t)lr << 32 | eps;
        sig.name[5] = "step->optimizer";
        sig.name[6] = "step->coalesce";
        sig.name[7] = "step->lr and step->eps (bits)";
        sig.n = 8;
    }
    if (max)
        return emb_mpi_clock_stop(t, c,
                                  emb_mpi_bag_max_grad(t, op, st, &sig, dshard,
                                                       st == EMB_OK ? bags->nbags : 0, argmax,
                                                       dout, dout_type));
    st = sub_plan_send(t, op, st, &sig, id_type, weighted, wire_bytes, &p);
    if (st == EMB_OK && p.tok.nrecv > 0) {
        const emb_bags lb = {p.sub.nrecv, NULL, p.rlen, EMB_I64, 0, p.rw, EMB_NO_PADDING};
        if (is_step)
            st = emb_bag_update(t->rows, t->type, t->local_rows, t->dim, p.rids, id_type,
                                p.tok.nrecv, &lb, EMB_BAG_SUM, (const float *)(void *)p.rrows,
                                step);
        else
            st = emb_bag_grad(dshard, t->local_rows, t->dim, p.rids, id_type, p.tok.nrecv, &lb,
                              EMB_BAG_SUM, NULL, p.rrows, wire);
        if (st != EMB_OK) {
            emb_mpi_fail_core();
            emb_mpi_local_error(t, op, st);
        }
    }
    sub_plan_free(&p);
    return emb_mpi_clock_stop(t, c, st);
}

emb_status emb_mpi_bag_grad(emb_mpi_table *t, float *dshard, const void *ids,
                            emb_index id_type, int64_t n, const emb_bags *bags,
                            emb_bag_mode mode, const int64_t *argmax, const void *dout,
                            emb_type dout_type)
{
    return train(t, "emb_mpi_bag_grad", dshard, ids, id_type, n, bags, mode, argmax, dout,
                 dout_type, 0, NULL);
}

emb_status emb_mpi_bag_update(emb_mpi_table *t, const void *ids, emb_index id_type, int64_t n,
                              const emb_bags *bags, emb_bag_mode mode, const float *dout,
                              const emb_step *step)
{
    return train(t, "emb_mpi_bag_update", NULL, ids, id_type, n, bags, mode, NULL, dout, EMB_F32,
                 1, step);
}
