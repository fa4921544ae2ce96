/*
 * The LRO state machine: initial answer -> polls -> (re-GET) -> callback.
 * Each step is one request on the http loop; the state lives in one heap
 * object that the last step frees.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "fmt.h"
#include "dsvmops/error.h"
#include "lro.h"

typedef enum {
    POLL_ASYNC = 0, /* Azure-AsyncOperation status monitor */
    POLL_LOCATION,  /* Location: 202 until done */
    POLL_RESOURCE,  /* the resource's own provisioningState */
} poll_mode;

typedef struct {
    dsvm_http *h;
    dsvm_lro_options opts;
    dsvm_lro_done_fn done;
    void *payload;
    char *method;
    char *url;
    char *safe_url;
    char *audience;
    char **headers; /* the request's headers, reused for polls (minus body headers) */
    unsigned flags;
    char *poll_url;
    char *result_url; /* POST with both headers: the action's result is at Location */
    poll_mode mode;
    int64_t deadline_ms;
    int polls;
    char *last_status;
    char *request_id;
    int polling; /* counted in the loop's LROs in flight */
} lro;

void dsvm_lro_options_init(dsvm_lro_options *opts)
{
    opts->timeout_ms = 1800000;
    opts->poll_interval_ms = 2000;
    opts->poll_min_ms = 250;
}

int dsvm_lro_is_terminal(const char *state)
{
    return state && (strcasecmp(state, "Succeeded") == 0 || strcasecmp(state, "Failed") == 0 ||
                     strcasecmp(state, "Canceled") == 0);
}

static void lro_free(lro *l)
{
    char **hp;

    if (!l)
        return;
    free(l->method);
    free(l->url);
    free(l->safe_url);
    free(l->audience);
    for (hp = l->headers; hp && *hp; hp++)
        free(*hp);
    free(l->headers);
    free(l->poll_url);
    free(l->result_url);
    free(l->last_status);
    free(l->request_id);
    free(l);
}

static void set_str(char **dst, const char *src)
{
    char *d = src ? strdup(src) : NULL;

    free(*dst);
    *dst = d;
}

/* Report and free. `body` may be NULL. */
static void finish(lro *l, int error, const char *status, long http_status, const char *body,
                   size_t body_len, const char *code, const char *message, const char *summary)
{
    dsvm_lro_result r;

    memset(&r, 0, sizeof(r));
    r.error = error;
    r.status = status;
    r.http_status = http_status;
    r.body = body ? body : "";
    r.body_len = body ? body_len : 0;
    r.error_code = code;
    r.error_message = message;
    r.message = summary;
    r.request_id = l->request_id;
    r.polls = l->polls;
    if (l->polling)
        dsvm_http_note_lro(l->h, -1);
    if (l->done)
        l->done(&r, l->payload);
    lro_free(l);
}

/* Report a failed HTTP answer (transport error or status >= 400). */
static void finish_http_error(lro *l, const dsvm_http_response *resp, const char *stage)
{
    char *summary;

    summary = dsvm_fmt("%s %s: %s: %s", l->method, l->safe_url, stage,
                       resp->message ? resp->message : "request failed");
    finish(l, dsvm_http_response_error(resp), NULL, resp->status, resp->body, resp->body_len,
           resp->arm_code, resp->arm_message, summary ? summary : stage);
    free(summary);
}

static void on_poll(const dsvm_http_response *resp, void *payload);
static void on_final_get(const dsvm_http_response *resp, void *payload);

/* Queue a GET of `url` after `delay_ms`; on failure report and free. */
static void submit_get(lro *l, const char *url, int64_t delay_ms, dsvm_http_done_fn cb)
{
    dsvm_http_request req;
    int rc;

    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = url;
    req.headers = (const char *const *)l->headers;
    req.bucket = DSVM_BUCKET_READ;
    req.audience = l->audience;
    req.flags = l->flags & ~(unsigned)DSVM_HTTP_EXPECT_404;
    req.delay_ms = delay_ms;
    rc = dsvm_http_submit(l->h, &req, cb, l);
    if (rc < 0) {
        char *summary = dsvm_fmt("%s %s: cannot poll the operation: %s", l->method, l->safe_url,
                                 dsvm_error_last()->message);

        finish(l, rc, NULL, 0, NULL, 0, NULL, NULL, summary ? summary : "cannot poll");
        free(summary);
    }
}

/* Schedule the next poll, honouring Retry-After, or time out. */
static void schedule_poll(lro *l, const dsvm_http_response *resp)
{
    const char *ra = dsvm_http_response_header(resp, "Retry-After");
    int64_t now = dsvm_http_now_ms(), delay = l->opts.poll_interval_ms, v;

    if (ra && dsvm_http_parse_retry_after(&v, ra, time(NULL)) == 0)
        delay = v;
    if (delay < l->opts.poll_min_ms)
        delay = l->opts.poll_min_ms;
    if (now >= l->deadline_ms) {
        char *summary = dsvm_fmt(
            "%s %s: the operation did not finish within %lld s (last status %s after %d polls); "
            "raise the LRO timeout or check the resource in Azure",
            l->method, l->safe_url, (long long)(l->opts.timeout_ms / 1000),
            l->last_status ? l->last_status : "unknown", l->polls);

        finish(l, DSVM_ERROR, NULL, resp->status, NULL, 0, "OperationTimedOut", NULL,
               summary ? summary : "the operation timed out");
        free(summary);
        return;
    }
    if (now + delay > l->deadline_ms)
        delay = l->deadline_ms - now;
    submit_get(l, l->poll_url, delay, on_poll);
}

json_t *dsvm_lro_parse_body(dsvm_lro_body *out, const char *body, size_t len, int monitor)
{
    json_t *j = len ? json_loadb(body, len, 0, NULL) : NULL, *err;

    memset(out, 0, sizeof(*out));
    out->state = monitor ? json_string_value(json_object_get(j, "status"))
                         : json_string_value(json_object_get(json_object_get(j, "properties"),
                                                             "provisioningState"));
    err = json_object_get(j, "error");
    if (!json_is_object(err))
        err = json_object_get(json_object_get(j, "properties"), "error");
    out->error_code = json_string_value(json_object_get(err, "code"));
    out->error_message = json_string_value(json_object_get(err, "message"));
    return j;
}

static int is_state(const char *s, const char *want)
{
    return s && strcasecmp(s, want) == 0;
}

/* The operation succeeded: re-read the resource for PUT/PATCH, else report. */
static void succeeded(lro *l, const dsvm_http_response *resp)
{
    set_str(&l->last_status, "Succeeded");
    if (strcmp(l->method, "PUT") == 0 || strcmp(l->method, "PATCH") == 0) {
        submit_get(l, l->url, 0, on_final_get);
        return;
    }
    if (l->mode == POLL_ASYNC && l->result_url) {
        submit_get(l, l->result_url, 0, on_final_get);
        return;
    }
    finish(l, 0, "Succeeded", resp->status, resp->body, resp->body_len, NULL, NULL, NULL);
}

/* The operation ended Failed or Canceled; `b` is the monitor or resource body. */
static void failed(lro *l, const dsvm_http_response *resp, const dsvm_lro_body *b,
                   const char *state)
{
    const char *code = b->error_code, *message = b->error_message;
    char *summary;

    summary = dsvm_fmt("%s %s: the operation ended %s%s%s%s%s (after %d polls)", l->method,
                       l->safe_url, state, code ? ": " : "", code ? code : "", message ? ": " : "",
                       message ? message : "", l->polls);
    finish(l, DSVM_ERROR, is_state(state, "Canceled") ? "Canceled" : "Failed", resp->status,
           resp->body, resp->body_len, code, message, summary ? summary : state);
    free(summary);
}

static void on_poll(const dsvm_http_response *resp, void *payload)
{
    lro *l = payload;
    dsvm_lro_body b;
    json_t *j = NULL;
    const char *state = NULL;

    l->polls++;
    if (resp->error || resp->status >= 400) {
        finish_http_error(l, resp, "polling the operation failed");
        return;
    }
    switch (l->mode) {
    case POLL_ASYNC:
    case POLL_RESOURCE:
        j = dsvm_lro_parse_body(&b, resp->body, resp->body_len, l->mode == POLL_ASYNC);
        state = b.state;
        if (l->mode == POLL_RESOURCE && !state)
            state = "Succeeded"; /* no provisioningState: nothing is running */
        set_str(&l->last_status, state ? state : "(none)");
        if (is_state(state, "Succeeded")) {
            if (l->mode == POLL_RESOURCE)
                finish(l, 0, "Succeeded", resp->status, resp->body, resp->body_len, NULL, NULL,
                       NULL);
            else
                succeeded(l, resp);
        } else if (is_state(state, "Failed") || is_state(state, "Canceled")) {
            failed(l, resp, &b, state);
        } else {
            schedule_poll(l, resp);
        }
        json_decref(j);
        return;
    case POLL_LOCATION:
        if (resp->status == 202) {
            set_str(&l->last_status, "Accepted");
            schedule_poll(l, resp);
        } else {
            succeeded(l, resp);
        }
        return;
    }
}

static void on_final_get(const dsvm_http_response *resp, void *payload)
{
    lro *l = payload;

    if (resp->error || resp->status >= 400) {
        finish_http_error(l, resp, "reading the resource after the operation failed");
        return;
    }
    finish(l, 0, "Succeeded", resp->status, resp->body, resp->body_len, NULL, NULL, NULL);
}

static void on_initial(const dsvm_http_response *resp, void *payload)
{
    lro *l = payload;
    const char *async, *location, *state;
    dsvm_lro_body b;
    json_t *j;

    set_str(&l->request_id, resp->request_id);
    if (resp->error || resp->status >= 400) {
        finish_http_error(l, resp, "the request failed");
        return;
    }
    async = dsvm_http_response_header(resp, "Azure-AsyncOperation");
    location = dsvm_http_response_header(resp, "Location");
    j = dsvm_lro_parse_body(&b, resp->body, resp->body_len, 0);
    state = b.state;
    set_str(&l->last_status, state);

    if (is_state(state, "Failed") || is_state(state, "Canceled")) {
        failed(l, resp, &b, state);
        goto out;
    }
    if (resp->status == 202 || (state && !dsvm_lro_is_terminal(state)) ||
        (resp->status == 201 && !state && async)) {
        if (async && *async) {
            l->mode = POLL_ASYNC;
            set_str(&l->poll_url, async);
            if (strcmp(l->method, "POST") == 0 && location && *location)
                set_str(&l->result_url, location);
        } else if (location && *location && resp->status != 201) {
            l->mode = POLL_LOCATION;
            set_str(&l->poll_url, location);
        } else if (strcmp(l->method, "PUT") == 0 || strcmp(l->method, "PATCH") == 0) {
            l->mode = POLL_RESOURCE;
            set_str(&l->poll_url, l->url);
        } else {
            finish(l, 0, NULL, resp->status, resp->body, resp->body_len, NULL, NULL, NULL);
            goto out;
        }
        if (!l->poll_url) {
            finish(l, dsvm_error_oom(), NULL, resp->status, NULL, 0, NULL, NULL, "out of memory");
            goto out;
        }
        if (!l->polling) {
            l->polling = 1;
            dsvm_http_note_lro(l->h, 1);
        }
        schedule_poll(l, resp);
        goto out;
    }
    finish(l, 0, state ? "Succeeded" : NULL, resp->status, resp->body, resp->body_len, NULL, NULL,
           NULL);
out:
    json_decref(j);
}

int dsvm_lro_submit(dsvm_http *h, const dsvm_http_request *req, const dsvm_lro_options *opts,
                    dsvm_lro_done_fn done, void *payload)
{
    lro *l = calloc(1, sizeof(*l));
    size_t n = 0, i, k = 0;
    int rc;

    if (!l)
        return dsvm_error_oom();
    l->h = h;
    if (opts)
        l->opts = *opts;
    else
        dsvm_lro_options_init(&l->opts);
    l->done = done;
    l->payload = payload;
    l->flags = req->flags;
    l->method = strdup(req->method ? req->method : "");
    l->url = strdup(req->url ? req->url : "");
    if (!l->method || !l->url)
        goto oom;
    if (req->audience) {
        l->audience = strdup(req->audience);
        if (!l->audience)
            goto oom;
    }
    rc = dsvm_http_redact_url(&l->safe_url, l->url);
    if (rc < 0)
        goto fail;
    while (req->headers && req->headers[n])
        n++;
    l->headers = calloc(n + 1, sizeof(*l->headers));
    if (!l->headers)
        goto oom;
    for (i = 0; i < n; i++) {
        /* polls carry no body: drop the headers that describe one */
        if (strncasecmp(req->headers[i], "Content-", 8) == 0 ||
            strncasecmp(req->headers[i], "If-", 3) == 0)
            continue;
        l->headers[k] = strdup(req->headers[i]);
        if (!l->headers[k++])
            goto oom;
    }
    l->deadline_ms =
        dsvm_http_now_ms() + (req->delay_ms > 0 ? req->delay_ms : 0) + l->opts.timeout_ms;
    rc = dsvm_http_submit(h, req, on_initial, l);
    if (rc < 0)
        goto fail;
    return 0;
oom:
    rc = dsvm_error_oom();
fail:
    lro_free(l);
    return rc;
}
