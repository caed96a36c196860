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
#include "typed_inputs.h"

#define PROG "gate-icount"
#define SEED 20240229u

static void help(void)
{
    printf("%s - one embsimd call per case, for instruction counting under callgrind\n"
           "\n"
           "usage: %s --case=CASE [--case=CASE ...]\n"
           "       %s --list\n"
           "\n"
           "  --case=CASE  lookup|grad/<impl>[/<in>-><out>]/V:<vocab>/D:<dim>/N:<tokens>\n"
           "               (no types: the f32 kernel)\n"
           "  --list       the gate's counted cases, one per line: \"case NAME<tab>WHY\" or\n"
           "               \"unavailable NAME<tab>REASON\"\n"
           "  --help       this text\n"
           "\n"
           "For each case: inputs from a fixed seed in 64-byte aligned buffers, one thread,\n"
           "int32 ids, an uncounted call (it detects the CPU and reads the cache size), then\n"
           "the counted call inside gate_counted(), then a line \"counted CASE\" on stdout. A case\n"
           "whose implementation cannot run here prints \"unavailable CASE: reason\".\n"
           "Count with:\n"
           "  valgrind --tool=callgrind --collect-atstart=no --toggle-collect=gate_counted \\\n"
           "           --dump-after=gate_counted %s --case=...\n",
           PROG, PROG, PROG, PROG);
}

typedef struct call {
    const gate_case *c;
    int f32;            /* gate_case_is_f32, worked out before the count */
    emb_type in, out;   /* the kernel's types */
    void *table, *rows; /* grad: the fp32 dtable and dout; lookup: table and out */
    const int32_t *ids;
} call;

/* The f32 kernels through emb_lookup_f32 / emb_grad_f32, whose counts the
 * reference revisions recorded; the others through the typed entry points.
 * Everything here is counted: nothing but the call is worked out. */
static emb_status call_api(const call *k)
{
    const gate_case *c = k->c;
    if (k->f32)
        return c->grad ? emb_grad_f32(k->table, c->vocab, c->dim, k->ids, c->tokens, k->rows)
                       : emb_lookup_f32(k->table, c->vocab, c->dim, k->ids, c->tokens, k->rows);
    if (c->grad)
        return emb_grad(k->table, c->vocab, c->dim, k->ids, EMB_I32, c->tokens, k->rows, k->in);
    return emb_lookup(k->table, k->in, c->vocab, c->dim, k->ids, EMB_I32, c->tokens, k->rows,
                      k->out);
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

/* The lookup's output against what it must be: the table's rows for a
 * bit copy; for a widening or dequantizing kernel, the scalar
 * implementation's output (the definition until a reference written from
 * the formats alone, verify/reference.c, is in the tree). */
static int lookup_is_right(const call *k, const char *name)
{
    const gate_case *c = k->c;
    const emb_kernel *K = emb_kernel_at(c->kernel);
    const size_t in_row = emb_row_bytes(K->in, c->dim), out_row = emb_row_bytes(K->out, c->dim);
    const uint8_t *out = k->rows, *table = k->table;
    uint8_t *want = NULL;
    if (K->in != K->out && strcmp(c->impl, "scalar") != 0) {
        want = alloc64((size_t)c->tokens * out_row);
        const call ref = {c, k->f32, k->in, k->out, k->table, want, k->ids};
        if (want == NULL || emb_use_impl("scalar") != EMB_OK || call_api(&ref) != EMB_OK ||
            emb_use_impl(c->impl) != EMB_OK) {
            fprintf(stderr, "%s: %s: no scalar reference output: %s\n", PROG, name,
                    want == NULL ? "out of memory" : emb_last_error());
            free(want);
            return 0;
        }
    } else if (K->in != K->out) {
        return 1;
    }
    for (int64_t i = 0; i < c->tokens; i++) {
        const uint8_t *w = want != NULL ? want + (size_t)i * out_row
                                        : table + (size_t)k->ids[i] * in_row;
        if (memcmp(out + (size_t)i * out_row, w, out_row) != 0) {
            fprintf(stderr, "%s: %s: output row %lld differs from %s\n", PROG, name,
                    (long long)i, want != NULL ? "scalar's" : "the table row");
            free(want);
            return 0;
        }
    }
    free(want);
    return 1;
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
    const emb_kernel *K = emb_kernel_at(c->kernel);
    /* grad: the fp32 dtable and a dout of the kernel's type; lookup: a
     * table of its type and an output of its output type. */
    const emb_type table_type = c->grad ? EMB_F32 : K->in;
    const emb_type rows_type = c->grad ? K->in : K->out;
    const size_t table_bytes = (size_t)c->vocab * emb_row_bytes(table_type, c->dim);
    const size_t rows_bytes = (size_t)c->tokens * emb_row_bytes(rows_type, c->dim);
    void *table = alloc64(table_bytes);
    void *rows = alloc64(rows_bytes);
    int32_t *ids = alloc64((size_t)c->tokens * sizeof(int32_t));
    int rc = -1;
    if (table == NULL || rows == NULL || ids == NULL) {
        fprintf(stderr, "%s: %s: out of memory\n", PROG, name);
        goto done;
    }
    /* f32 as the counts recorded before types: the same generator calls. */
    gen_rng r = gen_seed(SEED);
    bench_fill_typed(&r, table_type, table, (size_t)c->vocab, (size_t)c->dim);
    bench_fill_typed(&r, rows_type, rows, (size_t)c->tokens, (size_t)c->dim);
    gen_ids(&r, ids, (size_t)c->tokens, c->vocab, GEN_IDS_UNIFORM);
    const call k = {c, gate_case_is_f32(c), K->in, K->out, table, rows, ids};
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
    if (!c->grad && !lookup_is_right(&k, name))
        goto done;
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
            const int listed = gate_print_cases(GATE_ICOUNT);
            return listed == 0 ? 0 : 1;
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
