/*
 * KeyVault: the vault, with its readers as inline access policies
 * (rbac: false) or as "Key Vault Secrets User" role assignments on the
 * vault (rbac: true). Either way, the resource that grants an identity
 * access is recorded so that pools using the identity depend on it.
 */
#include <string.h>

#include "dsvmops/error.h"
#include "expand.h"

#define KV_SECRETS_USER "4633458b-17de-408a-b874-0445c86b69e6"

static int network_acls(az_ex *ex, const json_t *obj, json_t *res)
{
    const json_t *acls = json_object_get(json_object_get(obj, "spec"), "networkAcls");
    json_t *ips = json_array(), *vnets = json_array(), *v;
    size_t i;

    if (!ips || !vnets)
        goto oom;
    json_array_foreach(json_object_get(acls, "ipRules"), i, v)
    {
        if (json_array_append_new(ips, json_pack("{s:O}", "value", v)) < 0)
            goto oom;
    }
    json_array_foreach(json_object_get(acls, "subnets"), i, v)
    {
        json_t *id = az_subnet_id(ex, res, obj, json_string_value(v));

        if (!id)
            goto fail;
        if (json_array_append_new(vnets, json_pack("{s:o}", "id", id)) < 0)
            goto oom;
    }
    if (json_object_set_new(
            json_object_get(json_object_get(res, "body"), "properties"), "networkAcls",
            json_pack("{s:s,s:s,s:o,s:o}", "defaultAction", az_str(acls, "defaultAction", "Allow"),
                      "bypass", az_str(acls, "bypass", "AzureServices"), "ipRules", ips,
                      "virtualNetworkRules", vnets)) < 0)
        return az_fail(ex, "out of memory");
    return 0;
oom:
    az_fail(ex, "out of memory");
fail:
    json_decref(ips);
    json_decref(vnets);
    return DSVM_EINVALID;
}

/* One reader: an access policy on the vault, or a role assignment. */
static int grant(az_ex *ex, json_t *vault, const json_t *owner, const json_t *who, int rbac)
{
    const char *vault_id = json_string_value(json_object_get(vault, "id"));
    const char *identity = json_string_value(who);
    json_t *policies, *res;
    az_principal p = {0};
    int rc = az_principal_resolve(ex, who, &p);

    if (rc < 0)
        return rc;
    if (rbac) {
        res = az_emit_role_assignment(ex, vault_id, KV_SECRETS_USER, &p, owner, NULL);
        rc = res ? az_dep(res, vault_id) : DSVM_EINVALID;
        if (rc == 0 && identity)
            rc = az_note_access(ex, identity, json_string_value(json_object_get(res, "id")));
    } else {
        policies = json_object_get(json_object_get(json_object_get(vault, "body"), "properties"),
                                   "accessPolicies");
        rc = json_array_append_new(policies, json_pack("{s:s,s:O,s:{s:[s,s]}}", "tenantId",
                                                       ex->tenant, "objectId", p.id, "permissions",
                                                       "secrets", "get", "list")) < 0
                 ? DSVM_ENOMEM
                 : 0;
        if (rc == 0 && p.dep)
            rc = az_dep_json(vault, p.dep);
        if (rc == 0 && identity)
            rc = az_note_access(ex, identity, vault_id);
    }
    az_principal_clear(&p);
    if (rc == DSVM_ENOMEM)
        az_fail(ex, "out of memory");
    return rc;
}

int az_expand_key_vault(az_ex *ex, const json_t *obj)
{
    static const char *const lists[] = {"readers", "secretsUsers"};
    const json_t *spec = json_object_get(obj, "spec");
    const char *name = az_str(obj, "name", "");
    int rbac = az_bool(spec, "rbac", 1);
    json_t *props, *res, *owner = NULL, *who;
    size_t i, k;
    int rc = DSVM_EINVALID;

    if (!ex->tenant)
        return az_fail(ex, "KeyVault/%s: the expand context needs the tenant ID", name);
    props = json_pack("{s:s,s:{s:s,s:s},s:b,s:b,s:I,s:s}", "tenantId", ex->tenant, "sku", "family",
                      "A", "name", az_str(spec, "sku", "standard"), "enableRbacAuthorization", rbac,
                      "enableSoftDelete", 1, "softDeleteRetentionInDays",
                      az_int(spec, "softDeleteRetentionDays", 90), "publicNetworkAccess",
                      az_str(spec, "publicNetworkAccess", "Enabled"));
    /* Purge protection can only be switched on: send it only then. */
    if (props && az_bool(spec, "purgeProtection", 1))
        json_object_set_new(props, "enablePurgeProtection", json_true());
    if (props && !rbac)
        json_object_set_new(props, "accessPolicies", json_array());
    res = az_emit_tracked(ex, obj, "Microsoft.KeyVault/vaults", name,
                          json_pack("{s:o}", "properties", props));
    if (!res)
        return DSVM_EINVALID;
    if (json_object_get(spec, "networkAcls") && network_acls(ex, obj, res) < 0)
        return DSVM_EINVALID;
    owner = az_owner(obj);
    for (k = 0; owner && k < sizeof(lists) / sizeof(lists[0]); k++) {
        json_array_foreach(json_object_get(spec, lists[k]), i, who)
        {
            if (grant(ex, res, owner, who, rbac) < 0)
                goto out;
        }
    }
    rc = owner ? 0 : az_fail(ex, "out of memory");
out:
    json_decref(owner);
    return rc;
}
