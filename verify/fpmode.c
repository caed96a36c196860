/* fpmode.c - flush-to-zero control of the calling thread: MXCSR FTZ and DAZ
 * on x86-64, FPCR.FZ on AArch64; elsewhere reported as not controllable. */
#include "config.h"

#include <stdio.h>

#include "lemmas.h"

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>

/* MXCSR bit 15 flushes results (FTZ), bit 6 treats inputs as zero (DAZ). */
#define FTZ_BIT 0x8000u
#define DAZ_BIT 0x0040u

int vf_flush_supported(void) { return 1; }
const char *vf_flush_name(void) { return "MXCSR FTZ+DAZ"; }
int vf_flush_get(void) { return (_mm_getcsr() & (FTZ_BIT | DAZ_BIT)) != 0; }

void vf_flush_set(int on)
{
    const unsigned csr = _mm_getcsr();
    _mm_setcsr(on ? csr | FTZ_BIT | DAZ_BIT : csr & ~(FTZ_BIT | DAZ_BIT));
}

void vf_flush_describe(char *buf, unsigned size)
{
    /* The control bits only: the low six are sticky exception flags, which
     * depend on what ran before. */
    const unsigned csr = _mm_getcsr() & ~0x3Fu;
    snprintf(buf, size, "MXCSR = 0x%04x (FTZ %u, DAZ %u)", csr, (csr & FTZ_BIT) ? 1u : 0u,
             (csr & DAZ_BIT) ? 1u : 0u);
}

#elif defined(__aarch64__)

/* FPCR bit 24 (FZ) flushes subnormal inputs and results of single and
 * double precision arithmetic. */
#define FZ_BIT (1ul << 24)

static unsigned long get_fpcr(void)
{
    unsigned long v;
    __asm__ volatile("mrs %0, fpcr" : "=r"(v));
    return v;
}

static void set_fpcr(unsigned long v) { __asm__ volatile("msr fpcr, %0" : : "r"(v)); }

int vf_flush_supported(void) { return 1; }
const char *vf_flush_name(void) { return "FPCR.FZ"; }
int vf_flush_get(void) { return (get_fpcr() & FZ_BIT) != 0; }
void vf_flush_set(int on) { set_fpcr(on ? get_fpcr() | FZ_BIT : get_fpcr() & ~FZ_BIT); }

void vf_flush_describe(char *buf, unsigned size)
{
    const unsigned long v = get_fpcr();
    snprintf(buf, size, "FPCR = 0x%08lx (FZ %lu, DN %lu)", v, (v >> 24) & 1ul, (v >> 25) & 1ul);
}

#else

int vf_flush_supported(void) { return 0; }
const char *vf_flush_name(void) { return "no flush control on this architecture"; }
int vf_flush_get(void) { return 0; }
void vf_flush_set(int on) { (void)on; }
void vf_flush_describe(char *buf, unsigned size) { snprintf(buf, size, "not available"); }

#endif
