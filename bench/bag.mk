# bench/bag.mk - embsimd-bench-bag, EmbeddingBag's benchmark (included from
# Makefile.am). `make bench-bag` prints its table.
EXTRA_DIST += bench/bag.mk
noinst_PROGRAMS += bench/embsimd-bench-bag
bench_embsimd_bench_bag_SOURCES = bench/bag_bench.c
bench_embsimd_bench_bag_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/verify
bench_embsimd_bench_bag_LDADD = src/libembsimd.la verify/libgen.la
.PHONY: bench-bag
bench-bag: bench/embsimd-bench-bag
	bench/embsimd-bench-bag $(BENCH_BAG_FLAGS)
