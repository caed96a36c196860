# tools/word2vec.mk - embsimd-word2vec (docs/word2vec.md), included from
# tools/tools.mk.
EXTRA_DIST += tools/word2vec.mk

bin_PROGRAMS += tools/embsimd-word2vec
tools_embsimd_word2vec_SOURCES = tools/embsimd_word2vec.c \
	tools/w2v_corpus.c tools/w2v_corpus.h \
	tools/w2v_eval.c tools/w2v_eval.h \
	tools/w2v_math.c tools/w2v_math.h \
	tools/w2v_train.c tools/w2v_train.h
tools_embsimd_word2vec_CFLAGS = $(AM_CFLAGS) $(PTHREAD_CFLAGS)
tools_embsimd_word2vec_LDADD = src/libembsimd.la $(PTHREAD_LIBS) -lm

# The quick run on a slice: digests across implementations and threads.
EXTRA_DIST += tools/test_word2vec.sh
TESTS += tools/test_word2vec.sh
