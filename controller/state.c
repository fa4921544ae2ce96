/*
 * The state store's public calls: dispatch to the backend, plus what is
 * the same for every backend (fingerprinting).
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "dsvmops/error.h"
#include "state_backend.h"

struct dsvm_state {
    const dsvm_state_ops *ops;
    void *impl;
};

int dsvm_state_open(dsvm_state **out, const char *path)
{
    dsvm_state *st;
    int rc;

    if (strstr(path, "://")) {
        dsvm_error_set(DSVM_ERRCLASS_CONFIG,
                       "state.path '%s': only SQLite files are supported today; give a file "
                       "path",
                       path);
        return DSVM_EINVALID;
    }
    st = calloc(1, sizeof(*st));
    if (!st)
        return dsvm_error_oom();
    st->ops = &dsvm_state_sqlite_ops;
    rc = st->ops->open(&st->impl, path);
    if (rc < 0) {
        free(st);
        return rc;
    }
    *out = st;
    return 0;
}

void dsvm_state_close(dsvm_state *st)
{
    if (!st)
        return;
    st->ops->close(st->impl);
    free(st);
}

int dsvm_state_schema_version(const dsvm_state *st)
{
    return st->ops->schema_version(st->impl);
}

int dsvm_state_lease_acquire(dsvm_state *st, const char *target, const char *holder)
{
    return st->ops->lease_acquire(st->impl, target, holder);
}

void dsvm_state_lease_release(dsvm_state *st)
{
    st->ops->lease_release(st->impl);
}

int dsvm_state_run_begin(dsvm_state *st, int64_t *out_id, const char *kind, const char *target,
                         const char *commit)
{
    return st->ops->run_begin(st->impl, out_id, kind, target, commit);
}

int dsvm_state_run_end(dsvm_state *st, int64_t run_id, const char *outcome,
                       const char *summary_json)
{
    return st->ops->run_end(st->impl, run_id, outcome, summary_json);
}

int dsvm_state_runs_list(dsvm_state *st, int limit, dsvm_state_run_cb cb, void *payload)
{
    return st->ops->runs_list(st->impl, limit, cb, payload);
}

int dsvm_state_journal_intent(dsvm_state *st, int64_t *out_id, int64_t run_id,
                              const char *resource_id, const char *action, const char *method)
{
    return st->ops->journal_intent(st->impl, out_id, run_id, resource_id, action, method);
}

int dsvm_state_journal_accepted(dsvm_state *st, int64_t entry_id, const char *operation_url)
{
    return st->ops->journal_accepted(st->impl, entry_id, operation_url);
}

int dsvm_state_journal_outcome(dsvm_state *st, int64_t entry_id, const char *outcome,
                               int http_status, const char *detail)
{
    return st->ops->journal_outcome(st->impl, entry_id, outcome, http_status, detail);
}

int dsvm_state_journal_unfinished(dsvm_state *st, dsvm_state_entry_cb cb, void *payload)
{
    return st->ops->journal_list(st->impl, 0, 1, cb, payload);
}

int dsvm_state_journal_of_run(dsvm_state *st, int64_t run_id, dsvm_state_entry_cb cb, void *payload)
{
    return st->ops->journal_list(st->impl, run_id, 0, cb, payload);
}

/* SHA-256 over salt, resource ID, field and value, each length-prefixed so
 * that no two different inputs share a byte stream. */
int dsvm_state_fingerprint(const dsvm_state *st, char out[65], const char *resource_id,
                           const char *field, const char *value, size_t value_len)
{
    static const char hex[] = "0123456789abcdef";
    const char *parts[3] = {resource_id, field, value};
    size_t lens[3] = {strlen(resource_id), strlen(field), value_len};
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    size_t salt_len, i;
    const unsigned char *salt = st->ops->salt(st->impl, &salt_len);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok;

    if (!md)
        return dsvm_error_oom();
    ok =
        EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(md, salt, salt_len) == 1;
    for (i = 0; ok && i < 3; i++) {
        unsigned char len_be[8];
        int b;

        for (b = 0; b < 8; b++)
            len_be[b] = (unsigned char)((uint64_t)lens[i] >> (56 - 8 * b));
        ok = EVP_DigestUpdate(md, len_be, sizeof(len_be)) == 1 &&
             EVP_DigestUpdate(md, parts[i], lens[i]) == 1;
    }
    ok = ok && EVP_DigestFinal_ex(md, digest, &dlen) == 1 && dlen == 32;
    EVP_MD_CTX_free(md);
    if (!ok) {
        dsvm_error_set(DSVM_ERRCLASS_STATE, "SHA-256 failed");
        return DSVM_ERROR;
    }
    for (i = 0; i < 32; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    out[64] = '\0';
    return 0;
}

int dsvm_state_fingerprint_put(dsvm_state *st, const char *resource_id, const char *field,
                               const char *fingerprint)
{
    return st->ops->fingerprint_put(st->impl, resource_id, field, fingerprint);
}

int dsvm_state_fingerprint_get(dsvm_state *st, char out[65], const char *resource_id,
                               const char *field)
{
    return st->ops->fingerprint_get(st->impl, out, resource_id, field);
}

int dsvm_state_owner_put(dsvm_state *st, const char *resource_id, const char *object,
                         const char *instance)
{
    return st->ops->owner_put(st->impl, resource_id, object, instance);
}

int dsvm_state_owner_get(dsvm_state *st, char **out_object, const char *resource_id)
{
    return st->ops->owner_get(st->impl, out_object, resource_id);
}

int dsvm_state_owner_list(dsvm_state *st, const char *instance, dsvm_state_owner_cb cb,
                          void *payload)
{
    return st->ops->owner_list(st->impl, instance, cb, payload);
}

int dsvm_state_owner_delete(dsvm_state *st, const char *resource_id)
{
    return st->ops->owner_delete(st->impl, resource_id);
}

int dsvm_state_drift_seen(dsvm_state *st, int *out_opened, const char *resource_id,
                          const char *object, const char *fields_json)
{
    return st->ops->drift_seen(st->impl, out_opened, resource_id, object, fields_json);
}

int dsvm_state_drift_resolve(dsvm_state *st, int *out_resolved, const char *resource_id)
{
    return st->ops->drift_resolve(st->impl, out_resolved, resource_id);
}

int dsvm_state_drift_open_list(dsvm_state *st, dsvm_state_drift_cb cb, void *payload)
{
    return st->ops->drift_open_list(st->impl, cb, payload);
}

int dsvm_state_outbox_add(dsvm_state *st, int64_t *out_id, int sink, const char *sink_kind,
                          const char *event_json)
{
    return st->ops->outbox_add(st->impl, out_id, sink, sink_kind, event_json);
}

int dsvm_state_outbox_due(dsvm_state *st, int64_t now_ms, int limit, dsvm_state_outbox_cb cb,
                          void *payload)
{
    return st->ops->outbox_due(st->impl, now_ms, limit, cb, payload);
}

int dsvm_state_outbox_pending(dsvm_state *st, int64_t *out_count, int64_t *out_next_ms)
{
    return st->ops->outbox_pending(st->impl, out_count, out_next_ms);
}

int dsvm_state_outbox_retry_now(dsvm_state *st)
{
    return st->ops->outbox_retry_now(st->impl);
}

int dsvm_state_outbox_delete(dsvm_state *st, int64_t id)
{
    return st->ops->outbox_delete(st->impl, id);
}

int dsvm_state_outbox_failed(dsvm_state *st, int64_t id, int64_t next_attempt_ms, const char *error)
{
    return st->ops->outbox_failed(st->impl, id, next_attempt_ms, error);
}
