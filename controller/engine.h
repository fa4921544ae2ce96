/*
 * The reconcile engine's insides, shared by reconcile.c (load, observe,
 * plan) and apply.c (apply). Not for other modules: they use reconcile.h.
 */
#ifndef DSVM_ENGINE_H
#define DSVM_ENGINE_H

#include "auth.h"
#include "graph.h"
#include "http.h"
#include "provider_host.h"
#include "reconcile.h"
#include "state.h"

struct dsvm_engine {
    const dsvm_config *cfg;
    dsvm_reconcile_opts opts;
    const char *base; /* resource manager URL, no trailing slash */
    const char *audience;
    const char *subscription;
    dsvm_http *http;
    dsvm_auth *auth;
    dsvm_plugin *plugin;
    dsvm_state *state;
    dsvm_repo *repo;
    json_t *resources; /* expanded: [{"id","type","object","body","dependsOn","writeOnly"}] */
    dsvm_graph *graph;
    json_t *live;  /* lower-cased ID -> live body */
    json_t *owned; /* [{"id","type","object"}] owned by this instance */
    char *read_error;
    char *source_dir; /* owned copy of opts.source_dir */
    char *commit;     /* owned copy of opts.commit */
};

/**
 * Expand the loaded repository (e->repo) through the provider into
 * e->resources and build e->graph. dsvm_engine_load() is dsvm_repo_load()
 * followed by this; benchmarks call the two apart to time them.
 * Returns 0 or DSVM_E* with dsvm_error_last() set.
 */
int dsvm_engine_expand(dsvm_engine *e);

/**
 * Take one answer to a read: the provider classifies it, and the items of
 * a successful list page (or a single resource) go into live state.
 * `*out_next` gets a malloc'd nextLink to follow, or NULL. Returns the
 * DSVM_ANSWER_* class, or a negative DSVM_E* code (then `*out_next` is
 * untouched).
 */
int dsvm_engine_take_answer(dsvm_engine *e, char **out_next, const char *request_json, int status,
                            const char *body, size_t body_len);

/** A lower-cased copy of `s` (malloc'd), or NULL. */
char *dsvm_engine_lower(const char *s);

/** The live body of `id` (borrowed; case-insensitive), or NULL. */
json_t *dsvm_engine_live_get(const dsvm_engine *e, const char *id);

/** Set the live body of `id`, stealing `body`. */
int dsvm_engine_live_put(dsvm_engine *e, const char *id, json_t *body);

/** Forget the live body of `id`. */
void dsvm_engine_live_del(dsvm_engine *e, const char *id);

/** Fill {"$knownAfterApply": "<id>#<path>"} placeholders from live state. */
void dsvm_engine_resolve_known(dsvm_engine *e, json_t *v);

/** `base` followed by `path` (malloc'd), or NULL. */
char *dsvm_engine_url(const char *base, const char *path);

/**
 * Called once per dsvm_engine_get(): `status` is the HTTP status (0 when no
 * answer came) and `body` the parsed answer (borrowed; NULL when it is not
 * JSON or no answer came). `message` says why a request failed, or NULL.
 */
typedef void (*dsvm_engine_get_fn)(dsvm_engine *e, long status, const json_t *body,
                                   const char *message, void *payload);

/**
 * GET `path` (relative to the resource manager, or an absolute URL such as
 * a nextLink) from the reads bucket; `done` runs from dsvm_http_run().
 * Returns 0 (then `done` runs exactly once) or DSVM_E*.
 */
int dsvm_engine_get(dsvm_engine *e, const char *path, dsvm_engine_get_fn done, void *payload);

#endif
