/*
 * Shared set-up of the commands that reconcile: configuration, manifests,
 * engine. See cli_engine.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "cli_engine.h"
#include "dsvmops/error.h"

void dsvm_cli_print_diags(const dsvm_diags *diags, const char *cmd)
{
    size_t i, n = dsvm_diags_count(diags), total = dsvm_diags_errors(diags);

    for (i = 0; i < n; i++) {
        char *line = NULL;

        if (dsvm_diag_format(&line, dsvm_diags_get(diags, i)) == 0)
            fprintf(stderr, "%s\n", line);
        free(line);
    }
    if (total > n)
        fprintf(stderr, "dsvmops %s: %zu more errors not shown\n", cmd, total - n);
}

int dsvm_cli_fail(const char *cmd)
{
    const char *msg = dsvm_error_last()->message;

    dsvm_cli_error(cmd, "%s", *msg ? msg : "failed");
    return DSVM_EXIT_ERROR;
}

/* Where the manifests are: --source, else a local source.url (+ path). */
static int source_dir(char **out, const dsvm_config *cfg, const dsvm_cli_target *t)
{
    const char *url = cfg->source.url;
    struct stat sb;
    size_t n;
    char *dir;

    if (t->source_dir) {
        *out = strdup(t->source_dir);
        return *out ? 0 : dsvm_error_oom();
    }
    if (!url) {
        dsvm_error_set(DSVM_ERRCLASS_CONFIG, "%s has no source.url; set it, or pass --source DIR",
                       cfg->path);
        return DSVM_EINVALID;
    }
    if (strncmp(url, "file://", 7) == 0)
        url += 7;
    if (strstr(url, "://") || stat(url, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
        dsvm_error_set(DSVM_ERRCLASS_CONFIG,
                       "source.url %s is not a local directory; pass --source DIR with a "
                       "checkout",
                       cfg->source.url);
        return DSVM_EINVALID;
    }
    n = strlen(url) + (cfg->source.path ? strlen(cfg->source.path) : 0) + 2;
    dir = malloc(n);
    if (!dir)
        return dsvm_error_oom();
    snprintf(dir, n, "%s%s%s", url, cfg->source.path ? "/" : "",
             cfg->source.path ? cfg->source.path : "");
    *out = dir;
    return 0;
}

int dsvm_cli_engine_open(dsvm_config **out_cfg, dsvm_engine **out_engine, const char *cmd,
                         const dsvm_cli_target *target, dsvm_reconcile_opts *opts, int with_state)
{
    extern char **environ;
    dsvm_config *cfg = NULL;
    dsvm_engine *e = NULL;
    dsvm_diags *diags = NULL;
    char *dir = NULL;
    int rc;

    if (!target->config_path) {
        dsvm_cli_error(cmd, "-c CONFIG is required (e.g. -c dsvmops.yaml)");
        return DSVM_EXIT_ERROR;
    }
    rc = dsvm_config_load(&cfg, target->config_path, environ);
    if (rc < 0)
        return dsvm_cli_fail(cmd);
    rc = source_dir(&dir, cfg, target);
    if (rc < 0)
        goto fail;
    opts->source_dir = dir;
    opts->provider_dir = target->provider_dir;
    if (opts->max_deletes < 0)
        opts->max_deletes = cfg->reconcile.max_deletes;
    opts->prune = opts->prune || cfg->reconcile.prune;
    opts->adopt = opts->adopt || cfg->reconcile.adopt;
    rc = dsvm_engine_new(&e, cfg, opts, with_state);
    if (rc < 0)
        goto fail;
    opts->source_dir = NULL; /* the engine keeps its own copy */
    rc = dsvm_diags_new(&diags);
    if (rc < 0)
        goto fail;
    rc = dsvm_engine_load(e, diags);
    if (rc < 0 && dsvm_diags_count(diags) > 0) {
        dsvm_cli_print_diags(diags, cmd);
        dsvm_cli_error(cmd, "the manifests in %s have errors; nothing was planned", dir);
        dsvm_diags_free(diags);
        dsvm_engine_free(e);
        dsvm_config_free(cfg);
        free(dir);
        return DSVM_EXIT_ERROR;
    }
    dsvm_diags_free(diags);
    diags = NULL;
    if (rc < 0)
        goto fail;
    free(dir);
    *out_cfg = cfg;
    *out_engine = e;
    return 0;
fail:
    dsvm_cli_fail(cmd);
    dsvm_diags_free(diags);
    dsvm_engine_free(e);
    dsvm_config_free(cfg);
    free(dir);
    return DSVM_EXIT_ERROR;
}
