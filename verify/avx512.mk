# verify/avx512.mk - the AVX-512 tier (included from Makefile.am).
#
# verify/test_parity runs every kernel of each SIMD implementation and
# compares each output byte with scalar's, on calls small enough for an
# instruction-set emulator; make check runs it for every implementation the
# CPU has.
EXTRA_DIST += verify/avx512.mk

if EMB_TESTS
check_PROGRAMS += verify/test_parity
TESTS += verify/test_parity
verify_test_parity_SOURCES = verify/test_parity.c
verify_test_parity_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
verify_test_parity_LDADD = $(UNIT_LDADD)
endif
