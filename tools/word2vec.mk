# tools/word2vec.mk - embsimd-word2vec (docs/word2vec.md), included from
# tools/tools.mk.
EXTRA_DIST += tools/word2vec.mk docs/word2vec.md

bin_PROGRAMS += tools/embsimd-word2vec
tools_embsimd_word2vec_SOURCES = tools/embsimd_word2vec.c \
	tools/w2v_corpus.c tools/w2v_corpus.h \
	tools/w2v_eval.c tools/w2v_eval.h \
	tools/w2v_math.c tools/w2v_math.h \
	tools/w2v_train.c tools/w2v_train.h \
	tools/w2v_jobs.c tools/w2v_jobs.h
tools_embsimd_word2vec_CFLAGS = $(AM_CFLAGS) $(PTHREAD_CFLAGS)
tools_embsimd_word2vec_LDADD = src/libembsimd.la $(PTHREAD_LIBS) -lm

# The quick run on a slice: digests across implementations and threads.
EXTRA_DIST += tools/test_word2vec.sh
# (tools/test_word2vec.sh is listed with the slowest tests in Makefile.am.)

# The comparison with gensim (optional/word2vec_report.py): never needed by
# make check; PyPI's gensim in a venv of its own.
EXTRA_DIST += optional/word2vec_report.py .ci/word2vec.sh
W2V_VENV = $(abs_top_builddir)/_venv_w2v
W2V_GENSIM = gensim==4.4.0
W2V_CORPUS = /usr/share/dictd/gcide.dict.dz
W2V_REPORT_ARGS =
.PHONY: word2vec-env word2vec-report

word2vec-env:
	@set -e; test -x $(W2V_VENV)/bin/python || python3 -m venv $(W2V_VENV); \
	$(W2V_VENV)/bin/python -c 'import gensim' 2>/dev/null || \
	  $(W2V_VENV)/bin/pip install -q $(W2V_GENSIM); \
	echo "word2vec-env: $(W2V_VENV) has $(W2V_GENSIM)"

# From a clone: ./bootstrap && make word2vec-report (about 5-8 minutes on
# 2 cores). Writes results/word2vec.md and results/word2vec.svg.
word2vec-report: tools/embsimd-word2vec tools/embsimd-similar
	@if ! test -r $(W2V_CORPUS); then \
	  echo "SKIP: word2vec-report: $(W2V_CORPUS) is not installed (Debian package dict-gcide)"; \
	  exit 0; \
	fi; \
	$(MAKE) $(AM_MAKEFLAGS) word2vec-env && \
	$(W2V_VENV)/bin/python $(top_srcdir)/optional/word2vec_report.py \
	  --build-dir=$(abs_top_builddir) --corpus=$(W2V_CORPUS) \
	  --work=$(abs_top_builddir)/_word2vec --out=$(top_srcdir)/results/word2vec.md \
	  $(W2V_REPORT_ARGS)
