/*
 * The daemon's HTTP server on libmicrohttpd. MHD runs a polling thread
 * with a small pool of worker threads, so a slow client holds a
 * connection slot (bounded by CONN_LIMIT and an idle timeout), never a
 * thread. Each request collects its body (at most DSVM_HOOK_MAX_BODY
 * bytes; up to as much again is read and dropped so that the client gets
 * its 400, and past that the connection is closed) and is answered once,
 * on MHD's last call for it.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "dsvmops/error.h"
#include "fmt.h"
#include "server.h"
#include "webhook.h"

#define THREADS         2
#define CONN_LIMIT      64
#define CONN_TIMEOUT_S  15
#define LISTEN_BACKLOG  64
#define CONTENT_JSON    "application/json"
#define CONTENT_TEXT    "text/plain; charset=utf-8"
#define CONTENT_METRICS "text/plain; version=0.0.4; charset=utf-8"

struct dsvm_server {
    struct MHD_Daemon *mhd;
    dsvm_server_opts opts; /* callbacks, payload, borrowed metrics and log */
    char *ref;
    int port;
    pthread_mutex_t lock; /* guards the two secrets */
    char *webhook_secret;
    char *api_token;
};

/* One request: its body so far. */
typedef struct {
    char *body;
    size_t len, cap;
    int too_big;
    size_t dropped; /* bytes past the cap */
    int answered;   /* a 400 went out before the body was read */
} request;

static char *dup_or_null(const char *s, int *failed)
{
    char *d;

    if (!s)
        return NULL;
    d = strdup(s);
    if (!d)
        *failed = 1;
    return d;
}

static void free_secret(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

/* Queue `len` bytes of malloc'd `text` (taken) with a status and a content type. */
static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             char *text, size_t len, const char *allow)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* A JSON body {key: message} (jansson escapes it), plus a newline. */
static enum MHD_Result reply_json(struct MHD_Connection *c, unsigned status, const char *key,
                                  const char *message, const char *allow)
{
    json_t *doc = json_pack("{s:s}", key, message ? message : "");
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    char *line;
    size_t n;

    json_decref(doc);
    if (!text)
        return MHD_NO;
    n = strlen(text);
    line = realloc(text, n + 2);
    if (!line) {
        free(text);
        return MHD_NO;
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    return reply(c, status, CONTENT_JSON, line, n + 1, allow);
}

static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, const char *message)
{
    return reply_json(c, status, "error", message, NULL);
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status, const char *type,
                                  const char *text)
{
    char *copy = strdup(text);

    if (!copy)
        return MHD_NO;
    return reply(c, status, type, copy, strlen(copy), NULL);
}

static enum MHD_Result method_not_allowed(struct MHD_Connection *c, const char *allow)
{
    return reply_json(c, MHD_HTTP_METHOD_NOT_ALLOWED, "error", "method not allowed", allow);
}

/* The client's address as text, for log lines; "?" when unknown. */
static void client_name(char *out, size_t size, struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = info ? info->client_addr : NULL;
    socklen_t len = 0;

    if (sa && sa->sa_family == AF_INET)
        len = sizeof(struct sockaddr_in);
    else if (sa && sa->sa_family == AF_INET6)
        len = sizeof(struct sockaddr_in6);
    if (!len || getnameinfo(sa, len, out, (socklen_t)size, NULL, 0, NI_NUMERICHOST) != 0)
        snprintf(out, size, "?");
}

static int is_loopback(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = info ? info->client_addr : NULL;

    if (!sa)
        return 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        const uint8_t *a = in6->sin6_addr.s6_addr;

        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
            return 1;
        return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && a[12] == 127;
    }
    return 0;
}

/* Copy a secret under the lock; NULL when unset. Sets *failed when out of memory. */
static char *copy_secret(dsvm_server *s, char *const *which, int *failed)
{
    char *copy;

    pthread_mutex_lock(&s->lock);
    copy = dup_or_null(*which, failed);
    pthread_mutex_unlock(&s->lock);
    return copy;
}

/* Whether the API may be used: a matching bearer token, or loopback when no token is set. */
static int api_allowed(dsvm_server *s, struct MHD_Connection *c, int *failed)
{
    char *token = copy_secret(s, &s->api_token, failed);
    const char *auth;
    unsigned char want[32], got[32];
    int ok = 0;

    if (*failed)
        return 0;
    if (!token)
        return is_loopback(c);
    auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
        const char *given = auth + 7;

        while (*given == ' ')
            given++;
        /* Hash both so the comparison takes the same time whatever their lengths. */
        if (EVP_Digest(token, strlen(token), want, NULL, EVP_sha256(), NULL) &&
            EVP_Digest(given, strlen(given), got, NULL, EVP_sha256(), NULL))
            ok = CRYPTO_memcmp(want, got, sizeof(want)) == 0;
    }
    free_secret(token);
    return ok;
}

/* Answer an approve or suspend callback's (status, message). */
static enum MHD_Result reply_action(struct MHD_Connection *c, int status, char *message)
{
    enum MHD_Result ret;

    if (status < 200 || status > 599) {
        free(message);
        return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "the action gave no answer");
    }
    ret = reply_json(c, (unsigned)status, status < 400 ? "message" : "error",
                     message ? message : "", NULL);
    free(message);
    return ret;
}

static enum MHD_Result serve_api(dsvm_server *s, struct MHD_Connection *c, const char *url,
                                 const request *req)
{
    char *message = NULL, who[64];
    int failed = 0, status, on = 1;

    if (!api_allowed(s, c, &failed)) {
        if (failed)
            return MHD_NO;
        client_name(who, sizeof(who), c);
        dsvm_log_write(s->opts.log, DSVM_LEVEL_WARN, "%s from %s refused: no valid API token", url,
                       who);
        return reply_error(c, MHD_HTTP_FORBIDDEN,
                           "forbidden: send \"Authorization: Bearer <api token>\", or call from "
                           "loopback when no token is set");
    }
    if (req->too_big)
        return reply_error(c, MHD_HTTP_BAD_REQUEST, "the body is larger than 1 MiB");
    if (strcmp(url, "/api/v1/approve") == 0) {
        if (!s->opts.approve)
            return reply_error(c, MHD_HTTP_NOT_IMPLEMENTED, "approve is not available");
        status = s->opts.approve(&message, s->opts.payload);
        return reply_action(c, status, message);
    }
    if (req->len > 0) {
        json_error_t err;
        json_t *doc = json_loadb(req->body, req->len, 0, &err);
        json_t *v = json_is_object(doc) ? json_object_get(doc, "suspend") : NULL;

        if (!json_is_boolean(v)) {
            json_decref(doc);
            return reply_error(c, MHD_HTTP_BAD_REQUEST,
                               "the body must be {\"suspend\": true} or {\"suspend\": false}");
        }
        on = json_is_true(v);
        json_decref(doc);
    }
    if (!s->opts.suspend)
        return reply_error(c, MHD_HTTP_NOT_IMPLEMENTED, "suspend is not available");
    status = s->opts.suspend(on, &message, s->opts.payload);
    return reply_action(c, status, message);
}

static enum MHD_Result serve_hook(dsvm_server *s, struct MHD_Connection *c, dsvm_hook_kind kind,
                                  const char *name, const request *req)
{
    const char *auth_header, *event_header = NULL;
    char *secret, who[64];
    dsvm_hook_event ev;
    int failed = 0, rc, idx;

    secret = copy_secret(s, &s->webhook_secret, &failed);
    if (failed)
        return MHD_NO;
    if (!secret || !*secret) {
        free_secret(secret);
        return reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "no webhook secret configured");
    }
    if (req->too_big) {
        free_secret(secret);
        client_name(who, sizeof(who), c);
        dsvm_log_write(s->opts.log, DSVM_LEVEL_WARN,
                       "webhook %s from %s refused: the body is larger than 1 MiB", name, who);
        return reply_error(c, MHD_HTTP_BAD_REQUEST, "the body is larger than 1 MiB");
    }
    if (kind == DSVM_HOOK_AZURE_DEVOPS) {
        auth_header =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        rc = dsvm_hook_verify_basic(secret, auth_header);
    } else {
        auth_header = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                  kind == DSVM_HOOK_GITHUB ? "X-Hub-Signature-256"
                                                                           : "X-Dsvmops-Signature");
        rc = dsvm_hook_verify_hmac(secret, req->body, req->len, auth_header);
    }
    free_secret(secret);
    if (rc == DSVM_ENOMEM)
        return MHD_NO;
    if (rc < 0) {
        client_name(who, sizeof(who), c);
        /* dsvm_error_last() says what was wrong; it never quotes the header. */
        dsvm_log_write(s->opts.log, DSVM_LEVEL_WARN, "webhook %s from %s refused: %s", name, who,
                       dsvm_error_last()->message);
        return reply_error(c, MHD_HTTP_UNAUTHORIZED, "bad or missing signature");
    }
    if (kind == DSVM_HOOK_GITHUB)
        event_header = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-GitHub-Event");
    rc = dsvm_hook_parse(&ev, kind, event_header, req->body, req->len);
    if (rc == DSVM_ENOMEM)
        return MHD_NO;
    if (rc < 0) {
        /* The body was signed by the sender, so its parser message is safe to log. */
        client_name(who, sizeof(who), c);
        dsvm_log_write(s->opts.log, DSVM_LEVEL_WARN, "webhook %s from %s refused: %s", name, who,
                       dsvm_error_last()->message);
        return reply_error(c, MHD_HTTP_BAD_REQUEST, dsvm_error_last()->message);
    }
    if (ev.type == DSVM_HOOK_EVENT_PING) {
        dsvm_hook_event_clear(&ev);
        return reply_json(c, MHD_HTTP_OK, "message", "pong", NULL);
    }
    if (ev.type == DSVM_HOOK_EVENT_OTHER) {
        dsvm_hook_event_clear(&ev);
        return reply_json(c, MHD_HTTP_ACCEPTED, "message", "ignored: not a push event", NULL);
    }
    idx = dsvm_hook_matches(&ev, s->ref);
    if (idx < 0) {
        dsvm_hook_event_clear(&ev);
        return reply_json(c, MHD_HTTP_ACCEPTED, "message",
                          "ignored: the push does not touch the watched branch", NULL);
    }
    if (s->opts.trigger)
        s->opts.trigger(name, (size_t)idx < ev.nrefs ? ev.commits[idx] : NULL, s->opts.payload);
    dsvm_hook_event_clear(&ev);
    return reply_json(c, MHD_HTTP_ACCEPTED, "message", "reconcile triggered", NULL);
}

static enum MHD_Result serve_get(dsvm_server *s, struct MHD_Connection *c, const char *url)
{
    char *text = NULL, *why = NULL;
    enum MHD_Result ret;

    if (strcmp(url, "/healthz") == 0)
        return reply_text(c, MHD_HTTP_OK, CONTENT_TEXT, "ok\n");
    if (strcmp(url, "/metrics") == 0) {
        if (!s->opts.metrics)
            return reply_text(c, MHD_HTTP_OK, CONTENT_METRICS, "");
        if (dsvm_metrics_render(&text, s->opts.metrics) < 0)
            return MHD_NO;
        return reply(c, MHD_HTTP_OK, CONTENT_METRICS, text, strlen(text), NULL);
    }
    if (strcmp(url, "/readyz") == 0) {
        if (!s->opts.ready || s->opts.ready(&why, s->opts.payload))
            return reply_json(c, MHD_HTTP_OK, "status", "ready", NULL);
        ret = reply_json(c, MHD_HTTP_SERVICE_UNAVAILABLE, "error", why ? why : "not ready", NULL);
        free(why);
        return ret;
    }
    /* /api/v1/status */
    text = s->opts.status ? s->opts.status(s->opts.payload) : NULL;
    if (!text)
        return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "no status available");
    return reply(c, MHD_HTTP_OK, CONTENT_JSON, text, strlen(text), NULL);
}

typedef enum { ROUTE_GET, ROUTE_API, ROUTE_HOOK } route_kind;

static const struct {
    const char *path;
    route_kind kind;
    dsvm_hook_kind hook;
    const char *name;
} routes[] = {
    {"/metrics", ROUTE_GET, 0, NULL},
    {"/healthz", ROUTE_GET, 0, NULL},
    {"/readyz", ROUTE_GET, 0, NULL},
    {"/api/v1/status", ROUTE_GET, 0, NULL},
    {"/api/v1/approve", ROUTE_API, 0, NULL},
    {"/api/v1/suspend", ROUTE_API, 0, NULL},
    {"/hooks/github", ROUTE_HOOK, DSVM_HOOK_GITHUB, "github"},
    {"/hooks/azure-devops", ROUTE_HOOK, DSVM_HOOK_AZURE_DEVOPS, "azure-devops"},
    {"/hooks/generic", ROUTE_HOOK, DSVM_HOOK_GENERIC, "generic"},
};

static enum MHD_Result route(dsvm_server *s, struct MHD_Connection *c, const char *url,
                             const char *method, const request *req)
{
    size_t i;
    int get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    int post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;

    for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (strcmp(url, routes[i].path) != 0)
            continue;
        if (routes[i].kind == ROUTE_GET)
            return get ? serve_get(s, c, url) : method_not_allowed(c, "GET, HEAD");
        if (!post)
            return method_not_allowed(c, "POST");
        if (routes[i].kind == ROUTE_API)
            return serve_api(s, c, url, req);
        return serve_hook(s, c, routes[i].hook, routes[i].name, req);
    }
    return reply_error(c, MHD_HTTP_NOT_FOUND, "not found");
}

/*
 * Append a chunk of the body, or drop it once past the cap. Returns -1
 * (close the connection) when out of memory or when a client keeps
 * sending far past the cap.
 */
static int take_body(request *req, const char *data, size_t n)
{
    if (req->too_big || n > DSVM_HOOK_MAX_BODY - req->len) {
        req->too_big = 1;
        if (n > DSVM_HOOK_MAX_BODY - req->dropped)
            return -1;
        req->dropped += n;
        return 0;
    }
    if (req->len + n > req->cap) {
        size_t cap = req->cap ? req->cap : 4096;
        char *p;

        while (cap < req->len + n)
            cap *= 2;
        p = realloc(req->body, cap);
        if (!p)
            return -1;
        req->body = p;
        req->cap = cap;
    }
    memcpy(req->body + req->len, data, n);
    req->len += n;
    return 0;
}

/* A Content-Length over the cap: answer 400 before the body is sent. */
static int declared_too_big(struct MHD_Connection *c)
{
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    unsigned long long n;
    char *end;

    if (!cl)
        return 0;
    errno = 0;
    n = strtoull(cl, &end, 10);
    return end != cl && (errno == ERANGE || n > DSVM_HOOK_MAX_BODY);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    dsvm_server *s = cls;
    request *req = *con_cls;
    enum MHD_Result ret;

    (void)version;
    if (!req) {
        req = calloc(1, sizeof(*req));
        if (!req)
            return MHD_NO;
        *con_cls = req;
        if (declared_too_big(c)) {
            char who[64];

            client_name(who, sizeof(who), c);
            dsvm_log_write(s->opts.log, DSVM_LEVEL_WARN,
                           "request from %s refused: Content-Length over 1 MiB", who);
            req->answered = 1;
            return reply_error(c, MHD_HTTP_BAD_REQUEST, "the body is larger than 1 MiB");
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!req->answered && take_body(req, upload_data, *upload_data_size) < 0)
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->answered)
        return MHD_YES;
    req->answered = 1;
    ret = route(s, c, url, method, req);
    /* The last error is per thread, and MHD's threads outlive the request. */
    dsvm_error_clear();
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    request *req = *con_cls;

    (void)cls;
    (void)c;
    (void)toe;
    if (req) {
        free(req->body);
        free(req);
        *con_cls = NULL;
    }
}

/* libmicrohttpd's own messages end in a newline; the log adds its own. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char *line = dsvm_vfmt(fmt, ap);
    size_t n;

    if (!line)
        return;
    n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    dsvm_log_write(cls, DSVM_LEVEL_WARN, "http server: %s", line);
    free(line);
}

/*
 * Split "HOST:PORT" ("[::1]:PORT" for IPv6; an empty HOST means every
 * address) and bind a non-blocking listening socket. Returns the socket,
 * or a negative DSVM_E* code with the error set.
 */
static int open_listener(const char *listen_on, int *ipv6)
{
    struct addrinfo hints, *res = NULL;
    const char *colon, *host_start = listen_on;
    char host[256], port[8];
    size_t hlen;
    char *end;
    long p;
    int fd, one = 1, gai;

    colon = listen_on ? strrchr(listen_on, ':') : NULL;
    if (!colon)
        goto bad;
    hlen = (size_t)(colon - listen_on);
    if (hlen >= 2 && listen_on[0] == '[' && listen_on[hlen - 1] == ']') {
        host_start++;
        hlen -= 2;
    } else if (memchr(listen_on, ':', hlen)) {
        goto bad;
    }
    if (hlen >= sizeof(host))
        goto bad;
    memcpy(host, host_start, hlen);
    host[hlen] = '\0';
    errno = 0;
    p = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || errno || p < 0 || p > 65535)
        goto bad;
    snprintf(port, sizeof(port), "%ld", p);

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    gai = getaddrinfo(hlen ? host : NULL, port, &hints, &res);
    if (gai != 0) {
        dsvm_error_set(DSVM_ERRCLASS_CONFIG, "server.listen \"%s\": %s", listen_on,
                       gai_strerror(gai));
        return DSVM_EINVALID;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
        int err = errno;

        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        dsvm_error_set(DSVM_ERRCLASS_OS, "cannot listen on %s: %s", listen_on, strerror(err));
        return DSVM_EIO;
    }
    *ipv6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return fd;
bad:
    dsvm_error_set(DSVM_ERRCLASS_CONFIG,
                   "server.listen \"%s\" is not HOST:PORT (e.g. 127.0.0.1:9464 or [::1]:9464)",
                   listen_on ? listen_on : "");
    return DSVM_EINVALID;
}

void dsvm_server_stop(dsvm_server *s)
{
    if (!s)
        return;
    if (s->mhd)
        MHD_stop_daemon(s->mhd);
    free(s->ref);
    free_secret(s->webhook_secret);
    free_secret(s->api_token);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int dsvm_server_start(dsvm_server **out, const dsvm_server_opts *opts)
{
    const union MHD_DaemonInfo *info;
    unsigned int flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    dsvm_server *s;
    int fd, ipv6 = 0, failed = 0;

    fd = open_listener(opts->listen, &ipv6);
    if (fd < 0)
        return fd;
    s = calloc(1, sizeof(*s));
    if (!s || pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        close(fd);
        return dsvm_error_oom();
    }
    s->opts = *opts;
    s->ref = dup_or_null(opts->ref ? opts->ref : "main", &failed);
    s->webhook_secret = dup_or_null(opts->webhook_secret, &failed);
    s->api_token = dup_or_null(opts->api_token, &failed);
    s->opts.ref = s->ref;
    s->opts.webhook_secret = NULL;
    s->opts.api_token = NULL;
    if (failed) {
        close(fd);
        dsvm_server_stop(s);
        return dsvm_error_oom();
    }
    if (ipv6)
        flags |= MHD_USE_IPv6;
    /* The logger comes first so that MHD's messages about the other options reach it. */
    s->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, opts->log,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)THREADS,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)CONN_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)CONN_TIMEOUT_S, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    if (!s->mhd) {
        close(fd);
        dsvm_error_set(DSVM_ERRCLASS_OS, "cannot start the HTTP server on %s", opts->listen);
        dsvm_server_stop(s);
        return DSVM_EIO;
    }
    info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? (int)info->port : 0;
    *out = s;
    return 0;
}

int dsvm_server_port(const dsvm_server *s)
{
    return s->port;
}

int dsvm_server_set_secrets(dsvm_server *s, const char *webhook_secret, const char *api_token)
{
    char *hook, *token;
    int failed = 0;

    hook = dup_or_null(webhook_secret, &failed);
    token = dup_or_null(api_token, &failed);
    if (failed) {
        free_secret(hook);
        free_secret(token);
        return dsvm_error_oom();
    }
    pthread_mutex_lock(&s->lock);
    free_secret(s->webhook_secret);
    free_secret(s->api_token);
    s->webhook_secret = hook;
    s->api_token = token;
    pthread_mutex_unlock(&s->lock);
    return 0;
}
