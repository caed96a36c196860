/* run.c - how every entry point runs its kernel once the call is
 * validated: emb_parallel over the call's parts, inside the regression
 * gate's slow-kernel hook. */
#include "config.h"

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#ifdef EMB_SLOW_KERNEL_IMPL
/* --enable-slow-kernels=OP/IMPL: the regression gate's self-test needs one
 * kernel, and only that one, slower by a known amount. The call spins for
 * 15 % of the calling thread's CPU time its kernel took, which is what the
 * gate's timed figures compare (one library thread). */
static int64_t thread_cpu_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* The op first: every other op's call pays one string compare alone. */
static int slowed(emb_op op)
{
    if (strcmp(emb_op_name(op), EMB_SLOW_KERNEL_OP) != 0)
        return 0;
    const char *impl = emb_impl_active();
    return impl != NULL && strcmp(impl, EMB_SLOW_KERNEL_IMPL) == 0;
}

void emb_run(emb_op op, emb_part_fn fn, void *arg, unsigned nparts)
{
    if (!slowed(op)) {
        emb_parallel(fn, arg, nparts);
        return;
    }
    const int64_t start = thread_cpu_ns();
    emb_parallel(fn, arg, nparts);
    const int64_t now = thread_cpu_ns();
    const int64_t until = now + (now - start) * 15 / 100;
    while (thread_cpu_ns() < until)
        ;
}
#else
void emb_run(emb_op op, emb_part_fn fn, void *arg, unsigned nparts)
{
    (void)op;
    emb_parallel(fn, arg, nparts);
}
#endif
