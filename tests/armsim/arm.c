/* The ARM front end: path parsing, checks common to every call (token, api-version,
 * faults, throttling), the generic PUT/PATCH/GET/DELETE/list handling driven by the
 * per-type rules, long-running operations, resource groups and providers. */
#define _GNU_SOURCE /* vasprintf, strcasestr */
#include "rules.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <strings.h>

void vmss_upgrade(struct ctx *c, const char *id, json_t *ids);
void batch_pool_resized(struct ctx *c, const char *id);

#define RG_TYPE "Microsoft.Resources/resourceGroups"

/* ---- paths ---- */

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
static char *type_of(const struct apath *ap, size_t n)
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
static const struct rtype *parent_rule(const struct rtype *t)
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

static char *parent_id_of(const char *id)
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

/* ---- resources ---- */

char *new_etag(struct ctx *c)
{
    return xasprintf("W/\"%016llx\"", (unsigned long long)ctx_random(c));
}

static json_t *inline_array(json_t *parent, const char *path, int create)
{
    json_t *arr = json_path_get(parent, path);
    if (!json_is_array(arr) && create) {
        arr = json_array();
        json_path_set(parent, path, arr);
    }
    return json_is_array(arr) ? arr : NULL;
}

static int inline_index(json_t *arr, const char *name)
{
    size_t i;
    json_t *el;
    json_array_foreach(arr, i, el)
    {
        if (ci_eq(json_string_value(json_object_get(el, "name")), name))
            return (int)i;
    }
    return -1;
}

/* Loads the stored body of a resource of type t (write-only fields included); new
 * reference or NULL. Inline children come from their parent's array; implicit resources
 * exist whenever their parent does. */
json_t *res_load(struct ctx *c, const struct rtype *t, const char *id)
{
    json_t *b;
    if (t->inline_path) {
        const struct rtype *pt = parent_rule(t);
        char *pid = parent_id_of(id);
        json_t *pb = pt ? res_load(c, pt, pid) : NULL, *arr, *el;
        const char *name = strrchr(id, '/') + 1;
        int i;
        free(pid);
        if (!pb)
            return NULL;
        arr = inline_array(pb, t->inline_path, 0);
        i = arr ? inline_index(arr, name) : -1;
        if (i < 0) {
            json_decref(pb);
            return NULL;
        }
        el = json_deep_copy(json_array_get(arr, (size_t)i));
        if (!json_object_get(el, "id")) {
            const char *seg = strrchr(t->type, '/') + 1;
            char *cid = xasprintf("%s/%s/%s", json_string_value(json_object_get(pb, "id")), seg,
                                  json_string_value(json_object_get(el, "name")));
            json_object_set_new(el, "id", json_string(cid));
            free(cid);
        }
        json_object_set_new(el, "type", json_string(t->type));
        json_decref(pb);
        return el;
    }
    b = store_get(c, id);
    if (!b && (t->flags & F_IMPLICIT)) {
        const struct rtype *pt = parent_rule(t);
        char *pid = parent_id_of(id);
        json_t *pb = pt ? res_load(c, pt, pid) : NULL;
        if (pb) {
            const char *name = strrchr(id, '/') + 1;
            char *cid = xasprintf("%s/%s/%s", json_string_value(json_object_get(pb, "id")),
                                  strrchr(t->type, '/') + 1, name);
            b = json_pack("{s:s,s:s,s:s}", "id", cid, "name", name, "type", t->type);
            if (t->defaults) {
                json_t *d = json_loads(t->defaults, 0, NULL);
                json_merge_missing(b, d);
                json_decref(d);
            }
            free(cid);
        }
        json_decref(pb);
        free(pid);
    }
    return b;
}

/* Stores body as the resource id of type t. Inline children are written into their
 * parent, whose populate hook then sees the change (a scale set's model, say). */
int res_save(struct ctx *c, const struct rtype *t, const char *id, json_t *body)
{
    struct apath ap;
    char *parent;
    int listed, rc;
    if (t->inline_path) {
        const struct rtype *pt = parent_rule(t);
        char *pid = parent_id_of(id);
        json_t *pb = pt ? res_load(c, pt, pid) : NULL, *old, *arr;
        const char *name = json_string_value(json_object_get(body, "name"));
        int i;
        if (!pb) {
            free(pid);
            return -1;
        }
        old = json_deep_copy(pb);
        arr = inline_array(pb, t->inline_path, 1);
        i = inline_index(arr, name);
        if (i >= 0)
            json_array_set(arr, (size_t)i, body);
        else
            json_array_append(arr, body);
        if (pt->populate) {
            struct call k;
            struct req rq;
            memset(&k, 0, sizeof(k));
            memset(&rq, 0, sizeof(rq));
            k.rq = &rq;
            k.t = pt;
            k.name = json_string_value(json_object_get(pb, "name"));
            pt->populate(c, &k, pb, old);
        }
        if (pt->flags & F_ETAG) {
            char *et = new_etag(c);
            json_object_set_new(pb, "etag", json_string(et));
            free(et);
        }
        rc = res_save(c, pt, pid, pb);
        json_decref(pb);
        json_decref(old);
        free(pid);
        return rc;
    }
    apath_parse(id, &ap);
    if (ap.kind == AP_RG) {
        parent = apath_join(&ap, 0, 2);
        listed = 0;
    } else if (ap.ntypes <= 1) {
        parent = apath_join(&ap, 0, ap.scope_end);
        listed = (t->flags & F_LISTED) && ap.rg && ap.scope_end == 4;
    } else {
        parent = apath_join(&ap, 0, ap.nseg - 2);
        listed = 0;
    }
    rc = store_put(c, id, ap.kind == AP_RG ? RG_TYPE : t->type, sor(ap.sub, ""), sor(ap.rg, ""),
                   parent, listed, body);
    free(parent);
    apath_free(&ap);
    return rc;
}

json_t *res_render(const struct rtype *t, json_t *body)
{
    json_t *out = json_deep_copy(body);
    json_object_del(out, "_armsim");
    if (t && t->write_only)
        for (int i = 0; t->write_only[i]; i++)
            json_path_del(out, t->write_only[i]);
    return out;
}

/* Fills identity.principalId/tenantId and the principalId/clientId of each user-assigned
 * identity, the way ARM answers. */
void res_identity(struct ctx *c, json_t *body, json_t *old)
{
    json_t *id = json_object_get(body, "identity"), *uai, *v;
    const char *type, *key;
    void *tmp;
    if (!json_is_object(id))
        return;
    type = sor(json_string_value(json_object_get(id, "type")), "None");
    if (strcasestr(type, "SystemAssigned")) {
        json_t *prev = old ? json_path_get(old, "identity.principalId") : NULL;
        char u[37];
        if (json_is_string(prev))
            json_object_set(id, "principalId", prev);
        else {
            new_uuid(c, u);
            json_object_set_new(id, "principalId", json_string(u));
        }
        json_object_set_new(id, "tenantId", json_string(ARMSIM_TENANT));
    } else {
        json_object_del(id, "principalId");
        json_object_del(id, "tenantId");
    }
    uai = json_object_get(id, "userAssignedIdentities");
    if (strcasecmp(type, "None") == 0 || !strcasestr(type, "UserAssigned")) {
        json_object_del(id, "userAssignedIdentities");
        return;
    }
    json_object_foreach_safe(uai, tmp, key, v)
    {
        json_t *ident = store_get(c, key);
        char pid[37], cid[37];
        char *seed;
        if (json_is_null(v)) {
            json_object_del(uai, key);
            continue;
        }
        if (ident) {
            snprintf(pid, sizeof(pid), "%s",
                     sor(json_string_value(json_path_get(ident, "properties.principalId")), ""));
            snprintf(cid, sizeof(cid), "%s",
                     sor(json_string_value(json_path_get(ident, "properties.clientId")), ""));
        } else {
            seed = lower_dup(key);
            hash_uuid(seed, pid);
            seed[0] = '#';
            hash_uuid(seed, cid);
            free(seed);
        }
        json_object_set_new(uai, key, json_pack("{s:s,s:s}", "principalId", pid, "clientId", cid));
        json_decref(ident);
    }
}

/* ---- long-running operations ---- */

static char *op_url(struct ctx *c, const char *sub, const char *ns, const char *loc,
                    const char *seg, const char *opid, const char *api)
{
    return xasprintf("%s/subscriptions/%s/providers/%s/locations/%s/%s/%s?api-version=%s",
                     c->base_url, sub, ns, loc, seg, opid, api);
}

/* Records an operation on id that completes after --lro-ms. headers: 1 adds
 * Azure-AsyncOperation, 2 adds Location (both with Retry-After). */
int op_start(struct ctx *c, struct call *k, const char *id, const char *kind, json_t *extra,
             const char *location, struct resp *r, int headers)
{
    static const char sql[] = "INSERT INTO operations (id, resource_id, kind, status, start_ms,"
                              " due_ms, fail, extra) VALUES (?, ?, ?, 'InProgress', ?, ?, ?, ?)";
    sqlite3_stmt *st = store_stmt(c, sql);
    char opid[37];
    const char *type = k->t ? k->t->type : RG_TYPE;
    char *ns = xstrdup(type), *loc = lower_dup(location && *location ? location : "global");
    int64_t now = now_ms();
    int rc;
    *strchr(ns, '/') = '\0';
    for (char *p = loc; *p; p++)
        if (*p == ' ')
            memmove(p, p + 1, strlen(p));
    if (!extra)
        extra = json_object();
    json_object_set_new(extra, "type", json_string(type));
    json_object_set_new(extra, "ns", json_string(ns));
    json_object_set_new(extra, "loc", json_string(loc));
    json_object_set_new(extra, "api", json_string(k->api));
    new_uuid(c, opid);
    sqlite3_bind_text(st, 1, opid, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now);
    sqlite3_bind_int64(st, 5, now + c->lro_ms);
    sqlite3_bind_int(st, 6, k->lro_failed);
    sqlite3_bind_text(st, 7, json_dumps(extra, JSON_COMPACT), -1, free);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    json_decref(extra);
    if (now + c->lro_ms < c->next_due)
        c->next_due = now + c->lro_ms;
    if (headers & 1) {
        char *u = op_url(c, k->ap.sub, ns, loc, "operations", opid, k->api);
        resp_header(r, "Azure-AsyncOperation", "%s", u);
        free(u);
    }
    if (headers & 2) {
        char *u = op_url(c, k->ap.sub, ns, loc, "operationResults", opid, k->api);
        resp_header(r, "Location", "%s", u);
        free(u);
    }
    if (headers)
        resp_header(r, "Retry-After", "%u", c->lro_ms / 1000);
    free(ns);
    free(loc);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void delete_now(struct ctx *c, const struct rtype *t, const char *id);

/* Soft-deletes the vaults of a resource group before the group goes. */
static void soft_delete_vaults(struct ctx *c, const char *sub, const char *rg)
{
    static const char sql[] = "SELECT body FROM resources WHERE type = 'microsoft.keyvault/vaults'"
                              " AND sub = lower(?) AND rg = lower(?)";
    const struct rtype *vt = rules_find("Microsoft.KeyVault/vaults");
    sqlite3_stmt *st = store_stmt(c, sql);
    json_t *list = json_array(), *b;
    size_t i;
    sqlite3_bind_text(st, 1, sub, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, rg, -1, SQLITE_TRANSIENT);
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(list, json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL));
    sqlite3_reset(st);
    json_array_foreach(list, i, b)
    {
        struct call k;
        struct apath ap;
        const char *id = json_string_value(json_object_get(b, "id"));
        memset(&k, 0, sizeof(k));
        apath_parse(id, &ap);
        k.ap = ap;
        k.key = (char *)id;
        vt->sync_delete(c, &k, b);
        apath_free(&ap);
    }
    json_decref(list);
}

static void delete_now(struct ctx *c, const struct rtype *t, const char *id)
{
    if (!t) {
        struct apath ap;
        apath_parse(id, &ap);
        soft_delete_vaults(c, ap.sub, ap.rg);
        store_del_rg(c, ap.sub, ap.rg);
        apath_free(&ap);
        return;
    }
    if (t->inline_path) {
        const struct rtype *pt = parent_rule(t);
        char *pid = parent_id_of(id);
        json_t *pb = pt ? res_load(c, pt, pid) : NULL, *old, *arr;
        if (pb) {
            int i;
            old = json_deep_copy(pb);
            arr = inline_array(pb, t->inline_path, 0);
            i = arr ? inline_index(arr, strrchr(id, '/') + 1) : -1;
            if (i >= 0) {
                json_array_remove(arr, (size_t)i);
                if (pt->populate) {
                    struct call k;
                    struct req rq;
                    memset(&k, 0, sizeof(k));
                    memset(&rq, 0, sizeof(rq));
                    k.rq = &rq;
                    k.t = pt;
                    pt->populate(c, &k, pb, old);
                }
                res_save(c, pt, pid, pb);
            }
            json_decref(old);
            json_decref(pb);
        }
        free(pid);
        return;
    }
    if (strcasecmp(t->type, "Microsoft.KeyVault/locations/deletedVaults") == 0) {
        static const char sql[] = "DELETE FROM secrets WHERE vault = lower(?)";
        sqlite3_stmt *st = store_stmt(c, sql);
        sqlite3_bind_text(st, 1, strrchr(id, '/') + 1, -1, SQLITE_TRANSIENT);
        sqlite3_step(st);
        sqlite3_reset(st);
    }
    store_del_tree(c, id);
}

static void set_state(struct ctx *c, const struct rtype *t, const char *id, const char *state)
{
    json_t *b = t ? res_load(c, t, id) : store_get(c, id);
    if (!b)
        return;
    json_path_set(b, "properties.provisioningState", json_string(state));
    if (t)
        res_save(c, t, id, b);
    else
        store_put(c, id, RG_TYPE, "", "", "", 0, b);
    json_decref(b);
}

/* Completes every operation whose time has come; runs before each ARM call, so state is
 * the same whoever looks, and operations started before a restart finish after it. */
void arm_settle(struct ctx *c)
{
    static const char sql[] = "SELECT id, resource_id, kind, fail, extra FROM operations"
                              " WHERE status = 'InProgress' AND due_ms <= ? ORDER BY due_ms";
    static const char upd[] = "UPDATE operations SET status = ? WHERE id = ?";
    static const char next[] = "SELECT min(due_ms) FROM operations WHERE status = 'InProgress'";
    sqlite3_stmt *st;
    json_t *due, *op;
    size_t i;
    int64_t now = now_ms();
    if (now < c->next_due)
        return;
    st = store_stmt(c, sql);
    due = json_array();
    sqlite3_bind_int64(st, 1, now);
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(
            due, json_pack("{s:s,s:s,s:s,s:b,s:o?}", "id", sqlite3_column_text(st, 0), "rid",
                           sqlite3_column_text(st, 1), "kind", sqlite3_column_text(st, 2), "fail",
                           sqlite3_column_int(st, 3), "extra",
                           json_loads((const char *)sqlite3_column_text(st, 4), 0, NULL)));
    sqlite3_reset(st);
    json_array_foreach(due, i, op)
    {
        const char *kind = json_string_value(json_object_get(op, "kind"));
        const char *rid = json_string_value(json_object_get(op, "rid"));
        const char *type = json_string_value(json_path_get(op, "extra.type"));
        const struct rtype *t = type ? rules_find(type) : NULL;
        int fail = json_is_true(json_object_get(op, "fail"));
        sqlite3_stmt *u;
        if (strcmp(kind, "put") == 0)
            set_state(c, t, rid, fail ? "Failed" : "Succeeded");
        else if (strcmp(kind, "delete") == 0 || strcmp(kind, "purge") == 0) {
            if (fail)
                set_state(c, t, rid, "Failed");
            else
                delete_now(c, t, rid);
        } else if (strcmp(kind, "upgrade") == 0 && !fail)
            vmss_upgrade(c, rid, json_path_get(op, "extra.instanceIds"));
        else if (strcmp(kind, "resize") == 0)
            batch_pool_resized(c, rid);
        u = store_stmt(c, upd);
        sqlite3_bind_text(u, 1, fail ? "Failed" : "Succeeded", -1, SQLITE_STATIC);
        sqlite3_bind_text(u, 2, json_string_value(json_object_get(op, "id")), -1, SQLITE_TRANSIENT);
        sqlite3_step(u);
        sqlite3_reset(u);
    }
    json_decref(due);
    st = store_stmt(c, next);
    c->next_due = INT64_MAX;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        c->next_due = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
}

/* GET .../locations/{loc}/operations/{id} and .../operationResults/{id}. */
static void op_poll(struct ctx *c, struct call *k, struct resp *r)
{
    static const char sql[] = "SELECT resource_id, kind, status, start_ms, due_ms, extra"
                              " FROM operations WHERE id = lower(?)";
    sqlite3_stmt *st = store_stmt(c, sql);
    const char *opid = k->ap.names[1];
    int results = strcasecmp(k->ap.types[1], "operationResults") == 0;
    json_t *extra;
    char *rid, *kind, *status, *t1, *t2, *self;
    int64_t start, due;
    sqlite3_bind_text(st, 1, opid, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        resp_error(r, 404, "OperationNotFound", "The operation '%s' was not found.", opid);
        return;
    }
    rid = xstrdup((const char *)sqlite3_column_text(st, 0));
    kind = xstrdup((const char *)sqlite3_column_text(st, 1));
    status = xstrdup((const char *)sqlite3_column_text(st, 2));
    start = sqlite3_column_int64(st, 3);
    due = sqlite3_column_int64(st, 4);
    extra = json_loads((const char *)sqlite3_column_text(st, 5), 0, NULL);
    sqlite3_reset(st);
    free(k->type);
    k->type = xstrdup(sor(json_string_value(json_object_get(extra, "type")), ""));
    t1 = iso_time(start);
    t2 = iso_time(due);
    self = xasprintf("%s%s?api-version=%s", c->base_url, k->rq->path, k->api);
    if (!results) {
        json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "id", k->rq->path, "name", opid, "status",
                              status, "startTime", t1);
        if (strcmp(status, "InProgress") != 0)
            json_object_set_new(o, "endTime", json_string(t2));
        else {
            int64_t left = due - now_ms();
            resp_header(r, "Retry-After", "%lld", (long long)(left > 0 ? left / 1000 : 0));
        }
        if (strcmp(status, "Failed") == 0)
            json_object_set_new(o, "error",
                                json_pack("{s:s,s:s}", "code", "InternalOperationError", "message",
                                          "The operation failed (armsim fault rule lro_result)."));
        resp_json(r, 200, o);
    } else if (strcmp(status, "InProgress") == 0) {
        int64_t left = due - now_ms();
        r->status = 202;
        resp_header(r, "Location", "%s", self);
        resp_header(r, "Retry-After", "%lld", (long long)(left > 0 ? left / 1000 : 0));
    } else if (strcmp(status, "Failed") == 0) {
        resp_error(r, 400, "InternalOperationError",
                   "The operation failed (armsim fault rule lro_result).");
    } else if (strcmp(kind, "put") == 0) {
        const struct rtype *t = rules_find(k->type);
        json_t *b = t ? res_load(c, t, rid) : NULL;
        if (b)
            resp_json(r, 200, res_render(t, b));
        else
            r->status = 204;
        json_decref(b);
    } else
        r->status = strcmp(kind, "upgrade") == 0 ? 200 : 204;
    json_decref(extra);
    free(rid);
    free(kind);
    free(status);
    free(t1);
    free(t2);
    free(self);
}

/* ---- lists ---- */

struct filter {
    char *field[8];
    char *value[8];
    size_t n;
    int at_scope;
};

static void filter_clear(struct filter *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->field[i]);
        free(f->value[i]);
    }
    memset(f, 0, sizeof(*f));
}

/* Parses the OData subset ARM lists accept: clauses joined by "and", each
 * "field eq 'value'", plus atScope(). Returns -1 on anything else. */
static int filter_parse(const char *s, struct filter *f)
{
    const char *p = s;
    memset(f, 0, sizeof(*f));
    while (p && *p) {
        const char *q;
        size_t n;
        struct membuf v = {0};
        while (*p == ' ')
            p++;
        if (strncasecmp(p, "atScope()", 9) == 0) {
            f->at_scope = 1;
            p += 9;
        } else if (strncasecmp(p, "assignedTo('", 12) == 0 && strstr(p + 12, "')") && f->n < 8) {
            /* assignedTo('{principal}'): armsim knows no groups, so it is principalId */
            const char *end = strstr(p + 12, "')");
            f->field[f->n] = xstrdup("principalId");
            f->value[f->n++] = strndup(p + 12, (size_t)(end - p - 12));
            p = end + 2;
        } else {
            q = p;
            while (*q && (isalnum((unsigned char)*q) || *q == '.' || *q == '/'))
                q++;
            n = (size_t)(q - p);
            if (!n || f->n == 8 || strncasecmp(q, " eq '", 5) != 0)
                return -1;
            f->field[f->n] = strndup(p, n);
            q += 5;
            for (;;) {
                if (!*q) {
                    membuf_clear(&v);
                    free(f->field[f->n]);
                    f->field[f->n] = NULL;
                    return -1;
                }
                if (*q == '\'' && q[1] == '\'') {
                    membuf_append(&v, "'", 1);
                    q += 2;
                } else if (*q == '\'') {
                    q++;
                    break;
                } else {
                    membuf_append(&v, q, 1);
                    q++;
                }
            }
            if (!v.data)
                membuf_append(&v, "", 0);
            f->value[f->n++] = v.data;
            p = q;
        }
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        if (strncasecmp(p, "and ", 4) != 0)
            return -1;
        p += 4;
    }
    return 0;
}

static int tags_match(json_t *tags, const char *name, const char *value)
{
    const char *k;
    json_t *v;
    json_object_foreach(tags, k, v)
    {
        if (strcasecmp(k, name) == 0 && (!value || ci_eq(json_string_value(v), value)))
            return 1;
    }
    return 0;
}

static int filter_match(const struct filter *f, json_t *b)
{
    const char *tag_name = NULL, *tag_value = NULL;
    for (size_t i = 0; i < f->n; i++) {
        const char *fld = f->field[i], *want = f->value[i];
        if (strcasecmp(fld, "tagName") == 0)
            tag_name = want;
        else if (strcasecmp(fld, "tagValue") == 0)
            tag_value = want;
        else if (strcasecmp(fld, "resourceType") == 0) {
            if (!ci_eq(json_string_value(json_object_get(b, "type")), want))
                return 0;
        } else if (strcasecmp(fld, "name") == 0 || strcasecmp(fld, "location") == 0) {
            if (!ci_eq(json_string_value(json_object_get(b, fld)), want))
                return 0;
        } else if (strcasecmp(fld, "principalId") == 0 ||
                   strcasecmp(fld, "policyDefinitionId") == 0) {
            char *path = xasprintf("properties.%s", fld);
            int ok = ci_eq(json_string_value(json_path_get(b, path)), want);
            free(path);
            if (!ok)
                return 0;
        }
    }
    if (tag_name && !tags_match(json_object_get(b, "tags"), tag_name, tag_value))
        return 0;
    return 1;
}

static char *url_escape(const char *s)
{
    struct membuf b = {0};
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~' || ch == '/')
            membuf_append(&b, (const char *)&ch, 1);
        else {
            char hex[4];
            snprintf(hex, sizeof(hex), "%%%02X", ch);
            membuf_append(&b, hex, 3);
        }
    }
    if (!b.data)
        membuf_append(&b, "", 0);
    return b.data;
}

static char *next_link(struct ctx *c, struct call *k, const char *token)
{
    const char *flt = req_query(k->rq, "$filter");
    char *path = url_escape(k->rq->path), *tok = url_escape(token), *out;
    char *f = flt ? url_escape(flt) : NULL;
    out = xasprintf("%s%s?api-version=%s%s%s&%%24skiptoken=%s", c->base_url, path, k->api,
                    f ? "&%24filter=" : "", f ? f : "", tok);
    free(path);
    free(tok);
    free(f);
    return out;
}

/* Answers a page of an in-memory list; the skip token is an offset. Steals items. */
void list_page(struct ctx *c, struct call *k, json_t *items, struct resp *r)
{
    const char *tok = req_query(k->rq, "$skiptoken");
    size_t from = tok ? strtoul(tok, NULL, 10) : 0, n = json_array_size(items);
    json_t *page = json_array(), *out;
    for (size_t i = from; i < n && i < from + c->page_size; i++)
        json_array_append(page, json_array_get(items, i));
    out = json_pack("{s:o}", "value", page);
    if (from + c->page_size < n) {
        char num[32];
        char *nl;
        snprintf(num, sizeof(num), "%zu", from + c->page_size);
        nl = next_link(c, k, num);
        json_object_set_new(out, "nextLink", json_string(nl));
        free(nl);
    }
    json_decref(items);
    resp_json(r, 200, out);
}

enum list_view { VIEW_FULL, VIEW_GENERIC };

struct list_q {
    const char *sql;
    const char *args[4];
    size_t nargs;
    const struct rtype *t; /* render rules; NULL renders by each row's type */
    enum list_view view;
    struct filter f;
    const char *scope; /* hierarchical scope, lower-case, for F_HIER_LIST */
};

static int scope_related(const char *scope, const char *want, int at_scope)
{
    size_t ls = strlen(scope), lw = strlen(want);
    if (ls == lw && strcasecmp(scope, want) == 0)
        return 1;
    if (ls < lw && strncasecmp(scope, want, ls) == 0 && (want[ls] == '/' || ls == 1))
        return 1;
    if (!at_scope && lw < ls && strncasecmp(scope, want, lw) == 0 && scope[lw] == '/')
        return 1;
    return 0;
}

static json_t *generic_view(json_t *b)
{
    static const char *const keys[] = {"id",  "name",     "type",      "location", "tags", "kind",
                                       "sku", "identity", "managedBy", "plan",     NULL};
    json_t *o = json_object();
    for (int i = 0; keys[i]; i++) {
        json_t *v = json_object_get(b, keys[i]);
        if (v)
            json_object_set(o, keys[i], v);
    }
    return o;
}

/* Runs a keyset-paged list over the resources table. The SQL's last parameter is the
 * "id > ?" bound of the page. */
static void list_sql(struct ctx *c, struct call *k, struct list_q *q, struct resp *r)
{
    sqlite3_stmt *st = store_stmt(c, q->sql);
    const char *tok = req_query(k->rq, "$skiptoken");
    json_t *page = json_array(), *out;
    char *last = NULL;
    int more = 0;
    size_t i;
    for (i = 0; i < q->nargs; i++)
        sqlite3_bind_text(st, (int)i + 1, lower_dup(q->args[i]), -1, free);
    sqlite3_bind_text(st, (int)i + 1, tok ? tok : "", -1, SQLITE_TRANSIENT);
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *b = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
        const struct rtype *t = q->t;
        if (!b)
            continue;
        if (!filter_match(&q->f, b) ||
            (q->scope &&
             !scope_related(sor(json_string_value(json_path_get(b, "properties.scope")), ""),
                            q->scope, q->f.at_scope))) {
            json_decref(b);
            continue;
        }
        if (json_array_size(page) == c->page_size) {
            more = 1;
            json_decref(b);
            break;
        }
        if (!t)
            t = rules_find(sor(json_string_value(json_object_get(b, "type")), ""));
        json_array_append_new(page, q->view == VIEW_GENERIC ? generic_view(b) : res_render(t, b));
        free(last);
        last = xstrdup((const char *)sqlite3_column_text(st, 1));
        json_decref(b);
    }
    sqlite3_reset(st);
    out = json_pack("{s:o}", "value", page);
    if (more && last) {
        char *nl = next_link(c, k, last);
        json_object_set_new(out, "nextLink", json_string(nl));
        free(nl);
    }
    free(last);
    resp_json(r, 200, out);
}

static const char q_sub[] = "SELECT body, id FROM resources WHERE type = ? AND sub = ? AND id > ?"
                            " ORDER BY id";
static const char q_rg[] = "SELECT body, id FROM resources WHERE type = ? AND sub = ? AND rg = ?"
                           " AND id > ? ORDER BY id";
static const char q_parent[] = "SELECT body, id FROM resources WHERE parent = ? AND type = ?"
                               " AND id > ? ORDER BY id";
static const char q_gen_sub[] = "SELECT body, id FROM resources WHERE sub = ? AND listed = 1"
                                " AND id > ? ORDER BY id";
static const char q_gen_rg[] = "SELECT body, id FROM resources WHERE sub = ? AND listed = 1"
                               " AND rg = ? AND id > ? ORDER BY id";

static int parse_filter(struct call *k, struct filter *f, struct resp *r)
{
    const char *flt = req_query(k->rq, "$filter");
    if (flt && filter_parse(flt, f) < 0) {
        filter_clear(f);
        resp_error(r, 400, "InvalidFilterInQueryString",
                   "Invalid $filter '%s'. armsim supports clauses \"field eq 'value'\" joined by "
                   "\"and\", and atScope().",
                   flt);
        return -1;
    }
    return 0;
}

/* ---- common checks ---- */

static int api_version_ok(struct call *k, const char *min, struct resp *r)
{
    const char *v = k->api;
    int ok = strlen(v) >= 10 && isdigit((unsigned char)v[0]) && v[4] == '-' && v[7] == '-';
    for (int i = 0; ok && i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)v[i]))
            ok = 0;
    if (ok && v[10] && v[10] != '-')
        ok = 0;
    if (!ok) {
        resp_error(r, 400, "InvalidApiVersionParameter",
                   "The api-version '%s' is invalid. The supported versions are dates like "
                   "'2022-09-01'.",
                   v);
        return -1;
    }
    if (min && strncmp(v, min, 10) < 0) {
        resp_error(r, 400, "NoRegisteredProviderFound",
                   "No registered resource provider found for API version '%s' and type '%s'. "
                   "armsim accepts api-versions from %s on.",
                   v, k->type ? k->type : "", min);
        return -1;
    }
    return 0;
}

static json_t *load_rg(struct ctx *c, const char *sub, const char *rg)
{
    char *id = xasprintf("/subscriptions/%s/resourcegroups/%s", sub, rg);
    json_t *b = store_get(c, id);
    free(id);
    return b;
}

static void not_found(struct call *k, struct resp *r)
{
    const char *slash = strchr(k->t->type, '/');
    if (k->ap.rg)
        resp_error(r, 404, "ResourceNotFound",
                   "The Resource '%s/%s' under resource group '%s' was not found. For more "
                   "details please go to https://aka.ms/ARMResourceNotFoundFix",
                   k->t->type, k->name, k->ap.rg);
    else
        resp_error(r, 404, "ResourceNotFound", "The Resource '%s/%s' was not found.",
                   slash ? k->t->type : "", k->name);
}

/* Checks that the resource group, the parent, or the scope of the addressed resource
 * exists. n is the number of named type segments of the resource (0 for collections of
 * top-level types). */
static int parent_check(struct ctx *c, struct call *k, size_t n, struct resp *r)
{
    json_t *b;
    if (k->ap.rg) {
        const char *ps;
        b = load_rg(c, k->ap.sub, k->ap.rg);
        if (!b) {
            resp_error(r, 404, "ResourceGroupNotFound", "Resource group '%s' could not be found.",
                       k->ap.rg);
            return -1;
        }
        ps = json_string_value(json_path_get(b, "properties.provisioningState"));
        if (ps && strcmp(ps, "Deleting") == 0 &&
            (strcmp(k->rq->method, "PUT") == 0 || strcmp(k->rq->method, "PATCH") == 0 ||
             strcmp(k->rq->method, "POST") == 0)) {
            resp_error(r, 409, "ResourceGroupBeingDeleted",
                       "The resource group '%s' is in deprovisioning state and cannot perform "
                       "this operation.",
                       k->ap.rg);
            json_decref(b);
            return -1;
        }
        json_decref(b);
    }
    if (k->t->flags & F_NOPARENT)
        return 0;
    if (n <= 1) {
        /* scope: subscription, resource group, or a resource for extension types */
        struct apath sp;
        const struct rtype *st;
        char *stype;
        int rc = 0;
        if (k->ap.scope_end <= 4)
            return 0;
        apath_parse(k->parent_key, &sp);
        if (sp.kind != AP_RES || sp.odd) {
            apath_free(&sp);
            return 0;
        }
        stype = type_of(&sp, sp.ntypes);
        st = rules_find(stype);
        b = st ? res_load(c, st, k->parent_key) : NULL;
        if (st && !b) {
            resp_error(r, 404, "ResourceNotFound", "The scope resource '%s' was not found.",
                       k->parent_key);
            rc = -1;
        }
        json_decref(b);
        free(stype);
        apath_free(&sp);
        return rc;
    }
    {
        const struct rtype *pt = parent_rule(k->t);
        if (!pt)
            return 0;
        b = res_load(c, pt, k->parent_key);
        if (!b) {
            resp_error(r, 404, "ParentResourceNotFound",
                       "Can not perform requested operation on nested resource. Parent resource "
                       "'%s' not found.",
                       k->ap.names[n - 2]);
            return -1;
        }
        json_decref(b);
    }
    return 0;
}

static int precondition(struct call *k, json_t *old, struct resp *r)
{
    const char *im = req_header(k->rq, "If-Match");
    const char *inm = req_header(k->rq, "If-None-Match");
    const char *etag = old ? json_string_value(json_object_get(old, "etag")) : NULL;
    if (!(k->t->flags & F_ETAG))
        return 0;
    if (inm && strcmp(inm, "*") == 0 && old) {
        resp_error(r, 412, "PreconditionFailed",
                   "The resource already exists and If-None-Match is '*'.");
        return -1;
    }
    if (im && ((strcmp(im, "*") == 0 && !old) ||
               (strcmp(im, "*") != 0 && (!etag || strcmp(im, etag) != 0)))) {
        resp_error(r, 412, "PreconditionFailed",
                   "The condition specified using HTTP conditional header(s) is not met: the "
                   "resource's etag is %s.",
                   etag ? etag : "absent");
        return -1;
    }
    return 0;
}

static char *canonical_id(struct ctx *c, struct call *k, size_t n)
{
    const char *seg = strrchr(k->t->type, '/') + 1;
    char *pid = NULL, *out;
    json_t *pb = NULL;
    if (n <= 1) {
        if (k->ap.rg && k->ap.scope_end == 4) {
            json_t *rg = load_rg(c, k->ap.sub, k->ap.rg);
            pid = xstrdup(json_string_value(json_object_get(rg, "id")));
            json_decref(rg);
        } else if (k->ap.scope_end == 2)
            pid = xasprintf("/subscriptions/%s", k->ap.sub);
        else {
            struct apath sp;
            const struct rtype *st;
            char *stype;
            apath_parse(k->parent_key, &sp);
            stype = sp.kind == AP_RES ? type_of(&sp, sp.ntypes) : NULL;
            st = stype ? rules_find(stype) : NULL;
            pb = st ? res_load(c, st, k->parent_key) : NULL;
            pid = xstrdup(pb ? json_string_value(json_object_get(pb, "id")) : k->parent_key);
            free(stype);
            apath_free(&sp);
        }
        out = xasprintf("%s/providers/%.*s/%s", pid, (int)(strchr(k->t->type, '/') - k->t->type),
                        k->t->type, seg);
    } else {
        const struct rtype *pt = parent_rule(k->t);
        pb = pt ? res_load(c, pt, k->parent_key) : NULL;
        pid = xstrdup(pb ? json_string_value(json_object_get(pb, "id")) : k->parent_key);
        out = xasprintf("%s/%s", pid, seg);
    }
    {
        char *full = xasprintf("%s/%s", out, k->name);
        free(out);
        out = full;
    }
    json_decref(pb);
    free(pid);
    return out;
}

static void normalise_location(json_t *b)
{
    const char *loc = json_string_value(json_object_get(b, "location"));
    char *l;
    size_t j = 0;
    if (!loc)
        return;
    l = lower_dup(loc);
    for (size_t i = 0; l[i]; i++)
        if (l[i] != ' ')
            l[j++] = l[i];
    l[j] = '\0';
    json_object_set_new(b, "location", json_string(l));
    free(l);
}

static void system_data(struct call *k, json_t *b, json_t *old)
{
    char *t = iso_time(now_ms());
    json_t *prev = old ? json_object_get(old, "systemData") : NULL;
    const char *who = sor(k->rq->caller, "armsim");
    json_t *sd = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "createdBy", who, "createdByType",
                           "Application", "createdAt", t, "lastModifiedBy", who,
                           "lastModifiedByType", "Application", "lastModifiedAt", t);
    if (json_is_object(prev)) {
        static const char *const keep[] = {"createdBy", "createdByType", "createdAt", NULL};
        for (int i = 0; keep[i]; i++)
            if (json_object_get(prev, keep[i]))
                json_object_set(sd, keep[i], json_object_get(prev, keep[i]));
    }
    json_object_set_new(b, "systemData", sd);
    free(t);
}

static int check_required(struct call *k, json_t *b, struct resp *r)
{
    if (!k->t->required)
        return 0;
    for (int i = 0; k->t->required[i]; i++) {
        json_t *v = json_path_get(b, k->t->required[i]);
        if (!v || json_is_null(v)) {
            if (strcmp(k->t->required[i], "location") == 0)
                resp_error(r, 400, "LocationRequired",
                           "The location property is required for this definition.");
            else
                resp_error(r, 400, "InvalidRequestContent",
                           "The request content was invalid and could not be deserialized: "
                           "required property '%s' not found.",
                           k->t->required[i]);
            return -1;
        }
    }
    return 0;
}

/* ---- verbs on a rule-described resource ---- */

static void answer_body(struct call *k, json_t *b, int status, struct resp *r)
{
    const char *etag = json_string_value(json_object_get(b, "etag"));
    if (etag && (k->t->flags & F_ETAG))
        resp_header(r, "ETag", "%s", etag);
    resp_json(r, status, res_render(k->t, b));
}

static void do_write(struct ctx *c, struct call *k, size_t n, int patch, struct resp *r)
{
    json_t *old, *nb = NULL;
    char *id = NULL;
    int status;
    enum lro_mode lro;
    if (k->t->flags & F_READONLY) {
        resp_error(r, 405, "MethodNotAllowed", "The resource type '%s' is read-only.", k->t->type);
        return;
    }
    if (patch && (k->t->flags & F_NOPATCH)) {
        resp_error(r, 405, "MethodNotAllowed", "The resource type '%s' does not support PATCH.",
                   k->t->type);
        return;
    }
    if (!json_is_object(k->body)) {
        resp_error(r, 400, "InvalidRequestContent",
                   "The request content was invalid and could not be deserialized: the body must "
                   "be a JSON object.");
        return;
    }
    if (parent_check(c, k, n, r) < 0)
        return;
    old = res_load(c, k->t, k->key);
    if (patch && !old) {
        not_found(k, r);
        return;
    }
    if (precondition(k, old, r) < 0)
        goto out;
    if (old && !patch) {
        const char *ps = json_string_value(json_path_get(old, "properties.provisioningState"));
        if (ps && strcmp(ps, "Deleting") == 0) {
            resp_error(r, 409, "Conflict", "The resource '%s' is being deleted.", k->name);
            goto out;
        }
    }
    if (patch) {
        json_t *tags = json_object_get(k->body, "tags");
        nb = json_deep_copy(old);
        if (json_is_object(tags))
            json_object_set(nb, "tags", tags);
        json_object_del(k->body, "tags");
        json_merge_patch(nb, k->body);
        if (json_is_object(tags))
            json_object_set(k->body, "tags", tags);
    } else
        nb = json_deep_copy(k->body);
    id = old ? xstrdup(json_string_value(json_object_get(old, "id"))) : canonical_id(c, k, n);
    json_object_set_new(nb, "id", json_string(id));
    json_object_set_new(
        nb, "name", json_string(old ? json_string_value(json_object_get(old, "name")) : k->name));
    json_object_set_new(nb, "type", json_string(k->t->type));
    if (old && json_object_get(old, "_armsim"))
        json_object_set(nb, "_armsim", json_object_get(old, "_armsim"));
    if (check_required(k, nb, r) < 0)
        goto out;
    if (k->t->validate && k->t->validate(c, k, nb, old, r) < 0)
        goto out;
    if (k->t->flags & F_TRACKED) {
        if (old && json_object_get(old, "location"))
            json_object_set(nb, "location", json_object_get(old, "location"));
        normalise_location(nb);
    }
    res_identity(c, nb, old);
    if (!k->t->inline_path)
        system_data(k, nb, old);
    if (k->t->defaults) {
        json_t *d = json_loads(k->t->defaults, 0, NULL);
        json_merge_missing(nb, d);
        json_decref(d);
    }
    if (!json_is_object(json_object_get(nb, "properties")))
        json_object_set_new(nb, "properties", json_object());
    if (k->t->populate)
        k->t->populate(c, k, nb, old);
    status = patch ? 200 : old ? k->t->put_update : k->t->put_create;
    lro = patch ? k->t->patch_lro : k->t->put_lro;
    if (lro == LRO_LOCATION && status != 202)
        lro = LRO_NONE;
    if (!(k->t->flags & F_NOPROVSTATE))
        json_path_set(nb, "properties.provisioningState",
                      json_string(lro == LRO_NONE ? "Succeeded"
                                  : old           ? sor(k->t->updating, "Updating")
                                                  : sor(k->t->creating, "Creating")));
    if (k->t->flags & F_ETAG) {
        char *et = new_etag(c);
        json_object_set_new(nb, "etag", json_string(et));
        free(et);
    }
    if (res_save(c, k->t, id, nb) < 0) {
        resp_error(r, 500, "InternalServerError", "armsim could not store the resource.");
        goto out;
    }
    if (lro != LRO_NONE)
        op_start(c, k, id, "put", NULL,
                 sor(json_string_value(json_object_get(nb, "location")), "global"), r,
                 lro == LRO_ASYNC      ? (status == 202 ? 3 : 1)
                 : lro == LRO_LOCATION ? 2
                                       : 0);
    if (lro == LRO_LOCATION)
        r->status = status;
    else
        answer_body(k, nb, status, r);
out:
    json_decref(old);
    json_decref(nb);
    free(id);
}

static void do_get(struct ctx *c, struct call *k, size_t n, struct resp *r)
{
    json_t *b;
    if (parent_check(c, k, n, r) < 0)
        return;
    b = res_load(c, k->t, k->key);
    if (!b) {
        not_found(k, r);
        return;
    }
    /* b is ours: strip it in place instead of copying */
    if ((k->t->flags & F_ETAG) && json_is_string(json_object_get(b, "etag")))
        resp_header(r, "ETag", "%s", json_string_value(json_object_get(b, "etag")));
    json_object_del(b, "_armsim");
    if (k->t->write_only)
        for (int i = 0; k->t->write_only[i]; i++)
            json_path_del(b, k->t->write_only[i]);
    resp_json(r, 200, b);
}

static void do_delete(struct ctx *c, struct call *k, size_t n, struct resp *r)
{
    json_t *old;
    if (k->t->flags & F_READONLY && !k->t->delete_lro) {
        resp_error(r, 405, "MethodNotAllowed", "The resource type '%s' is read-only.", k->t->type);
        return;
    }
    if (k->ap.rg) {
        json_t *rg = load_rg(c, k->ap.sub, k->ap.rg);
        if (!rg) {
            resp_error(r, 404, "ResourceGroupNotFound", "Resource group '%s' could not be found.",
                       k->ap.rg);
            return;
        }
        json_decref(rg);
    }
    (void)n;
    old = res_load(c, k->t, k->key);
    if (!old) {
        r->status = 204;
        return;
    }
    if (precondition(k, old, r) < 0)
        goto out;
    if (k->t->delete_lro == LRO_NONE) {
        int status = 200;
        if (k->t->sync_delete)
            status = k->t->sync_delete(c, k, old);
        else
            delete_now(c, k->t, k->key);
        if (k->t->flags & F_DELETE_BODY)
            resp_json(r, status, res_render(k->t, old));
        else
            r->status = status;
        goto out;
    }
    if (!(k->t->flags & F_NOPROVSTATE) || k->t->inline_path) {
        json_path_set(old, "properties.provisioningState", json_string("Deleting"));
        res_save(c, k->t, json_string_value(json_object_get(old, "id")), old);
    }
    r->status = 202;
    op_start(c, k, json_string_value(json_object_get(old, "id")), "delete", NULL,
             sor(json_string_value(json_object_get(old, "location")), "global"), r,
             k->t->delete_lro == LRO_ASYNC ? 3 : 2);
out:
    json_decref(old);
}

static void do_list(struct ctx *c, struct call *k, struct resp *r)
{
    struct list_q q;
    char *type = NULL, *scope = NULL;
    memset(&q, 0, sizeof(q));
    if (parent_check(c, k, k->ap.ntypes, r) < 0)
        return;
    if (k->t->inline_path) {
        const struct rtype *pt = parent_rule(k->t);
        json_t *pb = res_load(c, pt, k->parent_key), *arr, *items = json_array(), *el;
        size_t i;
        arr = pb ? inline_array(pb, k->t->inline_path, 0) : NULL;
        json_array_foreach(arr, i, el)
        {
            json_t *copy = json_deep_copy(el);
            json_object_set_new(copy, "type", json_string(k->t->type));
            json_array_append_new(items, res_render(k->t, copy));
            json_decref(copy);
        }
        json_decref(pb);
        list_page(c, k, items, r);
        return;
    }
    if (parse_filter(k, &q.f, r) < 0)
        return;
    type = xstrdup(k->t->list_type ? k->t->list_type : k->t->type);
    q.t = rules_find(type);
    if (k->t->flags & F_HIER_LIST) {
        scope = lower_dup(k->parent_key);
        q.sql = q_sub;
        q.args[0] = type;
        q.args[1] = k->ap.sub;
        q.nargs = 2;
        q.scope = scope;
    } else if ((k->t->flags & F_EXTENSION) || k->ap.ntypes > 1) {
        q.sql = q_parent;
        q.args[0] = k->parent_key;
        q.args[1] = type;
        q.nargs = 2;
    } else if (k->ap.rg) {
        q.sql = q_rg;
        q.args[0] = type;
        q.args[1] = k->ap.sub;
        q.args[2] = k->ap.rg;
        q.nargs = 3;
    } else {
        q.sql = q_sub;
        q.args[0] = type;
        q.args[1] = k->ap.sub;
        q.nargs = 2;
    }
    list_sql(c, k, &q, r);
    filter_clear(&q.f);
    free(type);
    free(scope);
}

/* ---- resource groups, providers, subscriptions ---- */

static void rg_handle(struct ctx *c, struct call *k, struct resp *r)
{
    const char *m = k->rq->method;
    json_t *old = load_rg(c, k->ap.sub, k->ap.rg), *nb = NULL;
    char *id = NULL;
    if (strcmp(m, "HEAD") == 0) {
        r->status = old ? 204 : 404;
        goto out;
    }
    if (strcmp(m, "GET") == 0) {
        if (old)
            resp_json(r, 200, res_render(NULL, old));
        else
            resp_error(r, 404, "ResourceGroupNotFound", "Resource group '%s' could not be found.",
                       k->ap.rg);
        goto out;
    }
    if (strcmp(m, "DELETE") == 0) {
        const char *ps =
            old ? json_string_value(json_path_get(old, "properties.provisioningState")) : NULL;
        if (!old) {
            resp_error(r, 404, "ResourceGroupNotFound", "Resource group '%s' could not be found.",
                       k->ap.rg);
            goto out;
        }
        r->status = 202;
        if (!ps || strcmp(ps, "Deleting") != 0) {
            json_path_set(old, "properties.provisioningState", json_string("Deleting"));
            store_put(c, json_string_value(json_object_get(old, "id")), RG_TYPE, k->ap.sub,
                      k->ap.rg, "", 0, old);
        }
        op_start(c, k, json_string_value(json_object_get(old, "id")), "delete", NULL,
                 json_string_value(json_object_get(old, "location")), r, 2);
        goto out;
    }
    if (strcmp(m, "PUT") != 0 && strcmp(m, "PATCH") != 0) {
        resp_error(r, 405, "MethodNotAllowed", "Method %s is not allowed on a resource group.", m);
        goto out;
    }
    if (!json_is_object(k->body)) {
        resp_error(r, 400, "InvalidRequestContent",
                   "The request content was invalid and could not be deserialized.");
        goto out;
    }
    if (old &&
        strcmp(sor(json_string_value(json_path_get(old, "properties.provisioningState")), ""),
               "Deleting") == 0) {
        resp_error(r, 409, "ResourceGroupBeingDeleted",
                   "The resource group '%s' is in deprovisioning state and cannot perform this "
                   "operation.",
                   k->ap.rg);
        goto out;
    }
    if (strcmp(m, "PATCH") == 0) {
        json_t *tags = json_object_get(k->body, "tags");
        if (!old) {
            resp_error(r, 404, "ResourceGroupNotFound", "Resource group '%s' could not be found.",
                       k->ap.rg);
            goto out;
        }
        nb = json_deep_copy(old);
        if (json_is_object(tags))
            json_object_set(nb, "tags", tags);
        if (json_object_get(k->body, "managedBy"))
            json_object_set(nb, "managedBy", json_object_get(k->body, "managedBy"));
    } else {
        json_t *loc = json_object_get(k->body, "location");
        if (!json_is_string(loc)) {
            resp_error(r, 400, "LocationRequired",
                       "The location property is required for this definition.");
            goto out;
        }
        nb = json_pack("{s:O}", "location", loc);
        normalise_location(nb);
        if (old && !ci_eq(json_string_value(json_object_get(old, "location")),
                          json_string_value(json_object_get(nb, "location")))) {
            resp_error(r, 409, "InvalidResourceGroupLocation",
                       "Invalid resource group location '%s'. The Resource group already exists "
                       "in location '%s'.",
                       json_string_value(loc), json_string_value(json_object_get(old, "location")));
            goto out;
        }
        if (json_object_get(k->body, "tags"))
            json_object_set(nb, "tags", json_object_get(k->body, "tags"));
        if (json_object_get(k->body, "managedBy"))
            json_object_set(nb, "managedBy", json_object_get(k->body, "managedBy"));
    }
    id = old ? xstrdup(json_string_value(json_object_get(old, "id")))
             : xasprintf("/subscriptions/%s/resourceGroups/%s", k->ap.sub, k->ap.rg);
    json_object_set_new(nb, "id", json_string(id));
    json_object_set_new(
        nb, "name", json_string(old ? json_string_value(json_object_get(old, "name")) : k->ap.rg));
    json_object_set_new(nb, "type", json_string(RG_TYPE));
    json_object_set_new(nb, "properties", json_pack("{s:s}", "provisioningState", "Succeeded"));
    store_put(c, id, RG_TYPE, k->ap.sub, k->ap.rg, "", 0, nb);
    resp_json(r, old ? 200 : 201, json_deep_copy(nb));
out:
    json_decref(old);
    json_decref(nb);
    free(id);
}

static json_t *provider_json(const char *sub, const char *ns, const char *state)
{
    size_t n;
    const struct rtype *all = rules_all(&n);
    json_t *types = json_array();
    const char *canon = ns;
    char *id;
    json_t *o;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(ns);
        if (strncasecmp(all[i].type, ns, l) == 0 && all[i].type[l] == '/') {
            canon = all[i].type;
            json_array_append_new(types, json_pack("{s:s,s:[s,s,s,s],s:[s]}", "resourceType",
                                                   all[i].type + l + 1, "locations", "East US",
                                                   "West US", "West Europe", "North Europe",
                                                   "apiVersions", all[i].min_api));
        }
    }
    id = xasprintf("/subscriptions/%s/providers/%.*s", sub, (int)strlen(ns), canon);
    o = json_pack("{s:s,s:s%,s:s,s:s,s:o}", "id", id, "namespace", canon, strlen(ns),
                  "registrationState", state, "registrationPolicy", "RegistrationRequired",
                  "resourceTypes", types);
    free(id);
    return o;
}

static int provider_known(const char *ns)
{
    size_t n, l = strlen(ns);
    const struct rtype *all = rules_all(&n);
    if (strcasecmp(ns, "Microsoft.Resources") == 0)
        return 1;
    for (size_t i = 0; i < n; i++)
        if (strncasecmp(all[i].type, ns, l) == 0 && all[i].type[l] == '/')
            return 1;
    return 0;
}

static const char *provider_state(struct ctx *c, const char *sub, const char *ns)
{
    char *key = xasprintf("provider:%s:%s", sub, ns);
    char *lk = lower_dup(key);
    char v = 1;
    free(key);
    if (store_meta_get(c, lk, &v, 1) < 0)
        v = 1;
    free(lk);
    return v ? "Registered" : "NotRegistered";
}

static void provider_handle(struct ctx *c, struct call *k, struct resp *r, const char *action)
{
    const char *ns = k->ap.ns;
    if (!provider_known(ns)) {
        resp_error(r, 404, "InvalidResourceNamespace", "The resource namespace '%s' is invalid.",
                   ns);
        return;
    }
    if (action) {
        char *key, *lk;
        char v;
        if (strcmp(k->rq->method, "POST") != 0 ||
            (strcasecmp(action, "register") != 0 && strcasecmp(action, "unregister") != 0)) {
            resp_error(r, 404, "NotFound", "Unknown provider action '%s'.", action);
            return;
        }
        v = strcasecmp(action, "register") == 0;
        key = xasprintf("provider:%s:%s", k->ap.sub, ns);
        lk = lower_dup(key);
        store_meta_put(c, lk, &v, 1);
        free(key);
        free(lk);
    } else if (strcmp(k->rq->method, "GET") != 0) {
        resp_error(r, 405, "MethodNotAllowed", "Use GET or POST .../register.");
        return;
    }
    resp_json(r, 200, provider_json(k->ap.sub, ns, provider_state(c, k->ap.sub, ns)));
}

static void providers_list(struct ctx *c, struct call *k, struct resp *r)
{
    size_t n;
    const struct rtype *all = rules_all(&n);
    json_t *items = json_array(), *seen = json_object();
    for (size_t i = 0; i < n; i++) {
        char *ns = strndup(all[i].type, (size_t)(strchr(all[i].type, '/') - all[i].type));
        if (!json_object_get(seen, ns)) {
            json_object_set_new(seen, ns, json_true());
            json_array_append_new(items,
                                  provider_json(k->ap.sub, ns, provider_state(c, k->ap.sub, ns)));
        }
        free(ns);
    }
    json_decref(seen);
    list_page(c, k, items, r);
}

/* POST /subscriptions/{s}/providers/{ns}/checkNameAvailability: names of vaults and
 * storage accounts are global, and a soft-deleted vault keeps its name. */
static void name_check(struct ctx *c, struct call *k, struct resp *r)
{
    static const char sql[] = "SELECT 1 FROM resources WHERE type = lower(?) AND name = lower(?)";
    const char *name = json_string_value(json_object_get(k->body, "name"));
    int kv = strcasecmp(k->ap.ns, "Microsoft.KeyVault") == 0;
    int storage = strcasecmp(k->ap.ns, "Microsoft.Storage") == 0;
    const char *types[2];
    int taken = -1;
    size_t len;
    if (strcmp(k->rq->method, "POST") != 0 || (!kv && !storage)) {
        resp_error(r, 404, "NotFound",
                   "armsim checks names of Microsoft.KeyVault and Microsoft.Storage only.");
        return;
    }
    if (!name) {
        resp_error(r, 400, "InvalidRequestContent", "The request needs a string 'name'.");
        return;
    }
    len = strlen(name);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (!(islower(ch) || isdigit(ch) || (kv && (isupper(ch) || ch == '-'))))
            len = 0;
    }
    if (len < 3 || len > 24) {
        resp_json(r, 200,
                  json_pack("{s:b,s:s,s:s}", "nameAvailable", 0, "reason", "AccountNameInvalid",
                            "message",
                            storage ? "Storage account names are 3 to 24 lowercase letters and "
                                      "digits."
                                    : "Vault names are 3 to 24 letters, digits and hyphens."));
        return;
    }
    types[0] = kv ? "Microsoft.KeyVault/vaults" : "Microsoft.Storage/storageAccounts";
    types[1] = kv ? "Microsoft.KeyVault/locations/deletedVaults" : NULL;
    for (int i = 0; i < 2 && taken < 0; i++) {
        sqlite3_stmt *st;
        if (!types[i])
            continue;
        st = store_stmt(c, sql);
        sqlite3_bind_text(st, 1, types[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW)
            taken = i;
        sqlite3_reset(st);
    }
    if (taken < 0)
        resp_json(r, 200, json_pack("{s:b}", "nameAvailable", 1));
    else
        resp_json(r, 200,
                  json_pack("{s:b,s:s,s:s}", "nameAvailable", 0, "reason", "AlreadyExists",
                            "message",
                            taken ? "A vault with this name exists in the deleted state; purge "
                                    "or recover it."
                                  : "The name is already in use."));
}

static void subscriptions_list(struct ctx *c, struct call *k, struct resp *r)
{
    static const char sql[] = "SELECT DISTINCT sub FROM resources ORDER BY sub";
    sqlite3_stmt *st = store_stmt(c, sql);
    json_t *items = json_array();
    int seen_default = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *sub = (const char *)sqlite3_column_text(st, 0);
        char *id = xasprintf("/subscriptions/%s", sub);
        seen_default |= strcmp(sub, "00000000-0000-0000-0000-000000000001") == 0;
        json_array_append_new(items, json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", id, "subscriptionId",
                                               sub, "displayName", "armsim subscription", "state",
                                               "Enabled", "tenantId", ARMSIM_TENANT));
        free(id);
    }
    sqlite3_reset(st);
    if (!seen_default)
        json_array_append_new(items,
                              json_pack("{s:s,s:s,s:s,s:s,s:s}", "id",
                                        "/subscriptions/00000000-0000-0000-0000-000000000001",
                                        "subscriptionId", "00000000-0000-0000-0000-000000000001",
                                        "displayName", "armsim subscription", "state", "Enabled",
                                        "tenantId", ARMSIM_TENANT));
    list_page(c, k, items, r);
}

/* ---- the entry point ---- */

static void route(struct ctx *c, struct call *k, struct resp *r)
{
    const char *m = k->rq->method;
    struct list_q q;
    switch (k->ap.kind) {
    case AP_SUBS:
        if (strcmp(m, "GET") != 0)
            resp_error(r, 405, "MethodNotAllowed", "Subscriptions support GET only.");
        else
            subscriptions_list(c, k, r);
        return;
    case AP_SUB:
        if (strcmp(m, "GET") != 0) {
            resp_error(r, 405, "MethodNotAllowed", "Subscriptions support GET only.");
            return;
        }
        resp_json(r, 200,
                  json_pack("{s:s%,s:s,s:s,s:s,s:s}", "id", k->rq->path, strlen(k->rq->path),
                            "subscriptionId", k->ap.sub, "displayName", "armsim subscription",
                            "state", "Enabled", "tenantId", ARMSIM_TENANT));
        return;
    case AP_RG:
        rg_handle(c, k, r);
        return;
    case AP_RG_LIST:
    case AP_SUB_RESOURCES:
    case AP_RG_RESOURCES:
        memset(&q, 0, sizeof(q));
        if (strcmp(m, "GET") != 0) {
            resp_error(r, 405, "MethodNotAllowed", "Lists support GET only.");
            return;
        }
        if (k->ap.kind == AP_RG_RESOURCES) {
            json_t *rg = load_rg(c, k->ap.sub, k->ap.rg);
            if (!rg) {
                resp_error(r, 404, "ResourceGroupNotFound",
                           "Resource group '%s' could not be found.", k->ap.rg);
                return;
            }
            json_decref(rg);
        }
        if (parse_filter(k, &q.f, r) < 0)
            return;
        if (k->ap.kind == AP_RG_LIST) {
            q.sql = q_sub;
            q.args[0] = RG_TYPE;
            q.args[1] = k->ap.sub;
            q.nargs = 2;
        } else if (k->ap.kind == AP_SUB_RESOURCES) {
            q.sql = q_gen_sub;
            q.args[0] = k->ap.sub;
            q.nargs = 1;
            q.view = VIEW_GENERIC;
        } else {
            q.sql = q_gen_rg;
            q.args[0] = k->ap.sub;
            q.args[1] = k->ap.rg;
            q.nargs = 2;
            q.view = VIEW_GENERIC;
        }
        list_sql(c, k, &q, r);
        filter_clear(&q.f);
        return;
    case AP_PROVIDERS:
        providers_list(c, k, r);
        return;
    case AP_PROVIDER:
        provider_handle(c, k, r, NULL);
        return;
    default:
        break;
    }
    if (k->ap.ntypes == 1 && k->ap.odd && k->ap.scope_end == 2 && !k->ap.rg &&
        (strcasecmp(k->ap.types[0], "register") == 0 ||
         strcasecmp(k->ap.types[0], "unregister") == 0)) {
        provider_handle(c, k, r, k->ap.types[0]);
        return;
    }
    if (k->ap.ntypes == 1 && k->ap.odd && k->ap.scope_end == 2 && !k->ap.rg &&
        strcasecmp(k->ap.types[0], "checkNameAvailability") == 0) {
        name_check(c, k, r);
        return;
    }
    if (!k->t) {
        resp_error(r, 400, "NoRegisteredProviderFound",
                   "No registered resource provider found for type '%s' and API version '%s'.",
                   k->type, k->api);
        return;
    }
    if (k->t->handle) {
        k->t->handle(c, k, r);
        return;
    }
    if (k->action) {
        if (strcmp(m, "POST") != 0 || !k->t->action || k->t->action(c, k, k->action, r) < 0)
            resp_error(r, 404, "NotFound", "The action '%s' is not supported on '%s'.", k->action,
                       k->t->type);
        return;
    }
    if (k->ap.odd) {
        if (strcmp(m, "GET") != 0)
            resp_error(r, 405, "MethodNotAllowed", "Collections support GET only.");
        else
            do_list(c, k, r);
        return;
    }
    if (strcmp(m, "GET") == 0)
        do_get(c, k, k->ap.ntypes, r);
    else if (strcmp(m, "HEAD") == 0) {
        do_get(c, k, k->ap.ntypes, r);
        if (r->status == 200)
            r->status = 204;
        json_decref(r->body);
        r->body = NULL;
    } else if (strcmp(m, "PUT") == 0)
        do_write(c, k, k->ap.ntypes, 0, r);
    else if (strcmp(m, "PATCH") == 0)
        do_write(c, k, k->ap.ntypes, 1, r);
    else if (strcmp(m, "DELETE") == 0)
        do_delete(c, k, k->ap.ntypes, r);
    else
        resp_error(r, 405, "MethodNotAllowed", "Method %s is not allowed.", m);
}

/* Works out the type, name and keys of the call from its path. */
static void classify(struct call *k)
{
    struct apath *ap = &k->ap;
    size_t p0 = ap->scope_end + 2;
    switch (ap->kind) {
    case AP_RG:
    case AP_RG_LIST:
        k->type = xstrdup(RG_TYPE);
        k->name = ap->rg;
        return;
    case AP_RES:
        break;
    case AP_SUB_RESOURCES:
    case AP_RG_RESOURCES:
        k->type = xstrdup("Microsoft.Resources/resources");
        return;
    case AP_PROVIDER:
    case AP_PROVIDERS:
        k->type = xstrdup("Microsoft.Resources/providers");
        k->name = ap->ns;
        return;
    default:
        k->type = xstrdup("Microsoft.Resources/subscriptions");
        return;
    }
    k->type = type_of(ap, ap->ntypes);
    k->t = rules_find(k->type);
    if (k->t && ap->odd) {
        /* a collection */
        k->key = apath_join(ap, 0, ap->nseg);
        k->parent_key = ap->ntypes == 1 ? apath_join(ap, 0, ap->scope_end)
                                        : apath_join(ap, 0, p0 + 2 * (ap->ntypes - 1));
        k->name = "";
    } else if (!k->t && ap->odd && ap->ntypes >= 2) {
        char *pt = type_of(ap, ap->ntypes - 1);
        k->t = rules_find(pt);
        if (k->t) {
            free(k->type);
            k->type = pt;
            k->action = ap->types[ap->ntypes - 1];
            k->key = apath_join(ap, 0, p0 + 2 * (ap->ntypes - 1));
            k->parent_key = ap->ntypes == 2 ? apath_join(ap, 0, ap->scope_end)
                                            : apath_join(ap, 0, p0 + 2 * (ap->ntypes - 2));
            k->name = ap->names[ap->ntypes - 2];
        } else
            free(pt);
    } else if (k->t) {
        k->key = apath_join(ap, 0, ap->nseg);
        k->parent_key =
            ap->ntypes == 1 ? apath_join(ap, 0, ap->scope_end) : apath_join(ap, 0, ap->nseg - 2);
        k->name = ap->names[ap->ntypes - 1];
    }
    if (k->t) {
        free(k->type);
        k->type = xstrdup(k->t->type);
    }
}

static int is_op_poll(const struct apath *ap)
{
    return ap->kind == AP_RES && ap->ntypes == 2 && !ap->odd && !ap->rg &&
           strcasecmp(ap->types[0], "locations") == 0 &&
           (strcasecmp(ap->types[1], "operations") == 0 ||
            strcasecmp(ap->types[1], "operationResults") == 0 ||
            strcasecmp(ap->types[1], "asyncoperations") == 0);
}

void arm_handle(struct ctx *c, struct req *rq, struct resp *r)
{
    struct call k;
    int poll;
    json_error_t je;
    memset(&k, 0, sizeof(k));
    k.rq = rq;
    apath_parse(rq->path, &k.ap);
    arm_settle(c);
    poll = is_op_poll(&k.ap);
    if (!poll)
        classify(&k);
    if (auth_check(c, rq, ARMSIM_ARM_AUD, r) < 0)
        goto out;
    k.api = req_query(rq, "api-version");
    if (!k.api) {
        resp_error(r, 400, "MissingApiVersionParameter",
                   "The api-version query parameter (?api-version=) is required for all "
                   "requests.");
        goto out;
    }
    if (api_version_ok(&k, k.t ? k.t->min_api : "2014-01-01", r) < 0)
        goto out;
    if (k.ap.kind == AP_BAD) {
        resp_error(r, 400, "InvalidRequestUri", "The request URI '%s' is not an ARM path.",
                   rq->path);
        goto out;
    }
    if (poll) {
        /* the type of the operation is needed for faults and stats */
        op_poll(c, &k, r);
        if (r->status == 404)
            goto out;
        resp_clear(r);
        if (fault_match(c, "GET", k.type, k.ap.names[1], r, NULL))
            goto out;
        if (throttle_take(c, k.ap.sub, "GET", r) < 0)
            goto out;
        op_poll(c, &k, r);
        goto out;
    }
    if (fault_match(c, rq->method, k.type, k.name, r, &k.lro_failed))
        goto out;
    if (throttle_take(c, sor(k.ap.sub, "(tenant)"), rq->method, r) < 0)
        goto out;
    if (rq->body_len) {
        k.body = json_loadb(rq->body, rq->body_len, 0, &je);
        if (!k.body) {
            resp_error(r, 400, "InvalidRequestContent",
                       "The request content was invalid and could not be deserialized: %s at "
                       "line %d column %d.",
                       je.text, je.line, je.column);
            goto out;
        }
    }
    route(c, &k, r);
out:
    if (!r->status && !r->reset)
        r->status = 500;
    {
        const char *corr = req_header(rq, "x-ms-correlation-request-id");
        char rid[37], cid[37];
        new_uuid(c, rid);
        resp_header(r, "x-ms-request-id", "%s", rid);
        if (!corr) {
            new_uuid(c, cid);
            corr = cid;
        }
        resp_header(r, "x-ms-correlation-request-id", "%s", corr);
    }
    stats_count(c, rq->method, k.type, r->reset ? 0 : r->status, poll);
    json_decref(k.body);
    free(k.type);
    free(k.key);
    free(k.parent_key);
    apath_free(&k.ap);
}
