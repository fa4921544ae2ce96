/*
 * Plan building and rendering. See plan.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsvmops/error.h"
#include "plan.h"

static const char *const action_names[DSVM_ACTION_COUNT] = {
    "no-op", "create", "update", "replace", "delete", "adopt",
};

/* Symbol, ANSI colour and Markdown label per action, as data. */
static const struct {
    const char *symbol;
    const char *color;
    const char *label;
} action_style[DSVM_ACTION_COUNT] = {
    {" ", "", "no-op"},
    {"+", "\033[32m", "\u2795 create"},
    {"~", "\033[33m", "\u270f\ufe0f update"},
    {"-/+", "\033[35m", "\u267b\ufe0f replace"},
    {"-", "\033[31m", "\u274c delete"},
    {"<=", "\033[36m", "\U0001f4e5 adopt"},
};

const char *dsvm_action_name(dsvm_action action)
{
    return action < DSVM_ACTION_COUNT ? action_names[action] : "?";
}

static char *lower_dup(const char *s)
{
    char *d = strdup(s), *p;

    for (p = d; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

static int grow(dsvm_plan *plan, size_t *cap)
{
    if (plan->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        dsvm_plan_item *p = realloc(plan->items, ncap * sizeof(*p));

        if (!p)
            return DSVM_ENOMEM;
        plan->items = p;
        *cap = ncap;
    }
    memset(&plan->items[plan->n], 0, sizeof(plan->items[0]));
    return 0;
}

int dsvm_plan_add_finding(dsvm_plan *plan, const char *severity, const char *message)
{
    if (json_array_append_new(plan->findings,
                              json_pack("{s:s,s:s}", "severity", severity, "message", message)) < 0)
        return dsvm_error_oom();
    return 0;
}

/* The owner recorded in a live resource's tags, or NULL. */
static const char *live_instance(const json_t *live)
{
    return json_string_value(json_object_get(json_object_get(live, "tags"), "dsvmops-instance"));
}

static int copy_sensitive(dsvm_plan_item *it, const json_t *res)
{
    json_t *paths = json_object_get(res, "writeOnlyChanged");
    size_t i;

    if (!json_is_array(paths) || json_array_size(paths) == 0)
        return 0;
    it->sensitive = calloc(json_array_size(paths), sizeof(char *));
    if (!it->sensitive)
        return DSVM_ENOMEM;
    for (i = 0; i < json_array_size(paths); i++) {
        const char *p = json_string_value(json_array_get(paths, i));

        it->sensitive[it->n_sensitive] = strdup(p ? p : "?");
        if (!it->sensitive[it->n_sensitive])
            return DSVM_ENOMEM;
        it->n_sensitive++;
    }
    return 0;
}

/*
 * A resource whose last write failed on the server (ARM's provisioningState
 * "Failed") matches its manifest field by field, yet is broken: the caller
 * marks it {"reapply": "<live state path>"} and it is written again, shown
 * as a change of that field.
 */
static int plan_reapply(dsvm_plan_item *it, const json_t *res, const json_t *live_body)
{
    const char *path = json_string_value(json_object_get(res, "reapply"));
    const json_t *cur = live_body;
    dsvm_field_change *c, *grown;
    char *copy, *seg, *save = NULL;

    if (!path || it->action != DSVM_ACTION_NOOP)
        return 0;
    copy = strdup(path);
    if (!copy)
        return DSVM_ENOMEM;
    for (seg = strtok_r(copy, ".", &save); seg && cur; seg = strtok_r(NULL, ".", &save))
        cur = json_object_get(cur, seg);
    grown = realloc(it->diff->changes, (it->diff->n + 1) * sizeof(*grown));
    if (!grown) {
        free(copy);
        return DSVM_ENOMEM;
    }
    it->diff->changes = grown;
    c = &grown[it->diff->n];
    memset(c, 0, sizeof(*c));
    c->path = strdup(path);
    c->before = cur ? json_incref((json_t *)cur) : NULL;
    c->after = json_string("(written again)");
    free(copy);
    if (!c->path || !c->after) {
        free(c->path);
        json_decref(c->after);
        json_decref(c->before);
        return DSVM_ENOMEM;
    }
    it->diff->n++;
    it->action = DSVM_ACTION_UPDATE;
    return 0;
}

/* Decide the action for one desired resource against its live twin. */
static int plan_desired(dsvm_plan *plan, dsvm_plan_item *it, const json_t *res,
                        const json_t *live_body, const dsvm_type_rules *rules,
                        const dsvm_plan_opts *opts)
{
    const json_t *body = json_object_get(res, "body");
    const char *owner;
    char msg[512];
    int rc;

    rc = copy_sensitive(it, res);
    if (rc < 0)
        return rc;
    it->desired = json_incref((json_t *)body);
    if (!live_body) {
        it->action = DSVM_ACTION_CREATE;
        return 0;
    }
    rc = dsvm_diff_resource(&it->diff, body, live_body, rules);
    if (rc < 0)
        return rc;
    owner = live_instance(live_body);
    if ((rules->flags & DSVM_TYPE_TAGGABLE) && (!owner || strcmp(owner, opts->instance) != 0)) {
        if (owner) {
            snprintf(msg, sizeof(msg),
                     "%s exists and is managed by dsvmops instance \"%s\", not \"%s\"; "
                     "leave it to that instance or remove its dsvmops tags",
                     it->id, owner, opts->instance);
            it->action = DSVM_ACTION_NOOP;
            return dsvm_plan_add_finding(plan, "error", msg);
        }
        if (!opts->adopt) {
            snprintf(msg, sizeof(msg),
                     "%s exists but is not managed by dsvmops; set reconcile.adopt: true to "
                     "adopt it, or rename %s",
                     it->id, it->object);
            it->action = DSVM_ACTION_NOOP;
            return dsvm_plan_add_finding(plan, "error", msg);
        }
        it->action = DSVM_ACTION_ADOPT;
        return 0;
    }
    if (it->diff->replace_field)
        it->action = DSVM_ACTION_REPLACE;
    else if (it->diff->n > 0 || it->n_sensitive > 0)
        it->action = DSVM_ACTION_UPDATE;
    else
        it->action = DSVM_ACTION_NOOP;
    return plan_reapply(it, res, live_body);
}

static int item_strings(dsvm_plan_item *it, const char *id, const char *type, const char *object,
                        const char *api_version)
{
    it->id = strdup(id);
    it->type = strdup(type);
    it->object = strdup(object ? object : "");
    it->api_version = strdup(api_version ? api_version : "");
    return it->id && it->type && it->object && it->api_version ? 0 : DSVM_ENOMEM;
}

int dsvm_plan_build(dsvm_plan **out, const json_t *desired, const json_t *live, const json_t *owned,
                    dsvm_rules_lookup rules, void *payload, const dsvm_plan_opts *opts)
{
    dsvm_plan *plan = calloc(1, sizeof(*plan));
    json_t *wanted = json_object();
    size_t cap = 0, i;
    int rc = 0;

    if (!plan || !wanted || !(plan->findings = json_array())) {
        json_decref(wanted);
        dsvm_plan_free(plan);
        return dsvm_error_oom();
    }
    for (i = 0; i < json_array_size(desired); i++) {
        json_t *res = json_array_get(desired, i);
        const char *id = json_string_value(json_object_get(res, "id"));
        const char *type = json_string_value(json_object_get(res, "type"));
        const dsvm_type_rules *r;
        char *key;

        if (!id || !type || !json_is_object(json_object_get(res, "body"))) {
            dsvm_error_set(DSVM_ERRCLASS_PROVIDER,
                           "expanded resource %zu has no id, type or body; the provider "
                           "is faulty",
                           i);
            rc = DSVM_EINVALID;
            goto out;
        }
        r = rules(type, payload);
        if (!r) {
            dsvm_error_set(DSVM_ERRCLASS_PROVIDER, "no rules for resource type %s (%s)", type, id);
            rc = DSVM_EINVALID;
            goto out;
        }
        key = lower_dup(id);
        if (!key || json_object_set_new(wanted, key, json_true()) < 0) {
            free(key);
            rc = DSVM_ENOMEM;
            goto out;
        }
        rc = grow(plan, &cap);
        if (rc == 0) {
            plan->n++;
            rc = item_strings(&plan->items[plan->n - 1], id, type,
                              json_string_value(json_object_get(res, "object")),
                              json_string_value(json_object_get(res, "apiVersion")));
        }
        if (rc == 0)
            rc = plan_desired(plan, &plan->items[plan->n - 1], res, json_object_get(live, key), r,
                              opts);
        free(key);
        if (rc < 0)
            goto out;
    }
    /* Owned resources nobody wants any more: deletes, newest dependency
     * first (reverse of the order they were listed in). */
    for (i = json_array_size(owned); i-- > 0;) {
        json_t *res = json_array_get(owned, i);
        const char *id = json_string_value(json_object_get(res, "id"));
        const char *type = json_string_value(json_object_get(res, "type"));
        char *key;
        int known;

        if (!id || !type)
            continue;
        key = lower_dup(id);
        if (!key) {
            rc = DSVM_ENOMEM;
            goto out;
        }
        known = json_object_get(wanted, key) != NULL;
        free(key);
        if (known)
            continue;
        if (!opts->prune) {
            char msg[512];

            snprintf(msg, sizeof(msg),
                     "%s is owned by dsvmops but no longer in Git; it is kept (run with "
                     "--prune to delete it)",
                     id);
            rc = dsvm_plan_add_finding(plan, "warning", msg);
            if (rc < 0)
                goto out;
            continue;
        }
        rc = grow(plan, &cap);
        if (rc < 0)
            goto out;
        plan->n++;
        plan->items[plan->n - 1].action = DSVM_ACTION_DELETE;
        rc = item_strings(&plan->items[plan->n - 1], id, type,
                          json_string_value(json_object_get(res, "object")), NULL);
        if (rc < 0)
            goto out;
    }
    for (i = 0; i < plan->n; i++)
        plan->counts[plan->items[i].action]++;
out:
    json_decref(wanted);
    if (rc < 0) {
        dsvm_plan_free(plan);
        return rc == DSVM_ENOMEM ? dsvm_error_oom() : rc;
    }
    *out = plan;
    return 0;
}

const char *dsvm_plan_first_error(const dsvm_plan *plan)
{
    size_t i;

    for (i = 0; i < json_array_size(plan->findings); i++) {
        json_t *f = json_array_get(plan->findings, i);

        if (strcmp(json_string_value(json_object_get(f, "severity")), "error") == 0)
            return json_string_value(json_object_get(f, "message"));
    }
    return NULL;
}

size_t dsvm_plan_changes(const dsvm_plan *plan)
{
    return plan->n - plan->counts[DSVM_ACTION_NOOP];
}

static int is_known_after_apply(const json_t *v)
{
    return json_is_object(v) && json_object_get(v, "$knownAfterApply") != NULL;
}

/* A value as short text for humans; caller frees. Long values are cut. */
static char *value_text(const json_t *v, size_t max)
{
    char *s;

    if (!v)
        return strdup("(absent)");
    if (is_known_after_apply(v))
        return strdup("(known after apply)");
    s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    if (s && max > 4 && strlen(s) > max)
        strcpy(s + max - 3, "...");
    return s;
}

static const char *short_name(const char *id)
{
    const char *slash = strrchr(id, '/');

    return slash ? slash + 1 : id;
}

/* Close a memory stream; its buffer is only final after fclose(). */
static int finish_stream(char **out, FILE *f, char **buf)
{
    if (fclose(f) != 0) {
        free(*buf);
        return dsvm_error_oom();
    }
    *out = *buf;
    return 0;
}

int dsvm_plan_render_text(char **out, const dsvm_plan *plan, int color)
{
    const char *reset = color ? "\033[0m" : "";
    char *buf = NULL;
    size_t len = 0, i, j;
    FILE *f = open_memstream(&buf, &len);

    if (!f)
        return dsvm_error_oom();
    for (i = 0; i < plan->n; i++) {
        const dsvm_plan_item *it = &plan->items[i];
        const char *c = color ? action_style[it->action].color : "";

        if (it->action == DSVM_ACTION_NOOP)
            continue;
        fprintf(f, "%s%3s %-7s%s %s %s", c, action_style[it->action].symbol,
                action_names[it->action], reset, it->type, short_name(it->id));
        if (*it->object)
            fprintf(f, " (%s)", it->object);
        if (it->action == DSVM_ACTION_REPLACE)
            fprintf(f, " - %s forces replacement", it->diff->replace_field);
        fputc('\n', f);
        for (j = 0; it->diff && j < it->diff->n; j++) {
            const dsvm_field_change *ch = &it->diff->changes[j];
            char *b = value_text(ch->before, 120), *a = value_text(ch->after, 120);

            fprintf(f, "      ~ %s: %s -> %s%s\n", ch->path, b ? b : "?", a ? a : "?",
                    ch->immutable ? "  # forces replacement" : "");
            free(b);
            free(a);
        }
        for (j = 0; j < it->n_sensitive; j++)
            fprintf(f, "      ~ %s: (sensitive) -> (sensitive)\n", it->sensitive[j]);
    }
    for (i = 0; i < json_array_size(plan->findings); i++) {
        json_t *fd = json_array_get(plan->findings, i);

        fprintf(f, "%s: %s\n", json_string_value(json_object_get(fd, "severity")),
                json_string_value(json_object_get(fd, "message")));
    }
    if (dsvm_plan_changes(plan) == 0)
        fprintf(f, "No changes. %zu resources are up to date.\n", plan->counts[DSVM_ACTION_NOOP]);
    else
        fprintf(f,
                "Plan: %zu to create, %zu to update, %zu to replace, %zu to delete, %zu to "
                "adopt; %zu unchanged.\n",
                plan->counts[DSVM_ACTION_CREATE], plan->counts[DSVM_ACTION_UPDATE],
                plan->counts[DSVM_ACTION_REPLACE], plan->counts[DSVM_ACTION_DELETE],
                plan->counts[DSVM_ACTION_ADOPT], plan->counts[DSVM_ACTION_NOOP]);
    return finish_stream(out, f, &buf);
}

/* A plan value for JSON: values only known later become a marker string. */
static json_t *json_value(const json_t *v)
{
    if (!v)
        return json_null();
    if (is_known_after_apply(v))
        return json_string("(known after apply)");
    return json_deep_copy(v);
}

int dsvm_plan_render_json(char **out, const dsvm_plan *plan, const json_t *meta)
{
    json_t *doc = json_object(), *resources = json_array(), *summary = json_object();
    size_t i, j;
    char *text;
    int a;

    if (!doc || !resources || !summary)
        goto oom;
    json_object_set_new(doc, "formatVersion", json_integer(DSVM_PLAN_FORMAT_VERSION));
    if (meta)
        json_object_update(doc, (json_t *)meta);
    for (a = 0; a < DSVM_ACTION_COUNT; a++)
        json_object_set_new(summary, action_names[a], json_integer((json_int_t)plan->counts[a]));
    json_object_set_new(doc, "summary", summary);
    summary = NULL;
    for (i = 0; i < plan->n; i++) {
        const dsvm_plan_item *it = &plan->items[i];
        json_t *r = json_pack("{s:s,s:s,s:s,s:s,s:s}", "action", action_names[it->action], "id",
                              it->id, "type", it->type, "object", it->object, "apiVersion",
                              it->api_version ? it->api_version : "");
        json_t *changes = json_array(), *sens = json_array();

        if (!r || !changes || !sens) {
            json_decref(r);
            json_decref(changes);
            json_decref(sens);
            goto oom;
        }
        for (j = 0; it->diff && j < it->diff->n; j++) {
            const dsvm_field_change *ch = &it->diff->changes[j];

            json_array_append_new(changes,
                                  json_pack("{s:s,s:o,s:o,s:b}", "path", ch->path, "before",
                                            json_value(ch->before), "after", json_value(ch->after),
                                            "forcesReplacement", ch->immutable));
        }
        for (j = 0; j < it->n_sensitive; j++)
            json_array_append_new(sens, json_string(it->sensitive[j]));
        json_object_set_new(r, "changes", changes);
        json_object_set_new(r, "sensitive", sens);
        json_object_set_new(r, "forcesReplacement",
                            it->diff && it->diff->replace_field
                                ? json_string(it->diff->replace_field)
                                : json_null());
        if (it->desired)
            json_object_set_new(r, "desired", json_deep_copy(it->desired));
        json_array_append_new(resources, r);
    }
    json_object_set_new(doc, "resources", resources);
    resources = NULL;
    json_object_set(doc, "findings", plan->findings);
    text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(doc);
    if (!text)
        return dsvm_error_oom();
    *out = text;
    return 0;
oom:
    json_decref(doc);
    json_decref(resources);
    json_decref(summary);
    return dsvm_error_oom();
}

/* Write `s` for a Markdown table cell inside backticks: pipes escaped and
 * newlines flattened, backticks replaced so the code span stays closed. */
static void md_cell(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputs("\\|", f);
        else if (*s == '\n' || *s == '\r')
            fputc(' ', f);
        else if (*s == '`')
            fputc('\'', f);
        else
            fputc(*s, f);
    }
}

int dsvm_plan_render_markdown(char **out, const dsvm_plan *plan, const char *title)
{
    char *buf = NULL;
    size_t len = 0, i, j;
    FILE *f = open_memstream(&buf, &len);
    int a;

    if (!f)
        return dsvm_error_oom();
    fprintf(f, "### dsvmops plan%s%s\n\n", title ? ": " : "", title ? title : "");
    if (dsvm_plan_changes(plan) == 0)
        fprintf(f, "**No changes.** %zu resources are up to date.\n\n",
                plan->counts[DSVM_ACTION_NOOP]);
    fputs("| Action | Resources |\n|---|---:|\n", f);
    for (a = DSVM_ACTION_CREATE; a < DSVM_ACTION_COUNT; a++)
        fprintf(f, "| %s | %zu |\n", action_style[a].label, plan->counts[a]);
    fprintf(f, "| unchanged | %zu |\n\n", plan->counts[DSVM_ACTION_NOOP]);
    for (i = 0; i < json_array_size(plan->findings); i++) {
        json_t *fd = json_array_get(plan->findings, i);

        fprintf(f, "> **%s:** %s\n>\n", json_string_value(json_object_get(fd, "severity")),
                json_string_value(json_object_get(fd, "message")));
    }
    for (i = 0; i < plan->n; i++) {
        const dsvm_plan_item *it = &plan->items[i];

        if (it->action == DSVM_ACTION_NOOP)
            continue;
        fprintf(f, "<details><summary>%s <code>%s</code> %s</summary>\n\n",
                action_style[it->action].label, short_name(it->id), it->object);
        fprintf(f, "`%s`\n\n", it->id);
        if (it->action == DSVM_ACTION_REPLACE)
            fprintf(f, "**`%s` forces replacement.**\n\n", it->diff->replace_field);
        if ((it->diff && it->diff->n) || it->n_sensitive) {
            fputs("| Field | Before | After |\n|---|---|---|\n", f);
            for (j = 0; it->diff && j < it->diff->n; j++) {
                const dsvm_field_change *ch = &it->diff->changes[j];
                char *b = value_text(ch->before, 200), *af = value_text(ch->after, 200);

                fputs("| `", f);
                md_cell(f, ch->path);
                fputs("` | `", f);
                md_cell(f, b ? b : "?");
                fputs("` | `", f);
                md_cell(f, af ? af : "?");
                fputs("` |\n", f);
                free(b);
                free(af);
            }
            for (j = 0; j < it->n_sensitive; j++) {
                fputs("| `", f);
                md_cell(f, it->sensitive[j]);
                fputs("` | (sensitive) | (sensitive) |\n", f);
            }
            fputc('\n', f);
        } else if (it->action == DSVM_ACTION_CREATE && it->desired) {
            char *body = json_dumps(it->desired, JSON_INDENT(2) | JSON_SORT_KEYS);

            fprintf(f, "```json\n%s\n```\n\n", body ? body : "{}");
            free(body);
        }
        fputs("</details>\n\n", f);
    }
    return finish_stream(out, f, &buf);
}

void dsvm_plan_free(dsvm_plan *plan)
{
    size_t i, j;

    if (!plan)
        return;
    for (i = 0; i < plan->n; i++) {
        dsvm_plan_item *it = &plan->items[i];

        free(it->id);
        free(it->type);
        free(it->object);
        free(it->api_version);
        dsvm_diff_free(it->diff);
        for (j = 0; j < it->n_sensitive; j++)
            free(it->sensitive[j]);
        free(it->sensitive);
        json_decref(it->desired);
    }
    free(plan->items);
    json_decref(plan->findings);
    free(plan);
}
