/* w2v_jobs.h - embsimd-word2vec's threads: the caller posts a phase of
 * numbered jobs and takes part in it; helper threads claim what is left.
 * A helper that is not running (a loaded machine) holds nothing up unless
 * it holds a job: nobody waits for a thread, only for jobs. Which thread
 * runs which job never shows in the result (docs/word2vec.md). */
#ifndef W2V_JOBS_H
#define W2V_JOBS_H

/* Job number `job` of a phase, run on thread `thread` (0: the caller). */
typedef void (*w2v_job_fn)(void *ctx, int thread, int job);

typedef struct w2v_jobs w2v_jobs;

/* Starts threads - 1 helpers. NULL when a thread cannot be started. */
w2v_jobs *w2v_jobs_start(int threads, void *ctx);

/* Runs fn(ctx, thread, j) once for every j < njobs (njobs <= 65535) and
 * returns when all have returned. Only the thread that started the pool
 * calls it. */
void w2v_jobs_run(w2v_jobs *j, w2v_job_fn fn, int njobs);

/* Stops and joins the helpers, frees the pool. */
void w2v_jobs_stop(w2v_jobs *j);

#endif /* W2V_JOBS_H */
