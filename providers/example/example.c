/*
 * The example provider: the smallest complete dsvmops provider.
 *
 * It knows one kind, ResourceGroup, and one resource type,
 * Microsoft.Resources/resourceGroups. Read it top to bottom to see every
 * part of the ABI in include/dsvmops/provider.h:
 *   1. the ABI stamp and the entry point;
 *   2. the per-type rules, as data;
 *   3. expand: desired objects in, resources out;
 *   4. describe_reads: which requests observe live state;
 *   5. classify: what an answer means.
 * Results are written as JSON into host buffers with host->buf_append();
 * jansson's own allocations stay inside this plugin.
 */
#include <string.h>
#include <jansson.h>

#include "dsvmops/error.h"
#include "dsvmops/provider.h"

#ifndef EXAMPLE_ABI
#define EXAMPLE_ABI DSVM_PROVIDER_ABI
#endif

/* 1. The stamp the host checks before calling anything. Test builds
 * override EXAMPLE_ABI to prove that the host refuses a mismatch. */
#ifndef EXAMPLE_NO_STAMP
DSVM_PROVIDER_EXPORT const uint32_t dsvm_provider_abi = EXAMPLE_ABI;
#endif

#define RG_API "2024-11-01"

/* 2. Per-type rules. A resource group's location cannot change: a change
 * is a replace. provisioningState is the server's, never compared. */
static const char *const rg_read_only[] = {"id", "name", "type", "properties.provisioningState",
                                           NULL};
static const char *const rg_immutable[] = {"location", NULL};
static const char *const rg_none[] = {NULL};
static const dsvm_field_default rg_defaults[] = {{NULL, NULL}};
static const dsvm_field_norm rg_norms[] = {
    {"location", DSVM_NORM_LOCATION}, {"id", DSVM_NORM_ARM_ID}, {NULL, 0}};

static const dsvm_type_rules example_types[] = {{
    .version = DSVM_TYPE_RULES_VERSION,
    .type = "Microsoft.Resources/resourceGroups",
    .api_version = RG_API,
    .list_path = "/subscriptions/{subscription}/resourcegroups",
    .flags = DSVM_TYPE_TAGGABLE | DSVM_TYPE_DELETE_LRO,
    .read_only = rg_read_only,
    .write_only = rg_none,
    .immutable = rg_immutable,
    .known_after_apply = rg_none,
    .server_defaults = rg_defaults,
    .normalisers = rg_norms,
}};

typedef struct {
    const dsvm_host_api *host;
    dsvm_provider desc;
} example_ctx;

/* Serialise `v` into the host buffer and drop our reference to it. */
static int32_t emit(const example_ctx *ctx, dsvm_buf *out, json_t *v)
{
    char *text;
    int32_t rc;

    if (!v)
        return DSVM_ENOMEM;
    text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(v);
    if (!text)
        return DSVM_ENOMEM;
    rc = ctx->host->buf_append(out, text, strlen(text));
    free(text);
    return rc;
}

static int32_t fail(const example_ctx *ctx, dsvm_buf *out, int32_t code, const char *message)
{
    int32_t rc = emit(ctx, out, json_pack("{s:s}", "error", message));

    return rc < 0 ? rc : code;
}

/* 3. expand: each ResourceGroup object becomes one ARM resource group
 * tagged with the ownership marks of design rule 2. Other kinds are not
 * this provider's business and are skipped. */
static int32_t example_expand(void *pctx, const char *context_json, const char *objects_json,
                              dsvm_buf *out)
{
    example_ctx *ctx = pctx;
    json_t *context = json_loads(context_json, 0, NULL);
    json_t *objects = json_loads(objects_json, 0, NULL);
    json_t *resources = json_array();
    const char *sub, *instance;
    json_t *obj;
    size_t i;
    int32_t rc = DSVM_EINVALID;

    if (!context || !objects || !json_is_array(objects) || !resources) {
        rc = fail(ctx, out, DSVM_EINVALID, "expand: context and objects must be JSON");
        goto out;
    }
    sub = json_string_value(json_object_get(context, "subscription"));
    instance = json_string_value(json_object_get(context, "instance"));
    if (!sub || !instance) {
        rc = fail(ctx, out, DSVM_EINVALID, "expand: context needs subscription and instance");
        goto out;
    }
    json_array_foreach(objects, i, obj)
    {
        const char *kind = json_string_value(json_object_get(obj, "kind"));
        const char *name = json_string_value(json_object_get(obj, "name"));
        json_t *spec = json_object_get(obj, "spec");
        json_t *tags, *body, *res, *id, *owner;

        if (!kind || strcmp(kind, "ResourceGroup") != 0)
            continue;
        if (!name || !json_is_object(spec)) {
            rc = fail(ctx, out, DSVM_EINVALID, "expand: a ResourceGroup needs name and spec");
            goto out;
        }
        tags = json_deep_copy(json_object_get(spec, "tags"));
        if (!tags)
            tags = json_object();
        owner = json_sprintf("ResourceGroup/%s", name);
        id = json_sprintf("/subscriptions/%s/resourceGroups/%s", sub, name);
        json_object_set_new(tags, "dsvmops-instance", json_string(instance));
        json_object_set(tags, "dsvmops-object", owner);
        body = json_pack("{s:O?,s:o}", "location", json_object_get(spec, "location"), "tags", tags);
        res = json_pack("{s:o,s:s,s:o,s:o,s:[],s:{}}", "id", id, "type", example_types[0].type,
                        "object", owner, "body", body, "dependsOn", "writeOnly");
        if (!res || json_array_append_new(resources, res) < 0) {
            rc = DSVM_ENOMEM;
            goto out;
        }
    }
    rc = emit(ctx, out, resources);
    resources = NULL;
out:
    json_decref(context);
    json_decref(objects);
    json_decref(resources);
    return rc;
}

/* 4. describe_reads: one paged list of resource groups per subscription
 * observes them all (design rule 7: one list per type, not one GET each). */
static int32_t example_describe_reads(void *pctx, const char *scope_json, dsvm_buf *out)
{
    example_ctx *ctx = pctx;
    json_t *scope = json_loads(scope_json, 0, NULL);
    const char *sub = json_string_value(json_object_get(scope, "subscription"));
    json_t *path;
    int32_t rc;

    if (!sub) {
        json_decref(scope);
        return fail(ctx, out, DSVM_EINVALID, "describe_reads: scope needs a subscription");
    }
    path = json_sprintf("/subscriptions/%s/resourcegroups?api-version=%s", sub, RG_API);
    rc = emit(ctx, out,
              json_pack("[{s:s,s:o,s:i,s:s}]", "method", "GET", "path", path, "bucket",
                        DSVM_REQ_READ, "type", example_types[0].type));
    json_decref(scope);
    return rc;
}

static int32_t example_classify(void *pctx, const char *request_json, int32_t status,
                                const char *body, size_t body_len, dsvm_buf *out,
                                int32_t *out_class)
{
    example_ctx *ctx = pctx;
    json_t *answer;
    int32_t rc = 0;

    (void)request_json;
    if (status == 200 || status == 204) {
        *out_class = DSVM_ANSWER_OK;
    } else if (status == 201 || status == 202) {
        *out_class = DSVM_ANSWER_ACCEPTED;
    } else if (status == 404) {
        *out_class = DSVM_ANSWER_ABSENT;
    } else if (status == 429 || status >= 500) {
        *out_class = DSVM_ANSWER_RETRY;
    } else {
        *out_class = DSVM_ANSWER_FATAL;
    }
    if (status != 200 || body_len == 0)
        return 0;
    answer = json_loadb(body, body_len, 0, NULL);
    if (json_is_array(json_object_get(answer, "value"))) {
        rc = emit(ctx, out,
                  json_pack("{s:O,s:O?}", "items", json_object_get(answer, "value"), "nextLink",
                            json_object_get(answer, "nextLink")));
    }
    json_decref(answer);
    return rc;
}

static void example_unload(void *pctx)
{
    example_ctx *ctx = pctx;

    ctx->host->free(ctx);
}

/* The entry point: check the host, allocate our context with the host's
 * allocator, and describe ourselves. */
DSVM_PROVIDER_EXPORT int dsvm_provider_entry(const dsvm_host_api *host, uint32_t host_abi,
                                             const dsvm_provider **out);

DSVM_PROVIDER_EXPORT int dsvm_provider_entry(const dsvm_host_api *host, uint32_t host_abi,
                                             const dsvm_provider **out)
{
    example_ctx *ctx;

    if (host_abi != DSVM_PROVIDER_ABI)
        return DSVM_EABI;
    if (!host || host->version < 1 || !host->buf_append || !host->alloc || !host->free)
        return DSVM_EINVALID;
    ctx = host->alloc(sizeof(*ctx));
    if (!ctx)
        return DSVM_ENOMEM;
    memset(ctx, 0, sizeof(*ctx));
    ctx->host = host;
    ctx->desc.version = DSVM_PROVIDER_VERSION;
    ctx->desc.name = "example";
    ctx->desc.release = "1.0.0";
    ctx->desc.ctx = ctx;
    ctx->desc.types = example_types;
    ctx->desc.n_types = sizeof(example_types) / sizeof(example_types[0]);
    ctx->desc.expand = example_expand;
    ctx->desc.describe_reads = example_describe_reads;
    ctx->desc.classify = example_classify;
    ctx->desc.unload = example_unload;
    *out = &ctx->desc;
    return 0;
}
