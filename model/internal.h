/*
 * Internals of the manifest model shared by the files of model/: the arena,
 * the YAML node tree, the field-descriptor tables and the load context.
 * Nothing here is part of the public API (include/dsvmops/manifest.h).
 */
#ifndef DSVM_MODEL_INTERNAL_H
#define DSVM_MODEL_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "dsvmops/manifest.h"

/* ---- arena: bump allocation, freed all at once --------------------------- */

typedef struct arena_chunk arena_chunk;

typedef struct {
    arena_chunk *head;
    size_t total; /* bytes handed out, for limits and figures */
} arena;

void arena_init(arena *a);
void arena_clear(arena *a);
/* Zeroed memory; NULL when out of memory. */
void *arena_alloc(arena *a, size_t size);
/* Like arena_alloc, without zeroing. */
void *arena_alloc_raw(arena *a, size_t size);
/* Move every chunk of `src` into `dst`; `src` is left empty. */
void arena_adopt(arena *dst, arena *src);
char *arena_strndup(arena *a, const char *s, size_t n);
char *arena_strdup(arena *a, const char *s);
char *arena_printf(arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- YAML nodes ---------------------------------------------------------- */

enum { YN_SCALAR, YN_SEQ, YN_MAP };

typedef struct ynode ynode;
struct ynode {
    uint8_t type;
    uint8_t plain;   /* scalar written without quotes (may be int/bool/null) */
    uint16_t height; /* levels of collections below and including this one */
    uint32_t line, col;
    uint32_t len;    /* scalar length (at most the scalar limit) */
    uint32_t n;      /* SEQ: items; MAP: pairs */
    uint32_t weight; /* nodes below and including this one, aliases expanded */
    const char *s;   /* scalar text, NUL-terminated */
    ynode **kids;    /* SEQ: n items; MAP: 2n entries, key then value */
};

/* Scalar typing (YAML 1.2 core schema for plain scalars). */
bool ynode_is_null(const ynode *n);
int ynode_bool(const ynode *n, bool *out);   /* 0 or -1 */
int ynode_int(const ynode *n, int64_t *out); /* 0 or -1 */
const char *ynode_type_name(const ynode *n); /* "string", "integer", "mapping", ... */
/* Value of `key` in a mapping, or NULL; *key_out gets the key node. */
const ynode *ynode_get(const ynode *map, const char *key, const ynode **key_out);
/* JSON for an arbitrary node (bounded by its weight). NULL on OOM. */
json_t *ynode_to_json(const ynode *n);

/* ---- diagnostics (diags.c) ------------------------------------------------ */

int diags_add_file(dsvm_diags *d, const char *path);
void diags_add(dsvm_diags *d, int file_id, uint32_t line, uint32_t col, const char *hint,
               const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void diags_vadd(dsvm_diags *d, int file_id, uint32_t line, uint32_t col, const char *hint,
                const char *fmt, va_list ap);
/* A warning: shown, but the load still succeeds. */
void diags_vwarn(dsvm_diags *d, int file_id, uint32_t line, uint32_t col, const char *hint,
                 const char *fmt, va_list ap);
void diags_sort(dsvm_diags *d);
/* Keep at most `max` diagnostics (0: all); later ones are only counted. */
void diags_set_max(dsvm_diags *d, size_t max);
/* Copy every diagnostic of `src` into `dst` under `file_id` (dropped ones are counted). */
int diags_merge(dsvm_diags *dst, const dsvm_diags *src, int file_id);
/* True once the list keeps no more diagnostics: callers may skip building messages. */
bool diags_full(const dsvm_diags *d);
const char *diags_file(const dsvm_diags *d, int file_id);

/* ---- text helpers (text.c) ------------------------------------------------ */

size_t text_edit_distance(const char *a, const char *b);
/* The candidate closest to `word`, or NULL when none is close enough. */
const char *text_suggest(const char *word, const char *const *cands, size_t n);
bool text_is_cidr(const char *s, uint32_t *addr, unsigned *bits);
bool text_is_guid(const char *s);
bool text_is_duration(const char *s, uint64_t *seconds);
bool text_is_fqdn(const char *s);
bool text_key_is_secret(const char *key);
bool text_is_utf8(const char *s, size_t n, size_t *bad_at);

/* ---- field descriptors (kinds.c) ----------------------------------------- */

typedef enum {
    FT_STRING,  /* const char *; `enums` restricts the value */
    FT_INT,     /* int64_t in [min, max] */
    FT_BOOL,    /* bool */
    FT_ENUM,    /* int: index in `enums` */
    FT_STRMAP,  /* dsvm_strmap */
    FT_OBJECT,  /* T * (or T inline with FD_INLINE / as a list item), fields in `sub` */
    FT_LIST,    /* struct {T *items; size_t n;}; element described by `item` */
    FT_REF,     /* dsvm_ref to an object of kind `ref_kind` */
    FT_KINDREF, /* dsvm_ref written "Kind/name", kind in the `kinds` mask */
    FT_SECRET,  /* dsvm_secret_ref * (inline as a list item) */
    FT_SUBNET,  /* dsvm_subnet_ref * (inline as a list item) */
    FT_ANY,     /* json_t * */
    FT_UNION,   /* inline struct: scalar form `item`, mapping form `sub` */
} ftype;

enum {
    FD_REQUIRED = 1u << 0,
    FD_DEF = 1u << 1,      /* has a default (dint / dstr / dlist) */
    FD_HAS = 1u << 2,      /* has_off holds a bool "was given" */
    FD_INLINE = 1u << 3,   /* FT_OBJECT / FT_SECRET stored inline */
    FD_TAGS = 1u << 4,     /* FT_STRMAP with Azure tag-name rules */
    FD_NONEMPTY = 1u << 5, /* FT_LIST needs at least one item */
};

/* String formats checked on FT_STRING values. */
enum {
    FMT_NONE = 0,
    FMT_CIDR,
    FMT_GUID,
    FMT_DURATION,
    FMT_FQDN,
    FMT_ARMID,
    FMT_VMSIZE,
    FMT_POLICYDEF,
    FMT_SERVICE_ENDPOINT,
    FMT_DOMAIN_USER,
    FMT_NONBLANK,
    FMT_COUNT
};

/* Naming rules, per kind and for nested names. */
enum {
    NR_NONE = 0,
    NR_RESOURCE_GROUP,
    NR_IDENTITY,
    NR_KEY_VAULT,
    NR_STORAGE_ACCOUNT,
    NR_DOMAIN_JOIN,
    NR_POOL,
    NR_ROLE_ASSIGNMENT,
    NR_POLICY_ASSIGNMENT,
    NR_MONITORING,
    NR_NETWORK,
    NR_SHARE,
    NR_SUBNET,
    NR_COUNT
};

typedef struct field_desc field_desc;
typedef struct obj_desc obj_desc;

struct field_desc {
    const char *name;
    ftype type;
    unsigned flags;
    size_t off;               /* into the parent struct */
    size_t has_off;           /* FD_HAS: bool set when the field is given */
    const char *const *enums; /* NULL-terminated */
    int64_t min, max;         /* FT_INT range */
    int64_t dint;             /* default of FT_INT / FT_BOOL / FT_ENUM */
    const char *dstr;         /* default of FT_STRING */
    const char *const *dlist; /* default of a string FT_LIST, NULL-terminated */
    const obj_desc *sub;      /* FT_OBJECT, FT_UNION mapping form */
    const field_desc *item;   /* FT_LIST element, FT_UNION scalar form */
    size_t item_size;         /* FT_LIST element size */
    dsvm_kind ref_kind;       /* FT_REF */
    uint32_t kinds;           /* FT_KINDREF: mask of 1u << kind */
    int fmt;                  /* FMT_* */
    int name_rule;            /* NR_* for names */
    const char *doc;          /* for the schema */
};

enum {
    OD_ONE_KEY = 1u << 0, /* exactly one field must be given */
    OD_POS = 1u << 1,     /* store the mapping's line and col at pos_off */
};

struct obj_desc {
    const char *name; /* for the schema */
    const field_desc *fields;
    size_t n_fields;
    size_t size;    /* struct size */
    unsigned flags; /* OD_* */
    size_t pos_off; /* OD_POS: offset of `uint32_t line, col` */
};

typedef struct load_ctx load_ctx;
typedef struct obj_ext obj_ext;
typedef void (*rule_fn)(load_ctx *c, obj_ext *o);

enum { RG_FORBIDDEN, RG_OPTIONAL, RG_REQUIRED };

typedef struct {
    const char *name;
    const obj_desc *spec;
    int name_rule;
    int rg_rule;       /* RG_* */
    long location_off; /* offset of `const char *location` in the spec, or -1 */
    bool spec_required;
    rule_fn rule; /* cross-field rules, after references resolve */
    const char *doc;
} kind_desc;

typedef struct {
    const char *text; /* shown in errors: "3-24 letters, digits and hyphens" */
    bool (*check)(const char *s);
} name_rule_desc;

typedef struct {
    const char *text; /* "a.b.c.d/n" */
    bool (*check)(const char *s);
} fmt_desc;

extern const kind_desc dsvm_kinds[DSVM_KIND_COUNT];
extern const name_rule_desc dsvm_name_rules[NR_COUNT];
extern const fmt_desc dsvm_formats[FMT_COUNT];
extern const obj_desc dsvm_metadata_desc;
extern const obj_desc dsvm_secret_desc;

const char *const *dsvm_kind_names(void); /* NULL-terminated */

/* ---- load context (repo.c, parse.c, rules.c) ------------------------------ */

struct obj_ext {
    dsvm_object pub;
    const ynode *root; /* the document */
    int file_id;
    bool has_errors;  /* the document itself had errors: skip cross-field rules */
    int color;        /* cycle search */
    json_t *subnames; /* lazy set of share / subnet names (rules.c) */
};

/* Index of sub-object names (shares of a SharedStorage, subnets of a Network), built lazily. */
json_t *obj_subnames(obj_ext *o);

typedef struct {
    dsvm_ref *ref;
    obj_ext *owner;
    dsvm_subnet_ref *subnet; /* non-NULL for Network-name/subnet-name */
} pending_ref;

struct load_ctx {
    const dsvm_limits *limits;
    dsvm_diags *diags;
    arena *keep; /* lives as long as the repo */
    int file_id;
    const char *file;
    obj_ext *obj; /* object being parsed */
    const char *kind_name;
    /* path of the field being parsed, for messages */
    const char *seg[80];
    long idx[80];
    int depth;
    /* references to resolve */
    pending_ref *refs;
    size_t n_refs, cap_refs;
    bool oom;
    bool limit_hit;
    json_t *owned;  /* array keeping FT_ANY values alive, or NULL */
    json_t *grants; /* RoleAssignment principal|role|scope -> name (rules.c) */
};

void ctx_error(load_ctx *c, const ynode *at, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The dotted path of the field being parsed ("Pool.spec.admin"), arena-owned. */
const char *ctx_path(load_ctx *c);

/* parse.c: parse one mapping against a descriptor table into base. */
int parse_object(load_ctx *c, const ynode *map, const ynode *at, const obj_desc *d, void *base,
                 json_t **jout);
/* Report literal secrets below a node whose key is `key`. */
void check_literal_secrets(load_ctx *c, const char *key, const ynode *key_node, const ynode *val);

/* rules.c: look a node up by a dotted path ("spec.admin.password", "spec.shares.0"). */
const ynode *obj_node(const obj_ext *o, const char *path);
void obj_error(load_ctx *c, obj_ext *o, const char *path, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void obj_warn(load_ctx *c, obj_ext *o, const char *path, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

void rule_key_vault(load_ctx *c, obj_ext *o);
void rule_shared_storage(load_ctx *c, obj_ext *o);
void rule_domain_join(load_ctx *c, obj_ext *o);
void rule_pool(load_ctx *c, obj_ext *o);
void rule_role_assignment(load_ctx *c, obj_ext *o);
void rule_policy_assignment(load_ctx *c, obj_ext *o);
void rule_network(load_ctx *c, obj_ext *o);

/* yaml.c: parse a buffer into documents, calling `on_doc` for each. */
typedef int (*doc_fn)(load_ctx *c, const ynode *root, void *payload);
int yaml_parse_buffer(load_ctx *c, arena *nodes, const char *buf, size_t len, size_t *n_docs,
                      doc_fn on_doc, void *payload);

#endif
