/* mpi_internal.h - what the sharded ops share: errors and their agreement,
 * the owner of a row, and the all-to-all exchanges. */
#ifndef EMBSIMD_MPI_INTERNAL_H
#define EMBSIMD_MPI_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "embsimd_mpi.h"

/* Longest message an agreement carries (truncated beyond). */
#define EMB_MPI_MSG 512

/* This rank's own failure, before the ranks agree: the detail without the
 * op and rank ("ids[3] = 9 is outside [0, 8)"). */
void emb_mpi_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Collective. Every rank passes its own status (its detail set by
 * emb_mpi_fail when not EMB_OK); all return the status of the lowest
 * failing rank, with "op: rank r: detail" as everyone's last error, or
 * EMB_OK when none failed. EMB_ECOMM when the agreement itself fails. */
emb_status emb_mpi_agree(emb_mpi_table *t, const char *op, emb_status local);

/* What every rank must pass alike (id type, mode, ...): the agreement
 * compares it, since ranks that disagree would exchange mismatched
 * buffers or compute another op than one process would. */
#define EMB_MPI_SIG_MAX 8
typedef struct emb_mpi_sig {
    int n;
    int64_t v[EMB_MPI_SIG_MAX];
    const char *name[EMB_MPI_SIG_MAX];
} emb_mpi_sig;

/* emb_mpi_agree, and then EMB_EINVAL on every rank, naming the value,
 * where the ranks' signatures differ. */
emb_status emb_mpi_agree_sig(emb_mpi_table *t, const char *op, emb_status local,
                             const emb_mpi_sig *sig);

/* An MPI return code rc of the call named what: EMB_OK, or EMB_ECOMM with
 * "op: rank r: what failed: MPI's string" as this rank's last error. */
emb_status emb_mpi_check(const emb_mpi_table *t, const char *op, const char *what, int rc);

/* A failure of this rank alone, past the agreement (it cannot be agreed
 * without another collective): "op: rank r: detail" as its last error. */
emb_status emb_mpi_local_error(const emb_mpi_table *t, const char *op, emb_status st);

/* The core library's last failure as this rank's detail. */
void emb_mpi_fail_core(void);

/* id i of an id array of type id_type, and its store. */
int64_t emb_mpi_id_at(const void *ids, emb_index id_type, int64_t i);
void emb_mpi_id_put(void *ids, emb_index id_type, int64_t i, int64_t v);
size_t emb_mpi_id_bytes(emb_index id_type);

/* The checks every op makes of its own arguments before the agreement:
 * the id type, n, NULL pointers with n > 0, and every id in [0, vocab)
 * (the first bad one named). EMB_OK or the failure, detail set. */
emb_status emb_mpi_check_ids(const emb_mpi_table *t, const void *ids, emb_index id_type,
                             int64_t n);

/* A global padding_idx (EMB_NO_PADDING or in [-vocab, vocab)) as a
 * non-negative row, or -1 for none; EMB_EINVAL (detail set) outside. */
emb_status emb_mpi_padding(const emb_mpi_table *t, int64_t padding_idx, int64_t *row);

/* Counts and displacements of one all-to-all, in items. */
typedef struct emb_mpi_plan {
    int *scount, *sdispl, *rcount, *rdispl; /* P each, one allocation */
    int64_t nsend, nrecv;
} emb_mpi_plan;

/* Plans an op may hold at once (their counts live in the table). */
#define EMB_MPI_PLANS 2

/* Plan which (< EMB_MPI_PLANS) with zero counts; never fails. */
void emb_mpi_plan_init(emb_mpi_table *t, emb_mpi_plan *p, int which);

/* Collective, the first of every op (one MPI_Alltoall): every rank's
 * status and signature, as emb_mpi_agree_sig agrees them, and each plan's
 * counts (scount, filled when local is EMB_OK) into their rcount. */
emb_status emb_mpi_open(emb_mpi_table *t, const char *op, emb_status local,
                        const emb_mpi_sig *sig, emb_mpi_plan *const *plans, int nplans);

/* After emb_mpi_open: displacements and totals; EMB_EINVAL (local, detail
 * set) when more than INT_MAX items would arrive (MPI's counts are int). */
emb_status emb_mpi_plan_finish(const emb_mpi_table *t, emb_mpi_plan *p);

/* MPI_Alltoallv of items of item_bytes each along the plan (reverse: from
 * the receive side back to the send side). */
emb_status emb_mpi_exchange(emb_mpi_table *t, const char *op, const emb_mpi_plan *p, int reverse,
                            const void *send, void *recv, size_t item_bytes);

/* Repeated ids: open addressing over token indexes. emb_mpi_hash_slots:
 * a power of two >= 2n (the table starts all -1); emb_mpi_first_same: the
 * first token up to i with token i's id (i itself, then recorded). */
size_t emb_mpi_hash_slots(int64_t n);
int64_t emb_mpi_first_same(int64_t *hash, size_t slots, const void *ids, emb_index id_type,
                           int64_t i);

/* Tokens bucketed by owner: plan.scount[o] tokens go to rank o, in token
 * order; slot[i] is token i's place in the send order (-1: skipped, the
 * padding row), sids their local rows (id_type), srows room for a row of
 * srow_bytes per token in send order. The arrays are the table's kept
 * buffers (emb_mpi_buf): one route per table at a time. */
typedef struct emb_mpi_route {
    emb_mpi_plan plan;
    int64_t *slot;
    void *sids, *srows;
    void *rids, *rrows; /* after emb_mpi_route_send: what arrives here */
} emb_mpi_route;

/* Local: bucket validated ids by owner, skipping global row skip (-1:
 * none). fetch: the route of a read - tokens of this rank's own rows are
 * not sent (slot -2), and a row named again travels once (the repeat
 * takes its first token's slot); else every token travels (gradients).
 * EMB_ENOMEM with the detail set. */
emb_status emb_mpi_route_build(emb_mpi_table *t, const void *ids, emb_index id_type,
                               int64_t n, int64_t skip, int fetch, size_t srow_bytes,
                               emb_mpi_route *r);
/* Collective: emb_mpi_open (local: this rank's status so far, r unused
 * when it failed), room for the ids and for rows of rrow_bytes arriving
 * (agreed), then the ids to their owners. */
emb_status emb_mpi_route_send(emb_mpi_table *t, const char *op, emb_status local,
                              const emb_mpi_sig *sig, emb_index id_type, size_t rrow_bytes,
                              emb_mpi_route *r);
void emb_mpi_route_free(emb_mpi_route *r);

/* A fetch's out_type for rows as the table stores them, unconverted. */
#define EMB_MPI_RAW ((emb_type)-1)

/* Rows ids (local, id_type) of this rank's shard, copied as stored. */
void emb_mpi_copy_rows(const emb_mpi_table *t, const void *ids, emb_index id_type, int64_t n,
                       void *dst);

/* The remote half of a fetch. Collective: prior is this rank's status
 * from its own checks, agreed (with sig) before anything travels. The ids
 * go to their owners (those of this rank's own rows stay: slot -2), each
 * owner serves its rows converted to out_type (or as stored: EMB_MPI_RAW),
 * and the row of the token
 * with slot s lands in row s of dst (NULL: r->srows). The caller places
 * its own rows, then frees r. */
emb_status emb_mpi_fetch_remote(emb_mpi_table *t, const char *op, emb_status prior,
                                const emb_mpi_sig *sig, const void *ids, emb_index id_type,
                                int64_t n, emb_type out_type, void *dst, emb_mpi_route *r);

/* The lookup's fetch: the rows of n valid ids, converted to out_type,
 * into out in token order. */
emb_status emb_mpi_fetch(emb_mpi_table *t, const char *op, emb_status prior,
                         const emb_mpi_sig *sig, const void *ids, emb_index id_type, int64_t n,
                         void *out, emb_type out_type);

/* The table's kept buffers, one per use; emb_mpi_buf returns one of at
 * least bytes (contents not kept when it grows), or NULL. */
enum {
    EMB_MPI_BUF_SLOT,
    EMB_MPI_BUF_SIDS,
    EMB_MPI_BUF_SROWS,
    EMB_MPI_BUF_RIDS,
    EMB_MPI_BUF_RROWS,
    EMB_MPI_BUF_X,
    EMB_MPI_BUF_OWN,
    EMB_MPI_BUF_COUNT
};
void *emb_mpi_buf(emb_mpi_table *t, int which, size_t bytes);
void emb_mpi_buf_free(emb_mpi_table *t);

/* The bag backward in max mode (bag_max.c): collective from its first
 * exchange on; local is this rank's status from the checks so far, argmax
 * (nbags x dim global rows or -1) validated. */
emb_status emb_mpi_bag_max_grad(emb_mpi_table *t, const char *op, emb_status local,
                                const emb_mpi_sig *sig, float *dshard, int64_t nbags,
                                const int64_t *argmax, const void *dout, emb_type dout_type);

/* Time accounting of one op call. */
typedef struct emb_mpi_clock {
    double wall0, comm0;
} emb_mpi_clock;
emb_mpi_clock emb_mpi_clock_start(emb_mpi_table *t);
emb_status emb_mpi_clock_stop(emb_mpi_table *t, emb_mpi_clock c, emb_status st);

#endif /* EMBSIMD_MPI_INTERNAL_H */
