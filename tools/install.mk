# tools/install.mk - what `make install` gives the tools beyond their
# binaries (included from Makefile.am): a man page each, written by
# help2man from the built tool's --help (configure's EMB_MANPAGES: help2man
# found, not a cross build), and `make installcheck`: each installed tool's
# --help and a tiny real run from $(bindir) (tools/installcheck.sh).
EXTRA_DIST += tools/install.mk tools/installcheck.sh

if EMB_MANPAGES
# Made from the built binaries, so not distributed.
nodist_man1_MANS = verify/embsimd-verify.1 tools/embsimd-similar.1 tools/embsimd-tune.1
CLEANFILES += verify/embsimd-verify.1 tools/embsimd-similar.1 tools/embsimd-tune.1
if EMB_BENCH
nodist_man1_MANS += bench/embsimd-bench.1
CLEANFILES += bench/embsimd-bench.1
endif
EMB_MAN1DIR = $(DESTDIR)$(man1dir)
# The tools print no --version: the package's is the manual's.
EMB_HELP2MAN = $(HELP2MAN) --no-info --no-discard-stderr --version-string=$(PACKAGE_VERSION)

verify/embsimd-verify.1: verify/embsimd-verify$(EXEEXT)
	$(EMB_HELP2MAN) --name="prove embsimd's kernels equal their one-hot products bit for bit" \
	  --output=$@ ./verify/embsimd-verify
tools/embsimd-similar.1: tools/embsimd-similar$(EXEEXT)
	$(EMB_HELP2MAN) --name="nearest tokens, analogies and distances on a token table" \
	  --output=$@ ./tools/embsimd-similar
tools/embsimd-tune.1: tools/embsimd-tune$(EXEEXT)
	$(EMB_HELP2MAN) --name="measure this machine's schedule for libembsimd" \
	  --output=$@ ./tools/embsimd-tune
bench/embsimd-bench.1: bench/embsimd-bench$(EXEEXT)
	$(EMB_HELP2MAN) --name="throughput of every embsimd implementation over a shape grid" \
	  --output=$@ ./bench/embsimd-bench
endif

installcheck-local:
	$(SHELL) $(srcdir)/tools/installcheck.sh "$(DESTDIR)$(bindir)" "$(DESTDIR)$(libdir)" \
	  "$(EMB_MAN1DIR)" "$(srcdir)"
