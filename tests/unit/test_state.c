/*
 * The SQLite state store, on real files in a temporary directory, with
 * real child processes for crashes and for a second writer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "dsvmops/error.h"
#include "state.h"

typedef struct {
    char dir[64];
    char path[128];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    if (!f)
        return -1;
    strcpy(f->dir, "/tmp/dsvm-state-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/state.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static dsvm_state *open_ok(const char *path)
{
    dsvm_state *st = NULL;

    assert_int_equal(dsvm_state_open(&st, path), 0);
    assert_non_null(st);
    return st;
}

static void state_open_creates_private_wal_file(void **state)
{
    fixture *f = *state;
    dsvm_state *st = open_ok(f->path);
    struct stat sb;
    sqlite3 *db;
    sqlite3_stmt *q;

    assert_int_equal(stat(f->path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(dsvm_state_schema_version(st), 2);
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
    sqlite3_finalize(q);
    sqlite3_close(db);
    dsvm_state_close(st);
}

static void state_refuses_foreign_file(void **state)
{
    fixture *f = *state;
    FILE *fp = fopen(f->path, "w");
    dsvm_state *st = NULL;

    assert_non_null(fp);
    fputs("this is not a database, it is a shopping list: eggs, milk, more eggs\n", fp);
    fclose(fp);
    assert_int_equal(dsvm_state_open(&st, f->path), DSVM_EINVALID);
    assert_null(st);
    assert_non_null(strstr(dsvm_error_last()->message, "is not a dsvmops state database"));
}

static void state_refuses_newer_schema(void **state)
{
    fixture *f = *state;
    dsvm_state *st = open_ok(f->path);
    sqlite3 *db;

    dsvm_state_close(st);
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    st = NULL;
    assert_int_equal(dsvm_state_open(&st, f->path), DSVM_EINVALID);
    assert_null(st);
    assert_non_null(strstr(dsvm_error_last()->message, "upgrade dsvmops"));
}

/* Does the file at `path` (or its WAL) contain `needle`? */
static int file_contains(const char *path, const char *needle)
{
    FILE *fp = fopen(path, "rb");
    size_t n = strlen(needle), cap = 1 << 20, len;
    char *buf;
    int found = 0;

    if (!fp)
        return 0;
    buf = malloc(cap);
    assert_non_null(buf);
    len = fread(buf, 1, cap, fp);
    fclose(fp);
    for (size_t i = 0; !found && len >= n && i <= len - n; i++)
        found = memcmp(buf + i, needle, n) == 0;
    free(buf);
    return found;
}

static void fingerprint_is_salted_stable_and_never_stores_value(void **state)
{
    fixture *f = *state;
    const char secret[] = "Sup3r-Secret-Passw0rd!";
    const char *id = "/subscriptions/s/resourceGroups/rg/providers/X/y/z";
    char fp1[65], fp2[65], fp3[65], got[65], other[128], wal[160];
    dsvm_state *st = open_ok(f->path), *st2;

    assert_int_equal(dsvm_state_fingerprint(st, fp1, id, "adminPassword", secret, strlen(secret)),
                     0);
    assert_int_equal(strlen(fp1), 64);
    assert_int_equal(dsvm_state_fingerprint_get(st, got, id, "adminPassword"), DSVM_ENOTFOUND);
    assert_int_equal(dsvm_state_fingerprint_put(st, id, "adminPassword", fp1), 0);
    /* a different field or value gives a different fingerprint */
    assert_int_equal(dsvm_state_fingerprint(st, fp2, id, "customData", secret, strlen(secret)), 0);
    assert_string_not_equal(fp1, fp2);
    dsvm_state_close(st);

    /* the salt survives a reopen; IDs compare case-insensitively */
    st = open_ok(f->path);
    assert_int_equal(dsvm_state_fingerprint(st, fp2, id, "adminPassword", secret, strlen(secret)),
                     0);
    assert_string_equal(fp1, fp2);
    assert_int_equal(
        dsvm_state_fingerprint_get(st, got, "/SUBSCRIPTIONS/s/resourcegroups/rg/providers/X/y/z",
                                   "adminPassword"),
        0);
    assert_string_equal(got, fp1);
    dsvm_state_close(st);

    /* another store has another salt */
    snprintf(other, sizeof(other), "%s/other.db", f->dir);
    st2 = open_ok(other);
    assert_int_equal(dsvm_state_fingerprint(st2, fp3, id, "adminPassword", secret, strlen(secret)),
                     0);
    assert_string_not_equal(fp1, fp3);
    dsvm_state_close(st2);

    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    assert_false(file_contains(f->path, secret));
    assert_false(file_contains(wal, secret));
    assert_true(file_contains(f->path, fp1) || file_contains(wal, fp1));
}

typedef struct {
    int n;
    int64_t ids[8];
    char outcomes[8][16];
    char operations[8][64];
} collected;

static int collect_run(const dsvm_state_run *run, void *payload)
{
    collected *c = payload;

    c->ids[c->n] = run->id;
    snprintf(c->outcomes[c->n], sizeof(c->outcomes[0]), "%s", run->outcome);
    c->n++;
    return c->n >= 8;
}

static void runs_are_listed_newest_first(void **state)
{
    fixture *f = *state;
    dsvm_state *st = open_ok(f->path);
    int64_t a = 0, b = 0;
    collected c = {0};

    assert_int_equal(dsvm_state_run_begin(st, &a, "apply", "sub-1", "abc123"), 0);
    assert_int_equal(dsvm_state_run_end(st, a, "succeeded", "{\"writes\":3}"), 0);
    assert_int_equal(dsvm_state_run_begin(st, &b, "plan", "sub-1", "def456"), 0);
    assert_true(b > a);
    assert_int_equal(dsvm_state_runs_list(st, 10, collect_run, &c), 0);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.ids[0], b);
    assert_string_equal(c.outcomes[0], "running");
    assert_string_equal(c.outcomes[1], "succeeded");
    dsvm_state_close(st);
}

static int collect_entry(const dsvm_state_entry *e, void *payload)
{
    collected *c = payload;

    c->ids[c->n] = e->id;
    snprintf(c->outcomes[c->n], sizeof(c->outcomes[0]), "%s", e->outcome);
    snprintf(c->operations[c->n], sizeof(c->operations[0]), "%s", e->operation);
    c->n++;
    return c->n >= 8;
}

/* A child journals two intents, finishes one, notes an LRO on the other
 * and is killed with SIGKILL. The next opener finds exactly the unfinished
 * one, with its operation URL to re-poll. */
static void journal_intent_survives_kill_9(void **state)
{
    fixture *f = *state;
    collected c = {0};
    dsvm_state *st;
    pid_t pid;
    int status;

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dsvm_state *cs = NULL;
        int64_t run, e1, e2;

        if (dsvm_state_open(&cs, f->path) < 0 ||
            dsvm_state_run_begin(cs, &run, "apply", "sub-1", "abc") < 0 ||
            dsvm_state_journal_intent(cs, &e1, run, "/rg/a", "create", "PUT") < 0 ||
            dsvm_state_journal_outcome(cs, e1, "succeeded", 200, NULL) < 0 ||
            dsvm_state_journal_intent(cs, &e2, run, "/rg/b", "create", "PUT") < 0 ||
            dsvm_state_journal_accepted(cs, e2, "http://127.0.0.1/op/7") < 0)
            _exit(3);
        raise(SIGKILL);
        _exit(4);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);

    st = open_ok(f->path);
    assert_int_equal(dsvm_state_journal_unfinished(st, collect_entry, &c), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.operations[0], "http://127.0.0.1/op/7");
    assert_int_equal(dsvm_state_journal_outcome(st, c.ids[0], "succeeded", 200, "re-polled"), 0);
    memset(&c, 0, sizeof(c));
    assert_int_equal(dsvm_state_journal_unfinished(st, collect_entry, &c), 0);
    assert_int_equal(c.n, 0);
    assert_int_equal(dsvm_state_journal_of_run(st, 1, collect_entry, &c), 0);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.outcomes[0], "succeeded");
    dsvm_state_close(st);
}

static void lease_refuses_second_writer_naming_holder(void **state)
{
    fixture *f = *state;
    dsvm_state *a = open_ok(f->path), *b = open_ok(f->path);

    assert_int_equal(dsvm_state_lease_acquire(a, "sub-1", "apply on host-a"), 0);
    assert_int_equal(dsvm_state_lease_acquire(b, "sub-1", "run on host-b"), DSVM_EBUSY);
    assert_non_null(strstr(dsvm_error_last()->message, "locked by apply on host-a"));
    dsvm_state_lease_release(a);
    assert_int_equal(dsvm_state_lease_acquire(b, "sub-1", "run on host-b"), 0);
    dsvm_state_close(b);
    dsvm_state_close(a);
}

static void lease_of_killed_holder_is_taken_over(void **state)
{
    fixture *f = *state;
    dsvm_state *st;
    pid_t pid;
    int status;

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dsvm_state *cs = NULL;

        if (dsvm_state_open(&cs, f->path) < 0 ||
            dsvm_state_lease_acquire(cs, "sub-1", "doomed apply") < 0)
            _exit(3);
        raise(SIGKILL);
        _exit(4);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    st = open_ok(f->path);
    assert_int_equal(dsvm_state_lease_acquire(st, "sub-1", "next apply"), 0);
    dsvm_state_close(st);
}

/*
 * A daemon keeps one connection open while it opens, leases, releases and
 * closes others; a CLI process then opens and closes the store. The CLI
 * must not see itself as the last connection and delete the WAL under the
 * daemon (POSIX drops all of a process's fcntl locks on a file when any of
 * its descriptors of that file is closed).
 */
static void another_process_never_deletes_a_wal_in_use(void **state)
{
    fixture *f = *state;
    dsvm_state *keep = open_ok(f->path), *pass;
    char wal[160];
    struct stat sb;
    int64_t run = 0;
    pid_t pid;
    int status;

    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    pass = open_ok(f->path);
    assert_int_equal(dsvm_state_lease_acquire(pass, "sub-1", "daemon pass"), 0);
    dsvm_state_lease_release(pass);
    dsvm_state_close(pass);
    assert_int_equal(dsvm_state_run_begin(keep, &run, "drift", "sub-1", ""), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* another program (not a fork, which would share SQLite's per-process
         * lock table): it reads, and closes what it believes is the last
         * connection */
        execl("/usr/bin/python3", "python3", "-c",
              "import sqlite3, sys\n"
              "db = sqlite3.connect(sys.argv[1])\n"
              "db.execute('SELECT count(*) FROM runs').fetchall()\n"
              "db.close()\n",
              f->path, (char *)NULL);
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(stat(wal, &sb), 0);
    assert_int_equal(dsvm_state_run_end(keep, run, "succeeded", NULL), 0);
    assert_int_equal(dsvm_state_run_begin(keep, &run, "drift", "sub-1", ""), 0);
    dsvm_state_close(keep);
}

static void ownership_round_trips_case_insensitively(void **state)
{
    fixture *f = *state;
    dsvm_state *st = open_ok(f->path);
    char *owner = NULL;

    assert_int_equal(dsvm_state_owner_get(st, &owner, "/x/roleAssignments/1"), DSVM_ENOTFOUND);
    assert_int_equal(dsvm_state_owner_put(st, "/x/roleAssignments/1", "RoleAssignment/a", "prod"),
                     0);
    assert_int_equal(dsvm_state_owner_get(st, &owner, "/X/ROLEASSIGNMENTS/1"), 0);
    assert_string_equal(owner, "RoleAssignment/a");
    free(owner);
    owner = NULL;
    assert_int_equal(dsvm_state_owner_delete(st, "/x/roleAssignments/1"), 0);
    assert_int_equal(dsvm_state_owner_get(st, &owner, "/x/roleAssignments/1"), DSVM_ENOTFOUND);
    assert_null(owner);
    dsvm_state_close(st);
}

static int collect_owner(const char *id, const char *object, void *payload)
{
    collected *c = payload;

    snprintf(c->operations[c->n], sizeof(c->operations[0]), "%s=%s", id, object);
    c->n++;
    return 0;
}

static void ownership_lists_per_instance(void **state)
{
    fixture *f = *state;
    dsvm_state *st = open_ok(f->path);
    collected c = {0};

    assert_int_equal(dsvm_state_owner_put(st, "/x/ra/2", "RoleAssignment/b", "prod"), 0);
    assert_int_equal(dsvm_state_owner_put(st, "/x/ra/1", "RoleAssignment/a", "prod"), 0);
    assert_int_equal(dsvm_state_owner_put(st, "/x/ra/3", "RoleAssignment/c", "dev"), 0);
    assert_int_equal(dsvm_state_owner_list(st, "prod", collect_owner, &c), 0);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.operations[0], "/x/ra/1=RoleAssignment/a");
    assert_string_equal(c.operations[1], "/x/ra/2=RoleAssignment/b");
    dsvm_state_close(st);
}

static int count_drift(const dsvm_state_drift *d, void *payload)
{
    collected *c = payload;

    snprintf(c->operations[c->n], sizeof(c->operations[0]), "%s", d->fields);
    c->n++;
    return 0;
}

static void drift_episode_opens_once_and_resolves(void **state)
{
    fixture *f = *state;
    dsvm_state *st = open_ok(f->path);
    collected c = {0};
    int opened = -1, resolved = -1;

    assert_int_equal(dsvm_state_drift_seen(st, &opened, "/vmss/a", "Pool/a", "{\"sku\":1}"), 0);
    assert_int_equal(opened, 1);
    assert_int_equal(dsvm_state_drift_seen(st, &opened, "/VMSS/A", "Pool/a", "{\"sku\":2}"), 0);
    assert_int_equal(opened, 0);
    assert_int_equal(dsvm_state_drift_open_list(st, count_drift, &c), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.operations[0], "{\"sku\":2}");
    assert_int_equal(dsvm_state_drift_resolve(st, &resolved, "/vmss/a"), 0);
    assert_int_equal(resolved, 1);
    assert_int_equal(dsvm_state_drift_resolve(st, &resolved, "/vmss/a"), 0);
    assert_int_equal(resolved, 0);
    assert_int_equal(dsvm_state_drift_seen(st, &opened, "/vmss/a", "Pool/a", "{}"), 0);
    assert_int_equal(opened, 1);
    dsvm_state_close(st);
}

static void open_reports_unwritable_path(void **state)
{
    dsvm_state *st = NULL;

    (void)state;
    assert_int_equal(dsvm_state_open(&st, "/nonexistent-dir/state.db"), DSVM_EIO);
    assert_null(st);
    assert_non_null(strstr(dsvm_error_last()->message, "/nonexistent-dir/state.db"));
    dsvm_state_close(NULL);
}

typedef struct {
    int n;
    dsvm_state_outbox_entry e[8];
    char text[8][3][128]; /* sink_kind, event, last_error */
} outbox_rows;

static int collect_outbox(const dsvm_state_outbox_entry *e, void *payload)
{
    outbox_rows *r = payload;

    r->e[r->n] = *e;
    snprintf(r->text[r->n][0], sizeof(r->text[0][0]), "%s", e->sink_kind);
    snprintf(r->text[r->n][1], sizeof(r->text[0][1]), "%s", e->event);
    snprintf(r->text[r->n][2], sizeof(r->text[0][2]), "%s", e->last_error);
    r->n++;
    return r->n >= 8;
}

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Two deliveries are queued due now; a failure pushes one back with its
 * error and attempt count; deleting both empties the outbox. */
static void outbox_queues_fails_and_deletes(void **state)
{
    fixture *f = *state;
    dsvm_state *st = open_ok(f->path);
    int64_t a = 0, b = 0, count = -1, next = -1, before = wall_ms(), later;
    outbox_rows r = {0};

    assert_int_equal(dsvm_state_outbox_pending(st, &count, &next), 0);
    assert_int_equal(count, 0);
    assert_int_equal(next, 0);
    assert_int_equal(dsvm_state_outbox_add(st, &a, 0, "webhook", "{\"event\":\"drift.opened\"}"),
                     0);
    assert_int_equal(dsvm_state_outbox_add(st, &b, 2, "slack", "{\"event\":\"drift.opened\"}"), 0);
    assert_true(b > a);
    assert_int_equal(dsvm_state_outbox_pending(st, &count, &next), 0);
    assert_int_equal(count, 2);
    assert_true(next >= before && next <= wall_ms());

    assert_int_equal(dsvm_state_outbox_due(st, wall_ms(), 0, collect_outbox, &r), 0);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.e[0].id, a);
    assert_int_equal(r.e[0].sink, 0);
    assert_string_equal(r.text[0][0], "webhook");
    assert_string_equal(r.text[0][1], "{\"event\":\"drift.opened\"}");
    assert_int_equal(r.e[0].attempts, 0);
    assert_string_equal(r.text[0][2], "");
    assert_int_equal(r.e[1].sink, 2);
    assert_string_equal(r.text[1][0], "slack");
    assert_true(r.e[1].created_ms >= before);

    later = wall_ms() + 60000;
    assert_int_equal(dsvm_state_outbox_failed(st, a, later, "HTTP 500"), 0);
    memset(&r, 0, sizeof(r));
    assert_int_equal(dsvm_state_outbox_due(st, wall_ms(), 0, collect_outbox, &r), 0);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.e[0].id, b);
    memset(&r, 0, sizeof(r));
    assert_int_equal(dsvm_state_outbox_due(st, later, 1, collect_outbox, &r), 0);
    assert_int_equal(r.n, 1); /* the limit holds; b is due earlier */
    assert_int_equal(r.e[0].id, b);
    memset(&r, 0, sizeof(r));
    assert_int_equal(dsvm_state_outbox_due(st, later, 0, collect_outbox, &r), 0);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.e[1].id, a);
    assert_int_equal(r.e[1].attempts, 1);
    assert_int_equal(r.e[1].next_attempt_ms, later);
    assert_string_equal(r.text[1][2], "HTTP 500");

    assert_int_equal(dsvm_state_outbox_delete(st, b), 0);
    assert_int_equal(dsvm_state_outbox_pending(st, &count, &next), 0);
    assert_int_equal(count, 1);
    assert_int_equal(next, later);
    assert_int_equal(dsvm_state_outbox_retry_now(st), 0);
    assert_int_equal(dsvm_state_outbox_pending(st, &count, &next), 0);
    assert_true(next < later && next <= wall_ms());
    memset(&r, 0, sizeof(r));
    assert_int_equal(dsvm_state_outbox_due(st, wall_ms(), 0, collect_outbox, &r), 0);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.e[0].attempts, 1); /* made due, not reset */
    assert_int_equal(dsvm_state_outbox_delete(st, a), 0);
    assert_int_equal(dsvm_state_outbox_delete(st, a), 0);
    assert_int_equal(dsvm_state_outbox_pending(st, &count, NULL), 0);
    assert_int_equal(count, 0);
    dsvm_state_close(st);
}

/* A delivery queued by a child that is then killed with SIGKILL is in the
 * outbox for the next process, on a second connection opened meanwhile. */
static void outbox_survives_kill_9_and_is_seen_by_second_connection(void **state)
{
    fixture *f = *state;
    dsvm_state *reader = open_ok(f->path), *st;
    outbox_rows r = {0};
    int64_t count = 0;
    int status;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        dsvm_state *child = NULL;

        if (dsvm_state_open(&child, f->path) != 0 ||
            dsvm_state_outbox_add(child, NULL, 1, "teams", "{\"event\":\"apply.failed\"}") != 0)
            _exit(1);
        raise(SIGKILL);
        _exit(2);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_int_equal(dsvm_state_outbox_pending(reader, &count, NULL), 0);
    assert_int_equal(count, 1);
    dsvm_state_close(reader);
    st = open_ok(f->path);
    assert_int_equal(dsvm_state_outbox_due(st, wall_ms(), 0, collect_outbox, &r), 0);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.e[0].sink, 1);
    assert_string_equal(r.text[0][0], "teams");
    assert_string_equal(r.text[0][1], "{\"event\":\"apply.failed\"}");
    dsvm_state_close(st);
}

/* A store made by schema 1 (before the outbox) is migrated on open and
 * keeps its history. */
static void schema_1_store_gains_outbox_and_keeps_runs(void **state)
{
    fixture *f = *state;
    dsvm_state *st = open_ok(f->path);
    int64_t run = 0, count = -1;
    collected c = {0};
    sqlite3 *db;

    assert_int_equal(dsvm_state_run_begin(st, &run, "apply", "sub-1", "abc"), 0);
    dsvm_state_close(st);
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "DROP INDEX alert_outbox_due; DROP TABLE alert_outbox;"
                                  " PRAGMA user_version = 1",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    st = open_ok(f->path);
    assert_int_equal(dsvm_state_schema_version(st), 2);
    assert_int_equal(dsvm_state_runs_list(st, 10, collect_run, &c), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.ids[0], run);
    assert_int_equal(dsvm_state_outbox_add(st, NULL, 0, "webhook", "{}"), 0);
    assert_int_equal(dsvm_state_outbox_pending(st, &count, NULL), 0);
    assert_int_equal(count, 1);
    dsvm_state_close(st);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(state_open_creates_private_wal_file),
        T(state_refuses_foreign_file),
        T(state_refuses_newer_schema),
        T(fingerprint_is_salted_stable_and_never_stores_value),
        T(runs_are_listed_newest_first),
        T(journal_intent_survives_kill_9),
        T(lease_refuses_second_writer_naming_holder),
        T(lease_of_killed_holder_is_taken_over),
        T(another_process_never_deletes_a_wal_in_use),
        T(ownership_round_trips_case_insensitively),
        T(ownership_lists_per_instance),
        T(drift_episode_opens_once_and_resolves),
        T(outbox_queues_fails_and_deletes),
        T(outbox_survives_kill_9_and_is_seen_by_second_connection),
        T(schema_1_store_gains_outbox_and_keeps_runs),
        cmocka_unit_test(open_reports_unwritable_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
