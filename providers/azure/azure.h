/*
 * Internals of the Azure provider, shared by its files. Nothing here is
 * exported from the plugin: it builds with hidden visibility, and only
 * dsvm_provider_abi and dsvm_provider_entry (azure.c) are visible.
 */
#ifndef DSVM_AZURE_H
#define DSVM_AZURE_H

#include <jansson.h>

#include "dsvmops/provider.h"

/* The image alias table (images.c), version AZ_IMAGE_TABLE_VERSION. */
#define AZ_IMAGE_TABLE_VERSION "2026-11"

typedef struct {
    const char *alias;
    const char *publisher;
    const char *offer;
    const char *sku;
    const char *os; /* "linux" | "windows" */
    const char *node_agent_sku_id;
} az_image;

/* The alias's row, or NULL. */
const az_image *az_image_find(const char *alias);

/* Per-type rules (types.c). */
const dsvm_type_rules *az_types(uint32_t *n);
const dsvm_type_rules *az_type_find(const char *type);

/*
 * The resource type of an ARM ID: "Microsoft.Storage/storageAccounts/
 * fileServices/shares" for a share, "Microsoft.Resources/resourceGroups"
 * for a group. Returns a new JSON string, or NULL when `id` is no ARM ID.
 */
json_t *az_type_of_id(const char *id);

/* UUIDv5 (RFC 4122 section 4.3, SHA-1) of `name` in namespace `ns`, as
 * 36 lower-case characters plus NUL in `out`. Returns 0 or DSVM_ENOMEM. */
int az_uuid5(char out[37], const unsigned char ns[16], const char *name, size_t len);

/*
 * The deterministic name of a role assignment: UUIDv5, in the dsvmops
 * role-assignment namespace, of the lower-cased scope, the lower-cased
 * role definition GUID and the principal reference ("Identity/x" or an
 * object ID), joined by '|'. Never depends on a principalId.
 */
int az_role_assignment_name(char out[37], const char *scope, const char *role_guid,
                            const char *principal_ref);

/* The first 2 * `bytes` hex digits of SHA-1(`text`), NUL-terminated in
 * `out` (at least 2 * bytes + 1 long); bytes <= 20. */
void az_short_hash(char *out, size_t bytes, const char *text);

/* Base64 of `len` bytes as a new JSON string, or NULL. */
json_t *az_base64(const char *data, size_t len);

/* classify (classify.c): maps an answer to DSVM_ANSWER_*, and writes a
 * list page or an error document to *doc (new reference, may be NULL). */
int az_classify(int32_t *out_class, json_t **doc, int32_t status, const char *body,
                size_t body_len);

/* describe_reads (reads.c): the read requests for `scope`. On failure
 * returns a negative DSVM_E* code with a message in *err (new string). */
int az_describe_reads(json_t **out, const json_t *scope, json_t **err);

/* expand (expand.c): the resources for `objects`, or an error message. */
int az_expand(json_t **out, const json_t *context, const json_t *objects, json_t **err);

#endif
