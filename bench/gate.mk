# bench/gate.mk - the regression gate (included from Makefile.am).
# `make bench-gate`: the head build against a reference revision
# (results/baseline/REFERENCE, or GATE_REF=<rev>) built and run in the same
# session; `make bench-gate-accept` names HEAD as the new reference;
# `make bench-gate-baseline` records this machine's figures as history;
# `make bench-gate-selftest` checks that the gate catches slowdowns and
# passes unchanged code. results/README.md explains them.
EXTRA_DIST += bench/gate.mk bench/gate.py bench/gate_measure.py bench/gate_stats.py \
	bench/gate_render.py bench/gate_selftest.sh bench/test_gate_stats.py \
	bench/test_gate_cases.sh
# The gate's statistics, checked without measuring anything.
TESTS += bench/test_gate_stats.py
PY_LOG_COMPILER = $(GATE_PY)
# The recorded figures travel with the sources: without git history the gate
# compares instruction counts with them.
EXTRA_DIST += results/README.md results/baseline
# Any Python 3 with its standard library.
GATE_PY = python3
# Extra arguments for bench/gate.py: make bench-gate GATE_FLAGS='--ab-rounds=4'
GATE_FLAGS =
# Where bench-gate-selftest configures and builds its slowed libraries.
GATE_SELFTEST_DIR = gate-selftest
# Unchanged-code runs of the self-test (half of them with the other CPU busy).
GATE_SELFTEST_RUNS = 2
# Both sides run the default schedule: a tuning file never moves the gate.
GATE_RUN = EMBSIMD_TUNING=off $(GATE_PY) $(top_srcdir)/bench/gate.py --build=. --results=$(top_srcdir)/results
.PHONY: bench-gate bench-gate-accept bench-gate-baseline bench-gate-selftest

# Needs only the library: callgrind runs it, so it must be the real binary
# (-no-install), not libtool's wrapper script.
noinst_PROGRAMS += bench/gate-icount
bench_gate_icount_SOURCES = bench/gate_icount.c bench/gate_case.c bench/gate_case.h \
	bench/typed_inputs.c bench/typed_inputs.h
bench_gate_icount_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/verify
bench_gate_icount_LDADD = src/libembsimd.la verify/libgen.la
bench_gate_icount_LDFLAGS = -no-install
CLEANFILES += gate-run.json gate-ref.json gate-head.json gate-ratios.log gate-ref-build.log

clean-local: clean-gate
clean-gate:
	-rm -rf gate-ref $(GATE_SELFTEST_DIR)

bench-gate-accept:
	$(GATE_RUN) --accept

if EMB_BENCH
noinst_PROGRAMS += bench/gate-ratios
# Both drivers' case lists: every name listed, parsed back and taken.
TESTS += bench/test_gate_cases.sh
bench_gate_ratios_SOURCES = bench/gate_ratios.c bench/gate_case.c bench/gate_case.h
# Links with the C++ driver: the suite's library holds the Google Benchmark shim.
nodist_EXTRA_bench_gate_ratios_SOURCES = bench/link-as-cxx.cc
bench_gate_ratios_CPPFLAGS = $(BENCH_CPPFLAGS)
bench_gate_ratios_LDADD = $(BENCH_LIBS)

bench-gate: bench/gate-ratios bench/gate-icount
	$(GATE_RUN) --ref="$(GATE_REF)" $(GATE_FLAGS)

bench-gate-baseline: bench/gate-ratios bench/gate-icount
	$(GATE_RUN) --update-baseline $(GATE_FLAGS)

bench-gate-selftest: bench/gate-ratios bench/gate-icount
	EMBSIMD_TUNING=off GATE_PY='$(GATE_PY)' MAKE='$(MAKE)' $(SHELL) $(top_srcdir)/bench/gate_selftest.sh \
	  --srcdir=$(top_srcdir) --build=. --dir=$(GATE_SELFTEST_DIR) --runs=$(GATE_SELFTEST_RUNS)
else
bench-gate bench-gate-baseline bench-gate-selftest:
	@echo "make $@ needs Google Benchmark and OpenBLAS (pkg-config benchmark openblas), not found at configure time." >&2
	@echo "Install them (Debian: apt-get install libbenchmark-dev libopenblas-dev) and re-run ./configure." >&2
	@exit 1
endif
