/* report.c - the verifier's report: printed as text section by section as
 * the checks finish, kept whole for --json, and progress on a terminal. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "verify.h"

typedef struct kv {
    char *key, *str; /* str NULL: a number */
    uint64_t num;
} kv;

typedef struct kvs {
    kv *v;
    size_t n, cap;
} kvs;

typedef struct line {
    vf_status st;
    int prose; /* text only, no status */
    char *label, *text;
    kvs data;
} line;

typedef struct section {
    char *id, *title;
    line *lines;
    size_t n, cap;
    kvs data;
    vf_status st;
    int printed;
} section;

struct vf_report {
    FILE *text;
    kvs meta;
    section *sec;
    size_t n, cap;
};

const char *vf_status_name(vf_status s)
{
    switch (s) {
    case VF_PASS: return "PASS";
    case VF_FAIL: return "FAIL";
    case VF_SKIP: return "SKIP";
    case VF_INFO: return "INFO";
    }
    return "?";
}

static void *xrealloc(void *p, size_t bytes)
{
    void *q = realloc(p, bytes);
    if (q == NULL) {
        fprintf(stderr, "embsimd-verify: out of memory for the report\n");
        exit(2);
    }
    return q;
}

static char *xstrdup(const char *s)
{
    const size_t n = strlen(s) + 1;
    return memcpy(xrealloc(NULL, n), s, n);
}

static char *vformat(const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    const int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    char *s = xrealloc(NULL, (size_t)(n < 0 ? 0 : n) + 1);
    vsnprintf(s, (size_t)(n < 0 ? 0 : n) + 1, fmt, ap);
    return s;
}

static kv *kvs_push(kvs *k, const char *key)
{
    if (k->n == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 8;
        k->v = xrealloc(k->v, k->cap * sizeof *k->v);
    }
    kv *e = &k->v[k->n++];
    e->key = xstrdup(key);
    e->str = NULL;
    e->num = 0;
    return e;
}

static void kvs_free(kvs *k)
{
    for (size_t i = 0; i < k->n; i++) {
        free(k->v[i].key);
        free(k->v[i].str);
    }
    free(k->v);
}

vf_report *vf_report_new(FILE *text)
{
    vf_report *r = xrealloc(NULL, sizeof *r);
    memset(r, 0, sizeof *r);
    r->text = text;
    return r;
}

void vf_report_free(vf_report *r)
{
    if (r == NULL)
        return;
    kvs_free(&r->meta);
    for (size_t s = 0; s < r->n; s++) {
        section *sec = &r->sec[s];
        for (size_t l = 0; l < sec->n; l++) {
            free(sec->lines[l].label);
            free(sec->lines[l].text);
            kvs_free(&sec->lines[l].data);
        }
        free(sec->lines);
        free(sec->id);
        free(sec->title);
        kvs_free(&sec->data);
    }
    free(r->sec);
    free(r);
}

void vf_report_meta(vf_report *r, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kv *e = kvs_push(&r->meta, key);
    e->str = vformat(fmt, ap);
    va_end(ap);
    if (r->text) {
        fprintf(r->text, "%-16s %s\n", key, e->str);
        fflush(r->text);
    }
}

static section *current(vf_report *r)
{
    if (r->n == 0)
        vf_report_section(r, "-", "checks");
    return &r->sec[r->n - 1];
}

void vf_report_section(vf_report *r, const char *id, const char *title)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 8;
        r->sec = xrealloc(r->sec, r->cap * sizeof *r->sec);
    }
    section *s = &r->sec[r->n++];
    memset(s, 0, sizeof *s);
    s->id = xstrdup(id);
    s->title = xstrdup(title);
    s->st = VF_INFO;
}

static line *push_line(vf_report *r)
{
    section *s = current(r);
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 16;
        s->lines = xrealloc(s->lines, s->cap * sizeof *s->lines);
    }
    line *l = &s->lines[s->n++];
    memset(l, 0, sizeof *l);
    return l;
}

void vf_report_text(vf_report *r, const char *fmt, ...)
{
    line *l = push_line(r);
    va_list ap;
    va_start(ap, fmt);
    l->text = vformat(fmt, ap);
    va_end(ap);
    l->prose = 1;
    l->st = VF_INFO;
    l->label = xstrdup("");
}

/* A section's status: FAIL if any line failed, else PASS if any passed. */
static vf_status worse(vf_status a, vf_status b)
{
    static const int rank[] = {[VF_INFO] = 0, [VF_SKIP] = 1, [VF_PASS] = 2, [VF_FAIL] = 3};
    return rank[b] > rank[a] ? b : a;
}

void vf_report_line(vf_report *r, vf_status st, const char *label, const char *fmt, ...)
{
    line *l = push_line(r);
    va_list ap;
    va_start(ap, fmt);
    l->text = vformat(fmt, ap);
    va_end(ap);
    l->st = st;
    l->label = xstrdup(label);
    section *s = current(r);
    s->st = worse(s->st, st);
}

static kvs *last_data(vf_report *r)
{
    section *s = current(r);
    return s->n ? &s->lines[s->n - 1].data : &s->data;
}

void vf_report_num(vf_report *r, const char *key, uint64_t v)
{
    kvs_push(last_data(r), key)->num = v;
}

void vf_report_str(vf_report *r, const char *key, const char *v)
{
    kvs_push(last_data(r), key)->str = xstrdup(v);
}

void vf_report_end_section(vf_report *r)
{
    section *s = current(r);
    if (s->printed || r->text == NULL)
        return;
    s->printed = 1;
    fprintf(r->text, "\n%s  %s  [%s]\n", s->id, s->title, vf_status_name(s->st));
    for (size_t i = 0; i < s->n; i++) {
        const line *l = &s->lines[i];
        if (l->prose)
            fprintf(r->text, "   %s\n", l->text);
        else
            fprintf(r->text, "   %-4s %-11s %s\n", vf_status_name(l->st), l->label, l->text);
    }
    fflush(r->text);
}

vf_status vf_report_result(const vf_report *r)
{
    vf_status st = VF_INFO;
    for (size_t s = 0; s < r->n; s++)
        st = worse(st, r->sec[s].st);
    return st == VF_FAIL ? VF_FAIL : VF_PASS;
}

/* ------------------------------------------------------------------ */
/* JSON                                                                 */
/* ------------------------------------------------------------------ */

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* One key per line: the digest comparison script reads them with grep. */
static void json_kvs(FILE *f, const kvs *k, const char *indent)
{
    fputc('{', f);
    for (size_t i = 0; i < k->n; i++) {
        fprintf(f, "%s\n%s  ", i ? "," : "", indent);
        json_string(f, k->v[i].key);
        fputs(": ", f);
        if (k->v[i].str)
            json_string(f, k->v[i].str);
        else
            fprintf(f, "%llu", (unsigned long long)k->v[i].num);
    }
    if (k->n)
        fprintf(f, "\n%s", indent);
    fputc('}', f);
}

int vf_report_write_json(const vf_report *r, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "embsimd-verify: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    fputs("{\n  \"tool\": \"embsimd-verify\",\n  \"meta\": ", f);
    json_kvs(f, &r->meta, "  ");
    fputs(",\n  \"sections\": [", f);
    for (size_t s = 0; s < r->n; s++) {
        const section *sec = &r->sec[s];
        fprintf(f, "%s\n    {\"id\": ", s ? "," : "");
        json_string(f, sec->id);
        fputs(", \"title\": ", f);
        json_string(f, sec->title);
        fprintf(f, ", \"status\": \"%s\",\n     \"data\": ", vf_status_name(sec->st));
        json_kvs(f, &sec->data, "     ");
        fputs(",\n     \"lines\": [", f);
        for (size_t i = 0; i < sec->n; i++) {
            const line *l = &sec->lines[i];
            fprintf(f, "%s\n       {\"status\": \"%s\", \"label\": ", i ? "," : "",
                    l->prose ? "TEXT" : vf_status_name(l->st));
            json_string(f, l->label);
            fputs(", \"text\": ", f);
            json_string(f, l->text);
            fputs(", \"data\": ", f);
            json_kvs(f, &l->data, "        ");
            fputc('}', f);
        }
        fputs("]}", f);
    }
    fprintf(f, "\n  ],\n  \"result\": \"%s\"\n}\n", vf_status_name(vf_report_result(r)));
    if (fclose(f) != 0) {
        fprintf(stderr, "embsimd-verify: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Progress                                                             */
/* ------------------------------------------------------------------ */

static int progress_shown = -1;

void vf_progress(const char *what, uint64_t done, uint64_t total)
{
    static int tty = -1;
    if (tty < 0)
        tty = isatty(2);
    if (!tty || total == 0)
        return;
    const int pct = (int)(done * 100 / total);
    if (pct == progress_shown)
        return;
    progress_shown = pct;
    fprintf(stderr, "\r%s: %3d%%\033[K", what, pct);
    fflush(stderr);
}

void vf_progress_done(void)
{
    if (progress_shown >= 0) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
    }
    progress_shown = -1;
}
