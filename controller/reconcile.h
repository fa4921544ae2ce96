/*
 * The reconcile engine: one pass of the data flow in DESIGN.md section 2.
 *
 *   manifests --model--> objects --provider expand--> desired resources
 *   --host HTTP (one list per type)--> live state --diff--> plan
 *   --DAG-ordered, journalled writes--> Azure
 *
 * An engine owns the HTTP loop, the credential, the provider plugin and
 * the state store for one target. plan and apply are separate calls so
 * that `dsvmops plan` never writes and `dsvmops apply` can refuse a plan
 * that a guard rejects before anything is sent.
 */
#ifndef DSVM_RECONCILE_H
#define DSVM_RECONCILE_H

#include <signal.h>
#include <stdio.h>

#include "config.h"
#include "dsvmops/manifest.h"
#include "plan.h"

typedef struct {
    const char *source_dir;   /**< directory of manifests */
    const char *provider_dir; /**< NULL: next to the program */
    const char *instance;     /**< ownership tag value; NULL: "default" */
    const char *commit;       /**< recorded with the run; NULL: "" */
    int prune;                /**< delete owned resources no longer in Git */
    int adopt;                /**< adopt existing unowned resources */
    int max_deletes;          /**< refuse more deletes than this */
    int allow_replace;        /**< permit replacing stateful resources */
    int parallelism;          /**< writes in flight at once */
    int resend_secrets;       /**< re-send write-only fields without fingerprints */
    const char *target;       /**< "Kind/name": only that object and what it needs */
    FILE *progress;           /**< per-resource progress lines, or NULL */
    const char *rate_limits;  /**< client token buckets, e.g. "writes=200/10"; NULL: ARM's */
    /** No credential: for commands that send nothing to Azure (graph). */
    int offline;
    /** Raised by a SIGTERM handler: start nothing new, let writes on the wire finish. */
    const volatile sig_atomic_t *stop;
    /** Where the transport logs; NULL: stderr. Borrowed. */
    struct dsvm_log *log;
    /** Told +1/-1 as long-running operations start and end polling (the daemon's gauge). */
    void (*lro_in_flight)(int delta, void *payload);
    void *lro_payload;
} dsvm_reconcile_opts;

/**
 * Parse a token-bucket spec into three limits (read, write, delete order):
 * "off", or comma-separated "reads=BURST/PER_SEC", "writes=...",
 * "deletes=..." (classes not named keep ARM's limits). The same syntax as
 * armsim's --throttle.
 */
int dsvm_rate_limits_parse(void *out_limits3, const char *spec);

/** What one apply did. */
typedef struct {
    size_t succeeded, failed, blocked, skipped;
    size_t resumed;  /**< writes of an interrupted earlier run, observed again */
    int interrupted; /**< the stop flag was raised: not everything was started */
    size_t writes, deletes;
    int64_t run_id;
} dsvm_apply_result;

typedef struct dsvm_engine dsvm_engine;

/**
 * Set up an engine: HTTP loop and credential from `cfg`, the "azure"
 * provider, and (when `with_state`) the state store. Fails with a message
 * naming what to fix (DSVM_EINVALID, DSVM_ENOTFOUND, DSVM_EABI, DSVM_EIO).
 */
int dsvm_engine_new(dsvm_engine **out, const dsvm_config *cfg, const dsvm_reconcile_opts *opts,
                    int with_state);

/** Free an engine; accepts NULL. */
void dsvm_engine_free(dsvm_engine *e);

/**
 * Load and validate the manifests and expand them into resources. On
 * validation errors returns DSVM_EINVALID with `diags` filled.
 */
int dsvm_engine_load(dsvm_engine *e, dsvm_diags *diags);

/** Read live state: one paged list per type, GETs for types without one. */
int dsvm_engine_observe(dsvm_engine *e);

/** Diff desired against live into a plan (after load and observe). */
int dsvm_engine_plan(dsvm_engine *e, dsvm_plan **out);

/**
 * Apply `plan`: guards first (DSVM_EREFUSED, nothing written), then the
 * target lease (DSVM_EBUSY), then journalled writes in dependency order,
 * deletes in reverse order. Returns 0 when every write succeeded, or
 * DSVM_ERROR when some failed (see `out`); the run is recorded either way.
 */
int dsvm_engine_apply(dsvm_engine *e, const dsvm_plan *plan, dsvm_apply_result *out);

/**
 * Settle the journal entries that an interrupted earlier run left without
 * an outcome (kill -9, a crash), against the live state just observed: the
 * resources were read again, so nothing is created twice. Marks those runs
 * interrupted and says so on the progress stream. Call after observe, with
 * no lease held. Returns how many entries were settled.
 */
size_t dsvm_engine_settle(dsvm_engine *e);

/** The expanded resources (borrowed), after dsvm_engine_load(). */
const json_t *dsvm_engine_resources(const dsvm_engine *e);

/** The loaded repository (borrowed), after dsvm_engine_load(). */
const dsvm_repo *dsvm_engine_repo(const dsvm_engine *e);

/** ARM requests sent so far, by verb, as {"GET": n, ...} (a new reference). */
json_t *dsvm_engine_request_counts(const dsvm_engine *e);

#endif
