/*
 * Field-level diff of one resource: desired body against live body, under
 * the per-type rules a provider exports (dsvm_type_rules).
 *
 * Design rule 3: compare only the fields the desired body sets; ignore
 * read-only and write-only fields; a live value missing where the desired
 * one equals the server default is no change; values compare through the
 * normalisers (ARM IDs and locations case-insensitively, role definition
 * IDs by trailing GUID, userAssignedIdentities keys as IDs); a change to an
 * immutable field marks the resource for replacement.
 *
 * Pure: no I/O. Desired values that are only known after apply are written
 * by expand as {"$knownAfterApply": "<what>"}; they never count as a change.
 */
#ifndef DSVM_DIFF_H
#define DSVM_DIFF_H

#include <stddef.h>
#include <jansson.h>

#include "dsvmops/provider.h"

/** One changed field. `before`/`after` are NULL when absent. */
typedef struct {
    char *path;     /**< dotted path, e.g. "properties.virtualMachineProfile.storageProfile" */
    json_t *before; /**< live value (a new reference) or NULL */
    json_t *after;  /**< desired value (a new reference) or NULL */
    int immutable;  /**< 1 when this change forces a replace */
} dsvm_field_change;

/** The differences of one resource. */
typedef struct {
    dsvm_field_change *changes;
    size_t n;
    const char *replace_field; /**< first immutable path changed (borrowed from changes), or NULL */
} dsvm_diff;

/**
 * Diff `desired` against `live` for a resource of the type `rules` describes.
 *
 * @param out set to a new dsvm_diff (possibly with n == 0) on success
 * @return 0, or DSVM_ENOMEM
 */
int dsvm_diff_resource(dsvm_diff **out, const json_t *desired, const json_t *live,
                       const dsvm_type_rules *rules);

/** Free a diff; accepts NULL. */
void dsvm_diff_free(dsvm_diff *diff);

/**
 * Does the dotted `path` match the rule `pattern`? A pattern segment "*"
 * matches any one segment; a pattern also matches every path below it.
 */
int dsvm_path_matches(const char *pattern, const char *path);

/**
 * Are two values equal under normaliser `norm` (a DSVM_NORM_* value, or 0
 * for exact JSON equality)?
 */
int dsvm_values_equal(const json_t *a, const json_t *b, unsigned norm);

#endif
