/*
 * engine_bench: the CPU and memory cost of a plan, without the network.
 *
 * usage: engine_bench --provider-dir DIR (--repo DIR | --gen GEN_REPO --pools N)
 *                     [--groups M] [--page-size N] [--expect-in-sync] [--bound-s S]
 *
 * It runs the engine's own code (controller/reconcile.c and the real
 * provider plugin through the provider host) phase by phase:
 *   load     read and validate the manifests (dsvm_repo_load);
 *   expand   objects through the provider into resources, and the graph;
 *   observe  list pages as ARM would answer them for a repository that is in
 *            sync (each desired body, its known-after-apply values dropped,
 *            with id, name, type and provisioningState added), taken through
 *            the provider's classify into live state; building the pages is
 *            ARM's work and is not counted;
 *   plan     the diff and plan (dsvm_engine_plan) and its text rendering.
 * It prints CPU seconds per phase, wall time, peak RSS and the counts, and
 * with --expect-in-sync fails when the plan has changes. --bound-s fails a
 * run whose CPU exceeds that many seconds (a hang bound for the test suite).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dsvmops/error.h"
#include "engine.h"

typedef struct {
    const char *provider_dir, *repo, *gen;
    long pools, groups, page_size;
    int expect_in_sync;
    double bound_s;
} bench_opts;

static double cpu_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Peak RSS so far, in MB. */
static double peak_mb(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

static int usage(void)
{
    fprintf(stderr, "usage: engine_bench --provider-dir DIR (--repo DIR | --gen GEN_REPO "
                    "--pools N) [--groups M] [--page-size N] [--expect-in-sync] "
                    "[--bound-s S]\n");
    return 2;
}

static int parse_args(bench_opts *o, int argc, char **argv)
{
    int i;

    o->page_size = 1000;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--expect-in-sync") == 0) {
            o->expect_in_sync = 1;
            continue;
        }
        if (!v)
            return usage();
        i++;
        if (strcmp(a, "--provider-dir") == 0)
            o->provider_dir = v;
        else if (strcmp(a, "--repo") == 0)
            o->repo = v;
        else if (strcmp(a, "--gen") == 0)
            o->gen = v;
        else if (strcmp(a, "--pools") == 0)
            o->pools = strtol(v, NULL, 10);
        else if (strcmp(a, "--groups") == 0)
            o->groups = strtol(v, NULL, 10);
        else if (strcmp(a, "--page-size") == 0)
            o->page_size = strtol(v, NULL, 10);
        else if (strcmp(a, "--bound-s") == 0)
            o->bound_s = strtod(v, NULL);
        else
            return usage();
    }
    if (!o->provider_dir || (!o->repo && (!o->gen || o->pools <= 0)) || o->page_size <= 0)
        return usage();
    return 0;
}

/* A copy of `v` without {"$knownAfterApply": ...} members: ARM has real
 * values there, which the diff never compares. */
static json_t *without_kaa(const json_t *v)
{
    const char *key;
    json_t *child, *out;
    size_t i;

    if (json_is_array(v)) {
        out = json_array();
        json_array_foreach(v, i, child) json_array_append_new(out, without_kaa(child));
        return out;
    }
    if (!json_is_object(v))
        return json_deep_copy(v);
    out = json_object();
    json_object_foreach((json_t *)v, key, child)
    {
        if (json_is_object(child) && json_object_get(child, "$knownAfterApply"))
            continue;
        json_object_set_new(out, key, without_kaa(child));
    }
    return out;
}

/* The body ARM would return for an in-sync resource. */
static json_t *live_body(const json_t *res)
{
    const char *id = json_string_value(json_object_get(res, "id"));
    const char *slash = strrchr(id, '/');
    json_t *b = without_kaa(json_object_get(res, "body")), *props;

    json_object_set(b, "id", json_object_get(res, "id"));
    json_object_set(b, "type", json_object_get(res, "type"));
    json_object_set_new(b, "name", json_string(slash ? slash + 1 : id));
    props = json_object_get(b, "properties");
    if (!props) {
        props = json_object();
        json_object_set_new(b, "properties", props);
    }
    json_object_set_new(props, "provisioningState", json_string("Succeeded"));
    return b;
}

/* Feed every resource of `type` to the engine as list pages; returns the
 * CPU seconds the engine spent on them, or a negative value. */
static double observe_type(dsvm_engine *e, const char *type, long page_size, size_t *pages)
{
    json_t *request = json_pack("{s:s,s:s,s:s,s:s}", "method", "GET", "path", "/bench/list",
                                "bucket", "read", "type", type);
    char *request_text = json_dumps(request, JSON_COMPACT);
    size_t i, n = json_array_size(e->resources), k = 0;
    double spent = 0;
    int more = 1;

    json_decref(request);
    for (i = 0; more;) {
        json_t *page = json_object(), *items = json_array(), *res;
        char *text, *next = NULL;
        long count = 0;
        double t0;
        int klass;

        for (; i < n && count < page_size; i++) {
            res = json_array_get(e->resources, i);
            if (strcmp(json_string_value(json_object_get(res, "type")), type) != 0)
                continue;
            json_array_append_new(items, live_body(res));
            count++;
        }
        more = i < n;
        json_object_set_new(page, "value", items);
        if (more)
            json_object_set_new(page, "nextLink", json_sprintf("https://bench/%s/%zu", type, k));
        text = json_dumps(page, JSON_COMPACT);
        json_decref(page);
        t0 = cpu_now();
        klass = dsvm_engine_take_answer(e, &next, request_text, 200, text, strlen(text));
        spent += cpu_now() - t0;
        free(text);
        free(next);
        k++;
        if (klass != DSVM_ANSWER_OK) {
            free(request_text);
            return -1;
        }
    }
    free(request_text);
    *pages += k;
    return spent;
}

static double observe(dsvm_engine *e, long page_size, size_t *pages)
{
    json_t *types = json_object(), *res;
    const char *type;
    double spent = 0, s;
    size_t i;

    json_array_foreach(e->resources, i, res)
        json_object_set(types, json_string_value(json_object_get(res, "type")), json_true());
    json_object_foreach(types, type, res)
    {
        s = observe_type(e, type, page_size, pages);
        if (s < 0) {
            spent = -1;
            break;
        }
        spent += s;
    }
    json_decref(types);
    return spent;
}

static int write_config(char *path, size_t size, const char *dir)
{
    FILE *f;

    snprintf(path, size, "%s/dsvmops.yaml", dir);
    f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "target:\n"
               "  subscription: 00000000-0000-0000-0000-000000000001\n"
               "  tenant: 00000000-0000-0000-0000-0000000000aa\n"
               "  resource_manager: http://127.0.0.1:9\n"
               "  credential: client_secret\n"
               "  client_id: bench\n"
               "  client_secret_env: DSVMOPS_BENCH_UNUSED\n"
               "state: {path: ./state.db}\n");
    return fclose(f);
}

int main(int argc, char **argv)
{
    bench_opts o = {0};
    char tmp[] = "/tmp/engine-bench-XXXXXX", cfg_path[256], repo_dir[512], cmd[1024];
    dsvm_config *cfg = NULL;
    dsvm_engine *e = NULL;
    dsvm_diags *diags = NULL;
    dsvm_plan *plan = NULL;
    dsvm_reconcile_opts ropts = {0};
    struct rusage ru;
    double t0, w0, t_load, t_expand, t_observe, t_plan, total, rss[4];
    size_t pages = 0, changes;
    char *text = NULL;
    int rc = 1;

    if (parse_args(&o, argc, argv))
        return 2;
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    if (o.repo) {
        snprintf(repo_dir, sizeof(repo_dir), "%s", o.repo);
    } else {
        snprintf(repo_dir, sizeof(repo_dir), "%s/repo", tmp);
        snprintf(cmd, sizeof(cmd), "/usr/bin/python3 '%s' --pools %ld --groups %ld '%s' >/dev/null",
                 o.gen, o.pools, o.groups, repo_dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "engine_bench: %s failed\n", cmd);
            goto out;
        }
    }
    if (write_config(cfg_path, sizeof(cfg_path), tmp) < 0 ||
        dsvm_config_load(&cfg, cfg_path, (char *const[]){NULL}) < 0) {
        fprintf(stderr, "engine_bench: config: %s\n", dsvm_error_last()->message);
        goto out;
    }
    ropts.source_dir = repo_dir;
    ropts.provider_dir = o.provider_dir;
    ropts.offline = 1;
    if (dsvm_engine_new(&e, cfg, &ropts, 0) < 0 || dsvm_diags_new(&diags) < 0) {
        fprintf(stderr, "engine_bench: %s\n", dsvm_error_last()->message);
        goto out;
    }

    w0 = wall_now();
    t0 = cpu_now();
    if (dsvm_repo_load(&e->repo, repo_dir, NULL, diags) < 0) {
        fprintf(stderr, "engine_bench: load: %s (%zu errors)\n", dsvm_error_last()->message,
                dsvm_diags_errors(diags));
        goto out;
    }
    t_load = cpu_now() - t0;
    rss[0] = peak_mb();
    t0 = cpu_now();
    if (dsvm_engine_expand(e) < 0) {
        fprintf(stderr, "engine_bench: expand: %s\n", dsvm_error_last()->message);
        goto out;
    }
    t_expand = cpu_now() - t0;
    rss[1] = peak_mb();
    t_observe = observe(e, o.page_size, &pages);
    if (t_observe < 0) {
        fprintf(stderr, "engine_bench: observe: a page was not taken\n");
        goto out;
    }
    rss[2] = peak_mb();
    t0 = cpu_now();
    if (dsvm_engine_plan(e, &plan) < 0 || dsvm_plan_render_text(&text, plan, 0) < 0) {
        fprintf(stderr, "engine_bench: plan: %s\n", dsvm_error_last()->message);
        goto out;
    }
    t_plan = cpu_now() - t0;
    rss[3] = peak_mb();
    total = t_load + t_expand + t_observe + t_plan;
    getrusage(RUSAGE_SELF, &ru);
    changes = dsvm_plan_changes(plan);

    printf("objects %zu, resources %zu, live %zu, pages %zu, plan changes %zu\n",
           dsvm_repo_count(e->repo), json_array_size(e->resources), json_object_size(e->live),
           pages, changes);
    printf("cpu s: load+validate %.3f, expand %.3f, observe %.3f, plan %.3f, total %.3f\n", t_load,
           t_expand, t_observe, t_plan, total);
    printf("wall s (with building the pages) %.3f, peak RSS %.1f MB (after load %.1f, "
           "expand %.1f, observe %.1f, plan %.1f)\n",
           wall_now() - w0, (double)ru.ru_maxrss / 1024.0, rss[0], rss[1], rss[2], rss[3]);
    rc = 0;
    if (o.expect_in_sync && changes != 0) {
        fprintf(stderr, "engine_bench: the in-sync plan has %zu changes:\n%.4000s\n", changes,
                text);
        rc = 1;
    }
    if (o.bound_s > 0 && total > o.bound_s) {
        fprintf(stderr, "engine_bench: %.3f s of CPU is past the bound of %.1f s\n", total,
                o.bound_s);
        rc = 1;
    }
out:
    free(text);
    dsvm_plan_free(plan);
    dsvm_diags_free(diags);
    dsvm_engine_free(e);
    dsvm_config_free(cfg);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        rc = rc ? rc : 1;
    return rc;
}
