/* threads.c - the thread count setting and a persistent worker pool that
 * runs the parts of one call in parallel. */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* ---- the setting ------------------------------------------------------ */

static atomic_int requested; /* 0: the default */
static int default_threads;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void resolve_default(void)
{
    const char *env = getenv("EMBSIMD_NUM_THREADS");
    if (env != NULL && env[0] != '\0') {
        char *end;
        const long v = strtol(env, &end, 10);
        /* A malformed value is ignored rather than fatal: unlike a wrong
         * implementation, a wrong thread count never changes a result bit. */
        if (*end == '\0' && v > 0 && v <= EMB_MAX_THREADS) {
            default_threads = (int)v;
            return;
        }
    }
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    default_threads = cpus < 1 ? 1 : cpus > EMB_MAX_THREADS ? EMB_MAX_THREADS : (int)cpus;
}

emb_status emb_set_num_threads(int n)
{
    if (n > EMB_MAX_THREADS) {
        emb_set_error("emb_set_num_threads: n = %d exceeds EMB_MAX_THREADS = %d", n, EMB_MAX_THREADS);
        return EMB_EINVAL;
    }
    atomic_store(&requested, n > 0 ? n : 0);
    return EMB_OK;
}

int emb_get_num_threads(void)
{
    const int n = atomic_load(&requested);
    if (n > 0)
        return n;
    pthread_once(&default_once, resolve_default);
    return default_threads;
}

/* ---- the pool ---------------------------------------------------------- */

/* Waking a thread blocked in the kernel takes tens of microseconds (about
 * 50 us in the VMs we measured), as long as a whole lookup of a few MiB.
 * So workers and the caller first spin on the shared state for a while
 * (about 100-200 us: back-to-back calls, as in a training loop, find the
 * workers awake) and only then block on a condition variable. */
#define SPIN_LIMIT 20000
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* One job at a time: a caller that finds the pool busy (another user
 * thread's call in flight) runs its call alone instead of waiting. The job
 * fields are atomics because a worker that takes no part in a job may read
 * them while the next job is being posted; it re-reads the generation to
 * notice (seqlock style). */
typedef struct pool {
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    pthread_mutex_t busy;
    unsigned workers; /* started so far; never shrinks; under busy */
    atomic_ulong generation; /* per job: to odd before its fields, to even after */
    _Atomic(emb_part_fn) fn;
    _Atomic(void *) arg;
    atomic_uint nparts;
    atomic_uint pending; /* parts not yet finished */
    /* The job's tag (its even generation's low 32 bits) over the index of
     * the next unclaimed part: whoever is free takes the next part, the
     * caller included, so a worker that the OS has not scheduled yet (on
     * a busy machine: another library's spinning threads) delays nothing.
     * A part's output depends on its index alone, never on the thread that
     * runs it. The tag keeps a worker that read an old job from claiming a
     * part of the next one. */
    atomic_ullong claim;
    /* Workers not blocked in the kernel: spinning for a job or running a
     * part. Handing a part to one costs a few cache lines; waking one
     * costs tens of microseconds to a millisecond (emb_parts_for). */
    atomic_uint awake;
} pool;

/* The atomics start at zero (static storage); only the pthread objects
 * need their initialisers. */
#define POOL_INITIALIZER                                                     \
    {                                                                        \
        .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, \
        .done = PTHREAD_COND_INITIALIZER, .busy = PTHREAD_MUTEX_INITIALIZER  \
    }
static pool the_pool = POOL_INITIALIZER;

typedef struct worker_arg {
    unsigned index;
    unsigned long first_seen; /* the generation before its first job */
} worker_arg;

/* The next part of job `tag` for whoever asks, or nparts: none left (or
 * the job is no longer the current one). */
static unsigned claim_part(pool *pl, unsigned long tag, unsigned nparts)
{
    unsigned long long w = atomic_load_explicit(&pl->claim, memory_order_acquire);
    for (;;) {
        const unsigned index = (unsigned)(w & 0xFFFFFFFFu);
        if ((w >> 32) != (tag & 0xFFFFFFFFu) || index >= nparts)
            return nparts;
        if (atomic_compare_exchange_weak(&pl->claim, &w, w + 1))
            return index;
    }
}

/* Runs one part; signals the caller when the last one of all finishes. */
static void run_part(pool *pl, emb_part_fn fn, void *arg, unsigned part, unsigned nparts)
{
    fn(arg, part, nparts);
    if (atomic_fetch_sub(&pl->pending, 1) == 1) {
        pthread_mutex_lock(&pl->lock);
        pthread_cond_signal(&pl->done);
        pthread_mutex_unlock(&pl->lock);
    }
}

/* Runs parts of the job until none is left. */
static void run_parts(pool *pl, unsigned long tag, emb_part_fn fn, void *arg, unsigned nparts)
{
    unsigned part;
    while ((part = claim_part(pl, tag, nparts)) < nparts)
        run_part(pl, fn, arg, part, nparts);
}

static worker_arg worker_args[EMB_MAX_THREADS];

static unsigned long wait_for_job(pool *pl, unsigned long seen)
{
    unsigned long g;
    for (int spin = 0; spin < SPIN_LIMIT; spin++) {
        if ((g = atomic_load_explicit(&pl->generation, memory_order_acquire)) != seen)
            return g;
        cpu_relax();
    }
    pthread_mutex_lock(&pl->lock);
    atomic_fetch_sub(&pl->awake, 1);
    while ((g = atomic_load(&pl->generation)) == seen)
        pthread_cond_wait(&pl->wake, &pl->lock);
    atomic_fetch_add(&pl->awake, 1);
    pthread_mutex_unlock(&pl->lock);
    return g;
}

static void *worker_main(void *p)
{
    const worker_arg *me = p;
    pool *pl = &the_pool;
    /* Not pl->generation: the job this worker was started for may already
     * have been posted by the time it runs. */
    unsigned long seen = me->first_seen;
    for (;;) {
        unsigned long g = wait_for_job(pl, seen);
        emb_part_fn fn;
        void *arg;
        unsigned nparts;
        /* A consistent snapshot of the job: the generation is odd while the
         * caller writes one (emb_parallel), so fields read between two equal
         * even generations are that job's. Without the odd phase, a worker
         * left out of one job and slow to notice it could read the next
         * job's fields under the old generation, run its part, then run it
         * again once the generation moved: a part twice, and the caller
         * released before another worker's part was done. */
        do {
            while ((g = atomic_load(&pl->generation)) & 1u)
                cpu_relax();
            fn = atomic_load(&pl->fn);
            arg = atomic_load(&pl->arg);
            nparts = atomic_load(&pl->nparts);
        } while (atomic_load(&pl->generation) != g);
        seen = g;
        run_parts(pl, g, fn, arg, nparts);
    }
    return NULL;
}

/* A forked child has only the forking thread: forget the workers (their
 * memory is the child's copy and harmless) and start afresh. */
static void reset_in_child(void)
{
    static const pool fresh = POOL_INITIALIZER;
    memcpy(&the_pool, &fresh, sizeof fresh);
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void install_atfork(void) { pthread_atfork(NULL, NULL, reset_in_child); }

/* Starts workers up to `want`; returns how many exist (fewer if the OS
 * refused a thread, in which case the call simply uses fewer parts). */
static unsigned grow(pool *pl, unsigned want)
{
    /* Only a process that has workers needs the child-side reset. */
    if (pl->workers < want)
        pthread_once(&atfork_once, install_atfork);
    while (pl->workers < want) {
        pthread_t t;
        pthread_attr_t attr;
        worker_args[pl->workers].index = pl->workers;
        worker_args[pl->workers].first_seen = atomic_load(&pl->generation);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        atomic_fetch_add(&pl->awake, 1); /* a new worker spins first */
        const int rc = pthread_create(&t, &attr, worker_main, &worker_args[pl->workers]);
        pthread_attr_destroy(&attr);
        if (rc != 0) {
            atomic_fetch_sub(&pl->awake, 1);
            break;
        }
        pl->workers++;
    }
    return pl->workers;
}

static void note_kept_end(void); /* emb_parts_for's run of calls kept on one thread */

void emb_parallel(emb_part_fn fn, void *arg, unsigned nparts)
{
    pool *pl = &the_pool;
    if (nparts <= 1 || pthread_mutex_trylock(&pl->busy) != 0) {
        fn(arg, 0, 1);
        note_kept_end();
        return;
    }
    const unsigned have = grow(pl, nparts - 1);
    nparts = 1 + (have < nparts - 1 ? have : nparts - 1);
    if (nparts == 1) {
        pthread_mutex_unlock(&pl->busy);
        fn(arg, 0, 1);
        return;
    }
    /* Odd while the job is written (worker_main's snapshot says why). */
    const unsigned long tag = atomic_fetch_add(&pl->generation, 1) + 2;
    atomic_store(&pl->fn, fn);
    atomic_store(&pl->arg, arg);
    atomic_store(&pl->nparts, nparts);
    atomic_store(&pl->pending, nparts);
    atomic_store(&pl->claim, (unsigned long long)(tag & 0xFFFFFFFFu) << 32 | 1u);
    pthread_mutex_lock(&pl->lock);
    atomic_fetch_add(&pl->generation, 1);
    pthread_cond_broadcast(&pl->wake);
    pthread_mutex_unlock(&pl->lock);

    /* Part 0 is the caller's, the others go to whoever claims them (the
     * claim starts at 1): the gradients and bag gradients split rows by
     * owner, and a part that moves between cores from one call to the next
     * finds its rows in the other core's cache. Claimed by the first free
     * thread, part 0 could go to a worker still spinning from the call
     * before while the caller was posting the job; on Zen 4 (2 vCPUs,
     * 1 MiB table, 128 floats, ids changing each call) the two-thread
     * gradient took a median 99-101 us this way against 104-114. */
    run_part(pl, fn, arg, 0, nparts);
    run_parts(pl, tag, fn, arg, nparts);

    int spin = 0;
    while (atomic_load_explicit(&pl->pending, memory_order_acquire) != 0 && spin++ < SPIN_LIMIT)
        cpu_relax();
    if (atomic_load_explicit(&pl->pending, memory_order_acquire) != 0) {
        pthread_mutex_lock(&pl->lock);
        while (atomic_load(&pl->pending) != 0)
            pthread_cond_wait(&pl->done, &pl->lock);
        pthread_mutex_unlock(&pl->lock);
    }
    pthread_mutex_unlock(&pl->busy);
}

/* How many parts of at least `min` bytes `bytes` makes (0: no minimum). */
static size_t shares(size_t bytes, size_t min) { return min == 0 ? SIZE_MAX : bytes / min; }

unsigned emb_parts_choose(size_t bytes, size_t max_parts, size_t threads, size_t awake,
                          size_t awake_min, size_t wake_min)
{
    /* As many parts as pay for waking threads, or, if more, one for the
     * caller and one for each awake worker, as far as those pay. */
    size_t parts = shares(bytes, wake_min);
    size_t hot = shares(bytes, awake_min);
    if (hot > 1 + awake)
        hot = 1 + awake;
    if (parts < hot)
        parts = hot;
    if (parts > threads)
        parts = threads;
    if (parts > max_parts)
        parts = max_parts;
    return parts < 1 ? 1u : (unsigned)parts;
}

/* Calls kept on one thread only because the workers sleep, each starting
 * within BURST_GAP_NS of the end of the last, form a run; once a run has
 * lasted BURST_NS, longer than a wake mostly costs, its next call wakes the
 * workers, which then stay awake (spin) between the run's calls. Back to
 * back calls of a millisecond wake them at the second call, of a few
 * microseconds after a few hundred; a lone call or a pair between long
 * pauses, as one training step may make, never pays a wake that the calls
 * after it could not repay. */
#define BURST_GAP_NS 200000u
#define BURST_NS 500000u

static uint64_t monotonic_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static _Atomic uint64_t kept_end_ns;   /* when the last call kept on one thread ended */
static _Atomic uint64_t kept_run_ns;   /* when the run it belongs to began */
static atomic_int kept_pending;        /* the call now running is one */

static int in_burst(void)
{
    const uint64_t now = monotonic_ns();
    if (now - atomic_load_explicit(&kept_end_ns, memory_order_relaxed) > BURST_GAP_NS) {
        atomic_store_explicit(&kept_run_ns, now, memory_order_relaxed);
        return 0;
    }
    return now - atomic_load_explicit(&kept_run_ns, memory_order_relaxed) >= BURST_NS;
}

/* At the end of a call that ran on one thread: the time, if it was kept
 * there only because the workers slept. */
static void note_kept_end(void)
{
    if (atomic_load_explicit(&kept_pending, memory_order_relaxed)) {
        atomic_store_explicit(&kept_pending, 0, memory_order_relaxed);
        atomic_store_explicit(&kept_end_ns, monotonic_ns(), memory_order_relaxed);
    }
}

unsigned emb_parts_for(size_t bytes, size_t max_parts)
{
    /* Two break-evens, the schedule's (tuning.c), measured by embsimd-tune
     * where it ran: a worker that still spins from the last call takes a
     * part for the price of a few cache lines; one blocked in the kernel
     * must be woken first: tens of microseconds to a millisecond in the
     * VMs measured (tuning.c), as long as a lookup of a few MiB or more. */
    const emb_schedule *S = emb_schedule_current();
    const size_t threads = (size_t)emb_get_num_threads();
    if (threads < 2 || max_parts < 2)
        return 1;
    size_t awake = atomic_load_explicit(&the_pool.awake, memory_order_relaxed);
    const int sleepers_wanted = awake < threads - 1 && shares(bytes, S->part_min_bytes) >= 2;
    if (sleepers_wanted && in_burst())
        awake = threads - 1;
    const unsigned parts = emb_parts_choose(bytes, max_parts, threads, awake, S->part_min_bytes,
                                            S->wake_min_bytes);
    if (sleepers_wanted && parts == 1)
        atomic_store_explicit(&kept_pending, 1, memory_order_relaxed);
    return parts;
}
