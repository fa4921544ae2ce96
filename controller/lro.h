/*
 * Long-running ARM operations (arm-wire A.6) on the host's http loop.
 *
 * dsvm_lro_submit() sends a write. When the answer is a 201/202 (or a 200
 * whose provisioningState is not terminal) it polls, with reads from the
 * read bucket: the Azure-AsyncOperation URL when there is one (status
 * InProgress/.../Succeeded/Failed/Canceled), else Location (202 = running,
 * 200/204 = done), else the resource itself (provisioningState). Retry-After
 * sets the pace; anything but Succeeded, Failed and Canceled is in progress.
 * A PUT or PATCH that succeeded is re-read with GET, so the result carries
 * the final model; a POST that named both URLs reads its result from
 * Location.
 */
#ifndef DSVM_LRO_H
#define DSVM_LRO_H

#include <stdint.h>

#include "http.h"

/** Settings; dsvm_lro_options_init() sets the defaults. */
typedef struct {
    int64_t timeout_ms;       /**< give up after this long (1800000 = 30 min) */
    int64_t poll_interval_ms; /**< between polls when no Retry-After is sent (2000) */
    int64_t poll_min_ms;      /**< never poll faster than this, even on "Retry-After: 0" (250) */
} dsvm_lro_options;

/** How an operation ended; valid during the callback only. */
typedef struct {
    int error;          /**< 0 when it succeeded, else a DSVM_E* code */
    const char *status; /**< "Succeeded", "Failed", "Canceled", or NULL (no poll, or no answer) */
    long http_status;   /**< status of the last answer */
    const char *body;   /**< final model (PUT/PATCH), result (POST) or ""; never NULL */
    size_t body_len;
    const char *error_code;    /**< ARM error code on failure, or NULL */
    const char *error_message; /**< ARM error message on failure, or NULL */
    const char *message;       /**< one-line summary on failure, safe to log */
    const char *request_id;    /**< x-ms-request-id of the initial answer, or NULL */
    int polls;                 /**< status polls made */
} dsvm_lro_result;

/** Completion callback; `res` is borrowed for the duration of the call. */
typedef void (*dsvm_lro_done_fn)(const dsvm_lro_result *res, void *payload);

/** Fill `opts` with the defaults. */
void dsvm_lro_options_init(dsvm_lro_options *opts);

/**
 * Send `req` and follow the operation to its end. `opts` may be NULL for
 * the defaults. The polls use the request's audience and flags and the read
 * bucket. Returns 0 (the callback runs exactly once, from dsvm_http_run() or
 * dsvm_http_free()) or the error of dsvm_http_submit().
 *
 * Failures reported to the callback: an HTTP error on the first answer or a
 * poll (DSVM_E* from dsvm_http_response_error()), an operation that ended
 * Failed or Canceled (DSVM_ERROR, with the ARM error), and the timeout
 * (DSVM_ERROR, "did not finish within ...").
 */
int dsvm_lro_submit(dsvm_http *h, const dsvm_http_request *req, const dsvm_lro_options *opts,
                    dsvm_lro_done_fn done, void *payload);

/**
 * Whether `state` is terminal: 1 for Succeeded, Failed and Canceled
 * (case-insensitive), 0 for anything else including NULL.
 */
int dsvm_lro_is_terminal(const char *state);

/** What an LRO answer's body says; the strings are borrowed from its document. */
typedef struct {
    const char *state;         /**< the monitor's "status" or properties.provisioningState */
    const char *error_code;    /**< code of "error" (else "properties.error"), or NULL */
    const char *error_message; /**< its message, or NULL */
} dsvm_lro_body;

/**
 * Parse an LRO answer's body: an Azure-AsyncOperation status monitor when
 * `monitor` is 1 (its "status"), else the resource (its
 * properties.provisioningState), and the ARM error of an operation that
 * failed. Returns the document (the caller json_decref()s it; NULL when
 * `len` is 0 or the body is not JSON) and fills `out`, whose fields are NULL
 * when absent. Pure, so that tests/fuzz/fuzz_arm.c can drive it.
 */
json_t *dsvm_lro_parse_body(dsvm_lro_body *out, const char *body, size_t len, int monitor);

#endif
