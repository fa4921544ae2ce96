/*
 * Webhook checks and parsing: HMAC signatures (GitHub's published test
 * vector), basic auth, the payloads GitHub, Azure DevOps and the generic
 * hook send, hostile bodies, and matching a push against the watched ref.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dsvmops/error.h"
#include "webhook.h"

/* From GitHub's "Validating webhook deliveries" page. */
#define GH_SECRET "It's a Secret to Everybody"
#define GH_BODY   "Hello, World!"
#define GH_SIG    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

static int parse_str(dsvm_hook_event *ev, dsvm_hook_kind kind, const char *event, const char *body)
{
    return dsvm_hook_parse(ev, kind, event, body, strlen(body));
}

static void hmac_accepts_github_test_vector(void **state)
{
    (void)state;
    assert_int_equal(dsvm_hook_verify_hmac(GH_SECRET, GH_BODY, strlen(GH_BODY), GH_SIG), 0);
}

static void hmac_accepts_upper_case_hex(void **state)
{
    char sig[sizeof(GH_SIG)];
    size_t i;

    (void)state;
    memcpy(sig, GH_SIG, sizeof(sig));
    for (i = 7; sig[i]; i++) {
        if (sig[i] >= 'a' && sig[i] <= 'f')
            sig[i] = (char)(sig[i] - 'a' + 'A');
    }
    assert_int_equal(dsvm_hook_verify_hmac(GH_SECRET, GH_BODY, strlen(GH_BODY), sig), 0);
}

static void hmac_refuses_other_body_secret_or_signature(void **state)
{
    char sig[sizeof(GH_SIG)];

    (void)state;
    assert_int_equal(dsvm_hook_verify_hmac(GH_SECRET, "Hello, World?", 13, GH_SIG), DSVM_EAUTH);
    assert_int_equal(dsvm_hook_verify_hmac("another secret", GH_BODY, strlen(GH_BODY), GH_SIG),
                     DSVM_EAUTH);
    memcpy(sig, GH_SIG, sizeof(sig));
    sig[sizeof(sig) - 2] = sig[sizeof(sig) - 2] == '7' ? '8' : '7';
    assert_int_equal(dsvm_hook_verify_hmac(GH_SECRET, GH_BODY, strlen(GH_BODY), sig), DSVM_EAUTH);
    /* The body length counts: a prefix of the signed body is not the body. */
    assert_int_equal(dsvm_hook_verify_hmac(GH_SECRET, GH_BODY, strlen(GH_BODY) - 1, GH_SIG),
                     DSVM_EAUTH);
}

static void hmac_refuses_missing_and_malformed_headers(void **state)
{
    static const char *const bad[] = {
        "",
        "sha256=",
        "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e177",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1g",
        "sha256= 757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1",
    };
    size_t i;

    (void)state;
    assert_int_equal(dsvm_hook_verify_hmac(GH_SECRET, GH_BODY, strlen(GH_BODY), NULL), DSVM_EAUTH);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(dsvm_hook_verify_hmac(GH_SECRET, GH_BODY, strlen(GH_BODY), bad[i]),
                         DSVM_EAUTH);
    /* No secret never verifies, not even an HMAC made with the empty key. */
    assert_int_equal(dsvm_hook_verify_hmac(NULL, GH_BODY, strlen(GH_BODY), GH_SIG), DSVM_EAUTH);
    assert_int_equal(dsvm_hook_verify_hmac("", GH_BODY, strlen(GH_BODY), GH_SIG), DSVM_EAUTH);
}

static void hmac_error_never_quotes_the_signature(void **state)
{
    (void)state;
    assert_int_equal(dsvm_hook_verify_hmac("x", GH_BODY, strlen(GH_BODY), GH_SIG), DSVM_EAUTH);
    assert_null(strstr(dsvm_error_last()->message, "757107ea"));
    assert_non_null(strstr(dsvm_error_last()->message, "does not match"));
}

static void hmac_of_empty_body(void **state)
{
    /* printf '' | openssl dgst -sha256 -hmac s3cret */
    const char *sig = "sha256=91dfac70c5348b04e1babb8b421ac92cec08b565b49ca16130dccb72503647b7";

    (void)state;
    assert_int_equal(dsvm_hook_verify_hmac("s3cret", NULL, 0, sig), 0);
    assert_int_equal(dsvm_hook_verify_hmac("s3cret", "", 0, sig), 0);
    assert_int_equal(dsvm_hook_verify_hmac("s3cret", "x", 1, sig), DSVM_EAUTH);
}

static void basic_accepts_any_user_with_the_secret(void **state)
{
    (void)state;
    /* base64("user:s3cret"), base64(":s3cret"), base64("azure:s3cret") */
    assert_int_equal(dsvm_hook_verify_basic("s3cret", "Basic dXNlcjpzM2NyZXQ="), 0);
    assert_int_equal(dsvm_hook_verify_basic("s3cret", "Basic OnMzY3JldA=="), 0);
    assert_int_equal(dsvm_hook_verify_basic("s3cret", "basic  YXp1cmU6czNjcmV0"), 0);
}

static void basic_refuses_bad_credentials(void **state)
{
    static const char *const bad[] = {
        "Basic dXNlcjpzM2NyZXQ",      /* not a multiple of 4 */
        "Basic dXNlcjpzM2NyZXQx",     /* user:s3cret5 */
        "Basic dXNlcg==",             /* "user": no colon */
        "Basic dXNlcjpzM2NyZQ==",     /* user:s3cre */
        "Basic ????????",             /* not base64 */
        "Basic ",                     /* empty */
        "Bearer dXNlcjpzM2NyZXQ=",    /* another scheme */
        "dXNlcjpzM2NyZXQ=",           /* no scheme */
        "Basic dXNlcjpzM2NyZXQ=dXNl", /* padding in the middle */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(dsvm_hook_verify_basic("s3cret", bad[i]), DSVM_EAUTH);
    assert_int_equal(dsvm_hook_verify_basic("s3cret", NULL), DSVM_EAUTH);
    assert_int_equal(dsvm_hook_verify_basic(NULL, "Basic dXNlcjpzM2NyZXQ="), DSVM_EAUTH);
    assert_int_equal(dsvm_hook_verify_basic("", "Basic dXNlcjo="), DSVM_EAUTH);
}

static void basic_refuses_huge_header(void **state)
{
    size_t n = 100000;
    char *h = malloc(n + 7);

    (void)state;
    assert_non_null(h);
    memcpy(h, "Basic ", 6);
    memset(h + 6, 'A', n);
    h[n + 6] = '\0';
    assert_int_equal(dsvm_hook_verify_basic("s3cret", h), DSVM_EAUTH);
    free(h);
}

static const char github_push[] =
    "{\"ref\":\"refs/heads/main\",\"before\":\"9049f1265b7d61be4a8904a9a27120d2064dab3b\","
    "\"after\":\"0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c\","
    "\"repository\":{\"id\":35129377,\"name\":\"infra\",\"full_name\":\"data/infra\","
    "\"default_branch\":\"main\"},\"pusher\":{\"name\":\"alice\",\"email\":\"a@example.com\"},"
    "\"created\":false,\"deleted\":false,\"forced\":false,\"base_ref\":null,"
    "\"compare\":\"https://github.com/data/infra/compare/9049f1265b7d...0d1a26e67d8f\","
    "\"commits\":[{\"id\":\"0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c\",\"message\":\"pool: "
    "bigger\",\"added\":[],\"removed\":[],\"modified\":[\"pools.yaml\"]}],"
    "\"head_commit\":{\"id\":\"0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c\"}}";

static void github_push_parses_ref_and_commit(void **state)
{
    dsvm_hook_event ev;

    (void)state;
    assert_int_equal(parse_str(&ev, DSVM_HOOK_GITHUB, "push", github_push), 0);
    assert_int_equal(ev.type, DSVM_HOOK_EVENT_PUSH);
    assert_int_equal(ev.nrefs, 1);
    assert_int_equal(ev.any_ref, 0);
    assert_string_equal(ev.refs[0], "refs/heads/main");
    assert_string_equal(ev.commits[0], "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c");
    assert_int_equal(dsvm_hook_matches(&ev, "main"), 0);
    assert_int_equal(dsvm_hook_matches(&ev, "refs/heads/main"), 0);
    assert_int_equal(dsvm_hook_matches(&ev, "dev"), -1);
    assert_int_equal(dsvm_hook_matches(&ev, "refs/heads/dev"), -1);
    assert_int_equal(dsvm_hook_matches(&ev, "heads/main"), -1);
    assert_int_equal(dsvm_hook_matches(&ev, "mai"), -1);
    dsvm_hook_event_clear(&ev);
    assert_int_equal(ev.nrefs, 0);
    assert_null(ev.refs[0]);
}

static void github_branch_delete_has_no_commit(void **state)
{
    dsvm_hook_event ev;

    (void)state;
    assert_int_equal(parse_str(&ev, DSVM_HOOK_GITHUB, "push",
                               "{\"ref\":\"refs/heads/main\",\"deleted\":true,"
                               "\"after\":\"0000000000000000000000000000000000000000\"}"),
                     0);
    assert_int_equal(dsvm_hook_matches(&ev, "main"), 0);
    assert_null(ev.commits[0]);
    dsvm_hook_event_clear(&ev);
}

static void github_tag_push_does_not_match_branch(void **state)
{
    dsvm_hook_event ev;

    (void)state;
    assert_int_equal(parse_str(&ev, DSVM_HOOK_GITHUB, "push",
                               "{\"ref\":\"refs/tags/main\",\"after\":\"abcdef01\"}"),
                     0);
    assert_int_equal(dsvm_hook_matches(&ev, "main"), -1);
    assert_int_equal(dsvm_hook_matches(&ev, "refs/tags/main"), 0);
    dsvm_hook_event_clear(&ev);
}

static void github_ping_and_other_events(void **state)
{
    dsvm_hook_event ev;

    (void)state;
    assert_int_equal(
        parse_str(&ev, DSVM_HOOK_GITHUB, "ping", "{\"zen\":\"Design for failure.\",\"hook_id\":1}"),
        0);
    assert_int_equal(ev.type, DSVM_HOOK_EVENT_PING);
    assert_int_equal(dsvm_hook_matches(&ev, "main"), -1);
    dsvm_hook_event_clear(&ev);
    assert_int_equal(
        parse_str(&ev, DSVM_HOOK_GITHUB, "pull_request", "{\"action\":\"opened\",\"number\":7}"),
        0);
    assert_int_equal(ev.type, DSVM_HOOK_EVENT_OTHER);
    assert_int_equal(ev.nrefs, 0);
    assert_int_equal(dsvm_hook_matches(&ev, "main"), -1);
    dsvm_hook_event_clear(&ev);
}

static void github_push_needs_event_header_and_ref(void **state)
{
    dsvm_hook_event ev;

    (void)state;
    memset(&ev, 0x5a, sizeof(ev));
    assert_int_equal(parse_str(&ev, DSVM_HOOK_GITHUB, NULL, github_push), DSVM_EINVALID);
    assert_non_null(strstr(dsvm_error_last()->message, "X-GitHub-Event"));
    assert_int_equal(parse_str(&ev, DSVM_HOOK_GITHUB, "push", "{\"after\":\"abcd\"}"),
                     DSVM_EINVALID);
    assert_non_null(strstr(dsvm_error_last()->message, "\"ref\""));
    assert_int_equal(parse_str(&ev, DSVM_HOOK_GITHUB, "push", "payload=%7B%22ref%22%7D"),
                     DSVM_EINVALID);
    assert_non_null(strstr(dsvm_error_last()->message, "application/json"));
    /* An output parameter is never written on failure. */
    assert_int_equal(ev.nrefs, (size_t)0x5a5a5a5a5a5a5a5aULL);
}

static void malformed_json_is_invalid(void **state)
{
    static const char *const bad[] = {
        "",
        "{",
        "{\"ref\":",
        "[1,2",
        "nul",
        "{\"ref\":\"refs/heads/main\"}}",
        "\"just a string\"",
        "[]",
        "42",
        "{\"ref\":\"refs/heads/main\",\"ref\":}",
    };
    dsvm_hook_event ev;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse_str(&ev, DSVM_HOOK_GITHUB, "push", bad[i]), DSVM_EINVALID);
        assert_int_equal(parse_str(&ev, DSVM_HOOK_AZURE_DEVOPS, NULL, bad[i]), DSVM_EINVALID);
        if (*bad[i])
            assert_int_equal(parse_str(&ev, DSVM_HOOK_GENERIC, NULL, bad[i]), DSVM_EINVALID);
        assert_true(strlen(dsvm_error_last()->message) > 0);
    }
}

static void wrong_types_are_invalid(void **state)
{
    static const struct {
        dsvm_hook_kind kind;
        const char *body;
    } bad[] = {
        {DSVM_HOOK_GITHUB, "{\"ref\":42,\"after\":\"abcd\"}"},
        {DSVM_HOOK_GITHUB, "{\"ref\":[\"refs/heads/main\"]}"},
        {DSVM_HOOK_GITHUB, "{\"ref\":\"refs/heads/main\",\"after\":12345678}"},
        {DSVM_HOOK_GITHUB, "{\"ref\":\"refs/heads/main\",\"after\":\"not-hex!\"}"},
        {DSVM_HOOK_GITHUB, "{\"ref\":\"\"}"},
        {DSVM_HOOK_GITHUB, "{\"ref\":\"refs/heads/ma\\nin\"}"},
        {DSVM_HOOK_GITHUB, "{\"ref\":\"refs/heads/ma\\u0000in\"}"},
        {DSVM_HOOK_AZURE_DEVOPS, "{\"eventType\":7}"},
        {DSVM_HOOK_AZURE_DEVOPS, "{\"resource\":{}}"},
        {DSVM_HOOK_AZURE_DEVOPS, "{\"eventType\":\"git.push\"}"},
        {DSVM_HOOK_AZURE_DEVOPS, "{\"eventType\":\"git.push\",\"resource\":[]}"},
        {DSVM_HOOK_AZURE_DEVOPS, "{\"eventType\":\"git.push\",\"resource\":{\"refUpdates\":{}}}"},
        {DSVM_HOOK_AZURE_DEVOPS,
         "{\"eventType\":\"git.push\",\"resource\":{\"refUpdates\":[\"refs/heads/main\"]}}"},
        {DSVM_HOOK_AZURE_DEVOPS,
         "{\"eventType\":\"git.push\",\"resource\":{\"refUpdates\":[{\"name\":null}]}}"},
        {DSVM_HOOK_AZURE_DEVOPS, "{\"eventType\":\"git.push\",\"resource\":{\"refUpdates\":"
                                 "[{\"name\":\"refs/heads/main\",\"newObjectId\":{}}]}}"},
        {DSVM_HOOK_GENERIC, "{\"ref\":true}"},
        {DSVM_HOOK_GENERIC, "{\"ref\":\"main\",\"commit\":1}"},
        {DSVM_HOOK_GENERIC, "{\"commit\":\"abcdef01\"}"},
        {DSVM_HOOK_GENERIC, "[{\"ref\":\"main\"}]"},
    };
    dsvm_hook_event ev;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse_str(&ev, bad[i].kind,
                                   bad[i].kind == DSVM_HOOK_GITHUB ? "push" : NULL, bad[i].body),
                         DSVM_EINVALID);
        assert_true(strlen(dsvm_error_last()->message) > 0);
    }
}

static const char azure_push[] =
    "{\"subscriptionId\":\"00000000-0000-0000-0000-000000000000\",\"notificationId\":3,"
    "\"id\":\"03c164c2-8912-4d5e-8009-3707d5f83734\",\"eventType\":\"git.push\","
    "\"publisherId\":\"tfs\",\"message\":{\"text\":\"Jamal Hartnett pushed updates to "
    "Fabrikam-Fiber-Git:master.\"},\"resource\":{\"commits\":[{\"commitId\":"
    "\"33b55f7cb7e7e245323987634f960cf4a6e6bc74\",\"comment\":\"Fixed bug in web.config\"}],"
    "\"refUpdates\":[{\"name\":\"refs/heads/dev\",\"oldObjectId\":"
    "\"aad331d8d3b131fa9ae03cf5e53965b51942618a\",\"newObjectId\":"
    "\"1111111111111111111111111111111111111111\"},{\"name\":\"refs/heads/main\","
    "\"oldObjectId\":\"aad331d8d3b131fa9ae03cf5e53965b51942618a\",\"newObjectId\":"
    "\"33b55f7cb7e7e245323987634f960cf4a6e6bc74\"}],\"repository\":{\"name\":"
    "\"Fabrikam-Fiber-Git\"},\"pushId\":14},\"createdDate\":\"2026-12-03T15:00:00Z\"}";

static void azure_devops_push_parses_every_ref(void **state)
{
    dsvm_hook_event ev;

    (void)state;
    assert_int_equal(parse_str(&ev, DSVM_HOOK_AZURE_DEVOPS, NULL, azure_push), 0);
    assert_int_equal(ev.type, DSVM_HOOK_EVENT_PUSH);
    assert_int_equal(ev.nrefs, 2);
    assert_string_equal(ev.refs[0], "refs/heads/dev");
    assert_string_equal(ev.commits[0], "1111111111111111111111111111111111111111");
    assert_string_equal(ev.refs[1], "refs/heads/main");
    assert_int_equal(dsvm_hook_matches(&ev, "main"), 1);
    assert_string_equal(ev.commits[1], "33b55f7cb7e7e245323987634f960cf4a6e6bc74");
    assert_int_equal(dsvm_hook_matches(&ev, "refs/heads/dev"), 0);
    assert_int_equal(dsvm_hook_matches(&ev, "release"), -1);
    dsvm_hook_event_clear(&ev);
}

static void azure_devops_other_event(void **state)
{
    dsvm_hook_event ev;

    (void)state;
    assert_int_equal(parse_str(&ev, DSVM_HOOK_AZURE_DEVOPS, NULL,
                               "{\"eventType\":\"git.pullrequest.created\",\"resource\":{}}"),
                     0);
    assert_int_equal(ev.type, DSVM_HOOK_EVENT_OTHER);
    assert_int_equal(dsvm_hook_matches(&ev, "main"), -1);
    dsvm_hook_event_clear(&ev);
}

/* A body of `n` ref updates, the last one to main. */
static char *azure_body(size_t n)
{
    size_t cap = 200 + n * 100, len, i;
    char *b = malloc(cap);

    assert_non_null(b);
    len = (size_t)snprintf(b, cap, "{\"eventType\":\"git.push\",\"resource\":{\"refUpdates\":[");
    for (i = 0; i < n; i++)
        len += (size_t)snprintf(
            b + len, cap - len, "%s{\"name\":\"refs/heads/%s%zu\",\"newObjectId\":\"abcd%04zx\"}",
            i ? "," : "", i + 1 == n ? "main" : "b", i + 1 == n ? 0 : i, i & 0xffff);
    snprintf(b + len, cap - len, "]}}");
    return b;
}

static void azure_devops_many_refs(void **state)
{
    dsvm_hook_event ev;
    char *body;

    (void)state;
    /* Exactly the maximum: every ref kept. */
    body = azure_body(DSVM_HOOK_MAX_REFS);
    assert_int_equal(parse_str(&ev, DSVM_HOOK_AZURE_DEVOPS, NULL, body), 0);
    assert_int_equal(ev.nrefs, DSVM_HOOK_MAX_REFS);
    assert_string_equal(ev.refs[DSVM_HOOK_MAX_REFS - 1], "refs/heads/main0");
    dsvm_hook_event_clear(&ev);
    free(body);

    /* A huge array: too many refs to keep, so any branch may have moved. */
    body = azure_body(5000);
    assert_true(strlen(body) < DSVM_HOOK_MAX_BODY);
    assert_int_equal(parse_str(&ev, DSVM_HOOK_AZURE_DEVOPS, NULL, body), 0);
    assert_int_equal(ev.nrefs, 0);
    assert_int_equal(ev.any_ref, 1);
    assert_int_equal(dsvm_hook_matches(&ev, "main"), 0);
    assert_null(ev.commits[0]);
    dsvm_hook_event_clear(&ev);
    free(body);
}

static void huge_arrays_and_nesting_do_not_crash(void **state)
{
    size_t n = DSVM_HOOK_MAX_BODY, i;
    char *b = malloc(n + 1);
    dsvm_hook_event ev;

    (void)state;
    assert_non_null(b);
    /* A million-byte array of zeros inside a push. */
    memcpy(b, "{\"ref\":\"refs/heads/main\",\"x\":[", 30);
    for (i = 30; i + 2 + 3 <= n; i += 2)
        memcpy(b + i, "0,", 2);
    memcpy(b + i, "0]}", 3);
    i += 3;
    assert_true(i <= n);
    assert_int_equal(dsvm_hook_parse(&ev, DSVM_HOOK_GITHUB, "push", b, i), 0);
    assert_int_equal(dsvm_hook_matches(&ev, "main"), 0);
    dsvm_hook_event_clear(&ev);

    /* Nesting far deeper than any parser's stack should allow. */
    memset(b, '[', n);
    assert_int_equal(dsvm_hook_parse(&ev, DSVM_HOOK_GENERIC, NULL, b, n), DSVM_EINVALID);

    /* One byte over the cap is refused before parsing. */
    assert_int_equal(dsvm_hook_parse(&ev, DSVM_HOOK_GENERIC, NULL, b, n + 1), DSVM_EINVALID);
    assert_non_null(strstr(dsvm_error_last()->message, "larger"));

    /* Not NUL-terminated: the length is what counts. */
    memcpy(b, "{\"ref\":\"main\"}XXXX", 18);
    assert_int_equal(dsvm_hook_parse(&ev, DSVM_HOOK_GENERIC, NULL, b, 14), 0);
    assert_string_equal(ev.refs[0], "refs/heads/main");
    dsvm_hook_event_clear(&ev);
    free(b);
}

static void generic_with_and_without_ref(void **state)
{
    dsvm_hook_event ev;

    (void)state;
    /* Empty body, whitespace, {} and a null ref: "check the source now". */
    assert_int_equal(dsvm_hook_parse(&ev, DSVM_HOOK_GENERIC, NULL, NULL, 0), 0);
    assert_int_equal(ev.any_ref, 1);
    assert_int_equal(dsvm_hook_matches(&ev, "main"), 0);
    assert_null(ev.commits[0]);
    dsvm_hook_event_clear(&ev);
    assert_int_equal(parse_str(&ev, DSVM_HOOK_GENERIC, NULL, " \n"), 0);
    assert_int_equal(ev.any_ref, 1);
    dsvm_hook_event_clear(&ev);
    assert_int_equal(parse_str(&ev, DSVM_HOOK_GENERIC, NULL, "{}"), 0);
    assert_int_equal(ev.any_ref, 1);
    assert_int_equal(dsvm_hook_matches(&ev, "refs/heads/release"), 0);
    dsvm_hook_event_clear(&ev);
    assert_int_equal(parse_str(&ev, DSVM_HOOK_GENERIC, NULL, "{\"ref\":null}"), 0);
    assert_int_equal(ev.any_ref, 1);
    dsvm_hook_event_clear(&ev);

    /* A full ref with a commit. */
    assert_int_equal(parse_str(&ev, DSVM_HOOK_GENERIC, NULL,
                               "{\"ref\":\"refs/heads/main\",\"commit\":\"0D1A26E6\"}"),
                     0);
    assert_int_equal(ev.any_ref, 0);
    assert_int_equal(dsvm_hook_matches(&ev, "main"), 0);
    assert_string_equal(ev.commits[0], "0D1A26E6");
    dsvm_hook_event_clear(&ev);

    /* A branch name is a branch. */
    assert_int_equal(parse_str(&ev, DSVM_HOOK_GENERIC, NULL, "{\"ref\":\"feature/x\"}"), 0);
    assert_string_equal(ev.refs[0], "refs/heads/feature/x");
    assert_null(ev.commits[0]);
    assert_int_equal(dsvm_hook_matches(&ev, "main"), -1);
    assert_int_equal(dsvm_hook_matches(&ev, "feature/x"), 0);
    assert_int_equal(dsvm_hook_matches(&ev, "refs/heads/feature/x"), 0);
    dsvm_hook_event_clear(&ev);
}

static void matches_handles_null_and_cleared_events(void **state)
{
    dsvm_hook_event ev;

    (void)state;
    memset(&ev, 0, sizeof(ev));
    assert_int_equal(dsvm_hook_matches(NULL, "main"), -1);
    assert_int_equal(dsvm_hook_matches(&ev, "main"), -1);
    dsvm_hook_event_clear(&ev);
    dsvm_hook_event_clear(NULL);
    assert_int_equal(parse_str(&ev, DSVM_HOOK_GITHUB, "push", github_push), 0);
    assert_int_equal(dsvm_hook_matches(&ev, NULL), -1);
    assert_int_equal(dsvm_hook_matches(&ev, ""), -1);
    dsvm_hook_event_clear(&ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hmac_accepts_github_test_vector),
        cmocka_unit_test(hmac_accepts_upper_case_hex),
        cmocka_unit_test(hmac_refuses_other_body_secret_or_signature),
        cmocka_unit_test(hmac_refuses_missing_and_malformed_headers),
        cmocka_unit_test(hmac_error_never_quotes_the_signature),
        cmocka_unit_test(hmac_of_empty_body),
        cmocka_unit_test(basic_accepts_any_user_with_the_secret),
        cmocka_unit_test(basic_refuses_bad_credentials),
        cmocka_unit_test(basic_refuses_huge_header),
        cmocka_unit_test(github_push_parses_ref_and_commit),
        cmocka_unit_test(github_branch_delete_has_no_commit),
        cmocka_unit_test(github_tag_push_does_not_match_branch),
        cmocka_unit_test(github_ping_and_other_events),
        cmocka_unit_test(github_push_needs_event_header_and_ref),
        cmocka_unit_test(malformed_json_is_invalid),
        cmocka_unit_test(wrong_types_are_invalid),
        cmocka_unit_test(azure_devops_push_parses_every_ref),
        cmocka_unit_test(azure_devops_other_event),
        cmocka_unit_test(azure_devops_many_refs),
        cmocka_unit_test(huge_arrays_and_nesting_do_not_crash),
        cmocka_unit_test(generic_with_and_without_ref),
        cmocka_unit_test(matches_handles_null_and_cleared_events),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
