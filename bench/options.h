/* options.h - the bench binary's own command-line options (Google
 * Benchmark's --benchmark_* flags pass through untouched). */
#ifndef EMBSIMD_BENCH_OPTIONS_H
#define EMBSIMD_BENCH_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "bench.h"

typedef struct bench_options {
    int full;               /* --grid=full */
    const char *vocab, *dim, *tokens, *threads, *ids, *impl; /* lists, NULL: the grid's */
    const char *types, *id_types; /* --types, --ids-type; NULL: f32, i32 */
    size_t budget_bytes;
    double onehot_max_gflop; /* < 0: the grid's default */
    uint64_t seed;
    size_t llc_bytes; /* 0: from sysfs */
    int hugepages;
    size_t out_offset; /* --out-offset: bytes past a 64-byte boundary */
    const char *results_dir;
    const char *plot_dir;
    int console_all;
    int list_kernels;       /* --list-kernels */
    double rerun_cv;        /* --rerun-cv, a fraction; 0: no reruns */
    int rerun_passes;       /* --rerun-passes */
    /* Google Benchmark flags seen on the command line */
    const char *user_out;        /* --benchmark_out */
    const char *user_format;     /* --benchmark_format */
    const char *user_min_time;   /* --benchmark_min_time */
    const char *user_repetitions;/* --benchmark_repetitions */
    int list_only;               /* --benchmark_list_tests(=true) */
} bench_options;

#define BENCH_DEFAULT_SEED 20240229u

/* Parses and removes this program's options from argv, leaving argv[0] and
 * Google Benchmark's flags (and anything unknown, which Google Benchmark
 * then reports). Returns 0, 1 for --help (already printed), or -1 after
 * printing an error naming the bad option and value. */
int bench_options_parse(bench_options *o, int *argc, char **argv);

/* This program's part of --help. */
void bench_options_help(void);

/* A comma-separated list of positive integers into out[0..max). Returns the
 * count, or -1 after printing an error naming the option and bad item. */
int bench_parse_list(const char *option, const char *list, int64_t *out, int max);

/* "uniform,zipf" into kinds. Returns the count or -1 after an error. */
int bench_parse_ids(const char *list, gen_ids_kind *out, int max);

/* "f32,bf16" (emb_type_name's names) or "all" into types, each once.
 * Returns the count or -1 after an error. */
int bench_parse_types(const char *list, emb_type *out);

/* "i32,i64" into id types, each once. Returns the count or -1. */
int bench_parse_id_types(const char *list, emb_index *out);

#endif /* EMBSIMD_BENCH_OPTIONS_H */
