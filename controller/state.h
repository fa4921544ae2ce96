/*
 * The state store: what Azure cannot tell us (design rule 1).
 *
 * Runs and their outcomes, the write journal (intent before each write,
 * outcome after), fingerprints of write-only fields, ownership of
 * untaggable resources, drift episodes, the outbox of alert deliveries
 * (controller/alert.h), and the one-writer lease of a target. It is a journal and a cache, never the source of truth.
 *
 * Every function goes through a backend table (dsvm_state_ops), so that a
 * PostgreSQL backend can be added behind the same calls. Today the only
 * backend is SQLite (state_sqlite.c): WAL, migrations by user_version,
 * file mode 0600, and flock() on PATH-lease for the lease.
 */
#ifndef DSVM_STATE_H
#define DSVM_STATE_H

#include <stdint.h>

typedef struct dsvm_state dsvm_state;

/** A run as recorded in history. Strings are borrowed for the callback. */
typedef struct {
    int64_t id;
    const char *kind;    /**< "plan", "apply", "drift" */
    const char *target;  /**< subscription or target name */
    const char *commit;  /**< resolved commit SHA, or "" */
    int64_t started_ms;  /**< wall clock, ms since the epoch */
    int64_t ended_ms;    /**< 0 while running (or after a crash) */
    const char *outcome; /**< "running", "succeeded", "partial", "failed", "refused" */
    const char *summary; /**< JSON text, or "" */
} dsvm_state_run;

/** A journal entry. Strings are borrowed for the callback. */
typedef struct {
    int64_t id;
    int64_t run_id;
    const char *resource_id; /**< ARM ID */
    const char *action;      /**< "create", "update", "replace", "delete" */
    const char *method;      /**< HTTP method sent */
    const char *operation;   /**< LRO URL once accepted, or "" */
    const char *outcome;     /**< "" while unfinished, else "succeeded", "failed", ... */
    int64_t intent_ms;
} dsvm_state_entry;

/** An open or resolved drift episode. Strings are borrowed for the callback. */
typedef struct {
    int64_t id;
    const char *resource_id;
    const char *object; /**< Kind/name */
    const char *fields; /**< JSON: what changed, field by field */
    int64_t first_seen_ms;
    int64_t last_seen_ms;
    int64_t resolved_ms; /**< 0 while open */
} dsvm_state_drift;

/** An alert delivery in the outbox. Strings are borrowed for the callback. */
typedef struct {
    int64_t id;
    int sink;                /**< index of the sink in the configuration's alerts */
    const char *sink_kind;   /**< "webhook", "slack" or "teams", as when it was queued */
    const char *event;       /**< the event, JSON text */
    int attempts;            /**< failed attempts so far */
    int64_t created_ms;      /**< when it was queued */
    int64_t next_attempt_ms; /**< not to be tried before this time */
    const char *last_error;  /**< "" or e.g. "HTTP 500" (never a URL) */
} dsvm_state_outbox_entry;

typedef int (*dsvm_state_run_cb)(const dsvm_state_run *run, void *payload);
typedef int (*dsvm_state_entry_cb)(const dsvm_state_entry *entry, void *payload);
typedef int (*dsvm_state_drift_cb)(const dsvm_state_drift *episode, void *payload);
typedef int (*dsvm_state_outbox_cb)(const dsvm_state_outbox_entry *entry, void *payload);

/**
 * Open (creating when absent, mode 0600) the state store at `path` and
 * bring its schema up to date.
 *
 * @return 0, DSVM_EIO when the file cannot be opened or written (the
 *         message names the path and the OS error), DSVM_EINVALID when it
 *         is not a dsvmops state file or is from a newer dsvmops.
 */
int dsvm_state_open(dsvm_state **out, const char *path);

/** Close the store, releasing any lease held; accepts NULL. */
void dsvm_state_close(dsvm_state *st);

/** The schema version of an open store. */
int dsvm_state_schema_version(const dsvm_state *st);

/**
 * Take the one-writer lease of `target` for `holder` (e.g. "apply pid 42
 * on host-a"). Fails with DSVM_EBUSY, and a message naming the current
 * holder, when another process holds it. A lease left by a dead process is
 * taken over.
 */
int dsvm_state_lease_acquire(dsvm_state *st, const char *target, const char *holder);

/** Release the lease taken by dsvm_state_lease_acquire(); harmless when none. */
void dsvm_state_lease_release(dsvm_state *st);

/** Record the start of a run; `out_id` gets its ID. */
int dsvm_state_run_begin(dsvm_state *st, int64_t *out_id, const char *kind, const char *target,
                         const char *commit);

/** Record the end of a run with its outcome and a JSON summary (may be NULL). */
int dsvm_state_run_end(dsvm_state *st, int64_t run_id, const char *outcome,
                       const char *summary_json);

/** Call `cb` for the last `limit` runs, newest first; stops when cb returns non-zero. */
int dsvm_state_runs_list(dsvm_state *st, int limit, dsvm_state_run_cb cb, void *payload);

/**
 * Journal the intent to write `resource_id`, durably, before the request
 * is sent. `out_id` gets the entry's ID.
 */
int dsvm_state_journal_intent(dsvm_state *st, int64_t *out_id, int64_t run_id,
                              const char *resource_id, const char *action, const char *method);

/** Note the LRO URL of an accepted write, so a restart can re-poll it. */
int dsvm_state_journal_accepted(dsvm_state *st, int64_t entry_id, const char *operation_url);

/** Journal the outcome of a write ("succeeded", "failed", "abandoned", ...). */
int dsvm_state_journal_outcome(dsvm_state *st, int64_t entry_id, const char *outcome,
                               int http_status, const char *detail);

/** Call `cb` for every entry with an intent and no outcome, oldest first. */
int dsvm_state_journal_unfinished(dsvm_state *st, dsvm_state_entry_cb cb, void *payload);

/** Call `cb` for the entries of one run, oldest first. */
int dsvm_state_journal_of_run(dsvm_state *st, int64_t run_id, dsvm_state_entry_cb cb,
                              void *payload);

/**
 * Fingerprint a write-only value: hex SHA-256 over this store's random
 * salt, the resource ID, the field path and the value. The value itself is
 * never stored. `out` must hold 65 bytes.
 */
int dsvm_state_fingerprint(const dsvm_state *st, char out[65], const char *resource_id,
                           const char *field, const char *value, size_t value_len);

/** Store the fingerprint last sent for (resource, field). */
int dsvm_state_fingerprint_put(dsvm_state *st, const char *resource_id, const char *field,
                               const char *fingerprint);

/**
 * Read the fingerprint last sent for (resource, field) into `out` (65
 * bytes). Returns DSVM_ENOTFOUND when none is known, which callers treat
 * as "do not re-send without --resend-secrets" (design rule 4).
 */
int dsvm_state_fingerprint_get(dsvm_state *st, char out[65], const char *resource_id,
                               const char *field);

/** Record that `object` (Kind/name) of `instance` owns an untaggable resource. */
int dsvm_state_owner_put(dsvm_state *st, const char *resource_id, const char *object,
                         const char *instance);

/** Read the owner of a resource into a malloc'd string; DSVM_ENOTFOUND if none. */
int dsvm_state_owner_get(dsvm_state *st, char **out_object, const char *resource_id);

typedef int (*dsvm_state_owner_cb)(const char *resource_id, const char *object, void *payload);

/** Call `cb` for every resource `instance` owns by record (untaggable types). */
int dsvm_state_owner_list(dsvm_state *st, const char *instance, dsvm_state_owner_cb cb,
                          void *payload);

/** Forget the ownership of a deleted resource. */
int dsvm_state_owner_delete(dsvm_state *st, const char *resource_id);

/**
 * Note drift on a resource. Opens an episode when none is open (then
 * *out_opened is 1), otherwise updates the open one's fields and last-seen
 * time (*out_opened is 0).
 */
int dsvm_state_drift_seen(dsvm_state *st, int *out_opened, const char *resource_id,
                          const char *object, const char *fields_json);

/** Resolve the open episode of a resource; *out_resolved is 1 if one was open. */
int dsvm_state_drift_resolve(dsvm_state *st, int *out_resolved, const char *resource_id);

/** Call `cb` for each open drift episode. */
int dsvm_state_drift_open_list(dsvm_state *st, dsvm_state_drift_cb cb, void *payload);

/**
 * Queue an alert delivery of `event_json` to sink number `sink` (of kind
 * `sink_kind`), due now. Only the index is stored, never the sink's URL
 * or secret. `out_id` (may be NULL) gets the delivery's ID.
 */
int dsvm_state_outbox_add(dsvm_state *st, int64_t *out_id, int sink, const char *sink_kind,
                          const char *event_json);

/**
 * Call `cb` for at most `limit` deliveries (0: all) due at `now_ms`
 * (next_attempt_ms <= now_ms), earliest due first; stops when cb returns
 * non-zero.
 */
int dsvm_state_outbox_due(dsvm_state *st, int64_t now_ms, int limit, dsvm_state_outbox_cb cb,
                          void *payload);

/**
 * Count the deliveries in the outbox into `*out_count`, and put the
 * earliest next_attempt_ms in `*out_next_ms` (may be NULL; 0 when empty).
 */
int dsvm_state_outbox_pending(dsvm_state *st, int64_t *out_count, int64_t *out_next_ms);

/**
 * Make every delivery due now that waits for a later attempt (on start,
 * deliveries left by an earlier process are sent at once).
 */
int dsvm_state_outbox_retry_now(dsvm_state *st);

/** Remove a delivery: it was made, or given up. Harmless when it is gone. */
int dsvm_state_outbox_delete(dsvm_state *st, int64_t id);

/**
 * Note a failed attempt: attempts + 1, the next attempt not before
 * `next_attempt_ms`, and `error` (status or transport error; the caller
 * keeps URLs out of it).
 */
int dsvm_state_outbox_failed(dsvm_state *st, int64_t id, int64_t next_attempt_ms,
                             const char *error);

#endif
