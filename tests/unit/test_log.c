/*
 * The controller logger: levels filter, lines carry a UTC timestamp and the
 * level, and a sink receives each line whole.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dsvmops/error.h"
#include "log.h"

typedef struct {
    int lines;
    dsvm_log_level last_level;
    char last[512];
} sink_state;

static void sink(dsvm_log_level level, const char *line, void *payload)
{
    sink_state *s = payload;

    s->lines++;
    s->last_level = level;
    strncpy(s->last, line, sizeof(s->last) - 1);
    s->last[sizeof(s->last) - 1] = '\0';
}

static void log_filters_by_level_and_formats_lines(void **state)
{
    dsvm_log *log = NULL;
    sink_state s;

    (void)state;
    memset(&s, 0, sizeof(s));
    assert_int_equal(dsvm_log_new(&log, DSVM_LEVEL_WARN), 0);
    dsvm_log_set_sink(log, sink, &s);
    dsvm_log_write(log, DSVM_LEVEL_INFO, "hidden %d", 1);
    assert_int_equal(s.lines, 0);
    dsvm_log_write(log, DSVM_LEVEL_ERROR, "PUT %s failed", "x");
    assert_int_equal(s.lines, 1);
    assert_int_equal(s.last_level, DSVM_LEVEL_ERROR);
    /* 2026-12-03T13:12:11.123Z error PUT x failed */
    assert_int_equal(strlen(s.last), strlen("2026-12-03T13:12:11.123Z error PUT x failed"));
    assert_int_equal(s.last[10], 'T');
    assert_int_equal(s.last[23], 'Z');
    assert_string_equal(s.last + 24, " error PUT x failed");
    dsvm_log_set_level(log, DSVM_LEVEL_DEBUG);
    dsvm_log_write(log, DSVM_LEVEL_DEBUG, "now shown");
    assert_int_equal(s.lines, 2);
    assert_string_equal(s.last + 24, " debug now shown");
    dsvm_log_free(log);
    dsvm_log_free(NULL);
}

static void log_parses_level_words(void **state)
{
    dsvm_log_level l = DSVM_LEVEL_ERROR;

    (void)state;
    assert_int_equal(dsvm_log_level_parse(&l, "debug"), 0);
    assert_int_equal(l, DSVM_LEVEL_DEBUG);
    assert_int_equal(dsvm_log_level_parse(&l, "warn"), 0);
    assert_int_equal(l, DSVM_LEVEL_WARN);
    assert_int_equal(dsvm_log_level_parse(&l, "loud"), DSVM_EINVALID);
    assert_int_equal(l, DSVM_LEVEL_WARN);
    assert_non_null(strstr(dsvm_error_last()->message, "use debug, info, warn or error"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(log_filters_by_level_and_formats_lines),
        cmocka_unit_test(log_parses_level_words),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
