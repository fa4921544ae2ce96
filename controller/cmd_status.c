/*
 * dsvmops status: what this controller is pointed at and where each setting
 * came from (the file, an Azure SDK environment variable, or a default), and
 * what the state store knows: the last run, open drift episodes, writes an
 * interrupted run left without an outcome.
 *
 * Reads the configuration and the state store only: no credential, no
 * provider, no network. No secret is printed; only where each one lives.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "cli.h"
#include "cli_engine.h"
#include "dsvmops/error.h"
#include "state.h"

static void usage(FILE *f)
{
    fputs("usage: dsvmops status -c CONFIG [--format text|json]\n"
          "\n"
          "Show the target and where each of its settings came from (the configuration\n"
          "file with its line, an environment variable such as AZURE_CLIENT_ID, or a\n"
          "default), the source, and what the state store records: the last run, open\n"
          "drift episodes and writes an interrupted run left without an answer.\n"
          "Nothing is sent to Azure and no secret is printed.\n"
          "\n"
          "Options:\n"
          "  -c, --config FILE   controller configuration (dsvmops.yaml)\n"
          "      --format FMT    text (default) or json\n"
          "  -h, --help          show this help\n"
          "\n"
          "Exit status: 0 success, 1 error (bad options, unreadable configuration or\n"
          "state store).\n",
          f);
}

static int last_run(const dsvm_state_run *r, void *payload)
{
    json_t **out = payload;

    *out = json_pack("{s:I,s:s,s:s,s:I,s:I,s:s}", "id", (json_int_t)r->id, "kind", r->kind,
                     "commit", r->commit, "startedMs", (json_int_t)r->started_ms, "endedMs",
                     (json_int_t)r->ended_ms, "outcome", r->outcome);
    return 1; /* the newest is enough */
}

static int count_drift(const dsvm_state_drift *d, void *payload)
{
    json_t *arr = payload;

    return json_array_append_new(arr, json_pack("{s:s,s:s,s:I}", "resource", d->resource_id,
                                                "object", d->object, "firstSeenMs",
                                                (json_int_t)d->first_seen_ms)) < 0;
}

static int count_entry(const dsvm_state_entry *en, void *payload)
{
    (void)en;
    (*(size_t *)payload)++;
    return 0;
}

/* The state store's part of the status; an absent store is reported as such. */
static int state_json(json_t **out, const dsvm_config *cfg)
{
    struct stat sb;
    dsvm_state *st = NULL;
    json_t *run = NULL, *drift = json_array();
    size_t unfinished = 0;
    int rc = 0;

    if (!drift)
        return dsvm_error_oom();
    if (stat(cfg->state.path, &sb) < 0) {
        *out = json_pack("{s:s,s:b,s:o}", "path", cfg->state.path, "exists", 0, "openDrift", drift);
        return *out ? 0 : dsvm_error_oom();
    }
    rc = dsvm_state_open(&st, cfg->state.path);
    if (rc == 0)
        rc = dsvm_state_runs_list(st, 1, last_run, &run);
    if (rc == 0)
        rc = dsvm_state_drift_open_list(st, count_drift, drift);
    if (rc == 0)
        rc = dsvm_state_journal_unfinished(st, count_entry, &unfinished);
    dsvm_state_close(st);
    if (rc < 0) {
        json_decref(run);
        json_decref(drift);
        return rc;
    }
    *out = json_pack("{s:s,s:b,s:o,s:o,s:I}", "path", cfg->state.path, "exists", 1, "lastRun",
                     run ? run : json_null(), "openDrift", drift, "unfinishedWrites",
                     (json_int_t)unfinished);
    return *out ? 0 : dsvm_error_oom();
}

static void print_text(const json_t *doc)
{
    const json_t *target = json_object_get(doc, "target"), *v;
    const json_t *state = json_object_get(doc, "state"), *source = json_object_get(doc, "source");
    const json_t *run = json_object_get(state, "lastRun");
    const char *key;

    printf("configuration  %s\n", json_string_value(json_object_get(doc, "config")));
    printf("source         %s (ref %s, path %s)\n",
           json_string_value(json_object_get(source, "url")),
           json_string_value(json_object_get(source, "ref")),
           json_string_value(json_object_get(source, "path")));
    printf("target\n");
    json_object_foreach((json_t *)target, key, v)
    {
        const char *origin = json_string_value(json_object_get(v, "origin"));

        printf("  %-22s %-44s %s", key, json_string_value(json_object_get(v, "value")),
               origin ? origin : "");
        if (json_object_get(v, "env"))
            printf(" (%s)", json_string_value(json_object_get(v, "env")));
        if (json_object_get(v, "line"))
            printf(" (line %lld)", (long long)json_integer_value(json_object_get(v, "line")));
        putchar('\n');
    }
    printf("state          %s%s\n", json_string_value(json_object_get(state, "path")),
           json_is_true(json_object_get(state, "exists")) ? "" : " (not created yet)");
    if (json_is_object(run))
        printf("last run       %lld %s at %.12s: %s\n",
               (long long)json_integer_value(json_object_get(run, "id")),
               json_string_value(json_object_get(run, "kind")),
               json_string_value(json_object_get(run, "commit")),
               json_string_value(json_object_get(run, "outcome")));
    else
        printf("last run       none\n");
    printf("open drift     %zu\n", json_array_size(json_object_get(state, "openDrift")));
    if (json_integer_value(json_object_get(state, "unfinishedWrites")) > 0)
        printf("unfinished     %lld writes of an interrupted run (the next apply settles them)\n",
               (long long)json_integer_value(json_object_get(state, "unfinishedWrites")));
}

int dsvm_cmd_status(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    extern char **environ;
    const char *config_path = NULL, *format = "text";
    dsvm_config *cfg = NULL;
    json_t *doc = NULL, *state = NULL;
    char *text = NULL;
    int c, code = DSVM_EXIT_ERROR;

    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'f':
            format = optarg;
            break;
        case 'h':
            usage(stdout);
            return DSVM_EXIT_OK;
        default:
            usage(stderr);
            return DSVM_EXIT_ERROR;
        }
    }
    if (dsvm_cli_args_done("status", argc, argv, NULL) < 0)
        return DSVM_EXIT_ERROR;
    if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0) {
        dsvm_cli_error("status", "unknown --format '%s'; use text or json", format);
        return DSVM_EXIT_ERROR;
    }
    if (!config_path) {
        dsvm_cli_error("status", "-c CONFIG is required (e.g. -c dsvmops.yaml)");
        return DSVM_EXIT_ERROR;
    }
    if (dsvm_config_load(&cfg, config_path, environ) < 0)
        return dsvm_cli_fail("status");
    if (state_json(&state, cfg) < 0) {
        dsvm_cli_fail("status");
        goto out;
    }
    doc = json_pack("{s:s,s:{s:s?,s:s?,s:s?},s:o,s:o}", "config", cfg->path, "source", "url",
                    cfg->source.url, "ref", cfg->source.ref, "path", cfg->source.path, "target",
                    dsvm_config_target_json(cfg), "state", state);
    state = NULL;
    if (!doc) {
        dsvm_error_oom();
        dsvm_cli_fail("status");
        goto out;
    }
    if (strcmp(format, "json") == 0) {
        text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
        if (!text || dsvm_cli_write_output("status", NULL, text) < 0)
            goto out;
    } else {
        print_text(doc);
    }
    code = DSVM_EXIT_OK;
out:
    free(text);
    json_decref(doc);
    json_decref(state);
    dsvm_config_free(cfg);
    return code;
}
