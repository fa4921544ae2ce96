/* The ARM front end: checks common to every call (token, api-version, faults,
 * throttling), the generic PUT/PATCH/GET/DELETE/list handling driven by the per-type rules,
 * resource groups, providers and subscriptions. Paths are parsed in path.c, resources
 * stored in resource.c, operations run in lro.c and lists paged in list.c. */
#include "rules.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <strings.h>

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
        /* a poll matches fault rules by the name of the operation's resource */
        if (fault_match(c, "GET", k.type, k.key ? strrchr(k.key, '/') + 1 : k.ap.names[1], r, NULL))
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
    if (!poll && strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0)
        stats_count_write(c, rq->method, rq->path, r->reset ? 0 : r->status);
    json_decref(k.body);
    free(k.type);
    free(k.key);
    free(k.parent_key);
    apath_free(&k.ap);
}
