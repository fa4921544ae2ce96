/*
 * Bearer tokens for ARM and the Key Vault data plane.
 *
 * Three credentials: a client secret and a workload-identity assertion
 * (AZURE_FEDERATED_TOKEN_FILE) against {authority}/{tenant}/oauth2/v2.0/token
 * with scope "{audience}/.default", and a managed identity through the IMDS
 * endpoint (Metadata: true, resource={audience}). Tokens are cached per
 * audience and refreshed before they expire (10% of their lifetime early,
 * at most 5 minutes). The token requests run on the same dsvm_http loop as
 * everything else: dsvm_auth_new() installs the auth as the loop's token
 * source, and requests with an `audience` wait while a token is fetched.
 * Neither secrets nor tokens are ever logged.
 */
#ifndef DSVM_AUTH_H
#define DSVM_AUTH_H

#include <stdint.h>

#include "config.h"
#include "http.h"

/** The audience of tokens for the Key Vault data plane. */
#define DSVM_AUDIENCE_KEYVAULT "https://vault.azure.net"

/** What a credential needs; strings are copied. */
typedef struct {
    dsvm_credential_kind kind;
    const char *authority; /**< e.g. https://login.microsoftonline.com (secret, workload) */
    const char *tenant;    /**< tenant ID (secret, workload) */
    const char *client_id; /**< application ID; for managed identity selects a user-assigned one */
    const char *client_secret;  /**< the secret itself (client_secret only) */
    const char *assertion_file; /**< file holding the federated JWT (workload_identity) */
    const char *imds_endpoint;  /**< e.g. http://169.254.169.254/metadata/identity/oauth2/token */
} dsvm_auth_options;

/** Counters for /metrics and tests. */
typedef struct {
    uint64_t token_requests; /**< token requests answered (successful or not) */
    uint64_t token_failures; /**< token requests that gave no token */
    uint64_t cache_hits;     /**< tokens served from the cache */
} dsvm_auth_stats;

typedef struct dsvm_auth dsvm_auth;

/**
 * Create a credential and install it as the token source of `h`. Returns 0,
 * DSVM_EINVALID when a required option is missing, or DSVM_ENOMEM. Free `h`
 * before the auth (dsvm_http_free() completes pending token requests).
 */
int dsvm_auth_new(dsvm_auth **out, dsvm_http *h, const dsvm_auth_options *opts);

/**
 * Create the credential that `cfg` describes, reading the client secret
 * from its variable or file now (`envp` as for dsvm_config_load()).
 * Returns 0 or the error of dsvm_config_read_secret() / dsvm_auth_new().
 */
int dsvm_auth_new_from_config(dsvm_auth **out, dsvm_http *h, const dsvm_config *cfg,
                              char *const *envp);

/** Free the credential and wipe its secrets and tokens; NULL is accepted. */
void dsvm_auth_free(dsvm_auth *a);

/**
 * Get a token for `audience` outside a running loop: runs the loop of `h`
 * until the token request is done (other queued requests run too). Returns
 * 0 with a heap copy the caller frees, or DSVM_EAUTH / DSVM_ENET with the
 * error set. Meant for checks such as `dsvmops status`, and for tests.
 */
int dsvm_auth_token(char **out, dsvm_auth *a, const char *audience);

/** The counters; borrowed. */
const dsvm_auth_stats *dsvm_auth_get_stats(const dsvm_auth *a);

/**
 * The earliest time (dsvm_http_now_ms() clock) at which the cached token
 * for `audience` will be refreshed, or -1 when none is cached.
 */
int64_t dsvm_auth_refresh_at(const dsvm_auth *a, const char *audience);

/**
 * When a token that lives `lifetime_ms` is refreshed: 10% early, at most 5
 * minutes and at least 1 second early (never before it was issued).
 */
int64_t dsvm_auth_refresh_margin_ms(int64_t lifetime_ms);

#endif
