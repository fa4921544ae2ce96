/*
 * Levelled, timestamped log lines. Each line is formatted into one heap
 * buffer and written with a single call so lines from one process do not
 * interleave mid-line.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "dsvmops/error.h"
#include "log.h"

struct dsvm_log {
    dsvm_log_level min_level;
    int json;
    dsvm_log_sink_fn sink;
    void *payload;
};

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int dsvm_log_new(dsvm_log **out, dsvm_log_level min_level)
{
    dsvm_log *log = calloc(1, sizeof(*log));

    if (!log)
        return dsvm_error_oom();
    log->min_level = min_level;
    *out = log;
    return 0;
}

void dsvm_log_free(dsvm_log *log)
{
    free(log);
}

void dsvm_log_set_level(dsvm_log *log, dsvm_log_level min_level)
{
    log->min_level = min_level;
}

void dsvm_log_set_sink(dsvm_log *log, dsvm_log_sink_fn sink, void *payload)
{
    log->sink = sink;
    log->payload = payload;
}

int dsvm_log_level_parse(dsvm_log_level *out, const char *word)
{
    size_t i;

    for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(word, level_names[i]) == 0) {
            *out = (dsvm_log_level)i;
            return 0;
        }
    }
    dsvm_error_set(DSVM_ERRCLASS_CONFIG, "unknown log level \"%s\"; use debug, info, warn or error",
                   word);
    return DSVM_EINVALID;
}

void dsvm_log_set_json(dsvm_log *log, int json)
{
    log->json = json;
}

static int enabled(const dsvm_log *log, dsvm_log_level level)
{
    dsvm_log_level min = log ? log->min_level : DSVM_LEVEL_INFO;

    return level >= min && level <= DSVM_LEVEL_ERROR;
}

/* "2026-01-01T12:00:00.123Z" */
static void timestamp(char out[32])
{
    struct timespec ts;
    struct tm tm;
    char stamp[24];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%.20s.%03dZ", stamp, (int)(ts.tv_nsec / 1000000));
}

static void emit(dsvm_log *log, dsvm_log_level level, char *line)
{
    if (log && log->sink) {
        log->sink(level, line, log->payload);
    } else {
        fprintf(stderr, "%s\n", line);
    }
}

/* One JSON line from {"time", "level"} plus `fields` (stolen). */
static void emit_json(dsvm_log *log, dsvm_log_level level, json_t *fields)
{
    char stamp[32];
    char *line;

    timestamp(stamp);
    if (!fields)
        return;
    json_object_set_new(fields, "time", json_string(stamp));
    json_object_set_new(fields, "level", json_string(level_names[level]));
    line = json_dumps(fields, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(fields);
    if (line)
        emit(log, level, line);
    free(line);
}

/* A value as written after key=: bare when it is one plain word, else quoted. */
static int needs_quotes(const char *v)
{
    if (!*v)
        return 1;
    for (; *v; v++)
        if (*v <= ' ' || *v == '"' || *v == '=' || *v == '\\' || (unsigned char)*v >= 0x7f)
            return 1;
    return 0;
}

void dsvm_log_event(dsvm_log *log, dsvm_log_level level, const char *event, ...)
{
    va_list ap;
    const char *k, *v;

    if (!enabled(log, level))
        return;
    va_start(ap, event);
    if (log && log->json) {
        json_t *fields = json_object();

        json_object_set_new(fields, "event", json_string(event));
        while ((k = va_arg(ap, const char *)) != NULL) {
            v = va_arg(ap, const char *);
            json_object_set_new(fields, k, v ? json_string(v) : json_null());
        }
        emit_json(log, level, fields);
    } else {
        char stamp[32], *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        timestamp(stamp);
        if (f) {
            fprintf(f, "%s %-5s event=%s", stamp, level_names[level], event);
            while ((k = va_arg(ap, const char *)) != NULL) {
                v = va_arg(ap, const char *);
                if (!v)
                    continue;
                if (!needs_quotes(v)) {
                    fprintf(f, " %s=%s", k, v);
                    continue;
                }
                fprintf(f, " %s=\"", k);
                for (; *v; v++) {
                    if (*v == '"' || *v == '\\')
                        fprintf(f, "\\%c", *v);
                    else if (*v == '\n')
                        fputs("\\n", f);
                    else if ((unsigned char)*v < ' ')
                        fputc(' ', f);
                    else
                        fputc(*v, f);
                }
                fputc('"', f);
            }
            if (fclose(f) == 0 && buf)
                emit(log, level, buf);
        }
        free(buf);
    }
    va_end(ap);
}

void dsvm_log_vwrite(dsvm_log *log, dsvm_log_level level, const char *fmt, va_list ap)
{
    char stamp[32], head[64];
    va_list copy;
    char *line = NULL;
    size_t prefix;
    int n;

    if (!enabled(log, level))
        return;
    timestamp(stamp);
    snprintf(head, sizeof(head), "%s %-5s ", stamp, level_names[level]);

    va_copy(copy, ap);
    n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0)
        return;
    prefix = strlen(head);
    line = malloc(prefix + (size_t)n + 2);
    if (!line)
        return;
    memcpy(line, head, prefix);
    vsnprintf(line + prefix, (size_t)n + 1, fmt, ap);
    if (log && log->json)
        emit_json(log, level, json_pack("{s:s}", "msg", line + prefix));
    else
        emit(log, level, line);
    free(line);
}

void dsvm_log_write(dsvm_log *log, dsvm_log_level level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    dsvm_log_vwrite(log, level, fmt, ap);
    va_end(ap);
}
