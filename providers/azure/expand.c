/*
 * expand: validated manifest objects in, ARM resources out (issue 4 item
 * 2). Objects are indexed by kind and name, then expanded kind by kind in
 * an order where everything a kind refers to is already known: groups,
 * identities, networks, monitoring, vaults (whose access grants pools
 * depend on), storage, pools, then role and policy assignments.
 */
#include <string.h>

#include "dsvmops/error.h"
#include "expand.h"

typedef int (*kind_fn)(az_ex *ex, const json_t *obj);

static const struct {
    const char *kind;
    kind_fn fn; /* NULL: the kind creates no resource of its own */
} kinds[] = {
    {"ResourceGroup", az_expand_resource_group},
    {"Identity", az_expand_identity},
    {"Network", az_expand_network},
    {"Monitoring", az_expand_monitoring},
    {"KeyVault", az_expand_key_vault},
    {"SharedStorage", az_expand_shared_storage},
    {"DomainJoin", NULL},
    {"Pool", az_expand_pool},
    {"RoleAssignment", az_expand_role_assignment},
    {"PolicyAssignment", az_expand_policy_assignment},
};

static int known_kind(const char *kind)
{
    size_t i;

    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(kinds[i].kind, kind) == 0)
            return 1;
    return 0;
}

/* Index the objects by kind and name, in input order. */
static int index_objects(az_ex *ex, const json_t *objects)
{
    const json_t *obj;
    size_t i;

    json_array_foreach(objects, i, obj)
    {
        const char *kind = az_str(obj, "kind", NULL);
        const char *name = az_str(obj, "name", NULL);
        json_t *map;

        if (!kind || !name || !json_is_object(json_object_get(obj, "spec")))
            return az_fail(ex, "expand: object %zu needs kind, name and spec", i);
        if (!known_kind(kind))
            return az_fail(ex, "expand: %s/%s: unknown kind", kind, name);
        map = json_object_get(ex->by_kind, kind);
        if (!map) {
            map = json_object();
            if (az_set(ex, ex->by_kind, kind, map) < 0)
                return DSVM_ENOMEM;
        }
        if (json_object_get(map, name))
            return az_fail(ex, "expand: %s/%s is declared twice", kind, name);
        if (json_object_set(map, name, (json_t *)obj) < 0)
            return az_fail(ex, "out of memory");
    }
    return 0;
}

int az_expand(json_t **out, const json_t *context, const json_t *objects, json_t **err)
{
    az_ex ex = {0};
    size_t k;
    int rc = DSVM_EINVALID;

    ex.sub = az_str(context, "subscription", NULL);
    ex.instance = az_str(context, "instance", NULL);
    ex.tenant = az_str(context, "tenant", NULL);
    ex.by_kind = json_object();
    ex.resources = json_array();
    ex.by_id = json_object();
    ex.access = json_object();
    if (!ex.by_kind || !ex.resources || !ex.by_id || !ex.access) {
        rc = az_fail(&ex, "out of memory");
        goto out;
    }
    if (!ex.sub || !ex.instance) {
        az_fail(&ex, "expand: the context needs subscription and instance");
        goto out;
    }
    if (!json_is_array(objects)) {
        az_fail(&ex, "expand: objects must be a JSON array");
        goto out;
    }
    rc = index_objects(&ex, objects);
    for (k = 0; rc == 0 && k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        const json_t *obj;
        size_t i;

        if (!kinds[k].fn)
            continue;
        /* Input order within a kind keeps the output stable. */
        json_array_foreach(objects, i, obj)
        {
            if (strcmp(az_str(obj, "kind", ""), kinds[k].kind) != 0)
                continue;
            rc = kinds[k].fn(&ex, obj);
            if (rc == 0 && ex.err)
                rc = DSVM_EINVALID;
            if (rc < 0)
                break;
        }
    }
    if (rc == 0)
        rc = az_apply_ignore_fields(&ex, objects);
    if (rc == 0)
        *out = json_incref(ex.resources);
out:
    if (rc < 0) {
        *err = ex.err ? ex.err : json_string("expand failed");
        ex.err = NULL;
    }
    json_decref(ex.err);
    json_decref(ex.by_kind);
    json_decref(ex.resources);
    json_decref(ex.by_id);
    json_decref(ex.access);
    json_decref(ex.mounters);
    return rc;
}
