/*
 * Drift: what changed in Azure behind the controller's back, and what the
 * manifests' annotations say to do about it.
 *
 * A drift check is a plan of the applied revision against live state: the
 * same batched reads, no writes. Every resource the plan would create
 * (deleted out of band), update or replace has drifted. Deletes (prune)
 * and adoptions are not drift: they are the controller's own decisions.
 *
 * The policy of a drifted resource is, first match wins: the object's
 * dsvmops.io/drift annotation; drift.kinds in the configuration; drift.policy;
 * "heal" when reconcile.self_heal is set; else "alert". Field-level ignore
 * rules (dsvmops.io/ignore-fields) are applied by the diff, so ignored
 * fields never show here.
 *
 * Episodes live in the state store: one opens when a resource first drifts
 * and closes when it is in sync again (healed, fixed by hand, or no longer
 * desired). Alerts are sent per episode, never per check.
 */
#ifndef DSVM_DRIFT_H
#define DSVM_DRIFT_H

#include <jansson.h>

#include "config.h"
#include "dsvmops/manifest.h"
#include "plan.h"
#include "state.h"

/** What one drift check found. */
typedef struct {
    /**
     * [{"id", "type", "object", "action", "policy": "heal"|"alert"|"ignore",
     *   "fields": [{"path", "live", "desired"}]}], in plan order.
     */
    json_t *drifted;
    size_t in_sync; /**< resources that match their manifest */
    size_t heal, alert, ignore;
} dsvm_drift_report;

/** "heal", "alert" or "ignore". */
const char *dsvm_drift_policy_name(int policy);

/** The policy of `object` (DSVM_DRIFT_*), from its annotation and `cfg`. */
int dsvm_drift_policy(const dsvm_object *object, const dsvm_config *cfg);

/**
 * Find the drift in `plan` (built against the applied revision). `repo`
 * gives the objects' annotations. Fills `out`; clear it with
 * dsvm_drift_report_clear(). Returns 0 or DSVM_ENOMEM.
 */
int dsvm_drift_assess(dsvm_drift_report *out, const dsvm_plan *plan, const dsvm_repo *repo,
                      const dsvm_config *cfg);

/**
 * Render a report as "text", "json" or "markdown" (malloc'd). `commit`
 * (may be NULL or "") names the revision checked. Returns 0, DSVM_EINVALID
 * for another format, or DSVM_ENOMEM.
 */
int dsvm_drift_render(char **out, const dsvm_drift_report *r, const char *format,
                      const char *commit);

/** Free what a report holds and zero it. */
void dsvm_drift_report_clear(dsvm_drift_report *r);

/**
 * Turn `plan` into the heal plan of `r`: drifted resources whose policy is
 * heal keep their action, every other item becomes a no-op. Returns the
 * number of resources left to write.
 */
size_t dsvm_drift_heal_plan(dsvm_plan *plan, const dsvm_drift_report *r);

/**
 * Record the report in the state store's episodes. Drifted resources
 * (except "ignore") open an episode or refresh the open one; open episodes
 * of resources no longer drifted are resolved. `*opened` and `*resolved`
 * get new arrays of {"episode", "id", "object", "fields", "firstSeenMs",
 * "policy"} for the episodes that opened or closed in this call (one alert
 * each). Returns 0 or a DSVM_E* code from the store.
 */
int dsvm_drift_record(json_t **opened, json_t **resolved, dsvm_state *st,
                      const dsvm_drift_report *r);

/**
 * Hold back the resources of objects annotated dsvmops.io/suspend: their
 * items become no-ops, and the plan gains one warning finding naming them.
 * Returns how many items were held.
 */
size_t dsvm_plan_hold_suspended(dsvm_plan *plan, const dsvm_repo *repo);

#endif
