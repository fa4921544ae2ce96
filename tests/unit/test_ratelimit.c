/*
 * Token buckets on a fake clock: ARM's bursts and refill rates, the wait
 * returned for an empty bucket, draining after a 429, and isolation between
 * subscriptions and classes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dsvmops/error.h"
#include "ratelimit.h"

#define SUB "00000000-0000-0000-0000-000000000001"

static int take(dsvm_ratelimit *rl, const char *sub, dsvm_bucket_class cls, int64_t now,
                int64_t *wait)
{
    assert_int_equal(dsvm_ratelimit_acquire(wait, rl, sub, cls, now), 0);
    return *wait == 0;
}

static void ratelimit_reads_burst_250_then_wait_40ms(void **state)
{
    dsvm_ratelimit *rl = NULL;
    int64_t wait = -1;
    int i;

    (void)state;
    assert_int_equal(dsvm_ratelimit_new(&rl, NULL), 0);
    for (i = 0; i < 250; i++)
        assert_true(take(rl, SUB, DSVM_BUCKET_READ, 1000, &wait));
    assert_false(take(rl, SUB, DSVM_BUCKET_READ, 1000, &wait));
    assert_int_equal(wait, 40); /* 1 token at 25/s */
    /* still empty 39 ms later, one token at 40 ms */
    assert_false(take(rl, SUB, DSVM_BUCKET_READ, 1039, &wait));
    assert_int_equal(wait, 1);
    assert_true(take(rl, SUB, DSVM_BUCKET_READ, 1040, &wait));
    assert_false(take(rl, SUB, DSVM_BUCKET_READ, 1040, &wait));
    dsvm_ratelimit_free(rl);
}

static void ratelimit_writes_and_deletes_are_200_at_10_per_second(void **state)
{
    dsvm_ratelimit *rl = NULL;
    int64_t wait = -1;
    int i;

    (void)state;
    assert_int_equal(dsvm_ratelimit_new(&rl, NULL), 0);
    for (i = 0; i < 200; i++) {
        assert_true(take(rl, SUB, DSVM_BUCKET_WRITE, 0, &wait));
        assert_true(take(rl, SUB, DSVM_BUCKET_DELETE, 0, &wait));
    }
    assert_false(take(rl, SUB, DSVM_BUCKET_WRITE, 0, &wait));
    assert_int_equal(wait, 100);
    assert_false(take(rl, SUB, DSVM_BUCKET_DELETE, 0, &wait));
    assert_int_equal(wait, 100);
    /* reads are a separate bucket and still full */
    assert_true(take(rl, SUB, DSVM_BUCKET_READ, 0, &wait));
    /* one second refills ten writes, not more */
    for (i = 0; i < 10; i++)
        assert_true(take(rl, SUB, DSVM_BUCKET_WRITE, 1000, &wait));
    assert_false(take(rl, SUB, DSVM_BUCKET_WRITE, 1000, &wait));
    dsvm_ratelimit_free(rl);
}

static void ratelimit_refill_stops_at_the_burst(void **state)
{
    dsvm_ratelimit *rl = NULL;
    int64_t wait;

    (void)state;
    assert_int_equal(dsvm_ratelimit_new(&rl, NULL), 0);
    assert_true(take(rl, SUB, DSVM_BUCKET_READ, 0, &wait));
    assert_true(dsvm_ratelimit_available(rl, SUB, DSVM_BUCKET_READ, 3600000) == 250.0);
    dsvm_ratelimit_free(rl);
}

/* A client that sends whenever acquire allows never exceeds burst + rate * t. */
static void ratelimit_never_hands_out_more_than_the_budget(void **state)
{
    dsvm_bucket_limit lim[3] = {{5, 2}, {5, 2}, {5, 2}};
    dsvm_ratelimit *rl = NULL;
    int64_t now = 0, wait = 0, sent = 0;

    (void)state;
    assert_int_equal(dsvm_ratelimit_new(&rl, lim), 0);
    while (now <= 10000) {
        if (take(rl, SUB, DSVM_BUCKET_READ, now, &wait)) {
            sent++;
            assert_true(sent <= 5 + 2 * now / 1000);
        } else {
            assert_true(wait > 0);
            now += wait;
        }
    }
    /* and it does use the budget: 5 + 2 * 10 */
    assert_int_equal(sent, 25);
    dsvm_ratelimit_free(rl);
}

static void ratelimit_drain_closes_the_bucket_until_retry_after(void **state)
{
    dsvm_ratelimit *rl = NULL;
    int64_t wait = 0;

    (void)state;
    assert_int_equal(dsvm_ratelimit_new(&rl, NULL), 0);
    assert_true(take(rl, SUB, DSVM_BUCKET_READ, 0, &wait));
    assert_int_equal(dsvm_ratelimit_drain(rl, SUB, DSVM_BUCKET_READ, 100, 2000), 0);
    assert_false(take(rl, SUB, DSVM_BUCKET_READ, 100, &wait));
    assert_int_equal(wait, 2000 + 40);
    assert_false(take(rl, SUB, DSVM_BUCKET_READ, 2099, &wait));
    /* reopens empty and refills from the reopening */
    assert_false(take(rl, SUB, DSVM_BUCKET_READ, 2100, &wait));
    assert_int_equal(wait, 40);
    assert_true(take(rl, SUB, DSVM_BUCKET_READ, 2140, &wait));
    /* writes were not drained */
    assert_true(take(rl, SUB, DSVM_BUCKET_WRITE, 100, &wait));
    dsvm_ratelimit_free(rl);
}

static void ratelimit_subscriptions_are_independent(void **state)
{
    dsvm_bucket_limit lim[3] = {{1, 1}, {1, 1}, {1, 1}};
    dsvm_ratelimit *rl = NULL;
    int64_t wait;

    (void)state;
    assert_int_equal(dsvm_ratelimit_new(&rl, lim), 0);
    assert_true(take(rl, "sub-a", DSVM_BUCKET_READ, 0, &wait));
    assert_false(take(rl, "sub-a", DSVM_BUCKET_READ, 0, &wait));
    assert_int_equal(wait, 1000);
    assert_true(take(rl, "sub-b", DSVM_BUCKET_READ, 0, &wait));
    /* subscription IDs compare case-insensitively, as ARM does */
    assert_false(take(rl, "SUB-A", DSVM_BUCKET_READ, 0, &wait));
    /* non-ARM requests are never limited */
    assert_true(take(rl, "sub-a", DSVM_BUCKET_NONE, 0, &wait));
    assert_true(take(rl, "sub-a", DSVM_BUCKET_NONE, 0, &wait));
    dsvm_ratelimit_free(rl);
}

static void ratelimit_follows_the_servers_remaining_count_downwards(void **state)
{
    dsvm_ratelimit *rl = NULL;
    int64_t wait;
    int i;

    (void)state;
    assert_int_equal(dsvm_ratelimit_new(&rl, NULL), 0);
    assert_true(take(rl, SUB, DSVM_BUCKET_WRITE, 0, &wait));
    /* another client spent most of the budget: 3 left, not 199 */
    assert_int_equal(dsvm_ratelimit_observe(rl, SUB, DSVM_BUCKET_WRITE, 0, 3), 0);
    for (i = 0; i < 3; i++)
        assert_true(take(rl, SUB, DSVM_BUCKET_WRITE, 0, &wait));
    assert_false(take(rl, SUB, DSVM_BUCKET_WRITE, 0, &wait));
    assert_int_equal(wait, 100);
    /* a higher report does not add tokens */
    assert_int_equal(dsvm_ratelimit_observe(rl, SUB, DSVM_BUCKET_WRITE, 0, 150), 0);
    assert_false(take(rl, SUB, DSVM_BUCKET_WRITE, 0, &wait));
    dsvm_ratelimit_free(rl);
}

static void ratelimit_rejects_bad_limits(void **state)
{
    dsvm_bucket_limit lim[3] = {{0, 1}, {1, 1}, {1, 1}};
    dsvm_ratelimit *rl = NULL;

    (void)state;
    assert_int_equal(dsvm_ratelimit_new(&rl, lim), DSVM_EINVALID);
    assert_null(rl);
    lim[0].burst = 1;
    lim[2].per_sec = 0;
    assert_int_equal(dsvm_ratelimit_new(&rl, lim), DSVM_EINVALID);
    dsvm_ratelimit_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ratelimit_reads_burst_250_then_wait_40ms),
        cmocka_unit_test(ratelimit_writes_and_deletes_are_200_at_10_per_second),
        cmocka_unit_test(ratelimit_refill_stops_at_the_burst),
        cmocka_unit_test(ratelimit_never_hands_out_more_than_the_budget),
        cmocka_unit_test(ratelimit_drain_closes_the_bucket_until_retry_after),
        cmocka_unit_test(ratelimit_subscriptions_are_independent),
        cmocka_unit_test(ratelimit_follows_the_servers_remaining_count_downwards),
        cmocka_unit_test(ratelimit_rejects_bad_limits),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
