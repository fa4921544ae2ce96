/*
 * The backend table behind controller/state.h. A backend implements every
 * operation; state.c only dispatches. SQLite is the one backend today; a
 * PostgreSQL backend (several controller replicas sharing a store) plugs in
 * here later, selected by the scheme of the state path.
 */
#ifndef DSVM_STATE_BACKEND_H
#define DSVM_STATE_BACKEND_H

#include <stddef.h>

#include "state.h"

typedef struct dsvm_state_ops {
    const char *name;
    int (*open)(void **out, const char *path);
    void (*close)(void *impl);
    int (*schema_version)(const void *impl);
    /** The store's random salt for fingerprints, and its length. */
    const unsigned char *(*salt)(const void *impl, size_t *out_len);
    int (*lease_acquire)(void *impl, const char *target, const char *holder);
    void (*lease_release)(void *impl);
    int (*run_begin)(void *impl, int64_t *out_id, const char *kind, const char *target,
                     const char *commit);
    int (*run_end)(void *impl, int64_t run_id, const char *outcome, const char *summary_json);
    int (*runs_list)(void *impl, int limit, dsvm_state_run_cb cb, void *payload);
    int (*journal_intent)(void *impl, int64_t *out_id, int64_t run_id, const char *resource_id,
                          const char *action, const char *method);
    int (*journal_accepted)(void *impl, int64_t entry_id, const char *operation_url);
    int (*journal_outcome)(void *impl, int64_t entry_id, const char *outcome, int http_status,
                           const char *detail);
    int (*journal_list)(void *impl, int64_t run_id, int unfinished_only, dsvm_state_entry_cb cb,
                        void *payload);
    int (*fingerprint_put)(void *impl, const char *resource_id, const char *field,
                           const char *fingerprint);
    int (*fingerprint_get)(void *impl, char out[65], const char *resource_id, const char *field);
    int (*owner_put)(void *impl, const char *resource_id, const char *object, const char *instance);
    int (*owner_get)(void *impl, char **out_object, const char *resource_id);
    int (*owner_delete)(void *impl, const char *resource_id);
    int (*owner_list)(void *impl, const char *instance, dsvm_state_owner_cb cb, void *payload);
    int (*drift_seen)(void *impl, int *out_opened, const char *resource_id, const char *object,
                      const char *fields_json);
    int (*drift_resolve)(void *impl, int *out_resolved, const char *resource_id);
    int (*drift_open_list)(void *impl, dsvm_state_drift_cb cb, void *payload);
    int (*outbox_add)(void *impl, int64_t *out_id, int sink, const char *sink_kind,
                      const char *event_json);
    int (*outbox_due)(void *impl, int64_t now_ms, int limit, dsvm_state_outbox_cb cb,
                      void *payload);
    int (*outbox_pending)(void *impl, int64_t *out_count, int64_t *out_next_ms);
    int (*outbox_retry_now)(void *impl);
    int (*outbox_delete)(void *impl, int64_t id);
    int (*outbox_failed)(void *impl, int64_t id, int64_t next_attempt_ms, const char *error);
} dsvm_state_ops;

extern const dsvm_state_ops dsvm_state_sqlite_ops;

#endif
