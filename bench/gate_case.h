/* gate_case.h - the regression gate's cases: the one list of what it measures
 * (shapes x the library's kernel list x its implementation table), and their
 * names ("lookup/avx2/V:1000/D:64/N:512", "lookup/avx2/bf16->f32/V:1000/D:64/N:512"),
 * shared by both drivers and, through their --list option, by bench/gate.py. */
#ifndef EMBSIMD_GATE_CASE_H
#define EMBSIMD_GATE_CASE_H

#include <stddef.h>
#include <stdint.h>

typedef struct gate_case {
    int grad;      /* 0: lookup, 1: grad (the kernel's operation) */
    int kernel;    /* emb_kernel_at() index */
    char impl[16]; /* an embsimd implementation name */
    int64_t vocab, dim, tokens;
} gate_case;

/* The two parts of the gate: timed same-run ratios, and callgrind counts. */
typedef enum gate_part { GATE_TIMED, GATE_ICOUNT } gate_part;

/* Parses "lookup|grad/<impl>[/<in>-><out>]/V:<vocab>/D:<dim>/N:<tokens>"; without
 * the types, the f32 kernel (f32 -> f32, grad f32): the names the gate had
 * before types, which older reference revisions still read. Returns 0, or
 * -1 after printing to stderr why the text (named after prog) is not one. */
int gate_case_parse(const char *prog, const char *text, gate_case *out);

/* The case's name in the canonical form above: the f32 kernels without
 * their types, the others with them. */
void gate_case_name(const gate_case *c, char *buf, size_t size);

/* 1 for the f32 kernels with int32 ids, which run through emb_lookup_f32 /
 * emb_grad_f32 as before types existed. */
int gate_case_is_f32(const gate_case *c);

/* NULL when impl can run here, else why not (unknown name included). */
const char *gate_impl_unavailable(const char *impl);

/* Calls fn for every case of the part, in the gate's order: each shape,
 * its kernels, every implementation of the library's table. `unavailable`
 * is NULL or why the case cannot run here; `why` says what the shape is
 * for. */
typedef void (*gate_case_fn)(const gate_case *c, const char *unavailable, const char *why,
                             void *arg);
void gate_for_each_case(gate_part part, gate_case_fn fn, void *arg);

/* Prints the part's cases for bench/gate.py, one per line:
 * "case NAME\tWHY" or "unavailable NAME\tREASON". Returns 0, or -1 when
 * a name does not parse back to its case (each is said on stderr). */
int gate_print_cases(gate_part part);

#endif /* EMBSIMD_GATE_CASE_H */
