/*
 * Fuzz target: push webhooks (controller/webhook.h). The input is
 *
 *     <kind byte> <event header> \n <signature or Authorization header> \n <body>
 *
 * The first byte modulo 3 picks GitHub, Azure DevOps or the generic hook;
 * the first line is X-GitHub-Event (GitHub only); the second is checked
 * both as X-Hub-Signature-256 / X-Dsvmops-Signature (HMAC) and as an
 * Authorization header (Basic); the rest is the body, parsed and matched
 * against a branch and a full ref as the server does. Beyond not crashing:
 * the body's real HMAC must verify, and a parsed event must be well formed
 * (see check_event()).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "webhook.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Split off one line of [*p, end) as a heap string. */
static char *take_line(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *nl = *p;
    char *s;

    while (nl < end && *nl != '\n')
        nl++;
    s = fuzz_strndup(*p, (size_t)(nl - *p));
    *p = nl < end ? nl + 1 : end;
    return s;
}

/* verify_hmac of the body's real signature under "s3cret". */
static int hmac_ok(const uint8_t *body, size_t len)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0, i;
    char header[7 + 2 * EVP_MAX_MD_SIZE + 1] = "sha256=";

    if (!HMAC(EVP_sha256(), "s3cret", 6, body, len, mac, &n))
        abort();
    for (i = 0; i < n; i++)
        snprintf(header + 7 + 2 * i, 3, "%02x", mac[i]);
    return dsvm_hook_verify_hmac("s3cret", body, len, header);
}

/* A parsed event holds at most DSVM_HOOK_MAX_REFS refs, none NULL, and
 * dsvm_hook_matches() answers -1 or the index of one of them. */
static void check_event(const dsvm_hook_event *ev, const char *ref)
{
    int m = dsvm_hook_matches(ev, ref);
    size_t i;

    if (ev->nrefs > DSVM_HOOK_MAX_REFS)
        abort();
    for (i = 0; i < ev->nrefs; i++)
        if (!ev->refs[i])
            abort();
    if (m < -1 || (m >= 0 && !ev->any_ref && (size_t)m >= ev->nrefs))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data + 1, *end = data + size;
    dsvm_hook_kind kind;
    dsvm_hook_event ev;
    char *event, *sig;
    size_t len;

    if (size < 1 || size - 1 > DSVM_HOOK_MAX_BODY + 4096)
        return 0;
    kind = (dsvm_hook_kind)(data[0] % 3);
    event = take_line(&p, end);
    sig = take_line(&p, end);
    len = (size_t)(end - p);
    if (len > DSVM_HOOK_MAX_BODY)
        len = DSVM_HOOK_MAX_BODY;

    if (hmac_ok(p, len) != 0) /* the right signature must pass */
        abort();
    dsvm_hook_verify_hmac("s3cret", p, len, sig);
    dsvm_hook_verify_hmac("", p, len, sig);
    dsvm_hook_verify_basic("s3cret", sig);
    dsvm_hook_verify_basic("", sig);
    memset(&ev, 0, sizeof(ev));
    if (dsvm_hook_parse(&ev, kind, kind == DSVM_HOOK_GITHUB ? event : NULL, (const char *)p, len) ==
        0) {
        check_event(&ev, "main");
        check_event(&ev, "refs/heads/main");
        check_event(&ev, event);
        dsvm_hook_event_clear(&ev);
    }
    free(event);
    free(sig);
    return 0;
}
