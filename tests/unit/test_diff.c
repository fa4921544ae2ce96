/*
 * The field-level diff under per-type rules: what counts as a change and
 * what is noise.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "diff.h"

static const char *const ro[] = {"properties.provisioningState", "id", "etag",
                                 "properties.virtualMachineProfile.extensionProfile.extensions.*."
                                 "properties.provisioningState",
                                 NULL};
static const char *const wo[] = {"properties.virtualMachineProfile.osProfile.adminPassword", NULL};
static const char *const imm[] = {"location", "properties.platformFaultDomainCount", NULL};
static const char *const none[] = {NULL};
static const dsvm_field_default defs[] = {{"properties.overprovision", "true"},
                                          {"properties.upgradePolicy.mode", "\"Manual\""},
                                          {NULL, NULL}};
static const dsvm_field_norm norms[] = {
    {"location", DSVM_NORM_LOCATION},
    {"properties.virtualMachineProfile.networkProfile.subnet.id", DSVM_NORM_ARM_ID},
    {"properties.roleDefinitionId", DSVM_NORM_ROLE_DEF_ID},
    {"identity.userAssignedIdentities", DSVM_NORM_IDENTITY_KEYS},
    {NULL, 0}};
static const dsvm_type_rules rules = {
    .version = DSVM_TYPE_RULES_VERSION,
    .type = "Test/things",
    .api_version = "2024-01-01",
    .read_only = ro,
    .write_only = wo,
    .immutable = imm,
    .known_after_apply = none,
    .server_defaults = defs,
    .normalisers = norms,
};

static dsvm_diff *diff_of(const char *desired, const char *live)
{
    json_t *d = json_loads(desired, 0, NULL), *l = live ? json_loads(live, 0, NULL) : NULL;
    dsvm_diff *out = NULL;

    assert_non_null(d);
    assert_true(!live || l);
    assert_int_equal(dsvm_diff_resource(&out, d, l, &rules), 0);
    json_decref(d);
    json_decref(l);
    return out;
}

static void diff_ignores_server_added_and_read_only_fields(void **state)
{
    dsvm_diff *d = diff_of(
        "{\"location\":\"eastus\",\"tags\":{\"a\":\"1\"},\"sku\":{\"name\":\"Standard_NC6\"}}",
        "{\"id\":\"/x\",\"etag\":\"W/1\",\"location\":\"eastus\",\"tags\":{\"a\":\"1\"},"
        "\"sku\":{\"name\":\"Standard_NC6\",\"tier\":\"Standard\",\"capacity\":2},"
        "\"properties\":{\"provisioningState\":\"Succeeded\",\"uniqueId\":\"u\"}}");

    (void)state;
    assert_int_equal(d->n, 0);
    assert_null(d->replace_field);
    dsvm_diff_free(d);
}

static void diff_ignores_server_defaults_the_server_omits(void **state)
{
    dsvm_diff *d = diff_of("{\"properties\":{\"overprovision\":true,"
                           "\"upgradePolicy\":{\"mode\":\"Manual\"},\"notScopes\":[]}}",
                           "{\"properties\":{}}");

    (void)state;
    assert_int_equal(d->n, 0);
    dsvm_diff_free(d);
}

static void diff_reports_non_default_value_the_server_omits(void **state)
{
    dsvm_diff *d = diff_of("{\"properties\":{\"overprovision\":false}}", "{\"properties\":{}}");

    (void)state;
    assert_int_equal(d->n, 1);
    assert_string_equal(d->changes[0].path, "properties.overprovision");
    assert_null(d->changes[0].before);
    assert_true(json_is_false(d->changes[0].after));
    dsvm_diff_free(d);
}

static void diff_normalises_locations_ids_and_role_definitions(void **state)
{
    dsvm_diff *d = diff_of(
        "{\"location\":\"East US\",\"properties\":{\"roleDefinitionId\":"
        "\"/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/"
        "4633458b-17de-408a-b874-0445c86b69e6\",\"virtualMachineProfile\":{\"networkProfile\":"
        "{\"subnet\":{\"id\":\"/subscriptions/S/resourceGroups/RG/providers/"
        "Microsoft.Network/virtualNetworks/v/subnets/pools\"}}}},"
        "\"identity\":{\"userAssignedIdentities\":{\"/subscriptions/s/resourceGroups/rg/"
        "providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-a\":{}}}}",
        "{\"location\":\"eastus\",\"properties\":{\"roleDefinitionId\":"
        "\"/providers/Microsoft.Authorization/roleDefinitions/"
        "4633458B-17DE-408A-B874-0445C86B69E6\",\"virtualMachineProfile\":{\"networkProfile\":"
        "{\"subnet\":{\"id\":\"/subscriptions/s/resourcegroups/rg/providers/"
        "microsoft.network/virtualnetworks/v/subnets/pools\"}}}},"
        "\"identity\":{\"userAssignedIdentities\":{\"/subscriptions/s/resourcegroups/rg/"
        "providers/microsoft.managedidentity/userassignedidentities/id-a\":"
        "{\"principalId\":\"p\",\"clientId\":\"c\"}}}}");

    (void)state;
    assert_int_equal(d->n, 0);
    dsvm_diff_free(d);
}

static void diff_reports_identity_key_set_change(void **state)
{
    dsvm_diff *d = diff_of("{\"identity\":{\"userAssignedIdentities\":{\"/a\":{},\"/b\":{}}}}",
                           "{\"identity\":{\"userAssignedIdentities\":{\"/A\":{}}}}");

    (void)state;
    assert_int_equal(d->n, 1);
    assert_string_equal(d->changes[0].path, "identity.userAssignedIdentities");
    dsvm_diff_free(d);
}

static void diff_marks_immutable_change_as_replace(void **state)
{
    dsvm_diff *d = diff_of("{\"location\":\"westeurope\",\"tags\":{\"a\":\"2\"}}",
                           "{\"location\":\"eastus\",\"tags\":{\"a\":\"1\"}}");

    (void)state;
    assert_int_equal(d->n, 2);
    assert_string_equal(d->replace_field, "location");
    assert_true(d->changes[0].immutable);
    assert_false(d->changes[1].immutable);
    assert_string_equal(json_string_value(d->changes[1].before), "1");
    assert_string_equal(json_string_value(d->changes[1].after), "2");
    dsvm_diff_free(d);
}

static void diff_skips_write_only_and_known_after_apply(void **state)
{
    dsvm_diff *d = diff_of("{\"properties\":{\"virtualMachineProfile\":{\"osProfile\":"
                           "{\"adminPassword\":\"x\",\"adminUsername\":\"dsvmadmin\"}},"
                           "\"principalId\":{\"$knownAfterApply\":\"identity principalId\"}}}",
                           "{\"properties\":{\"virtualMachineProfile\":{\"osProfile\":"
                           "{\"adminUsername\":\"dsvmadmin\"}},\"principalId\":\"abc\"}}");

    (void)state;
    assert_int_equal(d->n, 0);
    dsvm_diff_free(d);
}

static void diff_compares_arrays_element_wise_on_desired_fields(void **state)
{
    dsvm_diff *same = diff_of("{\"rules\":[{\"name\":\"ssh\",\"port\":22}]}",
                              "{\"rules\":[{\"name\":\"ssh\",\"port\":22,\"etag\":\"e\"}]}");
    dsvm_diff *port = diff_of("{\"rules\":[{\"name\":\"ssh\",\"port\":2222}]}",
                              "{\"rules\":[{\"name\":\"ssh\",\"port\":22}]}");
    dsvm_diff *len = diff_of("{\"rules\":[{\"name\":\"ssh\"},{\"name\":\"rdp\"}]}",
                             "{\"rules\":[{\"name\":\"ssh\"}]}");

    (void)state;
    assert_int_equal(same->n, 0);
    assert_int_equal(port->n, 1);
    assert_string_equal(port->changes[0].path, "rules.0.port");
    assert_int_equal(len->n, 1);
    assert_string_equal(len->changes[0].path, "rules");
    dsvm_diff_free(same);
    dsvm_diff_free(port);
    dsvm_diff_free(len);
}

static void diff_treats_equal_numbers_as_equal(void **state)
{
    dsvm_diff *d = diff_of("{\"capacity\":2}", "{\"capacity\":2.0}");

    (void)state;
    assert_int_equal(d->n, 0);
    dsvm_diff_free(d);
}

static void path_patterns_match_segments_and_prefixes(void **state)
{
    (void)state;
    assert_true(dsvm_path_matches("a.b", "a.b"));
    assert_true(dsvm_path_matches("a.b", "a.b.c"));
    assert_false(dsvm_path_matches("a.b", "a.bc"));
    assert_false(dsvm_path_matches("a.b.c", "a.b"));
    assert_true(dsvm_path_matches("a.*.c", "a.7.c"));
    assert_false(dsvm_path_matches("a.*.c", "a.7.d"));
}

/* The diff carries down only the rule patterns that match the path so far;
 * it must decide exactly as matching each whole path would. */
static void diff_applies_rules_through_wildcards_prefixes_and_dotted_keys(void **state)
{
    /* a wildcard read-only rule below an array; only "setting" differs */
    dsvm_diff *wild =
        diff_of("{\"properties\":{\"virtualMachineProfile\":{\"extensionProfile\":{\"extensions\":"
                "[{\"properties\":{\"provisioningState\":\"A\",\"setting\":1}}]}}}}",
                "{\"properties\":{\"virtualMachineProfile\":{\"extensionProfile\":{\"extensions\":"
                "[{\"properties\":{\"provisioningState\":\"B\",\"setting\":2}}]}}}}");
    /* a key holding a dot spans two rule segments: the ARM ID normaliser holds */
    dsvm_diff *dotted = diff_of(
        "{\"properties\":{\"virtualMachineProfile.networkProfile\":{\"subnet\":{\"id\":\"/A\"}}}}",
        "{\"properties\":{\"virtualMachineProfile.networkProfile\":{\"subnet\":{\"id\":\"/a\"}}}}");
    /* an immutable rule covers the fields below it; a normaliser only its own */
    dsvm_diff *below = diff_of("{\"properties\":{\"platformFaultDomainCount\":{\"x\":1}},"
                               "\"location\":{\"a\":\"East US\"}}",
                               "{\"properties\":{\"platformFaultDomainCount\":{\"x\":2}},"
                               "\"location\":{\"a\":\"eastus\"}}");
    /* write-only covers what is below it; a default holds only at its path */
    dsvm_diff *wo_def = diff_of(
        "{\"properties\":{\"virtualMachineProfile\":{\"osProfile\":{\"adminPassword\":{\"v\":1}}},"
        "\"upgradePolicy\":{\"mode\":\"Manual\",\"modeX\":\"Manual\"}}}",
        "{\"properties\":{}}");

    (void)state;
    assert_int_equal(wild->n, 1);
    assert_string_equal(wild->changes[0].path,
                        "properties.virtualMachineProfile.extensionProfile.extensions.0.properties."
                        "setting");
    assert_int_equal(dotted->n, 0);
    assert_int_equal(below->n, 2);
    assert_string_equal(below->changes[0].path, "properties.platformFaultDomainCount.x");
    assert_true(below->changes[0].immutable);
    assert_string_equal(below->replace_field, "properties.platformFaultDomainCount.x");
    assert_string_equal(below->changes[1].path, "location.a");
    assert_true(below->changes[1].immutable); /* "location" is immutable too */
    assert_int_equal(wo_def->n, 1);
    assert_string_equal(wo_def->changes[0].path, "properties.upgradePolicy.modeX");
    dsvm_diff_free(wild);
    dsvm_diff_free(dotted);
    dsvm_diff_free(below);
    dsvm_diff_free(wo_def);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(diff_ignores_server_added_and_read_only_fields),
        cmocka_unit_test(diff_ignores_server_defaults_the_server_omits),
        cmocka_unit_test(diff_reports_non_default_value_the_server_omits),
        cmocka_unit_test(diff_normalises_locations_ids_and_role_definitions),
        cmocka_unit_test(diff_reports_identity_key_set_change),
        cmocka_unit_test(diff_marks_immutable_change_as_replace),
        cmocka_unit_test(diff_skips_write_only_and_known_after_apply),
        cmocka_unit_test(diff_compares_arrays_element_wise_on_desired_fields),
        cmocka_unit_test(diff_treats_equal_numbers_as_equal),
        cmocka_unit_test(path_patterns_match_segments_and_prefixes),
        cmocka_unit_test(diff_applies_rules_through_wildcards_prefixes_and_dotted_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
