/*
 * Fuzz target: the plan, from fuzzed desired and live documents to its
 * three renderings. The input is one JSON object:
 *
 *     {"desired": [{"id", "type", "object", "body", "writeOnlyChanged"}...],
 *      "live": {"<lower-cased id>": {...live body...}},
 *      "owned": [{"id", "type", "object"}...],
 *      "adopt": true, "prune": true, "meta": {...}}
 *
 * dsvm_plan_build gets the Azure provider's real per-type rules
 * (az_type_find, providers/azure/types.c) plus two test types with every
 * kind of rule, as tests/unit/test_plan.c uses. A document of the wrong
 * shape is replaced by an empty one, since the engine always passes an
 * array and an object. A built plan is rendered as text (with and without
 * colour), JSON (with "meta"; it must parse back) and Markdown.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "azure.h"
#include "plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const none[] = {NULL};
static const char *const ro[] = {"id", "properties.provisioningState", NULL};
static const char *const wo[] = {"properties.secret", "properties.*.password", NULL};
static const char *const imm[] = {"location", "properties.zones.*", NULL};
static const char *const kaa[] = {"properties.uniqueId", NULL};
static const dsvm_field_default defaults[] = {
    {"properties.tier", "\"Standard\""}, {"properties.count", "1"}, {NULL, NULL}};
static const dsvm_field_norm norms[] = {{"location", DSVM_NORM_LOCATION},
                                        {"id", DSVM_NORM_ARM_ID},
                                        {"properties.name", DSVM_NORM_CASE},
                                        {NULL, 0}};
static const dsvm_type_rules tagged = {.version = 1,
                                       .type = "Test/tagged",
                                       .api_version = "1",
                                       .flags = DSVM_TYPE_TAGGABLE,
                                       .read_only = ro,
                                       .write_only = wo,
                                       .immutable = imm,
                                       .known_after_apply = kaa,
                                       .server_defaults = defaults,
                                       .normalisers = norms};
static const dsvm_type_rules untagged = {.version = 1,
                                         .type = "Test/untagged",
                                         .api_version = "1",
                                         .read_only = ro,
                                         .write_only = none,
                                         .immutable = none,
                                         .known_after_apply = none,
                                         .server_defaults = defaults,
                                         .normalisers = norms};

static const dsvm_type_rules *lookup(const char *type, void *payload)
{
    (void)payload;
    if (strcmp(type, tagged.type) == 0)
        return &tagged;
    if (strcmp(type, untagged.type) == 0)
        return &untagged;
    return az_type_find(type);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *in = json_loadb((const char *)data, size, 0, NULL);
    json_t *desired, *live, *owned, *meta, *empty_a = json_array(), *empty_o = json_object();
    dsvm_plan_opts opts = {"prod", 0, 0};
    dsvm_plan *plan = NULL;
    char *s;

    desired = json_object_get(in, "desired");
    live = json_object_get(in, "live");
    owned = json_object_get(in, "owned");
    meta = json_object_get(in, "meta");
    if (!json_is_array(desired))
        desired = empty_a;
    if (!json_is_object(live))
        live = empty_o;
    if (!json_is_array(owned))
        owned = NULL;
    if (!json_is_object(meta))
        meta = NULL;
    opts.adopt = json_is_true(json_object_get(in, "adopt"));
    opts.prune = json_is_true(json_object_get(in, "prune"));
    if (json_is_string(json_object_get(in, "instance")))
        opts.instance = json_string_value(json_object_get(in, "instance"));

    if (dsvm_plan_build(&plan, desired, live, owned, lookup, NULL, &opts) == 0) {
        dsvm_plan_changes(plan);
        dsvm_plan_first_error(plan);
        if (dsvm_plan_render_text(&s, plan, 0) == 0)
            free(s);
        if (dsvm_plan_render_text(&s, plan, 1) == 0)
            free(s);
        if (dsvm_plan_render_json(&s, plan, meta) == 0) {
            json_t *back = json_loads(s, 0, NULL);

            if (!back) /* the JSON rendering must be JSON */
                abort();
            json_decref(back);
            free(s);
        }
        if (dsvm_plan_add_finding(plan, "error", "fuzz: a finding") == 0)
            dsvm_plan_first_error(plan);
        if (dsvm_plan_render_markdown(&s, plan, "Plan for `fuzz` <b>|</b>") == 0)
            free(s);
        dsvm_plan_free(plan);
    }
    json_decref(empty_a);
    json_decref(empty_o);
    json_decref(in);
    return 0;
}
