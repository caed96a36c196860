/* gen_dump.c - prints verify/gen.c's output for a raw seed, one value a
 * line, so the test can check that bench/peers/embsimd_inputs.py rebuilds the
 * same ids and floats, and the same f16 and bf16 tables from them
 * (bench/typed_inputs.h). Usage: gen-dump ids KIND VOCAB N SEED | finite N SEED |
 * bits N SEED | f16 N SEED | bf16 N SEED (the last two: of gen_fill_bits) */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "typed_inputs.h"

static int usage(void)
{
    fputs("usage: gen-dump ids KIND VOCAB N SEED | finite N SEED | bits N SEED | f16 N SEED | "
          "bf16 N SEED\n", stderr);
    return 2;
}

static int number(const char *s, uint64_t *out)
{
    char *end;
    *out = strtoull(s, &end, 0);
    if (end == s || *end != '\0' || s[0] == '-') {
        fprintf(stderr, "gen-dump: \"%s\" is not an unsigned integer\n", s);
        return 0;
    }
    return 1;
}

static int dump_ids(const char *kind_name, const char *vocab_s, const char *n_s, const char *seed_s)
{
    int kind = -1;
    for (int k = 0; k < GEN_IDS_KIND_COUNT; k++)
        if (strcmp(kind_name, gen_ids_kind_name((gen_ids_kind)k)) == 0)
            kind = k;
    uint64_t vocab, n, seed;
    if (kind < 0) {
        fprintf(stderr, "gen-dump: \"%s\" is not an id distribution\n", kind_name);
        return 2;
    }
    if (!number(vocab_s, &vocab) || !number(n_s, &n) || !number(seed_s, &seed) || vocab == 0)
        return 2;
    int32_t *ids = malloc((size_t)n * sizeof *ids + 1);
    if (ids == NULL)
        return 1;
    gen_rng r = gen_seed(seed);
    gen_ids(&r, ids, (size_t)n, (int64_t)vocab, (gen_ids_kind)kind);
    for (uint64_t i = 0; i < n; i++)
        printf("%" PRId32 "\n", ids[i]);
    free(ids);
    return 0;
}

/* kind: 0 finite, 1 bits, 2 f16 of bits, 3 bf16 of bits */
static int dump_floats(int kind, const char *n_s, const char *seed_s)
{
    uint64_t n, seed;
    if (!number(n_s, &n) || !number(seed_s, &seed))
        return 2;
    float *v = malloc((size_t)n * sizeof *v + 1);
    if (v == NULL)
        return 1;
    gen_rng r = gen_seed(seed);
    if (kind != 0)
        gen_fill_bits(&r, v, (size_t)n);
    else
        gen_fill_finite(&r, v, (size_t)n);
    for (uint64_t i = 0; i < n; i++) {
        const uint32_t u = gen_f2u(v[i]);
        if (kind == 2 || kind == 3)
            printf("%04x\n", (unsigned)(kind == 2 ? bench_f16_bits(u) : bench_bf16_bits(u)));
        else
            printf("%08" PRIx32 "\n", u);
    }
    free(v);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "ids") == 0)
        return dump_ids(argv[2], argv[3], argv[4], argv[5]);
    static const char *const kinds[] = {"finite", "bits", "f16", "bf16"};
    for (int k = 0; argc == 4 && k < 4; k++)
        if (strcmp(argv[1], kinds[k]) == 0)
            return dump_floats(k, argv[2], argv[3]);
    return usage();
}
