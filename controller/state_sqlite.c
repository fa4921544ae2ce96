/*
 * The SQLite backend of the state store.
 *
 * One file per controller target. WAL mode with synchronous=NORMAL: a
 * journalled intent is in the WAL (the kernel has it) before its request is
 * sent, so it survives the controller being killed at any point (kill -9,
 * OOM, a crash). Only a power loss or kernel crash can lose the last
 * transactions; FULL would fsync on every journal entry, which measured
 * 5,800 writes at almost 9 minutes on this machine instead of seconds.
 * The schema is migrated forward by PRAGMA user_version; application_id
 * marks the file as ours. The file is created with mode 0600 (SQLite gives its -wal and
 * -shm files the same mode). The lease is an flock() on a file next to the
 * database (PATH-lease, also 0600), held for as long as the writer lives,
 * plus a row naming the holder for the message the next writer sees.
 *
 * This module never close()s a descriptor of the database file itself:
 * POSIX drops every fcntl() lock a process holds on a file when any of its
 * descriptors of that file is closed, and SQLite's locks are fcntl() locks.
 * A daemon keeps connections open (the alert thread) while it opens and
 * closes others; had it closed a stray descriptor of the database, another
 * process closing its last connection would believe it was the last and
 * delete the WAL under the daemon's feet.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include "dsvmops/error.h"
#include "fmt.h"
#include "state_backend.h"

#define APPLICATION_ID 0x4453564d /* "DSVM" */
#define SALT_LEN       32

typedef struct {
    sqlite3 *db;
    char *path;
    int lock_fd;
    char *lease_target;
    unsigned char salt[SALT_LEN];
} sqlite_state;

/* Schema migrations: entry i brings user_version from i to i + 1. Only
 * ever append. */
static const char *const migrations[] = {
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value BLOB NOT NULL);"
    "CREATE TABLE runs(id INTEGER PRIMARY KEY, kind TEXT NOT NULL, target TEXT NOT NULL,"
    " commit_sha TEXT NOT NULL DEFAULT '', started_ms INTEGER NOT NULL,"
    " ended_ms INTEGER NOT NULL DEFAULT 0, outcome TEXT NOT NULL DEFAULT 'running',"
    " summary TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE journal(id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id),"
    " resource_id TEXT NOT NULL, action TEXT NOT NULL, method TEXT NOT NULL,"
    " operation TEXT NOT NULL DEFAULT '', intent_ms INTEGER NOT NULL,"
    " outcome TEXT NOT NULL DEFAULT '', http_status INTEGER NOT NULL DEFAULT 0,"
    " detail TEXT NOT NULL DEFAULT '', outcome_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX journal_unfinished ON journal(id) WHERE outcome = '';"
    "CREATE INDEX journal_run ON journal(run_id);"
    "CREATE TABLE fingerprints(resource_id TEXT NOT NULL COLLATE NOCASE, field TEXT NOT NULL,"
    " fingerprint TEXT NOT NULL, updated_ms INTEGER NOT NULL, PRIMARY KEY(resource_id, field));"
    "CREATE TABLE ownership(resource_id TEXT PRIMARY KEY COLLATE NOCASE, object TEXT NOT NULL,"
    " instance TEXT NOT NULL, updated_ms INTEGER NOT NULL);"
    "CREATE TABLE drift_episodes(id INTEGER PRIMARY KEY,"
    " resource_id TEXT NOT NULL COLLATE NOCASE, object TEXT NOT NULL, fields TEXT NOT NULL,"
    " first_seen_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL,"
    " resolved_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE UNIQUE INDEX drift_open ON drift_episodes(resource_id) WHERE resolved_ms = 0;"
    "CREATE TABLE leases(target TEXT PRIMARY KEY, holder TEXT NOT NULL, pid INTEGER NOT NULL,"
    " acquired_ms INTEGER NOT NULL);",
    /* 2: the alert outbox (controller/alert.h). A delivery names its sink by
     * index and kind; the sink's URL and secret are never stored. */
    "CREATE TABLE alert_outbox(id INTEGER PRIMARY KEY, sink INTEGER NOT NULL,"
    " sink_kind TEXT NOT NULL, event TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
    " created_ms INTEGER NOT NULL, next_attempt_ms INTEGER NOT NULL,"
    " last_error TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX alert_outbox_due ON alert_outbox(next_attempt_ms);",
};

#define N_MIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Turn an SQLite failure into the last error, naming the file; a full disk
 * or an I/O error says so plainly. */
static int db_error(const sqlite_state *s, const char *what)
{
    int code = sqlite3_errcode(s->db);

    if (code == SQLITE_NOTADB) {
        dsvm_error_set(DSVM_ERRCLASS_STATE,
                       "%s is not a dsvmops state database; point state.path at another file",
                       s->path);
        return DSVM_EINVALID;
    }
    if (code == SQLITE_FULL)
        dsvm_error_set(DSVM_ERRCLASS_STATE,
                       "state database %s: %s: %s: the disk is full; free space and run again "
                       "(nothing was lost)",
                       s->path, what, strerror(ENOSPC));
    else if ((code == SQLITE_IOERR || code == SQLITE_CANTOPEN) && sqlite3_system_errno(s->db))
        dsvm_error_set(DSVM_ERRCLASS_STATE, "state database %s: %s: %s (%s)", s->path, what,
                       sqlite3_errmsg(s->db), strerror(sqlite3_system_errno(s->db)));
    else
        dsvm_error_set(DSVM_ERRCLASS_STATE, "state database %s: %s: %s", s->path, what,
                       sqlite3_errmsg(s->db));
    return code == SQLITE_NOMEM ? DSVM_ENOMEM : DSVM_EIO;
}

static int exec(sqlite_state *s, const char *sql, const char *what)
{
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_error(s, what);
    return 0;
}

static int prepare(sqlite_state *s, sqlite3_stmt **out, const char *sql)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, out, NULL) != SQLITE_OK)
        return db_error(s, "prepare");
    return 0;
}

/* Run a statement that returns no rows; finalizes it. */
static int step_done(sqlite_state *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);

    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_error(s, what);
    return 0;
}

/*
 * Prepare `sql`, bind the arguments described by `types` (one letter each:
 * 't' a const char * (NULL binds ""), 'i' an int, 'I' an int64_t), run it
 * to completion and finalize it. For statements that return no rows.
 */
static int run(sqlite_state *s, const char *what, const char *sql, const char *types, ...)
{
    sqlite3_stmt *st;
    va_list ap;
    int rc = prepare(s, &st, sql), i;

    if (rc < 0)
        return rc;
    va_start(ap, types);
    for (i = 0; types[i]; i++) {
        if (types[i] == 't') {
            const char *v = va_arg(ap, const char *);

            sqlite3_bind_text(st, i + 1, v ? v : "", -1, SQLITE_TRANSIENT);
        } else if (types[i] == 'i') {
            sqlite3_bind_int(st, i + 1, va_arg(ap, int));
        } else {
            sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
        }
    }
    va_end(ap);
    return step_done(s, st, what);
}

static int pragma_int(sqlite_state *s, const char *sql, int *out)
{
    sqlite3_stmt *st;
    int rc = prepare(s, &st, sql);

    if (rc < 0)
        return rc;
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return db_error(s, sql);
    }
    *out = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return 0;
}

static int load_or_make_salt(sqlite_state *s)
{
    sqlite3_stmt *st;
    int rc = prepare(s, &st, "SELECT value FROM meta WHERE key = 'salt'");

    if (rc < 0)
        return rc;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == SALT_LEN) {
        memcpy(s->salt, sqlite3_column_blob(st, 0), SALT_LEN);
        sqlite3_finalize(st);
        return 0;
    }
    sqlite3_finalize(st);
    if (RAND_bytes(s->salt, SALT_LEN) != 1) {
        dsvm_error_set(DSVM_ERRCLASS_STATE, "state database %s: no random bytes for the salt",
                       s->path);
        return DSVM_ERROR;
    }
    rc = prepare(s, &st, "INSERT OR REPLACE INTO meta(key, value) VALUES('salt', ?1)");
    if (rc < 0)
        return rc;
    sqlite3_bind_blob(st, 1, s->salt, SALT_LEN, SQLITE_STATIC);
    return step_done(s, st, "store salt");
}

static int migrate(sqlite_state *s)
{
    int version, app_id, rc, i;
    char sql[96];

    rc = pragma_int(s, "PRAGMA user_version", &version);
    if (rc == 0)
        rc = pragma_int(s, "PRAGMA application_id", &app_id);
    if (rc < 0)
        return rc;
    if (version > 0 && app_id != APPLICATION_ID) {
        dsvm_error_set(DSVM_ERRCLASS_STATE,
                       "%s is not a dsvmops state database; point state.path at another file",
                       s->path);
        return DSVM_EINVALID;
    }
    if (version > N_MIGRATIONS) {
        dsvm_error_set(DSVM_ERRCLASS_STATE,
                       "state database %s has schema %d, newer than this dsvmops knows (%d); "
                       "upgrade dsvmops",
                       s->path, version, N_MIGRATIONS);
        return DSVM_EINVALID;
    }
    for (i = version; i < N_MIGRATIONS; i++) {
        rc = exec(s, "BEGIN IMMEDIATE", "begin migration");
        if (rc < 0)
            return rc;
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d; PRAGMA application_id = %d", i + 1,
                 APPLICATION_ID);
        rc = exec(s, migrations[i], "migrate schema");
        if (rc == 0)
            rc = exec(s, sql, "set schema version");
        if (rc == 0 && i == 0)
            rc = load_or_make_salt(s);
        if (rc < 0) {
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
        rc = exec(s, "COMMIT", "commit migration");
        if (rc < 0)
            return rc;
    }
    return load_or_make_salt(s);
}

static void sq_close(void *impl);

static int sq_open(void **out, const char *path)
{
    sqlite_state *s = calloc(1, sizeof(*s));
    int fd, rc;

    if (!s)
        return dsvm_error_oom();
    s->lock_fd = -1;
    s->path = strdup(path);
    if (!s->path) {
        free(s);
        return dsvm_error_oom();
    }
    /* Create the file ourselves so that it is private from the start; only
     * when it is absent (see the top of this file on closing descriptors). */
    if (access(path, F_OK) != 0) {
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST) {
            dsvm_error_set(DSVM_ERRCLASS_STATE, "cannot open state database %s: %s", path,
                           strerror(errno));
            rc = DSVM_EIO;
            goto fail;
        }
        if (fd >= 0)
            close(fd);
    }
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) !=
        SQLITE_OK) {
        rc = db_error(s, "open");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 5000);
    rc = exec(s, "PRAGMA journal_mode = WAL", "enable WAL");
    if (rc == 0)
        rc = exec(s, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON", "set pragmas");
    if (rc == 0)
        rc = migrate(s);
    if (rc < 0)
        goto fail;
    *out = s;
    return 0;
fail:
    sq_close(s);
    return rc;
}

static void sq_lease_release(void *impl)
{
    sqlite_state *s = impl;
    sqlite3_stmt *st;

    if (s->lock_fd < 0)
        return;
    if (s->lease_target && sqlite3_prepare_v2(s->db, "DELETE FROM leases WHERE target = ?1", -1,
                                              &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, s->lease_target, -1, SQLITE_STATIC);
        sqlite3_step(st);
        sqlite3_finalize(st);
    }
    flock(s->lock_fd, LOCK_UN);
    close(s->lock_fd);
    s->lock_fd = -1;
    free(s->lease_target);
    s->lease_target = NULL;
}

static void sq_close(void *impl)
{
    sqlite_state *s = impl;

    if (!s)
        return;
    if (s->db)
        sq_lease_release(s);
    sqlite3_close(s->db);
    free(s->path);
    free(s);
}

static int sq_schema_version(const void *impl)
{
    (void)impl;
    return N_MIGRATIONS;
}

static const unsigned char *sq_salt(const void *impl, size_t *out_len)
{
    const sqlite_state *s = impl;

    *out_len = SALT_LEN;
    return s->salt;
}

/* Tell the caller who holds the lease, from the row the holder wrote. */
static int lease_busy(sqlite_state *s, const char *target)
{
    sqlite3_stmt *st;

    if (prepare(s, &st, "SELECT holder, pid, acquired_ms FROM leases WHERE target = ?1") == 0) {
        sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            time_t since = (time_t)(sqlite3_column_int64(st, 2) / 1000);
            char when[32];
            struct tm tm;

            gmtime_r(&since, &tm);
            strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
            dsvm_error_set(DSVM_ERRCLASS_STATE,
                           "target %s is locked by %s (pid %lld) since %s; wait for it to "
                           "finish, or stop it",
                           target, (const char *)sqlite3_column_text(st, 0),
                           (long long)sqlite3_column_int64(st, 1), when);
            sqlite3_finalize(st);
            return DSVM_EBUSY;
        }
        sqlite3_finalize(st);
    }
    dsvm_error_set(DSVM_ERRCLASS_STATE,
                   "target %s is locked by another dsvmops process using %s; wait for it to "
                   "finish, or stop it",
                   target, s->path);
    return DSVM_EBUSY;
}

static int sq_lease_acquire(void *impl, const char *target, const char *holder)
{
    sqlite_state *s = impl;
    sqlite3_stmt *st;
    char *lock_path;
    int fd, rc;

    if (s->lock_fd >= 0) {
        dsvm_error_set(DSVM_ERRCLASS_STATE, "this process already holds the lease of %s",
                       s->lease_target ? s->lease_target : "?");
        return DSVM_EBUSY;
    }
    lock_path = dsvm_fmt("%s-lease", s->path);
    if (!lock_path)
        return dsvm_error_oom();
    fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        dsvm_error_set(DSVM_ERRCLASS_STATE, "cannot open %s for the lease: %s", lock_path,
                       strerror(errno));
        free(lock_path);
        return DSVM_EIO;
    }
    free(lock_path);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        close(fd);
        return lease_busy(s, target);
    }
    s->lease_target = strdup(target);
    if (!s->lease_target) {
        close(fd);
        return dsvm_error_oom();
    }
    s->lock_fd = fd;
    /* Whoever held the row before us is gone: their flock went with them. */
    rc = prepare(s, &st,
                 "INSERT OR REPLACE INTO leases(target, holder, pid, acquired_ms)"
                 " VALUES(?1, ?2, ?3, ?4)");
    if (rc == 0) {
        sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, holder, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)getpid());
        sqlite3_bind_int64(st, 4, now_ms());
        rc = step_done(s, st, "record lease");
    }
    if (rc < 0)
        sq_lease_release(s);
    return rc;
}

static int sq_run_begin(void *impl, int64_t *out_id, const char *kind, const char *target,
                        const char *commit)
{
    sqlite_state *s = impl;
    int rc = run(s, "record run",
                 "INSERT INTO runs(kind, target, commit_sha, started_ms) VALUES(?1,?2,?3,?4)",
                 "tttI", kind, target, commit, now_ms());

    if (rc == 0)
        *out_id = sqlite3_last_insert_rowid(s->db);
    return rc;
}

static int sq_run_end(void *impl, int64_t run_id, const char *outcome, const char *summary_json)
{
    return run(impl, "record run outcome",
               "UPDATE runs SET ended_ms = ?1, outcome = ?2, summary = ?3 WHERE id = ?4", "IttI",
               now_ms(), outcome, summary_json, run_id);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);

    return t ? (const char *)t : "";
}

static int sq_runs_list(void *impl, int limit, dsvm_state_run_cb cb, void *payload)
{
    sqlite_state *s = impl;
    sqlite3_stmt *st;
    int rc = prepare(s, &st,
                     "SELECT id, kind, target, commit_sha, started_ms, ended_ms, outcome, summary"
                     " FROM runs ORDER BY id DESC LIMIT ?1");
    int step;

    if (rc < 0)
        return rc;
    sqlite3_bind_int(st, 1, limit > 0 ? limit : -1);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        dsvm_state_run run = {
            .id = sqlite3_column_int64(st, 0),
            .kind = col_text(st, 1),
            .target = col_text(st, 2),
            .commit = col_text(st, 3),
            .started_ms = sqlite3_column_int64(st, 4),
            .ended_ms = sqlite3_column_int64(st, 5),
            .outcome = col_text(st, 6),
            .summary = col_text(st, 7),
        };

        if (cb(&run, payload) != 0) {
            step = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? 0 : db_error(s, "list runs");
}

static int sq_journal_intent(void *impl, int64_t *out_id, int64_t run_id, const char *resource_id,
                             const char *action, const char *method)
{
    sqlite_state *s = impl;
    int rc = run(s, "journal intent",
                 "INSERT INTO journal(run_id, resource_id, action, method, intent_ms)"
                 " VALUES(?1, ?2, ?3, ?4, ?5)",
                 "ItttI", run_id, resource_id, action, method, now_ms());

    if (rc == 0)
        *out_id = sqlite3_last_insert_rowid(s->db);
    return rc;
}

static int sq_journal_accepted(void *impl, int64_t entry_id, const char *operation_url)
{
    return run(impl, "journal accepted operation",
               "UPDATE journal SET operation = ?1 WHERE id = ?2", "tI", operation_url, entry_id);
}

static int sq_journal_outcome(void *impl, int64_t entry_id, const char *outcome, int http_status,
                              const char *detail)
{
    return run(impl, "journal outcome",
               "UPDATE journal SET outcome = ?1, http_status = ?2, detail = ?3, outcome_ms = ?4"
               " WHERE id = ?5",
               "titII", outcome, http_status, detail, now_ms(), entry_id);
}

static int sq_journal_list(void *impl, int64_t run_id, int unfinished_only, dsvm_state_entry_cb cb,
                           void *payload)
{
    sqlite_state *s = impl;
    sqlite3_stmt *st;
    int rc, step;

    rc = prepare(s, &st,
                 unfinished_only
                     ? "SELECT id, run_id, resource_id, action, method, operation, outcome,"
                       " intent_ms FROM journal WHERE outcome = '' ORDER BY id"
                     : "SELECT id, run_id, resource_id, action, method, operation, outcome,"
                       " intent_ms FROM journal WHERE run_id = ?1 ORDER BY id");
    if (rc < 0)
        return rc;
    if (!unfinished_only)
        sqlite3_bind_int64(st, 1, run_id);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        dsvm_state_entry e = {
            .id = sqlite3_column_int64(st, 0),
            .run_id = sqlite3_column_int64(st, 1),
            .resource_id = col_text(st, 2),
            .action = col_text(st, 3),
            .method = col_text(st, 4),
            .operation = col_text(st, 5),
            .outcome = col_text(st, 6),
            .intent_ms = sqlite3_column_int64(st, 7),
        };

        if (cb(&e, payload) != 0) {
            step = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? 0 : db_error(s, "list journal");
}

static int sq_fingerprint_put(void *impl, const char *resource_id, const char *field,
                              const char *fingerprint)
{
    return run(impl, "store fingerprint",
               "INSERT OR REPLACE INTO fingerprints(resource_id, field, fingerprint, updated_ms)"
               " VALUES(?1, ?2, ?3, ?4)",
               "tttI", resource_id, field, fingerprint, now_ms());
}

static int sq_fingerprint_get(void *impl, char out[65], const char *resource_id, const char *field)
{
    sqlite_state *s = impl;
    sqlite3_stmt *st;
    int rc = prepare(s, &st,
                     "SELECT fingerprint FROM fingerprints WHERE resource_id = ?1 AND field = ?2");

    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, resource_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, field, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 64) {
        memcpy(out, sqlite3_column_text(st, 0), 64);
        out[64] = '\0';
        rc = 0;
    } else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        rc = DSVM_ENOTFOUND;
    } else {
        rc = db_error(s, "read fingerprint");
    }
    sqlite3_finalize(st);
    return rc;
}

static int sq_owner_put(void *impl, const char *resource_id, const char *object,
                        const char *instance)
{
    return run(impl, "record ownership",
               "INSERT OR REPLACE INTO ownership(resource_id, object, instance, updated_ms)"
               " VALUES(?1, ?2, ?3, ?4)",
               "tttI", resource_id, object, instance, now_ms());
}

static int sq_owner_get(void *impl, char **out_object, const char *resource_id)
{
    sqlite_state *s = impl;
    sqlite3_stmt *st;
    int rc = prepare(s, &st, "SELECT object FROM ownership WHERE resource_id = ?1");

    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, resource_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        char *obj = strdup(col_text(st, 0));

        rc = obj ? 0 : dsvm_error_oom();
        if (obj)
            *out_object = obj;
    } else {
        rc = rc == SQLITE_DONE ? DSVM_ENOTFOUND : db_error(s, "read ownership");
    }
    sqlite3_finalize(st);
    return rc;
}

static int sq_owner_delete(void *impl, const char *resource_id)
{
    return run(impl, "forget ownership", "DELETE FROM ownership WHERE resource_id = ?1", "t",
               resource_id);
}

static int sq_owner_list(void *impl, const char *instance, dsvm_state_owner_cb cb, void *payload)
{
    sqlite_state *s = impl;
    sqlite3_stmt *st;
    int rc = prepare(s, &st,
                     "SELECT resource_id, object FROM ownership WHERE instance = ?1 ORDER BY"
                     " resource_id");
    int step;

    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, instance, -1, SQLITE_STATIC);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (cb(col_text(st, 0), col_text(st, 1), payload) != 0) {
            step = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? 0 : db_error(s, "list ownership");
}

static int sq_drift_seen(void *impl, int *out_opened, const char *resource_id, const char *object,
                         const char *fields_json)
{
    sqlite_state *s = impl;
    int64_t now = now_ms();
    int rc = run(s, "update drift episode",
                 "UPDATE drift_episodes SET fields = ?1, last_seen_ms = ?2"
                 " WHERE resource_id = ?3 AND resolved_ms = 0",
                 "tIt", fields_json, now, resource_id);

    if (rc < 0)
        return rc;
    if (sqlite3_changes(s->db) > 0) {
        *out_opened = 0;
        return 0;
    }
    rc = run(s, "open drift episode",
             "INSERT INTO drift_episodes(resource_id, object, fields, first_seen_ms,"
             " last_seen_ms) VALUES(?1, ?2, ?3, ?4, ?4)",
             "tttI", resource_id, object, fields_json, now);
    if (rc == 0)
        *out_opened = 1;
    return rc;
}

static int sq_drift_resolve(void *impl, int *out_resolved, const char *resource_id)
{
    sqlite_state *s = impl;
    int rc = run(s, "resolve drift episode",
                 "UPDATE drift_episodes SET resolved_ms = ?1"
                 " WHERE resource_id = ?2 AND resolved_ms = 0",
                 "It", now_ms(), resource_id);

    if (rc == 0)
        *out_resolved = sqlite3_changes(s->db) > 0;
    return rc;
}

static int sq_drift_open_list(void *impl, dsvm_state_drift_cb cb, void *payload)
{
    sqlite_state *s = impl;
    sqlite3_stmt *st;
    int rc = prepare(s, &st,
                     "SELECT id, resource_id, object, fields, first_seen_ms, last_seen_ms"
                     " FROM drift_episodes WHERE resolved_ms = 0 ORDER BY id");
    int step;

    if (rc < 0)
        return rc;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        dsvm_state_drift d = {
            .id = sqlite3_column_int64(st, 0),
            .resource_id = col_text(st, 1),
            .object = col_text(st, 2),
            .fields = col_text(st, 3),
            .first_seen_ms = sqlite3_column_int64(st, 4),
            .last_seen_ms = sqlite3_column_int64(st, 5),
            .resolved_ms = 0,
        };

        if (cb(&d, payload) != 0) {
            step = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? 0 : db_error(s, "list drift episodes");
}

static int sq_outbox_add(void *impl, int64_t *out_id, int sink, const char *sink_kind,
                         const char *event_json)
{
    sqlite_state *s = impl;
    int64_t now = now_ms();
    int rc = run(s, "queue alert",
                 "INSERT INTO alert_outbox(sink, sink_kind, event, created_ms, next_attempt_ms)"
                 " VALUES(?1, ?2, ?3, ?4, ?4)",
                 "ittI", sink, sink_kind, event_json, now);

    if (rc == 0 && out_id)
        *out_id = sqlite3_last_insert_rowid(s->db);
    return rc;
}

static int sq_outbox_due(void *impl, int64_t now, int limit, dsvm_state_outbox_cb cb, void *payload)
{
    sqlite_state *s = impl;
    sqlite3_stmt *st;
    int rc = prepare(s, &st,
                     "SELECT id, sink, sink_kind, event, attempts, created_ms, next_attempt_ms,"
                     " last_error FROM alert_outbox WHERE next_attempt_ms <= ?1"
                     " ORDER BY next_attempt_ms, id LIMIT ?2");
    int step;

    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int(st, 2, limit > 0 ? limit : -1);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        dsvm_state_outbox_entry e = {
            .id = sqlite3_column_int64(st, 0),
            .sink = sqlite3_column_int(st, 1),
            .sink_kind = col_text(st, 2),
            .event = col_text(st, 3),
            .attempts = sqlite3_column_int(st, 4),
            .created_ms = sqlite3_column_int64(st, 5),
            .next_attempt_ms = sqlite3_column_int64(st, 6),
            .last_error = col_text(st, 7),
        };

        if (cb(&e, payload) != 0) {
            step = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? 0 : db_error(s, "list due alerts");
}

static int sq_outbox_pending(void *impl, int64_t *out_count, int64_t *out_next_ms)
{
    sqlite_state *s = impl;
    sqlite3_stmt *st;
    int rc =
        prepare(s, &st, "SELECT count(*), coalesce(min(next_attempt_ms), 0) FROM alert_outbox");

    if (rc < 0)
        return rc;
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = db_error(s, "count pending alerts");
    } else {
        *out_count = sqlite3_column_int64(st, 0);
        if (out_next_ms)
            *out_next_ms = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return rc;
}

static int sq_outbox_retry_now(void *impl)
{
    return run(impl, "make alerts due",
               "UPDATE alert_outbox SET next_attempt_ms = ?1"
               " WHERE next_attempt_ms > ?1",
               "I", now_ms());
}

static int sq_outbox_delete(void *impl, int64_t id)
{
    return run(impl, "remove alert", "DELETE FROM alert_outbox WHERE id = ?1", "I", id);
}

static int sq_outbox_failed(void *impl, int64_t id, int64_t next_attempt_ms, const char *error)
{
    return run(impl, "note failed alert",
               "UPDATE alert_outbox SET attempts = attempts + 1, next_attempt_ms = ?1,"
               " last_error = ?2 WHERE id = ?3",
               "ItI", next_attempt_ms, error, id);
}

const dsvm_state_ops dsvm_state_sqlite_ops = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .schema_version = sq_schema_version,
    .salt = sq_salt,
    .lease_acquire = sq_lease_acquire,
    .lease_release = sq_lease_release,
    .run_begin = sq_run_begin,
    .run_end = sq_run_end,
    .runs_list = sq_runs_list,
    .journal_intent = sq_journal_intent,
    .journal_accepted = sq_journal_accepted,
    .journal_outcome = sq_journal_outcome,
    .journal_list = sq_journal_list,
    .fingerprint_put = sq_fingerprint_put,
    .fingerprint_get = sq_fingerprint_get,
    .owner_put = sq_owner_put,
    .owner_get = sq_owner_get,
    .owner_delete = sq_owner_delete,
    .owner_list = sq_owner_list,
    .drift_seen = sq_drift_seen,
    .drift_resolve = sq_drift_resolve,
    .drift_open_list = sq_drift_open_list,
    .outbox_add = sq_outbox_add,
    .outbox_due = sq_outbox_due,
    .outbox_pending = sq_outbox_pending,
    .outbox_retry_now = sq_outbox_retry_now,
    .outbox_delete = sq_outbox_delete,
    .outbox_failed = sq_outbox_failed,
};
