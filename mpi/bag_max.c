/* bag_max.c - the sharded backward of max-mode bags.
 *
 * Element j of bag b adds widen(dout[b][j]) into column j of row
 * argmax[b][j] (a global row, as emb_mpi_bag returns it), in bag order.
 * The row differs by column, so each bag sends each owner its argmax row
 * names one item: the bag's argmax row in that owner's local rows (-1
 * where another owner takes the column) and the bag's dout row. The owner
 * receives the items by source rank, each rank's in bag order - the
 * global bag order - and runs emb_bag_grad in max mode on them, one bag
 * per item: per element, the single process's additions in its order.
 * Max mode reads no token; each bag gets one, a row its argmax names, so
 * that the core's checks of ids pass. */
#include <stdlib.h>
#include <string.h>

#include "mpi_internal.h"

emb_status emb_mpi_bag_max_grad(emb_mpi_table *t, const char *op, emb_status local,
                                const emb_mpi_sig *sig, float *dshard, int64_t nbags,
                                const int64_t *argmax, const void *dout, emb_type dout_type)
{
    const int P = t->nranks;
    const size_t D = (size_t)t->dim, gb = emb_row_bytes(dout_type, t->dim);
    const size_t ab = D * sizeof(int64_t), item = ab + gb;
    emb_mpi_plan pl;
    emb_mpi_plan_init(t, &pl, 0);
    uint8_t *sitems = NULL;
    int64_t *last = NULL;
    if (local == EMB_OK) {
        last = malloc(3 * (size_t)P * sizeof *last);
        if (last == NULL) {
            emb_mpi_fail("no memory for %d owners", P);
            local = EMB_ENOMEM;
        }
    }
    if (local == EMB_OK) {
        int64_t *cur = last + P, *scur = cur + P, total = 0;
        for (int o = 0; o < P; o++)
            last[o] = -1;
        for (int64_t b = 0; b < nbags; b++) /* items per owner */
            for (size_t j = 0; j < D; j++) {
                int64_t l;
                const int64_t a = argmax[(size_t)b * D + j];
                const int o = a >= 0 ? emb_mpi_owner(t, a, &l) : -1;
                if (o >= 0 && last[o] != b) {
                    last[o] = b;
                    pl.scount[o]++;
                    total++;
                }
            }
        sitems = emb_mpi_buf(t, EMB_MPI_BUF_SROWS, (total > 0 ? (size_t)total : 1) * item);
        if (sitems == NULL) {
            emb_mpi_fail("no memory for %lld rows to send", (long long)total);
            local = EMB_ENOMEM;
        }
        int64_t s = 0;
        for (int o = 0; o < P; o++) {
            scur[o] = s;
            s += pl.scount[o];
            last[o] = -1;
        }
        for (int64_t b = 0; local == EMB_OK && b < nbags; b++)
            for (size_t j = 0; j < D; j++) {
                int64_t l;
                const int64_t a = argmax[(size_t)b * D + j];
                if (a < 0)
                    continue;
                const int o = emb_mpi_owner(t, a, &l);
                uint8_t *it;
                if (last[o] != b) { /* the bag's first column for o: a new item */
                    last[o] = b;
                    cur[o] = scur[o]++;
                    it = sitems + (size_t)cur[o] * item;
                    const int64_t none = -1;
                    for (size_t k = 0; k < D; k++)
                        memcpy(it + k * sizeof none, &none, sizeof none);
                    memcpy(it + ab, (const uint8_t *)dout + (size_t)b * gb, gb);
                }
                it = sitems + (size_t)cur[o] * item;
                memcpy(it + j * sizeof l, &l, sizeof l); /* items are not 8-aligned */
            }
    }
    free(last);
    emb_mpi_plan *plp = &pl;
    emb_status st = emb_mpi_open(t, op, local, sig, &plp, 1);
    if (st != EMB_OK)
        return st;
    st = emb_mpi_plan_finish(t, &pl);
    const size_t nr = pl.nrecv > 0 ? (size_t)pl.nrecv : 1;
    uint8_t *ritems = NULL, *rdout = NULL;
    int64_t *ram = NULL, *rids = NULL, *ones = NULL;
    if (st == EMB_OK) {
        ritems = emb_mpi_buf(t, EMB_MPI_BUF_RROWS, nr * item);
        rdout = malloc(nr * gb);
        ram = malloc(nr * ab);
        rids = malloc(nr * sizeof *rids);
        ones = malloc(nr * sizeof *ones);
        if (ritems == NULL || rdout == NULL || ram == NULL || rids == NULL || ones == NULL) {
            emb_mpi_fail("no memory for %lld rows arriving", (long long)pl.nrecv);
            st = EMB_ENOMEM;
        }
    }
    st = emb_mpi_agree(t, op, st);
    if (st == EMB_OK)
        st = emb_mpi_exchange(t, op, &pl, 0, sitems, ritems, item);
    if (st == EMB_OK && pl.nrecv > 0) {
        for (int64_t k = 0; k < pl.nrecv; k++) {
            const uint8_t *it = ritems + (size_t)k * item;
            int64_t *a = ram + (size_t)k * D;
            memcpy(a, it, ab);
            memcpy(rdout + (size_t)k * gb, it + ab, gb);
            rids[k] = 0;
            for (size_t j = 0; j < D; j++)
                if (a[j] >= 0) {
                    rids[k] = a[j];
                    break;
                }
            ones[k] = 1;
        }
        const emb_bags lb = {pl.nrecv, NULL, ones, EMB_I64, 0, NULL, EMB_NO_PADDING};
        st = emb_bag_grad(dshard, t->local_rows, t->dim, rids, EMB_I64, pl.nrecv, &lb,
                          EMB_BAG_MAX, ram, rdout, dout_type);
        if (st != EMB_OK) {
            emb_mpi_fail_core();
            emb_mpi_local_error(t, op, st);
        }
    }
    free(rdout);
    free(ram);
    free(rids);
    free(ones);
    return st;
}
