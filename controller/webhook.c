/*
 * Push webhooks: HMAC and basic-auth checks with OpenSSL, payload parsing
 * with jansson. Every input here comes from the network, so each field is
 * type-checked and bounded before it is copied, and an event is built in
 * a local and handed to the caller only when the whole body made sense.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "dsvmops/error.h"
#include "webhook.h"

#define SIG_PREFIX    "sha256="
#define MAX_REF_LEN   1024
#define MAX_BASIC_LEN 4096

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The message says what was wrong, never what was sent: the server logs it. */
static int auth_error(const char *what)
{
    dsvm_error_set(DSVM_ERRCLASS_NET, "%s", what);
    return DSVM_EAUTH;
}

int dsvm_hook_verify_hmac(const char *secret, const void *body, size_t len, const char *header)
{
    static const unsigned char empty[1];
    unsigned char want[SHA256_DIGEST_LENGTH], got[SHA256_DIGEST_LENGTH];
    unsigned int got_len = 0;
    const char *hex;
    size_t i;

    if (!secret || !*secret)
        return auth_error("no secret to check the signature with");
    if (!header)
        return auth_error("the signature header is missing");
    if (strncasecmp(header, SIG_PREFIX, strlen(SIG_PREFIX)) != 0)
        return auth_error("the signature does not start with \"sha256=\"");
    hex = header + strlen(SIG_PREFIX);
    if (strlen(hex) != 2 * SHA256_DIGEST_LENGTH)
        return auth_error("the signature is not 64 hex digits");
    for (i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return auth_error("the signature is not 64 hex digits");
        want[i] = (unsigned char)(hi << 4 | lo);
    }
    if (!body) {
        body = empty;
        len = 0;
    }
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), body, len, got, &got_len) ||
        got_len != SHA256_DIGEST_LENGTH)
        return auth_error("HMAC-SHA256 failed");
    if (CRYPTO_memcmp(want, got, SHA256_DIGEST_LENGTH) != 0)
        return auth_error("the signature does not match");
    return 0;
}

/* Compare two byte strings of any lengths in time independent of their contents. */
static int equal_secret(const void *a, size_t alen, const void *b, size_t blen)
{
    unsigned char da[SHA256_DIGEST_LENGTH], db[SHA256_DIGEST_LENGTH];

    if (!EVP_Digest(a, alen, da, NULL, EVP_sha256(), NULL) ||
        !EVP_Digest(b, blen, db, NULL, EVP_sha256(), NULL))
        return 0;
    return CRYPTO_memcmp(da, db, sizeof(da)) == 0;
}

int dsvm_hook_verify_basic(const char *secret, const char *authorization)
{
    const char *p;
    unsigned char *decoded;
    size_t n, pad = 0;
    int dlen, ok;
    char *colon;

    if (!secret || !*secret)
        return auth_error("no secret to check the password with");
    if (!authorization)
        return auth_error("the Authorization header is missing");
    if (strncasecmp(authorization, "Basic ", 6) != 0)
        return auth_error("the Authorization header is not Basic");
    for (p = authorization + 6; *p == ' '; p++)
        ;
    n = strlen(p);
    while (n > 0 && p[n - 1] == ' ')
        n--;
    if (n == 0 || n > MAX_BASIC_LEN || n % 4 != 0)
        return auth_error("the Basic credentials are not valid base64");
    decoded = malloc(n / 4 * 3 + 1);
    if (!decoded)
        return dsvm_error_oom();
    dlen = EVP_DecodeBlock(decoded, (const unsigned char *)p, (int)n);
    if (dlen < 0) {
        free(decoded);
        return auth_error("the Basic credentials are not valid base64");
    }
    /* EVP_DecodeBlock counts the bytes that '=' padding stands for. */
    if (p[n - 1] == '=')
        pad++;
    if (n >= 2 && p[n - 2] == '=')
        pad++;
    dlen -= (int)pad;
    decoded[dlen < 0 ? 0 : dlen] = '\0';
    colon = dlen > 0 ? memchr(decoded, ':', (size_t)dlen) : NULL;
    if (!colon) {
        OPENSSL_cleanse(decoded, n / 4 * 3 + 1);
        free(decoded);
        return auth_error("the Basic credentials have no user:password");
    }
    ok = equal_secret(colon + 1, (size_t)((char *)decoded + dlen - (colon + 1)), secret,
                      strlen(secret));
    OPENSSL_cleanse(decoded, n / 4 * 3 + 1);
    free(decoded);
    return ok ? 0 : auth_error("the password does not match");
}

void dsvm_hook_event_clear(dsvm_hook_event *ev)
{
    size_t i;

    if (!ev)
        return;
    for (i = 0; i < DSVM_HOOK_MAX_REFS; i++) {
        free(ev->refs[i]);
        free(ev->commits[i]);
    }
    memset(ev, 0, sizeof(*ev));
}

static int bad_body(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int bad_body(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    dsvm_error_vset(DSVM_ERRCLASS_SOURCE, fmt, ap);
    va_end(ap);
    return DSVM_EINVALID;
}

/* A ref name fit to compare and log: 1..1024 bytes, no control characters. */
static int check_ref(const char *ref)
{
    size_t n = strlen(ref);
    size_t i;

    if (n == 0 || n > MAX_REF_LEN)
        return bad_body("%s is empty or longer than 1024 bytes", "the ref");
    for (i = 0; i < n; i++) {
        if ((unsigned char)ref[i] < 0x20 || ref[i] == 0x7f)
            return bad_body("%s has control characters", "the ref");
    }
    return 0;
}

/*
 * A commit is 4 to 64 hex digits. All zeros (a deleted branch) is kept as
 * "no commit": `*out` stays NULL.
 */
static int copy_commit(char **out, const json_t *v, const char *field)
{
    const char *s;
    size_t n, i;
    int zero = 1;

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return bad_body("\"%s\" must be a string", field);
    s = json_string_value(v);
    n = strlen(s);
    if (n < 4 || n > 64)
        return bad_body("\"%s\" is not a commit id (4 to 64 hex digits)", field);
    for (i = 0; i < n; i++) {
        if (hexval(s[i]) < 0)
            return bad_body("\"%s\" is not a commit id (4 to 64 hex digits)", field);
        if (s[i] != '0')
            zero = 0;
    }
    if (zero)
        return 0;
    *out = strdup(s);
    return *out ? 0 : dsvm_error_oom();
}

/*
 * Append one ref (and its commit field) to `ev`. A bare branch name
 * ("main") is stored as "refs/heads/main" when `bare_is_branch` is set.
 */
static int add_ref(dsvm_hook_event *ev, const json_t *ref, const json_t *commit,
                   const char *ref_field, const char *commit_field, int bare_is_branch)
{
    const char *name;
    char *copy;
    int rc;

    if (!json_is_string(ref))
        return bad_body("\"%s\" must be a string", ref_field);
    name = json_string_value(ref);
    rc = check_ref(name);
    if (rc < 0)
        return rc;
    if (bare_is_branch && strncmp(name, "refs/", 5) != 0) {
        size_t n = strlen(name);

        copy = malloc(n + sizeof("refs/heads/"));
        if (copy) {
            memcpy(copy, "refs/heads/", sizeof("refs/heads/") - 1);
            memcpy(copy + sizeof("refs/heads/") - 1, name, n + 1);
        }
    } else {
        copy = strdup(name);
    }
    if (!copy)
        return dsvm_error_oom();
    ev->refs[ev->nrefs] = copy;
    rc = copy_commit(&ev->commits[ev->nrefs], commit, commit_field);
    ev->nrefs++;
    return rc;
}

static int load_object(json_t **out, const char *body, size_t len)
{
    json_error_t err;
    json_t *root;

    root = json_loadb(body, len, 0, &err);
    if (!root) {
        dsvm_error_set(DSVM_ERRCLASS_SOURCE, "the body is not valid JSON: %s (line %d, column %d)",
                       err.text, err.line, err.column);
        return DSVM_EINVALID;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        return bad_body("%s", "the body must be a JSON object");
    }
    *out = root;
    return 0;
}

static int parse_github(dsvm_hook_event *ev, const char *event, const char *body, size_t len)
{
    json_t *root = NULL;
    int rc;

    if (!event || !*event)
        return bad_body("%s", "the X-GitHub-Event header is missing");
    if (strcmp(event, "ping") == 0) {
        ev->type = DSVM_HOOK_EVENT_PING;
        return 0;
    }
    if (strcmp(event, "push") != 0) {
        ev->type = DSVM_HOOK_EVENT_OTHER;
        return 0;
    }
    if (len > 8 && strncmp(body, "payload=", 8) == 0)
        return bad_body("%s", "the body is form-encoded; set the GitHub webhook's content type to "
                              "application/json");
    rc = load_object(&root, body, len);
    if (rc < 0)
        return rc;
    ev->type = DSVM_HOOK_EVENT_PUSH;
    if (!json_object_get(root, "ref"))
        rc = bad_body("%s", "a push event needs \"ref\"");
    else
        rc = add_ref(ev, json_object_get(root, "ref"), json_object_get(root, "after"), "ref",
                     "after", 0);
    json_decref(root);
    return rc;
}

static int parse_azure_devops(dsvm_hook_event *ev, const char *body, size_t len)
{
    json_t *root = NULL, *type, *resource, *updates, *u;
    size_t i;
    int rc;

    rc = load_object(&root, body, len);
    if (rc < 0)
        return rc;
    type = json_object_get(root, "eventType");
    if (!json_is_string(type)) {
        rc = bad_body("%s", "\"eventType\" must be a string");
        goto out;
    }
    if (strcmp(json_string_value(type), "git.push") != 0) {
        ev->type = DSVM_HOOK_EVENT_OTHER;
        goto out;
    }
    ev->type = DSVM_HOOK_EVENT_PUSH;
    resource = json_object_get(root, "resource");
    updates = json_is_object(resource) ? json_object_get(resource, "refUpdates") : NULL;
    if (!json_is_array(updates)) {
        rc = bad_body("%s", "a git.push event needs \"resource.refUpdates\" (an array)");
        goto out;
    }
    json_array_foreach(updates, i, u)
    {
        if (!json_is_object(u)) {
            rc = bad_body("%s", "each of \"resource.refUpdates\" must be an object");
            goto out;
        }
    }
    if (json_array_size(updates) > DSVM_HOOK_MAX_REFS) {
        /* Too many refs to keep: say "something moved" and let the fetch find out what. */
        ev->any_ref = 1;
        goto out;
    }
    json_array_foreach(updates, i, u)
    {
        rc = add_ref(ev, json_object_get(u, "name"), json_object_get(u, "newObjectId"),
                     "refUpdates[].name", "refUpdates[].newObjectId", 0);
        if (rc < 0)
            goto out;
    }
out:
    json_decref(root);
    return rc;
}

static int parse_generic(dsvm_hook_event *ev, const char *body, size_t len)
{
    json_t *root = NULL, *ref;
    size_t i;
    int rc = 0;

    ev->type = DSVM_HOOK_EVENT_PUSH;
    for (i = 0;
         i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'); i++)
        ;
    if (i == len) {
        ev->any_ref = 1;
        return 0;
    }
    rc = load_object(&root, body, len);
    if (rc < 0)
        return rc;
    ref = json_object_get(root, "ref");
    if (!ref || json_is_null(ref)) {
        ev->any_ref = 1;
        if (json_object_get(root, "commit"))
            rc = bad_body("%s", "\"commit\" needs \"ref\" too");
    } else {
        rc = add_ref(ev, ref, json_object_get(root, "commit"), "ref", "commit", 1);
    }
    json_decref(root);
    return rc;
}

int dsvm_hook_parse(dsvm_hook_event *out, dsvm_hook_kind kind, const char *event_header,
                    const char *body, size_t len)
{
    dsvm_hook_event ev;
    int rc;

    memset(&ev, 0, sizeof(ev));
    if (len > DSVM_HOOK_MAX_BODY) {
        dsvm_error_set(DSVM_ERRCLASS_SOURCE, "the body is larger than %d bytes",
                       DSVM_HOOK_MAX_BODY);
        return DSVM_EINVALID;
    }
    if (!body)
        len = 0;
    if (!body)
        body = "";
    switch (kind) {
    case DSVM_HOOK_GITHUB:
        rc = parse_github(&ev, event_header, body, len);
        break;
    case DSVM_HOOK_AZURE_DEVOPS:
        rc = parse_azure_devops(&ev, body, len);
        break;
    case DSVM_HOOK_GENERIC:
        rc = parse_generic(&ev, body, len);
        break;
    default:
        rc = bad_body("%s", "unknown hook kind");
        break;
    }
    if (rc < 0) {
        dsvm_hook_event_clear(&ev);
        return rc;
    }
    *out = ev;
    return 0;
}

/* Whether `have` (a full ref) names `want` ("main" or "refs/heads/main"). */
static int ref_equal(const char *have, const char *want)
{
    if (strncmp(want, "refs/", 5) == 0)
        return strcmp(have, want) == 0;
    return strncmp(have, "refs/heads/", 11) == 0 && strcmp(have + 11, want) == 0;
}

int dsvm_hook_matches(const dsvm_hook_event *ev, const char *ref)
{
    size_t i;

    if (!ev || ev->type != DSVM_HOOK_EVENT_PUSH)
        return -1;
    if (ev->any_ref)
        return 0;
    if (!ref || !*ref)
        return -1;
    for (i = 0; i < ev->nrefs && i < DSVM_HOOK_MAX_REFS; i++) {
        if (ev->refs[i] && ref_equal(ev->refs[i], ref))
            return (int)i;
    }
    return -1;
}
