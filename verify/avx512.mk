# verify/avx512.mk - the AVX-512 tier (included from Makefile.am).
#
# verify/test_parity runs every kernel of each SIMD implementation and
# compares each output byte with scalar's, on calls small enough for an
# instruction-set emulator; make check runs it for every implementation the
# CPU has. `make check-avx512` runs .ci/avx512.sh: the AVX-512 selection
# (AVX512_SELECTION, with EMBSIMD_IMPL=avx512) natively where the CPU
# has AVX-512 F, BW, VL and DQ, else once under Bochs, from static builds of
# those programs in _avx512/ (README "AVX-512 on CPUs without it").
# AVX512_FLAGS passes options to the script, e.g. AVX512_FLAGS=--emulate.
EXTRA_DIST += verify/avx512.mk .ci/avx512.sh
.PHONY: check-avx512 clean-avx512
clean-local: clean-avx512
clean-avx512:
	rm -rf _avx512

if EMB_TESTS
check_PROGRAMS += verify/test_parity
TESTS += verify/test_parity
verify_test_parity_SOURCES = verify/test_parity.c
verify_test_parity_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
verify_test_parity_LDADD = $(UNIT_LDADD)

# What .ci/avx512.sh runs (its own list: it stops when one is missing here).
AVX512_SELECTION = verify/test_parity$(EXEEXT) verify/test_dispatch$(EXEEXT)
AVX512_FLAGS =
check-avx512: $(AVX512_SELECTION)
	$(SHELL) $(top_srcdir)/.ci/avx512.sh --builddir=$(abs_top_builddir) $(AVX512_FLAGS)
else
check-avx512:
	@echo "make check-avx512 needs Check and xxHash (pkg-config check libxxhash), not found at configure time." >&2
	@echo "Install them (Debian: apt-get install check libxxhash-dev) and re-run ./configure." >&2
	@exit 1
endif
