/*
 * dsvmops.io/ignore-fields: the annotation names manifest fields
 * ("spec.capacity", "tags.costCenter"); the diff needs ARM body paths.
 * Which body path a manifest field becomes is the provider's knowledge,
 * so expand translates the annotation into "ignoreFields" on each
 * resource of the object, with this table. A field the table does not
 * know is an error that lists the ones it does.
 */
#include <string.h>

#include "dsvmops/error.h"
#include "expand.h"

#define VMSS       "Microsoft.Compute/virtualMachineScaleSets"
#define BATCH_POOL "Microsoft.Batch/batchAccounts/pools"

static const struct {
    const char *kind, *field, *type, *path;
} ignore_map[] = {
    {"Pool", "spec.capacity", VMSS, "sku.capacity"},
    {"Pool", "spec.capacity", BATCH_POOL, "properties.scaleSettings"},
    {"Pool", "spec.autoscale", VMSS, "sku.capacity"},
    {"Pool", "spec.autoscale", BATCH_POOL, "properties.scaleSettings"},
    {"Pool", "spec.vmSize", VMSS, "sku.name"},
    {"Pool", "spec.vmSize", BATCH_POOL, "properties.vmSize"},
    {"Pool", "spec.image", VMSS, "properties.virtualMachineProfile.storageProfile.imageReference"},
    {"Pool", "spec.image", BATCH_POOL,
     "properties.deploymentConfiguration.virtualMachineConfiguration.imageReference"},
    {"Pool", "spec.upgradePolicy", VMSS, "properties.upgradePolicy"},
    {"Pool", "spec.identities", VMSS, "identity"},
    {"Pool", "spec.identities", BATCH_POOL, "identity"},
    {"Pool", "spec.endpoint.allowFrom", "Microsoft.Network/networkSecurityGroups",
     "properties.securityRules"},
    {"KeyVault", "spec.publicNetworkAccess", "Microsoft.KeyVault/vaults",
     "properties.publicNetworkAccess"},
    {"KeyVault", "spec.networkAcls", "Microsoft.KeyVault/vaults", "properties.networkAcls"},
    {"KeyVault", "spec.softDeleteRetentionDays", "Microsoft.KeyVault/vaults",
     "properties.softDeleteRetentionInDays"},
    {"SharedStorage", "spec.publicNetworkAccess", "Microsoft.Storage/storageAccounts",
     "properties.publicNetworkAccess"},
    {"Monitoring", "spec.retentionDays", "Microsoft.OperationalInsights/workspaces",
     "properties.retentionInDays"},
    {"Network", "spec.subnets", "Microsoft.Network/virtualNetworks", "properties.subnets"},
    {"RoleAssignment", "spec.description", "Microsoft.Authorization/roleAssignments",
     "properties.description"},
    {"PolicyAssignment", "spec.parameters", "Microsoft.Authorization/policyAssignments",
     "properties.parameters"},
    {"PolicyAssignment", "spec.enforcementMode", "Microsoft.Authorization/policyAssignments",
     "properties.enforcementMode"},
};

static int add_path(az_ex *ex, json_t *res, const char *path)
{
    json_t *list = json_object_get(res, "ignoreFields"), *p;
    size_t i;

    if (!list) {
        list = json_array();
        if (az_set(ex, res, "ignoreFields", list) < 0)
            return DSVM_ENOMEM;
    }
    json_array_foreach(list, i, p)
    {
        if (strcmp(json_string_value(p), path) == 0)
            return 0;
    }
    return az_push(ex, list, json_string(path));
}

/* The fields the table knows for `kind`, for the error message. */
static json_t *known_fields(const char *kind)
{
    json_t *s = json_string("tags.<key>");
    size_t i;

    for (i = 0; s && i < sizeof(ignore_map) / sizeof(ignore_map[0]); i++) {
        json_t *next;

        if (strcmp(ignore_map[i].kind, kind) != 0 ||
            (i > 0 && strcmp(ignore_map[i - 1].field, ignore_map[i].field) == 0))
            continue;
        next = json_sprintf("%s, %s", json_string_value(s), ignore_map[i].field);
        json_decref(s);
        s = next;
    }
    return s;
}

/* Apply one manifest field to every resource of `owner`. */
static int apply_field(az_ex *ex, const json_t *obj, const char *owner, const char *field)
{
    const char *kind = az_str(obj, "kind", "");
    const char *tag = NULL;
    json_t *r, *known;
    size_t i, k;
    int matched = 0;

    if (strncmp(field, "spec.tags.", 10) == 0)
        tag = field + 5;
    else if (strncmp(field, "tags.", 5) == 0)
        tag = field;
    if (tag && strncmp(tag + 5, "dsvmops-", 8) == 0)
        return az_fail(ex, "%s: dsvmops.io/ignore-fields cannot ignore the ownership tag '%s'",
                       owner, tag + 5);
    json_array_foreach(ex->resources, i, r)
    {
        const char *type = az_str(r, "type", "");
        const dsvm_type_rules *rules = az_type_find(type);

        if (strcmp(az_str(r, "object", ""), owner) != 0)
            continue;
        if (tag) {
            if (rules && (rules->flags & DSVM_TYPE_TAGGABLE)) {
                matched = 1;
                if (add_path(ex, r, tag) < 0)
                    return DSVM_ENOMEM;
            }
            continue;
        }
        for (k = 0; k < sizeof(ignore_map) / sizeof(ignore_map[0]); k++) {
            if (strcmp(ignore_map[k].kind, kind) != 0 || strcmp(ignore_map[k].field, field) != 0)
                continue;
            matched = 1; /* the field is known even if this resource lacks it */
            if (strcmp(ignore_map[k].type, type) == 0 && add_path(ex, r, ignore_map[k].path) < 0)
                return DSVM_ENOMEM;
        }
    }
    if (matched || tag)
        return 0;
    known = known_fields(kind);
    az_fail(ex,
            "%s: dsvmops.io/ignore-fields names '%s', which has no Azure field; a %s can "
            "ignore: %s",
            owner, field, kind, known ? json_string_value(known) : "?");
    json_decref(known);
    return DSVM_EINVALID;
}

int az_apply_ignore_fields(az_ex *ex, const json_t *objects)
{
    const json_t *obj;
    size_t i;

    json_array_foreach(objects, i, obj)
    {
        const char *v =
            az_str(json_object_get(obj, "annotations"), "dsvmops.io/ignore-fields", NULL);
        json_t *owner;
        int rc = 0;

        if (!v)
            continue;
        owner = az_owner(obj);
        if (!owner)
            return az_fail(ex, "out of memory");
        while (rc == 0 && *v) {
            size_t len = strcspn(v, ","), n = len;
            const char *start = v;
            json_t *field;

            while (n && (*start == ' ' || *start == '\t')) {
                start++;
                n--;
            }
            while (n && (start[n - 1] == ' ' || start[n - 1] == '\t'))
                n--;
            field = json_stringn(start, n);
            if (!field)
                rc = az_fail(ex, "out of memory");
            else if (n)
                rc = apply_field(ex, obj, json_string_value(owner), json_string_value(field));
            json_decref(field);
            v += len;
            if (*v == ',')
                v++;
        }
        json_decref(owner);
        if (rc < 0)
            return rc;
    }
    return 0;
}
