/*
 * describe_reads: the requests that observe live state (design rule 7).
 * One paged list per resource type and subscription; one GET per resource
 * only for types without a subscription-wide list (file shares, Batch
 * pools, data collection rule associations), whose IDs the host passes.
 *
 * scope: {"subscription": "...", "types": [...] (default: all),
 *         "ids": [...] (resources of NO_LIST types to GET),
 *         "children": [{"id","type","body"}...] (resources of NO_LIST types,
 *         read with one list per parent instead: the shares of an account,
 *         the pools of a Batch account, the associations of a data
 *         collection rule; subscription-wide lists are then left out),
 *         "resourceGroups": [...] (when given, the groups that exist: a GET
 *         inside any other group is skipped, since it would answer 404)}
 * Each request: {"method":"GET","path","bucket","type","list": bool}.
 */
#include <string.h>
#include <strings.h>

#include "dsvmops/error.h"
#include "azure.h"

static int wants_type(const json_t *types, const char *type)
{
    size_t i;
    json_t *t;

    if (!json_is_array(types))
        return 1;
    json_array_foreach(types, i, t)
    {
        if (json_is_string(t) && strcasecmp(json_string_value(t), type) == 0)
            return 1;
    }
    return 0;
}

/* The resource group named in `id`, compared with the groups that exist. */
static int group_exists(const json_t *groups, const char *id)
{
    static const char marker[] = "/resourcegroups/";
    const char *p, *rg = NULL;
    size_t len, i;
    json_t *g;

    if (!json_is_array(groups))
        return 1;
    for (p = id; *p; p++) {
        if (strncasecmp(p, marker, sizeof(marker) - 1) == 0) {
            rg = p + sizeof(marker) - 1;
            break;
        }
    }
    if (!rg)
        return 1;
    len = strcspn(rg, "/");
    json_array_foreach(groups, i, g)
    {
        const char *name = json_string_value(g);

        if (name && strlen(name) == len && strncasecmp(name, rg, len) == 0)
            return 1;
    }
    return 0;
}

/* Expand "{subscription}" in a list path template. */
static json_t *list_path(const dsvm_type_rules *r, const char *sub)
{
    const char *mark = strstr(r->list_path, "{subscription}");

    if (!mark)
        return json_sprintf("%s?api-version=%s", r->list_path, r->api_version);
    return json_sprintf("%.*s%s%s?api-version=%s", (int)(mark - r->list_path), r->list_path, sub,
                        mark + strlen("{subscription}"), r->api_version);
}

static int add_request(json_t *out, json_t *path, const char *type, int list)
{
    json_t *req;

    if (!path)
        return DSVM_ENOMEM;
    req = json_pack("{s:s,s:o,s:i,s:s,s:b}", "method", "GET", "path", path, "bucket", DSVM_REQ_READ,
                    "type", type, "list", list);
    if (!req || json_array_append_new(out, req) < 0)
        return DSVM_ENOMEM;
    return 0;
}

/*
 * The list that holds a resource of a type without a subscription-wide
 * list: its parent's collection (the ID without its last segment), or for
 * data collection rule associations the rule's "associations" list, found
 * in the desired body.
 */
static json_t *parent_list(const dsvm_type_rules *r, const char *id, const json_t *body)
{
    const char *slash = strrchr(id, '/');

    if (strcasecmp(r->type, "Microsoft.Insights/dataCollectionRuleAssociations") == 0) {
        const char *dcr = json_string_value(
            json_object_get(json_object_get(body, "properties"), "dataCollectionRuleId"));

        return dcr ? json_sprintf("%s/associations?api-version=%s", dcr, r->api_version) : NULL;
    }
    return slash ? json_sprintf("%.*s?api-version=%s", (int)(slash - id), id, r->api_version)
                 : NULL;
}

/* One list request per distinct parent of the given children. */
static int child_lists(json_t *reqs, const json_t *children, const json_t *groups, json_t **err)
{
    json_t *seen = json_object(), *c;
    size_t k;
    int rc = 0;

    if (!seen)
        return DSVM_ENOMEM;
    json_array_foreach(children, k, c)
    {
        const char *id = json_string_value(json_object_get(c, "id"));
        const dsvm_type_rules *r = az_type_find(json_string_value(json_object_get(c, "type")));
        json_t *path;

        if (!id || !r) {
            *err = json_string("describe_reads: a child needs an id and a known type");
            rc = DSVM_EINVALID;
            break;
        }
        if (r->list_path || !group_exists(groups, id))
            continue;
        path = parent_list(r, id, json_object_get(c, "body"));
        if (!path) {
            /* no way to list it: one GET */
            rc = add_request(reqs, json_sprintf("%s?api-version=%s", id, r->api_version), r->type,
                             0);
        } else if (json_object_get(seen, json_string_value(path))) {
            json_decref(path);
        } else {
            json_object_set_new(seen, json_string_value(path), json_true());
            rc = add_request(reqs, path, r->type, 1);
        }
        if (rc < 0)
            break;
    }
    json_decref(seen);
    return rc;
}

int az_describe_reads(json_t **out, const json_t *scope, json_t **err)
{
    const char *sub = json_string_value(json_object_get(scope, "subscription"));
    const json_t *types = json_object_get(scope, "types");
    const json_t *ids = json_object_get(scope, "ids");
    const json_t *groups = json_object_get(scope, "resourceGroups");
    const dsvm_type_rules *all;
    json_t *reqs = json_array(), *id;
    uint32_t n, i;
    size_t k;
    int rc = DSVM_ENOMEM;

    if (!reqs)
        return DSVM_ENOMEM;
    if (!sub || !*sub) {
        *err = json_string("describe_reads: scope needs a subscription");
        rc = DSVM_EINVALID;
        goto out;
    }
    if (json_is_array(json_object_get(scope, "children"))) {
        rc = child_lists(reqs, json_object_get(scope, "children"), groups, err);
        if (rc < 0)
            goto out;
        *out = reqs;
        return 0;
    }
    all = az_types(&n);
    for (i = 0; i < n; i++) {
        if (!all[i].list_path || !wants_type(types, all[i].type))
            continue;
        rc = add_request(reqs, list_path(&all[i], sub), all[i].type, 1);
        if (rc < 0)
            goto out;
    }
    json_array_foreach(ids, k, id)
    {
        const char *s = json_string_value(id);
        json_t *type = az_type_of_id(s);
        const dsvm_type_rules *r = type ? az_type_find(json_string_value(type)) : NULL;

        json_decref(type);
        if (!r) {
            *err = json_sprintf("describe_reads: '%s' is no resource ID of a known type",
                                s ? s : "(not a string)");
            rc = DSVM_EINVALID;
            goto out;
        }
        if (r->list_path || !wants_type(types, r->type) || !group_exists(groups, s))
            continue;
        rc = add_request(reqs, json_sprintf("%s?api-version=%s", s, r->api_version), r->type, 0);
        if (rc < 0)
            goto out;
    }
    *out = reqs;
    reqs = NULL;
    rc = 0;
out:
    json_decref(reqs);
    return rc;
}
