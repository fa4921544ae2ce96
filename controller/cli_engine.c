/*
 * Shared set-up of the commands that reconcile: configuration, manifests,
 * engine. See cli_engine.h.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "cli_engine.h"
#include "dsvmops/error.h"
#include "fmt.h"
#include "git_source.h"

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

int dsvm_cli_target_option(int c, const char *arg, dsvm_cli_target *target,
                           dsvm_reconcile_opts *opts)
{
    switch (c) {
    case 'c':
        target->config_path = arg;
        return 1;
    case 's':
        target->source_dir = arg;
        return 1;
    case 'P':
        target->provider_dir = arg;
        return 1;
    case 'i':
        opts->instance = arg;
        return 1;
    case 'r':
        opts->rate_limits = arg;
        return 1;
    case 'f':
        target->format = arg;
        return 1;
    case 'o':
        target->output = arg;
        return 1;
    default:
        return 0;
    }
}

int dsvm_cli_write_output(const char *cmd, const char *path, const char *text)
{
    FILE *f = path ? fopen(path, "w") : stdout;

    if (!f) {
        dsvm_cli_error(cmd, "cannot write %s: %s; check the directory exists and is writable", path,
                       strerror(errno));
        return -1;
    }
    fputs(text, f);
    if (*text && text[strlen(text) - 1] != '\n')
        fputc('\n', f);
    if (path ? fclose(f) != 0 : fflush(f) != 0) {
        dsvm_cli_error(cmd, "cannot write %s: %s", path ? path : "the output", strerror(errno));
        return -1;
    }
    return 0;
}

int dsvm_cli_args_done(const char *cmd, int argc, char **argv, const char *format)
{
    if (optind < argc) {
        dsvm_cli_error(cmd, "unexpected argument '%s'; see 'dsvmops %s --help'", argv[optind], cmd);
        return -1;
    }
    if (format && strcmp(format, "text") != 0 && strcmp(format, "json") != 0 &&
        strcmp(format, "markdown") != 0) {
        dsvm_cli_error(cmd, "unknown --format '%s'; use text, json or markdown", format);
        return -1;
    }
    return 0;
}

int dsvm_cli_fail(const char *cmd)
{
    const char *msg = dsvm_error_last()->message;

    dsvm_cli_error(cmd, "%s", *msg ? msg : "failed");
    return DSVM_EXIT_ERROR;
}

int dsvm_cli_source_is_plain_directory(const char *url)
{
    struct stat sb;
    size_t n = strlen(url) + 8;
    char *p = malloc(n);
    int plain = 0;

    if (strncmp(url, "file://", 7) == 0 || strstr(url, "://") || !p) {
        free(p);
        return 0;
    }
    if (stat(url, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        snprintf(p, n, "%s/.git", url);
        plain = stat(p, &sb) != 0;
        snprintf(p, n, "%s/HEAD", url);
        plain = plain && stat(p, &sb) != 0;
    }
    free(p);
    return plain;
}

static char *path_join(const char *a, const char *b)
{
    return dsvm_fmt("%s%s%s", a, b && *b ? "/" : "", b ? b : "");
}

int dsvm_cli_source_new(struct dsvm_source **out, const dsvm_config *cfg)
{
    extern char **environ;
    dsvm_source_opts so = {0};
    char *password = NULL, *cache = path_join(cfg->dir, ".dsvmops-cache");
    int rc = 0;

    if (!cache)
        return dsvm_error_oom();
    if (cfg->source.auth.password.env || cfg->source.auth.password.file)
        rc = dsvm_config_read_secret(&password, &cfg->source.auth.password, "source.auth.password",
                                     environ);
    so.url = cfg->source.url;
    so.ref = cfg->source.ref;
    so.path = cfg->source.path;
    so.cache_dir = cache;
    so.auth.username = cfg->source.auth.username;
    so.auth.password = password;
    so.auth.ssh_key_file = cfg->source.auth.ssh_key_file;
    so.auth.ssh_known_hosts_file = cfg->source.auth.known_hosts_file;
    if (rc == 0)
        rc = dsvm_source_new(out, &so);
    if (password)
        memset(password, 0, strlen(password));
    free(password);
    free(cache);
    return rc;
}

/* Fetch the configured Git source and return the checkout of its path; the
 * commit goes to `commit`. */
static int fetch_source(char **out, char commit[41], const dsvm_config *cfg)
{
    dsvm_source_result res = {0};
    dsvm_source *src = NULL;
    int rc = dsvm_cli_source_new(&src, cfg);

    if (rc == 0)
        rc = dsvm_source_fetch(&res, src);
    if (rc == 0) {
        *out = res.dir;
        res.dir = NULL;
        memcpy(commit, res.commit, 41);
    }
    dsvm_source_result_clear(&res);
    dsvm_source_free(src);
    return rc;
}

/* Where the manifests are: --source DIR; else the configured Git source
 * (fetched); a plain local directory is read as it is. */
static int source_dir(char **out, char commit[41], const dsvm_config *cfg, const dsvm_cli_target *t)
{
    if (t->source_dir) {
        *out = strdup(t->source_dir);
        return *out ? 0 : dsvm_error_oom();
    }
    if (!cfg->source.url) {
        dsvm_error_set(DSVM_ERRCLASS_CONFIG, "%s has no source.url; set it, or pass --source DIR",
                       cfg->path);
        return DSVM_EINVALID;
    }
    if (dsvm_cli_source_is_plain_directory(cfg->source.url)) {
        *out = path_join(cfg->source.url, cfg->source.path);
        return *out ? 0 : dsvm_error_oom();
    }
    return fetch_source(out, commit, cfg);
}

int dsvm_cli_engine_open(dsvm_config **out_cfg, dsvm_engine **out_engine, const char *cmd,
                         const dsvm_cli_target *target, dsvm_reconcile_opts *opts, int with_state)
{
    extern char **environ;
    dsvm_config *cfg = NULL;
    dsvm_engine *e = NULL;
    dsvm_diags *diags = NULL;
    char *dir = NULL, commit[41] = "";
    int rc;

    if (!target->config_path) {
        dsvm_cli_error(cmd, "-c CONFIG is required (e.g. -c dsvmops.yaml)");
        return DSVM_EXIT_ERROR;
    }
    rc = dsvm_config_load(&cfg, target->config_path, environ);
    if (rc < 0)
        return dsvm_cli_fail(cmd);
    rc = source_dir(&dir, commit, cfg, target);
    if (rc < 0)
        goto fail;
    opts->source_dir = dir;
    if (!opts->commit && *commit)
        opts->commit = commit;
    opts->provider_dir = target->provider_dir;
    if (opts->max_deletes < 0)
        opts->max_deletes = cfg->reconcile.max_deletes;
    opts->prune = opts->prune || cfg->reconcile.prune;
    opts->adopt = opts->adopt || cfg->reconcile.adopt;
    rc = dsvm_engine_new(&e, cfg, opts, with_state);
    if (rc < 0)
        goto fail;
    opts->source_dir = NULL; /* the engine keeps its own copies */
    if (opts->commit == commit)
        opts->commit = NULL;
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
