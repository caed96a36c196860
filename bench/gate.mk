# bench/gate.mk - the regression gate (included from Makefile.am).
# `make bench-gate`: same-run ratios and instruction counts against
# results/baseline/<cpu>.json; `make bench-gate-baseline` re-records that
# baseline, `make bench-gate-baseline-merge` adds a recording to it; `make bench-gate-selftest` checks that the gate catches a
# --enable-slow-kernels build. results/README.md explains all three.
EXTRA_DIST += bench/gate.mk bench/gate.py bench/gate_selftest.sh
# The baselines travel with the sources: make bench-gate needs them.
EXTRA_DIST += results/README.md results/baseline
# Any Python 3 with its standard library.
GATE_PY = python3
# Extra arguments for bench/gate.py: make bench-gate GATE_FLAGS='--rounds=9'
GATE_FLAGS =
# Where bench-gate-selftest configures and builds the slowed library.
GATE_SLOW_BUILD = gate-slow-build
GATE_RUN = $(GATE_PY) $(top_srcdir)/bench/gate.py --build=. --results=$(top_srcdir)/results
.PHONY: bench-gate bench-gate-baseline bench-gate-baseline-merge bench-gate-selftest

# Needs only the library: callgrind runs it, so it must be the real binary
# (-no-install), not libtool's wrapper script.
noinst_PROGRAMS += bench/gate-icount
bench_gate_icount_SOURCES = bench/gate_icount.c bench/gate_case.c bench/gate_case.h
bench_gate_icount_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/verify
bench_gate_icount_LDADD = src/libembsimd.la verify/libgen.la
bench_gate_icount_LDFLAGS = -no-install
CLEANFILES += gate-run.json gate-ratios.log

if EMB_BENCH
noinst_PROGRAMS += bench/gate-ratios
bench_gate_ratios_SOURCES = bench/gate_ratios.c bench/gate_case.c bench/gate_case.h
# Links with the C++ driver: the suite's library holds the Google Benchmark shim.
nodist_EXTRA_bench_gate_ratios_SOURCES = bench/link-as-cxx.cc
bench_gate_ratios_CPPFLAGS = $(BENCH_CPPFLAGS)
bench_gate_ratios_LDADD = $(BENCH_LIBS)

bench-gate: bench/gate-ratios bench/gate-icount
	$(GATE_RUN) $(GATE_FLAGS)

bench-gate-baseline: bench/gate-ratios bench/gate-icount
	$(GATE_RUN) --update-baseline $(GATE_FLAGS)

bench-gate-baseline-merge: bench/gate-ratios bench/gate-icount
	$(GATE_RUN) --update-baseline --merge $(GATE_FLAGS)

bench-gate-selftest: bench/gate-ratios bench/gate-icount
	GATE_PY='$(GATE_PY)' MAKE='$(MAKE)' $(SHELL) $(top_srcdir)/bench/gate_selftest.sh \
	  --srcdir=$(top_srcdir) --build=. --slow-build=$(GATE_SLOW_BUILD)
else
bench-gate bench-gate-baseline bench-gate-baseline-merge bench-gate-selftest:
	@echo "make $@ needs Google Benchmark and OpenBLAS (pkg-config benchmark openblas), not found at configure time." >&2
	@echo "Install them (Debian: apt-get install libbenchmark-dev libopenblas-dev) and re-run ./configure." >&2
	@exit 1
endif
