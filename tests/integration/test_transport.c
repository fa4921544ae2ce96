/*
 * The transport against a real armsim over HTTP: credentials and token
 * caching, token refresh and the 401 retry, LROs to Succeeded, Failed and a
 * timeout, 429 recovery with Retry-After, client-side buckets that keep the
 * server from throttling, 503 and connection-reset retries, the loopback
 * rule, and that no secret or token reaches a log line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "armsim_fixture.h"
#include "auth.h"
#include "dsvmops/error.h"
#include "http.h"
#include "log.h"
#include "lro.h"

#define TENANT "00000000-0000-0000-0000-0000000000aa"
#define SUB    "00000000-0000-0000-0000-000000000001"
#define ARM    "https://management.azure.com"
#define SECRET "demo-secret"
#define RG_API "?api-version=2022-09-01"

/* One test's world: an armsim, a captured log, an http loop and a credential. */
typedef struct {
    armsim sim;
    dsvm_log *log;
    char *logbuf;
    size_t loglen;
    dsvm_http *h;
    dsvm_auth *auth;
} world;

/* What a callback saw, copied out of the borrowed response. */
typedef struct {
    int done;
    int error;
    long status;
    int attempts;
    char *message;
    char *arm_code;
    char *body;
    char *status_word; /* LRO */
    char *correlation_id;
    char *request_id;
    int polls;
} result;

static void capture(dsvm_log_level level, const char *line, void *payload)
{
    world *w = payload;
    size_t n = strlen(line);
    char *g = realloc(w->logbuf, w->loglen + n + 2);

    (void)level;
    assert_non_null(g);
    memcpy(g + w->loglen, line, n);
    g[w->loglen + n] = '\n';
    g[w->loglen + n + 1] = '\0';
    w->logbuf = g;
    w->loglen += n + 1;
}

static void test_options(dsvm_http_options *o, world *w)
{
    dsvm_http_options_init(o);
    o->backoff_base_ms = 20;
    o->backoff_max_ms = 200;
    o->log = w->log;
}

/* Start armsim with `args` and an http loop with `o` (NULL: test defaults). */
static void world_start(world *w, const char *const *args, const dsvm_http_options *o)
{
    dsvm_http_options d;

    assert_int_equal(armsim_start(&w->sim, args), 0);
    assert_int_equal(dsvm_log_new(&w->log, DSVM_LEVEL_DEBUG), 0);
    dsvm_log_set_sink(w->log, capture, w);
    if (!o) {
        test_options(&d, w);
        o = &d;
    }
    d = *o;
    d.log = w->log;
    assert_int_equal(dsvm_http_new(&w->h, &d), 0);
}

static void world_secret(world *w, const char *secret)
{
    dsvm_auth_options a;

    memset(&a, 0, sizeof(a));
    a.kind = DSVM_CREDENTIAL_CLIENT_SECRET;
    a.authority = w->sim.url;
    a.tenant = TENANT;
    a.client_id = "dsvmops-demo";
    a.client_secret = secret;
    assert_int_equal(dsvm_auth_new(&w->auth, w->h, &a), 0);
}

/* cmocka setup: a zeroed world; teardown stops whatever was started, also
 * after a failed assertion. */
static int world_setup(void **state)
{
    *state = calloc(1, sizeof(world));
    return *state ? 0 : -1;
}

static int world_teardown(void **state)
{
    world *w = *state;

    if (getenv("DSVM_TEST_SHOW_LOG") && w->logbuf)
        fputs(w->logbuf, stderr);
    dsvm_http_free(w->h);
    dsvm_auth_free(w->auth);
    armsim_stop(&w->sim);
    dsvm_log_free(w->log);
    free(w->logbuf);
    free(w);
    return 0;
}

static void result_clear(result *r)
{
    free(r->message);
    free(r->arm_code);
    free(r->body);
    free(r->status_word);
    free(r->correlation_id);
    free(r->request_id);
    memset(r, 0, sizeof(*r));
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void on_done(const dsvm_http_response *resp, void *payload)
{
    result *r = payload;

    r->done++;
    r->error = resp->error;
    r->status = resp->status;
    r->attempts = resp->attempts;
    r->message = dup_or_null(resp->message);
    r->arm_code = dup_or_null(resp->arm_code);
    r->body = dup_or_null(resp->body);
    r->correlation_id = dup_or_null(resp->correlation_id);
    r->request_id = dup_or_null(resp->request_id);
}

static void on_lro(const dsvm_lro_result *res, void *payload)
{
    result *r = payload;

    r->done++;
    r->error = res->error;
    r->status = res->http_status;
    r->message = dup_or_null(res->message);
    r->arm_code = dup_or_null(res->error_code);
    r->body = dup_or_null(res->body);
    r->status_word = dup_or_null(res->status);
    r->polls = res->polls;
}

static char *arm_url(const world *w, const char *path)
{
    size_t n = strlen(w->sim.url) + strlen(path) + 1;
    char *u = malloc(n);

    assert_non_null(u);
    snprintf(u, n, "%s%s", w->sim.url, path);
    return u;
}

/* Queue one request to armsim at `path`. */
static void submit(world *w, const char *method, const char *path, const char *body,
                   dsvm_bucket_class bucket, int64_t delay_ms, result *r)
{
    dsvm_http_request req;
    char *url = arm_url(w, path);

    memset(&req, 0, sizeof(req));
    req.method = method;
    req.url = url;
    req.body = body;
    req.bucket = bucket;
    req.audience = ARM;
    req.delay_ms = delay_ms;
    assert_int_equal(dsvm_http_submit(w->h, &req, on_done, r), 0);
    free(url);
}

static void submit_lro(world *w, const char *method, const char *path, const char *body,
                       const dsvm_lro_options *o, result *r)
{
    dsvm_http_request req;
    char *url = arm_url(w, path);

    memset(&req, 0, sizeof(req));
    req.method = method;
    req.url = url;
    req.body = body;
    req.bucket = strcmp(method, "DELETE") == 0 ? DSVM_BUCKET_DELETE : DSVM_BUCKET_WRITE;
    req.audience = ARM;
    assert_int_equal(dsvm_lro_submit(w->h, &req, o, on_lro, r), 0);
    free(url);
}

static const char list_rgs[] = "/subscriptions/" SUB "/resourcegroups" RG_API;

static void put_group(world *w, const char *name)
{
    char path[256];
    result r = {0};

    snprintf(path, sizeof(path), "/subscriptions/%s/resourcegroups/%s%s", SUB, name, RG_API);
    submit(w, "PUT", path, "{\"location\":\"eastus\"}", DSVM_BUCKET_WRITE, 0, &r);
    assert_int_equal(dsvm_http_run(w->h), 0);
    assert_int_equal(r.done, 1);
    assert_true(r.status == 200 || r.status == 201);
    result_clear(&r);
}

static void assert_log_is_clean(const world *w, const char *secret, const char *token)
{
    const char *log = w->logbuf ? w->logbuf : "";

    if (secret)
        assert_null(strstr(log, secret));
    if (token)
        assert_null(strstr(log, token));
    assert_null(strstr(log, "Bearer "));
    assert_null(strstr(log, "client_secret="));
    assert_null(strstr(log, "access_token"));
}

static int64_t now_ms(void)
{
    return dsvm_http_now_ms();
}

/* ---- credentials ---- */

static void transport_client_secret_token_is_fetched_once_and_cached(void **state)
{
    world *w = *state;
    result r[40];
    char *token = NULL;
    uint64_t conns;
    int i;

    memset(r, 0, sizeof(r));
    world_start(w, NULL, NULL);
    world_secret(w, SECRET);
    for (i = 0; i < 20; i++)
        submit(w, "GET", list_rgs, NULL, DSVM_BUCKET_READ, 0, &r[i]);
    assert_int_equal(dsvm_http_run(w->h), 0);
    for (i = 0; i < 20; i++) {
        assert_int_equal(r[i].done, 1);
        assert_int_equal(r[i].error, 0);
        assert_int_equal(r[i].status, 200);
        /* one correlation ID for the whole run, echoed by the server */
        assert_string_equal(r[i].correlation_id, dsvm_http_correlation_id(w->h));
        assert_non_null(r[i].request_id);
    }
    /* twenty requests waited for one token request */
    assert_int_equal(armsim_stat(&w->sim, "token_requests.total"), 1);
    conns = dsvm_http_get_stats(w->h)->connections;
    for (i = 20; i < 40; i++)
        submit(w, "GET", list_rgs, NULL, DSVM_BUCKET_READ, 0, &r[i]);
    assert_int_equal(dsvm_http_run(w->h), 0);
    for (i = 20; i < 40; i++)
        assert_int_equal(r[i].status, 200);
    assert_int_equal(armsim_stat(&w->sim, "token_requests.total"), 1);
    assert_int_equal(dsvm_auth_get_stats(w->auth)->token_requests, 1);
    assert_int_equal(armsim_stat(&w->sim, "requests.by_verb.GET"), 40);
    assert_int_equal(dsvm_http_get_stats(w->h)->requests[DSVM_HTTP_GET], 40);
    /* connections are reused: 41 requests over at most one connection per
     * concurrent transfer (16) and the token call's */
    assert_true(conns >= 1);
    assert_true(dsvm_http_get_stats(w->h)->connections <= 17);
    print_message("client secret: 40 GETs + 1 token call over %llu connections\n",
                  (unsigned long long)dsvm_http_get_stats(w->h)->connections);
    assert_int_equal(dsvm_auth_token(&token, w->auth, ARM), 0);
    assert_log_is_clean(w, SECRET, token);
    free(token);
    for (i = 0; i < 40; i++)
        result_clear(&r[i]);
}

static void transport_wrong_secret_fails_with_a_clear_error(void **state)
{
    world *w = *state;
    result r[5];
    int i;

    memset(r, 0, sizeof(r));
    world_start(w, NULL, NULL);
    world_secret(w, "wrong-secret-value");
    for (i = 0; i < 5; i++)
        submit(w, "GET", list_rgs, NULL, DSVM_BUCKET_READ, 0, &r[i]);
    assert_int_equal(dsvm_http_run(w->h), 0);
    for (i = 0; i < 5; i++) {
        assert_int_equal(r[i].done, 1);
        assert_int_equal(r[i].error, DSVM_EAUTH);
        assert_non_null(strstr(r[i].message, "no token for " ARM));
        assert_non_null(strstr(r[i].message, "invalid_client"));
        assert_non_null(strstr(r[i].message, "AADSTS7000215"));
        assert_non_null(strstr(r[i].message, "/oauth2/v2.0/token"));
    }
    /* one token call for all five, and nothing reached ARM without a token */
    assert_int_equal(armsim_stat(&w->sim, "token_requests.total"), 1);
    assert_int_equal(armsim_stat(&w->sim, "requests.total"), 0);
    assert_non_null(strstr(w->logbuf, "POST"));
    assert_log_is_clean(w, "wrong-secret-value", NULL);
    for (i = 0; i < 5; i++)
        result_clear(&r[i]);
}

static void transport_managed_identity_uses_imds(void **state)
{
    world *w = *state;
    dsvm_auth_options a;
    result r = {0}, r2 = {0};
    char *imds;

    world_start(w, NULL, NULL);
    imds = arm_url(w, "/metadata/identity/oauth2/token");
    memset(&a, 0, sizeof(a));
    a.kind = DSVM_CREDENTIAL_MANAGED_IDENTITY;
    a.imds_endpoint = imds;
    assert_int_equal(dsvm_auth_new(&w->auth, w->h, &a), 0);
    submit(w, "GET", list_rgs, NULL, DSVM_BUCKET_READ, 0, &r);
    submit(w, "GET", list_rgs, NULL, DSVM_BUCKET_READ, 0, &r2);
    assert_int_equal(dsvm_http_run(w->h), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r2.status, 200);
    assert_int_equal(armsim_stat(&w->sim, "token_requests.total"), 1);
    assert_int_equal(armsim_stat(&w->sim, "token_requests.by_status.200"), 1);
    /* IMDS numbers are strings: the lifetime was still understood */
    assert_true(dsvm_auth_refresh_at(w->auth, ARM) > now_ms() + 3000 * 1000);
    result_clear(&r);
    result_clear(&r2);
    free(imds);
}

static void transport_managed_identity_selects_a_user_assigned_identity(void **state)
{
    static const char uami[] = "/subscriptions/" SUB "/resourceGroups/rg-mi/providers/"
                               "Microsoft.ManagedIdentity/userAssignedIdentities/id1"
                               "?api-version=2023-01-31";
    world *w = *state;
    dsvm_http *mi_http = NULL;
    dsvm_auth *mi = NULL, *wrong = NULL;
    dsvm_auth_options a;
    dsvm_http_options o;
    result r = {0};
    char *imds, *token = NULL;
    json_t *j;

    world_start(w, NULL, NULL);
    world_secret(w, SECRET);
    put_group(w, "rg-mi");
    submit(w, "PUT", uami, "{\"location\":\"eastus\"}", DSVM_BUCKET_WRITE, 0, &r);
    assert_int_equal(dsvm_http_run(w->h), 0);
    assert_true(r.status == 200 || r.status == 201);
    j = json_loads(r.body, 0, NULL);
    imds = arm_url(w, "/metadata/identity/oauth2/token");
    memset(&a, 0, sizeof(a));
    a.kind = DSVM_CREDENTIAL_MANAGED_IDENTITY;
    a.imds_endpoint = imds;
    a.client_id = json_string_value(json_object_get(json_object_get(j, "properties"), "clientId"));
    assert_non_null(a.client_id);
    test_options(&o, w);
    o.log = w->log;
    assert_int_equal(dsvm_http_new(&mi_http, &o), 0);
    assert_int_equal(dsvm_auth_new(&mi, mi_http, &a), 0);
    assert_int_equal(dsvm_auth_token(&token, mi, ARM), 0);
    assert_true(strlen(token) > 20);
    free(token);
    token = NULL;
    dsvm_http_free(mi_http);
    dsvm_auth_free(mi);

    /* an identity the machine does not have: IMDS says so, and so do we */
    a.client_id = "99999999-9999-9999-9999-999999999999";
    mi_http = NULL;
    assert_int_equal(dsvm_http_new(&mi_http, &o), 0);
    assert_int_equal(dsvm_auth_new(&wrong, mi_http, &a), 0);
    assert_int_equal(dsvm_auth_token(&token, wrong, ARM), DSVM_EAUTH);
    assert_null(token);
    assert_non_null(strstr(dsvm_error_last()->message, "/metadata/identity/oauth2/token"));
    assert_non_null(strstr(dsvm_error_last()->message, "Identity not found"));
    dsvm_http_free(mi_http);
    dsvm_auth_free(wrong);
    json_decref(j);
    free(imds);
    result_clear(&r);
}

static void transport_workload_identity_sends_the_assertion(void **state)
{
    static const char *const args[] = {"--federated", "wi-client", NULL};
    /* {"alg":"none"} . {"sub":"wi","exp":4102444800} . sig */
    static const char jwt[] = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ3aSIsImV4cCI6NDEwMjQ0NDgwMH0.c2ln\n";
    char path[] = "/tmp/dsvm-wi-XXXXXX";
    dsvm_auth_options a;
    world *w = *state;
    result r = {0};
    int fd;

    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, jwt, strlen(jwt)), (ssize_t)strlen(jwt));
    close(fd);
    world_start(w, args, NULL);
    memset(&a, 0, sizeof(a));
    a.kind = DSVM_CREDENTIAL_WORKLOAD_IDENTITY;
    a.authority = w->sim.url;
    a.tenant = TENANT;
    a.client_id = "wi-client";
    a.assertion_file = path;
    assert_int_equal(dsvm_auth_new(&w->auth, w->h, &a), 0);
    submit(w, "GET", list_rgs, NULL, DSVM_BUCKET_READ, 0, &r);
    assert_int_equal(dsvm_http_run(w->h), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(armsim_stat(&w->sim, "token_requests.by_status.200"), 1);
    assert_log_is_clean(w, "eyJzdWIiOiJ3aSIsImV4cCI6NDEwMjQ0NDgwMH0", NULL);
    result_clear(&r);
    unlink(path);
}

static void transport_workload_identity_without_its_token_file_fails_clearly(void **state)
{
    static const char *const args[] = {"--federated", "wi-client", NULL};
    dsvm_auth_options a;
    world *w = *state;
    result r[3];
    int i;

    memset(r, 0, sizeof(r));
    world_start(w, args, NULL);
    memset(&a, 0, sizeof(a));
    a.kind = DSVM_CREDENTIAL_WORKLOAD_IDENTITY;
    a.authority = w->sim.url;
    a.tenant = TENANT;
    a.client_id = "wi-client";
    a.assertion_file = "/nonexistent/azure/tokens/azure-identity-token";
    assert_int_equal(dsvm_auth_new(&w->auth, w->h, &a), 0);
    for (i = 0; i < 3; i++)
        submit(w, "GET", list_rgs, NULL, DSVM_BUCKET_READ, 0, &r[i]);
    assert_int_equal(dsvm_http_run(w->h), 0);
    for (i = 0; i < 3; i++) {
        assert_int_equal(r[i].error, DSVM_EAUTH);
        assert_non_null(
            strstr(r[i].message, "cannot read the federated token file /nonexistent/azure"));
    }
    assert_int_equal(dsvm_auth_get_stats(w->auth)->token_failures, 1);
    assert_int_equal(armsim_stat(&w->sim, "token_requests.total"), 0);
    assert_int_equal(armsim_stat(&w->sim, "requests.total"), 0);
    for (i = 0; i < 3; i++)
        result_clear(&r[i]);
}

/* ---- token lifetime ---- */

static void transport_refreshes_the_token_before_it_expires_mid_run(void **state)
{
    static const char *const args[] = {"--token-ttl", "2", NULL};
    world *w = *state;
    result a = {0}, b = {0};
    int64_t t0;

    world_start(w, args, NULL);
    world_secret(w, SECRET);
    t0 = now_ms();
    /* one run: a request now, and one after the refresh point (1 s before expiry) */
    submit(w, "GET", list_rgs, NULL, DSVM_BUCKET_READ, 0, &a);
    submit(w, "GET", list_rgs, NULL, DSVM_BUCKET_READ, 1300, &b);
    assert_int_equal(dsvm_http_run(w->h), 0);
    assert_true(now_ms() - t0 >= 1300);
    assert_int_equal(a.status, 200);
    assert_int_equal(b.status, 200);
    assert_int_equal(armsim_stat(&w->sim, "token_requests.total"), 2);
    assert_int_equal(armsim_stat(&w->sim, "requests.by_status.401"), 0);
    result_clear(&a);
    result_clear(&b);
}

/* A token source that hands out a bogus token until the server refuses it. */
typedef struct {
    char *good;
    int refused;
    int gets;
} fake_auth;

static int fake_get(const char **out, const char *audience, void *payload)
{
    fake_auth *f = payload;

    (void)audience;
    f->gets++;
    *out = f->refused ? f->good : "bogus.token.value";
    return 0;
}

static void fake_refused(const char *audience, const char *token, void *payload)
{
    fake_auth *f = payload;

    (void)audience;
    assert_string_equal(token, "bogus.token.value");
    f->refused++;
}

static void transport_retries_once_with_a_fresh_token_after_401(void **state)
{
    world *w = *state;
    fake_auth f = {0};
    dsvm_http_auth hook = {fake_get, fake_refused, &f};
    result r = {0};

    world_start(w, NULL, NULL);
    world_secret(w, SECRET);
    assert_int_equal(dsvm_auth_token(&f.good, w->auth, ARM), 0);
    dsvm_http_set_auth(w->h, &hook);
    submit(w, "GET", list_rgs, NULL, DSVM_BUCKET_READ, 0, &r);
    assert_int_equal(dsvm_http_run(w->h), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(f.refused, 1);
    assert_int_equal(dsvm_http_get_stats(w->h)->auth_retries, 1);
    assert_int_equal(armsim_stat(&w->sim, "requests.by_status.401"), 1);
    assert_int_equal(armsim_stat(&w->sim, "requests.by_status.200"), 1);
    assert_log_is_clean(w, SECRET, f.good);
    assert_null(strstr(w->logbuf, "bogus.token.value"));
    result_clear(&r);

    /* a token that stays refused is retried only once */
    f.refused = 0;
    free(f.good);
    f.good = strdup("still.bogus.token");
    submit(w, "GET", list_rgs, NULL, DSVM_BUCKET_READ, 0, &r);
    assert_int_equal(dsvm_http_run(w->h), 0);
    assert_int_equal(r.status, 401);
    assert_int_equal(r.attempts, 1);
    assert_non_null(strstr(r.message, "401"));
    assert_int_equal(armsim_stat(&w->sim, "requests.by_status.401"), 3);
    assert_null(strstr(w->logbuf, "still.bogus.token"));
    result_clear(&r);
    free(f.good);
}

/* ---- long-running operations ---- */

static const char nsg_path[] =
    "/subscriptions/" SUB "/resourceGroups/rg-lro/providers/"
    "Microsoft.Network/networkSecurityGroups/nsg1?api-version=2023-09-01";

static void fast_lro(dsvm_lro_options *o)
{
    dsvm_lro_options_init(o);
    o->poll_min_ms = 100;
    o->poll_interval_ms = 100;
    o->timeout_ms = 10000;
}

static void transport_lro_polls_to_succeeded_and_rereads(void **state)
{
    static const char *const args[] = {"--lro-ms", "300", NULL};
    static const char batch_path[] =
        "/subscriptions/" SUB "/resourceGroups/rg-lro/providers/Microsoft.Batch/batchAccounts/"
        "ba1?api-version=2024-02-01";
    dsvm_lro_options o;
    world *w = *state;
    result r = {0}, b = {0}, d = {0};
    json_t *j;

    fast_lro(&o);
    world_start(w, args, NULL);
    world_secret(w, SECRET);
    put_group(w, "rg-lro");
    /* Azure-AsyncOperation (NSG) and Location (Batch account) */
    submit_lro(w, "PUT", nsg_path, "{\"location\":\"eastus\"}", &o, &r);
    submit_lro(w, "PUT", batch_path, "{\"location\":\"eastus\"}", &o, &b);
    assert_int_equal(dsvm_http_run(w->h), 0);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.error, 0);
    assert_string_equal(r.status_word, "Succeeded");
    assert_true(r.polls >= 1);
    j = json_loads(r.body, 0, NULL);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "properties"), "provisioningState")),
        "Succeeded");
    json_decref(j);
    assert_int_equal(b.error, 0);
    assert_string_equal(b.status_word, "Succeeded");
    assert_true(b.polls >= 1);
    j = json_loads(b.body, 0, NULL);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "properties"), "provisioningState")),
        "Succeeded");
    json_decref(j);
    assert_true(armsim_stat(&w->sim, "requests.lro_polls") >= 2);
    /* and a delete through the status monitor */
    submit_lro(w, "DELETE", nsg_path, NULL, &o, &d);
    assert_int_equal(dsvm_http_run(w->h), 0);
    assert_int_equal(d.error, 0);
    assert_int_equal(armsim_stat(&w->sim, "requests.by_verb.DELETE"), 1);
    result_clear(&r);
    result_clear(&b);
    result_clear(&d);
}

static void transport_lro_failed_carries_the_arm_error(void **state)
{
    static const char *const args[] = {"--lro-ms", "200", NULL};
    dsvm_lro_options o;
    world *w = *state;
    result r = {0};

    fast_lro(&o);
    world_start(w, args, NULL);
    world_secret(w, SECRET);
    put_group(w, "rg-lro");
    assert_int_equal(armsim_fault(&w->sim, "{\"method\":\"PUT\",\"type\":\"Microsoft.Network/"
                                           "networkSecurityGroups\",\"name\":\"*\","
                                           "\"lro_result\":\"Failed\"}"),
                     0);
    submit_lro(w, "PUT", nsg_path, "{\"location\":\"eastus\"}", &o, &r);
    assert_int_equal(dsvm_http_run(w->h), 0);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.error, DSVM_ERROR);
    assert_string_equal(r.status_word, "Failed");
    assert_string_equal(r.arm_code, "InternalOperationError");
    assert_non_null(strstr(r.message, "the operation ended Failed: InternalOperationError"));
    assert_non_null(strstr(r.message, "PUT http://127.0.0.1:"));
    result_clear(&r);
}

static void transport_lro_times_out_with_a_clear_error(void **state)
{
    static const char *const args[] = {"--lro-ms", "20000", NULL};
    dsvm_lro_options o;
    world *w = *state;
    result r = {0};
    int64_t t0;

    fast_lro(&o);
    o.timeout_ms = 400;
    world_start(w, args, NULL);
    world_secret(w, SECRET);
    put_group(w, "rg-lro");
    t0 = now_ms();
    submit_lro(w, "PUT", nsg_path, "{\"location\":\"eastus\"}", &o, &r);
    assert_int_equal(dsvm_http_run(w->h), 0);
    assert_true(now_ms() - t0 < 2000);
    assert_int_equal(r.error, DSVM_ERROR);
    assert_null(r.status_word);
    assert_non_null(strstr(r.message, "did not finish within"));
    assert_non_null(strstr(r.message, "last status InProgress"));
    assert_true(r.polls >= 1);
    result_clear(&r);
}

/* ---- throttling and retries ---- */

static void transport_recovers_from_429_honouring_retry_after(void **state)
{
    world *w = *state;
    result r = {0};
    int64_t t0, took;

    world_start(w, NULL, NULL);
    world_secret(w, SECRET);
    assert_int_equal(armsim_fault(&w->sim, "{\"method\":\"GET\",\"type\":\"*\",\"name\":\"*\","
                                           "\"status\":429,\"retry_after\":1,\"count\":1}"),
                     0);
    t0 = now_ms();
    submit(w, "GET", list_rgs, NULL, DSVM_BUCKET_READ, 0, &r);
    assert_int_equal(dsvm_http_run(w->h), 0);
    took = now_ms() - t0;
    assert_int_equal(r.status, 200);
    assert_int_equal(r.attempts, 2);
    /* waited the server's second, not the 20 ms backoff */
    assert_true(took >= 1000);
    assert_true(took < 3000);
    assert_int_equal(dsvm_http_get_stats(w->h)->throttled, 1);
    assert_int_equal(dsvm_http_get_stats(w->h)->retries, 1);
    assert_non_null(strstr(w->logbuf, "HTTP 429 TooManyRequests"));
    assert_non_null(strstr(w->logbuf, "x-ms-correlation-request-id: "));
    print_message("429 with Retry-After: 1 recovered in %lld ms\n", (long long)took);
    result_clear(&r);
}

static void transport_drains_the_bucket_when_the_server_throttles(void **state)
{
    static const char *const args[] = {"--throttle", "reads=4/4,writes=200/10,deletes=200/10",
                                       NULL};
    world *w = *state;
    result r[8];
    int i;
    long long throttled;

    memset(r, 0, sizeof(r));
    world_start(w, args, NULL);
    world_secret(w, SECRET);
    /* our bucket believes ARM's 250 reads: the server's 4 run out */
    for (i = 0; i < 8; i++)
        submit(w, "GET", list_rgs, NULL, DSVM_BUCKET_READ, 0, &r[i]);
    assert_int_equal(dsvm_http_run(w->h), 0);
    for (i = 0; i < 8; i++)
        assert_int_equal(r[i].status, 200);
    throttled = armsim_stat(&w->sim, "requests.throttled");
    assert_true(throttled >= 1);
    /* after the first 429s the drained bucket paces the rest */
    assert_true(throttled <= 8);
    assert_int_equal((long long)dsvm_http_get_stats(w->h)->throttled, throttled);
    print_message("server bucket 4/4, 8 reads: %lld answered 429, all recovered\n", throttled);
    for (i = 0; i < 8; i++)
        result_clear(&r[i]);
}

static void transport_client_bucket_never_sends_into_an_empty_server_bucket(void **state)
{
    static const char *const args[] = {"--throttle", "reads=4/4,writes=200/10,deletes=200/10",
                                       NULL};
    static const dsvm_bucket_limit lim[3] = {{4, 3}, {200, 10}, {200, 10}};
    dsvm_http_options o;
    world *w = *state;
    result r[8];
    int64_t t0, took;
    int i;

    memset(r, 0, sizeof(r));
    test_options(&o, w);
    o.limits = lim;
    world_start(w, args, &o);
    world_secret(w, SECRET);
    t0 = now_ms();
    for (i = 0; i < 8; i++)
        submit(w, "GET", list_rgs, NULL, DSVM_BUCKET_READ, 0, &r[i]);
    assert_int_equal(dsvm_http_run(w->h), 0);
    took = now_ms() - t0;
    for (i = 0; i < 8; i++)
        assert_int_equal(r[i].status, 200);
    assert_int_equal(armsim_stat(&w->sim, "requests.throttled"), 0);
    assert_int_equal(dsvm_http_get_stats(w->h)->throttled, 0);
    assert_true(dsvm_http_get_stats(w->h)->bucket_waits >= 4);
    /* 4 at once, then 4 at 3/s (a little slower than the server, whose clock
     * starts when our first request arrives) */
    assert_true(took >= 1300);
    print_message("client bucket 4 + 3/s: 8 reads in %lld ms, 0 answered 429\n", (long long)took);
    for (i = 0; i < 8; i++)
        result_clear(&r[i]);
}

static void transport_retries_503_with_backoff_then_gives_up(void **state)
{
    dsvm_http_options o;
    world *w = *state;
    result r = {0};

    test_options(&o, w);
    o.max_attempts = 3;
    world_start(w, NULL, &o);
    world_secret(w, SECRET);
    assert_int_equal(armsim_fault(&w->sim, "{\"method\":\"GET\",\"type\":\"*\",\"name\":\"*\","
                                           "\"status\":503,\"count\":2}"),
                     0);
    submit(w, "GET", list_rgs, NULL, DSVM_BUCKET_READ, 0, &r);
    assert_int_equal(dsvm_http_run(w->h), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.attempts, 3);
    assert_int_equal(dsvm_http_get_stats(w->h)->retries, 2);
    result_clear(&r);

    /* more failures than attempts: the last answer is reported and logged */
    assert_int_equal(armsim_fault(&w->sim, "{\"method\":\"GET\",\"type\":\"*\",\"name\":\"*\","
                                           "\"status\":503,\"count\":5}"),
                     0);
    submit(w, "GET", list_rgs, NULL, DSVM_BUCKET_READ, 0, &r);
    assert_int_equal(dsvm_http_run(w->h), 0);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.status, 503);
    assert_int_equal(r.attempts, 3);
    assert_string_equal(r.arm_code, "ServiceUnavailable");
    assert_non_null(strstr(r.message, "GET http://127.0.0.1:"));
    assert_non_null(strstr(r.message, "/resourcegroups?api-version=2022-09-01: HTTP 503"));
    assert_non_null(strstr(r.message, "ServiceUnavailable: armsim fault rule"));
    assert_non_null(strstr(r.message, dsvm_http_correlation_id(w->h)));
    assert_non_null(strstr(r.message, "[x-ms-request-id: "));
    assert_null(strstr(r.message, "x-ms-request-id: -"));
    assert_non_null(strstr(w->logbuf, r.request_id));
    assert_non_null(strstr(w->logbuf, " error GET http://127.0.0.1:"));
    assert_non_null(strstr(w->logbuf, "(after retries)"));
    result_clear(&r);
}

static void transport_retries_a_reset_connection(void **state)
{
    world *w = *state;
    result r = {0};

    world_start(w, NULL, NULL);
    world_secret(w, SECRET);
    assert_int_equal(armsim_fault(&w->sim, "{\"method\":\"GET\",\"type\":\"*\",\"name\":\"*\","
                                           "\"reset\":true,\"count\":3}"),
                     0);
    submit(w, "GET", list_rgs, NULL, DSVM_BUCKET_READ, 0, &r);
    assert_int_equal(dsvm_http_run(w->h), 0);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.status, 200);
    /* libcurl itself retries a reused connection once; the rest are ours */
    assert_true(r.attempts >= 3);
    assert_true(dsvm_http_get_stats(w->h)->transport_errors >= 2);
    assert_non_null(strstr(w->logbuf, "no answer"));
    result_clear(&r);
}

static void transport_refuses_plain_http_to_a_remote_host(void **state)
{
    world *w = *state;
    dsvm_http_request req;
    result r = {0};

    world_start(w, NULL, NULL);
    world_secret(w, SECRET);
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = "http://10.1.2.3:8443/subscriptions/" SUB "/resourcegroups" RG_API;
    req.audience = ARM;
    req.bucket = DSVM_BUCKET_READ;
    assert_int_equal(dsvm_http_submit(w->h, &req, on_done, &r), DSVM_EINVALID);
    assert_non_null(strstr(dsvm_error_last()->message, "refusing plain http:// to 10.1.2.3"));
    req.method = "PUT";
    req.body = "{}";
    assert_int_equal(dsvm_lro_submit(w->h, &req, NULL, on_lro, &r), DSVM_EINVALID);
    assert_int_equal(dsvm_http_run(w->h), 0);
    assert_int_equal(r.done, 0);
    /* nothing went anywhere, not even a token request */
    assert_int_equal(armsim_stat(&w->sim, "token_requests.total"), 0);
    assert_int_equal(dsvm_http_get_stats(w->h)->requests[DSVM_HTTP_GET], 0);
}

/* A self-signed certificate for 127.0.0.1 in `dir`, made with the openssl tool. */
static int make_cert(const char *dir)
{
    char cmd[1024];

    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s/key.pem -out %s/cert.pem "
             "-days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 "
             ">/dev/null 2>&1",
             dir, dir);
    return system(cmd);
}

static void transport_verifies_tls_and_accepts_ca_file(void **state)
{
    char dir[] = "/tmp/dsvm-tls-XXXXXX";
    char cert[128], key[128];
    const char *args[] = {"--tls-cert", cert, "--tls-key", key, NULL};
    dsvm_http_options o;
    dsvm_http *plain = NULL;
    dsvm_auth *plain_auth = NULL;
    dsvm_auth_options a;
    world *w = *state;
    result r = {0}, bad = {0};
    dsvm_http_request req;
    char *url;

    assert_non_null(mkdtemp(dir));
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    if (make_cert(dir) != 0) {
        rmdir(dir);
        skip();
    }
    test_options(&o, w);
    o.ca_file = cert;
    world_start(w, args, &o);
    assert_int_equal(strncmp(w->sim.url, "https://", 8), 0);
    world_secret(w, SECRET);
    submit(w, "GET", list_rgs, NULL, DSVM_BUCKET_READ, 0, &r);
    assert_int_equal(dsvm_http_run(w->h), 0);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.status, 200);

    /* the same server without its CA: refused, once, and never retried */
    test_options(&o, w);
    o.log = w->log;
    assert_int_equal(dsvm_http_new(&plain, &o), 0);
    memset(&a, 0, sizeof(a));
    a.kind = DSVM_CREDENTIAL_CLIENT_SECRET;
    a.authority = w->sim.url;
    a.tenant = TENANT;
    a.client_id = "dsvmops-demo";
    a.client_secret = SECRET;
    assert_int_equal(dsvm_auth_new(&plain_auth, plain, &a), 0);
    url = arm_url(w, list_rgs);
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = url;
    req.bucket = DSVM_BUCKET_READ;
    req.audience = ARM;
    assert_int_equal(dsvm_http_submit(plain, &req, on_done, &bad), 0);
    assert_int_equal(dsvm_http_run(plain), 0);
    assert_int_equal(bad.error, DSVM_EAUTH);
    assert_non_null(strstr(bad.message, "certificate"));
    assert_int_equal(dsvm_http_get_stats(plain)->retries, 0);
    assert_int_equal(armsim_stat(&w->sim, "token_requests.total"), 1);
    dsvm_http_free(plain);
    dsvm_auth_free(plain_auth);
    free(url);
    result_clear(&r);
    result_clear(&bad);
    unlink(cert);
    unlink(key);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(transport_client_secret_token_is_fetched_once_and_cached,
                                        world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(transport_wrong_secret_fails_with_a_clear_error,
                                        world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(transport_managed_identity_uses_imds, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(transport_managed_identity_selects_a_user_assigned_identity,
                                        world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(transport_workload_identity_sends_the_assertion,
                                        world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(
            transport_workload_identity_without_its_token_file_fails_clearly, world_setup,
            world_teardown),
        cmocka_unit_test_setup_teardown(transport_refreshes_the_token_before_it_expires_mid_run,
                                        world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(transport_retries_once_with_a_fresh_token_after_401,
                                        world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(transport_lro_polls_to_succeeded_and_rereads, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(transport_lro_failed_carries_the_arm_error, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(transport_lro_times_out_with_a_clear_error, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(transport_recovers_from_429_honouring_retry_after,
                                        world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(transport_drains_the_bucket_when_the_server_throttles,
                                        world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(
            transport_client_bucket_never_sends_into_an_empty_server_bucket, world_setup,
            world_teardown),
        cmocka_unit_test_setup_teardown(transport_retries_503_with_backoff_then_gives_up,
                                        world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(transport_retries_a_reset_connection, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(transport_refuses_plain_http_to_a_remote_host, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(transport_verifies_tls_and_accepts_ca_file, world_setup,
                                        world_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
