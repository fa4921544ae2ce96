/*
 * SharedStorage: a storage account and its file shares. NFS (the default)
 * needs a Premium FileStorage account, no account key and no HTTPS-only
 * transport; it is reachable only from the subnets of the pools that
 * mount it. Shares carry the ownership mark in their metadata, whose keys
 * must be C identifiers (no '-').
 */
#include <string.h>
#include <strings.h>

#include "dsvmops/error.h"
#include "expand.h"

/* Index the pools by the storage they mount, in pool order, each pool
 * once per storage: every storage account looks up its own pools instead
 * of scanning all of them. Returns 0, or DSVM_ENOMEM. */
static int index_mounters(az_ex *ex)
{
    json_t *pools = json_object_get(ex->by_kind, "Pool"), *pool, *m, *list;
    const char *key;
    size_t i;

    ex->mounters = json_object();
    if (!ex->mounters)
        return DSVM_ENOMEM;
    json_object_foreach(pools, key, pool)
    {
        json_array_foreach(json_object_get(json_object_get(pool, "spec"), "sharedStorage"), i, m)
        {
            const char *name = az_str(m, "storage", "");

            list = json_object_get(ex->mounters, name);
            if (!list) {
                list = json_array();
                if (!list || json_object_set_new(ex->mounters, name, list) < 0)
                    return DSVM_ENOMEM;
            }
            if (json_array_size(list) && json_array_get(list, json_array_size(list) - 1) == pool)
                continue;
            if (json_array_append(list, pool) < 0)
                return DSVM_ENOMEM;
        }
    }
    return 0;
}

/* NFS accounts: deny by default, allow the subnets of mounting pools. */
static int nfs_acls(az_ex *ex, const json_t *obj, json_t *res)
{
    json_t *pools, *pool, *rules;
    json_t *props = json_object_get(json_object_get(res, "body"), "properties");
    size_t k;

    if (!ex->mounters && index_mounters(ex) < 0)
        return az_fail(ex, "out of memory");
    pools = json_object_get(ex->mounters, az_str(obj, "name", ""));
    rules = json_array();
    if (!rules)
        return az_fail(ex, "out of memory");
    json_array_foreach(pools, k, pool)
    {
        json_t *id, *r;
        size_t i;
        int seen = 0;

        id = az_pool_subnet(ex, res, pool);
        if (!id) {
            json_decref(rules);
            return DSVM_EINVALID;
        }
        json_array_foreach(rules, i, r)
        {
            if (strcasecmp(json_string_value(json_object_get(r, "id")), json_string_value(id)) == 0)
                seen = 1;
        }
        if (!seen)
            json_array_append_new(rules, json_pack("{s:O,s:s}", "id", id, "action", "Allow"));
        json_decref(id);
    }
    if (json_object_set_new(props, "networkAcls",
                            json_pack("{s:s,s:s,s:o}", "bypass", "AzureServices", "defaultAction",
                                      "Deny", "virtualNetworkRules", rules)) < 0)
        return az_fail(ex, "out of memory");
    return 0;
}

static int share(az_ex *ex, const json_t *obj, json_t *account, const json_t *s, int nfs,
                 int premium)
{
    const char *name = az_str(s, "name", NULL);
    json_t *owner = json_object_get(account, "object"), *props, *res;

    if (!name)
        return az_fail(ex, "SharedStorage/%s: every share needs a name", az_str(obj, "name", ""));
    props = json_pack("{s:I,s:s,s:s,s:{s:s,s:O}}", "shareQuota", az_int(s, "quotaGiB", 100),
                      "enabledProtocols", nfs ? "NFS" : "SMB", "accessTier",
                      az_str(s, "accessTier", premium ? "Premium" : "TransactionOptimized"),
                      "metadata", "dsvmops_instance", ex->instance, "dsvmops_object", owner);
    if (props && nfs)
        json_object_set_new(props, "rootSquash",
                            json_string(az_str(s, "rootSquash", "NoRootSquash")));
    res = az_emit(ex, "Microsoft.Storage/storageAccounts/fileServices/shares",
                  json_sprintf("%s/fileServices/default/shares/%s",
                               json_string_value(json_object_get(account, "id")), name),
                  owner, json_pack("{s:o}", "properties", props));
    if (!res || az_dep_json(res, json_object_get(account, "id")) < 0)
        return DSVM_EINVALID;
    return az_dep_rg(ex, res, az_str(obj, "resourceGroup", NULL));
}

int az_expand_shared_storage(az_ex *ex, const json_t *obj)
{
    const json_t *spec = json_object_get(obj, "spec");
    int nfs = strcasecmp(az_str(spec, "protocol", "NFS"), "NFS") == 0;
    const char *sku = az_str(spec, "sku", "Premium_LRS");
    json_t *res, *s;
    size_t i;

    res = az_emit_tracked(
        ex, obj, "Microsoft.Storage/storageAccounts", az_str(obj, "name", ""),
        json_pack("{s:s,s:{s:s},s:{s:s,s:b,s:b,s:s}}", "kind", az_str(spec, "kind", "FileStorage"),
                  "sku", "name", sku, "properties", "minimumTlsVersion", "TLS1_2",
                  "supportsHttpsTrafficOnly", !nfs, "allowBlobPublicAccess", 0,
                  "publicNetworkAccess", az_str(spec, "publicNetworkAccess", "Enabled")));
    if (!res)
        return DSVM_EINVALID;
    if (nfs && nfs_acls(ex, obj, res) < 0)
        return DSVM_EINVALID;
    json_array_foreach(json_object_get(spec, "shares"), i, s)
    {
        if (share(ex, obj, res, s, nfs, strncasecmp(sku, "Premium", 7) == 0) < 0)
            return DSVM_EINVALID;
    }
    return 0;
}
