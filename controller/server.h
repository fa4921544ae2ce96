/*
 * The daemon's HTTP server (libmicrohttpd): metrics, health, status, the
 * approve and suspend API, and push webhooks (DESIGN.md section 4).
 *
 *   GET  /metrics             Prometheus text from the metrics registry
 *   GET  /healthz             200 "ok" while the process serves
 *   GET  /readyz              200 when ready(), else 503 with the reason
 *   GET  /api/v1/status       200, application/json from status()
 *   POST /api/v1/approve      approve(): apply the pending plan
 *   POST /api/v1/suspend      suspend(1); body {"suspend": false} resumes
 *   POST /hooks/github        push events, X-Hub-Signature-256 checked
 *   POST /hooks/azure-devops  git.push service hooks, basic auth checked
 *   POST /hooks/generic       X-Dsvmops-Signature checked
 *
 * Hooks answer 401 for a bad or missing signature (and log it, without
 * the signature), 400 for a malformed or oversized body, 202 for events
 * that do not touch the watched branch, 200 for a ping, and 202 after
 * calling trigger() for a push to the watched branch. With no webhook
 * secret set, hooks answer 503 ("no webhook secret configured").
 *
 * The API (approve, suspend) takes "Authorization: Bearer <api token>"
 * when an API token is set; without one it serves loopback clients only
 * (403 otherwise). Unknown paths give 404, wrong methods 405, always with
 * a JSON body {"error": "..."} except /metrics and /healthz.
 *
 * Callbacks run on the server's threads: they must be thread-safe and
 * quick (the daemon only records the request and wakes its loop).
 */
#ifndef DSVM_SERVER_H
#define DSVM_SERVER_H

#include "log.h"
#include "metrics.h"

typedef struct {
    /** "HOST:PORT"; port 0 picks a free port (see dsvm_server_port()). */
    const char *listen;
    dsvm_metrics *metrics; /**< borrowed; rendered for /metrics */
    dsvm_log *log;         /**< borrowed; NULL logs to stderr */
    /** The watched ref, e.g. "main" or "refs/heads/main"; NULL means "main". */
    const char *ref;
    /** Webhook secret (copied); NULL disables the hooks (503). */
    const char *webhook_secret;
    /** API token (copied); NULL: the API serves loopback clients only. */
    const char *api_token;

    /** A push to the watched branch: `hook` is "github", ...; `commit` may be NULL. */
    void (*trigger)(const char *hook, const char *commit, void *payload);
    /** Status document as malloc'd JSON text, or NULL (then 500). */
    char *(*status)(void *payload);
    /** 1 when ready; else 0 with *why set to a malloc'd reason. NULL: always ready. */
    int (*ready)(char **why, void *payload);
    /**
     * Approve the pending plan. Returns an HTTP status (202 accepted, 409
     * nothing pending) and sets *message to a malloc'd one-line answer.
     */
    int (*approve)(char **message, void *payload);
    /**
     * Suspend (1) or resume (0) applies; same return as approve. A NULL
     * approve or suspend answers 501.
     */
    int (*suspend)(int on, char **message, void *payload);
    void *payload;
} dsvm_server_opts;

typedef struct dsvm_server dsvm_server;

/**
 * Start serving on a thread of libmicrohttpd's own. Returns 0, or
 * DSVM_EINVALID for a malformed `listen`, or DSVM_EIO when the address
 * cannot be bound (the message names it and the OS error).
 */
int dsvm_server_start(dsvm_server **out, const dsvm_server_opts *opts);

/** The port actually bound. */
int dsvm_server_port(const dsvm_server *s);

/** Replace the webhook secret and API token (SIGHUP reload); NULL clears one. */
int dsvm_server_set_secrets(dsvm_server *s, const char *webhook_secret, const char *api_token);

/** Stop serving (in-flight requests finish) and free; accepts NULL. */
void dsvm_server_stop(dsvm_server *s);

#endif
