/* The Key Vault secrets data plane at {armsim URL}/keyvault/{vault}/secrets/{name}. */
#include "rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Adds a new version of a secret. *out (optional) gets the secret bundle, value included. */
int kv_secret_put(struct ctx *c, const char *vault, const char *name, const char *value,
                  const char *content_type, json_t **out)
{
    static const char sql_seq[] = "SELECT coalesce(max(seq), 0) FROM secrets WHERE vault = lower(?)"
                                  " AND name = lower(?)";
    static const char sql_ins[] = "INSERT INTO secrets (vault, name, version, seq, body)"
                                  " VALUES (lower(?), lower(?), ?, ?, ?)";
    sqlite3_stmt *st = store_stmt(c, sql_seq);
    char *uri = vault_uri(c, vault), *id, version[33];
    int64_t seq = 0, now = now_ms() / 1000;
    json_t *b;
    int rc;
    sqlite3_bind_text(st, 1, vault, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW)
        seq = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    snprintf(version, sizeof(version), "%016llx%016llx", (unsigned long long)ctx_random(c),
             (unsigned long long)ctx_random(c));
    id = xasprintf("%ssecrets/%s/%s", uri, name, version);
    b = json_pack("{s:s,s:s,s:{s:b,s:I,s:I,s:s,s:i}}", "value", value, "id", id, "attributes",
                  "enabled", 1, "created", (json_int_t)now, "updated", (json_int_t)now,
                  "recoveryLevel", "Recoverable+Purgeable", "recoverableDays", 90);
    if (content_type)
        json_object_set_new(b, "contentType", json_string(content_type));
    st = store_stmt(c, sql_ins);
    sqlite3_bind_text(st, 1, vault, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, version, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, seq + 1);
    sqlite3_bind_text(st, 5, json_dumps(b, JSON_COMPACT), -1, free);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (out)
        *out = b;
    else
        json_decref(b);
    free(uri);
    free(id);
    return rc == SQLITE_DONE ? 0 : -1;
}

static json_t *kv_secret_get(struct ctx *c, const char *vault, const char *name,
                             const char *version)
{
    static const char sql_latest[] = "SELECT body FROM secrets WHERE vault = lower(?) AND"
                                     " name = lower(?) ORDER BY seq DESC LIMIT 1";
    static const char sql_version[] = "SELECT body FROM secrets WHERE vault = lower(?) AND"
                                      " name = lower(?) AND version = lower(?)";
    sqlite3_stmt *st = store_stmt(c, version ? sql_version : sql_latest);
    json_t *b = NULL;
    sqlite3_bind_text(st, 1, vault, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
    if (version)
        sqlite3_bind_text(st, 3, version, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW)
        b = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
    sqlite3_reset(st);
    return b;
}

/* Mirrors a data-plane write in the management-plane secret resource (without value). */
static void mgmt_secret_sync(struct ctx *c, const char *vault, const char *name, json_t *bundle)
{
    static const char sql[] = "SELECT body FROM resources WHERE type ="
                              " 'microsoft.keyvault/vaults' AND name = lower(?)";
    const struct rtype *t = rules_find("Microsoft.KeyVault/vaults/secrets");
    sqlite3_stmt *st = store_stmt(c, sql);
    json_t *v = NULL, *s;
    char *id, *uri, *su;
    const char *ct;
    sqlite3_bind_text(st, 1, vault, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
    sqlite3_reset(st);
    if (!v)
        return;
    id = xasprintf("%s/secrets/%s", json_string_value(json_object_get(v, "id")), name);
    s = res_load(c, t, id);
    if (!s)
        s = json_pack("{s:s,s:s,s:s,s:O,s:{}}", "id", id, "name", name, "type", t->type, "location",
                      json_object_get(v, "location"), "properties");
    uri = vault_uri(c, json_string_value(json_object_get(v, "name")));
    su = xasprintf("%ssecrets/%s", uri, name);
    json_path_set(s, "properties.secretUri", json_string(su));
    json_path_set(s, "properties.secretUriWithVersion", json_copy(json_object_get(bundle, "id")));
    json_path_set(s, "properties.attributes",
                  json_deep_copy(json_object_get(bundle, "attributes")));
    json_path_del(s, "properties.value");
    ct = json_string_value(json_object_get(bundle, "contentType"));
    if (ct)
        json_path_set(s, "properties.contentType", json_string(ct));
    res_save(c, t, id, s);
    json_decref(s);
    json_decref(v);
    free(id);
    free(uri);
    free(su);
}

static int has_perm(json_t *list, const char *perm)
{
    size_t i;
    json_t *p;
    json_array_foreach(list, i, p)
    {
        if (ci_eq(json_string_value(p), perm) || ci_eq(json_string_value(p), "all"))
            return 1;
    }
    return 0;
}

/* With --kv-authz: may the caller (oid) get or set secrets of this vault? Access policies
 * decide unless enableRbacAuthorization is on; then a Key Vault data role assigned at the
 * vault or above does (Secrets User reads; Secrets Officer and Administrator also write). */
static int kv_allowed(struct ctx *c, json_t *vault, const char *oid, int write)
{
    static const char sql[] = "SELECT body FROM resources WHERE type ="
                              " 'microsoft.authorization/roleassignments' AND sub = lower(?) AND"
                              " lower(json_extract(body, '$.properties.principalId')) = lower(?)";
    static const char *const readers[] = {"4633458b-17de-408a-b874-0445c86b69e6",
                                          "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
                                          "00482a5a-887f-4fb3-b363-3b7fe8e74483", NULL};
    const char *vid = json_string_value(json_object_get(vault, "id"));
    struct apath ap;
    sqlite3_stmt *st;
    json_t *pol;
    size_t i;
    int ok = 0;
    if (!oid || !vid)
        return 0;
    if (!json_is_true(json_path_get(vault, "properties.enableRbacAuthorization"))) {
        json_array_foreach(json_path_get(vault, "properties.accessPolicies"), i, pol)
        {
            if (ci_eq(json_string_value(json_object_get(pol, "objectId")), oid) &&
                has_perm(json_path_get(pol, "permissions.secrets"), write ? "set" : "get"))
                ok = 1;
        }
        return ok;
    }
    apath_parse(vid, &ap);
    st = store_stmt(c, sql);
    sqlite3_bind_text(st, 1, sor(ap.sub, ""), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, oid, -1, SQLITE_TRANSIENT);
    while (!ok && sqlite3_step(st) == SQLITE_ROW) {
        json_t *b = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
        const char *scope = json_string_value(json_path_get(b, "properties.scope"));
        const char *role = json_string_value(json_path_get(b, "properties.roleDefinitionId"));
        size_t n = scope ? strlen(scope) : 0;
        role = role && strrchr(role, '/') ? strrchr(role, '/') + 1 : role;
        if (scope && strncasecmp(vid, scope, n) == 0 && (vid[n] == '\0' || vid[n] == '/'))
            for (int r = write ? 1 : 0; readers[r]; r++)
                ok |= ci_eq(role, readers[r]);
        json_decref(b);
    }
    sqlite3_reset(st);
    apath_free(&ap);
    return ok;
}

static void kv_error(struct resp *r, int status, const char *code, const char *msg)
{
    resp_json(r, status, json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg));
}

void kv_handle(struct ctx *c, struct req *rq, const char *rest, struct resp *r)
{
    char *copy = xstrdup(rest), *save = NULL;
    char *vault = strtok_r(copy, "/", &save);
    char *coll = vault ? strtok_r(NULL, "/", &save) : NULL;
    char *name = coll ? strtok_r(NULL, "/", &save) : NULL;
    char *version = name ? strtok_r(NULL, "/", &save) : NULL;
    static const char sql_vault[] = "SELECT body FROM resources WHERE type ="
                                    " 'microsoft.keyvault/vaults' AND name = lower(?)";
    sqlite3_stmt *st;
    json_t *b = NULL, *body = NULL, *vb = NULL;
    if (!vault || !coll || strcasecmp(coll, "secrets") != 0 || !name) {
        kv_error(r, 404, "NotFound", "armsim serves {vault}/secrets/{name}[/{version}] only.");
        goto out;
    }
    st = store_stmt(c, sql_vault);
    sqlite3_bind_text(st, 1, vault, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW)
        vb = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
    sqlite3_reset(st);
    if (!vb) {
        kv_error(r, 404, "VaultNotFound", "No active vault of this name exists.");
        goto out;
    }
    if (auth_check(c, rq, "https://vault.azure.net", r) < 0) {
        resp_header(r, "WWW-Authenticate",
                    "Bearer authorization=\"%s/%s\", resource=\"https://vault.azure.net\"",
                    c->base_url, ARMSIM_TENANT);
        goto out;
    }
    if (!req_query(rq, "api-version")) {
        kv_error(r, 400, "BadParameter", "The api-version query parameter is required.");
        goto out;
    }
    if (c->kv_authz && !kv_allowed(c, vb, rq->caller_oid, strcmp(rq->method, "GET") != 0)) {
        char *msg = xasprintf("The user, group or application 'appid=%s;oid=%s' does not have "
                              "secrets %s permission on key vault '%s'.",
                              sor(rq->caller, ""), sor(rq->caller_oid, ""),
                              strcmp(rq->method, "GET") == 0 ? "get" : "set", vault);
        resp_json(r, 403,
                  json_pack("{s:{s:s,s:s,s:{s:s}}}", "error", "code", "Forbidden", "message", msg,
                            "innererror", "code",
                            json_is_true(json_path_get(vb, "properties.enableRbacAuthorization"))
                                ? "ForbiddenByRbac"
                                : "AccessDenied"));
        free(msg);
        goto out;
    }
    if (strcmp(rq->method, "GET") == 0) {
        b = kv_secret_get(c, vault, name, version);
        if (!b) {
            char *msg = xasprintf("A secret with (name/id) %s%s%s was not found in this key "
                                  "vault.",
                                  name, version ? "/" : "", version ? version : "");
            kv_error(r, 404, "SecretNotFound", msg);
            free(msg);
            goto out;
        }
        resp_json(r, 200, b);
        b = NULL;
    } else if (strcmp(rq->method, "PUT") == 0 && !version) {
        const char *value;
        body = json_loadb(rq->body, rq->body_len, 0, NULL);
        value = json_string_value(json_object_get(body, "value"));
        if (!value) {
            kv_error(r, 400, "BadParameter", "The request body needs a string 'value'.");
            goto out;
        }
        kv_secret_put(c, vault, name, value,
                      json_string_value(json_object_get(body, "contentType")), &b);
        mgmt_secret_sync(c, vault, name, b);
        resp_json(r, 200, b);
        b = NULL;
    } else
        kv_error(r, 405, "MethodNotAllowed", "Use GET or PUT on secrets/{name}.");
out:
    json_decref(b);
    json_decref(body);
    json_decref(vb);
    free(copy);
}
