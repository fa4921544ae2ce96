/*
 * Metrics for /metrics: counters, gauges and histograms with labels,
 * rendered in the Prometheus text exposition format (version 0.0.4).
 *
 * A registry is an object, not a global. Every call is thread-safe: the
 * daemon's loop updates it while the HTTP server's threads render it.
 * Metric names follow Prometheus rules ([a-zA-Z_:][a-zA-Z0-9_:]*); label
 * values are escaped on output (backslash, double quote, newline).
 */
#ifndef DSVM_METRICS_H
#define DSVM_METRICS_H

#include <stddef.h>

typedef enum {
    DSVM_METRIC_COUNTER = 0,
    DSVM_METRIC_GAUGE,
    DSVM_METRIC_HISTOGRAM,
} dsvm_metric_type;

typedef struct dsvm_metrics dsvm_metrics;

/** Create an empty registry. Returns 0 or DSVM_ENOMEM. */
int dsvm_metrics_new(dsvm_metrics **out);

/** Free a registry; accepts NULL. */
void dsvm_metrics_free(dsvm_metrics *m);

/**
 * Declare a metric before first use. `buckets` (ascending upper bounds,
 * without +Inf) is for histograms only; NULL there means the default
 * 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300 seconds. Declaring the same
 * name again with the same type is harmless. Returns 0, DSVM_EINVALID
 * (bad name, or another type under that name) or DSVM_ENOMEM.
 */
int dsvm_metrics_declare(dsvm_metrics *m, const char *name, dsvm_metric_type type, const char *help,
                         const double *buckets, size_t nbuckets);

/*
 * `labels` is a NULL-terminated list of name, value pairs, e.g.
 * (const char *[]){"verb", "GET", "status", "200", NULL}, or NULL for none.
 * Each distinct set of label values is its own series. Using an
 * undeclared name, or a counter with a negative delta, is DSVM_EINVALID.
 */

/** Add `delta` (>= 0) to a counter, or to a gauge (any sign). */
int dsvm_metrics_add(dsvm_metrics *m, const char *name, const char *const *labels, double delta);

/** Set a gauge (a counter only goes up: use dsvm_metrics_add()). */
int dsvm_metrics_set(dsvm_metrics *m, const char *name, const char *const *labels, double value);

/** Record one observation in a histogram. */
int dsvm_metrics_observe(dsvm_metrics *m, const char *name, const char *const *labels,
                         double value);

/** Drop every series of a metric (e.g. before setting per-state gauges anew). */
int dsvm_metrics_reset(dsvm_metrics *m, const char *name);

/**
 * Render every metric, in declaration order, as Prometheus text: # HELP and
 * # TYPE lines, then the series (histograms as _bucket{le=...}, _sum and
 * _count). A declared metric without series is shown with its HELP and
 * TYPE lines only (a counter or gauge never used with labels shows 0).
 * Label names are sorted in the output, so one label set is one series
 * whatever order it was given in.
 * Returns 0 with a malloc'd string, or DSVM_ENOMEM.
 */
int dsvm_metrics_render(char **out, dsvm_metrics *m);

#endif
