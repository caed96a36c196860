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
