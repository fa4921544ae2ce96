/* armsim: parsing ARM paths into subscription, group, scope, namespace and type/name
 * pairs, and the parent of a type or ID. */
#include "rules.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Splits path into segments and classifies it (AP_*): subscription, groups, generic lists,
 * providers, or a resource path of namespace and type/name pairs, where a second
 * "providers" segment starts an extension resource whose scope is everything before it.
 * Returns the kind; AP_BAD for anything else. ap owns a copy of the path (apath_free). */
int apath_parse(const char *path, struct apath *ap)
{
    size_t i, n = 0;
    char *p, *save = NULL, *tok;
    memset(ap, 0, sizeof(*ap));
    ap->copy = xstrdup(path);
    for (tok = strtok_r(ap->copy, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
        if (n == sizeof(ap->seg) / sizeof(ap->seg[0]))
            return ap->kind = AP_BAD;
        ap->seg[n++] = tok;
    }
    (void)p;
    ap->nseg = n;
    if (n == 1 && strcasecmp(ap->seg[0], "subscriptions") == 0)
        return ap->kind = AP_SUBS;
    if (n < 2 || strcasecmp(ap->seg[0], "subscriptions") != 0)
        return ap->kind = AP_BAD;
    ap->sub = ap->seg[1];
    i = 2;
    if (i == n)
        return ap->kind = AP_SUB;
    if (strcasecmp(ap->seg[i], "resourcegroups") == 0) {
        if (i + 1 == n)
            return ap->kind = AP_RG_LIST;
        ap->rg = ap->seg[i + 1];
        i += 2;
        if (i == n)
            return ap->kind = AP_RG;
        if (strcasecmp(ap->seg[i], "resources") == 0 && i + 1 == n)
            return ap->kind = AP_RG_RESOURCES;
    } else if (strcasecmp(ap->seg[i], "resources") == 0 && i + 1 == n)
        return ap->kind = AP_SUB_RESOURCES;
    if (strcasecmp(ap->seg[i], "providers") != 0)
        return ap->kind = AP_BAD;
    if (i + 1 == n)
        return ap->kind = ap->rg ? AP_BAD : AP_PROVIDERS;
    for (;;) {
        ap->scope_end = i;
        ap->ns = ap->seg[i + 1];
        ap->ntypes = 0;
        ap->odd = 0;
        i += 2;
        if (i == n)
            return ap->kind = (ap->rg || ap->scope_end != 2) ? AP_BAD : AP_PROVIDER;
        while (i < n) {
            if (ap->ntypes > 0 && strcasecmp(ap->seg[i], "providers") == 0 && i + 1 < n)
                break;
            if (ap->ntypes == MAX_DEPTH)
                return ap->kind = AP_BAD;
            ap->types[ap->ntypes] = ap->seg[i];
            if (i + 1 < n) {
                ap->names[ap->ntypes] = ap->seg[i + 1];
                i += 2;
            } else {
                ap->names[ap->ntypes] = NULL;
                ap->odd = 1;
                i++;
            }
            ap->ntypes++;
        }
        if (i >= n)
            break;
    }
    return ap->kind = AP_RES;
}

void apath_free(struct apath *ap)
{
    free(ap->copy);
    ap->copy = NULL;
}

/* Joins segments [from, to) as "/a/b/c"; caller frees. */
char *apath_join(const struct apath *ap, size_t from, size_t to)
{
    struct membuf b = {0};
    if (to > ap->nseg)
        to = ap->nseg;
    for (size_t i = from; i < to; i++) {
        membuf_append(&b, "/", 1);
        membuf_append(&b, ap->seg[i], strlen(ap->seg[i]));
    }
    if (!b.data)
        membuf_append(&b, "", 0);
    return b.data;
}

/* The full type of the first n type segments: ns/t1/t2...; caller frees. */
char *type_of(const struct apath *ap, size_t n)
{
    struct membuf b = {0};
    membuf_append(&b, ap->ns, strlen(ap->ns));
    for (size_t i = 0; i < n; i++) {
        membuf_append(&b, "/", 1);
        membuf_append(&b, ap->types[i], strlen(ap->types[i]));
    }
    return b.data;
}

/* The rule of the parent type of t (t minus its last segment), or NULL. */
const struct rtype *parent_rule(const struct rtype *t)
{
    char *pt = xstrdup(t->type);
    char *slash = strrchr(pt, '/');
    const struct rtype *out = NULL;
    if (slash && slash != strchr(pt, '/')) {
        *slash = '\0';
        out = rules_find(pt);
    }
    free(pt);
    return out;
}

char *parent_id_of(const char *id)
{
    const char *s = strrchr(id, '/');
    size_t n;
    if (!s || s == id)
        return xstrdup("");
    n = (size_t)(s - id);
    while (n > 0 && id[n - 1] != '/')
        n--;
    return strndup(id, n ? n - 1 : 0);
}
