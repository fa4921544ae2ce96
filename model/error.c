/*
 * Per-thread last error. Thread-local storage holds one message per thread,
 * so the model library stays free of shared mutable state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsvmops/error.h"
#include "fmt.h"

static _Thread_local char *tls_message;
static _Thread_local dsvm_error tls_error = {DSVM_ERRCLASS_NONE, ""};
static const char oom_message[] = "out of memory";

const dsvm_error *dsvm_error_last(void)
{
    return &tls_error;
}

void dsvm_error_vset(dsvm_error_class klass, const char *fmt, va_list ap)
{
    char *msg = dsvm_vfmt(fmt, ap);

    free(tls_message);
    tls_message = msg;
    tls_error.klass = msg ? klass : DSVM_ERRCLASS_NOMEMORY;
    tls_error.message = msg ? msg : oom_message;
}

void dsvm_error_set(dsvm_error_class klass, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    dsvm_error_vset(klass, fmt, ap);
    va_end(ap);
}

int dsvm_error_oom(void)
{
    free(tls_message);
    tls_message = NULL;
    tls_error.klass = DSVM_ERRCLASS_NOMEMORY;
    tls_error.message = oom_message;
    return DSVM_ENOMEM;
}

void dsvm_error_clear(void)
{
    free(tls_message);
    tls_message = NULL;
    tls_error.klass = DSVM_ERRCLASS_NONE;
    tls_error.message = "";
}
