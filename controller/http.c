/*
 * The event loop: a list of transfers that are waiting (for their start
 * time, a bearer token or a bucket token) and a curl multi handle with the
 * ones on the wire. Each attempt gets a fresh easy handle; connections live
 * in the multi handle's cache and are reused across attempts and requests.
 */
#include <arpa/inet.h>
#include <sys/socket.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "dsvmops/error.h"
#include "dsvmops/version.h"
#include "http.h"

typedef struct xfer xfer;

struct xfer {
    dsvm_http *h;
    xfer *next;     /* in the waiting list */
    xfer *next_run; /* in the in-flight list */
    /* the request, copied */
    char *method;
    char *url;
    char *safe_url; /* redacted, for logs */
    char **headers;
    char *body;
    size_t body_len;
    dsvm_bucket_class bucket;
    char *audience;
    unsigned flags;
    char *subscription;
    dsvm_http_done_fn done;
    void *payload;
    /* progress */
    int64_t not_before_ms;
    int64_t pnf_deadline_ms; /* PrincipalNotFound retries end here; 0: not started */
    int attempts;
    int auth_retried;
    int waited_bucket; /* counted once per attempt in bucket_waits */
    int too_big;       /* the answer passed max_body_bytes */
    char *token;       /* the bearer token of the current attempt */
    /* the current attempt */
    CURL *easy;
    struct curl_slist *slist;
    char *resp;
    size_t resp_len, resp_cap;
    char errbuf[CURL_ERROR_SIZE];
};

struct dsvm_http {
    dsvm_http_options opts;
    char *ca_file;
    char correlation_id[40];
    CURLM *multi;
    CURLSH *share;
    dsvm_ratelimit *rl;
    dsvm_http_auth auth;
    int has_auth;
    xfer *waiting; /* FIFO */
    xfer *waiting_tail;
    xfer *inflight;
    int running;
    uint64_t rng;
    dsvm_http_stats stats;
};

void dsvm_http_options_init(dsvm_http_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->max_concurrency = 16;
    opts->max_attempts = 5;
    opts->backoff_base_ms = 500;
    opts->backoff_max_ms = 30000;
    opts->retry_after_max_ms = 300000;
    opts->principal_not_found_ms = 120000;
    opts->timeout_ms = 60000;
    opts->connect_timeout_ms = 10000;
    opts->max_body_bytes = (size_t)64 << 20;
}

/*
 * CLOCK_MONOTONIC does not go back on Linux; a clock that does (a faked or
 * broken one) would leave every backoff and poll timer hours ahead. Steps
 * back are absorbed, so this clock never decreases.
 */
int64_t dsvm_http_now_ms(void)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static int64_t last_ms, skew_ms;
    struct timespec ts;
    int64_t now;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    pthread_mutex_lock(&lock);
    now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + skew_ms;
    if (now < last_ms) {
        skew_ms += last_ms - now;
        now = last_ms;
    }
    last_ms = now;
    pthread_mutex_unlock(&lock);
    return now;
}

static uint64_t next_random(dsvm_http *h)
{
    /* xorshift64*: jitter needs spread, not secrecy */
    h->rng ^= h->rng >> 12;
    h->rng ^= h->rng << 25;
    h->rng ^= h->rng >> 27;
    return h->rng * 2685821657736338717ULL;
}

/* ---- pure helpers ---- */

int64_t dsvm_http_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms, uint64_t random)
{
    int64_t ceiling = base_ms;
    int i;

    if (base_ms <= 0)
        return 0;
    for (i = 0; i < attempt && ceiling < cap_ms; i++)
        ceiling *= 2;
    if (ceiling > cap_ms)
        ceiling = cap_ms;
    return (int64_t)(random % (uint64_t)(ceiling + 1));
}

int dsvm_http_parse_retry_after(int64_t *out_ms, const char *value, time_t now)
{
    const char *p = value;
    time_t when;

    if (!value)
        goto bad;
    while (isspace((unsigned char)*p))
        p++;
    if (isdigit((unsigned char)*p)) {
        char *end;
        long long secs;

        errno = 0;
        secs = strtoll(p, &end, 10);
        while (isspace((unsigned char)*end))
            end++;
        if (errno || *end || secs < 0 || secs > 86400LL * 365)
            goto bad;
        *out_ms = (int64_t)secs * 1000;
        return 0;
    }
    when = curl_getdate(p, NULL);
    /* a year at most, as for seconds; a date far ahead overflowed *1000 (fuzz_arm) */
    if (when == -1 || (when > now && when - now > 86400LL * 365))
        goto bad;
    *out_ms = when > now ? (int64_t)(when - now) * 1000 : 0;
    return 0;
bad:
    dsvm_error_set(DSVM_ERRCLASS_NET, "invalid Retry-After value \"%s\"", value ? value : "");
    return DSVM_EINVALID;
}

int dsvm_http_retryable(int curl_code, long status, const char *arm_code)
{
    switch (curl_code) {
    case CURLE_OK:
        break;
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
    if (status == 408 || status == 429)
        return 1;
    if (status >= 500 && status <= 599 && status != 501 && status != 505)
        return 1;
    if ((status == 400 || status == 404) && arm_code && strcmp(arm_code, "PrincipalNotFound") == 0)
        return 2;
    return 0;
}

static int is_loopback_host(const char *host)
{
    struct in_addr a4;
    size_t n = strlen(host);

    if (strcasecmp(host, "localhost") == 0)
        return 1;
    if (strcmp(host, "[::1]") == 0 || strcmp(host, "::1") == 0)
        return 1;
    if (n && host[n - 1] != '.' && inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    return 0;
}

int dsvm_http_check_url(const char *url, unsigned flags)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int rc = 0;

    if (!u)
        return dsvm_error_oom();
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        dsvm_error_set(DSVM_ERRCLASS_NET, "\"%s\" is not an absolute http(s) URL", url);
        rc = DSVM_EINVALID;
        goto out;
    }
    if (strcasecmp(scheme, "https") == 0)
        goto out;
    if (strcasecmp(scheme, "http") == 0) {
        if (is_loopback_host(host))
            goto out;
        if ((flags & DSVM_HTTP_IMDS) && strcmp(host, "169.254.169.254") == 0)
            goto out;
        dsvm_error_set(DSVM_ERRCLASS_NET,
                       "refusing plain http:// to %s: http is allowed only to loopback "
                       "addresses (127.0.0.0/8, ::1, localhost); use https://",
                       host);
        rc = DSVM_EINVALID;
        goto out;
    }
    dsvm_error_set(DSVM_ERRCLASS_NET, "unsupported URL scheme \"%s\" in %s; use https://", scheme,
                   url);
    rc = DSVM_EINVALID;
out:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

static int harmless_query_key(const char *key, size_t n)
{
    static const char *const keys[] = {
        "api-version", "$top",         "$skiptoken", "%24skiptoken", "$filter",
        "%24filter",   "$expand",      "%24expand",  "%24top",       "resource",
        "client_id",   "object_id",    "msi_res_id", "timeout",      "forceDeletionTypes",
        "$skipToken",  "%24skipToken", NULL};
    size_t i;

    for (i = 0; keys[i]; i++)
        if (strlen(keys[i]) == n && strncasecmp(keys[i], key, n) == 0)
            return 1;
    return 0;
}

int dsvm_http_redact_url(char **out, const char *url)
{
    CURLU *u = curl_url();
    char *query = NULL, *full = NULL, *nq = NULL, *res = NULL;
    size_t qlen, nlen = 0;
    const char *p;
    int rc = 0;

    if (!u)
        return dsvm_error_oom();
    if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
        dsvm_error_set(DSVM_ERRCLASS_NET, "cannot parse a URL for logging");
        rc = DSVM_EINVALID;
        goto out;
    }
    curl_url_set(u, CURLUPART_USER, NULL, 0);
    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
    curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0);
    if (curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK && query) {
        qlen = strlen(query);
        nq = malloc(qlen * 2 + 16);
        if (!nq) {
            rc = dsvm_error_oom();
            goto out;
        }
        for (p = query; *p;) {
            const char *amp = strchr(p, '&');
            size_t len = amp ? (size_t)(amp - p) : strlen(p);
            const char *eq = memchr(p, '=', len);
            size_t klen = eq ? (size_t)(eq - p) : len;

            if (nlen)
                nq[nlen++] = '&';
            if (!eq || harmless_query_key(p, klen)) {
                memcpy(nq + nlen, p, len);
                nlen += len;
            } else {
                memcpy(nq + nlen, p, klen);
                nlen += klen;
                memcpy(nq + nlen, "=REDACTED", 9);
                nlen += 9;
            }
            p += len;
            if (*p == '&')
                p++;
        }
        nq[nlen] = '\0';
        curl_url_set(u, CURLUPART_QUERY, nq, 0);
    }
    if (curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK) {
        dsvm_error_set(DSVM_ERRCLASS_NET, "cannot rebuild a URL for logging");
        rc = DSVM_EINVALID;
        goto out;
    }
    res = strdup(full);
    if (!res) {
        rc = dsvm_error_oom();
        goto out;
    }
    *out = res;
out:
    free(nq);
    curl_free(query);
    curl_free(full);
    curl_url_cleanup(u);
    return rc;
}

int dsvm_http_subscription_of(char **out, const char *url)
{
    static const char marker[] = "/subscriptions/";
    const char *p, *start = NULL, *end;
    char *s;

    for (p = url; *p; p++) {
        if (*p == '?')
            break;
        if (strncasecmp(p, marker, sizeof(marker) - 1) == 0) {
            start = p + sizeof(marker) - 1;
            break;
        }
    }
    if (!start)
        start = end = "";
    else
        end = start + strcspn(start, "/?#");
    s = strndup(start, (size_t)(end - start));
    if (!s)
        return dsvm_error_oom();
    *out = s;
    return 0;
}

static dsvm_http_verb verb_of(const char *method)
{
    static const char *const names[] = {"GET", "PUT", "PATCH", "DELETE", "POST", "HEAD"};
    int i;

    for (i = 0; i < DSVM_HTTP_OTHER; i++)
        if (strcmp(method, names[i]) == 0)
            return (dsvm_http_verb)i;
    return DSVM_HTTP_OTHER;
}

/* ---- the loop ---- */

static void make_uuid(char out[40], const unsigned char b[16])
{
    snprintf(out, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], (b[6] & 0x0f) | 0x40, b[7], (b[8] & 0x3f) | 0x80, b[9],
             b[10], b[11], b[12], b[13], b[14], b[15]);
}

int dsvm_http_new(dsvm_http **out, const dsvm_http_options *opts)
{
    dsvm_http *h;
    unsigned char rnd[24];
    FILE *f;
    int rc = 0, curl_ready = 0;

    h = calloc(1, sizeof(*h));
    if (!h)
        return dsvm_error_oom();
    if (opts)
        h->opts = *opts;
    else
        dsvm_http_options_init(&h->opts);
    if (h->opts.max_concurrency < 1)
        h->opts.max_concurrency = 1;
    if (h->opts.max_attempts < 1)
        h->opts.max_attempts = 1;
    if (h->opts.max_body_bytes == 0)
        h->opts.max_body_bytes = (size_t)64 << 20;
    h->opts.correlation_id = NULL;
    h->opts.ca_file = NULL;
    h->opts.limits = NULL;
    if (opts && opts->ca_file) {
        f = fopen(opts->ca_file, "rb");
        if (!f) {
            dsvm_error_set(DSVM_ERRCLASS_CONFIG, "ca_file %s cannot be read: %s", opts->ca_file,
                           strerror(errno));
            rc = DSVM_EINVALID;
            goto out;
        }
        fclose(f);
        h->ca_file = strdup(opts->ca_file);
        if (!h->ca_file) {
            rc = dsvm_error_oom();
            goto out;
        }
    }
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        dsvm_error_set(DSVM_ERRCLASS_INTERNAL, "the OpenSSL random generator failed");
        rc = DSVM_ERROR;
        goto out;
    }
    if (opts && opts->correlation_id)
        snprintf(h->correlation_id, sizeof(h->correlation_id), "%s", opts->correlation_id);
    else
        make_uuid(h->correlation_id, rnd);
    memcpy(&h->rng, rnd + 16, sizeof(h->rng));
    h->rng |= 1;

    rc = dsvm_ratelimit_new(&h->rl, opts ? opts->limits : NULL);
    if (rc < 0)
        goto out;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        dsvm_error_set(DSVM_ERRCLASS_NET, "libcurl could not be initialised");
        rc = DSVM_ERROR;
        goto out;
    }
    curl_ready = 1;
    h->multi = curl_multi_init();
    h->share = curl_share_init();
    if (!h->multi || !h->share) {
        dsvm_error_set(DSVM_ERRCLASS_NET, "libcurl could not create a multi handle");
        rc = DSVM_ERROR;
        goto out;
    }
    /* DNS and TLS sessions are shared; connections are cached by the multi handle */
    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)h->opts.max_concurrency);
    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)h->opts.max_concurrency * 2);
    *out = h;
    h = NULL;
out:
    if (h) {
        if (h->multi)
            curl_multi_cleanup(h->multi);
        if (h->share)
            curl_share_cleanup(h->share);
        dsvm_ratelimit_free(h->rl);
        free(h->ca_file);
        free(h);
        if (curl_ready)
            curl_global_cleanup();
    }
    return rc;
}

void dsvm_http_set_auth(dsvm_http *h, const dsvm_http_auth *auth)
{
    if (auth) {
        h->auth = *auth;
        h->has_auth = 1;
    } else {
        memset(&h->auth, 0, sizeof(h->auth));
        h->has_auth = 0;
    }
}

void dsvm_http_note_lro(dsvm_http *h, int delta)
{
    if (h->opts.lro_in_flight)
        h->opts.lro_in_flight(delta, h->opts.lro_payload);
}

int dsvm_http_stopping(const dsvm_http *h)
{
    return h->opts.stop && *h->opts.stop;
}

const dsvm_http_stats *dsvm_http_get_stats(const dsvm_http *h)
{
    return &h->stats;
}

const char *dsvm_http_correlation_id(const dsvm_http *h)
{
    return h->correlation_id;
}

dsvm_ratelimit *dsvm_http_ratelimit(dsvm_http *h)
{
    return h->rl;
}

static void wipe_free(char *s)
{
    if (s) {
        volatile char *p = s;

        while (*p)
            *p++ = 0;
        free(s);
    }
}

static void attempt_clear(xfer *x)
{
    if (x->easy) {
        curl_multi_remove_handle(x->h->multi, x->easy);
        curl_easy_cleanup(x->easy);
        x->easy = NULL;
    }
    curl_slist_free_all(x->slist);
    x->slist = NULL;
    if (x->resp) {
        /* answers may hold tokens (token endpoint) or secrets (Key Vault) */
        OPENSSL_cleanse(x->resp, x->resp_cap);
        free(x->resp);
    }
    x->resp = NULL;
    x->resp_len = x->resp_cap = 0;
    wipe_free(x->token);
    x->token = NULL;
    x->errbuf[0] = '\0';
    x->too_big = 0;
}

static void xfer_free(xfer *x)
{
    char **hp;

    if (!x)
        return;
    attempt_clear(x);
    free(x->method);
    free(x->url);
    free(x->safe_url);
    for (hp = x->headers; hp && *hp; hp++)
        wipe_free(*hp);
    free(x->headers);
    if (x->body) {
        OPENSSL_cleanse(x->body, x->body_len);
        free(x->body);
    }
    free(x->audience);
    free(x->subscription);
    free(x);
}

static void waiting_push(dsvm_http *h, xfer *x)
{
    x->next = NULL;
    if (h->waiting_tail)
        h->waiting_tail->next = x;
    else
        h->waiting = x;
    h->waiting_tail = x;
}

int dsvm_http_submit(dsvm_http *h, const dsvm_http_request *req, dsvm_http_done_fn done,
                     void *payload)
{
    xfer *x;
    size_t n = 0, i;
    int rc;

    if (!req->method || !req->url) {
        dsvm_error_set(DSVM_ERRCLASS_INTERNAL, "an HTTP request needs a method and a URL");
        return DSVM_EINVALID;
    }
    rc = dsvm_http_check_url(req->url, req->flags);
    if (rc < 0)
        return rc;
    x = calloc(1, sizeof(*x));
    if (!x)
        return dsvm_error_oom();
    x->h = h;
    x->done = done;
    x->payload = payload;
    x->bucket = req->bucket;
    x->flags = req->flags;
    x->method = strdup(req->method);
    x->url = strdup(req->url);
    if (!x->method || !x->url)
        goto oom;
    rc = dsvm_http_redact_url(&x->safe_url, req->url);
    if (rc < 0)
        goto fail;
    rc = dsvm_http_subscription_of(&x->subscription, req->url);
    if (rc < 0)
        goto fail;
    if (req->audience) {
        x->audience = strdup(req->audience);
        if (!x->audience)
            goto oom;
    }
    while (req->headers && req->headers[n])
        n++;
    x->headers = calloc(n + 1, sizeof(*x->headers));
    if (!x->headers)
        goto oom;
    for (i = 0; i < n; i++) {
        x->headers[i] = strdup(req->headers[i]);
        if (!x->headers[i])
            goto oom;
    }
    if (req->body) {
        x->body_len = req->body_len ? req->body_len : strlen(req->body);
        x->body = malloc(x->body_len + 1);
        if (!x->body)
            goto oom;
        memcpy(x->body, req->body, x->body_len);
        x->body[x->body_len] = '\0';
    }
    x->not_before_ms = dsvm_http_now_ms() + (req->delay_ms > 0 ? req->delay_ms : 0);
    waiting_push(h, x);
    return 0;
oom:
    rc = dsvm_error_oom();
fail:
    xfer_free(x);
    return rc;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    xfer *x = userp;
    size_t n = size * nmemb;

    if (x->resp_len + n > x->h->opts.max_body_bytes) {
        x->too_big = 1;
        return 0; /* curl ends the transfer with CURLE_WRITE_ERROR */
    }
    if (x->resp_len + n + 1 > x->resp_cap) {
        size_t cap = x->resp_cap ? x->resp_cap : 4096;
        char *g;

        while (cap < x->resp_len + n + 1)
            cap *= 2;
        g = malloc(cap);
        if (!g)
            return 0;
        if (x->resp) {
            memcpy(g, x->resp, x->resp_len);
            OPENSSL_cleanse(x->resp, x->resp_cap);
            free(x->resp);
        }
        x->resp = g;
        x->resp_cap = cap;
    }
    memcpy(x->resp + x->resp_len, data, n);
    x->resp_len += n;
    x->resp[x->resp_len] = '\0';
    return n;
}

static int has_header(xfer *x, const char *name)
{
    size_t n = strlen(name);
    char **hp;

    for (hp = x->headers; hp && *hp; hp++)
        if (strncasecmp(*hp, name, n) == 0 && (*hp)[n] == ':')
            return 1;
    return 0;
}

static int add_header(xfer *x, const char *line)
{
    struct curl_slist *s = curl_slist_append(x->slist, line);

    if (!s)
        return dsvm_error_oom();
    x->slist = s;
    return 0;
}

/* Every new connection goes through here: count it (reused ones do not). */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
    dsvm_http *h = clientp;

    (void)purpose;
    h->stats.connections++;
    return socket(addr->family, addr->socktype, addr->protocol);
}

/* Start one attempt of `x` with bearer token `token` (or NULL). */
static int start_attempt(dsvm_http *h, xfer *x, const char *token)
{
    char line[128];
    char *auth_line = NULL;
    char **hp;
    CURL *e;
    int rc = 0;

    e = curl_easy_init();
    if (!e)
        return dsvm_error_oom();
    x->easy = e;
    for (hp = x->headers; hp && *hp; hp++) {
        rc = add_header(x, *hp);
        if (rc < 0)
            return rc;
    }
    if (!has_header(x, "Accept"))
        rc = add_header(x, "Accept: application/json");
    if (!rc && x->body && !has_header(x, "Content-Type"))
        rc = add_header(x, "Content-Type: application/json");
    if (!rc)
        rc = add_header(x, "Expect:");
    snprintf(line, sizeof(line), "x-ms-correlation-request-id: %s", h->correlation_id);
    if (!rc)
        rc = add_header(x, line);
    if (!rc && token) {
        size_t n = strlen(token) + 32;

        x->token = strdup(token);
        auth_line = malloc(n);
        if (!x->token || !auth_line) {
            free(auth_line);
            return dsvm_error_oom();
        }
        snprintf(auth_line, n, "Authorization: Bearer %s", token);
        rc = add_header(x, auth_line);
        wipe_free(auth_line);
    }
    if (rc < 0)
        return rc;

    curl_easy_setopt(e, CURLOPT_URL, x->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (h->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, h->ca_file);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "127.0.0.1,localhost,::1,169.254.169.254");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)h->opts.timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)h->opts.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_SHARE, h->share);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, h);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->slist);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "dsvmops/" DSVM_VERSION);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    if (strcmp(x->method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(x->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, x->method);
        if (x->body || strcmp(x->method, "POST") == 0 || strcmp(x->method, "PUT") == 0 ||
            strcmp(x->method, "PATCH") == 0) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body_len);
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body ? x->body : "");
        }
    }
    if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
        dsvm_error_set(DSVM_ERRCLASS_NET, "libcurl refused a transfer");
        return DSVM_ERROR;
    }
    x->attempts++;
    h->running++;
    x->next_run = h->inflight;
    h->inflight = x;
    h->stats.requests[verb_of(x->method)]++;
    return 0;
}

/* The parts of a response that logging and callers need. */
typedef struct {
    json_t *json;
    const char *code;
    const char *message;
    const char *request_id;
    const char *correlation_id;
    char *summary;
} answer;

static const char *header_of(CURL *e, const char *name)
{
    struct curl_header *hd = NULL;

    if (!e || curl_easy_header(e, name, 0, CURLH_HEADER, -1, &hd) != CURLHE_OK || !hd)
        return NULL;
    return hd->value;
}

json_t *dsvm_http_parse_error_body(const char **code, const char **message, const char *body,
                                   size_t len)
{
    json_t *doc = json_loadb(body, len, 0, NULL), *err;

    *code = *message = NULL;
    if (!json_is_object(doc))
        return doc;
    err = json_object_get(doc, "error");
    if (json_is_object(err)) {
        *code = json_string_value(json_object_get(err, "code"));
        *message = json_string_value(json_object_get(err, "message"));
    } else if (json_is_string(err)) {
        *code = json_string_value(err);
        *message = json_string_value(json_object_get(doc, "error_description"));
    }
    return doc;
}

/* Parse the ARM ({"error":{"code","message"}}) or OAuth error shapes. */
static void parse_answer(answer *a, xfer *x, long status)
{
    memset(a, 0, sizeof(*a));
    a->request_id = header_of(x->easy, "x-ms-request-id");
    a->correlation_id = header_of(x->easy, "x-ms-correlation-request-id");
    /* Only failures carry an error document. A success body is left to its
     * owner: parsing every list page here as well cost a sixth of a
     * 1,000-pool plan's CPU. */
    if (!x->resp || !x->resp_len || status < 400)
        return;
    a->json = dsvm_http_parse_error_body(&a->code, &a->message, x->resp, x->resp_len);
}

static char *summarize(xfer *x, long status, int curl_code, const answer *a)
{
    const char *what =
        curl_code ? (x->errbuf[0] ? x->errbuf : curl_easy_strerror(curl_code)) : NULL;
    char statusbuf[32], toobig[96];
    int n;
    char *s;

    if (x->too_big) {
        snprintf(toobig, sizeof(toobig), "the answer is larger than %zu bytes (max_body_bytes)",
                 x->h->opts.max_body_bytes);
        what = toobig;
    }
    snprintf(statusbuf, sizeof(statusbuf), "%ld", status);
    n = snprintf(NULL, 0,
                 "%s %s: %s%s%s%s%s%s [x-ms-request-id: %s, x-ms-correlation-request-id: %s]",
                 x->method, x->safe_url, what ? "no answer: " : "HTTP ", what ? what : statusbuf,
                 a->code ? " " : "", a->code ? a->code : "", a->message ? ": " : "",
                 a->message ? a->message : "", a->request_id ? a->request_id : "-",
                 a->correlation_id ? a->correlation_id : x->h->correlation_id);
    s = malloc((size_t)n + 1);
    if (!s)
        return NULL;
    snprintf(s, (size_t)n + 1,
             "%s %s: %s%s%s%s%s%s [x-ms-request-id: %s, x-ms-correlation-request-id: %s]",
             x->method, x->safe_url, what ? "no answer: " : "HTTP ", what ? what : statusbuf,
             a->code ? " " : "", a->code ? a->code : "", a->message ? ": " : "",
             a->message ? a->message : "", a->request_id ? a->request_id : "-",
             a->correlation_id ? a->correlation_id : x->h->correlation_id);
    return s;
}

static void remove_waiting(dsvm_http *h, xfer *x, xfer *prev)
{
    if (prev)
        prev->next = x->next;
    else
        h->waiting = x->next;
    if (h->waiting_tail == x)
        h->waiting_tail = prev;
    x->next = NULL;
}

/* Call the callback and free `x`; `x` is in no list. */
static void complete(dsvm_http *h, xfer *x, int error, const char *message, long status,
                     const answer *a)
{
    dsvm_http_response r;

    memset(&r, 0, sizeof(r));
    r.error = error;
    r.status = status;
    r.body = x->resp ? x->resp : "";
    r.body_len = x->resp ? x->resp_len : 0;
    r.method = x->method;
    r.url = x->url;
    r.message = message;
    r.attempts = x->attempts;
    r.internal = x;
    if (a) {
        r.arm_code = a->code;
        r.arm_message = a->message;
        r.request_id = a->request_id;
        r.correlation_id = a->correlation_id;
    }
    if (error || status >= 400)
        h->stats.failures++;
    if (x->done)
        x->done(&r, x->payload);
    xfer_free(x);
}

static void fail_waiting(dsvm_http *h, xfer *x, int error, const char *why)
{
    char *msg;
    int n = snprintf(NULL, 0, "%s %s: %s", x->method, x->safe_url, why);

    msg = malloc((size_t)n + 1);
    if (msg)
        snprintf(msg, (size_t)n + 1, "%s %s: %s", x->method, x->safe_url, why);
    dsvm_log_write(h->opts.log, DSVM_LEVEL_ERROR, "%s", msg ? msg : why);
    complete(h, x, error, msg ? msg : why, 0, NULL);
    free(msg);
}

/* Start every waiting transfer that may go now; note the earliest wake-up. */
static void start_ready(dsvm_http *h, int64_t now, int64_t *wake)
{
    xfer *x = h->waiting, *prev = NULL, *next;

    while (x) {
        const char *token = NULL;
        int64_t wait = 0;
        int rc;

        next = x->next;
        if (h->running >= h->opts.max_concurrency)
            return;
        if (x->not_before_ms > now) {
            if (x->not_before_ms < *wake)
                *wake = x->not_before_ms;
            prev = x;
            x = next;
            continue;
        }
        if (x->audience) {
            if (!h->has_auth) {
                rc = DSVM_EAUTH;
                dsvm_error_set(DSVM_ERRCLASS_NET, "no credential is configured for %s",
                               x->audience);
            } else {
                rc = h->auth.get(&token, x->audience, h->auth.payload);
            }
            /* the auth hook may have queued a token request behind us */
            next = x->next;
            if (rc == DSVM_HTTP_TOKEN_PENDING) {
                prev = x;
                x = next;
                continue;
            }
            if (rc < 0) {
                char *why = strdup(dsvm_error_last()->message);

                remove_waiting(h, x, prev);
                fail_waiting(h, x, DSVM_EAUTH, why ? why : "no token");
                free(why);
                x = next;
                continue;
            }
        }
        rc = dsvm_ratelimit_acquire(&wait, h->rl, x->subscription, x->bucket, now);
        if (rc == 0 && wait > 0) {
            if (!x->waited_bucket) {
                h->stats.bucket_waits++;
                x->waited_bucket = 1;
            }
            x->not_before_ms = now + wait;
            if (x->not_before_ms < *wake)
                *wake = x->not_before_ms;
            prev = x;
            x = next;
            continue;
        }
        remove_waiting(h, x, prev);
        x->waited_bucket = 0;
        if (rc == 0)
            rc = start_attempt(h, x, token);
        if (rc < 0) {
            char *why = strdup(dsvm_error_last()->message);

            attempt_clear(x);
            fail_waiting(h, x, DSVM_ERROR, why ? why : "cannot start the request");
            free(why);
        }
        x = next;
    }
}

static int64_t retry_after_of(dsvm_http *h, xfer *x)
{
    const char *ms = header_of(x->easy, "retry-after-ms");
    const char *v = header_of(x->easy, "Retry-After");
    int64_t out = -1;

    if (ms && dsvm_http_parse_retry_after(&out, ms, 0) == 0)
        out /= 1000;
    else if (!v || dsvm_http_parse_retry_after(&out, v, time(NULL)) < 0)
        out = -1;
    if (out > h->opts.retry_after_max_ms)
        out = h->opts.retry_after_max_ms;
    return out;
}

/* Follow the server's count of what is left in this subscription's bucket. */
static void observe_remaining(dsvm_http *h, xfer *x, int64_t now)
{
    static const char *const names[DSVM_BUCKET_COUNT] = {
        "x-ms-ratelimit-remaining-subscription-reads",
        "x-ms-ratelimit-remaining-subscription-writes",
        "x-ms-ratelimit-remaining-subscription-deletes",
    };
    const char *v;
    char *end;
    long n;

    if (x->bucket >= DSVM_BUCKET_COUNT)
        return;
    v = header_of(x->easy, names[x->bucket]);
    if (!v)
        return;
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno || end == v || n < 0)
        return;
    dsvm_ratelimit_observe(h->rl, x->subscription, x->bucket, now, (double)n);
}

static void inflight_remove(dsvm_http *h, xfer *x)
{
    xfer **pp;

    for (pp = &h->inflight; *pp; pp = &(*pp)->next_run) {
        if (*pp == x) {
            *pp = x->next_run;
            x->next_run = NULL;
            h->running--;
            return;
        }
    }
}

/* One attempt finished: retry it, or complete it. */
static void finish_attempt(dsvm_http *h, xfer *x, CURLcode cc)
{
    int64_t now = dsvm_http_now_ms(), delay, retry_after = -1;
    curl_off_t up = 0, down = 0;
    long status = 0;
    answer a;
    int kind, retry = 0;
    char *summary = NULL;

    inflight_remove(h, x);
    curl_multi_remove_handle(h->multi, x->easy);
    if (cc == CURLE_OK)
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(x->easy, CURLINFO_SIZE_UPLOAD_T, &up);
    curl_easy_getinfo(x->easy, CURLINFO_SIZE_DOWNLOAD_T, &down);
    h->stats.bytes_sent += (uint64_t)up;
    h->stats.bytes_received += (uint64_t)down;
    if (cc != CURLE_OK)
        h->stats.transport_errors++;
    else if (status >= 100 && status < 600)
        h->stats.responses_by_class[status / 100]++;
    if (status == 429)
        h->stats.throttled++;

    parse_answer(&a, x, status);
    summary = summarize(x, status, (int)cc, &a);
    if (cc == CURLE_OK && status != 429)
        observe_remaining(h, x, now);

    if (status == 401 && x->token && !x->auth_retried && h->has_auth) {
        /* one fresh token, once; not counted as an attempt */
        dsvm_log_write(h->opts.log, DSVM_LEVEL_WARN, "%s; fetching a new token and retrying once",
                       summary ? summary : "401");
        h->auth.refused(x->audience, x->token, h->auth.payload);
        x->auth_retried = 1;
        x->attempts--;
        h->stats.auth_retries++;
        retry = 1;
        delay = 0;
        goto requeue;
    }

    kind = (x->flags & DSVM_HTTP_NO_RETRY) ? 0 : dsvm_http_retryable((int)cc, status, a.code);
    if ((x->flags & DSVM_HTTP_IMDS) && (status == 404 || status == 410) &&
        !(x->flags & DSVM_HTTP_NO_RETRY))
        kind = 1; /* IMDS answers these while an identity is being attached */
    if (kind == 1 && x->attempts < h->opts.max_attempts)
        retry = 1;
    if (kind == 2) {
        if (!x->pnf_deadline_ms)
            x->pnf_deadline_ms = now + h->opts.principal_not_found_ms;
        retry = now < x->pnf_deadline_ms;
    }
    if (status == 408 || status == 429 || status >= 500)
        retry_after = retry_after_of(h, x);
    if (status == 429) {
        /* the server's bucket is empty: ours must be too */
        dsvm_ratelimit_drain(h->rl, x->subscription, x->bucket, now,
                             retry_after > 0 ? retry_after : 0);
    }
    if (!retry)
        goto final;
    delay = retry_after >= 0 ? retry_after
                             : dsvm_http_backoff_ms(x->attempts - 1, h->opts.backoff_base_ms,
                                                    h->opts.backoff_max_ms, next_random(h));
    h->stats.retries++;
    dsvm_log_write(h->opts.log, DSVM_LEVEL_WARN, "%s; retry %d in %lld ms",
                   summary ? summary : x->safe_url, x->attempts, (long long)delay);
requeue:
    json_decref(a.json);
    free(summary);
    attempt_clear(x);
    x->not_before_ms = now + delay;
    waiting_push(h, x);
    return;

final:
    if (cc != CURLE_OK || status >= 400) {
        dsvm_log_level lvl = DSVM_LEVEL_ERROR;

        if (status == 404 && ((x->flags & DSVM_HTTP_EXPECT_404) || !strcmp(x->method, "HEAD")))
            lvl = DSVM_LEVEL_DEBUG;
        dsvm_log_write(h->opts.log, lvl, "%s%s", summary ? summary : x->safe_url,
                       x->attempts > 1 ? " (after retries)" : "");
    }
    complete(h, x, cc != CURLE_OK ? DSVM_ENET : 0,
             (cc != CURLE_OK || status >= 400) ? summary : NULL, status, &a);
    json_decref(a.json);
    free(summary);
}

int dsvm_http_run(dsvm_http *h)
{
    while (h->waiting || h->running) {
        int64_t now = dsvm_http_now_ms(), wake = now + 1000;
        int still = 0, msgs = 0, timeout;
        CURLMsg *m;

        if (dsvm_http_stopping(h) && h->waiting) {
            int n = 0;

            while (h->waiting) {
                xfer *x = h->waiting;

                remove_waiting(h, x, NULL);
                complete(h, x, DSVM_ERROR, "cancelled: shutting down", 0, NULL);
                n++;
            }
            dsvm_log_write(h->opts.log, DSVM_LEVEL_WARN,
                           "shutting down: %d queued requests cancelled, %d on the wire finish", n,
                           h->running);
        }
        start_ready(h, now, &wake);
        if (!h->waiting && !h->running)
            break;
        timeout = wake > now ? (int)(wake - now) : 0;
        if (curl_multi_poll(h->multi, NULL, 0, timeout, NULL) != CURLM_OK ||
            curl_multi_perform(h->multi, &still) != CURLM_OK) {
            dsvm_error_set(DSVM_ERRCLASS_NET, "the libcurl multi interface failed");
            return DSVM_ERROR;
        }
        for (m = curl_multi_info_read(h->multi, &msgs); m;
             m = curl_multi_info_read(h->multi, &msgs)) {
            xfer *x = NULL;

            if (m->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            if (x)
                finish_attempt(h, x, m->data.result);
        }
    }
    return 0;
}

void dsvm_http_free(dsvm_http *h)
{
    int guard = 0;
    xfer *x;

    if (!h)
        return;
    /* complete what is left; a callback that submits again is cut off after a few rounds */
    while ((h->waiting || h->inflight) && guard++ < 16) {
        while (h->waiting) {
            x = h->waiting;
            remove_waiting(h, x, NULL);
            complete(h, x, DSVM_ERROR, "cancelled: the HTTP loop was shut down", 0, NULL);
        }
        while (h->inflight) {
            x = h->inflight;
            inflight_remove(h, x);
            complete(h, x, DSVM_ERROR, "cancelled: the HTTP loop was shut down", 0, NULL);
        }
    }
    while (h->waiting) {
        x = h->waiting;
        remove_waiting(h, x, NULL);
        xfer_free(x);
    }
    curl_multi_cleanup(h->multi);
    curl_share_cleanup(h->share);
    dsvm_ratelimit_free(h->rl);
    free(h->ca_file);
    free(h);
    curl_global_cleanup();
}

const char *dsvm_http_response_header(const dsvm_http_response *resp, const char *name)
{
    const xfer *x = resp->internal;

    return x ? header_of(x->easy, name) : NULL;
}

int dsvm_http_response_error(const dsvm_http_response *resp)
{
    const char *msg = resp->message ? resp->message : "request failed";

    if (resp->error) {
        dsvm_error_set(DSVM_ERRCLASS_NET, "%s", msg);
        return resp->error;
    }
    if (resp->status < 400)
        return 0;
    dsvm_error_set(DSVM_ERRCLASS_NET, "%s", msg);
    if (resp->status == 401 || resp->status == 403)
        return DSVM_EAUTH;
    if (resp->status == 404)
        return DSVM_ENOTFOUND;
    return DSVM_ERROR;
}
