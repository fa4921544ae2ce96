/*
 * Alert delivery: the outbox in the state store and the thread that
 * empties it (controller/alert.h, docs/alerts.md).
 *
 * Two state store connections: `st` serves the callers (emit, pending,
 * flush) under `mu`; `tst` is the delivery thread's alone. The thread
 * sleeps on `wake_cv` until a delivery is due, an emit wakes it, or free
 * stops it; it broadcasts `progress_cv` after each outcome so that flush
 * can re-count. Sink URLs and secrets are read again for every attempt,
 * used, wiped and freed; they reach neither the outbox nor the log.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "alert.h"
#include "dsvmops/error.h"
#include "dsvmops/version.h"
#include "state.h"

#define BACKOFF_BASE_MS    1000
#define BACKOFF_MAX_MS     (5 * 60 * 1000)
#define GIVE_UP_MS         ((int64_t)24 * 3600 * 1000)
#define CONNECT_TIMEOUT_MS 5000L
#define TOTAL_TIMEOUT_MS   10000L
#define BATCH              32
#define VALUE_MAX          200  /* bytes of one value shown in a message */
#define SHOWN_MAX          10   /* fields or errors listed in a message */
#define SLACK_TEXT_MAX     2900 /* Slack allows 3,000 characters per text object */

static const char *const kind_names[] = {"webhook", "slack", "teams"};

typedef struct {
    dsvm_alert_kind kind;
    char *url; /* literal (webhook only), or NULL: read url_secret at send time */
    dsvm_config_secret url_secret;
    dsvm_config_secret secret;
    char what_url[48]; /* "alerts[0].url", for messages */
    char what_secret[48];
} sink;

/* One delivery copied out of the outbox. */
typedef struct {
    int64_t id;
    int sink;
    char *kind;
    char *event;
    int attempts;
    int64_t created_ms;
} delivery;

typedef struct {
    delivery d[BATCH];
    int n;
} batch;

struct dsvm_alerts {
    sink *sinks;
    size_t nsinks;
    dsvm_log *log;
    dsvm_metrics *metrics;
    int64_t backoff_ms, give_up_ms;
    dsvm_state *st;  /* callers' connection, under mu */
    dsvm_state *tst; /* the delivery thread's */
    CURL *curl;      /* the delivery thread's */
    pthread_mutex_t mu;
    pthread_cond_t wake_cv;     /* to the thread: an emit, or stop */
    pthread_cond_t progress_cv; /* from the thread: a delivery's outcome */
    int wake;                   /* under mu */
    atomic_int stop;
    int64_t pending; /* last count, under mu */
    pthread_t thread;
    int started;
    int curl_inited;
};

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A CLOCK_MONOTONIC deadline `ms` from now, for the condition variables. */
static struct timespec deadline_in(int64_t ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (ms < 0)
        ms = 0;
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static int64_t env_ms(const char *name, int64_t dflt)
{
    const char *v = getenv(name);
    char *end;
    long long n;

    if (!v || !*v)
        return dflt;
    n = strtoll(v, &end, 10);
    return (*end || n <= 0) ? dflt : (int64_t)n;
}

static void wipe_free(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

static int secret_set(const dsvm_config_secret *s)
{
    return s->env || s->file;
}

static int secret_copy(dsvm_config_secret *out, const dsvm_config_secret *in)
{
    out->env = in->env ? strdup(in->env) : NULL;
    out->file = in->file ? strdup(in->file) : NULL;
    return (in->env && !out->env) || (in->file && !out->file) ? dsvm_error_oom() : 0;
}

/* Read the URL of a sink (a heap string the caller wipes) and check it is
 * http(s); the message names the key, never the value. */
static int sink_url(char **out, const sink *s)
{
    char *url;
    int rc;

    if (s->url) {
        url = strdup(s->url);
        if (!url)
            return dsvm_error_oom();
    } else {
        rc = dsvm_config_read_secret(&url, &s->url_secret, s->what_url, NULL);
        if (rc < 0)
            return rc;
    }
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        wipe_free(url);
        if (s->url)
            dsvm_error_set(DSVM_ERRCLASS_CONFIG, "%s: not an http:// or https:// URL", s->what_url);
        else
            dsvm_error_set(DSVM_ERRCLASS_CONFIG,
                           "%s_%s (%s) does not hold an http:// or https:// URL", s->what_url,
                           s->url_secret.env ? "env" : "file",
                           s->url_secret.env ? s->url_secret.env : s->url_secret.file);
        return DSVM_EINVALID;
    }
    *out = url;
    return 0;
}

static void metric_sent(dsvm_alerts *a, const sink *s, const char *kind, const char *outcome)
{
    if (a->metrics)
        dsvm_metrics_add(
            a->metrics, "dsvmops_alerts_sent_total",
            (const char *[]){"sink", s ? kind_names[s->kind] : kind, "outcome", outcome, NULL}, 1);
}

/* ---- message bodies ---------------------------------------------------- */

static const char *ev_str(const json_t *ev, const char *key)
{
    const char *v = json_string_value(json_object_get(ev, key));

    return v ? v : "";
}

/* Cut `s` (heap) to VALUE_MAX bytes at a UTF-8 boundary, marking the cut. */
static char *shorten(char *s)
{
    size_t n;
    char *t;

    if (!s)
        return NULL;
    n = strlen(s);
    if (n <= VALUE_MAX)
        return s;
    n = VALUE_MAX;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    t = realloc(s, n + 4);
    if (!t) {
        free(s);
        return NULL;
    }
    memcpy(t + n, "\xE2\x80\xA6", 4); /* … */
    return t;
}

/* A value for people: a string as itself, anything else as compact JSON,
 * "(none)" when absent; at most VALUE_MAX bytes. NULL when out of memory. */
static char *value_text(const json_t *v)
{
    if (!v || json_is_null(v))
        return shorten(strdup("(none)"));
    if (json_is_string(v))
        return shorten(strdup(json_string_value(v)));
    return shorten(json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY));
}

/* Append `s` to `f` with Slack's mrkdwn control characters escaped; in a
 * code span a backquote would end it early and becomes a quote. */
static void put_mrkdwn(FILE *f, const char *s, int code)
{
    for (; *s; s++) {
        if (*s == '&')
            fputs("&amp;", f);
        else if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (code && *s == '`')
            fputc('\'', f);
        else
            fputc(*s, f);
    }
}

/* One line of a changed field: "path: live → desired" (op when not a change). */
static int field_line(FILE *f, const json_t *field, int slack)
{
    const char *path = json_string_value(json_object_get(field, "path"));
    const char *op = json_string_value(json_object_get(field, "op"));
    char *p = shorten(strdup(path ? path : "?"));
    char *live = value_text(json_object_get(field, "live"));
    char *desired = value_text(json_object_get(field, "desired"));
    int ok = p && live && desired;

    if (ok && slack) {
        fputs("\xE2\x80\xA2 `", f);
        put_mrkdwn(f, p, 1);
        fputs("`", f);
        if (op && strcmp(op, "change") != 0) {
            fputs(" (", f);
            put_mrkdwn(f, op, 0);
            fputs(")", f);
        }
        fputs(": `", f);
        put_mrkdwn(f, live, 1);
        fputs("` \xE2\x86\x92 `", f);
        put_mrkdwn(f, desired, 1);
        fputs("`", f);
    } else if (ok) {
        fprintf(f, "%s \xE2\x86\x92 %s", live, desired);
    }
    free(p);
    free(live);
    free(desired);
    return ok ? 0 : -1;
}

static json_t *slack_text(const char *text)
{
    return json_pack("{s:s, s:s}", "type", "mrkdwn", "text", text);
}

/* A Slack section listing `items` (fields or errors) under `title`, within
 * Slack's text limit; NULL when out of memory. */
static json_t *slack_list(const char *title, const json_t *items, int fields)
{
    char *text = NULL, *line = NULL;
    size_t len = 0, llen = 0, i, n = json_array_size(items), shown = 0;
    FILE *f = open_memstream(&text, &len);
    json_t *block = NULL;
    int ok = f != NULL;

    if (!f)
        return NULL;
    fprintf(f, "*%s*", title);
    for (i = 0; ok && i < n && shown < SHOWN_MAX; i++) {
        FILE *lf = open_memstream(&line, &llen);
        const json_t *it = json_array_get(items, i);

        if (!lf) {
            ok = 0;
            break;
        }
        if (fields) {
            ok = field_line(lf, it, 1) == 0;
        } else {
            char *e = value_text(it);

            ok = e != NULL;
            if (ok) {
                fputs("\xE2\x80\xA2 ", lf);
                put_mrkdwn(lf, e, 0);
            }
            free(e);
        }
        fclose(lf);
        fflush(f);
        if (ok && len + 1 + llen <= SLACK_TEXT_MAX) {
            fprintf(f, "\n%s", line);
            shown++;
        }
        free(line);
        line = NULL;
        if (ok && shown <= i)
            break; /* no room: the rest are counted */
    }
    if (ok && shown < n)
        fprintf(f, "\n\xE2\x80\xA6 and %zu more", n - shown);
    fclose(f);
    if (ok)
        block = json_pack("{s:s, s:o}", "type", "section", "text", slack_text(text));
    free(text);
    return block;
}

/* `head` then `s` escaped, and a closing backquote when `code` (the head
 * opens the span). A heap string, or NULL when out of memory. */
static char *mrkdwn(const char *head, const char *s, int code)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    if (!f)
        return NULL;
    fputs(head, f);
    put_mrkdwn(f, s, code);
    if (code)
        fputs("`", f);
    fclose(f);
    return text;
}

/* {"text": summary, "blocks": [...]}: the event and summary, a section of
 * facts (object, target, commit), the fields changed or the errors, and
 * the time. */
static json_t *slack_body(const json_t *ev)
{
    static const struct {
        const char *key, *title;
    } facts[] = {{"object", "*Object*\n`"}, {"target", "*Target*\n`"}, {"commit", "*Commit*\n`"}};
    json_t *body = NULL, *blocks = json_array(), *factv = json_array(), *b;
    char *head = NULL, *t;
    size_t hlen = 0, i;
    FILE *f = open_memstream(&head, &hlen);
    int ok = blocks && factv && f;

    if (f) {
        fputs("*", f);
        put_mrkdwn(f, ev_str(ev, "event"), 0);
        fputs("* (", f);
        put_mrkdwn(f, ev_str(ev, "severity"), 0);
        fputs(")\n", f);
        put_mrkdwn(f, ev_str(ev, "summary"), 0);
        fclose(f);
    }
    ok = ok && head &&
         json_array_append_new(
             blocks, json_pack("{s:s, s:o}", "type", "section", "text", slack_text(head))) == 0;
    for (i = 0; ok && i < sizeof(facts) / sizeof(facts[0]); i++) {
        char *v = shorten(strdup(ev_str(ev, facts[i].key)));

        if (v && *v) {
            t = mrkdwn(facts[i].title, v, 1);
            ok = t && json_array_append_new(factv, slack_text(t)) == 0;
            free(t);
        }
        ok = ok && v;
        free(v);
    }
    if (ok && json_array_size(factv))
        ok = json_array_append_new(
                 blocks, json_pack("{s:s, s:O}", "type", "section", "fields", factv)) == 0;
    if (ok && json_array_size(json_object_get(ev, "fields"))) {
        b = slack_list("Fields changed", json_object_get(ev, "fields"), 1);
        ok = b && json_array_append_new(blocks, b) == 0;
    }
    if (ok && json_array_size(json_object_get(ev, "errors"))) {
        b = slack_list("Errors", json_object_get(ev, "errors"), 0);
        ok = b && json_array_append_new(blocks, b) == 0;
    }
    if (ok) {
        t = mrkdwn("dsvmops \xC2\xB7 ", ev_str(ev, "time"), 0);
        ok = t && json_array_append_new(blocks, json_pack("{s:s, s:[o]}", "type", "context",
                                                          "elements", slack_text(t))) == 0;
        free(t);
    }
    t = ok ? mrkdwn("", ev_str(ev, "summary"), 0) : NULL;
    if (t)
        body = json_pack("{s:s, s:O}", "text", t, "blocks", blocks);
    free(t);
    free(head);
    json_decref(blocks);
    json_decref(factv);
    return body;
}

/* Append {"title", "value"} to `facts`, both cut to VALUE_MAX; nothing
 * when the value is empty. */
static int fact(json_t *facts, const char *title, const char *value)
{
    char *t, *v;
    int rc;

    if (!value || !*value)
        return 0;
    t = shorten(strdup(title));
    v = shorten(strdup(value));
    rc =
        t && v ? json_array_append_new(facts, json_pack("{s:s, s:s}", "title", t, "value", v)) : -1;
    free(t);
    free(v);
    return rc;
}

/* A FactSet of the first SHOWN_MAX fields (path: live → desired) or
 * errors (#n: text), with a last fact counting the rest. */
static json_t *teams_list(const json_t *items, int fields)
{
    json_t *facts = json_array();
    size_t i, n = json_array_size(items);
    int ok = facts != NULL;

    for (i = 0; ok && i < n && i < SHOWN_MAX; i++) {
        const json_t *it = json_array_get(items, i);
        char *text = NULL, title[24];
        size_t len = 0;

        if (fields) {
            FILE *f = open_memstream(&text, &len);

            ok = f && field_line(f, it, 0) == 0;
            if (f)
                fclose(f);
            ok = ok && fact(facts, ev_str(it, "path"), text) == 0;
        } else {
            text = value_text(it);
            snprintf(title, sizeof(title), "#%zu", i + 1);
            ok = text && fact(facts, title, text) == 0;
        }
        free(text);
    }
    if (ok && n > SHOWN_MAX) {
        char more[48];

        snprintf(more, sizeof(more), "%zu more", n - SHOWN_MAX);
        ok = fact(facts, "\xE2\x80\xA6", more) == 0;
    }
    if (!ok) {
        json_decref(facts);
        return NULL;
    }
    return json_pack("{s:s, s:o}", "type", "FactSet", "facts", facts);
}

static json_t *teams_heading(const char *text)
{
    return json_pack("{s:s, s:s, s:s, s:b}", "type", "TextBlock", "text", text, "weight", "Bolder",
                     "wrap", 1);
}

/* A message with one Adaptive Card 1.4: the summary as title, a FactSet of
 * the event's facts, then the fields changed or the errors. */
static json_t *teams_body(const json_t *ev)
{
    const char *sev = ev_str(ev, "severity");
    const char *color = strcmp(sev, "error") == 0     ? "attention"
                        : strcmp(sev, "warning") == 0 ? "warning"
                                                      : "good";
    json_t *body = json_array(), *facts = json_array(), *card = NULL, *list;
    char commit[16];
    int ok = body && facts;

    snprintf(commit, sizeof(commit), "%.12s", ev_str(ev, "commit"));
    ok = ok && json_array_append_new(body, json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "type",
                                                     "TextBlock", "text", ev_str(ev, "summary"),
                                                     "weight", "Bolder", "size", "Medium", "color",
                                                     color, "wrap", 1)) == 0;
    ok = ok && fact(facts, "Event", ev_str(ev, "event")) == 0 &&
         fact(facts, "Severity", sev) == 0 && fact(facts, "Object", ev_str(ev, "object")) == 0 &&
         fact(facts, "Target", ev_str(ev, "target")) == 0 && fact(facts, "Commit", commit) == 0 &&
         fact(facts, "Time", ev_str(ev, "time")) == 0 &&
         fact(facts, "First seen", ev_str(ev, "firstSeen")) == 0;
    ok = ok && json_array_append_new(
                   body, json_pack("{s:s, s:O}", "type", "FactSet", "facts", facts)) == 0;
    if (ok && json_array_size(json_object_get(ev, "fields"))) {
        list = teams_list(json_object_get(ev, "fields"), 1);
        ok = list && json_array_append_new(body, teams_heading("Fields changed")) == 0;
        ok = list && json_array_append_new(body, list) == 0 && ok; /* takes list */
    }
    if (ok && json_array_size(json_object_get(ev, "errors"))) {
        list = teams_list(json_object_get(ev, "errors"), 0);
        ok = list && json_array_append_new(body, teams_heading("Errors")) == 0;
        ok = list && json_array_append_new(body, list) == 0 && ok; /* takes list */
    }
    if (ok)
        card = json_pack("{s:s, s:[{s:s, s:n, s:{s:s, s:s, s:s, s:O}}]}", "type", "message",
                         "attachments", "contentType", "application/vnd.microsoft.card.adaptive",
                         "contentUrl", "content", "$schema",
                         "http://adaptivecards.io/schemas/adaptive-card.json", "type",
                         "AdaptiveCard", "version", "1.4", "body", body);
    json_decref(body);
    json_decref(facts);
    return card;
}

/*
 * The body to POST for a delivery: the stored event text itself for a
 * webhook (so that the signature covers exactly what was queued), else the
 * Slack or Teams message made from it. Returns a heap string, or NULL with
 * the last error set (the event is not JSON, or out of memory).
 */
static char *render(dsvm_alert_kind kind, const char *event)
{
    json_t *ev, *msg;
    char *text;

    if (kind == DSVM_ALERT_WEBHOOK) {
        text = strdup(event);
        if (!text)
            dsvm_error_oom();
        return text;
    }
    ev = json_loads(event, 0, NULL);
    if (!json_is_object(ev)) {
        json_decref(ev);
        dsvm_error_set(DSVM_ERRCLASS_INTERNAL, "the queued event is not a JSON object");
        return NULL;
    }
    msg = kind == DSVM_ALERT_SLACK ? slack_body(ev) : teams_body(ev);
    json_decref(ev);
    text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(msg);
    if (!text)
        dsvm_error_oom();
    return text;
}

/* "sha256=<hex HMAC-SHA256(secret, body)>" into `out` (7 + 64 + 1 bytes). */
static int sign(char out[72], const char *secret, const char *body, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0, i;

    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len, md,
              &mdlen) ||
        mdlen != 32) {
        dsvm_error_set(DSVM_ERRCLASS_INTERNAL, "HMAC-SHA256 failed");
        return DSVM_ERROR;
    }
    memcpy(out, "sha256=", 7);
    for (i = 0; i < 32; i++) {
        out[7 + 2 * i] = hex[md[i] >> 4];
        out[8 + 2 * i] = hex[md[i] & 15];
    }
    out[71] = '\0';
    OPENSSL_cleanse(md, sizeof(md));
    return 0;
}

/* ---- the delivery thread ----------------------------------------------- */

static int on_progress(void *payload, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    dsvm_alerts *a = payload;

    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return atomic_load(&a->stop) ? 1 : 0;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *payload)
{
    (void)ptr;
    (void)payload;
    return size * nmemb;
}

/* Append a header line to `*h`; on failure `*h` is kept, to be freed. */
static int add_header(struct curl_slist **h, const char *line)
{
    struct curl_slist *t = curl_slist_append(*h, line);

    if (!t)
        return -1;
    *h = t;
    return 0;
}

/*
 * POST `body` to the sink. Returns 0 when the receiver answered 2xx, 1
 * when the transfer was aborted because the thread is stopping, and -1
 * otherwise with `err` saying why: "HTTP <status>" or curl's text for its
 * error code (never curl's error buffer, which can hold the URL).
 */
static int post(dsvm_alerts *a, const sink *s, const char *event_name, int64_t id, const char *body,
                char *err, size_t errlen)
{
    struct curl_slist *h = NULL;
    char *url = NULL, *secret = NULL, line[128], sig[72];
    long status = 0;
    CURLcode cc;
    int rc = -1, ok;

    if (sink_url(&url, s) < 0 ||
        (s->kind == DSVM_ALERT_WEBHOOK && secret_set(&s->secret) &&
         dsvm_config_read_secret(&secret, &s->secret, s->what_secret, NULL) < 0)) {
        snprintf(err, errlen, "%s", dsvm_error_last()->message);
        goto out;
    }
    /* "Expect:" stops curl from waiting for a 100 Continue on larger bodies. */
    snprintf(line, sizeof(line), "X-Dsvmops-Delivery: %" PRId64, id);
    ok = add_header(&h, "Content-Type: application/json") == 0 && add_header(&h, "Expect:") == 0 &&
         add_header(&h, line) == 0;
    if (ok && s->kind == DSVM_ALERT_WEBHOOK) {
        snprintf(line, sizeof(line), "X-Dsvmops-Event: %.80s", event_name);
        ok = add_header(&h, line) == 0;
        if (ok && secret) {
            if (sign(sig, secret, body, strlen(body)) < 0) {
                snprintf(err, errlen, "%s", dsvm_error_last()->message);
                goto out;
            }
            snprintf(line, sizeof(line), "X-Dsvmops-Signature: %s", sig);
            ok = add_header(&h, line) == 0;
        }
    }
    if (!ok) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    curl_easy_reset(a->curl);
    curl_easy_setopt(a->curl, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(a->curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(a->curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(a->curl, CURLOPT_POST, 1L);
    curl_easy_setopt(a->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(a->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(a->curl, CURLOPT_USERAGENT, "dsvmops/" DSVM_VERSION);
    curl_easy_setopt(a->curl, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(a->curl, CURLOPT_TIMEOUT_MS, TOTAL_TIMEOUT_MS);
    curl_easy_setopt(a->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(a->curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(a->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(a->curl, CURLOPT_XFERINFODATA, a);
    curl_easy_setopt(a->curl, CURLOPT_WRITEFUNCTION, discard);
    cc = curl_easy_perform(a->curl);
    if (cc == CURLE_ABORTED_BY_CALLBACK && atomic_load(&a->stop)) {
        rc = 1;
    } else if (cc != CURLE_OK) {
        snprintf(err, errlen, "%s (curl error %d)", curl_easy_strerror(cc), (int)cc);
    } else {
        curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && status < 300)
            rc = 0;
        else
            snprintf(err, errlen, "HTTP %ld", status);
    }
    /* Leave nothing of the URL in the handle between transfers. */
    curl_easy_reset(a->curl);
out:
    curl_slist_free_all(h);
    wipe_free(url);
    wipe_free(secret);
    return rc;
}

/* The delay before attempt `attempts` + 1: base, doubling, capped. */
static int64_t backoff(const dsvm_alerts *a, int attempts)
{
    int64_t d = a->backoff_ms;
    int i;

    for (i = 1; i < attempts && d < BACKOFF_MAX_MS; i++)
        d *= 2;
    return d < BACKOFF_MAX_MS ? d : BACKOFF_MAX_MS;
}

/* Count what is pending on `st` and set the gauge. Called with `mu`
 * held, so that the last count taken is the last one shown. */
static void count_pending(dsvm_alerts *a, dsvm_state *st)
{
    if (dsvm_state_outbox_pending(st, &a->pending, NULL) == 0 && a->metrics)
        dsvm_metrics_set(a->metrics, "dsvmops_alerts_pending", NULL, (double)a->pending);
}

static void notify_progress(dsvm_alerts *a)
{
    pthread_mutex_lock(&a->mu);
    count_pending(a, a->tst);
    pthread_cond_broadcast(&a->progress_cv);
    pthread_mutex_unlock(&a->mu);
}

/*
 * The outcomes below are logged and counted before the outbox changes, so
 * that whoever sees the outbox change (flush) also sees them.
 */

/* Drop a delivery for good, logging why; it leaves the outbox. */
static void drop(dsvm_alerts *a, const delivery *d, const sink *s, const char *why)
{
    dsvm_log_write(a->log, DSVM_LEVEL_ERROR, "alert %" PRId64 " to alerts[%d] (%s) dropped: %s",
                   d->id, d->sink, d->kind, why);
    metric_sent(a, s, d->kind, "dropped");
    if (dsvm_state_outbox_delete(a->tst, d->id) < 0)
        dsvm_log_write(a->log, DSVM_LEVEL_ERROR, "alerts: %s", dsvm_error_last()->message);
}

/* Make one attempt at a delivery and record its outcome in the outbox. */
static void deliver_one(dsvm_alerts *a, const delivery *d)
{
    const sink *s = NULL;
    json_t *ev = NULL;
    char *body = NULL, err[512] = "", why[640];
    int64_t now, delay;
    int rc;

    if (d->sink >= 0 && (size_t)d->sink < a->nsinks &&
        strcmp(kind_names[a->sinks[d->sink].kind], d->kind) == 0)
        s = &a->sinks[d->sink];
    if (!s) {
        drop(a, d, NULL, "that sink is no longer in the configuration");
        return;
    }
    body = render(s->kind, d->event);
    if (!body) {
        drop(a, d, s, dsvm_error_last()->message);
        return;
    }
    ev = json_loads(d->event, 0, NULL);
    rc = post(a, s, ev_str(ev, "event"), d->id, body, err, sizeof(err));
    json_decref(ev);
    free(body);
    if (rc == 1)
        return; /* stopping: the delivery stays as it was */
    if (rc == 0) {
        dsvm_log_write(a->log, DSVM_LEVEL_DEBUG,
                       "alert %" PRId64 " delivered to alerts[%d] (%s) at attempt %d", d->id,
                       d->sink, d->kind, d->attempts + 1);
        metric_sent(a, s, d->kind, "delivered");
        if (dsvm_state_outbox_delete(a->tst, d->id) < 0)
            dsvm_log_write(a->log, DSVM_LEVEL_ERROR, "alerts: %s", dsvm_error_last()->message);
        return;
    }
    now = wall_ms();
    if (now - d->created_ms >= a->give_up_ms) {
        snprintf(why, sizeof(why), "gave up after %d attempts over %" PRId64 " s; last: %s",
                 d->attempts + 1, (now - d->created_ms) / 1000, err);
        drop(a, d, s, why);
        return;
    }
    delay = backoff(a, d->attempts + 1);
    dsvm_log_write(a->log, DSVM_LEVEL_WARN,
                   "alert %" PRId64 " to alerts[%d] (%s) failed: %s; attempt %d, next in %" PRId64
                   " ms",
                   d->id, d->sink, d->kind, err, d->attempts + 1, delay);
    metric_sent(a, s, d->kind, "failed");
    if (dsvm_state_outbox_failed(a->tst, d->id, now + delay, err) < 0)
        dsvm_log_write(a->log, DSVM_LEVEL_ERROR, "alerts: %s", dsvm_error_last()->message);
}

static int collect(const dsvm_state_outbox_entry *e, void *payload)
{
    batch *b = payload;
    delivery *d = &b->d[b->n];

    d->id = e->id;
    d->sink = e->sink;
    d->attempts = e->attempts;
    d->created_ms = e->created_ms;
    d->kind = strdup(e->sink_kind);
    d->event = strdup(e->event);
    if (!d->kind || !d->event) {
        free(d->kind);
        free(d->event);
        return -1;
    }
    b->n++;
    return b->n >= BATCH;
}

/*
 * Attempt every delivery due now, a batch at a time. Sets `*out_next_ms`
 * to the wall-clock time the next one is due (0: none queued). Returns 1
 * when another batch may be due at once.
 */
static int deliver_due(dsvm_alerts *a, int64_t *out_next_ms)
{
    batch b = {.n = 0};
    int64_t count = 0;
    int i, rc = dsvm_state_outbox_due(a->tst, wall_ms(), BATCH, collect, &b);

    if (rc < 0)
        dsvm_log_write(a->log, DSVM_LEVEL_ERROR, "alerts: %s", dsvm_error_last()->message);
    for (i = 0; i < b.n; i++) {
        if (!atomic_load(&a->stop)) {
            deliver_one(a, &b.d[i]);
            notify_progress(a);
        }
        free(b.d[i].kind);
        free(b.d[i].event);
    }
    if (rc < 0 || dsvm_state_outbox_pending(a->tst, &count, out_next_ms) < 0) {
        /* The store failed: try again later rather than spin. */
        *out_next_ms = wall_ms() + 5 * a->backoff_ms;
        return 0;
    }
    return b.n == BATCH;
}

static void *deliver_main(void *arg)
{
    dsvm_alerts *a = arg;
    int64_t next_ms = 0;
    int more;

    if (dsvm_state_outbox_retry_now(a->tst) < 0)
        dsvm_log_write(a->log, DSVM_LEVEL_ERROR, "alerts: %s", dsvm_error_last()->message);
    pthread_mutex_lock(&a->mu);
    while (!atomic_load(&a->stop)) {
        a->wake = 0;
        pthread_mutex_unlock(&a->mu);
        more = deliver_due(a, &next_ms);
        notify_progress(a);
        pthread_mutex_lock(&a->mu);
        if (more || a->wake || atomic_load(&a->stop))
            continue;
        if (next_ms > 0) {
            struct timespec until = deadline_in(next_ms - wall_ms());

            pthread_cond_timedwait(&a->wake_cv, &a->mu, &until);
        } else {
            pthread_cond_wait(&a->wake_cv, &a->mu);
        }
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* ---- the public calls -------------------------------------------------- */

/* Copy sink `i` of the configuration, and check that its URL and secret
 * can be read now. */
static int sink_init(sink *s, const dsvm_config_alert *c, size_t i, dsvm_log *log)
{
    char *v = NULL;
    int rc;

    s->kind = c->kind;
    snprintf(s->what_url, sizeof(s->what_url), "alerts[%zu].url", i);
    snprintf(s->what_secret, sizeof(s->what_secret), "alerts[%zu].secret", i);
    if ((unsigned)c->kind >= sizeof(kind_names) / sizeof(kind_names[0])) {
        dsvm_error_set(DSVM_ERRCLASS_CONFIG, "alerts[%zu]: unknown kind", i);
        return DSVM_EINVALID;
    }
    if (c->url) {
        s->url = strdup(c->url);
        if (!s->url)
            return dsvm_error_oom();
    }
    rc = secret_copy(&s->url_secret, &c->url_secret);
    if (rc == 0)
        rc = secret_copy(&s->secret, &c->secret);
    if (rc == 0)
        rc = sink_url(&v, s);
    wipe_free(v);
    v = NULL;
    if (rc == 0 && secret_set(&s->secret)) {
        rc = dsvm_config_read_secret(&v, &s->secret, s->what_secret, NULL);
        wipe_free(v);
    } else if (rc == 0 && s->kind == DSVM_ALERT_WEBHOOK) {
        dsvm_log_write(log, DSVM_LEVEL_WARN,
                       "alerts[%zu]: a webhook without secret_env or secret_file: its deliveries "
                       "are not signed",
                       i);
    }
    return rc;
}

static void sink_clear(sink *s)
{
    free(s->url);
    free(s->url_secret.env);
    free(s->url_secret.file);
    free(s->secret.env);
    free(s->secret.file);
}

int dsvm_alerts_new(dsvm_alerts **out, const dsvm_config *cfg, const char *state_path,
                    dsvm_log *log, dsvm_metrics *metrics)
{
    dsvm_alerts *a = calloc(1, sizeof(*a));
    pthread_condattr_t ca;
    int rc = 0, cond_ok = 0;
    size_t i;

    if (!a)
        return dsvm_error_oom();
    a->log = log;
    a->metrics = metrics;
    a->backoff_ms = env_ms("DSVM_ALERT_BACKOFF_MS", BACKOFF_BASE_MS);
    a->give_up_ms = env_ms("DSVM_ALERT_GIVE_UP_MS", GIVE_UP_MS);
    atomic_init(&a->stop, 0);
    pthread_mutex_init(&a->mu, NULL);
    if (pthread_condattr_init(&ca) == 0) {
        cond_ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
                  pthread_cond_init(&a->wake_cv, &ca) == 0;
        if (cond_ok && pthread_cond_init(&a->progress_cv, &ca) != 0) {
            pthread_cond_destroy(&a->wake_cv);
            cond_ok = 0;
        }
        pthread_condattr_destroy(&ca);
    }
    if (!cond_ok) {
        pthread_mutex_destroy(&a->mu);
        free(a);
        dsvm_error_set(DSVM_ERRCLASS_OS, "alerts: cannot make condition variables");
        return DSVM_ERROR;
    }
    if (cfg->nalerts) {
        a->sinks = calloc(cfg->nalerts, sizeof(*a->sinks));
        if (!a->sinks) {
            rc = dsvm_error_oom();
            goto fail;
        }
    }
    for (i = 0; i < cfg->nalerts; i++) {
        a->nsinks++;
        rc = sink_init(&a->sinks[i], &cfg->alerts[i], i, log);
        if (rc < 0)
            goto fail;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        dsvm_error_set(DSVM_ERRCLASS_NET, "alerts: libcurl cannot be initialised");
        rc = DSVM_ERROR;
        goto fail;
    }
    a->curl_inited = 1;
    a->curl = curl_easy_init();
    if (!a->curl) {
        rc = dsvm_error_oom();
        goto fail;
    }
    rc = dsvm_state_open(&a->st, state_path);
    if (rc == 0)
        rc = dsvm_state_open(&a->tst, state_path);
    if (rc == 0)
        rc = dsvm_state_outbox_pending(a->st, &a->pending, NULL);
    if (rc < 0)
        goto fail;
    if (metrics) {
        dsvm_metrics_declare(metrics, "dsvmops_alerts_sent_total", DSVM_METRIC_COUNTER,
                             "Alert delivery attempts by sink kind and outcome (delivered, "
                             "failed and retried, dropped)",
                             NULL, 0);
        dsvm_metrics_declare(metrics, "dsvmops_alerts_pending", DSVM_METRIC_GAUGE,
                             "Alert deliveries queued or waiting to retry", NULL, 0);
        dsvm_metrics_set(metrics, "dsvmops_alerts_pending", NULL, (double)a->pending);
    }
    if (pthread_create(&a->thread, NULL, deliver_main, a) != 0) {
        dsvm_error_set(DSVM_ERRCLASS_OS, "alerts: cannot start the delivery thread");
        rc = DSVM_ERROR;
        goto fail;
    }
    a->started = 1;
    *out = a;
    return 0;
fail:
    dsvm_alerts_free(a);
    return rc;
}

int dsvm_alerts_emit(dsvm_alerts *a, const json_t *event)
{
    const char *name = json_string_value(json_object_get(event, "event"));
    char *text;
    size_t i;
    int rc = 0;

    if (!a->nsinks)
        return 0;
    if (!json_is_object(event) || !name) {
        dsvm_error_set(DSVM_ERRCLASS_INTERNAL, "an alert event must be an object with \"event\"");
        return DSVM_EINVALID;
    }
    text = json_dumps(event, JSON_COMPACT);
    if (!text)
        return dsvm_error_oom();
    pthread_mutex_lock(&a->mu);
    for (i = 0; rc == 0 && i < a->nsinks; i++)
        rc = dsvm_state_outbox_add(a->st, NULL, (int)i, kind_names[a->sinks[i].kind], text);
    count_pending(a, a->st);
    a->wake = 1;
    pthread_cond_signal(&a->wake_cv);
    pthread_mutex_unlock(&a->mu);
    free(text);
    return rc;
}

size_t dsvm_alerts_pending(dsvm_alerts *a)
{
    size_t n;

    pthread_mutex_lock(&a->mu);
    count_pending(a, a->st);
    n = (size_t)a->pending;
    pthread_mutex_unlock(&a->mu);
    return n;
}

int dsvm_alerts_flush(dsvm_alerts *a, int64_t timeout_ms)
{
    struct timespec until = deadline_in(timeout_ms), now;
    int rc = 0;

    pthread_mutex_lock(&a->mu);
    for (;;) {
        count_pending(a, a->st);
        if (a->pending == 0)
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > until.tv_sec ||
            (now.tv_sec == until.tv_sec && now.tv_nsec >= until.tv_nsec)) {
            dsvm_error_set(DSVM_ERRCLASS_NET,
                           "%" PRId64 " alert deliveries still pending after %" PRId64
                           " ms; they stay queued",
                           a->pending, timeout_ms);
            rc = DSVM_ETIMEOUT;
            break;
        }
        pthread_cond_timedwait(&a->progress_cv, &a->mu, &until);
    }
    pthread_mutex_unlock(&a->mu);
    return rc;
}

void dsvm_alerts_free(dsvm_alerts *a)
{
    size_t i;

    if (!a)
        return;
    if (a->started) {
        pthread_mutex_lock(&a->mu);
        atomic_store(&a->stop, 1);
        pthread_cond_broadcast(&a->wake_cv);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->thread, NULL);
    }
    dsvm_state_close(a->tst);
    dsvm_state_close(a->st);
    curl_easy_cleanup(a->curl);
    if (a->curl_inited)
        curl_global_cleanup();
    for (i = 0; i < a->nsinks; i++)
        sink_clear(&a->sinks[i]);
    free(a->sinks);
    pthread_cond_destroy(&a->wake_cv);
    pthread_cond_destroy(&a->progress_cv);
    pthread_mutex_destroy(&a->mu);
    free(a);
}
