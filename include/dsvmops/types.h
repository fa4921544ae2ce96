/*
 * Fixed-width constants shared by the controller and provider plugins.
 *
 * Everything here crosses the plugin boundary, so every value is a plain
 * integer constant with a fixed meaning: values are only ever added.
 */
#ifndef DSVMOPS_TYPES_H
#define DSVMOPS_TYPES_H

#include <stddef.h>
#include <stdint.h>

/** Log levels passed to dsvm_host_api.log (ABI 1). */
#define DSVM_LOG_ERROR 0
#define DSVM_LOG_WARN  1
#define DSVM_LOG_INFO  2
#define DSVM_LOG_DEBUG 3

/** Which client-side token bucket a request draws from (design rule 7);
 * the same numbers as the controller's dsvm_bucket_class. */
#define DSVM_REQ_READ   0
#define DSVM_REQ_WRITE  1
#define DSVM_REQ_DELETE 2

/** Per-type flags in dsvm_type_rules.flags (ABI 1). */
#define DSVM_TYPE_TAGGABLE   (1u << 0) /**< ownership goes in tags */
#define DSVM_TYPE_STATEFUL   (1u << 1) /**< a replace needs --allow-replace */
#define DSVM_TYPE_ETAG       (1u << 2) /**< PUT accepts If-Match */
#define DSVM_TYPE_PUT_LRO    (1u << 3) /**< PUT may answer 201/202 and run long */
#define DSVM_TYPE_DELETE_LRO (1u << 4) /**< DELETE may answer 202 and run long */
#define DSVM_TYPE_NO_LIST    (1u << 5) /**< no list API: read with one GET each */

/** Field normalisers named in dsvm_type_rules.normalisers (ABI 1). */
#define DSVM_NORM_ARM_ID        1 /**< compare case-insensitively as an ARM ID */
#define DSVM_NORM_LOCATION      2 /**< "East US" == "eastus" */
#define DSVM_NORM_ROLE_DEF_ID   3 /**< compare by the trailing GUID */
#define DSVM_NORM_IDENTITY_KEYS 4 /**< userAssignedIdentities keys are ARM IDs */
#define DSVM_NORM_CASE          5 /**< compare case-insensitively */

/**
 * How a provider classifies an ARM answer in dsvm_provider.classify
 * (ABI 1). The host acts on the class; it never interprets bodies itself.
 */
#define DSVM_ANSWER_OK           0 /**< done; the body is the resource */
#define DSVM_ANSWER_ACCEPTED     1 /**< a long-running operation started */
#define DSVM_ANSWER_ABSENT       2 /**< the resource (or its group) does not exist */
#define DSVM_ANSWER_ALREADY_DONE 3 /**< e.g. RoleAssignmentExists: treat as success */
#define DSVM_ANSWER_RETRY        4 /**< transient: back off and send again */
#define DSVM_ANSWER_FATAL        5 /**< a real error; the body says why */

#endif
