/*
 * The Azure provider's expand, through the real plugin loader: the prod
 * and dev example repositories (tests/data/azure/prod.json and dev.json, rendered from
 * examples/environments) and small variations of them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "dsvmops/error.h"
#include "provider_host.h"

#define SUB  "00000000-0000-0000-0000-000000000001"
#define RG   "/subscriptions/" SUB "/resourceGroups/rg-dsvm-prod-eastus"
#define PROV RG "/providers/"
#define CONTEXT                                                                                    \
    "{\"subscription\": \"" SUB "\", \"instance\": \"prod\", "                                     \
    "\"tenant\": \"00000000-0000-0000-0000-0000000000aa\"}"

static dsvm_plugin *load(void)
{
    dsvm_plugin *p = NULL;

    assert_int_equal(dsvm_plugin_load(&p, DSVM_TEST_PROVIDER_DIR, "azure"), 0);
    return p;
}

static json_t *fixture(const char *name)
{
    char path[4096];
    json_t *doc;

    snprintf(path, sizeof(path), "%s/azure/%s", DSVM_TEST_DATA_DIR, name);
    doc = json_load_file(path, 0, NULL);
    assert_non_null(doc);
    return doc;
}

/* Expand `objects` and return the parsed resources, or NULL on failure
 * (with the provider's message in dsvm_error_last()). */
static json_t *expand_objects(dsvm_plugin *p, const json_t *objects)
{
    char *text = json_dumps(objects, JSON_COMPACT), *out = NULL;
    json_t *doc = NULL;
    int rc;

    assert_non_null(text);
    rc = dsvm_plugin_expand(&out, p, CONTEXT, text);
    free(text);
    if (rc < 0)
        return NULL;
    doc = json_loads(out, 0, NULL);
    free(out);
    assert_true(json_is_array(doc));
    return doc;
}

static json_t *expand_fixture(dsvm_plugin *p, const char *name)
{
    json_t *objects = fixture(name);
    json_t *res = expand_objects(p, objects);

    json_decref(objects);
    assert_non_null(res);
    return res;
}

/* The resource with exactly this ID, or NULL. */
static json_t *by_id(const json_t *resources, const char *id)
{
    json_t *r;
    size_t i;

    json_array_foreach(resources, i, r)
    {
        if (strcmp(json_string_value(json_object_get(r, "id")), id) == 0)
            return r;
    }
    return NULL;
}

static json_t *must(const json_t *resources, const char *id)
{
    json_t *r = by_id(resources, id);

    if (!r)
        fail_msg("no resource %s", id);
    return r;
}

/* A dotted path into JSON; numeric segments index arrays. */
static json_t *at(const json_t *doc, const char *path)
{
    char buf[512], *seg, *save = NULL;
    json_t *cur = (json_t *)doc;

    snprintf(buf, sizeof(buf), "%s", path);
    for (seg = strtok_r(buf, ".", &save); cur && seg; seg = strtok_r(NULL, ".", &save))
        cur = json_is_array(cur) ? json_array_get(cur, strtoul(seg, NULL, 10))
                                 : json_object_get(cur, seg);
    return cur;
}

static const char *str_at(const json_t *doc, const char *path)
{
    return json_string_value(at(doc, path));
}

static int depends_on(const json_t *res, const char *id)
{
    json_t *d;
    size_t i;

    json_array_foreach(json_object_get(res, "dependsOn"), i, d)
    {
        if (strcasecmp(json_string_value(d), id) == 0)
            return 1;
    }
    return 0;
}

static size_t count_type(const json_t *resources, const char *type)
{
    json_t *r;
    size_t i, n = 0;

    json_array_foreach(resources, i, r)
    {
        if (strcmp(str_at(r, "type"), type) == 0)
            n++;
    }
    return n;
}

/* The extension named `name` in a scale set body, or NULL. */
static json_t *extension(const json_t *vmss, const char *name)
{
    json_t *e;
    size_t i;

    json_array_foreach(
        at(vmss, "body.properties.virtualMachineProfile.extensionProfile.extensions"), i, e)
    {
        if (strcmp(str_at(e, "name"), name) == 0)
            return e;
    }
    return NULL;
}

/* The decoded boot script of a scale set; free() it. */
static char *boot_script(const json_t *vmss)
{
    const char *b64 = str_at(extension(vmss, "dsvmops-boot"), "properties.settings.script");
    size_t len;
    char *out;
    int n;

    assert_non_null(b64);
    len = strlen(b64);
    out = calloc(1, len + 1);
    assert_non_null(out);
    n = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)b64, (int)len);
    assert_true(n > 0);
    return out;
}

static void expand_prod_emits_every_kind(void **state)
{
    dsvm_plugin *p = load();
    json_t *res = expand_fixture(p, "prod.json");

    (void)state;
    assert_string_equal(str_at(must(res, RG), "type"), "Microsoft.Resources/resourceGroups");
    assert_string_equal(
        str_at(must(res, PROV "Microsoft.ManagedIdentity/userAssignedIdentities/id-nlp-pool"),
               "object"),
        "Identity/id-nlp-pool");
    must(res, PROV "Microsoft.KeyVault/vaults/kv-dsvm-prod");
    must(res, PROV "Microsoft.Storage/storageAccounts/stdsvmprodnfs");
    must(res, PROV "Microsoft.Storage/storageAccounts/stdsvmprodnfs/fileServices/default/shares/"
                   "datasets");
    must(res, PROV "Microsoft.Storage/storageAccounts/stdsvmprodsmb/fileServices/default/shares/"
                   "projects");
    must(res, PROV "Microsoft.Network/virtualNetworks/vnet-dsvm-prod");
    must(res, PROV "Microsoft.OperationalInsights/workspaces/log-dsvm-prod");
    must(res, PROV "Microsoft.Insights/dataCollectionRules/log-dsvm-prod-dcr");
    must(res, PROV "Microsoft.Compute/virtualMachineScaleSets/nlp-gpu");
    must(res, PROV "Microsoft.Compute/virtualMachineScaleSets/vision-gpu");
    must(res, PROV "Microsoft.Compute/virtualMachineScaleSets/nlp-gpu/providers/"
                   "Microsoft.Insights/dataCollectionRuleAssociations/nlp-gpu-dcra");
    must(res, PROV "Microsoft.Network/publicIPAddresses/nlp-gpu-pip");
    must(res, PROV "Microsoft.Network/loadBalancers/nlp-gpu-lb");
    must(res, PROV "Microsoft.Network/networkSecurityGroups/vision-gpu-nsg");
    must(res, RG "/providers/Microsoft.Authorization/policyAssignments/allowed-locations");
    /* DomainJoin creates nothing of its own. */
    assert_int_equal(count_type(res, "Microsoft.Compute/virtualMachineScaleSets"), 2);
    assert_int_equal(count_type(res, "Microsoft.Batch/batchAccounts"), 1);
    assert_int_equal(count_type(res, "Microsoft.Batch/batchAccounts/pools"), 1);
    /* 3 vault readers (rbac) + 5 RoleAssignment objects */
    assert_int_equal(count_type(res, "Microsoft.Authorization/roleAssignments"), 8);
    assert_int_equal(count_type(res, "Microsoft.Authorization/policyAssignments"), 2);
    must(res, PROV "Microsoft.Insights/autoscalesettings/vision-gpu-autoscale");
    assert_int_equal(count_type(res, "Microsoft.Insights/autoscalesettings"), 1);
    assert_int_equal(json_array_size(res), 36);
    json_decref(res);
    dsvm_plugin_free(p);
}

static void every_resource_has_rules_and_api_version(void **state)
{
    static const char *const fixtures[] = {"prod.json", "dev.json"};
    dsvm_plugin *p = load();
    size_t f, i;
    json_t *r;

    (void)state;
    for (f = 0; f < 2; f++) {
        json_t *res = expand_fixture(p, fixtures[f]);

        json_array_foreach(res, i, r)
        {
            const dsvm_type_rules *rules = dsvm_plugin_type_rules(p, str_at(r, "type"));

            if (!rules)
                fail_msg("no rules for %s", str_at(r, "type"));
            assert_non_null(rules->api_version);
            assert_string_equal(str_at(r, "apiVersion"), rules->api_version);
            /* a list path, or explicitly none */
            assert_true((rules->list_path != NULL) != ((rules->flags & DSVM_TYPE_NO_LIST) != 0));
            assert_non_null(rules->read_only);
            assert_non_null(rules->normalisers);
            assert_true(json_is_array(json_object_get(r, "dependsOn")));
            assert_true(json_is_object(json_object_get(r, "writeOnly")));
            assert_true(json_is_object(json_object_get(r, "body")));
        }
        json_decref(res);
    }
    dsvm_plugin_free(p);
}

static void linux_scale_set_body(void **state)
{
    dsvm_plugin *p = load();
    json_t *res = expand_fixture(p, "prod.json");
    json_t *vmss = must(res, PROV "Microsoft.Compute/virtualMachineScaleSets/nlp-gpu");
    const char *ipc = "body.properties.virtualMachineProfile.networkProfile."
                      "networkInterfaceConfigurations.0.properties.ipConfigurations.0.properties";
    char path[512];
    json_t *ext;

    (void)state;
    assert_string_equal(str_at(vmss, "body.location"), "eastus");
    assert_string_equal(str_at(vmss, "body.sku.name"), "Standard_NC24ads_A100_v4");
    assert_int_equal(json_integer_value(at(vmss, "body.sku.capacity")), 4);
    assert_string_equal(
        str_at(vmss, "body.properties.virtualMachineProfile.storageProfile.imageReference.offer"),
        "ubuntu-2204");
    assert_string_equal(
        str_at(vmss, "body.properties.virtualMachineProfile.storageProfile.imageReference.sku"),
        "2204-gen2");
    assert_string_equal(str_at(vmss, "body.properties.virtualMachineProfile.storageProfile."
                                     "imageReference.publisher"),
                        "microsoft-dsvm");
    assert_string_equal(
        str_at(vmss, "body.properties.virtualMachineProfile.storageProfile.imageReference.version"),
        "latest");
    /* identities keyed by ARM ID; Entra login adds the system identity */
    assert_string_equal(str_at(vmss, "body.identity.type"), "SystemAssigned, UserAssigned");
    assert_non_null(json_object_get(at(vmss, "body.identity.userAssignedIdentities"),
                                    PROV "Microsoft.ManagedIdentity/userAssignedIdentities/"
                                         "id-nlp-pool"));
    assert_true(json_is_true(
        at(vmss, "body.properties.virtualMachineProfile.securityProfile.encryptionAtHost")));
    assert_string_equal(str_at(vmss, "body.properties.upgradePolicy.mode"), "Manual");
    assert_true(json_is_true(at(vmss, "body.properties.virtualMachineProfile.osProfile."
                                      "linuxConfiguration.disablePasswordAuthentication")));
    assert_non_null(strstr(str_at(vmss, "body.properties.virtualMachineProfile.osProfile."
                                        "linuxConfiguration.ssh.publicKeys.0.keyData"),
                           "nlp-break-glass"));
    /* inline extensions for Linux, none for Windows */
    ext = extension(vmss, "AADSSHLoginForLinux");
    assert_non_null(ext);
    assert_string_equal(str_at(ext, "properties.publisher"), "Microsoft.Azure.ActiveDirectory");
    ext = extension(vmss, "AzureMonitorLinuxAgent");
    assert_non_null(ext);
    assert_string_equal(str_at(ext, "properties.settings.authentication.managedIdentity."
                                    "identifier-value"),
                        PROV "Microsoft.ManagedIdentity/userAssignedIdentities/id-nlp-pool");
    ext = extension(vmss, "dsvmops-boot");
    assert_non_null(ext);
    assert_string_equal(str_at(ext, "properties.type"), "CustomScript");
    assert_string_equal(str_at(ext, "properties.publisher"), "Microsoft.Azure.Extensions");
    assert_non_null(str_at(ext, "properties.settings.script"));
    assert_null(extension(vmss, "JsonADDomainExtension"));
    assert_null(extension(vmss, "IaaSAntimalware"));
    assert_null(extension(vmss, "AADLoginForWindows"));
    /* NIC: subnet of the declared network, LB pools, NSG */
    snprintf(path, sizeof(path), "%s.subnet.id", ipc);
    assert_string_equal(str_at(vmss, path),
                        PROV "Microsoft.Network/virtualNetworks/vnet-dsvm-prod/subnets/pools");
    snprintf(path, sizeof(path), "%s.loadBalancerBackendAddressPools.0.id", ipc);
    assert_string_equal(str_at(vmss, path),
                        PROV "Microsoft.Network/loadBalancers/nlp-gpu-lb/backendAddressPools/be");
    snprintf(path, sizeof(path), "%s.loadBalancerInboundNatPools.1.id", ipc);
    assert_string_equal(str_at(vmss, path),
                        PROV "Microsoft.Network/loadBalancers/nlp-gpu-lb/inboundNatPools/jupyter");
    assert_string_equal(str_at(vmss, "body.properties.virtualMachineProfile.networkProfile."
                                     "networkInterfaceConfigurations.0.properties."
                                     "networkSecurityGroup.id"),
                        PROV "Microsoft.Network/networkSecurityGroups/nlp-gpu-nsg");
    assert_int_equal(json_object_size(json_object_get(vmss, "writeOnly")), 0);
    json_decref(res);
    dsvm_plugin_free(p);
}

static void linux_boot_script_mounts_nfs_without_secrets(void **state)
{
    dsvm_plugin *p = load();
    json_t *res = expand_fixture(p, "prod.json");
    json_t *vmss = must(res, PROV "Microsoft.Compute/virtualMachineScaleSets/nlp-gpu");
    char *script = boot_script(vmss);

    (void)state;
    assert_non_null(strstr(script, "stdsvmprodnfs.file.$st:/stdsvmprodnfs/datasets"));
    assert_non_null(strstr(script, "'/mnt/home' nfs vers=4,minorversion=1"));
    assert_non_null(strstr(script, "msi_res_id=$mi"));
    assert_null(strstr(script, "realm join")); /* nlp-gpu does not join AD */
    free(script);
    json_decref(res);
    dsvm_plugin_free(p);
}

/* Both CPU rules: one metric trigger on the scale set, one step of one. */
static void assert_cpu_rule(const json_t *rule, const char *vmss, const char *op, int threshold,
                            const char *direction)
{
    assert_string_equal(str_at(rule, "metricTrigger.metricName"), "Percentage CPU");
    assert_string_equal(str_at(rule, "metricTrigger.metricResourceUri"), vmss);
    assert_string_equal(str_at(rule, "metricTrigger.timeGrain"), "PT1M");
    assert_string_equal(str_at(rule, "metricTrigger.statistic"), "Average");
    assert_string_equal(str_at(rule, "metricTrigger.timeWindow"), "PT10M");
    assert_string_equal(str_at(rule, "metricTrigger.timeAggregation"), "Average");
    assert_string_equal(str_at(rule, "metricTrigger.operator"), op);
    assert_int_equal(json_integer_value(at(rule, "metricTrigger.threshold")), threshold);
    assert_string_equal(str_at(rule, "scaleAction.direction"), direction);
    assert_string_equal(str_at(rule, "scaleAction.type"), "ChangeCount");
    assert_string_equal(str_at(rule, "scaleAction.value"), "1");
    assert_string_equal(str_at(rule, "scaleAction.cooldown"), "PT5M");
}

static void autoscale_setting_targets_the_scale_set(void **state)
{
    dsvm_plugin *p = load();
    json_t *res = expand_fixture(p, "prod.json");
    const char *vmss = PROV "Microsoft.Compute/virtualMachineScaleSets/vision-gpu";
    json_t *as = must(res, PROV "Microsoft.Insights/autoscalesettings/vision-gpu-autoscale");
    json_t *profiles = at(as, "body.properties.profiles");

    (void)state;
    assert_string_equal(str_at(as, "type"), "Microsoft.Insights/autoscalesettings");
    assert_string_equal(str_at(as, "apiVersion"), "2022-10-01");
    assert_string_equal(str_at(as, "object"), "Pool/vision-gpu");
    assert_string_equal(str_at(as, "body.location"), "eastus");
    assert_string_equal(str_at(as, "body.properties.targetResourceUri"), vmss);
    assert_true(json_is_true(at(as, "body.properties.enabled")));
    assert_string_equal(str_at(as, "body.tags.dsvmops-object"), "Pool/vision-gpu");
    assert_non_null(str_at(as, "body.tags.dsvmops-instance"));
    /* autoscale: {min: 1, max: 6}; ARM takes capacities as strings */
    assert_int_equal(json_array_size(profiles), 1);
    assert_string_equal(str_at(profiles, "0.capacity.minimum"), "1");
    assert_string_equal(str_at(profiles, "0.capacity.maximum"), "6");
    assert_string_equal(str_at(profiles, "0.capacity.default"), "1");
    assert_int_equal(json_array_size(at(profiles, "0.rules")), 2);
    assert_cpu_rule(at(profiles, "0.rules.0"), vmss, "GreaterThan", 75, "Increase");
    assert_cpu_rule(at(profiles, "0.rules.1"), vmss, "LessThan", 25, "Decrease");
    assert_true(depends_on(as, vmss));
    assert_true(depends_on(as, RG));
    assert_null(json_object_get(as, "ignoreFields"));
    /* a pool with a fixed capacity gets no autoscale setting */
    assert_null(by_id(res, PROV "Microsoft.Insights/autoscalesettings/nlp-gpu-autoscale"));
    json_decref(res);
    dsvm_plugin_free(p);
}

static void no_autoscale_no_setting(void **state)
{
    dsvm_plugin *p = load();
    json_t *res = expand_fixture(p, "dev.json");

    (void)state;
    assert_true(count_type(res, "Microsoft.Compute/virtualMachineScaleSets") > 0);
    assert_int_equal(count_type(res, "Microsoft.Insights/autoscalesettings"), 0);
    json_decref(res);
    dsvm_plugin_free(p);
}

static void windows_scale_set_body(void **state)
{
    dsvm_plugin *p = load();
    json_t *res = expand_fixture(p, "prod.json");
    json_t *vmss = must(res, PROV "Microsoft.Compute/virtualMachineScaleSets/vision-gpu");
    const char *vault = PROV "Microsoft.KeyVault/vaults/kv-dsvm-prod";
    json_t *ad, *wo;
    const char *kaa;

    (void)state;
    assert_string_equal(
        str_at(vmss, "body.properties.virtualMachineProfile.storageProfile.imageReference.offer"),
        "dsvm-win-2022");
    assert_string_equal(str_at(vmss, "body.identity.type"), "UserAssigned");
    assert_true(strlen(str_at(vmss, "body.properties.virtualMachineProfile.osProfile."
                                    "computerNamePrefix")) <= 9);
    assert_int_equal(json_integer_value(at(vmss, "body.sku.capacity")), 1); /* autoscale.min */
    /* the autoscale setting owns the capacity once the scale set exists */
    assert_int_equal(json_array_size(json_object_get(vmss, "ignoreFields")), 1);
    assert_string_equal(str_at(vmss, "ignoreFields.0"), "sku.capacity");
    ad = extension(vmss, "JsonADDomainExtension");
    assert_non_null(ad);
    assert_string_equal(str_at(ad, "properties.settings.Name"), "corp.contoso.com");
    assert_string_equal(str_at(ad, "properties.settings.Options"), "3");
    assert_null(at(ad, "properties.protectedSettings"));
    assert_string_equal(str_at(ad, "properties.protectedSettingsFromKeyVault.sourceVault.id"),
                        vault);
    kaa = str_at(ad, "properties.protectedSettingsFromKeyVault.secretUrl.$knownAfterApply");
    assert_non_null(kaa);
    assert_non_null(strstr(kaa, "vaults/kv-dsvm-prod#properties.vaultUri+secrets/"
                                "ad-join-protected-settings"));
    assert_non_null(extension(vmss, "IaaSAntimalware"));
    assert_non_null(extension(vmss, "AzureMonitorWindowsAgent"));
    assert_null(extension(vmss, "AADSSHLoginForLinux"));
    assert_null(extension(vmss, "AzureMonitorLinuxAgent"));
    assert_string_equal(str_at(extension(vmss, "dsvmops-boot"), "properties.type"),
                        "CustomScriptExtension");
    /* The admin password is a write-only vault reference, not in the body. */
    assert_null(at(vmss, "body.properties.virtualMachineProfile.osProfile.adminPassword"));
    wo = json_object_get(json_object_get(vmss, "writeOnly"),
                         "properties.virtualMachineProfile.osProfile.adminPassword");
    assert_string_equal(str_at(wo, "keyVault"), "kv-dsvm-prod");
    assert_string_equal(str_at(wo, "secret"), "vision-local-admin");
    /* The SMB key is a template reference for the protected command. */
    wo = json_object_get(json_object_get(vmss, "writeOnly"),
                         "properties.virtualMachineProfile.extensionProfile.extensions.2."
                         "properties.protectedSettings.commandToExecute");
    assert_non_null(wo);
    assert_string_equal(str_at(wo, "secret"), "stdsvmprodsmb-key");
    assert_non_null(strstr(str_at(wo, "template"), "{{secret}}"));
    assert_string_equal(str_at(vmss, "body.properties.virtualMachineProfile.extensionProfile."
                                     "extensions.2.name"),
                        "dsvmops-boot");
    assert_int_equal(json_array_size(json_object_get(vmss, "secretRefs")), 2);
    assert_string_equal(str_at(vmss, "secretRefs.0.vault"), vault);
    assert_true(depends_on(vmss, vault));
    json_decref(res);
    dsvm_plugin_free(p);
}

/* Walk every value: no key that names a secret holds a string. */
static void assert_no_secret_values(const json_t *v, const char *where)
{
    static const char *const keys[] = {"adminPassword",     "Password",   "password",
                                       "protectedSettings", "accountKey", "storageAccountKey",
                                       "customData"};
    const char *k;
    json_t *c;
    size_t i;

    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, c)
        {
            for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
                if (strcmp(k, keys[i]) == 0)
                    fail_msg("%s: body field '%s' is set", where, k);
            assert_no_secret_values(c, where);
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, c)
        {
            assert_no_secret_values(c, where);
        }
    }
}

static void no_secret_literal_anywhere(void **state)
{
    dsvm_plugin *p = load();
    json_t *objects = fixture("prod.json"), *res, *r, *o;
    char *text;
    size_t i;

    (void)state;
    /* A marker stands in for every secret name: whatever the host fetches
     * from the vault must not be something expand could have inlined. */
    json_array_foreach(objects, i, o)
    {
        if (strcmp(str_at(o, "kind"), "SharedStorage") == 0 &&
            json_object_get(at(o, "spec"), "accountKey"))
            json_object_set_new(at(o, "spec.accountKey"), "secret",
                                json_string("SECRET-MARKER-smb"));
    }
    res = expand_objects(p, objects);
    assert_non_null(res);
    json_array_foreach(res, i, r)
    {
        assert_no_secret_values(json_object_get(r, "body"), str_at(r, "id"));
    }
    /* The secret's name appears only as a reference, never in a body. */
    json_array_foreach(res, i, r)
    {
        text = json_dumps(json_object_get(r, "body"), JSON_COMPACT);
        assert_null(strstr(text, "SECRET-MARKER"));
        assert_null(strstr(text, "vision-local-admin"));
        free(text);
    }
    json_decref(objects);
    json_decref(res);
    dsvm_plugin_free(p);
}

static void role_assignment_names_are_stable_and_from_references(void **state)
{
    dsvm_plugin *p = load();
    json_t *a = expand_fixture(p, "prod.json"), *b, *objects, *o, *ra;
    size_t i;

    (void)state;
    /* UUIDv5(ns, lower(scope)|role GUID|principal ref), cross-checked with
     * Python's uuid.uuid5 in the dsvmops namespace. */
    ra = must(a, RG "/providers/Microsoft.Authorization/roleAssignments/"
                    "55ddbe00-4f4a-5f5c-a191-d3109cec4806");
    assert_string_equal(str_at(ra, "object"), "RoleAssignment/nlp-team-reader");
    assert_string_equal(str_at(ra, "body.properties.principalType"), "Group");
    assert_string_equal(str_at(ra, "body.properties.roleDefinitionId"),
                        "/subscriptions/" SUB "/providers/Microsoft.Authorization/"
                        "roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7");
    ra = must(a, PROV "Microsoft.KeyVault/vaults/kv-dsvm-prod/providers/"
                      "Microsoft.Authorization/roleAssignments/"
                      "eecb686a-d689-5ac1-b65e-1dc16d2c9ae9");
    assert_string_equal(str_at(ra, "body.properties.principalType"), "ServicePrincipal");
    /* the principalId of a new identity is known only after apply */
    assert_non_null(strstr(str_at(ra, "body.properties.principalId.$knownAfterApply"),
                           "id-nlp-pool#properties.principalId"));

    /* Same names on a second run, and after unrelated identity changes. */
    objects = fixture("prod.json");
    json_array_foreach(objects, i, o)
    {
        if (strcmp(str_at(o, "kind"), "Identity") == 0)
            json_object_set_new(at(o, "spec"), "tags", json_pack("{s:s}", "changed", "yes"));
    }
    b = expand_objects(p, objects);
    assert_non_null(b);
    assert_int_equal(json_array_size(a), json_array_size(b));
    for (i = 0; i < json_array_size(a); i++)
        assert_string_equal(str_at(json_array_get(a, i), "id"), str_at(json_array_get(b, i), "id"));
    json_decref(objects);
    json_decref(a);
    json_decref(b);
    dsvm_plugin_free(p);
}

static void key_vault_rbac_true_gives_role_assignments(void **state)
{
    dsvm_plugin *p = load();
    json_t *res = expand_fixture(p, "prod.json"), *r;
    const char *vault = PROV "Microsoft.KeyVault/vaults/kv-dsvm-prod";
    json_t *kv = must(res, vault);
    size_t i, n = 0;

    (void)state;
    assert_true(json_is_true(at(kv, "body.properties.enableRbacAuthorization")));
    assert_null(at(kv, "body.properties.accessPolicies"));
    assert_string_equal(str_at(kv, "body.properties.sku.family"), "A");
    assert_string_equal(str_at(kv, "body.properties.tenantId"),
                        "00000000-0000-0000-0000-0000000000aa");
    assert_true(json_is_true(at(kv, "body.properties.enablePurgeProtection")));
    assert_string_equal(str_at(kv, "body.properties.networkAcls.defaultAction"), "Deny");
    assert_string_equal(str_at(kv, "body.properties.networkAcls.ipRules.0.value"),
                        "203.0.113.0/24");
    assert_string_equal(str_at(kv, "body.properties.networkAcls.virtualNetworkRules.1.id"),
                        PROV "Microsoft.Network/virtualNetworks/vnet-dsvm-prod/subnets/batch");
    json_array_foreach(res, i, r)
    {
        if (strcmp(str_at(r, "object"), "KeyVault/kv-dsvm-prod") != 0 ||
            strcmp(str_at(r, "type"), "Microsoft.Authorization/roleAssignments") != 0)
            continue;
        n++;
        assert_true(strncmp(str_at(r, "id"), vault, strlen(vault)) == 0);
        assert_non_null(strstr(str_at(r, "body.properties.roleDefinitionId"),
                               "4633458b-17de-408a-b874-0445c86b69e6"));
        assert_true(depends_on(r, vault));
    }
    assert_int_equal(n, 3);
    json_decref(res);
    dsvm_plugin_free(p);
}

static void key_vault_rbac_false_gives_access_policies(void **state)
{
    dsvm_plugin *p = load();
    json_t *res = expand_fixture(p, "dev.json");
    json_t *kv = must(res, "/subscriptions/" SUB "/resourceGroups/rg-dsvm-dev-westeurope/"
                           "providers/Microsoft.KeyVault/vaults/kv-dsvm-dev");
    const char *identity = "/subscriptions/" SUB "/resourceGroups/rg-dsvm-dev-westeurope/"
                           "providers/Microsoft.ManagedIdentity/userAssignedIdentities/"
                           "id-dev-sandbox";

    (void)state;
    assert_true(json_is_false(at(kv, "body.properties.enableRbacAuthorization")));
    assert_int_equal(json_array_size(at(kv, "body.properties.accessPolicies")), 1);
    assert_non_null(strstr(str_at(kv, "body.properties.accessPolicies.0.objectId."
                                      "$knownAfterApply"),
                           "id-dev-sandbox#properties.principalId"));
    assert_string_equal(str_at(kv, "body.properties.accessPolicies.0.tenantId"),
                        "00000000-0000-0000-0000-0000000000aa");
    assert_string_equal(str_at(kv, "body.properties.accessPolicies.0.permissions.secrets.0"),
                        "get");
    assert_string_equal(str_at(kv, "body.properties.accessPolicies.0.permissions.secrets.1"),
                        "list");
    /* purgeProtection: false is never sent (it can only be switched on) */
    assert_null(at(kv, "body.properties.enablePurgeProtection"));
    assert_int_equal(json_integer_value(at(kv, "body.properties.softDeleteRetentionInDays")), 7);
    assert_true(depends_on(kv, identity));
    assert_int_equal(count_type(res, "Microsoft.Authorization/roleAssignments"), 0);
    /* the pool using the identity waits for the vault that grants it */
    assert_true(depends_on(must(res, "/subscriptions/" SUB "/resourceGroups/"
                                     "rg-dsvm-dev-westeurope/providers/Microsoft.Compute/"
                                     "virtualMachineScaleSets/dev-sandbox"),
                           str_at(kv, "id")));
    json_decref(res);
    dsvm_plugin_free(p);
}

/* A copy of Pool/nightly-train named `name`, optionally in `location`. */
static json_t *batch_pool_copy(const json_t *objects, const char *name, const char *location)
{
    json_t *o, *copy = NULL;
    size_t i;

    json_array_foreach(objects, i, o)
    {
        if (strcmp(str_at(o, "name"), "nightly-train") == 0)
            copy = json_deep_copy(o);
    }
    assert_non_null(copy);
    json_object_set_new(copy, "name", json_string(name));
    if (location)
        json_object_set_new(at(copy, "spec"), "location", json_string(location));
    return copy;
}

static void batch_pools_share_one_account_per_group_and_region(void **state)
{
    dsvm_plugin *p = load();
    json_t *objects = fixture("prod.json"), *res, *acct, *r;
    const char *acct_id;
    size_t i;

    (void)state;
    json_array_append_new(objects, batch_pool_copy(objects, "nightly-eval", NULL));
    json_array_append_new(objects, batch_pool_copy(objects, "nightly-same", "East US"));
    json_array_append_new(objects, batch_pool_copy(objects, "west-train", "westus3"));
    res = expand_objects(p, objects);
    assert_non_null(res);
    assert_int_equal(count_type(res, "Microsoft.Batch/batchAccounts"), 2);
    assert_int_equal(count_type(res, "Microsoft.Batch/batchAccounts/pools"), 4);
    acct = NULL;
    json_array_foreach(res, i, r)
    {
        if (strcmp(str_at(r, "type"), "Microsoft.Batch/batchAccounts") == 0 &&
            strcmp(str_at(r, "body.location"), "eastus") == 0)
            acct = r;
    }
    assert_non_null(acct);
    acct_id = str_at(acct, "id");
    assert_string_equal(str_at(acct, "object"), "ResourceGroup/rg-dsvm-prod-eastus");
    assert_string_equal(str_at(acct, "body.tags.dsvmops-object"),
                        "ResourceGroup/rg-dsvm-prod-eastus");
    /* name: "ba" + 10 hex digits, a valid Batch account name */
    assert_int_equal(strlen(strrchr(acct_id, '/') + 1), 12);
    json_array_foreach(res, i, r)
    {
        const char *name = strrchr(str_at(r, "id"), '/') + 1;

        if (strcmp(str_at(r, "type"), "Microsoft.Batch/batchAccounts/pools") != 0)
            continue;
        if (strcmp(name, "west-train") == 0) {
            assert_false(depends_on(r, acct_id));
            continue;
        }
        /* "East US" and "eastus" are one region: one account */
        assert_true(strncmp(str_at(r, "id"), acct_id, strlen(acct_id)) == 0);
        assert_true(depends_on(r, acct_id));
        assert_string_equal(str_at(r, "body.properties.deploymentConfiguration."
                                      "virtualMachineConfiguration.nodeAgentSkuId"),
                            "batch.node.ubuntu 22.04");
        assert_string_equal(str_at(r, "body.properties.scaleSettings.autoScale."
                                      "evaluationInterval"),
                            "PT15M");
        assert_non_null(json_object_get(at(r, "body.identity.userAssignedIdentities"),
                                        PROV "Microsoft.ManagedIdentity/"
                                             "userAssignedIdentities/id-nightly-batch"));
        assert_string_equal(str_at(r, "body.properties.mountConfiguration.0."
                                      "nfsMountConfiguration.relativeMountPath"),
                            "datasets");
    }
    json_decref(objects);
    json_decref(res);
    dsvm_plugin_free(p);
}

static int visit(const json_t *res, json_t *state, const char *id)
{
    json_t *r = NULL, *d, *mark = json_object_get(state, id);
    size_t i;

    if (mark)
        return json_integer_value(mark) == 2 ? 0 : -1; /* 1: on the stack: a cycle */
    json_object_set_new(state, id, json_integer(1));
    json_array_foreach(res, i, d)
    {
        if (strcasecmp(str_at(d, "id"), id) == 0)
            r = d;
    }
    json_array_foreach(json_object_get(r, "dependsOn"), i, d)
    {
        if (visit(res, state, json_string_value(d)) < 0)
            return -1;
    }
    json_object_set_new(state, id, json_integer(2));
    return 0;
}

static void dependencies_follow_references(void **state)
{
    dsvm_plugin *p = load();
    json_t *res = expand_fixture(p, "prod.json"), *r, *seen = json_object();
    const char *identity = PROV "Microsoft.ManagedIdentity/userAssignedIdentities/id-vision-pool";
    const char *access = PROV "Microsoft.KeyVault/vaults/kv-dsvm-prod/providers/"
                              "Microsoft.Authorization/roleAssignments/"
                              "172e0a42-7291-5ac2-8fd3-5340419ae48d";
    json_t *vmss = must(res, PROV "Microsoft.Compute/virtualMachineScaleSets/vision-gpu");
    json_t *nlp = must(res, PROV "Microsoft.Compute/virtualMachineScaleSets/nlp-gpu");
    size_t i;

    (void)state;
    /* RG -> identity -> vault access naming it -> pool using both */
    assert_true(depends_on(must(res, identity), RG));
    assert_true(depends_on(must(res, access), identity));
    assert_true(depends_on(must(res, access), PROV "Microsoft.KeyVault/vaults/kv-dsvm-prod"));
    assert_true(depends_on(vmss, access));
    assert_true(depends_on(vmss, identity));
    assert_true(depends_on(vmss, RG));
    /* network, storage and monitoring before the pools */
    assert_true(depends_on(nlp, PROV "Microsoft.Network/virtualNetworks/vnet-dsvm-prod"));
    assert_true(depends_on(nlp, PROV "Microsoft.Storage/storageAccounts/stdsvmprodnfs"));
    assert_true(depends_on(nlp, PROV "Microsoft.Storage/storageAccounts/stdsvmprodnfs/"
                                     "fileServices/default/shares/home"));
    r = must(res, PROV "Microsoft.Compute/virtualMachineScaleSets/nlp-gpu/providers/"
                       "Microsoft.Insights/dataCollectionRuleAssociations/nlp-gpu-dcra");
    assert_true(depends_on(r, PROV "Microsoft.Insights/dataCollectionRules/log-dsvm-prod-dcr"));
    assert_true(depends_on(r, str_at(nlp, "id")));
    assert_true(depends_on(must(res, PROV "Microsoft.Insights/dataCollectionRules/"
                                          "log-dsvm-prod-dcr"),
                           PROV "Microsoft.OperationalInsights/workspaces/log-dsvm-prod"));
    /* role assignment on a pool waits for the pool */
    assert_true(depends_on(must(res, PROV "Microsoft.Compute/virtualMachineScaleSets/nlp-gpu/"
                                          "providers/Microsoft.Authorization/roleAssignments/"
                                          "f860498d-cfba-5d34-8da0-e1152c388243"),
                           str_at(nlp, "id")));
    /* every edge points at a resource of the graph, and there is no cycle */
    json_array_foreach(res, i, r)
    {
        json_t *d;
        size_t k;

        json_array_foreach(json_object_get(r, "dependsOn"), k, d)
        {
            if (!by_id(res, json_string_value(d)))
                fail_msg("%s depends on %s, which expand did not emit", str_at(r, "id"),
                         json_string_value(d));
        }
        assert_int_equal(visit(res, seen, str_at(r, "id")), 0);
    }
    json_decref(seen);
    json_decref(res);
    dsvm_plugin_free(p);
}

static void ownership_marks_everywhere(void **state)
{
    dsvm_plugin *p = load();
    json_t *res = expand_fixture(p, "prod.json"), *r;
    size_t i;

    (void)state;
    json_array_foreach(res, i, r)
    {
        const dsvm_type_rules *rules = dsvm_plugin_type_rules(p, str_at(r, "type"));
        const char *owner = str_at(r, "object");
        const char *type = str_at(r, "type");

        if (rules->flags & DSVM_TYPE_TAGGABLE) {
            assert_string_equal(str_at(r, "body.tags.dsvmops-instance"), "prod");
            assert_string_equal(str_at(r, "body.tags.dsvmops-object"), owner);
        } else if (strcmp(type, "Microsoft.Authorization/roleAssignments") == 0 ||
                   strcmp(type, "Microsoft.Insights/dataCollectionRuleAssociations") == 0) {
            assert_null(at(r, "body.tags"));
            assert_non_null(
                strstr(str_at(r, "body.properties.description"), "dsvmops-instance=prod"));
            assert_non_null(strstr(str_at(r, "body.properties.description"), owner));
        } else if (strcmp(type, "Microsoft.Authorization/policyAssignments") == 0) {
            assert_string_equal(str_at(r, "body.properties.metadata.dsvmops-object"), owner);
            assert_string_equal(str_at(r, "body.properties.metadata.dsvmops-instance"), "prod");
        } else if (strcmp(type, "Microsoft.Storage/storageAccounts/fileServices/shares") == 0) {
            /* share metadata keys must be C identifiers */
            assert_string_equal(str_at(r, "body.properties.metadata.dsvmops_object"), owner);
        } else if (strcmp(type, "Microsoft.Batch/batchAccounts/pools") == 0) {
            assert_string_equal(str_at(r, "body.properties.metadata.1.value"), owner);
        } else {
            fail_msg("no ownership mark checked for %s", type);
        }
    }
    /* a user description is kept in front of the mark */
    r = must(res, PROV "Microsoft.Compute/virtualMachineScaleSets/nlp-gpu/providers/"
                       "Microsoft.Authorization/roleAssignments/"
                       "f860498d-cfba-5d34-8da0-e1152c388243");
    assert_true(strncmp(str_at(r, "body.properties.description"),
                        "Team NLP signs in to its pool with Entra ID [dsvmops-", 50) == 0);
    /* user tags are kept next to the ownership tags */
    assert_string_equal(str_at(must(res, RG), "body.tags.costCenter"), "4711");
    json_decref(res);
    dsvm_plugin_free(p);
}

static void storage_and_policy_bodies(void **state)
{
    dsvm_plugin *p = load();
    json_t *res = expand_fixture(p, "prod.json"), *r;

    (void)state;
    r = must(res, PROV "Microsoft.Storage/storageAccounts/stdsvmprodnfs");
    assert_string_equal(str_at(r, "body.kind"), "FileStorage");
    assert_string_equal(str_at(r, "body.sku.name"), "Premium_LRS");
    assert_true(json_is_false(at(r, "body.properties.supportsHttpsTrafficOnly")));
    assert_string_equal(str_at(r, "body.properties.networkAcls.defaultAction"), "Deny");
    assert_int_equal(json_array_size(at(r, "body.properties.networkAcls.virtualNetworkRules")), 2);
    r = must(res, PROV "Microsoft.Storage/storageAccounts/stdsvmprodnfs/fileServices/default/"
                       "shares/datasets");
    assert_string_equal(str_at(r, "body.properties.enabledProtocols"), "NFS");
    assert_string_equal(str_at(r, "body.properties.rootSquash"), "RootSquash");
    assert_int_equal(json_integer_value(at(r, "body.properties.shareQuota")), 4096);
    assert_string_equal(str_at(r, "body.properties.accessTier"), "Premium");
    r = must(res, PROV "Microsoft.Storage/storageAccounts/stdsvmprodnfs/fileServices/default/"
                       "shares/home");
    assert_string_equal(str_at(r, "body.properties.rootSquash"), "NoRootSquash");
    r = must(res, PROV "Microsoft.Storage/storageAccounts/stdsvmprodsmb/fileServices/default/"
                       "shares/projects");
    assert_string_equal(str_at(r, "body.properties.enabledProtocols"), "SMB");
    assert_null(at(r, "body.properties.rootSquash"));
    r = must(res, RG "/providers/Microsoft.Authorization/policyAssignments/allowed-locations");
    assert_string_equal(str_at(r, "body.properties.parameters.listOfAllowedLocations.value.2"),
                        "westus3");
    assert_non_null(strstr(str_at(r, "body.properties.nonComplianceMessages.0.message"),
                           "approved for research data"));
    assert_string_equal(str_at(r, "body.properties.enforcementMode"), "Default");
    assert_true(depends_on(r, RG));
    r = must(res, PROV "Microsoft.Network/virtualNetworks/vnet-dsvm-prod");
    assert_string_equal(str_at(r, "body.properties.subnets.1.name"), "batch");
    assert_string_equal(str_at(r, "body.properties.subnets.1.properties.serviceEndpoints.1."
                                  "service"),
                        "Microsoft.KeyVault");
    r = must(res, PROV "Microsoft.Insights/dataCollectionRules/log-dsvm-prod-dcr");
    assert_string_equal(str_at(r, "body.properties.destinations.logAnalytics.0."
                                  "workspaceResourceId"),
                        PROV "Microsoft.OperationalInsights/workspaces/log-dsvm-prod");
    assert_string_equal(str_at(r, "body.properties.dataSources.syslog.0.facilityNames.3"), "kern");
    r = must(res, PROV "Microsoft.Network/loadBalancers/nlp-gpu-lb");
    assert_string_equal(str_at(r, "body.sku.name"), "Standard");
    assert_int_equal(json_integer_value(at(r, "body.properties.inboundNatPools.0.properties."
                                              "backendPort")),
                     22);
    assert_int_equal(json_integer_value(at(r, "body.properties.inboundNatPools.1.properties."
                                              "backendPort")),
                     8000);
    r = must(res, PROV "Microsoft.Network/networkSecurityGroups/vision-gpu-nsg");
    assert_string_equal(str_at(r, "body.properties.securityRules.0.properties."
                                  "destinationPortRange"),
                        "3389");
    assert_string_equal(str_at(r, "body.properties.securityRules.0.properties."
                                  "sourceAddressPrefixes.0"),
                        "10.0.0.0/8");
    r = must(res, PROV "Microsoft.Network/publicIPAddresses/vision-gpu-pip");
    assert_string_equal(str_at(r, "body.sku.name"), "Standard");
    assert_string_equal(str_at(r, "body.properties.publicIPAllocationMethod"), "Static");
    json_decref(res);
    dsvm_plugin_free(p);
}

static void pool_without_subnet_gets_its_own_network(void **state)
{
    dsvm_plugin *p = load();
    json_t *res = expand_fixture(p, "dev.json");
    const char *dev = "/subscriptions/" SUB "/resourceGroups/rg-dsvm-dev-westeurope/providers/";
    char id[512];
    json_t *vmss, *vnet, *st;

    (void)state;
    snprintf(id, sizeof(id), "%sMicrosoft.Network/virtualNetworks/dev-sandbox-vnet", dev);
    vnet = must(res, id);
    assert_string_equal(str_at(vnet, "object"), "Pool/dev-sandbox");
    snprintf(id, sizeof(id), "%sMicrosoft.Compute/virtualMachineScaleSets/dev-sandbox", dev);
    vmss = must(res, id);
    assert_true(depends_on(vmss, str_at(vnet, "id")));
    snprintf(id, sizeof(id), "%sMicrosoft.Storage/storageAccounts/stdsvmdevnfs", dev);
    st = must(res, id);
    /* defaults: NFS on Premium FileStorage, reachable from the pool */
    assert_string_equal(str_at(st, "body.kind"), "FileStorage");
    assert_string_equal(str_at(st, "body.sku.name"), "Premium_LRS");
    assert_string_equal(str_at(st, "body.location"), "westeurope");
    assert_non_null(strstr(str_at(st, "body.properties.networkAcls.virtualNetworkRules.0.id"),
                           "dev-sandbox-vnet/subnets/default"));
    json_decref(res);
    dsvm_plugin_free(p);
}

/* Expand prod with one change applied by `edit`; expect failure with a
 * message containing `want`. */
static void expect_error(json_t *objects, const char *want)
{
    dsvm_plugin *p = load();
    json_t *res = expand_objects(p, objects);

    assert_null(res);
    if (!strstr(dsvm_error_last()->message, want))
        fail_msg("message '%s' lacks '%s'", dsvm_error_last()->message, want);
    json_decref(objects);
    dsvm_plugin_free(p);
}

static json_t *prod_object(json_t *objects, const char *name)
{
    json_t *o;
    size_t i;

    json_array_foreach(objects, i, o)
    {
        if (strcmp(str_at(o, "name"), name) == 0)
            return o;
    }
    fail_msg("no object %s", name);
    return NULL;
}

static void bad_input_fails_with_a_message(void **state)
{
    json_t *objects;
    dsvm_plugin *p;
    char *out = NULL;

    (void)state;
    objects = fixture("prod.json");
    json_object_set_new(at(prod_object(objects, "nlp-gpu"), "spec"), "identities",
                        json_pack("[s]", "id-nobody"));
    expect_error(objects, "Identity 'id-nobody'");

    objects = fixture("prod.json");
    json_object_set_new(at(prod_object(objects, "nlp-gpu"), "spec"), "image",
                        json_string("ubuntu-1804"));
    expect_error(objects, "unknown image alias 'ubuntu-1804'");

    objects = fixture("prod.json");
    json_object_set_new(at(prod_object(objects, "nlp-team-reader"), "spec"), "role",
                        json_string("Janitor"));
    expect_error(objects, "unknown role 'Janitor'");

    objects = fixture("prod.json");
    json_object_set_new(at(prod_object(objects, "nlp-gpu"), "spec"), "subnet",
                        json_string("vnet-nowhere/pools"));
    expect_error(objects, "subnet 'vnet-nowhere/pools'");

    /* found by fuzzing: a protocol that is not a string */
    objects = fixture("prod.json");
    json_object_set_new(at(prod_object(objects, "nlp-gpu"), "spec.endpoint"), "protocols",
                        json_pack("[i]", 22));
    expect_error(objects, "unknown endpoint protocol '?'");

    p = load();
    assert_int_equal(dsvm_plugin_expand(&out, p, "{\"instance\": \"prod\"}", "[]"), DSVM_EINVALID);
    assert_non_null(strstr(dsvm_error_last()->message, "subscription"));
    assert_int_not_equal(dsvm_plugin_expand(&out, p, CONTEXT, "not json"), 0);
    dsvm_plugin_free(p);
}

static void explicit_image_and_linux_domain_join(void **state)
{
    dsvm_plugin *p = load();
    json_t *objects = fixture("prod.json"), *res, *vmss, *pool;
    char *script;

    (void)state;
    pool = prod_object(objects, "nlp-gpu");
    json_object_set_new(at(pool, "spec"), "domainJoin", json_string("corp-ad"));
    json_object_set_new(at(pool, "spec"), "image",
                        json_pack("{s:s,s:s,s:s,s:s}", "publisher", "microsoft-dsvm", "offer",
                                  "ubuntu-2004", "sku", "2004-gen2", "os", "linux"));
    res = expand_objects(p, objects);
    assert_non_null(res);
    vmss = must(res, PROV "Microsoft.Compute/virtualMachineScaleSets/nlp-gpu");
    assert_string_equal(
        str_at(vmss, "body.properties.virtualMachineProfile.storageProfile.imageReference.offer"),
        "ubuntu-2004");
    assert_string_equal(
        str_at(vmss, "body.properties.virtualMachineProfile.storageProfile.imageReference.version"),
        "latest");
    /* Linux joins AD through the boot script, never the JSON extension */
    assert_null(extension(vmss, "JsonADDomainExtension"));
    script = boot_script(vmss);
    assert_non_null(
        strstr(script, "secret 'kv-dsvm-prod' 'ad-join-protected-settings' | realm join"));
    assert_non_null(strstr(script, "--user='svc-dsvm-join@corp.contoso.com'"));
    free(script);
    assert_true(depends_on(vmss, PROV "Microsoft.KeyVault/vaults/kv-dsvm-prod"));
    assert_int_equal(json_object_size(json_object_get(vmss, "writeOnly")), 0);
    json_decref(objects);
    json_decref(res);
    dsvm_plugin_free(p);
}

static void rolling_upgrade_adds_policy_and_health_probe(void **state)
{
    dsvm_plugin *p = load();
    json_t *objects = fixture("prod.json"), *res, *vmss, *ext;

    (void)state;
    json_object_set_new(at(prod_object(objects, "nlp-gpu"), "spec"), "upgradePolicy",
                        json_string("Rolling"));
    res = expand_objects(p, objects);
    assert_non_null(res);
    vmss = must(res, PROV "Microsoft.Compute/virtualMachineScaleSets/nlp-gpu");
    assert_string_equal(str_at(vmss, "body.properties.upgradePolicy.mode"), "Rolling");
    assert_int_equal(json_integer_value(at(vmss, "body.properties.upgradePolicy."
                                                 "rollingUpgradePolicy.maxBatchInstancePercent")),
                     20);
    ext = extension(vmss, "ApplicationHealthLinux");
    assert_non_null(ext);
    assert_int_equal(json_integer_value(at(ext, "properties.settings.port")), 22);
    /* Manual pools carry no health probe */
    assert_null(extension(must(res, PROV "Microsoft.Compute/virtualMachineScaleSets/vision-gpu"),
                          "ApplicationHealthWindows"));
    json_decref(objects);
    json_decref(res);
    dsvm_plugin_free(p);
}

/* The role assignment of KeyVault/kv-dsvm-prod whose principal is `oid`. */
static json_t *vault_grant(const json_t *res, const char *oid)
{
    json_t *r;
    size_t i;

    json_array_foreach(res, i, r)
    {
        const char *pid = str_at(r, "body.properties.principalId");

        if (strcmp(str_at(r, "object"), "KeyVault/kv-dsvm-prod") == 0 && pid &&
            strcmp(pid, oid) == 0)
            return r;
    }
    return NULL;
}

static void principal_maps_as_vault_readers(void **state)
{
    dsvm_plugin *p = load();
    json_t *objects = fixture("prod.json"), *res, *upper, *lower, *dev, *kv;
    const char *oid = "6F1C2A4E-8D3B-4C5A-9E7F-1A2B3C4D5E6F";
    char *lower_name;

    (void)state;
    json_array_append_new(at(prod_object(objects, "kv-dsvm-prod"), "spec.readers"),
                          json_pack("{s:s,s:s}", "objectId", oid, "type", "User"));
    res = expand_objects(p, objects);
    upper = vault_grant(res, oid);
    assert_non_null(upper);
    assert_string_equal(str_at(upper, "body.properties.principalType"), "User");
    json_decref(objects);
    /* the name depends on the object ID, not on how it is spelled */
    objects = fixture("prod.json");
    json_array_append_new(
        at(prod_object(objects, "kv-dsvm-prod"), "spec.readers"),
        json_pack("{s:s,s:s}", "objectId", "6f1c2a4e-8d3b-4c5a-9e7f-1a2b3c4d5e6f", "type", "User"));
    lower_name = NULL;
    {
        json_t *res2 = expand_objects(p, objects);

        lower = vault_grant(res2, "6f1c2a4e-8d3b-4c5a-9e7f-1a2b3c4d5e6f");
        assert_non_null(lower);
        lower_name = strdup(str_at(lower, "id"));
        json_decref(res2);
    }
    assert_string_equal(str_at(upper, "id"), lower_name);
    free(lower_name);
    json_decref(objects);
    json_decref(res);

    /* rbac: false: a literal object ID in an access policy */
    objects = fixture("dev.json");
    json_array_append_new(at(prod_object(objects, "kv-dsvm-dev"), "spec.readers"),
                          json_pack("{s:s,s:s}", "objectId", oid, "type", "Group"));
    dev = expand_objects(p, objects);
    kv = must(dev, "/subscriptions/" SUB "/resourceGroups/rg-dsvm-dev-westeurope/providers/"
                   "Microsoft.KeyVault/vaults/kv-dsvm-dev");
    assert_int_equal(json_array_size(at(kv, "body.properties.accessPolicies")), 2);
    assert_string_equal(str_at(kv, "body.properties.accessPolicies.1.objectId"), oid);
    json_decref(objects);
    json_decref(dev);
    dsvm_plugin_free(p);
}

static void smb_mounts_read_keys_from_the_vault(void **state)
{
    dsvm_plugin *p = load();
    json_t *objects = fixture("prod.json"), *res, *vmss, *pool, *wo;
    char *script;

    (void)state;
    /* Linux pool mounting the SMB share, with a quote in its mount path */
    pool = prod_object(objects, "nlp-gpu");
    json_array_append_new(at(pool, "spec.sharedStorage"),
                          json_pack("{s:s,s:s,s:s}", "storage", "stdsvmprodsmb", "share",
                                    "projects", "mountPath", "/mnt/it's"));
    /* Batch pool mounting it too */
    json_array_append_new(at(prod_object(objects, "nightly-train"), "spec.sharedStorage"),
                          json_pack("{s:s,s:s,s:s}", "storage", "stdsvmprodsmb", "share",
                                    "projects", "mountPath", "/mnt/projects"));
    res = expand_objects(p, objects);
    assert_non_null(res);
    vmss = must(res, PROV "Microsoft.Compute/virtualMachineScaleSets/nlp-gpu");
    script = boot_script(vmss);
    /* the Linux boot script reads the key itself; dsvmops never does */
    assert_non_null(strstr(script, "\"$(secret 'kv-dsvm-prod' 'stdsvmprodsmb-key')\""));
    assert_non_null(strstr(script, "'/mnt/it'\\''s' cifs vers=3.1.1"));
    assert_int_equal(json_object_size(json_object_get(vmss, "writeOnly")), 0);
    assert_true(depends_on(vmss, PROV "Microsoft.KeyVault/vaults/kv-dsvm-prod"));
    free(script);
    /* Batch cannot fetch it: the key is a write-only reference */
    vmss = NULL;
    {
        json_t *r;
        size_t i;

        json_array_foreach(res, i, r)
        {
            if (strcmp(str_at(r, "type"), "Microsoft.Batch/batchAccounts/pools") == 0)
                vmss = r;
        }
    }
    assert_non_null(vmss);
    assert_string_equal(str_at(vmss, "body.properties.mountConfiguration.1."
                                     "azureFileShareConfiguration.azureFileUrl"),
                        "https://stdsvmprodsmb.file.core.windows.net/projects");
    assert_null(at(vmss, "body.properties.mountConfiguration.1.azureFileShareConfiguration."
                         "accountKey"));
    wo = json_object_get(json_object_get(vmss, "writeOnly"),
                         "properties.mountConfiguration.1.azureFileShareConfiguration."
                         "accountKey");
    assert_string_equal(str_at(wo, "secret"), "stdsvmprodsmb-key");
    json_decref(objects);
    json_decref(res);
    dsvm_plugin_free(p);
}

static void assignment_scopes_and_policy_identity(void **state)
{
    dsvm_plugin *p = load();
    json_t *objects = fixture("prod.json"), *res, *r, *o;
    size_t i;
    int seen_sub = 0, seen_id = 0;

    (void)state;
    json_object_set_new(at(prod_object(objects, "nlp-team-reader"), "spec"), "scope",
                        json_pack("{s:b}", "subscription", 1));
    json_object_set_new(at(prod_object(objects, "vision-team-reader"), "spec"), "scope",
                        json_pack("{s:s}", "ref", "Identity/id-vision-pool"));
    o = at(prod_object(objects, "allowed-locations"), "spec");
    json_object_set_new(o, "identity", json_string("system"));
    json_object_set_new(o, "location", json_string("eastus"));
    json_object_set_new(o, "notScopes", json_pack("[s]", RG "/providers/x/y/z"));
    res = expand_objects(p, objects);
    assert_non_null(res);
    json_array_foreach(res, i, r)
    {
        const char *owner = str_at(r, "object");

        if (strcmp(owner, "RoleAssignment/nlp-team-reader") == 0) {
            seen_sub = 1;
            assert_true(strncmp(str_at(r, "id"),
                                "/subscriptions/" SUB "/providers/Microsoft.Authorization/"
                                "roleAssignments/",
                                strlen("/subscriptions/" SUB "/providers/Microsoft."
                                       "Authorization/roleAssignments/")) == 0);
        } else if (strcmp(owner, "RoleAssignment/vision-team-reader") == 0) {
            seen_id = 1;
            assert_non_null(strstr(str_at(r, "id"), "userAssignedIdentities/id-vision-pool/"
                                                    "providers/Microsoft.Authorization/"));
            assert_true(depends_on(r, PROV "Microsoft.ManagedIdentity/userAssignedIdentities/"
                                           "id-vision-pool"));
        }
    }
    assert_true(seen_sub && seen_id);
    r = must(res, RG "/providers/Microsoft.Authorization/policyAssignments/allowed-locations");
    assert_string_equal(str_at(r, "body.identity.type"), "SystemAssigned");
    assert_string_equal(str_at(r, "body.location"), "eastus");
    assert_string_equal(str_at(r, "body.properties.notScopes.0"), RG "/providers/x/y/z");
    json_decref(objects);
    json_decref(res);
    dsvm_plugin_free(p);
}

static void missing_references_fail(void **state)
{
    json_t *objects;
    dsvm_plugin *p;
    char *out = NULL;
    char *text;

    (void)state;
    objects = fixture("prod.json");
    json_object_set_new(at(prod_object(objects, "nlp-gpu"), "spec"), "domainJoin",
                        json_string("no-such-domain"));
    expect_error(objects, "DomainJoin 'no-such-domain'");

    objects = fixture("prod.json");
    json_object_set_new(at(prod_object(objects, "vision-gpu"), "spec"), "domainJoin",
                        json_string("no-such-domain"));
    expect_error(objects, "DomainJoin 'no-such-domain'");

    objects = fixture("prod.json");
    json_object_set_new(at(prod_object(objects, "nlp-gpu"), "spec.security"), "monitoring",
                        json_string("log-nowhere"));
    expect_error(objects, "Monitoring 'log-nowhere'");

    objects = fixture("prod.json");
    json_object_set_new(at(prod_object(objects, "nlp-team-login"), "spec"), "scope",
                        json_pack("{s:s}", "ref", "DomainJoin/corp-ad"));
    expect_error(objects, "cannot be a role assignment scope");

    objects = fixture("prod.json");
    json_object_set_new(
        json_array_get(at(prod_object(objects, "vision-gpu"), "spec.sharedStorage"), 0),
        "mountPath", json_string("/mnt/x"));
    expect_error(objects, "drive letter");

    objects = fixture("prod.json");
    json_array_append_new(at(prod_object(objects, "vision-gpu"), "spec.sharedStorage"),
                          json_pack("{s:s,s:s,s:s}", "storage", "stdsvmprodnfs", "share",
                                    "datasets", "mountPath", "Y:"));
    expect_error(objects, "mount SMB shares");

    /* a vault needs the tenant */
    p = load();
    objects = fixture("dev.json");
    text = json_dumps(objects, JSON_COMPACT);
    assert_int_equal(
        dsvm_plugin_expand(&out, p, "{\"subscription\": \"" SUB "\", \"instance\": \"i\"}", text),
        DSVM_EINVALID);
    assert_non_null(strstr(dsvm_error_last()->message, "tenant"));
    free(text);
    json_decref(objects);
    dsvm_plugin_free(p);
}

static void ignore_fields_annotation_becomes_body_paths(void **state)
{
    dsvm_plugin *p = load();
    json_t *objects = fixture("prod.json"), *res, *r;

    (void)state;
    /* prod: nlp-gpu ignores spec.capacity */
    res = expand_objects(p, objects);
    r = must(res, PROV "Microsoft.Compute/virtualMachineScaleSets/nlp-gpu");
    assert_int_equal(json_array_size(json_object_get(r, "ignoreFields")), 1);
    assert_string_equal(str_at(r, "ignoreFields.0"), "sku.capacity");
    assert_null(json_object_get(must(res, PROV "Microsoft.Network/loadBalancers/nlp-gpu-lb"),
                                "ignoreFields"));
    json_decref(res);

    json_object_set_new(at(prod_object(objects, "nightly-train"), "annotations"),
                        "dsvmops.io/ignore-fields",
                        json_string(" spec.capacity , tags.team,spec.vmSize"));
    json_object_set_new(at(prod_object(objects, "kv-dsvm-prod"), "annotations"),
                        "dsvmops.io/ignore-fields", json_string("spec.tags.dataClassification"));
    res = expand_objects(p, objects);
    assert_non_null(res);
    {
        size_t i;

        json_array_foreach(res, i, r)
        {
            if (strcmp(str_at(r, "type"), "Microsoft.Batch/batchAccounts/pools") != 0)
                continue;
            /* untaggable: the tag entry does not apply, the others do */
            assert_int_equal(json_array_size(json_object_get(r, "ignoreFields")), 2);
            assert_string_equal(str_at(r, "ignoreFields.0"), "properties.scaleSettings");
            assert_string_equal(str_at(r, "ignoreFields.1"), "properties.vmSize");
        }
    }
    r = must(res, PROV "Microsoft.KeyVault/vaults/kv-dsvm-prod");
    assert_string_equal(str_at(r, "ignoreFields.0"), "tags.dataClassification");
    json_decref(res);
    json_decref(objects);
    dsvm_plugin_free(p);

    objects = fixture("prod.json");
    json_object_set_new(at(prod_object(objects, "nlp-gpu"), "annotations"),
                        "dsvmops.io/ignore-fields", json_string("spec.entraLogin"));
    expect_error(objects, "a Pool can ignore: tags.<key>, spec.capacity");
    objects = fixture("prod.json");
    json_object_set_new(at(prod_object(objects, "nlp-gpu"), "annotations"),
                        "dsvmops.io/ignore-fields", json_string("tags.dsvmops-object"));
    expect_error(objects, "ownership tag");
}

static void windows_entra_login_instead_of_domain_join(void **state)
{
    dsvm_plugin *p = load();
    json_t *objects = fixture("prod.json"), *res, *vmss, *ext;

    (void)state;
    json_object_del(at(prod_object(objects, "vision-gpu"), "spec"), "domainJoin");
    json_object_set_new(at(prod_object(objects, "vision-gpu"), "spec"), "entraLogin", json_true());
    res = expand_objects(p, objects);
    assert_non_null(res);
    vmss = must(res, PROV "Microsoft.Compute/virtualMachineScaleSets/vision-gpu");
    ext = extension(vmss, "AADLoginForWindows");
    assert_non_null(ext);
    assert_string_equal(str_at(ext, "properties.typeHandlerVersion"), "1.0");
    assert_null(extension(vmss, "JsonADDomainExtension"));
    assert_string_equal(str_at(vmss, "body.identity.type"), "SystemAssigned, UserAssigned");
    json_decref(objects);
    json_decref(res);
    dsvm_plugin_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(expand_prod_emits_every_kind),
        cmocka_unit_test(every_resource_has_rules_and_api_version),
        cmocka_unit_test(linux_scale_set_body),
        cmocka_unit_test(linux_boot_script_mounts_nfs_without_secrets),
        cmocka_unit_test(windows_scale_set_body),
        cmocka_unit_test(no_secret_literal_anywhere),
        cmocka_unit_test(role_assignment_names_are_stable_and_from_references),
        cmocka_unit_test(key_vault_rbac_true_gives_role_assignments),
        cmocka_unit_test(key_vault_rbac_false_gives_access_policies),
        cmocka_unit_test(batch_pools_share_one_account_per_group_and_region),
        cmocka_unit_test(dependencies_follow_references),
        cmocka_unit_test(ownership_marks_everywhere),
        cmocka_unit_test(storage_and_policy_bodies),
        cmocka_unit_test(pool_without_subnet_gets_its_own_network),
        cmocka_unit_test(bad_input_fails_with_a_message),
        cmocka_unit_test(explicit_image_and_linux_domain_join),
        cmocka_unit_test(rolling_upgrade_adds_policy_and_health_probe),
        cmocka_unit_test(principal_maps_as_vault_readers),
        cmocka_unit_test(smb_mounts_read_keys_from_the_vault),
        cmocka_unit_test(assignment_scopes_and_policy_identity),
        cmocka_unit_test(missing_references_fail),
        cmocka_unit_test(autoscale_setting_targets_the_scale_set),
        cmocka_unit_test(no_autoscale_no_setting),
        cmocka_unit_test(ignore_fields_annotation_becomes_body_paths),
        cmocka_unit_test(windows_entra_login_instead_of_domain_join),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
