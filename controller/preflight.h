/*
 * Preflight at plan time (design rule 12): before a plan proposes writes,
 * check what would make them fail halfway through an apply, and report it
 * as plan findings.
 *
 *   - every resource-provider namespace of a planned create, update or
 *     replace is registered (one GET per namespace);
 *   - compute quota: the vCPUs that planned scale sets add (capacity, or
 *     the autoscale maximum when larger, minus what is live) fit in what is
 *     free of their family and of the regional total (one GET of the
 *     compute usages per location);
 *   - the features that planned writes use are registered: a scale set with
 *     encryptionAtHost needs Microsoft.Compute/EncryptionAtHost (one GET of
 *     the feature per subscription, only when a planned scale set sets it);
 *   - at most one Batch account is planned per resource group and region
 *     (no request).
 *
 * Not checked: Batch pools' cores (BatchService pools, the only kind the
 * Azure provider creates, draw on the Batch account's own quota, not on the
 * subscription's regional vCPUs).
 */
#ifndef DSVM_PREFLIGHT_H
#define DSVM_PREFLIGHT_H

#include "engine.h"

/**
 * Add preflight findings to `plan` (after dsvm_engine_observe() and
 * dsvm_plan_build()). A plan without creates, updates or replaces is left
 * alone and costs no request. Checks that cannot be made (a read failed, a
 * VM size dsvmops does not know) become warnings. Returns 0, or DSVM_ENOMEM
 * or the error of the HTTP loop.
 */
int dsvm_preflight_run(dsvm_engine *e, dsvm_plan *plan);

#endif
