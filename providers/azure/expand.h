/*
 * The expand state and the helpers every kind shares: ARM IDs, ownership
 * marks, dependsOn edges, references, secrets and known-after-apply
 * values. Kind expanders (expand_*.c) only decide what each kind becomes.
 */
#ifndef DSVM_AZURE_EXPAND_H
#define DSVM_AZURE_EXPAND_H

#include <jansson.h>

#include "azure.h"

typedef struct {
    const char *sub;
    const char *instance;
    const char *tenant; /* may be NULL when no kind needs it */
    json_t *by_kind;    /* {"Kind": {"name": object}} */
    json_t *resources;  /* the output array */
    json_t *by_id;      /* lower-cased ID -> resource (borrowed) */
    json_t *access;     /* "Identity/x" -> [IDs of vault access naming it] */
    json_t *mounters;   /* storage name -> [Pool objects that mount it]; built on first use */
    json_t *err;        /* the failure message */
} az_ex;

/* A resolved principal of a role assignment or an access policy. */
typedef struct {
    json_t *id;       /* object ID string, or a known-after-apply value */
    json_t *ref;      /* "Identity/x", or the lower-cased object ID */
    const char *type; /* principalType */
    json_t *dep;      /* the identity's ARM ID, or NULL */
} az_principal;

/* Set key = val (stolen) on `o`; an allocation failure (or a NULL val)
 * becomes a sticky failure in ex->err. Returns 0 or DSVM_ENOMEM. */
int az_set(az_ex *ex, json_t *o, const char *key, json_t *val);

/* Append val (stolen) to array `a`, failures as for az_set(). */
int az_push(az_ex *ex, json_t *a, json_t *val);

/* Set the failure message; returns DSVM_EINVALID. */
int az_fail(az_ex *ex, const char *fmt, ...);

/* The object `kind`/`name`, or NULL. Borrowed. */
json_t *az_find(az_ex *ex, const char *kind, const char *name);

/* Typed spec fields with defaults. */
const char *az_str(const json_t *spec, const char *key, const char *def);
int az_bool(const json_t *spec, const char *key, int def);
json_int_t az_int(const json_t *spec, const char *key, json_int_t def);

/* The object's location: spec.location, else its group's. NULL (with the
 * failure message set) when neither is known. */
const char *az_location(az_ex *ex, const json_t *obj);

/* IDs, as new JSON strings. */
json_t *az_rg_id(az_ex *ex, const char *rg);
json_t *az_id(az_ex *ex, const char *rg, const char *type, const char *name);
json_t *az_id_of(az_ex *ex, const json_t *obj, const char *type, const char *name);

/* "Kind/name", the ownership mark's object part. */
json_t *az_owner(const json_t *obj);

/* The spec's tags plus the ownership tags (design rule 2). */
json_t *az_tags(az_ex *ex, const json_t *obj, const json_t *owner);

/* The ownership mark as text, for role assignment descriptions. */
json_t *az_mark_text(az_ex *ex, const json_t *owner);

/* {"$knownAfterApply": "<id>#<path>[+<suffix>]"}. */
json_t *az_kaa(const char *id, const char *path, const char *suffix);

/*
 * Append a resource. Steals `id` and `body`; `owner` is borrowed. The
 * api-version comes from the type's rule table, so a type without rules
 * cannot be emitted. Returns the resource (borrowed) or NULL with the
 * failure message set.
 */
json_t *az_emit(az_ex *ex, const char *type, json_t *id, const json_t *owner, json_t *body);

/*
 * A tracked resource of `obj` in its group: adds location and tags
 * (ownership included) to `body` (stolen) and the edge to the group.
 */
json_t *az_emit_tracked(az_ex *ex, const json_t *obj, const char *type, const char *name,
                        json_t *body);

/* The resource with this ID, or NULL. Borrowed. */
json_t *az_lookup(az_ex *ex, const char *id);

/* Add a dependsOn edge (no duplicates, none to itself). */
int az_dep(json_t *res, const char *id);
int az_dep_json(json_t *res, const json_t *id);

/* Depend on the group `rg` when the repository declares it. */
int az_dep_rg(az_ex *ex, json_t *res, const char *rg);

/* Depend on everything that grants vault access to `identity`. */
int az_dep_access(az_ex *ex, json_t *res, const char *identity);

/* Record that `res_id` grants vault access to Identity/`identity`. */
int az_note_access(az_ex *ex, const char *identity, const char *res_id);

/* The ARM ID of Identity/name, with the edge added to `res`. */
json_t *az_identity_id(az_ex *ex, json_t *res, const char *name);

/* {"type": "UserAssigned", "userAssignedIdentities": {id: {}}} for the
 * names in `names` (with `system` also SystemAssigned), edges added. NULL
 * when there are none and no system identity; *fail set on errors. */
json_t *az_identity_block(az_ex *ex, json_t *res, const json_t *names, int system, int *fail);

/* The vault ARM ID of KeyVault/name (and the edge). */
json_t *az_vault_id(az_ex *ex, json_t *res, const char *vault);

/*
 * A write-only value that comes from Key Vault (design rule 5): records
 * writeOnly[path] = {keyVault, secret[, template]} and a secretRefs entry
 * with the vault's ID, and depends on the vault. `ref` is the manifest's
 * {keyVault, secret}. With `tmpl`, the host sends `tmpl` with "{{secret}}"
 * replaced by the value.
 */
int az_write_only_ref(az_ex *ex, json_t *res, const char *path, const json_t *ref,
                      const char *tmpl);

/* Resolve a principal (an Identity name, {objectId, type}, or a
 * RoleAssignment's {identity|group|user|servicePrincipal: ...}). */
int az_principal_resolve(az_ex *ex, const json_t *p, az_principal *out);
void az_principal_clear(az_principal *p);

/* A subnet reference ("Network/subnet" or an ARM ID) to its ID; depends
 * on the network when the repository declares it. */
json_t *az_subnet_id(az_ex *ex, json_t *res, const json_t *obj, const char *ref);

/* A role assignment (role GUID, scope, principal) with a derived name. */
json_t *az_emit_role_assignment(az_ex *ex, const char *scope, const char *role_guid,
                                const az_principal *p, const json_t *owner,
                                const char *description);

/* Kind expanders. Each returns 0, or a negative DSVM_E* code with the
 * failure message set. */
int az_expand_resource_group(az_ex *ex, const json_t *obj);
int az_expand_identity(az_ex *ex, const json_t *obj);
int az_expand_network(az_ex *ex, const json_t *obj);
int az_expand_monitoring(az_ex *ex, const json_t *obj);
int az_expand_key_vault(az_ex *ex, const json_t *obj);
int az_expand_shared_storage(az_ex *ex, const json_t *obj);
int az_expand_pool(az_ex *ex, const json_t *obj);
int az_expand_role_assignment(az_ex *ex, const json_t *obj);
int az_expand_policy_assignment(az_ex *ex, const json_t *obj);

/* Translate each object's dsvmops.io/ignore-fields annotation (manifest
 * field paths) into "ignoreFields" (ARM body paths) on its resources. */
int az_apply_ignore_fields(az_ex *ex, const json_t *objects);

/* The ARM ID that a RoleAssignment `ref: Kind/name` scope names. */
json_t *az_ref_scope_id(az_ex *ex, const char *ref);

/* The ARM ID of a Pool: its scale set, or its pool in the group's shared
 * Batch account (expand_pool.c). */
json_t *az_pool_resource_id(az_ex *ex, const json_t *pool);

/* The subnet a pool's nodes sit in: spec.subnet resolved, or the subnet of
 * the network dsvmops creates for a pool without one. Edges go to `res`. */
json_t *az_pool_subnet(az_ex *ex, json_t *res, const json_t *pool);

/* Role definitions by built-in name or GUID (expand_access.c). */
const char *az_role_guid(const char *role);

/* The Windows/Linux fact of a pool's image. */
const char *az_pool_os(const json_t *spec);

#endif
