/* report.h - the outputs people read: the markdown table and the gnuplot
 * figure of a run. */
#ifndef EMBSIMD_BENCH_REPORT_H
#define EMBSIMD_BENCH_REPORT_H

#include <stdio.h>

#include "collect.h"
#include "context.h"

typedef struct bench_report {
    const bench_config *cfg;
    const bench_plan *plan;
    const bench_results *res;
    const bench_context *ctx;
    const bench_grid *grid;
    const bench_notes *left_out; /* implementations not run, with the reason */
    const char *json_path;       /* the run's --benchmark_out file, or NULL */
    FILE *info;                  /* where to say what was written or skipped */
} bench_report;

/* Writes the markdown table to path. Returns 0, or -1 with errno set. */
int bench_write_markdown(const bench_report *rep, const char *path);

/* Writes the figure's data and gnuplot script (dat_path, gp_path) and runs
 * gnuplot to make image_path (SVG). Prints what it did or why it did not;
 * returns 0 when the image was made or gnuplot is simply not installed. */
int bench_plot(const bench_report *rep, const char *dat_path, const char *gp_path,
               const char *image_path);

#endif /* EMBSIMD_BENCH_REPORT_H */
