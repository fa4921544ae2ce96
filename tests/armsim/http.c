/* The HTTP layer: libmicrohttpd glue, request bodies, delayed answers through
 * suspend/resume, connection resets, and the top-level routing. */
#define _GNU_SOURCE /* vasprintf, strcasestr */
#include "armsim.h"
#include "http.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>

#include <microhttpd.h>

struct delayed {
    int64_t due_ms;
    struct MHD_Connection *conn;
    struct delayed *next;
};

struct http {
    struct ctx *c;
    struct MHD_Daemon *d;
    pthread_t timer;
    int timer_started;
    pthread_mutex_t qlock;
    pthread_cond_t qcond;
    struct delayed *queue; /* sorted by due_ms */
    int stop;              /* resume everything at once */
    int exit;              /* end the timer thread */
    char *cert;
    char *key;
};

struct conn_state {
    struct membuf body;
    struct resp resp;
    int ready;
};

void resp_header(struct resp *r, const char *name, const char *fmt, ...)
{
    va_list ap;
    char *v = NULL;
    struct hdr *h;
    va_start(ap, fmt);
    if (vasprintf(&v, fmt, ap) < 0)
        abort();
    va_end(ap);
    for (size_t i = 0; i < r->nhdrs; i++) {
        if (strcasecmp(r->hdrs[i].name, name) == 0) {
            free(r->hdrs[i].value);
            r->hdrs[i].value = v;
            return;
        }
    }
    h = realloc(r->hdrs, (r->nhdrs + 1) * sizeof(*h));
    if (!h)
        abort();
    r->hdrs = h;
    h[r->nhdrs].name = xstrdup(name);
    h[r->nhdrs].value = v;
    r->nhdrs++;
}

void resp_json(struct resp *r, int status, json_t *body)
{
    r->status = status;
    json_decref(r->body);
    r->body = body;
}

void resp_error(struct resp *r, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    char *msg = NULL;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        abort();
    va_end(ap);
    resp_json(r, status, json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg));
    free(msg);
}

void resp_clear(struct resp *r)
{
    json_decref(r->body);
    free(r->raw);
    for (size_t i = 0; i < r->nhdrs; i++) {
        free(r->hdrs[i].name);
        free(r->hdrs[i].value);
    }
    free(r->hdrs);
    memset(r, 0, sizeof(*r));
}

const char *req_query(const struct req *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *req_header(const struct req *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

static void dispatch(struct ctx *c, struct req *rq, struct resp *r)
{
    const char *p = rq->path;
    if (strncmp(p, "/_armsim/", 9) == 0) {
        control_handle(c, rq, r);
        return;
    }
    if (strcmp(p, "/metadata/identity/oauth2/token") == 0) {
        auth_imds(c, rq, r);
        return;
    }
    if (strncmp(p, "/keyvault/", 10) == 0) {
        kv_handle(c, rq, p + 10, r);
        stats_count_kv(c, rq->method, r->status);
        r->delay_ms += c->latency_ms;
        return;
    }
    if (strncasecmp(p, "/subscriptions", 14) == 0 || strncasecmp(p, "/providers/", 11) == 0) {
        arm_handle(c, rq, r);
        r->delay_ms += c->latency_ms;
        return;
    }
    if (p[0] == '/') {
        const char *slash = strchr(p + 1, '/');
        if (slash &&
            (strcmp(slash, "/oauth2/v2.0/token") == 0 || strcmp(slash, "/oauth2/token") == 0)) {
            char *tenant = strndup(p + 1, (size_t)(slash - p - 1));
            auth_token_endpoint(c, rq, tenant, r);
            free(tenant);
            return;
        }
    }
    resp_error(r, 404, "NotFound", "armsim does not serve %s", p);
}

static void reset_connection(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci) {
        struct linger lg = {1, 0};
        setsockopt(ci->connect_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        shutdown(ci->connect_fd, SHUT_RDWR);
    }
}

static enum MHD_Result send_resp(struct MHD_Connection *conn, struct resp *r)
{
    struct MHD_Response *mr;
    enum MHD_Result ret;
    char *text = NULL;
    size_t len = 0;
    if (r->body) {
        text = json_dumps(r->body, JSON_COMPACT);
        len = strlen(text);
    } else if (r->raw) {
        text = r->raw;
        r->raw = NULL;
        len = strlen(text);
    }
    mr = MHD_create_response_from_buffer(len, text ? text : (char *)"",
                                         text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!mr) {
        free(text);
        return MHD_NO;
    }
    if (text || r->status == 200)
        MHD_add_response_header(mr, "Content-Type",
                                r->content_type ? r->content_type
                                                : "application/json; charset=utf-8");
    for (size_t i = 0; i < r->nhdrs; i++)
        MHD_add_response_header(mr, r->hdrs[i].name, r->hdrs[i].value);
    ret = MHD_queue_response(conn, (unsigned)r->status, mr);
    MHD_destroy_response(mr);
    return ret;
}

static void enqueue_delay(struct http *h, struct MHD_Connection *conn, unsigned ms)
{
    struct delayed *d = calloc(1, sizeof(*d)), **pp;
    if (!d)
        abort();
    d->due_ms = now_ms() + ms;
    d->conn = conn;
    pthread_mutex_lock(&h->qlock);
    for (pp = &h->queue; *pp && (*pp)->due_ms <= d->due_ms; pp = &(*pp)->next)
        ;
    d->next = *pp;
    *pp = d;
    pthread_cond_signal(&h->qcond);
    pthread_mutex_unlock(&h->qlock);
}

/* Resumes suspended connections when their delay has passed. */
static void *timer_main(void *arg)
{
    struct http *h = arg;
    pthread_mutex_lock(&h->qlock);
    while (!h->exit) {
        int64_t now = now_ms();
        if (h->queue && (h->queue->due_ms <= now || h->stop)) {
            struct delayed *d = h->queue;
            h->queue = d->next;
            MHD_resume_connection(d->conn);
            free(d);
            continue;
        }
        if (h->queue) {
            struct timespec ts;
            int64_t due = h->queue->due_ms;
            ts.tv_sec = (time_t)(due / 1000);
            ts.tv_nsec = (long)(due % 1000) * 1000000L;
            pthread_cond_timedwait(&h->qcond, &h->qlock, &ts);
        } else
            pthread_cond_wait(&h->qcond, &h->qlock);
    }
    pthread_mutex_unlock(&h->qlock);
    return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct http *h = cls;
    struct conn_state *st = *con_cls;
    struct req rq;
    (void)version;
    if (!st) {
        st = calloc(1, sizeof(*st));
        if (!st)
            return MHD_NO;
        *con_cls = st;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (membuf_append(&st->body, upload_data, *upload_data_size) < 0)
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (st->ready) {
        if (st->resp.reset) {
            reset_connection(conn);
            return MHD_NO;
        }
        return send_resp(conn, &st->resp);
    }
    memset(&rq, 0, sizeof(rq));
    rq.conn = conn;
    rq.method = method;
    rq.path = url;
    rq.body = st->body.data ? st->body.data : "";
    rq.body_len = st->body.len;
    pthread_mutex_lock(&h->c->lock);
    store_begin(h->c);
    dispatch(h->c, &rq, &st->resp);
    store_commit(h->c);
    pthread_mutex_unlock(&h->c->lock);
    free(rq.caller);
    free(rq.caller_oid);
    st->ready = 1;
    if (st->resp.delay_ms) {
        MHD_suspend_connection(conn);
        enqueue_delay(h, conn, st->resp.delay_ms);
        return MHD_YES;
    }
    if (st->resp.reset) {
        reset_connection(conn);
        return MHD_NO;
    }
    return send_resp(conn, &st->resp);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct conn_state *st = *con_cls;
    (void)cls;
    (void)conn;
    (void)toe;
    if (!st)
        return;
    membuf_clear(&st->body);
    resp_clear(&st->resp);
    free(st);
    *con_cls = NULL;
}

/* libmicrohttpd's messages, minus the one every injected connection reset causes. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char *msg = NULL;
    (void)cls;
    if (vasprintf(&msg, fmt, ap) < 0)
        return;
    if (!strstr(msg, "Application reported internal error"))
        fprintf(stderr, "armsim: libmicrohttpd: %s", msg);
    free(msg);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    struct membuf b = {0};
    char chunk[4096];
    size_t n;
    if (!f) {
        fprintf(stderr, "armsim: cannot read %s: %s\n", path, strerror(errno));
        return NULL;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        membuf_append(&b, chunk, n);
    fclose(f);
    if (!b.data)
        membuf_append(&b, "", 0);
    return b.data;
}

int http_start(struct ctx *c, const char *host, int port, const char *cert_file,
               const char *key_file, unsigned threads, struct http **out, int *bound_port)
{
    struct http *h = calloc(1, sizeof(*h));
    struct sockaddr_in sa;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    const union MHD_DaemonInfo *di;
    if (!h)
        return -1;
    h->c = c;
    pthread_mutex_init(&h->qlock, NULL);
    pthread_cond_init(&h->qcond, NULL);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "armsim: --listen needs an IPv4 address, got %s\n", host);
        goto fail;
    }
    if (cert_file) {
        h->cert = read_file(cert_file);
        h->key = read_file(key_file);
        if (!h->cert || !h->key)
            goto fail;
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            fprintf(stderr, "armsim: this libmicrohttpd has no TLS support\n");
            goto fail;
        }
        flags |= MHD_USE_TLS;
    }
    if (pthread_create(&h->timer, NULL, timer_main, h) != 0)
        goto fail;
    h->timer_started = 1;
    if (cert_file)
        h->d = MHD_start_daemon(
            flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
            h, MHD_OPTION_CONNECTION_LIMIT, (unsigned)4096, MHD_OPTION_THREAD_POOL_SIZE, threads,
            MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024, MHD_OPTION_CONNECTION_TIMEOUT,
            (unsigned)120, MHD_OPTION_HTTPS_MEM_CERT, h->cert, MHD_OPTION_HTTPS_MEM_KEY, h->key,
            MHD_OPTION_END);
    else
        h->d = MHD_start_daemon(
            flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
            h, MHD_OPTION_CONNECTION_LIMIT, (unsigned)4096, MHD_OPTION_THREAD_POOL_SIZE, threads,
            MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024, MHD_OPTION_CONNECTION_TIMEOUT,
            (unsigned)120, MHD_OPTION_END);
    if (!h->d) {
        fprintf(stderr, "armsim: cannot listen on %s:%d\n", host, port);
        goto fail;
    }
    di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    *bound_port = di ? di->port : port;
    *out = h;
    return 0;
fail:
    http_stop(h);
    return -1;
}

void http_stop(struct http *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->qlock);
    h->stop = 1;
    pthread_cond_signal(&h->qcond);
    pthread_mutex_unlock(&h->qlock);
    if (h->d)
        MHD_stop_daemon(h->d);
    if (h->timer_started) {
        pthread_mutex_lock(&h->qlock);
        h->exit = 1;
        pthread_cond_signal(&h->qcond);
        pthread_mutex_unlock(&h->qlock);
        pthread_join(h->timer, NULL);
    }
    while (h->queue) {
        struct delayed *d = h->queue;
        h->queue = d->next;
        free(d);
    }
    pthread_mutex_destroy(&h->qlock);
    pthread_cond_destroy(&h->qcond);
    free(h->cert);
    free(h->key);
    free(h);
}
