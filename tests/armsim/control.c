/* Load and fault control: per-subscription token buckets, fault rules, statistics and the
 * /_armsim/ control endpoints. Everything here runs under the context lock. */
#define _GNU_SOURCE /* FNM_CASEFOLD */
#include "armsim.h"

#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const bucket_names[3] = {"reads", "writes", "deletes"};

/* Parses "off" or "reads=B/R,writes=B/R,deletes=B/R" (any subset). */
int throttle_parse(struct ctx *c, const char *spec)
{
    char *copy, *save = NULL, *tok;
    int rc = 0;
    if (strcmp(spec, "off") == 0) {
        c->throttle_on = 0;
        return 0;
    }
    c->throttle_on = 1;
    copy = xstrdup(spec);
    for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        double burst, rate;
        int i, found = 0;
        char name[16];
        if (sscanf(tok, "%15[a-z]=%lf/%lf", name, &burst, &rate) != 3 || burst < 1 || rate <= 0) {
            rc = -1;
            break;
        }
        for (i = 0; i < 3; i++) {
            if (strcmp(name, bucket_names[i]) == 0) {
                c->limits[i][0] = burst;
                c->limits[i][1] = rate;
                found = 1;
            }
        }
        if (!found) {
            rc = -1;
            break;
        }
    }
    free(copy);
    if (rc < 0)
        fprintf(stderr,
                "armsim: --throttle wants off or reads=BURST/RATE,writes=BURST/RATE,"
                "deletes=BURST/RATE; got \"%s\"\n",
                spec);
    return rc;
}

static int bucket_of(const char *method)
{
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
        return 0;
    if (strcmp(method, "DELETE") == 0)
        return 2;
    return 1;
}

/* Takes one token of the method's bucket for the subscription. Returns 0 when allowed
 * (and adds the remaining-budget header), -1 after filling a 429 answer. */
int throttle_take(struct ctx *c, const char *sub, const char *method, struct resp *r)
{
    struct sub_buckets *sb = NULL;
    int k = bucket_of(method);
    int64_t now = now_ms();
    struct bucket *b;
    if (!c->throttle_on)
        return 0;
    for (size_t i = 0; i < c->nsubs; i++) {
        if (strcasecmp(c->subs[i].sub, sub) == 0) {
            sb = &c->subs[i];
            break;
        }
    }
    if (!sb) {
        struct sub_buckets *ns = realloc(c->subs, (c->nsubs + 1) * sizeof(*ns));
        if (!ns)
            abort();
        c->subs = ns;
        sb = &c->subs[c->nsubs++];
        memset(sb, 0, sizeof(*sb));
        sb->sub = xstrdup(sub);
        for (int i = 0; i < 3; i++) {
            sb->b[i].burst = c->limits[i][0];
            sb->b[i].rate = c->limits[i][1];
            sb->b[i].tokens = sb->b[i].burst;
        }
        sb->last_ms = now;
    }
    for (int i = 0; i < 3; i++) {
        struct bucket *x = &sb->b[i];
        x->tokens += x->rate * (double)(now - sb->last_ms) / 1000.0;
        if (x->tokens > x->burst)
            x->tokens = x->burst;
    }
    sb->last_ms = now;
    b = &sb->b[k];
    if (b->tokens < 1.0) {
        int wait = (int)ceil((1.0 - b->tokens) / b->rate);
        if (wait < 1)
            wait = 1;
        resp_error(r, 429, "TooManyRequests",
                   "The request is being throttled: the subscription %s has no %s left; retry "
                   "after %d seconds.",
                   sub, bucket_names[k], wait);
        resp_header(r, "Retry-After", "%d", wait);
        resp_header(r,
                    k == 0   ? "x-ms-ratelimit-remaining-subscription-reads"
                    : k == 1 ? "x-ms-ratelimit-remaining-subscription-writes"
                             : "x-ms-ratelimit-remaining-subscription-deletes",
                    "0");
        json_object_set_new(
            c->stats, "throttled",
            json_integer(json_integer_value(json_object_get(c->stats, "throttled")) + 1));
        return -1;
    }
    b->tokens -= 1.0;
    resp_header(r,
                k == 0   ? "x-ms-ratelimit-remaining-subscription-reads"
                : k == 1 ? "x-ms-ratelimit-remaining-subscription-writes"
                         : "x-ms-ratelimit-remaining-subscription-deletes",
                "%d", (int)b->tokens);
    return 0;
}

static void fault_free(struct fault *f)
{
    free(f->method);
    free(f->type);
    free(f->name);
    json_decref(f->json);
}

/* Parses one fault rule and appends it. On failure *err gets a message to free. */
int fault_add(struct ctx *c, const char *json_text, char **err)
{
    json_error_t je;
    json_t *j = json_loads(json_text, 0, &je);
    struct fault f, *nf;
    json_t *v;
    const char *k;
    memset(&f, 0, sizeof(f));
    if (!json_is_object(j)) {
        *err = xasprintf("a fault rule is a JSON object: %s", j ? "not an object" : je.text);
        json_decref(j);
        return -1;
    }
    json_object_foreach(j, k, v)
    {
        static const char *const known[] = {"method",      "type",  "name",     "status",
                                            "retry_after", "reset", "delay_ms", "lro_result",
                                            "probability", "count", NULL};
        int ok = 0;
        for (int i = 0; known[i]; i++)
            ok |= strcmp(k, known[i]) == 0;
        if (!ok) {
            *err = xasprintf("unknown field \"%s\" in fault rule", k);
            json_decref(j);
            return -1;
        }
    }
    f.method = xstrdup(sor(json_string_value(json_object_get(j, "method")), "*"));
    f.type = xstrdup(sor(json_string_value(json_object_get(j, "type")), "*"));
    f.name = xstrdup(sor(json_string_value(json_object_get(j, "name")), "*"));
    f.status = (int)json_integer_value(json_object_get(j, "status"));
    f.retry_after = (int)json_integer_value(json_object_get(j, "retry_after"));
    f.reset = json_is_true(json_object_get(j, "reset"));
    f.delay_ms = (unsigned)json_integer_value(json_object_get(j, "delay_ms"));
    v = json_object_get(j, "lro_result");
    f.lro_failed = json_is_string(v) && strcasecmp(json_string_value(v), "Failed") == 0;
    v = json_object_get(j, "probability");
    f.probability = v ? json_number_value(v) : 1.0;
    v = json_object_get(j, "count");
    f.count = v ? (long)json_integer_value(v) : -1;
    if ((f.status && (f.status < 100 || f.status > 599)) || f.probability < 0 ||
        f.probability > 1 || (!f.status && !f.reset && !f.delay_ms && !f.lro_failed)) {
        *err = xstrdup("a fault rule needs one effect: status (100-599), reset, delay_ms or "
                       "lro_result \"Failed\"; probability is within 0..1");
        fault_free(&f);
        json_decref(j);
        return -1;
    }
    f.json = j;
    nf = realloc(c->faults, (c->nfaults + 1) * sizeof(*nf));
    if (!nf)
        abort();
    c->faults = nf;
    c->faults[c->nfaults++] = f;
    return 0;
}

/* Applies the first matching fault rule that fires. Returns 1 when the request must end
 * with r as filled (status or reset), 0 otherwise; delays add to r->delay_ms and an LRO
 * failure sets *lro_failed. */
int fault_match(struct ctx *c, const char *method, const char *type, const char *name,
                struct resp *r, int *lro_failed)
{
    for (size_t i = 0; i < c->nfaults; i++) {
        struct fault *f = &c->faults[i];
        if (f->count == 0)
            continue;
        if (strcmp(f->method, "*") != 0 && strcasecmp(f->method, method) != 0)
            continue;
        if (strcmp(f->type, "*") != 0 && strcasecmp(f->type, type ? type : "") != 0)
            continue;
        if (fnmatch(f->name, name ? name : "", FNM_CASEFOLD) != 0)
            continue;
        if (f->probability < 1.0 &&
            (double)(ctx_random(c) >> 11) / 9007199254740992.0 >= f->probability)
            continue;
        if (f->count > 0)
            f->count--;
        r->delay_ms += f->delay_ms;
        if (f->lro_failed && lro_failed)
            *lro_failed = 1;
        if (f->reset) {
            r->reset = 1;
            return 1;
        }
        if (f->status) {
            resp_error(r, f->status,
                       f->status == 429   ? "TooManyRequests"
                       : f->status >= 500 ? "ServiceUnavailable"
                                          : "InjectedFault",
                       "armsim fault rule %zu answered %d", i, f->status);
            if (f->retry_after)
                resp_header(r, "Retry-After", "%d", f->retry_after);
            return 1;
        }
        return 0;
    }
    return 0;
}

static void bump(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (v)
        json_integer_set(v, json_integer_value(v) + 1);
    else
        json_object_set_new(obj, key, json_integer(1));
}

void stats_count(struct ctx *c, const char *method, const char *type, int status, int lro_poll)
{
    char code[8];
    json_t *bt;
    bump(c->stats, "total");
    bump(json_object_get(c->stats, "by_verb"), method);
    snprintf(code, sizeof(code), "%d", status);
    bump(json_object_get(c->stats, "by_status"), code);
    if (type && *type) {
        json_t *by_type = json_object_get(c->stats, "by_type");
        bt = json_object_get(by_type, type);
        if (!bt) {
            bt = json_object();
            json_object_set_new(by_type, type, bt);
        }
        bump(bt, method);
    }
    if (lro_poll)
        bump(c->stats, "lro_polls");
}

void stats_count_token(struct ctx *c, int status)
{
    char code[8];
    bump(c->token_stats, "total");
    snprintf(code, sizeof(code), "%d", status);
    bump(json_object_get(c->token_stats, "by_status"), code);
}

void stats_count_kv(struct ctx *c, const char *method, int status)
{
    char code[8];
    bump(c->kv_stats, "total");
    bump(json_object_get(c->kv_stats, "by_verb"), method);
    snprintf(code, sizeof(code), "%d", status);
    bump(json_object_get(c->kv_stats, "by_status"), code);
}

/* The log of ARM writes (every verb but GET and HEAD, LRO polls aside), in arrival order; a
 * test compares it with the client's own record. Capped so that long runs stay small. */
void stats_count_write(struct ctx *c, const char *method, const char *path, int status)
{
    if (json_array_size(c->writes) < 200000)
        json_array_append_new(c->writes, json_pack("{s:s,s:s,s:i}", "method", method, "path", path,
                                                   "status", status));
}

void stats_reset(struct ctx *c)
{
    json_decref(c->stats);
    json_decref(c->token_stats);
    json_decref(c->kv_stats);
    json_decref(c->writes);
    c->writes = json_array();
    c->stats = json_pack("{s:i,s:{},s:{},s:{},s:i,s:i}", "total", 0, "by_verb", "by_status",
                         "by_type", "lro_polls", 0, "throttled", 0);
    c->token_stats = json_pack("{s:i,s:{}}", "total", 0, "by_status");
    c->kv_stats = json_pack("{s:i,s:{},s:{}}", "total", 0, "by_verb", "by_status");
}

static json_t *faults_json(struct ctx *c)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < c->nfaults; i++) {
        json_t *o = json_deep_copy(c->faults[i].json);
        json_object_set_new(o, "remaining",
                            c->faults[i].count < 0 ? json_null()
                                                   : json_integer(c->faults[i].count));
        json_array_append_new(arr, o);
    }
    return arr;
}

void control_handle(struct ctx *c, struct req *rq, struct resp *r)
{
    const char *p = rq->path + 9;
    if (strcmp(p, "stats") == 0 && strcmp(rq->method, "GET") == 0) {
        resp_json(r, 200,
                  json_pack("{s:O,s:O,s:O}", "requests", c->stats, "token_requests", c->token_stats,
                            "keyvault_requests", c->kv_stats));
        return;
    }
    if (strcmp(p, "writes") == 0 && strcmp(rq->method, "GET") == 0) {
        resp_json(r, 200, json_pack("{s:O}", "writes", c->writes));
        return;
    }
    if (strcmp(p, "stats/reset") == 0 && strcmp(rq->method, "POST") == 0) {
        stats_reset(c);
        resp_json(r, 200, json_pack("{s:b}", "reset", 1));
        return;
    }
    if (strcmp(p, "faults") == 0) {
        if (strcmp(rq->method, "GET") == 0) {
            resp_json(r, 200, json_pack("{s:o}", "faults", faults_json(c)));
            return;
        }
        if (strcmp(rq->method, "DELETE") == 0) {
            for (size_t i = 0; i < c->nfaults; i++)
                fault_free(&c->faults[i]);
            c->nfaults = 0;
            resp_json(r, 200, json_pack("{s:[]}", "faults"));
            return;
        }
        if (strcmp(rq->method, "POST") == 0) {
            char *err = NULL;
            if (fault_add(c, rq->body, &err) < 0) {
                resp_error(r, 400, "InvalidRequestContent", "%s", err);
                free(err);
                return;
            }
            resp_json(r, 201, json_pack("{s:o}", "faults", faults_json(c)));
            return;
        }
    }
    resp_error(r, 404, "NotFound",
               "armsim control endpoints: GET /_armsim/stats, GET /_armsim/writes, "
               "POST /_armsim/stats/reset, GET|POST|DELETE /_armsim/faults");
}
