/*
 * Transport behaviour that armsim cannot produce, against a small scripted
 * server in this process (libmicrohttpd on 127.0.0.1 port 0):
 * PrincipalNotFound retried for a bounded time, Azure-AsyncOperation
 * preferred over Location, RP-specific in-progress states, Canceled, LROs
 * through Location and through the resource's provisioningState, failure
 * logs with the request ID and a redacted query, and quiet expected 404s.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <microhttpd.h>

#include "auth.h"
#include "dsvmops/error.h"
#include "http.h"
#include "log.h"
#include "lro.h"

/* What the scripted server has seen; guarded by `mu` (MHD answers on its thread). */
typedef struct {
    pthread_mutex_t mu;
    struct MHD_Daemon *d;
    char base[64];
    int pnf_left;
    int async_polls;
    int location_hits;
    int resource_gets;
    int delete_polls;
    int body_polls;
    int authorization_seen;
    int token_posts;
    int secret_gets;
    char correlation[64];
    char upload[1024];
    size_t upload_len;
    char last_form[1024];
} server;

typedef struct {
    server srv;
    dsvm_log *log;
    char *logbuf;
    size_t loglen;
    dsvm_http *h;
} world;

typedef struct {
    int done;
    int error;
    long status;
    int attempts;
    int polls;
    char *message;
    char *code;
    char *status_word;
    char *body;
} result;

static int answer(struct MHD_Connection *c, unsigned status, const char *body,
                  const char *const *headers)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    int rc;

    MHD_add_response_header(r, "Content-Type", "application/json");
    while (headers && headers[0]) {
        MHD_add_response_header(r, headers[0], headers[1]);
        headers += 2;
    }
    rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    server *s = cls;
    const char *corr;
    char op1[128], loc1[128], opc[128], delloc[128];
    int rc = MHD_NO;

    (void)version;
    if (!*con_cls) {
        *con_cls = s;
        pthread_mutex_lock(&s->mu);
        s->upload_len = 0;
        pthread_mutex_unlock(&s->mu);
        return MHD_YES;
    }
    if (*upload_size) {
        pthread_mutex_lock(&s->mu);
        if (s->upload_len + *upload_size < sizeof(s->upload)) {
            memcpy(s->upload + s->upload_len, upload, *upload_size);
            s->upload_len += *upload_size;
        }
        s->upload[s->upload_len] = '\0';
        pthread_mutex_unlock(&s->mu);
        *upload_size = 0;
        return MHD_YES;
    }
    snprintf(op1, sizeof(op1), "%s/op1", s->base);
    snprintf(loc1, sizeof(loc1), "%s/loc1", s->base);
    snprintf(opc, sizeof(opc), "%s/op-cancel", s->base);
    snprintf(delloc, sizeof(delloc), "%s/delloc", s->base);
    pthread_mutex_lock(&s->mu);
    corr = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-ms-correlation-request-id");
    snprintf(s->correlation, sizeof(s->correlation), "%s", corr ? corr : "");
    if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"))
        s->authorization_seen++;

    if (!strcmp(url, "/t1/oauth2/v2.0/token") && !strcmp(method, "POST")) {
        const char *h[] = {"Retry-After", "0", NULL};

        s->token_posts++;
        snprintf(s->last_form, sizeof(s->last_form), "%s", s->upload);
        if (s->token_posts == 1)
            rc = answer(c, 503, "{\"error\":\"temporarily_unavailable\"}", h);
        else
            rc = answer(c, 200,
                        "{\"token_type\":\"Bearer\",\"expires_in\":\"3600\","
                        "\"access_token\":\"tok-edge-123\"}",
                        NULL);
    } else if (!strcmp(url, "/secrets/domain-join")) {
        const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");

        s->secret_gets++;
        if (auth && !strcmp(auth, "Bearer tok-edge-123"))
            rc = answer(c, 200, "{\"value\":\"s3cr3t-value\",\"id\":\"x\"}", NULL);
        else
            rc = answer(c, 401, "{\"error\":{\"code\":\"Unauthorized\",\"message\":\"no\"}}", NULL);
    } else if (!strcmp(url, "/pnf") && !strcmp(method, "PUT")) {
        if (s->pnf_left != 0) {
            if (s->pnf_left > 0)
                s->pnf_left--;
            rc = answer(c, 400,
                        "{\"error\":{\"code\":\"PrincipalNotFound\",\"message\":\"Principal "
                        "abc does not exist in the directory.\"}}",
                        NULL);
        } else {
            rc = answer(c, 201, "{\"name\":\"ra\"}", NULL);
        }
    } else if (!strcmp(url, "/res") && !strcmp(method, "PUT")) {
        const char *h[] = {"Azure-AsyncOperation", op1, "Location", loc1, "Retry-After", "0", NULL};

        rc = answer(c, 201, "{\"properties\":{\"provisioningState\":\"Creating\"}}", h);
    } else if (!strcmp(url, "/op1")) {
        s->async_polls++;
        rc = answer(c, 200,
                    s->async_polls == 1 ? "{\"status\":\"RegisteringDns\"}"
                                        : "{\"status\":\"Succeeded\"}",
                    NULL);
    } else if (!strcmp(url, "/loc1")) {
        s->location_hits++;
        rc = answer(c, 200, "{\"keys\":[\"k1\"]}", NULL);
    } else if (!strcmp(url, "/res") && !strcmp(method, "GET")) {
        s->resource_gets++;
        rc =
            answer(c, 200,
                   "{\"name\":\"res\",\"properties\":{\"provisioningState\":\"Succeeded\"}}", NULL);
    } else if (!strcmp(url, "/action") && !strcmp(method, "POST")) {
        const char *h[] = {"Azure-AsyncOperation", op1, "Location", loc1, "Retry-After", "0", NULL};

        rc = answer(c, 202, "", h);
    } else if (!strcmp(url, "/cancel")) {
        const char *h[] = {"Azure-AsyncOperation", opc, NULL};

        rc = answer(c, 202, "", h);
    } else if (!strcmp(url, "/op-cancel")) {
        rc = answer(c, 200,
                    "{\"status\":\"Canceled\",\"error\":{\"code\":\"OperationCanceled\","
                    "\"message\":\"The operation was canceled.\"}}",
                    NULL);
    } else if (!strcmp(url, "/del")) {
        const char *h[] = {"Location", delloc, "Retry-After", "0", NULL};

        rc = answer(c, 202, "", h);
    } else if (!strcmp(url, "/delloc")) {
        const char *h[] = {"Retry-After", "0", NULL};

        s->delete_polls++;
        rc = answer(c, s->delete_polls < 2 ? 202 : 204, "", h);
    } else if (!strcmp(url, "/bodymode")) {
        if (!strcmp(method, "PUT")) {
            rc = answer(c, 200, "{\"properties\":{\"provisioningState\":\"Accepted\"}}", NULL);
        } else {
            s->body_polls++;
            rc =
                answer(c, 200,
                       s->body_polls < 2 ? "{\"properties\":{\"provisioningState\":\"Updating\"}}"
                                         : "{\"properties\":{\"provisioningState\":\"Succeeded\"}}",
                       NULL);
        }
    } else if (!strcmp(url, "/big")) {
        char big[4097];

        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        rc = answer(c, 200, big, NULL);
    } else if (!strcmp(url, "/conflict")) {
        const char *h[] = {"x-ms-request-id", "rid-conflict-1", NULL};

        rc = answer(c, 409, "{\"error\":{\"code\":\"Conflict\",\"message\":\"busy\"}}", h);
    } else {
        rc = answer(c, 404, "{\"error\":{\"code\":\"ResourceNotFound\",\"message\":\"not here\"}}",
                    NULL);
    }
    pthread_mutex_unlock(&s->mu);
    return rc == MHD_YES ? MHD_YES : MHD_NO;
}

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

static int setup(void **state)
{
    world *w = calloc(1, sizeof(*w));
    const union MHD_DaemonInfo *info;
    struct sockaddr_in sa;
    dsvm_http_options o;

    if (!w)
        return -1;
    *state = w;
    pthread_mutex_init(&w->srv.mu, NULL);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    w->srv.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handle, &w->srv,
                                MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
    if (!w->srv.d)
        return -1;
    info = MHD_get_daemon_info(w->srv.d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(w->srv.base, sizeof(w->srv.base), "http://127.0.0.1:%u", (unsigned)info->port);
    if (dsvm_log_new(&w->log, DSVM_LEVEL_DEBUG) < 0)
        return -1;
    dsvm_log_set_level(w->log, DSVM_LEVEL_INFO);
    dsvm_log_set_sink(w->log, capture, w);
    dsvm_http_options_init(&o);
    o.backoff_base_ms = 10;
    o.backoff_max_ms = 40;
    o.principal_not_found_ms = 300;
    o.log = w->log;
    return dsvm_http_new(&w->h, &o);
}

static int teardown(void **state)
{
    world *w = *state;

    dsvm_http_free(w->h);
    if (w->srv.d)
        MHD_stop_daemon(w->srv.d);
    pthread_mutex_destroy(&w->srv.mu);
    dsvm_log_free(w->log);
    free(w->logbuf);
    free(w);
    return 0;
}

static void result_clear(result *r)
{
    free(r->message);
    free(r->code);
    free(r->status_word);
    free(r->body);
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
    r->code = dup_or_null(resp->arm_code);
    r->body = dup_or_null(resp->body);
}

static void on_lro(const dsvm_lro_result *res, void *payload)
{
    result *r = payload;

    r->done++;
    r->error = res->error;
    r->status = res->http_status;
    r->polls = res->polls;
    r->message = dup_or_null(res->message);
    r->code = dup_or_null(res->error_code);
    r->status_word = dup_or_null(res->status);
    r->body = dup_or_null(res->body);
}

static void send_req(world *w, const char *method, const char *path, unsigned flags, result *r)
{
    dsvm_http_request req;
    char url[256];

    snprintf(url, sizeof(url), "%s%s", w->srv.base, path);
    memset(&req, 0, sizeof(req));
    req.method = method;
    req.url = url;
    req.body = strcmp(method, "PUT") == 0 ? "{}" : NULL;
    req.bucket = DSVM_BUCKET_WRITE;
    req.flags = flags;
    assert_int_equal(dsvm_http_submit(w->h, &req, on_done, r), 0);
    assert_int_equal(dsvm_http_run(w->h), 0);
    assert_int_equal(r->done, 1);
}

static void send_lro(world *w, const char *method, const char *path, result *r)
{
    dsvm_http_request req;
    dsvm_lro_options o;
    char url[256];

    dsvm_lro_options_init(&o);
    o.poll_min_ms = 10;
    o.poll_interval_ms = 20;
    o.timeout_ms = 5000;
    snprintf(url, sizeof(url), "%s%s", w->srv.base, path);
    memset(&req, 0, sizeof(req));
    req.method = method;
    req.url = url;
    req.body = strcmp(method, "PUT") == 0 ? "{}" : NULL;
    req.bucket = strcmp(method, "DELETE") == 0 ? DSVM_BUCKET_DELETE : DSVM_BUCKET_WRITE;
    assert_int_equal(dsvm_lro_submit(w->h, &req, &o, on_lro, r), 0);
    assert_int_equal(dsvm_http_run(w->h), 0);
    assert_int_equal(r->done, 1);
}

static void edge_principal_not_found_is_retried_until_it_replicates(void **state)
{
    world *w = *state;
    result r = {0};

    w->srv.pnf_left = 2;
    send_req(w, "PUT", "/pnf", 0, &r);
    assert_int_equal(r.status, 201);
    assert_int_equal(r.attempts, 3);
    assert_int_equal(dsvm_http_get_stats(w->h)->retries, 2);
    assert_non_null(strstr(w->logbuf, "PrincipalNotFound"));
    /* the correlation ID of this run went out with the request, and no token */
    assert_string_equal(w->srv.correlation, dsvm_http_correlation_id(w->h));
    assert_int_equal(w->srv.authorization_seen, 0);
    result_clear(&r);
}

static void edge_principal_not_found_gives_up_after_a_bounded_time(void **state)
{
    world *w = *state;
    result r = {0};
    int64_t t0 = dsvm_http_now_ms(), took;

    w->srv.pnf_left = -1; /* forever */
    send_req(w, "PUT", "/pnf", 0, &r);
    took = dsvm_http_now_ms() - t0;
    assert_int_equal(r.error, 0);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.code, "PrincipalNotFound");
    assert_true(r.attempts >= 2);
    assert_true(took >= 300);
    assert_true(took < 1500);
    result_clear(&r);
}

static void edge_lro_prefers_async_operation_and_rereads_the_resource(void **state)
{
    world *w = *state;
    result r = {0};

    send_lro(w, "PUT", "/res", &r);
    assert_int_equal(r.error, 0);
    assert_string_equal(r.status_word, "Succeeded");
    /* RegisteringDns was in progress; Location was never used */
    assert_int_equal(w->srv.async_polls, 2);
    assert_int_equal(r.polls, 2);
    assert_int_equal(w->srv.location_hits, 0);
    assert_int_equal(w->srv.resource_gets, 1);
    assert_non_null(strstr(r.body, "\"name\":\"res\""));
    result_clear(&r);
}

static void edge_lro_post_reads_its_result_from_location(void **state)
{
    world *w = *state;
    result r = {0};

    send_lro(w, "POST", "/action", &r);
    assert_int_equal(r.error, 0);
    assert_string_equal(r.status_word, "Succeeded");
    assert_int_equal(w->srv.async_polls, 2);
    assert_int_equal(w->srv.location_hits, 1);
    assert_int_equal(w->srv.resource_gets, 0);
    assert_string_equal(r.body, "{\"keys\":[\"k1\"]}");
    result_clear(&r);
}

static void edge_lro_canceled_is_a_failure_with_the_arm_error(void **state)
{
    world *w = *state;
    result r = {0};

    send_lro(w, "PUT", "/cancel", &r);
    assert_int_equal(r.error, DSVM_ERROR);
    assert_string_equal(r.status_word, "Canceled");
    assert_string_equal(r.code, "OperationCanceled");
    assert_non_null(strstr(r.message, "ended Canceled: OperationCanceled"));
    result_clear(&r);
}

static void edge_lro_delete_follows_location_until_204(void **state)
{
    world *w = *state;
    result r = {0};

    send_lro(w, "DELETE", "/del", &r);
    assert_int_equal(r.error, 0);
    assert_string_equal(r.status_word, "Succeeded");
    assert_int_equal(r.status, 204);
    assert_int_equal(w->srv.delete_polls, 2);
    assert_int_equal(w->srv.resource_gets, 0);
    result_clear(&r);
}

static void edge_lro_without_headers_polls_provisioning_state(void **state)
{
    world *w = *state;
    result r = {0};

    send_lro(w, "PUT", "/bodymode", &r);
    assert_int_equal(r.error, 0);
    assert_string_equal(r.status_word, "Succeeded");
    assert_int_equal(w->srv.body_polls, 2);
    assert_non_null(strstr(r.body, "Succeeded"));
    result_clear(&r);
}

static void edge_failure_log_names_request_id_and_redacts_query(void **state)
{
    world *w = *state;
    result r = {0};

    send_req(w, "PUT", "/conflict?api-version=2022-04-01&sig=supersecret", 0, &r);
    assert_int_equal(r.status, 409);
    assert_int_equal(r.attempts, 1); /* a conflict is not retried */
    assert_non_null(strstr(w->logbuf, " error PUT http://127.0.0.1:"));
    assert_non_null(strstr(w->logbuf,
                           "/conflict?api-version=2022-04-01&sig=REDACTED: HTTP 409 Conflict: busy "
                           "[x-ms-request-id: rid-conflict-1, x-ms-correlation-request-id: "));
    assert_null(strstr(w->logbuf, "supersecret"));
    assert_null(strstr(r.message, "supersecret"));
    result_clear(&r);
}

static void edge_expected_404_is_not_logged_as_an_error(void **state)
{
    world *w = *state;
    result r = {0};

    send_req(w, "GET", "/missing", DSVM_HTTP_EXPECT_404, &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.code, "ResourceNotFound");
    assert_null(w->logbuf);
    result_clear(&r);
    send_req(w, "GET", "/missing", 0, &r);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(w->logbuf, " error GET "));
    result_clear(&r);
}

static void edge_key_vault_token_uses_the_vault_scope_and_survives_a_503(void **state)
{
    world *w = *state;
    dsvm_auth *auth = NULL;
    dsvm_auth_options a;
    dsvm_http_request req;
    result r = {0};
    char url[256];

    memset(&a, 0, sizeof(a));
    a.kind = DSVM_CREDENTIAL_CLIENT_SECRET;
    a.authority = w->srv.base;
    a.tenant = "t1";
    a.client_id = "edge-client";
    a.client_secret = "edge-client-secret&=?";
    assert_int_equal(dsvm_auth_new(&auth, w->h, &a), 0);
    snprintf(url, sizeof(url), "%s/secrets/domain-join?api-version=7.4", w->srv.base);
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = url;
    req.bucket = DSVM_BUCKET_NONE;
    req.audience = DSVM_AUDIENCE_KEYVAULT;
    assert_int_equal(dsvm_http_submit(w->h, &req, on_done, &r), 0);
    assert_int_equal(dsvm_http_run(w->h), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "s3cr3t-value"));
    /* the token request was retried after its 503, and asked for Key Vault */
    assert_int_equal(w->srv.token_posts, 2);
    assert_int_equal(w->srv.secret_gets, 1);
    assert_non_null(strstr(w->srv.last_form, "scope=https%3A%2F%2Fvault.azure.net%2F.default"));
    assert_non_null(strstr(w->srv.last_form, "grant_type=client_credentials"));
    assert_non_null(strstr(w->srv.last_form, "client_id=edge-client"));
    /* the secret is form-encoded, not passed raw */
    assert_non_null(strstr(w->srv.last_form, "client_secret=edge-client-secret%26%3D%3F"));
    /* "expires_in" given as a string was understood */
    assert_true(dsvm_auth_refresh_at(auth, DSVM_AUDIENCE_KEYVAULT) > dsvm_http_now_ms() + 3000000);
    /* nothing secret in any log line */
    assert_non_null(strstr(w->logbuf, "HTTP 503 temporarily_unavailable"));
    assert_null(strstr(w->logbuf, "tok-edge-123"));
    assert_null(strstr(w->logbuf, "s3cr3t-value"));
    assert_null(strstr(w->logbuf, "edge-client-secret"));
    result_clear(&r);
    dsvm_http_free(w->h);
    w->h = NULL;
    dsvm_auth_free(auth);
}

static void edge_an_oversized_answer_fails_without_retry(void **state)
{
    world *w = *state;
    dsvm_http_options o;
    dsvm_http *h = NULL;
    dsvm_http_request req;
    result r = {0};
    char url[256];

    dsvm_http_options_init(&o);
    o.max_body_bytes = 1024;
    o.log = w->log;
    assert_int_equal(dsvm_http_new(&h, &o), 0);
    snprintf(url, sizeof(url), "%s/big", w->srv.base);
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = url;
    assert_int_equal(dsvm_http_submit(h, &req, on_done, &r), 0);
    assert_int_equal(dsvm_http_run(h), 0);
    assert_int_equal(r.error, DSVM_ENET);
    assert_int_equal(r.attempts, 1);
    assert_non_null(strstr(r.message, "the answer is larger than 1024 bytes"));
    dsvm_http_free(h);
    result_clear(&r);
}

typedef struct {
    result first, second;
    volatile sig_atomic_t *stop;
} stop_case;

static void stop_after_first(const dsvm_http_response *resp, void *payload)
{
    stop_case *sc = payload;

    on_done(resp, &sc->first);
    *sc->stop = 1; /* what a SIGTERM handler does */
}

static void edge_stop_flag_cancels_queued_requests_and_lets_the_wire_finish(void **state)
{
    world *w = *state;
    volatile sig_atomic_t stop = 0;
    dsvm_http_options o;
    dsvm_http *h = NULL;
    dsvm_http_request req;
    stop_case sc;
    result lro = {0};
    dsvm_lro_options lo;
    char url[256], res[256];

    memset(&sc, 0, sizeof(sc));
    sc.stop = &stop;
    dsvm_http_options_init(&o);
    o.stop = &stop;
    o.log = w->log;
    assert_int_equal(dsvm_http_new(&h, &o), 0);
    snprintf(url, sizeof(url), "%s/missing", w->srv.base);
    snprintf(res, sizeof(res), "%s/res", w->srv.base);
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = url;
    req.flags = DSVM_HTTP_EXPECT_404;
    assert_int_equal(dsvm_http_submit(h, &req, stop_after_first, &sc), 0);
    req.delay_ms = 300;
    assert_int_equal(dsvm_http_submit(h, &req, on_done, &sc.second), 0);
    /* an LRO whose first answer is on the wire: its polls are not started */
    dsvm_lro_options_init(&lo);
    lo.poll_min_ms = 200;
    memset(&req, 0, sizeof(req));
    req.method = "PUT";
    req.url = res;
    req.body = "{}";
    assert_int_equal(dsvm_lro_submit(h, &req, &lo, on_lro, &lro), 0);
    assert_int_equal(dsvm_http_run(h), 0);
    assert_true(dsvm_http_stopping(h));
    assert_int_equal(sc.first.status, 404);
    assert_int_equal(sc.second.done, 1);
    assert_int_equal(sc.second.error, DSVM_ERROR);
    assert_string_equal(sc.second.message, "cancelled: shutting down");
    assert_int_equal(lro.done, 1);
    assert_int_equal(lro.error, DSVM_ERROR);
    assert_non_null(strstr(lro.message, "cancelled: shutting down"));
    assert_int_equal(w->srv.async_polls, 0);
    assert_non_null(strstr(w->logbuf, "shutting down"));
    dsvm_http_free(h);
    result_clear(&sc.first);
    result_clear(&sc.second);
    result_clear(&lro);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(edge_principal_not_found_is_retried_until_it_replicates,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(edge_principal_not_found_gives_up_after_a_bounded_time,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(edge_lro_prefers_async_operation_and_rereads_the_resource,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(edge_lro_post_reads_its_result_from_location, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(edge_lro_canceled_is_a_failure_with_the_arm_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(edge_lro_delete_follows_location_until_204, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(edge_lro_without_headers_polls_provisioning_state, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(edge_failure_log_names_request_id_and_redacts_query, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(edge_expected_404_is_not_logged_as_an_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            edge_stop_flag_cancels_queued_requests_and_lets_the_wire_finish, setup, teardown),
        cmocka_unit_test_setup_teardown(
            edge_key_vault_token_uses_the_vault_scope_and_survives_a_503, setup, teardown),
        cmocka_unit_test_setup_teardown(edge_an_oversized_answer_fails_without_retry, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
