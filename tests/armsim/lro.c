/* armsim: long-running operations: records with absolute due times, completion before
 * each ARM call, the status monitors, and deletes (cascades, soft-deleted vaults). */
#include "rules.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

void delete_now(struct ctx *c, const struct rtype *t, const char *id)
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
void op_poll(struct ctx *c, struct call *k, struct resp *r)
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
    free(k->key);
    k->key = xstrdup(rid);
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
