/*
 * dsvmops error codes and the per-thread last error.
 *
 * A function that can fail returns 0 on success and a negative DSVM_E* code on
 * failure. Details (a class and a message) are kept per thread and read with
 * dsvm_error_last(), in the manner of libgit2's git_error_last().
 */
#ifndef DSVMOPS_ERROR_H
#define DSVMOPS_ERROR_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Return codes. Zero is success; every failure is negative. */
enum {
    DSVM_OK = 0,
    DSVM_ERROR = -1,     /**< generic failure; see dsvm_error_last() */
    DSVM_ENOMEM = -2,    /**< allocation failed */
    DSVM_ENOTFOUND = -3, /**< a file, object or resource does not exist */
    DSVM_EINVALID = -4,  /**< bad input: manifests, configuration, arguments */
    DSVM_EIO = -5,       /**< reading or writing a file failed */
    DSVM_ELIMIT = -6,    /**< an input exceeded a documented limit */
    DSVM_EEXISTS = -7,   /**< the object already exists */
    DSVM_EABI = -8,      /**< a plugin was built for another ABI */
    DSVM_ENET = -9,      /**< a network peer could not be reached */
    DSVM_EAUTH = -10,    /**< authentication was refused */
    DSVM_EREFUSED = -11, /**< refused by a safety guard */
    DSVM_EBUSY = -12,    /**< a lease or lock is held by someone else */
    DSVM_ETIMEOUT = -13, /**< a wait ended before what it waited for */
};

/** Error classes: which subsystem produced the last error. */
typedef enum {
    DSVM_ERRCLASS_NONE = 0,
    DSVM_ERRCLASS_NOMEMORY,
    DSVM_ERRCLASS_OS,
    DSVM_ERRCLASS_MANIFEST,
    DSVM_ERRCLASS_CONFIG,
    DSVM_ERRCLASS_PROVIDER,
    DSVM_ERRCLASS_NET,
    DSVM_ERRCLASS_STATE,
    DSVM_ERRCLASS_SOURCE,
    DSVM_ERRCLASS_INTERNAL,
} dsvm_error_class;

/** The last error of the calling thread. */
typedef struct {
    dsvm_error_class klass;
    const char *message; /**< never NULL; "" when no error was set */
} dsvm_error;

/**
 * Return the last error set on this thread. The pointer stays valid until
 * the next dsvm_error_set() or dsvm_error_clear() on the same thread.
 */
const dsvm_error *dsvm_error_last(void);

/**
 * Set the last error of this thread from a printf-style format. Any
 * previous message is replaced.
 */
void dsvm_error_set(dsvm_error_class klass, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** The va_list form of dsvm_error_set(). */
void dsvm_error_vset(dsvm_error_class klass, const char *fmt, va_list ap);

/** Set DSVM_ERRCLASS_NOMEMORY and return DSVM_ENOMEM, for `return dsvm_error_oom();`. */
int dsvm_error_oom(void);

/** Forget the last error of this thread and free its message. */
void dsvm_error_clear(void);

#ifdef __cplusplus
}
#endif

#endif
