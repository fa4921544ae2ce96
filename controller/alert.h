/*
 * Alerts: drift opened and resolved, failed applies, an unreadable source.
 *
 * An alert is an event (a JSON object, below). dsvm_alerts_emit() stores
 * one delivery per configured sink in the state store's outbox before it
 * returns, so nothing is lost when the process dies; a delivery thread
 * with its own state store connection sends them through libcurl and
 * retries failures with exponential backoff (1 s doubling to 5 min, for
 * up to 24 h). Deliveries left by an earlier process are sent on start.
 *
 * Sinks (controller configuration `alerts:`):
 *   webhook  POST of the event itself as JSON, with
 *            X-Dsvmops-Signature: sha256=<hex HMAC-SHA256(secret, body)>
 *            and X-Dsvmops-Event: <event>; documented in docs/alerts.md
 *   slack    an incoming-webhook message {"text": ..., "blocks": [...]}
 *   teams    a message with one Adaptive Card attachment
 * URLs and secrets come from url_env/url_file and secret_env/secret_file
 * and never appear in logs or in the outbox (it stores the sink's index
 * and the event, and the URL is read again at send time).
 * Every request also carries X-Dsvmops-Delivery: <outbox id>, the same on
 * each retry, so that a receiver can drop duplicates.
 *
 * Two environment variables shorten the schedule for tests, read by
 * dsvm_alerts_new(): DSVM_ALERT_BACKOFF_MS (first retry delay, default
 * 1000) and DSVM_ALERT_GIVE_UP_MS (default 86400000, 24 h).
 *
 * The event, as emitted by the daemon:
 *   {"event": "drift.opened" | "drift.resolved" | "apply.failed" | "source.failed",
 *    "severity": "warning" | "info" | "error",
 *    "summary": "one line for humans",
 *    "target": "<subscription>", "commit": "<sha>", "time": "RFC 3339",
 *    "object": "Kind/name", "resourceId": "...",       (drift events)
 *    "fields": [{"path": "...", "op": "change", "live": ..., "desired": ...}],
 *    "episode": <id>, "firstSeen": "RFC 3339",
 *    "run": <id>, "failed": n, "errors": ["..."]}      (apply.failed)
 * Sensitive values never reach an event: the plan shows write-only fields
 * as "(sensitive)", and the daemon passes only what the plan shows.
 */
#ifndef DSVM_ALERT_H
#define DSVM_ALERT_H

#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "log.h"
#include "metrics.h"

typedef struct dsvm_alerts dsvm_alerts;

/**
 * Set up the sinks of `cfg` (their URL and secret are checked to be
 * readable now; the message names the key when not), open connections of
 * its own to the state store at `state_path` (one for the callers, one for
 * the delivery thread), and start the delivery thread. `metrics` (may be NULL) gets dsvmops_alerts_sent_total{sink,
 * outcome} and dsvmops_alerts_pending. Nothing of `cfg` is kept: it may
 * be freed afterwards. Returns 0, DSVM_EINVALID, DSVM_ENOTFOUND (a secret
 * is not set) or DSVM_EIO.
 */
int dsvm_alerts_new(dsvm_alerts **out, const dsvm_config *cfg, const char *state_path,
                    dsvm_log *log, dsvm_metrics *metrics);

/**
 * Queue `event` (borrowed) for every sink, durably, and wake the delivery
 * thread. With no sinks configured it does nothing and returns 0. Returns
 * DSVM_EINVALID when `event` is not an object with an "event" string, or
 * the state store's error. Safe to call from any thread.
 */
int dsvm_alerts_emit(dsvm_alerts *a, const json_t *event);

/** Deliveries not yet made (queued or waiting to retry). */
size_t dsvm_alerts_pending(dsvm_alerts *a);

/**
 * Wait until nothing is pending, or `timeout_ms` passed. Returns 0 when
 * everything was delivered, DSVM_ETIMEOUT otherwise (the rest stay queued).
 */
int dsvm_alerts_flush(dsvm_alerts *a, int64_t timeout_ms);

/** Stop the delivery thread (a send on the wire finishes) and free; NULL is fine. */
void dsvm_alerts_free(dsvm_alerts *a);

#endif
