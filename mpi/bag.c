/* bag.c - the sharded EmbeddingBag forward.
 *
 * Each distinct row the tokens name (padding aside) is fetched once, as
 * the table stores it, into X,
 * and the bags are pooled here by emb_bag itself over X, a table of the
 * same type: token t names row map[t] of X, padding tokens name X's extra
 * last row, which is the padding row of that call. X holds first the rows
 * other ranks sent, where the exchange puts them (no copy into token
 * order), then this rank's own rows, copied from its shard. The same rows
 * of the same type, pooled by the same call in the same token order:
 * exactly the operations of emb_bag on the whole table - +0, then one add
 * (or fmaf with weights) per token in token order, mean's one division,
 * max's first-wins compare. Owner-side partial sums would send less but
 * add in another order (docs/mpi.md). */
#include <stdlib.h>
#include <string.h>

#include "mpi_internal.h"

typedef struct bag_plan {
    void *fids;   /* the nf distinct fetched global ids, id_type, first occurrence */
    int64_t *gid; /* the same as int64 */
    int64_t *map; /* n: token t's fetch index (nf for padding), then its row of X */
    int64_t *xgid; /* X's rows' global ids, for argmax */
    int64_t nf, npad; /* distinct rows fetched; padding tokens */
} bag_plan;

static void bag_plan_free(bag_plan *p)
{
    free(p->fids);
    free(p->gid);
    free(p->map);
    free(p->xgid);
}

/* The fetch list: each distinct non-padding row once, in order of first
 * occurrence (a row named twice travels once; X is read through map, so
 * the pooling's order is still the tokens'). Open addressing on the id. */
static emb_status bag_plan_build(const void *ids, emb_index id_type, int64_t n, int64_t pad,
                                 bag_plan *p)
{
    const size_t cap = n > 0 ? (size_t)n : 1, slots = emb_mpi_hash_slots(n);
    p->fids = malloc(cap * emb_mpi_id_bytes(id_type));
    p->gid = malloc(cap * sizeof *p->gid);
    p->map = malloc(cap * sizeof *p->map);
    p->xgid = malloc(cap * sizeof *p->xgid);
    int64_t *hash = malloc(slots * sizeof *hash);
    if (p->fids == NULL || p->gid == NULL || p->map == NULL || p->xgid == NULL || hash == NULL) {
        free(hash);
        emb_mpi_fail("no memory to plan %lld tokens", (long long)n);
        return EMB_ENOMEM;
    }
    for (size_t k = 0; k < slots; k++)
        hash[k] = -1;
    p->nf = p->npad = 0;
    for (int64_t i = 0; i < n; i++) {
        const int64_t id = emb_mpi_id_at(ids, id_type, i);
        if (id == pad) {
            p->npad++;
            continue;
        }
        const int64_t first = emb_mpi_first_same(hash, slots, ids, id_type, i);
        if (first == i) {
            emb_mpi_id_put(p->fids, id_type, p->nf, id);
            p->gid[p->nf] = id;
            p->map[i] = p->nf++;
        } else {
            p->map[i] = p->map[first];
        }
    }
    free(hash);
    for (int64_t i = 0; i < n; i++) /* padding: X's row after the fetched ones */
        if (emb_mpi_id_at(ids, id_type, i) == pad)
            p->map[i] = p->nf;
    return EMB_OK;
}

/* emb_bag's own checks of offsets, lengths, weights and mode, on a table
 * of dim 1 over the same tokens: found before anything travels. */
static emb_status dry_bag(const bag_plan *p, int64_t n, const emb_bags *b, emb_bag_mode mode,
                          int want_argmax)
{
    const size_t nb = b->nbags > 0 ? (size_t)b->nbags : 1;
    float *x = calloc((size_t)p->nf + 1, sizeof *x), *o = malloc(nb * sizeof *o);
    int64_t *a = want_argmax ? malloc(nb * sizeof *a) : NULL;
    emb_status st = EMB_ENOMEM;
    if (x != NULL && o != NULL && (a != NULL || !want_argmax)) {
        emb_bags b2 = *b;
        b2.padding_idx = p->nf;
        st = emb_bag(x, EMB_F32, p->nf + 1, 1, p->map, EMB_I64, n, &b2, mode, o, a);
        if (st != EMB_OK)
            emb_mpi_fail_core();
    } else {
        emb_mpi_fail("no memory for %lld bags", (long long)b->nbags);
    }
    free(x);
    free(o);
    free(a);
    return st;
}

emb_status emb_mpi_bag(emb_mpi_table *t, const void *ids, emb_index id_type, int64_t n,
                       const emb_bags *bags, emb_bag_mode mode, float *out, int64_t *argmax)
{
    const char *op = "emb_mpi_bag";
    const emb_mpi_clock c = emb_mpi_clock_start(t);
    const size_t rb = emb_row_bytes(t->type, t->dim);
    bag_plan p = {NULL, NULL, NULL, NULL, 0, 0};
    uint8_t *x = NULL;
    int64_t *own = NULL;
    int64_t pad = -1;
    emb_status st = emb_mpi_check_ids(t, ids, id_type, n);
    if (st == EMB_OK && bags == NULL) {
        emb_mpi_fail("bags is NULL");
        st = EMB_EINVAL;
    }
    if (st == EMB_OK && bags->nbags > 0 && out == NULL) {
        emb_mpi_fail("out is NULL with nbags = %lld", (long long)bags->nbags);
        st = EMB_EINVAL;
    }
    if (st == EMB_OK && t->rows == NULL && t->local_rows > 0) {
        emb_mpi_fail("t->rows is NULL with %lld local rows", (long long)t->local_rows);
        st = EMB_EINVAL;
    }
    if (st == EMB_OK)
        st = emb_mpi_padding(t, bags->padding_idx, &pad);
    if (st == EMB_OK)
        st = bag_plan_build(ids, id_type, n, pad, &p);
    if (st == EMB_OK)
        st = dry_bag(&p, n, bags, mode, argmax != NULL);
    if (st == EMB_OK) {
        x = emb_mpi_buf(t, EMB_MPI_BUF_X, ((size_t)p.nf + 1) * rb);
        own = emb_mpi_buf(t, EMB_MPI_BUF_OWN, (size_t)p.nf * sizeof *own);
        if (x == NULL || own == NULL) {
            emb_mpi_fail("no memory for %lld fetched rows", (long long)p.nf);
            st = EMB_ENOMEM;
        } else {
            memset(x + (size_t)p.nf * rb, 0, rb); /* the padding row, never read */
        }
    }
    const emb_mpi_sig sig = {2, {id_type, pad}, {"id_type", "padding_idx"}};
    emb_mpi_route r;
    st = emb_mpi_fetch_remote(t, op, st, &sig, p.fids, id_type, p.nf, EMB_MPI_RAW, x, &r);
    /* direct: every row this rank's bags need is its own (one rank, or ids
     * that live where they are used) and the padding row is its own or
     * unused: pool straight from the shard, X unused - the same rows, the
     * same call. */
    int direct = 0;
    int64_t local_pad = EMB_NO_PADDING;
    if (st == EMB_OK) {
        /* Rows that came: at their slots; own rows after them, in order. */
        const int64_t nsend = r.plan.nsend;
        int64_t k = 0;
        for (int64_t f = 0; f < p.nf; f++) {
            int64_t row = r.slot[f];
            if (row < 0) {
                emb_mpi_owner(t, p.gid[f], &own[k]);
                row = nsend + k++;
            }
            p.xgid[row] = p.gid[f];
            p.gid[f] = row; /* from here: fetch index -> row of X */
        }
        int64_t unused;
        direct = nsend == 0 && p.nf > 0 &&
                 (p.npad == 0 || emb_mpi_owner(t, pad, &unused) == t->rank);
        if (direct && p.npad > 0)
            emb_mpi_owner(t, pad, &local_pad);
        if (!direct)
            emb_mpi_copy_rows(t, own, EMB_I64, k, x + (size_t)nsend * rb);
        for (int64_t i = 0; i < n; i++) /* own[] is in fetch order when direct */
            p.map[i] = p.map[i] < p.nf ? (direct ? own[p.map[i]] : p.gid[p.map[i]])
                                       : (direct ? local_pad : p.nf);
    }
    emb_mpi_route_free(&r);
    if (st == EMB_OK) {
        emb_bags b2 = *bags;
        b2.padding_idx = direct ? local_pad : p.nf;
        st = direct ? emb_bag(t->rows, t->type, t->local_rows, t->dim, p.map, EMB_I64, n, &b2,
                              mode, out, argmax)
                    : emb_bag(x, t->type, p.nf + 1, t->dim, p.map, EMB_I64, n, &b2, mode, out,
                              argmax);
        if (st != EMB_OK) {
            emb_mpi_fail_core();
            emb_mpi_local_error(t, op, st);
        } else if (argmax != NULL) {
            /* X's rows back to the table's: one process's argmax. */
            const size_t cnt = (size_t)bags->nbags * (size_t)t->dim;
            for (size_t k = 0; k < cnt; k++)
                if (argmax[k] >= 0)
                    argmax[k] = direct ? emb_mpi_global_row(t, t->rank, argmax[k])
                                       : p.xgid[argmax[k]];
        }
    }
    bag_plan_free(&p);
    return emb_mpi_clock_stop(t, c, st);
}
