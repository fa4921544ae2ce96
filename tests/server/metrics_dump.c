/*
 * Render a registry populated the way the daemon populates it, to the file
 * named by argv[1], for `promtool check metrics` (metrics_promtool.sh).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsvmops/error.h"
#include "metrics.h"

static int declare_all(dsvm_metrics *m)
{
    static const struct {
        const char *name;
        dsvm_metric_type type;
        const char *help;
    } defs[] = {
        {"dsvmops_reconcile_duration_seconds", DSVM_METRIC_HISTOGRAM,
         "Time taken by one reconcile, from fetch to the last write."},
        {"dsvmops_reconcile_runs_total", DSVM_METRIC_COUNTER, "Reconcile runs by outcome."},
        {"dsvmops_resources", DSVM_METRIC_GAUGE, "Managed resources by state."},
        {"dsvmops_drift_episodes_open", DSVM_METRIC_GAUGE, "Drift episodes not yet resolved."},
        {"dsvmops_arm_requests_total", DSVM_METRIC_COUNTER,
         "Azure Resource Manager requests by verb and status class."},
        {"dsvmops_arm_throttle_waits_total", DSVM_METRIC_COUNTER,
         "Requests that waited for a token bucket or a Retry-After."},
        {"dsvmops_lro_in_flight", DSVM_METRIC_GAUGE, "Long-running operations being polled."},
        {"dsvmops_git_fetches_total", DSVM_METRIC_COUNTER, "Git fetches by outcome."},
        {"dsvmops_last_success_timestamp_seconds", DSVM_METRIC_GAUGE,
         "Unix time of the last successful reconcile."},
        {"dsvmops_info", DSVM_METRIC_GAUGE, "Build information; always 1."},
    };
    size_t i;

    for (i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
        if (dsvm_metrics_declare(m, defs[i].name, defs[i].type, defs[i].help, NULL, 0) < 0)
            return -1;
    }
    return 0;
}

static int populate(dsvm_metrics *m)
{
    static const char *const verbs[] = {"GET", "PUT", "DELETE"};
    static const char *const classes[] = {"2xx", "4xx", "5xx"};
    static const double durations[] = {0.4, 3.2, 12, 75, 400};
    size_t i, j;
    int rc = 0;

    for (i = 0; i < sizeof(durations) / sizeof(durations[0]); i++)
        rc |= dsvm_metrics_observe(m, "dsvmops_reconcile_duration_seconds", NULL, durations[i]);
    rc |= dsvm_metrics_add(m, "dsvmops_reconcile_runs_total",
                           (const char *[]){"outcome", "success", NULL}, 4);
    rc |= dsvm_metrics_add(m, "dsvmops_reconcile_runs_total",
                           (const char *[]){"outcome", "failed", NULL}, 1);
    rc |= dsvm_metrics_set(m, "dsvmops_resources", (const char *[]){"state", "in_sync", NULL}, 34);
    rc |= dsvm_metrics_set(m, "dsvmops_resources", (const char *[]){"state", "drifted", NULL}, 2);
    rc |= dsvm_metrics_set(m, "dsvmops_drift_episodes_open", NULL, 1);
    for (i = 0; i < 3; i++) {
        for (j = 0; j < 3; j++)
            rc |= dsvm_metrics_add(m, "dsvmops_arm_requests_total",
                                   (const char *[]){"verb", verbs[i], "status", classes[j], NULL},
                                   (double)(10 * i + j));
    }
    rc |= dsvm_metrics_add(m, "dsvmops_arm_throttle_waits_total", NULL, 7);
    rc |= dsvm_metrics_set(m, "dsvmops_lro_in_flight", NULL, 3);
    rc |= dsvm_metrics_add(m, "dsvmops_git_fetches_total",
                           (const char *[]){"outcome", "success", NULL}, 12);
    rc |= dsvm_metrics_add(m, "dsvmops_git_fetches_total",
                           (const char *[]){"outcome", "failed", NULL}, 0);
    rc |= dsvm_metrics_set(m, "dsvmops_last_success_timestamp_seconds", NULL, 1796313600.25);
    rc |= dsvm_metrics_set(m, "dsvmops_info",
                           (const char *[]){"version", "0.1.0", "commit", "5249a26 \"x\"\\", NULL},
                           1);
    return rc ? -1 : 0;
}

int main(int argc, char **argv)
{
    dsvm_metrics *m = NULL;
    char *text = NULL;
    FILE *f;
    int ok;

    if (argc != 2) {
        fprintf(stderr, "usage: metrics_dump FILE\n");
        return 2;
    }
    if (dsvm_metrics_new(&m) < 0 || declare_all(m) < 0 || populate(m) < 0 ||
        dsvm_metrics_render(&text, m) < 0) {
        fprintf(stderr, "metrics_dump: %s\n", dsvm_error_last()->message);
        dsvm_metrics_free(m);
        return 1;
    }
    f = fopen(argv[1], "w");
    ok = f && fputs(text, f) >= 0;
    if (f && fclose(f) != 0)
        ok = 0;
    free(text);
    dsvm_metrics_free(m);
    if (!ok) {
        perror(argv[1]);
        return 1;
    }
    return 0;
}
