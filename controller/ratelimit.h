/*
 * Client-side token buckets per subscription (design rule 7).
 *
 * Each subscription has one bucket per operation class with ARM's limits:
 * reads 250 burst and 25/s, writes 200 and 10/s, deletes 200 and 10/s. LRO
 * polls are reads. Time is a monotonic clock in milliseconds passed in by
 * the caller, so tests drive it with a fake clock. A request is sent only
 * after dsvm_ratelimit_acquire() has taken a token for it.
 */
#ifndef DSVM_RATELIMIT_H
#define DSVM_RATELIMIT_H

#include <stdint.h>

/** Operation classes; each has its own bucket. */
typedef enum {
    DSVM_BUCKET_READ = 0,
    DSVM_BUCKET_WRITE = 1,
    DSVM_BUCKET_DELETE = 2,
    DSVM_BUCKET_COUNT = 3,
    DSVM_BUCKET_NONE = 3, /**< not an ARM call (token endpoint, IMDS): not limited */
} dsvm_bucket_class;

/** Size and refill rate of one bucket. */
typedef struct {
    double burst;   /**< tokens when full */
    double per_sec; /**< tokens added per second */
} dsvm_bucket_limit;

typedef struct dsvm_ratelimit dsvm_ratelimit;

/**
 * Create an empty set of buckets. `limits` gives the three classes in
 * dsvm_bucket_class order, or NULL for ARM's limits. A bucket starts full
 * when its subscription is first seen. Returns 0 or DSVM_ENOMEM; a burst
 * below 1 or a rate not above 0 is DSVM_EINVALID.
 */
int dsvm_ratelimit_new(dsvm_ratelimit **out, const dsvm_bucket_limit *limits);

/** Free the buckets; NULL is accepted. */
void dsvm_ratelimit_free(dsvm_ratelimit *rl);

/** ARM's per-subscription limits for `cls` (design rule 7). */
dsvm_bucket_limit dsvm_ratelimit_arm_limit(dsvm_bucket_class cls);

/**
 * Take one token of class `cls` for `subscription` ("" for tenant scope) at
 * time `now_ms`. Writes 0 to `*wait_ms` and takes the token when one is
 * there; otherwise takes nothing and writes how many milliseconds from
 * `now_ms` until one will be (always at least 1). DSVM_BUCKET_NONE always
 * succeeds at once. Returns 0, or DSVM_ENOMEM when a new subscription's
 * buckets cannot be allocated.
 */
int dsvm_ratelimit_acquire(int64_t *wait_ms, dsvm_ratelimit *rl, const char *subscription,
                           dsvm_bucket_class cls, int64_t now_ms);

/**
 * Empty the bucket after the server answered 429, and keep it closed until
 * `now_ms + retry_after_ms`: no token is handed out before then, and the
 * bucket refills from zero afterwards. Unknown subscriptions are created.
 * Returns 0 or DSVM_ENOMEM.
 */
int dsvm_ratelimit_drain(dsvm_ratelimit *rl, const char *subscription, dsvm_bucket_class cls,
                         int64_t now_ms, int64_t retry_after_ms);

/**
 * Lower the bucket to what the server reports it has left
 * (x-ms-ratelimit-remaining-subscription-reads/-writes/-deletes): other
 * clients of the same subscription spend from the same server budget. A
 * report above the client's own count changes nothing. Returns 0 or
 * DSVM_ENOMEM.
 */
int dsvm_ratelimit_observe(dsvm_ratelimit *rl, const char *subscription, dsvm_bucket_class cls,
                           int64_t now_ms, double remaining);

/**
 * Tokens currently in a bucket at `now_ms` (after refill), for metrics and
 * tests. An unknown subscription reports a full bucket.
 */
double dsvm_ratelimit_available(dsvm_ratelimit *rl, const char *subscription, dsvm_bucket_class cls,
                                int64_t now_ms);

#endif
