/* embsimd.h - the public API of embsimd: token-embedding lookup and its
 * gradient, bit-exact, with one implementation per instruction set. */
#ifndef EMBSIMD_H
#define EMBSIMD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Result of every call that can fail. emb_last_error() has the detail. */
typedef enum emb_status {
    EMB_OK = 0,   /**< success */
    EMB_EINVAL,   /**< a NULL pointer, a non-positive size, overlapping buffers or a size that overflows */
    EMB_ERANGE,   /**< an id outside [0, vocab) */
    EMB_ENOMEM,   /**< an allocation failed (never on the kernel path) */
    EMB_ENOTSUP   /**< the implementation asked for is unknown or not supported here */
} emb_status;

/**
 * Embedding lookup: out[i*dim + j] = table[ids[i]*dim + j] for i < n, j < dim.
 *
 * A bit-exact copy: NaN payloads (signalling ones too), -0 and subnormals
 * arrive unchanged, under any FTZ/DAZ setting.
 *
 * Every id is validated before any byte of @p out is written; on failure
 * @p out is left exactly as it was.
 *
 * @param table  vocab x dim row-major fp32 matrix
 * @param vocab  number of rows, > 0
 * @param dim    number of columns, > 0
 * @param ids    n token ids, each in [0, vocab)
 * @param n      number of tokens, >= 0; 0 touches nothing and allows NULL pointers
 * @param out    n x dim output; must not overlap @p table
 * @return EMB_OK, EMB_EINVAL, EMB_ERANGE or EMB_ENOTSUP
 */
emb_status emb_lookup_f32(const float *table, int64_t vocab, int64_t dim,
                          const int32_t *ids, int64_t n, float *out);

/**
 * Embedding gradient: dtable[ids[i]*dim + j] += dout[i*dim + j].
 *
 * This is one-hot(ids)^T x dout accumulated into dtable. For each row the
 * additions happen in increasing i (token order), one fp32 add each, no FMA
 * contraction and no reassociation: that order is what makes the result
 * bit-identical to the dense product, for every implementation and every
 * thread count. Rows that no id names are not touched.
 *
 * Validation happens before any write; on failure @p dtable is unchanged.
 *
 * @param dtable vocab x dim gradient accumulator, updated in place
 * @param vocab  number of rows, > 0
 * @param dim    number of columns, > 0
 * @param ids    n token ids, each in [0, vocab)
 * @param n      number of tokens, >= 0
 * @param dout   n x dim upstream gradient; must not overlap @p dtable
 */
emb_status emb_grad_f32(float *dtable, int64_t vocab, int64_t dim,
                        const int32_t *ids, int64_t n, const float *dout);

/** A short constant description of a status, e.g. "id out of range". */
const char *emb_strerror(emb_status s);

/**
 * Detail of the last failure on the calling thread, e.g.
 * "ids[17] = 50257 is outside [0, 50257)". Empty before the first failure;
 * a successful call leaves it as it was.
 */
const char *emb_last_error(void);

/** Number of implementations this build knows of, available or not. */
int emb_impl_count(void);

/** Name of implementation i ("avx512", "avx2", "neon", "scalar"), best
 *  first; NULL when i is out of range. */
const char *emb_impl_name(int i);

/** 1 when implementation i is compiled in AND supported by this CPU and OS. */
int emb_impl_available(int i);

/** Why implementation i is not available (e.g. "CPU lacks AVX512BW"), or
 *  NULL when it is. */
const char *emb_impl_unavailable_reason(int i);

/**
 * Select the implementation every later call uses, process-wide.
 * NULL or "auto" picks the best available one. An unknown or unavailable
 * name returns EMB_ENOTSUP and changes nothing. A successful call also
 * overrides a bad EMBSIMD_IMPL.
 */
emb_status emb_use_impl(const char *name);

/** Name of the implementation in use; NULL when EMBSIMD_IMPL named one that
 *  cannot be used (every kernel call then fails with EMB_ENOTSUP). */
const char *emb_impl_active(void);

/**
 * Number of threads later lookup and grad calls may use, process-wide.
 * n <= 0 restores the default: $EMBSIMD_NUM_THREADS when set to a positive
 * number, else the number of online CPUs. Calls too small to gain from
 * threads stay on the calling thread. Grad results are bit-identical for
 * every thread count. Returns EMB_EINVAL (changing nothing) when n exceeds
 * EMB_MAX_THREADS.
 */
emb_status emb_set_num_threads(int n);

/** The thread count in effect (after the default is resolved). */
int emb_get_num_threads(void);

/** Upper bound accepted by emb_set_num_threads(). */
#define EMB_MAX_THREADS 256

/**
 * Bytes of one instance of the last-level cache as the library sees it. The
 * kernels decide streaming stores and prefetching from it; benchmarks report
 * it to say which shapes are cache-resident. Read once, from the first of:
 * $EMBSIMD_LLC (a size such as 32M, 32MiB, 32768K or bytes; an invalid one
 * is ignored and the description says why); cpu0's highest-level data cache
 * in sysfs; CPUID's deterministic cache parameters (leaf 4, AMD 0x8000001D);
 * the package-wide L3 of sysconf or CPUID 0x80000006, capped at 4 MiB per
 * CPU this process may run on (in a VM it counts other chiplets' caches);
 * else 32 MiB. Never 0.
 */
int64_t emb_llc_bytes(void);

/**
 * emb_llc_bytes() in words, with where it came from: "16 MiB (sysfs L3)",
 * "8 MiB (sysconf 508 MiB, capped: 2 CPUs x 4 MiB)", "32 MiB (assumed)".
 * When $EMBSIMD_LLC is set but unusable, the parenthesis ends with why, as
 * in: 16 MiB (sysfs L3; EMBSIMD_LLC="abc" ignored: not a size). Never NULL;
 * the string lives as long as the process.
 */
const char *emb_llc_description(void);

/** Library version, "MAJOR.MINOR.PATCH". */
const char *emb_version(void);

#ifdef __cplusplus
}
#endif

#endif /* EMBSIMD_H */
