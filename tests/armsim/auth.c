/* Identity: Entra-shaped JWTs signed with HMAC-SHA256, the OAuth2 client-credentials
 * endpoint, the IMDS managed-identity endpoint, and bearer checks for ARM calls. */
#include "armsim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

int auth_add_client(struct ctx *c, const char *spec, int federated)
{
    const char *colon = strchr(spec, ':');
    struct client *nc;
    if (!federated && (!colon || colon == spec || !colon[1])) {
        fprintf(stderr, "armsim: --client wants ID:SECRET, got \"%s\"\n", spec);
        return -1;
    }
    if (federated && !*spec) {
        fprintf(stderr, "armsim: --federated wants a client ID\n");
        return -1;
    }
    nc = realloc(c->clients, (c->nclients + 1) * sizeof(*nc));
    if (!nc)
        abort();
    c->clients = nc;
    if (federated) {
        nc[c->nclients].id = xstrdup(spec);
        nc[c->nclients].secret = NULL;
    } else {
        nc[c->nclients].id = strndup(spec, (size_t)(colon - spec));
        nc[c->nclients].secret = xstrdup(colon + 1);
    }
    c->nclients++;
    return 0;
}

static char *sign_part(struct ctx *c, const char *data, size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    HMAC(EVP_sha256(), c->key, (int)sizeof(c->key), (const unsigned char *)data, len, md, &mdlen);
    return b64url_encode(md, mdlen);
}

/* Issues a signed JWT for the audience; caller frees. */
static char *issue_token(struct ctx *c, const char *tenant, const char *aud, const char *oid,
                         const char *appid, int64_t iat, int64_t exp)
{
    json_t *hdr = json_pack("{s:s,s:s,s:s}", "typ", "JWT", "alg", "HS256", "kid", "armsim");
    char *iss = xasprintf("https://sts.windows.net/%s/", tenant);
    json_t *claims = json_pack("{s:s,s:s,s:I,s:I,s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "aud", aud,
                               "iss", iss, "iat", (json_int_t)iat, "nbf", (json_int_t)iat, "exp",
                               (json_int_t)exp, "tid", tenant, "oid", oid, "sub", oid, "appid",
                               appid, "appidacr", "1", "idtyp", "app", "ver", "1.0");
    char *h = json_dumps(hdr, JSON_COMPACT), *p = json_dumps(claims, JSON_COMPACT);
    char *h64 = b64url_encode((const unsigned char *)h, strlen(h));
    char *p64 = b64url_encode((const unsigned char *)p, strlen(p));
    char *signing = xasprintf("%s.%s", h64, p64);
    char *sig = sign_part(c, signing, strlen(signing));
    char *tok = xasprintf("%s.%s", signing, sig);
    free(iss);
    free(h);
    free(p);
    free(h64);
    free(p64);
    free(signing);
    free(sig);
    json_decref(hdr);
    json_decref(claims);
    return tok;
}

/* Decodes the claims of a JWT without checking a signature; NULL when malformed. */
static json_t *jwt_claims(const char *tok)
{
    const char *d1 = strchr(tok, '.'), *d2;
    unsigned char *raw;
    size_t n;
    json_t *j;
    if (!d1)
        return NULL;
    d2 = strchr(d1 + 1, '.');
    if (!d2)
        return NULL;
    raw = b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &n);
    if (!raw)
        return NULL;
    j = json_loadb((const char *)raw, n, 0, NULL);
    free(raw);
    if (!json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* Reads an application/x-www-form-urlencoded body into a JSON object of strings. */
static json_t *parse_form(const char *body, size_t len)
{
    json_t *o = json_object();
    size_t i = 0;
    while (i < len) {
        size_t end = i, eq;
        char *k, *v;
        while (end < len && body[end] != '&')
            end++;
        eq = i;
        while (eq < end && body[eq] != '=')
            eq++;
        k = url_decode(body + i, eq - i);
        v = eq < end ? url_decode(body + eq + 1, end - eq - 1) : xstrdup("");
        json_object_set_new(o, k, json_string(v));
        free(k);
        free(v);
        i = end + 1;
    }
    return o;
}

static void oauth_error(struct resp *r, int status, const char *err, int code, const char *desc)
{
    char *ts = iso_time(now_ms());
    char *d = xasprintf("AADSTS%d: %s", code, desc);
    resp_json(r, status,
              json_pack("{s:s,s:s,s:[i],s:s,s:s,s:s}", "error", err, "error_description", d,
                        "error_codes", code, "timestamp", ts, "trace_id",
                        "00000000-0000-0000-0000-000000000000", "correlation_id",
                        "00000000-0000-0000-0000-000000000000"));
    free(ts);
    free(d);
}

/* Turns a scope such as https://management.azure.com/.default into an audience. */
static char *scope_audience(const char *scope)
{
    char *aud = xstrdup(scope && *scope ? scope : ARMSIM_ARM_AUD);
    char *sp = strchr(aud, ' ');
    size_t n;
    if (sp)
        *sp = '\0';
    n = strlen(aud);
    if (n > 9 && strcmp(aud + n - 9, "/.default") == 0)
        aud[n - 9] = '\0';
    n = strlen(aud);
    while (n > 0 && aud[n - 1] == '/')
        aud[--n] = '\0';
    return aud;
}

void auth_token_endpoint(struct ctx *c, struct req *rq, const char *tenant, struct resp *r)
{
    json_t *form = NULL;
    const char *id, *secret, *assertion, *grant;
    struct client *cl = NULL;
    char oid[37];
    char *aud = NULL, *tok = NULL, *seed;
    int64_t now = now_ms() / 1000;
    if (strcmp(rq->method, "POST") != 0) {
        oauth_error(r, 405, "invalid_request", 900561, "The endpoint only accepts POST requests.");
        goto out;
    }
    form = parse_form(rq->body, rq->body_len);
    grant = json_string_value(json_object_get(form, "grant_type"));
    id = json_string_value(json_object_get(form, "client_id"));
    secret = json_string_value(json_object_get(form, "client_secret"));
    assertion = json_string_value(json_object_get(form, "client_assertion"));
    if (!grant || strcmp(grant, "client_credentials") != 0) {
        oauth_error(r, 400, "unsupported_grant_type", 70003,
                    "The app requested an unsupported grant type; use client_credentials.");
        goto out;
    }
    if (!id) {
        oauth_error(r, 400, "invalid_request", 900144,
                    "The request body must contain the parameter: 'client_id'.");
        goto out;
    }
    for (size_t i = 0; i < c->nclients; i++)
        if (strcmp(c->clients[i].id, id) == 0)
            cl = &c->clients[i];
    if (!cl) {
        oauth_error(r, 400, "unauthorized_client", 700016,
                    "Application was not found in the directory (armsim knows only the "
                    "--client and --federated IDs).");
        goto out;
    }
    if (cl->secret) {
        if (!secret || strlen(secret) != strlen(cl->secret) ||
            CRYPTO_memcmp(secret, cl->secret, strlen(secret)) != 0) {
            oauth_error(r, 401, "invalid_client", 7000215,
                        "Invalid client secret provided. Ensure the secret being sent in the "
                        "request is the client secret value, not the client secret ID.");
            goto out;
        }
    } else {
        json_t *claims = assertion ? jwt_claims(assertion) : NULL;
        json_t *exp = json_object_get(claims, "exp");
        int bad = !claims || (exp && json_integer_value(exp) < now);
        json_decref(claims);
        if (bad) {
            oauth_error(r, 401, "invalid_client", 700024,
                        "Client assertion is missing, malformed or expired.");
            goto out;
        }
    }
    aud = scope_audience(json_string_value(json_object_get(form, "scope")));
    seed = xasprintf("sp:%s", id);
    hash_uuid(seed, oid);
    free(seed);
    tok = issue_token(c, tenant, aud, oid, id, now, now + c->token_ttl);
    resp_json(r, 200,
              json_pack("{s:s,s:I,s:I,s:s}", "token_type", "Bearer", "expires_in",
                        (json_int_t)c->token_ttl, "ext_expires_in", (json_int_t)c->token_ttl,
                        "access_token", tok));
out:
    stats_count_token(c, r->status);
    json_decref(form);
    free(aud);
    free(tok);
}

/* Finds a user-assigned identity by clientId, principalId or resource ID. */
static json_t *find_identity(struct ctx *c, const char *field, const char *value)
{
    static const char sql_client[] =
        "SELECT body FROM resources WHERE type = 'microsoft.managedidentity/userassignedidentities'"
        " AND lower(json_extract(body, '$.properties.clientId')) = lower(?)";
    static const char sql_principal[] =
        "SELECT body FROM resources WHERE type = 'microsoft.managedidentity/userassignedidentities'"
        " AND lower(json_extract(body, '$.properties.principalId')) = lower(?)";
    json_t *out = NULL;
    sqlite3_stmt *st;
    if (strcmp(field, "msi_res_id") == 0)
        return store_get(c, value);
    st = store_stmt(c, strcmp(field, "client_id") == 0 ? sql_client : sql_principal);
    if (!st)
        return NULL;
    sqlite3_bind_text(st, 1, value, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW)
        out = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
    sqlite3_reset(st);
    return out;
}

void auth_imds(struct ctx *c, struct req *rq, struct resp *r)
{
    const char *md = req_header(rq, "Metadata");
    const char *resource = req_query(rq, "resource");
    static const char *const selectors[] = {"client_id", "object_id", "msi_res_id"};
    char oid[37], client[37];
    char *aud = NULL, *tok = NULL;
    json_t *ident = NULL;
    int64_t now = now_ms() / 1000;
    if (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "POST") != 0) {
        resp_json(r, 405,
                  json_pack("{s:s,s:s}", "error", "invalid_request", "error_description",
                            "Method not allowed"));
        goto out;
    }
    if (!md || strcasecmp(md, "true") != 0) {
        resp_json(r, 400,
                  json_pack("{s:s,s:s}", "error", "invalid_request", "error_description",
                            "Required metadata header not specified"));
        goto out;
    }
    if (!req_query(rq, "api-version")) {
        resp_json(r, 400,
                  json_pack("{s:s,s:s}", "error", "invalid_request", "error_description",
                            "Required query variable 'api-version' is missing"));
        goto out;
    }
    if (!resource || !*resource) {
        resp_json(r, 400,
                  json_pack("{s:s,s:s}", "error", "invalid_request", "error_description",
                            "Required audience parameter not specified"));
        goto out;
    }
    hash_uuid("imds:system-assigned", oid);
    hash_uuid("imds:system-assigned-client", client);
    for (int i = 0; i < 3; i++) {
        const char *v = req_query(rq, selectors[i]);
        if (!v)
            continue;
        ident = find_identity(c, selectors[i], v);
        if (!ident) {
            resp_json(r, 400,
                      json_pack("{s:s,s:s}", "error", "invalid_request", "error_description",
                                "Identity not found (armsim knows the user-assigned "
                                "identities created through its ARM API)"));
            goto out;
        }
        snprintf(oid, sizeof(oid), "%s",
                 sor(json_string_value(json_path_get(ident, "properties.principalId")), ""));
        snprintf(client, sizeof(client), "%s",
                 sor(json_string_value(json_path_get(ident, "properties.clientId")), ""));
        break;
    }
    aud = scope_audience(resource);
    tok = issue_token(c, ARMSIM_TENANT, aud, oid, client, now, now + c->token_ttl);
    {
        char *ttl = xasprintf("%ld", c->token_ttl);
        char *on = xasprintf("%lld", (long long)(now + c->token_ttl));
        char *nb = xasprintf("%lld", (long long)now);
        resp_json(r, 200,
                  json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "access_token", tok,
                            "refresh_token", "", "client_id", client, "expires_in", ttl,
                            "expires_on", on, "ext_expires_in", ttl, "not_before", nb, "resource",
                            resource, "token_type", "Bearer"));
        free(ttl);
        free(on);
        free(nb);
    }
out:
    stats_count_token(c, r->status);
    json_decref(ident);
    free(aud);
    free(tok);
}

static void unauthorized(struct resp *r, const char *code, const char *msg)
{
    resp_error(r, 401, code, "%s", msg);
    resp_header(r, "WWW-Authenticate",
                "Bearer authorization_uri=\"https://login.microsoftonline.com/%s\", "
                "error=\"invalid_token\", error_description=\"%s\"",
                ARMSIM_TENANT, msg);
}

/* Checks the bearer token of a request: signed by armsim, unexpired, and for an audience
 * starting with aud_prefix (NULL accepts any). Returns 0 and sets rq->caller, or fills a
 * 401 answer and returns -1. */
int auth_check(struct ctx *c, struct req *rq, const char *aud_prefix, struct resp *r)
{
    const char *h = req_header(rq, "Authorization");
    const char *tok, *last;
    char *sig = NULL;
    json_t *claims = NULL;
    const char *aud;
    int rc = -1;
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
        unauthorized(r, "AuthenticationFailed",
                     "Authentication failed. The 'Authorization' header is missing.");
        return -1;
    }
    tok = h + 7;
    if (c->tok_cache && strcmp(tok, c->tok_cache) == 0) {
        /* verified before: only expiry and audience can change the answer */
        if (c->tok_exp <= now_ms() / 1000) {
            unauthorized(r, "ExpiredAuthenticationToken",
                         "The access token expiry UTC time is earlier than current UTC time.");
            return -1;
        }
        if (aud_prefix && strncasecmp(c->tok_aud, aud_prefix, strlen(aud_prefix)) != 0) {
            unauthorized(r, "InvalidAuthenticationTokenAudience",
                         "The access token has been obtained for the wrong audience or resource.");
            return -1;
        }
        rq->caller = xstrdup(c->tok_appid);
        rq->caller_oid = xstrdup(c->tok_oid);
        return 0;
    }
    last = strrchr(tok, '.');
    if (!last || last == tok) {
        unauthorized(r, "InvalidAuthenticationToken", "The access token is invalid.");
        return -1;
    }
    sig = sign_part(c, tok, (size_t)(last - tok));
    if (strlen(sig) != strlen(last + 1) || CRYPTO_memcmp(sig, last + 1, strlen(sig)) != 0) {
        unauthorized(r, "InvalidAuthenticationToken",
                     "The access token is invalid: armsim did not sign it.");
        goto out;
    }
    claims = jwt_claims(tok);
    if (!claims) {
        unauthorized(r, "InvalidAuthenticationToken", "The access token is malformed.");
        goto out;
    }
    if (json_integer_value(json_object_get(claims, "exp")) <= now_ms() / 1000) {
        unauthorized(r, "ExpiredAuthenticationToken",
                     "The access token expiry UTC time is earlier than current UTC time.");
        goto out;
    }
    aud = json_string_value(json_object_get(claims, "aud"));
    if (aud_prefix && (!aud || strncasecmp(aud, aud_prefix, strlen(aud_prefix)) != 0)) {
        unauthorized(r, "InvalidAuthenticationTokenAudience",
                     "The access token has been obtained for the wrong audience or resource.");
        goto out;
    }
    rq->caller = xstrdup(json_string_value(json_object_get(claims, "appid")));
    rq->caller_oid = xstrdup(json_string_value(json_object_get(claims, "oid")));
    free(c->tok_cache);
    free(c->tok_appid);
    free(c->tok_oid);
    free(c->tok_aud);
    c->tok_cache = xstrdup(tok);
    c->tok_appid = xstrdup(rq->caller);
    c->tok_oid = xstrdup(rq->caller_oid);
    c->tok_aud = xstrdup(sor(aud, ""));
    c->tok_exp = json_integer_value(json_object_get(claims, "exp"));
    rc = 0;
out:
    free(sig);
    json_decref(claims);
    return rc;
}
