/*
 * Token buckets keyed by subscription. The number of subscriptions per
 * controller is small, so a growable array with a linear search is enough.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dsvmops/error.h"
#include "ratelimit.h"

typedef struct {
    double tokens;
    int64_t updated_ms; /* time of the last refill */
    int64_t blocked_ms; /* no tokens before this time (after a 429) */
} bucket;

typedef struct {
    char *subscription;
    bucket buckets[DSVM_BUCKET_COUNT];
} sub_buckets;

struct dsvm_ratelimit {
    dsvm_bucket_limit limits[DSVM_BUCKET_COUNT];
    sub_buckets *subs;
    size_t nsubs;
    size_t cap;
};

dsvm_bucket_limit dsvm_ratelimit_arm_limit(dsvm_bucket_class cls)
{
    static const dsvm_bucket_limit arm[DSVM_BUCKET_COUNT] = {
        {250.0, 25.0}, /* reads */
        {200.0, 10.0}, /* writes */
        {200.0, 10.0}, /* deletes */
    };
    dsvm_bucket_limit none = {0.0, 0.0};

    return cls < DSVM_BUCKET_COUNT ? arm[cls] : none;
}

int dsvm_ratelimit_new(dsvm_ratelimit **out, const dsvm_bucket_limit *limits)
{
    dsvm_ratelimit *rl;
    int i;

    for (i = 0; limits && i < DSVM_BUCKET_COUNT; i++) {
        if (!(limits[i].burst >= 1.0) || !(limits[i].per_sec > 0.0)) {
            dsvm_error_set(DSVM_ERRCLASS_CONFIG,
                           "token bucket %d: burst must be at least 1 and the rate above 0", i);
            return DSVM_EINVALID;
        }
    }
    rl = calloc(1, sizeof(*rl));
    if (!rl)
        return dsvm_error_oom();
    for (i = 0; i < DSVM_BUCKET_COUNT; i++)
        rl->limits[i] = limits ? limits[i] : dsvm_ratelimit_arm_limit((dsvm_bucket_class)i);
    *out = rl;
    return 0;
}

void dsvm_ratelimit_free(dsvm_ratelimit *rl)
{
    size_t i;

    if (!rl)
        return;
    for (i = 0; i < rl->nsubs; i++)
        free(rl->subs[i].subscription);
    free(rl->subs);
    free(rl);
}

/* Find or create the buckets of `subscription`; new buckets start full. */
static sub_buckets *lookup(dsvm_ratelimit *rl, const char *subscription, int64_t now_ms)
{
    sub_buckets *s;
    size_t i;
    int c;

    if (!subscription)
        subscription = "";
    for (i = 0; i < rl->nsubs; i++)
        if (strcasecmp(rl->subs[i].subscription, subscription) == 0)
            return &rl->subs[i];
    if (rl->nsubs == rl->cap) {
        size_t ncap = rl->cap ? rl->cap * 2 : 4;
        sub_buckets *n = realloc(rl->subs, ncap * sizeof(*n));

        if (!n)
            return NULL;
        rl->subs = n;
        rl->cap = ncap;
    }
    s = &rl->subs[rl->nsubs];
    s->subscription = strdup(subscription);
    if (!s->subscription)
        return NULL;
    for (c = 0; c < DSVM_BUCKET_COUNT; c++) {
        s->buckets[c].tokens = rl->limits[c].burst;
        s->buckets[c].updated_ms = now_ms;
        s->buckets[c].blocked_ms = 0;
    }
    rl->nsubs++;
    return s;
}

/* Add the tokens earned since the last refill, up to the burst. */
static void refill(bucket *b, const dsvm_bucket_limit *lim, int64_t now_ms)
{
    int64_t from = b->updated_ms > b->blocked_ms ? b->updated_ms : b->blocked_ms;

    if (now_ms > from) {
        b->tokens += (double)(now_ms - from) * lim->per_sec / 1000.0;
        if (b->tokens > lim->burst)
            b->tokens = lim->burst;
    }
    if (now_ms > b->updated_ms)
        b->updated_ms = now_ms;
}

int dsvm_ratelimit_acquire(int64_t *wait_ms, dsvm_ratelimit *rl, const char *subscription,
                           dsvm_bucket_class cls, int64_t now_ms)
{
    const dsvm_bucket_limit *lim;
    sub_buckets *s;
    bucket *b;
    double missing;
    int64_t wait;

    if (cls >= DSVM_BUCKET_COUNT) {
        *wait_ms = 0;
        return 0;
    }
    s = lookup(rl, subscription, now_ms);
    if (!s)
        return dsvm_error_oom();
    b = &s->buckets[cls];
    lim = &rl->limits[cls];
    if (now_ms < b->blocked_ms) {
        /* closed after a 429: wait for the reopening plus one token */
        *wait_ms = b->blocked_ms - now_ms + (int64_t)ceil(1000.0 / lim->per_sec);
        return 0;
    }
    refill(b, lim, now_ms);
    if (b->tokens >= 1.0 - 1e-9) {
        b->tokens -= 1.0;
        *wait_ms = 0;
        return 0;
    }
    missing = 1.0 - b->tokens;
    /* the epsilon keeps float noise from adding a millisecond */
    wait = (int64_t)ceil(missing * 1000.0 / lim->per_sec - 1e-6);
    *wait_ms = wait > 0 ? wait : 1;
    return 0;
}

int dsvm_ratelimit_drain(dsvm_ratelimit *rl, const char *subscription, dsvm_bucket_class cls,
                         int64_t now_ms, int64_t retry_after_ms)
{
    sub_buckets *s;
    bucket *b;
    int64_t until;

    if (cls >= DSVM_BUCKET_COUNT)
        return 0;
    s = lookup(rl, subscription, now_ms);
    if (!s)
        return dsvm_error_oom();
    b = &s->buckets[cls];
    b->tokens = 0.0;
    b->updated_ms = now_ms;
    until = now_ms + (retry_after_ms > 0 ? retry_after_ms : 0);
    if (until > b->blocked_ms)
        b->blocked_ms = until;
    return 0;
}

int dsvm_ratelimit_observe(dsvm_ratelimit *rl, const char *subscription, dsvm_bucket_class cls,
                           int64_t now_ms, double remaining)
{
    sub_buckets *s;
    bucket *b;

    if (cls >= DSVM_BUCKET_COUNT || remaining < 0)
        return 0;
    s = lookup(rl, subscription, now_ms);
    if (!s)
        return dsvm_error_oom();
    b = &s->buckets[cls];
    refill(b, &rl->limits[cls], now_ms);
    if (remaining < b->tokens)
        b->tokens = remaining;
    return 0;
}

double dsvm_ratelimit_available(dsvm_ratelimit *rl, const char *subscription, dsvm_bucket_class cls,
                                int64_t now_ms)
{
    sub_buckets *s;
    bucket *b;

    if (cls >= DSVM_BUCKET_COUNT)
        return 0.0;
    s = lookup(rl, subscription, now_ms);
    if (!s)
        return 0.0;
    b = &s->buckets[cls];
    if (now_ms < b->blocked_ms)
        return 0.0;
    refill(b, &rl->limits[cls], now_ms);
    return b->tokens;
}
