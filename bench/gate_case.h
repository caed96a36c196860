/* gate_case.h - the regression gate's case names ("lookup/avx2/V:1000/D:64/N:512"),
 * parsed the same way by both of its drivers. */
#ifndef EMBSIMD_GATE_CASE_H
#define EMBSIMD_GATE_CASE_H

#include <stddef.h>
#include <stdint.h>

typedef struct gate_case {
    int grad;      /* 0: emb_lookup_f32, 1: emb_grad_f32 */
    char impl[16]; /* an embsimd implementation name */
    int64_t vocab, dim, tokens;
} gate_case;

/* Parses "lookup|grad/<impl>/V:<vocab>/D:<dim>/N:<tokens>". Returns 0, or
 * -1 after printing to stderr why the text (named after prog) is not one. */
int gate_case_parse(const char *prog, const char *text, gate_case *out);

/* The case's name in the canonical form above. */
void gate_case_name(const gate_case *c, char *buf, size_t size);

/* NULL when impl can run here, else why not (unknown name included). */
const char *gate_impl_unavailable(const char *impl);

#endif /* EMBSIMD_GATE_CASE_H */
