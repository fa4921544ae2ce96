/*
 * Helpers shared by every kind expander: see expand.h.
 */
#include <ctype.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "dsvmops/error.h"
#include "expand.h"

int az_fail(az_ex *ex, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (!ex->err)
        ex->err = json_vsprintf(fmt, ap);
    va_end(ap);
    return DSVM_EINVALID;
}

json_t *az_find(az_ex *ex, const char *kind, const char *name)
{
    if (!kind || !name)
        return NULL;
    return json_object_get(json_object_get(ex->by_kind, kind), name);
}

const char *az_str(const json_t *spec, const char *key, const char *def)
{
    const char *v = json_string_value(json_object_get(spec, key));

    return v ? v : def;
}

int az_bool(const json_t *spec, const char *key, int def)
{
    json_t *v = json_object_get(spec, key);

    return json_is_boolean(v) ? json_is_true(v) : def;
}

json_int_t az_int(const json_t *spec, const char *key, json_int_t def)
{
    json_t *v = json_object_get(spec, key);

    return json_is_integer(v) ? json_integer_value(v) : def;
}

const char *az_location(az_ex *ex, const json_t *obj)
{
    const char *loc = az_str(json_object_get(obj, "spec"), "location", NULL);
    const char *rg = json_string_value(json_object_get(obj, "resourceGroup"));
    json_t *group;

    if (loc)
        return loc;
    group = az_find(ex, "ResourceGroup", rg);
    loc = az_str(json_object_get(group, "spec"), "location", NULL);
    if (!loc)
        az_fail(ex, "%s/%s: no location, and its resource group '%s' declares none",
                az_str(obj, "kind", "?"), az_str(obj, "name", "?"), rg ? rg : "(none)");
    return loc;
}

json_t *az_rg_id(az_ex *ex, const char *rg)
{
    return json_sprintf("/subscriptions/%s/resourceGroups/%s", ex->sub, rg);
}

json_t *az_id(az_ex *ex, const char *rg, const char *type, const char *name)
{
    return json_sprintf("/subscriptions/%s/resourceGroups/%s/providers/%s/%s", ex->sub, rg, type,
                        name);
}

json_t *az_id_of(az_ex *ex, const json_t *obj, const char *type, const char *name)
{
    return az_id(ex, az_str(obj, "resourceGroup", ""), type, name);
}

json_t *az_owner(const json_t *obj)
{
    return json_sprintf("%s/%s", az_str(obj, "kind", "?"), az_str(obj, "name", "?"));
}

json_t *az_tags(az_ex *ex, const json_t *obj, const json_t *owner)
{
    json_t *tags = json_deep_copy(json_object_get(json_object_get(obj, "spec"), "tags"));

    if (!json_is_object(tags)) {
        json_decref(tags);
        tags = json_object();
    }
    if (!tags || json_object_set_new(tags, "dsvmops-instance", json_string(ex->instance)) < 0 ||
        json_object_set(tags, "dsvmops-object", (json_t *)owner) < 0) {
        json_decref(tags);
        return NULL;
    }
    return tags;
}

json_t *az_mark_text(az_ex *ex, const json_t *owner)
{
    return json_sprintf("[dsvmops-instance=%s; dsvmops-object=%s]", ex->instance,
                        json_string_value(owner));
}

json_t *az_kaa(const char *id, const char *path, const char *suffix)
{
    json_t *ref = json_sprintf("%s#%s%s%s", id, path, suffix ? "+" : "", suffix ? suffix : "");

    return ref ? json_pack("{s:o}", "$knownAfterApply", ref) : NULL;
}

static json_t *lower_key(const char *id)
{
    json_t *s = json_string(id);
    char *p;

    if (!s)
        return NULL;
    for (p = (char *)json_string_value(s); *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return s;
}

json_t *az_lookup(az_ex *ex, const char *id)
{
    json_t *key = lower_key(id);
    json_t *res = key ? json_object_get(ex->by_id, json_string_value(key)) : NULL;

    json_decref(key);
    return res;
}

json_t *az_emit(az_ex *ex, const char *type, json_t *id, const json_t *owner, json_t *body)
{
    const dsvm_type_rules *rules = az_type_find(type);
    json_t *res = NULL, *key = NULL;

    if (!id || !body || !owner)
        goto fail;
    if (!rules) {
        az_fail(ex, "internal: no rule table for type %s", type);
        goto fail;
    }
    if (az_lookup(ex, json_string_value(id))) {
        az_fail(ex, "%s: resource %s is produced twice; rename one of the objects",
                json_string_value(owner), json_string_value(id));
        goto fail;
    }
    key = lower_key(json_string_value(id));
    res = json_pack("{s:o,s:s,s:s,s:O,s:o,s:[],s:{},s:[]}", "id", id, "type", rules->type,
                    "apiVersion", rules->api_version, "object", owner, "body", body, "dependsOn",
                    "writeOnly", "secretRefs");
    id = body = NULL;
    if (!res || !key || json_array_append(ex->resources, res) < 0 ||
        json_object_set(ex->by_id, json_string_value(key), res) < 0)
        goto fail;
    json_decref(key);
    json_decref(res);
    return res; /* still referenced by ex->resources */
fail:
    if (!ex->err)
        az_fail(ex, "out of memory");
    json_decref(key);
    json_decref(res);
    json_decref(id);
    json_decref(body);
    return NULL;
}

int az_dep(json_t *res, const char *id)
{
    json_t *deps = json_object_get(res, "dependsOn");
    json_t *d;
    size_t i;

    if (!id || strcasecmp(id, json_string_value(json_object_get(res, "id"))) == 0)
        return 0;
    json_array_foreach(deps, i, d)
    {
        if (strcasecmp(json_string_value(d), id) == 0)
            return 0;
    }
    return json_array_append_new(deps, json_string(id)) < 0 ? DSVM_ENOMEM : 0;
}

int az_dep_json(json_t *res, const json_t *id)
{
    return az_dep(res, json_string_value(id));
}

int az_dep_rg(az_ex *ex, json_t *res, const char *rg)
{
    json_t *id;
    int rc;

    if (!az_find(ex, "ResourceGroup", rg))
        return 0;
    id = az_rg_id(ex, rg);
    rc = id ? az_dep_json(res, id) : DSVM_ENOMEM;
    json_decref(id);
    return rc;
}

int az_note_access(az_ex *ex, const char *identity, const char *res_id)
{
    json_t *list = json_object_get(ex->access, identity);

    if (!list) {
        list = json_array();
        if (!list || json_object_set_new(ex->access, identity, list) < 0)
            return DSVM_ENOMEM;
    }
    return json_array_append_new(list, json_string(res_id)) < 0 ? DSVM_ENOMEM : 0;
}

int az_dep_access(az_ex *ex, json_t *res, const char *identity)
{
    json_t *list = json_object_get(ex->access, identity), *id;
    size_t i;
    int rc;

    json_array_foreach(list, i, id)
    {
        rc = az_dep_json(res, id);
        if (rc < 0)
            return rc;
    }
    return 0;
}

json_t *az_identity_id(az_ex *ex, json_t *res, const char *name)
{
    json_t *obj = az_find(ex, "Identity", name);
    json_t *id;

    if (!obj) {
        az_fail(ex, "%s: names Identity '%s', which the repository does not declare",
                az_str(res, "object", "?"), name ? name : "(none)");
        return NULL;
    }
    id = az_id_of(ex, obj, "Microsoft.ManagedIdentity/userAssignedIdentities", name);
    if (!id || az_dep_json(res, id) < 0) {
        json_decref(id);
        az_fail(ex, "out of memory");
        return NULL;
    }
    return id;
}

json_t *az_identity_block(az_ex *ex, json_t *res, const json_t *names, int system, int *fail)
{
    json_t *map = json_object(), *name, *block = NULL;
    size_t i;

    *fail = 1;
    if (!map)
        return NULL;
    json_array_foreach(names, i, name)
    {
        json_t *id = az_identity_id(ex, res, json_string_value(name));

        if (!id || json_object_set_new(map, json_string_value(id), json_object()) < 0) {
            json_decref(id);
            goto out;
        }
        json_decref(id);
    }
    *fail = 0;
    if (json_object_size(map) == 0 && !system)
        goto out;
    block = json_pack("{s:s,s:O}", "type",
                      json_object_size(map) == 0 ? "SystemAssigned"
                      : system                   ? "SystemAssigned, UserAssigned"
                                                 : "UserAssigned",
                      "userAssignedIdentities", map);
    if (block && json_object_size(map) == 0)
        json_object_del(block, "userAssignedIdentities");
    if (!block)
        *fail = 1;
out:
    json_decref(map);
    return block;
}

json_t *az_vault_id(az_ex *ex, json_t *res, const char *vault)
{
    json_t *obj = az_find(ex, "KeyVault", vault);
    json_t *id;

    if (!obj) {
        az_fail(ex, "%s: names KeyVault '%s', which the repository does not declare",
                az_str(res, "object", "?"), vault ? vault : "(none)");
        return NULL;
    }
    id = az_id_of(ex, obj, "Microsoft.KeyVault/vaults", vault);
    if (!id || az_dep_json(res, id) < 0) {
        json_decref(id);
        az_fail(ex, "out of memory");
        return NULL;
    }
    return id;
}

int az_write_only_ref(az_ex *ex, json_t *res, const char *path, const json_t *ref, const char *tmpl)
{
    const char *vault = az_str(ref, "keyVault", NULL);
    const char *secret = az_str(ref, "secret", NULL);
    json_t *vault_id, *wo, *entry;

    if (!vault || !secret)
        return az_fail(ex, "%s: %s must be a Key Vault reference {keyVault, secret}",
                       az_str(res, "object", "?"), path);
    vault_id = az_vault_id(ex, res, vault);
    if (!vault_id)
        return DSVM_EINVALID;
    wo = json_pack("{s:s,s:s}", "keyVault", vault, "secret", secret);
    entry = json_pack("{s:s,s:s,s:s,s:o}", "path", path, "keyVault", vault, "secret", secret,
                      "vault", vault_id);
    if (wo && tmpl && json_object_set_new(wo, "template", json_string(tmpl)) < 0) {
        json_decref(wo);
        wo = NULL;
    }
    if (!wo || !entry) {
        json_decref(wo);
        json_decref(entry);
        return az_fail(ex, "out of memory");
    }
    if (json_object_set_new(json_object_get(res, "writeOnly"), path, wo) < 0) {
        json_decref(entry);
        return az_fail(ex, "out of memory");
    }
    if (json_array_append_new(json_object_get(res, "secretRefs"), entry) < 0)
        return az_fail(ex, "out of memory");
    return 0;
}

void az_principal_clear(az_principal *p)
{
    json_decref(p->id);
    json_decref(p->ref);
    json_decref(p->dep);
    memset(p, 0, sizeof(*p));
}

/* Lower-cased copy of an object ID, as the principal reference. */
static json_t *lower_json(const char *s)
{
    return lower_key(s);
}

int az_principal_resolve(az_ex *ex, const json_t *p, az_principal *out)
{
    static const struct {
        const char *key, *type;
    } kinds[] = {{"group", "Group"}, {"user", "User"}, {"servicePrincipal", "ServicePrincipal"}};
    const char *identity = json_string_value(p);
    az_principal r = {0};
    size_t i;

    if (!identity)
        identity = az_str(p, "identity", NULL);
    if (identity) {
        json_t *obj = az_find(ex, "Identity", identity);

        if (!obj)
            return az_fail(ex,
                           "principal names Identity '%s', which the repository does not "
                           "declare",
                           identity);
        r.dep = az_id_of(ex, obj, "Microsoft.ManagedIdentity/userAssignedIdentities", identity);
        r.id = r.dep ? az_kaa(json_string_value(r.dep), "properties.principalId", NULL) : NULL;
        r.ref = json_sprintf("Identity/%s", identity);
        r.type = "ServicePrincipal";
    } else if (az_str(p, "objectId", NULL)) {
        const char *type = az_str(p, "type", "ServicePrincipal");

        r.id = json_string(az_str(p, "objectId", ""));
        r.ref = lower_json(az_str(p, "objectId", ""));
        for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
            if (strcasecmp(kinds[i].type, type) == 0)
                r.type = kinds[i].type;
        if (!r.type)
            r.type = "ServicePrincipal";
    } else {
        for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
            const char *oid = az_str(p, kinds[i].key, NULL);

            if (oid) {
                r.id = json_string(oid);
                r.ref = lower_json(oid);
                r.type = kinds[i].type;
                break;
            }
        }
        if (!r.type)
            return az_fail(ex, "a principal needs one of identity, group, user or "
                               "servicePrincipal");
    }
    if (!r.id || !r.ref) {
        az_principal_clear(&r);
        return az_fail(ex, "out of memory");
    }
    *out = r;
    return 0;
}

json_t *az_subnet_id(az_ex *ex, json_t *res, const json_t *obj, const char *ref)
{
    const char *slash = ref ? strchr(ref, '/') : NULL;
    json_t *net, *net_name, *id, *vnet;

    if (ref && ref[0] == '/')
        return json_string(ref);
    if (!slash || strchr(slash + 1, '/'))
        goto bad;
    net_name = json_sprintf("%.*s", (int)(slash - ref), ref);
    net = net_name ? az_find(ex, "Network", json_string_value(net_name)) : NULL;
    if (!net) {
        json_decref(net_name);
        goto bad;
    }
    vnet = az_id_of(ex, net, "Microsoft.Network/virtualNetworks", json_string_value(net_name));
    json_decref(net_name);
    id = vnet ? json_sprintf("%s/subnets/%s", json_string_value(vnet), slash + 1) : NULL;
    if (!id || az_dep_json(res, vnet) < 0) {
        json_decref(vnet);
        json_decref(id);
        az_fail(ex, "out of memory");
        return NULL;
    }
    json_decref(vnet);
    return id;
bad:
    az_fail(ex,
            "%s/%s: subnet '%s' is neither Network-name/subnet-name of a declared Network "
            "nor an ARM subnet ID",
            az_str(obj, "kind", "?"), az_str(obj, "name", "?"), ref ? ref : "(none)");
    return NULL;
}

json_t *az_emit_tracked(az_ex *ex, const json_t *obj, const char *type, const char *name,
                        json_t *body)
{
    const char *loc = az_location(ex, obj);
    json_t *owner = az_owner(obj), *res = NULL;

    if (!loc || !owner || !body)
        goto out;
    if (json_object_set_new(body, "location", json_string(loc)) < 0 ||
        json_object_set_new(body, "tags", az_tags(ex, obj, owner)) < 0)
        goto out;
    res = az_emit(ex, type, az_id_of(ex, obj, type, name), owner, body);
    body = NULL;
    if (res && az_dep_rg(ex, res, az_str(obj, "resourceGroup", NULL)) < 0)
        res = NULL;
out:
    if (!res && !ex->err)
        az_fail(ex, "out of memory");
    json_decref(body);
    json_decref(owner);
    return res;
}

int az_set(az_ex *ex, json_t *o, const char *key, json_t *val)
{
    if (!val || json_object_set_new(o, key, val) < 0) {
        az_fail(ex, "out of memory");
        return DSVM_ENOMEM;
    }
    return 0;
}

int az_push(az_ex *ex, json_t *a, json_t *val)
{
    if (!val || json_array_append_new(a, val) < 0) {
        az_fail(ex, "out of memory");
        return DSVM_ENOMEM;
    }
    return 0;
}
