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

#include "dsvmops/error.h"
#include "log.h"

struct dsvm_log {
    dsvm_log_level min_level;
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

void dsvm_log_vwrite(dsvm_log *log, dsvm_log_level level, const char *fmt, va_list ap)
{
    dsvm_log_level min = log ? log->min_level : DSVM_LEVEL_INFO;
    struct timespec ts;
    struct tm tm;
    char stamp[32], head[64];
    va_list copy;
    char *line = NULL;
    size_t prefix;
    int n;

    if (level < min || level > DSVM_LEVEL_ERROR)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(head, sizeof(head), "%.24s.%03dZ %-5s ", stamp, (int)(ts.tv_nsec / 1000000),
             level_names[level]);

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

    if (log && log->sink) {
        log->sink(level, line, log->payload);
    } else {
        strcat(line, "\n");
        fputs(line, stderr);
    }
    free(line);
}

void dsvm_log_write(dsvm_log *log, dsvm_log_level level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    dsvm_log_vwrite(log, level, fmt, ap);
    va_end(ap);
}
