/*
 * RoleAssignment and PolicyAssignment, the built-in role table, and the
 * role-assignment builder that KeyVault readers share.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "dsvmops/error.h"
#include "expand.h"

/* Built-in role names of docs/manifests.md and their definition GUIDs. */
static const struct {
    const char *name, *guid;
} roles[] = {
    {"Owner", "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"},
    {"Contributor", "b24988ac-6180-42a0-ab88-20f7382dd24c"},
    {"Reader", "acdd72a7-3385-48ef-bd42-f606fba81ae7"},
    {"Key Vault Secrets User", "4633458b-17de-408a-b874-0445c86b69e6"},
    {"Key Vault Reader", "21090545-7ca7-4776-b22c-e363652d74d2"},
    {"Key Vault Administrator", "00482a5a-887f-4fb3-b363-3b7fe8e74483"},
    {"Virtual Machine Contributor", "9980e02c-c2be-4d73-94e8-173b1dc7cf3c"},
    {"Virtual Machine User Login", "fb879df8-f326-4884-b1cf-06f3ad86be52"},
    {"Virtual Machine Administrator Login", "1c0163c0-47e6-4577-8991-ea5c82e286e4"},
    {"Storage File Data SMB Share Contributor", "0c867c2a-1d8c-454a-a3db-ab2ea1bdc8bb"},
    {"Storage File Data Privileged Contributor", "69566ab7-960f-475b-8e7c-b3118f30c6bd"},
    {"Managed Identity Operator", "f1a07417-d97a-45cb-824c-7a7467783830"},
    {"Monitoring Metrics Publisher", "3913510d-42f4-4e42-8a64-420c390055eb"},
    {"Log Analytics Reader", "73c42c96-874c-492b-b04d-ab87d138a893"},
    {"Log Analytics Contributor", "92aaf0da-9dab-42b6-94a3-d43ce8d16293"},
};

static int is_guid(const char *s)
{
    size_t i;

    if (strlen(s) != 36)
        return 0;
    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

const char *az_role_guid(const char *role)
{
    size_t i;

    if (!role)
        return NULL;
    if (is_guid(role))
        return role;
    for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
        if (strcasecmp(roles[i].name, role) == 0)
            return roles[i].guid;
    return NULL;
}

json_t *az_emit_role_assignment(az_ex *ex, const char *scope, const char *role_guid,
                                const az_principal *p, const json_t *owner, const char *description)
{
    char name[37];
    json_t *mark, *desc, *body, *res;

    if (az_role_assignment_name(name, scope, role_guid, json_string_value(p->ref)) < 0) {
        az_fail(ex, "out of memory");
        return NULL;
    }
    mark = az_mark_text(ex, owner);
    desc = !mark         ? NULL
           : description ? json_sprintf("%s %s", description, json_string_value(mark))
                         : json_incref(mark);
    json_decref(mark);
    body = json_pack("{s:{s:o,s:O,s:s,s:o}}", "properties", "roleDefinitionId",
                     json_sprintf("/subscriptions/%s/providers/Microsoft.Authorization/"
                                  "roleDefinitions/%s",
                                  ex->sub, role_guid),
                     "principalId", p->id, "principalType", p->type, "description", desc);
    res = az_emit(
        ex, "Microsoft.Authorization/roleAssignments",
        json_sprintf("%s/providers/Microsoft.Authorization/roleAssignments/%s", scope, name), owner,
        body);
    if (res && p->dep && az_dep_json(res, p->dep) < 0)
        res = NULL;
    return res;
}

json_t *az_ref_scope_id(az_ex *ex, const char *ref)
{
    static const struct {
        const char *kind, *type;
    } scopes[] = {
        {"KeyVault", "Microsoft.KeyVault/vaults"},
        {"SharedStorage", "Microsoft.Storage/storageAccounts"},
        {"Identity", "Microsoft.ManagedIdentity/userAssignedIdentities"},
        {"Monitoring", "Microsoft.OperationalInsights/workspaces"},
        {"Network", "Microsoft.Network/virtualNetworks"},
    };
    const char *slash = ref ? strchr(ref, '/') : NULL;
    json_t *kind, *obj;
    size_t i;

    if (!slash) {
        az_fail(ex, "scope ref '%s' must be Kind/name", ref ? ref : "(none)");
        return NULL;
    }
    kind = json_sprintf("%.*s", (int)(slash - ref), ref);
    obj = kind ? az_find(ex, json_string_value(kind), slash + 1) : NULL;
    if (!obj) {
        json_decref(kind);
        az_fail(ex, "scope ref '%s' names no object of the repository", ref);
        return NULL;
    }
    for (i = 0; i < sizeof(scopes) / sizeof(scopes[0]); i++) {
        if (strcmp(scopes[i].kind, json_string_value(kind)) == 0) {
            json_decref(kind);
            return az_id_of(ex, obj, scopes[i].type, slash + 1);
        }
    }
    if (strcmp(json_string_value(kind), "Pool") == 0) {
        json_decref(kind);
        return az_pool_resource_id(ex, obj);
    }
    az_fail(ex, "scope ref '%s': a %s cannot be a role assignment scope", ref,
            json_string_value(kind));
    json_decref(kind);
    return NULL;
}

/* The scope {subscription: true} | {resourceGroup: name} | {ref: Kind/name}
 * as an ARM ID; the edge to the scope's resource goes to `deps`. */
static json_t *scope_id(az_ex *ex, const json_t *obj, const json_t *scope, json_t **dep)
{
    const char *rg = az_str(scope, "resourceGroup", NULL);
    const char *ref = az_str(scope, "ref", NULL);
    json_t *id;

    *dep = NULL;
    if (az_bool(scope, "subscription", 0))
        return json_sprintf("/subscriptions/%s", ex->sub);
    if (rg) {
        id = az_rg_id(ex, rg);
        if (id && az_find(ex, "ResourceGroup", rg))
            *dep = json_incref(id);
        return id;
    }
    if (ref) {
        id = az_ref_scope_id(ex, ref);
        *dep = json_incref(id);
        return id;
    }
    az_fail(ex, "%s/%s: spec.scope needs subscription, resourceGroup or ref",
            az_str(obj, "kind", "?"), az_str(obj, "name", "?"));
    return NULL;
}

int az_expand_role_assignment(az_ex *ex, const json_t *obj)
{
    const json_t *spec = json_object_get(obj, "spec");
    const char *role = az_str(spec, "role", NULL);
    const char *guid = az_role_guid(role);
    az_principal p = {0};
    json_t *owner = NULL, *scope = NULL, *dep = NULL, *res;
    int rc;

    if (!guid)
        return az_fail(ex,
                       "RoleAssignment/%s: unknown role '%s'; give a built-in role name "
                       "or a role definition GUID",
                       az_str(obj, "name", "?"), role ? role : "(none)");
    rc = az_principal_resolve(ex, json_object_get(spec, "principal"), &p);
    if (rc < 0)
        return rc;
    rc = DSVM_EINVALID;
    owner = az_owner(obj);
    scope = scope_id(ex, obj, json_object_get(spec, "scope"), &dep);
    if (!owner || !scope)
        goto out;
    res = az_emit_role_assignment(ex, json_string_value(scope), guid, &p, owner,
                                  az_str(spec, "description", NULL));
    if (res && (!dep || az_dep_json(res, dep) == 0))
        rc = 0;
out:
    az_principal_clear(&p);
    json_decref(owner);
    json_decref(scope);
    json_decref(dep);
    return rc;
}

/* Each parameter wrapped as {"value": ...}, as ARM wants it. */
static json_t *wrap_parameters(const json_t *params)
{
    json_t *out = json_object(), *v;
    const char *k;

    json_object_foreach((json_t *)params, k, v)
    {
        if (json_object_set_new(out, k, json_pack("{s:O}", "value", v)) < 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

int az_expand_policy_assignment(az_ex *ex, const json_t *obj)
{
    const json_t *spec = json_object_get(obj, "spec");
    const char *name = az_str(obj, "name", "");
    const char *def = az_str(spec, "definitionId", NULL);
    const char *msg = az_str(spec, "nonComplianceMessage", NULL);
    const char *identity = az_str(spec, "identity", "none");
    json_t *owner = az_owner(obj), *scope = NULL, *dep = NULL, *props, *body, *res;
    int rc = DSVM_EINVALID;

    if (!def) {
        az_fail(ex, "PolicyAssignment/%s: spec.definitionId is required", name);
        goto out;
    }
    scope = scope_id(ex, obj, json_object_get(spec, "scope"), &dep);
    if (!owner || !scope)
        goto out;
    props = json_pack("{s:s,s:s,s:o,s:{s:s,s:O}}", "policyDefinitionId", def, "enforcementMode",
                      az_str(spec, "enforcementMode", "Default"), "parameters",
                      wrap_parameters(json_object_get(spec, "parameters")), "metadata",
                      "dsvmops-instance", ex->instance, "dsvmops-object", owner);
    body = json_pack("{s:o}", "properties", props);
    if (!body)
        goto oom;
    if (az_str(spec, "displayName", NULL))
        json_object_set_new(props, "displayName", json_string(az_str(spec, "displayName", "")));
    if (az_str(spec, "description", NULL))
        json_object_set_new(props, "description", json_string(az_str(spec, "description", "")));
    if (msg)
        json_object_set_new(props, "nonComplianceMessages", json_pack("[{s:s}]", "message", msg));
    if (json_is_array(json_object_get(spec, "notScopes")))
        json_object_set(props, "notScopes", json_object_get(spec, "notScopes"));
    if (strcmp(identity, "system") == 0) {
        const char *loc = az_str(spec, "location", NULL);

        if (!loc) {
            json_decref(body);
            az_fail(ex, "PolicyAssignment/%s: identity: system needs spec.location", name);
            goto out;
        }
        json_object_set_new(body, "identity", json_pack("{s:s}", "type", "SystemAssigned"));
        json_object_set_new(body, "location", json_string(loc));
    } else if (az_str(spec, "location", NULL)) {
        json_object_set_new(body, "location", json_string(az_str(spec, "location", "")));
    }
    res = az_emit(ex, "Microsoft.Authorization/policyAssignments",
                  json_sprintf("%s/providers/Microsoft.Authorization/policyAssignments/%s",
                               json_string_value(scope), name),
                  owner, body);
    if (res && (!dep || az_dep_json(res, dep) == 0))
        rc = 0;
    goto out;
oom:
    az_fail(ex, "out of memory");
out:
    json_decref(owner);
    json_decref(scope);
    json_decref(dep);
    return rc;
}
