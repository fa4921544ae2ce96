/*
 * Token cache and token requests. One entry per audience; an entry has at
 * most one token request in flight, and requests that need its token wait
 * in the http loop (DSVM_HTTP_TOKEN_PENDING) until it lands.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "auth.h"
#include "dsvmops/error.h"

/* A failed token request is not repeated for this long (every waiting
 * request fails with its message instead). */
#define ERROR_HOLD_MS 5000

typedef struct entry entry;

struct entry {
    entry *next;
    dsvm_auth *auth;
    char *audience;
    char *token;
    int64_t expires_ms; /* monotonic */
    int64_t refresh_ms; /* monotonic */
    int fetching;
    char *error;
    int64_t error_until_ms;
};

struct dsvm_auth {
    dsvm_http *h;
    dsvm_credential_kind kind;
    char *authority;
    char *tenant;
    char *client_id;
    char *client_secret;
    char *assertion_file;
    char *imds_endpoint;
    entry *entries;
    dsvm_auth_stats stats;
};

static void wipe_free(char *s)
{
    if (s) {
        volatile char *p = s;

        while (*p)
            *p++ = 0;
        free(s);
    }
}

int64_t dsvm_auth_refresh_margin_ms(int64_t lifetime_ms)
{
    int64_t m = lifetime_ms / 10;

    if (m > 300000)
        m = 300000;
    if (m < 1000)
        m = 1000;
    if (m > lifetime_ms / 2)
        m = lifetime_ms / 2;
    return m;
}

static entry *find_entry(dsvm_auth *a, const char *audience)
{
    entry *e;

    for (e = a->entries; e; e = e->next)
        if (strcmp(e->audience, audience) == 0)
            return e;
    return NULL;
}

static char *escape(const char *s)
{
    char *c = curl_easy_escape(NULL, s, 0), *d;

    if (!c)
        return NULL;
    d = strdup(c);
    curl_free(c);
    return d;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL, *g;
    size_t len = 0, cap = 0, n;

    if (!f)
        return NULL;
    for (;;) {
        if (cap - len < 1024) {
            g = realloc(buf, cap + 4096 + 1);
            if (!g) {
                wipe_free(buf);
                fclose(f);
                return NULL;
            }
            buf = g;
            cap += 4096;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    if (!buf)
        return NULL;
    buf[len] = '\0';
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
        buf[--len] = '\0';
    return buf;
}

/* Seconds in a token answer: a JSON number (Entra) or a string (IMDS). */
static int64_t seconds_of(json_t *v)
{
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    if (json_is_real(v))
        return (int64_t)json_real_value(v);
    if (json_is_string(v)) {
        char *end;
        long long n;

        errno = 0;
        n = strtoll(json_string_value(v), &end, 10);
        if (!errno && end != json_string_value(v))
            return (int64_t)n;
    }
    return -1;
}

static void set_entry_error(entry *e, const char *msg)
{
    char *m = strdup(msg);

    free(e->error);
    e->error = m;
    e->error_until_ms = dsvm_http_now_ms() + ERROR_HOLD_MS;
}

static void on_token(const dsvm_http_response *r, void *payload)
{
    entry *e = payload;
    dsvm_auth *a = e->auth;
    json_t *j = NULL, *tok;
    int64_t now = dsvm_http_now_ms(), lifetime, on;
    char *msg = NULL;

    e->fetching = 0;
    a->stats.token_requests++;
    if (r->error || r->status != 200) {
        int n = snprintf(NULL, 0, "no token for %s: %s", e->audience,
                         r->message ? r->message : "token request failed");

        msg = malloc((size_t)n + 1);
        if (msg)
            snprintf(msg, (size_t)n + 1, "no token for %s: %s", e->audience,
                     r->message ? r->message : "token request failed");
        goto fail;
    }
    j = json_loadb(r->body, r->body_len, 0, NULL);
    tok = json_object_get(j, "access_token");
    if (!json_is_string(tok) || !*json_string_value(tok)) {
        msg = strdup("the token endpoint answered 200 without an access_token");
        goto fail;
    }
    lifetime = seconds_of(json_object_get(j, "expires_in"));
    if (lifetime < 0) {
        on = seconds_of(json_object_get(j, "expires_on"));
        lifetime = on > 0 ? on - (int64_t)time(NULL) : -1;
    }
    if (lifetime <= 0) {
        msg = strdup("the token answer has no usable expires_in or expires_on");
        goto fail;
    }
    wipe_free(e->token);
    e->token = strdup(json_string_value(tok));
    if (!e->token) {
        msg = strdup("out of memory");
        goto fail;
    }
    e->expires_ms = now + lifetime * 1000;
    e->refresh_ms = e->expires_ms - dsvm_auth_refresh_margin_ms(lifetime * 1000);
    free(e->error);
    e->error = NULL;
    /* jansson's copy of the token goes with the parse tree: wipe it first */
    OPENSSL_cleanse((char *)json_string_value(tok), strlen(json_string_value(tok)));
    json_decref(j);
    return;
fail:
    a->stats.token_failures++;
    set_entry_error(e, msg ? msg : "token request failed");
    free(msg);
    if (j) {
        /* the answer holds the token when it was a partial success: wipe it */
        json_decref(j);
    }
}

/* Queue a token request for `e`. Returns 0 or a negative DSVM_E*. */
static int fetch(dsvm_auth *a, entry *e)
{
    static const char *const imds_headers[] = {"Metadata: true", NULL};
    static const char *const form_headers[] = {"Content-Type: application/x-www-form-urlencoded",
                                               NULL};
    dsvm_http_request req;
    char *url = NULL, *body = NULL, *scope = NULL, *esc_scope = NULL, *esc_id = NULL;
    char *esc_secret = NULL, *assertion = NULL, *esc_assertion = NULL, *esc_aud = NULL;
    size_t n;
    int rc = 0;

    memset(&req, 0, sizeof(req));
    req.bucket = DSVM_BUCKET_NONE;
    if (a->kind == DSVM_CREDENTIAL_MANAGED_IDENTITY) {
        esc_aud = escape(e->audience);
        esc_id = a->client_id ? escape(a->client_id) : NULL;
        if (!esc_aud || (a->client_id && !esc_id))
            goto oom;
        n = strlen(a->imds_endpoint) + strlen(esc_aud) + (esc_id ? strlen(esc_id) : 0) + 64;
        url = malloc(n);
        if (!url)
            goto oom;
        snprintf(url, n, "%s%sapi-version=2018-02-01&resource=%s%s%s", a->imds_endpoint,
                 strchr(a->imds_endpoint, '?') ? "&" : "?", esc_aud, esc_id ? "&client_id=" : "",
                 esc_id ? esc_id : "");
        req.method = "GET";
        req.headers = imds_headers;
        req.flags = DSVM_HTTP_IMDS;
    } else {
        n = strlen(e->audience) + 16;
        scope = malloc(n);
        if (!scope)
            goto oom;
        snprintf(scope, n, "%s/.default", e->audience);
        esc_scope = escape(scope);
        esc_id = escape(a->client_id);
        if (!esc_scope || !esc_id)
            goto oom;
        if (a->kind == DSVM_CREDENTIAL_CLIENT_SECRET) {
            esc_secret = escape(a->client_secret);
            if (!esc_secret)
                goto oom;
            n = strlen(esc_id) + strlen(esc_scope) + strlen(esc_secret) + 96;
            body = malloc(n);
            if (!body)
                goto oom;
            snprintf(body, n,
                     "client_id=%s&scope=%s&client_secret=%s&grant_type=client_credentials", esc_id,
                     esc_scope, esc_secret);
        } else {
            assertion = read_file(a->assertion_file);
            if (!assertion || !*assertion) {
                dsvm_error_set(DSVM_ERRCLASS_CONFIG,
                               "workload identity: cannot read the federated token file %s%s%s",
                               a->assertion_file, errno ? ": " : "", errno ? strerror(errno) : "");
                rc = DSVM_EAUTH;
                goto out;
            }
            esc_assertion = escape(assertion);
            if (!esc_assertion)
                goto oom;
            n = strlen(esc_id) + strlen(esc_scope) + strlen(esc_assertion) + 192;
            body = malloc(n);
            if (!body)
                goto oom;
            snprintf(body, n,
                     "client_id=%s&scope=%s&client_assertion_type=urn%%3Aietf%%3Aparams%%3Aoauth"
                     "%%3Aclient-assertion-type%%3Ajwt-bearer&client_assertion=%s"
                     "&grant_type=client_credentials",
                     esc_id, esc_scope, esc_assertion);
        }
        n = strlen(a->authority) + strlen(a->tenant) + 32;
        url = malloc(n);
        if (!url)
            goto oom;
        snprintf(url, n, "%s/%s/oauth2/v2.0/token", a->authority, a->tenant);
        req.method = "POST";
        req.headers = form_headers;
        req.body = body;
    }
    req.url = url;
    rc = dsvm_http_submit(a->h, &req, on_token, e);
    if (rc == 0)
        e->fetching = 1;
    goto out;
oom:
    rc = dsvm_error_oom();
out:
    free(url);
    wipe_free(body);
    free(scope);
    free(esc_scope);
    free(esc_id);
    wipe_free(esc_secret);
    wipe_free(assertion);
    wipe_free(esc_assertion);
    free(esc_aud);
    return rc;
}

/* The dsvm_http_auth.get hook. */
static int hook_get(const char **out, const char *audience, void *payload)
{
    dsvm_auth *a = payload;
    entry *e = find_entry(a, audience);
    int64_t now = dsvm_http_now_ms();
    int rc;

    if (!e) {
        e = calloc(1, sizeof(*e));
        if (!e)
            return dsvm_error_oom();
        e->audience = strdup(audience);
        if (!e->audience) {
            free(e);
            return dsvm_error_oom();
        }
        e->auth = a;
        e->next = a->entries;
        a->entries = e;
    }
    if (e->token && now < e->refresh_ms) {
        a->stats.cache_hits++;
        *out = e->token;
        return 0;
    }
    if (!e->fetching) {
        if (e->error && now < e->error_until_ms) {
            dsvm_error_set(DSVM_ERRCLASS_NET, "%s", e->error);
            return DSVM_EAUTH;
        }
        rc = fetch(a, e);
        if (rc < 0) {
            /* hold the failure so the waiting requests fail alike, without a retry storm */
            a->stats.token_failures++;
            set_entry_error(e, dsvm_error_last()->message);
            return rc == DSVM_ENOMEM ? rc : DSVM_EAUTH;
        }
    }
    /* a still-valid token serves while its successor is fetched */
    if (e->token && now < e->expires_ms - 1000) {
        a->stats.cache_hits++;
        *out = e->token;
        return 0;
    }
    return DSVM_HTTP_TOKEN_PENDING;
}

/* The dsvm_http_auth.refused hook: forget a token the server refused. */
static void hook_refused(const char *audience, const char *token, void *payload)
{
    dsvm_auth *a = payload;
    entry *e = find_entry(a, audience);

    if (e && e->token && strcmp(e->token, token) == 0) {
        wipe_free(e->token);
        e->token = NULL;
        e->refresh_ms = e->expires_ms = 0;
    }
}

int dsvm_auth_new(dsvm_auth **out, dsvm_http *h, const dsvm_auth_options *opts)
{
    dsvm_http_auth hook;
    dsvm_auth *a;
    const char *missing = NULL;

    switch (opts->kind) {
    case DSVM_CREDENTIAL_CLIENT_SECRET:
        if (!opts->client_secret || !*opts->client_secret)
            missing = "a client secret";
        /* fall through */
    case DSVM_CREDENTIAL_WORKLOAD_IDENTITY:
        if (opts->kind == DSVM_CREDENTIAL_WORKLOAD_IDENTITY && !opts->assertion_file)
            missing = "a federated token file";
        if (!opts->authority || !opts->tenant || !opts->client_id)
            missing = "the authority, the tenant and the client ID";
        break;
    case DSVM_CREDENTIAL_MANAGED_IDENTITY:
        if (!opts->imds_endpoint)
            missing = "the IMDS endpoint";
        break;
    default:
        missing = "a known credential kind";
    }
    if (missing) {
        dsvm_error_set(DSVM_ERRCLASS_CONFIG, "credential %s needs %s",
                       dsvm_config_credential_name(opts->kind), missing);
        return DSVM_EINVALID;
    }
    a = calloc(1, sizeof(*a));
    if (!a)
        return dsvm_error_oom();
    a->h = h;
    a->kind = opts->kind;
#define COPY(field)                                                                                \
    do {                                                                                           \
        if (opts->field) {                                                                         \
            a->field = strdup(opts->field);                                                        \
            if (!a->field)                                                                         \
                goto oom;                                                                          \
        }                                                                                          \
    } while (0)
    COPY(authority);
    COPY(tenant);
    COPY(client_id);
    COPY(client_secret);
    COPY(assertion_file);
    COPY(imds_endpoint);
#undef COPY
    hook.get = hook_get;
    hook.refused = hook_refused;
    hook.payload = a;
    dsvm_http_set_auth(h, &hook);
    *out = a;
    return 0;
oom:
    dsvm_auth_free(a);
    return dsvm_error_oom();
}

void dsvm_auth_free(dsvm_auth *a)
{
    entry *e, *next;

    if (!a)
        return;
    for (e = a->entries; e; e = next) {
        next = e->next;
        free(e->audience);
        wipe_free(e->token);
        free(e->error);
        free(e);
    }
    free(a->authority);
    free(a->tenant);
    free(a->client_id);
    wipe_free(a->client_secret);
    free(a->assertion_file);
    free(a->imds_endpoint);
    free(a);
}

int dsvm_auth_new_from_config(dsvm_auth **out, dsvm_http *h, const dsvm_config *cfg,
                              char *const *envp)
{
    dsvm_auth_options o;
    dsvm_config_secret s;
    char *secret = NULL;
    int rc;

    memset(&o, 0, sizeof(o));
    o.kind = cfg->target.credential_kind;
    o.authority = cfg->target.authority.value;
    o.tenant = cfg->target.tenant.value;
    o.client_id = cfg->target.client_id.value;
    o.assertion_file = cfg->target.federated_token_file.value;
    o.imds_endpoint = cfg->target.imds_endpoint.value;
    if (o.kind == DSVM_CREDENTIAL_CLIENT_SECRET) {
        s.env = cfg->target.client_secret_env.value;
        s.file = cfg->target.client_secret_file.value;
        rc = dsvm_config_read_secret(&secret, &s, "target.client_secret", envp);
        if (rc < 0)
            return rc;
        o.client_secret = secret;
    }
    rc = dsvm_auth_new(out, h, &o);
    wipe_free(secret);
    return rc;
}

int dsvm_auth_token(char **out, dsvm_auth *a, const char *audience)
{
    const char *tok = NULL;
    int rc, rounds;
    char *copy;

    for (rounds = 0; rounds < 3; rounds++) {
        rc = hook_get(&tok, audience, a);
        if (rc < 0)
            return rc == DSVM_ENOMEM ? rc : DSVM_EAUTH;
        if (rc == 0) {
            copy = strdup(tok);
            if (!copy)
                return dsvm_error_oom();
            *out = copy;
            return 0;
        }
        rc = dsvm_http_run(a->h);
        if (rc < 0)
            return rc;
    }
    dsvm_error_set(DSVM_ERRCLASS_NET, "no token for %s", audience);
    return DSVM_EAUTH;
}

const dsvm_auth_stats *dsvm_auth_get_stats(const dsvm_auth *a)
{
    return &a->stats;
}

int64_t dsvm_auth_refresh_at(const dsvm_auth *a, const char *audience)
{
    entry *e = find_entry((dsvm_auth *)a, audience);

    return e && e->token ? e->refresh_ms : -1;
}
