# tools/tools.mk - command-line tools built on the library (included from
# Makefile.am).
EXTRA_DIST += tools/tools.mk

# embsimd-similar: nearest tokens, analogies, pair distances, quantization
# survival and the scan's speed on a token table (make real-table).
bin_PROGRAMS += tools/embsimd-similar
tools_embsimd_similar_SOURCES = tools/embsimd_similar.c
tools_embsimd_similar_LDADD = src/libembsimd.la -lm

# The tool on a tiny hand-made table: standard-library Python only.
EXTRA_DIST += tools/test_similar.py
TESTS += tools/test_similar.py

# embsimd-tune: measures this machine's schedule (src/tuning.c) and writes
# the tuning file the library reads on first use.
bin_PROGRAMS += tools/embsimd-tune
tools_embsimd_tune_SOURCES = tools/embsimd_tune.c bench/typed_inputs.c bench/typed_inputs.h
tools_embsimd_tune_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/verify -I$(top_srcdir)/bench
tools_embsimd_tune_LDADD = src/libembsimd.la verify/libgen.la -lm

# Its interface and a tiny real run whose file the library then reads.
EXTRA_DIST += tools/test_tune.sh
TESTS += tools/test_tune.sh

# embsimd-word2vec: word2vec trained with the library's ops, its quick test
# and the comparison with gensim (make word2vec-report).
include $(top_srcdir)/tools/word2vec.mk
