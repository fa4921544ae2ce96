/*
 * Diagnostics: every problem found in a load, kept with its file, line and
 * column, sorted before the caller sees them. Strings are owned by the list,
 * so it outlives the repository that produced it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsvmops/error.h"
#include "internal.h"

typedef struct {
    dsvm_diag pub;
    int file_id;
    size_t seq;
} diag_entry;

struct dsvm_diags {
    diag_entry *items;
    size_t n, cap;
    char **files;
    size_t n_files, cap_files;
    size_t errors; /* including dropped ones */
    size_t max;    /* 0 = unlimited */
    arena strings;
};

int dsvm_diags_new(dsvm_diags **out)
{
    dsvm_diags *d = calloc(1, sizeof(*d));

    if (!d)
        return dsvm_error_oom();
    arena_init(&d->strings);
    *out = d;
    return 0;
}

void dsvm_diags_free(dsvm_diags *d)
{
    size_t i;

    if (!d)
        return;
    for (i = 0; i < d->n_files; i++)
        free(d->files[i]);
    free(d->files);
    free(d->items);
    arena_clear(&d->strings);
    free(d);
}

size_t dsvm_diags_count(const dsvm_diags *d)
{
    return d ? d->n : 0;
}

size_t dsvm_diags_errors(const dsvm_diags *d)
{
    return d ? d->errors : 0;
}

const dsvm_diag *dsvm_diags_get(const dsvm_diags *d, size_t i)
{
    if (!d || i >= d->n)
        return NULL;
    return &d->items[i].pub;
}

int dsvm_diag_format(char **out, const dsvm_diag *g)
{
    const char *sev = g->severity == DSVM_DIAG_WARNING ? "warning" : "error";
    const char *hint = g->hint ? g->hint : "";
    const char *sep = g->hint ? "; " : "";
    char *s = NULL;
    int n;

    if (g->line)
        n = snprintf(NULL, 0, "%s:%u:%u: %s: %s%s%s", g->file, g->line, g->col, sev, g->message,
                     sep, hint);
    else
        n = snprintf(NULL, 0, "%s: %s: %s%s%s", g->file, sev, g->message, sep, hint);
    if (n < 0)
        return DSVM_ERROR;
    s = malloc((size_t)n + 1);
    if (!s)
        return dsvm_error_oom();
    if (g->line)
        snprintf(s, (size_t)n + 1, "%s:%u:%u: %s: %s%s%s", g->file, g->line, g->col, sev,
                 g->message, sep, hint);
    else
        snprintf(s, (size_t)n + 1, "%s: %s: %s%s%s", g->file, sev, g->message, sep, hint);
    *out = s;
    return 0;
}

/* Register a file name; returns its id (its rank in load order), or -1 on OOM. */
int diags_add_file(dsvm_diags *d, const char *path)
{
    char *copy;

    if (d->n_files == d->cap_files) {
        size_t cap = d->cap_files ? d->cap_files * 2 : 64;
        char **f = realloc(d->files, cap * sizeof(*f));

        if (!f)
            return -1;
        d->files = f;
        d->cap_files = cap;
    }
    copy = strdup(path);
    if (!copy)
        return -1;
    d->files[d->n_files] = copy;
    return (int)d->n_files++;
}

const char *diags_file(const dsvm_diags *d, int file_id)
{
    if (file_id < 0 || (size_t)file_id >= d->n_files)
        return "";
    return d->files[file_id];
}

bool diags_full(const dsvm_diags *d)
{
    return d->max && d->n >= d->max;
}

void diags_set_max(dsvm_diags *d, size_t max)
{
    d->max = max;
}

static void add_entry(dsvm_diags *d, dsvm_diag_severity sev, int file_id, uint32_t line,
                      uint32_t col, const char *hint, const char *fmt, va_list ap)
{
    diag_entry *e;
    va_list copy;
    char *msg;
    int n;

    if (sev == DSVM_DIAG_ERROR)
        d->errors++;
    if (d->max && d->n >= d->max)
        return;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 32;
        diag_entry *items = realloc(d->items, cap * sizeof(*items));

        if (!items)
            return;
        d->items = items;
        d->cap = cap;
    }
    va_copy(copy, ap);
    n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0)
        return;
    msg = arena_alloc(&d->strings, (size_t)n + 1);
    if (!msg)
        return;
    vsnprintf(msg, (size_t)n + 1, fmt, ap);
    e = &d->items[d->n];
    e->pub.severity = sev;
    e->pub.file = diags_file(d, file_id);
    e->pub.line = line;
    e->pub.col = col;
    e->pub.message = msg;
    e->pub.hint = hint ? arena_strdup(&d->strings, hint) : NULL;
    e->file_id = file_id;
    e->seq = d->n;
    d->n++;
}

void diags_vadd(dsvm_diags *d, int file_id, uint32_t line, uint32_t col, const char *hint,
                const char *fmt, va_list ap)
{
    add_entry(d, DSVM_DIAG_ERROR, file_id, line, col, hint, fmt, ap);
}

void diags_vwarn(dsvm_diags *d, int file_id, uint32_t line, uint32_t col, const char *hint,
                 const char *fmt, va_list ap)
{
    add_entry(d, DSVM_DIAG_WARNING, file_id, line, col, hint, fmt, ap);
}

void diags_add(dsvm_diags *d, int file_id, uint32_t line, uint32_t col, const char *hint,
               const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    diags_vadd(d, file_id, line, col, hint, fmt, ap);
    va_end(ap);
}

static int cmp_entry(const void *pa, const void *pb)
{
    const diag_entry *a = pa, *b = pb;

    if (a->file_id != b->file_id)
        return a->file_id < b->file_id ? -1 : 1;
    if (a->pub.line != b->pub.line)
        return a->pub.line < b->pub.line ? -1 : 1;
    if (a->pub.col != b->pub.col)
        return a->pub.col < b->pub.col ? -1 : 1;
    if (a->seq != b->seq)
        return a->seq < b->seq ? -1 : 1;
    return 0;
}

/* Files are registered in load order (byte order of the path), so sorting by id sorts by file. */
void diags_sort(dsvm_diags *d)
{
    if (d->n > 1)
        qsort(d->items, d->n, sizeof(d->items[0]), cmp_entry);
}

static void add_sev(dsvm_diags *d, dsvm_diag_severity sev, int file_id, uint32_t line, uint32_t col,
                    const char *hint, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static void add_sev(dsvm_diags *d, dsvm_diag_severity sev, int file_id, uint32_t line, uint32_t col,
                    const char *hint, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    add_entry(d, sev, file_id, line, col, hint, fmt, ap);
    va_end(ap);
}

int diags_merge(dsvm_diags *dst, const dsvm_diags *src, int file_id)
{
    size_t i;

    if (!src)
        return 0;
    size_t kept_errors = 0;

    for (i = 0; i < src->n; i++) {
        const dsvm_diag *g = &src->items[i].pub;

        add_sev(dst, g->severity, file_id, g->line, g->col, g->hint, "%s", g->message);
        kept_errors += g->severity == DSVM_DIAG_ERROR;
    }
    dst->errors += src->errors - kept_errors;
    return 0;
}
