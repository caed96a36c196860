/* gate_icount.c - the regression gate's instruction-count driver: one
 * counted public API call per case, for callgrind to count inside
 * gate_counted() (bench/gate.py runs it under valgrind). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embsimd.h"
#include "gate_case.h"
#include "gen.h"

#define PROG "gate-icount"
#define SEED 20240229u

static void help(void)
{
    printf("%s - one embsimd call per case, for instruction counting under callgrind\n"
           "\n"
           "usage: %s --case=CASE [--case=CASE ...]\n"
           "       %s --list\n"
           "\n"
           "  --case=CASE  lookup|grad/<impl>/V:<vocab>/D:<dim>/N:<tokens>\n"
           "  --list       the gate's counted cases, one per line: \"case NAME<tab>WHY\" or\n"
           "               \"unavailable NAME<tab>REASON\"\n"
           "  --help       this text\n"
           "\n"
           "For each case: inputs from a fixed seed in 64-byte aligned buffers, one thread,\n"
           "an uncounted call (it detects the CPU and reads the cache size), then the\n"
           "counted call inside gate_counted(), then a line \"counted CASE\" on stdout. A case\n"
           "whose implementation cannot run here prints \"unavailable CASE: reason\".\n"
           "Count with:\n"
           "  valgrind --tool=callgrind --collect-atstart=no --toggle-collect=gate_counted \\\n"
           "           --dump-after=gate_counted %s --case=...\n",
           PROG, PROG, PROG, PROG);
}

typedef struct call {
    const gate_case *c;
    float *table, *rows;
    const int32_t *ids;
} call;

static emb_status call_api(const call *k)
{
    const gate_case *c = k->c;
    if (c->grad)
        return emb_grad_f32(k->table, c->vocab, c->dim, k->ids, c->tokens, k->rows);
    return emb_lookup_f32(k->table, c->vocab, c->dim, k->ids, c->tokens, k->rows);
}

/* The one counted region. Called through a volatile pointer so that the
 * compiler can neither inline it nor clone it under another symbol name:
 * callgrind finds it by name. */
emb_status gate_counted(const call *k);
emb_status gate_counted(const call *k) { return call_api(k); }
static emb_status (*volatile counted)(const call *) = gate_counted;

static void *alloc64(size_t bytes)
{
    return aligned_alloc(64, (bytes + 63) / 64 * 64);
}

/* 0: counted; 1: unavailable here; -1: failed (message printed). */
static int run_case(const gate_case *c, const char *name)
{
    const char *why = gate_impl_unavailable(c->impl);
    if (why != NULL) {
        printf("unavailable %s: %s\n", name, why);
        return 1;
    }
    if (emb_use_impl(c->impl) != EMB_OK || emb_set_num_threads(1) != EMB_OK) {
        fprintf(stderr, "%s: %s: %s\n", PROG, name, emb_last_error());
        return -1;
    }
    const size_t table_n = (size_t)c->vocab * (size_t)c->dim;
    const size_t rows_n = (size_t)c->tokens * (size_t)c->dim;
    float *table = alloc64(table_n * sizeof(float));
    float *rows = alloc64(rows_n * sizeof(float));
    int32_t *ids = alloc64((size_t)c->tokens * sizeof(int32_t));
    int rc = -1;
    if (table == NULL || rows == NULL || ids == NULL) {
        fprintf(stderr, "%s: %s: out of memory\n", PROG, name);
        goto done;
    }
    gen_rng r = gen_seed(SEED);
    gen_fill_finite(&r, table, table_n);
    gen_fill_finite(&r, rows, rows_n);
    gen_ids(&r, ids, (size_t)c->tokens, c->vocab, GEN_IDS_UNIFORM);
    const call k = {c, table, rows, ids};
    /* The uncounted call pays the one-time costs (CPU detection, the cache
     * size from sysfs) that are not the kernel's. */
    emb_status s = call_api(&k);
    if (s == EMB_OK)
        s = counted(&k);
    if (s != EMB_OK) {
        fprintf(stderr, "%s: %s: %s: %s\n", PROG, name, emb_strerror(s), emb_last_error());
        goto done;
    }
    /* A count of a call that did the wrong thing means nothing. */
    for (int64_t i = 0; !c->grad && i < c->tokens; i++)
        if (memcmp(rows + (size_t)i * (size_t)c->dim, table + (size_t)ids[i] * (size_t)c->dim,
                   (size_t)c->dim * sizeof(float)) != 0) {
            fprintf(stderr, "%s: %s: output row %lld differs from the table row\n", PROG, name,
                    (long long)i);
            goto done;
        }
    printf("counted %s\n", name);
    fflush(stdout);
    rc = 0;
done:
    free(table);
    free(rows);
    free(ids);
    return rc;
}

int main(int argc, char **argv)
{
    int ncases = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            help();
            return 0;
        }
        if (strcmp(argv[i], "--list") == 0) {
            gate_print_cases(GATE_ICOUNT);
            return 0;
        }
        if (strncmp(argv[i], "--case=", 7) != 0) {
            fprintf(stderr, "%s: unknown option \"%s\" (see --help)\n", PROG, argv[i]);
            return 2;
        }
        gate_case c;
        if (gate_case_parse(PROG, argv[i] + 7, &c) != 0)
            return 2;
        ncases++;
    }
    if (ncases == 0) {
        fprintf(stderr, "%s: no --case given (see --help)\n", PROG);
        return 2;
    }
    int status = 0;
    for (int i = 1; i < argc; i++) {
        gate_case c;
        char name[160];
        (void)gate_case_parse(PROG, argv[i] + 7, &c);
        gate_case_name(&c, name, sizeof name);
        if (run_case(&c, name) < 0)
            status = 1;
    }
    return status;
}
