/*
 * Roll-outs: instance model state at plan time, batched manualupgrade after
 * apply; see rollout.h.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dsvmops/error.h"
#include "lro.h"
#include "rollout.h"

#define VMSS_TYPE  "Microsoft.Compute/virtualMachineScaleSets"
#define MODEL_PATH "properties.virtualMachineProfile"

/* The instances of one scale set, as listed. */
typedef struct {
    json_t *outdated; /* instance IDs (strings) not on the latest model */
    size_t total;
    char *error; /* why the list failed, or NULL */
} instances;

static void on_instances(dsvm_engine *e, long status, const json_t *body, const char *message,
                         void *payload)
{
    instances *in = payload;
    const char *next = json_string_value(json_object_get(body, "nextLink"));
    const json_t *vm;
    size_t i;

    if (in->error)
        return;
    if (status != 200 || !json_is_array(json_object_get(body, "value"))) {
        in->error = strdup(message ? message : "the answer has no instance list");
        return;
    }
    json_array_foreach(json_object_get(body, "value"), i, vm)
    {
        const json_t *latest =
            json_object_get(json_object_get(vm, "properties"), "latestModelApplied");
        const char *iid = json_string_value(json_object_get(vm, "instanceId"));

        in->total++;
        if (json_is_false(latest) && iid)
            json_array_append_new(in->outdated, json_string(iid));
    }
    if (next && *next && dsvm_engine_get(e, next, on_instances, in) < 0)
        in->error = strdup(dsvm_error_last()->message);
}

static const char *api_version(dsvm_engine *e)
{
    const dsvm_type_rules *rules = dsvm_plugin_type_rules(e->plugin, VMSS_TYPE);

    return rules ? rules->api_version : "2024-11-01";
}

static int list_submit(dsvm_engine *e, const char *id, instances *in)
{
    json_t *path = json_sprintf("%s/virtualMachines?api-version=%s", id, api_version(e));
    int rc;

    in->outdated = json_array();
    if (!path || !in->outdated) {
        json_decref(path);
        return dsvm_error_oom();
    }
    rc = dsvm_engine_get(e, json_string_value(path), on_instances, in);
    json_decref(path);
    return rc;
}

static void instances_clear(instances *in)
{
    json_decref(in->outdated);
    free(in->error);
    memset(in, 0, sizeof(*in));
}

static const char *upgrade_mode(const dsvm_plan_item *it)
{
    const char *mode = json_string_value(json_object_get(
        json_object_get(json_object_get(it->desired, "properties"), "upgradePolicy"), "mode"));

    return mode ? mode : "Manual";
}

static int is_rollout_item(const dsvm_plan_item *it)
{
    return it->action == DSVM_ACTION_UPDATE && strcasecmp(it->type, VMSS_TYPE) == 0;
}

static int changes_model(const dsvm_plan_item *it)
{
    size_t i;

    for (i = 0; it->diff && i < it->diff->n; i++)
        if (dsvm_path_matches(MODEL_PATH, it->diff->changes[i].path))
            return 1;
    return 0;
}

/* Who brings outdated instances up to date, as a JSON string, or NULL. */
static json_t *who_upgrades(dsvm_engine *e, const dsvm_plan_item *it)
{
    const char *mode = upgrade_mode(it);

    if (strcasecmp(mode, "Manual") != 0)
        return json_sprintf("Azure upgrades them (upgradePolicy %s)", mode);
    if (!e->cfg->reconcile.rollout_set)
        return json_string("they keep the old model until upgraded: set reconcile.rollout "
                           "(e.g. {batch: 20%}) in dsvmops.yaml, or run "
                           "`az vmss update-instances`");
    return json_sprintf("apply upgrades them in batches of %d%s (reconcile.rollout)",
                        e->cfg->reconcile.rollout_batch,
                        e->cfg->reconcile.rollout_batch_percent ? "%" : "");
}

static void add_state_finding(dsvm_engine *e, dsvm_plan *plan, const dsvm_plan_item *it,
                              const instances *in, int *oom)
{
    const char *who = *it->object ? it->object : it->id;
    json_t *how = who_upgrades(e, it), *msg = NULL;
    size_t n = json_array_size(in->outdated);

    if (in->error)
        msg = json_sprintf("%s: could not list the scale set's instances to see which run an "
                           "old model: %s",
                           who, in->error);
    else if (changes_model(it) && in->total > 0)
        msg = json_sprintf("%s: %zu of %zu instances are not on the latest model (upgradePolicy "
                           "%s); this update changes the model, so all %zu will be: %s",
                           who, n, in->total, upgrade_mode(it), in->total, json_string_value(how));
    else if (n > 0)
        msg = json_sprintf("%s: %zu of %zu instances are not on the latest model (upgradePolicy "
                           "%s): %s",
                           who, n, in->total, upgrade_mode(it), json_string_value(how));
    if (msg && dsvm_plan_add_finding(plan, "warning", json_string_value(msg)) < 0)
        *oom = 1;
    else if (!msg && (in->error || n > 0 || (changes_model(it) && in->total > 0)))
        *oom = 1;
    json_decref(how);
    json_decref(msg);
}

int dsvm_rollout_plan(dsvm_engine *e, dsvm_plan *plan)
{
    instances *all;
    size_t i, n = 0;
    int rc = 0, oom = 0;

    for (i = 0; i < plan->n; i++)
        if (is_rollout_item(&plan->items[i]) && dsvm_engine_live_get(e, plan->items[i].id))
            n++;
    if (n == 0)
        return 0;
    all = calloc(plan->n, sizeof(*all));
    if (!all)
        return dsvm_error_oom();
    for (i = 0; rc == 0 && i < plan->n; i++)
        if (is_rollout_item(&plan->items[i]) && dsvm_engine_live_get(e, plan->items[i].id))
            rc = list_submit(e, plan->items[i].id, &all[i]);
    /* Run even after a failed submit: accepted requests point into `all`. */
    if (dsvm_http_run(e->http) < 0 && rc == 0)
        rc = DSVM_ERROR;
    for (i = 0; i < plan->n; i++) {
        if (rc == 0 && all[i].outdated)
            add_state_finding(e, plan, &plan->items[i], &all[i], &oom);
        instances_clear(&all[i]);
    }
    free(all);
    return rc == 0 && oom ? dsvm_error_oom() : rc;
}

/* ---- apply ------------------------------------------------------------- */

typedef struct {
    int error;
    char *message;
} upgrade_result;

static void on_upgraded(const dsvm_lro_result *res, void *payload)
{
    upgrade_result *u = payload;

    u->error = res->error;
    if (res->error)
        u->message = strdup(res->error_message ? res->error_message
                            : res->message     ? res->message
                                               : "failed");
}

/* POST {vmss}/manualupgrade for `ids` and wait for the operation. */
static int upgrade_batch(dsvm_engine *e, const char *id, json_t *ids, const char *who,
                         int64_t run_id)
{
    json_t *body = json_pack("{s:O}", "instanceIds", ids);
    json_t *url = json_sprintf("%s%s/manualupgrade?api-version=%s", e->base, id, api_version(e));
    static const char *const headers[] = {"Content-Type: application/json", NULL};
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    dsvm_http_request req = {0};
    upgrade_result u = {0, NULL};
    int64_t entry = 0;
    int rc;

    if (!text || !url) {
        rc = dsvm_error_oom();
        goto out;
    }
    req.method = "POST";
    req.url = json_string_value(url);
    req.headers = headers;
    req.body = text;
    req.bucket = DSVM_BUCKET_WRITE;
    req.audience = e->audience;
    rc = dsvm_state_journal_intent(e->state, &entry, run_id, id, "rollout", "POST");
    if (rc < 0)
        goto out;
    rc = dsvm_lro_submit(e->http, &req, NULL, on_upgraded, &u);
    if (rc == 0)
        rc = dsvm_http_run(e->http);
    dsvm_state_journal_outcome(e->state, entry, rc == 0 && !u.error ? "succeeded" : "failed", 0,
                               rc < 0 ? dsvm_error_last()->message : u.message);
    if (rc == 0 && u.error) {
        dsvm_error_set(DSVM_ERRCLASS_PROVIDER,
                       "rolling out %s: manualupgrade of instances %s failed: %s; those and the "
                       "instances after them keep the old model: fix the cause and apply again",
                       who, text, u.message ? u.message : "failed");
        rc = DSVM_ERROR;
    }
out:
    free(u.message);
    free(text);
    json_decref(body);
    json_decref(url);
    return rc;
}

static size_t batch_size(const dsvm_config *cfg, size_t total)
{
    size_t b = (size_t)cfg->reconcile.rollout_batch;

    if (cfg->reconcile.rollout_batch_percent)
        b = (total * b + 99) / 100;
    return b ? b : 1;
}

static int roll_out(dsvm_engine *e, const dsvm_plan_item *it, int64_t run_id)
{
    const char *who = *it->object ? it->object : it->id;
    instances in = {0};
    size_t n, b, start, k;
    int rc = list_submit(e, it->id, &in);

    if (dsvm_http_run(e->http) < 0 && rc == 0)
        rc = DSVM_ERROR;
    if (rc == 0 && in.error) {
        dsvm_error_set(DSVM_ERRCLASS_NET,
                       "rolling out %s: could not list its instances: %s; apply again to upgrade "
                       "them",
                       who, in.error);
        rc = DSVM_ENET;
    }
    n = json_array_size(in.outdated);
    b = batch_size(e->cfg, in.total);
    for (start = 0; rc == 0 && start < n; start += b) {
        json_t *ids = json_array();

        for (k = start; ids && k < n && k < start + b; k++)
            json_array_append(ids, json_array_get(in.outdated, k));
        if (e->opts.progress)
            fprintf(e->opts.progress,
                    "rolling out %s: upgrading %zu of %zu instances (batch %zu of %zu)\n", who,
                    json_array_size(ids), n, start / b + 1, (n + b - 1) / b);
        rc = ids ? upgrade_batch(e, it->id, ids, who, run_id) : dsvm_error_oom();
        json_decref(ids);
    }
    instances_clear(&in);
    return rc;
}

int dsvm_rollout_apply(dsvm_engine *e, const dsvm_plan *plan, int64_t run_id)
{
    size_t i;
    int rc = 0;

    if (!e->cfg->reconcile.rollout_set)
        return 0;
    for (i = 0; rc == 0 && i < plan->n; i++)
        if (is_rollout_item(&plan->items[i]) &&
            strcasecmp(upgrade_mode(&plan->items[i]), "Manual") == 0)
            rc = roll_out(e, &plan->items[i], run_id);
    return rc;
}
