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
    static const char sql_vault[] = "SELECT 1 FROM resources WHERE type ="
                                    " 'microsoft.keyvault/vaults' AND name = lower(?)";
    sqlite3_stmt *st;
    int exists;
    json_t *b = NULL, *body = NULL;
    if (!vault || !coll || strcasecmp(coll, "secrets") != 0 || !name) {
        kv_error(r, 404, "NotFound", "armsim serves {vault}/secrets/{name}[/{version}] only.");
        goto out;
    }
    st = store_stmt(c, sql_vault);
    sqlite3_bind_text(st, 1, vault, -1, SQLITE_TRANSIENT);
    exists = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_reset(st);
    if (!exists) {
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
    free(copy);
}
