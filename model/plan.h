/*
 * Plans: what a reconcile would do, resource by resource and field by
 * field, and its renderings as text, JSON and Markdown.
 *
 * A plan is built from the expanded desired resources (provider expand
 * output), the live resources that were observed, and each type's rules.
 * Pure: no I/O. Secrets never appear: write-only values are not part of
 * the desired bodies, and changed write-only fields show as "(sensitive)".
 */
#ifndef DSVM_PLAN_H
#define DSVM_PLAN_H

#include <stddef.h>
#include <jansson.h>

#include "diff.h"

/** The JSON plan format version; bumped on any incompatible change. */
#define DSVM_PLAN_FORMAT_VERSION 1

typedef enum {
    DSVM_ACTION_NOOP = 0,
    DSVM_ACTION_CREATE,
    DSVM_ACTION_UPDATE,
    DSVM_ACTION_REPLACE,
    DSVM_ACTION_DELETE,
    DSVM_ACTION_ADOPT,
    DSVM_ACTION_COUNT
} dsvm_action;

/** "create", "update", ... */
const char *dsvm_action_name(dsvm_action action);

/** One resource in a plan. */
typedef struct {
    dsvm_action action;
    char *id;
    char *type;
    char *object;      /**< "Kind/name" of the manifest object, or "" */
    char *api_version; /**< the resource's "apiVersion", or "" */
    dsvm_diff *diff;   /**< field changes for update/replace/adopt; NULL otherwise */
    char **sensitive;  /**< write-only paths that will be re-sent */
    size_t n_sensitive;
    json_t *desired; /**< desired body (a reference) or NULL for deletes */
} dsvm_plan_item;

typedef struct {
    dsvm_plan_item *items;
    size_t n;
    size_t counts[DSVM_ACTION_COUNT];
    json_t *findings; /**< array of {"severity","message"}: preflight, ownership conflicts */
} dsvm_plan;

/** Returns the rules of `type`, or NULL when unknown. */
typedef const dsvm_type_rules *(*dsvm_rules_lookup)(const char *type, void *payload);

typedef struct {
    const char *instance; /**< this controller's dsvmops-instance tag value */
    int adopt;            /**< reconcile.adopt: unowned existing resources become "adopt" */
    int prune;            /**< delete owned live resources that are no longer desired */
} dsvm_plan_opts;

/**
 * Build a plan.
 *
 * @param desired  JSON array of expanded resources ({"id","type","object","body",
 *                 "writeOnlyChanged": [paths]} ...), in dependency order
 * @param live     JSON object mapping lower-cased resource IDs to live bodies;
 *                 a resource absent from it does not exist
 * @param owned    JSON array of live resources owned by this instance (for
 *                 prune), each {"id","type","object"}; may be NULL
 * @return 0, DSVM_ENOMEM, or DSVM_EINVALID for a malformed resource (with
 *         dsvm_error_last() set)
 */
int dsvm_plan_build(dsvm_plan **out, const json_t *desired, const json_t *live, const json_t *owned,
                    dsvm_rules_lookup rules, void *payload, const dsvm_plan_opts *opts);

/** Add a finding ("error" or "warning") to a plan. */
int dsvm_plan_add_finding(dsvm_plan *plan, const char *severity, const char *message);

/** The first finding of severity "error" (borrowed message), or NULL. */
const char *dsvm_plan_first_error(const dsvm_plan *plan);

/** Number of resources that would change (everything but no-ops). */
size_t dsvm_plan_changes(const dsvm_plan *plan);

/** Render as text; with `color`, ANSI colours for a terminal. */
int dsvm_plan_render_text(char **out, const dsvm_plan *plan, int color);

/**
 * Render as a versioned JSON document. `meta` (may be NULL) is merged in
 * at the top level, e.g. {"commit": "...", "liveFingerprint": "..."}.
 */
int dsvm_plan_render_json(char **out, const dsvm_plan *plan, const json_t *meta);

/** Render as Markdown for a pull-request comment: a summary table and details. */
int dsvm_plan_render_markdown(char **out, const dsvm_plan *plan, const char *title);

/** Free a plan; accepts NULL. */
void dsvm_plan_free(dsvm_plan *plan);

#endif
