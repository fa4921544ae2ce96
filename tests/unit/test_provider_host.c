/*
 * The provider host against real plugins: the example provider, and two
 * broken builds of it (a foreign ABI stamp, and no stamp at all).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "dsvmops/error.h"
#include "provider_host.h"

static dsvm_plugin *load_example(void)
{
    dsvm_plugin *p = NULL;

    assert_int_equal(dsvm_plugin_load(&p, DSVM_TEST_PROVIDER_DIR, "example"), 0);
    assert_non_null(p);
    return p;
}

static void loader_loads_example_and_reads_rules(void **state)
{
    dsvm_plugin *p = load_example();
    const dsvm_type_rules *rules;

    (void)state;
    assert_string_equal(dsvm_plugin_provider(p)->name, "example");
    rules = dsvm_plugin_type_rules(p, "microsoft.resources/RESOURCEGROUPS");
    assert_non_null(rules);
    assert_string_equal(rules->api_version, "2024-11-01");
    assert_string_equal(rules->immutable[0], "location");
    assert_null(dsvm_plugin_type_rules(p, "Microsoft.Compute/virtualMachineScaleSets"));
    dsvm_plugin_free(p);
}

static void loader_refuses_foreign_abi(void **state)
{
    dsvm_plugin *p = NULL;
    int rc;

    (void)state;
    rc = dsvm_plugin_load(&p, DSVM_TEST_PLUGIN_DIR, "example_badabi");
    assert_int_equal(rc, DSVM_EABI);
    assert_null(p);
    assert_non_null(strstr(dsvm_error_last()->message, "built for provider ABI 999"));
    assert_non_null(strstr(dsvm_error_last()->message, "rebuild the provider"));
}

static void loader_refuses_plugin_without_stamp(void **state)
{
    dsvm_plugin *p = NULL;

    (void)state;
    assert_int_equal(dsvm_plugin_load(&p, DSVM_TEST_PLUGIN_DIR, "example_nostamp"), DSVM_EABI);
    assert_null(p);
    assert_non_null(strstr(dsvm_error_last()->message, "is not a dsvmops provider"));
}

static void loader_reports_missing_plugin(void **state)
{
    dsvm_plugin *p = NULL;

    (void)state;
    assert_int_equal(dsvm_plugin_load(&p, DSVM_TEST_PROVIDER_DIR, "nosuch"), DSVM_ENOTFOUND);
    assert_null(p);
    assert_non_null(strstr(dsvm_error_last()->message, "--provider-dir"));
}

static void expand_tags_resource_groups_with_ownership(void **state)
{
    dsvm_plugin *p = load_example();
    char *out = NULL;
    json_t *doc, *res, *tags;

    (void)state;
    assert_int_equal(
        dsvm_plugin_expand(&out, p, "{\"subscription\":\"sub1\",\"instance\":\"prod\"}",
                           "[{\"kind\":\"ResourceGroup\",\"name\":\"rg-a\","
                           "\"spec\":{\"location\":\"eastus\",\"tags\":{\"team\":\"a\"}}},"
                           "{\"kind\":\"Pool\",\"name\":\"p\",\"spec\":{}}]"),
        0);
    doc = json_loads(out, 0, NULL);
    assert_non_null(doc);
    assert_int_equal(json_array_size(doc), 1);
    res = json_array_get(doc, 0);
    assert_string_equal(json_string_value(json_object_get(res, "id")),
                        "/subscriptions/sub1/resourceGroups/rg-a");
    assert_string_equal(json_string_value(json_object_get(res, "object")), "ResourceGroup/rg-a");
    tags = json_object_get(json_object_get(res, "body"), "tags");
    assert_string_equal(json_string_value(json_object_get(tags, "team")), "a");
    assert_string_equal(json_string_value(json_object_get(tags, "dsvmops-instance")), "prod");
    assert_string_equal(json_string_value(json_object_get(tags, "dsvmops-object")),
                        "ResourceGroup/rg-a");
    json_decref(doc);
    free(out);
    dsvm_plugin_free(p);
}

static void expand_error_reaches_last_error(void **state)
{
    dsvm_plugin *p = load_example();
    char *out = NULL;

    (void)state;
    assert_int_equal(dsvm_plugin_expand(&out, p, "{\"instance\":\"prod\"}", "[]"), DSVM_EINVALID);
    assert_null(out);
    assert_string_equal(dsvm_error_last()->message,
                        "provider example: expand: context needs subscription and instance");
    dsvm_plugin_free(p);
}

static void describe_reads_lists_once_per_subscription(void **state)
{
    dsvm_plugin *p = load_example();
    char *out = NULL;
    json_t *doc;

    (void)state;
    assert_int_equal(dsvm_plugin_describe_reads(&out, p, "{\"subscription\":\"s1\"}"), 0);
    doc = json_loads(out, 0, NULL);
    assert_int_equal(json_array_size(doc), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(doc, 0), "path")),
                        "/subscriptions/s1/resourcegroups?api-version=2024-11-01");
    json_decref(doc);
    free(out);
    dsvm_plugin_free(p);
}

static void classify_maps_statuses_and_parses_pages(void **state)
{
    static const struct {
        int status;
        int klass;
    } cases[] = {{200, DSVM_ANSWER_OK},       {201, DSVM_ANSWER_ACCEPTED},
                 {202, DSVM_ANSWER_ACCEPTED}, {404, DSVM_ANSWER_ABSENT},
                 {429, DSVM_ANSWER_RETRY},    {503, DSVM_ANSWER_RETRY},
                 {400, DSVM_ANSWER_FATAL}};
    const char page[] = "{\"value\":[{\"name\":\"rg-a\"}],\"nextLink\":\"http://x/next\"}";
    dsvm_plugin *p = load_example();
    char *doc = NULL;
    int klass = -1;
    size_t i;
    json_t *j;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(dsvm_plugin_classify(&klass, &doc, p, "{}", cases[i].status, "", 0), 0);
        assert_int_equal(klass, cases[i].klass);
        assert_null(doc);
    }
    assert_int_equal(dsvm_plugin_classify(&klass, &doc, p, "{}", 200, page, strlen(page)), 0);
    j = json_loads(doc, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "nextLink")), "http://x/next");
    assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
    json_decref(j);
    free(doc);
    dsvm_plugin_free(p);
}

static void free_accepts_null(void **state)
{
    (void)state;
    dsvm_plugin_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loader_loads_example_and_reads_rules),
        cmocka_unit_test(loader_refuses_foreign_abi),
        cmocka_unit_test(loader_refuses_plugin_without_stamp),
        cmocka_unit_test(loader_reports_missing_plugin),
        cmocka_unit_test(expand_tags_resource_groups_with_ownership),
        cmocka_unit_test(expand_error_reaches_last_error),
        cmocka_unit_test(describe_reads_lists_once_per_subscription),
        cmocka_unit_test(classify_maps_statuses_and_parses_pages),
        cmocka_unit_test(free_accepts_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
