/*
 * A bump allocator. Objects of one load (YAML nodes, strings, typed specs)
 * come from an arena and are freed together, which keeps parsing fast and
 * cleanup trivial.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define CHUNK_SIZE (64 * 1024)

struct arena_chunk {
    arena_chunk *next;
    size_t used, cap;
    max_align_t data[];
};

void arena_init(arena *a)
{
    a->head = NULL;
    a->total = 0;
}

void arena_clear(arena *a)
{
    arena_chunk *c = a->head;

    while (c) {
        arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->total = 0;
}

void *arena_alloc_raw(arena *a, size_t size)
{
    /* 8 bytes: enough for every type the model allocates (pointers, int64_t) */
    const size_t align = 8;
    arena_chunk *c = a->head;
    size_t need = (size + align - 1) / align * align;
    void *p;

    if (need < size)
        return NULL;
    if (!c || c->cap - c->used < need) {
        size_t cap = need > CHUNK_SIZE / 2 ? need : CHUNK_SIZE;
        arena_chunk *n = malloc(sizeof(*n) + cap);

        if (!n)
            return NULL;
        n->used = 0;
        n->cap = cap;
        if (c && need > CHUNK_SIZE / 2) {
            /* a big block goes behind the current chunk so it keeps filling */
            n->next = c->next;
            c->next = n;
        } else {
            n->next = c;
            a->head = n;
        }
        c = n;
    }
    p = (char *)c->data + c->used;
    c->used += need;
    a->total += need;
    return p;
}

void *arena_alloc(arena *a, size_t size)
{
    void *p = arena_alloc_raw(a, size);

    if (p)
        memset(p, 0, size);
    return p;
}

char *arena_strndup(arena *a, const char *s, size_t n)
{
    char *p = arena_alloc_raw(a, n + 1);

    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *arena_strdup(arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

char *arena_printf(arena *a, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    p = arena_alloc(a, (size_t)n + 1);
    if (!p)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void arena_adopt(arena *dst, arena *src)
{
    arena_chunk *c = src->head;

    if (!c)
        return;
    while (c->next)
        c = c->next;
    c->next = dst->head;
    dst->head = src->head;
    dst->total += src->total;
    src->head = NULL;
    src->total = 0;
}
