/* tuning.c - the schedule in force: the library's defaults, or a tuning
 * file that embsimd-tune measured on this CPU. A schedule moves speed only:
 * which implementation's code runs a kernel, from what size a call shares
 * its work with a second thread, and the loops' constants (prefetch
 * distance, rows in flight, the streaming, prefetch and far thresholds);
 * every choice gives the same bits.
 *
 * The file is found on first use: EMBSIMD_TUNING=PATH names it,
 * EMBSIMD_TUNING=off keeps the defaults, and otherwise it is
 * $XDG_CACHE_HOME/embsimd/tuning-<identity hash>.txt (~/.cache by default).
 * A file whose "cpu" line is not this CPU's identity is ignored, and
 * emb_schedule_description() says so. Format, one item per line, '#'
 * starting a comment:
 *
 *   embsimd-tuning 2   (1: a file from before row classes, read as well)
 *   cpu <this CPU's identity, as emb_cpu_identity() writes it>
 *   made <free text: date, tool, mode>
 *   threads.min_bytes <bytes a thread's share must reach for a second thread
 *       that is awake>
 *   threads.wake_min_bytes <... for one that must be woken>
 *   kernel <kernel name> <implementation> [short|long]   (one row class,
 *       emb_row_class: rows of at most / more than 1024 elements; both
 *       without)
 *   <loop constant> <whole number>   (loop_items below: prefetch.bytes,
 *       prefetch.rows_max, prefetch.budget, in_flight.min_dim,
 *       in_flight.pos_grad_min_dim, stream.llc_eighths,
 *       prefetch.llc_eighths, far.llc_multiple, bag.ahead_multiple,
 *       bag.hint_level, cached.ahead_rows, cached.ahead_min_dim,
 *       cached.ahead_min_bytes)
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

/* A thread's share of a call from which a second thread pays, in the two
 * states the pool finds its workers in (threads.c, emb_parts_for). AMD
 * EPYC Zen 4 (family 25 model 17, KVM, 2 vCPUs, gcc 12.2 -O2, 2026-12-05),
 * f32 lookup of 128-float rows from a 16 MB table, int64 ids, two threads
 * over one (speed, medians of 400 calls timed one by one):
 * - awake (the worker still spinning from a call less than about 100 us
 *   before): 1.70-1.87 already at 128 KiB of output a thread (N = 512),
 *   and embsimd-tune's break-even was 32 KiB a thread; 64 KiB leaves room
 *   for CPUs whose cores pass lines more slowly.
 * - asleep (each call 2-5 ms after the last): the wake costs tens of
 *   microseconds to milliseconds, and the woken vCPU may run slowly for a
 *   while, as the host decides. Right after calls that kept both vCPUs
 *   busy (128-float rows, 2 ms): 0.59 at 128 KiB a thread, 0.93 at
 *   512 KiB, 1.21 at 1 MiB, 1.52 at 2 MiB; 768-float rows, 5 ms: 1.25 at
 *   1 MiB, 0.69 at 2 MiB, 0.77 at 4 MiB, 1.65-1.79 at 8 MiB. After 5 ms
 *   pauses only (embsimd-tune, two runs): 0.76-1.05 at calls of 1-16 MiB
 *   moved (up to 4 MiB of output a thread), 0.80-0.93 at 32 MiB (8 MiB a
 *   thread). On Zen 2 (KVM, 2026-11) a blocking hand-off took about 50 us.
 *   16 MiB a thread: above every share seen to lose. */
#define EMB_DEFAULT_PART_MIN_BYTES ((size_t)64 << 10)
#define EMB_DEFAULT_WAKE_MIN_BYTES ((size_t)16 << 20)

/* The loops' constants where no tuning file says otherwise. Each was
 * chosen from these measurements (AMD EPYC Zen 2, KVM, 2 vCPUs, 16 MiB L3,
 * gcc 12.2 -O2, 2026-12-01, AVX2, uniform ids, builds compared in one
 * process, lookup / same-run memcpy, unless said):
 * - prefetch_bytes 4096: with four rows in flight, rows 8 ahead vs none
 *   1.06 vs 0.99 at 50257 x 768 x 8192, 0.72 vs 0.70 at N = 512, 0.96 vs
 *   0.91 at 262144 x 768; rows 4 ahead within 2 % of 8. 8 rows ahead also
 *   is what a probe on Zen 5 (family 26 model 2) found best for one row at
 *   a time (0.91 of memcpy vs 0.68 without, at 50257 x 768 x 8192).
 * - prefetch_rows_max 32: short rows, one at a time, from a 1000000-row
 *   table: at most 32 rows ahead made 16- and 32-float rows 1.10-1.14
 *   times as fast as a cap of 16 (lookup and grad), 16 0.99-1.04.
 * - prefetch_budget 32 KiB: at 16 KiB rows prefetch was worth nothing
 *   (1.54 vs 1.55) and cost 4 % with 128-float pieces.
 * - in_flight_min_dim 256: below 256 floats rows in flight lost (D = 128
 *   grad 0.90 of the one-row loop, D = 256 about 0.95 either way); at
 *   D = 384 they were 1.28 (lookup) and 1.05 (grad) times as fast
 *   (row_loops.h has the rest).
 * - pos_grad_in_flight_min_dim 2^40 (never): the fused positional
 *   gradient adds each token's row into both tables a row at a time. Rows
 *   in flight, as emb_grad takes them from 256 floats, made it slower: AMD
 *   EPYC Zen 1 (family 23 model 1, KVM, 2 vCPUs, 8 MiB L3, AVX2,
 *   2026-12-06), 50257 x D x 8192, Zipf ids, 1024 positions, T=1, ms with
 *   rows in flight / a row at a time, two runs: D = 256 2.17-2.24 /
 *   1.44-1.84, 384 3.56 / 2.75-3.11, 768 7.75-7.93 / 6.28-6.93, 1024
 *   8.68-8.95 / 8.80-8.89; T=2 at 768 4.66-4.69 / 4.71-4.83. Each token
 *   has three rows to stream (dout's, its token row, its position row):
 *   enough misses in flight a row at a time, where four tokens' twelve
 *   interleaved rows were not.
 * - stream_llc_eighths 5: streaming and normal stores cross at 4-4.5 MiB
 *   of output from a 154 MB table and near 8.5 MiB from a 3 MB one, with
 *   16 MiB of LLC; 5/8 of it costs at most about 6 % on either side of
 *   both (schedule.c has the figures).
 * - prefetch_llc_eighths 3: from 3/8 of the LLC a table's rows no longer
 *   come back from it in time. AMD EPYC Zen 4 (family 25 model 17, KVM,
 *   2 vCPUs, 32 MiB L3, AVX-512 library, 1 thread, 2026-12-05), f32,
 *   D = 128, GB/s with prefetch vs without: 32000 rows (16 MB), bags of 1
 *   18.2-19.8 vs 7.3-7.6, bags of 20 37.1-40.5 vs 28.0, lookup 21.6-22.2
 *   vs 15.2-16.4; 24576 rows (12 MB) bags of 1 24.4-24.9 vs 4.9-14.2. At
 *   8 MB it was mixed (16384 x 128 bags of 1 20.1-30.7 vs 18.1-20.1, but
 *   2730 x 768: bags of 20 66 vs 76, grad 32-33 vs 39) and below it a loss
 *   (1000 x 768 and 256 x 64: grad 35 vs 44 and 39-40 vs 54-55), so the
 *   threshold sits between 8 and 12 MB there. The former 4/8 (half the
 *   LLC) was an assumption that the table stays cached between calls; an
 *   L3 shared with other tenants and filled by the call's own output does
 *   not keep it. On Zen 2's 16 MiB L3, 3/8 is 6 MiB.
 * - grad_prefetch_llc_eighths 3: the same threshold for emb_grad, a
 *   constant of its own because the two move apart where the LLC is
 *   large and far: on an Intel Xeon (family 6 model 167, KVM, 2 vCPUs,
 *   480 MiB of L3 in sysfs, 2026-12-07;
 *   embsimd-bench, AVX-512, three alternating runs each) prefetching from
 *   the tables below 3/8 of it took the f32 gradient to 0.75-0.85x the
 *   time at 50257 x 768 x 8192 and 0.78x at 32000 x 768 x 512, 0.89-0.97x
 *   at 50257 x 128 x 8192 (1 and 2 threads, uniform and Zipf ids) and
 *   1.00-1.02x at 1000 x 128 and 1000 x 768, while the lookup took
 *   1.05-1.15x the time with Zipf ids (its hot rows are cached; hinting
 *   them costs). embsimd-tune tries 0 (every table) on the gradient alone.
 *   The fused positional gradient keeps the lookup's threshold: with
 *   prefetch from GPT-2's table it took 1.13-1.16x the time on two
 *   threads (layer_peers.py, Zipf-like ids, two alternating runs;
 *   1.01-1.04x on one).
 * - far_llc_multiple 8: the non-temporal hint for tables eight times the
 *   LLC, whose rows a call will not meet again (internal.h, EMB_KF_FAR).
 * - bag_ahead_multiple 2: bags hint twice the lookup's distance: 32000 x
 *   128, bags of 20 and 100, 21.4-23.3 to 24.0-26.4 GB/s; DRAM and GPT-2
 *   tables unchanged (bag_loops.h).
 * - bag_hint_level 2: bags hint into L2 (PREFETCHT1), far tables too: on
 *   AMD EPYC Zen 4 (family 25 model 17, 2026-12-05) 1.4-1.6x at 50257 x
 *   768 and 1000000 x 128 bags of 1, within 5 % elsewhere (bag_loops.h,
 *   emb_bag_locality, has the figures).
 * - bag_cached_hint 0: bags read a table below the prefetch threshold
 *   without hints, as the lookup does. Where that LLC is large and slow
 *   to reach, hints into L1 pay on two threads: on an Intel Xeon (family
 *   6 model 167, 480 MiB of L3 in sysfs, so no hints below 180 MB;
 *   torch_bag.py's rows, three alternating runs, 2026-12-07) 32000 x 128
 *   bags of 20 at T = 2 ran at 28.4-30.8 GB/s with them against
 *   21.3-24.4, bags of 100 at 28.3-31.0 against 21.9-30.5; at T = 1 and
 *   for bags of 1 the runs overlapped (bags of 20: 16.9-19.3 against
 *   18.9-19.7); embsimd-tune's paired rounds timed 0.90-0.93 of the
 *   default's time at its three bag shapes (two runs). Hints into L2 there took bags
 *   of 20 to 15.4-15.8 GB/s on one thread. Where the LLC is small, a
 *   table below the threshold sits in L2 or close to it (AMD Zen 4:
 *   12 MB), so embsimd-tune decides (its cached shape).
 * - cached_ahead_rows 2, cached_ahead_min_dim 256: a lookup from a
 *   quantized table below the prefetch threshold hints the row two ahead
 *   (row_loops.h, emb_lookup_rows_w). AMD EPYC Zen 4 (family 25 model 17,
 *   2026-12-05), time with the hint / without, AVX-512 and AVX2: 1000 x
 *   768 x 512 q8_0 0.92 / 0.99, q4_0 0.90 / 0.88, q8_rowwise 0.92 / 0.82;
 *   8000 x 256 x 8192 q4_K 0.87 / 0.65, q6_K 0.83 / 0.72, q8_0 0.94 /
 *   0.83; 8000 x 1024 x 512 0.79-0.93 / 0.82-0.98; 64-element rows
 *   0.95-1.07 / 0.81-1.19 (hence the minimum dim); the f32 and 16-bit
 *   copies 1.00-1.40 at 64-768 elements (hence quantized tables only).
 *   cached_ahead_min_bytes 256 KiB: below it table and output share L2
 *   with room to spare, and the hint only costs instructions: 1000 x 256
 *   x 128 (128 KiB out) AVX-512 q4_K 1.05-1.11, q6_K 1.01 (AVX2 0.91,
 *   0.96), where 1000 x 768 x 128 (384 KiB) gains on both.
 * - narrow_max_bytes 0: AVX-512's f16 -> f32 lookup writes YMMs where a
 *   call's part reads and writes less than this (x86_avx512.c,
 *   lookup_f16_f32, has the figures), by default nowhere. On the Intel
 *   Xeon measured (family 6 model 167, 2 MiB of L2 a core) YMMs won up to
 *   2.25 MB moved with a small table (1000 x 64 x 512: 0.97-1.02x AVX2's
 *   speed, whole ZMMs 0.93-0.94x) and lost 19 % at 3 MB from a 4 MiB one,
 *   so 1 MiB there. On AMD EPYC Zen 4 (family 25 model 17, KVM, gcc 12.2
 *   -O2, 2026-12-07) the YMM loop at 1000 x 64 x 512 took 1.95-2.2 us in
 *   some processes and 3.1-3.6 us in others, whole ZMMs 1.8-2.5 us in
 *   all (the regression gate's driver, four and more processes each): the
 *   worst case is the YMMs'. embsimd-tune times 1 MiB.
 * - line_realign 1: AVX-512's q8_0, q4_0, q4_K and q6_K lookups into an
 *   output off a 64-byte line (malloc's large blocks are 16 bytes past
 *   one) shift their vectors so that each store writes one line
 *   (x86_avx512.c, line_out, has the figures). Into an output at 16 mod
 *   64, the time with it / without, calls alternating with AVX2's in one
 *   process: on the Intel Xeon measured (family 6 model 167, 2026-12-06)
 *   0.64x-0.95x AVX2's speed without it, 0.97-1.19x with it, at 1000 x
 *   768 x 512; on AMD EPYC Zen 4 (family 25 model 17, 32 MiB L3,
 *   2026-12-07) the other way round: with it q4_0 ran at 0.79-0.87x
 *   AVX2's speed and q8_0 at 0.90-0.94x from GPT-2's table and 16384 x
 *   4096 rows, without it at 1.09-1.18x and 1.07-1.43x, and at 1000 x 768
 *   x 512 1.08-1.20x and 1.09-1.13x. The same constant gives AVX-512's
 *   f16 and bf16 gradients their k-masked lead to the table's line
 *   (x86_avx512.c, LEAD_GRAD): on the Xeon 0.89-0.92x the time without
 *   it at 50257 x 768 x 8192, on Zen 4 0.51-0.69x AVX2's speed with it at
 *   1000 x 64 x 512 (table at 16 mod 64) and 1000 x 67 x 256, 0.99-1.38x
 *   without. And AVX-512's f32, f16 and bf16 bit copies of rows over 128
 *   bytes their k-masked lead (x86_avx512.c, copy_row_s): on Zen 4, into
 *   an output at 16 mod 64, 0.92-0.94x AVX2's speed with it at 1000 x 64
 *   x 512 (f32) and 0.94-0.96x at 1000 x 256 x 128 (f16), 1.20x and
 *   1.17-1.19x without; rows of 67 halves (every output row off a line)
 *   0.99-1.04x with it, 1.26-1.56x without. The default is the Xeon's,
 *   whose worst case without it (0.64x) is the worse; embsimd-tune times 0 on the q4_0 lookup (the
 *   f16 gradient at its 768-float rows timed 0.97 and 1.03: noise, where
 *   the lead's cost shows at short rows). Those Zen 4 figures were taken
 *   with the blocked types' ordinary stores in YMM halves; with whole ZMMs
 *   (line_halves 0, below) q4_0 at 1000 x 768 x 512 into an output at 16
 *   mod 64 ran at 1.26x AVX2's speed with it and 1.32x without.
 * - line_halves 0: AVX-512's q8_0, q4_0, q4_K and q6_K lookups store each
 *   ordinary ZMM whole; 1: as two YMM halves (x86_avx512.c, STORE16, has
 *   the figures). The Intel Xeon measured ran the halves 3-7 % faster at
 *   1000 x 768 x 512, where AMD EPYC Zen 4 ran them at 0.75-0.96x the
 *   speed of whole ZMMs: whole is the better worst case. embsimd-tune
 *   times 1 on the q4_0 lookup at that shape.
 * - grad_lead_min_dim 128: under line_realign 0, AVX-512's f16 and bf16
 *   gradients keep their lead to the table's line on rows of at least
 *   128 elements. Since the lead loads its first whole vector before its
 *   store (x86_avx512.c, ADD_WIDENED), on the same Zen 4 (2026-12-08,
 *   this machine's tuned file, three runs) f16 and bf16 at D = 128 ran at
 *   1.08-1.13x and 1.15-1.18x AVX2's speed with the lead, 1.04-1.05x and
 *   1.06-1.07x without; D = 192 1.20x and 1.15x against 1.05x and 1.03x;
 *   D = 64 still 0.92-0.94x with it, 1.01-1.04x without. Before that
 *   change (the figures that follow, which set 256): On AMD EPYC Zen 4 (family 25 model 17, KVM, gcc 12.2
 *   -O2, 2026-12-07, calls alternating with AVX2's in one process, table
 *   at 16 mod 64, f16, 1000 x D x 512) the lead took D = 64 and 128 to
 *   0.56x and 0.84x AVX2's speed against 1.02x and 1.06x without it, and
 *   D = 256, 512 and 768 (N = 64) to 1.12x, 1.14x and 1.12x against
 *   1.05x, 1.02x and 0.97-0.98x without it. The Intel Xeon keeps
 *   line_realign 1, and the lead on every row. */
#define EMB_LOOP_DEFAULTS                                                                      \
    {                                                                                          \
        .prefetch_bytes = 4096, .prefetch_rows_max = 32, .prefetch_budget = (size_t)32 << 10,  \
        .in_flight_min_dim = 256, .pos_grad_in_flight_min_dim = (size_t)1 << 40,               \
        .stream_llc_eighths = 5, .prefetch_llc_eighths = 3, .grad_prefetch_llc_eighths = 3,    \
        .far_llc_multiple = 8, .bag_ahead_multiple = 2, .bag_hint_level = 2,                   \
        .bag_cached_hint = 0,                                                                  \
        .cached_ahead_rows = 2, .cached_ahead_min_dim = 256,                                   \
        .cached_ahead_min_bytes = (size_t)256 << 10, .narrow_max_bytes = 0,                    \
        .line_realign = 1, .line_halves = 0, .grad_lead_min_dim = 128,                         \
    }

#define EMB_SCHEDULE_DEFAULTS                                                                  \
    {                                                                                          \
        .part_min_bytes = EMB_DEFAULT_PART_MIN_BYTES,                                          \
        .wake_min_bytes = EMB_DEFAULT_WAKE_MIN_BYTES, .loops = EMB_LOOP_DEFAULTS               \
    }

/* The tuning file's name of each loop constant, and the values it may
 * take: a distance, cap or threshold of 0 where that means "never" or
 * "always", none that would divide by zero. */
typedef struct loop_item {
    const char *name;
    size_t offset, min, max;
} loop_item;

#define LOOP_ITEM(name, field, min, max) {name, offsetof(emb_loop_schedule, field), min, max}
static const loop_item loop_items[] = {
    LOOP_ITEM("prefetch.bytes", prefetch_bytes, 0, (size_t)1 << 24),
    LOOP_ITEM("prefetch.rows_max", prefetch_rows_max, 1, 4096),
    LOOP_ITEM("prefetch.budget", prefetch_budget, 64, (size_t)1 << 30),
    LOOP_ITEM("in_flight.min_dim", in_flight_min_dim, 1, (size_t)1 << 40),
    LOOP_ITEM("in_flight.pos_grad_min_dim", pos_grad_in_flight_min_dim, 1, (size_t)1 << 40),
    LOOP_ITEM("stream.llc_eighths", stream_llc_eighths, 0, (size_t)1 << 20),
    LOOP_ITEM("prefetch.llc_eighths", prefetch_llc_eighths, 0, (size_t)1 << 20),
    LOOP_ITEM("grad.prefetch_llc_eighths", grad_prefetch_llc_eighths, 0, (size_t)1 << 20),
    LOOP_ITEM("far.llc_multiple", far_llc_multiple, 1, (size_t)1 << 20),
    LOOP_ITEM("bag.ahead_multiple", bag_ahead_multiple, 1, 64),
    LOOP_ITEM("bag.hint_level", bag_hint_level, 1, 2),
    LOOP_ITEM("bag.cached_hint", bag_cached_hint, 0, 1),
    LOOP_ITEM("cached.ahead_rows", cached_ahead_rows, 0, 64),
    LOOP_ITEM("cached.ahead_min_dim", cached_ahead_min_dim, 1, (size_t)1 << 40),
    LOOP_ITEM("cached.ahead_min_bytes", cached_ahead_min_bytes, 0, (size_t)1 << 40),
    LOOP_ITEM("narrow.max_bytes", narrow_max_bytes, 0, (size_t)1 << 40),
    LOOP_ITEM("line.realign", line_realign, 0, 1),
    LOOP_ITEM("line.halves", line_halves, 0, 1),
    LOOP_ITEM("grad.lead_min_dim", grad_lead_min_dim, 1, (size_t)1 << 40),
};
enum { N_LOOP_ITEMS = sizeof loop_items / sizeof loop_items[0] };

static size_t *loop_field(emb_loop_schedule *L, const loop_item *it)
{
    return (size_t *)((char *)L + it->offset);
}

static emb_schedule current = EMB_SCHEDULE_DEFAULTS;
static char description[2048];
static pthread_once_t loaded = PTHREAD_ONCE_INIT;

/* vendor, family, model, the features the library uses, the LLC the
 * thresholds use, and the online CPUs: what a schedule measured here
 * depends on. */
void emb_cpu_identity(char *buf, size_t size)
{
    char cpu[64] = "unknown";
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if (__get_cpuid(0, &a, &b, &c, &d)) {
        char vendor[13];
        memcpy(vendor, &b, 4);
        memcpy(vendor + 4, &d, 4);
        memcpy(vendor + 8, &c, 4);
        vendor[12] = '\0';
        unsigned family = 0, model = 0;
        if (__get_cpuid(1, &a, &b, &c, &d)) {
            family = (a >> 8) & 0xfu;
            model = (a >> 4) & 0xfu;
            if (family == 0xfu)
                family += (a >> 20) & 0xffu;
            if (family == 6u || family >= 0xfu)
                model |= ((a >> 16) & 0xfu) << 4;
        }
        snprintf(cpu, sizeof cpu, "%s family %u model %u", vendor, family, model);
    }
#elif defined(__aarch64__)
    snprintf(cpu, sizeof cpu, "aarch64");
#endif
    char flags[160] = "";
    size_t used = 0;
    const uint32_t have = emb_cpu_features();
    for (uint32_t bit = 1; bit != 0 && used < sizeof flags; bit <<= 1)
        if (have & bit)
            used += (size_t)snprintf(flags + used, sizeof flags - used, "%s%s", used ? "," : "",
                                     emb_cpu_feature_name(bit));
    snprintf(buf, size, "%s; features %s; llc %lld; cpus %ld", cpu, used ? flags : "none",
             (long long)emb_llc_bytes(), sysconf(_SC_NPROCESSORS_ONLN));
}

/* FNV-1a, 64 bits: a short, stable file name for an identity. */
static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

int emb_tuning_default_path(char *buf, size_t size)
{
    char id[512];
    emb_cpu_identity(id, sizeof id);
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int w;
    if (xdg != NULL && xdg[0] == '/')
        w = snprintf(buf, size, "%s/embsimd/tuning-%016llx.txt", xdg,
                     (unsigned long long)fnv1a(id));
    else if (home != NULL && home[0] != '\0')
        w = snprintf(buf, size, "%s/.cache/embsimd/tuning-%016llx.txt", home,
                     (unsigned long long)fnv1a(id));
    else
        return -1;
    return w > 0 && (size_t)w < size ? 0 : -1;
}

static int find_kernel(const char *name)
{
    for (int k = 0; k < emb_kernel_count(); k++)
        if (strcmp(emb_kernel_at(k)->name, name) == 0)
            return k;
    return -1;
}

/* A decimal count: digits only, within unsigned long long. */
static int parse_count(const char *a, unsigned long long *v)
{
    char *end;
    errno = 0;
    *v = strtoull(a, &end, 10);
    return a[0] >= '0' && a[0] <= '9' && *end == '\0' && errno == 0 ? 0 : -1;
}

static const loop_item *find_loop_item(const char *name)
{
    for (int i = 0; i < N_LOOP_ITEMS; i++)
        if (strcmp(loop_items[i].name, name) == 0)
            return &loop_items[i];
    return NULL;
}

/* Parses the file into s; on failure returns -1 with why (naming the
 * line) in `why`, and s is left for the caller to discard. */
static int parse(FILE *f, emb_schedule *s, char *made, size_t made_size, char *why, size_t why_size)
{
    char line[512], id[512];
    emb_cpu_identity(id, sizeof id);
    int lineno = 0, seen_header = 0, seen_cpu = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        size_t len = strlen(line);
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == ' ' || line[len - 1] == '\t'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        char key[64], a[128], b[64], rows[16], extra[16];
        int fields;
        if (!seen_header) {
            /* 2 added the row class of a kernel line: a library that reads
             * only 1 refuses a 2 instead of taking a long-row choice for
             * every row */
            if (strcmp(line, "embsimd-tuning 1") != 0 && strcmp(line, "embsimd-tuning 2") != 0) {
                snprintf(why, why_size, "line %d is not \"embsimd-tuning 2\" (or 1)", lineno);
                return -1;
            }
            seen_header = 1;
        } else if (strncmp(line, "cpu ", 4) == 0) {
            if (strcmp(line + 4, id) != 0) {
                snprintf(why, why_size, "made on another CPU (%.160s; this one: %.160s)", line + 4,
                         id);
                return -1;
            }
            seen_cpu = 1;
        } else if (strncmp(line, "made ", 5) == 0) {
            snprintf(made, made_size, "%.200s", line + 5);
        } else if (sscanf(line, "%63s %127s %63s", key, a, b) == 2 &&
                   (strcmp(key, "threads.min_bytes") == 0 ||
                    strcmp(key, "threads.wake_min_bytes") == 0)) {
            unsigned long long v;
            if (parse_count(a, &v) != 0) {
                snprintf(why, why_size, "line %d: %s \"%s\" is not a byte count", lineno, key, a);
                return -1;
            }
            *(strcmp(key, "threads.min_bytes") == 0 ? &s->part_min_bytes : &s->wake_min_bytes) =
                (size_t)v;
        } else if (sscanf(line, "%63s %127s %63s", key, a, b) == 2 && find_loop_item(key) != NULL) {
            const loop_item *it = find_loop_item(key);
            unsigned long long v;
            if (parse_count(a, &v) != 0 || v < it->min || v > it->max) {
                snprintf(why, why_size, "line %d: %s = \"%s\" is not a whole number in [%zu, %zu]",
                         lineno, key, a, it->min, it->max);
                return -1;
            }
            *loop_field(&s->loops, it) = (size_t)v;
        } else if ((fields = sscanf(line, "%63s %127s %63s %15s %15s", key, a, b, rows,
                                    extra)) >= 3 &&
                   strcmp(key, "kernel") == 0) {
            /* kernel NAME IMPL [short|long]: both row classes unless named */
            const int k = find_kernel(a);
            const int only = fields >= 4 ? emb_row_class_named(rows) : -1;
            if (k < 0) {
                snprintf(why, why_size, "line %d: \"%s\" names no kernel", lineno, a);
                return -1;
            }
            if (strlen(b) >= sizeof s->kernel_impl[0][k]) {
                snprintf(why, why_size, "line %d: \"%s\" names no implementation", lineno, b);
                return -1;
            }
            if (fields >= 4 && only < 0) {
                snprintf(why, why_size, "line %d: \"%s\" is not a row class (short or long)",
                         lineno, rows);
                return -1;
            }
            if (fields > 4) {
                snprintf(why, why_size, "line %d: \"%s\" follows the row class, which ends a "
                         "kernel line", lineno, extra);
                return -1;
            }
            for (int c = 0; c < EMB_ROW_CLASSES; c++)
                if (only < 0 || c == only)
                    memcpy(s->kernel_impl[c][k], b, strlen(b) + 1);
        } else {
            snprintf(why, why_size, "line %d: \"%.60s\" is not an item of a tuning file", lineno,
                     line);
            return -1;
        }
    }
    if (!seen_header || !seen_cpu) {
        snprintf(why, why_size, "%s", seen_header ? "it has no cpu line" : "it is empty");
        return -1;
    }
    return 0;
}

static void describe_choices(const emb_schedule *s, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "threads from %zu KiB a thread while one is awake, ",
                                   s->part_min_bytes >> 10);
    /* SIZE_MAX: embsimd-tune found no call worth waking a thread for */
    if (s->wake_min_bytes == SIZE_MAX)
        used += (size_t)snprintf(buf + used, size - used, "never woken for a call");
    else
        used += (size_t)snprintf(buf + used, size - used, "%zu KiB to wake one",
                                 s->wake_min_bytes >> 10);
    /* the loop constants a file moved from their defaults */
    const emb_schedule d = EMB_SCHEDULE_DEFAULTS;
    emb_loop_schedule L = s->loops, D = d.loops;
    for (int i = 0; i < N_LOOP_ITEMS && used < size; i++)
        if (*loop_field(&L, &loop_items[i]) != *loop_field(&D, &loop_items[i]))
            used += (size_t)snprintf(buf + used, size - used, "; %s %zu", loop_items[i].name,
                                     *loop_field(&L, &loop_items[i]));
    for (int k = 0; k < emb_kernel_count() && used < size; k++) {
        const char *shorts = s->kernel_impl[EMB_ROWS_SHORT][k];
        const char *longs = s->kernel_impl[EMB_ROWS_LONG][k];
        if (strcmp(shorts, longs) == 0 && shorts[0] != '\0')
            used += (size_t)snprintf(buf + used, size - used, "; %s runs %s's code",
                                     emb_kernel_at(k)->name, shorts);
        else
            for (int c = 0; c < EMB_ROW_CLASSES && used < size; c++)
                if (s->kernel_impl[c][k][0] != '\0')
                    used += (size_t)snprintf(buf + used, size - used,
                                             "; %s runs %s's code on %s rows",
                                             emb_kernel_at(k)->name, s->kernel_impl[c][k],
                                             emb_row_class_name(c));
    }
}

static void load(void)
{
    const char *env = getenv("EMBSIMD_TUNING");
    char path[1024], why[512] = "", made[256] = "", choices[600];
    if (env != NULL && strcmp(env, "off") == 0) {
        describe_choices(&current, choices, sizeof choices);
        snprintf(description, sizeof description, "defaults (EMBSIMD_TUNING=off): %s", choices);
        return;
    }
    if (env != NULL && env[0] != '\0')
        snprintf(path, sizeof path, "%s", env);
    else if (emb_tuning_default_path(path, sizeof path) != 0)
        snprintf(path, sizeof path, "(no HOME or XDG_CACHE_HOME)");
    FILE *f = fopen(path, "r");
    emb_schedule s = EMB_SCHEDULE_DEFAULTS;
    if (f == NULL) {
        snprintf(why, sizeof why, "%s: %s", env ? "cannot read it" : "no tuning file for this CPU",
                 strerror(errno));
    } else {
        if (parse(f, &s, made, sizeof made, why, sizeof why) != 0)
            memset(&s, 0, sizeof s);
        fclose(f);
    }
    if (why[0] != '\0') {
        describe_choices(&current, choices, sizeof choices);
        snprintf(description, sizeof description, "defaults (%s%.300s: %.300s): %s",
                 env ? "EMBSIMD_TUNING=" : "", path, why, choices);
        return;
    }
    current = s;
    describe_choices(&current, choices, sizeof choices);
    snprintf(description, sizeof description, "tuned (%.300s%s%.200s): %s", path,
             made[0] ? ", made " : "", made, choices);
}

const emb_schedule *emb_schedule_current(void)
{
    pthread_once(&loaded, load);
    return &current;
}

void emb_schedule_set_part_min_bytes(size_t bytes)
{
    pthread_once(&loaded, load);
    current.part_min_bytes = bytes;
    current.wake_min_bytes = bytes;
}

const char *emb_schedule_description(void)
{
    pthread_once(&loaded, load);
    return description;
}

void emb_schedule_set_loops(const emb_loop_schedule *loops)
{
    pthread_once(&loaded, load);
    current.loops = *loops;
}

const char *emb_schedule_loop_item(int i, emb_loop_schedule *L, size_t **field)
{
    if (i < 0 || i >= N_LOOP_ITEMS)
        return NULL;
    *field = loop_field(L, &loop_items[i]);
    return loop_items[i].name;
}
