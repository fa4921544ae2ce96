/*
 * The table-driven parser: one function walks a YAML mapping against a
 * field-descriptor table (kinds.c), type-checks every value, applies
 * defaults, checks enums, formats and naming rules, records references for
 * later resolution and builds the JSON form of the spec. Errors go to the
 * load context's diagnostics; parsing goes on after an error so that one
 * pass reports everything.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

#define SECRET_HINT "write {keyVault: <vault>, secret: <name>} instead"

void ctx_error(load_ctx *c, const ynode *at, const char *hint, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    diags_vadd(c->diags, c->file_id, at ? at->line : 0, at ? at->col : 0, hint, fmt, ap);
    va_end(ap);
}

static void push(load_ctx *c, const char *name, long idx)
{
    if (c->depth < (int)(sizeof(c->seg) / sizeof(c->seg[0]))) {
        c->seg[c->depth] = name;
        c->idx[c->depth] = idx;
    }
    c->depth++;
}

static void pop(load_ctx *c)
{
    c->depth--;
}

const char *ctx_path(load_ctx *c)
{
    int n = c->depth < 80 ? c->depth : 80;
    size_t len = strlen(c->kind_name ? c->kind_name : "") + 1;
    char *p, *s;
    int i;

    for (i = 0; i < n; i++)
        len += c->seg[i] ? strlen(c->seg[i]) + 1 : 22;
    s = arena_alloc(c->keep, len);
    if (!s)
        return "";
    p = s + sprintf(s, "%s", c->kind_name ? c->kind_name : "");
    for (i = 0; i < n; i++) {
        if (c->seg[i])
            p += sprintf(p, "%s%s", p == s ? "" : ".", c->seg[i]);
        else
            p += sprintf(p, "[%ld]", c->idx[i]);
    }
    return s;
}

static const char *did_you_mean(load_ctx *c, const char *word, const char *const *cands, size_t n)
{
    const char *best = text_suggest(word, cands, n);

    if (!best)
        return NULL;
    return arena_printf(c->keep, "did you mean \"%s\"?", best);
}

static size_t count_strs(const char *const *v)
{
    size_t n = 0;

    while (v[n])
        n++;
    return n;
}

/* "a, b, c" from a NULL-terminated list, arena-owned. */
static const char *join(load_ctx *c, const char *const *v)
{
    size_t len = 1, i;
    char *s, *p;

    for (i = 0; v[i]; i++)
        len += strlen(v[i]) + 2;
    s = arena_alloc(c->keep, len);
    if (!s)
        return "";
    p = s;
    for (i = 0; v[i]; i++)
        p += sprintf(p, "%s%s", i ? ", " : "", v[i]);
    return s;
}

static int type_error(load_ctx *c, const ynode *v, const char *expected)
{
    if (diags_full(c->diags)) {
        ctx_error(c, v, NULL, "wrong type");
        return 1;
    }
    ctx_error(c, v, NULL, "wrong type for %s: expected %s, got %s", ctx_path(c), expected,
              ynode_type_name(v));
    return 1;
}

static int add_ref(load_ctx *c, dsvm_ref *r, dsvm_subnet_ref *sn)
{
    if (c->n_refs == c->cap_refs) {
        size_t cap = c->cap_refs ? c->cap_refs * 2 : 256;
        pending_ref *p = realloc(c->refs, cap * sizeof(*p));

        if (!p)
            return -1;
        c->refs = p;
        c->cap_refs = cap;
    }
    c->refs[c->n_refs].ref = r;
    c->refs[c->n_refs].owner = c->obj;
    c->refs[c->n_refs].subnet = sn;
    c->n_refs++;
    return 0;
}

/* A scalar that could hold a secret: not null, and not a plain true/false. */
static bool may_be_secret(const ynode *v)
{
    bool b;

    return !ynode_is_null(v) && ynode_bool(v, &b) != 0;
}

static bool is_secret_ref(const ynode *v)
{
    return v->type == YN_MAP && ynode_get(v, "keyVault", NULL) && ynode_get(v, "secret", NULL);
}

/*
 * Report every scalar below `val` whose key looks like a secret. A
 * {keyVault, secret} mapping is the correct form and is not descended into.
 * Depth is bounded by the nesting limit (aliases included).
 */
void check_literal_secrets(load_ctx *c, const char *key, const ynode *key_node, const ynode *val)
{
    size_t i;

    (void)key_node;
    if (val->type == YN_SCALAR) {
        if (key && may_be_secret(val) && text_key_is_secret(key))
            ctx_error(c, val, SECRET_HINT, "literal secret in field \"%s\"", key);
        return;
    }
    if (val->type == YN_SEQ) {
        for (i = 0; i < val->n; i++)
            check_literal_secrets(c, key, key_node, val->kids[i]);
        return;
    }
    if (is_secret_ref(val))
        return;
    for (i = 0; i < val->n; i++) {
        const ynode *k = val->kids[2 * i];

        if (k->type == YN_SCALAR)
            check_literal_secrets(c, k->s, k, val->kids[2 * i + 1]);
    }
}

/* Enum, format and naming-rule checks of a string value. */
static int check_string(load_ctx *c, const ynode *v, const field_desc *f)
{
    const char *s = v->s;

    if (f->enums) {
        size_t i, n = count_strs(f->enums);

        for (i = 0; i < n; i++)
            if (strcmp(f->enums[i], s) == 0)
                break;
        if (i == n) {
            ctx_error(c, v, did_you_mean(c, s, f->enums, n),
                      "invalid value \"%s\" for %s: must be one of %s", s, ctx_path(c),
                      join(c, f->enums));
            return 1;
        }
    }
    if (f->fmt && !dsvm_formats[f->fmt].check(s)) {
        ctx_error(c, v, NULL, "invalid value \"%s\" for %s: expected %s", s, ctx_path(c),
                  dsvm_formats[f->fmt].text);
        return 1;
    }
    if (f->name_rule && !dsvm_name_rules[f->name_rule].check(s)) {
        ctx_error(c, v, NULL, "invalid name \"%s\" for %s: %s", s, ctx_path(c),
                  dsvm_name_rules[f->name_rule].text);
        return 1;
    }
    return 0;
}

static bool tag_key_ok(const char *k)
{
    return !strpbrk(k, "/<>%&\\?");
}

/* A string-to-string map (labels, annotations, tags): scalars only, no duplicate keys. */
static int parse_strmap(load_ctx *c, const ynode *v, const field_desc *f, dsvm_strmap *out,
                        json_t **jout)
{
    json_t *j = NULL;
    json_t *seen = NULL;
    dsvm_kv *items;
    size_t i, n = 0;
    int rc = 0;

    if (v->type != YN_MAP)
        return type_error(c, v, "a mapping of strings");
    items = v->n ? arena_alloc(c->keep, v->n * sizeof(*items)) : NULL;
    if (v->n && !items)
        return -1;
    if (jout) {
        j = json_object();
        if (!j)
            return -1;
    }
    if (v->n > 16) {
        seen = json_object();
        if (!seen) {
            json_decref(j);
            return -1;
        }
    }
    for (i = 0; i < v->n; i++) {
        const ynode *k = v->kids[2 * i], *val = v->kids[2 * i + 1];
        bool dup = false;
        size_t m;

        if (k->type != YN_SCALAR || val->type != YN_SCALAR) {
            rc = type_error(c, k->type != YN_SCALAR ? k : val, "a string");
            continue;
        }
        if (seen) {
            dup = json_object_get(seen, k->s) != NULL;
            json_object_set_new(seen, k->s, json_true());
        } else {
            for (m = 0; m < n; m++)
                dup = dup || strcmp(items[m].key, k->s) == 0;
        }
        if (dup) {
            ctx_error(c, k, NULL, "duplicate key \"%s\" in %s", k->s, ctx_path(c));
            rc = 1;
            continue;
        }
        if (f->flags & FD_TAGS) {
            if (!tag_key_ok(k->s)) {
                ctx_error(c, k, NULL,
                          "invalid tag name \"%s\" in %s: / < > %% & \\ ? are not allowed", k->s,
                          ctx_path(c));
                rc = 1;
            } else if (strncasecmp(k->s, "dsvmops-", 8) == 0) {
                ctx_error(c, k, NULL,
                          "tag name \"%s\" in %s is reserved: dsvmops- tags mark ownership", k->s,
                          ctx_path(c));
                rc = 1;
            } else if (k->len > 512 || val->len > 256) {
                ctx_error(c, k, NULL,
                          "tag \"%s\" in %s is too long: names take 512 characters, values 256",
                          k->s, ctx_path(c));
                rc = 1;
            }
        }
        if (may_be_secret(val) && text_key_is_secret(k->s)) {
            ctx_error(c, val, SECRET_HINT, "literal secret in field \"%s\"", k->s);
            rc = 1;
        }
        items[n].key = k->s;
        items[n].value = ynode_is_null(val) ? "" : val->s;
        if (j)
            json_object_set_new(j, k->s, json_string(items[n].value));
        n++;
    }
    json_decref(seen);
    out->items = items;
    out->n = n;
    if (jout)
        *jout = j;
    return rc;
}

/* Write every field's default (or DSVM_UNSET for enums) before the fields are parsed. */
static int apply_defaults(load_ctx *c, const obj_desc *d, void *base)
{
    size_t i;

    for (i = 0; i < d->n_fields; i++) {
        const field_desc *f = &d->fields[i];
        char *dst = (char *)base + f->off;

        switch (f->type) {
        case FT_STRING:
            if (f->flags & FD_DEF)
                *(const char **)dst = f->dstr;
            break;
        case FT_INT:
            if (f->flags & FD_DEF)
                *(int64_t *)dst = f->dint;
            break;
        case FT_BOOL:
            if (f->flags & FD_DEF)
                *(bool *)dst = f->dint != 0;
            break;
        case FT_ENUM:
            *(int *)dst = (f->flags & FD_DEF) ? (int)f->dint : DSVM_UNSET;
            break;
        case FT_LIST:
            if (f->dlist) {
                dsvm_strlist *l = (dsvm_strlist *)dst;
                size_t n = count_strs(f->dlist);

                l->items = arena_alloc(c->keep, n * sizeof(*l->items));
                if (!l->items)
                    return -1;
                memcpy(l->items, f->dlist, n * sizeof(*l->items));
                l->n = n;
            }
            break;
        case FT_OBJECT:
            if ((f->flags & FD_INLINE) && apply_defaults(c, f->sub, dst) < 0)
                return -1;
            break;
        case FT_UNION:
            if (apply_defaults(c, f->sub, dst) < 0)
                return -1;
            break;
        default:
            break;
        }
    }
    return 0;
}

/* The JSON form of a field's default, for the spec JSON of an absent field. */
static json_t *default_json(const field_desc *f)
{
    switch (f->type) {
    case FT_STRING:
        return json_string(f->dstr);
    case FT_INT:
        return json_integer((json_int_t)f->dint);
    case FT_BOOL:
        return json_boolean(f->dint != 0);
    case FT_ENUM:
        return json_string(f->enums[f->dint]);
    case FT_LIST: {
        json_t *a = json_array();
        size_t i;

        for (i = 0; a && f->dlist && f->dlist[i]; i++)
            json_array_append_new(a, json_string(f->dlist[i]));
        return a;
    }
    default:
        return NULL;
    }
}

/* "Kind/name" with Kind among the field's allowed kinds; queued for resolution. */
static int parse_kindref(load_ctx *c, const ynode *v, const field_desc *f, dsvm_ref *r)
{
    const char *slash = strchr(v->s, '/');
    const char *allowed[DSVM_KIND_COUNT + 1];
    size_t n_allowed = 0;
    int k, found = -1;

    for (k = 0; k < DSVM_KIND_COUNT; k++)
        if (f->kinds & (1u << k))
            allowed[n_allowed++] = dsvm_kinds[k].name;
    allowed[n_allowed] = NULL;
    if (slash && slash != v->s && slash[1] && !strchr(slash + 1, '/')) {
        for (k = 0; k < DSVM_KIND_COUNT; k++) {
            if ((f->kinds & (1u << k)) && strlen(dsvm_kinds[k].name) == (size_t)(slash - v->s) &&
                strncmp(dsvm_kinds[k].name, v->s, (size_t)(slash - v->s)) == 0)
                found = k;
        }
    }
    if (found < 0) {
        const char *hint = NULL;

        if (slash && slash != v->s) {
            char *kind = arena_strndup(c->keep, v->s, (size_t)(slash - v->s));

            hint = kind ? did_you_mean(c, kind, allowed, n_allowed) : NULL;
        }
        ctx_error(c, v, hint,
                  "invalid reference \"%s\" for %s: expected Kind/name with Kind one of %s", v->s,
                  ctx_path(c), join(c, allowed));
        return 1;
    }
    r->kind = (dsvm_kind)found;
    r->name = slash + 1;
    r->line = v->line;
    r->col = v->col;
    return add_ref(c, r, NULL) < 0 ? -1 : 0;
}

/* ARM IDs compare case-insensitively: ".../Subnets/x" is a subnet ID too. */
static bool has_subnets_segment(const char *s)
{
    for (; *s; s++)
        if (strncasecmp(s, "/subnets/", 9) == 0)
            return true;
    return false;
}

/* An ARM subnet ID, or Network-name/subnet-name queued for resolution. */
static int parse_subnet(load_ctx *c, const ynode *v, dsvm_subnet_ref *sn)
{
    const char *s = v->s;
    const char *slash = strchr(s, '/');

    sn->text = s;
    if (s[0] == '/') {
        if (!dsvm_formats[FMT_ARMID].check(s) || !has_subnets_segment(s) || s[v->len - 1] == '/') {
            ctx_error(c, v, NULL,
                      "invalid subnet \"%s\" for %s: expected Network-name/subnet-name or an ARM "
                      "subnet ID (/subscriptions/.../subnets/NAME)",
                      s, ctx_path(c));
            return 1;
        }
        sn->id = s;
        return 0;
    }
    if (!slash || slash == s || !slash[1] || strchr(slash + 1, '/')) {
        ctx_error(c, v, NULL,
                  "invalid subnet \"%s\" for %s: expected Network-name/subnet-name or an ARM "
                  "subnet ID (/subscriptions/.../subnets/NAME)",
                  s, ctx_path(c));
        return 1;
    }
    sn->network.kind = DSVM_KIND_NETWORK;
    sn->network.name = arena_strndup(c->keep, s, (size_t)(slash - s));
    sn->network.line = v->line;
    sn->network.col = v->col;
    sn->subnet = slash + 1;
    if (!sn->network.name)
        return -1;
    return add_ref(c, &sn->network, sn) < 0 ? -1 : 0;
}

/* Allocate out-of-line storage for pointer-valued fields, unless inline. */
static void *storage(load_ctx *c, void *dst, bool inl, size_t size)
{
    return inl ? dst : arena_alloc(c->keep, size);
}

/*
 * Parse one non-null value `v` for field `f` into `dst` (the field's
 * storage). `inl` says pointer-valued types are stored inline (list items).
 * Returns 0, 1 after reporting an error, or -1 when out of memory.
 */
static int parse_value(load_ctx *c, const ynode *key, const ynode *v, const field_desc *f,
                       void *dst, bool inl, json_t **jout)
{
    int rc;

    switch (f->type) {
    case FT_STRING:
        if (v->type != YN_SCALAR)
            return type_error(c, v, "a string");
        rc = check_string(c, v, f);
        if (rc)
            return rc;
        *(const char **)dst = v->s;
        if (jout)
            *jout = json_stringn(v->s, v->len);
        return 0;
    case FT_INT: {
        int64_t i;

        if (ynode_int(v, &i) < 0)
            return type_error(c, v, "an integer");
        if (i < f->min || i > f->max) {
            ctx_error(c, v, NULL, "%s must be between %lld and %lld, got %lld", ctx_path(c),
                      (long long)f->min, (long long)f->max, (long long)i);
            return 1;
        }
        *(int64_t *)dst = i;
        if (jout)
            *jout = json_integer((json_int_t)i);
        return 0;
    }
    case FT_BOOL: {
        bool b;

        if (ynode_bool(v, &b) < 0)
            return type_error(c, v, "true or false");
        *(bool *)dst = b;
        if (jout)
            *jout = json_boolean(b);
        return 0;
    }
    case FT_ENUM: {
        size_t i, n = count_strs(f->enums);

        if (v->type != YN_SCALAR)
            return type_error(c, v, "a string");
        for (i = 0; i < n; i++) {
            if (strcmp(f->enums[i], v->s) == 0) {
                *(int *)dst = (int)i;
                if (jout)
                    *jout = json_string(f->enums[i]);
                return 0;
            }
        }
        ctx_error(c, v, did_you_mean(c, v->s, f->enums, n),
                  "invalid value \"%s\" for %s: must be one of %s", v->s, ctx_path(c),
                  join(c, f->enums));
        return 1;
    }
    case FT_STRMAP:
        return parse_strmap(c, v, f, (dsvm_strmap *)dst, jout);
    case FT_OBJECT: {
        void *obj;

        if (v->type != YN_MAP)
            return type_error(c, v, "a mapping");
        inl = inl || (f->flags & FD_INLINE);
        obj = storage(c, dst, inl, f->sub->size);
        if (!obj)
            return -1;
        rc = parse_object(c, v, key ? key : v, f->sub, obj, jout);
        if (rc >= 0 && !inl)
            *(void **)dst = obj;
        return rc;
    }
    case FT_LIST: {
        json_t *arr = NULL;
        char *items = NULL;
        size_t i;

        if (v->type != YN_SEQ)
            return type_error(c, v, "a list");
        if (v->n == 0 && (f->flags & FD_NONEMPTY)) {
            ctx_error(c, v, NULL, "%s must not be empty", ctx_path(c));
            return 1;
        }
        if (v->n) {
            items = arena_alloc(c->keep, v->n * f->item_size);
            if (!items)
                return -1;
        }
        if (jout) {
            arr = json_array();
            if (!arr)
                return -1;
        }
        rc = 0;
        for (i = 0; i < v->n; i++) {
            const ynode *it = v->kids[i];
            json_t *ij = NULL;
            int r;

            push(c, NULL, (long)i);
            if (ynode_is_null(it))
                r = type_error(c, it, "a value");
            else
                r = parse_value(c, NULL, it, f->item, items + i * f->item_size, true,
                                arr ? &ij : NULL);
            pop(c);
            if (r < 0) {
                json_decref(arr);
                return -1;
            }
            if (r > 0)
                rc = 1;
            else if (arr && ij)
                json_array_append_new(arr, ij);
        }
        ((dsvm_strlist *)dst)->items = (const char **)(void *)items;
        ((dsvm_strlist *)dst)->n = v->n;
        if (jout)
            *jout = arr;
        return rc;
    }
    case FT_REF: {
        dsvm_ref *r = dst;

        if (v->type != YN_SCALAR)
            return type_error(c, v, "a name");
        r->kind = f->ref_kind;
        r->name = v->s;
        r->line = v->line;
        r->col = v->col;
        if (add_ref(c, r, NULL) < 0)
            return -1;
        if (jout)
            *jout = json_stringn(v->s, v->len);
        return 0;
    }
    case FT_KINDREF:
        if (v->type != YN_SCALAR)
            return type_error(c, v, "a Kind/name string");
        rc = parse_kindref(c, v, f, dst);
        if (rc == 0 && jout)
            *jout = json_stringn(v->s, v->len);
        return rc;
    case FT_SECRET: {
        void *sr;

        if (v->type == YN_SCALAR) {
            ctx_error(c, v, SECRET_HINT, "literal secret in field \"%s\"",
                      key && key->type == YN_SCALAR ? key->s : f->name);
            return 1;
        }
        if (v->type != YN_MAP)
            return type_error(c, v, "a Key Vault reference {keyVault, secret}");
        sr = storage(c, dst, inl, sizeof(dsvm_secret_ref));
        if (!sr)
            return -1;
        rc = parse_object(c, v, key ? key : v, &dsvm_secret_desc, sr, jout);
        if (rc >= 0 && !inl)
            *(void **)dst = sr;
        return rc;
    }
    case FT_SUBNET: {
        void *sn;

        if (v->type != YN_SCALAR)
            return type_error(c, v, "a string");
        sn = storage(c, dst, inl, sizeof(dsvm_subnet_ref));
        if (!sn)
            return -1;
        rc = parse_subnet(c, v, sn);
        if (rc == 0 && !inl)
            *(void **)dst = sn;
        if (rc == 0 && jout)
            *jout = json_stringn(v->s, v->len);
        return rc;
    }
    case FT_ANY: {
        json_t *j;
        size_t i;

        if (v->type != YN_MAP)
            return type_error(c, v, "a mapping");
        rc = 0;
        for (i = 0; i < v->n; i++) {
            const ynode *k = v->kids[2 * i];

            if (k->type != YN_SCALAR) {
                ctx_error(c, k, NULL, "mapping keys must be strings in %s", ctx_path(c));
                rc = 1;
            } else {
                check_literal_secrets(c, k->s, k, v->kids[2 * i + 1]);
            }
        }
        j = ynode_to_json(v);
        if (!j)
            return -1;
        *(json_t **)dst = j;
        if (jout)
            *jout = json_incref(j);
        /* the typed spec borrows it; the repository owns it */
        if (c->owned) {
            if (json_array_append_new(c->owned, j) != 0)
                return -1;
        } else {
            json_decref(j);
        }
        return rc;
    }
    case FT_UNION:
        if (apply_defaults(c, f->sub, dst) < 0)
            return -1;
        if (v->type == YN_MAP)
            return parse_object(c, v, key ? key : v, f->sub, dst, jout);
        if (v->type == YN_SCALAR)
            return parse_value(c, key, v, f->item, (char *)dst + f->item->off, true, jout);
        return type_error(c, v, "a string or a mapping");
    }
    return 0;
}

/*
 * An unknown key that is a field one level down ("username" in Pool.spec is
 * a field of admin) is most likely mis-indented; say so.
 */
static const char *misplaced_hint(load_ctx *c, const obj_desc *d, const char *key)
{
    size_t i, j;

    for (i = 0; i < d->n_fields; i++) {
        const field_desc *f = &d->fields[i];
        const obj_desc *sub = f->sub;

        if (f->type == FT_LIST && f->item)
            sub = f->item->sub;
        if (!sub || f->type == FT_SECRET)
            continue;
        for (j = 0; j < sub->n_fields; j++)
            if (strcmp(sub->fields[j].name, key) == 0)
                return arena_printf(c->keep, "\"%s\" is a field of %s; check the indentation", key,
                                    f->name);
    }
    return NULL;
}

int parse_object(load_ctx *c, const ynode *map, const ynode *at, const obj_desc *d, void *base,
                 json_t **jout)
{
    const char *names[64];
    uint64_t seen = 0, given = 0;
    json_t *j = NULL;
    size_t i, fi;
    int rc = 0;

    if (apply_defaults(c, d, base) < 0)
        return -1;
    if (jout) {
        j = json_object();
        if (!j)
            return -1;
    }
    for (fi = 0; fi < d->n_fields && fi < 64; fi++)
        names[fi] = d->fields[fi].name;

    for (i = 0; i < map->n; i++) {
        const ynode *k = map->kids[2 * i], *v = map->kids[2 * i + 1];
        const field_desc *f = NULL;
        json_t *fj = NULL;
        int r;

        if (k->type != YN_SCALAR) {
            ctx_error(c, k, NULL, "mapping keys must be strings in %s", ctx_path(c));
            rc = 1;
            continue;
        }
        for (fi = 0; fi < d->n_fields; fi++) {
            if (strcmp(d->fields[fi].name, k->s) == 0) {
                f = &d->fields[fi];
                break;
            }
        }
        if (!f && diags_full(c->diags)) {
            ctx_error(c, k, NULL, "unknown field");
            check_literal_secrets(c, k->s, k, v);
            rc = 1;
            continue;
        }
        if (!f) {
            const char *hint = did_you_mean(c, k->s, names, d->n_fields);

            if (!hint)
                hint = misplaced_hint(c, d, k->s);
            ctx_error(c, k, hint, "unknown field \"%s\" in %s", k->s, ctx_path(c));
            check_literal_secrets(c, k->s, k, v);
            rc = 1;
            continue;
        }
        if (seen & (1ull << fi)) {
            ctx_error(c, k, NULL, "duplicate field \"%s\" in %s", k->s, ctx_path(c));
            rc = 1;
            continue;
        }
        seen |= 1ull << fi;
        if (ynode_is_null(v))
            continue;
        given |= 1ull << fi;
        push(c, f->name, -1);
        r = parse_value(c, k, v, f, (char *)base + f->off, false, j ? &fj : NULL);
        pop(c);
        if (r < 0) {
            json_decref(j);
            return -1;
        }
        if (r > 0) {
            rc = 1;
            json_decref(fj);
            continue;
        }
        if (f->flags & FD_HAS)
            *(bool *)((char *)base + f->has_off) = true;
        if (j && fj)
            json_object_set_new(j, f->name, fj);
    }

    for (fi = 0; fi < d->n_fields; fi++) {
        const field_desc *f = &d->fields[fi];

        if (given & (1ull << fi))
            continue;
        if ((f->flags & FD_REQUIRED) && (seen & (1ull << fi))) {
            const ynode *k = NULL;

            ynode_get(map, f->name, &k);
            ctx_error(c, k ? k : at, NULL, "required field \"%s\" in %s is empty", f->name,
                      ctx_path(c));
            rc = 1;
        } else if (f->flags & FD_REQUIRED) {
            ctx_error(c, at, NULL, "missing required field \"%s\" in %s", f->name, ctx_path(c));
            rc = 1;
        } else if (j && (f->flags & FD_DEF)) {
            json_t *dj = default_json(f);

            if (dj)
                json_object_set_new(j, f->name, dj);
        }
    }

    if (d->flags & OD_ONE_KEY) {
        int n = __builtin_popcountll(given);

        if (n != 1 && !(n == 0 && seen)) {
            const char *fields[64];

            for (fi = 0; fi < d->n_fields; fi++)
                fields[fi] = d->fields[fi].name;
            fields[d->n_fields] = NULL;
            ctx_error(c, n ? map : at, NULL, "%s takes exactly one of %s", ctx_path(c),
                      join(c, fields));
            rc = 1;
        }
    }
    if (d->flags & OD_POS) {
        uint32_t *pos = (uint32_t *)(void *)((char *)base + d->pos_off);

        pos[0] = map->line;
        pos[1] = map->col;
    }
    if (jout)
        *jout = j;
    return rc;
}
