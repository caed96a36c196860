# bench/bag.mk - embsimd-bench-bag, EmbeddingBag's benchmark (included from
# Makefile.am). `make bench-bag` prints its table.
EXTRA_DIST += bench/bag.mk
noinst_PROGRAMS += bench/embsimd-bench-bag
bench_embsimd_bench_bag_SOURCES = bench/bag_bench.c bench/context.c bench/context.h
bench_embsimd_bench_bag_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/verify -I$(top_builddir)/bench
# Through a variable, as bench.mk's: the object needs the generated header.
BAG_BENCH_CONTEXT_OBJECT = bench/embsimd_bench_bag-context.$(OBJEXT)
$(BAG_BENCH_CONTEXT_OBJECT): bench/build-info.h
bench_embsimd_bench_bag_LDADD = src/libembsimd.la verify/libgen.la
EXTRA_DIST += bench/test_bag_bench.sh
TESTS += bench/test_bag_bench.sh
.PHONY: bench-bag
bench-bag: bench/embsimd-bench-bag
	bench/embsimd-bench-bag $(BENCH_BAG_FLAGS)

# The EmbeddingBag peers alone (make compare-peers runs them too).
EXTRA_DIST += bench/peers/torch_bag.py
.PHONY: compare-peers-bag
compare-peers-bag: src/libembsimd.la
	@py=""; for p in "$$PYTHON" /usr/bin/python3 python3; do \
	  if test -n "$$p" && "$$p" -c 'import torch' >/dev/null 2>&1; then py=$$p; break; fi; done; \
	if test -z "$$py"; then \
	  echo "compare-peers-bag: SKIPPED: no Python here imports torch (Debian: apt-get install python3-torch)"; \
	  exit 0; fi; \
	$$py $(top_srcdir)/bench/peers/torch_bag.py --build-dir=. --results=$(BENCH_RESULTS) --rerun-cv=5 $(PEERS_BAG_FLAGS)
