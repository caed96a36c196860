# verify/verify.mk - the verifier embsimd-verify, its Check test, `make
# verify`, and the libFuzzer harness (included from Makefile.am).

EXTRA_DIST += \
	verify/lemma_kernel.c \
	verify/fuzz_embsimd.c \
	verify/fuzz_layer.c \
	verify/fuzz_layer.h \
	verify/fuzz_corpus \
	verify/fuzz.sh \
	verify/verify_quick.sh \
	verify/test_extreme_schedules.sh \
	verify/compare_digests.sh
CLEANFILES += verify/verify-quick.json
.PHONY: verify fuzz fuzz-build clean-fuzz

# Test scripts run the verifier through libtool (which finds the
# uninstalled library) and the test wrapper (qemu for a cross build).
TEST_EXTENSIONS = .sh .py
SH_LOG_COMPILER = env TEST_WRAPPER='$(TEST_WRAPPER)' LIBTOOL='$(LIBTOOL)' $(SHELL)

if EMB_TESTS
# --- the lemma sweep's kernel, once per instruction set --------------------
# One source, compiled with each ISA's flags under its own name: only these
# objects may use instructions beyond the baseline, and the driver calls one
# only after checking the CPU has it.
noinst_LTLIBRARIES += verify/liblemma_base.la
verify_liblemma_base_la_SOURCES = verify/lemma_kernel.c verify/lemmas.h
VERIFY_LEMMA_LIBS = verify/liblemma_base.la
if EMB_AVX2
noinst_LTLIBRARIES += verify/liblemma_avx2.la
verify_liblemma_avx2_la_SOURCES = verify/lemma_kernel.c verify/lemmas.h
verify_liblemma_avx2_la_CPPFLAGS = $(AM_CPPFLAGS) -DVF_LEMMA_KERNEL=vf_lemma_kernel_avx2
verify_liblemma_avx2_la_CFLAGS = $(AM_CFLAGS) $(CFLAGS_AVX2)
VERIFY_LEMMA_LIBS += verify/liblemma_avx2.la
endif
if EMB_AVX512
noinst_LTLIBRARIES += verify/liblemma_avx512.la
verify_liblemma_avx512_la_SOURCES = verify/lemma_kernel.c verify/lemmas.h
verify_liblemma_avx512_la_CPPFLAGS = $(AM_CPPFLAGS) -DVF_LEMMA_KERNEL=vf_lemma_kernel_avx512
verify_liblemma_avx512_la_CFLAGS = $(AM_CFLAGS) $(CFLAGS_AVX512)
VERIFY_LEMMA_LIBS += verify/liblemma_avx512.la
endif

# --- the checkers, the model, the sections --------------------------------
noinst_LTLIBRARIES += verify/libverify.la
verify_libverify_la_SOURCES = \
	verify/verify.h \
	verify/ieee.h \
	verify/formats.h \
	verify/lemmas.h \
	verify/inputs.c \
	verify/check.c \
	verify/dense.c \
	verify/cases.c \
	verify/lemmas.c \
	verify/format_lemmas.c \
	verify/hw_narrow.c \
	verify/init_check.c \
	verify/fpmode.c \
	verify/blas_route.c \
	verify/digest.c \
	verify/layer.c \
	verify/bag_check.c \
	verify/report.c \
	verify/scan_check.c
verify_libverify_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/verify $(XXHASH_CFLAGS)
verify_libverify_la_LIBADD = $(VERIFY_LEMMA_LIBS) verify/libgen.la verify/libreference.la \
	$(XXHASH_LIBS) -lm
if EMB_OPENBLAS
verify_libverify_la_CPPFLAGS += -DVF_HAVE_OPENBLAS $(OPENBLAS_CFLAGS)
verify_libverify_la_LIBADD += $(OPENBLAS_LIBS)
endif

# --- embsimd-verify (installed) -------------------------------------------
bin_PROGRAMS += verify/embsimd-verify
verify_embsimd_verify_SOURCES = verify/embsimd_verify.c
verify_embsimd_verify_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/verify \
	-DVF_BUILD_CFLAGS='"$(CFLAGS) $(EMB_CFLAGS)"'
verify_embsimd_verify_LDADD = verify/libverify.la src/libembsimd.la

# --- tests: the checkers catch broken kernels; the quick verifier run -----
check_PROGRAMS += verify/test_verify
verify_test_verify_SOURCES = verify/test_verify.c
verify_test_verify_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/verify
verify_test_verify_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
verify_test_verify_LDADD = verify/libverify.la src/libembsimd.la $(CHECK_LIBS)
TESTS += verify/test_verify
# verify_quick.sh, and the verifier under extreme schedules (the same bits
# as the defaults'), are listed with the slowest tests in Makefile.am.

verify: verify/embsimd-verify$(EXEEXT)
	$(LIBTOOL) --mode=execute $(TEST_WRAPPER) verify/embsimd-verify$(EXEEXT) --quick \
		--json verify/verify-quick.json $(VERIFY_FLAGS)
else
verify:
	@echo "make verify needs Check and xxHash (pkg-config check libxxhash), not found at configure time." >&2
	@echo "Install them (Debian: apt-get install check libxxhash-dev) and re-run ./configure." >&2
	@exit 1
endif

# --- the differential fuzzer ----------------------------------------------
# Built outside automake: it needs clang and its own copy of the library
# compiled with -fsanitize=fuzzer, so coverage reaches into the kernels.
# `make fuzz FUZZ_SECONDS=60` builds it and runs it for that long. The
# AVX-512 file compiles beside the rest: under clang's fuzzer and sanitizer
# passes it takes 3.7 minutes and the AVX2 file 2.4 (Zen 4), the others
# together 1.5, so two streams finish in 4 minutes instead of 7.5.
# FUZZ_AVX512=auto (the default) leaves AVX-512's file out where this CPU
# lacks AVX-512 F, BW, VL or DQ: the fuzzer could never run its code there,
# and with it the build took 11 minutes on a Zen 1 (the fuzzer's own config.h
# in $(FUZZ_OBJDIR) then lacks EMB_HAVE_AVX512, as --disable-avx512 would).
# FUZZ_AVX512=yes compiles it anyway, FUZZ_AVX512=no never. Line tables
# are all a sanitizer's report needs; full -g cost the AVX2 file a fifth
# more CPU (315 s against 253 on a Zen 1).
FUZZ_CC = clang
FUZZ_SECONDS = 60
FUZZ_AVX512 = auto
FUZZ_CFLAGS = -gline-tables-only -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer -ffp-contract=off
FUZZ_OBJDIR = verify/fuzz-obj

fuzz-build: config.h
	@if ! $(FUZZ_CC) --version >/dev/null 2>&1; then \
	  echo "make fuzz needs clang with libFuzzer: FUZZ_CC=$(FUZZ_CC) not found." >&2; \
	  echo "Debian: apt-get install clang libclang-rt-14-dev (or make fuzz FUZZ_CC=clang-14)." >&2; \
	  exit 1; \
	fi
	rm -rf $(FUZZ_OBJDIR) && $(MKDIR_P) $(FUZZ_OBJDIR)
	@set -e; objs=""; pids=""; \
	avx512=$(FUZZ_AVX512); \
	case $$avx512 in yes|no|auto) ;; \
	  *) echo "FUZZ_AVX512 is yes, no or auto, not '$$avx512'" >&2; exit 2;; esac; \
	if test $$avx512 = auto; then avx512=yes; \
	  for f in avx512f avx512bw avx512vl avx512dq; do \
	    grep -qw $$f /proc/cpuinfo 2>/dev/null || avx512=no; done; \
	  test $$avx512 = yes || \
	    echo "  (AVX-512's file left out: this CPU cannot run it; FUZZ_AVX512=yes compiles it)"; \
	fi; \
	test -n "$(src_libembsimd_avx512_la_SOURCES)" || avx512=no; \
	if test $$avx512 = yes; then cp config.h $(FUZZ_OBJDIR)/config.h; \
	else grep -v 'define EMB_HAVE_AVX512' config.h >$(FUZZ_OBJDIR)/config.h; fi; \
	object() { echo $(FUZZ_OBJDIR)/`echo "$$1" | sed 's|/|_|g; s|\.c$$|.o|'`; }; \
	build() { src=$$1; shift; \
	  echo "  FUZZCC   $$src"; \
	  $(FUZZ_CC) $(FUZZ_CFLAGS) "$$@" -I$(FUZZ_OBJDIR) -I$(top_builddir) -I$(top_srcdir)/src \
	    -I$(top_srcdir)/verify -c "$(top_srcdir)/$$src" -o "`object $$src`"; }; \
	compile() { objs="$$objs `object $$1`"; build "$$@"; }; \
	background() { objs="$$objs `object $$1`"; build "$$@" & pids="$$pids $$!"; }; \
	if test $$avx512 = yes; then \
	  for f in $(src_libembsimd_avx512_la_SOURCES); do background $$f $(CFLAGS_AVX512); done; \
	  for f in $(src_libembsimd_avx2_la_SOURCES); do compile $$f $(CFLAGS_AVX2); done; \
	else \
	  for f in $(src_libembsimd_avx2_la_SOURCES); do background $$f $(CFLAGS_AVX2); done; \
	fi; \
	for f in $(src_libembsimd_la_SOURCES) verify/gen.c verify/reference.c verify/fuzz_layer.c \
	    verify/fuzz_embsimd.c; do \
	  case $$f in *.c) compile $$f;; esac; done; \
	for f in $(src_libembsimd_neon_la_SOURCES); do compile $$f $(CFLAGS_NEON); done; \
	for p in $$pids; do wait $$p; done; \
	echo "  FUZZLD   verify/fuzz_embsimd"; \
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o verify/fuzz_embsimd $$objs $(PTHREAD_LIBS) -lpthread -lm

fuzz: fuzz-build
	$(SHELL) $(top_srcdir)/verify/fuzz.sh verify/fuzz_embsimd $(FUZZ_SECONDS) \
		$(top_srcdir)/verify/fuzz_corpus

clean-local: clean-fuzz
clean-fuzz:
	rm -rf $(FUZZ_OBJDIR) verify/fuzz_embsimd verify/fuzz-work verify/fuzz-artifacts
