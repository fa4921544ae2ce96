/*
 * The Azure provider's rule tables against the model's diff: bodies that
 * come back the way ARM echoes them (lower-case "resourcegroups", short
 * role definition IDs, "East US", read-only fields added, identity map
 * values filled) must diff clean, and real drift must not.
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
#include "diff.h"
#include "provider_host.h"

#define SUB "00000000-0000-0000-0000-000000000001"
#define CONTEXT                                                                                    \
    "{\"subscription\": \"" SUB "\", \"instance\": \"prod\", "                                     \
    "\"tenant\": \"00000000-0000-0000-0000-0000000000aa\"}"

typedef struct {
    dsvm_plugin *p;
    json_t *resources;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    char path[4096], *text, *out = NULL;
    json_t *objects;

    assert_non_null(f);
    assert_int_equal(dsvm_plugin_load(&f->p, DSVM_TEST_PROVIDER_DIR, "azure"), 0);
    snprintf(path, sizeof(path), "%s/azure/prod.json", DSVM_TEST_DATA_DIR);
    objects = json_load_file(path, 0, NULL);
    assert_non_null(objects);
    text = json_dumps(objects, JSON_COMPACT);
    json_decref(objects);
    assert_int_equal(dsvm_plugin_expand(&out, f->p, CONTEXT, text), 0);
    free(text);
    f->resources = json_loads(out, 0, NULL);
    free(out);
    assert_true(json_is_array(f->resources));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    json_decref(f->resources);
    dsvm_plugin_free(f->p);
    free(f);
    return 0;
}

/* Does the rule pattern match the whole path ("*" = one segment)? */
static int pattern_is(const char *pattern, const char *path)
{
    for (;;) {
        size_t pl = strcspn(pattern, "."), sl = strcspn(path, ".");

        if (!(pl == 1 && pattern[0] == '*') && (pl != sl || strncmp(pattern, path, pl) != 0))
            return 0;
        pattern += pl;
        path += sl;
        if (!*pattern || !*path)
            return !*pattern && !*path;
        pattern++;
        path++;
    }
}

static unsigned norm_at(const dsvm_type_rules *r, const char *path)
{
    const dsvm_field_norm *n;

    for (n = r->normalisers; n && n->path; n++)
        if (pattern_is(n->path, path))
            return n->norm;
    return 0;
}

static int is_kaa(const json_t *v)
{
    return json_is_object(v) && json_object_get(v, "$knownAfterApply");
}

static void check_ids(const dsvm_type_rules *r, const json_t *v, const char *path)
{
    char child[1024];
    const char *k;
    json_t *c;
    size_t i;

    if (is_kaa(v))
        return;
    if (json_is_object(v)) {
        if (strcmp(strrchr(path, '.') ? strrchr(path, '.') + 1 : path, "userAssignedIdentities") ==
            0) {
            if (norm_at(r, path) != DSVM_NORM_IDENTITY_KEYS)
                fail_msg("%s: %s has no identity-keys normaliser", r->type, path);
            return;
        }
        json_object_foreach((json_t *)v, k, c)
        {
            snprintf(child, sizeof(child), "%s%s%s", path, *path ? "." : "", k);
            check_ids(r, c, child);
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, c)
        {
            snprintf(child, sizeof(child), "%s.%zu", path, i);
            check_ids(r, c, child);
        }
    } else if (json_is_string(v) && (strncmp(json_string_value(v), "/subscriptions/", 15) == 0 ||
                                     strncmp(json_string_value(v), "/providers/", 11) == 0)) {
        unsigned n = norm_at(r, path);

        if (n != DSVM_NORM_ARM_ID && n != DSVM_NORM_ROLE_DEF_ID)
            fail_msg("%s: the ID at %s has no ID normaliser", r->type, path);
    }
}

static void every_id_in_a_body_has_a_normaliser(void **state)
{
    fixture *f = *state;
    json_t *r;
    size_t i;

    json_array_foreach(f->resources, i, r)
    {
        const dsvm_type_rules *rules =
            dsvm_plugin_type_rules(f->p, json_string_value(json_object_get(r, "type")));

        assert_non_null(rules);
        check_ids(rules, json_object_get(r, "body"), "");
    }
}

/* "/resourceGroups/" as ARM sometimes echoes it. */
static json_t *lower_rg(const char *s)
{
    const char *m = strstr(s, "/resourceGroups/");

    if (!m)
        return json_string(s);
    return json_sprintf("%.*s/resourcegroups/%s", (int)(m - s), s, m + strlen("/resourceGroups/"));
}

/* The live document ARM would answer for `body`. */
static json_t *echo(const json_t *v, const char *key)
{
    const char *k;
    json_t *c, *out;
    size_t i;

    if (is_kaa(v))
        return json_string("00000000-aaaa-bbbb-cccc-000000000000");
    if (json_is_object(v)) {
        int ids = key && strcmp(key, "userAssignedIdentities") == 0;

        out = json_object();
        json_object_foreach((json_t *)v, k, c)
        {
            if (ids) {
                json_t *lk = lower_rg(k);

                json_object_set_new(out, json_string_value(lk),
                                    json_pack("{s:s,s:s}", "principalId", "p", "clientId", "c"));
                json_decref(lk);
            } else {
                json_object_set_new(out, k, echo(c, k));
            }
        }
        return out;
    }
    if (json_is_array(v)) {
        out = json_array();
        json_array_foreach(v, i, c) json_array_append_new(out, echo(c, NULL));
        return out;
    }
    if (json_is_string(v) && key && strcmp(key, "roleDefinitionId") == 0)
        return json_string(strstr(json_string_value(v), "/providers/"));
    if (json_is_string(v) && key && strcmp(key, "location") == 0 &&
        strcmp(json_string_value(v), "eastus") == 0)
        return json_string("East US");
    if (json_is_string(v) && strncmp(json_string_value(v), "/subscriptions/", 15) == 0)
        return lower_rg(json_string_value(v));
    return json_deep_copy(v);
}

static json_t *live_of(const json_t *res)
{
    json_t *live = echo(json_object_get(res, "body"), NULL);
    json_t *props = json_object_get(live, "properties");

    json_object_set_new(live, "id", lower_rg(json_string_value(json_object_get(res, "id"))));
    json_object_set_new(live, "etag", json_string("W/\"1\""));
    json_object_set_new(live, "systemData", json_pack("{s:s}", "createdBy", "someone"));
    if (json_is_object(props))
        json_object_set_new(props, "provisioningState", json_string("Succeeded"));
    return live;
}

static size_t diff_count(fixture *f, const json_t *res, const json_t *live, dsvm_diff **out)
{
    const dsvm_type_rules *rules =
        dsvm_plugin_type_rules(f->p, json_string_value(json_object_get(res, "type")));
    dsvm_diff *d = NULL;
    size_t n;

    assert_int_equal(dsvm_diff_resource(&d, json_object_get(res, "body"), live, rules), 0);
    n = d->n;
    if (out)
        *out = d;
    else
        dsvm_diff_free(d);
    return n;
}

static void echoed_bodies_diff_clean(void **state)
{
    fixture *f = *state;
    json_t *r;
    size_t i;

    json_array_foreach(f->resources, i, r)
    {
        json_t *live = live_of(r);
        dsvm_diff *d = NULL;

        if (diff_count(f, r, live, &d) != 0)
            fail_msg("%s: %zu changes, first at %s", json_string_value(json_object_get(r, "id")),
                     d->n, d->changes[0].path);
        dsvm_diff_free(d);
        json_decref(live);
    }
}

static json_t *find(fixture *f, const char *suffix)
{
    json_t *r;
    size_t i;

    json_array_foreach(f->resources, i, r)
    {
        const char *id = json_string_value(json_object_get(r, "id"));

        if (strlen(id) >= strlen(suffix) && strcmp(id + strlen(id) - strlen(suffix), suffix) == 0)
            return r;
    }
    fail_msg("no resource ending in %s", suffix);
    return NULL;
}

static void drift_and_replacement_show(void **state)
{
    fixture *f = *state;
    json_t *vmss = find(f, "virtualMachineScaleSets/nlp-gpu");
    json_t *share = find(f, "shares/datasets");
    json_t *vault = find(f, "vaults/kv-dsvm-prod");
    json_t *live;
    dsvm_diff *d = NULL;

    /* capacity changed in the portal: an update, not a replace */
    live = live_of(vmss);
    json_object_set_new(json_object_get(live, "sku"), "capacity", json_integer(3));
    assert_int_equal(diff_count(f, vmss, live, &d), 1);
    assert_string_equal(d->changes[0].path, "sku.capacity");
    assert_null(d->replace_field);
    dsvm_diff_free(d);
    json_decref(live);

    /* another location: a replace that names the field */
    live = live_of(vmss);
    json_object_set_new(live, "location", json_string("westus"));
    assert_int_equal(diff_count(f, vmss, live, &d), 1);
    assert_string_equal(d->replace_field, "location");
    dsvm_diff_free(d);
    json_decref(live);

    /* an NFS share cannot become SMB */
    live = live_of(share);
    json_object_set_new(json_object_get(live, "properties"), "enabledProtocols",
                        json_string("SMB"));
    assert_int_equal(diff_count(f, share, live, &d), 1);
    assert_string_equal(d->replace_field, "properties.enabledProtocols");
    dsvm_diff_free(d);
    json_decref(live);

    /* a server that omits what it defaults to is no change */
    live = live_of(vault);
    json_object_del(json_object_get(live, "properties"), "enableSoftDelete");
    json_object_del(json_object_get(live, "properties"), "publicNetworkAccess");
    assert_int_equal(diff_count(f, vault, live, NULL), 0);
    /* but a changed ACL default action is drift */
    json_object_set_new(json_object_get(json_object_get(live, "properties"), "networkAcls"),
                        "defaultAction", json_string("Allow"));
    assert_int_equal(diff_count(f, vault, live, NULL), 1);
    json_decref(live);

    /* a tag removed in the portal is drift; a tag added there is not ours */
    live = live_of(vmss);
    json_object_del(json_object_get(live, "tags"), "team");
    json_object_set_new(json_object_get(live, "tags"), "added", json_string("by hand"));
    assert_int_equal(diff_count(f, vmss, live, &d), 1);
    assert_string_equal(d->changes[0].path, "tags.team");
    dsvm_diff_free(d);
    json_decref(live);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_id_in_a_body_has_a_normaliser),
        cmocka_unit_test(echoed_bodies_diff_clean),
        cmocka_unit_test(drift_and_replacement_show),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
