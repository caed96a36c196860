/* types.c - the element types' traits and the list of kernels, as the
 * public API reports them. */
#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "internal.h"
#include "types.h"

const emb_type_traits emb_types[EMB_TYPE_COUNT] = {
#define EMB_TYPE_TRAITS(e, name, block, bytes, extra) [e] = {name, block, bytes, extra},
    EMB_TYPE_LIST(EMB_TYPE_TRAITS)
#undef EMB_TYPE_TRAITS
};

static const emb_kernel kernels[EMB_KERNEL_COUNT] = {
#define EMB_KERNEL_ROW(id, op, in, out) [EMB_K_##id] = {op, in, out, NULL},
    EMB_KERNEL_LIST(EMB_KERNEL_ROW)
#undef EMB_KERNEL_ROW
};

/* "lookup/bf16->f32", built once from the list so no name is spelled by
 * hand. */
static char names[EMB_KERNEL_COUNT][48];
static emb_kernel named[EMB_KERNEL_COUNT];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void make_names(void)
{
    for (int k = 0; k < EMB_KERNEL_COUNT; k++) {
        named[k] = kernels[k];
        snprintf(names[k], sizeof names[k], "%s/%s->%s",
                 emb_op_name(kernels[k].op),
                 emb_types[kernels[k].in].name, emb_types[kernels[k].out].name);
        named[k].name = names[k];
    }
}

static const char *const op_names[] = {
#define EMB_OP_NAME(e, name, field) [e] = name,
    EMB_OP_LIST(EMB_OP_NAME)
#undef EMB_OP_NAME
};
_Static_assert(sizeof op_names / sizeof op_names[0] == EMB_OP_COUNT,
               "EMB_OP_COUNT and EMB_OP_LIST disagree");

const char *emb_op_name(emb_op op)
{
    return (unsigned)op < EMB_OP_COUNT ? op_names[op] : NULL;
}

const char *emb_type_name(emb_type t)
{
    return (unsigned)t < EMB_TYPE_COUNT ? emb_types[t].name : NULL;
}

const char *emb_index_name(emb_index t)
{
    return t == EMB_I32 ? "i32" : t == EMB_I64 ? "i64" : NULL;
}

size_t emb_row_bytes(emb_type t, int64_t dim)
{
    if ((unsigned)t >= EMB_TYPE_COUNT || dim <= 0)
        return 0;
    const emb_type_traits *tr = &emb_types[t];
    if ((uint64_t)dim % tr->block != 0)
        return 0;
    const uint64_t blocks = (uint64_t)dim / tr->block;
    if (blocks > (SIZE_MAX - tr->row_extra) / tr->block_bytes)
        return 0;
    return (size_t)blocks * tr->block_bytes + tr->row_extra;
}

int emb_kernel_count(void) { return EMB_KERNEL_COUNT; }

const emb_kernel *emb_kernel_at(int k)
{
    if (k < 0 || k >= EMB_KERNEL_COUNT)
        return NULL;
    pthread_once(&names_once, make_names);
    return &named[k];
}

/* Kernel id + 1 by (op, in, out); 0 where the list has no such kernel. A
 * table rather than a search: it is consulted on every call. */
static const unsigned char kernel_index[EMB_OP_COUNT][EMB_TYPE_COUNT][EMB_TYPE_COUNT] = {
#define EMB_KERNEL_INDEX(id, op, in, out) [op][in][out] = EMB_K_##id + 1,
    EMB_KERNEL_LIST(EMB_KERNEL_INDEX)
#undef EMB_KERNEL_INDEX
};

emb_kernel_id emb_kernel_find(emb_op op, emb_type in, emb_type out)
{
    if ((unsigned)op >= EMB_OP_COUNT || (unsigned)in >= EMB_TYPE_COUNT ||
        (unsigned)out >= EMB_TYPE_COUNT || kernel_index[op][in][out] == 0)
        return EMB_KERNEL_COUNT;
    return (emb_kernel_id)(kernel_index[op][in][out] - 1);
}
