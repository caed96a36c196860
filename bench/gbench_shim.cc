// gbench_shim.cc - the C interface of gbench_shim.h over Google Benchmark.
// Translation only: every benchmark and every decision lives in the C files.
#include "gbench_shim.h"

#include <benchmark/benchmark.h>

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

namespace {

benchmark::State &S(gb_state *st) { return *reinterpret_cast<benchmark::State *>(st); }
const benchmark::State &S(const gb_state *st)
{
    return *reinterpret_cast<const benchmark::State *>(st);
}

void (*own_help_fn)(void) = nullptr;

void help_printer()
{
    if (own_help_fn != nullptr)
        own_help_fn();
    benchmark::PrintDefaultHelp();
}

// Sits in front of Google Benchmark's own display reporter (the one the
// --benchmark_format flag picks): forwards every run to C, then lets the
// display reporter print as usual. The --benchmark_out file reporter is
// created by Google Benchmark itself and never sees this class.
class ForwardingReporter : public benchmark::BenchmarkReporter {
  public:
    ForwardingReporter(benchmark::BenchmarkReporter *display, gb_report_fn fn, void *ctx,
                       bool one_line)
        : display_(display), fn_(fn), ctx_(ctx), one_line_(one_line)
    {
    }

    bool ReportContext(const Context &context) override
    {
        return display_->ReportContext(context);
    }

    // Google Benchmark reports a benchmark in up to two calls: its
    // repetitions, then (with two or more good ones) their aggregates.
    void ReportRuns(const std::vector<Run> &runs) override
    {
        const Run *median = nullptr, *error = nullptr;
        bool repeated = false;
        for (const Run &r : runs) {
            forward(r);
            if (r.run_type == Run::RT_Aggregate && r.aggregate_name == "median")
                median = &r;
            if (r.error_occurred && error == nullptr)
                error = &r;
            repeated |= r.repetitions > 1;
        }
        if (!one_line_ || runs.empty()) {
            display_->ReportRuns(runs);
            return;
        }
        // One line: the median when it comes, else the first failure, else
        // the single run of an unrepeated benchmark.
        const Run *shown = median != nullptr ? median
                           : error != nullptr ? error
                           : !repeated        ? &runs.front()
                                              : nullptr;
        if (shown != nullptr)
            display_->ReportRuns(std::vector<Run>(1, *shown));
    }

    void Finalize() override { display_->Finalize(); }

  private:
    void forward(const Run &r)
    {
        if (fn_ == nullptr)
            return;
        const std::string name = r.benchmark_name();
        std::vector<const char *> names;
        std::vector<double> values;
        for (const auto &kv : r.counters) {
            names.push_back(kv.first.c_str());
            values.push_back(kv.second.value);
        }
        const double to_ns = 1e9 / benchmark::GetTimeUnitMultiplier(r.time_unit);
        const bool pct = r.run_type == Run::RT_Aggregate &&
                         r.aggregate_unit == benchmark::StatisticUnit::kPercentage;
        gb_report out;
        out.name = name.c_str();
        out.family = r.run_name.function_name.c_str();
        out.aggregate = r.run_type == Run::RT_Aggregate ? r.aggregate_name.c_str() : "";
        out.aggregate_is_percentage = pct;
        out.error = r.error_occurred;
        out.error_message = r.error_message.c_str();
        out.iterations = r.iterations;
        out.repetition_index = r.run_type == Run::RT_Aggregate ? -1 : r.repetition_index;
        out.repetitions = r.repetitions;
        out.threads = r.threads;
        out.real_ns = r.GetAdjustedRealTime() * (pct ? 1.0 : to_ns);
        out.cpu_ns = r.GetAdjustedCPUTime() * (pct ? 1.0 : to_ns);
        out.counter_count = names.size();
        out.counter_names = names.data();
        out.counter_values = values.data();
        fn_(&out, ctx_);
    }

    benchmark::BenchmarkReporter *display_;
    gb_report_fn fn_;
    void *ctx_;
    bool one_line_;
};

} // namespace

extern "C" {

int gb_register(const char *name, gb_fn fn, void *arg, const gb_options *opt)
{
    try {
        benchmark::internal::Benchmark *b = benchmark::RegisterBenchmark(
            name, [fn, arg](benchmark::State &st) { fn(reinterpret_cast<gb_state *>(&st), arg); });
        if (opt != nullptr && opt->real_time)
            b->UseRealTime();
        if (opt != nullptr && opt->threads > 0)
            b->Threads(opt->threads);
        return 0;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "cannot register benchmark %s: %s\n", name, e.what());
        return -1;
    }
}

int gb_keep_running(gb_state *st) { return S(st).KeepRunning(); }
int64_t gb_iterations(const gb_state *st) { return S(st).iterations(); }
int gb_thread_index(const gb_state *st) { return S(st).thread_index(); }
int gb_threads(const gb_state *st) { return S(st).threads(); }
void gb_set_bytes_processed(gb_state *st, int64_t bytes) { S(st).SetBytesProcessed(bytes); }
void gb_set_items_processed(gb_state *st, int64_t items) { S(st).SetItemsProcessed(items); }

void gb_set_counter(gb_state *st, const char *name, double value, gb_counter_kind kind)
{
    S(st).counters[name] = benchmark::Counter(
        value, kind == GB_COUNTER_RATE ? benchmark::Counter::kIsRate : benchmark::Counter::kDefaults);
}

void gb_set_label(gb_state *st, const char *label) { S(st).SetLabel(label); }
void gb_skip_with_error(gb_state *st, const char *message) { S(st).SkipWithError(message); }
void gb_pause_timing(gb_state *st) { S(st).PauseTiming(); }
void gb_resume_timing(gb_state *st) { S(st).ResumeTiming(); }

void gb_add_context(const char *key, const char *value)
{
    benchmark::AddCustomContext(key, value);
}

void gb_initialize(int *argc, char **argv, void (*own_help)(void))
{
    own_help_fn = own_help;
    benchmark::Initialize(argc, argv, help_printer);
}

void gb_print_default_help(void) { benchmark::PrintDefaultHelp(); }

size_t gb_run(const char *filter, gb_report_fn on_run, void *ctx, int one_line_console)
{
    // The default display reporter is a process-wide object owned by the
    // library: wrapped here, never deleted.
    ForwardingReporter rep(benchmark::CreateDefaultDisplayReporter(), on_run, ctx,
                           one_line_console != 0);
    if (filter != nullptr)
        return benchmark::RunSpecifiedBenchmarks(&rep, std::string(filter));
    return benchmark::RunSpecifiedBenchmarks(&rep);
}

void gb_shutdown(void) { benchmark::Shutdown(); }

} // extern "C"
