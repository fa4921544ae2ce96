/*
 * Apply: guards, then journalled writes in dependency order through the
 * host's event loop, then deletes in reverse order.
 *
 * Every write is journalled (intent) before it is sent and its outcome
 * after. A failed write blocks only the resources that depend on it.
 * Write-only values (secrets) are fetched from the Key Vault data plane at
 * send time, never logged, and only their fingerprints are kept.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dsvmops/error.h"
#include "engine.h"
#include "fmt.h"
#include "lro.h"
#include "rollout.h"

#define KEYVAULT_AUDIENCE "https://vault.azure.net"
#define KEYVAULT_DATA_API "7.4"

typedef struct applier applier;

typedef struct {
    applier *a;
    size_t node; /* graph node, or (size_t)-1 for a delete */
    const dsvm_plan_item *item;
    const json_t *res;  /* the expanded resource (borrowed) */
    json_t *body;       /* what is sent, secrets included: never logged */
    size_t secrets_due; /* Key Vault reads still in flight */
    int failed;
    char *failure;
    int64_t entry;
    int64_t started_ms;
    int deleting_for_replace;
} op;

struct applier {
    dsvm_engine *e;
    const dsvm_plan *plan;
    dsvm_sched *sched;
    const dsvm_plan_item **item_of_node;
    size_t in_flight;
    size_t total, finished;
    dsvm_apply_result *res;
    int64_t run_id;
    size_t *deletes;
    size_t n_deletes, next_delete;
    int tty;            /* progress goes to a terminal: one status line, redrawn */
    int64_t started_ms; /* when the writes began, for the elapsed time */
    char *state_error;  /* the state store failed (a full disk): nothing new starts */
};

static void pump(applier *a);
static void next_delete(applier *a);
static void send_write(op *o);

static const char *short_name(const char *id)
{
    const char *s = strrchr(id, '/');

    return s ? s + 1 : id;
}

/*
 * Report progress. Off a terminal: one line per finished resource (and its
 * failure). On a terminal: failures get their lines, and one status line
 * "done N, running M, queued K, elapsed T" is redrawn in place. `o` NULL
 * redraws the status line only; `what` NULL as well ends it (the apply is
 * over; what never started was blocked by a failed dependency).
 */
static void progress(applier *a, const op *o, const char *what)
{
    FILE *f = a->e->opts.progress;
    size_t running, rest;

    if (!f)
        return;
    if (o && (!a->tty || o->failed)) {
        fprintf(f, "%s[%*zu/%zu] %-7s %s %s (%s): %s", a->tty ? "\r\033[K" : "",
                a->total >= 100 ? 3 : 2, a->finished, a->total, dsvm_action_name(o->item->action),
                o->item->type, short_name(o->item->id), o->item->object, what);
        if (o->started_ms)
            fprintf(f, " in %.1fs", (double)(dsvm_http_now_ms() - o->started_ms) / 1000.0);
        fputc('\n', f);
        if (o->failed)
            fprintf(f, "    %s\n", o->failure ? o->failure : "failed");
    }
    if (a->tty) {
        /* an op being reported still counts as in flight */
        running = a->in_flight - (o && a->in_flight ? 1 : 0);
        rest = a->total > a->finished + running ? a->total - a->finished - running : 0;
        fprintf(f, "\r\033[Kdone %zu", a->finished);
        if (a->res->failed)
            fprintf(f, " (%zu failed)", a->res->failed);
        fprintf(f, ", running %zu, %s %zu, elapsed %.1fs%s", running,
                o || what ? "queued" : "blocked", rest,
                (double)(dsvm_http_now_ms() - a->started_ms) / 1000.0, o || what ? "" : "\n");
    }
    fflush(f);
}

/* The journal could not be written: no write may be sent without its intent
 * (design rule 9), so nothing new starts; the first error is kept. */
static void state_failed(applier *a)
{
    if (!a->state_error)
        a->state_error = strdup(dsvm_error_last()->message);
}

static void op_free(op *o)
{
    json_decref(o->body);
    free(o->failure);
    free(o);
}

static void op_fail(op *o, const char *message)
{
    if (!o->failed) {
        o->failed = 1;
        o->failure = strdup(message ? message : "failed");
    }
}

/* Record the outcome, report it, and let the scheduler move on. */
static void op_finish(op *o, long http_status)
{
    applier *a = o->a;
    dsvm_engine *e = a->e;

    a->finished++;
    if (o->entry &&
        dsvm_state_journal_outcome(e->state, o->entry, o->failed ? "failed" : "succeeded",
                                   (int)http_status, o->failure) < 0)
        state_failed(a);
    if (o->failed) {
        a->res->failed++;
        progress(a, o, "FAILED");
    } else {
        a->res->succeeded++;
        progress(a, o, "done");
    }
    a->in_flight--;
    if (o->node != (size_t)-1) {
        dsvm_sched_done(a->sched, o->node, !o->failed);
        op_free(o);
        pump(a);
    } else {
        op_free(o);
        next_delete(a);
    }
}

/* Set `value` at dotted `path` in `root`, creating objects (and indexing
 * arrays by number) on the way. Steals `value`. */
static int set_path(json_t *root, const char *path, json_t *value)
{
    char *copy = strdup(path), *seg, *save = NULL, *next;
    json_t *cur = root;
    int rc = -1;

    if (!copy) {
        json_decref(value);
        return DSVM_ENOMEM;
    }
    seg = strtok_r(copy, ".", &save);
    while (seg && cur) {
        next = strtok_r(NULL, ".", &save);
        if (!next) {
            rc = json_is_array(cur) ? json_array_set_new(cur, strtoul(seg, NULL, 10), value)
                                    : json_object_set_new(cur, seg, value);
            value = NULL;
            break;
        }
        if (json_is_array(cur)) {
            cur = json_array_get(cur, strtoul(seg, NULL, 10));
        } else {
            json_t *child = json_object_get(cur, seg);

            if (!child) {
                child = json_object();
                json_object_set_new(cur, seg, child);
            }
            cur = child;
        }
        seg = next;
    }
    json_decref(value);
    free(copy);
    return rc < 0 ? DSVM_EINVALID : 0;
}

static int is_changed(const json_t *res, const char *path)
{
    const json_t *changed = json_object_get(res, "writeOnlyChanged");
    size_t i;

    for (i = 0; i < json_array_size(changed); i++)
        if (strcmp(json_string_value(json_array_get(changed, i)), path) == 0)
            return 1;
    return 0;
}

/* An extension's protectedSettings only reach the VM again when its
 * forceUpdateTag changes: bump it to the new fingerprint's prefix. */
static void bump_force_update_tag(op *o, const char *path)
{
    applier *a = o->a;
    const char *id = json_string_value(json_object_get(o->res, "id"));
    size_t n = strlen(path), suffix = strlen(".protectedSettings");
    char fp[65], *tag_path, *canon;

    if (n <= suffix || strcmp(path + n - suffix, ".protectedSettings") != 0 || !a->e->state)
        return;
    canon = json_dumps(json_object_get(json_object_get(o->res, "writeOnly"), path),
                       JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    tag_path = malloc(n + 16);
    if (canon && tag_path &&
        dsvm_state_fingerprint(a->e->state, fp, id, path, canon, strlen(canon)) == 0) {
        fp[16] = '\0';
        memcpy(tag_path, path, n - suffix);
        strcpy(tag_path + n - suffix, ".forceUpdateTag");
        set_path(o->body, tag_path, json_string(fp));
    }
    free(canon);
    free(tag_path);
}

typedef struct {
    op *o;
    char *path;
    const char *tmpl; /* "...{{secret}}..." or NULL: the value as is (borrowed) */
} secret_read;

/* The template with every "{{secret}}" replaced by `value`, or a copy of
 * `value` when there is no template. */
static json_t *fill_template(const char *tmpl, const char *value)
{
    static const char mark[] = "{{secret}}";
    size_t vlen = strlen(value), n = 1, i = 0;
    const char *p;
    char *buf;
    json_t *out;

    if (!tmpl)
        return json_string(value);
    for (p = tmpl; *p; p++)
        n += strncmp(p, mark, sizeof(mark) - 1) == 0 ? vlen : 1;
    buf = malloc(n);
    if (!buf)
        return NULL;
    for (p = tmpl; *p;) {
        if (strncmp(p, mark, sizeof(mark) - 1) == 0) {
            memcpy(buf + i, value, vlen);
            i += vlen;
            p += sizeof(mark) - 1;
        } else {
            buf[i++] = *p++;
        }
    }
    buf[i] = '\0';
    out = json_string(buf);
    memset(buf, 0, i);
    free(buf);
    return out;
}

static void on_secret(const dsvm_http_response *resp, void *payload)
{
    secret_read *sr = payload;
    op *o = sr->o;

    if (resp->error || resp->status != 200) {
        char msg[512];

        snprintf(msg, sizeof(msg), "reading the Key Vault secret for %s: %s", sr->path,
                 resp->message ? resp->message : "failed");
        op_fail(o, msg);
    } else {
        json_t *doc = json_loads(resp->body, 0, NULL);
        json_t *value = json_object_get(doc, "value");

        json_t *filled =
            json_is_string(value) ? fill_template(sr->tmpl, json_string_value(value)) : NULL;

        if (!json_is_string(value))
            op_fail(o, "the Key Vault answer has no secret value");
        else if (!filled || set_path(o->body, sr->path, filled) < 0)
            op_fail(o, "cannot place the secret in the request body");
        json_decref(doc);
    }
    free(sr->path);
    free(sr);
    if (--o->secrets_due == 0) {
        if (o->failed)
            op_finish(o, 0);
        else
            send_write(o);
    }
}

/* The vaultUri of the live vault named `name`, or NULL. */
static const char *vault_uri(dsvm_engine *e, const char *name)
{
    const char *key;
    json_t *body;

    json_object_foreach(e->live, key, body)
    {
        const char *type = json_string_value(json_object_get(body, "type"));
        const char *n = json_string_value(json_object_get(body, "name"));

        (void)key;
        if (type && n && strcasecmp(type, "Microsoft.KeyVault/vaults") == 0 &&
            strcasecmp(n, name) == 0)
            return json_string_value(
                json_object_get(json_object_get(body, "properties"), "vaultUri"));
    }
    return NULL;
}

/* Put every write-only value into the body: literals at once, Key Vault
 * references through a data-plane read. Returns the number of reads
 * started, or a negative code with the op failed. */
static int fill_write_only(op *o)
{
    dsvm_engine *e = o->a->e;
    json_t *wo = json_object_get(o->res, "writeOnly"), *v;
    const char *path;
    int started = 0;

    o->secrets_due = 1; /* held until every read is submitted */
    json_object_foreach(wo, path, v)
    {
        const char *vault = json_string_value(json_object_get(v, "keyVault"));
        const char *secret = json_string_value(json_object_get(v, "secret"));
        const char *uri;
        secret_read *sr;
        dsvm_http_request req = {0};
        char *url;

        if (is_changed(o->res, path))
            bump_force_update_tag(o, path);
        if (!vault || !secret) {
            set_path(o->body, path, json_deep_copy(v));
            continue;
        }
        uri = vault_uri(e, vault);
        if (!uri) {
            char msg[256];

            snprintf(msg, sizeof(msg), "Key Vault %s is not live or has no vaultUri", vault);
            op_fail(o, msg);
            break;
        }
        url = dsvm_fmt("%s%ssecrets/%s?api-version=%s", uri, uri[strlen(uri) - 1] == '/' ? "" : "/",
                       secret, KEYVAULT_DATA_API);
        sr = calloc(1, sizeof(*sr));
        if (!url || !sr || !(sr->path = strdup(path))) {
            free(url);
            free(sr);
            op_fail(o, "out of memory");
            break;
        }
        sr->tmpl = json_string_value(json_object_get(v, "template"));
        sr->o = o;
        req.method = "GET";
        req.url = url;
        req.bucket = DSVM_BUCKET_NONE;
        req.audience = KEYVAULT_AUDIENCE;
        o->secrets_due++;
        if (dsvm_http_submit(e->http, &req, on_secret, sr) < 0) {
            o->secrets_due--;
            free(sr->path);
            free(sr);
            op_fail(o, dsvm_error_last()->message);
        } else {
            started++;
        }
        free(url);
        if (o->failed)
            break;
    }
    o->secrets_due--;
    return started;
}

static void store_fingerprints(op *o)
{
    dsvm_engine *e = o->a->e;
    const char *id = json_string_value(json_object_get(o->res, "id"));
    json_t *wo = json_object_get(o->res, "writeOnly"), *v;
    const char *path;

    json_object_foreach(wo, path, v)
    {
        char fp[65], *canon = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

        if (canon && dsvm_state_fingerprint(e->state, fp, id, path, canon, strlen(canon)) == 0 &&
            dsvm_state_fingerprint_put(e->state, id, path, fp) < 0)
            state_failed(o->a);
        free(canon);
    }
}

static void on_written(const dsvm_lro_result *r, void *payload)
{
    op *o = payload;
    dsvm_engine *e = o->a->e;
    const dsvm_type_rules *rules = dsvm_plugin_type_rules(e->plugin, o->item->type);

    if (r->error && !(o->item->action == DSVM_ACTION_DELETE && r->http_status == 404)) {
        op_fail(o, r->message);
        op_finish(o, r->http_status);
        return;
    }
    if (o->item->action == DSVM_ACTION_DELETE) {
        /* gone (or already gone): forget it, and its ownership record */
        dsvm_engine_live_del(e, o->item->id);
        dsvm_state_owner_delete(e->state, o->item->id);
        op_finish(o, r->http_status);
        return;
    }
    if (o->deleting_for_replace) {
        o->deleting_for_replace = 0;
        dsvm_engine_live_del(e, o->item->id);
        send_write(o);
        return;
    }
    {
        json_t *body = r->body && *r->body ? json_loads(r->body, 0, NULL) : NULL;

        dsvm_engine_live_put(e, o->item->id, body ? body : json_deep_copy(o->item->desired));
    }
    store_fingerprints(o);
    /* a record that cannot be kept (a full disk) stops the apply like a journal */
    if (rules && !(rules->flags & DSVM_TYPE_TAGGABLE) &&
        dsvm_state_owner_put(e->state, o->item->id, o->item->object, e->opts.instance) < 0)
        state_failed(o->a);
    o->a->res->writes++;
    op_finish(o, r->http_status);
}

static int submit(op *o, const char *method, const char *body_text, dsvm_bucket_class bucket)
{
    dsvm_engine *e = o->a->e;
    const dsvm_type_rules *rules = dsvm_plugin_type_rules(e->plugin, o->item->type);
    dsvm_http_request req = {0};
    const char *headers[2] = {NULL, NULL};
    char *url, *if_match = NULL;
    int rc;

    if (!rules) {
        dsvm_error_set(DSVM_ERRCLASS_PROVIDER, "no rules for %s", o->item->type);
        return DSVM_EINVALID;
    }
    url = dsvm_fmt("%s%s?api-version=%s", e->base, o->item->id, rules->api_version);
    if (!url)
        return dsvm_error_oom();
    /* An update of a type with etags is conditional on the version that was
     * observed: if someone changed it since, ARM answers 412 and nothing is
     * overwritten. */
    if (body_text && (rules->flags & DSVM_TYPE_ETAG) && o->item->action == DSVM_ACTION_UPDATE) {
        const char *etag =
            json_string_value(json_object_get(dsvm_engine_live_get(e, o->item->id), "etag"));

        if (etag) {
            size_t hn = strlen(etag) + sizeof("If-Match: ");

            if_match = malloc(hn);
            if (if_match)
                snprintf(if_match, hn, "If-Match: %s", etag);
            headers[0] = if_match;
        }
    }
    rc = dsvm_state_journal_intent(e->state, &o->entry, o->a->run_id, o->item->id,
                                   dsvm_action_name(o->item->action), method);
    if (rc < 0)
        state_failed(o->a);
    if (rc == 0) {
        req.method = method;
        req.url = url;
        req.headers = headers[0] ? headers : NULL;
        req.body = body_text;
        req.bucket = bucket;
        req.audience = e->audience;
        rc = dsvm_lro_submit(e->http, &req, NULL, on_written, o);
    }
    free(if_match);
    free(url);
    return rc;
}

/* Send the PUT of a create, update, adopt or the second half of a replace. */
static void send_write(op *o)
{
    char *text;
    int rc;

    text = json_dumps(o->body, JSON_COMPACT);
    if (!text) {
        op_fail(o, "out of memory");
        op_finish(o, 0);
        return;
    }
    rc = submit(o, "PUT", text, DSVM_BUCKET_WRITE);
    /* the body held secrets: wipe the serialised copy before freeing it */
    memset(text, 0, strlen(text));
    free(text);
    if (rc < 0) {
        op_fail(o, dsvm_error_last()->message);
        op_finish(o, 0);
    }
}

static int has_placeholder(const json_t *v)
{
    const char *key;
    json_t *child;
    size_t i;

    if (json_is_array(v)) {
        json_array_foreach((json_t *)v, i, child) if (has_placeholder(child)) return 1;
        return 0;
    }
    if (!json_is_object(v))
        return 0;
    if (json_object_get(v, "$knownAfterApply"))
        return 1;
    json_object_foreach((json_t *)v, key, child)
    {
        (void)key;
        if (has_placeholder(child))
            return 1;
    }
    return 0;
}

static void start_write(applier *a, size_t node, const dsvm_plan_item *item)
{
    op *o = calloc(1, sizeof(*o));

    if (!o) {
        dsvm_sched_done(a->sched, node, 0);
        return;
    }
    o->a = a;
    o->node = node;
    o->item = item;
    o->res = dsvm_graph_resource(a->e->graph, node);
    o->started_ms = dsvm_http_now_ms();
    o->body = json_deep_copy(item->desired);
    a->in_flight++;
    if (!o->body) {
        op_fail(o, "out of memory");
        op_finish(o, 0);
        return;
    }
    dsvm_engine_resolve_known(a->e, o->body);
    if (has_placeholder(o->body)) {
        op_fail(o, "a value known only after apply is still unknown (did a dependency fail?)");
        op_finish(o, 0);
        return;
    }
    if (item->action == DSVM_ACTION_REPLACE) {
        o->deleting_for_replace = 1;
        if (submit(o, "DELETE", NULL, DSVM_BUCKET_DELETE) < 0) {
            op_fail(o, dsvm_error_last()->message);
            op_finish(o, 0);
        }
        return;
    }
    fill_write_only(o);
    if (o->secrets_due > 0)
        return; /* on_secret() sends it */
    if (o->failed)
        op_finish(o, 0);
    else
        send_write(o);
}

/* Hand out ready nodes while there is room on the wire. Nodes without a
 * write (no-ops) finish at once. */
static void pump(applier *a)
{
    size_t node;

    while (a->in_flight < (size_t)a->e->opts.parallelism && !dsvm_http_stopping(a->e->http) &&
           !a->state_error && dsvm_sched_next(&node, a->sched) == 0) {
        const dsvm_plan_item *item = a->item_of_node[node];

        if (!item || item->action == DSVM_ACTION_NOOP || item->action == DSVM_ACTION_DELETE) {
            dsvm_sched_done(a->sched, node, 1);
            continue;
        }
        start_write(a, node, item);
    }
}

/* Deletes run one at a time, in plan order (dependents first). */
static void next_delete(applier *a)
{
    while (a->next_delete < a->n_deletes && !dsvm_http_stopping(a->e->http) && !a->state_error) {
        const dsvm_plan_item *item = &a->plan->items[a->deletes[a->next_delete++]];
        op *o = calloc(1, sizeof(*o));

        if (!o)
            return;
        o->a = a;
        o->node = (size_t)-1;
        o->item = item;
        o->started_ms = dsvm_http_now_ms();
        a->in_flight++;
        if (submit(o, "DELETE", NULL, DSVM_BUCKET_DELETE) < 0) {
            op_fail(o, dsvm_error_last()->message);
            a->finished++;
            a->res->failed++;
            progress(a, o, "FAILED");
            a->in_flight--;
            op_free(o);
            continue;
        }
        a->res->deletes++;
        return;
    }
}

typedef struct {
    int64_t *ids, *runs;
    char **resources;
    size_t n, cap;
} unfinished;

static int collect_unfinished(const dsvm_state_entry *en, void *payload)
{
    unfinished *u = payload;

    if (u->n == u->cap) {
        size_t cap = u->cap ? u->cap * 2 : 8;
        int64_t *ids = realloc(u->ids, cap * sizeof(*ids));
        int64_t *runs = ids ? realloc(u->runs, cap * sizeof(*runs)) : NULL;
        char **res = runs ? realloc(u->resources, cap * sizeof(*res)) : NULL;

        if (ids)
            u->ids = ids;
        if (runs)
            u->runs = runs;
        if (!res)
            return 1;
        u->resources = res;
        u->cap = cap;
    }
    u->resources[u->n] = strdup(en->resource_id);
    if (!u->resources[u->n])
        return 1;
    u->ids[u->n] = en->id;
    u->runs[u->n] = en->run_id;
    u->n++;
    return 0;
}

typedef struct {
    const char *target;
    int64_t ids[32];
    size_t n;
} running_runs;

static int collect_running(const dsvm_state_run *r, void *payload)
{
    running_runs *rr = payload;

    if (rr->n < sizeof(rr->ids) / sizeof(rr->ids[0]) && strcmp(r->outcome, "running") == 0 &&
        strcmp(r->kind, "apply") == 0 && strcasecmp(r->target, rr->target) == 0)
        rr->ids[rr->n++] = r->id;
    return 0;
}

/*
 * Writes journalled by an earlier run that never got an outcome were cut off
 * (kill -9, a crash, a power cut). Level-triggered, this run has just
 * observed those resources again and planned from what is there, so nothing
 * is created twice; record that in the journal, and mark the earlier runs
 * interrupted. Returns how many entries were settled.
 */
size_t dsvm_engine_settle(dsvm_engine *e)
{
    FILE *progress_out = e->opts.progress;
    unfinished u = {0};
    size_t i, settled = 0;
    char holder[96];

    if (!e->state)
        return 0;
    /* only the one writer may settle; a busy lease is reported by apply */
    snprintf(holder, sizeof(holder), "dsvmops apply (pid %ld)", (long)getpid());
    if (dsvm_state_lease_acquire(e->state, e->subscription, holder) < 0)
        return 0;
    dsvm_state_journal_unfinished(e->state, collect_unfinished, &u);
    {
        /* an apply of this target still "running" while we hold its lease
         * was cut off too, maybe with every write answered (before its end
         * was recorded) */
        running_runs rr = {e->subscription, {0}, 0};

        dsvm_state_runs_list(e->state, 32, collect_running, &rr);
        for (i = 0; i < rr.n; i++)
            dsvm_state_run_end(e->state, rr.ids[i], "interrupted", NULL);
    }
    for (i = 0; i < u.n; i++) {
        int live = dsvm_engine_live_get(e, u.resources[i]) != NULL;

        if (dsvm_state_journal_outcome(e->state, u.ids[i],
                                       live ? "interrupted: present when observed again"
                                            : "interrupted: absent when observed again",
                                       0, "the run was cut off before the answer") == 0)
            settled++;
        if (i == 0 || u.runs[i] != u.runs[i - 1])
            dsvm_state_run_end(e->state, u.runs[i], "interrupted", NULL);
        free(u.resources[i]);
    }
    if (settled && progress_out)
        fprintf(progress_out,
                "note: %zu writes of an interrupted earlier run had no answer; their resources "
                "were observed again and this plan accounts for them\n",
                settled);
    free(u.ids);
    free(u.runs);
    free(u.resources);
    dsvm_state_lease_release(e->state);
    return settled;
}

/* Guards of design rule 2: refuse before anything is written. */
static int guards(dsvm_engine *e, const dsvm_plan *plan)
{
    size_t i, deletes = plan->counts[DSVM_ACTION_DELETE];
    const char *err = dsvm_plan_first_error(plan);

    if (err) {
        dsvm_error_set(DSVM_ERRCLASS_CONFIG, "the plan has errors; fix them first: %s", err);
        return DSVM_EINVALID;
    }
    if (e->opts.max_deletes >= 0 && deletes > (size_t)e->opts.max_deletes) {
        dsvm_error_set(DSVM_ERRCLASS_CONFIG,
                       "the plan deletes %zu resources, more than the limit of %d; check the "
                       "plan, then pass --allow-deletes %zu",
                       deletes, e->opts.max_deletes, deletes);
        return DSVM_EREFUSED;
    }
    for (i = 0; i < plan->n; i++) {
        const dsvm_plan_item *it = &plan->items[i];
        const dsvm_type_rules *r = dsvm_plugin_type_rules(e->plugin, it->type);

        if (it->action == DSVM_ACTION_REPLACE && r && (r->flags & DSVM_TYPE_STATEFUL) &&
            !e->opts.allow_replace) {
            dsvm_error_set(DSVM_ERRCLASS_CONFIG,
                           "replacing %s (%s) would destroy its data because %s changed; "
                           "pass --allow-replace if that is intended",
                           it->id, it->object, it->diff->replace_field);
            return DSVM_EREFUSED;
        }
        if (it->action == DSVM_ACTION_DELETE &&
            strcasecmp(it->type, "Microsoft.Resources/resourceGroups") == 0) {
            const char *key;
            json_t *body;
            size_t n = strlen(it->id);

            json_object_foreach(e->live, key, body)
            {
                const char *inst = json_string_value(
                    json_object_get(json_object_get(body, "tags"), "dsvmops-instance"));

                if (strlen(key) > n && strncasecmp(key, it->id, n) == 0 && key[n] == '/' &&
                    (!inst || strcmp(inst, e->opts.instance) != 0)) {
                    dsvm_error_set(DSVM_ERRCLASS_CONFIG,
                                   "resource group %s holds %s, which dsvmops does not own; "
                                   "it is not deleted",
                                   it->id, key);
                    return DSVM_EREFUSED;
                }
            }
        }
    }
    return 0;
}

int dsvm_engine_apply(dsvm_engine *e, const dsvm_plan *plan, dsvm_apply_result *out)
{
    applier a = {0};
    dsvm_apply_result res = {0};
    size_t i, node;
    char holder[96], *summary = NULL;
    int rc;

    rc = guards(e, plan);
    if (rc < 0)
        return rc;
    if (!e->state) {
        dsvm_error_set(DSVM_ERRCLASS_STATE, "apply needs the state store");
        return DSVM_EINVALID;
    }
    snprintf(holder, sizeof(holder), "dsvmops apply (pid %ld)", (long)getpid());
    rc = dsvm_state_lease_acquire(e->state, e->subscription, holder);
    if (rc < 0)
        return rc;
    a.e = e;
    a.plan = plan;
    a.res = &res;
    a.total = dsvm_plan_changes(plan);
    a.tty = e->opts.progress && isatty(fileno(e->opts.progress));
    a.started_ms = dsvm_http_now_ms();
    a.item_of_node = calloc(dsvm_graph_size(e->graph) + 1, sizeof(*a.item_of_node));
    a.deletes = calloc(plan->n + 1, sizeof(size_t));
    if (!a.item_of_node || !a.deletes) {
        rc = dsvm_error_oom();
        goto out;
    }
    for (i = 0; i < plan->n; i++) {
        if (plan->items[i].action == DSVM_ACTION_DELETE)
            a.deletes[a.n_deletes++] = i;
        else if (dsvm_graph_find(&node, e->graph, plan->items[i].id) == 0)
            a.item_of_node[node] = &plan->items[i];
    }
    rc = dsvm_state_run_begin(e->state, &a.run_id, "apply", e->subscription,
                              e->opts.commit ? e->opts.commit : "");
    if (rc < 0)
        goto out;
    res.run_id = a.run_id;
    rc = dsvm_sched_new(&a.sched, e->graph, 0, NULL);
    if (rc < 0)
        goto out;
    pump(&a);
    progress(&a, NULL, "");
    rc = dsvm_http_run(e->http);
    if (rc == 0) {
        next_delete(&a);
        rc = dsvm_http_run(e->http);
    }
    progress(&a, NULL, NULL);
    res.interrupted = dsvm_http_stopping(e->http);
    for (i = 0; i < dsvm_graph_size(e->graph); i++) {
        dsvm_node_state st = dsvm_sched_state(a.sched, i);

        if (a.item_of_node[i] && a.item_of_node[i]->action != DSVM_ACTION_NOOP &&
            (st == DSVM_NODE_BLOCKED || st == DSVM_NODE_PENDING))
            res.blocked++;
    }
    if (a.state_error)
        rc = DSVM_EIO;
    /* design rule 11: instances of updated Manual scale sets, in batches */
    if (rc == 0 && res.failed == 0 && res.blocked == 0 && !res.interrupted)
        rc = dsvm_rollout_apply(e, plan, a.run_id);
    summary = NULL;
    {
        json_t *s = json_pack("{s:i,s:i,s:i,s:i,s:i}", "succeeded", (json_int_t)res.succeeded,
                              "failed", (json_int_t)res.failed, "blocked", (json_int_t)res.blocked,
                              "writes", (json_int_t)res.writes, "deletes", (json_int_t)res.deletes);

        summary = s ? json_dumps(s, JSON_COMPACT) : NULL;
        json_decref(s);
    }
    dsvm_state_run_end(e->state, a.run_id,
                       rc < 0                              ? "failed"
                       : res.interrupted                   ? "interrupted"
                       : res.failed > 0 || res.blocked > 0 ? "partial"
                                                           : "succeeded",
                       summary);
    if (a.state_error)
        dsvm_error_set(DSVM_ERRCLASS_STATE,
                       "%s; the apply stopped there, as no write is sent that cannot be "
                       "journalled: the next apply settles the writes whose outcome could not "
                       "be recorded",
                       a.state_error);
    if (rc == 0 && (res.failed > 0 || res.blocked > 0)) {
        dsvm_error_set(DSVM_ERRCLASS_PROVIDER, "%zu resources failed and %zu were blocked",
                       res.failed, res.blocked);
        rc = DSVM_ERROR;
    }
out:
    free(summary);
    free(a.state_error);
    dsvm_sched_free(a.sched);
    free(a.item_of_node);
    free(a.deletes);
    dsvm_state_lease_release(e->state);
    *out = res;
    return rc;
}
