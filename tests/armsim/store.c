/* SQLite persistence: resources, long-running operations, Key Vault secret versions and
 * a few settings. One connection, used under the context lock; statements are cached. */
#include "armsim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STMT_CACHE 96

struct stmt_cache {
    const char *sql[STMT_CACHE];
    sqlite3_stmt *st[STMT_CACHE];
    size_t n;
};

static const char *const schema =
    "CREATE TABLE IF NOT EXISTS resources (id TEXT PRIMARY KEY, type TEXT NOT NULL,"
    " sub TEXT NOT NULL, rg TEXT NOT NULL, parent TEXT NOT NULL, name TEXT NOT NULL,"
    " listed INTEGER NOT NULL, body TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS resources_type ON resources(type, sub, rg, id);"
    "CREATE INDEX IF NOT EXISTS resources_parent ON resources(parent, type, id);"
    "CREATE INDEX IF NOT EXISTS resources_sub ON resources(sub, listed, id);"
    "CREATE INDEX IF NOT EXISTS resources_name ON resources(type, name);"
    "CREATE TABLE IF NOT EXISTS operations (id TEXT PRIMARY KEY, resource_id TEXT NOT NULL,"
    " kind TEXT NOT NULL, status TEXT NOT NULL, start_ms INTEGER NOT NULL,"
    " due_ms INTEGER NOT NULL, fail INTEGER NOT NULL, extra TEXT);"
    "CREATE INDEX IF NOT EXISTS operations_due ON operations(status, due_ms);"
    "CREATE TABLE IF NOT EXISTS secrets (vault TEXT NOT NULL, name TEXT NOT NULL,"
    " version TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL,"
    " PRIMARY KEY (vault, name, version));"
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB);";

int store_exec(struct ctx *c, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(c->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "armsim: sqlite: %s\n", err ? err : "error");
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

/* Opens the state database (a file, or memory when path is NULL) and creates the schema. */
int store_open(struct ctx *c, const char *path)
{
    struct stmt_cache *sc = calloc(1, sizeof(*sc));
    if (!sc)
        return -1;
    c->stmts = sc;
    if (sqlite3_open_v2(path ? path : ":memory:", &c->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        fprintf(stderr, "armsim: cannot open state %s: %s\n",
                path ? path : ":memory:", c->db ? sqlite3_errmsg(c->db) : "out of memory");
        return -1;
    }
    sqlite3_busy_timeout(c->db, 5000);
    if (path && store_exec(c, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;") < 0)
        return -1;
    return store_exec(c, schema);
}

void store_close(struct ctx *c)
{
    struct stmt_cache *sc = c->stmts;
    if (sc) {
        for (size_t i = 0; i < sc->n; i++)
            sqlite3_finalize(sc->st[i]);
        free(sc);
        c->stmts = NULL;
    }
    if (c->db)
        sqlite3_close(c->db);
    c->db = NULL;
}

/* Returns a reset prepared statement for sql, which must be a string literal (the cache
 * is keyed by its address). The statement stays owned by the cache. */
sqlite3_stmt *store_stmt(struct ctx *c, const char *sql)
{
    struct stmt_cache *sc = c->stmts;
    sqlite3_stmt *st = NULL;
    for (size_t i = 0; i < sc->n; i++) {
        if (sc->sql[i] == sql) {
            sqlite3_reset(sc->st[i]);
            sqlite3_clear_bindings(sc->st[i]);
            return sc->st[i];
        }
    }
    if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "armsim: sqlite prepare: %s\n", sqlite3_errmsg(c->db));
        return NULL;
    }
    if (sc->n < STMT_CACHE) {
        sc->sql[sc->n] = sql;
        sc->st[sc->n++] = st;
    } else {
        fprintf(stderr, "armsim: statement cache full\n");
        abort();
    }
    return st;
}

static void bind_lower(sqlite3_stmt *st, int i, const char *s)
{
    sqlite3_bind_text(st, i, lower_dup(s ? s : ""), -1, free);
}

/* Loads a resource body by ID (any casing); new reference or NULL when absent. */
json_t *store_get(struct ctx *c, const char *id)
{
    static const char sql[] = "SELECT body FROM resources WHERE id = ?";
    sqlite3_stmt *st = store_stmt(c, sql);
    json_t *out = NULL;
    if (!st)
        return NULL;
    bind_lower(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW)
        out = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
    sqlite3_reset(st);
    return out;
}

int store_put(struct ctx *c, const char *id, const char *type, const char *sub, const char *rg,
              const char *parent, int listed, json_t *body)
{
    static const char sql[] = "INSERT OR REPLACE INTO resources (id, type, sub, rg, parent, name,"
                              " listed, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
    sqlite3_stmt *st = store_stmt(c, sql);
    const char *slash = strrchr(id, '/');
    char *text;
    int rc;
    if (!st)
        return -1;
    text = json_dumps(body, JSON_COMPACT);
    bind_lower(st, 1, id);
    bind_lower(st, 2, type);
    bind_lower(st, 3, sub);
    bind_lower(st, 4, rg);
    bind_lower(st, 5, parent);
    bind_lower(st, 6, slash ? slash + 1 : id);
    sqlite3_bind_int(st, 7, listed);
    sqlite3_bind_text(st, 8, text, -1, free);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        fprintf(stderr, "armsim: sqlite put: %s\n", sqlite3_errmsg(c->db));
        return -1;
    }
    return 0;
}

int store_del(struct ctx *c, const char *id)
{
    static const char sql[] = "DELETE FROM resources WHERE id = ?";
    sqlite3_stmt *st = store_stmt(c, sql);
    int rc;
    if (!st)
        return -1;
    bind_lower(st, 1, id);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Deletes a resource and everything below its ID (children, extension resources). */
int store_del_tree(struct ctx *c, const char *id)
{
    static const char sql[] = "DELETE FROM resources WHERE id = ?1 OR (id > ?1 || '/' AND"
                              " id < ?1 || '0')";
    sqlite3_stmt *st = store_stmt(c, sql);
    int rc;
    if (!st)
        return -1;
    bind_lower(st, 1, id);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Deletes every resource of a resource group, including extension resources there. */
int store_del_rg(struct ctx *c, const char *sub, const char *rg)
{
    static const char sql[] = "DELETE FROM resources WHERE sub = ? AND rg = ?";
    sqlite3_stmt *st = store_stmt(c, sql);
    int rc;
    if (!st)
        return -1;
    bind_lower(st, 1, sub);
    bind_lower(st, 2, rg);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int store_meta_get(struct ctx *c, const char *key, void *out, size_t len)
{
    static const char sql[] = "SELECT value FROM meta WHERE key = ?";
    sqlite3_stmt *st = store_stmt(c, sql);
    int found = -1;
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && (size_t)sqlite3_column_bytes(st, 0) == len) {
        memcpy(out, sqlite3_column_blob(st, 0), len);
        found = 0;
    }
    sqlite3_reset(st);
    return found;
}

int store_meta_put(struct ctx *c, const char *key, const void *val, size_t len)
{
    static const char sql[] = "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)";
    sqlite3_stmt *st = store_stmt(c, sql);
    int rc;
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, val, (int)len, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Requests run in one transaction each, so a crash never leaves half of one behind (a
 * resource without its operation, say). */
void store_begin(struct ctx *c)
{
    static const char sql[] = "BEGIN";
    sqlite3_stmt *st = store_stmt(c, sql);
    if (st && sqlite3_step(st) != SQLITE_DONE)
        fprintf(stderr, "armsim: sqlite begin: %s\n", sqlite3_errmsg(c->db));
    if (st)
        sqlite3_reset(st);
}

void store_commit(struct ctx *c)
{
    static const char sql[] = "COMMIT";
    sqlite3_stmt *st = store_stmt(c, sql);
    if (st && sqlite3_step(st) != SQLITE_DONE)
        fprintf(stderr, "armsim: sqlite commit: %s\n", sqlite3_errmsg(c->db));
    if (st)
        sqlite3_reset(st);
}
