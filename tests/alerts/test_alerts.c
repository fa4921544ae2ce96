/*
 * Alert delivery end to end: a real dsvmops.yaml loaded with
 * dsvm_config_load(), a real SQLite state file, and a libmicrohttpd
 * receiver on 127.0.0.1 that records what it is sent and answers as each
 * test scripts it (500 a few times, slowly, or not at all when stopped).
 */
#include <arpa/inet.h>
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sqlite3.h>

#include "alert.h"
#include "config.h"
#include "dsvmops/error.h"
#include "log.h"
#include "metrics.h"
#include "state.h"

#define URL_TOKEN   "T0PSECRET-url-token-4f9c"
#define HMAC_SECRET "hmac-S3CRET-value-77d1"
#define MAX_REQ     64

/* ---- the receiver ------------------------------------------------------ */

typedef struct {
    char *path, *body, *signature, *event, *delivery, *ctype;
} request;

typedef struct {
    struct MHD_Daemon *d;
    unsigned short port;
    pthread_mutex_t mu;
    request req[MAX_REQ];
    int n;
    volatile int fail_first;  /* answer 500 to the first N requests */
    volatile int fail_always; /* answer 500 to every request */
    volatile int delay_ms;    /* wait this long before answering */
    volatile int stopping;
} receiver;

typedef struct {
    char *data;
    size_t len;
} upload;

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    receiver *r = cls;
    upload *u = *con_cls;
    struct MHD_Response *resp;
    enum MHD_Result ret;
    unsigned status = 200;
    int waited;

    (void)method;
    (void)version;
    if (!u) {
        u = calloc(1, sizeof(*u));
        *con_cls = u;
        return u ? MHD_YES : MHD_NO;
    }
    if (*upload_data_size) {
        char *g = realloc(u->data, u->len + *upload_data_size + 1);

        if (!g)
            return MHD_NO;
        u->data = g;
        memcpy(u->data + u->len, upload_data, *upload_data_size);
        u->len += *upload_data_size;
        u->data[u->len] = '\0';
        *upload_data_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&r->mu);
    if (r->n < MAX_REQ) {
        request *q = &r->req[r->n++];

        q->path = strdup(url);
        q->body = strdup(u->data ? u->data : "");
        q->signature =
            dup_or_null(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Dsvmops-Signature"));
        q->event = dup_or_null(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Dsvmops-Event"));
        q->delivery =
            dup_or_null(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Dsvmops-Delivery"));
        q->ctype = dup_or_null(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type"));
    }
    if (r->fail_always || r->n <= r->fail_first)
        status = 500;
    pthread_mutex_unlock(&r->mu);
    for (waited = 0; waited < r->delay_ms && !r->stopping; waited += 10)
        usleep(10000);
    resp = MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT);
    ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    upload *u = *con_cls;

    (void)cls;
    (void)c;
    (void)toe;
    if (u) {
        free(u->data);
        free(u);
        *con_cls = NULL;
    }
}

/* Listen on 127.0.0.1:`port` (0: any free port). */
static void receiver_start(receiver *r, unsigned short port)
{
    struct sockaddr_in sa;
    const union MHD_DaemonInfo *di;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    r->stopping = 0;
    r->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0,
                            NULL, NULL, on_request, r, MHD_OPTION_SOCK_ADDR, &sa,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, r,
                            MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_END);
    assert_non_null(r->d);
    di = MHD_get_daemon_info(r->d, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(di);
    r->port = di->port;
}

static void receiver_stop(receiver *r)
{
    r->stopping = 1;
    if (r->d)
        MHD_stop_daemon(r->d);
    r->d = NULL;
}

static int receiver_count(receiver *r)
{
    int n;

    pthread_mutex_lock(&r->mu);
    n = r->n;
    pthread_mutex_unlock(&r->mu);
    return n;
}

static void receiver_clear(receiver *r)
{
    int i;

    for (i = 0; i < r->n; i++) {
        free(r->req[i].path);
        free(r->req[i].body);
        free(r->req[i].signature);
        free(r->req[i].event);
        free(r->req[i].delivery);
        free(r->req[i].ctype);
    }
    memset(r->req, 0, sizeof(r->req));
    r->n = 0;
}

/* ---- captured log lines ------------------------------------------------ */

typedef struct {
    pthread_mutex_t mu;
    char *lines[256];
    int n;
} captured;

static void capture(dsvm_log_level level, const char *line, void *payload)
{
    captured *c = payload;

    (void)level;
    pthread_mutex_lock(&c->mu);
    if (c->n < 256)
        c->lines[c->n++] = strdup(line);
    pthread_mutex_unlock(&c->mu);
}

/* How many captured lines contain every one of the NULL-terminated needles. */
static int lines_with(captured *c, ...)
{
    int i, count = 0;

    pthread_mutex_lock(&c->mu);
    for (i = 0; i < c->n; i++) {
        va_list ap;
        const char *needle;
        int all = 1;

        va_start(ap, c);
        while ((needle = va_arg(ap, const char *)) != NULL)
            all = all && c->lines[i] && strstr(c->lines[i], needle);
        va_end(ap);
        count += all;
    }
    pthread_mutex_unlock(&c->mu);
    return count;
}

/* ---- the fixture ------------------------------------------------------- */

typedef struct {
    char dir[64];
    char config[128];
    char state[128];
    char url[160];
    dsvm_log *log;
    captured cap;
    receiver rx;
    dsvm_metrics *metrics;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    if (!f)
        return -1;
    strcpy(f->dir, "/tmp/dsvm-alerts-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->config, sizeof(f->config), "%s/dsvmops.yaml", f->dir);
    snprintf(f->state, sizeof(f->state), "%s/state.db", f->dir);
    pthread_mutex_init(&f->cap.mu, NULL);
    pthread_mutex_init(&f->rx.mu, NULL);
    if (dsvm_log_new(&f->log, DSVM_LEVEL_DEBUG) < 0 || dsvm_metrics_new(&f->metrics) < 0)
        return -1;
    dsvm_log_set_sink(f->log, capture, &f->cap);
    receiver_start(&f->rx, 0);
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u/hooks/" URL_TOKEN, f->rx.port);
    setenv("DSVM_TEST_HOOK_URL", f->url, 1);
    setenv("DSVM_TEST_HOOK_SECRET", HMAC_SECRET, 1);
    setenv("DSVM_ALERT_BACKOFF_MS", "20", 1);
    unsetenv("DSVM_ALERT_GIVE_UP_MS");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];
    int i;

    receiver_stop(&f->rx);
    receiver_clear(&f->rx);
    for (i = 0; i < f->cap.n; i++)
        free(f->cap.lines[i]);
    dsvm_log_free(f->log);
    dsvm_metrics_free(f->metrics);
    pthread_mutex_destroy(&f->cap.mu);
    pthread_mutex_destroy(&f->rx.mu);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

/* Write dsvmops.yaml with the given `alerts:` entries (YAML flow
 * mappings, one per line) and load it. */
static dsvm_config *load_config(fixture *f, const char *alerts)
{
    FILE *fp = fopen(f->config, "w");
    dsvm_config *cfg = NULL;

    assert_non_null(fp);
    fprintf(fp, "target:\n  subscription: 11111111-1111-1111-1111-111111111111\n"
                "state: {path: ./state.db}\n");
    if (alerts)
        fprintf(fp, "alerts:\n%s", alerts);
    fclose(fp);
    assert_int_equal(dsvm_config_load(&cfg, f->config, NULL), 0);
    assert_string_equal(cfg->state.path, f->state);
    return cfg;
}

static dsvm_alerts *alerts_new(fixture *f, const dsvm_config *cfg)
{
    dsvm_alerts *a = NULL;

    assert_int_equal(dsvm_alerts_new(&a, cfg, cfg->state.path, f->log, f->metrics), 0);
    assert_non_null(a);
    return a;
}

static json_t *drift_event(void)
{
    json_t *ev = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:s, s:s}, {s:s, s:s, s:i, "
        "s:i}], s:i, s:s}",
        "event", "drift.opened", "severity", "warning", "summary",
        "Pool/gpu drifted: 2 fields differ from Git", "target",
        "11111111-1111-1111-1111-111111111111", "commit",
        "0123456789abcdef0123456789abcdef01234567", "time", "2026-12-03T15:45:00Z", "object",
        "Pool/gpu", "resourceId",
        "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg/providers/"
        "Microsoft.Compute/virtualMachineScaleSets/gpu",
        "fields", "path", "sku.name", "op", "change", "live", "Standard_NC6", "desired",
        "Standard_NC24ads_A100_v4", "path", "sku.capacity", "op", "change", "live", 2, "desired", 4,
        "episode", 7, "firstSeen", "2026-12-03T15:44:00Z");

    assert_non_null(ev);
    return ev;
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Does the file at `path` contain `needle`? 0 when it does not exist. */
static int file_contains(const char *path, const char *needle)
{
    FILE *fp = fopen(path, "rb");
    size_t n = strlen(needle), len = 0, cap = 0, got;
    char *buf = NULL;
    int found = 0;

    if (!fp)
        return 0;
    do {
        if (cap - len < 65536) {
            cap += 1 << 20;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        got = fread(buf + len, 1, cap - len, fp);
        len += got;
    } while (got > 0);
    fclose(fp);
    for (size_t i = 0; !found && len >= n && i <= len - n; i++)
        found = memcmp(buf + i, needle, n) == 0;
    free(buf);
    return found;
}

static char *metrics_text(fixture *f)
{
    char *text = NULL;

    assert_int_equal(dsvm_metrics_render(&text, f->metrics), 0);
    return text;
}

/* The value of the series of `name` with sink and outcome labels, from
 * the rendered text (in any label order); -1 when there is none. */
static double sent_total(fixture *f, const char *sink, const char *outcome)
{
    char *text = metrics_text(f), *line, *save = NULL, want_s[64], want_o[64];
    double v = -1;

    snprintf(want_s, sizeof(want_s), "sink=\"%s\"", sink);
    snprintf(want_o, sizeof(want_o), "outcome=\"%s\"", outcome);
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        if (strncmp(line, "dsvmops_alerts_sent_total{", 26) == 0 && strstr(line, want_s) &&
            strstr(line, want_o))
            v = strtod(strrchr(line, ' ') + 1, NULL);
    free(text);
    return v;
}

static void hex_hmac(char out[72], const char *key, const char *body)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0, i;

    assert_non_null(HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)body,
                         strlen(body), md, &len));
    assert_int_equal(len, 32);
    strcpy(out, "sha256=");
    for (i = 0; i < len; i++)
        sprintf(out + 7 + 2 * i, "%02x", md[i]);
}

/* ---- the tests --------------------------------------------------------- */

static const char webhook_sink[] =
    "  - {kind: webhook, url_env: DSVM_TEST_HOOK_URL, secret_env: DSVM_TEST_HOOK_SECRET}\n";

static void webhook_body_is_the_event_and_its_signature_verifies(void **state)
{
    fixture *f = *state;
    dsvm_config *cfg = load_config(f, webhook_sink);
    dsvm_alerts *a = alerts_new(f, cfg);
    json_t *ev = drift_event(), *got;
    char expect[72], wrong[72], *m;

    assert_int_equal(dsvm_alerts_emit(a, ev), 0);
    assert_int_equal(dsvm_alerts_flush(a, 5000), 0);
    assert_int_equal(dsvm_alerts_pending(a), 0);
    assert_int_equal(receiver_count(&f->rx), 1);
    assert_string_equal(f->rx.req[0].path, "/hooks/" URL_TOKEN);
    got = json_loads(f->rx.req[0].body, 0, NULL);
    assert_non_null(got);
    assert_true(json_equal(got, ev));
    assert_string_equal(f->rx.req[0].event, "drift.opened");
    assert_string_equal(f->rx.req[0].ctype, "application/json");
    assert_non_null(f->rx.req[0].delivery);
    hex_hmac(expect, HMAC_SECRET, f->rx.req[0].body);
    assert_non_null(f->rx.req[0].signature);
    assert_string_equal(f->rx.req[0].signature, expect);
    hex_hmac(wrong, "another-secret", f->rx.req[0].body);
    assert_string_not_equal(f->rx.req[0].signature, wrong);
    assert_true(sent_total(f, "webhook", "delivered") == 1);
    assert_true(sent_total(f, "webhook", "failed") == -1);
    m = metrics_text(f);
    assert_non_null(strstr(m, "\ndsvmops_alerts_pending 0\n"));
    free(m);
    json_decref(got);
    json_decref(ev);
    dsvm_alerts_free(a);
    dsvm_config_free(cfg);
}

/* The text of the block (or block field) whose text contains `needle`. */
static const char *slack_find(const json_t *blocks, const char *needle)
{
    size_t i, j;

    for (i = 0; i < json_array_size(blocks); i++) {
        const json_t *b = json_array_get(blocks, i);
        const char *t = json_string_value(json_object_get(json_object_get(b, "text"), "text"));
        const json_t *fields = json_object_get(b, "fields");

        if (t && strstr(t, needle))
            return t;
        for (j = 0; j < json_array_size(fields); j++) {
            t = json_string_value(json_object_get(json_array_get(fields, j), "text"));
            if (t && strstr(t, needle))
                return t;
        }
    }
    return NULL;
}

static void slack_body_has_text_and_mrkdwn_blocks(void **state)
{
    fixture *f = *state;
    dsvm_config *cfg = load_config(f, "  - {kind: slack, url_env: DSVM_TEST_HOOK_URL}\n");
    dsvm_alerts *a = alerts_new(f, cfg);
    json_t *ev = drift_event(), *body, *blocks;
    char longval[501], prefix[201];
    const char *t;
    size_t i;

    memset(longval, 'x', 500);
    longval[500] = '\0';
    memcpy(longval, "<&>", 3);
    json_array_append_new(json_object_get(ev, "fields"),
                          json_pack("{s:s, s:s, s:s, s:n}", "path", "tags.note", "op", "change",
                                    "live", longval, "desired"));
    assert_int_equal(dsvm_alerts_emit(a, ev), 0);
    assert_int_equal(dsvm_alerts_flush(a, 5000), 0);
    assert_int_equal(receiver_count(&f->rx), 1);
    assert_null(f->rx.req[0].signature);
    body = json_loads(f->rx.req[0].body, 0, NULL);
    assert_non_null(body);
    assert_string_equal(json_string_value(json_object_get(body, "text")),
                        "Pool/gpu drifted: 2 fields differ from Git");
    blocks = json_object_get(body, "blocks");
    assert_true(json_array_size(blocks) >= 3);
    for (i = 0; i < json_array_size(blocks); i++) {
        const json_t *b = json_array_get(blocks, i);
        const json_t *text = json_object_get(b, "text");

        assert_non_null(json_string_value(json_object_get(b, "type")));
        if (text)
            assert_string_equal(json_string_value(json_object_get(text, "type")), "mrkdwn");
        if (text)
            assert_true(strlen(json_string_value(json_object_get(text, "text"))) <= 3000);
    }
    assert_string_equal(json_string_value(json_object_get(json_array_get(blocks, 0), "type")),
                        "section");
    assert_non_null(slack_find(blocks, "*drift.opened* (warning)"));
    assert_non_null(slack_find(blocks, "*Object*\n`Pool/gpu`"));
    assert_non_null(slack_find(blocks, "*Commit*\n`0123456789abcdef0123456789abcdef01234567`"));
    t = slack_find(blocks, "*Fields changed*");
    assert_non_null(t);
    assert_non_null(
        strstr(t, "`sku.name`: `Standard_NC6` \xE2\x86\x92 `Standard_NC24ads_A100_v4`"));
    assert_non_null(strstr(t, "`sku.capacity`: `2` \xE2\x86\x92 `4`"));
    /* the long value is escaped and cut to 200 bytes */
    assert_non_null(strstr(t, "`&lt;&amp;&gt;xxx"));
    assert_null(strstr(t, longval + 3));
    memcpy(prefix, longval + 3, 197);
    prefix[197] = '\0';
    assert_non_null(strstr(t, prefix));
    assert_non_null(strstr(t, "\xE2\x80\xA6` \xE2\x86\x92 `(none)`"));
    t = json_string_value(json_object_get(
        json_array_get(
            json_object_get(json_array_get(blocks, json_array_size(blocks) - 1), "elements"), 0),
        "text"));
    assert_non_null(t);
    assert_non_null(strstr(t, "2026-12-03T15:45:00Z"));
    json_decref(body);
    json_decref(ev);
    dsvm_alerts_free(a);
    dsvm_config_free(cfg);
}

/* The value of the fact titled `title` in a FactSet. */
static const char *teams_fact(const json_t *factset, const char *title)
{
    size_t i;
    const json_t *facts = json_object_get(factset, "facts");

    for (i = 0; i < json_array_size(facts); i++) {
        const json_t *fa = json_array_get(facts, i);

        if (strcmp(json_string_value(json_object_get(fa, "title")), title) == 0)
            return json_string_value(json_object_get(fa, "value"));
    }
    return NULL;
}

static void teams_body_is_an_adaptive_card(void **state)
{
    fixture *f = *state;
    char cfgtext[256], urlfile[160];
    FILE *fp;
    dsvm_config *cfg;
    dsvm_alerts *a;
    json_t *ev, *body, *att, *content, *cbody;
    size_t i;

    snprintf(urlfile, sizeof(urlfile), "%s/teams-url", f->dir);
    fp = fopen(urlfile, "w");
    assert_non_null(fp);
    fprintf(fp, "%s\n", f->url);
    fclose(fp);
    snprintf(cfgtext, sizeof(cfgtext), "  - {kind: teams, url_file: %s}\n", urlfile);
    cfg = load_config(f, cfgtext);
    a = alerts_new(f, cfg);
    ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:[s, s, s, s, s, s, s, s, s, s, s, "
                   "s]}",
                   "event", "apply.failed", "severity", "error", "summary",
                   "apply of 0123456 failed: 12 resources", "target", "sub", "commit",
                   "0123456789abcdef0123456789abcdef01234567", "time", "2026-12-03T15:45:00Z",
                   "run", 42, "failed", 12, "errors", "e1", "e2", "e3", "e4", "e5", "e6", "e7",
                   "e8", "e9", "e10", "e11", "e12");
    assert_non_null(ev);
    assert_int_equal(dsvm_alerts_emit(a, ev), 0);
    assert_int_equal(dsvm_alerts_flush(a, 5000), 0);
    assert_int_equal(receiver_count(&f->rx), 1);
    body = json_loads(f->rx.req[0].body, 0, NULL);
    assert_non_null(body);
    assert_string_equal(json_string_value(json_object_get(body, "type")), "message");
    assert_int_equal(json_array_size(json_object_get(body, "attachments")), 1);
    att = json_array_get(json_object_get(body, "attachments"), 0);
    assert_string_equal(json_string_value(json_object_get(att, "contentType")),
                        "application/vnd.microsoft.card.adaptive");
    content = json_object_get(att, "content");
    assert_string_equal(json_string_value(json_object_get(content, "type")), "AdaptiveCard");
    assert_string_equal(json_string_value(json_object_get(content, "version")), "1.4");
    cbody = json_object_get(content, "body");
    assert_string_equal(json_string_value(json_object_get(json_array_get(cbody, 0), "type")),
                        "TextBlock");
    assert_string_equal(json_string_value(json_object_get(json_array_get(cbody, 0), "text")),
                        "apply of 0123456 failed: 12 resources");
    assert_string_equal(json_string_value(json_object_get(json_array_get(cbody, 0), "color")),
                        "attention");
    assert_string_equal(json_string_value(json_object_get(json_array_get(cbody, 1), "type")),
                        "FactSet");
    assert_string_equal(teams_fact(json_array_get(cbody, 1), "Event"), "apply.failed");
    assert_string_equal(teams_fact(json_array_get(cbody, 1), "Commit"), "0123456789ab");
    for (i = 0; i < json_array_size(cbody); i++)
        if (json_string_value(json_object_get(json_array_get(cbody, i), "text")) &&
            strcmp(json_string_value(json_object_get(json_array_get(cbody, i), "text")),
                   "Errors") == 0)
            break;
    assert_true(i + 1 < json_array_size(cbody));
    assert_string_equal(teams_fact(json_array_get(cbody, i + 1), "#1"), "e1");
    assert_string_equal(teams_fact(json_array_get(cbody, i + 1), "#10"), "e10");
    assert_null(teams_fact(json_array_get(cbody, i + 1), "#11"));
    assert_string_equal(teams_fact(json_array_get(cbody, i + 1), "\xE2\x80\xA6"), "2 more");
    json_decref(body);
    json_decref(ev);
    dsvm_alerts_free(a);
    dsvm_config_free(cfg);
}

static void answers_500_twice_then_200_make_three_attempts_and_one_delivery(void **state)
{
    fixture *f = *state;
    dsvm_config *cfg = load_config(f, webhook_sink);
    dsvm_alerts *a;
    json_t *ev = drift_event();
    int i;

    f->rx.fail_first = 2;
    a = alerts_new(f, cfg);
    assert_int_equal(dsvm_alerts_emit(a, ev), 0);
    assert_int_equal(dsvm_alerts_flush(a, 5000), 0);
    usleep(100000); /* a fourth attempt would come within this */
    assert_int_equal(receiver_count(&f->rx), 3);
    for (i = 1; i < 3; i++) {
        assert_string_equal(f->rx.req[i].body, f->rx.req[0].body);
        assert_string_equal(f->rx.req[i].delivery, f->rx.req[0].delivery);
        assert_string_equal(f->rx.req[i].signature, f->rx.req[0].signature);
    }
    assert_int_equal(lines_with(&f->cap, "alerts[0] (webhook) failed: HTTP 500; attempt 1", NULL),
                     1);
    assert_int_equal(lines_with(&f->cap, "alerts[0] (webhook) failed: HTTP 500; attempt 2", NULL),
                     1);
    assert_int_equal(lines_with(&f->cap, "failed", NULL), 2);
    assert_true(sent_total(f, "webhook", "failed") == 2);
    assert_true(sent_total(f, "webhook", "delivered") == 1);
    json_decref(ev);
    dsvm_alerts_free(a);
    dsvm_config_free(cfg);
}

/* Read (attempts, last_error) of the only outbox row with plain SQLite. */
static int outbox_row(const char *path, char *err, size_t errlen)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    int attempts = -1;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT attempts, last_error FROM alert_outbox", -1, &q, NULL),
        SQLITE_OK);
    if (sqlite3_step(q) == SQLITE_ROW) {
        attempts = sqlite3_column_int(q, 0);
        snprintf(err, errlen, "%s", (const char *)sqlite3_column_text(q, 1));
        assert_int_equal(sqlite3_step(q), SQLITE_DONE);
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    return attempts;
}

/* The receiver is down: the delivery fails, stays queued across
 * dsvm_alerts_free, and the next process sends it at once on start even
 * though its backoff (a minute here) has not run out. */
static void alert_queued_while_receiver_down_is_delivered_after_restart(void **state)
{
    fixture *f = *state;
    dsvm_config *cfg = load_config(f, webhook_sink);
    dsvm_alerts *a;
    json_t *ev = drift_event(), *got;
    unsigned short port = f->rx.port;
    char err[256] = "";
    int64_t t0;

    receiver_stop(&f->rx);
    setenv("DSVM_ALERT_BACKOFF_MS", "60000", 1);
    a = alerts_new(f, cfg);
    assert_int_equal(dsvm_alerts_emit(a, ev), 0);
    t0 = mono_ms();
    while (lines_with(&f->cap, "failed", NULL) == 0 && mono_ms() - t0 < 5000)
        usleep(5000);
    assert_int_equal(dsvm_alerts_pending(a), 1);
    dsvm_alerts_free(a);
    assert_int_equal(outbox_row(f->state, err, sizeof(err)), 1);
    assert_non_null(strstr(err, "curl error 7"));
    assert_int_equal(lines_with(&f->cap, "alerts[0] (webhook) failed: Couldn't connect to server",
                                "attempt 1, next in 60000 ms", NULL),
                     1);

    receiver_start(&f->rx, port);
    t0 = mono_ms();
    a = alerts_new(f, cfg);
    assert_int_equal(dsvm_alerts_flush(a, 5000), 0);
    assert_true(mono_ms() - t0 < 5000);
    assert_int_equal(receiver_count(&f->rx), 1);
    got = json_loads(f->rx.req[0].body, 0, NULL);
    assert_true(json_equal(got, ev));
    assert_int_equal(outbox_row(f->state, err, sizeof(err)), -1);
    json_decref(got);
    json_decref(ev);
    dsvm_alerts_free(a);
    dsvm_config_free(cfg);
}

static void secrets_are_not_in_the_state_file_nor_the_log(void **state)
{
    fixture *f = *state;
    dsvm_config *cfg = load_config(f, webhook_sink);
    dsvm_alerts *a;
    json_t *ev = drift_event();
    char wal[160];
    const char *secrets[] = {URL_TOKEN, HMAC_SECRET, f->url, "hooks/"};
    size_t i;
    int j;

    snprintf(wal, sizeof(wal), "%s-wal", f->state);
    f->rx.fail_first = 1;
    a = alerts_new(f, cfg);
    assert_int_equal(dsvm_alerts_emit(a, ev), 0);
    assert_int_equal(dsvm_alerts_emit(a, ev), 0);
    assert_int_equal(dsvm_alerts_flush(a, 5000), 0);
    receiver_stop(&f->rx); /* and a transport failure too */
    assert_int_equal(dsvm_alerts_emit(a, ev), 0);
    assert_int_equal(dsvm_alerts_flush(a, 300), DSVM_ETIMEOUT);
    assert_true(lines_with(&f->cap, "HTTP 500", NULL) >= 1);
    assert_true(lines_with(&f->cap, "Couldn't connect", NULL) >= 1);
    /* The check can fail: the event itself is in the files. */
    assert_true(file_contains(f->state, "Pool/gpu drifted") ||
                file_contains(wal, "Pool/gpu drifted"));
    for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        assert_false(file_contains(f->state, secrets[i]));
        assert_false(file_contains(wal, secrets[i]));
    }
    dsvm_alerts_free(a);
    for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        assert_false(file_contains(f->state, secrets[i]));
        assert_false(file_contains(wal, secrets[i]));
        assert_int_equal(lines_with(&f->cap, secrets[i], NULL), 0);
    }
    assert_true(f->cap.n >= 3);
    for (j = 0; j < f->cap.n; j++)
        assert_null(strstr(f->cap.lines[j], "127.0.0.1"));
    json_decref(ev);
    dsvm_config_free(cfg);
}

static void flush_times_out_while_the_receiver_is_down(void **state)
{
    fixture *f = *state;
    dsvm_config *cfg = load_config(f, webhook_sink);
    dsvm_alerts *a;
    json_t *ev = drift_event();
    int64_t t0, took;

    receiver_stop(&f->rx);
    a = alerts_new(f, cfg);
    assert_int_equal(dsvm_alerts_emit(a, ev), 0);
    t0 = mono_ms();
    assert_int_equal(dsvm_alerts_flush(a, 400), DSVM_ETIMEOUT);
    took = mono_ms() - t0;
    assert_true(took >= 390 && took < 2000);
    assert_non_null(strstr(dsvm_error_last()->message, "still pending"));
    assert_int_equal(dsvm_alerts_pending(a), 1);
    assert_true(lines_with(&f->cap, "attempt 2", NULL) >= 1); /* it kept retrying */
    json_decref(ev);
    dsvm_alerts_free(a);
    dsvm_config_free(cfg);
}

/* A URL file rewritten between attempts is read again: the retry goes to
 * the new receiver without a restart. */
static void url_file_is_read_again_at_send_time(void **state)
{
    fixture *f = *state;
    char urlfile[160], cfgtext[256];
    dsvm_config *cfg;
    dsvm_alerts *a;
    json_t *ev = drift_event();
    FILE *fp;
    int64_t t0;

    snprintf(urlfile, sizeof(urlfile), "%s/url", f->dir);
    fp = fopen(urlfile, "w");
    assert_non_null(fp);
    fprintf(fp, "http://127.0.0.1:9/nothing-listens-here\n");
    fclose(fp);
    snprintf(cfgtext, sizeof(cfgtext), "  - {kind: webhook, url_file: %s}\n", urlfile);
    cfg = load_config(f, cfgtext);
    setenv("DSVM_ALERT_BACKOFF_MS", "200", 1);
    a = alerts_new(f, cfg);
    assert_int_equal(
        lines_with(&f->cap, "alerts[0]: a webhook without secret_env or secret_file", NULL), 1);
    assert_int_equal(dsvm_alerts_emit(a, ev), 0);
    t0 = mono_ms();
    while (lines_with(&f->cap, "failed", NULL) == 0 && mono_ms() - t0 < 5000)
        usleep(5000);
    fp = fopen(urlfile, "w");
    assert_non_null(fp);
    fprintf(fp, "%s\n", f->url);
    fclose(fp);
    assert_int_equal(dsvm_alerts_flush(a, 5000), 0);
    assert_int_equal(receiver_count(&f->rx), 1);
    assert_null(f->rx.req[0].signature);
    json_decref(ev);
    dsvm_alerts_free(a);
    dsvm_config_free(cfg);
}

static void unreadable_url_gives_an_error_naming_the_key(void **state)
{
    fixture *f = *state;
    dsvm_config *cfg;
    dsvm_alerts *a = NULL;
    const char *msg;

    unsetenv("DSVM_TEST_UNSET_URL");
    cfg = load_config(f, "  - {kind: webhook, url: http://127.0.0.1:1/x}\n"
                         "  - {kind: slack, url_env: DSVM_TEST_UNSET_URL}\n");
    assert_int_equal(dsvm_alerts_new(&a, cfg, cfg->state.path, f->log, NULL), DSVM_ENOTFOUND);
    assert_null(a);
    msg = dsvm_error_last()->message;
    assert_non_null(strstr(msg, "alerts[1].url"));
    assert_non_null(strstr(msg, "DSVM_TEST_UNSET_URL"));
    dsvm_config_free(cfg);

    cfg = load_config(f, "  - {kind: teams, url_file: /nonexistent/teams-url}\n");
    assert_int_equal(dsvm_alerts_new(&a, cfg, cfg->state.path, f->log, NULL), DSVM_EIO);
    assert_null(a);
    assert_non_null(strstr(dsvm_error_last()->message, "alerts[0].url"));
    assert_non_null(strstr(dsvm_error_last()->message, "/nonexistent/teams-url"));
    dsvm_config_free(cfg);

    setenv("DSVM_TEST_BAD_URL", "ftp://" URL_TOKEN, 1);
    cfg = load_config(f, "  - {kind: slack, url_env: DSVM_TEST_BAD_URL}\n");
    assert_int_equal(dsvm_alerts_new(&a, cfg, cfg->state.path, f->log, NULL), DSVM_EINVALID);
    assert_null(a);
    msg = dsvm_error_last()->message;
    assert_non_null(strstr(msg, "alerts[0].url_env (DSVM_TEST_BAD_URL)"));
    assert_null(strstr(msg, URL_TOKEN));
    dsvm_config_free(cfg);

    unsetenv("DSVM_TEST_HOOK_SECRET");
    cfg = load_config(f, webhook_sink);
    assert_int_equal(dsvm_alerts_new(&a, cfg, cfg->state.path, f->log, NULL), DSVM_ENOTFOUND);
    assert_null(a);
    assert_non_null(strstr(dsvm_error_last()->message, "alerts[0].secret"));
    dsvm_config_free(cfg);
}

static void delivery_is_dropped_after_the_give_up_time(void **state)
{
    fixture *f = *state;
    dsvm_config *cfg = load_config(f, webhook_sink);
    dsvm_alerts *a;
    json_t *ev = drift_event();
    int64_t t0;

    f->rx.fail_always = 1;
    setenv("DSVM_ALERT_GIVE_UP_MS", "250", 1);
    a = alerts_new(f, cfg);
    assert_int_equal(dsvm_alerts_emit(a, ev), 0);
    t0 = mono_ms();
    while (dsvm_alerts_pending(a) > 0 && mono_ms() - t0 < 5000)
        usleep(10000);
    assert_int_equal(dsvm_alerts_pending(a), 0);
    assert_true(receiver_count(&f->rx) >= 3);
    assert_int_equal(
        lines_with(&f->cap, "alerts[0] (webhook) dropped: gave up after", "HTTP 500", NULL), 1);
    assert_true(sent_total(f, "webhook", "dropped") == 1);
    assert_true(sent_total(f, "webhook", "delivered") == -1);
    json_decref(ev);
    dsvm_alerts_free(a);
    dsvm_config_free(cfg);
}

/* free during a slow transfer returns at once; the delivery is not counted
 * as failed and goes out on the next start. */
static void free_stops_during_a_slow_transfer_and_the_delivery_stays(void **state)
{
    fixture *f = *state;
    dsvm_config *cfg = load_config(f, webhook_sink);
    dsvm_alerts *a;
    json_t *ev = drift_event();
    char err[64];
    int64_t t0;

    f->rx.delay_ms = 8000;
    a = alerts_new(f, cfg);
    assert_int_equal(dsvm_alerts_emit(a, ev), 0);
    t0 = mono_ms();
    while (receiver_count(&f->rx) == 0 && mono_ms() - t0 < 5000)
        usleep(5000);
    assert_int_equal(receiver_count(&f->rx), 1);
    t0 = mono_ms();
    dsvm_alerts_free(a);
    assert_true(mono_ms() - t0 < 1500);
    assert_int_equal(outbox_row(f->state, err, sizeof(err)), 0);
    assert_int_equal(lines_with(&f->cap, "failed", NULL), 0);
    f->rx.delay_ms = 0;
    a = alerts_new(f, cfg);
    assert_int_equal(dsvm_alerts_flush(a, 5000), 0);
    assert_int_equal(receiver_count(&f->rx), 2);
    json_decref(ev);
    dsvm_alerts_free(a);
    dsvm_config_free(cfg);
}

static void every_sink_gets_the_event_and_no_sinks_is_quiet(void **state)
{
    fixture *f = *state;
    dsvm_config *cfg = load_config(f, "  - {kind: webhook, url_env: DSVM_TEST_HOOK_URL}\n"
                                      "  - {kind: slack, url_env: DSVM_TEST_HOOK_URL}\n"
                                      "  - {kind: teams, url_env: DSVM_TEST_HOOK_URL}\n");
    dsvm_alerts *a = alerts_new(f, cfg);
    json_t *ev = drift_event();

    assert_int_equal(dsvm_alerts_emit(a, ev), 0);
    assert_int_equal(dsvm_alerts_flush(a, 5000), 0);
    assert_int_equal(receiver_count(&f->rx), 3);
    dsvm_alerts_free(a);
    dsvm_config_free(cfg);

    cfg = load_config(f, NULL);
    a = alerts_new(f, cfg);
    assert_int_equal(dsvm_alerts_emit(a, ev), 0);
    assert_int_equal(dsvm_alerts_pending(a), 0);
    assert_int_equal(dsvm_alerts_flush(a, 100), 0);
    assert_int_equal(receiver_count(&f->rx), 3);
    json_decref(ev);
    dsvm_alerts_free(a);
    dsvm_config_free(cfg);
}

/* A child process queues an alert while its sink cannot be reached and is
 * killed with SIGKILL; the next process delivers it. */
static void alert_survives_a_killed_process(void **state)
{
    fixture *f = *state;
    char urlfile[160], cfgtext[256];
    dsvm_config *cfg;
    dsvm_alerts *a;
    json_t *ev = drift_event(), *got;
    FILE *fp;
    int status;
    pid_t pid;

    snprintf(urlfile, sizeof(urlfile), "%s/url", f->dir);
    fp = fopen(urlfile, "w");
    assert_non_null(fp);
    fprintf(fp, "http://127.0.0.1:9/nothing-listens-here\n");
    fclose(fp);
    snprintf(cfgtext, sizeof(cfgtext), "  - {kind: webhook, url_file: %s}\n", urlfile);
    cfg = load_config(f, cfgtext);
    setenv("DSVM_ALERT_BACKOFF_MS", "60000", 1);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dsvm_alerts *child = NULL;

        if (dsvm_alerts_new(&child, cfg, cfg->state.path, NULL, NULL) != 0 ||
            dsvm_alerts_emit(child, ev) != 0)
            _exit(1);
        raise(SIGKILL);
        _exit(2);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    fp = fopen(urlfile, "w");
    assert_non_null(fp);
    fprintf(fp, "%s\n", f->url);
    fclose(fp);
    a = alerts_new(f, cfg);
    assert_int_equal(dsvm_alerts_flush(a, 5000), 0);
    assert_int_equal(receiver_count(&f->rx), 1);
    got = json_loads(f->rx.req[0].body, 0, NULL);
    assert_true(json_equal(got, ev));
    json_decref(got);
    json_decref(ev);
    dsvm_alerts_free(a);
    dsvm_config_free(cfg);
}

/* A delivery queued for a sink that the configuration no longer has (or
 * that is now of another kind) is dropped, with a log line, not sent. */
static void delivery_for_a_sink_no_longer_configured_is_dropped(void **state)
{
    fixture *f = *state;
    dsvm_config *cfg = load_config(f, webhook_sink);
    dsvm_state *st = NULL;
    dsvm_alerts *a;
    int64_t t0;

    assert_int_equal(dsvm_state_open(&st, f->state), 0);
    assert_int_equal(dsvm_state_outbox_add(st, NULL, 3, "webhook", "{\"event\":\"x\"}"), 0);
    assert_int_equal(dsvm_state_outbox_add(st, NULL, 0, "slack", "{\"event\":\"y\"}"), 0);
    dsvm_state_close(st);
    a = alerts_new(f, cfg);
    t0 = mono_ms();
    while (dsvm_alerts_pending(a) > 0 && mono_ms() - t0 < 5000)
        usleep(5000);
    assert_int_equal(dsvm_alerts_pending(a), 0);
    assert_int_equal(
        lines_with(&f->cap, "to alerts[3] (webhook) dropped: that sink is no longer", NULL), 1);
    assert_int_equal(
        lines_with(&f->cap, "to alerts[0] (slack) dropped: that sink is no longer", NULL), 1);
    assert_int_equal(receiver_count(&f->rx), 0);
    assert_true(sent_total(f, "webhook", "dropped") == 1);
    assert_true(sent_total(f, "slack", "dropped") == 1);
    dsvm_alerts_free(a);
    dsvm_config_free(cfg);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(webhook_body_is_the_event_and_its_signature_verifies),
        T(slack_body_has_text_and_mrkdwn_blocks),
        T(teams_body_is_an_adaptive_card),
        T(answers_500_twice_then_200_make_three_attempts_and_one_delivery),
        T(alert_queued_while_receiver_down_is_delivered_after_restart),
        T(secrets_are_not_in_the_state_file_nor_the_log),
        T(flush_times_out_while_the_receiver_is_down),
        T(url_file_is_read_again_at_send_time),
        T(unreadable_url_gives_an_error_naming_the_key),
        T(delivery_is_dropped_after_the_give_up_time),
        T(free_stops_during_a_slow_transfer_and_the_delivery_stays),
        T(every_sink_gets_the_event_and_no_sinks_is_quiet),
        T(alert_survives_a_killed_process),
        T(delivery_for_a_sink_no_longer_configured_is_dropped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
