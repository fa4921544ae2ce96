/*
 * The per-type rules of every ARM type the Azure provider emits, as data
 * (issue 4 item 3, design rule 3): api-version, list path, read-only,
 * write-only, immutable and known-after-apply fields, server defaults,
 * normalisers and flags. One entry per type; no per-type code.
 *
 * api-versions are the current stable ones of the reference examples
 * (shared/reference/arm-examples, arm-wire.md section C).
 */
#include <string.h>
#include <strings.h>

#include "azure.h"

#define VP  "properties.virtualMachineProfile."
#define EXT VP "extensionProfile.extensions.*.properties."
#define NIC VP "networkProfile.networkInterfaceConfigurations.*.properties."
#define IPC NIC "ipConfigurations.*.properties."
#define SUB "/subscriptions/{subscription}/providers/"

#define ENVELOPE_RO "id", "name", "type", "etag", "systemData", "properties.provisioningState"

static const char *const none[] = {NULL};
static const dsvm_field_default no_defaults[] = {{NULL, NULL}};
static const char *const location_only[] = {"location", NULL};

/* Every tracked resource: IDs and locations compare loosely. */
static const dsvm_field_norm tracked_norms[] = {
    {"id", DSVM_NORM_ARM_ID}, {"location", DSVM_NORM_LOCATION}, {NULL, 0}};

/* Microsoft.Resources/resourceGroups */
static const char *const rg_ro[] = {ENVELOPE_RO, "managedBy", NULL};

/* Microsoft.ManagedIdentity/userAssignedIdentities */
static const char *const uami_ro[] = {
    ENVELOPE_RO,           "properties.tenantId",       "properties.principalId",
    "properties.clientId", "properties.isolationScope", NULL};
static const char *const uami_kaa[] = {"properties.principalId", "properties.clientId",
                                       "properties.tenantId", NULL};

/* Microsoft.KeyVault/vaults: access policies stay inline (rule 7). */
static const char *const kv_ro[] = {ENVELOPE_RO, "properties.vaultUri",
                                    "properties.hsmPoolResourceId",
                                    "properties.privateEndpointConnections", NULL};
static const char *const kv_immutable[] = {"location", "properties.tenantId", NULL};
static const char *const kv_kaa[] = {"properties.vaultUri", "properties.accessPolicies.*.objectId",
                                     NULL};
static const dsvm_field_default kv_defaults[] = {
    {"properties.enableSoftDelete", "true"},
    {"properties.softDeleteRetentionInDays", "90"},
    {"properties.enableRbacAuthorization", "false"},
    {"properties.publicNetworkAccess", "\"Enabled\""},
    {"properties.networkAcls.bypass", "\"AzureServices\""},
    {"properties.networkAcls.defaultAction", "\"Allow\""},
    {"properties.enabledForDeployment", "false"},
    {"properties.enabledForDiskEncryption", "false"},
    {"properties.enabledForTemplateDeployment", "false"},
    {NULL, NULL}};
static const dsvm_field_norm kv_norms[] = {
    {"id", DSVM_NORM_ARM_ID},
    {"location", DSVM_NORM_LOCATION},
    {"properties.tenantId", DSVM_NORM_CASE},
    {"properties.sku.name", DSVM_NORM_CASE},
    {"properties.accessPolicies.*.objectId", DSVM_NORM_CASE},
    {"properties.accessPolicies.*.tenantId", DSVM_NORM_CASE},
    {"properties.networkAcls.virtualNetworkRules.*.id", DSVM_NORM_ARM_ID},
    {NULL, 0}};

/* Microsoft.Storage/storageAccounts */
static const char *const st_ro[] = {ENVELOPE_RO,
                                    "properties.primaryEndpoints",
                                    "properties.secondaryEndpoints",
                                    "properties.primaryLocation",
                                    "properties.secondaryLocation",
                                    "properties.statusOfPrimary",
                                    "properties.statusOfSecondary",
                                    "properties.creationTime",
                                    "properties.keyCreationTime",
                                    NULL};
/* NFS lives on FileStorage and cannot move: kind is fixed at creation. */
static const char *const st_immutable[] = {"location", "kind", NULL};
static const dsvm_field_default st_defaults[] = {
    {"properties.allowBlobPublicAccess", "false"},
    {"properties.networkAcls.bypass", "\"AzureServices\""},
    {"properties.publicNetworkAccess", "\"Enabled\""},
    {NULL, NULL}};
static const dsvm_field_norm st_norms[] = {
    {"id", DSVM_NORM_ARM_ID},
    {"location", DSVM_NORM_LOCATION},
    {"sku.name", DSVM_NORM_CASE},
    {"properties.networkAcls.virtualNetworkRules.*.id", DSVM_NORM_ARM_ID},
    {NULL, 0}};

/* Microsoft.Storage/storageAccounts/fileServices/shares: listed per
 * account only, so read one GET each. */
static const char *const share_ro[] = {"id",
                                       "name",
                                       "type",
                                       "etag",
                                       "properties.lastModifiedTime",
                                       "properties.shareUsageBytes",
                                       "properties.leaseState",
                                       "properties.leaseStatus",
                                       "properties.leaseDuration",
                                       "properties.deleted",
                                       "properties.version",
                                       "properties.accessTierChangeTime",
                                       "properties.accessTierStatus",
                                       NULL};
static const char *const share_immutable[] = {"properties.enabledProtocols", NULL};
static const dsvm_field_default share_defaults[] = {{"properties.enabledProtocols", "\"SMB\""},
                                                    {NULL, NULL}};
static const dsvm_field_norm share_norms[] = {{"id", DSVM_NORM_ARM_ID}, {NULL, 0}};

/* Microsoft.Network/virtualNetworks: subnets stay inline. */
static const char *const vnet_ro[] = {ENVELOPE_RO,
                                      "properties.resourceGuid",
                                      "properties.subnets.*.id",
                                      "properties.subnets.*.etag",
                                      "properties.subnets.*.type",
                                      "properties.subnets.*.properties.provisioningState",
                                      "properties.subnets.*.properties.ipConfigurations",
                                      "properties.subnets.*.properties.serviceEndpoints.*."
                                      "provisioningState",
                                      NULL};
static const dsvm_field_default vnet_defaults[] = {
    {"properties.enableDdosProtection", "false"},
    {"properties.subnets.*.properties.privateEndpointNetworkPolicies", "\"Disabled\""},
    {"properties.subnets.*.properties.privateLinkServiceNetworkPolicies", "\"Enabled\""},
    {NULL, NULL}};
static const dsvm_field_norm vnet_norms[] = {
    {"id", DSVM_NORM_ARM_ID},
    {"location", DSVM_NORM_LOCATION},
    {"properties.subnets.*.properties.serviceEndpoints.*.locations.*", DSVM_NORM_LOCATION},
    {NULL, 0}};

/* Microsoft.Network/publicIPAddresses */
static const char *const pip_ro[] = {ENVELOPE_RO, "properties.resourceGuid", "properties.ipAddress",
                                     "properties.ipConfiguration", NULL};
static const char *const pip_immutable[] = {"location", "sku.name", "sku.tier", NULL};
static const char *const pip_kaa[] = {"properties.ipAddress", NULL};
static const dsvm_field_default pip_defaults[] = {{"properties.publicIPAddressVersion", "\"IPv4\""},
                                                  {"properties.idleTimeoutInMinutes", "4"},
                                                  {"sku.tier", "\"Regional\""},
                                                  {NULL, NULL}};

/* Microsoft.Network/loadBalancers */
static const char *const lb_ro[] = {ENVELOPE_RO,
                                    "properties.resourceGuid",
                                    "properties.frontendIPConfigurations.*.id",
                                    "properties.frontendIPConfigurations.*.etag",
                                    "properties.frontendIPConfigurations.*.type",
                                    "properties.backendAddressPools.*.id",
                                    "properties.backendAddressPools.*.etag",
                                    "properties.backendAddressPools.*.type",
                                    "properties.inboundNatPools.*.id",
                                    "properties.inboundNatPools.*.etag",
                                    "properties.inboundNatPools.*.type",
                                    "properties.outboundRules.*.id",
                                    "properties.outboundRules.*.etag",
                                    "properties.outboundRules.*.type",
                                    NULL};
static const char *const lb_immutable[] = {"location", "sku.name", NULL};
static const dsvm_field_default lb_defaults[] = {
    {"sku.tier", "\"Regional\""},
    {"properties.inboundNatPools.*.properties.idleTimeoutInMinutes", "4"},
    {"properties.inboundNatPools.*.properties.enableFloatingIP", "false"},
    {"properties.inboundNatPools.*.properties.enableTcpReset", "false"},
    {"properties.outboundRules.*.properties.idleTimeoutInMinutes", "4"},
    {"properties.outboundRules.*.properties.enableTcpReset", "true"},
    {NULL, NULL}};
static const dsvm_field_norm lb_norms[] = {
    {"id", DSVM_NORM_ARM_ID},
    {"location", DSVM_NORM_LOCATION},
    {"properties.frontendIPConfigurations.*.properties.publicIPAddress.id", DSVM_NORM_ARM_ID},
    {"properties.inboundNatPools.*.properties.frontendIPConfiguration.id", DSVM_NORM_ARM_ID},
    {"properties.outboundRules.*.properties.frontendIPConfigurations.*.id", DSVM_NORM_ARM_ID},
    {"properties.outboundRules.*.properties.backendAddressPool.id", DSVM_NORM_ARM_ID},
    {"properties.inboundNatPools.*.properties.protocol", DSVM_NORM_CASE},
    {NULL, 0}};

/* Microsoft.Network/networkSecurityGroups */
static const char *const nsg_ro[] = {ENVELOPE_RO,
                                     "properties.resourceGuid",
                                     "properties.defaultSecurityRules",
                                     "properties.networkInterfaces",
                                     "properties.subnets",
                                     "properties.securityRules.*.id",
                                     "properties.securityRules.*.etag",
                                     "properties.securityRules.*.type",
                                     "properties.securityRules.*.properties.provisioningState",
                                     NULL};
static const dsvm_field_default nsg_defaults[] = {{"properties.flushConnection", "false"},
                                                  {NULL, NULL}};
static const dsvm_field_norm nsg_norms[] = {
    {"id", DSVM_NORM_ARM_ID},
    {"location", DSVM_NORM_LOCATION},
    {"properties.securityRules.*.properties.protocol", DSVM_NORM_CASE},
    {"properties.securityRules.*.properties.direction", DSVM_NORM_CASE},
    {"properties.securityRules.*.properties.access", DSVM_NORM_CASE},
    {NULL, 0}};

/* Microsoft.OperationalInsights/workspaces */
static const char *const law_ro[] = {ENVELOPE_RO,
                                     "properties.customerId",
                                     "properties.createdDate",
                                     "properties.modifiedDate",
                                     "properties.workspaceCapping",
                                     NULL};
static const char *const law_kaa[] = {"properties.customerId", NULL};
static const dsvm_field_default law_defaults[] = {
    {"properties.sku.name", "\"PerGB2018\""},
    {"properties.retentionInDays", "30"},
    {"properties.publicNetworkAccessForIngestion", "\"Enabled\""},
    {"properties.publicNetworkAccessForQuery", "\"Enabled\""},
    {NULL, NULL}};
static const dsvm_field_norm law_norms[] = {{"id", DSVM_NORM_ARM_ID},
                                            {"location", DSVM_NORM_LOCATION},
                                            {"properties.sku.name", DSVM_NORM_CASE},
                                            {NULL, 0}};

/* Microsoft.Insights/dataCollectionRules */
static const char *const dcr_ro[] = {ENVELOPE_RO,
                                     "properties.immutableId",
                                     "properties.endpoints",
                                     "properties.metadata",
                                     "properties.destinations.logAnalytics.*.workspaceId",
                                     NULL};
static const dsvm_field_norm dcr_norms[] = {
    {"id", DSVM_NORM_ARM_ID},
    {"location", DSVM_NORM_LOCATION},
    {"properties.destinations.logAnalytics.*.workspaceResourceId", DSVM_NORM_ARM_ID},
    {NULL, 0}};

/* Microsoft.Insights/dataCollectionRuleAssociations: an extension
 * resource on the scale set; no subscription-wide list. */
static const char *const dcra_ro[] = {ENVELOPE_RO, "properties.metadata", NULL};
static const dsvm_field_norm dcra_norms[] = {
    {"id", DSVM_NORM_ARM_ID}, {"properties.dataCollectionRuleId", DSVM_NORM_ARM_ID}, {NULL, 0}};

/* Microsoft.Compute/virtualMachineScaleSets: extensions stay inline. */
static const char *const vmss_ro[] = {ENVELOPE_RO,
                                      "properties.uniqueId",
                                      "properties.timeCreated",
                                      "identity.principalId",
                                      "identity.tenantId",
                                      "identity.userAssignedIdentities.*.principalId",
                                      "identity.userAssignedIdentities.*.clientId",
                                      VP "storageProfile.imageReference.exactVersion",
                                      VP "osProfile.secrets",
                                      VP "osProfile.requireGuestProvisionSignal",
                                      EXT "provisioningState",
                                      NULL};
static const char *const vmss_wo[] = {VP "osProfile.adminPassword", VP "osProfile.customData",
                                      EXT "protectedSettings", NULL};
static const char *const vmss_immutable[] = {"location",
                                             "properties.orchestrationMode",
                                             VP "osProfile.computerNamePrefix",
                                             VP "osProfile.adminUsername",
                                             VP "storageProfile.osDisk.createOption",
                                             NULL};
static const char *const vmss_kaa[] = {EXT "protectedSettingsFromKeyVault.secretUrl", NULL};
static const dsvm_field_default vmss_defaults[] = {
    {"sku.tier", "\"Standard\""},
    {"properties.orchestrationMode", "\"Uniform\""},
    {"properties.upgradePolicy.mode", "\"Manual\""},
    {"properties.overprovision", "true"},
    {"properties.singlePlacementGroup", "true"},
    {VP "osProfile.linuxConfiguration.provisionVMAgent", "true"},
    {VP "osProfile.windowsConfiguration.provisionVMAgent", "true"},
    {VP "osProfile.windowsConfiguration.enableAutomaticUpdates", "true"},
    {VP "storageProfile.osDisk.caching", "\"ReadWrite\""},
    {NIC "enableAcceleratedNetworking", "false"},
    {NIC "enableIPForwarding", "false"},
    {IPC "privateIPAddressVersion", "\"IPv4\""},
    {EXT "autoUpgradeMinorVersion", "true"},
    {EXT "enableAutomaticUpgrade", "false"},
    {EXT "suppressFailures", "false"},
    {NULL, NULL}};
static const dsvm_field_norm vmss_norms[] = {
    {"id", DSVM_NORM_ARM_ID},
    {"location", DSVM_NORM_LOCATION},
    {"sku.name", DSVM_NORM_CASE},
    {"identity.type", DSVM_NORM_CASE},
    {"identity.userAssignedIdentities", DSVM_NORM_IDENTITY_KEYS},
    {IPC "subnet.id", DSVM_NORM_ARM_ID},
    {IPC "loadBalancerBackendAddressPools.*.id", DSVM_NORM_ARM_ID},
    {IPC "loadBalancerInboundNatPools.*.id", DSVM_NORM_ARM_ID},
    {NIC "networkSecurityGroup.id", DSVM_NORM_ARM_ID},
    {EXT "protectedSettingsFromKeyVault.sourceVault.id", DSVM_NORM_ARM_ID},
    {EXT "settings.authentication.managedIdentity.identifier-value", DSVM_NORM_ARM_ID},
    {VP "storageProfile.osDisk.managedDisk.storageAccountType", DSVM_NORM_CASE},
    {NULL, 0}};

/* Microsoft.Batch/batchAccounts */
static const char *const ba_ro[] = {ENVELOPE_RO,
                                    "properties.accountEndpoint",
                                    "properties.nodeManagementEndpoint",
                                    "properties.dedicatedCoreQuota",
                                    "properties.dedicatedCoreQuotaPerVMFamily",
                                    "properties.dedicatedCoreQuotaPerVMFamilyEnforced",
                                    "properties.lowPriorityCoreQuota",
                                    "properties.poolQuota",
                                    "properties.activeJobAndJobScheduleQuota",
                                    "properties.autoStorage.lastKeySync",
                                    NULL};
static const char *const ba_immutable[] = {"location", "properties.poolAllocationMode", NULL};
static const dsvm_field_default ba_defaults[] = {
    {"properties.poolAllocationMode", "\"BatchService\""},
    {"properties.publicNetworkAccess", "\"Enabled\""},
    {NULL, NULL}};

/* Microsoft.Batch/batchAccounts/pools: listed per account only. */
static const char *const bp_ro[] = {"id",
                                    "name",
                                    "type",
                                    "etag",
                                    "properties.provisioningState",
                                    "properties.provisioningStateTransitionTime",
                                    "properties.allocationState",
                                    "properties.allocationStateTransitionTime",
                                    "properties.creationTime",
                                    "properties.lastModified",
                                    "properties.currentDedicatedNodes",
                                    "properties.currentLowPriorityNodes",
                                    "properties.resizeOperationStatus",
                                    "properties.autoScaleRun",
                                    "identity.userAssignedIdentities.*.principalId",
                                    "identity.userAssignedIdentities.*.clientId",
                                    NULL};
static const char *const bp_immutable[] = {
    "properties.vmSize", "properties.deploymentConfiguration",
    "properties.networkConfiguration.subnetId", "properties.mountConfiguration", NULL};
static const dsvm_field_default bp_defaults[] = {
    {"properties.interNodeCommunication", "\"Disabled\""},
    {"properties.taskSlotsPerNode", "1"},
    {"properties.taskSchedulingPolicy.nodeFillType", "\"Spread\""},
    {NULL, NULL}};
static const dsvm_field_norm bp_norms[] = {
    {"id", DSVM_NORM_ARM_ID},
    {"properties.vmSize", DSVM_NORM_CASE},
    {"identity.userAssignedIdentities", DSVM_NORM_IDENTITY_KEYS},
    {"properties.networkConfiguration.subnetId", DSVM_NORM_ARM_ID},
    {"properties.deploymentConfiguration.virtualMachineConfiguration.extensions.*.settings."
     "authentication.managedIdentity.identifier-value",
     DSVM_NORM_ARM_ID},
    {NULL, 0}};

/* Microsoft.Authorization/roleAssignments: the name is derived, so
 * principal, role and scope are fixed: a change is a new assignment. */
static const char *const ra_ro[] = {"id",
                                    "name",
                                    "type",
                                    "properties.scope",
                                    "properties.createdOn",
                                    "properties.updatedOn",
                                    "properties.createdBy",
                                    "properties.updatedBy",
                                    "properties.delegatedManagedIdentityResourceId",
                                    NULL};
static const char *const ra_immutable[] = {"properties.roleDefinitionId", "properties.principalId",
                                           NULL};
static const char *const ra_kaa[] = {"properties.principalId", NULL};
static const dsvm_field_norm ra_norms[] = {{"id", DSVM_NORM_ARM_ID},
                                           {"properties.roleDefinitionId", DSVM_NORM_ROLE_DEF_ID},
                                           {"properties.principalId", DSVM_NORM_CASE},
                                           {"properties.principalType", DSVM_NORM_CASE},
                                           {NULL, 0}};

/* Microsoft.Authorization/policyAssignments */
static const char *const pa_ro[] = {"id",
                                    "name",
                                    "type",
                                    "systemData",
                                    "properties.scope",
                                    "identity.principalId",
                                    "identity.tenantId",
                                    "properties.metadata.createdBy",
                                    "properties.metadata.createdOn",
                                    "properties.metadata.updatedBy",
                                    "properties.metadata.updatedOn",
                                    NULL};
static const dsvm_field_default pa_defaults[] = {{"properties.enforcementMode", "\"Default\""},
                                                 {NULL, NULL}};
static const dsvm_field_norm pa_norms[] = {{"id", DSVM_NORM_ARM_ID},
                                           {"location", DSVM_NORM_LOCATION},
                                           {"properties.policyDefinitionId", DSVM_NORM_ARM_ID},
                                           {"properties.notScopes.*", DSVM_NORM_ARM_ID},
                                           {NULL, 0}};

/* Microsoft.Insights/autoscalesettings: interactive pools with autoscale.
 * properties.name echoes the resource name. */
static const char *const as_ro[] = {ENVELOPE_RO, "properties.name", NULL};
static const dsvm_field_default as_defaults[] = {
    {"properties.enabled", "true"}, {"properties.notifications", "[]"}, {NULL, NULL}};
static const dsvm_field_norm as_norms[] = {
    {"id", DSVM_NORM_ARM_ID},
    {"location", DSVM_NORM_LOCATION},
    {"properties.targetResourceUri", DSVM_NORM_ARM_ID},
    {"properties.profiles.*.rules.*.metricTrigger.metricResourceUri", DSVM_NORM_ARM_ID},
    {"properties.profiles.*.rules.*.metricTrigger.metricNamespace", DSVM_NORM_CASE},
    {NULL, 0}};

#define RULES(t, api, list, fl, ro, wo, imm, kaa, defs, norms)                                     \
    {                                                                                              \
        .version = DSVM_TYPE_RULES_VERSION, .type = (t), .api_version = (api),                     \
        .list_path = (list), .flags = (fl), .read_only = (ro), .write_only = (wo),                 \
        .immutable = (imm), .known_after_apply = (kaa), .server_defaults = (defs),                 \
        .normalisers = (norms)                                                                     \
    }

#define T  DSVM_TYPE_TAGGABLE
#define S  DSVM_TYPE_STATEFUL
#define E  DSVM_TYPE_ETAG
#define PL DSVM_TYPE_PUT_LRO
#define DL DSVM_TYPE_DELETE_LRO
#define NL DSVM_TYPE_NO_LIST

static const dsvm_type_rules types[] = {
    RULES("Microsoft.Resources/resourceGroups", "2025-04-01",
          "/subscriptions/{subscription}/resourcegroups", T | DL, rg_ro, none, location_only, none,
          no_defaults, tracked_norms),
    RULES("Microsoft.ManagedIdentity/userAssignedIdentities", "2024-11-30",
          SUB "Microsoft.ManagedIdentity/userAssignedIdentities", T, uami_ro, none, location_only,
          uami_kaa, no_defaults, tracked_norms),
    RULES("Microsoft.KeyVault/vaults", "2024-11-01", SUB "Microsoft.KeyVault/vaults", T | S | PL,
          kv_ro, none, kv_immutable, kv_kaa, kv_defaults, kv_norms),
    RULES("Microsoft.Storage/storageAccounts", "2025-06-01",
          SUB "Microsoft.Storage/storageAccounts", T | S | PL, st_ro, none, st_immutable, none,
          st_defaults, st_norms),
    RULES("Microsoft.Storage/storageAccounts/fileServices/shares", "2025-06-01", NULL, E | NL,
          share_ro, none, share_immutable, none, share_defaults, share_norms),
    RULES("Microsoft.Network/virtualNetworks", "2024-07-01",
          SUB "Microsoft.Network/virtualNetworks", T | E | PL | DL, vnet_ro, none, location_only,
          none, vnet_defaults, vnet_norms),
    RULES("Microsoft.Network/publicIPAddresses", "2024-07-01",
          SUB "Microsoft.Network/publicIPAddresses", T | E | PL | DL, pip_ro, none, pip_immutable,
          pip_kaa, pip_defaults, tracked_norms),
    RULES("Microsoft.Network/loadBalancers", "2024-07-01", SUB "Microsoft.Network/loadBalancers",
          T | E | PL | DL, lb_ro, none, lb_immutable, none, lb_defaults, lb_norms),
    RULES("Microsoft.Network/networkSecurityGroups", "2024-07-01",
          SUB "Microsoft.Network/networkSecurityGroups", T | E | PL | DL, nsg_ro, none,
          location_only, none, nsg_defaults, nsg_norms),
    RULES("Microsoft.OperationalInsights/workspaces", "2025-02-01",
          SUB "Microsoft.OperationalInsights/workspaces", T | E | PL | DL, law_ro, none,
          location_only, law_kaa, law_defaults, law_norms),
    RULES("Microsoft.Insights/dataCollectionRules", "2024-03-11",
          SUB "Microsoft.Insights/dataCollectionRules", T | E, dcr_ro, none, location_only, none,
          no_defaults, dcr_norms),
    RULES("Microsoft.Insights/dataCollectionRuleAssociations", "2024-03-11", NULL, E | NL, dcra_ro,
          none, none, none, no_defaults, dcra_norms),
    RULES("Microsoft.Compute/virtualMachineScaleSets", "2024-11-01",
          SUB "Microsoft.Compute/virtualMachineScaleSets", T | E | PL | DL, vmss_ro, vmss_wo,
          vmss_immutable, vmss_kaa, vmss_defaults, vmss_norms),
    RULES("Microsoft.Batch/batchAccounts", "2024-07-01", SUB "Microsoft.Batch/batchAccounts",
          T | S | PL | DL, ba_ro, none, ba_immutable, none, ba_defaults, tracked_norms),
    RULES("Microsoft.Batch/batchAccounts/pools", "2024-07-01", NULL, E | DL | NL, bp_ro, none,
          bp_immutable, none, bp_defaults, bp_norms),
    RULES("Microsoft.Authorization/roleAssignments", "2022-04-01",
          SUB "Microsoft.Authorization/roleAssignments", 0, ra_ro, none, ra_immutable, ra_kaa,
          no_defaults, ra_norms),
    RULES("Microsoft.Authorization/policyAssignments", "2025-03-01",
          SUB "Microsoft.Authorization/policyAssignments", 0, pa_ro, none, location_only, none,
          pa_defaults, pa_norms),
    RULES("Microsoft.Insights/autoscalesettings", "2022-10-01",
          SUB "Microsoft.Insights/autoscalesettings", T, as_ro, none, location_only, none,
          as_defaults, as_norms),
};

const dsvm_type_rules *az_types(uint32_t *n)
{
    *n = (uint32_t)(sizeof(types) / sizeof(types[0]));
    return types;
}

const dsvm_type_rules *az_type_find(const char *type)
{
    size_t i;

    for (i = 0; type && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcasecmp(types[i].type, type) == 0)
            return &types[i];
    return NULL;
}

static const char *find_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);

    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return hay;
    return NULL;
}

/* Walk an ARM ID: after the last "/providers/", the namespace is followed
 * by type/name pairs; the type is the namespace and every type segment.
 * An ID without "/providers/" is a subscription or a resource group. */
json_t *az_type_of_id(const char *id)
{
    const char *p = NULL, *s;
    json_t *out;
    size_t seg = 0;

    if (!id || id[0] != '/')
        return NULL;
    s = find_ci(id, "/providers/");
    while (s) {
        p = s;
        s = find_ci(s + 1, "/providers/");
    }
    if (!p) {
        if (find_ci(id, "/resourcegroups/"))
            return json_string("Microsoft.Resources/resourceGroups");
        return json_string("Microsoft.Resources/subscriptions");
    }
    p += strlen("/providers/");
    out = json_string("");
    while (out && *p) {
        size_t len = strcspn(p, "/");

        /* segment 0 is the namespace, odd segments types, even names */
        if (seg == 0 || seg % 2 == 1) {
            json_t *next =
                json_sprintf("%s%s%.*s", json_string_value(out), seg ? "/" : "", (int)len, p);

            json_decref(out);
            out = next;
        }
        p += len;
        if (*p == '/')
            p++;
        seg++;
    }
    if (out && seg < 3) {
        json_decref(out);
        return NULL;
    }
    return out;
}
