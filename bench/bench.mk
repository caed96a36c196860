# bench/bench.mk - the benchmark suite (included from Makefile.am).
.PHONY: bench
bench: $(check_PROGRAMS)
	@echo "bench: the benchmark suite is not built yet; running the unit tests as a self-check."
	$(MAKE) $(AM_MAKEFLAGS) check
