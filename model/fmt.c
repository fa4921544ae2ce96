/*
 * Formatted strings on the heap. See fmt.h.
 */
#include <stdio.h>
#include <stdlib.h>

#include "fmt.h"

char *dsvm_vfmt(const char *fmt, va_list ap)
{
    va_list copy;
    char *s;
    int n;

    va_copy(copy, ap);
    n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0)
        return NULL;
    s = malloc((size_t)n + 1);
    if (!s)
        return NULL;
    va_copy(copy, ap);
    vsnprintf(s, (size_t)n + 1, fmt, copy);
    va_end(copy);
    return s;
}

char *dsvm_fmt(const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    s = dsvm_vfmt(fmt, ap);
    va_end(ap);
    return s;
}
