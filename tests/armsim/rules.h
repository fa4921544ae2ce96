/* The per-type rules of armsim: one table entry per ARM resource type. */
#ifndef ARMSIM_RULES_H
#define ARMSIM_RULES_H

#include "armsim.h"

/* How a write answers. */
enum lro_mode {
    LRO_NONE = 0, /* synchronous: final body, provisioningState Succeeded */
    LRO_ASYNC,    /* 200/201/202 with Azure-AsyncOperation (+ Location on 202) */
    LRO_LOCATION, /* 202 with Location and an empty body */
    LRO_BODY      /* 200/201 with a non-terminal provisioningState and no headers */
};

enum rtype_flags {
    F_TRACKED = 1u << 0,     /* has location and tags; location required on create */
    F_LISTED = 1u << 1,      /* shows in /resources lists */
    F_ETAG = 1u << 2,        /* etag, If-Match and If-None-Match */
    F_EXTENSION = 1u << 3,   /* extension resource at any scope */
    F_READONLY = 1u << 4,    /* no PUT or PATCH */
    F_NOPATCH = 1u << 5,     /* no PATCH */
    F_DELETE_BODY = 1u << 6, /* synchronous delete answers the deleted object */
    F_NOPARENT = 1u << 7,    /* parent segments are not resources (locations/{loc}) */
    F_IMPLICIT = 1u << 8,    /* exists whenever its parent exists (fileServices/default) */
    F_HIER_LIST = 1u << 9,   /* lists at a scope include ancestors and descendants */
    F_NOPROVSTATE = 1u << 10 /* no properties.provisioningState */
};

struct call;

struct rtype {
    const char *type;    /* canonical, e.g. Microsoft.Compute/virtualMachineScaleSets */
    const char *min_api; /* oldest accepted api-version */
    unsigned flags;
    int put_create; /* status of a PUT that creates */
    int put_update; /* status of a PUT that replaces */
    enum lro_mode put_lro;
    enum lro_mode patch_lro;
    enum lro_mode delete_lro; /* LRO_NONE: 200, or 204 when absent; else 202 */
    const char *creating;     /* provisioningState while a create runs */
    const char *updating;     /* provisioningState while an update runs */
    const char *inline_path;  /* children kept in this array of the parent */
    const char *const *write_only;
    const char *const *required;
    const char *defaults;  /* JSON merged into the body where keys are missing */
    const char *list_type; /* stored type a collection GET lists, when different */
    /* Fills server-populated fields of body; old is the previous body or NULL. */
    void (*populate)(struct ctx *c, struct call *k, json_t *body, json_t *old);
    /* Type-specific checks before a PUT or PATCH; fills r and returns -1 to refuse. */
    int (*validate)(struct ctx *c, struct call *k, json_t *body, json_t *old, struct resp *r);
    /* Replaces the generic handling of a request entirely. */
    void (*handle)(struct ctx *c, struct call *k, struct resp *r);
    /* POST actions on a resource of this type; returns 0 when handled. */
    int (*action)(struct ctx *c, struct call *k, const char *action, struct resp *r);
    /* Synchronous delete replacement (soft delete); returns the status to answer. */
    int (*sync_delete)(struct ctx *c, struct call *k, json_t *old);
};

#define MAX_DEPTH 24

/* A parsed ARM path. Segments point into a private copy. */
struct apath {
    char *copy;
    char *seg[MAX_DEPTH * 2 + 8];
    size_t nseg;
    const char *sub;
    const char *rg;
    size_t scope_end; /* segments before the last "providers" */
    const char *ns;
    const char *types[MAX_DEPTH];
    const char *names[MAX_DEPTH];
    size_t ntypes;
    int odd; /* last type has no name */
    int kind;
};

enum {
    AP_BAD,
    AP_SUBS,
    AP_SUB,
    AP_RG_LIST,
    AP_RG,
    AP_RG_RESOURCES,
    AP_SUB_RESOURCES,
    AP_PROVIDERS,
    AP_PROVIDER,
    AP_RES
};

/* One ARM call being served. */
struct call {
    struct req *rq;
    struct apath ap;
    const struct rtype *t;
    const char *api;
    char *type;       /* full type of the path, canonical when a rule matched */
    char *key;        /* path of the addressed resource (request casing) */
    char *parent_key; /* path of the parent or scope */
    const char *name;
    const char *action;
    int lro_failed;
    json_t *body;
};

int apath_parse(const char *path, struct apath *ap);
void apath_free(struct apath *ap);
char *apath_join(const struct apath *ap, size_t from, size_t to);

const struct rtype *rules_find(const char *type);
const struct rtype *rules_all(size_t *n);

/* arm.c helpers used by the type hooks */
json_t *res_load(struct ctx *c, const struct rtype *t, const char *id);
int res_save(struct ctx *c, const struct rtype *t, const char *id, json_t *body);
json_t *res_render(const struct rtype *t, json_t *body);
void res_identity(struct ctx *c, json_t *body, json_t *old);
int op_start(struct ctx *c, struct call *k, const char *id, const char *kind, json_t *extra,
             const char *location, struct resp *r, int headers);
char *new_etag(struct ctx *c);
void list_page(struct ctx *c, struct call *k, json_t *items, struct resp *r);

#define RG_TYPE "Microsoft.Resources/resourceGroups"

/* path.c */
char *type_of(const struct apath *ap, size_t n);
const struct rtype *parent_rule(const struct rtype *t);
char *parent_id_of(const char *id);

/* resource.c */
json_t *inline_array(json_t *parent, const char *path, int create);
int inline_index(json_t *arr, const char *name);

/* lro.c */
void delete_now(struct ctx *c, const struct rtype *t, const char *id);
void op_poll(struct ctx *c, struct call *k, struct resp *r);

/* list.c */
struct filter {
    char *field[8];
    char *value[8];
    size_t n;
    int at_scope;
};

enum list_view { VIEW_FULL, VIEW_GENERIC };

struct list_q {
    const char *sql;
    const char *args[4];
    size_t nargs;
    const struct rtype *t; /* render rules; NULL renders by each row's type */
    enum list_view view;
    struct filter f;
    const char *scope; /* hierarchical scope, lower-case, for F_HIER_LIST */
};

void filter_clear(struct filter *f);
int parse_filter(struct call *k, struct filter *f, struct resp *r);
void list_sql(struct ctx *c, struct call *k, struct list_q *q, struct resp *r);
extern const char q_sub[], q_rg[], q_parent[], q_gen_sub[], q_gen_rg[];

/* types.c helpers */
char *vault_uri(struct ctx *c, const char *name);
void vmss_upgrade(struct ctx *c, const char *id, json_t *ids);
void batch_pool_resized(struct ctx *c, const char *id);

#endif
