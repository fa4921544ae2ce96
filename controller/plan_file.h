/*
 * Saved plans: `plan -o plan.json --format json` followed by
 * `apply --plan plan.json`.
 *
 * A saved plan carries what an apply needs to tell whether it is still the
 * plan it would make now: the commit it was made from, a fingerprint of the
 * live state of every planned resource (and one per resource, so a refusal
 * can say which moved), a fingerprint of the plan itself (actions and
 * desired bodies), and the options that shape a plan (instance, target,
 * prune, adopt). `apply --plan` observes afresh, plans again, and applies
 * only when all of these match; the fresh plan is then the saved one.
 */
#ifndef DSVM_PLAN_FILE_H
#define DSVM_PLAN_FILE_H

#include <jansson.h>

#include "reconcile.h"

/**
 * Hex SHA-256 over the sorted, lower-cased IDs of the resources in `plan`
 * and the canonical JSON (sorted keys) of each one's live body, or "absent".
 * Call after dsvm_engine_observe(). `out` must hold 65 bytes.
 *
 * @return 0 or DSVM_ENOMEM
 */
int dsvm_engine_live_fingerprint(char out[65], const dsvm_engine *e, const dsvm_plan *plan);

/**
 * The members a saved plan adds to the JSON plan (to merge as `meta` into
 * dsvm_plan_render_json()): "commit" (or null), "liveFingerprint",
 * "liveResources" ({id: fingerprint of its live body}), "planFingerprint"
 * and "options". A new reference in *out.
 *
 * @return 0 or DSVM_ENOMEM
 */
int dsvm_plan_file_meta(json_t **out, const dsvm_engine *e, const dsvm_plan *plan);

/**
 * Read a saved plan from `path` and check that it is one: a JSON object of
 * this plan format version with the members above.
 *
 * @return 0; DSVM_EIO when the file cannot be read; DSVM_EINVALID when it
 *         is not a saved plan (the message says how to make one)
 */
int dsvm_plan_file_load(json_t **out, const char *path);

/**
 * Take the options a saved plan was made with (instance, target, prune,
 * adopt) into `opts`. An option given on the command line too must agree.
 * The strings stay borrowed from `saved`.
 *
 * @return 0, or DSVM_EINVALID naming the option that disagrees
 */
int dsvm_plan_file_options(dsvm_reconcile_opts *opts, const json_t *saved, const char *path);

/**
 * Compare a saved plan with the plan `e` makes now (`plan`, after observe
 * and plan with the saved options).
 *
 * @return 0 when the commit, the live state and the plan are the same;
 *         DSVM_EREFUSED with a message that says what moved (the commit,
 *         the live state of which resources, or the plan) and to run plan
 *         again; DSVM_ENOMEM
 */
int dsvm_plan_file_check(const json_t *saved, const dsvm_engine *e, const dsvm_plan *plan);

#endif
