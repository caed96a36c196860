/* threads.c - the thread count setting and a persistent worker pool that
 * runs the parts of one call in parallel. */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
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

/* One job at a time: a caller that finds the pool busy (another user
 * thread's call in flight) runs its call alone instead of waiting. */
typedef struct pool {
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    pthread_mutex_t busy;
    unsigned workers;        /* started so far; never shrinks */
    unsigned long generation; /* bumped once per job */
    emb_part_fn fn;
    void *arg;
    unsigned nparts;
    unsigned pending; /* worker parts not yet finished */
} pool;

static pool the_pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
                        PTHREAD_COND_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, 0, 0,
                        NULL, NULL, 0, 0};

typedef struct worker_arg {
    unsigned index;           /* handles part index + 1; the caller does part 0 */
    unsigned long first_seen; /* the generation before its first job */
} worker_arg;

static worker_arg worker_args[EMB_MAX_THREADS];

static void *worker_main(void *p)
{
    const worker_arg *me = p;
    const unsigned part = me->index + 1;
    pool *pl = &the_pool;
    /* Not pl->generation: the job this worker was started for may already
     * have been posted by the time it runs. */
    unsigned long seen = me->first_seen;
    pthread_mutex_lock(&pl->lock);
    for (;;) {
        while (pl->generation == seen)
            pthread_cond_wait(&pl->wake, &pl->lock);
        seen = pl->generation;
        if (part >= pl->nparts)
            continue;
        const emb_part_fn fn = pl->fn;
        void *arg = pl->arg;
        const unsigned nparts = pl->nparts;
        pthread_mutex_unlock(&pl->lock);
        fn(arg, part, nparts);
        pthread_mutex_lock(&pl->lock);
        if (--pl->pending == 0)
            pthread_cond_signal(&pl->done);
    }
    return NULL;
}

/* Starts workers up to `want`; returns how many exist (fewer if the OS
 * refused a thread, in which case the call simply uses fewer parts). */
static unsigned grow(pool *pl, unsigned want)
{
    while (pl->workers < want) {
        pthread_t t;
        pthread_attr_t attr;
        worker_args[pl->workers].index = pl->workers;
        worker_args[pl->workers].first_seen = pl->generation;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        const int rc = pthread_create(&t, &attr, worker_main, &worker_args[pl->workers]);
        pthread_attr_destroy(&attr);
        if (rc != 0)
            break;
        pl->workers++;
    }
    return pl->workers;
}

void emb_parallel(emb_part_fn fn, void *arg, unsigned nparts)
{
    pool *pl = &the_pool;
    if (nparts <= 1 || pthread_mutex_trylock(&pl->busy) != 0) {
        fn(arg, 0, 1);
        return;
    }
    pthread_mutex_lock(&pl->lock);
    nparts = 1 + (grow(pl, nparts - 1) < nparts - 1 ? pl->workers : nparts - 1);
    if (nparts == 1) {
        pthread_mutex_unlock(&pl->lock);
        pthread_mutex_unlock(&pl->busy);
        fn(arg, 0, 1);
        return;
    }
    pl->fn = fn;
    pl->arg = arg;
    pl->nparts = nparts;
    pl->pending = nparts - 1;
    pl->generation++;
    pthread_cond_broadcast(&pl->wake);
    pthread_mutex_unlock(&pl->lock);

    fn(arg, 0, nparts);

    pthread_mutex_lock(&pl->lock);
    while (pl->pending != 0)
        pthread_cond_wait(&pl->done, &pl->lock);
    pthread_mutex_unlock(&pl->lock);
    pthread_mutex_unlock(&pl->busy);
}

/* A forked child has only the forking thread: forget the workers (their
 * memory is the child's copy and harmless) and start afresh. */
static void reset_in_child(void)
{
    pool fresh = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
                  PTHREAD_COND_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, 0, 0,
                  NULL, NULL, 0, 0};
    the_pool = fresh;
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void install_atfork(void) { pthread_atfork(NULL, NULL, reset_in_child); }

unsigned emb_parts_for(size_t bytes, size_t max_parts)
{
    pthread_once(&atfork_once, install_atfork);
    /* Below this a thread hand-off (a futex wake and a cache-cold start,
     * tens of microseconds) costs more than the copy it would share. */
    const size_t min_bytes_per_part = (size_t)256 << 10;
    size_t parts = (size_t)emb_get_num_threads();
    if (parts > bytes / min_bytes_per_part)
        parts = bytes / min_bytes_per_part;
    if (parts > max_parts)
        parts = max_parts;
    return parts < 1 ? 1u : (unsigned)parts;
}
