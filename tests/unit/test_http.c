/*
 * The pure parts of the transport: full-jitter backoff bounds, Retry-After
 * parsing, retry classification, the loopback-only rule, URL redaction for
 * logs, and that a refused URL never reaches the wire.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "auth.h"
#include "dsvmops/error.h"
#include "http.h"
#include "lro.h"

static void http_backoff_stays_within_full_jitter_bounds(void **state)
{
    int attempt;

    (void)state;
    for (attempt = 0; attempt < 12; attempt++) {
        int64_t ceiling = 500;
        int i;

        for (i = 0; i < attempt && ceiling < 30000; i++)
            ceiling *= 2;
        if (ceiling > 30000)
            ceiling = 30000;
        /* the lowest and highest draws hit the bounds exactly */
        assert_int_equal(dsvm_http_backoff_ms(attempt, 500, 30000, 0), 0);
        assert_int_equal(dsvm_http_backoff_ms(attempt, 500, 30000, (uint64_t)ceiling), ceiling);
        assert_true(dsvm_http_backoff_ms(attempt, 500, 30000, UINT64_MAX) <= ceiling);
        assert_true(dsvm_http_backoff_ms(attempt, 500, 30000, 123456789) <= ceiling);
    }
    /* it grows: the ceiling of retry 3 is 4000 ms */
    assert_int_equal(dsvm_http_backoff_ms(3, 500, 30000, 4000), 4000);
    assert_int_equal(dsvm_http_backoff_ms(3, 500, 30000, 4001), 0);
    /* and stops at the cap even for huge attempt numbers */
    assert_int_equal(dsvm_http_backoff_ms(1000, 500, 30000, 30000), 30000);
    assert_int_equal(dsvm_http_backoff_ms(0, 0, 30000, 99), 0);
}

static void http_parses_retry_after_seconds_and_dates(void **state)
{
    time_t now = curl_getdate("Wed, 21 Oct 2015 07:28:00 GMT", NULL);
    int64_t ms = -1;

    (void)state;
    assert_true(now > 0);
    assert_int_equal(dsvm_http_parse_retry_after(&ms, "3", now), 0);
    assert_int_equal(ms, 3000);
    assert_int_equal(dsvm_http_parse_retry_after(&ms, " 0 ", now), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(dsvm_http_parse_retry_after(&ms, "Wed, 21 Oct 2015 07:28:07 GMT", now), 0);
    assert_int_equal(ms, 7000);
    /* a date in the past means: now */
    assert_int_equal(dsvm_http_parse_retry_after(&ms, "Wed, 21 Oct 2015 07:00:00 GMT", now), 0);
    assert_int_equal(ms, 0);
    ms = 42;
    assert_int_equal(dsvm_http_parse_retry_after(&ms, "soon", now), DSVM_EINVALID);
    assert_int_equal(dsvm_http_parse_retry_after(&ms, "-1", now), DSVM_EINVALID);
    assert_int_equal(dsvm_http_parse_retry_after(&ms, "5x", now), DSVM_EINVALID);
    assert_int_equal(dsvm_http_parse_retry_after(&ms, NULL, now), DSVM_EINVALID);
    /* a year ahead at most; this one overflowed the milliseconds (fuzz_arm) */
    assert_int_equal(dsvm_http_parse_retry_after(&ms, "Wed, 04 Dec 2026502201", now),
                     DSVM_EINVALID);
    assert_int_equal(ms, 42); /* untouched on failure */
}

static void http_classifies_retryable_answers(void **state)
{
    (void)state;
    assert_int_equal(dsvm_http_retryable(CURLE_OK, 429, "TooManyRequests"), 1);
    assert_int_equal(dsvm_http_retryable(CURLE_OK, 500, NULL), 1);
    assert_int_equal(dsvm_http_retryable(CURLE_OK, 503, NULL), 1);
    assert_int_equal(dsvm_http_retryable(CURLE_OK, 504, NULL), 1);
    assert_int_equal(dsvm_http_retryable(CURLE_OK, 501, NULL), 0);
    assert_int_equal(dsvm_http_retryable(CURLE_OK, 400, "InvalidParameter"), 0);
    assert_int_equal(dsvm_http_retryable(CURLE_OK, 409, "Conflict"), 0);
    assert_int_equal(dsvm_http_retryable(CURLE_OK, 404, NULL), 0);
    assert_int_equal(dsvm_http_retryable(CURLE_OK, 400, "PrincipalNotFound"), 2);
    assert_int_equal(dsvm_http_retryable(CURLE_OK, 404, "PrincipalNotFound"), 2);
    assert_int_equal(dsvm_http_retryable(CURLE_OK, 200, NULL), 0);
    assert_int_equal(dsvm_http_retryable(CURLE_RECV_ERROR, 0, NULL), 1);
    assert_int_equal(dsvm_http_retryable(CURLE_GOT_NOTHING, 0, NULL), 1);
    assert_int_equal(dsvm_http_retryable(CURLE_OPERATION_TIMEDOUT, 0, NULL), 1);
    assert_int_equal(dsvm_http_retryable(CURLE_COULDNT_CONNECT, 0, NULL), 1);
    /* a bad certificate is not transient */
    assert_int_equal(dsvm_http_retryable(CURLE_PEER_FAILED_VERIFICATION, 0, NULL), 0);
}

static void http_allows_plain_http_only_to_loopback(void **state)
{
    (void)state;
    assert_int_equal(dsvm_http_check_url("https://management.azure.com/x", 0), 0);
    assert_int_equal(dsvm_http_check_url("http://127.0.0.1:8443/x", 0), 0);
    assert_int_equal(dsvm_http_check_url("http://127.255.0.9/x", 0), 0);
    assert_int_equal(dsvm_http_check_url("http://localhost:1/x", 0), 0);
    assert_int_equal(dsvm_http_check_url("http://LOCALHOST/x", 0), 0);
    assert_int_equal(dsvm_http_check_url("http://[::1]:8443/x", 0), 0);

    assert_int_equal(dsvm_http_check_url("http://management.azure.com/x", 0), DSVM_EINVALID);
    assert_non_null(strstr(dsvm_error_last()->message, "refusing plain http://"));
    assert_non_null(strstr(dsvm_error_last()->message, "use https://"));
    assert_int_equal(dsvm_http_check_url("http://10.0.0.1/x", 0), DSVM_EINVALID);
    assert_int_equal(dsvm_http_check_url("http://128.0.0.1/x", 0), DSVM_EINVALID);
    assert_int_equal(dsvm_http_check_url("http://127.0.0.1.nip.io/x", 0), DSVM_EINVALID);
    assert_int_equal(dsvm_http_check_url("http://localhost.example.com/x", 0), DSVM_EINVALID);
    assert_int_equal(dsvm_http_check_url("http://[::ffff:127.0.0.1]/x", 0), DSVM_EINVALID);
    assert_int_equal(dsvm_http_check_url("http://user@evil.example/x", 0), DSVM_EINVALID);
    assert_int_equal(dsvm_http_check_url("ftp://127.0.0.1/x", 0), DSVM_EINVALID);
    assert_int_equal(dsvm_http_check_url("not a url", 0), DSVM_EINVALID);
    /* the IMDS address only when asked for */
    assert_int_equal(dsvm_http_check_url("http://169.254.169.254/metadata", 0), DSVM_EINVALID);
    assert_int_equal(dsvm_http_check_url("http://169.254.169.254/metadata", DSVM_HTTP_IMDS), 0);
    assert_int_equal(dsvm_http_check_url("http://169.254.169.253/metadata", DSVM_HTTP_IMDS),
                     DSVM_EINVALID);
}

static void http_redacts_query_secrets_in_logged_urls(void **state)
{
    char *out = NULL;

    (void)state;
    assert_int_equal(
        dsvm_http_redact_url(&out, "https://user:pw@x.example/a/b?api-version=2022-08-01&sig=abc"
                                   "&code=xyz&$top=5#frag"),
        0);
    assert_string_equal(out, "https://x.example/a/b?api-version=2022-08-01&sig=REDACTED"
                             "&code=REDACTED&$top=5");
    free(out);
    assert_int_equal(dsvm_http_redact_url(&out, "http://127.0.0.1:1/subscriptions/s/x"), 0);
    assert_string_equal(out, "http://127.0.0.1:1/subscriptions/s/x");
    free(out);
}

static void http_finds_the_subscription_of_a_url(void **state)
{
    char *sub = NULL;

    (void)state;
    assert_int_equal(
        dsvm_http_subscription_of(&sub, "https://m/subscriptions/abc-1/resourceGroups/rg?x=1"), 0);
    assert_string_equal(sub, "abc-1");
    free(sub);
    assert_int_equal(dsvm_http_subscription_of(&sub, "https://m/SUBSCRIPTIONS/abc-2"), 0);
    assert_string_equal(sub, "abc-2");
    free(sub);
    assert_int_equal(
        dsvm_http_subscription_of(&sub, "https://m/providers/Microsoft.X?a=/subscriptions/q"), 0);
    assert_string_equal(sub, "");
    free(sub);
}

static void never(const dsvm_http_response *r, void *payload)
{
    (void)r;
    (*(int *)payload)++;
}

static void http_submit_refuses_non_loopback_http_before_sending(void **state)
{
    dsvm_http *h = NULL;
    dsvm_http_request req;
    int called = 0;

    (void)state;
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = "http://management.example.com/subscriptions/s?api-version=1";
    req.bucket = DSVM_BUCKET_READ;
    assert_int_equal(dsvm_http_new(&h, NULL), 0);
    assert_int_equal(dsvm_http_submit(h, &req, never, &called), DSVM_EINVALID);
    assert_non_null(strstr(dsvm_error_last()->message, "management.example.com"));
    assert_int_equal(dsvm_http_run(h), 0);
    assert_int_equal(called, 0);
    assert_int_equal(dsvm_http_get_stats(h)->requests[DSVM_HTTP_GET], 0);
    dsvm_http_free(h);
}

static void http_correlation_id_is_a_uuid_per_loop(void **state)
{
    dsvm_http *a = NULL, *b = NULL;
    dsvm_http_options o;

    (void)state;
    assert_int_equal(dsvm_http_new(&a, NULL), 0);
    assert_int_equal(dsvm_http_new(&b, NULL), 0);
    assert_int_equal(strlen(dsvm_http_correlation_id(a)), 36);
    assert_int_equal(dsvm_http_correlation_id(a)[14], '4');
    assert_string_not_equal(dsvm_http_correlation_id(a), dsvm_http_correlation_id(b));
    dsvm_http_free(a);
    dsvm_http_free(b);
    dsvm_http_options_init(&o);
    o.correlation_id = "11111111-2222-4333-8444-555555555555";
    assert_int_equal(dsvm_http_new(&a, &o), 0);
    assert_string_equal(dsvm_http_correlation_id(a), o.correlation_id);
    dsvm_http_free(a);
}

static void http_rejects_unreadable_ca_file(void **state)
{
    dsvm_http *h = NULL;
    dsvm_http_options o;

    (void)state;
    dsvm_http_options_init(&o);
    o.ca_file = "/nonexistent/ca.pem";
    assert_int_equal(dsvm_http_new(&h, &o), DSVM_EINVALID);
    assert_null(h);
    assert_non_null(strstr(dsvm_error_last()->message, "/nonexistent/ca.pem"));
}

static void auth_refreshes_early_but_not_too_early(void **state)
{
    (void)state;
    /* one hour: five minutes early (10% would be six) */
    assert_int_equal(dsvm_auth_refresh_margin_ms(3600000), 300000);
    /* ten minutes: 10% */
    assert_int_equal(dsvm_auth_refresh_margin_ms(600000), 60000);
    /* short tokens: at least one second, at most half the lifetime */
    assert_int_equal(dsvm_auth_refresh_margin_ms(5000), 1000);
    assert_int_equal(dsvm_auth_refresh_margin_ms(1000), 500);
}

static void lro_terminal_states_are_exactly_three(void **state)
{
    (void)state;
    assert_true(dsvm_lro_is_terminal("Succeeded"));
    assert_true(dsvm_lro_is_terminal("failed"));
    assert_true(dsvm_lro_is_terminal("Canceled"));
    assert_false(dsvm_lro_is_terminal("InProgress"));
    assert_false(dsvm_lro_is_terminal("Creating"));
    assert_false(dsvm_lro_is_terminal("RegisteringDns"));
    assert_false(dsvm_lro_is_terminal("Cancelled"));
    assert_false(dsvm_lro_is_terminal(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(http_backoff_stays_within_full_jitter_bounds),
        cmocka_unit_test(http_parses_retry_after_seconds_and_dates),
        cmocka_unit_test(http_classifies_retryable_answers),
        cmocka_unit_test(http_allows_plain_http_only_to_loopback),
        cmocka_unit_test(http_redacts_query_secrets_in_logged_urls),
        cmocka_unit_test(http_finds_the_subscription_of_a_url),
        cmocka_unit_test(http_submit_refuses_non_loopback_http_before_sending),
        cmocka_unit_test(http_correlation_id_is_a_uuid_per_loop),
        cmocka_unit_test(http_rejects_unreadable_ca_file),
        cmocka_unit_test(auth_refreshes_early_but_not_too_early),
        cmocka_unit_test(lro_terminal_states_are_exactly_three),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
