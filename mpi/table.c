/* table.c - the sharded table's description, the owner of a row, and the
 * errors every rank agrees on. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi_internal.h"

/* The table's memory kept between calls: what the first exchange needs
 * (allocated at init, so that no rank can miss that collective for want
 * of memory), and the buffers of the largest call so far. */
typedef struct scratch {
    int64_t *open;    /* emb_mpi_open's records: 2 x P x (1 + EMB_MPI_SIG_MAX + 2) */
    int *plans;       /* EMB_MPI_PLANS plans of 4 x P counts */
    void *p[EMB_MPI_BUF_COUNT];
    size_t cap[EMB_MPI_BUF_COUNT];
} scratch;

static _Thread_local char detail[EMB_MPI_MSG - 128]; /* room for "op: rank r: " */
static _Thread_local char last_error[EMB_MPI_MSG];

void emb_mpi_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
}

void emb_mpi_fail_core(void)
{
    snprintf(detail, sizeof detail, "%s", emb_last_error());
}

const char *emb_mpi_last_error(void)
{
    return last_error;
}

const char *emb_mpi_strerror(emb_status s)
{
    return s == EMB_ECOMM ? "MPI call failed" : emb_strerror(s);
}

emb_status emb_mpi_check(const emb_mpi_table *t, const char *op, const char *what, int rc)
{
    if (rc == MPI_SUCCESS)
        return EMB_OK;
    char mpi_msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, mpi_msg, &len) != MPI_SUCCESS)
        snprintf(mpi_msg, sizeof mpi_msg, "MPI error code %d", rc);
    snprintf(last_error, sizeof last_error, "%s: rank %d: %s failed: %s", op, t->rank, what,
             mpi_msg);
    return EMB_ECOMM;
}

emb_status emb_mpi_local_error(const emb_mpi_table *t, const char *op, emb_status st)
{
    snprintf(last_error, sizeof last_error, "%s: rank %d: %s", op, t->rank, detail);
    return st;
}

/* The lowest failing rank, known to every rank, broadcasts its status and
 * message: every rank then returns the same. */
static emb_status spread_failure(emb_mpi_table *t, const char *op, int first, emb_status local)
{
    struct {
        int status;
        char msg[EMB_MPI_MSG];
    } b = {(int)local, ""};
    if (first == t->rank)
        snprintf(b.msg, sizeof b.msg, "%s: rank %d: %s", op, t->rank, detail);
    emb_status st = emb_mpi_check(t, op, "MPI_Bcast (agreement)",
                                  MPI_Bcast(&b, (int)sizeof b, MPI_BYTE, first, t->comm));
    if (st != EMB_OK)
        return st;
    memcpy(last_error, b.msg, sizeof last_error);
    last_error[sizeof last_error - 1] = '\0';
    return (emb_status)b.status;
}

/* Where the ranks' signatures differ (min != max of a value), the same
 * EMB_EINVAL on every rank. */
static emb_status check_sig(const char *op, const emb_mpi_sig *sig, const int64_t *lo,
                            const int64_t *hi)
{
    for (int i = 0; sig != NULL && i < sig->n; i++)
        if (lo[i] != hi[i]) {
            snprintf(last_error, sizeof last_error,
                     "%s: the ranks disagree on %s (from %lld to %lld): every rank must pass "
                     "the same", op, sig->name[i], (long long)lo[i], (long long)hi[i]);
            return EMB_EINVAL;
        }
    return EMB_OK;
}

/* One all-reduce finds the lowest failing rank (P when none) and, for the
 * signature, each value's minimum and maximum (the maximum as the minimum
 * of ~v: no overflow at INT64_MIN); the failing rank then broadcasts its
 * status and message. A second collective only on failure. */
emb_status emb_mpi_agree_sig(emb_mpi_table *t, const char *op, emb_status local,
                             const emb_mpi_sig *sig)
{
    const double w0 = MPI_Wtime();
    const int ns = sig != NULL ? sig->n : 0;
    int64_t v[1 + 2 * EMB_MPI_SIG_MAX], m[1 + 2 * EMB_MPI_SIG_MAX], hi[EMB_MPI_SIG_MAX];
    v[0] = local != EMB_OK ? t->rank : t->nranks;
    for (int i = 0; i < ns; i++) {
        v[1 + i] = sig->v[i];
        v[1 + ns + i] = ~sig->v[i];
    }
    emb_status st = emb_mpi_check(
        t, op, "MPI_Allreduce (agreement)",
        MPI_Allreduce(v, m, 1 + 2 * ns, MPI_INT64_T, MPI_MIN, t->comm));
    if (st == EMB_OK && m[0] < t->nranks)
        st = spread_failure(t, op, (int)m[0], local);
    for (int i = 0; i < ns; i++)
        hi[i] = ~m[1 + ns + i];
    if (st == EMB_OK)
        st = check_sig(op, sig, m + 1, hi);
    t->stats.comm_seconds += MPI_Wtime() - w0;
    return st;
}

/* Each rank sends every rank one record: whether it failed, its
 * signature, and its counts for that rank. After the MPI_Alltoall every
 * rank knows every rank's status and signature (the same conclusion
 * everywhere) and its own receive counts: the agreement and the counts in
 * one collective. */
emb_status emb_mpi_open(emb_mpi_table *t, const char *op, emb_status local,
                        const emb_mpi_sig *sig, emb_mpi_plan *const *plans, int nplans)
{
    const double w0 = MPI_Wtime();
    const int P = t->nranks, ns = sig != NULL ? sig->n : 0, K = 1 + ns + nplans;
    int64_t *snd = ((scratch *)t->scratch)->open, *rcv = snd + (size_t)P * (size_t)K;
    for (int r = 0; r < P; r++) {
        int64_t *rec = snd + (size_t)r * (size_t)K;
        rec[0] = local != EMB_OK;
        for (int i = 0; i < ns; i++)
            rec[1 + i] = sig->v[i];
        for (int k = 0; k < nplans; k++)
            rec[1 + ns + k] = local == EMB_OK ? plans[k]->scount[r] : 0;
    }
    emb_status st = emb_mpi_check(t, op, "MPI_Alltoall (counts)",
                                  MPI_Alltoall(snd, K, MPI_INT64_T, rcv, K, MPI_INT64_T, t->comm));
    int first = P;
    int64_t lo[EMB_MPI_SIG_MAX], hi[EMB_MPI_SIG_MAX];
    for (int i = 0; i < ns; i++)
        lo[i] = hi[i] = sig->v[i];
    for (int s = 0; st == EMB_OK && s < P; s++) {
        const int64_t *rec = rcv + (size_t)s * (size_t)K;
        if (rec[0] != 0 && s < first)
            first = s;
        for (int i = 0; i < ns; i++) {
            lo[i] = rec[1 + i] < lo[i] ? rec[1 + i] : lo[i];
            hi[i] = rec[1 + i] > hi[i] ? rec[1 + i] : hi[i];
        }
        for (int k = 0; k < nplans; k++) /* counts fit: each sender's n <= INT_MAX */
            plans[k]->rcount[s] = (int)rec[1 + ns + k];
    }
    if (st == EMB_OK && first < P)
        st = spread_failure(t, op, first, local);
    if (st == EMB_OK)
        st = check_sig(op, sig, lo, hi);
    t->stats.comm_seconds += MPI_Wtime() - w0;
    return st;
}

emb_status emb_mpi_agree(emb_mpi_table *t, const char *op, emb_status local)
{
    return emb_mpi_agree_sig(t, op, local, NULL);
}

emb_mpi_clock emb_mpi_clock_start(emb_mpi_table *t)
{
    t->stats.calls++;
    return (emb_mpi_clock){MPI_Wtime(), t->stats.comm_seconds};
}

emb_status emb_mpi_clock_stop(emb_mpi_table *t, emb_mpi_clock c, emb_status st)
{
    t->stats.local_seconds += (MPI_Wtime() - c.wall0) - (t->stats.comm_seconds - c.comm0);
    return st;
}

size_t emb_mpi_id_bytes(emb_index id_type)
{
    return id_type == EMB_I64 ? sizeof(int64_t) : sizeof(int32_t);
}

/* Through memcpy: a token on the wire packs its id with a float weight,
 * so an int64 id may sit at any 4-byte boundary. Compilers emit one load. */
int64_t emb_mpi_id_at(const void *ids, emb_index id_type, int64_t i)
{
    if (id_type == EMB_I64) {
        int64_t v;
        memcpy(&v, (const uint8_t *)ids + (size_t)i * sizeof v, sizeof v);
        return v;
    }
    int32_t v;
    memcpy(&v, (const uint8_t *)ids + (size_t)i * sizeof v, sizeof v);
    return v;
}

void emb_mpi_id_put(void *ids, emb_index id_type, int64_t i, int64_t v)
{
    if (id_type == EMB_I64) {
        memcpy((uint8_t *)ids + (size_t)i * sizeof v, &v, sizeof v);
    } else {
        const int32_t w = (int32_t)v; /* a local row < a valid global id, or its ~ */
        memcpy((uint8_t *)ids + (size_t)i * sizeof w, &w, sizeof w);
    }
}

emb_status emb_mpi_check_ids(const emb_mpi_table *t, const void *ids, emb_index id_type,
                             int64_t n)
{
    if (id_type != EMB_I32 && id_type != EMB_I64) {
        emb_mpi_fail("id_type = %d is not an emb_index (i32 0, i64 1)", (int)id_type);
        return EMB_EINVAL;
    }
    /* MPI's counts are int: a rank's tokens travel as one count. */
    if (n < 0 || n > INT_MAX) {
        emb_mpi_fail("n = %lld is outside [0, %d]", (long long)n, INT_MAX);
        return EMB_EINVAL;
    }
    if (n > 0 && ids == NULL) {
        emb_mpi_fail("ids is NULL with n = %lld", (long long)n);
        return EMB_EINVAL;
    }
    for (int64_t i = 0; i < n; i++) {
        const int64_t id = emb_mpi_id_at(ids, id_type, i);
        if (id < 0 || id >= t->vocab) {
            emb_mpi_fail("ids[%lld] = %lld is outside [0, %lld)", (long long)i, (long long)id,
                         (long long)t->vocab);
            return EMB_ERANGE;
        }
    }
    return EMB_OK;
}

emb_status emb_mpi_padding(const emb_mpi_table *t, int64_t padding_idx, int64_t *row)
{
    *row = -1;
    if (padding_idx == EMB_NO_PADDING)
        return EMB_OK;
    if (padding_idx < -t->vocab || padding_idx >= t->vocab) {
        emb_mpi_fail("padding_idx = %lld is outside [-%lld, %lld)", (long long)padding_idx,
                     (long long)t->vocab, (long long)t->vocab);
        return EMB_EINVAL;
    }
    *row = padding_idx < 0 ? padding_idx + t->vocab : padding_idx;
    return EMB_OK;
}

int64_t emb_mpi_shard_rows(const emb_mpi_table *t, int r)
{
    if (t->layout == EMB_MPI_CYCLIC) /* ids r, r + P, ... below vocab */
        return r < t->vocab ? (t->vocab - 1 - r) / t->nranks + 1 : 0;
    return t->row_start[r + 1] - t->row_start[r];
}

int emb_mpi_owner(const emb_mpi_table *t, int64_t id, int64_t *local)
{
    if (t->layout == EMB_MPI_CYCLIC) {
        *local = id / t->nranks;
        return (int)(id % t->nranks);
    }
    /* The last r with row_start[r] <= id: empty ranges before it lose. */
    int lo = 0, hi = t->nranks; /* row_start[lo] <= id < row_start[hi] */
    while (hi - lo > 1) {
        const int mid = lo + (hi - lo) / 2;
        if (t->row_start[mid] <= id)
            lo = mid;
        else
            hi = mid;
    }
    *local = id - t->row_start[lo];
    return lo;
}

int64_t emb_mpi_global_row(const emb_mpi_table *t, int r, int64_t local)
{
    return t->layout == EMB_MPI_CYCLIC ? local * t->nranks + r : t->row_start[r] + local;
}

/* Local checks of init's arguments; the description is then compared
 * with rank 0's. */
static emb_status check_init(emb_mpi_table *t, const int64_t *row_start)
{
    if (t->vocab <= 0 || t->dim <= 0) {
        emb_mpi_fail("vocab = %lld and dim = %lld must be > 0", (long long)t->vocab,
                     (long long)t->dim);
        return EMB_EINVAL;
    }
    if (emb_row_bytes(t->type, t->dim) == 0) {
        emb_mpi_fail("type %d (%s) has no row of dim = %lld", (int)t->type,
                     emb_type_name(t->type) ? emb_type_name(t->type) : "unknown",
                     (long long)t->dim);
        return EMB_EINVAL;
    }
    if (t->layout != EMB_MPI_RANGES && t->layout != EMB_MPI_CYCLIC) {
        emb_mpi_fail("layout = %d is not an emb_mpi_layout (ranges 0, cyclic 1)",
                     (int)t->layout);
        return EMB_EINVAL;
    }
    if (t->layout == EMB_MPI_RANGES) {
        t->row_start = malloc(((size_t)t->nranks + 1) * sizeof *t->row_start);
        if (t->row_start == NULL) {
            emb_mpi_fail("no memory for %d row boundaries", t->nranks + 1);
            return EMB_ENOMEM;
        }
        const int64_t q = t->vocab / t->nranks, m = t->vocab % t->nranks;
        for (int r = 0; r <= t->nranks; r++)
            t->row_start[r] = row_start != NULL ? row_start[r] : r * q + (r < m ? r : m);
        if (t->row_start[0] != 0 || t->row_start[t->nranks] != t->vocab) {
            emb_mpi_fail("row_start[0] = %lld and row_start[%d] = %lld must be 0 and vocab = "
                         "%lld", (long long)t->row_start[0], t->nranks,
                         (long long)t->row_start[t->nranks], (long long)t->vocab);
            return EMB_EINVAL;
        }
        for (int r = 0; r < t->nranks; r++)
            if (t->row_start[r + 1] < t->row_start[r]) {
                emb_mpi_fail("row_start[%d] = %lld is below row_start[%d] = %lld", r + 1,
                             (long long)t->row_start[r + 1], r, (long long)t->row_start[r]);
                return EMB_EINVAL;
            }
    }
    t->local_rows = emb_mpi_shard_rows(t, t->rank);
    scratch *sc = calloc(1, sizeof *sc);
    t->scratch = sc;
    if (sc != NULL) {
        sc->open = malloc(2 * (size_t)t->nranks * (1 + EMB_MPI_SIG_MAX + EMB_MPI_PLANS) *
                          sizeof *sc->open);
        sc->plans = malloc((size_t)EMB_MPI_PLANS * 4 * (size_t)t->nranks * sizeof *sc->plans);
    }
    if (sc == NULL || sc->open == NULL || sc->plans == NULL) {
        emb_mpi_fail("no memory for the counts of %d ranks", t->nranks);
        return EMB_ENOMEM;
    }
    return EMB_OK;
}

emb_status emb_mpi_table_init(emb_mpi_table *t, MPI_Comm comm, int64_t vocab, int64_t dim,
                              emb_type type, emb_mpi_layout layout, const int64_t *row_start,
                              void *rows)
{
    const char *op = "emb_mpi_table_init";
    memset(t, 0, sizeof *t);
    t->vocab = vocab;
    t->dim = dim;
    t->type = type;
    t->layout = layout;
    t->rows = rows;
    /* The caller's communicator keeps its handler; ours returns errors. */
    t->comm = MPI_COMM_NULL;
    int rc = MPI_Comm_dup(comm, &t->comm);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_set_errhandler(t->comm, MPI_ERRORS_RETURN);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_rank(t->comm, &t->rank);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_size(t->comm, &t->nranks);
    emb_status st = emb_mpi_check(t, op, "MPI_Comm_dup", rc);
    if (st != EMB_OK)
        return st;
    /* r0: rank 0's boundaries, allocated before the first agreement so
     * that no rank leaves a later collective for want of memory. */
    int64_t *r0 = NULL;
    emb_status local = check_init(t, row_start);
    if (local == EMB_OK && layout == EMB_MPI_RANGES) {
        r0 = malloc(((size_t)t->nranks + 1) * sizeof *r0);
        if (r0 == NULL) {
            emb_mpi_fail("no memory for %d row boundaries", t->nranks + 1);
            local = EMB_ENOMEM;
        }
    }
    st = emb_mpi_agree(t, op, local);
    /* Every rank must describe the same table as rank 0. */
    int64_t mine[4] = {vocab, dim, (int64_t)type, (int64_t)layout}, root[4];
    memcpy(root, mine, sizeof root);
    if (st == EMB_OK)
        st = emb_mpi_check(t, op, "MPI_Bcast", MPI_Bcast(root, 4, MPI_INT64_T, 0, t->comm));
    if (st == EMB_OK) {
        local = EMB_OK;
        if (memcmp(root, mine, sizeof root) != 0) {
            emb_mpi_fail("vocab, dim, type, layout = %lld, %lld, %lld, %lld; rank 0 has %lld, "
                         "%lld, %lld, %lld", (long long)mine[0], (long long)mine[1],
                         (long long)mine[2], (long long)mine[3], (long long)root[0],
                         (long long)root[1], (long long)root[2], (long long)root[3]);
            local = EMB_EINVAL;
        }
        st = emb_mpi_agree(t, op, local);
    }
    if (st == EMB_OK && layout == EMB_MPI_RANGES) {
        memcpy(r0, t->row_start, ((size_t)t->nranks + 1) * sizeof *r0);
        st = emb_mpi_check(t, op, "MPI_Bcast",
                           MPI_Bcast(r0, t->nranks + 1, MPI_INT64_T, 0, t->comm));
        local = EMB_OK;
        for (int r = 0; st == EMB_OK && local == EMB_OK && r <= t->nranks; r++)
            if (r0[r] != t->row_start[r]) {
                emb_mpi_fail("row_start[%d] = %lld; rank 0 has %lld", r,
                             (long long)t->row_start[r], (long long)r0[r]);
                local = EMB_EINVAL;
            }
        if (st == EMB_OK)
            st = emb_mpi_agree(t, op, local);
    }
    free(r0);
    if (st != EMB_OK) {
        emb_mpi_buf_free(t);
        free(t->row_start);
        t->row_start = NULL;
        if (t->comm != MPI_COMM_NULL)
            MPI_Comm_free(&t->comm);
    }
    memset(&t->stats, 0, sizeof t->stats);
    return st;
}

void *emb_mpi_buf(emb_mpi_table *t, int which, size_t bytes)
{
    scratch *s = t->scratch;
    if (bytes == 0)
        bytes = 1;
    if (s->cap[which] < bytes) {
        free(s->p[which]);
        s->p[which] = malloc(bytes);
        s->cap[which] = s->p[which] != NULL ? bytes : 0;
    }
    return s->p[which];
}

void emb_mpi_buf_free(emb_mpi_table *t)
{
    scratch *s = t->scratch;
    if (s != NULL) {
        for (int k = 0; k < EMB_MPI_BUF_COUNT; k++)
            free(s->p[k]);
        free(s->open);
        free(s->plans);
    }
    free(s);
    t->scratch = NULL;
}

void emb_mpi_plan_init(emb_mpi_table *t, emb_mpi_plan *p, int which)
{
    const size_t P = (size_t)t->nranks;
    memset(p, 0, sizeof *p);
    p->scount = ((scratch *)t->scratch)->plans + (size_t)which * 4 * P;
    memset(p->scount, 0, 4 * P * sizeof *p->scount);
    p->sdispl = p->scount + P;
    p->rcount = p->sdispl + P;
    p->rdispl = p->rcount + P;
}

void emb_mpi_table_free(emb_mpi_table *t)
{
    emb_mpi_buf_free(t);
    free(t->row_start);
    t->row_start = NULL;
    if (t->comm != MPI_COMM_NULL)
        MPI_Comm_free(&t->comm);
}
