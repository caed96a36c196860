# mpi/mpi.mk - libembsimd-mpi, the row-sharded ops over MPI (docs/mpi.md),
# its tests and its benchmark (included from Makefile.am). Built only when
# configure found MPI; the test script then runs the tests under mpirun at
# 1-4 ranks, and otherwise skips, saying why.
EXTRA_DIST += mpi/mpi.mk mpi/test_mpi.sh docs/mpi.md .ci/mpi.sh
if EMB_MPI
lib_LTLIBRARIES += mpi/libembsimd-mpi.la
include_HEADERS += mpi/embsimd_mpi.h
mpi_libembsimd_mpi_la_SOURCES = mpi/embsimd_mpi.h mpi/mpi_internal.h mpi/table.c \
	mpi/exchange.c mpi/lookup.c mpi/bag.c mpi/bag_max.c mpi/train.c
mpi_libembsimd_mpi_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/mpi $(MPI_CFLAGS)
mpi_libembsimd_mpi_la_LIBADD = src/libembsimd.la $(MPI_LIBS)
mpi_libembsimd_mpi_la_LDFLAGS = -version-info 0:0:0 -no-undefined

MPI_PROG_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/mpi -I$(top_srcdir)/verify $(MPI_CFLAGS)
MPI_PROG_LDADD = mpi/libembsimd-mpi.la src/libembsimd.la verify/libgen.la $(MPI_LIBS)
check_PROGRAMS += mpi/test_mpi
mpi_test_mpi_SOURCES = mpi/test_mpi.c
mpi_test_mpi_CPPFLAGS = $(MPI_PROG_CPPFLAGS)
mpi_test_mpi_LDADD = $(MPI_PROG_LDADD)
noinst_PROGRAMS += mpi/embsimd-bench-mpi
mpi_embsimd_bench_mpi_SOURCES = mpi/bench_mpi.c
mpi_embsimd_bench_mpi_CPPFLAGS = $(MPI_PROG_CPPFLAGS)
mpi_embsimd_bench_mpi_LDADD = $(MPI_PROG_LDADD)
else
EXTRA_DIST += mpi/embsimd_mpi.h mpi/mpi_internal.h mpi/table.c mpi/exchange.c mpi/lookup.c \
	mpi/bag.c mpi/bag_max.c mpi/train.c mpi/test_mpi.c mpi/bench_mpi.c
endif
TESTS += mpi/test_mpi.sh
# The script says why it skips when the tests were not built.
AM_TESTS_ENVIRONMENT += EMB_MPI_REASON='$(EMB_MPI_REASON)'; MPIRUN='$(MPIRUN)'; \
	export EMB_MPI_REASON MPIRUN;
EXTRA_DIST += mpi/bench_mpi.sh mpi/cost_model.py mpi/netns.sh
.PHONY: bench-mpi
if EMB_MPI
bench-mpi: mpi/embsimd-bench-mpi
	MPIRUN='$(MPIRUN)' $(SHELL) $(top_srcdir)/mpi/bench_mpi.sh
else
bench-mpi:
	@echo "bench-mpi: $(EMB_MPI_REASON)" >&2; exit 1
endif
