/*
 * dsvmops history: the runs recorded in the state store, newest first, and
 * with --run ID the journal of one run (what it wrote, and how that went).
 *
 * Reads the state store only: no credential, no provider, no network.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "cli_engine.h"
#include "dsvmops/error.h"
#include "state.h"

static void usage(FILE *f)
{
    fputs("usage: dsvmops history -c CONFIG [--format text|json] [--limit N] [--run ID]\n"
          "\n"
          "List the runs recorded in the state store, newest first: commit, start,\n"
          "duration, outcome and what each changed. With --run ID, list the journal of\n"
          "that run instead: one line per write (resource, action, method, outcome).\n"
          "Nothing is sent to Azure.\n"
          "\n"
          "Options:\n"
          "  -c, --config FILE   controller configuration (dsvmops.yaml)\n"
          "      --format FMT    text (default) or json\n"
          "  -n, --limit N       show the last N runs (default 20; 0 for all)\n"
          "      --run ID        show the journal entries of run ID\n"
          "  -h, --help          show this help\n"
          "\n"
          "Exit status: 0 success (also when no run is recorded yet), 1 error (bad\n"
          "options, unreadable configuration or state store, unknown run ID).\n",
          f);
}

/* All runs are gathered into one JSON array first, so that text and JSON
 * come from the same data. */
static int collect_run(const dsvm_state_run *r, void *payload)
{
    json_t *runs = payload, *summary = NULL, *j;

    if (r->summary && *r->summary)
        summary = json_loads(r->summary, 0, NULL);
    j = json_pack("{s:I,s:s,s:s,s:s,s:I,s:I,s:s,s:o}", "id", (json_int_t)r->id, "kind",
                  r->kind ? r->kind : "", "target", r->target ? r->target : "", "commit",
                  r->commit ? r->commit : "", "startedMs", (json_int_t)r->started_ms, "endedMs",
                  (json_int_t)r->ended_ms, "outcome", r->outcome ? r->outcome : "", "summary",
                  summary ? summary : json_object());
    if (!j)
        return DSVM_ENOMEM;
    return json_array_append_new(runs, j) < 0 ? DSVM_ENOMEM : 0;
}

static int collect_entry(const dsvm_state_entry *en, void *payload)
{
    json_t *entries = payload, *j;

    j = json_pack("{s:I,s:s,s:s,s:s,s:s,s:I}", "id", (json_int_t)en->id, "resource",
                  en->resource_id ? en->resource_id : "", "action", en->action ? en->action : "",
                  "method", en->method ? en->method : "", "outcome",
                  en->outcome && *en->outcome ? en->outcome : "unfinished", "intentMs",
                  (json_int_t)en->intent_ms);
    if (!j)
        return DSVM_ENOMEM;
    return json_array_append_new(entries, j) < 0 ? DSVM_ENOMEM : 0;
}

/* "2026-12-03 14:05:01" (UTC) into `buf`. */
static void format_time(char *buf, size_t n, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    if (ms <= 0 || !gmtime_r(&t, &tm) || strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(buf, n, "-");
}

static void format_duration(char *buf, size_t n, const json_t *run)
{
    json_int_t start = json_integer_value(json_object_get(run, "startedMs"));
    json_int_t end = json_integer_value(json_object_get(run, "endedMs"));
    double s = (double)(end - start) / 1000.0;

    /* not ended, or the wall clock was set back during the run: unknown */
    if (end <= 0 || end < start)
        snprintf(buf, n, "-");
    else if (s < 60)
        snprintf(buf, n, "%.1fs", s);
    else
        snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
}

/* "3 succeeded, 1 failed" from the run's summary: the non-zero counts. */
static void format_counts(FILE *f, const json_t *summary)
{
    static const char *const keys[] = {"succeeded", "failed", "blocked", "writes", "deletes"};
    size_t i;
    int first = 1;

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_int_t v = json_integer_value(json_object_get(summary, keys[i]));

        if (v == 0 && strcmp(keys[i], "succeeded") != 0)
            continue;
        if (!json_object_get(summary, keys[i]))
            continue;
        fprintf(f, "%s%lld %s", first ? "" : ", ", (long long)v, keys[i]);
        first = 0;
    }
    if (first)
        fputc('-', f);
}

static void print_runs_text(const json_t *runs)
{
    size_t i;
    json_t *r;

    if (json_array_size(runs) == 0) {
        puts("No runs recorded yet; 'dsvmops apply' records one per run.");
        return;
    }
    printf("%5s  %-6s %-12s %-19s  %8s  %-10s %s\n", "RUN", "KIND", "COMMIT", "STARTED (UTC)",
           "DURATION", "OUTCOME", "CHANGES");
    json_array_foreach(runs, i, r)
    {
        const char *commit = json_string_value(json_object_get(r, "commit"));
        char started[32], duration[32];

        format_time(started, sizeof(started), json_integer_value(json_object_get(r, "startedMs")));
        format_duration(duration, sizeof(duration), r);
        printf("%5lld  %-6s %-12.12s %-19s  %8s  %-10s ",
               (long long)json_integer_value(json_object_get(r, "id")),
               json_string_value(json_object_get(r, "kind")), commit && *commit ? commit : "-",
               started, duration, json_string_value(json_object_get(r, "outcome")));
        format_counts(stdout, json_object_get(r, "summary"));
        putchar('\n');
    }
}

static void print_entries_text(const json_t *run, const json_t *entries)
{
    const char *commit = json_string_value(json_object_get(run, "commit"));
    char started[32], duration[32];
    size_t i;
    json_t *en;

    format_time(started, sizeof(started), json_integer_value(json_object_get(run, "startedMs")));
    format_duration(duration, sizeof(duration), run);
    printf("Run %lld (%s) of commit %s, started %s UTC, took %s: %s\n",
           (long long)json_integer_value(json_object_get(run, "id")),
           json_string_value(json_object_get(run, "kind")), commit && *commit ? commit : "-",
           started, duration, json_string_value(json_object_get(run, "outcome")));
    if (json_array_size(entries) == 0) {
        puts("No writes were journalled in this run.");
        return;
    }
    printf("%-8s %-7s %-10s %s\n", "ACTION", "METHOD", "OUTCOME", "RESOURCE");
    json_array_foreach(entries, i, en)
    {
        printf("%-8s %-7s %-10s %s\n", json_string_value(json_object_get(en, "action")),
               json_string_value(json_object_get(en, "method")),
               json_string_value(json_object_get(en, "outcome")),
               json_string_value(json_object_get(en, "resource")));
    }
}

static int print_json(const json_t *doc)
{
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);

    if (!text)
        return dsvm_error_oom();
    puts(text);
    free(text);
    return 0;
}

static int parse_count(long long *out, const char *s)
{
    char *end;
    long long v = strtoll(s, &end, 10);

    if (!*s || *end || v < 0)
        return -1;
    *out = v;
    return 0;
}

int dsvm_cmd_history(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"format", required_argument, NULL, 'f'},
        {"limit", required_argument, NULL, 'n'},  {"run", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    extern char **environ;
    const char *config_path = NULL, *format = "text";
    long long limit = 20, run_id = 0;
    int c, code = DSVM_EXIT_ERROR, json, want_run = 0;
    dsvm_config *cfg = NULL;
    dsvm_state *st = NULL;
    json_t *runs = NULL, *entries = NULL, *run = NULL, *doc = NULL, *r;
    struct stat sb;
    size_t i;

    optind = 1;
    while ((c = getopt_long(argc, argv, "c:n:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'f':
            format = optarg;
            break;
        case 'n':
            if (parse_count(&limit, optarg) < 0 || limit > 1000000) {
                dsvm_cli_error("history", "--limit takes a count (0 for all), not '%s'", optarg);
                return DSVM_EXIT_ERROR;
            }
            break;
        case 'r':
            if (parse_count(&run_id, optarg) < 0 || run_id == 0) {
                dsvm_cli_error("history", "--run takes a run ID from 'dsvmops history', not '%s'",
                               optarg);
                return DSVM_EXIT_ERROR;
            }
            want_run = 1;
            break;
        case 'h':
            usage(stdout);
            return DSVM_EXIT_OK;
        default:
            usage(stderr);
            return DSVM_EXIT_ERROR;
        }
    }
    if (dsvm_cli_args_done("history", argc, argv, NULL) < 0)
        return DSVM_EXIT_ERROR;
    if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0) {
        dsvm_cli_error("history", "unknown --format '%s'; use text or json", format);
        return DSVM_EXIT_ERROR;
    }
    json = strcmp(format, "json") == 0;
    if (!config_path) {
        dsvm_cli_error("history", "-c CONFIG is required (e.g. -c dsvmops.yaml)");
        return DSVM_EXIT_ERROR;
    }
    if (dsvm_config_load(&cfg, config_path, environ) < 0)
        return dsvm_cli_fail("history");
    runs = json_array();
    entries = json_array();
    if (!runs || !entries) {
        dsvm_error_oom();
        dsvm_cli_fail("history");
        goto out;
    }
    /* A store that does not exist yet has no runs; do not create it here. */
    if (stat(cfg->state.path, &sb) < 0) {
        if (want_run) {
            dsvm_cli_error("history", "no run %lld: the state store %s does not exist yet", run_id,
                           cfg->state.path);
            goto out;
        }
        goto print;
    }
    if (dsvm_state_open(&st, cfg->state.path) < 0 ||
        dsvm_state_runs_list(st, want_run ? 0 : (int)limit, collect_run, runs) < 0) {
        dsvm_cli_fail("history");
        goto out;
    }
    if (want_run) {
        json_array_foreach(runs, i, r)
        {
            if (json_integer_value(json_object_get(r, "id")) == run_id)
                run = r;
        }
        if (!run) {
            dsvm_cli_error("history",
                           "there is no run %lld in %s; 'dsvmops history' lists the run IDs",
                           run_id, cfg->state.path);
            goto out;
        }
        if (dsvm_state_journal_of_run(st, run_id, collect_entry, entries) < 0) {
            dsvm_cli_fail("history");
            goto out;
        }
        if (json) {
            doc = json_pack("{s:O,s:O}", "run", run, "entries", entries);
            if (!doc || print_json(doc) < 0) {
                dsvm_cli_fail("history");
                goto out;
            }
        } else {
            print_entries_text(run, entries);
        }
        code = DSVM_EXIT_OK;
        goto out;
    }
print:
    if (json) {
        doc = json_pack("{s:O}", "runs", runs);
        if (!doc || print_json(doc) < 0) {
            dsvm_cli_fail("history");
            goto out;
        }
    } else {
        print_runs_text(runs);
    }
    code = DSVM_EXIT_OK;
out:
    json_decref(doc);
    json_decref(runs);
    json_decref(entries);
    dsvm_state_close(st);
    dsvm_config_free(cfg);
    return code;
}
