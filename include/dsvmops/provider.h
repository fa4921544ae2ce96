/*
 * The dsvmops provider ABI.
 *
 * A provider is a shared object with one exported entry point,
 * dsvm_provider_entry(). It turns desired objects into cloud resources
 * ("expand"), describes the requests that read live state, classifies the
 * answers, and exports per-type rules as data. It never opens connections,
 * starts threads or logs by itself: the host owns the wire, the clock and
 * the log, and hands them over in dsvm_host_api.
 *
 * Data crosses the boundary as JSON text in host-owned buffers. That keeps
 * the ABI small and lets both sides evolve documents without recompiling.
 * Memory never crosses in the wrong direction: a provider writes results
 * with host->buf_append(), and frees only what it allocated itself. The one
 * exception is expand_tree() (ABI 2), which passes jansson values between
 * a host and a provider that share one jansson library and so its one
 * allocator; it spares a large expand two serialisations and two parses.
 *
 * Versioning: every struct starts with `uint32_t version`. Fields are only
 * appended; the reader looks at a field only when the struct's version
 * covers it, and NULL means "not implemented". Each field's comment names
 * the ABI version that added it. The host refuses a plugin whose
 * dsvm_provider_entry() reports another DSVM_PROVIDER_ABI.
 */
#ifndef DSVMOPS_PROVIDER_H
#define DSVMOPS_PROVIDER_H

#include "dsvmops/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The ABI generation. A change that is not an append bumps it. */
#define DSVM_PROVIDER_ABI 1

/** Current struct versions; a plugin sets these in what it returns. */
#define DSVM_HOST_API_VERSION   1
#define DSVM_PROVIDER_VERSION   2
#define DSVM_TYPE_RULES_VERSION 1

/** A growable byte buffer owned by the host; opaque to providers. */
typedef struct dsvm_buf dsvm_buf;

/** A jansson value (json_t), for expand_tree() only (ABI 2). */
struct json_t;

/** What the host gives a provider at load time. */
typedef struct dsvm_host_api {
    uint32_t version; /**< DSVM_HOST_API_VERSION */
    /* ABI 1 */
    /** Append `len` bytes to a host buffer; 0, or a negative DSVM_E* code. */
    int32_t (*buf_append)(dsvm_buf *buf, const char *data, size_t len);
    /** Allocator for the provider's own scratch memory. */
    void *(*alloc)(size_t size);
    /** Frees what alloc() returned; accepts NULL. */
    void (*free)(void *ptr);
    /** Log one line; the host adds time, level and provider name. */
    void (*log)(void *host_ctx, int32_t level, const char *message);
    /** Monotonic milliseconds. */
    uint64_t (*clock_ms)(void *host_ctx);
    /** Passed back to log() and clock_ms(). */
    void *host_ctx;
} dsvm_host_api;

/** A JSON path and a JSON value: a server default (ABI 1). */
typedef struct dsvm_field_default {
    const char *path;       /**< dotted path, e.g. "properties.enableSoftDelete" */
    const char *json_value; /**< JSON text, e.g. "true" */
} dsvm_field_default;

/** A JSON path and the normaliser that applies to it (ABI 1). */
typedef struct dsvm_field_norm {
    const char *path; /**< dotted path; "*" matches one map key or array item */
    uint32_t norm;    /**< DSVM_NORM_* */
} dsvm_field_norm;

/**
 * The diff rules of one resource type, as data. Lists of paths are
 * NULL-terminated; lists of structs end with an entry whose path is NULL.
 */
typedef struct dsvm_type_rules {
    uint32_t version; /**< DSVM_TYPE_RULES_VERSION */
    /* ABI 1 */
    const char *type;                          /**< "Microsoft.Compute/virtualMachineScaleSets" */
    const char *api_version;                   /**< used for every request of this type */
    const char *list_path;                     /**< template with {subscription}; NULL: no list */
    uint32_t flags;                            /**< DSVM_TYPE_* */
    const char *const *read_only;              /**< never compared */
    const char *const *write_only;             /**< fingerprinted, never read back */
    const char *const *immutable;              /**< a change means replace */
    const char *const *known_after_apply;      /**< "(known after apply)" in plans */
    const dsvm_field_default *server_defaults; /**< absent desired == this live value */
    const dsvm_field_norm *normalisers;        /**< how values compare */
} dsvm_type_rules;

/** What a provider exports. */
typedef struct dsvm_provider {
    uint32_t version; /**< DSVM_PROVIDER_VERSION */
    /* ABI 1 */
    const char *name;             /**< short name, e.g. "azure" */
    const char *release;          /**< the provider's own version string */
    void *ctx;                    /**< provider state, passed to every call */
    const dsvm_type_rules *types; /**< per-type rules */
    uint32_t n_types;

    /**
     * Expand desired objects into resources.
     *
     * `objects` is a JSON array of validated objects, each
     * {"kind","name","resourceGroup","labels","annotations","spec"} with
     * defaults applied, plus {"subscription","instance"} in `context`.
     * Writes to `out` a JSON array of resources, each
     * {"id","type","object","body","dependsOn":[ids],"writeOnly":{path: value}}.
     * Returns 0, or a negative DSVM_E* code with a message written to `out`
     * as {"error": "..."}.
     */
    int32_t (*expand)(void *ctx, const char *context_json, const char *objects_json, dsvm_buf *out);

    /**
     * Describe the reads that observe live state for the given scope,
     * {"subscription": "...", "resourceGroups": [...]}: writes a JSON array
     * of {"method","path","bucket","type"}; paths are relative to the
     * resource manager endpoint and carry their api-version.
     */
    int32_t (*describe_reads)(void *ctx, const char *scope_json, dsvm_buf *out);

    /**
     * Classify one answer. `request_json` is what describe_reads() or the
     * host's write described; `status` the HTTP status; `body` the answer
     * (may be empty). Sets *out_class to a DSVM_ANSWER_* value. For a
     * successful read it writes to `out` either the page itself,
     * {"items":[...],"nextLink":...}, or where the answer keeps it,
     * {"itemsAt":"value","nextLinkAt":"nextLink"}: the host then reads those
     * members of the answer (an answer without an array there is a single
     * resource), so that a large page is parsed once. Otherwise it may
     * leave `out` empty, or write {"error":{"code","message"}}.
     */
    int32_t (*classify)(void *ctx, const char *request_json, int32_t status, const char *body,
                        size_t body_len, dsvm_buf *out, int32_t *out_class);

    /** Release ctx; called once, last. May be NULL. */
    void (*unload)(void *ctx);

    /* ABI 2 */
    /**
     * The JANSSON_MAJOR_VERSION the provider was built with; the host calls
     * expand_tree() only when it runs with the same, so that both sides
     * share one jansson library and its one allocator.
     */
    uint32_t jansson_major;

    /**
     * expand() without the text: the same documents as jansson values.
     * `context` and `objects` are borrowed and left unchanged; on success
     * `*out` is set to a new reference to the resources array, which the
     * host owns and may change: it shares no container with anything the
     * provider keeps or with `objects`, and its objects' keys are in sorted
     * order, as in the text form. Failures as for expand(). May be NULL;
     * the host then calls expand().
     */
    int32_t (*expand_tree)(void *ctx, const struct json_t *context, const struct json_t *objects,
                           struct json_t **out, dsvm_buf *err);
} dsvm_provider;

/**
 * The one exported symbol of a provider plugin.
 *
 * @param host     the host's services; valid until unload() returns
 * @param host_abi the host's DSVM_PROVIDER_ABI; a plugin built for
 *                 another ABI must return DSVM_EABI without touching `out`
 * @param out      set to the provider description on success; it stays
 *                 valid until unload()
 * @return 0, or a negative DSVM_E* code
 */
typedef int (*dsvm_provider_entry_fn)(const dsvm_host_api *host, uint32_t host_abi,
                                      const dsvm_provider **out);

/** The symbol name of the entry point the host looks up. */
#define DSVM_PROVIDER_ENTRY "dsvm_provider_entry"

/**
 * The symbol name of the plugin's ABI stamp, a `const uint32_t` the host
 * reads before it calls anything, in the manner of nginx's module
 * signature. A plugin defines it once:
 *     DSVM_PROVIDER_EXPORT const uint32_t dsvm_provider_abi = DSVM_PROVIDER_ABI;
 */
#define DSVM_PROVIDER_ABI_SYMBOL "dsvm_provider_abi"

/** Marks the two exported symbols when a plugin hides everything else. */
#define DSVM_PROVIDER_EXPORT __attribute__((visibility("default")))

#ifdef __cplusplus
}
#endif

#endif
