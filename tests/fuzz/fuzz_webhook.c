/*
 * Fuzz target: push webhooks (controller/webhook.h). The input is
 *
 *     <kind byte> <event header> \n <signature or Authorization header> \n <body>
 *
 * The first byte modulo 3 picks GitHub, Azure DevOps or the generic hook;
 * the first line is X-GitHub-Event (GitHub only); the second is checked
 * both as X-Hub-Signature-256 / X-Dsvmops-Signature (HMAC) and as an
 * Authorization header (Basic); the rest is the body, parsed and matched
 * against a branch and a full ref as the server does.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

    dsvm_hook_verify_hmac("s3cret", p, len, sig);
    dsvm_hook_verify_hmac("", p, len, sig);
    dsvm_hook_verify_basic("s3cret", sig);
    dsvm_hook_verify_basic("", sig);
    memset(&ev, 0, sizeof(ev));
    if (dsvm_hook_parse(&ev, kind, kind == DSVM_HOOK_GITHUB ? event : NULL, (const char *)p, len) ==
        0) {
        dsvm_hook_matches(&ev, "main");
        dsvm_hook_matches(&ev, "refs/heads/main");
        dsvm_hook_matches(&ev, event);
        dsvm_hook_event_clear(&ev);
    }
    free(event);
    free(sig);
    return 0;
}
