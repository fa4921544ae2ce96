/*
 * The resource graph: expanded resources and their dependency edges, the
 * order they apply in, and a scheduler that hands out ready nodes.
 *
 * Edges come from each resource's "dependsOn" (IDs, compared
 * case-insensitively). A dependency outside the graph is taken to exist
 * already and is ignored. Cycles are refused with a message naming them.
 * Pure: no I/O.
 */
#ifndef DSVM_GRAPH_H
#define DSVM_GRAPH_H

#include <stddef.h>
#include <jansson.h>

typedef struct dsvm_graph dsvm_graph;

/**
 * Build the graph of `resources`, a JSON array of {"id", "dependsOn": [ids], ...}.
 *
 * @return 0; DSVM_EINVALID for a duplicate ID, a resource without an ID or
 *         a dependency cycle (dsvm_error_last() names it); DSVM_ENOMEM
 */
int dsvm_graph_new(dsvm_graph **out, const json_t *resources);

/** Free a graph; accepts NULL. */
void dsvm_graph_free(dsvm_graph *graph);

/** Number of nodes. */
size_t dsvm_graph_size(const dsvm_graph *graph);

/** The resource (borrowed) of node `i`. */
const json_t *dsvm_graph_resource(const dsvm_graph *graph, size_t i);

/** Find a node by resource ID (case-insensitive); DSVM_ENOTFOUND if absent. */
int dsvm_graph_find(size_t *out, const dsvm_graph *graph, const char *id);

/**
 * Mark in `selected` (one byte per node, zeroed by the caller) node `i`
 * and everything it needs, transitively: what `--target` applies.
 */
void dsvm_graph_closure(const dsvm_graph *graph, size_t i, unsigned char *selected);

/** Length of the longest dependency chain, in nodes (0 for an empty graph). */
size_t dsvm_graph_depth(const dsvm_graph *graph);

/**
 * Render as Graphviz DOT, one node per resource labelled with its type's
 * last segment and name, clustered by the "object" field.
 */
int dsvm_graph_render_dot(char **out, const dsvm_graph *graph);

/** Node states in a schedule. */
typedef enum {
    DSVM_NODE_PENDING = 0, /**< waiting for dependencies */
    DSVM_NODE_RUNNING,     /**< handed out by dsvm_sched_next() */
    DSVM_NODE_DONE,
    DSVM_NODE_FAILED,
    DSVM_NODE_BLOCKED, /**< a dependency failed; never started */
    DSVM_NODE_SKIPPED, /**< not selected */
} dsvm_node_state;

typedef struct dsvm_sched dsvm_sched;

/**
 * Start a schedule over `graph`. With `reverse`, dependents go first (for
 * deletes). `selected` (one byte per node, may be NULL for all) limits the
 * schedule; unselected nodes count as done.
 */
int dsvm_sched_new(dsvm_sched **out, const dsvm_graph *graph, int reverse,
                   const unsigned char *selected);

/** Free a schedule; accepts NULL. */
void dsvm_sched_free(dsvm_sched *sched);

/**
 * Hand out the next node whose dependencies are all done (it becomes
 * RUNNING). Returns 0 with *out set, or DSVM_ENOTFOUND when none is ready
 * right now (wait for a running node to finish, or the schedule is over).
 */
int dsvm_sched_next(size_t *out, dsvm_sched *sched);

/**
 * Report node `i` finished. On failure every node that depends on it,
 * transitively, becomes BLOCKED; independent branches go on.
 */
void dsvm_sched_done(dsvm_sched *sched, size_t i, int ok);

/** True when no node is pending or running. */
int dsvm_sched_finished(const dsvm_sched *sched);

/** The state of node `i`. */
dsvm_node_state dsvm_sched_state(const dsvm_sched *sched, size_t i);

#endif
