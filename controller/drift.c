/*
 * Drift: find it in a plan, pick each resource's policy, keep episodes.
 * See drift.h.
 */
#include <stdlib.h>
#include <string.h>

#include "drift.h"
#include "dsvmops/error.h"
#include "fmt.h"

const char *dsvm_drift_policy_name(int policy)
{
    switch (policy) {
    case DSVM_DRIFT_HEAL:
        return "heal";
    case DSVM_DRIFT_IGNORE:
        return "ignore";
    default:
        return "alert";
    }
}

int dsvm_drift_policy(const dsvm_object *object, const dsvm_config *cfg)
{
    if (object && object->drift != DSVM_UNSET)
        return object->drift;
    if (object && (size_t)object->kind < DSVM_KIND_COUNT &&
        cfg->drift.kind_policy[object->kind] != DSVM_UNSET)
        return cfg->drift.kind_policy[object->kind];
    if (cfg->drift.policy != DSVM_UNSET)
        return cfg->drift.policy;
    return cfg->reconcile.self_heal ? DSVM_DRIFT_HEAL : DSVM_DRIFT_ALERT;
}

/* The manifest object of a plan item's "Kind/name", or NULL. */
static const dsvm_object *object_of(const dsvm_repo *repo, const char *ref)
{
    const char *slash = ref ? strchr(ref, '/') : NULL;
    char kind_name[64];
    dsvm_kind kind;
    size_t n;

    if (!repo || !slash)
        return NULL;
    n = (size_t)(slash - ref);
    if (n >= sizeof(kind_name))
        return NULL;
    memcpy(kind_name, ref, n);
    kind_name[n] = '\0';
    if (dsvm_kind_lookup(&kind, kind_name) < 0)
        return NULL;
    return dsvm_repo_find(repo, kind, slash + 1);
}

static int is_drift(dsvm_action a)
{
    return a == DSVM_ACTION_CREATE || a == DSVM_ACTION_UPDATE || a == DSVM_ACTION_REPLACE;
}

static json_t *value_or_null(const json_t *v)
{
    return v ? json_incref((json_t *)v) : json_null();
}

static json_t *drift_fields(const dsvm_plan_item *it)
{
    json_t *fields = json_array();
    size_t j;

    if (!fields)
        return NULL;
    if (it->action == DSVM_ACTION_CREATE) {
        json_array_append_new(fields, json_pack("{s:s,s:s,s:s}", "path", "(resource)", "live",
                                                "absent", "desired", "present"));
        return fields;
    }
    for (j = 0; it->diff && j < it->diff->n; j++) {
        const dsvm_field_change *ch = &it->diff->changes[j];

        json_array_append_new(fields, json_pack("{s:s,s:o,s:o}", "path", ch->path, "live",
                                                value_or_null(ch->before), "desired",
                                                value_or_null(ch->after)));
    }
    for (j = 0; j < it->n_sensitive; j++)
        json_array_append_new(fields, json_pack("{s:s,s:s,s:s}", "path", it->sensitive[j], "live",
                                                "(sensitive)", "desired", "(sensitive)"));
    return fields;
}

int dsvm_drift_assess(dsvm_drift_report *out, const dsvm_plan *plan, const dsvm_repo *repo,
                      const dsvm_config *cfg)
{
    size_t i;

    memset(out, 0, sizeof(*out));
    out->drifted = json_array();
    if (!out->drifted)
        return dsvm_error_oom();
    for (i = 0; i < plan->n; i++) {
        const dsvm_plan_item *it = &plan->items[i];
        int policy;
        json_t *d, *fields;

        if (it->action == DSVM_ACTION_NOOP)
            out->in_sync++;
        if (!is_drift(it->action))
            continue;
        policy = dsvm_drift_policy(object_of(repo, it->object), cfg);
        fields = drift_fields(it);
        d = fields ? json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}", "id", it->id, "type", it->type,
                               "object", it->object, "action", dsvm_action_name(it->action),
                               "policy", dsvm_drift_policy_name(policy), "fields", fields)
                   : NULL;
        if (!d || json_array_append_new(out->drifted, d) < 0) {
            dsvm_drift_report_clear(out);
            return dsvm_error_oom();
        }
        if (policy == DSVM_DRIFT_HEAL)
            out->heal++;
        else if (policy == DSVM_DRIFT_IGNORE)
            out->ignore++;
        else
            out->alert++;
    }
    return 0;
}

void dsvm_drift_report_clear(dsvm_drift_report *r)
{
    json_decref(r->drifted);
    memset(r, 0, sizeof(*r));
}

/* The drifted entry of resource `id` in `r`, or NULL. */
static const json_t *drifted_entry(const dsvm_drift_report *r, const char *id)
{
    size_t i;
    json_t *d;

    json_array_foreach(r->drifted, i, d) if (strcasecmp(json_string_value(json_object_get(d, "id")),
                                                        id) == 0) return d;
    return NULL;
}

size_t dsvm_drift_heal_plan(dsvm_plan *plan, const dsvm_drift_report *r)
{
    size_t i, left = 0;

    for (i = 0; i < plan->n; i++) {
        dsvm_plan_item *it = &plan->items[i];
        const json_t *d = it->action == DSVM_ACTION_NOOP ? NULL : drifted_entry(r, it->id);

        if (d && strcmp(json_string_value(json_object_get(d, "policy")), "heal") == 0) {
            left++;
            continue;
        }
        if (it->action != DSVM_ACTION_NOOP) {
            plan->counts[it->action]--;
            plan->counts[DSVM_ACTION_NOOP]++;
            it->action = DSVM_ACTION_NOOP;
        }
    }
    return left;
}

typedef struct {
    json_t *open; /* [{"episode", "id", "object", "fields", "firstSeenMs"}] */
    int oom;
} open_list;

static int collect_open(const dsvm_state_drift *ep, void *payload)
{
    open_list *l = payload;
    json_t *fields = json_loads(ep->fields ? ep->fields : "[]", 0, NULL);
    json_t *v =
        json_pack("{s:I,s:s,s:s,s:o,s:I}", "episode", (json_int_t)ep->id, "id", ep->resource_id,
                  "object", ep->object ? ep->object : "", "fields", fields ? fields : json_array(),
                  "firstSeenMs", (json_int_t)ep->first_seen_ms);

    if (json_array_append_new(l->open, v) < 0)
        l->oom = 1;
    return 0;
}

int dsvm_drift_record(json_t **opened, json_t **resolved, dsvm_state *st,
                      const dsvm_drift_report *r)
{
    open_list l = {json_array(), 0};
    json_t *op = json_array(), *res = json_array(), *d, *ep;
    size_t i;
    int rc = l.open && op && res ? 0 : dsvm_error_oom();

    if (rc == 0)
        rc = dsvm_state_drift_open_list(st, collect_open, &l);
    if (rc == 0 && l.oom)
        rc = dsvm_error_oom();
    json_array_foreach(r->drifted, i, d)
    {
        const char *id = json_string_value(json_object_get(d, "id"));
        const char *policy = json_string_value(json_object_get(d, "policy"));
        char *fields = NULL;
        int was_opened = 0;

        if (rc < 0 || strcmp(policy, "ignore") == 0)
            continue;
        fields = json_dumps(json_object_get(d, "fields"), JSON_COMPACT);
        rc = fields ? dsvm_state_drift_seen(st, &was_opened, id,
                                            json_string_value(json_object_get(d, "object")), fields)
                    : dsvm_error_oom();
        free(fields);
        if (rc == 0 && was_opened)
            json_array_append_new(op, json_pack("{s:s,s:O,s:O,s:O,s:s}", "id", id, "object",
                                                json_object_get(d, "object"), "fields",
                                                json_object_get(d, "fields"), "action",
                                                json_object_get(d, "action"), "policy", policy));
    }
    /* open episodes whose resource is no longer drifted (or is ignored now) */
    json_array_foreach(l.open, i, ep)
    {
        const json_t *now = drifted_entry(r, json_string_value(json_object_get(ep, "id")));
        int was_resolved = 0;

        if (rc < 0)
            break;
        if (now && strcmp(json_string_value(json_object_get(now, "policy")), "ignore") != 0)
            continue;
        rc = dsvm_state_drift_resolve(st, &was_resolved,
                                      json_string_value(json_object_get(ep, "id")));
        if (rc == 0 && was_resolved)
            json_array_append(res, ep);
    }
    json_decref(l.open);
    if (rc < 0) {
        json_decref(op);
        json_decref(res);
        return rc;
    }
    *opened = op;
    *resolved = res;
    return 0;
}

size_t dsvm_plan_hold_suspended(dsvm_plan *plan, const dsvm_repo *repo)
{
    size_t i, held = 0;
    char *names = NULL;

    for (i = 0; i < plan->n; i++) {
        dsvm_plan_item *it = &plan->items[i];
        const dsvm_object *o;
        char *more;

        if (it->action == DSVM_ACTION_NOOP)
            continue;
        o = object_of(repo, it->object);
        if (!o || !o->suspend)
            continue;
        plan->counts[it->action]--;
        plan->counts[DSVM_ACTION_NOOP]++;
        it->action = DSVM_ACTION_NOOP;
        held++;
        if (names && strstr(names, it->object))
            continue;
        more = names ? dsvm_fmt("%s, %s", names, it->object) : dsvm_fmt("%s", it->object);
        if (more) {
            free(names);
            names = more;
        }
    }
    if (held) {
        char *msg = dsvm_fmt("%zu change(s) held back: suspended by dsvmops.io/suspend on %s", held,
                             names ? names : "objects");

        if (msg)
            dsvm_plan_add_finding(plan, "warning", msg);
        free(msg);
    }
    free(names);
    return held;
}

/* A value for one line of text: compact JSON, cut at 100 bytes. */
static char *short_value(const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

    if (s && strlen(s) > 100)
        strcpy(s + 96, "...");
    return s;
}

/* Append `line` (taken: freed here) to `*buf`; on failure sets *buf to NULL. */
static void add(char **buf, char *line)
{
    char *more;

    if (!*buf || !line) {
        free(*buf);
        free(line);
        *buf = NULL;
        return;
    }
    more = dsvm_fmt("%s%s", *buf, line);
    free(*buf);
    free(line);
    *buf = more;
}

static char *render_lines(const dsvm_drift_report *r, const char *commit, int markdown)
{
    size_t total = r->in_sync + json_array_size(r->drifted), i, j;
    char *out = dsvm_fmt("%s", "");
    json_t *d, *f;

    if (json_array_size(r->drifted) == 0) {
        add(&out, dsvm_fmt("No drift: %zu resources match Git%s%.12s%s.\n", total,
                           commit && *commit ? " (commit " : "", commit ? commit : "",
                           commit && *commit ? ")" : ""));
        return out;
    }
    add(&out, dsvm_fmt("%sDrift: %zu of %zu resources differ from Git%s%.12s%s "
                       "(heal %zu, alert %zu, ignore %zu).%s\n",
                       markdown ? "### " : "", json_array_size(r->drifted), total,
                       commit && *commit ? " at commit " : "", commit ? commit : "", "", r->heal,
                       r->alert, r->ignore, markdown ? "\n" : ""));
    if (markdown)
        add(&out, dsvm_fmt("| object | resource | policy | field | live | desired |\n"
                           "|---|---|---|---|---|---|\n"));
    json_array_foreach(r->drifted, i, d)
    {
        const char *obj = json_string_value(json_object_get(d, "object"));
        const char *id = json_string_value(json_object_get(d, "id"));
        const char *policy = json_string_value(json_object_get(d, "policy"));
        const char *action = json_string_value(json_object_get(d, "action"));

        if (!markdown)
            add(&out, dsvm_fmt("  %s %s  %s  [%s]\n", strcmp(action, "create") == 0 ? "-" : "~",
                               *obj ? obj : "(no object)", id, policy));
        json_array_foreach(json_object_get(d, "fields"), j, f)
        {
            char *live = short_value(json_object_get(f, "live"));
            char *want = short_value(json_object_get(f, "desired"));
            const char *path = json_string_value(json_object_get(f, "path"));

            if (strcmp(action, "create") == 0)
                add(&out, markdown
                              ? dsvm_fmt("| %s | `%s` | %s | (deleted outside dsvmops) | | |\n",
                                         obj, id, policy)
                              : dsvm_fmt("      deleted outside dsvmops\n"));
            else
                add(&out, markdown ? dsvm_fmt("| %s | `%s` | %s | `%s` | `%s` | `%s` |\n", obj, id,
                                              policy, path, live ? live : "", want ? want : "")
                                   : dsvm_fmt("      %s: live %s, desired %s\n", path,
                                              live ? live : "?", want ? want : "?"));
            free(live);
            free(want);
        }
    }
    return out;
}

int dsvm_drift_render(char **out, const dsvm_drift_report *r, const char *format,
                      const char *commit)
{
    char *text = NULL;

    if (strcmp(format, "json") == 0) {
        json_t *doc = json_pack("{s:i,s:s,s:I,s:I,s:I,s:I,s:O}", "formatVersion", 1, "commit",
                                commit ? commit : "", "inSync", (json_int_t)r->in_sync, "heal",
                                (json_int_t)r->heal, "alert", (json_int_t)r->alert, "ignore",
                                (json_int_t)r->ignore, "drifted", r->drifted);

        text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
        json_decref(doc);
    } else if (strcmp(format, "text") == 0 || strcmp(format, "markdown") == 0) {
        text = render_lines(r, commit, strcmp(format, "markdown") == 0);
    } else {
        dsvm_error_set(DSVM_ERRCLASS_CONFIG, "unknown format '%s'; use text, json or markdown",
                       format);
        return DSVM_EINVALID;
    }
    if (!text)
        return dsvm_error_oom();
    *out = text;
    return 0;
}
