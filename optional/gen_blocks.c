/* gen_blocks.c - writes a table of one emb_type made by embsimd's own input
 * generators to stdout, raw bytes, row after row: the benchmarks'
 * (bench/typed_inputs.h: finite scales, random quants) or the verifier's
 * (verify/inputs.c: finite, random bits, adversarial). The optional tests
 * hand such tables to other implementations of the formats (gguf's
 * dequantizers) and compare their values with embsimd's lookup bit for bit.
 * Usage: gen-blocks TYPE GENERATOR ROWS DIM SEED > FILE */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embsimd.h"
#include "gen.h"
#include "typed_inputs.h"
#include "verify.h"

static const char *const generators[] = {"bench", "finite", "bits", "adversarial"};

static int usage(FILE *f)
{
    fputs("usage: gen-blocks TYPE GENERATOR ROWS DIM SEED > FILE\n"
          "  TYPE       f32, f16, bf16, q8_0, q4_0, q8_rowwise, q4_K or q6_K\n"
          "  GENERATOR  bench (the benchmarks' tables), finite, bits or adversarial\n"
          "             (the verifier's table kinds)\n"
          "Writes ROWS rows of DIM elements, emb_row_bytes(TYPE, DIM) bytes each.\n",
          f);
    return f == stdout ? 0 : 2;
}

static int number(const char *what, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    const unsigned long long v = strtoull(s, &end, 0);
    if (end == s || *end != '\0' || s[0] == '-' || errno != 0) {
        fprintf(stderr, "gen-blocks: %s \"%s\" is not an unsigned integer\n", what, s);
        return 0;
    }
    *out = v;
    return 1;
}

int main(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
        return usage(stdout);
    if (argc != 6)
        return usage(stderr);
    int type = -1, gen = -1;
    for (int t = 0; t < EMB_TYPE_COUNT; t++)
        if (strcmp(argv[1], emb_type_name((emb_type)t)) == 0)
            type = t;
    for (int g = 0; g < 4; g++)
        if (strcmp(argv[2], generators[g]) == 0)
            gen = g;
    if (type < 0) {
        fprintf(stderr, "gen-blocks: \"%s\" is not a type\n", argv[1]);
        return 2;
    }
    if (gen < 0) {
        fprintf(stderr, "gen-blocks: \"%s\" is not a generator (bench, finite, bits, adversarial)\n",
                argv[2]);
        return 2;
    }
    uint64_t rows, dim, seed;
    if (!number("ROWS", argv[3], &rows) || !number("DIM", argv[4], &dim) ||
        !number("SEED", argv[5], &seed))
        return 2;
    const size_t row_bytes = emb_row_bytes((emb_type)type, (int64_t)dim);
    if (rows == 0 || rows > (1u << 24) || row_bytes == 0) {
        fprintf(stderr, "gen-blocks: no %s table of %llu x %llu (rows 1 .. 2^24; dim valid for the type)\n",
                argv[1], (unsigned long long)rows, (unsigned long long)dim);
        return 2;
    }
    uint8_t *buf = malloc((size_t)rows * row_bytes);
    if (buf == NULL) {
        fputs("gen-blocks: out of memory\n", stderr);
        return 1;
    }
    gen_rng r = gen_seed(seed);
    if (gen == 0)
        bench_fill_typed(&r, (emb_type)type, buf, (size_t)rows, (size_t)dim);
    else
        vf_fill_type(&r, (emb_type)type, (vf_table_kind)(gen - 1), buf, (int64_t)rows, (int64_t)dim);
    const size_t total = (size_t)rows * row_bytes;
    const int ok = fwrite(buf, 1, total, stdout) == total && fflush(stdout) == 0;
    free(buf);
    if (!ok) {
        perror("gen-blocks: write");
        return 1;
    }
    return 0;
}
