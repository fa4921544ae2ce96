/*
 * The pull-request plan. See pr_plan.h.
 *
 * Revisions of a local repository (--source DIR, or a source.url that is a
 * local repository) are read with libgit2 straight from that repository, so
 * any revision it can name works: SHAs, branches, origin/main, HEAD~1, and
 * commits that only a detached HEAD reaches (CI checkouts of pull requests
 * from forks). Only regular files and directories are written; symbolic
 * links and submodules are skipped, since manifests are plain YAML files.
 * A remote source goes through the Git source cache (git_source.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>

#include "cli.h"
#include "dsvmops/error.h"
#include "git_source.h"
#include "pr_plan.h"

#define MAX_TREE_DEPTH   64
#define MAX_FIELDS_SHOWN 20
#define MAX_VALUE_CHARS  80

/* One revision written to a directory. */
typedef struct {
    char commit[41];
    char *dir;   /* the manifests of that revision (owned) */
    int missing; /* the manifest path does not exist at that revision */
} revision;

static void revision_clear(revision *r)
{
    free(r->dir);
    memset(r, 0, sizeof(*r));
}

/* "a/b" (a file path); "b" alone when `a` is empty. */
static char *join_sep(const char *a, const char *b, const char *sep)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);

    if (p)
        snprintf(p, n, "%s%s%s", a, *a && *b ? sep : "", b);
    return p;
}

static char *join(const char *a, const char *b)
{
    return join_sep(a, b, "/");
}

/* "spec.autoscale" + "max": a field path. */
static char *field(const char *a, const char *b)
{
    return join_sep(a, b, ".");
}

static const char *git_msg(void)
{
    const git_error *err = git_error_last();

    return err && err->message ? err->message : "unknown libgit2 error";
}

/* ---- local repositories ------------------------------------------------ */

static int write_blob(git_repository *repo, const git_tree_entry *ent, const char *path)
{
    git_blob *blob = NULL;
    const char *data;
    size_t len, off = 0;
    int fd, rc = 0;

    if (git_blob_lookup(&blob, repo, git_tree_entry_id(ent)) != 0) {
        dsvm_error_set(DSVM_ERRCLASS_SOURCE, "cannot read %s from the repository: %s", path,
                       git_msg());
        return DSVM_EIO;
    }
    data = git_blob_rawcontent(blob);
    len = (size_t)git_blob_rawsize(blob);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        rc = DSVM_EIO;
    while (rc == 0 && off < len) {
        ssize_t w = write(fd, data + off, len - off);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            rc = DSVM_EIO;
        else
            off += (size_t)w;
    }
    if (fd >= 0 && close(fd) != 0)
        rc = DSVM_EIO;
    if (rc < 0)
        dsvm_error_set(DSVM_ERRCLASS_OS, "cannot write %s: %s; check the temporary directory", path,
                       strerror(errno));
    git_blob_free(blob);
    return rc;
}

/* Write `tree` into the new directory `dir`: files and directories only. */
static int write_tree(git_repository *repo, const git_tree *tree, const char *dir, int depth)
{
    size_t i, n = git_tree_entrycount(tree);
    int rc = 0;

    if (depth > MAX_TREE_DEPTH) {
        dsvm_error_set(DSVM_ERRCLASS_SOURCE, "%s is nested more than %d directories deep", dir,
                       MAX_TREE_DEPTH);
        return DSVM_EINVALID;
    }
    if (mkdir(dir, 0700) != 0) {
        dsvm_error_set(DSVM_ERRCLASS_OS, "cannot create %s: %s", dir, strerror(errno));
        return DSVM_EIO;
    }
    for (i = 0; rc == 0 && i < n; i++) {
        const git_tree_entry *ent = git_tree_entry_byindex(tree, i);
        const char *name = git_tree_entry_name(ent);
        git_filemode_t mode = git_tree_entry_filemode(ent);
        char *path;

        if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        path = join(dir, name);
        if (!path)
            return dsvm_error_oom();
        if (mode == GIT_FILEMODE_TREE) {
            git_tree *sub = NULL;

            if (git_tree_lookup(&sub, repo, git_tree_entry_id(ent)) != 0) {
                dsvm_error_set(DSVM_ERRCLASS_SOURCE, "cannot read the tree %s: %s", path,
                               git_msg());
                rc = DSVM_EIO;
            } else {
                rc = write_tree(repo, sub, path, depth + 1);
            }
            git_tree_free(sub);
        } else if (mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE) {
            rc = write_blob(repo, ent, path);
        }
        free(path);
    }
    return rc;
}

/* Write `rel` (a path in the repository, "" for the top) of revision `rev`
 * into `dest`, which must not exist. A missing `rel` gives an empty
 * directory and out->missing. */
static int local_revision(revision *out, git_repository *repo, const char *rel, const char *rev,
                          const char *dest)
{
    git_object *obj = NULL, *commit = NULL;
    git_tree *root = NULL, *sub = NULL;
    git_tree_entry *ent = NULL;
    revision r = {0};
    int rc;

    if (git_revparse_single(&obj, repo, rev) != 0 ||
        git_object_peel(&commit, obj, GIT_OBJECT_COMMIT) != 0) {
        dsvm_error_set(DSVM_ERRCLASS_SOURCE,
                       "the repository at %s has no commit '%s' (%s); check the revision, and "
                       "in CI fetch the whole history (actions/checkout with fetch-depth: 0)",
                       git_repository_workdir(repo) ? git_repository_workdir(repo)
                                                    : git_repository_path(repo),
                       rev, git_msg());
        rc = DSVM_ENOTFOUND;
        goto out;
    }
    git_oid_tostr(r.commit, sizeof(r.commit), git_object_id(commit));
    if (git_commit_tree(&root, (git_commit *)commit) != 0) {
        dsvm_error_set(DSVM_ERRCLASS_SOURCE, "cannot read the tree of %s: %s", rev, git_msg());
        rc = DSVM_EIO;
        goto out;
    }
    if (*rel) {
        rc = git_tree_entry_bypath(&ent, root, rel);
        if (rc == GIT_ENOTFOUND) {
            r.missing = 1;
        } else if (rc != 0 || git_tree_entry_type(ent) != GIT_OBJECT_TREE ||
                   git_tree_lookup(&sub, repo, git_tree_entry_id(ent)) != 0) {
            dsvm_error_set(DSVM_ERRCLASS_SOURCE, "%s is not a directory at %s; check source.path",
                           rel, rev);
            rc = DSVM_EINVALID;
            goto out;
        }
    }
    if (r.missing) {
        rc = mkdir(dest, 0700) == 0 ? 0 : DSVM_EIO;
        if (rc < 0)
            dsvm_error_set(DSVM_ERRCLASS_OS, "cannot create %s: %s", dest, strerror(errno));
    } else {
        rc = write_tree(repo, sub ? sub : root, dest, 0);
    }
    if (rc < 0)
        goto out;
    r.dir = strdup(dest);
    if (!r.dir) {
        rc = dsvm_error_oom();
        goto out;
    }
    *out = r;
out:
    git_tree_entry_free(ent);
    git_tree_free(sub);
    git_tree_free(root);
    git_object_free(commit);
    git_object_free(obj);
    return rc;
}

/* Open the repository that holds `dir` and find the manifests' path in it:
 * `dir`'s own place, or source.path when `dir` is the top. */
static int local_open(git_repository **out_repo, char **out_rel, const char *dir,
                      const dsvm_config *cfg)
{
    git_repository *repo = NULL;
    char *abs = realpath(dir, NULL), *top = NULL;
    const char *work, *rel;
    size_t n;
    int rc = 0;

    if (!abs) {
        dsvm_error_set(DSVM_ERRCLASS_CONFIG, "--source %s: %s", dir, strerror(errno));
        return DSVM_ENOTFOUND;
    }
    if (git_repository_open_ext(&repo, abs, 0, NULL) != 0) {
        dsvm_error_set(DSVM_ERRCLASS_SOURCE,
                       "%s is not in a Git repository; --base and --head need a checkout with "
                       "both revisions",
                       dir);
        rc = DSVM_ENOTFOUND;
        goto out;
    }
    work = git_repository_workdir(repo);
    rel = "";
    if (work) {
        top = realpath(work, NULL);
        n = top ? strlen(top) : 0;
        if (top && strncmp(abs, top, n) == 0 && (abs[n] == '/' || !abs[n]))
            rel = abs[n] ? abs + n + 1 : "";
    }
    if (!*rel && cfg->source.path)
        rel = cfg->source.path;
    *out_rel = strdup(rel);
    if (!*out_rel) {
        rc = dsvm_error_oom();
        goto out;
    }
    *out_repo = repo;
    repo = NULL;
out:
    git_repository_free(repo);
    free(abs);
    free(top);
    return rc;
}

/* ---- remote sources ---------------------------------------------------- */

/* Both revisions of the configured (remote) source, through the cache that
 * plan and apply use. */
static int remote_revisions(revision *base, revision *head, const dsvm_config *cfg,
                            const dsvm_pr_plan_args *args, const char *tmp)
{
    dsvm_source_result res = {0};
    dsvm_source *src = NULL;
    char *dest = NULL;
    revision *which[2] = {base, head};
    const char *revs[2] = {args->base, args->head}, *names[2] = {"base", "head"};
    int rc = dsvm_cli_source_new(&src, cfg), i;

    for (i = 0; rc == 0 && i < 2; i++) {
        dest = join(tmp, names[i]);
        rc = dest ? dsvm_source_resolve(&res, src, revs[i], dest) : dsvm_error_oom();
        if (rc == 0) {
            memcpy(which[i]->commit, res.commit, sizeof(res.commit));
            which[i]->dir = dest;
            dest = NULL;
        }
        dsvm_source_result_clear(&res);
        free(dest);
        dest = NULL;
    }
    dsvm_source_free(src);
    return rc;
}

/* A local directory that is a Git repository (a checkout or a bare one). */
static int local_repository_url(const char *url)
{
    git_repository *repo = NULL;
    struct stat sb;
    int ok;

    if (strncmp(url, "file://", 7) == 0)
        url += 7;
    if (strstr(url, "://") || stat(url, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return 0;
    ok = git_repository_open_ext(&repo, url, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) == 0;
    git_repository_free(repo);
    return ok;
}

/* ---- the change between two revisions ---------------------------------- */

static json_t *strmap_json(const dsvm_strmap *m)
{
    json_t *o = json_object();
    size_t i;

    for (i = 0; o && i < m->n; i++)
        json_object_set_new(o, m->items[i].key, json_string(m->items[i].value));
    return o;
}

/* {"Kind/name": {"metadata": {...}, "spec": {...}}} of a loaded repository. */
static int objects_map(json_t **out, const dsvm_repo *repo)
{
    json_t *map = json_object();
    size_t i;

    if (!map)
        return dsvm_error_oom();
    for (i = 0; repo && i < dsvm_repo_count(repo); i++) {
        const dsvm_object *o = dsvm_repo_object(repo, i);
        json_t *spec = NULL, *j;
        char *key;
        size_t n = strlen(dsvm_kind_name(o->kind)) + strlen(o->name) + 2;

        if (dsvm_object_spec_json(&spec, o) < 0)
            goto oom;
        j = json_pack("{s:{s:s?,s:o,s:o},s:o}", "metadata", "resourceGroup", o->resource_group_name,
                      "labels", strmap_json(&o->labels), "annotations",
                      strmap_json(&o->annotations), "spec", spec);
        key = malloc(n);
        if (!j || !key) {
            json_decref(j);
            free(key);
            goto oom;
        }
        snprintf(key, n, "%s/%s", dsvm_kind_name(o->kind), o->name);
        json_object_set_new(map, key, j);
        free(key);
    }
    *out = map;
    return 0;
oom:
    json_decref(map);
    return dsvm_error_oom();
}

/* Append to `changes` each leaf path where `a` and `b` differ, as
 * {"path", "before", "after"}; absent values are JSON null. */
static int diff_json(json_t *changes, const char *path, json_t *a, json_t *b)
{
    const char *key;
    json_t *v;
    size_t i;
    int rc = 0;

    if (a && b && json_equal(a, b))
        return 0;
    if (json_is_object(a) && json_is_object(b)) {
        json_object_foreach(a, key, v)
        {
            char *p = field(path, key);

            rc = p ? diff_json(changes, p, v, json_object_get(b, key)) : dsvm_error_oom();
            free(p);
            if (rc < 0)
                return rc;
        }
        json_object_foreach(b, key, v)
        {
            char *p;

            if (json_object_get(a, key))
                continue;
            p = field(path, key);
            rc = p ? diff_json(changes, p, NULL, v) : dsvm_error_oom();
            free(p);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    if (json_is_array(a) && json_is_array(b) && json_array_size(a) == json_array_size(b)) {
        for (i = 0; i < json_array_size(a); i++) {
            char idx[24], *p;

            snprintf(idx, sizeof(idx), "%zu", i);
            p = field(path, idx);
            rc = p ? diff_json(changes, p, json_array_get(a, i), json_array_get(b, i))
                   : dsvm_error_oom();
            free(p);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    v = json_pack("{s:s,s:O,s:O}", "path", path, "before", a ? a : json_null(), "after",
                  b ? b : json_null());
    if (!v || json_array_append_new(changes, v) < 0)
        return dsvm_error_oom();
    return 0;
}

/* Compare two object maps: [{"change": "added|removed|modified", "object",
 * "fields": [...]}], sorted by object. */
static int object_changes(json_t **out, json_t *base, json_t *head)
{
    json_t *list = json_array(), *v;
    const char *key;
    int rc = 0;

    if (!list)
        return dsvm_error_oom();
    json_object_foreach(head, key, v)
    {
        json_t *was = json_object_get(base, key), *fields = json_array(), *c;

        if (!fields)
            rc = dsvm_error_oom();
        if (rc == 0 && was)
            rc = diff_json(fields, "", was, v);
        if (rc == 0 && (!was || json_array_size(fields) > 0)) {
            c = json_pack("{s:s,s:s,s:O}", "change", was ? "modified" : "added", "object", key,
                          "fields", fields);
            rc = c && json_array_append_new(list, c) == 0 ? 0 : dsvm_error_oom();
        }
        json_decref(fields);
        if (rc < 0)
            break;
    }
    json_object_foreach(base, key, v)
    {
        json_t *c;

        if (rc < 0 || json_object_get(head, key))
            continue;
        c = json_pack("{s:s,s:s,s:[]}", "change", "removed", "object", key, "fields");
        rc = c && json_array_append_new(list, c) == 0 ? 0 : dsvm_error_oom();
    }
    if (rc < 0) {
        json_decref(list);
        return rc;
    }
    *out = list;
    return 0;
}

/* A Markdown table cell: no pipes, backticks or line breaks. */
static void md_text(FILE *f, const char *s, size_t max)
{
    size_t i;

    for (i = 0; s[i] && i < max; i++) {
        if (s[i] == '|')
            fputs("\\|", f);
        else if (s[i] == '`')
            fputc('\'', f);
        else if (s[i] == '\n' || s[i] == '\r')
            fputc(' ', f);
        else
            fputc(s[i], f);
    }
    if (s[i])
        fputs("\u2026", f);
}

static void md_value(FILE *f, const json_t *v)
{
    char *text = json_is_null(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

    if (!text) {
        fputs("(absent)", f);
        return;
    }
    fputc('`', f);
    md_text(f, text, MAX_VALUE_CHARS);
    fputc('`', f);
    free(text);
}

/* " (main)" after a commit named by a ref or an expression; nothing when
 * the name is the commit itself (CI passes SHAs). */
static void rev_name(FILE *f, const char *rev, const char *commit)
{
    size_t n = strlen(rev);

    if (n >= 4 && n <= 40 && strspn(rev, "0123456789abcdefABCDEF") == n &&
        strncasecmp(rev, commit, n) == 0)
        return;
    fputs(" (", f);
    md_text(f, rev, 100);
    fputc(')', f);
}

static void render_changes(FILE *f, const json_t *changes, const revision *base,
                           const revision *head, const dsvm_pr_plan_args *args)
{
    static const struct {
        const char *change, *label;
    } labels[] = {{"added", "\u2795 added"},
                  {"modified", "\u270f\ufe0f modified"},
                  {"removed", "\u274c removed"}};
    size_t i, j, k;
    json_t *c, *fd;

    fprintf(f, "## dsvmops pull-request plan\n\n");
    fprintf(f, "Base `%.12s`", base->commit);
    rev_name(f, args->base, base->commit);
    fprintf(f, " \u2192 head `%.12s`", head->commit);
    rev_name(f, args->head, head->commit);
    fputs("\n\n", f);
    fputs("### Desired-state changes\n\n", f);
    if (base->missing)
        fputs("The manifest directory is new in this change.\n\n", f);
    if (json_array_size(changes) == 0) {
        fputs("No manifest object changed between base and head.\n\n", f);
        return;
    }
    fputs("| Change | Object | Fields |\n|---|---|---|\n", f);
    for (k = 0; k < sizeof(labels) / sizeof(labels[0]); k++) {
        json_array_foreach(changes, i, c)
        {
            const json_t *fields = json_object_get(c, "fields");

            if (strcmp(json_string_value(json_object_get(c, "change")), labels[k].change) != 0)
                continue;
            fprintf(f, "| %s | `", labels[k].label);
            md_text(f, json_string_value(json_object_get(c, "object")), 200);
            fputs("` | ", f);
            json_array_foreach(fields, j, fd)
            {
                if (j == MAX_FIELDS_SHOWN) {
                    fprintf(f, "<br>\u2026 and %zu more", json_array_size(fields) - j);
                    break;
                }
                fputs(j ? "<br>`" : "`", f);
                md_text(f, json_string_value(json_object_get(fd, "path")), 200);
                fputs("`: ", f);
                md_value(f, json_object_get(fd, "before"));
                fputs(" \u2192 ", f);
                md_value(f, json_object_get(fd, "after"));
            }
            fputs(" |\n", f);
        }
    }
    fputc('\n', f);
}

/* ---- the command ------------------------------------------------------- */

/* Remove `path` and everything below it (only what this file wrote:
 * directories and regular files; links are removed, never followed). */
static void remove_tree(const char *path)
{
    struct stat sb;
    struct dirent *d;
    DIR *dir;

    if (lstat(path, &sb) != 0)
        return;
    if (!S_ISDIR(sb.st_mode)) {
        unlink(path);
        return;
    }
    dir = opendir(path);
    for (;;) {
        char *child;

        d = dir ? readdir(dir) : NULL;
        if (!d)
            break;
        if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
            continue;
        child = join(path, d->d_name);
        if (child)
            remove_tree(child);
        free(child);
    }
    if (dir)
        closedir(dir);
    rmdir(path);
}

/* Print diagnostics as dsvm_cli_print_diags() does, with the temporary
 * directory `dir` replaced by the manifests' path in the repository `rel`
 * (NULL for a remote source: the path from source.path is then unknown
 * here), so that messages name files as the pull request shows them. */
static void print_diags(const dsvm_diags *diags, const char *dir, const char *rel)
{
    size_t i, n = dsvm_diags_count(diags), total = dsvm_diags_errors(diags), len = strlen(dir);

    for (i = 0; i < n; i++) {
        char *line = NULL;

        if (dsvm_diag_format(&line, dsvm_diags_get(diags, i)) == 0) {
            if (rel && strncmp(line, dir, len) == 0 && line[len] == '/')
                fprintf(stderr, "%s%s%s\n", rel, *rel ? "/" : "", line + len + 1);
            else
                fprintf(stderr, "%s\n", line);
        }
        free(line);
    }
    if (total > n)
        fprintf(stderr, "dsvmops plan: %zu more errors not shown\n", total - n);
}

/* Load a revision's manifests; `diags` gets any errors. */
static int load_repo(dsvm_repo **out, const revision *r, dsvm_diags **diags)
{
    int rc = dsvm_diags_new(diags);

    if (rc == 0)
        rc = dsvm_repo_load(out, r->dir, NULL, *diags);
    return rc;
}

int dsvm_pr_plan_run(const dsvm_cli_target *target, dsvm_reconcile_opts *opts,
                     const dsvm_pr_plan_args *args)
{
    extern char **environ;
    const char *tmpdir = getenv("TMPDIR");
    dsvm_cli_target head_target = *target;
    dsvm_config *cfg = NULL, *cfg2 = NULL;
    dsvm_engine *e = NULL;
    dsvm_plan *plan = NULL;
    git_repository *repo = NULL;
    dsvm_repo *base_repo = NULL, *head_repo = NULL;
    dsvm_diags *base_diags = NULL, *head_diags = NULL;
    json_t *base_map = NULL, *head_map = NULL, *changes = NULL;
    revision base = {0}, head = {0};
    char *tmp = NULL, *rel = NULL, *dest = NULL, *md = NULL, *title = NULL, *out_text = NULL;
    size_t out_len = 0;
    int code = DSVM_EXIT_ERROR, rc, git_inited = 0;
    FILE *f;

    if (!target->config_path) {
        dsvm_cli_error("plan", "-c CONFIG is required (e.g. -c dsvmops.yaml)");
        return DSVM_EXIT_ERROR;
    }
    if (dsvm_config_load(&cfg, target->config_path, environ) < 0)
        return dsvm_cli_fail("plan");
    if (git_libgit2_init() < 0) {
        dsvm_error_set(DSVM_ERRCLASS_SOURCE, "cannot initialise libgit2: %s", git_msg());
        goto fail;
    }
    git_inited = 1;
    tmp = join(tmpdir && *tmpdir ? tmpdir : "/tmp", "dsvmops-pr.XXXXXX");
    if (!tmp || !mkdtemp(tmp)) {
        dsvm_error_set(DSVM_ERRCLASS_OS, "cannot create a temporary directory: %s; check TMPDIR",
                       strerror(errno));
        free(tmp);
        tmp = NULL;
        goto fail;
    }

    /* 1. both revisions, as directories */
    if (target->source_dir || (cfg->source.url && local_repository_url(cfg->source.url))) {
        const char *where = target->source_dir ? target->source_dir : cfg->source.url;

        if (strncmp(where, "file://", 7) == 0)
            where += 7;
        rc = local_open(&repo, &rel, where, cfg);
        if (rc == 0) {
            dest = join(tmp, "base");
            rc = dest ? local_revision(&base, repo, rel, args->base, dest) : dsvm_error_oom();
            free(dest);
        }
        if (rc == 0) {
            dest = join(tmp, "head");
            rc = dest ? local_revision(&head, repo, rel, args->head, dest) : dsvm_error_oom();
            free(dest);
        }
        dest = NULL;
    } else if (cfg->source.url) {
        rc = remote_revisions(&base, &head, cfg, args, tmp);
    } else {
        dsvm_error_set(DSVM_ERRCLASS_CONFIG,
                       "%s has no source.url; pass --source DIR with a Git checkout", cfg->path);
        rc = DSVM_EINVALID;
    }
    if (rc < 0)
        goto fail;
    if (head.missing) {
        dsvm_error_set(DSVM_ERRCLASS_CONFIG, "%s does not exist at %s (%.12s); check source.path",
                       rel ? rel : "the manifest path", args->head, head.commit);
        goto fail;
    }

    /* 2. what changed in the manifests */
    rc = load_repo(&head_repo, &head, &head_diags);
    if (rc < 0 && head_diags && dsvm_diags_count(head_diags) > 0) {
        print_diags(head_diags, head.dir, rel);
        dsvm_cli_error("plan", "the manifests at %s (%.12s) have errors; nothing was planned",
                       args->head, head.commit);
        goto out;
    }
    if (rc < 0)
        goto fail;
    if (load_repo(&base_repo, &base, &base_diags) < 0) {
        /* a base that does not load compares as empty: the change fixes it */
        dsvm_repo_free(base_repo);
        base_repo = NULL;
    }
    if (objects_map(&base_map, base_repo) < 0 || objects_map(&head_map, head_repo) < 0 ||
        object_changes(&changes, base_map, head_map) < 0)
        goto fail;

    /* 3. what head does to live Azure */
    head_target.source_dir = head.dir;
    opts->commit = head.commit;
    code = dsvm_cli_engine_open(&cfg2, &e, "plan", &head_target, opts, 1);
    opts->commit = NULL;
    if (code != 0)
        goto out;
    code = DSVM_EXIT_ERROR;
    if (dsvm_engine_observe(e) < 0 || dsvm_engine_plan(e, &plan) < 0)
        goto fail;
    title = malloc(64);
    if (!title) {
        dsvm_error_oom();
        goto fail;
    }
    snprintf(title, 64, "effect of head %.12s on live Azure", head.commit);
    if (dsvm_plan_render_markdown(&md, plan, title) < 0)
        goto fail;

    /* 4. the comment */
    f = open_memstream(&out_text, &out_len);
    if (!f) {
        dsvm_error_oom();
        goto fail;
    }
    render_changes(f, changes, &base, &head, args);
    if (!base_repo)
        fprintf(f,
                "> **warning:** the manifests at base %.12s do not load; every object is "
                "listed as added.\n\n",
                base.commit);
    fputs(md, f);
    if (fclose(f) != 0 || !out_text) {
        dsvm_error_oom();
        goto fail;
    }
    f = args->output ? fopen(args->output, "w") : stdout;
    if (!f) {
        dsvm_cli_error("plan", "cannot write %s: %s", args->output, strerror(errno));
        goto out;
    }
    fputs(out_text, f);
    if (args->output && fclose(f) != 0) {
        dsvm_cli_error("plan", "cannot write %s", args->output);
        goto out;
    }
    code = args->detailed && dsvm_plan_changes(plan) > 0 ? DSVM_EXIT_CHANGES : DSVM_EXIT_OK;
    goto out;
fail:
    dsvm_cli_fail("plan");
    code = DSVM_EXIT_ERROR;
out:
    free(out_text);
    free(md);
    free(title);
    dsvm_plan_free(plan);
    dsvm_engine_free(e);
    dsvm_config_free(cfg2);
    json_decref(changes);
    json_decref(base_map);
    json_decref(head_map);
    dsvm_repo_free(base_repo);
    dsvm_repo_free(head_repo);
    dsvm_diags_free(base_diags);
    dsvm_diags_free(head_diags);
    revision_clear(&base);
    revision_clear(&head);
    git_repository_free(repo);
    if (git_inited)
        git_libgit2_shutdown();
    if (tmp)
        remove_tree(tmp);
    free(tmp);
    free(rel);
    dsvm_config_free(cfg);
    return code;
}
