/* errors.c - the status words and the per-thread detail of the last
 * failure, which every other file records through emb_set_error(). */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

static _Thread_local char last_error[320];

void emb_set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
}

const char *emb_last_error(void) { return last_error; }

const char *emb_strerror(emb_status s)
{
    switch (s) {
    case EMB_OK: return "success";
    case EMB_EINVAL: return "invalid argument";
    case EMB_ERANGE: return "id out of range";
    case EMB_ENOMEM: return "out of memory";
    case EMB_ENOTSUP: return "implementation not supported";
    }
    return "unknown status";
}
