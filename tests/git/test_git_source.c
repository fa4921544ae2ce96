/*
 * The Git source against real Git: bare repositories made with the git
 * command in a temporary directory, served as plain paths, file:// URLs and
 * smart HTTP (git http-backend behind git_http_server.py, with basic auth).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <git2.h>

#include "dsvmops/error.h"
#include "git_source.h"

#define TOKEN "s3cr3t-t0ken-XYZ"

typedef struct {
    char dir[64];
    char origin[128]; /* bare repository */
    char work[128];   /* a clone to commit in */
    char cache[128];
    pid_t server;
    int server_stdin;
    int port;
    pid_t sshd;
    int ssh_port;
} fixture;

static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Run a shell command built from `fmt`; the test fails when it fails. */
static void run(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    int rc;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    rc = system(cmd);
    if (rc != 0)
        fail_msg("command failed (%d): %s", rc, cmd);
}

/* The first line of a command's output, in `out`. */
static void run_out(char *out, size_t size, const char *cmd)
{
    FILE *p = popen(cmd, "r");

    assert_non_null(p);
    assert_non_null(fgets(out, (int)size, p));
    out[strcspn(out, "\n")] = '\0';
    assert_int_equal(pclose(p), 0);
}

/* Skip the test when a command it needs is not installed. */
static void require_tool(const char *tool)
{
    char cmd[256];

    snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
    if (system(cmd) != 0) {
        print_message("skipped: %s is not installed (scripts/deps.sh test)\n", tool);
        skip();
    }
}

static void rev_parse(fixture *f, const char *rev, char out[41])
{
    char cmd[512], buf[128];

    snprintf(cmd, sizeof(cmd), "git -C '%s' rev-parse '%s^{commit}'", f->origin, rev);
    run_out(buf, sizeof(buf), cmd);
    assert_int_equal(strlen(buf), 40);
    memcpy(out, buf, 41);
}

/* Write `content` to `rel` in the work tree, commit everything and push to main. */
static void commit_file(fixture *f, const char *rel, const char *content)
{
    char path[512];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", f->work, rel);
    run("mkdir -p \"$(dirname '%s')\"", path);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(content, fp);
    fclose(fp);
    run("cd '%s' && git add -A && git commit -qm 'change %s' && git push -q origin HEAD:main",
        f->work, rel);
}

static void read_file(const char *path, char *out, size_t size)
{
    FILE *fp = fopen(path, "r");
    size_t n;

    if (!fp)
        fail_msg("cannot open %s: %s", path, strerror(errno));
    n = fread(out, 1, size - 1, fp);
    out[n] = '\0';
    fclose(fp);
}

static void assert_file(const char *dir, const char *rel, const char *content)
{
    char path[1024], buf[256];

    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    read_file(path, buf, sizeof(buf));
    assert_string_equal(buf, content);
}

static int exists(const char *dir, const char *rel)
{
    char path[1024];
    struct stat st;

    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    return lstat(path, &st) == 0;
}

/*
 * Once per group: a template with a bare repository of three commits and a
 * clone of it, so that each test only copies it.
 */
static int group_setup(void **state)
{
    fixture *t = calloc(1, sizeof(*t));

    if (!t)
        return -1;
    strcpy(t->dir, "/tmp/dsvm-git-tmpl-XXXXXX");
    if (!mkdtemp(t->dir))
        return -1;
    snprintf(t->origin, sizeof(t->origin), "%s/origin.git", t->dir);
    snprintf(t->work, sizeof(t->work), "%s/work", t->dir);
    run("git init -q --bare -b main '%s' && git clone -q '%s' '%s' 2>/dev/null", t->origin,
        t->origin, t->work);
    commit_file(t, "README.md", "infra repo\n");
    commit_file(t, "environments/prod/pool.yaml", "kind: Pool\nname: gpu\n");
    commit_file(t, "environments/dev/pool.yaml", "kind: Pool\nname: dev\n");
    *state = t;
    return 0;
}

static int group_teardown(void **state)
{
    fixture *t = *state;
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
    free(t);
    return system(cmd) == 0 ? 0 : -1;
}

static int setup(void **state)
{
    const fixture *t = *state;
    fixture *f = calloc(1, sizeof(*f));

    if (!f)
        return -1;
    strcpy(f->dir, "/tmp/dsvm-git-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->origin, sizeof(f->origin), "%s/origin.git", f->dir);
    snprintf(f->work, sizeof(f->work), "%s/work", f->dir);
    snprintf(f->cache, sizeof(f->cache), "%s/cache", f->dir);
    f->server = -1;
    f->server_stdin = -1;
    f->sshd = -1;
    setenv("HOME", f->dir, 1);
    run("cp -a '%s' '%s' && cp -a '%s' '%s' && git -C '%s' remote set-url origin '%s'", t->origin,
        f->origin, t->work, f->work, f->work, f->origin);
    *state = f;
    return 0;
}

static void stop_server(fixture *f)
{
    if (f->server > 0) {
        kill(f->server, SIGTERM);
        close(f->server_stdin);
        waitpid(f->server, NULL, 0);
        f->server = -1;
    }
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];

    stop_server(f);
    if (f->sshd > 0) {
        int i;

        kill(f->sshd, SIGTERM);
        waitpid(f->sshd, NULL, 0);
        /* Reap its per-connection processes, which this process adopted as subreaper. */
        for (i = 0; i < 100 && waitpid(-1, NULL, WNOHANG) != -1; i++)
            usleep(5000);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

/*
 * Start git_http_server.py over the fixture's directory, requiring `auth`
 * ("user:token"); HTTPS with `cert` and `key` when not NULL.
 */
static void start_server_tls(fixture *f, const char *auth, const char *cert, const char *key)
{
    int in[2], out[2];
    char line[64];
    FILE *fp;

    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    f->server = fork();
    assert_true(f->server >= 0);
    if (f->server == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        if (!getenv("DSVM_TEST_VERBOSE")) {
            FILE *devnull = freopen("/dev/null", "w", stderr);

            (void)devnull;
        }
        close(in[1]);
        close(out[0]);
        setenv("DSVM_GIT_HTTP_AUTH", auth, 1);
        execlp("python3", "python3", DSVM_GIT_HTTP_SERVER, f->dir, cert, key, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    f->server_stdin = in[1];
    fp = fdopen(out[0], "r");
    assert_non_null(fp);
    assert_non_null(fgets(line, sizeof(line), fp));
    fclose(fp);
    assert_int_equal(sscanf(line, "port %d", &f->port), 1);
}

static void start_server(fixture *f, const char *auth)
{
    start_server_tls(f, auth, NULL, NULL);
}

static dsvm_source *source(fixture *f, const char *url, const char *ref, const char *path)
{
    dsvm_source_opts o = {0};
    dsvm_source *src = NULL;

    o.url = url;
    o.ref = ref;
    o.path = path;
    o.cache_dir = f->cache;
    assert_int_equal(dsvm_source_new(&src, &o), 0);
    assert_non_null(src);
    return src;
}

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void assert_message_has(const char *needle)
{
    const char *msg = dsvm_error_last()->message;

    if (!strstr(msg, needle))
        fail_msg("error message \"%s\" does not mention \"%s\"", msg, needle);
}

/* ---- local repositories ---- */

static void git_local_path_branch_and_subdir(void **state)
{
    fixture *f = *state;
    dsvm_source *src = source(f, f->origin, "main", "environments/prod");
    dsvm_source_result r = {0};
    char head[41];

    assert_null(dsvm_source_last_good(src));
    assert_int_equal(dsvm_source_fetch(&r, src), 0);
    rev_parse(f, "main", head);
    assert_string_equal(r.commit, head);
    assert_true(r.changed);
    assert_true(r.fetched);
    assert_true(r.remote_checked);
    assert_false(r.recloned);
    assert_true(r.received_objects > 0);
    assert_file(r.dir, "pool.yaml", "kind: Pool\nname: gpu\n");
    assert_false(exists(r.dir, "README.md"));
    assert_false(exists(r.dir, "environments"));
    assert_false(exists(r.dir, ".git"));
    assert_non_null(dsvm_source_last_good(src));
    assert_string_equal(dsvm_source_last_good(src)->dir, r.dir);
    dsvm_source_result_clear(&r);
    dsvm_source_free(src);

    /* The root of the repository, with the remote's HEAD as the ref, on a fresh cache. */
    run("rm -rf '%s'", f->cache);
    src = source(f, f->origin, NULL, "");
    assert_int_equal(dsvm_source_fetch(&r, src), 0);
    assert_string_equal(r.commit, head);
    assert_file(r.dir, "README.md", "infra repo\n");
    assert_file(r.dir, "environments/dev/pool.yaml", "kind: Pool\nname: dev\n");
    assert_true(r.fetched);
    dsvm_source_result_clear(&r);
    dsvm_source_free(src);
}

static void git_file_modes_and_submodules(void **state)
{
    fixture *f = *state;
    dsvm_source *src;
    dsvm_source_result r = {0};
    char path[512];
    struct stat st;

    run("cd '%s' && printf '#!/bin/sh\\n' > environments/prod/boot.sh && "
        "chmod +x environments/prod/boot.sh && "
        "git add -A && git update-index --add --cacheinfo 160000,%s,environments/prod/vendored && "
        "git commit -qm modes && git push -q origin HEAD:main",
        f->work, "0123456789012345678901234567890123456789");
    src = source(f, f->origin, "main", "environments/prod");
    if (dsvm_source_fetch(&r, src) != 0)
        fail_msg("fetch: %s", dsvm_error_last()->message);
    snprintf(path, sizeof(path), "%s/boot.sh", r.dir);
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_mode & S_IXUSR);
    snprintf(path, sizeof(path), "%s/pool.yaml", r.dir);
    assert_int_equal(stat(path, &st), 0);
    assert_false(st.st_mode & S_IXUSR);
    /* A submodule becomes an empty directory, as in a clone without --recursive. */
    snprintf(path, sizeof(path), "%s/vendored", r.dir);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    dsvm_source_result_clear(&r);
    dsvm_source_free(src);
}

static void git_no_change_fetch_skips_download(void **state)
{
    fixture *f = *state;
    dsvm_source *src = source(f, f->origin, "main", "environments/prod");
    dsvm_source_result r1 = {0}, r2 = {0};

    assert_int_equal(dsvm_source_fetch(&r1, src), 0);
    assert_true(r1.fetched);
    assert_true(r1.progress_calls > 0);
    assert_int_equal(dsvm_source_fetch(&r2, src), 0);
    assert_string_equal(r2.commit, r1.commit);
    assert_string_equal(r2.dir, r1.dir);
    assert_false(r2.changed);
    assert_true(r2.remote_checked); /* the ls-remote path was taken... */
    assert_false(r2.fetched);       /* ...and no fetch followed */
    assert_int_equal(r2.progress_calls, 0);
    assert_int_equal(r2.received_objects, 0);
    dsvm_source_result_clear(&r1);
    dsvm_source_result_clear(&r2);
    dsvm_source_free(src);
}

static void git_new_commit_is_fetched_and_changed(void **state)
{
    fixture *f = *state;
    dsvm_source *src = source(f, f->origin, "main", "environments/prod");
    dsvm_source_result r1 = {0}, r2 = {0}, r3 = {0};
    char head[41];

    assert_int_equal(dsvm_source_fetch(&r1, src), 0);
    commit_file(f, "environments/prod/pool.yaml", "kind: Pool\nname: gpu\nsize: 4\n");
    assert_int_equal(dsvm_source_fetch(&r2, src), 0);
    rev_parse(f, "main", head);
    assert_string_equal(r2.commit, head);
    assert_string_not_equal(r2.commit, r1.commit);
    assert_true(r2.changed);
    assert_true(r2.fetched);
    assert_file(r2.dir, "pool.yaml", "kind: Pool\nname: gpu\nsize: 4\n");
    /* The previous checkout is kept untouched for readers that still use it. */
    assert_file(r1.dir, "pool.yaml", "kind: Pool\nname: gpu\n");

    /* A third commit: the oldest checkout is pruned, the previous one kept. */
    commit_file(f, "environments/prod/pool.yaml", "kind: Pool\nname: gpu\nsize: 8\n");
    assert_int_equal(dsvm_source_fetch(&r3, src), 0);
    assert_true(r3.changed);
    assert_false(exists(r1.dir, ""));
    assert_file(r2.dir, "pool.yaml", "kind: Pool\nname: gpu\nsize: 4\n");
    assert_file(r3.dir, "pool.yaml", "kind: Pool\nname: gpu\nsize: 8\n");
    dsvm_source_result_clear(&r1);
    dsvm_source_result_clear(&r2);
    dsvm_source_result_clear(&r3);
    dsvm_source_free(src);
}

static void git_file_url_tags_and_shas(void **state)
{
    fixture *f = *state;
    char url[256], first[41], head[41], shortsha[9];
    dsvm_source *src;
    dsvm_source_result r = {0};

    snprintf(url, sizeof(url), "file://%s", f->origin);
    rev_parse(f, "main~2", first);
    rev_parse(f, "main", head);
    run("git -C '%s' tag light %s && git -C '%s' tag -a -m release v1 %s", f->origin, first,
        f->origin, head);

    src = source(f, url, "light", "");
    assert_int_equal(dsvm_source_fetch(&r, src), 0);
    assert_string_equal(r.commit, first);
    assert_true(exists(r.dir, "README.md"));
    assert_false(exists(r.dir, "environments"));
    dsvm_source_result_clear(&r);
    dsvm_source_free(src);

    /* An annotated tag is peeled to its commit. */
    src = source(f, url, "v1", "environments/dev");
    assert_int_equal(dsvm_source_fetch(&r, src), 0);
    assert_string_equal(r.commit, head);
    assert_file(r.dir, "pool.yaml", "kind: Pool\nname: dev\n");
    dsvm_source_result_clear(&r);
    /* Unchanged annotated tag: no download the second time. */
    assert_int_equal(dsvm_source_fetch(&r, src), 0);
    assert_false(r.fetched);
    assert_false(r.changed);
    dsvm_source_result_clear(&r);
    dsvm_source_free(src);

    /* A full SHA already in the cache needs no network at all. */
    src = source(f, url, first, "");
    assert_int_equal(dsvm_source_fetch(&r, src), 0);
    assert_string_equal(r.commit, first);
    assert_false(r.remote_checked);
    assert_false(r.fetched);
    dsvm_source_result_clear(&r);
    dsvm_source_free(src);

    /* An abbreviated SHA, on a fresh cache so that it must be fetched. */
    run("rm -rf '%s'", f->cache);
    memcpy(shortsha, first, 8);
    shortsha[8] = '\0';
    src = source(f, url, shortsha, "");
    assert_int_equal(dsvm_source_fetch(&r, src), 0);
    assert_string_equal(r.commit, first);
    assert_true(r.fetched);
    dsvm_source_result_clear(&r);
    dsvm_source_free(src);

    /* A full ref name. */
    src = source(f, url, "refs/heads/main", "environments/prod");
    assert_int_equal(dsvm_source_fetch(&r, src), 0);
    assert_string_equal(r.commit, head);
    dsvm_source_result_clear(&r);
    dsvm_source_free(src);
}

static void git_missing_ref_keeps_last_good(void **state)
{
    fixture *f = *state;
    dsvm_source *src;
    dsvm_source_result r = {0}, r2 = {0};
    const dsvm_source_result *lg;

    run("git -C '%s' branch release main", f->origin);
    src = source(f, f->origin, "release", "environments/prod");
    assert_int_equal(dsvm_source_fetch(&r, src), 0);
    run("git -C '%s' branch -D -q release", f->origin);
    assert_int_equal(dsvm_source_fetch(&r2, src), DSVM_ENOTFOUND);
    assert_int_equal(dsvm_error_last()->klass, DSVM_ERRCLASS_SOURCE);
    assert_message_has("'release'");
    assert_message_has("source.ref");
    assert_null(r2.dir); /* out untouched on failure */
    lg = dsvm_source_last_good(src);
    assert_non_null(lg);
    assert_string_equal(lg->commit, r.commit);
    assert_file(lg->dir, "pool.yaml", "kind: Pool\nname: gpu\n");
    dsvm_source_result_clear(&r);
    dsvm_source_free(src);

    /* A SHA that no branch or tag reaches. */
    src = source(f, f->origin, "0123456789abcdef0123456789abcdef01234567", "");
    assert_int_equal(dsvm_source_fetch(&r2, src), DSVM_ENOTFOUND);
    assert_message_has("0123456789abcdef");
    dsvm_source_free(src);
}

static void git_unreachable_keeps_last_good(void **state)
{
    fixture *f = *state;
    dsvm_source *src = source(f, f->origin, "main", "environments/prod");
    dsvm_source_result r = {0}, r2 = {0};
    char moved[256];

    assert_int_equal(dsvm_source_fetch(&r, src), 0);
    snprintf(moved, sizeof(moved), "%s.away", f->origin);
    assert_int_equal(rename(f->origin, moved), 0);
    assert_int_equal(dsvm_source_fetch(&r2, src), DSVM_ENET);
    assert_message_has(f->origin);
    assert_message_has("check source.url");
    assert_non_null(dsvm_source_last_good(src));
    assert_file(dsvm_source_last_good(src)->dir, "pool.yaml", "kind: Pool\nname: gpu\n");
    assert_true(exists(r.dir, "pool.yaml"));

    /* Back again: the next fetch works and nothing changed. */
    assert_int_equal(rename(moved, f->origin), 0);
    assert_int_equal(dsvm_source_fetch(&r2, src), 0);
    assert_false(r2.changed);
    assert_false(r2.fetched);
    dsvm_source_result_clear(&r);
    dsvm_source_result_clear(&r2);
    dsvm_source_free(src);

    /* Nobody listens on port 1. */
    run("rm -rf '%s'", f->cache);
    src = source(f, "http://127.0.0.1:1/origin.git", "main", "");
    assert_int_equal(dsvm_source_fetch(&r2, src), DSVM_ENET);
    assert_message_has("http://127.0.0.1:1/origin.git");
    dsvm_source_free(src);
}

static void git_missing_path_is_clear_error(void **state)
{
    fixture *f = *state;
    dsvm_source *src = source(f, f->origin, "main", "environments/staging");
    dsvm_source_result r = {0}, r2 = {0};
    dsvm_source_opts o = {0};

    assert_int_equal(dsvm_source_fetch(&r, src), DSVM_ENOTFOUND);
    assert_message_has("'environments/staging'");
    assert_message_has("source.path");
    assert_null(dsvm_source_last_good(src));
    dsvm_source_free(src);

    /* A commit that removes the path fails, and the last good checkout stays. */
    src = source(f, f->origin, "main", "environments/dev");
    assert_int_equal(dsvm_source_fetch(&r, src), 0);
    run("cd '%s' && git rm -rq environments/dev && git commit -qm 'drop dev' && "
        "git push -q origin HEAD:main",
        f->work);
    assert_int_equal(dsvm_source_fetch(&r2, src), DSVM_ENOTFOUND);
    assert_message_has("'environments/dev'");
    assert_string_equal(dsvm_source_last_good(src)->commit, r.commit);
    assert_file(dsvm_source_last_good(src)->dir, "pool.yaml", "kind: Pool\nname: dev\n");
    dsvm_source_result_clear(&r);
    dsvm_source_free(src);

    src = source(f, f->origin, "main", "README.md");
    assert_int_equal(dsvm_source_fetch(&r, src), DSVM_EINVALID);
    assert_message_has("not a directory");
    dsvm_source_free(src);

    /* "./a//b/" is normalised; ".." is refused up front. */
    src = source(f, f->origin, "main", "./environments//prod/");
    assert_int_equal(dsvm_source_fetch(&r, src), 0);
    assert_file(r.dir, "pool.yaml", "kind: Pool\nname: gpu\n");
    dsvm_source_result_clear(&r);
    dsvm_source_free(src);
    o.url = f->origin;
    o.cache_dir = f->cache;
    o.path = "environments/../../etc";
    src = NULL;
    assert_int_equal(dsvm_source_new(&src, &o), DSVM_EINVALID);
    assert_null(src);
}

/* Damage the cache with `damage` (a shell command run in the cache repository). */
static void check_corruption(fixture *f, const char *damage, int expect_reclone)
{
    dsvm_source *src = source(f, f->origin, "main", "environments/prod");
    dsvm_source_result r = {0}, r2 = {0};

    assert_int_equal(dsvm_source_fetch(&r, src), 0);
    dsvm_source_free(src);
    run("cd '%s/repo.git' && %s", f->cache, damage);
    src = source(f, f->origin, "main", "environments/prod");
    /* Force a read of the objects: the checkout must be written again. */
    run("rm -rf '%s'", r.dir);
    assert_int_equal(dsvm_source_fetch(&r2, src), 0);
    print_message("after \"%s\": recloned %d, fetched %d\n", damage, r2.recloned, r2.fetched);
    if (expect_reclone)
        assert_true(r2.recloned);
    assert_string_equal(r2.commit, r.commit);
    assert_file(r2.dir, "pool.yaml", "kind: Pool\nname: gpu\n");
    dsvm_source_result_clear(&r2);
    /* And the rebuilt cache is healthy: the next fetch is a no-op. */
    assert_int_equal(dsvm_source_fetch(&r2, src), 0);
    assert_false(r2.recloned);
    assert_false(r2.fetched);
    dsvm_source_result_clear(&r);
    dsvm_source_result_clear(&r2);
    dsvm_source_free(src);
}

static void git_corrupt_cache_objects_deleted(void **state)
{
    check_corruption(*state, "rm -rf objects", 1);
}

static void git_corrupt_cache_head_garbled(void **state)
{
    check_corruption(*state, "printf 'garbage\\0\\1' > HEAD", 1);
}

static void git_corrupt_cache_packs_garbled(void **state)
{
    check_corruption(*state,
                     "for p in objects/pack/*.pack; do chmod u+w $p; "
                     "dd if=/dev/urandom of=$p bs=1 seek=12 count=4096 conv=notrunc "
                     "status=none; done",
                     0);
}

static void git_corrupt_cache_refs_to_missing_objects(void **state)
{
    /* Objects gone but the rest of the repository intact. */
    check_corruption(*state, "rm -rf objects/pack/* objects/??", 0);
}

static void git_resolve_revision_into_directory(void **state)
{
    fixture *f = *state;
    dsvm_source *src = source(f, f->origin, "main", "environments/prod");
    dsvm_source_result r = {0}, base = {0}, again = {0};
    char first_prod[41], dest[256];

    rev_parse(f, "main~1", first_prod);
    commit_file(f, "environments/prod/pool.yaml", "kind: Pool\nname: gpu\nsize: 4\n");
    assert_int_equal(dsvm_source_fetch(&r, src), 0);

    snprintf(dest, sizeof(dest), "%s/base", f->dir);
    assert_int_equal(dsvm_source_resolve(&base, src, first_prod, dest), 0);
    assert_string_equal(base.commit, first_prod);
    assert_string_equal(base.dir, dest);
    assert_false(base.changed);
    assert_false(base.remote_checked);
    assert_file(dest, "pool.yaml", "kind: Pool\nname: gpu\n");
    /* The last good checkout is untouched by a resolve. */
    assert_string_equal(dsvm_source_last_good(src)->commit, r.commit);
    /* An existing destination is refused. */
    assert_int_equal(dsvm_source_resolve(&again, src, "main", dest), DSVM_EEXISTS);

    /* Without a destination: under the cache, reused when asked again. */
    assert_int_equal(dsvm_source_resolve(&again, src, "main~0", NULL), DSVM_ENOTFOUND);
    assert_int_equal(dsvm_source_resolve(&again, src, "main", NULL), 0);
    assert_string_equal(again.commit, r.commit);
    assert_non_null(strstr(again.dir, "/revisions/"));
    assert_file(again.dir, "pool.yaml", "kind: Pool\nname: gpu\nsize: 4\n");
    dsvm_source_result_clear(&again);
    dsvm_source_result_clear(&base);
    dsvm_source_result_clear(&r);
    dsvm_source_free(src);
}

static void git_last_good_survives_restart(void **state)
{
    fixture *f = *state;
    dsvm_source *src = source(f, f->origin, "main", "environments/prod");
    dsvm_source_result r = {0}, r2 = {0};

    assert_int_equal(dsvm_source_fetch(&r, src), 0);
    dsvm_source_free(src);
    src = source(f, f->origin, "main", "environments/prod");
    assert_non_null(dsvm_source_last_good(src));
    assert_string_equal(dsvm_source_last_good(src)->commit, r.commit);
    assert_string_equal(dsvm_source_last_good(src)->dir, r.dir);
    assert_int_equal(dsvm_source_fetch(&r2, src), 0);
    assert_false(r2.changed);
    dsvm_source_result_clear(&r2);
    dsvm_source_free(src);

    /* Another path of the same commit is a change. */
    src = source(f, f->origin, "main", "environments/dev");
    assert_int_equal(dsvm_source_fetch(&r2, src), 0);
    assert_true(r2.changed);
    assert_string_equal(r2.commit, r.commit);
    assert_string_not_equal(r2.dir, r.dir);
    assert_file(r2.dir, "pool.yaml", "kind: Pool\nname: dev\n");
    dsvm_source_result_clear(&r);
    dsvm_source_result_clear(&r2);
    dsvm_source_free(src);
}

static void git_unsafe_symlink_is_refused(void **state)
{
    fixture *f = *state;
    dsvm_source *src;
    dsvm_source_result r = {0};

    run("cd '%s' && ln -s ../../etc/passwd environments/prod/link.yaml && "
        "ln -s pool.yaml environments/prod/ok.yaml && git add -A && git commit -qm links && "
        "git push -q origin HEAD:main",
        f->work);
    src = source(f, f->origin, "main", "environments/prod");
    assert_int_equal(dsvm_source_fetch(&r, src), DSVM_EINVALID);
    assert_message_has("link.yaml");
    assert_message_has("outside the checkout");
    dsvm_source_free(src);

    /* A link that stays inside the checkout is fine. */
    run("cd '%s' && rm environments/prod/link.yaml && git add -A && git commit -qm unlink && "
        "git push -q origin HEAD:main",
        f->work);
    src = source(f, f->origin, "main", "environments/prod");
    assert_int_equal(dsvm_source_fetch(&r, src), 0);
    assert_file(r.dir, "ok.yaml", "kind: Pool\nname: gpu\n");
    dsvm_source_result_clear(&r);
    dsvm_source_free(src);
}

static void git_options_and_odd_refs(void **state)
{
    fixture *f = *state;
    dsvm_source_opts o = {0};
    dsvm_source *src = NULL;
    dsvm_source_result r = {0}, r2 = {0};
    char url[256];

    /* Missing options. */
    assert_int_equal(dsvm_source_new(&src, &o), DSVM_EINVALID);
    assert_message_has("source.url");
    o.url = f->origin;
    assert_int_equal(dsvm_source_new(&src, &o), DSVM_EINVALID);
    assert_null(src);

    /* A tag on a tree is not a commit. */
    run("git -C '%s' tag treetag 'main^{tree}'", f->origin);
    src = source(f, f->origin, "treetag", "");
    assert_int_equal(dsvm_source_fetch(&r, src), DSVM_EINVALID);
    assert_message_has("not a commit");
    dsvm_source_free(src);

    /* The same cache given another URL is started afresh. */
    src = source(f, f->origin, "main", "");
    assert_int_equal(dsvm_source_fetch(&r, src), 0);
    dsvm_source_free(src);
    snprintf(url, sizeof(url), "file://%s", f->origin);
    src = source(f, url, "main", "");
    assert_int_equal(dsvm_source_fetch(&r2, src), 0);
    assert_true(r2.recloned);
    assert_string_equal(r2.commit, r.commit);
    assert_false(r2.changed);
    dsvm_source_result_clear(&r);
    dsvm_source_result_clear(&r2);
    dsvm_source_free(src);
}

/*
 * A branch fetch brings that branch only; a SHA elsewhere is found by
 * fetching all. Over HTTP: libgit2's local transport sends every ref anyway.
 */
static void git_fetch_brings_only_the_ref(void **state)
{
    fixture *f = *state;
    dsvm_source *src;
    dsvm_source_result r = {0}, other = {0};
    char feature[41], cmd[512], url[128];

    run("cd '%s' && git checkout -qb feature && echo x > feature.txt && git add -A && "
        "git commit -qm feature && git push -q origin feature && git checkout -q main",
        f->work);
    rev_parse(f, "feature", feature);
    start_server(f, "");
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/origin.git", f->port);
    src = source(f, url, "main", "environments/prod");
    assert_int_equal(dsvm_source_fetch(&r, src), 0);
    snprintf(cmd, sizeof(cmd), "git -C '%s/repo.git' cat-file -e %s 2>/dev/null", f->cache,
             feature);
    assert_int_not_equal(system(cmd), 0);

    assert_int_equal(dsvm_source_resolve(&other, src, feature, NULL), 0);
    assert_string_equal(other.commit, feature);
    assert_true(other.fetched);
    assert_int_equal(system(cmd), 0);
    dsvm_source_result_clear(&r);
    dsvm_source_result_clear(&other);
    dsvm_source_free(src);
}

/* A cache that has piled up packs is cloned afresh into one. */
static void git_many_packs_are_collapsed(void **state)
{
    fixture *f = *state;
    dsvm_source *src = source(f, f->origin, "main", "environments/prod");
    dsvm_source_result r = {0};
    char out[64], cmd[512];

    assert_int_equal(dsvm_source_fetch(&r, src), 0);
    dsvm_source_result_clear(&r);
    /* 60 more packs: copies of the one there, under other names. */
    run("cd '%s/repo.git/objects/pack' && p=$(ls *.pack) && b=${p%%.pack} && "
        "for i in $(seq 10 69); do n=pack-$(printf %%040d $i); cp $b.pack $n.pack; "
        "cp $b.idx $n.idx; done",
        f->cache);
    commit_file(f, "environments/prod/pool.yaml", "kind: Pool\nname: gpu\nsize: 4\n");
    assert_int_equal(dsvm_source_fetch(&r, src), 0);
    assert_true(r.recloned);
    assert_true(r.changed);
    assert_file(r.dir, "pool.yaml", "kind: Pool\nname: gpu\nsize: 4\n");
    snprintf(cmd, sizeof(cmd), "ls '%s/repo.git/objects/pack' | grep -c 'pack$'", f->cache);
    run_out(out, sizeof(out), cmd);
    assert_string_equal(out, "1");
    dsvm_source_result_clear(&r);
    dsvm_source_free(src);
}

/* Two processes fetching into one empty cache at once both succeed (flock). */
static void git_concurrent_fetches_share_the_cache(void **state)
{
    fixture *f = *state;
    dsvm_source *src;
    dsvm_source_result r = {0};
    pid_t child;
    int status = 0;

    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        dsvm_source_opts o = {0};
        dsvm_source *c = NULL;
        int rc;

        o.url = f->origin;
        o.ref = "main";
        o.path = "environments/prod";
        o.cache_dir = f->cache;
        rc = dsvm_source_new(&c, &o);
        if (!rc)
            rc = dsvm_source_fetch(&r, c);
        dsvm_source_result_clear(&r);
        dsvm_source_free(c);
        _exit(rc == 0 ? 0 : 1);
    }
    src = source(f, f->origin, "main", "environments/prod");
    assert_int_equal(dsvm_source_fetch(&r, src), 0);
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_file(r.dir, "pool.yaml", "kind: Pool\nname: gpu\n");
    dsvm_source_result_clear(&r);
    dsvm_source_free(src);
}

/* ---- smart HTTP ---- */

static dsvm_source *http_source(fixture *f, const char *user, const char *password)
{
    dsvm_source_opts o = {0};
    dsvm_source *src = NULL;
    char url[128];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/origin.git", f->port);
    o.url = url;
    o.ref = "main";
    o.path = "environments/prod";
    o.cache_dir = f->cache;
    o.auth.username = user;
    o.auth.password = password;
    assert_int_equal(dsvm_source_new(&src, &o), 0);
    return src;
}

static void git_http_token_clone_and_fetch(void **state)
{
    fixture *f = *state;
    dsvm_source *src;
    dsvm_source_result r = {0}, r2 = {0}, r3 = {0};
    char head[41];
    double t0, t1, t2;

    /* Some more files so that a real fetch has something to carry. */
    run("cd '%s/environments/prod' && for i in $(seq 10 59); do "
        "printf 'kind: Pool\\nname: p%%s\\n' $i > pool-$i.yaml; done && "
        "git add -A && git commit -qm pools && git push -q origin HEAD:main",
        f->work);
    start_server(f, "deploy:" TOKEN);
    src = http_source(f, "deploy", TOKEN);
    t0 = now_ms();
    assert_int_equal(dsvm_source_fetch(&r, src), 0);
    t1 = now_ms();
    rev_parse(f, "main", head);
    assert_string_equal(r.commit, head);
    assert_true(r.fetched);
    assert_file(r.dir, "pool.yaml", "kind: Pool\nname: gpu\n");
    assert_file(r.dir, "pool-59.yaml", "kind: Pool\nname: p59\n");
    assert_int_equal(dsvm_source_fetch(&r2, src), 0);
    t2 = now_ms();
    assert_false(r2.fetched);
    assert_false(r2.changed);
    assert_true(r2.remote_checked);
    print_message("http: clone+checkout %.1f ms, no-change fetch %.1f ms\n", t1 - t0, t2 - t1);
    dsvm_source_result_clear(&r2);

    commit_file(f, "environments/prod/pool.yaml", "kind: Pool\nname: gpu\nsize: 2\n");
    t0 = now_ms();
    assert_int_equal(dsvm_source_fetch(&r3, src), 0);
    t1 = now_ms();
    print_message("http: incremental fetch+checkout %.1f ms (%u objects, %zu bytes)\n", t1 - t0,
                  r3.received_objects, r3.received_bytes);
    assert_true(r3.changed);
    assert_true(r3.fetched);
    assert_true(r3.received_objects > 0);
    assert_true(r3.received_objects < 10); /* only the new commit's objects */
    assert_file(r3.dir, "pool.yaml", "kind: Pool\nname: gpu\nsize: 2\n");
    dsvm_source_result_clear(&r);
    dsvm_source_result_clear(&r3);
    dsvm_source_free(src);
}

static void git_http_wrong_token_is_auth_error(void **state)
{
    fixture *f = *state;
    dsvm_source *src;
    dsvm_source_result r = {0};

    start_server(f, "deploy:" TOKEN);
    src = http_source(f, "deploy", "wrong-" TOKEN);
    assert_int_equal(dsvm_source_fetch(&r, src), DSVM_EAUTH);
    assert_message_has("refused the credentials");
    assert_message_has("'deploy'");
    assert_message_has("source.auth");
    assert_null(strstr(dsvm_error_last()->message, TOKEN));
    assert_null(dsvm_source_last_good(src));
    dsvm_source_free(src);

    /* No credentials at all. */
    src = http_source(f, NULL, NULL);
    assert_int_equal(dsvm_source_fetch(&r, src), DSVM_EAUTH);
    assert_message_has("asks for credentials");
    dsvm_source_free(src);

    /* The right token after a failure works, and the last good stays on a later failure. */
    src = http_source(f, "deploy", TOKEN);
    assert_int_equal(dsvm_source_fetch(&r, src), 0);
    dsvm_source_result_clear(&r);
    dsvm_source_free(src);
    src = http_source(f, "deploy", "nope-" TOKEN);
    assert_int_equal(dsvm_source_fetch(&r, src), DSVM_EAUTH);
    assert_null(strstr(dsvm_error_last()->message, TOKEN));
    assert_non_null(dsvm_source_last_good(src));
    assert_file(dsvm_source_last_good(src)->dir, "pool.yaml", "kind: Pool\nname: gpu\n");
    dsvm_source_free(src);
}

/*
 * HTTPS with a test CA. libgit2 (with mbedTLS on Debian 12) reads CA
 * certificates from a process-wide setting that lasts while libgit2 is
 * initialised, so the test holds its own libgit2 reference around it. The
 * mbedTLS of Debian 12 matches DNS names only, hence "localhost".
 */
static void git_https_trusted_and_untrusted(void **state)
{
    fixture *f = *state;
    dsvm_source_opts o = {0};
    dsvm_source *src = NULL;
    dsvm_source_result r = {0};
    char url[128], ca[256], cert[256], key[256], self[256], selfkey[256];

    require_tool("openssl");
    run("cd '%s' && "
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
        "-subj /CN=dsvmops-test-ca -keyout ca.key -out ca.pem 2>/dev/null && "
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
        "-subj /CN=localhost -keyout srv.key -out srv.csr 2>/dev/null && "
        "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > srv.ext && "
        "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
        "-extfile srv.ext -out srv.pem 2>/dev/null && "
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
        "-subj /CN=localhost -addext subjectAltName=DNS:localhost -keyout self.key "
        "-out self.pem 2>/dev/null",
        f->dir);
    snprintf(ca, sizeof(ca), "%s/ca.pem", f->dir);
    snprintf(cert, sizeof(cert), "%s/srv.pem", f->dir);
    snprintf(key, sizeof(key), "%s/srv.key", f->dir);
    snprintf(self, sizeof(self), "%s/self.pem", f->dir);
    snprintf(selfkey, sizeof(selfkey), "%s/self.key", f->dir);
    assert_true(git_libgit2_init() > 0);
    assert_int_equal(git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, ca, NULL), 0);

    start_server_tls(f, "deploy:" TOKEN, cert, key);
    snprintf(url, sizeof(url), "https://localhost:%d/origin.git", f->port);
    o.url = url;
    o.ref = "main";
    o.path = "environments/prod";
    o.cache_dir = f->cache;
    o.auth.username = "deploy";
    o.auth.password = TOKEN;
    assert_int_equal(dsvm_source_new(&src, &o), 0);
    if (dsvm_source_fetch(&r, src) != 0)
        fail_msg("https fetch: %s", dsvm_error_last()->message);
    assert_file(r.dir, "pool.yaml", "kind: Pool\nname: gpu\n");
    dsvm_source_result_clear(&r);
    assert_int_equal(dsvm_source_fetch(&r, src), 0);
    assert_false(r.fetched);
    dsvm_source_result_clear(&r);
    dsvm_source_free(src);
    stop_server(f);

    /* A certificate that the CA did not sign is refused. */
    start_server_tls(f, "deploy:" TOKEN, self, selfkey);
    snprintf(url, sizeof(url), "https://localhost:%d/origin.git", f->port);
    assert_int_equal(dsvm_source_new(&src, &o), 0);
    assert_int_equal(dsvm_source_fetch(&r, src), DSVM_EAUTH);
    assert_message_has("not trusted");
    assert_null(strstr(dsvm_error_last()->message, TOKEN));
    /* The last good checkout from the trusted server is still there. */
    assert_non_null(dsvm_source_last_good(src));
    dsvm_source_free(src);
    git_libgit2_shutdown();
}

static void git_credentials_never_in_messages(void **state)
{
    fixture *f = *state;
    dsvm_source_opts o = {0};
    dsvm_source *src = NULL;
    dsvm_source_result r = {0};
    char *safe = NULL;

    assert_int_equal(dsvm_source_redact_url(&safe, "https://bob:" TOKEN "@git.example/x.git"), 0);
    assert_string_equal(safe, "https://git.example/x.git");
    free(safe);
    assert_int_equal(dsvm_source_redact_url(&safe, "git@github.com:org/repo.git"), 0);
    assert_string_equal(safe, "git@github.com:org/repo.git");
    free(safe);

    o.url = "http://bob:" TOKEN "@127.0.0.1:1/origin.git";
    o.cache_dir = f->cache;
    o.auth.password = "another-" TOKEN;
    assert_int_equal(dsvm_source_new(&src, &o), 0);
    assert_string_equal(dsvm_source_url(src), "http://127.0.0.1:1/origin.git");
    assert_int_equal(dsvm_source_fetch(&r, src), DSVM_ENET);
    assert_message_has("http://127.0.0.1:1/origin.git");
    assert_null(strstr(dsvm_error_last()->message, TOKEN));
    assert_null(strstr(dsvm_error_last()->message, "bob"));
    dsvm_source_free(src);
}

/* ---- SSH host keys (no SSH server: the known_hosts logic on its own) ---- */

/* Read the base64 key of an ssh-keygen .pub file and decode it. */
static size_t read_pub_key(const char *pub, unsigned char *out, size_t size, char *b64,
                           size_t b64size)
{
    char line[1024], *sp, *end;
    int n;

    read_file(pub, line, sizeof(line));
    sp = strchr(line, ' ');
    assert_non_null(sp);
    sp++;
    end = strchr(sp, ' ');
    if (end)
        *end = '\0';
    sp[strcspn(sp, "\n")] = '\0';
    assert_true(strlen(sp) < b64size);
    strcpy(b64, sp);
    assert_true(strlen(sp) / 4 * 3 <= size);
    n = EVP_DecodeBlock(out, (const unsigned char *)sp, (int)strlen(sp));
    assert_true(n > 0);
    while (sp[strlen(sp) - 1] == '=') {
        sp[strlen(sp) - 1] = '\0';
        n--;
    }
    return (size_t)n;
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void git_known_hosts_checks(void **state)
{
    fixture *f = *state;
    char kh[256], pub[256], pub2[256], text[8192], b64[512], b64b[512];
    unsigned char key[1024], key2[1024];
    size_t len, len2;

    require_tool("ssh-keygen");
    snprintf(pub, sizeof(pub), "%s/hostkey.pub", f->dir);
    snprintf(pub2, sizeof(pub2), "%s/otherkey.pub", f->dir);
    snprintf(kh, sizeof(kh), "%s/known_hosts", f->dir);
    run("ssh-keygen -q -t ed25519 -N '' -f '%s/hostkey' && "
        "ssh-keygen -q -t ed25519 -N '' -f '%s/otherkey'",
        f->dir, f->dir);
    len = read_pub_key(pub, key, sizeof(key), b64, sizeof(b64));
    len2 = read_pub_key(pub2, key2, sizeof(key2), b64b, sizeof(b64b));

    snprintf(text, sizeof(text),
             "# comment\n\n"
             "git.example,10.0.0.5 ssh-ed25519 %s\n"
             "[git.example]:2222 ssh-ed25519 %s\n"
             "*.corp.example,!bad.corp.example ssh-ed25519 %s\n"
             "@cert-authority *.example ssh-ed25519 %s\n",
             b64, b64b, b64, b64b);
    write_text(kh, text);
    assert_int_equal(dsvm_source_check_host_key(kh, "git.example", 22, key, len), 0);
    assert_int_equal(dsvm_source_check_host_key(kh, "GIT.example", 22, key, len), 0);
    assert_int_equal(dsvm_source_check_host_key(kh, "10.0.0.5", 22, key, len), 0);
    assert_int_equal(dsvm_source_check_host_key(kh, "git.example", 2222, key2, len2), 0);
    assert_int_equal(dsvm_source_check_host_key(kh, "a.corp.example", 22, key, len), 0);

    /* Another key for a known host: refused, and the message says why. */
    assert_int_equal(dsvm_source_check_host_key(kh, "git.example", 22, key2, len2), DSVM_EAUTH);
    assert_message_has("does not match");
    assert_int_equal(dsvm_source_check_host_key(kh, "git.example", 2222, key, len), DSVM_EAUTH);
    assert_message_has("[git.example]:2222");

    /* Unknown hosts, a negated pattern, and a port that is not listed. */
    assert_int_equal(dsvm_source_check_host_key(kh, "evil.example", 22, key, len), DSVM_EAUTH);
    assert_message_has("unknown SSH host evil.example");
    assert_message_has("ssh-keyscan evil.example");
    assert_int_equal(dsvm_source_check_host_key(kh, "bad.corp.example", 22, key, len), DSVM_EAUTH);
    assert_int_equal(dsvm_source_check_host_key(kh, "10.0.0.5", 2200, key, len), DSVM_EAUTH);
    assert_message_has("ssh-keyscan -p 2200 10.0.0.5");

    /* Hashed names, as ssh-keygen -H writes them. */
    run("ssh-keygen -q -H -f '%s' >/dev/null 2>&1 && rm -f '%s.old'", kh, kh);
    read_file(kh, text, sizeof(text));
    assert_null(strstr(text, "git.example,"));
    assert_non_null(strstr(text, "|1|"));
    assert_int_equal(dsvm_source_check_host_key(kh, "git.example", 22, key, len), 0);
    assert_int_equal(dsvm_source_check_host_key(kh, "10.0.0.5", 22, key, len), 0);
    assert_int_equal(dsvm_source_check_host_key(kh, "git.example", 2222, key2, len2), 0);
    assert_int_equal(dsvm_source_check_host_key(kh, "git.example", 22, key2, len2), DSVM_EAUTH);
    assert_int_equal(dsvm_source_check_host_key(kh, "other.example", 22, key, len), DSVM_EAUTH);

    /* A revoked key is refused even where it is also listed. */
    snprintf(text, sizeof(text), "git.example ssh-ed25519 %s\n@revoked * ssh-ed25519 %s\n", b64,
             b64);
    write_text(kh, text);
    assert_int_equal(dsvm_source_check_host_key(kh, "git.example", 22, key, len), DSVM_EAUTH);
    assert_message_has("@revoked");

    /* A missing file. */
    assert_int_equal(
        dsvm_source_check_host_key("/nonexistent/known_hosts", "git.example", 22, key, len),
        DSVM_EIO);
    assert_message_has("known_hosts_file");
}

/* Malformed known_hosts lines are skipped, never read out of bounds. */
static void git_known_hosts_survives_garbage(void **state)
{
    fixture *f = *state;
    static const char *const odd[] = {
        "@revoked\n",
        "@revoked *\n",
        "|1|\n",
        "|1| ssh-ed25519 AAAA\n",
        "|1|!!!!|@@@@ ssh-ed25519 AAAA\n",
        "|1|c2FsdA==|aGFzaA== ssh-ed25519\n",
        "host\n",
        "host ssh-ed25519\n",
        "host ssh-ed25519 ===\n",
        "host ssh-ed25519 A\n",
        ",,, ssh-ed25519 AAAA\n",
        "!host ssh-ed25519 AAAA\n",
        "[host ssh-ed25519 AAAA\n",
        "* ssh-ed25519 not*base64\n",
        "\t  \n",
    };
    unsigned char key[32] = {1, 2, 3};
    char kh[256];
    unsigned int seed = 12345;
    FILE *fp;
    size_t i, j;

    snprintf(kh, sizeof(kh), "%s/known_hosts", f->dir);
    fp = fopen(kh, "w");
    assert_non_null(fp);
    for (i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
        fputs(odd[i], fp);
    for (i = 0; i < 300; i++) {
        size_t len = (size_t)(rand_r(&seed) % 200);

        for (j = 0; j < len; j++) {
            int c = rand_r(&seed) % 256;

            fputc(c == '\n' ? ' ' : c, fp);
        }
        fputc('\n', fp);
    }
    for (i = 0; i < 100000; i++) /* one very long line without a newline at the end */
        fputc(i % 2 ? 'A' : '|', fp);
    fclose(fp);
    assert_int_equal(dsvm_source_check_host_key(kh, "git.example", 22, key, sizeof(key)),
                     DSVM_EAUTH);
    assert_message_has("unknown SSH host git.example");
}

static void git_ssh_unreachable_is_clear_error(void **state)
{
    fixture *f = *state;
    dsvm_source_opts o = {0};
    dsvm_source *src = NULL;
    dsvm_source_result r = {0};

    o.url = "ssh://git@127.0.0.1:1/origin.git";
    o.cache_dir = f->cache;
    o.auth.ssh_key_file = "/nonexistent/id_ed25519";
    assert_int_equal(dsvm_source_new(&src, &o), 0);
    assert_int_equal(dsvm_source_fetch(&r, src), DSVM_ENET);
    assert_message_has("ssh://127.0.0.1:1/origin.git");
    assert_message_has("check source.url");
    dsvm_source_free(src);
}

/* ---- SSH end to end, when sshd is installed ---- */

#define SSHD "/usr/sbin/sshd"

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int port_open(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/*
 * Start sshd on a free loopback port with a fresh host key, accepting the
 * client key id_ed25519 for the current user. Skips the test without sshd.
 */
static void start_sshd(fixture *f)
{
    char conf[256], log[256];
    FILE *fp;
    int i;

    require_tool("ssh-keygen");
    if (access(SSHD, X_OK) != 0) {
        print_message("skipped: %s is not installed (openssh-server)\n", SSHD);
        skip();
    }
    if (geteuid() == 0)
        run("mkdir -p /run/sshd");
    run("cd '%s' && ssh-keygen -q -t ed25519 -N '' -f ssh_host_key && "
        "ssh-keygen -q -t ed25519 -N '' -f id_ed25519 && "
        "ssh-keygen -q -t ed25519 -N '' -f stranger && cp id_ed25519.pub authorized_keys",
        f->dir);
    f->ssh_port = free_port();
    snprintf(conf, sizeof(conf), "%s/sshd_config", f->dir);
    snprintf(log, sizeof(log), "%s/sshd.log", f->dir);
    fp = fopen(conf, "w");
    assert_non_null(fp);
    fprintf(fp,
            "Port %d\nListenAddress 127.0.0.1\nHostKey %s/ssh_host_key\n"
            "AuthorizedKeysFile %s/authorized_keys\nPidFile %s/sshd.pid\nStrictModes no\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
            "PermitRootLogin prohibit-password\nPubkeyAuthentication yes\n",
            f->ssh_port, f->dir, f->dir, f->dir);
    fclose(fp);
    f->sshd = fork();
    assert_true(f->sshd >= 0);
    if (f->sshd == 0) {
        FILE *l = freopen(log, "w", stderr);

        (void)l;
        execl(SSHD, SSHD, "-D", "-e", "-f", conf, (char *)NULL);
        _exit(127);
    }
    for (i = 0; i < 100 && !port_open(f->ssh_port); i++) {
        if (geteuid() != 0 && waitpid(f->sshd, NULL, WNOHANG) == f->sshd) {
            f->sshd = -1;
            skip(); /* this sshd cannot run unprivileged */
        }
        usleep(20000);
    }
    assert_true(port_open(f->ssh_port));
}

static dsvm_source *ssh_source(fixture *f, const char *key, const char *known_hosts)
{
    dsvm_source_opts o = {0};
    dsvm_source *src = NULL;
    char url[512], keyfile[256];
    struct passwd *pw = getpwuid(geteuid());

    assert_non_null(pw);
    snprintf(url, sizeof(url), "ssh://%s@127.0.0.1:%d%s", pw->pw_name, f->ssh_port, f->origin);
    snprintf(keyfile, sizeof(keyfile), "%s/%s", f->dir, key);
    o.url = url;
    o.ref = "main";
    o.path = "environments/prod";
    o.cache_dir = f->cache;
    o.auth.ssh_key_file = keyfile;
    o.auth.ssh_known_hosts_file = known_hosts;
    assert_int_equal(dsvm_source_new(&src, &o), 0);
    return src;
}

/* Write a known_hosts file listing `pubfile`'s key for the test sshd. */
static void write_known_hosts(fixture *f, const char *path, const char *pubfile)
{
    char pub[512], line[1024];
    unsigned char raw[512];
    char b64[512];

    snprintf(pub, sizeof(pub), "%s/%s", f->dir, pubfile);
    read_pub_key(pub, raw, sizeof(raw), b64, sizeof(b64));
    snprintf(line, sizeof(line), "[127.0.0.1]:%d ssh-ed25519 %s\n", f->ssh_port, b64);
    write_text(path, line);
}

static void git_ssh_key_and_known_host(void **state)
{
    fixture *f = *state;
    dsvm_source *src;
    dsvm_source_result r = {0}, r2 = {0};
    char kh[256], head[41];

    start_sshd(f);
    snprintf(kh, sizeof(kh), "%s/known_hosts", f->dir);
    write_known_hosts(f, kh, "ssh_host_key.pub");
    src = ssh_source(f, "id_ed25519", kh);
    if (dsvm_source_fetch(&r, src) != 0)
        fail_msg("ssh fetch: %s", dsvm_error_last()->message);
    rev_parse(f, "main", head);
    assert_string_equal(r.commit, head);
    assert_true(r.fetched);
    assert_file(r.dir, "pool.yaml", "kind: Pool\nname: gpu\n");
    assert_int_equal(dsvm_source_fetch(&r2, src), 0);
    assert_false(r2.fetched);
    assert_false(r2.changed);
    dsvm_source_result_clear(&r);
    dsvm_source_result_clear(&r2);
    dsvm_source_free(src);
}

static void git_ssh_refuses_unknown_or_changed_host(void **state)
{
    fixture *f = *state;
    dsvm_source *src;
    dsvm_source_result r = {0};
    char kh[256], expect[64];

    start_sshd(f);
    snprintf(kh, sizeof(kh), "%s/known_hosts", f->dir);
    snprintf(expect, sizeof(expect), "[127.0.0.1]:%d", f->ssh_port);

    /* Not listed at all. */
    write_text(kh, "# empty\n");
    src = ssh_source(f, "id_ed25519", kh);
    assert_int_equal(dsvm_source_fetch(&r, src), DSVM_EAUTH);
    assert_message_has("unknown SSH host");
    assert_message_has(expect);
    assert_null(dsvm_source_last_good(src));
    dsvm_source_free(src);

    /* Listed with another key. */
    write_known_hosts(f, kh, "stranger.pub");
    src = ssh_source(f, "id_ed25519", kh);
    assert_int_equal(dsvm_source_fetch(&r, src), DSVM_EAUTH);
    assert_message_has("does not match");
    dsvm_source_free(src);

    /* A key file that is not there. */
    write_known_hosts(f, kh, "ssh_host_key.pub");
    src = ssh_source(f, "no-such-key", kh);
    assert_int_equal(dsvm_source_fetch(&r, src), DSVM_EINVALID);
    assert_message_has("no-such-key");
    assert_message_has("source.auth.ssh_key_file");
    dsvm_source_free(src);

    /* The right host key, but a client key the server does not accept. */
    write_known_hosts(f, kh, "ssh_host_key.pub");
    src = ssh_source(f, "stranger", kh);
    assert_int_equal(dsvm_source_fetch(&r, src), DSVM_EAUTH);
    assert_message_has("refused the credentials");
    dsvm_source_free(src);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(git_local_path_branch_and_subdir, setup, teardown),
        cmocka_unit_test_setup_teardown(git_file_modes_and_submodules, setup, teardown),
        cmocka_unit_test_setup_teardown(git_no_change_fetch_skips_download, setup, teardown),
        cmocka_unit_test_setup_teardown(git_new_commit_is_fetched_and_changed, setup, teardown),
        cmocka_unit_test_setup_teardown(git_file_url_tags_and_shas, setup, teardown),
        cmocka_unit_test_setup_teardown(git_missing_ref_keeps_last_good, setup, teardown),
        cmocka_unit_test_setup_teardown(git_unreachable_keeps_last_good, setup, teardown),
        cmocka_unit_test_setup_teardown(git_missing_path_is_clear_error, setup, teardown),
        cmocka_unit_test_setup_teardown(git_corrupt_cache_objects_deleted, setup, teardown),
        cmocka_unit_test_setup_teardown(git_corrupt_cache_head_garbled, setup, teardown),
        cmocka_unit_test_setup_teardown(git_corrupt_cache_packs_garbled, setup, teardown),
        cmocka_unit_test_setup_teardown(git_corrupt_cache_refs_to_missing_objects, setup, teardown),
        cmocka_unit_test_setup_teardown(git_resolve_revision_into_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(git_last_good_survives_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(git_unsafe_symlink_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(git_options_and_odd_refs, setup, teardown),
        cmocka_unit_test_setup_teardown(git_fetch_brings_only_the_ref, setup, teardown),
        cmocka_unit_test_setup_teardown(git_many_packs_are_collapsed, setup, teardown),
        cmocka_unit_test_setup_teardown(git_concurrent_fetches_share_the_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(git_http_token_clone_and_fetch, setup, teardown),
        cmocka_unit_test_setup_teardown(git_http_wrong_token_is_auth_error, setup, teardown),
        cmocka_unit_test_setup_teardown(git_https_trusted_and_untrusted, setup, teardown),
        cmocka_unit_test_setup_teardown(git_credentials_never_in_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(git_known_hosts_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(git_known_hosts_survives_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(git_ssh_unreachable_is_clear_error, setup, teardown),
    };
    /* Apart, because libgit2 1.5 leaks on every SSH connection (libgit2#6598). */
    const struct CMUnitTest ssh_tests[] = {
        cmocka_unit_test_setup_teardown(git_ssh_key_and_known_host, setup, teardown),
        cmocka_unit_test_setup_teardown(git_ssh_refuses_unknown_or_changed_host, setup, teardown),
    };

    /* sshd's per-connection processes outlive it; adopt and reap them. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
    setenv("GIT_AUTHOR_NAME", "dsvmops test", 1);
    setenv("GIT_AUTHOR_EMAIL", "test@dsvmops.invalid", 1);
    setenv("GIT_COMMITTER_NAME", "dsvmops test", 1);
    setenv("GIT_COMMITTER_EMAIL", "test@dsvmops.invalid", 1);
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("https_proxy");
    unsetenv("HTTPS_PROXY");
    if (argc > 1 && !strcmp(argv[1], "ssh"))
        return cmocka_run_group_tests_name("ssh", ssh_tests, group_setup, group_teardown);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
