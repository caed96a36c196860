/* w2v_jobs.c - a phase of numbered jobs claimed by whichever threads run.
 *
 * One 64-bit word holds the phase: generation (32 bits), number of jobs
 * (16) and the next job to claim (16). A thread claims job n of generation
 * g by moving the word from (g, N, n) to (g, N, n + 1), so a thread that
 * read an older phase can never claim a job of a newer one. The caller
 * writes the next phase only after every job of this one has returned. */
#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "embsimd.h"
#include "w2v_jobs.h"

/* A helper spins this many pauses for the next phase (phases follow each
 * other within microseconds), then sleeps; the caller spins this many for
 * the last jobs, then yields (a helper holding one may need its CPU). */
#define SPINS 2000

typedef struct helper {
    w2v_jobs *j;
    int k;
} helper;

struct w2v_jobs {
    _Atomic uint64_t state;
    atomic_int done;
    atomic_int stop;
    w2v_job_fn fn; /* the posted phase's: written before its state is published */
    void *ctx;
    int threads, sleepers;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t tid[EMB_MAX_THREADS];
    helper args[EMB_MAX_THREADS];
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

static uint32_t gen_of(uint64_t s)
{
    return (uint32_t)(s >> 32);
}

/* Runs jobs of generation g until none is left to claim. */
static void claim(w2v_jobs *j, uint32_t g, int k)
{
    uint64_t s = atomic_load_explicit(&j->state, memory_order_acquire);
    while (gen_of(s) == g && (s & 0xffff) < ((s >> 16) & 0xffff)) {
        if (atomic_compare_exchange_weak_explicit(&j->state, &s, s + 1, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            j->fn(j->ctx, k, (int)(s & 0xffff));
            atomic_fetch_add_explicit(&j->done, 1, memory_order_release);
            s = atomic_load_explicit(&j->state, memory_order_acquire);
        }
    }
}

static void *helper_main(void *arg)
{
    w2v_jobs *j = ((helper *)arg)->j;
    const int k = ((helper *)arg)->k;
    uint32_t seen = 0;
    for (;;) {
        int spins = 0;
        while (gen_of(atomic_load_explicit(&j->state, memory_order_acquire)) == seen &&
               !atomic_load(&j->stop)) {
            if (++spins < SPINS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&j->lock);
            j->sleepers++;
            while (gen_of(atomic_load(&j->state)) == seen && !atomic_load(&j->stop))
                pthread_cond_wait(&j->wake, &j->lock);
            j->sleepers--;
            pthread_mutex_unlock(&j->lock);
        }
        if (atomic_load(&j->stop))
            return NULL;
        seen = gen_of(atomic_load_explicit(&j->state, memory_order_acquire));
        claim(j, seen, k);
    }
}

static void publish(w2v_jobs *j, uint64_t s)
{
    atomic_store_explicit(&j->state, s, memory_order_release);
    pthread_mutex_lock(&j->lock);
    if (j->sleepers > 0)
        pthread_cond_broadcast(&j->wake);
    pthread_mutex_unlock(&j->lock);
}

w2v_jobs *w2v_jobs_start(int threads, void *ctx)
{
    w2v_jobs *j = calloc(1, sizeof *j);
    if (j == NULL)
        return NULL;
    j->ctx = ctx;
    j->threads = threads;
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->wake, NULL);
    for (int k = 1; k < threads; k++) {
        j->args[k] = (helper){j, k};
        if (pthread_create(&j->tid[k], NULL, helper_main, &j->args[k]) != 0) {
            j->threads = k; /* stop the ones started */
            w2v_jobs_stop(j);
            return NULL;
        }
    }
    return j;
}

void w2v_jobs_run(w2v_jobs *j, w2v_job_fn fn, int njobs)
{
    const uint32_t g = gen_of(atomic_load(&j->state)) + 1;
    j->fn = fn;
    atomic_store_explicit(&j->done, 0, memory_order_relaxed);
    publish(j, (uint64_t)g << 32 | (uint64_t)njobs << 16);
    claim(j, g, 0);
    for (int spins = 0; atomic_load_explicit(&j->done, memory_order_acquire) < njobs; spins++) {
        if (spins < SPINS)
            cpu_relax();
        else
            sched_yield();
    }
}

void w2v_jobs_stop(w2v_jobs *j)
{
    atomic_store(&j->stop, 1);
    publish(j, (uint64_t)(gen_of(atomic_load(&j->state)) + 1) << 32);
    for (int k = 1; k < j->threads; k++)
        pthread_join(j->tid[k], NULL);
    pthread_mutex_destroy(&j->lock);
    pthread_cond_destroy(&j->wake);
    free(j);
}
