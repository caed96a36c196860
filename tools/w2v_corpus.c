/* w2v_corpus.c - reading, tokenising and encoding embsimd-word2vec's corpus
 * (the rules: docs/word2vec.md "Tokenisation"). */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "w2v_corpus.h"
#include "w2v_math.h"

/* ---- a growable array and the word table -------------------------------- */

static int grow(void **p, int64_t *cap, int64_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    int64_t n = *cap ? *cap : 1024;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, (size_t)n * elem);
    if (q == NULL)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

typedef struct words {
    char *arena;
    int64_t arena_len, arena_cap;
    int64_t *off;    /* word i's bytes start at arena + off[i] */
    int64_t *count;
    int64_t n, cap, count_cap;
    int32_t *slot;   /* open addressing: word index or -1; capacity a power of two */
    int64_t nslots;
} words;

static uint64_t hash_word(const char *w, size_t len)
{
    return w2v_fnv1a(W2V_FNV_START, w, len);
}

static int words_rehash(words *t, int64_t nslots)
{
    int32_t *s = malloc((size_t)nslots * sizeof *s);
    if (s == NULL)
        return -1;
    memset(s, 0xff, (size_t)nslots * sizeof *s);
    for (int64_t i = 0; i < t->n; i++) {
        const char *w = t->arena + t->off[i];
        uint64_t h = hash_word(w, strlen(w)) & (uint64_t)(nslots - 1);
        while (s[h] >= 0)
            h = (h + 1) & (uint64_t)(nslots - 1);
        s[h] = (int32_t)i;
    }
    free(t->slot);
    t->slot = s;
    t->nslots = nslots;
    return 0;
}

/* The index of word w (adding it), or -1 when out of memory. */
static int64_t words_add(words *t, const char *w, size_t len)
{
    if (2 * (t->n + 1) > t->nslots && words_rehash(t, t->nslots ? 2 * t->nslots : 1 << 16) != 0)
        return -1;
    uint64_t h = hash_word(w, len) & (uint64_t)(t->nslots - 1);
    for (; t->slot[h] >= 0; h = (h + 1) & (uint64_t)(t->nslots - 1)) {
        const char *v = t->arena + t->off[t->slot[h]];
        if (strncmp(v, w, len) == 0 && v[len] == '\0')
            return t->slot[h];
    }
    if (grow((void **)&t->arena, &t->arena_cap, t->arena_len + (int64_t)len + 1, 1) != 0 ||
        grow((void **)&t->off, &t->cap, t->n + 1, sizeof *t->off) != 0 ||
        grow((void **)&t->count, &t->count_cap, t->n + 1, sizeof *t->count) != 0)
        return -1;
    memcpy(t->arena + t->arena_len, w, len);
    t->arena[t->arena_len + (int64_t)len] = '\0';
    t->off[t->n] = t->arena_len;
    t->count[t->n] = 0;
    t->arena_len += (int64_t)len + 1;
    t->slot[h] = (int32_t)t->n;
    return t->n++;
}

/* ---- the input: a file, or gzip -dc of it -------------------------------- */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Opens path; a gzip (or dictzip, the dictd format) file is read through
 * `gzip -dc`, whose process id goes to *child (else 0). */
static FILE *open_text(const char *path, pid_t *child, char *err, size_t errlen)
{
    *child = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        set_err(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    const int b0 = getc(f), b1 = getc(f);
    if (!(b0 == 0x1f && b1 == 0x8b)) {
        rewind(f);
        return f;
    }
    fclose(f);
    int fd[2];
    if (pipe(fd) != 0) {
        set_err(err, errlen, "pipe: %s", strerror(errno));
        return NULL;
    }
    const pid_t pid = fork();
    if (pid < 0) {
        set_err(err, errlen, "fork: %s", strerror(errno));
        return NULL;
    }
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execlp("gzip", "gzip", "-dc", "--", path, (char *)NULL);
        fprintf(stderr, "embsimd-word2vec: cannot run gzip -dc %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    close(fd[1]);
    *child = pid;
    f = fdopen(fd[0], "rb");
    if (f == NULL)
        set_err(err, errlen, "fdopen: %s", strerror(errno));
    return f;
}

/* ---- tokenising ----------------------------------------------------------- */

typedef struct reader {
    words t;
    int32_t *tok;    /* every word as a words index */
    int64_t ntok, tok_cap;
    int64_t *sent;   /* sentence starts in tok */
    int64_t nsent, sent_cap;
    int64_t in_sentence;
} reader;

static int end_sentence(reader *r)
{
    if (r->in_sentence == 0)
        return 0;
    r->in_sentence = 0;
    if (grow((void **)&r->sent, &r->sent_cap, r->nsent + 2, sizeof *r->sent) != 0)
        return -1;
    r->sent[++r->nsent] = r->ntok;
    return 0;
}

static int add_token(reader *r, const char *w, size_t len)
{
    const int64_t i = words_add(&r->t, w, len);
    if (i < 0 || grow((void **)&r->tok, &r->tok_cap, r->ntok + 1, sizeof *r->tok) != 0)
        return -1;
    r->t.count[i]++;
    r->tok[r->ntok++] = (int32_t)i;
    if (++r->in_sentence == W2V_MAX_SENTENCE)
        return end_sentence(r);
    return 0;
}

static int is_letter(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* The rules of docs/word2vec.md: [...] and \...\ spans dropped, words are
 * runs of ASCII letters, lower-cased; a blank line ends a sentence. */
static int tokenise(reader *r, FILE *f, int64_t max_words, int64_t *bytes)
{
    char w[W2V_MAX_WORD];
    size_t len = 0;
    int bracket = 0, backslash = 0, line_blank = 1, ch;
    r->sent[0] = 0;
    while ((ch = getc_unlocked(f)) != EOF) {
        (*bytes)++;
        if (is_letter(ch) && bracket == 0 && !backslash) {
            w[len++] = (char)(ch | 0x20);
            line_blank = 0;
            if (len < sizeof w)
                continue;
        }
        if (len > 0) {
            if (add_token(r, w, len) != 0)
                return -1;
            len = 0;
            if (max_words > 0 && r->ntok >= max_words)
                break;
        }
        if (ch == '[')
            bracket++;
        else if (ch == ']' && bracket > 0)
            bracket--;
        else if (ch == '\\')
            backslash = !backslash;
        else if (ch == '\n') {
            backslash = 0; /* a pronunciation never spans lines */
            if (line_blank) {
                bracket = 0; /* nor does an unclosed bracket span a paragraph */
                if (end_sentence(r) != 0)
                    return -1;
            }
            line_blank = 1;
        } else if (ch != ' ' && ch != '\t' && ch != '\r')
            line_blank = 0;
    }
    if (len > 0 && add_token(r, w, len) != 0)
        return -1;
    return end_sentence(r);
}

/* ---- the vocabulary ------------------------------------------------------ */

static const words *sort_words;
static int by_count(const void *a, const void *b)
{
    const int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    const int64_t ci = sort_words->count[i], cj = sort_words->count[j];
    if (ci != cj)
        return ci > cj ? -1 : 1;
    return strcmp(sort_words->arena + sort_words->off[i], sort_words->arena + sort_words->off[j]);
}

int w2v_corpus_read(w2v_corpus *c, const char *path, int64_t max_words, int64_t min_count,
                    FILE *dump, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    reader r;
    memset(&r, 0, sizeof r);
    pid_t child;
    FILE *f = open_text(path, &child, err, errlen);
    if (f == NULL)
        return -1;
    int rc = grow((void **)&r.sent, &r.sent_cap, 2, sizeof *r.sent) == 0
                 ? tokenise(&r, f, max_words, &c->bytes)
                 : -1;
    fclose(f);
    if (child > 0) {
        int status;
        waitpid(child, &status, 0);
        /* A slice (max_words) closes the pipe early: gzip's SIGPIPE is expected. */
        if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0) &&
            !(max_words > 0 && r.ntok >= max_words)) {
            set_err(err, errlen, "%s: gzip -dc failed (status %d)", path, status);
            rc = -2;
        }
    }
    if (rc == -1)
        set_err(err, errlen, "%s: out of memory after %lld words", path, (long long)r.ntok);
    if (rc == 0 && r.ntok == 0) {
        set_err(err, errlen, "%s: no words in %lld bytes", path, (long long)c->bytes);
        rc = -2;
    }
    int64_t *order = NULL, *remap = NULL;
    if (rc == 0) {
        order = malloc((size_t)r.t.n * sizeof *order);
        remap = malloc((size_t)r.t.n * sizeof *remap);
        c->ids = malloc((size_t)r.ntok * sizeof *c->ids);
        c->sent = malloc((size_t)(r.nsent + 1) * sizeof *c->sent);
        if (order == NULL || remap == NULL || c->ids == NULL || c->sent == NULL) {
            set_err(err, errlen, "out of memory for %lld words", (long long)r.ntok);
            rc = -1;
        }
    }
    if (rc == 0) {
        for (int64_t i = 0; i < r.t.n; i++)
            order[i] = i;
        sort_words = &r.t;
        qsort(order, (size_t)r.t.n, sizeof *order, by_count);
        while (c->vocab < r.t.n && r.t.count[order[c->vocab]] >= min_count)
            c->vocab++;
        if (c->vocab == 0) {
            set_err(err, errlen, "%s: no word occurs --min-count=%lld times (%lld words read)",
                    path, (long long)min_count, (long long)r.ntok);
            rc = -2;
        }
    }
    if (rc == 0) {
        c->words = malloc((size_t)c->vocab * sizeof *c->words);
        c->count = malloc((size_t)c->vocab * sizeof *c->count);
        if (c->words == NULL || c->count == NULL)
            rc = -1;
    }
    if (rc == 0) {
        for (int64_t i = 0; i < r.t.n; i++)
            remap[i] = -1;
        for (int64_t v = 0; v < c->vocab; v++) {
            remap[order[v]] = v;
            c->words[v] = r.t.arena + r.t.off[order[v]];
            c->count[v] = r.t.count[order[v]];
        }
        for (int64_t s = 0; s < r.nsent; s++) {
            const int64_t start = c->nids;
            for (int64_t k = r.sent[s]; k < r.sent[s + 1]; k++) {
                if (dump != NULL)
                    fprintf(dump, k == r.sent[s] ? "%s" : " %s", r.t.arena + r.t.off[r.tok[k]]);
                if (remap[r.tok[k]] >= 0)
                    c->ids[c->nids++] = (int32_t)remap[r.tok[k]];
            }
            if (dump != NULL)
                fputc('\n', dump);
            if (c->nids > start)
                c->sent[c->nsent++] = start;
        }
        c->sent[c->nsent] = c->nids;
        c->tokens = r.ntok;
        c->distinct = r.t.n;
        c->arena = r.t.arena;
        r.t.arena = NULL;
    }
    free(order), free(remap), free(r.tok), free(r.sent);
    free(r.t.arena), free(r.t.off), free(r.t.count), free(r.t.slot);
    if (rc != 0) {
        w2v_corpus_free(c);
        return -1;
    }
    return 0;
}

void w2v_corpus_free(w2v_corpus *c)
{
    free(c->words), free(c->count), free(c->ids), free(c->sent), free(c->arena);
    memset(c, 0, sizeof *c);
}

int32_t w2v_corpus_find(const w2v_corpus *c, const char *w)
{
    /* Linear: used for a few probe words, never in training. */
    for (int64_t v = 0; v < c->vocab; v++)
        if (strcmp(c->words[v], w) == 0)
            return (int32_t)v;
    return -1;
}
