/*
 * The daemon's HTTP server over real HTTP: one server on 127.0.0.1 port 0,
 * driven with libcurl through every route and status code that server.h
 * lists, checking after each refused request that the server still serves.
 */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "dsvmops/error.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "webhook.h"

#define SECRET "hook-secret-4f1c"
#define TOKEN  "api-token-9e2b"
#define SHA    "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"

/* What the callbacks saw, written on the server's threads. */
typedef struct {
    pthread_mutex_t lock;
    int triggers;
    char hook[32];
    char commit[72];
    int commit_null;
    int ready;
    int approvals;
    int suspends;
    int last_suspend;
    char log[8192];
} fixture;

static fixture fx = {.lock = PTHREAD_MUTEX_INITIALIZER};

typedef struct {
    dsvm_server *server;
    dsvm_metrics *metrics;
    dsvm_log *log;
    char base[64];
} harness;

static void on_trigger(const char *hook, const char *commit, void *payload)
{
    fixture *f = payload;

    pthread_mutex_lock(&f->lock);
    f->triggers++;
    snprintf(f->hook, sizeof(f->hook), "%s", hook);
    snprintf(f->commit, sizeof(f->commit), "%s", commit ? commit : "");
    f->commit_null = commit == NULL;
    pthread_mutex_unlock(&f->lock);
}

static char *on_status(void *payload)
{
    (void)payload;
    return strdup("{\"revision\":\"" SHA "\",\"resources\":36}");
}

static int on_ready(char **why, void *payload)
{
    fixture *f = payload;
    int ready;

    pthread_mutex_lock(&f->lock);
    ready = f->ready;
    pthread_mutex_unlock(&f->lock);
    if (!ready)
        *why = strdup("first reconcile has not finished");
    return ready;
}

static int on_approve(char **message, void *payload)
{
    fixture *f = payload;

    pthread_mutex_lock(&f->lock);
    f->approvals++;
    pthread_mutex_unlock(&f->lock);
    *message = strdup("approved plan 7");
    return 202;
}

static int on_suspend(int on, char **message, void *payload)
{
    fixture *f = payload;

    pthread_mutex_lock(&f->lock);
    f->suspends++;
    f->last_suspend = on;
    pthread_mutex_unlock(&f->lock);
    *message = strdup(on ? "suspended" : "resumed");
    return 202;
}

static void on_log(dsvm_log_level level, const char *line, void *payload)
{
    fixture *f = payload;
    size_t n;

    (void)level;
    pthread_mutex_lock(&f->lock);
    n = strlen(f->log);
    snprintf(f->log + n, sizeof(f->log) - n, "%s\n", line);
    pthread_mutex_unlock(&f->lock);
}

static int triggers(void)
{
    int n;

    pthread_mutex_lock(&fx.lock);
    n = fx.triggers;
    pthread_mutex_unlock(&fx.lock);
    return n;
}

typedef struct {
    char *data;
    size_t len;
} sink;

static size_t collect(char *p, size_t size, size_t n, void *userdata)
{
    sink *s = userdata;
    char *d = realloc(s->data, s->len + size * n + 1);

    if (!d)
        return 0;
    memcpy(d + s->len, p, size * n);
    s->data = d;
    s->len += size * n;
    s->data[s->len] = '\0';
    return size * n;
}

static size_t discard(char *p, size_t size, size_t n, void *userdata)
{
    (void)p;
    (void)userdata;
    return size * n;
}

typedef struct {
    long status;
    char *body;
    char ctype[128];
    char allow[64];
} answer;

static size_t header_line(char *p, size_t size, size_t n, void *userdata)
{
    answer *a = userdata;
    size_t len = size * n;

    if (len > 14 && strncasecmp(p, "Content-Type: ", 14) == 0)
        snprintf(a->ctype, sizeof(a->ctype), "%.*s", (int)(len - 16), p + 14);
    if (len > 7 && strncasecmp(p, "Allow: ", 7) == 0)
        snprintf(a->allow, sizeof(a->allow), "%.*s", (int)(len - 9), p + 7);
    return len;
}

/*
 * One request to `base` + `path`. `headers` is NULL-terminated; `body`
 * NULL sends none. `chunked` sends the body with Transfer-Encoding: chunked.
 */
static answer request(const char *base, const char *method, const char *path,
                      const char *const *headers, const char *body, size_t len, int chunked)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char url[256];
    answer a;
    sink s = {0};
    CURLcode rc;

    memset(&a, 0, sizeof(a));
    assert_non_null(c);
    snprintf(url, sizeof(url), "%s%s", base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_line);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &a);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    for (; headers && *headers; headers++)
        h = curl_slist_append(h, *headers);
    if (chunked)
        h = curl_slist_append(h, "Transfer-Encoding: chunked");
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        if (!chunked)
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        else
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
    }
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        fprintf(stderr, "%s %s: %s\n", method, path, curl_easy_strerror(rc));
    assert_int_equal(rc, CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a.status);
    a.body = s.data ? s.data : strdup("");
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return a;
}

static answer get(const harness *hs, const char *path)
{
    return request(hs->base, "GET", path, NULL, NULL, 0, 0);
}

/* "X-...: sha256=<hex>" for `body` signed with `secret`. */
static void sign(char *out, size_t size, const char *header, const char *secret, const char *body,
                 size_t len)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    size_t i, n;

    assert_non_null(HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body,
                         len, md, &mdlen));
    n = (size_t)snprintf(out, size, "%s: sha256=", header);
    for (i = 0; i < mdlen; i++)
        n += (size_t)snprintf(out + n, size - n, "%02x", md[i]);
}

static answer post_hook(const harness *hs, const char *path, const char *extra, const char *sig,
                        const char *body)
{
    const char *headers[] = {"Content-Type: application/json", extra, sig, NULL};

    if (!extra) {
        headers[1] = sig;
        headers[2] = NULL;
    }
    return request(hs->base, "POST", path, headers, body, strlen(body), 0);
}

static answer github(const harness *hs, const char *event, const char *body, const char *secret)
{
    char sig[160], ev[64];

    sign(sig, sizeof(sig), "X-Hub-Signature-256", secret, body, strlen(body));
    snprintf(ev, sizeof(ev), "X-GitHub-Event: %s", event);
    return post_hook(hs, "/hooks/github", ev, sig, body);
}

/* The server still answers /healthz after whatever came before. */
static void assert_serving(const harness *hs)
{
    answer a = get(hs, "/healthz");

    assert_int_equal(a.status, 200);
    assert_string_equal(a.body, "ok\n");
    free(a.body);
}

static void assert_status(answer a, long status, const char *needle)
{
    if (a.status != status || (needle && !strstr(a.body, needle)))
        fprintf(stderr, "got %ld %s\n", a.status, a.body);
    assert_int_equal(a.status, status);
    if (needle)
        assert_non_null(strstr(a.body, needle));
    free(a.body);
}

static int setup(void **state)
{
    harness *hs = calloc(1, sizeof(*hs));
    dsvm_server_opts o;

    assert_non_null(hs);
    pthread_mutex_lock(&fx.lock);
    fx.triggers = fx.approvals = fx.suspends = fx.ready = 0;
    fx.log[0] = '\0';
    pthread_mutex_unlock(&fx.lock);
    assert_int_equal(dsvm_metrics_new(&hs->metrics), 0);
    assert_int_equal(dsvm_metrics_declare(hs->metrics, "dsvmops_lro_in_flight", DSVM_METRIC_GAUGE,
                                          "LROs.", NULL, 0),
                     0);
    assert_int_equal(dsvm_metrics_set(hs->metrics, "dsvmops_lro_in_flight", NULL, 4), 0);
    assert_int_equal(dsvm_log_new(&hs->log, DSVM_LEVEL_DEBUG), 0);
    dsvm_log_set_sink(hs->log, on_log, &fx);
    memset(&o, 0, sizeof(o));
    o.listen = "127.0.0.1:0";
    o.metrics = hs->metrics;
    o.log = hs->log;
    o.ref = "main";
    o.webhook_secret = SECRET;
    o.trigger = on_trigger;
    o.status = on_status;
    o.ready = on_ready;
    o.approve = on_approve;
    o.suspend = on_suspend;
    o.payload = &fx;
    assert_int_equal(dsvm_server_start(&hs->server, &o), 0);
    assert_true(dsvm_server_port(hs->server) > 0);
    snprintf(hs->base, sizeof(hs->base), "http://127.0.0.1:%d", dsvm_server_port(hs->server));
    *state = hs;
    return 0;
}

static int teardown(void **state)
{
    harness *hs = *state;

    dsvm_server_stop(hs->server);
    dsvm_log_free(hs->log);
    dsvm_metrics_free(hs->metrics);
    free(hs);
    return 0;
}

static void http_health_metrics_status_and_errors(void **state)
{
    harness *hs = *state;
    answer a;

    assert_serving(hs);
    a = get(hs, "/metrics");
    assert_int_equal(a.status, 200);
    assert_string_equal(a.ctype, "text/plain; version=0.0.4; charset=utf-8");
    assert_string_equal(a.body, "# HELP dsvmops_lro_in_flight LROs.\n"
                                "# TYPE dsvmops_lro_in_flight gauge\n"
                                "dsvmops_lro_in_flight 4\n");
    free(a.body);
    a = request(hs->base, "HEAD", "/metrics", NULL, NULL, 0, 0);
    assert_status(a, 200, NULL);

    a = get(hs, "/api/v1/status");
    assert_int_equal(a.status, 200);
    assert_string_equal(a.ctype, "application/json");
    assert_string_equal(a.body, "{\"revision\":\"" SHA "\",\"resources\":36}");
    free(a.body);

    a = get(hs, "/nope");
    assert_string_equal(a.ctype, "application/json");
    assert_status(a, 404, "{\"error\":\"not found\"}");
    a = get(hs, "/hooks/github/");
    assert_status(a, 404, "\"error\"");
    assert_serving(hs);

    a = request(hs->base, "POST", "/metrics", NULL, "x", 1, 0);
    assert_string_equal(a.allow, "GET, HEAD");
    assert_status(a, 405, "\"error\"");
    a = request(hs->base, "DELETE", "/healthz", NULL, NULL, 0, 0);
    assert_status(a, 405, "\"error\"");
    a = get(hs, "/hooks/github");
    assert_string_equal(a.allow, "POST");
    assert_status(a, 405, "\"error\"");
    a = get(hs, "/api/v1/approve");
    assert_status(a, 405, "\"error\"");
    assert_serving(hs);
}

static void http_readyz_says_why_until_ready(void **state)
{
    harness *hs = *state;
    answer a;

    a = get(hs, "/readyz");
    assert_string_equal(a.ctype, "application/json");
    assert_status(a, 503, "first reconcile has not finished");
    pthread_mutex_lock(&fx.lock);
    fx.ready = 1;
    pthread_mutex_unlock(&fx.lock);
    a = get(hs, "/readyz");
    assert_status(a, 200, "ready");
}

static void http_github_hooks(void **state)
{
    harness *hs = *state;
    const char *main_push = "{\"ref\":\"refs/heads/main\",\"after\":\"" SHA "\"}";
    char forged[160];
    answer a;

    /* Signed with another secret: 401, logged without the signature or the secret. */
    a = github(hs, "push", main_push, "not-the-secret");
    assert_status(a, 401, "bad or missing signature");
    assert_int_equal(triggers(), 0);
    pthread_mutex_lock(&fx.lock);
    assert_non_null(strstr(fx.log, "webhook github from 127.0.0.1 refused"));
    assert_null(strstr(fx.log, "sha256="));
    assert_null(strstr(fx.log, SECRET));
    pthread_mutex_unlock(&fx.lock);
    sign(forged, sizeof(forged), "X-Hub-Signature-256", "not-the-secret", main_push,
         strlen(main_push));
    pthread_mutex_lock(&fx.lock);
    assert_null(strstr(fx.log, forged + strlen("X-Hub-Signature-256: sha256=")));
    pthread_mutex_unlock(&fx.lock);
    assert_serving(hs);

    /* No signature at all; a signature for another body. */
    a = post_hook(hs, "/hooks/github", "X-GitHub-Event: push", NULL, main_push);
    assert_status(a, 401, NULL);
    sign(forged, sizeof(forged), "X-Hub-Signature-256", SECRET, "{}", 2);
    a = post_hook(hs, "/hooks/github", "X-GitHub-Event: push", forged, main_push);
    assert_status(a, 401, NULL);
    assert_int_equal(triggers(), 0);
    assert_serving(hs);

    /* Signed but malformed: 400 with the parser's message. */
    a = github(hs, "push", "{\"ref\": refs/heads/main}", SECRET);
    assert_status(a, 400, "not valid JSON");
    a = github(hs, "push", "{\"ref\": 42}", SECRET);
    assert_status(a, 400, "\\\"ref\\\" must be a string");
    assert_serving(hs);

    /* Another branch: 202, nothing triggered. */
    a = github(hs, "push", "{\"ref\":\"refs/heads/dev\",\"after\":\"" SHA "\"}", SECRET);
    assert_status(a, 202, "ignored");
    assert_int_equal(triggers(), 0);

    /* Ping: 200. Another event: 202, nothing triggered. */
    a = github(hs, "ping", "{\"zen\":\"Keep it logically awesome.\"}", SECRET);
    assert_status(a, 200, "pong");
    a = github(hs, "issues", "{\"action\":\"opened\"}", SECRET);
    assert_status(a, 202, "ignored");
    assert_int_equal(triggers(), 0);

    /* The watched branch: 202 and one trigger with the hook's name and commit. */
    a = github(hs, "push", main_push, SECRET);
    assert_status(a, 202, "reconcile triggered");
    assert_int_equal(triggers(), 1);
    pthread_mutex_lock(&fx.lock);
    assert_string_equal(fx.hook, "github");
    assert_string_equal(fx.commit, SHA);
    pthread_mutex_unlock(&fx.lock);
    assert_serving(hs);
}

static void http_azure_devops_and_generic_hooks(void **state)
{
    harness *hs = *state;
    const char *push = "{\"eventType\":\"git.push\",\"resource\":{\"refUpdates\":["
                       "{\"name\":\"refs/heads/dev\",\"newObjectId\":\"1111111111\"},"
                       "{\"name\":\"refs/heads/main\",\"newObjectId\":\"" SHA "\"}]}}";
    char auth[128], sig[160];
    unsigned char b64[96];
    answer a;

    /* Basic auth with the wrong password, then none. */
    EVP_EncodeBlock(b64, (const unsigned char *)"azure:wrong", 11);
    snprintf(auth, sizeof(auth), "Authorization: Basic %s", b64);
    a = post_hook(hs, "/hooks/azure-devops", NULL, auth, push);
    assert_status(a, 401, NULL);
    a = post_hook(hs, "/hooks/azure-devops", NULL, NULL, push);
    assert_status(a, 401, NULL);
    assert_int_equal(triggers(), 0);
    pthread_mutex_lock(&fx.lock);
    assert_non_null(strstr(fx.log, "webhook azure-devops from 127.0.0.1 refused"));
    assert_null(strstr(fx.log, (const char *)b64));
    pthread_mutex_unlock(&fx.lock);
    assert_serving(hs);

    EVP_EncodeBlock(b64, (const unsigned char *)"azure:" SECRET, (int)strlen("azure:" SECRET));
    snprintf(auth, sizeof(auth), "Authorization: Basic %s", b64);
    a = post_hook(hs, "/hooks/azure-devops", NULL, auth, "{\"eventType\":\"git.push\"}");
    assert_status(a, 400, "refUpdates");
    a = post_hook(hs, "/hooks/azure-devops", NULL, auth,
                  "{\"eventType\":\"ms.vss-code.git-pullrequest-comment-event\"}");
    assert_status(a, 202, "ignored");
    assert_int_equal(triggers(), 0);
    a = post_hook(hs, "/hooks/azure-devops", NULL, auth, push);
    assert_status(a, 202, "reconcile triggered");
    assert_int_equal(triggers(), 1);
    pthread_mutex_lock(&fx.lock);
    assert_string_equal(fx.hook, "azure-devops");
    assert_string_equal(fx.commit, SHA);
    pthread_mutex_unlock(&fx.lock);

    /* Generic: an empty signed body means "check now", with no commit. */
    sign(sig, sizeof(sig), "X-Dsvmops-Signature", SECRET, "", 0);
    a = post_hook(hs, "/hooks/generic", NULL, sig, "");
    assert_status(a, 202, "reconcile triggered");
    assert_int_equal(triggers(), 2);
    pthread_mutex_lock(&fx.lock);
    assert_string_equal(fx.hook, "generic");
    assert_int_equal(fx.commit_null, 1);
    pthread_mutex_unlock(&fx.lock);
    /* The GitHub header does not sign a generic hook. */
    sign(sig, sizeof(sig), "X-Hub-Signature-256", SECRET, "", 0);
    a = post_hook(hs, "/hooks/generic", NULL, sig, "");
    assert_status(a, 401, NULL);
    sign(sig, sizeof(sig), "X-Dsvmops-Signature", SECRET, "{\"ref\":\"release\"}", 17);
    a = post_hook(hs, "/hooks/generic", NULL, sig, "{\"ref\":\"release\"}");
    assert_status(a, 202, "ignored");
    sign(sig, sizeof(sig), "X-Dsvmops-Signature", SECRET,
         "{\"ref\":\"main\",\"commit\":\"abc1234\"}", 33);
    a = post_hook(hs, "/hooks/generic", NULL, sig, "{\"ref\":\"main\",\"commit\":\"abc1234\"}");
    assert_status(a, 202, "reconcile triggered");
    assert_int_equal(triggers(), 3);
    pthread_mutex_lock(&fx.lock);
    assert_string_equal(fx.commit, "abc1234");
    pthread_mutex_unlock(&fx.lock);
    assert_serving(hs);
}

static void http_oversized_bodies_are_400(void **state)
{
    harness *hs = *state;
    size_t n = DSVM_HOOK_MAX_BODY + 4096;
    char *big = malloc(n + 1), sig[160];
    answer a;

    assert_non_null(big);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = '\0';
    sign(sig, sizeof(sig), "X-Hub-Signature-256", SECRET, big, n);
    /* With Content-Length (curl also sends Expect: 100-continue). */
    a = post_hook(hs, "/hooks/github", "X-GitHub-Event: push", sig, big);
    assert_status(a, 400, "larger than 1 MiB");
    assert_serving(hs);
    /* Without Expect: the 400 must still arrive. */
    a = post_hook(hs, "/hooks/github", "Expect:", sig, big);
    assert_status(a, 400, "larger than 1 MiB");
    assert_serving(hs);
    /* Chunked, so no length is declared: read, dropped past the cap, then 400. */
    {
        const char *headers[] = {"X-GitHub-Event: push", sig, NULL};

        a = request(hs->base, "POST", "/hooks/github", headers, big, n, 1);
        assert_status(a, 400, "larger than 1 MiB");
    }
    assert_serving(hs);
    /* A client that keeps sending far past the cap is cut off; the server goes on. */
    {
        size_t huge = 3 * DSVM_HOOK_MAX_BODY;
        char *flood = malloc(huge + 1);
        CURL *c = curl_easy_init();
        struct curl_slist *h = curl_slist_append(NULL, "Transfer-Encoding: chunked");
        char url[128];
        long status = 0;
        sink out = {0};
        CURLcode rc;

        assert_non_null(flood);
        assert_non_null(c);
        memset(flood, 'x', huge);
        flood[huge] = '\0';
        snprintf(url, sizeof(url), "%s/hooks/generic", hs->base);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, flood);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
        rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        /* Either cut off mid-send, or the 400 arrived first: never a success. */
        assert_true(rc != CURLE_OK || status == 400);
        curl_slist_free_all(h);
        curl_easy_cleanup(c);
        free(out.data);
        free(flood);
    }
    assert_serving(hs);
    /* Exactly the cap is allowed through to the signature check and parser. */
    big[DSVM_HOOK_MAX_BODY - 1] = '}';
    big[DSVM_HOOK_MAX_BODY] = '\0';
    sign(sig, sizeof(sig), "X-Hub-Signature-256", SECRET, big, DSVM_HOOK_MAX_BODY);
    a = post_hook(hs, "/hooks/github", "X-GitHub-Event: push", sig, big);
    assert_status(a, 400, "\\\"ref\\\"");
    assert_int_equal(triggers(), 0);
    free(big);
    assert_serving(hs);
}

static void http_hooks_need_a_secret(void **state)
{
    harness *hs = *state;
    const char *body = "{\"ref\":\"refs/heads/main\"}";
    answer a;

    assert_int_equal(dsvm_server_set_secrets(hs->server, NULL, NULL), 0);
    a = github(hs, "push", body, SECRET);
    assert_status(a, 503, "no webhook secret configured");
    a = post_hook(hs, "/hooks/generic", NULL, NULL, "");
    assert_status(a, 503, "no webhook secret configured");
    a = post_hook(hs, "/hooks/azure-devops", NULL, NULL, "{}");
    assert_status(a, 503, "no webhook secret configured");
    assert_int_equal(triggers(), 0);
    assert_serving(hs);
    /* A new secret takes effect at once, and the old one is gone. */
    assert_int_equal(dsvm_server_set_secrets(hs->server, "rotated", NULL), 0);
    a = github(hs, "push", body, SECRET);
    assert_status(a, 401, NULL);
    a = github(hs, "push", body, "rotated");
    assert_status(a, 202, "reconcile triggered");
    assert_int_equal(triggers(), 1);
}

static void http_api_loopback_and_bearer(void **state)
{
    harness *hs = *state;
    const char *bearer[] = {"Authorization: Bearer " TOKEN, NULL};
    const char *wrong[] = {"Authorization: Bearer nope", NULL};
    const char *basic[] = {"Authorization: Basic " TOKEN, NULL};
    answer a;

    /* No token: loopback may call. */
    a = request(hs->base, "POST", "/api/v1/approve", NULL, NULL, 0, 0);
    assert_string_equal(a.ctype, "application/json");
    assert_status(a, 202, "{\"message\":\"approved plan 7\"}");
    a = request(hs->base, "POST", "/api/v1/suspend", NULL, NULL, 0, 0);
    assert_status(a, 202, "suspended");
    pthread_mutex_lock(&fx.lock);
    assert_int_equal(fx.last_suspend, 1);
    pthread_mutex_unlock(&fx.lock);
    a = request(hs->base, "POST", "/api/v1/suspend", NULL, "{\"suspend\": false}", 18, 0);
    assert_status(a, 202, "resumed");
    pthread_mutex_lock(&fx.lock);
    assert_int_equal(fx.last_suspend, 0);
    assert_int_equal(fx.suspends, 2);
    pthread_mutex_unlock(&fx.lock);
    a = request(hs->base, "POST", "/api/v1/suspend", NULL, "{\"suspend\": \"no\"}", 17, 0);
    assert_status(a, 400, "\"error\"");
    a = request(hs->base, "POST", "/api/v1/suspend", NULL, "{\"suspend\":", 11, 0);
    assert_status(a, 400, "\"error\"");
    assert_serving(hs);

    /* With a token: loopback without it, or with another, is refused. */
    assert_int_equal(dsvm_server_set_secrets(hs->server, SECRET, TOKEN), 0);
    a = request(hs->base, "POST", "/api/v1/approve", NULL, NULL, 0, 0);
    assert_status(a, 403, "\"error\"");
    a = request(hs->base, "POST", "/api/v1/approve", wrong, NULL, 0, 0);
    assert_status(a, 403, "\"error\"");
    a = request(hs->base, "POST", "/api/v1/approve", basic, NULL, 0, 0);
    assert_status(a, 403, "\"error\"");
    pthread_mutex_lock(&fx.lock);
    assert_non_null(strstr(fx.log, "/api/v1/approve from 127.0.0.1 refused: no valid API token"));
    assert_null(strstr(fx.log, "nope"));
    pthread_mutex_unlock(&fx.lock);
    pthread_mutex_lock(&fx.lock);
    assert_int_equal(fx.approvals, 1);
    pthread_mutex_unlock(&fx.lock);
    assert_serving(hs);
    a = request(hs->base, "POST", "/api/v1/approve", bearer, NULL, 0, 0);
    assert_status(a, 202, "approved plan 7");
    a = request(hs->base, "POST", "/api/v1/suspend", bearer, "{\"suspend\":true}", 16, 0);
    assert_status(a, 202, "suspended");
    pthread_mutex_lock(&fx.lock);
    assert_int_equal(fx.approvals, 2);
    assert_int_equal(fx.suspends, 3);
    pthread_mutex_unlock(&fx.lock);
}

/* A non-loopback IPv4 address of this host, or 0 when there is none. */
static int external_address(char *out, size_t size)
{
    struct ifaddrs *ifs = NULL, *i;
    int found = 0;

    if (getifaddrs(&ifs) != 0)
        return 0;
    for (i = ifs; i && !found; i = i->ifa_next) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)i->ifa_addr;

        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET ||
            (ntohl(in->sin_addr.s_addr) >> 24) == 127)
            continue;
        found = inet_ntop(AF_INET, &in->sin_addr, out, (socklen_t)size) != NULL;
    }
    freeifaddrs(ifs);
    return found;
}

static void http_api_refuses_remote_clients_without_token(void **state)
{
    dsvm_server_opts o;
    dsvm_server *s = NULL;
    char addr[64], base[96];
    answer a;

    (void)state;
    if (!external_address(addr, sizeof(addr))) {
        fprintf(stderr, "no non-loopback address on this host; remote-client check skipped\n");
        return;
    }
    memset(&o, 0, sizeof(o));
    o.listen = "0.0.0.0:0";
    o.approve = on_approve;
    o.payload = &fx;
    assert_int_equal(dsvm_server_start(&s, &o), 0);
    snprintf(base, sizeof(base), "http://%s:%d", addr, dsvm_server_port(s));
    a = request(base, "POST", "/api/v1/approve", NULL, NULL, 0, 0);
    assert_status(a, 403, "loopback");
    a = request(base, "GET", "/healthz", NULL, NULL, 0, 0);
    assert_status(a, 200, "ok");
    dsvm_server_stop(s);
}

#define CLIENTS    4
#define PER_CLIENT 40

/* One client thread: alternate /metrics and a signed generic hook; count failures. */
static void *client(void *arg)
{
    const harness *hs = arg;
    CURL *c = curl_easy_init();
    char url[128], sig[160];
    struct curl_slist *h;
    long failures = 0, status;
    int i;

    if (!c)
        return (void *)1;
    sign(sig, sizeof(sig), "X-Dsvmops-Signature", SECRET, "{}", 2);
    h = curl_slist_append(NULL, sig);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    for (i = 0; i < PER_CLIENT; i++) {
        int hook = i % 2;

        snprintf(url, sizeof(url), "%s%s", hs->base, hook ? "/hooks/generic" : "/metrics");
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hook ? h : NULL);
        if (hook)
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}");
        else
            curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        status = 0;
        if (curl_easy_perform(c) != CURLE_OK ||
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK ||
            status != (hook ? 202 : 200))
            failures++;
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return (void *)failures;
}

static void http_concurrent_clients_while_metrics_change(void **state)
{
    harness *hs = *state;
    pthread_t t[CLIENTS];
    void *failures;
    int i;

    for (i = 0; i < CLIENTS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, client, hs), 0);
    for (i = 0; i < 2000; i++)
        assert_int_equal(dsvm_metrics_add(hs->metrics, "dsvmops_lro_in_flight", NULL, 1), 0);
    for (i = 0; i < CLIENTS; i++) {
        assert_int_equal(pthread_join(t[i], &failures), 0);
        assert_null(failures);
    }
    assert_int_equal(triggers(), CLIENTS * PER_CLIENT / 2);
    assert_serving(hs);
}

static void http_ipv6_loopback_is_loopback(void **state)
{
    dsvm_server_opts o;
    dsvm_server *s = NULL;
    char base[96];
    answer a;
    int rc;

    (void)state;
    memset(&o, 0, sizeof(o));
    o.listen = "[::1]:0";
    o.approve = on_approve;
    o.payload = &fx;
    rc = dsvm_server_start(&s, &o);
    if (rc == DSVM_EIO) {
        fprintf(stderr, "no IPv6 loopback here (%s); check skipped\n", dsvm_error_last()->message);
        return;
    }
    assert_int_equal(rc, 0);
    snprintf(base, sizeof(base), "http://[::1]:%d", dsvm_server_port(s));
    a = request(base, "POST", "/api/v1/approve", NULL, NULL, 0, 0);
    assert_status(a, 202, "approved plan 7");
    a = request(base, "GET", "/healthz", NULL, NULL, 0, 0);
    assert_status(a, 200, "ok");
    dsvm_server_stop(s);
}

static void http_slow_clients_do_not_block_others(void **state)
{
    harness *hs = *state;
    struct sockaddr_in sa;
    int fds[8], i;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)dsvm_server_port(hs->server));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (i = 0; i < 8; i++) {
        static const char partial[] = "POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Len";

        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fds[i] >= 0);
        assert_int_equal(connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(write(fds[i], partial, sizeof(partial) - 1), (ssize_t)sizeof(partial) - 1);
    }
    assert_serving(hs);
    assert_serving(hs);
    for (i = 0; i < 8; i++)
        close(fds[i]);
    assert_serving(hs);
}

static void http_listen_errors(void **state)
{
    harness *hs = *state;
    static const char *const bad[] = {
        "",       "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:80x",
        "::1:80", "[::1]"};
    dsvm_server_opts o;
    dsvm_server *s = NULL;
    char taken[64];
    size_t i;

    memset(&o, 0, sizeof(o));
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        o.listen = bad[i];
        assert_int_equal(dsvm_server_start(&s, &o), DSVM_EINVALID);
        assert_null(s);
        assert_non_null(strstr(dsvm_error_last()->message, "HOST:PORT"));
    }
    o.listen = NULL;
    assert_int_equal(dsvm_server_start(&s, &o), DSVM_EINVALID);
    snprintf(taken, sizeof(taken), "127.0.0.1:%d", dsvm_server_port(hs->server));
    o.listen = taken;
    assert_int_equal(dsvm_server_start(&s, &o), DSVM_EIO);
    assert_null(s);
    assert_non_null(strstr(dsvm_error_last()->message, taken));
    assert_non_null(strstr(dsvm_error_last()->message, "in use"));
    dsvm_server_stop(NULL);
    assert_serving(hs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(http_health_metrics_status_and_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(http_readyz_says_why_until_ready, setup, teardown),
        cmocka_unit_test_setup_teardown(http_github_hooks, setup, teardown),
        cmocka_unit_test_setup_teardown(http_azure_devops_and_generic_hooks, setup, teardown),
        cmocka_unit_test_setup_teardown(http_oversized_bodies_are_400, setup, teardown),
        cmocka_unit_test_setup_teardown(http_hooks_need_a_secret, setup, teardown),
        cmocka_unit_test_setup_teardown(http_api_loopback_and_bearer, setup, teardown),
        cmocka_unit_test(http_api_refuses_remote_clients_without_token),
        cmocka_unit_test(http_ipv6_loopback_is_loopback),
        cmocka_unit_test_setup_teardown(http_concurrent_clients_while_metrics_change, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(http_slow_clients_do_not_block_others, setup, teardown),
        cmocka_unit_test_setup_teardown(http_listen_errors, setup, teardown),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_ALL);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
