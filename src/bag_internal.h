/* bag_internal.h - the kernel contract of the EmbeddingBag ops: one call's
 * bags as the entry points (bag.c) resolve them, and the function types of
 * the bag, bag-gradient and fused-step kernels (internal.h's entry). */
#ifndef EMBSIMD_BAG_INTERNAL_H
#define EMBSIMD_BAG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* A validated call: ids in range, bounds well formed (bag.c). `bounds`
 * holds offsets (bag b starts at bounds[b], the last bag ends at n) or,
 * with `lengths` set, bag sizes; NULL makes every token a bag of its own
 * (the coalesced step's distinct rows). `pad` is SIZE_MAX for none. */
typedef struct emb_bag_call {
    size_t dim;
    const void *ids;
    int ids64;
    size_t n;
    const void *bounds;
    int bounds64, lengths;
    size_t nbags;
    const float *weights; /* sum mode only; NULL: none */
    size_t pad;
    int mode;             /* emb_bag_mode */
} emb_bag_call;

/* Bags [b0, b1) into out rows b0 .. b1 - 1 (and argmax rows, when not
 * NULL); t0 is bag b0's first token. */
typedef void (*emb_bag_fn)(const uint8_t *table, const emb_bag_call *c, size_t b0, size_t b1,
                           size_t t0, float *out, int64_t *argmax, unsigned flags);

/* The gradient of a whole call, the tokens whose row `part` of `nparts`
 * owns (emb_row_owner), in token order; max mode reads argmax instead of
 * the tokens. */
typedef void (*emb_bag_grad_fn)(float *dtable, const emb_bag_call *c, const uint8_t *dout,
                                const int64_t *argmax, unsigned part, unsigned nparts,
                                unsigned flags);

/* A fused step over a whole call, rows owned by `part`; the table is the
 * kernel's type (f32, f16, bf16); h is Adagrad's per-row fp32 state (NULL
 * for SGD); scratch holds this part's own dim floats, 2 * dim for a 16-bit
 * table (the entry point allocates it: kernels never allocate). */
typedef void (*emb_bag_step_fn)(uint8_t *table, float *h, const emb_bag_call *c,
                                const float *dout, float lr, float eps, float *scratch,
                                unsigned part, unsigned nparts, unsigned flags);

#endif /* EMBSIMD_BAG_INTERNAL_H */
