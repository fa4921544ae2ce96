/*
 * Roll-outs (design rule 11). Under upgradePolicy Manual a change to a scale
 * set's model reaches its running instances only through manualupgrade.
 *
 * Who upgrades: with Automatic or Rolling, Azure does. With Manual, dsvmops
 * does only when dsvmops.yaml has `reconcile.rollout` (e.g. {batch: 20%}):
 * after an apply in which everything succeeded, it upgrades the instances of
 * each updated Manual scale set that are not on the latest model, one batch
 * at a time. Without `reconcile.rollout` the instances keep the old model
 * until someone upgrades them.
 *
 * Cost: one instance list per scale set the plan updates (plus its pages);
 * in-sync plans send nothing. A scale set whose instances fell behind while
 * its model stayed in sync shows up the next time a plan updates it.
 */
#ifndef DSVM_ROLLOUT_H
#define DSVM_ROLLOUT_H

#include "engine.h"

/**
 * For each scale set `plan` updates, add a warning that says how many of its
 * instances are not on the latest model, and whether this update changes the
 * model and who will bring them up to date. A failed instance list is a
 * warning too. Returns 0, or DSVM_ENOMEM or the error of the HTTP loop.
 */
int dsvm_rollout_plan(dsvm_engine *e, dsvm_plan *plan);

/**
 * After a successful apply of `plan`: when `reconcile.rollout` is set, upgrade
 * the outdated instances of each updated scale set with upgradePolicy Manual
 * through POST {vmss}/manualupgrade, batch after batch (each a long-running
 * operation, waited for before the next). Progress lines go to
 * opts.progress. Returns 0, or DSVM_ERROR with a message that names the
 * scale set, the instances and how to resume (apply again). Each
 * manualupgrade is a write: journalled in run `run_id` (action "rollout")
 * before it is sent, with its outcome after (design rule 9).
 */
int dsvm_rollout_apply(dsvm_engine *e, const dsvm_plan *plan, int64_t run_id);

#endif
