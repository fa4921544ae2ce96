/*
 * The manifest model: a directory of YAML manifests in, validated and typed
 * desired state out.
 *
 * dsvm_repo_load() reads every *.yaml / *.yml file below a directory (in
 * byte order of the relative path), parses each document against the
 * per-kind field tables, applies defaults, resolves references and runs the
 * cross-field rules. Every problem found is added to a dsvm_diags as
 * "path:line:col: error: message" with an optional hint.
 *
 * All strings and specs reachable from a dsvm_repo are owned by it and live
 * until dsvm_repo_free(). The model does no I/O besides reading the files it
 * is given, keeps no mutable global state and never logs. A load reads and
 * parses files on a few short-lived threads of its own (see
 * dsvm_limits.parse_threads) and checks documents on the caller's thread;
 * separate loads may run concurrently. A loaded dsvm_repo is read-only.
 */
#ifndef DSVMOPS_MANIFEST_H
#define DSVMOPS_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The only apiVersion understood today. */
#define DSVM_API_VERSION "dsvmops.io/v1"
/** Version of the built-in image alias table. */
#define DSVM_IMAGE_TABLE_VERSION "2026-11"
/** Value of an enum field that was not given and has no default. */
#define DSVM_UNSET (-1)

/* ------------------------------------------------------------------------ */
/* Limits                                                                   */
/* ------------------------------------------------------------------------ */

/**
 * Limits on hostile or broken input. Every limit ends the offending file
 * (or the whole load, for the totals) with an error naming the file.
 */
typedef struct {
    size_t max_file_bytes;     /**< one file; default 8 MiB */
    size_t max_total_bytes;    /**< all files together; default 256 MiB */
    size_t max_files;          /**< manifest files; default 100000 */
    size_t max_documents;      /**< documents in all files; default 100000 */
    unsigned max_depth;        /**< nesting of collections; default 64 */
    size_t max_scalar_bytes;   /**< one scalar; default 1 MiB */
    size_t max_alias_nodes;    /**< nodes reachable through aliases, per document; default 10000 */
    size_t max_document_nodes; /**< nodes in one document, aliases expanded; default 1000000 */
    size_t max_diags;          /**< diagnostics kept (the rest are counted); default 1000 */
    unsigned parse_threads;    /**< threads reading and parsing files; 0: one per CPU
                                    (at most DSVM_MAX_PARSE_THREADS); 1: the caller's only */
} dsvm_limits;

/** Upper bound of dsvm_limits.parse_threads. */
#define DSVM_MAX_PARSE_THREADS 8

/** Fill `out` with the default limits. */
void dsvm_limits_init(dsvm_limits *out);

/* ------------------------------------------------------------------------ */
/* Diagnostics                                                              */
/* ------------------------------------------------------------------------ */

typedef enum {
    DSVM_DIAG_ERROR = 0,
    DSVM_DIAG_WARNING = 1,
} dsvm_diag_severity;

/** One problem found in the manifests. Line and column are 1-based. */
typedef struct {
    dsvm_diag_severity severity;
    const char *file;    /**< display path (DIR joined with the relative path) */
    uint32_t line;       /**< 0 when the problem concerns the whole file */
    uint32_t col;        /**< 0 when the problem concerns the whole file */
    const char *message; /**< never NULL */
    const char *hint;    /**< NULL or a suggestion such as `did you mean "vmSize"?` */
} dsvm_diag;

typedef struct dsvm_diags dsvm_diags;

/** Create an empty diagnostics list. */
int dsvm_diags_new(dsvm_diags **out);

/** Free a diagnostics list; accepts NULL. */
void dsvm_diags_free(dsvm_diags *diags);

/** Number of diagnostics (all severities). */
size_t dsvm_diags_count(const dsvm_diags *diags);

/** Number of diagnostics of severity DSVM_DIAG_ERROR. */
size_t dsvm_diags_errors(const dsvm_diags *diags);

/** The i-th diagnostic (borrowed), or NULL when out of range. */
const dsvm_diag *dsvm_diags_get(const dsvm_diags *diags, size_t i);

/**
 * Format one diagnostic as `file:line:col: error: message; hint` (no
 * newline). The caller frees the string with free().
 */
int dsvm_diag_format(char **out, const dsvm_diag *diag);

/* ------------------------------------------------------------------------ */
/* Kinds and objects                                                        */
/* ------------------------------------------------------------------------ */

typedef enum {
    DSVM_KIND_RESOURCE_GROUP = 0,
    DSVM_KIND_IDENTITY,
    DSVM_KIND_KEY_VAULT,
    DSVM_KIND_SHARED_STORAGE,
    DSVM_KIND_DOMAIN_JOIN,
    DSVM_KIND_POOL,
    DSVM_KIND_ROLE_ASSIGNMENT,
    DSVM_KIND_POLICY_ASSIGNMENT,
    DSVM_KIND_MONITORING,
    DSVM_KIND_NETWORK,
    DSVM_KIND_COUNT
} dsvm_kind;

/** "Pool", "KeyVault", ...; NULL for an out-of-range kind. */
const char *dsvm_kind_name(dsvm_kind kind);

/** Look a kind up by its exact name; returns 0 and sets *out, or DSVM_ENOTFOUND. */
int dsvm_kind_lookup(dsvm_kind *out, const char *name);

typedef struct dsvm_object dsvm_object;

/** A source position. `file` is the display path; line and col are 1-based. */
typedef struct {
    const char *file;
    uint32_t line;
    uint32_t col;
} dsvm_srcpos;

/** A string-to-string map in source order. */
typedef struct {
    const char *key;
    const char *value;
} dsvm_kv;

typedef struct {
    dsvm_kv *items;
    size_t n;
} dsvm_strmap;

typedef struct {
    const char **items;
    size_t n;
} dsvm_strlist;

/**
 * A reference to another object by name. After a successful load `target`
 * points at the named object (owned by the repo).
 */
typedef struct {
    dsvm_kind kind; /**< kind of the target */
    const char *name;
    const dsvm_object *target;
    uint32_t line, col;
} dsvm_ref;

typedef struct {
    dsvm_ref *items;
    size_t n;
} dsvm_reflist;

/** `{keyVault: <KeyVault name>, secret: <secret name>}`; `vault` resolves to a KeyVault. */
typedef struct {
    dsvm_ref vault;
    const char *secret;
} dsvm_secret_ref;

/** A subnet: either `id` (an ARM subnet ID) or `network` + `subnet` (Network-name/subnet-name). */
typedef struct {
    const char *text;   /**< as written */
    const char *id;     /**< ARM ID, or NULL */
    dsvm_ref network;   /**< when not an ARM ID */
    const char *subnet; /**< subnet name in that Network */
} dsvm_subnet_ref;

typedef struct {
    dsvm_subnet_ref *items;
    size_t n;
} dsvm_subnetlist;

/* --- ResourceGroup, Identity ------------------------------------------ */

typedef struct {
    const char *location;
    dsvm_strmap tags;
} dsvm_resource_group_spec;

typedef struct {
    const char *location;
    dsvm_strmap tags;
} dsvm_identity_spec;

/* --- KeyVault ---------------------------------------------------------- */

enum { DSVM_VAULT_SKU_STANDARD, DSVM_VAULT_SKU_PREMIUM };
enum { DSVM_ACCESS_ENABLED, DSVM_ACCESS_DISABLED };
enum { DSVM_ACL_ALLOW, DSVM_ACL_DENY };
enum { DSVM_BYPASS_AZURE_SERVICES, DSVM_BYPASS_NONE };
enum { DSVM_PRINCIPAL_USER, DSVM_PRINCIPAL_GROUP, DSVM_PRINCIPAL_SERVICE_PRINCIPAL };

/** A vault reader: an Identity (`identity.name` set) or a principal (`object_id` set). */
typedef struct {
    dsvm_ref identity;
    const char *object_id;
    int type; /**< DSVM_PRINCIPAL_*, or DSVM_UNSET for an Identity */
} dsvm_vault_principal;

typedef struct {
    dsvm_vault_principal *items;
    size_t n;
} dsvm_vault_principals;

typedef struct {
    int default_action; /**< DSVM_ACL_* */
    int bypass;         /**< DSVM_BYPASS_* */
    dsvm_strlist ip_rules;
    dsvm_subnetlist subnets;
} dsvm_network_acls;

typedef struct {
    const char *location;
    int sku; /**< DSVM_VAULT_SKU_* */
    bool rbac;
    int64_t soft_delete_retention_days;
    bool purge_protection;
    int public_network_access;       /**< DSVM_ACCESS_* */
    dsvm_network_acls *network_acls; /**< NULL when absent */
    dsvm_vault_principals readers;
    dsvm_vault_principals secrets_users;
    dsvm_strmap tags;
} dsvm_key_vault_spec;

/* --- SharedStorage ----------------------------------------------------- */

enum { DSVM_PROTOCOL_NFS, DSVM_PROTOCOL_SMB };
enum {
    DSVM_STORAGE_PREMIUM_LRS,
    DSVM_STORAGE_PREMIUM_ZRS,
    DSVM_STORAGE_STANDARD_LRS,
    DSVM_STORAGE_STANDARD_ZRS,
    DSVM_STORAGE_STANDARD_GRS
};
enum { DSVM_STORAGE_KIND_FILE_STORAGE, DSVM_STORAGE_KIND_STORAGE_V2 };
enum { DSVM_ROOT_SQUASH_NONE, DSVM_ROOT_SQUASH_ROOT, DSVM_ROOT_SQUASH_ALL };
enum { DSVM_TIER_TRANSACTION_OPTIMIZED, DSVM_TIER_HOT, DSVM_TIER_COOL, DSVM_TIER_PREMIUM };

typedef struct {
    const char *name;
    int64_t quota_gib;
    int root_squash; /**< DSVM_ROOT_SQUASH_* (NFS only) */
    int access_tier; /**< DSVM_TIER_*; defaulted from the sku */
    uint32_t line, col;
} dsvm_share;

typedef struct {
    dsvm_share *items;
    size_t n;
} dsvm_sharelist;

typedef struct {
    const char *location;
    int protocol;     /**< DSVM_PROTOCOL_* */
    int sku;          /**< DSVM_STORAGE_* */
    int account_kind; /**< DSVM_STORAGE_KIND_* (the `kind` field) */
    int public_network_access;
    dsvm_secret_ref *account_key; /**< NULL when absent */
    dsvm_sharelist shares;
    dsvm_strmap tags;
} dsvm_shared_storage_spec;

/* --- DomainJoin -------------------------------------------------------- */

typedef struct {
    const char *domain;
    const char *ou_path;
    const char *user;
    dsvm_secret_ref *password;
    bool restart;
} dsvm_domain_join_spec;

/* --- Pool ---------------------------------------------------------------- */

enum { DSVM_POOL_INTERACTIVE, DSVM_POOL_BATCH };
enum { DSVM_OS_LINUX, DSVM_OS_WINDOWS };
enum { DSVM_UPGRADE_MANUAL, DSVM_UPGRADE_AUTOMATIC, DSVM_UPGRADE_ROLLING };
enum { DSVM_PROTO_SSH, DSVM_PROTO_RDP, DSVM_PROTO_JUPYTER };

/** One row of the versioned image alias table. */
typedef struct {
    const char *alias;
    const char *publisher, *offer, *sku;
    int os; /**< DSVM_OS_* */
    const char *node_agent_sku_id;
} dsvm_image_alias;

/** The image alias table (version DSVM_IMAGE_TABLE_VERSION), `*n_out` rows. */
const dsvm_image_alias *dsvm_image_aliases(size_t *n_out);

/**
 * A pool image. Whether given by alias or explicitly, after load every field
 * but `alias` is filled (`version` defaults to "latest").
 */
typedef struct {
    const char *alias; /**< NULL when given explicitly */
    const char *publisher, *offer, *sku, *version;
    int os;                        /**< DSVM_OS_* */
    const char *node_agent_sku_id; /**< NULL when the image cannot run Batch */
} dsvm_image;

typedef struct {
    int64_t min, max;
    const char *formula;
    const char *evaluation_interval; /**< duration string, batch only */
} dsvm_autoscale;

typedef struct {
    const char *username;
    const char *ssh_public_key;
    dsvm_secret_ref *password; /**< NULL when absent */
} dsvm_admin;

typedef struct {
    dsvm_ref storage;
    const char *share;
    const char *mount_path;
    const dsvm_share *share_def; /**< resolved share of the storage */
    uint32_t line, col;
} dsvm_mount;

typedef struct {
    dsvm_mount *items;
    size_t n;
} dsvm_mountlist;

typedef struct {
    bool antimalware;
    bool encryption_at_host;
    dsvm_ref monitoring; /**< name NULL when absent */
} dsvm_pool_security;

typedef struct {
    int *items; /**< DSVM_PROTO_* */
    size_t n;
} dsvm_protolist;

typedef struct {
    dsvm_protolist protocols;
    dsvm_strlist allow_from;
} dsvm_endpoint;

typedef struct {
    int mode; /**< DSVM_POOL_* */
    const char *location;
    dsvm_image image;
    const char *vm_size;
    int64_t capacity;
    bool has_capacity;
    dsvm_autoscale *autoscale; /**< NULL when absent */
    dsvm_subnet_ref *subnet;   /**< NULL when absent */
    dsvm_reflist identities;
    dsvm_admin *admin;
    dsvm_ref domain_join; /**< name NULL when absent */
    bool entra_login;
    bool has_entra_login;
    dsvm_mountlist shared_storage;
    dsvm_pool_security *security; /**< NULL when absent */
    int upgrade_policy;           /**< DSVM_UPGRADE_* */
    bool has_upgrade_policy;
    dsvm_endpoint *endpoint; /**< NULL when absent */
    int64_t max_tasks_per_node;
    bool has_max_tasks_per_node;
    dsvm_strmap tags;
} dsvm_pool_spec;

/* --- RoleAssignment ---------------------------------------------------- */

/** One row of the built-in role table. */
typedef struct {
    const char *name;
    const char *guid;
} dsvm_builtin_role;

/** The built-in role table, `*n_out` rows. */
const dsvm_builtin_role *dsvm_builtin_roles(size_t *n_out);

typedef struct {
    dsvm_ref identity;             /**< name NULL unless `identity:` */
    const char *group;             /**< object ID */
    const char *user;              /**< object ID */
    const char *service_principal; /**< object ID */
} dsvm_ra_principal;

typedef struct {
    bool subscription;
    dsvm_ref resource_group; /**< name NULL unless `resourceGroup:` */
    dsvm_ref ref;            /**< name NULL unless `ref: Kind/name` */
} dsvm_scope;

typedef struct {
    dsvm_ra_principal principal;
    const char *role;      /**< as written */
    const char *role_guid; /**< the role definition GUID (resolved from the table) */
    dsvm_scope scope;
    const char *description;
} dsvm_role_assignment_spec;

/* --- PolicyAssignment -------------------------------------------------- */

enum { DSVM_ENFORCE_DEFAULT, DSVM_ENFORCE_DO_NOT_ENFORCE };
enum { DSVM_POLICY_IDENTITY_NONE, DSVM_POLICY_IDENTITY_SYSTEM };

typedef struct {
    const char *definition_id;
    dsvm_scope scope;
    const char *display_name;
    const char *description;
    json_t *parameters; /**< object or NULL; owned by the repo */
    int enforcement_mode;
    const char *non_compliance_message;
    int identity; /**< DSVM_POLICY_IDENTITY_* */
    const char *location;
    dsvm_strlist not_scopes;
} dsvm_policy_assignment_spec;

/* --- Monitoring, Network ------------------------------------------------ */

typedef struct {
    const char *location;
    int64_t retention_days;
    const char *sku;
    dsvm_strlist performance_counters;
    int64_t sample_seconds;
    dsvm_strlist syslog;
    dsvm_strlist windows_events;
    dsvm_strmap tags;
} dsvm_monitoring_spec;

typedef struct {
    const char *name;
    const char *address_prefix;
    dsvm_strlist service_endpoints;
    uint32_t line, col;
} dsvm_subnet;

typedef struct {
    dsvm_subnet *items;
    size_t n;
} dsvm_subnetdefs;

typedef struct {
    const char *location;
    dsvm_strlist address_space;
    dsvm_subnetdefs subnets;
    dsvm_strmap tags;
} dsvm_network_spec;

/* --- Objects ------------------------------------------------------------ */

enum { DSVM_DRIFT_HEAL, DSVM_DRIFT_ALERT, DSVM_DRIFT_IGNORE };

/** One manifest object (one YAML document). */
struct dsvm_object {
    dsvm_kind kind;
    const char *name;
    const char *resource_group_name;   /**< metadata.resourceGroup or NULL */
    const dsvm_object *resource_group; /**< resolved ResourceGroup or NULL */
    const char *location; /**< effective: spec.location, else the group's (may be NULL) */
    dsvm_strmap labels;
    dsvm_strmap annotations;
    int drift; /**< DSVM_DRIFT_*, or DSVM_UNSET: follow the controller's reconcile.self_heal */
    dsvm_strlist ignore_fields; /**< from dsvmops.io/ignore-fields */
    bool suspend;               /**< dsvmops.io/suspend */
    dsvm_reflist depends_on;    /**< metadata.dependsOn */
    dsvm_srcpos pos;            /**< the document's first key */
    /** Every object this one references (deduplicated, resolved); for ordering. */
    const dsvm_object **deps;
    size_t n_deps;
    union {
        void *any;
        dsvm_resource_group_spec *resource_group;
        dsvm_identity_spec *identity;
        dsvm_key_vault_spec *key_vault;
        dsvm_shared_storage_spec *shared_storage;
        dsvm_domain_join_spec *domain_join;
        dsvm_pool_spec *pool;
        dsvm_role_assignment_spec *role_assignment;
        dsvm_policy_assignment_spec *policy_assignment;
        dsvm_monitoring_spec *monitoring;
        dsvm_network_spec *network;
    } spec;
};

/* ------------------------------------------------------------------------ */
/* Repository                                                               */
/* ------------------------------------------------------------------------ */

typedef struct dsvm_repo dsvm_repo;

/**
 * Load and validate every manifest below `dir`.
 *
 * @param out     receives the repository when there are no errors
 * @param dir     the manifest directory
 * @param limits  input limits, or NULL for the defaults
 * @param diags   receives every problem found (sorted by file, line, col)
 * @return 0 on success; DSVM_EINVALID when `diags` holds errors (or DSVM_ELIMIT
 *         when a limit stopped the load; the diagnostics say which);
 *         DSVM_ENOTFOUND / DSVM_EIO when `dir` cannot be read; DSVM_ENOMEM.
 *         `*out` is written only on success.
 */
int dsvm_repo_load(dsvm_repo **out, const char *dir, const dsvm_limits *limits, dsvm_diags *diags);

/** Free a repository and everything it owns; accepts NULL. */
void dsvm_repo_free(dsvm_repo *repo);

/** Number of objects, in load order (file order, then document order). */
size_t dsvm_repo_count(const dsvm_repo *repo);

/** The i-th object in load order (borrowed), or NULL. */
const dsvm_object *dsvm_repo_object(const dsvm_repo *repo, size_t i);

/** Number of objects of one kind. */
size_t dsvm_repo_count_kind(const dsvm_repo *repo, dsvm_kind kind);

/** The i-th object of one kind, in load order (borrowed), or NULL. */
const dsvm_object *dsvm_repo_object_of_kind(const dsvm_repo *repo, dsvm_kind kind, size_t i);

/** Find an object by kind and name (hashed); NULL when absent. */
const dsvm_object *dsvm_repo_find(const dsvm_repo *repo, dsvm_kind kind, const char *name);

/** Number of manifest files read. */
size_t dsvm_repo_file_count(const dsvm_repo *repo);

/**
 * The object's spec as JSON, with the defaults of the field tables applied
 * (values derived by cross-field rules, such as an image alias's publisher
 * or a share's access tier, are only in the typed spec). Built on demand.
 *
 * @param out  receives a new reference
 * @param obj  an object of a loaded repository (not a copy)
 * @return 0 or DSVM_ENOMEM
 */
int dsvm_object_spec_json(json_t **out, const dsvm_object *obj);

/**
 * The source position of a field of an object, for messages of later stages
 * ("spec.vmSize", "spec.sharedStorage.1.share", "metadata.name").
 *
 * @param out   receives the position of the field's value
 * @param obj   an object of a loaded repository
 * @param path  dot-separated keys; list items by their 0-based index
 * @return 0, or DSVM_ENOTFOUND when the document has no such field
 */
int dsvm_object_field_pos(dsvm_srcpos *out, const dsvm_object *obj, const char *path);

/* ------------------------------------------------------------------------ */
/* Helpers and schema                                                       */
/* ------------------------------------------------------------------------ */

/** The role definition GUID of a built-in role name (exact), or NULL. */
const char *dsvm_role_guid(const char *name);

/** The text of an enum value of a spec field, e.g. ("Pool", "mode", 1) -> "batch"; NULL if unknown. */
const char *dsvm_enum_text(dsvm_kind kind, const char *field_path, int value);

/**
 * Build the JSON Schema (draft-07) of the manifests from the field tables.
 *
 * @param out   receives a new reference
 * @param kind  a kind name to describe only that kind, or NULL for all
 * @return 0, DSVM_ENOTFOUND for an unknown kind, or DSVM_ENOMEM
 */
int dsvm_schema_build(json_t **out, const char *kind);

#ifdef __cplusplus
}
#endif

#endif
