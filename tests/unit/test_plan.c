/*
 * Plans: actions chosen from desired and live state, ownership guards, and
 * the text, JSON and Markdown renderings.
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
#include "plan.h"

static const char *const none[] = {NULL};
static const char *const ro[] = {"id", "properties.provisioningState", NULL};
static const char *const imm[] = {"location", NULL};
static const dsvm_field_default no_defaults[] = {{NULL, NULL}};
static const dsvm_field_norm norms[] = {{"location", DSVM_NORM_LOCATION}, {NULL, 0}};
static const dsvm_type_rules tagged = {.version = 1,
                                       .type = "Test/tagged",
                                       .api_version = "1",
                                       .flags = DSVM_TYPE_TAGGABLE,
                                       .read_only = ro,
                                       .write_only = none,
                                       .immutable = imm,
                                       .known_after_apply = none,
                                       .server_defaults = no_defaults,
                                       .normalisers = norms};
static const dsvm_type_rules untagged = {.version = 1,
                                         .type = "Test/untagged",
                                         .api_version = "1",
                                         .read_only = ro,
                                         .write_only = none,
                                         .immutable = none,
                                         .known_after_apply = none,
                                         .server_defaults = no_defaults,
                                         .normalisers = norms};

static const dsvm_type_rules *lookup(const char *type, void *payload)
{
    (void)payload;
    if (strcmp(type, tagged.type) == 0)
        return &tagged;
    if (strcmp(type, untagged.type) == 0)
        return &untagged;
    return NULL;
}

#define TAGS "\"tags\":{\"dsvmops-instance\":\"prod\",\"dsvmops-object\":\"Pool/a\"}"

static dsvm_plan *build(const char *desired, const char *live, const char *owned, int adopt,
                        int prune)
{
    json_t *d = json_loads(desired, 0, NULL), *l = json_loads(live, 0, NULL);
    json_t *o = owned ? json_loads(owned, 0, NULL) : NULL;
    dsvm_plan_opts opts = {"prod", adopt, prune};
    dsvm_plan *plan = NULL;

    assert_non_null(d);
    assert_non_null(l);
    assert_int_equal(dsvm_plan_build(&plan, d, l, o, lookup, NULL, &opts), 0);
    json_decref(d);
    json_decref(l);
    json_decref(o);
    return plan;
}

static void plan_creates_absent_and_skips_in_sync(void **state)
{
    dsvm_plan *p = build("[{\"id\":\"/r/A\",\"type\":\"Test/tagged\",\"object\":\"Pool/a\","
                         "\"body\":{\"location\":\"eastus\"," TAGS "}},"
                         "{\"id\":\"/r/b\",\"type\":\"Test/tagged\",\"object\":\"Pool/b\","
                         "\"body\":{\"location\":\"eastus\"}}]",
                         "{\"/r/a\":{\"id\":\"/r/a\",\"location\":\"East US\"," TAGS
                         ",\"properties\":{\"provisioningState\":\"Succeeded\"}}}",
                         NULL, 0, 0);

    (void)state;
    assert_int_equal(p->n, 2);
    assert_int_equal(p->items[0].action, DSVM_ACTION_NOOP);
    assert_int_equal(p->items[1].action, DSVM_ACTION_CREATE);
    assert_int_equal(dsvm_plan_changes(p), 1);
    dsvm_plan_free(p);
}

static void plan_updates_and_replaces(void **state)
{
    dsvm_plan *p = build("[{\"id\":\"/r/a\",\"type\":\"Test/tagged\",\"object\":\"Pool/a\","
                         "\"body\":{\"location\":\"eastus\",\"sku\":\"big\"," TAGS "}},"
                         "{\"id\":\"/r/b\",\"type\":\"Test/tagged\",\"object\":\"Pool/b\","
                         "\"body\":{\"location\":\"westus\"," TAGS "}}]",
                         "{\"/r/a\":{\"location\":\"eastus\",\"sku\":\"small\"," TAGS "},"
                         "\"/r/b\":{\"location\":\"eastus\"," TAGS "}}",
                         NULL, 0, 0);

    (void)state;
    assert_int_equal(p->items[0].action, DSVM_ACTION_UPDATE);
    assert_string_equal(p->items[0].diff->changes[0].path, "sku");
    assert_int_equal(p->items[1].action, DSVM_ACTION_REPLACE);
    assert_string_equal(p->items[1].diff->replace_field, "location");
    dsvm_plan_free(p);
}

static void plan_write_only_change_is_an_update_shown_sensitive(void **state)
{
    dsvm_plan *p =
        build("[{\"id\":\"/r/a\",\"type\":\"Test/tagged\",\"object\":\"Pool/a\","
              "\"body\":{" TAGS "},\"writeOnlyChanged\":[\"properties.adminPassword\"]}]",
              "{\"/r/a\":{" TAGS "}}", NULL, 0, 0);
    char *text = NULL, *json = NULL;

    (void)state;
    assert_int_equal(p->items[0].action, DSVM_ACTION_UPDATE);
    assert_int_equal(dsvm_plan_render_text(&text, p, 0), 0);
    assert_non_null(strstr(text, "properties.adminPassword: (sensitive) -> (sensitive)"));
    assert_int_equal(dsvm_plan_render_json(&json, p, NULL), 0);
    assert_non_null(strstr(json, "\"sensitive\": [\n        \"properties.adminPassword\""));
    free(text);
    free(json);
    dsvm_plan_free(p);
}

static void plan_refuses_unowned_unless_adopt(void **state)
{
    const char *desired = "[{\"id\":\"/r/a\",\"type\":\"Test/tagged\",\"object\":\"Pool/a\","
                          "\"body\":{\"location\":\"eastus\"," TAGS "}}]";
    const char *live = "{\"/r/a\":{\"location\":\"eastus\"}}";
    dsvm_plan *p = build(desired, live, NULL, 0, 0), *q;

    (void)state;
    assert_int_equal(p->items[0].action, DSVM_ACTION_NOOP);
    assert_int_equal(json_array_size(p->findings), 1);
    assert_non_null(
        strstr(json_string_value(json_object_get(json_array_get(p->findings, 0), "message")),
               "reconcile.adopt"));
    q = build(desired, live, NULL, 1, 0);
    assert_int_equal(q->items[0].action, DSVM_ACTION_ADOPT);
    assert_int_equal(json_array_size(q->findings), 0);
    dsvm_plan_free(p);
    dsvm_plan_free(q);
}

static void plan_never_touches_other_instances_resources(void **state)
{
    dsvm_plan *p = build("[{\"id\":\"/r/a\",\"type\":\"Test/tagged\",\"object\":\"Pool/a\","
                         "\"body\":{\"location\":\"eastus\"}}]",
                         "{\"/r/a\":{\"tags\":{\"dsvmops-instance\":\"dev\"}}}", NULL, 1, 1);

    (void)state;
    assert_int_equal(p->items[0].action, DSVM_ACTION_NOOP);
    assert_non_null(
        strstr(json_string_value(json_object_get(json_array_get(p->findings, 0), "message")),
               "managed by dsvmops instance \"dev\""));
    dsvm_plan_free(p);
}

static void plan_prunes_only_when_asked_in_reverse_order(void **state)
{
    const char *owned =
        "[{\"id\":\"/r/rg\",\"type\":\"Test/tagged\",\"object\":\"ResourceGroup/rg\"},"
        "{\"id\":\"/r/old\",\"type\":\"Test/tagged\",\"object\":\"Pool/old\"},"
        "{\"id\":\"/r/keep\",\"type\":\"Test/tagged\",\"object\":\"Pool/keep\"}]";
    const char *desired = "[{\"id\":\"/R/KEEP\",\"type\":\"Test/tagged\",\"object\":\"Pool/keep\","
                          "\"body\":{" TAGS "}}]";
    const char *live = "{\"/r/keep\":{" TAGS "}}";
    dsvm_plan *p = build(desired, live, owned, 0, 0), *q = build(desired, live, owned, 0, 1);

    (void)state;
    assert_int_equal(p->counts[DSVM_ACTION_DELETE], 0);
    assert_int_equal(json_array_size(p->findings), 2);
    assert_int_equal(q->counts[DSVM_ACTION_DELETE], 2);
    assert_string_equal(q->items[1].id, "/r/old");
    assert_string_equal(q->items[2].id, "/r/rg");
    dsvm_plan_free(p);
    dsvm_plan_free(q);
}

static void plan_rejects_resource_without_rules(void **state)
{
    json_t *d = json_loads("[{\"id\":\"/x\",\"type\":\"Nope/x\",\"body\":{}}]", 0, NULL);
    json_t *l = json_object();
    dsvm_plan_opts opts = {"prod", 0, 0};
    dsvm_plan *plan = NULL;

    (void)state;
    assert_int_equal(dsvm_plan_build(&plan, d, l, NULL, lookup, NULL, &opts), DSVM_EINVALID);
    assert_null(plan);
    json_decref(d);
    json_decref(l);
}

static void plan_renders_text_json_and_markdown(void **state)
{
    dsvm_plan *p =
        build("[{\"id\":\"/r/a\",\"type\":\"Test/tagged\",\"object\":\"Pool/a\","
              "\"body\":{\"sku\":\"a|b\",\"ref\":{\"$knownAfterApply\":\"x\"}," TAGS "}},"
              "{\"id\":\"/r/n\",\"type\":\"Test/untagged\",\"object\":\"Pool/n\","
              "\"body\":{\"x\":1}}]",
              "{\"/r/a\":{\"sku\":\"c\"," TAGS "}}", NULL, 0, 0);
    char *text = NULL, *json = NULL, *md = NULL;
    json_t *doc, *meta = json_pack("{s:s}", "commit", "abc123");

    (void)state;
    assert_int_equal(dsvm_plan_render_text(&text, p, 0), 0);
    assert_non_null(strstr(text, "  ~ update  Test/tagged a (Pool/a)\n"));
    assert_non_null(strstr(text, "      ~ sku: \"c\" -> \"a|b\"\n"));
    assert_non_null(strstr(text, "  + create  Test/untagged n (Pool/n)\n"));
    assert_non_null(strstr(text, "Plan: 1 to create, 1 to update, 0 to replace"));
    assert_int_equal(dsvm_plan_render_json(&json, p, meta), 0);
    doc = json_loads(json, 0, NULL);
    assert_non_null(doc);
    assert_int_equal(json_integer_value(json_object_get(doc, "formatVersion")), 1);
    assert_string_equal(json_string_value(json_object_get(doc, "commit")), "abc123");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "summary"), "create")),
                     1);
    json_decref(doc);
    assert_int_equal(dsvm_plan_render_markdown(&md, p, "PR #7"), 0);
    assert_non_null(strstr(md, "### dsvmops plan: PR #7\n"));
    assert_non_null(strstr(md, "| `sku` | `\"c\"` | `\"a\\|b\"` |"));
    assert_non_null(strstr(md, "<details><summary>"));
    free(text);
    free(json);
    free(md);
    json_decref(meta);
    dsvm_plan_free(p);
}

static void plan_reapplies_a_failed_resource(void **state)
{
    dsvm_plan *p = build("[{\"id\":\"/r/a\",\"type\":\"Test/tagged\",\"object\":\"Pool/a\","
                         "\"reapply\":\"properties.provisioningState\",\"body\":{" TAGS "}}]",
                         "{\"/r/a\":{\"properties\":{\"provisioningState\":\"Failed\"}," TAGS "}}",
                         NULL, 0, 0);

    (void)state;
    assert_int_equal(p->items[0].action, DSVM_ACTION_UPDATE);
    assert_int_equal(p->items[0].diff->n, 1);
    assert_string_equal(p->items[0].diff->changes[0].path, "properties.provisioningState");
    assert_string_equal(json_string_value(p->items[0].diff->changes[0].before), "Failed");
    dsvm_plan_free(p);
}

static void plan_in_sync_renders_no_changes(void **state)
{
    dsvm_plan *p = build("[{\"id\":\"/r/a\",\"type\":\"Test/tagged\",\"object\":\"Pool/a\","
                         "\"body\":{" TAGS "}}]",
                         "{\"/r/a\":{" TAGS "}}", NULL, 0, 0);
    char *text = NULL;

    (void)state;
    assert_int_equal(dsvm_plan_render_text(&text, p, 1), 0);
    assert_string_equal(text, "No changes. 1 resources are up to date.\n");
    free(text);
    dsvm_plan_free(p);
    dsvm_plan_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plan_creates_absent_and_skips_in_sync),
        cmocka_unit_test(plan_updates_and_replaces),
        cmocka_unit_test(plan_write_only_change_is_an_update_shown_sensitive),
        cmocka_unit_test(plan_refuses_unowned_unless_adopt),
        cmocka_unit_test(plan_never_touches_other_instances_resources),
        cmocka_unit_test(plan_prunes_only_when_asked_in_reverse_order),
        cmocka_unit_test(plan_rejects_resource_without_rules),
        cmocka_unit_test(plan_renders_text_json_and_markdown),
        cmocka_unit_test(plan_reapplies_a_failed_resource),
        cmocka_unit_test(plan_in_sync_renders_no_changes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
