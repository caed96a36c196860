/* embsimd_mpi.h - embsimd's ops on a table split by rows over the ranks of
 * an MPI communicator, bit-identical to the same op on the whole table in
 * one process (docs/mpi.md). Link with libembsimd-mpi, libembsimd and MPI. */
#ifndef EMBSIMD_MPI_H
#define EMBSIMD_MPI_H

#include <mpi.h>

#include <embsimd.h>

#ifdef __cplusplus
extern "C" {
#endif

/** An MPI call failed: emb_mpi_last_error() carries MPI's own error string.
 *  A value of emb_status beyond the core library's. */
#define EMB_ECOMM ((emb_status)16)

/** How global rows are spread over the ranks. */
typedef enum emb_mpi_layout {
    /** Rank r owns the contiguous rows [row_start[r], row_start[r + 1]);
     *  its local row k is global row row_start[r] + k. A range may be
     *  empty. */
    EMB_MPI_RANGES = 0,
    /** Rank id % P owns global row id as its local row id / P (P ranks):
     *  the documented hash for skewed ids. Vocabularies sorted by
     *  frequency (BPE, most DLRM feature hashes after remapping) put their
     *  hot rows at small ids, which ranges would give all to rank 0. */
    EMB_MPI_CYCLIC = 1
} emb_mpi_layout;

/** What the calls on one table measured, summed over calls (this rank). */
typedef struct emb_mpi_stats {
    double comm_seconds;    /**< inside MPI: agreement, counts, ids and rows */
    double local_seconds;   /**< everything else: bucketing, local kernels, copies */
    uint64_t bytes_sent;    /**< payload sent to other ranks (not to itself) */
    uint64_t calls;         /**< op calls made */
} emb_mpi_stats;

/** One row-sharded table. emb_mpi_table_init fills it; every op takes it.
 *  Every rank holds the same description (init checks that) and its own
 *  shard. */
typedef struct emb_mpi_table {
    MPI_Comm comm;         /**< a duplicate of the caller's, errors set to return */
    int rank, nranks;      /**< this rank, and P */
    int64_t vocab;         /**< global rows, > 0 */
    int64_t dim;           /**< columns, > 0 */
    emb_type type;         /**< element type of the table */
    emb_mpi_layout layout;
    int64_t *row_start;    /**< EMB_MPI_RANGES: P + 1 boundaries (owned); NULL for cyclic */
    int64_t local_rows;    /**< rows of this rank's shard (0 allowed) */
    void *rows;            /**< this rank's shard: local_rows rows of
                                emb_row_bytes(type, dim); the caller's memory */
    emb_mpi_stats stats;   /**< zeroed by init; the caller may reset it */
    void *scratch;         /**< internal: the buffers of the largest call so far, kept
                                (a fresh 25 MB buffer per call spent more time in page
                                faults than the copy); freed by emb_mpi_table_free */
} emb_mpi_table;

/**
 * Collective over @p comm. Describes a table of @p vocab x @p dim elements of
 * @p type split by @p layout; for EMB_MPI_RANGES, @p row_start gives the
 * P + 1 boundaries (0 = row_start[0] <= ... <= row_start[P] = vocab) or is
 * NULL for the even split (rank r: [r*q + min(r, m), ...), q = vocab / P,
 * m = vocab % P: the first m ranks get one row more). @p rows is the local
 * shard (may be set later, before the first op; NULL with 0 local rows).
 * Duplicates @p comm (MPI_Comm_dup) and sets MPI_ERRORS_RETURN on the
 * duplicate, so no MPI failure aborts. Every rank returns the same status;
 * a rank whose arguments differ from rank 0's is named.
 */
emb_status emb_mpi_table_init(emb_mpi_table *t, MPI_Comm comm, int64_t vocab, int64_t dim,
                              emb_type type, emb_mpi_layout layout, const int64_t *row_start,
                              void *rows);

/** Collective: frees the duplicate communicator and row_start (not rows). */
void emb_mpi_table_free(emb_mpi_table *t);

/** Rows rank @p r holds. */
int64_t emb_mpi_shard_rows(const emb_mpi_table *t, int r);

/** The rank owning global row @p id (in [0, vocab)), and its local row. */
int emb_mpi_owner(const emb_mpi_table *t, int64_t id, int64_t *local);

/** Global row of local row @p local on rank @p r. */
int64_t emb_mpi_global_row(const emb_mpi_table *t, int r, int64_t local);

/*
 * The ops. Each is collective over t->comm: every rank calls it, with its
 * own ids (n >= 0 of them, n = 0 allowed). The global batch is the
 * concatenation of the ranks' batches in rank order (rank 0's tokens
 * first); the gradients and steps apply their updates in that global
 * token order, so every result equals the single-process op on the whole
 * table and the global batch, bit for bit.
 *
 * Errors: every rank checks its own arguments, then all ranks agree (one
 * MPI_Alltoall that also carries the counts) before any id or row is sent
 * or anything written; ranks that pass different id types, modes or step
 * settings get EMB_EINVAL naming the value. When any rank failed, every
 * rank returns the status of the lowest failing rank, and
 * emb_mpi_last_error() gives every rank the same message naming it, e.g.
 * "emb_mpi_lookup: rank 2: ids[17] = 50257 is outside [0, 50257)". No
 * output, shard or accumulator byte changes then on any rank. A failing
 * MPI call returns EMB_ECOMM with MPI's error string on the ranks that saw
 * it (a rank that died: docs/mpi.md).
 */

/** emb_lookup: row i of @p out is global row ids[i], converted to @p out_type. */
emb_status emb_mpi_lookup(emb_mpi_table *t, const void *ids, emb_index id_type, int64_t n,
                          void *out, emb_type out_type);

/** emb_grad_ex into @p dshard, this rank's fp32 gradient rows (local_rows x
 *  dim, the table's layout); @p opt's padding_idx is global (NULL: none). */
emb_status emb_mpi_grad(emb_mpi_table *t, float *dshard, const void *ids, emb_index id_type,
                        int64_t n, const void *dout, emb_type dout_type,
                        const emb_grad_options *opt);

/** emb_bag over this rank's bags; bags->padding_idx is global, argmax
 *  holds global rows. Each token's row is fetched as stored and the bag is
 *  pooled here by emb_bag, in token order (docs/mpi.md: why not
 *  owner-side partial sums). */
emb_status emb_mpi_bag(emb_mpi_table *t, const void *ids, emb_index id_type, int64_t n,
                       const emb_bags *bags, emb_bag_mode mode, float *out, int64_t *argmax);

/** emb_bag_grad into @p dshard: sum and mean (weights allowed), and max
 *  with this rank's @p argmax from emb_mpi_bag (global rows; NULL
 *  otherwise). */
emb_status emb_mpi_bag_grad(emb_mpi_table *t, float *dshard, const void *ids,
                            emb_index id_type, int64_t n, const emb_bags *bags,
                            emb_bag_mode mode, const int64_t *argmax, const void *dout,
                            emb_type dout_type);

/** emb_bag_update on the shard (t->rows); step->h is this rank's local_rows
 *  Adagrad accumulators (NULL for SGD). */
emb_status emb_mpi_bag_update(emb_mpi_table *t, const void *ids, emb_index id_type, int64_t n,
                              const emb_bags *bags, emb_bag_mode mode, const float *dout,
                              const emb_step *step);

/** This thread's last failure of an emb_mpi_ call, naming the rank; empty
 *  before the first. */
const char *emb_mpi_last_error(void);

/** emb_strerror, and "MPI call failed" for EMB_ECOMM. */
const char *emb_mpi_strerror(emb_status s);

#ifdef __cplusplus
}
#endif

#endif /* EMBSIMD_MPI_H */
