/* armsim: a local emulator of Azure Resource Manager for tests and benchmarks.
 * Shared declarations of the server context and the modules. */
#ifndef ARMSIM_H
#define ARMSIM_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <sqlite3.h>

#define ARMSIM_TENANT  "00000000-0000-0000-0000-0000000000aa"
#define ARMSIM_ARM_AUD "https://management.azure.com"

/* A growable byte buffer. */
struct membuf {
    char *data;
    size_t len;
    size_t cap;
};

int membuf_append(struct membuf *b, const char *data, size_t len);
void membuf_clear(struct membuf *b);

struct hdr {
    char *name;
    char *value;
};

/* What a handler answers. The HTTP layer turns it into an MHD response. */
struct resp {
    int status;
    json_t *body; /* owned; NULL for no body */
    char *raw;    /* owned raw body, used when body is NULL */
    const char *content_type;
    struct hdr *hdrs;
    size_t nhdrs;
    int reset;         /* close the connection with a TCP reset */
    unsigned delay_ms; /* delay before the answer is sent */
};

void resp_header(struct resp *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void resp_error(struct resp *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void resp_json(struct resp *r, int status, json_t *body);
void resp_clear(struct resp *r);

/* One incoming request, as handlers see it. */
struct req {
    void *conn; /* struct MHD_Connection */
    const char *method;
    const char *path;
    const char *body;
    size_t body_len;
    char *caller;     /* appid of the bearer token, once checked */
    char *caller_oid; /* its oid (object ID of the principal) */
};

const char *req_query(const struct req *rq, const char *name);
const char *req_header(const struct req *rq, const char *name);

struct bucket {
    double tokens;
    double burst;
    double rate;
};

struct sub_buckets {
    char *sub;
    struct bucket b[3]; /* reads, writes, deletes */
    int64_t last_ms;
};

struct client {
    char *id;
    char *secret; /* NULL for federated clients */
};

struct fault {
    char *method;
    char *type;
    char *name;
    int status;
    int retry_after;
    int reset;
    unsigned delay_ms;
    int lro_failed;
    double probability;
    long count; /* remaining firings; -1 for unlimited */
    json_t *json;
};

/* A usage limit set with --quota. */
struct quota {
    char *name; /* usage name as given, e.g. standardNCSv3Family or cores */
    long long limit;
};

struct ctx {
    pthread_mutex_t lock; /* guards everything below */
    sqlite3 *db;
    void *stmts;    /* statement cache of store.c */
    char *base_url; /* e.g. http://127.0.0.1:8443 */
    unsigned latency_ms;
    unsigned lro_ms;
    unsigned principal_lag_ms; /* new identities are unknown to role assignments this long */
    int kv_authz;              /* check vault access policies / RBAC on the data plane */
    unsigned page_size;
    long token_ttl;
    int throttle_on;
    double limits[3][2]; /* burst, refill per second for reads, writes, deletes */
    struct sub_buckets *subs;
    size_t nsubs;
    struct client *clients;
    size_t nclients;
    struct fault *faults;
    size_t nfaults;
    struct quota *quotas; /* --quota, later ones win; read-only once serving */
    size_t nquotas;
    char **features_off; /* --unregistered-feature NS/NAME; read-only once serving */
    size_t nfeatures_off;
    json_t *stats;
    json_t *token_stats;
    json_t *kv_stats;
    json_t *writes; /* accepted-or-not ARM writes: {method, path, status}, for /_armsim/writes */
    unsigned char key[32]; /* token signing key */
    char *tok_cache;       /* the last bearer token that passed, with its claims */
    char *tok_appid;
    char *tok_oid;
    char *tok_aud;
    int64_t tok_exp;
    int64_t next_due; /* earliest due time of an in-flight operation */
    uint64_t rng;
    uint64_t seq;
};

/* Returns s, or d when s is NULL. */
static inline const char *sor(const char *s, const char *d)
{
    return s ? s : d;
}

/* util.c */
int64_t now_ms(void);
char *iso_time(int64_t ms);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *lower_dup(const char *s);
uint64_t ctx_random(struct ctx *c);
void new_uuid(struct ctx *c, char out[37]);
void hash_uuid(const char *seed, char out[37]);
char *b64url_encode(const unsigned char *data, size_t len);
unsigned char *b64url_decode(const char *s, size_t len, size_t *out_len);
json_t *json_path_get(json_t *root, const char *path);
int json_path_set(json_t *root, const char *path, json_t *value);
void json_path_del(json_t *root, const char *path);
void json_merge_patch(json_t *target, json_t *patch);
void json_merge_missing(json_t *target, json_t *defaults);
char *url_decode(const char *s, size_t len);
int ci_eq(const char *a, const char *b);

/* store.c */
int store_open(struct ctx *c, const char *path);
void store_close(struct ctx *c);
json_t *store_get(struct ctx *c, const char *id);
int store_put(struct ctx *c, const char *id, const char *type, const char *sub, const char *rg,
              const char *parent, int listed, json_t *body);
int store_del(struct ctx *c, const char *id);
int store_del_tree(struct ctx *c, const char *id);
int store_del_rg(struct ctx *c, const char *sub, const char *rg);
int store_meta_get(struct ctx *c, const char *key, void *out, size_t len);
int store_meta_put(struct ctx *c, const char *key, const void *val, size_t len);
int store_exec(struct ctx *c, const char *sql);
sqlite3_stmt *store_stmt(struct ctx *c, const char *sql);
void store_begin(struct ctx *c);
void store_commit(struct ctx *c);

/* auth.c */
void auth_token_endpoint(struct ctx *c, struct req *rq, const char *tenant, struct resp *r);
void auth_imds(struct ctx *c, struct req *rq, struct resp *r);
int auth_check(struct ctx *c, struct req *rq, const char *aud_prefix, struct resp *r);
int auth_add_client(struct ctx *c, const char *spec, int federated);

/* control.c */
void control_handle(struct ctx *c, struct req *rq, struct resp *r);
int fault_add(struct ctx *c, const char *json_text, char **err);
int fault_match(struct ctx *c, const char *method, const char *type, const char *name,
                struct resp *r, int *lro_failed);
void stats_count(struct ctx *c, const char *method, const char *type, int status, int lro_poll);
void stats_count_token(struct ctx *c, int status);
void stats_count_kv(struct ctx *c, const char *method, int status);
void stats_count_write(struct ctx *c, const char *method, const char *path, int status);
void stats_reset(struct ctx *c);
int throttle_take(struct ctx *c, const char *sub, const char *method, struct resp *r);
int throttle_parse(struct ctx *c, const char *spec);

/* arm.c */
void arm_handle(struct ctx *c, struct req *rq, struct resp *r);
void arm_settle(struct ctx *c);

/* types.c: settings of the command line */
int quota_add(struct ctx *c, const char *spec);
int feature_add_unregistered(struct ctx *c, const char *spec);

/* kv.c */
void kv_handle(struct ctx *c, struct req *rq, const char *rest, struct resp *r);
int kv_secret_put(struct ctx *c, const char *vault, const char *name, const char *value,
                  const char *content_type, json_t **out);

#endif
