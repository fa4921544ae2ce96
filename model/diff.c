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

typedef struct {
    const dsvm_type_rules *rules;
    dsvm_diff *diff;
    size_t cap;
    char *path; /* the dotted path of the field being compared */
    size_t len, path_cap;
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
    c->immutable = in_list(w->rules->immutable, path);
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

/* Walk the child `seg` of the current path: the path grows in place and
 * is cut back afterwards, so no field costs an allocation. */
static int walk_child(walker *w, const char *seg, const json_t *want, const json_t *have)
{
    size_t old = w->len, n = strlen(seg), need = old + n + 2;
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
    if (old)
        w->path[w->len++] = '.';
    memcpy(w->path + w->len, seg, n + 1);
    w->len += n;
    rc = walk(w, want, have);
    w->len = old;
    w->path[old] = '\0';
    return rc;
}

/* Compare `want` (desired) with `have` (live, or NULL) at `path`. Only the
 * desired side's fields are visited: what the manifest does not set is the
 * server's business. */
static int walk(walker *w, const json_t *want, const json_t *have)
{
    const char *path = w->path;
    unsigned norm;
    const char *def;

    if (*path && (in_list(w->rules->read_only, path) || in_list(w->rules->write_only, path)))
        return 0;
    if (is_known_after_apply(want))
        return 0;
    norm = normaliser_for(w->rules, path);
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
        def = server_default(w->rules, path);
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

int dsvm_diff_resource(dsvm_diff **out, const json_t *desired, const json_t *live,
                       const dsvm_type_rules *rules)
{
    walker w = {rules, NULL, 0, NULL, 0, 0};
    size_t i;
    int rc;

    w.diff = calloc(1, sizeof(*w.diff));
    w.path = strdup("");
    if (!w.diff || !w.path) {
        free(w.diff);
        free(w.path);
        return dsvm_error_oom();
    }
    w.path_cap = 1;
    rc = walk(&w, desired, live);
    free(w.path);
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
