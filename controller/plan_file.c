/*
 * Saved plans: fingerprints of the live state and of the plan, and the
 * check that `apply --plan` makes before it writes. See plan_file.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "dsvmops/error.h"
#include "engine.h"
#include "plan_file.h"

/* A running SHA-256; `failed` remembers an error of any step. */
typedef struct {
    EVP_MD_CTX *ctx;
    int failed;
} hasher;

static void hash_begin(hasher *h)
{
    h->ctx = EVP_MD_CTX_new();
    h->failed = !h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1;
}

/* Hash `s` and its terminating NUL, so that "ab","c" and "a","bc" differ. */
static void hash_str(hasher *h, const char *s)
{
    if (!h->failed && EVP_DigestUpdate(h->ctx, s, strlen(s) + 1) != 1)
        h->failed = 1;
}

/* Hash canonical JSON: compact, keys sorted. */
static void hash_json(hasher *h, const json_t *v)
{
    char *text = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;

    if (v && !text)
        h->failed = 1;
    hash_str(h, text ? text : "absent");
    free(text);
}

/* Finish into 64 hex digits and a NUL; frees the context either way. */
static int hash_end(hasher *h, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0, i;

    if (!h->failed && EVP_DigestFinal_ex(h->ctx, md, &n) != 1)
        h->failed = 1;
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
    if (h->failed || n != 32)
        return dsvm_error_oom();
    for (i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

static int by_string(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int dsvm_engine_live_fingerprint(char out[65], const dsvm_engine *e, const dsvm_plan *plan)
{
    char **ids = calloc(plan->n + 1, sizeof(*ids));
    hasher h;
    size_t i, n = 0;
    int rc = 0;

    if (!ids)
        return dsvm_error_oom();
    for (i = 0; i < plan->n; i++) {
        ids[n] = dsvm_engine_lower(plan->items[i].id);
        if (!ids[n++]) {
            rc = dsvm_error_oom();
            goto out;
        }
    }
    qsort(ids, n, sizeof(*ids), by_string);
    hash_begin(&h);
    for (i = 0; i < n; i++) {
        if (i > 0 && strcmp(ids[i], ids[i - 1]) == 0)
            continue;
        hash_str(&h, ids[i]);
        hash_json(&h, dsvm_engine_live_get(e, ids[i]));
    }
    rc = hash_end(&h, out);
out:
    for (i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    return rc;
}

/* {id: fingerprint of its live body, or "absent"} for every planned resource. */
static int live_resources(json_t **out, const dsvm_engine *e, const dsvm_plan *plan)
{
    json_t *map = json_object();
    size_t i;
    int rc;

    if (!map)
        return dsvm_error_oom();
    for (i = 0; i < plan->n; i++) {
        const json_t *body = dsvm_engine_live_get(e, plan->items[i].id);
        char fp[65];
        hasher h;

        hash_begin(&h);
        hash_json(&h, body);
        rc = hash_end(&h, fp);
        if (rc < 0 ||
            json_object_set_new(map, plan->items[i].id, json_string(body ? fp : "absent")) < 0) {
            json_decref(map);
            return dsvm_error_oom();
        }
    }
    *out = map;
    return 0;
}

/* The plan itself: each resource's ID, action, desired body and the
 * write-only paths it re-sends, in plan order. */
static int plan_fingerprint(char out[65], const dsvm_plan *plan)
{
    hasher h;
    size_t i, j;

    hash_begin(&h);
    for (i = 0; i < plan->n; i++) {
        const dsvm_plan_item *it = &plan->items[i];

        hash_str(&h, it->id);
        hash_str(&h, dsvm_action_name(it->action));
        hash_json(&h, it->desired);
        for (j = 0; j < it->n_sensitive; j++)
            hash_str(&h, it->sensitive[j]);
        hash_str(&h, "");
    }
    return hash_end(&h, out);
}

int dsvm_plan_file_meta(json_t **out, const dsvm_engine *e, const dsvm_plan *plan)
{
    char live[65], planned[65];
    json_t *resources = NULL, *meta;
    int rc;

    rc = dsvm_engine_live_fingerprint(live, e, plan);
    if (rc == 0)
        rc = plan_fingerprint(planned, plan);
    if (rc == 0)
        rc = live_resources(&resources, e, plan);
    if (rc < 0)
        return rc;
    meta = json_pack("{s:s?,s:s,s:o,s:s,s:{s:s,s:s?,s:b,s:b}}", "commit",
                     e->opts.commit && *e->opts.commit ? e->opts.commit : NULL, "liveFingerprint",
                     live, "liveResources", resources, "planFingerprint", planned, "options",
                     "instance", e->opts.instance, "target", e->opts.target, "prune", e->opts.prune,
                     "adopt", e->opts.adopt);
    if (!meta)
        return dsvm_error_oom();
    if (!json_object_get(meta, "commit"))
        json_object_set_new(meta, "commit", json_null());
    *out = meta;
    return 0;
}

int dsvm_plan_file_load(json_t **out, const char *path)
{
    json_error_t jerr;
    json_t *doc, *opts;

    doc = json_load_file(path, 0, &jerr);
    if (!doc) {
        FILE *f = fopen(path, "r");

        if (!f) {
            dsvm_error_set(DSVM_ERRCLASS_OS, "cannot read the saved plan %s: %s", path,
                           strerror(errno));
            return DSVM_EIO;
        }
        fclose(f);
        dsvm_error_set(DSVM_ERRCLASS_CONFIG,
                       "%s:%d:%d: not JSON (%s); make a saved plan with 'dsvmops plan -o %s "
                       "--format json'",
                       path, jerr.line, jerr.column, jerr.text, path);
        return DSVM_EINVALID;
    }
    opts = json_object_get(doc, "options");
    if (json_integer_value(json_object_get(doc, "formatVersion")) != DSVM_PLAN_FORMAT_VERSION ||
        !json_is_string(json_object_get(doc, "liveFingerprint")) ||
        !json_is_string(json_object_get(doc, "planFingerprint")) ||
        !json_is_object(json_object_get(doc, "liveResources")) || !json_is_object(opts) ||
        !json_is_string(json_object_get(opts, "instance"))) {
        dsvm_error_set(DSVM_ERRCLASS_CONFIG,
                       "%s is not a saved plan of this dsvmops (plan format %d); make one with "
                       "'dsvmops plan -o %s --format json'",
                       path, DSVM_PLAN_FORMAT_VERSION, path);
        json_decref(doc);
        return DSVM_EINVALID;
    }
    *out = doc;
    return 0;
}

int dsvm_plan_file_options(dsvm_reconcile_opts *opts, const json_t *saved, const char *path)
{
    const json_t *o = json_object_get(saved, "options");
    const char *instance = json_string_value(json_object_get(o, "instance"));
    const char *target = json_string_value(json_object_get(o, "target"));

    if (opts->instance && strcmp(opts->instance, instance) != 0) {
        dsvm_error_set(DSVM_ERRCLASS_CONFIG,
                       "%s was made for --instance %s, not %s; drop --instance or plan again", path,
                       instance, opts->instance);
        return DSVM_EINVALID;
    }
    if (opts->target && (!target || strcmp(opts->target, target) != 0)) {
        dsvm_error_set(DSVM_ERRCLASS_CONFIG,
                       "%s was made %s%s, not for --target %s; drop --target or plan again", path,
                       target ? "for --target " : "for all objects", target ? target : "",
                       opts->target);
        return DSVM_EINVALID;
    }
    if (opts->prune && !json_is_true(json_object_get(o, "prune"))) {
        dsvm_error_set(DSVM_ERRCLASS_CONFIG,
                       "%s was made without --prune; drop --prune or plan again with it", path);
        return DSVM_EINVALID;
    }
    opts->instance = instance;
    opts->target = target;
    opts->prune = json_is_true(json_object_get(o, "prune"));
    opts->adopt = json_is_true(json_object_get(o, "adopt"));
    return 0;
}

/* Append "name (Kind/name)" of a moved resource to the list being built. */
static void note_moved(FILE *f, size_t *count, const char *id, const char *object)
{
    const char *name = strrchr(id, '/');

    if (++*count > 5)
        return;
    fprintf(f, "%s%s%s%s%s", *count > 1 ? ", " : "", name ? name + 1 : id, *object ? " (" : "",
            object, *object ? ")" : "");
}

int dsvm_plan_file_check(const json_t *saved, const dsvm_engine *e, const dsvm_plan *plan)
{
    const char *commit = json_string_value(json_object_get(saved, "commit"));
    const char *now = e->opts.commit && *e->opts.commit ? e->opts.commit : NULL;
    const json_t *was = json_object_get(saved, "liveResources");
    json_t *meta = NULL, *is;
    char *list = NULL;
    size_t len = 0, moved = 0, i;
    FILE *f;
    int rc;

    if ((commit || now) && (!commit || !now || strcmp(commit, now) != 0)) {
        dsvm_error_set(DSVM_ERRCLASS_CONFIG,
                       "the source moved since the plan was made (commit %.12s then, %.12s now); "
                       "run plan again",
                       commit ? commit : "unknown", now ? now : "unknown");
        return DSVM_EREFUSED;
    }
    rc = dsvm_plan_file_meta(&meta, e, plan);
    if (rc < 0)
        return rc;
    rc = 0;
    if (strcmp(json_string_value(json_object_get(meta, "liveFingerprint")),
               json_string_value(json_object_get(saved, "liveFingerprint"))) != 0) {
        is = json_object_get(meta, "liveResources");
        f = open_memstream(&list, &len);
        if (!f) {
            rc = dsvm_error_oom();
            goto out;
        }
        for (i = 0; i < plan->n; i++) {
            const char *a = json_string_value(json_object_get(was, plan->items[i].id));
            const char *b = json_string_value(json_object_get(is, plan->items[i].id));

            if (!a || !b || strcmp(a, b) != 0)
                note_moved(f, &moved, plan->items[i].id, plan->items[i].object);
        }
        if (moved > 5)
            fprintf(f, " and %zu more", moved - 5);
        fclose(f);
        dsvm_error_set(DSVM_ERRCLASS_CONFIG,
                       "the live state changed since the plan was made (%s); run plan again",
                       moved ? list : "the set of resources differs");
        rc = DSVM_EREFUSED;
        goto out;
    }
    if (strcmp(json_string_value(json_object_get(meta, "planFingerprint")),
               json_string_value(json_object_get(saved, "planFingerprint"))) != 0) {
        dsvm_error_set(DSVM_ERRCLASS_CONFIG,
                       "the manifests or the options changed since the plan was made: the same "
                       "live state now gives a different plan; run plan again");
        rc = DSVM_EREFUSED;
    }
out:
    free(list);
    json_decref(meta);
    return rc;
}
