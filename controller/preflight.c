/*
 * Preflight checks at plan time; see preflight.h.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dsvmops/error.h"
#include "preflight.h"

#define PROVIDERS_API      "2021-04-01"
#define USAGES_API         "2024-07-01"
#define FEATURES_API       "2021-07-01"
#define VMSS_TYPE          "Microsoft.Compute/virtualMachineScaleSets"
#define BATCH_ACCOUNT_TYPE "Microsoft.Batch/batchAccounts"

/* Features (Microsoft.Features) that a planned resource needs registered:
 * when a body of `type` has `true` at `path`. */
typedef struct {
    const char *ns;
    const char *name;
    const char *type;
    const char *path;
} feature_use;

static const feature_use feature_uses[] = {
    {"Microsoft.Compute", "EncryptionAtHost", VMSS_TYPE,
     "properties.virtualMachineProfile.securityProfile.encryptionAtHost"},
};

/* VM sizes dsvmops knows: vCPUs and the quota family in compute usages. */
typedef struct {
    const char *name;
    int vcpus;
    const char *family;
} vm_size;

static const vm_size vm_sizes[] = {
    {"Standard_NC24ads_A100_v4", 24, "standardNCADSA100v4Family"},
    {"Standard_NC48ads_A100_v4", 48, "standardNCADSA100v4Family"},
    {"Standard_NC96ads_A100_v4", 96, "standardNCADSA100v4Family"},
    {"Standard_NC6s_v3", 6, "standardNCSv3Family"},
    {"Standard_NC12s_v3", 12, "standardNCSv3Family"},
    {"Standard_NC24s_v3", 24, "standardNCSv3Family"},
    {"Standard_NC4as_T4_v3", 4, "standardNCASv3_T4Family"},
    {"Standard_NC8as_T4_v3", 8, "standardNCASv3_T4Family"},
    {"Standard_NC16as_T4_v3", 16, "standardNCASv3_T4Family"},
    {"Standard_NC64as_T4_v3", 64, "standardNCASv3_T4Family"},
    {"Standard_ND96asr_v4", 96, "standardNDASv4_A100Family"},
    {"Standard_D2s_v5", 2, "standardDSv5Family"},
    {"Standard_D4s_v5", 4, "standardDSv5Family"},
    {"Standard_D8s_v5", 8, "standardDSv5Family"},
    {"Standard_D16s_v5", 16, "standardDSv5Family"},
    {"Standard_D4s_v3", 4, "standardDSv3Family"},
    {"Standard_D8s_v3", 8, "standardDSv3Family"},
    {"Standard_DS3_v2", 4, "standardDSv2Family"},
    {"Standard_E8s_v5", 8, "standardESv5Family"},
    {"Standard_E16s_v5", 16, "standardESv5Family"},
};

typedef struct {
    dsvm_engine *e;
    dsvm_plan *plan;
    json_t *needs;  /* location -> {family -> {"vcpus": n, "objects": [..]}} */
    json_t *usages; /* location -> usages array, once read */
    /* "sub ns/name" -> {"sub", "feature": index, "objects": [..]} */
    json_t *features;
    int oom;
} preflight;

typedef struct {
    preflight *pf;
    char *key; /* the namespace, or the location */
} pf_read;

static const vm_size *size_find(const char *name)
{
    size_t i;

    for (i = 0; name && i < sizeof(vm_sizes) / sizeof(vm_sizes[0]); i++)
        if (strcasecmp(vm_sizes[i].name, name) == 0)
            return &vm_sizes[i];
    return NULL;
}

/* Quota names differ in spaces and case ("Standard NCASv3_T4 Family"). */
static int family_eq(const char *a, const char *b)
{
    for (;;) {
        while (*a == ' ')
            a++;
        while (*b == ' ')
            b++;
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return 0;
        if (!*a)
            return 1;
        a++;
        b++;
    }
}

/* "East US" -> "eastus" (malloc'd), or NULL. */
static char *location_norm(const char *loc)
{
    char *d = malloc(strlen(loc) + 1), *p = d;

    for (; d && *loc; loc++)
        if (*loc != ' ')
            *p++ = (char)tolower((unsigned char)*loc);
    if (d)
        *p = '\0';
    return d;
}

static void finding(preflight *pf, const char *severity, json_t *msg)
{
    if (!msg || dsvm_plan_add_finding(pf->plan, severity, json_string_value(msg)) < 0)
        pf->oom = 1;
    json_decref(msg);
}

static int is_write(dsvm_action a)
{
    return a == DSVM_ACTION_CREATE || a == DSVM_ACTION_UPDATE || a == DSVM_ACTION_REPLACE;
}

/* ---- resource providers ------------------------------------------------ */

static void on_provider(dsvm_engine *e, long status, const json_t *body, const char *message,
                        void *payload)
{
    pf_read *r = payload;
    const char *state = json_string_value(json_object_get(body, "registrationState"));

    (void)e;
    if (status == 200 && state && strcasecmp(state, "Registered") != 0)
        finding(r->pf, "error",
                json_sprintf("resource provider %s is %s in this subscription; register it with "
                             "`az provider register --namespace %s` and plan again",
                             r->key, state, r->key));
    else if (status != 200 || !state)
        finding(r->pf, "warning",
                json_sprintf("could not check that resource provider %s is registered: %s", r->key,
                             message ? message : "no registrationState in the answer"));
    free(r->key);
    free(r);
}

static int submit_for(preflight *pf, const char *path, const char *key, dsvm_engine_get_fn done)
{
    pf_read *r = calloc(1, sizeof(*r));
    int rc;

    if (!r || !(r->key = strdup(key))) {
        free(r);
        return dsvm_error_oom();
    }
    r->pf = pf;
    rc = dsvm_engine_get(pf->e, path, done, r);
    if (rc < 0) {
        free(r->key);
        free(r);
    }
    return rc;
}

/* One GET per namespace of the planned writes (resource groups excepted:
 * Microsoft.Resources is always registered). */
static int check_providers(preflight *pf)
{
    json_t *seen = json_object();
    size_t i;
    int rc = 0;

    if (!seen)
        return dsvm_error_oom();
    for (i = 0; rc == 0 && i < pf->plan->n; i++) {
        const dsvm_plan_item *it = &pf->plan->items[i];
        const char *slash = strchr(it->type, '/');
        char *ns, *lower;
        json_t *path;

        if (!is_write(it->action) || !slash)
            continue;
        ns = strndup(it->type, (size_t)(slash - it->type));
        lower = ns ? dsvm_engine_lower(ns) : NULL;
        if (!lower) {
            free(ns);
            rc = dsvm_error_oom();
            break;
        }
        if (strcmp(lower, "microsoft.resources") != 0 && !json_object_get(seen, lower)) {
            json_object_set_new(seen, lower, json_true());
            path = json_sprintf("/subscriptions/%s/providers/%s?api-version=%s",
                                pf->e->subscription, ns, PROVIDERS_API);
            rc = path ? submit_for(pf, json_string_value(path), ns, on_provider) : dsvm_error_oom();
            json_decref(path);
        }
        free(ns);
        free(lower);
    }
    json_decref(seen);
    return rc;
}

/* ---- compute quota ----------------------------------------------------- */

/* The spec of manifest object `ref` ("Kind/name") as JSON, or NULL. */
static json_t *object_spec(const dsvm_repo *repo, const char *ref)
{
    size_t i, n = repo ? dsvm_repo_count(repo) : 0;

    for (i = 0; ref && i < n; i++) {
        const dsvm_object *o = dsvm_repo_object(repo, i);
        const char *kind = dsvm_kind_name(o->kind);
        size_t kl = strlen(kind);
        json_t *spec = NULL;

        if (strncmp(ref, kind, kl) == 0 && ref[kl] == '/' && strcmp(ref + kl + 1, o->name) == 0)
            return dsvm_object_spec_json(&spec, o) == 0 ? spec : NULL;
    }
    return NULL;
}

/* Record the vCPUs a planned scale set adds to its location and family. */
static void add_need(preflight *pf, const dsvm_plan_item *it)
{
    const json_t *sku = json_object_get(it->desired, "sku");
    const char *size = json_string_value(json_object_get(sku, "name"));
    const char *loc = json_string_value(json_object_get(it->desired, "location"));
    json_int_t want = json_integer_value(json_object_get(sku, "capacity")), have = 0, max, grow;
    json_t *spec = object_spec(dsvm_engine_repo(pf->e), it->object), *live, *fams, *need;
    const vm_size *vs = size_find(size);
    char *nloc;

    max = json_integer_value(json_object_get(json_object_get(spec, "autoscale"), "max"));
    json_decref(spec);
    if (max > want)
        want = max;
    live = dsvm_engine_live_get(pf->e, it->id);
    if (live && size &&
        strcasecmp(json_string_value(json_object_get(json_object_get(live, "sku"), "name"))
                       ? json_string_value(json_object_get(json_object_get(live, "sku"), "name"))
                       : "",
                   size) == 0)
        have = json_integer_value(json_object_get(json_object_get(live, "sku"), "capacity"));
    grow = want - have;
    if (grow <= 0 || !loc)
        return;
    if (!vs) {
        finding(pf, "warning",
                json_sprintf("%s: VM size %s is not in dsvmops' table of sizes, so its %lld "
                             "instances were not checked against quota; check the quota of its "
                             "family in %s yourself",
                             *it->object ? it->object : it->id, size ? size : "(none)",
                             (long long)grow, loc));
        return;
    }
    nloc = location_norm(loc);
    fams = nloc ? json_object_get(pf->needs, nloc) : NULL;
    if (nloc && !fams) {
        fams = json_object();
        json_object_set_new(pf->needs, nloc, fams);
    }
    need = json_object_get(fams, vs->family);
    if (fams && !need) {
        need = json_pack("{s:I,s:[]}", "vcpus", (json_int_t)0, "objects");
        json_object_set_new(fams, vs->family, need);
    }
    if (!need) {
        pf->oom = 1;
    } else {
        json_object_set_new(
            need, "vcpus",
            json_integer(json_integer_value(json_object_get(need, "vcpus")) + grow * vs->vcpus));
        json_array_append_new(json_object_get(need, "objects"),
                              json_sprintf("%s (%lld x %s)", *it->object ? it->object : it->id,
                                           (long long)grow, vs->name));
    }
    free(nloc);
}

static void on_usages(dsvm_engine *e, long status, const json_t *body, const char *message,
                      void *payload)
{
    pf_read *r = payload;
    json_t *list = json_object_get(body, "value");

    (void)e;
    if (status == 200 && json_is_array(list))
        json_object_set(r->pf->usages, r->key, list);
    else
        finding(r->pf, "warning",
                json_sprintf("could not read the compute quota of %s, so the planned cores were "
                             "not checked: %s",
                             r->key, message ? message : "no usages in the answer"));
    free(r->key);
    free(r);
}

static const json_t *usage_find(const json_t *list, const char *name)
{
    const json_t *u;
    size_t i;

    json_array_foreach(list, i, u)
    {
        const char *v = json_string_value(json_object_get(json_object_get(u, "name"), "value"));

        if (v && family_eq(v, name))
            return u;
    }
    return NULL;
}

static json_int_t usage_free(const json_t *u)
{
    return json_integer_value(json_object_get(u, "limit")) -
           json_integer_value(json_object_get(u, "currentValue"));
}

static void quota_error(preflight *pf, const char *loc, const char *family, const char *label,
                        json_int_t need, const json_t *u, const json_t *objects)
{
    char *who = NULL;
    json_t *o;
    size_t i, len = 1;

    json_array_foreach(objects, i, o) len += strlen(json_string_value(o)) + 2;
    who = calloc(1, len);
    if (!who) {
        pf->oom = 1;
        return;
    }
    json_array_foreach(objects, i, o)
    {
        if (i)
            strcat(who, ", ");
        strcat(who, json_string_value(o));
    }
    finding(pf, "error",
            json_sprintf("quota: %s in %s needs %lld more vCPUs of %s, but only %lld are free "
                         "(limit %lld, in use %lld); request a quota increase for %s in %s or "
                         "lower the capacity",
                         who, loc, (long long)need, label, (long long)usage_free(u),
                         (long long)json_integer_value(json_object_get(u, "limit")),
                         (long long)json_integer_value(json_object_get(u, "currentValue")), family,
                         loc));
    free(who);
}

static void quota_compare(preflight *pf)
{
    const char *loc, *family;
    json_t *fams, *need;

    json_object_foreach(pf->needs, loc, fams)
    {
        const json_t *list = json_object_get(pf->usages, loc), *u;
        json_t *all = json_array();
        json_int_t total = 0;

        if (!list || !all) {
            json_decref(all);
            continue;
        }
        json_object_foreach(fams, family, need)
        {
            json_int_t v = json_integer_value(json_object_get(need, "vcpus"));

            total += v;
            json_array_extend(all, json_object_get(need, "objects"));
            u = usage_find(list, family);
            if (!u)
                finding(pf, "warning",
                        json_sprintf("quota: the compute usages of %s list no family %s; check "
                                     "that %lld vCPUs of it are free",
                                     loc, family, (long long)v));
            else if (v > usage_free(u))
                quota_error(pf, loc, family, family, v, u, json_object_get(need, "objects"));
        }
        u = usage_find(list, "cores");
        if (u && total > usage_free(u))
            quota_error(pf, loc, "Total Regional vCPUs", "Total Regional vCPUs (all families)",
                        total, u, all);
        json_decref(all);
    }
}

static int check_quota(preflight *pf)
{
    const char *loc;
    json_t *fams;
    size_t i;
    int rc = 0;

    for (i = 0; i < pf->plan->n; i++) {
        const dsvm_plan_item *it = &pf->plan->items[i];

        if (is_write(it->action) && strcasecmp(it->type, VMSS_TYPE) == 0)
            add_need(pf, it);
    }
    json_object_foreach(pf->needs, loc, fams)
    {
        json_t *p = json_sprintf(
            "/subscriptions/%s/providers/Microsoft.Compute/locations/%s/usages?api-version=%s",
            pf->e->subscription, loc, USAGES_API);

        (void)fams;
        rc = p ? submit_for(pf, json_string_value(p), loc, on_usages) : dsvm_error_oom();
        json_decref(p);
        if (rc < 0)
            break;
    }
    return rc;
}

/* ---- features ---------------------------------------------------------- */

/* The value at dotted `path` below `root`, or NULL. */
static const json_t *json_at(const json_t *root, const char *path)
{
    while (root && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);

        root = json_object_getn(root, path, n);
        path += n + (dot ? 1 : 0);
    }
    return root;
}

static void on_feature(dsvm_engine *e, long status, const json_t *body, const char *message,
                       void *payload)
{
    pf_read *r = payload;
    const json_t *use = json_object_get(r->pf->features, r->key);
    const feature_use *f = &feature_uses[json_integer_value(json_object_get(use, "feature"))];
    const char *sub = json_string_value(json_object_get(use, "sub"));
    const char *state =
        json_string_value(json_object_get(json_object_get(body, "properties"), "state"));

    (void)e;
    if (status == 200 && state && strcasecmp(state, "Registered") != 0) {
        const json_t *o;
        size_t i, len = 1;
        char *who;

        json_array_foreach(json_object_get(use, "objects"), i, o) len +=
            strlen(json_string_value(o)) + 2;
        who = calloc(1, len);
        if (!who) {
            r->pf->oom = 1;
        } else {
            json_array_foreach(json_object_get(use, "objects"), i, o)
            {
                if (i)
                    strcat(who, ", ");
                strcat(who, json_string_value(o));
            }
            finding(r->pf, "error",
                    json_sprintf("feature %s/%s is %s in subscription %s and is needed by "
                                 "%s; register it: az feature register --namespace %s --name "
                                 "%s, then `az provider register --namespace %s`, and plan again",
                                 f->ns, f->name, state, sub, who, f->ns, f->name, f->ns));
        }
        free(who);
    } else if (status != 200 || !state) {
        finding(r->pf, "warning",
                json_sprintf("could not check that feature %s/%s is registered in subscription "
                             "%s: %s",
                             f->ns, f->name, sub, message ? message : "no state in the answer"));
    }
    free(r->key);
    free(r);
}

/* The subscription in ARM ID `id` (malloc'd), or a copy of `fallback`. */
static char *id_subscription(const char *id, const char *fallback)
{
    static const char prefix[] = "/subscriptions/";

    if (id && strncasecmp(id, prefix, sizeof(prefix) - 1) == 0) {
        const char *s = id + sizeof(prefix) - 1;

        return strndup(s, strcspn(s, "/"));
    }
    return strdup(fallback);
}

/* One GET per feature and subscription that planned writes need. */
static int check_features(preflight *pf)
{
    const char *key;
    json_t *use;
    size_t i, j;
    int rc = 0;

    for (i = 0; i < pf->plan->n; i++) {
        const dsvm_plan_item *it = &pf->plan->items[i];

        for (j = 0; is_write(it->action) && j < sizeof(feature_uses) / sizeof(feature_uses[0]);
             j++) {
            const feature_use *f = &feature_uses[j];
            char *sub;
            json_t *k;

            if (strcasecmp(it->type, f->type) != 0 || !json_is_true(json_at(it->desired, f->path)))
                continue;
            sub = id_subscription(it->id, pf->e->subscription);
            k = sub ? json_sprintf("%s %s/%s", sub, f->ns, f->name) : NULL;
            use = k ? json_object_get(pf->features, json_string_value(k)) : NULL;
            if (k && !use) {
                use = json_pack("{s:s,s:I,s:[]}", "sub", sub, "feature", (json_int_t)j, "objects");
                if (json_object_set_new(pf->features, json_string_value(k), use) < 0)
                    use = NULL;
            }
            if (!use || json_array_append_new(json_object_get(use, "objects"),
                                              json_string(*it->object ? it->object : it->id)) < 0)
                pf->oom = 1;
            json_decref(k);
            free(sub);
        }
    }
    json_object_foreach(pf->features, key, use)
    {
        const feature_use *f = &feature_uses[json_integer_value(json_object_get(use, "feature"))];
        json_t *p = json_sprintf("/subscriptions/%s/providers/Microsoft.Features/providers/%s/"
                                 "features/%s?api-version=%s",
                                 json_string_value(json_object_get(use, "sub")), f->ns, f->name,
                                 FEATURES_API);

        rc = p ? submit_for(pf, json_string_value(p), key, on_feature) : dsvm_error_oom();
        json_decref(p);
        if (rc < 0)
            break;
    }
    return rc;
}

/* ---- Batch accounts ---------------------------------------------------- */

/* Batch pools share one account per resource group and region; more than
 * one planned there means the provider's sharing broke, or manifests name
 * accounts of their own. No request. */
static void check_batch_accounts(preflight *pf)
{
    json_t *groups = json_object(), *r, *names;
    const char *key;
    size_t i;

    if (!groups) {
        pf->oom = 1;
        return;
    }
    json_array_foreach(dsvm_engine_resources(pf->e), i, r)
    {
        const char *type = json_string_value(json_object_get(r, "type"));
        const char *id = json_string_value(json_object_get(r, "id"));
        const char *loc =
            json_string_value(json_object_get(json_object_get(r, "body"), "location"));
        const char *p = id;
        int seg = 0;
        json_t *k;

        if (!type || !id || strcasecmp(type, BATCH_ACCOUNT_TYPE) != 0)
            continue;
        while (*p && !(*p == '/' && p != id && ++seg == 4))
            p++;
        k = json_sprintf("%.*s in %s", (int)(p - id), id, loc ? loc : "(no location)");
        names = k ? json_object_get(groups, json_string_value(k)) : NULL;
        if (k && !names) {
            names = json_array();
            json_object_set_new(groups, json_string_value(k), names);
        }
        if (!names || json_array_append_new(names, json_string(p + (*p ? 1 : 0))) < 0)
            pf->oom = 1;
        json_decref(k);
    }
    json_object_foreach(groups, key, names)
    {
        if (json_array_size(names) > 1)
            finding(pf, "error",
                    json_sprintf("%zu Batch accounts are planned in %s; Azure allows few Batch "
                                 "accounts per region, so Batch pools must share one per resource "
                                 "group and region: put the pools of that group under one "
                                 "account",
                                 json_array_size(names), key));
    }
    json_decref(groups);
}

int dsvm_preflight_run(dsvm_engine *e, dsvm_plan *plan)
{
    preflight pf = {e, plan, json_object(), json_object(), json_object(), 0};
    int rc = 0;

    if (plan->counts[DSVM_ACTION_CREATE] + plan->counts[DSVM_ACTION_UPDATE] +
            plan->counts[DSVM_ACTION_REPLACE] ==
        0)
        goto out;
    if (!pf.needs || !pf.usages || !pf.features) {
        rc = dsvm_error_oom();
        goto out;
    }
    rc = check_providers(&pf);
    if (rc == 0)
        rc = check_quota(&pf);
    if (rc == 0)
        rc = check_features(&pf);
    /* Run even after a failed submit: the callbacks of the requests already
     * accepted use `pf`, which lives on this stack. */
    if (dsvm_http_run(e->http) < 0 && rc == 0)
        rc = DSVM_ERROR;
    if (rc == 0) {
        quota_compare(&pf);
        check_batch_accounts(&pf);
    }
    if (rc == 0 && pf.oom)
        rc = dsvm_error_oom();
out:
    json_decref(pf.needs);
    json_decref(pf.usages);
    json_decref(pf.features);
    return rc;
}
