/*
 * Loading a manifest directory: find the files (walk), read them within the
 * limits, parse every document against its kind's table (parse.c), then
 * index names, resolve references, look for cycles and run the cross-field
 * rules (rules.c). Diagnostics are collected throughout and sorted at the
 * end; the repository is handed out only when there are none.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dsvmops/error.h"
#include "internal.h"

struct dsvm_repo {
    arena keep;
    obj_ext **objs;
    size_t n, cap;
    json_t *index[DSVM_KIND_COUNT]; /* name -> position in objs */
    obj_ext **by_kind[DSVM_KIND_COUNT];
    size_t n_kind[DSVM_KIND_COUNT];
    size_t n_files;
    json_t *owned; /* JSON values the typed specs point into */
};

void dsvm_limits_init(dsvm_limits *out)
{
    out->max_file_bytes = 8u << 20;
    out->max_total_bytes = 256u << 20;
    out->max_files = 100000;
    out->max_documents = 100000;
    out->max_depth = 64;
    out->max_scalar_bytes = 1u << 20;
    out->max_alias_nodes = 10000;
    out->max_document_nodes = 1000000;
    out->max_diags = 1000;
    out->parse_threads = 0;
}

/* ---- finding the files ------------------------------------------------------ */

typedef struct {
    char *rel;   /* path relative to the root */
    char *error; /* a problem found while walking, reported for this path */
    uint64_t size;
} file_entry;

typedef struct {
    const char *root; /* as given */
    char *root_real;  /* realpath of the root */
    const dsvm_limits *lim;
    file_entry *files;
    size_t n, cap;
    json_t *visited; /* "dev:ino" of directories walked */
    bool too_many;
} walker;

static bool has_yaml_ext(const char *name)
{
    size_t n = strlen(name);

    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

/* The controller's own configuration (DESIGN.md section 4) is not a manifest. */
static bool is_controller_config(const char *name)
{
    return strcmp(name, "dsvmops.yaml") == 0 || strcmp(name, "dsvmops.yml") == 0;
}

static char *join_path(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s;

    while (la > 1 && a[la - 1] == '/')
        la--;
    s = malloc(la + lb + 2);
    if (!s)
        return NULL;
    memcpy(s, a, la);
    s[la] = '/';
    memcpy(s + la + 1, b, lb + 1);
    return s;
}

static int add_file(walker *w, const char *rel, const char *error, uint64_t size)
{
    file_entry *e;

    if (w->n >= w->lim->max_files) {
        w->too_many = true;
        return 0;
    }
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        file_entry *f = realloc(w->files, cap * sizeof(*f));

        if (!f)
            return -1;
        w->files = f;
        w->cap = cap;
    }
    e = &w->files[w->n];
    e->rel = strdup(rel);
    e->error = error ? strdup(error) : NULL;
    e->size = size;
    if (!e->rel || (error && !e->error)) {
        free(e->rel);
        free(e->error);
        return -1;
    }
    w->n++;
    return 0;
}

static bool under_root(const walker *w, const char *real)
{
    size_t n = strlen(w->root_real);

    if (strcmp(w->root_real, "/") == 0)
        return true;
    return strncmp(real, w->root_real, n) == 0 && (real[n] == '/' || real[n] == '\0');
}

/* Remember a directory; returns 1 when it was walked already. */
static int visit(walker *w, const struct stat *st)
{
    char key[64];

    snprintf(key, sizeof(key), "%llu:%llu", (unsigned long long)st->st_dev,
             (unsigned long long)st->st_ino);
    if (json_object_get(w->visited, key))
        return 1;
    return json_object_set_new(w->visited, key, json_true()) == 0 ? 0 : -1;
}

static int walk_dir(walker *w, const char *rel, unsigned depth);

static int walk_entry(walker *w, const char *rel, const char *name, unsigned depth)
{
    char *full = join_path(w->root, rel);
    struct stat st;
    int rc = 0;

    if (!full)
        return -1;
    if (lstat(full, &st) != 0)
        goto out;
    if (S_ISLNK(st.st_mode)) {
        char *real = realpath(full, NULL);

        if (!real) {
            if (has_yaml_ext(name))
                rc = add_file(w, rel, "symbolic link whose target does not exist", 0);
            goto out;
        }
        if (!under_root(w, real)) {
            char *msg = malloc(strlen(real) + 64);

            if (!msg) {
                free(real);
                rc = -1;
                goto out;
            }
            sprintf(msg, "symbolic link leaves the manifest directory (to %s)", real);
            rc = add_file(w, rel, msg, 0);
            free(msg);
            free(real);
            goto out;
        }
        free(real);
        if (stat(full, &st) != 0)
            goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        int v = visit(w, &st);

        if (v < 0)
            rc = -1;
        else if (v == 0)
            rc = walk_dir(w, rel, depth + 1);
    } else if (has_yaml_ext(name) && !is_controller_config(name)) {
        rc = add_file(w, rel, S_ISREG(st.st_mode) ? NULL : "not a regular file",
                      (uint64_t)st.st_size);
    }
out:
    free(full);
    return rc;
}

static int walk_dir(walker *w, const char *rel, unsigned depth)
{
    char *full = rel[0] ? join_path(w->root, rel) : strdup(w->root);
    struct dirent *de;
    DIR *d;
    int rc = 0;

    if (!full)
        return -1;
    if (depth > 256) {
        free(full);
        return add_file(w, rel, "directories nested too deeply", 0);
    }
    d = opendir(full);
    free(full);
    if (!d)
        return rel[0] ? add_file(w, rel, "directory cannot be read", 0) : DSVM_EIO;
    while (rc == 0 && !w->too_many) {
        char *child;

        errno = 0;
        de = readdir(d);
        if (!de)
            break;
        if (de->d_name[0] == '.')
            continue;
        child = rel[0] ? join_path(rel, de->d_name) : strdup(de->d_name);
        if (!child) {
            rc = -1;
            break;
        }
        rc = walk_entry(w, child, de->d_name, depth);
        free(child);
    }
    closedir(d);
    return rc;
}

static int cmp_files(const void *a, const void *b)
{
    return strcmp(((const file_entry *)a)->rel, ((const file_entry *)b)->rel);
}

static void free_walker(walker *w)
{
    size_t i;

    for (i = 0; i < w->n; i++) {
        free(w->files[i].rel);
        free(w->files[i].error);
    }
    free(w->files);
    free(w->root_real);
    json_decref(w->visited);
}

/* ---- reading and parsing files ------------------------------------------------ */

static void offset_to_pos(const char *buf, size_t off, uint32_t *line, uint32_t *col)
{
    uint32_t l = 1, c = 1;
    size_t i;

    for (i = 0; i < off; i++) {
        if (buf[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)buf[i] & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

/* Read a whole file of at most `max` bytes. Returns 0, 1 (reported), -1 OOM. */
static int read_file(load_ctx *c, const char *path, char **out, size_t *len_out, size_t max)
{
    struct stat st;
    char *buf = NULL;
    size_t len = 0, cap;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        diags_add(c->diags, c->file_id, 0, 0, NULL, "cannot open: %s", strerror(errno));
        return 1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        diags_add(c->diags, c->file_id, 0, 0, NULL, "not a regular file");
        close(fd);
        return 1;
    }
    if ((uint64_t)st.st_size > max) {
        diags_add(c->diags, c->file_id, 0, 0, "split it into smaller files",
                  "file is %llu bytes, more than the limit of %zu bytes",
                  (unsigned long long)st.st_size, max);
        close(fd);
        c->limit_hit = true;
        return 1;
    }
    cap = (size_t)st.st_size + 1;
    buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        return -1;
    }
    for (;;) {
        ssize_t r = read(fd, buf + len, cap - len);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            diags_add(c->diags, c->file_id, 0, 0, NULL, "cannot read: %s", strerror(errno));
            free(buf);
            close(fd);
            return 1;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > max) {
            diags_add(c->diags, c->file_id, 0, 0, "split it into smaller files",
                      "file is more than the limit of %zu bytes", max);
            free(buf);
            close(fd);
            c->limit_hit = true;
            return 1;
        }
        if (len == cap) {
            char *nb;

            cap *= 2;
            nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                close(fd);
                return -1;
            }
            buf = nb;
        }
    }
    close(fd);
    buf[len] = '\0';
    *out = buf;
    *len_out = len;
    return 0;
}

/* What the parse phase found in one file: node trees and early problems. */
typedef struct {
    dsvm_diags *diags; /* reading and YAML problems, file id 0 */
    const ynode **roots;
    size_t n_roots, cap_roots;
    size_t n_docs; /* documents, empty ones included */
    bool limit_hit;
    int rc; /* -1 when out of memory */
} file_result;

static int collect_doc(load_ctx *c, const ynode *root, void *payload)
{
    file_result *fr = payload;

    (void)c;
    if (fr->n_roots == fr->cap_roots) {
        size_t cap = fr->cap_roots ? fr->cap_roots * 2 : 16;
        const ynode **p = realloc(fr->roots, cap * sizeof(*p));

        if (!p)
            return -1;
        fr->roots = p;
        fr->cap_roots = cap;
    }
    fr->roots[fr->n_roots++] = root;
    return 0;
}

/*
 * Read one file, check it (size, NUL bytes, UTF-8) and parse it into node
 * trees allocated from `nodes`. Safe to run on several files at once: it
 * touches only `fr` and `nodes`.
 */
static void parse_file(const dsvm_limits *lim, arena *nodes, const char *path, file_result *fr)
{
    size_t len = 0, bad;
    char *buf = NULL;
    const char *nul;
    load_ctx c;
    int rc;

    memset(&c, 0, sizeof(c));
    if (dsvm_diags_new(&fr->diags) < 0 || diags_add_file(fr->diags, path) < 0) {
        fr->rc = -1;
        return;
    }
    diags_set_max(fr->diags, lim->max_diags);
    c.limits = lim;
    c.diags = fr->diags;
    c.keep = nodes;
    rc = read_file(&c, path, &buf, &len, lim->max_file_bytes);
    if (rc) {
        fr->rc = rc < 0 ? -1 : 0;
        fr->limit_hit = c.limit_hit;
        return;
    }
    nul = memchr(buf, '\0', len);
    if (nul) {
        uint32_t line, col;

        offset_to_pos(buf, (size_t)(nul - buf), &line, &col);
        diags_add(c.diags, 0, line, col, "manifests are UTF-8 text", "NUL byte in file");
    } else if (!text_is_utf8(buf, len, &bad)) {
        uint32_t line, col;

        offset_to_pos(buf, bad, &line, &col);
        diags_add(c.diags, 0, line, col, "manifests are UTF-8 text", "invalid UTF-8 (byte 0x%02x)",
                  (unsigned char)buf[bad]);
    } else {
        rc = yaml_parse_buffer(&c, nodes, buf, len, &fr->n_docs, collect_doc, fr);
        if (rc < 0)
            fr->rc = -1;
    }
    free(buf);
    fr->limit_hit = c.limit_hit || fr->n_docs > lim->max_documents;
}

typedef struct {
    const dsvm_limits *lim;
    const file_entry *files;
    char *const *paths;
    file_result *res;
    size_t n;
    atomic_size_t next;
} parse_job;

typedef struct {
    parse_job *job;
    arena nodes;
    pthread_t thread;
} parse_worker;

static void *parse_worker_run(void *arg)
{
    parse_worker *wk = arg;
    parse_job *job = wk->job;

    for (;;) {
        size_t i = atomic_fetch_add(&job->next, 1);

        if (i >= job->n)
            break;
        if (!job->files[i].error && job->paths[i])
            parse_file(job->lim, &wk->nodes, job->paths[i], &job->res[i]);
    }
    return NULL;
}

/*
 * Parse files [0, n) on up to `threads` threads (the calling one included).
 * Files are independent until their documents are checked, which happens
 * afterwards, in file order, on the calling thread; so the result does not
 * depend on the thread count. The workers' node arenas move into `keep`.
 */
static int parse_files(const dsvm_limits *lim, const file_entry *files, char *const *paths,
                       file_result *res, size_t n, arena *keep)
{
    parse_worker wk[DSVM_MAX_PARSE_THREADS];
    bool started[DSVM_MAX_PARSE_THREADS] = {false};
    parse_job job;
    unsigned t, threads = lim->parse_threads;

    if (threads == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);

        threads = cpus > 0 ? (unsigned)cpus : 1;
    }
    if (threads > DSVM_MAX_PARSE_THREADS)
        threads = DSVM_MAX_PARSE_THREADS;
    if (threads > n)
        threads = n ? (unsigned)n : 1;
    job.lim = lim;
    job.files = files;
    job.paths = paths;
    job.res = res;
    job.n = n;
    atomic_init(&job.next, 0);
    for (t = 0; t < threads; t++) {
        wk[t].job = &job;
        arena_init(&wk[t].nodes);
    }
    for (t = 1; t < threads; t++)
        started[t] = pthread_create(&wk[t].thread, NULL, parse_worker_run, &wk[t]) == 0;
    parse_worker_run(&wk[0]);
    for (t = 0; t < threads; t++) {
        if (started[t])
            pthread_join(wk[t].thread, NULL);
        arena_adopt(keep, &wk[t].nodes);
    }
    return 0;
}

static int on_doc(load_ctx *c, const ynode *root, void *payload);

/* ---- documents ----------------------------------------------------------------- */

static const char *const top_keys[] = {"apiVersion", "kind", "metadata", "spec", NULL};

static void do_annotations(load_ctx *c, obj_ext *o)
{
    const ynode *ann = obj_node(o, "metadata.annotations");
    static const char *const known[] = {"dsvmops.io/drift", "dsvmops.io/ignore-fields",
                                        "dsvmops.io/suspend"};
    static const char *const drift[] = {"heal", "alert", "ignore", NULL};
    size_t i;

    o->pub.drift = DSVM_UNSET;
    for (i = 0; i < o->pub.annotations.n; i++) {
        const char *k = o->pub.annotations.items[i].key;
        const char *v = o->pub.annotations.items[i].value;
        const ynode *kn = NULL, *vn = ynode_get(ann, k, &kn);

        if (strncmp(k, "dsvmops.io/", 11) != 0)
            continue;
        if (strcmp(k, known[0]) == 0) {
            int d;

            for (d = 0; drift[d]; d++)
                if (strcmp(drift[d], v) == 0)
                    o->pub.drift = d;
            if (o->pub.drift == DSVM_UNSET)
                ctx_error(c, vn, NULL,
                          "invalid value \"%s\" for annotation %s: must be one of heal, alert, "
                          "ignore",
                          v, k);
        } else if (strcmp(k, known[1]) == 0) {
            size_t n = 1, j = 0;
            const char *p;
            const char **items;

            for (p = v; *p; p++)
                n += *p == ',';
            items = arena_alloc(c->keep, n * sizeof(*items));
            if (!items)
                return;
            for (p = v;;) {
                const char *e = strchr(p, ',');
                size_t len = e ? (size_t)(e - p) : strlen(p);

                while (len && (*p == ' ' || *p == '\t')) {
                    p++;
                    len--;
                }
                while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
                    len--;
                if (len == 0 || memchr(p, ' ', len)) {
                    ctx_error(c, vn,
                              "write field paths separated by commas, e.g. "
                              "\"spec.capacity,tags.costCenter\"",
                              "invalid value \"%s\" for annotation %s", v, k);
                    break;
                }
                items[j++] = arena_strndup(c->keep, p, len);
                if (!e)
                    break;
                p = e + 1;
            }
            o->pub.ignore_fields.items = items;
            o->pub.ignore_fields.n = j;
        } else if (strcmp(k, known[2]) == 0) {
            if (strcmp(v, "true") == 0)
                o->pub.suspend = true;
            else if (strcmp(v, "false") != 0)
                ctx_error(c, vn, NULL,
                          "invalid value \"%s\" for annotation %s: must be \"true\" or \"false\"",
                          v, k);
        } else {
            const char *best = text_suggest(k, known, 3);

            ctx_error(c, kn, best ? arena_printf(c->keep, "did you mean \"%s\"?", best) : NULL,
                      "unknown annotation \"%s\"", k);
        }
    }
}

static int push_obj(dsvm_repo *r, obj_ext *o)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 256;
        obj_ext **p = realloc(r->objs, cap * sizeof(*p));

        if (!p)
            return -1;
        r->objs = p;
        r->cap = cap;
    }
    r->objs[r->n++] = o;
    return 0;
}

/*
 * One document: check the envelope (apiVersion, kind, metadata, spec), parse
 * metadata and spec against the kind's tables and keep the object. Returns
 * 0 (problems are diagnostics) or -1 when out of memory.
 */
static int on_doc(load_ctx *c, const ynode *root, void *payload)
{
    dsvm_repo *r = payload;
    const ynode *node[4] = {NULL, NULL, NULL, NULL}, *keyn[4] = {NULL, NULL, NULL, NULL};
    size_t errors_before = dsvm_diags_errors(c->diags);
    const kind_desc *kd;
    dsvm_kind kind;
    obj_ext *o;
    size_t i;
    int rc;

    c->kind_name = NULL;
    c->depth = 0;
    if (root->type != YN_MAP) {
        ctx_error(c, root, NULL,
                  "a manifest must be a mapping with apiVersion, kind, metadata and spec, not %s",
                  ynode_type_name(root));
        return 0;
    }
    for (i = 0; i < root->n; i++) {
        const ynode *k = root->kids[2 * i];
        int t;

        if (k->type != YN_SCALAR) {
            ctx_error(c, k, NULL, "mapping keys must be strings");
            continue;
        }
        for (t = 0; t < 4; t++)
            if (strcmp(k->s, top_keys[t]) == 0)
                break;
        if (t == 4) {
            const char *best = text_suggest(k->s, top_keys, 4);

            ctx_error(c, k, best ? arena_printf(c->keep, "did you mean \"%s\"?", best) : NULL,
                      "unknown top-level field \"%s\"", k->s);
            check_literal_secrets(c, k->s, k, root->kids[2 * i + 1]);
        } else if (node[t]) {
            ctx_error(c, k, NULL, "duplicate field \"%s\"", k->s);
        } else {
            node[t] = root->kids[2 * i + 1];
            keyn[t] = k;
        }
    }
    if (!node[0] || ynode_is_null(node[0]))
        ctx_error(c, root, "add \"apiVersion: " DSVM_API_VERSION "\"",
                  "missing required field \"apiVersion\"");
    else if (node[0]->type != YN_SCALAR || strcmp(node[0]->s, DSVM_API_VERSION) != 0)
        ctx_error(c, node[0], "use \"" DSVM_API_VERSION "\"", "unsupported apiVersion \"%s\"",
                  node[0]->type == YN_SCALAR ? node[0]->s : ynode_type_name(node[0]));
    if (!node[1] || ynode_is_null(node[1])) {
        ctx_error(c, root, NULL, "missing required field \"kind\"");
        return 0;
    }
    if (node[1]->type != YN_SCALAR || dsvm_kind_lookup(&kind, node[1]->s) != 0) {
        const char *s = node[1]->type == YN_SCALAR ? node[1]->s : "";
        const char *best = text_suggest(s, dsvm_kind_names(), DSVM_KIND_COUNT);

        ctx_error(c, node[1],
                  best ? arena_printf(c->keep, "did you mean \"%s\"?", best)
                       : "kinds: ResourceGroup, Identity, KeyVault, SharedStorage, DomainJoin, "
                         "Pool, RoleAssignment, PolicyAssignment, Monitoring, Network",
                  "unknown kind \"%s\"", node[1]->type == YN_SCALAR ? s : ynode_type_name(node[1]));
        return 0;
    }
    kd = &dsvm_kinds[kind];
    c->kind_name = kd->name;

    o = arena_alloc(c->keep, sizeof(*o));
    if (!o)
        return -1;
    o->pub.kind = kind;
    o->root = root;
    o->file_id = c->file_id;
    o->pub.pos.file = c->file;
    o->pub.pos.line = root->line;
    o->pub.pos.col = root->col;
    c->obj = o;

    /* metadata */
    if (!node[2] || ynode_is_null(node[2])) {
        ctx_error(c, root, NULL, "missing required field \"metadata\" in %s", kd->name);
    } else if (node[2]->type != YN_MAP) {
        ctx_error(c, node[2], NULL, "wrong type for %s.metadata: expected a mapping, got %s",
                  kd->name, ynode_type_name(node[2]));
    } else {
        c->seg[0] = "metadata";
        c->idx[0] = -1;
        c->depth = 1;
        rc = parse_object(c, node[2], keyn[2], &dsvm_metadata_desc, &o->pub, NULL);
        c->depth = 0;
        if (rc < 0)
            return -1;
    }
    if (o->pub.name && !dsvm_name_rules[kd->name_rule].check(o->pub.name))
        ctx_error(c, ynode_get(node[2], "name", NULL), NULL, "invalid %s name \"%s\": %s", kd->name,
                  o->pub.name, dsvm_name_rules[kd->name_rule].text);
    if (node[2] && node[2]->type == YN_MAP) {
        if (kd->rg_rule == RG_FORBIDDEN && o->pub.resource_group_name) {
            const ynode *k = NULL;

            ynode_get(node[2], "resourceGroup", &k);
            ctx_error(c, k, NULL, "%s takes no metadata.resourceGroup", kd->name);
        } else if (kd->rg_rule == RG_REQUIRED && !o->pub.resource_group_name &&
                   !ynode_get(node[2], "resourceGroup", NULL)) {
            ctx_error(c, keyn[2], NULL, "missing required field \"resourceGroup\" in %s.metadata",
                      kd->name);
        }
    }
    do_annotations(c, o);

    /* spec */
    o->pub.spec.any = arena_alloc(c->keep, kd->spec->size);
    if (!o->pub.spec.any)
        return -1;
    c->seg[0] = "spec";
    c->idx[0] = -1;
    c->depth = 1;
    if (!node[3] || ynode_is_null(node[3])) {
        static const ynode empty = {.type = YN_MAP};

        if (kd->spec_required) {
            /* one error, rather than one per required field */
            ctx_error(c, keyn[3] ? keyn[3] : root, NULL, "missing required field \"spec\" in %s",
                      kd->name);
            rc = 0;
        } else {
            rc = parse_object(c, &empty, root, kd->spec, o->pub.spec.any, NULL);
        }
    } else if (node[3]->type != YN_MAP) {
        ctx_error(c, node[3], NULL, "wrong type for %s.spec: expected a mapping, got %s", kd->name,
                  ynode_type_name(node[3]));
        rc = 0;
    } else {
        rc = parse_object(c, node[3], keyn[3], kd->spec, o->pub.spec.any, NULL);
    }
    c->depth = 0;
    if (rc < 0)
        return -1;
    o->has_errors = dsvm_diags_errors(c->diags) != errors_before;
    if (!o->pub.name)
        return 0;
    return push_obj(r, o);
}

/* ---- after all files: names, references, cycles, rules ------------------------- */

static obj_ext *find_obj(const dsvm_repo *r, dsvm_kind kind, const char *name)
{
    json_t *v = json_object_get(r->index[kind], name);

    return v ? r->objs[json_integer_value(v)] : NULL;
}

/* A "did you mean" hint among the names of one kind (skipped for huge kinds). */
static const char *suggest_name(load_ctx *c, const dsvm_repo *r, dsvm_kind kind, const char *name)
{
    const char **names;
    const char *best;
    size_t i, n = r->n_kind[kind];

    if (n == 0 || n > 5000 || dsvm_diags_count(c->diags) >= c->limits->max_diags)
        return NULL;
    names = malloc(n * sizeof(*names));
    if (!names)
        return NULL;
    for (i = 0; i < n; i++)
        names[i] = r->by_kind[kind][i]->pub.name;
    best = text_suggest(name, names, n);
    free(names);
    return best ? arena_printf(c->keep, "did you mean \"%s\"?", best) : NULL;
}

/*
 * Index names per kind in json objects (name -> position). A second object
 * with a name already taken is a duplicate: it is reported and left out.
 */
static int build_index(load_ctx *c, dsvm_repo *r)
{
    size_t i, k;

    for (k = 0; k < DSVM_KIND_COUNT; k++) {
        r->index[k] = json_object();
        if (!r->index[k])
            return -1;
    }
    for (i = 0; i < r->n; i++) {
        obj_ext *o = r->objs[i];
        json_t *idx = r->index[o->pub.kind];
        json_t *prev = json_object_get(idx, o->pub.name);

        if (prev) {
            const obj_ext *first = r->objs[json_integer_value(prev)];
            const ynode *at = obj_node(o, "metadata.name");
            const ynode *at1 = obj_node(first, "metadata.name");

            diags_add(c->diags, o->file_id, at ? at->line : o->pub.pos.line,
                      at ? at->col : o->pub.pos.col, "rename one of them",
                      "duplicate %s \"%s\"; first defined at %s:%u:%u",
                      dsvm_kinds[o->pub.kind].name, o->pub.name, first->pub.pos.file,
                      at1 ? at1->line : first->pub.pos.line, at1 ? at1->col : first->pub.pos.col);
            o->has_errors = true;
            continue;
        }
        if (json_object_set_new(idx, o->pub.name, json_integer((json_int_t)i)) != 0)
            return -1;
        r->n_kind[o->pub.kind]++;
    }
    for (k = 0; k < DSVM_KIND_COUNT; k++) {
        r->by_kind[k] = malloc((r->n_kind[k] ? r->n_kind[k] : 1) * sizeof(obj_ext *));
        if (!r->by_kind[k])
            return -1;
        r->n_kind[k] = 0;
    }
    for (i = 0; i < r->n; i++) {
        obj_ext *o = r->objs[i];
        json_t *v = json_object_get(r->index[o->pub.kind], o->pub.name);

        if (v && (size_t)json_integer_value(v) == i)
            r->by_kind[o->pub.kind][r->n_kind[o->pub.kind]++] = o;
    }
    return 0;
}

/* Resolve metadata.resourceGroup and derive each object's effective location. */
static void resolve_groups(load_ctx *c, dsvm_repo *r)
{
    size_t i;

    for (i = 0; i < r->n; i++) {
        obj_ext *o = r->objs[i];
        const kind_desc *kd = &dsvm_kinds[o->pub.kind];
        obj_ext *rg;

        if (o->pub.resource_group_name && kd->rg_rule != RG_FORBIDDEN) {
            rg = find_obj(r, DSVM_KIND_RESOURCE_GROUP, o->pub.resource_group_name);
            if (!rg) {
                const ynode *at = obj_node(o, "metadata.resourceGroup");

                c->file_id = o->file_id;
                ctx_error(c, at,
                          suggest_name(c, r, DSVM_KIND_RESOURCE_GROUP, o->pub.resource_group_name),
                          "%s \"%s\" names ResourceGroup \"%s\", which is not defined", kd->name,
                          o->pub.name, o->pub.resource_group_name);
            } else {
                o->pub.resource_group = &rg->pub;
            }
        }
        if (kd->location_off >= 0 && o->pub.spec.any)
            o->pub.location = *(const char **)((char *)o->pub.spec.any + kd->location_off);
        if (!o->pub.location && o->pub.resource_group && o->pub.resource_group->spec.any)
            o->pub.location = o->pub.resource_group->spec.resource_group->location;
    }
}

static bool has_subnet(obj_ext *net, const char *name)
{
    json_t *names = obj_subnames(net);

    return names && json_object_get(names, name) != NULL;
}

/* Point every reference at its target, or report it as dangling (with a suggestion). */
static void resolve_refs(load_ctx *c, dsvm_repo *r)
{
    size_t i;

    for (i = 0; i < c->n_refs; i++) {
        pending_ref *p = &c->refs[i];
        obj_ext *t;

        if (!p->owner->pub.name)
            continue; /* the document had no name: already an error */
        t = find_obj(r, p->ref->kind, p->ref->name);
        c->file_id = p->owner->file_id;
        if (!t) {
            ynode at = {.line = p->ref->line, .col = p->ref->col};

            ctx_error(c, &at, suggest_name(c, r, p->ref->kind, p->ref->name),
                      "%s \"%s\" references %s \"%s\", which is not defined",
                      dsvm_kinds[p->owner->pub.kind].name, p->owner->pub.name,
                      dsvm_kinds[p->ref->kind].name, p->ref->name);
            continue;
        }
        p->ref->target = &t->pub;
        if (p->subnet && t->pub.spec.any && !has_subnet(t, p->subnet->subnet)) {
            ynode at = {.line = p->ref->line, .col = p->ref->col};

            ctx_error(c, &at, NULL, "Network \"%s\" has no subnet \"%s\"", t->pub.name,
                      p->subnet->subnet);
        }
    }
}

/* Each object's dependencies: its resource group and every resolved reference. */
static int build_deps(load_ctx *c, dsvm_repo *r)
{
    size_t i = 0, j;

    for (j = 0; j < r->n; j++) {
        obj_ext *o = r->objs[j];

        if (o->pub.resource_group) {
            o->pub.deps = arena_alloc(c->keep, sizeof(*o->pub.deps));
            if (!o->pub.deps)
                return -1;
            o->pub.deps[0] = o->pub.resource_group;
            o->pub.n_deps = 1;
        }
    }
    while (i < c->n_refs) {
        obj_ext *owner = c->refs[i].owner;
        size_t end = i, n, k;
        const dsvm_object **deps;

        while (end < c->n_refs && c->refs[end].owner == owner)
            end++;
        n = end - i + owner->pub.n_deps;
        deps = arena_alloc(c->keep, n * sizeof(*deps));
        if (!deps)
            return -1;
        n = 0;
        for (k = 0; k < owner->pub.n_deps; k++)
            deps[n++] = owner->pub.deps[k];
        for (; i < end; i++) {
            const dsvm_object *t = c->refs[i].ref->target;
            bool dup = false;

            if (!t)
                continue;
            for (k = 0; k < n && !dup; k++)
                dup = deps[k] == t;
            if (!dup)
                deps[n++] = t;
        }
        owner->pub.deps = deps;
        owner->pub.n_deps = n;
    }
    return 0;
}

static obj_ext *ext_of(const dsvm_object *o)
{
    return (obj_ext *)(void *)((char *)o - offsetof(obj_ext, pub));
}

/*
 * Depth-first search for reference cycles with an explicit stack, so a long
 * dependsOn chain cannot overflow the C stack. Each cycle is reported once,
 * at the object that closes it.
 */
static int find_cycles(load_ctx *c, dsvm_repo *r)
{
    struct frame {
        obj_ext *o;
        size_t next;
    } *stack = malloc((r->n + 1) * sizeof(*stack));
    size_t i, sp;

    if (!stack)
        return -1;
    for (i = 0; i < r->n; i++) {
        if (r->objs[i]->color)
            continue;
        sp = 0;
        stack[sp].o = r->objs[i];
        stack[sp].next = 0;
        r->objs[i]->color = 1;
        sp++;
        while (sp) {
            struct frame *f = &stack[sp - 1];

            if (f->next == f->o->pub.n_deps) {
                f->o->color = 2;
                sp--;
                continue;
            }
            {
                obj_ext *t = ext_of(f->o->pub.deps[f->next++]);

                if (t->color == 0) {
                    t->color = 1;
                    stack[sp].o = t;
                    stack[sp].next = 0;
                    sp++;
                } else if (t->color == 1) {
                    /* the cycle is t ... f->o -> t */
                    size_t start = sp - 1, len = 0, k;
                    char *msg, *p;

                    while (stack[start].o != t)
                        start--;
                    for (k = start; k < sp; k++)
                        len += strlen(dsvm_kinds[stack[k].o->pub.kind].name) +
                               strlen(stack[k].o->pub.name) + 6;
                    len += strlen(dsvm_kinds[t->pub.kind].name) + strlen(t->pub.name) + 2;
                    msg = malloc(len);
                    if (!msg) {
                        free(stack);
                        return -1;
                    }
                    p = msg;
                    for (k = start; k < sp; k++)
                        p += sprintf(p, "%s/%s -> ", dsvm_kinds[stack[k].o->pub.kind].name,
                                     stack[k].o->pub.name);
                    sprintf(p, "%s/%s", dsvm_kinds[t->pub.kind].name, t->pub.name);
                    diags_add(c->diags, t->file_id, t->pub.pos.line, t->pub.pos.col,
                              "break the cycle: remove one of these references",
                              "reference cycle: %s", msg);
                    free(msg);
                }
            }
        }
    }
    free(stack);
    return 0;
}

static void free_objects(dsvm_repo *r)
{
    size_t i, k;

    for (i = 0; i < r->n; i++)
        json_decref(r->objs[i]->subnames);
    json_decref(r->owned);
    free(r->objs);
    for (k = 0; k < DSVM_KIND_COUNT; k++) {
        json_decref(r->index[k]);
        free(r->by_kind[k]);
    }
}

void dsvm_repo_free(dsvm_repo *r)
{
    if (!r)
        return;
    free_objects(r);
    arena_clear(&r->keep);
    free(r);
}

static char *display_path(const char *dir, const char *rel)
{
    if (strcmp(dir, ".") == 0 || strcmp(dir, "./") == 0)
        return strdup(rel);
    return join_path(dir, rel);
}

int dsvm_repo_load(dsvm_repo **out, const char *dir, const dsvm_limits *limits, dsvm_diags *diags)
{
    dsvm_limits lim;
    walker w;
    load_ctx c;
    dsvm_repo *r = NULL;
    struct stat st;
    size_t errors_before = dsvm_diags_errors(diags);
    size_t n_docs = 0, n_load = 0, i;
    uint64_t total = 0;
    char **paths = NULL;
    file_result *res = NULL;
    int rc = 0;

    if (limits)
        lim = *limits;
    else
        dsvm_limits_init(&lim);
    if (lim.max_depth == 0)
        lim.max_depth = 1;
    if (lim.max_depth > 4096)
        lim.max_depth = 4096; /* frames are allocated up front; heights are 16-bit */
    if (lim.max_document_nodes > (1u << 30))
        lim.max_document_nodes = 1u << 30; /* node weights are 32-bit */
    if (lim.max_alias_nodes > lim.max_document_nodes)
        lim.max_alias_nodes = lim.max_document_nodes;
    diags_set_max(diags, lim.max_diags);
    memset(&w, 0, sizeof(w));
    memset(&c, 0, sizeof(c));
    w.root = dir;
    w.lim = &lim;

    if (stat(dir, &st) != 0) {
        int err = errno;

        dsvm_error_set(DSVM_ERRCLASS_MANIFEST, "cannot read manifest directory %s: %s", dir,
                       strerror(err));
        return err == ENOENT ? DSVM_ENOTFOUND : DSVM_EIO;
    }
    r = calloc(1, sizeof(*r));
    w.visited = json_object();
    if (!r || !w.visited) {
        rc = dsvm_error_oom();
        goto out;
    }
    arena_init(&r->keep);
    if (S_ISDIR(st.st_mode)) {
        w.root_real = realpath(dir, NULL);
        if (!w.root_real) {
            dsvm_error_set(DSVM_ERRCLASS_MANIFEST, "cannot resolve %s: %s", dir, strerror(errno));
            rc = DSVM_EIO;
            goto out;
        }
        if (visit(&w, &st) < 0) {
            rc = dsvm_error_oom();
            goto out;
        }
        rc = walk_dir(&w, "", 0);
        if (rc == DSVM_EIO) {
            dsvm_error_set(DSVM_ERRCLASS_MANIFEST, "cannot read manifest directory %s: %s", dir,
                           strerror(errno));
            goto out;
        }
        if (rc < 0) {
            rc = dsvm_error_oom();
            goto out;
        }
        qsort(w.files, w.n, sizeof(w.files[0]), cmp_files);
    } else if (add_file(&w, dir, NULL, (uint64_t)st.st_size) < 0) {
        rc = dsvm_error_oom();
        goto out;
    }

    r->owned = json_array();
    if (!r->owned) {
        rc = dsvm_error_oom();
        goto out;
    }
    /* the total size limit is decided up front, in file order, before reading */
    n_load = w.n;
    for (i = 0; i < w.n; i++) {
        total += w.files[i].size;
        if (total > lim.max_total_bytes) {
            n_load = i;
            break;
        }
    }
    paths = calloc(w.n + 1, sizeof(*paths));
    res = calloc(w.n + 1, sizeof(*res));
    if (!paths || !res) {
        rc = dsvm_error_oom();
        goto out;
    }
    for (i = 0; i < w.n; i++) {
        paths[i] = S_ISDIR(st.st_mode) ? join_path(dir, w.files[i].rel) : strdup(w.files[i].rel);
        if (!paths[i]) {
            rc = dsvm_error_oom();
            goto out;
        }
    }
    parse_files(&lim, w.files, paths, res, n_load, &r->keep);

    c.limits = &lim;
    c.diags = diags;
    c.keep = &r->keep;
    c.owned = r->owned;
    for (i = 0; i < w.n && i <= n_load; i++) {
        file_result *fr = &res[i];
        char *shown =
            S_ISDIR(st.st_mode) ? display_path(dir, w.files[i].rel) : strdup(w.files[i].rel);
        int fid = shown ? diags_add_file(diags, shown) : -1;
        size_t k;

        c.file_id = fid;
        c.file = fid >= 0 ? arena_strdup(&r->keep, shown) : NULL; /* the repo may outlive diags */
        free(shown);
        if (fid < 0 || !c.file || fr->rc < 0 || diags_merge(diags, fr->diags, fid) < 0) {
            rc = dsvm_error_oom();
            goto out;
        }
        r->n_files++;
        if (w.files[i].error) {
            diags_add(diags, fid, 0, 0, NULL, "%s", w.files[i].error);
            continue;
        }
        if (i == n_load) {
            diags_add(diags, fid, 0, 0, NULL,
                      "manifests add up to more than the limit of %zu bytes", lim.max_total_bytes);
            c.limit_hit = true;
            break;
        }
        n_docs += fr->n_docs;
        if (n_docs > lim.max_documents && !fr->limit_hit) {
            diags_add(diags, fid, 0, 0, "split the repository or raise the limit",
                      "too many documents in all files: the limit is %zu", lim.max_documents);
            fr->limit_hit = true;
        }
        for (k = 0; k < fr->n_roots; k++) {
            if (on_doc(&c, fr->roots[k], r) < 0) {
                rc = dsvm_error_oom();
                goto out;
            }
        }
        if (fr->limit_hit)
            c.limit_hit = true;
        if (n_docs > lim.max_documents)
            break;
    }
    if (w.too_many) {
        int fid = diags_add_file(diags, dir);

        diags_add(diags, fid, 0, 0, "split the repository or raise the limit",
                  "more than %zu manifest files", lim.max_files);
        c.limit_hit = true;
    }

    if (build_index(&c, r) < 0) {
        rc = dsvm_error_oom();
        goto out;
    }
    resolve_groups(&c, r);
    resolve_refs(&c, r);
    if (build_deps(&c, r) < 0 || find_cycles(&c, r) < 0) {
        rc = dsvm_error_oom();
        goto out;
    }
    for (i = 0; i < r->n; i++) {
        obj_ext *o = r->objs[i];
        rule_fn rule = dsvm_kinds[o->pub.kind].rule;

        if (rule && !o->has_errors && o->pub.spec.any) {
            c.file_id = o->file_id;
            c.kind_name = dsvm_kinds[o->pub.kind].name;
            c.obj = o;
            rule(&c, o);
        }
    }
    diags_sort(diags);
    if (dsvm_diags_errors(diags) != errors_before) {
        size_t n = dsvm_diags_errors(diags) - errors_before;

        dsvm_error_set(DSVM_ERRCLASS_MANIFEST, "%zu error%s in manifests under %s", n,
                       n == 1 ? "" : "s", dir);
        rc = c.limit_hit ? DSVM_ELIMIT : DSVM_EINVALID;
        goto out;
    }
    *out = r;
    r = NULL;
    rc = 0;
out:
    for (i = 0; paths && i < w.n; i++)
        free(paths[i]);
    free(paths);
    for (i = 0; res && i < w.n; i++) {
        dsvm_diags_free(res[i].diags);
        free(res[i].roots);
    }
    free(res);
    json_decref(c.grants);
    free(c.refs);
    free_walker(&w);
    dsvm_repo_free(r);
    return rc;
}

size_t dsvm_repo_count(const dsvm_repo *r)
{
    return r ? r->n : 0;
}

const dsvm_object *dsvm_repo_object(const dsvm_repo *r, size_t i)
{
    return r && i < r->n ? &r->objs[i]->pub : NULL;
}

size_t dsvm_repo_count_kind(const dsvm_repo *r, dsvm_kind kind)
{
    return r && (unsigned)kind < DSVM_KIND_COUNT ? r->n_kind[kind] : 0;
}

const dsvm_object *dsvm_repo_object_of_kind(const dsvm_repo *r, dsvm_kind kind, size_t i)
{
    if (!r || (unsigned)kind >= DSVM_KIND_COUNT || i >= r->n_kind[kind])
        return NULL;
    return &r->by_kind[kind][i]->pub;
}

const dsvm_object *dsvm_repo_find(const dsvm_repo *r, dsvm_kind kind, const char *name)
{
    obj_ext *o;

    if (!r || (unsigned)kind >= DSVM_KIND_COUNT || !name)
        return NULL;
    o = find_obj(r, kind, name);
    return o ? &o->pub : NULL;
}

size_t dsvm_repo_file_count(const dsvm_repo *r)
{
    return r ? r->n_files : 0;
}

int dsvm_object_spec_json(json_t **out, const dsvm_object *obj)
{
    static const ynode empty = {.type = YN_MAP};
    const obj_ext *o;
    const kind_desc *kd;
    const ynode *spec, *key = NULL;
    dsvm_limits lim;
    load_ctx c;
    arena tmp;
    json_t *j = NULL;
    void *scratch;
    int rc;

    if (!obj || (unsigned)obj->kind >= DSVM_KIND_COUNT)
        return DSVM_EINVALID;
    o = ext_of(obj);
    kd = &dsvm_kinds[obj->kind];
    spec = ynode_get(o->root, "spec", &key);
    if (!spec || ynode_is_null(spec))
        spec = &empty;
    dsvm_limits_init(&lim);
    memset(&c, 0, sizeof(c));
    arena_init(&tmp);
    c.limits = &lim;
    c.keep = &tmp;
    c.kind_name = kd->name;
    c.obj = (obj_ext *)o;
    if (dsvm_diags_new(&c.diags) < 0)
        return DSVM_ENOMEM;
    c.seg[0] = "spec";
    c.idx[0] = -1;
    c.depth = 1;
    scratch = arena_alloc(&tmp, kd->spec->size);
    rc = scratch ? parse_object(&c, spec, key ? key : o->root, kd->spec, scratch, &j) : -1;
    free(c.refs);
    arena_clear(&tmp);
    dsvm_diags_free(c.diags);
    if (rc < 0 || !j) {
        json_decref(j);
        return dsvm_error_oom();
    }
    *out = j;
    return 0;
}

int dsvm_object_field_pos(dsvm_srcpos *out, const dsvm_object *obj, const char *path)
{
    const ynode *n;

    if (!obj || !path)
        return DSVM_EINVALID;
    n = obj_node(ext_of(obj), path);
    if (!n)
        return DSVM_ENOTFOUND;
    out->file = obj->pos.file;
    out->line = n->line;
    out->col = n->col;
    return 0;
}
