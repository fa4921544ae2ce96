/*
 * ResourceGroup, Identity, Network and Monitoring: the kinds that map to
 * plain tracked resources.
 */
#include <string.h>

#include "dsvmops/error.h"
#include "expand.h"

int az_expand_resource_group(az_ex *ex, const json_t *obj)
{
    const char *name = az_str(obj, "name", NULL);
    const char *loc = az_str(json_object_get(obj, "spec"), "location", NULL);
    json_t *owner = az_owner(obj), *body, *res;

    if (!loc) {
        json_decref(owner);
        return az_fail(ex, "ResourceGroup/%s: spec.location is required", name);
    }
    body = json_pack("{s:s,s:o}", "location", loc, "tags", az_tags(ex, obj, owner));
    res = az_emit(ex, "Microsoft.Resources/resourceGroups", az_rg_id(ex, name), owner, body);
    json_decref(owner);
    return res ? 0 : DSVM_EINVALID;
}

int az_expand_identity(az_ex *ex, const json_t *obj)
{
    return az_emit_tracked(ex, obj, "Microsoft.ManagedIdentity/userAssignedIdentities",
                           az_str(obj, "name", ""), json_object())
               ? 0
               : DSVM_EINVALID;
}

/* A virtual network with its subnets inline (design rule 7: the list of
 * networks carries them). */
int az_expand_network(az_ex *ex, const json_t *obj)
{
    const json_t *spec = json_object_get(obj, "spec");
    json_t *subnets = json_array(), *s;
    size_t i;

    if (!subnets)
        return az_fail(ex, "out of memory");
    json_array_foreach(json_object_get(spec, "subnets"), i, s)
    {
        json_t *eps = json_array(), *e, *sub;
        size_t k;

        json_array_foreach(json_object_get(s, "serviceEndpoints"), k, e)
        {
            json_array_append_new(eps, json_pack("{s:O}", "service", e));
        }
        sub = json_pack("{s:s,s:{s:s,s:o}}", "name", az_str(s, "name", ""), "properties",
                        "addressPrefix", az_str(s, "addressPrefix", ""), "serviceEndpoints", eps);
        if (!sub || json_array_append_new(subnets, sub) < 0) {
            json_decref(subnets);
            return az_fail(ex, "out of memory");
        }
    }
    return az_emit_tracked(ex, obj, "Microsoft.Network/virtualNetworks", az_str(obj, "name", ""),
                           json_pack("{s:{s:{s:O},s:o}}", "properties", "addressSpace",
                                     "addressPrefixes", json_object_get(spec, "addressSpace"),
                                     "subnets", subnets))
               ? 0
               : DSVM_EINVALID;
}

/* The list at spec[key], or `def` (JSON text) when absent. New reference. */
static json_t *list_or(const json_t *spec, const char *key, const char *def)
{
    json_t *v = json_object_get(spec, key);

    return json_is_array(v) ? json_incref(v) : json_loads(def, 0, NULL);
}

/*
 * A Log Analytics workspace and a data collection rule that sends
 * performance counters, syslog and Windows events to it. Pools associate
 * with the rule (expand_pool.c).
 */
int az_expand_monitoring(az_ex *ex, const json_t *obj)
{
    const json_t *spec = json_object_get(obj, "spec");
    const char *name = az_str(obj, "name", "");
    json_t *ws, *dcr, *dcr_name, *body;
    int rc = DSVM_EINVALID;

    ws = az_emit_tracked(ex, obj, "Microsoft.OperationalInsights/workspaces", name,
                         json_pack("{s:{s:{s:s},s:I}}", "properties", "sku", "name",
                                   az_str(spec, "sku", "PerGB2018"), "retentionInDays",
                                   az_int(spec, "retentionDays", 30)));
    if (!ws)
        return DSVM_EINVALID;
    dcr_name = json_sprintf("%s-dcr", name);
    body = json_pack(
        "{s:{s:{s:[{s:s,s:[s],s:I,s:o}],s:[{s:s,s:[s],s:o,s:[s,s,s,s,s]}],s:[{s:s,s:[s],s:o}]},"
        "s:{s:[{s:O,s:s}]},s:[{s:[s,s,s],s:[s]}]}}",
        "properties", "dataSources", "performanceCounters", "name", "perfCounters", "streams",
        "Microsoft-Perf", "samplingFrequencyInSeconds", az_int(spec, "sampleSeconds", 60),
        "counterSpecifiers",
        list_or(
            spec, "performanceCounters",
            "[\"\\\\Processor(_Total)\\\\% Processor Time\", \"\\\\Memory\\\\Available Bytes\"]"),
        "syslog", "name", "syslog", "streams", "Microsoft-Syslog", "facilityNames",
        list_or(spec, "syslog", "[\"auth\", \"authpriv\", \"daemon\", \"syslog\"]"), "logLevels",
        "Warning", "Error", "Critical", "Alert", "Emergency", "windowsEventLogs", "name",
        "windowsEvents", "streams", "Microsoft-WindowsEvent", "xPathQueries",
        list_or(spec, "windowsEvents", "[\"System!*[System[(Level=1 or Level=2 or Level=3)]]\"]"),
        "destinations", "logAnalytics", "workspaceResourceId", json_object_get(ws, "id"), "name",
        "workspace", "dataFlows", "streams", "Microsoft-Perf", "Microsoft-Syslog",
        "Microsoft-WindowsEvent", "destinations", "workspace");
    dcr = dcr_name ? az_emit_tracked(ex, obj, "Microsoft.Insights/dataCollectionRules",
                                     json_string_value(dcr_name), body)
                   : NULL;
    if (!dcr_name)
        json_decref(body);
    if (dcr && az_dep_json(dcr, json_object_get(ws, "id")) == 0)
        rc = 0;
    json_decref(dcr_name);
    return rc;
}
