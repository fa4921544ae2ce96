/*
 * The Azure provider's data and answers, through the real plugin loader:
 * per-type rule tables, describe_reads (one list per type and
 * subscription, GET only without a list) and classify.
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

#include "dsvmops/error.h"
#include "provider_host.h"

#define SUB "00000000-0000-0000-0000-000000000001"

static dsvm_plugin *load(void)
{
    dsvm_plugin *p = NULL;

    assert_int_equal(dsvm_plugin_load(&p, DSVM_TEST_PROVIDER_DIR, "azure"), 0);
    return p;
}

static int in_list(const char *const *list, const char *path)
{
    for (; list && *list; list++)
        if (strcmp(*list, path) == 0)
            return 1;
    return 0;
}

static unsigned norm_of(const dsvm_type_rules *r, const char *path)
{
    const dsvm_field_norm *n;

    for (n = r->normalisers; n && n->path; n++)
        if (strcmp(n->path, path) == 0)
            return n->norm;
    return 0;
}

static void rule_tables_are_complete(void **state)
{
    dsvm_plugin *p = load();
    const dsvm_provider *pr = dsvm_plugin_provider(p);
    uint32_t i, k;

    (void)state;
    assert_string_equal(pr->name, "azure");
    assert_int_equal(pr->n_types, 18);
    for (i = 0; i < pr->n_types; i++) {
        const dsvm_type_rules *r = &pr->types[i];

        assert_int_equal(r->version, DSVM_TYPE_RULES_VERSION);
        assert_non_null(r->type);
        assert_int_equal(strlen(r->api_version), 10); /* YYYY-MM-DD, stable only */
        assert_true((r->list_path != NULL) != ((r->flags & DSVM_TYPE_NO_LIST) != 0));
        if (r->list_path)
            assert_non_null(strstr(r->list_path, "{subscription}"));
        assert_non_null(r->read_only);
        assert_non_null(r->write_only);
        assert_non_null(r->immutable);
        assert_non_null(r->known_after_apply);
        assert_non_null(r->server_defaults);
        assert_non_null(r->normalisers);
        assert_true(in_list(r->read_only, "id"));
        for (k = i + 1; k < pr->n_types; k++)
            assert_true(strcasecmp(r->type, pr->types[k].type) != 0);
    }
    dsvm_plugin_free(p);
}

static void rule_tables_say_what_azure_does(void **state)
{
    dsvm_plugin *p = load();
    const dsvm_type_rules *r;

    (void)state;
    r = dsvm_plugin_type_rules(p, "Microsoft.Compute/virtualMachineScaleSets");
    assert_string_equal(r->api_version, "2024-11-01");
    assert_string_equal(r->list_path, "/subscriptions/{subscription}/providers/Microsoft.Compute/"
                                      "virtualMachineScaleSets");
    assert_true(in_list(r->write_only, "properties.virtualMachineProfile.osProfile.adminPassword"));
    assert_true(in_list(r->write_only, "properties.virtualMachineProfile.extensionProfile."
                                       "extensions.*.properties.protectedSettings"));
    assert_true(in_list(r->immutable, "location"));
    assert_int_equal(norm_of(r, "identity.userAssignedIdentities"), DSVM_NORM_IDENTITY_KEYS);
    assert_int_equal(norm_of(r, "location"), DSVM_NORM_LOCATION);
    assert_true(r->flags & DSVM_TYPE_TAGGABLE);
    assert_true(r->flags & DSVM_TYPE_PUT_LRO);
    assert_false(r->flags & DSVM_TYPE_STATEFUL);

    r = dsvm_plugin_type_rules(p, "Microsoft.KeyVault/vaults");
    assert_true(r->flags & DSVM_TYPE_STATEFUL);
    assert_true(in_list(r->read_only, "properties.vaultUri"));
    assert_true(in_list(r->known_after_apply, "properties.vaultUri"));

    r = dsvm_plugin_type_rules(p, "microsoft.storage/storageaccounts");
    assert_true(r->flags & DSVM_TYPE_STATEFUL);
    assert_true(in_list(r->immutable, "kind"));

    r = dsvm_plugin_type_rules(p, "Microsoft.Storage/storageAccounts/fileServices/shares");
    assert_null(r->list_path);
    assert_true(r->flags & DSVM_TYPE_NO_LIST);
    assert_false(r->flags & DSVM_TYPE_TAGGABLE);
    assert_true(in_list(r->immutable, "properties.enabledProtocols"));

    r = dsvm_plugin_type_rules(p, "Microsoft.Batch/batchAccounts");
    assert_true(r->flags & DSVM_TYPE_STATEFUL);

    r = dsvm_plugin_type_rules(p, "Microsoft.Authorization/roleAssignments");
    assert_string_equal(r->api_version, "2022-04-01");
    assert_int_equal(norm_of(r, "properties.roleDefinitionId"), DSVM_NORM_ROLE_DEF_ID);
    assert_true(in_list(r->known_after_apply, "properties.principalId"));
    assert_false(r->flags & DSVM_TYPE_TAGGABLE);

    r = dsvm_plugin_type_rules(p, "Microsoft.ManagedIdentity/userAssignedIdentities");
    assert_true(in_list(r->known_after_apply, "properties.principalId"));
    assert_true(in_list(r->read_only, "properties.principalId"));
    dsvm_plugin_free(p);
}

static json_t *reads(dsvm_plugin *p, const char *scope)
{
    char *out = NULL;
    json_t *doc;

    assert_int_equal(dsvm_plugin_describe_reads(&out, p, scope), 0);
    doc = json_loads(out, 0, NULL);
    free(out);
    assert_true(json_is_array(doc));
    return doc;
}

static void describe_reads_lists_once_per_type(void **state)
{
    dsvm_plugin *p = load();
    const dsvm_provider *pr = dsvm_plugin_provider(p);
    json_t *doc = reads(p, "{\"subscription\": \"" SUB "\"}"), *r;
    size_t i, listed = 0;
    uint32_t k;

    (void)state;
    for (k = 0; k < pr->n_types; k++)
        listed += pr->types[k].list_path != NULL;
    assert_int_equal(json_array_size(doc), listed);
    json_array_foreach(doc, i, r)
    {
        const char *path = json_string_value(json_object_get(r, "path"));
        const dsvm_type_rules *rules =
            dsvm_plugin_type_rules(p, json_string_value(json_object_get(r, "type")));

        assert_string_equal(json_string_value(json_object_get(r, "method")), "GET");
        assert_int_equal(json_integer_value(json_object_get(r, "bucket")), DSVM_REQ_READ);
        assert_true(json_is_true(json_object_get(r, "list")));
        assert_true(strncmp(path, "/subscriptions/" SUB "/", strlen("/subscriptions/" SUB "/")) ==
                    0);
        assert_non_null(strstr(path, "?api-version="));
        assert_non_null(strstr(path, rules->api_version));
    }
    assert_string_equal(json_string_value(json_object_get(json_array_get(doc, 0), "path")),
                        "/subscriptions/" SUB "/resourcegroups?api-version=2025-04-01");
    json_decref(doc);
    dsvm_plugin_free(p);
}

static void describe_reads_gets_only_types_without_list(void **state)
{
    dsvm_plugin *p = load();
    json_t *doc, *r;
    const char *share = "/subscriptions/" SUB "/resourceGroups/rg-a/providers/"
                        "Microsoft.Storage/storageAccounts/st1/fileServices/default/shares/data";
    char scope[2048];

    (void)state;
    snprintf(scope, sizeof(scope),
             "{\"subscription\": \"" SUB "\", "
             "\"types\": [\"Microsoft.Storage/storageAccounts\", "
             "\"Microsoft.Storage/storageAccounts/fileServices/shares\", "
             "\"Microsoft.Batch/batchAccounts/pools\"], "
             "\"resourceGroups\": [\"RG-A\"], \"ids\": [\"%s\", "
             "\"/subscriptions/" SUB "/resourceGroups/rg-gone/providers/Microsoft.Batch/"
             "batchAccounts/ba1/pools/p1\", "
             "\"/subscriptions/" SUB "/resourceGroups/rg-a/providers/Microsoft.Storage/"
             "storageAccounts/st1\"]}",
             share);
    doc = reads(p, scope);
    /* the storage list, one share GET; nothing for the absent group, no
     * GET for a listable type */
    assert_int_equal(json_array_size(doc), 2);
    r = json_array_get(doc, 0);
    assert_string_equal(json_string_value(json_object_get(r, "path")),
                        "/subscriptions/" SUB "/providers/Microsoft.Storage/storageAccounts"
                        "?api-version=2025-06-01");
    r = json_array_get(doc, 1);
    assert_true(json_is_false(json_object_get(r, "list")));
    assert_string_equal(json_string_value(json_object_get(r, "type")),
                        "Microsoft.Storage/storageAccounts/fileServices/shares");
    assert_true(strncmp(json_string_value(json_object_get(r, "path")), share, strlen(share)) == 0);
    json_decref(doc);
    dsvm_plugin_free(p);
}

static void describe_reads_refuses_bad_scope(void **state)
{
    dsvm_plugin *p = load();
    char *out = NULL;

    (void)state;
    assert_int_equal(dsvm_plugin_describe_reads(&out, p, "{}"), DSVM_EINVALID);
    assert_non_null(strstr(dsvm_error_last()->message, "subscription"));
    assert_int_equal(
        dsvm_plugin_describe_reads(&out, p, "{\"subscription\": \"s\", \"ids\": [\"x\"]}"),
        DSVM_EINVALID);
    dsvm_plugin_free(p);
}

static void classify_maps_status_and_error_codes(void **state)
{
    static const struct {
        int status;
        const char *code;
        int want;
    } cases[] = {
        {200, NULL, DSVM_ANSWER_OK},
        {204, NULL, DSVM_ANSWER_OK},
        {201, NULL, DSVM_ANSWER_ACCEPTED},
        {202, NULL, DSVM_ANSWER_ACCEPTED},
        {404, "ResourceGroupNotFound", DSVM_ANSWER_ABSENT},
        {404, "ResourceNotFound", DSVM_ANSWER_ABSENT},
        {404, NULL, DSVM_ANSWER_ABSENT},
        {409, "RoleAssignmentExists", DSVM_ANSWER_ALREADY_DONE},
        {409, "AnotherOperationInProgress", DSVM_ANSWER_RETRY},
        {409, "Conflict", DSVM_ANSWER_FATAL},
        {409, "PropertyChangeNotAllowed", DSVM_ANSWER_FATAL},
        {429, "TooManyRequests", DSVM_ANSWER_RETRY},
        {500, "InternalServerError", DSVM_ANSWER_RETRY},
        {503, NULL, DSVM_ANSWER_RETRY},
        {504, "GatewayTimeout", DSVM_ANSWER_RETRY},
        {400, "PrincipalNotFound", DSVM_ANSWER_RETRY},
        {404, "PrincipalNotFound", DSVM_ANSWER_RETRY},
        {400, "InvalidRequestContent", DSVM_ANSWER_FATAL},
        {403, "AuthorizationFailed", DSVM_ANSWER_FATAL},
        {412, "PreconditionFailed", DSVM_ANSWER_FATAL},
    };
    dsvm_plugin *p = load();
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char body[256];
        char *doc = NULL;
        int klass = -1;

        if (cases[i].code)
            snprintf(body, sizeof(body), "{\"error\": {\"code\": \"%s\", \"message\": \"m\"}}",
                     cases[i].code);
        else
            body[0] = '\0';
        assert_int_equal(
            dsvm_plugin_classify(&klass, &doc, p, "{}", cases[i].status, body, strlen(body)), 0);
        if (klass != cases[i].want)
            fail_msg("%d %s: class %d, want %d", cases[i].status,
                     cases[i].code ? cases[i].code : "-", klass, cases[i].want);
        if (cases[i].code) {
            json_t *d = json_loads(doc, 0, NULL);

            assert_string_equal(
                json_string_value(json_object_get(json_object_get(d, "error"), "code")),
                cases[i].code);
            json_decref(d);
        }
        free(doc);
    }
    dsvm_plugin_free(p);
}

static void classify_points_the_host_at_list_pages(void **state)
{
    dsvm_plugin *p = load();
    const char *page1 = "{\"value\": [{\"id\": \"/a\"}, {\"id\": \"/b\"}], "
                        "\"nextLink\": \"https://management.azure.com/x?$skiptoken=2\"}";
    char *doc = NULL;
    json_t *d;
    int klass = -1;

    (void)state;
    /* a success is not parsed by the provider: it says where ARM keeps the
     * items and the next page, and the host parses the answer once */
    assert_int_equal(dsvm_plugin_classify(&klass, &doc, p, "{}", 200, page1, strlen(page1)), 0);
    assert_int_equal(klass, DSVM_ANSWER_OK);
    d = json_loads(doc, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(d, "itemsAt")), "value");
    assert_string_equal(json_string_value(json_object_get(d, "nextLinkAt")), "nextLink");
    assert_null(json_object_get(d, "items"));
    json_decref(d);
    free(doc);
    dsvm_plugin_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rule_tables_are_complete),
        cmocka_unit_test(rule_tables_say_what_azure_does),
        cmocka_unit_test(describe_reads_lists_once_per_type),
        cmocka_unit_test(describe_reads_gets_only_types_without_list),
        cmocka_unit_test(describe_reads_refuses_bad_scope),
        cmocka_unit_test(classify_maps_status_and_error_codes),
        cmocka_unit_test(classify_points_the_host_at_list_pages),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
