/* The resource types armsim serves, as one table of rules, plus the few hooks for
 * server-populated fields and type-specific behaviour. */
#include "rules.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

char *vault_uri(struct ctx *c, const char *name)
{
    return xasprintf("%s/keyvault/%s/", c->base_url ? c->base_url : "", name);
}

/* Keeps a server-generated string from old, or makes a new UUID. */
static void keep_or_uuid(struct ctx *c, json_t *body, json_t *old, const char *path)
{
    json_t *prev = old ? json_path_get(old, path) : NULL;
    char u[37];
    if (json_is_string(prev)) {
        json_path_set(body, path, json_copy(prev));
        return;
    }
    new_uuid(c, u);
    json_path_set(body, path, json_string(u));
}

static void keep_or_now(json_t *body, json_t *old, const char *path)
{
    json_t *prev = old ? json_path_get(old, path) : NULL;
    char *t;
    if (json_is_string(prev)) {
        json_path_set(body, path, json_copy(prev));
        return;
    }
    t = iso_time(now_ms());
    json_path_set(body, path, json_string(t));
    free(t);
}

/* Sets obj[key] = value (stolen) unless obj already has key. */
static void set_missing(json_t *obj, const char *key, json_t *value)
{
    if (json_is_object(obj) && !json_object_get(obj, key))
        json_object_set_new(obj, key, value);
    else
        json_decref(value);
}

static void set_now(json_t *body, const char *path)
{
    char *t = iso_time(now_ms());
    json_path_set(body, path, json_string(t));
    free(t);
}

/* Gives each element of an array property an id (parent id + segment + name). */
static void child_ids(json_t *body, const char *path, const char *segment, const char *type)
{
    json_t *arr = json_path_get(body, path), *el;
    const char *id = json_string_value(json_object_get(body, "id"));
    size_t i;
    json_array_foreach(arr, i, el)
    {
        const char *name = json_string_value(json_object_get(el, "name"));
        char *cid;
        if (!json_is_object(el) || !name || !id)
            continue;
        cid = xasprintf("%s/%s/%s", id, segment, name);
        json_object_set_new(el, "id", json_string(cid));
        free(cid);
        if (type)
            json_object_set_new(el, "type", json_string(type));
        if (!json_is_object(json_object_get(el, "properties")))
            json_object_set_new(el, "properties", json_object());
        if (!json_object_get(json_object_get(el, "properties"), "provisioningState"))
            json_object_set_new(json_object_get(el, "properties"), "provisioningState",
                                json_string("Succeeded"));
    }
}

static void uami_populate(struct ctx *c, struct call *k, json_t *body, json_t *old)
{
    (void)k;
    if (!json_is_object(json_object_get(body, "properties")))
        json_object_set_new(body, "properties", json_object());
    json_path_set(body, "properties.tenantId", json_string(ARMSIM_TENANT));
    keep_or_uuid(c, body, old, "properties.principalId");
    keep_or_uuid(c, body, old, "properties.clientId");
    set_missing(json_object_get(body, "properties"), "isolationScope", json_string("None"));
    if (!json_is_object(json_object_get(body, "_armsim")))
        json_object_set_new(body, "_armsim", json_object());
    if (!json_object_get(json_object_get(body, "_armsim"), "created_ms"))
        json_object_set_new(json_object_get(body, "_armsim"), "created_ms", json_integer(now_ms()));
}

/* ---- Key Vault ---- */

static json_t *find_by_name(struct ctx *c, const char *type, const char *name)
{
    static const char sql[] =
        "SELECT body FROM resources WHERE type = lower(?) AND name = lower(?)";
    sqlite3_stmt *st = store_stmt(c, sql);
    json_t *out = NULL;
    if (!st)
        return NULL;
    sqlite3_bind_text(st, 1, type, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW)
        out = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
    sqlite3_reset(st);
    return out;
}

static int vault_validate(struct ctx *c, struct call *k, json_t *body, json_t *old, struct resp *r)
{
    json_t *other, *deleted;
    const char *mode = json_string_value(json_path_get(body, "properties.createMode"));
    int rc = 0;
    if (old)
        return 0;
    other = find_by_name(c, "Microsoft.KeyVault/vaults", k->name);
    if (other) {
        resp_error(r, 409, "VaultAlreadyExists",
                   "The vault name '%s' is already in use. Vault names are globally unique.",
                   k->name);
        json_decref(other);
        return -1;
    }
    deleted = find_by_name(c, "Microsoft.KeyVault/locations/deletedVaults", k->name);
    if (deleted && !(mode && strcasecmp(mode, "recover") == 0)) {
        resp_error(r, 409, "ConflictError",
                   "A vault with the same name already exists in deleted state. You need to "
                   "either recover or purge existing key vault. Follow this link "
                   "https://go.microsoft.com/fwlink/?linkid=2149745 for more information on "
                   "soft delete.");
        rc = -1;
    } else if (!deleted && mode && strcasecmp(mode, "recover") == 0) {
        resp_error(r, 404, "ResourceNotFound", "No deleted vault named '%s' exists to recover.",
                   k->name);
        rc = -1;
    } else if (deleted) {
        /* recover: bring back the access policies and settings of the deleted vault */
        json_t *orig = json_path_get(deleted, "_armsim.vault.properties");
        if (json_is_object(orig))
            json_object_set_new(body, "properties", json_deep_copy(orig));
        store_del(c, json_string_value(json_object_get(deleted, "id")));
    }
    json_decref(deleted);
    return rc;
}

static void vault_populate(struct ctx *c, struct call *k, json_t *body, json_t *old)
{
    char *uri = vault_uri(c, json_string_value(json_object_get(body, "name")));
    (void)k;
    (void)old;
    json_path_set(body, "properties.vaultUri", json_string(uri));
    json_path_del(body, "properties.createMode");
    free(uri);
}

/* Soft delete: the vault moves to deletedVaults and keeps its name until purged. */
static int vault_delete(struct ctx *c, struct call *k, json_t *old)
{
    const char *loc = sor(json_string_value(json_object_get(old, "location")), "global");
    const char *name = json_string_value(json_object_get(old, "name"));
    json_t *days = json_path_get(old, "properties.softDeleteRetentionInDays");
    int64_t now = now_ms();
    int64_t purge = now + (int64_t)(days ? json_integer_value(days) : 90) * 86400000LL;
    char *id = xasprintf("/subscriptions/%s/providers/Microsoft.KeyVault/locations/%s/"
                         "deletedVaults/%s",
                         k->ap.sub, loc, name);
    char *t1 = iso_time(now), *t2 = iso_time(purge);
    json_t *tags = json_object_get(old, "tags");
    json_t *d = json_pack("{s:s,s:s,s:s,s:{s:O,s:s,s:s,s:s,s:O,s:b},s:{s:O}}", "id", id, "name",
                          name, "type", "Microsoft.KeyVault/deletedVaults", "properties", "vaultId",
                          json_object_get(old, "id"), "location", loc, "deletionDate", t1,
                          "scheduledPurgeDate", t2, "tags", tags ? tags : json_object(),
                          "purgeProtectionEnabled",
                          json_is_true(json_path_get(old, "properties.enablePurgeProtection")),
                          "_armsim", "vault", old);
    store_del_tree(c, k->key);
    store_put(c, id, "Microsoft.KeyVault/locations/deletedVaults", k->ap.sub, "", "", 0, d);
    json_decref(d);
    free(id);
    free(t1);
    free(t2);
    return 200;
}

static int deleted_vault_action(struct ctx *c, struct call *k, const char *action, struct resp *r)
{
    json_t *d;
    if (strcasecmp(action, "purge") != 0)
        return -1;
    d = res_load(c, k->t, k->key);
    if (!d) {
        resp_error(r, 404, "ResourceNotFound", "No deleted vault named '%s' was found.", k->name);
        return 0;
    }
    if (json_is_true(json_path_get(d, "properties.purgeProtectionEnabled"))) {
        resp_error(r, 409, "Conflict",
                   "Operation 'DeletedVaultPurge' is not allowed: the vault '%s' has purge "
                   "protection enabled; it is purged at its scheduledPurgeDate.",
                   k->name);
        json_decref(d);
        return 0;
    }
    json_decref(d);
    r->status = 202;
    op_start(c, k, k->key, "purge", NULL, "global", r, 2);
    return 0;
}

static void secret_populate(struct ctx *c, struct call *k, json_t *body, json_t *old)
{
    const char *vault = k->ap.names[0];
    const char *value = json_string_value(json_path_get(body, "properties.value"));
    json_t *bundle = NULL;
    char *uri = vault_uri(c, vault);
    char *su = xasprintf("%ssecrets/%s", uri, k->name);
    (void)old;
    json_path_set(body, "properties.secretUri", json_string(su));
    if (value) {
        kv_secret_put(c, vault, k->name, value,
                      json_string_value(json_path_get(body, "properties.contentType")), &bundle);
        json_path_set(body, "properties.secretUriWithVersion",
                      json_copy(json_object_get(bundle, "id")));
        json_path_set(body, "properties.attributes.created",
                      json_copy(json_path_get(bundle, "attributes.created")));
        json_path_set(body, "properties.attributes.updated",
                      json_copy(json_path_get(bundle, "attributes.updated")));
        if (!json_path_get(body, "properties.attributes.enabled"))
            json_path_set(body, "properties.attributes.enabled", json_true());
    }
    json_decref(bundle);
    free(uri);
    free(su);
}

/* Access policies: PUT .../vaults/{v}/accessPolicies/{add|replace|remove}. */
static int same_principal(json_t *a, json_t *b)
{
    const char *oa = json_string_value(json_object_get(a, "objectId"));
    const char *ob = json_string_value(json_object_get(b, "objectId"));
    const char *aa = json_string_value(json_object_get(a, "applicationId"));
    const char *ab = json_string_value(json_object_get(b, "applicationId"));
    return oa && ob && strcasecmp(oa, ob) == 0 && ((!aa && !ab) || ci_eq(aa, ab));
}

static void perms_merge(json_t *into, json_t *from, int remove)
{
    const char *cat;
    json_t *list;
    json_object_foreach(from, cat, list)
    {
        json_t *cur = json_object_get(into, cat);
        size_t i, j;
        json_t *p, *q;
        if (!json_is_array(cur)) {
            if (remove)
                continue;
            cur = json_array();
            json_object_set_new(into, cat, cur);
        }
        json_array_foreach(list, i, p)
        {
            int found = -1;
            json_array_foreach(cur, j, q)
            {
                if (ci_eq(json_string_value(p), json_string_value(q)))
                    found = (int)j;
            }
            if (remove && found >= 0)
                json_array_remove(cur, (size_t)found);
            else if (!remove && found < 0)
                json_array_append(cur, p);
        }
    }
}

static int perms_empty(json_t *perms)
{
    const char *cat;
    json_t *list;
    json_object_foreach(perms, cat, list)
    {
        if (json_array_size(list))
            return 0;
    }
    return 1;
}

static void access_policies_handle(struct ctx *c, struct call *k, struct resp *r)
{
    const struct rtype *vt = rules_find("Microsoft.KeyVault/vaults");
    json_t *vault = res_load(c, vt, k->parent_key), *cur, *sent, *el;
    size_t i;
    char *id;
    const char *kind = k->name;
    if (strcmp(k->rq->method, "PUT") != 0) {
        resp_error(r, 405, "MethodNotAllowed", "accessPolicies supports PUT only");
        goto out;
    }
    if (!vault) {
        resp_error(r, 404, "ParentResourceNotFound",
                   "Can not perform requested operation on nested resource. Parent resource "
                   "'%s' not found.",
                   k->ap.names[0]);
        goto out;
    }
    sent = json_path_get(k->body, "properties.accessPolicies");
    if (!json_is_array(sent)) {
        resp_error(r, 400, "InvalidRequestContent",
                   "The request content was invalid: properties.accessPolicies is required.");
        goto out;
    }
    if (!ci_eq(kind, "add") && !ci_eq(kind, "replace") && !ci_eq(kind, "remove")) {
        resp_error(r, 400, "InvalidParameter",
                   "operationKind must be add, replace or remove, not '%s'.", kind);
        goto out;
    }
    cur = json_path_get(vault, "properties.accessPolicies");
    if (!json_is_array(cur)) {
        cur = json_array();
        json_path_set(vault, "properties.accessPolicies", cur);
    }
    if (ci_eq(kind, "replace"))
        json_array_clear(cur);
    json_array_foreach(sent, i, el)
    {
        size_t j;
        json_t *e;
        int found = -1;
        json_array_foreach(cur, j, e)
        {
            if (same_principal(e, el))
                found = (int)j;
        }
        if (ci_eq(kind, "remove")) {
            if (found >= 0) {
                json_t *perms = json_object_get(json_array_get(cur, (size_t)found), "permissions");
                perms_merge(perms, json_object_get(el, "permissions"), 1);
                if (perms_empty(perms))
                    json_array_remove(cur, (size_t)found);
            }
        } else if (found >= 0) {
            json_t *perms = json_object_get(json_array_get(cur, (size_t)found), "permissions");
            perms_merge(perms, json_object_get(el, "permissions"), 0);
        } else
            json_array_append_new(cur, json_deep_copy(el));
    }
    res_save(c, vt, k->parent_key, vault);
    id = xasprintf("%s/accessPolicies/%s", json_string_value(json_object_get(vault, "id")), kind);
    resp_json(r, 200,
              json_pack("{s:s,s:s,s:s,s:O,s:{s:O}}", "id", id, "name", kind, "type",
                        "Microsoft.KeyVault/vaults/accessPolicies", "location",
                        json_object_get(vault, "location"), "properties", "accessPolicies", sent));
    free(id);
out:
    json_decref(vault);
}

/* ---- Compute ---- */

static json_t *model_of(json_t *body)
{
    json_t *m = json_deep_copy(json_path_get(body, "properties.virtualMachineProfile"));
    json_path_del(m, "extensionProfile.extensions.[].properties.provisioningState");
    json_path_del(m, "extensionProfile.extensions.[].id");
    json_path_del(m, "extensionProfile.extensions.[].type");
    return m;
}

/* The defaults Compute adds to a scale set's model on GET (see arm-wire.md C.1). */
static void vmss_defaults(json_t *body)
{
    json_t *os = json_path_get(body, "properties.virtualMachineProfile.osProfile");
    json_t *nics = json_path_get(
        body, "properties.virtualMachineProfile.networkProfile.networkInterfaceConfigurations");
    json_t *nic, *ipc;
    size_t i, j;
    if (json_is_object(os)) {
        set_missing(os, "secrets", json_array());
        set_missing(json_object_get(os, "windowsConfiguration"), "provisionVMAgent", json_true());
        set_missing(json_object_get(os, "windowsConfiguration"), "enableAutomaticUpdates",
                    json_true());
        set_missing(json_object_get(os, "linuxConfiguration"), "provisionVMAgent", json_true());
        set_missing(json_object_get(os, "linuxConfiguration"), "disablePasswordAuthentication",
                    json_false());
    }
    json_array_foreach(nics, i, nic)
    {
        json_t *props = json_object_get(nic, "properties");
        set_missing(props, "dnsSettings", json_pack("{s:[]}", "dnsServers"));
        set_missing(props, "enableAcceleratedNetworking", json_false());
        json_array_foreach(json_object_get(props, "ipConfigurations"), j, ipc)
        {
            set_missing(json_object_get(ipc, "properties"), "privateIPAddressVersion",
                        json_string("IPv4"));
        }
    }
}

static void vmss_populate(struct ctx *c, struct call *k, json_t *body, json_t *old)
{
    json_t *st, *inst, *m_old, *m_new;
    json_int_t version, cap, next;
    const char *mode;
    size_t n;
    (void)k;
    keep_or_uuid(c, body, old, "properties.uniqueId");
    keep_or_now(body, old, "properties.timeCreated");
    vmss_defaults(body);
    child_ids(body, "properties.virtualMachineProfile.extensionProfile.extensions", "extensions",
              "Microsoft.Compute/virtualMachineScaleSets/extensions");
    /* keep the model bookkeeping; inline extensions change the model too */
    st = old ? json_deep_copy(json_object_get(old, "_armsim")) : NULL;
    if (!json_is_object(st))
        st = json_pack("{s:i,s:i,s:[]}", "model", 1, "next", 0, "instances");
    version = json_integer_value(json_object_get(st, "model"));
    m_old = old ? model_of(old) : NULL;
    m_new = model_of(body);
    if (old && !json_equal(m_old, m_new))
        version++;
    json_decref(m_old);
    json_decref(m_new);
    json_object_set_new(st, "model", json_integer(version));
    mode = json_string_value(json_path_get(body, "properties.upgradePolicy.mode"));
    inst = json_object_get(st, "instances");
    cap = json_integer_value(json_path_get(body, "sku.capacity"));
    next = json_integer_value(json_object_get(st, "next"));
    while ((json_int_t)json_array_size(inst) > cap)
        json_array_remove(inst, json_array_size(inst) - 1);
    while ((json_int_t)json_array_size(inst) < cap) {
        json_array_append_new(inst, json_pack("{s:I,s:I}", "id", next, "model", version));
        next++;
    }
    json_object_set_new(st, "next", json_integer(next));
    if (mode && (strcasecmp(mode, "Automatic") == 0 || strcasecmp(mode, "Rolling") == 0)) {
        json_t *el;
        json_array_foreach(inst, n, el)
        {
            json_object_set_new(el, "model", json_integer(version));
        }
    }
    json_object_set_new(body, "_armsim", st);
}

static json_t *vmss_instance(json_t *vmss, json_t *inst)
{
    json_int_t iid = json_integer_value(json_object_get(inst, "id"));
    json_int_t model = json_integer_value(json_path_get(vmss, "_armsim.model"));
    const char *vid = json_string_value(json_object_get(vmss, "id"));
    const char *vname = json_string_value(json_object_get(vmss, "name"));
    char *id = xasprintf("%s/virtualMachines/%lld", vid, (long long)iid);
    char *name = xasprintf("%s_%lld", vname, (long long)iid);
    char *iids = xasprintf("%lld", (long long)iid);
    char vmid[37];
    json_t *o;
    hash_uuid(id, vmid);
    o = json_pack("{s:s,s:s,s:s,s:s,s:O,s:{s:O},s:{s:b,s:s,s:s,s:o}}", "id", id, "name", name,
                  "type", "Microsoft.Compute/virtualMachineScaleSets/virtualMachines", "instanceId",
                  iids, "location", json_object_get(vmss, "location"), "sku", "name",
                  json_path_get(vmss, "sku.name"), "properties", "latestModelApplied",
                  json_integer_value(json_object_get(inst, "model")) == model, "provisioningState",
                  "Succeeded", "vmId", vmid, "hardwareProfile",
                  json_pack("{s:O}", "vmSize", json_path_get(vmss, "sku.name")));
    free(id);
    free(name);
    free(iids);
    return o;
}

static void vmss_vms_handle(struct ctx *c, struct call *k, struct resp *r)
{
    const struct rtype *vt = rules_find("Microsoft.Compute/virtualMachineScaleSets");
    json_t *vmss, *inst, *el;
    size_t i;
    if (strcmp(k->rq->method, "GET") != 0) {
        resp_error(r, 405, "MethodNotAllowed", "armsim serves GET only on scale set instances");
        return;
    }
    vmss = res_load(c, vt, k->parent_key);
    if (!vmss) {
        resp_error(r, 404, "ParentResourceNotFound",
                   "Can not perform requested operation on nested resource. Parent resource "
                   "'%s' not found.",
                   k->ap.names[0]);
        return;
    }
    inst = json_path_get(vmss, "_armsim.instances");
    if (k->ap.odd) {
        json_t *items = json_array();
        json_array_foreach(inst, i, el)
        {
            json_array_append_new(items, vmss_instance(vmss, el));
        }
        list_page(c, k, items, r);
    } else {
        json_t *found = NULL;
        json_array_foreach(inst, i, el)
        {
            char *iid = xasprintf("%lld", (long long)json_integer_value(json_object_get(el, "id")));
            if (strcmp(iid, k->name) == 0)
                found = el;
            free(iid);
        }
        if (found)
            resp_json(r, 200, vmss_instance(vmss, found));
        else
            resp_error(r, 404, "NotFound", "The scale set '%s' has no instance '%s'.",
                       k->ap.names[0], k->name);
    }
    json_decref(vmss);
}

static int vmss_action(struct ctx *c, struct call *k, const char *action, struct resp *r)
{
    json_t *vmss, *ids;
    if (strcasecmp(action, "manualupgrade") != 0)
        return -1;
    vmss = res_load(c, k->t, k->key);
    if (!vmss) {
        resp_error(r, 404, "ResourceNotFound",
                   "The Resource 'Microsoft.Compute/virtualMachineScaleSets/%s' under resource "
                   "group '%s' was not found.",
                   k->name, k->ap.rg);
        return 0;
    }
    ids = json_object_get(k->body, "instanceIds");
    if (!json_is_array(ids)) {
        resp_error(r, 400, "InvalidParameter",
                   "The value of parameter instanceIds is invalid: a list of instance IDs is "
                   "required.");
        json_decref(vmss);
        return 0;
    }
    r->status = 202;
    op_start(c, k, k->key, "upgrade", json_pack("{s:O}", "instanceIds", ids),
             json_string_value(json_object_get(vmss, "location")), r, 3);
    json_decref(vmss);
    return 0;
}

/* Marks instances as running the latest model (the end of a manualupgrade). */
void vmss_upgrade(struct ctx *c, const char *id, json_t *ids)
{
    const struct rtype *vt = rules_find("Microsoft.Compute/virtualMachineScaleSets");
    json_t *vmss = res_load(c, vt, id), *inst, *el, *want;
    size_t i, j;
    if (!vmss)
        return;
    inst = json_path_get(vmss, "_armsim.instances");
    json_array_foreach(inst, i, el)
    {
        char *iid = xasprintf("%lld", (long long)json_integer_value(json_object_get(el, "id")));
        json_array_foreach(ids, j, want)
        {
            if (json_is_string(want) && strcmp(json_string_value(want), iid) == 0)
                json_object_set(el, "model", json_path_get(vmss, "_armsim.model"));
        }
        free(iid);
    }
    res_save(c, vt, id, vmss);
    json_decref(vmss);
}

struct vm_size {
    const char *name;
    const char *family;
    int cores;
};

/* The sizes of dsvmops' preflight table (controller/preflight.c). The T4 family keeps the
 * spaced, capitalised name Compute sometimes answers, which clients must match loosely. */
static const struct vm_size vm_sizes[] = {
    {"Standard_D2s_v5", "standardDSv5Family", 2},
    {"Standard_D4s_v5", "standardDSv5Family", 4},
    {"Standard_D8s_v5", "standardDSv5Family", 8},
    {"Standard_D16s_v5", "standardDSv5Family", 16},
    {"Standard_D4s_v3", "standardDSv3Family", 4},
    {"Standard_D8s_v3", "standardDSv3Family", 8},
    {"Standard_DS3_v2", "standardDSv2Family", 4},
    {"Standard_E8s_v5", "standardESv5Family", 8},
    {"Standard_E16s_v5", "standardESv5Family", 16},
    {"Standard_NC6s_v3", "standardNCSv3Family", 6},
    {"Standard_NC12s_v3", "standardNCSv3Family", 12},
    {"Standard_NC24s_v3", "standardNCSv3Family", 24},
    {"Standard_NC4as_T4_v3", "Standard NCASv3_T4 Family", 4},
    {"Standard_NC8as_T4_v3", "Standard NCASv3_T4 Family", 8},
    {"Standard_NC16as_T4_v3", "Standard NCASv3_T4 Family", 16},
    {"Standard_NC64as_T4_v3", "Standard NCASv3_T4 Family", 64},
    {"Standard_NC24ads_A100_v4", "StandardNCADSA100v4Family", 24},
    {"Standard_NC48ads_A100_v4", "StandardNCADSA100v4Family", 48},
    {"Standard_NC96ads_A100_v4", "StandardNCADSA100v4Family", 96},
    {"Standard_ND96asr_v4", "standardNDASv4_A100Family", 96},
};

#define N_SIZES (sizeof(vm_sizes) / sizeof(vm_sizes[0]))

/* Every usage limit unless --quota sets it: far above what examples/ and tests/bench plan,
 * so only tests that pass --quota meet a quota. */
#define DEFAULT_USAGE_LIMIT 1000000

/* Usage names compare without case and spaces ("Standard NCASv3_T4 Family"). */
static int usage_name_eq(const char *a, const char *b)
{
    for (;;) {
        while (*a == ' ')
            a++;
        while (*b == ' ')
            b++;
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return 0;
        if (!*a)
            return 1;
        a++;
        b++;
    }
}

static int usage_known(const char *name)
{
    if (usage_name_eq(name, "cores") || usage_name_eq(name, "virtualMachineScaleSets"))
        return 1;
    for (size_t i = 0; i < N_SIZES; i++)
        if (usage_name_eq(name, vm_sizes[i].family))
            return 1;
    return 0;
}

/* --quota NAME=N: the limit of usage NAME in every location. Prints why and returns -1
 * for a name armsim does not serve or a bad number. */
int quota_add(struct ctx *c, const char *spec)
{
    const char *eq = strrchr(spec, '=');
    struct quota *nq;
    char *end, *name;
    long long v;
    if (!eq || eq == spec) {
        fprintf(stderr, "armsim: --quota needs NAME=N (e.g. standardNCSv3Family=24), got \"%s\"\n",
                spec);
        return -1;
    }
    errno = 0;
    v = strtoll(eq + 1, &end, 10);
    if (errno || end == eq + 1 || *end || v < 0) {
        fprintf(stderr, "armsim: --quota %s: the limit must be a number of at least 0\n", spec);
        return -1;
    }
    name = strndup(spec, (size_t)(eq - spec));
    if (!name)
        return -1;
    if (!usage_known(name)) {
        fprintf(stderr,
                "armsim: --quota %s: no compute usage is named \"%s\"; use cores, "
                "virtualMachineScaleSets or a family:",
                spec, name);
        for (size_t i = 0; i < N_SIZES; i++)
            if (i == 0 || strcmp(vm_sizes[i].family, vm_sizes[i - 1].family) != 0)
                fprintf(stderr, "%s \"%s\"", i ? "," : "", vm_sizes[i].family);
        fputc('\n', stderr);
        free(name);
        return -1;
    }
    nq = realloc(c->quotas, (c->nquotas + 1) * sizeof(*nq));
    if (!nq) {
        free(name);
        return -1;
    }
    c->quotas = nq;
    c->quotas[c->nquotas].name = name;
    c->quotas[c->nquotas++].limit = v;
    return 0;
}

static json_int_t usage_limit(const struct ctx *c, const char *name)
{
    for (size_t i = c->nquotas; i > 0; i--)
        if (usage_name_eq(c->quotas[i - 1].name, name))
            return (json_int_t)c->quotas[i - 1].limit;
    return DEFAULT_USAGE_LIMIT;
}

static json_t *usage_json(const struct ctx *c, const char *name, long used)
{
    return json_pack("{s:s,s:I,s:I,s:{s:s,s:s}}", "unit", "Count", "currentValue", (json_int_t)used,
                     "limit", usage_limit(c, name), "name", "value", name, "localizedValue",
                     strcmp(name, "cores") == 0                     ? "Total Regional vCPUs"
                     : strcmp(name, "virtualMachineScaleSets") == 0 ? "Virtual Machine Scale Sets"
                                                                    : name);
}

/* Compute usages per location: cores in use by scale sets of that location, against the
 * limits of --quota. */
static void usages_handle(struct ctx *c, struct call *k, struct resp *r)
{
    static const char sql[] = "SELECT body FROM resources WHERE type = "
                              "'microsoft.compute/virtualmachinescalesets' AND sub = lower(?)";
    const char *loc = k->ap.names[0];
    long fam_used[N_SIZES] = {0};
    long total = 0, vmss_count = 0;
    sqlite3_stmt *st;
    json_t *items;
    if (strcmp(k->rq->method, "GET") != 0) {
        resp_error(r, 405, "MethodNotAllowed", "usages supports GET only");
        return;
    }
    st = store_stmt(c, sql);
    items = json_array();
    if (!st || !items)
        abort();
    sqlite3_bind_text(st, 1, k->ap.sub, -1, SQLITE_TRANSIENT);
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *b = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
        const char *l = json_string_value(json_object_get(b, "location"));
        const char *size = json_string_value(json_path_get(b, "sku.name"));
        long cap = (long)json_integer_value(json_path_get(b, "sku.capacity"));
        if (l && strcasecmp(l, loc) == 0) {
            vmss_count++;
            for (size_t i = 0; i < N_SIZES; i++) {
                if (size && strcasecmp(size, vm_sizes[i].name) == 0) {
                    fam_used[i] += cap * vm_sizes[i].cores;
                    total += cap * vm_sizes[i].cores;
                }
            }
        }
        json_decref(b);
    }
    sqlite3_reset(st);
    json_array_append_new(items, usage_json(c, "cores", total));
    json_array_append_new(items, usage_json(c, "virtualMachineScaleSets", vmss_count));
    for (size_t i = 0; i < N_SIZES; i++) {
        long used = 0;
        if (i > 0 && strcmp(vm_sizes[i].family, vm_sizes[i - 1].family) == 0)
            continue; /* the table keeps a family's sizes together */
        for (size_t j = i; j < N_SIZES && strcmp(vm_sizes[j].family, vm_sizes[i].family) == 0; j++)
            used += fam_used[j];
        json_array_append_new(items, usage_json(c, vm_sizes[i].family, used));
    }
    list_page(c, k, items, r);
}

/* ---- Microsoft.Features ---- */

/* --unregistered-feature NS/NAME: that feature starts NotRegistered in every subscription. */
int feature_add_unregistered(struct ctx *c, const char *spec)
{
    const char *slash = strchr(spec, '/');
    char **nf;
    if (!slash || slash == spec || !slash[1] || strchr(slash + 1, '/')) {
        fprintf(stderr,
                "armsim: --unregistered-feature needs NAMESPACE/NAME (e.g. "
                "Microsoft.Compute/EncryptionAtHost), got \"%s\"\n",
                spec);
        return -1;
    }
    nf = realloc(c->features_off, (c->nfeatures_off + 1) * sizeof(*nf));
    if (!nf)
        return -1;
    c->features_off = nf;
    c->features_off[c->nfeatures_off++] = xstrdup(spec);
    return 0;
}

/* Whether feature ns/name is registered in sub: what the last register or unregister call
 * set (kept with the state), else not when --unregistered-feature named it, else yes. */
static int feature_registered(struct ctx *c, const char *sub, const char *ns, const char *name)
{
    char *key = xasprintf("feature:%s:%s/%s", sub, ns, name), *lk = lower_dup(key);
    char v = 1;
    if (store_meta_get(c, lk, &v, 1) < 0) {
        char *full = xasprintf("%s/%s", ns, name);
        v = 1;
        for (size_t i = 0; i < c->nfeatures_off; i++)
            if (strcasecmp(c->features_off[i], full) == 0)
                v = 0;
        free(full);
    }
    free(key);
    free(lk);
    return v;
}

/* GET /subscriptions/{s}/providers/Microsoft.Features/providers/{ns}/features/{name}, and
 * POST .../register or .../unregister, which answer the feature in its new state. Every
 * feature exists; lists of features are not served. */
static void feature_handle(struct ctx *c, struct call *k, struct resp *r)
{
    const char *ns = k->ap.names[0], *name = k->ap.names[1];
    char *id, *full;
    if (k->ap.rg || k->ap.scope_end != 2 || !ns || !name || (k->ap.odd && !k->action)) {
        resp_error(r, 404, "NotFound",
                   "armsim serves single features only: /subscriptions/{s}/providers/"
                   "Microsoft.Features/providers/{namespace}/features/{name}.");
        return;
    }
    if (k->action) {
        char *key, *lk;
        char v;
        if (strcmp(k->rq->method, "POST") != 0 ||
            (strcasecmp(k->action, "register") != 0 && strcasecmp(k->action, "unregister") != 0)) {
            resp_error(r, 404, "NotFound", "Unknown feature action '%s'.", k->action);
            return;
        }
        v = strcasecmp(k->action, "register") == 0;
        key = xasprintf("feature:%s:%s/%s", k->ap.sub, ns, name);
        lk = lower_dup(key);
        store_meta_put(c, lk, &v, 1);
        free(key);
        free(lk);
    } else if (strcmp(k->rq->method, "GET") != 0) {
        resp_error(r, 405, "MethodNotAllowed", "Use GET, or POST .../register or .../unregister.");
        return;
    }
    id = xasprintf("/subscriptions/%s/providers/Microsoft.Features/providers/%s/features/%s",
                   k->ap.sub, ns, name);
    full = xasprintf("%s/%s", ns, name);
    resp_json(
        r, 200,
        json_pack("{s:s,s:s,s:s,s:{s:s}}", "id", id, "name", full, "type",
                  "Microsoft.Features/providers/features", "properties", "state",
                  feature_registered(c, k->ap.sub, ns, name) ? "Registered" : "NotRegistered"));
    free(id);
    free(full);
}

/* ---- Batch ---- */

static void batch_account_populate(struct ctx *c, struct call *k, json_t *body, json_t *old)
{
    char *ep = xasprintf("%s.%s.batch.azure.com", k->name,
                         sor(json_string_value(json_object_get(body, "location")), "westus"));
    (void)c;
    json_path_set(body, "properties.accountEndpoint", json_string(ep));
    if (json_is_object(json_path_get(body, "properties.autoStorage")))
        keep_or_now(body, old, "properties.autoStorage.lastKeySync");
    free(ep);
}

/* A pool allocates nodes in the background: allocationState is Resizing until --lro-ms has
 * passed, then Steady with the current node counts at their targets (autoscale pools keep
 * their counts). */
static void batch_pool_populate(struct ctx *c, struct call *k, json_t *body, json_t *old)
{
    json_t *fixed = json_path_get(body, "properties.scaleSettings.fixedScale");
    json_int_t ded = json_integer_value(json_object_get(fixed, "targetDedicatedNodes"));
    json_int_t low = json_integer_value(json_object_get(fixed, "targetLowPriorityNodes"));
    json_int_t cur_ded =
        old ? json_integer_value(json_path_get(old, "properties.currentDedicatedNodes")) : 0;
    json_int_t cur_low =
        old ? json_integer_value(json_path_get(old, "properties.currentLowPriorityNodes")) : 0;
    const char *was =
        old ? json_string_value(json_path_get(old, "properties.allocationState")) : NULL;
    int resize = fixed && (ded != cur_ded || low != cur_low);
    keep_or_now(body, old, "properties.creationTime");
    set_now(body, "properties.lastModified");
    keep_or_now(body, old, "properties.provisioningStateTransitionTime");
    json_path_set(body, "properties.currentDedicatedNodes", json_integer(cur_ded));
    json_path_set(body, "properties.currentLowPriorityNodes", json_integer(cur_low));
    if (resize && c->lro_ms && k->api) {
        json_path_set(body, "properties.allocationState", json_string("Resizing"));
        set_now(body, "properties.allocationStateTransitionTime");
        op_start(c, k, json_string_value(json_object_get(body, "id")), "resize", NULL, "global",
                 NULL, 0);
        return;
    }
    if (resize) {
        /* no --lro-ms: the nodes are there at once */
        json_path_set(body, "properties.currentDedicatedNodes", json_integer(ded));
        json_path_set(body, "properties.currentLowPriorityNodes", json_integer(low));
        set_now(body, "properties.allocationStateTransitionTime");
        json_path_set(body, "properties.allocationState", json_string("Steady"));
        return;
    }
    /* unchanged targets: a resize in flight goes on */
    keep_or_now(body, old, "properties.allocationStateTransitionTime");
    json_path_set(body, "properties.allocationState", json_string(was ? was : "Steady"));
}

/* The end of a pool resize: current node counts reach their targets. */
void batch_pool_resized(struct ctx *c, const char *id)
{
    const struct rtype *t = rules_find("Microsoft.Batch/batchAccounts/pools");
    json_t *pool = res_load(c, t, id), *fixed;
    if (!pool)
        return;
    fixed = json_path_get(pool, "properties.scaleSettings.fixedScale");
    json_path_set(pool, "properties.currentDedicatedNodes",
                  json_integer(json_integer_value(json_object_get(fixed, "targetDedicatedNodes"))));
    json_path_set(
        pool, "properties.currentLowPriorityNodes",
        json_integer(json_integer_value(json_object_get(fixed, "targetLowPriorityNodes"))));
    json_path_set(pool, "properties.allocationState", json_string("Steady"));
    set_now(pool, "properties.allocationStateTransitionTime");
    res_save(c, t, id, pool);
    json_decref(pool);
}

/* ---- Storage ---- */

static void storage_populate(struct ctx *c, struct call *k, json_t *body, json_t *old)
{
    static const char *const svc[] = {"blob", "queue", "table", "file", "dfs", "web"};
    json_t *ep = json_object();
    (void)c;
    for (size_t i = 0; i < 6; i++) {
        char *u = xasprintf("https://%s.%s.core.windows.net/", k->name, svc[i]);
        json_object_set_new(ep, svc[i], json_string(u));
        free(u);
    }
    json_path_set(body, "properties.primaryEndpoints", ep);
    json_path_set(body, "properties.primaryLocation", json_copy(json_object_get(body, "location")));
    json_path_set(body, "properties.statusOfPrimary", json_string("available"));
    keep_or_now(body, old, "properties.creationTime");
    keep_or_now(body, old, "properties.keyCreationTime.key1");
    keep_or_now(body, old, "properties.keyCreationTime.key2");
    if (json_path_get(body, "properties.encryption.services.file"))
        keep_or_now(body, old, "properties.encryption.services.file.lastEnabledTime");
    if (json_path_get(body, "properties.encryption.services.blob"))
        keep_or_now(body, old, "properties.encryption.services.blob.lastEnabledTime");
    if (!json_path_get(body, "sku.tier") && json_path_get(body, "sku.name"))
        json_path_set(
            body, "sku.tier",
            json_string(strncmp(sor(json_string_value(json_path_get(body, "sku.name")), ""),
                                "Premium", 7) == 0
                            ? "Premium"
                            : "Standard"));
}

static int storage_validate(struct ctx *c, struct call *k, json_t *body, json_t *old,
                            struct resp *r)
{
    json_t *other;
    (void)body;
    if (old)
        return 0;
    other = find_by_name(c, "Microsoft.Storage/storageAccounts", k->name);
    if (other) {
        resp_error(r, 409, "StorageAccountAlreadyTaken",
                   "The storage account named %s is already taken.", k->name);
        json_decref(other);
        return -1;
    }
    return 0;
}

static int storage_action(struct ctx *c, struct call *k, const char *action, struct resp *r)
{
    json_t *acct;
    char seed[2][37];
    char *s;
    if (strcasecmp(action, "listKeys") != 0)
        return -1;
    acct = res_load(c, k->t, k->key);
    if (!acct) {
        resp_error(r, 404, "ResourceNotFound",
                   "The Resource 'Microsoft.Storage/storageAccounts/%s' under resource group "
                   "'%s' was not found.",
                   k->name, k->ap.rg);
        return 0;
    }
    for (int i = 0; i < 2; i++) {
        s = xasprintf("key%d:%s", i + 1, json_string_value(json_object_get(acct, "id")));
        hash_uuid(s, seed[i]);
        free(s);
    }
    resp_json(r, 200,
              json_pack("{s:[{s:s,s:s,s:s},{s:s,s:s,s:s}]}", "keys", "keyName", "key1", "value",
                        seed[0], "permissions", "FULL", "keyName", "key2", "value", seed[1],
                        "permissions", "FULL"));
    json_decref(acct);
    return 0;
}

static int share_validate(struct ctx *c, struct call *k, json_t *body, json_t *old, struct resp *r)
{
    const struct rtype *st = rules_find("Microsoft.Storage/storageAccounts");
    const char *proto = json_string_value(json_path_get(body, "properties.enabledProtocols"));
    const char *was =
        old ? json_string_value(json_path_get(old, "properties.enabledProtocols")) : NULL;
    char *acct_id;
    json_t *acct;
    int rc = 0;
    if (old && proto && was && strcasecmp(proto, was) != 0) {
        resp_error(r, 400, "InvalidHeaderValue",
                   "enabledProtocols is fixed when a share is created (it is %s).", was);
        return -1;
    }
    if (!proto || strcasecmp(proto, "NFS") != 0)
        return 0;
    acct_id = apath_join(&k->ap, 0, 8);
    acct = res_load(c, st, acct_id);
    if (acct && !ci_eq(json_string_value(json_object_get(acct, "kind")), "FileStorage")) {
        resp_error(r, 400, "FeatureNotSupportedForAccount",
                   "NFS shares need a premium FileStorage account; '%s' is of kind %s.",
                   json_string_value(json_object_get(acct, "name")),
                   sor(json_string_value(json_object_get(acct, "kind")), "unknown"));
        rc = -1;
    }
    json_decref(acct);
    free(acct_id);
    return rc;
}

static void share_populate(struct ctx *c, struct call *k, json_t *body, json_t *old)
{
    const char *proto = json_string_value(json_path_get(body, "properties.enabledProtocols"));
    (void)c;
    (void)k;
    (void)old;
    set_now(body, "properties.lastModifiedTime");
    json_path_set(body, "properties.leaseStatus", json_string("unlocked"));
    json_path_set(body, "properties.leaseState", json_string("available"));
    if (proto && strcasecmp(proto, "NFS") == 0 && !json_path_get(body, "properties.rootSquash"))
        json_path_set(body, "properties.rootSquash", json_string("NoRootSquash"));
}

/* ---- Network ---- */

/* Adds a {"id": ref} entry to the list prop of the element of arr whose id is target. */
static void add_backref(json_t *arr, const char *target, const char *prop, const char *ref)
{
    size_t i;
    json_t *el;
    if (!target || !ref)
        return;
    json_array_foreach(arr, i, el)
    {
        json_t *props = json_object_get(el, "properties"), *list;
        if (!ci_eq(json_string_value(json_object_get(el, "id")), target) || !json_is_object(props))
            continue;
        list = json_object_get(props, prop);
        if (!json_is_array(list)) {
            list = json_array();
            json_object_set_new(props, prop, list);
        }
        json_array_append_new(list, json_pack("{s:s}", "id", ref));
    }
}

/* A load balancer's frontends, pools and probes list the rules that use them. */
static void lb_backrefs(json_t *body)
{
    json_t *fe = json_path_get(body, "properties.frontendIPConfigurations");
    json_t *be = json_path_get(body, "properties.backendAddressPools");
    json_t *pr = json_path_get(body, "properties.probes");
    json_t *el, *pool;
    size_t i, j;
    json_array_foreach(fe, i, el)
    {
        json_t *props = json_object_get(el, "properties");
        json_object_del(props, "loadBalancingRules");
        json_object_del(props, "inboundNatRules");
        set_missing(props, "privateIPAllocationMethod", json_string("Dynamic"));
    }
    json_array_foreach(be, i, el)
    {
        json_object_del(json_object_get(el, "properties"), "loadBalancingRules");
    }
    json_array_foreach(pr, i, el)
    {
        json_object_del(json_object_get(el, "properties"), "loadBalancingRules");
    }
    json_array_foreach(json_path_get(body, "properties.loadBalancingRules"), i, el)
    {
        const char *id = json_string_value(json_object_get(el, "id"));
        json_t *props = json_object_get(el, "properties");
        set_missing(props, "disableOutboundSnat", json_false());
        add_backref(fe, json_string_value(json_path_get(props, "frontendIPConfiguration.id")),
                    "loadBalancingRules", id);
        add_backref(pr, json_string_value(json_path_get(props, "probe.id")), "loadBalancingRules",
                    id);
        add_backref(be, json_string_value(json_path_get(props, "backendAddressPool.id")),
                    "loadBalancingRules", id);
        json_array_foreach(json_object_get(props, "backendAddressPools"), j, pool)
        {
            add_backref(be, json_string_value(json_object_get(pool, "id")), "loadBalancingRules",
                        id);
        }
    }
    json_array_foreach(json_path_get(body, "properties.inboundNatRules"), i, el)
    {
        add_backref(fe,
                    json_string_value(json_path_get(el, "properties.frontendIPConfiguration.id")),
                    "inboundNatRules", json_string_value(json_object_get(el, "id")));
    }
}

static void network_populate(struct ctx *c, struct call *k, json_t *body, json_t *old)
{
    static const char *const arrays[] = {"subnets",
                                         "securityRules",
                                         "defaultSecurityRules",
                                         "frontendIPConfigurations",
                                         "backendAddressPools",
                                         "loadBalancingRules",
                                         "probes",
                                         "inboundNatRules",
                                         "outboundRules",
                                         NULL};
    const char *ptype = sor(json_string_value(json_object_get(body, "type")), "");
    (void)k;
    keep_or_uuid(c, body, old, "properties.resourceGuid");
    for (int i = 0; arrays[i]; i++) {
        char *path = xasprintf("properties.%s", arrays[i]);
        char *type = xasprintf("%s/%s", ptype, arrays[i]);
        json_t *el;
        size_t j;
        child_ids(body, path, arrays[i], type);
        json_array_foreach(json_path_get(body, path), j, el)
        {
            char *et = new_etag(c);
            if (json_is_object(el))
                json_object_set_new(el, "etag", json_string(et));
            free(et);
        }
        free(path);
        free(type);
    }
    if (strcmp(ptype, "Microsoft.Network/loadBalancers") == 0)
        lb_backrefs(body);
}

static void nsg_populate(struct ctx *c, struct call *k, json_t *body, json_t *old)
{
    static const char defaults[] =
        "["
        "{\"name\":\"AllowVnetInBound\",\"properties\":{\"description\":\"Allow inbound traffic "
        "from all VMs in VNET\",\"protocol\":\"*\",\"sourcePortRange\":\"*\","
        "\"destinationPortRange\":\"*\",\"sourceAddressPrefix\":\"VirtualNetwork\","
        "\"destinationAddressPrefix\":\"VirtualNetwork\",\"access\":\"Allow\",\"priority\":65000,"
        "\"direction\":\"Inbound\"}},"
        "{\"name\":\"AllowAzureLoadBalancerInBound\",\"properties\":{\"description\":\"Allow "
        "inbound traffic from azure load balancer\",\"protocol\":\"*\",\"sourcePortRange\":\"*\","
        "\"destinationPortRange\":\"*\",\"sourceAddressPrefix\":\"AzureLoadBalancer\","
        "\"destinationAddressPrefix\":\"*\",\"access\":\"Allow\",\"priority\":65001,"
        "\"direction\":\"Inbound\"}},"
        "{\"name\":\"DenyAllInBound\",\"properties\":{\"description\":\"Deny all inbound "
        "traffic\",\"protocol\":\"*\",\"sourcePortRange\":\"*\",\"destinationPortRange\":\"*\","
        "\"sourceAddressPrefix\":\"*\",\"destinationAddressPrefix\":\"*\",\"access\":\"Deny\","
        "\"priority\":65500,\"direction\":\"Inbound\"}},"
        "{\"name\":\"AllowVnetOutBound\",\"properties\":{\"description\":\"Allow outbound traffic "
        "from all VMs to all VMs in VNET\",\"protocol\":\"*\",\"sourcePortRange\":\"*\","
        "\"destinationPortRange\":\"*\",\"sourceAddressPrefix\":\"VirtualNetwork\","
        "\"destinationAddressPrefix\":\"VirtualNetwork\",\"access\":\"Allow\",\"priority\":65000,"
        "\"direction\":\"Outbound\"}},"
        "{\"name\":\"AllowInternetOutBound\",\"properties\":{\"description\":\"Allow outbound "
        "traffic from all VMs to Internet\",\"protocol\":\"*\",\"sourcePortRange\":\"*\","
        "\"destinationPortRange\":\"*\",\"sourceAddressPrefix\":\"*\","
        "\"destinationAddressPrefix\":\"Internet\",\"access\":\"Allow\",\"priority\":65001,"
        "\"direction\":\"Outbound\"}},"
        "{\"name\":\"DenyAllOutBound\",\"properties\":{\"description\":\"Deny all outbound "
        "traffic\",\"protocol\":\"*\",\"sourcePortRange\":\"*\",\"destinationPortRange\":\"*\","
        "\"sourceAddressPrefix\":\"*\",\"destinationAddressPrefix\":\"*\",\"access\":\"Deny\","
        "\"priority\":65500,\"direction\":\"Outbound\"}}"
        "]";
    json_path_set(body, "properties.defaultSecurityRules", json_loads(defaults, 0, NULL));
    network_populate(c, k, body, old);
}

static void pip_populate(struct ctx *c, struct call *k, json_t *body, json_t *old)
{
    json_t *prev = old ? json_path_get(old, "properties.ipAddress") : NULL;
    const char *sku = json_string_value(json_path_get(body, "sku.name"));
    if (!sku) {
        json_path_set(body, "sku.name", json_string("Basic"));
        sku = "Basic";
    }
    if (!json_path_get(body, "sku.tier"))
        json_path_set(body, "sku.tier", json_string("Regional"));
    if (!json_path_get(body, "properties.publicIPAllocationMethod"))
        json_path_set(body, "properties.publicIPAllocationMethod",
                      json_string(strcasecmp(sku, "Standard") == 0 ? "Static" : "Dynamic"));
    if (json_is_string(prev))
        json_path_set(body, "properties.ipAddress", json_copy(prev));
    else {
        uint64_t x = ctx_random(c);
        char *ip = xasprintf("20.%u.%u.%u", (unsigned)(x & 0xff), (unsigned)((x >> 8) & 0xff),
                             (unsigned)((x >> 16) % 253 + 1));
        json_path_set(body, "properties.ipAddress", json_string(ip));
        free(ip);
    }
    network_populate(c, k, body, old);
}

/* ---- Monitoring ---- */

static void workspace_populate(struct ctx *c, struct call *k, json_t *body, json_t *old)
{
    (void)k;
    keep_or_uuid(c, body, old, "properties.customerId");
    keep_or_now(body, old, "properties.createdDate");
    set_now(body, "properties.modifiedDate");
}

static void dcr_populate(struct ctx *c, struct call *k, json_t *body, json_t *old)
{
    json_t *prev = old ? json_path_get(old, "properties.immutableId") : NULL;
    const struct rtype *wt = rules_find("Microsoft.OperationalInsights/workspaces");
    json_t *dest;
    size_t i;
    (void)k;
    /* each Log Analytics destination learns its workspace's customerId */
    json_array_foreach(json_path_get(body, "properties.destinations.logAnalytics"), i, dest)
    {
        const char *wid = json_string_value(json_object_get(dest, "workspaceResourceId"));
        json_t *ws = wid ? res_load(c, wt, wid) : NULL;
        if (ws && json_is_object(dest))
            json_object_set(dest, "workspaceId", json_path_get(ws, "properties.customerId"));
        json_decref(ws);
    }
    if (json_is_string(prev))
        json_path_set(body, "properties.immutableId", json_copy(prev));
    else {
        char *id = xasprintf("dcr-%016llx%016llx", (unsigned long long)ctx_random(c),
                             (unsigned long long)ctx_random(c));
        json_path_set(body, "properties.immutableId", json_string(id));
        free(id);
    }
}

/* GET .../dataCollectionRules/{rule}/associations: the associations naming this rule. */
static void dcr_associations_handle(struct ctx *c, struct call *k, struct resp *r)
{
    static const char sql[] =
        "SELECT body FROM resources WHERE type ="
        " 'microsoft.insights/datacollectionruleassociations' AND sub = lower(?)"
        " ORDER BY id";
    const struct rtype *rt = rules_find("Microsoft.Insights/dataCollectionRules");
    const struct rtype *at = rules_find("Microsoft.Insights/dataCollectionRuleAssociations");
    json_t *rule, *items;
    sqlite3_stmt *st;
    if (strcmp(k->rq->method, "GET") != 0 || !k->ap.odd) {
        resp_error(r, 405, "MethodNotAllowed", "associations of a rule can only be listed");
        return;
    }
    rule = res_load(c, rt, k->parent_key);
    if (!rule) {
        resp_error(r, 404, "ResourceNotFound", "The data collection rule '%s' was not found.",
                   k->ap.names[0]);
        return;
    }
    items = json_array();
    st = store_stmt(c, sql);
    sqlite3_bind_text(st, 1, k->ap.sub, -1, SQLITE_TRANSIENT);
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *b = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
        if (ci_eq(json_string_value(json_path_get(b, "properties.dataCollectionRuleId")),
                  json_string_value(json_object_get(rule, "id"))))
            json_array_append_new(items, res_render(at, b));
        json_decref(b);
    }
    sqlite3_reset(st);
    json_decref(rule);
    list_page(c, k, items, r);
}

static void autoscale_populate(struct ctx *c, struct call *k, json_t *body, json_t *old)
{
    (void)c;
    (void)old;
    if (!json_path_get(body, "properties.name"))
        json_path_set(body, "properties.name", json_string(k->name));
}

/* ---- Authorization ---- */

static const char *trailing_guid(const char *id)
{
    const char *s = id ? strrchr(id, '/') : NULL;
    return s ? s + 1 : sor(id, "");
}

static int role_validate(struct ctx *c, struct call *k, json_t *body, json_t *old, struct resp *r)
{
    static const char sql[] = "SELECT body FROM resources WHERE type = "
                              "'microsoft.authorization/roleassignments' AND parent = lower(?)";
    const char *role = json_string_value(json_path_get(body, "properties.roleDefinitionId"));
    const char *principal = json_string_value(json_path_get(body, "properties.principalId"));
    sqlite3_stmt *st;
    int rc = 0;
    if (c->principal_lag_ms && principal) {
        static const char sql_p[] =
            "SELECT json_extract(body, '$._armsim.created_ms') FROM resources WHERE type ="
            " 'microsoft.managedidentity/userassignedidentities' AND"
            " lower(json_extract(body, '$.properties.principalId')) = lower(?)";
        sqlite3_stmt *sp = store_stmt(c, sql_p);
        int young = 0;
        sqlite3_bind_text(sp, 1, principal, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(sp) == SQLITE_ROW)
            young = sqlite3_column_int64(sp, 0) + c->principal_lag_ms > now_ms();
        sqlite3_reset(sp);
        if (young) {
            resp_error(r, 400, "PrincipalNotFound",
                       "Principal %s does not exist in the directory %s. Check that you have the "
                       "correct principal ID. If you are creating this principal and then "
                       "immediately assigning a role, this error might be related to a "
                       "replication delay.",
                       principal, ARMSIM_TENANT);
            return -1;
        }
    }
    if (old) {
        const char *orole = json_string_value(json_path_get(old, "properties.roleDefinitionId"));
        const char *oprin = json_string_value(json_path_get(old, "properties.principalId"));
        if (!ci_eq(trailing_guid(orole), trailing_guid(role)) || !ci_eq(oprin, principal)) {
            resp_error(r, 400, "RoleAssignmentUpdateNotPermitted",
                       "Tenant ID, application ID, principal ID, and scope are not allowed to be "
                       "updated.");
            return -1;
        }
        return 0;
    }
    st = store_stmt(c, sql);
    if (!st)
        return 0;
    sqlite3_bind_text(st, 1, k->parent_key, -1, SQLITE_TRANSIENT);
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *b = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
        if (ci_eq(trailing_guid(json_string_value(json_path_get(b, "properties.roleDefinitionId"))),
                  trailing_guid(role)) &&
            ci_eq(json_string_value(json_path_get(b, "properties.principalId")), principal) &&
            !ci_eq(json_string_value(json_object_get(b, "name")), k->name))
            rc = -1;
        json_decref(b);
    }
    sqlite3_reset(st);
    if (rc < 0)
        resp_error(r, 409, "RoleAssignmentExists", "The role assignment already exists.");
    return rc;
}

static void scope_populate(struct ctx *c, struct call *k, json_t *body, json_t *old)
{
    const char *id = json_string_value(json_object_get(body, "id"));
    const char *p = id ? strstr(id, "/providers/Microsoft.Authorization/") : NULL;
    (void)c;
    (void)k;
    (void)old;
    if (p) {
        char *scope = strndup(id, (size_t)(p - id));
        json_path_set(body, "properties.scope", json_string(*scope ? scope : "/"));
        free(scope);
    }
}

static void policy_populate(struct ctx *c, struct call *k, json_t *body, json_t *old)
{
    scope_populate(c, k, body, old);
    keep_or_uuid(c, body, old, "properties.instanceId");
}

static void role_populate(struct ctx *c, struct call *k, json_t *body, json_t *old)
{
    scope_populate(c, k, body, old);
    keep_or_now(body, old, "properties.createdOn");
    set_now(body, "properties.updatedOn");
    if (old && json_path_get(old, "properties.createdBy"))
        json_path_set(body, "properties.createdBy",
                      json_copy(json_path_get(old, "properties.createdBy")));
    else
        json_path_set(body, "properties.createdBy", json_string(sor(k->rq->caller, "")));
    json_path_set(body, "properties.updatedBy", json_string(sor(k->rq->caller, "")));
}

/* ---- the table ---- */

static const char *const wo_vmss[] = {
    "properties.virtualMachineProfile.osProfile.adminPassword",
    "properties.virtualMachineProfile.osProfile.customData",
    "properties.virtualMachineProfile.extensionProfile.extensions.[].properties.protectedSettings",
    NULL};
static const char *const wo_ext[] = {"properties.protectedSettings", NULL};
static const char *const wo_secret[] = {"properties.value", NULL};

static const char *const req_location[] = {"location", NULL};
static const char *const req_vmss[] = {"location", "sku", NULL};
static const char *const req_vault[] = {"location", "properties.tenantId", "properties.sku", NULL};
static const char *const req_storage[] = {"location", "sku.name", "kind", NULL};
static const char *const req_pool[] = {"properties.vmSize", NULL};
static const char *const req_role[] = {"properties.roleDefinitionId", "properties.principalId",
                                       NULL};
static const char *const req_policy[] = {"properties.policyDefinitionId", NULL};
static const char *const req_ext[] = {"properties.publisher", "properties.type",
                                      "properties.typeHandlerVersion", NULL};
static const char *const req_dcra[] = {NULL};
static const char *const req_autoscale[] = {"location", "properties.profiles", NULL};

#define TRACKED (F_TRACKED | F_LISTED)

/* What every Microsoft.Network row shares: api-versions since 2017, 201 on
 * create and 200 on update, both as Azure-AsyncOperation LROs, and
 * "Updating" while they run (Network reports no "Creating"). */
/* clang-format off */
#define NETWORK_RP                                                                 \
    .min_api = "2017-01-01", .put_create = 201, .put_update = 200,                \
    .put_lro = LRO_ASYNC, .delete_lro = LRO_ASYNC,                                 \
    .creating = "Updating", .updating = "Updating"
/* clang-format on */

static const struct rtype rules[] = {
    {.type = "Microsoft.ManagedIdentity/userAssignedIdentities",
     .min_api = "2015-08-31",
     .flags = TRACKED | F_NOPROVSTATE,
     .put_create = 201,
     .put_update = 200,
     .required = req_location,
     .populate = uami_populate},
    {.type = "Microsoft.KeyVault/vaults",
     .min_api = "2015-06-01",
     .flags = TRACKED,
     .put_create = 200,
     .put_update = 200,
     .put_lro = LRO_BODY,
     .creating = "RegisteringDns",
     .updating = "Succeeded",
     .required = req_vault,
     .defaults = "{\"properties\":{\"enableSoftDelete\":true,\"softDeleteRetentionInDays\":90,"
                 "\"enableRbacAuthorization\":false,\"publicNetworkAccess\":\"Enabled\","
                 "\"accessPolicies\":[],\"enabledForDeployment\":false,"
                 "\"enabledForDiskEncryption\":false,\"enabledForTemplateDeployment\":false}}",
     .validate = vault_validate,
     .populate = vault_populate,
     .sync_delete = vault_delete},
    {.type = "Microsoft.KeyVault/vaults/secrets",
     .min_api = "2015-06-01",
     .flags = F_NOPROVSTATE,
     .put_create = 201,
     .put_update = 200,
     .write_only = wo_secret,
     .populate = secret_populate},
    {.type = "Microsoft.KeyVault/vaults/accessPolicies",
     .min_api = "2015-06-01",
     .handle = access_policies_handle},
    {.type = "Microsoft.KeyVault/locations/deletedVaults",
     .min_api = "2015-06-01",
     .flags = F_READONLY | F_NOPARENT | F_NOPROVSTATE,
     .delete_lro = LRO_LOCATION,
     .action = deleted_vault_action},
    {.type = "Microsoft.KeyVault/deletedVaults",
     .min_api = "2015-06-01",
     .flags = F_READONLY | F_NOPROVSTATE,
     .list_type = "Microsoft.KeyVault/locations/deletedVaults"},
    {.type = "Microsoft.Compute/virtualMachineScaleSets",
     .min_api = "2017-03-30",
     .flags = TRACKED | F_ETAG,
     .put_create = 201,
     .put_update = 200,
     .put_lro = LRO_ASYNC,
     .patch_lro = LRO_ASYNC,
     .delete_lro = LRO_ASYNC,
     .creating = "Creating",
     .updating = "Updating",
     .write_only = wo_vmss,
     .required = req_vmss,
     .defaults = "{\"properties\":{\"overprovision\":true,\"singlePlacementGroup\":true,"
                 "\"orchestrationMode\":\"Uniform\",\"upgradePolicy\":{\"mode\":\"Manual\"}}}",
     .populate = vmss_populate,
     .action = vmss_action},
    {.type = "Microsoft.Compute/virtualMachineScaleSets/extensions",
     .min_api = "2017-03-30",
     .put_create = 201,
     .put_update = 200,
     .put_lro = LRO_ASYNC,
     .patch_lro = LRO_ASYNC,
     .delete_lro = LRO_ASYNC,
     .creating = "Creating",
     .updating = "Updating",
     .inline_path = "properties.virtualMachineProfile.extensionProfile.extensions",
     .write_only = wo_ext,
     .required = req_ext,
     .defaults = "{\"properties\":{\"autoUpgradeMinorVersion\":true}}"},
    {.type = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines",
     .min_api = "2017-03-30",
     .handle = vmss_vms_handle},
    {.type = "Microsoft.Compute/locations/usages",
     .min_api = "2015-06-15",
     .flags = F_NOPARENT,
     .handle = usages_handle},
    {.type = "Microsoft.Features/providers/features",
     .min_api = "2015-12-01",
     .flags = F_NOPARENT | F_NOPROVSTATE,
     .handle = feature_handle},
    {.type = "Microsoft.Batch/batchAccounts",
     .min_api = "2017-01-01",
     .flags = TRACKED,
     .put_create = 202,
     .put_update = 200,
     .put_lro = LRO_LOCATION,
     .delete_lro = LRO_LOCATION,
     .creating = "Creating",
     .required = req_location,
     .defaults = "{\"properties\":{\"poolAllocationMode\":\"BatchService\","
                 "\"publicNetworkAccess\":\"Enabled\",\"dedicatedCoreQuota\":500,"
                 "\"lowPriorityCoreQuota\":500,\"poolQuota\":100,"
                 "\"activeJobAndJobScheduleQuota\":300}}",
     .populate = batch_account_populate},
    {.type = "Microsoft.Batch/batchAccounts/pools",
     .min_api = "2017-01-01",
     .flags = F_ETAG,
     .put_create = 200,
     .put_update = 200,
     .delete_lro = LRO_LOCATION,
     .required = req_pool,
     .defaults = "{\"properties\":{\"interNodeCommunication\":\"Disabled\",\"taskSlotsPerNode\":1,"
                 "\"taskSchedulingPolicy\":{\"nodeFillType\":\"Spread\"}}}",
     .populate = batch_pool_populate},
    {.type = "Microsoft.Storage/storageAccounts",
     .min_api = "2016-01-01",
     .flags = TRACKED,
     .put_create = 202,
     .put_update = 200,
     .put_lro = LRO_LOCATION,
     .creating = "Creating",
     .required = req_storage,
     .defaults = "{\"properties\":{\"supportsHttpsTrafficOnly\":true,\"minimumTlsVersion\":"
                 "\"TLS1_0\",\"allowBlobPublicAccess\":false,\"encryption\":{\"keySource\":"
                 "\"Microsoft.Storage\",\"services\":{\"file\":{\"enabled\":true,\"keyType\":"
                 "\"Account\"},\"blob\":{\"enabled\":true,\"keyType\":\"Account\"}}}}}",
     .validate = storage_validate,
     .populate = storage_populate,
     .action = storage_action},
    {.type = "Microsoft.Storage/storageAccounts/fileServices",
     .min_api = "2016-01-01",
     .flags = F_IMPLICIT | F_NOPROVSTATE,
     .put_create = 200,
     .put_update = 200,
     .defaults = "{\"properties\":{\"shareDeleteRetentionPolicy\":{\"enabled\":true,\"days\":7}}}"},
    {.type = "Microsoft.Storage/storageAccounts/fileServices/shares",
     .min_api = "2016-01-01",
     .flags = F_ETAG | F_NOPROVSTATE,
     .put_create = 201,
     .put_update = 200,
     .defaults = "{\"properties\":{\"enabledProtocols\":\"SMB\",\"shareQuota\":5120,"
                 "\"accessTier\":\"TransactionOptimized\"}}",
     .validate = share_validate,
     .populate = share_populate},
    {.type = "Microsoft.Network/virtualNetworks",
     NETWORK_RP,
     .flags = TRACKED | F_ETAG,
     .required = req_location,
     .defaults = "{\"properties\":{\"subnets\":[],\"virtualNetworkPeerings\":[],"
                 "\"enableDdosProtection\":false}}",
     .populate = network_populate},
    {.type = "Microsoft.Network/virtualNetworks/subnets",
     NETWORK_RP,
     .flags = F_ETAG | F_NOPATCH,
     .inline_path = "properties.subnets",
     .defaults = "{\"properties\":{\"privateEndpointNetworkPolicies\":\"Disabled\","
                 "\"privateLinkServiceNetworkPolicies\":\"Enabled\"}}"},
    {.type = "Microsoft.Network/networkSecurityGroups",
     NETWORK_RP,
     .flags = TRACKED | F_ETAG,
     .required = req_location,
     .defaults = "{\"properties\":{\"securityRules\":[],\"flushConnection\":false}}",
     .populate = nsg_populate},
    {.type = "Microsoft.Network/publicIPAddresses",
     NETWORK_RP,
     .flags = TRACKED | F_ETAG,
     .required = req_location,
     .defaults = "{\"properties\":{\"publicIPAddressVersion\":\"IPv4\","
                 "\"idleTimeoutInMinutes\":4}}",
     .populate = pip_populate},
    {.type = "Microsoft.Network/loadBalancers",
     NETWORK_RP,
     .flags = TRACKED | F_ETAG,
     .required = req_location,
     .defaults = "{\"sku\":{\"name\":\"Basic\",\"tier\":\"Regional\"},\"properties\":{"
                 "\"frontendIPConfigurations\":[],\"backendAddressPools\":[],"
                 "\"loadBalancingRules\":[],\"probes\":[],\"inboundNatRules\":[],"
                 "\"outboundRules\":[],\"inboundNatPools\":[]}}",
     .populate = network_populate},
    {.type = "Microsoft.OperationalInsights/workspaces",
     .min_api = "2015-11-01",
     .flags = TRACKED | F_ETAG,
     .put_create = 201,
     .put_update = 200,
     .put_lro = LRO_ASYNC,
     .creating = "Creating",
     .updating = "Updating",
     .required = req_location,
     .defaults = "{\"properties\":{\"sku\":{\"name\":\"PerGB2018\"},\"retentionInDays\":30,"
                 "\"publicNetworkAccessForIngestion\":\"Enabled\","
                 "\"publicNetworkAccessForQuery\":\"Enabled\",\"features\":{"
                 "\"enableLogAccessUsingOnlyResourcePermissions\":true}}}",
     .populate = workspace_populate},
    {.type = "Microsoft.Insights/dataCollectionRules",
     .min_api = "2019-11-01",
     .flags = TRACKED | F_ETAG,
     .put_create = 201,
     .put_update = 200,
     .required = req_location,
     .populate = dcr_populate},
    {.type = "Microsoft.Insights/dataCollectionRules/associations",
     .min_api = "2019-11-01",
     .handle = dcr_associations_handle},
    {.type = "Microsoft.Insights/dataCollectionRuleAssociations",
     .min_api = "2019-11-01",
     .flags = F_EXTENSION | F_ETAG,
     .put_create = 201,
     .put_update = 200,
     .required = req_dcra},
    {.type = "Microsoft.Insights/autoscalesettings",
     .min_api = "2015-04-01",
     .flags = TRACKED | F_NOPROVSTATE,
     .put_create = 201,
     .put_update = 200,
     .required = req_autoscale,
     .defaults = "{\"properties\":{\"enabled\":true,\"notifications\":[]}}",
     .populate = autoscale_populate},
    {.type = "Microsoft.Authorization/roleAssignments",
     .min_api = "2015-07-01",
     .flags = F_EXTENSION | F_NOPATCH | F_DELETE_BODY | F_HIER_LIST | F_NOPROVSTATE,
     .put_create = 201,
     .put_update = 200,
     .required = req_role,
     .defaults = "{\"properties\":{\"principalType\":\"User\"}}",
     .validate = role_validate,
     .populate = role_populate},
    {.type = "Microsoft.Authorization/policyAssignments",
     .min_api = "2016-04-01",
     .flags = F_EXTENSION | F_DELETE_BODY | F_HIER_LIST | F_NOPROVSTATE,
     .put_create = 201,
     .put_update = 201,
     .required = req_policy,
     .defaults = "{\"properties\":{\"notScopes\":[],\"enforcementMode\":\"Default\"}}",
     .populate = policy_populate},
};

const struct rtype *rules_find(const char *type)
{
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
        if (strcasecmp(rules[i].type, type) == 0)
            return &rules[i];
    return NULL;
}

const struct rtype *rules_all(size_t *n)
{
    *n = sizeof(rules) / sizeof(rules[0]);
    return rules;
}
