/*
 * Start and stop a real armsim for one test: spawned on 127.0.0.1 port 0,
 * its URL read from the first line of its stdout, stopped with SIGTERM.
 * Also small helpers for its control endpoints (stats, faults).
 */
#ifndef DSVM_ARMSIM_FIXTURE_H
#define DSVM_ARMSIM_FIXTURE_H

#include <sys/types.h>

#include <jansson.h>

typedef struct {
    pid_t pid;
    char *url; /**< "http://127.0.0.1:PORT" */
} armsim;

/**
 * Spawn DSVM_ARMSIM with --listen 127.0.0.1:0 and the NULL-terminated
 * `args`, and wait for its "armsim listening on URL" line. Returns 0 or -1.
 */
int armsim_start(armsim *a, const char *const *args);

/** SIGTERM and reap the process; frees the URL. */
void armsim_stop(armsim *a);

/** GET /_armsim/stats; the caller frees the JSON. NULL on failure. */
json_t *armsim_stats(const armsim *a);

/** An integer at a dotted path in the stats ("requests.by_verb.GET"); 0 when absent. */
long long armsim_stat(const armsim *a, const char *path);

/** POST one fault rule (JSON text). Returns 0 or -1. */
int armsim_fault(const armsim *a, const char *rule);

#endif
