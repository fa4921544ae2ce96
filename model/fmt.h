/*
 * Formatted strings on the heap, shared by every module that builds
 * messages and paths: one implementation of the vsnprintf-measure-then-
 * write pattern instead of one per file.
 */
#ifndef DSVM_FMT_H
#define DSVM_FMT_H

#include <stdarg.h>

/** A malloc'd string formatted like printf(); NULL when out of memory. */
char *dsvm_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** The va_list form of dsvm_fmt(); `ap` is not consumed (it is copied). */
char *dsvm_vfmt(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

#endif
