/*
 * Controller logging: levelled, timestamped lines to stderr or to a sink.
 *
 * A dsvm_log is an object, not a global: the controller makes one per
 * process and hands it to the modules that log (http, auth, lro). model/
 * never logs. Messages must never contain secrets or tokens; the modules
 * that handle them redact before they call dsvm_log_write().
 */
#ifndef DSVM_LOG_H
#define DSVM_LOG_H

#include <stdarg.h>
#include <stdio.h>

typedef enum {
    DSVM_LEVEL_DEBUG = 0,
    DSVM_LEVEL_INFO = 1,
    DSVM_LEVEL_WARN = 2,
    DSVM_LEVEL_ERROR = 3,
} dsvm_log_level;

/**
 * A sink receives each formatted line (without the trailing newline): level,
 * the line including its timestamp and level prefix, and the payload given
 * to dsvm_log_set_sink().
 */
typedef void (*dsvm_log_sink_fn)(dsvm_log_level level, const char *line, void *payload);

typedef struct dsvm_log dsvm_log;

/**
 * Create a logger that writes lines at `min_level` and above to stderr.
 * Returns 0, or DSVM_ENOMEM.
 */
int dsvm_log_new(dsvm_log **out, dsvm_log_level min_level);

/** Free a logger; NULL is accepted. */
void dsvm_log_free(dsvm_log *log);

/** Change the lowest level that is written. */
void dsvm_log_set_level(dsvm_log *log, dsvm_log_level min_level);

/**
 * Send lines to `sink` instead of stderr (NULL restores stderr). Tests use
 * this to capture the output.
 */
void dsvm_log_set_sink(dsvm_log *log, dsvm_log_sink_fn sink, void *payload);

/**
 * Parse "debug", "info", "warn" or "error" into `*out`. Returns 0, or
 * DSVM_EINVALID for any other word.
 */
int dsvm_log_level_parse(dsvm_log_level *out, const char *word);

/**
 * Write one line: "2026-01-01T12:00:00.123Z LEVEL message". A NULL `log`
 * writes to stderr at info level and above, so library callers that were
 * given no logger still report errors.
 */
void dsvm_log_write(dsvm_log *log, dsvm_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/**
 * Write lines as JSON objects ({"time", "level", "msg"} or, for events,
 * {"time", "level", "event", fields...}) instead of text.
 */
void dsvm_log_set_json(dsvm_log *log, int json);

/**
 * Write one event: "<time> LEVEL event=NAME key=value ..." (values with
 * spaces or quotes are quoted), or a JSON object in JSON mode. The
 * arguments after `event` are name, value string pairs ending with NULL;
 * a NULL value leaves its pair out of text lines.
 */
void dsvm_log_event(dsvm_log *log, dsvm_log_level level, const char *event, ...)
    __attribute__((sentinel));

/** The va_list form of dsvm_log_write(). */
void dsvm_log_vwrite(dsvm_log *log, dsvm_log_level level, const char *fmt, va_list ap);

#endif
