/*
 * The host's HTTP event loop (design rule 8): one curl multi handle, no
 * threads, shared connections, per-subscription token buckets, retries with
 * Retry-After and full-jitter backoff, a per-run correlation ID, bearer
 * tokens from an auth hook with one retry on 401, and counters for
 * /metrics.
 *
 * Usage: dsvm_http_new(), then dsvm_http_submit() any number of requests
 * (also from completion callbacks), then dsvm_http_run() until idle. Each
 * accepted request's callback runs exactly once, from dsvm_http_run() or
 * dsvm_http_free().
 *
 * Plain http:// is accepted only for loopback hosts (127.0.0.0/8, ::1,
 * localhost); TLS peer and host verification are always on.
 */
#ifndef DSVM_HTTP_H
#define DSVM_HTTP_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "log.h"
#include "ratelimit.h"

/** Request flags. */
enum {
    /** Also allow http:// to the IMDS address 169.254.169.254 (never proxied). */
    DSVM_HTTP_IMDS = 1u << 0,
    /** Do not retry: one attempt only (the 401 token retry still applies). */
    DSVM_HTTP_NO_RETRY = 1u << 1,
    /** A 404 is an expected answer (observe): log it at debug level only. */
    DSVM_HTTP_EXPECT_404 = 1u << 2,
};

/** What the auth hook returns when a token is being fetched. */
#define DSVM_HTTP_TOKEN_PENDING 1

/** HTTP verbs counted in the statistics. */
typedef enum {
    DSVM_HTTP_GET = 0,
    DSVM_HTTP_PUT,
    DSVM_HTTP_PATCH,
    DSVM_HTTP_DELETE,
    DSVM_HTTP_POST,
    DSVM_HTTP_HEAD,
    DSVM_HTTP_OTHER,
    DSVM_HTTP_VERB_COUNT,
} dsvm_http_verb;

/** Counters kept for the /metrics endpoint. */
typedef struct {
    uint64_t requests[DSVM_HTTP_VERB_COUNT]; /**< attempts sent, by verb */
    uint64_t responses_by_class[6];          /**< by status class: [2] = 2xx ... [5] = 5xx */
    uint64_t retries;          /**< attempts repeated after 429, 5xx, resets or timeouts */
    uint64_t throttled;        /**< 429 answers */
    uint64_t transport_errors; /**< attempts that got no HTTP answer */
    uint64_t failures;         /**< requests that ended in an error or a status >= 400 */
    uint64_t auth_retries;     /**< requests repeated once after a 401 */
    uint64_t bucket_waits;     /**< times a request waited for a client-side token bucket */
    uint64_t bytes_sent;
    uint64_t bytes_received;
    uint64_t connections; /**< sockets opened, i.e. new connections (the rest were reused) */
} dsvm_http_stats;

/** Settings of the event loop; set defaults with dsvm_http_options_init(). */
typedef struct {
    int max_concurrency;             /**< requests on the wire at once (16) */
    int max_attempts;                /**< tries per request for retryable failures (5) */
    int64_t backoff_base_ms;         /**< first backoff ceiling (500) */
    int64_t backoff_max_ms;          /**< largest backoff ceiling (30000) */
    int64_t retry_after_max_ms;      /**< cap on a server's Retry-After (300000) */
    int64_t principal_not_found_ms;  /**< how long PrincipalNotFound is retried (120000) */
    int64_t timeout_ms;              /**< one attempt, whole transfer (60000) */
    int64_t connect_timeout_ms;      /**< connection set-up (10000) */
    size_t max_body_bytes;           /**< larger answers fail, not retried (64 MiB) */
    const char *ca_file;             /**< extra CA bundle (PEM) or NULL for the system's */
    const char *correlation_id;      /**< NULL: a random UUID per dsvm_http */
    const dsvm_bucket_limit *limits; /**< three bucket limits, NULL: ARM's */
    dsvm_log *log;                   /**< borrowed; NULL logs to stderr */
    /**
     * Optional shutdown flag, set from a SIGTERM handler. Once it is non-zero
     * the loop starts nothing new: requests that are waiting (including
     * retries and LRO polls) complete with DSVM_ERROR ("cancelled: shutting
     * down"), and requests on the wire finish normally. Checked at least once
     * a second.
     */
    const volatile sig_atomic_t *stop;
    /**
     * Optional: told +1 when a long-running operation starts polling and -1
     * when it ends (from this loop's thread), for a gauge of LROs in flight.
     */
    void (*lro_in_flight)(int delta, void *payload);
    void *lro_payload;
} dsvm_http_options;

/** One request. Everything is copied by dsvm_http_submit(). */
typedef struct {
    const char *method;         /**< "GET", "PUT", ... */
    const char *url;            /**< absolute URL */
    const char *const *headers; /**< NULL-terminated "Name: value" lines, or NULL */
    const char *body;           /**< request body, or NULL */
    size_t body_len;            /**< 0 with a body means strlen(body) */
    dsvm_bucket_class bucket;   /**< which token bucket; DSVM_BUCKET_NONE for non-ARM */
    const char *audience;       /**< send a bearer token for this audience, or NULL */
    unsigned flags;             /**< DSVM_HTTP_* flags */
    int64_t delay_ms;           /**< send no earlier than this many ms from now */
} dsvm_http_request;

/**
 * The outcome of a request, valid only during the completion callback.
 * `error` is 0 when an HTTP answer arrived (whatever its status), else a
 * DSVM_E* code (DSVM_ENET: no answer after the allowed attempts; DSVM_EAUTH:
 * no token; DSVM_ERROR: cancelled) and `message` says why.
 */
typedef struct {
    int error;
    long status;      /**< HTTP status, or 0 */
    const char *body; /**< NUL-terminated, never NULL */
    size_t body_len;
    const char *method;         /**< as submitted */
    const char *url;            /**< as submitted (may hold query secrets: do not log) */
    const char *arm_code;       /**< error.code (ARM) or error (OAuth), or NULL */
    const char *arm_message;    /**< error.message or error_description, or NULL */
    const char *request_id;     /**< x-ms-request-id, or NULL */
    const char *correlation_id; /**< x-ms-correlation-request-id, or NULL */
    const char *message;        /**< one-line summary for a failure, safe to log; NULL on 2xx */
    int attempts;               /**< attempts made */
    void *internal;
} dsvm_http_response;

/** Completion callback; `resp` is borrowed for the duration of the call. */
typedef void (*dsvm_http_done_fn)(const dsvm_http_response *resp, void *payload);

/**
 * The bearer-token source, installed by the auth module. `get` returns 0
 * with a token borrowed until the next call, DSVM_HTTP_TOKEN_PENDING when a
 * fetch is under way on this loop (the request waits and asks again), or a
 * negative DSVM_E* with the error set. `refused` tells it that the server
 * answered 401 to `token`, so the next `get` fetches a new one.
 */
typedef struct {
    int (*get)(const char **out, const char *audience, void *payload);
    void (*refused)(const char *audience, const char *token, void *payload);
    void *payload;
} dsvm_http_auth;

typedef struct dsvm_http dsvm_http;

/** Fill `opts` with the defaults listed in dsvm_http_options. */
void dsvm_http_options_init(dsvm_http_options *opts);

/**
 * Create the event loop. `opts` may be NULL for the defaults. Returns 0,
 * DSVM_ENOMEM, DSVM_EINVALID for bad options (e.g. an unreadable ca_file),
 * or DSVM_ERROR when libcurl cannot be set up.
 */
int dsvm_http_new(dsvm_http **out, const dsvm_http_options *opts);

/**
 * Free the loop. Requests not yet finished complete with error DSVM_ERROR
 * ("cancelled") first, so their owners can free payloads. NULL is accepted.
 * Free the loop before the auth object installed in it.
 */
void dsvm_http_free(dsvm_http *h);

/** Install (or with NULL remove) the bearer-token source; it is copied. */
void dsvm_http_set_auth(dsvm_http *h, const dsvm_http_auth *auth);

/**
 * Queue a request. Returns 0 (the callback will run exactly once), or
 * DSVM_EINVALID when the URL is malformed or refused by the loopback rule,
 * or DSVM_ENOMEM; then the callback never runs.
 */
int dsvm_http_submit(dsvm_http *h, const dsvm_http_request *req, dsvm_http_done_fn done,
                     void *payload);

/**
 * Run the loop until no request is queued, waiting or on the wire.
 * Returns 0, or DSVM_ERROR when libcurl's multi interface fails.
 */
int dsvm_http_run(dsvm_http *h);

/** Whether the shutdown flag of the options has been raised. */
int dsvm_http_stopping(const dsvm_http *h);

/** Report an LRO starting (+1) or ending (-1) polling to the options' hook. */
void dsvm_http_note_lro(dsvm_http *h, int delta);

/** The counters; borrowed from `h`. */
const dsvm_http_stats *dsvm_http_get_stats(const dsvm_http *h);

/** The correlation ID sent as x-ms-correlation-request-id on every request. */
const char *dsvm_http_correlation_id(const dsvm_http *h);

/** Milliseconds on the monotonic clock the loop uses. */
int64_t dsvm_http_now_ms(void);

/** The token buckets of this loop; borrowed. */
dsvm_ratelimit *dsvm_http_ratelimit(dsvm_http *h);

/**
 * A response header (case-insensitive name), or NULL. Valid only during
 * the completion callback.
 */
const char *dsvm_http_response_header(const dsvm_http_response *resp, const char *name);

/**
 * Turn a failed response (error set or status >= 400) into the thread's
 * last error and return the matching code: the response's `error` when no
 * answer came (DSVM_ENET, DSVM_EAUTH, DSVM_ERROR for cancelled), DSVM_EAUTH
 * for 401/403, DSVM_ENOTFOUND for 404, DSVM_ERROR otherwise.
 * Returns 0 for a 1xx-3xx answer.
 */
int dsvm_http_response_error(const dsvm_http_response *resp);

/**
 * Check the loopback rule: https:// is accepted; http:// only when the host
 * is 127.0.0.0/8, ::1 or localhost (or, with DSVM_HTTP_IMDS in `flags`,
 * 169.254.169.254). Returns 0, or DSVM_EINVALID with a message that says
 * what to use instead.
 */
int dsvm_http_check_url(const char *url, unsigned flags);

/**
 * Copy `url` for logging: user info removed, and the values of query
 * parameters other than well-known harmless ones (api-version, $top,
 * $skiptoken, $filter, $expand, resource, client_id, ...) replaced by
 * "REDACTED". Returns 0 with a heap string, DSVM_EINVALID or DSVM_ENOMEM.
 */
int dsvm_http_redact_url(char **out, const char *url);

/**
 * Parse a Retry-After value: delta seconds ("3") or an HTTP date, relative
 * to `now`. A date in the past gives 0; a wait of more than a year either
 * way is invalid. Returns 0 with milliseconds in `*out_ms`, or DSVM_EINVALID.
 */
int dsvm_http_parse_retry_after(int64_t *out_ms, const char *value, time_t now);

/**
 * The full-jitter backoff for retry number `attempt` (0 for the first
 * retry): a value in [0, min(cap_ms, base_ms * 2^attempt)] chosen by
 * `random`.
 */
int64_t dsvm_http_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms, uint64_t random);

/**
 * Whether an answer is worth retrying: `curl_code` is a CURLcode (0 when an
 * answer came), `status` the HTTP status, `arm_code` the error code or NULL.
 * Returns 1 for connection resets, timeouts, 408, 429 and 5xx (except 501
 * and 505), 2 for PrincipalNotFound (retried for a bounded time), 0
 * otherwise.
 */
int dsvm_http_retryable(int curl_code, long status, const char *arm_code);

/**
 * The subscription ID in an ARM URL ("/subscriptions/{id}/..."), copied
 * into a heap string; "" for tenant-scope URLs. Returns 0 or DSVM_ENOMEM.
 */
int dsvm_http_subscription_of(char **out, const char *url);

/**
 * Parse the body of an error answer: ARM's {"error": {"code", "message"}}
 * or OAuth's {"error": "code", "error_description": "..."}. Returns the
 * document (the caller json_decref()s it; NULL when the body is not JSON)
 * and sets `*code` and `*message` to strings borrowed from it, or NULL.
 * Pure, so that tests/fuzz/fuzz_arm.c can drive it.
 */
json_t *dsvm_http_parse_error_body(const char **code, const char **message, const char *body,
                                   size_t len);

#endif
