/*
 * The daemon's loop: poll and webhooks, plan and apply, drift, alerts,
 * status and metrics. See daemon.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alert.h"
#include "cli_engine.h"
#include "daemon.h"
#include "drift.h"
#include "dsvmops/error.h"
#include "dsvmops/version.h"
#include "engine.h"
#include "fmt.h"
#include "git_source.h"
#include "server.h"

/* What a signal handler may touch: flags of this type and one pipe. They
 * are the file-scope state of this module; everything else is in
 * dsvm_daemon. */
static volatile sig_atomic_t stop_requested, reload_requested;
static int signal_pipe = -1;

static void on_signal(int sig)
{
    int saved = errno;
    char c = 's';

    if (sig == SIGHUP)
        reload_requested = 1;
    else
        stop_requested = 1;
    if (signal_pipe >= 0 && write(signal_pipe, &c, 1) < 0) {
        /* the pipe is full: the loop wakes anyway */
    }
    errno = saved;
}

typedef struct {
    dsvm_daemon_opts opts;
    dsvm_config *cfg;
    dsvm_log *log;
    dsvm_metrics *metrics;
    dsvm_server *server;
    dsvm_alerts *alerts;
    dsvm_source *src;  /* NULL when source.url is a plain directory */
    dsvm_state *state; /* the status document's connection, open while running */
    int wake[2];       /* [0] polled by the loop, [1] written to wake it */

    pthread_mutex_t mu; /* guards the members below, shared with the server */
    int trigger;        /* a webhook asked for a sync */
    char trigger_hook[32];
    int approve;   /* the pending plan was approved */
    int suspended; /* applies paused (reconcile.suspend or the API) */
    int ready;
    char *not_ready; /* why not ready */
    char *status;    /* /api/v1/status document */
    int has_pending; /* a copy of pending != NULL, for the server */

    /* owned by the loop thread */
    char commit[41];         /* last fetched */
    char *dir;               /* its manifests */
    char synced[41];         /* commit planned in sync or applied without failures */
    int synced_valid;        /* synced is meaningful (plain directories have no commit) */
    char applied[41];        /* the commit live state should match, for drift */
    char *applied_dir;       /* its manifests */
    json_t *pending;         /* {"commit", "dir", "summary", "plan"} or NULL */
    json_t *resources;       /* id -> {"object", "state"} from the last plan or drift check */
    json_t *last_error;      /* {"time", "message"} or NULL */
    int source_failing;      /* the last fetch failed (alerted once per streak) */
    char *failure_key;       /* "event commit" of the last failure alerted */
    int64_t last_success_ms; /* wall clock of the last reconcile that ended well */
    int64_t next_sync, next_drift;
} dsvm_daemon;

/* ---- small helpers ----------------------------------------------------- */

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* RFC 3339 UTC time of `ms` (wall clock) into `out`. */
static void rfc3339(char out[32], int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void wake(dsvm_daemon *d)
{
    char c = 'w';

    if (write(d->wake[1], &c, 1) < 0) {
        /* full: a wake-up is already queued */
    }
}

static const char *short_commit(const char *c)
{
    static const char none[] = "(none)";

    return c && *c ? c : none;
}

/* Record the last error for the status document and log it. */
static void fail(dsvm_daemon *d, const char *event, const char *message)
{
    char stamp[32];

    rfc3339(stamp, wall_ms());
    json_decref(d->last_error);
    d->last_error = json_pack("{s:s,s:s,s:s}", "time", stamp, "event", event, "message", message);
    dsvm_log_event(d->log, DSVM_LEVEL_ERROR, event, "error", message, NULL);
}

/* Queue an alert event, filling target, commit and time. */
static void alert(dsvm_daemon *d, json_t *event, const char *commit)
{
    char stamp[32];

    if (!event)
        return;
    rfc3339(stamp, wall_ms());
    json_object_set_new(event, "target", json_string(d->cfg->target.subscription.value));
    json_object_set_new(event, "commit", json_string(commit ? commit : ""));
    json_object_set_new(event, "time", json_string(stamp));
    if (d->alerts && dsvm_alerts_emit(d->alerts, event) < 0)
        dsvm_log_event(d->log, DSVM_LEVEL_ERROR, "alert.queue_failed", "error",
                       dsvm_error_last()->message, NULL);
    json_decref(event);
}

/*
 * Alert a failure once: the same event for the same commit again (a
 * failing apply retried every poll) is logged but not alerted again.
 */
static void alert_failure(dsvm_daemon *d, json_t *event, const char *commit)
{
    char *key =
        dsvm_fmt("%s %s", json_string_value(json_object_get(event, "event")), commit ? commit : "");

    if (key && d->failure_key && strcmp(key, d->failure_key) == 0) {
        free(key);
        json_decref(event);
        return;
    }
    free(d->failure_key);
    d->failure_key = key;
    alert(d, event, commit);
}

/* A pass ended well: the next failure is news again. */
static void failure_cleared(dsvm_daemon *d)
{
    free(d->failure_key);
    d->failure_key = NULL;
}

/* ---- metrics ----------------------------------------------------------- */

static void declare_metrics(dsvm_metrics *m)
{
    dsvm_metrics_declare(m, "dsvmops_info", DSVM_METRIC_GAUGE,
                         "dsvmops version and the commit last fetched", NULL, 0);
    dsvm_metrics_declare(m, "dsvmops_reconcile_duration_seconds", DSVM_METRIC_HISTOGRAM,
                         "Time a reconcile pass took, by kind (sync, drift, approve)", NULL, 0);
    dsvm_metrics_declare(m, "dsvmops_reconcile_runs_total", DSVM_METRIC_COUNTER,
                         "Reconcile passes by kind and outcome", NULL, 0);
    dsvm_metrics_declare(m, "dsvmops_resources", DSVM_METRIC_GAUGE,
                         "Resources by state (in_sync, drifted, failed, pending)", NULL, 0);
    dsvm_metrics_declare(m, "dsvmops_drift_episodes_open", DSVM_METRIC_GAUGE,
                         "Drift episodes open in the state store", NULL, 0);
    dsvm_metrics_declare(m, "dsvmops_arm_requests_total", DSVM_METRIC_COUNTER,
                         "ARM requests sent, by verb", NULL, 0);
    dsvm_metrics_declare(m, "dsvmops_arm_responses_total", DSVM_METRIC_COUNTER,
                         "ARM answers received, by status class", NULL, 0);
    dsvm_metrics_declare(m, "dsvmops_arm_throttled_total", DSVM_METRIC_COUNTER,
                         "ARM answers with status 429", NULL, 0);
    dsvm_metrics_declare(m, "dsvmops_arm_throttle_waits_total", DSVM_METRIC_COUNTER,
                         "Requests that waited for a client-side token bucket", NULL, 0);
    dsvm_metrics_declare(m, "dsvmops_arm_retries_total", DSVM_METRIC_COUNTER,
                         "ARM requests repeated after 429, 5xx, resets or timeouts", NULL, 0);
    dsvm_metrics_declare(m, "dsvmops_lro_in_flight", DSVM_METRIC_GAUGE,
                         "Long-running operations accepted and not yet finished", NULL, 0);
    dsvm_metrics_declare(m, "dsvmops_git_fetches_total", DSVM_METRIC_COUNTER,
                         "Git source fetches by outcome (unchanged, changed, failed)", NULL, 0);
    dsvm_metrics_declare(m, "dsvmops_last_success_timestamp_seconds", DSVM_METRIC_GAUGE,
                         "Wall-clock time of the last reconcile that ended well", NULL, 0);
    dsvm_metrics_declare(m, "dsvmops_pending_changes", DSVM_METRIC_GAUGE,
                         "Changes in the plan waiting for approval", NULL, 0);
    dsvm_metrics_declare(m, "dsvmops_suspended", DSVM_METRIC_GAUGE, "1 while applies are suspended",
                         NULL, 0);
    dsvm_metrics_set(m, "dsvmops_lro_in_flight", NULL, 0);
}

/* Add what one engine's HTTP loop counted to the process totals. */
static void count_requests(dsvm_daemon *d, const dsvm_engine *e)
{
    static const char *const verbs[DSVM_HTTP_VERB_COUNT] = {"GET",  "PUT",  "PATCH", "DELETE",
                                                            "POST", "HEAD", "OTHER"};
    static const char *const classes[6] = {"0xx", "1xx", "2xx", "3xx", "4xx", "5xx"};
    const dsvm_http_stats *s;
    int i;

    if (!e || !e->http)
        return;
    s = dsvm_http_get_stats(e->http);
    for (i = 0; i < DSVM_HTTP_VERB_COUNT; i++)
        if (s->requests[i])
            dsvm_metrics_add(d->metrics, "dsvmops_arm_requests_total",
                             (const char *[]){"verb", verbs[i], NULL}, (double)s->requests[i]);
    for (i = 1; i < 6; i++)
        if (s->responses_by_class[i])
            dsvm_metrics_add(d->metrics, "dsvmops_arm_responses_total",
                             (const char *[]){"code", classes[i], NULL},
                             (double)s->responses_by_class[i]);
    dsvm_metrics_add(d->metrics, "dsvmops_arm_throttled_total", NULL, (double)s->throttled);
    dsvm_metrics_add(d->metrics, "dsvmops_arm_throttle_waits_total", NULL, (double)s->bucket_waits);
    dsvm_metrics_add(d->metrics, "dsvmops_arm_retries_total", NULL, (double)s->retries);
}

static void count_run(dsvm_daemon *d, const char *kind, const char *outcome, int64_t started)
{
    double secs = (double)(dsvm_http_now_ms() - started) / 1000.0;

    dsvm_metrics_observe(d->metrics, "dsvmops_reconcile_duration_seconds",
                         (const char *[]){"kind", kind, NULL}, secs);
    dsvm_metrics_add(d->metrics, "dsvmops_reconcile_runs_total",
                     (const char *[]){"kind", kind, "outcome", outcome, NULL}, 1);
    if (strcmp(outcome, "succeeded") == 0 || strcmp(outcome, "in_sync") == 0 ||
        strcmp(outcome, "pending") == 0 || strcmp(outcome, "drift") == 0) {
        d->last_success_ms = wall_ms();
        dsvm_metrics_set(d->metrics, "dsvmops_last_success_timestamp_seconds", NULL,
                         (double)d->last_success_ms / 1000.0);
    }
}

/* ---- the engine for one pass ------------------------------------------- */

static void lro_in_flight(int delta, void *payload)
{
    dsvm_daemon *d = payload;

    dsvm_metrics_add(d->metrics, "dsvmops_lro_in_flight", NULL, delta);
}

static int open_engine(dsvm_daemon *d, dsvm_engine **out, const char *dir, const char *commit)
{
    dsvm_reconcile_opts o = {0};
    dsvm_diags *diags = NULL;
    dsvm_engine *e = NULL;
    int rc;

    o.source_dir = dir;
    o.commit = commit && *commit ? commit : NULL;
    o.provider_dir = d->opts.provider_dir;
    o.instance = d->opts.instance;
    o.rate_limits = d->opts.rate_limits;
    o.prune = d->cfg->reconcile.prune;
    o.adopt = d->cfg->reconcile.adopt;
    o.max_deletes = d->cfg->reconcile.max_deletes;
    o.parallelism = d->cfg->reconcile.parallelism;
    o.stop = &stop_requested;
    o.log = d->log;
    o.lro_in_flight = lro_in_flight;
    o.lro_payload = d;
    rc = dsvm_engine_new(&e, d->cfg, &o, 1);
    if (rc == 0)
        rc = dsvm_diags_new(&diags);
    if (rc == 0)
        rc = dsvm_engine_load(e, diags);
    if (rc < 0 && diags && dsvm_diags_count(diags) > 0) {
        char *first = NULL;

        dsvm_diag_format(&first, dsvm_diags_get(diags, 0));
        dsvm_error_set(DSVM_ERRCLASS_MANIFEST,
                       "the manifests at commit %s have %zu error(s); the first: %s",
                       short_commit(commit), dsvm_diags_errors(diags), first ? first : "?");
        free(first);
    }
    dsvm_diags_free(diags);
    if (rc < 0) {
        dsvm_engine_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

/* Note each resource's state from a plan: in sync, or `changed_state`. */
static void note_states(dsvm_daemon *d, const dsvm_plan *plan, const char *changed_state)
{
    size_t i;

    for (i = 0; i < plan->n; i++) {
        const dsvm_plan_item *it = &plan->items[i];
        const char *st = it->action == DSVM_ACTION_NOOP ? "in_sync" : changed_state;

        if (it->action == DSVM_ACTION_DELETE)
            continue;
        json_object_set_new(d->resources, it->id,
                            json_pack("{s:s,s:s}", "object", it->object, "state", st));
    }
}

typedef struct {
    dsvm_daemon *d;
    json_t *errors;
} failed_list;

static int note_failed(const dsvm_state_entry *en, void *payload)
{
    failed_list *f = payload;

    if (strcmp(en->outcome, "failed") != 0)
        return 0;
    json_object_set_new(f->d->resources, en->resource_id,
                        json_pack("{s:s,s:s}", "object", "", "state", "failed"));
    if (json_array_size(f->errors) < 20)
        json_array_append_new(f->errors, json_sprintf("%s %s failed", en->action, en->resource_id));
    return 0;
}

/* Apply `plan` with engine `e`; log, count and alert the outcome. */
static int apply_plan(dsvm_daemon *d, dsvm_engine *e, dsvm_plan *plan, const char *commit,
                      const char *kind)
{
    dsvm_apply_result res = {0};
    failed_list f = {d, json_array()};
    char n1[24], n2[24], n3[24], run[24];
    int rc;

    dsvm_log_event(d->log, DSVM_LEVEL_INFO, "apply.start", "kind", kind, "commit",
                   short_commit(commit), NULL);
    rc = dsvm_engine_apply(e, plan, &res);
    snprintf(n1, sizeof(n1), "%zu", res.succeeded);
    snprintf(n2, sizeof(n2), "%zu", res.failed);
    snprintf(n3, sizeof(n3), "%zu", res.blocked);
    snprintf(run, sizeof(run), "%lld", (long long)res.run_id);
    if (rc == 0) {
        dsvm_log_event(d->log, DSVM_LEVEL_INFO, "apply.done", "kind", kind, "commit",
                       short_commit(commit), "run", run, "changed", n1, NULL);
        json_decref(f.errors);
        return 0;
    }
    if (res.run_id)
        dsvm_state_journal_of_run(e->state, res.run_id, note_failed, &f);
    if (json_array_size(f.errors) == 0)
        json_array_append_new(f.errors, json_string(dsvm_error_last()->message));
    fail(d, "apply.failed",
         res.interrupted ? "interrupted by shutdown" : dsvm_error_last()->message);
    dsvm_log_event(d->log, DSVM_LEVEL_ERROR, "apply.failed", "kind", kind, "commit",
                   short_commit(commit), "run", run, "succeeded", n1, "failed", n2, "blocked", n3,
                   NULL);
    if (!res.interrupted)
        alert_failure(d,
                      json_pack("{s:s,s:s,s:s,s:I,s:I,s:o}", "event", "apply.failed", "severity",
                                "error", "summary",
                                res.failed ? "an apply failed: some resources could not be written"
                                           : "an apply was refused or could not start",
                                "run", (json_int_t)res.run_id, "failed", (json_int_t)res.failed,
                                "errors", f.errors),
                      commit);
    else
        json_decref(f.errors);
    return rc;
}

/* ---- sync: fetch, plan, apply or keep pending ---------------------------- */

static char *path_join(const char *a, const char *b)
{
    return dsvm_fmt("%s%s%s", a, b && *b ? "/" : "", b ? b : "");
}

static int source_open(dsvm_daemon *d)
{
    if (!d->cfg->source.url) {
        dsvm_error_set(DSVM_ERRCLASS_CONFIG, "%s has no source.url; the daemon needs one",
                       d->cfg->path);
        return DSVM_EINVALID;
    }
    if (dsvm_cli_source_is_plain_directory(d->cfg->source.url))
        return 0;
    return dsvm_cli_source_new(&d->src, d->cfg);
}

/* Fetch the source: sets d->commit and d->dir; *changed when they moved. */
static int fetch(dsvm_daemon *d, int *changed)
{
    dsvm_source_result res = {0};
    int rc;

    *changed = 0;
    if (!d->src) {
        char *dir = path_join(d->cfg->source.url, d->cfg->source.path);

        if (!dir)
            return dsvm_error_oom();
        free(d->dir);
        d->dir = dir;
        d->commit[0] = '\0';
        *changed = 1; /* a plain directory has no commit to compare */
        dsvm_metrics_add(d->metrics, "dsvmops_git_fetches_total",
                         (const char *[]){"outcome", "directory", NULL}, 1);
        return 0;
    }
    rc = dsvm_source_fetch(&res, d->src);
    if (rc < 0) {
        dsvm_metrics_add(d->metrics, "dsvmops_git_fetches_total",
                         (const char *[]){"outcome", "failed", NULL}, 1);
        return rc;
    }
    *changed = strcmp(res.commit, d->commit) != 0;
    dsvm_metrics_add(d->metrics, "dsvmops_git_fetches_total",
                     (const char *[]){"outcome", *changed ? "changed" : "unchanged", NULL}, 1);
    memcpy(d->commit, res.commit, sizeof(d->commit));
    free(d->dir);
    d->dir = res.dir;
    res.dir = NULL;
    dsvm_source_result_clear(&res);
    if (*changed) {
        dsvm_metrics_reset(d->metrics, "dsvmops_info");
        dsvm_metrics_set(d->metrics, "dsvmops_info",
                         (const char *[]){"version", DSVM_VERSION, "commit", d->commit, NULL}, 1);
    }
    return 0;
}

static void set_applied(dsvm_daemon *d, const char *commit, const char *dir)
{
    char *copy = strdup(dir);

    if (!copy)
        return;
    memcpy(d->applied, commit, sizeof(d->applied));
    free(d->applied_dir);
    d->applied_dir = copy;
}

static void clear_pending(dsvm_daemon *d)
{
    json_decref(d->pending);
    d->pending = NULL;
    dsvm_metrics_set(d->metrics, "dsvmops_pending_changes", NULL, 0);
}

static void keep_pending(dsvm_daemon *d, const dsvm_plan *plan, const char *commit, const char *dir)
{
    char *text = NULL;
    json_t *summary = json_object();
    int a;

    for (a = 0; a < DSVM_ACTION_COUNT; a++)
        json_object_set_new(summary, dsvm_action_name((dsvm_action)a),
                            json_integer((json_int_t)plan->counts[a]));
    dsvm_plan_render_text(&text, plan, 0);
    clear_pending(d);
    d->pending = json_pack("{s:s,s:s,s:o,s:s}", "commit", commit, "dir", dir, "summary", summary,
                           "plan", text ? text : "");
    free(text);
    dsvm_metrics_set(d->metrics, "dsvmops_pending_changes", NULL, (double)dsvm_plan_changes(plan));
    dsvm_log_event(d->log, DSVM_LEVEL_INFO, "plan.pending", "commit", short_commit(commit),
                   "reason", d->suspended ? "suspended" : "auto_apply is off; approve to apply",
                   NULL);
}

/*
 * Plan the manifests of `commit` in `dir` and apply them when `may_apply`,
 * else keep the plan pending. Returns the outcome word for the metrics.
 */
static const char *reconcile(dsvm_daemon *d, const char *dir, const char *commit, int may_apply,
                             const char *kind)
{
    dsvm_engine *e = NULL;
    dsvm_plan *plan = NULL;
    const char *outcome = "failed";
    char changes[24];

    if (open_engine(d, &e, dir, commit) < 0) {
        fail(d, "plan.failed", dsvm_error_last()->message);
        alert_failure(d,
                      json_pack("{s:s,s:s,s:s}", "event", "source.failed", "severity", "error",
                                "summary", dsvm_error_last()->message),
                      commit);
        return outcome;
    }
    if (dsvm_engine_observe(e) < 0 || dsvm_engine_plan(e, &plan) < 0) {
        fail(d, "plan.failed", dsvm_error_last()->message);
        goto out;
    }
    dsvm_engine_settle(e);
    dsvm_plan_hold_suspended(plan, dsvm_engine_repo(e));
    snprintf(changes, sizeof(changes), "%zu", dsvm_plan_changes(plan));
    dsvm_log_event(d->log, DSVM_LEVEL_INFO, "plan.done", "kind", kind, "commit",
                   short_commit(commit), "changes", changes, NULL);
    if (dsvm_plan_first_error(plan)) {
        fail(d, "plan.failed", dsvm_plan_first_error(plan));
        alert_failure(d,
                      json_pack("{s:s,s:s,s:s,s:[s]}", "event", "apply.failed", "severity", "error",
                                "summary", "the plan has errors; nothing was applied", "errors",
                                dsvm_plan_first_error(plan)),
                      commit);
        goto out;
    }
    note_states(d, plan, "pending");
    if (dsvm_plan_changes(plan) == 0) {
        outcome = "in_sync";
        clear_pending(d);
        set_applied(d, commit, dir);
        goto out;
    }
    if (!may_apply) {
        keep_pending(d, plan, commit, dir);
        outcome = "pending";
        goto out;
    }
    clear_pending(d);
    if (apply_plan(d, e, plan, commit, kind) == 0) {
        outcome = "succeeded";
        note_states(d, plan, "in_sync");
        set_applied(d, commit, dir);
    }
out:
    count_requests(d, e);
    dsvm_plan_free(plan);
    dsvm_engine_free(e);
    return outcome;
}

static void sync_pass(dsvm_daemon *d, const char *why)
{
    int64_t t0 = dsvm_http_now_ms();
    const char *outcome;
    int changed = 0, suspended, may_apply;

    if (fetch(d, &changed) < 0) {
        const char *msg = dsvm_error_last()->message;

        fail(d, "source.failed", msg);
        if (!d->source_failing)
            alert(d,
                  json_pack("{s:s,s:s,s:s}", "event", "source.failed", "severity", "error",
                            "summary", msg),
                  d->commit);
        d->source_failing = 1;
        count_run(d, "sync", "source_failed", t0);
        return;
    }
    if (d->source_failing)
        dsvm_log_event(d->log, DSVM_LEVEL_INFO, "source.recovered", "commit", d->commit, NULL);
    d->source_failing = 0;
    pthread_mutex_lock(&d->mu);
    d->ready = 1;
    suspended = d->suspended;
    pthread_mutex_unlock(&d->mu);
    may_apply = d->cfg->reconcile.auto_apply && !suspended;
    dsvm_log_event(d->log, DSVM_LEVEL_DEBUG, "source.fetched", "commit", short_commit(d->commit),
                   "changed", changed ? "true" : "false", "why", why, NULL);
    /* nothing new: the commit is in sync, or already waits for approval */
    if (d->synced_valid && strcmp(d->synced, d->commit) == 0)
        return;
    /* the commit already waits for approval (or for resume) */
    if (d->pending && !may_apply &&
        strcmp(json_string_value(json_object_get(d->pending, "commit")), d->commit) == 0)
        return;
    dsvm_log_event(d->log, DSVM_LEVEL_INFO, "sync.start", "commit", short_commit(d->commit), "why",
                   why, NULL);
    outcome = reconcile(d, d->dir, d->commit, may_apply, "sync");
    if (strcmp(outcome, "in_sync") == 0 || strcmp(outcome, "succeeded") == 0) {
        failure_cleared(d);
        if (*d->commit) {
            memcpy(d->synced, d->commit, sizeof(d->synced));
            d->synced_valid = 1;
        }
    }
    count_run(d, "sync", outcome, t0);
}

static void approve_pass(dsvm_daemon *d)
{
    int64_t t0 = dsvm_http_now_ms();
    char *commit, *dir;
    const char *outcome;

    if (!d->pending)
        return;
    commit = strdup(json_string_value(json_object_get(d->pending, "commit")));
    dir = strdup(json_string_value(json_object_get(d->pending, "dir")));
    if (commit && dir) {
        dsvm_log_event(d->log, DSVM_LEVEL_INFO, "approve.start", "commit", short_commit(commit),
                       NULL);
        outcome = reconcile(d, dir, commit, 1, "approve");
        if ((strcmp(outcome, "in_sync") == 0 || strcmp(outcome, "succeeded") == 0) && *commit) {
            memcpy(d->synced, commit, sizeof(d->synced));
            d->synced_valid = 1;
        }
        count_run(d, "approve", outcome, t0);
    }
    free(commit);
    free(dir);
}

/* ---- drift ------------------------------------------------------------- */

static json_t *drift_event(const char *event, const json_t *ep)
{
    const char *object = json_string_value(json_object_get(ep, "object"));
    const char *id = json_string_value(json_object_get(ep, "id"));
    int opened = strcmp(event, "drift.opened") == 0;
    size_t nfields = json_array_size(json_object_get(ep, "fields"));
    char *summary;
    json_t *ev;

    summary = opened ? dsvm_fmt("%s drifted from Git: %zu field(s) changed outside dsvmops "
                                "(policy %s)",
                                object && *object ? object : id, nfields,
                                json_string_value(json_object_get(ep, "policy")))
                     : dsvm_fmt("%s is in sync with Git again", object && *object ? object : id);
    ev = json_pack("{s:s,s:s,s:s,s:s,s:s,s:O}", "event", event, "severity",
                   opened ? "warning" : "info", "summary", summary ? summary : event, "object",
                   object ? object : "", "resourceId", id ? id : "", "fields",
                   json_object_get(ep, "fields"));
    free(summary);
    if (ev && json_object_get(ep, "episode"))
        json_object_set(ev, "episode", json_object_get(ep, "episode"));
    if (ev && json_object_get(ep, "firstSeenMs")) {
        char stamp[32];

        rfc3339(stamp, json_integer_value(json_object_get(ep, "firstSeenMs")));
        json_object_set_new(ev, "firstSeen", json_string(stamp));
    }
    if (ev && json_object_get(ep, "policy"))
        json_object_set(ev, "policy", json_object_get(ep, "policy"));
    return ev;
}

/* One drift check of the applied commit: returns the number of resources healed. */
static size_t drift_check(dsvm_daemon *d, int may_heal, const char **outcome)
{
    dsvm_engine *e = NULL;
    dsvm_plan *plan = NULL;
    dsvm_drift_report report = {0};
    json_t *opened = NULL, *resolved = NULL, *ep;
    size_t i, healed = 0;
    char n1[24], n2[24], n3[24];

    *outcome = "failed";
    if (open_engine(d, &e, d->applied_dir, d->applied) < 0 || dsvm_engine_observe(e) < 0 ||
        dsvm_engine_plan(e, &plan) < 0 ||
        dsvm_drift_assess(&report, plan, dsvm_engine_repo(e), d->cfg) < 0) {
        fail(d, "drift.failed", dsvm_error_last()->message);
        goto out;
    }
    if (dsvm_drift_record(&opened, &resolved, e->state, &report) < 0) {
        fail(d, "drift.failed", dsvm_error_last()->message);
        goto out;
    }
    *outcome = json_array_size(report.drifted) ? "drift" : "in_sync";
    note_states(d, plan, "drifted");
    snprintf(n1, sizeof(n1), "%zu", json_array_size(report.drifted));
    snprintf(n2, sizeof(n2), "%zu", json_array_size(opened));
    snprintf(n3, sizeof(n3), "%zu", json_array_size(resolved));
    dsvm_log_event(d->log, DSVM_LEVEL_INFO, "drift.checked", "commit", short_commit(d->applied),
                   "drifted", n1, "opened", n2, "resolved", n3, NULL);
    json_array_foreach(opened, i, ep)
    {
        dsvm_log_event(d->log, DSVM_LEVEL_WARN, "drift.opened", "object",
                       json_string_value(json_object_get(ep, "object")), "resource",
                       json_string_value(json_object_get(ep, "id")), "policy",
                       json_string_value(json_object_get(ep, "policy")), NULL);
        alert(d, drift_event("drift.opened", ep), d->applied);
    }
    json_array_foreach(resolved, i, ep)
    {
        dsvm_log_event(d->log, DSVM_LEVEL_INFO, "drift.resolved", "object",
                       json_string_value(json_object_get(ep, "object")), "resource",
                       json_string_value(json_object_get(ep, "id")), NULL);
        alert(d, drift_event("drift.resolved", ep), d->applied);
    }
    if (may_heal && report.heal > 0 && dsvm_drift_heal_plan(plan, &report) > 0) {
        dsvm_plan_hold_suspended(plan, dsvm_engine_repo(e));
        if (dsvm_plan_changes(plan) > 0 && apply_plan(d, e, plan, d->applied, "heal") == 0)
            healed = dsvm_plan_changes(plan);
    }
out:
    count_requests(d, e);
    json_decref(opened);
    json_decref(resolved);
    dsvm_drift_report_clear(&report);
    dsvm_plan_free(plan);
    dsvm_engine_free(e);
    return healed;
}

static void drift_pass(dsvm_daemon *d)
{
    int64_t t0 = dsvm_http_now_ms();
    const char *outcome;
    int suspended;

    struct stat sb;

    if (!d->applied_dir)
        return; /* nothing applied yet: nothing can have drifted */
    if (stat(d->applied_dir, &sb) != 0 && d->src) {
        /* the source pruned that checkout: write the applied commit again */
        dsvm_source_result res = {0};

        if (dsvm_source_resolve(&res, d->src, d->applied, NULL) < 0) {
            fail(d, "drift.failed", dsvm_error_last()->message);
            return;
        }
        free(d->applied_dir);
        d->applied_dir = res.dir;
        res.dir = NULL;
        dsvm_source_result_clear(&res);
    }
    pthread_mutex_lock(&d->mu);
    suspended = d->suspended;
    pthread_mutex_unlock(&d->mu);
    if (drift_check(d, !suspended, &outcome) > 0 && !stop_requested) {
        /* check again at once, so that healed episodes resolve now */
        drift_check(d, 0, &outcome);
    }
    count_run(d, "drift", outcome, t0);
}

/* ---- status ------------------------------------------------------------ */

static int add_run(const dsvm_state_run *r, void *payload)
{
    char started[32], ended[32];

    rfc3339(started, r->started_ms);
    rfc3339(ended, r->ended_ms);
    json_array_append_new(payload,
                          json_pack("{s:I,s:s,s:s,s:s,s:s,s:s}", "id", (json_int_t)r->id, "kind",
                                    r->kind, "commit", r->commit, "outcome", r->outcome, "started",
                                    started, "ended", r->ended_ms ? ended : ""));
    return 0;
}

static int add_episode(const dsvm_state_drift *ep, void *payload)
{
    char first[32], last[32];
    json_t *fields = json_loads(ep->fields ? ep->fields : "[]", 0, NULL);

    rfc3339(first, ep->first_seen_ms);
    rfc3339(last, ep->last_seen_ms);
    json_array_append_new(
        payload, json_pack("{s:I,s:s,s:s,s:o,s:s,s:s}", "episode", (json_int_t)ep->id, "resourceId",
                           ep->resource_id, "object", ep->object ? ep->object : "", "fields",
                           fields ? fields : json_array(), "firstSeen", first, "lastSeen", last));
    return 0;
}

static void refresh_status(dsvm_daemon *d)
{
    json_t *doc, *runs = json_array(), *episodes = json_array(), *res = json_array(), *v;
    size_t counts[4] = {0};
    static const char *const states[4] = {"in_sync", "drifted", "failed", "pending"};
    const char *id;
    char stamp[32] = "", *text;
    int suspended, k;

    if (d->state) {
        dsvm_state_runs_list(d->state, 10, add_run, runs);
        dsvm_state_drift_open_list(d->state, add_episode, episodes);
    }
    json_object_foreach(d->resources, id, v)
    {
        const char *s = json_string_value(json_object_get(v, "state"));

        for (k = 0; k < 4; k++)
            if (strcmp(states[k], s) == 0)
                counts[k]++;
        json_array_append_new(res, json_pack("{s:s,s:O,s:O}", "id", id, "object",
                                             json_object_get(v, "object"), "state",
                                             json_object_get(v, "state")));
    }
    dsvm_metrics_reset(d->metrics, "dsvmops_resources");
    for (k = 0; k < 4; k++)
        dsvm_metrics_set(d->metrics, "dsvmops_resources",
                         (const char *[]){"state", states[k], NULL}, (double)counts[k]);
    dsvm_metrics_set(d->metrics, "dsvmops_drift_episodes_open", NULL,
                     (double)json_array_size(episodes));
    pthread_mutex_lock(&d->mu);
    suspended = d->suspended;
    pthread_mutex_unlock(&d->mu);
    dsvm_metrics_set(d->metrics, "dsvmops_suspended", NULL, suspended);
    if (d->last_success_ms)
        rfc3339(stamp, d->last_success_ms);
    doc = json_pack("{s:s,s:s,s:{s:s,s:s,s:s},s:s,s:b,s:b,s:O,s:o,s:o,s:o,s:O,s:s}", "version",
                    DSVM_VERSION, "target", d->cfg->target.subscription.value, "source", "ref",
                    d->cfg->source.ref ? d->cfg->source.ref : "", "path",
                    d->cfg->source.path ? d->cfg->source.path : "", "commit", d->commit,
                    "appliedCommit", d->applied, "suspended", suspended, "autoApply",
                    d->cfg->reconcile.auto_apply, "pending", d->pending ? d->pending : json_null(),
                    "resources", res, "openDrift", episodes, "runs", runs, "lastError",
                    d->last_error ? d->last_error : json_null(), "lastSuccess", stamp);
    if (doc && d->pending) {
        /* a copy without the checkout directory, which is ours */
        json_t *pending = json_copy(d->pending);

        json_object_del(pending, "dir");
        json_object_set_new(doc, "pending", pending);
    }
    text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(doc);
    if (!text)
        return;
    pthread_mutex_lock(&d->mu);
    free(d->status);
    d->status = text;
    d->has_pending = d->pending != NULL;
    pthread_mutex_unlock(&d->mu);
}

/* ---- server callbacks (server threads) ------------------------------------ */

static void cb_trigger(const char *hook, const char *commit, void *payload)
{
    dsvm_daemon *d = payload;

    pthread_mutex_lock(&d->mu);
    d->trigger = 1;
    snprintf(d->trigger_hook, sizeof(d->trigger_hook), "%s", hook);
    pthread_mutex_unlock(&d->mu);
    dsvm_log_event(d->log, DSVM_LEVEL_INFO, "webhook.push", "hook", hook, "commit", commit, NULL);
    wake(d);
}

static char *cb_status(void *payload)
{
    dsvm_daemon *d = payload;
    char *copy;

    pthread_mutex_lock(&d->mu);
    copy = d->status ? strdup(d->status) : NULL;
    pthread_mutex_unlock(&d->mu);
    return copy;
}

static int cb_ready(char **why, void *payload)
{
    dsvm_daemon *d = payload;
    int ready;

    pthread_mutex_lock(&d->mu);
    ready = d->ready;
    if (!ready)
        *why = strdup(d->not_ready ? d->not_ready : "starting");
    pthread_mutex_unlock(&d->mu);
    return ready;
}

static int cb_approve(char **message, void *payload)
{
    dsvm_daemon *d = payload;
    int status;

    pthread_mutex_lock(&d->mu);
    if (d->suspended) {
        *message = strdup("applies are suspended; resume first (POST /api/v1/suspend "
                          "{\"suspend\": false})");
        status = 409;
    } else if (!d->has_pending) {
        *message = strdup("no plan is waiting for approval");
        status = 409;
    } else {
        d->approve = 1;
        *message = strdup("approved: the pending plan is being applied");
        status = 202;
    }
    pthread_mutex_unlock(&d->mu);
    if (status == 202)
        wake(d);
    return status;
}

static int cb_suspend(int on, char **message, void *payload)
{
    dsvm_daemon *d = payload;

    pthread_mutex_lock(&d->mu);
    d->suspended = on;
    if (!on)
        d->trigger = 1; /* a plan held while suspended may be applied now */
    snprintf(d->trigger_hook, sizeof(d->trigger_hook), "%s", "resume");
    pthread_mutex_unlock(&d->mu);
    *message = strdup(on ? "suspended: applies are paused; drift checks go on"
                         : "resumed: applies are allowed again");
    dsvm_log_event(d->log, DSVM_LEVEL_INFO, on ? "reconcile.suspended" : "reconcile.resumed", NULL);
    wake(d);
    return 200;
}

/* ---- start, reload, stop -------------------------------------------------- */

/* Read an optional secret: NULL when it is not set. */
static char *optional_secret(const dsvm_config_secret *s, const char *what)
{
    extern char **environ;
    char *v = NULL;

    if (dsvm_config_read_secret(&v, s, what, environ) < 0)
        return NULL;
    return v;
}

static void wipe(char *s)
{
    if (s) {
        memset(s, 0, strlen(s));
        free(s);
    }
}

static int setup_logging(dsvm_daemon *d)
{
    const char *format = d->opts.log_format ? d->opts.log_format : d->cfg->log.format;
    const char *level = d->opts.log_level ? d->opts.log_level : d->cfg->log.level;
    dsvm_log_level lv = DSVM_LEVEL_INFO;

    if (level && dsvm_log_level_parse(&lv, level) < 0)
        return DSVM_EINVALID;
    if (format && strcmp(format, "json") != 0 && strcmp(format, "text") != 0) {
        dsvm_error_set(DSVM_ERRCLASS_CONFIG, "unknown log format '%s'; use text or json", format);
        return DSVM_EINVALID;
    }
    dsvm_log_set_level(d->log, lv);
    dsvm_log_set_json(d->log, format && strcmp(format, "json") == 0);
    return 0;
}

/* Load the configuration and what hangs off it (source, alerts, secrets). */
static int load(dsvm_daemon *d, dsvm_config **out_cfg, dsvm_source **out_src,
                dsvm_alerts **out_alerts)
{
    extern char **environ;
    dsvm_daemon tmp = *d;
    int rc;

    *out_cfg = NULL;
    *out_src = NULL;
    *out_alerts = NULL;
    rc = dsvm_config_load(&tmp.cfg, d->opts.config_path, environ);
    if (rc < 0)
        return rc;
    tmp.src = NULL;
    rc = source_open(&tmp);
    if (rc == 0)
        rc = dsvm_alerts_new(out_alerts, tmp.cfg, tmp.cfg->state.path, d->log, d->metrics);
    if (rc < 0) {
        dsvm_source_free(tmp.src);
        dsvm_config_free(tmp.cfg);
        return rc;
    }
    *out_cfg = tmp.cfg;
    *out_src = tmp.src;
    return 0;
}

static void reload(dsvm_daemon *d)
{
    dsvm_config *cfg;
    dsvm_source *src;
    dsvm_alerts *alerts;
    char *hook, *token;

    if (load(d, &cfg, &src, &alerts) < 0) {
        fail(d, "config.reload_failed", dsvm_error_last()->message);
        return;
    }
    dsvm_alerts_free(d->alerts);
    dsvm_source_free(d->src);
    if (strcmp(cfg->state.path, d->cfg->state.path) != 0) {
        dsvm_state *st = NULL;

        if (dsvm_state_open(&st, cfg->state.path) == 0) {
            dsvm_state_close(d->state);
            d->state = st;
        }
    }
    dsvm_config_free(d->cfg);
    d->cfg = cfg;
    d->src = src;
    d->alerts = alerts;
    setup_logging(d);
    hook = optional_secret(&cfg->server.webhook_secret, "server.webhook_secret");
    token = optional_secret(&cfg->server.api_token, "server.api_token");
    dsvm_server_set_secrets(d->server, hook, token);
    wipe(hook);
    wipe(token);
    pthread_mutex_lock(&d->mu);
    d->suspended = cfg->reconcile.suspend;
    pthread_mutex_unlock(&d->mu);
    d->synced_valid = 0; /* settings may change the plan: plan again */
    d->next_sync = 0;
    dsvm_log_event(d->log, DSVM_LEVEL_INFO, "config.reloaded", "config", cfg->path, NULL);
}

static void teardown(dsvm_daemon *d)
{
    dsvm_server_stop(d->server);
    dsvm_alerts_free(d->alerts);
    dsvm_source_free(d->src);
    dsvm_state_close(d->state);
    dsvm_config_free(d->cfg);
    dsvm_metrics_free(d->metrics);
    dsvm_log_free(d->log);
    json_decref(d->pending);
    json_decref(d->resources);
    json_decref(d->last_error);
    free(d->dir);
    free(d->applied_dir);
    free(d->status);
    free(d->not_ready);
    free(d->failure_key);
    if (d->wake[0] >= 0)
        close(d->wake[0]);
    if (d->wake[1] >= 0)
        close(d->wake[1]);
    signal_pipe = -1;
    pthread_mutex_destroy(&d->mu);
}

static int start(dsvm_daemon *d)
{
    dsvm_server_opts so = {0};
    char *hook = NULL, *token = NULL;
    int rc;

    if (pipe(d->wake) < 0) {
        dsvm_error_set(DSVM_ERRCLASS_OS, "cannot create a pipe: %s", strerror(errno));
        return DSVM_EIO;
    }
    fcntl(d->wake[0], F_SETFL, O_NONBLOCK);
    fcntl(d->wake[1], F_SETFL, O_NONBLOCK);
    fcntl(d->wake[0], F_SETFD, FD_CLOEXEC);
    fcntl(d->wake[1], F_SETFD, FD_CLOEXEC);
    signal_pipe = d->wake[1];
    d->resources = json_object();
    if (!d->resources || dsvm_log_new(&d->log, DSVM_LEVEL_INFO) < 0 ||
        dsvm_metrics_new(&d->metrics) < 0)
        return dsvm_error_oom();
    declare_metrics(d->metrics);
    dsvm_metrics_set(d->metrics, "dsvmops_info",
                     (const char *[]){"version", DSVM_VERSION, "commit", "", NULL}, 1);
    rc = load(d, &d->cfg, &d->src, &d->alerts);
    if (rc == 0)
        rc = setup_logging(d);
    if (rc < 0)
        return rc;
    /* the state store must open (and migrate) before we say we are ready */
    rc = dsvm_state_open(&d->state, d->cfg->state.path);
    if (rc < 0)
        return rc;
    d->suspended = d->cfg->reconcile.suspend;
    d->not_ready = strdup("no source checkout yet");
    hook = optional_secret(&d->cfg->server.webhook_secret, "server.webhook_secret");
    token = optional_secret(&d->cfg->server.api_token, "server.api_token");
    if (!hook)
        dsvm_log_event(d->log, DSVM_LEVEL_WARN, "webhooks.disabled", "reason",
                       "no webhook secret is set; set the variable that "
                       "server.webhook_secret_env names (default DSVMOPS_WEBHOOK_SECRET)",
                       NULL);
    so.listen = d->opts.listen ? d->opts.listen : d->cfg->server.listen;
    so.metrics = d->metrics;
    so.log = d->log;
    so.ref = d->cfg->source.ref;
    so.webhook_secret = hook;
    so.api_token = token;
    so.trigger = cb_trigger;
    so.status = cb_status;
    so.ready = cb_ready;
    so.approve = cb_approve;
    so.suspend = cb_suspend;
    so.payload = d;
    refresh_status(d);
    rc = dsvm_server_start(&d->server, &so);
    wipe(hook);
    wipe(token);
    return rc;
}

static void install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

/* Sleep until `deadline` (monotonic ms) or a wake-up; drain the pipe. */
static void wait_until(dsvm_daemon *d, int64_t deadline)
{
    struct pollfd p = {.fd = d->wake[0], .events = POLLIN};
    int64_t left = deadline - dsvm_http_now_ms();
    char buf[64];

    if (left > 0 && !stop_requested && !reload_requested)
        poll(&p, 1, left > 60000 ? 60000 : (int)left);
    while (read(d->wake[0], buf, sizeof(buf)) > 0) {
    }
}

int dsvm_daemon_run(const dsvm_daemon_opts *opts)
{
    dsvm_daemon d;
    int trigger, approve;
    char why[40];

    memset(&d, 0, sizeof(d));
    d.opts = *opts;
    d.wake[0] = d.wake[1] = -1;
    pthread_mutex_init(&d.mu, NULL);
    stop_requested = reload_requested = 0;
    install_signals();
    if (start(&d) < 0) {
        fprintf(stderr, "dsvmops run: %s\n", dsvm_error_last()->message);
        teardown(&d);
        return 1;
    }
    {
        const char *listen = d.opts.listen ? d.opts.listen : d.cfg->server.listen;
        const char *colon = strrchr(listen, ':');

        printf("dsvmops listening on http://%.*s:%d\n",
               (int)(colon ? (size_t)(colon - listen) : strlen(listen)), listen,
               dsvm_server_port(d.server));
    }
    fflush(stdout);
    dsvm_log_event(d.log, DSVM_LEVEL_INFO, "daemon.started", "version", DSVM_VERSION, "config",
                   d.cfg->path, "target", d.cfg->target.subscription.value, NULL);
    d.next_drift = dsvm_http_now_ms() + d.cfg->drift.interval_ms;
    while (!stop_requested) {
        int64_t now;

        if (reload_requested) {
            reload_requested = 0;
            reload(&d);
        }
        pthread_mutex_lock(&d.mu);
        trigger = d.trigger;
        approve = d.approve;
        snprintf(why, sizeof(why), "%s", trigger ? d.trigger_hook : "poll");
        d.trigger = d.approve = 0;
        pthread_mutex_unlock(&d.mu);
        now = dsvm_http_now_ms();
        if (trigger || now >= d.next_sync) {
            d.next_sync = now + d.cfg->source.interval_ms;
            sync_pass(&d, trigger ? why : "poll");
        }
        if (approve && !stop_requested)
            approve_pass(&d);
        now = dsvm_http_now_ms();
        if (now >= d.next_drift && !stop_requested) {
            drift_pass(&d);
            d.next_drift = dsvm_http_now_ms() + d.cfg->drift.interval_ms;
        }
        refresh_status(&d);
        pthread_mutex_lock(&d.mu);
        trigger = d.trigger || d.approve;
        pthread_mutex_unlock(&d.mu);
        if (!trigger)
            wait_until(&d, d.next_sync < d.next_drift ? d.next_sync : d.next_drift);
    }
    dsvm_log_event(d.log, DSVM_LEVEL_INFO, "daemon.stopping", "reason", "signal", NULL);
    teardown(&d);
    return 0;
}
