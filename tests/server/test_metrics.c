/*
 * The metrics registry: exact Prometheus text for a small registry,
 * cumulative histogram buckets, label escaping and ordering, the errors
 * for misuse, and two threads updating while a third renders.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dsvmops/error.h"
#include "metrics.h"

static char *render(dsvm_metrics *m)
{
    char *text = NULL;

    assert_int_equal(dsvm_metrics_render(&text, m), 0);
    assert_non_null(text);
    return text;
}

static void metrics_render_small_registry_exactly(void **state)
{
    static const double b[] = {0.5, 1, 2.5};
    dsvm_metrics *m = NULL;
    char *text;

    (void)state;
    assert_int_equal(dsvm_metrics_new(&m), 0);
    assert_int_equal(dsvm_metrics_declare(m, "dsvmops_reconcile_runs_total", DSVM_METRIC_COUNTER,
                                          "Reconcile runs by outcome.", NULL, 0),
                     0);
    assert_int_equal(dsvm_metrics_declare(m, "dsvmops_lro_in_flight", DSVM_METRIC_GAUGE,
                                          "Long-running operations being polled.", NULL, 0),
                     0);
    assert_int_equal(dsvm_metrics_declare(m, "dsvmops_reconcile_duration_seconds",
                                          DSVM_METRIC_HISTOGRAM, "Reconcile duration.", b, 3),
                     0);
    assert_int_equal(dsvm_metrics_declare(m, "dsvmops_arm_throttle_waits_total",
                                          DSVM_METRIC_COUNTER, "Waits for ARM's token buckets.",
                                          NULL, 0),
                     0);
    assert_int_equal(dsvm_metrics_add(m, "dsvmops_reconcile_runs_total",
                                      (const char *[]){"outcome", "success", NULL}, 1),
                     0);
    assert_int_equal(dsvm_metrics_add(m, "dsvmops_reconcile_runs_total",
                                      (const char *[]){"outcome", "failed", NULL}, 1),
                     0);
    assert_int_equal(dsvm_metrics_add(m, "dsvmops_reconcile_runs_total",
                                      (const char *[]){"outcome", "success", NULL}, 2),
                     0);
    assert_int_equal(dsvm_metrics_set(m, "dsvmops_lro_in_flight", NULL, 3), 0);
    assert_int_equal(dsvm_metrics_add(m, "dsvmops_lro_in_flight", NULL, -1), 0);
    assert_int_equal(dsvm_metrics_observe(m, "dsvmops_reconcile_duration_seconds", NULL, 0.25), 0);
    assert_int_equal(dsvm_metrics_observe(m, "dsvmops_reconcile_duration_seconds", NULL, 1), 0);
    assert_int_equal(dsvm_metrics_observe(m, "dsvmops_reconcile_duration_seconds", NULL, 2), 0);
    assert_int_equal(dsvm_metrics_observe(m, "dsvmops_reconcile_duration_seconds", NULL, 7.5), 0);
    text = render(m);
    assert_string_equal(text,
                        "# HELP dsvmops_reconcile_runs_total Reconcile runs by outcome.\n"
                        "# TYPE dsvmops_reconcile_runs_total counter\n"
                        "dsvmops_reconcile_runs_total{outcome=\"success\"} 3\n"
                        "dsvmops_reconcile_runs_total{outcome=\"failed\"} 1\n"
                        "# HELP dsvmops_lro_in_flight Long-running operations being polled.\n"
                        "# TYPE dsvmops_lro_in_flight gauge\n"
                        "dsvmops_lro_in_flight 2\n"
                        "# HELP dsvmops_reconcile_duration_seconds Reconcile duration.\n"
                        "# TYPE dsvmops_reconcile_duration_seconds histogram\n"
                        "dsvmops_reconcile_duration_seconds_bucket{le=\"0.5\"} 1\n"
                        "dsvmops_reconcile_duration_seconds_bucket{le=\"1\"} 2\n"
                        "dsvmops_reconcile_duration_seconds_bucket{le=\"2.5\"} 3\n"
                        "dsvmops_reconcile_duration_seconds_bucket{le=\"+Inf\"} 4\n"
                        "dsvmops_reconcile_duration_seconds_sum 10.75\n"
                        "dsvmops_reconcile_duration_seconds_count 4\n"
                        "# HELP dsvmops_arm_throttle_waits_total Waits for ARM's token buckets.\n"
                        "# TYPE dsvmops_arm_throttle_waits_total counter\n"
                        "dsvmops_arm_throttle_waits_total 0\n");
    free(text);
    dsvm_metrics_free(m);
}

static void metrics_histogram_buckets_are_cumulative_per_series(void **state)
{
    dsvm_metrics *m = NULL;
    char *text;
    int i;

    (void)state;
    assert_int_equal(dsvm_metrics_new(&m), 0);
    /* NULL buckets: the default 0.1 .. 300 seconds. */
    assert_int_equal(dsvm_metrics_declare(m, "op_seconds", DSVM_METRIC_HISTOGRAM, "Ops.", NULL, 0),
                     0);
    for (i = 0; i < 5; i++)
        assert_int_equal(
            dsvm_metrics_observe(m, "op_seconds", (const char *[]){"verb", "PUT", NULL}, 0.0625),
            0);
    assert_int_equal(
        dsvm_metrics_observe(m, "op_seconds", (const char *[]){"verb", "PUT", NULL}, 45), 0);
    assert_int_equal(
        dsvm_metrics_observe(m, "op_seconds", (const char *[]){"verb", "PUT", NULL}, 1000), 0);
    assert_int_equal(
        dsvm_metrics_observe(m, "op_seconds", (const char *[]){"verb", "GET", NULL}, 0.1), 0);
    text = render(m);
    assert_non_null(strstr(text, "op_seconds_bucket{verb=\"PUT\",le=\"0.1\"} 5\n"
                                 "op_seconds_bucket{verb=\"PUT\",le=\"0.5\"} 5\n"
                                 "op_seconds_bucket{verb=\"PUT\",le=\"1\"} 5\n"
                                 "op_seconds_bucket{verb=\"PUT\",le=\"2.5\"} 5\n"
                                 "op_seconds_bucket{verb=\"PUT\",le=\"5\"} 5\n"
                                 "op_seconds_bucket{verb=\"PUT\",le=\"10\"} 5\n"
                                 "op_seconds_bucket{verb=\"PUT\",le=\"30\"} 5\n"
                                 "op_seconds_bucket{verb=\"PUT\",le=\"60\"} 6\n"
                                 "op_seconds_bucket{verb=\"PUT\",le=\"120\"} 6\n"
                                 "op_seconds_bucket{verb=\"PUT\",le=\"300\"} 6\n"
                                 "op_seconds_bucket{verb=\"PUT\",le=\"+Inf\"} 7\n"
                                 "op_seconds_sum{verb=\"PUT\"} 1045.3125\n"
                                 "op_seconds_count{verb=\"PUT\"} 7\n"));
    /* An observation equal to a bound falls in that bucket (le is "less or equal"). */
    assert_non_null(strstr(text, "op_seconds_bucket{verb=\"GET\",le=\"0.1\"} 1\n"));
    assert_non_null(strstr(text, "op_seconds_count{verb=\"GET\"} 1\n"));
    free(text);
    dsvm_metrics_free(m);
}

static void metrics_escape_label_values_and_help(void **state)
{
    dsvm_metrics *m = NULL;
    char *text;

    (void)state;
    assert_int_equal(dsvm_metrics_new(&m), 0);
    assert_int_equal(dsvm_metrics_declare(m, "dsvmops_info", DSVM_METRIC_GAUGE,
                                          "Build info \\ with a\nnewline and \"quotes\".", NULL, 0),
                     0);
    assert_int_equal(
        dsvm_metrics_set(m, "dsvmops_info",
                         (const char *[]){"version", "1.0 \"beta\"", "commit", "a\\b\nc", NULL}, 1),
        0);
    text = render(m);
    /* HELP escapes backslash and newline; label values also escape quotes; names are sorted. */
    assert_string_equal(text,
                        "# HELP dsvmops_info Build info \\\\ with a\\nnewline and \"quotes\".\n"
                        "# TYPE dsvmops_info gauge\n"
                        "dsvmops_info{commit=\"a\\\\b\\nc\",version=\"1.0 \\\"beta\\\"\"} 1\n");
    free(text);
    dsvm_metrics_free(m);
}

static void metrics_label_order_does_not_split_series(void **state)
{
    dsvm_metrics *m = NULL;
    char *text;

    (void)state;
    assert_int_equal(dsvm_metrics_new(&m), 0);
    assert_int_equal(dsvm_metrics_declare(m, "req_total", DSVM_METRIC_COUNTER, "R.", NULL, 0), 0);
    assert_int_equal(
        dsvm_metrics_add(m, "req_total", (const char *[]){"verb", "GET", "status", "2xx", NULL}, 1),
        0);
    assert_int_equal(
        dsvm_metrics_add(m, "req_total", (const char *[]){"status", "2xx", "verb", "GET", NULL}, 1),
        0);
    text = render(m);
    assert_string_equal(text, "# HELP req_total R.\n# TYPE req_total counter\n"
                              "req_total{status=\"2xx\",verb=\"GET\"} 2\n");
    free(text);
    dsvm_metrics_free(m);
}

static void metrics_reset_drops_series(void **state)
{
    dsvm_metrics *m = NULL;
    char *text;

    (void)state;
    assert_int_equal(dsvm_metrics_new(&m), 0);
    assert_int_equal(
        dsvm_metrics_declare(m, "dsvmops_resources", DSVM_METRIC_GAUGE, "By state.", NULL, 0), 0);
    assert_int_equal(
        dsvm_metrics_set(m, "dsvmops_resources", (const char *[]){"state", "drifted", NULL}, 2), 0);
    assert_int_equal(
        dsvm_metrics_set(m, "dsvmops_resources", (const char *[]){"state", "in_sync", NULL}, 30),
        0);
    assert_int_equal(dsvm_metrics_reset(m, "dsvmops_resources"), 0);
    assert_int_equal(
        dsvm_metrics_set(m, "dsvmops_resources", (const char *[]){"state", "in_sync", NULL}, 32),
        0);
    text = render(m);
    assert_string_equal(text, "# HELP dsvmops_resources By state.\n"
                              "# TYPE dsvmops_resources gauge\n"
                              "dsvmops_resources{state=\"in_sync\"} 32\n");
    free(text);
    /* Reset to no series at all: a labelled metric shows no made-up unlabelled 0. */
    assert_int_equal(dsvm_metrics_reset(m, "dsvmops_resources"), 0);
    text = render(m);
    assert_string_equal(text, "# HELP dsvmops_resources By state.\n"
                              "# TYPE dsvmops_resources gauge\n");
    free(text);
    assert_int_equal(dsvm_metrics_reset(m, "nope"), DSVM_EINVALID);
    dsvm_metrics_free(m);
}

static void metrics_values_print_exactly(void **state)
{
    static const double b[] = {0.001, 1e9};
    dsvm_metrics *m = NULL;
    char *text;

    (void)state;
    assert_int_equal(dsvm_metrics_new(&m), 0);
    assert_int_equal(dsvm_metrics_declare(m, "g", DSVM_METRIC_GAUGE, "", NULL, 0), 0);
    assert_int_equal(dsvm_metrics_declare(m, "h", DSVM_METRIC_HISTOGRAM, "", b, 2), 0);
    assert_int_equal(dsvm_metrics_set(m, "g", (const char *[]){"k", "a", NULL}, 1796313600), 0);
    assert_int_equal(dsvm_metrics_set(m, "g", (const char *[]){"k", "b", NULL}, 0.1), 0);
    assert_int_equal(dsvm_metrics_set(m, "g", (const char *[]){"k", "c", NULL}, 1.0 / 3), 0);
    assert_int_equal(dsvm_metrics_set(m, "g", (const char *[]){"k", "d", NULL}, -2.5), 0);
    text = render(m);
    assert_non_null(strstr(text, "g{k=\"a\"} 1796313600\n"));
    assert_non_null(strstr(text, "g{k=\"b\"} 0.1\n"));
    assert_non_null(strstr(text, "g{k=\"c\"} 0.33333333333333331\n"));
    assert_non_null(strstr(text, "g{k=\"d\"} -2.5\n"));
    /* A histogram without series shows only HELP and TYPE. */
    assert_non_null(strstr(text, "# TYPE h histogram\n"));
    assert_null(strstr(text, "h_bucket"));
    free(text);
    dsvm_metrics_free(m);
}

static void metrics_refuse_misuse(void **state)
{
    static const double unsorted[] = {1, 0.5};
    static const double dup[] = {1, 1};
    dsvm_metrics *m = NULL;

    (void)state;
    assert_int_equal(dsvm_metrics_new(&m), 0);
    assert_int_equal(dsvm_metrics_declare(m, "c_total", DSVM_METRIC_COUNTER, "C.", NULL, 0), 0);
    assert_int_equal(dsvm_metrics_declare(m, "c_total", DSVM_METRIC_COUNTER, "C again.", NULL, 0),
                     0);
    assert_int_equal(dsvm_metrics_declare(m, "c_total", DSVM_METRIC_GAUGE, "C.", NULL, 0),
                     DSVM_EINVALID);
    assert_int_equal(dsvm_metrics_declare(m, "1abc", DSVM_METRIC_GAUGE, "", NULL, 0),
                     DSVM_EINVALID);
    assert_int_equal(dsvm_metrics_declare(m, "a-b", DSVM_METRIC_GAUGE, "", NULL, 0), DSVM_EINVALID);
    assert_int_equal(dsvm_metrics_declare(m, "", DSVM_METRIC_GAUGE, "", NULL, 0), DSVM_EINVALID);
    assert_int_equal(dsvm_metrics_declare(m, "h", DSVM_METRIC_HISTOGRAM, "", unsorted, 2),
                     DSVM_EINVALID);
    assert_int_equal(dsvm_metrics_declare(m, "h", DSVM_METRIC_HISTOGRAM, "", dup, 2),
                     DSVM_EINVALID);
    assert_int_equal(dsvm_metrics_declare(m, "ns:sub_total", DSVM_METRIC_COUNTER, "", NULL, 0), 0);

    assert_int_equal(dsvm_metrics_add(m, "undeclared", NULL, 1), DSVM_EINVALID);
    assert_int_equal(dsvm_metrics_add(m, "c_total", NULL, -1), DSVM_EINVALID);
    assert_int_equal(dsvm_metrics_set(m, "c_total", NULL, 5), DSVM_EINVALID);
    assert_int_equal(dsvm_metrics_observe(m, "c_total", NULL, 5), DSVM_EINVALID);
    assert_int_equal(dsvm_metrics_add(m, "c_total", (const char *[]){"a", "1", "a", "2", NULL}, 1),
                     DSVM_EINVALID);
    assert_int_equal(dsvm_metrics_add(m, "c_total", (const char *[]){"a", NULL}, 1), DSVM_EINVALID);
    assert_int_equal(dsvm_metrics_add(m, "c_total", (const char *[]){"bad-name", "x", NULL}, 1),
                     DSVM_EINVALID);
    assert_int_equal(dsvm_metrics_add(m, "c_total", (const char *[]){"__reserved", "x", NULL}, 1),
                     DSVM_EINVALID);
    assert_int_equal(dsvm_metrics_declare(m, "hh", DSVM_METRIC_HISTOGRAM, "", NULL, 0), 0);
    assert_int_equal(dsvm_metrics_observe(m, "hh", (const char *[]){"le", "1", NULL}, 1),
                     DSVM_EINVALID);
    assert_int_equal(dsvm_metrics_add(m, "hh", NULL, 1), DSVM_EINVALID);
    assert_true(strlen(dsvm_error_last()->message) > 0);
    dsvm_metrics_free(m);
    dsvm_metrics_free(NULL);
}

#define THREAD_ROUNDS 20000

static void *hammer(void *arg)
{
    dsvm_metrics *m = arg;
    int i;

    for (i = 0; i < THREAD_ROUNDS; i++) {
        if (dsvm_metrics_add(m, "hits_total", (const char *[]){"k", i % 2 ? "odd" : "even", NULL},
                             1) != 0 ||
            dsvm_metrics_observe(m, "lat_seconds", NULL, 0.2) != 0)
            return (void *)1;
    }
    return NULL;
}

static void metrics_are_thread_safe(void **state)
{
    dsvm_metrics *m = NULL;
    pthread_t t1, t2;
    void *r1, *r2;
    char *text;
    int i;

    (void)state;
    assert_int_equal(dsvm_metrics_new(&m), 0);
    assert_int_equal(dsvm_metrics_declare(m, "hits_total", DSVM_METRIC_COUNTER, "H.", NULL, 0), 0);
    assert_int_equal(dsvm_metrics_declare(m, "lat_seconds", DSVM_METRIC_HISTOGRAM, "L.", NULL, 0),
                     0);
    assert_int_equal(pthread_create(&t1, NULL, hammer, m), 0);
    assert_int_equal(pthread_create(&t2, NULL, hammer, m), 0);
    for (i = 0; i < 50; i++) {
        text = render(m);
        free(text);
    }
    assert_int_equal(pthread_join(t1, &r1), 0);
    assert_int_equal(pthread_join(t2, &r2), 0);
    assert_null(r1);
    assert_null(r2);
    text = render(m);
    assert_non_null(strstr(text, "hits_total{k=\"even\"} 20000\n"));
    assert_non_null(strstr(text, "hits_total{k=\"odd\"} 20000\n"));
    assert_non_null(strstr(text, "lat_seconds_bucket{le=\"0.1\"} 0\n"));
    assert_non_null(strstr(text, "lat_seconds_bucket{le=\"0.5\"} 40000\n"));
    assert_non_null(strstr(text, "lat_seconds_count 40000\n"));
    free(text);
    dsvm_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(metrics_render_small_registry_exactly),
        cmocka_unit_test(metrics_histogram_buckets_are_cumulative_per_series),
        cmocka_unit_test(metrics_escape_label_values_and_help),
        cmocka_unit_test(metrics_label_order_does_not_split_series),
        cmocka_unit_test(metrics_reset_drops_series),
        cmocka_unit_test(metrics_values_print_exactly),
        cmocka_unit_test(metrics_refuse_misuse),
        cmocka_unit_test(metrics_are_thread_safe),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
