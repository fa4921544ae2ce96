/*
 * Field-level diff of one resource under its type's rules. See diff.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dsvmops/error.h"
#include "diff.h"

/* The rule lists a pattern can come from. */
enum { L_READ_ONLY, L_WRITE_ONLY, L_IMMUTABLE, L_NORM, L_DEFAULT };

/* A rule pattern that still matches the path walked so far; `rest` is the
 * part of it not matched yet ("" when it matches the path itself). */
typedef struct {
    const char *rest;
    int list;
    size_t idx; /* index in its list */
} cand;

typedef struct {
    const dsvm_type_rules *rules;
    dsvm_diff *diff;
    size_t cap;
    char *path; /* the dotted path of the field being compared */
    size_t len, path_cap;
    /* Patterns that can still match the current path or a path below it:
     * cands[base .. base+count). Each child keeps the ones its segment
     * matches, so a field is checked against a few rules, not all. */
    cand *cands;
    size_t n_cands, cands_cap, base, count;
    int depth;
} walker;

/* Match `pattern` against `path`, segment by segment (segments end at '.'
 * or NUL; a pattern segment "*" matches any one segment). With `prefix`,
 * the pattern also matches every path below it. The diff calls this for
 * every rule at every field, so it walks both strings once. */
static int match(const char *p, const char *s, int prefix)
{
    for (;;) {
        if (p[0] == '*' && (p[1] == '.' || p[1] == '\0')) {
            p++;
            while (*s && *s != '.')
                s++;
        } else {
            while (*p && *p != '.' && *p == *s) {
                p++;
                s++;
            }
            if ((*p && *p != '.') || (*s && *s != '.'))
                return 0;
        }
        if (*p == '\0')
            return *s == '\0' || prefix;
        if (*s == '\0')
            return 0;
        p++;
        s++;
    }
}

int dsvm_path_matches(const char *pattern, const char *path)
{
    return match(pattern, path, 1);
}

static int in_list(const char *const *list, const char *path)
{
    for (; list && *list; list++)
        if (match(*list, path, 1))
            return 1;
    return 0;
}

static unsigned normaliser_for(const dsvm_type_rules *rules, const char *path)
{
    const dsvm_field_norm *n;

    for (n = rules->normalisers; n && n->path; n++)
        if (match(n->path, path, 0))
            return n->norm;
    return 0;
}

static const char *server_default(const dsvm_type_rules *rules, const char *path)
{
    const dsvm_field_default *d;

    for (d = rules->server_defaults; d && d->path; d++)
        if (match(d->path, path, 0))
            return d->json_value;
    return NULL;
}

/* "East US" and "eastus" are one location: compare without case or spaces. */
static int location_equal(const char *a, const char *b)
{
    for (;;) {
        while (*a == ' ')
            a++;
        while (*b == ' ')
            b++;
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return 0;
        if (*a == '\0')
            return 1;
        a++;
        b++;
    }
}

static const char *last_segment(const char *s)
{
    const char *slash = strrchr(s, '/');

    return slash ? slash + 1 : s;
}

int dsvm_values_equal(const json_t *a, const json_t *b, unsigned norm)
{
    if (!a || !b)
        return a == b;
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    if (json_is_string(a) && json_is_string(b) && norm) {
        const char *x = json_string_value(a), *y = json_string_value(b);

        switch (norm) {
        case DSVM_NORM_LOCATION:
            return location_equal(x, y);
        case DSVM_NORM_ROLE_DEF_ID:
            return strcasecmp(last_segment(x), last_segment(y)) == 0;
        case DSVM_NORM_ARM_ID:
        case DSVM_NORM_CASE:
            return strcasecmp(x, y) == 0;
        default:
            break;
        }
    }
    return json_equal((json_t *)a, (json_t *)b);
}

static int is_known_after_apply(const json_t *v)
{
    return json_is_object(v) && json_object_size(v) == 1 &&
           json_object_get(v, "$knownAfterApply") != NULL;
}

static int node_hit(const walker *w, int list);

static int add_change(walker *w, const char *path, const json_t *before, const json_t *after)
{
    dsvm_diff *d = w->diff;
    dsvm_field_change *c;

    if (d->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 8;
        dsvm_field_change *p = realloc(d->changes, cap * sizeof(*p));

        if (!p)
            return DSVM_ENOMEM;
        d->changes = p;
        w->cap = cap;
    }
    c = &d->changes[d->n];
    c->path = strdup(path);
    if (!c->path)
        return DSVM_ENOMEM;
    c->before = before ? json_incref((json_t *)before) : NULL;
    c->after = after ? json_incref((json_t *)after) : NULL;
    c->immutable = w->depth ? node_hit(w, L_IMMUTABLE) >= 0 : in_list(w->rules->immutable, path);
    d->n++;
    return 0;
}

/* Keys of `a` that are ARM IDs, matched case-insensitively against `b`'s. */
static int id_keys_equal(const json_t *a, const json_t *b)
{
    const char *ka, *kb;
    json_t *va, *vb;

    if (!json_is_object(a) || !json_is_object(b) || json_object_size(a) != json_object_size(b))
        return 0;
    json_object_foreach((json_t *)a, ka, va)
    {
        int found = 0;

        (void)va;
        json_object_foreach((json_t *)b, kb, vb)
        {
            (void)vb;
            if (strcasecmp(ka, kb) == 0) {
                found = 1;
                break;
            }
        }
        if (!found)
            return 0;
    }
    return 1;
}

static int walk(walker *w, const json_t *want, const json_t *have);

/* The index of the first pattern of `list` that matches the current path,
 * or -1. */
static int node_hit(const walker *w, int list)
{
    size_t i;

    for (i = w->base; i < w->base + w->count; i++)
        if (w->cands[i].list == list && w->cands[i].rest[0] == '\0')
            return (int)w->cands[i].idx;
    return -1;
}

/* Match the start of pattern `p` against the whole of `seg`, a key that
 * may itself hold dots (segments end at '.'; a pattern segment "*" is
 * any one segment). Returns what is left of the pattern ("" when it ends
 * with `seg`), or NULL. A pattern that ends inside `seg` matches only
 * with `prefix` (then ""). */
static const char *step(const char *p, const char *s, int prefix)
{
    for (;;) {
        if (p[0] == '*' && (p[1] == '.' || p[1] == '\0')) {
            p++;
            while (*s && *s != '.')
                s++;
        } else {
            while (*p && *p != '.' && *p == *s) {
                p++;
                s++;
            }
            if ((*p && *p != '.') || (*s && *s != '.'))
                return NULL;
        }
        if (*s == '\0')
            return *p == '.' ? p + 1 : p;
        if (*p == '\0')
            return prefix ? p : NULL;
        p++;
        s++;
    }
}

/* Walk the child `seg` of the current path: the path grows in place and
 * is cut back afterwards, so no field costs an allocation, and only the
 * patterns that match so far are carried down. */
static int walk_child(walker *w, const char *seg, const json_t *want, const json_t *have)
{
    size_t old = w->len, n = strlen(seg), need = old + n + 2;
    size_t base = w->base, count = w->count, first = w->n_cands, i;
    int rc;

    if (need > w->path_cap) {
        size_t cap = w->path_cap ? w->path_cap : 128;
        char *p;

        while (cap < need)
            cap *= 2;
        p = realloc(w->path, cap);
        if (!p)
            return DSVM_ENOMEM;
        w->path = p;
        w->path_cap = cap;
    }
    if (w->n_cands + count > w->cands_cap) {
        size_t cap = (w->n_cands + count) * 2;
        cand *c = realloc(w->cands, cap * sizeof(*c));

        if (!c)
            return DSVM_ENOMEM;
        w->cands = c;
        w->cands_cap = cap;
    }
    for (i = base; i < base + count; i++) {
        cand c = w->cands[i];
        int prefix = c.list <= L_IMMUTABLE;

        /* a prefix rule that matched above covers everything below */
        if (c.rest[0] == '\0') {
            if (prefix)
                w->cands[w->n_cands++] = c;
            continue;
        }
        c.rest = step(c.rest, seg, prefix);
        if (c.rest)
            w->cands[w->n_cands++] = c;
    }
    w->base = first;
    w->count = w->n_cands - first;
    if (old)
        w->path[w->len++] = '.';
    memcpy(w->path + w->len, seg, n + 1);
    w->len += n;
    w->depth++;
    rc = walk(w, want, have);
    w->depth--;
    w->len = old;
    w->path[old] = '\0';
    w->n_cands = first;
    w->base = base;
    w->count = count;
    return rc;
}

/* The rules that hold at the current path: skipped (read-only or
 * write-only), its normaliser and its server default. The root is matched
 * as a whole path, as dsvm_path_matches() would. */
static int node_rules(const walker *w, unsigned *norm, const char **def)
{
    int i;

    if (w->depth == 0) {
        *norm = normaliser_for(w->rules, w->path);
        *def = server_default(w->rules, w->path);
        return 0;
    }
    if (node_hit(w, L_READ_ONLY) >= 0 || node_hit(w, L_WRITE_ONLY) >= 0)
        return 1;
    i = node_hit(w, L_NORM);
    *norm = i >= 0 ? w->rules->normalisers[i].norm : 0;
    i = node_hit(w, L_DEFAULT);
    *def = i >= 0 ? w->rules->server_defaults[i].json_value : NULL;
    return 0;
}

/* Compare `want` (desired) with `have` (live, or NULL) at `path`. Only the
 * desired side's fields are visited: what the manifest does not set is the
 * server's business. */
static int walk(walker *w, const json_t *want, const json_t *have)
{
    const char *path = w->path;
    unsigned norm;
    const char *def;

    if (node_rules(w, &norm, &def))
        return 0;
    if (is_known_after_apply(want))
        return 0;
    if (norm == DSVM_NORM_IDENTITY_KEYS)
        return id_keys_equal(want, have) ? 0 : add_change(w, path, have, want);
    if (json_is_object(want) && (json_is_object(have) || !have)) {
        const char *key;
        json_t *v;

        json_object_foreach((json_t *)want, key, v)
        {
            int rc = walk_child(w, key, v, have ? json_object_get(have, key) : NULL);

            if (rc < 0)
                return rc;
        }
        return 0;
    }
    if (json_is_array(want) && json_is_array(have) &&
        json_array_size(want) == json_array_size(have)) {
        size_t i;

        for (i = 0; i < json_array_size(want); i++) {
            char seg[24];
            int rc;

            snprintf(seg, sizeof(seg), "%zu", i);
            rc = walk_child(w, seg, json_array_get(want, i), json_array_get(have, i));
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    if (!have) {
        if (def) {
            json_t *dv = json_loads(def, JSON_DECODE_ANY, NULL);
            int same = dv && dsvm_values_equal(want, dv, norm);

            json_decref(dv);
            if (same)
                return 0;
        }
        /* An empty desired collection is the same as one the server omits. */
        if ((json_is_array(want) && json_array_size(want) == 0) ||
            (json_is_object(want) && json_object_size(want) == 0))
            return 0;
        return add_change(w, path, NULL, want);
    }
    return dsvm_values_equal(want, have, norm) ? 0 : add_change(w, path, have, want);
}

static int push_cand(walker *w, const char *pattern, int list, size_t idx)
{
    if (w->n_cands == w->cands_cap) {
        size_t cap = w->cands_cap ? w->cands_cap * 2 : 32;
        cand *c = realloc(w->cands, cap * sizeof(*c));

        if (!c)
            return DSVM_ENOMEM;
        w->cands = c;
        w->cands_cap = cap;
    }
    w->cands[w->n_cands].rest = pattern;
    w->cands[w->n_cands].list = list;
    w->cands[w->n_cands].idx = idx;
    w->n_cands++;
    return 0;
}

/* Every pattern of the rules, in list order, as the root's candidates. */
static int seed_cands(walker *w)
{
    const char *const *lists[] = {w->rules->read_only, w->rules->write_only, w->rules->immutable};
    const dsvm_field_norm *n;
    const dsvm_field_default *d;
    const char *const *p;
    int rc = 0, k;

    for (k = L_READ_ONLY; k <= L_IMMUTABLE; k++)
        for (p = lists[k]; rc == 0 && p && *p; p++)
            rc = push_cand(w, *p, k, (size_t)(p - lists[k]));
    for (n = w->rules->normalisers; rc == 0 && n && n->path; n++)
        rc = push_cand(w, n->path, L_NORM, (size_t)(n - w->rules->normalisers));
    for (d = w->rules->server_defaults; rc == 0 && d && d->path; d++)
        rc = push_cand(w, d->path, L_DEFAULT, (size_t)(d - w->rules->server_defaults));
    w->base = 0;
    w->count = w->n_cands;
    return rc;
}

int dsvm_diff_resource(dsvm_diff **out, const json_t *desired, const json_t *live,
                       const dsvm_type_rules *rules)
{
    walker w = {rules, NULL, 0, NULL, 0, 0, NULL, 0, 0, 0, 0, 0};
    size_t i;
    int rc;

    w.diff = calloc(1, sizeof(*w.diff));
    w.path = strdup("");
    if (!w.diff || !w.path || seed_cands(&w) < 0) {
        free(w.diff);
        free(w.path);
        free(w.cands);
        return dsvm_error_oom();
    }
    w.path_cap = 1;
    rc = walk(&w, desired, live);
    free(w.path);
    free(w.cands);
    if (rc < 0) {
        dsvm_diff_free(w.diff);
        return dsvm_error_oom();
    }
    for (i = 0; i < w.diff->n; i++) {
        if (w.diff->changes[i].immutable) {
            w.diff->replace_field = w.diff->changes[i].path;
            break;
        }
    }
    *out = w.diff;
    return 0;
}

void dsvm_diff_free(dsvm_diff *diff)
{
    size_t i;

    if (!diff)
        return;
    for (i = 0; i < diff->n; i++) {
        free(diff->changes[i].path);
        json_decref(diff->changes[i].before);
        json_decref(diff->changes[i].after);
    }
    free(diff->changes);
    free(diff);
}
