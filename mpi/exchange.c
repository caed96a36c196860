/* exchange.c - the all-to-alls: counts, then ids or rows, bucketed by
 * owner in token order. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "mpi_internal.h"

emb_status emb_mpi_plan_finish(const emb_mpi_table *t, emb_mpi_plan *p)
{
    int64_t s = 0, r = 0;
    for (int k = 0; k < t->nranks; k++) {
        p->sdispl[k] = (int)s; /* s <= n <= INT_MAX: checked with the ids */
        s += p->scount[k];
        p->rdispl[k] = r <= INT_MAX ? (int)r : 0;
        r += p->rcount[k];
    }
    p->nsend = s;
    p->nrecv = r;
    if (r > INT_MAX) {
        emb_mpi_fail("%lld items arrive here in one call, beyond MPI's int counts (%d): "
                     "split the batch", (long long)r, INT_MAX);
        return EMB_EINVAL;
    }
    return EMB_OK;
}

emb_status emb_mpi_exchange(emb_mpi_table *t, const char *op, const emb_mpi_plan *p, int reverse,
                            const void *send, void *recv, size_t item_bytes)
{
    const int *sc = reverse ? p->rcount : p->scount, *sd = reverse ? p->rdispl : p->sdispl;
    const int *rc = reverse ? p->scount : p->rcount, *rd = reverse ? p->sdispl : p->rdispl;
    const double w0 = MPI_Wtime();
    /* One derived type per item: counts and displacements stay in items,
     * well inside int, whatever the row's size. */
    MPI_Datatype item;
    emb_status st = emb_mpi_check(t, op, "MPI_Type_contiguous",
                                  MPI_Type_contiguous((int)item_bytes, MPI_BYTE, &item));
    if (st == EMB_OK) {
        st = emb_mpi_check(t, op, "MPI_Type_commit", MPI_Type_commit(&item));
        if (st == EMB_OK)
            st = emb_mpi_check(t, op, "MPI_Alltoallv",
                               MPI_Alltoallv(send, sc, sd, item, recv, rc, rd, item, t->comm));
        MPI_Type_free(&item);
    }
    for (int r = 0; r < t->nranks; r++)
        if (r != t->rank)
            t->stats.bytes_sent += (uint64_t)sc[r] * item_bytes;
    t->stats.comm_seconds += MPI_Wtime() - w0;
    return st;
}

size_t emb_mpi_hash_slots(int64_t n)
{
    size_t slots = 16;
    while (slots < 2 * (size_t)(n > 0 ? n : 1))
        slots *= 2;
    return slots;
}

int64_t emb_mpi_first_same(int64_t *hash, size_t slots, const void *ids, emb_index id_type,
                           int64_t i)
{
    const int64_t id = emb_mpi_id_at(ids, id_type, i);
    size_t h = (size_t)(((uint64_t)id * 0x9E3779B97F4A7C15u) >> 17) & (slots - 1);
    while (hash[h] >= 0 && emb_mpi_id_at(ids, id_type, hash[h]) != id)
        h = (h + 1) & (slots - 1);
    if (hash[h] < 0)
        hash[h] = i;
    return hash[h];
}

emb_status emb_mpi_route_build(emb_mpi_table *t, const void *ids, emb_index id_type,
                               int64_t n, int64_t skip, int fetch, size_t srow_bytes,
                               emb_mpi_route *r)
{
    memset(r, 0, sizeof *r);
    const size_t ib = emb_mpi_id_bytes(id_type), cap = n > 0 ? (size_t)n : 1;
    const size_t hslots = emb_mpi_hash_slots(n);
    emb_mpi_plan_init(t, &r->plan, 0);
    r->slot = emb_mpi_buf(t, EMB_MPI_BUF_SLOT, cap * sizeof *r->slot);
    r->sids = emb_mpi_buf(t, EMB_MPI_BUF_SIDS, cap * ib);
    r->srows = emb_mpi_buf(t, EMB_MPI_BUF_SROWS, cap * srow_bytes);
    int *next = calloc((size_t)t->nranks, sizeof *next);
    int64_t *hash = fetch ? malloc(hslots * sizeof *hash) : NULL;
    if (r->slot == NULL || r->sids == NULL || r->srows == NULL || next == NULL ||
        (fetch && hash == NULL)) {
        free(next);
        free(hash);
        emb_mpi_fail("no memory to bucket %lld ids", (long long)n);
        return EMB_ENOMEM;
    }
    for (size_t k = 0; fetch && k < hslots; k++)
        hash[k] = -1;
    /* Pass 1: the counts. slot[i] is for now i, or (a fetch's repeat) the
     * token it repeats; -1 skipped, -2 this rank's own row (a fetch). */
    for (int64_t i = 0; i < n; i++) {
        const int64_t id = emb_mpi_id_at(ids, id_type, i);
        int64_t local;
        const int o = id != skip ? emb_mpi_owner(t, id, &local) : -1;
        r->slot[i] = o < 0 ? -1 : fetch && o == t->rank ? -2 : i;
        if (r->slot[i] < 0)
            continue;
        if (fetch && (r->slot[i] = emb_mpi_first_same(hash, hslots, ids, id_type, i)) != i)
            continue;
        r->plan.scount[o]++;
    }
    free(hash);
    int64_t s = 0;
    for (int k = 0; k < t->nranks; k++) {
        next[k] = (int)s;
        s += r->plan.scount[k];
    }
    /* Pass 2: each sent token at the end of its owner's run, so that every
     * bucket keeps token order; a repeat takes its first's slot. */
    for (int64_t i = 0; i < n; i++) {
        const int64_t first = r->slot[i];
        if (first < 0)
            continue;
        if (first != i) {
            r->slot[i] = r->slot[first];
            continue;
        }
        int64_t local;
        const int o = emb_mpi_owner(t, emb_mpi_id_at(ids, id_type, i), &local);
        r->slot[i] = next[o]++;
        emb_mpi_id_put(r->sids, id_type, r->slot[i], local);
    }
    free(next);
    return EMB_OK;
}

emb_status emb_mpi_route_send(emb_mpi_table *t, const char *op, emb_status local,
                              const emb_mpi_sig *sig, emb_index id_type, size_t rrow_bytes,
                              emb_mpi_route *r)
{
    emb_mpi_plan *pl = &r->plan;
    if (local != EMB_OK) /* still takes part: the others must learn of it */
        emb_mpi_plan_init(t, pl, 0);
    emb_status st = emb_mpi_open(t, op, local, sig, &pl, 1);
    if (st != EMB_OK)
        return st;
    st = emb_mpi_plan_finish(t, pl);
    if (st == EMB_OK) {
        const size_t cap = pl->nrecv > 0 ? (size_t)pl->nrecv : 1;
        r->rids = emb_mpi_buf(t, EMB_MPI_BUF_RIDS, cap * emb_mpi_id_bytes(id_type));
        r->rrows = emb_mpi_buf(t, EMB_MPI_BUF_RROWS, cap * rrow_bytes);
        if (r->rids == NULL || r->rrows == NULL) {
            emb_mpi_fail("no memory for %lld ids and rows arriving", (long long)pl->nrecv);
            st = EMB_ENOMEM;
        }
    }
    /* Past this agreement every buffer of the call exists: no rank can
     * fail for want of memory while others wait in an all-to-all. */
    st = emb_mpi_agree(t, op, st);
    if (st != EMB_OK)
        return st;
    return emb_mpi_exchange(t, op, pl, 0, r->sids, r->rids, emb_mpi_id_bytes(id_type));
}

void emb_mpi_route_free(emb_mpi_route *r)
{
    memset(r, 0, sizeof *r); /* the arrays and counts stay with the table */
}

void emb_mpi_copy_rows(const emb_mpi_table *t, const void *ids, emb_index id_type, int64_t n,
                       void *dst)
{
    const size_t rb = emb_row_bytes(t->type, t->dim);
    for (int64_t k = 0; k < n; k++)
        memcpy((uint8_t *)dst + (size_t)k * rb,
               (const uint8_t *)t->rows + (size_t)emb_mpi_id_at(ids, id_type, k) * rb, rb);
}

emb_status emb_mpi_fetch_remote(emb_mpi_table *t, const char *op, emb_status prior,
                                const emb_mpi_sig *sig, const void *ids, emb_index id_type,
                                int64_t n, emb_type out_type, void *dst, emb_mpi_route *r)
{
    const int raw = out_type == EMB_MPI_RAW;
    const size_t ob = emb_row_bytes(raw ? t->type : out_type, t->dim);
    memset(r, 0, sizeof *r);
    emb_status st = prior;
    if (st == EMB_OK)
        st = emb_mpi_route_build(t, ids, id_type, n, -1, 1, dst == NULL ? ob : 0, r);
    st = emb_mpi_route_send(t, op, st, sig, id_type, ob, r);
    emb_status local = EMB_OK;
    if (st == EMB_OK && r->plan.nrecv > 0) {
        /* The owner's half: its rows for every rank, in arrival order.
         * The dry run made with the same types passed, so this cannot
         * fail; should it, this rank reports it after the exchange. */
        if (raw)
            emb_mpi_copy_rows(t, r->rids, id_type, r->plan.nrecv, r->rrows);
        else
            local = emb_lookup(t->rows, t->type, t->local_rows, t->dim, r->rids, id_type,
                               r->plan.nrecv, r->rrows, out_type);
        if (local != EMB_OK) {
            emb_mpi_fail_core();
            emb_mpi_local_error(t, op, local);
        }
    }
    if (st == EMB_OK)
        st = emb_mpi_exchange(t, op, &r->plan, 1, r->rrows, dst != NULL ? dst : r->srows, ob);
    return st != EMB_OK ? st : local;
}

emb_status emb_mpi_fetch(emb_mpi_table *t, const char *op, emb_status prior,
                         const emb_mpi_sig *sig, const void *ids, emb_index id_type, int64_t n,
                         void *out, emb_type out_type)
{
    const size_t ob = emb_row_bytes(out_type, t->dim);
    emb_mpi_route r;
    int64_t *own = NULL;
    if (prior == EMB_OK &&
        (own = emb_mpi_buf(t, EMB_MPI_BUF_OWN, (size_t)n * sizeof *own)) == NULL) {
        emb_mpi_fail("no memory for %lld local rows", (long long)n);
        prior = EMB_ENOMEM;
    }
    emb_status st = emb_mpi_fetch_remote(t, op, prior, sig, ids, id_type, n, out_type, NULL, &r);
    /* Into token order: the only writes to out. This rank's own rows go
     * from the shard straight to out, one emb_lookup per run of own
     * tokens, without a copy through the exchange. */
    for (int64_t i = 0; st == EMB_OK && i < n;) {
        uint8_t *o = (uint8_t *)out + (size_t)i * ob;
        if (r.slot[i] >= 0) {
            memcpy(o, (uint8_t *)r.srows + (size_t)r.slot[i] * ob, ob);
            i++;
            continue;
        }
        int64_t len = 0;
        for (; i + len < n && r.slot[i + len] == -2; len++)
            emb_mpi_owner(t, emb_mpi_id_at(ids, id_type, i + len), &own[len]);
        st = emb_lookup(t->rows, t->type, t->local_rows, t->dim, own, EMB_I64, len, o, out_type);
        if (st != EMB_OK) {
            emb_mpi_fail_core();
            emb_mpi_local_error(t, op, st);
        }
        i += len;
    }
    emb_mpi_route_free(&r);
    return st;
}
