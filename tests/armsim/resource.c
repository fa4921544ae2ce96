/* armsim: loading and storing resources, inline children (kept in an array of their
 * parent), rendering without write-only fields, and identity blocks. */
#define _GNU_SOURCE /* strcasestr */
#include "rules.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

char *new_etag(struct ctx *c)
{
    return xasprintf("W/\"%016llx\"", (unsigned long long)ctx_random(c));
}

json_t *inline_array(json_t *parent, const char *path, int create)
{
    json_t *arr = json_path_get(parent, path);
    if (!json_is_array(arr) && create) {
        arr = json_array();
        json_path_set(parent, path, arr);
    }
    return json_is_array(arr) ? arr : NULL;
}

int inline_index(json_t *arr, const char *name)
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
