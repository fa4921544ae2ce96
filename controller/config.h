/*
 * The controller configuration, dsvmops.yaml (DESIGN.md section 4).
 *
 * dsvm_config_load() reads the file with libyaml into a typed struct. Paths
 * are made absolute relative to the file's directory. Secrets are never in
 * the file: they are named by `*_env` (an environment variable) or `*_file`
 * (a file) keys, and a literal secret key is an error that says what to write
 * instead. Azure SDK environment variables fill what the file leaves out;
 * every target value records where it came from, for `dsvmops status`.
 */
#ifndef DSVM_CONFIG_H
#define DSVM_CONFIG_H

#include <stdint.h>

#include <jansson.h>

#include "dsvmops/manifest.h"

/** Where a configuration value came from. */
typedef enum {
    DSVM_CONFIG_UNSET = 0, /**< nowhere: the value is NULL */
    DSVM_CONFIG_DEFAULT,   /**< built-in default */
    DSVM_CONFIG_FILE,      /**< dsvmops.yaml */
    DSVM_CONFIG_ENV,       /**< an Azure SDK environment variable */
} dsvm_config_origin;

/** A string value with its origin. `value` is NULL when unset. */
typedef struct {
    char *value;
    dsvm_config_origin origin;
    const char *env_name; /**< the environment variable it came from, when origin is ENV */
    int line;             /**< 1-based position in the file when origin is FILE, else 0 */
    int column;
} dsvm_config_value;

/** How the controller authenticates to Azure. */
typedef enum {
    DSVM_CREDENTIAL_CLIENT_SECRET = 0,
    DSVM_CREDENTIAL_MANAGED_IDENTITY,
    DSVM_CREDENTIAL_WORKLOAD_IDENTITY,
} dsvm_credential_kind;

/** A secret named by an environment variable or a file (never a literal). */
typedef struct {
    char *env;  /**< variable name, or NULL */
    char *file; /**< absolute path, or NULL */
} dsvm_config_secret;

typedef enum {
    DSVM_ALERT_WEBHOOK = 0,
    DSVM_ALERT_SLACK,
    DSVM_ALERT_TEAMS,
} dsvm_alert_kind;

typedef struct {
    dsvm_alert_kind kind;
    char *url; /**< literal URL, or NULL when given by url_env/url_file */
    dsvm_config_secret url_secret;
    dsvm_config_secret secret; /**< HMAC secret (webhook) */
} dsvm_config_alert;

typedef struct {
    struct {
        char *url; /**< absolute path, file://, https:// or ssh:// */
        char *ref;
        char *path;
        int64_t interval_ms;
        struct {
            char *username;
            dsvm_config_secret password;
            char *ssh_key_file;
            char *known_hosts_file;
        } auth;
    } source;
    struct {
        dsvm_config_value subscription;
        dsvm_config_value tenant;
        dsvm_config_value resource_manager;
        dsvm_config_value authority;
        dsvm_config_value imds_endpoint;
        dsvm_config_value credential; /**< the word; see `credential_kind` */
        dsvm_credential_kind credential_kind;
        dsvm_config_value client_id;
        dsvm_config_value client_secret_env;    /**< variable that holds the secret */
        dsvm_config_value client_secret_file;   /**< file that holds the secret */
        dsvm_config_value federated_token_file; /**< workload identity assertion */
        dsvm_config_value ca_file;
        dsvm_config_value audience; /**< token audience for ARM; see dsvm_config_load() */
    } target;
    struct {
        char *path;
    } state;
    struct {
        int auto_apply, prune, adopt, self_heal, suspend;
        int parallelism;
        int max_deletes;
        int rollout_batch;         /**< a count, or a percentage when the flag is set */
        int rollout_batch_percent; /**< 1 when rollout_batch is a percentage */
        int rollout_set;           /**< 1 when reconcile.rollout is in the file */
    } reconcile;
    struct {
        int64_t interval_ms;
        /** What to do about drift, DSVM_DRIFT_* (manifest.h); DSVM_UNSET: heal
         * when reconcile.self_heal, else alert. */
        int policy;
        int kind_policy[DSVM_KIND_COUNT]; /**< per kind (dsvm_kind), DSVM_UNSET when not set */
    } drift;
    dsvm_config_alert *alerts;
    size_t nalerts;
    struct {
        char *listen;
        dsvm_config_secret webhook_secret; /**< env defaults to DSVMOPS_WEBHOOK_SECRET */
        dsvm_config_secret api_token;      /**< env defaults to DSVMOPS_API_TOKEN */
    } server;
    struct {
        char *level;  /**< "debug", "info", "warn", "error" */
        char *format; /**< "text" or "json" */
    } log;
    char *path; /**< the configuration file itself, absolute */
    char *dir;  /**< its directory */
} dsvm_config;

/**
 * Load `path`. `envp` is a NULL-terminated "NAME=value" array consulted for
 * the Azure SDK variables (AZURE_TENANT_ID, AZURE_CLIENT_ID,
 * AZURE_CLIENT_SECRET, AZURE_FEDERATED_TOKEN_FILE, AZURE_AUTHORITY_HOST,
 * AZURE_SUBSCRIPTION_ID); NULL means the process environment. The file wins
 * over the environment.
 *
 * Defaults: resource_manager https://management.azure.com, authority
 * https://login.microsoftonline.com, imds_endpoint
 * http://169.254.169.254/metadata/identity/oauth2/token, audience equal to
 * resource_manager (https://management.azure.com when resource_manager is a
 * loopback http:// emulator), credential client_secret when a secret is
 * named, workload_identity when a federated token file is, managed_identity
 * otherwise.
 *
 * Returns 0, DSVM_EIO when the file cannot be read, or DSVM_EINVALID with
 * every problem in the error message, one "path:line:col: error: ..." per
 * line. `*out` is written only on success; free it with dsvm_config_free().
 */
int dsvm_config_load(dsvm_config **out, const char *path, char *const *envp);

/** Free a configuration; NULL is accepted. */
void dsvm_config_free(dsvm_config *cfg);

/** "file", "env", "default" or "unset". */
const char *dsvm_config_origin_name(dsvm_config_origin origin);

/** "client_secret", "managed_identity" or "workload_identity". */
const char *dsvm_config_credential_name(dsvm_credential_kind kind);

/**
 * The target section with the origin of every value, for `dsvmops status`
 * and /api/v1/status: {"subscription": {"value": "...", "origin": "file",
 * "line": 11, "column": 17}, "tenant": {"value": "...", "origin": "env",
 * "env": "AZURE_TENANT_ID"}, "authority": {..., "origin": "default"}, ...}.
 * Unset values are left out. No secret is included: client_secret_env and
 * client_secret_file name where the secret is. Returns a new reference, or
 * NULL when out of memory.
 */
json_t *dsvm_config_target_json(const dsvm_config *cfg);

/**
 * Read a secret named by `secret`: the variable's value from `envp` (NULL
 * means the process environment), or the file's content without trailing
 * newlines. `what` names the key in messages ("target.client_secret").
 * Returns 0 with a heap string the caller frees (and should wipe), or
 * DSVM_ENOTFOUND when the variable is unset or empty, or DSVM_EIO when the
 * file cannot be read. The secret value never appears in a message.
 */
int dsvm_config_read_secret(char **out, const dsvm_config_secret *secret, const char *what,
                            char *const *envp);

#endif
