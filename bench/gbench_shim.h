/* gbench_shim.h - a plain-C interface to Google Benchmark: register C
 * functions, drive the timing loop, add JSON context, and run the
 * benchmarks with every finished run handed back to a C callback. */
#ifndef EMBSIMD_GBENCH_SHIM_H
#define EMBSIMD_GBENCH_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- writing a benchmark ---------------------------------------------- */

/** The timing state of one run (a benchmark::State). */
typedef struct gb_state gb_state;

/** A benchmark body: prepare, then loop while gb_keep_running(). */
typedef void (*gb_fn)(gb_state *st, void *arg);

typedef struct gb_options {
    /** Threads Google Benchmark starts, each running the body with its own
     *  loop (gb_thread_index tells them apart); 0 means 1 and adds no
     *  "/threads:" suffix to the name. */
    int threads;
    /** Nonzero: time by the wall clock ("/real_time" is added to the name).
     *  Needed whenever the work runs on threads the benchmark did not start,
     *  whose CPU time the default CPU timer never sees. */
    int real_time;
} gb_options;

/** Registers fn(arg) under name; opt may be NULL (defaults). arg must live
 *  until gb_run() returns. Returns 0, or -1 with a message on stderr. */
int gb_register(const char *name, gb_fn fn, void *arg, const gb_options *opt);

/** True while more iterations are wanted; the first call starts the timer. */
int gb_keep_running(gb_state *st);
int64_t gb_iterations(const gb_state *st);
int gb_thread_index(const gb_state *st);
int gb_threads(const gb_state *st);

/** Totals over the whole run; reported as rates per second. */
void gb_set_bytes_processed(gb_state *st, int64_t bytes);
void gb_set_items_processed(gb_state *st, int64_t items);

typedef enum gb_counter_kind {
    GB_COUNTER_VALUE, /**< reported as given */
    GB_COUNTER_RATE   /**< a run total, reported divided by the run's time */
} gb_counter_kind;
void gb_set_counter(gb_state *st, const char *name, double value, gb_counter_kind kind);
void gb_set_label(gb_state *st, const char *label);

/** Marks the run failed; the body must leave its loop afterwards. */
void gb_skip_with_error(gb_state *st, const char *message);
void gb_pause_timing(gb_state *st);
void gb_resume_timing(gb_state *st);

/* ---- running ---------------------------------------------------------- */

/** One key/value in the "context" object of the JSON output. */
void gb_add_context(const char *key, const char *value);

/** Parses and removes Google Benchmark's flags from argv. On --help it calls
 *  own_help (may be NULL), then prints Google Benchmark's flags and exits. */
void gb_initialize(int *argc, char **argv, void (*own_help)(void));
/** Google Benchmark's own flag list, on stdout. */
void gb_print_default_help(void);

/** One reported run: an iteration run, or an aggregate over repetitions
 *  (aggregate = "mean", "median", "stddev", "cv"). Strings live only during
 *  the callback. */
typedef struct gb_report {
    const char *name;      /**< full name, with Google Benchmark's suffixes */
    const char *family;    /**< the name given to gb_register() */
    const char *aggregate; /**< "" for an iteration run */
    int aggregate_is_percentage; /**< "cv": times are fractions, not ns */
    int error;
    const char *error_message;
    int64_t iterations;
    int64_t repetition_index; /**< -1 for aggregates */
    int64_t repetitions;
    int64_t threads;
    double real_ns; /**< per iteration */
    double cpu_ns;
    size_t counter_count;
    const char *const *counter_names; /**< includes bytes_per_second, items_per_second */
    const double *counter_values;     /**< final values: rates are per second */
} gb_report;

typedef void (*gb_report_fn)(const gb_report *run, void *ctx);

/**
 * Runs the registered benchmarks matching filter (a regex; NULL: the
 * --benchmark_filter flag), with Google Benchmark's display and
 * --benchmark_out file output unchanged, and calls on_run for every run and
 * aggregate. When one_line_console is set the console shows one line per
 * benchmark: its median when there are repetitions. Returns the number of
 * benchmarks that matched.
 */
size_t gb_run(const char *filter, gb_report_fn on_run, void *ctx, int one_line_console);

void gb_shutdown(void);

#ifdef __cplusplus
}
#endif

#endif /* EMBSIMD_GBENCH_SHIM_H */
