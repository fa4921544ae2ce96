/*
 * Push webhooks: signature checks and payload parsing for GitHub, Azure
 * DevOps and the generic hook. Pure functions (no I/O, no globals), so the
 * fuzz target can drive them directly; the HTTP server (server.c) calls
 * them.
 *
 *   GitHub       X-GitHub-Event: push | ping; X-Hub-Signature-256:
 *                sha256=<hex HMAC-SHA256 of the body with the secret>;
 *                body {"ref": "refs/heads/main", "after": "<sha>", ...}
 *   Azure DevOps Authorization: Basic base64(<any user>:<secret>); body
 *                {"eventType": "git.push", "resource": {"refUpdates":
 *                [{"name": "refs/heads/main", "newObjectId": "<sha>"}]}}
 *   generic      X-Dsvmops-Signature: sha256=<hex HMAC-SHA256 of the body>;
 *                body {"ref": "refs/heads/main", "commit": "<sha>"}, or an
 *                empty body or {} for "check the source now"
 */
#ifndef DSVM_WEBHOOK_H
#define DSVM_WEBHOOK_H

#include <stddef.h>

/** Larger bodies are refused with 400 before parsing (GitHub's cap is 25 MB; pushes are small). */
#define DSVM_HOOK_MAX_BODY (1024 * 1024)

typedef enum {
    DSVM_HOOK_GITHUB = 0,
    DSVM_HOOK_AZURE_DEVOPS,
    DSVM_HOOK_GENERIC,
} dsvm_hook_kind;

typedef enum {
    DSVM_HOOK_EVENT_PUSH = 0, /**< a push: `refs` says where */
    DSVM_HOOK_EVENT_PING,     /**< GitHub's ping on set-up: answer 200, do nothing */
    DSVM_HOOK_EVENT_OTHER,    /**< another event type: answer 202, do nothing */
} dsvm_hook_event_type;

#define DSVM_HOOK_MAX_REFS 16

typedef struct {
    dsvm_hook_event_type type;
    size_t nrefs;
    char *refs[DSVM_HOOK_MAX_REFS];    /**< full ref names pushed ("refs/heads/main") */
    char *commits[DSVM_HOOK_MAX_REFS]; /**< the new commit of each ref, or NULL */
    /** Matches every branch: a generic hook without a ref, or a push of more refs than fit. */
    int any_ref;
} dsvm_hook_event;

/**
 * Check "sha256=<64 hex>" against HMAC-SHA256(secret, body), in constant
 * time. Returns 0 when it matches, DSVM_EAUTH when it does not or the
 * header is missing or malformed (`header` may be NULL).
 */
int dsvm_hook_verify_hmac(const char *secret, const void *body, size_t len, const char *header);

/**
 * Check an "Authorization: Basic ..." header whose password is `secret`
 * (any user name), in constant time. Returns 0 or DSVM_EAUTH.
 */
int dsvm_hook_verify_basic(const char *secret, const char *authorization);

/**
 * Parse a body (not NUL-terminated; at most DSVM_HOOK_MAX_BODY bytes) of a
 * hook of `kind`. `event_header` is X-GitHub-Event for GitHub, NULL
 * otherwise. Returns 0 with `out` filled (free with dsvm_hook_event_clear()),
 * or DSVM_EINVALID with dsvm_error_last() saying what is wrong with the
 * body (the server answers 400 with that message).
 */
int dsvm_hook_parse(dsvm_hook_event *out, dsvm_hook_kind kind, const char *event_header,
                    const char *body, size_t len);

/** Free what dsvm_hook_parse() allocated; accepts a zeroed event. */
void dsvm_hook_event_clear(dsvm_hook_event *ev);

/**
 * Whether a push event touches the watched branch: `ref` is a branch name
 * ("main") or a full ref ("refs/heads/main"). Returns the index of the
 * matching ref, or -1. A generic hook without a ref matches (index 0, and
 * no commit).
 */
int dsvm_hook_matches(const dsvm_hook_event *ev, const char *ref);

#endif
