/* w2v_corpus.h - embsimd-word2vec's corpus: the text of a file (gzip or
 * dictzip read through gzip -dc) cut into words and sentences, the
 * vocabulary, and the text as vocabulary ids. The tokenisation is
 * docs/word2vec.md "Tokenisation". */
#ifndef W2V_CORPUS_H
#define W2V_CORPUS_H

#include <stdint.h>
#include <stdio.h>

/* Sentences longer than this are cut (gensim cuts at 10000). */
#define W2V_MAX_SENTENCE 1000
/* Longer runs of letters are cut into words of this many letters. */
#define W2V_MAX_WORD 64

typedef struct w2v_corpus {
    int64_t vocab;     /* words kept: count >= min_count */
    char **words;      /* vocab words, most frequent first, ties in byte order */
    int64_t *count;    /* their counts */
    int32_t *ids;      /* the text, vocabulary words only, as ids */
    int64_t nids;
    int64_t *sent;     /* nsent + 1 starts: sentence s is ids[sent[s] .. sent[s + 1]) */
    int64_t nsent;
    int64_t tokens;    /* every word read, in the vocabulary or not */
    int64_t distinct;  /* distinct words read */
    int64_t bytes;     /* bytes of text read */
    char *arena;       /* the words' bytes */
} w2v_corpus;

/* Reads up to max_words words (0: all) of @p path and keeps the words seen
 * at least min_count times. @p dump, when not NULL, receives the sentences
 * as read (every word, one sentence a line, words separated by one space):
 * what gensim's LineSentence reads back as the same tokens. Returns 0, or
 * -1 with the reason in err. */
int w2v_corpus_read(w2v_corpus *c, const char *path, int64_t max_words, int64_t min_count,
                    FILE *dump, char *err, size_t errlen);
void w2v_corpus_free(w2v_corpus *c);

/* The id of word w, or -1 when it is not in the vocabulary. */
int32_t w2v_corpus_find(const w2v_corpus *c, const char *w);

#endif /* W2V_CORPUS_H */
