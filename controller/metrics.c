/*
 * The metrics registry: a list of declared metrics, each with its series,
 * under one mutex. A series is keyed by its rendered label text (names
 * sorted, values escaped), so the key is also what /metrics prints
 * between the braces and equal label sets always meet in one series.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsvmops/error.h"
#include "metrics.h"

#define MAX_BUCKETS 64
#define MAX_LABELS  16

typedef struct {
    char *labels; /* rendered `a="x",b="y"`, "" for none */
    double value; /* counter or gauge */
    double sum;   /* histogram */
    uint64_t count;
    uint64_t *buckets; /* histogram: per-bucket (not cumulative) counts */
} series;

typedef struct {
    char *name;
    char *help;
    dsvm_metric_type type;
    double *bounds;
    size_t nbounds;
    int labelled; /* ever used with labels: no implicit "name 0" line */
    series *series;
    size_t nseries, capseries;
} metric;

struct dsvm_metrics {
    pthread_mutex_t lock;
    metric *metrics;
    size_t n, cap;
};

static const double default_bounds[] = {0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};

/* A growing string; `failed` sticks once an allocation fails. */
typedef struct {
    char *s;
    size_t len, cap;
    int failed;
} buf;

static void buf_add(buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *p;

        while (cap < b->len + n + 1)
            cap *= 2;
        p = realloc(b->s, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void buf_str(buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

/*
 * The shortest of %.15g and %.17g that reads back as `v`, and Prometheus'
 * spellings of the infinities and NaN. `out` holds at least 32 bytes.
 */
static void format_value(char *out, size_t size, double v)
{
    if (isnan(v)) {
        snprintf(out, size, "NaN");
    } else if (isinf(v)) {
        snprintf(out, size, "%s", v > 0 ? "+Inf" : "-Inf");
    } else {
        snprintf(out, size, "%.15g", v);
        if (strtod(out, NULL) != v)
            snprintf(out, size, "%.17g", v);
    }
}

static void buf_value(buf *b, double v)
{
    char tmp[40];

    format_value(tmp, sizeof(tmp), v);
    buf_str(b, tmp);
}

/* Label values escape backslash, double quote and newline; HELP text escapes no quotes. */
static void buf_escaped(buf *b, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            buf_add(b, "\\\\", 2);
        else if (*s == '\n')
            buf_add(b, "\\n", 2);
        else if (quote && *s == '"')
            buf_add(b, "\\\"", 2);
        else
            buf_add(b, s, 1);
    }
}

static int valid_name(const char *s, int colon)
{
    const char *p;

    if (!s || !*s)
        return 0;
    for (p = s; *p; p++) {
        int alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
                    (colon && *p == ':');
        if (!alpha && !(p > s && *p >= '0' && *p <= '9'))
            return 0;
    }
    return 1;
}

int dsvm_metrics_new(dsvm_metrics **out)
{
    dsvm_metrics *m = calloc(1, sizeof(*m));

    if (!m)
        return dsvm_error_oom();
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m);
        return dsvm_error_oom();
    }
    *out = m;
    return 0;
}

static void series_clear(series *s)
{
    free(s->labels);
    free(s->buckets);
}

static void metric_reset(metric *mt)
{
    size_t i;

    for (i = 0; i < mt->nseries; i++)
        series_clear(&mt->series[i]);
    free(mt->series);
    mt->series = NULL;
    mt->nseries = mt->capseries = 0;
}

void dsvm_metrics_free(dsvm_metrics *m)
{
    size_t i;

    if (!m)
        return;
    for (i = 0; i < m->n; i++) {
        metric_reset(&m->metrics[i]);
        free(m->metrics[i].name);
        free(m->metrics[i].help);
        free(m->metrics[i].bounds);
    }
    free(m->metrics);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* Called with the lock held. */
static metric *find_metric(dsvm_metrics *m, const char *name)
{
    size_t i;

    for (i = 0; i < m->n; i++) {
        if (strcmp(m->metrics[i].name, name) == 0)
            return &m->metrics[i];
    }
    return NULL;
}

static int check_bounds(const char *name, const double *b, size_t n)
{
    size_t i;

    if (n == 0 || n > MAX_BUCKETS) {
        dsvm_error_set(DSVM_ERRCLASS_INTERNAL, "metric %s: a histogram needs 1 to %d buckets", name,
                       MAX_BUCKETS);
        return DSVM_EINVALID;
    }
    for (i = 0; i < n; i++) {
        if (!isfinite(b[i]) || (i > 0 && b[i] <= b[i - 1])) {
            dsvm_error_set(DSVM_ERRCLASS_INTERNAL,
                           "metric %s: bucket bounds must be finite and ascending", name);
            return DSVM_EINVALID;
        }
    }
    return 0;
}

int dsvm_metrics_declare(dsvm_metrics *m, const char *name, dsvm_metric_type type, const char *help,
                         const double *buckets, size_t nbuckets)
{
    metric *mt, nm = {0};
    int rc = 0;

    if (!valid_name(name, 1) || type < DSVM_METRIC_COUNTER || type > DSVM_METRIC_HISTOGRAM) {
        dsvm_error_set(DSVM_ERRCLASS_INTERNAL, "invalid metric name \"%s\"", name ? name : "");
        return DSVM_EINVALID;
    }
    if (type == DSVM_METRIC_HISTOGRAM) {
        if (!buckets) {
            buckets = default_bounds;
            nbuckets = sizeof(default_bounds) / sizeof(default_bounds[0]);
        }
        rc = check_bounds(name, buckets, nbuckets);
        if (rc < 0)
            return rc;
    }
    pthread_mutex_lock(&m->lock);
    mt = find_metric(m, name);
    if (mt) {
        if (mt->type != type) {
            dsvm_error_set(DSVM_ERRCLASS_INTERNAL, "metric %s is already declared as another type",
                           name);
            rc = DSVM_EINVALID;
        }
        goto out;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        metric *p = realloc(m->metrics, cap * sizeof(*p));

        if (!p)
            goto oom;
        m->metrics = p;
        m->cap = cap;
    }
    nm.type = type;
    nm.name = strdup(name);
    nm.help = strdup(help ? help : "");
    if (!nm.name || !nm.help)
        goto oom;
    if (type == DSVM_METRIC_HISTOGRAM) {
        nm.bounds = malloc(nbuckets * sizeof(double));
        if (!nm.bounds)
            goto oom;
        memcpy(nm.bounds, buckets, nbuckets * sizeof(double));
        nm.nbounds = nbuckets;
    }
    m->metrics[m->n++] = nm;
    goto out;
oom:
    free(nm.name);
    free(nm.help);
    free(nm.bounds);
    rc = dsvm_error_oom();
out:
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/*
 * Render `labels` (NULL-terminated name, value pairs) as the series key:
 * names sorted, values escaped. Fails with DSVM_EINVALID for a bad or
 * repeated name, an odd list or "le" on a histogram.
 */
static int labels_key(char **out, const char *metric_name, dsvm_metric_type type,
                      const char *const *labels)
{
    const char *names[MAX_LABELS], *values[MAX_LABELS];
    size_t n = 0, i, j;
    buf b = {0};

    for (i = 0; labels && labels[i]; i += 2) {
        const char *name = labels[i], *value = labels[i + 1];

        if (!value || n == MAX_LABELS || !valid_name(name, 0) || strncmp(name, "__", 2) == 0 ||
            (type == DSVM_METRIC_HISTOGRAM && strcmp(name, "le") == 0)) {
            dsvm_error_set(DSVM_ERRCLASS_INTERNAL, "metric %s: bad label list at \"%s\"",
                           metric_name, name);
            return DSVM_EINVALID;
        }
        /* Insertion sort by name; a repeated name is an error. */
        for (j = n; j > 0 && strcmp(names[j - 1], name) > 0; j--) {
            names[j] = names[j - 1];
            values[j] = values[j - 1];
        }
        if (j > 0 && strcmp(names[j - 1], name) == 0) {
            dsvm_error_set(DSVM_ERRCLASS_INTERNAL, "metric %s: label \"%s\" given twice",
                           metric_name, name);
            return DSVM_EINVALID;
        }
        names[j] = name;
        values[j] = value;
        n++;
    }
    buf_add(&b, "", 0);
    for (i = 0; i < n; i++) {
        if (i > 0)
            buf_add(&b, ",", 1);
        buf_str(&b, names[i]);
        buf_add(&b, "=\"", 2);
        buf_escaped(&b, values[i], 1);
        buf_add(&b, "\"", 1);
    }
    if (b.failed) {
        free(b.s);
        return dsvm_error_oom();
    }
    *out = b.s;
    return 0;
}

/*
 * Find or create the series of `name` for `labels`, checking that the
 * metric is declared and of one of the types allowed (a bit mask of
 * 1 << type). Called with the lock held.
 */
static int get_series(series **out, metric **mout, dsvm_metrics *m, const char *name,
                      const char *const *labels, unsigned types)
{
    metric *mt = find_metric(m, name);
    char *key = NULL;
    series *s;
    size_t i;
    int rc;

    if (!mt) {
        dsvm_error_set(DSVM_ERRCLASS_INTERNAL, "metric %s is not declared", name ? name : "");
        return DSVM_EINVALID;
    }
    if (!(types & (1u << mt->type))) {
        dsvm_error_set(DSVM_ERRCLASS_INTERNAL, "metric %s does not take this operation", name);
        return DSVM_EINVALID;
    }
    rc = labels_key(&key, name, mt->type, labels);
    if (rc < 0)
        return rc;
    for (i = 0; i < mt->nseries; i++) {
        if (strcmp(mt->series[i].labels, key) == 0) {
            free(key);
            *out = &mt->series[i];
            *mout = mt;
            return 0;
        }
    }
    if (mt->nseries == mt->capseries) {
        size_t cap = mt->capseries ? mt->capseries * 2 : 4;
        series *p = realloc(mt->series, cap * sizeof(*p));

        if (!p)
            goto oom;
        mt->series = p;
        mt->capseries = cap;
    }
    s = &mt->series[mt->nseries];
    memset(s, 0, sizeof(*s));
    if (mt->type == DSVM_METRIC_HISTOGRAM) {
        s->buckets = calloc(mt->nbounds, sizeof(*s->buckets));
        if (!s->buckets)
            goto oom;
    }
    s->labels = key;
    mt->nseries++;
    if (*key)
        mt->labelled = 1;
    *out = s;
    *mout = mt;
    return 0;
oom:
    free(key);
    return dsvm_error_oom();
}

int dsvm_metrics_add(dsvm_metrics *m, const char *name, const char *const *labels, double delta)
{
    metric *mt;
    series *s;
    int rc;

    if (isnan(delta)) {
        dsvm_error_set(DSVM_ERRCLASS_INTERNAL, "metric %s: NaN delta", name ? name : "");
        return DSVM_EINVALID;
    }
    pthread_mutex_lock(&m->lock);
    rc = get_series(&s, &mt, m, name, labels,
                    (1u << DSVM_METRIC_COUNTER) | (1u << DSVM_METRIC_GAUGE));
    if (rc == 0 && mt->type == DSVM_METRIC_COUNTER && delta < 0) {
        dsvm_error_set(DSVM_ERRCLASS_INTERNAL, "counter %s cannot go down", name);
        rc = DSVM_EINVALID;
    }
    if (rc == 0)
        s->value += delta;
    pthread_mutex_unlock(&m->lock);
    return rc;
}

int dsvm_metrics_set(dsvm_metrics *m, const char *name, const char *const *labels, double value)
{
    metric *mt;
    series *s;
    int rc;

    pthread_mutex_lock(&m->lock);
    rc = get_series(&s, &mt, m, name, labels, 1u << DSVM_METRIC_GAUGE);
    if (rc == 0)
        s->value = value;
    pthread_mutex_unlock(&m->lock);
    return rc;
}

int dsvm_metrics_observe(dsvm_metrics *m, const char *name, const char *const *labels, double value)
{
    metric *mt;
    series *s;
    size_t i;
    int rc;

    if (isnan(value)) {
        dsvm_error_set(DSVM_ERRCLASS_INTERNAL, "metric %s: NaN observation", name ? name : "");
        return DSVM_EINVALID;
    }
    pthread_mutex_lock(&m->lock);
    rc = get_series(&s, &mt, m, name, labels, 1u << DSVM_METRIC_HISTOGRAM);
    if (rc == 0) {
        for (i = 0; i < mt->nbounds && value > mt->bounds[i]; i++)
            ;
        if (i < mt->nbounds)
            s->buckets[i]++;
        s->count++;
        s->sum += value;
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

int dsvm_metrics_reset(dsvm_metrics *m, const char *name)
{
    metric *mt;
    int rc = 0;

    pthread_mutex_lock(&m->lock);
    mt = find_metric(m, name ? name : "");
    if (mt) {
        metric_reset(mt);
    } else {
        dsvm_error_set(DSVM_ERRCLASS_INTERNAL, "metric %s is not declared", name ? name : "");
        rc = DSVM_EINVALID;
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* One sample line: NAME[SUFFIX]{LABELS[,le="X"]} VALUE */
static void render_sample(buf *b, const metric *mt, const char *suffix, const char *labels,
                          const char *le, double value)
{
    buf_str(b, mt->name);
    buf_str(b, suffix);
    if (*labels || le) {
        buf_add(b, "{", 1);
        buf_str(b, labels);
        if (le) {
            if (*labels)
                buf_add(b, ",", 1);
            buf_add(b, "le=\"", 4);
            buf_str(b, le);
            buf_add(b, "\"", 1);
        }
        buf_add(b, "}", 1);
    }
    buf_add(b, " ", 1);
    buf_value(b, value);
    buf_add(b, "\n", 1);
}

static void render_metric(buf *b, const metric *mt)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    size_t i, j;

    buf_str(b, "# HELP ");
    buf_str(b, mt->name);
    buf_add(b, " ", 1);
    buf_escaped(b, mt->help, 0);
    buf_str(b, "\n# TYPE ");
    buf_str(b, mt->name);
    buf_add(b, " ", 1);
    buf_str(b, type_names[mt->type]);
    buf_add(b, "\n", 1);
    if (mt->nseries == 0 && mt->type != DSVM_METRIC_HISTOGRAM && !mt->labelled)
        render_sample(b, mt, "", "", NULL, 0);
    for (i = 0; i < mt->nseries; i++) {
        const series *s = &mt->series[i];
        uint64_t cumulative = 0;
        char le[40];

        if (mt->type != DSVM_METRIC_HISTOGRAM) {
            render_sample(b, mt, "", s->labels, NULL, s->value);
            continue;
        }
        for (j = 0; j < mt->nbounds; j++) {
            cumulative += s->buckets[j];
            format_value(le, sizeof(le), mt->bounds[j]);
            render_sample(b, mt, "_bucket", s->labels, le, (double)cumulative);
        }
        render_sample(b, mt, "_bucket", s->labels, "+Inf", (double)s->count);
        render_sample(b, mt, "_sum", s->labels, NULL, s->sum);
        render_sample(b, mt, "_count", s->labels, NULL, (double)s->count);
    }
}

int dsvm_metrics_render(char **out, dsvm_metrics *m)
{
    buf b = {0};
    size_t i;

    pthread_mutex_lock(&m->lock);
    buf_add(&b, "", 0);
    for (i = 0; i < m->n; i++)
        render_metric(&b, &m->metrics[i]);
    pthread_mutex_unlock(&m->lock);
    if (b.failed) {
        free(b.s);
        return dsvm_error_oom();
    }
    *out = b.s;
    return 0;
}
