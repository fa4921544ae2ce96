/*
 * The reconcile engine. See reconcile.h for the flow; the pieces it joins:
 * model/ (manifests, graph, diff, plan), the provider plugin (expand,
 * reads, classification, per-type rules), http/auth/lro (the wire) and the
 * state store (journal, fingerprints, lease, history).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "auth.h"
#include "dsvmops/error.h"
#include "graph.h"
#include "http.h"
#include "lro.h"
#include "provider_host.h"
#include "engine.h"
#include "fmt.h"
#include "preflight.h"
#include "rollout.h"
#include "state.h"

char *dsvm_engine_lower(const char *s)
{
    char *d = strdup(s), *p;

    for (p = d; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

json_t *dsvm_engine_live_get(const dsvm_engine *e, const char *id)
{
    char *key = dsvm_engine_lower(id);
    json_t *v = key ? json_object_get(e->live, key) : NULL;

    free(key);
    return v;
}

int dsvm_engine_live_put(dsvm_engine *e, const char *id, json_t *body)
{
    char *key = dsvm_engine_lower(id);
    int rc = key ? json_object_set_new(e->live, key, body) : -1;

    if (!key)
        json_decref(body);
    free(key);
    return rc < 0 ? DSVM_ENOMEM : 0;
}

void dsvm_engine_live_del(dsvm_engine *e, const char *id)
{
    char *key = dsvm_engine_lower(id);

    if (key)
        json_object_del(e->live, key);
    free(key);
}

int dsvm_rate_limits_parse(void *out_limits3, const char *spec)
{
    static const char *const names[DSVM_BUCKET_COUNT] = {"reads", "writes", "deletes"};
    dsvm_bucket_limit lim[DSVM_BUCKET_COUNT];
    const char *p = spec;
    int i;

    for (i = 0; i < DSVM_BUCKET_COUNT; i++)
        lim[i] = dsvm_ratelimit_arm_limit((dsvm_bucket_class)i);
    if (strcmp(spec, "off") == 0) {
        for (i = 0; i < DSVM_BUCKET_COUNT; i++) {
            lim[i].burst = 1e9;
            lim[i].per_sec = 1e9;
        }
        p = "";
    }
    while (*p) {
        size_t n = strcspn(p, "=");
        double burst, rate;
        char *end;

        for (i = 0; i < DSVM_BUCKET_COUNT; i++)
            if (strlen(names[i]) == n && strncmp(p, names[i], n) == 0)
                break;
        if (i == DSVM_BUCKET_COUNT || p[n] != '=')
            goto bad;
        burst = strtod(p + n + 1, &end);
        if (*end != '/')
            goto bad;
        rate = strtod(end + 1, &end);
        if (burst < 1 || rate <= 0 || (*end && *end != ','))
            goto bad;
        lim[i].burst = burst;
        lim[i].per_sec = rate;
        p = *end ? end + 1 : end;
    }
    memcpy(out_limits3, lim, sizeof(lim));
    return 0;
bad:
    dsvm_error_set(DSVM_ERRCLASS_CONFIG,
                   "rate limits '%s': write \"off\" or e.g. "
                   "\"reads=250/25,writes=200/10,deletes=200/10\" (burst/per second)",
                   spec);
    return DSVM_EINVALID;
}

int dsvm_engine_new(dsvm_engine **out, const dsvm_config *cfg, const dsvm_reconcile_opts *opts,
                    int with_state)
{
    dsvm_engine *e = calloc(1, sizeof(*e));
    dsvm_http_options hopts;
    dsvm_bucket_limit limits[DSVM_BUCKET_COUNT];
    char *dir = NULL;
    int rc;

    if (!e)
        return dsvm_error_oom();
    e->cfg = cfg;
    e->opts = *opts;
    if (!e->opts.instance)
        e->opts.instance = "default";
    if (e->opts.parallelism <= 0)
        e->opts.parallelism = cfg->reconcile.parallelism > 0 ? cfg->reconcile.parallelism : 32;
    e->base = cfg->target.resource_manager.value;
    e->audience = cfg->target.audience.value;
    e->subscription = cfg->target.subscription.value;
    e->live = json_object();
    e->owned = json_array();
    e->source_dir = opts->source_dir ? strdup(opts->source_dir) : NULL;
    e->opts.source_dir = e->source_dir;
    e->commit = opts->commit ? strdup(opts->commit) : NULL;
    e->opts.commit = e->commit;
    if (!e->live || !e->owned || (opts->source_dir && !e->source_dir) ||
        (opts->commit && !e->commit)) {
        rc = dsvm_error_oom();
        goto fail;
    }
    if (!e->subscription || !e->base) {
        dsvm_error_set(DSVM_ERRCLASS_CONFIG,
                       "%s: target.subscription is not set (nor AZURE_SUBSCRIPTION_ID)", cfg->path);
        rc = DSVM_EINVALID;
        goto fail;
    }
    dsvm_http_options_init(&hopts);
    if (opts->rate_limits) {
        rc = dsvm_rate_limits_parse(limits, opts->rate_limits);
        if (rc < 0)
            goto fail;
        hopts.limits = limits;
    }
    hopts.max_concurrency = e->opts.parallelism;
    hopts.stop = opts->stop;
    hopts.log = opts->log;
    hopts.lro_in_flight = opts->lro_in_flight;
    hopts.lro_payload = opts->lro_payload;
    hopts.ca_file = cfg->target.ca_file.value;
    rc = dsvm_http_new(&e->http, &hopts);
    if (rc == 0 && !opts->offline)
        rc = dsvm_auth_new_from_config(&e->auth, e->http, cfg, NULL);
    if (rc < 0)
        goto fail;
    if (!e->opts.provider_dir) {
        rc = dsvm_provider_dir_default(&dir);
        if (rc < 0)
            goto fail;
    }
    rc = dsvm_plugin_load(&e->plugin, e->opts.provider_dir ? e->opts.provider_dir : dir, "azure");
    free(dir);
    if (rc < 0)
        goto fail;
    if (with_state) {
        rc = dsvm_state_open(&e->state, cfg->state.path);
        if (rc < 0)
            goto fail;
    }
    *out = e;
    return 0;
fail:
    dsvm_engine_free(e);
    return rc;
}

void dsvm_engine_free(dsvm_engine *e)
{
    if (!e)
        return;
    dsvm_http_free(e->http);
    dsvm_auth_free(e->auth);
    dsvm_plugin_free(e->plugin);
    dsvm_state_close(e->state);
    dsvm_repo_free(e->repo);
    dsvm_graph_free(e->graph);
    json_decref(e->resources);
    json_decref(e->live);
    json_decref(e->owned);
    free(e->read_error);
    free(e->source_dir);
    free(e->commit);
    free(e);
}

const json_t *dsvm_engine_resources(const dsvm_engine *e)
{
    return e->resources;
}

const dsvm_repo *dsvm_engine_repo(const dsvm_engine *e)
{
    return e->repo;
}

static json_t *strmap_json(const dsvm_strmap *m)
{
    json_t *o = json_object();
    size_t i;

    for (i = 0; o && i < m->n; i++)
        json_object_set_new(o, m->items[i].key, json_string(m->items[i].value));
    return o;
}

/* The objects as the provider ABI wants them: kind, name, group, labels,
 * annotations and the spec with defaults applied. */
static json_t *objects_json(const dsvm_repo *repo)
{
    json_t *arr = json_array();
    size_t i;

    for (i = 0; arr && i < dsvm_repo_count(repo); i++) {
        const dsvm_object *o = dsvm_repo_object(repo, i);
        json_t *spec = NULL, *j;

        if (dsvm_object_spec_json(&spec, o) < 0) {
            json_decref(arr);
            return NULL;
        }
        j = json_pack("{s:s,s:s,s:s?,s:o,s:o,s:o}", "kind", dsvm_kind_name(o->kind), "name",
                      o->name, "resourceGroup", o->resource_group_name, "labels",
                      strmap_json(&o->labels), "annotations", strmap_json(&o->annotations), "spec",
                      spec);
        if (!j || json_array_append_new(arr, j) < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

int dsvm_engine_load(dsvm_engine *e, dsvm_diags *diags)
{
    int rc = dsvm_repo_load(&e->repo, e->opts.source_dir, NULL, diags);

    return rc < 0 ? rc : dsvm_engine_expand(e);
}

int dsvm_engine_expand(dsvm_engine *e)
{
    json_t *objects = objects_json(e->repo);
    json_t *context = json_pack("{s:s,s:s,s:s?}", "subscription", e->subscription, "instance",
                                e->opts.instance, "tenant", e->cfg->target.tenant.value);
    int rc;

    /* jansson documents, not text, when the provider can take them: the
     * text round trip was most of a plan's CPU at 1,000 pools */
    if (objects && context)
        rc = dsvm_plugin_expand_tree(&e->resources, e->plugin, context, objects);
    else
        rc = dsvm_error_oom();
    json_decref(objects);
    json_decref(context);
    return rc < 0 ? rc : dsvm_graph_new(&e->graph, e->resources);
}

/* ---- observe ----------------------------------------------------------- */

typedef struct {
    dsvm_engine *e;
    char *request; /* the request description, as JSON text for classify */
} read_ctx;

static void note_read_error(dsvm_engine *e, const char *what, const char *message)
{
    if (e->read_error)
        return;
    e->read_error = dsvm_fmt("%s: %s", what, message);
}

static void on_read(const dsvm_http_response *resp, void *payload);

static int submit_read(dsvm_engine *e, const char *url, const char *request_json)
{
    read_ctx *rc = calloc(1, sizeof(*rc));
    dsvm_http_request req = {0};
    int err;

    if (!rc || !(rc->request = strdup(request_json))) {
        free(rc);
        return dsvm_error_oom();
    }
    rc->e = e;
    req.method = "GET";
    req.url = url;
    req.bucket = DSVM_BUCKET_READ;
    req.audience = e->audience;
    req.flags = DSVM_HTTP_EXPECT_404;
    err = dsvm_http_submit(e->http, &req, on_read, rc);
    if (err < 0) {
        free(rc->request);
        free(rc);
    }
    return err;
}

static void take_item(dsvm_engine *e, json_t *item)
{
    const char *id = json_string_value(json_object_get(item, "id"));

    if (id)
        dsvm_engine_live_put(e, id, json_incref(item));
}

int dsvm_engine_take_answer(dsvm_engine *e, char **out_next, const char *request_json, int status,
                            const char *body, size_t body_len)
{
    char *doc = NULL, *next_copy = NULL;
    int klass = DSVM_ANSWER_FATAL, rc;

    rc = dsvm_plugin_classify(&klass, &doc, e->plugin, request_json, status, body, body_len);
    if (rc < 0)
        return rc;
    if (klass == DSVM_ANSWER_OK) {
        json_t *page = doc ? json_loads(doc, 0, NULL) : NULL;
        const char *items_at = json_string_value(json_object_get(page, "itemsAt"));
        const char *next_at = json_string_value(json_object_get(page, "nextLinkAt"));
        json_t *answer = NULL, *items = json_object_get(page, "items"), *next, *item;
        size_t i;

        /* the provider either copied the page out, or said where it is in
         * the answer; then the answer is parsed here, once */
        if (!items && (items_at || !page)) {
            answer = json_loadb(body, body_len, 0, NULL);
            items = items_at ? json_object_get(answer, items_at) : NULL;
        }
        next = items_at ? json_object_get(answer, next_at ? next_at : "nextLink")
                        : json_object_get(page, "nextLink");
        if (json_is_array(items)) {
            json_array_foreach(items, i, item) take_item(e, item);
            if (json_is_string(next) && *json_string_value(next) &&
                !(next_copy = strdup(json_string_value(next))))
                rc = dsvm_error_oom();
        } else if (json_is_object(answer)) {
            take_item(e, answer);
        }
        json_decref(answer);
        json_decref(page);
    }
    free(doc);
    if (rc < 0)
        return rc;
    *out_next = next_copy;
    return klass;
}

static void on_read(const dsvm_http_response *resp, void *payload)
{
    read_ctx *rc = payload;
    dsvm_engine *e = rc->e;
    char *next = NULL;
    int klass;

    if (resp->error) {
        note_read_error(e, "reading live state", resp->message ? resp->message : "failed");
        goto out;
    }
    klass = dsvm_engine_take_answer(e, &next, rc->request, (int)resp->status, resp->body,
                                    resp->body_len);
    if (klass < 0) {
        note_read_error(e, "classifying an answer", dsvm_error_last()->message);
    } else if (klass == DSVM_ANSWER_OK) {
        if (next && submit_read(e, next, rc->request) < 0)
            note_read_error(e, "following nextLink", dsvm_error_last()->message);
    } else if (klass != DSVM_ANSWER_ABSENT) {
        note_read_error(e, "reading live state",
                        resp->message ? resp->message : "unexpected answer");
    }
    free(next);
out:
    free(rc->request);
    free(rc);
}

char *dsvm_engine_url(const char *base, const char *path)
{
    return dsvm_fmt("%s%s", base, path);
}

typedef struct {
    dsvm_engine *e;
    dsvm_engine_get_fn done;
    void *payload;
} get_ctx;

static void on_get(const dsvm_http_response *resp, void *payload)
{
    get_ctx *g = payload;
    json_t *body = resp->error ? NULL : json_loads(resp->body, 0, NULL);
    const char *msg = resp->message ? resp->message : resp->error ? "no answer" : NULL;

    g->done(g->e, resp->error ? 0 : resp->status, body, msg, g->payload);
    json_decref(body);
    free(g);
}

int dsvm_engine_get(dsvm_engine *e, const char *path, dsvm_engine_get_fn done, void *payload)
{
    get_ctx *g = calloc(1, sizeof(*g));
    char *url = strncmp(path, "http", 4) == 0 ? strdup(path) : dsvm_engine_url(e->base, path);
    dsvm_http_request req = {0};
    int rc;

    if (!g || !url) {
        free(g);
        free(url);
        return dsvm_error_oom();
    }
    g->e = e;
    g->done = done;
    g->payload = payload;
    req.method = "GET";
    req.url = url;
    req.bucket = DSVM_BUCKET_READ;
    req.audience = e->audience;
    req.flags = DSVM_HTTP_EXPECT_404;
    rc = dsvm_http_submit(e->http, &req, on_get, g);
    if (rc < 0)
        free(g);
    free(url);
    return rc;
}

/* The ID made of the first `segments` path segments of `id`, or NULL. */
static char *id_prefix(const char *id, int segments)
{
    const char *p = id;
    int seen = 0;

    while (*p) {
        if (*p == '/' && p != id && ++seen == segments)
            return strndup(id, (size_t)(p - id));
        p++;
    }
    return seen + 1 == segments ? strdup(id) : NULL;
}

/* A resource is worth a GET only when its group and its top-level parent
 * exist: an absent group means everything in it is absent. */
static int parents_live(dsvm_engine *e, const char *id)
{
    char *rg = id_prefix(id, 4), *top = id_prefix(id, 8);
    int ok = rg && dsvm_engine_live_get(e, rg) &&
             (!top || strcasecmp(top, id) == 0 || dsvm_engine_live_get(e, top));

    free(rg);
    free(top);
    return ok;
}

static int list_owned(dsvm_engine *e);

/* Submit the reads the provider describes for `scope`. */
static int submit_described(dsvm_engine *e, json_t *scope)
{
    char *scope_text = json_dumps(scope, JSON_COMPACT), *reqs_text = NULL;
    json_t *reqs = NULL, *r;
    size_t i;
    int rc;

    if (!scope_text)
        return dsvm_error_oom();
    rc = dsvm_plugin_describe_reads(&reqs_text, e->plugin, scope_text);
    free(scope_text);
    if (rc < 0)
        return rc;
    reqs = json_loads(reqs_text, 0, NULL);
    free(reqs_text);
    json_array_foreach(reqs, i, r)
    {
        const char *path = json_string_value(json_object_get(r, "path"));
        char *url, *text;

        if (!path)
            continue;
        url = dsvm_engine_url(e->base, path);
        text = json_dumps(r, JSON_COMPACT);
        rc = url && text ? submit_read(e, url, text) : dsvm_error_oom();
        free(url);
        free(text);
        if (rc < 0)
            break;
    }
    json_decref(reqs);
    return rc;
}

static int observe_children(dsvm_engine *e)
{
    json_t *children = json_array(), *scope, *r;
    size_t i;
    int rc;

    if (!children)
        return dsvm_error_oom();
    json_array_foreach(e->resources, i, r)
    {
        const char *id = json_string_value(json_object_get(r, "id"));
        const char *type = json_string_value(json_object_get(r, "type"));
        const dsvm_type_rules *rules = type ? dsvm_plugin_type_rules(e->plugin, type) : NULL;

        if (rules && (rules->flags & DSVM_TYPE_NO_LIST) && parents_live(e, id))
            json_array_append_new(children, json_pack("{s:s,s:s,s:O}", "id", id, "type", type,
                                                      "body", json_object_get(r, "body")));
    }
    if (json_array_size(children) == 0) {
        json_decref(children);
        return 0;
    }
    scope = json_pack("{s:s,s:o}", "subscription", e->subscription, "children", children);
    if (!scope)
        return dsvm_error_oom();
    rc = submit_described(e, scope);
    json_decref(scope);
    if (rc == 0)
        rc = dsvm_http_run(e->http);
    return rc;
}

int dsvm_engine_observe(dsvm_engine *e)
{
    json_t *scope = json_pack("{s:s}", "subscription", e->subscription);
    int rc;

    if (!scope)
        return dsvm_error_oom();
    rc = submit_described(e, scope);
    json_decref(scope);
    if (rc < 0)
        return rc;
    rc = dsvm_http_run(e->http);
    if (rc == 0 && !e->read_error) {
        /* Types without a subscription-wide list: the provider lists them
         * per parent (one list per storage account, Batch account or data
         * collection rule), only under parents that are live. */
        rc = observe_children(e);
    }
    if (rc == 0 && e->read_error) {
        dsvm_error_set(DSVM_ERRCLASS_NET, "%s", e->read_error);
        rc = DSVM_ENET;
    }
    if (rc == 0)
        rc = list_owned(e);
    return rc;
}

static int by_id_length(const void *a, const void *b)
{
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "id"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "id"));
    size_t lx = x ? strlen(x) : 0, ly = y ? strlen(y) : 0;

    return lx < ly ? -1 : lx > ly ? 1 : strcmp(x ? x : "", y ? y : "");
}

/* Live resources that carry this instance's ownership tag, parents first
 * (shorter IDs first), so that deletes can run in the reverse order. */
typedef struct {
    dsvm_engine *e;
    json_t **items;
    size_t n;
} owned_ctx;

/* An untaggable resource this instance created, by the state store's
 * record, if it is still live. */
static int add_recorded_owner(const char *id, const char *object, void *payload)
{
    owned_ctx *c = payload;
    json_t *body = dsvm_engine_live_get(c->e, id);
    const char *inst =
        json_string_value(json_object_get(json_object_get(body, "tags"), "dsvmops-instance"));

    /* counted once: a resource with the tag is already in the list */
    if (body && !inst)
        c->items[c->n++] = json_pack("{s:s,s:O,s:s}", "id", id, "type",
                                     json_object_get(body, "type"), "object", object);
    return 0;
}

/* Live resources this instance owns, parents first (shorter IDs first), so
 * that deletes can run in the reverse order: those carrying its ownership
 * tag, and untaggable ones the state store records as created by it. */
static int list_owned(dsvm_engine *e)
{
    owned_ctx c = {e, NULL, 0};
    const char *key;
    json_t *body;
    size_t i;

    c.items = calloc(json_object_size(e->live) + 1, sizeof(*c.items));
    if (!c.items)
        return dsvm_error_oom();
    json_object_foreach(e->live, key, body)
    {
        json_t *tags = json_object_get(body, "tags");
        const char *inst = json_string_value(json_object_get(tags, "dsvmops-instance"));

        (void)key;
        if (!inst || strcmp(inst, e->opts.instance) != 0)
            continue;
        c.items[c.n++] = json_pack("{s:O,s:O,s:O?}", "id", json_object_get(body, "id"), "type",
                                   json_object_get(body, "type"), "object",
                                   json_object_get(tags, "dsvmops-object"));
    }
    if (e->state)
        dsvm_state_owner_list(e->state, e->opts.instance, add_recorded_owner, &c);
    qsort(c.items, c.n, sizeof(*c.items), by_id_length);
    for (i = 0; i < c.n; i++)
        if (c.items[i])
            json_array_append_new(e->owned, c.items[i]);
    free(c.items);
    return 0;
}

/* ---- plan -------------------------------------------------------------- */

static const dsvm_type_rules *rules_of(const char *type, void *payload)
{
    dsvm_engine *e = payload;

    return dsvm_plugin_type_rules(e->plugin, type);
}

/* Replace {"$knownAfterApply": "<id>#<path>"} with the live value when it
 * is known by now. */
void dsvm_engine_resolve_known(dsvm_engine *e, json_t *v)
{
    const char *key;
    json_t *child;
    size_t i;

    if (json_is_array(v)) {
        json_array_foreach(v, i, child) dsvm_engine_resolve_known(e, child);
        return;
    }
    if (!json_is_object(v))
        return;
    json_object_foreach(v, key, child)
    {
        const char *ref = json_is_object(child)
                              ? json_string_value(json_object_get(child, "$knownAfterApply"))
                              : NULL;
        const char *hash = ref ? strchr(ref, '#') : NULL;

        if (hash) {
            char *id = strndup(ref, (size_t)(hash - ref));
            json_t *cur = id ? dsvm_engine_live_get(e, id) : NULL;
            char *path = strdup(hash + 1), *plus, *seg, *save = NULL;

            /* "<id>#<path>+<suffix>": the live value with text appended */
            plus = path ? strchr(path, '+') : NULL;
            if (plus)
                *plus++ = '\0';
            for (seg = path ? strtok_r(path, ".", &save) : NULL; cur && seg;
                 seg = strtok_r(NULL, ".", &save))
                cur = json_object_get(cur, seg);
            if (cur && plus && json_is_string(cur))
                json_object_set_new(v, key, json_sprintf("%s%s", json_string_value(cur), plus));
            else if (cur && !plus && !json_is_null(cur))
                json_object_set(v, key, cur);
            free(id);
            free(path);
        } else {
            dsvm_engine_resolve_known(e, child);
        }
    }
}

/* Fingerprint every write-only value of `res`; list the paths whose
 * fingerprint differs from the one last sent (design rule 4). */
static int mark_write_only(dsvm_engine *e, json_t *res)
{
    json_t *wo = json_object_get(res, "writeOnly"), *v, *changed = json_array();
    const char *id = json_string_value(json_object_get(res, "id"));
    const char *path;
    int exists = dsvm_engine_live_get(e, id) != NULL;

    if (!changed)
        return dsvm_error_oom();
    json_object_foreach(wo, path, v)
    {
        char fp[65], stored[65],
            *canon = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        int rc;

        if (!canon) {
            json_decref(changed);
            return dsvm_error_oom();
        }
        rc = e->state ? dsvm_state_fingerprint(e->state, fp, id, path, canon, strlen(canon))
                      : DSVM_ENOTFOUND;
        free(canon);
        if (!exists || rc < 0)
            continue;
        rc = dsvm_state_fingerprint_get(e->state, stored, id, path);
        if ((rc == DSVM_ENOTFOUND && e->opts.resend_secrets) ||
            (rc == 0 && strcmp(stored, fp) != 0))
            json_array_append_new(changed, json_string(path));
    }
    json_object_set_new(res, "writeOnlyChanged", changed);
    return 0;
}

/* --target Kind/name: that object's resources and everything they need. */
static int select_target(dsvm_engine *e, json_t **out)
{
    size_t n = dsvm_graph_size(e->graph), i;
    unsigned char *sel = calloc(n ? n : 1, 1);
    json_t *subset = json_array();
    int found = 0;

    if (!sel || !subset) {
        free(sel);
        json_decref(subset);
        return dsvm_error_oom();
    }
    for (i = 0; i < n; i++) {
        const char *obj =
            json_string_value(json_object_get(dsvm_graph_resource(e->graph, i), "object"));

        if (obj && strcmp(obj, e->opts.target) == 0) {
            dsvm_graph_closure(e->graph, i, sel);
            found = 1;
        }
    }
    if (!found) {
        dsvm_error_set(DSVM_ERRCLASS_CONFIG,
                       "--target %s matches no object; give Kind/name as in the manifests, "
                       "e.g. Pool/nlp-gpu",
                       e->opts.target);
        free(sel);
        json_decref(subset);
        return DSVM_ENOTFOUND;
    }
    for (i = 0; i < n; i++)
        if (sel[i])
            json_array_append(subset, (json_t *)dsvm_graph_resource(e->graph, i));
    free(sel);
    *out = subset;
    return 0;
}

/* Give `body` the value `live` has at the dotted `path` (a copy), or drop
 * it from `body` when `live` has none. */
static int take_live_value(json_t *body, const json_t *live, const char *path)
{
    char *p = strdup(path), *seg, *next, *save = NULL;
    json_t *dst = body, *child;
    const json_t *src = live;
    int rc = 0;

    if (!p)
        return dsvm_error_oom();
    for (seg = strtok_r(p, ".", &save); seg && rc == 0; seg = next) {
        next = strtok_r(NULL, ".", &save);
        src = json_is_object(src) ? json_object_get(src, seg) : NULL;
        if (!next) {
            if (src)
                rc = json_object_set_new(dst, seg, json_deep_copy(src));
            else
                json_object_del(dst, seg);
            break;
        }
        child = json_object_get(dst, seg);
        if (!json_is_object(child)) {
            if (!src)
                break;
            child = json_object();
            rc = json_object_set_new(dst, seg, child);
        }
        dst = child;
    }
    free(p);
    return rc < 0 ? dsvm_error_oom() : 0;
}

/*
 * The resources as the diff sees them. A resource's "ignoreFields" (ARM
 * body paths that something else owns, e.g. sku.capacity under an
 * autoscaler) take their live values when the resource exists, so they
 * never show as changes and an update sends back what is there; a create
 * sends the body as expanded. `*out` is a new array (the caller's) that
 * shares every resource without ignoreFields or live twin with `in`.
 */
static int honour_ignore_fields(dsvm_engine *e, const json_t *in, json_t **out)
{
    json_t *view = json_array(), *res;
    size_t i;
    int rc = 0;

    if (!view)
        return dsvm_error_oom();
    json_array_foreach(in, i, res)
    {
        const json_t *paths = json_object_get(res, "ignoreFields");
        const json_t *live =
            json_array_size(paths)
                ? dsvm_engine_live_get(e, json_string_value(json_object_get(res, "id")))
                : NULL;
        json_t *copy = live ? json_deep_copy(res) : json_incref(res), *p;
        size_t k;

        if (!copy || json_array_append_new(view, copy) < 0) {
            rc = dsvm_error_oom();
            break;
        }
        if (!live)
            continue;
        json_array_foreach(paths, k, p)
        {
            if (rc == 0 && json_is_string(p))
                rc = take_live_value(json_object_get(copy, "body"), live, json_string_value(p));
        }
        if (rc < 0)
            break;
    }
    if (rc < 0) {
        json_decref(view);
        return rc;
    }
    *out = view;
    return 0;
}

int dsvm_engine_plan(dsvm_engine *e, dsvm_plan **out)
{
    dsvm_plan_opts popts = {e->opts.instance, e->opts.adopt, e->opts.prune && !e->opts.target};
    json_t *res, *subset = NULL, *view = NULL;
    size_t i;
    int rc;

    json_array_foreach(e->resources, i, res)
    {
        const json_t *live = dsvm_engine_live_get(e, json_string_value(json_object_get(res, "id")));
        const char *state = json_string_value(
            json_object_get(json_object_get(live, "properties"), "provisioningState"));

        /* ARM keeps a resource whose last operation failed, marked Failed:
         * it is written again even when its fields match */
        if (state && strcasecmp(state, "Failed") == 0)
            json_object_set_new(res, "reapply", json_string("properties.provisioningState"));
        dsvm_engine_resolve_known(e, json_object_get(res, "body"));
        rc = mark_write_only(e, res);
        if (rc < 0)
            return rc;
    }
    if (e->opts.target) {
        rc = select_target(e, &subset);
        if (rc < 0)
            return rc;
    }
    rc = honour_ignore_fields(e, subset ? subset : e->resources, &view);
    json_decref(subset);
    if (rc < 0)
        return rc;
    rc = dsvm_plan_build(out, view, e->live, e->opts.target ? NULL : e->owned, rules_of, e, &popts);
    json_decref(view);
    if (rc < 0)
        return rc;
    rc = dsvm_preflight_run(e, *out);
    if (rc == 0)
        rc = dsvm_rollout_plan(e, *out);
    if (rc < 0) {
        dsvm_plan_free(*out);
        *out = NULL;
    }
    return rc;
}

json_t *dsvm_engine_request_counts(const dsvm_engine *e)
{
    static const char *const verbs[DSVM_HTTP_VERB_COUNT] = {"GET",  "PUT",  "PATCH", "DELETE",
                                                            "POST", "HEAD", "OTHER"};
    const dsvm_http_stats *st = dsvm_http_get_stats(e->http);
    json_t *o = json_object();
    int i;

    for (i = 0; o && i < DSVM_HTTP_VERB_COUNT; i++)
        json_object_set_new(o, verbs[i], json_integer((json_int_t)st->requests[i]));
    return o;
}
