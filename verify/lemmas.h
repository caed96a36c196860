/* lemmas.h - the lemma sweep's unit of work, shared by the driver
 * (lemmas.c) and the kernel compiled once per instruction set
 * (lemma_kernel.c), and the floating-point mode controls (fpmode.c). */
#ifndef EMBSIMD_VERIFY_LEMMAS_H
#define EMBSIMD_VERIFY_LEMMAS_H

#include <stdint.h>

/* The four operations every lemma is about. */
enum { VF_OP_TIMES_ONE, VF_OP_TIMES_ZERO, VF_OP_PLUS_POS_ZERO, VF_OP_PLUS_NEG_ZERO, VF_OPS };

/* Patterns [lo, hi) of one class (zero, subnormal, normal, Inf, sNaN or
 * qNaN: the expected result has one formula per class), at most 2^24 of
 * them. For each operation, the expected bits are (w & and_mask) | or_mask. */
typedef struct vf_lemma_job {
    uint64_t lo, hi;
    uint32_t and_mask[VF_OPS], or_mask[VF_OPS];
    /* The operands, read from memory so the compiler cannot fold 1 * w
     * into w (GCC does that unless told signalling NaNs matter). */
    float one, zero, pos_zero, neg_zero;
} vf_lemma_job;

typedef struct vf_lemma_counts {
    uint64_t expected[VF_OPS]; /* results with the expected bits */
    uint64_t nan[VF_OPS];      /* results that are a NaN */
} vf_lemma_counts;

/* The same kernel per instruction set; the driver picks the widest this
 * CPU runs. */
void vf_lemma_kernel_base(const vf_lemma_job *job, vf_lemma_counts *out);
void vf_lemma_kernel_avx2(const vf_lemma_job *job, vf_lemma_counts *out);
void vf_lemma_kernel_avx512(const vf_lemma_job *job, vf_lemma_counts *out);

/* Flush-to-zero control of the calling thread: MXCSR FTZ+DAZ on x86-64,
 * FPCR.FZ on AArch64 (which flushes inputs and results alike). */
int vf_flush_supported(void);
const char *vf_flush_name(void);
/* 1 when any flush bit is set in the calling thread. */
int vf_flush_get(void);
void vf_flush_set(int on);
/* The register's value in words, e.g. "MXCSR = 0x1f80 (FTZ 0, DAZ 0)". */
void vf_flush_describe(char *buf, unsigned size);

#endif /* EMBSIMD_VERIFY_LEMMAS_H */
